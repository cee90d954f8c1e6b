/* Typed values: XML text <-> C values, with the checks each value type needs. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool pxmpp__is_space_only(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

int pxmpp__enum_lookup(const pxmpp_enum_desc *e, const char *s, size_t len)
{
    for (uint16_t i = 1; i < e->count; i++) {
        const char *v = e->values[i];
        if (!v)
            continue;
        size_t j = 0;
        while (j < len && v[j] && v[j] == s[j]) /* stops at v's NUL */
            j++;
        if (j == len && !v[j])
            return i;
    }
    return -1;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* XEP-0082 profiles.  Date: CCYY-MM-DD.  Time: hh:mm:ss[.sss][TZD].  DateTime:
   CCYY-MM-DDThh:mm:ss[.sss]TZD (the zone is required).  TZD: Z or (+|-)hh:mm. */
static bool two_digits(const char *s, int max, int *out)
{
    if (!is_digit(s[0]) || !is_digit(s[1]))
        return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return *out <= max;
}

/* The date at s (10 bytes), or false. */
static bool scan_date(const char *s, size_t len)
{
    int mo, d;
    return len >= 10 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-' &&
           two_digits(s + 5, 12, &mo) && mo >= 1 && s[7] == '-' && two_digits(s + 8, 31, &d) && d >= 1;
}

/* A time from s: hh:mm:ss, optional fraction, optional (or required) zone; the bytes it
   took, or 0. */
static size_t scan_time(const char *s, size_t len, bool zone_required)
{
    int h, m, sec;
    if (len < 8 || !two_digits(s, 23, &h) || s[2] != ':' || !two_digits(s + 3, 59, &m) || s[5] != ':' ||
        !two_digits(s + 6, 60, &sec))
        return 0;
    size_t i = 8;
    if (i < len && s[i] == '.') {
        size_t st = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == st)
            return 0;
    }
    if (i < len && s[i] == 'Z')
        return i + 1;
    int zh, zm;
    if (len - i == 6 && (s[i] == '+' || s[i] == '-') && two_digits(s + i + 1, 23, &zh) && s[i + 3] == ':' &&
        two_digits(s + i + 4, 59, &zm))
        return i + 6;
    return zone_required ? 0 : i;
}

static bool check_date(const char *s, size_t len) { return len == 10 && scan_date(s, len); }

static bool check_time(const char *s, size_t len) { return scan_time(s, len, false) == len; }

static bool check_datetime(const char *s, size_t len)
{
    return len > 11 && scan_date(s, len) && s[10] == 'T' && scan_time(s + 11, len - 11, true) == len - 11;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* RFC 4648 base64 without whitespace; "=" alone is the empty value (RFC 6120 §6.4.2). */
static bool check_base64(const char *s, size_t len)
{
    if (len == 1 && s[0] == '=')
        return true;
    if (len % 4)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') {
            if (i < len - 2)
                return false;
            if (i == len - 2 && s[len - 1] != '=')
                return false;
            continue;
        }
        if (b64val(s[i]) < 0)
            return false;
    }
    return true;
}

static const char *parse_int(const pxmpp_field_desc *f, const char *s, size_t len, void *dst)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return "not an integer";
    uint64_t mag = 0;
    for (; i < len; i++) {
        if (!is_digit(s[i]))
            return "not an integer";
        uint64_t dgt = (uint64_t)(s[i] - '0');
        if (mag > (UINT64_MAX - dgt) / 10)
            return "integer out of range";
        mag = mag * 10 + dgt;
    }
    int64_t v;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return "integer out of range";
        v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return "integer out of range";
        v = (int64_t)mag;
    }
    if (v < f->min || v > f->max)
        return "integer out of range";
    if (f->width == 4) {
        int32_t w = (int32_t)v;
        memcpy(dst, &w, sizeof w);
    } else {
        memcpy(dst, &v, sizeof v);
    }
    return NULL;
}

/* Byte classes for jid_fast_ok: JC_WORD for ASCII letters, digits and '-'; JC_RES for
   the printable ASCII a resource may hold without the full check (0x21..0x7e). */
enum { JC_WORD = 1, JC_RES = 2 };
static const uint8_t jid_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 2,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2,
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2,
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* What jid_fast_ok knows of the bytes before the one it looks at. */
struct jid_scan {
    size_t at, dstart; /* the '@' (SIZE_MAX: none yet) and where the domain starts */
    bool dom_bad;      /* '_' or ".." since dstart */
};

/* A byte p[i] that is not a letter, digit or '-': 0 to go on, 1 at the '/' that ends
   the domain, -1 when the JID needs the full check. */
static inline int jid_special(const unsigned char *p, size_t i, struct jid_scan *st)
{
    unsigned char c = p[i];
    if (c == '.') {
        if (i > st->dstart && p[i - 1] == '.')
            st->dom_bad = true;
    } else if (c == '_') {
        st->dom_bad = true;
    } else if (c == '@' && st->at == SIZE_MAX) {
        st->at = i;
        st->dstart = i + 1;
        st->dom_bad = false; /* what came before was the localpart */
    } else if (c == '/') {
        return 1;
    } else {
        return -1;
    }
    return 0;
}

/* The checks of the localpart and domain once the domain ends at slash (len when there
   is no resource), and of the resource's length. */
static inline bool jid_shape_ok(const unsigned char *p, size_t len, size_t slash, const struct jid_scan *st)
{
    if (st->at == 0 || st->at > 1023 || slash == st->dstart || slash - st->dstart > 1023 || st->dom_bad)
        return false;
    if (p[st->dstart] == '.' || p[slash - 1] == '.')
        return false;
    if (slash < len) {
        size_t rlen = len - slash - 1;
        if (rlen == 0 || rlen > 1023)
            return false;
    }
    return true;
}

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>

/* Bits j of *odd: byte j of v is not an ASCII letter, digit or '-' (JC_WORD); of *res:
   it is not printable ASCII 0x21..0x7e (JC_RES). */
static inline void jid_block(__m128i v, unsigned *odd, unsigned *res)
{
    __m128i lo = _mm_or_si128(v, _mm_set1_epi8(0x20)); /* ASCII letters folded to lower case */
    __m128i word = _mm_or_si128(
        _mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(lo, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(lo, _mm_set1_epi8('z' + 1))),
                     _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)))),
        _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    __m128i print = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmplt_epi8(v, _mm_set1_epi8(0x7f)));
    *odd = ~(unsigned)_mm_movemask_epi8(word) & 0xFFFFu;
    *res = ~(unsigned)_mm_movemask_epi8(print) & 0xFFFFu;
}

/* jid_fast_ok for 16 <= len <= 64: the classes of all bytes at once, in two masks
   (the last 16 bytes are loaded whole, less those seen before). */
static bool jid_fast_ok_sse2(const unsigned char *p, size_t len)
{
    uint64_t odd = 0, res = 0;
    unsigned o, r;
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        jid_block(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), &o, &r);
        odd |= (uint64_t)o << i;
        res |= (uint64_t)r << i;
    }
    if (i < len) {
        jid_block(_mm_loadu_si128((const __m128i *)(const void *)(p + len - 16)), &o, &r);
        odd |= (uint64_t)(o >> (i + 16 - len)) << i;
        res |= (uint64_t)(r >> (i + 16 - len)) << i;
    }
    struct jid_scan st = { SIZE_MAX, 0, false };
    size_t slash = len;
    for (; odd; odd &= odd - 1) {
        size_t k = (size_t)__builtin_ctzll(odd);
        int rc = jid_special(p, k, &st);
        if (rc < 0)
            return false;
        if (rc) {
            slash = k;
            break;
        }
    }
    if (!jid_shape_ok(p, len, slash, &st))
        return false;
    return slash == len || !(res >> (slash + 1)); /* slash + 1 < len: the resource is not empty */
}
#endif

/* A one-pass check of the common JID shape: ASCII local@domain/resource with plain
   characters (letters, digits, '.', '-', '_'; in the domain no '_', no empty label, no
   leading or trailing dot).  true means valid; false means "ask pxmpp_jid_check". */
static bool jid_fast_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
#if defined(__SSE2__) && defined(__GNUC__)
    if (len >= 16 && len <= 64)
        return jid_fast_ok_sse2(p, len);
#endif
    struct jid_scan st = { SIZE_MAX, 0, false };
    size_t i = 0;
    for (;; i++) {
        while (i < len && (jid_class[p[i]] & JC_WORD))
            i++;
        if (i == len)
            break;
        int rc = jid_special(p, i, &st);
        if (rc < 0)
            return false;
        if (rc)
            break;
    }
    if (!jid_shape_ok(p, len, i, &st))
        return false;
    for (size_t k = i + 1; k < len; k++)
        if (!(jid_class[p[k]] & JC_RES))
            return false;
    return true;
}

static bool xml_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

const char *pxmpp__value_parse(pxmpp_arena *a, const pxmpp_field_desc *f, uint8_t vtype,
                               const char *s, size_t len, void *dst, bool s_in_arena)
{
    if (vtype != PXMPP_V_STRING && len && (xml_space(s[0]) || xml_space(s[len - 1]))) {
        /* whiteSpace="collapse" of the types that are not free text: surrounding white
           space is not part of the value (a copy is made unless the value ends where s does) */
        while (len && xml_space(s[0])) {
            s++;
            len--;
        }
        while (len && xml_space(s[len - 1]))
            len--;
        s_in_arena = false;
    }
    switch (vtype) {
    case PXMPP_V_ENUM: {
        int v = pxmpp__enum_lookup(f->enum_desc, s, len);
        if (v < 0)
            return "unknown value";
        memcpy(dst, &v, sizeof v);
        return NULL;
    }
    case PXMPP_V_BOOL: {
        bool v;
        if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 1 && s[0] == '1'))
            v = true;
        else if ((len == 5 && memcmp(s, "false", 5) == 0) || (len == 1 && s[0] == '0'))
            v = false;
        else
            return "not a boolean";
        memcpy(dst, &v, sizeof v);
        return NULL;
    }
    case PXMPP_V_INT:
        return parse_int(f, s, len, dst);
    case PXMPP_V_JID:
        if (!jid_fast_ok(s, len) && pxmpp_jid_check(s, len) != 0)
            return "malformed JID";
        break;
    case PXMPP_V_DATETIME:
        if (!check_datetime(s, len))
            return "not an XEP-0082 DateTime";
        break;
    case PXMPP_V_DATE:
        if (!check_date(s, len))
            return "not an XEP-0082 Date";
        break;
    case PXMPP_V_TIME:
        if (!check_time(s, len))
            return "not an XEP-0082 Time";
        break;
    case PXMPP_V_BASE64:
        if (!check_base64(s, len))
            return "not base64";
        break;
    default:
        break;
    }
    const char *copy = s_in_arena ? s : pxmpp__arena_strndup(a, s, len);
    if (!copy)
        return "out of memory";
    memcpy(dst, &copy, sizeof copy);
    return NULL;
}

bool pxmpp__value_present(const pxmpp_field_desc *f, uint8_t vtype, const void *src, bool present_bit)
{
    switch (vtype) {
    case PXMPP_V_ENUM: {
        int v;
        memcpy(&v, src, sizeof v);
        if (v <= 0)
            return false;
        if (f->has_default && v == f->def && !present_bit)
            return false;
        return true;
    }
    case PXMPP_V_BOOL: {
        bool v;
        memcpy(&v, src, sizeof v);
        return present_bit || v != (f->has_default ? f->def != 0 : false);
    }
    case PXMPP_V_INT: {
        int64_t v;
        if (f->width == 4) {
            int32_t w;
            memcpy(&w, src, sizeof w);
            v = w;
        } else {
            memcpy(&v, src, sizeof v);
        }
        return present_bit || v != (f->has_default ? f->def : 0);
    }
    default: {
        const char *p;
        memcpy(&p, src, sizeof p);
        return p != NULL;
    }
    }
}

const char *pxmpp__value_format(const pxmpp_field_desc *f, uint8_t vtype, const void *src,
                                char *buf, size_t cap)
{
    switch (vtype) {
    case PXMPP_V_ENUM: {
        int v;
        memcpy(&v, src, sizeof v);
        if (v <= 0 || v >= f->enum_desc->count)
            return NULL;
        return f->enum_desc->values[v];
    }
    case PXMPP_V_BOOL: {
        bool v;
        memcpy(&v, src, sizeof v);
        return v ? "true" : "false";
    }
    case PXMPP_V_INT: {
        int64_t v;
        if (f->width == 4) {
            int32_t w;
            memcpy(&w, src, sizeof w);
            v = w;
        } else {
            memcpy(&v, src, sizeof v);
        }
        if (v < f->min || v > f->max)
            return NULL;
        snprintf(buf, cap, "%" PRId64, v);
        return buf;
    }
    default: {
        const char *p;
        memcpy(&p, src, sizeof p);
        return p;
    }
    }
}
