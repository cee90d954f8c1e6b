/* The component session (XEP-0114): a jabber:component:accept stream, the
 * shared-secret handshake, then stanzas from any address of the component's domain. */
#include "guard.h"
#include "internal.h"

#include <pxmpp/build.h>
#include <pxmpp/component.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct pxmpp_component {
    pxmpp_mem mem;
    pxmpp_component_callbacks cb;
    void *user;
    char domain[PXMPP_JID_PART_MAX + 1]; /* normalized */
    char *secret;                        /* NULL once the digest is computed */
    char sid[1024];                      /* the server's stream id ("" before its header) */
    bool idless;                         /* the server's header came without an id */
    pxmpp_stream *s;
    pxmpp_component_state state;
    pxmpp_stream_error_condition stream_cond;
    int err;
    char reason[256];
    pxmpp__guard guard; /* callbacks may free the session: see guard.h */
    pxmpp_arena *tmp, *app;
};

/* ---- helpers ------------------------------------------------------------------- */

/* One line of the transcript, or (code < 0) the session's failure: the first one is kept as
   the session's error, logged, reported to `failed`, and our side of the stream is closed. */
static void report(pxmpp_component *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(pxmpp_component *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool failed = pxmpp__session_report(&c->err, c->reason, sizeof c->reason, c->s, c->cb.log, c->user,
                                        c->guard.free_pending, code, fmt, ap);
    va_end(ap);
    if (!failed)
        return;
    c->state = PXMPP_COMPONENT_FAILED;
    if (c->cb.failed && !c->guard.free_pending) /* nothing is delivered once a free was requested */
        c->cb.failed(c->user, code, c->stream_cond, c->reason);
}
#define clog_(c, ...) report((c), 0, __VA_ARGS__)
#define fail(c, code, ...) report((c), (code), __VA_ARGS__)

/* Frees a string after overwriting it. */
static void free_wiped(const pxmpp_mem *m, char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    m->free(s, m->ud);
}

static bool up(const pxmpp_component *c)
{
    return !c->err && !c->guard.free_pending && c->state == PXMPP_COMPONENT_READY;
}

static int need_ready(const pxmpp_component *c)
{
    if (c->err)
        return c->err;
    return c->state == PXMPP_COMPONENT_READY ? 0 : PXMPP_ERR_STATE;
}

/* True when @p jid is an address of the component: its domain part is ours. */
static bool ours(const pxmpp_component *c, const char *jid)
{
    pxmpp_jid j;
    return jid && pxmpp_jid_parse(&j, jid, strlen(jid), PXMPP_JID_NORMALIZE) == 0 && strcmp(j.domain, c->domain) == 0;
}

/* Sends a stanza after checking its addresses (XEP-0114 §3: 'from' at our domain, a 'to'). */
static int send_addressed(pxmpp_component *c, const pxmpp_type_desc *d, const void *obj, const char *from,
                          const char *to)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    if (!ours(c, from) || !to || pxmpp_jid_check(to, strlen(to)) != 0)
        return PXMPP_ERR_INVALID_ARGUMENT;
    rc = pxmpp_stream_send(c->s, d, obj);
    if (rc <= PXMPP_ERR_FATAL)
        fail(c, rc == PXMPP_ERR_WRITE || rc == PXMPP_ERR_NOMEM ? rc : PXMPP_ERR_PROTOCOL, "cannot send: %s",
             pxmpp_strerror(rc));
    return rc;
}

/* Answers an iq get/set from the address it was sent to (our domain when that is not ours). */
static int answer(pxmpp_component *c, const pxmpp_iq *req, bool error, pxmpp_stanza_error_type type,
                  pxmpp_stanza_error_condition cond, const pxmpp_type_desc *payload_type, const void *payload)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    if (!req || !req->id || !req->from || (req->type != PXMPP_IQ_TYPE_GET && req->type != PXMPP_IQ_TYPE_SET) ||
        (payload_type && !payload) ||
        (error && (!pxmpp_stanza_error_type_str(type) || !pxmpp_stanza_error_condition_str(cond))))
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_arena_reset(c->tmp);
    pxmpp_iq *r = error ? pxmpp_build_iq_error(c->tmp, req, type, cond) : pxmpp_build_iq_result(c->tmp, req);
    if (!r || (payload_type && pxmpp_iq_add_payload(c->tmp, r, payload_type, payload)))
        return PXMPP_ERR_NOMEM;
    r->from = ours(c, req->to) ? req->to : c->domain;
    return send_addressed(c, &pxmpp_iq_desc, r, r->from, r->to);
}

/* The handshake (XEP-0114 §3): lowercase hex of SHA-1(stream id + secret).  The secret
   is wiped right after; the digest once it is written. */
static void send_handshake(pxmpp_component *c)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, c->sid, strlen(c->sid)) == 1 &&
              EVP_DigestUpdate(ctx, c->secret, strlen(c->secret)) == 1 && EVP_DigestFinal_ex(ctx, md, &n) == 1;
    EVP_MD_CTX_free(ctx);
    free_wiped(&c->mem, c->secret);
    c->secret = NULL;
    if (!ok || n != 20) {
        OPENSSL_cleanse(md, sizeof md);
        fail(c, PXMPP_ERR_NOMEM, "cannot compute the handshake digest");
        return;
    }
    static const char hexdigits[] = "0123456789abcdef";
    char hex[41];
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = hexdigits[md[i] >> 4];
        hex[2 * i + 1] = hexdigits[md[i] & 15];
    }
    hex[2 * n] = '\0';
    OPENSSL_cleanse(md, sizeof md);
    pxmpp_component_handshake hs;
    memset(&hs, 0, sizeof hs);
    hs.digest = hex;
    c->state = PXMPP_COMPONENT_HANDSHAKE;
    int rc = pxmpp_stream_send(c->s, &pxmpp_component_handshake_desc, &hs);
    OPENSSL_cleanse(hex, sizeof hex);
    pxmpp__stream_wipe_output(c->s);
    if (rc)
        fail(c, rc == PXMPP_ERR_WRITE ? rc : PXMPP_ERR_NOMEM, "cannot send the handshake: %s", pxmpp_strerror(rc));
    else
        clog_(c, "handshake sent");
}

/* ---- stream callbacks ----------------------------------------------------------- */

static int on_write(void *user, const char *data, size_t len)
{
    pxmpp_component *c = user;
    return c->cb.write(c->user, data, len);
}

/* A header without id cannot be answered.  A server that refuses the component's name sends
   one (with an empty id) followed by its stream error: the error is what gets reported, and
   anything else that follows such a header fails the session here. */
static bool idless(pxmpp_component *c)
{
    if (!c->idless)
        return false;
    c->idless = false;
    fail(c, PXMPP_ERR_PROTOCOL, "the server's stream header carries no id");
    return true;
}

static void on_opened(void *user, const pxmpp_stream_header *h)
{
    pxmpp_component *c = user;
    if (c->err)
        return;
    if (!h->id || !*h->id) {
        clog_(c, "stream opened by %s without an id", h->from ? h->from : "?");
        c->idless = true;
        return;
    }
    snprintf(c->sid, sizeof c->sid, "%s", h->id); /* the stream caps header values below that size */
    clog_(c, "stream opened by %s (id %s)", h->from ? h->from : "?", c->sid);
    send_handshake(c);
}

static void on_features(void *user, const pxmpp_stream_features *f)
{
    pxmpp_component *c = user;
    (void)f;
    if (idless(c))
        return;
    clog_(c, "ignoring <stream:features/> (not part of the component protocol)");
}

static void on_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    pxmpp_component *c = user;
    (void)offset;
    if (c->err || idless(c))
        return;
    if (d != &pxmpp_component_handshake_desc) {
        clog_(c, "ignoring <%s/>", d->local);
        return;
    }
    const pxmpp_component_handshake *hs = obj;
    if (c->state != PXMPP_COMPONENT_HANDSHAKE) {
        fail(c, PXMPP_ERR_PROTOCOL, "a <handshake/> from the server %s", c->state == PXMPP_COMPONENT_READY
                                                                                  ? "after the handshake succeeded"
                                                                                  : "before our handshake");
        return;
    }
    if (hs->digest && hs->digest[strspn(hs->digest, " \t\r\n")]) {
        fail(c, PXMPP_ERR_PROTOCOL, "the server's <handshake/> is not empty");
        return;
    }
    c->state = PXMPP_COMPONENT_READY;
    clog_(c, "handshake accepted: connected as %s", c->domain);
    if (c->cb.connected && !c->guard.free_pending)
        c->cb.connected(c->user, c->domain);
}

/* Whether a stanza is delivered: only once the handshake succeeded (@p what names it in the log). */
static bool accepting(pxmpp_component *c, const char *what)
{
    if (idless(c))
        return false;
    if (!up(c))
        clog_(c, "ignoring %s before the handshake succeeded", what);
    return up(c);
}

static void on_message(void *user, const pxmpp_message *m)
{
    pxmpp_component *c = user;
    if (accepting(c, "a message") && c->cb.message)
        c->cb.message(c->user, m);
}

static void on_presence(void *user, const pxmpp_presence *p)
{
    pxmpp_component *c = user;
    if (accepting(c, "a presence") && c->cb.presence)
        c->cb.presence(c->user, p);
}

/* Answers a request the app left alone; a request without 'from' cannot be answered. */
static void auto_answer(pxmpp_component *c, const pxmpp_iq *iq, pxmpp_stanza_error_condition cond)
{
    if (!up(c))
        return;
    int rc = answer(c, iq, true, cond == PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST ? PXMPP_STANZA_ERROR_TYPE_MODIFY
                                                                                    : PXMPP_STANZA_ERROR_TYPE_CANCEL,
                    cond, NULL, NULL);
    if (rc == PXMPP_ERR_INVALID_ARGUMENT)
        clog_(c, "cannot answer an iq %s without id or sender", pxmpp_iq_type_str(iq->type));
}

static void on_iq(void *user, const pxmpp_iq *iq)
{
    pxmpp_component *c = user;
    if (!accepting(c, "an iq"))
        return;
    if (iq->type == PXMPP_IQ_TYPE_RESULT || iq->type == PXMPP_IQ_TYPE_ERROR) {
        if (c->cb.iq_response)
            c->cb.iq_response(c->user, iq);
        return;
    }
    if (!c->cb.iq_request || !c->cb.iq_request(c->user, iq))
        auto_answer(c, iq, PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE);
}

static void on_invalid(void *user, const pxmpp_type_desc *d, const void *partial, const pxmpp_diag *why,
                       uint64_t offset)
{
    pxmpp_component *c = user;
    (void)offset;
    if (idless(c))
        return;
    clog_(c, "invalid <%s/> at %s: %s", d->local, why->path, why->reason);
    const pxmpp_iq *iq = partial;
    if (d == &pxmpp_iq_desc && (iq->type == PXMPP_IQ_TYPE_GET || iq->type == PXMPP_IQ_TYPE_SET))
        auto_answer(c, iq, PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST);
}

static void on_stream_error(void *user, const pxmpp_stream_error *e)
{
    pxmpp_component *c = user;
    if (c->err)
        return;
    c->idless = false; /* the error explains the header */
    c->stream_cond = e->condition;
    const char *cond = pxmpp_stream_error_condition_str(e->condition);
    bool refused = c->state == PXMPP_COMPONENT_HANDSHAKE && e->condition == PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED;
    fail(c, refused ? PXMPP_ERR_AUTH : PXMPP_ERR_PROTOCOL, "%s: %s%s%s",
         refused ? "the server refused the handshake" : "the server sent a stream error", cond ? cond : "unknown",
         e->texts_count ? ": " : "", e->texts_count ? e->texts[0].text : "");
}

static void on_error(void *user, int code, const char *reason, uint64_t offset)
{
    pxmpp_component *c = user;
    bool kept = code == PXMPP_ERR_WRITE || code == PXMPP_ERR_NOMEM || code == PXMPP_ERR_TRUNCATED;
    fail(c, kept ? code : PXMPP_ERR_PROTOCOL, "stream error at byte %llu: %s", (unsigned long long)offset, reason);
}

static void on_closed(void *user)
{
    pxmpp_component *c = user;
    (void)idless(c);
    if (c->state != PXMPP_COMPONENT_FAILED)
        c->state = PXMPP_COMPONENT_CLOSED;
    clog_(c, "stream closed by the server");
    (void)pxmpp_stream_close(c->s); /* RFC 6120 §4.4: close our side too (no-op if closed already) */
    if (c->cb.closed && !c->guard.free_pending)
        c->cb.closed(c->user);
}

/* ---- life cycle ------------------------------------------------------------------ */

static void destroy(pxmpp_component *c)
{
    pxmpp__stream_wipe_output(c->s);
    pxmpp_stream_free(c->s);
    pxmpp_arena_free(c->tmp);
    pxmpp_arena_free(c->app);
    free_wiped(&c->mem, c->secret);
    pxmpp_mem m = c->mem;
    OPENSSL_cleanse(c, sizeof *c);
    m.free(c, m.ud);
}

int pxmpp_component_new(pxmpp_component **out, const pxmpp_component_config *cfg,
                        const pxmpp_component_callbacks *cb, void *user)
{
    if (!out)
        return PXMPP_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!cfg || !cb || !cb->write || !cfg->domain || !cfg->secret || !*cfg->secret)
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_jid j;
    if (pxmpp_jid_parse(&j, cfg->domain, strlen(cfg->domain), PXMPP_JID_NORMALIZE) != 0 || j.has_local ||
        j.has_resource)
        return PXMPP_ERR_INVALID_ARGUMENT;
    const pxmpp_mem *mem = cfg->mem ? cfg->mem : pxmpp_mem_default();
    pxmpp_component *c = mem->malloc(sizeof *c, mem->ud);
    if (!c)
        return PXMPP_ERR_NOMEM;
    *c = (pxmpp_component){ .mem = *mem, .cb = *cb, .user = user };
    memcpy(c->domain, j.domain, j.domain_len + 1u);
    size_t n = strlen(cfg->secret) + 1;
    c->secret = mem->malloc(n, mem->ud);
    if (!c->secret) {
        destroy(c);
        return PXMPP_ERR_NOMEM;
    }
    memcpy(c->secret, cfg->secret, n);
    pxmpp_stream_callbacks scb = { .write = on_write, .opened = on_opened, .features = on_features,
                                   .message = on_message, .presence = on_presence, .iq = on_iq,
                                   .element = on_element, .stanza_invalid = on_invalid,
                                   .stream_error = on_stream_error, .error = on_error, .closed = on_closed };
    pxmpp_stream_config scfg = { .mem = mem, .content_ns = PXMPP_NS_COMPONENT_ACCEPT };
    int rc = pxmpp_stream_new(&c->s, PXMPP_ROLE_CLIENT, &scb, &scfg, c);
    if (!rc)
        rc = pxmpp_arena_new(&c->tmp, mem, 0);
    if (!rc)
        rc = pxmpp_arena_new(&c->app, mem, 0);
    if (rc) {
        destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

void pxmpp_component_free(pxmpp_component *c)
{
    if (c && pxmpp__guard_free(&c->guard, c->s))
        destroy(c);
}

/* Every public function that may run callbacks enters the guard and leaves here (guard.h). */
static int leave(pxmpp_component *c, int rc)
{
    if (pxmpp__guard_leave(&c->guard))
        destroy(c);
    return rc;
}

static int start_(pxmpp_component *c)
{
    if (c->state != PXMPP_COMPONENT_IDLE)
        return PXMPP_ERR_STATE;
    c->state = PXMPP_COMPONENT_CONNECTING;
    clog_(c, "opening the stream to %s", c->domain);
    pxmpp_stream_header h = { .to = c->domain };
    int rc = pxmpp_stream_open(c->s, &h);
    if (rc)
        fail(c, rc == PXMPP_ERR_WRITE ? rc : PXMPP_ERR_NOMEM, "cannot open the stream: %s", pxmpp_strerror(rc));
    return c->err;
}

static int feed_(pxmpp_component *c, const void *data, size_t len)
{
    int rc = pxmpp_stream_feed(c->s, data, len);
    if (c->err)
        return c->err;
    return rc == PXMPP_ERR_CLOSED || c->guard.free_pending ? 0 : rc;
}

static int finish_(pxmpp_component *c)
{
    (void)idless(c);
    int rc = pxmpp_stream_finish(c->s);
    if (c->err)
        return c->err;
    if (rc && c->state != PXMPP_COMPONENT_CLOSED)
        c->state = PXMPP_COMPONENT_FAILED;
    return rc;
}

static int close_(pxmpp_component *c)
{
    switch (c->state) {
    case PXMPP_COMPONENT_IDLE:
    case PXMPP_COMPONENT_CLOSING:
    case PXMPP_COMPONENT_CLOSED:
        return PXMPP_ERR_STATE;
    case PXMPP_COMPONENT_FAILED: /* our close tag is out already: answers PXMPP_ERR_STATE */
        return pxmpp_stream_close(c->s);
    default:
        clog_(c, "closing the stream");
        c->state = PXMPP_COMPONENT_CLOSING;
        return pxmpp_stream_close(c->s);
    }
}

static int send_iq_(pxmpp_component *c, const pxmpp_iq *iq)
{
    if (!iq || !iq->id)
        return PXMPP_ERR_INVALID_ARGUMENT;
    return send_addressed(c, &pxmpp_iq_desc, iq, iq->from, iq->to);
}

/* ---- entry points ------------------------------------------------------------------ */

int pxmpp_component_start(pxmpp_component *c)
{
    PXMPP__ENTER(c);
    return leave(c, start_(c));
}

int pxmpp_component_feed(pxmpp_component *c, const void *data, size_t len)
{
    PXMPP__ENTER(c);
    return leave(c, feed_(c, data, len));
}

int pxmpp_component_finish(pxmpp_component *c)
{
    PXMPP__ENTER(c);
    return leave(c, finish_(c));
}

int pxmpp_component_close(pxmpp_component *c)
{
    PXMPP__ENTER(c);
    return leave(c, close_(c));
}

int pxmpp_component_send_message(pxmpp_component *c, const pxmpp_message *m)
{
    PXMPP__ENTER(c);
    return leave(c, m ? send_addressed(c, &pxmpp_message_desc, m, m->from, m->to) : PXMPP_ERR_INVALID_ARGUMENT);
}

int pxmpp_component_send_presence(pxmpp_component *c, const pxmpp_presence *p)
{
    PXMPP__ENTER(c);
    return leave(c, p ? send_addressed(c, &pxmpp_presence_desc, p, p->from, p->to) : PXMPP_ERR_INVALID_ARGUMENT);
}

int pxmpp_component_send_iq(pxmpp_component *c, const pxmpp_iq *iq)
{
    PXMPP__ENTER(c);
    return leave(c, send_iq_(c, iq));
}

int pxmpp_component_send_iq_result(pxmpp_component *c, const pxmpp_iq *req, const pxmpp_type_desc *payload_type,
                                   const void *payload)
{
    PXMPP__ENTER(c);
    return leave(c, answer(c, req, false, 0, 0, payload_type, payload));
}

int pxmpp_component_send_iq_error(pxmpp_component *c, const pxmpp_iq *req, pxmpp_stanza_error_type type,
                                  pxmpp_stanza_error_condition cond)
{
    PXMPP__ENTER(c);
    return leave(c, answer(c, req, true, type, cond, NULL, NULL));
}

/* ---- getters ------------------------------------------------------------------------- */

pxmpp_component_state pxmpp_component_get_state(const pxmpp_component *c)
{
    return c ? c->state : PXMPP_COMPONENT_FAILED;
}

int pxmpp_component_error(const pxmpp_component *c, const char **reason)
{
    if (reason)
        *reason = c && c->err ? c->reason : "";
    return c ? c->err : PXMPP_ERR_INVALID_ARGUMENT;
}

pxmpp_stream_error_condition pxmpp_component_stream_error(const pxmpp_component *c)
{
    return c ? c->stream_cond : PXMPP_STREAM_ERROR_CONDITION_ABSENT;
}

const char *pxmpp_component_domain(const pxmpp_component *c) { return c ? c->domain : NULL; }
const char *pxmpp_component_stream_id(const pxmpp_component *c) { return c && c->sid[0] ? c->sid : NULL; }
pxmpp_stream *pxmpp_component_stream(pxmpp_component *c) { return c ? c->s : NULL; }
pxmpp_arena *pxmpp_component_arena(pxmpp_component *c) { return c ? c->app : NULL; }
