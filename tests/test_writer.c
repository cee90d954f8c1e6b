/* Writer tests: whatever strings the application gives, the writer emits well-formed XML
 * or refuses (characters and names), the replacement policy, valid non-ASCII text
 * untouched, and the same through the stream (stanzas, header, stream error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include <pxmpp/pxmpp.h>

#define CLIENT PXMPP_NS_CLIENT
#define FFFD "\xEF\xBF\xBD"

static pxmpp_arena *arena(void)
{
    pxmpp_arena *a;
    assert_int_equal(pxmpp_arena_new(&a, NULL, 0), 0);
    return a;
}

/* A message whose only body holds text. */
static pxmpp_message *message_with_body(pxmpp_arena *a, const char *text)
{
    pxmpp_message *m = pxmpp_build_message(a, "juliet@example.com", PXMPP_MESSAGE_TYPE_CHAT, "m1");
    assert_non_null(m);
    assert_int_equal(pxmpp_message_add_body(a, m, NULL, text), 0);
    return m;
}

/* Is xml one well-formed, namespace-well-formed element (libxml2 reads it strictly)? */
static bool well_formed(const char *xml, size_t len)
{
    xmlDocPtr d = xmlReadMemory(xml, (int)len, "w.xml", "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                                       XML_PARSE_NOWARNING);
    bool ok = d != NULL;
    xmlFreeDoc(d);
    return ok;
}

/* ---- text and attribute values ------------------------------------------------------ */

struct bad_text {
    const char *name;
    const char *text;
    size_t offset;        /* of the first refused byte */
    const char *replaced; /* the body's text with PXMPP_WRITE_REPLACE_INVALID */
};

static const struct bad_text bad_texts[] = {
    { "IRC colour code", "\x03" "4red\x03 text", 0, FFFD "4red" FFFD " text" },
    { "other C0 controls", "a\x01\x08\x0B\x0C\x0E\x1F" "b", 1, "a" FFFD FFFD FFFD FFFD FFFD FFFD "b" },
    { "escape sequence", "x\x1B[31m", 1, "x" FFFD "[31m" },
    { "U+FFFE", "a\xEF\xBF\xBE", 1, "a" FFFD },
    { "U+FFFF", "\xEF\xBF\xBFz", 0, FFFD "z" },
    { "byte 0xFF", "ab\xFF", 2, "ab" FFFD },
    { "lone continuation byte", "\x80x", 0, FFFD "x" },
    { "truncated two-byte sequence", "caf\xC3", 3, "caf" FFFD },
    { "lead byte then ASCII", "\xC3(", 0, FFFD "(" },
    { "overlong '/'", "\xC0\xAF", 0, FFFD FFFD },
    { "overlong three-byte NUL", "\xE0\x80\x80", 0, FFFD FFFD FFFD },
    { "surrogate U+D800", "\xED\xA0\x80", 0, FFFD FFFD FFFD },
    { "above U+10FFFF", "\xF4\x90\x80\x80", 0, FFFD FFFD FFFD FFFD },
    { "lead byte 0xF5", "\xF5\x80\x80\x80", 0, FFFD FFFD FFFD FFFD },
    /* a maximal subpart (Unicode §3.9): one U+FFFD for the lead byte and its continuations */
    { "truncated emoji", "\xF0\x9F\x98!", 0, FFFD "!" },
    { "truncated CJK", "\xE6\x97 \xE6\x97\xA5", 0, FFFD " \xE6\x97\xA5" },
    { "after valid text", "\xC3\xA9t\xC3\xA9\x02", 5, "\xC3\xA9t\xC3\xA9" FFFD },
};

static void test_text_refused_or_replaced(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++) {
        const struct bad_text *c = &bad_texts[i];
        pxmpp_message *m = message_with_body(a, c->text);
        pxmpp_buf b;
        pxmpp_buf_init(&b, NULL);
        assert_int_equal(pxmpp_buf_append(&b, "kept", 4), 0);
        pxmpp_write_fault f;
        int rc = pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, 0, &f);
        if (rc != PXMPP_ERR_INVALID_CHAR || f.offset != c->offset)
            fprintf(stderr, "%s: rc %s, offset %zu\n", c->name, pxmpp_error_name(rc), f.offset);
        assert_int_equal(rc, PXMPP_ERR_INVALID_CHAR);
        assert_int_equal(f.code, PXMPP_ERR_INVALID_CHAR);
        assert_string_equal(f.part, "text");
        assert_string_equal(f.element, "body");
        assert_null(f.attribute);
        assert_int_equal(f.offset, c->offset);
        assert_non_null(f.reason);
        /* nothing appended */
        assert_int_equal(b.len, 4);
        assert_string_equal(b.data, "kept");
        assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, CLIENT, 0), PXMPP_ERR_INVALID_CHAR);
        assert_int_equal(b.len, 4);

        /* the replacement policy */
        b.len = 0;
        rc = pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, PXMPP_WRITE_REPLACE_INVALID, &f);
        assert_int_equal(rc, 0);
        assert_int_equal(f.code, 0);
        char want[256];
        snprintf(want, sizeof want, "<message to='juliet@example.com' id='m1' type='chat'><body>%s</body></message>",
                 c->replaced);
        if (strcmp(b.data, want) != 0)
            fprintf(stderr, "%s:\n got  %s\n want %s\n", c->name, b.data, want);
        assert_string_equal(b.data, want);
        assert_true(well_formed(b.data, b.len));
        pxmpp_buf_free(&b);
    }
    pxmpp_arena_free(a);
}

static void test_attribute_values(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    pxmpp_message *m = message_with_body(a, "hi");
    m->id = "m\x03" "1";
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    pxmpp_write_fault f;
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, 0, &f), PXMPP_ERR_INVALID_CHAR);
    assert_string_equal(f.part, "attribute value");
    assert_string_equal(f.element, "message");
    assert_string_equal(f.attribute, "id");
    assert_int_equal(f.offset, 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, CLIENT, PXMPP_WRITE_REPLACE_INVALID), 0);
    assert_non_null(strstr(b.data, " id='m" FFFD "1'"));
    assert_true(well_formed(b.data, b.len));

    /* the offset counts from the start of the value, past a clean head and an escape */
    b.len = 0;
    m->id = "a&b'\xC3\xA9\xFF";
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, 0, &f), PXMPP_ERR_INVALID_CHAR);
    assert_int_equal(f.offset, 6);

    /* an xml:lang of a body, an unknown attribute's value */
    m->id = "m1";
    pxmpp_lang_text *lt = (pxmpp_lang_text *)&m->bodies[0];
    lt->lang = "e\x7F\xC2\x85n"; /* DEL and U+0085 are XML characters */
    b.len = 0;
    assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, CLIENT, 0), 0);
    lt->lang = "en\x10";
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, 0, &f), PXMPP_ERR_INVALID_CHAR);
    assert_string_equal(f.element, "body");
    assert_string_equal(f.attribute, "lang");
    assert_int_equal(f.offset, 2);
    lt->lang = NULL;
    pxmpp_attr extra = { NULL, "x", "\xF8" };
    m->meta.extra_attrs = &extra;
    m->meta.extra_attrs_count = 1;
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, 0, &f), PXMPP_ERR_INVALID_CHAR);
    assert_string_equal(f.attribute, "x");
    assert_int_equal(f.offset, 0);
    pxmpp_buf_free(&b);
    pxmpp_arena_free(a);
}

/* Valid text is written unchanged: accents, CJK, emoji, the replacement character itself,
   the last code point, white space, DEL and C1 controls (XML 1.0 allows them). */
static void test_valid_text_untouched(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e",
        "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
        "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
        "\xEF\xBF\xBD \xEF\xBF\xBC \xEE\x80\x80 \xF4\x8F\xBF\xBF \xF0\x90\x80\x80",
        "tab\there\nline \x7F \xC2\x80\xC2\x9F \xC2\xA0",
        "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7",
    };
    pxmpp_arena *a = arena();
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        pxmpp_message *m = message_with_body(a, texts[i]);
        m->id = texts[i];
        for (unsigned flags = 0; flags <= PXMPP_WRITE_REPLACE_INVALID; flags += PXMPP_WRITE_REPLACE_INVALID) {
            b.len = 0;
            assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, CLIENT, flags), 0);
            char want[512];
            snprintf(want, sizeof want, "<body>%s</body>", texts[i]);
            assert_non_null(strstr(b.data, want));
            assert_true(well_formed(b.data, b.len));
        }
    }
    pxmpp_buf_free(&b);
    pxmpp_arena_free(a);
}

/* ---- names --------------------------------------------------------------------------- */

struct bad_name {
    const char *name;
    const char *local;
    size_t offset;
};

static const struct bad_name bad_names[] = {
    { "injected markup", "x><message to='a'>", 1 },
    { "space", "a b", 1 },
    { "empty", "", 0 },
    { "digit first", "1abc", 0 },
    { "hyphen first", "-x", 0 },
    { "colon", "a:b", 1 },
    { "quote", "a'", 1 },
    { "control character", "a\x03", 1 },
    { "middle dot first", "\xC2\xB7" "a", 0 },
    { "invalid UTF-8", "a\xFF", 1 },
    { "U+FFFE", "a\xEF\xBF\xBE", 1 },
    { "non-breaking space", "a\xC2\xA0", 1 },
};

static void test_names_refused(void **state)
{
    (void)state;
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    pxmpp_write_fault f;
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        const struct bad_name *c = &bad_names[i];
        /* as an element's name */
        pxmpp_node n = { .ns = "urn:x", .local = c->local };
        int rc = pxmpp_write_node_ex(&b, &n, CLIENT, PXMPP_WRITE_REPLACE_INVALID, &f);
        if (rc != PXMPP_ERR_INVALID_NAME || f.offset != c->offset)
            fprintf(stderr, "%s: %s at %zu\n", c->name, pxmpp_error_name(rc), f.offset);
        assert_int_equal(rc, PXMPP_ERR_INVALID_NAME); /* names are never replaced */
        assert_string_equal(f.part, "element name");
        assert_ptr_equal(f.element, c->local);
        assert_int_equal(f.offset, c->offset);
        assert_int_equal(b.len, 0);
        assert_int_equal(pxmpp_write_node(&b, &n, CLIENT), PXMPP_ERR_INVALID_NAME);
        /* as an attribute's name, on a child */
        pxmpp_attr at = { NULL, c->local, "v" };
        pxmpp_node child = { .ns = "urn:x", .local = "c", .attrs = &at, .attrs_count = 1 };
        pxmpp_node parent = { .ns = "urn:x", .local = "p", .children = &child, .children_count = 1 };
        assert_int_equal(pxmpp_write_node_ex(&b, &parent, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
        assert_string_equal(f.part, "attribute name");
        assert_string_equal(f.element, "c");
        assert_ptr_equal(f.attribute, c->local);
        assert_int_equal(f.offset, c->offset);
        assert_int_equal(b.len, 0);
    }

    /* valid names: non-ASCII ones included */
    static const char *const good[] = { "x", "_a", "a-b.c9", "\xC3\xA9t\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "a\xC2\xB7" "b",
                                        "xmlns", "xml-stylesheet" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        pxmpp_attr at = { "urn:y", good[i], "v" };
        pxmpp_node n = { .ns = "urn:x", .local = good[i], .attrs = &at, .attrs_count = 1 };
        b.len = 0;
        assert_int_equal(pxmpp_write_node(&b, &n, CLIENT), 0);
        assert_true(well_formed(b.data, b.len));
    }
    pxmpp_buf_free(&b);
}

/* A crafted name cannot inject a stanza: the whole message is refused, nothing appended. */
static void test_injection(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    pxmpp_message *m = message_with_body(a, "hello");
    pxmpp_node evil = { .ns = "urn:x", .local = "x><message to='a'><body>pwned</body></message><x" };
    pxmpp_payload p = { .node = &evil };
    m->payloads = &p;
    m->payloads_count = 1;
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    pxmpp_write_fault f;
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, PXMPP_WRITE_REPLACE_INVALID, &f),
                     PXMPP_ERR_INVALID_NAME);
    assert_string_equal(f.part, "element name");
    assert_int_equal(f.offset, 1);
    assert_int_equal(b.len, 0);
    /* the same text as character data is escaped */
    pxmpp_node text = { .text = "</body><message to='a'>" };
    pxmpp_node x = { .ns = "urn:x", .local = "x", .children = &text, .children_count = 1 };
    p.node = &x;
    assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, CLIENT, 0), 0);
    assert_non_null(strstr(b.data, "<x xmlns='urn:x'>&lt;/body&gt;&lt;message to='a'&gt;</x>"));
    assert_true(well_formed(b.data, b.len));
    pxmpp_buf_free(&b);
    pxmpp_arena_free(a);
}

static void test_namespaces_and_duplicates(void **state)
{
    (void)state;
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    pxmpp_write_fault f;
    /* namespaces are attribute values: escaped */
    pxmpp_attr qa = { "urn:a'b<c&d", "q", "1" };
    pxmpp_node n = { .ns = "urn:'x'&<y>", .local = "e", .attrs = &qa, .attrs_count = 1 };
    assert_int_equal(pxmpp_write_node(&b, &n, CLIENT), 0);
    assert_string_equal(b.data, "<e xmlns='urn:&apos;x&apos;&amp;&lt;y&gt;' xmlns:ns0='urn:a&apos;b&lt;c&amp;d' ns0:q='1'/>");
    assert_true(well_formed(b.data, b.len));
    /* ... of valid characters only, never replaced */
    b.len = 0;
    n.ns = "urn:\x01";
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, PXMPP_WRITE_REPLACE_INVALID, &f), PXMPP_ERR_INVALID_CHAR);
    assert_string_equal(f.part, "namespace name");
    assert_int_equal(f.offset, 4);
    n.ns = "urn:x";
    qa.ns = "urn:\xC3";
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, PXMPP_WRITE_REPLACE_INVALID, &f), PXMPP_ERR_INVALID_CHAR);
    assert_string_equal(f.part, "namespace name");
    assert_string_equal(f.attribute, "q");
    /* reserved namespaces */
    qa.ns = "http://www.w3.org/2000/xmlns/";
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    assert_string_equal(f.part, "namespace name");
    qa.ns = "";
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    qa.ns = PXMPP_NS_XML; /* xml:q */
    assert_int_equal(pxmpp_write_node(&b, &n, CLIENT), 0);
    assert_string_equal(b.data, "<e xmlns='urn:x' xml:q='1'/>");
    b.len = 0;
    n.ns = PXMPP_NS_XML;
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    n.ns = "http://www.w3.org/2000/xmlns/";
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    /* an unprefixed xmlns attribute would declare a namespace */
    n.ns = "urn:x";
    pxmpp_attr decl = { NULL, "xmlns", "urn:evil" };
    n.attrs = &decl;
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    assert_string_equal(f.attribute, "xmlns");
    assert_int_equal(b.len, 0);

    /* an attribute given twice: the same local name and namespace */
    pxmpp_attr two[2] = { { NULL, "a", "1" }, { NULL, "a", "2" } };
    n.attrs = two;
    n.attrs_count = 2;
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    assert_string_equal(f.reason, "an attribute given twice on one element");
    two[1].ns = "urn:other"; /* another expanded name */
    assert_int_equal(pxmpp_write_node(&b, &n, CLIENT), 0);
    assert_true(well_formed(b.data, b.len));
    b.len = 0;
    two[0].ns = "urn:other"; /* two prefixes for one namespace: the same expanded name */
    assert_int_equal(pxmpp_write_node(&b, &n, CLIENT), PXMPP_ERR_INVALID_NAME);
    /* many attributes (past the ones compared one by one): the last repeats the first */
    enum { MANY = 300 };
    pxmpp_attr many[MANY];
    char names[MANY][8];
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        many[i] = (pxmpp_attr){ i % 3 ? NULL : "urn:m", names[i], "v" };
    }
    n.attrs = many;
    n.attrs_count = MANY;
    assert_int_equal(pxmpp_write_node(&b, &n, CLIENT), 0);
    assert_true(well_formed(b.data, b.len));
    b.len = 0;
    many[MANY - 1] = (pxmpp_attr){ "urn:m", "a0", "w" };
    assert_int_equal(pxmpp_write_node_ex(&b, &n, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    assert_string_equal(f.attribute, "a0");
    many[MANY - 1] = (pxmpp_attr){ NULL, "a0", "w" }; /* a0 is in urn:m: another name */
    assert_int_equal(pxmpp_write_node(&b, &n, CLIENT), 0);
    /* and on the next element the count starts again */
    pxmpp_attr one = { NULL, "a1", "x" };
    pxmpp_node kids[2] = { n, { .ns = "urn:x", .local = "k", .attrs = &one, .attrs_count = 1 } };
    pxmpp_node top = { .ns = "urn:x", .local = "t", .children = kids, .children_count = 2 };
    b.len = 0;
    assert_int_equal(pxmpp_write_node(&b, &top, CLIENT), 0);
    assert_true(well_formed(b.data, b.len));

    /* an unknown attribute that repeats a typed one, or a body's xml:lang */
    pxmpp_arena *a = arena();
    pxmpp_message *m = message_with_body(a, "hi");
    pxmpp_attr dup_id = { NULL, "id", "m2" };
    m->meta.extra_attrs = &dup_id;
    m->meta.extra_attrs_count = 1;
    b.len = 0;
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    assert_string_equal(f.element, "message");
    assert_string_equal(f.attribute, "id");
    m->meta.extra_attrs_count = 0;
    pxmpp_lang_text *lt = (pxmpp_lang_text *)&m->bodies[0];
    lt->lang = "en";
    pxmpp_attr dup_lang = { PXMPP_NS_XML, "lang", "fr" };
    lt->meta.extra_attrs = &dup_lang;
    lt->meta.extra_attrs_count = 1;
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, CLIENT, 0, &f), PXMPP_ERR_INVALID_NAME);
    assert_string_equal(f.element, "body");
    pxmpp_arena_free(a);

    /* the content namespace given to the call, where it is written */
    a = arena();
    m = message_with_body(a, "hi");
    b.len = 0;
    assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, "jabber:\x02", 0), 0); /* not written */
    b.len = 0;
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, "jabber:\x02", PXMPP_WRITE_DECLARE_CONTENT_NS, &f),
                     PXMPP_ERR_INVALID_CHAR);
    assert_string_equal(f.part, "namespace name");
    assert_string_equal(f.element, "message");
    assert_int_equal(f.offset, 7);
    assert_int_equal(b.len, 0);
    assert_int_equal(pxmpp_write_ex(&b, &pxmpp_message_desc, m, PXMPP_NS_XML, PXMPP_WRITE_DECLARE_CONTENT_NS, &f),
                     PXMPP_ERR_INVALID_NAME);
    assert_string_equal(f.part, "namespace name");
    pxmpp_arena_free(a);
    pxmpp_buf_free(&b);
}

static void test_buf_append_escaped(void **state)
{
    (void)state;
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    assert_int_equal(pxmpp_buf_append_escaped(&b, "a<'\n", 4, 1), 0);
    assert_string_equal(b.data, "a&lt;&apos;&#xA;");
    assert_int_equal(pxmpp_buf_append_escaped(&b, "x\0y", 3, 0), PXMPP_ERR_INVALID_CHAR);
    assert_string_equal(b.data, "a&lt;&apos;&#xA;");
    assert_int_equal(pxmpp_buf_append_escaped_ex(&b, "x\0y\xE9", 4, 0, PXMPP_WRITE_REPLACE_INVALID), 0);
    assert_string_equal(b.data, "a&lt;&apos;&#xA;x" FFFD "y" FFFD);
    b.len = 0;
    assert_int_equal(pxmpp_buf_append_escaped_ex(&b, "1\n2", 3, 0, PXMPP_WRITE_ONE_LINE), 0);
    assert_string_equal(b.data, "1&#xA;2");
    assert_int_equal(pxmpp_buf_append_escaped(NULL, "x", 1, 0), PXMPP_ERR_INVALID_ARGUMENT);
    pxmpp_buf_free(&b);
    assert_string_equal(pxmpp_error_name(PXMPP_ERR_INVALID_CHAR), "PXMPP_ERR_INVALID_CHAR");
    assert_string_equal(pxmpp_error_name(PXMPP_ERR_INVALID_NAME), "PXMPP_ERR_INVALID_NAME");
    assert_string_not_equal(pxmpp_strerror(PXMPP_ERR_INVALID_CHAR), "unknown error");
    assert_string_not_equal(pxmpp_strerror(PXMPP_ERR_INVALID_NAME), "unknown error");
}

/* ---- through the stream ------------------------------------------------------------ */

typedef struct sink {
    pxmpp_buf out;
    size_t writes;
} sink;

static int sink_write(void *user, const char *data, size_t len)
{
    sink *k = user;
    k->writes++;
    return pxmpp_buf_append(&k->out, data, len);
}

static void test_stream_writes(void **state)
{
    (void)state;
    for (int replace = 0; replace < 2; replace++) {
        sink k = { 0 };
        pxmpp_buf_init(&k.out, NULL);
        pxmpp_stream_callbacks cb = { .write = sink_write };
        pxmpp_stream_config cfg = { .flags = replace ? PXMPP_STREAM_REPLACE_INVALID : 0 };
        pxmpp_stream *s;
        assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &k), 0);

        /* the header's attributes */
        pxmpp_stream_header h = { .to = "example.net\x03", .lang = "en" };
        if (!replace) {
            assert_int_equal(pxmpp_stream_open(s, &h), PXMPP_ERR_INVALID_CHAR);
            assert_int_equal(k.writes, 0);
            assert_int_equal(pxmpp_stream_send_message(s, NULL), PXMPP_ERR_INVALID_ARGUMENT);
            h.to = "example.net";
        }
        assert_int_equal(pxmpp_stream_open(s, &h), 0);
        assert_int_equal(k.writes, 1);
        assert_non_null(strstr(k.out.data, replace ? " to='example.net" FFFD "'" : " to='example.net'"));

        /* a stanza: serialized whole first, so nothing of it is written when it fails */
        pxmpp_arena *a = arena();
        pxmpp_message *m = message_with_body(a, "\x03" "4colour\x0f");
        size_t before = k.out.len;
        int rc = pxmpp_stream_send_message(s, m);
        if (replace) {
            assert_int_equal(rc, 0);
            assert_non_null(strstr(k.out.data + before, "<body>" FFFD "4colour" FFFD "</body>"));
        } else {
            assert_int_equal(rc, PXMPP_ERR_INVALID_CHAR);
            assert_int_equal(k.out.len, before);
            assert_int_equal(pxmpp_stream_last_error(s, NULL, NULL), 0); /* the stream goes on */
            assert_int_equal(pxmpp_stream_send_message(s, message_with_body(a, "plain")), 0);
            assert_non_null(strstr(k.out.data + before, "<body>plain</body>"));
        }
        /* a generic node is checked on the way out, with or without the policy */
        pxmpp_node evil = { .ns = "urn:x", .local = "x><message to='a'>" };
        pxmpp_payload p = { .node = &evil };
        m = message_with_body(a, "plain");
        m->payloads = &p;
        m->payloads_count = 1;
        before = k.out.len;
        assert_int_equal(pxmpp_stream_send_message(s, m), PXMPP_ERR_INVALID_NAME);
        assert_int_equal(k.out.len, before);
        pxmpp_arena_free(a);

        /* the text of a stream error */
        before = k.out.len;
        rc = pxmpp_stream_send_error(s, PXMPP_STREAM_ERROR_CONDITION_POLICY_VIOLATION, "bye\x01");
        if (!replace) {
            assert_int_equal(rc, PXMPP_ERR_INVALID_CHAR);
            assert_int_equal(k.out.len, before); /* nothing sent, the stream as it was */
            assert_int_equal(pxmpp_stream_last_error(s, NULL, NULL), 0);
            rc = pxmpp_stream_send_error(s, PXMPP_STREAM_ERROR_CONDITION_POLICY_VIOLATION, "bye");
        }
        assert_int_equal(rc, 0);
        assert_non_null(strstr(k.out.data + before, replace ? ">bye" FFFD "</text>" : ">bye</text>"));
        assert_int_equal(pxmpp_stream_last_error(s, NULL, NULL), PXMPP_ERR_CLOSED);
        pxmpp_stream_free(s);
        pxmpp_buf_free(&k.out);
    }

    /* a content namespace that could not be written is refused up front */
    pxmpp_stream_callbacks cb = { .write = sink_write };
    pxmpp_stream *s;
    static const char *const bad_ns[] = { "", "jabber:'client", "jabber:<", "a&b", "jabber:\x01", "jabber:\xC0" };
    for (size_t i = 0; i < sizeof bad_ns / sizeof bad_ns[0]; i++) {
        pxmpp_stream_config cfg = { .content_ns = bad_ns[i] };
        assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, NULL), PXMPP_ERR_INVALID_ARGUMENT);
    }
}

/* ---- namespaces and the amplification bound ------------------------------------------ */

/* The bound of writer.h: what is parsed and written back takes at most
   AMP_K bytes a byte of input plus AMP_C. */
#define AMP_K PXMPP_WRITE_AMPLIFICATION_K
#define AMP_C PXMPP_WRITE_AMPLIFICATION_C

typedef struct relay {
    pxmpp_buf out; /* what was written back */
} relay;

static void relay_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    (void)offset;
    relay *r = user;
    assert_int_equal(pxmpp_write(&r->out, d, obj, CLIENT, 0), 0);
}

static void relay_message(void *user, const pxmpp_message *m) { relay_element(user, &pxmpp_message_desc, m, 0); }

/* Parses the content-only stream in and writes its one element back into out (which the
   caller frees). */
static void relay_one(const char *in, size_t len, pxmpp_buf *out)
{
    relay r;
    pxmpp_buf_init(&r.out, NULL);
    pxmpp_stream_callbacks cb = { .write = sink_write, .element = relay_element, .message = relay_message };
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
    pxmpp_stream *s;
    assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &r), 0);
    assert_int_equal(pxmpp_stream_feed(s, in, len), 0);
    assert_int_equal(pxmpp_stream_last_error(s, NULL, NULL), 0);
    pxmpp_stream_free(s);
    assert_true(r.out.len > 0);
    assert_true(well_formed(r.out.data, r.out.len));
    *out = r.out;
}

/* Counts the elements and attributes of the tree at n in namespace ns. */
static void count_ns(xmlNodePtr n, const char *ns, size_t *elements, size_t *attributes)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (n->ns && strcmp((const char *)n->ns->href, ns) == 0)
            ++*elements;
        for (xmlAttrPtr a = n->properties; a; a = a->next)
            if (a->ns && strcmp((const char *)a->ns->href, ns) == 0)
                ++*attributes;
        count_ns(n->children, ns, elements, attributes);
    }
}

/* Checks that xml has `elements` elements and `attributes` attributes in ns. */
static void assert_ns_count(const pxmpp_buf *xml, const char *ns, size_t elements, size_t attributes)
{
    xmlDocPtr d = xmlReadMemory(xml->data, (int)xml->len, "w.xml", "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                                                   XML_PARSE_NOWARNING);
    assert_non_null(d);
    size_t e = 0, a = 0;
    count_ns(xmlDocGetRootElement(d), ns, &e, &a);
    xmlFreeDoc(d);
    assert_int_equal(e, elements);
    assert_int_equal(a, attributes);
}

/* Builds <message><x xmlns='urn:example:a' xmlns:p='NS'>UNIT x count</x></message>, NS a
   namespace of ns_len characters, into b. */
static void repeated(pxmpp_buf *b, size_t ns_len, const char *unit, size_t count, char **ns)
{
    pxmpp_buf_init(b, NULL);
    *ns = malloc(ns_len + 1);
    assert_non_null(*ns);
    memcpy(*ns, "urn:", 4);
    memset(*ns + 4, 'n', ns_len - 4);
    (*ns)[ns_len] = '\0';
    assert_int_equal(pxmpp_buf_append(b, "<message><x xmlns='urn:example:a' xmlns:p='", 43), 0);
    assert_int_equal(pxmpp_buf_append(b, *ns, ns_len), 0);
    assert_int_equal(pxmpp_buf_append(b, "'>", 2), 0);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(pxmpp_buf_append(b, unit, strlen(unit)), 0);
    assert_int_equal(pxmpp_buf_append(b, "</x></message>", 14), 0);
}

static void test_attribute_prefixes_scoped(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        /* one declaration for two attributes of one namespace */
        { "<message><x xmlns='urn:a' xmlns:p='urn:p' p:a='1' p:b='2'/></message>",
          "<message><x xmlns='urn:a' xmlns:ns0='urn:p' ns0:a='1' ns0:b='2'/></message>" },
        /* a descendant takes the prefix of an ancestor; another namespace gets another one */
        { "<message><x xmlns='urn:a' xmlns:p='urn:p' xmlns:q='urn:q' p:a='1'><y p:b='2' q:c='3'><z q:d='4' p:e='5'/>"
          "</y><y q:f='6'/></x></message>",
          "<message><x xmlns='urn:a' xmlns:ns0='urn:p' ns0:a='1'><y ns0:b='2' xmlns:ns1='urn:q' ns1:c='3'>"
          "<z ns1:d='4' ns0:e='5'/></y><y xmlns:ns1='urn:q' ns1:f='6'/></x></message>" },
        /* siblings each declare what they use while that stays cheap */
        { "<message><x xmlns='urn:a' xmlns:p='urn:p'><y p:a='1'/><y p:a='2'/><p:z/><w/><p:z/></x></message>",
          "<message><x xmlns='urn:a'><y xmlns:ns0='urn:p' ns0:a='1'/><y xmlns:ns0='urn:p' ns0:a='2'/>"
          "<z xmlns='urn:p'/><w/><z xmlns='urn:p'/></x></message>" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pxmpp_buf out;
        relay_one(cases[i].in, strlen(cases[i].in), &out);
        assert_string_equal(out.data, cases[i].out);
        pxmpp_buf_free(&out);
    }
}

static void test_amplification_bounded(void **state)
{
    (void)state;
    static const struct {
        const char *unit;
        size_t ns_len, count, elements, attributes; /* elements and attributes in the namespace a unit */
    } cases[] = {
        { "<p:y p:a=''/>", 1000, 4600, 1, 1 },            /* 150 times larger before the bound */
        { "<y p:a='1'/>", 1000, 5000, 0, 1 },             /* one attribute a child */
        { "<y p:a='1' p:b='2'/>", 1000, 3000, 0, 2 },     /* two of one namespace */
        { "<p:y/><z/>", 1000, 6000, 1, 0 },               /* children of two namespaces in turn */
        { "<p:y><z/></p:y>", 1000, 4000, 1, 0 },          /* and nested */
        { "<z><p:y p:a='1'><z/></p:y></z>", 1000, 1700, 1, 1 },
        { "<y p:a='1'/>", 60, 5000, 0, 1 },               /* a namespace of ordinary length */
        { "<p:y/><z/>", 60, 6000, 1, 0 }, 
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pxmpp_buf in, out;
        char *ns;
        repeated(&in, cases[i].ns_len, cases[i].unit, cases[i].count, &ns);
        relay_one(in.data, in.len, &out);
        print_message("%s x %zu, namespace of %zu: %zu bytes in, %zu out (%.2f)\n", cases[i].unit, cases[i].count,
                      cases[i].ns_len, in.len, out.len, (double)out.len / (double)in.len);
        assert_true(out.len <= AMP_K * in.len + AMP_C);
        assert_ns_count(&out, ns, cases[i].elements * cases[i].count, cases[i].attributes * cases[i].count);
        free(ns);
        pxmpp_buf_free(&in);
        pxmpp_buf_free(&out);
    }

    /* many distinct namespaces, each used twice: the writer's work stays linear */
    pxmpp_buf in, out;
    pxmpp_buf_init(&in, NULL);
    assert_int_equal(pxmpp_buf_append(&in, "<message><x xmlns='urn:a'>", 26), 0);
    enum { DISTINCT = 2000 };
    for (int k = 0; k < DISTINCT; k++) {
        char unit[96];
        int n = snprintf(unit, sizeof unit, "<y xmlns:p='urn:example:%d'><p:z p:a='1'/><p:z p:a='2'/></y>", k);
        assert_int_equal(pxmpp_buf_append(&in, unit, (size_t)n), 0);
    }
    assert_int_equal(pxmpp_buf_append(&in, "</x></message>", 14), 0);
    relay_one(in.data, in.len, &out);
    assert_true(out.len <= AMP_K * in.len + AMP_C);
    assert_ns_count(&out, "urn:example:1999", 2, 2);
    pxmpp_buf_free(&in);
    pxmpp_buf_free(&out);
}

/* What the replacement policy writes parses again as the same text (valid XML). */
static void test_replaced_output_parses(void **state)
{
    (void)state;
    pxmpp_arena *a = arena();
    const char *raw = "a\x01\xED\xA0\x80" "b\xF0\x9F\x98\x80\xFF";
    pxmpp_message *m = message_with_body(a, raw);
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    assert_int_equal(pxmpp_write(&b, &pxmpp_message_desc, m, CLIENT, PXMPP_WRITE_REPLACE_INVALID), 0);
    xmlDocPtr d = xmlReadMemory(b.data, (int)b.len, "r.xml", "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR);
    assert_non_null(d);
    xmlNodePtr body = xmlDocGetRootElement(d)->children;
    xmlChar *t = xmlNodeGetContent(body);
    assert_string_equal((const char *)t, "a" FFFD FFFD FFFD FFFD "b\xF0\x9F\x98\x80" FFFD);
    xmlFree(t);
    xmlFreeDoc(d);
    pxmpp_buf_free(&b);
    pxmpp_arena_free(a);
}

int main(void)
{
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_refused_or_replaced),
        cmocka_unit_test(test_attribute_values),
        cmocka_unit_test(test_valid_text_untouched),
        cmocka_unit_test(test_names_refused),
        cmocka_unit_test(test_injection),
        cmocka_unit_test(test_namespaces_and_duplicates),
        cmocka_unit_test(test_buf_append_escaped),
        cmocka_unit_test(test_stream_writes),
        cmocka_unit_test(test_replaced_output_parses),
        cmocka_unit_test(test_attribute_prefixes_scoped),
        cmocka_unit_test(test_amplification_bounded),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
