/* The gate: the byte-level lexer the stream runs in front of libxml2.  Internal,
   not installed.

       app bytes ──> pxmpp__gate_next(g, p, n, &ev) ──> bytes consumed + one event
                       │ utf8_scan: UTF-8 and XML characters, byte-exact
                       │ lex round: text, tags, references, CDATA, limits
                       ▼
       the stream's loop (pxmpp_stream_feed_partial), one event at a time:
         TAGS  complete tags (values cut out) ──> xmlParseChunk ──> SAX handlers ──> decoder
               a callback asked for a new context (restart, renewal, pause) at app
               offset `at`: pxmpp__gate_reset(g, at, ..) and the loop goes on from `at`
         START a plain start tag (unprefixed name, attributes all cut) ─┐
         END   the end tag of one, its name matched by the gate ────────┴─> decoder
               (start_element / end_element, as libxml2's callbacks do)
         TEXT  character data of the current element ──────────────────────> decoder
         FAIL  a violation at an app offset (sticky: nothing more comes)
         MORE  all of p is consumed (a partial tag is held): feed more
         (a callback asked for a new context during any of them: as for TAGS)

   So libxml2 parses the stream header, prefixed elements and tags that are not of
   plain shape; the stanzas of a usual stream never reach it.  It gets complete tags
   only, so its cost is linear however the input is chunked.  A tag that begins in one feed and ends in a later one is held until
   it is whole.  The gate never calls out: a call lexes ahead (one round) while
   its queue has room, up to the first TAGS (libxml2 must parse those tags before
   the gate reads on: a restart starts over from them) or error, and hands the
   round's events out one per call; a restart drops the rest of the round.

   Offsets: every uint64_t offset is an app offset (bytes given to the gate, from
   0).  One counter is in libxml2's space: lib_fed, the bytes given to the current
   libxml2 context; pxmpp__gate_offset maps libxml2's position back. */
#ifndef PXMPP_GATE_H
#define PXMPP_GATE_H

#include "internal.h"

struct pxmpp__cut;

/* What pxmpp__gate_next hands on. */
enum pxmpp__gate_ev {
    PXMPP__GATE_MORE, /* all of the input is consumed: feed more */
    PXMPP__GATE_TAGS, /* complete tags for libxml2: data[0, len) (cut values left out; see cuts) */
    PXMPP__GATE_TEXT, /* character data of the current element: data[0, len), references decoded */
    PXMPP__GATE_FAIL, /* a violation: code, at, what; every later call returns it again */
    PXMPP__GATE_START, /* a plain start tag the gate read itself (libxml2 never sees it): its
                          name data[0, len) (unprefixed, so in the default namespace), its
                          attributes in the cut entries after tag, empty for "<x/>" */
    PXMPP__GATE_END,   /* the end tag of an element handed on as START: name data[0, len) */
};

typedef struct pxmpp__gate_event {
    enum pxmpp__gate_ev kind;
    const char *data; /* TAGS, TEXT: valid until the next call */
    size_t len;
    uint64_t at;      /* TAGS, TEXT: app offset of the first byte it stands for; FAIL: of the violation */
    uint64_t end;     /* TAGS: app offset after its last byte */
    int code;         /* FAIL: PXMPP_ERR_XML, _RESTRICTED_XML, _ENCODING, _LIMIT or _NOMEM */
    const char *what; /* FAIL: the reason (the gate's own buffer) */
    struct pxmpp__cut *tag; /* START: its entry (kind CUT_START); its attributes follow it */
    bool empty;       /* START: "<x/>", no END follows */
} pxmpp__gate_event;

/* The lexer's states. */
enum pxmpp__lx {
    LX_TEXT, LX_LT, LX_TAG, LX_TQ1, LX_TQ2, LX_BANG, LX_CDATA, LX_PI_NAME, LX_XMLDECL, LX_REF
};

/* see struct pxmpp__cut; libxml2 does not get the bytes of VAL and after */
enum pxmpp__cut_kind {
    CUT_TAG, CUT_START, CUT_KEEP, CUT_VAL, CUT_VALX, CUT_NSW, CUT_ATTR, CUT_ATTRX, CUT_LANG, CUT_LANGX
};

/* Attributes the gate keeps out of libxml2's sight.  For every start tag inside the
   stream element the gate records a TAG entry; when the tag scanner (scan_tag) read
   the tag in one pass the entry is followed by one entry per attribute other than a
   prefixed namespace declaration, in document order: ATTR for an unprefixed attribute
   cut whole, name and all (libxml2 does not see it; on_start interns the name and hands
   it to the decoder with the others), ATTRX the same for a value with references or
   white space, which on_start decodes (read_value); VAL for the value of a prefixed
   attribute (libxml2 gets the name with an empty value, on_start takes the value from
   here), VALX the same to decode; KEEP for xml:lang, xml:space (left to libxml2); NSW
   for a default namespace declaration cut whole (on_start keeps the default namespace
   in scope itself, see dns).  A plain tag (unprefixed name; only entries of those
   kinds, xml:lang as LANG or LANGX) has a START entry instead of TAG and is not given
   to libxml2 at all: the gate hands it on as a START event.  A tag read byte by byte
   has a TAG entry of length 0:
   libxml2 saw it whole.  So libxml2 parses element names, prefixed names and
   structure, and neither allocates nor parses URIs for each stanza.  Offsets are into
   cut_base, the input of the round (or the held tag); the entries are used while
   libxml2 parses the round's TAGS. */
struct pxmpp__cut {
    size_t off;          /* TAG: the tag's '<'; ATTR: the space before the name; others: the value */
    const unsigned char *name; /* ATTR: the name, interned by on_start */
    uint32_t len;        /* TAG: entries that follow (0: take libxml2's values); others: bytes */
    uint32_t voff, vlen; /* ATTR, NSW: the value, from off */
    uint32_t noff;       /* ATTR: the name, from off; START: the element name, from off */
    uint16_t nlen;       /* ATTR, START: name length */
    uint8_t kind;
};

/* An open element inside a stanza (depth 2 on): the name of one the gate read itself
   (START), to match its end tag; len 0 for one libxml2 parses. */
struct pxmpp__open {
    uint32_t off, len; /* in names */
};

/* One event of a round, with the app offset the gate has consumed once it is handed on. */
struct pxmpp__gate_q {
    pxmpp__gate_event ev;
    uint64_t upto;
    char text[4];     /* the UTF-8 of a reference in text, for a TEXT event */
};

/* Events a round may queue: it stops when a step could overflow them (a step queues
   at most PXMPP__GATE_STEP), after TAGS (one staging copy) and after FAIL. */
#define PXMPP__GATE_QUEUE 8
#define PXMPP__GATE_STEP 3

typedef struct pxmpp__gate {
    pxmpp_mem mem;
    size_t max_header, max_stanza, max_attrs;

    /* offsets, in app bytes */
    uint64_t lexed;         /* consumed: the next byte the caller passes (during a round: p[0]) */
    uint64_t scanned;       /* checked as UTF-8 up to here (scan_bad: the byte here is refused) */
    uint64_t boundary;      /* after the last header or top-level element */
    uint64_t ctxt_base;     /* the first byte of the current libxml2 context */
    uint64_t hold_at;       /* where the held bytes began */
    /* libxml2's position: its byte c stands for app offset map_base + c + (cut bytes
       before c, brk[]), at most map_end (the end of the last TAGS handed on) */
    uint64_t lib_fed;       /* bytes given to the current context, synthetic header included */
    uint64_t map_lib;       /* libxml2 offset of the first byte of the last TAGS (brk[] counts from it) */
    int64_t map_base;
    uint64_t map_end;
    struct pxmpp__brk {     /* from libxml2 offset map_lib + lib on, `cum` app bytes were cut before it */
        uint64_t lib, cum;
    } *brk;
    size_t brk_n;

    /* the events of the current round, handed out one per call */
    struct pxmpp__gate_q q[PXMPP__GATE_QUEUE];
    uint8_t q_n, q_at;
    bool halt;              /* the round ends at the next step (see PXMPP__GATE_QUEUE) */
    bool failed;            /* a FAIL was handed out: it is the answer from now on */
    pxmpp__gate_event fail;
    char fail_what[160];

    uint8_t lx, lx_ret;     /* state (enum pxmpp__lx), state to return to after a reference */
    uint8_t lx_n;           /* bytes collected in lx_buf */
    char lx_buf[44];
    uint8_t decl_len;       /* bytes of the XML declaration collected in decl (up to its size) */
    char decl[96];          /* the XML declaration after "<?xml", for its encoding */
    bool lx_end_tag, lx_slash, lx_closed, lx_doc_start, scan_bad;
    uint32_t lx_attrs;      /* quoted values seen in the current tag */
    uint32_t lx_depth;      /* element depth as lexed (1 = the stream element) */
    uint32_t u8_need, u8_cp, u8_min; /* UTF-8 sequence in progress across feeds */
    uint8_t lx_rb;          /* ']' just before the current text position (0..2): "]]>" check */
    bool lx_cr;             /* the text handed on last ended with a CR (a LF right after it is dropped) */
    char *hold;             /* a tag that began in an earlier chunk */
    size_t hold_len, hold_cap;

    /* the open elements by depth (open[d], 2 <= d < open_cap): END needs their names */
    struct pxmpp__open *open;
    size_t open_cap, max_depth;
    char *names;
    size_t names_len, names_cap;
    /* what scan_tag read last: the element name p[tn_off, +tn_len), a plain start tag */
    size_t tn_off, tn_entry; /* tn_entry: the START entry in cuts */
    uint32_t tn_len;
    bool tn_native;

    struct pxmpp__cut *cuts;
    size_t cuts_n, cuts_cap;
    size_t cuts_fed;        /* entries whose bytes are in the round's TAGS */
    size_t cuts_used;       /* entries on_start has taken */
    const char *cut_base;
    char *stage;            /* a range of input with the cut values taken out, for libxml2 */
    size_t stage_cap;
} pxmpp__gate;

/* A gate at app offset 0 (all zero but what is set here). */
void pxmpp__gate_init(pxmpp__gate *g, const pxmpp_mem *mem, size_t max_header, size_t max_stanza, size_t max_attrs,
                      size_t max_depth);
void pxmpp__gate_free(pxmpp__gate *g);
/* A new parser context from app offset `at` on (at most g->lexed; what the gate
   had lexed or queued after it is forgotten, and the caller passes the bytes from
   `at` again): a new document (resume false), or the same stream at a stanza
   boundary (resume true, or content_only: lexing inside the stream element). */
void pxmpp__gate_reset(pxmpp__gate *g, uint64_t at, bool resume, bool content_only);
/* hlen synthetic bytes were given to the new context before any app byte. */
void pxmpp__gate_prefix(pxmpp__gate *g, size_t hlen);
/* The next event for the input p[0, n) (the rest of the caller's bytes, at app offset
   g->lexed): returns how many bytes of p it consumed with it; the caller passes
   p + that next time (the same buffer until MORE: queued events point into it).  MORE
   comes only with all of p consumed.  An event must be used before the next call: its
   data and tag may point into p, the gate's buffers or its cut entries (which the
   stream takes while libxml2 parses TAGS, and with START). */
size_t pxmpp__gate_next(pxmpp__gate *g, const char *p, size_t n, pxmpp__gate_event *ev);
/* The peer's stream is over by other means (the stream closed it): later bytes are
   checked as what follows a close tag (white space only). */
static inline void pxmpp__gate_close(pxmpp__gate *g) { g->lx_closed = true; }
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
