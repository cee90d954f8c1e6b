/*
 * jid.c - XMPP addresses: structural checks (RFC 7622 §3), normalization with
 * the RFC 6122 stringprep profiles (GNU libidn), formatting and comparison.
 */
#include "pxmpp/jid.h"
#include "pxmpp/error.h"

#include <string.h>

#include <stringprep.h>

/* ------------------------------------------------------------------------ */
/* Byte-level helpers                                                        */
/* ------------------------------------------------------------------------ */

/* Length (1..4) of the well-formed UTF-8 sequence that starts at p, given that
 * n >= 1 bytes are available, or 0 if the bytes there are not well-formed
 * (overlong forms, surrogates and values above U+10FFFF are rejected). */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t k;

    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;               /* continuation byte, or overlong C0/C1 lead */
    if (c < 0xE0)
        k = 2;
    else if (c < 0xF0) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0;          /* overlong */
        else if (c == 0xED)
            hi = 0x9F;          /* UTF-16 surrogates */
    } else if (c < 0xF5) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90;          /* overlong */
        else if (c == 0xF4)
            hi = 0x8F;          /* above U+10FFFF */
    } else
        return 0;

    if (n < k || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return k;
}

static bool is_ascii_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

static bool is_ascii_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static void ascii_lower(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
}

/* ------------------------------------------------------------------------ */
/* IP literals (RFC 3986 §3.2.2)                                             */
/* ------------------------------------------------------------------------ */

/* dec-octet "." dec-octet "." dec-octet "." dec-octet, no leading zeros. */
static bool ipv4_valid(const char *s, size_t n)
{
    size_t i = 0;

    for (int octet = 0; octet < 4; octet++) {
        size_t start = i;
        unsigned value = 0;

        if (octet > 0) {
            if (i >= n || s[i] != '.')
                return false;
            start = ++i;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
            value = value * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        if (i == start || value > 255 || (i - start > 1 && s[start] == '0'))
            return false;
    }
    return i == n;
}

/* RFC 4291 §2.2 text form: eight groups of 1-4 hex digits, one "::" standing
 * for one or more zero groups, and optionally an IPv4 address in place of the
 * last two groups.  No zone identifier. */
static bool ipv6_valid(const char *s, size_t n)
{
    size_t i = 0;
    unsigned groups = 0;
    bool compressed = false;

    if (n < 2)
        return false;
    if (s[0] == ':') {
        if (s[1] != ':')
            return false;
        compressed = true;
        i = 2;
        if (i == n)
            return true;        /* "::" */
    }
    for (;;) {
        size_t start = i;

        while (i < n && is_hex((unsigned char)s[i]))
            i++;
        if (i < n && s[i] == '.') {
            /* embedded IPv4 address: must be the last element */
            if (!ipv4_valid(s + start, n - start))
                return false;
            groups += 2;
            break;
        }
        if (i == start || i - start > 4)
            return false;
        groups++;
        if (i == n)
            break;
        if (s[i] != ':' || groups >= 8)
            return false;
        i++;
        if (i < n && s[i] == ':') {
            if (compressed)
                return false;
            compressed = true;
            i++;
            if (i == n)
                break;          /* trailing "::" */
        } else if (i == n) {
            return false;       /* trailing single ':' */
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

/* ------------------------------------------------------------------------ */
/* Structural checks of one part                                             */
/* ------------------------------------------------------------------------ */

static int check_local(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    if (n == 0)
        return PXMPP_ERR_JID_EMPTY;
    if (n > PXMPP_JID_PART_MAX)
        return PXMPP_ERR_JID_TOO_LONG;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];

        if (c < 0x80) {
            switch (c) {
            case ' ': case '"': case '&': case '\'': case '/':
            case ':': case '<': case '>': case '@':
                return PXMPP_ERR_JID_LOCAL;
            default:
                if (is_ascii_ctl(c))
                    return PXMPP_ERR_JID_LOCAL;
            }
            i++;
        } else {
            size_t k = utf8_seq_len(p + i, n - i);
            if (k == 0)
                return PXMPP_ERR_JID_UTF8;
            i += k;
        }
    }
    return 0;
}

/* allow_trailing_dot: accept one final '.' (input form); normalized domains
 * have had it stripped and must not end with '.'. */
static int check_domain(const char *s, size_t n, bool allow_trailing_dot)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t label = 0;

    if (n == 0)
        return PXMPP_ERR_JID_EMPTY;
    if (n > PXMPP_JID_PART_MAX)
        return PXMPP_ERR_JID_TOO_LONG;
    if (p[0] == '[') {
        if (n >= 2 && p[n - 1] == ']' && ipv6_valid(s + 1, n - 2))
            return 0;
        return PXMPP_ERR_JID_DOMAIN;
    }
    if (n == 1 && p[0] == '.')
        return PXMPP_ERR_JID_EMPTY;     /* nothing left once the dot goes */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];

        if (c == '.') {
            if (label == 0)
                return PXMPP_ERR_JID_DOMAIN;    /* empty label */
            label = 0;
            i++;
            continue;
        }
        if (c < 0x80) {
            if (!is_ascii_alnum(c) && c != '-' && c != '_')
                return PXMPP_ERR_JID_DOMAIN;
            i++;
        } else {
            size_t k = utf8_seq_len(p + i, n - i);
            if (k == 0)
                return PXMPP_ERR_JID_UTF8;
            i += k;
        }
        label++;
    }
    if (label == 0 && !allow_trailing_dot)
        return PXMPP_ERR_JID_DOMAIN;            /* ends with '.' */
    return 0;
}

static int check_resource(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    if (n == 0)
        return PXMPP_ERR_JID_EMPTY;
    if (n > PXMPP_JID_PART_MAX)
        return PXMPP_ERR_JID_TOO_LONG;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];

        if (c < 0x80) {
            if (is_ascii_ctl(c))
                return PXMPP_ERR_JID_RESOURCE;
            i++;
        } else {
            size_t k = utf8_seq_len(p + i, n - i);
            if (k == 0)
                return PXMPP_ERR_JID_UTF8;
            i += k;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Splitting                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct jid_span {
    const char *local, *domain, *resource;
    size_t local_len, domain_len, resource_len;
    bool has_local, has_resource;
} jid_span;

/* s must not be NULL (len may be 0). */
static void split(const char *s, size_t len, jid_span *sp)
{
    const char *slash = memchr(s, '/', len);
    size_t bare_len = slash ? (size_t)(slash - s) : len;
    const char *at = memchr(s, '@', bare_len);

    memset(sp, 0, sizeof *sp);
    if (at) {
        sp->has_local = true;
        sp->local = s;
        sp->local_len = (size_t)(at - s);
        sp->domain = at + 1;
        sp->domain_len = bare_len - sp->local_len - 1;
    } else {
        sp->domain = s;
        sp->domain_len = bare_len;
    }
    if (slash) {
        sp->has_resource = true;
        sp->resource = slash + 1;
        sp->resource_len = len - bare_len - 1;
    }
}

static int check_span(const jid_span *sp)
{
    int r;

    if (sp->has_local && (r = check_local(sp->local, sp->local_len)) != 0)
        return r;
    if ((r = check_domain(sp->domain, sp->domain_len, true)) != 0)
        return r;
    if (sp->has_resource &&
        (r = check_resource(sp->resource, sp->resource_len)) != 0)
        return r;
    return 0;
}

int pxmpp_jid_check(const char *s, size_t len)
{
    jid_span sp;

    if (s == NULL)
        return len ? PXMPP_ERR_INVALID_ARGUMENT : PXMPP_ERR_JID_EMPTY;
    if (len == 0)
        return PXMPP_ERR_JID_EMPTY;
    split(s, len, &sp);
    return check_span(&sp);
}

/* ------------------------------------------------------------------------ */
/* Normalization                                                             */
/* ------------------------------------------------------------------------ */

static int map_stringprep_rc(int rc, int part_error)
{
    switch (rc) {
    case STRINGPREP_OK:
        return 0;
    case STRINGPREP_TOO_SMALL_BUFFER:
        return PXMPP_ERR_JID_TOO_LONG;  /* result does not fit in 1023 bytes */
    case STRINGPREP_MALLOC_ERROR:
        return PXMPP_ERR_NOMEM;
    case STRINGPREP_ICONV_ERROR:
        return PXMPP_ERR_JID_UTF8;
    default:
        return part_error;              /* prohibited, bidi, NFKC failure... */
    }
}

/* Runs a stringprep profile in place on buf, which holds a NUL-terminated
 * string and has room for PXMPP_JID_PART_MAX + 1 bytes; stores the new
 * length in *out_len. */
static int prep_in_place(char *buf, const Stringprep_profile *profile,
                         int part_error, size_t *out_len)
{
    size_t in_len = strlen(buf);
    int r = map_stringprep_rc(
        stringprep(buf, PXMPP_JID_PART_MAX + 1, (Stringprep_profile_flags)0,
                   profile),
        part_error);

    if (r != 0)
        return r;
    *out_len = strlen(buf);
    /* Keep the bytes after the NUL zero when the string got shorter. */
    if (*out_len < in_len)
        memset(buf + *out_len, 0, in_len - *out_len);
    return 0;
}

/* Whether s (at least 3 bytes) starts with one of the code points that IDNA
 * (RFC 3490 §3.1) treats as label separators besides '.':
 * U+3002 IDEOGRAPHIC FULL STOP, U+FF0E FULLWIDTH FULL STOP,
 * U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP. */
static bool is_idna_dot(const unsigned char *s)
{
    return (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x82) ||
           (s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x8E) ||
           (s[0] == 0xEF && s[1] == 0xBD && s[2] == 0xA1);
}

/* Normalizes a structurally valid domain d (n bytes) into out->domain. */
static int normalize_domain(pxmpp_jid *out, const char *d, size_t n)
{
    const unsigned char *p = (const unsigned char *)d;
    char mapped[PXMPP_JID_PART_MAX + 1];
    char label[PXMPP_JID_PART_MAX + 1];
    size_t m = 0, o = 0, start = 0;

    if (p[0] == '[') {                  /* IP literal: no IDNA processing */
        memcpy(out->domain, d, n);
        out->domain[n] = '\0';
        ascii_lower(out->domain, n);
        out->domain_len = (uint16_t)n;
        return 0;
    }

    /* Map the IDNA full stops to '.', so that labels can be split on '.'. */
    for (size_t i = 0; i < n;) {
        if (n - i >= 3 && is_idna_dot(p + i)) {
            mapped[m++] = '.';
            i += 3;
        } else {
            mapped[m++] = d[i++];
        }
    }
    /* RFC 7622 §3.2: strip one trailing dot before any other step. */
    if (m > 0 && mapped[m - 1] == '.')
        m--;
    if (m == 0)
        return PXMPP_ERR_JID_EMPTY;

    /* nameprep works per label: its bidi rule applies to each label, not to
     * the whole name (RFC 3490 §4.1). */
    for (;;) {
        const char *dot = memchr(mapped + start, '.', m - start);
        size_t end = dot ? (size_t)(dot - mapped) : m;
        size_t label_len = end - start;

        memcpy(label, mapped + start, label_len);
        label[label_len] = '\0';
        int r = prep_in_place(label, stringprep_nameprep,
                              PXMPP_ERR_JID_DOMAIN, &label_len);
        if (r != 0)
            return r;
        /* NFKC can turn a character into a dot (U+2024 -> ".", U+2488 ->
         * "1."); a label must not split into several that way. */
        if (memchr(label, '.', label_len) != NULL)
            return PXMPP_ERR_JID_DOMAIN;
        if (o + label_len + (end < m ? 1 : 0) > PXMPP_JID_PART_MAX)
            return PXMPP_ERR_JID_TOO_LONG;
        memcpy(out->domain + o, label, label_len);
        o += label_len;
        if (end == m)
            break;
        out->domain[o++] = '.';
        start = end + 1;
    }
    out->domain[o] = '\0';
    ascii_lower(out->domain, o);
    out->domain_len = (uint16_t)o;
    /* NFKC can also produce ASCII that is not allowed in a domain
     * (U+FF0F -> '/', U+FF20 -> '@', ...), and a label can map to nothing,
     * leaving an empty label (possibly the last one: "a." + U+00AD). */
    return check_domain(out->domain, o, false);
}

static int build(pxmpp_jid *out, const jid_span *sp, unsigned flags)
{
    size_t n = 0;
    int r = check_span(sp);

    if (r != 0)
        return r;

    if (!(flags & PXMPP_JID_NORMALIZE)) {
        if (sp->has_local) {
            memcpy(out->local, sp->local, sp->local_len);
            out->local_len = (uint16_t)sp->local_len;
            out->has_local = true;
        }
        memcpy(out->domain, sp->domain, sp->domain_len);
        out->domain_len = (uint16_t)sp->domain_len;
        if (sp->has_resource) {
            memcpy(out->resource, sp->resource, sp->resource_len);
            out->resource_len = (uint16_t)sp->resource_len;
            out->has_resource = true;
        }
        return 0;       /* the NULs are there: *out was zeroed */
    }

    if (sp->has_local) {
        memcpy(out->local, sp->local, sp->local_len);
        out->local[sp->local_len] = '\0';
        r = prep_in_place(out->local, stringprep_xmpp_nodeprep,
                          PXMPP_ERR_JID_LOCAL, &n);
        if (r == 0)
            r = check_local(out->local, n);
        if (r != 0)
            return r;
        out->local_len = (uint16_t)n;
        out->has_local = true;
    }

    r = normalize_domain(out, sp->domain, sp->domain_len);
    if (r != 0)
        return r;

    if (sp->has_resource) {
        memcpy(out->resource, sp->resource, sp->resource_len);
        out->resource[sp->resource_len] = '\0';
        r = prep_in_place(out->resource, stringprep_xmpp_resourceprep,
                          PXMPP_ERR_JID_RESOURCE, &n);
        if (r == 0)
            r = check_resource(out->resource, n);
        if (r != 0)
            return r;
        out->resource_len = (uint16_t)n;
        out->has_resource = true;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */
/* ------------------------------------------------------------------------ */

int pxmpp_jid_parse(pxmpp_jid *out, const char *s, size_t len, unsigned flags)
{
    jid_span sp;
    int r;

    if (out == NULL)
        return PXMPP_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    if ((flags & ~(unsigned)PXMPP_JID_NORMALIZE) != 0)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (s == NULL)
        return len ? PXMPP_ERR_INVALID_ARGUMENT : PXMPP_ERR_JID_EMPTY;
    if (len == 0)
        return PXMPP_ERR_JID_EMPTY;
    split(s, len, &sp);
    r = build(out, &sp, flags);
    if (r != 0)
        memset(out, 0, sizeof *out);
    return r;
}

int pxmpp_jid_from_parts(pxmpp_jid *out,
                         const char *local, size_t local_len,
                         const char *domain, size_t domain_len,
                         const char *resource, size_t resource_len,
                         unsigned flags)
{
    jid_span sp;
    int r;

    if (out == NULL)
        return PXMPP_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    if ((flags & ~(unsigned)PXMPP_JID_NORMALIZE) != 0 ||
        (local == NULL && local_len != 0) ||
        (domain == NULL && domain_len != 0) ||
        (resource == NULL && resource_len != 0))
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (domain == NULL)
        return PXMPP_ERR_JID_EMPTY;

    sp.local = local;
    sp.local_len = local_len;
    sp.has_local = local != NULL;
    sp.domain = domain;
    sp.domain_len = domain_len;
    sp.resource = resource;
    sp.resource_len = resource_len;
    sp.has_resource = resource != NULL;

    /* No extra check is needed for a '@' or '/' inside a part given
     * separately: the localpart and domainpart rules forbid both, and the
     * resourcepart may contain them. */
    r = build(out, &sp, flags);
    if (r != 0)
        memset(out, 0, sizeof *out);
    return r;
}

/* Appends n bytes of src at *pos, dropping whatever does not fit in cap - 1. */
static void append_trunc(char *buf, size_t cap, size_t *pos, const char *src,
                         size_t n)
{
    size_t room = cap - 1 - *pos;   /* caller guarantees *pos <= cap - 1 */

    if (n > room)
        n = room;
    memcpy(buf + *pos, src, n);
    *pos += n;
}

static size_t clamp_len(size_t n)
{
    return n > PXMPP_JID_PART_MAX ? PXMPP_JID_PART_MAX : n;
}

size_t pxmpp_jid_format(const pxmpp_jid *j, char *buf, size_t cap)
{
    size_t ll, dl, rl, need, pos = 0;

    if (j == NULL)
        return 0;
    ll = j->has_local ? clamp_len(j->local_len) : 0;
    dl = clamp_len(j->domain_len);
    rl = j->has_resource ? clamp_len(j->resource_len) : 0;
    need = (j->has_local ? ll + 1 : 0) + dl + (j->has_resource ? rl + 1 : 0);
    if (buf == NULL || cap == 0)
        return need;

    if (j->has_local) {
        append_trunc(buf, cap, &pos, j->local, ll);
        append_trunc(buf, cap, &pos, "@", 1);
    }
    append_trunc(buf, cap, &pos, j->domain, dl);
    if (j->has_resource) {
        append_trunc(buf, cap, &pos, "/", 1);
        append_trunc(buf, cap, &pos, j->resource, rl);
    }
    buf[pos] = '\0';
    return need;
}

static int normalize_str(const char *in, size_t len, char *out, size_t cap, size_t *out_len, bool bare)
{
    pxmpp_jid j;
    size_t need;
    int r;

    if (out_len != NULL)
        *out_len = 0;
    if (out == NULL && cap != 0)
        return PXMPP_ERR_INVALID_ARGUMENT;
    r = pxmpp_jid_parse(&j, in, len, PXMPP_JID_NORMALIZE);
    if (r != 0)
        return r;
    if (bare)
        pxmpp_jid_bare(&j, &j);
    need = pxmpp_jid_format(&j, NULL, 0);
    if (out_len != NULL)
        *out_len = need;
    if (need >= cap)
        return PXMPP_ERR_BUFFER_TOO_SMALL;
    pxmpp_jid_format(&j, out, cap);
    return 0;
}

int pxmpp_jid_normalize_str(const char *in, size_t len, char *out, size_t cap,
                            size_t *out_len)
{
    return normalize_str(in, len, out, cap, out_len, false);
}

int pxmpp_jid_bare_str(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    return normalize_str(in, len, out, cap, out_len, true);
}

void pxmpp_jid_bare(pxmpp_jid *out, const pxmpp_jid *in)
{
    if (out == NULL || in == NULL)
        return;
    if (out != in)
        *out = *in;
    memset(out->resource, 0, sizeof out->resource);
    out->resource_len = 0;
    out->has_resource = false;
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int r = n ? memcmp(a, b, n) : 0;

    if (r != 0)
        return r < 0 ? -1 : 1;
    return an < bn ? -1 : (an > bn ? 1 : 0);
}

static int optional_cmp(bool ha, const char *a, size_t an,
                        bool hb, const char *b, size_t bn)
{
    if (ha != hb)
        return ha ? 1 : -1;
    if (!ha)
        return 0;
    return bytes_cmp(a, clamp_len(an), b, clamp_len(bn));
}

/* Domain length for comparisons: one trailing '.' does not count. */
static size_t domain_cmp_len(const pxmpp_jid *j)
{
    size_t n = clamp_len(j->domain_len);

    if (n > 1 && j->domain[n - 1] == '.')
        n--;
    return n;
}

static int bare_cmp(const pxmpp_jid *a, const pxmpp_jid *b)
{
    int r = bytes_cmp(a->domain, domain_cmp_len(a),
                      b->domain, domain_cmp_len(b));

    if (r != 0)
        return r;
    return optional_cmp(a->has_local, a->local, a->local_len,
                        b->has_local, b->local, b->local_len);
}

int pxmpp_jid_compare(const pxmpp_jid *a, const pxmpp_jid *b)
{
    int r;

    if (a == NULL || b == NULL)     /* not allowed; keep the order total */
        return a == b ? 0 : (a == NULL ? -1 : 1);
    r = bare_cmp(a, b);
    if (r != 0)
        return r;
    return optional_cmp(a->has_resource, a->resource, a->resource_len,
                        b->has_resource, b->resource, b->resource_len);
}

bool pxmpp_jid_equal(const pxmpp_jid *a, const pxmpp_jid *b)
{
    return pxmpp_jid_compare(a, b) == 0;
}

bool pxmpp_jid_equal_bare(const pxmpp_jid *a, const pxmpp_jid *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return bare_cmp(a, b) == 0;
}
