/* XEP-0198 stream management in the client session, against the scripted server of
 * client_harness.c taught the server's side: enabling, acknowledgements both ways with their
 * exact counts (also across 2^32), the bounded resend queue, a count that is too high, and
 * connections cut in the middle of stanzas, then resumed or not.  Each test runs with the
 * server's bytes fed to the client in pieces of 1, 2, 5 and 13 bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_harness.h"
#include "internal.h"

/* ---- the server's side of XEP-0198 ---------------------------------------------------------- */

#define SRV_QUEUE 64

typedef struct smsrv {
    bool offer;           /* <sm/> in the features after authentication */
    bool grant_resume;    /* a resumable session when the client asks for one */
    bool refuse_enable;   /* <failed/> to <enable/> */
    bool hold_enable;     /* no answer to <enable/> (the test sends it) */
    int refuse_resume;    /* 0: resume; 1: <failed/>; 2: <failed h/> with the stanzas that arrived */
    bool hold_resume;     /* no answer to <resume/> */
    bool quiet;           /* <r/> goes unanswered */
    bool enabled;
    uint32_t in, out, acked; /* from the client since <enable/>; to it since <enabled/>; its last 'h' */
    pxmpp_buf q[SRV_QUEUE];  /* stanzas to the client not acknowledged, oldest first */
    size_t qlen;
    int enables, resumes, requests, acks;
    bool enable_resume;   /* the last <enable/> asked for resumption */
    int64_t enable_max;
    uint32_t resume_h;    /* 'h' of the last <resume/> */
    int sessions;
    char id[32];
    pxmpp_buf bodies;     /* each message's body as the server read it, one a line */
} smsrv;

typedef struct smcli {
    pxmpp_buf bodies;     /* each message's body as delivered, one a line */
    int resumed;
    size_t resent;
    int lost;
    pxmpp_buf lostxml;    /* each lost stanza, one a line */
    int iq_calls, iq_status;
    int reconnect_in_cb;  /* what pxmpp_client_reconnect() said inside `failed` */
    bool broken;          /* the connection refuses writes */
} smcli;

typedef struct world {
    client_side cs;
    server sv;
    smsrv ss;
    smcli cc;
    size_t mark;          /* sv.seen.len when the current connection began */
} world;

static struct {
    pxmpp_sm_policy policy;
    uint32_t ack_every, max_resume;
    size_t max_queue;
} g_cfg;
static world *g_w;

static void srv_drop(smsrv *ss, size_t n)
{
    assert_true(n <= ss->qlen);
    for (size_t i = 0; i < n; i++)
        pxmpp_buf_free(&ss->q[i]);
    memmove(ss->q, ss->q + n, (ss->qlen - n) * sizeof *ss->q);
    ss->qlen -= n;
}

static void srv_acked(smsrv *ss, uint32_t h)
{
    srv_drop(ss, (uint32_t)(h - ss->acked));
    ss->acked = h;
}

static void srv_features_hook(server *sv, pxmpp_payload *pl, size_t *n)
{
    smsrv *ss = sv->ext;
    static pxmpp_sm_feature f;
    if (ss->offer)
        pl[(*n)++] = (pxmpp_payload){ .type = &pxmpp_sm_feature_desc, .data = &f };
}

static void srv_stanza_in(server *sv, const pxmpp_type_desc *d)
{
    smsrv *ss = sv->ext;
    (void)d;
    if (ss->enabled)
        ss->in++;
}

static void srv_stanza_out(server *sv, const char *xml, size_t len)
{
    smsrv *ss = sv->ext;
    if (!ss->enabled)
        return;
    assert_true(ss->qlen < SRV_QUEUE);
    pxmpp_buf_init(&ss->q[ss->qlen], NULL);
    assert_int_equal(pxmpp_buf_append(&ss->q[ss->qlen++], xml, len), 0);
    ss->out++;
}

static void srv_send_enabled(server *sv)
{
    smsrv *ss = sv->ext;
    pxmpp_sm_enabled e = { 0 };
    if (ss->enable_resume && ss->grant_resume) {
        snprintf(ss->id, sizeof ss->id, "sm-%d", ++ss->sessions);
        e = (pxmpp_sm_enabled){ .id = ss->id, .resume = true, .max = 600, .location = "[2001:db8::1]:5222" };
    }
    ss->enabled = true;
    ss->in = ss->out = ss->acked = 0;
    srv_drop(ss, ss->qlen);
    srv_send(sv, &pxmpp_sm_enabled_desc, &e);
}

static void srv_element_hook(server *sv, const pxmpp_type_desc *d, const void *obj)
{
    smsrv *ss = sv->ext;
    if (d == &pxmpp_message_desc) {
        const pxmpp_message *m = obj;
        const char *b = m->bodies_count ? m->bodies[0].text : "-";
        pxmpp_buf_append(&ss->bodies, b, strlen(b));
        pxmpp_buf_append(&ss->bodies, "\n", 1);
    } else if (d == &pxmpp_sm_enable_desc) {
        const pxmpp_sm_enable *en = obj;
        ss->enables++;
        ss->enable_resume = en->resume;
        ss->enable_max = en->max;
        if (ss->refuse_enable) {
            pxmpp_sm_failed f = { .condition = PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE };
            srv_send(sv, &pxmpp_sm_failed_desc, &f);
        } else if (!ss->hold_enable) {
            srv_send_enabled(sv);
        }
    } else if (d == &pxmpp_sm_request_desc) {
        ss->requests++;
        pxmpp_sm_ack a = { .meta.present = PXMPP_SM_ACK_HAS_H, .h = ss->in };
        if (!ss->quiet)
            srv_send(sv, &pxmpp_sm_ack_desc, &a);
    } else if (d == &pxmpp_sm_ack_desc) {
        ss->acks++;
        srv_acked(ss, (uint32_t)((const pxmpp_sm_ack *)obj)->h);
    } else if (d == &pxmpp_sm_resume_desc) {
        const pxmpp_sm_resume *r = obj;
        ss->resumes++;
        ss->resume_h = (uint32_t)r->h;
        if (ss->hold_resume)
            return;
        if (ss->refuse_resume || strcmp(r->previd, ss->id) != 0) {
            pxmpp_sm_failed f = { .condition = PXMPP_STANZA_ERROR_CONDITION_ITEM_NOT_FOUND };
            if (ss->refuse_resume == 2) {
                f.h = ss->in;
                f.meta.present = PXMPP_SM_FAILED_HAS_H;
            }
            ss->enabled = false;
            srv_drop(ss, ss->qlen);
            srv_send(sv, &pxmpp_sm_failed_desc, &f);
            return;
        }
        pxmpp_sm_resumed ok = { .meta.present = PXMPP_SM_RESUMED_HAS_H, .previd = ss->id, .h = ss->in };
        srv_send(sv, &pxmpp_sm_resumed_desc, &ok);
        srv_acked(ss, (uint32_t)r->h);
        for (size_t i = 0; i < ss->qlen; i++) /* what the client did not count, again */
            assert_int_equal(pxmpp_buf_append(&sv->out, ss->q[i].data, ss->q[i].len), 0);
    }
}

/* ---- the client's side ------------------------------------------------------------------------- */

static void cc_message(void *user, const pxmpp_message *m)
{
    client_side *cs = user;
    smcli *cc = cs->ext;
    cs->messages++;
    const char *b = m->bodies_count ? m->bodies[0].text : "-";
    pxmpp_buf_append(&cc->bodies, b, strlen(b));
    pxmpp_buf_append(&cc->bodies, "\n", 1);
}

static void cc_resumed(void *user, size_t resent)
{
    client_side *cs = user;
    smcli *cc = cs->ext;
    cc->resumed++;
    cc->resent = resent;
    assert_int_equal(pxmpp_client_get_state(cs->c), PXMPP_CLIENT_READY);
}

static void cc_lost(void *user, const char *xml, size_t len)
{
    client_side *cs = user;
    smcli *cc = cs->ext;
    cc->lost++;
    pxmpp_buf_append(&cc->lostxml, xml, len);
    pxmpp_buf_append(&cc->lostxml, "\n", 1);
}

static void cc_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    client_side *cs = user;
    smcli *cc = cs->ext;
    (void)reason;
    cs->failed_code = code;
    cs->failed_cond = cond;
    cc->reconnect_in_cb = pxmpp_client_reconnect(cs->c);
}

static void cc_iq(void *user, const pxmpp_iq *reply, int status)
{
    smcli *cc = user;
    (void)reply;
    cc->iq_calls++;
    cc->iq_status = status;
}

static void cc_roster(void *user, int status, const pxmpp_roster_item *items, size_t count, const char *ver,
                      bool unchanged)
{
    smcli *cc = user;
    (void)items;
    (void)ver;
    (void)unchanged;
    cc->iq_calls++;
    cc->iq_status = status;
    if (status == 0)
        assert_int_equal(count, 2);
}

static int cc_write(void *user, const char *d, size_t n)
{
    client_side *cs = user;
    smcli *cc = cs->ext;
    return cc->broken ? -1 : cli_write(user, d, n);
}

static void sm_prepare(client_side *cs, server *sv, pxmpp_client_config *cfg, pxmpp_client_callbacks *cb)
{
    world *w = g_w;
    cs->ext = &w->cc;
    sv->ext = &w->ss;
    sv->features_hook = srv_features_hook;
    sv->element_hook = srv_element_hook;
    sv->stanza_in = srv_stanza_in;
    sv->stanza_out = srv_stanza_out;
    cfg->sm = g_cfg.policy;
    cfg->sm_ack_every = g_cfg.ack_every;
    cfg->sm_max_queue = g_cfg.max_queue;
    cfg->sm_max_resume_s = g_cfg.max_resume;
    cb->message = cc_message;
    cb->resumed = cc_resumed;
    cb->stanza_lost = cc_lost;
    cb->failed = cc_failed;
    cb->write = cc_write;
}

/* A world whose server offers stream management and grants resumption; the test may change
   g_cfg and w->ss before calling login(). */
static void init(world *w)
{
    memset(w, 0, sizeof *w);
    memset(&g_cfg, 0, sizeof g_cfg);
    w->ss.offer = true;
    w->ss.grant_resume = true;
    pxmpp_buf_init(&w->cc.bodies, NULL);
    pxmpp_buf_init(&w->cc.lostxml, NULL);
    pxmpp_buf_init(&w->ss.bodies, NULL);
}

static void login(world *w)
{
    g_w = w;
    g_prepare = sm_prepare;
    setup(&w->cs, &w->sv, M_OK, PXMPP_TLS_REQUIRED, PASSWORD);
    g_prepare = NULL;
}

static void done(world *w)
{
    teardown(&w->cs, &w->sv);
    srv_drop(&w->ss, w->ss.qlen);
    pxmpp_buf_free(&w->cc.bodies);
    pxmpp_buf_free(&w->cc.lostxml);
    pxmpp_buf_free(&w->ss.bodies);
}

/* The client sends a chat message with this body. */
static int say(world *w, const char *body)
{
    pxmpp_arena *a = pxmpp_client_arena(w->cs.c);
    pxmpp_message *m = pxmpp_build_message(a, "romeo@example.net", PXMPP_MESSAGE_TYPE_CHAT, NULL);
    assert_non_null(m);
    assert_int_equal(pxmpp_message_add_body(a, m, NULL, body), 0);
    return pxmpp_client_send_message(w->cs.c, m);
}

/* The server sends a stanza (counted on its side) or another element, and both sides talk. */
static void srv_stanza(world *w, const char *xml)
{
    assert_int_equal(pxmpp_buf_append(&w->sv.out, xml, strlen(xml)), 0);
    srv_stanza_out(&w->sv, xml, strlen(xml));
}

static void srv_raw(world *w, const char *xml)
{
    assert_int_equal(pxmpp_buf_append(&w->sv.out, xml, strlen(xml)), 0);
}

/* Occurrences of s in the client's bytes since the connection began. */
static int sent_count(const world *w, const char *s)
{
    int n = 0;
    const char *from = w->sv.seen.data + w->mark;
    for (const char *p = strstr(from, s); p; p = strstr(p + 1, s))
        n++;
    return n;
}

static int line_count(const pxmpp_buf *b, const char *body)
{
    char line[64];
    snprintf(line, sizeof line, "%s\n", body);
    int n = 0;
    for (const char *p = b->data ? strstr(b->data, line) : NULL; p; p = strstr(p + 1, line))
        if (p == b->data || p[-1] == '\n')
            n++;
    return n;
}

/* How many times the app got a message with this body. */
static int body_count(const world *w, const char *body) { return line_count(&w->cc.bodies, body); }

/* The connection breaks: the client reads the first n bytes the server wrote (in pieces of
   g_piece), the server reads the first m bytes the client wrote; the rest is gone. */
static void cut(world *w, size_t n, size_t m)
{
    assert_true(n <= w->sv.out.len && m <= w->cs.out.len);
    if (m)
        (void)pxmpp_stream_feed(w->sv.s, w->cs.out.data, m);
    w->cs.out.len = 0;
    pxmpp_buf b = w->sv.out;
    pxmpp_buf_init(&w->sv.out, NULL);
    for (size_t i = 0; i < n; i += g_piece)
        assert_int_equal(pxmpp_client_feed(w->cs.c, b.data + i, n - i < g_piece ? n - i : g_piece), 0);
    pxmpp_buf_free(&b);
}

/* The app's side of a lost connection: finish, reconnect, a new socket, start. */
static void reconnect(world *w)
{
    assert_int_not_equal(pxmpp_client_finish(w->cs.c), 0);
    w->cs.out.len = 0; /* what the client wrote after the break never arrives */
    assert_int_equal(pxmpp_client_reconnect(w->cs.c), 0);
    assert_int_equal(pxmpp_client_get_state(w->cs.c), PXMPP_CLIENT_IDLE);
    assert_false(pxmpp_client_is_secure(w->cs.c));
    srv_reconnect(&w->sv);
    w->mark = w->sv.seen.len;
    w->cs.failed_code = 0;
    w->cc.broken = false;
    assert_int_equal(pxmpp_client_start(w->cs.c), 0);
    pump(&w->cs, &w->sv);
}

static void expect_ready(const world *w, int readies)
{
    if (w->cs.readies != readies)
        fprintf(stderr, "%s", w->cs.log.data);
    assert_int_equal(w->cs.readies, readies);
    assert_int_equal(pxmpp_client_get_state(w->cs.c), PXMPP_CLIENT_READY);
}

/* ---- tests ----------------------------------------------------------------------------------------- */

static void test_enable_then_ready(void **state)
{
    (void)state;
    world w;
    init(&w);
    w.ss.hold_enable = true;
    g_cfg.max_resume = 300;
    login(&w);
    /* bound, <enable/> sent, no answer yet: not ready */
    assert_int_equal(w.cs.readies, 0);
    assert_int_equal(pxmpp_client_get_state(w.cs.c), PXMPP_CLIENT_BINDING);
    assert_int_equal(sent_count(&w, "<enable xmlns='urn:xmpp:sm:3' max='300' resume='true'/>"), 1);
    assert_true(strstr(w.sv.seen.data, "<bind") < strstr(w.sv.seen.data, "<enable"));
    assert_int_equal(w.ss.enable_max, 300);
    assert_int_equal(say(&w, "early"), PXMPP_ERR_STATE);
    srv_send_enabled(&w.sv);
    pump(&w.cs, &w.sv);
    expect_ready(&w, 1);
    assert_true(pxmpp_client_sm_enabled(w.cs.c));
    assert_true(pxmpp_client_can_resume(w.cs.c));
    assert_string_equal(pxmpp_client_sm_location(w.cs.c), "[2001:db8::1]:5222");
    assert_int_equal(pxmpp_client_sm_inbound(w.cs.c), 0);
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 0);
    /* an <enabled/> out of turn is ignored */
    srv_raw(&w, "<enabled xmlns='urn:xmpp:sm:3' id='other' resume='true'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(w.cs.readies, 1);
    assert_int_equal(w.cs.failed_code, 0);
    done(&w);
}

static void test_acks_both_ways(void **state)
{
    (void)state;
    world w;
    init(&w);
    login(&w);
    expect_ready(&w, 1);
    assert_int_equal(w.ss.enables, 1);
    assert_true(w.ss.enable_resume);
    /* inbound: every stanza counts, whatever the client makes of it */
    srv_stanza(&w, "<message from='romeo@example.net/orchard' type='chat'><body>one</body></message>");
    srv_stanza(&w, "<presence from='romeo@example.net/orchard'/>");
    srv_stanza(&w, "<iq type='get' id='p1' from='example.net'><ping xmlns='urn:xmpp:ping'/></iq>"); /* answered */
    srv_stanza(&w, "<message type='no-such-type'><body>x</body></message>");                     /* invalid */
    srv_stanza(&w, "<iq type='set' id='push9' from='mallory@evil.example'><query xmlns='jabber:iq:roster'>"
                   "<item jid='mallory@evil.example'/></query></iq>");                                 /* ignored */
    srv_stanza(&w, "<iq type='result' id='nobody-asked'/>");                                         /* dropped */
    srv_raw(&w, "<r xmlns='urn:xmpp:sm:3'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_inbound(w.cs.c), 6);
    assert_int_equal(sent_count(&w, "<a xmlns='urn:xmpp:sm:3' h='6'/>"), 1);
    assert_int_equal(w.ss.acks, 1);
    assert_int_equal(w.ss.qlen, 0);
    assert_int_equal(w.cs.messages, 1);
    /* outbound: the ping result, then the app's messages; the 5th asks for an ack */
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 1);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 1);
    assert_int_equal(say(&w, "a"), 0);
    assert_int_equal(say(&w, "b"), 0);
    assert_int_equal(say(&w, "c"), 0);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 4);
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 0);
    assert_int_equal(pxmpp_client_roster_get(w.cs.c, NULL, cc_roster, &w.cc), 0); /* an iq of the client's own */
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 1);
    pump(&w.cs, &w.sv); /* the server: <a h='5'/>, then the roster (its 7th stanza) */
    assert_int_equal(w.ss.in, 5);
    assert_int_equal(w.ss.requests, 1);
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 5);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0);
    assert_int_equal(w.cc.iq_calls, 1);
    assert_int_equal(w.cc.iq_status, 0);
    assert_int_equal(pxmpp_client_sm_inbound(w.cs.c), 7);
    /* an unrequested ack of part of the queue */
    assert_int_equal(say(&w, "d"), 0);
    assert_int_equal(say(&w, "e"), 0);
    pump(&w.cs, &w.sv);
    srv_raw(&w, "<a xmlns='urn:xmpp:sm:3' h='6'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 1);
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 7);
    /* the same ack again changes nothing */
    srv_raw(&w, "<a xmlns='urn:xmpp:sm:3' h='6'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 1);
    /* on request */
    assert_int_equal(pxmpp_client_sm_request_ack(w.cs.c), 0);
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0);
    assert_int_equal(w.cs.failed_code, 0);
    done(&w);
}

static void test_ack_every_and_tick(void **state)
{
    (void)state;
    world w;
    init(&w);
    g_cfg.ack_every = 2;
    login(&w);
    expect_ready(&w, 1);
    assert_int_equal(pxmpp_client_tick(w.cs.c, 1000), 0);
    assert_int_equal(say(&w, "a"), 0);
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 0);
    assert_int_equal(say(&w, "b"), 0);
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 1);
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0);
    /* a lone stanza waits sm_ack_delay_ms (5000) for its <r/> */
    assert_int_equal(say(&w, "c"), 0);
    assert_int_equal(pxmpp_client_tick(w.cs.c, 5999), 0);
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 1);
    assert_int_equal(pxmpp_client_tick(w.cs.c, 6000), 0);
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 2);
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0);
    assert_int_equal(pxmpp_client_tick(w.cs.c, 60000), 0);
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 2);
    done(&w);
}

static void test_queue_bound(void **state)
{
    (void)state;
    world w;
    init(&w);
    g_cfg.max_queue = 3;
    g_cfg.ack_every = 100;
    w.ss.quiet = true;
    login(&w);
    expect_ready(&w, 1);
    assert_int_equal(say(&w, "a"), 0);
    assert_int_equal(say(&w, "b"), 0);
    assert_int_equal(say(&w, "c"), 0);
    assert_int_equal(say(&w, "refused"), PXMPP_ERR_LIMIT);
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 1);
    assert_int_equal(say(&w, "refused"), PXMPP_ERR_LIMIT); /* the <r/> is still unanswered: no second one */
    assert_int_equal(sent_count(&w, "<r xmlns='urn:xmpp:sm:3'/>"), 1);
    assert_int_equal(pxmpp_client_subscribe(w.cs.c, "romeo@example.net"), PXMPP_ERR_LIMIT);
    pump(&w.cs, &w.sv);
    assert_null(strstr(w.sv.seen.data, "refused"));
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 3);
    assert_int_equal(pxmpp_client_get_state(w.cs.c), PXMPP_CLIENT_READY);
    srv_raw(&w, "<a xmlns='urn:xmpp:sm:3' h='3'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(say(&w, "d"), 0);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 1);
    assert_int_equal(w.cs.failed_code, 0);
    done(&w);
}

static void test_wraparound(void **state)
{
    (void)state;
    world w;
    init(&w);
    g_cfg.ack_every = 100;
    login(&w);
    expect_ready(&w, 1);
    /* both sides two stanzas short of 2^32 in both directions */
    pxmpp__client_sm_seed(w.cs.c, 0xfffffffeu, 0xfffffffeu);
    w.ss.in = w.ss.out = w.ss.acked = 0xfffffffeu;
    for (int i = 0; i < 4; i++)
        assert_int_equal(say(&w, "w"), 0);
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 2);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 4);
    pump(&w.cs, &w.sv);
    assert_int_equal(w.ss.in, 2);
    srv_raw(&w, "<a xmlns='urn:xmpp:sm:3' h='4294967295'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 3);
    srv_raw(&w, "<a xmlns='urn:xmpp:sm:3' h='0'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 2);
    assert_int_equal(pxmpp_client_sm_request_ack(w.cs.c), 0);
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0);
    /* inbound across 2^32 */
    for (int i = 0; i < 3; i++)
        srv_stanza(&w, "<message from='romeo@example.net/orchard'><body>in</body></message>");
    srv_raw(&w, "<r xmlns='urn:xmpp:sm:3'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(sent_count(&w, "<a xmlns='urn:xmpp:sm:3' h='1'/>"), 1);
    assert_int_equal(w.ss.qlen, 0);
    /* one past what was sent, across the wrap */
    assert_int_equal(say(&w, "x"), 0);
    srv_raw(&w, "<a xmlns='urn:xmpp:sm:3' h='4'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(w.cs.failed_code, PXMPP_ERR_PROTOCOL);
    assert_int_equal(sent_count(&w, "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='4' send-count='3'/>"), 1);
    done(&w);
}

static void test_h_too_high(void **state)
{
    (void)state;
    world w;
    init(&w);
    login(&w);
    expect_ready(&w, 1);
    pxmpp_arena *a = pxmpp_client_arena(w.cs.c);
    pxmpp_ping *ping = pxmpp_arena_alloc(a, sizeof *ping);
    pxmpp_iq *iq = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "romeo@example.net/orchard", "ping-1", &pxmpp_ping_desc, ping);
    assert_int_equal(pxmpp_client_send_iq(w.cs.c, iq, 5000, cc_iq, &w.cc), 0);
    assert_int_equal(say(&w, "a"), 0);
    pump(&w.cs, &w.sv);
    srv_raw(&w, "<a xmlns='urn:xmpp:sm:3' h='3'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(w.cs.failed_code, PXMPP_ERR_PROTOCOL);
    assert_int_equal(pxmpp_client_get_state(w.cs.c), PXMPP_CLIENT_FAILED);
    const char *tail = strstr(w.sv.seen.data + w.mark, "<stream:error>");
    assert_non_null(tail);
    assert_string_equal(tail, "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                              "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>You acknowledged 3 stanzas, but I "
                              "only sent you 2 so far.</text><handled-count-too-high xmlns='urn:xmpp:sm:3' h='3' "
                              "send-count='2'/></stream:error></stream:stream>");
    /* the session is over: both stanzas may be lost, the iq ends */
    assert_int_equal(w.cc.lost, 2);
    assert_non_null(strstr(w.cc.lostxml.data, "id='ping-1'"));
    assert_non_null(strstr(w.cc.lostxml.data, "<body>a</body>"));
    assert_int_equal(w.cc.iq_calls, 1);
    assert_int_equal(w.cc.iq_status, PXMPP_ERR_CLOSED);
    assert_false(pxmpp_client_can_resume(w.cs.c));
    assert_false(pxmpp_client_sm_enabled(w.cs.c));
    /* not from inside a callback of the feed */
    assert_int_equal(w.cc.reconnect_in_cb, PXMPP_ERR_STATE);
    done(&w);
}

/* The common start of the resumption tests: two messages acknowledged, then a roster get and a
   message of which the server reads all of the first and half of the second; the server sends
   "one", answers the roster get and sends "two"; the client reads "one" and half of the roster
   result.  Returns the bytes of the half-sent message (to free). */
static char *break_session(world *w)
{
    login(w);
    expect_ready(w, 1);
    assert_int_equal(say(w, "c1"), 0);
    assert_int_equal(say(w, "c2"), 0);
    assert_int_equal(pxmpp_client_sm_request_ack(w->cs.c), 0);
    pump(&w->cs, &w->sv);
    assert_int_equal(pxmpp_client_sm_unacked(w->cs.c), 0);
    assert_int_equal(w->ss.in, 2);

    srv_stanza(w, "<message from='romeo@example.net/orchard' type='chat'><body>one</body></message>");
    size_t one = w->sv.out.len;
    assert_int_equal(pxmpp_client_roster_get(w->cs.c, NULL, cc_roster, &w->cc), 0);
    size_t c3 = w->cs.out.len;
    assert_int_equal(say(w, "c4"), 0);
    char *c4 = malloc(w->cs.out.len - c3 + 1);
    memcpy(c4, w->cs.out.data + c3, w->cs.out.len - c3);
    c4[w->cs.out.len - c3] = '\0';
    assert_int_equal(strncmp(c4, "<message", 8), 0);
    size_t half = c3 + (w->cs.out.len - c3) / 2;
    /* the server's stream is fed c3 and half of c4 before it answers c3 */
    (void)pxmpp_stream_feed(w->sv.s, w->cs.out.data, half);
    memmove(w->cs.out.data, w->cs.out.data + half, w->cs.out.len - half);
    w->cs.out.len -= half;
    assert_int_equal(w->ss.in, 3);
    size_t roster = w->sv.out.len - one;
    srv_stanza(w, "<message from='romeo@example.net/orchard' type='chat'><body>two</body></message>");
    cut(w, one + roster / 2, 0);
    assert_int_equal(w->cs.messages, 1);
    assert_int_equal(w->cc.iq_calls, 0);
    assert_int_equal(pxmpp_client_sm_inbound(w->cs.c), 1);
    assert_int_equal(pxmpp_client_sm_unacked(w->cs.c), 2);
    return c4;
}

static void test_resume(void **state)
{
    (void)state;
    world w;
    init(&w);
    char *c4 = break_session(&w);
    assert_true(pxmpp_client_can_resume(w.cs.c));
    reconnect(&w);
    /* <resume h='1'/> instead of a bind; <resumed h='3'/>: c4 again, byte for byte */
    assert_int_equal(w.ss.resumes, 1);
    assert_int_equal(w.ss.resume_h, 1);
    assert_int_equal(sent_count(&w, "<resume xmlns='urn:xmpp:sm:3' h='1' previd='sm-1'/>"), 1);
    assert_int_equal(sent_count(&w, "<bind"), 0);
    assert_int_equal(sent_count(&w, "<enable"), 0);
    assert_int_equal(sent_count(&w, c4), 1);
    assert_int_equal(sent_count(&w, "jabber:iq:roster"), 0);
    assert_int_equal(w.cc.resumed, 1);
    assert_int_equal(w.cc.resent, 1);
    expect_ready(&w, 1); /* `resumed`, not `ready` */
    assert_true(pxmpp_client_is_secure(w.cs.c));
    assert_string_equal(pxmpp_client_jid(w.cs.c), "juliet@example.net/balcony");
    /* the server's stanzas after h=1 arrived once each: the roster result and "two" */
    assert_int_equal(w.cs.messages, 2);
    assert_int_equal(body_count(&w, "one"), 1);
    assert_int_equal(body_count(&w, "two"), 1);
    assert_int_equal(w.cc.iq_calls, 1);
    assert_int_equal(w.cc.iq_status, 0);
    assert_int_equal(w.cc.lost, 0);
    /* the counts go on: the server's in 4 (c4 again), the client's h 3 */
    assert_int_equal(w.ss.in, 4);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0); /* the <r/> after resending was answered */
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 4);
    srv_raw(&w, "<r xmlns='urn:xmpp:sm:3'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(sent_count(&w, "<a xmlns='urn:xmpp:sm:3' h='3'/>"), 1);
    assert_int_equal(w.ss.qlen, 0);

    /* cut again, nothing in flight but a stanza the server did not read: resumed again */
    assert_int_equal(say(&w, "c5"), 0);
    srv_stanza(&w, "<message from='romeo@example.net/orchard' type='chat'><body>three</body></message>");
    cut(&w, 0, 0);
    reconnect(&w);
    assert_int_equal(w.ss.resumes, 2);
    assert_int_equal(sent_count(&w, "<resume xmlns='urn:xmpp:sm:3' h='3' previd='sm-1'/>"), 1);
    assert_int_equal(sent_count(&w, "<body>c5</body>"), 1);
    assert_int_equal(body_count(&w, "three"), 1);
    assert_int_equal(w.cc.resumed, 2);
    assert_int_equal(w.ss.in, 5);
    assert_int_equal(pxmpp_client_sm_inbound(w.cs.c), 4);
    expect_ready(&w, 1);

    /* a clean close: <a/> first, then the session is over */
    assert_int_equal(pxmpp_client_close(w.cs.c), 0);
    pump(&w.cs, &w.sv);
    assert_int_equal(sent_count(&w, "<a xmlns='urn:xmpp:sm:3' h='4'/></stream:stream>"), 1);
    assert_false(pxmpp_client_can_resume(w.cs.c));
    assert_int_equal(pxmpp_stream_close(w.sv.s), 0);
    pump(&w.cs, &w.sv);
    assert_true(w.cs.closed);
    assert_false(pxmpp_client_sm_enabled(w.cs.c));
    assert_int_equal(w.cc.lost, 0);
    free(c4);
    done(&w);
}

static void expect_new_session(world *w, int lost, int enables)
{
    assert_int_equal(w->cc.lost, lost);
    assert_int_equal(w->cc.resumed, 0);
    expect_ready(w, 2);
    assert_int_equal(sent_count(w, "<bind"), 1);
    assert_int_equal(w->ss.enables, enables);
    /* the pending roster get ended with the old session; no stanza came twice */
    assert_int_equal(w->cc.iq_calls, 1);
    assert_int_equal(w->cc.iq_status, PXMPP_ERR_CLOSED);
    assert_int_equal(body_count(w, "one"), 1);
    assert_int_equal(body_count(w, "two"), 0);
    assert_int_equal(pxmpp_client_sm_inbound(w->cs.c), 0);
    assert_int_equal(pxmpp_client_sm_unacked(w->cs.c), 0);
}

static void test_resume_refused(void **state)
{
    (void)state;
    world w;
    init(&w);
    char *c4 = break_session(&w);
    w.ss.refuse_resume = 1;
    reconnect(&w);
    assert_int_equal(w.ss.resumes, 1);
    /* the roster get and c4 may be lost, in the order sent, with their bytes */
    expect_new_session(&w, 2, 2);
    assert_non_null(strstr(w.cc.lostxml.data, "jabber:iq:roster"));
    const char *l4 = strstr(w.cc.lostxml.data, c4);
    assert_non_null(l4);
    assert_true(l4 > strstr(w.cc.lostxml.data, "jabber:iq:roster"));
    assert_int_equal(strcmp(l4 + strlen(c4), "\n"), 0);
    assert_true(strstr(w.sv.seen.data + w.mark, "<resume") < strstr(w.sv.seen.data + w.mark, "<bind"));
    assert_true(strstr(w.sv.seen.data + w.mark, "<bind") < strstr(w.sv.seen.data + w.mark, "<enable"));
    assert_int_equal(sent_count(&w, c4), 0);
    /* the new session counts afresh and can be resumed in turn */
    assert_true(pxmpp_client_can_resume(w.cs.c));
    assert_int_equal(say(&w, "new"), 0);
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 1);
    free(c4);
    done(&w);
}

static void test_resume_refused_with_h(void **state)
{
    (void)state;
    world w;
    init(&w);
    char *c4 = break_session(&w);
    w.ss.refuse_resume = 2; /* <failed h='3'/>: the roster get arrived */
    reconnect(&w);
    expect_new_session(&w, 1, 2);
    assert_null(strstr(w.cc.lostxml.data, "jabber:iq:roster"));
    assert_int_equal(strncmp(w.cc.lostxml.data, c4, strlen(c4)), 0);
    free(c4);
    done(&w);
}

static void test_resume_not_offered(void **state)
{
    (void)state;
    world w;
    init(&w);
    char *c4 = break_session(&w);
    w.ss.offer = false;
    reconnect(&w);
    assert_int_equal(sent_count(&w, "<resume"), 0);
    expect_new_session(&w, 2, 1);
    assert_int_equal(sent_count(&w, "urn:xmpp:sm:3"), 0);
    assert_false(pxmpp_client_sm_enabled(w.cs.c));
    free(c4);
    done(&w);
}

/* A stanza whose write failed is kept: the server's count says it did not arrive. */
static void test_write_failed(void **state)
{
    (void)state;
    world w;
    init(&w);
    login(&w);
    expect_ready(&w, 1);
    assert_int_equal(say(&w, "sent"), 0);
    w.cc.broken = true;
    assert_int_equal(say(&w, "unsure"), PXMPP_ERR_WRITE);
    assert_int_equal(w.cs.failed_code, PXMPP_ERR_WRITE);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 2);
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 2);
    assert_null(strstr(w.sv.seen.data, "unsure"));
    cut(&w, 0, w.cs.out.len); /* the server got "sent" */
    assert_int_equal(w.ss.in, 1);
    reconnect(&w);
    assert_int_equal(w.cc.resumed, 1);
    assert_int_equal(w.cc.resent, 1);
    assert_int_equal(sent_count(&w, "<body>unsure</body>"), 1);
    assert_int_equal(sent_count(&w, "<body>sent</body>"), 0);
    assert_int_equal(w.ss.in, 2);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0);
    done(&w);
}

/* Cut anywhere in both directions, then resumed: every stanza reaches each side once. */
static void cut_at(size_t to_client, size_t to_server)
{
    world w;
    init(&w);
    g_cfg.ack_every = 100;
    login(&w);
    expect_ready(&w, 1);
    assert_int_equal(say(&w, "c1"), 0);
    assert_int_equal(say(&w, "c2"), 0);
    srv_stanza(&w, "<message from='romeo@example.net/orchard'><body>s1</body></message>");
    srv_stanza(&w, "<presence from='romeo@example.net/orchard'><status>here</status></presence>");
    srv_stanza(&w, "<message from='romeo@example.net/orchard'><body>s2</body></message>");
    size_t n = to_client < w.sv.out.len ? to_client : w.sv.out.len;
    size_t m = to_server < w.cs.out.len ? to_server : w.cs.out.len;
    cut(&w, n, m);
    reconnect(&w);
    if (w.cc.resumed != 1)
        fprintf(stderr, "cut at %zu/%zu:\n%s", n, m, w.cs.log.data);
    assert_int_equal(w.cc.resumed, 1);
    assert_int_equal(body_count(&w, "s1"), 1);
    assert_int_equal(body_count(&w, "s2"), 1);
    assert_int_equal(w.cs.messages, 2);
    assert_int_equal(w.cs.presences, 1);
    assert_int_equal(line_count(&w.ss.bodies, "c1"), 1);
    assert_int_equal(line_count(&w.ss.bodies, "c2"), 1);
    assert_int_equal(pxmpp_client_sm_inbound(w.cs.c), 3);
    assert_int_equal(w.ss.in, 2);
    assert_int_equal(w.cc.lost, 0);
    done(&w);
}

static void test_cut_anywhere(void **state)
{
    (void)state;
    /* the server's three stanzas end at bytes 67, 142 and 209, the client's two at 69 and 138 */
    for (size_t n = g_piece - 1; n <= 210; n += 19)
        cut_at(n, (n * 7) % 139);
    static const size_t to_client[] = { 0, 1, 66, 67, 68, 141, 142, 143, 208, 209 };
    static const size_t to_server[] = { 0, 68, 69, 70, 137, 138 };
    for (size_t i = 0; i < sizeof to_client / sizeof to_client[0]; i++)
        cut_at(to_client[i], to_server[(i + g_piece) % (sizeof to_server / sizeof to_server[0])]);
}

static void test_ack_only(void **state)
{
    (void)state;
    world w;
    init(&w);
    g_cfg.policy = PXMPP_SM_ACK_ONLY;
    char *c4 = break_session(&w);
    assert_int_equal(sent_count(&w, "<enable xmlns='urn:xmpp:sm:3'/>"), 1);
    assert_false(w.ss.enable_resume);
    assert_true(pxmpp_client_sm_enabled(w.cs.c));
    assert_false(pxmpp_client_can_resume(w.cs.c));
    assert_null(pxmpp_client_sm_location(w.cs.c));
    /* not resumable: the pending iq ends with the connection, the stanzas at the next login */
    assert_int_not_equal(pxmpp_client_finish(w.cs.c), 0);
    assert_int_equal(w.cc.iq_calls, 1);
    assert_int_equal(w.cc.lost, 0);
    reconnect(&w);
    assert_int_equal(sent_count(&w, "<resume"), 0);
    expect_new_session(&w, 2, 2);
    free(c4);
    done(&w);
}

static void test_not_offered(void **state)
{
    (void)state;
    world w;
    init(&w);
    w.ss.offer = false;
    login(&w);
    expect_ready(&w, 1);
    assert_int_equal(sent_count(&w, "urn:xmpp:sm:3"), 0);
    assert_false(pxmpp_client_sm_enabled(w.cs.c));
    assert_int_equal(say(&w, "a"), 0);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0);
    assert_int_equal(pxmpp_client_sm_request_ack(w.cs.c), PXMPP_ERR_STATE);
    srv_raw(&w, "<r xmlns='urn:xmpp:sm:3'/><a xmlns='urn:xmpp:sm:3' h='7'/>");
    pump(&w.cs, &w.sv);
    assert_int_equal(sent_count(&w, "urn:xmpp:sm:3"), 0);
    assert_int_equal(w.cs.failed_code, 0);
    done(&w);
}

static void test_off(void **state)
{
    (void)state;
    world w;
    init(&w);
    g_cfg.policy = PXMPP_SM_OFF;
    login(&w);
    expect_ready(&w, 1);
    assert_int_equal(w.ss.enables, 0);
    assert_int_equal(sent_count(&w, "urn:xmpp:sm:3"), 0);
    assert_int_equal(say(&w, "a"), 0);
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 0);
    /* a new connection binds a new session: `ready` again */
    cut(&w, 0, 0);
    reconnect(&w);
    expect_ready(&w, 2);
    assert_int_equal(sent_count(&w, "urn:xmpp:sm:3"), 0);
    assert_int_equal(w.cc.lost, 0);
    done(&w);
}

static void test_enable_refused(void **state)
{
    (void)state;
    world w;
    init(&w);
    w.ss.refuse_enable = true;
    login(&w);
    expect_ready(&w, 1);
    assert_int_equal(w.ss.enables, 1);
    assert_false(pxmpp_client_sm_enabled(w.cs.c));
    assert_int_equal(say(&w, "a"), 0);
    assert_int_equal(pxmpp_client_sm_unacked(w.cs.c), 0);
    assert_int_equal(pxmpp_client_sm_outbound(w.cs.c), 0);
    done(&w);
}

static void test_close_unacknowledged(void **state)
{
    (void)state;
    world w;
    init(&w);
    w.ss.quiet = true;
    login(&w);
    expect_ready(&w, 1);
    srv_stanza(&w, "<message from='romeo@example.net/orchard'><body>in</body></message>");
    pump(&w.cs, &w.sv);
    assert_int_equal(say(&w, "a"), 0);
    assert_int_equal(say(&w, "b"), 0);
    assert_int_equal(pxmpp_client_close(w.cs.c), 0);
    assert_int_equal(sent_count(&w, "<a xmlns='urn:xmpp:sm:3' h='1'/><r xmlns='urn:xmpp:sm:3'/></stream:stream>"), 1);
    pump(&w.cs, &w.sv);
    assert_int_equal(pxmpp_stream_close(w.sv.s), 0);
    pump(&w.cs, &w.sv);
    assert_true(w.cs.closed);
    /* unanswered: both may be lost */
    assert_int_equal(w.cc.lost, 2);
    assert_false(pxmpp_client_sm_enabled(w.cs.c));
    done(&w);
}

static void test_reconnect_states(void **state)
{
    (void)state;
    pxmpp_client *c;
    pxmpp_client_callbacks cb = { .write = cli_write };
    pxmpp_client_config cfg = { .jid = "juliet@example.net", .password = "x" };
    assert_int_equal(pxmpp_client_new(&c, &cfg, &cb, NULL), 0);
    assert_int_equal(pxmpp_client_reconnect(NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_client_reconnect(c), PXMPP_ERR_STATE); /* never started */
    assert_false(pxmpp_client_can_resume(c));
    assert_int_equal(pxmpp_client_sm_request_ack(c), PXMPP_ERR_STATE);
    assert_int_equal(pxmpp_client_sm_unacked(NULL), 0);
    pxmpp_client_free(c);
}

/* A connection lost while <resume/> is unanswered: the next one resumes. */
static void test_cut_while_resuming(void **state)
{
    (void)state;
    world w;
    init(&w);
    char *c4 = break_session(&w);
    w.ss.hold_resume = true;
    reconnect(&w);
    assert_int_equal(w.ss.resumes, 1);
    assert_int_equal(pxmpp_client_get_state(w.cs.c), PXMPP_CLIENT_BINDING);
    assert_true(pxmpp_client_can_resume(w.cs.c));
    assert_true(pxmpp_client_sm_enabled(w.cs.c));
    cut(&w, 0, 0);
    w.ss.hold_resume = false;
    reconnect(&w);
    assert_int_equal(w.ss.resumes, 2);
    assert_int_equal(sent_count(&w, "<resume xmlns='urn:xmpp:sm:3' h='1' previd='sm-1'/>"), 1);
    assert_int_equal(w.cc.resumed, 1);
    assert_int_equal(sent_count(&w, c4), 1);
    assert_int_equal(body_count(&w, "two"), 1);
    assert_int_equal(w.cc.iq_calls, 1);
    assert_int_equal(w.cc.lost, 0);
    expect_ready(&w, 1);
    free(c4);
    done(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enable_then_ready),
        cmocka_unit_test(test_acks_both_ways),
        cmocka_unit_test(test_ack_every_and_tick),
        cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_wraparound),
        cmocka_unit_test(test_h_too_high),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_resume_refused),
        cmocka_unit_test(test_resume_refused_with_h),
        cmocka_unit_test(test_resume_not_offered),
        cmocka_unit_test(test_cut_while_resuming),
        cmocka_unit_test(test_write_failed),
        cmocka_unit_test(test_cut_anywhere),
        cmocka_unit_test(test_ack_only),
        cmocka_unit_test(test_not_offered),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_enable_refused),
        cmocka_unit_test(test_close_unacknowledged),
        cmocka_unit_test(test_reconnect_states),
    };
    static const size_t pieces[] = { 1, 2, 5, 13 };
    int failed = 0;
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "pieces of %zu", pieces[i]);
        g_piece = pieces[i];
        failed += cmocka_run_group_tests_name(name, tests, NULL, NULL);
    }
    return failed;
}
