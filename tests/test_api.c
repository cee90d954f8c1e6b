/* Typed API tests: builders, writer output, typed access, enums, arena, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <pxmpp/pxmpp.h>

static pxmpp_arena *arena(void)
{
    pxmpp_arena *a;
    assert_int_equal(pxmpp_arena_new(&a, NULL, 0), 0);
    return a;
}

static void expect_xml(const pxmpp_type_desc *d, const void *obj, const char *want)
{
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    assert_int_equal(pxmpp_write(&b, d, obj, PXMPP_NS_CLIENT, 0), 0);
    assert_string_equal(b.data, want);
    pxmpp_buf_free(&b);
}

static void test_build_message(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    pxmpp_message *m = pxmpp_build_message(a, "juliet@example.com", PXMPP_MESSAGE_TYPE_CHAT, "m1");
    assert_non_null(m);
    assert_int_equal(pxmpp_message_add_body(a, m, NULL, "Art thou not Romeo, & a Montague?"), 0);
    assert_int_equal(pxmpp_message_add_body(a, m, "cs", "Nejsi Romeo?"), 0);
    assert_int_equal(pxmpp_message_add_subject(a, m, NULL, "Imploring"), 0);
    assert_int_equal(pxmpp_message_set_thread(a, m, "e0ffe42b", "7edac73a"), 0);
    expect_xml(&pxmpp_message_desc, m,
               "<message to='juliet@example.com' id='m1' type='chat'><subject>Imploring</subject>"
               "<body>Art thou not Romeo, &amp; a Montague?</body><body xml:lang='cs'>Nejsi Romeo?</body>"
               "<thread parent='7edac73a'>e0ffe42b</thread></message>");
    /* type normal is the default: not written */
    pxmpp_message *n = pxmpp_build_message(a, NULL, PXMPP_MESSAGE_TYPE_NORMAL, NULL);
    expect_xml(&pxmpp_message_desc, n, "<message/>");
    pxmpp_arena_free(a);
}

static void test_build_presence(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    pxmpp_presence *p = pxmpp_build_presence(a, NULL, PXMPP_PRESENCE_TYPE_AVAILABLE);
    p->show = PXMPP_PRESENCE_SHOW_DND;
    p->priority = -5;
    assert_int_equal(pxmpp_presence_add_status(a, p, "en", "busy\nreally"), 0);
    expect_xml(&pxmpp_presence_desc, p,
               "<presence><show>dnd</show><status xml:lang='en'>busy\nreally</status><priority>-5</priority></presence>");
    pxmpp_presence *s = pxmpp_build_presence(a, "romeo@example.net", PXMPP_PRESENCE_TYPE_SUBSCRIBE);
    expect_xml(&pxmpp_presence_desc, s, "<presence to='romeo@example.net' type='subscribe'/>");
    pxmpp_arena_free(a);
}

static void test_build_iq_roster(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    const char *groups[] = { "Friends", "Lovers" };
    pxmpp_iq *set = pxmpp_build_roster_set(a, "r1", "nurse@example.com", "Nurse", groups, 2);
    expect_xml(&pxmpp_iq_desc, set,
               "<iq id='r1' type='set'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' name='Nurse'>"
               "<group>Friends</group><group>Lovers</group></item></query></iq>");
    pxmpp_iq *rm = pxmpp_build_roster_remove(a, "r2", "nurse@example.com");
    expect_xml(&pxmpp_iq_desc, rm,
               "<iq id='r2' type='set'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' subscription='remove'/></query></iq>");
    pxmpp_iq *get = pxmpp_build_roster_get(a, "r3", "");
    expect_xml(&pxmpp_iq_desc, get, "<iq id='r3' type='get'><query xmlns='jabber:iq:roster' ver=''/></iq>");
    assert_non_null(pxmpp_iq_get_roster_query(get));
    assert_null(pxmpp_iq_get_ping(get));
    assert_null(pxmpp_build_iq(NULL, PXMPP_IQ_TYPE_GET, NULL, "x", NULL, NULL)); /* an arena is required */
    pxmpp_ping *ping = pxmpp_arena_alloc(a, sizeof *ping);
    pxmpp_iq *pi = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "example.com", "p1", &pxmpp_ping_desc, ping);
    expect_xml(&pxmpp_iq_desc, pi, "<iq to='example.com' id='p1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>");
    pi->from = "example.com";
    pxmpp_iq *res = pxmpp_build_iq_result(a, pi);
    expect_xml(&pxmpp_iq_desc, res, "<iq to='example.com' id='p1' type='result'/>");
    pxmpp_iq *err = pxmpp_build_iq_error(a, pi, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                                         PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE);
    expect_xml(&pxmpp_iq_desc, err,
               "<iq to='example.com' id='p1' type='error'><error type='cancel'>"
               "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    pxmpp_arena_free(a);
}

static void test_writer_errors_and_escaping(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    pxmpp_iq *iq = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, NULL, "x", NULL, NULL);
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    iq->type = (pxmpp_iq_type)99; /* out of range */
    assert_int_equal(pxmpp_write(&b, &pxmpp_iq_desc, iq, PXMPP_NS_CLIENT, 0), PXMPP_ERR_VALUE);
    assert_int_equal(b.len, 0);
    iq->type = PXMPP_IQ_TYPE_ABSENT; /* required attribute missing */
    assert_int_equal(pxmpp_write(&b, &pxmpp_iq_desc, iq, PXMPP_NS_CLIENT, 0), PXMPP_ERR_VALUE);
    assert_int_equal(pxmpp_write(&b, &pxmpp_iq_desc, iq, PXMPP_NS_CLIENT, PXMPP_WRITE_LENIENT), 0);
    assert_string_equal(b.data, "<iq id='x'/>");
    b.len = 0;
    pxmpp_presence *p = pxmpp_build_presence(a, NULL, PXMPP_PRESENCE_TYPE_AVAILABLE);
    p->priority = 1000; /* outside -128..127 */
    assert_int_equal(pxmpp_write(&b, &pxmpp_presence_desc, p, PXMPP_NS_CLIENT, 0), PXMPP_ERR_VALUE);
    pxmpp_message *m = pxmpp_build_message(a, "a'b\"c<d>&e\tf\r\ng@x", PXMPP_MESSAGE_TYPE_ABSENT, NULL);
    assert_int_equal(pxmpp_message_add_body(a, m, NULL, "x\ry]]>z"), 0);
    assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, PXMPP_NS_CLIENT, PXMPP_WRITE_DECLARE_CONTENT_NS), 0);
    assert_string_equal(b.data, "<message xmlns='jabber:client' to='a&apos;b\"c&lt;d&gt;&amp;e&#x9;f&#xD;&#xA;g@x'>"
                                "<body>x&#xD;y]]&gt;z</body></message>");
    assert_int_equal(pxmpp_write(NULL, &pxmpp_message_desc, m, NULL, 0), PXMPP_ERR_INVALID_ARGUMENT);
    pxmpp_buf_free(&b);
    pxmpp_arena_free(a);
}

static void test_enums_and_registry(void **state)
{
    (void)state;
    assert_string_equal(pxmpp_message_type_str(PXMPP_MESSAGE_TYPE_HEADLINE), "headline");
    assert_null(pxmpp_message_type_str(PXMPP_MESSAGE_TYPE_ABSENT));
    assert_null(pxmpp_presence_type_str(PXMPP_PRESENCE_TYPE_AVAILABLE)); /* implied */
    assert_null(pxmpp_message_type_str((pxmpp_message_type)77));
    assert_string_equal(pxmpp_roster_subscription_str(PXMPP_ROSTER_SUBSCRIPTION_NONE), "none");
    assert_string_equal(pxmpp_stanza_error_condition_str(PXMPP_STANZA_ERROR_CONDITION_UNEXPECTED_REQUEST),
                        "unexpected-request");
    /* every defined condition of RFC 6120 is there (and RFC 3920's payment-required) */
    assert_int_equal(pxmpp_stanza_error_condition_desc.count - 1, 23);
    assert_string_equal(pxmpp_stanza_error_condition_str(PXMPP_STANZA_ERROR_CONDITION_PAYMENT_REQUIRED), "payment-required");
    assert_int_equal(pxmpp_stream_error_condition_desc.count - 1, 25);
    assert_int_equal(pxmpp_sasl_condition_desc.count - 1, 11);
    assert_true(pxmpp_generated_registry.count >= 25);
    /* ids are distinct and not 0; every keyed type is in the hash index, once per namespace */
    const pxmpp_registry *r = &pxmpp_generated_registry;
    assert_non_null(r->index);
    assert_true(r->index_size >= 64 && (r->index_size & (r->index_size - 1)) == 0);
    size_t keyed = 0, filled = 0;
    for (size_t i = 0; i < r->count; i++) {
        const pxmpp_type_desc *d = r->types[i];
        assert_int_equal(d->abi, PXMPP_RUNTIME_ABI);
        assert_int_not_equal(d->id, 0);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(d->id, r->types[j]->id);
        if (d->top_level || d->payload_of) {
            size_t n = 0;
            while (d->ns_list && d->ns_list[n])
                n++;
            keyed += (n ? n : 1) * (d->names ? d->names->count - 1u : 1u);
        }
    }
    for (size_t i = 0; i < r->index_size; i++)
        if (r->index[i]) {
            assert_true(r->index[i] <= r->count);
            filled++;
        }
    assert_int_equal(filled, keyed);
    assert_int_equal(pxmpp_roster_item_desc.id, PXMPP_TYPE_ROSTER_ITEM);
}

static void test_arena(void **state)
{
    (void)state;
    pxmpp_arena *a;
    assert_int_equal(pxmpp_arena_new(&a, NULL, 128), 0);
    char *s = pxmpp_arena_strdup(a, "hello");
    assert_string_equal(s, "hello");
    void *big = pxmpp_arena_alloc(a, 100000);
    assert_non_null(big);
    size_t held = pxmpp_arena_held(a);
    assert_true(held >= 100000);
    pxmpp_arena_reset(a);
    assert_true(pxmpp_arena_held(a) < held);
    pxmpp_arena_set_limit(a, 4096);
    assert_null(pxmpp_arena_alloc(a, 10000));
    assert_true(pxmpp_arena_hit_limit(a));
    assert_null(pxmpp_arena_strdup(a, NULL));
    pxmpp_arena_free(a);
    pxmpp_arena_free(NULL);
    assert_int_equal(pxmpp_arena_new(NULL, NULL, 0), PXMPP_ERR_INVALID_ARGUMENT);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(pxmpp_strerror(PXMPP_ERR_NOMEM), "out of memory");
    assert_string_equal(pxmpp_error_name(PXMPP_ERR_RESTRICTED_XML), "PXMPP_ERR_RESTRICTED_XML");
    assert_string_equal(pxmpp_strerror(-12345), "unknown error");
    assert_true(PXMPP_ERR_XML <= PXMPP_ERR_FATAL);
    assert_true(PXMPP_ERR_STANZA_INVALID > PXMPP_ERR_FATAL);
}

/* A typed read of a parsed roster, through the stream. */
static void roster_iq(void *user, const pxmpp_iq *iq)
{
    int *ok = user;
    const pxmpp_roster_query *q = pxmpp_iq_get_roster_query(iq);
    assert_non_null(q);
    assert_string_equal(q->ver, "v9");
    assert_int_equal(q->items_count, 2);
    assert_string_equal(q->items[0].jid, "romeo@example.net");
    assert_int_equal(q->items[0].subscription, PXMPP_ROSTER_SUBSCRIPTION_BOTH);
    assert_int_equal(q->items[0].groups_count, 2);
    assert_string_equal(q->items[0].groups[1], "Lovers");
    assert_int_equal(q->items[1].subscription, PXMPP_ROSTER_SUBSCRIPTION_NONE); /* default */
    assert_int_equal(q->items[1].ask, PXMPP_ROSTER_ASK_SUBSCRIBE);
    assert_true(q->items[1].approved);
    *ok = 1;
}

static void test_typed_roster_read(void **state)
{
    (void)state;
    const char *in = "<iq type='result' id='r'><query xmlns='jabber:iq:roster' ver='v9'>"
                     "<item jid='romeo@example.net' subscription='both'><group>Friends</group><group>Lovers</group></item>"
                     "<item jid='nurse@example.com' ask='subscribe' approved='true'/></query></iq>";
    int ok = 0;
    pxmpp_stream_callbacks cb = { .iq = roster_iq };
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
    pxmpp_stream *s;
    assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &ok), 0);
    assert_int_equal(pxmpp_stream_feed(s, in, strlen(in)), 0);
    assert_int_equal(pxmpp_stream_finish(s), 0);
    assert_int_equal(ok, 1);
    char id1[32], id2[32];
    assert_non_null(pxmpp_stream_make_id(s, id1, sizeof id1));
    assert_non_null(pxmpp_stream_make_id(s, id2, sizeof id2));
    assert_string_not_equal(id1, id2);
    assert_null(pxmpp_stream_make_id(s, id1, 8));
    pxmpp_stream_free(s);
}

/* Roster scaling is linear: count arena bytes for 5,000 and 20,000 items. */
static size_t roster_bytes(size_t n)
{
    pxmpp_buf in;
    pxmpp_buf_init(&in, NULL);
    const char *h = "<iq type='result' id='r'><query xmlns='jabber:iq:roster'>";
    assert_int_equal(pxmpp_buf_append(&in, h, strlen(h)), 0);
    for (size_t i = 0; i < n; i++) {
        char item[160];
        int k = snprintf(item, sizeof item, "<item jid='contact%zu@example.net' name='C %zu' subscription='both'><group>G</group></item>", i, i);
        assert_int_equal(pxmpp_buf_append(&in, item, (size_t)k), 0);
    }
    assert_int_equal(pxmpp_buf_append(&in, "</query></iq>", 13), 0);
    pxmpp_stream_callbacks cb = { 0 };
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
    cfg.limits.max_stanza_bytes = 64u << 20;
    pxmpp_stream *s;
    assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, NULL), 0);
    assert_int_equal(pxmpp_stream_feed(s, in.data, in.len - 5), 0);
    size_t mem = pxmpp_stream_memory(s); /* before the end tag: the arena holds the whole roster */
    assert_int_equal(pxmpp_stream_feed(s, in.data + in.len - 5, 5), 0);
    pxmpp_stream_free(s);
    pxmpp_buf_free(&in);
    return mem;
}

static void test_roster_memory_linear(void **state)
{
    (void)state;
    size_t m5 = roster_bytes(5000), m20 = roster_bytes(20000);
    double ratio = (double)m20 / (double)m5;
    assert_true(ratio > 3.0 && ratio < 5.0);
}

/* Payloads built from scratch: pxmpp_new, the add_payload functions, and an optional number
   that is 0 written only when its presence bit says so. */
static void test_build_payloads(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    pxmpp_presence *p = pxmpp_build_presence(a, NULL, PXMPP_PRESENCE_TYPE_AVAILABLE);
    assert_non_null(p);
    expect_xml(&pxmpp_presence_desc, p, "<presence/>");
    p->meta.present |= PXMPP_PRESENCE_HAS_PRIORITY; /* priority 0, said explicitly */
    expect_xml(&pxmpp_presence_desc, p, "<presence><priority>0</priority></presence>");
    pxmpp_ping *ping = pxmpp_new(a, &pxmpp_ping_desc);
    assert_non_null(ping);
    pxmpp_disco_info *info = pxmpp_new(a, &pxmpp_disco_info_desc);
    assert_non_null(info);
    info->node = "urn:example:caps#1";
    assert_int_equal(pxmpp_presence_add_payload(a, p, &pxmpp_disco_info_desc, info), 0);
    assert_int_equal(pxmpp_presence_add_payload(a, p, &pxmpp_ping_desc, ping), 0);
    expect_xml(&pxmpp_presence_desc, p,
               "<presence><priority>0</priority><query xmlns='http://jabber.org/protocol/disco#info' "
               "node='urn:example:caps#1'/><ping xmlns='urn:xmpp:ping'/></presence>");
    pxmpp_message *m = pxmpp_build_message(a, "juliet@example.com", PXMPP_MESSAGE_TYPE_CHAT, "m9");
    assert_int_equal(pxmpp_message_add_payload(a, m, &pxmpp_ping_desc, ping), 0);
    assert_int_equal(m->payloads_count, 1);
    assert_ptr_equal(m->payloads[0].data, ping);
    /* bad arguments */
    assert_int_equal(pxmpp_message_add_payload(a, m, NULL, ping), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_message_add_payload(a, NULL, &pxmpp_ping_desc, ping), PXMPP_ERR_INVALID_ARGUMENT);
    pxmpp_type_desc other = pxmpp_ping_desc;
    other.abi = PXMPP_RUNTIME_ABI + 1;
    assert_null(pxmpp_new(a, &other));
    assert_int_equal(pxmpp_payloads_add(a, &m->payloads, &m->payloads_count, &other, ping), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(m->payloads_count, 1);
    pxmpp_arena_free(a);
}

static void test_lang_and_iq_without_id(void **state)
{
    (void)state;
    pxmpp_arena *a;
    assert_int_equal(pxmpp_arena_new(&a, NULL, 0), 0);
    pxmpp_message *m = pxmpp_build_message(a, "romeo@example.net", PXMPP_MESSAGE_TYPE_CHAT, "m1");
    assert_int_equal(pxmpp_message_set_lang(a, m, "pt-BR"), 0);
    assert_string_equal(m->lang, "pt-BR");
    assert_int_equal(pxmpp_message_set_lang(a, m, "en'><x"), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_message_set_lang(a, m, ""), PXMPP_ERR_INVALID_ARGUMENT);
    assert_string_equal(m->lang, "pt-BR"); /* unchanged by the refused calls */
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, "jabber:client", 0), 0);
    assert_non_null(strstr(b.data, "xml:lang='pt-BR'"));
    pxmpp_buf_free(&b);
    pxmpp_presence *p = pxmpp_build_presence(a, NULL, PXMPP_PRESENCE_TYPE_AVAILABLE);
    assert_int_equal(pxmpp_presence_set_lang(a, p, "de"), 0);
    assert_int_equal(pxmpp_presence_set_lang(a, p, NULL), 0);
    assert_null(p->lang);
    /* an iq may be built without an id: the client assigns one when it sends it */
    pxmpp_iq *iq = pxmpp_build_iq(a, PXMPP_IQ_TYPE_GET, "example.net", NULL, NULL, NULL);
    assert_non_null(iq);
    assert_null(iq->id);
    assert_int_equal(pxmpp_iq_set_lang(a, iq, "en"), 0);
    assert_null(pxmpp_build_iq(a, PXMPP_IQ_TYPE_ABSENT, NULL, "x", NULL, NULL));
    pxmpp_arena_free(a);
}

static void test_jid_bare_str(void **state)
{
    (void)state;
    char out[PXMPP_JID_STR_MAX + 1];
    size_t n = 0;
    const char *full = "Romeo@Example.NET/Orchard";
    assert_int_equal(pxmpp_jid_bare_str(full, strlen(full), out, sizeof out, &n), 0);
    assert_string_equal(out, "romeo@example.net");
    assert_int_equal(n, 17);
    assert_int_equal(pxmpp_jid_bare_str("example.net/r", 13, out, sizeof out, NULL), 0);
    assert_string_equal(out, "example.net");
    assert_int_equal(pxmpp_jid_bare_str(full, strlen(full), out, 5, &n), PXMPP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 17);
    assert_true(pxmpp_jid_bare_str("@example.net", 12, out, sizeof out, NULL) < 0);
}

static int buf_write(void *user, const char *d, size_t n) { return pxmpp_buf_append(user, d, n); }

typedef struct peer_error {
    int calls;
    pxmpp_stream_error_condition condition;
    const pxmpp_type_desc *app;
    int64_t h, sent;
} peer_error;

static void on_peer_error(void *user, const pxmpp_stream_error *e)
{
    peer_error *pe = user;
    pe->calls++;
    pe->condition = e->condition;
    if (e->app_count == 1) {
        const pxmpp_sm_handled_count_too_high *t = e->app[0].data;
        pe->app = e->app[0].type;
        pe->h = t->h;
        pe->sent = t->sent_stanzas;
    }
}

static void test_stream_error_app(void **state)
{
    (void)state;
    pxmpp_buf out;
    pxmpp_buf_init(&out, NULL);
    pxmpp_stream *c, *s;
    pxmpp_stream_callbacks ccb = { .write = buf_write };
    peer_error pe = { 0 };
    pxmpp_stream_callbacks scb = { .stream_error = on_peer_error };
    assert_int_equal(pxmpp_stream_new(&c, PXMPP_ROLE_CLIENT, &ccb, NULL, &out), 0);
    assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_SERVER, &scb, NULL, &pe), 0);
    pxmpp_stream_header h = { .to = "example.net" };
    assert_int_equal(pxmpp_stream_open(c, &h), 0);
    pxmpp_sm_handled_count_too_high t = {
        .meta.present = PXMPP_SM_HANDLED_COUNT_TOO_HIGH_HAS_H | PXMPP_SM_HANDLED_COUNT_TOO_HIGH_HAS_SENT_STANZAS,
        .h = 10, .sent_stanzas = 8 };
    assert_int_equal(pxmpp_stream_send_error_app(c, PXMPP_STREAM_ERROR_CONDITION_UNDEFINED_CONDITION, NULL,
                                                 &pxmpp_sm_handled_count_too_high_desc, NULL),
                     PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_stream_send_error_app(c, PXMPP_STREAM_ERROR_CONDITION_ABSENT, NULL, NULL, NULL),
                     PXMPP_ERR_INVALID_ARGUMENT);
    size_t start = out.len;
    assert_int_equal(pxmpp_stream_send_error_app(c, PXMPP_STREAM_ERROR_CONDITION_UNDEFINED_CONDITION, "8 < 10",
                                                 &pxmpp_sm_handled_count_too_high_desc, &t), 0);
    assert_string_equal(out.data + start,
                        "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>8 &lt; 10</text>"
                        "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='10' send-count='8'/>"
                        "</stream:error></stream:stream>");
    /* the stream is over; the peer reads the condition back, typed */
    assert_int_equal(pxmpp_stream_send_error_app(c, PXMPP_STREAM_ERROR_CONDITION_UNDEFINED_CONDITION, NULL, NULL, NULL),
                     PXMPP_ERR_STATE);
    pxmpp_sm_request r = { 0 };
    assert_int_equal(pxmpp_stream_send(c, &pxmpp_sm_request_desc, &r), PXMPP_ERR_CLOSED);
    assert_int_equal(pxmpp_stream_feed(s, out.data, out.len), 0); /* the close tag ends the input */
    assert_int_equal(pe.calls, 1);
    assert_int_equal(pe.condition, PXMPP_STREAM_ERROR_CONDITION_UNDEFINED_CONDITION);
    assert_ptr_equal(pe.app, &pxmpp_sm_handled_count_too_high_desc);
    assert_int_equal(pe.h, 10);
    assert_int_equal(pe.sent, 8);
    pxmpp_stream_free(c);
    pxmpp_stream_free(s);
    pxmpp_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_payloads),
        cmocka_unit_test(test_lang_and_iq_without_id),
        cmocka_unit_test(test_jid_bare_str),
        cmocka_unit_test(test_build_message),
        cmocka_unit_test(test_build_presence),
        cmocka_unit_test(test_build_iq_roster),
        cmocka_unit_test(test_writer_errors_and_escaping),
        cmocka_unit_test(test_enums_and_registry),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_typed_roster_read),
        cmocka_unit_test(test_roster_memory_linear),
        cmocka_unit_test(test_stream_error_app),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
