/**
 * @file jid.h
 * @brief XMPP addresses (JIDs): checking, parsing, normalization, formatting,
 *        comparison.
 *
 * A JID has the form `[localpart "@"] domainpart ["/" resourcepart]`
 * (RFC 7622 §3.1).  The string is split at the first '/' (everything after it
 * is the resourcepart, which may itself contain '/' and '@'); the part before
 * that '/' is split at its first '@' into localpart and domainpart.
 *
 * Memory: nothing in this module allocates on behalf of the caller.
 * pxmpp_jid is a plain value type with inline buffers: it may be copied with
 * `=` or memcpy, lives wherever the caller puts it and needs no cleanup.  It is
 * about 3 KiB, so keep it off small stacks.  (Normalization calls GNU libidn,
 * which allocates and frees temporary memory internally.)  There is no global
 * state: every function is reentrant and may be called from any thread.
 *
 * Two levels of checking are offered:
 *  - structural (pxmpp_jid_check(), pxmpp_jid_parse() without flags): the
 *    syntax rules below, fast, no Unicode tables, meant for every to/from
 *    attribute of every stanza;
 *  - normalizing (PXMPP_JID_NORMALIZE): the RFC 6122 stringprep profiles as
 *    implemented by libidn (nodeprep, nameprep, resourceprep), which yields the
 *    canonical form that must be used for comparisons, roster keys, etc.
 *
 * Structural rules (every part):
 *  - valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF);
 *  - no ASCII control character (U+0000..U+001F, U+007F), in particular no NUL;
 *  - 1..PXMPP_JID_PART_MAX bytes when present.
 * Localpart: must not contain SPACE or any of `" & ' / : < > @`.
 * Domainpart: either an IP literal `[IPv6address]` (RFC 3986, without zone
 * identifier or IPvFuture) or a name made of dot-separated non-empty labels
 * whose ASCII characters are letters, digits, '-' and '_' ('_' is tolerated
 * for interoperability although IDNA2008 forbids it); non-ASCII characters are
 * allowed.  One trailing '.' is allowed (the domain "." alone is not) and is
 * ignored by comparisons.  Label lengths are not checked.
 * Resourcepart: anything else (spaces, '@' and '/' included).
 *
 * Error precedence: when a string has several defects the code reported is the
 * one for the first defective part in the order localpart, domainpart,
 * resourcepart; within a part, emptiness and length are checked before the
 * characters.
 */
#ifndef PXMPP_JID_H
#define PXMPP_JID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Maximum length in bytes of each of the three parts (RFC 7622 §3.1). */
#define PXMPP_JID_PART_MAX 1023

/**
 * Maximum length in bytes of a formatted JID, excluding the NUL:
 * three full parts plus '@' and '/'.  A buffer of PXMPP_JID_STR_MAX + 1 bytes
 * always suffices for pxmpp_jid_format().
 */
#define PXMPP_JID_STR_MAX (3 * PXMPP_JID_PART_MAX + 2)

/**
 * A parsed JID.  Every buffer is NUL-terminated and its length (excluding the
 * NUL) is in the matching *_len field.  An absent localpart or resourcepart is
 * an empty string with the has_* flag false.
 *
 * A value produced by pxmpp_jid_parse() or pxmpp_jid_from_parts() is always
 * valid, and every byte after each terminating NUL is zero, so equal parts
 * give identical objects (useful for hashing the whole struct).  Code that
 * fills the struct by hand must keep the buffers NUL-terminated, the lengths
 * exact and has_* consistent; the functions that take a const pxmpp_jid do
 * not re-validate it (they never read past PXMPP_JID_PART_MAX bytes).
 */
typedef struct pxmpp_jid {
    char local[PXMPP_JID_PART_MAX + 1];    /**< localpart; "" when absent */
    char domain[PXMPP_JID_PART_MAX + 1];   /**< domainpart; never empty in a valid JID */
    char resource[PXMPP_JID_PART_MAX + 1]; /**< resourcepart; "" when absent */
    uint16_t local_len, domain_len, resource_len;
    bool has_local, has_resource;          /**< distinguish absent from (invalid) empty */
} pxmpp_jid;

/** Flags for pxmpp_jid_parse() and pxmpp_jid_from_parts(). */
enum {
    /**
     * Normalize every part with the RFC 6122 stringprep profiles (libidn):
     * localpart with nodeprep, each domain label with nameprep (after mapping
     * the IDNA dots U+3002, U+FF0E, U+FF61 to '.' and stripping one trailing
     * '.'), resourcepart with resourceprep.  Unassigned code points (relative
     * to Unicode 3.2) are allowed, as for stringprep "queries".  An IP literal
     * domain is only ASCII-lowercased.  A domain label that nameprep turns
     * into something containing '.' (U+2488 gives "1.") is rejected.  The
     * results are checked again with the structural rules, so they are
     * non-empty and at most PXMPP_JID_PART_MAX bytes, and the normalized
     * domain has no trailing '.'.
     */
    PXMPP_JID_NORMALIZE = 1u << 0
};

/**
 * Checks that a string is a structurally valid JID (see the file comment for
 * the rules).  Performs no normalization, allocates nothing and copies
 * nothing; it is meant to be called on every stanza address.
 *
 * A string that passes may still fail pxmpp_jid_parse() with
 * PXMPP_JID_NORMALIZE (for example a localpart containing U+00A0).
 *
 * @param s    the JID; need not be NUL-terminated.  May be NULL only if
 *             @p len is 0.
 * @param len  length of @p s in bytes.
 * @return 0 if valid, otherwise:
 *  - PXMPP_ERR_INVALID_ARGUMENT: @p s is NULL and @p len is not 0;
 *  - PXMPP_ERR_JID_EMPTY: the string, or a localpart introduced by '@', or the
 *    domainpart, or a resourcepart introduced by '/' is empty (also the
 *    domain "." which is empty once its trailing dot is removed);
 *  - PXMPP_ERR_JID_TOO_LONG: a part exceeds PXMPP_JID_PART_MAX bytes;
 *  - PXMPP_ERR_JID_UTF8: a part is not valid UTF-8;
 *  - PXMPP_ERR_JID_LOCAL: the localpart contains a forbidden character;
 *  - PXMPP_ERR_JID_DOMAIN: the domainpart contains a forbidden character, an
 *    empty label, or is a malformed IP literal;
 *  - PXMPP_ERR_JID_RESOURCE: the resourcepart contains a control character.
 */
int pxmpp_jid_check(const char *s, size_t len);

/**
 * Parses a JID into its parts.
 *
 * Without flags this is pxmpp_jid_check() followed by a verbatim copy of each
 * part (the domain keeps a trailing '.', if any).  With PXMPP_JID_NORMALIZE
 * each part is also normalized (see PXMPP_JID_NORMALIZE).
 *
 * @param out    receives the result; it is overwritten completely.  On error
 *               it is left all-zero.  Must not be NULL.
 * @param s      the JID; need not be NUL-terminated.  May be NULL only if
 *               @p len is 0.
 * @param len    length of @p s in bytes.
 * @param flags  0 or PXMPP_JID_NORMALIZE.
 * @return 0 on success, otherwise:
 *  - PXMPP_ERR_INVALID_ARGUMENT: @p out is NULL, @p s is NULL with a non-zero
 *    @p len, or @p flags has an unknown bit;
 *  - every code of pxmpp_jid_check();
 *  - with PXMPP_JID_NORMALIZE also:
 *    PXMPP_ERR_JID_LOCAL, PXMPP_ERR_JID_DOMAIN, PXMPP_ERR_JID_RESOURCE when the
 *    part is rejected by its stringprep profile (prohibited code point,
 *    bidirectional rule) or its normalized form breaks a structural rule;
 *    PXMPP_ERR_JID_EMPTY when a part normalizes to nothing (e.g. it held only
 *    U+00AD SOFT HYPHEN);
 *    PXMPP_ERR_JID_TOO_LONG when a normalized part exceeds PXMPP_JID_PART_MAX
 *    bytes (normalization may lengthen a string);
 *    PXMPP_ERR_NOMEM when libidn could not allocate its temporary memory.
 */
int pxmpp_jid_parse(pxmpp_jid *out, const char *s, size_t len, unsigned flags);

/**
 * Builds a JID from separate parts, with the same rules as pxmpp_jid_parse().
 * Useful when a part comes from elsewhere (a user name, a MUC nickname):
 * unlike formatting a string and parsing it, a '@' or '/' in @p local is
 * rejected instead of silently moving the part boundaries.
 *
 * @param out           receives the result; left all-zero on error.  Must not
 *                      be NULL.
 * @param local         localpart, or NULL for none (then @p local_len must
 *                      be 0).  Need not be NUL-terminated.
 * @param local_len     its length in bytes.
 * @param domain        domainpart; NULL only if @p domain_len is 0 (which is
 *                      then reported as PXMPP_ERR_JID_EMPTY).
 * @param domain_len    its length in bytes.
 * @param resource      resourcepart, or NULL for none (then @p resource_len
 *                      must be 0).
 * @param resource_len  its length in bytes.
 * @param flags         0 or PXMPP_JID_NORMALIZE.
 * @return 0 or one of the codes of pxmpp_jid_parse().  A non-NULL part of
 *         length 0 is present but empty: PXMPP_ERR_JID_EMPTY.  A NULL part
 *         with a non-zero length gives PXMPP_ERR_INVALID_ARGUMENT.
 */
int pxmpp_jid_from_parts(pxmpp_jid *out,
                         const char *local, size_t local_len,
                         const char *domain, size_t domain_len,
                         const char *resource, size_t resource_len,
                         unsigned flags);

/**
 * Writes the string form `[local@]domain[/resource]` of a JID, with snprintf
 * semantics: at most @p cap bytes are written including the terminating NUL,
 * so the output is truncated (possibly in the middle of a UTF-8 sequence) when
 * @p cap is too small; nothing at all is written when @p cap is 0.  The parts
 * are written as stored (no validation, no escaping).
 *
 * @param j    the JID; must not be NULL.
 * @param buf  destination; may be NULL only if @p cap is 0.
 * @param cap  size of @p buf in bytes.
 * @return the length the full string needs, excluding the NUL (at most
 *         PXMPP_JID_STR_MAX for a valid JID).  The output is complete iff the
 *         return value is < @p cap.  Returns 0 if @p j is NULL.
 */
size_t pxmpp_jid_format(const pxmpp_jid *j, char *buf, size_t cap);

/**
 * Parses, normalizes (PXMPP_JID_NORMALIZE) and formats a JID in one call.
 *
 * @param in       the JID; need not be NUL-terminated.  May be NULL only if
 *                 @p len is 0.
 * @param len      length of @p in in bytes.
 * @param out      destination for the NUL-terminated normalized JID; may be
 *                 NULL only if @p cap is 0.
 * @param cap      size of @p out in bytes (PXMPP_JID_STR_MAX + 1 always
 *                 suffices).
 * @param out_len  if not NULL, receives the length of the normalized JID
 *                 (excluding the NUL) on success and on
 *                 PXMPP_ERR_BUFFER_TOO_SMALL; set to 0 on other errors.
 * @return 0 on success; PXMPP_ERR_BUFFER_TOO_SMALL if the result plus its NUL
 *         does not fit in @p cap bytes (nothing is written to @p out then);
 *         otherwise a code of pxmpp_jid_parse() (nothing written to @p out).
 */
int pxmpp_jid_normalize_str(const char *in, size_t len, char *out, size_t cap,
                            size_t *out_len);

/**
 * The bare form of a JID string, normalized: "Romeo@Example.net/orchard" gives
 * "romeo@example.net".  Same parameters, rules and errors as
 * pxmpp_jid_normalize_str(), without the resourcepart in @p out; no pxmpp_jid is
 * needed on the caller's side.
 */
int pxmpp_jid_bare_str(const char *in, size_t len, char *out, size_t cap, size_t *out_len);

/**
 * Copies a JID without its resourcepart (the "bare JID").
 *
 * @param out  destination; may be the same object as @p in (the resource is
 *             then cleared in place) but must not otherwise overlap it.
 * @param in   source.
 * Both must not be NULL (the call does nothing if either is).
 */
void pxmpp_jid_bare(pxmpp_jid *out, const pxmpp_jid *in);

/**
 * Total order on JIDs: by domainpart, then localpart, then resourcepart, each
 * compared bytewise (shorter prefix first); an absent localpart or
 * resourcepart sorts before any present one.  One trailing '.' of the domain
 * is ignored, so "example.com." equals "example.com".  No other
 * case or Unicode folding is done: compare JIDs parsed with
 * PXMPP_JID_NORMALIZE to get RFC equivalence.
 *
 * @param a  first JID; must not be NULL.
 * @param b  second JID; must not be NULL.
 * @return -1, 0 or 1 as @p a sorts before, equal to or after @p b.
 */
int pxmpp_jid_compare(const pxmpp_jid *a, const pxmpp_jid *b);

/**
 * Whether two JIDs are equal under pxmpp_jid_compare() (resources included).
 * @param a  first JID; must not be NULL.
 * @param b  second JID; must not be NULL.
 */
bool pxmpp_jid_equal(const pxmpp_jid *a, const pxmpp_jid *b);

/**
 * Whether two JIDs have the same bare JID (localpart and domainpart compared
 * as in pxmpp_jid_compare(); resourceparts ignored).
 * @param a  first JID; must not be NULL.
 * @param b  second JID; must not be NULL.
 */
bool pxmpp_jid_equal_bare(const pxmpp_jid *a, const pxmpp_jid *b);

#ifdef __cplusplus
}
#endif
#endif
