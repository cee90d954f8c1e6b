/* The gate: a byte-level lexer in front of libxml2 (see gate.h).  It hands libxml2
   only complete tags (linear cost whatever the chunking), enforces the size limits
   byte-exactly, and rejects restricted XML and malformed references as soon as
   they start. */
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

#define RESTARTED PXMPP__GATE_RESTARTED
#define PAUSED PXMPP__GATE_PAUSED

#define ERR(g) ((g)->sink->error((g)->user))

/* The sticky error when there is one, otherwise rc. */
static int gate_err(pxmpp__gate *g, int rc)
{
    int e = ERR(g);
    return e ? e : rc;
}

static int gate_fail(pxmpp__gate *g, int code, uint64_t off, const char *what)
{
    return g->sink->fail(g->user, code, off, what);
}

/* One parse call: libxml2 gets data[0, n), which stands for the next app_len
   app bytes (start: app offset where the whole feed began).  Returns 0, the
   sticky error, or RESTARTED with *used = app bytes of the feed consumed before
   the restart point. */
static int parse_piece(pxmpp__gate *g, const char *data, size_t n, size_t app_len, uint64_t start, size_t *used)
{
    uint64_t before = g->fed;
    g->fed += app_len;
    int rc = g->sink->parse(g->user, data, n);
    g->lib_fed += n;
    if (rc == RESTARTED) {
        uint64_t at = g->restart_at < before ? before : g->restart_at > g->fed ? g->fed : g->restart_at;
        *used = (size_t)(at - start);
        g->fed = at;
    }
    return rc;
}

/* Gives libxml2 a copy of the range without the values cut from its tags (base:
   offset of p in cut_base); see feed_parser. */
static int feed_cut(pxmpp__gate *g, const char *p, size_t len, size_t *used, size_t base)
{
    size_t need = len;
    for (size_t k = g->cuts_fed; k < g->cuts_n && g->cuts[k].off < base + len; k++)
        if (g->cuts[k].kind >= CUT_VAL)
            need -= g->cuts[k].len;
    if (g->stage_cap < need) {
        size_t cap = g->stage_cap ? g->stage_cap : 2048; /* a chunk's tags, without their attributes */
        while (cap < need)
            cap *= 2;
        char *st = g->mem.realloc(g->stage, cap, g->mem.ud);
        if (!st)
            return gate_fail(g, PXMPP_ERR_NOMEM, g->fed, "out of memory");
        g->stage = st;
        g->stage_cap = cap;
    }
    size_t o = 0, from = base;
    uint64_t cum = 0;
    g->brk_n = 0;
    while (g->cuts_fed < g->cuts_n && g->cuts[g->cuts_fed].off < base + len) {
        const struct pxmpp__cut *c = &g->cuts[g->cuts_fed++];
        if (c->kind < CUT_VAL)
            continue;
        memcpy(g->stage + o, p + (from - base), c->off - from);
        o += c->off - from;
        from = c->off + c->len;
        cum += c->len;
        g->brk[g->brk_n++] = (struct pxmpp__brk){ g->lib_fed + o, cum };
    }
    memcpy(g->stage + o, p + (from - base), base + len - from);
    o += base + len - from;
    int rc = parse_piece(g, g->stage, o, len, g->fed, used);
    g->skipped += cum;
    g->brk_n = 0;
    return rc;
}

/* Gives libxml2 `len` bytes whose first byte is at app offset g->fed (base: their
   offset in cut_base when values cut from their tags must be left out, SIZE_MAX for
   held bytes, which never hold any).  Returns 0, the sticky error, or RESTARTED with
   *used = bytes consumed before the restart point (the rest must be lexed again for
   the new document). */
static int feed_parser(pxmpp__gate *g, const char *p, size_t len, size_t *used, size_t base)
{
    if (base != SIZE_MAX) {
        while (g->cuts_fed < g->cuts_n && g->cuts[g->cuts_fed].off < base + len && g->cuts[g->cuts_fed].kind < CUT_VAL)
            g->cuts_fed++;
        if (g->cuts_fed < g->cuts_n && g->cuts[g->cuts_fed].off < base + len)
            return feed_cut(g, p, len, used, base);
    }
    const uint64_t start = g->fed;
    while (len > 0) {
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        int rc = parse_piece(g, p, n, n, start, used);
        if (rc)
            return rc;
        p += n;
        len -= n;
    }
    return 0;
}

static int hold_append(pxmpp__gate *g, const char *p, size_t n)
{
    if (g->hold_cap - g->hold_len < n) {
        size_t cap = g->hold_cap ? g->hold_cap : 256;
        while (cap - g->hold_len < n)
            cap *= 2;
        char *h = g->mem.realloc(g->hold, cap, g->mem.ud);
        if (!h)
            return PXMPP_ERR_NOMEM;
        g->hold = h;
        g->hold_cap = cap;
    }
    memcpy(g->hold + g->hold_len, p, n);
    g->hold_len += n;
    return 0;
}

static bool in_tag(uint8_t lx, uint8_t ret)
{
    return lx == LX_LT || lx == LX_TAG || lx == LX_TQ1 || lx == LX_TQ2 || lx == LX_BANG || lx == LX_PI_NAME ||
           (lx == LX_REF && ret != LX_TEXT);
}

static int gate_lex(pxmpp__gate *g, const char *p, size_t n);

/* Restart handling: the bytes after the restart point go through a fresh lexer. */
static int gate_restart(pxmpp__gate *g, const char *a, size_t alen, const char *b, size_t blen)
{
    /* a and b may point into the held tag, which the fresh lexer reuses */
    char *tmp = g->mem.malloc(alen + blen + 1, g->mem.ud);
    if (!tmp)
        return gate_fail(g, PXMPP_ERR_NOMEM, g->fed, "out of memory");
    if (alen)
        memcpy(tmp, a, alen);
    if (blen)
        memcpy(tmp + alen, b, blen);
    g->lexed = g->fed;
    int rc = g->sink->restart(g->user); /* pxmpp__gate_reset, unless paused */
    if (rc == PAUSED)
        g->paused = true; /* the rest of the input stays unread */
    else if (!rc)
        rc = gate_lex(g, tmp, alen + blen); /* these bytes were checked as UTF-8 already */
    g->mem.free(tmp, g->mem.ud);
    return rc;
}

/* Feeds p[emit, upto) (plus nothing held).  On restart, re-lexes the remainder of p. */
static int emit_range(pxmpp__gate *g, const char *p, size_t n, size_t *emit, size_t upto, bool *done)
{
    if (upto <= *emit)
        return 0;
    size_t used = 0;
    int rc = feed_parser(g, p + *emit, upto - *emit, &used, *emit);
    if (rc == RESTARTED) {
        *done = true;
        return gate_restart(g, p + *emit + used, n - *emit - used, NULL, 0);
    }
    *emit = upto;
    return rc;
}

/* Text inside a stanza goes from the gate to the stream, which gives it to the
   decoder: libxml2 never sees it.  The gate has checked it already (UTF-8, XML
   characters, "]]>", references), so what remains is decoding references and
   XML's end-of-line rule (XML 1.0 §2.11: CR LF and a lone CR are read as LF).
   The tags before the text are given to libxml2 first, so the element the text
   belongs to is the decoder's current one. */
static void text_deliver(pxmpp__gate *g, const char *t, size_t len)
{
    if (len)
        (void)g->sink->text(g->user, t, len);
}

/* The gate consumed p[*emit, upto) itself: libxml2 never gets these bytes. */
static void gate_skip(pxmpp__gate *g, size_t *emit, size_t upto)
{
    g->fed += upto - *emit;
    g->skipped += upto - *emit;
    *emit = upto;
}

/* Delivers the text p[a, b) (no '<' or '&' in it; cr: it may hold a CR). */
static int gate_text(pxmpp__gate *g, const char *p, size_t n, size_t *emit, size_t a, size_t b, bool cr, bool *done)
{
    int rc = emit_range(g, p, n, emit, a, done);
    if (rc || *done || ERR(g))
        return gate_err(g, rc);
    const char *t = p + a;
    size_t len = b - a;
    if (g->lx_cr && len && *t == '\n') {
        t++;
        len--;
    }
    g->lx_cr = false;
    if (!cr) {
        text_deliver(g, t, len);
        len = 0;
    }
    while (len) {
        const char *r = memchr(t, '\r', len);
        if (!r) {
            text_deliver(g, t, len);
            break;
        }
        size_t k = (size_t)(r - t);
        text_deliver(g, t, k);
        text_deliver(g, "\n", 1);
        k++;
        if (k < len && t[k] == '\n')
            k++;
        else if (k == len)
            g->lx_cr = true;
        t += k;
        len -= k;
    }
    gate_skip(g, emit, b);
    return ERR(g);
}

/* Leaving the held states for a pass-through one (CDATA, XML declaration): a
   construct that began in an earlier chunk is handed over now. */
static int flush_hold(pxmpp__gate *g, const char *p, size_t n, size_t i, size_t *emit, bool *done)
{
    if (!g->hold_len)
        return 0;
    int rc = hold_append(g, p + *emit, i - *emit);
    if (rc)
        return gate_fail(g, rc, g->lexed + i, "out of memory");
    size_t used = 0, hl = g->hold_len;
    g->hold_len = 0;
    rc = feed_parser(g, g->hold, hl, &used, SIZE_MAX);
    *emit = i;
    if (rc == RESTARTED) {
        *done = true;
        return gate_restart(g, g->hold + used, hl - used, p + i, n - i);
    }
    return rc;
}

/* A violation found by the gate at p[at].  What came before it is delivered first,
   except the bytes of an unfinished tag: libxml2 never sees a partial tag, so the
   outcome is the same however the input was chunked. */
static int lex_error(pxmpp__gate *g, const char *p, size_t n, size_t emit, size_t at, size_t tag_start, int code,
                     const char *what)
{
    bool done = false;
    uint64_t off = g->lexed + at;
    if (!in_tag(g->lx, g->lx_ret) || g->hold_len == 0) {
        /* (the bytes of a reference in text are the gate's: they are not given to libxml2) */
        size_t upto = in_tag(g->lx, g->lx_ret) ? (tag_start == SIZE_MAX ? emit : tag_start) : g->lx == LX_REF ? emit : at;
        int rc = emit_range(g, p, n, &emit, upto, &done);
        if (rc || done || ERR(g))
            return gate_err(g, rc);
    }
    return gate_fail(g, code, off, what);
}

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

/* The gate's bookkeeping for a complete tag; i: index just after its '>'. */
static void tag_closed(pxmpp__gate *g, size_t i)
{
    g->lx = LX_TEXT;
    g->lx_doc_start = false;
    if (g->lx_end_tag) {
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
    }
}

/* The common case of a tag starting at p[i] == '<': the whole tag lies before stop
   and its attribute values hold no reference.  Returns the index after its '>' (with
   lx_end_tag and lx_slash set as the state machine would), or 0: the state machine
   then takes the tag byte by byte and reports what is wrong with it, if anything. */
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

/* What an attribute is, by its name. */
enum attr_kind {
    ATTR_NSDECL, /* a namespace declaration: libxml2 needs its value */
    ATTR_XML,    /* xml:lang or another xml: attribute: left to libxml2 */
    ATTR_OTHER,  /* any other: its value can be cut */
};

/* The kind of the attribute whose name starts at p[k] and ends before q. */
static enum attr_kind attr_kind(const char *p, size_t k, size_t q)
{
    if (q - k < 4 || p[k] != 'x' || p[k + 1] != 'm' || p[k + 2] != 'l')
        return ATTR_OTHER;
    if (p[k + 3] == ':')
        return ATTR_XML;
    if (q - k >= 6 && p[k + 3] == 'n' && p[k + 4] == 's' && (p[k + 5] == ':' || p[k + 5] == '=' || is_space(p[k + 5])))
        return ATTR_NSDECL;
    return ATTR_OTHER;
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


/* A start tag inside the stream element at p[i], read in full: ASCII names, white
   space where XML wants it, no name given twice.  Its unprefixed attributes are cut
   whole (libxml2 gets the tag without them), the others as fast_tag does.  Returns
   the index after its '>', or 0 when the tag is not of that shape (fast_tag or the
   state machine then takes it). */
static size_t cut_tag(pxmpp__gate *g, const char *p, size_t i, size_t stop)
{
    size_t t = g->cuts_n, j = i + 1, attrs = 0;
    int default_ns = 0;
    g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = i, .kind = CUT_TAG };
    if (j >= stop || !is(p[j], B_NAME_START))
        goto no;
    while (j < stop && is(p[j], B_NAME))
        j++;
    for (;;) {
        size_t sp = j;
        while (j < stop && is_space(p[j]))
            j++;
        if (j >= stop)
            goto no;
        if (p[j] == '>' || (p[j] == '/' && j + 1 < stop && p[j + 1] == '>')) {
            g->lx_end_tag = false;
            g->lx_slash = p[j] == '/';
            g->cuts[t].len = (uint32_t)(g->cuts_n - t - 1);
            return j + (g->lx_slash ? 2 : 1);
        }
        /* (past 32 attributes the check for repeated names would cost more than
           libxml2's parsing saves: the tag is left to it) */
        if (j == sp || ++attrs > g->max_attrs || attrs > 32 || !is(p[j], B_NAME_START))
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
        size_t nl = ne - ns;
        if (nl >= 5 && memcmp(p + ns, "xmlns", 5) == 0 && (nl == 5 || p[ns + 5] == ':')) {
            /* a default namespace is cut whole (on_start keeps it in scope); a
               second one is libxml2's to refuse */
            if (nl == 5 && default_ns++)
                goto no;
            if (nl == 5 && !ws && !refs && ns_cuttable(p + v, j - v))
                g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = sp,
                                                     .len = (uint32_t)(j + 1 - sp),
                                                     .voff = (uint32_t)(v - sp),
                                                     .vlen = (uint32_t)(j - v),
                                                     .kind = CUT_NSW };
        } else if (colon) {
            bool keep = nl > 4 && memcmp(p + ns, "xml:", 4) == 0;
            g->cuts[g->cuts_n++] = (struct pxmpp__cut){
                .off = v, .len = (uint32_t)(j - v), .kind = keep ? CUT_KEEP : ws || refs ? CUT_VALX : CUT_VAL
            };
        } else {
            /* libxml2 would refuse a name given twice: let it see the tag */
            for (size_t k = t + 1; k < g->cuts_n; k++)
                if ((g->cuts[k].kind == CUT_ATTR || g->cuts[k].kind == CUT_ATTRX) && g->cuts[k].nlen == nl) {
                    const char *other = p + g->cuts[k].off + g->cuts[k].noff;
                    if (other[0] == p[ns] && memcmp(other, p + ns, nl) == 0)
                        goto no;
                }
            g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = sp,
                                                 .len = (uint32_t)(j + 1 - sp),
                                                 .voff = (uint32_t)(v - sp),
                                                 .vlen = (uint32_t)(j - v),
                                                 .noff = (uint32_t)(ns - sp),
                                                 .nlen = (uint16_t)nl,
                                                 .kind = ws || refs ? CUT_ATTRX : CUT_ATTR };
        }
        j++;
    }
no:
    g->cuts_n = t;
    return 0;
}

static size_t fast_tag(pxmpp__gate *g, const char *p, size_t i, size_t stop)
{
    if (stop - i < 3)
        return 0;
    if (p[i + 1] != '/' && g->lx_depth >= 1) {
        size_t e = cut_tag(g, p, i, stop);
        if (e)
            return e;
    }
    unsigned char c = (unsigned char)p[i + 1];
    bool end = c == '/';
    if (!(end || is((char)c, B_XNAME_START)) ||
        (end && g->lx_depth == 0))
        return 0;
    /* a start tag inside the stream element: its plain values are cut (see struct pxmpp__cut) */
    bool cut = !end && g->lx_depth >= 1;
    size_t t = g->cuts_n;
    if (cut)
        g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = i, .len = 0, .kind = CUT_TAG };
    size_t j = i + 2, attrs = 0;
    for (;;) {
        size_t from = j;
        j = find4(p, j, stop, '>', '\'', '"', '"');
        if (j >= stop)
            break;
        if (p[j] == '>') {
            g->lx_end_tag = end;
            g->lx_slash = j > from && p[j - 1] == '/';
            if (cut)
                g->cuts[t].len = (uint32_t)(g->cuts_n - t - 1);
            return j + 1;
        }
        if (++attrs > g->max_attrs || end)
            break;
        size_t v = j + 1;
        bool ws, refs;
        j = value_end(p, v, stop, p[j], &ws, &refs);
        if (j >= stop || j - v > UINT32_MAX)
            break;
        if (cut) {
            /* the attribute's name: back from the '=' before the quote (first
               attribute, after the element name) or after the previous value */
            size_t k = from;
            if (attrs == 1) {
                k = v - 1;
                while (k > from && (is_space(p[k - 1]) || p[k - 1] == '='))
                    k--;
                while (k > from && !is_space(p[k - 1]))
                    k--;
            } else {
                while (k < v && is_space(p[k]))
                    k++;
            }
            enum attr_kind kind = attr_kind(p, k, v - 1);
            if (kind == ATTR_NSDECL && !ws && !refs && p[k + 5] != ':' && ns_cuttable(p + v, j - v))
                g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = v, .len = (uint32_t)(j - v), .vlen = (uint32_t)(j - v), .kind = CUT_NS };
            else if (kind != ATTR_NSDECL)
                g->cuts[g->cuts_n++] = (struct pxmpp__cut){
                    .off = v, .len = (uint32_t)(j - v),
                    .kind = kind == ATTR_XML ? CUT_KEEP : ws || refs ? CUT_VALX : CUT_VAL
                };
        }
        j++;
    }
    g->cuts_n = t;
    return 0;
}

/* Before a tag at p[i] inside the stream element: room in the cut table for it, and
   at most 64 KiB waiting for libxml2 (which bounds the staging copy).  When either
   runs short, what comes before p[i] goes to libxml2 first, which uses up the table. */
static int cut_room(pxmpp__gate *g, const char *p, size_t n, size_t *emit, size_t i, bool *done)
{
    size_t need = 2 + g->max_attrs;
    if (g->cuts_cap - g->cuts_n >= need && i - *emit <= 65536)
        return 0;
    if (g->cuts_n || i - *emit > 65536) {
        int rc = emit_range(g, p, n, emit, i, done);
        if (rc || *done || ERR(g))
            return gate_err(g, rc);
        g->cuts_n = g->cuts_fed = g->cuts_used = 0;
    }
    if (g->cuts_cap < need) {
        size_t cap = need + 16;
        struct pxmpp__cut *c = g->mem.realloc(g->cuts, cap * sizeof *c, g->mem.ud);
        if (!c)
            return gate_fail(g, PXMPP_ERR_NOMEM, g->lexed + i, "out of memory");
        g->cuts = c;
        struct pxmpp__brk *b = g->mem.realloc(g->brk, cap * sizeof *b, g->mem.ud);
        if (!b)
            return gate_fail(g, PXMPP_ERR_NOMEM, g->lexed + i, "out of memory");
        g->brk = b;
        g->cuts_cap = cap;
    }
    return 0;
}

/* One run of gate_lex over p[0, n). */
struct lex {
    const char *p;
    size_t n;
    size_t i;         /* the next byte to lex */
    size_t emit;      /* p[emit, i) is not handed on yet */
    size_t stop;      /* the first byte over the size limit, or n */
    size_t tag_start; /* index in p where the current tag began, if in p; else SIZE_MAX */
    bool done;        /* a restart lexed the rest of p already */
};

/* What a state function returns to go on lexing (anything else ends gate_lex). */
enum { LEX_NEXT = 3 };

/* Text: white space outside stanzas, character data inside, up to a tag or a reference. */
static int lex_text(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    int rc;
    if (g->lx_depth <= 1) {
        /* outside stanzas only whitespace may appear (RFC 6120 §4.2: keepalives) */
        size_t ws_from = x->i;
        while (x->i < x->stop && is_space(p[x->i]))
            x->i++;
        if (x->i > ws_from && g->lx_depth == 0 && g->lx_doc_start && x->emit == ws_from &&
            g->lexed + ws_from == g->boundary) {
            /* white space before a stream header (after a restart: the line feed a peer wrote
               after its last element of the old stream) is dropped, so that the header and
               its XML declaration start the document */
            gate_skip(g, &x->emit, x->i);
            g->boundary = g->lexed + x->i;
        }
        if (x->i < x->stop && p[x->i] != '<') {
            if ((unsigned char)p[x->i] == 0x4C && g->lx_doc_start && g->lexed + x->i == g->boundary)
                return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_ENCODING,
                                 "unsupported encoding: the stream is not UTF-8 (EBCDIC?)");
            return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_XML,
                             "not well-formed: text outside of a stanza");
        }
        if (x->i > 0 || g->lexed > g->boundary)
            g->lx_doc_start = g->lx_doc_start && g->lexed + x->i == g->boundary;
    } else {
        size_t from = x->i, run = x->i;
        bool cr = false;
        for (;;) {
            x->i = find4(p, x->i, x->stop, '<', '&', '>', '\r');
            if (x->i >= x->stop || p[x->i] == '<' || p[x->i] == '&')
                break;
            if (p[x->i] == '\r') {
                cr = true;
                x->i++;
                continue;
            }
            /* "]]>" may not appear in text */
            size_t gt = x->i, rb = 0;
            while (gt > from + rb && rb < 2 && p[gt - 1 - rb] == ']')
                rb++;
            if (gt == from + rb)
                rb += g->lx_rb;
            if (rb >= 2) {
                /* the text before it is delivered as it would be had the
                   '>' come in a later chunk */
                if (gt > run && ((rc = gate_text(g, p, n, &x->emit, run, gt, cr, &x->done)) || x->done))
                    return rc;
                return lex_error(g, p, n, x->emit, gt, x->tag_start, PXMPP_ERR_XML,
                                 "not well-formed: ']]>' in text");
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
        if (x->i > run && ((rc = gate_text(g, p, n, &x->emit, run, x->i, cr, &x->done)) || x->done))
            return rc;
    }
    if (x->i >= x->stop)
        return LEX_NEXT;
    g->lx_rb = 0;
    g->lx_cr = false;
    if (p[x->i] == '&') {
        /* the tags before it go to libxml2; the reference itself is the gate's */
        if ((rc = emit_range(g, p, n, &x->emit, x->i, &x->done)) || x->done || ERR(g))
            return gate_err(g, rc);
        g->lx = LX_REF;
        g->lx_ret = LX_TEXT;
        g->lx_n = 0;
    } else {
        if (g->lx_depth >= 1 && ((rc = cut_room(g, p, n, &x->emit, x->i, &x->done)) || x->done))
            return rc;
        size_t e = fast_tag(g, p, x->i, x->stop);
        if (e) {
            tag_closed(g, e);
            x->i = e;
            return LEX_NEXT;
        }
        g->lx = LX_LT;
        x->tag_start = x->i;
        g->lx_end_tag = false;
        g->lx_slash = false;
        g->lx_attrs = 0;
    }
    x->i++;
    return LEX_NEXT;
}

/* The byte after a '<'. */
static int lex_lt(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    unsigned char c = (unsigned char)x->p[x->i];
    if (c == '!') {
        g->lx = LX_BANG;
        g->lx_n = 0;
    } else if (c == '?') {
        g->lx = LX_PI_NAME;
        g->lx_n = 0;
    } else if (c == 0 && g->lx_doc_start) {
        return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_ENCODING, "unsupported encoding: the stream is not UTF-8");
    } else if (c == '/' || is((char)c, B_XNAME_START)) {
        g->lx_end_tag = c == '/';
        g->lx = LX_TAG;
    } else {
        return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_XML, "not well-formed: invalid element name");
    }
    x->i++;
    return LEX_NEXT;
}

/* "<!": only "<![CDATA[" inside a stanza is allowed. */
static int lex_bang(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    unsigned char c = (unsigned char)x->p[x->i];
    int rc;
    g->lx_buf[g->lx_n++] = (char)c;
    x->i++;
    if (g->lx_buf[0] == '-')
        return lex_error(g, p, n, x->emit, x->i - 1, x->tag_start, PXMPP_ERR_RESTRICTED_XML,
                         "restricted XML: comment not allowed (RFC 6120 §11.1)");
    if (g->lx_buf[0] != '[')
        return lex_error(g, p, n, x->emit, x->i - 1, x->tag_start, PXMPP_ERR_RESTRICTED_XML,
                         "restricted XML: document type or entity declaration not allowed (RFC 6120 §11.1)");
    if (g->lx_n == 7) {
        if (memcmp(g->lx_buf, "[CDATA[", 7) != 0)
            return lex_error(g, p, n, x->emit, x->i - 1, x->tag_start, PXMPP_ERR_XML, "not well-formed: bad '<![' section");
        if (g->lx_depth <= 1)
            return lex_error(g, p, n, x->emit, x->i - 1, x->tag_start, PXMPP_ERR_XML,
                             "not well-formed: text outside of a stanza");
        /* a CDATA section is text the gate delivers itself: the tags before it go
           to libxml2, the "<![CDATA[" marker is skipped */
        if (g->hold_len) {
            g->fed += g->hold_len;
            g->skipped += g->hold_len;
            g->hold_len = 0;
        } else if ((rc = emit_range(g, p, n, &x->emit, x->tag_start, &x->done)) || x->done || ERR(g)) {
            return gate_err(g, rc);
        }
        gate_skip(g, &x->emit, x->i);
        g->lx = LX_CDATA;
        g->lx_n = 0;
        x->tag_start = SIZE_MAX;
    }
    return LEX_NEXT;
}

/* Inside a CDATA section: its text is delivered as it comes. */
static int lex_cdata(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    int rc;
    /* lx_n counts the ']' seen last and not delivered yet: they may begin "]]>" */
    size_t a = x->i, prev = g->lx_n;
    bool end = false;
    while (x->i < x->stop) {
        char ch = p[x->i++];
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
    /* the content seen is prev ']' then p[a, x->i) (without the '>' at the end);
       its last lx_n bytes (all ']') wait for what follows */
    size_t seen = prev + (x->i - a) - (end ? 1 : 0), keep = g->lx_n;
    size_t give = seen - keep, from_prev = give < prev ? give : prev;
    if (from_prev) {
        g->lx_cr = false;
        text_deliver(g, "]]", from_prev);
    }
    if ((rc = gate_text(g, p, n, &x->emit, a, a + (give - from_prev), true, &x->done)) || x->done)
        return rc;
    gate_skip(g, &x->emit, x->i);
    if (end) {
        g->lx = LX_TEXT;
        g->lx_n = 0;
        g->lx_cr = false;
    }
    return LEX_NEXT;
}

/* "<?": only the XML declaration at the start of the stream is allowed. */
static int lex_pi_name(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    unsigned char c = (unsigned char)x->p[x->i];
    int rc;
    g->lx_buf[g->lx_n++] = (char)c;
    x->i++;
    if (g->lx_n == 4) {
        bool xml = memcmp(g->lx_buf, "xml", 3) == 0 &&
                   is_space(g->lx_buf[3]);
        if (xml && !g->lx_doc_start)
            return lex_error(g, p, n, x->emit, x->i - 1, x->tag_start, PXMPP_ERR_XML,
                             "not well-formed: XML declaration not at the start of the stream");
        if (!xml)
            return lex_error(g, p, n, x->emit, x->i - 1, x->tag_start, PXMPP_ERR_RESTRICTED_XML,
                             "restricted XML: processing instruction not allowed (RFC 6120 §11.1)");
        g->lx = LX_XMLDECL;
        g->lx_n = 0;
        g->decl_len = 0;
        x->tag_start = SIZE_MAX;
        if ((rc = flush_hold(g, p, n, x->i, &x->emit, &x->done)) || x->done)
            return rc;
    }
    return LEX_NEXT;
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
static int lex_xmldecl(pxmpp__gate *g, struct lex *x)
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
            return lex_error(g, p, x->n, x->emit, x->i - 1, x->tag_start, PXMPP_ERR_ENCODING, what);
        }
    }
    return LEX_NEXT;
}

/* Inside a quoted attribute value of a tag read byte by byte. */
static int lex_quoted(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    x->i = find4(p, x->i, x->stop, g->lx == LX_TQ1 ? '\'' : '"', '<', '&', '&');
    if (x->i >= x->stop)
        return LEX_NEXT;
    if (p[x->i] == '<')
        return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_XML, "not well-formed: '<' in an attribute value");
    if (p[x->i] == '&') {
        g->lx_ret = g->lx;
        g->lx = LX_REF;
        g->lx_n = 0;
    } else {
        g->lx = LX_TAG;
    }
    x->i++;
    return LEX_NEXT;
}

/* Inside a reference "&...;", in text or in an attribute value. */
static int lex_ref(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    unsigned char c = (unsigned char)x->p[x->i];
    if (c == ';') {
        uint32_t cp = 0;
        int r = g->lx_n ? check_ref(g, &cp) : PXMPP_ERR_XML;
        if (r)
            return lex_error(g, p, n, x->emit, x->i, x->tag_start, r,
                             r == PXMPP_ERR_RESTRICTED_XML
                                 ? "restricted XML: entity reference other than the predefined ones"
                                 : "not well-formed: malformed character or entity reference");
        g->lx = g->lx_ret;
        x->i++;
        if (g->lx == LX_TEXT) {
            char u[4];
            text_deliver(g, u, pxmpp__utf8_put(u, cp));
            gate_skip(g, &x->emit, x->i);
            if (ERR(g))
                return ERR(g);
        }
        return LEX_NEXT;
    }
    if ((!is((char)c, B_XNAME) && c != '#') || g->lx_n >= sizeof g->lx_buf - 1)
        return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_XML, "not well-formed: '&' not followed by a reference");
    g->lx_buf[g->lx_n++] = (char)c;
    x->i++;
    return LEX_NEXT;
}

/* Inside a tag read byte by byte (one that began in an earlier chunk, or one
   fast_tag did not take), up to its '>'. */
static int lex_tag(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    int rc;
    size_t from = x->i;
    x->i = find4(p, x->i, x->stop, '>', '\'', '"', '"');
    if (x->i > from)
        g->lx_slash = p[x->i - 1] == '/'; /* "<x/>": the byte before '>' */
    if (x->i >= x->stop)
        return LEX_NEXT;
    if (p[x->i] != '>') {
        if (++g->lx_attrs > g->max_attrs) /* one quoted value per attribute */
            return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_LIMIT, "too many attributes on one element");
        g->lx = p[x->i] == '\'' ? LX_TQ1 : LX_TQ2;
        g->lx_slash = false;
        x->i++;
        return LEX_NEXT;
    }
    /* a complete tag (still "in the tag" for lex_error: libxml2 never gets it) */
    if (g->lx_end_tag && g->lx_depth == 0)
        return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_XML,
                         "not well-formed: end tag without a start tag");
    bool start_in = !g->lx_end_tag && g->lx_depth >= 1;
    if (start_in) /* on_start takes libxml2's values for it */
        g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = x->tag_start == SIZE_MAX ? 0 : x->tag_start, .len = 0, .kind = CUT_TAG };
    uint32_t depth_before = g->lx_depth;
    x->i++;
    tag_closed(g, x->i);
    if (g->hold_len) {
        /* the tag began in an earlier chunk: hand it over whole */
        if ((rc = hold_append(g, p, x->i)))
            return gate_fail(g, rc, g->lexed + x->i, "out of memory");
        size_t used = 0;
        size_t hl = g->hold_len;
        g->hold_len = 0;
        /* whole now, it is cut as if it had come in one chunk (it is the
           first tag of this input: its TAG entry is the only one) */
        size_t cut_at = SIZE_MAX;
        const char *cbase = g->cut_base;
        if (start_in && g->cuts_n == 1) {
            bool e = g->lx_end_tag, sl = g->lx_slash;
            uint32_t d = g->lx_depth;
            g->cuts_n = 0;
            g->lx_depth = depth_before;
            g->cut_base = g->hold;
            if (fast_tag(g, g->hold, 0, hl))
                cut_at = 0;
            else
                g->cuts[g->cuts_n++] = (struct pxmpp__cut){ .off = 0, .len = 0, .kind = CUT_TAG };
            g->lx_end_tag = e;
            g->lx_slash = sl;
            g->lx_depth = d;
        }
        rc = feed_parser(g, g->hold, hl, &used, cut_at);
        g->cut_base = cbase;
        g->cuts_n = g->cuts_fed = g->cuts_used = 0;
        if (rc == RESTARTED)
            return gate_restart(g, g->hold + used, hl - used, p + x->i, n - x->i);
        if (rc)
            return rc;
        x->emit = x->i;
    }
    x->tag_start = SIZE_MAX;
    return LEX_NEXT;
}

/* The end of the input: what is complete is handed on, a partial tag is held. */
static int lex_finish(pxmpp__gate *g, struct lex *x)
{
    const char *p = x->p;
    size_t n = x->n;
    int rc;
    if (in_tag(g->lx, g->lx_ret) && !g->lx_closed) {
        if (g->hold_len) {
            if ((rc = hold_append(g, p + x->emit, n - x->emit)))
                return gate_fail(g, rc, g->lexed + n, "out of memory");
        } else {
            size_t ts = x->tag_start == SIZE_MAX ? x->emit : x->tag_start;
            if ((rc = emit_range(g, p, n, &x->emit, ts, &x->done)) || x->done || ERR(g))
                return gate_err(g, rc);
            if ((rc = hold_append(g, p + ts, n - ts)))
                return gate_fail(g, rc, g->lexed + n, "out of memory");
        }
    } else if (g->lx == LX_REF) {
        gate_skip(g, &x->emit, n); /* a reference in text, continued in the next chunk */
    } else {
        size_t upto = g->lx_closed ? (size_t)(g->boundary - g->lexed) : n;
        if (upto > n)
            upto = n;
        if ((rc = emit_range(g, p, n, &x->emit, upto, &x->done)) || x->done || ERR(g))
            return gate_err(g, rc);
        if (g->lx_closed) {
            g->lexed = g->fed = g->boundary; /* gate() checks the bytes after the close tag */
            return 0;
        }
    }
    g->lexed += n;
    return 0;
}

static int gate_lex(pxmpp__gate *g, const char *p, size_t n)
{
    /* the entries of the previous input were all used when its tags went to libxml2 */
    g->cuts_n = g->cuts_fed = g->cuts_used = 0;
    g->cut_base = p;
    struct lex lx = { .p = p, .n = n, .tag_start = SIZE_MAX }, *x = &lx;
    while (x->i < n) {
        if (g->lx_closed)
            break;
        uint64_t cap = g->lx_depth == 0 ? g->max_header : g->max_stanza;
        uint64_t limit = g->boundary + cap; /* app offset of the first byte over the limit */
        x->stop = n;
        if (limit < g->lexed + n)
            x->stop = limit > g->lexed ? (size_t)(limit - g->lexed) : 0;
        if (x->i >= x->stop) {
            char what[96];
            snprintf(what, sizeof what, "%s larger than %zu bytes",
                     g->lx_depth == 0 ? "stream header" : "top-level element", (size_t)cap);
            if (g->lx == LX_BANG || g->lx == LX_PI_NAME)
                return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_RESTRICTED_XML, "restricted XML: comment or processing instruction");
            return lex_error(g, p, n, x->emit, x->i, x->tag_start, PXMPP_ERR_LIMIT, what);
        }
        int rc = LEX_NEXT;
        switch ((enum pxmpp__lx)g->lx) {
        case LX_TEXT:
            rc = lex_text(g, x);
            break;
        case LX_LT:
            rc = lex_lt(g, x);
            break;
        case LX_BANG:
            rc = lex_bang(g, x);
            break;
        case LX_CDATA:
            rc = lex_cdata(g, x);
            break;
        case LX_PI_NAME:
            rc = lex_pi_name(g, x);
            break;
        case LX_XMLDECL:
            rc = lex_xmldecl(g, x);
            break;
        case LX_TQ1:
        case LX_TQ2:
            rc = lex_quoted(g, x);
            break;
        case LX_REF:
            rc = lex_ref(g, x);
            break;
        case LX_TAG:
            rc = lex_tag(g, x);
            break;
        }
        if (rc != LEX_NEXT)
            return rc;
    }
    return lex_finish(g, x);
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

/* The bytes p[0, n) that follow the peer's </stream:stream> (or its empty stream
   element).  The document is over: XML allows white space after it (XML 1.0 §2.1,
   document ::= prolog element Misc*; the comments and processing instructions of Misc
   are restricted in XMPP), so white space is counted and dropped, and anything else is
   the sticky PXMPP_ERR_XML at its first byte. */
int pxmpp__gate_after_close(pxmpp__gate *g, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && is_space(p[i]))
        i++;
    if (i < n)
        return gate_fail(g, PXMPP_ERR_XML, g->lexed + i, "not well-formed: data after the end of the stream");
    g->lexed += n;
    g->fed = g->lexed;
    return 0;
}

int pxmpp__gate_feed(pxmpp__gate *g, const char *p, size_t n)
{
    const uint64_t start = g->lexed;
    size_t ok = utf8_scan(g, (const unsigned char *)p, n);
    int rc = gate_lex(g, p, ok);
    if (!rc && !ERR(g) && g->lx_closed) {
        /* the peer closed the stream in this input: what follows its close tag (up to n,
           bytes the UTF-8 scan refused included) is checked as trailing data */
        size_t after = (size_t)(g->lexed - start);
        return pxmpp__gate_after_close(g, p + after, n - after);
    }
    if (rc || ok == n || ERR(g) || g->lx_closed || g->paused)
        return rc;
    unsigned char bad = (unsigned char)p[ok];
    bool first = g->lx_doc_start && g->lexed == g->boundary;
    if ((first && (bad == 0xFE || bad == 0xFF || bad == 0x00)) || /* a UTF-16/32 BOM, or "\0<" */
        (bad == 0 && g->lx_doc_start && g->lexed == g->boundary + 1)) /* "<\0": UTF-16/32 without a BOM */
        return gate_fail(g, PXMPP_ERR_ENCODING, g->lexed, "unsupported encoding: the stream is not UTF-8");
    return gate_fail(g, PXMPP_ERR_XML, g->lexed, "not well-formed: invalid UTF-8 or a character not allowed in XML");
}

/* ---- life cycle ------------------------------------------------------------------ */

void pxmpp__gate_init(pxmpp__gate *g, const pxmpp_mem *mem, const pxmpp__gate_sink *sink, void *user,
                      size_t max_header, size_t max_stanza, size_t max_attrs)
{
    memset(g, 0, sizeof *g);
    g->mem = *mem;
    g->sink = sink;
    g->user = user;
    g->max_header = max_header;
    g->max_stanza = max_stanza;
    g->max_attrs = max_attrs;
}

void pxmpp__gate_trim(pxmpp__gate *g)
{
    if (!pxmpp__gate_idle(g))
        return; /* a tag in the middle: its held bytes and cut entries are still needed */
    {
        g->mem.free(g->hold, g->mem.ud);
        g->hold = NULL;
        g->hold_cap = 0;
    }
    g->mem.free(g->cuts, g->mem.ud);
    g->mem.free(g->brk, g->mem.ud);
    g->mem.free(g->stage, g->mem.ud);
    g->cuts = NULL;
    g->brk = NULL;
    g->stage = NULL;
    g->cuts_cap = g->stage_cap = 0;
    g->cuts_n = g->cuts_fed = g->cuts_used = 0;
}

void pxmpp__gate_free(pxmpp__gate *g)
{
    g->mem.free(g->hold, g->mem.ud);
    g->mem.free(g->cuts, g->mem.ud);
    g->mem.free(g->brk, g->mem.ud);
    g->mem.free(g->stage, g->mem.ud);
    g->hold = g->stage = NULL;
    g->cuts = NULL;
    g->brk = NULL;
}

void pxmpp__gate_reset(pxmpp__gate *g, bool resume, bool content_only)
{
    g->ctxt_base = g->fed;
    g->prefix_len = 0;
    g->skipped = 0;
    g->lib_fed = 0;
    g->lx_cr = false;
    g->cuts_n = g->cuts_fed = g->cuts_used = 0;
    g->brk_n = 0;
    g->hold_len = 0;
    g->paused = false;
    g->lx = LX_TEXT;
    g->lx_n = 0;
    g->lx_closed = false;
    /* resume: same stream, fresh context, at a stanza boundary: the bytes after it
       are lexed again inside the stream element */
    g->lx_doc_start = !resume && !content_only;
    g->lx_depth = resume || content_only ? 1 : 0;
    g->boundary = g->lexed;
}

void pxmpp__gate_prefix(pxmpp__gate *g, size_t hlen)
{
    g->prefix_len = hlen;
    g->lib_fed = hlen;
}

uint64_t pxmpp__gate_offset(const pxmpp__gate *g, long c)
{
    if (c < 0 || (uint64_t)c < g->prefix_len)
        return g->ctxt_base;
    uint64_t cut = 0;
    size_t lo = 0, hi = g->brk_n; /* the last breakpoint at or before c */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->brk[mid].lib <= (uint64_t)c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo)
        cut = g->brk[lo - 1].cum;
    uint64_t off = g->ctxt_base + ((uint64_t)c - g->prefix_len) + g->skipped + cut;
    return off > g->fed ? g->fed : off;
}

size_t pxmpp__gate_memory(const pxmpp__gate *g)
{
    return g->hold_cap + g->cuts_cap * (sizeof *g->cuts + sizeof *g->brk) + g->stage_cap;
}
