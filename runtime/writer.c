/* The writer: typed structs and generic nodes -> element events -> bytes or nodes. */
#include "internal.h"

#include <pxmpp/writer.h>

#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

/* ---- buffer ---------------------------------------------------------------- */

/* Every internal writer keeps cap - len >= 1 beyond what it writes (room for the NUL),
   but writes the NUL only when a public call returns. */

void pxmpp_buf_init(pxmpp_buf *b, const pxmpp_mem *mem)
{
    memset(b, 0, sizeof *b);
    b->mem = *(mem ? mem : pxmpp_mem_default());
}

void pxmpp_buf_free(pxmpp_buf *b)
{
    if (b->data)
        b->mem.free(b->data, b->mem.ud);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Grows the buffer so that n more bytes and a NUL fit. */
static int buf_grow(pxmpp_buf *b, size_t n)
{
    if (n >= SIZE_MAX - b->len)
        return PXMPP_ERR_NOMEM;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap - b->len < n + 1) {
        if (ncap > SIZE_MAX / 2)
            return PXMPP_ERR_NOMEM;
        ncap *= 2;
    }
    char *p = b->mem.realloc(b->data, ncap, b->mem.ud);
    if (!p)
        return PXMPP_ERR_NOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

/* Makes room for n more bytes and a NUL. */
static inline int buf_reserve(pxmpp_buf *b, size_t n)
{
    if (b->cap - b->len > n)
        return 0;
    return buf_grow(b, n);
}

static inline void buf_terminate(pxmpp_buf *b)
{
    if (b->data)
        b->data[b->len] = '\0';
}

int pxmpp_buf_append(pxmpp_buf *b, const char *data, size_t len)
{
    if (buf_reserve(b, len))
        return PXMPP_ERR_NOMEM;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

/* Escaping.  A table maps each byte to 0 (copied as is), to its replacement (ESC_AMP ..
   ESC_TAB), to ESC_U8 (a byte >= 0x80: the UTF-8 sequence it starts is checked), to
   ESC_BAD (a control character XML does not allow) or to ESC_STOP (NUL, in the tables for
   NUL-terminated strings: the end). */
enum { ESC_AMP = 1, ESC_LT, ESC_GT, ESC_CR, ESC_APOS, ESC_LF, ESC_TAB, ESC_U8, ESC_BAD, ESC_STOP };

static const struct {
    char s[8];
    unsigned char len;
} esc_rep[ESC_U8] = {
    { "", 0 }, { "&amp;", 5 }, { "&lt;", 4 }, { "&gt;", 4 }, { "&#xD;", 5 }, { "&apos;", 6 }, { "&#xA;", 5 }, { "&#x9;", 5 },
};

#define ESC_COMMON ['&'] = ESC_AMP, ['<'] = ESC_LT, ['>'] = ESC_GT, ['\r'] = ESC_CR
#define ESC_ATTR_ONLY ['\''] = ESC_APOS, ['\n'] = ESC_LF, ['\t'] = ESC_TAB
/* XML 1.0 Char: no C0 control but tab, LF and CR (NUL is set by each table) */
#define ESC_C0                                                                                                       \
    [0x01] = ESC_BAD, [0x02] = ESC_BAD, [0x03] = ESC_BAD, [0x04] = ESC_BAD, [0x05] = ESC_BAD, [0x06] = ESC_BAD,       \
    [0x07] = ESC_BAD, [0x08] = ESC_BAD, [0x0B] = ESC_BAD, [0x0C] = ESC_BAD, [0x0E] = ESC_BAD, [0x0F] = ESC_BAD,       \
    [0x10] = ESC_BAD, [0x11] = ESC_BAD, [0x12] = ESC_BAD, [0x13] = ESC_BAD, [0x14] = ESC_BAD, [0x15] = ESC_BAD,       \
    [0x16] = ESC_BAD, [0x17] = ESC_BAD, [0x18] = ESC_BAD, [0x19] = ESC_BAD, [0x1A] = ESC_BAD, [0x1B] = ESC_BAD,       \
    [0x1C] = ESC_BAD, [0x1D] = ESC_BAD, [0x1E] = ESC_BAD, [0x1F] = ESC_BAD
#define ESC_U8_16(h)                                                                                                 \
    [h + 0x0] = ESC_U8, [h + 0x1] = ESC_U8, [h + 0x2] = ESC_U8, [h + 0x3] = ESC_U8, [h + 0x4] = ESC_U8,               \
    [h + 0x5] = ESC_U8, [h + 0x6] = ESC_U8, [h + 0x7] = ESC_U8, [h + 0x8] = ESC_U8, [h + 0x9] = ESC_U8,               \
    [h + 0xA] = ESC_U8, [h + 0xB] = ESC_U8, [h + 0xC] = ESC_U8, [h + 0xD] = ESC_U8, [h + 0xE] = ESC_U8,               \
    [h + 0xF] = ESC_U8
#define ESC_HIGH                                                                                                     \
    ESC_U8_16(0x80), ESC_U8_16(0x90), ESC_U8_16(0xA0), ESC_U8_16(0xB0), ESC_U8_16(0xC0), ESC_U8_16(0xD0),           \
    ESC_U8_16(0xE0), ESC_U8_16(0xF0)

static const unsigned char esc_text[256] = { ESC_COMMON, ESC_C0, ESC_HIGH, [0] = ESC_BAD };
static const unsigned char esc_text_line[256] = { ESC_COMMON, ['\n'] = ESC_LF, ESC_C0, ESC_HIGH, [0] = ESC_BAD };
static const unsigned char esc_attr[256] = { ESC_COMMON, ESC_ATTR_ONLY, ESC_C0, ESC_HIGH, [0] = ESC_BAD };
static const unsigned char esc_attr_z[256] = { ESC_COMMON, ESC_ATTR_ONLY, ESC_C0, ESC_HIGH, [0] = ESC_STOP };

/* The index of the first byte of s[i..len) that t does not map to 0, or len.  With a table
   that stops at NUL, len may be SIZE_MAX: bytes are read one at a time up to the stop. */
static inline size_t esc_scan(const unsigned char *s, size_t i, size_t len, const unsigned char *t)
{
    while (len - i >= 4) {
        if (t[s[i]])
            return i;
        if (t[s[i + 1]])
            return i + 1;
        if (t[s[i + 2]])
            return i + 2;
        if (t[s[i + 3]])
            return i + 3;
        i += 4;
    }
    while (i < len && !t[s[i]])
        i++;
    return i;
}

/* esc_scan for a string of known length (not SIZE_MAX), sixteen bytes at a time where SSE2
   is there (every x86-64): a block goes to the table only at the bytes that may need it,
   those below 0x20 or from 0x80 on and the four that a table may escape. */
static inline size_t esc_scan_len(const unsigned char *s, size_t i, size_t len, const unsigned char *t)
{
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i sp = _mm_set1_epi8(0x20), amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'),
                  gt = _mm_set1_epi8('>'), apos = _mm_set1_epi8('\'');
    while (len - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* as signed bytes, both >= 0x80 and < 0x20 compare below 0x20 */
        __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, sp),
                                 _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, lt)),
                                              _mm_or_si128(_mm_cmpeq_epi8(v, gt), _mm_cmpeq_epi8(v, apos))));
        for (unsigned bits = (unsigned)_mm_movemask_epi8(m); bits; bits &= bits - 1) {
            size_t k = i + (size_t)__builtin_ctz(bits);
            if (t[s[k]])
                return k;
        }
        i += 16;
    }
#endif
    return esc_scan(s, i, len, t);
}

/* The length of the UTF-8 sequence at u[i] (u[i] >= 0x80, i < len) when it is well formed
   (no overlong form, surrogate or value above U+10FFFF) and encodes a character XML allows
   (not U+FFFE or U+FFFF), else 0.  A byte is read only when the ones before it are a valid
   prefix, so a NUL ends a NUL-terminated string (len SIZE_MAX) in time. */
static inline size_t utf8_char(const unsigned char *u, size_t i, size_t len)
{
    unsigned c = u[i];
    size_t avail = len - i;
    if (c < 0xC2 || c > 0xF4 || avail < 2 || (u[i + 1] & 0xC0) != 0x80)
        return 0;
    if (c < 0xE0)
        return 2;
    unsigned c1 = u[i + 1];
    if (c < 0xF0) {
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || avail < 3 || (u[i + 2] & 0xC0) != 0x80)
            return 0;
        return c == 0xEF && c1 == 0xBF && u[i + 2] >= 0xBE ? 0 : 3;
    }
    if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F) || avail < 4 || (u[i + 2] & 0xC0) != 0x80 ||
        (u[i + 3] & 0xC0) != 0x80)
        return 0;
    return 4;
}

/* The bytes at u[i] (i < len) that one U+FFFD replaces: a control character, U+FFFE or
   U+FFFF whole; otherwise the maximal subpart of an ill-formed UTF-8 sequence (Unicode
   §3.9): its lead byte and the continuation bytes a well-formed sequence could have
   there, at least one byte. */
static size_t bad_len(const unsigned char *u, size_t i, size_t len)
{
    unsigned c = u[i], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return 1;
    }
    if (len - i < 2 || u[i + 1] < lo || u[i + 1] > hi)
        return 1;
    size_t k = 2;
    while (k <= need && len - i > k && (u[i + k] & 0xC0) == 0x80)
        k++;
    return k;
}

/* Appends s[0..len) (or up to its NUL, see esc_scan) escaped with table t, and leaves room
   for one more byte and a NUL (a closing quote).  No NUL is written.  Invalid UTF-8 and
   characters XML does not allow become U+FFFD with `replace`; without it the result is
   PXMPP_ERR_INVALID_CHAR with the offset of the first such byte in *bad (the bytes
   appended so far stay: the caller drops them). */
static int put_escaped(pxmpp_buf *b, const char *s, size_t len, const unsigned char *t, bool replace, size_t *bad)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, j = 0;
    for (;;) {
        j = len == SIZE_MAX ? esc_scan(u, j, len, t) : esc_scan_len(u, j, len, t);
        unsigned r = j < len ? t[u[j]] : ESC_STOP;
        if (r == ESC_U8) {
            size_t k = utf8_char(u, j, len);
            if (k) {
                /* a valid character: the run goes on, through the non-ASCII ones that follow */
                for (j += k; j < len && u[j] >= 0x80 && (k = utf8_char(u, j, len)); j += k)
                    ;
                continue;
            }
            r = ESC_BAD;
        }
        if (buf_reserve(b, (j - i) + (r == ESC_STOP ? 0 : sizeof esc_rep[0].s) + 1))
            return PXMPP_ERR_NOMEM;
        char *p = b->data + b->len;
        memcpy(p, s + i, j - i);
        p += j - i;
        b->len = (size_t)(p - b->data);
        if (r == ESC_STOP)
            return 0;
        if (r == ESC_BAD) {
            if (!replace) {
                *bad = j;
                return PXMPP_ERR_INVALID_CHAR;
            }
            memcpy(p, "\xEF\xBF\xBD", 3);
            b->len += 3;
            i = j = j + bad_len(u, j, len);
            continue;
        }
        memcpy(p, esc_rep[r].s, sizeof esc_rep[r].s);
        b->len += esc_rep[r].len;
        i = j = j + 1;
    }
}

size_t pxmpp__bad_char(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t j = 0;;) {
        j = esc_scan(u, j, SIZE_MAX, esc_attr_z);
        unsigned r = esc_attr_z[u[j]];
        if (r == ESC_STOP)
            return SIZE_MAX;
        if (r == ESC_BAD || (r == ESC_U8 && !utf8_char(u, j, SIZE_MAX)))
            return j;
        j += r == ESC_U8 ? utf8_char(u, j, SIZE_MAX) : 1;
    }
}

int pxmpp_buf_append_escaped_ex(pxmpp_buf *b, const char *s, size_t len, int in_attribute, unsigned flags)
{
    if (!b || (!s && len))
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (!len)
        return 0;
    size_t mark = b->len, bad;
    const unsigned char *t = in_attribute                   ? esc_attr
                             : (flags & PXMPP_WRITE_ONE_LINE) ? esc_text_line
                                                              : esc_text;
    int rc = put_escaped(b, s, len, t, flags & PXMPP_WRITE_REPLACE_INVALID, &bad);
    if (rc)
        b->len = mark;
    buf_terminate(b);
    return rc;
}

int pxmpp_buf_append_escaped(pxmpp_buf *b, const char *s, size_t len, int in_attribute)
{
    return pxmpp_buf_append_escaped_ex(b, s, len, in_attribute, 0);
}

/* ---- names ------------------------------------------------------------------------ */

/* The code point of the valid UTF-8 sequence of k bytes at u. */
static uint32_t utf8_value(const unsigned char *u, size_t k)
{
    if (k == 2)
        return ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
    if (k == 3)
        return ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
    return ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
}

/* XML 1.0 (fifth edition) §2.3: may c begin a Name (start) or continue one?  ':' is left
   out: an NCName (Namespaces in XML 1.0 §3) has none. */
static bool name_char(uint32_t c, bool start)
{
    if (c < 0x80)
        return ((c | 0x20) - 'a' < 26u) || c == '_' || (!start && (c - '0' < 10u || c == '-' || c == '.'));
    if ((c >= 0xC0 && c <= 0xD6) || (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0x2FF) ||
        (c >= 0x370 && c <= 0x37D) || (c >= 0x37F && c <= 0x1FFF) || c == 0x200C || c == 0x200D ||
        (c >= 0x2070 && c <= 0x218F) || (c >= 0x2C00 && c <= 0x2FEF) || (c >= 0x3001 && c <= 0xD7FF) ||
        (c >= 0xF900 && c <= 0xFDCF) || (c >= 0xFDF0 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0xEFFFF))
        return true;
    return !start && (c == 0xB7 || (c >= 0x300 && c <= 0x36F) || c == 0x203F || c == 0x2040);
}

/* The offset of the first byte of the NUL-terminated s that keeps it from being an NCName
   (0 for an empty one), or SIZE_MAX when it is one. */
static size_t bad_ncname(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (u[i]) {
        size_t k = u[i] < 0x80 ? 1 : utf8_char(u, i, SIZE_MAX);
        if (!k || !name_char(k == 1 ? u[i] : utf8_value(u + i, k), i == 0))
            return i;
        i += k;
    }
    return i ? SIZE_MAX : 0;
}

/* ---- the walk ---------------------------------------------------------------- */

/* The byte sink (below) the walk writes into.  checks: PXMPP__CHECK_* for what comes from
   the application or the peer (the names of the descriptors are known to be fine);
   names: check the attribute's name and namespace, and that it was not given yet. */
static int bs_start(pxmpp__sink *s, const char *ns, const char *local, unsigned checks);
static int bs_attr(pxmpp__sink *s, const char *ns, const char *local, const char *value, bool names);
static int bs_text(pxmpp__sink *s, const char *text, size_t len);
static int bs_end(pxmpp__sink *s);

int pxmpp__emit_node(pxmpp__sink *s, const pxmpp_node *n)
{
    int rc;
    if (!n->local)
        return n->text ? bs_text(s, n->text, strlen(n->text)) : 0;
    if ((rc = bs_start(s, n->ns, n->local, PXMPP__CHECK_NAME | (n->attrs_count > 1 ? PXMPP__CHECK_ATTRS : 0))))
        return rc;
    for (size_t i = 0; i < n->attrs_count; i++)
        if ((rc = bs_attr(s, n->attrs[i].ns, n->attrs[i].local, n->attrs[i].value, true)))
            return rc;
    for (size_t i = 0; i < n->children_count; i++)
        if ((rc = pxmpp__emit_node(s, &n->children[i])))
            return rc;
    return bs_end(s);
}

static int emit_text_element(pxmpp__sink *s, const char *ns, const char *local, const char *text)
{
    int rc;
    if ((rc = bs_start(s, ns, local, 0)))
        return rc;
    if (text && *text && (rc = bs_text(s, text, strlen(text))))
        return rc;
    return bs_end(s);
}

static int emit_lang_text(pxmpp__sink *s, const char *ns, const char *local, const pxmpp_lang_text *lt)
{
    int rc;
    if ((rc = bs_start(s, ns, local, lt->meta.extra_attrs_count ? PXMPP__CHECK_ATTRS : 0)))
        return rc;
    if (lt->lang && (rc = bs_attr(s, PXMPP_NS_XML, "lang", lt->lang, false)))
        return rc;
    for (size_t i = 0; i < lt->meta.extra_attrs_count; i++)
        if ((rc = bs_attr(s, lt->meta.extra_attrs[i].ns, lt->meta.extra_attrs[i].local, lt->meta.extra_attrs[i].value,
                          true)))
            return rc;
    if (lt->text && *lt->text && (rc = bs_text(s, lt->text, strlen(lt->text))))
        return rc;
    for (size_t i = 0; i < lt->meta.extra_nodes_count; i++)
        if ((rc = pxmpp__emit_node(s, &lt->meta.extra_nodes[i])))
            return rc;
    return bs_end(s);
}

/* Writes item number `idx` of field f (returns 1 if there was nothing to write). */
static int emit_item(pxmpp__sink *s, const pxmpp_type_desc *d, uint16_t k, const void *obj, size_t idx,
                     const char *elem_ns, const char *content_ns)
{
    const pxmpp_field_desc *f = &d->fields[k];
    const pxmpp_meta *m = obj;
    const char *fns = f->ns ? f->ns : elem_ns;
    bool list = f->flags & PXMPP_FF_LIST;
    char buf[32];
    switch (f->kind) {
    case PXMPP_F_CHILD: {
        const char *base = pxmpp__get_ptr(obj, f->offset);
        if (!base || (list && idx >= pxmpp__get_size(obj, f->aux_offset)) || (!list && idx > 0))
            return 1;
        return pxmpp__emit_typed_in(s, f->child, base + idx * f->child->size, content_ns, elem_ns);
    }
    case PXMPP_F_TEXT_CHILD: {
        const char *src;
        if (list) {
            const char *arr = pxmpp__get_ptr(obj, f->offset);
            if (!arr || idx >= pxmpp__get_size(obj, f->aux_offset))
                return 1;
            src = arr + idx * pxmpp__value_size(f);
        } else {
            src = (const char *)obj + f->offset;
            if (idx > 0 || !pxmpp__value_present(f, f->vtype, src, (m->present >> k) & 1u))
                return 1;
        }
        const char *v = pxmpp__value_format(f, f->vtype, src, buf, sizeof buf);
        if (!v)
            return list && pxmpp__value_is_string(f) ? 1 : PXMPP_ERR_VALUE; /* a NULL string in a list is skipped */
        if (f->value_attr) {
            int rc;
            if ((rc = bs_start(s, fns, f->local, 0)) || (rc = bs_attr(s, NULL, f->value_attr, v, false)))
                return rc;
            return bs_end(s);
        }
        return emit_text_element(s, fns, f->local, v);
    }
    case PXMPP_F_LANG_TEXT: {
        const pxmpp_lang_text *arr = pxmpp__get_ptr(obj, f->offset);
        if (!arr || idx >= pxmpp__get_size(obj, f->aux_offset))
            return 1;
        return emit_lang_text(s, fns, f->local, &arr[idx]);
    }
    case PXMPP_F_FLAG: {
        bool v;
        memcpy(&v, (const char *)obj + f->offset, sizeof v);
        if (!v || idx > 0)
            return 1;
        return emit_text_element(s, fns, f->local, NULL);
    }
    case PXMPP_F_CONDITION: {
        int v;
        memcpy(&v, (const char *)obj + f->offset, sizeof v);
        if (v <= 0 || idx > 0)
            return 1;
        if (v >= f->enum_desc->count)
            return PXMPP_ERR_VALUE;
        return emit_text_element(s, f->ns, f->enum_desc->values[v], pxmpp__get_ptr(obj, f->aux_offset));
    }
    case PXMPP_F_PAYLOADS: {
        const pxmpp_payload *arr = pxmpp__get_ptr(obj, f->offset);
        if (!arr || idx >= pxmpp__get_size(obj, f->aux_offset))
            return 1;
        const pxmpp_payload *p = &arr[idx];
        if (p->type && p->data) {
            /* a payload that broke its schema is written as it came (a missing required
               value stays missing) */
            bool lenient = s->lenient;
            s->lenient = lenient || p->invalid;
            int rc = pxmpp__emit_typed_in(s, p->type, p->data, content_ns, elem_ns);
            s->lenient = lenient;
            return rc;
        }
        if (p->node)
            return pxmpp__emit_node(s, p->node);
        return 1;
    }
    default:
        return 1;
    }
}

static size_t field_items(const pxmpp_field_desc *f, const void *obj)
{
    if (f->flags & PXMPP_FF_LIST)
        return pxmpp__get_ptr(obj, f->offset) ? pxmpp__get_size(obj, f->aux_offset) : 0;
    return 1;
}

/* The namespace d is written in: the one it was parsed in, else its parent's when that is one
   of its own, else its first (see pxmpp_meta.ns_index). */
static const char *type_ns(const pxmpp_type_desc *d, const pxmpp_meta *m, const char *content_ns,
                           const char *parent_ns)
{
    if (!d->ns_list)
        return d->ns ? d->ns : content_ns;
    size_t n = 0;
    while (d->ns_list[n])
        n++;
    if (m->ns_index > 0 && m->ns_index <= n)
        return d->ns_list[m->ns_index - 1];
    for (size_t i = 0; parent_ns && i < n; i++)
        if (strcmp(d->ns_list[i], parent_ns) == 0)
            return d->ns_list[i];
    return d->ns;
}

int pxmpp__emit_typed(pxmpp__sink *s, const pxmpp_type_desc *d, const void *obj, const char *content_ns)
{
    return pxmpp__emit_typed_in(s, d, obj, content_ns, NULL);
}

int pxmpp__emit_typed_in(pxmpp__sink *s, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                         const char *parent_ns)
{
    const pxmpp_meta *m = obj;
    const char *ns = type_ns(d, m, content_ns, parent_ns);
    char buf[32];
    int rc;
    const char *local = pxmpp__type_local_of(d, obj);
    if (!local)
        return PXMPP_ERR_VALUE; /* a one-of element without a name */
    if ((rc = bs_start(s, ns, local, m->extra_attrs_count ? PXMPP__CHECK_ATTRS : 0)))
        return rc;
    const pxmpp_field_desc *textf = NULL;
    uint16_t textk = 0;
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        if (f->kind == PXMPP_F_TEXT) {
            textf = f;
            textk = k;
        }
        if (f->kind != PXMPP_F_ATTR)
            continue;
        const void *src = (const char *)obj + f->offset;
        if (!pxmpp__value_present(f, f->vtype, src, (m->present >> k) & 1u)) {
            if ((f->flags & PXMPP_FF_REQUIRED) && !s->lenient)
                return PXMPP_ERR_VALUE;
            continue;
        }
        const char *v = pxmpp__value_format(f, f->vtype, src, buf, sizeof buf);
        if (!v) {
            int ev = 0;
            if (f->vtype == PXMPP_V_ENUM)
                memcpy(&ev, src, sizeof ev);
            if (f->vtype == PXMPP_V_ENUM && ev > 0 && ev < f->enum_desc->count)
                continue; /* an implied value (presence 'available') is never written */
            return PXMPP_ERR_VALUE;
        }
        if ((rc = bs_attr(s, f->ns, f->local, v, false)))
            return rc;
    }
    for (size_t i = 0; i < m->extra_attrs_count; i++)
        if ((rc = bs_attr(s, m->extra_attrs[i].ns, m->extra_attrs[i].local, m->extra_attrs[i].value, true)))
            return rc;
    if (textf) {
        /* a typed text (int, bool, enum, ...) is written in its canonical form, when present */
        const void *src = (const char *)obj + textf->offset;
        bool present = textk < 32 && ((m->present >> textk) & 1u);
        if (pxmpp__value_present(textf, textf->vtype, src, present)) {
            const char *t = pxmpp__value_format(textf, textf->vtype, src, buf, sizeof buf);
            if (!t)
                return PXMPP_ERR_VALUE;
            if (*t && (rc = bs_text(s, t, strlen(t))))
                return rc;
        }
    }
    /* children: document order first, then whatever the order record does not cover */
    size_t cursor[32] = { 0 };
    size_t extra = 0;
    for (size_t i = 0; i < m->order_count; i++) {
        uint16_t k = m->order[i];
        if (k == PXMPP_ORDER_EXTRA) {
            if (extra < m->extra_nodes_count && (rc = pxmpp__emit_node(s, &m->extra_nodes[extra++])))
                return rc;
            continue;
        }
        if (k >= d->fields_count || k >= 32)
            continue;
        rc = emit_item(s, d, k, obj, cursor[k]++, ns, content_ns);
        if (rc < 0)
            return rc;
    }
    for (uint16_t k = 0; k < d->fields_count && k < 32; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        if (f->kind == PXMPP_F_ATTR || f->kind == PXMPP_F_TEXT)
            continue;
        size_t n = field_items(f, obj);
        for (; cursor[k] < n; cursor[k]++) {
            rc = emit_item(s, d, k, obj, cursor[k], ns, content_ns);
            if (rc < 0)
                return rc;
        }
    }
    for (; extra < m->extra_nodes_count; extra++)
        if ((rc = pxmpp__emit_node(s, &m->extra_nodes[extra])))
            return rc;
    return bs_end(s);
}

/* ---- byte sink ---------------------------------------------------------------- */

#define BSINK_DEPTH 256
#define SEEN_INLINE 16 /* attributes of one start tag compared one by one; more are hashed */

#define NS_XMLNS "http://www.w3.org/2000/xmlns/"

/* An attribute written on the open start tag. */
typedef struct seen_attr {
    const char *ns, *local;
} seen_attr;

#define NS_INLINE 16     /* distinct namespaces and prefix bindings kept inline; more go to the heap */
#define NS_IX_INLINE 64  /* slots of the inline hash index of the namespaces */
#define REDECLARE_FREE 512 /* bytes of namespaces declared again that a write may always spend */

/* A namespace the write declared (as a default or a prefix). */
typedef struct ns_entry {
    const char *ns;
    uint32_t hash;
    int32_t bound;     /* the number of its prefix binding in scope (prefix "ns<number>"), or -1 */
    uint32_t declared; /* declarations of it written by the first pass */
    bool hoist;        /* the second pass declares it on the root (declared more than once) */
} ns_entry;

/* A prefix binding in scope: the namespace (index in ns) and the depth of the element that
   declares it.  Its number is its position on the stack, so that no two bindings in scope
   have the same prefix. */
typedef struct ns_binding {
    uint32_t entry;
    uint32_t depth;
} ns_binding;

/* Only depth, open, declare_root, dns[0] and the fields bsink_init sets are set up front;
   the per-depth arrays are written by bs_start before they are read. */
typedef struct bsink {
    pxmpp__sink base;
    pxmpp_buf *out;
    size_t depth;
    bool open; /* start tag not yet closed */
    bool declare_root;
    bool one_line; /* PXMPP_WRITE_ONE_LINE */
    bool replace;  /* PXMPP_WRITE_REPLACE_INVALID */
    bool record;   /* the open start tag's attributes are recorded in seen (PXMPP__CHECK_ATTRS) */
    pxmpp_write_fault *fault;
    /* the attributes of the open start tag, for the check that none is given twice:
       compared one by one up to SEEN_INLINE, then through a hash index (1 + position in
       seen, 0: empty slot); the heap arrays come from out's allocator */
    seen_attr seen_inl[SEEN_INLINE];
    seen_attr *seen;
    size_t seen_n, seen_cap;
    uint32_t *seen_ix;
    size_t seen_ix_size;
    bool seen_ix_used;
    /* the namespaces declared so far (ns, with a hash index: 1 + position in ns, 0: empty
       slot) and the prefix bindings in scope (bind, a stack); the heap arrays come from
       out's allocator */
    ns_entry ns_inl[NS_INLINE];
    ns_entry *ns;
    size_t ns_n, ns_cap;
    uint32_t ns_ix_inl[NS_IX_INLINE];
    uint32_t *ns_ix;
    size_t ns_ix_size;
    ns_binding bind_inl[NS_INLINE];
    ns_binding *bind;
    size_t bind_n, bind_cap;
    /* the amplification bound (see writer.h): bytes of declarations of a namespace declared
       before in this write; over the budget the first pass goes on without keeping its
       output (dry) to count the declarations, and a second one (hoisting) declares the
       namespaces declared more than once on the root */
    size_t mark, declared, redeclared;
    size_t end_at; /* bs_end has more to do below this depth: the innermost binding's, or
                      SIZE_MAX in a dry pass */
    bool dry, hoisting;
    const char *dns[BSINK_DEPTH + 1]; /* default namespace in scope at each depth */
    int32_t epfx[BSINK_DEPTH];        /* the prefix binding of each element's name, or -1
                                         (set and read in the second pass only) */
    const char *local[BSINK_DEPTH];
    size_t llen[BSINK_DEPTH];
} bsink;

static bool same_ns(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* Records why the write fails and returns code (out of line: the callers' common path
   stays short). */
__attribute__((noinline, cold)) static int bs_fault(bsink *b, int code, const char *part, const char *reason, const char *element,
                    const char *attribute, size_t offset)
{
    if (b->fault)
        *b->fault = (pxmpp_write_fault){ code, part, reason, element, attribute, offset };
    return code;
}

static uint32_t attr_hash(const char *ns, const char *local)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)local; *p; p++)
        h = (h ^ *p) * 16777619u;
    h *= 16777619u;
    for (const unsigned char *p = (const unsigned char *)(ns ? ns : ""); *p; p++)
        h = (h ^ *p) * 16777619u;
    return h ^ (h >> 15);
}

static bool same_attr(const seen_attr *a, const char *ns, const char *local)
{
    return strcmp(a->local, local) == 0 && same_ns(a->ns, ns);
}

/* Puts seen[k] into the hash index (which has room). */
static void seen_index(bsink *b, size_t k)
{
    size_t mask = b->seen_ix_size - 1;
    size_t i = attr_hash(b->seen[k].ns, b->seen[k].local) & mask;
    while (b->seen_ix[i])
        i = (i + 1) & mask;
    b->seen_ix[i] = (uint32_t)(k + 1);
}

/* Doubles the capacity *cap of the array *arr of elements of `size` bytes, which starts
   inline (at inl) and moves to the heap (m) when it first grows; limit caps *cap.
   Returns 0 or PXMPP_ERR_NOMEM (the array as it was). */
static int grow_array(const pxmpp_mem *m, void **arr, void *inl, size_t *cap, size_t size, size_t limit)
{
    size_t ncap = *cap * 2;
    if (ncap > limit || ncap > SIZE_MAX / size)
        return PXMPP_ERR_NOMEM;
    void *n = m->realloc(*arr == inl ? NULL : *arr, ncap * size, m->ud);
    if (!n)
        return PXMPP_ERR_NOMEM;
    if (*arr == inl)
        memcpy(n, inl, *cap * size);
    *arr = n;
    *cap = ncap;
    return 0;
}

/* Makes room for one more attribute of the open start tag past SEEN_INLINE: the array
   grows and the index is (re)built at four slots per attribute. */
__attribute__((noinline)) static int seen_grow(bsink *b)
{
    const pxmpp_mem *m = &b->out->mem;
    if (b->seen_n == b->seen_cap) {
        void *a = b->seen;
        if (grow_array(m, &a, b->seen_inl, &b->seen_cap, sizeof *b->seen, UINT32_MAX / 4))
            return PXMPP_ERR_NOMEM;
        b->seen = a;
    }
    if (b->seen_ix_used && (b->seen_n + 1) * 2 <= b->seen_ix_size)
        return 0;
    size_t size = b->seen_ix_size ? b->seen_ix_size : 64;
    while (size < (b->seen_n + 1) * 4)
        size *= 2;
    if (size > b->seen_ix_size) {
        uint32_t *ix = m->realloc(b->seen_ix, size * sizeof *ix, m->ud);
        if (!ix)
            return PXMPP_ERR_NOMEM;
        b->seen_ix = ix;
        b->seen_ix_size = size;
    }
    memset(b->seen_ix, 0, b->seen_ix_size * sizeof *b->seen_ix);
    for (size_t k = 0; k < b->seen_n; k++)
        seen_index(b, k);
    b->seen_ix_used = true;
    return 0;
}

/* Records the attribute {ns}local of the open start tag; with check, after looking for it
   among the ones written before.  Returns 0, 1 (it was written before) or
   PXMPP_ERR_NOMEM. */
static int seen_add(bsink *b, const char *ns, const char *local, bool check)
{
    if (b->seen_n < SEEN_INLINE) {
        for (size_t k = 0; check && k < b->seen_n; k++)
            if (same_attr(&b->seen[k], ns, local))
                return 1;
        b->seen[b->seen_n++] = (seen_attr){ ns, local };
        return 0;
    }
    int rc = seen_grow(b);
    if (rc)
        return rc;
    if (check) {
        size_t mask = b->seen_ix_size - 1;
        for (size_t i = attr_hash(ns, local) & mask; b->seen_ix[i]; i = (i + 1) & mask)
            if (same_attr(&b->seen[b->seen_ix[i] - 1], ns, local))
                return 1;
    }
    b->seen[b->seen_n] = (seen_attr){ ns, local };
    seen_index(b, b->seen_n++);
    return 0;
}

/* ---- namespaces declared: a hash table of the namespaces, a stack of prefix bindings ---- */

static uint32_t ns_hash(const char *ns)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)ns; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h ^ (h >> 15);
}

/* Grows the table so that one more namespace fits, with the index at four slots or more
   per namespace. */
__attribute__((noinline)) static int ns_grow(bsink *b)
{
    const pxmpp_mem *m = &b->out->mem;
    if (b->ns_n == b->ns_cap) {
        void *a = b->ns;
        if (grow_array(m, &a, b->ns_inl, &b->ns_cap, sizeof *b->ns, UINT32_MAX / 8))
            return PXMPP_ERR_NOMEM;
        b->ns = a;
    }
    if ((b->ns_n + 1) * 4 <= b->ns_ix_size)
        return 0;
    size_t size = b->ns_ix_size * 2;
    uint32_t *ix = m->realloc(b->ns_ix == b->ns_ix_inl ? NULL : b->ns_ix, size * sizeof *ix, m->ud);
    if (!ix)
        return PXMPP_ERR_NOMEM;
    memset(ix, 0, size * sizeof *ix);
    b->ns_ix = ix;
    b->ns_ix_size = size;
    for (size_t k = 0; k < b->ns_n; k++) {
        size_t i = b->ns[k].hash & (size - 1);
        while (ix[i])
            i = (i + 1) & (size - 1);
        ix[i] = (uint32_t)(k + 1);
    }
    return 0;
}

/* The entry of the namespace ns (neither NULL nor empty): the one there, else a new one
   (with add; none declared yet, no binding) or NULL (without add, or PXMPP_ERR_NOMEM in
   *rc).  The pointer holds until the next call that adds. */
static ns_entry *ns_find(bsink *b, const char *ns, bool add, int *rc)
{
    if (!b->ns_n) {
        if (!add)
            return NULL;
        memset(b->ns_ix_inl, 0, sizeof b->ns_ix_inl);
    }
    uint32_t h = ns_hash(ns);
    size_t mask = b->ns_ix_size - 1, i = h & mask;
    for (; b->ns_ix[i]; i = (i + 1) & mask) {
        ns_entry *e = &b->ns[b->ns_ix[i] - 1];
        if (e->hash == h && (e->ns == ns || strcmp(e->ns, ns) == 0))
            return e;
    }
    if (!add)
        return NULL;
    if (b->ns_n == b->ns_cap || (b->ns_n + 1) * 4 > b->ns_ix_size) {
        if ((*rc = ns_grow(b)))
            return NULL;
        mask = b->ns_ix_size - 1;
        for (i = h & mask; b->ns_ix[i]; i = (i + 1) & mask)
            ;
    }
    ns_entry *e = &b->ns[b->ns_n];
    *e = (ns_entry){ ns, h, -1, 0, false };
    b->ns_ix[i] = (uint32_t)(++b->ns_n);
    return e;
}

/* Binds the next prefix to e on the element at depth (1 + its index); returns the
   prefix's number or PXMPP_ERR_NOMEM. */
static int32_t ns_bind(bsink *b, ns_entry *e, size_t depth)
{
    if (b->bind_n == b->bind_cap) {
        void *a = b->bind;
        if (grow_array(&b->out->mem, &a, b->bind_inl, &b->bind_cap, sizeof *b->bind, INT32_MAX))
            return PXMPP_ERR_NOMEM;
        b->bind = a;
    }
    b->bind[b->bind_n] = (ns_binding){ (uint32_t)(e - b->ns), (uint32_t)depth };
    e->bound = (int32_t)b->bind_n;
    b->end_at = b->dry ? SIZE_MAX : depth;
    return (int32_t)b->bind_n++;
}

/* Writes "ns" and the decimal n at p; returns the length (at most 12). */
static size_t put_prefix(char *p, uint32_t n)
{
    char digits[10];
    size_t nd = 0, l = 2;
    do {
        digits[nd++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    p[0] = 'n';
    p[1] = 's';
    while (nd)
        p[l++] = digits[--nd];
    return l;
}

/* Writes the declaration of ns: " xmlns='ns'" (prefix < 0) or " xmlns:ns<prefix>='ns'".
   element and attribute name what is written, for the fault. */
static inline int put_decl(bsink *b, const char *ns, int32_t prefix, const char *element, const char *attribute)
{
    pxmpp_buf *out = b->out;
    if (buf_reserve(out, 8 + 12 + 1))
        return PXMPP_ERR_NOMEM;
    char *p = out->data + out->len;
    memcpy(p, " xmlns", 6);
    p += 6;
    if (prefix >= 0) {
        *p++ = ':';
        p += put_prefix(p, (uint32_t)prefix);
    }
    *p++ = '=';
    *p++ = '\'';
    out->len = (size_t)(p - out->data);
    size_t bad;
    int rc;
    if (ns && (rc = put_escaped(out, ns, SIZE_MAX, esc_attr_z, false, &bad)))
        return rc == PXMPP_ERR_INVALID_CHAR ? bs_fault(b, rc, "namespace name",
                                                       "invalid UTF-8 or a character XML does not allow",
                                                       element, attribute, bad)
                                            : rc;
    out->data[out->len++] = '\'';
    return 0;
}

/* Counts, in the first pass, a declaration of e that took bytes: one of a namespace
   declared before counts against the budget, and past it the pass goes on dry. */
static void ns_count(bsink *b, ns_entry *e, size_t bytes)
{
    if (e->declared++ && !b->dry) {
        b->redeclared += bytes;
        size_t total = b->out->len - b->mark;
        if (b->redeclared > REDECLARE_FREE && b->redeclared > total - b->redeclared) {
            b->dry = true;
            b->end_at = SIZE_MAX;
        }
    }
}

/* Counts a default declaration of ns (neither NULL nor empty) that took bytes. */
__attribute__((noinline)) static int count_default(bsink *b, const char *ns, size_t bytes)
{
    int rc = 0;
    ns_entry *e = ns_find(b, ns, true, &rc);
    if (e)
        ns_count(b, e, bytes);
    return rc;
}

/* The prefix binding in scope of an element's namespace ns in the second pass: the one
   the root declares for a namespace declared more than once, else -1. */
__attribute__((noinline)) static int32_t element_prefix(bsink *b, const char *ns)
{
    int rc = 0;
    const ns_entry *e = ns_find(b, ns, false, &rc);
    return e && e->hoist ? e->bound : -1;
}

/* The root's declarations in the second pass: a prefix for each namespace declared more
   than once by the first. */
__attribute__((noinline)) static int declare_hoisted(bsink *b, const char *local)
{
    for (size_t k = 0; k < b->ns_n; k++) {
        if (!b->ns[k].hoist)
            continue;
        int32_t n = ns_bind(b, &b->ns[k], 1);
        int rc = n < 0 ? n : put_decl(b, b->ns[k].ns, n, local, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

/* The checks of a name and a namespace that come from the application or the peer. */
__attribute__((noinline)) static int check_element(bsink *b, const char *ns, const char *local)
{
    size_t off = bad_ncname(local);
    if (off != SIZE_MAX)
        return bs_fault(b, PXMPP_ERR_INVALID_NAME, "element name", "not an XML name (NCName)", local, NULL, off);
    if (ns && (same_ns(ns, PXMPP_NS_XML) || same_ns(ns, NS_XMLNS)))
        return bs_fault(b, PXMPP_ERR_INVALID_NAME, "namespace name",
                        "a reserved namespace that cannot be a default namespace", local, NULL, 0);
    if (ns && (off = pxmpp__bad_char(ns)) != SIZE_MAX)
        return bs_fault(b, PXMPP_ERR_INVALID_CHAR, "namespace name",
                        "invalid UTF-8 or a character XML does not allow", local, NULL, off);
    return 0;
}

__attribute__((noinline)) static int check_attribute(bsink *b, const char *ns, const char *local)
{
    const char *el = b->local[b->depth - 1];
    size_t off = bad_ncname(local);
    if (off != SIZE_MAX)
        return bs_fault(b, PXMPP_ERR_INVALID_NAME, "attribute name", "not an XML name (NCName)", el, local, off);
    if (!ns && strcmp(local, "xmlns") == 0)
        return bs_fault(b, PXMPP_ERR_INVALID_NAME, "attribute name",
                        "xmlns declares a namespace: it is not an attribute", el, local, 0);
    if (ns && (!*ns || same_ns(ns, NS_XMLNS)))
        return bs_fault(b, PXMPP_ERR_INVALID_NAME, "namespace name",
                        *ns ? "the xmlns namespace is reserved" : "an attribute in the empty namespace", el, local, 0);
    if (ns && (off = pxmpp__bad_char(ns)) != SIZE_MAX)
        return bs_fault(b, PXMPP_ERR_INVALID_CHAR, "namespace name",
                        "invalid UTF-8 or a character XML does not allow", el, local, off);
    return 0;
}

static int bs_start(pxmpp__sink *s, const char *ns, const char *local, unsigned checks)
{
    bool names = checks & PXMPP__CHECK_NAME;
    bsink *b = (bsink *)s;
    pxmpp_buf *out = b->out;
    size_t d = b->depth;
    if (d >= BSINK_DEPTH)
        return PXMPP_ERR_LIMIT;
    int rc;
    if (names && (rc = check_element(b, ns, local)))
        return rc;
    bool declare = !same_ns(ns, b->dns[d]) || (d == 0 && b->declare_root && ns);
    int32_t pfx = __builtin_expect(b->hoisting, 0) && declare && d && ns && *ns ? element_prefix(b, ns) : -1;
    size_t ll = strlen(local);
    if (buf_reserve(out, ll + 2 + 13))
        return PXMPP_ERR_NOMEM;
    char *p = out->data + out->len;
    if (b->open)
        *p++ = '>';
    *p++ = '<';
    if (pfx >= 0) {
        p += put_prefix(p, (uint32_t)pfx);
        *p++ = ':';
    }
    memcpy(p, local, ll);
    out->len = (size_t)(p + ll - out->data);
    if (declare && pfx < 0) {
        /* the content namespace given to the call is checked here, where it is written
           (a name checked above, or a generated type's namespace, is known to be fine) */
        if (!names && ns == b->dns[0] && (same_ns(ns, PXMPP_NS_XML) || same_ns(ns, NS_XMLNS)))
            return bs_fault(b, PXMPP_ERR_INVALID_NAME, "namespace name",
                            "a reserved namespace that cannot be a default namespace", local, NULL, 0);
        size_t at = out->len;
        if ((rc = put_decl(b, ns, -1, local, NULL)))
            return rc;
        /* counted once the declarations pass the budget (those before it are not) */
        if ((b->declared += out->len - at) > REDECLARE_FREE && !b->hoisting && ns && *ns &&
            (rc = count_default(b, ns, out->len - at)))
            return rc;
    }
    if (__builtin_expect(b->hoisting, 0) && d == 0 && (rc = declare_hoisted(b, local)))
        return rc;
    b->local[d] = local;
    b->llen[d] = ll;
    if (__builtin_expect(b->hoisting, 0))
        b->epfx[d] = pfx;
    b->depth = d + 1;
    b->dns[d + 1] = pfx < 0 ? ns : b->dns[d];
    b->open = true;
    b->record = checks & PXMPP__CHECK_ATTRS;
    b->seen_n = 0;
    if (b->seen_ix_used) {
        memset(b->seen_ix, 0, b->seen_ix_size * sizeof *b->seen_ix);
        b->seen_ix_used = false;
    }
    return 0;
}

/* The prefix of an attribute {ns}local (ns not the xml namespace), "ns<number>:" into
   prefix (16 bytes) and its length into *pl: the one in scope for ns, else a new one
   declared on the open element. */
__attribute__((noinline)) static int attr_prefix(bsink *b, const char *ns, const char *local, char *prefix, size_t *pl)
{
    int rc = 0;
    ns_entry *e = ns_find(b, ns, true, &rc);
    if (!e)
        return rc;
    int32_t n = e->bound;
    if (n < 0) {
        size_t at = b->out->len;
        if ((n = ns_bind(b, e, b->depth)) < 0)
            return n;
        if ((rc = put_decl(b, ns, n, b->local[b->depth - 1], local)))
            return rc;
        if (!b->hoisting)
            ns_count(b, e, b->out->len - at);
    }
    *pl = put_prefix(prefix, (uint32_t)n);
    prefix[(*pl)++] = ':';
    return 0;
}

static int bs_attr(pxmpp__sink *s, const char *ns, const char *local, const char *value, bool names)
{
    bsink *b = (bsink *)s;
    pxmpp_buf *out = b->out;
    int rc;
    if (names && (rc = check_attribute(b, ns, local)))
        return rc;
    if (b->record && (rc = seen_add(b, ns, local, names)))
        return rc < 0 ? rc
                      : bs_fault(b, PXMPP_ERR_INVALID_NAME, "attribute name", "an attribute given twice on one element",
                                 b->local[b->depth - 1], local, 0);
    char prefix[16];
    size_t pl = 0, bad;
    if (ns && same_ns(ns, PXMPP_NS_XML)) {
        memcpy(prefix, "xml:", 4);
        pl = 4;
    } else if (ns) {
        if ((rc = attr_prefix(b, ns, local, prefix, &pl)))
            return rc;
    }
    size_t ll = strlen(local);
    /* the clean head of the value, usually all of it */
    const unsigned char *v = (const unsigned char *)value;
    size_t vl = esc_scan(v, 0, SIZE_MAX, esc_attr_z);
    if (buf_reserve(out, 1 + pl + ll + 2 + vl + 1))
        return PXMPP_ERR_NOMEM;
    char *p = out->data + out->len;
    *p++ = ' ';
    if (pl) {
        memcpy(p, prefix, pl);
        p += pl;
    }
    memcpy(p, local, ll);
    p += ll;
    *p++ = '=';
    *p++ = '\'';
    memcpy(p, value, vl);
    p += vl;
    if (v[vl]) {
        out->len = (size_t)(p - out->data);
        if ((rc = put_escaped(out, value + vl, SIZE_MAX, esc_attr_z, b->replace, &bad)))
            return rc == PXMPP_ERR_INVALID_CHAR ? bs_fault(b, rc, "attribute value",
                                                           "invalid UTF-8 or a character XML does not allow",
                                                           b->local[b->depth - 1], local, vl + bad)
                                                : rc;
        p = out->data + out->len;
    }
    *p++ = '\'';
    out->len = (size_t)(p - out->data);
    return 0;
}

static int bs_text(pxmpp__sink *s, const char *text, size_t len)
{
    bsink *b = (bsink *)s;
    pxmpp_buf *out = b->out;
    if (b->open) {
        if (buf_reserve(out, 1))
            return PXMPP_ERR_NOMEM;
        out->data[out->len++] = '>';
        b->open = false;
    }
    size_t bad;
    int rc = put_escaped(out, text, len, b->one_line ? esc_text_line : esc_text, b->replace, &bad);
    if (rc == PXMPP_ERR_INVALID_CHAR)
        return bs_fault(b, rc, "text", "invalid UTF-8 or a character XML does not allow",
                        b->depth ? b->local[b->depth - 1] : NULL, NULL, bad);
    return rc;
}

/* Ends the scope of the bindings the element at depth d declared; in a dry pass, drops
   the output so far (only the counts of the first pass are kept). */
static void end_scope(bsink *b, size_t d)
{
    while (b->bind_n && b->bind[b->bind_n - 1].depth > d)
        b->ns[b->bind[--b->bind_n].entry].bound = -1;
    if (b->dry)
        b->out->len = b->mark;
    else
        b->end_at = b->bind_n ? b->bind[b->bind_n - 1].depth : 0;
}

static int bs_end(pxmpp__sink *s)
{
    bsink *b = (bsink *)s;
    pxmpp_buf *out = b->out;
    size_t d = --b->depth;
    if (b->end_at > d)
        end_scope(b, d);
    if (b->open) {
        b->open = false;
        if (buf_reserve(out, 2))
            return PXMPP_ERR_NOMEM;
        memcpy(out->data + out->len, "/>", 2);
        out->len += 2;
        return 0;
    }
    size_t ll = b->llen[d];
    if (buf_reserve(out, ll + 3 + 13))
        return PXMPP_ERR_NOMEM;
    char *p = out->data + out->len;
    *p++ = '<';
    *p++ = '/';
    if (__builtin_expect(b->hoisting, 0) && b->epfx[d] >= 0) {
        p += put_prefix(p, (uint32_t)b->epfx[d]);
        *p++ = ':';
    }
    memcpy(p, b->local[d], ll);
    p[ll] = '>';
    out->len = (size_t)(p + ll + 1 - out->data);
    return 0;
}

/* Sets the sink up.  content_ns is checked where it is written (see bs_start). */
static void bsink_init(bsink *b, pxmpp_buf *out, const char *content_ns, unsigned flags, pxmpp_write_fault *fault)
{
    b->base.lenient = flags & PXMPP_WRITE_LENIENT;
    b->out = out;
    b->depth = 0;
    b->open = false;
    b->declare_root = flags & PXMPP_WRITE_DECLARE_CONTENT_NS;
    b->one_line = flags & PXMPP_WRITE_ONE_LINE;
    b->replace = flags & PXMPP_WRITE_REPLACE_INVALID;
    b->fault = fault;
    b->seen = b->seen_inl;
    b->seen_n = 0;
    b->seen_cap = SEEN_INLINE;
    b->seen_ix = NULL;
    b->seen_ix_size = 0;
    b->seen_ix_used = false;
    b->ns = b->ns_inl;
    b->ns_n = 0;
    b->ns_cap = NS_INLINE;
    b->ns_ix = b->ns_ix_inl;
    b->ns_ix_size = NS_IX_INLINE; /* cleared when the first namespace is added */
    b->bind = b->bind_inl;
    b->bind_n = 0;
    b->bind_cap = NS_INLINE;
    b->mark = out->len;
    b->declared = b->redeclared = b->end_at = 0;
    b->dry = b->hoisting = false;
    b->dns[0] = content_ns;
}

/* Writes the typed d/obj, or the node n, with the sink: a first pass that keeps its
   output unless it declares namespaces again past the budget (see writer.h), then a
   second one that declares those namespaces on the root. */
static inline int bsink_walk(bsink *b, const pxmpp_type_desc *d, const void *obj, const pxmpp_node *n, const char *content_ns)
{
    int rc = d ? pxmpp__emit_typed(&b->base, d, obj, content_ns) : pxmpp__emit_node(&b->base, n);
    if (rc || !b->dry)
        return rc;
    for (size_t k = 0; k < b->ns_n; k++) {
        b->ns[k].hoist = b->ns[k].declared > 1;
        b->ns[k].bound = -1;
    }
    b->bind_n = b->end_at = 0;
    b->depth = 0;
    b->open = false;
    b->dry = false;
    b->hoisting = true;
    b->out->len = b->mark;
    return d ? pxmpp__emit_typed(&b->base, d, obj, content_ns) : pxmpp__emit_node(&b->base, n);
}

static inline int bsink_finish(bsink *b, size_t mark, int rc)
{
    pxmpp_buf *out = b->out;
    if (b->seen != b->seen_inl)
        out->mem.free(b->seen, out->mem.ud);
    if (b->seen_ix)
        out->mem.free(b->seen_ix, out->mem.ud);
    if (b->ns != b->ns_inl)
        out->mem.free(b->ns, out->mem.ud);
    if (b->ns_ix != b->ns_ix_inl)
        out->mem.free(b->ns_ix, out->mem.ud);
    if (b->bind != b->bind_inl)
        out->mem.free(b->bind, out->mem.ud);
    if (rc)
        out->len = mark;
    buf_terminate(out);
    return rc;
}

int pxmpp_write_ex(pxmpp_buf *out, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                   unsigned flags, pxmpp_write_fault *fault)
{
    if (fault)
        memset(fault, 0, sizeof *fault);
    if (!out || !d || !obj)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (d->abi != PXMPP_RUNTIME_ABI)
        return PXMPP_ERR_INVALID_ARGUMENT;
    bsink b;
    size_t mark = out->len;
    bsink_init(&b, out, content_ns, flags, fault);
    return bsink_finish(&b, mark, bsink_walk(&b, d, obj, NULL, content_ns));
}

int pxmpp_write(pxmpp_buf *out, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                unsigned flags)
{
    return pxmpp_write_ex(out, d, obj, content_ns, flags, NULL);
}

int pxmpp_write_node_ex(pxmpp_buf *out, const pxmpp_node *n, const char *content_ns, unsigned flags,
                        pxmpp_write_fault *fault)
{
    if (fault)
        memset(fault, 0, sizeof *fault);
    if (!out || !n)
        return PXMPP_ERR_INVALID_ARGUMENT;
    bsink b;
    size_t mark = out->len;
    bsink_init(&b, out, content_ns, flags, fault);
    return bsink_finish(&b, mark, bsink_walk(&b, NULL, NULL, n, content_ns));
}

int pxmpp_write_node(pxmpp_buf *out, const pxmpp_node *n, const char *content_ns)
{
    return pxmpp_write_node_ex(out, n, content_ns, 0, NULL);
}
