/* Stream tests: chunking oracle, round trips, stanza-level diagnostics, stream
 * errors, client/server pairing, failing allocator, flat memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"
#include "memcount.h"
#include "internal.h"

#define DATA PXMPP_TEST_DATA

static char *files[256];
static size_t nfiles;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void load_files(void)
{
    if (nfiles)
        return;
    DIR *d = opendir(DATA "/rfc");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) && nfiles < 255) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".xml") == 0) {
            char *p = malloc(strlen(DATA) + l + 8);
            sprintf(p, "%s/rfc/%s", DATA, e->d_name);
            files[nfiles++] = p;
        }
    }
    closedir(d);
    qsort(files, nfiles, sizeof files[0], cmp_str);
    assert_true(nfiles >= 40);
}

static bool is_full_stream(const char *d) { return strncmp(d, "<?xml", 5) == 0 || strncmp(d, "<stream:stream", 14) == 0; }

/* Every input, at every chunk size and with random splits, gives the callbacks of the whole-buffer run. */
static void check_chunking(const char *path)
{
    size_t len;
    char *data = read_file(path, &len);
    unsigned flags = is_full_stream(data) ? 0 : PXMPP_STREAM_CONTENT_ONLY;
    trace oracle;
    run_trace(&oracle, data, len, len, 0, flags, NULL);
    for (size_t c = 1; c < len; c++) {
        trace t;
        run_trace(&t, data, len, c, 0, flags, NULL);
        if (strcmp(t.log.data, oracle.log.data) != 0) {
            fprintf(stderr, "%s: chunk %zu differs\n--- whole:\n%s--- chunked:\n%s", path, c, oracle.log.data, t.log.data);
            fail();
        }
        trace_free(&t);
    }
    for (uint32_t seed = 1; seed <= 16; seed++) {
        trace t;
        run_trace(&t, data, len, 0, seed, flags, NULL);
        assert_string_equal(t.log.data, oracle.log.data);
        trace_free(&t);
    }
    trace_free(&oracle);
    free(data);
}

static void test_chunking_rfc_files(void **state)
{
    (void)state;
    load_files();
    for (size_t i = 0; i < nfiles; i++)
        check_chunking(files[i]);
}

static void test_chunking_sample_stream(void **state)
{
    (void)state;
    check_chunking(DATA "/sample-stream.xml");
}

static void test_sample_stream_content(void **state)
{
    (void)state;
    size_t len;
    char *data = read_file(DATA "/sample-stream.xml", &len);
    trace t;
    assert_int_equal(run_trace(&t, data, len, len, 0, 0, NULL), 0);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.invalid, 0);
    assert_int_equal(t.closed, 1);
    assert_true(t.elements >= 15);
    assert_non_null(strstr(t.log.data, "opened to=- from=example.net"));
    assert_non_null(strstr(t.log.data, "element stream_features"));
    trace_free(&t);
    free(data);
}

static void collect_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    (void)offset;
    assert_int_equal(pxmpp_write(user, d, obj, PXMPP_NS_CLIENT, 0), 0);
}

/* Parsing then serializing gives XML equal under canonical comparison. */
static void test_roundtrip_valid_files(void **state)
{
    (void)state;
    load_files();
    size_t checked = 0;
    for (size_t i = 0; i < nfiles; i++) {
        if (!strstr(files[i], "/valid-"))
            continue;
        size_t len;
        char *data = read_file(files[i], &len);
        trace t;
        assert_int_equal(run_trace(&t, data, len, len, 0, PXMPP_STREAM_CONTENT_ONLY, NULL), 0);
        if (t.invalid || t.errors)
            fprintf(stderr, "%s:\n%s", files[i], t.log.data);
        assert_int_equal(t.invalid, 0);
        assert_int_equal(t.errors, 0);
        pxmpp_buf out;
        pxmpp_buf_init(&out, NULL);
        pxmpp_stream_callbacks cb = { .element = collect_element };
        pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
        pxmpp_stream *s;
        assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &out), 0);
        assert_int_equal(feed_pieces(s, data, len, len, 0), 0);
        pxmpp_stream_free(s);
        char why[512] = "";
        bool eq = xml_equivalent(data, len, out.data, out.len, why, sizeof why);
        if (!eq)
            fprintf(stderr, "%s: %s\n--- in:\n%s\n--- out:\n%s\n", files[i], why, data, out.data);
        assert_true(eq);
        /* serializing is idempotent: parse the output again, serialize, compare bytes */
        trace t2;
        assert_int_equal(run_trace(&t2, out.data, out.len, out.len, 0, PXMPP_STREAM_CONTENT_ONLY, NULL), 0);
        pxmpp_buf_free(&out);
        trace_free(&t2);
        trace_free(&t);
        free(data);
        checked++;
    }
    assert_true(checked >= 30);
}

struct expect_invalid {
    const char *file;
    const char *path;
    const char *reason; /* substring */
};

static const struct expect_invalid invalid_cases[] = {
    { "invalid-iq-no-id.xml", "/iq/@id", "missing required attribute id" },
    { "invalid-iq-no-type.xml", "/iq/@type", "missing required attribute type" },
    { "invalid-iq-type-bogus.xml", "/iq/@type", "unknown value" },
    { "invalid-iq-get-no-payload.xml", "/iq", "exactly one payload" },
    { "invalid-iq-set-two-payloads.xml", "/iq", "exactly one payload" },
    { "invalid-iq-result-two-payloads.xml", "/iq", "at most one payload" },
    { "invalid-iq-error-no-error-child.xml", "/iq", "RFC 6120 §8.3.1: an iq of type error must contain an error element" },
    { "invalid-message-error-no-error-child.xml", "/message", "RFC 6120 §8.3.1" },
    { "invalid-message-type-bogus.xml", "/message/@type", "unknown value" },
    { "invalid-message-two-threads.xml", "/message/thread[2]", "more than 1 <thread/>" },
    { "invalid-message-duplicate-body-lang.xml", "/message/body[2]", "same xml:lang 'fr'" },
    { "invalid-message-duplicate-body-inherited-lang.xml", "/message/body[2]", "same xml:lang 'en'" },
    { "invalid-jid-to-empty-localpart.xml", "/message/@to", "malformed JID" },
    { "invalid-jid-from-empty-domainpart.xml", "/message/@from", "malformed JID" },
    { "invalid-presence-priority-128.xml", "/presence/priority", "out of range" },
    { "invalid-presence-priority-minus-129.xml", "/presence/priority", "out of range" },
    { "invalid-presence-priority-abc.xml", "/presence/priority", "not an integer" },
    { "invalid-presence-show-sleeping.xml", "/presence/show", "unknown value" },
    { "invalid-presence-type-bogus.xml", "/presence/@type", "unknown value" },
};

static void test_stanza_level_violations(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/rfc/%s", DATA, invalid_cases[i].file);
        size_t len;
        char *data = read_file(path, &len);
        trace t;
        assert_int_equal(run_trace(&t, data, len, len, 0, PXMPP_STREAM_CONTENT_ONLY, NULL), 0);
        char want[256];
        snprintf(want, sizeof want, "invalid path=%s reason=", invalid_cases[i].path);
        if (t.invalid != 1 || !strstr(t.log.data, want) || !strstr(t.log.data, invalid_cases[i].reason))
            fprintf(stderr, "%s:\n%s", invalid_cases[i].file, t.log.data);
        assert_int_equal(t.invalid, 1);
        assert_int_equal(t.errors, 0);
        assert_non_null(strstr(t.log.data, want));
        assert_non_null(strstr(t.log.data, invalid_cases[i].reason));
        trace_free(&t);
        free(data);
    }
}

/* ---- one lang text per xml:lang ------------------------------------------------ */

struct lang_case {
    const char *input;
    const char *path; /* of the violation, NULL: valid */
};

#define ERRNS "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'"

static const struct lang_case lang_cases[] = {
    { "<message><body xml:lang='fr'>a</body><body xml:lang='fr'>b</body></message>", "/message/body[2]" },
    { "<message><body xml:lang='fr'>a</body><body xml:lang='en'>b</body></message>", NULL },
    { "<message><body xml:lang='EN-gb'>a</body><body xml:lang='en-GB'>b</body></message>", "/message/body[2]" },
    /* no xml:lang and xml:lang='' both mean no language */
    { "<message><body xml:lang=''>a</body><body>b</body></message>", "/message/body[2]" },
    { "<message><body>a</body><body xml:lang=''>b</body></message>", "/message/body[2]" },
    { "<message><body>a</body><body>b</body></message>", "/message/body[2]" },
    /* ... unless a language is inherited: then the body without xml:lang has it, and '' has none */
    { "<message xml:lang='en'><body>a</body><body xml:lang=''>b</body></message>", NULL },
    { "<message xml:lang='en'><body>a</body><body xml:lang='en'>b</body></message>", "/message/body[2]" },
    { "<message xml:lang=''><body>a</body><body xml:lang=''>b</body></message>", "/message/body[2]" },
    /* the first repeated one in document order is reported */
    { "<message><body xml:lang='a'>1</body><body xml:lang='b'>2</body><body xml:lang='b'>3</body>"
      "<body xml:lang='a'>4</body></message>", "/message/body[3]" },
    { "<message><subject xml:lang='de'>a</subject><subject xml:lang='De'>b</subject></message>",
      "/message/subject[2]" },
    { "<presence><status>a</status><status xml:lang=''>b</status></presence>", "/presence/status[2]" },
    { "<iq type='error' id='1'><error type='cancel'><bad-request " ERRNS "/><text " ERRNS " xml:lang='en'>a</text>"
      "<text " ERRNS " xml:lang='EN'>b</text></error></iq>", "/iq/error/text[2]" },
    /* bodies and subjects are separate lists */
    { "<message><subject xml:lang='fr'>a</subject><body xml:lang='fr'>b</body></message>", NULL },
};

/* A content-only stream that records its callbacks in *t (initialized here). */
static pxmpp_stream *content_stream(trace *t)
{
    trace_init(t);
    pxmpp_stream_callbacks cb = trace_callbacks();
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
    pxmpp_stream *s;
    assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, t), 0);
    return s;
}

/* The violation of a content-only stanza (its path, or NULL when valid) and the language
   comparisons it cost. */
static const char *lang_check(const char *in, size_t len, uint64_t *compares, char *path, size_t cap)
{
    trace t;
    pxmpp_stream *s = content_stream(&t);
    uint64_t before = pxmpp__stream_work(s)->lang_compares;
    assert_int_equal(pxmpp_stream_feed(s, in, len), 0);
    assert_int_equal(pxmpp_stream_finish(s), 0);
    *compares = pxmpp__stream_work(s)->lang_compares - before;
    pxmpp_stream_free(s);
    assert_int_equal(t.elements + t.invalid, 1);
    const char *p = t.invalid ? strstr(t.log.data, "invalid path=") : NULL;
    if (p) {
        p += 13;
        size_t n = strcspn(p, " ");
        snprintf(path, cap, "%.*s", (int)n, p);
    }
    trace_free(&t);
    return p ? path : NULL;
}

static void test_unique_lang(void **state)
{
    (void)state;
    char path[128];
    uint64_t cmp;
    for (size_t i = 0; i < sizeof lang_cases / sizeof lang_cases[0]; i++) {
        const struct lang_case *c = &lang_cases[i];
        const char *got = lang_check(c->input, strlen(c->input), &cmp, path, sizeof path);
        if (!got != !c->path || (got && strcmp(got, c->path) != 0))
            fprintf(stderr, "%s: got %s, want %s\n", c->input, got ? got : "valid", c->path ? c->path : "valid");
        if (c->path) {
            assert_non_null(got);
            assert_string_equal(got, c->path);
        } else {
            assert_null(got);
        }
    }

    /* lists long enough to be sorted: the same answer as comparing every pair, on random
       lists drawn from a few languages (case variants, '', none, an inherited one) */
    static const char *const langs[] = { NULL, "", "en", "EN", "fr", "de-AT", "de-at", "x-a", "x-b", "zh-Hant" };
    uint32_t x = 12345;
    pxmpp_buf in;
    pxmpp_buf_init(&in, NULL);
    for (int round = 0; round < 400; round++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t n = 2 + x % 60;
        const char *inh = (x >> 8) % 3 == 0 ? "fr" : NULL;
        size_t nlangs = 3 + (x >> 12) % 40; /* many distinct ones too: l<k> beyond the table */
        const char *pick[64];
        char own[64][16];
        in.len = 0;
        assert_int_equal(pxmpp_buf_append(&in, inh ? "<message xml:lang='fr'>" : "<message>", inh ? 23 : 9), 0);
        for (size_t k = 0; k < n; k++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            size_t v = x % nlangs;
            if (v < sizeof langs / sizeof langs[0]) {
                pick[k] = langs[v];
            } else {
                snprintf(own[k], sizeof own[k], "l%zu", v);
                pick[k] = own[k];
            }
            char el[64];
            int m = pick[k] ? snprintf(el, sizeof el, "<body xml:lang='%s'>t</body>", pick[k])
                            : snprintf(el, sizeof el, "<body>t</body>");
            assert_int_equal(pxmpp_buf_append(&in, el, (size_t)m), 0);
        }
        assert_int_equal(pxmpp_buf_append(&in, "</message>", 10), 0);
        size_t want = n; /* every pair, by the rule: effective language, ASCII case ignored */
        for (size_t i = 1; i < n && want == n; i++)
            for (size_t j = 0; j < i; j++) {
                const char *a = pick[i] ? pick[i] : inh ? inh : "", *b = pick[j] ? pick[j] : inh ? inh : "";
                if (strcasecmp(a, b) == 0) {
                    want = i;
                    break;
                }
            }
        const char *got = lang_check(in.data, in.len, &cmp, path, sizeof path);
        char expect[64];
        snprintf(expect, sizeof expect, "/message/body[%zu]", want + 1);
        if (want == n ? got != NULL : !got || strcmp(got, expect) != 0)
            fprintf(stderr, "round %d: got %s, want %s\n%s\n", round, got ? got : "valid", want == n ? "valid" : expect,
                    in.data);
        if (want == n)
            assert_null(got);
        else
            assert_string_equal(got, expect);
    }
    pxmpp_buf_free(&in);
}

/* A message of 6,897 bodies in distinct languages (262,137 bytes, as any contact may send):
   the check sorts, so it compares about 2 n log2 n pairs instead of n (n - 1) / 2 (23.8
   million); the same with every language repeated. */
static void test_unique_lang_cost(void **state)
{
    (void)state;
    const size_t n = 6897;
    pxmpp_buf in;
    pxmpp_buf_init(&in, NULL);
    for (int repeated = 0; repeated < 2; repeated++) {
        in.len = 0;
        assert_int_equal(pxmpp_buf_append(&in, "<message to='juliet@example.com' id='m1'>", 41), 0);
        for (size_t i = 0; i < n; i++) {
            char el[64];
            /* a shared prefix makes each comparison read most of the tag */
            int m = snprintf(el, sizeof el, "<body xml:lang='i-lang-%05zu'>h</body>", repeated ? i % 100 : i);
            assert_int_equal(pxmpp_buf_append(&in, el, (size_t)m), 0);
        }
        assert_int_equal(pxmpp_buf_append(&in, "</message>", 10), 0);
        assert_true(in.len <= 262144); /* within the default stanza limit */
        char path[128];
        uint64_t cmp;
        const char *got = lang_check(in.data, in.len, &cmp, path, sizeof path);
        if (repeated) {
            assert_non_null(got);
            assert_string_equal(got, "/message/body[101]");
        } else {
            assert_null(got);
        }
        uint64_t log2n = 13; /* 2^13 > 6,897 */
        if (cmp > 2 * n * log2n + n)
            fprintf(stderr, "%s languages: %llu comparisons\n", repeated ? "repeated" : "distinct",
                    (unsigned long long)cmp);
        assert_true(cmp <= 2 * n * log2n + n);
        assert_true(cmp >= n - 1); /* it did look at every body */
    }
    pxmpp_buf_free(&in);
}

/* Rules that count the stanza's payloads (stanza.payload(t)) for each payload that carries
   one: a message of 7,000 receipt requests (XEP-0184: a request forbids a receipt in the
   same message) is checked in steps linear in its size, with the same outcome. */
static void test_rule_payload_counts(void **state)
{
    (void)state;
    static const char req[] = "<request xmlns='urn:xmpp:receipts'/>";
    pxmpp_buf in;
    pxmpp_buf_init(&in, NULL);
    for (int received = 0; received < 2; received++) {
        in.len = 0;
        assert_int_equal(pxmpp_buf_append(&in, "<message id='m1'>", 17), 0);
        for (int i = 0; i < 7000; i++)
            assert_int_equal(pxmpp_buf_append(&in, req, sizeof req - 1), 0);
        if (received)
            assert_int_equal(pxmpp_buf_append(&in, "<received xmlns='urn:xmpp:receipts' id='x'/>", 44), 0);
        assert_int_equal(pxmpp_buf_append(&in, "</message>", 10), 0);
        trace t;
        pxmpp_stream *s = content_stream(&t);
        uint64_t before = pxmpp__stream_work(s)->steps;
        assert_int_equal(pxmpp_stream_feed(s, in.data, in.len), 0);
        assert_int_equal(pxmpp_stream_finish(s), 0);
        uint64_t steps = pxmpp__stream_work(s)->steps - before;
        pxmpp_stream_free(s);
        if (steps > 4 * in.len)
            fprintf(stderr, "%llu steps for %zu bytes\n", (unsigned long long)steps, in.len);
        assert_true(steps <= 4 * in.len); /* counting every payload for each: 49 million */
        if (received) {
            assert_int_equal(t.invalid, 1);
            assert_non_null(strstr(t.log.data, "invalid path=/message/request reason=XEP-0184 §5.4"));
        } else {
            assert_int_equal(t.invalid, 0);
            assert_int_equal(t.elements, 1);
        }
        trace_free(&t);
    }
    pxmpp_buf_free(&in);

    /* few or many payloads, the counts are the same: two chat states among others */
    for (int others = 0; others < 20; others += 19) {
        pxmpp_buf_init(&in, NULL);
        assert_int_equal(pxmpp_buf_append(&in, "<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/>", 76), 0);
        for (int i = 0; i < others; i++)
            assert_int_equal(pxmpp_buf_append(&in, "<x xmlns='urn:x'/>", 18), 0);
        assert_int_equal(pxmpp_buf_append(&in, "<gone xmlns='http://jabber.org/protocol/chatstates'/></message>", 63), 0);
        trace t;
        assert_int_equal(run_trace(&t, in.data, in.len, in.len, 0, PXMPP_STREAM_CONTENT_ONLY, NULL), 0);
        assert_int_equal(t.invalid, 1);
        assert_non_null(strstr(t.log.data, "invalid path=/message/active reason=XEP-0085 §5.6"));
        trace_free(&t);
        pxmpp_buf_free(&in);
    }
}

/* Content-only input fed at every chunk size: no error, no stanza-level violation,
   and each of the NULL-terminated strings in `wants` in the callback log. */
static void check_every_chunking(const char *in, size_t len, const char *const *wants)
{
    for (size_t c = 1; c <= len; c++) {
        trace t;
        assert_int_equal(run_trace(&t, in, len, c, 0, PXMPP_STREAM_CONTENT_ONLY, NULL), 0);
        for (const char *const *w = wants; *w; w++) {
            if (!strstr(t.log.data, *w))
                fprintf(stderr, "chunk %zu, missing %s:\n%s", c, *w, t.log.data);
            assert_non_null(strstr(t.log.data, *w));
        }
        assert_int_equal(t.errors, 0);
        assert_int_equal(t.invalid, 0);
        trace_free(&t);
    }
}

/* Text is decoded as XML 1.0 says whatever the chunking: CR LF and a lone CR read
   as LF (§2.11), also across chunk boundaries; references decoded, a referenced CR
   kept; CDATA taken verbatim; the same in typed fields and in unknown payloads. */
static void test_text_decoding(void **state)
{
    (void)state;
    static const char in[] =
        "<message id='t1'><body>a\r\nb\rc\r\r\nd&#13;e&lt;&#x1F600;&amp;&#233;\r</body>"
        "<x xmlns='urn:example:t'>p\r\nq<y>r\rs</y>t&#xD;\n&gt;<![CDATA[u\r\nv&amp;]]>w<![CDATA[]]><z><![CDATA[x]]y]]]]]>]</z></x></message>"
        "<message id='t2'><body>\r\n</body></message>";
    static const char want1[] =
        "<message id='t1'><body>a\nb\nc\n\nd&#xD;e&lt;\xF0\x9F\x98\x80&amp;\xC3\xA9\n</body>"
        "<x xmlns='urn:example:t'>p\nq<y>r\ns</y>t&#xD;\n&gt;u\nv&amp;amp;w<z>x]]y]]]]</z></x></message>";
    static const char want2[] = "<message id='t2'><body>\n</body></message>";
    size_t len = sizeof in - 1;
    check_every_chunking(in, len, (const char *[]){ want1, want2, NULL });
}

/* Attribute values read as XML 1.0 §3.3.3 says (tab, LF, CR, CR LF each one space;
   references decoded, a referenced tab or LF kept), whether the gate cut the value
   out of the tag or libxml2 read it, at every chunk size; libxml2's errors name no
   line (its count misses what the gate kept from it). */
static void test_attribute_values(void **state)
{
    (void)state;
    static const char in[] =
        "<message id='v1' to='juliet@example.com/balcony'><x xmlns='urn:example:t' a='1\t2\r\n3\r4\n5 and some more text'"
        " b='s\tt' c='r&amp;\r\ns&#9;t&#10;u' xml:lang='en' d=\"it's &lt;ok&gt;\" e=''/>"
        "<y xmlns='urn:example:t' xmlns:p='urn:example:p' p:f='prefixed value, long enough' g = 'spaced out value, long enough'/>"
        "</message>";
    static const char want[] =
        "<message to='juliet@example.com/balcony' id='v1'><x xmlns='urn:example:t' a='1 2 3 4 5 and some more text'"
        " b='s t' c='r&amp; s&#x9;t&#xA;u' xml:lang='en' d='it&apos;s &lt;ok&gt;' e=''/>";
    size_t len = sizeof in - 1;
    check_every_chunking(in, len,
                         (const char *[]){ want, "ns0:f='prefixed value, long enough'",
                                           "g='spaced out value, long enough'", NULL });
    static const char bad[] = "<message to='juliet@example.com/balcony'>\n<body>a\nb</body>\n<subject>x</subjekt></message>";
    trace t;
    assert_int_not_equal(run_trace(&t, bad, sizeof bad - 1, sizeof bad - 1, 0, PXMPP_STREAM_CONTENT_ONLY, NULL), 0);
    assert_non_null(strstr(t.log.data, "not well-formed: end tag </subjekt> does not match <subject>"));
    trace_free(&t);
}

/* Input the stream refuses: the error names `reason`, and the trace (code, offset,
   callbacks) is the same at every chunk size. */
static void check_same_failure(const char *in, const char *reason)
{
    size_t n = strlen(in);
    trace whole;
    assert_int_not_equal(run_trace(&whole, in, n, n, 0, PXMPP_STREAM_CONTENT_ONLY, NULL), 0);
    if (!strstr(whole.log.data, reason))
        fprintf(stderr, "%s\n", whole.log.data);
    assert_non_null(strstr(whole.log.data, reason));
    for (size_t c = 1; c < n; c++) {
        trace t;
        run_trace(&t, in, n, c, 0, PXMPP_STREAM_CONTENT_ONLY, NULL);
        assert_string_equal(t.log.data, whole.log.data);
        trace_free(&t);
    }
    trace_free(&whole);
}

/* Namespaces come out the same whether the gate cut a default namespace from a tag
   (libxml2 then sees xmlns='') or libxml2 read it: nested and undeclared defaults,
   prefixes, values the gate leaves to libxml2, and the declarations libxml2
   refuses, at every chunk size. */
static void test_namespaces(void **state)
{
    (void)state;
    static const char in[] =
        "<message to='a@b.c' id='n1'><x xmlns='urn:example:a'><y/><z xmlns=''><w/></z>"
        "<p:q xmlns:p='urn:example:p'><r/></p:q><s xmlns='urn:example:b%20c'><t/></s>"
        "<u xmlns='http://example.com/v#w' a='x&amp;y'><v/></u></x></message>";
    static const char want[] =
        "<message to='a@b.c' id='n1'><x xmlns='urn:example:a'><y/><z xmlns=''><w/></z><q xmlns='urn:example:p'>"
        "<r xmlns='urn:example:a'/></q><s xmlns='urn:example:b%20c'><t/></s>"
        "<u xmlns='http://example.com/v#w' a='x&amp;y'><v/></u></x></message>";
    size_t len = sizeof in - 1;
    check_every_chunking(in, len, (const char *[]){ want, NULL });
    static const struct {
        const char *in, *reason;
    } bad[] = {
        { "<message id='n2'><x xmlns='http://www.w3.org/XML/1998/namespace'/></message>",
          "xml namespace URI cannot be the default namespace" },
        { "<message id='n3'><x xmlns='http://www.w3.org/2000/xmlns/'/></message>", "" },
        { "<message id='n4'><x xmlns='http://example.com/a#b#c'/></message>", "is not a valid URI" },
        { "<message id='n5'><x xmlns='urn:example:a' xmlns='urn:example:b'/></message>", "redefined" },
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
        check_same_failure(bad[b].in, bad[b].reason);
}

/* Attributes keep their document order and values whether the gate cut them whole
   from the tag, cut only their value, or left them to libxml2; malformed attribute
   lists get libxml2's verdict at the same offset whatever the chunking. */
static void test_attribute_shapes(void **state)
{
    (void)state;
    static const char in[] =
        "<message id='a1' to='x@y.z'><x xmlns='urn:example:t' a='1' p:b='2' xmlns:p='urn:example:p' "
        "xml:lang='en' c = \"3\" \xC3\xA4='4' d='&amp;\t5'/></message>";
    static const char want[] =
        "<message to='x@y.z' id='a1'><x xmlns='urn:example:t' a='1' xmlns:ns0='urn:example:p' ns0:b='2' "
        "xml:lang='en' c='3' \xC3\xA4='4' d='&amp; 5'/></message>";
    size_t len = sizeof in - 1;
    check_every_chunking(in, len, (const char *[]){ want, NULL });
    static const struct {
        const char *in, *reason;
    } bad[] = {
        { "<message id='d1'><x xmlns='urn:e' a='1' a='2'/></message>", "Attribute a redefined" },
        { "<message id='d2'><x xmlns='urn:e' a='1'b='2'/></message>", "attributes construct error" },
        { "<message id='d3' id='d4'/>", "Attribute id redefined" },
        { "<message id='d5'><x a='1' xmlns='urn:e' b/></message>", "mandates value for attribute b" },
        { "<message id='d6'><x xmlns='urn:e' xmlns:p='urn:p' p:a='1' p:a='2'/></message>", "redefined" },
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
        check_same_failure(bad[b].in, bad[b].reason);
}

/* A payload failing its schema stays typed with a diagnostic (the accessors skip it); the
   failing item is kept raw in the meta; the stanza is valid. */
static void on_iq_payload(void *user, const pxmpp_iq *iq)
{
    int *seen = user;
    assert_int_equal(iq->payloads_count, 1);
    const pxmpp_payload *p = &iq->payloads[0];
    assert_ptr_equal(p->type, &pxmpp_roster_query_desc);
    assert_non_null(p->invalid);
    assert_null(pxmpp_iq_get_roster_query(iq));
    assert_null(pxmpp_payload_as_roster_query(p));
    /* nothing of the payload is lost: typed items plus the failing one kept raw */
    const pxmpp_roster_query *q = p->data;
    size_t items = q->items_count;
    for (size_t i = 0; i < q->meta.extra_nodes_count; i++)
        if (q->meta.extra_nodes[i].local)
            items++;
    assert_true(items >= 2);
    (*seen)++;
}

static void test_payload_failing_schema(void **state)
{
    (void)state;
    const char *names[] = { "invalid-payload-roster-subscription.xml", "invalid-payload-roster-item-no-jid.xml",
                            "invalid-payload-roster-set-two-items.xml" };
    const char *paths[] = { "/iq/query/item[2]/@subscription", "/iq/query/item[2]/@jid" };
    for (int k = 0; k < 3; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/rfc/%s", DATA, names[k]);
        size_t len;
        char *data = read_file(path, &len);
        int seen = 0;
        pxmpp_stream_callbacks cb = { 0 };
        cb.iq = on_iq_payload;
        pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
        pxmpp_stream *s;
        assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &seen), 0);
        assert_int_equal(feed_pieces(s, data, len, 3, 0), 0);
        assert_int_equal(seen, 1);
        pxmpp_stream_free(s);
        trace t;
        run_trace(&t, data, len, len, 0, PXMPP_STREAM_CONTENT_ONLY, NULL);
        assert_int_equal(t.invalid, 0);
        /* the round trip of the generic payload keeps the bad value */
        assert_non_null(strstr(t.log.data, k == 0 ? "subscription='sometimes'" : k == 1 ? "<group>" : "romeo@example.net"));
        (void)paths;
        trace_free(&t);
        free(data);
    }
}

/* ---- stream-level errors ------------------------------------------------------ */

struct stream_case {
    const char *name;
    const char *input;
    int code;
    const char *sent; /* substring of what the stream wrote, NULL: nothing checked */
};

#define HDR "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

static const struct stream_case stream_cases[] = {
    { "comment", HDR "<!-- hi --><message/>", PXMPP_ERR_RESTRICTED_XML, "<restricted-xml " },
    { "pi", HDR "<?foo bar?>", PXMPP_ERR_RESTRICTED_XML, "<restricted-xml " },
    { "dtd", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>" HDR, PXMPP_ERR_RESTRICTED_XML, "<restricted-xml " },
    { "entity", HDR "<message><body>&foo;</body></message>", PXMPP_ERR_RESTRICTED_XML, "<restricted-xml " },
    { "mismatched", HDR "<message><body></message>", PXMPP_ERR_XML, "<not-well-formed " },
    { "undeclared-prefix", HDR "<message><x:y/></message>", PXMPP_ERR_XML, "<not-well-formed " },
    { "duplicate-attr", HDR "<message to='a' to='b'/>", PXMPP_ERR_XML, "<not-well-formed " },
    { "bad-stream-ns", "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' version='1.0'>",
      PXMPP_ERR_NAMESPACE, "<invalid-namespace " },
    { "bad-content-ns", "<stream:stream xmlns='jabber:other' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
      PXMPP_ERR_NAMESPACE, "<invalid-namespace " },
    { "bad-version", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='2.0'>",
      PXMPP_ERR_VERSION, "<unsupported-version " },
    { "no-version", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
      PXMPP_ERR_VERSION, "<unsupported-version " },
    { "latin1", "<?xml version='1.0' encoding='ISO-8859-1'?>" HDR, PXMPP_ERR_ENCODING, "<unsupported-encoding " },
    { "utf16-bom", "\xff\xfe<\0s\0", PXMPP_ERR_ENCODING, "<unsupported-encoding " },
    { "unknown-top-level", HDR "<foo/>", PXMPP_ERR_UNSUPPORTED_STANZA, "<unsupported-stanza-type " },
    { "text-at-top", HDR "hello<message/>", PXMPP_ERR_XML, "<not-well-formed " },
    { "truncated", HDR "<message><body>hi", PXMPP_ERR_TRUNCATED, NULL },
    { "stream-error-lookalike", HDR "<error xmlns='urn:x'/>", PXMPP_ERR_UNSUPPORTED_STANZA, NULL },
};

static void test_stream_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof stream_cases / sizeof stream_cases[0]; i++) {
        const struct stream_case *c = &stream_cases[i];
        size_t len = strlen(c->input);
        if (strcmp(c->name, "utf16-bom") == 0)
            len = 6;
        trace whole;
        int rc = run_trace(&whole, c->input, len, len, 0, 0, NULL);
        if (rc != c->code)
            fprintf(stderr, "case %s: got %s\n%s", c->name, pxmpp_error_name(rc), whole.log.data);
        assert_int_equal(rc, c->code);
        assert_int_equal(whole.errors, 1);
        assert_int_equal(whole.elements + whole.invalid, 0);
        if (c->sent) {
            if (!whole.sent.data || !strstr(whole.sent.data, c->sent))
                fprintf(stderr, "case %s: sent %s\n", c->name, whole.sent.data ? whole.sent.data : "(nothing)");
            assert_non_null(whole.sent.data);
            assert_non_null(strstr(whole.sent.data, c->sent));
            assert_non_null(strstr(whole.sent.data, "</stream:error></stream:stream>"));
        }
        for (size_t ch = 1; ch < len; ch++) {
            trace t;
            run_trace(&t, c->input, len, ch, 0, 0, NULL);
            if (strcmp(t.log.data, whole.log.data) != 0)
                fprintf(stderr, "case %s chunk %zu:\n%s---\n%s", c->name, ch, whole.log.data, t.log.data);
            assert_string_equal(t.log.data, whole.log.data);
            trace_free(&t);
        }
        trace_free(&whole);
    }
}

/* ---- after the peer's close tag ------------------------------------------------ */

#define MSG "<message to='juliet@example.com' id='m1'><body>ok</body></message>"
#define END "</stream:stream>"
#define EMPTY_STREAM "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'/>"

struct after_case {
    const char *name;
    const char *head;  /* the stream, up to its close tag */
    const char *ws;    /* white space after it: allowed */
    const char *tail;  /* what follows the white space: an error unless empty */
    size_t tail_len;
    unsigned flags;    /* PXMPP_STREAM_* */
    size_t delivered;  /* elements before the close tag */
};

#define TAIL(s) s, sizeof(s) - 1

static const struct after_case after_cases[] = {
    { "nothing", HDR MSG END, "", TAIL(""), 0, 1 },
    { "white space", HDR MSG END, " \r\n\t  \n", TAIL(""), 0, 1 },
    { "a stanza", HDR MSG END, "", TAIL(MSG), 0, 1 },
    { "white space, then a stanza", HDR MSG END, "\n  ", TAIL(MSG), 0, 1 },
    { "text", HDR MSG END, "", TAIL("x"), 0, 1 },
    { "a comment", HDR MSG END, " ", TAIL("<!-- x -->"), 0, 1 },
    { "a processing instruction", HDR MSG END, "", TAIL("<?x y?>"), 0, 1 },
    { "invalid UTF-8", HDR MSG END, "\r\n", TAIL("\xff"), 0, 1 },
    { "a NUL byte", HDR MSG END, "", TAIL("\0"), 0, 1 },
    { "a non-ASCII character", HDR MSG END, " ", TAIL("\xc3\xa9"), 0, 1 },
    { "a non-breaking space", HDR MSG END, " ", TAIL("\xc2\xa0"), 0, 1 },
    { "a second close tag", HDR MSG END, "", TAIL(END), 0, 1 },
    { "a new stream header", HDR MSG END, "\n", TAIL(HDR MSG), 0, 1 },
    { "an empty stream element, then a stanza", EMPTY_STREAM, "  ", TAIL(MSG), 0, 0 },
    { "content only: a stanza after the close tag", MSG MSG END, "\n", TAIL(MSG), PXMPP_STREAM_CONTENT_ONLY, 2 },
};

static void test_data_after_close(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof after_cases / sizeof after_cases[0]; i++) {
        const struct after_case *c = &after_cases[i];
        pxmpp_buf in;
        pxmpp_buf_init(&in, NULL);
        assert_int_equal(pxmpp_buf_append(&in, c->head, strlen(c->head)), 0);
        assert_int_equal(pxmpp_buf_append(&in, c->ws, strlen(c->ws)), 0);
        size_t at = in.len; /* the offset of the first byte that is not allowed */
        assert_int_equal(pxmpp_buf_append(&in, c->tail, c->tail_len), 0);
        int want = c->tail_len ? PXMPP_ERR_XML : 0;
        char expect[200];
        if (want)
            snprintf(expect, sizeof expect, "closed\nerror PXMPP_ERR_XML at %zu: not well-formed: data after the end "
                     "of the stream\nend rc=PXMPP_ERR_XML\n", at);
        else
            snprintf(expect, sizeof expect, "closed\nend rc=PXMPP_OK\n");

        trace whole;
        int rc = run_trace(&whole, in.data, in.len, in.len, 0, c->flags, NULL);
        size_t ll = whole.log.len, el = strlen(expect);
        bool tail_ok = ll >= el && strcmp(whole.log.data + ll - el, expect) == 0;
        if (rc != want || !tail_ok || whole.elements != c->delivered)
            fprintf(stderr, "case %s: got %s\n%s--- expected the log to end with:\n%s", c->name,
                    pxmpp_error_name(rc), whole.log.data, expect);
        assert_int_equal(rc, want);
        assert_true(tail_ok);
        /* every stanza before the close tag, nothing after it */
        assert_int_equal(whole.elements, c->delivered);
        assert_int_equal(whole.invalid, 0);
        assert_int_equal(whole.closed, 1);
        assert_int_equal(whole.errors, want ? 1 : 0);
        if (want && !(c->flags & PXMPP_STREAM_CONTENT_ONLY)) {
            /* our side was still open: the stream error closes it */
            assert_non_null(whole.sent.data);
            assert_non_null(strstr(whole.sent.data, "<not-well-formed "));
            assert_non_null(strstr(whole.sent.data, "</stream:error></stream:stream>"));
        }

        /* the same at every chunking */
        for (size_t ch = 0; ch < in.len; ch++) {
            for (uint32_t seed = 1; seed <= (ch ? 1u : 4u); seed++) {
                trace t;
                rc = run_trace(&t, in.data, in.len, ch, seed, c->flags, NULL);
                if (strcmp(t.log.data, whole.log.data) != 0)
                    fprintf(stderr, "case %s, chunk %zu seed %u:\n%s---\n%s", c->name, ch, (unsigned)seed,
                            whole.log.data, t.log.data);
                assert_string_equal(t.log.data, whole.log.data);
                assert_int_equal(rc, want);
                trace_free(&t);
            }
        }
        trace_free(&whole);
        pxmpp_buf_free(&in);
    }

    /* a content-only stream ended by pxmpp_stream_finish(): the same rule */
    trace t;
    pxmpp_stream *s = content_stream(&t);
    assert_int_equal(pxmpp_stream_feed(s, MSG, strlen(MSG)), 0);
    assert_int_equal(pxmpp_stream_finish(s), 0);
    assert_int_equal(pxmpp_stream_feed(s, "\n", 1), 0);
    assert_int_equal(pxmpp_stream_feed(s, MSG, strlen(MSG)), PXMPP_ERR_XML);
    uint64_t off;
    assert_int_equal(pxmpp_stream_last_error(s, NULL, &off), PXMPP_ERR_XML);
    assert_int_equal(off, strlen(MSG) + 1);
    assert_int_equal(t.elements, 1);
    pxmpp_stream_free(s);
    trace_free(&t);
}

static void test_limits(void **state)
{
    (void)state;
    pxmpp_stream_config cfg = { 0 };
    cfg.limits.max_stanza_bytes = 1024;
    cfg.limits.max_depth = 8;
    /* oversized stanza */
    pxmpp_buf in;
    pxmpp_buf_init(&in, NULL);
    assert_int_equal(pxmpp_buf_append(&in, HDR "<message><body>", strlen(HDR) + 15), 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(pxmpp_buf_append(&in, "0123456789", 10), 0);
    assert_int_equal(pxmpp_buf_append(&in, "</body></message>", 17), 0);
    trace t;
    assert_int_equal(run_trace(&t, in.data, in.len, 7, 0, 0, &cfg), PXMPP_ERR_LIMIT);
    assert_int_equal(t.elements, 0);
    assert_non_null(strstr(t.sent.data, "<policy-violation "));
    trace_free(&t);
    /* a smaller one passes with the same limits */
    assert_int_equal(run_trace(&t, HDR "<message><body>ok</body></message></stream:stream>",
                               strlen(HDR) + 50, 5, 0, 0, &cfg), 0);
    assert_int_equal(t.elements, 1);
    trace_free(&t);
    /* too deep */
    in.len = 0;
    assert_int_equal(pxmpp_buf_append(&in, HDR "<message>", strlen(HDR) + 9), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(pxmpp_buf_append(&in, "<x>", 3), 0);
    assert_int_equal(run_trace(&t, in.data, in.len, in.len, 0, 0, &cfg), PXMPP_ERR_LIMIT);
    assert_int_equal(t.elements, 0);
    trace_free(&t);
    pxmpp_buf_free(&in);
}

/* Another stream fed at the same time is unaffected by a failing one. */
static void test_streams_are_independent(void **state)
{
    (void)state;
    size_t len;
    char *good = read_file(DATA "/sample-stream.xml", &len);
    const char *bad = HDR "<message><!-- x --></message>";
    trace tg, tb, oracle;
    run_trace(&oracle, good, len, len, 0, 0, NULL);
    trace_init(&tg);
    trace_init(&tb);
    pxmpp_stream_callbacks cb = trace_callbacks();
    pxmpp_stream *sg, *sb;
    assert_int_equal(pxmpp_stream_new(&sg, PXMPP_ROLE_CLIENT, &cb, NULL, &tg), 0);
    assert_int_equal(pxmpp_stream_new(&sb, PXMPP_ROLE_CLIENT, &cb, NULL, &tb), 0);
    size_t blen = strlen(bad);
    for (size_t i = 0; i < len; i++) {
        int rc = pxmpp_stream_feed(sg, good + i, 1);
        assert_int_equal(rc, 0); /* white space after the close tag included */
        if (i < blen)
            (void)pxmpp_stream_feed(sb, bad + i, 1);
    }
    assert_int_equal(pxmpp_stream_finish(sg), 0);
    assert_int_equal(pxmpp_stream_last_error(sb, NULL, NULL), PXMPP_ERR_RESTRICTED_XML);
    pxmpp_buf_append(&tg.log, "end rc=PXMPP_OK\n", 16);
    assert_string_equal(tg.log.data, oracle.log.data);
    pxmpp_stream_free(sg);
    pxmpp_stream_free(sb);
    trace_free(&tg);
    trace_free(&tb);
    trace_free(&oracle);
    free(good);
}

/* ---- client and server streams in one process ----------------------------------- */

typedef struct peer {
    pxmpp_stream *s, *other;
    trace t;
    bool opened, features, closed;
    int messages;
    bool restart_on_message;
} peer;

static int pipe_write(void *user, const char *d, size_t n)
{
    peer *p = user;
    int rc = pxmpp_buf_append(&p->t.sent, d, n);
    return rc ? rc : 0;
}

static void srv_opened(void *user, const pxmpp_stream_header *h)
{
    peer *p = user;
    p->opened = true;
    assert_string_equal(h->to, "example.net");
    pxmpp_stream_header mine = { .from = "example.net", .id = "s1", .lang = "en" };
    assert_int_equal(pxmpp_stream_open(p->s, &mine), 0);
    pxmpp_arena *a;
    assert_int_equal(pxmpp_arena_new(&a, NULL, 0), 0);
    pxmpp_stream_features *f = pxmpp_arena_alloc(a, sizeof *f);
    pxmpp_bind *bind = pxmpp_arena_alloc(a, sizeof *bind);
    pxmpp_payload *pl = pxmpp_arena_alloc(a, sizeof *pl);
    pl->type = &pxmpp_bind_desc;
    pl->data = bind;
    f->features = pl;
    f->features_count = 1;
    assert_int_equal(pxmpp_stream_send(p->s, &pxmpp_stream_features_desc, f), 0);
    pxmpp_arena_free(a);
}

static void cli_opened(void *user, const pxmpp_stream_header *h)
{
    peer *p = user;
    p->opened = true;
    assert_string_equal(h->from, "example.net");
    assert_string_equal(h->id, "s1");
}

static void cli_features(void *user, const pxmpp_stream_features *f)
{
    peer *p = user;
    p->features = true;
    assert_non_null(pxmpp_stream_features_get_bind(f));
    assert_null(pxmpp_stream_features_get_starttls(f));
}

static void srv_message(void *user, const pxmpp_message *m)
{
    peer *p = user;
    p->messages++;
    assert_int_equal(m->type, PXMPP_MESSAGE_TYPE_CHAT);
    assert_int_equal(m->bodies_count, 2);
    assert_string_equal(m->bodies[1].lang, "fr");
    assert_string_equal(m->bodies[1].text, "à bientôt <3 & co");
    if (p->restart_on_message)
        assert_int_equal(pxmpp_stream_restart(p->s), 0);
}

static void on_closed(void *user)
{
    ((peer *)user)->closed = true;
}

/* moves what one side wrote into the other side, in 3-byte pieces */
static void pump(peer *from, peer *to)
{
    size_t n = from->t.sent.len;
    for (size_t i = 0; i < n; i += 3) {
        int rc = pxmpp_stream_feed(to->s, from->t.sent.data + i, n - i < 3 ? n - i : 3);
        if (rc) {
            const char *r;
            uint64_t off;
            pxmpp_stream_last_error(to->s, &r, &off);
            fprintf(stderr, "pump: %s at %llu: %s\n%.*s\n", pxmpp_error_name(rc), (unsigned long long)off, r, (int)n, from->t.sent.data);
        }
        assert_int_equal(rc, 0);
    }
    from->t.sent.len = 0;
}

/* White space before a stream header, as a peer writes it after its last element of the old
   stream (a line feed after </auth>, before the new header of the restart): dropped, at every
   chunking; the XML declaration of the new header is not "after content". */
typedef struct ws_peer {
    pxmpp_stream *s;
    int opened, messages, errors;
} ws_peer;

static void ws_opened(void *user, const pxmpp_stream_header *h)
{
    (void)h;
    ((ws_peer *)user)->opened++;
}

static void ws_message(void *user, const pxmpp_message *m)
{
    ws_peer *p = user;
    p->messages++;
    if (m->id && strcmp(m->id, "restart") == 0)
        assert_int_equal(pxmpp_stream_restart(p->s), 0);
}

static void ws_error(void *user, int code, const char *reason, uint64_t offset)
{
    (void)code;
    (void)offset;
    fprintf(stderr, "stream error: %s\n", reason);
    ((ws_peer *)user)->errors++;
}

/* pxmpp_stream_pause() from a callback, at every chunking: feed_partial stops right
   after the element whose callback paused (the text and tags after it in the same
   chunk are neither delivered nor counted), and after pxmpp_stream_restart() the rest,
   fed again from there, comes out whole. */
typedef struct pause_peer {
    pxmpp_stream *s;
    int pauses, errors;
    char got[256];
    size_t got_len;
} pause_peer;

static void pause_message(void *user, const pxmpp_message *m)
{
    pause_peer *p = user;
    int n = snprintf(p->got + p->got_len, sizeof p->got - p->got_len, "[%s:%s]", m->id ? m->id : "",
                     m->bodies_count ? m->bodies[0].text : "");
    assert_true(n > 0 && (size_t)n < sizeof p->got - p->got_len);
    p->got_len += (size_t)n;
    if (m->id && strcmp(m->id, "p") == 0) {
        assert_int_equal(pxmpp_stream_pause(p->s), 0);
        p->pauses++;
    }
}

static void pause_error(void *user, int code, const char *reason, uint64_t offset)
{
    (void)code;
    fprintf(stderr, "stream error at %llu: %s\n", (unsigned long long)offset, reason);
    ((pause_peer *)user)->errors++;
}

static void test_pause_at_every_chunking(void **state)
{
    (void)state;
    static const char first[] = "<message id='a'><body>1</body></message><message id='p'><body>x\r\ny</body></message>";
    static const char in[] = "<message id='a'><body>1</body></message><message id='p'><body>x\r\ny</body></message>"
                             "<message id='b'><body>u&amp;v</body></message> <message id='c'><body><![CDATA[w]]></body></message>";
    const size_t len = sizeof in - 1, stop = sizeof first - 1;
    pxmpp_stream_callbacks cb = { .message = pause_message, .error = pause_error };
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
    for (size_t c = 1; c <= len; c++) {
        pause_peer p = { 0 };
        assert_int_equal(pxmpp_stream_new(&p.s, PXMPP_ROLE_CLIENT, &cb, &cfg, &p), 0);
        size_t off = 0;
        while (off < len) {
            size_t n = len - off < c ? len - off : c, used = 0;
            int before = p.pauses;
            assert_int_equal(pxmpp_stream_feed_partial(p.s, in + off, n, &used), 0);
            if (p.pauses != before) {
                /* stopped right after the pausing element: nothing after it was taken */
                assert_int_equal(off + used, stop);
                assert_int_equal(pxmpp_stream_offset(p.s), stop);
                assert_string_equal(p.got, "[a:1][p:x\ny]");
                size_t more = 0;
                assert_int_equal(pxmpp_stream_feed_partial(p.s, in + off + used, n - used, &more), PXMPP_ERR_STATE);
                assert_int_equal(pxmpp_stream_restart(p.s), 0);
            } else {
                assert_int_equal(used, n);
            }
            off += used;
        }
        assert_int_equal(p.errors, 0);
        assert_int_equal(p.pauses, 1);
        assert_string_equal(p.got, "[a:1][p:x\ny][b:u&v][c:w]");
        pxmpp_stream_free(p.s);
    }
}

static void test_space_before_header(void **state)
{
    (void)state;
    static const char hdr[] = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                              "xmlns:stream='http://etherx.jabber.org/streams' to='example.net' version='1.0'>";
    char in[1024];
    int len = snprintf(in, sizeof in, "\n %s<message id='restart'/>\r\n\t %s<message id='after'/>", hdr, hdr);
    assert_true(len > 0 && (size_t)len < sizeof in);
    pxmpp_stream_callbacks cb = { .opened = ws_opened, .message = ws_message, .error = ws_error };
    for (size_t c = 1; c <= (size_t)len; c++) {
        ws_peer p = { 0 };
        assert_int_equal(pxmpp_stream_new(&p.s, PXMPP_ROLE_SERVER, &cb, NULL, &p), 0);
        for (size_t off = 0; off < (size_t)len; off += c)
            assert_int_equal(pxmpp_stream_feed(p.s, in + off, (size_t)len - off < c ? (size_t)len - off : c), 0);
        assert_int_equal(p.errors, 0);
        assert_int_equal(p.opened, 2);
        assert_int_equal(p.messages, 2);
        pxmpp_stream_free(p.s);
    }
    /* anything else before the header still is an error */
    ws_peer p = { 0 };
    assert_int_equal(pxmpp_stream_new(&p.s, PXMPP_ROLE_SERVER, &cb, NULL, &p), 0);
    assert_int_not_equal(pxmpp_stream_feed(p.s, "\nx<?xml version='1.0'?>", 23), 0);
    assert_int_equal(p.opened, 0);
    pxmpp_stream_free(p.s);
}

static void test_client_server_pair(void **state)
{
    (void)state;
    peer cli = { 0 }, srv = { 0 };
    trace_init(&cli.t);
    trace_init(&srv.t);
    pxmpp_stream_callbacks ccb = { .write = pipe_write, .opened = cli_opened, .features = cli_features, .closed = on_closed };
    pxmpp_stream_callbacks scb = { .write = pipe_write, .opened = srv_opened, .message = srv_message, .closed = on_closed };
    assert_int_equal(pxmpp_stream_new(&cli.s, PXMPP_ROLE_CLIENT, &ccb, NULL, &cli), 0);
    assert_int_equal(pxmpp_stream_new(&srv.s, PXMPP_ROLE_SERVER, &scb, NULL, &srv), 0);
    pxmpp_stream_header h = { .to = "example.net", .lang = "en" };
    assert_int_equal(pxmpp_stream_open(cli.s, &h), 0);
    assert_int_equal(pxmpp_stream_open(cli.s, &h), PXMPP_ERR_STATE);
    pump(&cli, &srv);
    assert_true(srv.opened);
    pump(&srv, &cli);
    assert_true(cli.opened);
    assert_true(cli.features);

    pxmpp_arena *a;
    assert_int_equal(pxmpp_arena_new(&a, NULL, 0), 0);
    char id[64];
    pxmpp_message *m = pxmpp_build_message(a, "bob@example.net", PXMPP_MESSAGE_TYPE_CHAT,
                                           pxmpp_stream_make_id(cli.s, id, sizeof id));
    assert_non_null(m);
    assert_int_equal(pxmpp_message_add_body(a, m, NULL, "see you"), 0);
    assert_int_equal(pxmpp_message_add_body(a, m, "fr", "à bientôt <3 & co"), 0);
    assert_int_equal(pxmpp_stream_send_message(cli.s, m), 0);
    pump(&cli, &srv);
    assert_int_equal(srv.messages, 1);

    /* restart from inside a callback (as after SASL success): the next header is parsed by a fresh parser */
    srv.restart_on_message = true;
    assert_int_equal(pxmpp_stream_send_message(cli.s, m), 0);
    assert_int_equal(pxmpp_stream_restart(cli.s), 0);
    srv.opened = false;
    assert_int_equal(pxmpp_stream_open(cli.s, &h), 0);
    pump(&cli, &srv);
    assert_int_equal(srv.messages, 2);
    assert_true(srv.opened);
    srv.restart_on_message = false;
    cli.opened = cli.features = false;
    pump(&srv, &cli); /* the server's second header and features after the client's restart */
    assert_true(cli.opened);
    assert_true(cli.features);

    assert_int_equal(pxmpp_stream_close(cli.s), 0);
    assert_int_equal(pxmpp_stream_send_message(cli.s, m), PXMPP_ERR_STATE);
    pump(&cli, &srv);
    assert_true(srv.closed);
    assert_int_equal(pxmpp_stream_close(srv.s), 0);
    pump(&srv, &cli);
    assert_true(cli.closed);
    assert_int_equal(pxmpp_stream_finish(cli.s), 0);
    /* after the peer's close tag: white space is fine, anything else is not well-formed */
    uint64_t at = pxmpp_stream_offset(cli.s);
    assert_int_equal(pxmpp_stream_feed(cli.s, "\r\n", 2), 0);
    assert_int_equal(pxmpp_stream_offset(cli.s), at + 2);
    size_t sent_before = srv.t.sent.len + cli.t.sent.len;
    assert_int_equal(pxmpp_stream_feed(cli.s, " <x/>", 5), PXMPP_ERR_XML);
    const char *why;
    uint64_t off;
    assert_int_equal(pxmpp_stream_last_error(cli.s, &why, &off), PXMPP_ERR_XML);
    assert_int_equal(off, at + 3);
    assert_string_equal(why, "not well-formed: data after the end of the stream");
    assert_int_equal(srv.t.sent.len + cli.t.sent.len, sent_before); /* our side was closed already */
    assert_int_equal(pxmpp_stream_feed(cli.s, " ", 1), PXMPP_ERR_XML);
    assert_int_equal(pxmpp_stream_finish(cli.s), PXMPP_ERR_XML);

    pxmpp_arena_free(a);
    pxmpp_stream_free(cli.s);
    pxmpp_stream_free(srv.s);
    trace_free(&cli.t);
    trace_free(&srv.t);
}

/* ---- failing allocator ----------------------------------------------------------
 * The shared counting allocator (tests/support/memcount.h) refuses every allocation
 * from the nth on; what the stream allocated is back when it is freed. */

static void test_failing_allocator(void **state)
{
    (void)state;
    size_t len;
    char *data = read_file(DATA "/sample-stream.xml", &len);
    pxmpp_memcount *c = &pxmpp_memcount_px;
    pxmpp_memcount_fail(c, 0, false);
    uint64_t before = c->allocs;
    size_t live = c->live;
    trace t;
    pxmpp_stream_config cfg = { .mem = pxmpp_memcount_pxmpp() };
    assert_int_equal(run_trace(&t, data, len, 64, 0, 0, &cfg), 0);
    trace_free(&t);
    uint64_t total = c->allocs - before;
    assert_true(total > 3);
    assert_int_equal(c->live, live);
    for (uint64_t n = 0; n < total; n++) {
        pxmpp_memcount_fail(c, n + 1, false); /* n allocations succeed, then none */
        trace tt;
        int rc = run_trace(&tt, data, len, 64, 0, 0, &cfg);
        assert_true(rc == 0 || rc == PXMPP_ERR_NOMEM);
        if (rc == PXMPP_ERR_NOMEM && n > 6)
            assert_int_equal(tt.errors, 1);
        assert_int_equal(c->live, live);
        trace_free(&tt);
    }
    pxmpp_memcount_fail(c, 0, false);
    free(data);
}

/* ---- memory is flat over many stanzas ---------------------------------------------- */

static void test_memory_flat(void **state)
{
    (void)state;
    pxmpp_stream_callbacks cb = { 0 };
    pxmpp_stream *s;
    assert_int_equal(pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, NULL, NULL), 0);
    assert_int_equal(pxmpp_stream_feed(s, HDR, strlen(HDR)), 0);
    const char *st = "<message to='a@b' type='chat' id='x'><body xml:lang='en'>hello</body>"
                     "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
                     "<presence><show>away</show><priority>3</priority></presence>";
    size_t n = strlen(st);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pxmpp_stream_feed(s, st, n), 0);
    size_t after_warmup = pxmpp_stream_memory(s);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(pxmpp_stream_feed(s, st, n), 0);
    assert_int_equal(pxmpp_stream_memory(s), after_warmup);
    assert_true(after_warmup < 32 * 1024);
    pxmpp_stream_free(s);
}

/* pxmpp_stream_trim(): an idle stream gives back what it keeps for the next stanza; parsing
   goes on as before (also across a trim between two pieces of one tag or stanza, where it
   trims nothing the stanza needs); refused from a callback and in the middle of a stanza. */
typedef struct trim_peer {
    pxmpp_stream *s;
    int messages, trim_in_callback;
    char last_body[64];
} trim_peer;

static void trim_message(void *user, const pxmpp_message *m)
{
    trim_peer *p = user;
    p->messages++;
    snprintf(p->last_body, sizeof p->last_body, "%s", m->bodies_count ? m->bodies[0].text : "");
    p->trim_in_callback = pxmpp_stream_trim(p->s);
}

static void test_trim(void **state)
{
    (void)state;
    pxmpp_stream_callbacks cb = { .message = trim_message };
    trim_peer p = { 0 };
    assert_int_equal(pxmpp_stream_new(&p.s, PXMPP_ROLE_CLIENT, &cb, NULL, &p), 0);
    assert_int_equal(pxmpp_stream_trim(NULL), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_stream_feed(p.s, HDR, strlen(HDR)), 0);
    const char *st = "<message to='a@b' type='chat' id='x'><body xml:lang='en'>hello</body>"
                     "<active xmlns='http://jabber.org/protocol/chatstates'/></message>";
    for (int i = 0; i < 100; i++)
        assert_int_equal(pxmpp_stream_feed(p.s, st, strlen(st)), 0);
    assert_int_equal(p.trim_in_callback, PXMPP_ERR_STATE);
    size_t busy = pxmpp_stream_memory(p.s);
    assert_int_equal(pxmpp_stream_trim(p.s), 0);
    size_t trimmed = pxmpp_stream_memory(p.s);
    assert_true(trimmed + 16 * 1024 < busy);
    assert_int_equal(pxmpp_stream_trim(p.s), 0); /* twice is fine */
    assert_int_equal(pxmpp_stream_memory(p.s), trimmed);
    /* a stanza in pieces, trimmed between each: in the middle of a tag (nothing to give
       back then), inside the stanza (refused) */
    const char *pieces[] = { "<message to='a@b' ty", "pe='chat'><bo", "dy>after trim</body>", "</message>" };
    int want[] = { 0, PXMPP_ERR_STATE, PXMPP_ERR_STATE, 0 };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pxmpp_stream_feed(p.s, pieces[i], strlen(pieces[i])), 0);
        assert_int_equal(pxmpp_stream_trim(p.s), want[i]);
    }
    assert_int_equal(p.messages, 101);
    assert_string_equal(p.last_body, "after trim");
    /* and it gets back to its steady state: no memory growth, same footprint as before */
    for (int i = 0; i < 100; i++)
        assert_int_equal(pxmpp_stream_feed(p.s, st, strlen(st)), 0);
    assert_int_equal(p.messages, 201);
    assert_true(pxmpp_stream_memory(p.s) <= busy);
    pxmpp_stream_free(p.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_sample_stream_content),
        cmocka_unit_test(test_roundtrip_valid_files),
        cmocka_unit_test(test_stanza_level_violations),
        cmocka_unit_test(test_unique_lang),
        cmocka_unit_test(test_unique_lang_cost),
        cmocka_unit_test(test_rule_payload_counts),
        cmocka_unit_test(test_payload_failing_schema),
        cmocka_unit_test(test_text_decoding),
        cmocka_unit_test(test_attribute_values),
        cmocka_unit_test(test_namespaces),
        cmocka_unit_test(test_attribute_shapes),
        cmocka_unit_test(test_stream_errors),
        cmocka_unit_test(test_data_after_close),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_streams_are_independent),
        cmocka_unit_test(test_space_before_header),
        cmocka_unit_test(test_pause_at_every_chunking),
        cmocka_unit_test(test_client_server_pair),
        cmocka_unit_test(test_failing_allocator),
        cmocka_unit_test(test_memory_flat),
        cmocka_unit_test(test_chunking_rfc_files),
        cmocka_unit_test(test_chunking_sample_stream),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    return rc;
}
