/*
 * Unit tests for runtime/jid.c (pxmpp/jid.h).
 *
 * Non-ASCII characters are written as UTF-8 hex escapes, with the character
 * named in a comment; adjacent literals are split where the next character
 * would otherwise extend the escape.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pxmpp/error.h"
#include "pxmpp/jid.h"

#define N PXMPP_JID_NORMALIZE

/* UTF-8 of a few characters used below. */
#define PI         "\xCF\x80"         /* U+03C0 GREEK SMALL LETTER PI */
#define SHARP_S    "\xC3\x9F"         /* U+00DF LATIN SMALL LETTER SHARP S */
#define CAP_SIGMA  "\xCE\xA3"         /* U+03A3 GREEK CAPITAL LETTER SIGMA */
#define SIGMA      "\xCF\x83"         /* U+03C3 GREEK SMALL LETTER SIGMA */
#define FINAL_SIGMA "\xCF\x82"        /* U+03C2 GREEK SMALL LETTER FINAL SIGMA */
#define BLACK_KING "\xE2\x99\x9A"     /* U+265A BLACK CHESS KING */
#define KELVIN     "\xE2\x84\xAA"     /* U+212A KELVIN SIGN */
#define ROMAN_FOUR "\xE2\x85\xA3"     /* U+2163 ROMAN NUMERAL FOUR */
#define NBSP       "\xC2\xA0"         /* U+00A0 NO-BREAK SPACE */
#define OGHAM_SPACE "\xE1\x9A\x80"     /* U+1680 OGHAM SPACE MARK */
#define SOFT_HYPHEN "\xC2\xAD"        /* U+00AD SOFT HYPHEN (mapped to nothing) */
#define ZWJ        "\xE2\x80\x8D"     /* U+200D ZERO WIDTH JOINER (mapped to nothing) */
#define FW_AT      "\xEF\xBC\xA0"     /* U+FF20 FULLWIDTH COMMERCIAL AT */
#define FW_SOLIDUS "\xEF\xBC\x8F"     /* U+FF0F FULLWIDTH SOLIDUS */
#define FW_A       "\xEF\xBC\xA1"     /* U+FF21 FULLWIDTH LATIN CAPITAL LETTER A */
#define FW_E       "\xEF\xBD\x85"     /* U+FF45 FULLWIDTH LATIN SMALL LETTER E */
#define IDEO_STOP  "\xE3\x80\x82"     /* U+3002 IDEOGRAPHIC FULL STOP */
#define FW_STOP    "\xEF\xBC\x8E"     /* U+FF0E FULLWIDTH FULL STOP */
#define DIGIT_ONE_STOP "\xE2\x92\x88" /* U+2488 DIGIT ONE FULL STOP, NFKC "1." */
#define HW_STOP    "\xEF\xBD\xA1"     /* U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP */
#define E_ACUTE    "\xC3\xA9"         /* U+00E9 */
#define CAP_E_ACUTE "\xC3\x89"        /* U+00C9 */
#define ALEF       "\xD7\x90"         /* U+05D0 HEBREW LETTER ALEF (RandALCat) */
#define BET        "\xD7\x91"         /* U+05D1 HEBREW LETTER BET (RandALCat) */
#define N_APOS     "\xC5\x89"         /* U+0149, folds to U+02BC U+006E (2 -> 3 bytes) */
#define SALLA      "\xEF\xB7\xBA"     /* U+FDFA, NFKC gives 18 code points (3 -> 33 bytes) */
#define GRINNING   "\xF0\x9F\x98\x80" /* U+1F600, unassigned in Unicode 3.2 */

/* A JID filled with garbage, to see what the functions overwrite. */
static void poison(pxmpp_jid *j)
{
    memset(j, 0xA5, sizeof *j);
}

static bool is_all_zero(const pxmpp_jid *j)
{
    static const pxmpp_jid zero;
    return memcmp(j, &zero, sizeof *j) == 0;
}

static int parse_str(pxmpp_jid *j, const char *s, unsigned flags)
{
    return pxmpp_jid_parse(j, s, strlen(s), flags);
}

/* Parses s with flags, which must succeed, and returns the formatted result
 * in a static buffer. */
static const char *normalized(const char *s)
{
    static char buf[PXMPP_JID_STR_MAX + 1];
    pxmpp_jid j;
    int r = parse_str(&j, s, N);

    if (r != 0)
        print_error("normalizing \"%s\" failed with %d\n", s, r);
    assert_int_equal(r, 0);
    assert_true(pxmpp_jid_format(&j, buf, sizeof buf) < sizeof buf);
    return buf;
}

/* Checks the invariants of a successfully parsed JID. */
static void assert_well_formed(const pxmpp_jid *j)
{
    assert_int_equal(strlen(j->local), j->local_len);
    assert_int_equal(strlen(j->domain), j->domain_len);
    assert_int_equal(strlen(j->resource), j->resource_len);
    assert_true(j->domain_len > 0);
    assert_true(j->has_local ? j->local_len > 0 : j->local_len == 0);
    assert_true(j->has_resource ? j->resource_len > 0 : j->resource_len == 0);
    /* bytes after the NULs are zero */
    for (size_t i = j->local_len; i < sizeof j->local; i++)
        assert_int_equal(j->local[i], 0);
    for (size_t i = j->domain_len; i < sizeof j->domain; i++)
        assert_int_equal(j->domain[i], 0);
    for (size_t i = j->resource_len; i < sizeof j->resource; i++)
        assert_int_equal(j->resource[i], 0);
}

/* ---------------------------------------------------------------------- */

/* RFC 7622 §3.5.1 examples (plus erratum 4560) and a few more valid JIDs:
 * accepted by check and by both parse modes; the verbatim parse formats back
 * to the input. */
static void test_valid_examples(void **state)
{
    static const char *const valid[] = {
        "juliet@example.com",
        "juliet@example.com/foo",
        "juliet@example.com/foo bar",
        "juliet@example.com/foo@bar",
        "foo\\20bar@example.com",
        "fussball@example.com",
        ("fu" SHARP_S "ball@example.com"),
        (PI "@example.com"),
        (CAP_SIGMA "@example.com/foo"),
        (SIGMA "@example.com/foo"),
        (FINAL_SIGMA "@example.com/foo"),
        ("king@example.com/" BLACK_KING),
        "example.com",
        "example.com/foobar",
        "a.example.com/b@example.net",
        "[::1]",
        /* RFC 7622 listed this as invalid; erratum 4560 withdrew that:
         * OpaqueString (and resourceprep) allow a leading space. */
        "juliet@example.com/ foo",
        "juliet@example.com/ ",
        "juliet@example.com/foo/bar",
        "juliet@[2001:db8::1]/r",
        "example.com.",
        "x",
        "a_b.example",
        "192.0.2.1",
        "xn--bcher-kva.example",
        "room@conference.example.com/nick with spaces & <symbols>",
    };
    (void)state;
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        const char *s = valid[i];
        pxmpp_jid j;
        char buf[PXMPP_JID_STR_MAX + 1];

        assert_int_equal(pxmpp_jid_check(s, strlen(s)), 0);
        poison(&j);
        assert_int_equal(parse_str(&j, s, 0), 0);
        assert_well_formed(&j);
        assert_int_equal(pxmpp_jid_format(&j, buf, sizeof buf), strlen(s));
        assert_string_equal(buf, s);
        poison(&j);
        assert_int_equal(parse_str(&j, s, N), 0);
        assert_well_formed(&j);
    }
}

/* The split: first '/' starts the resource, first '@' before it ends the
 * localpart. */
static void test_split(void **state)
{
    pxmpp_jid j;
    (void)state;

    assert_int_equal(parse_str(&j, "a.example.com/b@example.net", 0), 0);
    assert_false(j.has_local);
    assert_string_equal(j.local, "");
    assert_string_equal(j.domain, "a.example.com");
    assert_true(j.has_resource);
    assert_string_equal(j.resource, "b@example.net");
    assert_int_equal(j.resource_len, 13);

    assert_int_equal(parse_str(&j, "juliet@example.com/foo@bar", 0), 0);
    assert_true(j.has_local);
    assert_string_equal(j.local, "juliet");
    assert_int_equal(j.local_len, 6);
    assert_string_equal(j.domain, "example.com");
    assert_int_equal(j.domain_len, 11);
    assert_string_equal(j.resource, "foo@bar");

    /* '/' before '@': no localpart at all */
    assert_int_equal(parse_str(&j, "ju/liet@example.com", 0), 0);
    assert_false(j.has_local);
    assert_string_equal(j.domain, "ju");
    assert_string_equal(j.resource, "liet@example.com");

    assert_int_equal(parse_str(&j, "a@b/c/d", 0), 0);
    assert_string_equal(j.local, "a");
    assert_string_equal(j.domain, "b");
    assert_string_equal(j.resource, "c/d");

    assert_int_equal(parse_str(&j, "example.com", 0), 0);
    assert_false(j.has_local);
    assert_false(j.has_resource);
    assert_string_equal(j.resource, "");

    /* the string need not be NUL-terminated: only len bytes are read */
    assert_int_equal(pxmpp_jid_parse(&j, "juliet@example.com/foo", 18, 0), 0);
    assert_false(j.has_resource);
    assert_string_equal(j.domain, "example.com");
}

struct bad {
    const char *s;
    size_t len;     /* 0: strlen(s) */
    int err;
};

static void check_bad_table(const struct bad *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = t[i].len ? t[i].len : strlen(t[i].s);
        pxmpp_jid j;
        int r = pxmpp_jid_check(t[i].s, len);

        if (r != t[i].err)
            print_error("case %zu: check gave %d, want %d\n", i, r, t[i].err);
        assert_int_equal(r, t[i].err);
        poison(&j);
        assert_int_equal(pxmpp_jid_parse(&j, t[i].s, len, 0), t[i].err);
        assert_true(is_all_zero(&j));
        poison(&j);
        assert_int_equal(pxmpp_jid_parse(&j, t[i].s, len, N), t[i].err);
        assert_true(is_all_zero(&j));
    }
}

/* RFC 7622 §3.5.2 examples that are structurally invalid, plus the other
 * empty-part cases. */
static void test_invalid_examples(void **state)
{
    static const struct bad t[] = {
        { "\"juliet\"@example.com", 0, PXMPP_ERR_JID_LOCAL },
        { "foo bar@example.com", 0, PXMPP_ERR_JID_LOCAL },
        { "@example.com/", 0, PXMPP_ERR_JID_EMPTY },
        { "juliet@", 0, PXMPP_ERR_JID_EMPTY },
        { "/foobar", 0, PXMPP_ERR_JID_EMPTY },
        { "@example.com", 0, PXMPP_ERR_JID_EMPTY },
        { "example.com/", 0, PXMPP_ERR_JID_EMPTY },
        { "juliet@example.com/", 0, PXMPP_ERR_JID_EMPTY },
        { "juliet@/foo", 0, PXMPP_ERR_JID_EMPTY },
        { "@", 0, PXMPP_ERR_JID_EMPTY },
        { "/", 0, PXMPP_ERR_JID_EMPTY },
        { "", 0, PXMPP_ERR_JID_EMPTY },
        { "a@b@c", 0, PXMPP_ERR_JID_DOMAIN },
    };
    (void)state;
    check_bad_table(t, sizeof t / sizeof *t);
    /* the empty string, with len 0 */
    assert_int_equal(pxmpp_jid_check("", 0), PXMPP_ERR_JID_EMPTY);
}

static void test_local_forbidden(void **state)
{
    static const struct bad t[] = {
        { "a\"b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a&b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a'b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a:b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a<b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a>b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a\tb@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a\x1f" "b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a\x7f" "b@x", 0, PXMPP_ERR_JID_LOCAL },
        { "a\0b@x", 5, PXMPP_ERR_JID_LOCAL },
    };
    pxmpp_jid j;
    (void)state;
    check_bad_table(t, sizeof t / sizeof *t);
    /* '/' and '@' can only reach a localpart through from_parts */
    assert_int_equal(pxmpp_jid_from_parts(&j, "a/b", 3, "x", 1, NULL, 0, 0),
                     PXMPP_ERR_JID_LOCAL);
    assert_int_equal(pxmpp_jid_from_parts(&j, "a@b", 3, "x", 1, NULL, 0, 0),
                     PXMPP_ERR_JID_LOCAL);
    /* characters that are fine in a localpart */
    assert_int_equal(pxmpp_jid_check("a.b-c_d+e!#$%*=?^`{|}~\\@x",
                                     strlen("a.b-c_d+e!#$%*=?^`{|}~\\@x")), 0);
}

static void test_domain_rules(void **state)
{
    static const struct bad t[] = {
        { ".example.com", 0, PXMPP_ERR_JID_DOMAIN },
        { "example..com", 0, PXMPP_ERR_JID_DOMAIN },
        { "example.com..", 0, PXMPP_ERR_JID_DOMAIN },
        { "a@.", 0, PXMPP_ERR_JID_EMPTY },
        { ".", 0, PXMPP_ERR_JID_EMPTY },
        { "exa mple.com", 0, PXMPP_ERR_JID_DOMAIN },
        { "example.com:5222", 0, PXMPP_ERR_JID_DOMAIN },
        { "ex!ample.com", 0, PXMPP_ERR_JID_DOMAIN },
        { "ex\"ample.com", 0, PXMPP_ERR_JID_DOMAIN },
        { "ex\x7f" "ample.com", 0, PXMPP_ERR_JID_DOMAIN },
        { "ex\tample.com", 0, PXMPP_ERR_JID_DOMAIN },
        { "ex\0ample.com", 12, PXMPP_ERR_JID_DOMAIN },
        { "::1", 0, PXMPP_ERR_JID_DOMAIN },
        { "example.com]", 0, PXMPP_ERR_JID_DOMAIN },
    };
    pxmpp_jid j;
    (void)state;
    check_bad_table(t, sizeof t / sizeof *t);

    /* one trailing dot: kept verbatim, stripped by normalization */
    assert_int_equal(parse_str(&j, "juliet@example.com./r", 0), 0);
    assert_string_equal(j.domain, "example.com.");
    assert_int_equal(j.domain_len, 12);
    assert_string_equal(normalized("juliet@example.com./r"),
                        "juliet@example.com/r");
    /* a separately given domain is checked as well */
    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 0, "a/b", 3, NULL, 0, 0),
                     PXMPP_ERR_JID_DOMAIN);
    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 0, "a@b", 3, NULL, 0, 0),
                     PXMPP_ERR_JID_DOMAIN);
}

static void test_ip_literals(void **state)
{
    static const char *const good[] = {
        "[::1]", "[::]", "[2001:db8::1]", "[2001:DB8:0:0:8:800:200C:417A]",
        "[1:2:3:4:5:6:7:8]", "[1::]", "[1:2:3:4:5:6::8]", "[1:2:3:4:5:6:7::]",
        "[::ffff:192.0.2.1]", "[::1.2.3.4]", "[1:2:3:4:5:6:1.2.3.4]",
        "[fe80::abcd:ef01]", "[0:0:0:0:0:0:0:0]", "[::255.255.255.255]",
    };
    static const char *const bad[] = {
        "[]", "[:]", "[:::]", "[::1", "[1:2:3:4:5:6:7:8:9]", "[1::2::3]",
        "[12345::]", "[::g]", "[1:2:3:4:5:6:7]", "[::1]x", "[::1].",
        "[1:2:3:4:5:6:7::8]", "[1:2:3:4:5:6:7:1.2.3.4]", "[::256.1.1.1]",
        "[::01.2.3.4]", "[::1.2.3]", "[::1.2.3.4.5]", "[::1.2.3.4:5]",
        "[1:]", "[:1]", "[1:2:3:4:5:6:7:8:]", "[fe80::1%25eth0]",
        "[v1.x]", "[192.0.2.1]", "[ ::1]", "x[::1]",
    };
    char buf[64];
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (pxmpp_jid_check(good[i], strlen(good[i])) != 0)
            print_error("rejected %s\n", good[i]);
        assert_int_equal(pxmpp_jid_check(good[i], strlen(good[i])), 0);
        snprintf(buf, sizeof buf, "user@%s/res", good[i]);
        assert_int_equal(pxmpp_jid_check(buf, strlen(buf)), 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (pxmpp_jid_check(bad[i], strlen(bad[i])) != PXMPP_ERR_JID_DOMAIN)
            print_error("accepted %s\n", bad[i]);
        assert_int_equal(pxmpp_jid_check(bad[i], strlen(bad[i])),
                         PXMPP_ERR_JID_DOMAIN);
    }
    /* normalization only lowercases an IP literal */
    assert_string_equal(normalized("User@[2001:DB8::A]/Res"),
                        "user@[2001:db8::a]/Res");
}

static void test_too_long(void **state)
{
    char big[3 * 1024 + 8];
    char part[1025];
    pxmpp_jid j;
    (void)state;

    memset(part, 'a', sizeof part);

    /* 1023-byte parts are fine, in every position and all at once */
    snprintf(big, sizeof big, "%.1023s@%.1023s/%.1023s", part, part, part);
    assert_int_equal(strlen(big), PXMPP_JID_STR_MAX);
    assert_int_equal(pxmpp_jid_check(big, strlen(big)), 0);
    assert_int_equal(parse_str(&j, big, 0), 0);
    assert_int_equal(j.local_len, 1023);
    assert_int_equal(j.domain_len, 1023);
    assert_int_equal(j.resource_len, 1023);
    assert_int_equal(pxmpp_jid_format(&j, NULL, 0), PXMPP_JID_STR_MAX);
    assert_int_equal(parse_str(&j, big, N), 0);

    /* 1024 bytes in any part */
    snprintf(big, sizeof big, "%.1024s@x/r", part);
    assert_int_equal(pxmpp_jid_check(big, strlen(big)), PXMPP_ERR_JID_TOO_LONG);
    poison(&j);
    assert_int_equal(parse_str(&j, big, 0), PXMPP_ERR_JID_TOO_LONG);
    assert_true(is_all_zero(&j));
    assert_int_equal(parse_str(&j, big, N), PXMPP_ERR_JID_TOO_LONG);

    snprintf(big, sizeof big, "u@%.1024s/r", part);
    assert_int_equal(pxmpp_jid_check(big, strlen(big)), PXMPP_ERR_JID_TOO_LONG);
    assert_int_equal(parse_str(&j, big, N), PXMPP_ERR_JID_TOO_LONG);

    snprintf(big, sizeof big, "%.1024s", part);     /* bare domain */
    assert_int_equal(pxmpp_jid_check(big, strlen(big)), PXMPP_ERR_JID_TOO_LONG);

    snprintf(big, sizeof big, "u@x/%.1024s", part);
    assert_int_equal(pxmpp_jid_check(big, strlen(big)), PXMPP_ERR_JID_TOO_LONG);
    assert_int_equal(parse_str(&j, big, 0), PXMPP_ERR_JID_TOO_LONG);

    /* a trailing dot counts: 1023 + '.' is too long */
    snprintf(big, sizeof big, "u@%.1023s.", part);
    assert_int_equal(pxmpp_jid_check(big, strlen(big)), PXMPP_ERR_JID_TOO_LONG);
}

/* Normalization may lengthen a part beyond 1023 bytes. */
static void test_too_long_after_normalization(void **state)
{
    char s[4096];
    size_t n = 0;
    pxmpp_jid j;
    (void)state;

    /* 500 x U+0149 (1000 bytes) -> 500 x U+02BC U+006E (1500 bytes) */
    for (int i = 0; i < 500; i++) {
        memcpy(s + n, N_APOS, 2);
        n += 2;
    }
    memcpy(s + n, "@x", 3);
    assert_int_equal(pxmpp_jid_check(s, strlen(s)), 0);
    assert_int_equal(parse_str(&j, s, 0), 0);
    poison(&j);
    assert_int_equal(parse_str(&j, s, N), PXMPP_ERR_JID_TOO_LONG);
    assert_true(is_all_zero(&j));

    /* 341 x U+FDFA (1023 bytes) in the resource -> 11253 bytes */
    memcpy(s, "u@x/", 4);
    n = 4;
    for (int i = 0; i < 341; i++) {
        memcpy(s + n, SALLA, 3);
        n += 3;
    }
    s[n] = '\0';
    assert_int_equal(pxmpp_jid_check(s, n), 0);
    assert_int_equal(parse_str(&j, s, N), PXMPP_ERR_JID_TOO_LONG);

    /* every domain label fits, their concatenation does not:
     * 300 + 200 x U+0149 (1001 bytes) -> 1501 bytes */
    memcpy(s, "u@", 2);
    n = 2;
    for (int i = 0; i < 500; i++) {
        if (i == 300)
            s[n++] = '.';
        memcpy(s + n, N_APOS, 2);
        n += 2;
    }
    s[n] = '\0';
    assert_int_equal(pxmpp_jid_check(s, n), 0);
    assert_int_equal(parse_str(&j, s, N), PXMPP_ERR_JID_TOO_LONG);
    /* 11 labels of 30 x U+FDFA (1011 bytes) -> about 11 KB */
    memcpy(s, "u@", 2);
    n = 2;
    for (int l = 0; l < 11; l++) {
        if (l > 0)
            s[n++] = '.';
        for (int i = 0; i < 30; i++) {
            memcpy(s + n, SALLA, 3);
            n += 3;
        }
    }
    s[n] = '\0';
    assert_int_equal(pxmpp_jid_check(s, n), 0);
    poison(&j);
    assert_int_equal(parse_str(&j, s, N), PXMPP_ERR_JID_TOO_LONG);
    assert_true(is_all_zero(&j));

    /* just fits: 341 x U+0149 -> 1023 bytes */
    n = 0;
    for (int i = 0; i < 341; i++) {
        memcpy(s + n, N_APOS, 2);
        n += 2;
    }
    memcpy(s + n, "@x", 3);
    assert_int_equal(parse_str(&j, s, N), 0);
    assert_int_equal(j.local_len, 1023);
    assert_well_formed(&j);
}

static void test_bad_utf8(void **state)
{
    static const struct bad t[] = {
        { "\xC3\x28@example.com", 0, PXMPP_ERR_JID_UTF8 },   /* bad continuation */
        { "\xC0\xAF@example.com", 0, PXMPP_ERR_JID_UTF8 },   /* overlong '/' */
        { "\xE0\x80\xAF@example.com", 0, PXMPP_ERR_JID_UTF8 }, /* overlong */
        { "\xED\xA0\x80@example.com", 0, PXMPP_ERR_JID_UTF8 }, /* surrogate */
        { "\xF4\x90\x80\x80@example.com", 0, PXMPP_ERR_JID_UTF8 }, /* > U+10FFFF */
        { "\xF5\x80\x80\x80@example.com", 0, PXMPP_ERR_JID_UTF8 },
        { "\xFF@example.com", 0, PXMPP_ERR_JID_UTF8 },
        { "\x80@example.com", 0, PXMPP_ERR_JID_UTF8 },       /* lone continuation */
        { "ex\xC3" "ample.com", 0, PXMPP_ERR_JID_UTF8 },     /* truncated in domain */
        { "example.com\xE2\x82", 0, PXMPP_ERR_JID_UTF8 },    /* truncated at end */
        { "example.com/\xE2\x82", 0, PXMPP_ERR_JID_UTF8 },   /* resource, at end */
        { "example.com/a\xF0\x9F\x98", 0, PXMPP_ERR_JID_UTF8 },
        { "\xC3/x", 0, PXMPP_ERR_JID_UTF8 },                 /* cut by the '/' */
        { "a\xC3@x", 0, PXMPP_ERR_JID_UTF8 },                /* cut by the '@' */
    };
    (void)state;
    check_bad_table(t, sizeof t / sizeof *t);
}

/* Reference UTF-8 validity of one sequence of exactly n bytes, computed by
 * decoding (a different method from the one in jid.c). */
static bool ref_utf8_valid(const unsigned char *p, size_t n)
{
    unsigned long cp;
    size_t need;

    if (p[0] < 0x80) { need = 1; cp = p[0]; }
    else if ((p[0] & 0xE0) == 0xC0) { need = 2; cp = p[0] & 0x1Fu; }
    else if ((p[0] & 0xF0) == 0xE0) { need = 3; cp = p[0] & 0x0Fu; }
    else if ((p[0] & 0xF8) == 0xF0) { need = 4; cp = p[0] & 0x07u; }
    else return false;
    if (need != n)
        return false;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return false;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    static const unsigned long min[] = { 0, 0, 0x80, 0x800, 0x10000 };
    return cp >= min[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

/* Every 2- and 3-byte sequence, and 4-byte sequences over all lead and
 * second bytes, in a resourcepart: accepted iff the reference says so. */
static void test_utf8_exhaustive(void **state)
{
    unsigned char s[8] = { 'x', '/' };
    unsigned long mismatches = 0;
    (void)state;

    for (unsigned a = 0x80; a < 0x100; a++) {
        for (unsigned b = 0; b < 0x100; b++) {
            s[2] = (unsigned char)a;
            s[3] = (unsigned char)b;
            bool ok = ref_utf8_valid(s + 2, 2);
            if ((pxmpp_jid_check((const char *)s, 4) == 0) != ok)
                mismatches++;
            if (a >= 0xE0 && a < 0xF0) {
                for (unsigned c = 0; c < 0x100; c++) {
                    s[4] = (unsigned char)c;
                    ok = ref_utf8_valid(s + 2, 3);
                    if ((pxmpp_jid_check((const char *)s, 5) == 0) != ok)
                        mismatches++;
                }
            }
            if (a >= 0xF0) {
                static const unsigned char tails[] = { 0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF };
                for (size_t c = 0; c < sizeof tails; c++)
                    for (size_t d = 0; d < sizeof tails; d++) {
                        s[4] = tails[c];
                        s[5] = tails[d];
                        ok = ref_utf8_valid(s + 2, 4);
                        if ((pxmpp_jid_check((const char *)s, 6) == 0) != ok)
                            mismatches++;
                    }
            }
        }
    }
    assert_int_equal(mismatches, 0);
}

static void test_resource_rules(void **state)
{
    static const struct bad t[] = {
        { "x/a\tb", 0, PXMPP_ERR_JID_RESOURCE },
        { "x/a\nb", 0, PXMPP_ERR_JID_RESOURCE },
        { "x/a\x7f", 0, PXMPP_ERR_JID_RESOURCE },
        { "x/a\0b", 5, PXMPP_ERR_JID_RESOURCE },
    };
    (void)state;
    check_bad_table(t, sizeof t / sizeof *t);
    /* spaces, '@', '/', quotes and U+0080 (a C1 control, not ASCII) pass the
     * structural check */
    assert_int_equal(pxmpp_jid_check("x/ \"'&<>:@/", 11), 0);
    assert_int_equal(pxmpp_jid_check("x/\xC2\x80", 4), 0);
}

/* Error precedence: first defective part wins, length before characters. */
static void test_error_precedence(void **state)
{
    char s[2100];
    (void)state;
    assert_int_equal(pxmpp_jid_check("a b@c d/\x01", 9), PXMPP_ERR_JID_LOCAL);
    assert_int_equal(pxmpp_jid_check("ab@c d/\x01", 8), PXMPP_ERR_JID_DOMAIN);
    assert_int_equal(pxmpp_jid_check("ab@cd/\x01", 7), PXMPP_ERR_JID_RESOURCE);
    memset(s, 'a', sizeof s);
    s[0] = ' ';
    s[1500] = '@';
    s[1502] = '\0';
    /* a forbidden character in an over-long localpart: length first */
    assert_int_equal(pxmpp_jid_check(s, strlen(s)), PXMPP_ERR_JID_TOO_LONG);
}

/* ---------------------------------------------------------------------- */
/* Normalization                                                           */

static void test_normalize_case(void **state)
{
    pxmpp_jid j;
    (void)state;
    assert_string_equal(normalized("JULIET@EXAMPLE.COM/Balcony"),
                        "juliet@example.com/Balcony");
    assert_string_equal(normalized("Example.COM"), "example.com");
    assert_string_equal(normalized("juliet@example.com/FOO bar"),
                        "juliet@example.com/FOO bar");
    /* without the flag nothing changes */
    assert_int_equal(parse_str(&j, "JULIET@EXAMPLE.COM/Balcony", 0), 0);
    assert_string_equal(j.local, "JULIET");
    assert_string_equal(j.domain, "EXAMPLE.COM");
}

/* What libidn's nodeprep (RFC 3920/6122, stringprep tables B.1, B.2, NFKC)
 * does to localparts: full case folding with Unicode 3.2 data. */
static void test_normalize_nodeprep_folding(void **state)
{
    (void)state;
    assert_string_equal(normalized(KELVIN "elvin@example.com"),
                        "kelvin@example.com");
    assert_string_equal(normalized("fu" SHARP_S "ball@example.com"),
                        "fussball@example.com");
    assert_string_equal(normalized(CAP_SIGMA "@example.com/foo"),
                        SIGMA "@example.com/foo");
    /* unlike RFC 7622's PRECIS rules, final sigma folds to sigma */
    assert_string_equal(normalized(FINAL_SIGMA "@example.com/foo"),
                        SIGMA "@example.com/foo");
    /* RFC 7622 rejects these two localparts; nodeprep accepts them */
    assert_string_equal(normalized("henry" ROMAN_FOUR "@example.com"),
                        "henryiv@example.com");
    assert_string_equal(normalized(BLACK_KING "@example.com"),
                        BLACK_KING "@example.com");
    assert_string_equal(normalized(PI "@example.com"), PI "@example.com");
    assert_string_equal(normalized("foo\\20bar@example.com"),
                        "foo\\20bar@example.com");
    /* mapped-to-nothing characters disappear */
    assert_string_equal(normalized("ju" SOFT_HYPHEN "liet@example.com"),
                        "juliet@example.com");
}

static void test_normalize_equivalence(void **state)
{
    pxmpp_jid a, b;
    (void)state;
    assert_int_equal(parse_str(&a, CAP_SIGMA "@Example.com/foo", N), 0);
    assert_int_equal(parse_str(&b, FINAL_SIGMA "@example.COM./foo", N), 0);
    assert_true(pxmpp_jid_equal(&a, &b));
    assert_int_equal(memcmp(&a, &b, sizeof a), 0);   /* identical objects */
    assert_int_equal(parse_str(&a, CAP_SIGMA "@Example.com/foo", 0), 0);
    assert_int_equal(parse_str(&b, FINAL_SIGMA "@example.COM./foo", 0), 0);
    assert_false(pxmpp_jid_equal(&a, &b));
}

static void test_normalize_domain(void **state)
{
    pxmpp_jid j;
    (void)state;
    assert_string_equal(normalized("EXAMPLE.COM."), "example.com");
    assert_string_equal(normalized("u@" CAP_E_ACUTE "XAMPLE.com"),
                        "u@" E_ACUTE "xample.com");
    /* the IDNA label separators */
    assert_string_equal(normalized("u@example" IDEO_STOP "com"), "u@example.com");
    assert_string_equal(normalized("u@example" FW_STOP "com"), "u@example.com");
    assert_string_equal(normalized("u@example" HW_STOP "com"), "u@example.com");
    assert_string_equal(normalized("u@example.com" IDEO_STOP), "u@example.com");
    /* fullwidth letters */
    assert_string_equal(normalized(FW_E "xample.com"), "example.com");
    /* NFKC producing a character a domain must not contain */
    assert_int_equal(parse_str(&j, "u@a" FW_SOLIDUS "b.example", N),
                     PXMPP_ERR_JID_DOMAIN);
    assert_int_equal(parse_str(&j, "u@a" FW_AT "b.example", N),
                     PXMPP_ERR_JID_DOMAIN);
    assert_int_equal(parse_str(&j, "u@a" FW_SOLIDUS "b.example", 0), 0);
    /* nameprep prohibits U+1680 (C.1.2) */
    assert_int_equal(parse_str(&j, "u@a" OGHAM_SPACE "b", N),
                     PXMPP_ERR_JID_DOMAIN);
    /* NFKC turns U+00A0 into ' ', which the domain rules reject */
    assert_int_equal(parse_str(&j, "u@a" NBSP "b.example", 0), 0);
    assert_int_equal(parse_str(&j, "u@a" NBSP "b.example", N),
                     PXMPP_ERR_JID_DOMAIN);
    /* the bidi rule is applied per label */
    assert_int_equal(parse_str(&j, "u@" ALEF BET ".example", N), 0);
    assert_string_equal(j.domain, ALEF BET ".example");
    assert_int_equal(parse_str(&j, "u@" ALEF "a.example", N),
                     PXMPP_ERR_JID_DOMAIN);
    /* mapping can empty a label or the whole domain */
    assert_int_equal(parse_str(&j, "u@a." SOFT_HYPHEN ".b", N),
                     PXMPP_ERR_JID_DOMAIN);
    assert_int_equal(parse_str(&j, "u@" SOFT_HYPHEN, N), PXMPP_ERR_JID_EMPTY);
    assert_int_equal(parse_str(&j, "u@a" IDEO_STOP ".b", N),
                     PXMPP_ERR_JID_DOMAIN);
    assert_int_equal(parse_str(&j, "u@" IDEO_STOP, N), PXMPP_ERR_JID_EMPTY);
    assert_int_equal(parse_str(&j, "u@a." SOFT_HYPHEN, 0), 0);
    assert_int_equal(parse_str(&j, "u@a." SOFT_HYPHEN, N), PXMPP_ERR_JID_DOMAIN);
    /* a dot made by NFKC does not split a label: rejected */
    assert_int_equal(parse_str(&j, "u@a" DIGIT_ONE_STOP "b.example", 0), 0);
    assert_int_equal(parse_str(&j, "u@a" DIGIT_ONE_STOP "b.example", N),
                     PXMPP_ERR_JID_DOMAIN);
    assert_int_equal(parse_str(&j, "u@example.com" DIGIT_ONE_STOP, N),
                     PXMPP_ERR_JID_DOMAIN);
    /* ...but in a resourcepart it is just text */
    assert_string_equal(normalized("u@x/a" DIGIT_ONE_STOP), "u@x/a1.");
}

static void test_normalize_prohibited(void **state)
{
    pxmpp_jid j;
    (void)state;
    /* structurally fine, rejected by nodeprep */
    assert_int_equal(pxmpp_jid_check("fu" NBSP "ss@x", 8), 0);
    poison(&j);
    assert_int_equal(parse_str(&j, "fu" NBSP "ss@x", N), PXMPP_ERR_JID_LOCAL);
    assert_true(is_all_zero(&j));
    assert_int_equal(parse_str(&j, "a" FW_AT "b@x", N), PXMPP_ERR_JID_LOCAL);
    assert_int_equal(parse_str(&j, "a" FW_SOLIDUS "b@x", N), PXMPP_ERR_JID_LOCAL);
    assert_int_equal(parse_str(&j, ALEF "a@x", N), PXMPP_ERR_JID_LOCAL);
    /* resourceprep: U+1680 is a non-ASCII space without a compatibility
     * decomposition, so it survives NFKC and hits the C.1.2 prohibition */
    assert_int_equal(parse_str(&j, "u@x/a" OGHAM_SPACE "b", 0), 0);
    assert_int_equal(parse_str(&j, "u@x/a" OGHAM_SPACE "b", N),
                     PXMPP_ERR_JID_RESOURCE);
    assert_int_equal(parse_str(&j, "u@x/" ALEF "a", N), PXMPP_ERR_JID_RESOURCE);
    /* ...whereas U+00A0 is turned into U+0020 by NFKC before the prohibition
     * step runs, and an ASCII space is allowed in a resourcepart */
    assert_string_equal(normalized("u@x/a" NBSP "b"), "u@x/a b");
}

static void test_normalize_resource(void **state)
{
    pxmpp_jid j;
    (void)state;
    /* no case folding, spaces kept, NFKC applied */
    assert_string_equal(normalized("u@x/Foo Bar"), "u@x/Foo Bar");
    assert_string_equal(normalized("u@x/" FW_A "b"), "u@x/Ab");
    assert_string_equal(normalized("u@x/" ROMAN_FOUR), "u@x/IV");
    assert_string_equal(normalized("u@x/" KELVIN), "u@x/K");
    assert_string_equal(normalized("u@x/" BLACK_KING), "u@x/" BLACK_KING);
    assert_string_equal(normalized("u@x/a" FW_SOLIDUS "b"), "u@x/a/b");
    assert_string_equal(normalized("u@x/ foo"), "u@x/ foo");
    /* mapped to nothing */
    assert_int_equal(parse_str(&j, "u@x/" ZWJ, N), PXMPP_ERR_JID_EMPTY);
    assert_int_equal(parse_str(&j, SOFT_HYPHEN "@x", N), PXMPP_ERR_JID_EMPTY);
    assert_int_equal(parse_str(&j, "u@x/a" ZWJ "b", N), 0);
    assert_string_equal(j.resource, "ab");
    assert_int_equal(j.resource_len, 2);
    assert_well_formed(&j);
}

/* libidn's tables are Unicode 3.2; later characters pass untouched because
 * unassigned code points are allowed (stringprep "query" mode). */
static void test_normalize_unassigned(void **state)
{
    (void)state;
    assert_string_equal(normalized(GRINNING "@x/" GRINNING),
                        GRINNING "@x/" GRINNING);
}

static void test_normalize_idempotent(void **state)
{
    static const char *const inputs[] = {
        "JULIET@EXAMPLE.COM/Balcony",
        (KELVIN "elvin@" CAP_E_ACUTE "xample.com./" FW_A),
        (FINAL_SIGMA "@example" IDEO_STOP "com/" ROMAN_FOUR),
        "[::FFFF:192.0.2.1]",
        "x/ foo",
    };
    (void)state;
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        pxmpp_jid a, b;
        char buf[PXMPP_JID_STR_MAX + 1];
        size_t n;

        assert_int_equal(parse_str(&a, inputs[i], N), 0);
        assert_well_formed(&a);
        n = pxmpp_jid_format(&a, buf, sizeof buf);
        assert_int_equal(pxmpp_jid_parse(&b, buf, n, N), 0);
        assert_int_equal(memcmp(&a, &b, sizeof a), 0);
        /* the normalized string is also valid as is */
        assert_int_equal(pxmpp_jid_check(buf, n), 0);
    }
}

/* ---------------------------------------------------------------------- */
/* Arguments                                                               */

static void test_arguments(void **state)
{
    pxmpp_jid j;
    (void)state;
    assert_int_equal(pxmpp_jid_check(NULL, 0), PXMPP_ERR_JID_EMPTY);
    assert_int_equal(pxmpp_jid_check(NULL, 3), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_jid_parse(NULL, "x", 1, 0), PXMPP_ERR_INVALID_ARGUMENT);
    poison(&j);
    assert_int_equal(pxmpp_jid_parse(&j, "x", 1, 2u), PXMPP_ERR_INVALID_ARGUMENT);
    assert_true(is_all_zero(&j));
    assert_int_equal(pxmpp_jid_parse(&j, NULL, 0, 0), PXMPP_ERR_JID_EMPTY);
    assert_int_equal(pxmpp_jid_parse(&j, NULL, 1, N), PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_jid_parse(&j, "x", 0, 0), PXMPP_ERR_JID_EMPTY);
    assert_int_equal(pxmpp_jid_format(NULL, NULL, 0), 0);
}

static void test_from_parts(void **state)
{
    pxmpp_jid j, k;
    (void)state;
    poison(&j);
    assert_int_equal(pxmpp_jid_from_parts(&j, "Room", 4, "Conference.Example",
                                          18, "nick/with@odd chars", 19, 0), 0);
    assert_well_formed(&j);
    assert_string_equal(j.local, "Room");
    assert_string_equal(j.resource, "nick/with@odd chars");
    assert_int_equal(parse_str(&k, "Room@Conference.Example/nick/with@odd chars", 0), 0);
    assert_int_equal(memcmp(&j, &k, sizeof j), 0);

    assert_int_equal(pxmpp_jid_from_parts(&j, "Room", 4, "Conference.Example",
                                          18, NULL, 0, N), 0);
    assert_string_equal(j.local, "room");
    assert_string_equal(j.domain, "conference.example");
    assert_false(j.has_resource);

    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 0, "x", 1, NULL, 0, 0), 0);
    assert_false(j.has_local);
    /* present but empty */
    poison(&j);
    assert_int_equal(pxmpp_jid_from_parts(&j, "", 0, "x", 1, NULL, 0, 0),
                     PXMPP_ERR_JID_EMPTY);
    assert_true(is_all_zero(&j));
    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 0, "x", 1, "", 0, 0),
                     PXMPP_ERR_JID_EMPTY);
    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 0, NULL, 0, NULL, 0, 0),
                     PXMPP_ERR_JID_EMPTY);
    /* NULL with a length, unknown flag, NULL out */
    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 1, "x", 1, NULL, 0, 0),
                     PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 0, NULL, 1, NULL, 0, 0),
                     PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 0, "x", 1, NULL, 1, 0),
                     PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_jid_from_parts(&j, NULL, 0, "x", 1, NULL, 0, 4u),
                     PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_jid_from_parts(NULL, NULL, 0, "x", 1, NULL, 0, 0),
                     PXMPP_ERR_INVALID_ARGUMENT);
    /* normalization errors */
    assert_int_equal(pxmpp_jid_from_parts(&j, "a" NBSP, 3, "x", 1, NULL, 0, N),
                     PXMPP_ERR_JID_LOCAL);
}

/* ---------------------------------------------------------------------- */
/* Formatting                                                              */

static void test_format_roundtrip(void **state)
{
    static const char *const inputs[] = {
        "juliet@example.com/foo bar", "example.com", "example.com/r",
        "juliet@example.com", "[::1]", "a@b/c/d@e",
    };
    (void)state;
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        pxmpp_jid a, b;
        char buf[PXMPP_JID_STR_MAX + 1];
        size_t n;

        assert_int_equal(parse_str(&a, inputs[i], 0), 0);
        n = pxmpp_jid_format(&a, buf, sizeof buf);
        assert_int_equal(n, strlen(inputs[i]));
        assert_string_equal(buf, inputs[i]);
        assert_int_equal(pxmpp_jid_parse(&b, buf, n, 0), 0);
        assert_int_equal(memcmp(&a, &b, sizeof a), 0);
    }
}

static void test_format_truncation(void **state)
{
    const char *s = "juliet@example.com/foo";   /* 22 bytes */
    char buf[32];
    pxmpp_jid j;
    (void)state;

    assert_int_equal(parse_str(&j, s, 0), 0);
    assert_int_equal(pxmpp_jid_format(&j, NULL, 0), 22);

    memset(buf, 'X', sizeof buf);
    assert_int_equal(pxmpp_jid_format(&j, buf, 0), 22);
    assert_int_equal(buf[0], 'X');                  /* cap 0: untouched */

    for (size_t cap = 1; cap <= 24; cap++) {
        memset(buf, 'X', sizeof buf);
        assert_int_equal(pxmpp_jid_format(&j, buf, cap), 22);
        size_t w = cap - 1 < 22 ? cap - 1 : 22;     /* chars written */
        assert_int_equal(strlen(buf), w);
        assert_memory_equal(buf, s, w);
        for (size_t i = w + 1; i < sizeof buf; i++)
            assert_int_equal(buf[i], 'X');          /* nothing past the NUL */
    }

    /* truncation exactly at each separator */
    memset(buf, 'X', sizeof buf);
    pxmpp_jid_format(&j, buf, 7);
    assert_string_equal(buf, "juliet");
    pxmpp_jid_format(&j, buf, 8);
    assert_string_equal(buf, "juliet@");
    pxmpp_jid_format(&j, buf, 20);
    assert_string_equal(buf, "juliet@example.com/");
}

static void test_normalize_str(void **state)
{
    char buf[64];
    size_t n = 99;
    (void)state;

    assert_int_equal(pxmpp_jid_normalize_str("A@B.C/D", 7, buf, sizeof buf, &n), 0);
    assert_string_equal(buf, "a@b.c/D");
    assert_int_equal(n, 7);

    /* exactly enough room */
    assert_int_equal(pxmpp_jid_normalize_str("A@B.C/D", 7, buf, 8, &n), 0);
    assert_string_equal(buf, "a@b.c/D");

    /* one byte short: nothing written, length reported */
    memset(buf, 'X', sizeof buf);
    n = 0;
    assert_int_equal(pxmpp_jid_normalize_str("A@B.C/D", 7, buf, 7, &n),
                     PXMPP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 7);
    assert_int_equal(buf[0], 'X');
    /* size query */
    assert_int_equal(pxmpp_jid_normalize_str("ex.com.", 7, NULL, 0, &n),
                     PXMPP_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 6);

    /* errors pass through; out_len is 0 and the buffer untouched */
    n = 99;
    assert_int_equal(pxmpp_jid_normalize_str("a b@x", 5, buf, sizeof buf, &n),
                     PXMPP_ERR_JID_LOCAL);
    assert_int_equal(n, 0);
    assert_int_equal(buf[0], 'X');
    assert_int_equal(pxmpp_jid_normalize_str("x", 1, NULL, 5, NULL),
                     PXMPP_ERR_INVALID_ARGUMENT);
    assert_int_equal(pxmpp_jid_normalize_str("x", 1, buf, sizeof buf, NULL), 0);
    assert_string_equal(buf, "x");
}

/* ---------------------------------------------------------------------- */
/* Bare JIDs and comparison                                                */

static void test_bare(void **state)
{
    pxmpp_jid full, bare, expect;
    (void)state;

    assert_int_equal(parse_str(&full, "juliet@example.com/balcony", 0), 0);
    assert_int_equal(parse_str(&expect, "juliet@example.com", 0), 0);
    poison(&bare);
    pxmpp_jid_bare(&bare, &full);
    assert_false(bare.has_resource);
    assert_int_equal(bare.resource_len, 0);
    assert_string_equal(bare.local, "juliet");
    assert_string_equal(bare.domain, "example.com");
    assert_int_equal(memcmp(&bare, &expect, sizeof bare), 0);
    assert_true(full.has_resource);                 /* input unchanged */
    assert_string_equal(full.resource, "balcony");

    /* in place */
    pxmpp_jid_bare(&full, &full);
    assert_int_equal(memcmp(&full, &expect, sizeof full), 0);

    /* bare of a bare and of a domain JID */
    pxmpp_jid_bare(&bare, &expect);
    assert_int_equal(memcmp(&bare, &expect, sizeof bare), 0);
    assert_int_equal(parse_str(&full, "example.com/r", 0), 0);
    pxmpp_jid_bare(&full, &full);
    assert_false(full.has_local);
    assert_false(full.has_resource);
    assert_string_equal(full.domain, "example.com");
}

static int cmp_str(const char *a, const char *b)
{
    pxmpp_jid x, y;
    assert_int_equal(parse_str(&x, a, 0), 0);
    assert_int_equal(parse_str(&y, b, 0), 0);
    int r = pxmpp_jid_compare(&x, &y);
    assert_int_equal(pxmpp_jid_compare(&y, &x), -r);   /* antisymmetric */
    assert_int_equal(pxmpp_jid_equal(&x, &y), r == 0);
    return r;
}

static void test_compare(void **state)
{
    (void)state;
    /* domain first */
    assert_int_equal(cmp_str("z@a.example", "a@b.example"), -1);
    assert_int_equal(cmp_str("a.example/z", "b.example"), -1);
    /* then local; absent before present */
    assert_int_equal(cmp_str("x", "a@x"), -1);
    assert_int_equal(cmp_str("a@x", "b@x"), -1);
    assert_int_equal(cmp_str("a@x", "aa@x"), -1);        /* prefix first */
    assert_int_equal(cmp_str("b@x", "aa@x"), 1);
    /* then resource; absent before present */
    assert_int_equal(cmp_str("a@x", "a@x/r"), -1);
    assert_int_equal(cmp_str("a@x/r", "a@x/s"), -1);
    assert_int_equal(cmp_str("a@x/s", "a@x/r2"), 1);
    /* bytewise: uppercase sorts before lowercase, no folding */
    assert_int_equal(cmp_str("A@x", "a@x"), -1);
    assert_int_equal(cmp_str("a@X", "a@x"), -1);
    /* bytes above 0x7F compare as unsigned */
    assert_int_equal(cmp_str(PI "@x", "z@x"), 1);
    /* equal, and one trailing dot of the domain ignored */
    assert_int_equal(cmp_str("a@x/r", "a@x/r"), 0);
    assert_int_equal(cmp_str("a@example.com./r", "a@example.com/r"), 0);
    assert_int_equal(cmp_str("example.com.", "example.com"), 0);
    assert_int_equal(cmp_str("example.com.", "example.comx"), -1);
}

static int qsort_cmp(const void *a, const void *b)
{
    return pxmpp_jid_compare(a, b);
}

/* Sorting a shuffled list gives the documented total order. */
static void test_compare_sort(void **state)
{
    static const char *const sorted[] = {
        "a.example", "a.example/r", "a@a.example", "a@a.example/a",
        "a@a.example/b", "b@a.example", "b.example",
    };
    static const size_t order[] = { 4, 6, 0, 2, 5, 1, 3 };
    pxmpp_jid *list = malloc(7 * sizeof *list);
    (void)state;

    assert_non_null(list);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(parse_str(&list[i], sorted[order[i]], 0), 0);
    qsort(list, 7, sizeof *list, qsort_cmp);
    for (size_t i = 0; i < 7; i++) {
        char buf[64];
        pxmpp_jid_format(&list[i], buf, sizeof buf);
        assert_string_equal(buf, sorted[i]);
    }
    free(list);
}

static void test_equal_bare(void **state)
{
    pxmpp_jid a, b;
    (void)state;
    assert_int_equal(parse_str(&a, "juliet@example.com/balcony", 0), 0);
    assert_int_equal(parse_str(&b, "juliet@example.com/chamber", 0), 0);
    assert_true(pxmpp_jid_equal_bare(&a, &b));
    assert_false(pxmpp_jid_equal(&a, &b));
    assert_int_equal(parse_str(&b, "juliet@example.com.", 0), 0);
    assert_true(pxmpp_jid_equal_bare(&a, &b));
    assert_int_equal(parse_str(&b, "romeo@example.com/balcony", 0), 0);
    assert_false(pxmpp_jid_equal_bare(&a, &b));
    assert_int_equal(parse_str(&b, "example.com/balcony", 0), 0);
    assert_false(pxmpp_jid_equal_bare(&a, &b));
    assert_int_equal(parse_str(&b, "juliet@example.org/balcony", 0), 0);
    assert_false(pxmpp_jid_equal_bare(&a, &b));
    /* case differences only vanish with normalization */
    assert_int_equal(parse_str(&b, "Juliet@Example.com/x", 0), 0);
    assert_false(pxmpp_jid_equal_bare(&a, &b));
    assert_int_equal(parse_str(&a, "juliet@example.com/balcony", N), 0);
    assert_int_equal(parse_str(&b, "Juliet@Example.com/x", N), 0);
    assert_true(pxmpp_jid_equal_bare(&a, &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_examples),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_invalid_examples),
        cmocka_unit_test(test_local_forbidden),
        cmocka_unit_test(test_domain_rules),
        cmocka_unit_test(test_ip_literals),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_too_long_after_normalization),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_utf8_exhaustive),
        cmocka_unit_test(test_resource_rules),
        cmocka_unit_test(test_error_precedence),
        cmocka_unit_test(test_normalize_case),
        cmocka_unit_test(test_normalize_nodeprep_folding),
        cmocka_unit_test(test_normalize_equivalence),
        cmocka_unit_test(test_normalize_domain),
        cmocka_unit_test(test_normalize_prohibited),
        cmocka_unit_test(test_normalize_resource),
        cmocka_unit_test(test_normalize_unassigned),
        cmocka_unit_test(test_normalize_idempotent),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_from_parts),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_normalize_str),
        cmocka_unit_test(test_bare),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_compare_sort),
        cmocka_unit_test(test_equal_bare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
