/* pxmpp_net: the connection driver of the client session (see pxmpp/net.h).
 *
 * One pxmpp_net goes through connection attempts.  An attempt resolves the domain into
 * an ordered list of targets, tries each target's addresses with a non-blocking connect,
 * runs the direct TLS handshake where the target asks for it, and then a client session
 * on the connection.  When the connection ends the attempt is over: the driver either
 * waits and starts the next one, or stops for good.
 *
 * Nothing here calls the app back from inside a client callback except to forward that
 * callback: the client's callbacks only record what happened (a failure, <proceed/>, the
 * server's close), and the driver acts on it when the client returns (settle()). */
#include "net_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <idna.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <pxmpp/build.h>
#include <pxmpp/net.h>
#include <pxmpp/pxmpp.h>

/* Bytes queued for sending beyond which the write callback refuses more. */
#define OUT_LIMIT (16u * 1024u * 1024u)
/* The client's iq timeouts are checked at least this often while a session runs. */
#define TICK_MS 1000u

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

typedef enum phase {
    PH_IDLE,      /* not started */
    PH_CONNECT,   /* a non-blocking connect() to one address */
    PH_HANDSHAKE, /* a TLS handshake: direct TLS, or after <proceed/> */
    PH_STREAM,    /* the XMPP stream runs (in the clear until STARTTLS, then through TLS) */
    PH_CLOSING,   /* our close tag is out; waiting for the server's until close_at */
    PH_WAIT,      /* between attempts, until retry_at */
    PH_DONE       /* closed or failed for good */
} phase;

/* How far an address got before it failed: the reason of the furthest one is reported. */
enum { RANK_NONE, RANK_RESOLVE, RANK_CONNECT, RANK_TLS };

struct pxmpp_net {
    pxmpp_mem mem;
    pxmpp_net_callbacks cb;
    void *user;

    /* configuration; the strings are copies */
    pxmpp_client_config ccfg;
    char *jid, *password, *resource, *mechanisms;
    char *host, *cafile, *dns_server, *sw_name, *sw_version, *id_type;
    char *domain;       /* the JID's domain, for the stream and the ping */
    char *domain_ascii; /* its A-label form: SRV names, SNI, certificate check */
    uint16_t port;
    bool direct_tls, auto_approve;
    uint32_t dns_timeout, connect_timeout, ka_ms, ka_timeout, backoff_min, backoff_max, close_timeout;
    pxmpp_net_keepalive keepalive;
    int reconnect;

    SSL_CTX *ctx;
    uint64_t rng;
    pxmpp_arena *tmp;
    pxmpp_client *c;

    phase ph;
    bool started;
    bool close_requested; /* pxmpp_net_close() was called */
    int failures;         /* attempts in a row that ended without a session */

    /* the current attempt */
    pxmpp__target targets[PXMPP__MAX_TARGETS];
    size_t ntargets, ti;
    struct addrinfo *addrs, *next_addr;
    int rank, fail_code;
    char fail_reason[320];

    /* the current connection */
    int fd;
    SSL *ssl;
    bool direct;          /* the connection is direct TLS */
    bool client_live;     /* the client runs on this connection (not finished yet) */
    bool session_ready;   /* `ready` came on this connection */
    bool tls_requested;   /* <proceed/>: the handshake starts when the client returns */
    bool server_closed;   /* the server's close tag arrived */
    short hs_wants;       /* what the handshake waits for */
    short rd_wants, wr_wants; /* what the last SSL_read / SSL_write waits for (0: the usual) */
    uint64_t deadline;    /* connect, or establishment of the session (0: none) */
    uint64_t close_at, retry_at;
    uint64_t last_rx, ka_sent, ping_deadline;
    char *out;
    size_t out_off, out_len, out_cap;
    int io_err;           /* an I/O error noticed where it could not be handled */
    char io_reason[320];
    int end_code;         /* why the connection is ending (0: the app closed it) */
    pxmpp_stream_error_condition end_cond; /* the server's <stream:error/>, if that was why */
    char end_reason[400];

    int final_code;       /* after PH_DONE: 0 closed, else the error */
    char final_reason[480];
};

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *mdup(const pxmpp_mem *m, const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    char *d = m->malloc(len, m->ud);
    if (d)
        memcpy(d, s, len);
    return d;
}

static void mfree(const pxmpp_mem *m, char *s, bool secret)
{
    if (!s)
        return;
    if (secret)
        OPENSSL_cleanse(s, strlen(s)); /* like the core library: the compiler cannot drop it */
    m->free(s, m->ud);
}

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void nlog(pxmpp_net *n, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void nlog(pxmpp_net *n, const char *fmt, ...)
{
    if (!n->cb.log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    n->cb.log(n->user, line);
}

/* The most recent OpenSSL error as text, or fallback. */
static const char *ssl_reason(char *buf, size_t cap, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (!e)
        return fallback;
    ERR_error_string_n(e, buf, cap);
    return buf;
}

/* Records why the current connection ends; the first reason wins. */
static void set_end(pxmpp_net *n, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void set_end(pxmpp_net *n, int code, const char *fmt, ...)
{
    if (n->end_code)
        return;
    n->end_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->end_reason, sizeof n->end_reason, fmt, ap);
    va_end(ap);
}

/* Records why an address or target failed, when it got at least as far as the last one. */
static void set_fail(pxmpp_net *n, int rank, int code, const char *fmt, ...) PRINTF_LIKE(4, 5);
static void set_fail(pxmpp_net *n, int rank, int code, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nlog(n, "%s", msg);
    if (rank < n->rank)
        return;
    n->rank = rank;
    n->fail_code = code;
    memcpy(n->fail_reason, msg, sizeof msg);
}

/* SIGPIPE: writing to a connection the peer has closed must give EPIPE, not end the
   process.  Plain sends use MSG_NOSIGNAL; OpenSSL writes with write(), so SIGPIPE is
   blocked around its calls and a SIGPIPE they raise is taken off the thread. */
typedef struct pipe_guard {
    sigset_t set, old;
    bool was_pending;
} pipe_guard;

static void guard_on(pipe_guard *g)
{
    sigset_t pend;
    sigemptyset(&g->set);
    sigaddset(&g->set, SIGPIPE);
    g->was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &g->set, &g->old);
}

static void guard_off(pipe_guard *g)
{
    sigset_t pend;
    if (!g->was_pending && sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE)) {
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&g->set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- the socket ------------------------------------------------------------------------- */

typedef enum ssl_op { OP_READ, OP_WRITE, OP_HANDSHAKE } ssl_op;

/* One OpenSSL call with SIGPIPE held off: its result, *err its SSL_get_error() code
   (SSL_ERROR_NONE on success) and *sys_err the errno it left. */
static int ssl_call(SSL *ssl, ssl_op op, void *buf, size_t len, int *err, int *sys_err)
{
    pipe_guard g;
    guard_on(&g);
    ERR_clear_error();
    errno = 0;
    int r = op == OP_READ ? SSL_read(ssl, buf, (int)len) : op == OP_WRITE ? SSL_write(ssl, buf, (int)len)
                                                                           : SSL_do_handshake(ssl);
    *err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
    *sys_err = errno;
    guard_off(&g);
    return r;
}

static void socket_close(pxmpp_net *n, bool graceful)
{
    if (n->ssl) {
        if (graceful && SSL_is_init_finished(n->ssl)) {
            pipe_guard g;
            guard_on(&g);
            ERR_clear_error();
            (void)SSL_shutdown(n->ssl); /* our close_notify; the peer's is not awaited */
            guard_off(&g);
        }
        SSL_free(n->ssl);
        n->ssl = NULL;
    }
    if (n->fd >= 0) {
        if (n->cb.fd_changed)
            n->cb.fd_changed(n->user, n->fd, -1);
        close(n->fd);
        n->fd = -1;
    }
    n->hs_wants = n->rd_wants = n->wr_wants = 0;
}

static void free_addrs(pxmpp_net *n)
{
    if (n->addrs)
        freeaddrinfo(n->addrs);
    n->addrs = n->next_addr = NULL;
}

/* Reads what is there: > 0 bytes, 0 the peer closed, -1 nothing now, -2 error (io_reason). */
static long conn_read(pxmpp_net *n, char *buf, size_t cap)
{
    if (n->ssl) {
        int e, saved;
        int r = ssl_call(n->ssl, OP_READ, buf, cap > INT_MAX ? INT_MAX : cap, &e, &saved);
        n->rd_wants = 0;
        switch (e) {
        case SSL_ERROR_NONE:
            return r;
        case SSL_ERROR_WANT_READ:
            return -1;
        case SSL_ERROR_WANT_WRITE:
            n->rd_wants = POLLOUT;
            return -1;
        case SSL_ERROR_ZERO_RETURN:
            return 0;
        case SSL_ERROR_SYSCALL:
            if (ERR_peek_last_error() == 0 && saved == 0)
                return 0;
            snprintf(n->io_reason, sizeof n->io_reason, "read: %s", saved ? strerror(saved) : "TLS error");
            return -2;
        default: {
            char eb[200];
            snprintf(n->io_reason, sizeof n->io_reason, "TLS read: %s", ssl_reason(eb, sizeof eb, "unknown error"));
            return -2;
        }
        }
    }
    for (;;) {
        ssize_t r = recv(n->fd, buf, cap, 0);
        if (r >= 0)
            return (long)r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -1;
        snprintf(n->io_reason, sizeof n->io_reason, "read: %s", strerror(errno));
        return -2;
    }
}

/* Writes what the socket takes: bytes written (>= 0), or -2 on error (io_reason). */
static long conn_write(pxmpp_net *n, const char *data, size_t len)
{
    if (len > INT_MAX)
        len = INT_MAX;
    if (n->ssl) {
        int e, saved;
        int r = ssl_call(n->ssl, OP_WRITE, (void *)data, len, &e, &saved);
        n->wr_wants = 0;
        if (e == SSL_ERROR_NONE)
            return r;
        if (e == SSL_ERROR_WANT_WRITE)
            return 0;
        if (e == SSL_ERROR_WANT_READ) {
            n->wr_wants = POLLIN;
            return 0;
        }
        char eb[200];
        if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
            snprintf(n->io_reason, sizeof n->io_reason, "write: %s", saved ? strerror(saved) : "connection closed");
        else
            snprintf(n->io_reason, sizeof n->io_reason, "TLS write: %s", ssl_reason(eb, sizeof eb, "unknown error"));
        return -2;
    }
    for (;;) {
        ssize_t r = send(n->fd, data, len, MSG_NOSIGNAL);
        if (r >= 0)
            return (long)r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        snprintf(n->io_reason, sizeof n->io_reason, "write: %s", strerror(errno));
        return -2;
    }
}

static bool out_pending(const pxmpp_net *n)
{
    return n->out_off < n->out_len;
}

/* Sends as much of the output queue as the socket takes. */
static void flush(pxmpp_net *n)
{
    if (n->fd < 0 || n->io_err || (n->ph != PH_STREAM && n->ph != PH_CLOSING))
        return;
    while (out_pending(n)) {
        long w = conn_write(n, n->out + n->out_off, n->out_len - n->out_off);
        if (w < 0) {
            n->io_err = PXMPP_ERR_DISCONNECTED;
            return;
        }
        if (w == 0)
            return;
        n->out_off += (size_t)w;
    }
    n->out_off = n->out_len = 0;
}

static int queue(pxmpp_net *n, const char *data, size_t len)
{
    if (n->out_off > 0 && n->out_off == n->out_len)
        n->out_off = n->out_len = 0;
    if (n->out_len - n->out_off + len > OUT_LIMIT)
        return -1;
    if (n->out_len + len > n->out_cap) {
        if (n->out_off > 0) { /* the unsent bytes move to the front (TLS accepts a moved buffer) */
            memmove(n->out, n->out + n->out_off, n->out_len - n->out_off);
            n->out_len -= n->out_off;
            n->out_off = 0;
        }
        if (n->out_len + len > n->out_cap) {
            size_t cap = n->out_cap ? n->out_cap : 4096;
            while (cap < n->out_len + len)
                cap *= 2;
            char *p = n->mem.realloc(n->out, cap, n->mem.ud);
            if (!p)
                return -1;
            n->out = p;
            n->out_cap = cap;
        }
    }
    memcpy(n->out + n->out_len, data, len);
    n->out_len += len;
    return 0;
}

/* ---- attempts ------------------------------------------------------------------------- */

static void next_address(pxmpp_net *n);
static void session_begin(pxmpp_net *n);
static void tls_begin(pxmpp_net *n);
static void connection_over(pxmpp_net *n, int code, const char *reason);

/* Failures that a new attempt would only repeat: credentials and policy; and the stream
   errors `conflict` (another login of the same resource took over: reconnecting would throw
   it out in turn) and `host-unknown` (the server does not serve the domain). */
static bool permanent(int code, pxmpp_stream_error_condition cond)
{
    return code == PXMPP_ERR_AUTH || code == PXMPP_ERR_NO_MECHANISM || code == PXMPP_ERR_TLS_REQUIRED ||
           code == PXMPP_ERR_INVALID_ARGUMENT || code == PXMPP_ERR_NOMEM ||
           cond == PXMPP_STREAM_ERROR_CONDITION_CONFLICT || cond == PXMPP_STREAM_ERROR_CONDITION_HOST_UNKNOWN;
}

static void finish(pxmpp_net *n, int code, const char *reason)
{
    n->ph = PH_DONE;
    n->final_code = code;
    snprintf(n->final_reason, sizeof n->final_reason, "%s", code ? reason : "");
    free_addrs(n);
    if (code == 0) {
        nlog(n, "closed");
        if (n->cb.closed)
            n->cb.closed(n->user);
    } else {
        nlog(n, "failed for good: %s", reason);
        if (n->cb.failed)
            n->cb.failed(n->user, code, n->final_reason);
    }
}

/* The DNS part of an attempt: fills the target list. */
static int plan(pxmpp_net *n)
{
    n->ntargets = n->ti = 0;
    if (n->host) {
        pxmpp__target *t = &n->targets[0];
        memset(t, 0, sizeof *t);
        snprintf(t->host, sizeof t->host, "%s", n->host);
        t->direct_tls = n->direct_tls;
        t->port = n->port ? n->port : (n->direct_tls ? 5223 : 5222);
        n->ntargets = 1;
        return 0;
    }
    static const char *const service[2] = { "_xmpp-client._tcp.", "_xmpps-client._tcp." };
    pxmpp__target found[2][PXMPP__MAX_TARGETS];
    size_t count[2] = { 0, 0 };
    pxmpp__srv_status st[2] = { PXMPP__SRV_NONE, PXMPP__SRV_NONE };
    bool skip_direct = n->ccfg.tls == PXMPP_TLS_DISABLED;
    for (int i = 0; i < 2; i++) {
        if (i == 1 && skip_direct)
            break;
        char name[300];
        snprintf(name, sizeof name, "%s%s", service[i], n->domain_ascii);
        st[i] = pxmpp__srv_lookup(name, n->dns_server, n->dns_timeout, i == 1, found[i], PXMPP__MAX_TARGETS,
                                  &count[i]);
        nlog(n, "SRV %s: %s", name,
             st[i] == PXMPP__SRV_FOUND ? "found" : st[i] == PXMPP__SRV_REFUSED ? "\".\" (not offered)" : "no record");
    }
    if (pxmpp__plan_targets(n->domain_ascii, found[0], count[0], st[0], found[1], count[1], st[1], skip_direct,
                            n->targets, PXMPP__MAX_TARGETS, &n->ntargets, &n->rng) != 0) {
        set_fail(n, RANK_RESOLVE, PXMPP_ERR_RESOLVE, "%s offers no XMPP client service (SRV target \".\")", n->domain);
        return -1;
    }
    return 0;
}

/* XEP-0198: a session the server will resume is best resumed at the address it named in
   <enabled location/>, tried before the others (unless the app set the host itself). */
static void prefer_sm_location(pxmpp_net *n)
{
    const char *loc = n->c && !n->host && pxmpp_client_can_resume(n->c) ? pxmpp_client_sm_location(n->c) : NULL;
    pxmpp__target t;
    memset(&t, 0, sizeof t);
    t.direct_tls = n->direct; /* the kind of connection the session had */
    if (!loc || pxmpp__parse_location(loc, n->direct ? 5223 : 5222, t.host, sizeof t.host, &t.port) != 0)
        return;
    size_t keep = n->ntargets < PXMPP__MAX_TARGETS ? n->ntargets : PXMPP__MAX_TARGETS - 1;
    memmove(&n->targets[1], &n->targets[0], keep * sizeof t);
    n->targets[0] = t;
    n->ntargets = keep + 1;
    nlog(n, "resuming at the server's preferred address %s", loc);
}

static void attempt_begin(pxmpp_net *n)
{
    n->rank = RANK_NONE;
    n->fail_code = 0;
    n->fail_reason[0] = '\0';
    free_addrs(n);
    if (plan(n) != 0) {
        connection_over(n, n->fail_code, n->fail_reason);
        return;
    }
    prefer_sm_location(n);
    next_address(n);
}

/* The TCP connection is up. */
static void on_connected(pxmpp_net *n)
{
    int one = 1;
    (void)setsockopt(n->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const pxmpp__target *t = &n->targets[n->ti];
    nlog(n, "connected to %s port %u%s", t->host, (unsigned)t->port, t->direct_tls ? " (direct TLS)" : "");
    n->direct = t->direct_tls;
    n->deadline = now_ms() + n->connect_timeout;
    if (n->direct)
        tls_begin(n);
    else
        session_begin(n);
}

/* Starts connecting to the next address, passing to the next target when a target's
   addresses are used up; when every target failed, the attempt is over. */
static void next_address(pxmpp_net *n)
{
    for (;;) {
        if (!n->next_addr) {
            if (n->addrs) { /* this target's addresses are used up */
                free_addrs(n);
                n->ti++;
            }
            if (n->ti >= n->ntargets) {
                connection_over(n, n->fail_code ? n->fail_code : PXMPP_ERR_CONNECT,
                                n->fail_reason[0] ? n->fail_reason : "no address to connect to");
                return;
            }
            const pxmpp__target *t = &n->targets[n->ti];
            char port[8];
            snprintf(port, sizeof port, "%u", (unsigned)t->port);
            struct addrinfo hints;
            memset(&hints, 0, sizeof hints);
            hints.ai_family = AF_UNSPEC;
            hints.ai_socktype = SOCK_STREAM;
            int gai = getaddrinfo(t->host, port, &hints, &n->addrs);
            if (gai != 0 || !n->addrs) {
                set_fail(n, RANK_RESOLVE, PXMPP_ERR_RESOLVE, "cannot resolve %s: %s", t->host,
                         gai ? gai_strerror(gai) : "no address");
                n->addrs = NULL;
                n->ti++;
                continue;
            }
            n->next_addr = n->addrs;
        }
        const pxmpp__target *t = &n->targets[n->ti];
        struct addrinfo *ai = n->next_addr;
        n->next_addr = ai->ai_next;
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            set_fail(n, RANK_CONNECT, PXMPP_ERR_CONNECT, "cannot connect to %s port %u: %s", t->host, (unsigned)t->port,
                     strerror(errno));
            continue;
        }
        int flags = fcntl(fd, F_GETFL, 0);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            set_fail(n, RANK_CONNECT, PXMPP_ERR_CONNECT, "cannot connect to %s port %u: %s", t->host, (unsigned)t->port,
                     strerror(errno));
            close(fd);
            continue;
        }
        n->fd = fd;
        if (n->cb.fd_changed)
            n->cb.fd_changed(n->user, -1, fd);
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc == 0) {
            on_connected(n);
            return;
        }
        if (errno == EINPROGRESS) {
            n->ph = PH_CONNECT;
            n->deadline = now_ms() + n->connect_timeout;
            return;
        }
        set_fail(n, RANK_CONNECT, PXMPP_ERR_CONNECT, "cannot connect to %s port %u: %s", t->host, (unsigned)t->port,
                 strerror(errno));
        socket_close(n, false);
    }
}

/* The socket of a connect() in progress reported back. */
static void connect_done(pxmpp_net *n)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        on_connected(n);
        return;
    }
    const pxmpp__target *t = &n->targets[n->ti];
    set_fail(n, RANK_CONNECT, PXMPP_ERR_CONNECT, "cannot connect to %s port %u: %s", t->host, (unsigned)t->port,
             strerror(err));
    socket_close(n, false);
    next_address(n);
}

/* ---- TLS ------------------------------------------------------------------------------ */

static void tls_up(pxmpp_net *n);

/* The handshake failed or timed out.  A direct TLS target passes to the next address;
   after STARTTLS the connection is over. */
static void tls_failed(pxmpp_net *n, const char *why)
{
    if (n->direct) {
        const pxmpp__target *t = &n->targets[n->ti];
        set_fail(n, RANK_TLS, PXMPP_ERR_TLS, "TLS with %s port %u: %s", t->host, (unsigned)t->port, why);
        socket_close(n, false);
        next_address(n);
        return;
    }
    (void)pxmpp_client_tls_failed(n->c, why); /* the session fails with PXMPP_ERR_TLS and why */
    char reason[300];
    snprintf(reason, sizeof reason, "TLS: %s", why);
    connection_over(n, PXMPP_ERR_TLS, reason);
}

static void handshake_step(pxmpp_net *n)
{
    int e, saved;
    (void)ssl_call(n->ssl, OP_HANDSHAKE, NULL, 0, &e, &saved);
    if (e == SSL_ERROR_NONE) {
        n->hs_wants = 0;
        tls_up(n);
        return;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        n->hs_wants = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return;
    }
    char why[300], eb[200];
    long v = SSL_get_verify_result(n->ssl);
    if (v != X509_V_OK)
        snprintf(why, sizeof why, "certificate verification failed for %s: %s", n->domain,
                 X509_verify_cert_error_string(v));
    else if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
        snprintf(why, sizeof why, "handshake failed: %s", saved ? strerror(saved) : "connection closed by the server");
    else
        snprintf(why, sizeof why, "handshake failed: %s", ssl_reason(eb, sizeof eb, "unknown error"));
    tls_failed(n, why);
}

static void tls_begin(pxmpp_net *n)
{
    static const unsigned char alpn[] = "\x0bxmpp-client";
    char eb[200];
    ERR_clear_error();
    n->ssl = SSL_new(n->ctx);
    /* SNI and the name the certificate must carry: the JID's domain (RFC 6120 §13.7.2.1),
       whatever host the SRV record pointed to */
    if (!n->ssl || SSL_set_fd(n->ssl, n->fd) != 1 || SSL_set_tlsext_host_name(n->ssl, n->domain_ascii) != 1 ||
        SSL_set1_host(n->ssl, n->domain_ascii) != 1 ||
        (n->direct && SSL_set_alpn_protos(n->ssl, alpn, sizeof alpn - 1) != 0)) {
        tls_failed(n, ssl_reason(eb, sizeof eb, "cannot set up the TLS session"));
        return;
    }
    SSL_set_connect_state(n->ssl);
    nlog(n, "starting TLS, the certificate must be valid for %s", n->domain);
    n->ph = PH_HANDSHAKE;
    handshake_step(n);
}

/* The handshake completed. */
static void tls_up(pxmpp_net *n)
{
    nlog(n, "TLS established: %s %s, certificate verified", SSL_get_version(n->ssl), SSL_get_cipher_name(n->ssl));
    if (n->direct) {
        session_begin(n);
        return;
    }
    /* the client asks for channel-binding data through on_channel_binding() */
    n->ph = PH_STREAM;
    int rc = pxmpp_client_tls_ready(n->c, NULL, NULL, 0);
    if (rc != 0)
        set_end(n, rc, "cannot restart the stream after TLS: %s", pxmpp_strerror(rc));
    flush(n);
}

/* ---- the client session ------------------------------------------------------------------ */

static int on_write(void *user, const char *data, size_t len)
{
    pxmpp_net *n = user;
    if (queue(n, data, len) != 0)
        return -1;
    flush(n);
    return 0;
}

static int on_start_tls(void *user)
{
    pxmpp_net *n = user;
    if (out_pending(n))
        return -1; /* nothing may be sent in the clear once <proceed/> arrived */
    n->tls_requested = true;
    return 0;
}

/* A session is established on this connection: the retries start over. */
static void session_established(pxmpp_net *n)
{
    n->session_ready = true;
    n->failures = 0;
    n->deadline = 0;
    n->last_rx = n->ka_sent = now_ms();
    n->ping_deadline = 0;
}

static void on_ready(void *user, const char *jid)
{
    pxmpp_net *n = user;
    session_established(n);
    if (n->cb.ready)
        n->cb.ready(n->user, jid);
}

static void on_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    pxmpp_net *n = user;
    if (!n->end_code)
        n->end_cond = cond;
    set_end(n, code, "%s", reason);
}

static void on_closed(void *user)
{
    pxmpp_net *n = user;
    n->server_closed = true;
    if (!n->close_requested)
        set_end(n, PXMPP_ERR_CLOSED, "the server closed the stream");
}

static void on_message(void *user, const pxmpp_message *m)
{
    pxmpp_net *n = user;
    if (n->cb.message)
        n->cb.message(n->user, m);
}

static void on_presence(void *user, const pxmpp_presence *p)
{
    pxmpp_net *n = user;
    if (n->cb.presence)
        n->cb.presence(n->user, p);
}

static void on_subscription_request(void *user, const pxmpp_presence *p)
{
    pxmpp_net *n = user;
    if (n->auto_approve && p->from) {
        int rc = pxmpp_client_approve(n->c, p->from);
        nlog(n, "subscription request from %s: %s", p->from, rc ? pxmpp_strerror(rc) : "approved");
    }
    if (n->cb.subscription_request)
        n->cb.subscription_request(n->user, p);
}

static void on_roster_push(void *user, const pxmpp_roster_item *item, const char *ver)
{
    pxmpp_net *n = user;
    if (n->cb.roster_push)
        n->cb.roster_push(n->user, item, ver);
}

static void on_client_log(void *user, const char *line)
{
    pxmpp_net *n = user;
    if (n->cb.log)
        n->cb.log(n->user, line);
}

/* An iq get or set: the app first, then the default answers (disco#info and software
   version here; the client answers the rest service-unavailable when this returns false). */
static bool on_iq_request(void *user, const pxmpp_iq *iq)
{
    static const pxmpp_disco_feature features[] = {
        { .var = "http://jabber.org/protocol/disco#info" },
        { .var = "jabber:iq:version" },
        { .var = "urn:xmpp:ping" },
    };
    pxmpp_net *n = user;
    if (n->cb.iq_request && n->cb.iq_request(n->user, iq))
        return true;
    if (iq->type != PXMPP_IQ_TYPE_GET)
        return false;
    const pxmpp_disco_info *di = pxmpp_iq_get_disco_info(iq);
    if (di && di->node) /* a node we do not have (XEP-0030 §3.2) */
        return pxmpp_client_send_iq_error(n->c, iq, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                                          PXMPP_STANZA_ERROR_CONDITION_ITEM_NOT_FOUND) == 0;
    if (di) {
        pxmpp_disco_identity identity = { .category = "client", .type = n->id_type, .name = n->sw_name };
        pxmpp_disco_info info = { .identities = &identity, .identities_count = 1, .features = features,
                                  .features_count = sizeof features / sizeof features[0] };
        return pxmpp_client_send_iq_result(n->c, iq, &pxmpp_disco_info_desc, &info) == 0;
    }
    if (pxmpp_iq_get_version_query(iq)) {
        pxmpp_version_query version = { .name = n->sw_name, .version = n->sw_version };
        return pxmpp_client_send_iq_result(n->c, iq, &pxmpp_version_query_desc, &version) == 0;
    }
    return false;
}

/* The client asks for the channel-binding data of the type its policy picked. */
static int on_channel_binding(void *user, pxmpp_cb_type type, unsigned char *buf, size_t cap, size_t *len)
{
    pxmpp_net *n = user;
    return pxmpp__channel_binding(n->ssl, (int)type, buf, cap, len);
}

/* The session was resumed (XEP-0198) on the new connection. */
static void on_resumed(void *user, size_t resent)
{
    pxmpp_net *n = user;
    session_established(n);
    if (n->cb.resumed)
        n->cb.resumed(n->user, resent);
}

static void on_stanza_lost(void *user, const char *xml, size_t len)
{
    pxmpp_net *n = user;
    if (n->cb.stanza_lost)
        n->cb.stanza_lost(n->user, xml, len);
}

/* A client session on the new connection. */
static void session_begin(pxmpp_net *n)
{
    static const pxmpp_client_callbacks ccb = {
        .write = on_write,
        .start_tls = on_start_tls,
        .ready = on_ready,
        .failed = on_failed,
        .message = on_message,
        .presence = on_presence,
        .subscription_request = on_subscription_request,
        .roster_push = on_roster_push,
        .iq_request = on_iq_request,
        .channel_binding = on_channel_binding,
        .closed = on_closed,
        .log = on_client_log,
        .resumed = on_resumed,
        .stanza_lost = on_stanza_lost,
    };
    int rc;
    if (n->c) {
        /* the same session on a new connection: its XEP-0198 state is kept, so it is resumed
           when the server allows */
        rc = pxmpp_client_reconnect(n->c);
    } else {
        rc = pxmpp_client_new(&n->c, &n->ccfg, &ccb, n);
    }
    if (rc == 0 && n->direct) /* XEP-0368: TLS is up already; the client binds the channel */
        rc = pxmpp_client_tls_ready(n->c, NULL, NULL, 0);
    n->ph = PH_STREAM;
    n->last_rx = now_ms();
    if (rc == 0) {
        n->client_live = true;
        pxmpp_client_tick(n->c, now_ms());
        rc = pxmpp_client_start(n->c);
    }
    if (rc != 0)
        set_end(n, rc, "cannot start the session: %s", pxmpp_strerror(rc));
}

/* ---- reading -------------------------------------------------------------------------- */

static void do_read(pxmpp_net *n)
{
    char buf[16384];
    while ((n->ph == PH_STREAM || n->ph == PH_CLOSING) && !n->tls_requested && !n->io_err) {
        long r = conn_read(n, buf, sizeof buf);
        if (r == -1)
            return;
        if (r == -2) {
            n->io_err = PXMPP_ERR_DISCONNECTED;
            return;
        }
        if (r == 0) { /* the server's end of the connection */
            if (n->end_code)
                connection_over(n, n->end_code, n->end_reason);
            else if (n->close_requested)
                connection_over(n, 0, "");
            else
                connection_over(n, PXMPP_ERR_DISCONNECTED, "the server closed the connection");
            return;
        }
        n->last_rx = now_ms();
        n->ping_deadline = 0;
        if (n->cb.received)
            n->cb.received(n->user, buf, (size_t)r);
        (void)pxmpp_client_feed(n->c, buf, (size_t)r); /* failures arrive through on_failed */
    }
}

/* ---- ending a connection -------------------------------------------------------------------- */

/* The connection is over (or the attempt found none): tear it down, then retry, or stop. */
static void connection_over(pxmpp_net *n, int code, const char *reason)
{
    char why[300];
    snprintf(why, sizeof why, "%s", reason && *reason ? reason : pxmpp_strerror(code));
    if (n->client_live) {
        n->client_live = false;
        (void)pxmpp_client_finish(n->c); /* tracked iqs end with PXMPP_ERR_CLOSED */
    }
    bool graceful = code == 0 || n->server_closed;
    socket_close(n, graceful);
    free_addrs(n);
    n->out_off = n->out_len = 0;
    n->io_err = 0;
    n->tls_requested = false;
    n->deadline = n->ping_deadline = 0;
    bool was_ready = n->session_ready;
    n->session_ready = false;
    n->server_closed = false;
    pxmpp_stream_error_condition cond = n->end_cond;
    n->end_code = 0;
    n->end_cond = PXMPP_STREAM_ERROR_CONDITION_ABSENT;
    n->end_reason[0] = '\0';

    if (n->close_requested) {
        finish(n, 0, "");
        return;
    }
    n->failures = was_ready ? 1 : n->failures + 1;
    if (permanent(code, cond) || n->reconnect == 0) {
        finish(n, code, why);
        return;
    }
    if (n->reconnect > 0 && n->failures > n->reconnect) {
        char gave_up[400];
        snprintf(gave_up, sizeof gave_up, "gave up after %d retr%s: %s", n->reconnect, n->reconnect == 1 ? "y" : "ies",
                 why);
        finish(n, code, gave_up);
        return;
    }
    uint32_t delay = pxmpp__backoff_ms(n->backoff_min, n->backoff_max, (unsigned)n->failures, &n->rng);
    n->ph = PH_WAIT;
    n->retry_at = now_ms() + delay;
    nlog(n, "disconnected (%s); retry %d in %u ms", why, n->failures, (unsigned)delay);
    if (n->cb.disconnected)
        n->cb.disconnected(n->user, code, why, delay);
}

/* Acts on what the client's callbacks and the app recorded, until nothing is left to do. */
static void settle(pxmpp_net *n)
{
    for (;;) {
        if ((n->ph == PH_STREAM || n->ph == PH_CLOSING) && n->io_err) {
            connection_over(n, n->end_code ? n->end_code : n->io_err,
                            n->end_code ? n->end_reason : n->io_reason);
            continue;
        }
        if (n->ph == PH_STREAM && n->tls_requested && !n->end_code && !n->close_requested) {
            n->tls_requested = false;
            tls_begin(n);
            continue;
        }
        if (n->ph == PH_STREAM && (n->end_code || n->close_requested || n->server_closed)) {
            if (n->close_requested && !n->end_code)
                (void)pxmpp_client_close(n->c); /* PXMPP_ERR_STATE when closed already */
            n->tls_requested = false;
            n->ph = PH_CLOSING;
            n->close_at = now_ms() + n->close_timeout;
            flush(n);
            continue;
        }
        if (n->ph == PH_CLOSING && n->server_closed && !out_pending(n)) {
            connection_over(n, n->close_requested ? 0 : n->end_code, n->end_reason);
            continue;
        }
        if (n->close_requested && (n->ph == PH_CONNECT || n->ph == PH_HANDSHAKE || n->ph == PH_WAIT)) {
            connection_over(n, 0, "");
            continue;
        }
        return;
    }
}

/* ---- timers --------------------------------------------------------------------------- */

static void on_ping_reply(void *user, const pxmpp_iq *reply, int status)
{
    (void)user;
    (void)reply;
    (void)status; /* any answer, even an error, came with received bytes: last_rx */
}

static void send_keepalive(pxmpp_net *n, uint64_t now)
{
    n->ka_sent = now;
    if (n->keepalive == PXMPP_NET_KEEPALIVE_WHITESPACE) {
        if (queue(n, " ", 1) == 0)
            flush(n);
        return;
    }
    pxmpp_arena_reset(n->tmp);
    pxmpp_ping *p = pxmpp_new(n->tmp, &pxmpp_ping_desc);
    pxmpp_iq *iq = p ? pxmpp_build_iq(n->tmp, PXMPP_IQ_TYPE_GET, n->domain, NULL, &pxmpp_ping_desc, p) : NULL;
    if (iq && pxmpp_client_send_iq(n->c, iq, n->ka_timeout + TICK_MS, on_ping_reply, n) == 0)
        n->ping_deadline = now + n->ka_timeout;
    pxmpp_arena_reset(n->tmp);
}

static void timers(pxmpp_net *n)
{
    uint64_t now = now_ms();
    switch (n->ph) {
    case PH_CONNECT:
        if (now >= n->deadline) {
            const pxmpp__target *t = &n->targets[n->ti];
            set_fail(n, RANK_CONNECT, PXMPP_ERR_CONNECT, "cannot connect to %s port %u: timed out", t->host,
                     (unsigned)t->port);
            socket_close(n, false);
            next_address(n);
        }
        break;
    case PH_HANDSHAKE:
        if (n->deadline && now >= n->deadline)
            tls_failed(n, "handshake timed out");
        break;
    case PH_STREAM:
        if (n->c)
            pxmpp_client_tick(n->c, now);
        if (n->deadline && now >= n->deadline) {
            char why[128];
            snprintf(why, sizeof why, "no session within %u ms of connecting", (unsigned)n->connect_timeout);
            connection_over(n, PXMPP_ERR_TIMEOUT, why);
            break;
        }
        if (!n->session_ready || n->keepalive == PXMPP_NET_KEEPALIVE_OFF)
            break;
        if (n->ping_deadline && now >= n->ping_deadline) {
            char why[128];
            snprintf(why, sizeof why, "no answer to a keepalive ping within %u ms", (unsigned)n->ka_timeout);
            connection_over(n, PXMPP_ERR_DISCONNECTED, why);
            break;
        }
        if (!n->ping_deadline && now - (n->last_rx > n->ka_sent ? n->last_rx : n->ka_sent) >= n->ka_ms)
            send_keepalive(n, now);
        break;
    case PH_CLOSING:
        if (n->c)
            pxmpp_client_tick(n->c, now);
        if (now >= n->close_at)
            connection_over(n, n->close_requested ? 0 : n->end_code, n->end_reason);
        break;
    case PH_WAIT:
        if (now >= n->retry_at) {
            nlog(n, "retry %d", n->failures);
            attempt_begin(n);
        }
        break;
    case PH_IDLE:
    case PH_DONE:
        break;
    }
}

/* ---- public API ------------------------------------------------------------------------- */

static int copy_config(pxmpp_net *n, const pxmpp_net_config *cfg)
{
    const pxmpp_mem *m = &n->mem;
    const pxmpp_client_config *cc = &cfg->client;
    n->jid = mdup(m, cc->jid);
    n->password = mdup(m, cc->password);
    n->resource = mdup(m, cc->resource);
    n->mechanisms = mdup(m, cc->mechanisms);
    n->host = mdup(m, cfg->host);
    n->cafile = mdup(m, cfg->cafile);
    n->dns_server = mdup(m, cfg->dns_server);
    n->sw_name = mdup(m, cfg->software_name ? cfg->software_name : "pxmpp");
    n->sw_version = mdup(m, cfg->software_version ? cfg->software_version : PXMPP_VERSION_STRING);
    n->id_type = mdup(m, cfg->identity_type ? cfg->identity_type : "bot");
    if (!n->jid || !n->password || (cc->resource && !n->resource) || (cc->mechanisms && !n->mechanisms) ||
        (cfg->host && !n->host) || (cfg->cafile && !n->cafile) || (cfg->dns_server && !n->dns_server) ||
        !n->sw_name || !n->sw_version || !n->id_type)
        return PXMPP_ERR_NOMEM;
    n->ccfg = *cc;
    n->ccfg.jid = n->jid;
    n->ccfg.password = n->password;
    n->ccfg.resource = n->resource;
    n->ccfg.mechanisms = n->mechanisms;
    n->ccfg.mem = m;
    n->port = cfg->port;
    n->direct_tls = cfg->direct_tls;
    n->auto_approve = cfg->auto_approve;
    n->dns_timeout = cfg->dns_timeout_ms ? cfg->dns_timeout_ms : 5000;
    n->connect_timeout = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 15000;
    n->keepalive = cfg->keepalive;
    n->ka_ms = cfg->keepalive_ms ? cfg->keepalive_ms : 60000;
    n->ka_timeout = cfg->keepalive_timeout_ms ? cfg->keepalive_timeout_ms : 20000;
    n->reconnect = cfg->reconnect;
    n->backoff_min = cfg->backoff_min_ms ? cfg->backoff_min_ms : 500;
    n->backoff_max = cfg->backoff_max_ms ? cfg->backoff_max_ms : 8000;
    n->close_timeout = cfg->close_timeout_ms ? cfg->close_timeout_ms : 2000;
    return 0;
}

/* The JID's domain, and its A-label form for DNS and TLS. */
static int set_domain(pxmpp_net *n)
{
    pxmpp_jid *j = n->mem.malloc(sizeof *j, n->mem.ud);
    if (!j)
        return PXMPP_ERR_NOMEM;
    int rc = pxmpp_jid_parse(j, n->jid, strlen(n->jid), PXMPP_JID_NORMALIZE);
    if (rc == 0 && !j->has_local)
        rc = PXMPP_ERR_INVALID_ARGUMENT;
    if (rc == 0)
        n->domain = mdup(&n->mem, j->domain);
    n->mem.free(j, n->mem.ud);
    if (rc)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!n->domain)
        return PXMPP_ERR_NOMEM;
    char *ascii = NULL;
    if (idna_to_ascii_8z(n->domain, &ascii, 0) != IDNA_SUCCESS || !ascii) {
        free(ascii);
        return PXMPP_ERR_INVALID_ARGUMENT;
    }
    n->domain_ascii = mdup(&n->mem, ascii);
    free(ascii);
    return n->domain_ascii ? 0 : PXMPP_ERR_NOMEM;
}

static int make_tls_context(pxmpp_net *n)
{
    ERR_clear_error();
    n->ctx = SSL_CTX_new(TLS_client_method());
    if (!n->ctx)
        return PXMPP_ERR_TLS;
    SSL_CTX_set_min_proto_version(n->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(n->ctx, SSL_VERIFY_PEER, NULL);
    /* the output queue may move and grow between retries of SSL_write */
    SSL_CTX_set_mode(n->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* a server that drops the connection without close_notify is seen as EOF; the XMPP
       layer tells a clean end from a truncated one */
    SSL_CTX_set_options(n->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    int ok = n->cafile ? SSL_CTX_load_verify_locations(n->ctx, n->cafile, NULL)
                       : SSL_CTX_set_default_verify_paths(n->ctx);
    return ok == 1 ? 0 : PXMPP_ERR_TLS;
}

int pxmpp_net_new(pxmpp_net **out, const pxmpp_net_config *cfg, const pxmpp_net_callbacks *cb, void *user)
{
    if (!out)
        return PXMPP_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!cfg || !cb || !cfg->client.jid || !cfg->client.password || cfg->reconnect < -1 ||
        (cfg->backoff_min_ms && cfg->backoff_max_ms && cfg->backoff_min_ms > cfg->backoff_max_ms) ||
        (unsigned)cfg->keepalive > PXMPP_NET_KEEPALIVE_OFF)
        return PXMPP_ERR_INVALID_ARGUMENT;
    uint32_t addr;
    uint16_t port;
    if (cfg->dns_server && pxmpp__parse_dns_server(cfg->dns_server, &addr, &port) != 0)
        return PXMPP_ERR_INVALID_ARGUMENT;
    const pxmpp_mem *mem = cfg->client.mem ? cfg->client.mem : pxmpp_mem_default();
    pxmpp_net *n = mem->malloc(sizeof *n, mem->ud);
    if (!n)
        return PXMPP_ERR_NOMEM;
    memset(n, 0, sizeof *n);
    n->mem = *mem;
    n->cb = *cb;
    n->user = user;
    n->fd = -1;
    n->rng = ((uint64_t)now_ms() << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)n;
    if (!n->rng)
        n->rng = 0x9E3779B97F4A7C15ULL;
    int rc = copy_config(n, cfg);
    if (rc == 0)
        rc = set_domain(n);
    if (rc == 0)
        rc = pxmpp_arena_new(&n->tmp, &n->mem, 0);
    if (rc == 0) {
        /* the session configuration is checked once now (mechanism list, JID) */
        static const pxmpp_client_callbacks probe = { .write = on_write };
        pxmpp_client *c = NULL;
        rc = pxmpp_client_new(&c, &n->ccfg, &probe, n);
        pxmpp_client_free(c);
    }
    if (rc == 0)
        rc = make_tls_context(n);
    if (rc) {
        pxmpp_net_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

void pxmpp_net_free(pxmpp_net *n)
{
    if (!n)
        return;
    socket_close(n, false);
    free_addrs(n);
    pxmpp_client_free(n->c);
    SSL_CTX_free(n->ctx);
    pxmpp_arena_free(n->tmp);
    const pxmpp_mem *m = &n->mem;
    mfree(m, n->password, true);
    char *strings[] = { n->jid, n->resource, n->mechanisms, n->host, n->cafile, n->dns_server,
                        n->sw_name, n->sw_version, n->id_type, n->domain, n->domain_ascii, n->out };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        mfree(m, strings[i], false);
    pxmpp_mem copy = *m;
    copy.free(n, copy.ud);
}

static int final_status(const pxmpp_net *n)
{
    return n->final_code ? n->final_code : 1;
}

int pxmpp_net_start(pxmpp_net *n)
{
    if (!n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (n->started)
        return PXMPP_ERR_STATE;
    n->started = true;
    nlog(n, "connecting as %s", n->jid);
    attempt_begin(n);
    settle(n);
    return n->ph == PH_DONE && n->final_code ? n->final_code : 0;
}

int pxmpp_net_fd(const pxmpp_net *n)
{
    if (!n || n->ph == PH_DONE || n->ph == PH_WAIT)
        return -1;
    return n->fd;
}

short pxmpp_net_events(const pxmpp_net *n)
{
    if (!n || n->fd < 0)
        return 0;
    switch (n->ph) {
    case PH_CONNECT:
        return POLLOUT;
    case PH_HANDSHAKE:
        return n->hs_wants ? n->hs_wants : POLLIN;
    case PH_STREAM:
    case PH_CLOSING: {
        short ev = POLLIN;
        if (n->rd_wants == POLLOUT)
            ev |= POLLOUT;
        if (out_pending(n))
            ev |= n->wr_wants ? n->wr_wants : POLLOUT;
        return ev;
    }
    default:
        return 0;
    }
}

/* The earliest of the timers, as milliseconds from now. */
int pxmpp_net_timeout_ms(const pxmpp_net *n)
{
    if (!n || n->ph == PH_DONE || n->ph == PH_IDLE)
        return -1;
    if (n->io_err || n->tls_requested || (n->ssl && SSL_pending(n->ssl) > 0) ||
        (n->ph == PH_STREAM && (n->end_code || n->close_requested || n->server_closed)) ||
        (n->close_requested && n->ph != PH_CLOSING))
        return 0;
    uint64_t now = now_ms();
    uint64_t due = UINT64_MAX;
    switch (n->ph) {
    case PH_CONNECT:
    case PH_HANDSHAKE:
        due = n->deadline;
        break;
    case PH_STREAM:
        due = now + TICK_MS;
        if (n->deadline && n->deadline < due)
            due = n->deadline;
        if (n->session_ready && n->keepalive != PXMPP_NET_KEEPALIVE_OFF) {
            uint64_t ka = n->ping_deadline
                              ? n->ping_deadline
                              : (n->last_rx > n->ka_sent ? n->last_rx : n->ka_sent) + n->ka_ms;
            if (ka < due)
                due = ka;
        }
        break;
    case PH_CLOSING:
        due = n->close_at < now + TICK_MS ? n->close_at : now + TICK_MS;
        break;
    case PH_WAIT:
        due = n->retry_at;
        break;
    default:
        break;
    }
    if (due <= now)
        return 0;
    return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

int pxmpp_net_process(pxmpp_net *n, short revents)
{
    if (!n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!n->started)
        return PXMPP_ERR_STATE;
    if (n->ph == PH_DONE)
        return final_status(n);
    switch (n->ph) {
    case PH_CONNECT:
        if (revents & (POLLOUT | POLLERR | POLLHUP))
            connect_done(n);
        break;
    case PH_HANDSHAKE:
        if (revents)
            handshake_step(n);
        break;
    case PH_STREAM:
    case PH_CLOSING:
        if ((revents & (POLLIN | POLLERR | POLLHUP)) || (n->rd_wants == POLLOUT && (revents & POLLOUT)) ||
            (n->ssl && SSL_pending(n->ssl) > 0))
            do_read(n);
        flush(n);
        break;
    default:
        break;
    }
    settle(n);
    timers(n);
    settle(n);
    return n->ph == PH_DONE ? final_status(n) : 0;
}

int pxmpp_net_run(pxmpp_net *n)
{
    if (!n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!n->started)
        (void)pxmpp_net_start(n);
    for (;;) {
        if (n->ph == PH_DONE)
            return n->final_code;
        struct pollfd p = { .fd = pxmpp_net_fd(n), .events = pxmpp_net_events(n), .revents = 0 };
        int r = poll(&p, 1, pxmpp_net_timeout_ms(n));
        int rc = pxmpp_net_process(n, r > 0 ? p.revents : 0);
        if (rc != 0)
            return rc == 1 ? 0 : rc;
    }
}

int pxmpp_net_close(pxmpp_net *n)
{
    if (!n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!n->started || n->close_requested || n->ph == PH_DONE)
        return PXMPP_ERR_STATE;
    n->close_requested = true;
    return 0;
}

pxmpp_client *pxmpp_net_client(pxmpp_net *n)
{
    return n ? n->c : NULL;
}

int pxmpp_net_error(const pxmpp_net *n, const char **reason)
{
    if (reason)
        *reason = n && n->ph == PH_DONE && n->final_code ? n->final_reason : "";
    if (!n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    return n->ph == PH_DONE ? n->final_code : 0;
}

static int session_check(pxmpp_net *n)
{
    if (!n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!n->c || n->ph != PH_STREAM || !n->session_ready)
        return PXMPP_ERR_STATE;
    return 0;
}

static int send_text(pxmpp_net *n, const char *to, pxmpp_message_type type, const pxmpp_thread *thread,
                     const char *body)
{
    int rc = session_check(n);
    if (rc)
        return rc;
    if (!to || !body || pxmpp_jid_check(to, strlen(to)) != 0)
        return PXMPP_ERR_INVALID_ARGUMENT;
    char id[40];
    pxmpp_arena_reset(n->tmp);
    pxmpp_message *m = pxmpp_build_message(n->tmp, to, type, pxmpp_stream_make_id(pxmpp_client_stream(n->c), id, sizeof id));
    rc = m ? pxmpp_message_add_body(n->tmp, m, NULL, body) : PXMPP_ERR_NOMEM;
    if (rc == 0 && thread && thread->id)
        rc = pxmpp_message_set_thread(n->tmp, m, thread->id, thread->parent);
    if (rc == 0)
        rc = pxmpp_client_send_message(n->c, m);
    pxmpp_arena_reset(n->tmp);
    return rc;
}

int pxmpp_net_send_chat(pxmpp_net *n, const char *to, const char *body)
{
    return send_text(n, to, PXMPP_MESSAGE_TYPE_CHAT, NULL, body);
}

int pxmpp_net_reply(pxmpp_net *n, const pxmpp_message *to_this, const char *body)
{
    if (!n || !to_this || !body || !to_this->from || to_this->type == PXMPP_MESSAGE_TYPE_ERROR)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (to_this->type != PXMPP_MESSAGE_TYPE_GROUPCHAT)
        return send_text(n, to_this->from, to_this->type, to_this->thread, body);
    char room[PXMPP_JID_STR_MAX + 1];
    size_t len = strcspn(to_this->from, "/");
    if (len >= sizeof room)
        return PXMPP_ERR_INVALID_ARGUMENT;
    memcpy(room, to_this->from, len);
    room[len] = '\0';
    return send_text(n, room, PXMPP_MESSAGE_TYPE_GROUPCHAT, to_this->thread, body);
}

int pxmpp_net_send_presence(pxmpp_net *n, pxmpp_presence_show show, const char *status)
{
    int rc = session_check(n);
    if (rc)
        return rc;
    if ((unsigned)show > PXMPP_PRESENCE_SHOW_XA)
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_arena_reset(n->tmp);
    pxmpp_presence *p = pxmpp_build_presence(n->tmp, NULL, PXMPP_PRESENCE_TYPE_AVAILABLE);
    rc = p ? 0 : PXMPP_ERR_NOMEM;
    if (rc == 0) {
        p->show = show;
        if (status)
            rc = pxmpp_presence_add_status(n->tmp, p, NULL, status);
    }
    if (rc == 0)
        rc = pxmpp_client_send_presence(n->c, p);
    pxmpp_arena_reset(n->tmp);
    return rc;
}

SSL *pxmpp__net_ssl(struct pxmpp_net *n)
{
    return n ? n->ssl : NULL;
}
