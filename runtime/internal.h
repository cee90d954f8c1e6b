/* Internal declarations shared by the runtime's translation units. Not installed. */
#ifndef PXMPP_INTERNAL_H
#define PXMPP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pxmpp/arena.h>
#include <pxmpp/error.h>
#include <pxmpp/jid.h>
#include <pxmpp/types.h>

/* ---- generic access to the fields of generated structs (offsets from descriptors) ---- */
#include <string.h>

static inline const void *pxmpp__get_ptr(const void *obj, uint32_t off)
{
    const void *p;
    memcpy(&p, (const char *)obj + off, sizeof p);
    return p;
}

static inline void pxmpp__set_ptr(void *obj, uint32_t off, const void *p) { memcpy((char *)obj + off, &p, sizeof p); }

static inline size_t pxmpp__get_size(const void *obj, uint32_t off)
{
    size_t n;
    memcpy(&n, (const char *)obj + off, sizeof n);
    return n;
}

static inline void pxmpp__set_size(void *obj, uint32_t off, size_t n) { memcpy((char *)obj + off, &n, sizeof n); }

/* Whether the @p n bytes at @p p are all XML white space (none counts as all). */
static inline bool pxmpp__all_space(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

/* libxml2's SAX2 keeps '&' as "&#38;" in attribute values (and namespace names):
   copies len bytes of v into dst (room for len + 1) with that decoded, adds a NUL,
   returns the decoded length. */
static inline size_t pxmpp__decode_amp(char *dst, const char *v, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (v[i] == '&' && len - i >= 5 && memcmp(v + i, "&#38;", 5) == 0) {
            dst[o++] = '&';
            i += 5;
        } else {
            dst[o++] = v[i++];
        }
    }
    dst[o] = '\0';
    return o;
}

/* ---- the arena (arena.c) and its inline fast paths ---- */
typedef struct pxmpp__chunk {
    struct pxmpp__chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used; /* a multiple of PXMPP__ARENA_ALIGN */
    max_align_t align_[]; /* data follows, maximally aligned */
} pxmpp__chunk;

struct pxmpp_arena {
    pxmpp_mem mem;
    pxmpp__chunk *head;  /* current chunk (most recent) */
    pxmpp__chunk *first; /* the chunk kept across resets */
    size_t chunk_size;
    size_t held;
    size_t limit;
    int hit_limit;
};

#define PXMPP__ARENA_ALIGN (sizeof(max_align_t) < 16 ? sizeof(max_align_t) : 16)

/* The general case of pxmpp__arena_alloc_raw: a new chunk, limits, size 0. */
void *pxmpp__arena_alloc_slow(pxmpp_arena *a, size_t size);
/* pxmpp_arena_reset() that keeps no chunk either: the arena holds nothing until its next
   allocation (pxmpp_stream_trim()). */
void pxmpp__arena_release(pxmpp_arena *a);

/* Arena allocation without zero-filling (for bytes that are overwritten at once). */
static inline void *pxmpp__arena_alloc_raw(pxmpp_arena *a, size_t size)
{
    pxmpp__chunk *c = a->head;
    if (c && size && size <= c->size - c->used) {
        size_t r = (size + PXMPP__ARENA_ALIGN - 1) & ~(PXMPP__ARENA_ALIGN - 1);
        if (r <= c->size - c->used) {
            unsigned char *p = (unsigned char *)(c + 1) + c->used;
            c->used += r;
            return p;
        }
    }
    return pxmpp__arena_alloc_slow(a, size);
}

/* pxmpp_arena_alloc and pxmpp_arena_strndup, inlined. */
static inline void *pxmpp__arena_zalloc(pxmpp_arena *a, size_t size)
{
    void *p = pxmpp__arena_alloc_raw(a, size);
    if (p)
        memset(p, 0, size ? size : 1);
    return p;
}

static inline char *pxmpp__arena_strndup(pxmpp_arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = pxmpp__arena_alloc_raw(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ---- values ---- */
/* Converts the XML value s (NUL-terminated, len bytes) for field f into the C value at dst.
   A string-like value is copied into the arena, unless s_in_arena says s already lives
   there.  Returns NULL on success or a static reason string. */
const char *pxmpp__value_parse(pxmpp_arena *a, const pxmpp_field_desc *f, uint8_t vtype,
                               const char *s, size_t len, void *dst, bool s_in_arena);
/* Writes the XML form of the value at src into buf (cap >= 32) for INT/BOOL, or returns the
   string for string-like and enum values.  NULL when the value cannot be written. */
const char *pxmpp__value_format(const pxmpp_field_desc *f, uint8_t vtype, const void *src,
                                char *buf, size_t cap);
/* Should the single value at src of field f (index i) be written, given meta.present? */
bool pxmpp__value_present(const pxmpp_field_desc *f, uint8_t vtype, const void *src, bool present_bit);
int pxmpp__enum_lookup(const pxmpp_enum_desc *e, const char *s, size_t len);
bool pxmpp__is_space_only(const char *s, size_t len);

/* ---- the writer's walk: it writes into a byte sink (writer.c) ---- */
enum {
    PXMPP__CHECK_NAME = 1u << 0,  /* the element's name and namespace */
    PXMPP__CHECK_ATTRS = 1u << 1  /* attributes to check will come: none may repeat another */
};
typedef struct pxmpp__sink {
    bool lenient; /* skip missing required values instead of failing */
} pxmpp__sink;

/* The offset of the first byte of the NUL-terminated s that is invalid UTF-8 or a character
   XML 1.0 does not allow (control characters but tab, LF and CR; U+FFFE, U+FFFF), or
   SIZE_MAX when there is none (writer.c). */
size_t pxmpp__bad_char(const char *s);

/* Emits a typed element.  ns is the element's actual namespace (content ns resolved). */
int pxmpp__emit_typed(pxmpp__sink *s, const pxmpp_type_desc *d, const void *obj, const char *content_ns);
/* The same inside an element of namespace parent_ns (which a type of several namespaces
   built from scratch takes when it is one of its own). */
int pxmpp__emit_typed_in(pxmpp__sink *s, const pxmpp_type_desc *d, const void *obj, const char *content_ns,
                         const char *parent_ns);
int pxmpp__emit_node(pxmpp__sink *s, const pxmpp_node *n);

/* ---- the decoder: turns element events into typed structs ---- */
typedef struct pxmpp__rattr {
    const char *ns;    /* NULL when unqualified */
    const char *local;
    const char *value; /* not NUL-terminated; "&#38;" stands for '&' (libxml2 SAX2) */
    size_t len;
} pxmpp__rattr;

typedef struct pxmpp__decoder pxmpp__decoder;

/* What building stanzas cost, counted in steps that do not depend on the machine (for
   the tests and the fuzzer's cost oracle; a stream's decoder keeps them for its life). */
typedef struct pxmpp__work {
    uint64_t lang_compares; /* two languages compared by the one-per-xml:lang check */
    /* every step of the decoder's and the rules' loops whose length the input decides:
       items gathered into lists, order records, fields searched for a child or an
       attribute, frames of a path, payloads counted or checked by a rule, languages
       compared (each step a small constant amount of work; what is linear in the bytes
       of a tag or a text is not counted) */
    uint64_t steps;
} pxmpp__work;

typedef struct pxmpp__decoded {
    const pxmpp_type_desc *type;
    void *obj;
    const pxmpp_diag *diag; /* non-NULL: stanza-level violation */
} pxmpp__decoded;

int pxmpp__decoder_new(pxmpp__decoder **out, const pxmpp_mem *mem, const pxmpp_registry *reg,
                       size_t max_depth);
void pxmpp__decoder_free(pxmpp__decoder *b);
/* Starts a top-level element of type d in arena a.  content_ns is the stream's.  Returns
   0, or PXMPP_ERR_NOMEM when the lookup tables, allocated with the first element, could
   not be (then every call for this element returns it too, until the next begin). */
int pxmpp__decoder_begin(pxmpp__decoder *b, pxmpp_arena *a, const pxmpp_type_desc *d,
                         const char *content_ns, const char *stream_lang);
int pxmpp__decoder_start(pxmpp__decoder *b, const char *ns, const char *local,
                         const pxmpp__rattr *attrs, size_t nattrs);
int pxmpp__decoder_text(pxmpp__decoder *b, const char *s, size_t len);
/* Returns 1 when the top-level element is complete (then *out is filled), 0 otherwise. */
int pxmpp__decoder_end(pxmpp__decoder *b, pxmpp__decoded *out);
size_t pxmpp__decoder_depth(const pxmpp__decoder *b);
void pxmpp__decoder_abort(pxmpp__decoder *b);
size_t pxmpp__decoder_held(const pxmpp__decoder *b);
/* Frees what the decoder keeps between top-level elements to avoid allocating per stanza
   (lookup tables, items, text, sort scratch); they come back with the next element.  Only
   between elements (depth 0). */
void pxmpp__decoder_trim(pxmpp__decoder *b);
/* Forgets lookups keyed by libxml2 name pointers (call when the parser context changes). */
void pxmpp__decoder_clear_cache(pxmpp__decoder *b);
const pxmpp__work *pxmpp__decoder_work(const pxmpp__decoder *b);

/* The type of element {ns}local that the registry knows at an extension point (point: a
   PXMPP_PAYLOAD_OF_* bit, PXMPP_PAYLOAD_OF_ANY for every payload or top-level type) or at
   the top level of the stream; NULL when none. */
const pxmpp_type_desc *pxmpp__registry_find(const pxmpp_registry *r, const char *ns,
                                            const char *local, const char *content_ns,
                                            uint32_t point, bool top_level);
/* Is ns one of d's namespaces (NULL in d: the content namespace)?  Returns 1 + its index in
   d->ns_list for a type of several namespaces, 1 for a type of one, 0 when it is not. */
int pxmpp__type_ns_index(const pxmpp_type_desc *d, const char *ns, const char *content_ns);

/* Is local the local name of elements of type d (one of its names for a one-of element)? */
bool pxmpp__type_local_is(const pxmpp_type_desc *d, const char *local);
/* The local name a one-of element obj of type d is written with, or NULL when its name field
   holds no value; d->local for the others. */
const char *pxmpp__type_local_of(const pxmpp_type_desc *d, const void *obj);

/* Is a value of field f held as a string (const char *), as every type but enum, bool and int
   is?  A list of such values is an array of the string pointers themselves. */
static inline bool pxmpp__value_is_string(const pxmpp_field_desc *f)
{
    return f->vtype != PXMPP_V_ENUM && f->vtype != PXMPP_V_BOOL && f->vtype != PXMPP_V_INT;
}

/* Bytes of one value of field f (the element size of a TEXT_CHILD list). */
static inline size_t pxmpp__value_size(const pxmpp_field_desc *f)
{
    switch (f->vtype) {
    case PXMPP_V_ENUM: return sizeof(int);
    case PXMPP_V_BOOL: return sizeof(bool);
    case PXMPP_V_INT: return f->width == 4 ? sizeof(int32_t) : sizeof(int64_t);
    default: return sizeof(const char *);
    }
}

/* rules.c: the first rule of d that obj breaks, or NULL.  sd/sobj: the stanza (top-level
   element) obj is in, or NULL; deferred: check the rules that wait for the stanza's end
   (those naming stanza.payload()) instead of the others; work: its steps are counted
   there (NULL: not counted); types: the sorted payload types of one element (NULL: none),
   with which the payloads of that element are counted by binary search instead of one
   by one. */
typedef struct pxmpp__payload_types {
    const void *obj;        /* the element */
    const uintptr_t *types; /* the type of each of its payloads (all PAYLOADS fields), ascending */
    size_t n;
} pxmpp__payload_types;
const pxmpp_rule_desc *pxmpp__rules_check(const pxmpp_type_desc *d, const void *obj, const pxmpp_type_desc *sd,
                                          const void *sobj, bool deferred, pxmpp__work *work,
                                          const pxmpp__payload_types *types);

/* Overwrites the stream's output buffer (after a stanza that carried a secret was written). */
struct pxmpp_stream;
void pxmpp__stream_wipe_output(struct pxmpp_stream *s);
/* The stream error a fatal error code is reported with (ABSENT for codes that send none). */
int pxmpp__stream_condition_for(int code); /* a pxmpp_stream_error_condition */
/* What the stream's decoder has done so far (see pxmpp__work). */
const pxmpp__work *pxmpp__stream_work(const struct pxmpp_stream *s);

/* ---- the client session (client.c) ---- */
struct pxmpp_client;
/* For tests: sets the XEP-0198 counters of a session whose stream management is on and whose
   queue is empty ('h' to inbound; stanzas sent and acknowledged to outbound), to reach 2^32. */
void pxmpp__client_sm_seed(struct pxmpp_client *c, uint32_t inbound, uint32_t outbound);
#endif
