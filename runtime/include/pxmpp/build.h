/**
 * @file build.h
 * @brief Builders for outgoing stanzas.
 *
 * Builders allocate the stanza and copies of every string from an arena the
 * application owns (pxmpp_arena_new); the stanza lives until that arena is
 * reset or freed.  Fields not covered by a function (show, priority, ...) are
 * plain struct members and may be set directly.  Functions returning a pointer
 * return NULL when an argument is invalid or the arena cannot allocate;
 * functions returning int return 0, PXMPP_ERR_INVALID_ARGUMENT or PXMPP_ERR_NOMEM.
 * Ids of iq stanzas must be unique per stream: use pxmpp_stream_make_id().
 */
#ifndef PXMPP_BUILD_H
#define PXMPP_BUILD_H

#include <pxmpp/arena.h>
#include <pxmpp/gen/all.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A message to @p to (NULL: none) of @p type (PXMPP_MESSAGE_TYPE_ABSENT or _NORMAL: no type attribute). */
pxmpp_message *pxmpp_build_message(pxmpp_arena *a, const char *to, pxmpp_message_type type, const char *id);
/** Adds a body in language @p lang (NULL: the stanza's default language). */
int pxmpp_message_add_body(pxmpp_arena *a, pxmpp_message *m, const char *lang, const char *text);
/** Adds a subject in language @p lang (NULL: the stanza's default language). */
int pxmpp_message_add_subject(pxmpp_arena *a, pxmpp_message *m, const char *lang, const char *text);
/** Sets the thread (and its optional parent thread). */
int pxmpp_message_set_thread(pxmpp_arena *a, pxmpp_message *m, const char *thread, const char *parent);

/**
 * Sets the default language (xml:lang, RFC 6120 §8.1.5) of a stanza: @p lang is a language
 * tag such as "en" or "pt-BR" (copied into @p a); NULL removes it.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (NULL stanza or arena, or @p lang is not made of
 *         letters, digits and '-' with at most 35 characters); PXMPP_ERR_NOMEM.
 */
int pxmpp_message_set_lang(pxmpp_arena *a, pxmpp_message *m, const char *lang);
/** As pxmpp_message_set_lang(), for a presence. */
int pxmpp_presence_set_lang(pxmpp_arena *a, pxmpp_presence *p, const char *lang);
/** As pxmpp_message_set_lang(), for an iq. */
int pxmpp_iq_set_lang(pxmpp_arena *a, pxmpp_iq *iq, const char *lang);

/** A presence to @p to (NULL: broadcast) of @p type (PXMPP_PRESENCE_TYPE_AVAILABLE for plain availability). */
pxmpp_presence *pxmpp_build_presence(pxmpp_arena *a, const char *to, pxmpp_presence_type type);
/** Adds a status text in language @p lang (NULL: default). */
int pxmpp_presence_add_status(pxmpp_arena *a, pxmpp_presence *p, const char *lang, const char *text);

/** An iq of @p type with @p id to @p to (NULL: the account), carrying one typed payload
    (@p payload_type NULL: none, as in an empty result).  The payload is referenced, not copied.
    @p id may be NULL: pxmpp_client_send_iq() then assigns one unique to the stream (an iq sent
    with pxmpp_stream_send() needs one: RFC 6120 §8.1.3).  NULL when out of memory or @p type is
    not a valid iq type. */
pxmpp_iq *pxmpp_build_iq(pxmpp_arena *a, pxmpp_iq_type type, const char *to, const char *id,
                         const pxmpp_type_desc *payload_type, const void *payload);
/** Adds a payload to an iq (for example the original request in an error).  Returns as
    pxmpp_payloads_add(). */
int pxmpp_iq_add_payload(pxmpp_arena *a, pxmpp_iq *iq, const pxmpp_type_desc *payload_type, const void *payload);
/** Adds a payload (a chat state, a receipt request, a MUC join ...) to a message.  Returns as
    pxmpp_payloads_add(). */
int pxmpp_message_add_payload(pxmpp_arena *a, pxmpp_message *m, const pxmpp_type_desc *type, const void *data);
/** Adds a payload (entity capabilities, a MUC join, a nickname ...) to a presence.  Returns as
    pxmpp_payloads_add(). */
int pxmpp_presence_add_payload(pxmpp_arena *a, pxmpp_presence *p, const pxmpp_type_desc *type, const void *data);

/**
 * Appends the typed element @p data of type @p type to the payload list (*list, *count) of
 * any element with a payloads field (a stanza, a pubsub item, a forwarded stanza ...).  The
 * list is copied into @p a, one element longer; @p data is referenced, not copied (it must
 * live as long as the stanza, e.g. in the same arena: see pxmpp_new()).
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (a NULL argument, or a descriptor generated for
 *         another runtime ABI); PXMPP_ERR_NOMEM (nothing changed then).
 */
int pxmpp_payloads_add(pxmpp_arena *a, const pxmpp_payload **list, size_t *count, const pxmpp_type_desc *type,
                       const void *data);

/**
 * A new, zeroed struct of the generated type @p type in arena @p a (meta zeroed: nothing
 * unknown, written in the schema's order): the way to build a payload, empty ones included.
 * For example `pxmpp_chatstate_composing *c = pxmpp_new(a, &pxmpp_chatstate_composing_desc);`.
 * Returns NULL when an argument is NULL, the descriptor is of another runtime ABI, or the
 * arena cannot allocate.
 */
void *pxmpp_new(pxmpp_arena *a, const pxmpp_type_desc *type);

/** Roster get (RFC 6121 §2.1.3); @p ver NULL: no versioning, "" or a stored version: versioned. */
pxmpp_iq *pxmpp_build_roster_get(pxmpp_arena *a, const char *id, const char *ver);
/** Roster set adding or updating @p jid with an optional name and @p ngroups groups (RFC 6121 §2.3). */
pxmpp_iq *pxmpp_build_roster_set(pxmpp_arena *a, const char *id, const char *jid, const char *name,
                                 const char *const *groups, size_t ngroups);
/** Roster set removing @p jid (subscription='remove', RFC 6121 §2.5). */
pxmpp_iq *pxmpp_build_roster_remove(pxmpp_arena *a, const char *id, const char *jid);
/** An empty iq result answering @p request (to = its from, same id). */
pxmpp_iq *pxmpp_build_iq_result(pxmpp_arena *a, const pxmpp_iq *request);
/** An iq error answering @p request with a defined condition of @p type. */
pxmpp_iq *pxmpp_build_iq_error(pxmpp_arena *a, const pxmpp_iq *request, pxmpp_stanza_error_type type,
                               pxmpp_stanza_error_condition cond);

/**
 * Deep copy of the typed element @p obj of type @p d (every string, list, child,
 * payload and unknown node) into arena @p a: the way to keep a stanza received in a
 * callback beyond the call.  Returns the copy (owned by the arena) or NULL when an
 * argument is NULL or the arena cannot allocate.
 */
void *pxmpp_copy(pxmpp_arena *a, const pxmpp_type_desc *d, const void *obj);

#ifdef __cplusplus
}
#endif
#endif
