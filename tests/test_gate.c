/* The gate (runtime/gate.c) on its own: what it hands on for written inputs, as a
   log of events compared with an expected log, for the input fed whole, in pieces
   of every size from 1 byte to its length, and cut in two at every offset.

   The log, one line an event, adjacent events of one kind joined:
     tags: BYTES   what libxml2 would parse (the values the gate cut left out)
     cuts: ...     the gate's entries for the start tags of those bytes, one {...}
                   a tag: attr NAME=VALUE (cut whole), val VALUE, keep,
                   nsw URI; an x after attr or val: the value needs decoding
     start: <NAME> {...}  a plain start tag the gate read itself (<NAME/>: an empty
                   one), with its entries: attr, nsw, lang VALUE (xml:lang)
     end: </NAME>  the end tag of such an element
     text: TEXT    character data of a stanza (\n \r \t \\ written so)
     error: NAME at OFFSET: REASON
     end: lexed N, idle|busy   after the last feed, when there was no error */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"

/* ---- the log ----------------------------------------------------------------------- */

enum ev { EV_NONE, EV_TAGS, EV_TEXT };

struct logger {
    pxmpp__gate g;
    char log[16384];
    size_t len;
    enum ev last;
    char tags[8192], cuts[8192]; /* the run of parse events not yet written */
    size_t tags_len, cuts_len;
    int err;
    int depth; /* element depth of what libxml2 got (1: inside the stream element) */
    bool in_tag;        /* what libxml2 got ends inside a tag */
    char first, quote, prev; /* its first byte, the quote it is in, the byte last seen */
};

static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < cap - *len);
    *len += (size_t)n;
}

static void put_escaped(char *buf, size_t cap, size_t *len, const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '\n') put(buf, cap, len, "\\n");
        else if (c == '\r') put(buf, cap, len, "\\r");
        else if (c == '\t') put(buf, cap, len, "\\t");
        else if (c == '\\') put(buf, cap, len, "\\\\");
        else put(buf, cap, len, "%c", c);
    }
}

/* Writes the pending run of parse events. */
static void flush_run(struct logger *l)
{
    if (l->last == EV_TAGS) {
        put(l->log, sizeof l->log, &l->len, "tags: ");
        put_escaped(l->log, sizeof l->log, &l->len, l->tags, l->tags_len);
        put(l->log, sizeof l->log, &l->len, "\n");
        if (l->cuts_len)
            put(l->log, sizeof l->log, &l->len, "cuts:%.*s\n", (int)l->cuts_len, l->cuts);
        l->tags_len = l->cuts_len = 0;
    }
    if (l->last == EV_TEXT)
        put(l->log, sizeof l->log, &l->len, "\n");
    l->last = EV_NONE;
}

static void begin(struct logger *l, enum ev e)
{
    if (l->last == e)
        return;
    flush_run(l);
    l->last = e;
    if (e == EV_TEXT)
        put(l->log, sizeof l->log, &l->len, "text: ");
}

/* The entries after a tag's entry t, written " {...}" to buf. */
static void put_entries(pxmpp__gate *g, char *buf, size_t cap, size_t *len, const struct pxmpp__cut *t)
{
    put(buf, cap, len, " {");
    for (uint32_t k = 1; k <= t->len; k++) {
        const struct pxmpp__cut *c = &t[k];
        const char *b = g->cut_base + c->off;
        if (k > 1)
            put(buf, cap, len, ", ");
        switch (c->kind) {
        case CUT_ATTR:
        case CUT_ATTRX:
            put(buf, cap, len, "attr%s %.*s=%.*s", c->kind == CUT_ATTRX ? "x" : "", (int)c->nlen, b + c->noff,
                (int)c->vlen, b + c->voff);
            break;
        case CUT_VAL:
        case CUT_VALX:
            put(buf, cap, len, "val%s %.*s", c->kind == CUT_VALX ? "x" : "", (int)c->len, b);
            break;
        case CUT_LANG:
        case CUT_LANGX:
            put(buf, cap, len, "lang%s %.*s", c->kind == CUT_LANGX ? "x" : "", (int)c->len, b);
            break;
        case CUT_KEEP:
            put(buf, cap, len, "keep");
            break;
        case CUT_NSW:
            put(buf, cap, len, "nsw %.*s", (int)c->vlen, b + c->voff);
            break;
        default:
            fail_msg("entry of kind %d inside a tag", c->kind);
        }
    }
    put(buf, cap, len, "}");
}

/* The gate's entries for one start tag, taken as the stream's on_start takes them. */
static void log_tag_cuts(struct logger *l)
{
    pxmpp__gate *g = &l->g;
    assert_true(g->cuts_used < g->cuts_n);
    const struct pxmpp__cut *t = &g->cuts[g->cuts_used];
    assert_int_equal(t->kind, CUT_TAG);
    g->cuts_used += 1 + (size_t)t->len;
    assert_true(g->cuts_used <= g->cuts_n);
    put_entries(g, l->cuts, sizeof l->cuts, &l->cuts_len, t);
}

/* A tag the gate read itself: "start: <NAME> {entries}" ("<NAME/>" for an empty one), "end: </NAME>". */
static void log_element(struct logger *l, const pxmpp__gate_event *ev)
{
    flush_run(l);
    if (ev->kind == PXMPP__GATE_END) {
        put(l->log, sizeof l->log, &l->len, "end: </%.*s>\n", (int)ev->len, ev->data);
        l->depth--;
        return;
    }
    assert_int_equal(ev->tag->kind, CUT_START);
    assert_int_equal(ev->tag->nlen, ev->len);
    assert_true(ev->tag == &l->g.cuts[l->g.cuts_used]); /* in document order with libxml2's tags */
    l->g.cuts_used += 1 + (size_t)ev->tag->len;
    put(l->log, sizeof l->log, &l->len, "start: <%.*s%s", (int)ev->len, ev->data, ev->empty ? "/>" : ">");
    put_entries(&l->g, l->log, sizeof l->log, &l->len, ev->tag);
    put(l->log, sizeof l->log, &l->len, "\n");
    if (!ev->empty)
        l->depth++;
}

/* What libxml2 would do with d[0, n): the gate gives it tags, white space, the
   XML declaration and text before an error; every start tag inside the stream
   element has its entry, ready when the tag's last byte is given. */
static void log_tags(struct logger *l, const char *d, size_t n)
{
    begin(l, EV_TAGS);
    assert_true(l->tags_len + n <= sizeof l->tags);
    memcpy(l->tags + l->tags_len, d, n);
    l->tags_len += n;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (!l->in_tag) {
            l->in_tag = c == '<';
            l->first = 0;
        } else if (!l->first) {
            l->first = c;
        } else if (l->quote) {
            l->quote = c == l->quote ? 0 : l->quote;
        } else if (c == '\'' || c == '"') {
            l->quote = c;
        } else if (c == '>') {
            l->in_tag = false;
            if (l->first == '/') {
                l->depth--;
            } else if (l->first != '?') {
                if (l->depth >= 1)
                    log_tag_cuts(l);
                if (l->prev != '/')
                    l->depth++;
            }
        }
        l->prev = c;
    }
}

static void log_text(struct logger *l, const char *t, size_t n)
{
    begin(l, EV_TEXT);
    put_escaped(l->log, sizeof l->log, &l->len, t, n);
}

static const char *code_name(int code)
{
    switch (code) {
    case PXMPP_ERR_XML: return "xml";
    case PXMPP_ERR_RESTRICTED_XML: return "restricted-xml";
    case PXMPP_ERR_ENCODING: return "encoding";
    case PXMPP_ERR_LIMIT: return "limit";
    case PXMPP_ERR_NOMEM: return "nomem";
    default: return "other";
    }
}

static void log_fail(struct logger *l, int code, uint64_t off, const char *what)
{
    flush_run(l);
    put(l->log, sizeof l->log, &l->len, "error: %s at %llu: %s\n", code_name(code), (unsigned long long)off, what);
    l->err = code;
}

/* ---- the cases ----------------------------------------------------------------- */

struct gate_case {
    const char *name;
    const char *input;
    const char *log;
    bool whole_stream;  /* the input starts with the stream header (else: inside the stream element) */
    size_t max_stanza;  /* 0: 262144 */
};

static void logger_start(struct logger *l, const struct gate_case *c)
{
    memset(l, 0, sizeof *l);
    pxmpp__gate_init(&l->g, pxmpp_mem_default(), 8192, c->max_stanza ? c->max_stanza : 262144, 64, 64);
    pxmpp__gate_reset(&l->g, 0, false, !c->whole_stream);
    l->depth = c->whole_stream ? 0 : 1;
}

/* Feeds p[0, n) as the stream does: one event at a time until the gate wants more.
   Every call consumes bytes or hands on an event, and the bytes consumed add up. */
static void logger_feed(struct logger *l, const char *p, size_t n)
{
    if (l->err)
        return;
    const uint64_t start = l->g.lexed;
    size_t total = 0;
    for (;;) {
        pxmpp__gate_event ev;
        size_t used = pxmpp__gate_next(&l->g, p + total, n - total, &ev);
        assert_true(used <= n - total);
        total += used;
        assert_true(l->g.lexed == start + total);
        switch (ev.kind) {
        case PXMPP__GATE_MORE:
            assert_int_equal(total, n);
            return;
        case PXMPP__GATE_TAGS:
            assert_true(ev.len > 0);
            assert_true(ev.at < ev.end && ev.end <= l->g.lexed);
            log_tags(l, ev.data, ev.len);
            break;
        case PXMPP__GATE_TEXT:
            assert_true(ev.len > 0);
            log_text(l, ev.data, ev.len);
            break;
        case PXMPP__GATE_START:
        case PXMPP__GATE_END:
            assert_true(ev.at < ev.end && ev.end <= l->g.lexed);
            log_element(l, &ev);
            break;
        case PXMPP__GATE_FAIL:
            log_fail(l, ev.code, ev.at, ev.what);
            /* the error is sticky */
            pxmpp__gate_event again;
            assert_int_equal(pxmpp__gate_next(&l->g, p + total, n - total, &again), 0);
            assert_int_equal(again.kind, PXMPP__GATE_FAIL);
            assert_int_equal(again.code, ev.code);
            return;
        }
    }
}

static const char *logger_end(struct logger *l)
{
    flush_run(l);
    if (!l->err) /* (after an error, how far the gate got depends on the chunking) */
        put(l->log, sizeof l->log, &l->len, "end: lexed %llu, %s\n", (unsigned long long)l->g.lexed,
            pxmpp__gate_idle(&l->g) ? "idle" : "busy");
    pxmpp__gate_free(&l->g);
    return l->log;
}

static void check_log(const struct gate_case *c, const char *how, const char *got)
{
    if (strcmp(got, c->log) != 0)
        fail_msg("%s, %s:\n--- expected\n%s--- got\n%s", c->name, how, c->log, got);
}

/* The input whole, in pieces of every size, and cut in two at every offset. */
static void run_case(const struct gate_case *c)
{
    static struct logger l;
    size_t n = strlen(c->input);
    char how[64];
    logger_start(&l, c);
    logger_feed(&l, c->input, n);
    check_log(c, "whole", logger_end(&l));
    for (size_t k = 1; k < n; k++) {
        logger_start(&l, c);
        for (size_t i = 0; i < n; i += k) {
            /* a copy of just the piece, so that reading past it is caught */
            size_t m = n - i < k ? n - i : k;
            char *piece = malloc(m);
            assert_non_null(piece);
            memcpy(piece, c->input + i, m);
            logger_feed(&l, piece, m);
            free(piece);
        }
        snprintf(how, sizeof how, "in pieces of %zu bytes", k);
        check_log(c, how, logger_end(&l));
    }
    for (size_t cut = 1; cut < n; cut++) {
        logger_start(&l, c);
        char *a = malloc(cut), *b = malloc(n - cut);
        assert_true(a && b);
        memcpy(a, c->input, cut);
        memcpy(b, c->input + cut, n - cut);
        logger_feed(&l, a, cut);
        logger_feed(&l, b, n - cut);
        free(a);
        free(b);
        snprintf(how, sizeof how, "cut at %zu", cut);
        check_log(c, how, logger_end(&l));
    }
}

static const struct gate_case gate_cases[] = {
    { "stream header, a stanza, close",
      "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
      "to='example.com' version='1.0'>\n<presence/></stream:stream> \n",
      "tags: <?xml version='1.0'?>\\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>\n"
      "start: <presence/> {}\n"
      "tags: </stream:stream>\n"
      "end: lexed 168, idle\n", true, 0 },
    { "plain message",
      "<message to='juliet@example.com' type='chat' id='m1'><body>Hi there</body></message>", "start: <message> {attr to=juliet@example.com, attr type=chat, attr id=m1}\n"
      "start: <body> {}\n"
      "text: Hi there\n"
      "end: </body>\n"
      "end: </message>\n"
      "end: lexed 84, idle\n", false, 0 },
    { "prefixed attributes and namespaces",
      "<iq type='get' id='r1'><query xmlns='jabber:iq:roster' xml:lang='en' a:b='x' xmlns:a='urn:a'/></iq>"
      "<iq type='get' id='r2'><query xmlns='urn:xmpp:ping' ver=\"2\" xmlns:a='urn:a' a:c='&lt;'/></iq>",
      "start: <iq> {attr type=get, attr id=r1}\n"
      "tags: <query xml:lang='en' a:b='' xmlns:a='urn:a'/>\n"
      "cuts: {nsw jabber:iq:roster, keep, val x}\n"
      "end: </iq>\n"
      "start: <iq> {attr type=get, attr id=r2}\n"
      "tags: <query xmlns:a='urn:a' a:c=''/>\n"
      "cuts: {nsw urn:xmpp:ping, attr ver=2, valx &lt;}\n"
      "end: </iq>\n"
      "end: lexed 192, idle\n", false, 0 },
    { "references and white space in attribute values",
      "<message to='a&amp;b@x' id=\"q&#x41;\tz\" xml:lang='e&#110;'><body/></message>", "start: <message> {attrx to=a&amp;b@x, attrx id=q&#x41;\tz, langx e&#110;}\n"
      "start: <body/> {}\n"
      "end: </message>\n"
      "end: lexed 75, idle\n", false, 0 },
    { "references in text",
      "<message><body>&lt;&#233;&#x1F600;&quot;&apos;&gt;&amp;</body></message>", "start: <message> {}\n"
      "start: <body> {}\n"
      "text: <\xc3\xa9\xf0\x9f\x98\x80\"'>&\n"
      "end: </body>\n"
      "end: </message>\n"
      "end: lexed 72, idle\n", false, 0 },
    { "CDATA sections",
      "<message><body>a<![CDATA[<x> ]] ]]]>b<![CDATA[]]><![CDATA[&amp;]]></body></message>", "start: <message> {}\n"
      "start: <body> {}\n"
      "text: a<x> ]] ]b&amp;\n"
      "end: </body>\n"
      "end: </message>\n"
      "end: lexed 83, idle\n", false, 0 },
    { "line ends",
      "<message><body>a\r\nb\rc\r</body><subject>\r\n\n\r\r\n</subject></message>", "start: <message> {}\n"
      "start: <body> {}\n"
      "text: a\\nb\\nc\\n\n"
      "end: </body>\n"
      "start: <subject> {}\n"
      "text: \\n\\n\\n\\n\n"
      "end: </subject>\n"
      "end: </message>\n"
      "end: lexed 64, idle\n", false, 0 },
    { "multibyte UTF-8",
      "<message to='\xc3\xa9@x' id='\xe2\x82\xac'><body>h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80</body>"
      "<subject xml:lang='\xc3\xa9'>\xe6\x97\xa5</subject><\xc3\xa9l \xc3\xa9='1'/></message>", "start: <message> {attr to=\xc3\xa9@x, attr id=\xe2\x82\xac}\n"
      "start: <body> {}\n"
      "text: h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\n"
      "end: </body>\n"
      "start: <subject> {lang \xc3\xa9}\n"
      "text: \xe6\x97\xa5\n"
      "end: </subject>\n"
      "tags: <\xc3\xa9l \xc3\xa9='1'/>\n"
      "cuts: {}\n"
      "end: </message>\n"
      "end: lexed 115, idle\n", false, 0 },
    { "white space between stanzas",
      "<presence/>\n \t<presence\n/>\r\n<presence type = \"unavailable\" />", "start: <presence/> {}\n"
      "start: <presence/> {}\n"
      "start: <presence/> {attr type=unavailable}\n"
      "end: lexed 61, idle\n", false, 0 },
    { "end tag of a plain element that does not match",
      "<message><body>a</bodx></message>",
      "start: <message> {}\n"
      "start: <body> {}\n"
      "text: a\n"
      "error: xml at 16: not well-formed: end tag </bodx> does not match <body>\n", false, 0 },
    { "end tag of a plain element that is not plain",
      "<message><body>a</body x='1'></message>",
      "start: <message> {}\n"
      "start: <body> {}\n"
      "text: a\n"
      "error: xml at 16: not well-formed: end tag does not match <body>\n", false, 0 },
    { "plain and prefixed elements nested",
      "<message><x:a xmlns:x='urn:x'><body>b</body></x:a><c xml:lang='en'/></message>",
      "start: <message> {}\n"
      "tags: <x:a xmlns:x='urn:x'>\n"
      "cuts: {}\n"
      "start: <body> {}\n"
      "text: b\n"
      "end: </body>\n"
      "tags: </x:a>\n"
      "start: <c/> {lang en}\n"
      "end: </message>\n"
      "end: lexed 78, idle\n", false, 0 },
    { "a name given twice", "<message a='1' a='2'/>", "tags: <message a='1' a='2'/>\n"
      "cuts: {}\n"
      "end: lexed 22, idle\n", false, 0 },
    { "values with references, quotes and >", "<message a='&lt;' b='>' c='1\"'/><x y='z'  />", "start: <message/> {attrx a=&lt;, attr b=>, attr c=1\"}\n"
      "start: <x/> {attr y=z}\n"
      "end: lexed 44, idle\n", false, 0 },
    { "comment", "<message><body>x</body><!-- x --></message>", "start: <message> {}\n"
      "start: <body> {}\n"
      "text: x\n"
      "end: </body>\n"
      "error: restricted-xml at 25: restricted XML: comment not allowed (RFC 6120 \xc2\xa7" "11.1)\n", false, 0 },
    { "undeclared entity", "<message><body>a&foo;b</body></message>", "start: <message> {}\n"
      "start: <body> {}\n"
      "text: a\n"
      "error: restricted-xml at 20: restricted XML: entity reference other than the predefined ones\n", false, 0 },
    { "malformed reference", "<message><body>a&#xD800;</body></message>", "start: <message> {}\n"
      "start: <body> {}\n"
      "text: a\n"
      "error: xml at 23: not well-formed: malformed character or entity reference\n", false, 0 },
    { "']]>' in text", "<message><body>a]]>b</body></message>", "start: <message> {}\n"
      "start: <body> {}\n"
      "text: a]]\n"
      "error: xml at 18: not well-formed: ']]>' in text\n", false, 0 },
    { "'<' in an attribute value", "<message to='a<b'/>", "error: xml at 14: not well-formed: '<' in an attribute value\n", false, 0 },
    { "text outside a stanza", "<presence/> hi", "start: <presence/> {}\n"
      "error: xml at 12: not well-formed: text outside of a stanza\n", false, 0 },
    { "processing instruction", "<message><?foo bar?></message>", "start: <message> {}\n"
      "error: restricted-xml at 14: restricted XML: processing instruction not allowed (RFC 6120 \xc2\xa7" "11.1)\n", false, 0 },
    { "invalid UTF-8", "<message><body>ok\xc3\x28</body></message>", "start: <message> {}\n"
      "start: <body> {}\n"
      "text: ok\xc3\n"
      "error: xml at 18: not well-formed: invalid UTF-8 or a character not allowed in XML\n", false, 0 },
    { "stanza over the limit", "<message to='a@b'><body>0123456789012345678901234567890123456789</body></message>",
      "start: <message> {attr to=a@b}\n"
      "start: <body> {}\n"
      "text: 0123456789012345678901234567890123456789\n"
      "error: limit at 64: top-level element larger than 64 bytes\n", false, 64 },
    { "data after the close tag",
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
      "</stream:stream>\n x", "tags: <stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'></stream:stream>\n"
      "error: xml at 117: not well-formed: data after the end of the stream\n", true, 0 },
    { "partial tag at the end", "<presence/><message to='a", "start: <presence/> {}\n"
      "end: lexed 25, busy\n", false, 0 },
    { "CDATA outside a stanza", "<presence/><![CDATA[x]]>", "start: <presence/> {}\n"
      "error: xml at 19: not well-formed: text outside of a stanza\n", false, 0 },
    { "document type declaration", "<!DOCTYPE stream>", "error: restricted-xml at 2: restricted XML: document type or entity declaration not allowed (RFC 6120 \xc2\xa7" "11.1)\n", true, 0 },
    { "XML declaration after the start",
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
      "<?xml version='1.0'?>", "tags: <stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\n"
      "error: xml at 104: not well-formed: XML declaration not at the start of the stream\n", true, 0 },
    /* white space before the header is dropped by the gate (a restart's header may follow
       the line feed a peer wrote after its last element) */
    { "end tag before the stream header", " </stream:stream>",
      "error: xml at 16: not well-formed: end tag without a start tag\n", true, 0 },
    { "white space before the header", " \r\n\t<?xml version='1.0'?><stream:stream xmlns='jabber:client'>",
      "tags: <?xml version='1.0'?><stream:stream xmlns='jabber:client'>\n"
      "end: lexed 62, idle\n", true, 0 },
    /* an encoding other than UTF-8 is refused at the closing quote of its name, before
       libxml2 (whose own outcome depends on the chunking) gets it; UTF-8 in any case passes */
    { "encoding UTF-32 declared", "<?xml version='1.0' encoding='UTF-32'?><stream:stream>",
      "tags: <?xml version='1.0' encoding='UTF-32\n"
      "error: encoding at 36: unsupported encoding: the XML declaration names 'UTF-32' (XMPP is UTF-8)\n", true, 0 },
    { "encoding utf-8 declared", "<?xml version='1.0' encoding = \"utf-8\"?><stream:stream>",
      "tags: <?xml version='1.0' encoding = \"utf-8\"?><stream:stream>\n"
      "end: lexed 55, idle\n", true, 0 },
    { "long text and values",
      "<message id='0123456789abcdefghijklmnopqrstuvwxyz0123456789' xml:lang='0123456789abcdefghijklmnopqrstuvwxyz'>"
      "<body>0123456789abcdefghijklmnopqrstuvwxyz0123456789 &amp; 0123456789abcdefghijklmnopqrstu]]</body></message>",
      "start: <message> {attr id=0123456789abcdefghijklmnopqrstuvwxyz0123456789, lang 0123456789abcdefghijklmnopqrstuvwxyz}\n"
      "start: <body> {}\n"
      "text: 0123456789abcdefghijklmnopqrstuvwxyz0123456789 & 0123456789abcdefghijklmnopqrstu]]\n"
      "end: </body>\n"
      "end: </message>\n"
      "end: lexed 218, idle\n", false, 0 },
};

static void test_gate_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof gate_cases / sizeof gate_cases[0]; i++)
        run_case(&gate_cases[i]);
}

/* PXMPP_GATE_DUMP=1: prints the log of each case fed whole (to write new cases). */
int main(void)
{
    if (getenv("PXMPP_GATE_DUMP")) {
        static struct logger l;
        for (size_t i = 0; i < sizeof gate_cases / sizeof gate_cases[0]; i++) {
            logger_start(&l, &gate_cases[i]);
            logger_feed(&l, gate_cases[i].input, strlen(gate_cases[i].input));
            printf("== %s\n%s", gate_cases[i].name, logger_end(&l));
        }
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gate_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
