/* The gate: a byte-level lexer in front of libxml2 (see gate.h).  It hands on
   complete tags only (libxml2's cost stays linear whatever the chunking) and the
   character data of stanzas, decoded, enforces the size limits byte-exactly, and
   rejects restricted XML and malformed references as soon as they start.  It is
   pulled: pxmpp__gate_next returns one event and the bytes it consumed, and calls
   nothing but the allocator. */
#include "gate.h"

#include <stdio.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

/* The byte classes of the gate.  B_NAME_START may begin an ASCII name, B_NAME may
   continue one; B_XNAME_START and B_XNAME the same with every byte >= 0x80 (the
   lexer leaves checking non-ASCII names to libxml2); B_SPACE is XML white space;
   for ns_cuttable, B_SCHEME letters, digits, "+-."; B_HOST letters, digits, ".-";
   B_PATH letters, digits, "-._:/"; B_ALPHA letters. */
enum {
    B_NAME_START = 1, B_NAME = 2, B_SPACE = 4, B_SCHEME = 8, B_HOST = 16, B_PATH = 32, B_ALPHA = 64,
    B_XNAME_START = 128, B_XNAME = 256
};
static const uint16_t byte_class[256] = {
      0,   0,   0,   0,   0,   0,   0,   0,   0,   4,   4,   0,   0,   4,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      4,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   8,   0, 314, 314,  32,
    314, 314, 314, 314, 314, 314, 314, 314, 314, 314, 419,   0,   0,   0,   0,   0,
      0, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507,
    507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507,   0,   0,   0,   0, 419,
      0, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507,
    507, 507, 507, 507, 507, 507, 507, 507, 507, 507, 507,   0,   0,   0,   0,   0,
    384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384,
    384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384,
    384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384,
    384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384,
    384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384,
    384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384,
    384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384,
    384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384,
};
static inline bool is(char c, unsigned cls) { return byte_class[(unsigned char)c] & cls; }
static inline bool is_space(char c) { return is(c, B_SPACE); }

/* Classifies a complete reference "&...;" collected in lx_buf (without & and ;). */
int pxmpp__gate_ref_value(const char *r, uint32_t *cp)
{
    if (r[0] == '#') {
        size_t i = 1;
        bool hex = r[1] == 'x';
        if (hex)
            i = 2;
        if (!r[i])
            return PXMPP_ERR_XML;
        uint32_t v = 0;
        for (; r[i]; i++) {
            char c = r[i];
            uint32_t d;
            if (c >= '0' && c <= '9')
                d = (uint32_t)(c - '0');
            else if (hex && c >= 'a' && c <= 'f')
                d = (uint32_t)(c - 'a' + 10);
            else if (hex && c >= 'A' && c <= 'F')
                d = (uint32_t)(c - 'A' + 10);
            else
                return PXMPP_ERR_XML;
            v = v * (hex ? 16u : 10u) + d;
            if (v > 0x10FFFF)
                return PXMPP_ERR_XML;
        }
        /* XML 1.0 Char: a reference to anything else is not well-formed */
        bool ok = v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) || (v >= 0xE000 && v <= 0xFFFD) ||
                  v >= 0x10000;
        *cp = v;
        return ok ? 0 : PXMPP_ERR_XML;
    }
    static const struct { char name[5]; char c; } predef[] = {
        {"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''},
    };
    for (size_t k = 0; k < sizeof predef / sizeof predef[0]; k++) {
        if (!strcmp(r, predef[k].name)) {
            *cp = (uint32_t)predef[k].c;
            return 0;
        }
    }
    return r[0] ? PXMPP_ERR_RESTRICTED_XML : PXMPP_ERR_XML;
}

static int check_ref(pxmpp__gate *g, uint32_t *cp)
{
    g->lx_buf[g->lx_n] = '\0';
    return pxmpp__gate_ref_value(g->lx_buf, cp);
}

/* A reference starting at p[i] == '&' that the state machine would accept: the
   index after its ';', or 0. */
static size_t ref_end(const char *p, size_t i, size_t stop)
{
    char r[sizeof ((pxmpp__gate *)0)->lx_buf];
    size_t n = 0;
    for (i++; i < stop && p[i] != ';'; i++) {
        if ((!is(p[i], B_XNAME) && p[i] != '#') || n >= sizeof r - 1)
            return 0;
        r[n++] = p[i];
    }
    r[n] = '\0';
    uint32_t cp;
    return i < stop && n && pxmpp__gate_ref_value(r, &cp) == 0 ? i + 1 : 0;
}

/* UTF-8 encoding of the code point cp (<= 0x10FFFF) into u; returns its length. */
size_t pxmpp__utf8_put(char u[4], uint32_t cp)
{
    if (cp < 0x80) {
        u[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The gate's scanning loops: index of the first byte in p[i, stop) equal to a, b, c
   or d, or stop.  Sixteen bytes at a time where SSE2 is there (every x86-64). */
static inline size_t find4(const char *p, size_t i, size_t stop, char a, char b, char c, char d)
{
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b), vc = _mm_set1_epi8(c), vd = _mm_set1_epi8(d);
    while (stop - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, vc), _mm_cmpeq_epi8(v, vd)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
        i += 16;
    }
#endif
    while (i < stop && p[i] != a && p[i] != b && p[i] != c && p[i] != d)
        i++;
    return i;
}

/* Appends p[0, n) to the buffer *buf (*len bytes used of *cap, grown by doubling from
   256): 0 or PXMPP_ERR_NOMEM. */
static int append(const pxmpp_mem *mem, char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*cap - *len < n) {
        size_t c = *cap ? *cap : 256;
        while (c - *len < n)
            c *= 2;
        char *b = mem->realloc(*buf, c, mem->ud);
        if (!b)
            return PXMPP_ERR_NOMEM;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return 0;
}

/* The element at the current depth, when the gate read its start tag itself: its name. */
static bool open_plain(const pxmpp__gate *g, const char **name, size_t *len)
{
    uint32_t d = g->lx_depth;
    if (d < 2 || d >= g->open_cap || g->open[d].len == 0)
        return false;
    *name = g->names + g->open[d].off;
    *len = g->open[d].len;
    return true;
}

/* A new element at depth d: its name when the gate read it (n > 0). */
static int open_push(pxmpp__gate *g, uint32_t d, const char *name, size_t n)
{
    if (d < 2 || d >= g->max_depth + 2 || (!n && !g->open))
        return 0;
    if (!g->open) {
        size_t cap = g->max_depth + 2;
        g->open = g->mem.malloc(cap * sizeof *g->open, g->mem.ud);
        if (!g->open)
            return PXMPP_ERR_NOMEM;
        memset(g->open, 0, cap * sizeof *g->open);
        g->open_cap = cap;
    }
    g->open[d] = (struct pxmpp__open){ (uint32_t)g->names_len, 0 };
    if (!n)
        return 0;
    if (append(&g->mem, &g->names, &g->names_len, &g->names_cap, name, n))
        return PXMPP_ERR_NOMEM;
    g->open[d].len = (uint32_t)n;
    return 0;
}

/* The gate's bookkeeping for a complete tag; i: index just after its '>'; name, n: the
   element name of a start tag the gate read itself (else n is 0).  0 or PXMPP_ERR_NOMEM. */
static int tag_closed(pxmpp__gate *g, size_t i, const char *name, size_t n)
{
    g->lx = LX_TEXT;
    g->lx_doc_start = false;
    if (g->lx_end_tag) {
        if (g->lx_depth >= 2 && g->lx_depth < g->open_cap && g->open[g->lx_depth].len)
            g->names_len = g->open[g->lx_depth].off;
        g->lx_depth--;
        if (g->lx_depth <= 1)
            g->boundary = g->lexed + i;
        if (g->lx_depth == 0)
            g->lx_closed = true;
    } else if (g->lx_slash) {
        if (g->lx_depth <= 1)
            g->boundary = g->lexed + i;
        if (g->lx_depth == 0)
            g->lx_closed = true; /* an empty stream element: the stream is over */
    } else {
        g->lx_depth++;
        if (g->lx_depth == 1)
            g->boundary = g->lexed + i;
        return open_push(g, g->lx_depth, name, n);
    }
    return 0;
}

/* The first quote q, '<' or '&' in p[i, stop), or stop; *ws: the bytes before it
   hold a tab, LF or CR (the only bytes below 0x20 the UTF-8 check lets through). */
static inline size_t find_value_end(const char *p, size_t i, size_t stop, char q, bool *ws)
{
    bool w = false;
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i vq = _mm_set1_epi8(q), vlt = _mm_set1_epi8('<'), vamp = _mm_set1_epi8('&'),
                  v1f = _mm_set1_epi8(0x1F);
    while (stop - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned hit = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, vq), _mm_or_si128(_mm_cmpeq_epi8(v, vlt), _mm_cmpeq_epi8(v, vamp))));
        unsigned ctl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, v1f), v));
        if (hit) {
            *ws = w || (ctl & (hit ^ (hit - 1)));
            return i + (size_t)__builtin_ctz(hit);
        }
        w = w || ctl;
        i += 16;
    }
#endif
    for (; i < stop; i++) {
        char c = p[i];
        if (c == q || c == '<' || c == '&') {
            *ws = w;
            return i;
        }
        w = w || (unsigned char)c < 0x20;
    }
    return stop;
}

/* The closing quote q of an attribute value starting at p[v], or stop when the
   value runs past stop or holds a '<' or a reference the state machine would
   refuse; *ws: it holds a tab, LF or CR; *refs: it holds references. */
static size_t value_end(const char *p, size_t v, size_t stop, char q, bool *ws, bool *refs)
{
    *ws = *refs = false;
    for (size_t j = v;;) {
        bool w = false;
        j = find_value_end(p, j, stop, q, &w);
        *ws = *ws || w;
        if (j >= stop || p[j] == q)
            return j;
        if (p[j] == '<' || !(j = ref_end(p, j, stop)))
            return stop;
        *refs = true;
    }
}

/* A default namespace the gate may cut: one whose value libxml2 surely accepts
   without a word, so that only its interning is left to do.  That is an absolute
   URI of a plain shape: scheme ":" ["//" host] then letters, digits and "-._:/",
   with at most one "#" (e.g. "jabber:client", "urn:xmpp:delay",
   "http://jabber.org/protocol/disco#info"), and not one of the two namespaces XML
   reserves. */
static bool ns_cuttable(const char *v, size_t n)
{
    size_t i = 1;
    if (n == 0 || !(is(v[0], B_ALPHA)))
        return false;
    while (i < n && is(v[i], B_SCHEME))
        i++;
    if (i == n || v[i] != ':')
        return false;
    i++;
    if (n - i >= 2 && v[i] == '/' && v[i + 1] == '/') {
        for (i += 2; i < n && v[i] != '/' && v[i] != '#'; i++)
            if (!is(v[i], B_HOST))
                return false;
    }
    int hashes = 0;
    for (; i < n; i++)
        if (!is(v[i], B_PATH) && (v[i] != '#' || hashes++))
            return false;
    static const char xml_ns[] = "http://www.w3.org/XML/1998/namespace", xmlns_ns[] = "http://www.w3.org/2000/xmlns/";
    return !(n == sizeof xml_ns - 1 && memcmp(v, xml_ns, n) == 0) &&
           !(n == sizeof xmlns_ns - 1 && memcmp(v, xmlns_ns, n) == 0);
}


/* The start tag whose TAG entry is cuts[t] (at p[i]) is plain: its entry becomes START
   (with the element name, from tn_off) and its xml:lang LANG or LANGX. */
static void plain_tag(pxmpp__gate *g, size_t t, size_t i)
{
    struct pxmpp__cut *e = &g->cuts[t];
    e->kind = CUT_START;
    g->tn_entry = t;
    e->noff = (uint32_t)(g->tn_off - i);
    e->nlen = (uint16_t)g->tn_len;
    for (size_t k = t + 1; k < g->cuts_n; k++)
        if (g->cuts[k].kind == CUT_KEEP)
            g->cuts[k].kind = g->cuts[k].nlen ? CUT_LANGX : CUT_LANG;
    g->tn_native = true;
}

/* The tag scanner: the tag at p[i] == '<', when it ends before stop and is of plain
   shape, read in one pass: ASCII names, white space where XML wants it, values without
   '<' and with only references the gate accepts, at most max_attrs attributes.  Inside
   the stream element a start tag is cut on the way (see struct pxmpp__cut): its
   unprefixed attributes whole (libxml2 gets the tag without them), the values of
   prefixed ones but xml:*, and a default namespace of plain shape whole; there no name
   may come twice and at most 32 attributes (past that the check for repeated names would
   cost more than libxml2's parsing saves).  Returns the index after its '>' with
   lx_end_tag and lx_slash set, or 0.  Then the byte-by-byte mode (lex_lt, lex_tag,
   lex_quoted, lex_ref) takes the tag: it holds a tag that runs on into the next chunk
   and hands it back here whole, and it finds what is wrong with one that is not plain
   (libxml2 gets such a tag uncut and says what it thinks of it). */
static size_t scan_tag(pxmpp__gate *g, const char *p, size_t i, size_t stop)
{
    const bool cut = g->lx_depth >= 1;
    size_t t = g->cuts_n, j = i + 1, attrs = 0;
    int default_ns = 0, langs = 0;
    g->tn_native = false;
    if (j < stop && p[j] == '/') {
        /* an end tag: "</" Name S? ">" (libxml2 or end_tag matches it with its start tag) */
        if (g->lx_depth == 0 || ++j >= stop || !is(p[j], B_NAME_START))
            return 0;
        g->tn_off = j;
        while (j < stop && is(p[j], B_NAME))
            j++;
        g->tn_len = (uint32_t)(j - g->tn_off);
        while (j < stop && is_space(p[j]))
            j++;
        if (j >= stop || p[j] != '>')
            return 0;
        g->lx_end_tag = true;
        g->lx_slash = false;
        return j + 1;
    }
    if (cut)
        g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = i, .kind = CUT_TAG };
    if (j >= stop || !is(p[j], B_NAME_START))
        goto no;
    bool prefixed = false;
    for (; j < stop && is(p[j], B_NAME); j++)
        prefixed = prefixed || p[j] == ':';
    g->tn_off = i + 1;
    g->tn_len = (uint32_t)(j - (i + 1));
    /* plain: read by the gate alone (see struct pxmpp__cut), down to the depth whose
       names the gate keeps for the end tags */
    bool plain = cut && !prefixed && g->lx_depth + 1 < g->max_depth + 2 && j - (i + 1) <= UINT16_MAX;
    for (;;) {
        size_t sp = j;
        while (j < stop && is_space(p[j]))
            j++;
        if (j >= stop)
            goto no;
        if (p[j] == '>' || (p[j] == '/' && j + 1 < stop && p[j + 1] == '>')) {
            g->lx_end_tag = false;
            g->lx_slash = p[j] == '/';
            if (cut) {
                g->cuts[t].len = (uint32_t)(g->cuts_n - t - 1);
                if (plain)
                    plain_tag(g, t, i);
            }
            return j + (g->lx_slash ? 2 : 1);
        }
        if (j == sp || ++attrs > g->max_attrs || (cut && attrs > 32) || !is(p[j], B_NAME_START))
            goto no;
        size_t ns = j;
        bool colon = false;
        for (; j < stop && is(p[j], B_NAME); j++)
            if (p[j] == ':')
                colon = true;
        size_t ne = j;
        while (j < stop && is_space(p[j]))
            j++;
        if (j >= stop || p[j] != '=')
            goto no;
        for (j++; j < stop && is_space(p[j]); j++)
            ;
        if (j >= stop || (p[j] != '\'' && p[j] != '"'))
            goto no;
        size_t v = j + 1;
        bool ws, refs;
        j = value_end(p, v, stop, p[j], &ws, &refs);
        if (j >= stop || j + 1 - sp > UINT32_MAX || ne - ns > UINT16_MAX)
            goto no;
        j++;
        if (!cut)
            continue;
        size_t nl = ne - ns, vl = j - 1 - v;
        if (nl >= 5 && memcmp(p + ns, "xmlns", 5) == 0 && (nl == 5 || p[ns + 5] == ':')) {
            /* a default namespace is cut whole (on_start keeps it in scope); a
               second one is libxml2's to refuse; a prefixed one libxml2 needs */
            if (nl == 5 && default_ns++)
                goto no;
            if (nl == 5 && !ws && !refs && ns_cuttable(p + v, vl))
                g->cuts[g->cuts_n++] = (struct pxmpp__cut){
                    .off = sp, .len = (uint32_t)(j - sp), .voff = (uint32_t)(v - sp), .vlen = (uint32_t)vl, .kind = CUT_NSW
                };
            else
                plain = false; /* libxml2 needs the declaration */
        } else if (colon) {
            bool keep = nl > 4 && memcmp(p + ns, "xml:", 4) == 0;
            bool lang = nl == 8 && memcmp(p + ns, "xml:lang", 8) == 0;
            plain = plain && lang && !langs++;
            /* (nlen of a KEEP entry: its value needs decoding, for plain_tag) */
            g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = v,
                                                 .len = (uint32_t)vl,
                                                 .nlen = (uint16_t)(ws || refs),
                                                 .kind = keep ? CUT_KEEP : ws || refs ? CUT_VALX : CUT_VAL };
        } else {
            /* libxml2 would refuse a name given twice: let it see the tag */
            for (size_t k = t + 1; k < g->cuts_n; k++)
                if ((g->cuts[k].kind == CUT_ATTR || g->cuts[k].kind == CUT_ATTRX) && g->cuts[k].nlen == nl) {
                    const char *other = p + g->cuts[k].off + g->cuts[k].noff;
                    if (other[0] == p[ns] && memcmp(other, p + ns, nl) == 0)
                        goto no;
                }
            g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = sp,
                                                 .len = (uint32_t)(j - sp),
                                                 .voff = (uint32_t)(v - sp),
                                                 .vlen = (uint32_t)vl,
                                                 .noff = (uint32_t)(ns - sp),
                                                 .nlen = (uint16_t)nl,
                                                 .kind = ws || refs ? CUT_ATTRX : CUT_ATTR };
        }
    }
no:
    g->cuts_n = t;
    return 0;
}

/* ---- the round's events ------------------------------------------------------- */

/* One round of the lexer over p[0, n) (n: up to the first byte the UTF-8 scan
   refused).  It stops as soon as it has queued an event, so that what follows is
   lexed after the event was used: after a restart, for the new context. */
struct lex {
    const char *p;
    size_t n;
    uint64_t base;    /* app offset of p[0] (g->lexed) */
    size_t i;         /* the next byte to lex */
    size_t emit;      /* p[emit, i) is not handed on yet */
    size_t stop;      /* the first byte over the size limit, or n */
    size_t tag_start; /* index in p where the current tag began, if in p; else SIZE_MAX */
    size_t end;       /* the round consumed p[0, end) */
};

/* A new event of the round, consumed up to app offset upto when it is handed on (the
   last one of a round: up to where the round stopped). */
static pxmpp__gate_event *queue(pxmpp__gate *g, enum pxmpp__gate_ev kind, uint64_t upto)
{
    struct pxmpp__gate_q *q = &g->q[g->q_n < PXMPP__GATE_QUEUE ? g->q_n++ : g->q_n - 1];
    q->ev = (pxmpp__gate_event){ .kind = kind };
    q->upto = upto;
    if (kind == PXMPP__GATE_TAGS || kind == PXMPP__GATE_FAIL)
        g->halt = true;
    return &q->ev;
}

/* A violation at app offset off: the round's last event. */
static void queue_fail(pxmpp__gate *g, int code, uint64_t off, const char *what)
{
    snprintf(g->fail_what, sizeof g->fail_what, "%s", what);
    pxmpp__gate_event *e = queue(g, PXMPP__GATE_FAIL, off);
    e->code = code;
    e->at = off;
    e->what = g->fail_what;
}

static int hold_append(pxmpp__gate *g, const char *p, size_t n)
{
    return append(&g->mem, &g->hold, &g->hold_len, &g->hold_cap, p, n);
}

/* Tags for libxml2: d[0, len), standing for app bytes [at, end).  cbase: the offset of
   d in cut_base, when the cut entries of its tags must be left out (SIZE_MAX: none
   among them).  libxml2 then gets a copy without the cut values (stage), and brk[]
   says where the gaps are. */
static void queue_tags_of(pxmpp__gate *g, const char *d, size_t len, size_t cbase, uint64_t at, uint64_t end,
                          uint64_t upto)
{
    g->brk_n = 0;
    if (cbase != SIZE_MAX) {
        /* (entries of tags before d: plain ones the round handed on as START) */
        while (g->cuts_fed < g->cuts_n && g->cuts[g->cuts_fed].off < cbase + len &&
               (g->cuts[g->cuts_fed].kind < CUT_VAL || g->cuts[g->cuts_fed].off < cbase))
            g->cuts_fed++;
    }
    if (cbase != SIZE_MAX && g->cuts_fed < g->cuts_n && g->cuts[g->cuts_fed].off < cbase + len) {
        size_t need = len;
        for (size_t k = g->cuts_fed; k < g->cuts_n && g->cuts[k].off < cbase + len; k++)
            if (g->cuts[k].kind >= CUT_VAL)
                need -= g->cuts[k].len;
        if (g->stage_cap < need) {
            size_t cap = g->stage_cap ? g->stage_cap : 2048; /* a chunk's tags, without their attributes */
            while (cap < need)
                cap *= 2;
            char *st = g->mem.realloc(g->stage, cap, g->mem.ud);
            if (!st) {
                queue_fail(g, PXMPP_ERR_NOMEM, at, "out of memory");
                return;
            }
            g->stage = st;
            g->stage_cap = cap;
        }
        size_t o = 0, from = cbase;
        uint64_t cum = 0;
        while (g->cuts_fed < g->cuts_n && g->cuts[g->cuts_fed].off < cbase + len) {
            const struct pxmpp__cut *c = &g->cuts[g->cuts_fed++];
            if (c->kind < CUT_VAL)
                continue;
            memcpy(g->stage + o, d + (from - cbase), c->off - from);
            o += c->off - from;
            from = c->off + c->len;
            cum += c->len;
            g->brk[g->brk_n++] = (struct pxmpp__brk){ o, cum };
        }
        memcpy(g->stage + o, d + (from - cbase), cbase + len - from);
        o += cbase + len - from;
        d = g->stage;
        len = o;
    }
    pxmpp__gate_event *e = queue(g, PXMPP__GATE_TAGS, upto);
    e->data = d;
    e->len = len;
    e->at = at;
    e->end = end;
}

/* The tags p[emit, upto) of the round's input. */
static void queue_tags(pxmpp__gate *g, struct lex *x, size_t upto)
{
    if (upto <= x->emit)
        return;
    size_t from = x->emit;
    x->emit = upto;
    queue_tags_of(g, x->p + from, upto - from, from, x->base + from, x->base + upto, x->base + upto);
}

/* Character data t[0, len) at app offset at.  The gate has checked it already (UTF-8,
   XML characters, "]]>", references); a LF right after a CR handed on last is dropped
   (XML 1.0 §2.11: CR LF is read as LF). */
static void queue_text(pxmpp__gate *g, const char *t, size_t len, uint64_t at, uint64_t upto)
{
    if (g->lx_cr && len && *t == '\n') {
        t++;
        len--;
        at++;
    }
    g->lx_cr = false;
    if (!len)
        return;
    pxmpp__gate_event *e = queue(g, PXMPP__GATE_TEXT, upto);
    e->data = t;
    e->len = len;
    e->at = at;
}

/* The text p[a, b) (no '<', '&' or CR in it) after the tags before it, and when cr,
   the LF the CR at p[b] stands for (XML 1.0 §2.11: a CR is read as LF). */
static void text_out(pxmpp__gate *g, struct lex *x, size_t a, size_t b, bool cr)
{
    queue_tags(g, x, a);
    queue_text(g, x->p + a, b - a, x->base + a, x->base + b);
    x->emit = b;
    if (cr) {
        pxmpp__gate_event *e = queue(g, PXMPP__GATE_TEXT, x->base + b + 1);
        e->data = "\n";
        e->len = 1;
        e->at = x->base + b;
        g->lx_cr = true;
        x->emit = b + 1;
    }
}

static bool in_tag(uint8_t lx, uint8_t ret)
{
    return lx == LX_LT || lx == LX_TAG || lx == LX_TQ1 || lx == LX_TQ2 || lx == LX_BANG || lx == LX_PI_NAME ||
           (lx == LX_REF && ret != LX_TEXT);
}

/* A violation found by the gate at p[at].  What came before it is handed on first,
   except the bytes of an unfinished tag (libxml2 never sees a partial tag, so the
   outcome is the same however the input was chunked) and of a reference in text
   (the gate's own). */
static void lex_error(pxmpp__gate *g, struct lex *x, size_t at, int code, const char *what)
{
    bool tag = in_tag(g->lx, g->lx_ret);
    if (!tag || g->hold_len == 0)
        queue_tags(g, x, tag ? (x->tag_start == SIZE_MAX ? x->emit : x->tag_start) : g->lx == LX_REF ? x->emit : at);
    queue_fail(g, code, x->base + at, what);
}

/* Before a tag at p[i] inside the stream element: room in the cut table for it, and
   at most 64 KiB waiting for libxml2 (which bounds the staging copy).  When either
   runs short, what comes before p[i] is handed on first and the round ends there: the
   next one starts with an empty table. */
static void cut_room(pxmpp__gate *g, struct lex *x)
{
    size_t need = 2 + g->max_attrs;
    if (g->cuts_cap - g->cuts_n >= need && x->i - x->emit <= 65536)
        return;
    if (x->emit < x->i) {
        queue_tags(g, x, x->i);
        return;
    }
    if (g->q_n) {
        g->halt = true; /* queued START events use the entries: the next round starts afresh */
        return;
    }
    g->cuts_n = g->cuts_fed = g->cuts_used = 0; /* (entries of tags handed on already) */
    if (g->cuts_cap < need) {
        size_t cap = need + 16;
        struct pxmpp__cut *c = g->mem.realloc(g->cuts, cap * sizeof *c, g->mem.ud);
        if (!c) {
            queue_fail(g, PXMPP_ERR_NOMEM, x->base + x->i, "out of memory");
            return;
        }
        g->cuts = c;
        struct pxmpp__brk *b = g->mem.realloc(g->brk, cap * sizeof *b, g->mem.ud);
        if (!b) {
            queue_fail(g, PXMPP_ERR_NOMEM, x->base + x->i, "out of memory");
            return;
        }
        g->brk = b;
        g->cuts_cap = cap;
    }
}

/* The bookkeeping of a complete tag that stays libxml2's, with a FAIL when it fails. */
static void tag_kept(pxmpp__gate *g, struct lex *x, size_t after)
{
    if (tag_closed(g, after, NULL, 0))
        queue_fail(g, PXMPP_ERR_NOMEM, x->base + after, "out of memory");
}

/* An end tag at app offset at (its name n[0, nl), or nl 0 when it is not plain) that does
   not end the element the gate read itself at the current depth. */
static void mismatch(pxmpp__gate *g, uint64_t at, const char *n, size_t nl)
{
    const char *open = "";
    size_t ol = 0;
    (void)open_plain(g, &open, &ol);
    char what[sizeof g->fail_what];
    if (nl)
        snprintf(what, sizeof what, "not well-formed: end tag </%.*s> does not match <%.*s>", (int)(nl > 60 ? 60 : nl),
                 n, (int)(ol > 60 ? 60 : ol), open);
    else
        snprintf(what, sizeof what, "not well-formed: end tag does not match <%.*s>", (int)(ol > 60 ? 60 : ol), open);
    queue_fail(g, PXMPP_ERR_XML, at, what);
}

/* scan_tag read a whole tag in buf (at app offset at; p[ts] is where it begins when buf
   is the round's input, p[after] follows it).  A plain start tag, or the end tag of
   one, becomes an event of its own, after the tags before it (true); any other tag
   stays libxml2's (false). */
static bool tag_event(pxmpp__gate *g, struct lex *x, const char *buf, size_t ts, size_t after, uint64_t at)
{
    pxmpp__gate_event *e;
    if (g->lx_end_tag) {
        const char *name;
        size_t nl;
        if (!open_plain(g, &name, &nl))
            return false;
        queue_tags(g, x, ts);
        if (nl != g->tn_len || memcmp(name, buf + g->tn_off, nl) != 0) {
            mismatch(g, at, buf + g->tn_off, g->tn_len);
            return true;
        }
        e = queue(g, PXMPP__GATE_END, x->base + after);
        e->data = buf + g->tn_off;
        e->len = g->tn_len;
        e->at = at;
        e->end = x->base + after;
        x->emit = after;
        tag_kept(g, x, after);
        return true;
    }
    if (!g->tn_native)
        return false;
    queue_tags(g, x, ts);
    e = queue(g, PXMPP__GATE_START, x->base + after);
    e->data = buf + g->tn_off;
    e->len = g->tn_len;
    e->at = at;
    e->end = x->base + after;
    e->tag = &g->cuts[g->tn_entry];
    e->empty = g->lx_slash;
    x->emit = after;
    if (tag_closed(g, after, buf + g->tn_off, g->tn_len))
        queue_fail(g, PXMPP_ERR_NOMEM, x->base + after, "out of memory");
    return true;
}

/* Text: white space outside stanzas, character data inside, up to a tag or a reference. */
static void lex_text(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    if (g->lx_depth <= 1) {
        /* outside stanzas only whitespace may appear (RFC 6120 §4.2: keepalives) */
        size_t ws_from = x->i;
        while (x->i < x->stop && is_space(p[x->i]))
            x->i++;
        if (x->i > ws_from && g->lx_depth == 0 && g->lx_doc_start && x->emit == ws_from &&
            x->base + ws_from == g->boundary) {
            /* white space before a stream header (after a restart: the line feed a peer wrote
               after its last element of the old stream) is dropped, so that the header and
               its XML declaration start the document */
            x->emit = x->i;
            g->boundary = x->base + x->i;
        } else if (g->lx_depth == 1 && x->i > ws_from) {
            /* white space between stanzas: checked, nothing for libxml2 (the tags before
               it are handed on first, so that libxml2 never sees it however the input is
               chunked) */
            queue_tags(g, x, ws_from);
            x->emit = x->i;
            if (g->halt)
                return;
        }
        if (x->i < x->stop && p[x->i] != '<') {
            if ((unsigned char)p[x->i] == 0x4C && g->lx_doc_start && x->base + x->i == g->boundary)
                lex_error(g, x, x->i, PXMPP_ERR_ENCODING, "unsupported encoding: the stream is not UTF-8 (EBCDIC?)");
            else
                lex_error(g, x, x->i, PXMPP_ERR_XML, "not well-formed: text outside of a stanza");
            return;
        }
        if (x->i > 0 || x->base > g->boundary)
            g->lx_doc_start = g->lx_doc_start && x->base + x->i == g->boundary;
    } else {
        size_t from = x->i, run = x->i;
        for (;;) {
            x->i = find4(p, x->i, x->stop, '<', '&', '>', '\r');
            if (x->i >= x->stop || p[x->i] == '<' || p[x->i] == '&')
                break;
            if (p[x->i] == '\r') {
                /* the text so far, then the LF the CR stands for; the round ends after it */
                g->lx_rb = 0;
                text_out(g, x, run, x->i, true);
                x->i++;
                return;
            }
            /* "]]>" may not appear in text */
            size_t gt = x->i, rb = 0;
            while (gt > from + rb && rb < 2 && p[gt - 1 - rb] == ']')
                rb++;
            if (gt == from + rb)
                rb += g->lx_rb;
            if (rb >= 2) {
                /* the text before it is handed on as it would be had the '>' come in a later chunk */
                text_out(g, x, run, gt, false);
                lex_error(g, x, gt, PXMPP_ERR_XML, "not well-formed: ']]>' in text");
                return;
            }
            g->lx_rb = 0;
            from = gt + 1;
            x->i = from;
        }
        /* remember trailing ']' for a '>' in the next chunk */
        size_t rb = 0;
        while (x->i > from + rb && rb < 2 && p[x->i - 1 - rb] == ']')
            rb++;
        g->lx_rb = (uint8_t)(x->i == from + rb ? (rb + g->lx_rb > 2 ? 2 : rb + g->lx_rb) : rb);
        if (x->i > run) {
            text_out(g, x, run, x->i, false);
            if (g->q_n)
                return;
        }
    }
    if (x->i >= x->stop)
        return;
    g->lx_rb = 0;
    g->lx_cr = false;
    if (p[x->i] == '&') {
        /* the tags before it are handed on; the reference itself is the gate's */
        queue_tags(g, x, x->i);
        g->lx = LX_REF;
        g->lx_ret = LX_TEXT;
        g->lx_n = 0;
    } else {
        if (g->lx_depth >= 1) {
            cut_room(g, x);
            if (g->halt)
                return;
        }
        size_t e = scan_tag(g, p, x->i, x->stop);
        if (e) {
            if (!tag_event(g, x, p, x->i, e, x->base + x->i))
                tag_kept(g, x, e);
            x->i = e;
            return;
        }
        g->lx = LX_LT;
        x->tag_start = x->i;
        g->lx_end_tag = false;
        g->lx_slash = false;
        g->lx_attrs = 0;
    }
    x->i++;
}

/* The byte after a '<'. */
static void lex_lt(pxmpp__gate *g, struct lex *x)
{
    unsigned char c = (unsigned char)x->p[x->i];
    if (c == '!') {
        g->lx = LX_BANG;
        g->lx_n = 0;
    } else if (c == '?') {
        g->lx = LX_PI_NAME;
        g->lx_n = 0;
    } else if (c == 0 && g->lx_doc_start) {
        lex_error(g, x, x->i, PXMPP_ERR_ENCODING, "unsupported encoding: the stream is not UTF-8");
        return;
    } else if (c == '/' || is((char)c, B_XNAME_START)) {
        g->lx_end_tag = c == '/';
        g->lx = LX_TAG;
    } else {
        lex_error(g, x, x->i, PXMPP_ERR_XML, "not well-formed: invalid element name");
        return;
    }
    x->i++;
}

/* "<!": only "<![CDATA[" inside a stanza is allowed. */
static void lex_bang(pxmpp__gate *g, struct lex *x)
{
    unsigned char c = (unsigned char)x->p[x->i];
    g->lx_buf[g->lx_n++] = (char)c;
    x->i++;
    if (g->lx_buf[0] == '-') {
        lex_error(g, x, x->i - 1, PXMPP_ERR_RESTRICTED_XML, "restricted XML: comment not allowed (RFC 6120 §11.1)");
        return;
    }
    if (g->lx_buf[0] != '[') {
        lex_error(g, x, x->i - 1, PXMPP_ERR_RESTRICTED_XML,
                  "restricted XML: document type or entity declaration not allowed (RFC 6120 §11.1)");
        return;
    }
    if (g->lx_n < 7)
        return;
    if (memcmp(g->lx_buf, "[CDATA[", 7) != 0) {
        lex_error(g, x, x->i - 1, PXMPP_ERR_XML, "not well-formed: bad '<![' section");
        return;
    }
    if (g->lx_depth <= 1) {
        lex_error(g, x, x->i - 1, PXMPP_ERR_XML, "not well-formed: text outside of a stanza");
        return;
    }
    /* a CDATA section is text the gate hands on itself: the tags before it go to
       libxml2, the "<![CDATA[" marker is consumed (held, when it began in an earlier
       chunk: dropped) */
    if (g->hold_len)
        g->hold_len = 0;
    else
        queue_tags(g, x, x->tag_start);
    x->emit = x->i;
    g->lx = LX_CDATA;
    g->lx_n = 0;
    x->tag_start = SIZE_MAX;
}

/* Inside a CDATA section: its text is handed on as it comes, a CR as a LF. */
static void lex_cdata(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    /* lx_n counts the ']' seen last and not handed on yet: they may begin "]]>" */
    size_t a = x->i, prev = g->lx_n;
    bool end = false, cr = false;
    while (x->i < x->stop) {
        char ch = p[x->i];
        if (ch == '\r') {
            cr = true;
            break;
        }
        x->i++;
        if (ch == ']') {
            if (g->lx_n < 2)
                g->lx_n++;
        } else if (ch == '>' && g->lx_n == 2) {
            end = true;
            break;
        } else {
            g->lx_n = 0;
        }
    }
    if (cr)
        g->lx_n = 0; /* the ']' before a CR cannot begin "]]>": they are text */
    /* the content seen is prev ']' then p[a, x->i) (without the '>' at the end);
       its last lx_n bytes (all ']') wait for what follows */
    size_t seen = prev + (x->i - a) - (end ? 1 : 0), keep = g->lx_n;
    size_t give = seen - keep, from_prev = give < prev ? give : prev;
    if (from_prev)
        queue_text(g, "]]", from_prev, x->base + a, x->base + a);
    queue_text(g, p + a, give - from_prev, x->base + a, x->base + a + (give - from_prev));
    x->emit = x->i;
    if (cr) {
        pxmpp__gate_event *e = queue(g, PXMPP__GATE_TEXT, x->base + x->i + 1);
        e->data = "\n";
        e->len = 1;
        e->at = x->base + x->i;
        g->lx_cr = true;
        x->emit = ++x->i;
    }
    if (end) {
        g->lx = LX_TEXT;
        g->lx_n = 0;
        g->lx_cr = false;
    }
}

/* Bytes held from an earlier chunk (a "<?xml " that began there) are handed on, with
   p[emit, i) after them. */
static void flush_hold(pxmpp__gate *g, struct lex *x)
{
    if (!g->hold_len)
        return;
    if (hold_append(g, x->p + x->emit, x->i - x->emit)) {
        queue_fail(g, PXMPP_ERR_NOMEM, x->base + x->i, "out of memory");
        return;
    }
    size_t hl = g->hold_len;
    g->hold_len = 0;
    x->emit = x->i;
    queue_tags_of(g, g->hold, hl, SIZE_MAX, g->hold_at, x->base + x->i, x->base + x->i);
}

/* "<?": only the XML declaration at the start of the stream is allowed. */
static void lex_pi_name(pxmpp__gate *g, struct lex *x)
{
    unsigned char c = (unsigned char)x->p[x->i];
    g->lx_buf[g->lx_n++] = (char)c;
    x->i++;
    if (g->lx_n < 4)
        return;
    bool xml = memcmp(g->lx_buf, "xml", 3) == 0 && is_space(g->lx_buf[3]);
    if (xml && !g->lx_doc_start) {
        lex_error(g, x, x->i - 1, PXMPP_ERR_XML, "not well-formed: XML declaration not at the start of the stream");
        return;
    }
    if (!xml) {
        lex_error(g, x, x->i - 1, PXMPP_ERR_RESTRICTED_XML,
                  "restricted XML: processing instruction not allowed (RFC 6120 §11.1)");
        return;
    }
    g->lx = LX_XMLDECL;
    g->lx_n = 0;
    g->decl_len = 0;
    x->tag_start = SIZE_MAX;
    flush_hold(g, x);
}


/* Whether v[0, n) is "UTF-8" in any case (XML 1.0 §4.3.3: encoding names are case-insensitive). */
static bool is_utf8_name(const char *v, size_t n)
{
    static const char want[] = "utf-8";
    if (n != 5)
        return false;
    for (size_t i = 0; i < 5; i++) {
        char c = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : v[i];
        if (c != want[i])
            return false;
    }
    return true;
}

/* The value of the encoding pseudo-attribute the declaration collected so far ends with
   (its closing quote is the last byte), or NULL: "encoding" S? "=" S? quote value quote. */
static const char *decl_encoding(const pxmpp__gate *g, size_t *len)
{
    size_t e = g->decl_len;
    if (e < 2)
        return NULL;
    char q = g->decl[e - 1];
    size_t v = e - 1;
    while (v > 0 && g->decl[v - 1] != q)
        v--;
    if (v == 0)
        return NULL;
    size_t k = v - 1; /* the opening quote */
    while (k > 0 && is_space(g->decl[k - 1]))
        k--;
    if (k == 0 || g->decl[k - 1] != '=')
        return NULL;
    k--;
    while (k > 0 && is_space(g->decl[k - 1]))
        k--;
    if (k < 8 || memcmp(g->decl + k - 8, "encoding", 8) != 0 || (k > 8 && !is_space(g->decl[k - 9])))
        return NULL;
    *len = e - 1 - v;
    return g->decl + v;
}

/* Inside the XML declaration: handed to libxml2 as it comes, except an encoding other than
   UTF-8 (RFC 6120 §11.6), refused here at its closing quote: libxml2's own outcome for it
   depends on how the declaration was chunked. */
static void lex_xmldecl(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    while (x->i < x->stop) {
        char ch = p[x->i++];
        if (ch == '>' && g->lx_n == 1) {
            g->lx = LX_TEXT;
            g->lx_n = 0;
            break;
        }
        g->lx_n = ch == '?';
        if (g->decl_len < sizeof g->decl)
            g->decl[g->decl_len++] = ch;
        size_t vl = 0;
        const char *v = (ch == '\'' || ch == '"') && g->decl_len < sizeof g->decl ? decl_encoding(g, &vl) : NULL;
        if (v && !is_utf8_name(v, vl)) {
            char name[33], what[128];
            size_t k;
            for (k = 0; k < vl && k < sizeof name - 1; k++) /* printable ASCII only in the reason */
                name[k] = v[k] > ' ' && v[k] < 0x7f ? v[k] : '?';
            name[k] = '\0';
            snprintf(what, sizeof what, "unsupported encoding: the XML declaration names '%s' (XMPP is UTF-8)", name);
            lex_error(g, x, x->i - 1, PXMPP_ERR_ENCODING, what);
            return;
        }
    }
}

/* Inside a quoted attribute value of a tag read byte by byte. */
static void lex_quoted(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    x->i = find4(p, x->i, x->stop, g->lx == LX_TQ1 ? '\'' : '"', '<', '&', '&');
    if (x->i >= x->stop)
        return;
    if (p[x->i] == '<') {
        lex_error(g, x, x->i, PXMPP_ERR_XML, "not well-formed: '<' in an attribute value");
        return;
    }
    if (p[x->i] == '&') {
        g->lx_ret = g->lx;
        g->lx = LX_REF;
        g->lx_n = 0;
    } else {
        g->lx = LX_TAG;
    }
    x->i++;
}

/* Inside a reference "&...;", in text or in an attribute value. */
static void lex_ref(pxmpp__gate *g, struct lex *x)
{
    unsigned char c = (unsigned char)x->p[x->i];
    if (c == ';') {
        uint32_t cp = 0;
        int r = g->lx_n ? check_ref(g, &cp) : PXMPP_ERR_XML;
        if (r) {
            lex_error(g, x, x->i, r,
                      r == PXMPP_ERR_RESTRICTED_XML ? "restricted XML: entity reference other than the predefined ones"
                                                    : "not well-formed: malformed character or entity reference");
            return;
        }
        g->lx = g->lx_ret;
        x->i++;
        if (g->lx == LX_TEXT) {
            char u[4];
            size_t ul = pxmpp__utf8_put(u, cp);
            queue_text(g, u, ul, x->base + x->emit, x->base + x->i);
            if (g->q_n && g->q[g->q_n - 1].ev.data == u) { /* the event keeps its own copy */
                memcpy(g->q[g->q_n - 1].text, u, ul);
                g->q[g->q_n - 1].ev.data = g->q[g->q_n - 1].text;
            }
            x->emit = x->i;
        }
        return;
    }
    if ((!is((char)c, B_XNAME) && c != '#') || g->lx_n >= sizeof g->lx_buf - 1) {
        lex_error(g, x, x->i, PXMPP_ERR_XML, "not well-formed: '&' not followed by a reference");
        return;
    }
    g->lx_buf[g->lx_n++] = (char)c;
    x->i++;
}

/* A tag that began in an earlier chunk is whole at p[i - 1]: it is handed on from the
   hold, read by scan_tag as if it had come in one chunk when it is a start tag inside
   the stream element or the end tag of an element the gate read itself. */
static void held_tag_out(pxmpp__gate *g, struct lex *x, bool start_in)
{
    if (hold_append(g, x->p, x->i)) {
        queue_fail(g, PXMPP_ERR_NOMEM, x->base + x->i, "out of memory");
        return;
    }
    size_t hl = g->hold_len;
    g->hold_len = 0;
    x->emit = x->i;
    g->halt = true; /* its event may point into the hold, which the round must not touch again */
    const char *name;
    size_t nl;
    bool end_plain = g->lx_end_tag && open_plain(g, &name, &nl);
    size_t cut_at = SIZE_MAX;
    if (start_in || end_plain) {
        bool e = g->lx_end_tag, sl = g->lx_slash;
        g->cuts_n = 0; /* the round's first tag */
        g->cut_base = g->hold; /* for the rest of the round, which ends with this tag's event */
        if (scan_tag(g, g->hold, 0, hl) == hl) {
            if (tag_event(g, x, g->hold, 0, x->i, g->hold_at))
                return;
            cut_at = 0;
        } else if (end_plain) {
            mismatch(g, g->hold_at, NULL, 0);
            return;
        } else {
            g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = 0, .len = 0, .kind = CUT_TAG };
        }
        g->lx_end_tag = e;
        g->lx_slash = sl;
    }
    queue_tags_of(g, g->hold, hl, cut_at, g->hold_at, x->base + x->i, x->base + x->i);
    tag_kept(g, x, x->i);
}

/* Inside a tag read byte by byte (one that began in an earlier chunk, or one
   scan_tag did not take), up to its '>'. */
static void lex_tag(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t from = x->i;
    x->i = find4(p, x->i, x->stop, '>', '\'', '"', '"');
    if (x->i > from)
        g->lx_slash = p[x->i - 1] == '/'; /* "<x/>": the byte before '>' */
    if (x->i >= x->stop)
        return;
    if (p[x->i] != '>') {
        if (++g->lx_attrs > g->max_attrs) { /* one quoted value per attribute */
            lex_error(g, x, x->i, PXMPP_ERR_LIMIT, "too many attributes on one element");
            return;
        }
        g->lx = p[x->i] == '\'' ? LX_TQ1 : LX_TQ2;
        g->lx_slash = false;
        x->i++;
        return;
    }
    /* a complete tag (still "in the tag" for lex_error: libxml2 never gets it) */
    if (g->lx_end_tag && g->lx_depth == 0) {
        lex_error(g, x, x->i, PXMPP_ERR_XML, "not well-formed: end tag without a start tag");
        return;
    }
    bool start_in = !g->lx_end_tag && g->lx_depth >= 1;
    x->i++;
    const char *name;
    size_t nl;
    if (g->hold_len) {
        held_tag_out(g, x, start_in);
    } else if (g->lx_end_tag && open_plain(g, &name, &nl)) {
        /* the end of an element libxml2 never saw: scan_tag reads it, or it is wrong */
        if (scan_tag(g, p, x->tag_start, x->i) != x->i || !tag_event(g, x, p, x->tag_start, x->i, x->base + x->tag_start)) {
            queue_tags(g, x, x->tag_start);
            mismatch(g, x->base + x->tag_start, NULL, 0);
        }
    } else {
        if (start_in) /* on_start takes libxml2's values for it */
            g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = x->tag_start, .len = 0, .kind = CUT_TAG };
        tag_kept(g, x, x->i);
    }
    x->tag_start = SIZE_MAX;
}

/* The end of the round's input: what is complete is handed on, a partial tag is held. */
static void lex_finish(pxmpp__gate *g, struct lex *x)
{
    if (in_tag(g->lx, g->lx_ret)) {
        size_t from = x->emit;
        if (!g->hold_len) {
            from = x->tag_start == SIZE_MAX ? x->emit : x->tag_start;
            queue_tags(g, x, from);
            g->hold_at = x->base + from;
        }
        if (hold_append(g, x->p + from, x->n - from))
            queue_fail(g, PXMPP_ERR_NOMEM, x->base + x->n, "out of memory");
    } else if (g->lx != LX_REF) {
        queue_tags(g, x, x->n);
    }
    /* (a reference in text, continued in the next chunk, is the gate's: lx_buf holds it) */
    x->emit = x->end = x->n;
}

/* The peer closed its stream in this round: the tags up to its close tag are handed
   on, the bytes after it are checked on their own (after_close). */
static void close_out(pxmpp__gate *g, struct lex *x)
{
    size_t upto = (size_t)(g->boundary - x->base);
    queue_tags(g, x, upto);
    x->end = upto;
}

/* One round: lexes p[x->i, x->n) until there is an event to hand on or the input ends. */
static void lex_round(pxmpp__gate *g, struct lex *x)
{
    /* the entries of the previous round were all used when its tags were parsed */
    g->cuts_n = g->cuts_fed = g->cuts_used = 0;
    g->cut_base = x->p;
    g->halt = false;
    for (;;) {
        if (g->halt || g->q_n > PXMPP__GATE_QUEUE - PXMPP__GATE_STEP) {
            x->end = x->i;
            return;
        }
        if (g->lx_closed) {
            close_out(g, x);
            return;
        }
        if (x->i >= x->n) {
            lex_finish(g, x);
            return;
        }
        uint64_t cap = g->lx_depth == 0 ? g->max_header : g->max_stanza;
        uint64_t limit = g->boundary + cap; /* app offset of the first byte over the limit */
        x->stop = x->n;
        if (limit < x->base + x->n)
            x->stop = limit > x->base ? (size_t)(limit - x->base) : 0;
        if (x->i >= x->stop) {
            char what[96];
            snprintf(what, sizeof what, "%s larger than %zu bytes",
                     g->lx_depth == 0 ? "stream header" : "top-level element", (size_t)cap);
            if (g->lx == LX_BANG || g->lx == LX_PI_NAME)
                lex_error(g, x, x->i, PXMPP_ERR_RESTRICTED_XML, "restricted XML: comment or processing instruction");
            else
                lex_error(g, x, x->i, PXMPP_ERR_LIMIT, what);
            continue;
        }
        switch ((enum pxmpp__lx)g->lx) {
        case LX_TEXT:
            lex_text(g, x);
            break;
        case LX_LT:
            lex_lt(g, x);
            break;
        case LX_BANG:
            lex_bang(g, x);
            break;
        case LX_CDATA:
            lex_cdata(g, x);
            break;
        case LX_PI_NAME:
            lex_pi_name(g, x);
            break;
        case LX_XMLDECL:
            lex_xmldecl(g, x);
            break;
        case LX_TQ1:
        case LX_TQ2:
            lex_quoted(g, x);
            break;
        case LX_REF:
            lex_ref(g, x);
            break;
        case LX_TAG:
            lex_tag(g, x);
            break;
        }
    }
}


/* Index of the first byte of p[0, n) that makes the input invalid UTF-8 or an XML
   character that is not allowed (C0 controls but tab, LF, CR; surrogates; U+FFFE,
   U+FFFF; above U+10FFFF; overlong forms), or n.  libxml2 checks some of this
   lazily (in CDATA, at the end of the input), which would make the outcome depend
   on the chunking. */
static size_t utf8_scan(pxmpp__gate *g, const unsigned char *p, size_t n)
{
    size_t i = 0;
    uint32_t need = g->u8_need, cp = g->u8_cp, min = g->u8_min;
    while (i < n) {
        if (need == 0) {
#if defined(__SSE2__) && defined(__GNUC__)
            /* as signed bytes, both >= 0x80 and < 0x20 compare below 0x20 */
            const __m128i sp = _mm_set1_epi8(0x20);
            while (n - i >= 16) {
                unsigned m = (unsigned)_mm_movemask_epi8(
                    _mm_cmplt_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), sp));
                if (m) {
                    i += (size_t)__builtin_ctz(m); /* straight to the first byte that needs a look */
                    break;
                }
                i += 16;
            }
            if (n - i >= 16)
                goto look;
#endif
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                /* any byte >= 0x80 or < 0x20 sends the word to the byte loop */
                if ((w | ((w - 0x2020202020202020ULL) & ~w)) & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            if (i >= n)
                break;
#if defined(__SSE2__) && defined(__GNUC__)
        look:;
#endif
            unsigned c = p[i];
            if (c < 0x80) {
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                    break;
                i++;
                continue;
            }
            /* a whole valid sequence in one step; anything else byte by byte below,
               which finds the exact offset of the fault */
            if (c >= 0xC2 && c <= 0xDF && n - i >= 2 && (p[i + 1] & 0xC0) == 0x80) {
                i += 2;
                continue;
            }
            if (c >= 0xE0 && c <= 0xEF && n - i >= 3 && (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80) {
                uint32_t v = ((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
                if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF) && v < 0xFFFE) {
                    i += 3;
                    continue;
                }
            }
            if (c >= 0xF0 && c <= 0xF4 && n - i >= 4 && (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80 &&
                (p[i + 3] & 0xC0) == 0x80) {
                uint32_t v = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) |
                             (p[i + 3] & 0x3Fu);
                if (v >= 0x10000 && v <= 0x10FFFF) {
                    i += 4;
                    continue;
                }
            }
            if (c >= 0xC2 && c <= 0xDF) {
                need = 1, cp = c & 0x1F, min = 0x80;
            } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2, cp = c & 0x0F, min = 0x800;
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3, cp = c & 0x07, min = 0x10000;
            } else {
                break;
            }
            i++;
            continue;
        }
        unsigned c = p[i];
        if ((c & 0xC0) != 0x80)
            break;
        cp = (cp << 6) | (c & 0x3F);
        if (--need == 0 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF))
            break;
        i++;
    }
    g->u8_need = need;
    g->u8_cp = cp;
    g->u8_min = min;
    return i;
}

/* ---- the pull interface --------------------------------------------------------- */

/* The next queued event of the round. */
static size_t pop(pxmpp__gate *g, pxmpp__gate_event *ev)
{
    const struct pxmpp__gate_q *q = &g->q[g->q_at++];
    size_t used = q->upto > g->lexed ? (size_t)(q->upto - g->lexed) : 0;
    g->lexed += used;
    *ev = q->ev;
    if (ev->kind == PXMPP__GATE_TAGS) {
        /* libxml2's bytes from lib_fed on stand for this event's app bytes */
        g->map_base = (int64_t)ev->at - (int64_t)g->lib_fed;
        g->map_lib = g->lib_fed;
        g->map_end = ev->end;
        g->lib_fed += ev->len;
    } else if (ev->kind == PXMPP__GATE_FAIL) {
        g->failed = true;
        g->fail = *ev;
    }
    if (g->q_at == g->q_n)
        g->q_n = g->q_at = 0;
    return used;
}

/* How many bytes of p[0, n) (at app offset g->lexed) the lexer may see: up to the
   first byte the UTF-8 scan refuses.  Each byte is scanned once. */
static size_t scan(pxmpp__gate *g, const char *p, size_t n)
{
    const uint64_t base = g->lexed;
    if (!g->scan_bad && g->scanned < base + n) {
        size_t k = (size_t)(g->scanned - base);
        size_t ok = utf8_scan(g, (const unsigned char *)p + k, n - k);
        g->scanned += ok;
        g->scan_bad = k + ok < n;
    }
    return g->scanned - base < n ? (size_t)(g->scanned - base) : n;
}

/* The byte at p[0] is one the UTF-8 scan refused. */
static void utf8_fail(pxmpp__gate *g, const char *p)
{
    unsigned char bad = (unsigned char)p[0];
    bool first = g->lx_doc_start && g->lexed == g->boundary;
    if ((first && (bad == 0xFE || bad == 0xFF || bad == 0x00)) || /* a UTF-16/32 BOM, or "\0<" */
        (bad == 0 && g->lx_doc_start && g->lexed == g->boundary + 1)) /* "<\0": UTF-16/32 without a BOM */
        queue_fail(g, PXMPP_ERR_ENCODING, g->lexed, "unsupported encoding: the stream is not UTF-8");
    else
        queue_fail(g, PXMPP_ERR_XML, g->lexed, "not well-formed: invalid UTF-8 or a character not allowed in XML");
}

/* The bytes p[0, n) that follow the peer's </stream:stream> (or its empty stream
   element).  The document is over: XML allows white space after it (XML 1.0 §2.1,
   document ::= prolog element Misc*; the comments and processing instructions of Misc
   are restricted in XMPP), so white space is consumed and dropped, and anything else
   is a FAIL at its first byte. */
static size_t after_close(pxmpp__gate *g, const char *p, size_t n, pxmpp__gate_event *ev)
{
    size_t i = 0;
    while (i < n && is_space(p[i]))
        i++;
    if (i < n) {
        queue_fail(g, PXMPP_ERR_XML, g->lexed + i, "not well-formed: data after the end of the stream");
        return pop(g, ev);
    }
    g->lexed += n;
    memset(ev, 0, sizeof *ev);
    ev->kind = PXMPP__GATE_MORE;
    return n;
}

size_t pxmpp__gate_next(pxmpp__gate *g, const char *p, size_t n, pxmpp__gate_event *ev)
{
    if (g->q_n)
        return pop(g, ev);
    if (g->failed) {
        *ev = g->fail;
        return 0;
    }
    size_t used = 0;
    for (;;) {
        if (used == n) {
            memset(ev, 0, sizeof *ev);
            ev->kind = PXMPP__GATE_MORE;
            return used;
        }
        if (g->lx_closed)
            return used + after_close(g, p + used, n - used, ev);
        size_t lim = scan(g, p + used, n - used);
        if (lim == 0) {
            utf8_fail(g, p + used);
            return used + pop(g, ev);
        }
        struct lex x = { .p = p + used, .n = lim, .base = g->lexed, .tag_start = SIZE_MAX };
        lex_round(g, &x);
        if (g->q_n) {
            g->q[g->q_n - 1].upto = x.base + x.end;
            return used + pop(g, ev);
        }
        g->lexed += x.end; /* all of it lexed, nothing to hand on yet (white space, a held tag) */
        used += x.end;
    }
}

/* ---- life cycle ------------------------------------------------------------------ */

void pxmpp__gate_init(pxmpp__gate *g, const pxmpp_mem *mem, size_t max_header, size_t max_stanza, size_t max_attrs,
                      size_t max_depth)
{
    memset(g, 0, sizeof *g);
    g->mem = *mem;
    g->max_header = max_header;
    g->max_stanza = max_stanza;
    g->max_attrs = max_attrs;
    g->max_depth = max_depth;
}

void pxmpp__gate_trim(pxmpp__gate *g)
{
    if (!pxmpp__gate_idle(g))
        return; /* a tag in the middle: its held bytes and cut entries are still needed */
    g->mem.free(g->hold, g->mem.ud);
    g->mem.free(g->cuts, g->mem.ud);
    g->mem.free(g->brk, g->mem.ud);
    g->mem.free(g->stage, g->mem.ud);
    g->hold = g->stage = NULL;
    g->cuts = NULL;
    g->brk = NULL;
    g->hold_cap = g->cuts_cap = g->stage_cap = 0;
    g->cuts_n = g->cuts_fed = g->cuts_used = g->brk_n = 0;
    if (g->lx_depth <= 1) { /* no element open inside a stanza: no names kept */
        g->mem.free(g->open, g->mem.ud);
        g->mem.free(g->names, g->mem.ud);
        g->open = NULL;
        g->names = NULL;
        g->open_cap = g->names_cap = g->names_len = 0;
    }
}

void pxmpp__gate_free(pxmpp__gate *g)
{
    g->mem.free(g->hold, g->mem.ud);
    g->mem.free(g->cuts, g->mem.ud);
    g->mem.free(g->brk, g->mem.ud);
    g->mem.free(g->stage, g->mem.ud);
    g->mem.free(g->open, g->mem.ud);
    g->mem.free(g->names, g->mem.ud);
    g->hold = g->stage = g->names = NULL;
    g->cuts = NULL;
    g->brk = NULL;
    g->open = NULL;
}

void pxmpp__gate_reset(pxmpp__gate *g, uint64_t at, bool resume, bool content_only)
{
    if (at > g->lexed)
        at = g->lexed;
    g->lexed = g->scanned = g->ctxt_base = g->boundary = at;
    g->scan_bad = false;
    g->u8_need = g->u8_cp = g->u8_min = 0; /* a new context begins after a tag or a new document */
    g->q_n = g->q_at = 0;
    g->failed = false;
    g->lib_fed = g->map_lib = 0;
    g->map_base = (int64_t)at;
    g->map_end = at;
    g->brk_n = 0;
    g->cuts_n = g->cuts_fed = g->cuts_used = 0;
    g->hold_len = 0;
    g->names_len = 0; /* (open[] entries are written as elements open) */
    g->lx = LX_TEXT;
    g->lx_n = 0;
    g->lx_rb = 0;
    g->lx_cr = false;
    g->lx_closed = false;
    /* resume: same stream, fresh context, at a stanza boundary: the bytes after it
       are lexed again inside the stream element */
    g->lx_doc_start = !resume && !content_only;
    g->lx_depth = resume || content_only ? 1 : 0;
}

void pxmpp__gate_prefix(pxmpp__gate *g, size_t hlen)
{
    g->lib_fed = hlen;
    g->map_base = (int64_t)g->ctxt_base - (int64_t)hlen;
}

uint64_t pxmpp__gate_offset(const pxmpp__gate *g, long c)
{
    if (c < 0)
        return g->ctxt_base;
    uint64_t cut = 0;
    if ((uint64_t)c >= g->map_lib) {
        uint64_t rel = (uint64_t)c - g->map_lib;
        size_t lo = 0, hi = g->brk_n; /* the last break point at or before c */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (g->brk[mid].lib <= rel)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo)
            cut = g->brk[lo - 1].cum;
    }
    int64_t off = g->map_base + (int64_t)c + (int64_t)cut;
    if (off < (int64_t)g->ctxt_base)
        return g->ctxt_base;
    return (uint64_t)off > g->map_end ? g->map_end : (uint64_t)off;
}

size_t pxmpp__gate_memory(const pxmpp__gate *g)
{
    return g->hold_cap + g->cuts_cap * (sizeof *g->cuts + sizeof *g->brk) + g->stage_cap +
           g->open_cap * sizeof *g->open + g->names_cap;
}
