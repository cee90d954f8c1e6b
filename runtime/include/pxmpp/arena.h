/**
 * @file arena.h
 * @brief Allocator hooks and the bump arena that holds parsed stanzas.
 *
 * A parsed stanza lives in one arena: no malloc per node.  The stream owns its
 * arena and resets it after each stanza is delivered, so a stanza is borrowed
 * inside its callback.  Applications may create arenas of their own to build
 * outgoing stanzas or to keep copies.
 */
#ifndef PXMPP_ARENA_H
#define PXMPP_ARENA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Allocator hooks.  All three functions must be set; @c ud is passed back.
 * realloc(NULL, n) must behave as malloc(n); free(NULL) must be a no-op.
 */
typedef struct pxmpp_mem {
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} pxmpp_mem;

/** The default hooks: the C library's malloc, realloc and free. */
const pxmpp_mem *pxmpp_mem_default(void);

/** A bump allocator made of chunks.  Opaque. */
typedef struct pxmpp_arena pxmpp_arena;

/**
 * Creates an arena.
 * @param out        receives the arena; the caller owns it and frees it with pxmpp_arena_free().
 * @param mem        allocator hooks, copied; NULL for pxmpp_mem_default().
 * @param chunk_size size of each chunk in bytes (0: 4096).  Larger requests get a chunk of their own.
 * @return 0, PXMPP_ERR_INVALID_ARGUMENT (out is NULL) or PXMPP_ERR_NOMEM.
 */
int pxmpp_arena_new(pxmpp_arena **out, const pxmpp_mem *mem, size_t chunk_size);

/** Frees the arena and everything allocated from it.  NULL is allowed. */
void pxmpp_arena_free(pxmpp_arena *a);

/**
 * Returns @p size bytes aligned for any object, or NULL when the allocator fails
 * or @p limit would be exceeded (see pxmpp_arena_set_limit).  The memory lives
 * until the next pxmpp_arena_reset() or pxmpp_arena_free().  Zero-filled.
 */
void *pxmpp_arena_alloc(pxmpp_arena *a, size_t size);

/** Copies @p len bytes of @p s and appends a NUL.  NULL on allocation failure. */
char *pxmpp_arena_strndup(pxmpp_arena *a, const char *s, size_t len);

/** Copies the NUL-terminated string @p s.  NULL on allocation failure or when s is NULL. */
char *pxmpp_arena_strdup(pxmpp_arena *a, const char *s);

/**
 * Forgets every allocation.  The first chunk is kept for reuse, so a stream
 * that parses stanzas of steady size allocates nothing in steady state; the
 * other chunks are returned to the allocator.
 */
void pxmpp_arena_reset(pxmpp_arena *a);

/** Caps the bytes of chunks the arena may hold (0: no cap).  Allocation past it returns NULL. */
void pxmpp_arena_set_limit(pxmpp_arena *a, size_t max_bytes);

/** Bytes of chunks currently held (for memory accounting). */
size_t pxmpp_arena_held(const pxmpp_arena *a);

/** 1 when the last failed allocation was refused by the limit rather than by the allocator. */
int pxmpp_arena_hit_limit(const pxmpp_arena *a);

#ifdef __cplusplus
}
#endif
#endif
