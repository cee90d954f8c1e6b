/* pxmpp-bench-hostile: CPU time per KiB and peak memory of a stream fed the big
 * hostile inputs of tests/support/hostile.h (the ones tests/test_hostile.c checks),
 * each at one or more sizes given to its generator.
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

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hostile.h"  /* tests/support */
#include "memcount.h" /* tests/support */

/* ---- rows ------------------------------------------------------------------------- */

typedef struct row {
    const char *input; /* its name in hostile.h */
    size_t n, quick_n; /* size given to its generator (count or bytes), full and --quick */
    size_t chunk;      /* bytes per feed call */
    bool raised;       /* limits far above the defaults */
} row;

static const row rows[] = {
    { "huge-attribute-value", 200000, 20000, 1, false },
    { "huge-attribute-value-of-gt", 50000, 5000, 1, false },
    { "huge-attribute-value-of-gt", 100000, 10000, 1, false },
    { "huge-attribute-value-of-gt", 200000, 20000, 1, false },
    { "unique-element-names-flood", 125000, 5000, 4096, false },
    { "unique-element-names-flood", 250000, 10000, 4096, false },
    { "unique-element-names-flood", 500000, 20000, 4096, false },
    { "unique-element-names-flood", 1000000, 40000, 4096, false },
    { "unique-namespaces-flood", 1000000, 20000, 4096, false },
    { "deep-nesting", 100000, 10000, 4096, false },
    { "deep-nesting", 100000, 10000, 1, false },
    { "huge-text-node", (size_t)20 << 20, (size_t)1 << 20, 65536, false },
    { "huge-text-node", (size_t)20 << 20, (size_t)1 << 20, 1, false },
    { "many-attributes", 1000, 1000, 4096, false },
    { "many-attributes", 25000, 3000, 4096, false },
    { "many-namespace-declarations", 1000, 1000, 4096, false },
    { "many-namespace-declarations", 9500, 3000, 4096, false },
    { "bodies-in-6897-languages", 6897, 1000, 4096, false },
    { "bodies-in-100-languages-repeated", 6897, 1000, 4096, false },
    { "small-stanzas-flood", 100000, 5000, 4096, false },
    { "deep-nesting", 250, 250, 4096, true },
    { "huge-text-node", (size_t)20 << 20, (size_t)1 << 20, 65536, true },
    { "huge-text-node", (size_t)1 << 20, (size_t)256 << 10, 1, true },
    { "huge-text-node", (size_t)2 << 20, (size_t)512 << 10, 1, true },
    { "many-attributes", 7500, 750, 4096, true },
    { "many-attributes", 15000, 1500, 4096, true },
    { "many-attributes", 30000, 3000, 4096, true },
    { "many-namespace-declarations", 15000, 1500, 4096, true },
    { "many-namespace-declarations", 30000, 3000, 4096, true },
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
    if (pxmpp_memcount_install_libxml2() != 0) {
        fprintf(stderr, "xmlMemSetup failed\n");
        return 1;
    }
    xmlInitParser();

    printf("%-34s %9s %7s %7s %10s %10s  %-22s %9s %9s %10s\n", "input", "n", "limits", "chunk", "offered", "fed",
           "result", "cpu ms", "us/KiB", "peak");
    double worst = 0;
    const char *worst_name = "";
    size_t worst_n = 0;
    double lang_ms[2] = { -1, -1 }; /* the distinct and repeated xml:lang rows */
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        size_t n = quick ? r->quick_n : r->n;
        size_t which = pxmpp_hostile_find(r->input);
        pxmpp_hostile_input in;
        if (pxmpp_hostile_build(which, n, &in) != 0) {
            fprintf(stderr, "cannot build %s\n", r->input);
            return 1;
        }

        pxmpp_stream_config cfg = { .mem = pxmpp_memcount_pxmpp() };
        if (r->raised) {
            cfg.limits.max_stanza_bytes = (size_t)64 << 20;
            cfg.limits.max_depth = 1000000;
            cfg.limits.max_attrs = 1000000;
        }
        pxmpp_stream_callbacks cb = { 0 };
        pxmpp_stream *s;
        xmlResetLastError();
        size_t base = pxmpp_memcount_live();
        pxmpp_memcount_reset_peak();
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
        size_t pk = pxmpp_memcount_peak() - base;

        double per_kib = fed ? cpu * 1e6 / ((double)fed / 1024) : 0;
        char off_s[32], fed_s[32], peak_s[32], chunk_s[32];
        human(off_s, sizeof off_s, in.len);
        human(fed_s, sizeof fed_s, (size_t)fed);
        human(peak_s, sizeof peak_s, pk);
        human(chunk_s, sizeof chunk_s, r->chunk);
        printf("%-34s %9zu %7s %7s %10s %10s  %-22s %9.1f %9.2f %10s\n", r->input, n, r->raised ? "raised" : "default",
               chunk_s, off_s, fed_s, pxmpp_error_name(rc), cpu * 1e3, per_kib, peak_s);
        fflush(stdout);
        if (strncmp(r->input, "bodies-in-", 10) == 0)
            lang_ms[strstr(r->input, "repeated") != NULL] = cpu * 1e3;
        if (fed >= 1024 && per_kib > worst) {
            worst = per_kib;
            worst_name = r->input;
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
