/* Deep copy of typed elements and generic nodes into an arena (descriptor-driven). */
#include "internal.h"

#include <pxmpp/build.h>

#include <string.h>

static bool sdup(pxmpp_arena *a, const char **s)
{
    if (!*s)
        return true;
    *s = pxmpp_arena_strdup(a, *s);
    return *s != NULL;
}

static bool copy_attrs(pxmpp_arena *a, const pxmpp_attr **arr, size_t n)
{
    if (!n || !*arr)
        return true;
    pxmpp_attr *c = pxmpp_arena_alloc(a, n * sizeof *c);
    if (!c)
        return false;
    memcpy(c, *arr, n * sizeof *c);
    for (size_t i = 0; i < n; i++)
        if (!sdup(a, &c[i].ns) || !sdup(a, &c[i].local) || !sdup(a, &c[i].value))
            return false;
    *arr = c;
    return true;
}

static bool copy_nodes(pxmpp_arena *a, const pxmpp_node **arr, size_t n);

static bool copy_node_in_place(pxmpp_arena *a, pxmpp_node *c)
{
    return sdup(a, &c->ns) && sdup(a, &c->local) && sdup(a, &c->text) && copy_attrs(a, &c->attrs, c->attrs_count) &&
           copy_nodes(a, &c->children, c->children_count);
}

static bool copy_nodes(pxmpp_arena *a, const pxmpp_node **arr, size_t n)
{
    if (!n || !*arr)
        return true;
    pxmpp_node *c = pxmpp_arena_alloc(a, n * sizeof *c);
    if (!c)
        return false;
    memcpy(c, *arr, n * sizeof *c);
    for (size_t i = 0; i < n; i++)
        if (!copy_node_in_place(a, &c[i]))
            return false;
    *arr = c;
    return true;
}

static bool copy_meta(pxmpp_arena *a, pxmpp_meta *m)
{
    if (!copy_attrs(a, &m->extra_attrs, m->extra_attrs_count) || !copy_nodes(a, &m->extra_nodes, m->extra_nodes_count))
        return false;
    if (m->order_count && m->order) {
        uint16_t *o = pxmpp_arena_alloc(a, m->order_count * sizeof *o);
        if (!o)
            return false;
        memcpy(o, m->order, m->order_count * sizeof *o);
        m->order = o;
    }
    return true;
}

static bool copy_in_place(pxmpp_arena *a, const pxmpp_type_desc *d, void *obj);

static bool copy_payload(pxmpp_arena *a, pxmpp_payload *p)
{
    if (p->type && p->data) {
        void *c = pxmpp_arena_alloc(a, p->type->size);
        if (!c)
            return false;
        memcpy(c, p->data, p->type->size);
        if (!copy_in_place(a, p->type, c))
            return false;
        p->data = c;
    }
    if (p->node) {
        pxmpp_node *n = pxmpp_arena_alloc(a, sizeof *n);
        if (!n)
            return false;
        *n = *p->node;
        if (!copy_node_in_place(a, n))
            return false;
        p->node = n;
    }
    if (p->invalid) {
        pxmpp_diag *dg = pxmpp_arena_alloc(a, sizeof *dg);
        if (!dg)
            return false;
        *dg = *p->invalid;
        if (!sdup(a, &dg->reason) || !sdup(a, &dg->path))
            return false;
        p->invalid = dg;
    }
    return true;
}

static bool copy_in_place(pxmpp_arena *a, const pxmpp_type_desc *d, void *obj)
{
    if (!copy_meta(a, obj))
        return false;
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        bool list = f->flags & PXMPP_FF_LIST;
        bool stringish = pxmpp__value_is_string(f);
        switch (f->kind) {
        case PXMPP_F_ATTR:
        case PXMPP_F_TEXT:
            if (stringish) {
                const char *s = pxmpp__get_ptr(obj, f->offset);
                if (!sdup(a, &s))
                    return false;
                pxmpp__set_ptr(obj, f->offset, s);
            }
            break;
        case PXMPP_F_TEXT_CHILD:
            if (list && !stringish) {
                size_t n = pxmpp__get_size(obj, f->aux_offset), vs = pxmpp__value_size(f);
                const void *src = pxmpp__get_ptr(obj, f->offset);
                if (!n || !src)
                    break;
                void *c = pxmpp_arena_alloc(a, n * vs);
                if (!c)
                    return false;
                memcpy(c, src, n * vs);
                pxmpp__set_ptr(obj, f->offset, c);
            } else if (list) {
                size_t n = pxmpp__get_size(obj, f->aux_offset);
                const char *const *src = pxmpp__get_ptr(obj, f->offset);
                if (!n || !src)
                    break;
                const char **c = pxmpp_arena_alloc(a, n * sizeof *c);
                if (!c)
                    return false;
                for (size_t i = 0; i < n; i++) {
                    c[i] = src[i];
                    if (!sdup(a, &c[i]))
                        return false;
                }
                pxmpp__set_ptr(obj, f->offset, c);
            } else if (stringish) {
                const char *s = pxmpp__get_ptr(obj, f->offset);
                if (!sdup(a, &s))
                    return false;
                pxmpp__set_ptr(obj, f->offset, s);
            }
            break;
        case PXMPP_F_CONDITION: {
            const char *s = pxmpp__get_ptr(obj, f->aux_offset);
            if (!sdup(a, &s))
                return false;
            pxmpp__set_ptr(obj, f->aux_offset, s);
            break;
        }
        case PXMPP_F_LANG_TEXT: {
            size_t n = pxmpp__get_size(obj, f->aux_offset);
            const pxmpp_lang_text *src = pxmpp__get_ptr(obj, f->offset);
            if (!n || !src)
                break;
            pxmpp_lang_text *c = pxmpp_arena_alloc(a, n * sizeof *c);
            if (!c)
                return false;
            memcpy(c, src, n * sizeof *c);
            for (size_t i = 0; i < n; i++)
                if (!copy_meta(a, &c[i].meta) || !sdup(a, &c[i].lang) || !sdup(a, &c[i].text))
                    return false;
            pxmpp__set_ptr(obj, f->offset, c);
            break;
        }
        case PXMPP_F_CHILD: {
            const char *src = pxmpp__get_ptr(obj, f->offset);
            if (!src)
                break;
            size_t n = list ? pxmpp__get_size(obj, f->aux_offset) : 1;
            if (!n)
                break;
            char *c = pxmpp_arena_alloc(a, n * f->child->size);
            if (!c)
                return false;
            memcpy(c, src, n * f->child->size);
            for (size_t i = 0; i < n; i++)
                if (!copy_in_place(a, f->child, c + i * f->child->size))
                    return false;
            pxmpp__set_ptr(obj, f->offset, c);
            break;
        }
        case PXMPP_F_PAYLOADS: {
            size_t n = pxmpp__get_size(obj, f->aux_offset);
            const pxmpp_payload *src = pxmpp__get_ptr(obj, f->offset);
            if (!n || !src)
                break;
            pxmpp_payload *c = pxmpp_arena_alloc(a, n * sizeof *c);
            if (!c)
                return false;
            memcpy(c, src, n * sizeof *c);
            for (size_t i = 0; i < n; i++)
                if (!copy_payload(a, &c[i]))
                    return false;
            pxmpp__set_ptr(obj, f->offset, c);
            break;
        }
        default:
            break;
        }
    }
    return true;
}

void *pxmpp_copy(pxmpp_arena *a, const pxmpp_type_desc *d, const void *obj)
{
    if (!a || !d || !obj)
        return NULL;
    void *c = pxmpp_arena_alloc(a, d->size);
    if (!c)
        return NULL;
    memcpy(c, obj, d->size);
    return copy_in_place(a, d, c) ? c : NULL;
}
