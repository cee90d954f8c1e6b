/* pxmpp-bench: parse and serialize throughput, roster scaling and memory of
 * pxmpp, measured against libxml2's SAX2 push parser (the floor pxmpp is built
 * on) and libstrophe, on the same deterministic corpus in one process run.
 *
 * Every time is CPU time (CLOCK_PROCESS_CPUTIME_ID), the median of --runs runs, reported
 * with their min and max; the rows compared with each other run interleaved (one pass of
 * each per run) and their ratios come from the medians.  Input is fed in 4096-byte
 * chunks.  See bench/README.md.
 */
#include "corpus.h"
#include "memcount.h" /* tests/support */
#include "typed.h"

#include <pxmpp/build.h>
#include <pxmpp/stream.h>
#include <pxmpp/writer.h>

#include <libxml/parser.h>

#ifdef PXMPP_BENCH_LIBSTROPHE
#include <strophe.h>
#endif

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 4096

/* ---- options --------------------------------------------------------------------- */

static const char *const row_names[] = {
    "libxml2-floor", "pxmpp-parse", "libstrophe-parse", "pxmpp-serialize", "libstrophe-serialize", "roster",
    "memory",
};
#define NROWS (sizeof row_names / sizeof row_names[0])

typedef struct opts {
    size_t size;
    int runs;
    const char *only;
    const char *corpus;
    const char *write_corpus;
    int json;
    int smoke;
    int no_libstrophe;
    int libstrophe_100k;
    uint64_t seed;
} opts;

static int want(const opts *o, const char *row) { return !o->only || strcmp(o->only, row) == 0; }

static void usage(FILE *f)
{
    fprintf(f,
            "usage: pxmpp-bench [options]\n"
            "  --size BYTES         corpus size to generate (suffix k or m: KiB, MiB; default 32m)\n"
            "  --seed N             seed of the corpus generator (default 1)\n"
            "  --corpus FILE        measure a stream read from FILE instead of a generated one\n"
            "  --write-corpus FILE  write the corpus to FILE and exit\n"
            "  --runs N             repetitions, interleaved across the rows compared; each\n"
            "                       figure is the median, with min and max (default 5)\n"
            "  --only NAME          run one row: libxml2-floor, pxmpp-parse, libstrophe-parse,\n"
            "                       pxmpp-serialize, libstrophe-serialize, roster, memory\n"
            "  --json               print one JSON object on one line (the table goes to stderr)\n"
            "  --smoke              tiny corpus and rosters, one run (for tests)\n"
            "  --no-libstrophe      skip the libstrophe rows\n"
            "  --libstrophe-100k    also time libstrophe on the 100,000-item roster, however long\n"
            "                       it takes (by default it is skipped when its time, extrapolated\n"
            "                       from the 20,000-item roster, exceeds 60 s)\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end == 'k' || *end == 'K')
        v *= 1024ull, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1024ull * 1024ull, end++;
    if (*end || v == 0 || v > (1ull << 34))
        return -1;
    *out = (size_t)v;
    return 0;
}

/* ---- figures: every number the run produces, in output order ------------------------ */

enum { F_NUM, F_INT, F_STR, F_BOOL };

typedef struct figure {
    char key[48];
    int kind;
    double v;   /* NAN: not measured (null in JSON) */
    char s[48]; /* F_STR */
} figure;

static figure figs[256];
static size_t nfigs;

static figure *fig(const char *key, int kind)
{
    for (size_t i = 0; i < nfigs; i++)
        if (strcmp(figs[i].key, key) == 0)
            return &figs[i];
    if (nfigs == sizeof figs / sizeof figs[0]) {
        fprintf(stderr, "pxmpp-bench: too many figures\n");
        exit(70);
    }
    figure *f = &figs[nfigs++];
    size_t kl = strlen(key);
    if (kl >= sizeof f->key) {
        fprintf(stderr, "pxmpp-bench: figure name too long: %s\n", key);
        exit(70);
    }
    memcpy(f->key, key, kl + 1);
    f->kind = kind;
    f->v = NAN;
    f->s[0] = '\0';
    return f;
}

static void set_num(const char *key, double v) { fig(key, F_NUM)->v = v; }
static void set_int(const char *key, double v) { fig(key, F_INT)->v = v; }
static void set_bool(const char *key, int v) { fig(key, F_BOOL)->v = v ? 1 : 0; }
static void set_str(const char *key, const char *s) { snprintf(fig(key, F_STR)->s, sizeof figs[0].s, "%s", s); }
static double get(const char *key)
{
    for (size_t i = 0; i < nfigs; i++)
        if (strcmp(figs[i].key, key) == 0)
            return figs[i].v;
    return NAN;
}

static double ratio(double a, double b) { return (isnan(a) || isnan(b) || b == 0) ? NAN : a / b; }

/* The functions that do one timed pass carry NOINLINE, so that callgrind can count their
   instructions alone (--toggle-collect, bench/callgrind.sh). */
#define NOINLINE __attribute__((noinline))

/* ---- timing ------------------------------------------------------------------------ */

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void fail(const char *what)
{
    fprintf(stderr, "pxmpp-bench: %s\n", what);
    exit(1);
}

/* ---- stanzas of the corpus ----------------------------------------------------------- */

static int is_stanza(const bench_span *s) { return s->kind != BENCH_OTHER; }

static size_t stanza_bytes(const bench_corpus *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nspans; i++)
        if (is_stanza(&c->spans[i]))
            n += c->spans[i].len;
    return n;
}

/* pxmpp's default limit on the bytes of one top-level element, raised when a loaded
   corpus has a larger one. */
static size_t stanza_limit(const bench_corpus *c)
{
    size_t max = 0;
    for (size_t i = 0; i < c->nspans; i++)
        if (c->spans[i].len > max)
            max = c->spans[i].len;
    return max + 4096 > 262144 ? max + 4096 : 0;
}

/* ---- 1. libxml2 floor ------------------------------------------------------------------ */

typedef struct floor_ctx {
    size_t depth;
    size_t stanzas;
    /* memory row: allocation counts at the warm-up stanza and at the last one */
    size_t warm_at;
    uint64_t a0, a1;
    size_t n0, n1;
    int track;
} floor_ctx;

static void floor_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
                        const xmlChar **nss, int na, int nd, const xmlChar **attrs)
{
    (void)ctx, (void)local, (void)prefix, (void)uri, (void)nns, (void)nss, (void)na, (void)nd, (void)attrs;
}

static void floor_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    (void)ctx, (void)local, (void)prefix, (void)uri;
}

static void floor_chars(void *ctx, const xmlChar *ch, int len) { (void)ctx, (void)ch, (void)len; }

/* Counting variants for the memory row. */
static void floor_start_count(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                              int nns, const xmlChar **nss, int na, int nd, const xmlChar **attrs)
{
    (void)local, (void)prefix, (void)uri, (void)nns, (void)nss, (void)na, (void)nd, (void)attrs;
    ((floor_ctx *)ctx)->depth++;
}

static void floor_end_count(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    (void)local, (void)prefix, (void)uri;
    floor_ctx *fc = ctx;
    if (fc->depth-- == 2) {
        fc->stanzas++;
        if (fc->track) {
            if (fc->stanzas == fc->warm_at) {
                fc->a0 = pxmpp_memcount_xml.allocs;
                fc->n0 = fc->stanzas;
            }
            fc->a1 = pxmpp_memcount_xml.allocs;
            fc->n1 = fc->stanzas;
        }
    }
}

static xmlParserCtxtPtr floor_new(xmlSAXHandler *sax, floor_ctx *fc, int counting)
{
    memset(sax, 0, sizeof *sax);
    sax->initialized = XML_SAX2_MAGIC;
    sax->startElementNs = counting ? floor_start_count : floor_start;
    sax->endElementNs = counting ? floor_end_count : floor_end;
    sax->characters = floor_chars;
    xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(sax, fc, NULL, 0, NULL);
    if (!ctxt)
        fail("libxml2: cannot create a push parser");
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET);
    return ctxt;
}

static void floor_feed(xmlParserCtxtPtr ctxt, const char *p, size_t len)
{
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        xmlParseChunk(ctxt, p + off, (int)n, 0);
    }
}

NOINLINE static double run_floor(const bench_corpus *c)
{
    xmlSAXHandler sax;
    double t0 = cpu_now();
    xmlParserCtxtPtr ctxt = floor_new(&sax, NULL, 0);
    floor_feed(ctxt, c->data, c->len);
    xmlParseChunk(ctxt, NULL, 0, 1);
    int ok = ctxt->wellFormed;
    xmlFreeParserCtxt(ctxt);
    double t = cpu_now() - t0;
    if (!ok)
        fail("libxml2: the corpus is not well-formed");
    return t;
}

/* ---- 2. pxmpp parse ---------------------------------------------------------------------- */

typedef struct parse_ctx {
    uint64_t sum;
    size_t delivered;
    size_t invalid;
    size_t roster_items;
    int error;
    char reason[200];
    /* memory row */
    int track;
    size_t warm_at;
    uint64_t px0, xml0, px1, xml1;
    size_t n0, n1;
} parse_ctx;

static void track(parse_ctx *pc)
{
    pc->delivered++;
    if (!pc->track)
        return;
    if (pc->delivered == pc->warm_at) {
        pc->px0 = pxmpp_memcount_px.allocs;
        pc->xml0 = pxmpp_memcount_xml.allocs;
        pc->n0 = pc->delivered;
    }
    pc->px1 = pxmpp_memcount_px.allocs;
    pc->xml1 = pxmpp_memcount_xml.allocs;
    pc->n1 = pc->delivered;
}

static int on_write(void *user, const char *data, size_t len)
{
    (void)user, (void)data, (void)len;
    return 0;
}

static void on_message(void *user, const pxmpp_message *m)
{
    parse_ctx *pc = user;
    pc->sum += bench_sum_message(m);
    track(pc);
}

static void on_presence(void *user, const pxmpp_presence *p)
{
    parse_ctx *pc = user;
    pc->sum += bench_sum_presence(p);
    track(pc);
}

static void on_iq(void *user, const pxmpp_iq *iq)
{
    parse_ctx *pc = user;
    pc->sum += bench_sum_iq(iq);
    const pxmpp_roster_query *rq = pxmpp_iq_get_roster_query(iq);
    if (rq)
        pc->roster_items += rq->items_count;
    track(pc);
}

static void on_features(void *user, const pxmpp_stream_features *f)
{
    parse_ctx *pc = user;
    pc->sum += bench_sum_features(f);
    track(pc);
}

static void on_element(void *user, const pxmpp_type_desc *type, const void *data, uint64_t offset)
{
    parse_ctx *pc = user;
    (void)offset;
    pc->sum += bench_sum_typed(type, data);
    track(pc);
}

static void on_invalid(void *user, const pxmpp_type_desc *type, const void *partial, const pxmpp_diag *why,
                       uint64_t offset)
{
    parse_ctx *pc = user;
    (void)partial;
    if (!pc->invalid++)
        fprintf(stderr, "pxmpp-bench: invalid <%s/> at byte %" PRIu64 ": %s (%s)\n", type->local, offset,
                why->reason, why->path);
    track(pc);
}

static void on_error(void *user, int code, const char *reason, uint64_t offset)
{
    parse_ctx *pc = user;
    pc->error = code;
    snprintf(pc->reason, sizeof pc->reason, "%s at byte %" PRIu64, reason, offset);
}

static const pxmpp_stream_callbacks parse_cb = {
    .write = on_write,
    .features = on_features,
    .message = on_message,
    .presence = on_presence,
    .iq = on_iq,
    .element = on_element,
    .stanza_invalid = on_invalid,
    .error = on_error,
};

static pxmpp_stream *px_new(const pxmpp_stream_config *cfg, parse_ctx *pc)
{
    pxmpp_stream *s;
    if (pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &parse_cb, cfg, pc))
        fail("pxmpp: cannot create a stream");
    pxmpp_stream_header h = { .to = "example.net", .lang = "en" };
    if (pxmpp_stream_open(s, &h))
        fail("pxmpp: cannot open the stream");
    return s;
}

static int px_feed(pxmpp_stream *s, const char *p, size_t len)
{
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        int rc = pxmpp_stream_feed(s, p + off, n);
        if (rc)
            return rc;
    }
    return 0;
}

static void px_check(const parse_ctx *pc, int rc, const char *what)
{
    if (rc || pc->error) {
        fprintf(stderr, "pxmpp-bench: %s: %s: %s\n", what, pxmpp_strerror(rc ? rc : pc->error), pc->reason);
        exit(1);
    }
}

/* One pass over a whole stream; returns CPU seconds. */
NOINLINE static double run_pxmpp(const bench_corpus *c, const pxmpp_stream_config *cfg, parse_ctx *pc)
{
    double t0 = cpu_now();
    pxmpp_stream *s = px_new(cfg, pc);
    int rc = px_feed(s, c->data, c->len);
    if (!rc)
        rc = pxmpp_stream_finish(s);
    pxmpp_stream_free(s);
    double t = cpu_now() - t0;
    px_check(pc, rc, "pxmpp-parse");
    return t;
}

/* ---- libstrophe -------------------------------------------------------------------------- */

#ifdef PXMPP_BENCH_LIBSTROPHE
static uint64_t strophe_allocs;

static void *st_alloc(size_t n, void *ud)
{
    (void)ud;
    strophe_allocs++;
    return malloc(n);
}

static void st_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static void *st_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    strophe_allocs++;
    return realloc(p, n);
}

static const xmpp_mem_t st_mem = { st_alloc, st_free, st_realloc, NULL };
static const xmpp_log_t st_log = { NULL, NULL };

/* The stanzas of the corpus as NUL-terminated strings (xmpp_stanza_new_from_string's input). */
typedef struct split {
    char *buf;
    char **str;
    size_t n;
    size_t bytes;
} split;

static void split_stanzas(const bench_corpus *c, split *sp)
{
    memset(sp, 0, sizeof *sp);
    size_t total = 0, n = 0;
    for (size_t i = 0; i < c->nspans; i++)
        if (is_stanza(&c->spans[i]))
            total += c->spans[i].len + 1, n++;
    sp->buf = malloc(total ? total : 1);
    sp->str = malloc((n ? n : 1) * sizeof *sp->str);
    if (!sp->buf || !sp->str)
        fail("out of memory");
    char *p = sp->buf;
    for (size_t i = 0; i < c->nspans; i++) {
        const bench_span *s = &c->spans[i];
        if (!is_stanza(s))
            continue;
        memcpy(p, c->data + s->off, s->len);
        p[s->len] = '\0';
        sp->str[sp->n++] = p;
        sp->bytes += s->len;
        p += s->len + 1;
    }
}

static void split_free(split *sp)
{
    free(sp->buf);
    free(sp->str);
}

NOINLINE static double run_strophe_parse(xmpp_ctx_t *ctx, const split *sp)
{
    size_t failed = 0;
    double t0 = cpu_now();
    for (size_t i = 0; i < sp->n; i++) {
        xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, sp->str[i]);
        if (st)
            xmpp_stanza_release(st);
        else
            failed++;
    }
    double t = cpu_now() - t0;
    if (failed)
        fail("libstrophe: a stanza failed to parse");
    return t;
}

NOINLINE static double run_strophe_serialize(xmpp_ctx_t *ctx, xmpp_stanza_t *const *st, size_t n, size_t *out_bytes)
{
    size_t total = 0;
    double t0 = cpu_now();
    for (size_t i = 0; i < n; i++) {
        char *buf;
        size_t len;
        if (xmpp_stanza_to_text(st[i], &buf, &len) != XMPP_EOK)
            fail("xmpp_stanza_to_text failed");
        total += len;
        xmpp_free(ctx, buf);
    }
    double t = cpu_now() - t0;
    *out_bytes = total;
    return t;
}
#endif

/* ---- 4. pxmpp serialize --------------------------------------------------------------------- */

typedef struct kept {
    const pxmpp_type_desc *type;
    const void *obj;
} kept;

typedef struct keep_ctx {
    pxmpp_arena *arena;
    kept *items;
    size_t n, cap;
    int failed;
} keep_ctx;

static void keep_element(void *user, const pxmpp_type_desc *type, const void *data, uint64_t offset)
{
    keep_ctx *k = user;
    (void)offset;
    if (k->n == k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 4096;
        kept *n = realloc(k->items, ncap * sizeof *n);
        if (!n) {
            k->failed = 1;
            return;
        }
        k->items = n;
        k->cap = ncap;
    }
    void *copy = pxmpp_copy(k->arena, type, data);
    if (!copy) {
        k->failed = 1;
        return;
    }
    k->items[k->n].type = type;
    k->items[k->n].obj = copy;
    k->n++;
}

static void keep_invalid(void *user, const pxmpp_type_desc *type, const void *partial, const pxmpp_diag *why,
                         uint64_t offset)
{
    (void)type, (void)partial, (void)why, (void)offset;
    ((keep_ctx *)user)->failed = 1;
}

/* Parses every stanza of the corpus into typed structs that stay alive (untimed). */
static void keep_stanzas(const bench_corpus *c, keep_ctx *k)
{
    memset(k, 0, sizeof *k);
    if (pxmpp_arena_new(&k->arena, NULL, 1u << 20))
        fail("out of memory");
    pxmpp_stream_callbacks cb = { .element = keep_element, .stanza_invalid = keep_invalid };
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
    cfg.limits.max_stanza_bytes = 64u << 20;
    pxmpp_stream *s;
    if (pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, k))
        fail("pxmpp: cannot create a stream");
    for (size_t i = 0; i < c->nspans; i++) {
        const bench_span *sp = &c->spans[i];
        if (is_stanza(sp) && pxmpp_stream_feed(s, c->data + sp->off, sp->len))
            fail("pxmpp: a stanza failed to parse (serialize preparation)");
    }
    if (pxmpp_stream_finish(s) || k->failed)
        fail("pxmpp: the stanzas could not be kept (serialize preparation)");
    pxmpp_stream_free(s);
}

NOINLINE static double run_px_serialize(const keep_ctx *k, size_t *out_bytes)
{
    pxmpp_buf out;
    pxmpp_buf_init(&out, NULL);
    size_t total = 0;
    int rc = 0;
    double t0 = cpu_now();
    for (size_t i = 0; i < k->n && !rc; i++) {
        out.len = 0;
        rc = pxmpp_write(&out, k->items[i].type, k->items[i].obj, PXMPP_NS_CLIENT, 0);
        total += out.len;
    }
    double t = cpu_now() - t0;
    pxmpp_buf_free(&out);
    if (rc)
        fail("pxmpp_write failed");
    *out_bytes = total;
    return t;
}

/* ---- the compared rows, interleaved ------------------------------------------------------------ */

/* One row of a comparison: a timed pass over its input, repeated --runs times.  The rows
   of a comparison run in turn, one pass of each per repetition (A B C A B C ...), so that
   a change in the machine's speed during the run (another process, frequency scaling)
   reaches every row alike: the ratios of their medians hold better than the times. */
typedef struct timed {
    const char *key;             /* figures KEY_ms (median), KEY_ms_min, KEY_ms_max, KEY_mbps */
    double (*pass)(void *state); /* one pass; CPU seconds */
    void *state;
    size_t bytes;      /* bytes a pass counts for KEY_mbps; 0: no throughput figure */
    double stop_after; /* > 0: no more passes once the first took longer (seconds) */
    double t[64];
    int n; /* passes done */
} timed;

static void run_interleaved(timed *rows, size_t nrows, int runs)
{
    for (int r = 0; r < runs; r++)
        for (size_t i = 0; i < nrows; i++) {
            timed *x = &rows[i];
            if (x->n && x->stop_after > 0 && x->t[0] > x->stop_after)
                continue;
            x->t[x->n++] = x->pass(x->state);
        }
}

/* The figures of a row: median, min and max in ms, throughput at the median. */
static void set_timed(const timed *x)
{
    double v[64];
    memcpy(v, x->t, (size_t)x->n * sizeof v[0]);
    double med = median(v, x->n); /* sorts v */
    char key[64];
    snprintf(key, sizeof key, "%s_ms", x->key);
    set_num(key, med * 1e3);
    snprintf(key, sizeof key, "%s_ms_min", x->key);
    set_num(key, x->n ? v[0] * 1e3 : NAN);
    snprintf(key, sizeof key, "%s_ms_max", x->key);
    set_num(key, x->n ? v[x->n - 1] * 1e3 : NAN);
    if (x->bytes) {
        snprintf(key, sizeof key, "%s_mbps", x->key);
        set_num(key, (double)x->bytes / med / 1e6);
    }
}

/* ---- the throughput rows ---- */

static double pass_floor(void *state) { return run_floor(state); }

typedef struct parse_state {
    const bench_corpus *c;
    pxmpp_stream_config cfg;
    uint64_t sum;
    size_t delivered, invalid;
} parse_state;

static double pass_parse(void *state)
{
    parse_state *ps = state;
    parse_ctx pc = { 0 };
    double t = run_pxmpp(ps->c, &ps->cfg, &pc);
    ps->sum = pc.sum;
    ps->delivered = pc.delivered;
    ps->invalid = pc.invalid;
    return t;
}

typedef struct serialize_state {
    keep_ctx k;
    size_t out;
} serialize_state;

static double pass_serialize(void *state)
{
    serialize_state *ss = state;
    return run_px_serialize(&ss->k, &ss->out);
}

#ifdef PXMPP_BENCH_LIBSTROPHE
typedef struct strophe_state {
    xmpp_ctx_t *ctx;
    split sp;
    xmpp_stanza_t **st; /* the stanzas parsed beforehand (serialize) */
    uint64_t allocs;    /* allocations of the parse passes */
    size_t out;
} strophe_state;

static double pass_strophe_parse(void *state)
{
    strophe_state *ss = state;
    uint64_t a0 = strophe_allocs;
    double t = run_strophe_parse(ss->ctx, &ss->sp);
    ss->allocs += strophe_allocs - a0;
    return t;
}

static double pass_strophe_serialize(void *state)
{
    strophe_state *ss = state;
    return run_strophe_serialize(ss->ctx, ss->st, ss->sp.n, &ss->out);
}
#endif

/* libxml2-floor, pxmpp-parse, libstrophe-parse, pxmpp-serialize, libstrophe-serialize: the
   ones asked for, interleaved. */
static void rows_throughput(const bench_corpus *c, const opts *o, void *strophe_ctx)
{
    timed rows[5];
    size_t n = 0;
    (void)strophe_ctx; /* unused without libstrophe */

    parse_state ps = { .c = c };
    ps.cfg.limits.max_stanza_bytes = stanza_limit(c);
    serialize_state ss;
    int parse = want(o, "pxmpp-parse"), serialize = want(o, "pxmpp-serialize");
    if (want(o, "libxml2-floor"))
        rows[n++] = (timed){ .key = "libxml2_floor", .pass = pass_floor, .state = (void *)c, .bytes = c->len };
    if (parse)
        rows[n++] = (timed){ .key = "pxmpp_parse", .pass = pass_parse, .state = &ps, .bytes = c->len };
#ifdef PXMPP_BENCH_LIBSTROPHE
    strophe_state sp = { .ctx = strophe_ctx };
    int st_parse = strophe_ctx && want(o, "libstrophe-parse");
    int st_serialize = strophe_ctx && want(o, "libstrophe-serialize");
    if (st_parse || st_serialize)
        split_stanzas(c, &sp.sp);
    if (st_parse)
        rows[n++] = (timed){ .key = "libstrophe_parse", .pass = pass_strophe_parse, .state = &sp,
                             .bytes = sp.sp.bytes };
#endif
    if (serialize) {
        keep_stanzas(c, &ss.k);
        rows[n++] = (timed){ .key = "pxmpp_serialize", .pass = pass_serialize, .state = &ss,
                             .bytes = stanza_bytes(c) };
    }
#ifdef PXMPP_BENCH_LIBSTROPHE
    if (st_serialize) {
        if (!(sp.st = malloc((sp.sp.n ? sp.sp.n : 1) * sizeof *sp.st)))
            fail("out of memory");
        for (size_t i = 0; i < sp.sp.n; i++)
            if (!(sp.st[i] = xmpp_stanza_new_from_string(sp.ctx, sp.sp.str[i])))
                fail("libstrophe: a stanza failed to parse");
        rows[n++] = (timed){ .key = "libstrophe_serialize", .pass = pass_strophe_serialize, .state = &sp,
                             .bytes = sp.sp.bytes };
    }
#endif

    run_interleaved(rows, n, o->runs);
    for (size_t i = 0; i < n; i++)
        set_timed(&rows[i]);

    if (parse) {
        set_int("pxmpp_parse_elements", (double)ps.delivered);
        set_int("invalid_stanzas", (double)ps.invalid);
        char buf[32];
        snprintf(buf, sizeof buf, "0x%016" PRIx64, ps.sum);
        set_str("checksum", buf);
        if (ps.delivered != c->nspans) {
            fprintf(stderr, "pxmpp-bench: pxmpp delivered %zu top-level elements, the corpus has %zu\n",
                    ps.delivered, c->nspans);
            exit(1);
        }
    }
    if (serialize) {
        set_int("pxmpp_serialize_out_bytes", (double)ss.out);
        pxmpp_arena_free(ss.k.arena);
        free(ss.k.items);
    }
#ifdef PXMPP_BENCH_LIBSTROPHE
    if (st_parse && sp.sp.n)
        set_num("libstrophe_allocs_per_stanza", (double)sp.allocs / (double)o->runs / (double)sp.sp.n);
    if (st_serialize) {
        set_int("libstrophe_serialize_out_bytes", (double)sp.out);
        for (size_t i = 0; i < sp.sp.n; i++)
            xmpp_stanza_release(sp.st[i]);
        free(sp.st);
    }
    if (st_parse || st_serialize)
        split_free(&sp.sp);
#endif
}

/* ---- rosters ---- */

static const char *const roster_keys[3] = { "5k", "20k", "100k" };

/* How many parses make a sample of about 50 ms, given one parse's time. */
static int repetitions(double one)
{
    if (one <= 0 || one >= 0.05)
        return 1;
    double n = 0.05 / one;
    return n > 100 ? 100 : (int)n;
}

/* A small roster parses in a few milliseconds: each sample repeats the parse reps times
   (the same count for every sample of a size) and is their mean. */
typedef struct roster_state {
    const bench_corpus *rc;
    pxmpp_stream_config cfg;
    size_t items;
    int reps;
} roster_state;

static double pass_roster_floor(void *state)
{
    roster_state *rs = state;
    double sum = 0;
    for (int k = 0; k < rs->reps; k++)
        sum += run_floor(rs->rc);
    return sum / rs->reps;
}

static double pass_roster_pxmpp(void *state)
{
    roster_state *rs = state;
    double sum = 0;
    for (int k = 0; k < rs->reps; k++) {
        parse_ctx pc = { 0 };
        sum += run_pxmpp(rs->rc, &rs->cfg, &pc);
        if (pc.roster_items != rs->items)
            fail("pxmpp: the roster lost items");
    }
    return sum / rs->reps;
}

#ifdef PXMPP_BENCH_LIBSTROPHE
static double pass_roster_strophe(void *state)
{
    strophe_state *ss = state;
    return run_strophe_parse(ss->ctx, &ss->sp);
}
#endif

static void row_roster(const opts *o, void *strophe_ctx)
{
    static const size_t full[3] = { 5000, 20000, 100000 };
    (void)strophe_ctx; /* unused without libstrophe */
    for (int i = 0; i < 3; i++) {
        size_t items = o->smoke ? full[i] / 10 : full[i];
        bench_corpus rc;
        if (bench_corpus_roster(&rc, items, o->seed + 100 + (uint64_t)i))
            fail("out of memory");
        char key[64], kf[32], kp[32];
        snprintf(key, sizeof key, "roster_%s_items", roster_keys[i]);
        set_int(key, (double)items);
        snprintf(key, sizeof key, "roster_%s_bytes", roster_keys[i]);
        set_int(key, (double)rc.len);

        timed rows[3];
        size_t n = 0;
        roster_state fl = { .rc = &rc, .items = items, .reps = 1 }, px = fl;
        px.cfg.limits.max_stanza_bytes = rc.len + 4096;
        fl.reps = repetitions(run_floor(&rc));
        parse_ctx pc0 = { 0 };
        px.reps = repetitions(run_pxmpp(&rc, &px.cfg, &pc0));
        snprintf(kf, sizeof kf, "roster_%s_floor", roster_keys[i]);
        snprintf(kp, sizeof kp, "roster_%s_pxmpp", roster_keys[i]);
        rows[n++] = (timed){ .key = kf, .pass = pass_roster_floor, .state = &fl };
        rows[n++] = (timed){ .key = kp, .pass = pass_roster_pxmpp, .state = &px };

#ifdef PXMPP_BENCH_LIBSTROPHE
        /* libstrophe appends each child by walking its list of siblings, so a roster takes
           quadratic time.  A size whose first pass takes more than 5 s is not repeated; the
           largest is skipped when the quadratic extrapolation from the previous size
           exceeds 60 s (unless --libstrophe-100k). */
        strophe_state ss = { .ctx = strophe_ctx };
        char ks[32];
        int strophe = strophe_ctx != NULL;
        if (strophe && i == 2 && !o->libstrophe_100k) {
            double prev = get("roster_20k_libstrophe_ms");
            double predicted = prev * ((double)full[2] / (double)full[1]) * ((double)full[2] / (double)full[1]);
            if (isnan(prev) || predicted > 60e3) {
                set_num("roster_100k_libstrophe_predicted_ms", predicted);
                set_bool("roster_100k_libstrophe_skipped", 1);
                strophe = 0;
            }
        }
        if (strophe) {
            split_stanzas(&rc, &ss.sp);
            snprintf(ks, sizeof ks, "roster_%s_libstrophe", roster_keys[i]);
            rows[n++] = (timed){ .key = ks, .pass = pass_roster_strophe, .state = &ss, .stop_after = 5.0 };
        }
#endif
        run_interleaved(rows, n, o->runs);
        for (size_t r = 0; r < n; r++)
            set_timed(&rows[r]);
#ifdef PXMPP_BENCH_LIBSTROPHE
        if (strophe) {
            split_free(&ss.sp);
            snprintf(key, sizeof key, "roster_%s_libstrophe_runs", roster_keys[i]);
            set_int(key, rows[2].n);
            if (i == 2)
                set_bool("roster_100k_libstrophe_skipped", 0);
        }
#endif
        bench_corpus_free(&rc);
    }
    set_num("roster_20k_over_5k", ratio(get("roster_20k_pxmpp_ms"), get("roster_5k_pxmpp_ms")));
    set_num("roster_100k_over_20k", ratio(get("roster_100k_pxmpp_ms"), get("roster_20k_pxmpp_ms")));
    set_num("roster_floor_20k_over_5k", ratio(get("roster_20k_floor_ms"), get("roster_5k_floor_ms")));
    set_num("roster_floor_100k_over_20k", ratio(get("roster_100k_floor_ms"), get("roster_20k_floor_ms")));
    set_num("roster_libstrophe_20k_over_5k", ratio(get("roster_20k_libstrophe_ms"), get("roster_5k_libstrophe_ms")));
    set_num("roster_libstrophe_100k_over_20k",
            ratio(get("roster_100k_libstrophe_ms"), get("roster_20k_libstrophe_ms")));
}

static size_t warm_up_count(size_t stanzas)
{
    /* the first tenth (which holds the session start and the roster) is warm-up */
    size_t w = stanzas / 10;
    return w ? w : 1;
}

static void row_memory(const bench_corpus *c)
{
    if (c->close_off <= c->header_len)
        fail("the corpus has no content");

    /* pxmpp: an idle stream, then steady-state allocations and the peak over the corpus */
    size_t xml_base = pxmpp_memcount_xml.live;
    pxmpp_memcount_reset_peak();
    size_t peak_base = pxmpp_memcount_peak();
    parse_ctx pc = { 0 };
    pc.track = 1;
    pc.warm_at = warm_up_count(c->nspans);
    pxmpp_stream_config cfg = { .mem = pxmpp_memcount_pxmpp() };
    cfg.limits.max_stanza_bytes = stanza_limit(c);
    pxmpp_stream *s = px_new(&cfg, &pc);
    int rc = px_feed(s, c->data, c->header_len);
    px_check(&pc, rc, "memory");
    size_t idle_px = pxmpp_stream_memory(s);
    size_t idle_xml = pxmpp_memcount_xml.live - xml_base;
    set_int("idle_stream_bytes", (double)(idle_px + idle_xml));
    set_int("idle_stream_pxmpp_bytes", (double)idle_px);
    set_int("idle_stream_pxmpp_hooked_bytes", (double)pxmpp_memcount_px.live);
    set_int("idle_stream_libxml2_bytes", (double)idle_xml);
    rc = px_feed(s, c->data + c->header_len, c->close_off - c->header_len);
    px_check(&pc, rc, "memory");
    set_int("idle_after_corpus_bytes", (double)(pxmpp_stream_memory(s) + pxmpp_memcount_xml.live - xml_base));
    set_int("idle_after_corpus_pxmpp_bytes", (double)pxmpp_stream_memory(s));
    set_int("idle_after_corpus_libxml2_bytes", (double)(pxmpp_memcount_xml.live - xml_base));
    /* a connection gone idle gives back what the stream keeps for the next stanza */
    if (pxmpp_stream_trim(s) != 0)
        px_check(&pc, PXMPP_ERR_STATE, "trim");
    set_int("idle_after_trim_bytes", (double)(pxmpp_stream_memory(s) + pxmpp_memcount_xml.live - xml_base));
    set_int("idle_after_trim_pxmpp_bytes", (double)pxmpp_stream_memory(s));
    rc = px_feed(s, c->data + c->close_off, c->len - c->close_off);
    if (!rc)
        rc = pxmpp_stream_finish(s);
    px_check(&pc, rc, "memory");
    set_int("peak_heap_bytes", (double)(pxmpp_memcount_peak() - peak_base));
    pxmpp_stream_free(s);
    size_t steady = pc.n1 > pc.n0 ? pc.n1 - pc.n0 : 0;
    if (steady) {
        uint64_t apx = pc.px1 - pc.px0, axml = pc.xml1 - pc.xml0;
        set_int("steady_stanzas", (double)steady);
        set_num("allocs_per_stanza", (double)(apx + axml) / (double)steady);
        set_num("allocs_per_stanza_pxmpp", (double)apx / (double)steady);
        set_num("allocs_per_stanza_libxml2", (double)axml / (double)steady);
    }

    /* the floor: libxml2 alone */
    xml_base = pxmpp_memcount_xml.live;
    pxmpp_memcount_reset_peak();
    peak_base = pxmpp_memcount_peak();
    floor_ctx fc = { 0 };
    fc.track = 1;
    fc.warm_at = warm_up_count(c->nspans);
    xmlSAXHandler sax;
    xmlParserCtxtPtr ctxt = floor_new(&sax, &fc, 1);
    floor_feed(ctxt, c->data, c->header_len);
    set_int("floor_idle_bytes", (double)(pxmpp_memcount_xml.live - xml_base));
    floor_feed(ctxt, c->data + c->header_len, c->len - c->header_len);
    xmlParseChunk(ctxt, NULL, 0, 1);
    set_int("floor_peak_heap_bytes", (double)(pxmpp_memcount_peak() - peak_base));
    xmlFreeParserCtxt(ctxt);
    steady = fc.n1 > fc.n0 ? fc.n1 - fc.n0 : 0;
    if (steady)
        set_num("floor_allocs_per_stanza", (double)(fc.a1 - fc.a0) / (double)steady);
}

/* ---- output ------------------------------------------------------------------------------------ */

typedef struct target {
    const char *key;
    const char *op; /* ">=", "<=", ">", "==" */
    double bound;
    const char *what;
} target;

static const target targets[] = {
    { "parse_vs_floor", ">=", 0.70, "pxmpp-parse throughput / libxml2 floor" },
    { "parse_vs_libstrophe", ">=", 5.0, "pxmpp-parse throughput / libstrophe-parse" },
    { "serialize_vs_libstrophe", ">=", 3.0, "pxmpp-serialize throughput / libstrophe-serialize" },
    { "serialize_vs_parse", ">", 1.0, "pxmpp-serialize throughput / pxmpp-parse" },
    { "roster_20k_over_5k", "<=", 4.5, "pxmpp roster parse time 20k / 5k items" },
    { "roster_100k_over_20k", "<=", 5.5, "pxmpp roster parse time 100k / 20k items" },
    { "allocs_per_stanza", "==", 0.0, "heap allocations per stanza, steady state" },
    { "idle_stream_bytes", "<=", 24576, "bytes of an idle stream incl. libxml2's context" },
    { "idle_after_trim_bytes", "<=", 24576, "the same after the corpus and pxmpp_stream_trim()" },
};
#define NTARGETS (sizeof targets / sizeof targets[0])

/* 1 met, 0 missed, -1 not measured */
static int target_met(const target *t)
{
    double v = get(t->key);
    if (isnan(v))
        return -1;
    if (strcmp(t->op, ">=") == 0)
        return v >= t->bound;
    if (strcmp(t->op, "<=") == 0)
        return v <= t->bound;
    if (strcmp(t->op, ">") == 0)
        return v > t->bound;
    return v == t->bound;
}

static void print_json(void)
{
    printf("{");
    for (size_t i = 0; i < nfigs; i++) {
        const figure *f = &figs[i];
        printf("%s\"%s\":", i ? "," : "", f->key);
        if (f->kind == F_STR)
            printf("\"%s\"", f->s);
        else if (isnan(f->v))
            printf("null");
        else if (f->kind == F_BOOL)
            printf("%s", f->v != 0 ? "true" : "false");
        else if (f->kind == F_INT)
            printf("%.0f", f->v);
        else
            printf("%.4g", f->v);
    }
    printf(",\"targets\":{");
    for (size_t i = 0; i < NTARGETS; i++) {
        int m = target_met(&targets[i]);
        printf("%s\"%s\":%s", i ? "," : "", targets[i].key, m < 0 ? "null" : m ? "true" : "false");
    }
    printf("}}\n");
}

/* Where the table goes: stdout, or stderr when stdout carries the JSON line. */
static FILE *tout;

static void fmt_num(char *buf, size_t cap, double v, const char *fmt_spec)
{
    if (isnan(v))
        snprintf(buf, cap, "-");
    else if (strcmp(fmt_spec, "ms") == 0)
        snprintf(buf, cap, "%.1f", v);
    else if (strcmp(fmt_spec, "x") == 0)
        snprintf(buf, cap, "%.2fx", v);
    else if (strcmp(fmt_spec, "int") == 0)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.3f", v);
}

/* "min-max" of a timed figure KEY_ms, or "-". */
static void fmt_range(char *buf, size_t cap, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "%s_ms_min", key);
    double lo = get(k);
    snprintf(k, sizeof k, "%s_ms_max", key);
    double hi = get(k);
    if (isnan(lo) || isnan(hi))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.1f-%.1f", lo, hi);
}

static void print_row(const char *name, const char *key, const char *note)
{
    char ms[32], range[48], mbps[32], vs[32], k[64];
    snprintf(k, sizeof k, "%s_ms", key);
    fmt_num(ms, sizeof ms, get(k), "ms");
    fmt_range(range, sizeof range, key);
    snprintf(k, sizeof k, "%s_mbps", key);
    double v = get(k);
    fmt_num(mbps, sizeof mbps, v, "ms");
    fmt_num(vs, sizeof vs, ratio(v, get("libxml2_floor_mbps")), "x");
    fprintf(tout, "  %-22s %10s %15s %9s %9s   %s\n", name, ms, range, mbps, vs, note);
}

static void print_table(const bench_corpus *c, const opts *o, const char *source)
{
    fprintf(tout, "pxmpp-bench: %zu-byte corpus (%s): %zu top-level elements: %zu messages, %zu presences, %zu iqs,"
           " %zu other; initial roster %zu items\n",
           c->len, source, c->nspans, c->kinds[BENCH_MESSAGE], c->kinds[BENCH_PRESENCE], c->kinds[BENCH_IQ],
           c->kinds[BENCH_OTHER], c->roster_items);
    fprintf(tout,
            "CPU time (CLOCK_PROCESS_CPUTIME_ID): median, min and max of %d run%s, the rows of a table interleaved\n"
            "(one pass of each per run); ratios from the medians; %d-byte chunks; MB = 10^6 bytes\n\n",
            o->runs, o->runs == 1 ? "" : "s", CHUNK);
    fprintf(tout, "  %-22s %10s %15s %9s %9s\n", "row", "median ms", "min-max ms", "MB/s", "vs floor");
    print_row("libxml2-floor", "libxml2_floor", "SAX2 push parser, no-op callbacks");
    print_row("pxmpp-parse", "pxmpp_parse", "typed callbacks, every field read");
    print_row("libstrophe-parse", "libstrophe_parse", "xmpp_stanza_new_from_string + release, per stanza");
    print_row("pxmpp-serialize", "pxmpp_serialize", "pxmpp_write of kept typed stanzas");
    print_row("libstrophe-serialize", "libstrophe_serialize", "xmpp_stanza_to_text + xmpp_free");
    fprintf(tout, "  (the stanza rows cover the %zu message/presence/iq stanzas, %zu bytes)\n\n",
           c->kinds[BENCH_MESSAGE] + c->kinds[BENCH_PRESENCE] + c->kinds[BENCH_IQ], stanza_bytes(c));

    fprintf(tout, "  %-22s %8s %10s %10s %14s   %s\n", "roster (one iq result)", "items", "floor ms", "pxmpp ms",
           "libstrophe ms", "min-max: floor, pxmpp");
    for (int i = 0; i < 3; i++) {
        char k[64], items[32], fl[32], px[32], st[32], rf[48], rp[48];
        snprintf(k, sizeof k, "roster_%s_items", roster_keys[i]);
        fmt_num(items, sizeof items, get(k), "int");
        snprintf(k, sizeof k, "roster_%s_floor_ms", roster_keys[i]);
        fmt_num(fl, sizeof fl, get(k), "ms");
        snprintf(k, sizeof k, "roster_%s_pxmpp_ms", roster_keys[i]);
        fmt_num(px, sizeof px, get(k), "ms");
        snprintf(k, sizeof k, "roster_%s_libstrophe_ms", roster_keys[i]);
        fmt_num(st, sizeof st, get(k), "ms");
        snprintf(k, sizeof k, "roster_%s_floor", roster_keys[i]);
        fmt_range(rf, sizeof rf, k);
        snprintf(k, sizeof k, "roster_%s_pxmpp", roster_keys[i]);
        fmt_range(rp, sizeof rp, k);
        snprintf(k, sizeof k, "roster_%s_libstrophe_runs", roster_keys[i]);
        double runs = get(k);
        char note[96] = "";
        if (!isnan(runs) && (int)runs < o->runs)
            snprintf(note, sizeof note, "  (libstrophe: %d run)", (int)runs);
        if (i == 2 && get("roster_100k_libstrophe_skipped") == 1)
            snprintf(note, sizeof note, "  (libstrophe skipped: quadratic, >= %.0f s extrapolated)",
                     get("roster_100k_libstrophe_predicted_ms") / 1e3);
        fprintf(tout, "  %-22s %8s %10s %10s %14s   %s, %s%s\n", roster_keys[i], items, fl, px, st, rf, rp, note);
    }
    char a[32], b[32], f[32];
    fmt_num(f, sizeof f, get("roster_floor_20k_over_5k"), "x");
    fmt_num(a, sizeof a, get("roster_20k_over_5k"), "x");
    fmt_num(b, sizeof b, get("roster_libstrophe_20k_over_5k"), "x");
    fprintf(tout, "  %-22s %8s %10s %10s %14s   (linear: 4.00x)\n", "growth 20k/5k", "", f, a, b);
    fmt_num(f, sizeof f, get("roster_floor_100k_over_20k"), "x");
    fmt_num(a, sizeof a, get("roster_100k_over_20k"), "x");
    fmt_num(b, sizeof b, get("roster_libstrophe_100k_over_20k"), "x");
    fprintf(tout, "  %-22s %8s %10s %10s %14s   (linear: 5.00x)\n\n", "growth 100k/20k", "", f, a, b);

    char v1[32], v2[32], v3[32], v4[32];
    fprintf(tout, "  memory\n");
    fmt_num(v1, sizeof v1, get("idle_stream_bytes"), "int");
    fmt_num(v2, sizeof v2, get("idle_stream_pxmpp_bytes"), "int");
    fmt_num(v3, sizeof v3, get("idle_stream_libxml2_bytes"), "int");
    fmt_num(v4, sizeof v4, get("floor_idle_bytes"), "int");
    fprintf(tout, "  %-34s %10s bytes (pxmpp %s + libxml2 %s; floor parser alone %s)\n", "idle stream, header received",
           v1, v2, v3, v4);
    fmt_num(v1, sizeof v1, get("idle_after_corpus_bytes"), "int");
    fmt_num(v2, sizeof v2, get("idle_after_corpus_pxmpp_bytes"), "int");
    fmt_num(v3, sizeof v3, get("idle_after_corpus_libxml2_bytes"), "int");
    fprintf(tout, "  %-34s %10s bytes (pxmpp %s + libxml2 %s)\n", "idle stream, after the corpus", v1, v2, v3);
    fmt_num(v1, sizeof v1, get("idle_after_trim_bytes"), "int");
    fmt_num(v2, sizeof v2, get("idle_after_trim_pxmpp_bytes"), "int");
    fprintf(tout, "  %-34s %10s bytes (pxmpp %s)\n", "... then pxmpp_stream_trim()", v1, v2);
    fmt_num(v1, sizeof v1, get("allocs_per_stanza"), "");
    fmt_num(v2, sizeof v2, get("allocs_per_stanza_pxmpp"), "");
    fmt_num(v3, sizeof v3, get("allocs_per_stanza_libxml2"), "");
    fprintf(tout, "  %-34s %10s (pxmpp %s + libxml2 %s)\n", "heap allocations per stanza", v1, v2, v3);
    fmt_num(v1, sizeof v1, get("floor_allocs_per_stanza"), "");
    fmt_num(v2, sizeof v2, get("libstrophe_allocs_per_stanza"), "");
    fprintf(tout, "  %-34s %10s (libstrophe-parse %s)\n", "  floor, for comparison", v1, v2);
    fmt_num(v1, sizeof v1, get("peak_heap_bytes"), "int");
    fmt_num(v2, sizeof v2, get("floor_peak_heap_bytes"), "int");
    fprintf(tout, "  %-34s %10s bytes (floor %s)\n\n", "peak heap while parsing the corpus", v1, v2);

    fprintf(tout, "  targets\n");
    for (size_t i = 0; i < NTARGETS; i++) {
        const target *t = &targets[i];
        int m = target_met(t);
        char v[32], bound[32];
        const char *spec = strncmp(t->key, "idle_", 5) == 0 ? "int" : "";
        fmt_num(v, sizeof v, get(t->key), spec);
        fmt_num(bound, sizeof bound, t->bound, spec);
        fprintf(tout, "  %-24s %10s  %s %-8s %-12s %s\n", t->key, v, t->op, bound,
               m < 0 ? "not measured" : m ? "met" : "MISSED", t->what);
    }
    fprintf(tout, "\n  checksum %s\n", fig("checksum", F_STR)->s);
}

/* ---- main ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    /* before libxml2 allocates anything */
    if (pxmpp_memcount_install_libxml2() != 0)
        fail("xmlMemSetup failed");
    xmlInitParser();

    opts o = { .size = 32u << 20, .runs = 5, .seed = 1 };
    int size_given = 0, runs_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--smoke") == 0) {
            o.smoke = 1;
        } else if (strcmp(a, "--no-libstrophe") == 0) {
            o.no_libstrophe = 1;
        } else if (strcmp(a, "--libstrophe-100k") == 0) {
            o.libstrophe_100k = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (v && strcmp(a, "--size") == 0) {
            if (parse_size(v, &o.size)) {
                fprintf(stderr, "pxmpp-bench: bad --size '%s'\n", v);
                return 64;
            }
            size_given = 1;
            i++;
        } else if (v && strcmp(a, "--runs") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 64) {
                fprintf(stderr, "pxmpp-bench: --runs takes 1..64\n");
                return 64;
            }
            o.runs = (int)n;
            runs_given = 1;
            i++;
        } else if (v && strcmp(a, "--seed") == 0) {
            o.seed = strtoull(v, NULL, 10);
            i++;
        } else if (v && strcmp(a, "--only") == 0) {
            o.only = v;
            size_t k = 0;
            while (k < NROWS && strcmp(row_names[k], v) != 0)
                k++;
            if (k == NROWS) {
                fprintf(stderr, "pxmpp-bench: unknown row '%s'\n", v);
                usage(stderr);
                return 64;
            }
            i++;
        } else if (v && strcmp(a, "--corpus") == 0) {
            o.corpus = v;
            i++;
        } else if (v && strcmp(a, "--write-corpus") == 0) {
            o.write_corpus = v;
            i++;
        } else {
            fprintf(stderr, "pxmpp-bench: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 64;
        }
    }
    if (o.smoke) {
        if (!size_given)
            o.size = 256u << 10;
        if (!runs_given)
            o.runs = 1;
    }

    bench_corpus c;
    char source[160];
    if (o.corpus) {
        int rc = bench_corpus_load(&c, o.corpus);
        if (rc) {
            fprintf(stderr, "pxmpp-bench: %s: %s\n", o.corpus,
                    rc == -2 ? "not an XMPP stream (no <stream:stream> start tag)" : strerror(errno));
            return 74;
        }
        snprintf(source, sizeof source, "read from %s", o.corpus);
    } else {
        if (bench_corpus_generate(&c, o.size, o.smoke ? 100 : 1000, o.seed))
            fail("cannot generate the corpus");
        snprintf(source, sizeof source, "generated, seed %" PRIu64, o.seed);
    }
    if (o.write_corpus) {
        if (bench_corpus_write(&c, o.write_corpus)) {
            fprintf(stderr, "pxmpp-bench: %s: %s\n", o.write_corpus, strerror(errno));
            return 74;
        }
        fprintf(stderr, "pxmpp-bench: wrote %zu bytes to %s\n", c.len, o.write_corpus);
        bench_corpus_free(&c);
        return 0;
    }

    size_t nst = c.kinds[BENCH_MESSAGE] + c.kinds[BENCH_PRESENCE] + c.kinds[BENCH_IQ];
    set_int("corpus_bytes", (double)c.len);
    set_int("stanza_bytes", (double)stanza_bytes(&c));
    set_int("elements", (double)c.nspans);
    set_int("stanzas", (double)nst);
    set_int("messages", (double)c.kinds[BENCH_MESSAGE]);
    set_int("presences", (double)c.kinds[BENCH_PRESENCE]);
    set_int("iqs", (double)c.kinds[BENCH_IQ]);
    set_int("initial_roster_items", (double)c.roster_items);
    set_int("seed", o.corpus ? NAN : (double)o.seed);
    set_int("runs", o.runs);
    set_int("chunk_bytes", CHUNK);
#ifdef PXMPP_BENCH_LIBSTROPHE
    set_bool("libstrophe", !o.no_libstrophe);
    xmpp_ctx_t *sctx = NULL;
    if (!o.no_libstrophe && !(sctx = xmpp_ctx_new(&st_mem, &st_log)))
        fail("libstrophe: cannot create a context");
#else
    set_bool("libstrophe", 0);
    void *sctx = NULL;
#endif
    set_str("checksum", "");

    rows_throughput(&c, &o, sctx);
    if (want(&o, "roster"))
        row_roster(&o, sctx);
    if (want(&o, "memory"))
        row_memory(&c);

    /* make sure every key exists, measured or not */
    static const char *const keys[] = {
        "libxml2_floor_ms", "libxml2_floor_mbps", "pxmpp_parse_ms", "pxmpp_parse_mbps", "libstrophe_parse_ms",
        "libstrophe_parse_mbps", "pxmpp_serialize_ms", "pxmpp_serialize_mbps", "libstrophe_serialize_ms",
        "libstrophe_serialize_mbps", "libstrophe_serialize_out_bytes", "roster_5k_libstrophe_ms",
        "roster_20k_libstrophe_ms", "roster_100k_libstrophe_ms",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        fig(keys[i], F_NUM);
    static const char *const timed_keys[] = {
        "libxml2_floor", "pxmpp_parse", "libstrophe_parse", "pxmpp_serialize", "libstrophe_serialize",
        "roster_5k_floor", "roster_5k_pxmpp", "roster_5k_libstrophe", "roster_20k_floor", "roster_20k_pxmpp",
        "roster_20k_libstrophe", "roster_100k_floor", "roster_100k_pxmpp", "roster_100k_libstrophe",
    };
    for (size_t i = 0; i < sizeof timed_keys / sizeof timed_keys[0]; i++) {
        char k[64];
        snprintf(k, sizeof k, "%s_ms_min", timed_keys[i]);
        fig(k, F_NUM);
        snprintf(k, sizeof k, "%s_ms_max", timed_keys[i]);
        fig(k, F_NUM);
    }
    set_num("parse_vs_floor", ratio(get("pxmpp_parse_mbps"), get("libxml2_floor_mbps")));
    set_num("parse_vs_libstrophe", ratio(get("pxmpp_parse_mbps"), get("libstrophe_parse_mbps")));
    set_num("serialize_vs_libstrophe", ratio(get("pxmpp_serialize_mbps"), get("libstrophe_serialize_mbps")));
    set_num("serialize_vs_parse", ratio(get("pxmpp_serialize_mbps"), get("pxmpp_parse_mbps")));
    static const char *const later[] = {
        "roster_20k_over_5k", "roster_100k_over_20k", "idle_stream_bytes", "allocs_per_stanza",
        "peak_heap_bytes", "libstrophe_allocs_per_stanza",
    };
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        fig(later[i], F_NUM);

    tout = o.json ? stderr : stdout;
    print_table(&c, &o, source);
    if (o.json)
        print_json();

#ifdef PXMPP_BENCH_LIBSTROPHE
    if (sctx)
        xmpp_ctx_free(sctx);
#endif
    bench_corpus_free(&c);
    xmlCleanupParser();
    double invalid = get("invalid_stanzas");
    if (!o.corpus && !isnan(invalid) && invalid > 0)
        fail("the generated corpus has invalid stanzas");
    return 0;
}
