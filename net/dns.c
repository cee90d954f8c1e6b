/* SRV lookups through the system's resolver library (res_nquery; the answer is read with
 * ns_initparse/ns_parserr and the target name with dn_expand). */
#include "net_internal.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>

int pxmpp__parse_dns_server(const char *spec, uint32_t *addr_be, uint16_t *port)
{
    char ip[INET_ADDRSTRLEN];
    const char *colon = strchr(spec, ':');
    size_t iplen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (iplen == 0 || iplen >= sizeof ip)
        return -1;
    memcpy(ip, spec, iplen);
    ip[iplen] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return -1;
    uint16_t p = 53;
    if (colon && pxmpp__parse_port(colon + 1, &p) != 0)
        return -1;
    *addr_be = a.s_addr;
    *port = p;
    return 0;
}

/* Reads the SRV records of an answer. */
static pxmpp__srv_status read_answer(const unsigned char *msg, int len, bool direct_tls, pxmpp__target *out,
                                     size_t cap, size_t *count)
{
    ns_msg m;
    if (ns_initparse(msg, len, &m) != 0)
        return PXMPP__SRV_NONE;
    int total = ns_msg_count(m, ns_s_an);
    size_t n = 0, srv = 0;
    bool dot = false;
    for (int i = 0; i < total; i++) {
        ns_rr rr;
        if (ns_parserr(&m, ns_s_an, i, &rr) != 0)
            break;
        if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in || ns_rr_rdlen(rr) < 7)
            continue;
        srv++;
        const unsigned char *rd = ns_rr_rdata(rr);
        char target[NS_MAXDNAME];
        if (dn_expand(ns_msg_base(m), ns_msg_end(m), rd + 6, target, sizeof target) < 0)
            continue;
        if (target[0] == '\0')
            dot = true;
        if (n == cap || strlen(target) >= sizeof out[n].host)
            continue;
        pxmpp__target *t = &out[n++];
        memset(t, 0, sizeof *t);
        t->priority = ns_get16(rd);
        t->weight = ns_get16(rd + 2);
        t->port = ns_get16(rd + 4);
        t->direct_tls = direct_tls;
        memcpy(t->host, target, strlen(target) + 1); /* "" for "." */
    }
    *count = n;
    if (srv == 1 && dot)
        return PXMPP__SRV_REFUSED; /* RFC 2782: the service is decidedly not available */
    return n ? PXMPP__SRV_FOUND : PXMPP__SRV_NONE;
}

pxmpp__srv_status pxmpp__srv_lookup(const char *name, const char *dns_server, uint32_t timeout_ms, bool direct_tls,
                                    pxmpp__target *out, size_t cap, size_t *count)
{
    *count = 0;
    struct __res_state rs;
    memset(&rs, 0, sizeof rs);
    if (res_ninit(&rs) != 0)
        return PXMPP__SRV_NONE;
    if (dns_server) {
        uint32_t addr;
        uint16_t port;
        if (pxmpp__parse_dns_server(dns_server, &addr, &port) != 0) {
            res_nclose(&rs);
            return PXMPP__SRV_NONE;
        }
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = addr;
        rs.nsaddr_list[0] = sa;
        rs.nscount = 1;
    }
    /* one try per server, the time split between the servers */
    int servers = rs.nscount > 0 ? rs.nscount : 1;
    int secs = (int)((timeout_ms + 999) / 1000) / servers;
    rs.retrans = secs > 0 ? secs : 1;
    rs.retry = 1;
    unsigned char *answer = malloc(NS_PACKETSZ * 16);
    pxmpp__srv_status st = PXMPP__SRV_NONE;
    if (answer) {
        int len = res_nquery(&rs, name, ns_c_in, ns_t_srv, answer, NS_PACKETSZ * 16);
        if (len > 0)
            st = read_answer(answer, len > NS_PACKETSZ * 16 ? NS_PACKETSZ * 16 : len, direct_tls, out, cap, count);
        free(answer);
    }
    res_nclose(&rs);
    return st;
}
