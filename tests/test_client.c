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

static void test_space_after_proceed(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    /* a line feed in the same read as <proceed/> is dropped: the login goes on over TLS */
    g_piece = 1u << 20;
    setup(&cs, &sv, M_SPACE_AFTER_PROCEED, PXMPP_TLS_REQUIRED, PASSWORD);
    g_piece = 5;
    assert_int_equal(cs.failed_code, 0);
    assert_true(pxmpp_client_is_secure(cs.c));
    assert_non_null(strstr(sv.seen.data, "<auth"));
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

/* ---- SASL policy: channel binding, mechanisms, bounds --------------------------------------- */

/* Runs a login against the scripted server in @p mode and returns the client's first SASL message. */
static void login(client_side *cs, server *sv, enum mode mode, pxmpp_tls_policy tls)
{
    setup(cs, sv, mode, tls, PASSWORD);
}

static void test_plus_without_announcement_uses_tls_unique(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_mechs = NULL; /* the default list prefers -PLUS */
    login(&cs, &sv, M_PLUS, PXMPP_TLS_REQUIRED);
    reset_knobs();
    if (!cs.ready)
        fprintf(stderr, "%s", cs.log.data);
    assert_true(cs.ready);
    assert_string_equal(pxmpp_client_mechanism(cs.c), "SCRAM-SHA-1-PLUS");
    assert_int_equal(strncmp(sv.first_msg, "p=tls-unique,,", 14), 0);
    assert_int_equal(pxmpp_client_channel_binding(cs.c), PXMPP_CB_TLS_UNIQUE);
    teardown(&cs, &sv);
}

static void test_announced_types_strongest_first(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_mechs = NULL;
    g_announce[0] = "tls-server-end-point";
    g_announce[1] = "tls-exporter";
    memset(g_cb_asked, 0, sizeof g_cb_asked);
    login(&cs, &sv, M_PLUS_ANNOUNCED, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_true(cs.ready); /* the server verified the binding to the same exporter data */
    assert_int_equal(strncmp(sv.first_msg, "p=tls-exporter,,", 16), 0);
    /* the app is asked for each type's data once, whether it can bind at all and which type */
    assert_int_equal(g_cb_asked[PXMPP_CB_TLS_EXPORTER], 1);
    teardown(&cs, &sv);

    /* the app cannot compute tls-exporter here: the next announced type */
    g_mechs = NULL;
    g_announce[0] = "tls-server-end-point";
    g_announce[1] = "tls-exporter";
    g_cb_types = 1u << PXMPP_CB_TLS_SERVER_END_POINT;
    login(&cs, &sv, M_PLUS_ANNOUNCED, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_int_equal(strncmp(sv.first_msg, "p=tls-server-end-point,,n=juliet,r=", 35), 0);
    teardown(&cs, &sv);
}

static void test_no_common_type_fails(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_mechs = NULL;
    g_announce[0] = "tls-server-end-point";
    g_cb_types = 1u << PXMPP_CB_TLS_EXPORTER;
    login(&cs, &sv, M_PLUS_ANNOUNCED, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_int_equal(cs.failed_code, PXMPP_ERR_AUTH);
    assert_int_equal(sv.auths, 0);
    teardown(&cs, &sv);
}

static void test_announced_without_plus_fails(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_mechs = NULL;
    g_announce[0] = "tls-exporter";
    login(&cs, &sv, M_ANNOUNCED_NO_PLUS, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_int_equal(cs.failed_code, PXMPP_ERR_AUTH);
    assert_int_equal(sv.auths, 0);
    teardown(&cs, &sv);
}

static void test_stripped_plus_sends_y(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    /* no -PLUS offered, nothing announced, the client can bind: "y" (RFC 5802 §6) */
    g_mechs = NULL;
    login(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_true(cs.ready);
    assert_string_equal(pxmpp_client_mechanism(cs.c), "SCRAM-SHA-1");
    assert_int_equal(strncmp(sv.first_msg, "y,,n=juliet,r=", 14), 0);
    teardown(&cs, &sv);

    /* a server that binds channels but whose -PLUS offer was stripped sees "y": the login fails */
    g_mechs = NULL;
    login(&cs, &sv, M_PLUS_STRIPPED, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_int_equal(strncmp(sv.first_msg, "y,,", 3), 0);
    assert_int_equal(cs.failed_code, PXMPP_ERR_AUTH);
    teardown(&cs, &sv);

    /* the same without channel-binding data: "n" */
    g_mechs = NULL;
    g_cb_types = 0;
    login(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_true(cs.ready);
    assert_int_equal(strncmp(sv.first_msg, "n,,n=juliet,r=", 14), 0);
    teardown(&cs, &sv);
}

static void test_named_mechanism_is_exact(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    /* -PLUS offered, but the app named SCRAM-SHA-1: exactly that, unbound ("n": its choice) */
    g_mechs = "SCRAM-SHA-1";
    login(&cs, &sv, M_PLUS, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_true(cs.ready);
    assert_string_equal(pxmpp_client_mechanism(cs.c), "SCRAM-SHA-1");
    assert_int_equal(strncmp(sv.first_msg, "n,,", 3), 0);
    assert_int_equal(pxmpp_client_channel_binding(cs.c), PXMPP_CB_NONE);
    teardown(&cs, &sv);
}

static void test_require_channel_binding(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_mechs = NULL;
    g_require_cb = true;
    login(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED); /* no -PLUS offered */
    reset_knobs();
    assert_int_equal(cs.failed_code, PXMPP_ERR_NO_MECHANISM);
    assert_int_equal(sv.auths, 0);
    teardown(&cs, &sv);

    g_mechs = NULL;
    g_require_cb = true;
    login(&cs, &sv, M_PLUS, PXMPP_TLS_REQUIRED);
    reset_knobs();
    assert_true(cs.ready);
    assert_string_equal(pxmpp_client_mechanism(cs.c), "SCRAM-SHA-1-PLUS");
    teardown(&cs, &sv);
}

static void test_password_revealing_mechanism_refused_without_tls(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    /* a man in the middle stripped STARTTLS and offers LOGIN only */
    g_mechs = "SCRAM-SHA-256,LOGIN";
    login(&cs, &sv, M_ONLY_LOGIN, PXMPP_TLS_OPTIONAL);
    reset_knobs();
    assert_int_equal(cs.failed_code, PXMPP_ERR_NO_MECHANISM);
    assert_int_equal(sv.auths, 0);
    assert_null(strstr(sv.seen.data, "<auth"));
    teardown(&cs, &sv);
}

static void test_iteration_count_bounded(void **state)
{
    (void)state;
    unsigned long counts[] = { 2000000, 4000000000ul, 99999999999ul };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        client_side cs;
        server sv;
        g_iterations = counts[i];
        login(&cs, &sv, M_HUGE_ITERATIONS, PXMPP_TLS_REQUIRED); /* the bound here is 100000 */
        /* refused at once (a run of the derivation would take seconds to hours) */
        assert_int_equal(cs.failed_code, i < 2 ? PXMPP_ERR_LIMIT : PXMPP_ERR_AUTH);
        assert_non_null(strstr(sv.seen.data, "<abort"));
        teardown(&cs, &sv);
    }
}

static void test_features_during_sasl_refused(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    login(&cs, &sv, M_FEATURES_TWICE, PXMPP_TLS_REQUIRED);
    assert_int_equal(cs.failed_code, PXMPP_ERR_PROTOCOL);
    assert_int_equal(sv.auths, 1); /* no second <auth/>, no switch to PLAIN */
    teardown(&cs, &sv);
}

static void test_free_inside_failed_callback(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_free_in_failed = true;
    setup(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED, "wrong");
    reset_knobs();
    assert_int_equal(cs.failed_code, PXMPP_ERR_AUTH);
    assert_null(cs.c); /* freed when pxmpp_client_feed() returned; no use after free (ASan) */
    teardown(&cs, &sv);
}

static void test_stream_error_condition_reported(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    setup(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED, PASSWORD);
    assert_true(cs.ready);
    assert_int_equal(pxmpp_stream_send_error(sv.s, PXMPP_STREAM_ERROR_CONDITION_CONFLICT, "replaced"), 0);
    pump(&cs, &sv);
    assert_int_equal(cs.failed_code, PXMPP_ERR_PROTOCOL);
    assert_int_equal(cs.failed_cond, PXMPP_STREAM_ERROR_CONDITION_CONFLICT);
    assert_int_equal(pxmpp_client_stream_error(cs.c), PXMPP_STREAM_ERROR_CONDITION_CONFLICT);
    teardown(&cs, &sv);
}

/* ---- secrets do not survive in freed memory ---------------------------------------------------- */

typedef struct block_hdr {
    size_t size;
    size_t pad;
} block_hdr;

static const char *g_secrets[4];
static int g_secret_found;

static void *scan_malloc(size_t n, void *ud)
{
    (void)ud;
    block_hdr *h = calloc(1, sizeof *h + n); /* zeroed: the scan on free reads defined bytes only */
    if (!h)
        return NULL;
    h->size = n;
    return h + 1;
}

/* Releases a block after counting the secrets it still holds. */
static void scan_free(void *p, void *ud)
{
    (void)ud;
    if (!p)
        return;
    block_hdr *h = (block_hdr *)p - 1;
    for (size_t k = 0; k < 4 && g_secrets[k]; k++) {
        size_t sl = strlen(g_secrets[k]);
        for (size_t i = 0; i + sl <= h->size; i++)
            if (memcmp((char *)p + i, g_secrets[k], sl) == 0)
                g_secret_found++;
    }
    free(h);
}

static void *scan_realloc(void *p, size_t n, void *ud)
{
    void *q = scan_malloc(n, ud);
    if (!q || !p)
        return q;
    size_t old = ((block_hdr *)p - 1)->size;
    memcpy(q, p, old < n ? old : n);
    scan_free(p, ud); /* the old block is released: scanned like a free */
    return q;
}

static void test_secrets_wiped(void **state)
{
    (void)state;
    /* PLAIN's initial response is base64("\0juliet\0PASSWORD"); a failed login leaves it the last
       thing the client wrote, so an unwiped output buffer would still hold it when freed */
    static const char *const passwords[] = { "pencil", "wr0ng-pass" };
    char *b64[2];
    for (int k = 0; k < 2; k++) {
        char raw[32];
        int n = snprintf(raw, sizeof raw, "%cjuliet%c%s", 0, 0, passwords[k]);
        assert_int_equal(gsasl_base64_to(raw, (size_t)n, &b64[k], NULL), GSASL_OK);
        g_secrets[2 * k] = passwords[k];
        g_secrets[2 * k + 1] = b64[k];
    }
    g_secret_found = 0;
    pxmpp_mem mem = { .malloc = scan_malloc, .realloc = scan_realloc, .free = scan_free };
    g_mem = &mem;
    for (int run = 0; run < 4; run++) {
        client_side cs;
        server sv;
        g_mechs = run & 1 ? "PLAIN" : "SCRAM-SHA-1";
        setup(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED, passwords[run >= 2]);
        assert_true(run >= 2 ? cs.failed_code == PXMPP_ERR_AUTH : cs.ready);
        teardown(&cs, &sv);
    }
    g_mem = NULL;
    reset_knobs();
    memset(g_secrets, 0, sizeof g_secrets);
    gsasl_free(b64[0]);
    gsasl_free(b64[1]);
    assert_int_equal(g_secret_found, 0);
}

static bool g_app_answers; /* the iq_request callback answers (true) or leaves it to the library */
static int g_iq_requests;

static bool cli_iq_request(void *user, const pxmpp_iq *iq)
{
    client_side *cs = user;
    g_iq_requests++;
    if (!g_app_answers)
        return false;
    pxmpp_version_query *v = pxmpp_arena_alloc(pxmpp_client_arena(cs->c), sizeof *v);
    v->name = "test";
    assert_int_equal(pxmpp_client_send_iq_result(cs->c, iq, &pxmpp_version_query_desc, v), 0);
    return true;
}

static void test_iq_answers_through_the_client(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_iq_request = cli_iq_request;
    setup(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED, PASSWORD);
    g_iq_request = NULL;
    assert_true(cs.ready);
    g_iq_requests = 0;
    /* the app answers through the client */
    g_app_answers = true;
    size_t before = sv.seen.len;
    feed_server_bytes(&cs, "<iq type='get' id='v1' from='romeo@example.net/x'><query xmlns='jabber:iq:version'/></iq>");
    assert_non_null(strstr(sv.seen.data + before, "id='v1'"));
    assert_non_null(strstr(sv.seen.data + before, "<name>test</name>"));
    /* the app declines: service-unavailable */
    g_app_answers = false;
    before = sv.seen.len;
    feed_server_bytes(&cs, "<iq type='get' id='v2' from='romeo@example.net/x'><query xmlns='jabber:iq:version'/></iq>");
    assert_non_null(strstr(sv.seen.data + before, "service-unavailable"));
    assert_int_equal(g_iq_requests, 2);
    /* pings never reach the app */
    before = sv.seen.len;
    feed_server_bytes(&cs, "<iq type='get' id='p1' from='example.net'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(g_iq_requests, 2);
    assert_non_null(strstr(sv.seen.data + before, "id='p1'"));
    /* an error answer, and an iq built without id gets one when sent */
    pxmpp_iq req = { .type = PXMPP_IQ_TYPE_GET, .id = "q9", .from = "romeo@example.net/x" };
    assert_int_equal(pxmpp_client_send_iq_error(cs.c, &req, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                                                PXMPP_STANZA_ERROR_CONDITION_ITEM_NOT_FOUND), 0);
    assert_non_null(strstr(sv.seen.data + before, "item-not-found"));
    pxmpp_iq res = { .type = PXMPP_IQ_TYPE_RESULT, .id = "r1" };
    assert_int_equal(pxmpp_client_send_iq_result(cs.c, &res, NULL, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    pxmpp_arena *a = pxmpp_client_arena(cs.c);
    pxmpp_iq *ping = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "example.net", NULL, &pxmpp_ping_desc,
                                    pxmpp_arena_alloc(a, sizeof(pxmpp_ping)));
    before = sv.seen.len;
    assert_int_equal(pxmpp_client_send_iq(cs.c, ping, 1000, on_iq_reply, &cs), 0);
    assert_non_null(strstr(sv.seen.data + before, "id='px"));
    /* any stanza through the client; other elements refused */
    before = sv.seen.len;
    pxmpp_presence pr = { .to = "romeo@example.net", .type = PXMPP_PRESENCE_TYPE_UNAVAILABLE };
    assert_int_equal(pxmpp_client_send(cs.c, &pxmpp_presence_desc, &pr), 0);
    assert_non_null(strstr(sv.seen.data + before, "type='unavailable'"));
    pxmpp_ping pg = { 0 };
    assert_int_equal(pxmpp_client_send(cs.c, &pxmpp_ping_desc, &pg), PXMPP_ERR_INVALID_ARGUMENT);
    teardown(&cs, &sv);
}

static int tls_fails(void *user)
{
    client_side *cs = user;
    return pxmpp_client_tls_failed(cs->c, "certificate verify failed: self-signed certificate") == 0 ? -1 : 0;
}

static void test_tls_failure_reason(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    g_start_tls = tls_fails;
    setup(&cs, &sv, M_OK, PXMPP_TLS_REQUIRED, PASSWORD);
    g_start_tls = NULL;
    const char *why = NULL;
    assert_int_equal(pxmpp_client_error(cs.c, &why), PXMPP_ERR_TLS);
    assert_non_null(strstr(why, "self-signed certificate"));
    assert_int_equal(cs.failed_code, PXMPP_ERR_TLS);
    teardown(&cs, &sv);
}

static void test_direct_tls(void **state)
{
    (void)state;
    client_side cs;
    server sv;
    /* XEP-0368: the transport is TLS from the first byte; the server offers no STARTTLS */
    g_direct_tls = true;
    g_mechs = NULL;
    setup(&cs, &sv, M_NO_TLS, PXMPP_TLS_REQUIRED, PASSWORD);
    g_direct_tls = false;
    reset_knobs();
    assert_true(cs.ready);
    assert_true(pxmpp_client_is_secure(cs.c));
    assert_null(strstr(sv.seen.data, "<starttls"));
    assert_int_equal(strncmp(sv.first_msg, "y,,", 3), 0); /* it can bind the channel: no -PLUS offered */
    /* once started, the call means a STARTTLS answer again: refused out of place */
    assert_int_equal(pxmpp_client_tls_ready(cs.c, NULL, NULL, 0), PXMPP_ERR_STATE);
    teardown(&cs, &sv);
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
        cmocka_unit_test(test_space_after_proceed),
        cmocka_unit_test(test_no_bind),
        cmocka_unit_test(test_bind_error),
        cmocka_unit_test(test_features_missing_after_tls),
        cmocka_unit_test(test_legacy_session),
        cmocka_unit_test(test_pending_table_bounded),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_plus_without_announcement_uses_tls_unique),
        cmocka_unit_test(test_announced_types_strongest_first),
        cmocka_unit_test(test_no_common_type_fails),
        cmocka_unit_test(test_announced_without_plus_fails),
        cmocka_unit_test(test_stripped_plus_sends_y),
        cmocka_unit_test(test_named_mechanism_is_exact),
        cmocka_unit_test(test_require_channel_binding),
        cmocka_unit_test(test_password_revealing_mechanism_refused_without_tls),
        cmocka_unit_test(test_iteration_count_bounded),
        cmocka_unit_test(test_features_during_sasl_refused),
        cmocka_unit_test(test_free_inside_failed_callback),
        cmocka_unit_test(test_stream_error_condition_reported),
        cmocka_unit_test(test_secrets_wiped),
        cmocka_unit_test(test_iq_answers_through_the_client),
        cmocka_unit_test(test_tls_failure_reason),
        cmocka_unit_test(test_direct_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
