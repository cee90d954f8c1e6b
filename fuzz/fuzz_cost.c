/* libFuzzer target for the cost of big stanzas: the stream's work per byte fed.
 *
 * fuzz_stream.c caps its inputs at 8 KiB; a cost that grows faster than the input
 * (comparing every pair of children, counting every payload for each payload) shows
 * only in stanzas near the size limit.  This target feeds up to a whole stanza limit
 * (262,144 bytes) and checks that the decoder's work stays linear.
 *
 * Input layout:
 *   byte 0     options: bit 0 expand (below); bits 1-3 the largest chunk piece (1, 2, 3,
 *              7, 16, 64, 512 bytes or unbounded); bit 4 a client stream with a header
 *              (else a content-only stream); bit 5 no typed callbacks (every element
 *              through `element`)
 *   bytes 1-2  expand: how many times the unit is repeated (little-endian)
 *   rest       the bytes fed.  With expand, they are PREFIX 0xFF UNIT 0xFF SUFFIX (missing
 *              parts are empty) and the stream gets PREFIX, UNIT repeated, then SUFFIX;
 *              each 0xFE in UNIT becomes the number of the repetition in letters (a, b,
 *              ..., z, ba, bb, ...), so that repeated children can differ (languages,
 *              names, ids).  The expanded input is cut at MAX_FED bytes.
 *
 * Every element delivered is written back with pxmpp_write (leniently when invalid).
 *
 * Oracles (abort() on violation):
 *  - the writer's amplification bound (writer.h): the bytes written back stay below
 *    PXMPP_WRITE_AMPLIFICATION_K per byte fed plus, for each element written,
 *    PXMPP_WRITE_AMPLIFICATION_C and K per byte of the stream header (whose declarations
 *    are in scope of every element);
 *  - the decoder's steps (pxmpp__work.steps: items gathered, fields searched, payloads
 *    counted by rules, languages compared, ...) stay below STEPS_PER_BYTE per byte fed
 *    plus STEPS_BASE.  The ratio is also reported to libFuzzer as extra coverage (one
 *    counter per power of two of steps per byte), so that inputs that cost more per byte
 *    are kept and mutated further.
 *
 * PXMPP_FUZZ_VERBOSE=1 prints, for each input, the bytes fed, the steps and the ratio, and
 * the bytes written back.
 */
#include <pxmpp/pxmpp.h>

#include "internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_init.h"
#include "hostile.h" /* tests/support */

enum { O_EXPAND = 1u << 0, O_CHUNK_SHIFT = 1, O_CHUNK_MASK = 7u << 1, O_CLIENT = 1u << 4, O_GENERIC = 1u << 5 };

#define CONTROL_BYTES 3
#define MAX_FED ((size_t)262144 + 4096) /* a stanza of the default limit and a header */
#define STEPS_PER_BYTE 32
#define STEPS_BASE 4096

#define HDR PXMPP_HOSTILE_HEADER

/* ---- the expanded input ------------------------------------------------------- */

typedef struct input {
    uint8_t *data;
    size_t len, cap;
} input;

static bool put(input *in, const uint8_t *p, size_t n)
{
    if (n > MAX_FED - in->len)
        n = MAX_FED - in->len;
    memcpy(in->data + in->len, p, n);
    in->len += n;
    return in->len < MAX_FED;
}

/* The repetition number k in letters: a..z, then ba, bb, ... (base 26, no leading 'a'). */
static size_t letters(size_t k, uint8_t out[8])
{
    uint8_t tmp[8];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)('a' + k % 26);
        k /= 26;
    } while (k && n < sizeof tmp);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void expand(input *in, const uint8_t *p, size_t n, size_t count)
{
    const uint8_t *m1 = memchr(p, 0xFF, n);
    const uint8_t *unit = m1 ? m1 + 1 : p + n;
    const uint8_t *m2 = m1 ? memchr(unit, 0xFF, (size_t)(p + n - unit)) : NULL;
    const uint8_t *unit_end = m2 ? m2 : p + n, *suffix = m2 ? m2 + 1 : p + n;
    if (!put(in, p, (size_t)((m1 ? m1 : p + n) - p)))
        return;
    for (size_t k = 0; k < count && unit < unit_end; k++) {
        for (const uint8_t *u = unit; u < unit_end;) {
            const uint8_t *fe = memchr(u, 0xFE, (size_t)(unit_end - u));
            const uint8_t *stop = fe ? fe : unit_end;
            if (!put(in, u, (size_t)(stop - u)))
                return;
            if (fe) {
                uint8_t l[8];
                if (!put(in, l, letters(k, l)))
                    return;
            }
            u = fe ? fe + 1 : unit_end;
        }
    }
    put(in, suffix, (size_t)(p + n - suffix));
}

/* ---- one run --------------------------------------------------------------------- */

typedef struct run {
    pxmpp_buf out; /* what pxmpp_write wrote of the elements, reused */
    size_t written, elements;
} run;

static void write_back(run *r, const pxmpp_type_desc *d, const void *obj, unsigned flags)
{
    r->out.len = 0;
    if (pxmpp_write(&r->out, d, obj, PXMPP_NS_CLIENT, flags) == 0) {
        r->written += r->out.len;
        r->elements++;
    }
}

static void cb_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    (void)offset;
    write_back(user, d, obj, 0);
}

static void cb_message(void *user, const pxmpp_message *m) { write_back(user, &pxmpp_message_desc, m, 0); }
static void cb_presence(void *user, const pxmpp_presence *p) { write_back(user, &pxmpp_presence_desc, p, 0); }
static void cb_iq(void *user, const pxmpp_iq *iq) { write_back(user, &pxmpp_iq_desc, iq, 0); }

static void cb_invalid(void *user, const pxmpp_type_desc *d, const void *partial, const pxmpp_diag *why,
                       uint64_t offset)
{
    (void)why;
    (void)offset;
    write_back(user, d, partial, PXMPP_WRITE_LENIENT);
}

static int cb_write(void *user, const char *data, size_t len)
{
    (void)user;
    (void)data;
    (void)len;
    return 0;
}

/* The steps per byte as extra coverage: counter b is set when the ratio (in sixteenths)
   has b significant bits. */
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t ratio_counters[40];

static void note_ratio(uint64_t steps, uint64_t fed)
{
    uint64_t r = fed ? steps * 16 / fed : 0;
    unsigned bits = 0;
    while (r && bits < sizeof ratio_counters - 1) {
        bits++;
        r >>= 1;
    }
    ratio_counters[bits] = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t pieces[8] = { 1, 2, 3, 7, 16, 64, 512, (size_t)-1 };
    if (size < CONTROL_BYTES)
        return 0;
    unsigned opts = data[0];
    size_t count = (size_t)data[1] | (size_t)data[2] << 8;
    size_t piece = pieces[(opts & O_CHUNK_MASK) >> O_CHUNK_SHIFT];
    data += CONTROL_BYTES;
    size -= CONTROL_BYTES;

    input in = { 0 };
    in.cap = MAX_FED;
    if (!(in.data = malloc(in.cap)))
        abort();
    if (opts & O_CLIENT)
        put(&in, (const uint8_t *)HDR, sizeof HDR - 1);
    if (opts & O_EXPAND)
        expand(&in, data, size, count);
    else
        put(&in, data, size);

    run r = { 0 };
    pxmpp_buf_init(&r.out, NULL);
    pxmpp_stream_callbacks cb = { .write = cb_write, .element = cb_element, .stanza_invalid = cb_invalid };
    if (!(opts & O_GENERIC)) {
        cb.message = cb_message;
        cb.presence = cb_presence;
        cb.iq = cb_iq;
    }
    pxmpp_stream_config cfg = { .flags = (opts & O_CLIENT) ? 0 : PXMPP_STREAM_CONTENT_ONLY };
    pxmpp_stream *s;
    if (pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &r))
        abort();
    int rc = 0;
    for (size_t off = 0; off < in.len && !rc;) {
        size_t n = in.len - off < piece ? in.len - off : piece;
        rc = pxmpp_stream_feed(s, in.data + off, n);
        off += n;
    }
    if (!rc)
        (void)pxmpp_stream_finish(s);

    /* the bytes the stream took: up to its error, if it failed */
    uint64_t fed = pxmpp_stream_offset(s), steps = pxmpp__stream_work(s)->steps, at;
    if (pxmpp_stream_last_error(s, NULL, &at) && at > fed)
        fed = at;
    note_ratio(steps, fed);
    if (getenv("PXMPP_FUZZ_VERBOSE"))
        fprintf(stderr, "fed %llu of %zu bytes, %llu steps (%.2f per byte), %zu bytes written back\n",
                (unsigned long long)fed, in.len, (unsigned long long)steps, fed ? (double)steps / (double)fed : 0.0,
                r.written);
    if (steps > STEPS_PER_BYTE * fed + STEPS_BASE) {
        fprintf(stderr, "cost oracle: %llu steps for %llu bytes fed (%.1f per byte, at most %d allowed)\n",
                (unsigned long long)steps, (unsigned long long)fed, fed ? (double)steps / (double)fed : 0.0,
                STEPS_PER_BYTE);
        abort();
    }
    uint64_t header = (opts & O_CLIENT) ? sizeof HDR - 1 : 0;
    uint64_t allowed = (uint64_t)PXMPP_WRITE_AMPLIFICATION_K * fed +
                       (uint64_t)r.elements * (PXMPP_WRITE_AMPLIFICATION_C + PXMPP_WRITE_AMPLIFICATION_K * header);
    if (r.written > allowed) {
        fprintf(stderr, "amplification oracle: %zu bytes written back for %llu bytes fed in %zu elements (%llu allowed)\n",
                r.written, (unsigned long long)fed, r.elements, (unsigned long long)allowed);
        abort();
    }
    pxmpp_stream_free(s);
    pxmpp_buf_free(&r.out);
    free(in.data);
    return 0;
}
