/**
 * @file writer.h
 * @brief Serializing typed stanzas and generic nodes to XML bytes.
 *
 * The writer walks the same descriptor tables as the parser.  Children are
 * written in document order when the struct came from the parser (meta.order),
 * otherwise in schema declaration order with unknown children last.  Values are
 * written in their canonical lexical form (booleans as true/false, integers in
 * decimal without leading zeros or '+').
 *
 * Namespaces.  An element is written unprefixed: a namespace other than the default in
 * scope is declared as the default on it (xmlns='...').  An attribute in a namespace
 * (other than xml) takes a prefix: the one in scope for its namespace (declared on its
 * element or an ancestor), else a new one declared on its element.  Prefixes are named
 * ns0, ns1, ...: the number is the count of prefixes in scope where it is declared, so
 * that a prefix never names two namespaces at once.
 *
 * Amplification bound.  A namespace declared again (on an element whose ancestors no
 * longer have it in scope) costs its whole length, where the input may have used a short
 * prefix declared once on a common ancestor.  Once the declarations written pass 512
 * bytes, each declaration of a namespace declared before in the write is counted; when
 * those bytes exceed both 512 and the rest of the output, the write starts over (what
 * it wrote so far is dropped as it goes, so memory stays bounded too) and declares each
 * namespace that the first attempt declared more than once with a prefix on the root
 * element.  Elements and attributes in those namespaces then use that prefix wherever
 * the namespace is not the default in scope (an element's namespace is otherwise always
 * the default one: re-declaring it is cheap unless it is repeated far more than the
 * rest of the output).  Ordinary stanzas stay far below the budget and are written as
 * described above.  The result: for any element the stream parser accepts, written back,
 *   output bytes <= PXMPP_WRITE_AMPLIFICATION_K * input bytes + PXMPP_WRITE_AMPLIFICATION_C
 * where input bytes are the element's own bytes and those of the stream header whose
 * declarations are in scope (a namespace the element uses may be declared there).
 *
 * The writer never produces XML that is not well-formed or not namespace-well-formed,
 * whatever the strings it is given:
 *  - text and attribute values must be valid UTF-8 made of characters XML 1.0 allows
 *    (its Char production: no control character but tab, LF and CR, no U+FFFE or
 *    U+FFFF; UTF-8 has no surrogates, overlong forms or values above U+10FFFF).
 *    Otherwise the write fails with PXMPP_ERR_INVALID_CHAR, unless
 *    PXMPP_WRITE_REPLACE_INVALID is given: then each such character, and each maximal
 *    ill-formed UTF-8 subsequence (Unicode §3.9: the lead byte and the continuation
 *    bytes a well-formed sequence could have there, else one byte), is written as
 *    U+FFFD.  Valid text, non-ASCII included, is written unchanged.
 *  - the names of elements and attributes that come from the application or the peer
 *    (generic nodes, pxmpp_meta.extra_attrs) must be NCNames (XML 1.0 Name without
 *    ':'); an unprefixed attribute may not be named xmlns, nor be given twice on one
 *    element (the same namespace and local name); element namespaces may not be the
 *    xml or xmlns namespaces, attribute namespaces neither "" nor the xmlns one; every
 *    namespace name is written as an attribute value, escaped, and must hold only
 *    valid characters.  Otherwise PXMPP_ERR_INVALID_NAME (or PXMPP_ERR_INVALID_CHAR
 *    for a namespace name with a bad character); names are never replaced.  The names
 *    and namespaces of the generated types are known to be valid and not checked.
 * A write that fails appends nothing.  pxmpp_write_ex() and pxmpp_write_node_ex() say
 * what was refused and where.
 */
#ifndef PXMPP_WRITER_H
#define PXMPP_WRITER_H

#include <stddef.h>

#include <pxmpp/arena.h>
#include <pxmpp/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The bound above, bytes out a byte in.  Without the namespaces declared again, no byte
    of input takes more than 6 bytes of output (an attribute value's ' between double
    quotes is written &apos;; the first declaration of a namespace, escaped the same way,
    is paid for by the input's declaration of it); the namespaces declared again add at
    most as much as the rest of the output, or a second attempt leaves them out. */
#define PXMPP_WRITE_AMPLIFICATION_K 12
/** The bound above, bytes out besides: the budget of namespaces declared again (512) and
    the declarations written before they are counted (512). */
#define PXMPP_WRITE_AMPLIFICATION_C 1024

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
    PXMPP_WRITE_ONE_LINE = 1u << 2,
    /** Write U+FFFD for invalid UTF-8 and for characters XML does not allow in text and
        attribute values, instead of failing with PXMPP_ERR_INVALID_CHAR (see above).
        Names and namespace names are never replaced. */
    PXMPP_WRITE_REPLACE_INVALID = 1u << 3
};

/** What a write refused (filled by pxmpp_write_ex() and pxmpp_write_node_ex()). */
typedef struct pxmpp_write_fault {
    int code;              /**< PXMPP_ERR_INVALID_CHAR or PXMPP_ERR_INVALID_NAME; 0 when nothing was refused */
    const char *part;      /**< what holds it: "text", "attribute value", "element name", "attribute name"
                                or "namespace name" (constant strings) */
    const char *reason;    /**< a constant English sentence, e.g. "not an XML name (NCName)" */
    const char *element;   /**< the local name of the element (for a bad element name, that name), borrowed
                                from the input; NULL for text outside any element */
    const char *attribute; /**< the attribute's local name for an attribute's name, namespace or value
                                (borrowed), else NULL */
    size_t offset;         /**< offset in bytes of the first refused byte within that text, value or name
                                (0 for a name refused as a whole) */
} pxmpp_write_fault;

/**
 * Appends the XML form of the typed element @p obj of type @p d to @p out.
 * @param out        the buffer; on failure it is left as it was.
 * @param d          the type of @p obj (a generated descriptor).
 * @param obj        the struct to write (borrowed).
 * @param content_ns the stream content namespace (PXMPP_NS_CLIENT or PXMPP_NS_SERVER)
 *                   that is in scope; elements in it are written without xmlns
 *                   unless PXMPP_WRITE_DECLARE_CONTENT_NS is given.
 * @param flags      PXMPP_WRITE_* bits.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (a NULL argument, or @p d generated for another
 *         runtime ABI); PXMPP_ERR_VALUE (an enum or integer out of its range, or a
 *         required value missing); PXMPP_ERR_INVALID_CHAR (a text, attribute value or
 *         namespace name with invalid UTF-8 or a character XML does not allow, see
 *         above); PXMPP_ERR_INVALID_NAME (a name or namespace that may not be written,
 *         see above); PXMPP_ERR_LIMIT (elements nested deeper than 256);
 *         PXMPP_ERR_NOMEM.  Nothing is appended on failure.
 */
int pxmpp_write(pxmpp_buf *out, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                unsigned flags);

/**
 * pxmpp_write() that also says what it refused: when it returns PXMPP_ERR_INVALID_CHAR
 * or PXMPP_ERR_INVALID_NAME, @p fault (unless NULL) says where; otherwise its code is 0.
 * The strings it points to live as long as the input and the constant strings.
 */
int pxmpp_write_ex(pxmpp_buf *out, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                   unsigned flags, pxmpp_write_fault *fault);

/** Appends a generic node (see pxmpp_write for @p content_ns and the return codes; no flags). */
int pxmpp_write_node(pxmpp_buf *out, const pxmpp_node *n, const char *content_ns);

/** pxmpp_write_node() with PXMPP_WRITE_* @p flags and the @p fault of pxmpp_write_ex(). */
int pxmpp_write_node_ex(pxmpp_buf *out, const pxmpp_node *n, const char *content_ns, unsigned flags,
                        pxmpp_write_fault *fault);

/**
 * Appends @p len bytes of @p s escaped as XML character data (&amp; &lt; &gt; &#xD;), or as
 * an attribute value between single quotes when @p in_attribute is non-zero (also &apos;,
 * &#xA;, &#x9;).
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (@p b NULL, or @p s NULL with @p len > 0);
 *         PXMPP_ERR_INVALID_CHAR (@p s holds invalid UTF-8, a NUL or another character
 *         XML does not allow); PXMPP_ERR_NOMEM.  Nothing is appended on failure.
 */
int pxmpp_buf_append_escaped(pxmpp_buf *b, const char *s, size_t len, int in_attribute);

/** pxmpp_buf_append_escaped() with @p flags: PXMPP_WRITE_REPLACE_INVALID (U+FFFD instead of
    PXMPP_ERR_INVALID_CHAR) and PXMPP_WRITE_ONE_LINE (line feeds of text as &#xA;). */
int pxmpp_buf_append_escaped_ex(pxmpp_buf *b, const char *s, size_t len, int in_attribute, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
