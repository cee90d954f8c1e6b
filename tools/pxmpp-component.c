/* pxmpp-component: an external component (XEP-0114) for scripts and tests.
 *
 * One process is one component session: TCP connection to the server's component
 * port, stream to the component's domain, shared-secret handshake, then the command
 * runs until SIGTERM or SIGINT, which close the stream cleanly.  Diagnostics go to
 * stderr and the exit status tells what went wrong (see help_text). */
#include "net.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <pxmpp/component.h>
#include <pxmpp/pxmpp.h>

#include "cli.h"

enum { EXIT_OK = 0, EXIT_USAGE = 2, EXIT_NET = 3, EXIT_AUTH = 4, EXIT_PROTO = 5 };

/* How long the server may take to answer our close tag. */
#define CLOSE_GRACE_MS 2000u
/* The longest wait between two looks at the signal flag. */
#define SIGNAL_POLL_MS 200u

static const char help_text[] =
    "usage: pxmpp-component --jid COMPONENT.DOMAIN --secret-file FILE [options] COMMAND\n"
    "\n"
    "Connects to a server's component port as an external component (XEP-0114,\n"
    "jabber:component:accept), authenticates with the shared secret and runs COMMAND until\n"
    "SIGTERM or SIGINT, which close the stream cleanly.  The protocol has no TLS: use it on\n"
    "loopback or a network you trust.\n"
    "\n"
    "options:\n"
    "  --jid DOMAIN            the component's domain, e.g. echo.example.net (required)\n"
    "  --secret-file FILE      the shared secret is the first line of FILE (required; it is never\n"
    "                          accepted on the command line, and an empty one is refused)\n"
    "  --host H --port P       where the server listens for components (default: the domain,\n"
    "                          port 5347)\n"
    "  --timeout SECONDS       deadline for connecting and the handshake (default 30)\n"
    "  --verbose               a transcript of the session on stderr\n"
    "  --help                  this text\n"
    "\n"
    "commands:\n"
    "  echo                    answers every message sent to an address of the component with\n"
    "                          the same body and type, from that address to the sender; messages\n"
    "                          of type error and messages without a body are not answered\n"
    "\n"
    "\"pxmpp-component: connected\" is printed on stderr once the server accepted the handshake.\n"
    "\n"
    "exit status: 0 ok (closed after SIGTERM or SIGINT), 2 usage, 3 network failure,\n"
    "4 handshake refused (wrong secret), 5 protocol error or timeout\n";

typedef struct options {
    const char *domain;
    const char *secret_file;
    const char *host;
    const char *port;
    unsigned long timeout_s;
    bool verbose;
} options;

typedef struct app {
    const options *opt;
    pxmpp_component *comp;
    net_conn net;
    uint64_t deadline;       /* for the connection and the handshake */
    uint64_t close_deadline; /* once our close tag is out */
    bool connected, closing, done;
    bool have_result;
    int exit_code;
    unsigned long echoed;
} app;

static volatile sig_atomic_t g_stop; /* SIGTERM or SIGINT arrived */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---- outcome ------------------------------------------------------------------------ */

#if defined(__GNUC__) || defined(__clang__)
#define FMT(f, a) __attribute__((format(printf, f, a)))
#else
#define FMT(f, a)
#endif

/* Writes "pxmpp-component: MESSAGE" on stderr. */
static void vcomplain(const char *fmt, va_list ap)
{
    fputs("pxmpp-component: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void die_usage(const char *fmt, ...) FMT(1, 2);
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vcomplain(fmt, ap);
    va_end(ap);
    fputs("(pxmpp-component --help for usage)\n", stderr);
    exit(EXIT_USAGE);
}

/* Keeps the first outcome: its exit status, and (fmt not NULL) the failure explained on stderr. */
static void outcome(app *a, int code, const char *fmt, ...) FMT(3, 4);
static void outcome(app *a, int code, const char *fmt, ...)
{
    if (!a->have_result && fmt) {
        va_list ap;
        va_start(ap, fmt);
        vcomplain(fmt, ap);
        va_end(ap);
    }
    if (!a->have_result)
        a->exit_code = code;
    a->have_result = true;
}

/* The exit status for an error the session reports. */
static int status_of(int code)
{
    if (code == PXMPP_ERR_AUTH)
        return EXIT_AUTH;
    if (code == PXMPP_ERR_WRITE || code == PXMPP_ERR_TRUNCATED)
        return EXIT_NET;
    return EXIT_PROTO;
}

/* ---- echo --------------------------------------------------------------------------- */

/* The same bodies (with their languages), type and thread, from the address the message
   went to back to its sender. */
static void echo(app *a, const pxmpp_message *in)
{
    if (in->type == PXMPP_MESSAGE_TYPE_ERROR || in->bodies_count == 0 || !in->from || !in->to)
        return;
    pxmpp_arena *ar = pxmpp_component_arena(a->comp);
    pxmpp_arena_reset(ar);
    pxmpp_message *m = pxmpp_build_message(ar, in->from, in->type, NULL);
    int rc = m ? 0 : PXMPP_ERR_NOMEM;
    if (m)
        m->from = in->to;
    for (size_t i = 0; i < in->bodies_count && !rc; i++)
        rc = pxmpp_message_add_body(ar, m, in->bodies[i].lang, in->bodies[i].text);
    if (!rc && in->thread)
        rc = pxmpp_message_set_thread(ar, m, in->thread->id, in->thread->parent);
    if (!rc)
        rc = pxmpp_component_send_message(a->comp, m);
    if (rc == 0) {
        a->echoed++;
        if (a->opt->verbose)
            fprintf(stderr, "pxmpp-component: echoed a message from %s to %s\n", in->from, in->to);
    } else if (rc > PXMPP_ERR_FATAL) {
        /* this message only (an address outside the domain, a value that does not serialize) */
        fprintf(stderr, "pxmpp-component: cannot answer %s: %s\n", in->from, pxmpp_strerror(rc));
    }
}

/* ---- component callbacks ---------------------------------------------------------------- */

static int cb_write(void *user, const char *data, size_t len)
{
    app *a = user;
    int rc = net_write_all(&a->net, data, len, a->closing ? a->close_deadline : net_now_ms() + 30000u);
    if (rc == 0)
        return 0;
    outcome(a, rc == NET_TIMEOUT ? EXIT_PROTO : EXIT_NET, "%s", a->net.err);
    return -1;
}

static void cb_connected(void *user, const char *domain)
{
    app *a = user;
    a->connected = true;
    if (a->opt->verbose)
        fprintf(stderr, "pxmpp-component: authenticated as %s\n", domain);
    fputs("pxmpp-component: connected\n", stderr);
    fflush(stderr);
}

/* The failure itself is read from pxmpp_component_error() when the loop ends. */
static void cb_failed(void *user, int code, pxmpp_stream_error_condition cond, const char *reason)
{
    (void)code;
    (void)cond;
    (void)reason;
    ((app *)user)->done = true;
}

static void cb_message(void *user, const pxmpp_message *msg)
{
    app *a = user;
    if (!a->closing)
        echo(a, msg);
}

static void cb_closed(void *user)
{
    app *a = user;
    if (!a->closing && pxmpp_component_error(a->comp, NULL) == 0) /* a failure explains itself */
        outcome(a, EXIT_PROTO, "the server closed the stream");
    a->done = true;
}

static void cb_log(void *user, const char *line)
{
    app *a = user;
    if (a->opt->verbose)
        fprintf(stderr, "pxmpp-component: %s\n", line);
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* One read from the socket fed to the session.  Returns false when the loop must end. */
static bool read_some(app *a)
{
    static char buf[16384];
    for (;;) {
        ssize_t n = net_read(&a->net, buf, sizeof buf);
        if (n == NET_AGAIN)
            return true;
        if (n == NET_EOF) {
            int rc = pxmpp_component_finish(a->comp);
            if (!a->closing)
                outcome(a, EXIT_NET, "the server closed the connection%s", rc ? " in the middle of the stream" : "");
            return false;
        }
        if (n < 0) {
            outcome(a, EXIT_NET, "%s", a->net.err);
            return false;
        }
        if (pxmpp_component_feed(a->comp, buf, (size_t)n) != 0 || a->done)
            return false;
    }
}

static void run(app *a)
{
    while (!a->done) {
        if (g_stop && !a->closing) {
            /* SIGTERM or SIGINT: our close tag, then the server's is awaited for a moment */
            a->close_deadline = net_now_ms() + CLOSE_GRACE_MS;
            a->closing = true;
            if (a->opt->verbose)
                fputs("pxmpp-component: closing\n", stderr);
            if (pxmpp_component_close(a->comp) != 0)
                break; /* the session had failed: nothing open to close */
        }
        uint64_t now = net_now_ms();
        uint64_t limit = a->closing ? a->close_deadline : a->connected ? now + SIGNAL_POLL_MS : a->deadline;
        if (now >= limit) {
            if (a->closing) {
                if (a->opt->verbose)
                    fputs("pxmpp-component: the server did not close the stream in time\n", stderr);
            } else {
                outcome(a, EXIT_PROTO, "timed out before the handshake completed");
            }
            break;
        }
        uint64_t wake = limit - now > SIGNAL_POLL_MS ? now + SIGNAL_POLL_MS : limit;
        int w = net_wait(&a->net, wake);
        if (w < 0) {
            outcome(a, EXIT_NET, "poll: %s", strerror(errno));
            break;
        }
        if (w > 0 && !read_some(a))
            break;
    }
    const char *why = NULL;
    int code = pxmpp_component_error(a->comp, &why);
    if (code)
        outcome(a, status_of(code), "%s", why);
    if (a->closing)
        outcome(a, EXIT_OK, NULL);
}

/* ---- command line ------------------------------------------------------------------------------ */

static void missing_value(const char *name)
{
    die_usage("%s needs a value", name);
}

/* cli_value() with this tool's usage error. */
static const char *value_of(const char *name, int argc, char **argv, int *i)
{
    return cli_value(name, argc, argv, i, missing_value);
}

static void parse(options *o, int argc, char **argv)
{
    *o = (options){ .port = "5347", .timeout_s = 30 };
    const char *command = NULL, *timeout = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help_text, stdout);
            exit(EXIT_OK);
        }
        if (strcmp(argv[i], "--verbose") == 0)
            o->verbose = true;
        else if ((v = value_of("--jid", argc, argv, &i)))
            o->domain = v;
        else if ((v = value_of("--secret-file", argc, argv, &i)))
            o->secret_file = v;
        else if ((v = value_of("--host", argc, argv, &i)))
            o->host = v;
        else if ((v = value_of("--port", argc, argv, &i)))
            o->port = v;
        else if ((v = value_of("--timeout", argc, argv, &i)))
            timeout = v;
        else if (argv[i][0] == '-')
            die_usage("unknown option %s", argv[i]);
        else if (command)
            die_usage("unexpected argument '%s'", argv[i]);
        else
            command = argv[i];
    }
    if (!o->domain)
        die_usage("--jid DOMAIN is required");
    if (!o->secret_file)
        die_usage("--secret-file FILE is required");
    if (!command)
        die_usage("no command (echo)");
    if (strcmp(command, "echo") != 0)
        die_usage("unknown command '%s'", command);
    char *end = NULL;
    unsigned long port = strtoul(o->port, &end, 10);
    if (!*o->port || *end || port == 0 || port > 65535)
        die_usage("--port must be a number from 1 to 65535, not '%s'", o->port);
    if (timeout) {
        errno = 0;
        o->timeout_s = strtoul(timeout, &end, 10);
        if (!*timeout || *end || errno || o->timeout_s == 0 || o->timeout_s > 86400)
            die_usage("--timeout must be a number of seconds from 1 to 86400, not '%s'", timeout);
    }
}

/* The first line of the secret file, without its line end, in a malloc'd string. */
static char *read_secret(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die_usage("cannot read --secret-file %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n <= 0) {
        if (line)
            OPENSSL_cleanse(line, cap);
        free(line);
        die_usage("the secret in %s is empty", path);
    }
    return line;
}

int main(int argc, char **argv)
{
    options opt;
    parse(&opt, argc, argv);
    char *secret = read_secret(opt.secret_file);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a dead peer shows up as a write error */
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    static app a;
    a.opt = &opt;
    a.net.fd = -1;
    a.deadline = net_now_ms() + opt.timeout_s * 1000u;
    pxmpp_component_config cfg = { .domain = opt.domain, .secret = secret };
    pxmpp_component_callbacks cb = { .write = cb_write, .connected = cb_connected, .failed = cb_failed,
                                     .message = cb_message, .closed = cb_closed, .log = cb_log };
    int rc = pxmpp_component_new(&a.comp, &cfg, &cb, &a);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    if (rc == PXMPP_ERR_INVALID_ARGUMENT)
        die_usage("--jid '%s' is not a domain", opt.domain);
    if (rc) {
        fprintf(stderr, "pxmpp-component: %s\n", pxmpp_strerror(rc));
        return EXIT_PROTO;
    }

    const char *host = opt.host ? opt.host : pxmpp_component_domain(a.comp);
    if (net_connect(&a.net, host, opt.port, a.deadline) != 0) {
        outcome(&a, a.net.timed_out ? EXIT_PROTO : EXIT_NET, "%s", a.net.err);
    } else if ((rc = pxmpp_component_start(a.comp)) != 0) {
        outcome(&a, status_of(rc), "cannot open the stream: %s", pxmpp_strerror(rc));
    } else {
        run(&a);
    }
    net_close(&a.net);
    pxmpp_component_free(a.comp);
    if (!a.have_result)
        outcome(&a, EXIT_PROTO, "the session ended unexpectedly");
    if (opt.verbose)
        fprintf(stderr, "pxmpp-component: %lu message(s) echoed; exit status %d\n", a.echoed, a.exit_code);
    return a.exit_code;
}
