/**
 * @file error.h
 * @brief Error codes shared by every pxmpp function.
 *
 * Every function that can fail returns an int: 0 on success or one of the
 * negative codes below.  Codes in the range PXMPP_ERR_FATAL and below make a
 * stream unusable (the error is sticky); codes above it concern one call or one
 * stanza only.  pxmpp_strerror() turns any code into a constant English string.
 */
#ifndef PXMPP_ERROR_H
#define PXMPP_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/** Error codes.  All are negative; 0 means success. */
typedef enum pxmpp_error {
    PXMPP_OK = 0,
    /* --- errors that concern one call or one value ------------------------ */
    PXMPP_ERR_INVALID_ARGUMENT = -1,  /**< a NULL or out-of-range argument */
    PXMPP_ERR_BUFFER_TOO_SMALL = -2,  /**< output buffer too small; nothing written */
    PXMPP_ERR_STATE = -3,             /**< the call is not allowed in the object's current state */
    PXMPP_ERR_JID_EMPTY = -10,        /**< JID or one of its parts is empty */
    PXMPP_ERR_JID_TOO_LONG = -11,     /**< a JID part is longer than 1023 bytes */
    PXMPP_ERR_JID_LOCAL = -12,        /**< localpart has a forbidden character or fails nodeprep */
    PXMPP_ERR_JID_DOMAIN = -13,       /**< domainpart is malformed or fails nameprep */
    PXMPP_ERR_JID_RESOURCE = -14,     /**< resourcepart fails resourceprep */
    PXMPP_ERR_JID_UTF8 = -15,         /**< JID is not valid UTF-8 */
    PXMPP_ERR_STANZA_INVALID = -20,   /**< a stanza failed validation; see the diagnostic */
    PXMPP_ERR_UNKNOWN_ELEMENT = -21,  /**< no type is known for that element */
    PXMPP_ERR_VALUE = -22,            /**< a typed value cannot be serialized (e.g. enum out of range) */
    PXMPP_ERR_INVALID_CHAR = -23,     /**< a string to write holds invalid UTF-8 or a character XML does not allow */
    PXMPP_ERR_INVALID_NAME = -24,     /**< an element or attribute name or a namespace that cannot be written */
    /* --- client session outcomes (the session is over after the first five) - */
    PXMPP_ERR_AUTH = -30,             /**< SASL authentication failed (bad credentials, bad server signature) */
    PXMPP_ERR_TLS_REQUIRED = -31,     /**< TLS is required by policy but the server does not offer it */
    PXMPP_ERR_NO_MECHANISM = -32,     /**< no SASL mechanism acceptable to both sides and to the policy */
    PXMPP_ERR_TLS = -33,              /**< STARTTLS failed or the app could not start TLS */
    PXMPP_ERR_PROTOCOL = -34,         /**< the server broke the protocol (missing features, bind error, ...) */
    PXMPP_ERR_TIMEOUT = -35,          /**< a tracked iq got no reply in time */
    PXMPP_ERR_IQ_ERROR = -36,         /**< a tracked iq got an error reply */
    /* --- transport outcomes (reported by the pxmpp_net driver) ------------ */
    PXMPP_ERR_RESOLVE = -40,          /**< DNS found no server for the domain */
    PXMPP_ERR_CONNECT = -41,          /**< no server address accepted a connection */
    PXMPP_ERR_DISCONNECTED = -42,     /**< the connection broke, or the server stopped answering */
    /* --- fatal errors: the stream is unusable after one of these ---------- */
    PXMPP_ERR_FATAL = -100,           /**< threshold: codes <= this are sticky */
    PXMPP_ERR_NOMEM = -101,           /**< the allocator returned NULL */
    PXMPP_ERR_XML = -102,             /**< input is not well-formed or namespace-well-formed XML */
    PXMPP_ERR_RESTRICTED_XML = -103,  /**< comment, PI, DTD or entity reference (RFC 6120 §11.1) */
    PXMPP_ERR_ENCODING = -104,        /**< input is not UTF-8 */
    PXMPP_ERR_NAMESPACE = -105,       /**< wrong stream or content namespace */
    PXMPP_ERR_VERSION = -106,         /**< unsupported stream version */
    PXMPP_ERR_UNSUPPORTED_STANZA = -107, /**< unknown top-level element */
    PXMPP_ERR_LIMIT = -108,           /**< a configured limit was exceeded (policy-violation) */
    PXMPP_ERR_CLOSED = -109,          /**< the stream is closed; nothing more is accepted */
    PXMPP_ERR_WRITE = -110,           /**< the write callback returned an error */
    PXMPP_ERR_PEER_STREAM_ERROR = -111, /**< the peer sent a stream error */
    PXMPP_ERR_TRUNCATED = -112,       /**< finish() was called inside an unfinished stream or stanza */
    PXMPP_ERR_BAD_FORMAT = -113       /**< the stream header is invalid (bad-format) */
} pxmpp_error;

/**
 * Returns a constant, NUL-terminated English description of @p code.
 * Unknown codes give "unknown error".  Never returns NULL.
 */
const char *pxmpp_strerror(int code);

/** Returns the short symbolic name of @p code ("PXMPP_ERR_NOMEM"), or "PXMPP_ERR_UNKNOWN". */
const char *pxmpp_error_name(int code);

#ifdef __cplusplus
}
#endif
#endif
