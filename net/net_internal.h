/* Internal interfaces of pxmpp_net shared by its sources and its tests (not installed).
 * The pure parts (target ordering, the backoff schedule, the choice of the
 * tls-server-end-point hash) take their randomness and inputs as arguments so that
 * the tests can run them without a network. */
#ifndef PXMPP_NET_INTERNAL_H
#define PXMPP_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* One place to connect to: an SRV record, or the fallback DOMAIN:5222. */
typedef struct pxmpp__target {
    char host[256];      /* host name (no trailing dot) or address; "" for the "." target */
    uint16_t port;
    uint16_t priority;
    uint16_t weight;
    bool direct_tls;     /* from _xmpps-client: TLS from the first byte (XEP-0368) */
} pxmpp__target;

#define PXMPP__MAX_TARGETS 32

/* xorshift64*: the jitter of the backoff and the weighted choice among SRV records.
   Not for secrets.  *state must not be 0. */
uint32_t pxmpp__random(uint64_t *state);

/* Orders targets for connecting (RFC 2782 with XEP-0368's preference): ascending priority;
   within a priority the direct TLS records before the STARTTLS ones; within each of those
   a weighted random order (a record is picked next with a chance proportional to its weight;
   records of weight 0 have a very small chance while others remain). */
void pxmpp__order_targets(pxmpp__target *t, size_t n, uint64_t *rng);

/* What the SRV lookup of one service found. */
typedef enum pxmpp__srv_status {
    PXMPP__SRV_NONE = 0,    /* no record (no such name, no data, no answer) */
    PXMPP__SRV_FOUND = 1,   /* records */
    PXMPP__SRV_REFUSED = 2  /* the single record's target is ".": the service is not offered */
} pxmpp__srv_status;

/* The connection plan of @p domain from the records of both services: @p starttls (status
   s1) and @p direct (status s2), each given with n1/n2 records.  Writes the ordered targets
   to out (cap entries) and their number to *count.  When neither service has records, the
   plan is domain:5222 with STARTTLS.  skip_direct leaves the direct TLS records out (TLS
   disabled by policy).  Returns 0, or -1 when no service is offered (a "." record and
   nothing else usable). */
int pxmpp__plan_targets(const char *domain, const pxmpp__target *starttls, size_t n1, pxmpp__srv_status s1,
                        const pxmpp__target *direct, size_t n2, pxmpp__srv_status s2, bool skip_direct,
                        pxmpp__target *out, size_t cap, size_t *count, uint64_t *rng);

/* Parses a port number "1".."65535" (the whole string).  Returns 0 or -1. */
int pxmpp__parse_port(const char *s, uint16_t *port);

/* Parses a reconnection address of XEP-0198 (<enabled location/>): "host", "host:port",
   "[v6]" or "[v6]:port" (default_port when the port is absent).  Returns 0 with the host
   (without brackets) in host[cap] and *port set, or -1 when it is malformed. */
int pxmpp__parse_location(const char *loc, uint16_t default_port, char *host, size_t cap, uint16_t *port);

/* Looks up the SRV records of @p name ("_xmpp-client._tcp.example.net") with the system
   resolver, or the IPv4 server @p dns_server ("a.b.c.d[:port]", NULL: the system's), waiting
   at most about timeout_ms.  direct_tls is copied into each record.  Returns the status;
   *count records are written to out. */
pxmpp__srv_status pxmpp__srv_lookup(const char *name, const char *dns_server, uint32_t timeout_ms, bool direct_tls,
                                    pxmpp__target *out, size_t cap, size_t *count);

/* Parses "a.b.c.d" or "a.b.c.d:port" (port 53 when absent).  Returns 0 or -1. */
int pxmpp__parse_dns_server(const char *spec, uint32_t *addr_be, uint16_t *port);

/* The delay before retry number @p attempt (1, 2, ...): a random value in
   [max(min_ms, b/2), b] with b = min(max_ms, min_ms * 2^(attempt-1)). */
uint32_t pxmpp__backoff_ms(uint32_t min_ms, uint32_t max_ms, unsigned attempt, uint64_t *rng);

/* Channel-binding types (the values of the client's pxmpp_cb_type). */
enum { PXMPP__CB_TLS_EXPORTER = 1, PXMPP__CB_TLS_UNIQUE = 2, PXMPP__CB_TLS_SERVER_END_POINT = 3 };

/* RFC 5929 §4.1: the hash for tls-server-end-point given the NID of the digest in the
   certificate's signature algorithm: SHA-256 for MD5 and SHA-1, the same digest otherwise,
   NID_undef when there is none (EdDSA) or it is unknown. */
int pxmpp__server_end_point_md(int sig_md_nid);

/* Channel-binding data of an established TLS session: tls-exporter (RFC 9266, TLS 1.3 only),
   tls-unique (RFC 5929: the first Finished message of the handshake) or tls-server-end-point
   (RFC 5929 §4).  Returns 0 with *len set, or -1 when that type cannot be computed here. */
int pxmpp__channel_binding(SSL *ssl, int type, unsigned char *buf, size_t cap, size_t *len);

/* The TLS session of the driver's current connection, or NULL (for tests). */
struct pxmpp_net;
SSL *pxmpp__net_ssl(struct pxmpp_net *n);

#endif
