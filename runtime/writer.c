/* The writer: typed structs and generic nodes -> element events -> bytes or nodes. */
#include "internal.h"

#include <pxmpp/writer.h>

#include <string.h>

/* ---- buffer ---------------------------------------------------------------- */

/* Every internal writer keeps cap - len >= 1 beyond what it writes (room for the NUL),
   but writes the NUL only when a public call returns. */

void pxmpp_buf_init(pxmpp_buf *b, const pxmpp_mem *mem)
{
    memset(b, 0, sizeof *b);
    b->mem = *(mem ? mem : pxmpp_mem_default());
}

void pxmpp_buf_free(pxmpp_buf *b)
{
    if (b->data)
        b->mem.free(b->data, b->mem.ud);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Grows the buffer so that n more bytes and a NUL fit. */
static int buf_grow(pxmpp_buf *b, size_t n)
{
    if (n >= SIZE_MAX - b->len)
        return PXMPP_ERR_NOMEM;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap - b->len < n + 1) {
        if (ncap > SIZE_MAX / 2)
            return PXMPP_ERR_NOMEM;
        ncap *= 2;
    }
    char *p = b->mem.realloc(b->data, ncap, b->mem.ud);
    if (!p)
        return PXMPP_ERR_NOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

/* Makes room for n more bytes and a NUL. */
static inline int buf_reserve(pxmpp_buf *b, size_t n)
{
    if (b->cap - b->len > n)
        return 0;
    return buf_grow(b, n);
}

static inline void buf_terminate(pxmpp_buf *b)
{
    if (b->data)
        b->data[b->len] = '\0';
}

int pxmpp_buf_append(pxmpp_buf *b, const char *data, size_t len)
{
    if (buf_reserve(b, len))
        return PXMPP_ERR_NOMEM;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

/* Escaping.  A table maps each byte to 0 (copied as is) or to its replacement;
   ESC_STOP (NUL, in the table for NUL-terminated strings) ends the string. */
enum { ESC_AMP = 1, ESC_LT, ESC_GT, ESC_CR, ESC_APOS, ESC_LF, ESC_TAB, ESC_STOP };

static const struct {
    char s[8];
    unsigned char len;
} esc_rep[ESC_STOP] = {
    { "", 0 }, { "&amp;", 5 }, { "&lt;", 4 }, { "&gt;", 4 }, { "&#xD;", 5 }, { "&apos;", 6 }, { "&#xA;", 5 }, { "&#x9;", 5 },
};

#define ESC_COMMON ['&'] = ESC_AMP, ['<'] = ESC_LT, ['>'] = ESC_GT, ['\r'] = ESC_CR
#define ESC_ATTR_ONLY ['\''] = ESC_APOS, ['\n'] = ESC_LF, ['\t'] = ESC_TAB

static const unsigned char esc_text[256] = { ESC_COMMON };
static const unsigned char esc_text_line[256] = { ESC_COMMON, ['\n'] = ESC_LF };
static const unsigned char esc_attr[256] = { ESC_COMMON, ESC_ATTR_ONLY };
static const unsigned char esc_attr_z[256] = { ESC_COMMON, ESC_ATTR_ONLY, [0] = ESC_STOP };

/* The index of the first byte of s[i..len) that t does not map to 0, or len.  With a table
   that stops at NUL, len may be SIZE_MAX: bytes are read one at a time up to the stop. */
static inline size_t esc_scan(const unsigned char *s, size_t i, size_t len, const unsigned char *t)
{
    while (len - i >= 4) {
        if (t[s[i]])
            return i;
        if (t[s[i + 1]])
            return i + 1;
        if (t[s[i + 2]])
            return i + 2;
        if (t[s[i + 3]])
            return i + 3;
        i += 4;
    }
    while (i < len && !t[s[i]])
        i++;
    return i;
}

/* Appends s[0..len) (or up to its NUL, see esc_scan) escaped with table t, and leaves room
   for `tail` more bytes and a NUL.  No NUL is written. */
static int put_escaped(pxmpp_buf *b, const char *s, size_t len, const unsigned char *t, size_t tail)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    for (;;) {
        size_t j = esc_scan(u, i, len, t);
        unsigned r = j < len ? t[u[j]] : ESC_STOP;
        if (buf_reserve(b, (j - i) + (r == ESC_STOP ? 0 : sizeof esc_rep[0].s) + tail))
            return PXMPP_ERR_NOMEM;
        char *p = b->data + b->len;
        memcpy(p, s + i, j - i);
        p += j - i;
        if (r == ESC_STOP) {
            b->len = (size_t)(p - b->data);
            return 0;
        }
        memcpy(p, esc_rep[r].s, sizeof esc_rep[r].s);
        b->len = (size_t)(p - b->data) + esc_rep[r].len;
        i = j + 1;
    }
}

int pxmpp_buf_append_escaped(pxmpp_buf *b, const char *s, size_t len, int in_attribute)
{
    if (!len)
        return 0;
    size_t mark = b->len;
    int rc = put_escaped(b, s, len, in_attribute ? esc_attr : esc_text, 0);
    if (rc)
        b->len = mark;
    buf_terminate(b);
    return rc;
}

/* ---- the walk ---------------------------------------------------------------- */

int pxmpp__emit_node(pxmpp__sink *s, const pxmpp_node *n)
{
    int rc;
    if (!n->local)
        return n->text ? s->text(s, n->text, strlen(n->text)) : 0;
    if ((rc = s->start(s, n->ns, n->local)))
        return rc;
    for (size_t i = 0; i < n->attrs_count; i++)
        if ((rc = s->attr(s, n->attrs[i].ns, n->attrs[i].local, n->attrs[i].value)))
            return rc;
    for (size_t i = 0; i < n->children_count; i++)
        if ((rc = pxmpp__emit_node(s, &n->children[i])))
            return rc;
    return s->end(s);
}

static int emit_text_element(pxmpp__sink *s, const char *ns, const char *local, const char *text)
{
    int rc;
    if ((rc = s->start(s, ns, local)))
        return rc;
    if (text && *text && (rc = s->text(s, text, strlen(text))))
        return rc;
    return s->end(s);
}

static int emit_lang_text(pxmpp__sink *s, const char *ns, const char *local, const pxmpp_lang_text *lt)
{
    int rc;
    if ((rc = s->start(s, ns, local)))
        return rc;
    if (lt->lang && (rc = s->attr(s, PXMPP_NS_XML, "lang", lt->lang)))
        return rc;
    for (size_t i = 0; i < lt->meta.extra_attrs_count; i++)
        if ((rc = s->attr(s, lt->meta.extra_attrs[i].ns, lt->meta.extra_attrs[i].local, lt->meta.extra_attrs[i].value)))
            return rc;
    if (lt->text && *lt->text && (rc = s->text(s, lt->text, strlen(lt->text))))
        return rc;
    for (size_t i = 0; i < lt->meta.extra_nodes_count; i++)
        if ((rc = pxmpp__emit_node(s, &lt->meta.extra_nodes[i])))
            return rc;
    return s->end(s);
}

/* Writes item number `idx` of field f (returns 1 if there was nothing to write). */
static int emit_item(pxmpp__sink *s, const pxmpp_type_desc *d, uint16_t k, const void *obj, size_t idx,
                     const char *elem_ns, const char *content_ns)
{
    const pxmpp_field_desc *f = &d->fields[k];
    const pxmpp_meta *m = obj;
    const char *fns = f->ns ? f->ns : elem_ns;
    bool list = f->flags & PXMPP_FF_LIST;
    char buf[32];
    switch (f->kind) {
    case PXMPP_F_CHILD: {
        const char *base = pxmpp__get_ptr(obj, f->offset);
        if (!base || (list && idx >= pxmpp__get_size(obj, f->aux_offset)) || (!list && idx > 0))
            return 1;
        return pxmpp__emit_typed_in(s, f->child, base + idx * f->child->size, content_ns, elem_ns);
    }
    case PXMPP_F_TEXT_CHILD: {
        const char *src;
        if (list) {
            const char *arr = pxmpp__get_ptr(obj, f->offset);
            if (!arr || idx >= pxmpp__get_size(obj, f->aux_offset))
                return 1;
            src = arr + idx * pxmpp__value_size(f);
        } else {
            src = (const char *)obj + f->offset;
            if (idx > 0 || !pxmpp__value_present(f, f->vtype, src, (m->present >> k) & 1u))
                return 1;
        }
        const char *v = pxmpp__value_format(f, f->vtype, src, buf, sizeof buf);
        if (!v)
            return list && pxmpp__value_is_string(f) ? 1 : PXMPP_ERR_VALUE; /* a NULL string in a list is skipped */
        if (f->value_attr) {
            int rc;
            if ((rc = s->start(s, fns, f->local)) || (rc = s->attr(s, NULL, f->value_attr, v)))
                return rc;
            return s->end(s);
        }
        return emit_text_element(s, fns, f->local, v);
    }
    case PXMPP_F_LANG_TEXT: {
        const pxmpp_lang_text *arr = pxmpp__get_ptr(obj, f->offset);
        if (!arr || idx >= pxmpp__get_size(obj, f->aux_offset))
            return 1;
        return emit_lang_text(s, fns, f->local, &arr[idx]);
    }
    case PXMPP_F_FLAG: {
        bool v;
        memcpy(&v, (const char *)obj + f->offset, sizeof v);
        if (!v || idx > 0)
            return 1;
        return emit_text_element(s, fns, f->local, NULL);
    }
    case PXMPP_F_CONDITION: {
        int v;
        memcpy(&v, (const char *)obj + f->offset, sizeof v);
        if (v <= 0 || idx > 0)
            return 1;
        if (v >= f->enum_desc->count)
            return PXMPP_ERR_VALUE;
        return emit_text_element(s, f->ns, f->enum_desc->values[v], pxmpp__get_ptr(obj, f->aux_offset));
    }
    case PXMPP_F_PAYLOADS: {
        const pxmpp_payload *arr = pxmpp__get_ptr(obj, f->offset);
        if (!arr || idx >= pxmpp__get_size(obj, f->aux_offset))
            return 1;
        const pxmpp_payload *p = &arr[idx];
        if (p->type && p->data) {
            /* a payload that broke its schema is written as it came (a missing required
               value stays missing) */
            bool lenient = s->lenient;
            s->lenient = lenient || p->invalid;
            int rc = pxmpp__emit_typed_in(s, p->type, p->data, content_ns, elem_ns);
            s->lenient = lenient;
            return rc;
        }
        if (p->node)
            return pxmpp__emit_node(s, p->node);
        return 1;
    }
    default:
        return 1;
    }
}

static size_t field_items(const pxmpp_field_desc *f, const void *obj)
{
    if (f->flags & PXMPP_FF_LIST)
        return pxmpp__get_ptr(obj, f->offset) ? pxmpp__get_size(obj, f->aux_offset) : 0;
    return 1;
}

/* The namespace d is written in: the one it was parsed in, else its parent's when that is one
   of its own, else its first (see pxmpp_meta.ns_index). */
static const char *type_ns(const pxmpp_type_desc *d, const pxmpp_meta *m, const char *content_ns,
                           const char *parent_ns)
{
    if (!d->ns_list)
        return d->ns ? d->ns : content_ns;
    size_t n = 0;
    while (d->ns_list[n])
        n++;
    if (m->ns_index > 0 && m->ns_index <= n)
        return d->ns_list[m->ns_index - 1];
    for (size_t i = 0; parent_ns && i < n; i++)
        if (strcmp(d->ns_list[i], parent_ns) == 0)
            return d->ns_list[i];
    return d->ns;
}

int pxmpp__emit_typed(pxmpp__sink *s, const pxmpp_type_desc *d, const void *obj, const char *content_ns)
{
    return pxmpp__emit_typed_in(s, d, obj, content_ns, NULL);
}

int pxmpp__emit_typed_in(pxmpp__sink *s, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                         const char *parent_ns)
{
    const pxmpp_meta *m = obj;
    const char *ns = type_ns(d, m, content_ns, parent_ns);
    char buf[32];
    int rc;
    const char *local = pxmpp__type_local_of(d, obj);
    if (!local)
        return PXMPP_ERR_VALUE; /* a one-of element without a name */
    if ((rc = s->start(s, ns, local)))
        return rc;
    const pxmpp_field_desc *textf = NULL;
    uint16_t textk = 0;
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        if (f->kind == PXMPP_F_TEXT) {
            textf = f;
            textk = k;
        }
        if (f->kind != PXMPP_F_ATTR)
            continue;
        const void *src = (const char *)obj + f->offset;
        if (!pxmpp__value_present(f, f->vtype, src, (m->present >> k) & 1u)) {
            if ((f->flags & PXMPP_FF_REQUIRED) && !s->lenient)
                return PXMPP_ERR_VALUE;
            continue;
        }
        const char *v = pxmpp__value_format(f, f->vtype, src, buf, sizeof buf);
        if (!v) {
            int ev = 0;
            if (f->vtype == PXMPP_V_ENUM)
                memcpy(&ev, src, sizeof ev);
            if (f->vtype == PXMPP_V_ENUM && ev > 0 && ev < f->enum_desc->count)
                continue; /* an implied value (presence 'available') is never written */
            return PXMPP_ERR_VALUE;
        }
        if ((rc = s->attr(s, f->ns, f->local, v)))
            return rc;
    }
    for (size_t i = 0; i < m->extra_attrs_count; i++)
        if ((rc = s->attr(s, m->extra_attrs[i].ns, m->extra_attrs[i].local, m->extra_attrs[i].value)))
            return rc;
    if (textf) {
        /* a typed text (int, bool, enum, ...) is written in its canonical form, when present */
        const void *src = (const char *)obj + textf->offset;
        bool present = textk < 32 && ((m->present >> textk) & 1u);
        if (pxmpp__value_present(textf, textf->vtype, src, present)) {
            const char *t = pxmpp__value_format(textf, textf->vtype, src, buf, sizeof buf);
            if (!t)
                return PXMPP_ERR_VALUE;
            if (*t && (rc = s->text(s, t, strlen(t))))
                return rc;
        }
    }
    /* children: document order first, then whatever the order record does not cover */
    size_t cursor[32] = { 0 };
    size_t extra = 0;
    for (size_t i = 0; i < m->order_count; i++) {
        uint16_t k = m->order[i];
        if (k == PXMPP_ORDER_EXTRA) {
            if (extra < m->extra_nodes_count && (rc = pxmpp__emit_node(s, &m->extra_nodes[extra++])))
                return rc;
            continue;
        }
        if (k >= d->fields_count || k >= 32)
            continue;
        rc = emit_item(s, d, k, obj, cursor[k]++, ns, content_ns);
        if (rc < 0)
            return rc;
    }
    for (uint16_t k = 0; k < d->fields_count && k < 32; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        if (f->kind == PXMPP_F_ATTR || f->kind == PXMPP_F_TEXT)
            continue;
        size_t n = field_items(f, obj);
        for (; cursor[k] < n; cursor[k]++) {
            rc = emit_item(s, d, k, obj, cursor[k], ns, content_ns);
            if (rc < 0)
                return rc;
        }
    }
    for (; extra < m->extra_nodes_count; extra++)
        if ((rc = pxmpp__emit_node(s, &m->extra_nodes[extra])))
            return rc;
    return s->end(s);
}

/* ---- byte sink ---------------------------------------------------------------- */

#define BSINK_DEPTH 256

/* Only depth, open, declare_root and dns[0] are set up front; the per-depth arrays are
   written by bs_start before they are read. */
typedef struct bsink {
    pxmpp__sink base;
    pxmpp_buf *out;
    size_t depth;
    bool open; /* start tag not yet closed */
    bool declare_root;
    bool one_line; /* PXMPP_WRITE_ONE_LINE */
    const char *dns[BSINK_DEPTH + 1]; /* default namespace in scope at each depth */
    const char *local[BSINK_DEPTH];
    size_t llen[BSINK_DEPTH];
    unsigned nprefix[BSINK_DEPTH];
} bsink;

static bool same_ns(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static int bs_start(pxmpp__sink *s, const char *ns, const char *local)
{
    bsink *b = (bsink *)s;
    pxmpp_buf *out = b->out;
    size_t d = b->depth;
    if (d >= BSINK_DEPTH)
        return PXMPP_ERR_LIMIT;
    size_t ll = strlen(local);
    if (buf_reserve(out, ll + 2))
        return PXMPP_ERR_NOMEM;
    char *p = out->data + out->len;
    if (b->open)
        *p++ = '>';
    *p++ = '<';
    memcpy(p, local, ll);
    out->len = (size_t)(p + ll - out->data);
    if (!same_ns(ns, b->dns[d]) || (d == 0 && b->declare_root && ns)) {
        if (buf_reserve(out, 9))
            return PXMPP_ERR_NOMEM;
        memcpy(out->data + out->len, " xmlns='", 8);
        out->len += 8;
        if (ns && put_escaped(out, ns, SIZE_MAX, esc_attr_z, 1))
            return PXMPP_ERR_NOMEM;
        out->data[out->len++] = '\'';
    }
    b->local[d] = local;
    b->llen[d] = ll;
    b->nprefix[d] = 0;
    b->depth = d + 1;
    b->dns[d + 1] = ns;
    b->open = true;
    return 0;
}

static int bs_attr(pxmpp__sink *s, const char *ns, const char *local, const char *value)
{
    bsink *b = (bsink *)s;
    pxmpp_buf *out = b->out;
    char prefix[16];
    size_t pl = 0;
    if (ns && same_ns(ns, PXMPP_NS_XML)) {
        memcpy(prefix, "xml:", 4);
        pl = 4;
    } else if (ns) {
        /* "ns" and the decimal number of the prefix on this element */
        unsigned n = b->nprefix[b->depth - 1]++;
        char digits[12];
        size_t nd = 0;
        do {
            digits[nd++] = (char)('0' + n % 10);
            n /= 10;
        } while (n);
        prefix[pl++] = 'n';
        prefix[pl++] = 's';
        while (nd)
            prefix[pl++] = digits[--nd];
        if (buf_reserve(out, 7 + pl + 2))
            return PXMPP_ERR_NOMEM;
        char *p = out->data + out->len;
        memcpy(p, " xmlns:", 7);
        memcpy(p + 7, prefix, pl);
        memcpy(p + 7 + pl, "='", 2);
        out->len += 7 + pl + 2;
        if (put_escaped(out, ns, SIZE_MAX, esc_attr_z, 1))
            return PXMPP_ERR_NOMEM;
        out->data[out->len++] = '\'';
        prefix[pl++] = ':';
    }
    size_t ll = strlen(local);
    /* the clean head of the value, usually all of it */
    const unsigned char *v = (const unsigned char *)value;
    size_t vl = esc_scan(v, 0, SIZE_MAX, esc_attr_z);
    if (buf_reserve(out, 1 + pl + ll + 2 + vl + 1))
        return PXMPP_ERR_NOMEM;
    char *p = out->data + out->len;
    *p++ = ' ';
    if (pl) {
        memcpy(p, prefix, pl);
        p += pl;
    }
    memcpy(p, local, ll);
    p += ll;
    *p++ = '=';
    *p++ = '\'';
    memcpy(p, value, vl);
    p += vl;
    if (v[vl]) {
        out->len = (size_t)(p - out->data);
        if (put_escaped(out, value + vl, SIZE_MAX, esc_attr_z, 1))
            return PXMPP_ERR_NOMEM;
        p = out->data + out->len;
    }
    *p++ = '\'';
    out->len = (size_t)(p - out->data);
    return 0;
}

static int bs_text(pxmpp__sink *s, const char *text, size_t len)
{
    bsink *b = (bsink *)s;
    pxmpp_buf *out = b->out;
    if (b->open) {
        if (buf_reserve(out, 1))
            return PXMPP_ERR_NOMEM;
        out->data[out->len++] = '>';
        b->open = false;
    }
    return put_escaped(out, text, len, b->one_line ? esc_text_line : esc_text, 0);
}

static int bs_end(pxmpp__sink *s)
{
    bsink *b = (bsink *)s;
    pxmpp_buf *out = b->out;
    size_t d = --b->depth;
    if (b->open) {
        b->open = false;
        if (buf_reserve(out, 2))
            return PXMPP_ERR_NOMEM;
        memcpy(out->data + out->len, "/>", 2);
        out->len += 2;
        return 0;
    }
    size_t ll = b->llen[d];
    if (buf_reserve(out, ll + 3))
        return PXMPP_ERR_NOMEM;
    char *p = out->data + out->len;
    p[0] = '<';
    p[1] = '/';
    memcpy(p + 2, b->local[d], ll);
    p[2 + ll] = '>';
    out->len += ll + 3;
    return 0;
}

static void bsink_init(bsink *b, pxmpp_buf *out, const char *content_ns, unsigned flags)
{
    b->base.start = bs_start;
    b->base.attr = bs_attr;
    b->base.text = bs_text;
    b->base.end = bs_end;
    b->base.lenient = flags & PXMPP_WRITE_LENIENT;
    b->out = out;
    b->depth = 0;
    b->open = false;
    b->declare_root = flags & PXMPP_WRITE_DECLARE_CONTENT_NS;
    b->one_line = flags & PXMPP_WRITE_ONE_LINE;
    b->dns[0] = content_ns;
}

static int bsink_finish(pxmpp_buf *out, size_t mark, int rc)
{
    if (rc)
        out->len = mark;
    buf_terminate(out);
    return rc;
}

int pxmpp_write(pxmpp_buf *out, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                unsigned flags)
{
    if (!out || !d || !obj)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (d->abi != PXMPP_RUNTIME_ABI)
        return PXMPP_ERR_INVALID_ARGUMENT;
    bsink b;
    bsink_init(&b, out, content_ns, flags);
    size_t mark = out->len;
    return bsink_finish(out, mark, pxmpp__emit_typed(&b.base, d, obj, content_ns));
}

int pxmpp_write_node(pxmpp_buf *out, const pxmpp_node *n, const char *content_ns)
{
    if (!out || !n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    bsink b;
    bsink_init(&b, out, content_ns, 0);
    size_t mark = out->len;
    return bsink_finish(out, mark, pxmpp__emit_node(&b.base, n));
}
