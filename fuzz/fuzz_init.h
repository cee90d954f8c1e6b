/* The libFuzzer initialization of both targets (included once by each): libxml2 set up
 * before the first input, and its generic error output muted (the stream gets libxml2's
 * errors through its structured handler). */
#ifndef PXMPP_FUZZ_INIT_H
#define PXMPP_FUZZ_INIT_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, silent);
    return 0;
}

#endif
