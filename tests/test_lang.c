/* Schema language constructs at run time, on tests/lang/lang.xml (generated at build time
 * outside the library, with an application registry): several namespaces, `any` points and
 * `nested` payloads, typed value lists (text and attribute values), XEP-0082 date/time
 * types, white space around non-string values, presence bits, and rules.  Every check
 * runs twice: with a registry that has a hash index (built here as the generator builds
 * it) and with one that has none (the linear fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <pxmpp/pxmpp.h>
#include <pxmpp/gen/test_lang.h>

#define NS2 "urn:example:pxmpp:box:2"
#define NS1 "urn:example:pxmpp:box:1"

static const pxmpp_type_desc *all_types[4096];
static uint16_t index_slots[16384];
static pxmpp_registry reg_indexed, reg_plain;

static void index_put(const char *ns, const char *local, uint16_t v)
{
    size_t mask = sizeof index_slots / sizeof index_slots[0] - 1;
    size_t i = pxmpp_registry_hash(ns, local) & mask;
    while (index_slots[i])
        i = (i + 1) & mask;
    index_slots[i] = v;
}

static int setup(void **state)
{
    (void)state;
    size_t n = 0;
    assert_true(pxmpp_generated_registry.count + 16 < sizeof all_types / sizeof all_types[0]);
    for (size_t i = 0; i < pxmpp_generated_registry.count; i++)
        all_types[n++] = pxmpp_generated_registry.types[i];
    all_types[n++] = &pxmpp_lang_box_desc;
    all_types[n++] = &pxmpp_lang_lid_desc;
    all_types[n++] = &pxmpp_lang_note_desc;
    all_types[n++] = &pxmpp_lang_flag_desc;
    all_types[n++] = &pxmpp_lang_para_desc;
    all_types[n++] = &pxmpp_lang_level_desc;
    all_types[n++] = &pxmpp_lang_state_desc;
    all_types[n++] = &pxmpp_lang_mode_desc;
    memset(index_slots, 0, sizeof index_slots);
    for (size_t i = 0; i < n; i++) {
        const pxmpp_type_desc *d = all_types[i];
        if (!d->top_level && !d->payload_of)
            continue;
        /* once per namespace and, for a one-of element, per name */
        for (uint16_t v = 1; v < (d->names ? d->names->count : 2); v++) {
            const char *local = d->names ? d->names->values[v] : d->local;
            if (d->ns_list)
                for (size_t k = 0; d->ns_list[k]; k++)
                    index_put(d->ns_list[k], local, (uint16_t)(i + 1));
            else
                index_put(d->ns ? d->ns : "", local, (uint16_t)(i + 1));
        }
    }
    reg_indexed = (pxmpp_registry){ all_types, n, index_slots, sizeof index_slots / sizeof index_slots[0] };
    reg_plain = (pxmpp_registry){ all_types, n, NULL, 0 };
    return 0;
}

/* What a run saw: copies of the stanzas, and the diagnostics. */
typedef struct seen {
    pxmpp_arena *a;
    const pxmpp_message *msg;
    const pxmpp_iq *iq;
    char invalid[512]; /* stanza-level: "path|reason" */
} seen;

static void on_message(void *user, const pxmpp_message *m)
{
    seen *s = user;
    s->msg = pxmpp_copy(s->a, &pxmpp_message_desc, m);
    assert_non_null(s->msg);
}

static void on_iq(void *user, const pxmpp_iq *iq)
{
    seen *s = user;
    s->iq = pxmpp_copy(s->a, &pxmpp_iq_desc, iq);
    assert_non_null(s->iq);
}

static void on_invalid(void *user, const pxmpp_type_desc *t, const void *partial, const pxmpp_diag *why,
                       uint64_t offset)
{
    seen *s = user;
    (void)offset;
    snprintf(s->invalid, sizeof s->invalid, "%s|%s", why->path, why->reason);
    if (t == &pxmpp_message_desc)
        s->msg = pxmpp_copy(s->a, t, partial);
}

static void run(seen *s, const pxmpp_registry *reg, const char *xml)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(pxmpp_arena_new(&s->a, NULL, 0), 0);
    pxmpp_stream_callbacks cb = { 0 };
    cb.message = on_message;
    cb.iq = on_iq;
    cb.stanza_invalid = on_invalid;
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY, .registry = reg };
    pxmpp_stream *st;
    assert_int_equal(pxmpp_stream_new(&st, PXMPP_ROLE_CLIENT, &cb, &cfg, s), 0);
    /* whole with the indexed registry, a byte at a time with the other */
    size_t len = strlen(xml), step = reg->index ? len : 1;
    for (size_t off = 0; off < len; off += step)
        assert_int_equal(pxmpp_stream_feed(st, xml + off, step), 0);
    assert_int_equal(pxmpp_stream_finish(st), 0);
    pxmpp_stream_free(st);
}

static void done(seen *s) { pxmpp_arena_free(s->a); }

static char *write_xml(const pxmpp_type_desc *d, const void *obj, unsigned flags)
{
    static char out[4096];
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    assert_int_equal(pxmpp_write(&b, d, obj, PXMPP_NS_CLIENT, flags), 0);
    snprintf(out, sizeof out, "%s", b.data);
    pxmpp_buf_free(&b);
    return out;
}

static const pxmpp_registry *regs[2] = { &reg_indexed, &reg_plain };

static const char box_msg[] =
    "<message type='chat' id='m1'><box xmlns='" NS1 "' count=' 0 ' owner='\n  juliet@example.com\n  '"
    " when='2024-02-29T23:59:60.5+01:00' day='2024-02-29' at='08:15:00' sealed='1'>"
    "<status code='110'/><status code=' 201 '/><level>3</level><level>\n 4 </level><kind>large</kind>"
    "<tag name='x &amp; y'/><tag name=''/>"
    "<lid colour='red'/><note xmlns='urn:example:pxmpp:note'>hi</note>"
    "<message xmlns='jabber:client' type='chat'><body>inner</body></message>"
    "<unknown xmlns='urn:example:other'/></box></message>";

static void test_parse_constructs(void **state)
{
    (void)state;
    for (int r = 0; r < 2; r++) {
        seen s;
        run(&s, regs[r], box_msg);
        assert_string_equal(s.invalid, "");
        assert_non_null(s.msg);
        assert_int_equal(s.msg->payloads_count, 1);
        const pxmpp_lang_box *b = pxmpp_payload_as_lang_box(&s.msg->payloads[0]);
        assert_non_null(b);
        assert_int_equal(b->meta.ns_index, 2); /* parsed in the second namespace */
        assert_int_equal(b->count, 0);
        assert_true(b->meta.present & PXMPP_LANG_BOX_HAS_COUNT);
        assert_string_equal(b->owner, "juliet@example.com"); /* white space around a JID is not part of it */
        assert_string_equal(b->when, "2024-02-29T23:59:60.5+01:00");
        assert_string_equal(b->day, "2024-02-29");
        assert_string_equal(b->at, "08:15:00");
        assert_true(b->sealed);
        assert_int_equal(b->codes_count, 2);
        assert_int_equal(b->codes[0], 110);
        assert_int_equal(b->codes[1], 201);
        assert_int_equal(b->levels_count, 2);
        assert_int_equal(b->levels[0], 3);
        assert_int_equal(b->levels[1], 4);
        assert_int_equal(b->kinds_count, 1);
        assert_int_equal(b->kinds[0], PXMPP_LANG_KIND_LARGE);
        assert_int_equal(b->tags_count, 2);
        assert_string_equal(b->tags[0], "x & y");
        assert_string_equal(b->tags[1], "");
        assert_non_null(b->lid);
        assert_int_equal(b->lid->meta.ns_index, 2);
        assert_string_equal(b->lid->colour, "red");
        /* the any point: a nested-only type, a stanza type, and an unknown element */
        assert_int_equal(b->payloads_count, 3);
        const pxmpp_lang_note *n = pxmpp_payload_as_lang_note(&b->payloads[0]);
        assert_non_null(n);
        assert_string_equal(n->text, "hi");
        const pxmpp_message *inner = pxmpp_payload_as_message(&b->payloads[1]);
        assert_non_null(inner);
        assert_string_equal(inner->bodies[0].text, "inner");
        assert_null(b->payloads[2].type);
        assert_string_equal(b->payloads[2].node->local, "unknown");
        /* written back in the namespace it came in; the lid does not redeclare it */
        const char *x = write_xml(&pxmpp_message_desc, s.msg, 0);
        assert_non_null(strstr(x, "<box xmlns='" NS1 "' count='0' owner='juliet@example.com'"));
        assert_non_null(strstr(x, "<status code='110'/><status code='201'/><level>3</level><level>4</level>"
                                  "<kind>large</kind><tag name='x &amp; y'/><tag name=''/><lid colour='red'/>"));
        assert_non_null(strstr(x, "<note xmlns='urn:example:pxmpp:note'>hi</note><message xmlns='jabber:client' "
                                  "type='chat'><body>inner</body></message><unknown xmlns='urn:example:other'/>"));
        assert_null(strstr(x, NS2));
        done(&s);
    }
}

static void test_mixed_content(void **state)
{
    (void)state;
    for (int r = 0; r < 2; r++) {
        seen s;
        run(&s, regs[r], "<message type='chat'><para xmlns='urn:example:pxmpp:para'> <em>a</em> <b>b</b>\n</para></message>");
        assert_string_equal(s.invalid, "");
        assert_non_null(strstr(write_xml(&pxmpp_message_desc, s.msg, 0),
                               "<para xmlns='urn:example:pxmpp:para'> <em>a</em> <b>b</b>\n</para>"));
        done(&s);
    }
}

/* One-of elements: one type for several element names, the name in an enum field. */
static void test_one_of(void **state)
{
    (void)state;
    for (int r = 0; r < 2; r++) {
        seen s;
        run(&s, regs[r], "<message type='chat'><off xmlns='urn:example:pxmpp:state' since='2024-01-01T00:00:00Z'/>"
                         "<box xmlns='" NS2 "'><slow/></box></message>");
        assert_string_equal(s.invalid, "");
        const pxmpp_lang_state *st = pxmpp_message_get_lang_state(s.msg);
        assert_non_null(st);
        assert_int_equal(st->state, PXMPP_LANG_STATE_KIND_OFF);
        const pxmpp_lang_box *b = pxmpp_message_get_lang_box(s.msg);
        assert_non_null(b);
        assert_non_null(b->mode);
        assert_int_equal(b->mode->speed, PXMPP_LANG_SPEED_SLOW);
        assert_non_null(strstr(write_xml(&pxmpp_message_desc, s.msg, 0),
                               "<off xmlns='urn:example:pxmpp:state' since='2024-01-01T00:00:00Z'/>"
                               "<box xmlns='" NS2 "'><slow/></box>"));
        done(&s);
        /* two of them: the rule says at most one */
        run(&s, regs[r], "<message type='chat'><on xmlns='urn:example:pxmpp:state'/><unknown xmlns='urn:example:pxmpp:state'/>"
                         "</message>");
        assert_string_equal(s.invalid, "/message/on|TEST-1 §7: at most one state in a message");
        done(&s);
        /* a name that is not one of its values is not that type */
        run(&s, regs[r], "<message type='chat'><dim xmlns='urn:example:pxmpp:state'/></message>");
        assert_null(s.msg->payloads[0].type);
        done(&s);
    }
    /* built from scratch: the name comes from the field; none is an error */
    pxmpp_lang_state st = { .state = PXMPP_LANG_STATE_KIND_UNKNOWN };
    assert_string_equal(write_xml(&pxmpp_lang_state_desc, &st, 0), "<unknown xmlns='urn:example:pxmpp:state'/>");
    st.state = PXMPP_LANG_STATE_KIND_ABSENT;
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    assert_int_equal(pxmpp_write(&b, &pxmpp_lang_state_desc, &st, PXMPP_NS_CLIENT, 0), PXMPP_ERR_VALUE);
    assert_int_equal(b.len, 0);
    pxmpp_buf_free(&b);
}

/* A typed <text>: parsed, written in canonical form, a 0 kept. */
static void test_typed_text(void **state)
{
    (void)state;
    for (int r = 0; r < 2; r++) {
        seen s;
        run(&s, regs[r], "<message><level xmlns='urn:example:pxmpp:level'> +3 </level><level xmlns='urn:example:pxmpp:level'>0</level>"
                         "<level xmlns='urn:example:pxmpp:level'/></message>");
        assert_string_equal(s.invalid, "");
        assert_int_equal(s.msg->payloads_count, 3);
        assert_int_equal(((const pxmpp_lang_level *)s.msg->payloads[0].data)->value, 3);
        assert_non_null(strstr(write_xml(&pxmpp_message_desc, s.msg, 0),
                               "<level xmlns='urn:example:pxmpp:level'>3</level><level xmlns='urn:example:pxmpp:level'>0</level>"
                               "<level xmlns='urn:example:pxmpp:level'/>"));
        done(&s);
    }
    pxmpp_lang_level lv = { .value = -4 };
    assert_string_equal(write_xml(&pxmpp_lang_level_desc, &lv, 0), "<level xmlns='urn:example:pxmpp:level'>-4</level>");
    lv.value = 9; /* out of range */
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    assert_int_equal(pxmpp_write(&b, &pxmpp_lang_level_desc, &lv, PXMPP_NS_CLIENT, 0), PXMPP_ERR_VALUE);
    pxmpp_buf_free(&b);
}

static void test_build_from_scratch(void **state)
{
    (void)state;
    pxmpp_arena *a;
    assert_int_equal(pxmpp_arena_new(&a, NULL, 0), 0);
    pxmpp_lang_lid lid = { .colour = "blue" };
    static const int32_t codes[] = { 110, 170 };
    pxmpp_lang_box box = { .count = 0, .owner = "romeo@example.net", .codes = codes, .codes_count = 2, .lid = &lid };
    /* a 0 that is not marked present is not written; marked, it is */
    assert_string_equal(write_xml(&pxmpp_lang_box_desc, &box, 0),
                        "<box xmlns='" NS2 "' owner='romeo@example.net'><status code='110'/><status code='170'/>"
                        "<lid colour='blue'/></box>");
    box.meta.present |= PXMPP_LANG_BOX_HAS_COUNT | PXMPP_LANG_BOX_HAS_SEALED;
    assert_string_equal(write_xml(&pxmpp_lang_box_desc, &box, 0),
                        "<box xmlns='" NS2 "' count='0' owner='romeo@example.net' sealed='false'><status code='110'/>"
                        "<status code='170'/><lid colour='blue'/></box>");
    /* chosen namespace: the second, and the lid follows its parent */
    box.meta.ns_index = 2;
    assert_non_null(strstr(write_xml(&pxmpp_lang_box_desc, &box, 0), "<box xmlns='" NS1 "' count='0'"));
    assert_null(strstr(write_xml(&pxmpp_lang_box_desc, &box, 0), NS2));
    /* an out-of-range value in a list is refused */
    static const int32_t bad[] = { 99 };
    box.codes = bad;
    box.codes_count = 1;
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    assert_int_equal(pxmpp_write(&b, &pxmpp_lang_box_desc, &box, PXMPP_NS_CLIENT, 0), PXMPP_ERR_VALUE);
    pxmpp_buf_free(&b);
    pxmpp_arena_free(a);
}

struct payload_case {
    const char *xml;
    const char *path, *reason; /* of the payload's diagnostic */
    const char *kept;          /* must survive the round trip */
};

static void test_payload_violations(void **state)
{
    (void)state;
    static const struct payload_case cases[] = {
        { "<box xmlns='" NS2 "' count='3'/>", "/message/box", "TEST-1 §2: a counted box has an owner", "count='3'" },
        { "<box xmlns='" NS2 "' when='2024-02-29T10:00:00'/>", "/message/box/@when", "not an XEP-0082 DateTime",
          "when='2024-02-29T10:00:00'" },
        { "<box xmlns='" NS2 "' day='2024-13-01'/>", "/message/box/@day", "not an XEP-0082 Date", "day='2024-13-01'" },
        { "<box xmlns='" NS2 "' day='2024-12-01T00:00:00Z'/>", "/message/box/@day", "not an XEP-0082 Date", "T00:00:00Z" },
        { "<box xmlns='" NS2 "' at='25:00:00'/>", "/message/box/@at", "not an XEP-0082 Time", "at='25:00:00'" },
        { "<box xmlns='" NS2 "'><status/></box>", "/message/box/status[1]", "<status/> needs exactly the attribute code", "<status/>" },
        { "<box xmlns='" NS2 "'><status code='1'/></box>", "/message/box/status[1]", "out of range for attribute code of <status/>: '1'", "<status code='1'/>" },
        { "<box xmlns='" NS2 "'><status code='110'>x</status></box>", "/message/box/status[1]", "unexpected text",
          "<status code='110'>x</status>" },
        { "<box xmlns='" NS2 "'><kind>huge</kind></box>", "/message/box/kind[1]", "unknown value", "<kind>huge</kind>" },
        { "<box xmlns='" NS2 "'><status code='110'><x/></status></box>", "/message/box/status[1]",
          "element <x> is not allowed inside <status>", "<status code='110'><x/></status>" },
        { "<box xmlns='" NS2 "'><note xmlns='urn:example:pxmpp:note'/><note xmlns='urn:example:pxmpp:note'/>"
          "<note xmlns='urn:example:pxmpp:note'/></box>",
          "/message/box", "TEST-1 §5: at most two notes in a box", "<note xmlns='urn:example:pxmpp:note'/>" },
    };
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char xml[1024];
            snprintf(xml, sizeof xml, "<message type='chat' id='v%zu'>%s</message>", i, cases[i].xml);
            seen s;
            run(&s, regs[r], xml);
            assert_string_equal(s.invalid, ""); /* the stanza is fine */
            assert_non_null(s.msg);
            const pxmpp_payload *p = &s.msg->payloads[0];
            assert_ptr_equal(p->type, &pxmpp_lang_box_desc); /* still typed */
            assert_non_null(p->invalid);
            if (strcmp(p->invalid->path, cases[i].path) || !strstr(p->invalid->reason, cases[i].reason))
                fprintf(stderr, "case %zu: %s | %s\n", i, p->invalid->path, p->invalid->reason);
            assert_string_equal(p->invalid->path, cases[i].path);
            assert_non_null(strstr(p->invalid->reason, cases[i].reason));
            assert_null(pxmpp_message_get_lang_box(s.msg)); /* accessors skip it */
            const char *x = write_xml(&pxmpp_message_desc, s.msg, 0);
            if (!strstr(x, cases[i].kept))
                fprintf(stderr, "case %zu: %s\n", i, x);
            assert_non_null(strstr(x, cases[i].kept));
            done(&s);
        }
}

static void test_stanza_rules(void **state)
{
    (void)state;
    for (int r = 0; r < 2; r++) {
        seen s;
        /* a rule naming the stanza's type */
        run(&s, regs[r], "<message type='headline'><box xmlns='" NS2 "'/></message>");
        assert_string_equal(s.invalid, "");
        assert_non_null(s.msg->payloads[0].invalid);
        assert_non_null(strstr(s.msg->payloads[0].invalid->reason, "TEST-1 §3"));
        done(&s);
        /* a rule naming a sibling payload: checked when the stanza ends, stanza-level */
        run(&s, regs[r], "<message type='chat'><box xmlns='" NS2 "'/><flag xmlns='urn:example:pxmpp:flag'/></message>");
        assert_string_equal(s.invalid, "/message/box|TEST-1 §4: a box and a flag not in one stanza");
        done(&s);
        run(&s, regs[r], "<message type='chat'><flag xmlns='urn:example:pxmpp:flag'/><box xmlns='" NS2 "'/></message>");
        assert_string_equal(s.invalid, "/message/box|TEST-1 §4: a box and a flag not in one stanza");
        done(&s);
        /* the same box alone, and in an iq, is fine */
        run(&s, regs[r], "<iq type='set' id='i1'><box xmlns='" NS2 "'/></iq>");
        assert_string_equal(s.invalid, "");
        assert_non_null(pxmpp_iq_get_lang_box(s.iq));
        done(&s);
        /* a nested-only type is not a stanza payload */
        run(&s, regs[r], "<message type='chat'><note xmlns='urn:example:pxmpp:note'>x</note></message>");
        assert_string_equal(s.invalid, "");
        assert_null(s.msg->payloads[0].type);
        done(&s);
        /* a stanza inside a payload is the stanza of its own payloads */
        run(&s, regs[r], "<message type='chat'><box xmlns='" NS2 "'><message xmlns='jabber:client' type='headline'>"
                         "<box xmlns='" NS2 "'/></message></box></message>");
        assert_string_equal(s.invalid, "");
        assert_null(s.msg->payloads[0].invalid); /* the outer box is in a chat message */
        {
            const pxmpp_lang_box *ob = s.msg->payloads[0].data;
            const pxmpp_message *inner = ob->payloads[0].data;
            assert_non_null(inner);
            assert_non_null(inner->payloads[0].invalid); /* the inner one in a headline */
            assert_non_null(strstr(inner->payloads[0].invalid->reason, "TEST-1 §3"));
        }
        done(&s);
        run(&s, regs[r], "<message type='chat'><box xmlns='" NS2 "'><message xmlns='jabber:client' type='chat'>"
                         "<box xmlns='" NS2 "'/><flag xmlns='urn:example:pxmpp:flag'/></message></box></message>");
        assert_string_equal(s.invalid, ""); /* the outer stanza is fine ... */
        {
            const pxmpp_lang_box *ob = s.msg->payloads[0].data;
            assert_non_null(ob->payloads[0].invalid); /* ... the forwarded-like message is not */
            assert_string_equal(ob->payloads[0].invalid->path, "/message/box/message/box");
            assert_non_null(strstr(ob->payloads[0].invalid->reason, "TEST-1 §4"));
        }
        done(&s);
        /* a rule naming a list of the stanza waits for the stanza's end */
        run(&s, regs[r], "<message type='chat'><flag xmlns='urn:example:pxmpp:flag'/><body>x</body></message>");
        assert_string_equal(s.invalid, "/message/flag|TEST-1 §6: a flag goes in a message without a body");
        done(&s);
        run(&s, regs[r], "<message type='chat'><flag xmlns='urn:example:pxmpp:flag'/></message>");
        assert_string_equal(s.invalid, "");
        done(&s);
        /* the core's own rules */
        run(&s, regs[r], "<iq type='get' id='i2'/>");
        assert_string_equal(s.invalid,
                            "/iq|RFC 6120 §8.2.3: an iq of type get or set must contain exactly one payload element");
        done(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_constructs),
        cmocka_unit_test(test_build_from_scratch),
        cmocka_unit_test(test_mixed_content),
        cmocka_unit_test(test_typed_text),
        cmocka_unit_test(test_one_of),
        cmocka_unit_test(test_payload_violations),
        cmocka_unit_test(test_stanza_rules),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
