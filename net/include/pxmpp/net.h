/**
 * @file net.h
 * @brief pxmpp_net: an optional I/O driver for the client session.  It owns the
 * connection (DNS, TCP, TLS, keepalive, reconnection) and drives a pxmpp_client on it.
 *
 * The core library (<pxmpp/client.h>) never touches a socket; an app that has its own
 * transport keeps using it directly.  pxmpp_net is the other way: give it a JID and a
 * password, and it does the rest.  It is a separate library (libpxmpp_net, pkg-config
 * `pxmpp-net`, CMake target pxmpp::pxmpp_net) that links the core, OpenSSL and the
 * system resolver.
 *
 * Connecting (RFC 6120 §3.2, XEP-0368):
 *   - Without `host` in the configuration the JID's domain is looked up in DNS: the SRV
 *     records of _xmpp-client._tcp.DOMAIN (STARTTLS) and _xmpps-client._tcp.DOMAIN (TLS
 *     from the first byte) are merged by priority, direct TLS first at equal priority, and
 *     ordered by weight within a priority (RFC 2782).  A record whose target is "." says
 *     that the service is not offered.  When the domain has no SRV record at all, DOMAIN
 *     port 5222 is used.  Each target's addresses are tried in turn; a target that cannot
 *     be reached, or whose direct TLS handshake fails, passes to the next one.
 *   - With `host`, that host and port are used as given (no SRV lookup).
 *   - TLS (STARTTLS or direct): TLS 1.2 or later; the server certificate is verified
 *     against the trust anchors in `cafile` (or the system's) and must name the JID's
 *     domain, never the SRV target host (RFC 6120 §13.7.2.1); the domain is also sent as
 *     SNI.  Direct TLS offers the ALPN protocol "xmpp-client".
 *   - Channel binding: the client picks the type by its policy (<pxmpp/client.h>,
 *     XEP-0440) and the driver computes it from the TLS session: tls-exporter (RFC 9266,
 *     TLS 1.3), tls-unique (RFC 5929, also under TLS 1.3, as some servers compute it) or
 *     tls-server-end-point (RFC 5929 §4).
 *
 * Two ways to run it:
 *   - Blocking: pxmpp_net_run() loops until the session is closed or has failed for good.
 *   - In the app's own event loop (poll, epoll, libuv, libevent, ...): after
 *     pxmpp_net_start(), watch pxmpp_net_fd() for pxmpp_net_events() and call
 *     pxmpp_net_process() with what happened, or with 0 once pxmpp_net_timeout_ms() has
 *     passed without I/O.  Re-read the fd, the events and the timeout after every call
 *     into pxmpp_net (the fd changes when a connection is replaced; see `fd_changed`).
 *     Connecting, the TLS handshake and writing never block: bytes to send are queued and
 *     written when the socket takes them.
 *
 * Blocking name resolution: the DNS lookups (SRV, then each target's addresses through
 * getaddrinfo()) are made when a connection attempt starts, that is in pxmpp_net_start()
 * and in the pxmpp_net_process() call that begins a reconnection.  Each SRV query waits at
 * most `dns_timeout_ms`; address lookups follow the system resolver's own timeouts
 * (resolv.conf).  An app that cannot block that long sets `host` to an address.
 *
 * Keepalive: after `keepalive_ms` without anything received, the driver sends an XEP-0199
 * ping to the server (or a single space when `keepalive` is PXMPP_NET_KEEPALIVE_WHITESPACE).
 * When nothing at all arrives within `keepalive_timeout_ms` after a ping, the connection is
 * considered lost.  White space finds only connections the system reports broken.
 *
 * Reconnection: a lost connection, or an attempt that fails, is retried after a delay
 * that doubles from `backoff_min_ms` up to `backoff_max_ms`, with jitter (see
 * `disconnected`), up to `reconnect` times in a row (-1: forever, 0: never); an
 * established session resets the count.  Never retried: authentication failures
 * (PXMPP_ERR_AUTH, PXMPP_ERR_NO_MECHANISM), a server that refuses the TLS policy
 * (PXMPP_ERR_TLS_REQUIRED), and the stream errors `conflict` (another login of the same
 * resource took over; reconnecting would throw it out in turn) and `host-unknown`.
 *
 * Stream management (XEP-0198, the client's `sm` policy; on by default): one client session
 * lives across the connections.  When the server granted resumption, the next connection
 * resumes it (first at the address the server named in <enabled location/>, unless `host`
 * is set): `resumed` comes instead of `ready`, presence and subscriptions carry on, and
 * stanzas the server missed are sent again.  Otherwise the new connection brings a new
 * session: `stanza_lost` for each stanza never acknowledged, then `ready` again (send the
 * presence again there).
 *
 * Default answers to iq requests the app leaves alone (see `iq_request`): XEP-0199 ping
 * (answered by the core), XEP-0030 disco#info (identity client/`identity_type` and the
 * features ping, version and disco#info; item-not-found for a node), XEP-0092 software
 * version, and service-unavailable for any other get or set (RFC 6120 §8.4).
 *
 * Threading: a pxmpp_net is not thread-safe; use it from one thread at a time.  Callbacks
 * run inside pxmpp_net_start(), pxmpp_net_run() and pxmpp_net_process(), never inside
 * another call.  From a callback the app may send (the pxmpp_net_send_* functions, and the
 * client's through pxmpp_net_client()) and call pxmpp_net_close(); it must not call
 * pxmpp_net_free(), pxmpp_net_run() or pxmpp_net_process().
 *
 * Ownership: strings in the configuration are copied by pxmpp_net_new() (the password
 * copy is wiped when freed).  Stanzas passed to callbacks are borrowed for the call.
 *
 * Errors: functions return 0 or a negative pxmpp_error.  Besides the client's codes
 * (<pxmpp/client.h>), a session here ends with PXMPP_ERR_RESOLVE (DNS found no server),
 * PXMPP_ERR_CONNECT (no server could be reached), PXMPP_ERR_TLS (TLS handshake or
 * certificate verification failed), PXMPP_ERR_DISCONNECTED (the connection broke or the
 * server went silent) or PXMPP_ERR_CLOSED (the server closed the stream on its own).
 */
#ifndef PXMPP_NET_H
#define PXMPP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pxmpp/client.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pxmpp_net pxmpp_net;

/** What keeps an idle connection alive and checked. */
typedef enum pxmpp_net_keepalive {
    PXMPP_NET_KEEPALIVE_PING = 0,       /**< an XEP-0199 ping to the server; silence means a lost connection (default) */
    PXMPP_NET_KEEPALIVE_WHITESPACE = 1, /**< a single space (RFC 6120 §4.6.1); no answer is expected */
    PXMPP_NET_KEEPALIVE_OFF = 2         /**< nothing */
} pxmpp_net_keepalive;

/** Configuration.  Zero in a numeric field means its default; strings are copied. */
typedef struct pxmpp_net_config {
    /** The session: jid and password (required), resource, TLS policy, SASL mechanisms,
        iq limits and allocator, as for pxmpp_client_new().  With PXMPP_TLS_DISABLED, direct
        TLS records are skipped. */
    pxmpp_client_config client;
    /** Connect to this host name or address instead of looking up the domain's SRV records
        (NULL: DNS).  The certificate must still name the JID's domain. */
    const char *host;
    /** With `host`: the port (0: 5222, or 5223 with direct_tls). */
    uint16_t port;
    /** With `host`: TLS from the first byte (XEP-0368) instead of STARTTLS. */
    bool direct_tls;
    /** PEM file of trust anchors for the server certificate (NULL: the system's). */
    const char *cafile;
    /** The DNS server to ask for SRV records, as an IPv4 address with an optional port
        ("127.0.0.1:5353"), instead of the system's (NULL).  Meant for tests and private
        resolvers; address lookups still use the system resolver. */
    const char *dns_server;
    uint32_t dns_timeout_ms;       /**< wait for one SRV answer (5000) */
    uint32_t connect_timeout_ms;   /**< TCP connect to one address; then again for TLS and the stream up to `ready` (15000) */
    pxmpp_net_keepalive keepalive; /**< PXMPP_NET_KEEPALIVE_PING by default */
    uint32_t keepalive_ms;         /**< silence before a keepalive (60000) */
    uint32_t keepalive_timeout_ms; /**< wait for anything after a ping before the connection counts as lost (20000) */
    /** Retries in a row after a lost connection or a failed attempt: -1 forever, 0 none (default), N. */
    int reconnect;
    uint32_t backoff_min_ms;       /**< delay before the first retry (500) */
    uint32_t backoff_max_ms;       /**< longest delay between retries (8000) */
    uint32_t close_timeout_ms;     /**< wait for the server's close tag after ours (2000) */
    /** Approve every subscription request (RFC 6121 §3.1.3) before `subscription_request` runs. */
    bool auto_approve;
    const char *software_name;     /**< XEP-0092 name, also the disco identity's name (NULL: "pxmpp") */
    const char *software_version;  /**< XEP-0092 version (NULL: the library's, PXMPP_VERSION_STRING) */
    const char *identity_type;     /**< disco identity type in category "client" (NULL: "bot") */
} pxmpp_net_config;

/**
 * Callbacks.  All may be NULL.  Each gets the `user` pointer given to pxmpp_net_new().
 */
typedef struct pxmpp_net_callbacks {
    /** A new session is established (the first one, and after a connection on which the former
        session could not be resumed); @p jid is the bound full JID. */
    void (*ready)(void *user, const char *jid);
    /** A lost session was resumed (XEP-0198) on a new connection: stanzas, presence and
        subscriptions carry on; @p resent stanzas were sent again. */
    void (*resumed)(void *user, size_t resent);
    /** A stanza sent before a connection was lost could not be delivered by resumption
        (XEP-0198); @p xml is its serialized form. */
    void (*stanza_lost)(void *user, const char *xml, size_t len);
    /** The connection was lost or an attempt failed (@p code, @p reason; when a <stream:error/>
        ended it, pxmpp_client_stream_error(pxmpp_net_client()) names the condition); the next
        attempt starts in @p retry_ms.  The retry number k (1 after a session that was ready) waits a
        random delay in [max(backoff_min, b/2), b] with b = min(backoff_max, backoff_min * 2^(k-1)).
        The app may call pxmpp_net_close() here to stop. */
    void (*disconnected)(void *user, int code, const char *reason, uint32_t retry_ms);
    /** The session ended for good: a permanent failure, no retry allowed, or the retries used
        up (as for `disconnected`, the client still tells the stream-error condition).
        pxmpp_net_run() returns @p code; pxmpp_net_process() returns it from then on. */
    void (*failed)(void *user, int code, const char *reason);
    /** The session ended after pxmpp_net_close(). */
    void (*closed)(void *user);
    /** A message stanza. */
    void (*message)(void *user, const pxmpp_message *msg);
    /** A presence stanza that is not a subscription request. */
    void (*presence)(void *user, const pxmpp_presence *pres);
    /** A subscription request: answer with pxmpp_client_approve() or _deny() on
        pxmpp_net_client(); with `auto_approve` it is approved already. */
    void (*subscription_request)(void *user, const pxmpp_presence *pres);
    /** A roster push (answered and applied to the client's roster cache already). */
    void (*roster_push)(void *user, const pxmpp_roster_item *item, const char *ver);
    /** An iq get or set (pings and roster pushes are answered before this).  Return true when
        the app answers it (now or later, with pxmpp_client_send_iq_result() or _send_iq_error()
        on pxmpp_net_client()), false to leave it to the default answers. */
    bool (*iq_request)(void *user, const pxmpp_iq *iq);
    /** The socket to watch changed: called with (old_fd, -1) just before old_fd is closed
        (stop watching it now) and with (-1, new_fd) when a new connection's socket is open. */
    void (*fd_changed)(void *user, int old_fd, int new_fd);
    /** Bytes as received from the server (after TLS decryption), before they are parsed:
        for captures and debugging. */
    void (*received)(void *user, const char *data, size_t len);
    /** One line of a readable transcript: connection steps and the client's own log. */
    void (*log)(void *user, const char *line);
} pxmpp_net_callbacks;

/**
 * Creates a driver.  Nothing is connected until pxmpp_net_start() or pxmpp_net_run().
 * @return 0, PXMPP_ERR_INVALID_ARGUMENT (NULL argument, no jid or password, a malformed
 *         JID or mechanism list, a `dns_server` that is not an IPv4 address, backoff_min_ms
 *         above backoff_max_ms, a reconnect count below -1), PXMPP_ERR_TLS (OpenSSL cannot
 *         set up, or the trust anchors cannot be loaded), PXMPP_ERR_NOMEM.
 */
int pxmpp_net_new(pxmpp_net **out, const pxmpp_net_config *cfg, const pxmpp_net_callbacks *cb, void *user);

/** Closes the connection at once (no close tag is sent) and frees everything.  NULL allowed.
    Not from a callback. */
void pxmpp_net_free(pxmpp_net *n);

/**
 * Starts the first connection attempt: DNS (blocking, see the file comment), then a
 * non-blocking connect.  Callbacks may run (`disconnected`, `failed`, `fd_changed`, `log`).
 * @return 0 (the attempt is under way, or waiting for a retry); the session's final error
 *         when it failed for good already (see `failed`); PXMPP_ERR_STATE when already started.
 */
int pxmpp_net_start(pxmpp_net *n);

/**
 * Runs the session in a poll() loop until it is over: starts it if needed, and returns when
 * it was closed (after pxmpp_net_close(), called from a callback) or has failed for good.
 * EINTR is ignored.
 * @return 0 after a close; the final error code (see `failed`); PXMPP_ERR_INVALID_ARGUMENT.
 */
int pxmpp_net_run(pxmpp_net *n);

/** The socket to watch, or -1 when there is none (before the start, between attempts,
    after the end): then only the timeout matters. */
int pxmpp_net_fd(const pxmpp_net *n);

/** What to wait for on pxmpp_net_fd(): POLLIN and/or POLLOUT (0 without a socket). */
short pxmpp_net_events(const pxmpp_net *n);

/** Milliseconds until pxmpp_net_process() must be called even without I/O: 0 when there is
    work now (for example data that TLS has decrypted already), -1 when the session is over. */
int pxmpp_net_timeout_ms(const pxmpp_net *n);

/**
 * Does what is due: I/O for @p revents (the poll() revents of pxmpp_net_fd(), or 0 after a
 * timeout), then the timers (connection timeouts, keepalive, retries, the client's iq
 * timeouts).  Callbacks run from here.
 * @return 0 while the session goes on (connected, connecting or waiting to retry); 1 when it
 *         was closed after pxmpp_net_close(); the final error code after a failure for good;
 *         PXMPP_ERR_INVALID_ARGUMENT; PXMPP_ERR_STATE before pxmpp_net_start().
 */
int pxmpp_net_process(pxmpp_net *n, short revents);

/**
 * Ends the session: sends our close tag when a stream is open and waits (at most
 * `close_timeout_ms`) for the server's; stops a pending retry or a connection attempt.
 * `closed` follows from pxmpp_net_process() or pxmpp_net_run().
 * @return 0, PXMPP_ERR_STATE (not started, already closing, or over), PXMPP_ERR_INVALID_ARGUMENT.
 */
int pxmpp_net_close(pxmpp_net *n);

/**
 * The client session, for everything else it offers (roster, subscriptions, tracked iqs,
 * iq answers, state, the bound JID, the mechanism and channel binding used, the stream
 * error, stream management).  Do not call its feed, start, tls_ready, tls_failed, finish,
 * reconnect or tick functions, nor free it.  One client serves the connections that follow
 * each other (its roster cache and XEP-0198 state carry over); moving between a direct TLS
 * and a STARTTLS connection replaces it, with a new session.  Read the pointer again in
 * `ready`; it stays readable inside `disconnected`, `failed` and `closed`.  NULL before
 * the first connection.
 */
pxmpp_client *pxmpp_net_client(pxmpp_net *n);

/**
 * Sends a chat message with @p body to @p to.
 * @return 0, PXMPP_ERR_INVALID_ARGUMENT (NULL argument, malformed JID), PXMPP_ERR_STATE
 *         (no session is ready), PXMPP_ERR_NOMEM, or the client's error.
 */
int pxmpp_net_send_chat(pxmpp_net *n, const char *to, const char *body);

/**
 * Answers @p to_this (typically inside `message`) with @p body: to its sender, with its
 * type (chat, normal, headline; a groupchat answer goes to the room's bare JID) and thread.
 * @return as pxmpp_net_send_chat(); PXMPP_ERR_INVALID_ARGUMENT also when the message has no
 *         sender or is an error.
 */
int pxmpp_net_reply(pxmpp_net *n, const pxmpp_message *to_this, const char *body);

/**
 * Broadcasts available presence (initial presence, RFC 6121 §4.2) with @p show
 * (PXMPP_PRESENCE_SHOW_ABSENT: plain available) and @p status (NULL: none).
 * @return as pxmpp_net_send_chat().
 */
int pxmpp_net_send_presence(pxmpp_net *n, pxmpp_presence_show show, const char *status);

/** The final error, once the session failed for good: its code (0 if none) and reason. */
int pxmpp_net_error(const pxmpp_net *n, const char **reason);

#ifdef __cplusplus
}
#endif
#endif
