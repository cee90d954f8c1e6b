/* The counting allocator of memcount.h. */
#include "memcount.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/xmlmemory.h>

pxmpp_memcount pxmpp_memcount_xml;
pxmpp_memcount pxmpp_memcount_px;
static size_t peak_total;

/* The hidden header: the block's size, padded to keep malloc's alignment. */
typedef union mhdr {
    size_t size;
    max_align_t align_;
} mhdr;

static void note_peak(void)
{
    size_t t = pxmpp_memcount_live();
    if (t > peak_total)
        peak_total = t;
}

/* Whether the refusal setting of c refuses this call; counts it down. */
static bool refuse(pxmpp_memcount *c)
{
    if (!c->fail_in)
        return false;
    if (c->fail_in > 1) {
        c->fail_in--;
        return false;
    }
    if (c->fail_once)
        c->fail_in = 0;
    c->failed++;
    return true;
}

static void *c_malloc(pxmpp_memcount *c, size_t n)
{
    if (refuse(c))
        return NULL;
    mhdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    c->allocs++;
    c->live += n;
    note_peak();
    return h + 1;
}

static void *c_realloc(pxmpp_memcount *c, void *p, size_t n)
{
    if (!p)
        return c_malloc(c, n);
    if (refuse(c))
        return NULL;
    mhdr *h = (mhdr *)p - 1;
    size_t old = h->size;
    mhdr *q = realloc(h, sizeof *q + n);
    if (!q)
        return NULL;
    q->size = n;
    c->allocs++;
    c->live = c->live - old + n;
    note_peak();
    return q + 1;
}

static void c_free(pxmpp_memcount *c, void *p)
{
    if (!p)
        return;
    mhdr *h = (mhdr *)p - 1;
    c->frees++;
    c->live -= h->size;
    free(h);
}

/* ---- libxml2 ---- */

static void *x_malloc(size_t n) { return c_malloc(&pxmpp_memcount_xml, n); }
static void *x_realloc(void *p, size_t n) { return c_realloc(&pxmpp_memcount_xml, p, n); }
static void x_free(void *p) { c_free(&pxmpp_memcount_xml, p); }
static char *x_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = c_malloc(&pxmpp_memcount_xml, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int pxmpp_memcount_install_libxml2(void) { return xmlMemSetup(x_free, x_malloc, x_realloc, x_strdup) == 0 ? 0 : -1; }

/* ---- pxmpp ---- */

static void *p_malloc(size_t n, void *ud)
{
    (void)ud;
    return c_malloc(&pxmpp_memcount_px, n);
}

static void *p_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return c_realloc(&pxmpp_memcount_px, p, n);
}

static void p_free(void *p, void *ud)
{
    (void)ud;
    c_free(&pxmpp_memcount_px, p);
}

static const pxmpp_mem px_hooks = { p_malloc, p_realloc, p_free, NULL };

const pxmpp_mem *pxmpp_memcount_pxmpp(void) { return &px_hooks; }

/* ---- totals ---- */

size_t pxmpp_memcount_live(void) { return pxmpp_memcount_xml.live + pxmpp_memcount_px.live; }

size_t pxmpp_memcount_peak(void) { return peak_total; }

void pxmpp_memcount_reset_peak(void) { peak_total = pxmpp_memcount_live(); }

void pxmpp_memcount_fail(pxmpp_memcount *c, uint64_t n, bool once)
{
    c->fail_in = n;
    c->fail_once = once;
    c->failed = 0;
}
