/* The decoder: element events (from the stream's SAX handlers) -> typed structs.
 *
 * One frame per open element.  A frame is TYPED (a generated struct described by a
 * pxmpp_type_desc), or fills one field of its TYPED parent (TEXT_CHILD, LANG_TEXT,
 * FLAG, CONDITION), or is GENERIC (an element no schema describes, kept as a
 * pxmpp_node).  Every piece of input ends up either in a typed field or in the
 * meta/extras of the nearest typed element, so nothing is lost; a value that
 * fails its type is kept raw in the extras and a diagnostic is recorded.
 *
 * An element's start goes by the kind of its parent's frame (start_top, start_in_typed
 * and the start_* of each kind of field, start_in_value, open_generic), its end by the
 * kind of its own (end_typed, end_generic, end_text_child, ...).  An error that ends the
 * stanza (no memory) is set by fail() alone; a schema violation is only a diagnostic.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

/* The kinds of frame (frame.mode). */
enum frame_kind { M_TYPED, M_GENERIC, M_TEXT_CHILD, M_LANG_TEXT, M_FLAG, M_CONDITION };

/* Where a GENERIC frame's node goes when it ends. */
enum gdest { G_CHILD, G_EXTRA, G_PAYLOAD };

typedef struct frame {
    uint8_t mode;                  /* enum frame_kind */
    uint8_t gdest;                 /* enum gdest */
    bool payload_root;
    const pxmpp_type_desc *desc;   /* TYPED */
    const pxmpp_field_desc *field; /* field of the parent this frame fills */
    uint16_t field_index;
    void *obj;                     /* TYPED struct, pxmpp_lang_text, pxmpp_node */
    const char *ns, *local;
    const char *lang;              /* effective xml:lang */
    size_t text_start;             /* offset into b->text */
    size_t occurrence;             /* 1-based index within its field (path) */
    size_t path_index;             /* index shown in paths, 0 for none */
    size_t *counts;                /* TYPED: children per field, allocated with the first child */
    uint16_t last_field;           /* TYPED: field of the last child while children come in order */
    bool ordered;                  /* TYPED: children left declaration order: T_ORDER items record them */
    size_t mark;                   /* its items start at b->items[mark] */
    size_t n_attrs, n_nodes, n_order; /* its T_ATTR, T_NODE and T_ORDER items */
    pxmpp_diag *diag;              /* payload root: first violation inside it */
    const char *attr_raw;          /* TEXT_CHILD with a value attribute: its value as given */
} frame;

/* The items of the open frames: a stack of (tag, pointer) in b->items.  A frame's items
   follow its mark (the items of a child frame are taken off when it ends, before it
   adds its own item to the parent) and become arrays when it ends.  The tag is the
   field of a TYPED frame the item goes to, or one of these. */
enum {
    T_ATTR = 0x10000, /* a pxmpp_attr: an extra attribute, or an attribute of a GENERIC frame */
    T_NODE,           /* a pxmpp_node: an extra node, or a child of a GENERIC frame */
    T_ORDER           /* a field index or PXMPP_ORDER_EXTRA: the order of a TYPED frame's children */
};

struct item {
    void *ptr;
    uint32_t tag;
};

/* Values of a lookup (struct lcache): no field matches; the entry is an attribute's. */
enum { FIELD_NONE = -1, CACHE_ATTR = -7 };

#define ITEMS_KEEP 256 /* items kept between stanzas (a larger stack is freed) */
#define LANG_SCAN 16   /* lang texts compared pairwise; more are sorted (see first_repeated_lang) */
#define TYPES_SCAN 8   /* payloads counted one by one; more are sorted by type (see check_deferred) */
#define SORT_KEEP 256  /* entries of the sorting scratch kept between stanzas */

#define REASON_MAX 256 /* bytes of a diagnostic's reason, with its NUL */

#define CACHE_BITS 7 /* 128 lookups */
#define NAMES_BITS 7 /* 128 slots for at most 64 names */
#define NAMES_BYTES 2048

struct pxmpp__decoder {
    pxmpp_mem mem;
    const pxmpp_registry *reg;
    pxmpp_arena *a;
    const char *content_ns;
    frame *frames;
    size_t depth, cap, max_depth;
    char *text;
    size_t text_len, text_cap;
    pxmpp_diag *stanza_diag;
    int fatal; /* sticky error (NOMEM) of the current stanza, set by fail() only */
    const char *stream_lang; /* xml:lang of the peer's stream header, inherited by stanzas */
    const pxmpp_type_desc *top; /* type of the top-level element being built */
    struct item *items;
    size_t items_len, items_cap;
    uintptr_t *sort;         /* scratch of the sorts (see heap_sort) */
    size_t sort_cap;
    pxmpp__work work;        /* what building cost (see pxmpp__decoder_work) */
    struct hot *hot; /* the lookup tables, allocated with the first element (see struct hot) */
    /* Copies of the names of generic elements and kept attributes, by libxml2's name
       pointer: made once per parser context instead of once per element.  They live
       until the first stanza begun after the context changed (stale), so a stanza built
       before lives longer than them only if it outlives its own arena, which it cannot. */
    struct names {
        struct iname {
            const char *key, *copy;
        } *tab;              /* NAMES_SLOTS entries, allocated with the first name */
        size_t count;
        pxmpp_arena *arena;  /* the copies, at most NAMES_BYTES */
        bool stale;
    } names;
};

/* The decoder's lookup tables (6.6 KB): allocated with the first top-level element, so
   that a stream that has received nothing but the peer's header does not hold them. */
struct hot {
    /* Lookups keyed by libxml2's interned name pointers (valid for one parser context;
       cleared by pxmpp__decoder_clear_cache when the context changes). */
    struct lcache {
        const void *d;
        const char *local, *ns;
        int32_t k, v; /* the field (or FIELD_NONE) and, for a child, its value (see match_child);
                         v is CACHE_ATTR for an attribute lookup */
        const pxmpp_type_desc *payload;
    } cache[1u << CACHE_BITS];
    /* What the decoder needs to know of a type, by d->id (checked against d). */
    struct tinfo {
        const pxmpp_type_desc *d;
        uint32_t defaults; /* fields with a default value to set */
        uint32_t finish;   /* fields finish_typed has something to check or collect for */
        int32_t text;      /* the TEXT field, or -1 */
    } tinfo[64];
};

int pxmpp__decoder_new(pxmpp__decoder **out, const pxmpp_mem *mem, const pxmpp_registry *reg,
                       size_t max_depth)
{
    if (!mem)
        mem = pxmpp_mem_default();
    pxmpp__decoder *b = mem->malloc(sizeof *b, mem->ud);
    if (!b)
        return PXMPP_ERR_NOMEM;
    memset(b, 0, sizeof *b);
    b->mem = *mem;
    b->reg = reg;
    b->max_depth = max_depth ? max_depth : 64;
    *out = b;
    return 0;
}

void pxmpp__decoder_free(pxmpp__decoder *b)
{
    if (!b)
        return;
    b->mem.free(b->frames, b->mem.ud);
    b->mem.free(b->items, b->mem.ud);
    b->mem.free(b->sort, b->mem.ud);
    b->mem.free(b->text, b->mem.ud);
    b->mem.free(b->names.tab, b->mem.ud);
    b->mem.free(b->hot, b->mem.ud);
    pxmpp_arena_free(b->names.arena);
    b->mem.free(b, b->mem.ud);
}

void pxmpp__decoder_trim(pxmpp__decoder *b)
{
    b->mem.free(b->hot, b->mem.ud);
    b->mem.free(b->items, b->mem.ud);
    b->mem.free(b->sort, b->mem.ud);
    b->mem.free(b->text, b->mem.ud);
    b->hot = NULL;
    b->items = NULL;
    b->sort = NULL;
    b->text = NULL;
    b->items_cap = b->items_len = b->sort_cap = b->text_cap = b->text_len = 0;
}

size_t pxmpp__decoder_depth(const pxmpp__decoder *b) { return b->depth; }

const pxmpp__work *pxmpp__decoder_work(const pxmpp__decoder *b) { return &b->work; }

static void names_forget(struct names *n)
{
    if (n->tab && n->count)
        memset(n->tab, 0, sizeof *n->tab << NAMES_BITS);
    n->count = 0;
}

void pxmpp__decoder_clear_cache(pxmpp__decoder *b)
{
    if (b->hot)
        memset(b->hot->cache, 0, sizeof b->hot->cache);
    names_forget(&b->names); /* the keys may come back for other names */
    b->names.stale = true;   /* the copies may still be in use */
}

/* The cached lookup of {ns}local in d (an attribute lookup when attr, else a child
   one), or NULL with *slot set to where the caller stores it.  Two ways per set: a new
   entry takes the first, whose old entry moves to the second. */
static struct lcache *cache_find(pxmpp__decoder *b, const void *d, const char *local, const char *ns, bool attr,
                                 struct lcache **slot)
{
    /* libxml2 packs its names a few bytes apart: every bit of the pointers counts, so the
       set is the top bits of a multiplicative hash of their sum */
    uint64_t h = ((uint64_t)(uintptr_t)local + (uint64_t)(uintptr_t)d * 3 + (uint64_t)(uintptr_t)ns * 5 + attr) *
                 0x9E3779B97F4A7C15ull;
    struct lcache *e = &b->hot->cache[(h >> (64 - CACHE_BITS)) & ~(size_t)1];
    for (int w = 0; w < 2; w++)
        if (e[w].d == d && e[w].local == local && e[w].ns == ns && (e[w].v == CACHE_ATTR) == attr)
            return &e[w];
    e[1] = e[0];
    *slot = &e[0];
    return NULL;
}

size_t pxmpp__decoder_held(const pxmpp__decoder *b)
{
    return sizeof *b + (b->hot ? sizeof *b->hot : 0) + b->cap * sizeof(frame) + b->items_cap * sizeof(struct item) +
           b->text_cap +
           b->sort_cap * sizeof *b->sort + (b->names.tab ? sizeof *b->names.tab << NAMES_BITS : 0) +
           (b->names.arena ? pxmpp_arena_held(b->names.arena) : 0);
}

void pxmpp__decoder_abort(pxmpp__decoder *b)
{
    b->depth = 0;
    b->items_len = 0;
    b->text_len = 0;
    b->stanza_diag = NULL;
    b->fatal = 0;
    b->a = NULL;
}

/* ---- small helpers ---------------------------------------------------- */

/* Ends the current stanza with the error rc (none when rc is 0): the one place that sets
   b->fatal, which every later event then returns until begin() or abort().  Returns rc. */
static inline int fail(pxmpp__decoder *b, int rc)
{
    if (rc)
        b->fatal = rc;
    return rc;
}

static int text_append(pxmpp__decoder *b, const char *s, size_t len)
{
    if (b->text_cap - b->text_len < len + 1) {
        size_t ncap = b->text_cap ? b->text_cap : 256;
        while (ncap - b->text_len < len + 1) {
            if (ncap > SIZE_MAX / 2)
                return PXMPP_ERR_NOMEM;
            ncap *= 2;
        }
        char *n = b->mem.realloc(b->text, ncap, b->mem.ud);
        if (!n)
            return PXMPP_ERR_NOMEM;
        b->text = n;
        b->text_cap = ncap;
    }
    memcpy(b->text + b->text_len, s, len);
    b->text_len += len;
    b->text[b->text_len] = '\0';
    return 0;
}

static bool ns_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return a == b || strcmp(a, b) == 0;
}

/* The order of two language tags, ignoring ASCII case (BCP 47 tags are case-insensitive);
   NULL is no language, the same as "" (XML 1.0 §2.12: an empty xml:lang states none). */
static int lang_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)(a ? a : ""), *y = (const unsigned char *)(b ? b : "");
    for (;; x++, y++) {
        unsigned cx = *x, cy = *y;
        if (cx - 'A' < 26u)
            cx += 32;
        if (cy - 'A' < 26u)
            cy += 32;
        if (cx != cy || !cx)
            return (int)cx - (int)cy;
    }
}

/* Does the 8-byte word x hold the byte '&'? (exact: no false positives) */
static inline bool word_has_amp(uint64_t x)
{
    uint64_t v = x ^ 0x2626262626262626ull;
    return ((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull) != 0;
}

/* Copies the first and the last w bytes of src (w <= len <= 2 w, w <= 8) to dst and
   tells whether they hold a '&'. */
static inline bool copy_ends_find_amp(char *dst, const char *src, size_t len, size_t w)
{
    uint64_t x = 0, y = 0;
    memcpy(&x, src, w);
    memcpy(&y, src + len - w, w);
    memcpy(dst, &x, w);
    memcpy(dst + len - w, &y, w);
    return word_has_amp(x) || word_has_amp(y);
}

/* Copies len bytes of src to dst (no NUL) and tells whether they hold a '&': in 16-byte
   blocks (the last one loaded whole, overlapping) or in two overlapping words. */
static inline bool copy_find_amp(char *dst, const char *src, size_t len)
{
#if defined(__SSE2__) && defined(__GNUC__)
    if (len >= 16) {
        const __m128i amp = _mm_set1_epi8('&');
        __m128i hit = _mm_setzero_si128(), v;
        size_t i = 0;
        for (; i + 16 <= len; i += 16) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
            _mm_storeu_si128((__m128i *)(void *)(dst + i), v);
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, amp));
        }
        if (i < len) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(src + len - 16));
            _mm_storeu_si128((__m128i *)(void *)(dst + len - 16), v);
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, amp));
        }
        return _mm_movemask_epi8(hit) != 0;
    }
#else
    if (len >= 16) {
        memcpy(dst, src, len);
        return memchr(src, '&', len) != NULL;
    }
#endif
    if (len >= 8)
        return copy_ends_find_amp(dst, src, len, 8);
    if (len >= 4)
        return copy_ends_find_amp(dst, src, len, 4);
    bool amp = false;
    for (size_t i = 0; i < len; i++) {
        dst[i] = src[i];
        amp |= src[i] == '&';
    }
    return amp;
}

/* Decodes a SAX2 attribute value ("&#38;" stands for '&') into the arena. */
static char *attr_value(pxmpp_arena *a, const char *v, size_t len, size_t *out_len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = pxmpp__arena_alloc_raw(a, len + 1);
    if (!p)
        return NULL;
    if (copy_find_amp(p, v, len)) {
        *out_len = pxmpp__decode_amp(p, v, len);
        return p;
    }
    p[len] = '\0';
    *out_len = len;
    return p;
}

static const struct tinfo *type_info_fill(struct tinfo *t, const pxmpp_type_desc *d)
{
    *t = (struct tinfo){ .d = d, .text = -1 };
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        uint32_t bit = k < 32 ? 1u << k : 0;
        bool list = f->flags & PXMPP_FF_LIST, required = f->flags & PXMPP_FF_REQUIRED;
        if (f->has_default && !list)
            t->defaults |= bit;
        switch (f->kind) {
        case PXMPP_F_TEXT:
            if (t->text < 0)
                t->text = k;
            break;
        case PXMPP_F_CHILD:
        case PXMPP_F_TEXT_CHILD:
        case PXMPP_F_LANG_TEXT:
        case PXMPP_F_PAYLOADS:
            if (list || required || (f->flags & PXMPP_FF_UNIQUE_LANG))
                t->finish |= bit;
            break;
        case PXMPP_F_ATTR:
        case PXMPP_F_CONDITION:
            if (required)
                t->finish |= bit;
            break;
        default:
            break;
        }
    }
    return t;
}

/* Read at once: another type with the same id % 64 takes the slot. */
static inline const struct tinfo *type_info(pxmpp__decoder *b, const pxmpp_type_desc *d)
{
    struct tinfo *t = &b->hot->tinfo[d->id % (sizeof b->hot->tinfo / sizeof b->hot->tinfo[0])];
    return t->d == d ? t : type_info_fill(t, d);
}

/* The first field of d from k on that is in mask (every field from k on when d has
   more than 32, which masks cannot describe); d->fields_count when there is none. */
static uint16_t field_from(const pxmpp_type_desc *d, uint32_t mask, uint32_t k)
{
    if (d->fields_count > 32)
        return (uint16_t)k;
    uint32_t rest = k >= 32 ? 0 : mask >> k << k;
    return rest ? (uint16_t)__builtin_ctz(rest) : d->fields_count;
}

/* The field holding the element's own text, or NULL. */
static const pxmpp_field_desc *text_field(pxmpp__decoder *b, const pxmpp_type_desc *d)
{
    int32_t k = type_info(b, d)->text;
    return k < 0 ? NULL : &d->fields[k];
}

static frame *top(pxmpp__decoder *b) { return b->depth ? &b->frames[b->depth - 1] : NULL; }

static int push_frame(pxmpp__decoder *b, frame **out)
{
    if (b->depth >= b->max_depth)
        return PXMPP_ERR_LIMIT;
    if (b->depth == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        if (ncap > b->max_depth)
            ncap = b->max_depth;
        frame *n = b->mem.realloc(b->frames, ncap * sizeof *n, b->mem.ud);
        if (!n)
            return PXMPP_ERR_NOMEM;
        b->frames = n;
        b->cap = ncap;
    }
    frame *f = &b->frames[b->depth++];
    *f = (frame){ .text_start = b->text_len, .mark = b->items_len };
    *out = f;
    return 0;
}

/* The per-field counts of a typed frame, allocated when its first child starts
   (most elements have none). */
static int ensure_counts(pxmpp__decoder *b, frame *fr)
{
    if (fr->counts || !fr->desc->fields_count)
        return 0;
    fr->counts = pxmpp__arena_zalloc(b->a, fr->desc->fields_count * sizeof *fr->counts);
    return fr->counts ? 0 : PXMPP_ERR_NOMEM;
}

static size_t count_of(const frame *fr, uint16_t k) { return fr->counts ? fr->counts[k] : 0; }

static int grow_items(pxmpp__decoder *b)
{
    size_t ncap = b->items_cap ? b->items_cap * 2 : 32;
    struct item *n = ncap <= SIZE_MAX / sizeof *n ? b->mem.realloc(b->items, ncap * sizeof *n, b->mem.ud) : NULL;
    if (!n)
        return PXMPP_ERR_NOMEM;
    b->items = n;
    b->items_cap = ncap;
    return 0;
}

/* Adds an item for the frame on top of the stack of items, and counts it in *count. */
static inline int push_item(pxmpp__decoder *b, uint32_t tag, void *ptr, size_t *count)
{
    if (b->items_len == b->items_cap && grow_items(b))
        return PXMPP_ERR_NOMEM;
    b->items[b->items_len++] = (struct item){ ptr, tag };
    ++*count;
    return 0;
}

enum gather_as { AS_VALUE, AS_PTR, AS_U16 };

/* The count items of frame fr tagged tag, as a new array of elem-byte elements: copies of
   what they point to (AS_VALUE), the pointers (AS_PTR) or the numbers they hold (AS_U16). */
static void *gather(pxmpp__decoder *b, const frame *fr, uint32_t tag, size_t count, size_t elem, enum gather_as as)
{
    if (!count)
        return NULL;
    char *arr = count <= SIZE_MAX / elem ? pxmpp__arena_alloc_raw(b->a, count * elem) : NULL;
    if (!arr)
        return NULL;
    char *o = arr;
    b->work.steps += b->items_len - fr->mark;
    for (const struct item *it = b->items + fr->mark, *end = b->items + b->items_len; it < end; it++) {
        if (it->tag != tag)
            continue;
        if (as == AS_VALUE) {
            memcpy(o, it->ptr, elem);
        } else if (as == AS_PTR) {
            memcpy(o, &it->ptr, sizeof it->ptr);
        } else {
            uint16_t v = (uint16_t)(uintptr_t)it->ptr;
            memcpy(o, &v, sizeof v);
        }
        o += elem;
    }
    return arr;
}

/* Notes that a child was stored in field idx (or PXMPP_ORDER_EXTRA).  While the
   children follow the declaration order nothing is recorded (the writer's default
   order is right); the first child out of order writes down the order so far. */
static int add_order(pxmpp__decoder *b, frame *fr, uint16_t idx)
{
    if (!fr->ordered) {
        if (idx != PXMPP_ORDER_EXTRA && idx >= fr->last_field) {
            fr->last_field = idx;
            return 0;
        }
        fr->ordered = true;
        for (uint16_t k = 0; k <= fr->last_field && k < fr->desc->fields_count; k++) {
            size_t cnt = count_of(fr, k);
            if (k == idx && cnt)
                cnt--; /* the current child is recorded below */
            b->work.steps += cnt + 1;
            for (size_t j = 0; j < cnt; j++)
                if (push_item(b, T_ORDER, (void *)(uintptr_t)k, &fr->n_order))
                    return PXMPP_ERR_NOMEM;
        }
    }
    return push_item(b, T_ORDER, (void *)(uintptr_t)idx, &fr->n_order);
}

/* Path of the current element stack, plus an optional suffix ("/@type"). */
static const char *make_path(pxmpp__decoder *b, size_t upto, const char *suffix)
{
    size_t need = 1 + (suffix ? strlen(suffix) : 0);
    b->work.steps += upto;
    for (size_t i = 0; i < upto; i++)
        need += strlen(b->frames[i].local) + 24;
    char *p = pxmpp__arena_zalloc(b->a, need);
    if (!p)
        return "";
    size_t o = 0;
    for (size_t i = 0; i < upto; i++) {
        const frame *f = &b->frames[i];
        if (f->path_index)
            o += (size_t)snprintf(p + o, need - o, "/%s[%zu]", f->local, f->path_index);
        else
            o += (size_t)snprintf(p + o, need - o, "/%s", f->local);
    }
    if (suffix)
        snprintf(p + o, need - o, "%s", suffix);
    return p;
}

/* Records a violation at the current position (upto frames deep). */
static void violation(pxmpp__decoder *b, size_t upto, const char *suffix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static void violation(pxmpp__decoder *b, size_t upto, const char *suffix, const char *fmt, ...)
{
    pxmpp_diag **slot = &b->stanza_diag;
    for (size_t i = upto; i-- > 0;) {
        if (b->frames[i].payload_root) {
            slot = &b->frames[i].diag;
            break;
        }
    }
    if (*slot)
        return; /* the first violation is reported */
    pxmpp_diag *d = pxmpp__arena_zalloc(b->a, sizeof *d);
    char *reason = pxmpp__arena_zalloc(b->a, REASON_MAX);
    if (!d || !reason) {
        fail(b, PXMPP_ERR_NOMEM);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, REASON_MAX, fmt, ap);
    va_end(ap);
    d->code = PXMPP_ERR_STANZA_INVALID;
    d->reason = reason;
    d->path = make_path(b, upto, suffix);
    *slot = d;
}

/* ---- field storage ------------------------------------------------------ */

static void set_defaults(pxmpp__decoder *b, const pxmpp_type_desc *d, void *obj)
{
    uint32_t mask = type_info(b, d)->defaults;
    for (uint16_t i = field_from(d, mask, 0); i < d->fields_count; i = field_from(d, mask, i + 1u)) {
        const pxmpp_field_desc *f = &d->fields[i];
        if (!f->has_default || (f->flags & PXMPP_FF_LIST))
            continue;
        char *dst = (char *)obj + f->offset;
        switch (f->vtype) {
        case PXMPP_V_ENUM: { int v = (int)f->def; memcpy(dst, &v, sizeof v); break; }
        case PXMPP_V_BOOL: { bool v = f->def != 0; memcpy(dst, &v, sizeof v); break; }
        case PXMPP_V_INT:
            if (f->width == 4) { int32_t v = (int32_t)f->def; memcpy(dst, &v, sizeof v); }
            else { int64_t v = f->def; memcpy(dst, &v, sizeof v); }
            break;
        default: break;
        }
    }
}

static pxmpp_attr *new_attr(pxmpp_arena *a, const char *ns, const char *local, const char *value)
{
    pxmpp_attr *at = pxmpp__arena_zalloc(a, sizeof *at);
    if (!at)
        return NULL;
    at->ns = ns;
    at->local = local;
    at->value = value;
    return at;
}

/* A copy of the name s (a libxml2 name pointer, or NULL) for the stanza being built:
   the one made earlier in this parser context, or a new one.  Namespace names come
   from xmlns attribute values, where libxml2 keeps '&' as "&#38;" (other names cannot
   hold a '&').  NULL when s is NULL or no memory is left. */
static const char *dup_name(pxmpp__decoder *b, const char *s)
{
    if (!s)
        return NULL;
    struct names *n = &b->names;
    size_t mask = ((size_t)1 << NAMES_BITS) - 1;
    size_t i = (size_t)(((uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ull) >> (64 - NAMES_BITS));
    if (n->tab) {
        for (; n->tab[i].key; i = (i + 1) & mask)
            if (n->tab[i].key == s)
                return n->tab[i].copy;
    }
    size_t len = strlen(s), out;
    bool keep = n->count < (mask + 1) / 2;
    if (keep && !n->tab) {
        n->tab = b->mem.malloc(sizeof *n->tab << NAMES_BITS, b->mem.ud);
        if (n->tab)
            memset(n->tab, 0, sizeof *n->tab << NAMES_BITS);
    }
    if (keep && n->tab && !n->arena && !pxmpp_arena_new(&n->arena, &b->mem, NAMES_BYTES))
        pxmpp_arena_set_limit(n->arena, sizeof(pxmpp__chunk) + NAMES_BYTES); /* one chunk */
    pxmpp_arena *a = keep && n->tab && n->arena ? n->arena : b->a;
    char *c = attr_value(a, s, len, &out);
    if (!c && a != b->a)
        c = attr_value(a = b->a, s, len, &out); /* the names are full: a copy for this stanza */
    if (c && a != b->a) {
        n->tab[i] = (struct iname){ s, c }; /* i: the empty slot the search ended on */
        n->count++;
    }
    return c;
}

/* An attribute kept as is, with copies of its names; NULL when the arena is full. */
static pxmpp_attr *copy_attr(pxmpp__decoder *b, const char *ns, const char *local, const char *value)
{
    const char *n = dup_name(b, ns), *l = dup_name(b, local);
    if ((ns && !n) || !l)
        return NULL;
    return new_attr(b->a, n, l, value);
}

/* Attributes of a TYPED element. */
static int typed_attrs(pxmpp__decoder *b, frame *fr, const pxmpp__rattr *attrs, size_t n)
{
    const pxmpp_type_desc *d = fr->desc;
    pxmpp_meta *meta = fr->obj;
    for (size_t i = 0; i < n; i++) {
        const pxmpp__rattr *ra = &attrs[i];
        size_t vlen;
        char *v = attr_value(b->a, ra->value, ra->len, &vlen);
        if (!v)
            return PXMPP_ERR_NOMEM;
        const pxmpp_field_desc *f = NULL;
        uint16_t fi = 0;
        struct lcache *slot, *e = cache_find(b, d, ra->local, ra->ns, true, &slot);
        if (e) {
            if (e->k != FIELD_NONE) {
                fi = (uint16_t)e->k;
                f = &d->fields[fi];
            }
        } else {
            int found = FIELD_NONE;
            b->work.steps += d->fields_count;
            for (uint16_t k = 0; k < d->fields_count; k++) {
                const pxmpp_field_desc *c = &d->fields[k];
                if (c->kind == PXMPP_F_ATTR && strcmp(c->local, ra->local) == 0 && ns_eq(c->ns, ra->ns)) {
                    found = k;
                    break;
                }
            }
            *slot = (struct lcache){ .d = d, .local = ra->local, .ns = ra->ns, .k = found, .v = CACHE_ATTR };
            if (found != FIELD_NONE) {
                fi = (uint16_t)found;
                f = &d->fields[fi];
            }
        }
        if (ra->ns && strcmp(ra->ns, PXMPP_NS_XML) == 0 && strcmp(ra->local, "lang") == 0)
            fr->lang = v;
        const char *why = NULL;
        if (f) {
            if (f->maxlen && vlen > f->maxlen)
                why = "value longer than the schema allows";
            else if (f->vtype == PXMPP_V_STRING) /* nothing to check, and v is in the arena */
                pxmpp__set_ptr(fr->obj, f->offset, v);
            else
                why = pxmpp__value_parse(b->a, f, f->vtype, v, vlen, (char *)fr->obj + f->offset, true);
            if (!why) {
                meta->present |= 1u << fi;
                continue;
            }
            if (f->vtype == PXMPP_V_ENUM) {
                int zero = 0; /* the raw value is kept among the unknown attributes */
                memcpy((char *)fr->obj + f->offset, &zero, sizeof zero);
            }
            char suffix[160];
            snprintf(suffix, sizeof suffix, "/@%s%.100s", ra->ns ? "xml:" : "", ra->local);
            violation(b, b->depth, suffix, "%s for attribute %s: '%.60s'", why, ra->local, v);
        }
        pxmpp_attr *at = copy_attr(b, ra->ns, ra->local, v);
        if (!at || push_item(b, T_ATTR, at, &fr->n_attrs))
            return PXMPP_ERR_NOMEM;
    }
    return 0;
}

static int generic_attrs(pxmpp__decoder *b, frame *fr, const pxmpp__rattr *attrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t vlen;
        char *v = attr_value(b->a, attrs[i].value, attrs[i].len, &vlen);
        if (!v)
            return PXMPP_ERR_NOMEM;
        if (attrs[i].ns && strcmp(attrs[i].ns, PXMPP_NS_XML) == 0 && strcmp(attrs[i].local, "lang") == 0)
            fr->lang = v;
        pxmpp_attr *at = copy_attr(b, attrs[i].ns, attrs[i].local, v);
        if (!at || push_item(b, T_ATTR, at, &fr->n_attrs))
            return PXMPP_ERR_NOMEM;
    }
    return 0;
}

static int open_typed(pxmpp__decoder *b, frame *fr, const pxmpp_type_desc *d, const pxmpp__rattr *attrs,
                      size_t n)
{
    fr->mode = M_TYPED;
    fr->desc = d;
    fr->obj = pxmpp__arena_zalloc(b->a, d->size);
    if (!fr->obj)
        return PXMPP_ERR_NOMEM;
    if (d->ns_list)
        ((pxmpp_meta *)fr->obj)->ns_index = (uint8_t)pxmpp__type_ns_index(d, fr->ns, b->content_ns);
    if (d->names) {
        /* a one-of element: which of its names it has */
        int v = pxmpp__enum_lookup(d->names, fr->local, strlen(fr->local));
        memcpy((char *)fr->obj + d->fields[d->name_field].offset, &v, sizeof v);
        if (v > 0)
            fr->local = d->names->values[v];
    }
    set_defaults(b, d, fr->obj);
    return typed_attrs(b, fr, attrs, n);
}

static int open_generic(pxmpp__decoder *b, frame *fr, uint8_t dest, const pxmpp__rattr *attrs, size_t n)
{
    fr->mode = M_GENERIC;
    fr->gdest = dest;
    const char *ns = fr->ns;
    fr->ns = dup_name(b, ns);
    fr->local = dup_name(b, fr->local);
    if (!fr->local || (ns && !fr->ns))
        return PXMPP_ERR_NOMEM;
    return generic_attrs(b, fr, attrs, n);
}

/* Flushes pending text of frame fr: GENERIC keeps it as a text node; TYPED keeps
   non-whitespace text as an extra text node. */
static int flush_text(pxmpp__decoder *b, frame *fr)
{
    size_t len = b->text_len - fr->text_start;
    if (len == 0)
        return 0;
    const char *s = b->text + fr->text_start;
    if (fr->mode == M_TYPED) {
        if (text_field(b, fr->desc))
            return 0; /* accumulates into the text field */
        if (!fr->desc->mixed && pxmpp__is_space_only(s, len)) {
            b->text_len = fr->text_start;
            return 0;
        }
    } else if (fr->mode != M_GENERIC) {
        return 0;
    }
    pxmpp_node *t = pxmpp__arena_zalloc(b->a, sizeof *t);
    if (!t || !(t->text = pxmpp__arena_strndup(b->a, s, len)))
        return PXMPP_ERR_NOMEM;
    b->text_len = fr->text_start;
    if (push_item(b, T_NODE, t, &fr->n_nodes))
        return PXMPP_ERR_NOMEM;
    if (fr->mode == M_GENERIC)
        return 0;
    if (add_order(b, fr, PXMPP_ORDER_EXTRA))
        return PXMPP_ERR_NOMEM;
    return 0;
}

/* ---- public decoder API ------------------------------------------------- */

int pxmpp__decoder_begin(pxmpp__decoder *b, pxmpp_arena *a, const pxmpp_type_desc *d,
                         const char *content_ns, const char *stream_lang)
{
    if (b->names.stale) {
        /* the parser context changed before this stanza: no stanza uses the copies now */
        names_forget(&b->names);
        if (b->names.arena)
            pxmpp_arena_reset(b->names.arena);
        b->names.stale = false;
    }
    if (b->items_cap > ITEMS_KEEP) {
        /* a large stanza grew the items: do not keep them for the small ones */
        b->mem.free(b->items, b->mem.ud);
        b->items = NULL;
        b->items_cap = 0;
    }
    b->a = a;
    b->depth = 0;
    b->items_len = 0;
    b->text_len = 0;
    b->stanza_diag = NULL;
    b->fatal = 0;
    b->content_ns = content_ns;
    b->stream_lang = stream_lang;
    b->top = d;
    if (!b->hot) {
        /* the first element: the lookup tables (zeroed: nothing cached yet) */
        if (!(b->hot = b->mem.malloc(sizeof *b->hot, b->mem.ud)))
            return b->fatal = PXMPP_ERR_NOMEM;
        memset(b->hot, 0, sizeof *b->hot);
    }
    return 0;
}

/* Which field of the typed element pd a child {ns}local fills (k = FIELD_NONE: none; then, when
   pd is an extension point, v is its PAYLOADS field and `payload` the child's type if a
   schema knows it). */
static struct lcache match_child(pxmpp__decoder *b, const pxmpp_type_desc *pd, const char *parent_ns, const char *ns,
                                 const char *local)
{
    struct lcache r = { .d = pd, .local = local, .ns = ns, .k = FIELD_NONE, .v = 0 };
    b->work.steps += pd->fields_count;
    for (uint16_t k = 0; k < pd->fields_count; k++) {
        const pxmpp_field_desc *f = &pd->fields[k];
        switch (f->kind) {
        case PXMPP_F_CHILD: {
            if (pxmpp__type_local_is(f->child, local) && pxmpp__type_ns_index(f->child, ns, b->content_ns)) {
                r.k = k;
                return r;
            }
            break;
        }
        case PXMPP_F_TEXT_CHILD:
        case PXMPP_F_FLAG:
        case PXMPP_F_LANG_TEXT: {
            const char *fns = f->ns ? f->ns : parent_ns;
            if (strcmp(f->local, local) == 0 && ns_eq(fns, ns)) {
                r.k = k;
                return r;
            }
            break;
        }
        case PXMPP_F_CONDITION:
            if (ns_eq(f->ns, ns)) {
                int v = pxmpp__enum_lookup(f->enum_desc, local, strlen(local));
                if (v > 0) {
                    r.k = k;
                    r.v = v;
                    return r;
                }
            }
            break;
        default:
            break;
        }
    }
    if (pd->point) {
        uint16_t k = 0;
        while (k < pd->fields_count && pd->fields[k].kind != PXMPP_F_PAYLOADS)
            k++;
        r.v = k; /* the field payloads go to */
        r.payload = pxmpp__registry_find(b->reg, ns, local, b->content_ns, pd->point, false);
    }
    return r;
}

/* A text-child whose value is one attribute of the child (`<status code='110'/>`): the value
   is parsed now (stored in the parent, or for a list in fr->obj until the element ends). */
static int start_value_attr(pxmpp__decoder *b, frame *fr, frame *parent, const pxmpp_field_desc *f,
                            const pxmpp__rattr *attrs, size_t nattrs)
{
    const pxmpp__rattr *ra = nattrs == 1 && !attrs[0].ns && strcmp(attrs[0].local, f->value_attr) == 0 ? attrs : NULL;
    const char *why = NULL;
    char *v = NULL;
    size_t vlen = 0;
    if (!ra) {
        why = nattrs ? "unexpected attribute" : "missing attribute";
    } else if (!(v = attr_value(b->a, ra->value, ra->len, &vlen))) {
        return PXMPP_ERR_NOMEM;
    } else if (f->maxlen && vlen > f->maxlen) {
        why = "value longer than the schema allows";
    } else {
        void *dst = (char *)parent->obj + f->offset;
        if (f->flags & PXMPP_FF_LIST) {
            size_t vs = pxmpp__value_size(f);
            if (!(dst = fr->obj = pxmpp__arena_zalloc(b->a, vs)))
                return PXMPP_ERR_NOMEM;
        }
        why = pxmpp__value_parse(b->a, f, f->vtype, v, vlen, dst, true);
    }
    if (why) {
        if (!ra)
            violation(b, b->depth, NULL, "<%.60s/> needs exactly the attribute %.60s", fr->local, f->value_attr);
        else
            violation(b, b->depth, NULL, "%s for attribute %.60s of <%.60s/>: '%.60s'", why, f->value_attr, fr->local, v);
        fr->field = NULL;
        return open_generic(b, fr, G_EXTRA, attrs, nattrs);
    }
    fr->mode = M_TEXT_CHILD;
    fr->attr_raw = v;
    return 0;
}

/* A child that breaks its schema (one too many, an unexpected attribute): kept as a
   generic extra node of its parent, after the violation was recorded. */
static int start_rejected(pxmpp__decoder *b, frame *fr, const pxmpp__rattr *attrs, size_t nattrs)
{
    fr->field = NULL;
    return open_generic(b, fr, G_EXTRA, attrs, nattrs);
}

static void violation_too_many(pxmpp__decoder *b, const pxmpp_field_desc *f, const char *local)
{
    violation(b, b->depth, NULL, "more than %u <%.60s/> element%s", f->max_occurs ? f->max_occurs : 1, local,
              f->max_occurs > 1 ? "s" : "");
}

/* The top-level element: the caller told the type through begin(); find it again. */
static int start_top(pxmpp__decoder *b, frame *fr, const pxmpp__rattr *attrs, size_t nattrs)
{
    const char *ns = fr->ns, *local = fr->local;
    const pxmpp_type_desc *d = b->top ? b->top : pxmpp__registry_find(b->reg, ns, local, b->content_ns, 0, true);
    if (!d)
        return PXMPP_ERR_UNSUPPORTED_STANZA;
    fr->local = d->names ? local : d->local; /* open_typed takes a one-of element's name from its enum */
    return fail(b, open_typed(b, fr, d, attrs, nattrs));
}

/* An element inside a text-like child (TEXT_CHILD, LANG_TEXT, FLAG, CONDITION): the
   parent is demoted to a generic element, or for a LANG_TEXT keeps it in its meta. */
static int start_in_value(pxmpp__decoder *b, frame *fr, frame *parent, const pxmpp__rattr *attrs, size_t nattrs)
{
    violation(b, b->depth - 1, NULL, "element <%.60s> is not allowed inside <%.60s>", fr->local, parent->local);
    if (parent->mode == M_LANG_TEXT)
        return open_generic(b, fr, G_EXTRA, attrs, nattrs); /* lang texts have a meta */
    const pxmpp_field_desc *pf = parent->field;
    if (pf && (parent->attr_raw || parent->mode == M_CONDITION) && b->depth >= 3) {
        /* the value stored when it started is kept raw in the node instead */
        frame *owner = &b->frames[b->depth - 3];
        if (!(pf->flags & PXMPP_FF_LIST))
            memset((char *)owner->obj + pf->offset, 0, pxmpp__value_size(pf));
        if (parent->attr_raw) {
            pxmpp_attr *at = new_attr(b->a, NULL, pf->value_attr, parent->attr_raw);
            if (!at || push_item(b, T_ATTR, at, &parent->n_attrs))
                return PXMPP_ERR_NOMEM;
            parent->attr_raw = NULL;
        }
    }
    parent->mode = M_GENERIC;
    parent->gdest = G_EXTRA;
    const char *pns = parent->ns;
    parent->ns = dup_name(b, pns);
    parent->local = dup_name(b, parent->local);
    parent->field = NULL;
    if (!parent->local || (pns && !parent->ns) || flush_text(b, parent))
        return PXMPP_ERR_NOMEM;
    fr->text_start = b->text_len;
    fr->mark = b->items_len; /* the parent's text node came after fr began */
    return open_generic(b, fr, G_CHILD, attrs, nattrs);
}

/* Field k of the typed parent is the one fr fills, as its (have + 1)th element. */
static void fill_field(frame *fr, const pxmpp_field_desc *f, uint16_t k, size_t have)
{
    fr->field = f;
    fr->field_index = k;
    fr->occurrence = have + 1;
    fr->path_index = ((f->flags & PXMPP_FF_LIST) || fr->occurrence > 1) ? fr->occurrence : 0;
}

/* A CHILD field: a typed element of its own. */
static int start_child(pxmpp__decoder *b, frame *fr, const pxmpp_field_desc *f, uint16_t k, size_t have,
                       const pxmpp__rattr *attrs, size_t nattrs)
{
    fill_field(fr, f, k, have);
    if ((!(f->flags & PXMPP_FF_LIST) && have >= 1) || (f->max_occurs && have >= f->max_occurs)) {
        violation_too_many(b, f, fr->local);
        return start_rejected(b, fr, attrs, nattrs);
    }
    return open_typed(b, fr, f->child, attrs, nattrs);
}

/* A LANG_TEXT: its attributes go to its meta, its xml:lang to the text. */
static int start_lang_text(pxmpp__decoder *b, frame *fr, const pxmpp__rattr *attrs, size_t nattrs)
{
    fr->mode = M_LANG_TEXT;
    pxmpp_lang_text *lt = pxmpp__arena_zalloc(b->a, sizeof *lt);
    if (!lt)
        return PXMPP_ERR_NOMEM;
    fr->obj = lt;
    for (size_t i = 0; i < nattrs; i++) {
        size_t vlen;
        char *v = attr_value(b->a, attrs[i].value, attrs[i].len, &vlen);
        if (!v)
            return PXMPP_ERR_NOMEM;
        if (attrs[i].ns && strcmp(attrs[i].ns, PXMPP_NS_XML) == 0 && strcmp(attrs[i].local, "lang") == 0) {
            lt->lang = v;
            fr->lang = v;
            continue;
        }
        pxmpp_attr *at = copy_attr(b, attrs[i].ns, attrs[i].local, v);
        if (!at || push_item(b, T_ATTR, at, &fr->n_attrs))
            return PXMPP_ERR_NOMEM;
    }
    return 0;
}

/* A TEXT_CHILD, FLAG or LANG_TEXT field: a value of the parent. */
static int start_text_like(pxmpp__decoder *b, frame *fr, frame *parent, const pxmpp_field_desc *f, uint16_t k,
                           size_t have, const pxmpp__rattr *attrs, size_t nattrs)
{
    fill_field(fr, f, k, have);
    bool full = (f->max_occurs && have >= f->max_occurs) || (!(f->flags & PXMPP_FF_LIST) && have >= 1);
    if (!full && f->value_attr)
        return start_value_attr(b, fr, parent, f, attrs, nattrs);
    if (full || (f->kind != PXMPP_F_LANG_TEXT && nattrs > 0)) {
        if (full)
            violation_too_many(b, f, fr->local);
        else
            violation(b, b->depth, NULL, "unexpected attribute on <%.60s/>", fr->local);
        return start_rejected(b, fr, attrs, nattrs);
    }
    if (f->kind == PXMPP_F_LANG_TEXT)
        return start_lang_text(b, fr, attrs, nattrs);
    fr->mode = f->kind == PXMPP_F_FLAG ? M_FLAG : M_TEXT_CHILD;
    return 0;
}

/* A CONDITION field: the element's name is the value (v, from the lookup). */
static int start_condition(pxmpp__decoder *b, frame *fr, frame *parent, const pxmpp_field_desc *f, uint16_t k,
                           size_t have, int v, const pxmpp__rattr *attrs, size_t nattrs)
{
    fr->field = f;
    fr->field_index = k;
    fr->occurrence = 1;
    if (have >= 1 || nattrs > 0) {
        violation(b, b->depth, NULL, have ? "more than one defined condition" : "unexpected attribute on a condition");
        return start_rejected(b, fr, attrs, nattrs);
    }
    memcpy((char *)parent->obj + f->offset, &v, sizeof v);
    fr->mode = M_CONDITION;
    return 0;
}

/* Not a field: a payload of an extension point (typed when a schema knows it). */
static int start_payload(pxmpp__decoder *b, frame *fr, frame *parent, const struct lcache *ce,
                         const pxmpp__rattr *attrs, size_t nattrs)
{
    const pxmpp_type_desc *pd = parent->desc;
    uint16_t k = (uint16_t)ce->v;
    fr->field = &pd->fields[k];
    fr->field_index = k;
    fr->occurrence = parent->counts[k] + 1;
    if (!ce->payload)
        return open_generic(b, fr, G_PAYLOAD, attrs, nattrs);
    fr->payload_root = true;
    return open_typed(b, fr, ce->payload, attrs, nattrs);
}

/* A child of a TYPED element: the field it fills, a payload, or an unknown child. */
static int start_in_typed(pxmpp__decoder *b, frame *fr, frame *parent, const pxmpp__rattr *attrs, size_t nattrs)
{
    const pxmpp_type_desc *pd = parent->desc;
    if (ensure_counts(b, parent))
        return PXMPP_ERR_NOMEM;
    struct lcache *slot, *ce = cache_find(b, pd, fr->local, fr->ns, false, &slot);
    if (!ce) {
        *slot = match_child(b, pd, parent->ns, fr->ns, fr->local);
        ce = slot;
    }
    if (ce->k != FIELD_NONE) {
        uint16_t k = (uint16_t)ce->k;
        const pxmpp_field_desc *f = &pd->fields[k];
        size_t have = parent->counts[k];
        switch (f->kind) {
        case PXMPP_F_CHILD:
            return start_child(b, fr, f, k, have, attrs, nattrs);
        case PXMPP_F_TEXT_CHILD:
        case PXMPP_F_FLAG:
        case PXMPP_F_LANG_TEXT:
            return start_text_like(b, fr, parent, f, k, have, attrs, nattrs);
        case PXMPP_F_CONDITION:
            return start_condition(b, fr, parent, f, k, have, ce->v, attrs, nattrs);
        default:
            break;
        }
    }
    if (pd->point)
        return start_payload(b, fr, parent, ce, attrs, nattrs);
    return open_generic(b, fr, G_EXTRA, attrs, nattrs);
}

int pxmpp__decoder_start(pxmpp__decoder *b, const char *ns, const char *local,
                         const pxmpp__rattr *attrs, size_t nattrs)
{
    if (b->fatal)
        return b->fatal;
    frame *parent = top(b);
    int rc;
    if (parent && (rc = flush_text(b, parent)))
        return fail(b, rc);
    frame *fr;
    if ((rc = push_frame(b, &fr)))
        return rc == PXMPP_ERR_NOMEM ? fail(b, rc) : rc; /* PXMPP_ERR_LIMIT leaves the stanza open */
    fr->ns = ns;
    fr->local = local;
    parent = b->depth >= 2 ? &b->frames[b->depth - 2] : NULL; /* push_frame may have moved the frames */
    fr->lang = parent ? parent->lang : b->stream_lang;
    if (!parent)
        return start_top(b, fr, attrs, nattrs);
    switch (parent->mode) {
    case M_TYPED:
        rc = start_in_typed(b, fr, parent, attrs, nattrs);
        break;
    case M_GENERIC:
        rc = open_generic(b, fr, G_CHILD, attrs, nattrs);
        break;
    default: /* M_TEXT_CHILD, M_LANG_TEXT, M_FLAG, M_CONDITION */
        rc = start_in_value(b, fr, parent, attrs, nattrs);
        break;
    }
    return fail(b, rc);
}

int pxmpp__decoder_text(pxmpp__decoder *b, const char *s, size_t len)
{
    if (b->fatal)
        return b->fatal;
    if (!b->depth)
        return 0;
    return fail(b, text_append(b, s, len));
}

/* ---- element end ---------------------------------------------------------- */

/* The meta of a TYPED or LANG_TEXT frame from its items, which it then takes off the stack. */
static int finish_meta(pxmpp__decoder *b, frame *fr, pxmpp_meta *m)
{
    if (fr->n_attrs) {
        if (!(m->extra_attrs = gather(b, fr, T_ATTR, fr->n_attrs, sizeof(pxmpp_attr), AS_VALUE)))
            return PXMPP_ERR_NOMEM;
        m->extra_attrs_count = fr->n_attrs;
    }
    if (fr->n_nodes) {
        if (!(m->extra_nodes = gather(b, fr, T_NODE, fr->n_nodes, sizeof(pxmpp_node), AS_VALUE)))
            return PXMPP_ERR_NOMEM;
        m->extra_nodes_count = fr->n_nodes;
    }
    if (fr->n_order) {
        if (!(m->order = gather(b, fr, T_ORDER, fr->n_order, sizeof(uint16_t), AS_U16)))
            return PXMPP_ERR_NOMEM;
        m->order_count = fr->n_order;
    }
    b->items_len = fr->mark;
    return 0;
}

static const char *effective_lang(const pxmpp_lang_text *lt, const char *inherited)
{
    return lt->lang ? lt->lang : inherited;
}

/* ---- sorting (for checks that would otherwise compare every pair) ---------------- */

/* The scratch of the sorts: room for n values, or NULL (no memory). */
static uintptr_t *sort_scratch(pxmpp__decoder *b, size_t n)
{
    if (b->sort_cap < n) {
        uintptr_t *t = n <= SIZE_MAX / sizeof *t ? b->mem.realloc(b->sort, n * sizeof *t, b->mem.ud) : NULL;
        if (!t)
            return NULL;
        b->sort = t;
        b->sort_cap = n;
    }
    return b->sort;
}

/* After a sort: a large scratch is not kept for the small ones. */
static void sort_done(pxmpp__decoder *b)
{
    if (b->sort_cap > SORT_KEEP) {
        b->mem.free(b->sort, b->mem.ud);
        b->sort = NULL;
        b->sort_cap = 0;
    }
}

typedef bool (*before_fn)(const void *ctx, uintptr_t x, uintptr_t y);

static void sift(pxmpp__decoder *b, uintptr_t *v, size_t k, size_t n, before_fn before, const void *ctx)
{
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= n)
            return;
        b->work.steps += 2;
        if (c + 1 < n && before(ctx, v[c], v[c + 1]))
            c++;
        if (!before(ctx, v[k], v[c]))
            return;
        uintptr_t t = v[k];
        v[k] = v[c];
        v[c] = t;
        k = c;
    }
}

/* Heap sort of v[0, n) by the strict order `before`: at most about 2 n log2 n comparisons
   whatever the input, no memory of its own. */
static void heap_sort(pxmpp__decoder *b, uintptr_t *v, size_t n, before_fn before, const void *ctx)
{
    for (size_t k = n / 2; k-- > 0;)
        sift(b, v, k, n, before, ctx);
    for (size_t end = n; end-- > 1;) {
        uintptr_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift(b, v, 0, end, before, ctx);
    }
}

/* The lang texts being checked, for lang_before. */
struct lang_list {
    const pxmpp_lang_text *arr;
    const char *inh;
    pxmpp__work *work;
};

/* Is the language of lang text x, then its position, before y's? */
static bool lang_before(const void *ctx, uintptr_t x, uintptr_t y)
{
    const struct lang_list *l = ctx;
    l->work->lang_compares++;
    int c = lang_cmp(effective_lang(&l->arr[x], l->inh), effective_lang(&l->arr[y], l->inh));
    return c < 0 || (c == 0 && x < y);
}

/* The first of the lang texts arr[0, n) whose effective language (its own xml:lang, else
   inh; none is the same as "") an earlier one has, or n when the languages all differ.
   A few are compared pairwise; more are heap-sorted by (language, position), and the
   answer is the smallest second position among the runs of one language.  *rc:
   PXMPP_ERR_NOMEM when the scratch could not grow. */
static size_t first_repeated_lang(pxmpp__decoder *b, const pxmpp_lang_text *arr, size_t n, const char *inh, int *rc)
{
    *rc = 0;
    if (n <= LANG_SCAN) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++) {
                b->work.lang_compares++, b->work.steps++;
                if (lang_cmp(effective_lang(&arr[i], inh), effective_lang(&arr[j], inh)) == 0)
                    return i;
            }
        return n;
    }
    uintptr_t *idx = sort_scratch(b, n);
    if (!idx) {
        *rc = PXMPP_ERR_NOMEM;
        return n;
    }
    for (size_t k = 0; k < n; k++)
        idx[k] = k;
    struct lang_list l = { arr, inh, &b->work };
    heap_sort(b, idx, n, lang_before, &l);
    size_t first = n, run = 0; /* run: where the run of idx[k]'s language begins in idx */
    for (size_t k = 1; k < n; k++) {
        b->work.lang_compares++, b->work.steps++;
        if (lang_cmp(effective_lang(&arr[idx[k]], inh), effective_lang(&arr[idx[k - 1]], inh)) != 0)
            run = k;
        else if (k == run + 1 && idx[k] < first)
            first = idx[k]; /* the second of its run (positions ascend in a run) */
    }
    sort_done(b);
    return first;
}

static void check_deferred(pxmpp__decoder *b, const frame *fr);

static int finish_typed(pxmpp__decoder *b, frame *fr)
{
    const pxmpp_type_desc *d = fr->desc;
    pxmpp_meta *m = fr->obj;
    size_t tlen = b->text_len - fr->text_start;
    const char *tx = b->text ? b->text + fr->text_start : "";
    const pxmpp_field_desc *textf = text_field(b, d);
    if (textf) {
        if (tlen || (textf->flags & PXMPP_FF_REQUIRED)) {
            const char *why = NULL;
            if (textf->maxlen && tlen > textf->maxlen)
                why = "text longer than the schema allows";
            else
                why = pxmpp__value_parse(b->a, textf, textf->vtype, tx, tlen, (char *)fr->obj + textf->offset, false);
            if (!why) {
                size_t k = (size_t)(textf - d->fields);
                if (k < 32)
                    m->present |= 1u << k; /* a 0 or false in the text was there */
            } else {
                violation(b, b->depth, NULL, "%s in the text of <%.60s/>", why, fr->local);
                pxmpp_node *t = pxmpp__arena_zalloc(b->a, sizeof *t);
                if (!t || !(t->text = pxmpp__arena_strndup(b->a, tx, tlen)) ||
                    push_item(b, T_NODE, t, &fr->n_nodes) || add_order(b, fr, PXMPP_ORDER_EXTRA))
                    return PXMPP_ERR_NOMEM;
            }
        }
    } else if (flush_text(b, fr)) {
        return PXMPP_ERR_NOMEM;
    }
    b->text_len = fr->text_start;

    uint32_t mask = type_info(b, d)->finish;
    for (uint16_t k = field_from(d, mask, 0); k < d->fields_count; k = field_from(d, mask, k + 1u)) {
        const pxmpp_field_desc *f = &d->fields[k];
        size_t count = count_of(fr, k);
        bool present;
        switch (f->kind) {
        case PXMPP_F_ATTR:
            present = (m->present >> k) & 1u;
            if ((f->flags & PXMPP_FF_REQUIRED) && !present) {
                char suffix[80];
                snprintf(suffix, sizeof suffix, "/@%s%.60s", f->ns ? "xml:" : "", f->local);
                violation(b, b->depth, suffix, "missing required attribute %s", f->local);
            }
            break;
        case PXMPP_F_CHILD:
        case PXMPP_F_TEXT_CHILD:
        case PXMPP_F_LANG_TEXT:
        case PXMPP_F_PAYLOADS:
            if ((f->flags & PXMPP_FF_REQUIRED) && count == 0)
                violation(b, b->depth, NULL, "missing required child <%s/>",
                          f->local ? f->local : f->child ? f->child->local : f->name);
            if (f->flags & PXMPP_FF_LIST) {
                size_t elem = f->kind == PXMPP_F_CHILD        ? f->child->size
                              : f->kind == PXMPP_F_LANG_TEXT  ? sizeof(pxmpp_lang_text)
                              : f->kind == PXMPP_F_PAYLOADS   ? sizeof(pxmpp_payload)
                                                              : pxmpp__value_size(f);
                /* a list of strings holds the pointers themselves, other values point to theirs */
                bool strings = f->kind == PXMPP_F_TEXT_CHILD && pxmpp__value_is_string(f);
                void *arr = count ? gather(b, fr, k, count, elem, strings ? AS_PTR : AS_VALUE) : NULL;
                if (count && !arr)
                    return PXMPP_ERR_NOMEM;
                pxmpp__set_ptr(fr->obj, f->offset, arr);
                pxmpp__set_size(fr->obj, f->aux_offset, count);
            }
            if (f->kind == PXMPP_F_LANG_TEXT && (f->flags & PXMPP_FF_UNIQUE_LANG) && count > 1) {
                const pxmpp_lang_text *arr = pxmpp__get_ptr(fr->obj, f->offset);
                int rc;
                size_t i = first_repeated_lang(b, arr, count, fr->lang, &rc);
                if (rc)
                    return rc;
                if (i < count) {
                    char suffix[128];
                    snprintf(suffix, sizeof suffix, "/%.60s[%zu]", f->local, i + 1);
                    const char *l = effective_lang(&arr[i], fr->lang);
                    violation(b, b->depth, suffix, "two <%.60s/> elements with the same xml:lang '%.40s'",
                              f->local, l ? l : "");
                }
            }
            break;
        case PXMPP_F_CONDITION:
            if ((f->flags & PXMPP_FF_REQUIRED) && count == 0)
                violation(b, b->depth, NULL, "missing defined condition element");
            break;
        default:
            break;
        }
    }
    if (d->rules_count) {
        /* the stanza is the nearest enclosing one (a forwarded message's payloads speak of it,
           not of the carbon around it); its attributes are known, its lists are not yet */
        size_t i = b->depth;
        while (i > 1 && !(b->frames[i - 1].mode == M_TYPED && b->frames[i - 1].desc->stanza))
            i--;
        const frame *st = &b->frames[i - 1];
        const pxmpp_rule_desc *r = pxmpp__rules_check(d, fr->obj, st->desc, st->obj, false, &b->work, NULL);
        if (r)
            violation(b, b->depth, NULL, "%s: %s", r->source, r->text);
    }
    if (d->stanza)
        check_deferred(b, fr);
    return finish_meta(b, fr, m);
}

/* The rules of a stanza's direct payloads that wait for the stanza's end (a nested stanza,
   e.g. a forwarded message, too; its lists are gathered by then). */
static bool type_before(const void *ctx, uintptr_t x, uintptr_t y)
{
    (void)ctx;
    return x < y;
}

/* The payloads of the stanza fr, each as its type, sorted (into the sort scratch), so that
   a rule of each payload counts those of a type by binary search: counting them one by
   one for each payload would cost the square of their number.  0 or PXMPP_ERR_NOMEM. */
static int sort_payload_types(pxmpp__decoder *b, const frame *fr, size_t total, pxmpp__payload_types *pt)
{
    uintptr_t *v = sort_scratch(b, total);
    if (!v)
        return PXMPP_ERR_NOMEM;
    size_t m = 0;
    const pxmpp_type_desc *d = fr->desc;
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        const pxmpp_payload *arr = f->kind == PXMPP_F_PAYLOADS ? pxmpp__get_ptr(fr->obj, f->offset) : NULL;
        size_t n = arr ? pxmpp__get_size(fr->obj, f->aux_offset) : 0;
        for (size_t i = 0; i < n; i++)
            v[m++] = (uintptr_t)arr[i].type;
    }
    heap_sort(b, v, m, type_before, NULL);
    *pt = (pxmpp__payload_types){ fr->obj, v, m };
    return 0;
}

static void check_deferred(pxmpp__decoder *b, const frame *fr)
{
    const pxmpp_type_desc *d = fr->desc;
    size_t total = 0;
    for (uint16_t k = 0; k < d->fields_count; k++)
        if (d->fields[k].kind == PXMPP_F_PAYLOADS && pxmpp__get_ptr(fr->obj, d->fields[k].offset))
            total += pxmpp__get_size(fr->obj, d->fields[k].aux_offset);
    pxmpp__payload_types sorted, *pt = NULL; /* made when a payload has rules, if they are many */
    for (uint16_t k = 0; k < d->fields_count; k++) {
        const pxmpp_field_desc *f = &d->fields[k];
        if (f->kind != PXMPP_F_PAYLOADS)
            continue;
        const pxmpp_payload *arr = pxmpp__get_ptr(fr->obj, f->offset);
        size_t n = arr ? pxmpp__get_size(fr->obj, f->aux_offset) : 0;
        b->work.steps += n;
        for (size_t i = 0; i < n; i++) {
            const pxmpp_type_desc *pd = arr[i].type;
            if (!pd || !pd->rules_count)
                continue;
            if (!pt && total > TYPES_SCAN) {
                if (sort_payload_types(b, fr, total, &sorted)) {
                    fail(b, PXMPP_ERR_NOMEM);
                    return;
                }
                pt = &sorted;
            }
            const pxmpp_rule_desc *r = pxmpp__rules_check(pd, arr[i].data, d, fr->obj, true, &b->work, pt);
            if (r) {
                char suffix[96];
                const char *name = pxmpp__type_local_of(pd, arr[i].data);
                snprintf(suffix, sizeof suffix, "/%.60s", name ? name : pd->local);
                violation(b, b->depth, suffix, "%s: %s", r->source, r->text);
                goto done;
            }
        }
    }
done:
    if (pt)
        sort_done(b);
}

static pxmpp_node *finish_generic(pxmpp__decoder *b, frame *fr)
{
    if (flush_text(b, fr))
        return NULL;
    pxmpp_node *n = pxmpp__arena_zalloc(b->a, sizeof *n);
    if (!n)
        return NULL;
    n->ns = fr->ns;
    n->local = fr->local;
    if (fr->n_attrs) {
        if (!(n->attrs = gather(b, fr, T_ATTR, fr->n_attrs, sizeof(pxmpp_attr), AS_VALUE)))
            return NULL;
        n->attrs_count = fr->n_attrs;
    }
    if (fr->n_nodes) {
        if (!(n->children = gather(b, fr, T_NODE, fr->n_nodes, sizeof(pxmpp_node), AS_VALUE)))
            return NULL;
        n->children_count = fr->n_nodes;
    }
    b->text_len = fr->text_start;
    b->items_len = fr->mark;
    return n;
}



/* A text-like child that could not be stored typed becomes a generic extra node. */
static int text_child_as_extra(pxmpp__decoder *b, frame *fr, frame *parent, const char *tx, size_t tlen)
{
    pxmpp_node *n = pxmpp__arena_zalloc(b->a, sizeof *n);
    if (!n || !(n->local = dup_name(b, fr->local)))
        return PXMPP_ERR_NOMEM;
    n->ns = dup_name(b, fr->ns);
    if (fr->ns && !n->ns)
        return PXMPP_ERR_NOMEM;
    if (fr->attr_raw) {
        pxmpp_attr *at = new_attr(b->a, NULL, fr->field->value_attr, fr->attr_raw);
        if (!at)
            return PXMPP_ERR_NOMEM;
        n->attrs = at;
        n->attrs_count = 1;
    }
    if (tlen) {
        pxmpp_node *t = pxmpp__arena_zalloc(b->a, sizeof *t);
        if (!t || !(t->text = pxmpp__arena_strndup(b->a, tx, tlen)))
            return PXMPP_ERR_NOMEM;
        n->children = t;
        n->children_count = 1;
    }
    if (push_item(b, T_NODE, n, &parent->n_nodes) || add_order(b, parent, PXMPP_ORDER_EXTRA))
        return PXMPP_ERR_NOMEM;
    return 0;
}

/* A TYPED child ends: stored in its field of the parent, or as a payload. */
static int end_typed(pxmpp__decoder *b, frame *fr, frame *parent)
{
    int rc = finish_typed(b, fr);
    if (rc)
        return rc;
    if (fr->payload_root) {
        pxmpp_payload *p = pxmpp__arena_zalloc(b->a, sizeof *p);
        if (!p)
            return PXMPP_ERR_NOMEM;
        /* a payload that broke its schema stays typed, with the diagnostic */
        p->type = fr->desc;
        p->data = fr->obj;
        p->invalid = fr->diag;
        if (push_item(b, fr->field_index, p, &parent->counts[fr->field_index]))
            return PXMPP_ERR_NOMEM;
    } else if (fr->field->flags & PXMPP_FF_LIST) {
        if (push_item(b, fr->field_index, fr->obj, &parent->counts[fr->field_index]))
            return PXMPP_ERR_NOMEM;
    } else {
        pxmpp__set_ptr(parent->obj, fr->field->offset, fr->obj);
        parent->counts[fr->field_index] = 1;
    }
    return add_order(b, parent, fr->field_index);
}

/* A GENERIC element ends: a child node, an extra node or an unknown payload. */
static int end_generic(pxmpp__decoder *b, frame *fr, frame *parent)
{
    pxmpp_node *n = finish_generic(b, fr);
    if (!n)
        return PXMPP_ERR_NOMEM;
    switch ((enum gdest)fr->gdest) {
    case G_CHILD:
        return push_item(b, T_NODE, n, &parent->n_nodes);
    case G_PAYLOAD: {
        pxmpp_payload *p = pxmpp__arena_zalloc(b->a, sizeof *p);
        if (!p)
            return PXMPP_ERR_NOMEM;
        p->node = n;
        if (push_item(b, fr->field_index, p, &parent->counts[fr->field_index]))
            return PXMPP_ERR_NOMEM;
        return add_order(b, parent, fr->field_index);
    }
    case G_EXTRA:
        break;
    }
    /* the parent is TYPED or a LANG_TEXT */
    if (push_item(b, T_NODE, n, &parent->n_nodes))
        return PXMPP_ERR_NOMEM;
    if (parent->mode == M_LANG_TEXT)
        return 0;
    return add_order(b, parent, PXMPP_ORDER_EXTRA);
}

/* A text-like child that broke its schema: recorded, then kept as a generic extra node. */
static int end_rejected(pxmpp__decoder *b, frame *fr, frame *parent, const char *tx, size_t tlen)
{
    int rc = text_child_as_extra(b, fr, parent, tx, tlen);
    b->text_len = fr->text_start;
    return rc;
}

/* A TEXT_CHILD whose value came in its attribute (stored at the start): the element is empty. */
static int end_value_attr(pxmpp__decoder *b, frame *fr, frame *parent, const char *tx, size_t tlen)
{
    const pxmpp_field_desc *f = fr->field;
    if (!pxmpp__is_space_only(tx, tlen)) {
        violation(b, b->depth, NULL, "unexpected text in <%.60s/>", fr->local);
        if (!(f->flags & PXMPP_FF_LIST))
            memset((char *)parent->obj + f->offset, 0, pxmpp__value_size(f)); /* kept raw instead */
        return end_rejected(b, fr, parent, tx, tlen);
    }
    b->text_len = fr->text_start;
    if (f->flags & PXMPP_FF_LIST) {
        /* a list of strings holds the strings themselves (see gather), others their slots */
        void *item = fr->obj;
        if (pxmpp__value_is_string(f))
            item = (void *)(uintptr_t)pxmpp__get_ptr(fr->obj, 0);
        if (push_item(b, fr->field_index, item, &parent->counts[fr->field_index]))
            return PXMPP_ERR_NOMEM;
    } else {
        parent->counts[fr->field_index] = 1;
        ((pxmpp_meta *)parent->obj)->present |= 1u << fr->field_index;
    }
    return add_order(b, parent, fr->field_index);
}

/* A TEXT_CHILD: its text is the value, parsed into the parent's field. */
static int end_text_child(pxmpp__decoder *b, frame *fr, frame *parent, const char *tx, size_t tlen)
{
    const pxmpp_field_desc *f = fr->field;
    if (f->value_attr)
        return end_value_attr(b, fr, parent, tx, tlen);
    const char *why = NULL;
    if (f->maxlen && tlen > f->maxlen)
        why = "text longer than the schema allows";
    if (f->flags & PXMPP_FF_LIST) {
        bool str = pxmpp__value_is_string(f);
        const char *v = NULL;
        void *dst = str ? (void *)&v : pxmpp__arena_zalloc(b->a, pxmpp__value_size(f));
        if (!dst)
            return PXMPP_ERR_NOMEM;
        if (!why)
            why = pxmpp__value_parse(b->a, f, f->vtype, tx, tlen, dst, false);
        if (!why) {
            if (push_item(b, fr->field_index, str ? (void *)(uintptr_t)v : dst, &parent->counts[fr->field_index]))
                return PXMPP_ERR_NOMEM;
        }
    } else if (!why) {
        why = pxmpp__value_parse(b->a, f, f->vtype, tx, tlen, (char *)parent->obj + f->offset, false);
        if (!why) {
            parent->counts[fr->field_index] = 1;
            ((pxmpp_meta *)parent->obj)->present |= 1u << fr->field_index;
        }
    }
    if (why) {
        violation(b, b->depth, NULL, "%s in <%.60s/>: '%.60s'", why, fr->local, tx);
        return end_rejected(b, fr, parent, tx, tlen);
    }
    b->text_len = fr->text_start;
    return add_order(b, parent, fr->field_index);
}

static int end_lang_text(pxmpp__decoder *b, frame *fr, frame *parent, const char *tx, size_t tlen)
{
    pxmpp_lang_text *lt = fr->obj;
    if (!(lt->text = pxmpp__arena_strndup(b->a, tx, tlen)))
        return PXMPP_ERR_NOMEM;
    b->text_len = fr->text_start;
    int rc = finish_meta(b, fr, &lt->meta);
    if (rc)
        return rc;
    if (push_item(b, fr->field_index, lt, &parent->counts[fr->field_index]))
        return PXMPP_ERR_NOMEM;
    return add_order(b, parent, fr->field_index);
}

static int end_flag(pxmpp__decoder *b, frame *fr, frame *parent, const char *tx, size_t tlen)
{
    if (!pxmpp__is_space_only(tx, tlen)) {
        violation(b, b->depth, NULL, "unexpected text in <%.60s/>", fr->local);
        return end_rejected(b, fr, parent, tx, tlen);
    }
    b->text_len = fr->text_start;
    bool t = true;
    memcpy((char *)parent->obj + fr->field->offset, &t, sizeof t);
    parent->counts[fr->field_index] = 1;
    return add_order(b, parent, fr->field_index);
}

/* A CONDITION (its value was stored at the start); its text is the condition's text. */
static int end_condition(pxmpp__decoder *b, frame *fr, frame *parent, const char *tx, size_t tlen)
{
    if (tlen) {
        const char *s = pxmpp__arena_strndup(b->a, tx, tlen);
        if (!s)
            return PXMPP_ERR_NOMEM;
        pxmpp__set_ptr(parent->obj, fr->field->aux_offset, s);
    }
    b->text_len = fr->text_start;
    parent->counts[fr->field_index] = 1;
    return add_order(b, parent, fr->field_index);
}

/* The end of an element below the top-level one, by the kind of its frame. */
static int end_inner(pxmpp__decoder *b)
{
    frame *fr = top(b);
    frame *parent = &b->frames[b->depth - 2];
    size_t tlen = b->text_len - fr->text_start;
    const char *tx = b->text ? b->text + fr->text_start : "";
    switch ((enum frame_kind)fr->mode) {
    case M_TYPED:
        return end_typed(b, fr, parent);
    case M_GENERIC:
        return end_generic(b, fr, parent);
    case M_TEXT_CHILD:
        return end_text_child(b, fr, parent, tx, tlen);
    case M_LANG_TEXT:
        return end_lang_text(b, fr, parent, tx, tlen);
    case M_FLAG:
        return end_flag(b, fr, parent, tx, tlen);
    case M_CONDITION:
        return end_condition(b, fr, parent, tx, tlen);
    }
    return 0;
}

int pxmpp__decoder_end(pxmpp__decoder *b, pxmpp__decoded *out)
{
    if (b->fatal)
        return b->fatal;
    if (!b->depth)
        return PXMPP_ERR_STATE;
    if (b->depth == 1) {
        frame *fr = top(b);
        int rc = finish_typed(b, fr);
        if (rc)
            return fail(b, rc);
        if (b->fatal)
            return b->fatal;
        out->type = fr->desc;
        out->obj = fr->obj;
        out->diag = b->stanza_diag;
        b->depth = 0;
        b->text_len = 0;
        return 1;
    }
    int rc = end_inner(b);
    b->depth--;
    if (rc)
        return fail(b, rc);
    return b->fatal;
}

bool pxmpp__type_local_is(const pxmpp_type_desc *d, const char *local)
{
    if (!d->names)
        return strcmp(d->local, local) == 0;
    return pxmpp__enum_lookup(d->names, local, strlen(local)) > 0;
}

const char *pxmpp__type_local_of(const pxmpp_type_desc *d, const void *obj)
{
    if (!d->names)
        return d->local;
    int v;
    memcpy(&v, (const char *)obj + d->fields[d->name_field].offset, sizeof v);
    return v > 0 && v < d->names->count ? d->names->values[v] : NULL;
}

int pxmpp__type_ns_index(const pxmpp_type_desc *d, const char *ns, const char *content_ns)
{
    if (!d->ns_list)
        return ns_eq(d->ns ? d->ns : content_ns, ns) ? 1 : 0;
    for (int i = 0; d->ns_list[i]; i++)
        if (ns_eq(d->ns_list[i], ns))
            return i + 1;
    return 0;
}

static bool wanted(const pxmpp_type_desc *d, uint32_t point, bool top_level)
{
    if (top_level)
        return d->top_level;
    if (point == PXMPP_PAYLOAD_OF_ANY)
        return d->payload_of || d->top_level;
    return (d->payload_of & point) != 0;
}

/* Looks {hns}local up in the registry's hash index (hns "" for the content namespace). */
static const pxmpp_type_desc *index_find(const pxmpp_registry *r, const char *hns, const char *ns,
                                         const char *local, const char *content_ns, uint32_t point, bool top_level)
{
    size_t mask = r->index_size - 1;
    for (size_t i = pxmpp_registry_hash(hns, local) & mask, n = 0; r->index[i] && n <= mask; i = (i + 1) & mask, n++) {
        size_t pos = r->index[i] - 1u;
        if (pos >= r->count)
            break;
        const pxmpp_type_desc *d = r->types[pos];
        if (pxmpp__type_local_is(d, local) && pxmpp__type_ns_index(d, ns, content_ns))
            return wanted(d, point, top_level) ? d : NULL;
    }
    return NULL;
}

const pxmpp_type_desc *pxmpp__registry_find(const pxmpp_registry *r, const char *ns,
                                            const char *local, const char *content_ns,
                                            uint32_t point, bool top_level)
{
    if (r->index && r->index_size && !(r->index_size & (r->index_size - 1))) {
        const pxmpp_type_desc *d = ns ? index_find(r, ns, ns, local, content_ns, point, top_level) : NULL;
        if (!d && ns_eq(ns, content_ns))
            d = index_find(r, "", ns, local, content_ns, point, top_level);
        return d;
    }
    for (size_t i = 0; i < r->count; i++) {
        const pxmpp_type_desc *d = r->types[i];
        if (!wanted(d, point, top_level))
            continue;
        if (d->names ? !pxmpp__type_local_is(d, local)
                     : d->local[0] != local[0] || strcmp(d->local, local) != 0) /* most names differ at once */
            continue;
        if (pxmpp__type_ns_index(d, ns, content_ns))
            return d;
    }
    return NULL;
}
