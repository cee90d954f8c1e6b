/* The pure parts of connecting: which targets in which order, and how long to wait
 * between attempts.  No I/O here; see net_internal.h. */
#include "net_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t pxmpp__random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* True when a must come before b regardless of weights. */
static bool goes_before(const pxmpp__target *a, const pxmpp__target *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    return a->direct_tls && !b->direct_tls;
}

/* RFC 2782's weighted selection over t[0..n): repeatedly moves the weight-0 records to the
   front of what is left, draws a number in [0, sum of weights] and takes the first record
   whose running sum reaches it. */
static void weighted_order(pxmpp__target *t, size_t n, uint64_t *rng)
{
    for (size_t k = 0; k + 1 < n; k++) {
        size_t zeros = k;
        for (size_t i = k; i < n; i++) {
            if (t[i].weight == 0) {
                pxmpp__target z = t[i];
                memmove(&t[zeros + 1], &t[zeros], (i - zeros) * sizeof *t);
                t[zeros++] = z;
            }
        }
        uint32_t sum = 0;
        for (size_t i = k; i < n; i++)
            sum += t[i].weight;
        uint32_t r = pxmpp__random(rng) % (sum + 1);
        uint32_t running = 0;
        size_t pick = k;
        for (size_t i = k; i < n; i++) {
            running += t[i].weight;
            if (running >= r) {
                pick = i;
                break;
            }
        }
        pxmpp__target chosen = t[pick];
        memmove(&t[k + 1], &t[k], (pick - k) * sizeof *t);
        t[k] = chosen;
    }
}

void pxmpp__order_targets(pxmpp__target *t, size_t n, uint64_t *rng)
{
    /* stable insertion sort by (priority, direct TLS first); n is small */
    for (size_t i = 1; i < n; i++) {
        pxmpp__target x = t[i];
        size_t j = i;
        while (j > 0 && goes_before(&x, &t[j - 1])) {
            t[j] = t[j - 1];
            j--;
        }
        t[j] = x;
    }
    for (size_t start = 0; start < n;) {
        size_t end = start + 1;
        while (end < n && t[end].priority == t[start].priority && t[end].direct_tls == t[start].direct_tls)
            end++;
        weighted_order(t + start, end - start, rng);
        start = end;
    }
}

/* Appends the records of one service that name a host ("." targets are left out). */
static size_t add_usable(pxmpp__target *out, size_t have, size_t cap, const pxmpp__target *recs, size_t n)
{
    for (size_t i = 0; i < n && have < cap; i++)
        if (recs[i].host[0])
            out[have++] = recs[i];
    return have;
}

int pxmpp__plan_targets(const char *domain, const pxmpp__target *starttls, size_t n1, pxmpp__srv_status s1,
                        const pxmpp__target *direct, size_t n2, pxmpp__srv_status s2, bool skip_direct,
                        pxmpp__target *out, size_t cap, size_t *count, uint64_t *rng)
{
    size_t have = 0;
    if (s1 == PXMPP__SRV_FOUND)
        have = add_usable(out, have, cap, starttls, n1);
    if (s2 == PXMPP__SRV_FOUND && !skip_direct)
        have = add_usable(out, have, cap, direct, n2);
    *count = 0;
    if (have == 0) {
        /* RFC 6120 §3.2.1: no SRV record for the client service, so the domain itself on
           the standard port; a "." (or records that all say "."), and nothing direct:
           the domain offers no client service */
        if (s1 != PXMPP__SRV_NONE || cap == 0)
            return -1;
        memset(&out[0], 0, sizeof out[0]);
        snprintf(out[0].host, sizeof out[0].host, "%s", domain);
        out[0].port = 5222;
        *count = 1;
        return 0;
    }
    pxmpp__order_targets(out, have, rng);
    *count = have;
    return 0;
}

uint32_t pxmpp__backoff_ms(uint32_t min_ms, uint32_t max_ms, unsigned attempt, uint64_t *rng)
{
    if (min_ms > max_ms)
        min_ms = max_ms;
    uint64_t b = min_ms;
    for (unsigned i = 1; i < attempt && b < max_ms; i++)
        b *= 2;
    if (b > max_ms)
        b = max_ms;
    uint64_t lo = b / 2 > min_ms ? b / 2 : min_ms;
    if (lo >= b)
        return (uint32_t)b;
    return (uint32_t)(lo + pxmpp__random(rng) % (b - lo + 1));
}

int pxmpp__parse_port(const char *s, uint16_t *port)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long p = strtoul(s, &end, 10);
    if (*end || p == 0 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

int pxmpp__parse_location(const char *loc, uint16_t default_port, char *host, size_t cap, uint16_t *port)
{
    const char *h = loc, *rest;
    size_t hlen;
    if (*loc == '[') { /* [IPv6 address] */
        const char *close = strchr(loc, ']');
        if (!close)
            return -1;
        h = loc + 1;
        hlen = (size_t)(close - h);
        rest = close + 1;
    } else {
        rest = strchr(loc, ':');
        if (!rest)
            rest = loc + strlen(loc);
        else if (strchr(rest + 1, ':'))
            return -1; /* an IPv6 address needs its brackets */
        hlen = (size_t)(rest - loc);
    }
    if (hlen == 0 || hlen >= cap)
        return -1;
    uint16_t p = default_port;
    if (*rest == ':' ? pxmpp__parse_port(rest + 1, &p) != 0 : *rest != '\0')
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = p;
    return 0;
}
