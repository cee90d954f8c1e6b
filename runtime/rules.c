/* Rules: the co-constraints of the schemas (schema <rule>), checked on built structs.
 *
 * A rule looks at fields of the element (or of the stanza it is in) through
 * references resolved by name against the element's descriptor; see
 * schema/README.md ("Rules") for what present, count and value mean.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int field_index(const pxmpp_type_desc *d, const char *name)
{
    for (uint16_t k = 0; k < d->fields_count; k++)
        if (strcmp(d->fields[k].name, name) == 0)
            return k;
    return -1;
}

/* How many of the sorted values v[0, n) are below key (with after: not above it). */
static size_t bound(const uintptr_t *v, size_t n, uintptr_t key, bool after, uint64_t *steps)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        ++*steps;
        if (v[mid] < key || (after && v[mid] == key))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Number of payloads of type t in d's PAYLOADS fields: by binary search in pt when it
   describes obj, else one by one. */
static size_t payload_count(const pxmpp_type_desc *d, const void *obj, const pxmpp_type_desc *t, uint64_t *steps,
                            const pxmpp__payload_types *pt)
{
    if (pt && pt->obj == obj)
        return bound(pt->types, pt->n, (uintptr_t)t, true, steps) - bound(pt->types, pt->n, (uintptr_t)t, false, steps);
    size_t n = 0;
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        if (f->kind != PXMPP_F_PAYLOADS)
            continue;
        const pxmpp_payload *arr = pxmpp__get_ptr(obj, f->offset);
        size_t cnt = arr ? pxmpp__get_size(obj, f->aux_offset) : 0;
        *steps += cnt;
        for (size_t i = 0; i < cnt; i++)
            n += arr[i].type == t;
    }
    return n;
}

/* The count of field f: items of a list, 0 or 1 for a single field (1 when present). */
static size_t field_count(const pxmpp_field_desc *f, uint16_t k, const void *obj)
{
    const pxmpp_meta *m = obj;
    const char *src = (const char *)obj + f->offset;
    if (f->flags & PXMPP_FF_LIST)
        return pxmpp__get_ptr(obj, f->offset) ? pxmpp__get_size(obj, f->aux_offset) : 0;
    switch (f->kind) {
    case PXMPP_F_ATTR:
    case PXMPP_F_TEXT_CHILD:
    case PXMPP_F_TEXT:
    case PXMPP_F_NAME:
        if (f->vtype == PXMPP_V_ENUM) {
            int v;
            memcpy(&v, src, sizeof v);
            return v > 0;
        }
        if (f->vtype == PXMPP_V_BOOL || f->vtype == PXMPP_V_INT)
            return k < 32 && ((m->present >> k) & 1u);
        {
            const char *p = pxmpp__get_ptr(obj, f->offset);
            return p && (f->kind != PXMPP_F_TEXT || *p);
        }
    case PXMPP_F_CHILD:
        return pxmpp__get_ptr(obj, f->offset) != NULL;
    case PXMPP_F_FLAG: {
        bool v;
        memcpy(&v, src, sizeof v);
        return v;
    }
    case PXMPP_F_CONDITION: {
        int v;
        memcpy(&v, src, sizeof v);
        return v > 0;
    }
    default:
        return 0;
    }
}

/* Is the value of field f one of ref's values? */
static bool value_in(const pxmpp_field_desc *f, uint16_t k, const void *obj, const pxmpp_rule_ref *ref)
{
    const char *src = (const char *)obj + f->offset;
    if (ref->ints && f->vtype == PXMPP_V_ENUM) {
        int e; /* an enum value (defaults and implied values included) */
        memcpy(&e, src, sizeof e);
        for (uint16_t i = 0; i < ref->values_count; i++)
            if (ref->ints[i] == e)
                return e > 0;
        return false;
    }
    if (!field_count(f, k, obj))
        return false;
    char buf[32];
    const char *v;
    if (f->vtype == PXMPP_V_ENUM) {
        int e;
        memcpy(&e, src, sizeof e);
        v = e > 0 && e < f->enum_desc->count ? f->enum_desc->names[e] : NULL;
    } else {
        v = pxmpp__value_format(f, f->vtype, src, buf, sizeof buf);
    }
    if (!v)
        return false;
    for (uint16_t i = 0; i < ref->values_count; i++)
        if (strcmp(ref->values[i], v) == 0)
            return true;
    return false;
}

/* The element a reference looks at, or NULL (no stanza, or its field is unknown there). */
static bool ref_target(const pxmpp_rule_ref *ref, const pxmpp_type_desc *d, const void *obj,
                       const pxmpp_type_desc *sd, const void *sobj, const pxmpp_type_desc **od,
                       const void **oobj)
{
    if (ref->scope == PXMPP_RULE_STANZA) {
        if (!sd || !sobj)
            return false;
        *od = sd;
        *oobj = sobj;
    } else {
        *od = d;
        *oobj = obj;
    }
    return true;
}

/* The count of a reference (0 when it does not apply). */
static size_t ref_count(const pxmpp_rule_ref *ref, const pxmpp_type_desc *d, const void *obj,
                        const pxmpp_type_desc *sd, const void *sobj, uint64_t *steps, const pxmpp__payload_types *pt)
{
    const pxmpp_type_desc *od;
    const void *oobj;
    if (!ref_target(ref, d, obj, sd, sobj, &od, &oobj))
        return 0;
    if (ref->payload)
        return payload_count(od, oobj, ref->payload, steps, pt);
    int k = ref->scope == PXMPP_RULE_SELF && ref->index >= 0 ? ref->index : field_index(od, ref->field);
    return k < 0 ? 0 : field_count(&od->fields[k], (uint16_t)k, oobj);
}

/* Does a condition hold? */
static bool cond_holds(const pxmpp_rule_ref *ref, const pxmpp_type_desc *d, const void *obj,
                       const pxmpp_type_desc *sd, const void *sobj, uint64_t *steps, const pxmpp__payload_types *pt)
{
    if (!ref->values)
        return ref_count(ref, d, obj, sd, sobj, steps, pt) > 0;
    const pxmpp_type_desc *od;
    const void *oobj;
    if (!ref_target(ref, d, obj, sd, sobj, &od, &oobj))
        return false;
    int k = ref->scope == PXMPP_RULE_SELF && ref->index >= 0 ? ref->index : field_index(od, ref->field);
    return k >= 0 && value_in(&od->fields[k], (uint16_t)k, oobj, ref);
}

const pxmpp_rule_desc *pxmpp__rules_check(const pxmpp_type_desc *d, const void *obj, const pxmpp_type_desc *sd,
                                          const void *sobj, bool deferred, pxmpp__work *work,
                                          const pxmpp__payload_types *pt)
{
    uint64_t none = 0, *steps = work ? &work->steps : &none;
    for (uint16_t i = 0; i < d->rules_count; i++) {
        const pxmpp_rule_desc *r = &d->rules[i];
        if (r->deferred != deferred)
            continue;
        if (r->when.used && !cond_holds(&r->when, d, obj, sd, sobj, steps, pt))
            continue;
        if (r->unless.used && cond_holds(&r->unless, d, obj, sd, sobj, steps, pt))
            continue;
        bool ok;
        if (r->op == PXMPP_RULE_COUNT) {
            size_t n = ref_count(&r->target, d, obj, sd, sobj, steps, pt);
            ok = n >= r->min && n <= r->max;
        } else {
            bool holds = cond_holds(&r->target, d, obj, sd, sobj, steps, pt);
            ok = r->op == PXMPP_RULE_REQUIRES ? holds : !holds;
        }
        if (!ok)
            return r;
    }
    return NULL;
}
