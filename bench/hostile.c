/* pxmpp-bench-hostile: CPU time per KiB and peak memory of a stream fed the big
 * hostile inputs of tests/test_hostile.c.
 *
 * Each row builds one input, feeds it to a fresh client stream in pieces of the
 * given size until the stream accepts no more (an error, or the end of the
 * input), and prints:
 *   offered   bytes of the input
 *   fed       bytes the stream took before it stopped (pxmpp_stream_offset)
 *   result    the final return code
 *   cpu ms    process CPU time of the feeding
 *   us/KiB    CPU time per KiB fed
 *   peak      bytes held at most through the stream's pxmpp_mem hooks and
 *             libxml2's xmlMemSetup hooks together
 * Rows marked "raised" use limits far above the defaults, to show how the cost
 * grows when a deployment relaxes them; the other rows use the default limits.
 *
 * Usage: pxmpp-bench-hostile [--quick]   (--quick: smaller sizes, for a smoke run) */
#include <pxmpp/pxmpp.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- counting allocator ----------------------------------------------------------- */

typedef union mhdr {
    size_t size;
    max_align_t align_;
} mhdr;

static size_t live, peak;

static void *c_malloc(size_t n)
{
    mhdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    live += n;
    if (live > peak)
        peak = live;
    return h + 1;
}

static void *c_realloc(void *p, size_t n)
{
    if (!p)
        return c_malloc(n);
    mhdr *h = (mhdr *)p - 1;
    size_t old = h->size;
    mhdr *q = realloc(h, sizeof *q + n);
    if (!q)
        return NULL;
    q->size = n;
    live = live - old + n;
    if (live > peak)
        peak = live;
    return q + 1;
}

static void c_free(void *p)
{
    if (!p)
        return;
    mhdr *h = (mhdr *)p - 1;
    live -= h->size;
    free(h);
}

static char *c_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = c_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void *px_malloc(size_t n, void *ud) { (void)ud; return c_malloc(n); }
static void *px_realloc(void *p, size_t n, void *ud) { (void)ud; return c_realloc(p, n); }
static void px_free(void *p, void *ud) { (void)ud; c_free(p); }

static const pxmpp_mem counting = { px_malloc, px_realloc, px_free, NULL };

/* ---- inputs ----------------------------------------------------------------------- */

#define HDR "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
#define END "</stream:stream>"

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void put_bytes(buf *b, const char *s, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void put(buf *b, const char *s) { put_bytes(b, s, strlen(s)); }

static void put_n(buf *b, char c, size_t n)
{
    char chunk[4096];
    memset(chunk, c, sizeof chunk);
    while (n) {
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        put_bytes(b, chunk, k);
        n -= k;
    }
}

static void gen_attribute(buf *b, size_t n, char fill)
{
    put(b, HDR "<message id='");
    put_n(b, fill, n);
    put(b, "'><body>x</body></message>" END);
}

static void gen_attr_a(buf *b, size_t n) { gen_attribute(b, n, 'a'); }
static void gen_attr_gt(buf *b, size_t n) { gen_attribute(b, n, '>'); }

static void gen_unique_names(buf *b, size_t n)
{
    put(b, HDR);
    char tmp[64];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(tmp, sizeof tmp, "<message><n%07zu/></message>", i);
        put_bytes(b, tmp, (size_t)k);
    }
    put(b, END);
}

static void gen_unique_namespaces(buf *b, size_t n)
{
    put(b, HDR);
    char tmp[96];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(tmp, sizeof tmp, "<message><x xmlns='urn:flood:%07zu'/></message>", i);
        put_bytes(b, tmp, (size_t)k);
    }
    put(b, END);
}

static void gen_nesting(buf *b, size_t n)
{
    put(b, HDR "<message>");
    for (size_t i = 0; i < n; i++)
        put(b, "<a>");
    for (size_t i = 0; i < n; i++)
        put(b, "</a>");
    put(b, "</message>" END);
}

static void gen_text(buf *b, size_t n)
{
    put(b, HDR "<message><body>");
    put_n(b, 'x', n);
    put(b, "</body></message>" END);
}

static void gen_attributes(buf *b, size_t n)
{
    put(b, HDR "<message");
    char tmp[32];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(tmp, sizeof tmp, " a%zu=''", i);
        put_bytes(b, tmp, (size_t)k);
    }
    put(b, "/>" END);
}

static void gen_namespaces(buf *b, size_t n)
{
    put(b, HDR "<message");
    char tmp[48];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(tmp, sizeof tmp, " xmlns:p%zu='urn:p:%zu'", i, i);
        put_bytes(b, tmp, (size_t)k);
    }
    put(b, "/>" END);
}

/* One message of n bodies, each in its own language (distinct) or in one of 100 (repeated,
   invalid from the 101st body on): the one-body-per-xml:lang check on a stanza of the
   default size limit (6,897 bodies fit in 262,144 bytes). */
static void gen_langs(buf *b, size_t n, bool repeated)
{
    put(b, HDR "<message to='juliet@example.com' id='m1'>");
    char tmp[64];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(tmp, sizeof tmp, "<body xml:lang='i-lang-%05zu'>h</body>", repeated ? i % 100 : i);
        put_bytes(b, tmp, (size_t)k);
    }
    put(b, "</message>" END);
}

static void gen_langs_distinct(buf *b, size_t n) { gen_langs(b, n, false); }
static void gen_langs_repeated(buf *b, size_t n) { gen_langs(b, n, true); }

static void gen_small_stanzas(buf *b, size_t n)
{
    put(b, HDR);
    for (size_t i = 0; i < n; i++)
        put(b, "<message to='juliet@example.com' id='m1'><body>ok</body></message>");
    put(b, END);
}

/* ---- rows ------------------------------------------------------------------------- */

typedef struct row {
    const char *name;
    void (*gen)(buf *b, size_t n);
    size_t n, quick_n; /* size parameter of the generator (count or bytes), full and --quick */
    size_t chunk;      /* bytes per feed call */
    bool raised;       /* limits far above the defaults */
} row;

static const row rows[] = {
    { "huge attribute of 'a'", gen_attr_a, 200000, 20000, 1, false },
    { "huge attribute of '>'", gen_attr_gt, 50000, 5000, 1, false },
    { "huge attribute of '>'", gen_attr_gt, 100000, 10000, 1, false },
    { "huge attribute of '>'", gen_attr_gt, 200000, 20000, 1, false },
    { "unique element names", gen_unique_names, 125000, 5000, 4096, false },
    { "unique element names", gen_unique_names, 250000, 10000, 4096, false },
    { "unique element names", gen_unique_names, 500000, 20000, 4096, false },
    { "unique element names", gen_unique_names, 1000000, 40000, 4096, false },
    { "unique namespaces", gen_unique_namespaces, 1000000, 20000, 4096, false },
    { "deep nesting", gen_nesting, 100000, 10000, 4096, false },
    { "deep nesting", gen_nesting, 100000, 10000, 1, false },
    { "text", gen_text, (size_t)20 << 20, (size_t)1 << 20, 65536, false },
    { "text", gen_text, (size_t)20 << 20, (size_t)1 << 20, 1, false },
    { "many attributes", gen_attributes, 1000, 1000, 4096, false },
    { "many attributes", gen_attributes, 25000, 3000, 4096, false },
    { "many namespace declarations", gen_namespaces, 1000, 1000, 4096, false },
    { "many namespace declarations", gen_namespaces, 9500, 3000, 4096, false },
    { "bodies, distinct xml:lang", gen_langs_distinct, 6897, 1000, 4096, false },
    { "bodies, repeated xml:lang", gen_langs_repeated, 6897, 1000, 4096, false },
    { "small stanzas (baseline)", gen_small_stanzas, 100000, 5000, 4096, false },
    { "deep nesting", gen_nesting, 250, 250, 4096, true },
    { "text", gen_text, (size_t)20 << 20, (size_t)1 << 20, 65536, true },
    { "text", gen_text, (size_t)1 << 20, (size_t)256 << 10, 1, true },
    { "text", gen_text, (size_t)2 << 20, (size_t)512 << 10, 1, true },
    { "many attributes", gen_attributes, 7500, 750, 4096, true },
    { "many attributes", gen_attributes, 15000, 1500, 4096, true },
    { "many attributes", gen_attributes, 30000, 3000, 4096, true },
    { "many namespace declarations", gen_namespaces, 15000, 1500, 4096, true },
    { "many namespace declarations", gen_namespaces, 30000, 3000, 4096, true },
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(char *out, size_t cap, size_t n)
{
    if (n >= (size_t)10 << 20)
        snprintf(out, cap, "%.1f MiB", (double)n / (1 << 20));
    else if (n >= 10u << 10)
        snprintf(out, cap, "%.1f KiB", (double)n / 1024);
    else
        snprintf(out, cap, "%zu B", n);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (argc > 1 && !quick) {
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 64;
    }
    if (xmlMemSetup(c_free, c_malloc, c_realloc, c_strdup) != 0) {
        fprintf(stderr, "xmlMemSetup failed\n");
        return 1;
    }
    xmlInitParser();

    printf("%-28s %9s %7s %7s %10s %10s  %-22s %9s %9s %10s\n", "input", "n", "limits", "chunk", "offered", "fed",
           "result", "cpu ms", "us/KiB", "peak");
    double worst = 0;
    const char *worst_name = "";
    size_t worst_n = 0;
    double lang_ms[2] = { -1, -1 }; /* the distinct and repeated xml:lang rows */
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        buf in = { 0 };
        size_t n = quick ? r->quick_n : r->n;
        r->gen(&in, n);

        pxmpp_stream_config cfg = { .mem = &counting };
        if (r->raised) {
            cfg.limits.max_stanza_bytes = (size_t)64 << 20;
            cfg.limits.max_depth = 1000000;
            cfg.limits.max_attrs = 1000000;
        }
        pxmpp_stream_callbacks cb = { 0 };
        pxmpp_stream *s;
        xmlResetLastError();
        size_t base = live;
        peak = live;
        if (pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, NULL) != 0) {
            fprintf(stderr, "pxmpp_stream_new failed\n");
            return 1;
        }
        double t0 = cpu_now();
        int rc = 0;
        for (size_t off = 0; off < in.len && rc == 0;) {
            size_t k = in.len - off < r->chunk ? in.len - off : r->chunk;
            rc = pxmpp_stream_feed(s, in.data + off, k);
            off += k;
        }
        if (rc == 0)
            rc = pxmpp_stream_finish(s);
        double cpu = cpu_now() - t0;
        uint64_t fed = pxmpp_stream_offset(s);
        pxmpp_stream_free(s);
        size_t pk = peak - base;

        double per_kib = fed ? cpu * 1e6 / ((double)fed / 1024) : 0;
        char off_s[32], fed_s[32], peak_s[32], chunk_s[32];
        human(off_s, sizeof off_s, in.len);
        human(fed_s, sizeof fed_s, (size_t)fed);
        human(peak_s, sizeof peak_s, pk);
        human(chunk_s, sizeof chunk_s, r->chunk);
        printf("%-28s %9zu %7s %7s %10s %10s  %-22s %9.1f %9.2f %10s\n", r->name, n, r->raised ? "raised" : "default",
               chunk_s, off_s, fed_s, pxmpp_error_name(rc), cpu * 1e3, per_kib, peak_s);
        fflush(stdout);
        if (r->gen == gen_langs_distinct || r->gen == gen_langs_repeated)
            lang_ms[r->gen == gen_langs_repeated] = cpu * 1e3;
        if (fed >= 1024 && per_kib > worst) {
            worst = per_kib;
            worst_name = r->name;
            worst_n = n;
        }
        free(in.data);
    }
    printf("worst CPU per KiB fed: %.2f us (%s, n=%zu)\n", worst, worst_name, worst_n);
    printf("one body per xml:lang, %zu bodies in one message: distinct languages %.1f ms, repeated languages %.1f ms\n",
           quick ? (size_t)1000 : (size_t)6897, lang_ms[0], lang_ms[1]);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("max resident set of the process: %ld KiB (inputs included)\n", ru.ru_maxrss);
    xmlCleanupParser();
    return 0;
}
