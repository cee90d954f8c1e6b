#include "harness.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void logf_(trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(trace *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    if (pxmpp_buf_append(&t->log, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1))
        abort();
}

void trace_init(trace *t)
{
    memset(t, 0, sizeof *t);
    pxmpp_buf_init(&t->log, NULL);
    pxmpp_buf_init(&t->sent, NULL);
}

void trace_free(trace *t)
{
    pxmpp_buf_free(&t->log);
    pxmpp_buf_free(&t->sent);
}

static void log_typed(trace *t, const char *tag, const pxmpp_type_desc *d, const void *obj, unsigned flags)
{
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    int rc = pxmpp_write(&b, d, obj, PXMPP_NS_CLIENT, flags);
    logf_(t, "%s %s rc=%d ", tag, d->name, rc);
    if (b.len && pxmpp_buf_append(&t->log, b.data, b.len))
        abort();
    logf_(t, "\n");
    pxmpp_buf_free(&b);
}

static int cb_write(void *user, const char *data, size_t len)
{
    trace *t = user;
    return pxmpp_buf_append(&t->sent, data, len);
}

static void cb_opened(void *user, const pxmpp_stream_header *h)
{
    logf_(user, "opened to=%s from=%s id=%s version=%s lang=%s\n", h->to ? h->to : "-", h->from ? h->from : "-",
          h->id ? h->id : "-", h->version ? h->version : "-", h->lang ? h->lang : "-");
}

static void cb_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    trace *t = user;
    t->elements++;
    logf_(t, "@%llu ", (unsigned long long)offset);
    log_typed(t, "element", d, obj, 0);
}

static void cb_invalid(void *user, const pxmpp_type_desc *d, const void *obj, const pxmpp_diag *why, uint64_t offset)
{
    trace *t = user;
    t->invalid++;
    logf_(t, "@%llu invalid path=%s reason=%s\n", (unsigned long long)offset, why->path, why->reason);
    log_typed(t, "partial", d, obj, PXMPP_WRITE_LENIENT);
}

static void cb_stream_error(void *user, const pxmpp_stream_error *e)
{
    trace *t = user;
    t->elements++;
    log_typed(t, "stream-error", &pxmpp_stream_error_desc, e, 0);
}

static void cb_error(void *user, int code, const char *reason, uint64_t offset)
{
    trace *t = user;
    t->errors++;
    logf_(t, "error %s at %llu: %s\n", pxmpp_error_name(code), (unsigned long long)offset, reason);
}

static void cb_closed(void *user)
{
    trace *t = user;
    t->closed++;
    logf_(t, "closed\n");
}

pxmpp_stream_callbacks trace_callbacks(void)
{
    pxmpp_stream_callbacks cb = { 0 };
    cb.write = cb_write;
    cb.opened = cb_opened;
    cb.element = cb_element;
    cb.stanza_invalid = cb_invalid;
    cb.stream_error = cb_stream_error;
    cb.error = cb_error;
    cb.closed = cb_closed;
    return cb;
}

int feed_pieces(pxmpp_stream *s, const char *data, size_t len, size_t chunk, uint32_t seed)
{
    size_t off = 0;
    int rc = 0;
    uint32_t x = seed ? seed : 1;
    while (off < len && !rc) {
        size_t n = chunk;
        if (!chunk) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            n = 1 + x % 17;
        }
        if (n > len - off)
            n = len - off;
        rc = pxmpp_stream_feed(s, data + off, n);
        off += n;
    }
    if (!rc)
        rc = pxmpp_stream_finish(s);
    return rc;
}

int run_trace(trace *t, const char *data, size_t len, size_t chunk, uint32_t seed, unsigned flags,
              const pxmpp_stream_config *base)
{
    trace_init(t);
    pxmpp_stream_callbacks cb = trace_callbacks();
    pxmpp_stream_config cfg = { 0 };
    if (base)
        cfg = *base;
    cfg.flags |= flags;
    pxmpp_stream *s;
    int rc = pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, t);
    if (rc)
        return rc;
    rc = feed_pieces(s, data, len, chunk, seed);
    logf_(t, "end rc=%s\n", pxmpp_error_name(rc));
    pxmpp_stream_free(s);
    return rc;
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        abort();
    }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
        }
    }
    fclose(f);
    if (!b)
        abort();
    b[n] = '\0';
    *len = n;
    return b;
}

/* ---- canonical comparison ---------------------------------------------------- */

static const char wrap_open[] = "<w xmlns='jabber:client'>";
static const char wrap_close[] = "</w>";

static xmlDocPtr parse_wrapped(const char *s, size_t len)
{
    size_t total = sizeof wrap_open - 1 + len + sizeof wrap_close - 1;
    char *buf = malloc(total);
    if (!buf)
        return NULL;
    memcpy(buf, wrap_open, sizeof wrap_open - 1);
    memcpy(buf + sizeof wrap_open - 1, s, len);
    memcpy(buf + sizeof wrap_open - 1 + len, wrap_close, sizeof wrap_close - 1);
    xmlDocPtr d = xmlReadMemory(buf, (int)total, "x.xml", "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(buf);
    return d;
}

static bool ws_only(const xmlChar *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/* Collects significant children: elements, and runs of text merged. */
typedef struct item {
    xmlNodePtr el;
    char *text;
} item;

static size_t collect(xmlNodePtr n, item *out, size_t cap)
{
    size_t k = 0;
    char *run = NULL;
    size_t rlen = 0;
    for (xmlNodePtr c = n->children;; c = c->next) {
        bool is_text = c && (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE);
        if (is_text) {
            size_t l = strlen((const char *)c->content);
            run = realloc(run, rlen + l + 1);
            memcpy(run + rlen, c->content, l + 1);
            rlen += l;
            continue;
        }
        if (run) {
            if (!ws_only((const xmlChar *)run) && k < cap)
                out[k++] = (item){ NULL, run };
            else
                free(run);
            run = NULL;
            rlen = 0;
        }
        if (!c)
            break;
        if (c->type == XML_ELEMENT_NODE && k < cap)
            out[k++] = (item){ c, NULL };
    }
    return k;
}

static const char *nsof(xmlNodePtr n) { return n->ns ? (const char *)n->ns->href : ""; }

static bool attr_in(xmlAttrPtr a, xmlNodePtr other)
{
    for (xmlAttrPtr b = other->properties; b; b = b->next) {
        const char *an = a->ns ? (const char *)a->ns->href : "";
        const char *bn = b->ns ? (const char *)b->ns->href : "";
        if (strcmp((const char *)a->name, (const char *)b->name) || strcmp(an, bn))
            continue;
        xmlChar *av = xmlNodeGetContent((xmlNodePtr)a), *bv = xmlNodeGetContent((xmlNodePtr)b);
        bool eq = strcmp((const char *)av, (const char *)bv) == 0;
        xmlFree(av);
        xmlFree(bv);
        return eq;
    }
    return false;
}

static size_t nattrs(xmlNodePtr n)
{
    size_t k = 0;
    for (xmlAttrPtr a = n->properties; a; a = a->next)
        k++;
    return k;
}

static bool cmp_nodes(xmlNodePtr a, xmlNodePtr b, char *why, size_t cap)
{
    if (strcmp((const char *)a->name, (const char *)b->name) || strcmp(nsof(a), nsof(b))) {
        snprintf(why, cap, "element {%s}%s vs {%s}%s", nsof(a), a->name, nsof(b), b->name);
        return false;
    }
    if (nattrs(a) != nattrs(b)) {
        snprintf(why, cap, "attribute count of <%s>: %zu vs %zu", a->name, nattrs(a), nattrs(b));
        return false;
    }
    for (xmlAttrPtr x = a->properties; x; x = x->next)
        if (!attr_in(x, b)) {
            snprintf(why, cap, "attribute %s of <%s> differs", x->name, a->name);
            return false;
        }
    item ia[512], ib[512];
    size_t na = collect(a, ia, 512), nb = collect(b, ib, 512);
    bool ok = na == nb;
    if (!ok)
        snprintf(why, cap, "children of <%s>: %zu vs %zu", a->name, na, nb);
    for (size_t i = 0; ok && i < na; i++) {
        if ((ia[i].el == NULL) != (ib[i].el == NULL)) {
            snprintf(why, cap, "child %zu of <%s>: text vs element", i, a->name);
            ok = false;
        } else if (ia[i].el) {
            ok = cmp_nodes(ia[i].el, ib[i].el, why, cap);
        } else if (strcmp(ia[i].text, ib[i].text) != 0) {
            snprintf(why, cap, "text in <%s>: '%.80s' vs '%.80s'", a->name, ia[i].text, ib[i].text);
            ok = false;
        }
    }
    for (size_t i = 0; i < na; i++)
        free(ia[i].text);
    for (size_t i = 0; i < nb; i++)
        free(ib[i].text);
    return ok;
}

bool xml_equivalent(const char *a, size_t alen, const char *b, size_t blen, char *why, size_t cap)
{
    xmlDocPtr da = parse_wrapped(a, alen), db = parse_wrapped(b, blen);
    bool ok = da && db;
    if (!ok)
        snprintf(why, cap, "not well-formed: %s", da ? "second" : "first");
    else
        ok = cmp_nodes(xmlDocGetRootElement(da), xmlDocGetRootElement(db), why, cap);
    xmlFreeDoc(da);
    xmlFreeDoc(db);
    return ok;
}
