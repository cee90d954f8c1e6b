/**
 * @file component.h
 * @brief The component session (XEP-0114, jabber:component:accept): an external
 * service that a server routes a whole domain to.  Sans-IO, like the client.
 *
 * Lifecycle:
 *   pxmpp_component_start()  -> our stream header, addressed to the component's domain
 *   the server's header      -> it carries a stream id; the component answers with
 *                               <handshake/> holding hex(SHA-1(stream id + secret)),
 *                               lowercase (XEP-0114 §3)
 *   an empty <handshake/>    -> `connected`: stanzas flow both ways
 *   pxmpp_component_close()  -> </stream:stream>, `closed` when the server's arrives
 * A server that refuses the handshake sends the stream error not-authorized: the
 * session fails with PXMPP_ERR_AUTH and that condition.
 *
 * Security: the handshake proves to the server that the component knows the shared
 * secret, bound to this stream's id, without sending the secret itself.  It does not
 * authenticate the server to the component, and the protocol has no TLS and no
 * integrity protection: anyone who can read the connection reads every stanza and
 * may record the digest (it cannot be replayed on a stream with another id, but it
 * lets the secret be guessed offline: use a long random one), anyone who can change
 * the connection can inject stanzas.  Run it over loopback or a network the operator
 * trusts.  The secret is copied by pxmpp_component_new(), wiped once the digest is
 * computed (the digest too, once sent) and on free; neither is ever logged.
 *
 * Addresses: the server trusts the component with every address of its domain.
 * Each stanza the component sends must carry a 'from' whose domain part is the
 * component's domain (domain, user\@domain, domain/resource or user\@domain/resource)
 * and a 'to' (XEP-0114 §3); the send functions refuse others with
 * PXMPP_ERR_INVALID_ARGUMENT before anything is written.  Inbound stanzas are
 * delivered whatever their addresses (the server routed them).
 *
 * Callbacks: every callback runs inside a call the app made into the session
 * (pxmpp_component_feed, _finish, _start, a send function ...).  From inside a callback
 * the app may call every function of this header, including pxmpp_component_close()
 * and pxmpp_component_free(): a free inside a callback is deferred until the outermost
 * call into the session returns (nothing further is delivered once it was requested).
 * It must not feed the session from inside a callback.
 *
 * Ownership: stanzas passed to callbacks are borrowed for the call.  Strings in the
 * configuration are copied by pxmpp_component_new().
 */
#ifndef PXMPP_COMPONENT_H
#define PXMPP_COMPONENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pxmpp/arena.h>
#include <pxmpp/gen/all.h>
#include <pxmpp/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pxmpp_component pxmpp_component;

/** Session states, in order. */
typedef enum pxmpp_component_state {
    PXMPP_COMPONENT_IDLE = 0,
    PXMPP_COMPONENT_CONNECTING, /**< header sent, waiting for the server's */
    PXMPP_COMPONENT_HANDSHAKE,  /**< handshake sent, waiting for the answer */
    PXMPP_COMPONENT_READY,      /**< authenticated: stanzas flow */
    PXMPP_COMPONENT_CLOSING,    /**< our close tag sent */
    PXMPP_COMPONENT_CLOSED,     /**< both sides closed */
    PXMPP_COMPONENT_FAILED      /**< see pxmpp_component_error() */
} pxmpp_component_state;

/** Configuration.  Strings are copied. */
typedef struct pxmpp_component_config {
    const char *domain;   /**< the component's domain, e.g. "echo.example.net" (required: a bare domain) */
    const char *secret;   /**< the secret shared with the server (required, not empty) */
    const pxmpp_mem *mem; /**< allocator hooks (NULL: malloc) */
} pxmpp_component_config;

/** Callbacks.  `write` is required; the others may be NULL. */
typedef struct pxmpp_component_callbacks {
    /** Bytes to send on the connection.  Return 0, or < 0 to fail (PXMPP_ERR_WRITE). */
    int (*write)(void *user, const char *data, size_t len);
    /** The server accepted the handshake; @p domain is the component's (normalized) domain. */
    void (*connected)(void *user, const char *domain);
    /** The session failed: @p code (PXMPP_ERR_AUTH when the server refused the handshake,
        PXMPP_ERR_PROTOCOL when it broke the protocol or ended the stream with an error,
        PXMPP_ERR_TRUNCATED when pxmpp_component_finish() found the stream unfinished,
        PXMPP_ERR_WRITE, PXMPP_ERR_NOMEM), the condition of the server's <stream:error/> when
        that ended the session (PXMPP_STREAM_ERROR_CONDITION_ABSENT otherwise: not-authorized
        for a wrong secret, conflict when another instance of the component is connected,
        host-unknown when the server serves no component of that name), and a reason. */
    void (*failed)(void *user, int code, pxmpp_stream_error_condition cond, const char *reason);
    /** A message stanza to an address of the component. */
    void (*message)(void *user, const pxmpp_message *msg);
    /** A presence stanza to an address of the component. */
    void (*presence)(void *user, const pxmpp_presence *pres);
    /** An iq get or set.  Return true when the app answers it (now, with
        pxmpp_component_send_iq_result() or _send_iq_error(), or later), false to let the
        session answer service-unavailable (RFC 6120 §8.4) from the address the request was
        sent to.  When this callback is NULL every request is answered so. */
    bool (*iq_request)(void *user, const pxmpp_iq *iq);
    /** An iq result or error (the answer to an iq the component sent; match it by id and from). */
    void (*iq_response)(void *user, const pxmpp_iq *iq);
    /** The server closed the stream (after our close, or on its own). */
    void (*closed)(void *user);
    /** One line of a readable transcript of the session (state changes, not payloads or secrets). */
    void (*log)(void *user, const char *line);
} pxmpp_component_callbacks;

/**
 * Creates a component session.
 * @param out   receives the session; free it with pxmpp_component_free().
 * @param cfg   domain and secret (copied).
 * @param cb    callbacks, copied.
 * @param user  passed to every callback.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (a NULL argument, no write callback, a domain that is
 *         not a bare domain, an empty secret); PXMPP_ERR_NOMEM.
 */
int pxmpp_component_new(pxmpp_component **out, const pxmpp_component_config *cfg,
                        const pxmpp_component_callbacks *cb, void *user);

/** Frees the session (sends nothing; the secret and the digest are wiped).  NULL allowed.
    Inside a callback the free is deferred until the outermost call into the session returns. */
void pxmpp_component_free(pxmpp_component *c);

/** Sends our stream header (to = the component's domain).
    @return 0; PXMPP_ERR_INVALID_ARGUMENT (c NULL); PXMPP_ERR_STATE (already started);
            PXMPP_ERR_WRITE; PXMPP_ERR_NOMEM. */
int pxmpp_component_start(pxmpp_component *c);

/** Feeds bytes received from the server.  Stanzas that arrive before the handshake
    succeeded are ignored.
    @return 0 or the session's error (see pxmpp_component_error()): PXMPP_ERR_AUTH,
            PXMPP_ERR_PROTOCOL (the server's stream error, a header without id, a second or
            non-empty <handshake/>, and every XML-level error of the stream), PXMPP_ERR_WRITE,
            PXMPP_ERR_NOMEM; PXMPP_ERR_INVALID_ARGUMENT (c NULL). */
int pxmpp_component_feed(pxmpp_component *c, const void *data, size_t len);

/** The connection ended (EOF).  @return 0 after a clean close; PXMPP_ERR_TRUNCATED otherwise;
    the session's error when it had failed; PXMPP_ERR_INVALID_ARGUMENT (c NULL). */
int pxmpp_component_finish(pxmpp_component *c);

/** An arena the app may use to build the stanzas it sends; reset by the app, freed with the
    session.  NULL for NULL. */
pxmpp_arena *pxmpp_component_arena(pxmpp_component *c);

/**
 * Sends a message.  @p m must carry a 'from' at the component's domain and a 'to'.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (NULL, or 'from'/'to' missing, malformed, or 'from'
 *         outside the component's domain); PXMPP_ERR_STATE (not connected, or closing);
 *         PXMPP_ERR_VALUE (a field breaks its schema); PXMPP_ERR_NOMEM; PXMPP_ERR_WRITE;
 *         the session's error once it failed.
 */
int pxmpp_component_send_message(pxmpp_component *c, const pxmpp_message *m);
/** Sends a presence.  Addresses and return values as pxmpp_component_send_message(). */
int pxmpp_component_send_presence(pxmpp_component *c, const pxmpp_presence *p);
/** Sends an iq of any type (it needs an id; the session does not track replies: they come
    to `iq_response`).  Addresses and return values as pxmpp_component_send_message();
    PXMPP_ERR_INVALID_ARGUMENT also when the id is missing. */
int pxmpp_component_send_iq(pxmpp_component *c, const pxmpp_iq *iq);

/**
 * Answers the iq request @p req (as delivered to `iq_request`) with a result carrying
 * @p payload of type @p payload_type (NULL: an empty result), from the address @p req was
 * sent to (the component's domain when that is not one of its addresses) to its sender.
 * @p payload is serialized at once; nothing is retained.
 * @return as pxmpp_component_send_message(); PXMPP_ERR_INVALID_ARGUMENT also when @p req is
 *         not a get/set with an id and a 'from', or @p payload_type is given without @p payload.
 */
int pxmpp_component_send_iq_result(pxmpp_component *c, const pxmpp_iq *req, const pxmpp_type_desc *payload_type,
                                   const void *payload);
/** Answers the iq request @p req with an error of @p type and @p cond (RFC 6120 §8.3),
    addressed as pxmpp_component_send_iq_result().
    @return as pxmpp_component_send_iq_result(); PXMPP_ERR_INVALID_ARGUMENT also for an
            unknown type or condition. */
int pxmpp_component_send_iq_error(pxmpp_component *c, const pxmpp_iq *req, pxmpp_stanza_error_type type,
                                  pxmpp_stanza_error_condition cond);

/** Sends </stream:stream>; `closed` follows when the server's close tag arrives.
    @return 0; PXMPP_ERR_INVALID_ARGUMENT (c NULL); PXMPP_ERR_STATE (not started, or closed
            already); PXMPP_ERR_WRITE. */
int pxmpp_component_close(pxmpp_component *c);

/** The state (PXMPP_COMPONENT_FAILED for NULL). */
pxmpp_component_state pxmpp_component_get_state(const pxmpp_component *c);
/** The session's error: code (0 if none; PXMPP_ERR_INVALID_ARGUMENT for NULL) and, when
    @p reason is not NULL, its reason ("" if none). */
int pxmpp_component_error(const pxmpp_component *c, const char **reason);
/** The condition of the <stream:error/> that ended the session, or PXMPP_STREAM_ERROR_CONDITION_ABSENT. */
pxmpp_stream_error_condition pxmpp_component_stream_error(const pxmpp_component *c);
/** The component's normalized domain (owned by the session), or NULL for NULL. */
const char *pxmpp_component_domain(const pxmpp_component *c);
/** The stream id the server gave (owned by the session), or NULL before its header. */
const char *pxmpp_component_stream_id(const pxmpp_component *c);
/** The underlying stream (for ids and statistics; do not feed it directly). */
pxmpp_stream *pxmpp_component_stream(pxmpp_component *c);

#ifdef __cplusplus
}
#endif
#endif
