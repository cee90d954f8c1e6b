/* hostile-dump: writes one hostile input of hostile.h to stdout, for scripts.
 *
 *   hostile-dump --list                       the names, one a line, in the order of their numbers
 *   hostile-dump [--size N] [--no-header] I   input I (its number from 0, or its name)
 *
 * --size N      the generator's size instead of its default (fixed inputs ignore it)
 * --no-header   only what follows PXMPP_HOSTILE_HEADER, for a program that sends a header
 *               of its own; exit status 3 when the input does not begin with it
 * Exit status: 0 written, 1 out of memory or a write error, 2 no such input, 3 (--no-header)
 * no standard header, 64 usage. */
#include "hostile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: hostile-dump --list\n"
                    "       hostile-dump [--size N] [--no-header] NUMBER|NAME\n");
    return 64;
}

/* The number of the input named by arg (a number or a name), or the count when none. */
static size_t input_of(const char *arg)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (*arg >= '0' && *arg <= '9' && !*end && !errno)
        return v < pxmpp_hostile_count() ? (size_t)v : pxmpp_hostile_count();
    return pxmpp_hostile_find(arg);
}

int main(int argc, char **argv)
{
    size_t size = 0;
    bool no_header = false;
    const char *which = NULL;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--list") == 0 && argc == 2) {
            for (size_t i = 0; i < pxmpp_hostile_count(); i++)
                printf("%s\n", pxmpp_hostile_name(i));
            return fflush(stdout) == 0 ? 0 : 1;
        } else if (strcmp(argv[a], "--size") == 0 && a + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(argv[++a], &end, 10);
            if (!*argv[a] || *end || errno || v == 0 || v > (size_t)-1)
                return usage();
            size = (size_t)v;
        } else if (strcmp(argv[a], "--no-header") == 0) {
            no_header = true;
        } else if (argv[a][0] == '-' || which) {
            return usage();
        } else {
            which = argv[a];
        }
    }
    if (!which)
        return usage();
    size_t i = input_of(which);
    if (i >= pxmpp_hostile_count()) {
        fprintf(stderr, "hostile-dump: no input %s (hostile-dump --list)\n", which);
        return 2;
    }
    pxmpp_hostile_input in;
    if (pxmpp_hostile_build(i, size, &in) != 0) {
        fprintf(stderr, "hostile-dump: out of memory\n");
        return 1;
    }
    size_t skip = 0;
    if (no_header) {
        if (!in.header_len) {
            fprintf(stderr, "hostile-dump: %s does not begin with the standard stream header\n",
                    pxmpp_hostile_name(i));
            free(in.data);
            return 3;
        }
        skip = in.header_len;
    }
    bool ok = fwrite(in.data + skip, 1, in.len - skip, stdout) == in.len - skip && fflush(stdout) == 0;
    free(in.data);
    if (!ok)
        fprintf(stderr, "hostile-dump: write error\n");
    return ok ? 0 : 1;
}
