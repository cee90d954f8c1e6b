/* The server session (<pxmpp/server.h>) driven by the library's own client over in-memory
 * buffers, hostile input next to a healthy session, and RFC 6121's subscription and delivery
 * tables checked row by row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pxmpp/pxmpp.h>
#include <pxmpp/server.h>

/* ---- one connection: a pxmpp_server and a pxmpp_client ------------------------------------- */

typedef struct conn {
    pxmpp_server *srv;
    pxmpp_client *cli;
    pxmpp_buf to_cli, to_srv;
    pxmpp_buf srv_log;
    size_t piece;       /* bytes per feed, both ways */
    /* server side */
    int bound, routed, iq_requests, srv_failed, srv_closed;
    pxmpp_stream_error_condition srv_cond;
    char bound_jid[256], routed_from[256], routed_to[256];
    char routed_log[1024]; /* presences: "type>to " each */
    pxmpp_server_bind_decision decision;
    struct conn *other; /* ended with conflict when decision is ACCEPT and this is set */
    /* client side */
    bool ready;
    char jid[256];
    int cli_failed;
    pxmpp_stream_error_condition cli_cond;
    int iq_status, iq_replies, roster_status, client_pushes;
    size_t roster_count;
    bool roster_unchanged;
    char push_ver[32];
    pxmpp_roster_subscription push_sub;
    char iq_reply_xml[1024];
} conn;

static pxmpp_scram_secrets SEC1, SEC256;
static bool g_free_in_route; /* srv_route frees the session */
static const char *PASSWORD = "pencil";

static int srv_write(void *user, const char *d, size_t n) { return pxmpp_buf_append(&((conn *)user)->to_cli, d, n); }
static int cli_write(void *user, const char *d, size_t n) { return pxmpp_buf_append(&((conn *)user)->to_srv, d, n); }

/* channel binding: the data each side hands over after the handshake (none when NULL) */
static const char *g_srv_cb_type, *g_cli_cb_type;
static const unsigned char CBD[32] = { 7, 7, 7, 1, 2, 3 }, CBD_OTHER[32] = { 9 };
static const unsigned char *g_cli_cb_data = CBD;

static int srv_start_tls(void *user)
{
    return pxmpp_server_tls_ready(((conn *)user)->srv, g_srv_cb_type, g_srv_cb_type ? CBD : NULL,
                                  g_srv_cb_type ? 32 : 0);
}

static int cli_start_tls(void *user)
{
    return pxmpp_client_tls_ready(((conn *)user)->cli, g_cli_cb_type, g_cli_cb_type ? g_cli_cb_data : NULL,
                                  g_cli_cb_type ? 32 : 0);
}

static int srv_secrets(void *user, const char *name, pxmpp_scram_hash h, pxmpp_scram_secrets *out)
{
    (void)user;
    if (strcmp(name, "juliet") != 0 && strcmp(name, "romeo") != 0)
        return -1;
    *out = h == PXMPP_SCRAM_SHA1 ? SEC1 : SEC256;
    return 0;
}

static pxmpp_server_bind_decision srv_bind(void *user, const char *full)
{
    conn *k = user;
    (void)full;
    if (k->decision == PXMPP_SERVER_BIND_ACCEPT && k->other)
        assert_int_equal(pxmpp_server_end(k->other->srv, PXMPP_STREAM_ERROR_CONDITION_CONFLICT, "replaced"), 0);
    return k->decision;
}

static void srv_bound(void *user, const char *full)
{
    conn *k = user;
    k->bound++;
    snprintf(k->bound_jid, sizeof k->bound_jid, "%s", full);
}

static bool srv_iq_request(void *user, const pxmpp_iq *iq)
{
    conn *k = user;
    k->iq_requests++;
    assert_string_equal(iq->from, k->bound_jid);
    return false; /* the library answers service-unavailable */
}

static void srv_route(void *user, const pxmpp_type_desc *d, const void *obj)
{
    conn *k = user;
    k->routed++;
    if (g_free_in_route) {
        pxmpp_server_free(k->srv); /* deferred until the feed returns */
        k->srv = NULL;
        return;
    }
    const char *from = d == &pxmpp_message_desc ? ((const pxmpp_message *)obj)->from
                       : d == &pxmpp_presence_desc ? ((const pxmpp_presence *)obj)->from
                                                   : ((const pxmpp_iq *)obj)->from;
    const char *to = d == &pxmpp_message_desc ? ((const pxmpp_message *)obj)->to
                     : d == &pxmpp_presence_desc ? ((const pxmpp_presence *)obj)->to
                                                 : ((const pxmpp_iq *)obj)->to;
    snprintf(k->routed_from, sizeof k->routed_from, "%s", from ? from : "");
    if (d == &pxmpp_presence_desc) {
        const pxmpp_presence *p = obj;
        size_t used = strlen(k->routed_log);
        const char *t = pxmpp_presence_type_str(p->type);
        snprintf(k->routed_log + used, sizeof k->routed_log - used, "%s>%s ", t ? t : "available", to ? to : "*");
    }
    snprintf(k->routed_to, sizeof k->routed_to, "%s", to ? to : "");
}

static void srv_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    conn *k = user;
    (void)reason;
    k->srv_failed = code;
    k->srv_cond = cond;
}

static void srv_closed(void *user) { ((conn *)user)->srv_closed++; }

static void srv_log(void *user, const char *line)
{
    conn *k = user;
    if (getenv("PXMPP_TEST_VERBOSE"))
        fprintf(stderr, "server: %s\n", line);
    pxmpp_buf_append(&k->srv_log, line, strlen(line));
    pxmpp_buf_append(&k->srv_log, "\n", 1);
}

static void cli_log(void *user, const char *line)
{
    (void)user;
    if (getenv("PXMPP_TEST_VERBOSE"))
        fprintf(stderr, "client: %s\n", line);
}

static void cli_push(void *user, const pxmpp_roster_item *item, const char *ver)
{
    conn *k = user;
    k->client_pushes++;
    k->push_sub = item->subscription;
    snprintf(k->push_ver, sizeof k->push_ver, "%s", ver ? ver : "");
}

static void cli_ready(void *user, const char *jid)
{
    conn *k = user;
    k->ready = true;
    snprintf(k->jid, sizeof k->jid, "%s", jid);
}

static void cli_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    conn *k = user;
    (void)reason;
    k->cli_failed = code;
    k->cli_cond = cond;
}

/* ---- the test's roster store: one account's items ---- */

#define MAXITEMS 8
static struct {
    char jid[MAXITEMS][64], name[MAXITEMS][64], groups[MAXITEMS][2][32];
    size_t ngroups[MAXITEMS];
    pxmpp_roster_subscription sub[MAXITEMS];
    size_t n;
    int version;
    int pushes;
    conn *sessions[2];
} R;

static int store_get(void *user, const char *bare, pxmpp_arena *a, pxmpp_roster_query *out)
{
    (void)user;
    assert_string_equal(bare, "juliet@example.net");
    pxmpp_roster_item *items = pxmpp_arena_alloc(a, (R.n ? R.n : 1) * sizeof *items);
    const char **groups = pxmpp_arena_alloc(a, (MAXITEMS * 2) * sizeof *groups);
    char *ver = pxmpp_arena_alloc(a, 16);
    assert_non_null(items);
    for (size_t i = 0; i < R.n; i++) {
        memset(&items[i], 0, sizeof items[i]);
        items[i].jid = R.jid[i];
        items[i].name = R.name[i][0] ? R.name[i] : NULL;
        items[i].subscription = R.sub[i];
        for (size_t g = 0; g < R.ngroups[i]; g++)
            groups[2 * i + g] = R.groups[i][g];
        items[i].groups = groups + 2 * i;
        items[i].groups_count = R.ngroups[i];
    }
    snprintf(ver, 16, "v%d", R.version);
    out->items = items;
    out->items_count = R.n;
    out->ver = ver;
    return 0;
}

static int store_set(void *user, const char *bare, pxmpp_roster_item *it, char *ver, size_t cap)
{
    (void)user;
    (void)bare;
    size_t i = 0;
    while (i < R.n && strcmp(R.jid[i], it->jid) != 0)
        i++;
    if (it->subscription == PXMPP_ROSTER_SUBSCRIPTION_REMOVE) {
        if (i == R.n)
            return 1;
        R.n--;
        for (; i < R.n; i++) {
            memcpy(R.jid[i], R.jid[i + 1], sizeof R.jid[i]);
            memcpy(R.name[i], R.name[i + 1], sizeof R.name[i]);
            memcpy(R.groups[i], R.groups[i + 1], sizeof R.groups[i]);
            R.ngroups[i] = R.ngroups[i + 1];
            R.sub[i] = R.sub[i + 1];
        }
    } else {
        if (i == R.n) {
            assert_true(R.n < MAXITEMS);
            R.n++;
            R.sub[i] = PXMPP_ROSTER_SUBSCRIPTION_NONE;
        }
        snprintf(R.jid[i], sizeof R.jid[i], "%s", it->jid);
        snprintf(R.name[i], sizeof R.name[i], "%s", it->name ? it->name : "");
        R.ngroups[i] = it->groups_count < 2 ? it->groups_count : 2;
        for (size_t g = 0; g < R.ngroups[i]; g++)
            snprintf(R.groups[i][g], sizeof R.groups[i][g], "%s", it->groups[g]);
        assert_int_equal(it->subscription, PXMPP_ROSTER_SUBSCRIPTION_ABSENT);
        it->subscription = R.sub[i]; /* the stored state, for the push */
    }
    snprintf(ver, cap, "v%d", ++R.version);
    return 0;
}

static void store_push(void *user, const char *bare, const pxmpp_roster_item *it, const char *ver)
{
    (void)user;
    assert_string_equal(bare, "juliet@example.net");
    R.pushes++;
    for (int i = 0; i < 2; i++)
        if (R.sessions[i] && pxmpp_server_roster_interested(R.sessions[i]->srv))
            assert_int_equal(pxmpp_server_push_roster(R.sessions[i]->srv, it, ver), 0);
}

/* configuration of the next conn_new() */
static struct {
    const char *mechs;
    const char *resource;
    pxmpp_tls_policy tls;
    bool srv_no_tls, allow_plain_cli, srv_allow_plain;
    size_t max_stanza;
    const char *password;
    const char *user;
} K;

static void knobs_default(void)
{
    K.mechs = "SCRAM-SHA-256";
    K.resource = "balcony";
    K.tls = PXMPP_TLS_REQUIRED;
    K.srv_no_tls = false;
    K.allow_plain_cli = false;
    K.srv_allow_plain = false;
    K.max_stanza = 0;
    g_free_in_route = false;
    K.password = PASSWORD;
    K.user = "juliet@example.net";
}

static void conn_new_server(conn *k, size_t piece)
{
    memset(k, 0, sizeof *k);
    k->piece = piece;
    pxmpp_buf_init(&k->to_cli, NULL);
    pxmpp_buf_init(&k->to_srv, NULL);
    pxmpp_buf_init(&k->srv_log, NULL);
    pxmpp_server_config sc = { .domain = "example.net", .no_tls = K.srv_no_tls,
                               .allow_plain_without_tls = K.srv_allow_plain,
                               .limits = { .max_stanza_bytes = K.max_stanza } };
    pxmpp_server_callbacks sb = { .write = srv_write, .start_tls = srv_start_tls, .scram_secrets = srv_secrets,
                                  .bind = srv_bind, .bound = srv_bound, .iq_request = srv_iq_request,
                                  .route = srv_route, .failed = srv_failed, .closed = srv_closed, .log = srv_log,
                                  .roster_get = store_get, .roster_set = store_set, .roster_push = store_push };
    assert_int_equal(pxmpp_server_new(&k->srv, &sc, &sb, k), 0);
}

static void conn_new(conn *k, size_t piece)
{
    conn_new_server(k, piece);
    pxmpp_client_config cc = { .jid = K.user, .password = K.password, .resource = K.resource, .tls = K.tls,
                               .mechanisms = K.mechs, .allow_plain_without_tls = K.allow_plain_cli,
                               .sm = PXMPP_SM_OFF };
    pxmpp_client_callbacks cb = { .write = cli_write, .start_tls = cli_start_tls, .ready = cli_ready,
                                  .failed = cli_failed, .log = cli_log, .roster_push = cli_push };
    assert_int_equal(pxmpp_client_new(&k->cli, &cc, &cb, k), 0);
}

static void conn_free(conn *k)
{
    pxmpp_client_free(k->cli);
    pxmpp_server_free(k->srv);
    pxmpp_buf_free(&k->to_cli);
    pxmpp_buf_free(&k->to_srv);
    pxmpp_buf_free(&k->srv_log);
}

/* Moves bytes both ways, k->piece at a time, until both sides are quiet. */
static void pump(conn *k)
{
    for (int round = 0; round < 200 && (k->to_cli.len || k->to_srv.len); round++) {
        if (k->to_srv.len) {
            pxmpp_buf b = k->to_srv;
            pxmpp_buf_init(&k->to_srv, NULL);
            for (size_t i = 0; i < b.len; i += k->piece)
                (void)pxmpp_server_feed(k->srv, b.data + i, b.len - i < k->piece ? b.len - i : k->piece);
            pxmpp_buf_free(&b);
        }
        if (k->to_cli.len) {
            pxmpp_buf b = k->to_cli;
            pxmpp_buf_init(&k->to_cli, NULL);
            for (size_t i = 0; i < b.len; i += k->piece)
                (void)pxmpp_client_feed(k->cli, b.data + i, b.len - i < k->piece ? b.len - i : k->piece);
            pxmpp_buf_free(&b);
        }
    }
}

static void login(conn *k, size_t piece)
{
    conn_new(k, piece);
    assert_int_equal(pxmpp_client_start(k->cli), 0);
    pump(k);
}

static int group_setup(void **state)
{
    (void)state;
    static const unsigned char salt[] = "QSXCR+Q6sek8bf92";
    assert_int_equal(pxmpp_server_scram_secrets(PXMPP_SCRAM_SHA1, PASSWORD, salt, 16, 4096, &SEC1), 0);
    assert_int_equal(pxmpp_server_scram_secrets(PXMPP_SCRAM_SHA256, PASSWORD, salt, 16, 4096, &SEC256), 0);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    knobs_default();
    g_srv_cb_type = g_cli_cb_type = NULL;
    g_cli_cb_data = CBD;
    return 0;
}

/* ---- login ------------------------------------------------------------------------------ */

static void full_login(const char *mechs, size_t piece)
{
    knobs_default();
    K.mechs = mechs;
    conn k;
    login(&k, piece);
    assert_true(k.ready);
    assert_string_equal(k.jid, "juliet@example.net/balcony");
    assert_string_equal(pxmpp_client_mechanism(k.cli), mechs);
    assert_int_equal(k.bound, 1);
    assert_string_equal(k.bound_jid, "juliet@example.net/balcony");
    assert_string_equal(pxmpp_server_jid(k.srv), "juliet@example.net/balcony");
    assert_string_equal(pxmpp_server_bare_jid(k.srv), "juliet@example.net");
    assert_true(pxmpp_server_tls_up(k.srv));
    assert_int_equal(pxmpp_server_get_state(k.srv), PXMPP_SERVER_READY);
    /* a clean close from the client */
    assert_int_equal(pxmpp_client_close(k.cli), 0);
    pump(&k);
    assert_int_equal(k.srv_closed, 1);
    assert_int_equal(pxmpp_server_finish(k.srv), 0);
    assert_int_equal(pxmpp_server_error(k.srv, NULL), 0);
    conn_free(&k);
}

static void login_scram_sha1(void **state)
{
    (void)state;
    full_login("SCRAM-SHA-1", 4096);
    full_login("SCRAM-SHA-1", 1);
}

static void login_scram_sha256(void **state)
{
    (void)state;
    full_login("SCRAM-SHA-256", 4096);
    full_login("SCRAM-SHA-256", 1);
}

static void login_plain_over_tls(void **state)
{
    (void)state;
    full_login("PLAIN", 7);
}

static void login_wrong_password(void **state)
{
    (void)state;
    for (int m = 0; m < 3; m++) {
        knobs_default();
        K.mechs = m == 0 ? "SCRAM-SHA-1" : m == 1 ? "SCRAM-SHA-256" : "PLAIN";
        K.password = "wrong";
        conn k;
        login(&k, 3);
        assert_false(k.ready);
        assert_int_equal(k.cli_failed, PXMPP_ERR_AUTH);
        assert_int_equal(k.bound, 0);
        assert_null(pxmpp_server_bare_jid(k.srv));
        assert_int_equal(pxmpp_server_get_state(k.srv), PXMPP_SERVER_CLOSED); /* the client gave up and closed */
        conn_free(&k);
    }
    /* an unknown account fails the same way, after the whole exchange */
    knobs_default();
    K.user = "nobody@example.net";
    conn k;
    login(&k, 64);
    assert_int_equal(k.cli_failed, PXMPP_ERR_AUTH);
    conn_free(&k);
}

/* Raw bytes to a server session; returns what it wrote. */
static const char *HDR = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                         "xmlns:stream='http://etherx.jabber.org/streams' to='example.net' version='1.0'>";

static void feed_str(conn *k, const char *s, size_t piece)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i += piece)
        (void)pxmpp_server_feed(k->srv, s + i, n - i < piece ? n - i : piece);
}

static bool out_has(conn *k, const char *needle)
{
    char *z = malloc(k->to_cli.len + 1);
    memcpy(z, k->to_cli.data, k->to_cli.len);
    z[k->to_cli.len] = '\0';
    bool r = strstr(z, needle) != NULL;
    free(z);
    return r;
}

static void plain_refused_without_tls(void **state)
{
    (void)state;
    /* the client, told PLAIN is fine, finds it not offered on a stream without TLS */
    K.srv_no_tls = true;
    K.tls = PXMPP_TLS_DISABLED;
    K.allow_plain_cli = true;
    K.mechs = "PLAIN";
    conn k;
    login(&k, 5);
    assert_false(k.ready);
    assert_int_not_equal(k.cli_failed, 0);
    assert_int_equal(k.bound, 0);
    conn_free(&k);
    /* SCRAM works there */
    K.mechs = "SCRAM-SHA-1";
    login(&k, 5);
    assert_true(k.ready);
    assert_false(pxmpp_server_tls_up(k.srv));
    conn_free(&k);
    /* PLAIN sent anyway: invalid-mechanism; three failures end the stream */
    for (size_t piece = 1; piece <= 4096; piece *= 4096) {
        conn_new_server(&k, piece);
        feed_str(&k, HDR, piece);
        assert_true(out_has(&k, "SCRAM-SHA-256"));
        assert_false(out_has(&k, "PLAIN"));
        const char *plain = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwZW5jaWw=</auth>";
        feed_str(&k, plain, piece);
        assert_true(out_has(&k, "invalid-mechanism"));
        assert_int_equal(k.bound, 0);
        feed_str(&k, plain, piece);
        feed_str(&k, plain, piece);
        assert_int_equal(k.srv_failed, PXMPP_ERR_AUTH);
        assert_int_equal(k.srv_cond, PXMPP_STREAM_ERROR_CONDITION_POLICY_VIOLATION);
        assert_true(out_has(&k, "policy-violation"));
        conn_free(&k);
    }
}

/* -PLUS with the channel-binding data both ends computed, announced per XEP-0440 */
static void login_plus(void **state)
{
    (void)state;
    static const char *const types[] = { "tls-exporter", "tls-unique" };
    for (size_t t = 0; t < 2; t++) {
        g_srv_cb_type = g_cli_cb_type = types[t];
        g_cli_cb_data = CBD;
        K.mechs = NULL; /* the client's default list, -PLUS first */
        conn k;
        login(&k, t ? 1 : 4096);
        assert_true(k.ready);
        assert_string_equal(pxmpp_client_mechanism(k.cli), "SCRAM-SHA-256-PLUS");
        conn_free(&k);
        /* other data on the client's side (a connection in the middle): refused */
        g_cli_cb_data = CBD_OTHER;
        login(&k, 4096);
        assert_false(k.ready);
        assert_int_equal(k.cli_failed, PXMPP_ERR_AUTH);
        conn_free(&k);
    }
    /* the client could bind but the server offers no -PLUS (no data on the server): SCRAM
       with the 'y' flag goes through */
    g_srv_cb_type = NULL;
    g_cli_cb_type = "tls-exporter";
    g_cli_cb_data = CBD;
    conn k;
    login(&k, 64);
    assert_true(k.ready);
    assert_string_equal(pxmpp_client_mechanism(k.cli), "SCRAM-SHA-256");
    conn_free(&k);
    assert_int_equal(pxmpp_server_tls_ready(NULL, "tls-exporter", CBD, 32), PXMPP_ERR_INVALID_ARGUMENT);
    /* a server that binds refuses 'y' (a client that saw no -PLUS: stripped on the way), not 'n' */
    g_srv_cb_type = "tls-exporter";
    for (int flag = 0; flag < 2; flag++) {
        conn_new_server(&k, 3);
        feed_str(&k, HDR, 3);
        feed_str(&k, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", 3);
        assert_true(pxmpp_server_tls_up(k.srv));
        k.to_cli.len = 0;
        feed_str(&k, HDR, 3);
        assert_true(out_has(&k, "<mechanism>SCRAM-SHA-256-PLUS</mechanism>"));
        assert_true(out_has(&k, "tls-exporter"));
        feed_str(&k, flag ? "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
                            "biwsbj1qdWxpZXQscj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0w=</auth>"
                          : "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
                            "eSwsbj1qdWxpZXQscj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0w=</auth>",
                 3);
        assert_int_equal(out_has(&k, "<challenge"), flag == 1);
        assert_int_equal(out_has(&k, "not-authorized"), flag == 0);
        conn_free(&k);
    }
}

/* PLAIN (allowed here without TLS) with an authorization identity: only the account's own */
static void authzid_refused(void **state)
{
    (void)state;
    K.srv_no_tls = true;
    K.srv_allow_plain = true;
    for (size_t piece = 1; piece <= 4096; piece *= 4096) {
        conn k;
        conn_new_server(&k, piece);
        feed_str(&k, HDR, piece);
        assert_true(out_has(&k, "<mechanism>PLAIN</mechanism>"));
        feed_str(&k, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                     "cm9tZW9AZXhhbXBsZS5uZXQAanVsaWV0AHBlbmNpbA==</auth>", piece);
        assert_true(out_has(&k, "invalid-authzid"));
        assert_null(pxmpp_server_bare_jid(k.srv));
        feed_str(&k, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                     "anVsaWV0QGV4YW1wbGUubmV0AGp1bGlldABwZW5jaWw=</auth>", piece);
        assert_true(out_has(&k, "<success"));
        assert_string_equal(pxmpp_server_bare_jid(k.srv), "juliet@example.net");
        assert_int_equal(pxmpp_server_get_state(k.srv), PXMPP_SERVER_BINDING);
        conn_free(&k);
    }
}

static void tls_required_first(void **state)
{
    (void)state;
    conn k;
    conn_new_server(&k, 1);
    feed_str(&k, HDR, 1);
    assert_true(out_has(&k, "<required/>"));
    assert_false(out_has(&k, "mechanism"));
    feed_str(&k, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'/>", 1);
    assert_true(out_has(&k, "encryption-required"));
    /* bytes after <starttls/> in one read: refused */
    feed_str(&k, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message/>", 4096);
    assert_int_equal(k.srv_failed, PXMPP_ERR_TLS);
    conn_free(&k);
    /* white space after it in the same read (a client that ends its elements with a line feed)
       is dropped: STARTTLS goes on */
    conn_new_server(&k, 1);
    feed_str(&k, HDR, 4096);
    feed_str(&k, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\r\n \t", 4096);
    assert_int_equal(k.srv_failed, 0);
    assert_true(pxmpp_server_tls_up(k.srv)); /* the test's start_tls hands TLS over at once */
    conn_free(&k);
    /* a host we do not serve */
    conn_new_server(&k, 3);
    feed_str(&k, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                 "to='example.org' version='1.0'>", 3);
    assert_int_equal(k.srv_cond, PXMPP_STREAM_ERROR_CONDITION_HOST_UNKNOWN);
    assert_true(out_has(&k, "host-unknown"));
    conn_free(&k);
}

/* ---- binding ------------------------------------------------------------------------------ */

static void bind_assigned_resource(void **state)
{
    (void)state;
    K.resource = NULL;
    conn k;
    login(&k, 11);
    assert_true(k.ready);
    assert_int_equal(strncmp(k.jid, "juliet@example.net/", 19), 0);
    assert_true(strlen(k.jid) > 19);
    assert_string_equal(k.jid, k.bound_jid);
    conn_free(&k);
}

static void bind_conflict(void **state)
{
    (void)state;
    conn k;
    conn_new(&k, 9);
    k.decision = PXMPP_SERVER_BIND_CONFLICT;
    assert_int_equal(pxmpp_client_start(k.cli), 0);
    pump(&k);
    assert_false(k.ready);
    assert_int_equal(k.bound, 0);
    assert_true(strstr((const char *)k.srv_log.data, "conflict") != NULL);
    assert_int_equal(pxmpp_server_get_state(k.srv), PXMPP_SERVER_CLOSED);
    assert_null(pxmpp_server_jid(k.srv));
    conn_free(&k);
    /* policy refusal */
    conn_new(&k, 9);
    k.decision = PXMPP_SERVER_BIND_REFUSE;
    assert_int_equal(pxmpp_client_start(k.cli), 0);
    pump(&k);
    assert_false(k.ready);
    conn_free(&k);
    /* the new session takes over: the app ends the old one with conflict */
    conn a, b;
    login(&a, 4096);
    assert_true(a.ready);
    conn_new(&b, 4096);
    b.other = &a;
    assert_int_equal(pxmpp_client_start(b.cli), 0);
    pump(&b);
    assert_true(b.ready);
    assert_int_equal(a.srv_failed, PXMPP_ERR_PROTOCOL);
    assert_int_equal(a.srv_cond, PXMPP_STREAM_ERROR_CONDITION_CONFLICT);
    pump(&a);
    assert_int_equal(a.cli_cond, PXMPP_STREAM_ERROR_CONDITION_CONFLICT);
    assert_int_equal(pxmpp_server_deliver(a.srv, &pxmpp_message_desc, &(pxmpp_message){ .to = "x@y" }),
                     PXMPP_ERR_PROTOCOL);
    conn_free(&a);
    conn_free(&b);
}

/* ---- stanzas ---------------------------------------------------------------------------- */

static void on_reply(void *user, const pxmpp_iq *reply, int status)
{
    conn *k = user;
    k->iq_replies++;
    k->iq_status = status;
    k->iq_reply_xml[0] = '\0';
    if (reply) {
        const pxmpp_disco_info *di = pxmpp_iq_get_disco_info(reply);
        if (di && di->features_count)
            snprintf(k->iq_reply_xml, sizeof k->iq_reply_xml, "%s", di->features[di->features_count - 1].var);
        if (reply->error)
            snprintf(k->iq_reply_xml, sizeof k->iq_reply_xml, "%s",
                     pxmpp_stanza_error_condition_str(reply->error->condition));
    }
}

static void stanzas_stamped(void **state)
{
    (void)state;
    conn k;
    login(&k, 1);
    assert_true(k.ready);
    /* the login's elements are counted (SASL, bind, ...): the rate limits of an app see them */
    uint64_t before = pxmpp_server_stanza_count(k.srv);
    assert_true(before >= 3);
    assert_int_equal(pxmpp_server_stanza_count(NULL), 0);
    pxmpp_arena *a;
    assert_int_equal(pxmpp_arena_new(&a, NULL, 0), 0);
    /* a message without 'from' and one from the bare JID: routed with the full JID */
    pxmpp_message *m = pxmpp_build_message(a, "romeo@example.net", PXMPP_MESSAGE_TYPE_CHAT, "m1");
    assert_int_equal(pxmpp_client_send_message(k.cli, m), 0);
    pump(&k);
    assert_int_equal(k.routed, 1);
    assert_int_equal(pxmpp_server_stanza_count(k.srv), before + 1);
    assert_string_equal(k.routed_from, "juliet@example.net/balcony");
    assert_string_equal(k.routed_to, "romeo@example.net");
    m->from = "JULIET@example.net";
    assert_int_equal(pxmpp_client_send_message(k.cli, m), 0);
    pump(&k);
    assert_int_equal(k.routed, 2);
    assert_string_equal(k.routed_from, "juliet@example.net/balcony");
    /* presence without 'to' (broadcast) goes to the app too */
    pxmpp_presence pr;
    memset(&pr, 0, sizeof pr);
    assert_int_equal(pxmpp_client_send_presence(k.cli, &pr), 0);
    pump(&k);
    assert_int_equal(k.routed, 3);
    assert_string_equal(k.routed_to, "");
    /* ping and disco#info answered by the server itself */
    pxmpp_ping *ping = pxmpp_new(a, &pxmpp_ping_desc);
    assert_int_equal(pxmpp_client_send_iq(k.cli, pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "example.net", NULL,
                                                                 &pxmpp_ping_desc, ping), 1000, on_reply, &k), 0);
    pump(&k);
    assert_int_equal(k.iq_replies, 1);
    assert_int_equal(k.iq_status, 0);
    pxmpp_disco_info *di = pxmpp_new(a, &pxmpp_disco_info_desc);
    assert_int_equal(pxmpp_client_send_iq(k.cli, pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, NULL, NULL,
                                                                 &pxmpp_disco_info_desc, di), 1000, on_reply, &k), 0);
    pump(&k);
    assert_int_equal(k.iq_replies, 2);
    assert_int_equal(k.iq_status, 0);
    assert_string_equal(k.iq_reply_xml, "urn:xmpp:ping");
    /* an iq to the bare JID nobody handles: service-unavailable */
    pxmpp_version_query *vq = pxmpp_new(a, &pxmpp_version_query_desc);
    assert_non_null(vq);
    assert_int_equal(pxmpp_client_send_iq(k.cli, pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "juliet@example.net", NULL,
                                                                 &pxmpp_version_query_desc, vq), 1000, on_reply, &k), 0);
    pump(&k);
    assert_int_equal(k.iq_replies, 3);
    assert_int_equal(k.iq_status, PXMPP_ERR_IQ_ERROR);
    assert_string_equal(k.iq_reply_xml, "service-unavailable");
    assert_int_equal(k.iq_requests, 1);
    /* deliver from the app to this client */
    pxmpp_message *in = pxmpp_build_message(a, "juliet@example.net/balcony", PXMPP_MESSAGE_TYPE_CHAT, "in1");
    in->from = "romeo@example.net/orchard";
    assert_int_equal(pxmpp_server_deliver(k.srv, &pxmpp_message_desc, in), 0);
    assert_int_equal(pxmpp_server_deliver(k.srv, &pxmpp_stream_features_desc, in), PXMPP_ERR_INVALID_ARGUMENT);
    /* a spoofed 'from' ends the stream with invalid-from */
    m->from = "romeo@example.net/orchard";
    assert_int_equal(pxmpp_client_send_message(k.cli, m), 0);
    pump(&k);
    assert_int_equal(k.routed, 4); /* not the message: the unavailable presence on the client's behalf */
    assert_string_equal(k.routed_to, "");
    assert_int_equal(k.srv_failed, PXMPP_ERR_PROTOCOL);
    assert_int_equal(k.srv_cond, PXMPP_STREAM_ERROR_CONDITION_INVALID_FROM);
    assert_int_equal(k.cli_cond, PXMPP_STREAM_ERROR_CONDITION_INVALID_FROM);
    pxmpp_arena_free(a);
    conn_free(&k);
}

static void stanza_before_auth(void **state)
{
    (void)state;
    conn k;
    conn_new_server(&k, 2);
    feed_str(&k, HDR, 2);
    feed_str(&k, "<message to='romeo@example.net'><body>hi</body></message>", 2);
    assert_int_equal(k.srv_cond, PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED);
    assert_true(out_has(&k, "not-authorized"));
    assert_int_equal(k.routed, 0);
    conn_free(&k);
}

/* ---- roster ---------------------------------------------------------------------------- */

static void on_roster(void *user, int status, const pxmpp_roster_item *items, size_t count, const char *ver,
                      bool unchanged)
{
    conn *k = user;
    (void)items;
    (void)ver;
    k->roster_status = status;
    k->roster_count = count;
    k->roster_unchanged = unchanged;
}

static void roster_get_set_push(void **state)
{
    (void)state;
    memset(&R, 0, sizeof R);
    conn a, b;
    login(&a, 1);
    login(&b, 4096);
    assert_true(a.ready && b.ready);
    R.sessions[0] = &a;
    R.sessions[1] = &b;
    /* a asks for the roster (versioned): empty, version v0 */
    assert_int_equal(pxmpp_client_roster_get(a.cli, "", on_roster, &a), 0);
    pump(&a);
    assert_int_equal(a.roster_status, 0);
    assert_int_equal(a.roster_count, 0);
    assert_true(pxmpp_server_roster_interested(a.srv));
    assert_false(pxmpp_server_roster_interested(b.srv));
    /* a adds romeo with two groups: result, and a push to a only (b never asked) */
    static const char *groups[] = { "Friends", "Lovers" };
    assert_int_equal(pxmpp_client_roster_set(a.cli, "Romeo@Example.net", "Romeo", groups, 2, on_reply, &a), 0);
    pump(&a);
    pump(&b);
    assert_int_equal(a.iq_status, 0);
    assert_int_equal(R.pushes, 1);
    assert_int_equal(a.client_pushes, 1);
    assert_string_equal(a.push_ver, "v1");
    assert_int_equal(b.client_pushes, 0);
    assert_string_equal(R.jid[0], "romeo@example.net");
    assert_int_equal(R.ngroups[0], 2);
    assert_string_equal(R.groups[0][1], "Lovers");
    assert_int_equal(a.push_sub, PXMPP_ROSTER_SUBSCRIPTION_NONE);
    /* renaming keeps the stored subscription, and the push shows it */
    R.sub[0] = PXMPP_ROSTER_SUBSCRIPTION_BOTH;
    assert_int_equal(pxmpp_client_roster_set(a.cli, "romeo@example.net", "R.", groups, 2, on_reply, &a), 0);
    pump(&a);
    assert_int_equal(a.push_sub, PXMPP_ROSTER_SUBSCRIPTION_BOTH);
    assert_string_equal(a.push_ver, "v2");
    assert_int_equal(R.sub[0], PXMPP_ROSTER_SUBSCRIPTION_BOTH);
    /* b asks with an old version: the whole roster; then with the current one: unchanged */
    assert_int_equal(pxmpp_client_roster_get(b.cli, "v0", on_roster, &b), 0);
    pump(&b);
    assert_int_equal(b.roster_count, 1);
    assert_false(b.roster_unchanged);
    assert_int_equal(pxmpp_client_roster_get(b.cli, "v2", on_roster, &b), 0);
    pump(&b);
    assert_true(b.roster_unchanged);
    /* invalid sets: the account itself, an empty group, a group twice */
    static const char *empty[] = { "" }, *twice[] = { "A", "A" };
    assert_int_equal(pxmpp_client_roster_set(a.cli, "juliet@example.net", NULL, NULL, 0, on_reply, &a), 0);
    pump(&a);
    assert_int_equal(a.iq_status, PXMPP_ERR_IQ_ERROR);
    assert_string_equal(a.iq_reply_xml, "not-allowed");
    assert_int_equal(pxmpp_client_roster_set(a.cli, "nurse@example.net", NULL, empty, 1, on_reply, &a), 0);
    pump(&a);
    assert_int_equal(a.iq_status, PXMPP_ERR_IQ_ERROR);
    assert_int_equal(pxmpp_client_roster_set(a.cli, "nurse@example.net", NULL, twice, 2, on_reply, &a), 0);
    pump(&a);
    assert_int_equal(a.iq_status, PXMPP_ERR_IQ_ERROR);
    assert_int_equal(R.n, 1);
    assert_int_equal(R.pushes, 2);
    /* removal: pushed to both interested sessions; removing it again: item-not-found */
    assert_int_equal(pxmpp_client_roster_remove(a.cli, "romeo@example.net", on_reply, &a), 0);
    pump(&a);
    pump(&b);
    assert_int_equal(a.iq_status, 0);
    assert_int_equal(R.n, 0);
    assert_int_equal(a.client_pushes, 3);
    assert_int_equal(b.client_pushes, 1);
    assert_string_equal(b.push_ver, "v3");
    assert_int_equal(pxmpp_client_roster_remove(a.cli, "romeo@example.net", on_reply, &a), 0);
    pump(&a);
    assert_int_equal(a.iq_status, PXMPP_ERR_IQ_ERROR);
    assert_string_equal(a.iq_reply_xml, "item-not-found");
    conn_free(&a);
    conn_free(&b);
    memset(&R, 0, sizeof R);
}

static void presence_broadcast_probes_directed(void **state)
{
    (void)state;
    memset(&R, 0, sizeof R);
    static const struct {
        const char *jid;
        pxmpp_roster_subscription sub;
    } items[] = { { "romeo@example.net", PXMPP_ROSTER_SUBSCRIPTION_BOTH },
                  { "nurse@example.net", PXMPP_ROSTER_SUBSCRIPTION_FROM },
                  { "benvolio@example.org", PXMPP_ROSTER_SUBSCRIPTION_TO },
                  { "mercutio@example.org", PXMPP_ROSTER_SUBSCRIPTION_NONE } };
    for (size_t i = 0; i < 4; i++) {
        snprintf(R.jid[i], sizeof R.jid[i], "%s", items[i].jid);
        R.sub[i] = items[i].sub;
    }
    R.n = 4;
    conn k;
    login(&k, 2);
    assert_true(k.ready);
    pxmpp_presence pr;
    memset(&pr, 0, sizeof pr);
    /* initial presence: the broadcast, copies to 'from'/'both', probes to 'to'/'both' */
    assert_null(pxmpp_server_presence(k.srv));
    pr.priority = 5;
    pr.meta.present |= PXMPP_PRESENCE_HAS_PRIORITY;
    assert_int_equal(pxmpp_client_send_presence(k.cli, &pr), 0);
    pump(&k);
    assert_non_null(pxmpp_server_presence(k.srv));
    assert_int_equal(pxmpp_server_presence(k.srv)->priority, 5);
    assert_string_equal(pxmpp_server_presence(k.srv)->from, "juliet@example.net/balcony");
    assert_string_equal(k.routed_log, "available>* available>romeo@example.net probe>romeo@example.net "
                                      "available>nurse@example.net probe>benvolio@example.org ");
    assert_string_equal(k.routed_from, "juliet@example.net"); /* the last probe: from the bare JID */
    /* directed presence, then an update: no probes the second time */
    k.routed_log[0] = '\0';
    pr.to = "tybalt@example.org";
    assert_int_equal(pxmpp_client_send_presence(k.cli, &pr), 0);
    pr.to = NULL;
    assert_int_equal(pxmpp_client_send_presence(k.cli, &pr), 0);
    pump(&k);
    assert_string_equal(k.routed_log, "available>tybalt@example.org available>* available>romeo@example.net "
                                      "available>nurse@example.net ");
    assert_int_equal(pxmpp_server_presence(k.srv)->priority, 5); /* the same presence again */
    /* a subscription request carries the bare JID */
    assert_int_equal(pxmpp_client_subscribe(k.cli, "mercutio@example.org"), 0);
    pump(&k);
    assert_string_equal(k.routed_from, "juliet@example.net");
    /* the client leaves without unavailable: the server sends it, to the directed one too */
    k.routed_log[0] = '\0';
    assert_int_equal(pxmpp_client_close(k.cli), 0);
    pump(&k);
    assert_int_equal(k.srv_closed, 1);
    assert_null(pxmpp_server_presence(k.srv));
    assert_string_equal(k.routed_log, "unavailable>* unavailable>romeo@example.net unavailable>nurse@example.net "
                                      "unavailable>tybalt@example.org ");
    conn_free(&k);
    memset(&R, 0, sizeof R);
}

/* ---- hostile input next to a healthy session -------------------------------------------- */

/* Bytes from the client and the stream error they must end the session with. */
typedef struct hostile_case {
    const char *bytes;
    pxmpp_stream_error_condition cond;
} hostile_case;

static void hostile_one_of_two(void **state)
{
    (void)state;
    static const hostile_case cases[] = {
        { "<message><body>&xxe;</body></message>", PXMPP_STREAM_ERROR_CONDITION_RESTRICTED_XML },
        { "<message><body></message>", PXMPP_STREAM_ERROR_CONDITION_NOT_WELL_FORMED },
        { "<!-- c --><message/>", PXMPP_STREAM_ERROR_CONDITION_RESTRICTED_XML },
        { "<foo xmlns='bar'/>", PXMPP_STREAM_ERROR_CONDITION_UNSUPPORTED_STANZA_TYPE },
        { "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED },
        { "<iq type='get' id='1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
          PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t piece = 1; piece <= 4096; piece *= 4096) {
            conn bad, good;
            conn_new_server(&bad, piece);
            login(&good, piece);
            assert_true(good.ready);
            /* interleave: the bad session's bytes, then more traffic on the good one */
            feed_str(&bad, HDR, piece);
            feed_str(&bad, cases[c].bytes, piece);
            pxmpp_presence pr;
            memset(&pr, 0, sizeof pr);
            assert_int_equal(pxmpp_client_send_presence(good.cli, &pr), 0);
            pump(&good);
            assert_int_equal(bad.srv_cond, cases[c].cond);
            assert_true(out_has(&bad, pxmpp_stream_error_condition_str(cases[c].cond)));
            assert_int_equal(pxmpp_server_get_state(bad.srv), PXMPP_SERVER_FAILED);
            assert_int_equal(good.routed, 1);
            assert_int_equal(pxmpp_server_error(good.srv, NULL), 0);
            assert_int_equal(pxmpp_server_get_state(good.srv), PXMPP_SERVER_READY);
            conn_free(&bad);
            conn_free(&good);
        }
    }
}

/* Hostile input after binding, each in 1-byte and whole pieces, beside a healthy session. */
static void hostile_after_binding(void **state)
{
    (void)state;
    static const hostile_case cases[] = {
        { NULL /* a message over the size limit */, PXMPP_STREAM_ERROR_CONDITION_POLICY_VIOLATION },
        { "<enable xmlns='urn:xmpp:sm:3'/>", PXMPP_STREAM_ERROR_CONDITION_UNSUPPORTED_STANZA_TYPE },
        { "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth>",
          PXMPP_STREAM_ERROR_CONDITION_POLICY_VIOLATION },
        { "<presence from='romeo@example.net'/>", PXMPP_STREAM_ERROR_CONDITION_INVALID_FROM },
        { "<iq type='get' id='1' from='juliet@example.net/other'><ping xmlns='urn:xmpp:ping'/></iq>",
          PXMPP_STREAM_ERROR_CONDITION_INVALID_FROM },
        { "<message>\x01</message>", PXMPP_STREAM_ERROR_CONDITION_NOT_WELL_FORMED },
    };
    static char big[3000];
    memset(big, 'x', sizeof big - 1);
    memcpy(big, "<message><body>", 15);
    K.max_stanza = 2048;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t piece = 1; piece <= 4096; piece *= 4096) {
            conn bad, good;
            login(&bad, piece);
            login(&good, piece);
            assert_true(bad.ready && good.ready);
            bad.to_cli.len = 0;
            feed_str(&bad, cases[c].bytes ? cases[c].bytes : big, piece);
            assert_int_equal(bad.srv_cond, cases[c].cond);
            assert_int_equal(pxmpp_server_get_state(bad.srv), PXMPP_SERVER_FAILED);
            assert_true(out_has(&bad, pxmpp_stream_error_condition_str(cases[c].cond)));
            assert_int_equal(bad.routed, 0);
            pxmpp_presence pr;
            memset(&pr, 0, sizeof pr);
            assert_int_equal(pxmpp_client_send_presence(good.cli, &pr), 0);
            pump(&good);
            assert_int_equal(good.routed, 1);
            assert_int_equal(pxmpp_server_error(good.srv, NULL), 0);
            conn_free(&bad);
            conn_free(&good);
        }
}

/* The client's own stream error ends the session; the app frees a session inside `route`. */
static void client_error_and_free_in_route(void **state)
{
    (void)state;
    conn k;
    login(&k, 5);
    feed_str(&k, "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", 5);
    assert_int_equal(k.srv_failed, PXMPP_ERR_PROTOCOL);
    assert_int_equal(k.srv_cond, PXMPP_STREAM_ERROR_CONDITION_CONFLICT);
    conn_free(&k);
    g_free_in_route = true;
    login(&k, 4096);
    assert_true(k.ready);
    const char *two = "<message to='romeo@example.net'/><message to='romeo@example.net'/>";
    assert_int_equal(pxmpp_server_feed(k.srv, two, strlen(two)), 0);
    assert_null(k.srv);
    assert_int_equal(k.routed, 1); /* nothing delivered once the free was requested */
    conn_free(&k);
}

static void free_inside_callback_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *r)
{
    conn *k = user;
    (void)code;
    (void)cond;
    (void)r;
    pxmpp_server_free(k->srv); /* deferred */
    k->srv = NULL;
}

static void free_in_callback(void **state)
{
    (void)state;
    conn k;
    memset(&k, 0, sizeof k);
    pxmpp_buf_init(&k.to_cli, NULL);
    pxmpp_buf_init(&k.to_srv, NULL);
    pxmpp_buf_init(&k.srv_log, NULL);
    pxmpp_server_config sc = { .domain = "example.net" };
    pxmpp_server_callbacks sb = { .write = srv_write, .scram_secrets = srv_secrets,
                                  .failed = free_inside_callback_failed };
    assert_int_equal(pxmpp_server_new(&k.srv, &sc, &sb, &k), 0);
    pxmpp_server *s = k.srv;
    assert_int_equal(pxmpp_server_feed(s, HDR, strlen(HDR)), 0);
    (void)pxmpp_server_feed(s, "<bogus", 6);
    (void)pxmpp_server_feed(s, "/><x", 4);
    assert_null(k.srv);
    pxmpp_buf_free(&k.to_cli);
    pxmpp_buf_free(&k.to_srv);
    pxmpp_buf_free(&k.srv_log);
}

static void api_arguments(void **state)
{
    (void)state;
    pxmpp_server *s = NULL;
    pxmpp_server_config sc = { .domain = "example.net" };
    pxmpp_server_callbacks sb = { .write = srv_write, .scram_secrets = srv_secrets };
    assert_int_equal(pxmpp_server_new(NULL, &sc, &sb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    pxmpp_server_callbacks nosec = { .write = srv_write };
    assert_int_equal(pxmpp_server_new(&s, &sc, &nosec, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    pxmpp_server_config bad = { .domain = "user@example.net" };
    assert_int_equal(pxmpp_server_new(&s, &bad, &sb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_server_feed(NULL, "x", 1), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_server_tls_ready(NULL, NULL, NULL, 0), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_server_get_state(NULL), PXMPP_SERVER_FAILED);
    assert_null(pxmpp_server_jid(NULL));
    pxmpp_server_free(NULL);
    pxmpp_scram_secrets sec;
    unsigned char salt[1] = { 1 };
    assert_int_equal(pxmpp_server_scram_secrets(PXMPP_SCRAM_SHA1, "x", salt, 0, 1, &sec), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_server_scram_secrets(7, "x", salt, 1, 1, &sec), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_server_scram_secrets(PXMPP_SCRAM_SHA1, "x", salt, 1, 0, &sec), PXMPP_ERR_INVALID_ARGUMENT);
    conn k;
    conn_new_server(&k, 1);
    assert_int_equal(pxmpp_server_tls_ready(k.srv, NULL, NULL, 0), PXMPP_ERR_STATE);
    assert_int_equal(pxmpp_server_deliver(k.srv, &pxmpp_message_desc, &(pxmpp_message){ .to = "a@b" }),
                     PXMPP_ERR_STATE);
    assert_int_equal(pxmpp_server_end(k.srv, PXMPP_STREAM_ERROR_CONDITION_ABSENT, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_server_finish(k.srv), PXMPP_ERR_TRUNCATED);
    conn_free(&k);
}

/* ---- RFC 6121 Appendix A, table by table ---------------------------------------------------- */

/* The RFC's names of the states. */
static pxmpp_sub_state st(const char *name)
{
    static const struct {
        const char *n;
        unsigned s;
    } names[] = {
        { "None", PXMPP_SUB_NONE },
        { "None + Pending Out", PXMPP_SUB_PENDING_OUT },
        { "None + Pending In", PXMPP_SUB_PENDING_IN },
        { "None + Pending Out+In", PXMPP_SUB_PENDING_OUT | PXMPP_SUB_PENDING_IN },
        { "To", PXMPP_SUB_TO },
        { "To + Pending In", PXMPP_SUB_TO | PXMPP_SUB_PENDING_IN },
        { "From", PXMPP_SUB_FROM },
        { "From + Pending Out", PXMPP_SUB_FROM | PXMPP_SUB_PENDING_OUT },
        { "Both", PXMPP_SUB_BOTH },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].n, name) == 0)
            return (pxmpp_sub_state)names[i].s;
    fail_msg("unknown state %s", name);
    return PXMPP_SUB_NONE;
}

static const char *const STATES[9] = { "None", "None + Pending Out", "None + Pending In", "None + Pending Out+In",
                                       "To", "To + Pending In", "From", "From + Pending Out", "Both" };

typedef struct trow {
    const char *from, *to; /* NULL `to`: no state change */
    bool deliver;
} trow;

static void check_table(bool outbound, pxmpp_presence_type t, const trow rows[9])
{
    for (int i = 0; i < 9; i++) {
        assert_string_equal(rows[i].from, STATES[i]); /* the table covers every state, in order */
        pxmpp_sub_state s = st(rows[i].from);
        pxmpp_sub_state want = rows[i].to ? st(rows[i].to) : s;
        bool deliver = !rows[i].deliver, push = false, reply = true;
        pxmpp_sub_state got = outbound ? pxmpp_sub_outbound(s, t, &deliver, &push)
                                       : pxmpp_sub_inbound(s, t, &deliver, &push, &reply);
        if (got != want || deliver != rows[i].deliver)
            fail_msg("%s %s in %s: got state %u deliver %d", outbound ? "outbound" : "inbound",
                     pxmpp_presence_type_str(t), rows[i].from, (unsigned)got, deliver);
        /* a push exactly when subscription or ask changed */
        unsigned vis = PXMPP_SUB_BOTH | PXMPP_SUB_PENDING_OUT;
        assert_int_equal(push, (got & vis) != (s & vis));
        if (!outbound)
            assert_int_equal(reply, t == PXMPP_PRESENCE_TYPE_SUBSCRIBE && (s & PXMPP_SUB_FROM));
    }
}

static void sub_outbound_tables(void **state)
{
    (void)state;
    /* A.2.1 */
    check_table(true, PXMPP_PRESENCE_TYPE_SUBSCRIBE,
                (const trow[]){ { "None", "None + Pending Out", true },
                                { "None + Pending Out", NULL, true },
                                { "None + Pending In", "None + Pending Out+In", true },
                                { "None + Pending Out+In", NULL, true },
                                { "To", NULL, true },
                                { "To + Pending In", NULL, true },
                                { "From", "From + Pending Out", true },
                                { "From + Pending Out", NULL, true },
                                { "Both", NULL, true } });
    /* A.2.2 */
    check_table(true, PXMPP_PRESENCE_TYPE_UNSUBSCRIBE,
                (const trow[]){ { "None", NULL, true },
                                { "None + Pending Out", "None", true },
                                { "None + Pending In", NULL, true },
                                { "None + Pending Out+In", "None + Pending In", true },
                                { "To", "None", true },
                                { "To + Pending In", "None + Pending In", true },
                                { "From", NULL, true },
                                { "From + Pending Out", "From", true },
                                { "Both", "From", true } });
    /* A.2.3 (pre-approvals apart: see sub_preapproval) */
    static const trow subscribed[9] = { { "None", NULL, false },
                                        { "None + Pending Out", NULL, false },
                                        { "None + Pending In", "From", true },
                                        { "None + Pending Out+In", "From + Pending Out", true },
                                        { "To", NULL, false },
                                        { "To + Pending In", "Both", true },
                                        { "From", NULL, false },
                                        { "From + Pending Out", NULL, false },
                                        { "Both", NULL, false } };
    for (int i = 0; i < 9; i++) {
        pxmpp_sub_state s = st(subscribed[i].from);
        bool d, p;
        pxmpp_sub_state got = pxmpp_sub_outbound(s, PXMPP_PRESENCE_TYPE_SUBSCRIBED, &d, &p);
        pxmpp_sub_state want = subscribed[i].to ? st(subscribed[i].to) : s;
        bool preapproves = !(s & (PXMPP_SUB_FROM | PXMPP_SUB_PENDING_IN));
        assert_int_equal(got, want | (preapproves ? PXMPP_SUB_APPROVED : 0));
        assert_int_equal(d, subscribed[i].deliver);
        assert_int_equal(p, got != s);
    }
    /* A.2.4 */
    check_table(true, PXMPP_PRESENCE_TYPE_UNSUBSCRIBED,
                (const trow[]){ { "None", NULL, false },
                                { "None + Pending Out", NULL, false },
                                { "None + Pending In", "None", true },
                                { "None + Pending Out+In", "None + Pending Out", true },
                                { "To", NULL, false },
                                { "To + Pending In", "To", true },
                                { "From", "None", true },
                                { "From + Pending Out", "None + Pending Out", true },
                                { "Both", "To", true } });
}

static void sub_inbound_tables(void **state)
{
    (void)state;
    /* A.3.1 */
    check_table(false, PXMPP_PRESENCE_TYPE_SUBSCRIBE,
                (const trow[]){ { "None", "None + Pending In", true },
                                { "None + Pending Out", "None + Pending Out+In", true },
                                { "None + Pending In", NULL, false },
                                { "None + Pending Out+In", NULL, false },
                                { "To", "To + Pending In", true },
                                { "To + Pending In", NULL, false },
                                { "From", NULL, false },
                                { "From + Pending Out", NULL, false },
                                { "Both", NULL, false } });
    /* A.3.2 */
    check_table(false, PXMPP_PRESENCE_TYPE_UNSUBSCRIBE,
                (const trow[]){ { "None", NULL, false },
                                { "None + Pending Out", NULL, false },
                                { "None + Pending In", "None", true },
                                { "None + Pending Out+In", "None + Pending Out", true },
                                { "To", NULL, false },
                                { "To + Pending In", "To", true },
                                { "From", "None", true },
                                { "From + Pending Out", "None + Pending Out", true },
                                { "Both", "To", true } });
    /* A.3.3 */
    check_table(false, PXMPP_PRESENCE_TYPE_SUBSCRIBED,
                (const trow[]){ { "None", NULL, false },
                                { "None + Pending Out", "To", true },
                                { "None + Pending In", NULL, false },
                                { "None + Pending Out+In", "To + Pending In", true },
                                { "To", NULL, false },
                                { "To + Pending In", NULL, false },
                                { "From", NULL, false },
                                { "From + Pending Out", "Both", true },
                                { "Both", NULL, false } });
    /* A.3.4 */
    check_table(false, PXMPP_PRESENCE_TYPE_UNSUBSCRIBED,
                (const trow[]){ { "None", NULL, false },
                                { "None + Pending Out", "None", true },
                                { "None + Pending In", NULL, false },
                                { "None + Pending Out+In", "None + Pending In", true },
                                { "To", "None", true },
                                { "To + Pending In", "None + Pending In", true },
                                { "From", NULL, false },
                                { "From + Pending Out", "From", true },
                                { "Both", "From", true } });
}

static void sub_other_types_and_invalid(void **state)
{
    (void)state;
    static const pxmpp_presence_type others[] = { PXMPP_PRESENCE_TYPE_ABSENT, PXMPP_PRESENCE_TYPE_AVAILABLE,
                                                  PXMPP_PRESENCE_TYPE_UNAVAILABLE, PXMPP_PRESENCE_TYPE_PROBE,
                                                  PXMPP_PRESENCE_TYPE_ERROR };
    for (int i = 0; i < 9; i++)
        for (size_t t = 0; t < sizeof others / sizeof others[0]; t++) {
            pxmpp_sub_state s = st(STATES[i]);
            bool d = true, p = true, r = true;
            assert_int_equal(pxmpp_sub_outbound(s, others[t], &d, &p), s);
            assert_false(d || p);
            d = p = true;
            assert_int_equal(pxmpp_sub_inbound(s, others[t], &d, &p, &r), s);
            assert_false(d || p || r);
        }
    /* states outside Appendix A */
    static const unsigned bad[] = { PXMPP_SUB_TO | PXMPP_SUB_PENDING_OUT, PXMPP_SUB_FROM | PXMPP_SUB_PENDING_IN,
                                    PXMPP_SUB_FROM | PXMPP_SUB_APPROVED, 64 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool d = true, p = true, r = true;
        assert_false(pxmpp_sub_valid((pxmpp_sub_state)bad[i]));
        assert_int_equal(pxmpp_sub_outbound((pxmpp_sub_state)bad[i], PXMPP_PRESENCE_TYPE_SUBSCRIBE, &d, &p), bad[i]);
        assert_false(d || p);
        assert_int_equal(pxmpp_sub_inbound((pxmpp_sub_state)bad[i], PXMPP_PRESENCE_TYPE_SUBSCRIBE, &d, &p, &r),
                         bad[i]);
        assert_false(d || p || r);
    }
    assert_int_equal(pxmpp_sub_roster_subscription(st("From + Pending Out")), PXMPP_ROSTER_SUBSCRIPTION_FROM);
    assert_int_equal(pxmpp_sub_roster_subscription(st("None + Pending Out+In")), PXMPP_ROSTER_SUBSCRIPTION_NONE);
    assert_int_equal(pxmpp_sub_roster_subscription(st("Both")), PXMPP_ROSTER_SUBSCRIPTION_BOTH);
    assert_int_equal(pxmpp_sub_roster_subscription(st("To + Pending In")), PXMPP_ROSTER_SUBSCRIPTION_TO);
    /* NULL flag pointers are allowed */
    assert_int_equal(pxmpp_sub_outbound(PXMPP_SUB_NONE, PXMPP_PRESENCE_TYPE_SUBSCRIBE, NULL, NULL),
                     PXMPP_SUB_PENDING_OUT);
    assert_int_equal(pxmpp_sub_inbound(PXMPP_SUB_NONE, PXMPP_PRESENCE_TYPE_SUBSCRIBE, NULL, NULL, NULL),
                     PXMPP_SUB_PENDING_IN);
}

/* RFC 6121 §3.4: the user pre-approves, the contact's later request is answered at once. */
static void sub_preapproval(void **state)
{
    (void)state;
    bool d, p, r;
    pxmpp_sub_state s = pxmpp_sub_outbound(PXMPP_SUB_NONE, PXMPP_PRESENCE_TYPE_SUBSCRIBED, &d, &p);
    assert_int_equal(s, PXMPP_SUB_APPROVED);
    assert_false(d);
    assert_true(p);
    /* again: nothing changes */
    assert_int_equal(pxmpp_sub_outbound(s, PXMPP_PRESENCE_TYPE_SUBSCRIBED, &d, &p), s);
    assert_false(d || p);
    /* the user's own subscribe keeps the approval */
    pxmpp_sub_state s2 = pxmpp_sub_outbound(s, PXMPP_PRESENCE_TYPE_SUBSCRIBE, &d, &p);
    assert_int_equal(s2, PXMPP_SUB_PENDING_OUT | PXMPP_SUB_APPROVED);
    /* the contact subscribes: auto-reply, FROM granted, the approval used up, not delivered */
    pxmpp_sub_state s3 = pxmpp_sub_inbound(s2, PXMPP_PRESENCE_TYPE_SUBSCRIBE, &d, &p, &r);
    assert_int_equal(s3, PXMPP_SUB_FROM | PXMPP_SUB_PENDING_OUT);
    assert_true(r);
    assert_false(d);
    assert_true(p);
    /* to: To + approval -> Both */
    assert_int_equal(pxmpp_sub_inbound(PXMPP_SUB_TO | PXMPP_SUB_APPROVED, PXMPP_PRESENCE_TYPE_SUBSCRIBE, &d, &p, &r),
                     PXMPP_SUB_BOTH);
    assert_true(r && p && !d);
    /* unsubscribed cancels a pre-approval: pushed, not delivered */
    assert_int_equal(pxmpp_sub_outbound(PXMPP_SUB_TO | PXMPP_SUB_APPROVED, PXMPP_PRESENCE_TYPE_UNSUBSCRIBED, &d, &p),
                     PXMPP_SUB_TO);
    assert_false(d);
    assert_true(p);
    /* subscribed that answers a pending request is no pre-approval */
    assert_int_equal(pxmpp_sub_outbound(PXMPP_SUB_PENDING_IN, PXMPP_PRESENCE_TYPE_SUBSCRIBED, &d, &p), PXMPP_SUB_FROM);
}

/* Every state survives the trip through a roster item and the pending-in flag. */
static void sub_items(void **state)
{
    (void)state;
    for (unsigned s = 0; s < 32; s++) {
        if (!pxmpp_sub_valid((pxmpp_sub_state)s))
            continue;
        pxmpp_roster_item it;
        memset(&it, 0, sizeof it);
        pxmpp_sub_to_item((pxmpp_sub_state)s, &it);
        assert_int_equal(it.ask == PXMPP_ROSTER_ASK_SUBSCRIBE, (s & PXMPP_SUB_PENDING_OUT) != 0);
        assert_int_equal(pxmpp_sub_from_item(&it, (s & PXMPP_SUB_PENDING_IN) != 0), s);
    }
    pxmpp_roster_item odd;
    memset(&odd, 0, sizeof odd);
    odd.subscription = PXMPP_ROSTER_SUBSCRIPTION_BOTH;
    odd.ask = PXMPP_ROSTER_ASK_SUBSCRIBE;
    odd.approved = true;
    assert_int_equal(pxmpp_sub_from_item(&odd, true), PXMPP_SUB_BOTH);
    odd.subscription = PXMPP_ROSTER_SUBSCRIPTION_REMOVE;
    assert_int_equal(pxmpp_sub_from_item(&odd, false), PXMPP_SUB_PENDING_OUT | PXMPP_SUB_APPROVED);
    assert_int_equal(pxmpp_sub_from_item(NULL, true), PXMPP_SUB_NONE);
    pxmpp_sub_to_item(PXMPP_SUB_BOTH, NULL);
}

/* ---- RFC 6121 §8.5, table by table ---------------------------------------------------------- */

typedef struct drow {
    pxmpp_message_type type;
    pxmpp_delivery want;
    const char *targets; /* one char per resource: '1' delivered */
} drow;

static void check_delivery(const char *what, const char *resource, bool exists, bool offline,
                           const pxmpp_resource_info *res, size_t n, const drow *rows, size_t nrows)
{
    for (size_t i = 0; i < nrows; i++) {
        bool targets[8];
        memset(targets, 1, sizeof targets);
        pxmpp_delivery got = pxmpp_message_delivery(rows[i].type, resource, exists, res, n, offline, targets);
        char marks[9] = { 0 };
        for (size_t j = 0; j < n; j++)
            marks[j] = targets[j] ? '1' : '0';
        if (got != rows[i].want || strcmp(marks, rows[i].targets) != 0)
            fail_msg("%s, %s: got %d targets %s", what, pxmpp_message_type_str(rows[i].type) ? pxmpp_message_type_str(rows[i].type) : "absent",
                     (int)got, marks);
    }
}

static void delivery_tables(void **state)
{
    (void)state;
    /* balcony 5, orchard 5, garden 1, hidden -1, dnd connected without presence */
    static const pxmpp_resource_info res[] = { { "balcony", true, 5 }, { "orchard", true, 5 }, { "garden", true, 1 },
                                               { "hidden", true, -1 }, { "dnd", false, 9 } };
    /* §8.5.2.1: bare JID, available resources */
    check_delivery("bare, available", NULL, true, true, res, 5,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_NORMAL, PXMPP_DELIVER, "11000" },
                                   { PXMPP_MESSAGE_TYPE_ABSENT, PXMPP_DELIVER, "11000" },
                                   { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_DELIVER, "11000" },
                                   { PXMPP_MESSAGE_TYPE_HEADLINE, PXMPP_DELIVER, "11100" },
                                   { PXMPP_MESSAGE_TYPE_GROUPCHAT, PXMPP_BOUNCE, "00000" },
                                   { PXMPP_MESSAGE_TYPE_ERROR, PXMPP_DROP, "00000" } },
                   6);
    /* §8.5.2.2: bare JID, only negative or no presence: as if none were available */
    check_delivery("bare, none available, offline storage", NULL, true, true, res + 3, 2,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_NORMAL, PXMPP_OFFLINE, "00" },
                                   { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_OFFLINE, "00" },
                                   { PXMPP_MESSAGE_TYPE_HEADLINE, PXMPP_DROP, "00" },
                                   { PXMPP_MESSAGE_TYPE_GROUPCHAT, PXMPP_BOUNCE, "00" },
                                   { PXMPP_MESSAGE_TYPE_ERROR, PXMPP_DROP, "00" } },
                   5);
    check_delivery("bare, nothing connected, no storage", NULL, true, false, NULL, 0,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_NORMAL, PXMPP_BOUNCE, "" },
                                   { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_BOUNCE, "" },
                                   { PXMPP_MESSAGE_TYPE_HEADLINE, PXMPP_DROP, "" },
                                   { PXMPP_MESSAGE_TYPE_GROUPCHAT, PXMPP_BOUNCE, "" },
                                   { PXMPP_MESSAGE_TYPE_ERROR, PXMPP_DROP, "" } },
                   5);
    /* §8.5.3.1: full JID of a connected resource, whatever its presence */
    check_delivery("full, negative priority", "hidden", true, true, res, 5,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_NORMAL, PXMPP_DELIVER, "00010" },
                                   { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_DELIVER, "00010" },
                                   { PXMPP_MESSAGE_TYPE_HEADLINE, PXMPP_DELIVER, "00010" },
                                   { PXMPP_MESSAGE_TYPE_GROUPCHAT, PXMPP_DELIVER, "00010" },
                                   { PXMPP_MESSAGE_TYPE_ERROR, PXMPP_DELIVER, "00010" } },
                   5);
    check_delivery("full, no presence", "dnd", true, true, res, 5,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_DELIVER, "00001" } }, 1);
    /* §8.5.3.2.1: full JID, no such resource */
    check_delivery("full, unknown resource", "attic", true, true, res, 5,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_NORMAL, PXMPP_DELIVER, "11000" },
                                   { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_DELIVER, "11000" },
                                   { PXMPP_MESSAGE_TYPE_HEADLINE, PXMPP_DROP, "00000" },
                                   { PXMPP_MESSAGE_TYPE_GROUPCHAT, PXMPP_BOUNCE, "00000" },
                                   { PXMPP_MESSAGE_TYPE_ERROR, PXMPP_DROP, "00000" } },
                   5);
    check_delivery("full, unknown resource, none available", "attic", true, true, NULL, 0,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_OFFLINE, "" },
                                   { PXMPP_MESSAGE_TYPE_NORMAL, PXMPP_OFFLINE, "" } },
                   2);
    /* §8.5.1: no such account */
    check_delivery("no account", NULL, false, true, NULL, 0,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_NORMAL, PXMPP_BOUNCE, "" },
                                   { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_BOUNCE, "" },
                                   { PXMPP_MESSAGE_TYPE_HEADLINE, PXMPP_BOUNCE, "" },
                                   { PXMPP_MESSAGE_TYPE_GROUPCHAT, PXMPP_BOUNCE, "" },
                                   { PXMPP_MESSAGE_TYPE_ERROR, PXMPP_DROP, "" } },
                   5);
    check_delivery("no account, full JID", "x", false, true, NULL, 0,
                   (const drow[]){ { PXMPP_MESSAGE_TYPE_CHAT, PXMPP_BOUNCE, "" } }, 1);
    assert_int_equal(pxmpp_message_delivery(PXMPP_MESSAGE_TYPE_CHAT, NULL, true, NULL, 2, true, NULL), PXMPP_DROP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(login_scram_sha1, test_setup),
        cmocka_unit_test_setup(login_scram_sha256, test_setup),
        cmocka_unit_test_setup(login_plain_over_tls, test_setup),
        cmocka_unit_test_setup(login_wrong_password, test_setup),
        cmocka_unit_test_setup(plain_refused_without_tls, test_setup),
        cmocka_unit_test_setup(login_plus, test_setup),
        cmocka_unit_test_setup(authzid_refused, test_setup),
        cmocka_unit_test_setup(tls_required_first, test_setup),
        cmocka_unit_test_setup(bind_assigned_resource, test_setup),
        cmocka_unit_test_setup(bind_conflict, test_setup),
        cmocka_unit_test_setup(stanzas_stamped, test_setup),
        cmocka_unit_test_setup(stanza_before_auth, test_setup),
        cmocka_unit_test_setup(roster_get_set_push, test_setup),
        cmocka_unit_test_setup(presence_broadcast_probes_directed, test_setup),
        cmocka_unit_test_setup(hostile_one_of_two, test_setup),
        cmocka_unit_test_setup(hostile_after_binding, test_setup),
        cmocka_unit_test_setup(client_error_and_free_in_route, test_setup),
        cmocka_unit_test_setup(free_in_callback, test_setup),
        cmocka_unit_test_setup(api_arguments, test_setup),
        cmocka_unit_test(sub_outbound_tables),
        cmocka_unit_test(sub_inbound_tables),
        cmocka_unit_test(sub_other_types_and_invalid),
        cmocka_unit_test(sub_preapproval),
        cmocka_unit_test(sub_items),
        cmocka_unit_test(delivery_tables),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
