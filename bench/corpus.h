/* The benchmark corpus: a deterministic client-side inbound XMPP stream, and the
 * byte spans of its top-level elements. */
#ifndef PXMPP_BENCH_CORPUS_H
#define PXMPP_BENCH_CORPUS_H

#include <stddef.h>
#include <stdint.h>

enum bench_kind { BENCH_MESSAGE = 0, BENCH_PRESENCE = 1, BENCH_IQ = 2, BENCH_OTHER = 3, BENCH_KINDS = 4 };

/** One top-level element of the corpus: data[off, off + len). */
typedef struct bench_span {
    size_t off;
    size_t len;
    int kind; /**< enum bench_kind */
} bench_span;

typedef struct bench_corpus {
    char *data; /**< the stream, NUL-terminated (the NUL is not counted in len) */
    size_t len;
    size_t cap;
    size_t header_len; /**< bytes up to the end of the <stream:stream> start tag */
    size_t close_off;  /**< offset of </stream:stream> (len when absent) */
    bench_span *spans; /**< every top-level element, in order */
    size_t nspans;
    size_t kinds[BENCH_KINDS];
    size_t roster_items; /**< items of the largest roster generated (0 for a loaded file) */
} bench_corpus;

/** Generates a stream of about @p target bytes from @p seed: header, features, bind
    result, a roster of @p roster_items items, then messages, presences and iqs, then
    </stream:stream>.  Returns 0 or -1 (out of memory). */
int bench_corpus_generate(bench_corpus *c, size_t target, size_t roster_items, uint64_t seed);

/** Generates a stream holding one roster result with @p items items. */
int bench_corpus_roster(bench_corpus *c, size_t items, uint64_t seed);

/** Reads a whole stream from @p path.  Returns 0, or -1 with errno set, or -2 when the
    file is not a stream (no <stream:stream> start tag). */
int bench_corpus_load(bench_corpus *c, const char *path);

/** Writes the corpus bytes to @p path.  Returns 0 or -1 with errno set. */
int bench_corpus_write(const bench_corpus *c, const char *path);

void bench_corpus_free(bench_corpus *c);

#endif
