/* Test harness: records every stream callback as text, so that runs can be compared. */
#ifndef PXMPP_TEST_HARNESS_H
#define PXMPP_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pxmpp/pxmpp.h>

typedef struct trace {
    pxmpp_buf log;  /* one line per callback */
    pxmpp_buf sent; /* bytes the stream wrote */
    size_t elements, invalid, errors, closed;
} trace;

void trace_init(trace *t);
void trace_free(trace *t);
/* Callbacks that append to the trace given as user pointer. */
pxmpp_stream_callbacks trace_callbacks(void);

/* Feeds data in pieces: chunk > 0 gives fixed pieces; chunk == 0 uses random pieces from seed.
   Calls finish at the end.  Returns the final return code. */
int feed_pieces(pxmpp_stream *s, const char *data, size_t len, size_t chunk, uint32_t seed);

/* Runs a whole parse into a fresh trace. flags: PXMPP_STREAM_* */
int run_trace(trace *t, const char *data, size_t len, size_t chunk, uint32_t seed, unsigned flags,
              const pxmpp_stream_config *base);

/* Reads a whole file; aborts the test on failure.  Caller frees. */
char *read_file(const char *path, size_t *len);

/* Compares two XML fragments (each a sequence of elements) under canonical
   comparison: namespaces by URI (prefixes ignored), attributes as a set
   (namespace declarations ignored), whitespace-only text between elements
   ignored, adjacent text and CDATA merged.  Returns true when equal; on
   difference writes a description into why. */
bool xml_equivalent(const char *a, size_t alen, const char *b, size_t blen, char *why, size_t cap);

#endif
