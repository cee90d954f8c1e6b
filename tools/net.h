/* A small connection layer for the command-line client: a non-blocking TCP
 * socket, optionally wrapped in an OpenSSL client session, with every wait
 * bounded by a deadline on the monotonic clock. */
#ifndef PXMPP_TOOLS_NET_H
#define PXMPP_TOOLS_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* net_read() results besides a byte count. */
enum {
    NET_EOF = 0,      /* the peer closed the connection */
    NET_AGAIN = -1,   /* nothing to read now: poll for net->want_events */
    NET_ERROR = -2,   /* see net->err */
    NET_TIMEOUT = -3  /* the deadline passed */
};

typedef struct net_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;          /* NULL until net_start_tls() succeeded */
    short want_events; /* POLLIN or POLLOUT after NET_AGAIN */
    char err[256];     /* the reason of the last failure */
    int timed_out;     /* the last failure was the deadline passing */
    char tls_info[160]; /* protocol and cipher once TLS is up */
} net_conn;

/* Milliseconds of the monotonic clock. */
uint64_t net_now_ms(void);

/* Resolves host and connects to the first address that answers before the deadline.
 * The socket is left non-blocking.  Returns 0 or -1 (reason in n->err). */
int net_connect(net_conn *n, const char *host, const char *port, uint64_t deadline_ms);

/* Runs a TLS client handshake on the connected socket: certificate verification on,
 * trust anchors from cafile (NULL: the system's default paths), the certificate must
 * name verify_name, which is also sent as SNI.  Returns 0 or -1 (reason in n->err). */
int net_start_tls(net_conn *n, const char *cafile, const char *verify_name, uint64_t deadline_ms);

/* Channel-binding types net_channel_binding() computes. */
typedef enum net_cb_type {
    NET_CB_TLS_EXPORTER = 1,       /* RFC 9266, TLS 1.3 only */
    NET_CB_TLS_UNIQUE = 2,         /* RFC 5929 §3: the first Finished message */
    NET_CB_TLS_SERVER_END_POINT = 3 /* RFC 5929 §4: hash of the server certificate */
} net_cb_type;

/* Channel-binding data of type `type` for the TLS session.  Returns 0 with *len set,
 * or -1 when TLS is not up or this type cannot be computed on this connection. */
int net_channel_binding(net_conn *n, net_cb_type type, unsigned char *buf, size_t cap, size_t *len);

/* Reads what is available (through TLS when it is up): bytes > 0, NET_EOF,
 * NET_AGAIN or NET_ERROR.  Never blocks. */
ssize_t net_read(net_conn *n, void *buf, size_t cap);

/* Writes all of data, waiting for the socket as needed until the deadline.
 * Returns 0, NET_ERROR or NET_TIMEOUT. */
int net_write_all(net_conn *n, const void *data, size_t len, uint64_t deadline_ms);

/* Waits until the socket is ready for n->want_events (POLLIN when zero) or the
 * deadline.  Returns 1 ready, 0 deadline reached, -1 error.  Data already
 * decrypted and buffered by TLS counts as ready. */
int net_wait(net_conn *n, uint64_t deadline_ms);

/* Sends the TLS close_notify when TLS is up (without waiting for the peer's),
 * closes the socket and frees everything.  Safe to call twice. */
void net_close(net_conn *n);

#endif
