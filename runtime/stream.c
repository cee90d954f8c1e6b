/* The stream: the feed loop that pulls events from the gate (gate.h) and hands
 * them on — plain tags and text to the decoder itself, other tags to libxml2's SAX2
 * push parser, whose callbacks lead to the same start_element / end_element — plus
 * the stream header, restarts, limits, restricted XML and stream errors (RFC 6120
 * §4, §11). */
#include "internal.h"
#include "gate.h"

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

enum state { ST_HEADER, ST_OPEN, ST_CLOSED };
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
    bool restart_pending;  /* a callback asked for a new context at restart_at (an app offset) */
    uint64_t restart_at;
    bool in_parse;         /* inside xmlParseChunk or gate_element: callbacks may be running */
    bool in_gate_tag;      /* inside gate_element: the current offset is gate_off */
    uint64_t gate_off;
    bool refresh_pending;  /* the pending restart only renews libxml2's context (same stream) */
    bool pause_pending;    /* stop reading after the current element (pxmpp_stream_pause) */
    bool paused;           /* stopped: only pxmpp_stream_restart() continues */
    bool resuming;         /* feeding the synthetic header of a renewed context */
    pxmpp_buf resume_hdr;  /* the peer's stream start tag, rebuilt with its namespace declarations */
    bool peer_error;
    uint64_t stanza_offset;

    /* the byte-level lexer in front of libxml2 (gate.c) */
    pxmpp__gate gate;
    const xmlChar **dns;    /* [d]: the default namespace in scope at depth d (1..max_depth) */
    struct {
        const xmlChar *local, *uri;
        const pxmpp_type_desc *type;
    } tops[4];              /* types of top-level elements, by libxml2's name pointers */
    struct {
        uint64_t w[2];        /* the name's bytes, zero-padded (names up to 16 bytes) */
        const xmlChar *name;  /* in libxml2's dictionary; NULL: empty slot */
    } names[32];            /* attribute names cut lately (intern_name) */
    struct {
        const xmlChar *uri;   /* in libxml2's dictionary; NULL: empty slot */
        size_t len;
    } nss[4];               /* default namespaces cut lately (intern_ns) */

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
    if (s->in_gate_tag)
        return s->gate_off;
    if (!s->ctxt)
        return s->gate.lexed;
    return pxmpp__gate_offset(&s->gate, xmlByteConsumed(s->ctxt));
}

/* Offset reported for a failure of an API call: where the parser is when the call
   comes from a callback, otherwise everything fed so far. */
static uint64_t api_offset(pxmpp_stream *s) { return s->in_parse ? cur_offset(s) : s->gate.lexed; }

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
            char r[sizeof s->gate.lx_buf];
            size_t e = k + 1, rn = 0;
            while (e < n && v[e] != ';' && rn < sizeof r - 1)
                r[rn++] = v[e++];
            r[rn] = '\0';
            uint32_t cp = 0;
            (void)pxmpp__gate_ref_value(r, &cp);
            if (cp == '&') {
                memcpy(o + m, "&#38;", 5);
                m += 5;
            } else {
                m += pxmpp__utf8_put(o + m, cp);
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

/* A default namespace cut by the gate, as libxml2's dictionary holds it; the last few
   are remembered (a stream declares the same ones over and over). */
static const xmlChar *intern_ns(pxmpp_stream *s, const char *v, size_t len)
{
    for (size_t k = 0; k < sizeof s->nss / sizeof s->nss[0] && s->nss[k].uri; k++)
        if (s->nss[k].len == len && memcmp(s->nss[k].uri, v, len) == 0)
            return s->nss[k].uri;
    const xmlChar *d = xmlDictLookup(s->ctxt->dict, (const xmlChar *)v, (int)len);
    if (d) {
        memmove(&s->nss[1], &s->nss[0], sizeof s->nss - sizeof s->nss[0]);
        s->nss[0].uri = d;
        s->nss[0].len = len;
    }
    return d;
}

/* The entries of a start tag the gate cut (tag: its TAG or START entry): the names it
   cut whole and the default namespace it cut are interned here, as libxml2 would have,
   before the names are counted; *nc, *nw: attributes and namespace declarations cut
   whole, *nv: values cut from attributes libxml2 saw.  0, or the sticky error. */
static int take_entries(pxmpp_stream *s, struct pxmpp__cut *tag, const xmlChar **cut_ns, size_t *nc, size_t *nw,
                        uint32_t *nv)
{
    const pxmpp__gate *g = &s->gate;
    for (uint32_t k = 1; k <= tag->len; k++) {
        struct pxmpp__cut *c = &tag[k];
        if (c->kind == CUT_NSW) {
            *cut_ns = intern_ns(s, g->cut_base + c->off + c->voff, c->vlen);
            (*nw)++;
            if (!*cut_ns)
                return FAIL(s, PXMPP_ERR_NOMEM, "out of memory");
        } else if (c->kind == CUT_ATTR || c->kind == CUT_ATTRX) {
            c->name = intern_name(s, g->cut_base + c->off + c->noff, c->nlen);
            if (!c->name)
                return FAIL(s, PXMPP_ERR_NOMEM, "out of memory");
            (*nc)++;
        } else if (c->kind == CUT_LANG || c->kind == CUT_LANGX) {
            (*nc)++;
        } else {
            (*nv)++;
        }
    }
    return 0;
}

/* The gate's entries for the start tag on_start got.  Returns the tag's entry, or
   NULL when libxml2 saw the tag whole or on a failure (then the sticky error is set). */
static struct pxmpp__cut *take_cuts(pxmpp_stream *s, const xmlChar *local, int na, const xmlChar **cut_ns, size_t *nc,
                                    size_t *nw)
{
    pxmpp__gate *g = &s->gate;
    if (s->depth < 1 || g->cuts_used >= g->cuts_n || g->cuts[g->cuts_used].kind != CUT_TAG)
        return NULL;
    struct pxmpp__cut *tag = &g->cuts[g->cuts_used];
    g->cuts_used += 1 + (size_t)tag->len;
    uint32_t nv = 0;
    if (take_entries(s, tag, cut_ns, nc, nw, &nv))
        return NULL;
    if (tag->len == 0)
        return NULL; /* lexed byte by byte: libxml2 saw it whole */
    if (nv != (uint32_t)na) {
        FAIL(s, PXMPP_ERR_XML, "not well-formed: attributes of <%.60s/>", (const char *)local);
        return NULL;
    }
    return tag;
}

static void start_element(pxmpp_stream *s, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
                          const xmlChar **nss, int na, const xmlChar **attrs, const struct pxmpp__cut *tag,
                          const xmlChar *cut_ns, size_t nc, size_t nw);

static void on_start(void *user, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
                     const xmlChar **nss, int na, int nd, const xmlChar **attrs)
{
    pxmpp_stream *s = user;
    (void)nd;
    if (s->err || s->restart_pending || s->state == ST_CLOSED)
        return;
    const xmlChar *cut_ns = NULL;
    size_t nc = 0, nw = 0; /* attributes and namespace declarations cut whole */
    struct pxmpp__cut *tag = take_cuts(s, local, na, &cut_ns, &nc, &nw);
    if (s->err)
        return;
    start_element(s, local, prefix, uri, nns, nss, na, attrs, tag, cut_ns, nc, nw);
}

/* An element starts: from libxml2 (on_start) or from the gate (gate_element: no
   prefix, nns, na 0, everything in the entries after tag). */
static void start_element(pxmpp_stream *s, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
                          const xmlChar **nss, int na, const xmlChar **attrs, const struct pxmpp__cut *tag,
                          const xmlChar *cut_ns, size_t nc, size_t nw)
{
    if (s->ctxt->dict && (size_t)xmlDictSize(s->ctxt->dict) > s->limits.max_names) {
        FAIL(s, PXMPP_ERR_LIMIT, "more than %zu distinct names in the stream", s->limits.max_names);
        return;
    }
    if ((size_t)na + nc + (size_t)nns + nw > s->limits.max_attrs) {
        FAIL(s, PXMPP_ERR_LIMIT, "more than %zu attributes on <%.60s/>", s->limits.max_attrs, (const char *)local);
        return;
    }
    /* The default namespace in scope, kept here because libxml2 does not see a
       default namespace declaration the gate cut: an unprefixed element is in it. */
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
    const struct pxmpp__cut *v = tag ? tag + 1 : NULL, *vend = tag ? tag + 1 + tag->len : NULL;
    int li = 0;
    for (size_t r = 0; r < total; r++) {
        while (v && v < vend && v->kind == CUT_NSW)
            v++;
        if (v && v < vend && (v->kind == CUT_ATTR || v->kind == CUT_ATTRX)) {
            ra[r].local = (const char *)v->name;
            ra[r].ns = NULL;
            ra[r].value = s->gate.cut_base + v->off + v->voff;
            ra[r].len = v->vlen;
        } else if (v && v < vend && (v->kind == CUT_LANG || v->kind == CUT_LANGX)) {
            ra[r].local = "lang";
            ra[r].ns = PXMPP_NS_XML;
            ra[r].value = s->gate.cut_base + v->off;
            ra[r].len = v->len;
        } else {
            const xmlChar **a = attrs + 5 * li++;
            ra[r].local = (const char *)a[0];
            ra[r].ns = (const char *)a[2];
            ra[r].value = (const char *)a[3];
            ra[r].len = (size_t)(a[4] - a[3]);
            if (v && (v->kind == CUT_VAL || v->kind == CUT_VALX)) {
                ra[r].value = s->gate.cut_base + v->off;
                ra[r].len = v->len;
            }
        }
        if (v && (v->kind == CUT_VALX || v->kind == CUT_ATTRX || v->kind == CUT_LANGX) &&
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

static void end_element(pxmpp_stream *s);

static void on_end(void *user, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    pxmpp_stream *s = user;
    (void)local;
    (void)prefix;
    (void)uri;
    if (s->err || s->restart_pending || s->state == ST_CLOSED)
        return;
    end_element(s);
}

/* An element ends: from libxml2 (on_end) or from the gate (gate_element). */
static void end_element(pxmpp_stream *s)
{
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

/* libxml2 parses d[0, n) in the current context, with the SAX handlers above: the
   only place that calls it (the feed loop's tags, a synthetic header, the close of a
   content-only stream).  Pieces of at most 1 GiB (its length is an int); it stops
   early when a callback failed or asked for a new context. */
static void lib_parse(pxmpp_stream *s, const char *d, size_t n)
{
    s->in_parse = true;
    do {
        size_t k = n > (1u << 30) ? (1u << 30) : n;
        xmlParseChunk(s->ctxt, d, (int)k, 0);
        d += k;
        n -= k;
    } while (n && !s->err && !s->restart_pending);
    s->in_parse = false;
}

/* A new libxml2 context from app offset `at` on: a new document, or the same stream
   renewed (refresh_pending) at a stanza boundary. */
static int new_parser(pxmpp_stream *s, uint64_t at)
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
    memset(s->names, 0, sizeof s->names); /* they point into the old dictionary */
    memset(s->nss, 0, sizeof s->nss);
    memset(s->tops, 0, sizeof s->tops);
    if (!resume)
        s->state = ST_HEADER;
    pxmpp__gate_reset(&s->gate, at, resume, (s->flags & PXMPP_STREAM_CONTENT_ONLY) != 0);
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
        pxmpp__gate_prefix(&s->gate, hlen);
        s->resuming = resume;
        lib_parse(s, hdr, hlen);
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
    pxmpp__gate_init(&s->gate, mem, s->limits.max_header_bytes, s->limits.max_stanza_bytes, s->limits.max_attrs,
                     s->limits.max_depth);
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
        rc = new_parser(s, 0);
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
    pxmpp__gate_free(&s->gate);
    s->mem.free(s->dns, s->mem.ud);
    s->mem.free(s, s->mem.ud);
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

/* ---- the feed loop ----------------------------------------------------------------- */

/* Character data the gate handed on: the decoder's, inside a stanza. */
static void on_gate_text(pxmpp_stream *s, const pxmpp__gate_event *ev)
{
    if (s->state == ST_CLOSED || s->depth <= 1)
        return;
    int rc = pxmpp__decoder_text(s->decoder, ev->data, ev->len);
    if (rc)
        fail_at(s, rc, ev->at, "%s", pxmpp_strerror(rc));
}

/* A tag the gate read itself (libxml2 never saw it): the element starts or ends as
   if libxml2 had called on_start or on_end, with the offset after the tag. */
static void gate_element(pxmpp_stream *s, const pxmpp__gate_event *ev)
{
    s->in_parse = true;
    s->in_gate_tag = true;
    s->gate_off = ev->end;
    if (ev->kind == PXMPP__GATE_END) {
        end_element(s);
    } else {
        const xmlChar *local = intern_name(s, ev->data, ev->len), *cut_ns = NULL;
        size_t nc = 0, nw = 0;
        uint32_t nv = 0;
        if (!local)
            FAIL(s, PXMPP_ERR_NOMEM, "out of memory");
        else if (!take_entries(s, ev->tag, &cut_ns, &nc, &nw, &nv)) {
            s->gate.cuts_used = (size_t)(ev->tag - s->gate.cuts) + 1 + ev->tag->len; /* for libxml2's tags after it */
            start_element(s, local, NULL, NULL, 0, NULL, 0, NULL, ev->tag, cut_ns, nc, nw);
            if (ev->empty && !s->err)
                end_element(s);
        }
    }
    s->in_gate_tag = false;
    s->in_parse = false;
}

/* A callback asked for a new context while the tags of ev were read: from app
   offset `at` (clamped to the event and this feed) on, the input is read again for
   it.  Returns the offset, or UINT64_MAX when the stream paused there. */
static uint64_t restart_now(pxmpp_stream *s, const pxmpp__gate_event *ev, uint64_t start)
{
    uint64_t at = s->restart_at;
    uint64_t lo = ev->at > start ? ev->at : start;
    at = at < lo ? lo : at > s->gate.lexed ? s->gate.lexed : at;
    s->restart_pending = false;
    if (s->pause_pending) {
        /* pxmpp_stream_pause(): the rest of the input stays unread */
        s->pause_pending = false;
        s->paused = true;
        pxmpp__gate_reset(&s->gate, at, false, (s->flags & PXMPP_STREAM_CONTENT_ONLY) != 0);
        return UINT64_MAX;
    }
    int rc = new_parser(s, at);
    if (rc)
        fail_at(s, rc, at, "%s", pxmpp_strerror(rc));
    return at;
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
    if (s->state == ST_CLOSED)
        pxmpp__gate_close(&s->gate); /* what follows is checked as trailing white space */
    const char *p = data;
    size_t n = len;
    const uint64_t start = s->gate.lexed;
    for (;;) {
        pxmpp__gate_event ev;
        size_t used = pxmpp__gate_next(&s->gate, p, n, &ev);
        p += used;
        n -= used;
        switch (ev.kind) {
        case PXMPP__GATE_MORE:
            *consumed = len;
            return 0;
        case PXMPP__GATE_TEXT:
            on_gate_text(s, &ev);
            break;
        case PXMPP__GATE_FAIL:
            fail_at(s, ev.code, ev.at, "%s", ev.what);
            break;
        case PXMPP__GATE_TAGS:
            lib_parse(s, ev.data, ev.len);
            break;
        case PXMPP__GATE_START:
        case PXMPP__GATE_END:
            gate_element(s, &ev);
            break;
        }
        if (!s->err && s->restart_pending) {
            uint64_t at = restart_now(s, &ev, start);
            if (at == UINT64_MAX) {
                *consumed = (size_t)(s->gate.lexed - start);
                return 0;
            }
            p = (const char *)data + (at - start);
            n = len - (size_t)(at - start);
        }
        if (s->err) {
            *consumed = len;
            return s->err;
        }
    }
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
        pxmpp__gate_idle(&s->gate)) {
        /* make sure libxml2 has no half-parsed construct pending */
        lib_parse(s, "</stream:stream>", 16);
        if (s->err)
            return s->err;
        if (s->state == ST_CLOSED)
            return 0;
    }
    return fail_at(s, PXMPP_ERR_TRUNCATED, s->gate.lexed, "input ended inside %s",
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
    int rc = new_parser(s, s->gate.lexed); /* a partial tag of the old document is dropped */
    return rc ? fail_at(s, rc, s->gate.lexed, "%s", pxmpp_strerror(rc)) : 0;
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
        s->err_offset = s->gate.lexed;
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

uint64_t pxmpp_stream_offset(const pxmpp_stream *s) { return s ? s->gate.lexed : 0; }

size_t pxmpp_stream_memory(const pxmpp_stream *s)
{
    if (!s)
        return 0;
    return sizeof *s + pxmpp_arena_held(s->arena) + pxmpp__decoder_held(s->decoder) + s->out.cap +
           s->resume_hdr.cap + pxmpp__gate_memory(&s->gate) +
           (s->limits.max_depth + 1) * sizeof *s->dns;
}

int pxmpp_stream_trim(pxmpp_stream *s)
{
    if (!s)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->in_parse || pxmpp__decoder_depth(s->decoder) != 0)
        return PXMPP_ERR_STATE;
    pxmpp__arena_release(s->arena);
    pxmpp__decoder_trim(s->decoder);
    pxmpp__gate_trim(&s->gate);
    pxmpp__stream_wipe_output(s); /* it may have held a SASL message */
    pxmpp_buf_free(&s->out);
    pxmpp_buf_init(&s->out, &s->mem);
    return 0;
}

void pxmpp__stream_wipe_output(pxmpp_stream *s)
{
    if (s && s->out.data && s->out.cap)
        OPENSSL_cleanse(s->out.data, s->out.cap);
    if (s)
        s->out.len = 0;
}

const pxmpp__work *pxmpp__stream_work(const pxmpp_stream *s) { return pxmpp__decoder_work(s->decoder); }
