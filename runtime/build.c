/* Builders for outgoing stanzas: plain struct filling in an application arena. */
#include "internal.h"

#include <pxmpp/build.h>

#include <string.h>

static const char *dup(pxmpp_arena *a, const char *s, bool *ok)
{
    if (!s)
        return NULL;
    const char *d = pxmpp_arena_strdup(a, s);
    if (!d)
        *ok = false;
    return d;
}

static int add_lang_text(pxmpp_arena *a, const pxmpp_lang_text **arr, size_t *count, const char *lang,
                         const char *text)
{
    if (!a || !text)
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_lang_text *n = pxmpp_arena_alloc(a, (*count + 1) * sizeof *n);
    if (!n)
        return PXMPP_ERR_NOMEM;
    if (*count)
        memcpy(n, *arr, *count * sizeof *n);
    bool ok = true;
    n[*count].lang = dup(a, lang, &ok);
    n[*count].text = dup(a, text, &ok);
    if (!ok)
        return PXMPP_ERR_NOMEM;
    *arr = n;
    (*count)++;
    return 0;
}

pxmpp_message *pxmpp_build_message(pxmpp_arena *a, const char *to, pxmpp_message_type type, const char *id)
{
    if (!a)
        return NULL;
    pxmpp_message *m = pxmpp_arena_alloc(a, sizeof *m);
    if (!m)
        return NULL;
    bool ok = true;
    m->to = dup(a, to, &ok);
    m->id = dup(a, id, &ok);
    m->type = type ? type : PXMPP_MESSAGE_TYPE_NORMAL;
    return ok ? m : NULL;
}

int pxmpp_message_add_body(pxmpp_arena *a, pxmpp_message *m, const char *lang, const char *text)
{
    return m ? add_lang_text(a, &m->bodies, &m->bodies_count, lang, text) : PXMPP_ERR_INVALID_ARGUMENT;
}

int pxmpp_message_add_subject(pxmpp_arena *a, pxmpp_message *m, const char *lang, const char *text)
{
    return m ? add_lang_text(a, &m->subjects, &m->subjects_count, lang, text) : PXMPP_ERR_INVALID_ARGUMENT;
}

int pxmpp_message_set_thread(pxmpp_arena *a, pxmpp_message *m, const char *thread, const char *parent)
{
    if (!a || !m || !thread)
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_thread *t = pxmpp_arena_alloc(a, sizeof *t);
    if (!t)
        return PXMPP_ERR_NOMEM;
    bool ok = true;
    t->id = dup(a, thread, &ok);
    t->parent = dup(a, parent, &ok);
    if (!ok)
        return PXMPP_ERR_NOMEM;
    m->thread = t;
    return 0;
}

pxmpp_presence *pxmpp_build_presence(pxmpp_arena *a, const char *to, pxmpp_presence_type type)
{
    if (!a)
        return NULL;
    pxmpp_presence *p = pxmpp_arena_alloc(a, sizeof *p);
    if (!p)
        return NULL;
    bool ok = true;
    p->to = dup(a, to, &ok);
    p->type = type ? type : PXMPP_PRESENCE_TYPE_AVAILABLE;
    return ok ? p : NULL;
}

int pxmpp_presence_add_status(pxmpp_arena *a, pxmpp_presence *p, const char *lang, const char *text)
{
    return p ? add_lang_text(a, &p->statuses, &p->statuses_count, lang, text) : PXMPP_ERR_INVALID_ARGUMENT;
}

int pxmpp_payloads_add(pxmpp_arena *a, const pxmpp_payload **list, size_t *count, const pxmpp_type_desc *type,
                       const void *data)
{
    if (!a || !list || !count || !type || !data || type->abi != PXMPP_RUNTIME_ABI)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (*count >= SIZE_MAX / sizeof(pxmpp_payload) - 1)
        return PXMPP_ERR_NOMEM;
    pxmpp_payload *n = pxmpp_arena_alloc(a, (*count + 1) * sizeof *n);
    if (!n)
        return PXMPP_ERR_NOMEM;
    if (*count)
        memcpy(n, *list, *count * sizeof *n);
    n[*count] = (pxmpp_payload){ .type = type, .data = data };
    *list = n;
    ++*count;
    return 0;
}

int pxmpp_iq_add_payload(pxmpp_arena *a, pxmpp_iq *iq, const pxmpp_type_desc *payload_type, const void *payload)
{
    return iq ? pxmpp_payloads_add(a, &iq->payloads, &iq->payloads_count, payload_type, payload)
              : PXMPP_ERR_INVALID_ARGUMENT;
}

int pxmpp_message_add_payload(pxmpp_arena *a, pxmpp_message *m, const pxmpp_type_desc *type, const void *data)
{
    return m ? pxmpp_payloads_add(a, &m->payloads, &m->payloads_count, type, data) : PXMPP_ERR_INVALID_ARGUMENT;
}

int pxmpp_presence_add_payload(pxmpp_arena *a, pxmpp_presence *p, const pxmpp_type_desc *type, const void *data)
{
    return p ? pxmpp_payloads_add(a, &p->payloads, &p->payloads_count, type, data) : PXMPP_ERR_INVALID_ARGUMENT;
}

void *pxmpp_new(pxmpp_arena *a, const pxmpp_type_desc *type)
{
    if (!a || !type || type->abi != PXMPP_RUNTIME_ABI || !type->size)
        return NULL;
    return pxmpp_arena_alloc(a, type->size); /* zero-filled */
}

pxmpp_iq *pxmpp_build_iq(pxmpp_arena *a, pxmpp_iq_type type, const char *to, const char *id,
                         const pxmpp_type_desc *payload_type, const void *payload)
{
    if (!a || type <= PXMPP_IQ_TYPE_ABSENT || type > PXMPP_IQ_TYPE_SET)
        return NULL;
    pxmpp_iq *iq = pxmpp_arena_alloc(a, sizeof *iq);
    if (!iq)
        return NULL;
    bool ok = true;
    iq->to = dup(a, to, &ok);
    iq->id = dup(a, id, &ok);
    iq->type = type;
    if (!ok)
        return NULL;
    if (payload_type && pxmpp_iq_add_payload(a, iq, payload_type, payload))
        return NULL;
    return iq;
}

pxmpp_iq *pxmpp_build_roster_get(pxmpp_arena *a, const char *id, const char *ver)
{
    if (!a)
        return NULL;
    pxmpp_roster_query *q = pxmpp_arena_alloc(a, sizeof *q);
    if (!q)
        return NULL;
    bool ok = true;
    q->ver = dup(a, ver, &ok);
    return ok ? pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, NULL, id, &pxmpp_roster_query_desc, q) : NULL;
}

static pxmpp_iq *roster_set(pxmpp_arena *a, const char *id, const char *jid, const char *name,
                            const char *const *groups, size_t ngroups, pxmpp_roster_subscription sub)
{
    if (!a || !jid || (ngroups && !groups))
        return NULL;
    pxmpp_roster_query *q = pxmpp_arena_alloc(a, sizeof *q);
    pxmpp_roster_item *it = pxmpp_arena_alloc(a, sizeof *it);
    const char **g = ngroups ? pxmpp_arena_alloc(a, ngroups * sizeof *g) : NULL;
    if (!q || !it || (ngroups && !g))
        return NULL;
    bool ok = true;
    it->jid = dup(a, jid, &ok);
    it->name = dup(a, name, &ok);
    it->subscription = sub;
    for (size_t i = 0; i < ngroups; i++)
        g[i] = dup(a, groups[i], &ok);
    it->groups = g;
    it->groups_count = ngroups;
    if (!ok)
        return NULL;
    q->items = it;
    q->items_count = 1;
    return pxmpp_build_iq(a, PXMPP_IQ_TYPE_SET, NULL, id, &pxmpp_roster_query_desc, q);
}

pxmpp_iq *pxmpp_build_roster_set(pxmpp_arena *a, const char *id, const char *jid, const char *name,
                                 const char *const *groups, size_t ngroups)
{
    return roster_set(a, id, jid, name, groups, ngroups, PXMPP_ROSTER_SUBSCRIPTION_ABSENT);
}

pxmpp_iq *pxmpp_build_roster_remove(pxmpp_arena *a, const char *id, const char *jid)
{
    return roster_set(a, id, jid, NULL, NULL, 0, PXMPP_ROSTER_SUBSCRIPTION_REMOVE);
}

pxmpp_iq *pxmpp_build_iq_result(pxmpp_arena *a, const pxmpp_iq *request)
{
    if (!request || !request->id)
        return NULL;
    return pxmpp_build_iq(a, PXMPP_IQ_TYPE_RESULT, request->from, request->id, NULL, NULL);
}

pxmpp_iq *pxmpp_build_iq_error(pxmpp_arena *a, const pxmpp_iq *request, pxmpp_stanza_error_type type,
                               pxmpp_stanza_error_condition cond)
{
    if (!request || !request->id || !pxmpp_stanza_error_condition_str(cond) || !pxmpp_stanza_error_type_str(type))
        return NULL;
    pxmpp_iq *iq = pxmpp_build_iq(a, PXMPP_IQ_TYPE_ERROR, request->from, request->id, NULL, NULL);
    pxmpp_stanza_error *e = iq ? pxmpp_arena_alloc(a, sizeof *e) : NULL;
    if (!e)
        return NULL;
    e->type = type;
    e->condition = cond;
    iq->error = e;
    return iq;
}

/* Copies a language tag into the arena: letters, digits and '-' (BCP 47's alphabet). */
static int set_lang(pxmpp_arena *a, const char **field, const char *lang)
{
    if (!a || !field)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!lang) {
        *field = NULL;
        return 0;
    }
    size_t n = strlen(lang);
    if (n == 0 || n > 35)
        return PXMPP_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        char ch = lang[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return PXMPP_ERR_INVALID_ARGUMENT;
    }
    const char *copy = pxmpp_arena_strdup(a, lang);
    if (!copy)
        return PXMPP_ERR_NOMEM;
    *field = copy;
    return 0;
}

int pxmpp_message_set_lang(pxmpp_arena *a, pxmpp_message *m, const char *lang)
{
    return m ? set_lang(a, &m->lang, lang) : PXMPP_ERR_INVALID_ARGUMENT;
}

int pxmpp_presence_set_lang(pxmpp_arena *a, pxmpp_presence *p, const char *lang)
{
    return p ? set_lang(a, &p->lang, lang) : PXMPP_ERR_INVALID_ARGUMENT;
}

int pxmpp_iq_set_lang(pxmpp_arena *a, pxmpp_iq *iq, const char *lang)
{
    return iq ? set_lang(a, &iq->lang, lang) : PXMPP_ERR_INVALID_ARGUMENT;
}
