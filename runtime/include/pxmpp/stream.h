/**
 * @file stream.h
 * @brief The sans-IO XMPP stream: one per connection.
 *
 * The application owns the socket (and TLS).  It feeds received bytes with
 * pxmpp_stream_feed() in chunks of any size, and the stream calls back with the
 * peer's stream header, typed top-level elements and errors.  Bytes to send go
 * through the `write` callback.  The sequence of callbacks does not depend on
 * how the input is chunked; a top-level element is delivered as soon as its end
 * tag has been fed.
 *
 * Ownership: every pointer passed to a callback is borrowed for the duration of
 * the call (it points into the stream's arena, which is reset after the call).
 *
 * Errors: functions return 0 or a negative pxmpp_error.  An error <=
 * PXMPP_ERR_FATAL is sticky: the stream sends the matching <stream:error/> and
 * </stream:stream> through `write` (RFC 6120 §4.9), reports it through the
 * `error` callback, and every later call returns the same code.
 * pxmpp_stream_last_error() gives the code, a reason and the byte offset.
 */
#ifndef PXMPP_STREAM_H
#define PXMPP_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <pxmpp/arena.h>
#include <pxmpp/error.h>
#include <pxmpp/gen/all.h>
#include <pxmpp/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pxmpp_stream pxmpp_stream;

/** Which side of the connection the stream is. */
typedef enum pxmpp_role {
    PXMPP_ROLE_CLIENT = 0, /**< initiating entity: opens the stream first */
    PXMPP_ROLE_SERVER = 1  /**< receiving entity: answers the peer's header */
} pxmpp_role;

/** The attributes of a stream header (RFC 6120 §4.7).  NULL means absent. */
typedef struct pxmpp_stream_header {
    const char *to;
    const char *from;
    const char *id;
    const char *version;    /**< "1.0"; NULL in the component protocol's headers (XEP-0114) */
    const char *lang;       /**< xml:lang */
    const char *content_ns; /**< PXMPP_NS_CLIENT, PXMPP_NS_SERVER or PXMPP_NS_COMPONENT_ACCEPT */
} pxmpp_stream_header;

/** Resource limits.  Zero in a field means its default. */
typedef struct pxmpp_limits {
    size_t max_stanza_bytes;  /**< bytes of one top-level element, whitespace before it included (262144) */
    size_t max_depth;         /**< element nesting below the stream element (64) */
    size_t max_attrs;         /**< attributes of one element (64) */
    size_t max_header_bytes;  /**< bytes before the stream header is complete (8192) */
    size_t max_names;         /**< distinct element/attribute names and namespaces per stream (10000) */
} pxmpp_limits;

enum {
    /** Parse a bare sequence of stanzas, as the content of a stream whose header
        was already exchanged (stored stanzas, logs, tests).  No header is expected
        and none is written; offsets count from the first byte fed. */
    PXMPP_STREAM_CONTENT_ONLY = 1u << 0,
    /** What the stream writes for the application (stanzas, the attributes of its
        header, the text of a stream error) gets U+FFFD for invalid UTF-8 and for
        characters XML does not allow, as PXMPP_WRITE_REPLACE_INVALID says (writer.h),
        instead of being refused with PXMPP_ERR_INVALID_CHAR.  Names are never replaced. */
    PXMPP_STREAM_REPLACE_INVALID = 1u << 1
};

/** Optional configuration.  NULL or a zeroed struct gives the defaults. */
typedef struct pxmpp_stream_config {
    const pxmpp_mem *mem;        /**< allocator hooks (NULL: malloc) */
    pxmpp_limits limits;
    unsigned flags;              /**< PXMPP_STREAM_* */
    const char *content_ns;      /**< expected content namespace (NULL: jabber:client): not empty, valid
                                      UTF-8 of characters XML allows, without ', < or &.  With a
                                      namespace of the component protocol (jabber:component:accept
                                      or jabber:component:connect, XEP-0114) the peer's header may
                                      lack a version and ours has none unless one is given. */
    const pxmpp_registry *registry; /**< types to parse with (NULL: pxmpp_generated_registry) */
} pxmpp_stream_config;

/**
 * Callbacks.  Every member may be NULL except `write` when the stream must send
 * (it is needed by pxmpp_stream_open, pxmpp_stream_send and for stream errors).
 * `user` from pxmpp_stream_new() is passed back.
 */
typedef struct pxmpp_stream_callbacks {
    /** Bytes to send.  Return 0, or a negative value to make the stream fail with PXMPP_ERR_WRITE. */
    int (*write)(void *user, const char *data, size_t len);
    /** The peer's stream header arrived (borrowed). */
    void (*opened)(void *user, const pxmpp_stream_header *peer);
    /** Stream features arrived. */
    void (*features)(void *user, const pxmpp_stream_features *features);
    /** A valid message stanza. */
    void (*message)(void *user, const pxmpp_message *msg);
    /** A valid presence stanza. */
    void (*presence)(void *user, const pxmpp_presence *pres);
    /** A valid iq stanza. */
    void (*iq)(void *user, const pxmpp_iq *iq);
    /** Any other valid top-level element (STARTTLS, SASL, ...), and the kinds above whose
        callback is NULL.  @p data is a struct of type @p type. */
    void (*element)(void *user, const pxmpp_type_desc *type, const void *data, uint64_t offset);
    /** A top-level element that failed stanza-level validation.  @p partial holds everything
        that was read (values that failed are kept raw in meta).  The stream goes on. */
    void (*stanza_invalid)(void *user, const pxmpp_type_desc *type, const void *partial,
                           const pxmpp_diag *why, uint64_t offset);
    /** The peer sent <stream:error/>; the stream is over (its close tag may follow). */
    void (*stream_error)(void *user, const pxmpp_stream_error *err);
    /** A fatal local error: code, reason, byte offset of the input where it was detected. */
    void (*error)(void *user, int code, const char *reason, uint64_t offset);
    /** The peer closed the stream (</stream:stream>). */
    void (*closed)(void *user);
} pxmpp_stream_callbacks;

/**
 * Creates a stream.
 * @param out   receives the stream; free it with pxmpp_stream_free().
 * @param role  PXMPP_ROLE_CLIENT or PXMPP_ROLE_SERVER.
 * @param cb    callbacks, copied.
 * @param cfg   configuration or NULL; copied (the registry and the content namespace it points
 *              to must outlive the stream).
 * @param user  passed to every callback.
 * @return 0, PXMPP_ERR_INVALID_ARGUMENT (@p out or @p cb NULL, or a content namespace that
 *         cannot be written, see pxmpp_stream_config) or PXMPP_ERR_NOMEM.
 */
int pxmpp_stream_new(pxmpp_stream **out, pxmpp_role role, const pxmpp_stream_callbacks *cb,
                     const pxmpp_stream_config *cfg, void *user);

/** Frees the stream.  Sends nothing.  NULL is allowed.  Must not be called from a callback. */
void pxmpp_stream_free(pxmpp_stream *s);

/**
 * Feeds received bytes.  Callbacks run before it returns.  Every element that ends
 * before an offending byte is delivered; nothing after it is.  The size limits count
 * the bytes of each top-level element from the end of the previous one (whitespace
 * keepalives in between included).
 *
 * After the peer's </stream:stream> (reported by `closed`) the XML document is over.
 * White space may follow it, in the same call or in later ones (XML allows it after
 * the root element): it is counted in pxmpp_stream_offset() and otherwise ignored, and
 * feeding it returns 0.  Any other byte after the close tag (an element, text, a
 * comment, invalid UTF-8) is the sticky PXMPP_ERR_XML with the reason "not
 * well-formed: data after the end of the stream" and the offset of that byte, reported
 * through the `error` callback after `closed`; the stanzas before the close tag have
 * been delivered, nothing after it is.  The same holds after pxmpp_stream_finish() of
 * a content-only stream.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (s NULL, or data NULL with len > 0);
 *         PXMPP_ERR_STATE while paused (pxmpp_stream_pause); PXMPP_ERR_CLOSED after
 *         pxmpp_stream_send_error(); or the sticky fatal error: PXMPP_ERR_XML (not
 *         well-formed, not namespace-well-formed, invalid UTF-8 or XML character, text
 *         outside stanzas, data after the peer's </stream:stream>),
 *         PXMPP_ERR_RESTRICTED_XML, PXMPP_ERR_ENCODING, PXMPP_ERR_NAMESPACE,
 *         PXMPP_ERR_VERSION, PXMPP_ERR_UNSUPPORTED_STANZA, PXMPP_ERR_LIMIT,
 *         PXMPP_ERR_NOMEM, PXMPP_ERR_WRITE (a write from a callback failed).
 */
int pxmpp_stream_feed(pxmpp_stream *s, const void *data, size_t len);

/**
 * Like pxmpp_stream_feed(), but reports in @p consumed how many bytes were read:
 * all of them, unless a callback called pxmpp_stream_pause(), in which case reading
 * stopped right after the element being delivered and the rest is left to the caller
 * (for STARTTLS: bytes after <proceed/> must not be read as part of the protected
 * stream, RFC 6120 §5.4.3.3).
 * @return as pxmpp_stream_feed(); PXMPP_ERR_STATE while paused.
 */
int pxmpp_stream_feed_partial(pxmpp_stream *s, const void *data, size_t len, size_t *consumed);

/**
 * From a callback: stop reading after the current element.  The stream stays paused
 * (feeding returns PXMPP_ERR_STATE) until pxmpp_stream_restart().
 * @return 0, or PXMPP_ERR_STATE when not called from a callback.
 */
int pxmpp_stream_pause(pxmpp_stream *s);

/**
 * Signals end of input.  @return 0 when the peer closed the stream cleanly (or, in
 * content-only mode, when no element is unfinished); PXMPP_ERR_TRUNCATED otherwise;
 * or the sticky error.
 */
int pxmpp_stream_finish(pxmpp_stream *s);

/**
 * Writes our stream header (XML declaration + <stream:stream>).  Fields of @p h
 * that are NULL are omitted, except version ("1.0"; omitted too with a content
 * namespace of the component protocol) and content_ns (the configured one;
 * h->content_ns is not read).  The client calls it first; the server calls it from or
 * after `opened`.  Call it again after pxmpp_stream_restart().
 * @return 0, PXMPP_ERR_STATE (already open), PXMPP_ERR_INVALID_CHAR (a field holds invalid
 *         UTF-8 or a character XML does not allow, and PXMPP_STREAM_REPLACE_INVALID is not
 *         set: nothing is written, the stream is not open), PXMPP_ERR_WRITE, PXMPP_ERR_NOMEM
 *         or the sticky error.
 */
int pxmpp_stream_open(pxmpp_stream *s, const pxmpp_stream_header *h);

/**
 * Discards the parser state and expects a new stream header from the peer, as
 * required after STARTTLS and after SASL success (RFC 6120 §5.4.3.3, §6.4.6).
 * Our side must send a new header with pxmpp_stream_open().
 * @return 0 or the sticky error.
 */
int pxmpp_stream_restart(pxmpp_stream *s);

/**
 * Serializes a typed top-level element and writes it.  It is serialized whole before
 * anything is written: when it cannot be, nothing is written and the stream goes on.
 * @return 0, PXMPP_ERR_INVALID_ARGUMENT (a NULL argument), PXMPP_ERR_STATE (stream not
 *         open or closed), PXMPP_ERR_VALUE, PXMPP_ERR_INVALID_CHAR (a text or attribute
 *         value with invalid UTF-8 or a character XML does not allow, unless
 *         PXMPP_STREAM_REPLACE_INVALID is set), PXMPP_ERR_INVALID_NAME (a generic node or
 *         unknown attribute with a name or namespace XML does not allow), PXMPP_ERR_LIMIT
 *         (nested deeper than 256), PXMPP_ERR_NOMEM (all of these as pxmpp_write() says;
 *         pxmpp_write_ex() tells where), PXMPP_ERR_WRITE or the sticky error.
 */
int pxmpp_stream_send(pxmpp_stream *s, const pxmpp_type_desc *type, const void *data);

/** Typed wrappers of pxmpp_stream_send(). */
int pxmpp_stream_send_message(pxmpp_stream *s, const pxmpp_message *msg);
int pxmpp_stream_send_presence(pxmpp_stream *s, const pxmpp_presence *pres);
int pxmpp_stream_send_iq(pxmpp_stream *s, const pxmpp_iq *iq);

/**
 * Makes an id unique within this stream ("px" + counter + a per-stream salt).
 * @return a NUL-terminated string in @p buf, or NULL when @p cap < 32.
 */
const char *pxmpp_stream_make_id(pxmpp_stream *s, char *buf, size_t cap);

/**
 * Sends </stream:stream>.  The stream then waits for the peer's close tag
 * (reported by `closed`).  @return 0, PXMPP_ERR_STATE (not open), PXMPP_ERR_WRITE.
 */
int pxmpp_stream_close(pxmpp_stream *s);

/**
 * Sends a stream error with the given condition and optional text, then
 * </stream:stream>; the stream becomes unusable (PXMPP_ERR_CLOSED).
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (@p s NULL or an unknown condition);
 *         PXMPP_ERR_STATE (our side is closed already); PXMPP_ERR_INVALID_CHAR (@p text
 *         holds invalid UTF-8 or a character XML does not allow, and
 *         PXMPP_STREAM_REPLACE_INVALID is not set: nothing is sent and the stream is as it
 *         was); PXMPP_ERR_NOMEM or PXMPP_ERR_WRITE (the stream is unusable all the same).
 */
int pxmpp_stream_send_error(pxmpp_stream *s, pxmpp_stream_error_condition cond, const char *text);

/**
 * pxmpp_stream_send_error() with an application-specific condition (RFC 6120 §4.9.4) after
 * the defined one and the text, e.g. XEP-0198's <handled-count-too-high/> with
 * undefined-condition.  @p app is the condition's type and @p app_data a struct of it
 * (borrowed for the call), or both NULL.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (s NULL, cond absent or unknown, app without
 *         app_data); PXMPP_ERR_STATE (our side already closed); PXMPP_ERR_VALUE (@p app_data
 *         cannot be serialized: no error element is written); PXMPP_ERR_NOMEM; PXMPP_ERR_WRITE.
 *         The stream is unusable afterwards, as with pxmpp_stream_send_error().
 */
int pxmpp_stream_send_error_app(pxmpp_stream *s, pxmpp_stream_error_condition cond, const char *text,
                                const pxmpp_type_desc *app, const void *app_data);

/** The sticky error: returns its code (0 if none) and, when non-NULL, its reason and byte offset. */
int pxmpp_stream_last_error(const pxmpp_stream *s, const char **reason, uint64_t *offset);

/** Bytes fed so far (the offset of the next byte). */
uint64_t pxmpp_stream_offset(const pxmpp_stream *s);

/** Bytes of memory pxmpp holds for this stream right now (its struct, arena, decoder, buffers),
    all allocated through its allocator hooks; libxml2's parser context (about 16 KB) is not counted. */
size_t pxmpp_stream_memory(const pxmpp_stream *s);

/**
 * Gives back the memory the stream keeps between stanzas so that a busy stream allocates
 * nothing per stanza (the stanza arena's chunk, the decoder's lookup tables and buffers, the
 * gate's scratch buffers, the output buffer): for a connection that goes idle.  The next
 * stanza allocates them again (a few allocations, once).  What pxmpp_stream_memory() counts
 * after it is the stream's floor (about 20 KB with libxml2's context).  Not from inside a
 * callback of this stream.
 * @return 0; PXMPP_ERR_INVALID_ARGUMENT (@p s NULL); PXMPP_ERR_STATE (called from a callback,
 *         or in the middle of a stanza).
 */
int pxmpp_stream_trim(pxmpp_stream *s);

#ifdef __cplusplus
}
#endif
#endif
