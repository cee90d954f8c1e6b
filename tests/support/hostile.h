/* Hostile inputs: byte sequences a peer may send to an XMPP endpoint, each named.
 *
 * The set is what tests/test_hostile.c checks (with the outcome it expects of each),
 * what pxmpp-bench-hostile measures, and what the fuzz targets are seeded with;
 * tests/support/hostile-dump writes any of them to stdout for scripts.
 *
 * Each input is complete: it is everything the peer sends from the first byte of the
 * stream on, stream header included.  Most of them begin with PXMPP_HOSTILE_HEADER, a
 * well-formed jabber:client header without a `to` attribute, and hold the hostile part
 * after it; the others hold it in or before the header (an XML declaration, a DTD, a
 * wrong namespace, another encoding, ...).  pxmpp_hostile_input.header_len tells them
 * apart, so that a program connecting to a server can put its own header (with `to`)
 * in place of PXMPP_HOSTILE_HEADER.
 *
 * Some inputs are built by a generator that takes a size (a count of repetitions or
 * of bytes, see pxmpp_hostile_default_size()); the others are fixed.
 *
 * The functions are pure (no global state); they allocate with malloc. */
#ifndef PXMPP_TEST_SUPPORT_HOSTILE_H
#define PXMPP_TEST_SUPPORT_HOSTILE_H

#include <stddef.h>

/** The stream header most inputs begin with (a client's view of the peer, here the server). */
#define PXMPP_HOSTILE_HEADER                                                                                          \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

/** One built input. */
typedef struct pxmpp_hostile_input {
    char *data;        /**< the bytes (may contain NUL), followed by one extra NUL; owned by the caller: free() */
    size_t len;        /**< number of bytes, the extra NUL excluded */
    size_t header_len; /**< strlen(PXMPP_HOSTILE_HEADER) when data begins with it, else 0 */
    size_t mark;       /**< for the long valid floods: the offset where their first 1/8 ends; 0 for the others */
} pxmpp_hostile_input;

/** Number of inputs; they are numbered 0 to pxmpp_hostile_count() - 1, in a fixed order. */
size_t pxmpp_hostile_count(void);

/** Name of input i (a static string of [a-z0-9-]), or NULL when i is out of range. */
const char *pxmpp_hostile_name(size_t i);

/** Number of the input called name, or pxmpp_hostile_count() when there is none. */
size_t pxmpp_hostile_find(const char *name);

/** The size the generator of input i uses by default (a count or a number of bytes,
    as its name says), or 0 when input i is fixed or i is out of range. */
size_t pxmpp_hostile_default_size(size_t i);

/**
 * Builds input i.
 * @param i     the input's number
 * @param size  the generator's size; 0 for pxmpp_hostile_default_size(i).  Ignored by
 *              fixed inputs.
 * @param out   receives the input; on failure out->data is NULL and the rest 0
 * @return 0, or -1 when i is out of range or memory runs out.
 */
int pxmpp_hostile_build(size_t i, size_t size, pxmpp_hostile_input *out);

/**
 * Builds input i at its default size: the simple form of pxmpp_hostile_build().
 * @param buf  receives the bytes (followed by one extra NUL); the caller frees them with
 *             free().  NULL on failure.
 * @param len  receives their number (0 on failure)
 * @return 0, or -1 when i is out of range or memory runs out.
 */
int pxmpp_hostile_make(size_t i, char **buf, size_t *len);

#endif
