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
 *   <enable/>             -> XEP-0198 stream management, when the server offers it and
 *                            the policy allows (see below); `ready` waits for the answer
 *   `ready`               -> the app sends presence, gets the roster, exchanges messages
 *   pxmpp_client_close()  -> </stream:stream>, `closed` when the peer's arrives
 *
 * Stream management (XEP-0198, pxmpp_client_config.sm): after binding the client sends
 * <enable/> (asking for resumption under PXMPP_SM_RESUME) and `ready` comes once the
 * server's <enabled/> or <failed/> has arrived; without the feature, or with
 * PXMPP_SM_OFF, `ready` comes right after binding and nothing of XEP-0198 is sent.
 * While it is on:
 *   - every stanza that arrives (message, presence, iq; invalid ones and ones the
 *     client ignores included) counts as handled once it has been read completely;
 *     the server's <r/> is answered at once with <a h/> (h modulo 2^32);
 *   - every stanza the client sends (the app's, and the client's own iq requests and
 *     replies) is kept, as the exact bytes written, until the server acknowledges it;
 *     the client asks with <r/> after sm_ack_every stanzas, and from
 *     pxmpp_client_tick() once a stanza has waited sm_ack_delay_ms without a request;
 *   - an acknowledgement of more stanzas than were sent is answered with the stream
 *     error undefined-condition with <handled-count-too-high/>, and the session fails
 *     with PXMPP_ERR_PROTOCOL.
 *
 * A lost connection (EOF, a read or write error, a failure of the session):
 *   pxmpp_client_finish()    -> tell the client the input ended (not needed after a write error)
 *   pxmpp_client_reconnect() -> forget the connection: stream, TLS and SASL state
 *   (new socket, preferring pxmpp_client_sm_location() when set)
 *   pxmpp_client_start()     -> and from here as for the first connection: STARTTLS,
 *                               pxmpp_client_tls_ready(), SASL
 *   features                 -> with a resumable session (pxmpp_client_can_resume()) and
 *                               the feature offered: <resume/> instead of binding;
 *                               <resumed/> resends the stanzas the server had not
 *                               handled, the server resends the ones it had sent after
 *                               our count, and `resumed` comes (not `ready`)
 *                            -> otherwise (no resumable session, no feature, or the
 *                               server's <failed/>): `stanza_lost` for each stanza never
 *                               acknowledged, pending iqs end with PXMPP_ERR_CLOSED, a new
 *                               resource is bound and `ready` comes again (a new session,
 *                               with stream management enabled anew)
 * The roster cache survives all of this.  Pending iqs survive a lost connection as long
 * as the session can be resumed (their timeouts keep running on pxmpp_client_tick());
 * otherwise they end with PXMPP_ERR_CLOSED when the connection is lost, as before.  A
 * stream closed with </stream:stream> (either side) ends the session: stanzas still
 * unacknowledged then are reported through `stanza_lost`, and it cannot be resumed.
 *
 * Security policy: with PXMPP_TLS_REQUIRED (the default) no credentials are sent
 * unless TLS is up: if the server does not offer STARTTLS the session fails with
 * PXMPP_ERR_TLS_REQUIRED before anything about the account is sent.  Without TLS
 * only mechanisms that do not reveal the password are used (SCRAM-SHA-1,
 * SCRAM-SHA-256): PLAIN, LOGIN and any other mechanism are refused unless
 * allow_plain_without_tls is set.  Stream features are accepted only where RFC 6120
 * puts them (after our stream header); a second <stream:features/> during SASL or
 * after it is a protocol error, so a peer cannot restart authentication.  The SCRAM
 * iteration count is bounded (max_scram_iterations) before any work is done.
 * Secrets (the password, SASL messages, channel-binding data) are wiped from the
 * session's memory after use and on free; they are never logged.
 *
 * Mechanisms: `mechanisms` lists the names to use, in preference order, and means
 * exactly those names; the default list is
 * "SCRAM-SHA-256-PLUS,SCRAM-SHA-1-PLUS,SCRAM-SHA-256,SCRAM-SHA-1,PLAIN".  The SCRAM
 * messages are composed by the library (RFC 5802, RFC 7677) with GNU SASL's SASLprep,
 * nonces and key derivation and libcrypto's HMAC; PLAIN and other mechanisms go
 * through GNU SASL.
 *
 * Channel binding (RFC 5802 §6, RFC 5929, RFC 9266, XEP-0440).  The app can compute
 * channel-binding data when it sets the `channel_binding` callback or hands data to
 * pxmpp_client_tls_ready().  With TLS up and such an app:
 *   - the server announces its types (XEP-0440 <sasl-channel-binding/>): the strongest
 *     type both support is used, tls-exporter, then tls-unique, then
 *     tls-server-end-point; the app is asked for the data of each in that order until
 *     it returns some.  No type in common while -PLUS mechanisms are offered: the
 *     session fails (PXMPP_ERR_AUTH) instead of falling back (XEP-0440 §4).
 *   - -PLUS offered without announcement (servers that predate XEP-0440): tls-unique,
 *     as those servers compute it (from the first Finished message, also under
 *     TLS 1.3), then tls-exporter, then tls-server-end-point.
 *   - types announced but no -PLUS mechanism offered: the mechanisms were stripped;
 *     the session fails (XEP-0440 §4).
 *   - no -PLUS mechanism offered and no announcement: a SCRAM mechanism is sent with
 *     the "y" flag, so that a server that does support channel binding detects the
 *     downgrade (RFC 5802 §6).  When the app's own mechanism list names only
 *     non-PLUS mechanisms and the server offers -PLUS ones, "n" is sent (the app
 *     chose not to bind).
 *   - require_channel_binding: authentication fails unless a -PLUS mechanism is used.
 * Without TLS, or without channel-binding data, no binding is attempted and -PLUS
 * mechanisms are skipped.
 *
 * Callbacks: every callback runs inside a call the app made into the session
 * (pxmpp_client_feed, _tick, _tls_ready, _start, a send function ...).  From inside a
 * callback the app may call every function of this header, including
 * pxmpp_client_close() and pxmpp_client_free(): a free inside a callback is deferred
 * until the outermost call into the session returns (nothing further is delivered
 * once it was requested).  It must not feed the client from inside a callback.
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

/** Channel-binding types (RFC 5929, RFC 9266), as the `channel_binding` callback is asked for them. */
typedef enum pxmpp_cb_type {
    PXMPP_CB_NONE = 0,
    PXMPP_CB_TLS_EXPORTER = 1,        /**< "tls-exporter" (RFC 9266): 32 bytes of the TLS 1.3 exporter */
    PXMPP_CB_TLS_UNIQUE = 2,          /**< "tls-unique" (RFC 5929 §3): the first Finished message */
    PXMPP_CB_TLS_SERVER_END_POINT = 3 /**< "tls-server-end-point" (RFC 5929 §4): hash of the server certificate */
} pxmpp_cb_type;

/** The name of a channel-binding type ("tls-exporter" ...), or NULL for PXMPP_CB_NONE or an unknown value. */
const char *pxmpp_cb_type_str(pxmpp_cb_type t);

/** TLS policy. */
typedef enum pxmpp_tls_policy {
    PXMPP_TLS_REQUIRED = 0, /**< STARTTLS must succeed before authentication (default) */
    PXMPP_TLS_OPTIONAL = 1, /**< use STARTTLS when offered, continue without it otherwise */
    PXMPP_TLS_DISABLED = 2  /**< never negotiate TLS */
} pxmpp_tls_policy;

/** Stream management (XEP-0198) policy. */
typedef enum pxmpp_sm_policy {
    PXMPP_SM_RESUME = 0,   /**< enable it when offered, asking for resumption (default) */
    PXMPP_SM_ACK_ONLY = 1, /**< enable it when offered, acknowledgements only (no resumption) */
    PXMPP_SM_OFF = 2       /**< never enable it */
} pxmpp_sm_policy;

/** Session states, in order. */
typedef enum pxmpp_client_state {
    PXMPP_CLIENT_IDLE = 0,
    PXMPP_CLIENT_CONNECTING,   /**< header sent, waiting for features */
    PXMPP_CLIENT_TLS,          /**< STARTTLS negotiation / handshake by the app */
    PXMPP_CLIENT_AUTH,         /**< SASL exchange */
    PXMPP_CLIENT_BINDING,      /**< resource binding, legacy session, enabling or resuming stream management */
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
    const char *mechanisms;    /**< comma list in preference order, used exactly; NULL: the default list above */
    bool require_channel_binding; /**< fail unless a -PLUS mechanism binds the TLS channel */
    uint32_t max_scram_iterations; /**< refuse a SCRAM iteration count above this (0: 600000) */
    const char *lang;          /**< xml:lang of our stream header (RFC 6120 §4.7.4); NULL: none */
    size_t max_pending_iqs;    /**< bound of the pending-iq table (0: 256) */
    uint64_t default_iq_timeout_ms; /**< used by the library's own iqs (0: 30000) */
    const pxmpp_mem *mem;      /**< allocator hooks (NULL: malloc) */
    pxmpp_sm_policy sm;        /**< stream management (XEP-0198); default: with resumption */
    uint32_t sm_ack_every;     /**< send <r/> after this many stanzas since the last one (0: 5) */
    size_t sm_max_queue;       /**< bound of the unacknowledged stanzas kept (0: 1000); see pxmpp_client_send_message() */
    uint32_t sm_max_resume_s;  /**< the resumption time to ask for, in seconds ('max'; 0: none, the server's) */
    uint64_t sm_ack_delay_ms;  /**< pxmpp_client_tick() sends <r/> when a stanza waited this long without one (0: 5000) */
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
    /** The session failed: @p code (PXMPP_ERR_AUTH, PXMPP_ERR_TLS_REQUIRED, PXMPP_ERR_PROTOCOL ...),
        the condition of the server's <stream:error/> when that ended the session
        (PXMPP_STREAM_ERROR_CONDITION_ABSENT otherwise: e.g. `conflict` means another login took
        over and reconnecting would loop, `system-shutdown` invites a later reconnect), and a reason. */
    void (*failed)(void *user, int code, pxmpp_stream_error_condition cond, const char *reason);
    /** A message stanza. */
    void (*message)(void *user, const pxmpp_message *msg);
    /** A presence stanza that is not a subscription request. */
    void (*presence)(void *user, const pxmpp_presence *pres);
    /** A subscription request (presence type subscribe); answer with pxmpp_client_approve() or _deny(). */
    void (*subscription_request)(void *user, const pxmpp_presence *pres);
    /** A roster push from the account (already answered with a result and applied to the cache). */
    void (*roster_push)(void *user, const pxmpp_roster_item *item, const char *ver);
    /** An iq get/set the library does not handle (it answers pings and roster pushes itself).
        Return true when the app answers it (now, with pxmpp_client_send_iq_result() or
        _send_iq_error(), or later), false to let the library answer service-unavailable
        (RFC 6120 §8.4).  When this callback is NULL the library answers every such iq so. */
    bool (*iq_request)(void *user, const pxmpp_iq *iq);
    /** Channel-binding data of the TLS connection for @p type: write at most @p cap bytes to @p buf,
        set *@p len, return 0; return < 0 when this type cannot be computed on this connection.
        Asked during authentication, after pxmpp_client_tls_ready(), in the order of the policy
        above.  NULL: only the data handed to pxmpp_client_tls_ready() is used. */
    int (*channel_binding)(void *user, pxmpp_cb_type type, unsigned char *buf, size_t cap, size_t *len);
    /** The server closed the stream (after our close, or on its own). */
    void (*closed)(void *user);
    /** One line of a readable transcript of the session (state changes, not payloads). */
    void (*log)(void *user, const char *line);
    /** The former session was resumed (XEP-0198) on the new connection: the state is READY
        again, as it was (bound JID, presence, subscriptions on the server), `ready` is not
        called.  @p resent stanzas the server had not handled were sent again, in order. */
    void (*resumed)(void *user, size_t resent);
    /** A stanza this client sent was never acknowledged and the session it belonged to has
        ended (resumption refused or impossible, the stream closed, or the server's count
        was wrong): it may or may not have arrived.  @p xml / @p len are the exact bytes that
        were sent (not NUL-terminated, borrowed for the call).  Called once per stanza, in
        the order they were sent, before pending iqs end and before the new session binds. */
    void (*stanza_lost)(void *user, const char *xml, size_t len);
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
 *         a mechanism list that is empty or not made of mechanism names), PXMPP_ERR_NOMEM.
 */
int pxmpp_client_new(pxmpp_client **out, const pxmpp_client_config *cfg, const pxmpp_client_callbacks *cb,
                     void *user);
/** Frees the session (sends nothing; the password copy and every buffer that held a secret
    are wiped).  NULL allowed.  Inside a callback the free is deferred until the outermost
    call into the session returns. */
void pxmpp_client_free(pxmpp_client *c);

/** Sends our stream header.  @return 0, PXMPP_ERR_STATE, or the stream's error. */
int pxmpp_client_start(pxmpp_client *c);
/** Feeds bytes received from the server (after TLS decryption).  Messages, presences and
    iq requests that arrive before the session is ready are ignored.
    @return 0 or the session's error (see pxmpp_client_error()). */
int pxmpp_client_feed(pxmpp_client *c, const void *data, size_t len);
/** The connection ended (EOF).  Unless the session can be resumed (XEP-0198), pending iqs
    end with PXMPP_ERR_CLOSED.  Then pxmpp_client_reconnect() to log in again.
    @return 0 after a clean close, PXMPP_ERR_TRUNCATED otherwise (or the session's error). */
int pxmpp_client_finish(pxmpp_client *c);

/**
 * The connection is gone (after pxmpp_client_finish(), a failure, or because the app gave
 * up on it): drops the stream and everything of the connection (TLS flag, channel-binding
 * data and SASL state, wiped; the session's error), sends nothing, and goes back to
 * PXMPP_CLIENT_IDLE with a fresh stream.  Kept: the configuration, the roster cache, the
 * pending iqs (the library's own bind and session requests excepted), the bound JID and
 * the stream management state (SM-ID, stanzas handled, stanzas not yet acknowledged).
 * The app then connects a new socket and calls pxmpp_client_start(); after SASL the
 * client resumes the session or binds a new one (see the lifecycle above).
 * Must not be called from a callback of pxmpp_client_feed() or pxmpp_client_finish().
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (c NULL); PXMPP_ERR_STATE (never started, or
 *         called from within pxmpp_client_feed()/pxmpp_client_finish()); PXMPP_ERR_NOMEM
 *         (nothing changed then).
 */
int pxmpp_client_reconnect(pxmpp_client *c);

/**
 * TLS is up: restart the stream (RFC 6120 §5.4.3.3).  Called before pxmpp_client_start()
 * (state PXMPP_CLIENT_IDLE, also after pxmpp_client_reconnect()) it says instead that the
 * connection is TLS from its first byte (XEP-0368 direct TLS): the session counts as
 * secure, offers no STARTTLS of its own and binds the channel like after STARTTLS.
 * @p cb_type ("tls-exporter",
 * "tls-unique" or "tls-server-end-point") and @p cb_data (copied, at most 512 bytes)
 * are channel-binding data of one type, or NULL/0 when the app gives none here (it may
 * still answer the `channel_binding` callback, which is asked first).
 * May be called from `start_tls` or later.
 * @return 0, PXMPP_ERR_STATE (not waiting for TLS and not before start), PXMPP_ERR_INVALID_ARGUMENT
 *         (unknown type name, data too long), PXMPP_ERR_NOMEM.
 */
int pxmpp_client_tls_ready(pxmpp_client *c, const char *cb_type, const unsigned char *cb_data, size_t cb_len);

/**
 * The TLS handshake the app ran after `start_tls` failed: the session fails with
 * PXMPP_ERR_TLS and @p reason (for example the certificate verification error), which
 * `failed` and pxmpp_client_error() report.  @p reason may be NULL.
 * @return 0, PXMPP_ERR_STATE (not waiting for TLS), PXMPP_ERR_INVALID_ARGUMENT.
 */
int pxmpp_client_tls_failed(pxmpp_client *c, const char *reason);

/** Advances the app clock; expires timed-out iqs (their callbacks get PXMPP_ERR_TIMEOUT)
    and, with stream management on, sends <r/> when a stanza has waited sm_ack_delay_ms
    without one.  @return 0 or the session's error. */
int pxmpp_client_tick(pxmpp_client *c, uint64_t now_ms);

/**
 * Sends an iq get/set and tracks its reply by id and sender (RFC 6120 §8.1.2.1):
 * a reply counts only if it comes from the entity the request was sent to (or,
 * for requests to the account or server, from the account, its server or no
 * 'from').  Unknown or spoofed replies are dropped.  If @p iq->id is NULL an id
 * unique to the stream is assigned.
 * @return 0, PXMPP_ERR_STATE (not ready), PXMPP_ERR_LIMIT (pending table full, or the
 *         stream management queue: see pxmpp_client_send_message()),
 *         PXMPP_ERR_INVALID_ARGUMENT (not a get/set), PXMPP_ERR_VALUE, PXMPP_ERR_NOMEM.
 */
int pxmpp_client_send_iq(pxmpp_client *c, const pxmpp_iq *iq, uint64_t timeout_ms, pxmpp_iq_callback cb,
                         void *cb_user);

/**
 * Answers the iq request @p req (as delivered to `iq_request`) with a result carrying
 * @p payload of type @p payload_type (NULL: an empty result).  @p payload is serialized
 * at once; nothing is retained.
 * @return 0, PXMPP_ERR_STATE (not ready), PXMPP_ERR_INVALID_ARGUMENT (@p req is not a get/set
 *         with an id), PXMPP_ERR_VALUE (the payload breaks its schema), PXMPP_ERR_NOMEM.
 */
int pxmpp_client_send_iq_result(pxmpp_client *c, const pxmpp_iq *req, const pxmpp_type_desc *payload_type,
                                const void *payload);
/**
 * Answers the iq request @p req with an error of @p type and @p cond (RFC 6120 §8.3).
 * @return as pxmpp_client_send_iq_result().
 */
int pxmpp_client_send_iq_error(pxmpp_client *c, const pxmpp_iq *req, pxmpp_stanza_error_type type,
                               pxmpp_stanza_error_condition cond);

/** Roster get (RFC 6121 §2.2), versioned when the server supports it and @p ver is not NULL. */
int pxmpp_client_roster_get(pxmpp_client *c, const char *ver, pxmpp_roster_callback cb, void *cb_user);
/** Adds or updates a roster item (RFC 6121 §2.3); the reply goes to @p cb. */
int pxmpp_client_roster_set(pxmpp_client *c, const char *jid, const char *name, const char *const *groups,
                            size_t ngroups, pxmpp_iq_callback cb, void *cb_user);
/** Removes a roster item (RFC 6121 §2.5). */
int pxmpp_client_roster_remove(pxmpp_client *c, const char *jid, pxmpp_iq_callback cb, void *cb_user);
/** The cached roster (owned by the client; valid until the next roster change). */
const pxmpp_roster_item *pxmpp_client_roster(const pxmpp_client *c, size_t *count, const char **ver);

/** Sends a presence stanza as given (initial presence, updates, directed presence).
    @return as pxmpp_client_send_message(). */
int pxmpp_client_send_presence(pxmpp_client *c, const pxmpp_presence *p);
/** Subscription management (RFC 6121 §3): subscribe, approve (subscribed, also pre-approval),
    unsubscribe, revoke (unsubscribed), deny (unsubscribed to a request).
    @return as pxmpp_client_send_message(); PXMPP_ERR_INVALID_ARGUMENT for a malformed JID. */
int pxmpp_client_subscribe(pxmpp_client *c, const char *jid);
int pxmpp_client_approve(pxmpp_client *c, const char *jid);
int pxmpp_client_unsubscribe(pxmpp_client *c, const char *jid);
int pxmpp_client_revoke(pxmpp_client *c, const char *jid);
int pxmpp_client_deny(pxmpp_client *c, const char *jid);
/** True when the server offers subscription pre-approval (RFC 6121 §3.4). */
bool pxmpp_client_has_preapproval(const pxmpp_client *c);

/**
 * Sends any stanza (a message, presence or iq of @p type: pxmpp_message_desc,
 * pxmpp_presence_desc or pxmpp_iq_desc) as given, counted by stream management like the
 * message below.  An iq get/set sent here is not tracked (its reply is dropped): use
 * pxmpp_client_send_iq() for that.
 * @return as pxmpp_client_send_message(); PXMPP_ERR_INVALID_ARGUMENT also when @p type is not
 *         one of the three.
 */
int pxmpp_client_send(pxmpp_client *c, const pxmpp_type_desc *type, const void *stanza);

/**
 * Sends a message stanza as given.  With stream management on, the bytes are kept until the
 * server acknowledges them.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (NULL); PXMPP_ERR_STATE (not ready); PXMPP_ERR_VALUE
 *         (the stanza cannot be serialized); PXMPP_ERR_LIMIT (sm_max_queue stanzas are
 *         unacknowledged: nothing was sent, an <r/> was, try again once the server's <a/>
 *         has been fed); PXMPP_ERR_NOMEM; PXMPP_ERR_WRITE (the write callback failed: the
 *         session failed; with stream management on the stanza is kept like the others not
 *         acknowledged, sent again if the session is resumed and the server did not get it,
 *         or reported through `stanza_lost`); or the session's fatal error.
 */
int pxmpp_client_send_message(pxmpp_client *c, const pxmpp_message *m);

/** Sends </stream:stream>; `closed` follows when the server's close tag arrives.  With stream
    management on, <a h/> goes first (and <r/> when stanzas are unacknowledged, so that the
    server's <a/> arrives before its close tag).  @return 0, PXMPP_ERR_STATE, PXMPP_ERR_WRITE. */
int pxmpp_client_close(pxmpp_client *c);

pxmpp_client_state pxmpp_client_get_state(const pxmpp_client *c);
/** The session's error: code (0 if none) and reason. */
int pxmpp_client_error(const pxmpp_client *c, const char **reason);
/** The condition of the <stream:error/> that ended the session, or PXMPP_STREAM_ERROR_CONDITION_ABSENT. */
pxmpp_stream_error_condition pxmpp_client_stream_error(const pxmpp_client *c);
/** The channel-binding type the authentication used (PXMPP_CB_NONE: none). */
pxmpp_cb_type pxmpp_client_channel_binding(const pxmpp_client *c);
/** The bound full JID, or NULL before binding (kept across pxmpp_client_reconnect()). */
const char *pxmpp_client_jid(const pxmpp_client *c);
/** True once TLS is up. */
bool pxmpp_client_is_secure(const pxmpp_client *c);
/** The SASL mechanism used, or NULL before authentication. */
const char *pxmpp_client_mechanism(const pxmpp_client *c);
/** The underlying stream (for ids and statistics).  Do not feed it, and do not send on it:
    stanzas written past the client are not counted by stream management (XEP-0198), and
    the server's acknowledgements then no longer match (the session fails). */
pxmpp_stream *pxmpp_client_stream(pxmpp_client *c);
/** An arena the app may use to build stanzas; reset by the app, freed with the client. */
pxmpp_arena *pxmpp_client_arena(pxmpp_client *c);

/** True while stream management (XEP-0198) is on for the session, until the session ends
    (also while its connection is lost). */
bool pxmpp_client_sm_enabled(const pxmpp_client *c);
/** True when the session can be resumed: the server granted resumption and gave an SM-ID.
    Whether it still will (its 'max') only the next login tells. */
bool pxmpp_client_can_resume(const pxmpp_client *c);
/** XEP-0198 'h': stanzas received and handled since stream management was enabled, modulo 2^32. */
uint32_t pxmpp_client_sm_inbound(const pxmpp_client *c);
/** Stanzas sent since stream management was enabled, modulo 2^32. */
uint32_t pxmpp_client_sm_outbound(const pxmpp_client *c);
/** Stanzas sent and not yet acknowledged by the server (the length of the resend queue). */
size_t pxmpp_client_sm_unacked(const pxmpp_client *c);
/** The server's preferred reconnection address from <enabled location/> ("host:port",
    IPv6 in brackets), or NULL.  Owned by the client, valid until the session ends. */
const char *pxmpp_client_sm_location(const pxmpp_client *c);
/**
 * Sends <r/> now: the server answers with <a/>, which drops the stanzas it acknowledges
 * (for instance before the app goes quiet).
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (c NULL); PXMPP_ERR_STATE (not ready, or stream
 *         management is not on); or the session's fatal error.
 */
int pxmpp_client_sm_request_ack(pxmpp_client *c);

#ifdef __cplusplus
}
#endif
#endif
