/* pxmpp-server: a small single-domain XMPP server on the library's server role.
 *
 * One process serves one domain on one listening socket: client connections with
 * STARTTLS (required), SASL against the accounts of the users file, resource binding,
 * rosters with groups and versions, the presence subscription state machine of RFC 6121,
 * presence broadcast, message delivery among local accounts with offline storage
 * (XEP-0203 delay on delivery), and, with --state, persistence of rosters and stored
 * messages across restarts.  There is no server-to-server traffic: addresses of other
 * domains are answered with remote-server-not-found.
 *
 * Layout: options and accounts (users file, SCRAM secrets), the account store (rosters,
 * pending subscription requests, offline messages), routing (the RFC 6121 rules applied
 * between sessions), the state file, the connections (sockets, TLS, output queues, limits)
 * and the poll loop.  Sessions never free each other: a session that ends is marked and
 * reaped by the loop once its output is flushed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <pxmpp/build.h>
#include <pxmpp/pxmpp.h>

#include "cli.h"
#include <pxmpp/server.h>

enum { EXIT_OK = 0, EXIT_USAGE = 2, EXIT_SETUP = 3 };

#define READ_CHUNK 16384u
#define FEED_SLICE 512u        /* input is fed in slices this big while a rate limit is set */
#define MAX_OUTPUT (4u << 20)  /* queued bytes per connection before it is dropped */
#define CLOSE_GRACE_MS 2000u   /* after SIGTERM: how long clients may take to close */
#define SAVE_DELAY_MS 1000u    /* the state file is written at most this often */
#define IDLE_TRIM_MS 10000u    /* a connection quiet this long gives back its stream's spare memory */
#define MAX_RESOURCES 16u      /* bound resources per account */
#define SCRAM_ITERATIONS 4096u
#define MAX_ROSTER_ITEMS 2000u /* per account: beyond, new contacts are refused */
#define OFFLINE_MAX_BYTES (16u << 20) /* memory held by one account's stored messages */
#define STATE_FILE "pxmpp-server-state.xml"

static const char help_text[] =
    "usage: pxmpp-server --domain DOMAIN --listen HOST:PORT --cert FILE --key FILE --users FILE\n"
    "                    [--state DIR] [options]\n"
    "\n"
    "A small XMPP server for one domain: client connections with STARTTLS (required), SASL\n"
    "(SCRAM-SHA-256, SCRAM-SHA-1, their -PLUS variants with channel binding, PLAIN over TLS),\n"
    "resource binding, rosters with groups and versions, presence subscriptions, presence\n"
    "broadcast, messages among the accounts of the users file, several resources per account,\n"
    "messages to an offline account stored and delivered at its next available presence with\n"
    "a XEP-0203 delay.  No server-to-server connections.\n"
    "\n"
    "options:\n"
    "  --domain DOMAIN         the domain served, e.g. example.net (required)\n"
    "  --listen HOST:PORT      where to listen for clients ([::1]:5222 for IPv6; port 0 picks a\n"
    "                          free one, printed when ready) (required)\n"
    "  --cert FILE --key FILE  the certificate chain and private key, PEM (required)\n"
    "  --users FILE            accounts, one 'localpart:password' per line; empty lines and lines\n"
    "                          starting with '#' are skipped.  Passwords are kept only as salted\n"
    "                          SCRAM secrets (required)\n"
    "  --state DIR             keep rosters and stored messages in DIR/" STATE_FILE "\n"
    "                          (written atomically, at most once a second and at shutdown)\n"
    "  --max-connections N     connections at once (default 1000)\n"
    "  --max-connections-per-address N\n"
    "                          connections at once from one address (default 16)\n"
    "  --max-stanzas-per-second N\n"
    "                          per connection; beyond it (after a burst of as many) the\n"
    "                          connection is not read until it is within the rate again\n"
    "                          (default 100; 0: no limit)\n"
    "  --login-timeout SECONDS a connection that has not bound a resource by then is closed\n"
    "                          with connection-timeout (default 60)\n"
    "  --offline-limit N       stored messages per account; beyond it (or beyond 16 MiB of them)\n"
    "                          messages to the offline account are refused with\n"
    "                          service-unavailable (default 1000).  A roster holds at most 2000\n"
    "                          items\n"
    "  --no-channel-binding    offer no -PLUS mechanism (by default they are offered with the\n"
    "                          binding type announced, XEP-0440: tls-exporter under TLS 1.3,\n"
    "                          tls-unique before; a client that could bind but sees no -PLUS\n"
    "                          says so, and is refused when -PLUS was offered (RFC 5802 6).\n"
    "                          slixmpp 1.8 binds only with tls-unique: under TLS 1.3 it needs\n"
    "                          this option, or channel binding turned off on its side)\n"
    "  --verbose               a transcript of the sessions on stderr (no secrets, no payloads)\n"
    "  --help                  this text\n"
    "\n"
    "\"pxmpp-server: listening on HOST:PORT\" is printed on stderr when it is ready.  SIGTERM or\n"
    "SIGINT closes every stream, saves the state and exits.  SIGHUP reads the users file again:\n"
    "new accounts are added, passwords changed, and unlisted accounts can no longer log in.\n"
    "\n"
    "exit status: 0 after SIGTERM or SIGINT, 2 usage (also a users file that cannot be read\n"
    "or parsed, or a state file that cannot be loaded), 3 cannot listen or load the\n"
    "certificate or key\n";

/* ---- options ---------------------------------------------------------------------------- */

typedef struct options {
    const char *domain, *listen, *cert, *key, *users, *state;
    unsigned long max_conns, max_per_addr, rate, login_timeout_s, offline_limit;
    bool verbose, no_cb;
} options;

static options g_opt;
static char g_domain[PXMPP_JID_PART_MAX + 1]; /* normalized */
static volatile sig_atomic_t g_stop, g_reload;

#if defined(__GNUC__) || defined(__clang__)
#define FMT(f, a) __attribute__((format(printf, f, a)))
#else
#define FMT(f, a)
#endif

static void say(const char *fmt, ...) FMT(1, 2);
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pxmpp-server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
}

#define VERBOSE(...)                                                                                                   \
    do {                                                                                                               \
        if (g_opt.verbose)                                                                                             \
            say(__VA_ARGS__);                                                                                          \
    } while (0)

static void die(int code, const char *fmt, ...) FMT(2, 3);
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pxmpp-server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (code == EXIT_USAGE)
        fputs("(pxmpp-server --help for usage)\n", stderr);
    exit(code);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die(EXIT_SETUP, "out of memory");
    return p;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the account store ---------------------------------------------------------------------- */

/* A stanza kept beyond the callback that brought it: its own arena. */
typedef struct stored {
    pxmpp_arena *a;
    const void *obj;
} stored;

/* One roster item of an account, with what the roster does not show. */
typedef struct item {
    char *jid;                 /* the contact's bare JID, normalized */
    pxmpp_arena *a;            /* name and groups */
    const char *name;
    const char *const *groups;
    size_t ngroups;
    unsigned state;            /* pxmpp_sub_state */
    bool listed;               /* in the user's roster (set by the user, or a subscription) */
    stored pending;            /* the contact's subscribe request while PENDING_IN */
} item;

typedef struct account {
    char local[PXMPP_JID_PART_MAX + 1];
    char bare[PXMPP_JID_STR_MAX + 1];
    pxmpp_scram_secrets sha1, sha256;
    item *items;
    size_t nitems, capitems;
    uint64_t ver;              /* roster version, 0: no change yet */
    bool enabled;              /* listed in the users file: may log in */
    stored *offline;
    size_t noffline, capoffline;
    size_t offline_bytes;      /* memory their arenas hold */
} account;

static account **g_accounts; /* pointers: accounts never move */
static size_t g_naccounts;
static bool g_dirty;           /* the state differs from the state file */
static uint64_t g_dirty_since;

static void mark_dirty(void)
{
    if (!g_dirty)
        g_dirty_since = now_ms();
    g_dirty = true;
}

static void stored_free(stored *s)
{
    pxmpp_arena_free(s->a);
    s->a = NULL;
    s->obj = NULL;
}

/* Keeps a copy of @p obj.  Returns 0 or -1 (no memory). */
static int stored_keep(stored *s, const pxmpp_type_desc *d, const void *obj)
{
    stored_free(s);
    if (pxmpp_arena_new(&s->a, NULL, 1024) != 0)
        return -1;
    s->obj = pxmpp_copy(s->a, d, obj);
    if (!s->obj) {
        stored_free(s);
        return -1;
    }
    return 0;
}

/* The account of a bare or full JID string of this domain (normalized on the way), or NULL. */
static account *account_of(const char *jid)
{
    pxmpp_jid j;
    if (!jid || pxmpp_jid_parse(&j, jid, strlen(jid), PXMPP_JID_NORMALIZE) != 0 || !j.has_local ||
        strcmp(j.domain, g_domain) != 0)
        return NULL;
    for (size_t i = 0; i < g_naccounts; i++)
        if (strcmp(g_accounts[i]->local, j.local) == 0)
            return g_accounts[i];
    return NULL;
}

static item *item_find(account *ac, const char *bare)
{
    for (size_t i = 0; i < ac->nitems; i++)
        if (strcmp(ac->items[i].jid, bare) == 0)
            return &ac->items[i];
    return NULL;
}

static item *item_add(account *ac, const char *bare)
{
    item *it = item_find(ac, bare);
    if (it)
        return it;
    if (ac->nitems >= MAX_ROSTER_ITEMS)
        return NULL; /* an account's roster is bounded: a peer cannot grow it without end */
    if (ac->nitems == ac->capitems) {
        size_t cap = ac->capitems ? 2 * ac->capitems : 8;
        item *n = realloc(ac->items, cap * sizeof *n);
        if (!n)
            return NULL;
        ac->items = n;
        ac->capitems = cap;
    }
    it = &ac->items[ac->nitems];
    memset(it, 0, sizeof *it);
    it->jid = strdup(bare);
    if (!it->jid)
        return NULL;
    ac->nitems++;
    return it;
}

static void item_remove(account *ac, item *it)
{
    free(it->jid);
    pxmpp_arena_free(it->a);
    stored_free(&it->pending);
    *it = ac->items[--ac->nitems];
}

/* Sets name and groups of @p it from @p src (copied). */
static int item_set_details(item *it, const char *name, const char *const *groups, size_t n)
{
    pxmpp_arena *a = NULL;
    if (pxmpp_arena_new(&a, NULL, 256) != 0)
        return -1;
    const char *nm = name ? pxmpp_arena_strdup(a, name) : NULL;
    const char **gs = n ? pxmpp_arena_alloc(a, n * sizeof *gs) : NULL;
    bool ok = (!name || nm) && (!n || gs);
    for (size_t i = 0; ok && i < n; i++)
        ok = (gs[i] = pxmpp_arena_strdup(a, groups[i])) != NULL;
    if (!ok) {
        pxmpp_arena_free(a);
        return -1;
    }
    pxmpp_arena_free(it->a);
    it->a = a;
    it->name = nm;
    it->groups = gs;
    it->ngroups = n;
    return 0;
}

/* What a roster push or a roster result shows of @p it. */
static pxmpp_roster_item item_view(const item *it)
{
    pxmpp_roster_item r;
    memset(&r, 0, sizeof r);
    r.jid = it->jid;
    r.name = it->name;
    r.groups = it->groups;
    r.groups_count = it->ngroups;
    pxmpp_sub_to_item((pxmpp_sub_state)it->state, &r);
    return r;
}

static void ver_str(const account *ac, char *buf, size_t cap)
{
    snprintf(buf, cap, "%llu", (unsigned long long)ac->ver);
}

/* ---- connections -------------------------------------------------------------------------- */

typedef enum tls_phase { TLS_NONE, TLS_PENDING, TLS_HANDSHAKE, TLS_UP } tls_phase;

typedef struct conn {
    struct conn *next;
    int fd;
    SSL *ssl;
    tls_phase tls;
    short hs_events;           /* what the TLS handshake waits for */
    pxmpp_server *srv;
    account *acct;             /* after authentication */
    bool bound;
    char addr[INET6_ADDRSTRLEN];
    char *in;                  /* input read but not fed yet (rate limit, STARTTLS) */
    size_t in_len, in_off;
    char *out;                 /* queued output */
    size_t out_len, out_off, out_cap;
    bool dead;                 /* the session ended: flush, then close */
    bool eof;                  /* the peer closed its side */
    uint64_t born, dead_since;
    uint64_t last_input;       /* when bytes last came in */
    bool trimmed;              /* the stream gave its spare memory back since then */
    double tokens;             /* rate limit: stanzas that may still be read */
    uint64_t tokens_at;        /* when tokens were last refilled */
    uint64_t seen;             /* pxmpp_server_stanza_count() when tokens were last charged */
} conn;

static conn *g_conns;
static size_t g_nconns;
static SSL_CTX *g_tls;

static void drop_input(conn *c)
{
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_off = 0;
}

static bool session_live(const conn *c)
{
    return c->bound && !c->dead && c->srv && pxmpp_server_get_state(c->srv) == PXMPP_SERVER_READY;
}

static bool session_available(const conn *c)
{
    return session_live(c) && pxmpp_server_presence(c->srv) != NULL;
}

/* The live session of full JID @p full, or NULL. */
static conn *session_of(const char *full)
{
    char norm[PXMPP_JID_STR_MAX + 1];
    if (pxmpp_jid_normalize_str(full, strlen(full), norm, sizeof norm, NULL) != 0)
        return NULL;
    for (conn *c = g_conns; c; c = c->next)
        if (session_live(c) && strcmp(pxmpp_server_jid(c->srv), norm) == 0)
            return c;
    return NULL;
}

static void deliver(conn *c, const pxmpp_type_desc *d, const void *obj)
{
    if (!session_live(c))
        return;
    int rc = pxmpp_server_deliver(c->srv, d, obj);
    if (rc != 0 && rc > PXMPP_ERR_FATAL)
        VERBOSE("%s: a stanza could not be delivered: %s", pxmpp_server_jid(c->srv), pxmpp_strerror(rc));
}

/* Delivers a presence to every available session of @p ac (all live ones when @p all). */
static void deliver_presence_to_account(account *ac, const pxmpp_presence *p, const conn *except, bool all)
{
    for (conn *c = g_conns; c; c = c->next)
        if (c->acct == ac && c != except && (all ? session_live(c) : session_available(c)))
            deliver(c, &pxmpp_presence_desc, p);
}

/* Sends a roster push of @p r at version @p ver to each session of @p ac that asked for the
   roster (RFC 6121 §2.1.6). */
static void push_to_interested(account *ac, const pxmpp_roster_item *r, const char *ver)
{
    for (conn *c = g_conns; ac && c; c = c->next)
        if (c->acct == ac && session_live(c) && pxmpp_server_roster_interested(c->srv))
            (void)pxmpp_server_push_roster(c->srv, r, ver);
}

/* Pushes the stored item @p it of @p ac at the account's current version. */
static void push_item(account *ac, const item *it)
{
    pxmpp_roster_item r = item_view(it);
    char ver[32];
    ver_str(ac, ver, sizeof ver);
    push_to_interested(ac, &r, ver);
}

/* ---- routing (RFC 6121) ----------------------------------------------------------------------- */

static pxmpp_arena *g_tmp; /* for stanzas built while routing; reset by each route */

/* An error message back to the sender of @p m (RFC 6120 §8.3): same id, no payload. */
static void bounce_message(conn *from, const pxmpp_message *m, pxmpp_stanza_error_type t,
                           pxmpp_stanza_error_condition cond)
{
    if (m->type == PXMPP_MESSAGE_TYPE_ERROR)
        return;
    pxmpp_message *e = pxmpp_build_message(g_tmp, m->from, PXMPP_MESSAGE_TYPE_ERROR, m->id);
    pxmpp_stanza_error *err = pxmpp_new(g_tmp, &pxmpp_stanza_error_desc);
    if (!e || !err)
        return;
    err->type = t;
    err->condition = cond;
    e->error = err;
    e->from = m->to ? m->to : g_domain;
    deliver(from, &pxmpp_message_desc, e);
}

/* The current presence of every available session of @p ac, to @p to (a bare or full JID). */
static void send_presences_of(account *ac, const char *to, conn *dest_only)
{
    for (conn *c = g_conns; c; c = c->next) {
        if (c->acct != ac || !session_available(c))
            continue;
        pxmpp_presence p = *pxmpp_server_presence(c->srv);
        p.to = to;
        if (dest_only) {
            deliver(dest_only, &pxmpp_presence_desc, &p);
        } else {
            account *dst = account_of(to);
            if (dst)
                deliver_presence_to_account(dst, &p, NULL, false);
        }
    }
}

/* Unavailable presence from each available session of @p ac to account @p dst. */
static void send_unavailable_of(account *ac, account *dst)
{
    for (conn *c = g_conns; c; c = c->next) {
        if (c->acct != ac || !session_available(c))
            continue;
        pxmpp_presence u;
        memset(&u, 0, sizeof u);
        u.type = PXMPP_PRESENCE_TYPE_UNAVAILABLE;
        u.from = pxmpp_server_jid(c->srv);
        u.to = dst->bare;
        deliver_presence_to_account(dst, &u, NULL, false);
    }
}

/* Applies a new state to @p it and pushes when the roster shows a change. */
static void item_state(account *ac, item *it, unsigned state, bool push)
{
    if (state != it->state)
        mark_dirty();
    it->state = state;
    if (state & (PXMPP_SUB_TO | PXMPP_SUB_FROM | PXMPP_SUB_PENDING_OUT))
        it->listed = true;
    if (!(state & PXMPP_SUB_PENDING_IN))
        stored_free(&it->pending);
    if (push && it->listed) {
        ac->ver++;
        mark_dirty();
        push_item(ac, it);
    }
}

/* The contact's server receiving a subscription presence @p p (from @p user's bare JID). */
static void subscription_inbound(account *user, account *contact, const pxmpp_presence *p);

/* The user's server on a subscription presence the user sent (RFC 6121 §3, Appendix A.2). */
static void subscription_outbound(conn *from, account *user, const pxmpp_presence *p)
{
    char to[PXMPP_JID_STR_MAX + 1];
    if (!p->to || pxmpp_jid_bare_str(p->to, strlen(p->to), to, sizeof to, NULL) != 0 ||
        strcmp(to, user->bare) == 0)
        return;
    account *contact = account_of(to);
    pxmpp_jid j;
    if (pxmpp_jid_parse(&j, to, strlen(to), 0) == 0 && strcmp(j.domain, g_domain) != 0) {
        /* no server-to-server connections */
        pxmpp_presence e = *p;
        pxmpp_stanza_error *err = pxmpp_new(g_tmp, &pxmpp_stanza_error_desc);
        if (!err)
            return;
        err->type = PXMPP_STANZA_ERROR_TYPE_CANCEL;
        err->condition = PXMPP_STANZA_ERROR_CONDITION_REMOTE_SERVER_NOT_FOUND;
        e.type = PXMPP_PRESENCE_TYPE_ERROR;
        e.error = err;
        e.from = to;
        e.to = pxmpp_server_jid(from->srv);
        e.statuses_count = 0;
        e.payloads_count = 0;
        deliver(from, &pxmpp_presence_desc, &e);
        return;
    }
    item *it = item_find(user, to);
    unsigned old = it ? it->state : PXMPP_SUB_NONE;
    bool fwd = false, push = false;
    unsigned now = pxmpp_sub_outbound((pxmpp_sub_state)old, p->type, &fwd, &push);
    if (!it && (now != PXMPP_SUB_NONE || push)) {
        it = item_add(user, to);
        if (!it)
            return;
    }
    if (it) {
        item_state(user, it, now, push);
        if (!it->listed && it->state == PXMPP_SUB_NONE)
            item_remove(user, it);
    }
    if (!contact) {
        /* an account that does not exist here: nothing to deliver to (§3.1.3 lets the
           server answer nothing; the state shows the request as pending) */
        return;
    }
    /* §3.2.2: cancelling the contact's subscription sends the user's unavailable presence */
    if (p->type == PXMPP_PRESENCE_TYPE_UNSUBSCRIBED && (old & PXMPP_SUB_FROM))
        send_unavailable_of(user, contact);
    if (fwd) {
        pxmpp_presence f = *p;
        f.from = user->bare;
        f.to = contact->bare;
        subscription_inbound(user, contact, &f);
    }
    /* §3.1.5: approving sends the user's current presence to the new subscriber */
    if (p->type == PXMPP_PRESENCE_TYPE_SUBSCRIBED && fwd)
        send_presences_of(user, contact->bare, NULL);
}

static void subscription_inbound(account *user, account *contact, const pxmpp_presence *p)
{
    item *it = item_find(contact, user->bare);
    unsigned old = it ? it->state : PXMPP_SUB_NONE;
    bool fwd = false, push = false, reply = false;
    unsigned now = pxmpp_sub_inbound((pxmpp_sub_state)old, p->type, &fwd, &push, &reply);
    if (!it && now != PXMPP_SUB_NONE) {
        it = item_add(contact, user->bare);
        if (!it)
            return;
    }
    if (it) {
        item_state(contact, it, now, push);
        if (p->type == PXMPP_PRESENCE_TYPE_SUBSCRIBE && (now & PXMPP_SUB_PENDING_IN) && fwd) {
            if (stored_keep(&it->pending, &pxmpp_presence_desc, p) == 0)
                mark_dirty();
        }
        if (!it->listed && it->state == PXMPP_SUB_NONE)
            item_remove(contact, it);
    }
    if (fwd)
        deliver_presence_to_account(contact, p, NULL, false);
    if (reply) {
        /* §3.1.3: the contact had approved already: subscribed on its behalf, then its presence */
        pxmpp_presence r;
        memset(&r, 0, sizeof r);
        r.type = PXMPP_PRESENCE_TYPE_SUBSCRIBED;
        r.from = contact->bare;
        r.to = user->bare;
        subscription_inbound(contact, user, &r);
        send_presences_of(contact, user->bare, NULL);
    }
    /* §3.3.3: the subscription the user had is gone: the contact's unavailable presence */
    if (p->type == PXMPP_PRESENCE_TYPE_UNSUBSCRIBE && (old & PXMPP_SUB_FROM) && !(now & PXMPP_SUB_FROM))
        send_unavailable_of(contact, user);
}

static void deliver_offline(conn *c)
{
    account *ac = c->acct;
    for (size_t i = 0; i < ac->noffline; i++) {
        deliver(c, &pxmpp_message_desc, ac->offline[i].obj);
        stored_free(&ac->offline[i]);
    }
    if (ac->noffline)
        mark_dirty();
    ac->noffline = 0;
    ac->offline_bytes = 0;
}

/* A presence without 'to': the account's other resources, and what a newly available
   resource is owed (§4.2.2, §3.1.3, §8.5.2.2). */
static void presence_broadcast(conn *from, const pxmpp_presence *p)
{
    account *ac = from->acct;
    bool first = p->type != PXMPP_PRESENCE_TYPE_UNAVAILABLE && !pxmpp_server_presence(from->srv);
    deliver_presence_to_account(ac, p, from, false);
    if (!first)
        return;
    send_presences_of(ac, pxmpp_server_jid(from->srv), from);
    for (size_t i = 0; i < ac->nitems; i++)
        if (ac->items[i].pending.obj)
            deliver(from, &pxmpp_presence_desc, ac->items[i].pending.obj);
    if (p->priority >= 0)
        deliver_offline(from);
}

static void route_presence(conn *from, const pxmpp_presence *p)
{
    account *ac = from->acct;
    switch (p->type) {
    case PXMPP_PRESENCE_TYPE_SUBSCRIBE:
    case PXMPP_PRESENCE_TYPE_SUBSCRIBED:
    case PXMPP_PRESENCE_TYPE_UNSUBSCRIBE:
    case PXMPP_PRESENCE_TYPE_UNSUBSCRIBED:
        subscription_outbound(from, ac, p);
        return;
    default:
        break;
    }
    if (!p->to) {
        presence_broadcast(from, p);
        return;
    }
    pxmpp_jid j;
    if (pxmpp_jid_parse(&j, p->to, strlen(p->to), PXMPP_JID_NORMALIZE) != 0 || strcmp(j.domain, g_domain) != 0 ||
        !j.has_local)
        return; /* another domain, or the server itself: nothing to do with presence */
    account *dst = account_of(p->to);
    if (!dst)
        return;
    if (p->type == PXMPP_PRESENCE_TYPE_PROBE) {
        /* §4.3.2: answered for a subscriber only, to the probing resource */
        item *it = item_find(dst, ac->bare);
        if (it && (it->state & PXMPP_SUB_FROM))
            send_presences_of(dst, pxmpp_server_jid(from->srv), from);
        return;
    }
    if (j.has_resource) {
        conn *c = session_of(p->to);
        if (c)
            deliver(c, &pxmpp_presence_desc, p);
        return;
    }
    deliver_presence_to_account(dst, p, NULL, false);
}

/* XEP-0203: when and by whom a stored message was delayed. */
static const pxmpp_message *with_delay(pxmpp_arena *a, const pxmpp_message *m)
{
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return NULL;
    pxmpp_message *c = pxmpp_copy(a, &pxmpp_message_desc, m);
    pxmpp_delay *d = pxmpp_new(a, &pxmpp_delay_desc);
    if (!c || !d)
        return NULL;
    d->stamp = pxmpp_arena_strdup(a, stamp);
    d->from = g_domain;
    d->reason = "Offline Storage";
    if (!d->stamp || pxmpp_message_add_payload(a, c, &pxmpp_delay_desc, d) != 0)
        return NULL;
    return c;
}

/* A new, zeroed slot at the end of @p ac's stored messages (not counted yet), or NULL. */
static stored *offline_slot(account *ac)
{
    if (ac->noffline == ac->capoffline) {
        size_t cap = ac->capoffline ? 2 * ac->capoffline : 8;
        stored *n = realloc(ac->offline, cap * sizeof *n);
        if (!n)
            return NULL;
        ac->offline = n;
        ac->capoffline = cap;
    }
    stored *s = &ac->offline[ac->noffline];
    memset(s, 0, sizeof *s);
    return s;
}

/* Stores @p m for @p ac.  Returns 0, or -1 when the storage is full or out of memory. */
static int store_offline(account *ac, const pxmpp_message *m)
{
    if (ac->noffline >= g_opt.offline_limit || ac->offline_bytes >= OFFLINE_MAX_BYTES)
        return -1;
    stored *s = offline_slot(ac);
    if (!s || pxmpp_arena_new(&s->a, NULL, 1024) != 0)
        return -1;
    s->obj = with_delay(s->a, m);
    if (!s->obj) {
        stored_free(s);
        return -1;
    }
    ac->offline_bytes += pxmpp_arena_held(s->a);
    ac->noffline++;
    mark_dirty();
    return 0;
}

static void route_message(conn *from, const pxmpp_message *m)
{
    const char *to = m->to ? m->to : from->acct->bare; /* RFC 6121 §8.1.1.1 */
    pxmpp_jid j;
    if (pxmpp_jid_parse(&j, to, strlen(to), PXMPP_JID_NORMALIZE) != 0)
        return; /* the library checked the address already */
    if (strcmp(j.domain, g_domain) != 0) {
        bounce_message(from, m, PXMPP_STANZA_ERROR_TYPE_CANCEL, PXMPP_STANZA_ERROR_CONDITION_REMOTE_SERVER_NOT_FOUND);
        return;
    }
    account *dst = j.has_local ? account_of(to) : NULL;
    pxmpp_resource_info res[MAX_RESOURCES];
    conn *who[MAX_RESOURCES];
    bool targets[MAX_RESOURCES];
    size_t n = 0;
    for (conn *c = g_conns; dst && c && n < MAX_RESOURCES; c = c->next) {
        if (c->acct != dst || !session_live(c))
            continue;
        const pxmpp_presence *p = pxmpp_server_presence(c->srv);
        pxmpp_jid cj;
        if (pxmpp_jid_parse(&cj, pxmpp_server_jid(c->srv), strlen(pxmpp_server_jid(c->srv)), 0) != 0)
            continue;
        who[n] = c;
        res[n].resource = NULL;
        res[n].available = p != NULL;
        res[n].priority = p ? (int)p->priority : 0;
        char *rcopy = pxmpp_arena_strdup(g_tmp, cj.resource);
        if (!rcopy)
            return;
        res[n].resource = rcopy;
        n++;
    }
    bool can_store = dst && dst->noffline < g_opt.offline_limit && dst->offline_bytes < OFFLINE_MAX_BYTES;
    switch (pxmpp_message_delivery(m->type, j.has_resource ? j.resource : NULL, dst != NULL, n ? res : NULL, n,
                                   can_store, n ? targets : NULL)) {
    case PXMPP_DELIVER: {
        pxmpp_message c = *m;
        c.to = to;
        for (size_t i = 0; i < n; i++)
            if (targets[i])
                deliver(who[i], &pxmpp_message_desc, &c);
        return;
    }
    case PXMPP_OFFLINE: {
        pxmpp_message c = *m;
        c.to = to;
        if (store_offline(dst, &c) != 0)
            bounce_message(from, m, PXMPP_STANZA_ERROR_TYPE_CANCEL, PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE);
        else
            VERBOSE("stored a message for %s (%zu waiting)", dst->bare, dst->noffline);
        return;
    }
    case PXMPP_BOUNCE:
        bounce_message(from, m, PXMPP_STANZA_ERROR_TYPE_CANCEL, PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE);
        return;
    case PXMPP_DROP:
        return;
    }
}

static void route_iq(conn *from, const pxmpp_iq *iq)
{
    bool request = iq->type == PXMPP_IQ_TYPE_GET || iq->type == PXMPP_IQ_TYPE_SET;
    pxmpp_jid j;
    if (!iq->to || pxmpp_jid_parse(&j, iq->to, strlen(iq->to), PXMPP_JID_NORMALIZE) != 0)
        return;
    if (strcmp(j.domain, g_domain) != 0) {
        if (request)
            (void)pxmpp_server_answer_iq(from->srv, iq, true, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                                         PXMPP_STANZA_ERROR_CONDITION_REMOTE_SERVER_NOT_FOUND, NULL, NULL);
        return;
    }
    conn *c = j.has_resource ? session_of(iq->to) : NULL;
    if (c) {
        deliver(c, &pxmpp_iq_desc, iq);
        return;
    }
    /* an account's bare JID (the server answers for it and offers nothing), an unknown
       account or a resource that is not connected (RFC 6120 §10.5.3, RFC 6121 §8.5) */
    if (request)
        (void)pxmpp_server_answer_iq(from->srv, iq, true, PXMPP_STANZA_ERROR_TYPE_CANCEL,
                                     PXMPP_STANZA_ERROR_CONDITION_SERVICE_UNAVAILABLE, NULL, NULL);
}

/* ---- session callbacks -------------------------------------------------------------------- */

static int cb_write(void *user, const char *data, size_t len)
{
    conn *c = user;
    if (c->out_len - c->out_off + len > MAX_OUTPUT)
        return -1; /* the client does not read: the session fails with PXMPP_ERR_WRITE */
    if (c->out_off && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        if (cap != c->out_cap) {
            char *n = realloc(c->out, cap);
            if (!n)
                return -1;
            c->out = n;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static int cb_start_tls(void *user)
{
    conn *c = user;
    c->tls = TLS_PENDING; /* the handshake starts once <proceed/> is out */
    return 0;
}

static int cb_secrets(void *user, const char *username, pxmpp_scram_hash hash, pxmpp_scram_secrets *out)
{
    (void)user;
    char jid[PXMPP_JID_STR_MAX + 1];
    if (snprintf(jid, sizeof jid, "%s@%s", username, g_domain) >= (int)sizeof jid)
        return -1;
    account *ac = account_of(jid);
    if (!ac || !ac->enabled || strchr(username, '/') || strchr(username, '@'))
        return -1;
    *out = hash == PXMPP_SCRAM_SHA256 ? ac->sha256 : ac->sha1;
    return 0;
}

static void cb_authenticated(void *user, const char *bare)
{
    conn *c = user;
    c->acct = account_of(bare);
    VERBOSE("%s authenticated as %s", c->addr, bare);
}

static pxmpp_server_bind_decision cb_bind(void *user, const char *full)
{
    conn *c = user;
    size_t n = 0;
    for (conn *o = g_conns; o; o = o->next)
        if (o != c && o->acct == c->acct && session_live(o))
            n++;
    conn *old = session_of(full);
    if (old && old != c) {
        /* RFC 6120 §7.7.2.2: the new session takes the resource over */
        VERBOSE("%s: resource taken over by a new session", full);
        (void)pxmpp_server_end(old->srv, PXMPP_STREAM_ERROR_CONDITION_CONFLICT, NULL);
        return PXMPP_SERVER_BIND_ACCEPT;
    }
    return n >= MAX_RESOURCES ? PXMPP_SERVER_BIND_REFUSE : PXMPP_SERVER_BIND_ACCEPT;
}

static void cb_bound(void *user, const char *full)
{
    conn *c = user;
    c->bound = c->acct != NULL;
    VERBOSE("%s bound %s", c->addr, full);
}

static void cb_route(void *user, const pxmpp_type_desc *d, const void *obj)
{
    conn *c = user;
    if (!c->acct || c->dead)
        return;
    pxmpp_arena_reset(g_tmp);
    if (d == &pxmpp_message_desc)
        route_message(c, obj);
    else if (d == &pxmpp_presence_desc)
        route_presence(c, obj);
    else if (d == &pxmpp_iq_desc)
        route_iq(c, obj);
}

static int cb_roster_get(void *user, const char *bare, pxmpp_arena *a, pxmpp_roster_query *out)
{
    (void)user;
    account *ac = account_of(bare);
    if (!ac)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < ac->nitems; i++)
        n += ac->items[i].listed;
    pxmpp_roster_item *items = n ? pxmpp_arena_alloc(a, n * sizeof *items) : NULL;
    char ver[32];
    ver_str(ac, ver, sizeof ver);
    out->ver = pxmpp_arena_strdup(a, ver);
    if ((n && !items) || !out->ver)
        return -1;
    n = 0;
    for (size_t i = 0; i < ac->nitems; i++)
        if (ac->items[i].listed)
            items[n++] = item_view(&ac->items[i]);
    out->items = items;
    out->items_count = n;
    return 0;
}

/* RFC 6121 §2.5.2: removing an item cancels the subscriptions both ways. */
static void remove_contact(account *ac, item *it)
{
    char jid[PXMPP_JID_STR_MAX + 1];
    snprintf(jid, sizeof jid, "%s", it->jid);
    account *contact = account_of(jid);
    unsigned s = it->state;
    pxmpp_presence p;
    memset(&p, 0, sizeof p);
    p.from = ac->bare;
    if (contact && (s & (PXMPP_SUB_TO | PXMPP_SUB_PENDING_OUT))) {
        p.type = PXMPP_PRESENCE_TYPE_UNSUBSCRIBE;
        p.to = contact->bare;
        subscription_inbound(ac, contact, &p);
    }
    if (contact && (s & PXMPP_SUB_FROM)) {
        send_unavailable_of(ac, contact);
        p.type = PXMPP_PRESENCE_TYPE_UNSUBSCRIBED;
        p.to = contact->bare;
        subscription_inbound(ac, contact, &p);
    }
    it = item_find(ac, jid); /* answers on the contact's behalf may have moved the array */
    if (it)
        item_remove(ac, it);
}

static int cb_roster_set(void *user, const char *bare, pxmpp_roster_item *ri, char *ver, size_t cap)
{
    (void)user;
    account *ac = account_of(bare);
    char jid[PXMPP_JID_STR_MAX + 1];
    if (!ac || pxmpp_jid_normalize_str(ri->jid, strlen(ri->jid), jid, sizeof jid, NULL) != 0)
        return -1;
    item *it = item_find(ac, jid);
    if (ri->subscription == PXMPP_ROSTER_SUBSCRIPTION_REMOVE) {
        if (!it || !it->listed)
            return 1;
        remove_contact(ac, it);
    } else {
        if (!it)
            it = item_add(ac, jid);
        if (!it || item_set_details(it, ri->name, ri->groups, ri->groups_count) != 0)
            return -1;
        it->listed = true;
        pxmpp_sub_to_item((pxmpp_sub_state)it->state, ri);
    }
    ac->ver++;
    mark_dirty();
    snprintf(ver, cap, "%llu", (unsigned long long)ac->ver);
    return 0;
}

static void cb_roster_push(void *user, const char *bare, const pxmpp_roster_item *ri, const char *ver)
{
    (void)user;
    push_to_interested(account_of(bare), ri, ver);
}

static void cb_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    conn *c = user;
    const char *cs = pxmpp_stream_error_condition_str(cond);
    VERBOSE("%s: session ended: %s%s%s (%s)", c->addr, pxmpp_strerror(code), cs ? ", " : "", cs ? cs : "", reason);
    c->dead = true;
    c->dead_since = now_ms();
}

static void cb_closed(void *user)
{
    conn *c = user;
    VERBOSE("%s: closed by the client", c->addr);
    c->dead = true;
    c->dead_since = now_ms();
}

static void cb_log(void *user, const char *line)
{
    conn *c = user;
    VERBOSE("%s: %s", c->addr, line);
}

/* ---- connections: sockets and TLS ----------------------------------------------------------- */

static size_t conns_from(const char *addr)
{
    size_t n = 0;
    for (conn *c = g_conns; c; c = c->next)
        n += strcmp(c->addr, addr) == 0;
    return n;
}

static void conn_accept(int lfd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept(lfd, (struct sockaddr *)&ss, &sl);
    if (fd < 0)
        return;
    char addr[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
    if (g_nconns >= g_opt.max_conns || conns_from(addr) >= g_opt.max_per_addr) {
        VERBOSE("%s: connection refused (limit of connections reached)", addr);
        close(fd);
        return;
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    memcpy(c->addr, addr, sizeof addr);
    c->born = c->tokens_at = c->last_input = now_ms();
    c->tokens = (double)g_opt.rate;
    pxmpp_server_config cfg = { .domain = g_domain };
    pxmpp_server_callbacks cb = { .write = cb_write, .start_tls = cb_start_tls, .scram_secrets = cb_secrets,
                                  .authenticated = cb_authenticated, .bind = cb_bind, .bound = cb_bound,
                                  .route = cb_route, .roster_get = cb_roster_get, .roster_set = cb_roster_set,
                                  .roster_push = cb_roster_push, .failed = cb_failed, .closed = cb_closed,
                                  .log = cb_log };
    if (pxmpp_server_new(&c->srv, &cfg, &cb, c) != 0) {
        close(fd);
        free(c);
        return;
    }
    c->next = g_conns;
    g_conns = c;
    g_nconns++;
    VERBOSE("%s: connected", addr);
}

/* Writes queued output.  Returns false when the connection broke. */
static bool conn_flush(conn *c)
{
    while (c->out_off < c->out_len && c->tls != TLS_HANDSHAKE) {
        size_t n = c->out_len - c->out_off;
        ssize_t w;
        if (c->tls == TLS_UP) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->out + c->out_off, n > INT32_MAX ? INT32_MAX : (int)n);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ;
            }
            w = r;
        } else {
            w = send(c->fd, c->out + c->out_off, n, MSG_NOSIGNAL);
            if (w < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return true;
}

/* The channel-binding data of the TLS connection (RFC 9266 under TLS 1.3, RFC 5929
   tls-unique before), for SCRAM-*-PLUS. */
static void tls_done(conn *c)
{
    unsigned char cb[64];
    size_t len = 0;
    const char *type = NULL;
    static const char label[] = "EXPORTER-Channel-Binding";
    if (SSL_version(c->ssl) >= TLS1_3_VERSION) {
        if (SSL_export_keying_material(c->ssl, cb, 32, label, sizeof label - 1, (const unsigned char *)"", 0, 1) == 1) {
            type = "tls-exporter";
            len = 32;
        }
    } else {
        /* the first Finished message of the handshake: the client's in a full handshake */
        len = SSL_session_reused(c->ssl) ? SSL_get_finished(c->ssl, cb, sizeof cb)
                                         : SSL_get_peer_finished(c->ssl, cb, sizeof cb);
        if (len > 0 && len <= sizeof cb)
            type = "tls-unique";
    }
    c->tls = TLS_UP;
    if (g_opt.no_cb)
        type = NULL;
    VERBOSE("%s: TLS up (%s)", c->addr, SSL_get_version(c->ssl));
    if (pxmpp_server_tls_ready(c->srv, type, type ? cb : NULL, type ? len : 0) != 0)
        c->dead = true;
    OPENSSL_cleanse(cb, sizeof cb);
}

static void tls_step(conn *c)
{
    if (c->tls == TLS_PENDING) {
        if (c->out_off < c->out_len)
            return; /* <proceed/> first */
        /* bytes after <starttls/> that were held back: white space is dropped, anything
           else would be read as if it had come through TLS */
        for (size_t i = c->in_off; c->in && i < c->in_len; i++)
            if (c->in[i] != ' ' && c->in[i] != '\t' && c->in[i] != '\r' && c->in[i] != '\n') {
                VERBOSE("%s: unencrypted bytes followed <starttls/>", c->addr);
                c->dead = true;
                c->dead_since = now_ms();
                c->out_len = c->out_off = 0;
                return;
            }
        drop_input(c);
        c->ssl = SSL_new(g_tls);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
            (void)pxmpp_server_tls_ready(c->srv, NULL, NULL, 0); /* fails the STARTTLS state */
            c->dead = true;
            return;
        }
        c->tls = TLS_HANDSHAKE;
    }
    ERR_clear_error();
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        tls_done(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->hs_events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return;
    }
    char why[160];
    ERR_error_string_n(ERR_get_error(), why, sizeof why);
    VERBOSE("%s: TLS handshake failed: %s", c->addr, why);
    c->dead = true;
    c->dead_since = now_ms();
    c->out_len = c->out_off = 0; /* nothing more can be sent */
}

/* Charges the stanzas the session read since the last charge to the rate limit. */
static void charge(conn *c)
{
    uint64_t seen = pxmpp_server_stanza_count(c->srv);
    c->tokens -= (double)(seen - c->seen);
    c->seen = seen;
}

/* Feeds @p n bytes, in slices of FEED_SLICE while a rate is set so that a burst in one read
   cannot run far past the limit, until the rate is spent, the session ends or waits for TLS.
   Returns how many bytes were fed. */
static size_t feed_slices(conn *c, const char *p, size_t n)
{
    size_t off = 0;
    while (off < n && !c->dead && (c->tls == TLS_NONE || c->tls == TLS_UP) &&
           (!g_opt.rate || c->tokens >= 0)) {
        size_t k = n - off;
        if (g_opt.rate && k > FEED_SLICE)
            k = FEED_SLICE;
        (void)pxmpp_server_feed(c->srv, p + off, k);
        off += k;
        charge(c);
    }
    return off;
}

/* Keeps bytes read but not fed yet (the rate limit was reached) for later. */
static void hold_input(conn *c, const char *p, size_t n)
{
    char *keep = malloc(n);
    if (!keep) {
        c->dead = true;
        c->dead_since = now_ms();
        return;
    }
    memcpy(keep, p, n);
    c->in = keep;
    c->in_len = n;
    c->in_off = 0;
}

/* Feeds what was held back, then reads what the socket has and feeds it.  Stops early when
   the rate limit is spent (the rest is held back). */
static void conn_read(conn *c)
{
    if (c->in) {
        c->in_off += feed_slices(c, c->in + c->in_off, c->in_len - c->in_off);
        if (c->in_off < c->in_len)
            return;
        drop_input(c);
    }
    char buf[READ_CHUNK];
    for (int rounds = 0; rounds < 8 && !c->dead && !c->eof && (c->tls == TLS_NONE || c->tls == TLS_UP); rounds++) {
        if (g_opt.rate && c->tokens < 0)
            return;
        ssize_t n;
        if (c->tls == TLS_UP) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, buf, sizeof buf);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    return;
                n = e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
            } else {
                n = r;
            }
        } else {
            n = recv(c->fd, buf, sizeof buf, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
        }
        if (n <= 0) {
            c->eof = true;
            (void)pxmpp_server_finish(c->srv);
            c->dead = true;
            c->dead_since = now_ms();
            return;
        }
        c->last_input = now_ms();
        c->trimmed = false;
        size_t fed = feed_slices(c, buf, (size_t)n);
        if (fed < (size_t)n && !c->dead) {
            hold_input(c, buf + fed, (size_t)n - fed);
            return;
        }
    }
}

static void conn_free(conn *c)
{
    if (c->ssl) {
        if (c->tls == TLS_UP && !c->eof)
            (void)SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    pxmpp_server_free(c->srv);
    drop_input(c);
    if (c->out)
        OPENSSL_cleanse(c->out, c->out_cap);
    free(c->out);
    free(c);
}

/* ---- the state file --------------------------------------------------------------------------- */

static int append_stanza(pxmpp_buf *b, const pxmpp_type_desc *d, const void *obj)
{
    int rc = pxmpp_write(b, d, obj, "jabber:client", 0);
    return rc ? rc : pxmpp_buf_append(b, "\n", 1);
}

/* The whole state as a sequence of stanzas: per account an iq result holding its roster
   (with its version; subscription, ask and approved show the state), the subscribe requests
   waiting for an answer, and the stored messages (with their delay). */
static int state_serialize(pxmpp_buf *b)
{
    pxmpp_arena *a = NULL;
    if (pxmpp_arena_new(&a, NULL, 0) != 0)
        return PXMPP_ERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < g_naccounts && !rc; i++) {
        account *ac = g_accounts[i];
        pxmpp_arena_reset(a);
        pxmpp_roster_query *q = pxmpp_new(a, &pxmpp_roster_query_desc);
        pxmpp_iq *iq = pxmpp_build_iq(a, PXMPP_IQ_TYPE_RESULT, ac->bare, "roster", NULL, NULL);
        if (!q || !iq || cb_roster_get(NULL, ac->bare, a, q) != 0 ||
            pxmpp_iq_add_payload(a, iq, &pxmpp_roster_query_desc, q) != 0) {
            rc = PXMPP_ERR_NOMEM;
            break;
        }
        q->meta.present |= PXMPP_ROSTER_QUERY_HAS_VER;
        rc = append_stanza(b, &pxmpp_iq_desc, iq);
        for (size_t k = 0; k < ac->nitems && !rc; k++)
            if (ac->items[k].pending.obj)
                rc = append_stanza(b, &pxmpp_presence_desc, ac->items[k].pending.obj);
        for (size_t k = 0; k < ac->noffline && !rc; k++)
            rc = append_stanza(b, &pxmpp_message_desc, ac->offline[k].obj);
    }
    pxmpp_arena_free(a);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes the state file atomically: a temporary file, synced, renamed over the old one,
   and the directory synced.  Returns 0 or -1 (said on stderr). */
static int state_save(void)
{
    if (!g_opt.state)
        return 0;
    pxmpp_buf b;
    pxmpp_buf_init(&b, NULL);
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/%s", g_opt.state, STATE_FILE);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", g_opt.state, STATE_FILE);
    int rc = state_serialize(&b);
    if (rc) {
        say("cannot save the state: %s", pxmpp_strerror(rc));
        pxmpp_buf_free(&b);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write_all(fd, b.data ? b.data : "", b.len) == 0 && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (ok) {
        int dfd = open(g_opt.state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    } else {
        say("cannot save the state to %s: %s", path, strerror(errno));
        (void)unlink(tmp);
    }
    pxmpp_buf_free(&b);
    if (ok)
        g_dirty = false;
    return ok ? 0 : -1;
}

typedef struct loader {
    const char *path;
    int err;
    char why[256];
} loader;

static void load_iq(void *user, const pxmpp_iq *iq)
{
    loader *l = user;
    account *ac = account_of(iq->to);
    const pxmpp_roster_query *q = NULL;
    for (size_t i = 0; i < iq->payloads_count && !q; i++)
        if (iq->payloads[i].type == &pxmpp_roster_query_desc && !iq->payloads[i].invalid)
            q = iq->payloads[i].data;
    if (!ac || !q) {
        say("%s: skipping the roster of %s (no such account)", l->path, iq->to ? iq->to : "?");
        return;
    }
    ac->ver = q->ver ? strtoull(q->ver, NULL, 10) : 0;
    for (size_t i = 0; i < q->items_count; i++) {
        const pxmpp_roster_item *ri = &q->items[i];
        char jid[PXMPP_JID_STR_MAX + 1];
        item *it = NULL;
        if (pxmpp_jid_normalize_str(ri->jid, strlen(ri->jid), jid, sizeof jid, NULL) != 0 ||
            !(it = item_add(ac, jid)) || item_set_details(it, ri->name, ri->groups, ri->groups_count) != 0) {
            l->err = -1;
            snprintf(l->why, sizeof l->why, "cannot keep the roster item %.100s of %.100s", ri->jid, ac->bare);
            return;
        }
        it->state = pxmpp_sub_from_item(ri, false);
        it->listed = true;
    }
}

static void load_presence(void *user, const pxmpp_presence *p)
{
    loader *l = user;
    account *ac = account_of(p->to);
    char from[PXMPP_JID_STR_MAX + 1];
    if (!ac || p->type != PXMPP_PRESENCE_TYPE_SUBSCRIBE || !p->from ||
        pxmpp_jid_bare_str(p->from, strlen(p->from), from, sizeof from, NULL) != 0) {
        say("%s: skipping a presence to %s", l->path, p->to ? p->to : "?");
        return;
    }
    item *it = item_add(ac, from);
    if (!it || stored_keep(&it->pending, &pxmpp_presence_desc, p) != 0) {
        l->err = -1;
        snprintf(l->why, sizeof l->why, "cannot keep a subscription request to %.150s", ac->bare);
        return;
    }
    it->state |= PXMPP_SUB_PENDING_IN;
    if (!pxmpp_sub_valid((pxmpp_sub_state)it->state))
        it->state &= ~(unsigned)PXMPP_SUB_PENDING_IN;
}

static void load_message(void *user, const pxmpp_message *m)
{
    loader *l = user;
    account *ac = account_of(m->to);
    if (!ac) {
        say("%s: skipping a stored message to %s (no such account)", l->path, m->to ? m->to : "?");
        return;
    }
    stored *s = offline_slot(ac);
    if (!s || stored_keep(s, &pxmpp_message_desc, m) != 0) {
        l->err = -1;
        snprintf(l->why, sizeof l->why, "out of memory");
        return;
    }
    ac->offline_bytes += pxmpp_arena_held(s->a);
    ac->noffline++;
}

static void load_invalid(void *user, const pxmpp_type_desc *d, const void *partial, const pxmpp_diag *why,
                         uint64_t offset)
{
    (void)d;
    (void)partial;
    (void)why;
    loader *l = user;
    l->err = -1;
    snprintf(l->why, sizeof l->why, "an invalid stanza at byte %llu", (unsigned long long)offset);
}

static void load_error(void *user, int code, const char *reason, uint64_t offset)
{
    loader *l = user;
    l->err = code;
    snprintf(l->why, sizeof l->why, "%s at byte %llu", reason, (unsigned long long)offset);
}

/* Loads DIR/STATE_FILE when it exists.  A file that cannot be read or parsed stops the
   server (exit 2): starting with an empty state would overwrite it at the next save. */
static void state_load(void)
{
    if (!g_opt.state)
        return;
    struct stat st;
    if (stat(g_opt.state, &st) != 0 || !S_ISDIR(st.st_mode))
        die(EXIT_USAGE, "--state %s: not a directory", g_opt.state);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_opt.state, STATE_FILE);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return;
        die(EXIT_USAGE, "cannot read %s: %s", path, strerror(errno));
    }
    loader l = { .path = path };
    pxmpp_stream_callbacks cb = { .message = load_message, .presence = load_presence, .iq = load_iq,
                                  .stanza_invalid = load_invalid, .error = load_error };
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
    cfg.limits.max_stanza_bytes = 64u << 20; /* a roster is one stanza here */
    pxmpp_stream *s = NULL;
    if (pxmpp_stream_new(&s, PXMPP_ROLE_CLIENT, &cb, &cfg, &l) != 0)
        die(EXIT_SETUP, "out of memory");
    char buf[65536];
    size_t n;
    while (!l.err && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (pxmpp_stream_feed(s, buf, n) != 0 && !l.err)
            l.err = -1;
    if (!l.err && ferror(f))
        snprintf(l.why, sizeof l.why, "%s", strerror(errno)), l.err = -1;
    if (!l.err && pxmpp_stream_finish(s) != 0)
        snprintf(l.why, sizeof l.why, "truncated"), l.err = -1;
    pxmpp_stream_free(s);
    fclose(f);
    if (l.err)
        die(EXIT_USAGE, "cannot load %s: %s", path, l.why[0] ? l.why : "not a state file");
    size_t items = 0, msgs = 0;
    for (size_t i = 0; i < g_naccounts; i++)
        items += g_accounts[i]->nitems, msgs += g_accounts[i]->noffline;
    say("loaded %s: %zu roster items, %zu stored messages", path, items, msgs);
}

/* ---- accounts -------------------------------------------------------------------------------- */

/* One account of the users file, before it joins the store. */
typedef struct user_entry {
    char local[PXMPP_JID_PART_MAX + 1];
    pxmpp_scram_secrets sha1, sha256;
} user_entry;

/* Reads the users file into @p out (*n entries, malloc'ed).  Returns 0, or -1 with the
   reason in @p why.  Passwords are wiped as soon as their secrets are computed. */
static int read_users(user_entry **out, size_t *n, char *why, size_t why_cap)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(g_opt.users, "r");
    if (!f) {
        snprintf(why, why_cap, "cannot read %s: %s", g_opt.users, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int rc = 0;
    user_entry *list = NULL;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        char jid[PXMPP_JID_STR_MAX + 1];
        pxmpp_jid j;
        if (!colon || colon == line || !colon[1]) {
            snprintf(why, why_cap, "%s:%lu: expected 'localpart:password'", g_opt.users, lineno);
            rc = -1;
            break;
        }
        *colon = '\0';
        if (strchr(line, '@') || strchr(line, '/') ||
            snprintf(jid, sizeof jid, "%s@%s", line, g_domain) >= (int)sizeof jid ||
            pxmpp_jid_parse(&j, jid, strlen(jid), PXMPP_JID_NORMALIZE) != 0) {
            snprintf(why, why_cap, "%s:%lu: not a valid localpart", g_opt.users, lineno);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < *n; i++)
            if (strcmp(list[i].local, j.local) == 0) {
                snprintf(why, why_cap, "%s:%lu: account %.200s listed twice", g_opt.users, lineno, j.local);
                rc = -1;
            }
        user_entry *grown = rc ? NULL : realloc(list, (*n + 1) * sizeof *list);
        if (!rc && !grown) {
            snprintf(why, why_cap, "out of memory");
            rc = -1;
        }
        if (rc)
            break;
        list = grown;
        user_entry *u = &list[*n];
        memset(u, 0, sizeof *u);
        memcpy(u->local, j.local, sizeof u->local);
        unsigned char salt[16];
        if (RAND_bytes(salt, sizeof salt) != 1 ||
            pxmpp_server_scram_secrets(PXMPP_SCRAM_SHA1, colon + 1, salt, sizeof salt, SCRAM_ITERATIONS, &u->sha1) ||
            RAND_bytes(salt, sizeof salt) != 1 ||
            pxmpp_server_scram_secrets(PXMPP_SCRAM_SHA256, colon + 1, salt, sizeof salt, SCRAM_ITERATIONS,
                                       &u->sha256)) {
            snprintf(why, why_cap, "%s:%lu: the password of %.200s is not usable (SASLprep refuses it)", g_opt.users,
                     lineno, j.local);
            rc = -1;
            break;
        }
        (*n)++;
    }
    if (line)
        OPENSSL_cleanse(line, cap);
    free(line);
    fclose(f);
    if (rc) {
        if (list)
            OPENSSL_cleanse(list, *n * sizeof *list);
        free(list);
        list = NULL;
        *n = 0;
    }
    *out = list;
    return rc;
}

/* Brings the store in line with the users file: new accounts are added, the secrets of
   known ones replaced; an account no longer listed cannot log in any more (its sessions,
   roster and stored messages stay).  Returns 0 or -1 (reason in @p why). */
static int apply_users(char *why, size_t why_cap)
{
    user_entry *list;
    size_t n;
    if (read_users(&list, &n, why, why_cap) != 0)
        return -1;
    for (size_t i = 0; i < g_naccounts; i++)
        g_accounts[i]->enabled = false;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        account *ac = NULL;
        for (size_t k = 0; k < g_naccounts && !ac; k++)
            if (strcmp(g_accounts[k]->local, list[i].local) == 0)
                ac = g_accounts[k];
        if (!ac) {
            account **grown = realloc(g_accounts, (g_naccounts + 1) * sizeof *grown);
            ac = grown ? calloc(1, sizeof *ac) : NULL;
            if (grown)
                g_accounts = grown;
            if (!ac) {
                snprintf(why, why_cap, "out of memory");
                rc = -1;
                break;
            }
            memcpy(ac->local, list[i].local, sizeof ac->local);
            snprintf(ac->bare, sizeof ac->bare, "%s@%s", ac->local, g_domain);
            g_accounts[g_naccounts++] = ac;
        }
        ac->sha1 = list[i].sha1;
        ac->sha256 = list[i].sha256;
        ac->enabled = true;
    }
    OPENSSL_cleanse(list, n * sizeof *list);
    free(list);
    return rc;
}

/* ---- listening -------------------------------------------------------------------------------- */

static int listen_on(const char *spec, char *shown, size_t shown_cap)
{
    char host[512];
    const char *port;
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1])
        die(EXIT_USAGE, "--listen %s: expected HOST:PORT", spec);
    size_t hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl >= sizeof host)
        die(EXIT_USAGE, "--listen: host too long");
    memcpy(host, spec, hl);
    host[hl] = '\0';
    port = colon + 1;
    char *end;
    unsigned long pn = strtoul(port, &end, 10);
    if (*end || pn > 65535)
        die(EXIT_USAGE, "--listen: '%s' is not a port", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        die(EXIT_SETUP, "cannot listen on %s: %s", host, gai_strerror(gai));
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        die(EXIT_SETUP, "cannot listen on %s: %s", spec, strerror(err));
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    unsigned actual = (unsigned)pn;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        actual = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(shown, shown_cap, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, actual);
    return fd;
}

static void tls_setup(void)
{
    g_tls = SSL_CTX_new(TLS_server_method());
    if (!g_tls)
        die(EXIT_SETUP, "cannot create a TLS context");
    (void)SSL_CTX_set_min_proto_version(g_tls, TLS1_2_VERSION);
    SSL_CTX_set_mode(g_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    char why[256] = "";
    if (SSL_CTX_use_certificate_chain_file(g_tls, g_opt.cert) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        die(EXIT_SETUP, "cannot load the certificate %s: %s", g_opt.cert, why);
    }
    if (SSL_CTX_use_PrivateKey_file(g_tls, g_opt.key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(g_tls) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        die(EXIT_SETUP, "cannot load the key %s: %s", g_opt.key, why);
    }
}

/* ---- the loop ---------------------------------------------------------------------------------- */

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        g_reload = 1;
    else
        g_stop = 1;
}

/* Refills the rate limit's tokens (up to one second's worth). */
static void refill(conn *c, uint64_t now)
{
    if (!g_opt.rate)
        return;
    double add = (double)(now - c->tokens_at) * (double)g_opt.rate / 1000.0;
    c->tokens_at = now;
    c->tokens += add;
    if (c->tokens > (double)g_opt.rate)
        c->tokens = (double)g_opt.rate;
}

/* Ends connections that did not bind in time, and reaps the dead ones whose output is out
   (or that could not take it within the grace time). */
static void sweep(uint64_t now)
{
    for (conn **pp = &g_conns; *pp;) {
        conn *c = *pp;
        if (!c->dead && !c->bound && now - c->born > g_opt.login_timeout_s * 1000u) {
            VERBOSE("%s: no login within %lu s", c->addr, g_opt.login_timeout_s);
            if (pxmpp_server_get_state(c->srv) == PXMPP_SERVER_WAITING || c->tls == TLS_HANDSHAKE ||
                pxmpp_server_end(c->srv, PXMPP_STREAM_ERROR_CONDITION_CONNECTION_TIMEOUT, NULL) != 0) {
                c->dead = true;
                c->dead_since = now;
            }
        }
        if (!c->dead && !c->trimmed && !c->in && c->srv && now - c->last_input > IDLE_TRIM_MS) {
            /* an idle connection keeps about 20 KB instead of the ~45 KB of a busy one; the
               next stanza takes them back (pxmpp_stream_trim) */
            c->trimmed = pxmpp_stream_trim(pxmpp_server_stream(c->srv)) == 0;
        }
        if (c->dead && (c->out_off == c->out_len || c->eof || now - c->dead_since > CLOSE_GRACE_MS)) {
            *pp = c->next;
            g_nconns--;
            VERBOSE("%s: connection closed", c->addr);
            conn_free(c);
            continue;
        }
        pp = &c->next;
    }
}

static void shutdown_all(void)
{
    say("closing %zu connections", g_nconns);
    for (conn *c = g_conns; c; c = c->next) {
        pxmpp_server_state st = pxmpp_server_get_state(c->srv);
        if (c->dead)
            continue;
        if (st == PXMPP_SERVER_WAITING || c->tls == TLS_PENDING || c->tls == TLS_HANDSHAKE ||
            pxmpp_server_close(c->srv) != 0) {
            c->dead = true;
            c->dead_since = now_ms();
        }
    }
}

static void run(int lfd)
{
    uint64_t stop_at = 0;
    struct pollfd *pfd = NULL;
    conn **pc = NULL;
    size_t cap = 0;
    for (;;) {
        uint64_t now = now_ms();
        if (g_reload) {
            char why[512];
            g_reload = 0;
            if (apply_users(why, sizeof why) != 0)
                say("users file not reloaded: %s", why);
            else
                say("users file reloaded: %zu accounts", g_naccounts);
        }
        if (g_stop && !stop_at) {
            stop_at = now + CLOSE_GRACE_MS;
            shutdown_all();
        }
        for (conn *c = g_conns; c; c = c->next) {
            if (c->in && !c->dead && (!g_opt.rate || c->tokens >= 0))
                conn_read(c); /* input held back by the rate limit */
            if (!conn_flush(c)) {
                c->dead = c->eof = true;
                c->dead_since = now;
            }
            if (c->tls == TLS_PENDING && !c->dead)
                tls_step(c); /* once <proceed/> is out */
            refill(c, now);
        }
        sweep(now);
        if (stop_at && (!g_conns || now >= stop_at))
            break;
        if (g_dirty && now - g_dirty_since >= SAVE_DELAY_MS)
            (void)state_save();
        if (g_nconns + 1 > cap) {
            cap = 2 * (g_nconns + 1);
            pfd = realloc(pfd, cap * sizeof *pfd);
            pc = realloc(pc, cap * sizeof *pc);
            if (!pfd || !pc)
                die(EXIT_SETUP, "out of memory");
        }
        size_t n = 0;
        pfd[n++] = (struct pollfd){ .fd = stop_at ? -1 : lfd, .events = POLLIN };
        int timeout = 200;
        for (conn *c = g_conns; c; c = c->next) {
            short ev = 0;
            if (c->tls == TLS_HANDSHAKE && !c->dead) {
                ev = c->hs_events ? c->hs_events : POLLIN;
            } else {
                if (!c->eof && !c->dead && c->tls != TLS_PENDING && (!g_opt.rate || c->tokens >= 0))
                    ev |= POLLIN;
                if (c->out_off < c->out_len)
                    ev |= POLLOUT;
            }
            if (g_opt.rate && c->tokens < 0)
                timeout = 20;
            pc[n] = c;
            pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
        }
        if (poll(pfd, n, timeout) < 0 && errno != EINTR)
            die(EXIT_SETUP, "poll: %s", strerror(errno));
        if (pfd[0].revents & POLLIN)
            for (int k = 0; k < 16; k++)
                conn_accept(lfd);
        for (size_t i = 1; i < n; i++) {
            conn *c = pc[i];
            if (!pfd[i].revents)
                continue;
            if (c->tls == TLS_HANDSHAKE) {
                tls_step(c);
                continue;
            }
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                conn_read(c);
            /* SSL may hold decrypted bytes the socket no longer signals */
            while (!c->dead && c->tls == TLS_UP && SSL_pending(c->ssl) > 0 && (!g_opt.rate || c->tokens >= 0))
                conn_read(c);
        }
    }
    free(pfd);
    free(pc);
}

/* ---- command line -------------------------------------------------------------------------------- */

static void missing_value(const char *name)
{
    die(EXIT_USAGE, "%s needs a value", name);
}

/* cli_value() with this tool's usage error. */
static const char *value_of(const char *name, int argc, char **argv, int *i)
{
    return cli_value(name, argc, argv, i, missing_value);
}

static unsigned long number(const char *name, const char *v, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || errno || n > max || v[0] == '-')
        die(EXIT_USAGE, "%s: '%s' is not a number from 0 to %lu", name, v, max);
    return n;
}

static void parse(int argc, char **argv)
{
    options *o = &g_opt;
    *o = (options){ .max_conns = 1000, .max_per_addr = 16, .rate = 100, .login_timeout_s = 60,
                    .offline_limit = 1000 };
    const char *v;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help_text, stdout);
            exit(EXIT_OK);
        }
        if (strcmp(argv[i], "--verbose") == 0)
            o->verbose = true;
        else if (strcmp(argv[i], "--no-channel-binding") == 0)
            o->no_cb = true;
        else if ((v = value_of("--domain", argc, argv, &i)))
            o->domain = v;
        else if ((v = value_of("--listen", argc, argv, &i)))
            o->listen = v;
        else if ((v = value_of("--cert", argc, argv, &i)))
            o->cert = v;
        else if ((v = value_of("--key", argc, argv, &i)))
            o->key = v;
        else if ((v = value_of("--users", argc, argv, &i)))
            o->users = v;
        else if ((v = value_of("--state", argc, argv, &i)))
            o->state = v;
        else if ((v = value_of("--max-connections-per-address", argc, argv, &i)))
            o->max_per_addr = number("--max-connections-per-address", v, 100000);
        else if ((v = value_of("--max-connections", argc, argv, &i)))
            o->max_conns = number("--max-connections", v, 100000);
        else if ((v = value_of("--max-stanzas-per-second", argc, argv, &i)))
            o->rate = number("--max-stanzas-per-second", v, 1000000);
        else if ((v = value_of("--login-timeout", argc, argv, &i)))
            o->login_timeout_s = number("--login-timeout", v, 86400);
        else if ((v = value_of("--offline-limit", argc, argv, &i)))
            o->offline_limit = number("--offline-limit", v, 1000000);
        else
            die(EXIT_USAGE, "unexpected argument '%s'", argv[i]);
    }
    if (!o->domain || !o->listen || !o->cert || !o->key || !o->users)
        die(EXIT_USAGE, "--domain, --listen, --cert, --key and --users are required");
    if (o->max_conns == 0 || o->max_per_addr == 0 || o->login_timeout_s == 0)
        die(EXIT_USAGE, "--max-connections, --max-connections-per-address and --login-timeout must be at least 1");
    pxmpp_jid j;
    if (pxmpp_jid_parse(&j, o->domain, strlen(o->domain), PXMPP_JID_NORMALIZE) != 0 || j.has_local ||
        j.has_resource)
        die(EXIT_USAGE, "--domain %s: not a valid domain", o->domain);
    memcpy(g_domain, j.domain, sizeof g_domain);
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    char why[512];
    if (apply_users(why, sizeof why) != 0)
        die(EXIT_USAGE, "%s", why);
    if (g_naccounts == 0)
        say("%s lists no accounts yet (add some, then send SIGHUP)", g_opt.users);
    state_load();
    tls_setup();
    char shown[600];
    int lfd = listen_on(g_opt.listen, shown, sizeof shown);
    if (pxmpp_arena_new(&g_tmp, NULL, 0) != 0)
        die(EXIT_SETUP, "out of memory");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    say("listening on %s", shown);
    run(lfd);
    close(lfd);
    int rc = state_save() == 0 ? EXIT_OK : EXIT_SETUP;
    for (size_t i = 0; i < g_naccounts; i++) {
        account *ac = g_accounts[i];
        while (ac->nitems)
            item_remove(ac, &ac->items[0]);
        for (size_t k = 0; k < ac->noffline; k++)
            stored_free(&ac->offline[k]);
        free(ac->items);
        free(ac->offline);
        OPENSSL_cleanse(ac, sizeof *ac);
        free(ac);
    }
    free(g_accounts);
    pxmpp_arena_free(g_tmp);
    SSL_CTX_free(g_tls);
    say("stopped");
    return rc;
}
