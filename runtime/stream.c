/* The stream: libxml2's SAX2 push parser wired to the builder, plus the stream
 * header, restarts, limits, restricted XML and stream errors (RFC 6120 §4, §11). */
#include "internal.h"

#include <pxmpp/stream.h>
#include <pxmpp/writer.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <openssl/crypto.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

enum state { ST_HEADER, ST_OPEN, ST_CLOSED };
enum cut_kind { /* see struct cut; libxml2 does not get the bytes of VAL and after */
    CUT_TAG, CUT_KEEP, CUT_VAL, CUT_VALX, CUT_NS, CUT_NSW, CUT_ATTR, CUT_ATTRX
};

struct pxmpp_stream {
    pxmpp_mem mem;
    pxmpp_role role;
    pxmpp_stream_callbacks cb;
    void *user;
    pxmpp_limits limits;
    unsigned flags;
    const char *content_ns;
    const pxmpp_registry *reg;

    xmlParserCtxtPtr ctxt;
    xmlSAXHandler sax;
    pxmpp__decoder *decoder;
    pxmpp_arena *arena;
    pxmpp_buf out;

    enum state state;
    size_t depth;          /* element depth in the current document (1 = stream element) */
    bool we_opened;        /* our header was written */
    bool we_closed;        /* our close tag was written */
    bool restart_pending;
    bool in_parse;         /* inside xmlParseChunk: callbacks may be running */
    bool refresh_pending;  /* the pending restart only renews libxml2's context (same stream) */
    bool pause_pending;    /* stop reading after the current element (pxmpp_stream_pause) */
    bool paused;           /* stopped: only pxmpp_stream_restart() continues */
    bool resuming;         /* feeding the synthetic header of a renewed context */
    pxmpp_buf resume_hdr;  /* the peer's stream start tag, rebuilt with its namespace declarations */
    uint64_t restart_at;   /* app offset where the restarted parser begins */
    bool peer_error;
    uint64_t fed;          /* app offset of the next byte to give to libxml2 */
    uint64_t lexed;        /* app offset of the next byte to lex (bytes accepted from the app) */
    uint64_t ctxt_base;    /* app offset of the first byte given to the current parser */
    size_t prefix_len;     /* synthetic bytes given to the current parser before app bytes */
    uint64_t skipped;      /* app bytes the gate kept from the current parser (text it delivered itself) */
    uint64_t stanza_offset;

    /* The gate: a byte-level lexer in front of libxml2.  It hands libxml2 only
       complete tags (linear cost whatever the chunking), enforces the size limits
       byte-exactly, and rejects restricted XML and malformed references as soon
       as they start. */
    uint8_t lx, lx_ret;     /* state, state to return to after a reference */
    uint8_t lx_n;           /* bytes collected in lx_buf */
    char lx_buf[44];
    bool lx_end_tag, lx_slash, lx_closed, lx_doc_start;
    uint32_t lx_attrs;      /* '=' seen in the current tag */
    uint32_t lx_depth;      /* element depth as lexed (1 = the stream element) */
    uint64_t lx_boundary;   /* app offset after the last header or top-level element */
    uint32_t u8_need, u8_cp, u8_min; /* UTF-8 sequence in progress across feeds */
    uint8_t lx_rb;          /* ']' just before the current text position (0..2): "]]>" check */
    bool lx_cr;             /* the text delivered last ended with a CR (a LF right after it is dropped) */
    char *hold;             /* a tag that began in an earlier chunk */
    size_t hold_len, hold_cap;

    /* Attribute values the gate keeps out of libxml2's sight.  For every start tag
       inside the stream element the gate records a TAG entry; for a tag it lexed
       in one pass (fast_tag) the entry is followed by one entry per attribute
       other than a namespace declaration: VAL (its value was cut: libxml2 gets
       the tag with an empty value, on_start takes the value from here), VALX (the
       same for a value with references or white space, which on_start decodes:
       read_value) or KEEP (xml:lang, xml:space: left to libxml2), plus NS for a
       default namespace declaration whose value was cut (libxml2 gets xmlns='')
       or NSW for one cut whole (libxml2 does not see it); on_start keeps the
       default namespace in scope itself (see dns).  In a tag of plain shape
       (cut_tag) an unprefixed attribute is cut whole, name and all (ATTR, ATTRX:
       libxml2 does not see it; on_start interns the name and hands it to the
       builder with the others, in document order).  So libxml2 parses element
       names, prefixed names and structure, and neither allocates nor parses URIs
       for each stanza.  Offsets
       are into cut_base, the input of the running gate_lex (or the held tag);
       every entry is used before it returns. */
    struct cut {
        size_t off;          /* TAG: the tag's '<'; ATTR: the space before the name; others: the value */
        const xmlChar *name; /* ATTR: the name, interned by on_start */
        uint32_t len;        /* TAG: entries that follow (0: take libxml2's values); others: bytes */
        uint32_t voff, vlen; /* ATTR, NS, NSW: the value, from off */
        uint32_t noff;       /* ATTR: the name, from off */
        uint16_t nlen;
        uint8_t kind;
    } *cuts;
    size_t cuts_n, cuts_cap;
    size_t cuts_fed;        /* entries whose bytes went to libxml2 */
    size_t cuts_used;       /* entries on_start has taken */
    const char *cut_base;
    char *stage;            /* a range of input with the cut values taken out, for libxml2 */
    size_t stage_cap;
    /* Where cut bytes lie in what libxml2 is parsing: from libxml2 offset `lib` on,
       `cum` more app bytes than libxml2 bytes (this feed only; see cur_offset). */
    struct brk {
        uint64_t lib, cum;
    } *brk;
    size_t brk_n;
    uint64_t lib_fed;       /* bytes given to the current parser, synthetic header included */
    const xmlChar **dns;    /* [d]: the default namespace in scope at depth d (1..max_depth) */
    struct {
        const xmlChar *local, *uri;
        const pxmpp_type_desc *type;
    } tops[4];              /* types of top-level elements, by libxml2's name pointers */
    struct {
        uint64_t w[2];        /* the name's bytes, zero-padded (names up to 16 bytes) */
        const xmlChar *name;  /* in libxml2's dictionary; NULL: empty slot */
    } names[32];            /* attribute names cut lately (intern_name) */

    int err;
    char reason[256];
    uint64_t err_offset;

    uint64_t id_counter;
    uint32_t id_salt;
    char peer_lang[64];
    bool has_peer_lang;
};

/* Distinct names after which libxml2's context is renewed at the next stanza boundary. */
#define PXMPP_REFRESH_NAMES 2000

static const char synthetic_header[] =
    "<stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/* ---- errors --------------------------------------------------------------- */

static uint64_t cur_offset(pxmpp_stream *s)
{
    if (!s->ctxt)
        return s->fed;
    long c = xmlByteConsumed(s->ctxt);
    if (c < 0 || (uint64_t)c < s->prefix_len)
        return s->ctxt_base;
    uint64_t cut = 0;
    size_t lo = 0, hi = s->brk_n; /* the last breakpoint at or before c */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->brk[mid].lib <= (uint64_t)c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo)
        cut = s->brk[lo - 1].cum;
    uint64_t off = s->ctxt_base + ((uint64_t)c - s->prefix_len) + s->skipped + cut;
    return off > s->fed ? s->fed : off;
}

enum lexstate {
    LX_TEXT, LX_LT, LX_TAG, LX_TQ1, LX_TQ2, LX_BANG, LX_CDATA, LX_PI_NAME, LX_XMLDECL, LX_REF
};

/* Offset reported for a failure of an API call: where the parser is when the call
   comes from a callback, otherwise everything fed so far. */
static uint64_t api_offset(pxmpp_stream *s) { return s->in_parse ? cur_offset(s) : s->lexed; }

static int write_bytes(pxmpp_stream *s, const char *d, size_t n)
{
    if (!s->cb.write)
        return 0;
    return s->cb.write(s->user, d, n) < 0 ? PXMPP_ERR_WRITE : 0;
}

int pxmpp__stream_condition_for(int code)
{
    switch (code) {
    case PXMPP_ERR_XML: return PXMPP_STREAM_ERROR_CONDITION_NOT_WELL_FORMED;
    case PXMPP_ERR_RESTRICTED_XML: return PXMPP_STREAM_ERROR_CONDITION_RESTRICTED_XML;
    case PXMPP_ERR_ENCODING: return PXMPP_STREAM_ERROR_CONDITION_UNSUPPORTED_ENCODING;
    case PXMPP_ERR_NAMESPACE: return PXMPP_STREAM_ERROR_CONDITION_INVALID_NAMESPACE;
    case PXMPP_ERR_VERSION: return PXMPP_STREAM_ERROR_CONDITION_UNSUPPORTED_VERSION;
    case PXMPP_ERR_UNSUPPORTED_STANZA: return PXMPP_STREAM_ERROR_CONDITION_UNSUPPORTED_STANZA_TYPE;
    case PXMPP_ERR_LIMIT: return PXMPP_STREAM_ERROR_CONDITION_POLICY_VIOLATION;
    case PXMPP_ERR_NOMEM: return PXMPP_STREAM_ERROR_CONDITION_RESOURCE_CONSTRAINT;
    case PXMPP_ERR_BAD_FORMAT: return PXMPP_STREAM_ERROR_CONDITION_BAD_FORMAT;
    default: return PXMPP_STREAM_ERROR_CONDITION_ABSENT;
    }
}

static int write_header(pxmpp_stream *s, const pxmpp_stream_header *h);

/* The flags of the writer for what the stream writes (PXMPP_STREAM_REPLACE_INVALID). */
static unsigned write_flags(const pxmpp_stream *s)
{
    return (s->flags & PXMPP_STREAM_REPLACE_INVALID) ? PXMPP_WRITE_REPLACE_INVALID : 0;
}

/* Sends <stream:error/> (with our header first when we have not sent one) and our close
   tag.  A text that cannot be written (PXMPP_ERR_INVALID_CHAR) leaves everything as it
   was: nothing is written. */
static int send_error_bytes(pxmpp_stream *s, pxmpp_stream_error_condition cond, const char *text,
                            const pxmpp_type_desc *app, const void *app_data)
{
    if (!s->cb.write || s->we_closed || (s->flags & PXMPP_STREAM_CONTENT_ONLY))
        return 0;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
                     pxmpp_stream_error_condition_str(cond));
    if (n < 0 || (size_t)n >= sizeof buf)
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_buf b;
    pxmpp_buf_init(&b, &s->mem);
    int rc = pxmpp_buf_append(&b, buf, (size_t)n);
    if (!rc && text)
        rc = pxmpp_buf_append(&b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>", 50);
    if (!rc && text)
        rc = pxmpp_buf_append_escaped_ex(&b, text, strlen(text), 0, write_flags(s));
    if (!rc && text)
        rc = pxmpp_buf_append(&b, "</text>", 7);
    if (!rc && app) /* RFC 6120 §4.9.4: the application-specific condition comes last */
        rc = pxmpp_write(&b, app, app_data, s->content_ns, write_flags(s));
    if (!rc)
        rc = pxmpp_buf_append(&b, "</stream:error></stream:stream>", 31);
    if (rc == PXMPP_ERR_INVALID_CHAR) {
        pxmpp_buf_free(&b);
        return rc;
    }
    if (!rc && !s->we_opened) {
        /* RFC 6120 §4.9.1.1: the receiving entity opens a stream before the error */
        pxmpp_stream_header h = { 0 };
        if ((rc = write_header(s, &h))) {
            pxmpp_buf_free(&b);
            return rc;
        }
    }
    if (!rc)
        rc = write_bytes(s, b.data, b.len);
    pxmpp_buf_free(&b);
    s->we_closed = true;
    return rc;
}

static int fail_at(pxmpp_stream *s, int code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static int fail_at(pxmpp_stream *s, int code, uint64_t offset, const char *fmt, ...)
{
    if (s->err)
        return s->err;
    s->err = code;
    s->err_offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
    for (char *r = s->reason; *r; r++)
        if (*r == '\n' || *r == '\r' || *r == '\t')
            *r = ' ';
    if (s->ctxt)
        xmlStopParser(s->ctxt);
    pxmpp_stream_error_condition cond = (pxmpp_stream_error_condition)pxmpp__stream_condition_for(code);
    if (cond != PXMPP_STREAM_ERROR_CONDITION_ABSENT)
        (void)send_error_bytes(s, cond, NULL, NULL, NULL);
    if (s->cb.error)
        s->cb.error(s->user, code, s->reason, offset);
    return code;
}

#define FAIL(s, code, ...) fail_at((s), (code), cur_offset(s), __VA_ARGS__)

/* ---- SAX handlers ------------------------------------------------------------ */

static void on_serror(void *user, xmlErrorPtr e)
{
    pxmpp_stream *s = user;
    if (!e || e->level < XML_ERR_ERROR || s->err)
        return;
    int code = PXMPP_ERR_XML;
    if (e->code == XML_ERR_UNDECLARED_ENTITY || e->code == XML_WAR_UNDECLARED_ENTITY ||
        e->code == XML_ERR_ENTITY_PE_INTERNAL)
        code = PXMPP_ERR_RESTRICTED_XML;
    else if (e->code == XML_ERR_UNSUPPORTED_ENCODING || e->code == XML_ERR_INVALID_ENCODING)
        code = PXMPP_ERR_ENCODING;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", e->message ? e->message : "XML error");
    /* libxml2's line numbers count only what it saw (not the text the gate kept
       from it): the offset says where, so " line N" goes */
    for (char *l = strstr(msg, " line "); l; l = strstr(l, " line ")) {
        char *d = l + 6;
        while (*d >= '0' && *d <= '9')
            d++;
        if (d > l + 6)
            memmove(l, d, strlen(d) + 1);
        else
            l += 6;
    }
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    FAIL(s, code, "%s %s",
         code == PXMPP_ERR_RESTRICTED_XML ? "restricted XML:"
         : code == PXMPP_ERR_ENCODING     ? "unsupported encoding:"
                                          : "not well-formed:",
         msg);
}

static void restricted(pxmpp_stream *s, const char *what)
{
    FAIL(s, PXMPP_ERR_RESTRICTED_XML, "restricted XML: %s not allowed (RFC 6120 §11.1)", what);
}

static void on_comment(void *user, const xmlChar *v)
{
    (void)v;
    restricted(user, "comment");
}

static void on_pi(void *user, const xmlChar *t, const xmlChar *d)
{
    (void)t;
    (void)d;
    restricted(user, "processing instruction");
}

static void on_subset(void *user, const xmlChar *n, const xmlChar *e, const xmlChar *sid)
{
    (void)n;
    (void)e;
    (void)sid;
    restricted(user, "document type declaration");
}

static xmlEntityPtr on_get_entity(void *user, const xmlChar *name)
{
    (void)name;
    restricted(user, "entity reference");
    return NULL;
}

static void on_entity_decl(void *user, const xmlChar *n, int t, const xmlChar *p, const xmlChar *sy, xmlChar *c)
{
    (void)n;
    (void)t;
    (void)p;
    (void)sy;
    (void)c;
    restricted(user, "entity declaration");
}

static void on_reference(void *user, const xmlChar *name)
{
    (void)name;
    restricted(user, "entity reference");
}

static bool str_eq(const xmlChar *a, const char *b) { return a && strcmp((const char *)a, b) == 0; }

/* The component protocol (XEP-0114: jabber:component:accept and :connect) predates
   stream versions: its headers carry none. */
static bool versionless(const pxmpp_stream *s) { return strncmp(s->content_ns, "jabber:component:", 17) == 0; }

/* Rebuilds the peer's stream start tag (name, namespace declarations, version) so that
   a renewed parser context sees the same prefixes. */
static int save_resume_header(pxmpp_stream *s, const xmlChar *prefix, int nns, const xmlChar **nss)
{
    pxmpp_buf *b = &s->resume_hdr;
    b->len = 0;
    int rc = pxmpp_buf_append(b, "<", 1);
    if (!rc && prefix) {
        rc = pxmpp_buf_append(b, (const char *)prefix, strlen((const char *)prefix));
        if (!rc) rc = pxmpp_buf_append(b, ":", 1);
    }
    if (!rc) rc = pxmpp_buf_append(b, "stream", 6);
    for (int i = 0; i < nns && !rc; i++) {
        const char *pf = (const char *)nss[2 * i], *u = (const char *)nss[2 * i + 1];
        rc = pxmpp_buf_append(b, pf ? " xmlns:" : " xmlns", pf ? 7 : 6);
        if (!rc && pf) rc = pxmpp_buf_append(b, pf, strlen(pf));
        if (!rc) rc = pxmpp_buf_append(b, "='", 2);
        if (!rc) rc = pxmpp_buf_append_escaped(b, u ? u : "", u ? strlen(u) : 0, 1);
        if (!rc) rc = pxmpp_buf_append(b, "'", 1);
    }
    if (!rc) rc = pxmpp_buf_append(b, " version='1.0'>", 15);
    return rc;
}

static void header_start(pxmpp_stream *s, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
                         const xmlChar **nss, int na, const xmlChar **attrs)
{
    if (s->resuming) {
        s->state = ST_OPEN;
        return;
    }
    const char *enc = s->ctxt->encoding ? (const char *)s->ctxt->encoding
                      : s->ctxt->input && s->ctxt->input->encoding ? (const char *)s->ctxt->input->encoding
                                                                   : NULL;
    if (enc && strcasecmp(enc, "UTF-8") != 0 && strcasecmp(enc, "UTF8") != 0) {
        FAIL(s, PXMPP_ERR_ENCODING, "unsupported encoding '%.40s': XMPP streams are UTF-8", enc);
        return;
    }
    if (!str_eq(local, "stream") || !str_eq(uri, PXMPP_NS_STREAM)) {
        FAIL(s, PXMPP_ERR_NAMESPACE, "the stream element must be {%s}stream, got {%.80s}%.40s", PXMPP_NS_STREAM,
             uri ? (const char *)uri : "", (const char *)local);
        return;
    }
    const char *content = NULL;
    for (int i = 0; i < nns; i++)
        if (!nss[2 * i])
            content = (const char *)nss[2 * i + 1];
    if (!content || strcmp(content, s->content_ns) != 0) {
        FAIL(s, PXMPP_ERR_NAMESPACE, "content namespace must be '%s', got '%.80s'", s->content_ns,
             content ? content : "(none)");
        return;
    }
    pxmpp_stream_header h = { 0 };
    h.content_ns = s->content_ns;
    char vals[5][1024];
    for (int i = 0; i < na; i++) {
        const xmlChar **a = attrs + 5 * i;
        size_t len = (size_t)(a[4] - a[3]);
        if (len >= sizeof vals[0]) {
            FAIL(s, PXMPP_ERR_LIMIT, "stream header attribute too long");
            return;
        }
        int slot = -1;
        if (!a[2] && str_eq(a[0], "to")) slot = 0;
        else if (!a[2] && str_eq(a[0], "from")) slot = 1;
        else if (!a[2] && str_eq(a[0], "id")) slot = 2;
        else if (!a[2] && str_eq(a[0], "version")) slot = 3;
        else if (str_eq(a[2], PXMPP_NS_XML) && str_eq(a[0], "lang")) slot = 4;
        if (slot < 0)
            continue;
        pxmpp__decode_amp(vals[slot], (const char *)a[3], len);
        const char **dst[5] = { &h.to, &h.from, &h.id, &h.version, &h.lang };
        *dst[slot] = vals[slot];
    }
    if (h.version ? h.version[0] != '1' || h.version[1] != '.' : !versionless(s)) {
        FAIL(s, PXMPP_ERR_VERSION, "unsupported stream version '%.20s' (1.x required)", h.version ? h.version : "");
        return;
    }
    if (save_resume_header(s, prefix, nns, nss)) {
        FAIL(s, PXMPP_ERR_NOMEM, "out of memory");
        return;
    }
    s->has_peer_lang = h.lang && strlen(h.lang) < sizeof s->peer_lang;
    if (s->has_peer_lang)
        strcpy(s->peer_lang, h.lang);
    s->state = ST_OPEN;
    if (s->cb.opened && !(s->flags & PXMPP_STREAM_CONTENT_ONLY))
        s->cb.opened(s->user, &h);
}

static int ref_value(const char *r, uint32_t *cp);
static size_t utf8_put(char u[4], uint32_t cp);

/* A value cut from its tag that holds references or white space, read as XML 1.0
   §3.3.3 says: references decoded (the gate checked them), then each tab, LF and
   CR, and CR LF, read as one space; '&' is written "&#38;" as libxml2 does (see
   pxmpp__rattr).  The result is in the stanza arena. */
static const char *read_value(pxmpp_stream *s, const char *v, size_t *len)
{
    char *o = pxmpp__arena_alloc_raw(s->arena, *len + 1);
    if (!o)
        return NULL;
    size_t m = 0, n = *len;
    for (size_t k = 0; k < n; k++) {
        char c = v[k];
        if (c == '&') {
            char r[sizeof s->lx_buf];
            size_t e = k + 1, rn = 0;
            while (e < n && v[e] != ';' && rn < sizeof r - 1)
                r[rn++] = v[e++];
            r[rn] = '\0';
            uint32_t cp = 0;
            (void)ref_value(r, &cp);
            if (cp == '&') {
                memcpy(o + m, "&#38;", 5);
                m += 5;
            } else {
                m += utf8_put(o + m, cp);
            }
            k = e;
        } else if (c == '\r') {
            if (k + 1 < n && v[k + 1] == '\n')
                k++;
            o[m++] = ' ';
        } else {
            o[m++] = c == '\t' || c == '\n' ? ' ' : c;
        }
    }
    o[m] = '\0';
    *len = m;
    return o;
}

/* An attribute name cut by the gate, as libxml2's dictionary holds it.  A stream
   uses a few dozen names over and over: the short ones are remembered by their
   bytes, which saves most dictionary lookups. */
static const xmlChar *intern_name(pxmpp_stream *s, const char *v, size_t len)
{
    if (len == 0 || len > 16)
        return xmlDictLookup(s->ctxt->dict, (const xmlChar *)v, (int)len);
    uint64_t w[2] = { 0, 0 };
    memcpy(w, v, len);
    uint64_t h = (w[0] ^ (w[1] * 0x9E3779B97F4A7C15ull) ^ len) * 0xFF51AFD7ED558CCDull;
    size_t k = (size_t)(h >> 59); /* 32 slots */
    if (s->names[k].name && s->names[k].w[0] == w[0] && s->names[k].w[1] == w[1] && s->names[k].name[len] == '\0')
        return s->names[k].name;
    const xmlChar *d = xmlDictLookup(s->ctxt->dict, (const xmlChar *)v, (int)len);
    if (d) {
        s->names[k].w[0] = w[0];
        s->names[k].w[1] = w[1];
        s->names[k].name = d;
    }
    return d;
}

static void on_start(void *user, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
                     const xmlChar **nss, int na, int nd, const xmlChar **attrs)
{
    pxmpp_stream *s = user;
    (void)nd;
    if (s->err || s->restart_pending || s->state == ST_CLOSED)
        return;
    /* the gate's entry for this tag: the values it cut, and the default namespace it
       cut (interned here, as libxml2 would have, before the names are counted) */
    struct cut *tag = NULL;
    const xmlChar *cut_ns = NULL;
    size_t nc = 0, nw = 0; /* attributes and namespace declarations cut whole */
    if (s->depth >= 1 && s->cuts_used < s->cuts_n && s->cuts[s->cuts_used].kind == CUT_TAG) {
        tag = &s->cuts[s->cuts_used];
        s->cuts_used += 1 + (size_t)tag->len;
        uint32_t nv = 0;
        for (uint32_t k = 1; k <= tag->len; k++) {
            struct cut *c = &tag[k];
            if (c->kind == CUT_NS || c->kind == CUT_NSW) {
                cut_ns = xmlDictLookup(s->ctxt->dict, (const xmlChar *)s->cut_base + c->off + c->voff, (int)c->vlen);
                if (c->kind == CUT_NSW)
                    nw++;
                if (!cut_ns) {
                    FAIL(s, PXMPP_ERR_NOMEM, "out of memory");
                    return;
                }
            } else if (c->kind == CUT_ATTR || c->kind == CUT_ATTRX) {
                c->name = intern_name(s, s->cut_base + c->off + c->noff, c->nlen);
                if (!c->name) {
                    FAIL(s, PXMPP_ERR_NOMEM, "out of memory");
                    return;
                }
                nc++;
            } else {
                nv++;
            }
        }
        if (tag->len == 0) {
            tag = NULL; /* lexed byte by byte: libxml2 saw it whole */
        } else if (nv != (uint32_t)na) {
            FAIL(s, PXMPP_ERR_XML, "not well-formed: attributes of <%.60s/>", (const char *)local);
            return;
        }
    }
    if (s->ctxt->dict && (size_t)xmlDictSize(s->ctxt->dict) > s->limits.max_names) {
        FAIL(s, PXMPP_ERR_LIMIT, "more than %zu distinct names in the stream", s->limits.max_names);
        return;
    }
    if ((size_t)na + nc + (size_t)nns + nw > s->limits.max_attrs) {
        FAIL(s, PXMPP_ERR_LIMIT, "more than %zu attributes on <%.60s/>", s->limits.max_attrs, (const char *)local);
        return;
    }
    /* The default namespace in scope, kept here because libxml2 saw an empty
       xmlns='' where the gate cut one: an unprefixed element is in it. */
    const xmlChar *def = s->depth >= 1 && s->depth <= s->limits.max_depth ? s->dns[s->depth] : NULL;
    for (int k = 0; k < nns; k++)
        if (!nss[2 * k])
            def = nss[2 * k + 1] && nss[2 * k + 1][0] ? nss[2 * k + 1] : NULL;
    if (cut_ns)
        def = cut_ns;
    if (!prefix)
        uri = def;
    s->depth++;
    if (s->depth <= s->limits.max_depth)
        s->dns[s->depth] = def;
    if (s->depth == 1) {
        header_start(s, local, prefix, uri, nns, nss, na, attrs);
        return;
    }
    if (s->peer_error) {
        FAIL(s, PXMPP_ERR_XML, "element after the peer's stream error");
        return;
    }
    int rc;
    if (s->depth == 2) {
        /* the type of a top-level element, remembered by libxml2's name pointers */
        size_t slot = ((uintptr_t)local >> 4) & 3;
        const pxmpp_type_desc *d = s->tops[slot].local == local && s->tops[slot].uri == uri ? s->tops[slot].type : NULL;
        if (!d) {
            d = pxmpp__registry_find(s->reg, (const char *)uri, (const char *)local, s->content_ns, 0, true);
            s->tops[slot].local = local;
            s->tops[slot].uri = uri;
            s->tops[slot].type = d;
        }
        if (!d) {
            FAIL(s, PXMPP_ERR_UNSUPPORTED_STANZA, "unsupported top-level element {%.80s}%.60s",
                 uri ? (const char *)uri : "", (const char *)local);
            return;
        }
        s->stanza_offset = cur_offset(s);
        pxmpp_arena_reset(s->arena);
        pxmpp_arena_set_limit(s->arena, s->limits.max_stanza_bytes * 8 + 65536);
        pxmpp__decoder_begin(s->decoder, s->arena, d, s->content_ns, s->has_peer_lang ? s->peer_lang : NULL);
    }
    size_t total = (size_t)na + nc;
    pxmpp__rattr stack_attrs[16];
    pxmpp__rattr *ra = stack_attrs;
    if (total > 16) {
        ra = pxmpp_arena_alloc(s->arena, total * sizeof *ra);
        if (!ra) {
            FAIL(s, PXMPP_ERR_NOMEM, "out of memory");
            return;
        }
    }
    /* in document order: the attributes cut whole from the gate's entries, the
       others from libxml2 (with the value from the entry when it was cut) */
    const struct cut *v = tag ? tag + 1 : NULL, *vend = tag ? tag + 1 + tag->len : NULL;
    int li = 0;
    for (size_t r = 0; r < total; r++) {
        while (v && v < vend && (v->kind == CUT_NS || v->kind == CUT_NSW))
            v++;
        if (v && v < vend && (v->kind == CUT_ATTR || v->kind == CUT_ATTRX)) {
            ra[r].local = (const char *)v->name;
            ra[r].ns = NULL;
            ra[r].value = s->cut_base + v->off + v->voff;
            ra[r].len = v->vlen;
        } else {
            const xmlChar **a = attrs + 5 * li++;
            ra[r].local = (const char *)a[0];
            ra[r].ns = (const char *)a[2];
            ra[r].value = (const char *)a[3];
            ra[r].len = (size_t)(a[4] - a[3]);
            if (v && (v->kind == CUT_VAL || v->kind == CUT_VALX)) {
                ra[r].value = s->cut_base + v->off;
                ra[r].len = v->len;
            }
        }
        if (v && (v->kind == CUT_VALX || v->kind == CUT_ATTRX) &&
            !(ra[r].value = read_value(s, ra[r].value, &ra[r].len))) {
            FAIL(s, PXMPP_ERR_NOMEM, "%s", pxmpp_arena_hit_limit(s->arena) ? "stanza too large" : "out of memory");
            return;
        }
        if (v)
            v++;
    }
    rc = pxmpp__decoder_start(s->decoder, (const char *)uri, (const char *)local, ra, total);
    if (rc == PXMPP_ERR_LIMIT)
        FAIL(s, PXMPP_ERR_LIMIT, "elements nested deeper than %zu", s->limits.max_depth);
    else if (rc == PXMPP_ERR_UNSUPPORTED_STANZA)
        FAIL(s, rc, "unsupported top-level element");
    else if (rc)
        FAIL(s, rc, "%s", rc == PXMPP_ERR_NOMEM && pxmpp_arena_hit_limit(s->arena) ? "stanza too large" : pxmpp_strerror(rc));
}

static void deliver(pxmpp_stream *s, const pxmpp__decoded *b)
{
    uint64_t off = s->stanza_offset;
    if (b->diag) {
        if (s->cb.stanza_invalid)
            s->cb.stanza_invalid(s->user, b->type, b->obj, b->diag, off);
        return;
    }
    const pxmpp_type_desc *t = b->type;
    if (t == &pxmpp_message_desc && s->cb.message)
        s->cb.message(s->user, b->obj);
    else if (t == &pxmpp_presence_desc && s->cb.presence)
        s->cb.presence(s->user, b->obj);
    else if (t == &pxmpp_iq_desc && s->cb.iq)
        s->cb.iq(s->user, b->obj);
    else if (t == &pxmpp_stream_features_desc && s->cb.features)
        s->cb.features(s->user, b->obj);
    else if (t == &pxmpp_stream_error_desc && s->cb.stream_error)
        s->cb.stream_error(s->user, b->obj);
    else if (s->cb.element)
        s->cb.element(s->user, t, b->obj, off);
    if (t == &pxmpp_stream_error_desc)
        s->peer_error = true;
}

static void on_end(void *user, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    pxmpp_stream *s = user;
    (void)local;
    (void)prefix;
    (void)uri;
    if (s->err || s->restart_pending || s->state == ST_CLOSED)
        return;
    if (s->depth == 1) {
        s->depth = 0;
        s->state = ST_CLOSED;
        xmlStopParser(s->ctxt);
        if (s->cb.closed)
            s->cb.closed(s->user);
        return;
    }
    pxmpp__decoded b;
    int rc = pxmpp__decoder_end(s->decoder, &b);
    s->depth--;
    if (rc < 0) {
        FAIL(s, rc, "%s", rc == PXMPP_ERR_NOMEM && pxmpp_arena_hit_limit(s->arena) ? "stanza too large" : pxmpp_strerror(rc));
        return;
    }
    if (rc == 1) {
        deliver(s, &b);
        pxmpp_arena_reset(s->arena);
        if (!s->restart_pending && s->ctxt->dict && xmlDictSize(s->ctxt->dict) > PXMPP_REFRESH_NAMES) {
            /* libxml2 keeps every distinct name for the life of its context: renew it
               between stanzas so that memory stays flat on a long stream */
            s->refresh_pending = true;
            s->restart_pending = true;
            s->restart_at = cur_offset(s);
        }
        if (s->restart_pending && s->ctxt)
            xmlStopParser(s->ctxt);
    }
}

static void on_chars(void *user, const xmlChar *ch, int len)
{
    pxmpp_stream *s = user;
    if (s->err || s->restart_pending || s->state == ST_CLOSED)
        return;
    if (s->depth <= 1) {
        if (!pxmpp__is_space_only((const char *)ch, (size_t)len))
            FAIL(s, PXMPP_ERR_XML, "not well-formed: text outside of a stanza");
        return;
    }
    int rc = pxmpp__decoder_text(s->decoder, (const char *)ch, (size_t)len);
    if (rc)
        FAIL(s, rc, "%s", pxmpp_strerror(rc));
}

/* ---- parser lifecycle ---------------------------------------------------------- */

static int new_parser(pxmpp_stream *s)
{
    bool resume = s->refresh_pending;
    s->refresh_pending = false;
    if (s->ctxt) {
        xmlFreeParserCtxt(s->ctxt);
        s->ctxt = NULL;
    }
    s->ctxt = xmlCreatePushParserCtxt(&s->sax, s, NULL, 0, NULL);
    if (!s->ctxt)
        return PXMPP_ERR_NOMEM;
    if (s->decoder)
        pxmpp__decoder_clear_cache(s->decoder); /* its keys are pointers into the old dictionary */
    xmlCtxtUseOptions(s->ctxt, XML_PARSE_NONET);
    s->ctxt->replaceEntities = 0;
    s->depth = 0;
    s->ctxt_base = s->fed;
    s->prefix_len = 0;
    s->skipped = 0;
    s->lx_cr = false;
    s->cuts_n = s->cuts_fed = s->cuts_used = 0;
    s->brk_n = 0;
    s->lib_fed = 0;
    memset(s->names, 0, sizeof s->names); /* they point into the old dictionary */
    memset(s->tops, 0, sizeof s->tops);
    s->hold_len = 0;
    if (resume) {
        /* same stream, fresh context, at a stanza boundary: the bytes after it are lexed again */
        s->lx = LX_TEXT;
        s->lx_n = 0;
        s->lx_closed = false;
        s->lx_doc_start = false;
        s->lx_depth = 1;
        s->lx_boundary = s->lexed;
    } else {
        s->state = ST_HEADER;
        s->lx = LX_TEXT;
        s->lx_n = 0;
        s->lx_closed = false;
        s->lx_doc_start = true;
        s->lx_depth = 0;
        s->lx_boundary = s->lexed;
    }
    if (s->flags & PXMPP_STREAM_CONTENT_ONLY) {
        s->lx_depth = 1;
        s->lx_doc_start = false;
    }
    const char *hdr = NULL;
    size_t hlen = 0;
    char buf[256];
    if (s->flags & PXMPP_STREAM_CONTENT_ONLY) {
        int n = snprintf(buf, sizeof buf, synthetic_header, s->content_ns);
        if (n < 0 || (size_t)n >= sizeof buf)
            return PXMPP_ERR_INVALID_ARGUMENT;
        hdr = buf;
        hlen = (size_t)n;
    } else if (resume) {
        hdr = s->resume_hdr.data;
        hlen = s->resume_hdr.len;
    }
    if (hdr) {
        s->prefix_len = hlen;
        s->lib_fed = hlen;
        s->resuming = resume;
        s->in_parse = true;
        xmlParseChunk(s->ctxt, hdr, (int)hlen, 0);
        s->in_parse = false;
        s->resuming = false;
        if (s->err)
            return s->err;
    }
    return 0;
}

int pxmpp_stream_new(pxmpp_stream **out, pxmpp_role role, const pxmpp_stream_callbacks *cb,
                     const pxmpp_stream_config *cfg, void *user)
{
    if (!out || !cb)
        return PXMPP_ERR_INVALID_ARGUMENT;
    *out = NULL;
    /* the content namespace is written in headers (and in the synthetic one of content-only
       mode, unescaped): a non-empty string of valid characters without ', < or & */
    const char *cns = cfg ? cfg->content_ns : NULL;
    if (cns && (!*cns || pxmpp__bad_char(cns) != SIZE_MAX || strpbrk(cns, "'<&")))
        return PXMPP_ERR_INVALID_ARGUMENT;
    const pxmpp_mem *mem = cfg && cfg->mem ? cfg->mem : pxmpp_mem_default();
    pxmpp_stream *s = mem->malloc(sizeof *s, mem->ud);
    if (!s)
        return PXMPP_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    s->mem = *mem;
    s->role = role;
    s->cb = *cb;
    s->user = user;
    if (cfg) {
        s->limits = cfg->limits;
        s->flags = cfg->flags;
        s->content_ns = cfg->content_ns;
        s->reg = cfg->registry;
    }
    if (!s->limits.max_stanza_bytes) s->limits.max_stanza_bytes = 262144;
    if (!s->limits.max_depth) s->limits.max_depth = 64;
    if (!s->limits.max_attrs) s->limits.max_attrs = 64;
    if (!s->limits.max_header_bytes) s->limits.max_header_bytes = 8192;
    if (!s->limits.max_names) s->limits.max_names = 10000;
    if (!s->content_ns) s->content_ns = PXMPP_NS_CLIENT;
    if (!s->reg) s->reg = &pxmpp_generated_registry;
    pxmpp_buf_init(&s->out, mem);
    pxmpp_buf_init(&s->resume_hdr, mem);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t mix = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)(uintptr_t)s << 7) ^
                   ((uint64_t)getpid() << 45);
    mix ^= mix >> 33;
    mix *= 0xff51afd7ed558ccdULL;
    mix ^= mix >> 33;
    s->id_salt = (uint32_t)mix;

    xmlInitParser();
    memset(&s->sax, 0, sizeof s->sax);
    s->sax.initialized = XML_SAX2_MAGIC;
    s->sax.startElementNs = on_start;
    s->sax.endElementNs = on_end;
    s->sax.characters = on_chars;
    s->sax.cdataBlock = on_chars;
    s->sax.comment = on_comment;
    s->sax.processingInstruction = on_pi;
    s->sax.internalSubset = on_subset;
    s->sax.externalSubset = on_subset;
    s->sax.getEntity = on_get_entity;
    s->sax.getParameterEntity = on_get_entity;
    s->sax.entityDecl = on_entity_decl;
    s->sax.reference = on_reference;
    s->sax.serror = on_serror;

    s->dns = mem->malloc((s->limits.max_depth + 1) * sizeof *s->dns, mem->ud);
    if (!s->dns) {
        pxmpp_stream_free(s);
        return PXMPP_ERR_NOMEM;
    }
    int rc = pxmpp_arena_new(&s->arena, mem, 8192);
    if (!rc)
        rc = pxmpp__decoder_new(&s->decoder, mem, s->reg, s->limits.max_depth);
    if (!rc)
        rc = new_parser(s);
    if (rc) {
        pxmpp_stream_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void pxmpp_stream_free(pxmpp_stream *s)
{
    if (!s)
        return;
    if (s->ctxt)
        xmlFreeParserCtxt(s->ctxt);
    pxmpp__decoder_free(s->decoder);
    pxmpp_arena_free(s->arena);
    pxmpp_buf_free(&s->out);
    pxmpp_buf_free(&s->resume_hdr);
    s->mem.free(s->hold, s->mem.ud);
    s->mem.free(s->cuts, s->mem.ud);
    s->mem.free(s->brk, s->mem.ud);
    s->mem.free(s->stage, s->mem.ud);
    s->mem.free(s->dns, s->mem.ud);
    s->mem.free(s, s->mem.ud);
}

/* ---- the gate ------------------------------------------------------------------ */

#define RESTARTED 1

/* One xmlParseChunk: libxml2 gets data[0, n), which stands for the next app_len
   app bytes (start: app offset where the whole feed began).  Returns 0, the
   sticky error, or RESTARTED with *used = app bytes of the feed consumed before
   the restart point. */
static int parse_piece(pxmpp_stream *s, const char *data, size_t n, size_t app_len, uint64_t start, size_t *used)
{
    uint64_t before = s->fed;
    s->fed += app_len;
    s->in_parse = true;
    xmlParseChunk(s->ctxt, data, (int)n, 0);
    s->in_parse = false;
    s->lib_fed += n;
    if (s->err)
        return s->err;
    if (s->restart_pending) {
        uint64_t at = s->restart_at < before ? before : s->restart_at > s->fed ? s->fed : s->restart_at;
        *used = (size_t)(at - start);
        s->fed = at;
        return RESTARTED;
    }
    return 0;
}

/* Gives libxml2 a copy of the range without the values cut from its tags (base:
   offset of p in cut_base); see feed_parser. */
static int feed_cut(pxmpp_stream *s, const char *p, size_t len, size_t *used, size_t base)
{
    size_t need = len;
    for (size_t k = s->cuts_fed; k < s->cuts_n && s->cuts[k].off < base + len; k++)
        if (s->cuts[k].kind >= CUT_VAL)
            need -= s->cuts[k].len;
    if (s->stage_cap < need) {
        size_t cap = s->stage_cap ? s->stage_cap : 2048; /* a chunk's tags, without their attributes */
        while (cap < need)
            cap *= 2;
        char *st = s->mem.realloc(s->stage, cap, s->mem.ud);
        if (!st)
            return fail_at(s, PXMPP_ERR_NOMEM, s->fed, "out of memory");
        s->stage = st;
        s->stage_cap = cap;
    }
    size_t o = 0, from = base;
    uint64_t cum = 0;
    s->brk_n = 0;
    while (s->cuts_fed < s->cuts_n && s->cuts[s->cuts_fed].off < base + len) {
        const struct cut *c = &s->cuts[s->cuts_fed++];
        if (c->kind < CUT_VAL)
            continue;
        memcpy(s->stage + o, p + (from - base), c->off - from);
        o += c->off - from;
        from = c->off + c->len;
        cum += c->len;
        s->brk[s->brk_n++] = (struct brk){ s->lib_fed + o, cum };
    }
    memcpy(s->stage + o, p + (from - base), base + len - from);
    o += base + len - from;
    int rc = parse_piece(s, s->stage, o, len, s->fed, used);
    s->skipped += cum;
    s->brk_n = 0;
    return rc;
}

/* Gives libxml2 `len` bytes whose first byte is at app offset s->fed (base: their
   offset in cut_base when values cut from their tags must be left out, SIZE_MAX for
   held bytes, which never hold any).  Returns 0, the sticky error, or RESTARTED with
   *used = bytes consumed before the restart point (the rest must be lexed again for
   the new document). */
static int feed_parser(pxmpp_stream *s, const char *p, size_t len, size_t *used, size_t base)
{
    if (base != SIZE_MAX) {
        while (s->cuts_fed < s->cuts_n && s->cuts[s->cuts_fed].off < base + len && s->cuts[s->cuts_fed].kind < CUT_VAL)
            s->cuts_fed++;
        if (s->cuts_fed < s->cuts_n && s->cuts[s->cuts_fed].off < base + len)
            return feed_cut(s, p, len, used, base);
    }
    const uint64_t start = s->fed;
    while (len > 0) {
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        int rc = parse_piece(s, p, n, n, start, used);
        if (rc || s->state == ST_CLOSED)
            return rc;
        p += n;
        len -= n;
    }
    return 0;
}

static int hold_append(pxmpp_stream *s, const char *p, size_t n)
{
    if (s->hold_cap - s->hold_len < n) {
        size_t cap = s->hold_cap ? s->hold_cap : 256;
        while (cap - s->hold_len < n)
            cap *= 2;
        char *h = s->mem.realloc(s->hold, cap, s->mem.ud);
        if (!h)
            return PXMPP_ERR_NOMEM;
        s->hold = h;
        s->hold_cap = cap;
    }
    memcpy(s->hold + s->hold_len, p, n);
    s->hold_len += n;
    return 0;
}

static bool in_tag(uint8_t lx, uint8_t ret)
{
    return lx == LX_LT || lx == LX_TAG || lx == LX_TQ1 || lx == LX_TQ2 || lx == LX_BANG || lx == LX_PI_NAME ||
           (lx == LX_REF && ret != LX_TEXT);
}

static int gate_lex(pxmpp_stream *s, const char *p, size_t n);

#define PAUSED 2

/* Restart handling: the bytes after the restart point go through a fresh lexer. */
static int gate_restart(pxmpp_stream *s, const char *a, size_t alen, const char *b, size_t blen)
{
    if (s->pause_pending) {
        /* pxmpp_stream_pause(): the rest of the input stays unread */
        (void)a;
        (void)alen;
        (void)b;
        (void)blen;
        s->pause_pending = false;
        s->restart_pending = false;
        s->paused = true;
        s->lexed = s->fed;
        return PAUSED;
    }
    char *tmp = s->mem.malloc(alen + blen + 1, s->mem.ud);
    if (!tmp)
        return fail_at(s, PXMPP_ERR_NOMEM, s->fed, "out of memory");
    if (alen)
        memcpy(tmp, a, alen);
    if (blen)
        memcpy(tmp + alen, b, blen);
    s->restart_pending = false;
    s->lexed = s->fed;
    int rc = new_parser(s);
    if (rc) {
        s->mem.free(tmp, s->mem.ud);
        return fail_at(s, rc, s->fed, "%s", pxmpp_strerror(rc));
    }
    rc = gate_lex(s, tmp, alen + blen); /* these bytes were checked as UTF-8 already */
    s->mem.free(tmp, s->mem.ud);
    return rc;
}

/* Feeds p[emit, upto) (plus nothing held).  On restart, re-lexes the remainder of p. */
static int emit_range(pxmpp_stream *s, const char *p, size_t n, size_t *emit, size_t upto, bool *done)
{
    if (upto <= *emit)
        return 0;
    size_t used = 0;
    int rc = feed_parser(s, p + *emit, upto - *emit, &used, *emit);
    if (rc == RESTARTED) {
        *done = true;
        return gate_restart(s, p + *emit + used, n - *emit - used, NULL, 0);
    }
    *emit = upto;
    return rc;
}

/* Text inside a stanza goes from the gate to the builder: libxml2 never sees it.
   The gate has checked it already (UTF-8, XML characters, "]]>", references), so
   what remains is decoding references and XML's end-of-line rule (XML 1.0 §2.11: CR
   LF and a lone CR are read as LF).  The tags before the text are given to libxml2
   first, so the element the text belongs to is the builder's current one. */
static void text_deliver(pxmpp_stream *s, const char *t, size_t len)
{
    if (len == 0 || s->err || s->restart_pending || s->state == ST_CLOSED || s->depth <= 1)
        return;
    int rc = pxmpp__decoder_text(s->decoder, t, len);
    if (rc)
        fail_at(s, rc, s->fed, "%s", pxmpp_strerror(rc));
}

/* The gate consumed p[*emit, upto) itself: libxml2 never gets these bytes. */
static void gate_skip(pxmpp_stream *s, size_t *emit, size_t upto)
{
    s->fed += upto - *emit;
    s->skipped += upto - *emit;
    *emit = upto;
}

/* Delivers the text p[a, b) (no '<' or '&' in it; cr: it may hold a CR). */
static int gate_text(pxmpp_stream *s, const char *p, size_t n, size_t *emit, size_t a, size_t b, bool cr, bool *done)
{
    int rc = emit_range(s, p, n, emit, a, done);
    if (rc || *done || s->err)
        return s->err ? s->err : rc;
    const char *t = p + a;
    size_t len = b - a;
    if (s->lx_cr && len && *t == '\n') {
        t++;
        len--;
    }
    s->lx_cr = false;
    if (!cr) {
        text_deliver(s, t, len);
        len = 0;
    }
    while (len) {
        const char *r = memchr(t, '\r', len);
        if (!r) {
            text_deliver(s, t, len);
            break;
        }
        size_t k = (size_t)(r - t);
        text_deliver(s, t, k);
        text_deliver(s, "\n", 1);
        k++;
        if (k < len && t[k] == '\n')
            k++;
        else if (k == len)
            s->lx_cr = true;
        t += k;
        len -= k;
    }
    gate_skip(s, emit, b);
    return s->err;
}

/* Leaving the held states for a pass-through one (CDATA, XML declaration): a
   construct that began in an earlier chunk is handed over now. */
static int flush_hold(pxmpp_stream *s, const char *p, size_t n, size_t i, size_t *emit, bool *done)
{
    if (!s->hold_len)
        return 0;
    int rc = hold_append(s, p + *emit, i - *emit);
    if (rc)
        return fail_at(s, rc, s->lexed + i, "out of memory");
    size_t used = 0, hl = s->hold_len;
    s->hold_len = 0;
    rc = feed_parser(s, s->hold, hl, &used, SIZE_MAX);
    *emit = i;
    if (rc == RESTARTED) {
        *done = true;
        return gate_restart(s, s->hold + used, hl - used, p + i, n - i);
    }
    return rc;
}

/* A violation found by the gate at p[at].  What came before it is delivered first,
   except the bytes of an unfinished tag: libxml2 never sees a partial tag, so the
   outcome is the same however the input was chunked. */
static int lex_error(pxmpp_stream *s, const char *p, size_t n, size_t emit, size_t at, size_t tag_start, int code,
                     const char *what)
{
    bool done = false;
    uint64_t off = s->lexed + at;
    if (!in_tag(s->lx, s->lx_ret) || s->hold_len == 0) {
        /* (the bytes of a reference in text are the gate's: they are not given to libxml2) */
        size_t upto = in_tag(s->lx, s->lx_ret) ? (tag_start == SIZE_MAX ? emit : tag_start) : s->lx == LX_REF ? emit : at;
        int rc = emit_range(s, p, n, &emit, upto, &done);
        if (rc || done || s->err)
            return s->err ? s->err : rc;
    }
    return fail_at(s, code, off, "%s", what);
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':' ||
           c == '-' || c == '.' || c >= 0x80;
}

/* Classifies a complete reference "&...;" collected in lx_buf (without & and ;). */
static int ref_value(const char *r, uint32_t *cp)
{
    if (r[0] == '#') {
        size_t i = 1;
        bool hex = r[1] == 'x';
        if (hex)
            i = 2;
        if (!r[i])
            return PXMPP_ERR_XML;
        uint32_t v = 0;
        for (; r[i]; i++) {
            char c = r[i];
            uint32_t d;
            if (c >= '0' && c <= '9')
                d = (uint32_t)(c - '0');
            else if (hex && c >= 'a' && c <= 'f')
                d = (uint32_t)(c - 'a' + 10);
            else if (hex && c >= 'A' && c <= 'F')
                d = (uint32_t)(c - 'A' + 10);
            else
                return PXMPP_ERR_XML;
            v = v * (hex ? 16u : 10u) + d;
            if (v > 0x10FFFF)
                return PXMPP_ERR_XML;
        }
        /* XML 1.0 Char: a reference to anything else is not well-formed */
        bool ok = v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) || (v >= 0xE000 && v <= 0xFFFD) ||
                  v >= 0x10000;
        *cp = v;
        return ok ? 0 : PXMPP_ERR_XML;
    }
    static const struct { char name[5]; char c; } predef[] = {
        {"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''},
    };
    for (size_t k = 0; k < sizeof predef / sizeof predef[0]; k++) {
        if (!strcmp(r, predef[k].name)) {
            *cp = (uint32_t)predef[k].c;
            return 0;
        }
    }
    return r[0] ? PXMPP_ERR_RESTRICTED_XML : PXMPP_ERR_XML;
}

static int check_ref(pxmpp_stream *s, uint32_t *cp)
{
    s->lx_buf[s->lx_n] = '\0';
    return ref_value(s->lx_buf, cp);
}

/* A reference starting at p[i] == '&' that the state machine would accept: the
   index after its ';', or 0. */
static size_t ref_end(const char *p, size_t i, size_t stop)
{
    char r[sizeof ((pxmpp_stream *)0)->lx_buf];
    size_t n = 0;
    for (i++; i < stop && p[i] != ';'; i++) {
        if ((!name_char((unsigned char)p[i]) && p[i] != '#') || n >= sizeof r - 1)
            return 0;
        r[n++] = p[i];
    }
    r[n] = '\0';
    uint32_t cp;
    return i < stop && n && ref_value(r, &cp) == 0 ? i + 1 : 0;
}

/* UTF-8 encoding of the code point cp (<= 0x10FFFF) into u; returns its length. */
static size_t utf8_put(char u[4], uint32_t cp)
{
    if (cp < 0x80) {
        u[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The gate's scanning loops: index of the first byte in p[i, stop) equal to a, b, c
   or d, or stop.  Sixteen bytes at a time where SSE2 is there (every x86-64). */
static inline size_t find4(const char *p, size_t i, size_t stop, char a, char b, char c, char d)
{
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b), vc = _mm_set1_epi8(c), vd = _mm_set1_epi8(d);
    while (stop - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, vc), _mm_cmpeq_epi8(v, vd)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
        i += 16;
    }
#endif
    while (i < stop && p[i] != a && p[i] != b && p[i] != c && p[i] != d)
        i++;
    return i;
}

/* The gate's bookkeeping for a complete tag; i: index just after its '>'. */
static void tag_closed(pxmpp_stream *s, size_t i)
{
    s->lx = LX_TEXT;
    s->lx_doc_start = false;
    if (s->lx_end_tag) {
        s->lx_depth--;
        if (s->lx_depth <= 1)
            s->lx_boundary = s->lexed + i;
        if (s->lx_depth == 0)
            s->lx_closed = true;
    } else if (s->lx_slash) {
        if (s->lx_depth <= 1)
            s->lx_boundary = s->lexed + i;
        if (s->lx_depth == 0)
            s->lx_closed = true; /* an empty stream element: the stream is over */
    } else {
        s->lx_depth++;
        if (s->lx_depth == 1)
            s->lx_boundary = s->lexed + i;
    }
}

/* The common case of a tag starting at p[i] == '<': the whole tag lies before stop
   and its attribute values hold no reference.  Returns the index after its '>' (with
   lx_end_tag and lx_slash set as the state machine would), or 0: the state machine
   then takes the tag byte by byte and reports what is wrong with it, if anything. */
/* Byte classes for cut_tag: N_START may begin an ASCII name, N_CHAR may continue
   one, N_SPACE is XML white space. */
enum { N_START = 1, N_CHAR = 2, N_SPACE = 4 };
static const uint8_t name_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 0, 0, 4, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
static inline bool plain_name_start(char c) { return name_class[(unsigned char)c] & N_START; }
static inline bool plain_name_char(char c) { return name_class[(unsigned char)c] & N_CHAR; }
static inline bool plain_space(char c) { return name_class[(unsigned char)c] & N_SPACE; }

/* The first quote q, '<' or '&' in p[i, stop), or stop; *ws: the bytes before it
   hold a tab, LF or CR (the only bytes below 0x20 the UTF-8 check lets through). */
static inline size_t find_value_end(const char *p, size_t i, size_t stop, char q, bool *ws)
{
    bool w = false;
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i vq = _mm_set1_epi8(q), vlt = _mm_set1_epi8('<'), vamp = _mm_set1_epi8('&'),
                  v1f = _mm_set1_epi8(0x1F);
    while (stop - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned hit = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, vq), _mm_or_si128(_mm_cmpeq_epi8(v, vlt), _mm_cmpeq_epi8(v, vamp))));
        unsigned ctl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, v1f), v));
        if (hit) {
            *ws = w || (ctl & (hit ^ (hit - 1)));
            return i + (size_t)__builtin_ctz(hit);
        }
        w = w || ctl;
        i += 16;
    }
#endif
    for (; i < stop; i++) {
        char c = p[i];
        if (c == q || c == '<' || c == '&') {
            *ws = w;
            return i;
        }
        w = w || (unsigned char)c < 0x20;
    }
    return stop;
}

/* The closing quote q of an attribute value starting at p[v], or stop when the
   value runs past stop or holds a '<' or a reference the state machine would
   refuse; *ws: it holds a tab, LF or CR; *refs: it holds references. */
static size_t value_end(const char *p, size_t v, size_t stop, char q, bool *ws, bool *refs)
{
    *ws = *refs = false;
    for (size_t j = v;;) {
        bool w = false;
        j = find_value_end(p, j, stop, q, &w);
        *ws = *ws || w;
        if (j >= stop || p[j] == q)
            return j;
        if (p[j] == '<' || !(j = ref_end(p, j, stop)))
            return stop;
        *refs = true;
    }
}

/* What the attribute whose name starts at p[k] is: 1 a namespace declaration
   (libxml2 needs its value), 2 xml:lang or another xml: attribute (left to
   libxml2), 3 any other (its value can be cut).  The name ends before q. */
static int attr_kind(const char *p, size_t k, size_t q)
{
    if (q - k < 4 || p[k] != 'x' || p[k + 1] != 'm' || p[k + 2] != 'l')
        return 3;
    if (p[k + 3] == ':')
        return 2;
    if (q - k >= 6 && p[k + 3] == 'n' && p[k + 4] == 's' && (p[k + 5] == ':' || p[k + 5] == '=' || plain_space(p[k + 5])))
        return 1;
    return 3;
}

/* A default namespace the gate may cut: one whose value libxml2 surely accepts
   without a word, so that only its interning is left to do.  That is an absolute
   URI of a plain shape: scheme ":" ["//" host] then letters, digits and "-._:/",
   with at most one "#" (e.g. "jabber:client", "urn:xmpp:delay",
   "http://jabber.org/protocol/disco#info"), and not one of the two namespaces XML
   reserves. */
/* Byte classes for ns_cuttable: U_SCHEME letters, digits, "+-."; U_HOST letters,
   digits, ".-"; U_PATH letters, digits, "-._:/"; U_ALPHA letters. */
enum { U_SCHEME = 1, U_HOST = 2, U_PATH = 4, U_ALPHA = 8 };
static const uint8_t uri_class[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  0,  7,  7,  4,
     7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  4,  0,  0,  0,  0,  0,
     0, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  0,  0,  0,  0,  4,
     0, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};

static bool ns_cuttable(const char *v, size_t n)
{
    const unsigned char *u = (const unsigned char *)v;
    size_t i = 1;
    if (n == 0 || !(uri_class[u[0]] & U_ALPHA))
        return false;
    while (i < n && (uri_class[u[i]] & U_SCHEME))
        i++;
    if (i == n || u[i] != ':')
        return false;
    i++;
    if (n - i >= 2 && u[i] == '/' && u[i + 1] == '/') {
        for (i += 2; i < n && u[i] != '/' && u[i] != '#'; i++)
            if (!(uri_class[u[i]] & U_HOST))
                return false;
    }
    int hashes = 0;
    for (; i < n; i++)
        if (!(uri_class[u[i]] & U_PATH) && (u[i] != '#' || hashes++))
            return false;
    static const char xml_ns[] = "http://www.w3.org/XML/1998/namespace", xmlns_ns[] = "http://www.w3.org/2000/xmlns/";
    return !(n == sizeof xml_ns - 1 && memcmp(v, xml_ns, n) == 0) &&
           !(n == sizeof xmlns_ns - 1 && memcmp(v, xmlns_ns, n) == 0);
}


/* A start tag inside the stream element at p[i], read in full: ASCII names, white
   space where XML wants it, no name given twice.  Its unprefixed attributes are cut
   whole (libxml2 gets the tag without them), the others as fast_tag does.  Returns
   the index after its '>', or 0 when the tag is not of that shape (fast_tag or the
   state machine then takes it). */
static size_t cut_tag(pxmpp_stream *s, const char *p, size_t i, size_t stop)
{
    size_t t = s->cuts_n, j = i + 1, attrs = 0;
    int default_ns = 0;
    s->cuts[s->cuts_n++] = (struct cut){ .off = i, .kind = CUT_TAG };
    if (j >= stop || !plain_name_start(p[j]))
        goto no;
    while (j < stop && plain_name_char(p[j]))
        j++;
    for (;;) {
        size_t sp = j;
        while (j < stop && plain_space(p[j]))
            j++;
        if (j >= stop)
            goto no;
        if (p[j] == '>' || (p[j] == '/' && j + 1 < stop && p[j + 1] == '>')) {
            s->lx_end_tag = false;
            s->lx_slash = p[j] == '/';
            s->cuts[t].len = (uint32_t)(s->cuts_n - t - 1);
            return j + (s->lx_slash ? 2 : 1);
        }
        /* (past 32 attributes the check for repeated names would cost more than
           libxml2's parsing saves: the tag is left to it) */
        if (j == sp || ++attrs > s->limits.max_attrs || attrs > 32 || !plain_name_start(p[j]))
            goto no;
        size_t ns = j;
        bool colon = false;
        for (; j < stop && plain_name_char(p[j]); j++)
            if (p[j] == ':')
                colon = true;
        size_t ne = j;
        while (j < stop && plain_space(p[j]))
            j++;
        if (j >= stop || p[j] != '=')
            goto no;
        for (j++; j < stop && plain_space(p[j]); j++)
            ;
        if (j >= stop || (p[j] != '\'' && p[j] != '"'))
            goto no;
        size_t v = j + 1;
        bool ws, refs;
        j = value_end(p, v, stop, p[j], &ws, &refs);
        if (j >= stop || j + 1 - sp > UINT32_MAX || ne - ns > UINT16_MAX)
            goto no;
        size_t nl = ne - ns;
        if (nl >= 5 && memcmp(p + ns, "xmlns", 5) == 0 && (nl == 5 || p[ns + 5] == ':')) {
            /* a default namespace is cut whole (on_start keeps it in scope); a
               second one is libxml2's to refuse */
            if (nl == 5 && default_ns++)
                goto no;
            if (nl == 5 && !ws && !refs && ns_cuttable(p + v, j - v))
                s->cuts[s->cuts_n++] = (struct cut){ .off = sp,
                                                     .len = (uint32_t)(j + 1 - sp),
                                                     .voff = (uint32_t)(v - sp),
                                                     .vlen = (uint32_t)(j - v),
                                                     .kind = CUT_NSW };
        } else if (colon) {
            bool keep = nl > 4 && memcmp(p + ns, "xml:", 4) == 0;
            s->cuts[s->cuts_n++] = (struct cut){
                .off = v, .len = (uint32_t)(j - v), .kind = keep ? CUT_KEEP : ws || refs ? CUT_VALX : CUT_VAL
            };
        } else {
            /* libxml2 would refuse a name given twice: let it see the tag */
            for (size_t k = t + 1; k < s->cuts_n; k++)
                if ((s->cuts[k].kind == CUT_ATTR || s->cuts[k].kind == CUT_ATTRX) && s->cuts[k].nlen == nl) {
                    const char *other = p + s->cuts[k].off + s->cuts[k].noff;
                    if (other[0] == p[ns] && memcmp(other, p + ns, nl) == 0)
                        goto no;
                }
            s->cuts[s->cuts_n++] = (struct cut){ .off = sp,
                                                 .len = (uint32_t)(j + 1 - sp),
                                                 .voff = (uint32_t)(v - sp),
                                                 .vlen = (uint32_t)(j - v),
                                                 .noff = (uint32_t)(ns - sp),
                                                 .nlen = (uint16_t)nl,
                                                 .kind = ws || refs ? CUT_ATTRX : CUT_ATTR };
        }
        j++;
    }
no:
    s->cuts_n = t;
    return 0;
}

static size_t fast_tag(pxmpp_stream *s, const char *p, size_t i, size_t stop)
{
    if (stop - i < 3)
        return 0;
    if (p[i + 1] != '/' && s->lx_depth >= 1) {
        size_t e = cut_tag(s, p, i, stop);
        if (e)
            return e;
    }
    unsigned char c = (unsigned char)p[i + 1];
    bool end = c == '/';
    if (!(end || c == ':' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) ||
        (end && s->lx_depth == 0))
        return 0;
    /* a start tag inside the stream element: its plain values are cut (see struct cut) */
    bool cut = !end && s->lx_depth >= 1;
    size_t t = s->cuts_n;
    if (cut)
        s->cuts[s->cuts_n++] = (struct cut){ .off = i, .len = 0, .kind = CUT_TAG };
    size_t j = i + 2, attrs = 0;
    for (;;) {
        size_t from = j;
        j = find4(p, j, stop, '>', '\'', '"', '"');
        if (j >= stop)
            break;
        if (p[j] == '>') {
            s->lx_end_tag = end;
            s->lx_slash = j > from && p[j - 1] == '/';
            if (cut)
                s->cuts[t].len = (uint32_t)(s->cuts_n - t - 1);
            return j + 1;
        }
        if (++attrs > s->limits.max_attrs || end)
            break;
        size_t v = j + 1;
        bool ws, refs;
        j = value_end(p, v, stop, p[j], &ws, &refs);
        if (j >= stop || j - v > UINT32_MAX)
            break;
        if (cut) {
            /* the attribute's name: back from the '=' before the quote (first
               attribute, after the element name) or after the previous value */
            size_t k = from;
            if (attrs == 1) {
                k = v - 1;
                while (k > from && (plain_space(p[k - 1]) || p[k - 1] == '='))
                    k--;
                while (k > from && !plain_space(p[k - 1]))
                    k--;
            } else {
                while (k < v && plain_space(p[k]))
                    k++;
            }
            int kind = attr_kind(p, k, v - 1);
            if (kind == 1 && !ws && !refs && p[k + 5] != ':' && ns_cuttable(p + v, j - v))
                s->cuts[s->cuts_n++] = (struct cut){ .off = v, .len = (uint32_t)(j - v), .vlen = (uint32_t)(j - v), .kind = CUT_NS };
            else if (kind != 1)
                s->cuts[s->cuts_n++] = (struct cut){
                    .off = v, .len = (uint32_t)(j - v),
                    .kind = kind == 2 ? CUT_KEEP : ws || refs ? CUT_VALX : CUT_VAL
                };
        }
        j++;
    }
    s->cuts_n = t;
    return 0;
}

/* Before a tag at p[i] inside the stream element: room in the cut table for it, and
   at most 64 KiB waiting for libxml2 (which bounds the staging copy).  When either
   runs short, what comes before p[i] goes to libxml2 first, which uses up the table. */
static int cut_room(pxmpp_stream *s, const char *p, size_t n, size_t *emit, size_t i, bool *done)
{
    size_t need = 2 + s->limits.max_attrs;
    if (s->cuts_cap - s->cuts_n >= need && i - *emit <= 65536)
        return 0;
    if (s->cuts_n || i - *emit > 65536) {
        int rc = emit_range(s, p, n, emit, i, done);
        if (rc || *done || s->err)
            return s->err ? s->err : rc;
        s->cuts_n = s->cuts_fed = s->cuts_used = 0;
    }
    if (s->cuts_cap < need) {
        size_t cap = need + 16;
        struct cut *c = s->mem.realloc(s->cuts, cap * sizeof *c, s->mem.ud);
        if (!c)
            return fail_at(s, PXMPP_ERR_NOMEM, s->lexed + i, "out of memory");
        s->cuts = c;
        struct brk *b = s->mem.realloc(s->brk, cap * sizeof *b, s->mem.ud);
        if (!b)
            return fail_at(s, PXMPP_ERR_NOMEM, s->lexed + i, "out of memory");
        s->brk = b;
        s->cuts_cap = cap;
    }
    return 0;
}

static int gate_lex(pxmpp_stream *s, const char *p, size_t n)
{
    /* the entries of the previous input were all used when its tags went to libxml2 */
    s->cuts_n = s->cuts_fed = s->cuts_used = 0;
    s->cut_base = p;
    size_t i = 0, emit = 0;
    size_t tag_start = SIZE_MAX; /* index in p where the current tag began, if in p */
    bool done = false;
    int rc;
    while (i < n) {
        if (s->lx_closed)
            break;
        uint64_t cap = s->lx_depth == 0 ? s->limits.max_header_bytes : s->limits.max_stanza_bytes;
        uint64_t limit = s->lx_boundary + cap; /* app offset of the first byte over the limit */
        size_t stop = n;
        if (limit < s->lexed + n)
            stop = limit > s->lexed ? (size_t)(limit - s->lexed) : 0;
        if (i >= stop) {
            char what[96];
            snprintf(what, sizeof what, "%s larger than %zu bytes",
                     s->lx_depth == 0 ? "stream header" : "top-level element", (size_t)cap);
            if (s->lx == LX_BANG || s->lx == LX_PI_NAME)
                return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_RESTRICTED_XML, "restricted XML: comment or processing instruction");
            return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_LIMIT, what);
        }
        unsigned char c = (unsigned char)p[i];
        switch (s->lx) {
        case LX_TEXT:
            if (s->lx_depth <= 1) {
                /* outside stanzas only whitespace may appear (RFC 6120 §4.2: keepalives) */
                size_t ws_from = i;
                while (i < stop && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
                    i++;
                if (i > ws_from && s->lx_depth == 0 && s->lx_doc_start && emit == ws_from &&
                    s->lexed + ws_from == s->lx_boundary) {
                    /* white space before a stream header (after a restart: the line feed a peer
                       wrote after its last element of the old stream) is dropped, so that the
                       header and its XML declaration start the document */
                    gate_skip(s, &emit, i);
                    s->lx_boundary = s->lexed + i;
                }
                if (i < stop && p[i] != '<') {
                    if ((unsigned char)p[i] == 0x4C && s->lx_doc_start && s->lexed + i == s->lx_boundary)
                        return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_ENCODING,
                                         "unsupported encoding: the stream is not UTF-8 (EBCDIC?)");
                    return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_XML,
                                     "not well-formed: text outside of a stanza");
                }
                if (i > 0 || s->lexed > s->lx_boundary)
                    s->lx_doc_start = s->lx_doc_start && s->lexed + i == s->lx_boundary;
            } else {
                size_t from = i, run = i;
                bool cr = false;
                for (;;) {
                    i = find4(p, i, stop, '<', '&', '>', '\r');
                    if (i >= stop || p[i] == '<' || p[i] == '&')
                        break;
                    if (p[i] == '\r') {
                        cr = true;
                        i++;
                        continue;
                    }
                    /* "]]>" may not appear in text */
                    size_t g = i, rb = 0;
                    while (g > from + rb && rb < 2 && p[g - 1 - rb] == ']')
                        rb++;
                    if (g == from + rb)
                        rb += s->lx_rb;
                    if (rb >= 2)
                        return lex_error(s, p, n, emit, g, tag_start, PXMPP_ERR_XML,
                                         "not well-formed: ']]>' in text");
                    s->lx_rb = 0;
                    from = g + 1;
                    i = from;
                }
                /* remember trailing ']' for a '>' in the next chunk */
                size_t rb = 0;
                while (i > from + rb && rb < 2 && p[i - 1 - rb] == ']')
                    rb++;
                s->lx_rb = (uint8_t)(i == from + rb ? (rb + s->lx_rb > 2 ? 2 : rb + s->lx_rb) : rb);
                if (i > run && ((rc = gate_text(s, p, n, &emit, run, i, cr, &done)) || done))
                    return rc;
            }
            if (i >= stop)
                continue;
            s->lx_rb = 0;
            s->lx_cr = false;
            if (p[i] == '&') {
                /* the tags before it go to libxml2; the reference itself is the gate's */
                if ((rc = emit_range(s, p, n, &emit, i, &done)) || done || s->err)
                    return s->err ? s->err : rc;
                s->lx = LX_REF;
                s->lx_ret = LX_TEXT;
                s->lx_n = 0;
            } else {
                if (s->lx_depth >= 1 && ((rc = cut_room(s, p, n, &emit, i, &done)) || done))
                    return rc;
                size_t e = fast_tag(s, p, i, stop);
                if (e) {
                    tag_closed(s, e);
                    i = e;
                    continue;
                }
                s->lx = LX_LT;
                tag_start = i;
                s->lx_end_tag = false;
                s->lx_slash = false;
                s->lx_attrs = 0;
            }
            i++;
            continue;
        case LX_LT:
            if (c == '!') {
                s->lx = LX_BANG;
                s->lx_n = 0;
            } else if (c == '?') {
                s->lx = LX_PI_NAME;
                s->lx_n = 0;
            } else if (c == 0 && s->lx_doc_start) {
                return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_ENCODING, "unsupported encoding: the stream is not UTF-8");
            } else if (c == '/' || c == ':' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c >= 0x80) {
                s->lx_end_tag = c == '/';
                s->lx = LX_TAG;
            } else {
                return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_XML, "not well-formed: invalid element name");
            }
            i++;
            continue;
        case LX_BANG:
            s->lx_buf[s->lx_n++] = (char)c;
            i++;
            if (s->lx_buf[0] == '-')
                return lex_error(s, p, n, emit, i - 1, tag_start, PXMPP_ERR_RESTRICTED_XML,
                                 "restricted XML: comment not allowed (RFC 6120 §11.1)");
            if (s->lx_buf[0] != '[')
                return lex_error(s, p, n, emit, i - 1, tag_start, PXMPP_ERR_RESTRICTED_XML,
                                 "restricted XML: document type or entity declaration not allowed (RFC 6120 §11.1)");
            if (s->lx_n == 7) {
                if (memcmp(s->lx_buf, "[CDATA[", 7) != 0)
                    return lex_error(s, p, n, emit, i - 1, tag_start, PXMPP_ERR_XML, "not well-formed: bad '<![' section");
                if (s->lx_depth <= 1)
                    return lex_error(s, p, n, emit, i - 1, tag_start, PXMPP_ERR_XML,
                                     "not well-formed: text outside of a stanza");
                /* a CDATA section is text the gate delivers itself: the tags before it go
                   to libxml2, the "<![CDATA[" marker is skipped */
                if (s->hold_len) {
                    s->fed += s->hold_len;
                    s->skipped += s->hold_len;
                    s->hold_len = 0;
                } else if ((rc = emit_range(s, p, n, &emit, tag_start, &done)) || done || s->err) {
                    return s->err ? s->err : rc;
                }
                gate_skip(s, &emit, i);
                s->lx = LX_CDATA;
                s->lx_n = 0;
                tag_start = SIZE_MAX;
            }
            continue;
        case LX_CDATA: {
            /* lx_n counts the ']' seen last and not delivered yet: they may begin "]]>" */
            size_t a = i, prev = s->lx_n;
            bool end = false;
            while (i < stop) {
                char ch = p[i++];
                if (ch == ']') {
                    if (s->lx_n < 2)
                        s->lx_n++;
                } else if (ch == '>' && s->lx_n == 2) {
                    end = true;
                    break;
                } else {
                    s->lx_n = 0;
                }
            }
            /* the content seen is prev ']' then p[a, i) (without the '>' at the end);
               its last lx_n bytes (all ']') wait for what follows */
            size_t seen = prev + (i - a) - (end ? 1 : 0), keep = s->lx_n;
            size_t give = seen - keep, from_prev = give < prev ? give : prev;
            if (from_prev) {
                s->lx_cr = false;
                text_deliver(s, "]]", from_prev);
            }
            if ((rc = gate_text(s, p, n, &emit, a, a + (give - from_prev), true, &done)) || done)
                return rc;
            gate_skip(s, &emit, i);
            if (end) {
                s->lx = LX_TEXT;
                s->lx_n = 0;
                s->lx_cr = false;
            }
            continue;
        }
        case LX_PI_NAME:
            s->lx_buf[s->lx_n++] = (char)c;
            i++;
            if (s->lx_n == 4) {
                bool xml = memcmp(s->lx_buf, "xml", 3) == 0 &&
                           (s->lx_buf[3] == ' ' || s->lx_buf[3] == '\t' || s->lx_buf[3] == '\n' || s->lx_buf[3] == '\r');
                if (xml && !s->lx_doc_start)
                    return lex_error(s, p, n, emit, i - 1, tag_start, PXMPP_ERR_XML,
                                     "not well-formed: XML declaration not at the start of the stream");
                if (!xml)
                    return lex_error(s, p, n, emit, i - 1, tag_start, PXMPP_ERR_RESTRICTED_XML,
                                     "restricted XML: processing instruction not allowed (RFC 6120 §11.1)");
                s->lx = LX_XMLDECL;
                s->lx_n = 0;
                tag_start = SIZE_MAX;
                if ((rc = flush_hold(s, p, n, i, &emit, &done)) || done)
                    return rc;
            }
            continue;
        case LX_XMLDECL:
            while (i < stop) {
                char ch = p[i++];
                if (ch == '>' && s->lx_n == 1) {
                    s->lx = LX_TEXT;
                    s->lx_n = 0;
                    break;
                }
                s->lx_n = ch == '?';
            }
            continue;
        case LX_TQ1:
        case LX_TQ2: {
            i = find4(p, i, stop, s->lx == LX_TQ1 ? '\'' : '"', '<', '&', '&');
            if (i >= stop)
                continue;
            if (p[i] == '<')
                return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_XML, "not well-formed: '<' in an attribute value");
            if (p[i] == '&') {
                s->lx_ret = s->lx;
                s->lx = LX_REF;
                s->lx_n = 0;
            } else {
                s->lx = LX_TAG;
            }
            i++;
            continue;
        }
        case LX_REF:
            if (c == ';') {
                uint32_t cp = 0;
                int r = s->lx_n ? check_ref(s, &cp) : PXMPP_ERR_XML;
                if (r)
                    return lex_error(s, p, n, emit, i, tag_start, r,
                                     r == PXMPP_ERR_RESTRICTED_XML
                                         ? "restricted XML: entity reference other than the predefined ones"
                                         : "not well-formed: malformed character or entity reference");
                s->lx = s->lx_ret;
                i++;
                if (s->lx == LX_TEXT) {
                    char u[4];
                    text_deliver(s, u, utf8_put(u, cp));
                    gate_skip(s, &emit, i);
                    if (s->err)
                        return s->err;
                }
                continue;
            }
            if ((!name_char(c) && c != '#') || s->lx_n >= sizeof s->lx_buf - 1)
                return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_XML, "not well-formed: '&' not followed by a reference");
            s->lx_buf[s->lx_n++] = (char)c;
            i++;
            continue;
        case LX_TAG: {
            size_t from = i;
            i = find4(p, i, stop, '>', '\'', '"', '"');
            if (i > from)
                s->lx_slash = p[i - 1] == '/'; /* "<x/>": the byte before '>' */
            if (i >= stop)
                continue;
            if (p[i] != '>') {
                if (++s->lx_attrs > s->limits.max_attrs) /* one quoted value per attribute */
                    return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_LIMIT, "too many attributes on one element");
                s->lx = p[i] == '\'' ? LX_TQ1 : LX_TQ2;
                s->lx_slash = false;
                i++;
                continue;
            }
            /* a complete tag (still "in the tag" for lex_error: libxml2 never gets it) */
            if (s->lx_end_tag && s->lx_depth == 0)
                return lex_error(s, p, n, emit, i, tag_start, PXMPP_ERR_XML,
                                 "not well-formed: end tag without a start tag");
            bool start_in = !s->lx_end_tag && s->lx_depth >= 1;
            if (start_in) /* on_start takes libxml2's values for it */
                s->cuts[s->cuts_n++] = (struct cut){ .off = tag_start == SIZE_MAX ? 0 : tag_start, .len = 0, .kind = CUT_TAG };
            uint32_t depth_before = s->lx_depth;
            i++;
            tag_closed(s, i);
            if (s->hold_len) {
                /* the tag began in an earlier chunk: hand it over whole */
                if ((rc = hold_append(s, p, i)))
                    return fail_at(s, rc, s->lexed + i, "out of memory");
                size_t used = 0;
                size_t hl = s->hold_len;
                s->hold_len = 0;
                /* whole now, it is cut as if it had come in one chunk (it is the
                   first tag of this input: its TAG entry is the only one) */
                size_t cut_at = SIZE_MAX;
                const char *cbase = s->cut_base;
                if (start_in && s->cuts_n == 1) {
                    bool e = s->lx_end_tag, sl = s->lx_slash;
                    uint32_t d = s->lx_depth;
                    s->cuts_n = 0;
                    s->lx_depth = depth_before;
                    s->cut_base = s->hold;
                    if (fast_tag(s, s->hold, 0, hl))
                        cut_at = 0;
                    else
                        s->cuts[s->cuts_n++] = (struct cut){ .off = 0, .len = 0, .kind = CUT_TAG };
                    s->lx_end_tag = e;
                    s->lx_slash = sl;
                    s->lx_depth = d;
                }
                rc = feed_parser(s, s->hold, hl, &used, cut_at);
                s->cut_base = cbase;
                s->cuts_n = s->cuts_fed = s->cuts_used = 0;
                if (rc == RESTARTED)
                    return gate_restart(s, s->hold + used, hl - used, p + i, n - i);
                if (rc)
                    return rc;
                emit = i;
            }
            tag_start = SIZE_MAX;
            continue;
        }
        }
    }
    /* end of the input: feed what is complete, keep a partial tag */
    if (in_tag(s->lx, s->lx_ret) && !s->lx_closed) {
        if (s->hold_len) {
            if ((rc = hold_append(s, p + emit, n - emit)))
                return fail_at(s, rc, s->lexed + n, "out of memory");
        } else {
            size_t ts = tag_start == SIZE_MAX ? emit : tag_start;
            if ((rc = emit_range(s, p, n, &emit, ts, &done)) || done || s->err)
                return s->err ? s->err : rc;
            if ((rc = hold_append(s, p + ts, n - ts)))
                return fail_at(s, rc, s->lexed + n, "out of memory");
        }
    } else if (s->lx == LX_REF) {
        gate_skip(s, &emit, n); /* a reference in text, continued in the next chunk */
    } else {
        size_t upto = s->lx_closed ? (size_t)(s->lx_boundary - s->lexed) : n;
        if (upto > n)
            upto = n;
        if ((rc = emit_range(s, p, n, &emit, upto, &done)) || done || s->err)
            return s->err ? s->err : rc;
        if (s->lx_closed) {
            s->lexed = s->fed = s->lx_boundary; /* gate() checks the bytes after the close tag */
            return 0;
        }
    }
    s->lexed += n;
    return 0;
}

/* Index of the first byte of p[0, n) that makes the input invalid UTF-8 or an XML
   character that is not allowed (C0 controls but tab, LF, CR; surrogates; U+FFFE,
   U+FFFF; above U+10FFFF; overlong forms), or n.  libxml2 checks some of this
   lazily (in CDATA, at the end of the input), which would make the outcome depend
   on the chunking. */
static size_t utf8_scan(pxmpp_stream *s, const unsigned char *p, size_t n)
{
    size_t i = 0;
    uint32_t need = s->u8_need, cp = s->u8_cp, min = s->u8_min;
    while (i < n) {
        if (need == 0) {
#if defined(__SSE2__) && defined(__GNUC__)
            /* as signed bytes, both >= 0x80 and < 0x20 compare below 0x20 */
            const __m128i sp = _mm_set1_epi8(0x20);
            while (n - i >= 16) {
                unsigned m = (unsigned)_mm_movemask_epi8(
                    _mm_cmplt_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), sp));
                if (m) {
                    i += (size_t)__builtin_ctz(m); /* straight to the first byte that needs a look */
                    break;
                }
                i += 16;
            }
            if (n - i >= 16)
                goto look;
#endif
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                /* any byte >= 0x80 or < 0x20 sends the word to the byte loop */
                if ((w | ((w - 0x2020202020202020ULL) & ~w)) & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            if (i >= n)
                break;
#if defined(__SSE2__) && defined(__GNUC__)
        look:;
#endif
            unsigned c = p[i];
            if (c < 0x80) {
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                    break;
                i++;
                continue;
            }
            /* a whole valid sequence in one step; anything else byte by byte below,
               which finds the exact offset of the fault */
            if (c >= 0xC2 && c <= 0xDF && n - i >= 2 && (p[i + 1] & 0xC0) == 0x80) {
                i += 2;
                continue;
            }
            if (c >= 0xE0 && c <= 0xEF && n - i >= 3 && (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80) {
                uint32_t v = ((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
                if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF) && v < 0xFFFE) {
                    i += 3;
                    continue;
                }
            }
            if (c >= 0xF0 && c <= 0xF4 && n - i >= 4 && (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80 &&
                (p[i + 3] & 0xC0) == 0x80) {
                uint32_t v = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) |
                             (p[i + 3] & 0x3Fu);
                if (v >= 0x10000 && v <= 0x10FFFF) {
                    i += 4;
                    continue;
                }
            }
            if (c >= 0xC2 && c <= 0xDF) {
                need = 1, cp = c & 0x1F, min = 0x80;
            } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2, cp = c & 0x0F, min = 0x800;
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3, cp = c & 0x07, min = 0x10000;
            } else {
                break;
            }
            i++;
            continue;
        }
        unsigned c = p[i];
        if ((c & 0xC0) != 0x80)
            break;
        cp = (cp << 6) | (c & 0x3F);
        if (--need == 0 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF))
            break;
        i++;
    }
    s->u8_need = need;
    s->u8_cp = cp;
    s->u8_min = min;
    return i;
}

/* The bytes p[0, n) that follow the peer's </stream:stream> (or its empty stream
   element).  The document is over: XML allows white space after it (XML 1.0 §2.1,
   document ::= prolog element Misc*; the comments and processing instructions of Misc
   are restricted in XMPP), so white space is counted and dropped, and anything else is
   the sticky PXMPP_ERR_XML at its first byte. */
static int after_close(pxmpp_stream *s, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    if (i < n)
        return fail_at(s, PXMPP_ERR_XML, s->lexed + i, "not well-formed: data after the end of the stream");
    s->lexed += n;
    s->fed = s->lexed;
    return 0;
}

static int gate(pxmpp_stream *s, const char *p, size_t n)
{
    const uint64_t start = s->lexed;
    size_t ok = utf8_scan(s, (const unsigned char *)p, n);
    int rc = gate_lex(s, p, ok);
    if (!rc && !s->err && s->lx_closed) {
        /* the peer closed the stream in this input: what follows its close tag (up to n,
           bytes the UTF-8 scan refused included) is checked as trailing data */
        size_t after = (size_t)(s->lexed - start);
        return after_close(s, p + after, n - after);
    }
    if (rc || ok == n || s->err || s->lx_closed || s->paused)
        return rc;
    unsigned char bad = (unsigned char)p[ok];
    bool first = s->lx_doc_start && s->lexed == s->lx_boundary;
    if ((first && (bad == 0xFE || bad == 0xFF || bad == 0x00)) || /* a UTF-16/32 BOM, or "\0<" */
        (bad == 0 && s->lx_doc_start && s->lexed == s->lx_boundary + 1)) /* "<\0": UTF-16/32 without a BOM */
        return fail_at(s, PXMPP_ERR_ENCODING, s->lexed, "unsupported encoding: the stream is not UTF-8");
    return fail_at(s, PXMPP_ERR_XML, s->lexed, "not well-formed: invalid UTF-8 or a character not allowed in XML");
}

int pxmpp_stream_feed(pxmpp_stream *s, const void *data, size_t len)
{
    size_t consumed;
    int rc = pxmpp_stream_feed_partial(s, data, len, &consumed);
    if (rc == 0 && consumed < len && s->paused)
        return 0; /* paused by a callback: the caller of pxmpp_stream_feed drops the rest */
    return rc;
}

int pxmpp_stream_pause(pxmpp_stream *s)
{
    if (!s)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!s->in_parse)
        return PXMPP_ERR_STATE;
    s->pause_pending = true;
    s->restart_pending = true;
    s->restart_at = cur_offset(s);
    return 0;
}

int pxmpp_stream_feed_partial(pxmpp_stream *s, const void *data, size_t len, size_t *consumed)
{
    if (!s || (!data && len) || !consumed)
        return PXMPP_ERR_INVALID_ARGUMENT;
    *consumed = 0;
    if (s->err)
        return s->err;
    if (s->paused)
        return PXMPP_ERR_STATE;
    if (s->state == ST_CLOSED || s->lx_closed) {
        *consumed = len;
        return after_close(s, data, len);
    }
    uint64_t start = s->lexed;
    int rc = gate(s, data, len);
    if (rc == PAUSED) {
        *consumed = (size_t)(s->lexed - start);
        return 0;
    }
    *consumed = len;
    return rc ? rc : s->err;
}

int pxmpp_stream_finish(pxmpp_stream *s)
{
    if (!s)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->err)
        return s->err;
    if (s->state == ST_CLOSED)
        return 0;
    if ((s->flags & PXMPP_STREAM_CONTENT_ONLY) && s->depth == 1 && pxmpp__decoder_depth(s->decoder) == 0 &&
        s->lx == LX_TEXT && s->hold_len == 0) {
        /* make sure libxml2 has no half-parsed construct pending */
        s->in_parse = true;
        xmlParseChunk(s->ctxt, "</stream:stream>", 16, 0);
        s->in_parse = false;
        if (s->err)
            return s->err;
        if (s->state == ST_CLOSED)
            return 0;
    }
    return fail_at(s, PXMPP_ERR_TRUNCATED, s->lexed, "input ended inside %s",
                   s->state == ST_HEADER ? "the stream header" : s->depth > 1 ? "an element" : "the stream");
}

int pxmpp_stream_open(pxmpp_stream *s, const pxmpp_stream_header *h)
{
    if (!s)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->err)
        return s->err;
    if (s->we_opened || s->we_closed)
        return PXMPP_ERR_STATE;
    int rc = write_header(s, h);
    if (rc == PXMPP_ERR_WRITE)
        return fail_at(s, rc, api_offset(s), "write callback failed");
    return rc;
}

static int write_header(pxmpp_stream *s, const pxmpp_stream_header *h)
{
    pxmpp_buf b;
    pxmpp_buf_init(&b, &s->mem);
    int rc = pxmpp_buf_append(&b, "<?xml version='1.0'?><stream:stream xmlns='", 43);
    if (!rc) rc = pxmpp_buf_append_escaped(&b, s->content_ns, strlen(s->content_ns), 1); /* checked by _new */
    if (!rc) rc = pxmpp_buf_append(&b, "' xmlns:stream='http://etherx.jabber.org/streams'", 49);
    const char *names[4] = { "to", "from", "id", "xml:lang" };
    const char *vals[4] = { h ? h->to : NULL, h ? h->from : NULL, h ? h->id : NULL, h ? h->lang : NULL };
    for (int i = 0; i < 4 && !rc; i++) {
        if (!vals[i])
            continue;
        rc = pxmpp_buf_append(&b, " ", 1);
        if (!rc) rc = pxmpp_buf_append(&b, names[i], strlen(names[i]));
        if (!rc) rc = pxmpp_buf_append(&b, "='", 2);
        if (!rc) rc = pxmpp_buf_append_escaped_ex(&b, vals[i], strlen(vals[i]), 1, write_flags(s));
        if (!rc) rc = pxmpp_buf_append(&b, "'", 1);
    }
    const char *ver = h && h->version ? h->version : versionless(s) ? NULL : "1.0";
    if (!rc && ver) rc = pxmpp_buf_append(&b, " version='", 10);
    if (!rc && ver) rc = pxmpp_buf_append_escaped_ex(&b, ver, strlen(ver), 1, write_flags(s));
    if (!rc && ver) rc = pxmpp_buf_append(&b, "'", 1);
    if (!rc) rc = pxmpp_buf_append(&b, ">", 1);
    if (!rc) {
        s->we_opened = true;
        rc = write_bytes(s, b.data, b.len);
    }
    pxmpp_buf_free(&b);
    return rc;
}

int pxmpp_stream_restart(pxmpp_stream *s)
{
    if (!s)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->err)
        return s->err;
    s->we_opened = false;
    if (s->in_parse) {
        /* called from a callback: the parser is running; restart after the current element */
        s->restart_pending = true;
        s->restart_at = cur_offset(s);
        return 0;
    }
    s->paused = false;
    s->fed = s->lexed; /* a partial tag of the old document is dropped */
    int rc = new_parser(s);
    return rc ? fail_at(s, rc, s->fed, "%s", pxmpp_strerror(rc)) : 0;
}

int pxmpp_stream_send(pxmpp_stream *s, const pxmpp_type_desc *type, const void *data)
{
    if (!s || !type || !data)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->err)
        return s->err;
    if (!s->we_opened || s->we_closed)
        return PXMPP_ERR_STATE;
    s->out.len = 0;
    int rc = pxmpp_write(&s->out, type, data, s->content_ns, write_flags(s));
    if (rc)
        return rc;
    rc = write_bytes(s, s->out.data, s->out.len);
    if (rc)
        return fail_at(s, rc, api_offset(s), "write callback failed");
    return 0;
}

int pxmpp_stream_send_message(pxmpp_stream *s, const pxmpp_message *m) { return pxmpp_stream_send(s, &pxmpp_message_desc, m); }
int pxmpp_stream_send_presence(pxmpp_stream *s, const pxmpp_presence *p) { return pxmpp_stream_send(s, &pxmpp_presence_desc, p); }
int pxmpp_stream_send_iq(pxmpp_stream *s, const pxmpp_iq *iq) { return pxmpp_stream_send(s, &pxmpp_iq_desc, iq); }

const char *pxmpp_stream_make_id(pxmpp_stream *s, char *buf, size_t cap)
{
    if (!s || !buf || cap < 32)
        return NULL;
    snprintf(buf, cap, "px%08x-%llu", (unsigned)s->id_salt, (unsigned long long)++s->id_counter);
    return buf;
}

int pxmpp_stream_close(pxmpp_stream *s)
{
    if (!s)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!s->we_opened || s->we_closed)
        return PXMPP_ERR_STATE;
    s->we_closed = true;
    int rc = write_bytes(s, "</stream:stream>", 16);
    return rc ? fail_at(s, rc, api_offset(s), "write callback failed") : 0;
}

int pxmpp_stream_send_error(pxmpp_stream *s, pxmpp_stream_error_condition cond, const char *text)
{
    return pxmpp_stream_send_error_app(s, cond, text, NULL, NULL);
}

int pxmpp_stream_send_error_app(pxmpp_stream *s, pxmpp_stream_error_condition cond, const char *text,
                                const pxmpp_type_desc *app, const void *app_data)
{
    if (!s || !pxmpp_stream_error_condition_str(cond) || (app && !app_data))
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->we_closed)
        return PXMPP_ERR_STATE;
    int rc = send_error_bytes(s, cond, text, app, app_data);
    if (rc == PXMPP_ERR_INVALID_CHAR)
        return rc; /* nothing was sent: the stream is as it was */
    if (!s->err) {
        s->err = PXMPP_ERR_CLOSED;
        snprintf(s->reason, sizeof s->reason, "stream error sent: %s", pxmpp_stream_error_condition_str(cond));
        s->err_offset = s->fed;
    }
    return rc;
}

int pxmpp_stream_last_error(const pxmpp_stream *s, const char **reason, uint64_t *offset)
{
    if (!s)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (reason)
        *reason = s->err ? s->reason : "";
    if (offset)
        *offset = s->err_offset;
    return s->err;
}

uint64_t pxmpp_stream_offset(const pxmpp_stream *s) { return s ? s->lexed : 0; }

size_t pxmpp_stream_memory(const pxmpp_stream *s)
{
    if (!s)
        return 0;
    return sizeof *s + pxmpp_arena_held(s->arena) + pxmpp__decoder_held(s->decoder) + s->out.cap + s->hold_cap +
           s->resume_hdr.cap + s->cuts_cap * (sizeof *s->cuts + sizeof *s->brk) + s->stage_cap +
           (s->limits.max_depth + 1) * sizeof *s->dns;
}

void pxmpp__stream_wipe_output(pxmpp_stream *s)
{
    if (s && s->out.data && s->out.cap)
        OPENSSL_cleanse(s->out.data, s->out.cap);
    if (s)
        s->out.len = 0;
}

const pxmpp__work *pxmpp__stream_work(const pxmpp_stream *s) { return pxmpp__decoder_work(s->decoder); }
