/* Reading every field of a typed stanza into a checksum.  The common types are
 * read through their struct members, as an application does; anything else
 * through its descriptor. */
#include "typed.h"

#include <string.h>

#define MIX(h, v) ((h) = ((h) * 0x100000001B3ull) ^ (uint64_t)(v))

static uint64_t slen(const char *s) { return s ? (uint64_t)strlen(s) + 1 : 0; }

static uint64_t sum_node(const pxmpp_node *n)
{
    uint64_t h = 0;
    MIX(h, slen(n->ns));
    MIX(h, slen(n->local));
    MIX(h, slen(n->text));
    for (size_t i = 0; i < n->attrs_count; i++) {
        MIX(h, slen(n->attrs[i].ns));
        MIX(h, slen(n->attrs[i].local));
        MIX(h, slen(n->attrs[i].value));
    }
    for (size_t i = 0; i < n->children_count; i++)
        MIX(h, sum_node(&n->children[i]));
    return h;
}

static uint64_t sum_meta(const pxmpp_meta *m)
{
    uint64_t h = m->present;
    for (size_t i = 0; i < m->extra_attrs_count; i++) {
        MIX(h, slen(m->extra_attrs[i].ns));
        MIX(h, slen(m->extra_attrs[i].local));
        MIX(h, slen(m->extra_attrs[i].value));
    }
    for (size_t i = 0; i < m->extra_nodes_count; i++)
        MIX(h, sum_node(&m->extra_nodes[i]));
    for (size_t i = 0; i < m->order_count; i++)
        MIX(h, m->order[i]);
    return h;
}

static uint64_t sum_lang_texts(const pxmpp_lang_text *t, size_t n)
{
    uint64_t h = n;
    for (size_t i = 0; i < n; i++) {
        MIX(h, sum_meta(&t[i].meta));
        MIX(h, slen(t[i].lang));
        MIX(h, slen(t[i].text));
    }
    return h;
}

static uint64_t sum_error(const pxmpp_stanza_error *e)
{
    if (!e)
        return 0;
    uint64_t h = sum_meta(&e->meta);
    MIX(h, e->type);
    MIX(h, slen(e->by));
    MIX(h, e->condition);
    MIX(h, slen(e->condition_text));
    MIX(h, sum_lang_texts(e->texts, e->texts_count));
    return h;
}

static uint64_t sum_roster(const pxmpp_roster_query *q)
{
    uint64_t h = sum_meta(&q->meta);
    MIX(h, slen(q->ver));
    for (size_t i = 0; i < q->items_count; i++) {
        const pxmpp_roster_item *it = &q->items[i];
        MIX(h, sum_meta(&it->meta));
        MIX(h, slen(it->jid));
        MIX(h, slen(it->name));
        MIX(h, it->subscription);
        MIX(h, it->ask);
        MIX(h, it->approved);
        for (size_t g = 0; g < it->groups_count; g++)
            MIX(h, slen(it->groups[g]));
    }
    return h;
}

static uint64_t sum_disco_info(const pxmpp_disco_info *q)
{
    uint64_t h = sum_meta(&q->meta);
    MIX(h, slen(q->node));
    for (size_t i = 0; i < q->identities_count; i++) {
        const pxmpp_disco_identity *id = &q->identities[i];
        MIX(h, sum_meta(&id->meta));
        MIX(h, slen(id->category));
        MIX(h, slen(id->type));
        MIX(h, slen(id->name));
        MIX(h, slen(id->lang));
    }
    for (size_t i = 0; i < q->features_count; i++) {
        MIX(h, sum_meta(&q->features[i].meta));
        MIX(h, slen(q->features[i].var));
    }
    return h;
}

static uint64_t sum_payloads(const pxmpp_payload *p, size_t n)
{
    uint64_t h = n;
    for (size_t i = 0; i < n; i++) {
        const pxmpp_payload *pl = &p[i];
        if (pl->type == &pxmpp_roster_query_desc)
            MIX(h, sum_roster(pl->data));
        else if (pl->type == &pxmpp_disco_info_desc)
            MIX(h, sum_disco_info(pl->data));
        else if (pl->type && pl->data)
            MIX(h, bench_sum_typed(pl->type, pl->data));
        if (pl->node)
            MIX(h, sum_node(pl->node));
        if (pl->invalid) {
            MIX(h, (uint64_t)(int64_t)pl->invalid->code);
            MIX(h, slen(pl->invalid->reason));
            MIX(h, slen(pl->invalid->path));
        }
    }
    return h;
}

uint64_t bench_sum_message(const pxmpp_message *m)
{
    uint64_t h = sum_meta(&m->meta);
    MIX(h, slen(m->to));
    MIX(h, slen(m->from));
    MIX(h, slen(m->id));
    MIX(h, m->type);
    MIX(h, slen(m->lang));
    MIX(h, sum_lang_texts(m->subjects, m->subjects_count));
    MIX(h, sum_lang_texts(m->bodies, m->bodies_count));
    if (m->thread) {
        MIX(h, sum_meta(&m->thread->meta));
        MIX(h, slen(m->thread->id));
        MIX(h, slen(m->thread->parent));
    }
    MIX(h, sum_error(m->error));
    MIX(h, sum_payloads(m->payloads, m->payloads_count));
    return h;
}

uint64_t bench_sum_presence(const pxmpp_presence *p)
{
    uint64_t h = sum_meta(&p->meta);
    MIX(h, slen(p->to));
    MIX(h, slen(p->from));
    MIX(h, slen(p->id));
    MIX(h, p->type);
    MIX(h, slen(p->lang));
    MIX(h, p->show);
    MIX(h, sum_lang_texts(p->statuses, p->statuses_count));
    MIX(h, (uint64_t)(int64_t)p->priority);
    MIX(h, sum_error(p->error));
    MIX(h, sum_payloads(p->payloads, p->payloads_count));
    return h;
}

uint64_t bench_sum_iq(const pxmpp_iq *iq)
{
    uint64_t h = sum_meta(&iq->meta);
    MIX(h, slen(iq->to));
    MIX(h, slen(iq->from));
    MIX(h, slen(iq->id));
    MIX(h, iq->type);
    MIX(h, slen(iq->lang));
    MIX(h, sum_error(iq->error));
    MIX(h, sum_payloads(iq->payloads, iq->payloads_count));
    return h;
}

uint64_t bench_sum_features(const pxmpp_stream_features *f)
{
    uint64_t h = sum_meta(&f->meta);
    MIX(h, sum_payloads(f->features, f->features_count));
    return h;
}

/* ---- through the descriptor ---------------------------------------------------- */

static const void *ptr_at(const void *obj, uint32_t off)
{
    const void *p;
    memcpy(&p, (const char *)obj + off, sizeof p);
    return p;
}

static size_t size_at(const void *obj, uint32_t off)
{
    size_t n;
    memcpy(&n, (const char *)obj + off, sizeof n);
    return n;
}

static uint64_t sum_value(uint8_t vtype, uint8_t width, const void *src)
{
    switch (vtype) {
    case PXMPP_V_ENUM: {
        int v;
        memcpy(&v, src, sizeof v);
        return (uint64_t)(int64_t)v;
    }
    case PXMPP_V_BOOL: {
        bool v;
        memcpy(&v, src, sizeof v);
        return v;
    }
    case PXMPP_V_INT:
        if (width == 4) {
            int32_t v;
            memcpy(&v, src, sizeof v);
            return (uint64_t)(int64_t)v;
        } else {
            int64_t v;
            memcpy(&v, src, sizeof v);
            return (uint64_t)v;
        }
    default: {
        const char *s;
        memcpy(&s, src, sizeof s);
        return slen(s);
    }
    }
}

uint64_t bench_sum_typed(const pxmpp_type_desc *d, const void *obj)
{
    uint64_t h = sum_meta(obj);
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        const char *src = (const char *)obj + f->offset;
        int list = (f->flags & PXMPP_FF_LIST) != 0;
        switch (f->kind) {
        case PXMPP_F_ATTR:
        case PXMPP_F_TEXT:
            MIX(h, sum_value(f->vtype, f->width, src));
            break;
        case PXMPP_F_CHILD: {
            const char *base = ptr_at(obj, f->offset);
            size_t n = list ? size_at(obj, f->aux_offset) : base != NULL;
            for (size_t i = 0; base && i < n; i++)
                MIX(h, bench_sum_typed(f->child, base + i * f->child->size));
            break;
        }
        case PXMPP_F_TEXT_CHILD:
            if (list) {
                const char *const *arr = ptr_at(obj, f->offset);
                size_t n = size_at(obj, f->aux_offset);
                for (size_t i = 0; arr && i < n; i++)
                    MIX(h, slen(arr[i]));
            } else {
                MIX(h, sum_value(f->vtype, f->width, src));
            }
            break;
        case PXMPP_F_LANG_TEXT:
            MIX(h, sum_lang_texts(ptr_at(obj, f->offset), size_at(obj, f->aux_offset)));
            break;
        case PXMPP_F_FLAG:
            MIX(h, sum_value(PXMPP_V_BOOL, 0, src));
            break;
        case PXMPP_F_CONDITION:
            MIX(h, sum_value(PXMPP_V_ENUM, 0, src));
            MIX(h, slen(ptr_at(obj, f->aux_offset)));
            break;
        case PXMPP_F_PAYLOADS:
            MIX(h, sum_payloads(ptr_at(obj, f->offset), size_at(obj, f->aux_offset)));
            break;
        default:
            break;
        }
    }
    return h;
}
