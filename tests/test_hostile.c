/* Hostile-input suite: every entry of the table below is fed to a stream in
 * several chunkings and must give
 *   - the expected return code (0 for the benign entries),
 *   - the same code, error offset and callbacks whatever the chunking,
 *   - no callback for the top-level element that holds the violation (the ones
 *     before it are delivered),
 *   - the expected <stream:error/> condition followed by </stream:stream> in what
 *     the stream wrote (or, for a stanza-level violation, one stanza_invalid with
 *     the expected path and nothing written),
 *   - no leak and a bounded peak of memory, counted through the pxmpp_mem hooks
 *     of the stream and through libxml2's xmlMemSetup hooks,
 *   - no effect on another stream fed a valid stream at the same time.
 * Entries marked H_FLAT also require the memory of the stream not to grow over
 * a long valid input (between 1/8 of it and its end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define DATA PXMPP_TEST_DATA

/* ---- memory accounting ------------------------------------------------------------
 * Every block carries a header with its size, so that frees and reallocs can be
 * counted.  pxmpp's hooks and libxml2's hooks share the totals. */

#define MEM_BOUND ((size_t)8 << 20) /* peak of one stream, whatever the input */
#define FLAT_SLACK ((size_t)64 << 10) /* growth allowed over the last 7/8 of a long valid input */

typedef union mhdr {
    size_t size;
    max_align_t align_;
} mhdr;

static size_t mem_live, mem_peak, pxmpp_live, xml_live;

static void *count_malloc(size_t n, size_t *bucket)
{
    mhdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    *bucket += n;
    mem_live += n;
    if (mem_live > mem_peak)
        mem_peak = mem_live;
    return h + 1;
}

static void *count_realloc(void *p, size_t n, size_t *bucket)
{
    if (!p)
        return count_malloc(n, bucket);
    mhdr *h = (mhdr *)p - 1;
    size_t old = h->size;
    mhdr *q = realloc(h, sizeof *q + n);
    if (!q)
        return NULL;
    q->size = n;
    *bucket = *bucket - old + n;
    mem_live = mem_live - old + n;
    if (mem_live > mem_peak)
        mem_peak = mem_live;
    return q + 1;
}

static void count_free(void *p, size_t *bucket)
{
    if (!p)
        return;
    mhdr *h = (mhdr *)p - 1;
    *bucket -= h->size;
    mem_live -= h->size;
    free(h);
}

static void *px_malloc(size_t n, void *ud) { (void)ud; return count_malloc(n, &pxmpp_live); }
static void *px_realloc(void *p, size_t n, void *ud) { (void)ud; return count_realloc(p, n, &pxmpp_live); }
static void px_free(void *p, void *ud) { (void)ud; count_free(p, &pxmpp_live); }

static const pxmpp_mem counting_mem = { px_malloc, px_realloc, px_free, NULL };

static void *xml_malloc(size_t n) { return count_malloc(n, &xml_live); }
static void *xml_realloc(void *p, size_t n) { return count_realloc(p, n, &xml_live); }
static void xml_free(void *p) { count_free(p, &xml_live); }
static char *xml_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xml_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- inputs ------------------------------------------------------------------------- */

#define HDR "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
#define XMLDECL "<?xml version='1.0'?>"
#define OK "<message to='juliet@example.com' id='m1'><body>ok</body></message>"
#define END "</stream:stream>"
#define AFTER_END "not well-formed: data after the end of the stream\n"
#define LOL_DTD                                                                                                 \
    "<!DOCTYPE lolz [<!ENTITY lol 'lol'>"                                                                       \
    "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"                                       \
    "<!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>"                             \
    "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"                             \
    "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"                             \
    "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"                             \
    "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"                             \
    "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"                             \
    "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"                             \
    "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>]>"

/* A literal input and its length (it may contain NUL bytes). */
#define IN(s) s, sizeof(s) - 1, NULL

/* Builders of the large inputs: append the input to out; return the offset at
   which an H_FLAT input is split for its memory check (0 otherwise). */
typedef size_t (*gen_fn)(pxmpp_buf *out);

enum {
    H_BIG = 1u << 0,  /* more than 64 KiB: no 1-byte run, one random run (7-byte and 4096-byte remain) */
    H_FLAT = 1u << 1, /* a long valid input: memory must not grow after its first 1/8 */
    H_CLOSED = 1u << 2, /* the fatal error follows the peer's close tag (reported by `closed`) */
};

typedef struct hostile {
    const char *name;
    const char *input;    /* NULL: built by gen */
    size_t len;
    gen_fn gen;
    int code;             /* expected final return code of feed + finish */
    const char *cond;     /* condition element in the <stream:error/> written, NULL: nothing written */
    const char *path;     /* stanza-level: path of the one stanza_invalid */
    size_t delivered;     /* top-level elements reported (valid or invalid) before the violation */
    const char *expect;   /* substring of the callback log, or NULL */
    const char *reject;   /* substring the callback log must not contain, or NULL */
    unsigned flags;
} hostile;

static void put(pxmpp_buf *b, const char *s) { assert_int_equal(pxmpp_buf_append(b, s, strlen(s)), 0); }

static void put_n(pxmpp_buf *b, char c, size_t n)
{
    char chunk[4096];
    memset(chunk, c, sizeof chunk);
    while (n) {
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        assert_int_equal(pxmpp_buf_append(b, chunk, k), 0);
        n -= k;
    }
}

static void putf(pxmpp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(pxmpp_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof tmp);
    assert_int_equal(pxmpp_buf_append(b, tmp, (size_t)n), 0);
}

static size_t gen_oversized_stanza(pxmpp_buf *b)
{
    put(b, HDR OK "<message><body>");
    put_n(b, 'a', 300000);
    put(b, "</body></message>" END);
    return 0;
}

static size_t gen_large_stanza_under_limit(pxmpp_buf *b)
{
    put(b, HDR OK "<message><body>");
    put_n(b, 'a', 200000);
    put(b, "</body></message>" END);
    return 0;
}

static size_t gen_deep_nesting(pxmpp_buf *b)
{
    put(b, HDR OK "<message>");
    for (int i = 0; i < 100000; i++)
        put(b, "<a>");
    for (int i = 0; i < 100000; i++)
        put(b, "</a>");
    put(b, "</message>" END);
    return 0;
}

/* Nesting below the depth limit: the stanza is delivered whole. */
static size_t gen_nesting_under_limit(pxmpp_buf *b)
{
    put(b, HDR "<message>");
    for (int i = 0; i < 60; i++)
        put(b, "<a>");
    put(b, "deep");
    for (int i = 0; i < 60; i++)
        put(b, "</a>");
    put(b, "</message>" END);
    return 0;
}

static size_t gen_many_attributes(pxmpp_buf *b)
{
    put(b, HDR OK "<message");
    for (int i = 0; i < 1000; i++)
        putf(b, " a%d=''", i);
    put(b, "/>" END);
    return 0;
}

static size_t gen_many_namespaces(pxmpp_buf *b)
{
    put(b, HDR OK "<message");
    for (int i = 0; i < 1000; i++)
        putf(b, " xmlns:p%d='urn:p:%d'", i, i);
    put(b, "/>" END);
    return 0;
}

static size_t gen_header_many_attributes(pxmpp_buf *b)
{
    put(b, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'");
    for (int i = 0; i < 500; i++)
        putf(b, " a%03d=''", i);
    put(b, ">" OK END);
    return 0;
}

static size_t gen_huge_attribute(pxmpp_buf *b)
{
    put(b, HDR OK "<message id='");
    put_n(b, 'a', 9000000);
    put(b, "'/>" END);
    return 0;
}

static size_t gen_huge_lang_stanza(pxmpp_buf *b)
{
    put(b, HDR OK "<message xml:lang='");
    put_n(b, 'a', 9000000);
    put(b, "'><body>x</body></message>" END);
    return 0;
}

static size_t gen_huge_lang_header(pxmpp_buf *b)
{
    put(b, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xml:lang='");
    put_n(b, 'a', 9000000);
    put(b, "' version='1.0'>" OK END);
    return 0;
}

static size_t gen_long_header_attribute(pxmpp_buf *b)
{
    put(b, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='");
    put_n(b, 'a', 2000);
    put(b, "'>" OK END);
    return 0;
}

static size_t gen_huge_text(pxmpp_buf *b)
{
    put(b, HDR OK "<message><body>");
    put_n(b, 'x', (size_t)20 << 20);
    put(b, "</body></message>" END);
    return 0;
}

static size_t gen_whitespace_flood(pxmpp_buf *b)
{
    put(b, HDR OK);
    put_n(b, ' ', 300000);
    put(b, OK END);
    return 0;
}

/* 6,897 bodies, each in its own language or in one of 100: the one-per-xml:lang check
   on a stanza of the default size limit */
static size_t gen_langs(pxmpp_buf *b, bool repeated)
{
    put(b, HDR "<message to='juliet@example.com' id='m1'>");
    for (size_t i = 0; i < 6897; i++)
        putf(b, "<body xml:lang='i-lang-%05zu'>h</body>", repeated ? i % 100 : i);
    put(b, "</message>" END);
    return 0;
}

static size_t gen_langs_distinct(pxmpp_buf *b) { return gen_langs(b, false); }
static size_t gen_langs_repeated(pxmpp_buf *b) { return gen_langs(b, true); }

static size_t gen_whitespace_after_close(pxmpp_buf *b)
{
    put(b, HDR OK END);
    for (size_t i = 0; i < 300000; i++)
        put(b, i % 3 ? " " : "\r\n");
    return 0;
}

static size_t gen_huge_comment(pxmpp_buf *b)
{
    put(b, HDR OK "<!--");
    put_n(b, 'c', 9000000);
    put(b, "-->" OK END);
    return 0;
}

/* The ASCII text s in UTF-16LE or UTF-32LE, without a byte order mark. */
static void put_wide(pxmpp_buf *b, const char *s, int width)
{
    for (; *s; s++) {
        char w[4] = { *s, 0, 0, 0 };
        assert_int_equal(pxmpp_buf_append(b, w, (size_t)width), 0);
    }
}

static size_t gen_utf16le(pxmpp_buf *b)
{
    put_wide(b, XMLDECL HDR OK END, 2);
    return 0;
}

static size_t gen_utf32le(pxmpp_buf *b)
{
    put_wide(b, XMLDECL HDR OK END, 4);
    return 0;
}

/* Small stanzas, then one of 400,000 bytes: over the limit however the bytes arrive. */
#define SMALL_STANZAS 130

static size_t gen_oversized_after_small(pxmpp_buf *b)
{
    put(b, HDR);
    for (int i = 0; i < SMALL_STANZAS; i++)
        put(b, OK);
    put(b, "<message><body>");
    put_n(b, 'a', 400000);
    put(b, "</body></message>" END);
    return 0;
}

#define FLOOD_STANZAS 4000

static size_t gen_unique_names(pxmpp_buf *b)
{
    put(b, HDR);
    size_t mid = 0;
    for (int i = 0; i < FLOOD_STANZAS; i++) {
        if (i == FLOOD_STANZAS / 8)
            mid = b->len;
        putf(b, "<message><element-name-number-%06d/></message>", i);
    }
    put(b, END);
    return mid;
}

static size_t gen_unique_namespaces(pxmpp_buf *b)
{
    put(b, HDR);
    size_t mid = 0;
    for (int i = 0; i < FLOOD_STANZAS; i++) {
        if (i == FLOOD_STANZAS / 8)
            mid = b->len;
        putf(b, "<message><x xmlns='urn:example:flood:namespace-number-%06d' a%06d='v'/></message>", i, i);
    }
    put(b, END);
    return mid;
}

static size_t gen_long_id(pxmpp_buf *b)
{
    put(b, HDR "<iq type='get' id='");
    put_n(b, 'i', 2000);
    put(b, "'><ping xmlns='urn:xmpp:ping'/></iq>" END);
    return 0;
}

static size_t gen_long_localpart(pxmpp_buf *b)
{
    put(b, HDR "<message to='");
    put_n(b, 'l', 2000);
    put(b, "@example.com'><body>x</body></message>" END);
    return 0;
}

#define NWF "<not-well-formed "
#define RXML "<restricted-xml "
#define ENC "<unsupported-encoding "
#define INS "<invalid-namespace "
#define POL "<policy-violation "
#define UST "<unsupported-stanza-type "
#define UVER "<unsupported-version "
#define E_XML PXMPP_ERR_XML
#define E_RXML PXMPP_ERR_RESTRICTED_XML
#define E_ENC PXMPP_ERR_ENCODING
#define E_NS PXMPP_ERR_NAMESPACE
#define E_LIM PXMPP_ERR_LIMIT

static const hostile cases[] = {
    /* ---- restricted XML (RFC 6120 §11.1) ---- */
    { "comment-before-header", IN(XMLDECL "<!-- hi -->" HDR OK END), E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "comment-between-stanzas", IN(HDR OK "<!-- hi -->" OK END), E_RXML, RXML, NULL, 1, NULL, NULL, 0 },
    { "comment-inside-stanza", IN(HDR OK "<message><!-- hi --><body>x</body></message>" END), E_RXML, RXML, NULL, 1,
      NULL, NULL, 0 },
    { "huge-comment", NULL, 0, gen_huge_comment, E_RXML, RXML, NULL, 1, NULL, NULL, H_BIG },
    { "pi-before-header", IN(XMLDECL "<?xml-stylesheet href='x.xsl'?>" HDR OK END), E_RXML, RXML, NULL, 0, NULL,
      NULL, 0 },
    { "pi-inside-stanza", IN(HDR OK "<message><?foo bar?><body>x</body></message>" END), E_RXML, RXML, NULL, 1,
      NULL, NULL, 0 },
    { "dtd-internal-subset", IN(XMLDECL "<!DOCTYPE stream:stream [<!ELEMENT stream:stream ANY>]>" HDR OK END), E_RXML,
      RXML, NULL, 0, NULL, NULL, 0 },
    { "dtd-without-subset", IN("<!DOCTYPE stream:stream>" HDR OK END), E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "billion-laughs-before-stream", IN(XMLDECL LOL_DTD HDR "<message><body>&lol9;</body></message>" END), E_RXML,
      RXML, NULL, 0, NULL, NULL, 0 },
    { "billion-laughs-inside-stream", IN(HDR OK LOL_DTD "<message><body>&lol9;</body></message>" END), E_RXML, RXML,
      NULL, 1, NULL, NULL, 0 },
    { "entity-declaration-inside-stream", IN(HDR OK "<!ENTITY lol 'lol'>" OK END), E_RXML, RXML, NULL, 1, NULL,
      NULL, 0 },
    { "undeclared-entity-in-text", IN(HDR OK "<message><body>&lol9;</body></message>" END), E_RXML, RXML, NULL, 1,
      NULL, NULL, 0 },
    { "undeclared-entity-in-attribute", IN(HDR OK "<message to='&lol9;'><body>x</body></message>" END), E_RXML, RXML,
      NULL, 1, NULL, NULL, 0 },
    { "undeclared-entity-in-header", IN("<stream:stream xmlns='jabber:client' "
                                        "xmlns:stream='http://etherx.jabber.org/streams' to='&xxe;' version='1.0'>"),
      E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "external-entity-system",
      IN(XMLDECL "<!DOCTYPE stream:stream [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>" HDR
                 "<message><body>&xxe;</body></message>" END),
      E_RXML, RXML, NULL, 0, NULL, "root:", 0 },
    { "external-dtd-system", IN("<!DOCTYPE stream:stream SYSTEM 'file:///etc/passwd'>" HDR OK END), E_RXML, RXML,
      NULL, 0, NULL, NULL, 0 },
    { "external-parameter-entity",
      IN("<!DOCTYPE stream:stream [<!ENTITY % pe SYSTEM 'file:///etc/passwd'> %pe;]>" HDR OK END), E_RXML, RXML,
      NULL, 0, NULL, NULL, 0 },

    /* ---- not well-formed ---- */
    { "mismatched-tags", IN(HDR OK "<message><body>x</message></body>" END), E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "mismatched-stream-close", IN(HDR OK "</stream:foo>"), E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "close-tag-without-start", IN(HDR OK "</message>" OK END), E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "unclosed-attribute-quote", IN(HDR OK "<message to='juliet@example.com><body>x</body></message>" OK END), E_XML,
      NWF, NULL, 1, NULL, NULL, 0 },
    { "lt-in-text", IN(HDR OK "<message><body>a < b</body></message>" END), E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "lt-in-attribute-value", IN(HDR OK "<message to='a<b'><body>x</body></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },
    { "unquoted-attribute", IN(HDR OK "<message id=m2><body>x</body></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },
    { "attribute-without-value", IN(HDR OK "<message id><body>x</body></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },
    { "bare-ampersand-in-text", IN(HDR OK "<message><body>fish & chips</body></message>" END), E_XML, NWF, NULL, 1,
      NULL, NULL, 0 },
    { "bare-ampersand-in-attribute", IN(HDR OK "<message id='a&b'><body>x</body></message>" END), E_XML, NWF, NULL,
      1, NULL, NULL, 0 },
    { "duplicate-attribute", IN(HDR OK "<message id='1' id='2'><body>x</body></message>" END), E_XML, NWF, NULL, 1,
      NULL, NULL, 0 },
    { "duplicate-namespaced-attribute",
      IN(HDR OK "<message xmlns:a='urn:x' xmlns:b='urn:x' a:k='1' b:k='2'><body>x</body></message>" END), E_XML, NWF,
      NULL, 1, NULL, NULL, 0 },
    { "undeclared-prefix-on-element", IN(HDR OK "<message><x:y/></message>" END), E_XML, NWF, NULL, 1, NULL, NULL,
      0 },
    { "undeclared-prefix-on-attribute", IN(HDR OK "<message x:k='1'><body>x</body></message>" END), E_XML, NWF, NULL,
      1, NULL, NULL, 0 },
    { "rebind-xml-prefix", IN(HDR OK "<message xmlns:xml='urn:not-xml'><body>x</body></message>" END), E_XML, NWF,
      NULL, 1, NULL, NULL, 0 },
    { "bind-xmlns-prefix", IN(HDR OK "<message xmlns:xmlns='urn:x'><body>x</body></message>" END), E_XML, NWF, NULL,
      1, NULL, NULL, 0 },
    { "bind-prefix-to-xml-namespace",
      IN(HDR OK "<message xmlns:p='http://www.w3.org/XML/1998/namespace'><body>x</body></message>" END), E_XML, NWF,
      NULL, 1, NULL, NULL, 0 },
    { "unbind-prefix", IN(HDR OK "<message xmlns:p=''><body>x</body></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },

    /* ---- invalid UTF-8 as raw bytes ---- */
    { "utf8-split-sequence", IN(HDR OK "<message><body>\xE2\x82</body></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },
    { "utf8-lone-continuation-byte", IN(HDR OK "<message><body>\x80</body></message>" END), E_XML, NWF, NULL, 1,
      NULL, NULL, 0 },
    { "utf8-overlong-2-bytes", IN(HDR OK "<message><body>\xC0\x80</body></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },
    { "utf8-overlong-3-bytes", IN(HDR OK "<message><body>\xE0\x80\x80</body></message>" END), E_XML, NWF, NULL, 1,
      NULL, NULL, 0 },
    { "utf8-surrogate", IN(HDR OK "<message><body>\xED\xA0\x80</body></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },
    { "utf8-above-u10ffff", IN(HDR OK "<message><body>\xF4\x90\x80\x80</body></message>" END), E_XML, NWF, NULL, 1,
      NULL, NULL, 0 },
    { "utf8-noncharacter-fffe", IN(HDR OK "<message><body>\xEF\xBF\xBE</body></message>" END), E_XML, NWF, NULL, 1,
      NULL, NULL, 0 },
    { "raw-nul", IN(HDR OK "<message><body>a\0b</body></message>" END), E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "raw-c0-control", IN(HDR OK "<message><body>a\x01z</body></message>" END), E_XML, NWF, NULL, 1, NULL, NULL,
      0 },
    { "utf8-overlong-in-attribute", IN(HDR OK "<message id='\xC0\xAE'><body>x</body></message>" END), E_XML, NWF,
      NULL, 1, NULL, NULL, 0 },
    { "utf8-invalid-in-element-name", IN(HDR OK "<message><b\xFF\x64y/></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },
    { "utf8-invalid-in-header", IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/"
                                   "streams' to='ex\xC0\xAE" "com' version='1.0'>" OK END),
      E_XML, NWF, NULL, 0, NULL, NULL, 0 },
    { "raw-nul-in-header", IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
                              " to='a\0b' version='1.0'>" OK END),
      E_XML, NWF, NULL, 0, NULL, NULL, 0 },

    /* ---- invalid characters as character references ---- */
    { "charref-nul", IN(HDR OK "<message><body>&#0;</body></message>" END), E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "charref-surrogate", IN(HDR OK "<message><body>&#xD800;</body></message>" END), E_XML, NWF, NULL, 1, NULL,
      NULL, 0 },
    { "charref-above-u10ffff", IN(HDR OK "<message><body>&#x110000;</body></message>" END), E_XML, NWF, NULL, 1,
      NULL, NULL, 0 },
    { "charref-c0-control", IN(HDR OK "<message><body>&#1;</body></message>" END), E_XML, NWF, NULL, 1, NULL, NULL,
      0 },
    { "charref-huge-number", IN(HDR OK "<message><body>&#99999999999999999999999;</body></message>" END), E_XML, NWF,
      NULL, 1, NULL, NULL, 0 },
    { "charref-nul-in-attribute", IN(HDR OK "<message id='&#0;'><body>x</body></message>" END), E_XML, NWF, NULL, 1,
      NULL, NULL, 0 },

    /* ---- encodings other than UTF-8 ---- */
    { "encoding-iso-8859-1", IN("<?xml version='1.0' encoding='ISO-8859-1'?>" HDR OK END), E_ENC, ENC, NULL, 0, NULL,
      NULL, 0 },
    { "encoding-utf16-declared", IN("<?xml version='1.0' encoding='UTF-16'?>" HDR OK END), E_ENC, ENC, NULL, 0, NULL,
      NULL, 0 },
    { "utf16le-bom", IN("\xFF\xFE<\0?\0x\0m\0l\0 \0v\0e\0r\0"), E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf16be-bom", IN("\xFE\xFF\0<\0?\0x\0m\0l\0 \0v\0e\0r"), E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf16le-without-bom", NULL, 0, gen_utf16le, E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf16be-without-bom", IN("\0<\0?\0x\0m\0l\0 \0v\0e\0r\0s\0i\0o\0n\0=\0'\0\x31\0.\0\x30\0'\0?\0>"), E_ENC, ENC,
      NULL, 0, NULL, NULL, 0 },
    { "utf32be-bom", IN("\0\0\xFE\xFF\0\0\0<\0\0\0?"), E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf32le-without-bom", NULL, 0, gen_utf32le, E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf32le-bom", IN("\xFF\xFE\0\0<\0\0\0?\0\0\0x\0\0\0"), E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "ebcdic", IN("\x4C\x6F\xA7\x94\x93\x40\xA5\x85\x99\xA2\x89\x96\x95\x7E"), E_ENC, ENC, NULL, 0, NULL, NULL, 0 },

    /* ---- the stream header ---- */
    { "wrong-stream-namespace",
      IN("<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' version='1.0'>" OK END), E_NS, INS, NULL, 0,
      NULL, NULL, 0 },
    { "wrong-content-namespace",
      IN("<stream:stream xmlns='jabber:other' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" OK END),
      E_NS, INS, NULL, 0, NULL, NULL, 0 },
    { "missing-content-namespace",
      IN("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><message/>" END), E_NS, INS,
      NULL, 0, NULL, NULL, 0 },
    { "stanza-instead-of-header", IN("<message xmlns='jabber:client'><body>x</body></message>"), E_NS, INS, NULL, 0,
      NULL, NULL, 0 },
    { "bad-version",
      IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='2.0'>" OK END),
      PXMPP_ERR_VERSION, UVER, NULL, 0, NULL, NULL, 0 },
    { "missing-version", IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" OK
                            END),
      PXMPP_ERR_VERSION, UVER, NULL, 0, NULL, NULL, 0 },
    { "long-header-attribute", NULL, 0, gen_long_header_attribute, E_LIM, POL, NULL, 0, NULL, NULL, 0 },
    { "header-many-attributes", NULL, 0, gen_header_many_attributes, E_LIM, POL, NULL, 0, NULL, NULL, 0 },
    { "huge-xml-lang-in-header", NULL, 0, gen_huge_lang_header, E_LIM, POL, NULL, 0, NULL, NULL, H_BIG },

    /* ---- top-level elements ---- */
    { "unknown-top-level-element", IN(HDR OK "<foo xmlns='urn:example:foo'/>" OK END), PXMPP_ERR_UNSUPPORTED_STANZA,
      UST, NULL, 1, NULL, NULL, 0 },
    { "stream-error-lookalike",
      IN(HDR OK "<stream:error xmlns:stream='urn:not-streams'>"
                "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>" END),
      PXMPP_ERR_UNSUPPORTED_STANZA, UST, NULL, 1, NULL, "stream-error ", 0 },
    { "second-header-inside-stream", IN(HDR OK XMLDECL HDR OK END), E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "stream-element-as-stanza", IN(HDR OK HDR OK END), PXMPP_ERR_UNSUPPORTED_STANZA, UST, NULL, 1, NULL, NULL, 0 },
    { "text-outside-stanzas", IN(HDR OK "hello" OK END), E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "cdata-outside-stanzas", IN(HDR OK "<![CDATA[hello]]>" OK END), E_XML, NWF, NULL, 1, NULL, NULL, 0 },

    /* ---- limits ---- */
    { "oversized-stanza", NULL, 0, gen_oversized_stanza, E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "oversized-stanza-after-small-ones", NULL, 0, gen_oversized_after_small, E_LIM, POL, NULL, SMALL_STANZAS, NULL,
      NULL, H_BIG },
    { "deep-nesting", NULL, 0, gen_deep_nesting, E_LIM, POL, NULL, 1, NULL, NULL, 0 },
    { "many-attributes", NULL, 0, gen_many_attributes, E_LIM, POL, NULL, 1, NULL, NULL, 0 },
    { "many-namespace-declarations", NULL, 0, gen_many_namespaces, E_LIM, POL, NULL, 1, NULL, NULL, 0 },
    { "huge-attribute-value", NULL, 0, gen_huge_attribute, E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "huge-xml-lang-on-stanza", NULL, 0, gen_huge_lang_stanza, E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "huge-text-node", NULL, 0, gen_huge_text, E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "whitespace-flood", NULL, 0, gen_whitespace_flood, E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },

    /* ---- data after the peer's </stream:stream> (white space alone is allowed) ---- */
    { "bytes-after-close", IN(HDR OK END "<message><body>evil</body></message>garbage\xFF\0<<&&"), E_XML, NWF, NULL, 1,
      "closed\nerror PXMPP_ERR_XML at 181: " AFTER_END, "evil", H_CLOSED },
    { "stanza-after-whitespace-after-close", IN(HDR OK END " \r\n\t" "<message><body>evil</body></message>"), E_XML,
      NWF, NULL, 1, "closed\nerror PXMPP_ERR_XML at 185: " AFTER_END, "evil", H_CLOSED },
    { "invalid-utf8-after-close", IN(HDR OK END "\n\xC0\x80"), E_XML, NWF, NULL, 1,
      "closed\nerror PXMPP_ERR_XML at 182: " AFTER_END, NULL, H_CLOSED },
    { "comment-after-close", IN(HDR OK END "<!-- x -->"), E_XML, NWF, NULL, 1, "closed\nerror PXMPP_ERR_XML at 181: " AFTER_END,
      NULL, H_CLOSED },
    { "new-header-after-close", IN(HDR OK END HDR OK END), E_XML, NWF, NULL, 1, "closed\nerror PXMPP_ERR_XML at 181: " AFTER_END,
      NULL, H_CLOSED },
    { "stanza-after-empty-stream", IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                                      "version='1.0'/>" OK), E_XML, NWF, NULL, 0, "closed\nerror PXMPP_ERR_XML at 100: " AFTER_END,
      NULL, H_CLOSED },
    { "whitespace-after-close", IN(HDR OK END "\r\n \t\n"), 0, NULL, NULL, 1, "closed\nend rc=PXMPP_OK\n", NULL, 0 },
    { "whitespace-flood-after-close", NULL, 0, gen_whitespace_after_close, 0, NULL, NULL, 1, "closed\nend rc=PXMPP_OK\n",
      NULL, H_BIG },

    /* ---- stanza-level violations: the stream goes on ---- */
    { "iq-without-id", IN(HDR "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>" OK END), 0, NULL, "/iq/@id", 2,
      NULL, NULL, 0 },
    { "iq-id-too-long", NULL, 0, gen_long_id, 0, NULL, "/iq/@id", 1, NULL, NULL, 0 },
    { "jid-localpart-too-long", NULL, 0, gen_long_localpart, 0, NULL, "/message/@to", 1, NULL, NULL, 0 },
    { "priority-overflow", IN(HDR "<presence><priority>99999999999999999999999</priority></presence>" END), 0, NULL,
      "/presence/priority", 1, NULL, NULL, 0 },
    { "bodies-in-6897-languages", NULL, 0, gen_langs_distinct, 0, NULL, NULL, 1, NULL, NULL, H_BIG },
    { "bodies-in-100-languages-repeated", NULL, 0, gen_langs_repeated, 0, NULL, "/message/body[101]", 1, NULL, NULL,
      H_BIG },
    { "element-inside-body", IN(HDR "<message><body>a<b xmlns='urn:x'/>c</body></message>" END), 0, NULL,
      "/message/body[1]", 1, NULL, NULL, 0 },

    /* ---- benign inputs: delivered exactly as they are ---- */
    { "cdata-with-stanza-markup",
      IN(HDR "<message><body><![CDATA[</body></message><message><body>pwned</body></message>]]></body></message>" END),
      0, NULL, NULL, 1,
      "<body>&lt;/body&gt;&lt;/message&gt;&lt;message&gt;&lt;body&gt;pwned&lt;/body&gt;&lt;/message&gt;</body>", NULL,
      0 },
    { "predefined-entities", IN(HDR "<message id='&lt;&amp;&gt;'><body>&lt;&gt;&amp;&apos;&quot;</body></message>" END),
      0, NULL, NULL, 1, "<body>&lt;&gt;&amp;'\"</body>", NULL, 0 },
    { "charrefs-valid", IN(HDR "<message><body>&#x1F600;&#233;&#x20AC;</body></message>" END), 0, NULL, NULL, 1,
      "<body>\xF0\x9F\x98\x80\xC3\xA9\xE2\x82\xAC</body>", NULL, 0 },
    { "utf8-multibyte-split-across-feeds",
      IN(HDR "<message><body>\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E</body></message>" END), 0, NULL, NULL, 1,
      "<body>\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E</body>", NULL, 0 },
    { "encoding-utf8-declared", IN("<?xml version='1.0' encoding='UTF-8'?>" HDR OK END), 0, NULL, NULL, 1, NULL, NULL,
      0 },
    { "stream-element-inside-stanza", IN(HDR "<message><stream:stream/><body>x</body></message>" END), 0, NULL, NULL,
      1, NULL, NULL, 0 },
    { "whitespace-keepalives", IN(HDR " \n\t " OK "\r\n  " OK "   " END), 0, NULL, NULL, 2, NULL, NULL, 0 },
    { "nesting-under-depth-limit", NULL, 0, gen_nesting_under_limit, 0, NULL, NULL, 1, "<a>deep</a>", NULL, 0 },
    { "large-stanza-under-limit", NULL, 0, gen_large_stanza_under_limit, 0, NULL, NULL, 2, NULL, NULL, H_BIG },
    { "unique-element-names-flood", NULL, 0, gen_unique_names, 0, NULL, NULL, FLOOD_STANZAS, NULL, NULL,
      H_BIG | H_FLAT },
    { "unique-namespaces-flood", NULL, 0, gen_unique_namespaces, 0, NULL, NULL, FLOOD_STANZAS, NULL, NULL,
      H_BIG | H_FLAT },
};

#define NCASES (sizeof cases / sizeof cases[0])

/* Generated inputs, built once. */
static pxmpp_buf generated[NCASES];
static size_t generated_mid[NCASES];

static void input_of(const hostile *h, const char **data, size_t *len, size_t *mid)
{
    size_t i = (size_t)(h - cases);
    *mid = 0;
    if (!h->gen) {
        *data = h->input;
        *len = h->len;
        return;
    }
    if (!generated[i].len)
        generated_mid[i] = h->gen(&generated[i]);
    *data = generated[i].data;
    *len = generated[i].len;
    *mid = generated_mid[i];
}

/* ---- one run ------------------------------------------------------------------------- */

typedef struct outcome {
    int code;
    trace t;
    char *norm;  /* the callback log with the reasons of errors cut (code and offset kept) */
    size_t peak; /* bytes held at most by the stream (pxmpp and libxml2 allocations) */
} outcome;

/* The log without the free-text reasons: "error PXMPP_ERR_X at N: why" -> "error PXMPP_ERR_X at N".
   A reason may span lines (libxml2 appends the offending bytes); a fatal error is the
   last callback, so everything up to the "end rc=" line belongs to it. */
static char *normalize(const char *log)
{
    size_t n = strlen(log);
    char *out = malloc(n + 1);
    assert_non_null(out);
    size_t o = 0;
    bool in_reason = false;
    for (const char *p = log; *p;) {
        const char *eol = strchr(p, '\n');
        size_t l = eol ? (size_t)(eol - p) + 1 : strlen(p);
        if (in_reason && strncmp(p, "end rc=", 7) != 0) {
            p += l;
            continue;
        }
        in_reason = false;
        const char *colon = strncmp(p, "error ", 6) == 0 ? memchr(p, ':', l) : NULL;
        if (colon) {
            memcpy(out + o, p, (size_t)(colon - p));
            o += (size_t)(colon - p);
            out[o++] = '\n';
            in_reason = true;
        } else {
            memcpy(out + o, p, l);
            o += l;
        }
        p += l;
    }
    out[o] = '\0';
    return out;
}

static void outcome_free(outcome *o)
{
    trace_free(&o->t);
    free(o->norm);
    o->norm = NULL;
}

/* What one case holds.  A failed assertion leaves run_case() by a long jump, so
   these live here and release_case() frees what is left before the next case. */
static struct {
    outcome whole, chunked;
    bool whole_live, chunked_live;
    trace th, tg;
    bool traces_live;
    pxmpp_stream *sh, *sg, *sf;
    char *norm;
} cur;

static void release_case(void)
{
    if (cur.whole_live)
        outcome_free(&cur.whole);
    if (cur.chunked_live)
        outcome_free(&cur.chunked);
    if (cur.traces_live) {
        trace_free(&cur.th);
        trace_free(&cur.tg);
    }
    pxmpp_stream_free(cur.sh);
    pxmpp_stream_free(cur.sg);
    pxmpp_stream_free(cur.sf);
    free(cur.norm);
    memset(&cur, 0, sizeof cur);
}

/* Frees what check_interleaved() holds. */
static void release_case_streams(void)
{
    pxmpp_stream_free(cur.sh);
    pxmpp_stream_free(cur.sg);
    cur.sh = cur.sg = NULL;
    if (cur.traces_live) {
        trace_free(&cur.th);
        trace_free(&cur.tg);
        cur.traces_live = false;
    }
    free(cur.norm);
    cur.norm = NULL;
}

/* One run into o (cur.whole or cur.chunked, marked live through *live). */
static void run_one(outcome *o, bool *live, const char *data, size_t len, size_t chunk, uint32_t seed)
{
    pxmpp_stream_config cfg = { .mem = &counting_mem };
    /* libxml2 keeps a copy of the last error in a global; it is not the stream's */
    xmlResetLastError();
    size_t px_before = pxmpp_live, xml_before = xml_live;
    size_t base = mem_live;
    mem_peak = mem_live;
    o->norm = NULL;
    o->code = run_trace(&o->t, data, len, chunk, seed, 0, &cfg);
    *live = true;
    o->peak = mem_peak - base;
    xmlResetLastError();
    /* everything the stream allocated, through either set of hooks, is back */
    assert_int_equal(pxmpp_live, px_before);
    assert_int_equal(xml_live, xml_before);
    o->norm = normalize(o->t.log.data ? o->t.log.data : "");
}

static size_t count_of(const char *hay, size_t hlen, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (size_t i = 0; i + nl <= hlen; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            n++;
    return n;
}

static bool ends_with(const pxmpp_buf *b, const char *suffix)
{
    size_t n = strlen(suffix);
    return b->len >= n && memcmp(b->data + b->len - n, suffix, n) == 0;
}

static void show(const hostile *h, const outcome *o, const char *what)
{
    const char *log = o->t.log.data ? o->t.log.data : "";
    size_t ll = strlen(log);
    fprintf(stderr, "case %s: %s\n  rc=%s peak=%zu bytes\n  sent: %.*s\n  log (%zu bytes): %.*s%s\n", h->name, what,
            pxmpp_error_name(o->code), o->peak, (int)(o->t.sent.len < 400 ? o->t.sent.len : 400),
            o->t.sent.data ? o->t.sent.data : "", ll, (int)(ll < 1500 ? ll : 1500), log, ll < 1500 ? "" : "...\n");
}

/* The checks that do not depend on the chunking. */
static void check_expectations(const hostile *h, const outcome *o)
{
    const char *log = o->t.log.data ? o->t.log.data : "";
    size_t reported = o->t.elements + o->t.invalid;
    bool ok = o->code == h->code && reported == h->delivered;
    if (!ok)
        show(h, o, "unexpected return code or number of delivered elements");
    assert_int_equal(o->code, h->code);
    assert_int_equal(reported, h->delivered);

    if (h->code <= PXMPP_ERR_FATAL) {
        assert_int_equal(o->t.errors, 1);
        assert_int_equal(o->t.closed, (h->flags & H_CLOSED) ? 1 : 0);
    } else {
        assert_int_equal(o->t.errors, 0);
        assert_int_equal(o->t.closed, 1);
    }

    if (h->cond) {
        /* the stream opened its side, sent one error with the condition, and closed */
        const pxmpp_buf *s = &o->t.sent;
        bool sent_ok = s->len > 0 && count_of(s->data, s->len, "<stream:error>") == 1 &&
                       strstr(s->data, h->cond) > strstr(s->data, "<stream:error>") &&
                       strncmp(s->data, "<?xml version='1.0'?><stream:stream ", 36) == 0 &&
                       ends_with(s, "</stream:error></stream:stream>");
        if (!sent_ok)
            show(h, o, "wrong stream error written");
        assert_true(sent_ok);
    } else {
        if (o->t.sent.len)
            show(h, o, "the stream wrote something");
        assert_int_equal(o->t.sent.len, 0);
    }

    if (h->path) {
        char want[256];
        snprintf(want, sizeof want, "invalid path=%s reason=", h->path);
        if (o->t.invalid != 1 || !strstr(log, want))
            show(h, o, "wrong stanza-level diagnostic");
        assert_int_equal(o->t.invalid, 1);
        assert_non_null(strstr(log, want));
    } else {
        assert_int_equal(o->t.invalid, 0);
    }
    if (h->expect && !strstr(log, h->expect))
        show(h, o, "expected text missing from the log");
    if (h->expect)
        assert_non_null(strstr(log, h->expect));
    if (h->reject && strstr(log, h->reject))
        show(h, o, "rejected text present in the log");
    if (h->reject)
        assert_null(strstr(log, h->reject));

    if (o->peak > MEM_BOUND)
        show(h, o, "memory bound exceeded");
    assert_true(o->peak <= MEM_BOUND);
}

/* ---- the valid stream fed alongside ------------------------------------------------ */

static char *good_data;
static size_t good_len;
static trace good_oracle;

static void load_good(void)
{
    if (good_data)
        return;
    good_data = read_file(DATA "/sample-stream.xml", &good_len);
    run_trace(&good_oracle, good_data, good_len, good_len, 0, 0, NULL);
}

/* Feeds the hostile input in 7-byte pieces and the valid stream 1 byte after each piece;
   the valid stream's callbacks equal those of its run alone, and the hostile one's equal
   its own outcome.  After the hostile stream failed, more input changes nothing. */
static void check_interleaved(const hostile *h, const char *data, size_t len, const outcome *whole)
{
    load_good();
    trace *th = &cur.th, *tg = &cur.tg;
    trace_init(th);
    trace_init(tg);
    cur.traces_live = true;
    pxmpp_stream_callbacks cb = trace_callbacks();
    pxmpp_stream_config cfg = { .mem = &counting_mem };
    assert_int_equal(pxmpp_stream_new(&cur.sh, PXMPP_ROLE_CLIENT, &cb, &cfg, th), 0);
    assert_int_equal(pxmpp_stream_new(&cur.sg, PXMPP_ROLE_CLIENT, &cb, NULL, tg), 0);
    pxmpp_stream *sh = cur.sh, *sg = cur.sg;
    size_t ho = 0, go = 0;
    int hrc = 0, grc = 0;
    bool hdone = false, gdone = false;
    while (!hdone || !gdone) {
        if (!hdone) {
            size_t n = len - ho < 7 ? len - ho : 7;
            hrc = pxmpp_stream_feed(sh, data + ho, n);
            ho += n;
            if (hrc || ho == len) {
                hdone = true;
                if (!hrc)
                    hrc = pxmpp_stream_finish(sh);
            }
        }
        if (!gdone) {
            grc = pxmpp_stream_feed(sg, good_data + go, 1);
            go++;
            if (grc || go == good_len) {
                gdone = true;
                if (!grc)
                    grc = pxmpp_stream_finish(sg);
            }
        }
    }
    assert_int_equal(pxmpp_buf_append(&tg->log, "end rc=", 7), 0);
    assert_int_equal(pxmpp_buf_append(&tg->log, pxmpp_error_name(grc), strlen(pxmpp_error_name(grc))), 0);
    assert_int_equal(pxmpp_buf_append(&tg->log, "\n", 1), 0);
    if (strcmp(tg->log.data, good_oracle.log.data) != 0)
        fprintf(stderr, "case %s: the valid stream fed alongside differs\n--- alone:\n%s--- alongside:\n%s", h->name,
                good_oracle.log.data, tg->log.data);
    assert_string_equal(tg->log.data, good_oracle.log.data);

    assert_int_equal(hrc, whole->code);
    if (hrc <= PXMPP_ERR_FATAL) {
        /* the error is sticky: more input is refused and changes nothing */
        size_t log_len = th->log.len, sent_len = th->sent.len;
        assert_int_equal(pxmpp_stream_feed(sh, OK, strlen(OK)), hrc);
        assert_int_equal(pxmpp_stream_finish(sh), hrc);
        assert_int_equal(th->log.len, log_len);
        assert_int_equal(th->sent.len, sent_len);
        uint64_t off;
        assert_int_equal(pxmpp_stream_last_error(sh, NULL, &off), hrc);
    }
    assert_int_equal(pxmpp_buf_append(&th->log, "end rc=", 7), 0);
    assert_int_equal(pxmpp_buf_append(&th->log, pxmpp_error_name(hrc), strlen(pxmpp_error_name(hrc))), 0);
    assert_int_equal(pxmpp_buf_append(&th->log, "\n", 1), 0);
    cur.norm = normalize(th->log.data);
    if (strcmp(cur.norm, whole->norm) != 0)
        fprintf(stderr, "case %s: interleaved run differs\n--- whole:\n%s--- interleaved:\n%s", h->name, whole->norm,
                cur.norm);
    assert_string_equal(cur.norm, whole->norm);
    release_case_streams();
}

/* ---- flat memory over a long valid input ----------------------------------------------- */

static void check_flat(const hostile *h, const char *data, size_t len, size_t mid)
{
    assert_true(mid > 0 && mid < len);
    pxmpp_stream_callbacks cb = { 0 };
    pxmpp_stream_config cfg = { .mem = &counting_mem };
    size_t before = mem_live;
    assert_int_equal(pxmpp_stream_new(&cur.sf, PXMPP_ROLE_CLIENT, &cb, &cfg, NULL), 0);
    pxmpp_stream *s = cur.sf;
    assert_int_equal(pxmpp_stream_feed(s, data, mid), 0);
    size_t at_mid = mem_live - before;
    size_t px_mid = pxmpp_live, xml_mid = xml_live;
    assert_int_equal(pxmpp_stream_feed(s, data + mid, len - mid), 0);
    size_t at_end = mem_live - before;
    if (at_end > at_mid + FLAT_SLACK)
        fprintf(stderr,
                "case %s: memory grows: %zu bytes after 1/8 of the input, %zu at its end "
                "(pxmpp hooks %+ld, libxml2 hooks %+ld)\n",
                h->name, at_mid, at_end, (long)pxmpp_live - (long)px_mid, (long)xml_live - (long)xml_mid);
    assert_true(at_end <= at_mid + FLAT_SLACK);
    pxmpp_stream_free(s);
    cur.sf = NULL;
}

/* ---- the test of one entry -------------------------------------------------------------- */

static void run_case(void **state)
{
    const hostile *h = *state;
    const char *data;
    size_t len, mid;
    release_case(); /* what a failed case left */
    input_of(h, &data, &len, &mid);

    outcome *whole = &cur.whole;
    run_one(whole, &cur.whole_live, data, len, len, 0);
    if (getenv("PXMPP_HOSTILE_VERBOSE")) {
        const char *e = strstr(whole->norm, "error ");
        fprintf(stderr, "%-36s %9zu bytes  rc=%-28s peak=%8zu  %.*s\n", h->name, len, pxmpp_error_name(whole->code),
                whole->peak, e ? (int)strcspn(e, "\n") : 0, e ? e : "");
    }
    check_expectations(h, whole);

    /* the same outcome whatever the chunking */
    struct { size_t chunk; uint32_t seed; } runs[] = { { 1, 0 }, { 7, 0 }, { 4096, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 } };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        if ((h->flags & H_BIG) && (runs[r].chunk == 1 || runs[r].seed > 1))
            continue;
        outcome *o = &cur.chunked;
        run_one(o, &cur.chunked_live, data, len, runs[r].chunk, runs[r].seed);
        if (strcmp(o->norm, whole->norm) != 0) {
            size_t nw = strlen(whole->norm), no = strlen(o->norm);
            fprintf(stderr, "case %s: chunk %zu seed %u differs from the whole run\n", h->name, runs[r].chunk,
                    runs[r].seed);
            fprintf(stderr, "--- whole:\n%.*s%s--- chunked:\n%.*s%s", (int)(nw < 2000 ? nw : 2000), whole->norm,
                    nw < 2000 ? "" : "...\n", (int)(no < 2000 ? no : 2000), o->norm, no < 2000 ? "" : "...\n");
        }
        assert_string_equal(o->norm, whole->norm);
        assert_int_equal(o->code, whole->code);
        if (o->peak > MEM_BOUND)
            show(h, o, "memory bound exceeded");
        assert_true(o->peak <= MEM_BOUND);
        outcome_free(o);
        cur.chunked_live = false;
    }

    /* small inputs: every chunk size from 1 to the length */
    for (size_t c = 2; len <= 1024 && c < len; c++) {
        if (c == 7)
            continue;
        outcome *o = &cur.chunked;
        run_one(o, &cur.chunked_live, data, len, c, 0);
        if (strcmp(o->norm, whole->norm) != 0)
            fprintf(stderr, "case %s: chunk %zu differs from the whole run\n--- whole:\n%s--- chunked:\n%s", h->name, c,
                    whole->norm, o->norm);
        assert_string_equal(o->norm, whole->norm);
        outcome_free(o);
        cur.chunked_live = false;
    }

    check_interleaved(h, data, len, whole);
    if (h->flags & H_FLAT)
        check_flat(h, data, len, mid);
    release_case();
}

int main(void)
{
    /* before anything else touches libxml2: count its allocations */
    if (xmlMemSetup(xml_free, xml_malloc, xml_realloc, xml_strdup) != 0) {
        fprintf(stderr, "xmlMemSetup failed\n");
        return 1;
    }
    /* libxml2's one-time global state is allocated by the first parser; create it now
       so that the per-run accounting sees only what a stream holds */
    load_good();
    for (size_t i = 0; i < NCASES; i++)
        pxmpp_buf_init(&generated[i], NULL);

    struct CMUnitTest tests[NCASES];
    for (size_t i = 0; i < NCASES; i++) {
        tests[i] = (struct CMUnitTest){ cases[i].name, run_case, NULL, NULL, (void *)&cases[i] };
        for (size_t j = 0; j < i; j++)
            if (strcmp(cases[i].name, cases[j].name) == 0) {
                fprintf(stderr, "duplicate case name %s\n", cases[i].name);
                return 1;
            }
    }
    int rc = _cmocka_run_group_tests("hostile", tests, NCASES, NULL, NULL);
    release_case();
    for (size_t i = 0; i < NCASES; i++)
        pxmpp_buf_free(&generated[i]);
    free(good_data);
    trace_free(&good_oracle);
    xmlCleanupParser();
    return rc;
}
