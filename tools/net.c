/* Connection layer of pxmpp-component: see net.h. */
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

ssize_t net_read(net_conn *n, void *buf, size_t cap)
{
    if (cap > INT_MAX)
        cap = INT_MAX;
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
        ssize_t r = send(n->fd, p, len, MSG_NOSIGNAL);
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
        int w = wait_fd(n->fd, POLLOUT, deadline_ms);
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
    int r = wait_fd(n->fd, n->want_events ? n->want_events : POLLIN, deadline_ms);
    n->want_events = 0;
    return r;
}

void net_close(net_conn *n)
{
    if (n->fd >= 0) {
        close(n->fd);
        n->fd = -1;
    }
}
