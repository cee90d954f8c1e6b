/**
 * @file server.h
 * @brief The server side of one client connection (RFC 6120 §4-§7, RFC 6121), sans-IO
 * like the client: the library answers the stream, negotiates STARTTLS, SASL and
 * resource binding, then validates every stanza the client sends and stamps its
 * 'from'.  Storage and routing between sessions stay the app's, through callbacks.
 * Pure functions at the end of this header hold RFC 6121's subscription state
 * machine (Appendix A) and message delivery rules (§8.5) as tables.
 *
 * Lifecycle of one connection:
 *   the client's header   -> our header (from = the domain, a fresh random id), features:
 *                            <starttls required/> only, while TLS is required and not up
 *   <starttls/>           -> <proceed/>; `start_tls` asks the app to run the TLS handshake
 *                            on its socket (bytes after <starttls/> in the same read are
 *                            refused), then pxmpp_server_tls_ready() restarts the stream
 *   features              -> SASL: SCRAM-SHA-256, SCRAM-SHA-1 (GNU SASL's server side, with
 *                            the secrets the `scram_secrets` callback gives), their -PLUS
 *                            variants when the app handed channel-binding data to
 *                            pxmpp_server_tls_ready(), PLAIN only once TLS is up (checked
 *                            against the same secrets)
 *   <success/>            -> stream restart, features: resource binding
 *   bind                  -> the requested resource or one the server makes up; `bind`
 *                            lets the app refuse a resource in use (RFC 6120 §7.7.2.2)
 *                            or accept it after ending the old session
 *   `bound`               -> stanzas flow (see "Stanzas" below)
 *   pxmpp_server_close()  -> </stream:stream>; or the client closes and we answer
 *
 * Security: credentials never leave the app as plaintext: the app keeps, per account and
 * hash, the salted SCRAM secrets (stored key, server key, salt, iteration count; see
 * pxmpp_server_scram_secrets()).  An authorization identity other than the account (its
 * bare JID or its user name) is refused with invalid-authzid.  After
 * PXMPP_SERVER_MAX_AUTH_FAILURES failed attempts the stream ends with policy-violation.
 * Anything but the negotiation before authentication ends the stream with not-authorized; a stanza whose 'from' is neither the session's
 * full JID nor its bare JID ends it with invalid-from (RFC 6120 §8.1.2.1); XML-level
 * violations end it with the matching stream error (see pxmpp_stream_feed()).
 *
 * Stanzas, once bound.  Every stanza carries the session's full JID as 'from' before the
 * app sees it (subscription presences its bare JID).  Then:
 *   - an iq get to the server (no 'to', or 'to' the domain) with XEP-0199 ping or
 *     XEP-0030 disco#info is answered by the library;
 *   - roster gets and sets (RFC 6121 §2, to the account or without 'to') are validated and
 *     answered by the library from the app's storage (`roster_get`, `roster_set`), with
 *     versioning (<ver/> offered); a set gives `roster_push` for the account's sessions;
 *   - every other iq get/set addressed to the server or to the account's bare JID (roster
 *     requests too when the roster callbacks are NULL) goes to `iq_request`; when that
 *     returns false (or is NULL) the library answers service-unavailable (RFC 6120 §8.4,
 *     §10.5.3.1);
 *   - an iq result/error to the server or the account goes to `iq_request` too (its return
 *     value is ignored then);
 *   - presence (RFC 6121 §4): a broadcast (no 'to') goes to `route` as it is (for the
 *     account's other resources), then, with roster storage, a copy to each contact with a
 *     subscription 'from' or 'both', probes (from the bare JID) to each with 'to' or 'both'
 *     on the first available presence, and with unavailable a copy to each entity that got
 *     directed available presence in this session (up to 256 are remembered).  When the
 *     stream ends (the client closed it, or the session failed) while the client is
 *     available, the same unavailable broadcast is routed on its behalf, before `closed` or
 *     `failed` (not on pxmpp_server_free() alone).  Subscription presences get the bare
 *     JID as 'from' (§3.1.2);
 *   - every message and presence (addressed to anyone, or a message without 'to') and
 *     every iq to another entity goes to `route`: the app applies pxmpp_sub_outbound(),
 *     pxmpp_message_delivery() ... and hands the stanza to the other sessions with
 *     pxmpp_server_deliver().  Without a
 *     `route` callback they are dropped (iq gets and sets answered service-unavailable).
 *
 * Callbacks: every callback runs inside a call the app made into this session
 * (pxmpp_server_feed, _tls_ready, _deliver ...).  From inside a callback the app may call
 * every function of this header on this session, including pxmpp_server_close(),
 * pxmpp_server_end() and pxmpp_server_free() (a free is deferred until the outermost call
 * into the session returns, and nothing further is delivered once it was requested), and
 * pxmpp_server_deliver() or pxmpp_server_end() on another session.  It must not feed this
 * session from inside one of its callbacks.
 *
 * Ownership: stanzas and strings passed to callbacks are borrowed for the call.  Strings
 * in the configuration are copied by pxmpp_server_new().
 */
#ifndef PXMPP_SERVER_H
#define PXMPP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pxmpp/arena.h>
#include <pxmpp/gen/all.h>
#include <pxmpp/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pxmpp_server pxmpp_server;

/** Failed SASL attempts after which the stream ends with policy-violation. */
#define PXMPP_SERVER_MAX_AUTH_FAILURES 3

/** Session states, in order. */
typedef enum pxmpp_server_state {
    PXMPP_SERVER_WAITING = 0, /**< waiting for the client's stream header */
    PXMPP_SERVER_TLS,         /**< <proceed/> sent: the app runs the TLS handshake */
    PXMPP_SERVER_AUTH,        /**< features offered: STARTTLS or SASL */
    PXMPP_SERVER_BINDING,     /**< authenticated, waiting for the bind request */
    PXMPP_SERVER_READY,       /**< bound: stanzas flow */
    PXMPP_SERVER_CLOSING,     /**< our close tag sent */
    PXMPP_SERVER_CLOSED,      /**< both sides closed */
    PXMPP_SERVER_FAILED       /**< see pxmpp_server_error() */
} pxmpp_server_state;

/** Hash functions of the SCRAM mechanisms. */
typedef enum pxmpp_scram_hash {
    PXMPP_SCRAM_SHA1 = 1,  /**< SCRAM-SHA-1 (RFC 5802): keys of 20 bytes */
    PXMPP_SCRAM_SHA256 = 2 /**< SCRAM-SHA-256 (RFC 7677): keys of 32 bytes */
} pxmpp_scram_hash;

/** The salted secrets of one account for one hash (RFC 5802 §3): what a server stores
    instead of the password. */
typedef struct pxmpp_scram_secrets {
    unsigned char salt[64];
    size_t salt_len;            /**< 1..64 */
    uint32_t iterations;        /**< >= 1 (RFC 7677 asks for at least 4096) */
    unsigned char stored_key[32]; /**< H(ClientKey): the first 20 or 32 bytes */
    unsigned char server_key[32]; /**< HMAC(SaltedPassword, "Server Key") */
} pxmpp_scram_secrets;

/**
 * Computes the SCRAM secrets of @p password for @p hash with @p salt (@p salt_len 1..64
 * bytes) and @p iterations (GNU SASL's key derivation; the password is SASLprep'ed
 * first).  For the app's account store, and for tests.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (a NULL argument, an unknown hash, a salt size or
 *         iteration count out of range, a password SASLprep refuses); PXMPP_ERR_NOMEM.
 */
int pxmpp_server_scram_secrets(pxmpp_scram_hash hash, const char *password, const unsigned char *salt,
                               size_t salt_len, uint32_t iterations, pxmpp_scram_secrets *out);

/** What the `bind` callback decides about a resource. */
typedef enum pxmpp_server_bind_decision {
    PXMPP_SERVER_BIND_ACCEPT = 0,   /**< bind it: free, or the app ended the session that had it
                                         (with pxmpp_server_end(old, conflict), RFC 6120 §7.7.2.2) */
    PXMPP_SERVER_BIND_CONFLICT = 1, /**< in use and kept: the request gets a conflict error (the
                                         client may try another resource) */
    PXMPP_SERVER_BIND_REFUSE = 2    /**< refused by policy (too many resources ...): not-allowed */
} pxmpp_server_bind_decision;

/** Configuration.  Strings are copied. */
typedef struct pxmpp_server_config {
    const char *domain;           /**< the domain served (required), e.g. "example.net" */
    bool tls_optional;            /**< offer STARTTLS without requiring it (default: required) */
    bool no_tls;                  /**< do not offer STARTTLS at all (an app without TLS, or tests) */
    bool allow_plain_without_tls; /**< offer PLAIN on an unencrypted stream too (default: not) */
    const pxmpp_mem *mem;         /**< allocator hooks (NULL: malloc) */
    pxmpp_limits limits;          /**< limits of the stream (zero fields: defaults) */
} pxmpp_server_config;

/** Callbacks.  `write` and `scram_secrets` are required; the others may be NULL. */
typedef struct pxmpp_server_callbacks {
    /** Bytes to send on the connection (through TLS once it is up).  Return 0, or < 0 to
        fail (PXMPP_ERR_WRITE). */
    int (*write)(void *user, const char *data, size_t len);
    /** <proceed/> is out: run the TLS handshake now or soon, then call
        pxmpp_server_tls_ready().  Return 0, or < 0 when TLS cannot be started (the session
        fails with PXMPP_ERR_TLS).  NULL: STARTTLS is not offered (as with no_tls). */
    int (*start_tls)(void *user);
    /** The secrets of account @p username (the localpart, as the client sent it in SASL;
        borrowed) for @p hash.  Fill @p out and return 0; return < 0 for an unknown account
        (the attempt then fails like a wrong password, after the same exchange).  Called
        during SASL, from pxmpp_server_feed(). */
    int (*scram_secrets)(void *user, const char *username, pxmpp_scram_hash hash, pxmpp_scram_secrets *out);
    /** The client authenticated as @p bare_jid (borrowed). */
    void (*authenticated)(void *user, const char *bare_jid);
    /** Resource binding asks for @p full_jid (borrowed): see pxmpp_server_bind_decision.
        NULL: every resource is accepted. */
    pxmpp_server_bind_decision (*bind)(void *user, const char *full_jid);
    /** The resource is bound: stanzas flow.  @p full_jid is borrowed. */
    void (*bound)(void *user, const char *full_jid);
    /** An iq to the server or to the account that the library does not answer itself
        (see "Stanzas" above), 'from' stamped.  For a get/set return true when the app
        answers it (pxmpp_server_answer_iq(), now or later), false to have the library
        answer service-unavailable. */
    bool (*iq_request)(void *user, const pxmpp_iq *iq);
    /** A message or presence (any 'to', or none), or an iq for another entity, with 'from'
        stamped: @p type is &pxmpp_message_desc, &pxmpp_presence_desc or &pxmpp_iq_desc and
        @p stanza a struct of it.  The app routes it (keep it with pxmpp_copy()). */
    void (*route)(void *user, const pxmpp_type_desc *type, const void *stanza);
    /** Roster storage (RFC 6121 §2), for a roster get of account @p bare_jid: fill @p out
        (items and version; the strings and arrays allocated in @p a, an arena of the session
        reset after the answer) and return 0, or < 0 for internal-server-error.  The library
        answers an empty result when the client's version equals @p out->ver (§2.6.3).
        NULL (with roster_set): roster requests go to `iq_request` like other iqs. */
    int (*roster_get)(void *user, const char *bare_jid, pxmpp_arena *a, pxmpp_roster_query *out);
    /** Roster storage: store @p item for @p bare_jid (validated: one item, a JID that is not
        the account's, no empty group, no group twice; subscription REMOVE means delete it)
        and write the new roster version into @p ver (@p ver_cap bytes, NUL-terminated; ""
        for none).  A set does not change the subscription state: @p item comes with
        subscription, ask and approved cleared, and the app writes the stored state into
        them (pxmpp_sub_to_item()) for the push.  @p item and its strings are borrowed.
        Return 0; 1 when an item to remove does not exist (item-not-found); < 0 for
        internal-server-error.  On 0 the library answers the request and calls `roster_push`. */
    int (*roster_set)(void *user, const char *bare_jid, pxmpp_roster_item *item, char *ver, size_t ver_cap);
    /** A roster item of @p bare_jid changed (@p item as stored, with its subscription; REMOVE
        for a deletion) at version @p ver ("" for none): the app pushes it to each of the
        account's sessions that asked for the roster (pxmpp_server_roster_interested()), this
        one included, with pxmpp_server_push_roster().  Borrowed for the call. */
    void (*roster_push)(void *user, const char *bare_jid, const pxmpp_roster_item *item, const char *ver);
    /** The session failed: @p code (PXMPP_ERR_PROTOCOL when the client broke the protocol:
        @p cond is then the stream error the library sent; PXMPP_ERR_AUTH after too many
        failed authentications; PXMPP_ERR_TLS; PXMPP_ERR_TRUNCATED from
        pxmpp_server_finish(); PXMPP_ERR_WRITE; PXMPP_ERR_NOMEM), the condition of the
        stream error sent or received (PXMPP_STREAM_ERROR_CONDITION_ABSENT if none), and a reason. */
    void (*failed)(void *user, int code, pxmpp_stream_error_condition cond, const char *reason);
    /** The client closed the stream; the library answered with its own close tag. */
    void (*closed)(void *user);
    /** One line of a readable transcript (state changes; never secrets or payloads). */
    void (*log)(void *user, const char *line);
} pxmpp_server_callbacks;

/**
 * Creates the session of one incoming connection.  Nothing is written until the client's
 * header arrives.
 * @param out   receives the session; free it with pxmpp_server_free().
 * @param cfg   configuration (copied).
 * @param cb    callbacks (copied).
 * @param user  passed to every callback.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (a NULL argument, no write or scram_secrets
 *         callback, a domain that is not a valid bare domain); PXMPP_ERR_NOMEM.
 */
int pxmpp_server_new(pxmpp_server **out, const pxmpp_server_config *cfg, const pxmpp_server_callbacks *cb,
                     void *user);

/** Frees the session; sends nothing.  NULL allowed.  Inside a callback of this session the
    free is deferred until the outermost call into it returns. */
void pxmpp_server_free(pxmpp_server *srv);

/**
 * Feeds bytes received from the client.  Callbacks run before it returns.
 * @return 0, or the session's error (see pxmpp_server_error()): PXMPP_ERR_PROTOCOL (the
 *         client broke the protocol: the stream error is sent and the stream closed),
 *         PXMPP_ERR_AUTH, PXMPP_ERR_TLS, PXMPP_ERR_WRITE, PXMPP_ERR_NOMEM;
 *         PXMPP_ERR_STATE while the TLS handshake is the app's (between `start_tls` and
 *         pxmpp_server_tls_ready()); PXMPP_ERR_INVALID_ARGUMENT (srv NULL, data NULL with len > 0).
 */
int pxmpp_server_feed(pxmpp_server *srv, const void *data, size_t len);

/** The connection ended (EOF).  @return 0 after a clean close; PXMPP_ERR_TRUNCATED otherwise
    (the session fails); the session's error when it had failed; PXMPP_ERR_INVALID_ARGUMENT. */
int pxmpp_server_finish(pxmpp_server *srv);

/**
 * The TLS handshake the `start_tls` callback asked for succeeded: the stream restarts and
 * the client's new header is expected.
 * With channel-binding data of the connection (@p cb_type "tls-exporter" (RFC 9266) or
 * "tls-unique" (RFC 5929), the only types GNU SASL's server checks, and @p cb_len bytes of
 * @p cb_data, copied and wiped on free), SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS are offered
 * first and the type announced (XEP-0440); a client that says it could bind but saw no
 * -PLUS mechanism ("y") is then refused, as RFC 5802 §6 wants.  NULL, NULL, 0: no binding.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (srv NULL, an unknown type, data of 0 or more than
 *         64 bytes); PXMPP_ERR_STATE (no STARTTLS pending); the session's error.
 */
int pxmpp_server_tls_ready(pxmpp_server *srv, const char *cb_type, const unsigned char *cb_data, size_t cb_len);

/**
 * Sends a stanza to this client (one the app routed here from another session, or its own).
 * The stanza is serialized at once and not retained.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (a NULL argument, @p type not message, presence or
 *         iq); PXMPP_ERR_STATE (not bound, or closing); PXMPP_ERR_VALUE (a field breaks its
 *         schema); PXMPP_ERR_WRITE; PXMPP_ERR_NOMEM; the session's error once it failed.
 */
int pxmpp_server_deliver(pxmpp_server *srv, const pxmpp_type_desc *type, const void *stanza);

/**
 * Answers the iq request @p req (as passed to `iq_request`) with a result carrying
 * @p payload of @p payload_type (NULL: empty), or, when @p error is true, with an error of
 * @p etype and @p cond.  The answer comes from where the request was sent (the server's
 * domain when it had no 'to').
 * @return as pxmpp_server_deliver(); PXMPP_ERR_INVALID_ARGUMENT also for a request that is
 *         not a get/set with an id, a payload type without payload, an unknown type or
 *         condition.
 */
int pxmpp_server_answer_iq(pxmpp_server *srv, const pxmpp_iq *req, bool error, pxmpp_stanza_error_type etype,
                           pxmpp_stanza_error_condition cond, const pxmpp_type_desc *payload_type,
                           const void *payload);

/**
 * Sends a roster push (RFC 6121 §2.1.6: an iq set from the account to this session's full JID)
 * with @p item and version @p ver (NULL or "": none).  Nothing is retained.
 * @return as pxmpp_server_deliver(); PXMPP_ERR_INVALID_ARGUMENT also for an item without jid.
 */
int pxmpp_server_push_roster(pxmpp_server *srv, const pxmpp_roster_item *item, const char *ver);

/** Whether the client asked for its roster in this session (and so gets pushes, RFC 6121
    §2.1.6).  False for NULL. */
bool pxmpp_server_roster_interested(const pxmpp_server *srv);

/** The client's current broadcast presence (the last available presence it sent without
    'to', 'from' its full JID; owned by the session, valid until its next presence or the end
    of the session), or NULL when it is not available (none sent yet, unavailable sent, the
    session failed, or no memory to keep it).  For answering probes (RFC 6121 §4.3.2) and
    for pxmpp_resource_info (available, priority) in pxmpp_message_delivery(). */
const pxmpp_presence *pxmpp_server_presence(const pxmpp_server *srv);

/** Sends </stream:stream> (the client's close then gives `closed`).
    @return 0; PXMPP_ERR_INVALID_ARGUMENT; PXMPP_ERR_STATE (closed already); PXMPP_ERR_WRITE. */
int pxmpp_server_close(pxmpp_server *srv);

/**
 * Ends the session with a stream error @p cond and optional @p text (e.g. conflict for the
 * old session of a resource taken over, system-shutdown); the session fails with
 * PXMPP_ERR_PROTOCOL and `failed` reports the condition.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (srv NULL, unknown or absent condition);
 *         PXMPP_ERR_STATE (the stream was closed already); PXMPP_ERR_WRITE.
 */
int pxmpp_server_end(pxmpp_server *srv, pxmpp_stream_error_condition cond, const char *text);

/** The state (PXMPP_SERVER_FAILED for NULL). */
pxmpp_server_state pxmpp_server_get_state(const pxmpp_server *srv);
/** The session's error (0 if none; PXMPP_ERR_INVALID_ARGUMENT for NULL) and, when @p reason
    is not NULL, its reason ("" if none). */
int pxmpp_server_error(const pxmpp_server *srv, const char **reason);
/** The stream error that ended the session (sent or received), or PXMPP_STREAM_ERROR_CONDITION_ABSENT. */
pxmpp_stream_error_condition pxmpp_server_stream_error(const pxmpp_server *srv);
/** The bound full JID (owned by the session), or NULL before binding. */
const char *pxmpp_server_jid(const pxmpp_server *srv);
/** The authenticated bare JID (owned by the session), or NULL before authentication. */
const char *pxmpp_server_bare_jid(const pxmpp_server *srv);
/** Whether TLS is up on this connection. */
bool pxmpp_server_tls_up(const pxmpp_server *srv);
/** How many top-level elements (stanzas, SASL and STARTTLS elements, invalid ones too) the
    client sent so far: for rate limits.  0 for NULL. */
uint64_t pxmpp_server_stanza_count(const pxmpp_server *srv);
/** The underlying stream (ids and statistics, pxmpp_stream_trim() for an idle connection; do not
    feed it directly). */
pxmpp_stream *pxmpp_server_stream(pxmpp_server *srv);

/* ---- subscriptions (RFC 6121 §3, Appendix A) --------------------------------------------- */

/**
 * The subscription state of one roster item, as bits: the 9 states of RFC 6121 Appendix A
 * are the combinations of TO, FROM, PENDING_OUT (the user asked for the contact's presence
 * and waits) and PENDING_IN (the contact asked and waits) where a pending bit never
 * duplicates a granted direction (no TO|PENDING_OUT, no FROM|PENDING_IN).  APPROVED marks a
 * pre-approval (RFC 6121 §3.4): only without FROM and PENDING_IN.
 */
typedef enum pxmpp_sub_state {
    PXMPP_SUB_NONE = 0,
    PXMPP_SUB_TO = 1u << 0,
    PXMPP_SUB_FROM = 1u << 1,
    PXMPP_SUB_BOTH = PXMPP_SUB_TO | PXMPP_SUB_FROM,
    PXMPP_SUB_PENDING_OUT = 1u << 2,
    PXMPP_SUB_PENDING_IN = 1u << 3,
    PXMPP_SUB_APPROVED = 1u << 4
} pxmpp_sub_state;

/**
 * The user's server, on a subscription presence the user sends to a contact (RFC 6121
 * Appendix A.2, §3.1.2, §3.2.2, §3.3.2, §3.4).  Returns the new state; @p deliver says
 * whether the stanza goes on to the contact (stamped with the user's bare JID), @p push
 * whether the item changed as roster pushes show it (subscription, ask, approved), so that
 * the user's interested resources get a push.  `subscribed` without PENDING_IN makes a
 * pre-approval (not delivered); `unsubscribed` removes one.  Other presence types, and
 * states that are not valid, return @p s unchanged with both flags false.  Either pointer
 * may be NULL.
 */
pxmpp_sub_state pxmpp_sub_outbound(pxmpp_sub_state s, pxmpp_presence_type t, bool *deliver, bool *push);

/**
 * The server of the account a subscription presence is addressed to, on receiving it
 * (RFC 6121 Appendix A.3, §3.1.3, §3.1.6, §3.2.3, §3.3.3).  Returns the new state;
 * @p deliver says whether the stanza goes to the account's available resources, @p push
 * whether a roster push is due, @p auto_reply whether the server answers `subscribed` on the
 * account's behalf (a subscribe from a contact that already has FROM, or was pre-approved:
 * the pre-approval is then used up and FROM granted).  After an inbound `unsubscribe` that
 * removed FROM the server also sends the account's unavailable presence to the contact
 * (RFC 6121 §3.3.3): that is the caller's.  Other types and invalid states: @p s unchanged,
 * all flags false.  Pointers may be NULL.
 */
pxmpp_sub_state pxmpp_sub_inbound(pxmpp_sub_state s, pxmpp_presence_type t, bool *deliver, bool *push,
                                  bool *auto_reply);

/** Whether @p s is one of the states described at pxmpp_sub_state. */
bool pxmpp_sub_valid(pxmpp_sub_state s);

/** The roster item's 'subscription' of a state (none, to, from, both). */
pxmpp_roster_subscription pxmpp_sub_roster_subscription(pxmpp_sub_state s);

/** Writes what a roster item shows of @p s into @p item: subscription, ask (PENDING_OUT) and
    approved (RFC 6121 §2.1.2); the pending-in part is not in a roster item.  NULL: nothing. */
void pxmpp_sub_to_item(pxmpp_sub_state s, pxmpp_roster_item *item);

/** The state of a stored roster item (subscription, ask, approved) plus @p pending_in, which
    the app stores beside it.  An item that shows no valid state (approved with FROM, a
    subscription of REMOVE) gives the nearest valid one: approved is dropped, REMOVE is none. */
pxmpp_sub_state pxmpp_sub_from_item(const pxmpp_roster_item *item, bool pending_in);

/* ---- message delivery (RFC 6121 §8.5) ------------------------------------------------------- */

/** One connected resource of the account a message is addressed to. */
typedef struct pxmpp_resource_info {
    const char *resource;  /**< the resourcepart (normalized) */
    bool available;        /**< it sent available presence (RFC 6121 §4.2) */
    int priority;          /**< its presence priority (-128..127) */
} pxmpp_resource_info;

/** What happens to a message (RFC 6121 §8.5). */
typedef enum pxmpp_delivery {
    PXMPP_DELIVER = 0,  /**< to the resources marked in @p targets */
    PXMPP_OFFLINE = 1,  /**< store it for later delivery (only when offline storage is offered) */
    PXMPP_BOUNCE = 2,   /**< return the error service-unavailable to the sender */
    PXMPP_DROP = 3      /**< ignore it silently */
} pxmpp_delivery;

/**
 * The delivery rules of RFC 6121 §8.5 for a message to an account of the server.
 * @param type        the message type (ABSENT counts as normal)
 * @param resource    the resourcepart of 'to' (normalized), or NULL for the bare JID
 * @param exists      whether the account exists (§8.5.1: otherwise errors are dropped and the
 *                    rest bounced)
 * @param res         the account's connected resources (@p n of them; NULL when 0)
 * @param offline     whether the server stores messages offline (§8.5.2.2)
 * @param targets     @p n flags, set for each resource to deliver to (all cleared otherwise)
 * Rules: to a bare JID with available resources of non-negative priority, normal and chat
 * go to those of the highest priority, headline to all of them, groupchat is bounced, error
 * dropped (§8.5.2.1); without such resources normal and chat are stored offline (bounced
 * without storage), groupchat bounced, headline and error dropped (§8.5.2.2).  To a full
 * JID matching a connected resource: delivered to it whatever its presence (§8.5.3.1);
 * otherwise normal and chat are handled as to the bare JID, groupchat bounced, headline and
 * error dropped (§8.5.3.2.1).
 * @return the action; PXMPP_DROP when @p n > 0 and @p res or @p targets is NULL.
 */
pxmpp_delivery pxmpp_message_delivery(pxmpp_message_type type, const char *resource, bool exists,
                                      const pxmpp_resource_info *res, size_t n, bool offline, bool *targets);

#ifdef __cplusplus
}
#endif
#endif
