/* A counting allocator for the tests, the benchmarks and the fuzz targets.
 *
 * Two sets of hooks share one accounting: pxmpp's (pxmpp_memcount_pxmpp(), given to
 * a stream through pxmpp_stream_config.mem) and libxml2's (installed process-wide
 * with pxmpp_memcount_install_libxml2()).  Each keeps its own counter; the peak is
 * taken over the sum of both.  Every block carries a hidden header with its size, so
 * that frees and reallocs keep the live byte counts exact.
 *
 * A counter can also refuse allocations: the nth call from now on, or every call
 * from the nth on (pxmpp_memcount_fail), to drive out-of-memory paths.
 *
 * Not thread-safe: the counters are plain globals, meant for one thread. */
#ifndef PXMPP_TEST_SUPPORT_MEMCOUNT_H
#define PXMPP_TEST_SUPPORT_MEMCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pxmpp/arena.h>

typedef struct pxmpp_memcount {
    uint64_t allocs; /**< calls that allocated: malloc, realloc, strdup (failed ones excluded) */
    uint64_t frees;  /**< calls that freed a block (free(NULL) excluded) */
    uint64_t failed; /**< calls refused by pxmpp_memcount_fail() */
    size_t live;     /**< bytes requested and not yet freed (headers excluded) */
    /* refusal setting, see pxmpp_memcount_fail(); 0: never refuse */
    uint64_t fail_in;
    bool fail_once;
} pxmpp_memcount;

extern pxmpp_memcount pxmpp_memcount_xml; /**< libxml2's allocations */
extern pxmpp_memcount pxmpp_memcount_px;  /**< allocations through pxmpp_memcount_pxmpp() */

/** Installs the counting hooks into libxml2 (xmlMemSetup).  Call it before libxml2
    allocates anything (before xmlInitParser and before the first parser), else the
    blocks allocated earlier would reach the hooks without a header.
    @return 0, or -1 when libxml2 refuses the hooks. */
int pxmpp_memcount_install_libxml2(void);

/** The counting pxmpp allocator: a static set of hooks counted in pxmpp_memcount_px.
    Never NULL; the caller does not own it. */
const pxmpp_mem *pxmpp_memcount_pxmpp(void);

/** Bytes live through both sets of hooks. */
size_t pxmpp_memcount_live(void);

/** Highest pxmpp_memcount_live() since the last pxmpp_memcount_reset_peak() (or start). */
size_t pxmpp_memcount_peak(void);

/** Starts a new peak measurement at the bytes live now. */
void pxmpp_memcount_reset_peak(void);

/** Makes counter c refuse allocations: the nth allocating call from now on (n >= 1)
    returns NULL, and with once false every later one too.  n = 0 stops refusing.
    Frees are never refused.  Resets c->failed to 0. */
void pxmpp_memcount_fail(pxmpp_memcount *c, uint64_t n, bool once);

#endif
