#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    max_align_t align_[]; /* data follows, maximally aligned */
};

struct pxmpp_arena {
    pxmpp_mem mem;
    struct chunk *head;  /* current chunk (most recent) */
    struct chunk *first; /* the chunk kept across resets */
    size_t chunk_size;
    size_t held;
    size_t limit;
    int hit_limit;
};

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
    struct chunk *c = a->head;
    while (c) {
        struct chunk *n = c->next;
        a->mem.free(c, a->mem.ud);
        c = n;
    }
    a->mem.free(a, a->mem.ud);
}

static struct chunk *new_chunk(pxmpp_arena *a, size_t need)
{
    size_t size = need > a->chunk_size ? need : a->chunk_size;
    if (size > SIZE_MAX / 2) {
        a->hit_limit = 0;
        return NULL;
    }
    size_t total = sizeof(struct chunk) + size;
    if (a->limit && a->held + total > a->limit) {
        a->hit_limit = 1;
        return NULL;
    }
    struct chunk *c = a->mem.malloc(total, a->mem.ud);
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

void *pxmpp__arena_alloc_raw(pxmpp_arena *a, size_t size)
{
    const size_t al = sizeof(max_align_t) < 16 ? sizeof(max_align_t) : 16;
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - al)
        return NULL;
    size = (size + al - 1) & ~(al - 1);
    struct chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        c = new_chunk(a, size);
        if (!c)
            return NULL;
    }
    unsigned char *p = (unsigned char *)(c + 1) + c->used;
    c->used += size;
    return p;
}

void *pxmpp_arena_alloc(pxmpp_arena *a, size_t size)
{
    void *p = pxmpp__arena_alloc_raw(a, size);
    if (p)
        memset(p, 0, size ? size : 1);
    return p;
}

char *pxmpp_arena_strndup(pxmpp_arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = pxmpp__arena_alloc_raw(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *pxmpp_arena_strdup(pxmpp_arena *a, const char *s)
{
    return s ? pxmpp_arena_strndup(a, s, strlen(s)) : NULL;
}

void pxmpp_arena_reset(pxmpp_arena *a)
{
    struct chunk *c = a->head;
    while (c && c != a->first) {
        struct chunk *n = c->next;
        a->held -= sizeof(struct chunk) + c->size;
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

void pxmpp_arena_set_limit(pxmpp_arena *a, size_t max_bytes) { a->limit = max_bytes; }

size_t pxmpp_arena_held(const pxmpp_arena *a) { return a->held; }

int pxmpp_arena_hit_limit(const pxmpp_arena *a) { return a->hit_limit; }
