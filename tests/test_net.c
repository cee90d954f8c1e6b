/* pxmpp_net without a network: the order of SRV targets, the connection plan, the
 * backoff schedule, the tls-server-end-point hash rule, and the API's argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <poll.h>

#include <openssl/objects.h>

#include "net_internal.h"

#include <pxmpp/net.h>

static pxmpp__target rec(const char *host, uint16_t port, uint16_t prio, uint16_t weight, bool direct)
{
    pxmpp__target t;
    memset(&t, 0, sizeof t);
    snprintf(t.host, sizeof t.host, "%s", host);
    t.port = port;
    t.priority = prio;
    t.weight = weight;
    t.direct_tls = direct;
    return t;
}

static void test_order_priority_and_direct_first(void **state)
{
    (void)state;
    uint64_t rng = 42;
    for (int round = 0; round < 200; round++) {
        pxmpp__target t[6] = {
            rec("c", 5222, 20, 10, false), rec("a", 5222, 10, 5, false), rec("d", 5223, 10, 0, true),
            rec("b", 5223, 10, 50, true),  rec("e", 5222, 0, 1, false),  rec("f", 5223, 30, 0, true),
        };
        pxmpp__order_targets(t, 6, &rng);
        /* priority 0, then priority 10 with both direct TLS records before the STARTTLS one */
        assert_string_equal(t[0].host, "e");
        assert_true(t[1].direct_tls && t[2].direct_tls);
        assert_true(strcmp(t[1].host, "b") == 0 || strcmp(t[1].host, "d") == 0);
        assert_string_equal(t[3].host, "a");
        assert_string_equal(t[4].host, "c");
        assert_string_equal(t[5].host, "f");
        for (int i = 1; i < 6; i++)
            assert_true(t[i - 1].priority <= t[i].priority);
    }
}

/* RFC 2782: within a priority, the first pick goes to a record with a chance proportional to
   its weight; a record of weight 0 comes first only when the draw is 0. */
static void test_order_weights(void **state)
{
    (void)state;
    uint64_t rng = 7;
    int first[3] = { 0, 0, 0 };
    int zero_last = 0;
    const int rounds = 20000;
    for (int round = 0; round < rounds; round++) {
        pxmpp__target t[3] = { rec("w10", 1, 5, 10, false), rec("w30", 2, 5, 30, false), rec("w0", 3, 5, 0, false) };
        pxmpp__order_targets(t, 3, &rng);
        first[t[0].port - 1]++;
        zero_last += t[2].port == 3;
    }
    /* expected: 10/40 and 30/40 (less the weight-0 record's share), about 1/41 */
    assert_in_range(first[0], rounds * 20 / 100, rounds * 30 / 100);
    assert_in_range(first[1], rounds * 70 / 100, rounds * 80 / 100);
    assert_in_range(first[2], 1, rounds * 5 / 100);
    assert_true(zero_last > rounds * 85 / 100);
}

static void test_order_all_zero_weights(void **state)
{
    (void)state;
    uint64_t rng = 99;
    int seen_first[2] = { 0, 0 };
    for (int round = 0; round < 400; round++) {
        pxmpp__target t[2] = { rec("x", 1, 0, 0, true), rec("y", 2, 0, 0, true) };
        pxmpp__order_targets(t, 2, &rng);
        seen_first[t[0].port - 1]++;
        assert_int_not_equal(t[0].port, t[1].port);
    }
    /* no weights: the order is the given one (each is chosen with the draw 0) */
    assert_int_equal(seen_first[0], 400);
}

static void test_plan_fallback_without_records(void **state)
{
    (void)state;
    uint64_t rng = 1;
    pxmpp__target out[4];
    size_t n = 99;
    assert_int_equal(pxmpp__plan_targets("example.net", NULL, 0, PXMPP__SRV_NONE, NULL, 0, PXMPP__SRV_NONE, false,
                                         out, 4, &n, &rng),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].host, "example.net");
    assert_int_equal(out[0].port, 5222);
    assert_false(out[0].direct_tls);
    /* direct TLS records but TLS disabled: the same fallback */
    pxmpp__target d[1] = { rec("tls.example.net", 5223, 0, 0, true) };
    assert_int_equal(pxmpp__plan_targets("example.net", NULL, 0, PXMPP__SRV_NONE, d, 1, PXMPP__SRV_FOUND, true, out,
                                         4, &n, &rng),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].host, "example.net");
    /* no client service record and "." for direct TLS: RFC 6120's fallback still applies */
    pxmpp__target dot[1] = { rec("", 0, 0, 0, true) };
    assert_int_equal(pxmpp__plan_targets("example.net", NULL, 0, PXMPP__SRV_NONE, dot, 1, PXMPP__SRV_REFUSED, false,
                                         out, 4, &n, &rng),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].port, 5222);
}

static void test_plan_dot_means_not_offered(void **state)
{
    (void)state;
    uint64_t rng = 1;
    pxmpp__target out[4];
    size_t n = 99;
    pxmpp__target dot[1] = { rec("", 0, 0, 0, false) };
    assert_int_equal(pxmpp__plan_targets("example.net", dot, 1, PXMPP__SRV_REFUSED, NULL, 0, PXMPP__SRV_NONE, false,
                                         out, 4, &n, &rng),
                     -1);
    assert_int_equal(n, 0);
    /* "." for STARTTLS, a direct TLS record: that one only */
    pxmpp__target d[1] = { rec("tls.example.net", 443, 0, 0, true) };
    assert_int_equal(pxmpp__plan_targets("example.net", dot, 1, PXMPP__SRV_REFUSED, d, 1, PXMPP__SRV_FOUND, false,
                                         out, 4, &n, &rng),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].host, "tls.example.net");
    assert_true(out[0].direct_tls);
    /* a "." among real records is skipped */
    pxmpp__target s[2] = { rec("", 0, 0, 0, false), rec("xmpp.example.net", 5222, 1, 0, false) };
    assert_int_equal(pxmpp__plan_targets("example.net", s, 2, PXMPP__SRV_FOUND, NULL, 0, PXMPP__SRV_NONE, false, out,
                                         4, &n, &rng),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].host, "xmpp.example.net");
}

static void test_plan_merges_both_services(void **state)
{
    (void)state;
    uint64_t rng = 5;
    pxmpp__target out[8];
    size_t n = 0;
    pxmpp__target s[2] = { rec("s1", 5222, 10, 0, false), rec("s0", 5222, 0, 0, false) };
    pxmpp__target d[2] = { rec("d10", 5223, 10, 0, true), rec("d20", 5223, 20, 0, true) };
    assert_int_equal(pxmpp__plan_targets("example.net", s, 2, PXMPP__SRV_FOUND, d, 2, PXMPP__SRV_FOUND, false, out, 8,
                                         &n, &rng),
                     0);
    assert_int_equal(n, 4);
    assert_string_equal(out[0].host, "s0");
    assert_string_equal(out[1].host, "d10"); /* equal priority: direct TLS first */
    assert_string_equal(out[2].host, "s1");
    assert_string_equal(out[3].host, "d20");
    /* skipping direct TLS leaves the STARTTLS records */
    assert_int_equal(pxmpp__plan_targets("example.net", s, 2, PXMPP__SRV_FOUND, d, 2, PXMPP__SRV_FOUND, true, out, 8,
                                         &n, &rng),
                     0);
    assert_int_equal(n, 2);
    assert_false(out[0].direct_tls || out[1].direct_tls);
    /* the output capacity bounds the plan */
    assert_int_equal(pxmpp__plan_targets("example.net", s, 2, PXMPP__SRV_FOUND, d, 2, PXMPP__SRV_FOUND, false, out, 3,
                                         &n, &rng),
                     0);
    assert_int_equal(n, 3);
}

static void test_backoff_schedule(void **state)
{
    (void)state;
    uint64_t rng = 3;
    for (int round = 0; round < 500; round++) {
        assert_int_equal(pxmpp__backoff_ms(500, 8000, 1, &rng), 500);
        assert_in_range(pxmpp__backoff_ms(500, 8000, 2, &rng), 500, 1000);
        assert_in_range(pxmpp__backoff_ms(500, 8000, 3, &rng), 1000, 2000);
        assert_in_range(pxmpp__backoff_ms(500, 8000, 4, &rng), 2000, 4000);
        assert_in_range(pxmpp__backoff_ms(500, 8000, 5, &rng), 4000, 8000);
        assert_in_range(pxmpp__backoff_ms(500, 8000, 6, &rng), 4000, 8000);
        assert_in_range(pxmpp__backoff_ms(500, 8000, 1000000, &rng), 4000, 8000);
        /* a maximum that is not a power-of-two step from the minimum */
        assert_in_range(pxmpp__backoff_ms(300, 1000, 3, &rng), 500, 1000);
        /* equal bounds: no jitter */
        assert_int_equal(pxmpp__backoff_ms(2000, 2000, 7, &rng), 2000);
    }
    /* jitter: the delays of one step are not all the same */
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 200; i++) {
        uint32_t d = pxmpp__backoff_ms(500, 8000, 5, &rng);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(hi - lo > 1000);
}

static void test_dns_server_spec(void **state)
{
    (void)state;
    uint32_t addr;
    uint16_t port;
    assert_int_equal(pxmpp__parse_dns_server("127.0.0.1:5353", &addr, &port), 0);
    assert_int_equal(port, 5353);
    assert_int_equal(pxmpp__parse_dns_server("192.0.2.7", &addr, &port), 0);
    assert_int_equal(port, 53);
    const char *bad[] = { "", ":53", "localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:5x",
                          "::1", "[::1]:53", "127.0.0.1:-1", "1.2.3.4.5" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(pxmpp__parse_dns_server(bad[i], &addr, &port), -1);
}

static void test_sm_location(void **state)
{
    (void)state;
    char host[64];
    uint16_t port = 0;
    assert_int_equal(pxmpp__parse_location("xmpp2.example.net:5333", 5222, host, sizeof host, &port), 0);
    assert_string_equal(host, "xmpp2.example.net");
    assert_int_equal(port, 5333);
    assert_int_equal(pxmpp__parse_location("192.0.2.9", 5223, host, sizeof host, &port), 0);
    assert_string_equal(host, "192.0.2.9");
    assert_int_equal(port, 5223);
    assert_int_equal(pxmpp__parse_location("[2001:db8::7]:5222", 1, host, sizeof host, &port), 0);
    assert_string_equal(host, "2001:db8::7");
    assert_int_equal(port, 5222);
    assert_int_equal(pxmpp__parse_location("[2001:db8::7]", 5222, host, sizeof host, &port), 0);
    assert_int_equal(port, 5222);
    const char *bad[] = { "", ":5222", "host:", "host:0", "host:65536", "host:52x", "2001:db8::7", "[2001:db8::7",
                          "[]:5222", "[::1]x", "a-host-name-that-is-longer-than-the-buffer-of-this-test.example.net:1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(pxmpp__parse_location(bad[i], 5222, host, sizeof host, &port), -1);
}

static void test_server_end_point_hash(void **state)
{
    (void)state;
    assert_int_equal(pxmpp__server_end_point_md(NID_md5), NID_sha256);
    assert_int_equal(pxmpp__server_end_point_md(NID_sha1), NID_sha256);
    assert_int_equal(pxmpp__server_end_point_md(NID_sha256), NID_sha256);
    assert_int_equal(pxmpp__server_end_point_md(NID_sha384), NID_sha384);
    assert_int_equal(pxmpp__server_end_point_md(NID_sha512), NID_sha512);
    assert_int_equal(pxmpp__server_end_point_md(NID_undef), NID_undef);
    /* no TLS session: no binding of any type */
    unsigned char buf[64];
    size_t len = 0;
    for (int type = PXMPP__CB_TLS_EXPORTER; type <= PXMPP__CB_TLS_SERVER_END_POINT; type++)
        assert_int_equal(pxmpp__channel_binding(NULL, type, buf, sizeof buf, &len), -1);
}

static void test_error_codes(void **state)
{
    (void)state;
    assert_string_equal(pxmpp_error_name(PXMPP_ERR_RESOLVE), "PXMPP_ERR_RESOLVE");
    assert_string_equal(pxmpp_error_name(PXMPP_ERR_CONNECT), "PXMPP_ERR_CONNECT");
    assert_string_equal(pxmpp_error_name(PXMPP_ERR_DISCONNECTED), "PXMPP_ERR_DISCONNECTED");
    assert_string_equal(pxmpp_strerror(PXMPP_ERR_DISCONNECTED), "connection lost");
}

static pxmpp_net_config base_config(void)
{
    pxmpp_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.client.jid = "juliet@example.net";
    cfg.client.password = "secret";
    return cfg;
}

static void test_new_checks_arguments(void **state)
{
    (void)state;
    pxmpp_net_callbacks cb = { 0 };
    pxmpp_net *n = (pxmpp_net *)&cb; /* overwritten with NULL on failure */
    pxmpp_net_config cfg = base_config();
    assert_int_equal(pxmpp_net_new(NULL, &cfg, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_net_new(&n, NULL, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_null(n);
    assert_int_equal(pxmpp_net_new(&n, &cfg, NULL, NULL), PXMPP_ERR_INVALID_ARGUMENT);

    pxmpp_net_config c;
    c = base_config();
    c.client.password = NULL;
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    c = base_config();
    c.client.jid = "example.net"; /* no localpart */
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    c = base_config();
    c.client.jid = "a@b@c";
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    c = base_config();
    c.client.mechanisms = "SCRAM-SHA-1 PLAIN";
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    c = base_config();
    c.dns_server = "localhost";
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    c = base_config();
    c.backoff_min_ms = 9000;
    c.backoff_max_ms = 1000;
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    c = base_config();
    c.reconnect = -2;
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    c = base_config();
    c.keepalive = (pxmpp_net_keepalive)7;
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    c = base_config();
    c.cafile = "/nonexistent/ca.pem";
    assert_int_equal(pxmpp_net_new(&n, &c, &cb, NULL), PXMPP_ERR_TLS);
    assert_null(n);
}

static void test_calls_before_start(void **state)
{
    (void)state;
    pxmpp_net_callbacks cb = { 0 };
    pxmpp_net_config cfg = base_config();
    cfg.client.jid = "juliet@exämple.net/balcony"; /* an IDN domain and a resource are fine */
    pxmpp_net *n = NULL;
    assert_int_equal(pxmpp_net_new(&n, &cfg, &cb, NULL), 0);
    assert_int_equal(pxmpp_net_fd(n), -1);
    assert_int_equal(pxmpp_net_events(n), 0);
    assert_int_equal(pxmpp_net_timeout_ms(n), -1);
    assert_null(pxmpp_net_client(n));
    assert_int_equal(pxmpp_net_process(n, 0), PXMPP_ERR_STATE);
    assert_int_equal(pxmpp_net_close(n), PXMPP_ERR_STATE);
    assert_int_equal(pxmpp_net_send_chat(n, "romeo@example.net", "hi"), PXMPP_ERR_STATE);
    assert_int_equal(pxmpp_net_send_presence(n, PXMPP_PRESENCE_SHOW_ABSENT, NULL), PXMPP_ERR_STATE);
    pxmpp_message m = { .from = "romeo@example.net/orchard", .type = PXMPP_MESSAGE_TYPE_CHAT };
    assert_int_equal(pxmpp_net_reply(n, &m, "hi"), PXMPP_ERR_STATE);
    m.type = PXMPP_MESSAGE_TYPE_ERROR;
    assert_int_equal(pxmpp_net_reply(n, &m, "hi"), PXMPP_ERR_INVALID_ARGUMENT);
    m.type = PXMPP_MESSAGE_TYPE_CHAT;
    m.from = NULL;
    assert_int_equal(pxmpp_net_reply(n, &m, "hi"), PXMPP_ERR_INVALID_ARGUMENT);
    const char *reason = NULL;
    assert_int_equal(pxmpp_net_error(n, &reason), 0);
    assert_string_equal(reason, "");
    pxmpp_net_free(n);
    pxmpp_net_free(NULL);
    assert_int_equal(pxmpp_net_process(NULL, 0), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_net_run(NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_net_start(NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_net_fd(NULL), -1);
}

/* An address nobody listens on: with no retry allowed the session fails for good with
   PXMPP_ERR_CONNECT, through `failed`, and the run loop returns that code. */
typedef struct outcome {
    int failed_code, disconnects, closed;
    char reason[512];
    uint32_t retry_ms[8];
} outcome;

static void rec_failed(void *user, int code, const char *reason)
{
    outcome *o = user;
    o->failed_code = code;
    snprintf(o->reason, sizeof o->reason, "%s", reason);
}

static void rec_disconnected(void *user, int code, const char *reason, uint32_t retry_ms)
{
    outcome *o = user;
    (void)code;
    (void)reason;
    if (o->disconnects < 8)
        o->retry_ms[o->disconnects] = retry_ms;
    o->disconnects++;
}

static void rec_closed(void *user)
{
    outcome *o = user;
    o->closed++;
}

static void test_refused_connection(void **state)
{
    (void)state;
    outcome o;
    memset(&o, 0, sizeof o);
    pxmpp_net_callbacks cb = { .failed = rec_failed, .disconnected = rec_disconnected, .closed = rec_closed };
    pxmpp_net_config cfg = base_config();
    cfg.host = "127.0.0.1";
    cfg.port = 1; /* tcpmux: nobody listens there */
    pxmpp_net *n = NULL;
    assert_int_equal(pxmpp_net_new(&n, &cfg, &cb, &o), 0);
    assert_int_equal(pxmpp_net_run(n), PXMPP_ERR_CONNECT);
    assert_int_equal(o.failed_code, PXMPP_ERR_CONNECT);
    assert_non_null(strstr(o.reason, "127.0.0.1 port 1"));
    assert_int_equal(o.disconnects, 0);
    const char *reason;
    assert_int_equal(pxmpp_net_error(n, &reason), PXMPP_ERR_CONNECT);
    assert_string_equal(reason, o.reason);
    assert_int_equal(pxmpp_net_process(n, 0), PXMPP_ERR_CONNECT); /* over: stays so */
    assert_int_equal(pxmpp_net_timeout_ms(n), -1);
    pxmpp_net_free(n);

    /* two retries, 50 ms then 50..100 ms, then it gives up and says so */
    memset(&o, 0, sizeof o);
    cfg.reconnect = 2;
    cfg.backoff_min_ms = 50;
    cfg.backoff_max_ms = 100;
    assert_int_equal(pxmpp_net_new(&n, &cfg, &cb, &o), 0);
    assert_int_equal(pxmpp_net_run(n), PXMPP_ERR_CONNECT);
    assert_int_equal(o.disconnects, 2);
    assert_int_equal(o.retry_ms[0], 50);
    assert_in_range(o.retry_ms[1], 50, 100);
    assert_non_null(strstr(o.reason, "gave up after 2 retries"));
    pxmpp_net_free(n);

    /* closing while waiting for a retry ends the session with `closed` */
    memset(&o, 0, sizeof o);
    cfg.reconnect = -1;
    cfg.backoff_min_ms = 60000;
    cfg.backoff_max_ms = 60000;
    assert_int_equal(pxmpp_net_new(&n, &cfg, &cb, &o), 0);
    assert_int_equal(pxmpp_net_start(n), 0);
    assert_int_equal(pxmpp_net_start(n), PXMPP_ERR_STATE);
    while (o.disconnects == 0) { /* the refusal may come back later than connect() */
        struct pollfd p = { .fd = pxmpp_net_fd(n), .events = pxmpp_net_events(n), .revents = 0 };
        int r = poll(&p, 1, pxmpp_net_timeout_ms(n));
        assert_int_equal(pxmpp_net_process(n, r > 0 ? p.revents : 0), 0);
    }
    assert_int_equal(o.disconnects, 1);
    assert_int_equal(pxmpp_net_fd(n), -1);
    assert_in_range(pxmpp_net_timeout_ms(n), 59000, 60000);
    assert_int_equal(pxmpp_net_close(n), 0);
    assert_int_equal(pxmpp_net_close(n), PXMPP_ERR_STATE);
    assert_int_equal(pxmpp_net_timeout_ms(n), 0);
    assert_int_equal(pxmpp_net_process(n, 0), 1);
    assert_int_equal(o.closed, 1);
    assert_int_equal(o.failed_code, 0);
    pxmpp_net_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_priority_and_direct_first),
        cmocka_unit_test(test_order_weights),
        cmocka_unit_test(test_order_all_zero_weights),
        cmocka_unit_test(test_plan_fallback_without_records),
        cmocka_unit_test(test_plan_dot_means_not_offered),
        cmocka_unit_test(test_plan_merges_both_services),
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_dns_server_spec),
        cmocka_unit_test(test_sm_location),
        cmocka_unit_test(test_server_end_point_hash),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_new_checks_arguments),
        cmocka_unit_test(test_calls_before_start),
        cmocka_unit_test(test_refused_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
