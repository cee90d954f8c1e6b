/* The client session: a state machine over pxmpp_stream (RFC 6120 §4-§8, RFC 6121). */
#include "guard.h"
#include "internal.h"
#include "scram.h"

#include <pxmpp/build.h>
#include <pxmpp/client.h>

#include <gsasl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef enum pkind { P_USER, P_BIND, P_SESSION, P_ROSTER_GET } pkind;

typedef struct pending {
    bool used;
    pkind kind;
    char id[48];
    char *to;             /* the JID the request went to (NULL: the account) */
    uint64_t timeout, deadline; /* deadline 0: not yet anchored to the app clock */
    pxmpp_iq_callback cb;
    pxmpp_roster_callback rcb;
    void *cb_user;
} pending;

/* XEP-0198: where stream management stands for the session */
typedef enum smphase { SM_NONE, SM_ENABLING, SM_ON, SM_RESUMING } smphase;

/* XEP-0198: a stanza sent and not yet acknowledged: its sequence number and the bytes written */
typedef struct sm_entry {
    uint32_t seq;
    char *data;
    size_t len;
} sm_entry;

struct pxmpp_client {
    pxmpp_mem mem;
    pxmpp_client_callbacks cb;
    void *user;
    char *password, *resource, *mechs;
    pxmpp_jid account; /* normalized; resource part unused */
    char bare[PXMPP_JID_STR_MAX + 1];
    char bound[PXMPP_JID_STR_MAX + 1];
    pxmpp_tls_policy tls;
    bool allow_plain;
    uint64_t iq_timeout;

    pxmpp_stream *s;
    pxmpp_client_state state;
    bool secure, authenticated, rosterver, preapproval, session_needed, sasl_done;
    bool tls_pending;      /* <proceed/> received: start_tls runs when the feed returns */
    bool have_clock;       /* pxmpp_client_tick() was called at least once */
    Gsasl *gsasl;
    Gsasl_session *gs;    /* mechanisms other than SCRAM */
    pxmpp__scram *scram;  /* SCRAM mechanisms */
    char mech[48];
    bool default_mechs, require_cb;
    uint32_t max_iter;
    char *lang;
    pxmpp_cb_type app_cb_type; /* channel-binding data handed to pxmpp_client_tls_ready() */
    unsigned char app_cb[512];
    size_t app_cb_len;
    pxmpp_cb_type cb_used;
    bool features_expected; /* our stream header is out and its features have not come yet */
    pxmpp_stream_error_condition stream_cond;
    pxmpp__guard guard;     /* callbacks may free the session: see guard.h */

    pending *pend;
    size_t npend;
    uint64_t now;

    int err;
    char reason[256];

    pxmpp_arena *tmp, *app, *roster_arena;
    const pxmpp_roster_item *roster;
    size_t roster_count;
    const char *roster_ver;

    /* XEP-0198 stream management, and reconnection */
    pxmpp_sm_policy sm_policy;
    uint32_t sm_ack_every;
    size_t sm_max_queue;
    uint32_t sm_max_resume;
    uint64_t sm_ack_delay;
    smphase sm_phase;
    bool sm_offered;       /* the features after authentication offer it, and the policy allows it */
    bool sm_resumable;     /* the server granted resumption; sm_id is set */
    bool sm_r_sent;        /* our <r/> has not been answered yet */
    char *sm_id, *sm_location;
    uint32_t sm_in;        /* 'h': stanzas handled since <enabled/> */
    uint32_t sm_out;       /* stanzas sent since <enable/> */
    uint32_t sm_acked;     /* the server's last 'h' */
    uint32_t sm_since_r;   /* stanzas sent since our last <r/> */
    uint64_t sm_r_due;     /* app time when pxmpp_client_tick() sends <r/> (0: not anchored yet) */
    sm_entry *sm_q;        /* the stanzas not acknowledged, oldest first */
    size_t sm_qlen, sm_qcap;
    int sm_capture;        /* SMC_*: the write of a stanza to keep */
    sm_entry sm_captured;
    int in_parse;          /* inside pxmpp_client_feed() or _finish(): no reconnection */
};

/* XEP-0198 hooks into the code above the stream management section */
static int sm_before_send(pxmpp_client *c, const pxmpp_type_desc *d);
static int sm_after_send(pxmpp_client *c, int rc);
static void sm_capture(pxmpp_client *c, const char *data, size_t len);
static void sm_count_in(pxmpp_client *c, const pxmpp_type_desc *d);
static bool sm_element(pxmpp_client *c, const pxmpp_type_desc *d, const void *obj);
static bool sm_enable(pxmpp_client *c);
static bool sm_resume(pxmpp_client *c, const pxmpp_stream_features *f);
static void sm_end(pxmpp_client *c, bool report);
static void sm_tick(pxmpp_client *c);
static void sm_before_close(pxmpp_client *c);
static int new_stream(pxmpp_client *c, pxmpp_stream **out);

/* ---- helpers ----------------------------------------------------------------- */

static char *mdup(const pxmpp_mem *m, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = m->malloc(n, m->ud);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Secrets are overwritten with libcrypto's OPENSSL_cleanse, which the compiler cannot drop,
   like everywhere else in the library. */
static void wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

static void mfree_secret(const pxmpp_mem *m, char *s)
{
    if (!s)
        return;
    wipe(s, strlen(s));
    m->free(s, m->ud);
}

/* Frees a string GNU SASL allocated after wiping it (it may hold a SASL message). */
static void gsasl_free_secret(char *s)
{
    if (s)
        wipe(s, strlen(s));
    gsasl_free(s);
}

static void clog_(pxmpp_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void clog_(pxmpp_client *c, const char *fmt, ...)
{
    if (!c->cb.log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->cb.log(c->user, line);
}

static void expire_all(pxmpp_client *c, int status);

static void fail(pxmpp_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(pxmpp_client *c, int code, const char *fmt, ...)
{
    if (c->err)
        return;
    c->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
    c->state = PXMPP_CLIENT_FAILED;
    clog_(c, "failed: %s", c->reason);
    (void)pxmpp_stream_close(c->s); /* ends our side of the stream if it was open */
    expire_all(c, PXMPP_ERR_CLOSED);
    if (c->cb.failed && !c->guard.free_pending)
        c->cb.failed(c->user, code, c->stream_cond, c->reason);
}

/* Normalized comparison of two JID strings; bare_only compares without resources. */
static bool jid_eq(const char *a, const char *b, bool bare_only)
{
    if (!a || !b)
        return a == b;
    pxmpp_jid ja, jb;
    if (pxmpp_jid_parse(&ja, a, strlen(a), PXMPP_JID_NORMALIZE) ||
        pxmpp_jid_parse(&jb, b, strlen(b), PXMPP_JID_NORMALIZE))
        return false;
    return bare_only ? pxmpp_jid_equal_bare(&ja, &jb) : pxmpp_jid_equal(&ja, &jb);
}

static bool is_account_or_server(pxmpp_client *c, const char *jid)
{
    if (!jid)
        return true;
    if (jid_eq(jid, c->bare, false) || (c->bound[0] && jid_eq(jid, c->bound, false)))
        return true;
    pxmpp_jid j;
    if (pxmpp_jid_parse(&j, jid, strlen(jid), PXMPP_JID_NORMALIZE))
        return false;
    return !j.has_local && !j.has_resource && strcmp(j.domain, c->account.domain) == 0;
}

static int send_typed(pxmpp_client *c, const pxmpp_type_desc *d, const void *obj)
{
    int rc = sm_before_send(c, d); /* XEP-0198: room to keep a stanza */
    if (rc)
        return rc;
    rc = sm_after_send(c, pxmpp_stream_send(c->s, d, obj)); /* XEP-0198: keeps it until acknowledged */
    if (rc && rc <= PXMPP_ERR_FATAL)
        fail(c, rc, "cannot send: %s", pxmpp_strerror(rc));
    return rc;
}

static int open_stream(pxmpp_client *c)
{
    pxmpp_stream_header h = { .to = c->account.domain, .version = "1.0", .lang = c->lang };
    char from[PXMPP_JID_STR_MAX + 1];
    if (c->secure) {
        /* RFC 6120 §4.7.1: include 'from' once the stream is protected */
        snprintf(from, sizeof from, "%s", c->bare);
        h.from = from;
    }
    int rc = pxmpp_stream_open(c->s, &h);
    if (rc)
        fail(c, rc, "cannot open the stream: %s", pxmpp_strerror(rc));
    else
        c->features_expected = true;
    return rc;
}

/* ---- pending iqs ---------------------------------------------------------------- */

static pending *pend_alloc(pxmpp_client *c)
{
    for (size_t i = 0; i < c->npend; i++)
        if (!c->pend[i].used)
            return &c->pend[i];
    return NULL;
}

static void pend_release(pxmpp_client *c, pending *p)
{
    if (p->to)
        c->mem.free(p->to, c->mem.ud);
    memset(p, 0, sizeof *p);
}

static void roster_done(pxmpp_client *c, pending *p, const pxmpp_iq *reply, int status);

static void pend_complete(pxmpp_client *c, pending *p, const pxmpp_iq *reply, int status)
{
    pending copy = *p;
    p->to = NULL;
    pend_release(c, p);
    switch (copy.kind) {
    case P_USER:
        if (copy.cb)
            copy.cb(copy.cb_user, reply, status);
        break;
    case P_ROSTER_GET:
        roster_done(c, &copy, reply, status);
        break;
    default:
        break;
    }
    if (copy.to)
        c->mem.free(copy.to, c->mem.ud);
}

static void expire_all(pxmpp_client *c, int status)
{
    if (c->sm_resumable) /* XEP-0198: the replies may come once the session is resumed */
        return;
    for (size_t i = 0; i < c->npend; i++)
        if (c->pend[i].used)
            pend_complete(c, &c->pend[i], NULL, status);
}

static int track_and_send(pxmpp_client *c, pxmpp_iq *iq, pkind kind, uint64_t timeout, pxmpp_iq_callback cb,
                          pxmpp_roster_callback rcb, void *cb_user)
{
    pending *p = pend_alloc(c);
    if (!p)
        return PXMPP_ERR_LIMIT;
    char id[48];
    if (!iq->id)
        iq->id = pxmpp_stream_make_id(c->s, id, sizeof id);
    if (strlen(iq->id) >= sizeof p->id)
        return PXMPP_ERR_INVALID_ARGUMENT;
    char *to = NULL;
    if (iq->to && !(to = mdup(&c->mem, iq->to)))
        return PXMPP_ERR_NOMEM;
    int rc = send_typed(c, &pxmpp_iq_desc, iq);
    if (rc) {
        if (to)
            c->mem.free(to, c->mem.ud);
        return rc;
    }
    p->used = true;
    p->kind = kind;
    snprintf(p->id, sizeof p->id, "%s", iq->id);
    p->to = to;
    p->timeout = timeout ? timeout : c->iq_timeout;
    p->deadline = c->have_clock ? c->now + p->timeout : 0; /* anchored at the first tick otherwise */
    p->cb = cb;
    p->rcb = rcb;
    p->cb_user = cb_user;
    return 0;
}

/* ---- roster cache ----------------------------------------------------------------- */

/* Replaces the cache with old items (minus jid) plus the new ones; NULL new means a full replace. */
static int roster_replace(pxmpp_client *c, const pxmpp_roster_item *items, size_t n, bool full, const char *ver)
{
    pxmpp_arena *a;
    int rc = pxmpp_arena_new(&a, &c->mem, 0);
    if (rc)
        return rc;
    size_t cap = n + (full ? 0 : c->roster_count);
    pxmpp_roster_item *arr = cap ? pxmpp_arena_alloc(a, cap * sizeof *arr) : NULL;
    if (cap && !arr)
        goto nomem;
    size_t k = 0;
    if (!full) {
        for (size_t i = 0; i < c->roster_count; i++) {
            bool replaced = false;
            for (size_t j = 0; j < n; j++)
                if (jid_eq(c->roster[i].jid, items[j].jid, true))
                    replaced = true;
            if (replaced)
                continue;
            pxmpp_roster_item *cp = pxmpp_copy(a, &pxmpp_roster_item_desc, &c->roster[i]);
            if (!cp)
                goto nomem;
            arr[k++] = *cp;
        }
    }
    for (size_t j = 0; j < n; j++) {
        if (items[j].subscription == PXMPP_ROSTER_SUBSCRIPTION_REMOVE)
            continue;
        pxmpp_roster_item *cp = pxmpp_copy(a, &pxmpp_roster_item_desc, &items[j]);
        if (!cp)
            goto nomem;
        arr[k++] = *cp;
    }
    const char *v = ver ? pxmpp_arena_strdup(a, ver) : (c->roster_ver ? pxmpp_arena_strdup(a, c->roster_ver) : NULL);
    pxmpp_arena_free(c->roster_arena);
    c->roster_arena = a;
    c->roster = arr;
    c->roster_count = k;
    c->roster_ver = v;
    return 0;
nomem:
    pxmpp_arena_free(a);
    return PXMPP_ERR_NOMEM;
}

static void roster_done(pxmpp_client *c, pending *p, const pxmpp_iq *reply, int status)
{
    bool unchanged = false;
    if (status == 0 && reply) {
        const pxmpp_roster_query *q = pxmpp_iq_get_roster_query(reply);
        if (q) {
            if (roster_replace(c, q->items, q->items_count, true, q->ver))
                status = PXMPP_ERR_NOMEM;
        } else {
            unchanged = true; /* RFC 6121 §2.6.3: an empty result means the stored version is current */
        }
    }
    if (status == 0) {
        if (unchanged)
            clog_(c, "roster unchanged (version %s)", c->roster_ver ? c->roster_ver : "-");
        else
            clog_(c, "roster received: %zu items (version %s)", c->roster_count, c->roster_ver ? c->roster_ver : "-");
    }
    if (p->rcb)
        p->rcb(p->cb_user, status, c->roster, c->roster_count, c->roster_ver, unchanged);
}

/* ---- SASL ------------------------------------------------------------------------------ */

static bool offered(const pxmpp_sasl_mechanisms *m, const char *name)
{
    for (size_t i = 0; i < m->mechanisms_count; i++)
        if (strcmp(m->mechanisms[i], name) == 0)
            return true;
    return false;
}

static bool ends_with_plus(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, "-PLUS") == 0;
}

/* SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants: the mechanisms the library composes. */
static bool scram_mech(const char *name, bool *sha256, bool *plus)
{
    *plus = ends_with_plus(name);
    size_t n = strlen(name) - (*plus ? 5 : 0);
    if (n == 11 && strncmp(name, "SCRAM-SHA-1", n) == 0)
        *sha256 = false;
    else if (n == 13 && strncmp(name, "SCRAM-SHA-256", n) == 0)
        *sha256 = true;
    else
        return false;
    return true;
}

const char *pxmpp_cb_type_str(pxmpp_cb_type t)
{
    switch (t) {
    case PXMPP_CB_TLS_EXPORTER:
        return "tls-exporter";
    case PXMPP_CB_TLS_UNIQUE:
        return "tls-unique";
    case PXMPP_CB_TLS_SERVER_END_POINT:
        return "tls-server-end-point";
    default:
        return NULL;
    }
}

static bool announced(const pxmpp_sasl_cb *ann, pxmpp_cb_type t)
{
    for (size_t i = 0; ann && i < ann->channel_bindings_count; i++)
        if (ann->channel_bindings[i].type && strcmp(ann->channel_bindings[i].type, pxmpp_cb_type_str(t)) == 0)
            return true;
    return false;
}


/* Asks the app for channel-binding data of type t (the callback first, then what
   pxmpp_client_tls_ready() was given). */
static bool get_cb(pxmpp_client *c, pxmpp_cb_type t, unsigned char *buf, size_t cap, size_t *len)
{
    *len = 0;
    if (c->cb.channel_binding && c->cb.channel_binding(c->user, t, buf, cap, len) == 0 && *len && *len <= cap)
        return true;
    if (c->app_cb_len && c->app_cb_type == t) {
        memcpy(buf, c->app_cb, c->app_cb_len);
        *len = c->app_cb_len;
        return true;
    }
    *len = 0;
    return false;
}

/* The channel-binding data of the connection, each type asked for once per SASL start. */
typedef struct cb_set {
    unsigned char buf[PXMPP_CB_TLS_SERVER_END_POINT + 1][256];
    size_t len[PXMPP_CB_TLS_SERVER_END_POINT + 1]; /* 0: that type is not available */
} cb_set;

static bool cb_collect(pxmpp_client *c, cb_set *d)
{
    bool any = false;
    memset(d->len, 0, sizeof d->len);
    for (pxmpp_cb_type t = PXMPP_CB_TLS_EXPORTER; c->secure && t <= PXMPP_CB_TLS_SERVER_END_POINT; t++)
        any |= get_cb(c, t, d->buf[t], sizeof d->buf[t], &d->len[t]);
    return any;
}

/* Picks the channel-binding type of a -PLUS mechanism by the policy of client.h, from the
   data collected; copies its data into buf. */
static pxmpp_cb_type pick_cb(const cb_set *d, const pxmpp_sasl_cb *ann, unsigned char *buf, size_t cap, size_t *len)
{
    static const pxmpp_cb_type by_strength[] = { PXMPP_CB_TLS_EXPORTER, PXMPP_CB_TLS_UNIQUE, PXMPP_CB_TLS_SERVER_END_POINT };
    static const pxmpp_cb_type legacy[] = { PXMPP_CB_TLS_UNIQUE, PXMPP_CB_TLS_EXPORTER, PXMPP_CB_TLS_SERVER_END_POINT };
    bool have_ann = ann && ann->channel_bindings_count;
    const pxmpp_cb_type *order = have_ann ? by_strength : legacy;
    for (size_t i = 0; i < 3; i++) {
        if (have_ann && !announced(ann, order[i]))
            continue;
        if (d->len[order[i]] && d->len[order[i]] <= cap) {
            memcpy(buf, d->buf[order[i]], d->len[order[i]]);
            *len = d->len[order[i]];
            return order[i];
        }
    }
    *len = 0;
    return PXMPP_CB_NONE;
}

/* Mechanisms that never reveal the password: the only ones used without TLS by default. */
static bool safe_without_tls(const char *name)
{
    return strcmp(name, "SCRAM-SHA-1") == 0 || strcmp(name, "SCRAM-SHA-256") == 0;
}

static void send_secret(pxmpp_client *c, const pxmpp_type_desc *d, const void *obj)
{
    send_typed(c, d, obj);
    pxmpp__stream_wipe_output(c->s); /* the serialized SASL message held credentials */
}

static void sasl_reset(pxmpp_client *c)
{
    if (c->gs)
        gsasl_finish(c->gs);
    c->gs = NULL;
    pxmpp__scram_free(c->scram);
    c->scram = NULL;
}

/* Starts a SCRAM exchange bound (or not) as the policy says; false when it could not start. */
static bool start_scram(pxmpp_client *c, bool sha256, char flag, pxmpp_cb_type t, const unsigned char *cb, size_t cblen,
                        char **first)
{
    if (pxmpp__scram_new(&c->scram, &c->mem, sha256, flag, pxmpp_cb_type_str(t), cb, cblen, c->max_iter) ||
        pxmpp__scram_client_first(c->scram, c->account.local, first)) {
        fail(c, PXMPP_ERR_AUTH, "SASL %s: cannot compose the first message", c->mech);
        return false;
    }
    c->cb_used = flag == 'p' ? t : PXMPP_CB_NONE;
    return true;
}

static bool start_gsasl(pxmpp_client *c, char **first)
{
    if (gsasl_client_start(c->gsasl, c->mech, &c->gs) != GSASL_OK) {
        fail(c, PXMPP_ERR_NO_MECHANISM, "cannot start SASL mechanism %s", c->mech);
        return false;
    }
    gsasl_property_set(c->gs, GSASL_AUTHID, c->account.local);
    gsasl_property_set(c->gs, GSASL_PASSWORD, c->password);
    gsasl_property_set(c->gs, GSASL_SERVICE, "xmpp");
    gsasl_property_set(c->gs, GSASL_HOSTNAME, c->account.domain);
    int rc = gsasl_step64(c->gs, "", first);
    if (rc == GSASL_OK)
        c->sasl_done = true;
    if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
        fail(c, PXMPP_ERR_AUTH, "SASL %s: %s", c->mech, gsasl_strerror(rc));
        return false;
    }
    return true;
}

static void start_sasl(pxmpp_client *c, const pxmpp_sasl_mechanisms *m, const pxmpp_sasl_cb *ann)
{
    bool server_plus = false;
    for (size_t i = 0; i < m->mechanisms_count; i++)
        server_plus |= ends_with_plus(m->mechanisms[i]);
    cb_set data;
    bool binding = cb_collect(c, &data);
    if (binding && ann && ann->channel_bindings_count && !server_plus) {
        wipe(&data, sizeof data);
        fail(c, PXMPP_ERR_AUTH, "the server announces channel-binding types but offers no -PLUS mechanism "
                                "(mechanisms stripped on the way?); no credentials sent");
        return;
    }
    unsigned char cb[512];
    size_t cblen = 0;
    pxmpp_cb_type t = PXMPP_CB_NONE;
    char list[256], flag = 'n';
    bool refused_cleartext = false, is_scram = false, sha256 = false;
    snprintf(list, sizeof list, "%s", c->mechs);
    c->mech[0] = '\0';
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && !c->mech[0]; tok = strtok_r(NULL, ",", &save)) {
        bool plus = false;
        is_scram = scram_mech(tok, &sha256, &plus);
        if (!offered(m, tok) || (!is_scram && !gsasl_client_support_p(c->gsasl, tok)))
            continue;
        if (!c->secure && !c->allow_plain && !safe_without_tls(tok)) {
            refused_cleartext = true;
            continue;
        }
        if (plus) {
            if (!binding)
                continue;
            t = pick_cb(&data, ann, cb, sizeof cb, &cblen);
            if (t == PXMPP_CB_NONE && ann && ann->channel_bindings_count) {
                wipe(&data, sizeof data);
                fail(c, PXMPP_ERR_AUTH, "no channel-binding type in common with the server; no credentials sent");
                return;
            }
            if (t == PXMPP_CB_NONE)
                continue;
            flag = 'p';
        } else if (c->require_cb) {
            continue;
        } else {
            /* RFC 5802 §6: "y" tells a server that does support binding that its -PLUS offer was lost */
            flag = is_scram && binding && !server_plus ? 'y' : 'n';
        }
        snprintf(c->mech, sizeof c->mech, "%s", tok);
    }
    wipe(&data, sizeof data);
    if (!c->mech[0]) {
        fail(c, PXMPP_ERR_NO_MECHANISM, "no acceptable SASL mechanism (wanted %s)%s%s", c->mechs,
             refused_cleartext ? "; mechanisms that reveal the password are refused without TLS" : "",
             c->require_cb ? "; channel binding is required" : "");
        return;
    }
    c->sasl_done = false;
    char *out = NULL;
    bool ok = is_scram ? start_scram(c, sha256, flag, t, cb, cblen, &out) : start_gsasl(c, &out);
    wipe(cb, sizeof cb);
    if (!ok) {
        gsasl_free_secret(out);
        return;
    }
    c->state = PXMPP_CLIENT_AUTH;
    clog_(c, "authenticating with %s%s%s", c->mech, flag == 'p' ? ", channel binding " : "",
          flag == 'p' ? pxmpp_cb_type_str(t) : flag == 'y' ? " (channel binding supported, not offered)" : "");
    pxmpp_sasl_auth auth = { .mechanism = c->mech, .initial_response = out && *out ? out : "=" };
    send_secret(c, &pxmpp_sasl_auth_desc, &auth);
    gsasl_free_secret(out);
}

/* One step of the exchange on the server's data (a challenge, or additional data with
   success): SCRAM's client-final message, the check of SCRAM's server-final message, or
   GNU SASL's next step.  Returns 0 (with *out to send, possibly NULL) or < 0 with why. */
static int sasl_next(pxmpp_client *c, const char *data, char **out, char *why, size_t cap)
{
    *out = NULL;
    if (c->sasl_done || (!c->scram && !c->gs)) {
        snprintf(why, cap, "the exchange is already complete");
        return -1;
    }
    if (c->scram && pxmpp__scram_iterations(c->scram) == 0)
        return pxmpp__scram_client_final(c->scram, c->password, data, out, why, cap);
    if (c->scram) {
        int rc = pxmpp__scram_verify(c->scram, data, why, cap);
        c->sasl_done = rc == 0;
        return rc;
    }
    int g = gsasl_step64(c->gs, data && strcmp(data, "=") != 0 ? data : "", out);
    c->sasl_done = g == GSASL_OK;
    if (g != GSASL_OK && g != GSASL_NEEDS_MORE) {
        snprintf(why, cap, "%s", gsasl_strerror(g));
        return -1;
    }
    return 0;
}

static void sasl_challenge(pxmpp_client *c, const char *data)
{
    char *out = NULL, why[200] = "";
    int rc = sasl_next(c, data, &out, why, sizeof why);
    if (rc) {
        gsasl_free_secret(out);
        pxmpp_sasl_abort ab = { 0 };
        send_typed(c, &pxmpp_sasl_abort_desc, &ab);
        fail(c, rc == PXMPP__SCRAM_LIMIT ? PXMPP_ERR_LIMIT : PXMPP_ERR_AUTH, "SASL %s challenge rejected: %s", c->mech,
             why);
        return;
    }
    pxmpp_sasl_response r = { .data = out && *out ? out : NULL };
    send_secret(c, &pxmpp_sasl_response_desc, &r);
    gsasl_free_secret(out);
}

static void sasl_success(pxmpp_client *c, const char *data)
{
    if (data && strcmp(data, "=") != 0) {
        char *out = NULL, why[200] = "";
        int rc = sasl_next(c, data, &out, why, sizeof why);
        gsasl_free_secret(out);
        if (rc || !c->sasl_done) {
            fail(c, PXMPP_ERR_AUTH, "SASL %s: the server's final message does not verify (%s)", c->mech,
                 rc ? why : "the exchange is not complete");
            return;
        }
    }
    if (!c->sasl_done) {
        fail(c, PXMPP_ERR_AUTH, "SASL %s: success without the server's proof (no server signature)", c->mech);
        return;
    }
    sasl_reset(c);
    c->authenticated = true;
    clog_(c, "authenticated with %s; restarting the stream", c->mech);
    if (pxmpp_stream_restart(c->s) == 0)
        open_stream(c);
}

/* ---- stream callbacks --------------------------------------------------------------------- */

static void send_bind(pxmpp_client *c)
{
    pxmpp_arena_reset(c->tmp);
    pxmpp_bind *b = pxmpp_arena_alloc(c->tmp, sizeof *b);
    pxmpp_iq *iq = b ? pxmpp_build_iq(c->tmp, PXMPP_IQ_TYPE_SET, NULL, "bind_1", &pxmpp_bind_desc, b) : NULL;
    if (!iq) {
        fail(c, PXMPP_ERR_NOMEM, "out of memory");
        return;
    }
    b->resource = c->resource;
    c->state = PXMPP_CLIENT_BINDING;
    clog_(c, "binding resource %s", c->resource ? c->resource : "(server-assigned)");
    int rc = track_and_send(c, iq, P_BIND, 0, NULL, NULL, NULL);
    if (rc && !c->err)
        fail(c, rc, "cannot send the bind request: %s", pxmpp_strerror(rc));
}

static void on_features(void *user, const pxmpp_stream_features *f)
{
    pxmpp_client *c = user;
    if (c->err || c->guard.free_pending)
        return;
    if (!c->features_expected) {
        /* RFC 6120 §4.3.2: features follow the receiving entity's stream header, once */
        fail(c, PXMPP_ERR_PROTOCOL, "unexpected <stream:features/> (not right after a stream header)");
        return;
    }
    c->features_expected = false;
    const pxmpp_starttls *tls = pxmpp_stream_features_get_starttls(f);
    if (!c->secure && !c->authenticated) {
        if (tls && c->tls != PXMPP_TLS_DISABLED) {
            clog_(c, "STARTTLS offered%s; negotiating", tls->required ? " (required)" : "");
            c->state = PXMPP_CLIENT_TLS;
            pxmpp_starttls st = { 0 };
            send_typed(c, &pxmpp_starttls_desc, &st);
            return;
        }
        if (c->tls == PXMPP_TLS_REQUIRED) {
            fail(c, PXMPP_ERR_TLS_REQUIRED, "TLS is required but the server does not offer STARTTLS; no credentials sent");
            return;
        }
        if (tls && tls->required) {
            fail(c, PXMPP_ERR_TLS_REQUIRED, "the server requires TLS, which is disabled");
            return;
        }
    }
    if (!c->authenticated) {
        const pxmpp_sasl_mechanisms *m = pxmpp_stream_features_get_sasl_mechanisms(f);
        if (!m) {
            fail(c, PXMPP_ERR_PROTOCOL, "the server offers no SASL mechanisms");
            return;
        }
        start_sasl(c, m, pxmpp_stream_features_get_sasl_cb(f));
        return;
    }
    c->rosterver = pxmpp_stream_features_get_roster_ver_feature(f) != NULL;
    c->preapproval = pxmpp_stream_features_get_pre_approval_feature(f) != NULL;
    const pxmpp_session *sess = pxmpp_stream_features_get_session(f);
    c->session_needed = sess && !sess->optional;
    if (!pxmpp_stream_features_get_bind(f)) {
        fail(c, PXMPP_ERR_PROTOCOL, "the server offers no resource binding after authentication");
        return;
    }
    if (sm_resume(c, f)) /* XEP-0198: <resume/> instead of binding */
        return;
    send_bind(c);
}

static void on_element(void *user, const pxmpp_type_desc *d, const void *obj, uint64_t offset)
{
    pxmpp_client *c = user;
    (void)offset;
    if (c->err || c->guard.free_pending)
        return;
    if (sm_element(c, d, obj)) /* XEP-0198 */
        return;
    if (d == &pxmpp_tls_proceed_desc && c->state == PXMPP_CLIENT_TLS && !c->tls_pending) {
        /* nothing after <proceed/> may be read as plaintext: stop here, and start TLS
           once the feed has returned (so the app is not re-entered from the parser) */
        c->tls_pending = true;
        (void)pxmpp_stream_pause(c->s);
        return;
    }
    if (d == &pxmpp_tls_failure_desc) {
        fail(c, PXMPP_ERR_TLS, "the server refused STARTTLS");
        return;
    }
    if (c->state != PXMPP_CLIENT_AUTH || (!c->gs && !c->scram)) {
        if (d != &pxmpp_sasl_success_desc && d != &pxmpp_sasl_challenge_desc && d != &pxmpp_sasl_failure_desc)
            clog_(c, "ignoring unexpected <%s/>", d->local);
        else
            fail(c, PXMPP_ERR_PROTOCOL, "unexpected SASL <%s/>", d->local);
        return;
    }
    if (d == &pxmpp_sasl_challenge_desc) {
        sasl_challenge(c, ((const pxmpp_sasl_challenge *)obj)->data);
    } else if (d == &pxmpp_sasl_success_desc) {
        sasl_success(c, ((const pxmpp_sasl_success *)obj)->data);
    } else if (d == &pxmpp_sasl_failure_desc) {
        const pxmpp_sasl_failure *fl = obj;
        const char *cond = pxmpp_sasl_condition_str(fl->condition);
        sasl_reset(c);
        fail(c, PXMPP_ERR_AUTH, "authentication failed: %s%s%s", cond ? cond : "unknown condition",
             fl->texts_count ? ": " : "", fl->texts_count ? fl->texts[0].text : "");
    }
}

static bool session_up(const pxmpp_client *c)
{
    return !c->err && !c->guard.free_pending && (c->state == PXMPP_CLIENT_READY || c->state == PXMPP_CLIENT_CLOSING);
}

static void send_iq_reply(pxmpp_client *c, const pxmpp_iq *req, bool error, pxmpp_stanza_error_condition cond)
{
    pxmpp_arena_reset(c->tmp);
    pxmpp_iq *r = error ? pxmpp_build_iq_error(c->tmp, req, PXMPP_STANZA_ERROR_TYPE_CANCEL, cond)
                        : pxmpp_build_iq_result(c->tmp, req);
    if (r)
        send_typed(c, &pxmpp_iq_desc, r);
}

static void session_ready(pxmpp_client *c)
{
    if (sm_enable(c)) /* XEP-0198: `ready` follows <enabled/> or <failed/> */
        return;
    c->state = PXMPP_CLIENT_READY;
    clog_(c, "session ready");
    if (c->cb.ready)
        c->cb.ready(c->user, c->bound);
}

static void handle_reply(pxmpp_client *c, const pxmpp_iq *iq)
{
    pending *p = NULL;
    for (size_t i = 0; i < c->npend; i++)
        if (c->pend[i].used && strcmp(c->pend[i].id, iq->id) == 0)
            p = &c->pend[i];
    if (!p) {
        clog_(c, "dropping an iq %s with unknown id '%s'", pxmpp_iq_type_str(iq->type), iq->id);
        return;
    }
    bool ok = (!p->to || is_account_or_server(c, p->to)) ? is_account_or_server(c, iq->from) : jid_eq(iq->from, p->to, false);
    if (!ok) {
        clog_(c, "dropping a reply to '%s' from '%s': the request went to '%s'", iq->id, iq->from ? iq->from : "(none)",
             p->to ? p->to : "(the account)");
        return;
    }
    int status = iq->type == PXMPP_IQ_TYPE_RESULT ? 0 : PXMPP_ERR_IQ_ERROR;
    if (p->kind == P_BIND) {
        pend_release(c, p);
        const pxmpp_bind *b = pxmpp_iq_get_bind(iq);
        if (status || !b || !b->jid) {
            const char *cond = iq->error ? pxmpp_stanza_error_condition_str(iq->error->condition) : NULL;
            fail(c, PXMPP_ERR_PROTOCOL, "resource binding failed%s%s", cond ? ": " : "", cond ? cond : "");
            return;
        }
        snprintf(c->bound, sizeof c->bound, "%s", b->jid);
        clog_(c, "bound as %s", c->bound);
        if (c->session_needed) {
            pxmpp_arena_reset(c->tmp);
            pxmpp_session *se = pxmpp_arena_alloc(c->tmp, sizeof *se);
            pxmpp_iq *rq = se ? pxmpp_build_iq(c->tmp, PXMPP_IQ_TYPE_SET, NULL, "session_1", &pxmpp_session_desc, se) : NULL;
            if (!rq || track_and_send(c, rq, P_SESSION, 0, NULL, NULL, NULL))
                fail(c, PXMPP_ERR_PROTOCOL, "cannot send the session request");
            return;
        }
        session_ready(c);
        return;
    }
    if (p->kind == P_SESSION) {
        pend_release(c, p);
        if (status)
            fail(c, PXMPP_ERR_PROTOCOL, "session establishment failed");
        else
            session_ready(c);
        return;
    }
    pend_complete(c, p, iq, status);
}

static void on_iq(void *user, const pxmpp_iq *iq)
{
    pxmpp_client *c = user;
    sm_count_in(c, &pxmpp_iq_desc);
    if (c->err)
        return;
    if (iq->type == PXMPP_IQ_TYPE_RESULT || iq->type == PXMPP_IQ_TYPE_ERROR) {
        handle_reply(c, iq);
        return;
    }
    if (!session_up(c)) {
        clog_(c, "ignoring an iq %s before the session is established", pxmpp_iq_type_str(iq->type));
        return;
    }
    const pxmpp_roster_query *q = pxmpp_iq_get_roster_query(iq);
    if (q && iq->type == PXMPP_IQ_TYPE_SET) {
        /* RFC 6121 §2.1.6: a push is accepted only from the account itself */
        if (iq->from && !jid_eq(iq->from, c->bare, false)) {
            clog_(c, "ignoring a roster push from '%s'", iq->from);
            return;
        }
        if (q->items_count != 1) {
            send_iq_reply(c, iq, true, PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST);
            return;
        }
        if (roster_replace(c, q->items, 1, false, q->ver)) {
            send_iq_reply(c, iq, true, PXMPP_STANZA_ERROR_CONDITION_RESOURCE_CONSTRAINT);
            return;
        }
        send_iq_reply(c, iq, false, 0);
        clog_(c, "roster push: %s %s", q->items[0].jid, pxmpp_roster_subscription_str(q->items[0].subscription));
        if (c->cb.roster_push)
            c->cb.roster_push(c->user, &q->items[0], q->ver);
        return;
    }
    if (pxmpp_iq_get_ping(iq) && iq->type == PXMPP_IQ_TYPE_GET) {
        send_iq_reply(c, iq, false, 0);
        return;
    }
    if (!c->cb.iq_request || !c->cb.iq_request(c->user, iq))
        send_iq_reply(c, iq, true, PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE);
}

static void on_message(void *user, const pxmpp_message *m)
{
    pxmpp_client *c = user;
    sm_count_in(c, &pxmpp_message_desc);
    if (!session_up(c)) {
        clog_(c, "ignoring a message before the session is established");
        return;
    }
    if (c->cb.message)
        c->cb.message(c->user, m);
}

static void on_presence(void *user, const pxmpp_presence *p)
{
    pxmpp_client *c = user;
    sm_count_in(c, &pxmpp_presence_desc);
    if (!session_up(c)) {
        clog_(c, "ignoring a presence before the session is established");
        return;
    }
    if (p->type == PXMPP_PRESENCE_TYPE_SUBSCRIBE && c->cb.subscription_request)
        c->cb.subscription_request(c->user, p);
    else if (c->cb.presence)
        c->cb.presence(c->user, p);
}

static void on_invalid(void *user, const pxmpp_type_desc *d, const void *partial, const pxmpp_diag *why, uint64_t off)
{
    pxmpp_client *c = user;
    (void)off;
    sm_count_in(c, d);
    clog_(c, "invalid <%s/> at %s: %s", d->local, why->path, why->reason);
    if (d == &pxmpp_iq_desc) {
        const pxmpp_iq *iq = partial;
        if (iq->id && (iq->type == PXMPP_IQ_TYPE_GET || iq->type == PXMPP_IQ_TYPE_SET))
            send_iq_reply(c, iq, true, PXMPP_STANZA_ERROR_CONDITION_BAD_REQUEST);
    }
}

static void on_stream_error(void *user, const pxmpp_stream_error *e)
{
    pxmpp_client *c = user;
    const char *cond = pxmpp_stream_error_condition_str(e->condition);
    if (!c->err)
        c->stream_cond = e->condition;
    int code = c->state == PXMPP_CLIENT_AUTH && e->condition == PXMPP_STREAM_ERROR_CONDITION_NOT_AUTHORIZED
                   ? PXMPP_ERR_AUTH
                   : PXMPP_ERR_PROTOCOL;
    fail(c, code, "the server sent a stream error: %s%s%s", cond ? cond : "unknown",
         e->texts_count ? ": " : "", e->texts_count ? e->texts[0].text : "");
}

static void on_error(void *user, int code, const char *reason, uint64_t offset)
{
    pxmpp_client *c = user;
    fail(c, code == PXMPP_ERR_WRITE ? PXMPP_ERR_WRITE : PXMPP_ERR_PROTOCOL, "stream error at byte %llu: %s",
         (unsigned long long)offset, reason);
}

static void on_opened(void *user, const pxmpp_stream_header *h)
{
    pxmpp_client *c = user;
    clog_(c, "stream opened by %s (id %s)", h->from ? h->from : "?", h->id ? h->id : "?");
}

static void on_closed(void *user)
{
    pxmpp_client *c = user;
    sm_end(c, true); /* XEP-0198: a closed stream ends the session */
    if (c->state != PXMPP_CLIENT_FAILED)
        c->state = PXMPP_CLIENT_CLOSED;
    clog_(c, "stream closed by the server");
    (void)pxmpp_stream_close(c->s); /* RFC 6120 §4.4: close our side too (no-op if already closed) */
    expire_all(c, PXMPP_ERR_CLOSED);
    if (c->cb.closed && !c->guard.free_pending)
        c->cb.closed(c->user);
}

static int on_write(void *user, const char *data, size_t len)
{
    pxmpp_client *c = user;
    sm_capture(c, data, len); /* XEP-0198: the bytes of a stanza to keep */
    return c->cb.write(c->user, data, len);
}

/* ---- XEP-0198 stream management, and reconnection ---------------------------------------------- */

enum { SMC_NONE, SMC_ARMED, SMC_KEPT, SMC_NOMEM };

static bool is_stanza(const pxmpp_type_desc *d)
{
    return d == &pxmpp_message_desc || d == &pxmpp_presence_desc || d == &pxmpp_iq_desc;
}

/* Outbound stanzas count from our <enable/> on (XEP-0198 §4). */
static bool sm_counts_out(const pxmpp_client *c, const pxmpp_type_desc *d)
{
    return (c->sm_phase == SM_ENABLING || c->sm_phase == SM_ON) && is_stanza(d);
}

static void sm_request(pxmpp_client *c)
{
    pxmpp_sm_request r = { 0 };
    c->sm_since_r = 0;
    c->sm_r_sent = true;
    send_typed(c, &pxmpp_sm_request_desc, &r);
}

static void sm_answer(pxmpp_client *c)
{
    pxmpp_sm_ack a = { .meta.present = PXMPP_SM_ACK_HAS_H, .h = c->sm_in };
    send_typed(c, &pxmpp_sm_ack_desc, &a);
}

static int sm_before_send(pxmpp_client *c, const pxmpp_type_desc *d)
{
    if (!sm_counts_out(c, d))
        return 0;
    if (c->sm_qlen >= c->sm_max_queue) {
        clog_(c, "%zu stanzas unacknowledged: the stream management queue is full", c->sm_qlen);
        if (!c->sm_r_sent)
            sm_request(c);
        return c->err ? c->err : PXMPP_ERR_LIMIT;
    }
    if (c->sm_qlen == c->sm_qcap) {
        size_t cap = c->sm_qcap ? c->sm_qcap * 2 : 16;
        if (cap > c->sm_max_queue)
            cap = c->sm_max_queue;
        sm_entry *q = c->mem.realloc(c->sm_q, cap * sizeof *q, c->mem.ud);
        if (!q)
            return PXMPP_ERR_NOMEM;
        c->sm_q = q;
        c->sm_qcap = cap;
    }
    c->sm_capture = SMC_ARMED;
    return 0;
}

static void sm_capture(pxmpp_client *c, const char *data, size_t len)
{
    if (c->sm_capture != SMC_ARMED)
        return;
    char *copy = c->mem.malloc(len ? len : 1, c->mem.ud);
    if (copy)
        memcpy(copy, data, len);
    c->sm_captured = (sm_entry){ .data = copy, .len = len };
    c->sm_capture = copy ? SMC_KEPT : SMC_NOMEM;
}

static int sm_after_send(pxmpp_client *c, int rc)
{
    int st = c->sm_capture;
    sm_entry e = c->sm_captured;
    c->sm_capture = SMC_NONE;
    c->sm_captured = (sm_entry){ 0 };
    if (st == SMC_NONE)
        return rc;
    if (rc && (rc != PXMPP_ERR_WRITE || st != SMC_KEPT)) { /* not sent */
        c->mem.free(e.data, c->mem.ud);
        return rc;
    }
    if (st != SMC_KEPT) { /* sent, but it cannot be resent: the counts would not match any more */
        c->sm_resumable = false;
        fail(c, PXMPP_ERR_NOMEM, "out of memory keeping a stanza for stream management");
        return PXMPP_ERR_NOMEM;
    }
    /* sent, or perhaps sent when the write failed: kept either way, the server's 'h' tells */
    e.seq = ++c->sm_out;
    c->sm_q[c->sm_qlen++] = e;
    if (rc)
        return rc;
    if (c->sm_since_r++ == 0)
        c->sm_r_due = c->have_clock ? c->now + c->sm_ack_delay : 0;
    if (c->sm_since_r >= c->sm_ack_every && c->sm_phase == SM_ON)
        sm_request(c);
    return 0;
}

/* Inbound stanzas count from <enabled/> on, each once it was read completely (the stream
   delivers nothing before its end tag), whatever the client does with it afterwards. */
static void sm_count_in(pxmpp_client *c, const pxmpp_type_desc *d)
{
    if (c->sm_phase == SM_ON && !c->err && is_stanza(d))
        c->sm_in++;
}

static void sm_drop(pxmpp_client *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c->mem.free(c->sm_q[i].data, c->mem.ud);
    memmove(c->sm_q, c->sm_q + n, (c->sm_qlen - n) * sizeof *c->sm_q);
    c->sm_qlen -= n;
}

/* Ends the stream management session: forgets its state and, when report is set, hands every
   stanza never acknowledged to `stanza_lost` (after the state is clear: the app may call in). */
static void sm_end(pxmpp_client *c, bool report)
{
    sm_entry *q = c->sm_q;
    size_t n = c->sm_qlen;
    c->sm_q = NULL;
    c->sm_qlen = c->sm_qcap = 0;
    c->mem.free(c->sm_id, c->mem.ud);
    c->mem.free(c->sm_location, c->mem.ud);
    c->sm_id = c->sm_location = NULL;
    c->sm_phase = SM_NONE;
    c->sm_resumable = c->sm_r_sent = false;
    c->sm_in = c->sm_out = c->sm_acked = c->sm_since_r = 0;
    if (n && report)
        clog_(c, "%zu stanzas were never acknowledged", n);
    for (size_t i = 0; i < n; i++) {
        if (report && c->cb.stanza_lost)
            c->cb.stanza_lost(c->user, q[i].data, q[i].len);
        c->mem.free(q[i].data, c->mem.ud);
    }
    c->mem.free(q, c->mem.ud);
}

/* XEP-0198 §6: an 'h' above what was sent ends the stream with undefined-condition. */
static void sm_too_high(pxmpp_client *c, uint32_t h)
{
    uint32_t sent = c->sm_out;
    pxmpp_sm_handled_count_too_high t = {
        .meta.present = PXMPP_SM_HANDLED_COUNT_TOO_HIGH_HAS_H | PXMPP_SM_HANDLED_COUNT_TOO_HIGH_HAS_SENT_STANZAS,
        .h = h, .sent_stanzas = sent };
    char text[96];
    snprintf(text, sizeof text, "You acknowledged %lu stanzas, but I only sent you %lu so far.", (unsigned long)h,
             (unsigned long)sent);
    (void)pxmpp_stream_send_error_app(c->s, PXMPP_STREAM_ERROR_CONDITION_UNDEFINED_CONDITION, text,
                                      &pxmpp_sm_handled_count_too_high_desc, &t);
    sm_end(c, true);
    fail(c, PXMPP_ERR_PROTOCOL, "stream management: the server acknowledged %lu stanzas, %lu were sent",
         (unsigned long)h, (unsigned long)sent);
}

/* The server handled the stanzas up to h (modulo 2^32): they leave the queue. */
static bool sm_acked(pxmpp_client *c, int64_t h64)
{
    uint32_t h = (uint32_t)h64, n = h - c->sm_acked;
    if (n > c->sm_qlen) {
        sm_too_high(c, h);
        return false;
    }
    sm_drop(c, n);
    c->sm_acked = h;
    c->sm_r_sent = false;
    return true;
}

/* Called once the session is bound: <enable/> when offered; false when `ready` may come now. */
static bool sm_enable(pxmpp_client *c)
{
    if (c->sm_phase != SM_NONE || !c->sm_offered)
        return false;
    pxmpp_sm_enable e = { .resume = c->sm_policy == PXMPP_SM_RESUME };
    if (e.resume && c->sm_max_resume)
        e.max = c->sm_max_resume;
    sm_end(c, false); /* counting starts here (XEP-0198 §4) */
    c->sm_phase = SM_ENABLING;
    clog_(c, "enabling stream management%s", e.resume ? " with resumption" : "");
    send_typed(c, &pxmpp_sm_enable_desc, &e);
    return true;
}

static void sm_enabled(pxmpp_client *c, const pxmpp_sm_enabled *e)
{
    c->sm_phase = SM_ON;
    c->sm_in = 0;
    if (c->sm_policy == PXMPP_SM_RESUME && e->resume && e->id) {
        c->sm_id = mdup(&c->mem, e->id);
        c->sm_location = e->location ? mdup(&c->mem, e->location) : NULL;
        c->sm_resumable = c->sm_id != NULL;
    }
    clog_(c, "stream management on%s%s", c->sm_resumable ? "; resumable as " : "", c->sm_resumable ? c->sm_id : "");
    session_ready(c);
}

/* Not resumed: the former session's stanzas and iqs are given up and a new session begins. */
static void sm_fallback(pxmpp_client *c, const char *why)
{
    if (c->sm_phase != SM_NONE || c->sm_qlen || c->bound[0])
        clog_(c, "the former session is not resumed (%s)", why);
    sm_end(c, true);
    expire_all(c, PXMPP_ERR_CLOSED);
    c->bound[0] = '\0';
}

/* Called with the features after authentication; true when <resume/> went out instead of a bind. */
static bool sm_resume(pxmpp_client *c, const pxmpp_stream_features *f)
{
    c->sm_offered = c->sm_policy != PXMPP_SM_OFF && pxmpp_stream_features_get_sm_feature(f);
    if (!c->sm_offered || !c->sm_resumable || c->sm_phase != SM_ON) {
        sm_fallback(c, !c->sm_resumable ? "it cannot be resumed" : "the server does not offer stream management");
        return false;
    }
    pxmpp_sm_resume r = { .meta.present = PXMPP_SM_RESUME_HAS_H | PXMPP_SM_RESUME_HAS_PREVID, .previd = c->sm_id,
                          .h = c->sm_in };
    c->sm_phase = SM_RESUMING;
    c->state = PXMPP_CLIENT_BINDING;
    clog_(c, "resuming the session (%lu stanzas handled, %zu unacknowledged)", (unsigned long)c->sm_in, c->sm_qlen);
    send_typed(c, &pxmpp_sm_resume_desc, &r);
    return true;
}

static void sm_resumed(pxmpp_client *c, const pxmpp_sm_resumed *r)
{
    if (!r->previd || strcmp(r->previd, c->sm_id) != 0) {
        fail(c, PXMPP_ERR_PROTOCOL, "stream management: <resumed/> names another session");
        return;
    }
    c->sm_phase = SM_ON;
    if (!sm_acked(c, r->h))
        return;
    /* the rest again, byte for byte and in order; their sequence numbers are the ones they had */
    for (size_t i = 0; i < c->sm_qlen; i++)
        if (c->cb.write(c->user, c->sm_q[i].data, c->sm_q[i].len) < 0) {
            fail(c, PXMPP_ERR_WRITE, "write callback failed");
            return;
        }
    size_t resent = c->sm_qlen;
    c->sm_since_r = (uint32_t)resent;
    c->state = PXMPP_CLIENT_READY;
    clog_(c, "session resumed as %s; %zu stanzas sent again", c->bound, resent);
    if (resent)
        sm_request(c);
    if (c->cb.resumed && !c->err)
        c->cb.resumed(c->user, resent);
}

static void sm_failed(pxmpp_client *c, const pxmpp_sm_failed *f)
{
    const char *cond = pxmpp_stanza_error_condition_str(f->condition);
    if (c->sm_phase == SM_ENABLING) {
        clog_(c, "stream management refused: %s", cond ? cond : "no condition");
        c->sm_phase = SM_NONE;
        c->sm_offered = false;
        session_ready(c);
        return;
    }
    /* resumption refused; an 'h' still tells which stanzas arrived (XEP-0198 §5) */
    if ((f->meta.present & PXMPP_SM_FAILED_HAS_H) && (uint32_t)((uint32_t)f->h - c->sm_acked) <= c->sm_qlen) {
        sm_drop(c, (uint32_t)f->h - c->sm_acked);
        c->sm_acked = (uint32_t)f->h;
    }
    char why[64];
    snprintf(why, sizeof why, "refused: %s", cond ? cond : "no condition");
    sm_fallback(c, why);
    send_bind(c);
}

static bool sm_element(pxmpp_client *c, const pxmpp_type_desc *d, const void *obj)
{
    if (d == &pxmpp_sm_request_desc && c->sm_phase == SM_ON)
        sm_answer(c);
    else if (d == &pxmpp_sm_ack_desc && c->sm_phase == SM_ON)
        sm_acked(c, ((const pxmpp_sm_ack *)obj)->h);
    else if (d == &pxmpp_sm_enabled_desc && c->sm_phase == SM_ENABLING)
        sm_enabled(c, obj);
    else if (d == &pxmpp_sm_resumed_desc && c->sm_phase == SM_RESUMING)
        sm_resumed(c, obj);
    else if (d == &pxmpp_sm_failed_desc && (c->sm_phase == SM_ENABLING || c->sm_phase == SM_RESUMING))
        sm_failed(c, obj);
    else
        return false; /* not ours, or not now: on_element logs it */
    return true;
}

static void sm_tick(pxmpp_client *c)
{
    if (c->sm_phase != SM_ON || !c->sm_since_r || c->err || c->state != PXMPP_CLIENT_READY)
        return;
    if (!c->sm_r_due)
        c->sm_r_due = c->now + c->sm_ack_delay;
    else if (c->now >= c->sm_r_due)
        sm_request(c);
}

/* XEP-0198 §4: tell the server what arrived, and ask what it handled, before closing the
   stream; after our close tag the session cannot be resumed. */
static void sm_before_close(pxmpp_client *c)
{
    if (c->sm_phase == SM_ON && c->state == PXMPP_CLIENT_READY && !c->err) {
        sm_answer(c);
        if (c->sm_qlen)
            sm_request(c);
    }
    c->sm_resumable = false;
}

static int new_stream(pxmpp_client *c, pxmpp_stream **out)
{
    pxmpp_stream_callbacks scb = { .write = on_write, .opened = on_opened, .features = on_features,
                                   .message = on_message, .presence = on_presence, .iq = on_iq,
                                   .element = on_element, .stanza_invalid = on_invalid,
                                   .stream_error = on_stream_error, .error = on_error, .closed = on_closed };
    pxmpp_stream_config scfg = { .mem = &c->mem };
    return pxmpp_stream_new(out, PXMPP_ROLE_CLIENT, &scb, &scfg, c);
}

static int client_reconnect_(pxmpp_client *c)
{
    if (c->in_parse || c->state == PXMPP_CLIENT_IDLE)
        return PXMPP_ERR_STATE;
    pxmpp_stream *s;
    int rc = new_stream(c, &s);
    if (rc)
        return rc;
    pxmpp_stream_free(c->s);
    c->s = s;
    sasl_reset(c);
    wipe(c->app_cb, sizeof c->app_cb); /* the old connection's channel-binding data */
    c->app_cb_len = 0;
    c->app_cb_type = PXMPP_CB_NONE;
    c->cb_used = PXMPP_CB_NONE;
    c->features_expected = false;
    c->stream_cond = PXMPP_STREAM_ERROR_CONDITION_ABSENT;
    memset(c->mech, 0, sizeof c->mech);
    c->secure = c->authenticated = c->sasl_done = c->tls_pending = false;
    c->rosterver = c->preapproval = c->session_needed = false;
    c->err = 0;
    c->reason[0] = '\0';
    pxmpp_arena_reset(c->tmp);
    for (size_t i = 0; i < c->npend; i++) /* a bind or session request of the old stream is void */
        if (c->pend[i].used && (c->pend[i].kind == P_BIND || c->pend[i].kind == P_SESSION))
            pend_release(c, &c->pend[i]);
    if (c->sm_phase == SM_RESUMING)
        c->sm_phase = SM_ON;
    else if (c->sm_phase == SM_ENABLING)
        sm_end(c, true);
    c->sm_offered = c->sm_r_sent = false;
    c->state = PXMPP_CLIENT_IDLE;
    clog_(c, "connection dropped; %s", c->sm_resumable ? "the session will be resumed" : "a new session will follow");
    return 0;
}

bool pxmpp_client_sm_enabled(const pxmpp_client *c) { return c && (c->sm_phase == SM_ON || c->sm_phase == SM_RESUMING); }
bool pxmpp_client_can_resume(const pxmpp_client *c) { return c && c->sm_resumable; }
uint32_t pxmpp_client_sm_inbound(const pxmpp_client *c) { return c ? c->sm_in : 0; }
uint32_t pxmpp_client_sm_outbound(const pxmpp_client *c) { return c ? c->sm_out : 0; }
size_t pxmpp_client_sm_unacked(const pxmpp_client *c) { return c ? c->sm_qlen : 0; }
const char *pxmpp_client_sm_location(const pxmpp_client *c) { return c ? c->sm_location : NULL; }

static int client_sm_request_ack_(pxmpp_client *c)
{
    if (c->err)
        return c->err;
    if (c->state != PXMPP_CLIENT_READY || c->sm_phase != SM_ON)
        return PXMPP_ERR_STATE;
    sm_request(c);
    return c->err;
}

void pxmpp__client_sm_seed(pxmpp_client *c, uint32_t inbound, uint32_t outbound)
{
    if (c->sm_phase == SM_ON && !c->sm_qlen) {
        c->sm_in = inbound;
        c->sm_out = c->sm_acked = outbound;
    }
}

/* ---- public API --------------------------------------------------------------------------------- */

static bool known_mechanisms(const char *list)
{
    if (!list || !*list || strlen(list) >= 256)
        return false;
    for (const char *p = list; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == ','))
            return false;
    return true;
}

int pxmpp_client_new(pxmpp_client **out, const pxmpp_client_config *cfg, const pxmpp_client_callbacks *cb,
                     void *user)
{
    if (!out || !cfg || !cb || !cb->write || !cfg->jid || !cfg->password)
        return PXMPP_ERR_INVALID_ARGUMENT;
    *out = NULL;
    const char *mechs = cfg->mechanisms ? cfg->mechanisms
                                        : "SCRAM-SHA-256-PLUS,SCRAM-SHA-1-PLUS,SCRAM-SHA-256,SCRAM-SHA-1,PLAIN";
    if (!known_mechanisms(mechs))
        return PXMPP_ERR_INVALID_ARGUMENT;
    const pxmpp_mem *mem = cfg->mem ? cfg->mem : pxmpp_mem_default();
    pxmpp_client *c = mem->malloc(sizeof *c, mem->ud);
    if (!c)
        return PXMPP_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->mem = *mem;
    c->cb = *cb;
    c->user = user;
    c->tls = cfg->tls;
    c->allow_plain = cfg->allow_plain_without_tls;
    c->default_mechs = !cfg->mechanisms;
    c->require_cb = cfg->require_channel_binding;
    c->max_iter = cfg->max_scram_iterations ? cfg->max_scram_iterations : 600000;
    c->iq_timeout = cfg->default_iq_timeout_ms ? cfg->default_iq_timeout_ms : 30000;
    int rc = pxmpp_jid_parse(&c->account, cfg->jid, strlen(cfg->jid), PXMPP_JID_NORMALIZE);
    if (rc || !c->account.has_local) {
        mem->free(c, mem->ud);
        return PXMPP_ERR_INVALID_ARGUMENT;
    }
    pxmpp_jid bare;
    pxmpp_jid_bare(&bare, &c->account);
    pxmpp_jid_format(&bare, c->bare, sizeof c->bare);
    const char *res = cfg->resource ? cfg->resource : (c->account.has_resource ? c->account.resource : NULL);
    c->npend = cfg->max_pending_iqs ? cfg->max_pending_iqs : 256;
    c->password = mdup(mem, cfg->password);
    c->resource = res ? mdup(mem, res) : NULL;
    c->mechs = mdup(mem, mechs);
    c->lang = cfg->lang ? mdup(mem, cfg->lang) : NULL;
    c->pend = mem->malloc(c->npend * sizeof *c->pend, mem->ud);
    if (!c->password || (res && !c->resource) || !c->mechs || !c->pend || (cfg->lang && !c->lang)) {
        pxmpp_client_free(c);
        return PXMPP_ERR_NOMEM;
    }
    memset(c->pend, 0, c->npend * sizeof *c->pend);
    c->sm_policy = cfg->sm;
    c->sm_ack_every = cfg->sm_ack_every ? cfg->sm_ack_every : 5;
    c->sm_max_queue = cfg->sm_max_queue ? cfg->sm_max_queue : 1000;
    c->sm_max_resume = cfg->sm_max_resume_s;
    c->sm_ack_delay = cfg->sm_ack_delay_ms ? cfg->sm_ack_delay_ms : 5000;
    if ((rc = new_stream(c, &c->s)) ||
        (rc = pxmpp_arena_new(&c->tmp, mem, 0)) || (rc = pxmpp_arena_new(&c->app, mem, 0))) {
        pxmpp_client_free(c);
        return rc;
    }
    if (gsasl_init(&c->gsasl) != GSASL_OK) {
        pxmpp_client_free(c);
        return PXMPP_ERR_NOMEM;
    }
    *out = c;
    return 0;
}

static void destroy(pxmpp_client *c)
{
    if (c->pend)
        for (size_t i = 0; i < c->npend; i++)
            if (c->pend[i].to)
                c->mem.free(c->pend[i].to, c->mem.ud);
    c->mem.free(c->pend, c->mem.ud);
    sasl_reset(c);
    if (c->gsasl)
        gsasl_done(c->gsasl);
    pxmpp__stream_wipe_output(c->s);
    pxmpp_stream_free(c->s);
    pxmpp_arena_free(c->tmp);
    pxmpp_arena_free(c->app);
    pxmpp_arena_free(c->roster_arena);
    sm_end(c, false); /* XEP-0198: the queue goes without a word */
    mfree_secret(&c->mem, c->password);
    c->mem.free(c->resource, c->mem.ud);
    c->mem.free(c->mechs, c->mem.ud);
    c->mem.free(c->lang, c->mem.ud);
    pxmpp_mem m = c->mem;
    wipe(c, sizeof *c); /* channel-binding data, SASL state */
    m.free(c, m.ud);
}

void pxmpp_client_free(pxmpp_client *c)
{
    if (!c)
        return;
    if (pxmpp__guard_free(&c->guard, c->s))
        destroy(c);
}

/* Every public function that may run callbacks is wrapped (guard.h). */
static int leave(pxmpp_client *c, int rc)
{
    if (pxmpp__guard_leave(&c->guard))
        destroy(c);
    return rc;
}

static int client_start_(pxmpp_client *c)
{
    if (!c)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (c->state != PXMPP_CLIENT_IDLE)
        return PXMPP_ERR_STATE;
    c->state = PXMPP_CLIENT_CONNECTING;
    clog_(c, "opening the stream to %s", c->account.domain);
    return open_stream(c) ? c->err : 0;
}

static int client_feed_(pxmpp_client *c, const void *data, size_t len)
{
    if (!c)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (c->tls_pending && len) {
        fail(c, PXMPP_ERR_TLS, "unencrypted data while TLS is being negotiated");
        return c->err;
    }
    size_t consumed = 0;
    c->in_parse++;
    int rc = pxmpp_stream_feed_partial(c->s, data, len, &consumed);
    c->in_parse--;
    if (c->err)
        return c->err;
    if (c->tls_pending) {
        if (!pxmpp__all_space((const char *)data + consumed, len - consumed)) {
            /* bytes after <proceed/> in the same read: an injection attempt, or a broken server
               (white space, a line feed say, is dropped) */
            fail(c, PXMPP_ERR_TLS, "%zu unencrypted bytes followed <proceed/>", len - consumed);
            return c->err;
        }
        clog_(c, "server ready for TLS; handshake by the application");
        if ((!c->cb.start_tls || c->cb.start_tls(c->user) < 0) && !c->err)
            fail(c, PXMPP_ERR_TLS, "TLS could not be started");
        return c->err;
    }
    return rc == PXMPP_ERR_CLOSED ? 0 : rc;
}

static int client_finish_(pxmpp_client *c)
{
    if (!c)
        return PXMPP_ERR_INVALID_ARGUMENT;
    c->in_parse++;
    int rc = pxmpp_stream_finish(c->s);
    c->in_parse--;
    if (c->err)
        return c->err;
    if (rc) {
        expire_all(c, PXMPP_ERR_CLOSED);
        if (c->state != PXMPP_CLIENT_CLOSED)
            c->state = PXMPP_CLIENT_FAILED;
    }
    return rc;
}

static pxmpp_cb_type cb_type_by_name(const char *name)
{
    for (pxmpp_cb_type t = PXMPP_CB_TLS_EXPORTER; t <= PXMPP_CB_TLS_SERVER_END_POINT; t++)
        if (strcmp(name, pxmpp_cb_type_str(t)) == 0)
            return t;
    return PXMPP_CB_NONE;
}

static int client_tls_ready_(pxmpp_client *c, const char *cb_type, const unsigned char *cb_data, size_t cb_len)
{
    bool direct = c->state == PXMPP_CLIENT_IDLE && !c->secure; /* XEP-0368: TLS from the first byte */
    if (!direct && (c->state != PXMPP_CLIENT_TLS || c->secure || !c->tls_pending))
        return PXMPP_ERR_STATE;
    if (cb_type && cb_data && cb_len) {
        pxmpp_cb_type t = cb_type_by_name(cb_type);
        if (t == PXMPP_CB_NONE || cb_len > sizeof c->app_cb)
            return PXMPP_ERR_INVALID_ARGUMENT;
        memcpy(c->app_cb, cb_data, cb_len); /* wiped on free */
        c->app_cb_len = cb_len;
        c->app_cb_type = t;
    }
    if (direct) {
        c->secure = true;
        clog_(c, "the connection is TLS from its first byte");
        return 0;
    }
    c->tls_pending = false;
    c->secure = true;
    clog_(c, "TLS established; restarting the stream");
    int rc = pxmpp_stream_restart(c->s);
    if (rc)
        return rc;
    c->state = PXMPP_CLIENT_CONNECTING;
    return open_stream(c) ? c->err : 0;
}

static int client_tls_failed_(pxmpp_client *c, const char *reason)
{
    if (c->state != PXMPP_CLIENT_TLS || c->secure || !c->tls_pending)
        return PXMPP_ERR_STATE;
    c->tls_pending = false;
    fail(c, PXMPP_ERR_TLS, "TLS handshake failed: %s", reason && *reason ? reason : "(no reason given)");
    return 0;
}

static int client_tick_(pxmpp_client *c, uint64_t now_ms)
{
    if (!c)
        return PXMPP_ERR_INVALID_ARGUMENT;
    c->now = now_ms;
    c->have_clock = true;
    for (size_t i = 0; i < c->npend; i++) {
        pending *p = &c->pend[i];
        if (!p->used)
            continue;
        if (!p->deadline) {
            p->deadline = now_ms + p->timeout;
            continue;
        }
        if (now_ms >= p->deadline) {
            pkind k = p->kind;
            clog_(c, "iq '%s' timed out", p->id);
            if (k == P_BIND || k == P_SESSION) {
                pend_release(c, p);
                fail(c, PXMPP_ERR_TIMEOUT, "no answer to the %s request", k == P_BIND ? "bind" : "session");
                return c->err;
            }
            pend_complete(c, p, NULL, PXMPP_ERR_TIMEOUT);
        }
    }
    sm_tick(c); /* XEP-0198: <r/> for stanzas that waited */
    return c->err;
}

static int need_ready(const pxmpp_client *c)
{
    if (!c)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (c->err)
        return c->err;
    return c->state == PXMPP_CLIENT_READY ? 0 : PXMPP_ERR_STATE;
}

static int client_send_iq_(pxmpp_client *c, const pxmpp_iq *iq, uint64_t timeout_ms, pxmpp_iq_callback cb,
                         void *cb_user)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    if (!iq || (iq->type != PXMPP_IQ_TYPE_GET && iq->type != PXMPP_IQ_TYPE_SET))
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_iq copy = *iq;
    return track_and_send(c, &copy, P_USER, timeout_ms, cb, NULL, cb_user);
}

static int client_roster_get_(pxmpp_client *c, const char *ver, pxmpp_roster_callback cb, void *cb_user)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    pxmpp_arena_reset(c->tmp);
    pxmpp_iq *iq = pxmpp_build_roster_get(c->tmp, "roster_1", c->rosterver ? ver : NULL);
    if (!iq)
        return PXMPP_ERR_NOMEM;
    iq->id = NULL;
    return track_and_send(c, iq, P_ROSTER_GET, 0, NULL, cb, cb_user);
}

static int client_roster_set_(pxmpp_client *c, const char *jid, const char *name, const char *const *groups,
                            size_t ngroups, pxmpp_iq_callback cb, void *cb_user)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    if (!jid || pxmpp_jid_check(jid, strlen(jid)))
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_arena_reset(c->tmp);
    pxmpp_iq *iq = pxmpp_build_roster_set(c->tmp, "x", jid, name, groups, ngroups);
    if (!iq)
        return PXMPP_ERR_NOMEM;
    iq->id = NULL;
    return track_and_send(c, iq, P_USER, 0, cb, NULL, cb_user);
}

static int client_roster_remove_(pxmpp_client *c, const char *jid, pxmpp_iq_callback cb, void *cb_user)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    if (!jid || pxmpp_jid_check(jid, strlen(jid)))
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_arena_reset(c->tmp);
    pxmpp_iq *iq = pxmpp_build_roster_remove(c->tmp, "x", jid);
    if (!iq)
        return PXMPP_ERR_NOMEM;
    iq->id = NULL;
    return track_and_send(c, iq, P_USER, 0, cb, NULL, cb_user);
}

const pxmpp_roster_item *pxmpp_client_roster(const pxmpp_client *c, size_t *count, const char **ver)
{
    if (count)
        *count = c ? c->roster_count : 0;
    if (ver)
        *ver = c ? c->roster_ver : NULL;
    return c ? c->roster : NULL;
}

static int client_send_presence_(pxmpp_client *c, const pxmpp_presence *p)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    return p ? send_typed(c, &pxmpp_presence_desc, p) : PXMPP_ERR_INVALID_ARGUMENT;
}

static int presence_to(pxmpp_client *c, const char *jid, pxmpp_presence_type type)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    if (!jid || pxmpp_jid_check(jid, strlen(jid)))
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_presence p = { .to = jid, .type = type };
    return send_typed(c, &pxmpp_presence_desc, &p);
}

static int client_subscribe_(pxmpp_client *c, const char *jid) { return presence_to(c, jid, PXMPP_PRESENCE_TYPE_SUBSCRIBE); }
static int client_approve_(pxmpp_client *c, const char *jid) { return presence_to(c, jid, PXMPP_PRESENCE_TYPE_SUBSCRIBED); }
static int client_unsubscribe_(pxmpp_client *c, const char *jid) { return presence_to(c, jid, PXMPP_PRESENCE_TYPE_UNSUBSCRIBE); }
static int client_revoke_(pxmpp_client *c, const char *jid) { return presence_to(c, jid, PXMPP_PRESENCE_TYPE_UNSUBSCRIBED); }
static int client_deny_(pxmpp_client *c, const char *jid) { return presence_to(c, jid, PXMPP_PRESENCE_TYPE_UNSUBSCRIBED); }

bool pxmpp_client_has_preapproval(const pxmpp_client *c) { return c && c->preapproval; }

static int client_send_message_(pxmpp_client *c, const pxmpp_message *m)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    return m ? send_typed(c, &pxmpp_message_desc, m) : PXMPP_ERR_INVALID_ARGUMENT;
}

static int client_close_(pxmpp_client *c)
{
    if (!c)
        return PXMPP_ERR_INVALID_ARGUMENT;
    if (c->state == PXMPP_CLIENT_IDLE || c->state == PXMPP_CLIENT_CLOSING || c->state == PXMPP_CLIENT_CLOSED)
        return PXMPP_ERR_STATE;
    clog_(c, "closing the stream");
    sm_before_close(c); /* XEP-0198: <a/> (and <r/>) before the close tag */
    int rc = pxmpp_stream_close(c->s);
    if (c->state != PXMPP_CLIENT_FAILED)
        c->state = PXMPP_CLIENT_CLOSING;
    return rc;
}

pxmpp_client_state pxmpp_client_get_state(const pxmpp_client *c) { return c ? c->state : PXMPP_CLIENT_FAILED; }

int pxmpp_client_error(const pxmpp_client *c, const char **reason)
{
    if (reason)
        *reason = c && c->err ? c->reason : "";
    return c ? c->err : PXMPP_ERR_INVALID_ARGUMENT;
}

const char *pxmpp_client_jid(const pxmpp_client *c) { return c && c->bound[0] ? c->bound : NULL; }
bool pxmpp_client_is_secure(const pxmpp_client *c) { return c && c->secure; }
const char *pxmpp_client_mechanism(const pxmpp_client *c) { return c && c->authenticated ? c->mech : NULL; }
pxmpp_stream *pxmpp_client_stream(pxmpp_client *c) { return c ? c->s : NULL; }
pxmpp_arena *pxmpp_client_arena(pxmpp_client *c) { return c ? c->app : NULL; }

static int client_send_(pxmpp_client *c, const pxmpp_type_desc *type, const void *stanza)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    if (!stanza || (type != &pxmpp_message_desc && type != &pxmpp_presence_desc && type != &pxmpp_iq_desc))
        return PXMPP_ERR_INVALID_ARGUMENT;
    return send_typed(c, type, stanza);
}

static int answer_iq(pxmpp_client *c, const pxmpp_iq *req, bool error, pxmpp_stanza_error_type type,
                     pxmpp_stanza_error_condition cond, const pxmpp_type_desc *payload_type, const void *payload)
{
    int rc = need_ready(c);
    if (rc)
        return rc;
    if (!req || !req->id || (req->type != PXMPP_IQ_TYPE_GET && req->type != PXMPP_IQ_TYPE_SET) ||
        (payload_type && !payload))
        return PXMPP_ERR_INVALID_ARGUMENT;
    pxmpp_arena_reset(c->tmp);
    pxmpp_iq *r = error ? pxmpp_build_iq_error(c->tmp, req, type, cond) : pxmpp_build_iq_result(c->tmp, req);
    if (!r || (payload_type && pxmpp_iq_add_payload(c->tmp, r, payload_type, payload)))
        return PXMPP_ERR_NOMEM;
    return send_typed(c, &pxmpp_iq_desc, r);
}

static int client_send_iq_result_(pxmpp_client *c, const pxmpp_iq *req, const pxmpp_type_desc *payload_type,
                                  const void *payload)
{
    return answer_iq(c, req, false, 0, 0, payload_type, payload);
}

static int client_send_iq_error_(pxmpp_client *c, const pxmpp_iq *req, pxmpp_stanza_error_type type,
                                 pxmpp_stanza_error_condition cond)
{
    return answer_iq(c, req, true, type, cond, NULL, NULL);
}

pxmpp_stream_error_condition pxmpp_client_stream_error(const pxmpp_client *c)
{
    return c ? c->stream_cond : PXMPP_STREAM_ERROR_CONDITION_ABSENT;
}

pxmpp_cb_type pxmpp_client_channel_binding(const pxmpp_client *c)
{
    return c && c->authenticated ? c->cb_used : PXMPP_CB_NONE;
}

/* ---- the guarded entry points ---------------------------------------------------------- */
/* int pxmpp_client_NAME PARAMS: the body client_NAME_ ARGS run with the nesting counted. */
#define GUARDED(name, params, args)                                                                              \
    int pxmpp_client_##name params                                                                               \
    {                                                                                                            \
        PXMPP__ENTER(c);                                                                                         \
        return leave(c, client_##name##_ args);                                                                  \
    }
GUARDED(start, (pxmpp_client *c), (c))
GUARDED(feed, (pxmpp_client *c, const void *data, size_t len), (c, data, len))
GUARDED(finish, (pxmpp_client *c), (c))
GUARDED(tls_ready, (pxmpp_client *c, const char *cb_type, const unsigned char *cb_data, size_t cb_len), (c, cb_type, cb_data, cb_len))
GUARDED(tick, (pxmpp_client *c, uint64_t now_ms), (c, now_ms))
GUARDED(send_iq, (pxmpp_client *c, const pxmpp_iq *iq, uint64_t timeout_ms, pxmpp_iq_callback cb, void *cb_user), (c, iq, timeout_ms, cb, cb_user))
GUARDED(roster_get, (pxmpp_client *c, const char *ver, pxmpp_roster_callback cb, void *cb_user), (c, ver, cb, cb_user))
GUARDED(roster_set, (pxmpp_client *c, const char *jid, const char *name, const char *const *groups, size_t ngroups, pxmpp_iq_callback cb, void *cb_user), (c, jid, name, groups, ngroups, cb, cb_user))
GUARDED(roster_remove, (pxmpp_client *c, const char *jid, pxmpp_iq_callback cb, void *cb_user), (c, jid, cb, cb_user))
GUARDED(send_presence, (pxmpp_client *c, const pxmpp_presence *p), (c, p))
GUARDED(subscribe, (pxmpp_client *c, const char *jid), (c, jid))
GUARDED(approve, (pxmpp_client *c, const char *jid), (c, jid))
GUARDED(unsubscribe, (pxmpp_client *c, const char *jid), (c, jid))
GUARDED(revoke, (pxmpp_client *c, const char *jid), (c, jid))
GUARDED(deny, (pxmpp_client *c, const char *jid), (c, jid))
GUARDED(send_message, (pxmpp_client *c, const pxmpp_message *m), (c, m))
GUARDED(close, (pxmpp_client *c), (c))
GUARDED(tls_failed, (pxmpp_client *c, const char *reason), (c, reason))
GUARDED(send_iq_result, (pxmpp_client *c, const pxmpp_iq *req, const pxmpp_type_desc *payload_type, const void *payload),
        (c, req, payload_type, payload))
GUARDED(send_iq_error, (pxmpp_client *c, const pxmpp_iq *req, pxmpp_stanza_error_type type,
                        pxmpp_stanza_error_condition cond), (c, req, type, cond))
GUARDED(reconnect, (pxmpp_client *c), (c))
GUARDED(sm_request_ack, (pxmpp_client *c), (c))
GUARDED(send, (pxmpp_client *c, const pxmpp_type_desc *type, const void *stanza), (c, type, stanza))
