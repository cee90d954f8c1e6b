/* Component session (XEP-0114) against a scripted in-process server stream (no network):
 * the handshake digest, success and refusal, stanzas both ways, the 'from' check, every
 * input fed in pieces of several sizes, free inside callbacks, secrets wiped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pxmpp/pxmpp.h>

#define DOMAIN "echo.example.net"
#define SECRET "s3cr3t"

/* The sizes the component reads the server's bytes in (0: all at once). */
static const size_t PIECES[] = { 1, 2, 3, 7, 64, 0 };
#define NPIECES (sizeof PIECES / sizeof PIECES[0])

enum srv_mode {
    S_ACCEPT = 0,  /* checks the digest, answers an empty <handshake/> */
    S_REFUSE,      /* answers the stream error not-authorized whatever the digest */
    S_SILENT       /* sends nothing by itself (the test writes raw bytes) */
};

typedef struct server {
    pxmpp_stream *s;
    pxmpp_buf out;          /* bytes to the component */
    pxmpp_buf seen;         /* every byte the component wrote */
    enum srv_mode mode;
    const char *sid;        /* the stream id to announce */
    char digest[64];        /* the handshake the component sent */
    int handshakes;
    pxmpp_arena *a;
    int messages, presences, iqs;
    char last_from[128], last_to[128], last_body[128], last_error[64];
    pxmpp_iq_type last_iq_type;
} server;

typedef struct comp_side {
    pxmpp_component *c;
    pxmpp_buf out;          /* bytes to the server */
    server *srv;
    size_t piece;
    bool connected, closed;
    int failed_code, failed_calls;
    pxmpp_stream_error_condition failed_cond;
    int messages, presences, requests, responses;
    char last_body[128], last_from[128];
    pxmpp_buf log;
    /* what callbacks do */
    bool free_in_connected, free_in_message, free_in_failed;
    bool answer_requests;
} comp_side;

static const pxmpp_mem *g_mem; /* the component's allocator for the next setup (NULL: malloc) */

/* The digest as XEP-0114 §3 defines it, computed here with OpenSSL's one-shot SHA1(). */
static void expected_digest(const char *sid, const char *secret, char hex[41])
{
    char in[256];
    int n = snprintf(in, sizeof in, "%s%s", sid, secret);
    assert_true(n > 0 && (size_t)n < sizeof in);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)in, (size_t)n, md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- the scripted server ----------------------------------------------------------- */

static int srv_write(void *user, const char *d, size_t n)
{
    server *sv = user;
    return pxmpp_buf_append(&sv->out, d, n);
}

static void srv_opened(void *user, const pxmpp_stream_header *h)
{
    server *sv = user;
    assert_string_equal(h->to, DOMAIN);
    assert_null(h->version); /* XEP-0114 headers carry no version */
    assert_string_equal(h->content_ns, PXMPP_NS_COMPONENT_ACCEPT);
    if (sv->mode == S_SILENT)
        return;
    pxmpp_stream_header me = { .from = DOMAIN, .id = sv->sid };
    assert_int_equal(pxmpp_stream_open(sv->s, &me), 0);
}

static void srv_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t off)
{
    server *sv = user;
    (void)off;
    assert_ptr_equal(d, &pxmpp_component_handshake_desc);
    const pxmpp_component_handshake *hs = obj;
    copy_str(sv->digest, sizeof sv->digest, hs->digest);
    sv->handshakes++;
    if (sv->mode == S_REFUSE) {
        assert_int_equal(pxmpp_stream_send_error(sv->s, PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED,
                                                 "Given token does not match calculated token"), 0);
        return;
    }
    if (sv->mode != S_ACCEPT)
        return;
    char want[41];
    expected_digest(sv->sid, SECRET, want);
    assert_string_equal(hs->digest, want);
    pxmpp_component_handshake ok;
    memset(&ok, 0, sizeof ok);
    assert_int_equal(pxmpp_stream_send(sv->s, &pxmpp_component_handshake_desc, &ok), 0);
}

static void srv_message(void *user, const pxmpp_message *m)
{
    server *sv = user;
    sv->messages++;
    copy_str(sv->last_from, sizeof sv->last_from, m->from);
    copy_str(sv->last_to, sizeof sv->last_to, m->to);
    copy_str(sv->last_body, sizeof sv->last_body, m->bodies_count ? m->bodies[0].text : NULL);
}

static void srv_presence(void *user, const pxmpp_presence *p)
{
    server *sv = user;
    sv->presences++;
    copy_str(sv->last_from, sizeof sv->last_from, p->from);
    copy_str(sv->last_to, sizeof sv->last_to, p->to);
}

static void srv_iq(void *user, const pxmpp_iq *iq)
{
    server *sv = user;
    sv->iqs++;
    sv->last_iq_type = iq->type;
    copy_str(sv->last_from, sizeof sv->last_from, iq->from);
    copy_str(sv->last_to, sizeof sv->last_to, iq->to);
    copy_str(sv->last_error, sizeof sv->last_error,
             iq->error ? pxmpp_stanza_error_condition_str(iq->error->condition) : NULL);
}

/* ---- the component's callbacks ------------------------------------------------------- */

static int comp_write(void *user, const char *d, size_t n)
{
    comp_side *cs = user;
    if (pxmpp_buf_append(&cs->srv->seen, d, n))
        return -1;
    return pxmpp_buf_append(&cs->out, d, n);
}

static void comp_connected(void *user, const char *domain)
{
    comp_side *cs = user;
    assert_string_equal(domain, DOMAIN);
    cs->connected = true;
    if (cs->free_in_connected) {
        pxmpp_component_free(cs->c); /* deferred: still inside pxmpp_component_feed() */
        cs->c = NULL;
    }
}

static void comp_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    comp_side *cs = user;
    assert_non_null(reason);
    cs->failed_code = code;
    cs->failed_cond = cond;
    cs->failed_calls++;
    if (cs->free_in_failed) {
        pxmpp_component_free(cs->c);
        cs->c = NULL;
    }
}

static void comp_message(void *user, const pxmpp_message *m)
{
    comp_side *cs = user;
    cs->messages++;
    copy_str(cs->last_body, sizeof cs->last_body, m->bodies_count ? m->bodies[0].text : NULL);
    copy_str(cs->last_from, sizeof cs->last_from, m->from);
    if (cs->free_in_message) {
        pxmpp_component_free(cs->c);
        cs->c = NULL;
    }
}

static void comp_presence(void *user, const pxmpp_presence *p)
{
    comp_side *cs = user;
    cs->presences++;
    copy_str(cs->last_from, sizeof cs->last_from, p->from);
}

static bool comp_iq_request(void *user, const pxmpp_iq *iq)
{
    comp_side *cs = user;
    cs->requests++;
    if (!cs->answer_requests)
        return false;
    pxmpp_arena *a = pxmpp_component_arena(cs->c);
    pxmpp_version_query *v = pxmpp_new(a, &pxmpp_version_query_desc);
    assert_non_null(v);
    v->name = "echo";
    assert_int_equal(pxmpp_component_send_iq_result(cs->c, iq, &pxmpp_version_query_desc, v), 0);
    return true;
}

static void comp_iq_response(void *user, const pxmpp_iq *iq)
{
    comp_side *cs = user;
    (void)iq;
    cs->responses++;
}

static void comp_closed(void *user)
{
    ((comp_side *)user)->closed = true;
}

static void comp_log(void *user, const char *line)
{
    comp_side *cs = user;
    pxmpp_buf_append(&cs->log, line, strlen(line));
    pxmpp_buf_append(&cs->log, "\n", 1);
}

/* ---- plumbing ---------------------------------------------------------------------------- */

/* Feeds bytes from the server to the component in pieces of cs->piece; returns the last result. */
static int to_component(comp_side *cs, const char *data, size_t len)
{
    size_t step = cs->piece ? cs->piece : (len ? len : 1);
    int rc = 0;
    for (size_t i = 0; i < len && cs->c; i += step)
        rc = pxmpp_component_feed(cs->c, data + i, len - i < step ? len - i : step);
    return rc;
}

/* Moves bytes both ways until neither side has anything more to say. */
static void pump(comp_side *cs, server *sv)
{
    for (int round = 0; round < 50; round++) {
        pxmpp_buf up = cs->out, down = sv->out;
        if (up.len + down.len == 0)
            return;
        pxmpp_buf_init(&cs->out, NULL);
        pxmpp_buf_init(&sv->out, NULL);
        (void)pxmpp_stream_feed(sv->s, up.data, up.len);
        (void)to_component(cs, down.data, down.len);
        pxmpp_buf_free(&up);
        pxmpp_buf_free(&down);
    }
}

static void setup(comp_side *cs, server *sv, enum srv_mode mode, const char *sid, size_t piece)
{
    memset(sv, 0, sizeof *sv);
    sv->mode = mode;
    sv->sid = sid;
    pxmpp_buf_init(&sv->out, NULL);
    pxmpp_buf_init(&sv->seen, NULL);
    assert_int_equal(pxmpp_arena_new(&sv->a, NULL, 0), 0);
    pxmpp_stream_callbacks scb = { .write = srv_write, .opened = srv_opened, .element = srv_element,
                                   .message = srv_message, .presence = srv_presence, .iq = srv_iq };
    pxmpp_stream_config scfg = { .content_ns = PXMPP_NS_COMPONENT_ACCEPT };
    assert_int_equal(pxmpp_stream_new(&sv->s, PXMPP_ROLE_SERVER, &scb, &scfg, sv), 0);

    bool keep_free_in_connected = cs->free_in_connected, keep_free_in_message = cs->free_in_message;
    bool keep_free_in_failed = cs->free_in_failed, keep_answer = cs->answer_requests;
    memset(cs, 0, sizeof *cs);
    cs->free_in_connected = keep_free_in_connected;
    cs->free_in_message = keep_free_in_message;
    cs->free_in_failed = keep_free_in_failed;
    cs->answer_requests = keep_answer;
    cs->srv = sv;
    cs->piece = piece;
    pxmpp_buf_init(&cs->out, NULL);
    pxmpp_buf_init(&cs->log, NULL);
    pxmpp_component_config cfg = { .domain = DOMAIN, .secret = SECRET, .mem = g_mem };
    pxmpp_component_callbacks cb = { .write = comp_write, .connected = comp_connected, .failed = comp_failed,
                                     .message = comp_message, .presence = comp_presence,
                                     .iq_request = comp_iq_request, .iq_response = comp_iq_response,
                                     .closed = comp_closed, .log = comp_log };
    assert_int_equal(pxmpp_component_new(&cs->c, &cfg, &cb, cs), 0);
    assert_int_equal(pxmpp_component_get_state(cs->c), PXMPP_COMPONENT_IDLE);
    assert_int_equal(pxmpp_component_start(cs->c), 0);
    pump(cs, sv);
}

static void teardown(comp_side *cs, server *sv)
{
    pxmpp_component_free(cs->c);
    pxmpp_stream_free(sv->s);
    pxmpp_arena_free(sv->a);
    pxmpp_buf_free(&sv->out);
    pxmpp_buf_free(&sv->seen);
    pxmpp_buf_free(&cs->out);
    pxmpp_buf_free(&cs->log);
    memset(cs, 0, sizeof *cs);
}

static bool seen_contains(const server *sv, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= sv->seen.len; i++)
        if (memcmp(sv->seen.data + i, needle, n) == 0)
            return true;
    return false;
}

/* Our stream start tag, as the component wrote it. */
static void stream_tag(const server *sv, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i + 14 <= sv->seen.len; i++) {
        if (memcmp(sv->seen.data + i, "<stream:stream", 14) != 0)
            continue;
        const char *end = memchr(sv->seen.data + i, '>', sv->seen.len - i);
        assert_non_null(end);
        snprintf(out, cap, "%.*s", (int)(end + 1 - (sv->seen.data + i)), sv->seen.data + i);
        return;
    }
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_handshake_success(void **state)
{
    (void)state;
    for (size_t k = 0; k < NPIECES; k++) {
        comp_side cs = { 0 };
        server sv;
        setup(&cs, &sv, S_ACCEPT, "3BF96D32", PIECES[k]);
        if (!cs.connected)
            fprintf(stderr, "piece %zu:\n%s", PIECES[k], cs.log.data ? cs.log.data : "");
        assert_true(cs.connected);
        assert_int_equal(pxmpp_component_get_state(cs.c), PXMPP_COMPONENT_READY);
        assert_int_equal(pxmpp_component_error(cs.c, NULL), 0);
        assert_string_equal(pxmpp_component_stream_id(cs.c), "3BF96D32");
        assert_string_equal(pxmpp_component_domain(cs.c), DOMAIN);
        assert_int_equal(sv.handshakes, 1);
        /* a value known beforehand: sha1("3BF96D32" "s3cr3t"), and the same from OpenSSL */
        assert_string_equal(sv.digest, "ba33290100f616a33656a931798d6c9011cfa840");
        char want[41];
        expected_digest("3BF96D32", SECRET, want);
        assert_string_equal(sv.digest, want);
        /* our header: the component's namespace, to = its domain, no version */
        char tag[256];
        stream_tag(&sv, tag, sizeof tag);
        assert_non_null(strstr(tag, "xmlns='jabber:component:accept'"));
        assert_non_null(strstr(tag, " to='" DOMAIN "'"));
        assert_null(strstr(tag, "version"));
        assert_false(seen_contains(&sv, SECRET));
        assert_null(strstr(cs.log.data, SECRET));
        assert_null(strstr(cs.log.data, want));
        teardown(&cs, &sv);
    }
}

static void test_stream_id_is_decoded(void **state)
{
    (void)state;
    /* the id is written escaped (ab&amp;c&lt;d&gt;); the digest covers the decoded value */
    comp_side cs = { 0 };
    server sv;
    setup(&cs, &sv, S_ACCEPT, "ab&c<d>", 1);
    assert_true(cs.connected);
    assert_string_equal(sv.digest, "4a20934cd1585df69aa7f960777aa1d789f2d92c");
    teardown(&cs, &sv);
}

static void test_handshake_refused(void **state)
{
    (void)state;
    for (size_t k = 0; k < NPIECES; k++) {
        comp_side cs = { 0 };
        server sv;
        setup(&cs, &sv, S_REFUSE, "3BF96D32", PIECES[k]);
        assert_false(cs.connected);
        assert_int_equal(cs.failed_calls, 1);
        assert_int_equal(cs.failed_code, PXMPP_ERR_AUTH);
        assert_int_equal(cs.failed_cond, PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED);
        const char *why = NULL;
        assert_int_equal(pxmpp_component_error(cs.c, &why), PXMPP_ERR_AUTH);
        assert_non_null(strstr(why, "not-authorized"));
        assert_int_equal(pxmpp_component_stream_error(cs.c), PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED);
        assert_int_equal(pxmpp_component_get_state(cs.c), PXMPP_COMPONENT_FAILED);
        /* the error is sticky, sending is refused, and our side of the stream was closed */
        assert_int_equal(pxmpp_component_feed(cs.c, " ", 1), PXMPP_ERR_AUTH);
        pxmpp_message m = { .from = "bot@" DOMAIN, .to = "juliet@example.net" };
        assert_int_equal(pxmpp_component_send_message(cs.c, &m), PXMPP_ERR_AUTH);
        assert_true(seen_contains(&sv, "</stream:stream>"));
        assert_int_equal(pxmpp_component_finish(cs.c), PXMPP_ERR_AUTH);
        teardown(&cs, &sv);
    }
}

/* Server bytes exactly as XEP-0114 §3 shows them (no version in the header) and as Prosody
   writes them (version='1.0', double quotes), each fed in every piece size. */
static void test_raw_server_bytes(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'"
        " from='" DOMAIN "' id='3BF96D32'><handshake/>"
        "<message from='juliet@example.com/balcony' to='bot@" DOMAIN "' type='chat'><body>hi</body></message>",
        "<?xml version='1.0'?><stream:stream xmlns=\"jabber:component:accept\" version=\"1.0\""
        " xmlns:stream=\"http://etherx.jabber.org/streams\" id=\"3BF96D32\" from=\"" DOMAIN "\">"
        "<handshake xmlns=\"jabber:component:accept\"></handshake>\n"
        "<message from='juliet@example.com/balcony' to='bot@" DOMAIN "' type='chat'><body>hi</body></message>",
    };
    for (size_t i = 0; i < 2; i++) {
        for (size_t k = 0; k < NPIECES; k++) {
            comp_side cs = { 0 };
            server sv;
            setup(&cs, &sv, S_SILENT, "unused", PIECES[k]);
            assert_int_equal(to_component(&cs, inputs[i], strlen(inputs[i])), 0);
            assert_true(cs.connected);
            assert_true(seen_contains(&sv, "<handshake>ba33290100f616a33656a931798d6c9011cfa840</handshake>"));
            assert_int_equal(cs.messages, 1);
            assert_string_equal(cs.last_body, "hi");
            assert_string_equal(cs.last_from, "juliet@example.com/balcony");
            teardown(&cs, &sv);
        }
    }
}

static void server_sends(server *sv, const pxmpp_type_desc *d, const void *obj)
{
    assert_int_equal(pxmpp_stream_send(sv->s, d, obj), 0);
}

static void test_stanzas_both_ways(void **state)
{
    (void)state;
    for (size_t k = 0; k < NPIECES; k++) {
        comp_side cs = { 0 };
        server sv;
        setup(&cs, &sv, S_ACCEPT, "id-1", PIECES[k]);
        assert_true(cs.connected);

        /* inbound message and presence */
        pxmpp_arena_reset(sv.a);
        pxmpp_message *in = pxmpp_build_message(sv.a, "bot@" DOMAIN, PXMPP_MESSAGE_TYPE_CHAT, "m1");
        in->from = "juliet@example.com/balcony";
        assert_int_equal(pxmpp_message_add_body(sv.a, in, NULL, "Wherefore art thou?"), 0);
        server_sends(&sv, &pxmpp_message_desc, in);
        pxmpp_presence *pin = pxmpp_build_presence(sv.a, "bot@" DOMAIN, PXMPP_PRESENCE_TYPE_SUBSCRIBE);
        pin->from = "juliet@example.com";
        server_sends(&sv, &pxmpp_presence_desc, pin);
        pump(&cs, &sv);
        assert_int_equal(cs.messages, 1);
        assert_string_equal(cs.last_body, "Wherefore art thou?");
        assert_int_equal(cs.presences, 1);
        assert_string_equal(cs.last_from, "juliet@example.com");

        /* outbound message and presence from addresses of the component */
        pxmpp_arena *a = pxmpp_component_arena(cs.c);
        pxmpp_message *out = pxmpp_build_message(a, "juliet@example.com/balcony", PXMPP_MESSAGE_TYPE_CHAT, "r1");
        out->from = "bot@" DOMAIN;
        assert_int_equal(pxmpp_message_add_body(a, out, NULL, "Here."), 0);
        assert_int_equal(pxmpp_component_send_message(cs.c, out), 0);
        pump(&cs, &sv);
        assert_int_equal(sv.messages, 1);
        assert_string_equal(sv.last_from, "bot@" DOMAIN);
        assert_string_equal(sv.last_to, "juliet@example.com/balcony");
        assert_string_equal(sv.last_body, "Here.");
        pxmpp_presence *pout = pxmpp_build_presence(a, "juliet@example.com", PXMPP_PRESENCE_TYPE_SUBSCRIBED);
        pout->from = DOMAIN "/gateway";
        assert_int_equal(pxmpp_component_send_presence(cs.c, pout), 0);
        pump(&cs, &sv);
        assert_int_equal(sv.presences, 1);
        assert_string_equal(sv.last_from, DOMAIN "/gateway");

        /* an iq get nobody answers: service-unavailable from the address it went to */
        pxmpp_version_query *vq = pxmpp_new(sv.a, &pxmpp_version_query_desc);
        pxmpp_iq *get = pxmpp_build_iq(sv.a, PXMPP_IQ_TYPE_GET, "bot@" DOMAIN, "v1", &pxmpp_version_query_desc, vq);
        get->from = "juliet@example.com/balcony";
        server_sends(&sv, &pxmpp_iq_desc, get);
        pump(&cs, &sv);
        assert_int_equal(cs.requests, 1);
        assert_int_equal(sv.iqs, 1);
        assert_int_equal(sv.last_iq_type, PXMPP_IQ_TYPE_ERROR);
        assert_string_equal(sv.last_error, "service-unavailable");
        assert_string_equal(sv.last_from, "bot@" DOMAIN);
        assert_string_equal(sv.last_to, "juliet@example.com/balcony");

        /* the app answers the next one itself */
        cs.answer_requests = true;
        server_sends(&sv, &pxmpp_iq_desc, get);
        pump(&cs, &sv);
        cs.answer_requests = false;
        assert_int_equal(sv.iqs, 2);
        assert_int_equal(sv.last_iq_type, PXMPP_IQ_TYPE_RESULT);
        assert_string_equal(sv.last_from, "bot@" DOMAIN);
        assert_true(seen_contains(&sv, "<name>echo</name>"));

        /* an iq the component sends, and the server's result to iq_response */
        pxmpp_iq *ping = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "example.com", "p1", &pxmpp_ping_desc,
                                        pxmpp_new(a, &pxmpp_ping_desc));
        ping->from = DOMAIN;
        assert_int_equal(pxmpp_component_send_iq(cs.c, ping), 0);
        pump(&cs, &sv);
        assert_int_equal(sv.iqs, 3);
        assert_int_equal(sv.last_iq_type, PXMPP_IQ_TYPE_GET);
        pxmpp_iq *res = pxmpp_build_iq(sv.a, PXMPP_IQ_TYPE_RESULT, DOMAIN, "p1", NULL, NULL);
        res->from = "example.com";
        server_sends(&sv, &pxmpp_iq_desc, res);
        pump(&cs, &sv);
        assert_int_equal(cs.responses, 1);
        assert_int_equal(cs.requests, 2);

        /* invalid iqs: one without id cannot be answered, one with two payloads gets bad-request */
        const char *bad = "<iq type='get' from='juliet@example.com' to='bot@" DOMAIN "'><ping xmlns='urn:xmpp:ping'/></iq>"
                          "<iq type='get' id='b1' from='juliet@example.com' to='bot@" DOMAIN "'>"
                          "<ping xmlns='urn:xmpp:ping'/><query xmlns='jabber:iq:version'/></iq>";
        assert_int_equal(to_component(&cs, bad, strlen(bad)), 0);
        pump(&cs, &sv);
        assert_int_equal(cs.requests, 2);
        assert_int_equal(sv.iqs, 4);
        assert_int_equal(sv.last_iq_type, PXMPP_IQ_TYPE_ERROR);
        assert_string_equal(sv.last_error, "bad-request");
        assert_string_equal(sv.last_from, "bot@" DOMAIN);
        pxmpp_arena_reset(a);
        teardown(&cs, &sv);
    }
}

static void test_from_address_checked(void **state)
{
    (void)state;
    comp_side cs = { 0 };
    server sv;
    setup(&cs, &sv, S_ACCEPT, "id-2", 0);
    assert_true(cs.connected);
    static const char *const refused[] = {
        NULL, "bot@other.example.net", "example.net", "sub." DOMAIN, "bot@sub." DOMAIN, "x" DOMAIN,
        "@" DOMAIN, "bot@" DOMAIN "/", "",
    };
    static const char *const accepted[] = {
        DOMAIN, "bot@" DOMAIN, DOMAIN "/res", "bot@" DOMAIN "/res", "BOT@ECHO.Example.NET",
    };
    size_t before = sv.seen.len;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        pxmpp_message m = { .from = refused[i], .to = "juliet@example.com" };
        pxmpp_presence p = { .from = refused[i], .to = "juliet@example.com" };
        pxmpp_iq iq = { .from = refused[i], .to = "juliet@example.com", .id = "x", .type = PXMPP_IQ_TYPE_GET };
        assert_int_equal(pxmpp_component_send_message(cs.c, &m), PXMPP_ERR_INVALID_ARGUMENT);
        assert_int_equal(pxmpp_component_send_presence(cs.c, &p), PXMPP_ERR_INVALID_ARGUMENT);
        assert_int_equal(pxmpp_component_send_iq(cs.c, &iq), PXMPP_ERR_INVALID_ARGUMENT);
    }
    /* 'to' is required too (XEP-0114 §3), and an iq needs an id */
    pxmpp_message no_to = { .from = "bot@" DOMAIN };
    assert_int_equal(pxmpp_component_send_message(cs.c, &no_to), PXMPP_ERR_INVALID_ARGUMENT);
    pxmpp_message bad_to = { .from = "bot@" DOMAIN, .to = "@broken" };
    assert_int_equal(pxmpp_component_send_message(cs.c, &bad_to), PXMPP_ERR_INVALID_ARGUMENT);
    pxmpp_iq no_id = { .from = DOMAIN, .to = "example.com", .type = PXMPP_IQ_TYPE_GET };
    assert_int_equal(pxmpp_component_send_iq(cs.c, &no_id), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_send_message(cs.c, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    /* answers need a get/set request with an id and a sender, and a known error */
    pxmpp_iq req = { .from = "juliet@example.com", .to = "bot@" DOMAIN, .id = "r", .type = PXMPP_IQ_TYPE_GET };
    pxmpp_iq anon = { .to = "bot@" DOMAIN, .id = "r", .type = PXMPP_IQ_TYPE_GET };
    pxmpp_iq result = { .from = "juliet@example.com", .to = "bot@" DOMAIN, .id = "r", .type = PXMPP_IQ_TYPE_RESULT };
    assert_int_equal(pxmpp_component_send_iq_result(cs.c, &anon, NULL, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_send_iq_result(cs.c, &result, NULL, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_send_iq_result(cs.c, &req, &pxmpp_ping_desc, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_send_iq_error(cs.c, &req, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                                                   (pxmpp_stanza_error_condition)9999), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_send_iq_result(NULL, &req, NULL, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_send_message(NULL, &no_to), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(sv.seen.len, before); /* nothing was written */
    assert_int_equal(pxmpp_component_get_state(cs.c), PXMPP_COMPONENT_READY);
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        pxmpp_message m = { .from = accepted[i], .to = "juliet@example.com" };
        assert_int_equal(pxmpp_component_send_message(cs.c, &m), 0);
    }
    pump(&cs, &sv);
    assert_int_equal(sv.messages, (int)(sizeof accepted / sizeof accepted[0]));
    /* an answer to a request sent to another domain's address comes from the component's domain */
    pxmpp_iq stray = { .from = "juliet@example.com", .to = "other.example.net", .id = "s", .type = PXMPP_IQ_TYPE_SET };
    assert_int_equal(pxmpp_component_send_iq_error(cs.c, &stray, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                                                   PXMPP_STANZA_ERROR_CONDITION_ITEM_NOT_FOUND), 0);
    pump(&cs, &sv);
    assert_int_equal(sv.iqs, 1);
    assert_string_equal(sv.last_from, DOMAIN);
    assert_string_equal(sv.last_error, "item-not-found");
    teardown(&cs, &sv);
}

static void test_sending_needs_the_handshake(void **state)
{
    (void)state;
    comp_side cs = { 0 };
    server sv;
    setup(&cs, &sv, S_SILENT, "unused", 0);
    pxmpp_message m = { .from = "bot@" DOMAIN, .to = "juliet@example.com" };
    assert_int_equal(pxmpp_component_get_state(cs.c), PXMPP_COMPONENT_CONNECTING);
    assert_int_equal(pxmpp_component_send_message(cs.c, &m), PXMPP_ERR_STATE);
    assert_int_equal(pxmpp_component_start(cs.c), PXMPP_ERR_STATE);
    /* a header arrives: the handshake is out, the answer is not */
    const char *hdr = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'"
                      " id='q'>"
                      "<message from='juliet@example.com' to='bot@" DOMAIN "'><body>early</body></message>";
    assert_int_equal(to_component(&cs, hdr, strlen(hdr)), 0);
    assert_int_equal(pxmpp_component_get_state(cs.c), PXMPP_COMPONENT_HANDSHAKE);
    assert_int_equal(pxmpp_component_send_message(cs.c, &m), PXMPP_ERR_STATE);
    assert_int_equal(cs.messages, 0); /* ignored before the handshake succeeded */
    teardown(&cs, &sv);
}

/* Protocol breaches of the server, each fed one byte at a time and whole. */
static void test_server_breaches(void **state)
{
    (void)state;
    static const char hdr[] = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'"
                              " xmlns='jabber:component:accept' from='" DOMAIN "'";
    static const struct {
        const char *rest;
        int code;
        pxmpp_stream_error_condition cond;
    } cases[] = {
        /* the name is not served: Prosody sends a header with an empty id, then the error */
        { " id=''><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
          "</stream:stream>", PXMPP_ERR_PROTOCOL, PXMPP_STREAM_ERROR_CONDITION_HOST_UNKNOWN },
        { "><handshake/>", PXMPP_ERR_PROTOCOL, PXMPP_STREAM_ERROR_CONDITION_ABSENT },
        { "></stream:stream>", PXMPP_ERR_PROTOCOL, PXMPP_STREAM_ERROR_CONDITION_ABSENT },
        { " id='1'><handshake>00</handshake>", PXMPP_ERR_PROTOCOL, PXMPP_STREAM_ERROR_CONDITION_ABSENT },
        { " id='1'><handshake/><handshake/>", PXMPP_ERR_PROTOCOL, PXMPP_STREAM_ERROR_CONDITION_ABSENT },
        { " id='1'><handshake/><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          "</stream:error>", PXMPP_ERR_PROTOCOL, PXMPP_STREAM_ERROR_CONDITION_CONFLICT },
        { " id='1'><stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
          PXMPP_ERR_AUTH, PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED },
        { " id='1' version='2.0'>", PXMPP_ERR_PROTOCOL, PXMPP_STREAM_ERROR_CONDITION_ABSENT },
        { " id='1'><query xmlns='jabber:iq:roster'/>", PXMPP_ERR_PROTOCOL, PXMPP_STREAM_ERROR_CONDITION_ABSENT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t k = 0; k < NPIECES; k++) {
            comp_side cs = { 0 };
            server sv;
            setup(&cs, &sv, S_SILENT, "unused", PIECES[k]);
            char in[512];
            snprintf(in, sizeof in, "%s%s", hdr, cases[i].rest);
            (void)to_component(&cs, in, strlen(in));
            (void)pxmpp_component_finish(cs.c);
            if (cs.failed_code != cases[i].code)
                fprintf(stderr, "case %zu piece %zu:\n%s", i, PIECES[k], cs.log.data ? cs.log.data : "");
            assert_int_equal(cs.failed_code, cases[i].code);
            assert_int_equal(cs.failed_cond, cases[i].cond);
            assert_int_equal(cs.failed_calls, 1);
            teardown(&cs, &sv);
        }
    }
}

static void test_close(void **state)
{
    (void)state;
    comp_side cs = { 0 };
    server sv;
    setup(&cs, &sv, S_ACCEPT, "id-3", 3);
    assert_true(cs.connected);
    assert_int_equal(pxmpp_component_close(cs.c), 0);
    assert_int_equal(pxmpp_component_get_state(cs.c), PXMPP_COMPONENT_CLOSING);
    assert_int_equal(pxmpp_component_close(cs.c), PXMPP_ERR_STATE);
    pxmpp_message m = { .from = "bot@" DOMAIN, .to = "juliet@example.com" };
    assert_int_equal(pxmpp_component_send_message(cs.c, &m), PXMPP_ERR_STATE);
    pump(&cs, &sv);
    assert_int_equal(pxmpp_stream_close(sv.s), 0);
    pump(&cs, &sv);
    assert_true(cs.closed);
    assert_int_equal(pxmpp_component_get_state(cs.c), PXMPP_COMPONENT_CLOSED);
    assert_int_equal(pxmpp_component_finish(cs.c), 0);
    assert_int_equal(cs.failed_calls, 0);
    teardown(&cs, &sv);

    /* the connection ends in the middle: truncated */
    setup(&cs, &sv, S_ACCEPT, "id-4", 0);
    assert_int_equal(pxmpp_component_finish(cs.c), PXMPP_ERR_TRUNCATED);
    assert_int_equal(pxmpp_component_get_state(cs.c), PXMPP_COMPONENT_FAILED);
    teardown(&cs, &sv);
}

static void test_free_inside_callbacks(void **state)
{
    (void)state;
    for (size_t k = 0; k < NPIECES; k++) {
        comp_side cs = { .free_in_connected = true };
        server sv;
        setup(&cs, &sv, S_ACCEPT, "id-5", PIECES[k]);
        assert_true(cs.connected);
        assert_null(cs.c); /* freed when pxmpp_component_feed() returned */
        teardown(&cs, &sv);

        cs = (comp_side){ .free_in_failed = true };
        setup(&cs, &sv, S_REFUSE, "id-6", PIECES[k]);
        assert_int_equal(cs.failed_code, PXMPP_ERR_AUTH);
        assert_null(cs.c);
        teardown(&cs, &sv);

        /* two messages in one read: the second is not delivered once the first freed the session */
        cs = (comp_side){ .free_in_message = true };
        setup(&cs, &sv, S_ACCEPT, "id-7", PIECES[k]);
        assert_true(cs.connected);
        const char *two = "<message from='a@example.com' to='bot@" DOMAIN "'><body>1</body></message>"
                          "<message from='a@example.com' to='bot@" DOMAIN "'><body>2</body></message>";
        (void)to_component(&cs, two, strlen(two));
        assert_int_equal(cs.messages, 1);
        assert_null(cs.c);
        teardown(&cs, &sv);
    }
}

static void test_config_errors(void **state)
{
    (void)state;
    pxmpp_component *c = (pxmpp_component *)&c;
    pxmpp_component_callbacks cb = { .write = comp_write };
    pxmpp_component_callbacks no_write = { 0 };
    pxmpp_component_config ok = { .domain = DOMAIN, .secret = SECRET };
    static const pxmpp_component_config bad[] = {
        { .domain = NULL, .secret = SECRET },
        { .domain = DOMAIN, .secret = NULL },
        { .domain = DOMAIN, .secret = "" },
        { .domain = "bot@" DOMAIN, .secret = SECRET },
        { .domain = DOMAIN "/res", .secret = SECRET },
        { .domain = "", .secret = SECRET },
        { .domain = "a..b", .secret = SECRET },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pxmpp_component_new(&c, &bad[i], &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
        assert_null(c);
    }
    assert_int_equal(pxmpp_component_new(&c, &ok, &no_write, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_new(&c, NULL, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_new(&c, &ok, NULL, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_new(NULL, &ok, &cb, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    /* the domain is normalized */
    pxmpp_component_config upper = { .domain = "ECHO.Example.NET", .secret = SECRET };
    assert_int_equal(pxmpp_component_new(&c, &upper, &cb, NULL), 0);
    assert_string_equal(pxmpp_component_domain(c), DOMAIN);
    assert_null(pxmpp_component_stream_id(c));
    assert_non_null(pxmpp_component_stream(c));
    assert_int_equal(pxmpp_component_close(c), PXMPP_ERR_STATE);
    pxmpp_component_free(c);
    /* NULL everywhere */
    pxmpp_component_free(NULL);
    assert_int_equal(pxmpp_component_start(NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_feed(NULL, "x", 1), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_finish(NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_close(NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_error(NULL, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_component_get_state(NULL), PXMPP_COMPONENT_FAILED);
    assert_null(pxmpp_component_domain(NULL));
    assert_null(pxmpp_component_arena(NULL));
}

/* An allocator that records each block's size and, when a block is released, counts the
   secrets still in it. */
typedef struct block {
    size_t size;
    max_align_t align;
} block;
static const char *g_watch[2];
static int g_found;

static void count_secrets(const char *p, size_t size)
{
    for (size_t k = 0; k < 2 && g_watch[k]; k++) {
        size_t n = strlen(g_watch[k]);
        for (size_t i = 0; i + n <= size; i++)
            g_found += memcmp(p + i, g_watch[k], n) == 0;
    }
}

static void *watch_malloc(size_t n, void *ud)
{
    (void)ud;
    block *b = calloc(1, offsetof(block, align) + n);
    if (!b)
        return NULL;
    b->size = n;
    return &b->align;
}

static void watch_free(void *p, void *ud)
{
    (void)ud;
    if (!p)
        return;
    block *b = (block *)((char *)p - offsetof(block, align));
    count_secrets(p, b->size);
    free(b);
}

static void *watch_realloc(void *p, size_t n, void *ud)
{
    void *q = watch_malloc(n, ud);
    if (q && p) {
        size_t old = ((block *)((char *)p - offsetof(block, align)))->size;
        memcpy(q, p, old < n ? old : n);
        watch_free(p, ud);
    }
    return q;
}

static void test_secret_and_digest_wiped(void **state)
{
    (void)state;
    char digest[41];
    expected_digest("wipe-me", SECRET, digest);
    g_watch[0] = SECRET;
    g_watch[1] = digest;
    g_found = 0;
    pxmpp_mem mem = { .malloc = watch_malloc, .realloc = watch_realloc, .free = watch_free };
    g_mem = &mem;
    for (int refuse = 0; refuse < 2; refuse++) {
        comp_side cs = { 0 };
        server sv;
        setup(&cs, &sv, refuse ? S_REFUSE : S_ACCEPT, "wipe-me", 0);
        assert_true(refuse ? cs.failed_code == PXMPP_ERR_AUTH : cs.connected);
        teardown(&cs, &sv);
    }
    /* freed before any handshake */
    pxmpp_component *c;
    pxmpp_component_config cfg = { .domain = DOMAIN, .secret = SECRET, .mem = &mem };
    pxmpp_component_callbacks cb = { .write = comp_write };
    assert_int_equal(pxmpp_component_new(&c, &cfg, &cb, NULL), 0);
    pxmpp_component_free(c);
    g_mem = NULL;
    assert_int_equal(g_found, 0);
    memset(g_watch, 0, sizeof g_watch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_success),
        cmocka_unit_test(test_stream_id_is_decoded),
        cmocka_unit_test(test_handshake_refused),
        cmocka_unit_test(test_raw_server_bytes),
        cmocka_unit_test(test_stanzas_both_ways),
        cmocka_unit_test(test_from_address_checked),
        cmocka_unit_test(test_sending_needs_the_handshake),
        cmocka_unit_test(test_server_breaches),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_free_inside_callbacks),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_secret_and_digest_wiped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
