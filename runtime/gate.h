/* The gate: the byte-level lexer the stream runs in front of libxml2.  Internal,
   not installed.

       app bytes ──> pxmpp__gate_feed
                       │ utf8_scan: UTF-8 and XML characters, byte-exact
                       │ gate_lex:  text, tags, references, CDATA, limits
                       ├──> sink.parse   complete tags (values cut out) ──> libxml2
                       │                   └──> SAX handlers of stream.c ──> decoder
                       ├──> sink.text    character data of stanzas ──────> decoder
                       └──> sink.fail    a violation, at its app offset

   libxml2 gets complete tags only, so its cost is linear however the input is
   chunked.  A tag that begins in one feed and ends in a later one is held until
   it is whole.  When a callback asks for a new parser context (stream restart,
   renewed context, pause), the parse call says so and the gate hands the rest of
   its input, lexed afresh, to the new context.

   Offsets: the gate counts app bytes (the bytes given to pxmpp_stream_feed, from
   0); every uint64_t offset below is one of them, except lib_fed and brk[].lib,
   which count the bytes given to the current libxml2 context. */
#ifndef PXMPP_GATE_H
#define PXMPP_GATE_H

#include "internal.h"

/* What the gate and its sink return besides 0 and the (negative) error codes. */
enum pxmpp__gate_rc {
    PXMPP__GATE_RESTARTED = 1, /* sink.parse: a callback asked for a new context (restart_at says where) */
    PXMPP__GATE_PAUSED = 2,    /* sink.restart, pxmpp__gate_feed: stopped, the rest unread */
};

/* The lexer's states. */
enum pxmpp__lx {
    LX_TEXT, LX_LT, LX_TAG, LX_TQ1, LX_TQ2, LX_BANG, LX_CDATA, LX_PI_NAME, LX_XMLDECL, LX_REF
};

/* see struct pxmpp__cut; libxml2 does not get the bytes of VAL and after */
enum pxmpp__cut_kind {
    CUT_TAG, CUT_KEEP, CUT_VAL, CUT_VALX, CUT_NS, CUT_NSW, CUT_ATTR, CUT_ATTRX
};

/* Attribute values the gate keeps out of libxml2's sight.  For every start tag
   inside the stream element the gate records a TAG entry; for a tag it lexed
   in one pass (fast_tag) the entry is followed by one entry per attribute
   other than a namespace declaration: VAL (its value was cut: libxml2 gets
   the tag with an empty value, on_start takes the value from here), VALX (the
   same for a value with references or white space, which on_start decodes:
   read_value) or KEEP (xml:lang, xml:space: left to libxml2), plus NS for a
   default namespace declaration whose value was cut (libxml2 gets xmlns='')
   or NSW for one cut whole (libxml2 does not see it); on_start keeps the
   default namespace in scope itself (see dns).  In a tag of plain shape
   (cut_tag) an unprefixed attribute is cut whole, name and all (ATTR, ATTRX:
   libxml2 does not see it; on_start interns the name and hands it to the
   decoder with the others, in document order).  So libxml2 parses element
   names, prefixed names and structure, and neither allocates nor parses URIs
   for each stanza.  Offsets are into cut_base, the input of the running
   gate_lex (or the held tag); every entry is used before it returns. */
struct pxmpp__cut {
    size_t off;          /* TAG: the tag's '<'; ATTR: the space before the name; others: the value */
    const unsigned char *name; /* ATTR: the name, interned by on_start */
    uint32_t len;        /* TAG: entries that follow (0: take libxml2's values); others: bytes */
    uint32_t voff, vlen; /* ATTR, NS, NSW: the value, from off */
    uint32_t noff;       /* ATTR: the name, from off */
    uint16_t nlen;
    uint8_t kind;
};

/* What the gate hands its output to (the stream).  Each call returns the
   stream's sticky error when there is one. */
typedef struct pxmpp__gate_sink {
    /* libxml2 parses d[0, n): 0, the sticky error, or PXMPP__GATE_RESTARTED
       (restart_at set by the callback that asked) */
    int (*parse)(void *user, const char *d, size_t n);
    /* character data of the current element: 0 or the sticky error */
    int (*text)(void *user, const char *t, size_t n);
    /* a violation at app offset off: makes it the sticky error and returns it */
    int (*fail)(void *user, int code, uint64_t off, const char *what);
    /* after PXMPP__GATE_RESTARTED: PXMPP__GATE_PAUSED (nothing more is read),
       0 (a new parser context: pxmpp__gate_reset was called) or an error */
    int (*restart)(void *user);
    /* the sticky error, or 0 */
    int (*error)(void *user);
} pxmpp__gate_sink;

typedef struct pxmpp__gate {
    const pxmpp__gate_sink *sink;
    void *user;
    pxmpp_mem mem;
    size_t max_header, max_stanza, max_attrs;

    /* offsets, in app bytes */
    uint64_t fed;           /* the next byte to give to libxml2 */
    uint64_t lexed;         /* the next byte to lex (bytes accepted from the app) */
    uint64_t ctxt_base;     /* the first byte given to the current parser */
    uint64_t skipped;       /* bytes kept from the current parser (text the gate delivered itself) */
    uint64_t boundary;      /* after the last header or top-level element */
    uint64_t restart_at;    /* where the restarted parser begins (set by the stream's callbacks) */
    /* in bytes given to the current parser */
    size_t prefix_len;      /* synthetic bytes given before app bytes */
    uint64_t lib_fed;       /* all bytes given, synthetic header included */
    /* Where cut bytes lie in what libxml2 is parsing: from libxml2 offset `lib` on,
       `cum` more app bytes than libxml2 bytes (this feed only; see pxmpp__gate_offset). */
    struct pxmpp__brk {
        uint64_t lib, cum;
    } *brk;
    size_t brk_n;

    uint8_t lx, lx_ret;     /* state (enum pxmpp__lx), state to return to after a reference */
    uint8_t lx_n;           /* bytes collected in lx_buf */
    char lx_buf[44];
    uint8_t decl_len;       /* bytes of the XML declaration collected in decl (up to its size) */
    char decl[96];          /* the XML declaration after "<?xml", for its encoding */
    bool lx_end_tag, lx_slash, lx_closed, lx_doc_start, paused;
    uint32_t lx_attrs;      /* quoted values seen in the current tag */
    uint32_t lx_depth;      /* element depth as lexed (1 = the stream element) */
    uint32_t u8_need, u8_cp, u8_min; /* UTF-8 sequence in progress across feeds */
    uint8_t lx_rb;          /* ']' just before the current text position (0..2): "]]>" check */
    bool lx_cr;             /* the text delivered last ended with a CR (a LF right after it is dropped) */
    char *hold;             /* a tag that began in an earlier chunk */
    size_t hold_len, hold_cap;

    struct pxmpp__cut *cuts;
    size_t cuts_n, cuts_cap;
    size_t cuts_fed;        /* entries whose bytes went to libxml2 */
    size_t cuts_used;       /* entries on_start has taken */
    const char *cut_base;
    char *stage;            /* a range of input with the cut values taken out, for libxml2 */
    size_t stage_cap;
} pxmpp__gate;

/* A gate at app offset 0 (all zero but what is set here). */
void pxmpp__gate_init(pxmpp__gate *g, const pxmpp_mem *mem, const pxmpp__gate_sink *sink, void *user,
                      size_t max_header, size_t max_stanza, size_t max_attrs);
void pxmpp__gate_free(pxmpp__gate *g);
/* A new parser context from the current offset on: a new document (resume false),
   or the same stream at a stanza boundary (resume true, or content_only: lexing
   inside the stream element). */
void pxmpp__gate_reset(pxmpp__gate *g, bool resume, bool content_only);
/* hlen synthetic bytes were given to the new context before any app byte. */
void pxmpp__gate_prefix(pxmpp__gate *g, size_t hlen);
/* Lexes data[0, n): 0, the sticky error, or PXMPP__GATE_PAUSED (g->lexed says
   how far it read). */
int pxmpp__gate_feed(pxmpp__gate *g, const char *data, size_t n);
/* The bytes after the peer's close tag: white space only. */
int pxmpp__gate_after_close(pxmpp__gate *g, const char *p, size_t n);
/* The app offset of libxml2's byte `consumed` of the current context. */
uint64_t pxmpp__gate_offset(const pxmpp__gate *g, long consumed);
/* Heap bytes the gate holds. */
size_t pxmpp__gate_memory(const pxmpp__gate *g);
/* Frees the scratch buffers of a feed (cut entries, break points, stage, hold) when the gate
   is idle (no tag in the middle); they come back when needed.  Only between feeds. */
void pxmpp__gate_trim(pxmpp__gate *g);
/* Nothing is pending in the gate: no partial tag, reference or section. */
static inline bool pxmpp__gate_idle(const pxmpp__gate *g) { return g->lx == LX_TEXT && g->hold_len == 0; }

/* A complete reference "&...;" without & and ;: 0 with *cp its code point,
   PXMPP_ERR_XML or PXMPP_ERR_RESTRICTED_XML. */
int pxmpp__gate_ref_value(const char *r, uint32_t *cp);
/* UTF-8 encoding of cp (<= 0x10FFFF) into u; returns its length. */
size_t pxmpp__utf8_put(char u[4], uint32_t cp);

#endif
