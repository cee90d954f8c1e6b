/* The stream: libxml2's SAX2 push parser wired to the builder, plus the stream
 * header, restarts, limits, restricted XML and stream errors (RFC 6120 §4, §11). */
#include "internal.h"

#include <pxmpp/stream.h>
#include <pxmpp/writer.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
    pxmpp__builder *builder;
    pxmpp_arena *arena;
    pxmpp_buf out;

    enum state state;
    size_t depth;          /* element depth in the current document (1 = stream element) */
    bool we_opened;        /* our header was written */
    bool we_closed;        /* our close tag was written */
    bool restart_pending;
    uint64_t restart_at;   /* app offset where the restarted parser begins */
    bool peer_error;
    uint64_t fed;          /* bytes fed by the app */
    uint64_t ctxt_base;    /* app offset of the first byte given to the current parser */
    size_t prefix_len;     /* synthetic bytes given to the current parser before app bytes */
    uint64_t since_stanza; /* bytes since the last top-level element ended */
    uint64_t stanza_offset;

    int err;
    char reason[256];
    uint64_t err_offset;

    uint64_t id_counter;
    uint32_t id_salt;
    char peer_lang[64];
    bool has_peer_lang;
};

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
    uint64_t off = s->ctxt_base + ((uint64_t)c - s->prefix_len);
    return off > s->fed ? s->fed : off;
}

static int write_bytes(pxmpp_stream *s, const char *d, size_t n)
{
    if (!s->cb.write)
        return 0;
    return s->cb.write(s->user, d, n) < 0 ? PXMPP_ERR_WRITE : 0;
}

static pxmpp_stream_error_condition condition_for(int code)
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

static int send_error_bytes(pxmpp_stream *s, pxmpp_stream_error_condition cond, const char *text)
{
    if (!s->cb.write || s->we_closed || (s->flags & PXMPP_STREAM_CONTENT_ONLY))
        return 0;
    if (!s->we_opened) {
        /* RFC 6120 §4.9.1.1: the receiving entity opens a stream before the error */
        pxmpp_stream_header h = { 0 };
        int rc = write_header(s, &h);
        if (rc)
            return rc;
    }
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
        rc = pxmpp_buf_append_escaped(&b, text, strlen(text), 0);
    if (!rc && text)
        rc = pxmpp_buf_append(&b, "</text>", 7);
    if (!rc)
        rc = pxmpp_buf_append(&b, "</stream:error></stream:stream>", 31);
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
    if (s->ctxt)
        xmlStopParser(s->ctxt);
    pxmpp_stream_error_condition cond = condition_for(code);
    if (cond != PXMPP_STREAM_ERROR_CONDITION_ABSENT)
        (void)send_error_bytes(s, cond, NULL);
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
        code = PXMPP_ERR_XML;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", e->message ? e->message : "XML error");
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    FAIL(s, code, "%s %s", code == PXMPP_ERR_RESTRICTED_XML ? "restricted XML:" : "not well-formed:", msg);
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

static void header_start(pxmpp_stream *s, const xmlChar *local, const xmlChar *uri, int nns,
                         const xmlChar **nss, int na, const xmlChar **attrs)
{
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
        /* decode "&#38;" (libxml2 SAX2 keeps '&' escaped in attribute values) */
        size_t o = 0;
        for (size_t k = 0; k < len;) {
            if (len - k >= 5 && memcmp(a[3] + k, "&#38;", 5) == 0) {
                vals[slot][o++] = '&';
                k += 5;
            } else {
                vals[slot][o++] = (char)a[3][k++];
            }
        }
        vals[slot][o] = '\0';
        const char **dst[5] = { &h.to, &h.from, &h.id, &h.version, &h.lang };
        *dst[slot] = vals[slot];
    }
    if (!h.version || h.version[0] != '1' || h.version[1] != '.') {
        FAIL(s, PXMPP_ERR_VERSION, "unsupported stream version '%.20s' (1.x required)", h.version ? h.version : "");
        return;
    }
    s->has_peer_lang = h.lang && strlen(h.lang) < sizeof s->peer_lang;
    if (s->has_peer_lang)
        strcpy(s->peer_lang, h.lang);
    s->state = ST_OPEN;
    s->since_stanza = 0;
    if (s->cb.opened && !(s->flags & PXMPP_STREAM_CONTENT_ONLY))
        s->cb.opened(s->user, &h);
}

static void on_start(void *user, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
                     const xmlChar **nss, int na, int nd, const xmlChar **attrs)
{
    pxmpp_stream *s = user;
    (void)prefix;
    (void)nd;
    if (s->err || s->restart_pending || s->state == ST_CLOSED)
        return;
    if ((size_t)na + (size_t)nns > s->limits.max_attrs) {
        FAIL(s, PXMPP_ERR_LIMIT, "more than %zu attributes on <%.60s/>", s->limits.max_attrs, (const char *)local);
        return;
    }
    s->depth++;
    if (s->depth == 1) {
        header_start(s, local, uri, nns, nss, na, attrs);
        return;
    }
    if (s->peer_error) {
        FAIL(s, PXMPP_ERR_XML, "element after the peer's stream error");
        return;
    }
    int rc;
    if (s->depth == 2) {
        const pxmpp_type_desc *d = pxmpp__registry_find(s->reg, (const char *)uri, (const char *)local,
                                                        s->content_ns, 0, true);
        if (!d) {
            FAIL(s, PXMPP_ERR_UNSUPPORTED_STANZA, "unsupported top-level element {%.80s}%.60s",
                 uri ? (const char *)uri : "", (const char *)local);
            return;
        }
        s->stanza_offset = cur_offset(s);
        pxmpp_arena_reset(s->arena);
        pxmpp_arena_set_limit(s->arena, s->limits.max_stanza_bytes * 8 + 65536);
        pxmpp__builder_begin(s->builder, s->arena, d, s->content_ns, s->has_peer_lang ? s->peer_lang : NULL);
    }
    pxmpp__rattr stack_attrs[16];
    pxmpp__rattr *ra = stack_attrs;
    if (na > 16) {
        ra = pxmpp_arena_alloc(s->arena, (size_t)na * sizeof *ra);
        if (!ra) {
            FAIL(s, PXMPP_ERR_NOMEM, "out of memory");
            return;
        }
    }
    for (int i = 0; i < na; i++) {
        const xmlChar **a = attrs + 5 * i;
        ra[i].local = (const char *)a[0];
        ra[i].ns = (const char *)a[2];
        ra[i].value = (const char *)a[3];
        ra[i].len = (size_t)(a[4] - a[3]);
    }
    rc = pxmpp__builder_start(s->builder, (const char *)uri, (const char *)local, ra, (size_t)na);
    if (rc == PXMPP_ERR_LIMIT)
        FAIL(s, PXMPP_ERR_LIMIT, "elements nested deeper than %zu", s->limits.max_depth);
    else if (rc == PXMPP_ERR_UNSUPPORTED_STANZA)
        FAIL(s, rc, "unsupported top-level element");
    else if (rc)
        FAIL(s, rc, "%s", rc == PXMPP_ERR_NOMEM && pxmpp_arena_hit_limit(s->arena) ? "stanza too large" : pxmpp_strerror(rc));
}

static void deliver(pxmpp_stream *s, const pxmpp__built *b)
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
    pxmpp__built b;
    int rc = pxmpp__builder_end(s->builder, &b);
    s->depth--;
    if (rc < 0) {
        FAIL(s, rc, "%s", rc == PXMPP_ERR_NOMEM && pxmpp_arena_hit_limit(s->arena) ? "stanza too large" : pxmpp_strerror(rc));
        return;
    }
    if (rc == 1) {
        s->since_stanza = 0;
        deliver(s, &b);
        pxmpp_arena_reset(s->arena);
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
    int rc = pxmpp__builder_text(s->builder, (const char *)ch, (size_t)len);
    if (rc)
        FAIL(s, rc, "%s", pxmpp_strerror(rc));
}

/* ---- parser lifecycle ---------------------------------------------------------- */

static int new_parser(pxmpp_stream *s)
{
    if (s->ctxt) {
        xmlFreeParserCtxt(s->ctxt);
        s->ctxt = NULL;
    }
    s->ctxt = xmlCreatePushParserCtxt(&s->sax, s, NULL, 0, NULL);
    if (!s->ctxt)
        return PXMPP_ERR_NOMEM;
    xmlCtxtUseOptions(s->ctxt, XML_PARSE_NONET);
    s->ctxt->replaceEntities = 0;
    s->depth = 0;
    s->ctxt_base = s->fed;
    s->prefix_len = 0;
    s->state = ST_HEADER;
    if (s->flags & PXMPP_STREAM_CONTENT_ONLY) {
        char hdr[256];
        int n = snprintf(hdr, sizeof hdr, synthetic_header, s->content_ns);
        if (n < 0 || (size_t)n >= sizeof hdr)
            return PXMPP_ERR_INVALID_ARGUMENT;
        s->prefix_len = (size_t)n;
        xmlParseChunk(s->ctxt, hdr, n, 0);
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
    if (!s->content_ns) s->content_ns = PXMPP_NS_CLIENT;
    if (!s->reg) s->reg = &pxmpp_generated_registry;
    pxmpp_buf_init(&s->out, mem);
    s->id_salt = (uint32_t)(((uintptr_t)s >> 4) ^ (uint32_t)time(NULL)) * 2654435761u;

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

    int rc = pxmpp_arena_new(&s->arena, mem, 8192);
    if (!rc)
        rc = pxmpp__builder_new(&s->builder, mem, s->reg, s->limits.max_depth);
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
    pxmpp__builder_free(s->builder);
    pxmpp_arena_free(s->arena);
    pxmpp_buf_free(&s->out);
    s->mem.free(s, s->mem.ud);
}

/* Encoding check on the first bytes of a document: a BOM or bytes that are not
   ASCII-compatible mean UTF-16/32 or EBCDIC, which XMPP forbids. */
static int check_first_bytes(pxmpp_stream *s, const unsigned char *p, size_t len)
{
    if (s->fed != s->ctxt_base || len == 0 || (s->flags & PXMPP_STREAM_CONTENT_ONLY))
        return 0;
    if (p[0] == 0xFE || p[0] == 0xFF || p[0] == 0x00 || p[0] == 0x4C)
        return fail_at(s, PXMPP_ERR_ENCODING, s->fed, "unsupported encoding: the stream is not UTF-8");
    return 0;
}

int pxmpp_stream_feed(pxmpp_stream *s, const void *data, size_t len)
{
    if (!s || (!data && len))
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->err)
        return s->err;
    if (s->state == ST_CLOSED)
        return PXMPP_ERR_CLOSED;
    const char *p = data;
    while (len > 0) {
        if (check_first_bytes(s, (const unsigned char *)p, len))
            return s->err;
        /* bound the bytes of one top-level element before libxml2 buffers them */
        uint64_t cap = s->state == ST_HEADER ? s->limits.max_header_bytes : s->limits.max_stanza_bytes;
        uint64_t room = cap > s->since_stanza ? cap - s->since_stanza : 0;
        size_t n = len < room ? len : (size_t)room;
        if (n == 0)
            return fail_at(s, PXMPP_ERR_LIMIT, s->fed,
                           s->state == ST_HEADER ? "stream header larger than %zu bytes"
                                                 : "top-level element larger than %zu bytes",
                           (size_t)cap);
        /* libxml2 takes an int length */
        if (n > (1u << 30))
            n = 1u << 30;
        uint64_t before = s->fed;
        s->fed += n;
        s->since_stanza += n;
        xmlParseChunk(s->ctxt, p, (int)n, 0);
        if (s->err)
            return s->err;
        if (s->state == ST_CLOSED)
            return 0; /* bytes after the peer's close tag are ignored */
        if (s->restart_pending) {
            /* continue with the bytes after the element that triggered the restart */
            uint64_t used = s->restart_at;
            if (used > s->fed)
                used = s->fed;
            if (used < before)
                used = before;
            size_t consumed = (size_t)(used - before);
            s->fed = used;
            s->restart_pending = false;
            int rc = new_parser(s);
            if (rc)
                return fail_at(s, rc, s->fed, "%s", pxmpp_strerror(rc));
            s->since_stanza = 0;
            p += consumed;
            len -= consumed;
            continue;
        }
        p += n;
        len -= n;
    }
    return 0;
}

int pxmpp_stream_finish(pxmpp_stream *s)
{
    if (!s)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->err)
        return s->err;
    if (s->state == ST_CLOSED)
        return 0;
    if ((s->flags & PXMPP_STREAM_CONTENT_ONLY) && s->depth == 1 && pxmpp__builder_depth(s->builder) == 0) {
        /* make sure libxml2 has no half-parsed construct pending */
        xmlParseChunk(s->ctxt, "</stream:stream>", 16, 0);
        if (s->err)
            return s->err;
        if (s->state == ST_CLOSED)
            return 0;
    }
    return fail_at(s, PXMPP_ERR_TRUNCATED, s->fed, "input ended inside %s",
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
        return fail_at(s, rc, s->fed, "write callback failed");
    return rc;
}

static int write_header(pxmpp_stream *s, const pxmpp_stream_header *h)
{
    pxmpp_buf b;
    pxmpp_buf_init(&b, &s->mem);
    int rc = pxmpp_buf_append(&b, "<?xml version='1.0'?><stream:stream xmlns='", 43);
    if (!rc) rc = pxmpp_buf_append_escaped(&b, s->content_ns, strlen(s->content_ns), 1);
    if (!rc) rc = pxmpp_buf_append(&b, "' xmlns:stream='http://etherx.jabber.org/streams'", 49);
    const char *names[4] = { "to", "from", "id", "xml:lang" };
    const char *vals[4] = { h ? h->to : NULL, h ? h->from : NULL, h ? h->id : NULL, h ? h->lang : NULL };
    for (int i = 0; i < 4 && !rc; i++) {
        if (!vals[i])
            continue;
        rc = pxmpp_buf_append(&b, " ", 1);
        if (!rc) rc = pxmpp_buf_append(&b, names[i], strlen(names[i]));
        if (!rc) rc = pxmpp_buf_append(&b, "='", 2);
        if (!rc) rc = pxmpp_buf_append_escaped(&b, vals[i], strlen(vals[i]), 1);
        if (!rc) rc = pxmpp_buf_append(&b, "'", 1);
    }
    if (!rc) rc = pxmpp_buf_append(&b, " version='", 10);
    const char *ver = h && h->version ? h->version : "1.0";
    if (!rc) rc = pxmpp_buf_append_escaped(&b, ver, strlen(ver), 1);
    if (!rc) rc = pxmpp_buf_append(&b, "'>", 2);
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
    if (s->depth > 0) {
        /* called from a callback: the parser is running; restart after the current element */
        s->restart_pending = true;
        s->restart_at = cur_offset(s);
        return 0;
    }
    s->since_stanza = 0;
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
    int rc = pxmpp_write(&s->out, type, data, s->content_ns, 0);
    if (rc)
        return rc;
    rc = write_bytes(s, s->out.data, s->out.len);
    if (rc)
        return fail_at(s, rc, s->fed, "write callback failed");
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
    return rc ? fail_at(s, rc, s->fed, "write callback failed") : 0;
}

int pxmpp_stream_send_error(pxmpp_stream *s, pxmpp_stream_error_condition cond, const char *text)
{
    if (!s || !pxmpp_stream_error_condition_str(cond))
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s->we_closed)
        return PXMPP_ERR_STATE;
    int rc = send_error_bytes(s, cond, text);
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

uint64_t pxmpp_stream_offset(const pxmpp_stream *s) { return s ? s->fed : 0; }

size_t pxmpp_stream_memory(const pxmpp_stream *s)
{
    if (!s)
        return 0;
    return sizeof *s + pxmpp_arena_held(s->arena) + pxmpp__builder_held(s->builder) + s->out.cap;
}
