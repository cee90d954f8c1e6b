/* pxmpp-client: a command-line XMPP client meant to be driven by scripts.
 *
 * One process is one session: connect, STARTTLS, SASL, resource binding, run one
 * command, close.  Results go to stdout as JSON lines, diagnostics to stderr, and
 * the exit status tells what went wrong (see usage_text). */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include <pxmpp/client.h>
#include <pxmpp/net.h>
#include <pxmpp/pxmpp.h>

enum { EXIT_OK = 0, EXIT_USAGE = 2, EXIT_NET = 3, EXIT_AUTH = 4, EXIT_PROTO = 5 };

/* How long a clean close may take once </stream:stream> is sent. */
#define CLOSE_GRACE_MS 2000u

static const char usage_text[] =
    "usage: pxmpp-client [options] COMMAND [ARGS]\n"
    "\n"
    "options:\n"
    "  --jid JID               the account, user@domain (required)\n"
    "  --password-file FILE    read the password from the first line of FILE; without it the\n"
    "                          PXMPP_PASSWORD environment variable is used (a password is never\n"
    "                          accepted on the command line)\n"
    "  --host H --port P       where to connect (default: the servers named by the DNS SRV\n"
    "                          records of the JID's domain, else the domain, port 5222)\n"
    "  --tls required|optional|disabled\n"
    "                          STARTTLS policy (default required)\n"
    "  --cafile FILE           trust anchors (default: the system's); the server certificate is\n"
    "                          always verified and must name the JID's domain\n"
    "  --mechanisms LIST       SASL mechanisms in preference order, used exactly as named\n"
    "                          (default SCRAM-SHA-256-PLUS,SCRAM-SHA-1-PLUS,SCRAM-SHA-256,\n"
    "                          SCRAM-SHA-1,PLAIN); without TLS only SCRAM is used, and PLAIN\n"
    "                          too when this option names it explicitly\n"
    "  --resource NAME         resource to request (default: assigned by the server)\n"
    "  --timeout SECONDS       deadline for the whole session (default 30); closing the\n"
    "                          stream cleanly may take up to 2 more seconds\n"
    "  --keepalive SECONDS     after SECONDS without traffic, ping the server; when nothing\n"
    "                          arrives within SECONDS more, the connection counts as lost\n"
    "                          (exit status 3); 0 never pings (default 60)\n"
    "  --reconnect N           when the connection is lost, connect again up to N times in a\n"
    "                          row, waiting 0.5 s and up to 8 s, resuming the session\n"
    "                          (XEP-0198) when the server allows; each loss and resumption\n"
    "                          is told on stderr, and what may be missing when it fails\n"
    "                          (default 5 for listen and session, 0 for the other commands;\n"
    "                          0 disables)\n"
    "\n"
    "commands:\n"
    "  roster [--ver V]        one JSON line per item {\"jid\",\"name\",\"subscription\",\"ask\",\"groups\"},\n"
    "                          then {\"ver\":...}; with --ver V (a stored version) and an\n"
    "                          unchanged roster only {\"ver\":V,\"unchanged\":true}\n"
    "  roster-add JID [--name N] [--group G]...\n"
    "  roster-remove JID\n"
    "  subscribe JID | approve JID | unsubscribe JID | revoke JID\n"
    "  send JID TEXT [--type chat|normal|headline]      (default chat)\n"
    "  listen [--count N]      fetch the roster (so that roster pushes arrive) and send initial\n"
    "                          presence, then print one JSON line per received stanza until N\n"
    "                          were printed or the timeout:\n"
    "                          {\"kind\":\"message\",\"type\",\"from\",\"to\",\"id\",\"body\",\"delay\"}\n"
    "                          {\"kind\":\"presence\",\"type\",\"from\",\"show\",\"status\"}\n"
    "                          {\"kind\":\"roster-push\",\"jid\",\"subscription\",\"groups\"}\n"
    "                          (the server's echo of our own presence is not reported); without\n"
    "                          --count, reaching the timeout is the normal end\n"
    "  session                 the whole lifecycle (roster, presence, a message to ourselves and\n"
    "                          its arrival) with a readable transcript on stderr; stdout stays quiet\n"
    "  exchange FILE [--capture OUT] [--settle SECONDS]\n"
    "                          send the stanzas of FILE (a sequence of <message/>, <presence/>\n"
    "                          and <iq/> of jabber:client) one after another, each iq get or set\n"
    "                          once the previous one was answered, printing for each iq\n"
    "                          {\"id\",\"reply\":\"result\"|\"error\"|\"timeout\",\"condition\"}; then\n"
    "                          print \"pxmpp-client: listening\" on stderr and go on receiving for\n"
    "                          --settle seconds (default 2).  --capture OUT: every byte the\n"
    "                          server sends from then until the close, as received (a stanza\n"
    "                          sequence that pxmpp-stanza check reads)\n"
    "\n"
    "JSON: one object per line; null for absent values; a message's body is the one without\n"
    "xml:lang, else the first; an absent type is printed as \"normal\" (message) or \"available\"\n"
    "(presence); \"delay\" is the XEP-0203 stamp of a message delivered late (stored offline,\n"
    "say), else null.\n"
    "\n"
    "exit status: 0 ok, 2 usage, 3 network or TLS failure, 4 authentication failure,\n"
    "5 protocol error or timeout\n";

typedef enum command {
    CMD_NONE,
    CMD_ROSTER,
    CMD_ROSTER_ADD,
    CMD_ROSTER_REMOVE,
    CMD_SUBSCRIBE,
    CMD_APPROVE,
    CMD_UNSUBSCRIBE,
    CMD_REVOKE,
    CMD_SEND,
    CMD_LISTEN,
    CMD_SESSION,
    CMD_EXCHANGE
} command;

static const struct {
    const char *name;
    command cmd;
    int nargs; /* positional arguments after the command name */
} commands[] = {
    { "roster", CMD_ROSTER, 0 },
    { "roster-add", CMD_ROSTER_ADD, 1 },
    { "roster-remove", CMD_ROSTER_REMOVE, 1 },
    { "subscribe", CMD_SUBSCRIBE, 1 },
    { "approve", CMD_APPROVE, 1 },
    { "unsubscribe", CMD_UNSUBSCRIBE, 1 },
    { "revoke", CMD_REVOKE, 1 },
    { "send", CMD_SEND, 2 },
    { "listen", CMD_LISTEN, 0 },
    { "session", CMD_SESSION, 0 },
    { "exchange", CMD_EXCHANGE, 1 },
};

typedef struct options {
    const char *jid;
    const char *password_file;
    const char *host;
    uint16_t port; /* 0: 5222 */
    const char *cafile;
    const char *mechanisms;
    const char *resource;
    pxmpp_tls_policy tls;
    uint64_t timeout_ms;
    bool has_keepalive;
    uint32_t keepalive_ms; /* --keepalive: 0 off */
    int reconnect;         /* --reconnect (-1: the command's default) */
    command cmd;
    const char *cmd_name;
    const char *args[2];
    const char *name;
    const char **groups;
    size_t ngroups;
    bool has_type;
    pxmpp_message_type msg_type;
    bool has_count;
    unsigned long count;
    const char *ver; /* roster --ver: the stored roster version (RFC 6121 §2.6) */
    const char *capture;    /* exchange --capture */
    uint64_t settle_ms;     /* exchange --settle */
} options;

/* exchange: the stanzas of FILE, parsed before the session starts. */
typedef struct script {
    pxmpp_arena *arena;
    const pxmpp_type_desc **types;
    const void **objs;
    size_t count, cap, next;
    bool waiting;  /* an iq is out */
    bool settling; /* all sent */
} script;

/* Steps of `listen` and `session` after `ready`: the roster is requested first, which
   also makes the resource an interested one that gets roster pushes (RFC 6121 §2.1.6),
   then initial presence is sent. */
enum { STEP_ROSTER, STEP_ROSTER_DONE, STEP_RUNNING };

typedef struct app {
    const options *opt;
    pxmpp_net *net;
    pxmpp_client *c; /* the session, once it is ready */
    char domain[PXMPP_JID_PART_MAX + 1];
    uint64_t t0, deadline, close_deadline;
    bool transcript;
    bool ready_seen, command_started, want_close, closing, finished;
    bool new_session; /* `ready` again after a lost session could not be resumed */
    bool result_set;
    int exit_code;
    unsigned long seen; /* stanzas printed by listen */
    int step;
    char sess_id[40];
    script sc;
    FILE *capture;
} app;

/* ---- reporting -------------------------------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("pxmpp-client: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(pxmpp-client --help for usage)\n", stderr);
    exit(EXIT_USAGE);
}

/* Milliseconds of the monotonic clock. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One line of the session transcript (stderr), for the `session` command. */
static void note(const app *a, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void note(const app *a, const char *fmt, ...)
{
    if (!a->transcript)
        return;
    uint64_t ms = now_ms() - a->t0;
    fprintf(stderr, "[%3llu.%03llu] ", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A line on stderr: in the transcript of `session`, or on its own. */
static void tell(const app *a, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void tell(const app *a, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (a->transcript)
        note(a, "%s", msg);
    else
        fprintf(stderr, "pxmpp-client: %s\n", msg);
}

/* Records the outcome; the first one wins.  Failures are explained on stderr. */
static void set_result(app *a, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void set_result(app *a, int code, const char *fmt, ...)
{
    if (a->result_set)
        return;
    a->result_set = true;
    a->exit_code = code;
    if (code == EXIT_OK || !fmt)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tell(a, "%s%s", a->transcript ? "error: " : "", msg);
}

/* The exit status for a session outcome reported by the library. */
static int exit_for(int code)
{
    switch (code) {
    case PXMPP_ERR_AUTH:
    case PXMPP_ERR_NO_MECHANISM:
        return EXIT_AUTH;
    case PXMPP_ERR_TLS_REQUIRED:
    case PXMPP_ERR_TLS:
    case PXMPP_ERR_WRITE:
    case PXMPP_ERR_RESOLVE:
    case PXMPP_ERR_CONNECT:
    case PXMPP_ERR_DISCONNECTED:
        return EXIT_NET;
    default:
        return EXIT_PROTO;
    }
}

/* ---- JSON output -------------------------------------------------------------------- */

/* The text without xml:lang, else the first one, else NULL. */
static const char *pick_text(const pxmpp_lang_text *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!t[i].lang)
            return t[i].text;
    return n ? t[0].text : NULL;
}

static void put_key(bool *first, const char *key, const char *value)
{
    json_key(stdout, first, key);
    json_string(stdout, value);
}

static void put_groups(bool *first, const char *const *groups, size_t n)
{
    json_key(stdout, first, "groups");
    fputc('[', stdout);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', stdout);
        json_string(stdout, groups[i]);
    }
    fputc(']', stdout);
}

static void end_line(void)
{
    fputs("}\n", stdout);
    fflush(stdout);
}

static const char *subscription_str(pxmpp_roster_subscription s)
{
    const char *v = pxmpp_roster_subscription_str(s);
    return v ? v : "none";
}

static void print_roster_item(const pxmpp_roster_item *it)
{
    bool first = true;
    fputc('{', stdout);
    put_key(&first, "jid", it->jid);
    put_key(&first, "name", it->name);
    put_key(&first, "subscription", subscription_str(it->subscription));
    put_key(&first, "ask", pxmpp_roster_ask_str(it->ask));
    put_groups(&first, it->groups, it->groups_count);
    end_line();
}

static void print_message(const pxmpp_message *m)
{
    const char *type = pxmpp_message_type_str(m->type);
    bool first = true;
    fputc('{', stdout);
    put_key(&first, "kind", "message");
    put_key(&first, "type", type ? type : "normal");
    put_key(&first, "from", m->from);
    put_key(&first, "to", m->to);
    put_key(&first, "id", m->id);
    put_key(&first, "body", pick_text(m->bodies, m->bodies_count));
#ifdef PXMPP_GEN_XEP0203_H /* built with the delay schema */
    const pxmpp_delay *d = pxmpp_message_get_delay(m);
    put_key(&first, "delay", d ? d->stamp : NULL);
#endif
    end_line();
}

static void print_presence(const pxmpp_presence *p)
{
    const char *type = pxmpp_presence_type_str(p->type);
    bool first = true;
    fputc('{', stdout);
    put_key(&first, "kind", "presence");
    put_key(&first, "type", type ? type : "available");
    put_key(&first, "from", p->from);
    put_key(&first, "show", pxmpp_presence_show_str(p->show));
    put_key(&first, "status", pick_text(p->statuses, p->statuses_count));
    end_line();
}

static void print_roster_push(const pxmpp_roster_item *it)
{
    bool first = true;
    fputc('{', stdout);
    put_key(&first, "kind", "roster-push");
    put_key(&first, "jid", it->jid);
    put_key(&first, "subscription", subscription_str(it->subscription));
    put_groups(&first, it->groups, it->groups_count);
    end_line();
}

/* ---- listen ------------------------------------------------------------------------- */

/* Counts one printed stanza; stops the session when --count is reached. */
static void listen_counted(app *a)
{
    a->seen++;
    if (a->opt->has_count && a->seen >= a->opt->count) {
        set_result(a, EXIT_OK, NULL);
        a->want_close = true;
    }
}

static bool listening(const app *a)
{
    return a->opt->cmd == CMD_LISTEN && a->command_started && !a->want_close && !a->closing;
}

/* ---- session callbacks ---------------------------------------------------------------- */

static void cb_ready(void *user, const char *jid)
{
    app *a = user;
    if (a->ready_seen) {
        tell(a, "a new session as %s (the lost one could not be resumed: stanzas sent to us while "
                "the connection was down may be missing)", jid);
        a->new_session = true;
    }
    a->ready_seen = true;
    a->c = pxmpp_net_client(a->net);
    const char *mech = pxmpp_client_mechanism(a->c);
    note(a, "authenticated with %s%s", mech ? mech : "(unknown mechanism)",
         pxmpp_client_is_secure(a->c) ? "" : " over an unencrypted connection");
    note(a, "bound %s", jid);
}

/* --reconnect: the connection was lost; the driver connects again. */
static void cb_disconnected(void *user, int code, const char *reason, uint32_t retry_ms)
{
    app *a = user;
    (void)code;
    tell(a, "connection lost (%s); reconnecting in %u ms", reason, (unsigned)retry_ms);
}

static void cb_resumed(void *user, size_t resent)
{
    app *a = user;
    tell(a, "session resumed (XEP-0198), %zu stanza%s sent again", resent, resent == 1 ? "" : "s");
}

static void cb_stanza_lost(void *user, const char *xml, size_t len)
{
    app *a = user;
    tell(a, "sent before the connection was lost, maybe not delivered: %.*s", len > 300 ? 300 : (int)len, xml);
}

/* The session is over: the driver has closed the stream and the connection already. */
static void cb_failed(void *user, int code, const char *reason)
{
    app *a = user;
    set_result(a, exit_for(code), "%s", reason && *reason ? reason : pxmpp_strerror(code));
    a->finished = true;
}

static void cb_message(void *user, const pxmpp_message *msg)
{
    app *a = user;
    if (a->opt->cmd == CMD_SESSION) {
        const char *me = pxmpp_client_jid(a->c);
        const char *body = pick_text(msg->bodies, msg->bodies_count);
        note(a, "message from %s: %s", msg->from ? msg->from : "(server)", body ? body : "(no body)");
        if (a->step == STEP_RUNNING && msg->id && strcmp(msg->id, a->sess_id) == 0 && msg->from && me &&
            strcmp(msg->from, me) == 0 && msg->type != PXMPP_MESSAGE_TYPE_ERROR) {
            note(a, "our message came back");
            set_result(a, EXIT_OK, NULL);
            a->want_close = true;
        }
        return;
    }
    if (!listening(a))
        return;
    print_message(msg);
    listen_counted(a);
}

static void cb_presence(void *user, const pxmpp_presence *pres)
{
    app *a = user;
    const char *me = pxmpp_client_jid(a->c);
    bool own = pres->from && me && strcmp(pres->from, me) == 0;
    if (a->opt->cmd == CMD_SESSION) {
        const char *type = pxmpp_presence_type_str(pres->type);
        note(a, "presence %s from %s%s", type ? type : "available", pres->from ? pres->from : "(server)",
             own ? " (our own, echoed by the server)" : "");
        return;
    }
    if (!listening(a) || own)
        return;
    print_presence(pres);
    listen_counted(a);
}

static void cb_subscription_request(void *user, const pxmpp_presence *pres)
{
    app *a = user;
    if (a->opt->cmd == CMD_SESSION) {
        note(a, "subscription request from %s (left unanswered)", pres->from ? pres->from : "(unknown)");
        return;
    }
    if (!listening(a))
        return;
    print_presence(pres);
    listen_counted(a);
}

static void cb_roster_push(void *user, const pxmpp_roster_item *item, const char *ver)
{
    app *a = user;
    (void)ver;
    if (a->opt->cmd == CMD_SESSION) {
        note(a, "roster push: %s is now %s", item->jid, subscription_str(item->subscription));
        return;
    }
    if (!listening(a))
        return;
    print_roster_push(item);
    listen_counted(a);
}

/* The close we asked for is complete (the server closing on its own is a failure,
   PXMPP_ERR_CLOSED). */
static void cb_closed(void *user)
{
    app *a = user;
    a->finished = true;
}

/* exchange --capture: every byte the server sends while the command runs */
static void cb_received(void *user, const char *data, size_t len)
{
    app *a = user;
    if (a->capture && a->command_started && !a->closing && fwrite(data, 1, len, a->capture) != len) {
        set_result(a, EXIT_PROTO, "--capture: %s", strerror(errno));
        a->want_close = true;
    }
}

static void cb_log(void *user, const char *line)
{
    note(user, "  %s", line);
}

/* ---- command replies ------------------------------------------------------------------ */

/* Describes an iq error reply for a diagnostic. */
static void iq_failure(app *a, const char *what, const pxmpp_iq *reply, int status)
{
    if (status == PXMPP_ERR_IQ_ERROR && reply && reply->error) {
        const char *cond = pxmpp_stanza_error_condition_str(reply->error->condition);
        const char *text = pick_text(reply->error->texts, reply->error->texts_count);
        set_result(a, EXIT_PROTO, "%s: the server answered %s%s%s", what, cond ? cond : "an error",
                   text ? ": " : "", text ? text : "");
    } else {
        set_result(a, EXIT_PROTO, "%s: %s", what, pxmpp_strerror(status));
    }
    a->want_close = true;
}

static void on_iq_done(void *user, const pxmpp_iq *reply, int status)
{
    app *a = user;
    if (status == 0)
        set_result(a, EXIT_OK, NULL);
    else
        iq_failure(a, a->opt->cmd == CMD_ROSTER_ADD ? "roster-add" : "roster-remove", reply, status);
    a->want_close = true;
}

static void on_roster(void *user, int status, const pxmpp_roster_item *items, size_t count, const char *ver,
                      bool unchanged)
{
    app *a = user;
    if (status != 0) {
        iq_failure(a, "roster", NULL, status);
        return;
    }
    if (unchanged && a->opt->cmd == CMD_ROSTER) {
        /* the version given with --ver is current: the app keeps its stored copy */
        bool first = true;
        fputc('{', stdout);
        put_key(&first, "ver", a->opt->ver);
        fputs(",\"unchanged\":true", stdout);
        end_line();
        set_result(a, EXIT_OK, NULL);
        a->want_close = true;
        return;
    }
    if (a->opt->cmd == CMD_SESSION) {
        note(a, "roster: %zu item%s%s%s", count, count == 1 ? "" : "s", ver ? ", version " : "", ver ? ver : "");
        for (size_t i = 0; i < count; i++)
            note(a, "  %s (%s)", items[i].jid, subscription_str(items[i].subscription));
        a->step = STEP_ROSTER_DONE;
        return;
    }
    if (a->opt->cmd == CMD_LISTEN) {
        a->step = STEP_ROSTER_DONE;
        return;
    }
    for (size_t i = 0; i < count; i++)
        print_roster_item(&items[i]);
    bool first = true;
    fputc('{', stdout);
    put_key(&first, "ver", ver);
    end_line();
    set_result(a, EXIT_OK, NULL);
    a->want_close = true;
}

/* ---- the session driver ------------------------------------------------------------------ */

static int send_initial_presence(app *a)
{
    pxmpp_arena *ar = pxmpp_client_arena(a->c);
    pxmpp_presence *p = pxmpp_build_presence(ar, NULL, PXMPP_PRESENCE_TYPE_AVAILABLE);
    int rc = p ? pxmpp_client_send_presence(a->c, p) : PXMPP_ERR_NOMEM;
    pxmpp_arena_reset(ar);
    return rc;
}

static int send_text(app *a, const char *to, pxmpp_message_type type, const char *text, char *id_out,
                     size_t id_cap)
{
    char idbuf[40];
    const char *id = pxmpp_stream_make_id(pxmpp_client_stream(a->c), idbuf, sizeof idbuf);
    pxmpp_arena *ar = pxmpp_client_arena(a->c);
    pxmpp_message *m = pxmpp_build_message(ar, to, type, id);
    int rc = m ? pxmpp_message_add_body(ar, m, NULL, text) : PXMPP_ERR_NOMEM;
    if (!rc)
        rc = pxmpp_client_send_message(a->c, m);
    pxmpp_arena_reset(ar);
    if (!rc && id_out && id)
        snprintf(id_out, id_cap, "%s", id);
    return rc;
}

/* ---- exchange ------------------------------------------------------------------------ */

static void script_element(void *user, const pxmpp_type_desc *t, const void *obj, uint64_t offset)
{
    script *sc = user;
    (void)offset;
    if (sc->count == sc->cap) {
        size_t ncap = sc->cap ? sc->cap * 2 : 16;
        const pxmpp_type_desc **nt = realloc(sc->types, ncap * sizeof *nt);
        const void **no = nt ? realloc(sc->objs, ncap * sizeof *no) : NULL;
        if (nt)
            sc->types = nt;
        if (!no)
            usage_error("exchange: out of memory"); /* never send the file with a stanza missing */
        sc->objs = no;
        sc->cap = ncap;
    }
    const void *copy = pxmpp_copy(sc->arena, t, obj);
    if (!copy)
        usage_error("exchange: out of memory");
    sc->types[sc->count] = t;
    sc->objs[sc->count++] = copy;
}

static void script_invalid(void *user, const pxmpp_type_desc *t, const void *partial, const pxmpp_diag *why,
                           uint64_t offset)
{
    (void)user;
    (void)t;
    (void)partial;
    usage_error("exchange: stanza at byte %llu breaks its schema at %s: %s", (unsigned long long)offset, why->path,
                why->reason);
}

/* Reads FILE into sc (before connecting: a bad file is a usage error). */
static void script_load(script *sc, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        usage_error("exchange: cannot read %s: %s", path, strerror(errno));
    if (pxmpp_arena_new(&sc->arena, NULL, 0) != 0) {
        fclose(f);
        usage_error("exchange: out of memory");
    }
    pxmpp_stream_callbacks cb = { 0 };
    cb.element = script_element;
    cb.stanza_invalid = script_invalid;
    pxmpp_stream_config cfg = { .flags = PXMPP_STREAM_CONTENT_ONLY };
    pxmpp_stream *st;
    if (pxmpp_stream_new(&st, PXMPP_ROLE_CLIENT, &cb, &cfg, sc) != 0) {
        fclose(f);
        usage_error("exchange: out of memory");
    }
    char buf[4096];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(buf, 1, sizeof buf, f)) > 0)
        rc = pxmpp_stream_feed(st, buf, n);
    if (!rc)
        rc = pxmpp_stream_finish(st);
    fclose(f);
    if (rc) {
        const char *reason;
        uint64_t off;
        pxmpp_stream_last_error(st, &reason, &off);
        usage_error("exchange: %s is not a stanza sequence: %s at byte %llu", path, reason, (unsigned long long)off);
    }
    pxmpp_stream_free(st);
    for (size_t i = 0; i < sc->count; i++)
        if (!sc->types[i]->stanza)
            usage_error("exchange: %s holds a <%s/>, which is not a stanza", path, sc->types[i]->local);
    if (!sc->count)
        usage_error("exchange: %s holds no stanza", path);
}

static void script_free(script *sc)
{
    free(sc->types);
    free(sc->objs);
    pxmpp_arena_free(sc->arena);
}

static void exchange_step(app *a);

static void on_exchange_reply(void *user, const pxmpp_iq *reply, int status)
{
    app *a = user;
    const pxmpp_iq *sent = a->sc.objs[a->sc.next - 1];
    bool first = true;
    fputc('{', stdout);
    put_key(&first, "id", sent->id);
    put_key(&first, "reply", status == 0 ? "result" : status == PXMPP_ERR_IQ_ERROR ? "error" : "timeout");
    put_key(&first, "condition", status == PXMPP_ERR_IQ_ERROR && reply && reply->error
                                     ? pxmpp_stanza_error_condition_str(reply->error->condition)
                                     : NULL);
    end_line();
    a->sc.waiting = false;
}

/* Sends the next stanzas of the script, up to the next iq; then settles. */
static void exchange_step(app *a)
{
    script *sc = &a->sc;
    while (!sc->waiting && sc->next < sc->count && !a->want_close) {
        const pxmpp_type_desc *t = sc->types[sc->next];
        const void *obj = sc->objs[sc->next++];
        int rc;
        if (t == &pxmpp_iq_desc && (((const pxmpp_iq *)obj)->type == PXMPP_IQ_TYPE_GET ||
                                    ((const pxmpp_iq *)obj)->type == PXMPP_IQ_TYPE_SET)) {
            rc = pxmpp_client_send_iq(a->c, obj, 10000, on_exchange_reply, a);
            sc->waiting = rc == 0;
        } else {
            rc = pxmpp_client_send(a->c, t, obj);
        }
        if (rc) {
            set_result(a, rc == PXMPP_ERR_WRITE ? EXIT_NET : EXIT_PROTO, "exchange: stanza %zu: %s", sc->next,
                       pxmpp_strerror(rc));
            a->want_close = true;
            return;
        }
    }
    if (!sc->waiting && sc->next == sc->count && !sc->settling) {
        sc->settling = true;
        uint64_t end = now_ms() + a->opt->settle_ms;
        if (end < a->deadline)
            a->deadline = end;
        fputs("pxmpp-client: listening\n", stderr);
        fflush(stderr);
    }
}

static void start_command(app *a)
{
    const options *o = a->opt;
    pxmpp_client *c = a->c;
    const char *what = o->cmd == CMD_LISTEN || o->cmd == CMD_SESSION ? "roster" : o->cmd_name;
    int rc = 0;
    bool done = false; /* the command is complete once this returns */
    a->command_started = true;
    switch (o->cmd) {
    case CMD_ROSTER:
        rc = pxmpp_client_roster_get(c, o->ver, on_roster, a);
        break;
    case CMD_LISTEN:
    case CMD_SESSION:
        rc = pxmpp_client_roster_get(c, NULL, on_roster, a);
        break;
    case CMD_ROSTER_ADD:
        rc = pxmpp_client_roster_set(c, o->args[0], o->name, o->groups, o->ngroups, on_iq_done, a);
        break;
    case CMD_ROSTER_REMOVE:
        rc = pxmpp_client_roster_remove(c, o->args[0], on_iq_done, a);
        break;
    case CMD_SUBSCRIBE:
        rc = pxmpp_client_subscribe(c, o->args[0]);
        done = true;
        break;
    case CMD_APPROVE:
        rc = pxmpp_client_approve(c, o->args[0]);
        done = true;
        break;
    case CMD_UNSUBSCRIBE:
        rc = pxmpp_client_unsubscribe(c, o->args[0]);
        done = true;
        break;
    case CMD_REVOKE:
        rc = pxmpp_client_revoke(c, o->args[0]);
        done = true;
        break;
    case CMD_SEND:
        rc = send_text(a, o->args[0], o->has_type ? o->msg_type : PXMPP_MESSAGE_TYPE_CHAT, o->args[1], NULL, 0);
        done = true;
        break;
    case CMD_EXCHANGE:
        exchange_step(a);
        break;
    case CMD_NONE:
        break;
    }
    if (rc) {
        set_result(a, rc == PXMPP_ERR_WRITE ? EXIT_NET : EXIT_PROTO, "%s: %s", what, pxmpp_strerror(rc));
        a->want_close = true;
    } else if (done) {
        set_result(a, EXIT_OK, NULL);
        a->want_close = true;
    }
}

/* The steps of `listen` and `session` after the roster arrived. */
static void continue_steps(app *a)
{
    if (a->step != STEP_ROSTER_DONE)
        return;
    a->step = STEP_RUNNING;
    int rc = send_initial_presence(a);
    if (rc) {
        set_result(a, rc == PXMPP_ERR_WRITE ? EXIT_NET : EXIT_PROTO, "initial presence: %s", pxmpp_strerror(rc));
        a->want_close = true;
        return;
    }
    note(a, "presence sent");
    if (a->opt->cmd != CMD_SESSION) {
        fputs("pxmpp-client: listening\n", stderr); /* scripts may wait for this line */
        fflush(stderr);
        return;
    }
    const char *me = pxmpp_client_jid(a->c);
    rc = send_text(a, me, PXMPP_MESSAGE_TYPE_CHAT, "pxmpp-client session check", a->sess_id, sizeof a->sess_id);
    if (rc) {
        set_result(a, EXIT_PROTO, "message: %s", pxmpp_strerror(rc));
        a->want_close = true;
        return;
    }
    note(a, "message sent to %s, waiting for it to come back", me);
}

static void begin_close(app *a)
{
    if (a->closing)
        return;
    a->closing = true;
    a->close_deadline = now_ms() + CLOSE_GRACE_MS;
    note(a, "closing");
    /* the driver sends our close tag and waits for the server's (`closed` follows) */
    if (pxmpp_net_close(a->net) != 0)
        a->finished = true; /* over already */
}

/* Runs what the callbacks asked for, outside of the library's callbacks. */
static void after_events(app *a)
{
    if (a->finished)
        return;
    if (a->ready_seen && !a->command_started && !a->want_close && !a->closing)
        start_command(a);
    if (a->new_session && !a->want_close && !a->closing) {
        /* a new session after a lost one: listen and session fetch the roster and send their
           presence again, so that the server delivers to this resource */
        a->new_session = false;
        if ((a->opt->cmd == CMD_LISTEN || a->opt->cmd == CMD_SESSION) && a->step == STEP_RUNNING) {
            a->step = STEP_ROSTER;
            if (pxmpp_client_roster_get(a->c, NULL, on_roster, a) != 0) {
                set_result(a, EXIT_PROTO, "roster: cannot ask again after the reconnection");
                a->want_close = true;
            }
        }
    }
    if (!a->want_close && !a->closing)
        continue_steps(a);
    if (a->opt->cmd == CMD_EXCHANGE && a->command_started && !a->want_close && !a->closing)
        exchange_step(a);
    if (a->want_close && !a->closing)
        begin_close(a);
}

static void on_deadline(app *a)
{
    if (a->closing) {
        note(a, "the server did not close the stream in time");
        a->finished = true;
        return;
    }
    if ((a->opt->cmd == CMD_LISTEN && !a->opt->has_count && a->ready_seen) ||
        (a->opt->cmd == CMD_EXCHANGE && a->sc.settling)) {
        set_result(a, EXIT_OK, NULL);
    } else if (!a->ready_seen) {
        static const char *const names[] = { "idle", "connecting", "TLS", "authentication", "binding",
                                             "ready", "closing", "closed", "failed" };
        pxmpp_client *c = pxmpp_net_client(a->net); /* NULL while connecting */
        unsigned st = c ? (unsigned)pxmpp_client_get_state(c) : (unsigned)PXMPP_CLIENT_CONNECTING;
        set_result(a, EXIT_PROTO, "timed out before the session was established (during %s)",
                   st < sizeof names / sizeof names[0] ? names[st] : "?");
    } else if (a->opt->cmd == CMD_LISTEN) {
        set_result(a, EXIT_PROTO, "timed out after %lu of %lu stanzas", a->seen, a->opt->count);
    } else if (a->opt->cmd == CMD_SESSION && a->step == STEP_RUNNING) {
        set_result(a, EXIT_PROTO, "timed out waiting for our message to come back");
    } else {
        set_result(a, EXIT_PROTO, "%s: timed out waiting for the server", a->opt->cmd_name);
    }
    begin_close(a);
}

/* The poll loop: the driver's socket and timers, bounded by the session's deadline. */
static void run(app *a)
{
    while (!a->finished) {
        after_events(a);
        if (a->finished)
            break;
        uint64_t now = now_ms();
        uint64_t limit = a->closing ? a->close_deadline : a->deadline;
        if (now >= limit) {
            on_deadline(a);
            continue;
        }
        uint64_t left = limit - now;
        int t = pxmpp_net_timeout_ms(a->net);
        int wait = t >= 0 && (uint64_t)t < left ? t : (left > INT_MAX ? INT_MAX : (int)left);
        struct pollfd p = { .fd = pxmpp_net_fd(a->net), .events = pxmpp_net_events(a->net), .revents = 0 };
        int r = poll(&p, 1, wait);
        if (r < 0 && errno != EINTR) {
            set_result(a, EXIT_NET, "poll: %s", strerror(errno));
            break;
        }
        if (pxmpp_net_process(a->net, r > 0 ? p.revents : 0) != 0)
            a->finished = true; /* closed or failed: the callbacks recorded the outcome */
    }
}

/* ---- command line ------------------------------------------------------------------ */

/* The value of an option given as "--opt VALUE" or "--opt=VALUE", or NULL if argv[*i] is
   not that option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        usage_error("%s needs a value", name);
    return argv[++*i];
}

static bool has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && strncasecmp(p, token, n) == 0)
            return true;
        p += len;
    }
    return false;
}

static void parse_args(options *o, int argc, char **argv)
{
    static const char *groups[64];
    memset(o, 0, sizeof *o);
    o->tls = PXMPP_TLS_REQUIRED;
    o->reconnect = -1;
    o->timeout_ms = 30000;
    o->groups = groups;
    const char *name_opt = NULL, *type_opt = NULL, *count_opt = NULL, *settle_opt = NULL;
    bool group_opt = false;
    size_t npos = 0;
    const char *pos[8];
    bool options_done = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v;
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (npos == sizeof pos / sizeof pos[0])
                usage_error("too many arguments");
            pos[npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(EXIT_OK);
        } else if (strcmp(arg, "--password") == 0 || strncmp(arg, "--password=", 11) == 0) {
            usage_error("--password is refused: a password on the command line can be read by other "
                        "users of the machine (ps, /proc); use --password-file FILE or the PXMPP_PASSWORD "
                        "environment variable");
        } else if ((v = opt_value(argc, argv, &i, "--jid"))) {
            o->jid = v;
        } else if ((v = opt_value(argc, argv, &i, "--password-file"))) {
            o->password_file = v;
        } else if ((v = opt_value(argc, argv, &i, "--host"))) {
            o->host = v;
        } else if ((v = opt_value(argc, argv, &i, "--port"))) {
            char *end;
            errno = 0;
            long p = strtol(v, &end, 10);
            if (errno || *end || end == v || p < 1 || p > 65535)
                usage_error("invalid --port '%s'", v);
            o->port = (uint16_t)p;
        } else if ((v = opt_value(argc, argv, &i, "--tls"))) {
            if (strcmp(v, "required") == 0)
                o->tls = PXMPP_TLS_REQUIRED;
            else if (strcmp(v, "optional") == 0)
                o->tls = PXMPP_TLS_OPTIONAL;
            else if (strcmp(v, "disabled") == 0)
                o->tls = PXMPP_TLS_DISABLED;
            else
                usage_error("invalid --tls '%s' (required, optional or disabled)", v);
        } else if ((v = opt_value(argc, argv, &i, "--cafile"))) {
            o->cafile = v;
        } else if ((v = opt_value(argc, argv, &i, "--mechanisms"))) {
            o->mechanisms = v;
        } else if ((v = opt_value(argc, argv, &i, "--resource"))) {
            o->resource = v;
        } else if ((v = opt_value(argc, argv, &i, "--timeout"))) {
            char *end;
            errno = 0;
            double t = strtod(v, &end);
            if (errno || *end || end == v || !(t > 0) || t > 86400.0 * 365)
                usage_error("invalid --timeout '%s' (seconds, more than 0)", v);
            o->timeout_ms = (uint64_t)(t * 1000.0 + 0.999);
        } else if ((v = opt_value(argc, argv, &i, "--keepalive"))) {
            char *end;
            errno = 0;
            unsigned long k = strtoul(v, &end, 10);
            if (errno || *end || end == v || v[0] == '-' || k > 86400)
                usage_error("invalid --keepalive '%s' (seconds, 0 to 86400)", v);
            o->has_keepalive = true;
            o->keepalive_ms = (uint32_t)k * 1000u;
        } else if ((v = opt_value(argc, argv, &i, "--reconnect"))) {
            char *end;
            errno = 0;
            unsigned long k = strtoul(v, &end, 10);
            if (errno || *end || end == v || v[0] == '-' || k > 1000)
                usage_error("invalid --reconnect '%s' (0 to 1000)", v);
            o->reconnect = (int)k;
        } else if ((v = opt_value(argc, argv, &i, "--name"))) {
            name_opt = v;
        } else if ((v = opt_value(argc, argv, &i, "--group"))) {
            if (o->ngroups == sizeof groups / sizeof groups[0])
                usage_error("too many --group options");
            groups[o->ngroups++] = v;
            group_opt = true;
        } else if ((v = opt_value(argc, argv, &i, "--type"))) {
            type_opt = v;
        } else if ((v = opt_value(argc, argv, &i, "--ver"))) {
            o->ver = v;
        } else if ((v = opt_value(argc, argv, &i, "--count"))) {
            count_opt = v;
        } else if ((v = opt_value(argc, argv, &i, "--capture"))) {
            o->capture = v;
        } else if ((v = opt_value(argc, argv, &i, "--settle"))) {
            settle_opt = v;
        } else {
            usage_error("unknown option '%s'", arg);
        }
    }

    if (npos == 0)
        usage_error("no command given");
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
        if (strcmp(pos[0], commands[k].name) == 0) {
            o->cmd = commands[k].cmd;
            o->cmd_name = commands[k].name;
            if (npos - 1 != (size_t)commands[k].nargs)
                usage_error("%s takes %d argument%s", commands[k].name, commands[k].nargs,
                            commands[k].nargs == 1 ? "" : "s");
        }
    }
    if (o->cmd == CMD_NONE)
        usage_error("unknown command '%s'", pos[0]);
    for (size_t k = 1; k < npos; k++)
        o->args[k - 1] = pos[k];
    if (!o->jid)
        usage_error("--jid is required");

    if ((name_opt || group_opt) && o->cmd != CMD_ROSTER_ADD)
        usage_error("--name and --group belong to roster-add");
    o->name = name_opt;
    if (type_opt) {
        if (o->cmd != CMD_SEND)
            usage_error("--type belongs to send");
        o->has_type = true;
        if (strcmp(type_opt, "chat") == 0)
            o->msg_type = PXMPP_MESSAGE_TYPE_CHAT;
        else if (strcmp(type_opt, "normal") == 0)
            o->msg_type = PXMPP_MESSAGE_TYPE_NORMAL;
        else if (strcmp(type_opt, "headline") == 0)
            o->msg_type = PXMPP_MESSAGE_TYPE_HEADLINE;
        else
            usage_error("invalid --type '%s' (chat, normal or headline)", type_opt);
    }
    if (o->ver && o->cmd != CMD_ROSTER)
        usage_error("--ver belongs to roster");
    if (count_opt) {
        if (o->cmd != CMD_LISTEN)
            usage_error("--count belongs to listen");
        char *end;
        errno = 0;
        unsigned long n = strtoul(count_opt, &end, 10);
        if (errno || *end || end == count_opt || n == 0 || count_opt[0] == '-')
            usage_error("invalid --count '%s' (a positive number)", count_opt);
        o->has_count = true;
        o->count = n;
    }
    if ((o->capture || settle_opt) && o->cmd != CMD_EXCHANGE)
        usage_error("--capture and --settle belong to exchange");
    o->settle_ms = 2000;
    if (settle_opt) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(settle_opt, &end, 10);
        if (errno || *end || end == settle_opt || settle_opt[0] == '-' || n > 3600)
            usage_error("invalid --settle '%s' (seconds, 0 to 3600)", settle_opt);
        o->settle_ms = (uint64_t)n * 1000u;
    }
    if (o->cmd == CMD_EXCHANGE)
        return; /* its argument is a file */
    if (o->args[0] && pxmpp_jid_check(o->args[0], strlen(o->args[0])) != 0)
        usage_error("'%s' is not a valid JID", o->args[0]);
}

/* The password: first line of the file, or PXMPP_PASSWORD.  Returns a malloc'd copy. */
static char *read_password(const options *o)
{
    char *line = NULL;
    if (o->password_file) {
        FILE *f = fopen(o->password_file, "r");
        if (!f)
            usage_error("cannot read --password-file %s: %s", o->password_file, strerror(errno));
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, f);
        fclose(f);
        if (n < 0) {
            free(line);
            usage_error("--password-file %s is empty", o->password_file);
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
    } else {
        char *env = getenv("PXMPP_PASSWORD");
        if (!env)
            usage_error("no password: use --password-file FILE or the PXMPP_PASSWORD environment variable");
        line = strdup(env);
        /* The variable leaves the process: its bytes are overwritten where they are (they are
           also what /proc/PID/environ shows) and it is removed, so neither child processes nor
           a later reader of this memory find it. */
        OPENSSL_cleanse(env, strlen(env));
        unsetenv("PXMPP_PASSWORD");
        if (!line) {
            fputs("pxmpp-client: out of memory\n", stderr);
            exit(EXIT_PROTO);
        }
    }
    if (line[0] == '\0')
        usage_error("the password is empty");
    return line;
}

int main(int argc, char **argv)
{
    options opt;
    parse_args(&opt, argc, argv);

    static pxmpp_jid account; /* large: kept off the stack */
    if (pxmpp_jid_parse(&account, opt.jid, strlen(opt.jid), 0) != 0 || !account.has_local)
        usage_error("--jid '%s' is not an account JID (user@domain)", opt.jid);
    static char jid_resource[PXMPP_JID_PART_MAX + 1];
    const char *resource = opt.resource;
    if (account.has_resource) {
        if (!resource) {
            /* user@domain/resource asks for that resource */
            snprintf(jid_resource, sizeof jid_resource, "%s", account.resource);
            resource = jid_resource;
        }
        pxmpp_jid_bare(&account, &account);
    }
    static char bare[PXMPP_JID_STR_MAX + 1];
    pxmpp_jid_format(&account, bare, sizeof bare);
    if (opt.cafile) {
        FILE *f = fopen(opt.cafile, "r");
        if (!f)
            usage_error("cannot read --cafile %s: %s", opt.cafile, strerror(errno));
        fclose(f);
    }
    char *password = read_password(&opt);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a dead peer shows up as a write error instead */

    static app a;
    a.opt = &opt;
    a.transcript = opt.cmd == CMD_SESSION;
    snprintf(a.domain, sizeof a.domain, "%s", account.domain);
    a.t0 = now_ms();
    a.deadline = a.t0 + opt.timeout_ms;
    if (opt.cmd == CMD_EXCHANGE) {
        script_load(&a.sc, opt.args[0]);
        if (opt.capture && !(a.capture = fopen(opt.capture, "wb")))
            usage_error("--capture: cannot write %s: %s", opt.capture, strerror(errno));
    }

    pxmpp_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.client.jid = bare;
    cfg.client.password = password;
    cfg.client.resource = resource;
    cfg.client.tls = opt.tls;
    cfg.client.mechanisms = opt.mechanisms;
    cfg.client.allow_plain_without_tls = opt.mechanisms && has_token(opt.mechanisms, "PLAIN");
    cfg.client.default_iq_timeout_ms = opt.timeout_ms;
    /* --port alone: the domain on that port */
    cfg.host = opt.host ? opt.host : opt.port ? a.domain : NULL;
    cfg.port = opt.port;
    cfg.cafile = opt.cafile;
    cfg.connect_timeout_ms = opt.timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)opt.timeout_ms;
    cfg.close_timeout_ms = CLOSE_GRACE_MS;
    /* listen and session outlive a lost connection by default; one-shot commands do not */
    cfg.reconnect = opt.reconnect >= 0 ? opt.reconnect : (opt.cmd == CMD_LISTEN || opt.cmd == CMD_SESSION) ? 5 : 0;
    if (opt.has_keepalive && opt.keepalive_ms == 0)
        cfg.keepalive = PXMPP_NET_KEEPALIVE_OFF;
    else if (opt.has_keepalive)
        cfg.keepalive_ms = cfg.keepalive_timeout_ms = opt.keepalive_ms;
    cfg.software_name = "pxmpp-client";
    cfg.identity_type = "console";
    pxmpp_net_callbacks cb = {
        .ready = cb_ready,
        .failed = cb_failed,
        .disconnected = cb_disconnected,
        .resumed = cb_resumed,
        .stanza_lost = cb_stanza_lost,
        .closed = cb_closed,
        .message = cb_message,
        .presence = cb_presence,
        .subscription_request = cb_subscription_request,
        .roster_push = cb_roster_push,
        .received = cb_received,
        .log = cb_log,
    };
    int rc = pxmpp_net_new(&a.net, &cfg, &cb, &a);
    OPENSSL_cleanse(password, strlen(password));
    free(password);
    if (rc == PXMPP_ERR_INVALID_ARGUMENT)
        usage_error("invalid configuration (check --mechanisms and --resource)");
    if (rc == PXMPP_ERR_TLS) {
        fprintf(stderr, "pxmpp-client: cannot set up TLS%s%s\n", opt.cafile ? " with the trust anchors of " : "",
                opt.cafile ? opt.cafile : "");
        return EXIT_NET;
    }
    if (rc) {
        fprintf(stderr, "pxmpp-client: %s\n", pxmpp_strerror(rc));
        return EXIT_PROTO;
    }

    if (opt.host || opt.port)
        note(&a, "connecting to %s port %u", cfg.host, opt.port ? (unsigned)opt.port : 5222u);
    else
        note(&a, "connecting to the servers of %s (DNS SRV)", a.domain);
    if (pxmpp_net_start(a.net) == 0)
        run(&a);
    else
        a.finished = true; /* `failed` has recorded why */

    pxmpp_net_free(a.net);
    script_free(&a.sc);
    if (a.capture && fclose(a.capture) != 0 && a.exit_code == EXIT_OK)
        set_result(&a, EXIT_PROTO, "--capture: %s", strerror(errno));
    if (!a.result_set)
        set_result(&a, EXIT_PROTO, "the session ended unexpectedly");
    note(&a, "exit status %d", a.exit_code);
    return a.exit_code;
}
