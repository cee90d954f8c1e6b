#include "cli.h"

#include <stddef.h>
#include <string.h>

const char *cli_value(const char *name, int argc, char **argv, int *i, void (*missing)(const char *name))
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0 || (argv[*i][n] != '\0' && argv[*i][n] != '='))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (*i + 1 >= argc) {
        missing(name);
        return NULL;
    }
    return argv[++*i];
}
