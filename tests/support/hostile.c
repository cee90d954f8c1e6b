/* The hostile inputs of hostile.h: fixed ones as literals, large ones from generators. */
#include "hostile.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR PXMPP_HOSTILE_HEADER
#define XMLDECL "<?xml version='1.0'?>"
#define OK "<message to='juliet@example.com' id='m1'><body>ok</body></message>"
#define END "</stream:stream>"
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

/* ---- the output buffer ----------------------------------------------------------- */

typedef struct hbuf {
    char *data;
    size_t len, cap;
    bool failed; /* out of memory: every later append is dropped */
} hbuf;

static void put_bytes(hbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n + 1) {
            if (cap > (size_t)-1 / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void put(hbuf *b, const char *s) { put_bytes(b, s, strlen(s)); }

static void put_n(hbuf *b, char c, size_t n)
{
    char chunk[4096];
    memset(chunk, c, sizeof chunk);
    while (n && !b->failed) {
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        put_bytes(b, chunk, k);
        n -= k;
    }
}

static void putf(hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(hbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        b->failed = true;
    else
        put_bytes(b, tmp, (size_t)n);
}

/* ---- generators: append the input of size n; return the mark (hostile.h) -------- */

typedef size_t (*gen_fn)(hbuf *b, size_t n);

/* n levels of <a> inside a message */
static size_t gen_nesting(hbuf *b, size_t n)
{
    put(b, HDR OK "<message>");
    for (size_t i = 0; i < n; i++)
        put(b, "<a>");
    for (size_t i = 0; i < n; i++)
        put(b, "</a>");
    put(b, "</message>" END);
    return 0;
}

/* n levels of nesting around a text, without a stanza before */
static size_t gen_nesting_with_text(hbuf *b, size_t n)
{
    put(b, HDR "<message>");
    for (size_t i = 0; i < n; i++)
        put(b, "<a>");
    put(b, "deep");
    for (size_t i = 0; i < n; i++)
        put(b, "</a>");
    put(b, "</message>" END);
    return 0;
}

/* n attributes on one message */
static size_t gen_attributes(hbuf *b, size_t n)
{
    put(b, HDR OK "<message");
    for (size_t i = 0; i < n; i++)
        putf(b, " a%zu=''", i);
    put(b, "/>" END);
    return 0;
}

/* n namespace declarations on one message */
static size_t gen_namespaces(hbuf *b, size_t n)
{
    put(b, HDR OK "<message");
    for (size_t i = 0; i < n; i++)
        putf(b, " xmlns:p%zu='urn:p:%zu'", i, i);
    put(b, "/>" END);
    return 0;
}

/* n attributes on the stream header */
static size_t gen_header_attributes(hbuf *b, size_t n)
{
    put(b, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'");
    for (size_t i = 0; i < n; i++)
        putf(b, " a%03zu=''", i);
    put(b, ">" OK END);
    return 0;
}

/* one message of n bodies, each in its own language or in one of 100 (repeated: invalid
   from the 101st body on); 6,897 bodies fit in the default stanza limit of 262,144 bytes */
static size_t gen_langs(hbuf *b, size_t n, bool repeated)
{
    put(b, HDR "<message to='juliet@example.com' id='m1'>");
    for (size_t i = 0; i < n; i++)
        putf(b, "<body xml:lang='i-lang-%05zu'>h</body>", repeated ? i % 100 : i);
    put(b, "</message>" END);
    return 0;
}

static size_t gen_langs_distinct(hbuf *b, size_t n) { return gen_langs(b, n, false); }
static size_t gen_langs_repeated(hbuf *b, size_t n) { return gen_langs(b, n, true); }

/* n pieces of white space (" " or "\r\n") after the peer's close tag */
static size_t gen_whitespace_after_close(hbuf *b, size_t n)
{
    put(b, HDR OK END);
    for (size_t i = 0; i < n; i++)
        put(b, i % 3 ? " " : "\r\n");
    return 0;
}

/* The ASCII text s in UTF-16LE or UTF-32LE, without a byte order mark. */
static void put_wide(hbuf *b, const char *s, size_t width)
{
    for (; *s; s++) {
        char w[4] = { *s, 0, 0, 0 };
        put_bytes(b, w, width);
    }
}

static size_t gen_utf16le(hbuf *b, size_t n)
{
    (void)n;
    put_wide(b, XMLDECL HDR OK END, 2);
    return 0;
}

static size_t gen_utf32le(hbuf *b, size_t n)
{
    (void)n;
    put_wide(b, XMLDECL HDR OK END, 4);
    return 0;
}

/* SMALL_BEFORE small stanzas, then one with a body of n bytes */
#define SMALL_BEFORE 130

static size_t gen_big_after_small(hbuf *b, size_t n)
{
    put(b, HDR);
    for (int i = 0; i < SMALL_BEFORE; i++)
        put(b, OK);
    put(b, "<message><body>");
    put_n(b, 'a', n);
    put(b, "</body></message>" END);
    return 0;
}

/* n stanzas written by unit(b, i) for i = 0 to n - 1 between the header and the close
   tag; the mark is where the first 1/8 of them ends. */
static size_t gen_flood(hbuf *b, size_t n, void (*unit)(hbuf *b, size_t i))
{
    put(b, HDR);
    size_t mark = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == n / 8)
            mark = b->len;
        unit(b, i);
    }
    put(b, END);
    return mark;
}

/* each stanza with a child element of its own name */
static void unique_name(hbuf *b, size_t i) { putf(b, "<message><element-name-number-%06zu/></message>", i); }
static size_t gen_unique_names(hbuf *b, size_t n) { return gen_flood(b, n, unique_name); }

/* each stanza with a child in a namespace of its own carrying an attribute of its own */
static void unique_namespace(hbuf *b, size_t i)
{
    putf(b, "<message><x xmlns='urn:example:flood:namespace-number-%06zu' a%06zu='v'/></message>", i, i);
}
static size_t gen_unique_namespaces(hbuf *b, size_t n) { return gen_flood(b, n, unique_namespace); }

/* small valid stanzas: the baseline of the floods */
static void small_stanza(hbuf *b, size_t i)
{
    (void)i;
    put(b, OK);
}
static size_t gen_small_stanzas(hbuf *b, size_t n) { return gen_flood(b, n, small_stanza); }

/* ---- the table -------------------------------------------------------------------- */

typedef struct entry {
    const char *name;
    const char *input; /* a literal; with fill, what comes before the fill */
    size_t len;
    gen_fn gen;        /* NULL: a literal or a fill */
    size_t size;       /* the default size of the generator or the fill */
    char fill;         /* not NUL: input, size times fill, then after */
    const char *after;
} entry;

/* A literal input and its length (it may contain NUL bytes). */
#define IN(s) s, sizeof(s) - 1, NULL, 0, 0, NULL
/* An input built by fn, of size n by default. */
#define GEN(fn, n) NULL, 0, fn, n, 0, NULL
/* before, then n times the character c, then after. */
#define FILL(before, c, after, n) before, sizeof(before) - 1, NULL, n, c, after

static const entry inputs[] = {
    /* ---- restricted XML (RFC 6120 §11.1) ---- */
    { "comment-before-header", IN(XMLDECL "<!-- hi -->" HDR OK END) },
    { "comment-between-stanzas", IN(HDR OK "<!-- hi -->" OK END) },
    { "comment-inside-stanza", IN(HDR OK "<message><!-- hi --><body>x</body></message>" END) },
    { "huge-comment", FILL(HDR OK "<!--", 'c', "-->" OK END, 9000000) },
    { "pi-before-header", IN(XMLDECL "<?xml-stylesheet href='x.xsl'?>" HDR OK END) },
    { "pi-inside-stanza", IN(HDR OK "<message><?foo bar?><body>x</body></message>" END) },
    { "dtd-internal-subset", IN(XMLDECL "<!DOCTYPE stream:stream [<!ELEMENT stream:stream ANY>]>" HDR OK END) },
    { "dtd-without-subset", IN("<!DOCTYPE stream:stream>" HDR OK END) },
    { "billion-laughs-before-stream", IN(XMLDECL LOL_DTD HDR "<message><body>&lol9;</body></message>" END) },
    { "billion-laughs-inside-stream", IN(HDR OK LOL_DTD "<message><body>&lol9;</body></message>" END) },
    { "entity-declaration-inside-stream", IN(HDR OK "<!ENTITY lol 'lol'>" OK END) },
    { "undeclared-entity-in-text", IN(HDR OK "<message><body>&lol9;</body></message>" END) },
    { "undeclared-entity-in-attribute", IN(HDR OK "<message to='&lol9;'><body>x</body></message>" END) },
    { "undeclared-entity-in-header", IN("<stream:stream xmlns='jabber:client' "
                                        "xmlns:stream='http://etherx.jabber.org/streams' to='&xxe;' version='1.0'>") },
    { "external-entity-system", IN(XMLDECL "<!DOCTYPE stream:stream [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>" HDR
                                           "<message><body>&xxe;</body></message>" END) },
    { "external-dtd-system", IN("<!DOCTYPE stream:stream SYSTEM 'file:///etc/passwd'>" HDR OK END) },
    { "external-parameter-entity",
      IN("<!DOCTYPE stream:stream [<!ENTITY % pe SYSTEM 'file:///etc/passwd'> %pe;]>" HDR OK END) },

    /* ---- not well-formed ---- */
    { "mismatched-tags", IN(HDR OK "<message><body>x</message></body>" END) },
    { "mismatched-stream-close", IN(HDR OK "</stream:foo>") },
    { "close-tag-without-start", IN(HDR OK "</message>" OK END) },
    { "unclosed-attribute-quote", IN(HDR OK "<message to='juliet@example.com><body>x</body></message>" OK END) },
    { "lt-in-text", IN(HDR OK "<message><body>a < b</body></message>" END) },
    { "lt-in-attribute-value", IN(HDR OK "<message to='a<b'><body>x</body></message>" END) },
    { "unquoted-attribute", IN(HDR OK "<message id=m2><body>x</body></message>" END) },
    { "attribute-without-value", IN(HDR OK "<message id><body>x</body></message>" END) },
    { "bare-ampersand-in-text", IN(HDR OK "<message><body>fish & chips</body></message>" END) },
    { "bare-ampersand-in-attribute", IN(HDR OK "<message id='a&b'><body>x</body></message>" END) },
    { "duplicate-attribute", IN(HDR OK "<message id='1' id='2'><body>x</body></message>" END) },
    { "duplicate-namespaced-attribute",
      IN(HDR OK "<message xmlns:a='urn:x' xmlns:b='urn:x' a:k='1' b:k='2'><body>x</body></message>" END) },
    { "undeclared-prefix-on-element", IN(HDR OK "<message><x:y/></message>" END) },
    { "undeclared-prefix-on-attribute", IN(HDR OK "<message x:k='1'><body>x</body></message>" END) },
    { "rebind-xml-prefix", IN(HDR OK "<message xmlns:xml='urn:not-xml'><body>x</body></message>" END) },
    { "bind-xmlns-prefix", IN(HDR OK "<message xmlns:xmlns='urn:x'><body>x</body></message>" END) },
    { "bind-prefix-to-xml-namespace",
      IN(HDR OK "<message xmlns:p='http://www.w3.org/XML/1998/namespace'><body>x</body></message>" END) },
    { "unbind-prefix", IN(HDR OK "<message xmlns:p=''><body>x</body></message>" END) },

    /* ---- invalid UTF-8 as raw bytes ---- */
    { "utf8-split-sequence", IN(HDR OK "<message><body>\xE2\x82</body></message>" END) },
    { "utf8-lone-continuation-byte", IN(HDR OK "<message><body>\x80</body></message>" END) },
    { "utf8-overlong-2-bytes", IN(HDR OK "<message><body>\xC0\x80</body></message>" END) },
    { "utf8-overlong-3-bytes", IN(HDR OK "<message><body>\xE0\x80\x80</body></message>" END) },
    { "utf8-surrogate", IN(HDR OK "<message><body>\xED\xA0\x80</body></message>" END) },
    { "utf8-above-u10ffff", IN(HDR OK "<message><body>\xF4\x90\x80\x80</body></message>" END) },
    { "utf8-noncharacter-fffe", IN(HDR OK "<message><body>\xEF\xBF\xBE</body></message>" END) },
    { "raw-nul", IN(HDR OK "<message><body>a\0b</body></message>" END) },
    { "raw-c0-control", IN(HDR OK "<message><body>a\x01z</body></message>" END) },
    { "utf8-overlong-in-attribute", IN(HDR OK "<message id='\xC0\xAE'><body>x</body></message>" END) },
    { "utf8-invalid-in-element-name", IN(HDR OK "<message><b\xFF\x64y/></message>" END) },
    { "utf8-invalid-in-header", IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/"
                                   "streams' to='ex\xC0\xAE"
                                   "com' version='1.0'>" OK END) },
    { "raw-nul-in-header", IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
                              " to='a\0b' version='1.0'>" OK END) },

    /* ---- invalid characters as character references ---- */
    { "charref-nul", IN(HDR OK "<message><body>&#0;</body></message>" END) },
    { "charref-surrogate", IN(HDR OK "<message><body>&#xD800;</body></message>" END) },
    { "charref-above-u10ffff", IN(HDR OK "<message><body>&#x110000;</body></message>" END) },
    { "charref-c0-control", IN(HDR OK "<message><body>&#1;</body></message>" END) },
    { "charref-huge-number", IN(HDR OK "<message><body>&#99999999999999999999999;</body></message>" END) },
    { "charref-nul-in-attribute", IN(HDR OK "<message id='&#0;'><body>x</body></message>" END) },

    /* ---- encodings other than UTF-8 ---- */
    { "encoding-iso-8859-1", IN("<?xml version='1.0' encoding='ISO-8859-1'?>" HDR OK END) },
    { "encoding-utf16-declared", IN("<?xml version='1.0' encoding='UTF-16'?>" HDR OK END) },
    { "utf16le-bom", IN("\xFF\xFE<\0?\0x\0m\0l\0 \0v\0e\0r\0") },
    { "utf16be-bom", IN("\xFE\xFF\0<\0?\0x\0m\0l\0 \0v\0e\0r") },
    { "utf16le-without-bom", GEN(gen_utf16le, 0) },
    { "utf16be-without-bom", IN("\0<\0?\0x\0m\0l\0 \0v\0e\0r\0s\0i\0o\0n\0=\0'\0\x31\0.\0\x30\0'\0?\0>") },
    { "utf32be-bom", IN("\0\0\xFE\xFF\0\0\0<\0\0\0?") },
    { "utf32le-without-bom", GEN(gen_utf32le, 0) },
    { "utf32le-bom", IN("\xFF\xFE\0\0<\0\0\0?\0\0\0x\0\0\0") },
    { "ebcdic", IN("\x4C\x6F\xA7\x94\x93\x40\xA5\x85\x99\xA2\x89\x96\x95\x7E") },

    /* ---- the stream header ---- */
    { "wrong-stream-namespace",
      IN("<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' version='1.0'>" OK END) },
    { "wrong-content-namespace",
      IN("<stream:stream xmlns='jabber:other' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" OK END) },
    { "missing-content-namespace",
      IN("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><message/>" END) },
    { "stanza-instead-of-header", IN("<message xmlns='jabber:client'><body>x</body></message>") },
    { "bad-version",
      IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='2.0'>" OK
             END) },
    { "missing-version",
      IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" OK END) },
    { "long-header-attribute",
      FILL("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='",
           'a', "'>" OK END, 2000) },
    { "header-many-attributes", GEN(gen_header_attributes, 500) },
    { "huge-xml-lang-in-header",
      FILL("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xml:lang='", 'a',
           "' version='1.0'>" OK END, 9000000) },

    /* ---- top-level elements ---- */
    { "unknown-top-level-element", IN(HDR OK "<foo xmlns='urn:example:foo'/>" OK END) },
    { "stream-error-lookalike",
      IN(HDR OK "<stream:error xmlns:stream='urn:not-streams'>"
                "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>" END) },
    { "second-header-inside-stream", IN(HDR OK XMLDECL HDR OK END) },
    { "stream-element-as-stanza", IN(HDR OK HDR OK END) },
    { "text-outside-stanzas", IN(HDR OK "hello" OK END) },
    { "cdata-outside-stanzas", IN(HDR OK "<![CDATA[hello]]>" OK END) },

    /* ---- limits ---- */
    { "oversized-stanza", FILL(HDR OK "<message><body>", 'a', "</body></message>" END, 300000) },
    { "oversized-stanza-after-small-ones", GEN(gen_big_after_small, 400000) },
    { "deep-nesting", GEN(gen_nesting, 100000) },
    { "many-attributes", GEN(gen_attributes, 1000) },
    { "many-namespace-declarations", GEN(gen_namespaces, 1000) },
    { "huge-attribute-value", FILL(HDR OK "<message id='", 'a', "'/>" END, 9000000) },
    { "huge-attribute-value-of-gt", FILL(HDR OK "<message id='", '>', "'/>" END, 300000) },
    { "huge-xml-lang-on-stanza", FILL(HDR OK "<message xml:lang='", 'a', "'><body>x</body></message>" END, 9000000) },
    { "huge-text-node", FILL(HDR OK "<message><body>", 'x', "</body></message>" END, (size_t)20 << 20) },
    { "whitespace-flood", FILL(HDR OK, ' ', OK END, 300000) },

    /* ---- data after the peer's </stream:stream> (white space alone is allowed) ---- */
    { "bytes-after-close", IN(HDR OK END "<message><body>evil</body></message>garbage\xFF\0<<&&") },
    { "stanza-after-whitespace-after-close", IN(HDR OK END " \r\n\t"
                                                           "<message><body>evil</body></message>") },
    { "invalid-utf8-after-close", IN(HDR OK END "\n\xC0\x80") },
    { "comment-after-close", IN(HDR OK END "<!-- x -->") },
    { "new-header-after-close", IN(HDR OK END HDR OK END) },
    { "stanza-after-empty-stream",
      IN("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
         "version='1.0'/>" OK) },
    { "whitespace-after-close", IN(HDR OK END "\r\n \t\n") },
    { "whitespace-flood-after-close", GEN(gen_whitespace_after_close, 300000) },

    /* ---- stanza-level violations: the stream goes on ---- */
    { "iq-without-id", IN(HDR "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>" OK END) },
    { "iq-id-too-long", FILL(HDR "<iq type='get' id='", 'i', "'><ping xmlns='urn:xmpp:ping'/></iq>" END, 2000) },
    { "jid-localpart-too-long", FILL(HDR "<message to='", 'l', "@example.com'><body>x</body></message>" END, 2000) },
    { "priority-overflow", IN(HDR "<presence><priority>99999999999999999999999</priority></presence>" END) },
    { "bodies-in-6897-languages", GEN(gen_langs_distinct, 6897) },
    { "bodies-in-100-languages-repeated", GEN(gen_langs_repeated, 6897) },
    { "element-inside-body", IN(HDR "<message><body>a<b xmlns='urn:x'/>c</body></message>" END) },

    /* ---- benign inputs: delivered exactly as they are ---- */
    { "cdata-with-stanza-markup",
      IN(HDR
         "<message><body><![CDATA[</body></message><message><body>pwned</body></message>]]></body></message>" END) },
    { "predefined-entities",
      IN(HDR "<message id='&lt;&amp;&gt;'><body>&lt;&gt;&amp;&apos;&quot;</body></message>" END) },
    { "charrefs-valid", IN(HDR "<message><body>&#x1F600;&#233;&#x20AC;</body></message>" END) },
    { "utf8-multibyte-split-across-feeds",
      IN(HDR "<message><body>\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E</body></message>" END) },
    { "encoding-utf8-declared", IN("<?xml version='1.0' encoding='UTF-8'?>" HDR OK END) },
    { "stream-element-inside-stanza", IN(HDR "<message><stream:stream/><body>x</body></message>" END) },
    { "whitespace-keepalives", IN(HDR " \n\t " OK "\r\n  " OK "   " END) },
    { "nesting-under-depth-limit", GEN(gen_nesting_with_text, 60) },
    { "large-stanza-under-limit", FILL(HDR OK "<message><body>", 'a', "</body></message>" END, 200000) },
    { "unique-element-names-flood", GEN(gen_unique_names, 4000) },
    { "unique-namespaces-flood", GEN(gen_unique_namespaces, 4000) },
    { "small-stanzas-flood", GEN(gen_small_stanzas, 4000) },
};

#define NINPUTS (sizeof inputs / sizeof inputs[0])

size_t pxmpp_hostile_count(void) { return NINPUTS; }

const char *pxmpp_hostile_name(size_t i) { return i < NINPUTS ? inputs[i].name : NULL; }

size_t pxmpp_hostile_find(const char *name)
{
    size_t i = 0;
    while (i < NINPUTS && strcmp(inputs[i].name, name) != 0)
        i++;
    return i;
}

size_t pxmpp_hostile_default_size(size_t i) { return i < NINPUTS ? inputs[i].size : 0; }

int pxmpp_hostile_build(size_t i, size_t size, pxmpp_hostile_input *out)
{
    memset(out, 0, sizeof *out);
    if (i >= NINPUTS)
        return -1;
    const entry *e = &inputs[i];
    hbuf b = { 0 };
    size_t mark = 0;
    if (e->gen) {
        mark = e->gen(&b, size ? size : e->size);
    } else {
        put_bytes(&b, e->input, e->len);
        if (e->fill) {
            put_n(&b, e->fill, size ? size : e->size);
            put(&b, e->after);
        }
    }
    if (b.failed) {
        free(b.data);
        return -1;
    }
    out->data = b.data;
    out->len = b.len;
    out->mark = mark;
    out->header_len = b.len >= sizeof HDR - 1 && memcmp(b.data, HDR, sizeof HDR - 1) == 0 ? sizeof HDR - 1 : 0;
    return 0;
}

int pxmpp_hostile_make(size_t i, char **buf, size_t *len)
{
    pxmpp_hostile_input in;
    int rc = pxmpp_hostile_build(i, 0, &in);
    *buf = in.data;
    *len = in.len;
    return rc;
}
