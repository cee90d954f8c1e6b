/* Connection layer of pxmpp-client: see net.h. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

uint64_t net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void set_err(net_conn *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->err, sizeof n->err, fmt, ap);
    va_end(ap);
}

/* The most recent OpenSSL error as text, or fallback when the queue is empty. */
static const char *ssl_reason(char *buf, size_t cap, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (!e)
        return fallback;
    ERR_error_string_n(e, buf, cap);
    return buf;
}

static int poll_timeout(uint64_t deadline_ms)
{
    uint64_t now = net_now_ms();
    if (now >= deadline_ms)
        return 0;
    uint64_t left = deadline_ms - now;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* Waits for events on fd until the deadline: 1 ready, 0 deadline, -1 error (errno set). */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
        int r = poll(&p, 1, poll_timeout(deadline_ms));
        if (r > 0)
            return 1;
        if (r == 0) {
            if (net_now_ms() >= deadline_ms)
                return 0;
            continue; /* woke up a little early */
        }
        if (errno != EINTR)
            return -1;
    }
}

int net_connect(net_conn *n, const char *host, const char *port, uint64_t deadline_ms)
{
    memset(n, 0, sizeof *n);
    n->fd = -1;

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        set_err(n, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }

    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int flags = fcntl(fd, F_GETFL, 0);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
            last_errno = errno;
            close(fd);
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline_ms);
            if (w == 0) {
                close(fd);
                freeaddrinfo(res);
                set_err(n, "cannot connect to %s port %s: timed out", host, port);
                n->timed_out = 1;
                return -1;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w < 0)
                soerr = errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            rc = soerr ? -1 : 0;
            errno = soerr;
        }
        if (rc < 0) {
            last_errno = errno;
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        n->fd = fd;
        break;
    }
    freeaddrinfo(res);
    if (n->fd < 0) {
        set_err(n, "cannot connect to %s port %s: %s", host, port,
                last_errno ? strerror(last_errno) : "no usable address");
        return -1;
    }
    return 0;
}

int net_start_tls(net_conn *n, const char *cafile, const char *verify_name, uint64_t deadline_ms)
{
    char ebuf[256];
    ERR_clear_error();
    n->ctx = SSL_CTX_new(TLS_client_method());
    if (!n->ctx) {
        set_err(n, "TLS: %s", ssl_reason(ebuf, sizeof ebuf, "cannot create a context"));
        return -1;
    }
    SSL_CTX_set_min_proto_version(n->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(n->ctx, SSL_VERIFY_PEER, NULL);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* A server that drops the connection without close_notify is seen as EOF; the XMPP
       layer tells a clean end (</stream:stream> received) from a truncated one. */
    SSL_CTX_set_options(n->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    int ok = cafile ? SSL_CTX_load_verify_locations(n->ctx, cafile, NULL)
                    : SSL_CTX_set_default_verify_paths(n->ctx);
    if (ok != 1) {
        set_err(n, "TLS: cannot load trust anchors%s%s: %s", cafile ? " from " : "", cafile ? cafile : "",
                ssl_reason(ebuf, sizeof ebuf, "unknown error"));
        return -1;
    }

    n->ssl = SSL_new(n->ctx);
    if (!n->ssl || SSL_set_fd(n->ssl, n->fd) != 1 || SSL_set_tlsext_host_name(n->ssl, verify_name) != 1 ||
        SSL_set1_host(n->ssl, verify_name) != 1) {
        set_err(n, "TLS: %s", ssl_reason(ebuf, sizeof ebuf, "cannot set up the session"));
        goto fail;
    }

    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(n->ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(n->ssl, r);
        short ev;
        if (e == SSL_ERROR_WANT_READ)
            ev = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            ev = POLLOUT;
        else {
            long v = SSL_get_verify_result(n->ssl);
            if (v != X509_V_OK)
                set_err(n, "TLS: certificate verification failed for %s: %s", verify_name,
                        X509_verify_cert_error_string(v));
            else if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
                set_err(n, "TLS: handshake failed: %s", errno ? strerror(errno) : "connection closed by the server");
            else
                set_err(n, "TLS: handshake failed: %s", ssl_reason(ebuf, sizeof ebuf, "unknown error"));
            goto fail;
        }
        int w = wait_fd(n->fd, ev, deadline_ms);
        if (w == 0) {
            set_err(n, "TLS: handshake timed out");
            n->timed_out = 1;
            goto fail;
        }
        if (w < 0) {
            set_err(n, "TLS: %s", strerror(errno));
            goto fail;
        }
    }
    snprintf(n->tls_info, sizeof n->tls_info, "%s %s", SSL_get_version(n->ssl), SSL_get_cipher_name(n->ssl));
    return 0;

fail:
    SSL_free(n->ssl);
    n->ssl = NULL;
    SSL_CTX_free(n->ctx);
    n->ctx = NULL;
    return -1;
}

int net_channel_binding(net_conn *n, net_cb_type type, unsigned char *buf, size_t cap, size_t *len)
{
    static const char label[] = "EXPORTER-Channel-Binding";
    *len = 0;
    if (!n->ssl)
        return -1;
    if (type == NET_CB_TLS_EXPORTER) {
        /* RFC 9266: 32 bytes, no context; defined for TLS 1.3 only */
        if (SSL_version(n->ssl) < TLS1_3_VERSION || cap < 32 ||
            SSL_export_keying_material(n->ssl, buf, 32, label, sizeof label - 1, NULL, 0, 0) != 1)
            return -1;
        *len = 32;
        return 0;
    }
    if (type == NET_CB_TLS_UNIQUE) {
        /* RFC 5929 §3.1: the first Finished message of the handshake, ours in a full handshake
           and the server's in a resumed one (computed the same way under TLS 1.3, as servers
           that offer it there do) */
        size_t l = SSL_session_reused(n->ssl) ? SSL_get_peer_finished(n->ssl, buf, cap)
                                              : SSL_get_finished(n->ssl, buf, cap);
        if (l == 0 || l > cap)
            return -1;
        *len = l;
        return 0;
    }
    if (type == NET_CB_TLS_SERVER_END_POINT) {
        /* RFC 5929 §4.1: the server certificate hashed with its signature's hash, SHA-256
           when that is MD5 or SHA-1 */
        X509 *cert = SSL_get1_peer_certificate(n->ssl);
        int md_nid = NID_undef;
        if (!cert || !OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL))
            md_nid = NID_undef;
        if (md_nid == NID_md5 || md_nid == NID_sha1)
            md_nid = NID_sha256;
        const EVP_MD *md = md_nid == NID_undef ? NULL : EVP_get_digestbynid(md_nid);
        unsigned int l = 0;
        int ok = cert && md && (size_t)EVP_MD_get_size(md) <= cap && X509_digest(cert, md, buf, &l) == 1;
        X509_free(cert);
        if (!ok)
            return -1;
        *len = l;
        return 0;
    }
    return -1;
}

ssize_t net_read(net_conn *n, void *buf, size_t cap)
{
    if (cap > INT_MAX)
        cap = INT_MAX;
    if (n->ssl) {
        ERR_clear_error();
        int r = SSL_read(n->ssl, buf, (int)cap);
        if (r > 0)
            return r;
        int e = SSL_get_error(n->ssl, r);
        switch (e) {
        case SSL_ERROR_ZERO_RETURN:
            return NET_EOF;
        case SSL_ERROR_WANT_READ:
            n->want_events = POLLIN;
            return NET_AGAIN;
        case SSL_ERROR_WANT_WRITE:
            n->want_events = POLLOUT;
            return NET_AGAIN;
        case SSL_ERROR_SYSCALL:
            if (ERR_peek_last_error() == 0 && (r == 0 || errno == 0))
                return NET_EOF;
            set_err(n, "read: %s", strerror(errno));
            return NET_ERROR;
        default: {
            char ebuf[256];
            set_err(n, "TLS read: %s", ssl_reason(ebuf, sizeof ebuf, "unknown error"));
            return NET_ERROR;
        }
        }
    }
    for (;;) {
        ssize_t r = recv(n->fd, buf, cap, 0);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            n->want_events = POLLIN;
            return NET_AGAIN;
        }
        set_err(n, "read: %s", strerror(errno));
        return NET_ERROR;
    }
}

int net_write_all(net_conn *n, const void *data, size_t len, uint64_t deadline_ms)
{
    const char *p = data;
    while (len > 0) {
        short ev;
        if (n->ssl) {
            int chunk = len > INT_MAX ? INT_MAX : (int)len;
            ERR_clear_error();
            int r = SSL_write(n->ssl, p, chunk);
            if (r > 0) {
                p += r;
                len -= (size_t)r;
                continue;
            }
            int e = SSL_get_error(n->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE)
                ev = POLLOUT;
            else if (e == SSL_ERROR_WANT_READ)
                ev = POLLIN;
            else {
                char ebuf[256];
                if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
                    set_err(n, "write: %s", errno ? strerror(errno) : "connection closed");
                else
                    set_err(n, "TLS write: %s", ssl_reason(ebuf, sizeof ebuf, "unknown error"));
                return NET_ERROR;
            }
        } else {
            ssize_t r = send(n->fd, p, len, 0);
            if (r >= 0) {
                p += r;
                len -= (size_t)r;
                continue;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                set_err(n, "write: %s", strerror(errno));
                return NET_ERROR;
            }
            ev = POLLOUT;
        }
        int w = wait_fd(n->fd, ev, deadline_ms);
        if (w == 0) {
            set_err(n, "write: timed out");
            n->timed_out = 1;
            return NET_TIMEOUT;
        }
        if (w < 0) {
            set_err(n, "write: %s", strerror(errno));
            return NET_ERROR;
        }
    }
    return 0;
}

int net_wait(net_conn *n, uint64_t deadline_ms)
{
    if (n->ssl && SSL_pending(n->ssl) > 0)
        return 1;
    int r = wait_fd(n->fd, n->want_events ? n->want_events : POLLIN, deadline_ms);
    n->want_events = 0;
    return r;
}

void net_close(net_conn *n)
{
    if (n->ssl) {
        ERR_clear_error();
        (void)SSL_shutdown(n->ssl); /* our close_notify; the peer's is not awaited */
        SSL_free(n->ssl);
        n->ssl = NULL;
    }
    if (n->ctx) {
        SSL_CTX_free(n->ctx);
        n->ctx = NULL;
    }
    if (n->fd >= 0) {
        close(n->fd);
        n->fd = -1;
    }
}
