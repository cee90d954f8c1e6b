/* Hostile-input suite: every input of tests/support/hostile.h is fed to a stream in
 * several chunkings and must give, as the table below says for each,
 *   - the expected return code (0 for the benign entries),
 *   - the same code, error offset and callbacks whatever the chunking,
 *   - no callback for the top-level element that holds the violation (the ones
 *     before it are delivered),
 *   - the expected <stream:error/> condition followed by </stream:stream> in what
 *     the stream wrote (or, for a stanza-level violation, one stanza_invalid with
 *     the expected path and nothing written),
 *   - no leak and a bounded peak of memory, counted through the pxmpp_mem hooks
 *     of the stream and through libxml2's xmlMemSetup hooks,
 *   - no effect on another stream fed a valid stream at the same time.
 * Entries marked H_FLAT also require the memory of the stream not to grow over
 * a long valid input (between 1/8 of it and its end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libxml/xmlerror.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "hostile.h"
#include "memcount.h"

#define DATA PXMPP_TEST_DATA

/* ---- memory accounting ------------------------------------------------------------
 * Through the shared counting allocator (tests/support/memcount.h): pxmpp's hooks and
 * libxml2's hooks, with the peak over both. */

#define MEM_BOUND ((size_t)8 << 20) /* peak of one stream, whatever the input */
#define FLAT_SLACK ((size_t)64 << 10) /* growth allowed over the last 7/8 of a long valid input */

/* ---- inputs: tests/support/hostile.h; here what each must give ---------------------- */

#define OK "<message to='juliet@example.com' id='m1'><body>ok</body></message>"
#define AFTER_END "not well-formed: data after the end of the stream\n"
#define SMALL_STANZAS 130  /* the small stanzas before the big one of oversized-stanza-after-small-ones */
#define FLOOD_STANZAS 4000 /* the stanzas of the floods at their default size */

enum {
    H_BIG = 1u << 0,  /* more than 64 KiB: no 1-byte run, one random run (7-byte and 4096-byte remain) */
    H_FLAT = 1u << 1, /* a long valid input: memory must not grow after its first 1/8 */
    H_CLOSED = 1u << 2, /* the fatal error follows the peer's close tag (reported by `closed`) */
};

typedef struct hostile {
    const char *name;     /* the input's name in hostile.h */
    int code;             /* expected final return code of feed + finish */
    const char *cond;     /* condition element in the <stream:error/> written, NULL: nothing written */
    const char *path;     /* stanza-level: path of the one stanza_invalid */
    size_t delivered;     /* top-level elements reported (valid or invalid) before the violation */
    const char *expect;   /* substring of the callback log, or NULL */
    const char *reject;   /* substring the callback log must not contain, or NULL */
    unsigned flags;
} hostile;

#define NWF "<not-well-formed "
#define RXML "<restricted-xml "
#define ENC "<unsupported-encoding "
#define INS "<invalid-namespace "
#define POL "<policy-violation "
#define UST "<unsupported-stanza-type "
#define UVER "<unsupported-version "
#define E_XML PXMPP_ERR_XML
#define E_RXML PXMPP_ERR_RESTRICTED_XML
#define E_ENC PXMPP_ERR_ENCODING
#define E_NS PXMPP_ERR_NAMESPACE
#define E_LIM PXMPP_ERR_LIMIT

static const hostile cases[] = {
    /* ---- restricted XML (RFC 6120 §11.1) ---- */
    { "comment-before-header", E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "comment-between-stanzas", E_RXML, RXML, NULL, 1, NULL, NULL, 0 },
    { "comment-inside-stanza", E_RXML, RXML, NULL, 1, NULL, NULL, 0 },
    { "huge-comment", E_RXML, RXML, NULL, 1, NULL, NULL, H_BIG },
    { "pi-before-header", E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "pi-inside-stanza", E_RXML, RXML, NULL, 1, NULL, NULL, 0 },
    { "dtd-internal-subset", E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "dtd-without-subset", E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "billion-laughs-before-stream", E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "billion-laughs-inside-stream", E_RXML, RXML, NULL, 1, NULL, NULL, 0 },
    { "entity-declaration-inside-stream", E_RXML, RXML, NULL, 1, NULL, NULL, 0 },
    { "undeclared-entity-in-text", E_RXML, RXML, NULL, 1, NULL, NULL, 0 },
    { "undeclared-entity-in-attribute", E_RXML, RXML, NULL, 1, NULL, NULL, 0 },
    { "undeclared-entity-in-header", E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "external-entity-system", E_RXML, RXML, NULL, 0, NULL, "root:", 0 },
    { "external-dtd-system", E_RXML, RXML, NULL, 0, NULL, NULL, 0 },
    { "external-parameter-entity", E_RXML, RXML, NULL, 0, NULL, NULL, 0 },

    /* ---- not well-formed ---- */
    { "mismatched-tags", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "mismatched-stream-close", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "close-tag-without-start", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "unclosed-attribute-quote", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "lt-in-text", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "lt-in-attribute-value", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "unquoted-attribute", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "attribute-without-value", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "bare-ampersand-in-text", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "bare-ampersand-in-attribute", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "duplicate-attribute", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "duplicate-namespaced-attribute", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "undeclared-prefix-on-element", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "undeclared-prefix-on-attribute", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "rebind-xml-prefix", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "bind-xmlns-prefix", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "bind-prefix-to-xml-namespace", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "unbind-prefix", E_XML, NWF, NULL, 1, NULL, NULL, 0 },

    /* ---- invalid UTF-8 as raw bytes ---- */
    { "utf8-split-sequence", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-lone-continuation-byte", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-overlong-2-bytes", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-overlong-3-bytes", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-surrogate", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-above-u10ffff", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-noncharacter-fffe", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "raw-nul", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "raw-c0-control", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-overlong-in-attribute", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-invalid-in-element-name", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "utf8-invalid-in-header", E_XML, NWF, NULL, 0, NULL, NULL, 0 },
    { "raw-nul-in-header", E_XML, NWF, NULL, 0, NULL, NULL, 0 },

    /* ---- invalid characters as character references ---- */
    { "charref-nul", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "charref-surrogate", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "charref-above-u10ffff", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "charref-c0-control", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "charref-huge-number", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "charref-nul-in-attribute", E_XML, NWF, NULL, 1, NULL, NULL, 0 },

    /* ---- encodings other than UTF-8 ---- */
    { "encoding-iso-8859-1", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "encoding-utf16-declared", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf16le-bom", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf16be-bom", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf16le-without-bom", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf16be-without-bom", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf32be-bom", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf32le-without-bom", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "utf32le-bom", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },
    { "ebcdic", E_ENC, ENC, NULL, 0, NULL, NULL, 0 },

    /* ---- the stream header ---- */
    { "wrong-stream-namespace", E_NS, INS, NULL, 0, NULL, NULL, 0 },
    { "wrong-content-namespace", E_NS, INS, NULL, 0, NULL, NULL, 0 },
    { "missing-content-namespace", E_NS, INS, NULL, 0, NULL, NULL, 0 },
    { "stanza-instead-of-header", E_NS, INS, NULL, 0, NULL, NULL, 0 },
    { "bad-version", PXMPP_ERR_VERSION, UVER, NULL, 0, NULL, NULL, 0 },
    { "missing-version", PXMPP_ERR_VERSION, UVER, NULL, 0, NULL, NULL, 0 },
    { "long-header-attribute", E_LIM, POL, NULL, 0, NULL, NULL, 0 },
    { "header-many-attributes", E_LIM, POL, NULL, 0, NULL, NULL, 0 },
    { "huge-xml-lang-in-header", E_LIM, POL, NULL, 0, NULL, NULL, H_BIG },

    /* ---- top-level elements ---- */
    { "unknown-top-level-element", PXMPP_ERR_UNSUPPORTED_STANZA, UST, NULL, 1, NULL, NULL, 0 },
    { "stream-error-lookalike", PXMPP_ERR_UNSUPPORTED_STANZA, UST, NULL, 1, NULL, "stream-error ", 0 },
    { "second-header-inside-stream", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "stream-element-as-stanza", PXMPP_ERR_UNSUPPORTED_STANZA, UST, NULL, 1, NULL, NULL, 0 },
    { "text-outside-stanzas", E_XML, NWF, NULL, 1, NULL, NULL, 0 },
    { "cdata-outside-stanzas", E_XML, NWF, NULL, 1, NULL, NULL, 0 },

    /* ---- limits ---- */
    { "oversized-stanza", E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "oversized-stanza-after-small-ones", E_LIM, POL, NULL, SMALL_STANZAS, NULL, NULL, H_BIG },
    { "deep-nesting", E_LIM, POL, NULL, 1, NULL, NULL, 0 },
    { "many-attributes", E_LIM, POL, NULL, 1, NULL, NULL, 0 },
    { "many-namespace-declarations", E_LIM, POL, NULL, 1, NULL, NULL, 0 },
    { "huge-attribute-value", E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "huge-attribute-value-of-gt", E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "huge-xml-lang-on-stanza", E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "huge-text-node", E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },
    { "whitespace-flood", E_LIM, POL, NULL, 1, NULL, NULL, H_BIG },

    /* ---- data after the peer's </stream:stream> (white space alone is allowed) ---- */
    { "bytes-after-close", E_XML, NWF, NULL, 1, "closed\nerror PXMPP_ERR_XML at 181: " AFTER_END, "evil", H_CLOSED },
    { "stanza-after-whitespace-after-close", E_XML, NWF, NULL, 1, "closed\nerror PXMPP_ERR_XML at 185: " AFTER_END, "evil", H_CLOSED },
    { "invalid-utf8-after-close", E_XML, NWF, NULL, 1, "closed\nerror PXMPP_ERR_XML at 182: " AFTER_END, NULL, H_CLOSED },
    { "comment-after-close", E_XML, NWF, NULL, 1, "closed\nerror PXMPP_ERR_XML at 181: " AFTER_END, NULL, H_CLOSED },
    { "new-header-after-close", E_XML, NWF, NULL, 1, "closed\nerror PXMPP_ERR_XML at 181: " AFTER_END, NULL, H_CLOSED },
    { "stanza-after-empty-stream", E_XML, NWF, NULL, 0, "closed\nerror PXMPP_ERR_XML at 100: " AFTER_END, NULL, H_CLOSED },
    { "whitespace-after-close", 0, NULL, NULL, 1, "closed\nend rc=PXMPP_OK\n", NULL, 0 },
    { "whitespace-flood-after-close", 0, NULL, NULL, 1, "closed\nend rc=PXMPP_OK\n", NULL, H_BIG },

    /* ---- stanza-level violations: the stream goes on ---- */
    { "iq-without-id", 0, NULL, "/iq/@id", 2, NULL, NULL, 0 },
    { "iq-id-too-long", 0, NULL, "/iq/@id", 1, NULL, NULL, 0 },
    { "jid-localpart-too-long", 0, NULL, "/message/@to", 1, NULL, NULL, 0 },
    { "priority-overflow", 0, NULL, "/presence/priority", 1, NULL, NULL, 0 },
    { "bodies-in-6897-languages", 0, NULL, NULL, 1, NULL, NULL, H_BIG },
    { "bodies-in-100-languages-repeated", 0, NULL, "/message/body[101]", 1, NULL, NULL, H_BIG },
    { "element-inside-body", 0, NULL, "/message/body[1]", 1, NULL, NULL, 0 },

    /* ---- benign inputs: delivered exactly as they are ---- */
    { "cdata-with-stanza-markup", 0, NULL, NULL, 1, "<body>&lt;/body&gt;&lt;/message&gt;&lt;message&gt;&lt;body&gt;pwned&lt;/body&gt;&lt;/message&gt;</body>", NULL, 0 },
    { "predefined-entities", 0, NULL, NULL, 1, "<body>&lt;&gt;&amp;'\"</body>", NULL, 0 },
    { "charrefs-valid", 0, NULL, NULL, 1, "<body>\xF0\x9F\x98\x80\xC3\xA9\xE2\x82\xAC</body>", NULL, 0 },
    { "utf8-multibyte-split-across-feeds", 0, NULL, NULL, 1, "<body>\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E</body>", NULL, 0 },
    { "encoding-utf8-declared", 0, NULL, NULL, 1, NULL, NULL, 0 },
    { "stream-element-inside-stanza", 0, NULL, NULL, 1, NULL, NULL, 0 },
    { "whitespace-keepalives", 0, NULL, NULL, 2, NULL, NULL, 0 },
    { "nesting-under-depth-limit", 0, NULL, NULL, 1, "<a>deep</a>", NULL, 0 },
    { "large-stanza-under-limit", 0, NULL, NULL, 2, NULL, NULL, H_BIG },
    { "unique-element-names-flood", 0, NULL, NULL, FLOOD_STANZAS, NULL, NULL, H_BIG | H_FLAT },
    { "unique-namespaces-flood", 0, NULL, NULL, FLOOD_STANZAS, NULL, NULL, H_BIG | H_FLAT },
    { "small-stanzas-flood", 0, NULL, NULL, FLOOD_STANZAS, NULL, NULL, H_BIG | H_FLAT },
};

#define NCASES (sizeof cases / sizeof cases[0])

/* The inputs, built once. */
static pxmpp_hostile_input built[NCASES];

static void input_of(const hostile *h, const char **data, size_t *len, size_t *mid)
{
    size_t i = (size_t)(h - cases);
    if (!built[i].data)
        assert_int_equal(pxmpp_hostile_build(pxmpp_hostile_find(h->name), 0, &built[i]), 0);
    *data = built[i].data;
    *len = built[i].len;
    *mid = built[i].mark;
}

/* ---- one run ------------------------------------------------------------------------- */

typedef struct outcome {
    int code;
    trace t;
    char *norm;  /* the callback log with the reasons of errors cut (code and offset kept) */
    size_t peak; /* bytes held at most by the stream (pxmpp and libxml2 allocations) */
} outcome;

/* The log without the free-text reasons: "error PXMPP_ERR_X at N: why" -> "error PXMPP_ERR_X at N".
   A reason may span lines (libxml2 appends the offending bytes); a fatal error is the
   last callback, so everything up to the "end rc=" line belongs to it. */
static char *normalize(const char *log)
{
    size_t n = strlen(log);
    char *out = malloc(n + 1);
    assert_non_null(out);
    size_t o = 0;
    bool in_reason = false;
    for (const char *p = log; *p;) {
        const char *eol = strchr(p, '\n');
        size_t l = eol ? (size_t)(eol - p) + 1 : strlen(p);
        if (in_reason && strncmp(p, "end rc=", 7) != 0) {
            p += l;
            continue;
        }
        in_reason = false;
        const char *colon = strncmp(p, "error ", 6) == 0 ? memchr(p, ':', l) : NULL;
        if (colon) {
            memcpy(out + o, p, (size_t)(colon - p));
            o += (size_t)(colon - p);
            out[o++] = '\n';
            in_reason = true;
        } else {
            memcpy(out + o, p, l);
            o += l;
        }
        p += l;
    }
    out[o] = '\0';
    return out;
}

static void outcome_free(outcome *o)
{
    trace_free(&o->t);
    free(o->norm);
    o->norm = NULL;
}

/* What one case holds.  A failed assertion leaves run_case() by a long jump, so
   these live here and release_case() frees what is left before the next case. */
static struct {
    outcome whole, chunked;
    bool whole_live, chunked_live;
    trace th, tg;
    bool traces_live;
    pxmpp_stream *sh, *sg, *sf;
    char *norm;
} cur;

static void release_case(void)
{
    if (cur.whole_live)
        outcome_free(&cur.whole);
    if (cur.chunked_live)
        outcome_free(&cur.chunked);
    if (cur.traces_live) {
        trace_free(&cur.th);
        trace_free(&cur.tg);
    }
    pxmpp_stream_free(cur.sh);
    pxmpp_stream_free(cur.sg);
    pxmpp_stream_free(cur.sf);
    free(cur.norm);
    memset(&cur, 0, sizeof cur);
}

/* Frees what check_interleaved() holds. */
static void release_case_streams(void)
{
    pxmpp_stream_free(cur.sh);
    pxmpp_stream_free(cur.sg);
    cur.sh = cur.sg = NULL;
    if (cur.traces_live) {
        trace_free(&cur.th);
        trace_free(&cur.tg);
        cur.traces_live = false;
    }
    free(cur.norm);
    cur.norm = NULL;
}

/* One run into o (cur.whole or cur.chunked, marked live through *live). */
static void run_one(outcome *o, bool *live, const char *data, size_t len, size_t chunk, uint32_t seed)
{
    pxmpp_stream_config cfg = { .mem = pxmpp_memcount_pxmpp() };
    /* libxml2 keeps a copy of the last error in a global; it is not the stream's */
    xmlResetLastError();
    size_t px_before = pxmpp_memcount_px.live, xml_before = pxmpp_memcount_xml.live;
    size_t base = pxmpp_memcount_live();
    pxmpp_memcount_reset_peak();
    o->norm = NULL;
    o->code = run_trace(&o->t, data, len, chunk, seed, 0, &cfg);
    *live = true;
    o->peak = pxmpp_memcount_peak() - base;
    xmlResetLastError();
    /* everything the stream allocated, through either set of hooks, is back */
    assert_int_equal(pxmpp_memcount_px.live, px_before);
    assert_int_equal(pxmpp_memcount_xml.live, xml_before);
    o->norm = normalize(o->t.log.data ? o->t.log.data : "");
}

static size_t count_of(const char *hay, size_t hlen, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (size_t i = 0; i + nl <= hlen; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            n++;
    return n;
}

static bool ends_with(const pxmpp_buf *b, const char *suffix)
{
    size_t n = strlen(suffix);
    return b->len >= n && memcmp(b->data + b->len - n, suffix, n) == 0;
}

static void show(const hostile *h, const outcome *o, const char *what)
{
    const char *log = o->t.log.data ? o->t.log.data : "";
    size_t ll = strlen(log);
    fprintf(stderr, "case %s: %s\n  rc=%s peak=%zu bytes\n  sent: %.*s\n  log (%zu bytes): %.*s%s\n", h->name, what,
            pxmpp_error_name(o->code), o->peak, (int)(o->t.sent.len < 400 ? o->t.sent.len : 400),
            o->t.sent.data ? o->t.sent.data : "", ll, (int)(ll < 1500 ? ll : 1500), log, ll < 1500 ? "" : "...\n");
}

/* The checks that do not depend on the chunking. */
static void check_expectations(const hostile *h, const outcome *o)
{
    const char *log = o->t.log.data ? o->t.log.data : "";
    size_t reported = o->t.elements + o->t.invalid;
    bool ok = o->code == h->code && reported == h->delivered;
    if (!ok)
        show(h, o, "unexpected return code or number of delivered elements");
    assert_int_equal(o->code, h->code);
    assert_int_equal(reported, h->delivered);

    if (h->code <= PXMPP_ERR_FATAL) {
        assert_int_equal(o->t.errors, 1);
        assert_int_equal(o->t.closed, (h->flags & H_CLOSED) ? 1 : 0);
    } else {
        assert_int_equal(o->t.errors, 0);
        assert_int_equal(o->t.closed, 1);
    }

    if (h->cond) {
        /* the stream opened its side, sent one error with the condition, and closed */
        const pxmpp_buf *s = &o->t.sent;
        bool sent_ok = s->len > 0 && count_of(s->data, s->len, "<stream:error>") == 1 &&
                       strstr(s->data, h->cond) > strstr(s->data, "<stream:error>") &&
                       strncmp(s->data, "<?xml version='1.0'?><stream:stream ", 36) == 0 &&
                       ends_with(s, "</stream:error></stream:stream>");
        if (!sent_ok)
            show(h, o, "wrong stream error written");
        assert_true(sent_ok);
    } else {
        if (o->t.sent.len)
            show(h, o, "the stream wrote something");
        assert_int_equal(o->t.sent.len, 0);
    }

    if (h->path) {
        char want[256];
        snprintf(want, sizeof want, "invalid path=%s reason=", h->path);
        if (o->t.invalid != 1 || !strstr(log, want))
            show(h, o, "wrong stanza-level diagnostic");
        assert_int_equal(o->t.invalid, 1);
        assert_non_null(strstr(log, want));
    } else {
        assert_int_equal(o->t.invalid, 0);
    }
    if (h->expect && !strstr(log, h->expect))
        show(h, o, "expected text missing from the log");
    if (h->expect)
        assert_non_null(strstr(log, h->expect));
    if (h->reject && strstr(log, h->reject))
        show(h, o, "rejected text present in the log");
    if (h->reject)
        assert_null(strstr(log, h->reject));

    if (o->peak > MEM_BOUND)
        show(h, o, "memory bound exceeded");
    assert_true(o->peak <= MEM_BOUND);
}

/* ---- the valid stream fed alongside ------------------------------------------------ */

static char *good_data;
static size_t good_len;
static trace good_oracle;

static void load_good(void)
{
    if (good_data)
        return;
    good_data = read_file(DATA "/sample-stream.xml", &good_len);
    run_trace(&good_oracle, good_data, good_len, good_len, 0, 0, NULL);
}

/* Feeds the hostile input in 7-byte pieces and the valid stream 1 byte after each piece;
   the valid stream's callbacks equal those of its run alone, and the hostile one's equal
   its own outcome.  After the hostile stream failed, more input changes nothing. */
static void check_interleaved(const hostile *h, const char *data, size_t len, const outcome *whole)
{
    load_good();
    trace *th = &cur.th, *tg = &cur.tg;
    trace_init(th);
    trace_init(tg);
    cur.traces_live = true;
    pxmpp_stream_callbacks cb = trace_callbacks();
    pxmpp_stream_config cfg = { .mem = pxmpp_memcount_pxmpp() };
    assert_int_equal(pxmpp_stream_new(&cur.sh, PXMPP_ROLE_CLIENT, &cb, &cfg, th), 0);
    assert_int_equal(pxmpp_stream_new(&cur.sg, PXMPP_ROLE_CLIENT, &cb, NULL, tg), 0);
    pxmpp_stream *sh = cur.sh, *sg = cur.sg;
    size_t ho = 0, go = 0;
    int hrc = 0, grc = 0;
    bool hdone = false, gdone = false;
    while (!hdone || !gdone) {
        if (!hdone) {
            size_t n = len - ho < 7 ? len - ho : 7;
            hrc = pxmpp_stream_feed(sh, data + ho, n);
            ho += n;
            if (hrc || ho == len) {
                hdone = true;
                if (!hrc)
                    hrc = pxmpp_stream_finish(sh);
            }
        }
        if (!gdone) {
            grc = pxmpp_stream_feed(sg, good_data + go, 1);
            go++;
            if (grc || go == good_len) {
                gdone = true;
                if (!grc)
                    grc = pxmpp_stream_finish(sg);
            }
        }
    }
    assert_int_equal(pxmpp_buf_append(&tg->log, "end rc=", 7), 0);
    assert_int_equal(pxmpp_buf_append(&tg->log, pxmpp_error_name(grc), strlen(pxmpp_error_name(grc))), 0);
    assert_int_equal(pxmpp_buf_append(&tg->log, "\n", 1), 0);
    if (strcmp(tg->log.data, good_oracle.log.data) != 0)
        fprintf(stderr, "case %s: the valid stream fed alongside differs\n--- alone:\n%s--- alongside:\n%s", h->name,
                good_oracle.log.data, tg->log.data);
    assert_string_equal(tg->log.data, good_oracle.log.data);

    assert_int_equal(hrc, whole->code);
    if (hrc <= PXMPP_ERR_FATAL) {
        /* the error is sticky: more input is refused and changes nothing */
        size_t log_len = th->log.len, sent_len = th->sent.len;
        assert_int_equal(pxmpp_stream_feed(sh, OK, strlen(OK)), hrc);
        assert_int_equal(pxmpp_stream_finish(sh), hrc);
        assert_int_equal(th->log.len, log_len);
        assert_int_equal(th->sent.len, sent_len);
        uint64_t off;
        assert_int_equal(pxmpp_stream_last_error(sh, NULL, &off), hrc);
    }
    assert_int_equal(pxmpp_buf_append(&th->log, "end rc=", 7), 0);
    assert_int_equal(pxmpp_buf_append(&th->log, pxmpp_error_name(hrc), strlen(pxmpp_error_name(hrc))), 0);
    assert_int_equal(pxmpp_buf_append(&th->log, "\n", 1), 0);
    cur.norm = normalize(th->log.data);
    if (strcmp(cur.norm, whole->norm) != 0)
        fprintf(stderr, "case %s: interleaved run differs\n--- whole:\n%s--- interleaved:\n%s", h->name, whole->norm,
                cur.norm);
    assert_string_equal(cur.norm, whole->norm);
    release_case_streams();
}

/* ---- flat memory over a long valid input ----------------------------------------------- */

static void check_flat(const hostile *h, const char *data, size_t len, size_t mid)
{
    assert_true(mid > 0 && mid < len);
    pxmpp_stream_callbacks cb = { 0 };
    pxmpp_stream_config cfg = { .mem = pxmpp_memcount_pxmpp() };
    size_t before = pxmpp_memcount_live();
    assert_int_equal(pxmpp_stream_new(&cur.sf, PXMPP_ROLE_CLIENT, &cb, &cfg, NULL), 0);
    pxmpp_stream *s = cur.sf;
    assert_int_equal(pxmpp_stream_feed(s, data, mid), 0);
    size_t at_mid = pxmpp_memcount_live() - before;
    size_t px_mid = pxmpp_memcount_px.live, xml_mid = pxmpp_memcount_xml.live;
    assert_int_equal(pxmpp_stream_feed(s, data + mid, len - mid), 0);
    size_t at_end = pxmpp_memcount_live() - before;
    if (at_end > at_mid + FLAT_SLACK)
        fprintf(stderr,
                "case %s: memory grows: %zu bytes after 1/8 of the input, %zu at its end "
                "(pxmpp hooks %+ld, libxml2 hooks %+ld)\n",
                h->name, at_mid, at_end, (long)pxmpp_memcount_px.live - (long)px_mid,
                (long)pxmpp_memcount_xml.live - (long)xml_mid);
    assert_true(at_end <= at_mid + FLAT_SLACK);
    pxmpp_stream_free(s);
    cur.sf = NULL;
}

/* ---- the test of one entry -------------------------------------------------------------- */

static void run_case(void **state)
{
    const hostile *h = *state;
    const char *data;
    size_t len, mid;
    release_case(); /* what a failed case left */
    input_of(h, &data, &len, &mid);

    outcome *whole = &cur.whole;
    run_one(whole, &cur.whole_live, data, len, len, 0);
    if (getenv("PXMPP_HOSTILE_VERBOSE")) {
        const char *e = strstr(whole->norm, "error ");
        fprintf(stderr, "%-36s %9zu bytes  rc=%-28s peak=%8zu  %.*s\n", h->name, len, pxmpp_error_name(whole->code),
                whole->peak, e ? (int)strcspn(e, "\n") : 0, e ? e : "");
    }
    check_expectations(h, whole);

    /* the same outcome whatever the chunking */
    struct { size_t chunk; uint32_t seed; } runs[] = { { 1, 0 }, { 7, 0 }, { 4096, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 } };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        if ((h->flags & H_BIG) && (runs[r].chunk == 1 || runs[r].seed > 1))
            continue;
        outcome *o = &cur.chunked;
        run_one(o, &cur.chunked_live, data, len, runs[r].chunk, runs[r].seed);
        if (strcmp(o->norm, whole->norm) != 0) {
            size_t nw = strlen(whole->norm), no = strlen(o->norm);
            fprintf(stderr, "case %s: chunk %zu seed %u differs from the whole run\n", h->name, runs[r].chunk,
                    runs[r].seed);
            fprintf(stderr, "--- whole:\n%.*s%s--- chunked:\n%.*s%s", (int)(nw < 2000 ? nw : 2000), whole->norm,
                    nw < 2000 ? "" : "...\n", (int)(no < 2000 ? no : 2000), o->norm, no < 2000 ? "" : "...\n");
        }
        assert_string_equal(o->norm, whole->norm);
        assert_int_equal(o->code, whole->code);
        if (o->peak > MEM_BOUND)
            show(h, o, "memory bound exceeded");
        assert_true(o->peak <= MEM_BOUND);
        outcome_free(o);
        cur.chunked_live = false;
    }

    /* small inputs: every chunk size from 1 to the length */
    for (size_t c = 2; len <= 1024 && c < len; c++) {
        if (c == 7)
            continue;
        outcome *o = &cur.chunked;
        run_one(o, &cur.chunked_live, data, len, c, 0);
        if (strcmp(o->norm, whole->norm) != 0)
            fprintf(stderr, "case %s: chunk %zu differs from the whole run\n--- whole:\n%s--- chunked:\n%s", h->name, c,
                    whole->norm, o->norm);
        assert_string_equal(o->norm, whole->norm);
        outcome_free(o);
        cur.chunked_live = false;
    }

    check_interleaved(h, data, len, whole);
    if (h->flags & H_FLAT)
        check_flat(h, data, len, mid);
    release_case();
}

int main(void)
{
    /* before anything else touches libxml2: count its allocations */
    if (pxmpp_memcount_install_libxml2() != 0) {
        fprintf(stderr, "xmlMemSetup failed\n");
        return 1;
    }
    /* libxml2's one-time global state is allocated by the first parser; create it now
       so that the per-run accounting sees only what a stream holds */
    load_good();
    /* one expectation for each input of hostile.h, and an input for each expectation */
    if (NCASES != pxmpp_hostile_count()) {
        fprintf(stderr, "%zu hostile inputs, %zu expectations\n", pxmpp_hostile_count(), (size_t)NCASES);
        return 1;
    }
    for (size_t i = 0; i < NCASES; i++)
        if (pxmpp_hostile_find(cases[i].name) == pxmpp_hostile_count()) {
            fprintf(stderr, "no hostile input %s\n", cases[i].name);
            return 1;
        }

    struct CMUnitTest tests[NCASES];
    for (size_t i = 0; i < NCASES; i++) {
        tests[i] = (struct CMUnitTest){ cases[i].name, run_case, NULL, NULL, (void *)&cases[i] };
        for (size_t j = 0; j < i; j++)
            if (strcmp(cases[i].name, cases[j].name) == 0) {
                fprintf(stderr, "duplicate case name %s\n", cases[i].name);
                return 1;
            }
    }
    int rc = _cmocka_run_group_tests("hostile", tests, NCASES, NULL, NULL);
    release_case();
    for (size_t i = 0; i < NCASES; i++)
        free(built[i].data);
    free(good_data);
    trace_free(&good_oracle);
    xmlCleanupParser();
    return rc;
}
