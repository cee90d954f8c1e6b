/* event_client: the whole life of an XMPP client session driven by an event loop:
 * a non-blocking socket, poll(), non-blocking OpenSSL and an explicit state
 * machine.  Nothing ever blocks except poll() itself, so the same structure fits
 * any event loop (epoll, kqueue, libuv, ...) with many connections.
 *
 *   PXMPP_PASSWORD=secret event_client JID HOST PORT CAFILE RECIPIENT
 *
 * Same lifecycle as blocking_client: connect, STARTTLS, authenticate, bind, print
 * the roster, send presence and one message to RECIPIENT, close.  CAFILE "-" uses
 * the system's trust anchors.
 *
 * The connection goes through these phases:
 *
 *   CONNECTING  non-blocking connect() in progress (wait for POLLOUT)
 *   PLAIN       stream in the clear until the server says <proceed/>
 *   HANDSHAKE   SSL_connect() driven by SSL_ERROR_WANT_READ / WANT_WRITE
 *   SECURE      everything through TLS; the client authenticates and runs
 *   DONE        closed or failed
 *
 * The client's `write` callback never touches the socket: it appends to an output
 * queue that the loop flushes when the socket is writable. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <pxmpp/client.h>
#include <pxmpp/pxmpp.h>

typedef enum phase { CONNECTING, PLAIN, HANDSHAKE, SECURE, DONE } phase;

typedef struct conn {
    phase phase;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    short ssl_wants;        /* POLLIN/POLLOUT asked for by the last SSL call that could not finish */
    char *out;              /* output queue: bytes the client wrote, not yet sent */
    size_t out_len, out_cap;
    pxmpp_client *client;
    const char *domain, *cafile, *recipient;
    int closed;             /* the server's close tag arrived */
    int status;
} conn;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fail(conn *k, const char *what)
{
    fprintf(stderr, "%s\n", what);
    k->status = 1;
    k->phase = DONE;
}

/* ---- client callbacks ------------------------------------------------------------ */

static int on_write(void *user, const char *data, size_t len)
{
    conn *k = user;
    if (k->out_len + len > k->out_cap) {
        size_t cap = (k->out_len + len) * 2;
        char *p = realloc(k->out, cap);
        if (!p)
            return -1;
        k->out = p;
        k->out_cap = cap;
    }
    memcpy(k->out + k->out_len, data, len);
    k->out_len += len;
    return 0;
}

/* <proceed/>: switch to the HANDSHAKE phase; the loop drives it, and calls
   pxmpp_client_tls_ready() once it completes. */
static int on_start_tls(void *user)
{
    conn *k = user;
    k->ctx = SSL_CTX_new(TLS_client_method());
    if (!k->ctx)
        return -1;
    SSL_CTX_set_min_proto_version(k->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(k->ctx, SSL_VERIFY_PEER, NULL);
    int ok = strcmp(k->cafile, "-") == 0 ? SSL_CTX_set_default_verify_paths(k->ctx)
                                        : SSL_CTX_load_verify_locations(k->ctx, k->cafile, NULL);
    k->ssl = ok == 1 ? SSL_new(k->ctx) : NULL;
    if (!k->ssl)
        return -1;
    /* the output queue may move between retries of SSL_write (realloc, consumed prefix) */
    SSL_set_mode(k->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_fd(k->ssl, k->fd);
    SSL_set_tlsext_host_name(k->ssl, k->domain);
    SSL_set1_host(k->ssl, k->domain);
    k->phase = HANDSHAKE;
    k->ssl_wants = POLLOUT; /* the ClientHello goes first */
    return 0;
}

static void on_roster(void *user, int status, const pxmpp_roster_item *items, size_t count, const char *ver,
                      bool unchanged)
{
    conn *k = user;
    (void)ver;
    (void)unchanged;
    if (status == 0) {
        printf("roster: %zu item(s)\n", count);
        for (size_t i = 0; i < count; i++)
            printf("  %s\n", items[i].jid);
    }
    pxmpp_arena *a = pxmpp_client_arena(k->client);
    pxmpp_presence *p = pxmpp_build_presence(a, NULL, PXMPP_PRESENCE_TYPE_AVAILABLE);
    if (p && pxmpp_client_send_presence(k->client, p) == 0)
        printf("presence sent\n");
    char id[40];
    pxmpp_message *m = pxmpp_build_message(a, k->recipient, PXMPP_MESSAGE_TYPE_CHAT,
                                           pxmpp_stream_make_id(pxmpp_client_stream(k->client), id, sizeof id));
    if (m && pxmpp_message_add_body(a, m, NULL, "Hello from an event loop.") == 0 &&
        pxmpp_client_send_message(k->client, m) == 0) {
        printf("message sent to %s\n", k->recipient);
        k->status = 0;
    }
    pxmpp_arena_reset(a);
    pxmpp_client_close(k->client);
}

static void on_ready(void *user, const char *jid)
{
    conn *k = user;
    printf("authenticated with %s, bound %s\n", pxmpp_client_mechanism(k->client), jid);
    if (pxmpp_client_roster_get(k->client, NULL, on_roster, k) != 0)
        pxmpp_client_close(k->client);
}

static void on_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    conn *k = user;
    const char *condition = pxmpp_stream_error_condition_str(cond); /* NULL unless a <stream:error/> */
    fprintf(stderr, "session failed (%s%s%s): %s\n", pxmpp_error_name(code), condition ? ", " : "",
            condition ? condition : "", reason);
    k->status = 1;
    k->closed = 1; /* nothing more will come; send what is queued (the close tag) and stop */
}

static void on_closed(void *user)
{
    conn *k = user;
    printf("stream closed\n");
    k->closed = 1;
}

static void on_log(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "  [pxmpp] %s\n", line);
}

/* ---- I/O steps: each one does what it can without blocking, then returns --------- */

/* CONNECTING: the socket became writable, so connect() finished one way or the other. */
static void step_connect(conn *k)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        fail(k, "cannot connect");
        return;
    }
    k->phase = PLAIN;
    pxmpp_client_start(k->client); /* queues our stream header */
}

/* HANDSHAKE: one more round of SSL_connect(). */
static void step_handshake(conn *k)
{
    int r = SSL_connect(k->ssl);
    if (r != 1) {
        int e = SSL_get_error(k->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            k->ssl_wants = POLLIN;
        } else if (e == SSL_ERROR_WANT_WRITE) {
            k->ssl_wants = POLLOUT;
        } else {
            long v = SSL_get_verify_result(k->ssl);
            fail(k, v != X509_V_OK ? X509_verify_cert_error_string(v) : "TLS handshake failed");
        }
        return;
    }
    k->ssl_wants = 0;
    k->phase = SECURE;
    printf("TLS: %s %s\n", SSL_get_version(k->ssl), SSL_get_cipher_name(k->ssl));

    /* channel binding: RFC 9266 tls-exporter for TLS 1.3, RFC 5929 tls-unique before */
    unsigned char cb[64];
    size_t cb_len = 32;
    const char *cb_type = "tls-exporter";
    if (SSL_version(k->ssl) == TLS1_3_VERSION) {
        static const char label[] = "EXPORTER-Channel-Binding";
        if (SSL_export_keying_material(k->ssl, cb, cb_len, label, sizeof label - 1, NULL, 0, 0) != 1)
            cb_type = NULL;
    } else {
        cb_type = "tls-unique";
        cb_len = SSL_get_finished(k->ssl, cb, sizeof cb);
    }
    if (pxmpp_client_tls_ready(k->client, cb_type, cb_type ? cb : NULL, cb_type ? cb_len : 0) != 0)
        fail(k, "cannot restart the stream");
}

/* PLAIN / SECURE: read everything available and feed it to the client. */
static void step_read(conn *k)
{
    char buf[8192];
    while (k->phase == PLAIN || k->phase == SECURE) {
        int n;
        if (k->ssl) {
            n = SSL_read(k->ssl, buf, sizeof buf);
            if (n <= 0) {
                int e = SSL_get_error(k->ssl, n);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    k->ssl_wants = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
                    return;
                }
                n = 0; /* close_notify, EOF or error: the connection is over */
            }
        } else {
            n = (int)recv(k->fd, buf, sizeof buf, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
        }
        if (n <= 0) {
            if (pxmpp_client_finish(k->client) != 0 && !k->closed)
                fail(k, "connection lost");
            k->closed = 1;
            return;
        }
        /* may switch the phase to HANDSHAKE (start_tls) or set `closed` */
        pxmpp_client_feed(k->client, buf, (size_t)n);
    }
}

/* PLAIN / SECURE: send as much of the output queue as the socket takes. */
static void step_write(conn *k)
{
    while (k->out_len > 0) {
        int n;
        if (k->ssl) {
            n = SSL_write(k->ssl, k->out, (int)k->out_len);
            if (n <= 0) {
                int e = SSL_get_error(k->ssl, n);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    k->ssl_wants = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
                    return;
                }
                fail(k, "TLS write failed");
                return;
            }
        } else {
            n = (int)send(k->fd, k->out, k->out_len, 0);
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    fail(k, "write failed");
                return;
            }
        }
        memmove(k->out, k->out + n, k->out_len - (size_t)n);
        k->out_len -= (size_t)n;
    }
}

/* Starts a non-blocking connect() to the first address of host (a real program
   would try the others when it fails). */
static int start_connect(conn *k, const char *host, const char *port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    k->fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    int rc = -1;
    if (k->fd >= 0 && fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK) == 0) {
        rc = connect(k->fd, res->ai_addr, res->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS)
            rc = 0; /* completes later: step_connect */
    }
    freeaddrinfo(res);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: PXMPP_PASSWORD=... %s JID HOST PORT CAFILE|- RECIPIENT\n", argv[0]);
        return 2;
    }
    const char *password = getenv("PXMPP_PASSWORD");
    pxmpp_jid account;
    if (!password || pxmpp_jid_parse(&account, argv[1], strlen(argv[1]), 0) != 0) {
        fprintf(stderr, "set PXMPP_PASSWORD and give a valid JID\n");
        return 2;
    }

    conn k = { .phase = CONNECTING, .fd = -1, .domain = account.domain, .cafile = argv[4],
               .recipient = argv[5], .status = 1 };
    pxmpp_client_config cfg = { .jid = argv[1], .password = password };
    pxmpp_client_callbacks cb = { .write = on_write, .start_tls = on_start_tls, .ready = on_ready,
                                  .failed = on_failed, .closed = on_closed, .log = on_log };
    if (pxmpp_client_new(&k.client, &cfg, &cb, &k) != 0)
        return 2;
    if (start_connect(&k, argv[2], argv[3]) != 0) {
        fprintf(stderr, "cannot connect to %s port %s\n", argv[2], argv[3]);
        pxmpp_client_free(k.client);
        return 1;
    }

    uint64_t deadline = now_ms() + 30000;
    while (k.phase != DONE) {
        /* the session is over once the server closed and our last bytes are out */
        if (k.closed && (k.out_len == 0 || k.phase == CONNECTING || k.phase == HANDSHAKE)) {
            k.phase = DONE;
            break;
        }
        if (now_ms() >= deadline) {
            fail(&k, "timed out");
            break;
        }

        /* what to wait for in this phase */
        short events = POLLIN;
        if (k.phase == CONNECTING)
            events = POLLOUT;
        else if (k.phase == HANDSHAKE)
            events = k.ssl_wants;
        else if (k.ssl_wants)
            events = k.ssl_wants | POLLIN;
        else if (k.out_len > 0)
            events |= POLLOUT;

        struct pollfd pfd = { .fd = k.fd, .events = events };
        int ready = k.ssl && SSL_pending(k.ssl) > 0 ? 1 : poll(&pfd, 1, 1000);
        pxmpp_client_tick(k.client, now_ms());
        if (ready < 0) {
            fail(&k, "poll failed");
            break;
        }
        if (ready == 0)
            continue;

        /* one step of the state machine */
        k.ssl_wants = 0;
        switch (k.phase) {
        case CONNECTING:
            step_connect(&k);
            break;
        case HANDSHAKE:
            step_handshake(&k);
            break;
        case PLAIN:
        case SECURE:
            step_read(&k);
            if (k.phase == PLAIN || k.phase == SECURE)
                step_write(&k);
            break;
        case DONE:
            break;
        }
        /* the handshake may have completed: flush the new stream header right away */
        if (k.phase == SECURE && k.out_len > 0 && !k.ssl_wants)
            step_write(&k);
    }

    if (k.ssl) {
        SSL_shutdown(k.ssl); /* close_notify; the peer's is not awaited */
        SSL_free(k.ssl);
    }
    SSL_CTX_free(k.ctx);
    if (k.fd >= 0)
        close(k.fd);
    free(k.out);
    pxmpp_client_free(k.client);
    return k.status;
}
