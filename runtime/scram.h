/* SCRAM client messages (RFC 5802, RFC 7677) with every GS2 channel-binding flag.
 *
 * The client session composes the SCRAM messages itself so that it can send the
 * "y" flag (the client supports channel binding but the server offered no -PLUS
 * mechanism: a downgrade a man in the middle may have caused), bind to any
 * channel-binding type (tls-exporter, tls-unique, tls-server-end-point), and
 * refuse an iteration count above the configured bound before any work is done.
 * The cryptography comes from maintained libraries: SASLprep, nonces, base64 and
 * the salted-password derivation (PBKDF2 and the client/server/stored keys) from
 * GNU SASL, HMAC and the constant-time comparison from OpenSSL's libcrypto.
 *
 * Internal to the library. */
#ifndef PXMPP_SCRAM_H
#define PXMPP_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pxmpp/arena.h>

typedef struct pxmpp__scram pxmpp__scram;

/* Outcomes of the steps, besides 0. */
enum {
    PXMPP__SCRAM_NOMEM = -1,     /* out of memory */
    PXMPP__SCRAM_BAD_INPUT = -2, /* the server's message is malformed or does not match ours */
    PXMPP__SCRAM_LIMIT = -3,     /* the iteration count is above the bound */
    PXMPP__SCRAM_REFUSED = -4,   /* the server's proof does not verify, or it sent e= */
    PXMPP__SCRAM_INTERNAL = -5   /* the SASL or crypto library failed */
};

/**
 * Starts a SCRAM exchange.  @p sha256 selects SCRAM-SHA-256 (else SCRAM-SHA-1).
 * @p cbflag is 'n' (no channel binding), 'y' (supported by the client, not offered
 * by the server) or 'p' (bound to @p cbname with @p cbdata/@p cblen, copied).
 * Iteration counts above @p max_iterations are refused.
 */
int pxmpp__scram_new(pxmpp__scram **out, const pxmpp_mem *mem, bool sha256, char cbflag, const char *cbname,
                     const unsigned char *cbdata, size_t cblen, uint32_t max_iterations);
/** Wipes and frees the exchange.  NULL allowed. */
void pxmpp__scram_free(pxmpp__scram *sc);

/** The client-first message for @p authid, base64-encoded in *@p out (free with pxmpp__scram_free_str). */
int pxmpp__scram_client_first(pxmpp__scram *sc, const char *authid, char **out);
/** Takes the server-first message (base64) and produces the client-final message (base64) from
    @p password.  On failure @p why says what was wrong. */
int pxmpp__scram_client_final(pxmpp__scram *sc, const char *password, const char *server_first_b64, char **out,
                              char *why, size_t cap);
/** Verifies the server-final message (base64).  0 when the server proved it knows the password. */
int pxmpp__scram_verify(pxmpp__scram *sc, const char *server_final_b64, char *why, size_t cap);
/** The iteration count the server asked for (0 before the server-first message). */
uint32_t pxmpp__scram_iterations(const pxmpp__scram *sc);
/** Wipes and frees a string returned by the functions above.  NULL allowed. */
void pxmpp__scram_free_str(char *s);

#endif
