/* SCRAM client messages (RFC 5802 §5, §7; RFC 7677).  See scram.h. */
#include "scram.h"

#include <gsasl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define NONCE_BYTES 18      /* 24 base64 characters */
#define MAX_MESSAGE 4096    /* bound of a server message and of the AuthMessage parts */
#define MAX_CB 512          /* bound of channel-binding data */

struct pxmpp__scram {
    pxmpp_mem mem;
    Gsasl_hash hash;
    size_t hlen;
    char gs2[48];                 /* GS2 header: "n,,", "y,," or "p=NAME,," */
    unsigned char cb[MAX_CB];     /* channel-binding data ('p' only) */
    size_t cblen;
    uint32_t max_iter, iter;
    char cnonce[2 * NONCE_BYTES];
    char cfmb[1024];              /* client-first-message-bare */
    unsigned char server_sig[GSASL_HASH_MAX_SIZE];
    int step;                     /* 0 before first, 1 after first, 2 after final, 3 verified */
};

static void wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

void pxmpp__scram_free_str(char *s)
{
    if (!s)
        return;
    wipe(s, strlen(s));
    gsasl_free(s);
}

int pxmpp__scram_new(pxmpp__scram **out, const pxmpp_mem *mem, bool sha256, char cbflag, const char *cbname,
                     const unsigned char *cbdata, size_t cblen, uint32_t max_iterations)
{
    *out = NULL;
    if (cbflag == 'p' && (!cbname || !cbdata || !cblen || cblen > MAX_CB || strlen(cbname) > 32))
        return PXMPP__SCRAM_BAD_INPUT;
    if (cbflag != 'n' && cbflag != 'y' && cbflag != 'p')
        return PXMPP__SCRAM_BAD_INPUT;
    pxmpp__scram *sc = mem->malloc(sizeof *sc, mem->ud);
    if (!sc)
        return PXMPP__SCRAM_NOMEM;
    memset(sc, 0, sizeof *sc);
    sc->mem = *mem;
    sc->hash = sha256 ? GSASL_HASH_SHA256 : GSASL_HASH_SHA1;
    sc->hlen = gsasl_hash_length(sc->hash);
    sc->max_iter = max_iterations;
    if (cbflag == 'p') {
        snprintf(sc->gs2, sizeof sc->gs2, "p=%s,,", cbname);
        memcpy(sc->cb, cbdata, cblen);
        sc->cblen = cblen;
    } else {
        snprintf(sc->gs2, sizeof sc->gs2, "%c,,", cbflag);
    }
    *out = sc;
    return 0;
}

void pxmpp__scram_free(pxmpp__scram *sc)
{
    if (!sc)
        return;
    pxmpp_mem m = sc->mem;
    wipe(sc, sizeof *sc);
    m.free(sc, m.ud);
}

uint32_t pxmpp__scram_iterations(const pxmpp__scram *sc)
{
    return sc ? sc->iter : 0;
}

/* Appends the SCRAM "saslname" form of a prepared name: ',' and '=' escaped (RFC 5802 §5.1). */
static bool put_saslname(char *dst, size_t cap, size_t *len, const char *name)
{
    for (const char *p = name; *p; p++) {
        const char *piece = *p == ',' ? "=2C" : *p == '=' ? "=3D" : NULL;
        size_t n = piece ? 3 : 1;
        if (*len + n >= cap)
            return false;
        memcpy(dst + *len, piece ? piece : p, n);
        *len += n;
    }
    dst[*len] = '\0';
    return true;
}

int pxmpp__scram_client_first(pxmpp__scram *sc, const char *authid, char **out)
{
    *out = NULL;
    if (sc->step != 0 || !authid)
        return PXMPP__SCRAM_BAD_INPUT;
    char *prep = NULL;
    if (gsasl_saslprep(authid, GSASL_ALLOW_UNASSIGNED, &prep, NULL) != GSASL_OK || !prep)
        return PXMPP__SCRAM_BAD_INPUT;
    char raw[NONCE_BYTES];
    char *nonce = NULL;
    int rc = PXMPP__SCRAM_INTERNAL;
    if (gsasl_nonce(raw, sizeof raw) != GSASL_OK || gsasl_base64_to(raw, sizeof raw, &nonce, NULL) != GSASL_OK)
        goto done;
    snprintf(sc->cnonce, sizeof sc->cnonce, "%s", nonce);
    size_t len = 2;
    memcpy(sc->cfmb, "n=", 3);
    rc = PXMPP__SCRAM_BAD_INPUT;
    if (!put_saslname(sc->cfmb, sizeof sc->cfmb, &len, prep) ||
        (size_t)snprintf(sc->cfmb + len, sizeof sc->cfmb - len, ",r=%s", sc->cnonce) >= sizeof sc->cfmb - len)
        goto done;
    char first[sizeof sc->gs2 + sizeof sc->cfmb];
    int n = snprintf(first, sizeof first, "%s%s", sc->gs2, sc->cfmb);
    rc = gsasl_base64_to(first, (size_t)n, out, NULL) == GSASL_OK ? 0 : PXMPP__SCRAM_NOMEM;
    if (rc == 0)
        sc->step = 1;
done:
    gsasl_free(nonce);
    gsasl_free(prep);
    return rc;
}

/* Decodes base64 text into a NUL-terminated string without embedded NULs. */
static int decode_text(const char *b64, char **out, size_t *len)
{
    *out = NULL;
    if (!b64 || strlen(b64) > 2 * MAX_MESSAGE)
        return PXMPP__SCRAM_BAD_INPUT;
    char *raw = NULL;
    size_t n = 0;
    if (gsasl_base64_from(b64, strlen(b64), &raw, &n) != GSASL_OK)
        return PXMPP__SCRAM_BAD_INPUT;
    if (memchr(raw, '\0', n)) {
        gsasl_free(raw);
        return PXMPP__SCRAM_BAD_INPUT;
    }
    char *t = realloc(raw, n + 1); /* gsasl_base64_from does not terminate its output */
    if (!t) {
        gsasl_free(raw);
        return PXMPP__SCRAM_NOMEM;
    }
    t[n] = '\0';
    *out = t;
    *len = n;
    return 0;
}

/* The value of attribute @p name (one letter) in a comma-separated SCRAM message. */
static const char *attr(const char *msg, char name, size_t *vlen)
{
    for (const char *p = msg; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (p[0] == name && p[1] == '=') {
            const char *v = p + 2, *e = strchr(v, ',');
            *vlen = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
    }
    return NULL;
}

static bool parse_iterations(const char *v, size_t n, uint64_t *out)
{
    if (n == 0 || n > 10)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}

static bool hmac(Gsasl_hash h, const unsigned char *key, size_t klen, const char *msg, size_t mlen, unsigned char *out)
{
    unsigned int olen = 0;
    return HMAC(h == GSASL_HASH_SHA256 ? EVP_sha256() : EVP_sha1(), key, (int)klen, (const unsigned char *)msg, mlen,
                out, &olen) != NULL;
}

/* Checks the server-first message and fills nonce, salt and iteration count. */
static int check_server_first(pxmpp__scram *sc, const char *sf, char *why, size_t cap, const char **nonce,
                              size_t *nlen, char **salt, size_t *saltlen)
{
    size_t slen = 0, ilen = 0;
    const char *s, *i;
    if (strncmp(sf, "r=", 2) != 0) {
        snprintf(why, cap, "%s", strncmp(sf, "m=", 2) == 0 ? "the server requires an unsupported extension"
                                                           : "the server-first message does not start with r=");
        return PXMPP__SCRAM_BAD_INPUT;
    }
    *nonce = attr(sf, 'r', nlen);
    size_t cl = strlen(sc->cnonce);
    if (*nlen <= cl || memcmp(*nonce, sc->cnonce, cl) != 0) {
        snprintf(why, cap, "the server nonce does not extend the client nonce");
        return PXMPP__SCRAM_BAD_INPUT;
    }
    uint64_t it = 0;
    if (!(s = attr(sf, 's', &slen)) || !slen || !(i = attr(sf, 'i', &ilen)) || !parse_iterations(i, ilen, &it) ||
        it == 0) {
        snprintf(why, cap, "the server-first message lacks a salt or a valid iteration count");
        return PXMPP__SCRAM_BAD_INPUT;
    }
    if (it > sc->max_iter) {
        snprintf(why, cap, "the server asks for %llu iterations, above the bound of %lu", (unsigned long long)it,
                 (unsigned long)sc->max_iter);
        return PXMPP__SCRAM_LIMIT;
    }
    sc->iter = (uint32_t)it;
    if (gsasl_base64_from(s, slen, salt, saltlen) != GSASL_OK || !*saltlen) {
        snprintf(why, cap, "the salt is not base64");
        return PXMPP__SCRAM_BAD_INPUT;
    }
    return 0;
}

int pxmpp__scram_client_final(pxmpp__scram *sc, const char *password, const char *server_first_b64, char **out,
                              char *why, size_t cap)
{
    *out = NULL;
    if (sc->step != 1 || !password) {
        snprintf(why, cap, "unexpected server-first message");
        return PXMPP__SCRAM_BAD_INPUT;
    }
    char *sf = NULL, *salt = NULL, *cbind = NULL, *proof_b64 = NULL, *auth = NULL;
    size_t sflen = 0, saltlen = 0, nlen = 0;
    const char *nonce = NULL;
    unsigned char salted[GSASL_HASH_MAX_SIZE], ckey[GSASL_HASH_MAX_SIZE], skey[GSASL_HASH_MAX_SIZE],
        stored[GSASL_HASH_MAX_SIZE], csig[GSASL_HASH_MAX_SIZE];
    unsigned char cbin[sizeof sc->gs2 + MAX_CB];
    int rc = decode_text(server_first_b64, &sf, &sflen);
    if (rc) {
        snprintf(why, cap, "the server-first message is not valid base64 text");
        goto done;
    }
    if ((rc = check_server_first(sc, sf, why, cap, &nonce, &nlen, &salt, &saltlen)))
        goto done;
    rc = PXMPP__SCRAM_INTERNAL;
    snprintf(why, cap, "the SASL library could not derive the keys");
    if (gsasl_scram_secrets_from_password(sc->hash, password, sc->iter, salt, saltlen, (char *)salted, (char *)ckey,
                                          (char *)skey, (char *)stored) != GSASL_OK)
        goto done;
    size_t gl = strlen(sc->gs2);
    memcpy(cbin, sc->gs2, gl);
    memcpy(cbin + gl, sc->cb, sc->cblen);
    if (gsasl_base64_to((const char *)cbin, gl + sc->cblen, &cbind, NULL) != GSASL_OK)
        goto done;
    /* AuthMessage := client-first-message-bare "," server-first-message "," client-final-message-without-proof */
    size_t alen = strlen(sc->cfmb) + 1 + sflen + 1 + 2 + strlen(cbind) + 3 + nlen;
    auth = sc->mem.malloc(alen + 1, sc->mem.ud);
    rc = PXMPP__SCRAM_NOMEM;
    if (!auth)
        goto done;
    snprintf(auth, alen + 1, "%s,%s,c=%s,r=%.*s", sc->cfmb, sf, cbind, (int)nlen, nonce);
    rc = PXMPP__SCRAM_INTERNAL;
    if (!hmac(sc->hash, stored, sc->hlen, auth, alen, csig) || !hmac(sc->hash, skey, sc->hlen, auth, alen, sc->server_sig))
        goto done;
    for (size_t k = 0; k < sc->hlen; k++)
        csig[k] ^= ckey[k]; /* ClientProof := ClientKey XOR ClientSignature */
    if (gsasl_base64_to((const char *)csig, sc->hlen, &proof_b64, NULL) != GSASL_OK)
        goto done;
    const char *without_proof = auth + strlen(sc->cfmb) + 1 + sflen + 1;
    char final[2 * MAX_MESSAGE];
    int n = snprintf(final, sizeof final, "%s,p=%s", without_proof, proof_b64);
    rc = PXMPP__SCRAM_BAD_INPUT;
    if (n < 0 || (size_t)n >= sizeof final)
        goto done;
    rc = gsasl_base64_to(final, (size_t)n, out, NULL) == GSASL_OK ? 0 : PXMPP__SCRAM_NOMEM;
    wipe(final, sizeof final);
    if (rc == 0) {
        sc->step = 2;
        why[0] = '\0';
    }
done:
    wipe(salted, sizeof salted);
    wipe(ckey, sizeof ckey);
    wipe(skey, sizeof skey);
    wipe(stored, sizeof stored);
    wipe(csig, sizeof csig);
    wipe(cbin, sizeof cbin);
    if (auth) {
        wipe(auth, strlen(auth));
        sc->mem.free(auth, sc->mem.ud);
    }
    pxmpp__scram_free_str(proof_b64);
    gsasl_free(cbind);
    gsasl_free(salt);
    if (sf) {
        wipe(sf, sflen);
        free(sf);
    }
    return rc;
}

int pxmpp__scram_verify(pxmpp__scram *sc, const char *server_final_b64, char *why, size_t cap)
{
    if (sc->step != 2) {
        snprintf(why, cap, "unexpected server-final message");
        return PXMPP__SCRAM_BAD_INPUT;
    }
    char *sf = NULL, *sig = NULL;
    size_t sflen = 0, siglen = 0, vlen = 0;
    int rc = decode_text(server_final_b64, &sf, &sflen);
    if (rc) {
        snprintf(why, cap, "the server-final message is not valid base64 text");
        return rc;
    }
    const char *v = attr(sf, 'v', &vlen);
    if (strncmp(sf, "e=", 2) == 0) {
        snprintf(why, cap, "the server reports %.*s", (int)strcspn(sf + 2, ","), sf + 2);
        rc = PXMPP__SCRAM_REFUSED;
    } else if (!v || strncmp(sf, "v=", 2) != 0 || gsasl_base64_from(v, vlen, &sig, &siglen) != GSASL_OK) {
        snprintf(why, cap, "the server-final message carries no verifier");
        rc = PXMPP__SCRAM_BAD_INPUT;
    } else if (siglen != sc->hlen || CRYPTO_memcmp(sig, sc->server_sig, sc->hlen) != 0) {
        snprintf(why, cap, "the server's signature does not verify");
        rc = PXMPP__SCRAM_REFUSED;
    } else {
        sc->step = 3;
        rc = 0;
    }
    gsasl_free(sig);
    free(sf);
    return rc;
}
