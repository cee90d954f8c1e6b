/* libFuzzer target for the stream: parser, decoder, validation and writer.
 *
 * Input layout:
 *   byte 0     flags (F_* below): role, content-only mode, small limits, ...
 *   byte 1     options: bits 0-2 choose the largest chunk piece (1, 2, 3, 7, 16,
 *              64, 512 bytes or unbounded); bit 3 leaves the typed callbacks
 *              NULL so that every element arrives through `element`; bits 4-7
 *              pick the write-failure threshold or the allocation to fail
 *   bytes 2-3  seed of the chunk splits and of the small limits
 *   rest       the bytes fed to the stream
 *
 * Oracles (abort() on violation):
 *   - chunk independence: the trace of callbacks (with each element serialized
 *     by pxmpp_write and the bytes the stream wrote) is the same when the input
 *     is fed at once and when it is fed in the pieces chosen by the seed;
 *   - round trip: every valid element serializes without error, and its bytes,
 *     parsed again by a content-only stream, give exactly one valid element of
 *     the same type that serializes to identical bytes.
 * In the allocation-failure mode only the sanitizers and the leak checker judge.
 *
 * PXMPP_FUZZ_VERBOSE=1 in the environment prints the traces of every input.
 */
#include <pxmpp/pxmpp.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_init.h"

enum {
    F_SERVER = 1u << 0,       /* role server: answers the peer's header from `opened` */
    F_CONTENT_ONLY = 1u << 1, /* PXMPP_STREAM_CONTENT_ONLY */
    F_SMALL_LIMITS = 1u << 2, /* small limits derived from the seed */
    F_NS_SERVER = 1u << 3,    /* content namespace jabber:server */
    F_RESTART = 1u << 4,      /* restart after <proceed/>/<success/> (client) or <starttls/>/<auth/> (server) */
    F_ECHO = 1u << 5,         /* send every valid element back from its callback */
    F_WRITE_FAIL = 1u << 6,   /* the write callback fails past a threshold */
    F_ALLOC_FAIL = 1u << 7    /* the allocator hooks fail at the n-th allocation (and after it, or once) */
};

enum { O_CHUNK_MASK = 7u, O_GENERIC = 1u << 3 };

#define CONTROL_BYTES 4

/* ---- a growable text log -------------------------------------------------- */

static void buf_add(pxmpp_buf *b, const char *d, size_t n)
{
    if (n && pxmpp_buf_append(b, d, n))
        abort();
}

static void buf_printf(pxmpp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(pxmpp_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static const char *str_or_dash(const char *s) { return s ? s : "-"; }

/* ---- the allocator hooks of the allocation-failure mode -------------------- */

typedef struct failing_mem {
    unsigned long count; /* allocations so far */
    unsigned long fail_at;
    bool only_once;      /* fail the fail_at-th allocation only, not every later one */
} failing_mem;

static bool mem_should_fail(failing_mem *m)
{
    unsigned long i = ++m->count;
    return m->only_once ? i == m->fail_at : i >= m->fail_at;
}

static void *fm_malloc(size_t n, void *ud)
{
    return mem_should_fail(ud) ? NULL : malloc(n);
}

static void *fm_realloc(void *p, size_t n, void *ud)
{
    return mem_should_fail(ud) ? NULL : realloc(p, n);
}

static void fm_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

/* ---- one run of the stream over the input ----------------------------------- */

typedef struct run {
    pxmpp_buf log;
    pxmpp_stream *s;
    unsigned flags, opts;
    const char *content_ns;
    size_t sent;            /* bytes accepted by the write callback */
    size_t write_limit;     /* F_WRITE_FAIL: writes past this many bytes fail */
    bool roundtrip;         /* check the round-trip oracle on valid elements */
} run;

static void roundtrip_check(run *r, const pxmpp_type_desc *d, const char *xml, size_t len);

static int cb_write(void *user, const char *data, size_t len)
{
    run *r = user;
    if ((r->flags & F_WRITE_FAIL) && r->sent + len > r->write_limit) {
        buf_printf(&r->log, "write %zu refused\n", len);
        return -1;
    }
    r->sent += len;
    buf_printf(&r->log, "write %zu: ", len);
    buf_add(&r->log, data, len);
    buf_add(&r->log, "\n", 1);
    return 0;
}

static void cb_opened(void *user, const pxmpp_stream_header *h)
{
    run *r = user;
    buf_printf(&r->log, "opened to=%.100s from=%.100s id=%.100s version=%.100s lang=%.100s ns=%s\n",
               str_or_dash(h->to), str_or_dash(h->from), str_or_dash(h->id), str_or_dash(h->version),
               str_or_dash(h->lang), str_or_dash(h->content_ns));
    if (r->flags & F_SERVER) {
        pxmpp_stream_header ours = { .from = h->to ? h->to : "example.net", .id = "s1", .lang = h->lang };
        int rc = pxmpp_stream_open(r->s, &ours);
        buf_printf(&r->log, "open rc=%s\n", pxmpp_error_name(rc));
    }
}

/* What a client or a server does after the element that precedes a stream restart. */
static void maybe_restart(run *r, const pxmpp_type_desc *d)
{
    if (!(r->flags & F_RESTART))
        return;
    bool server = r->flags & F_SERVER;
    bool trigger = server ? (d == &pxmpp_starttls_desc || d == &pxmpp_sasl_auth_desc)
                          : (d == &pxmpp_tls_proceed_desc || d == &pxmpp_sasl_success_desc);
    if (!trigger)
        return;
    int rc = pxmpp_stream_restart(r->s);
    buf_printf(&r->log, "restart rc=%s\n", pxmpp_error_name(rc));
    if (!server && !rc) {
        pxmpp_stream_header h = { .to = "example.net" };
        rc = pxmpp_stream_open(r->s, &h);
        buf_printf(&r->log, "open rc=%s\n", pxmpp_error_name(rc));
    }
}

static void on_valid(run *r, const char *via, const pxmpp_type_desc *d, const void *obj, int64_t offset)
{
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    int rc = pxmpp_write(&b, d, obj, r->content_ns, 0);
    buf_printf(&r->log, "%s %s @%lld rc=%s ", via, d->name, (long long)offset, pxmpp_error_name(rc));
    buf_add(&r->log, b.data, b.len);
    buf_add(&r->log, "\n", 1);
    if (r->roundtrip) {
        if (rc) {
            fprintf(stderr, "round-trip oracle: pxmpp_write of a valid <%s/> failed: %s\n", d->name,
                    pxmpp_error_name(rc));
            abort();
        }
        roundtrip_check(r, d, b.data, b.len);
    }
    pxmpp_buf_free(&b);
    if (r->flags & F_ECHO) {
        rc = pxmpp_stream_send(r->s, d, obj);
        buf_printf(&r->log, "send rc=%s\n", pxmpp_error_name(rc));
    }
    maybe_restart(r, d);
}

static void cb_features(void *user, const pxmpp_stream_features *f)
{
    on_valid(user, "features", &pxmpp_stream_features_desc, f, -1);
}

static void cb_message(void *user, const pxmpp_message *m)
{
    on_valid(user, "message", &pxmpp_message_desc, m, -1);
}

static void cb_presence(void *user, const pxmpp_presence *p)
{
    on_valid(user, "presence", &pxmpp_presence_desc, p, -1);
}

static void cb_iq(void *user, const pxmpp_iq *iq)
{
    on_valid(user, "iq", &pxmpp_iq_desc, iq, -1);
}

static void cb_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    on_valid(user, "element", d, obj, (int64_t)offset);
}

static void cb_stream_error(void *user, const pxmpp_stream_error *e)
{
    on_valid(user, "stream_error", &pxmpp_stream_error_desc, e, -1);
}

static void cb_invalid(void *user, const pxmpp_type_desc *d, const void *partial, const pxmpp_diag *why,
                       uint64_t offset)
{
    run *r = user;
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    int rc = pxmpp_write(&b, d, partial, r->content_ns, PXMPP_WRITE_LENIENT);
    buf_printf(&r->log, "invalid %s @%llu code=%s path=%.300s reason=%.300s rc=%s ", d->name,
               (unsigned long long)offset, pxmpp_error_name(why->code), str_or_dash(why->path),
               str_or_dash(why->reason), pxmpp_error_name(rc));
    buf_add(&r->log, b.data, b.len);
    buf_add(&r->log, "\n", 1);
    pxmpp_buf_free(&b);
}

static void cb_error(void *user, int code, const char *reason, uint64_t offset)
{
    run *r = user;
    buf_printf(&r->log, "error %s @%llu %.300s\n", pxmpp_error_name(code), (unsigned long long)offset,
               str_or_dash(reason));
}

static void cb_closed(void *user)
{
    run *r = user;
    buf_printf(&r->log, "closed\n");
}

/* xorshift32 */
static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Feeds the input whole (max_piece == 0) or in random pieces of 1..max_piece bytes,
   a quarter of them single bytes; then finishes.  Returns the final code. */
static int feed_input(run *r, const uint8_t *data, size_t len, size_t max_piece, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 0x9e3779b9u;
    if (!x)
        x = 1;
    size_t off = 0;
    int rc = 0;
    if (!max_piece) {
        rc = pxmpp_stream_feed(r->s, data, len);
    } else {
        while (off < len && !rc) {
            uint32_t v = next_rand(&x);
            size_t n = (v & 3) == 0 ? 1 : 1 + (v >> 2) % max_piece;
            if (n > len - off)
                n = len - off;
            rc = pxmpp_stream_feed(r->s, data + off, n);
            off += n;
        }
    }
    if (!rc)
        rc = pxmpp_stream_finish(r->s);
    return rc;
}

typedef struct params {
    unsigned flags, opts;
    uint16_t seed;
    size_t max_piece;
    pxmpp_limits limits;
    size_t write_limit;
    failing_mem fm;
} params;

static void decode_params(params *p, const uint8_t *data)
{
    static const size_t pieces[8] = { 1, 2, 3, 7, 16, 64, 512, (size_t)-1 };
    memset(p, 0, sizeof *p);
    p->flags = data[0];
    p->opts = data[1];
    p->seed = (uint16_t)(data[2] | data[3] << 8);
    p->max_piece = pieces[p->opts & O_CHUNK_MASK];
    unsigned hi = p->opts >> 4;
    p->write_limit = (size_t)hi * hi * 24; /* 0: every write fails */
    p->fm.fail_at = 1 + (unsigned long)hi * 7 + (p->seed & 0xff);
    p->fm.only_once = p->seed & 0x100;
    if (p->flags & F_SMALL_LIMITS) {
        uint32_t x = p->seed ? p->seed : 0xbeef;
        p->limits.max_stanza_bytes = 16 + next_rand(&x) % 1024;
        p->limits.max_depth = 1 + next_rand(&x) % 6;
        p->limits.max_attrs = 1 + next_rand(&x) % 8;
        p->limits.max_header_bytes = 16 + next_rand(&x) % 512;
    }
}

/* Runs the stream over the input; the trace goes to r->log. */
static void run_stream(run *r, const params *p, const uint8_t *data, size_t len, size_t max_piece,
                       bool roundtrip)
{
    memset(r, 0, sizeof *r);
    pxmpp_buf_init(&r->log, NULL);
    r->flags = p->flags;
    r->opts = p->opts;
    r->content_ns = (p->flags & F_NS_SERVER) ? PXMPP_NS_SERVER : PXMPP_NS_CLIENT;
    r->write_limit = p->write_limit;
    r->roundtrip = roundtrip;

    pxmpp_stream_callbacks cb = { 0 };
    cb.write = cb_write;
    cb.opened = cb_opened;
    if (!(p->opts & O_GENERIC)) {
        cb.features = cb_features;
        cb.message = cb_message;
        cb.presence = cb_presence;
        cb.iq = cb_iq;
        cb.stream_error = cb_stream_error;
    }
    cb.element = cb_element;
    cb.stanza_invalid = cb_invalid;
    cb.error = cb_error;
    cb.closed = cb_closed;

    failing_mem fm = p->fm;
    pxmpp_mem mem = { fm_malloc, fm_realloc, fm_free, &fm };
    pxmpp_stream_config cfg = { 0 };
    cfg.limits = p->limits;
    cfg.flags = (p->flags & F_CONTENT_ONLY) ? PXMPP_STREAM_CONTENT_ONLY : 0;
    cfg.content_ns = r->content_ns;
    if (p->flags & F_ALLOC_FAIL)
        cfg.mem = &mem;

    int rc = pxmpp_stream_new(&r->s, (p->flags & F_SERVER) ? PXMPP_ROLE_SERVER : PXMPP_ROLE_CLIENT, &cb, &cfg, r);
    if (rc) {
        buf_printf(&r->log, "new rc=%s\n", pxmpp_error_name(rc));
        return;
    }
    if (!(p->flags & F_SERVER)) {
        pxmpp_stream_header h = { .to = "example.net", .lang = "en" };
        rc = pxmpp_stream_open(r->s, &h);
        buf_printf(&r->log, "open rc=%s\n", pxmpp_error_name(rc));
    }
    rc = feed_input(r, data, len, max_piece, p->seed);
    const char *reason = NULL;
    uint64_t off = 0;
    int last = pxmpp_stream_last_error(r->s, &reason, &off);
    buf_printf(&r->log, "end rc=%s last=%s @%llu %.300s\n", pxmpp_error_name(rc), pxmpp_error_name(last),
               (unsigned long long)off, str_or_dash(reason));
    pxmpp_stream_free(r->s);
    r->s = NULL;
}

/* ---- the round-trip oracle -------------------------------------------------- */

typedef struct rt_ctx {
    const pxmpp_type_desc *expect;
    const char *content_ns;
    const char *xml; /* the first serialization */
    size_t len;
    unsigned delivered;
} rt_ctx;

static void rt_fail(const rt_ctx *c, const char *what, const char *detail)
{
    fprintf(stderr, "round-trip oracle: <%s/>: %s%s%s\n  serialized: %.*s\n", c->expect->name, what,
            detail ? ": " : "", detail ? detail : "", (int)c->len, c->xml);
    abort();
}

static void rt_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    rt_ctx *c = user;
    (void)offset;
    if (c->delivered++)
        rt_fail(c, "the serialization gives more than one element", d->name);
    if (d != c->expect)
        rt_fail(c, "parsed again as another type", d->name);
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    int rc = pxmpp_write(&b, d, obj, c->content_ns, 0);
    if (rc)
        rt_fail(c, "the second serialization failed", pxmpp_error_name(rc));
    if (b.len != c->len || memcmp(b.data, c->xml, b.len) != 0) {
        fprintf(stderr, "round-trip oracle: <%s/>: the second serialization differs\n  first:  %.*s\n  second: %.*s\n",
                d->name, (int)c->len, c->xml, (int)b.len, b.data);
        abort();
    }
    pxmpp_buf_free(&b);
}

static void rt_invalid(void *user, const pxmpp_type_desc *d, const void *partial, const pxmpp_diag *why,
                       uint64_t offset)
{
    (void)d;
    (void)partial;
    (void)offset;
    char detail[700];
    snprintf(detail, sizeof detail, "%s at %s: %s", pxmpp_error_name(why->code), str_or_dash(why->path),
             str_or_dash(why->reason));
    rt_fail(user, "parsed again as invalid", detail);
}

static void rt_error(void *user, int code, const char *reason, uint64_t offset)
{
    char detail[400];
    snprintf(detail, sizeof detail, "%s at %llu: %s", pxmpp_error_name(code), (unsigned long long)offset,
             str_or_dash(reason));
    rt_fail(user, "parsing it again failed", detail);
}

static void roundtrip_check(run *r, const pxmpp_type_desc *d, const char *xml, size_t len)
{
    rt_ctx c = { .expect = d, .content_ns = r->content_ns, .xml = xml ? xml : "", .len = len };
    pxmpp_stream_callbacks cb = { 0 };
    cb.element = rt_element;
    cb.stanza_invalid = rt_invalid;
    cb.error = rt_error;
    pxmpp_stream_config cfg = { 0 };
    cfg.flags = PXMPP_STREAM_CONTENT_ONLY;
    cfg.content_ns = r->content_ns;
    /* the writer may declare namespaces the input declared once on an ancestor */
    cfg.limits.max_attrs = 1u << 16;
    cfg.limits.max_stanza_bytes = len + 1024;
    pxmpp_stream *s;
    if (pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &c))
        abort();
    int rc = pxmpp_stream_feed(s, c.xml, len);
    if (!rc)
        rc = pxmpp_stream_finish(s);
    if (rc)
        rt_fail(&c, "parsing it again failed", pxmpp_error_name(rc));
    if (c.delivered != 1)
        rt_fail(&c, "parsing it again gave no element", NULL);
    pxmpp_stream_free(s);
}

/* ---- entry point ---------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < CONTROL_BYTES)
        return 0;
    params p;
    decode_params(&p, data);
    data += CONTROL_BYTES;
    size -= CONTROL_BYTES;
    bool verbose = getenv("PXMPP_FUZZ_VERBOSE") != NULL;

    if (p.flags & F_ALLOC_FAIL) {
        /* allocation failures depend on the chunking: only the sanitizers judge */
        run r;
        run_stream(&r, &p, data, size, p.max_piece, false);
        if (verbose)
            fprintf(stderr, "--- trace (allocation %lu fails%s):\n%s", p.fm.fail_at,
                    p.fm.only_once ? " once" : "", r.log.len ? r.log.data : "");
        pxmpp_buf_free(&r.log);
        return 0;
    }

    run whole, pieces;
    run_stream(&whole, &p, data, size, 0, true);
    run_stream(&pieces, &p, data, size, p.max_piece, false);
    bool same = whole.log.len == pieces.log.len && memcmp(whole.log.data, pieces.log.data, whole.log.len) == 0;
    if (verbose || !same)
        fprintf(stderr, "--- trace, fed at once:\n%s--- trace, fed in pieces of at most %zu bytes (seed %u):\n%s",
                whole.log.len ? whole.log.data : "", p.max_piece, (unsigned)p.seed,
                pieces.log.len ? pieces.log.data : "");
    if (!same) {
        fprintf(stderr, "chunk-independence oracle: the traces differ\n");
        abort();
    }
    pxmpp_buf_free(&whole.log);
    pxmpp_buf_free(&pieces.log);
    return 0;
}
