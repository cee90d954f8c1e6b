/* The server side of one client connection: stream header, STARTTLS, SASL through GNU SASL's
 * server side with the app's salted SCRAM secrets, resource binding, then stanzas with their
 * 'from' stamped.  The subscription and delivery tables of RFC 6121 are in sub.c. */
#include "guard.h"
#include "internal.h"

#include <pxmpp/build.h>
#include <pxmpp/jid.h>
#include <pxmpp/server.h>

#include <gsasl.h>
#include <openssl/crypto.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JID_CAP (3 * (PXMPP_JID_PART_MAX + 1) + 3)
#define MAX_DIRECTED 256

struct pxmpp_server {
    pxmpp_mem mem;
    pxmpp_server_callbacks cb;
    void *user;
    pxmpp_server_config cfg;
    char domain[PXMPP_JID_PART_MAX + 1];
    char local[PXMPP_JID_PART_MAX + 1]; /* the authenticated account's localpart (normalized) */
    char bare[JID_CAP], full[JID_CAP];  /* "" before authentication / binding */
    pxmpp_stream *s;
    pxmpp_server_state state;
    pxmpp_stream_error_condition stream_cond;
    int err;
    uint64_t stanzas; /* top-level elements received after the header */
    char reason[256];
    pxmpp__guard guard; /* callbacks may free the session: see guard.h */
    bool tls_up, tls_pending, authed;
    bool roster_interested;
    unsigned char cbdata[64]; /* channel-binding data of the TLS connection */
    size_t cb_len;
    const char *cb_name; /* "tls-exporter" or "tls-unique"; NULL: none */
    bool available;       /* the client sent available presence (RFC 6121 §4.2) */
    char **directed;      /* JIDs that got directed available presence (§4.6.3) */
    pxmpp_arena *pres_arena; /* holds `pres` */
    const pxmpp_presence *pres; /* the last broadcast available presence, NULL when unavailable */
    size_t ndirected;
    int auth_failures;
    Gsasl *g;
    Gsasl_session *gs;
    pxmpp_scram_hash hash; /* of the SCRAM mechanism running (0: PLAIN) */
    bool secrets_loaded;
    pxmpp_arena *tmp;
};

/* ---- helpers ------------------------------------------------------------------------ */

static void went_away(pxmpp_server *v);
static void report(pxmpp_server *v, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(pxmpp_server *v, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool failed = pxmpp__session_report(&v->err, v->reason, sizeof v->reason, v->s, v->cb.log, v->user,
                                        v->guard.free_pending, code, fmt, ap);
    va_end(ap);
    if (!failed)
        return;
    v->state = PXMPP_SERVER_FAILED;
    went_away(v);
    if (v->cb.failed && !v->guard.free_pending)
        v->cb.failed(v->user, code, v->stream_cond, v->reason);
}
#define slog(v, ...) report((v), 0, __VA_ARGS__)
#define fail(v, code, ...) report((v), (code), __VA_ARGS__)

/* Ends the stream with a stream error and fails the session with PXMPP_ERR_PROTOCOL. */
static void end_with(pxmpp_server *v, pxmpp_stream_error_condition cond, const char *why)
{
    if (v->err)
        return;
    v->stream_cond = cond;
    (void)pxmpp_stream_send_error(v->s, cond, NULL);
    const char *name = pxmpp_stream_error_condition_str(cond);
    fail(v, PXMPP_ERR_PROTOCOL, "%s (stream error %s)", why, name ? name : "?");
}

static bool live(const pxmpp_server *v) { return !v->err && !v->guard.free_pending; }

static int send_el(pxmpp_server *v, const pxmpp_type_desc *d, const void *obj)
{
    int rc = pxmpp_stream_send(v->s, d, obj);
    if (rc <= PXMPP_ERR_FATAL)
        fail(v, rc == PXMPP_ERR_WRITE || rc == PXMPP_ERR_NOMEM ? rc : PXMPP_ERR_PROTOCOL, "cannot send <%s/>: %s",
             d->local, pxmpp_strerror(rc));
    return rc;
}

static void hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* @p n random bytes as lowercase hex in @p out (2n + 1 bytes). */
static int random_hex(char *out, size_t n)
{
    unsigned char r[32];
    if (n > sizeof r || gsasl_nonce((char *)r, n) != GSASL_OK)
        return -1;
    hex(out, r, n);
    return 0;
}

static bool tls_offered(const pxmpp_server *v) { return !v->cfg.no_tls && v->cb.start_tls && !v->tls_up; }
static bool tls_needed(const pxmpp_server *v) { return tls_offered(v) && !v->cfg.tls_optional; }
static bool plain_offered(const pxmpp_server *v) { return v->tls_up || v->cfg.allow_plain_without_tls; }

/* ---- SCRAM secrets and PLAIN -------------------------------------------------------- */

int pxmpp_server_scram_secrets(pxmpp_scram_hash hash, const char *password, const unsigned char *salt,
                               size_t salt_len, uint32_t iterations, pxmpp_scram_secrets *out)
{
    if (!password || !salt || !out || salt_len == 0 || salt_len > sizeof out->salt || iterations == 0 ||
        (hash != PXMPP_SCRAM_SHA1 && hash != PXMPP_SCRAM_SHA256))
        return PXMPP_ERR_INVALID_ARGUMENT;
    Gsasl_hash h = hash == PXMPP_SCRAM_SHA1 ? GSASL_HASH_SHA1 : GSASL_HASH_SHA256;
    char salted[GSASL_HASH_MAX_SIZE], client_key[GSASL_HASH_MAX_SIZE];
    memset(out, 0, sizeof *out);
    int rc = gsasl_scram_secrets_from_password(h, password, iterations, (const char *)salt, salt_len, salted,
                                               client_key, (char *)out->server_key, (char *)out->stored_key);
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
    if (rc != GSASL_OK) {
        OPENSSL_cleanse(out, sizeof *out);
        return rc == GSASL_MALLOC_ERROR ? PXMPP_ERR_NOMEM : PXMPP_ERR_INVALID_ARGUMENT;
    }
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    return 0;
}

static size_t key_len(pxmpp_scram_hash h) { return h == PXMPP_SCRAM_SHA1 ? 20 : 32; }

/* Hands GNU SASL's SCRAM server the account's secrets (all four properties at once).  An
   unknown account gets random ones: the exchange runs to its end and fails there. */
static int load_secrets(pxmpp_server *v, Gsasl_session *gs)
{
    if (v->secrets_loaded)
        return GSASL_NO_CALLBACK;
    v->secrets_loaded = true;
    const char *user = gsasl_property_fast(gs, GSASL_AUTHID);
    pxmpp_scram_secrets sec;
    memset(&sec, 0, sizeof sec);
    if (!user || v->cb.scram_secrets(v->user, user, v->hash, &sec) < 0 || sec.salt_len == 0 ||
        sec.salt_len > sizeof sec.salt || sec.iterations == 0) {
        sec.salt_len = 16;
        sec.iterations = 4096;
        if (gsasl_nonce((char *)sec.salt, sec.salt_len) != GSASL_OK ||
            gsasl_nonce((char *)sec.stored_key, sizeof sec.stored_key) != GSASL_OK ||
            gsasl_nonce((char *)sec.server_key, sizeof sec.server_key) != GSASL_OK)
            return GSASL_CRYPTO_ERROR;
    }
    /* GNU SASL 2 reads the salt and both keys base64-encoded */
    char iter[16], *salt64 = NULL, *stored64 = NULL, *server64 = NULL;
    snprintf(iter, sizeof iter, "%lu", (unsigned long)sec.iterations);
    int rc = gsasl_base64_to((const char *)sec.salt, sec.salt_len, &salt64, NULL);
    if (rc == GSASL_OK)
        rc = gsasl_base64_to((const char *)sec.stored_key, key_len(v->hash), &stored64, NULL);
    if (rc == GSASL_OK)
        rc = gsasl_base64_to((const char *)sec.server_key, key_len(v->hash), &server64, NULL);
    if (rc == GSASL_OK) {
        gsasl_property_set(gs, GSASL_SCRAM_ITER, iter);
        gsasl_property_set(gs, GSASL_SCRAM_SALT, salt64);
        gsasl_property_set(gs, GSASL_SCRAM_STOREDKEY, stored64);
        gsasl_property_set(gs, GSASL_SCRAM_SERVERKEY, server64);
    }
    if (stored64)
        OPENSSL_cleanse(stored64, strlen(stored64));
    if (server64)
        OPENSSL_cleanse(server64, strlen(server64));
    gsasl_free(salt64);
    gsasl_free(stored64);
    gsasl_free(server64);
    OPENSSL_cleanse(&sec, sizeof sec);
    return rc == GSASL_OK ? GSASL_OK : GSASL_MALLOC_ERROR;
}

/* PLAIN: the password is checked against the stored SCRAM secrets (SHA-256, else SHA-1). */
static int check_plain(pxmpp_server *v, Gsasl_session *gs)
{
    const char *user = gsasl_property_fast(gs, GSASL_AUTHID);
    const char *pass = gsasl_property_fast(gs, GSASL_PASSWORD);
    if (!user || !pass)
        return GSASL_AUTHENTICATION_ERROR;
    pxmpp_scram_hash h = PXMPP_SCRAM_SHA256;
    pxmpp_scram_secrets sec, mine;
    memset(&sec, 0, sizeof sec);
    int ok = v->cb.scram_secrets(v->user, user, h, &sec);
    if (ok < 0) {
        h = PXMPP_SCRAM_SHA1;
        memset(&sec, 0, sizeof sec);
        ok = v->cb.scram_secrets(v->user, user, h, &sec);
    }
    bool good = ok >= 0 && pxmpp_server_scram_secrets(h, pass, sec.salt, sec.salt_len, sec.iterations, &mine) == 0 &&
                CRYPTO_memcmp(mine.stored_key, sec.stored_key, key_len(h)) == 0;
    OPENSSL_cleanse(&sec, sizeof sec);
    OPENSSL_cleanse(&mine, sizeof mine);
    return good ? GSASL_OK : GSASL_AUTHENTICATION_ERROR;
}

static int gsasl_cb(Gsasl *ctx, Gsasl_session *gs, Gsasl_property prop)
{
    (void)ctx;
    pxmpp_server *v = gs ? gsasl_session_hook_get(gs) : NULL;
    if (!v)
        return GSASL_NO_CALLBACK;
    switch (prop) {
    case GSASL_SCRAM_ITER:
    case GSASL_SCRAM_SALT:
    case GSASL_SCRAM_STOREDKEY:
    case GSASL_SCRAM_SERVERKEY:
        return v->hash ? load_secrets(v, gs) : GSASL_NO_CALLBACK;
    case GSASL_VALIDATE_SIMPLE:
        return v->hash ? GSASL_NO_CALLBACK : check_plain(v, gs);
    case GSASL_CB_TLS_EXPORTER:
    case GSASL_CB_TLS_UNIQUE: {
        const char *want = prop == GSASL_CB_TLS_EXPORTER ? "tls-exporter" : "tls-unique";
        if (!v->cb_name || strcmp(v->cb_name, want) != 0)
            return GSASL_NO_CALLBACK;
        char *b64 = NULL;
        if (gsasl_base64_to((const char *)v->cbdata, v->cb_len, &b64, NULL) != GSASL_OK)
            return GSASL_MALLOC_ERROR;
        gsasl_property_set(gs, prop, b64);
        gsasl_free(b64);
        return GSASL_OK;
    }
    default:
        return GSASL_NO_CALLBACK;
    }
}

/* ---- features ------------------------------------------------------------------------ */

static void send_features(pxmpp_server *v)
{
    pxmpp_arena_reset(v->tmp);
    pxmpp_stream_features f;
    memset(&f, 0, sizeof f);
    pxmpp_payload pl[4];
    size_t n = 0;
    pxmpp_starttls st = { .required = tls_needed(v) };
    pxmpp_sasl_mechanisms m;
    memset(&m, 0, sizeof m);
    static const char *const mechs[] = { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1",
                                         "PLAIN" };
    pxmpp_sasl_cb_channel_binding cbt;
    memset(&cbt, 0, sizeof cbt);
    cbt.type = v->cb_name;
    pxmpp_sasl_cb ann;
    memset(&ann, 0, sizeof ann);
    ann.channel_bindings = &cbt;
    ann.channel_bindings_count = 1;
    pxmpp_bind b;
    memset(&b, 0, sizeof b);
    pxmpp_roster_ver_feature rv;
    memset(&rv, 0, sizeof rv);
    if (!v->authed) {
        if (tls_offered(v))
            pl[n++] = (pxmpp_payload){ .type = &pxmpp_starttls_desc, .data = &st };
        if (!tls_needed(v)) {
            size_t skip = v->cb_name ? 0 : 2;
            m.mechanisms = mechs + skip;
            m.mechanisms_count = (plain_offered(v) ? 5 : 4) - skip;
            pl[n++] = (pxmpp_payload){ .type = &pxmpp_sasl_mechanisms_desc, .data = &m };
            if (v->cb_name)
                pl[n++] = (pxmpp_payload){ .type = &pxmpp_sasl_cb_desc, .data = &ann };
        }
    } else {
        pl[n++] = (pxmpp_payload){ .type = &pxmpp_bind_desc, .data = &b };
        if (v->cb.roster_get && v->cb.roster_set)
            pl[n++] = (pxmpp_payload){ .type = &pxmpp_roster_ver_feature_desc, .data = &rv };
    }
    f.features = pl;
    f.features_count = n;
    (void)send_el(v, &pxmpp_stream_features_desc, &f);
}

/* ---- stream callbacks ------------------------------------------------------------------ */

static int on_write(void *user, const char *data, size_t len)
{
    pxmpp_server *v = user;
    return v->cb.write(v->user, data, len);
}

static void on_opened(void *user, const pxmpp_stream_header *h)
{
    pxmpp_server *v = user;
    if (!live(v))
        return;
    char id[2 * 12 + 1];
    if (random_hex(id, 12)) {
        fail(v, PXMPP_ERR_NOMEM, "no random bytes for the stream id");
        return;
    }
    pxmpp_stream_header me = { .from = v->domain, .id = id, .to = v->authed ? v->bare : NULL };
    int rc = pxmpp_stream_open(v->s, &me);
    if (rc) {
        fail(v, rc == PXMPP_ERR_WRITE ? rc : PXMPP_ERR_NOMEM, "cannot open the stream: %s", pxmpp_strerror(rc));
        return;
    }
    pxmpp_jid j;
    if (h->to && (pxmpp_jid_parse(&j, h->to, strlen(h->to), PXMPP_JID_NORMALIZE) != 0 || j.has_local ||
                  j.has_resource || strcmp(j.domain, v->domain) != 0)) {
        end_with(v, PXMPP_STREAM_ERROR_CONDITION_HOST_UNKNOWN, "the client asked for another host");
        return;
    }
    slog(v, "stream opened (id %s)%s", id, v->tls_up ? " over TLS" : "");
    v->state = v->authed ? PXMPP_SERVER_BINDING : PXMPP_SERVER_AUTH;
    send_features(v);
}

static void sasl_failure(pxmpp_server *v, pxmpp_sasl_condition cond, const char *why)
{
    if (v->gs) {
        gsasl_finish(v->gs);
        v->gs = NULL;
    }
    pxmpp_sasl_failure fl;
    memset(&fl, 0, sizeof fl);
    fl.condition = cond;
    if (send_el(v, &pxmpp_sasl_failure_desc, &fl))
        return;
    slog(v, "authentication failed: %s", why);
    if (cond != PXMPP_SASL_CONDITION_ABORTED && ++v->auth_failures >= PXMPP_SERVER_MAX_AUTH_FAILURES) {
        v->stream_cond = PXMPP_STREAM_ERROR_CONDITION_POLICY_VIOLATION;
        (void)pxmpp_stream_send_error(v->s, v->stream_cond, "too many failed authentications");
        fail(v, PXMPP_ERR_AUTH, "%d failed authentications", v->auth_failures);
    }
}

static void sasl_succeeded(pxmpp_server *v, const char *final64)
{
    const char *authid = gsasl_property_fast(v->gs, GSASL_AUTHID);
    const char *authzid = gsasl_property_fast(v->gs, GSASL_AUTHZID);
    pxmpp_jid j;
    char tmp[JID_CAP];
    snprintf(tmp, sizeof tmp, "%s@%s", authid ? authid : "", v->domain);
    if (!authid || pxmpp_jid_parse(&j, tmp, strlen(tmp), PXMPP_JID_NORMALIZE) != 0 || j.has_resource) {
        sasl_failure(v, PXMPP_SASL_CONDITION_NOT_AUTHORIZED, "the user name is not a localpart");
        return;
    }
    /* an authorization identity may only name the account itself: its bare JID, or its
       user name (as GNU SASL's PLAIN reports an absent one) */
    pxmpp_jid z;
    char zbuf[JID_CAP];
    if (authzid && *authzid && !strchr(authzid, '@'))
        snprintf(zbuf, sizeof zbuf, "%s@%s", authzid, v->domain);
    else
        snprintf(zbuf, sizeof zbuf, "%s", authzid ? authzid : "");
    if (zbuf[0] && (pxmpp_jid_parse(&z, zbuf, strlen(zbuf), PXMPP_JID_NORMALIZE) != 0 || !pxmpp_jid_equal(&z, &j))) {
        sasl_failure(v, PXMPP_SASL_CONDITION_INVALID_AUTHZID, "another authorization identity asked for");
        return;
    }
    memcpy(v->local, j.local, j.local_len + 1u);
    (void)pxmpp_jid_format(&j, v->bare, sizeof v->bare);
    pxmpp_sasl_success su;
    memset(&su, 0, sizeof su);
    su.data = final64 && *final64 ? final64 : NULL;
    gsasl_finish(v->gs);
    v->gs = NULL;
    if (send_el(v, &pxmpp_sasl_success_desc, &su))
        return;
    v->authed = true;
    v->state = PXMPP_SERVER_BINDING;
    slog(v, "authenticated as %s", v->bare);
    int rc = pxmpp_stream_restart(v->s);
    if (rc) {
        fail(v, rc == PXMPP_ERR_NOMEM ? rc : PXMPP_ERR_PROTOCOL, "cannot restart the stream: %s", pxmpp_strerror(rc));
        return;
    }
    if (v->cb.authenticated)
        v->cb.authenticated(v->user, v->bare);
}

static void sasl_step(pxmpp_server *v, const char *data)
{
    char *out = NULL;
    if (data && strcmp(data, "=") == 0)
        data = "";
    int rc = gsasl_step64(v->gs, data ? data : "", &out);
    if (rc == GSASL_NEEDS_MORE) {
        pxmpp_sasl_challenge ch;
        memset(&ch, 0, sizeof ch);
        ch.data = out && *out ? out : "=";
        (void)send_el(v, &pxmpp_sasl_challenge_desc, &ch);
    } else if (rc == GSASL_OK) {
        sasl_succeeded(v, out);
    } else {
        bool malformed = rc == GSASL_BASE64_ERROR || rc == GSASL_MECHANISM_PARSE_ERROR;
        sasl_failure(v, rc == GSASL_BASE64_ERROR ? PXMPP_SASL_CONDITION_INCORRECT_ENCODING
                        : malformed             ? PXMPP_SASL_CONDITION_MALFORMED_REQUEST
                                                : PXMPP_SASL_CONDITION_NOT_AUTHORIZED,
                     gsasl_strerror_name(rc));
    }
    gsasl_free(out);
}

static void on_auth(pxmpp_server *v, const pxmpp_sasl_auth *au)
{
    if (v->gs) {
        sasl_failure(v, PXMPP_SASL_CONDITION_ABORTED, "a second <auth/> during an exchange");
        return;
    }
    if (tls_needed(v)) {
        sasl_failure(v, PXMPP_SASL_CONDITION_ENCRYPTION_REQUIRED, "TLS first");
        return;
    }
    const char *mech = au->mechanism ? au->mechanism : "";
    if (strcmp(mech, "SCRAM-SHA-256") == 0 || (v->cb_name && strcmp(mech, "SCRAM-SHA-256-PLUS") == 0))
        v->hash = PXMPP_SCRAM_SHA256;
    else if (strcmp(mech, "SCRAM-SHA-1") == 0 || (v->cb_name && strcmp(mech, "SCRAM-SHA-1-PLUS") == 0))
        v->hash = PXMPP_SCRAM_SHA1;
    else if (strcmp(mech, "PLAIN") == 0 && plain_offered(v))
        v->hash = 0;
    else {
        sasl_failure(v, PXMPP_SASL_CONDITION_INVALID_MECHANISM, "mechanism not offered");
        return;
    }
    v->secrets_loaded = false;
    if (gsasl_server_start(v->g, mech, &v->gs) != GSASL_OK) {
        v->gs = NULL;
        sasl_failure(v, PXMPP_SASL_CONDITION_TEMPORARY_AUTH_FAILURE, "GNU SASL cannot start the mechanism");
        return;
    }
    gsasl_session_hook_set(v->gs, v);
    slog(v, "authentication with %s", mech);
    sasl_step(v, au->initial_response);
}

static void on_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    pxmpp_server *v = user;
    v->stanzas++;
    (void)offset;
    if (!live(v))
        return;
    bool negotiating = v->state == PXMPP_SERVER_AUTH && !v->authed;
    if (d == &pxmpp_starttls_desc && negotiating && tls_offered(v)) {
        pxmpp_tls_proceed p;
        memset(&p, 0, sizeof p);
        if (send_el(v, &pxmpp_tls_proceed_desc, &p))
            return;
        v->tls_pending = true;
        v->state = PXMPP_SERVER_TLS;
        (void)pxmpp_stream_pause(v->s);
    } else if (d == &pxmpp_sasl_auth_desc && negotiating) {
        on_auth(v, obj);
    } else if (d == &pxmpp_sasl_response_desc && negotiating && v->gs) {
        sasl_step(v, ((const pxmpp_sasl_response *)obj)->data);
    } else if (d == &pxmpp_sasl_abort_desc && negotiating && v->gs) {
        sasl_failure(v, PXMPP_SASL_CONDITION_ABORTED, "aborted by the client");
    } else if (d == &pxmpp_starttls_desc || d == &pxmpp_sasl_auth_desc || d == &pxmpp_sasl_response_desc ||
               d == &pxmpp_sasl_abort_desc) {
        end_with(v, PXMPP_STREAM_ERROR_CONDITION_POLICY_VIOLATION, "negotiation element out of place");
    } else {
        end_with(v, v->state == PXMPP_SERVER_READY ? PXMPP_STREAM_ERROR_CONDITION_UNSUPPORTED_STANZA_TYPE
                                                   : PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED,
                 "unexpected element");
    }
}

/* A stanza before binding ends the stream (RFC 6120 §6.4.6, §7.1). */
static bool bound_or_end(pxmpp_server *v)
{
    if (!live(v))
        return false;
    if (v->state != PXMPP_SERVER_READY) {
        end_with(v, PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED, "a stanza before the session is bound");
        return false;
    }
    return true;
}

/* RFC 6120 §8.1.2.1: 'from' may only be the session's full or bare JID; it becomes the full JID. */
static bool stamp_ok(pxmpp_server *v, const char *from)
{
    if (!from)
        return true;
    pxmpp_jid j;
    char norm[JID_CAP];
    if (pxmpp_jid_parse(&j, from, strlen(from), PXMPP_JID_NORMALIZE) == 0 &&
        pxmpp_jid_format(&j, norm, sizeof norm) > 0 && (strcmp(norm, v->full) == 0 || strcmp(norm, v->bare) == 0))
        return true;
    end_with(v, PXMPP_STREAM_ERROR_CONDITION_INVALID_FROM, "a stanza with a 'from' of another entity");
    return false;
}

/* Where @p to points: 0 the server, 1 the account's bare JID, 2 anything else. */
static int addressee(const pxmpp_server *v, const char *to)
{
    if (!to)
        return 0;
    pxmpp_jid j;
    if (pxmpp_jid_parse(&j, to, strlen(to), PXMPP_JID_NORMALIZE) != 0)
        return 2;
    if (!j.has_local && !j.has_resource && strcmp(j.domain, v->domain) == 0)
        return 0;
    if (j.has_local && !j.has_resource && strcmp(j.domain, v->domain) == 0 && strcmp(j.local, v->local) == 0)
        return 1;
    return 2;
}

static void on_message(void *user, const pxmpp_message *m)
{
    pxmpp_server *v = user;
    v->stanzas++;
    if (!bound_or_end(v) || !stamp_ok(v, m->from))
        return;
    pxmpp_message c = *m;
    c.from = v->full;
    if (v->cb.route)
        v->cb.route(v->user, &pxmpp_message_desc, &c);
}

/* ---- presence (RFC 6121 §4) ----------------------------------------------------------- */

static void route_presence(pxmpp_server *v, const pxmpp_presence *p)
{
    if (v->cb.route && live(v))
        v->cb.route(v->user, &pxmpp_presence_desc, p);
}

static void forget_directed(pxmpp_server *v, size_t i)
{
    v->mem.free(v->directed[i], v->mem.ud);
    v->directed[i] = v->directed[--v->ndirected];
}

/* Remembers (available) or forgets (unavailable) a directed presence's addressee. */
static void track_directed(pxmpp_server *v, const char *to, bool available)
{
    for (size_t i = 0; i < v->ndirected; i++)
        if (strcmp(v->directed[i], to) == 0) {
            if (!available)
                forget_directed(v, i);
            return;
        }
    if (!available || v->ndirected >= MAX_DIRECTED)
        return;
    if (!v->directed) {
        v->directed = v->mem.malloc(MAX_DIRECTED * sizeof *v->directed, v->mem.ud);
        if (!v->directed)
            return;
    }
    size_t n = strlen(to) + 1;
    char *copy = v->mem.malloc(n, v->mem.ud);
    if (!copy)
        return;
    memcpy(copy, to, n);
    v->directed[v->ndirected++] = copy;
}

/* A broadcast (presence without 'to'): a copy to each contact with a subscription 'from'
   (§4.2.2, §4.4.2, §4.5.2), probes to the contacts with 'to' on the first available
   presence (§4.3), and on unavailable a copy to each entity that got directed presence
   (§4.6.3).  The broadcast itself goes to `route` too, for the account's other resources. */
static void broadcast(pxmpp_server *v, const pxmpp_presence *p)
{
    bool avail = p->type != PXMPP_PRESENCE_TYPE_UNAVAILABLE;
    bool first = avail && !v->available;
    route_presence(v, p);
    pxmpp_arena *a = NULL;
    pxmpp_roster_query r;
    memset(&r, 0, sizeof r);
    if (v->cb.roster_get && v->cb.roster_set && pxmpp_arena_new(&a, &v->mem, 0) == 0 &&
        v->cb.roster_get(v->user, v->bare, a, &r) < 0)
        memset(&r, 0, sizeof r);
    for (size_t i = 0; i < r.items_count && live(v); i++) {
        pxmpp_roster_subscription sub = r.items[i].subscription;
        if (sub == PXMPP_ROSTER_SUBSCRIPTION_FROM || sub == PXMPP_ROSTER_SUBSCRIPTION_BOTH) {
            pxmpp_presence c = *p;
            c.to = r.items[i].jid;
            route_presence(v, &c);
            track_directed(v, r.items[i].jid, false); /* covered by the broadcast now */
        }
        if (first && (sub == PXMPP_ROSTER_SUBSCRIPTION_TO || sub == PXMPP_ROSTER_SUBSCRIPTION_BOTH)) {
            pxmpp_presence probe;
            memset(&probe, 0, sizeof probe);
            probe.type = PXMPP_PRESENCE_TYPE_PROBE;
            probe.from = v->bare;
            probe.to = r.items[i].jid;
            route_presence(v, &probe);
        }
    }
    pxmpp_arena_free(a);
    /* keep the presence for probes and delivery decisions */
    v->pres = NULL;
    if (v->pres_arena)
        pxmpp_arena_reset(v->pres_arena);
    else if (avail && pxmpp_arena_new(&v->pres_arena, &v->mem, 0) != 0)
        v->pres_arena = NULL;
    if (avail && v->pres_arena)
        v->pres = pxmpp_copy(v->pres_arena, &pxmpp_presence_desc, p);
    if (!avail) {
        while (v->ndirected && live(v)) {
            pxmpp_presence c = *p;
            c.to = v->directed[v->ndirected - 1];
            route_presence(v, &c);
            forget_directed(v, v->ndirected - 1);
        }
    }
    v->available = avail;
}

/* The session ends while the client is available: unavailable on its behalf (§4.6.2). */
static void went_away(pxmpp_server *v)
{
    if (!v->available || v->guard.free_pending)
        return;
    pxmpp_presence u;
    memset(&u, 0, sizeof u);
    u.type = PXMPP_PRESENCE_TYPE_UNAVAILABLE;
    u.from = v->full;
    int err = v->err;
    v->err = 0; /* let the broadcast through once */
    broadcast(v, &u);
    v->err = err;
}

static void on_presence(void *user, const pxmpp_presence *p)
{
    pxmpp_server *v = user;
    v->stanzas++;
    if (!bound_or_end(v) || !stamp_ok(v, p->from))
        return;
    pxmpp_presence c = *p;
    c.from = v->full;
    switch (p->type) {
    case PXMPP_PRESENCE_TYPE_SUBSCRIBE:
    case PXMPP_PRESENCE_TYPE_SUBSCRIBED:
    case PXMPP_PRESENCE_TYPE_UNSUBSCRIBE:
    case PXMPP_PRESENCE_TYPE_UNSUBSCRIBED:
        c.from = v->bare; /* §3.1.2: subscription stanzas carry the bare JID */
        route_presence(v, &c);
        return;
    case PXMPP_PRESENCE_TYPE_ABSENT:
    case PXMPP_PRESENCE_TYPE_AVAILABLE:
    case PXMPP_PRESENCE_TYPE_UNAVAILABLE:
        if (!p->to) {
            broadcast(v, &c);
            return;
        }
        track_directed(v, p->to, p->type != PXMPP_PRESENCE_TYPE_UNAVAILABLE);
        route_presence(v, &c);
        return;
    default: /* probe and error from a client: routed as they are */
        route_presence(v, &c);
        return;
    }
}

static int answer(pxmpp_server *v, const pxmpp_iq *req, bool error, pxmpp_stanza_error_type type,
                  pxmpp_stanza_error_condition cond, const pxmpp_type_desc *payload_type, const void *payload)
{
    if (v->err)
        return v->err;
    if (v->state != PXMPP_SERVER_READY && v->state != PXMPP_SERVER_BINDING)
        return PXMPP_ERR_STATE;
    if (!req || !req->id || (req->type != PXMPP_IQ_TYPE_GET && req->type != PXMPP_IQ_TYPE_SET) ||
        (payload_type && !payload) ||
        (error && (!pxmpp_stanza_error_type_str(type) || !pxmpp_stanza_error_condition_str(cond))))
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_arena_reset(v->tmp);
    pxmpp_iq *r = error ? pxmpp_build_iq_error(v->tmp, req, type, cond) : pxmpp_build_iq_result(v->tmp, req);
    if (!r || (payload_type && pxmpp_iq_add_payload(v->tmp, r, payload_type, payload)))
        return PXMPP_ERR_NOMEM;
    r->to = v->full[0] ? v->full : NULL;
    r->from = req->to ? req->to : NULL;
    return send_el(v, &pxmpp_iq_desc, r);
}

static void bind_resource(pxmpp_server *v, const pxmpp_iq *iq, const pxmpp_bind *b)
{
    if (iq->type != PXMPP_IQ_TYPE_SET || v->state != PXMPP_SERVER_BINDING) {
        (void)answer(v, iq, true, PXMPP_STANZA_ERROR_TYPE_CANCEL, PXMPP_STANZA_ERROR_CONDITION_NOT_ALLOWED, NULL,
                     NULL);
        return;
    }
    char made[2 * 8 + 1];
    const char *res = b->resource;
    if (!res || !*res) {
        if (random_hex(made, 8)) {
            fail(v, PXMPP_ERR_NOMEM, "no random bytes for a resource");
            return;
        }
        res = made;
    }
    char tmp[JID_CAP];
    pxmpp_jid j;
    size_t bl = strlen(v->bare), rl = strlen(res);
    if (rl > PXMPP_JID_PART_MAX || bl + rl + 2 > sizeof tmp) {
        (void)answer(v, iq, true, PXMPP_STANZA_ERROR_TYPE_MODIFY, PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST, NULL,
                     NULL);
        return;
    }
    memcpy(tmp, v->bare, bl);
    tmp[bl] = '/';
    memcpy(tmp + bl + 1, res, rl + 1);
    if (pxmpp_jid_parse(&j, tmp, strlen(tmp), PXMPP_JID_NORMALIZE) != 0 ||
        !j.has_resource) {
        (void)answer(v, iq, true, PXMPP_STANZA_ERROR_TYPE_MODIFY, PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST, NULL,
                     NULL);
        return;
    }
    char full[JID_CAP];
    (void)pxmpp_jid_format(&j, full, sizeof full);
    pxmpp_server_bind_decision d = v->cb.bind ? v->cb.bind(v->user, full) : PXMPP_SERVER_BIND_ACCEPT;
    if (!live(v))
        return;
    if (d != PXMPP_SERVER_BIND_ACCEPT) {
        slog(v, "resource refused (%s)", d == PXMPP_SERVER_BIND_CONFLICT ? "conflict" : "policy");
        (void)answer(v, iq, true, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                     d == PXMPP_SERVER_BIND_CONFLICT ? PXMPP_STANZA_ERROR_CONDITION_CONFLICT
                                                     : PXMPP_STANZA_ERROR_CONDITION_NOT_ALLOWED,
                     NULL, NULL);
        return;
    }
    memcpy(v->full, full, sizeof full);
    pxmpp_bind rb;
    memset(&rb, 0, sizeof rb);
    rb.jid = v->full;
    pxmpp_iq r = *iq;
    r.to = NULL;
    r.from = NULL;
    if (answer(v, &r, false, 0, 0, &pxmpp_bind_desc, &rb))
        return;
    v->state = PXMPP_SERVER_READY;
    slog(v, "bound %s", v->full);
    if (v->cb.bound)
        v->cb.bound(v->user, v->full);
}

/* RFC 6121 §2.3.2, §2.3.3: what a roster set may carry. */
static pxmpp_stanza_error_condition roster_set_check(const pxmpp_server *v, const pxmpp_roster_query *q)
{
    if (q->items_count != 1)
        return PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST;
    const pxmpp_roster_item *it = &q->items[0];
    pxmpp_jid j;
    if (!it->jid || pxmpp_jid_parse(&j, it->jid, strlen(it->jid), PXMPP_JID_NORMALIZE) != 0)
        return PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST;
    if (j.has_local && strcmp(j.local, v->local) == 0 && strcmp(j.domain, v->domain) == 0 && !j.has_resource)
        return PXMPP_STANZA_ERROR_CONDITION_NOT_ALLOWED;
    for (size_t g = 0; g < it->groups_count; g++) {
        if (!it->groups[g] || !*it->groups[g])
            return PXMPP_STANZA_ERROR_CONDITION_NOT_ACCEPTABLE;
        for (size_t h = 0; h < g; h++)
            if (strcmp(it->groups[g], it->groups[h]) == 0)
                return PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST;
    }
    return PXMPP_STANZA_ERROR_CONDITION_ABSENT;
}

static void roster_iq(pxmpp_server *v, const pxmpp_iq *iq, const pxmpp_roster_query *q)
{
    pxmpp_arena *a;
    if (pxmpp_arena_new(&a, &v->mem, 0)) {
        fail(v, PXMPP_ERR_NOMEM, "out of memory");
        return;
    }
    if (iq->type == PXMPP_IQ_TYPE_GET) {
        pxmpp_roster_query out;
        memset(&out, 0, sizeof out);
        v->roster_interested = true;
        if (v->cb.roster_get(v->user, v->bare, a, &out) < 0)
            (void)answer(v, iq, true, PXMPP_STANZA_ERROR_TYPE_WAIT, PXMPP_STANZA_ERROR_CONDITION_INTERNAL_SERVER_ERROR,
                         NULL, NULL);
        else if (q->ver && out.ver && *q->ver && strcmp(q->ver, out.ver) == 0)
            (void)answer(v, iq, false, 0, 0, NULL, NULL); /* §2.6.3: unchanged */
        else {
            if (!q->ver)
                out.ver = NULL; /* the client does not do versioning */
            (void)answer(v, iq, false, 0, 0, &pxmpp_roster_query_desc, &out);
        }
        pxmpp_arena_free(a);
        return;
    }
    pxmpp_stanza_error_condition bad = roster_set_check(v, q);
    if (bad != PXMPP_STANZA_ERROR_CONDITION_ABSENT) {
        (void)answer(v, iq, true,
                     bad == PXMPP_STANZA_ERROR_CONDITION_NOT_ALLOWED ? PXMPP_STANZA_ERROR_TYPE_CANCEL
                                                                     : PXMPP_STANZA_ERROR_TYPE_MODIFY,
                     bad, NULL, NULL);
        pxmpp_arena_free(a);
        return;
    }
    /* the stored item: the JID normalized, the subscription state not the client's to set */
    pxmpp_roster_item it = q->items[0];
    pxmpp_jid j;
    char norm[JID_CAP], ver[256];
    (void)pxmpp_jid_parse(&j, it.jid, strlen(it.jid), PXMPP_JID_NORMALIZE);
    (void)pxmpp_jid_format(&j, norm, sizeof norm);
    it.jid = norm;
    if (it.subscription != PXMPP_ROSTER_SUBSCRIPTION_REMOVE)
        it.subscription = PXMPP_ROSTER_SUBSCRIPTION_ABSENT;
    it.ask = PXMPP_ROSTER_ASK_ABSENT;
    it.approved = false;
    memset(&it.meta, 0, sizeof it.meta);
    ver[0] = '\0';
    int rc = v->cb.roster_set(v->user, v->bare, &it, ver, sizeof ver);
    ver[sizeof ver - 1] = '\0';
    if (rc < 0)
        (void)answer(v, iq, true, PXMPP_STANZA_ERROR_TYPE_WAIT, PXMPP_STANZA_ERROR_CONDITION_INTERNAL_SERVER_ERROR,
                     NULL, NULL);
    else if (rc > 0)
        (void)answer(v, iq, true, PXMPP_STANZA_ERROR_TYPE_CANCEL, PXMPP_STANZA_ERROR_CONDITION_ITEM_NOT_FOUND, NULL,
                     NULL);
    else if (answer(v, iq, false, 0, 0, NULL, NULL) == 0 && live(v) && v->cb.roster_push)
        v->cb.roster_push(v->user, v->bare, &it, ver);
    pxmpp_arena_free(a);
}

static void server_iq(pxmpp_server *v, const pxmpp_iq *iq, int where)
{
    if (iq->type == PXMPP_IQ_TYPE_RESULT || iq->type == PXMPP_IQ_TYPE_ERROR) {
        if (v->cb.iq_request)
            (void)v->cb.iq_request(v->user, iq);
        return;
    }
    const pxmpp_roster_query *rq = pxmpp_iq_get_roster_query(iq);
    if (rq && v->cb.roster_get && v->cb.roster_set && (where == 1 || !iq->to)) {
        roster_iq(v, iq, rq);
        return;
    }
    if (where == 0 && iq->type == PXMPP_IQ_TYPE_GET && pxmpp_iq_get_ping(iq)) {
        (void)answer(v, iq, false, 0, 0, NULL, NULL);
        return;
    }
    const pxmpp_disco_info *qi = where == 0 && iq->type == PXMPP_IQ_TYPE_GET ? pxmpp_iq_get_disco_info(iq) : NULL;
    if (qi && !qi->node) {
        static const pxmpp_disco_identity id = { .category = "server", .type = "im" };
        static const pxmpp_disco_feature feats[] = { { .var = "http://jabber.org/protocol/disco#info" },
                                                     { .var = "urn:xmpp:ping" } };
        pxmpp_disco_info info;
        memset(&info, 0, sizeof info);
        info.identities = &id;
        info.identities_count = 1;
        info.features = feats;
        info.features_count = 2;
        (void)answer(v, iq, false, 0, 0, &pxmpp_disco_info_desc, &info);
        return;
    }
    if (!v->cb.iq_request || !v->cb.iq_request(v->user, iq))
        (void)answer(v, iq, true, PXMPP_STANZA_ERROR_TYPE_CANCEL, PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE,
                     NULL, NULL);
}

static void on_iq(void *user, const pxmpp_iq *iq)
{
    pxmpp_server *v = user;
    v->stanzas++;
    if (!live(v))
        return;
    const pxmpp_bind *b = pxmpp_iq_get_bind(iq);
    if (b && v->authed && addressee(v, iq->to) == 0) {
        bind_resource(v, iq, b);
        return;
    }
    if (!bound_or_end(v) || !stamp_ok(v, iq->from))
        return;
    pxmpp_iq c = *iq;
    c.from = v->full;
    int where = addressee(v, iq->to);
    if (where < 2)
        server_iq(v, &c, where);
    else if (v->cb.route)
        v->cb.route(v->user, &pxmpp_iq_desc, &c);
    else if (c.type == PXMPP_IQ_TYPE_GET || c.type == PXMPP_IQ_TYPE_SET)
        (void)answer(v, &c, true, PXMPP_STANZA_ERROR_TYPE_CANCEL, PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE,
                     NULL, NULL);
}

static void on_invalid(void *user, const pxmpp_type_desc *d, const void *partial, const pxmpp_diag *why,
                       uint64_t offset)
{
    pxmpp_server *v = user;
    v->stanzas++;
    (void)offset;
    if (!live(v))
        return;
    slog(v, "invalid <%s/> at %s: %s", d->local, why->path, why->reason);
    if (d != &pxmpp_iq_desc && d != &pxmpp_message_desc && d != &pxmpp_presence_desc) {
        end_with(v, PXMPP_STREAM_ERROR_CONDITION_BAD_FORMAT, "an invalid negotiation element");
        return;
    }
    if (!bound_or_end(v))
        return;
    const pxmpp_iq *iq = partial;
    if (d == &pxmpp_iq_desc && iq->id && (iq->type == PXMPP_IQ_TYPE_GET || iq->type == PXMPP_IQ_TYPE_SET)) {
        pxmpp_iq c = *iq;
        c.to = NULL; /* possibly the malformed part: answer from the server */
        (void)answer(v, &c, true, PXMPP_STANZA_ERROR_TYPE_MODIFY, PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST, NULL,
                     NULL);
    }
}

static void on_stream_error(void *user, const pxmpp_stream_error *e)
{
    pxmpp_server *v = user;
    if (v->err)
        return;
    v->stream_cond = e->condition;
    const char *cond = pxmpp_stream_error_condition_str(e->condition);
    fail(v, PXMPP_ERR_PROTOCOL, "the client sent the stream error %s", cond ? cond : "?");
}

static void on_error(void *user, int code, const char *reason, uint64_t offset)
{
    pxmpp_server *v = user;
    if (v->err)
        return;
    v->stream_cond = (pxmpp_stream_error_condition)pxmpp__stream_condition_for(code);
    bool kept = code == PXMPP_ERR_WRITE || code == PXMPP_ERR_NOMEM || code == PXMPP_ERR_TRUNCATED;
    fail(v, kept ? code : PXMPP_ERR_PROTOCOL, "stream error at byte %llu: %s", (unsigned long long)offset, reason);
}

static void on_closed(void *user)
{
    pxmpp_server *v = user;
    if (v->state != PXMPP_SERVER_FAILED)
        v->state = PXMPP_SERVER_CLOSED;
    slog(v, "stream closed by the client");
    (void)pxmpp_stream_close(v->s);
    went_away(v);
    if (v->cb.closed && !v->guard.free_pending)
        v->cb.closed(v->user);
}

/* ---- life cycle ---------------------------------------------------------------------- */

static void destroy(pxmpp_server *v)
{
    while (v->ndirected)
        forget_directed(v, v->ndirected - 1);
    if (v->directed)
        v->mem.free(v->directed, v->mem.ud);
    pxmpp_arena_free(v->pres_arena);
    if (v->gs)
        gsasl_finish(v->gs);
    if (v->g)
        gsasl_done(v->g);
    pxmpp__stream_wipe_output(v->s);
    pxmpp_stream_free(v->s);
    pxmpp_arena_free(v->tmp);
    pxmpp_mem m = v->mem;
    OPENSSL_cleanse(v, sizeof *v);
    m.free(v, m.ud);
}

int pxmpp_server_new(pxmpp_server **out, const pxmpp_server_config *cfg, const pxmpp_server_callbacks *cb,
                     void *user)
{
    if (!out)
        return PXMPP_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!cfg || !cb || !cb->write || !cb->scram_secrets || !cfg->domain)
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_jid j;
    if (pxmpp_jid_parse(&j, cfg->domain, strlen(cfg->domain), PXMPP_JID_NORMALIZE) != 0 || j.has_local ||
        j.has_resource)
        return PXMPP_ERR_INVALID_ARGUMENT;
    const pxmpp_mem *mem = cfg->mem ? cfg->mem : pxmpp_mem_default();
    pxmpp_server *v = mem->malloc(sizeof *v, mem->ud);
    if (!v)
        return PXMPP_ERR_NOMEM;
    memset(v, 0, sizeof *v);
    v->mem = *mem;
    v->cb = *cb;
    v->user = user;
    v->cfg = *cfg;
    v->cfg.domain = NULL;
    v->cfg.mem = NULL;
    memcpy(v->domain, j.domain, j.domain_len + 1u);
    pxmpp_stream_callbacks scb = { .write = on_write, .opened = on_opened, .message = on_message,
                                   .presence = on_presence, .iq = on_iq, .element = on_element,
                                   .stanza_invalid = on_invalid, .stream_error = on_stream_error,
                                   .error = on_error, .closed = on_closed };
    pxmpp_stream_config scfg = { .mem = mem, .limits = cfg->limits };
    int rc = pxmpp_stream_new(&v->s, PXMPP_ROLE_SERVER, &scb, &scfg, v);
    if (!rc)
        rc = pxmpp_arena_new(&v->tmp, mem, 0);
    if (!rc && gsasl_init(&v->g) != GSASL_OK) {
        v->g = NULL;
        rc = PXMPP_ERR_NOMEM;
    }
    if (rc) {
        destroy(v);
        return rc;
    }
    gsasl_callback_set(v->g, gsasl_cb);
    *out = v;
    return 0;
}

void pxmpp_server_free(pxmpp_server *v)
{
    if (v && pxmpp__guard_free(&v->guard, v->s))
        destroy(v);
}

/* Every public function that may run callbacks enters the guard and leaves here (guard.h). */
static int leave(pxmpp_server *v, int rc)
{
    if (pxmpp__guard_leave(&v->guard))
        destroy(v);
    return rc;
}

static int feed_(pxmpp_server *v, const void *data, size_t len)
{
    if (v->err)
        return v->err;
    if (v->tls_pending)
        return PXMPP_ERR_STATE;
    size_t consumed = 0;
    int rc = pxmpp_stream_feed_partial(v->s, data, len, &consumed);
    if (v->err)
        return v->err;
    if (v->guard.free_pending)
        return 0;
    if (v->tls_pending) {
        /* white space after the element (a line feed, say) is dropped; anything else would be
           read as if it came through TLS: an injection attempt or a broken client */
        if (!pxmpp__all_space((const char *)data + consumed, len - consumed)) {
            fail(v, PXMPP_ERR_TLS, "%zu unencrypted bytes followed <starttls/>", len - consumed);
            return v->err;
        }
        slog(v, "STARTTLS: handshake by the application");
        if (v->cb.start_tls(v->user) < 0 && !v->err)
            fail(v, PXMPP_ERR_TLS, "TLS could not be started");
        return v->err;
    }
    return rc == PXMPP_ERR_CLOSED ? 0 : rc;
}

static int finish_(pxmpp_server *v)
{
    int rc = pxmpp_stream_finish(v->s);
    if (v->err)
        return v->err;
    if (rc && v->state != PXMPP_SERVER_CLOSED)
        fail(v, PXMPP_ERR_TRUNCATED, "the connection ended inside the stream");
    return v->err ? v->err : rc;
}

static int tls_ready_(pxmpp_server *v, const char *cb_type, const unsigned char *cb_data, size_t cb_len)
{
    if (v->err)
        return v->err;
    if (!v->tls_pending)
        return PXMPP_ERR_STATE;
    if (cb_type || cb_data || cb_len) {
        static const char *const names[] = { "tls-exporter", "tls-unique" };
        const char *name = NULL;
        for (size_t i = 0; cb_type && i < 2; i++)
            if (strcmp(cb_type, names[i]) == 0)
                name = names[i];
        if (!name || !cb_data || cb_len == 0 || cb_len > sizeof v->cbdata)
            return PXMPP_ERR_INVALID_ARGUMENT;
        memcpy(v->cbdata, cb_data, cb_len);
        v->cb_len = cb_len;
        v->cb_name = name;
    }
    v->tls_pending = false;
    v->tls_up = true;
    v->state = PXMPP_SERVER_AUTH;
    slog(v, "TLS established; waiting for the new stream header");
    int rc = pxmpp_stream_restart(v->s);
    if (rc)
        fail(v, rc == PXMPP_ERR_NOMEM ? rc : PXMPP_ERR_PROTOCOL, "cannot restart the stream: %s", pxmpp_strerror(rc));
    return v->err;
}

static int deliver_(pxmpp_server *v, const pxmpp_type_desc *d, const void *obj)
{
    if (!d || !obj || (d != &pxmpp_message_desc && d != &pxmpp_presence_desc && d != &pxmpp_iq_desc))
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (v->err)
        return v->err;
    if (v->state != PXMPP_SERVER_READY)
        return PXMPP_ERR_STATE;
    return send_el(v, d, obj);
}

static int push_(pxmpp_server *v, const pxmpp_roster_item *item, const char *ver)
{
    if (!item || !item->jid)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (v->err)
        return v->err;
    if (v->state != PXMPP_SERVER_READY)
        return PXMPP_ERR_STATE;
    pxmpp_roster_query q;
    memset(&q, 0, sizeof q);
    q.items = item;
    q.items_count = 1;
    q.ver = ver && *ver ? ver : NULL;
    char id[32];
    pxmpp_arena_reset(v->tmp);
    pxmpp_iq *p = pxmpp_build_iq(v->tmp, PXMPP_IQ_TYPE_SET, v->full, pxmpp_stream_make_id(v->s, id, sizeof id),
                                 &pxmpp_roster_query_desc, &q);
    if (!p)
        return PXMPP_ERR_NOMEM;
    p->from = v->bare;
    return send_el(v, &pxmpp_iq_desc, p);
}

static int close_(pxmpp_server *v)
{
    if (v->state == PXMPP_SERVER_CLOSING || v->state == PXMPP_SERVER_CLOSED || v->state == PXMPP_SERVER_FAILED)
        return PXMPP_ERR_STATE;
    slog(v, "closing the stream");
    v->state = PXMPP_SERVER_CLOSING;
    return pxmpp_stream_close(v->s);
}

static int end_(pxmpp_server *v, pxmpp_stream_error_condition cond, const char *text)
{
    if (cond == PXMPP_STREAM_ERROR_CONDITION_ABSENT || !pxmpp_stream_error_condition_str(cond))
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (v->err || v->state == PXMPP_SERVER_CLOSED)
        return PXMPP_ERR_STATE;
    v->stream_cond = cond;
    int rc = pxmpp_stream_send_error(v->s, cond, text);
    if (rc == PXMPP_ERR_STATE)
        return rc;
    fail(v, rc == PXMPP_ERR_WRITE ? rc : PXMPP_ERR_PROTOCOL, "ended by the application (%s)",
         pxmpp_stream_error_condition_str(cond));
    return rc == PXMPP_ERR_WRITE ? rc : 0;
}

int pxmpp_server_feed(pxmpp_server *v, const void *data, size_t len)
{
    if (v && !data && len)
        return PXMPP_ERR_INVALID_ARGUMENT;
    PXMPP__ENTER(v);
    return leave(v, feed_(v, data, len));
}

int pxmpp_server_finish(pxmpp_server *v)
{
    PXMPP__ENTER(v);
    return leave(v, finish_(v));
}

int pxmpp_server_tls_ready(pxmpp_server *v, const char *cb_type, const unsigned char *cb_data, size_t cb_len)
{
    PXMPP__ENTER(v);
    return leave(v, tls_ready_(v, cb_type, cb_data, cb_len));
}

int pxmpp_server_deliver(pxmpp_server *v, const pxmpp_type_desc *type, const void *stanza)
{
    PXMPP__ENTER(v);
    return leave(v, deliver_(v, type, stanza));
}

int pxmpp_server_answer_iq(pxmpp_server *v, const pxmpp_iq *req, bool error, pxmpp_stanza_error_type etype,
                           pxmpp_stanza_error_condition cond, const pxmpp_type_desc *payload_type,
                           const void *payload)
{
    PXMPP__ENTER(v);
    return leave(v, answer(v, req, error, etype, cond, payload_type, payload));
}

int pxmpp_server_push_roster(pxmpp_server *v, const pxmpp_roster_item *item, const char *ver)
{
    PXMPP__ENTER(v);
    return leave(v, push_(v, item, ver));
}

bool pxmpp_server_roster_interested(const pxmpp_server *v) { return v && v->roster_interested; }

const pxmpp_presence *pxmpp_server_presence(const pxmpp_server *v)
{
    return v && v->available && !v->err ? v->pres : NULL;
}

int pxmpp_server_close(pxmpp_server *v)
{
    PXMPP__ENTER(v);
    return leave(v, close_(v));
}

int pxmpp_server_end(pxmpp_server *v, pxmpp_stream_error_condition cond, const char *text)
{
    PXMPP__ENTER(v);
    return leave(v, end_(v, cond, text));
}

pxmpp_server_state pxmpp_server_get_state(const pxmpp_server *v) { return v ? v->state : PXMPP_SERVER_FAILED; }

int pxmpp_server_error(const pxmpp_server *v, const char **reason)
{
    if (reason)
        *reason = v && v->err ? v->reason : "";
    return v ? v->err : PXMPP_ERR_INVALID_ARGUMENT;
}

pxmpp_stream_error_condition pxmpp_server_stream_error(const pxmpp_server *v)
{
    return v ? v->stream_cond : PXMPP_STREAM_ERROR_CONDITION_ABSENT;
}

const char *pxmpp_server_jid(const pxmpp_server *v) { return v && v->full[0] ? v->full : NULL; }
const char *pxmpp_server_bare_jid(const pxmpp_server *v) { return v && v->bare[0] ? v->bare : NULL; }
bool pxmpp_server_tls_up(const pxmpp_server *v) { return v && v->tls_up; }
uint64_t pxmpp_server_stanza_count(const pxmpp_server *v) { return v ? v->stanzas : 0; }
pxmpp_stream *pxmpp_server_stream(pxmpp_server *v) { return v ? v->s : NULL; }
