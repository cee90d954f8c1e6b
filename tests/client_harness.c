/* The scripted in-process XMPP server of the client tests (see client_harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_harness.h"

const char *PASSWORD = "pencil";
bool g_allow_plain;
size_t g_max_pending;
size_t g_piece = 5;
void (*g_prepare)(client_side *cs, server *sv, pxmpp_client_config *cfg, pxmpp_client_callbacks *cb);
const char *g_announce[4];
unsigned g_cb_types = 7;
unsigned g_cb_asked[4];
const char *g_mechs = "SCRAM-SHA-1,PLAIN";
bool g_require_cb;
unsigned long g_iterations = 2000000;
bool g_free_in_failed;
const pxmpp_mem *g_mem;
bool (*g_iq_request)(void *, const pxmpp_iq *);
int (*g_start_tls)(void *);
bool g_direct_tls;
const unsigned char CB_DATA[4][32] = { { 0 }, { 1, 2, 3, 4 }, { 9, 8, 7 }, { 5, 5, 5 } };
const size_t CB_LEN[4] = { 0, 32, 12, 32 };

void reset_knobs(void)
{
    memset(g_announce, 0, sizeof g_announce);
    g_cb_types = 7;
    g_mechs = "SCRAM-SHA-1,PLAIN";
    g_require_cb = false;
    g_free_in_failed = false;
}

/* Whether the scripted server supports channel binding in @p mode (GNU SASL then refuses "y"). */
static bool server_binds(enum mode mode)
{
    return mode == M_PLUS || mode == M_PLUS_ANNOUNCED || mode == M_PLUS_STRIPPED;
}

static enum mode g_mode; /* the mode of the running scripted server */

static int gsasl_cb(Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
    (void)ctx;
    if (prop == GSASL_PASSWORD) {
        gsasl_property_set(sctx, GSASL_PASSWORD, PASSWORD);
        return GSASL_OK;
    }
    if ((prop == GSASL_CB_TLS_EXPORTER || prop == GSASL_CB_TLS_UNIQUE) && server_binds(g_mode)) {
        pxmpp_cb_type t = prop == GSASL_CB_TLS_EXPORTER ? PXMPP_CB_TLS_EXPORTER : PXMPP_CB_TLS_UNIQUE;
        char *b64;
        assert_int_equal(gsasl_base64_to((const char *)CB_DATA[t], CB_LEN[t], &b64, NULL), GSASL_OK);
        gsasl_property_set(sctx, prop, b64);
        gsasl_free(b64);
        return GSASL_OK;
    }
    return GSASL_NO_CALLBACK;
}

void srv_send(server *sv, const pxmpp_type_desc *d, const void *obj)
{
    size_t start = sv->out.len;
    assert_int_equal(pxmpp_stream_send(sv->s, d, obj), 0);
    if (sv->stanza_out && (d == &pxmpp_message_desc || d == &pxmpp_presence_desc || d == &pxmpp_iq_desc))
        sv->stanza_out(sv, sv->out.data + start, sv->out.len - start);
}

static void srv_features(server *sv)
{
    pxmpp_arena_reset(sv->a);
    pxmpp_stream_features *f = pxmpp_arena_alloc(sv->a, sizeof *f);
    pxmpp_payload *pl = pxmpp_arena_alloc(sv->a, 6 * sizeof *pl);
    size_t n = 0;
    if (!sv->tls_done && sv->mode != M_NO_TLS && sv->mode != M_ONLY_PLAIN && sv->mode != M_ONLY_LOGIN) {
        pxmpp_starttls *t = pxmpp_arena_alloc(sv->a, sizeof *t);
        t->required = true;
        pl[n++] = (pxmpp_payload){ .type = &pxmpp_starttls_desc, .data = t };
    }
    if (!sv->auth_done) {
        if (!(sv->tls_done && sv->mode == M_NO_FEATURES_AFTER_TLS)) {
            pxmpp_sasl_mechanisms *m = pxmpp_arena_alloc(sv->a, sizeof *m);
            static const char *both[] = { "SCRAM-SHA-1", "PLAIN" };
            static const char *plain[] = { "PLAIN" };
            static const char *login[] = { "LOGIN" };
            static const char *plus[] = { "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN" };
            bool with_plus = sv->mode == M_PLUS || sv->mode == M_PLUS_ANNOUNCED;
            m->mechanisms = sv->mode == M_ONLY_PLAIN ? plain : sv->mode == M_ONLY_LOGIN ? login : with_plus ? plus : both;
            m->mechanisms_count = sv->mode == M_ONLY_PLAIN || sv->mode == M_ONLY_LOGIN ? 1 : with_plus ? 3 : 2;
            pl[n++] = (pxmpp_payload){ .type = &pxmpp_sasl_mechanisms_desc, .data = m };
        }
        if (sv->mode == M_PLUS_ANNOUNCED || sv->mode == M_ANNOUNCED_NO_PLUS) {
            pxmpp_sasl_cb *ann = pxmpp_arena_alloc(sv->a, sizeof *ann);
            pxmpp_sasl_cb_channel_binding *types = pxmpp_arena_alloc(sv->a, 4 * sizeof *types);
            size_t k = 0;
            while (k < 4 && g_announce[k]) {
                types[k].type = g_announce[k];
                k++;
            }
            ann->channel_bindings = types;
            ann->channel_bindings_count = k;
            pl[n++] = (pxmpp_payload){ .type = &pxmpp_sasl_cb_desc, .data = ann };
        }
    } else {
        if (sv->mode != M_NO_BIND) {
            pxmpp_bind *b = pxmpp_arena_alloc(sv->a, sizeof *b);
            pl[n++] = (pxmpp_payload){ .type = &pxmpp_bind_desc, .data = b };
        }
        pxmpp_roster_ver_feature *rv = pxmpp_arena_alloc(sv->a, sizeof *rv);
        pl[n++] = (pxmpp_payload){ .type = &pxmpp_roster_ver_feature_desc, .data = rv };
        if (sv->mode == M_SESSION_REQUIRED) {
            pxmpp_session *se = pxmpp_arena_alloc(sv->a, sizeof *se);
            pl[n++] = (pxmpp_payload){ .type = &pxmpp_session_desc, .data = se };
        }
        if (sv->features_hook)
            sv->features_hook(sv, pl, &n);
    }
    f->features = pl;
    f->features_count = n;
    srv_send(sv, &pxmpp_stream_features_desc, f);
}

static void srv_opened(void *user, const pxmpp_stream_header *h)
{
    server *sv = user;
    assert_string_equal(h->to, "example.net");
    pxmpp_stream_header me = { .from = "example.net", .id = "srv1" };
    assert_int_equal(pxmpp_stream_open(sv->s, &me), 0);
    srv_features(sv);
}

/* rewrites the server-first message for the abuse modes */
static char *tamper_first(server *sv, const char *b64)
{
    size_t len;
    char *decoded, raw[512];
    assert_int_equal(gsasl_base64_from(b64, strlen(b64), &decoded, &len), GSASL_OK);
    assert_true(len < sizeof raw);
    memcpy(raw, decoded, len); /* not NUL-terminated */
    raw[len] = '\0';
    gsasl_free(decoded);
    char *r = strstr(raw, "r="), *comma = r ? strchr(r, ',') : NULL;
    char buf[512];
    if (sv->mode == M_BAD_NONCE)
        snprintf(buf, sizeof buf, "r=0000000000000000000000000000000%s", comma);
    else if (sv->mode == M_HUGE_ITERATIONS)
        snprintf(buf, sizeof buf, "%.*s,s=QSXCR+Q6sek8bf92,i=%lu", (int)(comma - raw), raw, g_iterations);
    else
        snprintf(buf, sizeof buf, "%.*s,s=QSXCR+Q6sek8bf92,i=0", (int)(comma - raw), raw);
    char *out;
    assert_int_equal(gsasl_base64_to(buf, strlen(buf), &out, &len), GSASL_OK);
    return out;
}

static void srv_sasl(server *sv, const char *data)
{
    char *out = NULL;
    int rc = gsasl_step64(sv->gs, data ? data : "", &out);
    if (rc == GSASL_NEEDS_MORE) {
        char *send = out;
        if ((sv->mode == M_BAD_NONCE || sv->mode == M_BAD_ITERATIONS || sv->mode == M_HUGE_ITERATIONS) &&
            strcmp(sv->mech, "SCRAM-SHA-1") == 0) {
            send = tamper_first(sv, out);
            gsasl_free(out);
            out = send;
        }
        pxmpp_sasl_challenge ch = { .data = send };
        srv_send(sv, &pxmpp_sasl_challenge_desc, &ch);
    } else if (rc == GSASL_OK) {
        pxmpp_sasl_success su = { .data = out && *out ? out : NULL };
        char tampered[256];
        if (sv->mode == M_BAD_SIGNATURE && su.data) {
            snprintf(tampered, sizeof tampered, "%s", su.data);
            tampered[4] = tampered[4] == 'A' ? 'B' : 'A';
            su.data = tampered;
        }
        if (sv->mode == M_NO_SIGNATURE)
            su.data = NULL;
        srv_send(sv, &pxmpp_sasl_success_desc, &su);
        sv->auth_done = true;
        gsasl_finish(sv->gs);
        sv->gs = NULL;
        assert_int_equal(pxmpp_stream_restart(sv->s), 0);
    } else {
        pxmpp_sasl_failure fl = { .condition = PXMPP_SASL_CONDITION_NOT_AUTHORIZED };
        srv_send(sv, &pxmpp_sasl_failure_desc, &fl);
        gsasl_finish(sv->gs);
        sv->gs = NULL;
    }
    gsasl_free(out);
}

static void srv_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t off)
{
    server *sv = user;
    (void)off;
    if (sv->stanza_in && (d == &pxmpp_message_desc || d == &pxmpp_presence_desc))
        sv->stanza_in(sv, d);
    if (d == &pxmpp_starttls_desc) {
        pxmpp_tls_proceed p = { 0 };
        srv_send(sv, &pxmpp_tls_proceed_desc, &p);
        if (sv->mode == M_INJECT_AFTER_PROCEED) {
            const char *inj = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                              "version='1.0'><message from='admin@example.net'><body>injected</body></message>"
                              "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                              "<mechanism>PLAIN</mechanism></mechanisms></stream:features>";
            assert_int_equal(pxmpp_buf_append(&sv->out, inj, strlen(inj)), 0);
        } else if (sv->mode == M_SPACE_AFTER_PROCEED) {
            assert_int_equal(pxmpp_buf_append(&sv->out, "\r\n", 2), 0);
        }
        sv->tls_done = true;
        assert_int_equal(pxmpp_stream_restart(sv->s), 0);
    } else if (d == &pxmpp_sasl_auth_desc) {
        const pxmpp_sasl_auth *au = obj;
        sv->auths++;
        snprintf(sv->mech, sizeof sv->mech, "%s", au->mechanism);
        char *raw = NULL;
        size_t rawlen = 0;
        if (au->initial_response &&
            gsasl_base64_from(au->initial_response, strlen(au->initial_response), &raw, &rawlen) == GSASL_OK) {
            snprintf(sv->first_msg, sizeof sv->first_msg, "%.*s", (int)rawlen, raw);
            gsasl_free(raw);
        }
        if (sv->mode == M_FEATURES_TWICE) {
            srv_features(sv); /* out of place: the client must not authenticate again */
            return;
        }
        if (strcmp(au->mechanism, "SCRAM-SHA-1-PLUS") == 0 && strncmp(sv->first_msg, "p=tls-server-end-point", 22) == 0)
            return; /* GNU SASL's server cannot verify this type: the first message is what is checked */
        assert_int_equal(gsasl_server_start(sv->g, au->mechanism, &sv->gs), GSASL_OK);
        srv_sasl(sv, au->initial_response);
    } else if (d == &pxmpp_sasl_response_desc) {
        const pxmpp_sasl_response *r = obj;
        srv_sasl(sv, r->data);
    } else if (sv->element_hook) {
        sv->element_hook(sv, d, obj);
    }
}

static void srv_iq(void *user, const pxmpp_iq *iq)
{
    server *sv = user;
    if (sv->stanza_in)
        sv->stanza_in(sv, &pxmpp_iq_desc);
    snprintf(sv->last_iq_id, sizeof sv->last_iq_id, "%s", iq->id);
    pxmpp_arena_reset(sv->a);
    if (pxmpp_iq_get_bind(iq)) {
        if (sv->mode == M_BIND_ERROR) {
            srv_send(sv, &pxmpp_iq_desc, pxmpp_build_iq_error(sv->a, iq, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                                                              PXMPP_STANZA_ERROR_CONDITION_NOT_ALLOWED));
            return;
        }
        pxmpp_bind *b = pxmpp_arena_alloc(sv->a, sizeof *b);
        b->jid = "juliet@example.net/balcony";
        srv_send(sv, &pxmpp_iq_desc, pxmpp_build_iq(sv->a, PXMPP_IQ_TYPE_RESULT, NULL, iq->id, &pxmpp_bind_desc, b));
    } else if (pxmpp_iq_get_session(iq)) {
        sv->session_reqs++;
        srv_send(sv, &pxmpp_iq_desc, pxmpp_build_iq_result(sv->a, iq));
    } else if (pxmpp_iq_get_roster_query(iq) && iq->type == PXMPP_IQ_TYPE_GET) {
        sv->roster_gets++;
        const pxmpp_roster_query *q = pxmpp_iq_get_roster_query(iq);
        if (q->ver && strcmp(q->ver, "v2") == 0) { /* unchanged */
            srv_send(sv, &pxmpp_iq_desc, pxmpp_build_iq_result(sv->a, iq));
            return;
        }
        pxmpp_roster_query *r = pxmpp_arena_alloc(sv->a, sizeof *r);
        pxmpp_roster_item *items = pxmpp_arena_alloc(sv->a, 2 * sizeof *items);
        static const char *g[] = { "Friends", "Family" };
        items[0] = (pxmpp_roster_item){ .jid = "romeo@example.net", .name = "Romeo",
                                        .subscription = PXMPP_ROSTER_SUBSCRIPTION_BOTH, .groups = g, .groups_count = 2 };
        items[1] = (pxmpp_roster_item){ .jid = "nurse@example.net", .subscription = PXMPP_ROSTER_SUBSCRIPTION_NONE };
        r->items = items;
        r->items_count = 2;
        r->ver = "v2";
        srv_send(sv, &pxmpp_iq_desc, pxmpp_build_iq(sv->a, PXMPP_IQ_TYPE_RESULT, NULL, iq->id, &pxmpp_roster_query_desc, r));
    } else if (pxmpp_iq_get_roster_query(iq)) {
        sv->roster_sets++;
        srv_send(sv, &pxmpp_iq_desc, pxmpp_build_iq_result(sv->a, iq));
    }
}

static int srv_write(void *user, const char *d, size_t n)
{
    server *sv = user;
    return pxmpp_buf_append(&sv->out, d, n);
}

/* ---- client side -------------------------------------------------------------------- */

int cli_write(void *user, const char *d, size_t n)
{
    client_side *cs = user;
    if (pxmpp_buf_append(&cs->srv->seen, d, n))
        return -1;
    return pxmpp_buf_append(&cs->out, d, n);
}

static int cli_start_tls(void *user)
{
    client_side *cs = user;
    return pxmpp_client_tls_ready(cs->c, NULL, NULL, 0); /* data comes from cli_channel_binding */
}

static int cli_channel_binding(void *user, pxmpp_cb_type type, unsigned char *buf, size_t cap, size_t *len)
{
    (void)user;
    if (type >= 1 && type <= 3)
        g_cb_asked[type]++;
    if (type < 1 || type > 3 || !(g_cb_types & (1u << type)) || cap < CB_LEN[type])
        return -1;
    memcpy(buf, CB_DATA[type], CB_LEN[type]);
    *len = CB_LEN[type];
    return 0;
}

static void cli_ready(void *user, const char *jid)
{
    client_side *cs = user;
    cs->ready = true;
    cs->readies++;
    assert_string_equal(jid, "juliet@example.net/balcony");
}

static void cli_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    client_side *cs = user;
    (void)reason;
    cs->failed_code = code;
    cs->failed_cond = cond;
    if (g_free_in_failed) {
        pxmpp_client_free(cs->c); /* deferred: the client is still inside pxmpp_client_feed() */
        cs->c = NULL;
    }
}

static void cli_log(void *user, const char *line)
{
    client_side *cs = user;
    pxmpp_buf_append(&cs->log, line, strlen(line));
    pxmpp_buf_append(&cs->log, "\n", 1);
}

static void cli_message(void *user, const pxmpp_message *m)
{
    client_side *cs = user;
    (void)m;
    cs->messages++;
}

static void cli_presence(void *user, const pxmpp_presence *p)
{
    client_side *cs = user;
    (void)p;
    cs->presences++;
}

static void cli_sub(void *user, const pxmpp_presence *p)
{
    client_side *cs = user;
    assert_string_equal(p->from, "romeo@example.net");
    cs->subs++;
}

static void cli_push(void *user, const pxmpp_roster_item *item, const char *ver)
{
    client_side *cs = user;
    (void)item;
    (void)ver;
    cs->pushes++;
}

static void cli_closed(void *user)
{
    ((client_side *)user)->closed = true;
}

void pump(client_side *cs, server *sv)
{
    for (int rounds = 0; rounds < 100 && (cs->out.len || sv->out.len); rounds++) {
        if (cs->out.len) {
            pxmpp_buf b = cs->out;
            pxmpp_buf_init(&cs->out, NULL);
            (void)pxmpp_stream_feed(sv->s, b.data, b.len);
            pxmpp_buf_free(&b);
        }
        if (sv->out.len) {
            pxmpp_buf b = sv->out;
            pxmpp_buf_init(&sv->out, NULL);
            for (size_t i = 0; i < b.len; i += g_piece)
                (void)pxmpp_client_feed(cs->c, b.data + i, b.len - i < g_piece ? b.len - i : g_piece);
            pxmpp_buf_free(&b);
        }
    }
}

static void srv_new_stream(server *sv)
{
    pxmpp_stream_callbacks scb = { .write = srv_write, .opened = srv_opened, .element = srv_element, .iq = srv_iq };
    assert_int_equal(pxmpp_stream_new(&sv->s, PXMPP_ROLE_SERVER, &scb, NULL, sv), 0);
}

void srv_reconnect(server *sv)
{
    pxmpp_stream_free(sv->s);
    if (sv->gs)
        gsasl_finish(sv->gs);
    sv->gs = NULL;
    sv->tls_done = sv->auth_done = false;
    sv->out.len = 0;
    srv_new_stream(sv);
}

void setup(client_side *cs, server *sv, enum mode mode, pxmpp_tls_policy tls, const char *password)
{
    memset(cs, 0, sizeof *cs);
    memset(sv, 0, sizeof *sv);
    sv->mode = mode;
    g_mode = mode;
    pxmpp_buf_init(&sv->out, NULL);
    pxmpp_buf_init(&sv->seen, NULL);
    pxmpp_buf_init(&cs->out, NULL);
    pxmpp_buf_init(&cs->log, NULL);
    cs->srv = sv;
    assert_int_equal(gsasl_init(&sv->g), GSASL_OK);
    gsasl_callback_set(sv->g, gsasl_cb);
    assert_int_equal(pxmpp_arena_new(&sv->a, NULL, 0), 0);
    srv_new_stream(sv);
    pxmpp_client_config cfg = { .jid = "juliet@example.net", .password = password, .resource = "balcony", .tls = tls,
                                .mechanisms = g_mechs, .default_iq_timeout_ms = 1000,
                                .allow_plain_without_tls = g_allow_plain, .max_pending_iqs = g_max_pending,
                                .require_channel_binding = g_require_cb, .max_scram_iterations = 100000, .mem = g_mem };
    pxmpp_client_callbacks cb = { .write = cli_write, .start_tls = g_start_tls ? g_start_tls : cli_start_tls,
                                  .ready = cli_ready, .iq_request = g_iq_request, .failed = cli_failed,
                                  .message = cli_message, .presence = cli_presence, .subscription_request = cli_sub,
                                  .roster_push = cli_push, .closed = cli_closed, .log = cli_log,
                                  .channel_binding = cli_channel_binding };
    if (g_prepare)
        g_prepare(cs, sv, &cfg, &cb);
    assert_int_equal(pxmpp_client_new(&cs->c, &cfg, &cb, cs), 0);
    if (g_direct_tls)
        assert_int_equal(pxmpp_client_tls_ready(cs->c, NULL, NULL, 0), 0);
    assert_int_equal(pxmpp_client_start(cs->c), 0);
    pump(cs, sv);
}

void teardown(client_side *cs, server *sv)
{
    pxmpp_client_free(cs->c);
    pxmpp_stream_free(sv->s);
    if (sv->gs)
        gsasl_finish(sv->gs);
    gsasl_done(sv->g);
    pxmpp_arena_free(sv->a);
    pxmpp_buf_free(&sv->out);
    pxmpp_buf_free(&sv->seen);
    pxmpp_buf_free(&cs->out);
    pxmpp_buf_free(&cs->log);
}

void feed_server_bytes(client_side *cs, const char *s)
{
    assert_int_equal(pxmpp_client_feed(cs->c, s, strlen(s)), 0);
}
