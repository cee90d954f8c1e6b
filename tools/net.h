/* A small connection layer for pxmpp-component: a non-blocking TCP socket with
 * every wait bounded by a deadline on the monotonic clock.  (XEP-0114 has no TLS;
 * client connections, with TLS, go through pxmpp_net.) */
#ifndef PXMPP_TOOLS_NET_H
#define PXMPP_TOOLS_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* net_read() results besides a byte count. */
enum {
    NET_EOF = 0,      /* the peer closed the connection */
    NET_AGAIN = -1,   /* nothing to read now: poll for net->want_events */
    NET_ERROR = -2,   /* see net->err */
    NET_TIMEOUT = -3  /* the deadline passed */
};

typedef struct net_conn {
    int fd;
    short want_events; /* POLLIN or POLLOUT after NET_AGAIN */
    char err[256];     /* the reason of the last failure */
    int timed_out;     /* the last failure was the deadline passing */
} net_conn;

/* Milliseconds of the monotonic clock. */
uint64_t net_now_ms(void);

/* Resolves host and connects to the first address that answers before the deadline.
 * The socket is left non-blocking.  Returns 0 or -1 (reason in n->err). */
int net_connect(net_conn *n, const char *host, const char *port, uint64_t deadline_ms);

/* Reads what is available: bytes > 0, NET_EOF, NET_AGAIN or NET_ERROR.  Never blocks. */
ssize_t net_read(net_conn *n, void *buf, size_t cap);

/* Writes all of data, waiting for the socket as needed until the deadline.
 * Returns 0, NET_ERROR or NET_TIMEOUT. */
int net_write_all(net_conn *n, const void *data, size_t len, uint64_t deadline_ms);

/* Waits until the socket is ready for n->want_events (POLLIN when zero) or the
 * deadline.  Returns 1 ready, 0 deadline reached, -1 error. */
int net_wait(net_conn *n, uint64_t deadline_ms);

/* Closes the socket.  Safe to call twice. */
void net_close(net_conn *n);

#endif
