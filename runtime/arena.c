#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void *libc_malloc(size_t n, void *ud) { (void)ud; return malloc(n); }
static void *libc_realloc(void *p, size_t n, void *ud) { (void)ud; return realloc(p, n); }
static void libc_free(void *p, void *ud) { (void)ud; free(p); }

static const pxmpp_mem default_mem = { libc_malloc, libc_realloc, libc_free, NULL };

const pxmpp_mem *pxmpp_mem_default(void) { return &default_mem; }

int pxmpp_arena_new(pxmpp_arena **out, const pxmpp_mem *mem, size_t chunk_size)
{
    if (!out)
        return PXMPP_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!mem)
        mem = &default_mem;
    pxmpp_arena *a = mem->malloc(sizeof *a, mem->ud);
    if (!a)
        return PXMPP_ERR_NOMEM;
    memset(a, 0, sizeof *a);
    a->mem = *mem;
    a->chunk_size = chunk_size ? chunk_size : 4096;
    *out = a;
    return 0;
}

void pxmpp_arena_free(pxmpp_arena *a)
{
    if (!a)
        return;
    pxmpp__chunk *c = a->head;
    while (c) {
        pxmpp__chunk *n = c->next;
        a->mem.free(c, a->mem.ud);
        c = n;
    }
    a->mem.free(a, a->mem.ud);
}

static pxmpp__chunk *new_chunk(pxmpp_arena *a, size_t need)
{
    size_t size = need > a->chunk_size ? need : a->chunk_size;
    if (size > SIZE_MAX / 2) {
        a->hit_limit = 0;
        return NULL;
    }
    size_t total = sizeof(pxmpp__chunk) + size;
    if (a->limit && a->held + total > a->limit) {
        a->hit_limit = 1;
        return NULL;
    }
    pxmpp__chunk *c = a->mem.malloc(total, a->mem.ud);
    if (!c) {
        a->hit_limit = 0;
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
    a->held += total;
    if (!a->first)
        a->first = c;
    return c;
}

void *pxmpp__arena_alloc_slow(pxmpp_arena *a, size_t size)
{
    const size_t al = PXMPP__ARENA_ALIGN;
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - al)
        return NULL;
    size = (size + al - 1) & ~(al - 1);
    pxmpp__chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        c = new_chunk(a, size);
        if (!c)
            return NULL;
    }
    unsigned char *p = (unsigned char *)(c + 1) + c->used;
    c->used += size;
    return p;
}

void *pxmpp_arena_alloc(pxmpp_arena *a, size_t size) { return pxmpp__arena_zalloc(a, size); }

char *pxmpp_arena_strndup(pxmpp_arena *a, const char *s, size_t len) { return pxmpp__arena_strndup(a, s, len); }

char *pxmpp_arena_strdup(pxmpp_arena *a, const char *s)
{
    return s ? pxmpp_arena_strndup(a, s, strlen(s)) : NULL;
}

void pxmpp_arena_reset(pxmpp_arena *a)
{
    pxmpp__chunk *c = a->head;
    while (c && c != a->first) {
        pxmpp__chunk *n = c->next;
        a->held -= sizeof(pxmpp__chunk) + c->size;
        a->mem.free(c, a->mem.ud);
        c = n;
    }
    a->head = c;
    if (c) {
        c->used = 0;
        c->next = NULL;
    }
    a->hit_limit = 0;
}

void pxmpp__arena_release(pxmpp_arena *a)
{
    pxmpp__chunk *c = a->head;
    while (c) {
        pxmpp__chunk *n = c->next;
        a->mem.free(c, a->mem.ud);
        c = n;
    }
    a->head = a->first = NULL;
    a->held = 0;
    a->hit_limit = 0;
}

void pxmpp_arena_set_limit(pxmpp_arena *a, size_t max_bytes) { a->limit = max_bytes; }

size_t pxmpp_arena_held(const pxmpp_arena *a) { return a->held; }

int pxmpp_arena_hit_limit(const pxmpp_arena *a) { return a->hit_limit; }
