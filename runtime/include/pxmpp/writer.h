/**
 * @file writer.h
 * @brief Serializing typed stanzas and generic nodes to XML bytes.
 *
 * The writer walks the same descriptor tables as the parser.  Children are
 * written in document order when the struct came from the parser (meta.order),
 * otherwise in schema declaration order with unknown children last.  Values are
 * written in their canonical lexical form (booleans as true/false, integers in
 * decimal without leading zeros or '+').  Namespaces are declared as default
 * namespaces (xmlns='...'); attributes in a namespace get a generated prefix.
 */
#ifndef PXMPP_WRITER_H
#define PXMPP_WRITER_H

#include <stddef.h>

#include <pxmpp/arena.h>
#include <pxmpp/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A growable byte buffer.  Owns @c data; free it with pxmpp_buf_free(). */
typedef struct pxmpp_buf {
    char *data;   /**< the bytes, NUL-terminated when len > 0 (the NUL is not counted) */
    size_t len;
    size_t cap;
    pxmpp_mem mem;
} pxmpp_buf;

/** Initializes an empty buffer that allocates through @p mem (NULL: the default hooks). */
void pxmpp_buf_init(pxmpp_buf *b, const pxmpp_mem *mem);
/** Frees the buffer's bytes; the buffer may be reused after pxmpp_buf_init(). */
void pxmpp_buf_free(pxmpp_buf *b);
/** Appends bytes.  Returns 0 or PXMPP_ERR_NOMEM (the buffer is unchanged then). */
int pxmpp_buf_append(pxmpp_buf *b, const char *data, size_t len);

enum {
    /** Declare the content namespace on the root element (a standalone document). */
    PXMPP_WRITE_DECLARE_CONTENT_NS = 1u << 0,
    /** Skip required values that are missing instead of failing with PXMPP_ERR_VALUE
        (for writing back a stanza that failed validation). */
    PXMPP_WRITE_LENIENT = 1u << 1,
    /** Write line feeds in text as &#xA; (they are always escaped in attribute values), so
        that the element takes one line: for line-oriented logs and tools.  The XML means
        the same. */
    PXMPP_WRITE_ONE_LINE = 1u << 2
};

/**
 * Appends the XML form of the typed element @p obj of type @p d to @p out.
 * @param content_ns the stream content namespace (PXMPP_NS_CLIENT or PXMPP_NS_SERVER)
 *                   that is in scope; elements in it are written without xmlns
 *                   unless PXMPP_WRITE_DECLARE_CONTENT_NS is given.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (a NULL argument); PXMPP_ERR_VALUE (an enum
 *         or integer out of its range, or a required value missing: nothing is
 *         appended then); PXMPP_ERR_NOMEM.
 */
int pxmpp_write(pxmpp_buf *out, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                unsigned flags);

/** Appends a generic node (see pxmpp_write for @p content_ns and the return codes). */
int pxmpp_write_node(pxmpp_buf *out, const pxmpp_node *n, const char *content_ns);

/** Appends @p len bytes of @p s escaped as XML character data (&amp; &lt; &gt; &#xD;). */
int pxmpp_buf_append_escaped(pxmpp_buf *b, const char *s, size_t len, int in_attribute);

#ifdef __cplusplus
}
#endif
#endif
