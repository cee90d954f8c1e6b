/* Counting allocator hooks: for libxml2 (xmlMemSetup) and for pxmpp (pxmpp_mem).
 * They count calls and track the bytes live and their peak. */
#ifndef PXMPP_BENCH_MEMCOUNT_H
#define PXMPP_BENCH_MEMCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include <pxmpp/arena.h>

typedef struct bench_counter {
    uint64_t allocs; /**< calls that allocate: malloc, realloc, strdup */
    uint64_t frees;
    size_t live;     /**< bytes requested and not yet freed */
} bench_counter;

extern bench_counter bench_xml_mem; /**< libxml2's allocations */
extern bench_counter bench_px_mem;  /**< allocations through bench_mem_pxmpp() */

/** Installs the counting hooks into libxml2.  Must run before libxml2 allocates anything. */
int bench_mem_install_libxml2(void);

/** Counting pxmpp allocator hooks. */
const pxmpp_mem *bench_mem_pxmpp(void);

/** Highest libxml2 + pxmpp live bytes since the last bench_mem_reset_peak(). */
size_t bench_mem_peak(void);
void bench_mem_reset_peak(void);

#endif
