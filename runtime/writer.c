/* The writer: typed structs and generic nodes -> element events -> bytes or nodes. */
#include "internal.h"

#include <pxmpp/writer.h>

#include <stdio.h>
#include <string.h>

/* ---- buffer ---------------------------------------------------------------- */

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

int pxmpp_buf_append(pxmpp_buf *b, const char *data, size_t len)
{
    if (b->cap - b->len < len + 1) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap - b->len < len + 1) {
            if (ncap > SIZE_MAX / 2)
                return PXMPP_ERR_NOMEM;
            ncap *= 2;
        }
        char *n = b->mem.realloc(b->data, ncap, b->mem.ud);
        if (!n)
            return PXMPP_ERR_NOMEM;
        b->data = n;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int pxmpp_buf_append_escaped(pxmpp_buf *b, const char *s, size_t len, int in_attribute)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '\r': rep = "&#xD;"; break;
        case '\'': rep = in_attribute ? "&apos;" : NULL; break;
        case '\n': rep = in_attribute ? "&#xA;" : NULL; break;
        case '\t': rep = in_attribute ? "&#x9;" : NULL; break;
        default: break;
        }
        if (!rep)
            continue;
        if (i > run && pxmpp_buf_append(b, s + run, i - run))
            return PXMPP_ERR_NOMEM;
        if (pxmpp_buf_append(b, rep, strlen(rep)))
            return PXMPP_ERR_NOMEM;
        run = i + 1;
    }
    if (len > run && pxmpp_buf_append(b, s + run, len - run))
        return PXMPP_ERR_NOMEM;
    return 0;
}

/* ---- the walk ---------------------------------------------------------------- */

static const void *get_ptr(const void *obj, uint32_t off)
{
    const void *p;
    memcpy(&p, (const char *)obj + off, sizeof p);
    return p;
}

static size_t get_size(const void *obj, uint32_t off)
{
    size_t n;
    memcpy(&n, (const char *)obj + off, sizeof n);
    return n;
}

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
        const char *base = get_ptr(obj, f->offset);
        if (!base || (list && idx >= get_size(obj, f->aux_offset)) || (!list && idx > 0))
            return 1;
        return pxmpp__emit_typed(s, f->child, base + idx * f->child->size, content_ns);
    }
    case PXMPP_F_TEXT_CHILD: {
        if (list) {
            const char *const *arr = get_ptr(obj, f->offset);
            if (!arr || idx >= get_size(obj, f->aux_offset))
                return 1;
            return emit_text_element(s, fns, f->local, arr[idx]);
        }
        const void *src = (const char *)obj + f->offset;
        if (idx > 0 || !pxmpp__value_present(f, f->vtype, src, (m->present >> k) & 1u))
            return 1;
        const char *v = pxmpp__value_format(f, f->vtype, src, buf, sizeof buf);
        if (!v)
            return PXMPP_ERR_VALUE;
        return emit_text_element(s, fns, f->local, v);
    }
    case PXMPP_F_LANG_TEXT: {
        const pxmpp_lang_text *arr = get_ptr(obj, f->offset);
        if (!arr || idx >= get_size(obj, f->aux_offset))
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
        return emit_text_element(s, f->ns, f->enum_desc->values[v], get_ptr(obj, f->aux_offset));
    }
    case PXMPP_F_PAYLOADS: {
        const pxmpp_payload *arr = get_ptr(obj, f->offset);
        if (!arr || idx >= get_size(obj, f->aux_offset))
            return 1;
        const pxmpp_payload *p = &arr[idx];
        if (p->type && p->data)
            return pxmpp__emit_typed(s, p->type, p->data, content_ns);
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
        return get_ptr(obj, f->offset) ? get_size(obj, f->aux_offset) : 0;
    return 1;
}

int pxmpp__emit_typed(pxmpp__sink *s, const pxmpp_type_desc *d, const void *obj, const char *content_ns)
{
    const pxmpp_meta *m = obj;
    const char *ns = d->ns ? d->ns : content_ns;
    char buf[32];
    int rc;
    if ((rc = s->start(s, ns, d->local)))
        return rc;
    const pxmpp_field_desc *textf = NULL;
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        if (f->kind == PXMPP_F_TEXT)
            textf = f;
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
        const char *t = get_ptr(obj, textf->offset);
        if (t && *t && (rc = s->text(s, t, strlen(t))))
            return rc;
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

typedef struct bsink {
    pxmpp__sink base;
    pxmpp_buf *out;
    const char *local[BSINK_DEPTH];
    const char *dns[BSINK_DEPTH + 1]; /* default namespace in scope at each depth */
    unsigned nprefix[BSINK_DEPTH];
    size_t depth;
    bool open; /* start tag not yet closed */
    bool declare_root;
} bsink;

static int bs_close_tag(bsink *b)
{
    if (!b->open)
        return 0;
    b->open = false;
    return pxmpp_buf_append(b->out, ">", 1);
}

static int bs_start(pxmpp__sink *s, const char *ns, const char *local)
{
    bsink *b = (bsink *)s;
    if (b->depth >= BSINK_DEPTH)
        return PXMPP_ERR_LIMIT;
    int rc;
    if ((rc = bs_close_tag(b)) || (rc = pxmpp_buf_append(b->out, "<", 1)) ||
        (rc = pxmpp_buf_append(b->out, local, strlen(local))))
        return rc;
    const char *cur = b->dns[b->depth];
    bool same = (!ns && !cur) || (ns && cur && strcmp(ns, cur) == 0);
    if (!same || (b->depth == 0 && b->declare_root && ns)) {
        if ((rc = pxmpp_buf_append(b->out, " xmlns='", 8)) ||
            (ns && (rc = pxmpp_buf_append_escaped(b->out, ns, strlen(ns), 1))) ||
            (rc = pxmpp_buf_append(b->out, "'", 1)))
            return rc;
    }
    b->local[b->depth] = local;
    b->nprefix[b->depth] = 0;
    b->depth++;
    b->dns[b->depth] = ns;
    b->open = true;
    return 0;
}

static int bs_attr(pxmpp__sink *s, const char *ns, const char *local, const char *value)
{
    bsink *b = (bsink *)s;
    int rc;
    char prefix[24] = "";
    if (ns && strcmp(ns, PXMPP_NS_XML) == 0) {
        strcpy(prefix, "xml:");
    } else if (ns) {
        unsigned n = b->nprefix[b->depth - 1]++;
        snprintf(prefix, sizeof prefix, "ns%u", n);
        if ((rc = pxmpp_buf_append(b->out, " xmlns:", 7)) || (rc = pxmpp_buf_append(b->out, prefix, strlen(prefix))) ||
            (rc = pxmpp_buf_append(b->out, "='", 2)) ||
            (rc = pxmpp_buf_append_escaped(b->out, ns, strlen(ns), 1)) || (rc = pxmpp_buf_append(b->out, "'", 1)))
            return rc;
        strcat(prefix, ":");
    }
    if ((rc = pxmpp_buf_append(b->out, " ", 1)) || (rc = pxmpp_buf_append(b->out, prefix, strlen(prefix))) ||
        (rc = pxmpp_buf_append(b->out, local, strlen(local))) || (rc = pxmpp_buf_append(b->out, "='", 2)) ||
        (rc = pxmpp_buf_append_escaped(b->out, value, strlen(value), 1)) ||
        (rc = pxmpp_buf_append(b->out, "'", 1)))
        return rc;
    return 0;
}

static int bs_text(pxmpp__sink *s, const char *text, size_t len)
{
    bsink *b = (bsink *)s;
    int rc;
    if ((rc = bs_close_tag(b)))
        return rc;
    return pxmpp_buf_append_escaped(b->out, text, len, 0);
}

static int bs_end(pxmpp__sink *s)
{
    bsink *b = (bsink *)s;
    b->depth--;
    if (b->open) {
        b->open = false;
        return pxmpp_buf_append(b->out, "/>", 2);
    }
    const char *l = b->local[b->depth];
    int rc;
    if ((rc = pxmpp_buf_append(b->out, "</", 2)) || (rc = pxmpp_buf_append(b->out, l, strlen(l))) ||
        (rc = pxmpp_buf_append(b->out, ">", 1)))
        return rc;
    return 0;
}

static void bsink_init(bsink *b, pxmpp_buf *out, const char *content_ns, unsigned flags)
{
    memset(b, 0, sizeof *b);
    b->base.start = bs_start;
    b->base.attr = bs_attr;
    b->base.text = bs_text;
    b->base.end = bs_end;
    b->out = out;
    b->dns[0] = content_ns;
    b->declare_root = flags & PXMPP_WRITE_DECLARE_CONTENT_NS;
    b->base.lenient = flags & PXMPP_WRITE_LENIENT;
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
    int rc = pxmpp__emit_typed(&b.base, d, obj, content_ns);
    if (rc) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}

int pxmpp_write_node(pxmpp_buf *out, const pxmpp_node *n, const char *content_ns)
{
    if (!out || !n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    bsink b;
    bsink_init(&b, out, content_ns, 0);
    size_t mark = out->len;
    int rc = pxmpp__emit_node(&b.base, n);
    if (rc) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}

/* ---- node sink (typed -> generic) ------------------------------------------------ */

typedef struct nframe {
    pxmpp_node *node;
    pxmpp__chain attrs, children;
    struct nframe *up;
} nframe;

typedef struct nsink {
    pxmpp__sink base;
    pxmpp_arena *a;
    nframe *cur;
    pxmpp_node *root;
} nsink;

static int ns_start(pxmpp__sink *s, const char *ns, const char *local)
{
    nsink *n = (nsink *)s;
    nframe *f = pxmpp_arena_alloc(n->a, sizeof *f);
    pxmpp_node *node = pxmpp_arena_alloc(n->a, sizeof *node);
    if (!f || !node)
        return PXMPP_ERR_NOMEM;
    node->ns = ns ? pxmpp_arena_strdup(n->a, ns) : NULL;
    node->local = pxmpp_arena_strdup(n->a, local);
    if ((ns && !node->ns) || !node->local)
        return PXMPP_ERR_NOMEM;
    f->node = node;
    f->up = n->cur;
    n->cur = f;
    return 0;
}

static int ns_attr(pxmpp__sink *s, const char *ns, const char *local, const char *value)
{
    nsink *n = (nsink *)s;
    pxmpp_attr *at = pxmpp_arena_alloc(n->a, sizeof *at);
    if (!at)
        return PXMPP_ERR_NOMEM;
    at->ns = ns ? pxmpp_arena_strdup(n->a, ns) : NULL;
    at->local = pxmpp_arena_strdup(n->a, local);
    at->value = pxmpp_arena_strdup(n->a, value);
    if ((ns && !at->ns) || !at->local || !at->value)
        return PXMPP_ERR_NOMEM;
    return pxmpp__chain_push(n->a, &n->cur->attrs, at);
}

static int ns_text(pxmpp__sink *s, const char *text, size_t len)
{
    nsink *n = (nsink *)s;
    pxmpp_node *t = pxmpp_arena_alloc(n->a, sizeof *t);
    if (!t || !(t->text = pxmpp_arena_strndup(n->a, text, len)))
        return PXMPP_ERR_NOMEM;
    return pxmpp__chain_push(n->a, &n->cur->children, t);
}

static int ns_end(pxmpp__sink *s)
{
    nsink *n = (nsink *)s;
    nframe *f = n->cur;
    pxmpp_node *node = f->node;
    if (f->attrs.count) {
        pxmpp_attr *arr = pxmpp_arena_alloc(n->a, f->attrs.count * sizeof *arr);
        if (!arr)
            return PXMPP_ERR_NOMEM;
        size_t i = 0;
        for (pxmpp__link *l = f->attrs.head; l; l = l->next)
            arr[i++] = *(const pxmpp_attr *)l->item;
        node->attrs = arr;
        node->attrs_count = i;
    }
    if (f->children.count) {
        pxmpp_node *arr = pxmpp_arena_alloc(n->a, f->children.count * sizeof *arr);
        if (!arr)
            return PXMPP_ERR_NOMEM;
        size_t i = 0;
        for (pxmpp__link *l = f->children.head; l; l = l->next)
            arr[i++] = *(const pxmpp_node *)l->item;
        node->children = arr;
        node->children_count = i;
    }
    n->cur = f->up;
    if (!n->cur) {
        n->root = node;
        return 0;
    }
    return pxmpp__chain_push(n->a, &n->cur->children, node);
}

const pxmpp_node *pxmpp__typed_to_node(pxmpp_arena *a, const pxmpp_type_desc *d, const void *obj,
                                       const char *content_ns)
{
    nsink n;
    memset(&n, 0, sizeof n);
    n.base.start = ns_start;
    n.base.attr = ns_attr;
    n.base.text = ns_text;
    n.base.end = ns_end;
    n.a = a;
    n.base.lenient = true;
    if (pxmpp__emit_typed(&n.base, d, obj, content_ns))
        return NULL;
    return n.root;
}
