/* blocking_client: the whole life of an XMPP client session with a blocking socket,
 * a poll() loop and OpenSSL.
 *
 *   PXMPP_PASSWORD=secret blocking_client JID HOST PORT CAFILE RECIPIENT
 *
 * It connects to HOST:PORT, negotiates STARTTLS (the server certificate must be
 * valid for the JID's domain under the trust anchors in CAFILE, or the system's
 * when CAFILE is "-"), authenticates, binds a resource, prints the roster, sends
 * its presence and one message to RECIPIENT, and closes the stream.
 *
 * pxmpp does no I/O: the program reads from the socket and feeds the bytes to the
 * client with pxmpp_client_feed(); the client hands back the bytes to send through
 * the `write` callback and reports events through the other callbacks.  This
 * program does its work from inside those callbacks, which the library allows. */
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

typedef struct session {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;               /* NULL until STARTTLS is done */
    const char *domain;     /* the name the certificate must carry */
    const char *cafile;
    const char *recipient;
    pxmpp_client *client;
    int done;               /* 1 when the loop should stop */
    int status;             /* exit status */
} session;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- socket and TLS ------------------------------------------------------------- */

static int tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "cannot resolve %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "cannot connect to %s port %s\n", host, port);
    return fd;
}

/* Reads what the server sent: > 0 bytes, 0 at the end of the connection, < 0 on error. */
static int conn_read(session *s, char *buf, int cap)
{
    if (s->ssl) {
        int n = SSL_read(s->ssl, buf, cap);
        if (n <= 0 && SSL_get_error(s->ssl, n) == SSL_ERROR_ZERO_RETURN)
            return 0;
        return n;
    }
    return (int)recv(s->fd, buf, (size_t)cap, 0);
}

/* ---- client callbacks ------------------------------------------------------------ */

/* Everything the client sends goes through here, in the clear or through TLS. */
static int on_write(void *user, const char *data, size_t len)
{
    session *s = user;
    while (len > 0) {
        int n = s->ssl ? SSL_write(s->ssl, data, (int)len) : (int)send(s->fd, data, len, 0);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The server said <proceed/>: run the TLS handshake on the same socket, then tell
   the client, with the channel-binding data for the SCRAM -PLUS mechanisms. */
static int on_start_tls(void *user)
{
    session *s = user;
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (!s->ctx)
        return -1;
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
    int ok = strcmp(s->cafile, "-") == 0 ? SSL_CTX_set_default_verify_paths(s->ctx)
                                        : SSL_CTX_load_verify_locations(s->ctx, s->cafile, NULL);
    s->ssl = ok == 1 ? SSL_new(s->ctx) : NULL;
    if (!s->ssl)
        return -1;
    SSL_set_fd(s->ssl, s->fd);
    SSL_set_tlsext_host_name(s->ssl, s->domain); /* SNI */
    SSL_set1_host(s->ssl, s->domain);            /* the certificate must name the domain */
    if (SSL_connect(s->ssl) != 1) {
        long v = SSL_get_verify_result(s->ssl);
        fprintf(stderr, "TLS handshake failed: %s\n",
                v != X509_V_OK ? X509_verify_cert_error_string(v) : ERR_reason_error_string(ERR_get_error()));
        SSL_free(s->ssl);
        s->ssl = NULL;
        return -1;
    }
    printf("TLS: %s %s\n", SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl));

    unsigned char cb[64];
    size_t cb_len;
    const char *cb_type;
    if (SSL_version(s->ssl) == TLS1_3_VERSION) {
        /* RFC 9266 tls-exporter */
        static const char label[] = "EXPORTER-Channel-Binding";
        cb_type = "tls-exporter";
        cb_len = 32;
        if (SSL_export_keying_material(s->ssl, cb, cb_len, label, sizeof label - 1, NULL, 0, 0) != 1)
            cb_type = NULL;
    } else {
        /* RFC 5929 tls-unique: the first Finished message of the handshake (ours) */
        cb_type = "tls-unique";
        cb_len = SSL_get_finished(s->ssl, cb, sizeof cb);
    }
    return pxmpp_client_tls_ready(s->client, cb_type, cb_type ? cb : NULL, cb_type ? cb_len : 0) ? -1 : 0;
}

static void on_roster(void *user, int status, const pxmpp_roster_item *items, size_t count, const char *ver,
                      bool unchanged)
{
    session *s = user;
    (void)ver;
    (void)unchanged;
    if (status != 0) {
        fprintf(stderr, "roster: %s\n", pxmpp_strerror(status));
    } else {
        printf("roster: %zu item(s)\n", count);
        for (size_t i = 0; i < count; i++) {
            const char *sub = pxmpp_roster_subscription_str(items[i].subscription);
            printf("  %s%s%s (%s)\n", items[i].jid, items[i].name ? " " : "", items[i].name ? items[i].name : "",
                   sub ? sub : "none");
        }
    }

    /* available presence, then one message */
    pxmpp_arena *a = pxmpp_client_arena(s->client);
    pxmpp_presence *p = pxmpp_build_presence(a, NULL, PXMPP_PRESENCE_TYPE_AVAILABLE);
    if (p && pxmpp_client_send_presence(s->client, p) == 0)
        printf("presence sent\n");

    char id[40];
    pxmpp_message *m = pxmpp_build_message(a, s->recipient, PXMPP_MESSAGE_TYPE_CHAT,
                                           pxmpp_stream_make_id(pxmpp_client_stream(s->client), id, sizeof id));
    if (m && pxmpp_message_add_body(a, m, NULL, "Hello from pxmpp.") == 0 &&
        pxmpp_client_send_message(s->client, m) == 0) {
        printf("message sent to %s\n", s->recipient);
        s->status = 0;
    }
    pxmpp_arena_reset(a);

    /* the close tag; `closed` follows when the server answers with its own */
    pxmpp_client_close(s->client);
}

static void on_ready(void *user, const char *jid)
{
    session *s = user;
    printf("authenticated with %s, bound %s\n", pxmpp_client_mechanism(s->client), jid);
    if (pxmpp_client_roster_get(s->client, NULL, on_roster, s) != 0)
        pxmpp_client_close(s->client);
}

static void on_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    session *s = user;
    const char *condition = pxmpp_stream_error_condition_str(cond); /* NULL unless a <stream:error/> */
    fprintf(stderr, "session failed (%s%s%s): %s\n", pxmpp_error_name(code), condition ? ", " : "",
            condition ? condition : "", reason);
    s->status = 1;
    s->done = 1;
}

static void on_message(void *user, const pxmpp_message *m)
{
    (void)user;
    if (m->type == PXMPP_MESSAGE_TYPE_ERROR) /* for instance: the recipient is offline */
        printf("error from %s: %s\n", m->from ? m->from : "?",
               m->error ? pxmpp_stanza_error_condition_str(m->error->condition) : "?");
    else
        printf("message from %s: %s\n", m->from ? m->from : "?",
               m->bodies_count ? m->bodies[0].text : "(no body)");
}

static void on_closed(void *user)
{
    session *s = user;
    printf("stream closed\n");
    s->done = 1;
}

static void on_log(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "  [pxmpp] %s\n", line);
}

/* ---- main loop ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: PXMPP_PASSWORD=... %s JID HOST PORT CAFILE|- RECIPIENT\n", argv[0]);
        return 2;
    }
    const char *password = getenv("PXMPP_PASSWORD");
    if (!password) {
        fprintf(stderr, "set PXMPP_PASSWORD\n");
        return 2;
    }
    pxmpp_jid account;
    if (pxmpp_jid_parse(&account, argv[1], strlen(argv[1]), 0) != 0) {
        fprintf(stderr, "invalid JID %s\n", argv[1]);
        return 2;
    }

    session s = { .fd = -1, .domain = account.domain, .cafile = argv[4], .recipient = argv[5], .status = 1 };
    pxmpp_client_config cfg = { .jid = argv[1], .password = password, .tls = PXMPP_TLS_REQUIRED };
    pxmpp_client_callbacks cb = { .write = on_write, .start_tls = on_start_tls, .ready = on_ready,
                                  .failed = on_failed, .message = on_message, .closed = on_closed,
                                  .log = on_log };
    if (pxmpp_client_new(&s.client, &cfg, &cb, &s) != 0) {
        fprintf(stderr, "invalid configuration\n");
        return 2;
    }

    s.fd = tcp_connect(argv[2], argv[3]);
    if (s.fd < 0 || pxmpp_client_start(s.client) != 0) {
        pxmpp_client_free(s.client);
        return 1;
    }

    uint64_t deadline = now_ms() + 30000;
    char buf[8192];
    while (!s.done) {
        if (now_ms() >= deadline) {
            fprintf(stderr, "timed out\n");
            s.status = 1;
            break;
        }
        /* bytes TLS has already decrypted do not show up in poll() */
        if (!(s.ssl && SSL_pending(s.ssl) > 0)) {
            struct pollfd pfd = { .fd = s.fd, .events = POLLIN };
            if (poll(&pfd, 1, 1000) < 0)
                break;
            pxmpp_client_tick(s.client, now_ms()); /* lets the client expire iqs */
            if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
        }
        int n = conn_read(&s, buf, sizeof buf);
        if (n <= 0) {
            if (pxmpp_client_finish(s.client) != 0)
                fprintf(stderr, "connection lost\n");
            break;
        }
        pxmpp_client_feed(s.client, buf, (size_t)n); /* errors arrive through on_failed */
    }

    if (s.ssl) {
        SSL_shutdown(s.ssl);
        SSL_free(s.ssl);
    }
    SSL_CTX_free(s.ctx);
    close(s.fd);
    pxmpp_client_free(s.client);
    return s.status;
}
