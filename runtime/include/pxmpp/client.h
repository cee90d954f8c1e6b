/**
 * @file client.h
 * @brief The client session: STARTTLS, SASL, resource binding, roster, presence,
 * messages and iq tracking on top of a pxmpp_stream.  Still sans-IO.
 *
 * Lifecycle (RFC 6120 §4-§7, RFC 6121):
 *   pxmpp_client_start()  -> our stream header
 *   features              -> <starttls/>; `start_tls` asks the app to run the TLS
 *                            handshake on its socket, then pxmpp_client_tls_ready()
 *                            restarts the stream
 *   features              -> SASL (GNU SASL: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN and
 *                            the -PLUS variants when channel-binding data is given);
 *                            the SCRAM server signature is verified
 *   success               -> stream restart
 *   features              -> resource binding, legacy session when required
 *   `ready`               -> the app sends presence, gets the roster, exchanges messages
 *   pxmpp_client_close()  -> </stream:stream>, `closed` when the peer's arrives
 *
 * Security policy: with PXMPP_TLS_REQUIRED (the default) no credentials are sent
 * unless TLS is up: if the server does not offer STARTTLS the session fails with
 * PXMPP_ERR_TLS_REQUIRED before anything about the account is sent.  PLAIN is
 * never used without TLS unless allow_plain_without_tls is set.
 *
 * Time: the library has no timers.  The app passes its clock (milliseconds,
 * any epoch) to pxmpp_client_tick(); iq timeouts are measured against it.
 *
 * Ownership: stanzas passed to callbacks are borrowed for the call.  Strings in
 * the configuration are copied by pxmpp_client_new().
 */
#ifndef PXMPP_CLIENT_H
#define PXMPP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pxmpp/arena.h>
#include <pxmpp/gen/all.h>
#include <pxmpp/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pxmpp_client pxmpp_client;

/** TLS policy. */
typedef enum pxmpp_tls_policy {
    PXMPP_TLS_REQUIRED = 0, /**< STARTTLS must succeed before authentication (default) */
    PXMPP_TLS_OPTIONAL = 1, /**< use STARTTLS when offered, continue without it otherwise */
    PXMPP_TLS_DISABLED = 2  /**< never negotiate TLS */
} pxmpp_tls_policy;

/** Session states, in order. */
typedef enum pxmpp_client_state {
    PXMPP_CLIENT_IDLE = 0,
    PXMPP_CLIENT_CONNECTING,   /**< header sent, waiting for features */
    PXMPP_CLIENT_TLS,          /**< STARTTLS negotiation / handshake by the app */
    PXMPP_CLIENT_AUTH,         /**< SASL exchange */
    PXMPP_CLIENT_BINDING,      /**< resource binding and legacy session */
    PXMPP_CLIENT_READY,        /**< session established */
    PXMPP_CLIENT_CLOSING,      /**< our close tag sent */
    PXMPP_CLIENT_CLOSED,       /**< both sides closed */
    PXMPP_CLIENT_FAILED        /**< see pxmpp_client_error() */
} pxmpp_client_state;

/** Configuration.  Strings are copied. */
typedef struct pxmpp_client_config {
    const char *jid;           /**< the account: user\@domain (required) */
    const char *password;      /**< the password (required) */
    const char *resource;      /**< resource to request; NULL: the server assigns one */
    pxmpp_tls_policy tls;
    bool allow_plain_without_tls; /**< allow SASL PLAIN over an unencrypted stream */
    const char *mechanisms;    /**< comma list in preference order; NULL: "SCRAM-SHA-256,SCRAM-SHA-1,PLAIN" */
    size_t max_pending_iqs;    /**< bound of the pending-iq table (0: 256) */
    uint64_t default_iq_timeout_ms; /**< used by the library's own iqs (0: 30000) */
    const pxmpp_mem *mem;      /**< allocator hooks (NULL: malloc) */
} pxmpp_client_config;

/**
 * Callbacks.  `write` is required; the others may be NULL.
 */
typedef struct pxmpp_client_callbacks {
    /** Bytes to send on the connection (through TLS once it is up). Return 0, or < 0 to fail. */
    int (*write)(void *user, const char *data, size_t len);
    /** The server said <proceed/>: run the TLS handshake now (or soon), then call
        pxmpp_client_tls_ready().  Called from pxmpp_client_feed() after the parser stopped
        right behind <proceed/>: bytes that followed it in the same read make the session
        fail with PXMPP_ERR_TLS (they would be unencrypted data injected before TLS).
        Return 0, or < 0 if TLS cannot be started (the session fails). */
    int (*start_tls)(void *user);
    /** The session is established; @p jid is the bound full JID. */
    void (*ready)(void *user, const char *jid);
    /** The session failed: code (PXMPP_ERR_AUTH, PXMPP_ERR_TLS_REQUIRED, ...) and a reason. */
    void (*failed)(void *user, int code, const char *reason);
    /** A message stanza. */
    void (*message)(void *user, const pxmpp_message *msg);
    /** A presence stanza that is not a subscription request. */
    void (*presence)(void *user, const pxmpp_presence *pres);
    /** A subscription request (presence type subscribe); answer with pxmpp_client_approve() or _deny(). */
    void (*subscription_request)(void *user, const pxmpp_presence *pres);
    /** A roster push from the account (already answered with a result and applied to the cache). */
    void (*roster_push)(void *user, const pxmpp_roster_item *item, const char *ver);
    /** An iq get/set the library does not handle.  The app must answer it; when this callback is
        NULL the library answers service-unavailable (RFC 6120 §8.4). */
    void (*iq_request)(void *user, const pxmpp_iq *iq);
    /** The server closed the stream (after our close, or on its own). */
    void (*closed)(void *user);
    /** One line of a readable transcript of the session (state changes, not payloads). */
    void (*log)(void *user, const char *line);
} pxmpp_client_callbacks;

/**
 * Called with the reply to a tracked iq: @p reply is the result or error stanza
 * (borrowed), or NULL when @p status is PXMPP_ERR_TIMEOUT or PXMPP_ERR_CLOSED.
 * @p status is 0 for a result, PXMPP_ERR_IQ_ERROR for an error reply.
 */
typedef void (*pxmpp_iq_callback)(void *user, const pxmpp_iq *reply, int status);

/**
 * Called when a roster get completes: @p items/@p count is the cached roster (owned by
 * the client, valid until the next roster change), @p unchanged is true when the server
 * answered that the version the app supplied is current (the app keeps its copy).
 * @p status is 0, PXMPP_ERR_IQ_ERROR or PXMPP_ERR_TIMEOUT.
 */
typedef void (*pxmpp_roster_callback)(void *user, int status, const pxmpp_roster_item *items, size_t count,
                                      const char *ver, bool unchanged);

/**
 * Creates a client session.
 * @return 0, PXMPP_ERR_INVALID_ARGUMENT (missing jid/password/write, malformed JID,
 *         unknown mechanism name), PXMPP_ERR_NOMEM.
 */
int pxmpp_client_new(pxmpp_client **out, const pxmpp_client_config *cfg, const pxmpp_client_callbacks *cb,
                     void *user);
/** Frees the session (sends nothing; the password copy is wiped).  NULL allowed. */
void pxmpp_client_free(pxmpp_client *c);

/** Sends our stream header.  @return 0, PXMPP_ERR_STATE, or the stream's error. */
int pxmpp_client_start(pxmpp_client *c);
/** Feeds bytes received from the server (after TLS decryption).  Messages, presences and
    iq requests that arrive before the session is ready are ignored.
    @return 0 or the session's error (see pxmpp_client_error()). */
int pxmpp_client_feed(pxmpp_client *c, const void *data, size_t len);
/** The connection ended (EOF). @return 0 after a clean close, PXMPP_ERR_TRUNCATED otherwise. */
int pxmpp_client_finish(pxmpp_client *c);

/**
 * TLS is up: restart the stream (RFC 6120 §5.4.3.3).  @p cb_type ("tls-exporter" or
 * "tls-unique") and @p cb_data are the channel-binding data for the -PLUS SASL
 * mechanisms, or NULL/0 to skip those mechanisms.
 * May be called from `start_tls` or later, outside any callback.
 * @return 0, PXMPP_ERR_STATE (not waiting for TLS), PXMPP_ERR_NOMEM.
 */
int pxmpp_client_tls_ready(pxmpp_client *c, const char *cb_type, const unsigned char *cb_data, size_t cb_len);

/** Advances the app clock; expires timed-out iqs (their callbacks get PXMPP_ERR_TIMEOUT). */
int pxmpp_client_tick(pxmpp_client *c, uint64_t now_ms);

/**
 * Sends an iq get/set and tracks its reply by id and sender (RFC 6120 §8.1.2.1):
 * a reply counts only if it comes from the entity the request was sent to (or,
 * for requests to the account or server, from the account, its server or no
 * 'from').  Unknown or spoofed replies are dropped.  If @p iq->id is NULL an id
 * unique to the stream is assigned.
 * @return 0, PXMPP_ERR_STATE (not ready), PXMPP_ERR_LIMIT (pending table full),
 *         PXMPP_ERR_INVALID_ARGUMENT (not a get/set), PXMPP_ERR_VALUE, PXMPP_ERR_NOMEM.
 */
int pxmpp_client_send_iq(pxmpp_client *c, const pxmpp_iq *iq, uint64_t timeout_ms, pxmpp_iq_callback cb,
                         void *cb_user);

/** Roster get (RFC 6121 §2.2), versioned when the server supports it and @p ver is not NULL. */
int pxmpp_client_roster_get(pxmpp_client *c, const char *ver, pxmpp_roster_callback cb, void *cb_user);
/** Adds or updates a roster item (RFC 6121 §2.3); the reply goes to @p cb. */
int pxmpp_client_roster_set(pxmpp_client *c, const char *jid, const char *name, const char *const *groups,
                            size_t ngroups, pxmpp_iq_callback cb, void *cb_user);
/** Removes a roster item (RFC 6121 §2.5). */
int pxmpp_client_roster_remove(pxmpp_client *c, const char *jid, pxmpp_iq_callback cb, void *cb_user);
/** The cached roster (owned by the client; valid until the next roster change). */
const pxmpp_roster_item *pxmpp_client_roster(const pxmpp_client *c, size_t *count, const char **ver);

/** Sends a presence stanza as given (initial presence, updates, directed presence). */
int pxmpp_client_send_presence(pxmpp_client *c, const pxmpp_presence *p);
/** Subscription management (RFC 6121 §3): subscribe, approve (subscribed, also pre-approval),
    unsubscribe, revoke (unsubscribed), deny (unsubscribed to a request). */
int pxmpp_client_subscribe(pxmpp_client *c, const char *jid);
int pxmpp_client_approve(pxmpp_client *c, const char *jid);
int pxmpp_client_unsubscribe(pxmpp_client *c, const char *jid);
int pxmpp_client_revoke(pxmpp_client *c, const char *jid);
int pxmpp_client_deny(pxmpp_client *c, const char *jid);
/** True when the server offers subscription pre-approval (RFC 6121 §3.4). */
bool pxmpp_client_has_preapproval(const pxmpp_client *c);

/** Sends a message stanza as given. */
int pxmpp_client_send_message(pxmpp_client *c, const pxmpp_message *m);

/** Sends </stream:stream>; `closed` follows when the server's close tag arrives. */
int pxmpp_client_close(pxmpp_client *c);

pxmpp_client_state pxmpp_client_get_state(const pxmpp_client *c);
/** The session's error: code (0 if none) and reason. */
int pxmpp_client_error(const pxmpp_client *c, const char **reason);
/** The bound full JID, or NULL before binding. */
const char *pxmpp_client_jid(const pxmpp_client *c);
/** True once TLS is up. */
bool pxmpp_client_is_secure(const pxmpp_client *c);
/** The SASL mechanism used, or NULL before authentication. */
const char *pxmpp_client_mechanism(const pxmpp_client *c);
/** The underlying stream (for ids and statistics; do not feed it directly). */
pxmpp_stream *pxmpp_client_stream(pxmpp_client *c);
/** An arena the app may use to build stanzas; reset by the app, freed with the client. */
pxmpp_arena *pxmpp_client_arena(pxmpp_client *c);

#ifdef __cplusplus
}
#endif
#endif
