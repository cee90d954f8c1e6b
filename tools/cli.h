/* Command-line helpers shared by the tools. */
#ifndef PXMPP_TOOLS_CLI_H
#define PXMPP_TOOLS_CLI_H

/* The value of option @p name at argv[*i] ("--name VALUE", *i then moves past VALUE, or
   "--name=VALUE"), or NULL when argv[*i] is another argument.  When the value is missing
   @p missing(name) is called; it must not return (it ends the program with a usage error). */
const char *cli_value(const char *name, int argc, char **argv, int *i, void (*missing)(const char *name));

#endif
