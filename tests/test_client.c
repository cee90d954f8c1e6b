/* Client session against a scripted in-process server (no network): the whole
 * lifecycle and every failure branch (TLS policy, SASL abuse, bind, spoofing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_harness.h"

static void on_roster(void *user, int status, const pxmpp_roster_item *items, size_t count, const char *ver,
                      bool unchanged)
{
    client_side *cs = user;
    cs->roster_status = status;
    cs->roster_count = count;
    cs->roster_unchanged = unchanged;
    if (status == 0 && !unchanged) {
        assert_int_equal(count, 2);
        assert_string_equal(items[0].groups[1], "Family");
        assert_string_equal(ver, "v2");
    }
}

static void on_iq_reply(void *user, const pxmpp_iq *reply, int status)
{
    client_side *cs = user;
    (void)reply;
    cs->iq_status = status;
    cs->iq_calls++;
}


static void test_full_lifecycle(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    setup(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED, PASSWORD);
    if (!cs.ready)
        fprintf(stderr, "%s", cs.log.data);
    assert_true(cs.ready);
    assert_true(pxmpp_client_is_secure(cs.c));
    assert_string_equal(pxmpp_client_mechanism(cs.c), "SCRAM-SHA-1");
    assert_int_equal(pxmpp_client_get_state(cs.c), PXMPP_CLIENT_READY);
    assert_int_equal(sv.session_reqs, 0);

    /* roster get, then a versioned get that is unchanged */
    assert_int_equal(pxmpp_client_roster_get(cs.c, "", on_roster, &cs), 0);
    pump(&cs, &sv);
    assert_int_equal(cs.roster_status, 0);
    assert_int_equal(cs.roster_count, 2);
    assert_int_equal(pxmpp_client_roster_get(cs.c, "v2", on_roster, &cs), 0);
    pump(&cs, &sv);
    assert_true(cs.roster_unchanged);
    assert_int_equal(cs.roster_count, 2); /* the cache is kept */

    /* a roster push from the account is applied and answered */
    size_t before = sv.seen.len;
    feed_server_bytes(&cs, "<iq type='set' id='push1'><query xmlns='jabber:iq:roster' ver='v3'>"
                           "<item jid='tybalt@example.net' subscription='none'><group>Foes</group></item></query></iq>");
    assert_int_equal(cs.pushes, 1);
    assert_non_null(strstr(sv.seen.data + before, "id='push1' type='result'"));
    size_t n;
    const char *ver;
    pxmpp_client_roster(cs.c, &n, &ver);
    assert_int_equal(n, 3);
    assert_string_equal(ver, "v3");
    /* a removal push */
    feed_server_bytes(&cs, "<iq type='set' id='push2' from='juliet@example.net'><query xmlns='jabber:iq:roster'>"
                           "<item jid='tybalt@example.net' subscription='remove'/></query></iq>");
    pxmpp_client_roster(cs.c, &n, NULL);
    assert_int_equal(n, 2);
    assert_int_equal(cs.pushes, 2);
    /* a spoofed push is ignored: no reply, no change */
    before = sv.seen.len;
    feed_server_bytes(&cs, "<iq type='set' id='push3' from='mallory@evil.example'><query xmlns='jabber:iq:roster'>"
                           "<item jid='mallory@evil.example'/></query></iq>");
    assert_int_equal(cs.pushes, 2);
    pxmpp_client_roster(cs.c, &n, NULL);
    assert_int_equal(n, 2);
    assert_int_equal(sv.seen.len, before);

    /* roster set answered by the server */
    const char *groups[] = { "Friends" };
    assert_int_equal(pxmpp_client_roster_set(cs.c, "benvolio@example.net", "Ben", groups, 1, on_iq_reply, &cs), 0);
    pump(&cs, &sv);
    assert_int_equal(sv.roster_sets, 1);
    assert_int_equal(cs.iq_calls, 1);
    assert_int_equal(cs.iq_status, 0);

    /* an iq to a contact: a reply from someone else is dropped, the right one accepted */
    pxmpp_arena *a = pxmpp_client_arena(cs.c);
    pxmpp_ping *ping = pxmpp_arena_alloc(a, sizeof *ping);
    pxmpp_iq *iq = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "romeo@example.net/orchard", "ping-7", &pxmpp_ping_desc, ping);
    assert_int_equal(pxmpp_client_send_iq(cs.c, iq, 5000, on_iq_reply, &cs), 0);
    feed_server_bytes(&cs, "<iq type='result' id='ping-7' from='mallory@evil.example'/>");
    assert_int_equal(cs.iq_calls, 1);
    feed_server_bytes(&cs, "<iq type='result' id='ping-7'/>"); /* from the server, not from romeo */
    assert_int_equal(cs.iq_calls, 1);
    feed_server_bytes(&cs, "<iq type='error' id='ping-7' from='romeo@example.net/orchard'>"
                           "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    assert_int_equal(cs.iq_calls, 2);
    assert_int_equal(cs.iq_status, PXMPP_ERR_IQ_ERROR);
    feed_server_bytes(&cs, "<iq type='result' id='ping-7' from='romeo@example.net/orchard'/>"); /* duplicate: dropped */
    assert_int_equal(cs.iq_calls, 2);

    /* timeouts run on the app clock */
    iq = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "romeo@example.net/orchard", "ping-8", &pxmpp_ping_desc, ping);
    assert_int_equal(pxmpp_client_send_iq(cs.c, iq, 5000, on_iq_reply, &cs), 0);
    assert_int_equal(pxmpp_client_tick(cs.c, 1000000), 0);
    assert_int_equal(pxmpp_client_tick(cs.c, 1004999), 0);
    assert_int_equal(cs.iq_calls, 2);
    assert_int_equal(pxmpp_client_tick(cs.c, 1005000), 0);
    assert_int_equal(cs.iq_calls, 3);
    assert_int_equal(cs.iq_status, PXMPP_ERR_TIMEOUT);

    /* the server's ping is answered; unknown requests get service-unavailable */
    before = sv.seen.len;
    feed_server_bytes(&cs, "<iq type='get' id='s-ping' from='example.net'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_non_null(strstr(sv.seen.data + before, "id='s-ping' type='result'"));
    feed_server_bytes(&cs, "<iq type='get' id='q1' from='romeo@example.net/orchard'><query xmlns='urn:x:unknown'/></iq>");
    assert_non_null(strstr(sv.seen.data + before, "<service-unavailable"));

    /* presence and messages */
    feed_server_bytes(&cs, "<presence from='romeo@example.net' type='subscribe'/>");
    assert_int_equal(cs.subs, 1);
    assert_int_equal(pxmpp_client_approve(cs.c, "romeo@example.net"), 0);
    feed_server_bytes(&cs, "<presence from='romeo@example.net/orchard'><show>chat</show></presence>");
    assert_int_equal(cs.presences, 1);
    feed_server_bytes(&cs, "<message from='romeo@example.net/orchard' type='chat'><body>Hi</body></message>");
    assert_int_equal(cs.messages, 1);
    pxmpp_message *m = pxmpp_build_message(a, "romeo@example.net", PXMPP_MESSAGE_TYPE_CHAT, NULL);
    pxmpp_message_add_body(a, m, NULL, "Wherefore art thou?");
    assert_int_equal(pxmpp_client_send_message(cs.c, m), 0);
    assert_non_null(strstr(sv.seen.data, "<presence to='romeo@example.net' type='subscribed'/>"));
    assert_non_null(strstr(sv.seen.data, "Wherefore art thou?"));

    /* the pending table is bounded */
    /* close */
    assert_int_equal(pxmpp_client_close(cs.c), 0);
    pump(&cs, &sv);
    assert_int_equal(pxmpp_stream_close(sv.s), 0);
    pump(&cs, &sv);
    assert_true(cs.closed);
    assert_int_equal(pxmpp_client_get_state(cs.c), PXMPP_CLIENT_CLOSED);
    teardown(&cs, &sv);
}

static void expect_failure(enum mode mode, pxmpp_tls_policy tls, const char *password, int code, bool credentials_sent)
{
    client_side cs;
    server sv;
    setup(&cs, &sv, mode, tls, password);
    if (cs.failed_code != code)
        fprintf(stderr, "mode %d: got %s\n%s", mode, pxmpp_error_name(cs.failed_code), cs.log.data);
    assert_int_equal(cs.failed_code, code);
    assert_false(cs.ready);
    assert_int_equal(pxmpp_client_get_state(cs.c), PXMPP_CLIENT_FAILED);
    const char *reason;
    assert_int_equal(pxmpp_client_error(cs.c, &reason), code);
    assert_true(strlen(reason) > 0);
    if (!credentials_sent) {
        assert_null(strstr(sv.seen.data, "<auth"));
        assert_null(strstr(sv.seen.data, PASSWORD));
    }
    assert_int_equal(pxmpp_client_roster_get(cs.c, NULL, on_roster, &cs), code);
    teardown(&cs, &sv);
}

static void test_tls_required_not_offered(void **state)
{
    (void)state;
    expect_failure(M_NO_TLS, PXMPP_TLS_REQUIRED, PASSWORD, PXMPP_ERR_TLS_REQUIRED, false);
}

static void test_wrong_password(void **state)
{
    (void)state;
    expect_failure(M_OK, PXMPP_TLS_REQUIRED, "wrong", PXMPP_ERR_AUTH, true);
}

static void test_bad_server_signature(void **state)
{
    (void)state;
    expect_failure(M_BAD_SIGNATURE, PXMPP_TLS_REQUIRED, PASSWORD, PXMPP_ERR_AUTH, true);
}

static void test_missing_server_signature(void **state)
{
    (void)state;
    expect_failure(M_NO_SIGNATURE, PXMPP_TLS_REQUIRED, PASSWORD, PXMPP_ERR_AUTH, true);
}

static void test_bad_nonce(void **state)
{
    (void)state;
    expect_failure(M_BAD_NONCE, PXMPP_TLS_REQUIRED, PASSWORD, PXMPP_ERR_AUTH, true);
}

static void test_bad_iterations(void **state)
{
    (void)state;
    expect_failure(M_BAD_ITERATIONS, PXMPP_TLS_REQUIRED, PASSWORD, PXMPP_ERR_AUTH, true);
}

static void test_plain_refused_without_tls(void **state)
{
    (void)state;
    expect_failure(M_ONLY_PLAIN, PXMPP_TLS_OPTIONAL, PASSWORD, PXMPP_ERR_NO_MECHANISM, false);
}

static void test_no_bind(void **state)
{
    (void)state;
    expect_failure(M_NO_BIND, PXMPP_TLS_REQUIRED, PASSWORD, PXMPP_ERR_PROTOCOL, true);
}

static void test_bind_error(void **state)
{
    (void)state;
    expect_failure(M_BIND_ERROR, PXMPP_TLS_REQUIRED, PASSWORD, PXMPP_ERR_PROTOCOL, true);
}

static void test_features_missing_after_tls(void **state)
{
    (void)state;
    expect_failure(M_NO_FEATURES_AFTER_TLS, PXMPP_TLS_REQUIRED, PASSWORD, PXMPP_ERR_PROTOCOL, false);
}

static void test_starttls_injection(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    /* the injected bytes arrive in the same read as <proceed/> */
    g_piece = 1u << 20;
    setup(&cs, &sv, M_INJECT_AFTER_PROCEED, PXMPP_TLS_REQUIRED, PASSWORD);
    g_piece = 5;
    assert_int_equal(cs.failed_code, PXMPP_ERR_TLS);
    assert_int_equal(cs.messages, 0);
    assert_false(pxmpp_client_is_secure(cs.c));
    assert_null(strstr(sv.seen.data, "<auth"));
    teardown(&cs, &sv);
}

static void test_plain_allowed_explicitly(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    /* PLAIN over an unencrypted stream only when the app says so */
    g_allow_plain = true;
    setup(&cs, &sv, M_ONLY_PLAIN, PXMPP_TLS_OPTIONAL, PASSWORD);
    g_allow_plain = false;
    assert_true(cs.ready);
    assert_false(pxmpp_client_is_secure(cs.c));
    assert_string_equal(pxmpp_client_mechanism(cs.c), "PLAIN");
    teardown(&cs, &sv);
}

static void test_legacy_session(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    setup(&cs, &sv, M_SESSION_REQUIRED, PXMPP_TLS_REQUIRED, PASSWORD);
    assert_true(cs.ready);
    assert_int_equal(sv.session_reqs, 1);
    teardown(&cs, &sv);
}

static void test_pending_table_bounded(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_max_pending = 2;
    setup(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED, PASSWORD);
    g_max_pending = 0;
    assert_true(cs.ready);
    pxmpp_arena *a = pxmpp_client_arena(cs.c);
    pxmpp_ping *ping = pxmpp_arena_alloc(a, sizeof *ping);
    for (int i = 0; i < 3; i++) {
        pxmpp_iq *iq = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "romeo@example.net/x", i == 0 ? "a" : i == 1 ? "b" : "c",
                                      &pxmpp_ping_desc, ping);
        assert_int_equal(pxmpp_client_send_iq(cs.c, iq, 1000, on_iq_reply, &cs), i < 2 ? 0 : PXMPP_ERR_LIMIT);
    }
    /* closing completes the pending ones */
    assert_int_equal(pxmpp_client_close(cs.c), 0);
    assert_int_equal(pxmpp_stream_close(sv.s), 0);
    pump(&cs, &sv);
    assert_int_equal(cs.iq_calls, 2);
    assert_int_equal(cs.iq_status, PXMPP_ERR_CLOSED);
    teardown(&cs, &sv);
}

static void test_config_errors(void **state)
{
    (void)state;
    pxmpp_client *c;
    pxmpp_client_callbacks cb = { .write = cli_write };
    pxmpp_client_config cfg = { .jid = "example.net", .password = "x" };
    assert_int_equal(pxmpp_client_new(&c, &cfg, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT); /* no localpart */
    cfg.jid = "a@example.net";
    cfg.mechanisms = "SCRAM SHA";
    assert_int_equal(pxmpp_client_new(&c, &cfg, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    cfg.mechanisms = NULL;
    cfg.password = NULL;
    assert_int_equal(pxmpp_client_new(&c, &cfg, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_lifecycle),
        cmocka_unit_test(test_tls_required_not_offered),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_bad_server_signature),
        cmocka_unit_test(test_missing_server_signature),
        cmocka_unit_test(test_bad_nonce),
        cmocka_unit_test(test_bad_iterations),
        cmocka_unit_test(test_plain_refused_without_tls),
        cmocka_unit_test(test_plain_allowed_explicitly),
        cmocka_unit_test(test_starttls_injection),
        cmocka_unit_test(test_no_bind),
        cmocka_unit_test(test_bind_error),
        cmocka_unit_test(test_features_missing_after_tls),
        cmocka_unit_test(test_legacy_session),
        cmocka_unit_test(test_pending_table_bounded),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
