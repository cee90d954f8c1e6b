#include "json.h"

#include <inttypes.h>
#include <string.h>

void json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void json_key(FILE *f, bool *first, const char *key)
{
    if (!*first)
        fputc(',', f);
    *first = false;
    json_string(f, key);
    fputc(':', f);
}

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

static void json_value(FILE *f, const pxmpp_field_desc *fd, const void *src)
{
    switch (fd->vtype) {
    case PXMPP_V_ENUM: {
        int v;
        memcpy(&v, src, sizeof v);
        json_string(f, v > 0 && v < fd->enum_desc->count ? fd->enum_desc->names[v] : NULL);
        break;
    }
    case PXMPP_V_BOOL: {
        bool v;
        memcpy(&v, src, sizeof v);
        fputs(v ? "true" : "false", f);
        break;
    }
    case PXMPP_V_INT: {
        int64_t v;
        if (fd->width == 4) {
            int32_t w;
            memcpy(&w, src, sizeof w);
            v = w;
        } else {
            memcpy(&v, src, sizeof v);
        }
        fprintf(f, "%" PRId64, v);
        break;
    }
    default:
        json_string(f, get_ptr(src, 0));
    }
}

static void json_lang_texts(FILE *f, const pxmpp_lang_text *lt, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",{\"lang\":" : "{\"lang\":", f);
        json_string(f, lt[i].lang);
        fputs(",\"text\":", f);
        json_string(f, lt[i].text);
        fputc('}', f);
    }
    fputc(']', f);
}

static void json_typed(FILE *f, const pxmpp_type_desc *d, const void *obj)
{
    bool first = true;
    fputc('{', f);
    json_fields(f, &first, d, obj, NULL);
    fputc('}', f);
}

void json_fields(FILE *f, bool *first, const pxmpp_type_desc *d, const void *obj, const char *const *skip)
{
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *fd = &d->fields[k];
        bool skipped = false;
        for (size_t i = 0; skip && skip[i]; i++)
            if (strcmp(skip[i], fd->name) == 0)
                skipped = true;
        if (skipped)
            continue;
        const char *src = (const char *)obj + fd->offset;
        bool list = fd->flags & PXMPP_FF_LIST;
        /* an attribute, a single text-child or a flag is keyed by its XML name (a field renamed
           because its name is a C keyword shows as in the XML); lists and children by the field */
        bool xml_named = fd->local && !list &&
                         (fd->kind == PXMPP_F_ATTR || fd->kind == PXMPP_F_TEXT_CHILD || fd->kind == PXMPP_F_FLAG);
        json_key(f, first, xml_named ? fd->local : fd->name);
        const pxmpp_meta *meta = obj;
        bool absent = (fd->vtype == PXMPP_V_INT || fd->vtype == PXMPP_V_BOOL) && !fd->has_default && !list &&
                      (fd->kind == PXMPP_F_ATTR || fd->kind == PXMPP_F_TEXT_CHILD) && !(k < 32 && ((meta->present >> k) & 1u));
        if (absent) {
            fputs("null", f); /* an optional number or boolean that is not there (0 would be a value) */
            continue;
        }
        switch (fd->kind) {
        case PXMPP_F_ATTR:
        case PXMPP_F_TEXT:
        case PXMPP_F_NAME:
            json_value(f, fd, src);
            break;
        case PXMPP_F_TEXT_CHILD:
            if (list) {
                const char *arr = get_ptr(obj, fd->offset);
                size_t n = get_size(obj, fd->aux_offset);
                size_t vs = fd->vtype == PXMPP_V_ENUM ? sizeof(int)
                            : fd->vtype == PXMPP_V_BOOL ? sizeof(bool)
                            : fd->vtype == PXMPP_V_INT ? (fd->width == 4 ? 4u : 8u)
                                                        : sizeof(const char *);
                fputc('[', f);
                for (size_t i = 0; i < n; i++) {
                    if (i)
                        fputc(',', f);
                    json_value(f, fd, arr + i * vs);
                }
                fputc(']', f);
            } else if (fd->vtype == PXMPP_V_INT || fd->vtype == PXMPP_V_ENUM || fd->vtype == PXMPP_V_BOOL) {
                json_value(f, fd, src);
            } else {
                json_string(f, get_ptr(obj, fd->offset));
            }
            break;
        case PXMPP_F_LANG_TEXT:
            json_lang_texts(f, get_ptr(obj, fd->offset), get_size(obj, fd->aux_offset));
            break;
        case PXMPP_F_FLAG: {
            bool v;
            memcpy(&v, src, sizeof v);
            fputs(v ? "true" : "false", f);
            break;
        }
        case PXMPP_F_CONDITION: {
            json_value(f, fd, src);
            json_key(f, first, "condition_text");
            json_string(f, get_ptr(obj, fd->aux_offset));
            break;
        }
        case PXMPP_F_CHILD:
            if (list) {
                const char *arr = get_ptr(obj, fd->offset);
                size_t n = get_size(obj, fd->aux_offset);
                fputc('[', f);
                for (size_t i = 0; i < n; i++) {
                    if (i)
                        fputc(',', f);
                    json_typed(f, fd->child, arr + i * fd->child->size);
                }
                fputc(']', f);
            } else {
                const void *c = get_ptr(obj, fd->offset);
                if (c)
                    json_typed(f, fd->child, c);
                else
                    fputs("null", f);
            }
            break;
        case PXMPP_F_PAYLOADS: {
            const pxmpp_payload *arr = get_ptr(obj, fd->offset);
            size_t n = get_size(obj, fd->aux_offset);
            fputc('[', f);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    fputc(',', f);
                json_payload(f, &arr[i], PXMPP_NS_CLIENT);
            }
            fputc(']', f);
            break;
        }
        default:
            fputs("null", f);
        }
    }
    const pxmpp_meta *m = obj;
    if (m->extra_attrs_count || m->extra_nodes_count) {
        json_key(f, first, "unknown");
        fputc('[', f);
        bool one = true;
        for (size_t i = 0; i < m->extra_attrs_count; i++) {
            if (!one)
                fputc(',', f);
            one = false;
            char buf[512];
            snprintf(buf, sizeof buf, "@%s%s%s", m->extra_attrs[i].ns ? m->extra_attrs[i].ns : "",
                     m->extra_attrs[i].ns ? " " : "", m->extra_attrs[i].local);
            json_string(f, buf);
        }
        for (size_t i = 0; i < m->extra_nodes_count; i++) {
            if (!one)
                fputc(',', f);
            one = false;
            const pxmpp_node *n = &m->extra_nodes[i];
            char buf[512];
            if (n->local)
                snprintf(buf, sizeof buf, "%s %s", n->ns ? n->ns : "", n->local);
            else
                snprintf(buf, sizeof buf, "#text");
            json_string(f, buf);
        }
        fputc(']', f);
    }
}

const char *type_ns(const pxmpp_type_desc *d, const void *obj, const char *content_ns)
{
    const pxmpp_meta *m = obj;
    if (d->ns_list && m && m->ns_index > 0) {
        for (size_t i = 0; d->ns_list[i]; i++)
            if (i + 1 == m->ns_index)
                return d->ns_list[i];
    }
    return d->ns ? d->ns : content_ns;
}

const char *payload_name(const pxmpp_payload *p, const char *content_ns, char *buf, size_t cap)
{
    if (p->type)
        snprintf(buf, cap, "%s %s", type_ns(p->type, p->data, content_ns), p->type->local);
    else if (p->node && p->node->local)
        snprintf(buf, cap, "%s %s", p->node->ns ? p->node->ns : "", p->node->local);
    else
        snprintf(buf, cap, "#text");
    return buf;
}

void json_payload(FILE *f, const pxmpp_payload *p, const char *content_ns)
{
    char buf[600];
    bool first = true;
    fputc('{', f);
    json_key(f, &first, "element");
    json_string(f, payload_name(p, content_ns, buf, sizeof buf));
    json_key(f, &first, "schema_type");
    json_string(f, p->type ? p->type->name : NULL);
    if (p->type && p->data)
        json_fields(f, &first, p->type, p->data, NULL);
    if (p->invalid) {
        json_key(f, &first, "invalid");
        fputs("{\"reason\":", f);
        json_string(f, p->invalid->reason);
        fputs(",\"path\":", f);
        json_string(f, p->invalid->path);
        fputc('}', f);
    }
    fputc('}', f);
}
