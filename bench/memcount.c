/* Counting allocator hooks.  Each block carries a header with its size so that
 * frees and reallocs keep the live byte count exact. */
#include "memcount.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/xmlmemory.h>

bench_counter bench_xml_mem;
bench_counter bench_px_mem;
static size_t peak_total;

#define HDR 16 /* keeps malloc's 16-byte alignment */

static void note_peak(void)
{
    size_t t = bench_xml_mem.live + bench_px_mem.live;
    if (t > peak_total)
        peak_total = t;
}

static void *c_malloc(bench_counter *c, size_t n)
{
    unsigned char *p = malloc(n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    c->allocs++;
    c->live += n;
    note_peak();
    return p + HDR;
}

static void *c_realloc(bench_counter *c, void *ptr, size_t n)
{
    if (!ptr)
        return c_malloc(c, n);
    unsigned char *base = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    unsigned char *p = realloc(base, n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    c->allocs++;
    c->live = c->live - old + n;
    note_peak();
    return p + HDR;
}

static void c_free(bench_counter *c, void *ptr)
{
    if (!ptr)
        return;
    unsigned char *base = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    c->frees++;
    c->live -= old;
    free(base);
}

/* ---- libxml2 ---- */

static void *x_malloc(size_t n) { return c_malloc(&bench_xml_mem, n); }
static void *x_realloc(void *p, size_t n) { return c_realloc(&bench_xml_mem, p, n); }
static void x_free(void *p) { c_free(&bench_xml_mem, p); }
static char *x_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = c_malloc(&bench_xml_mem, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int bench_mem_install_libxml2(void) { return xmlMemSetup(x_free, x_malloc, x_realloc, x_strdup); }

/* ---- pxmpp ---- */

static void *p_malloc(size_t n, void *ud)
{
    (void)ud;
    return c_malloc(&bench_px_mem, n);
}
static void *p_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return c_realloc(&bench_px_mem, p, n);
}
static void p_free(void *p, void *ud)
{
    (void)ud;
    c_free(&bench_px_mem, p);
}

static const pxmpp_mem px_hooks = { p_malloc, p_realloc, p_free, NULL };

const pxmpp_mem *bench_mem_pxmpp(void) { return &px_hooks; }

size_t bench_mem_peak(void) { return peak_total; }

void bench_mem_reset_peak(void) { peak_total = bench_xml_mem.live + bench_px_mem.live; }
