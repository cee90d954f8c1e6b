/* pxmpp_net against local servers (tests/net/servers.py, started here): SRV records from a
 * DNS responder on 127.0.0.1 (the dns_server configuration field), direct TLS and STARTTLS,
 * certificate checks against the JID's domain, SNI and ALPN, channel-binding data compared
 * with what the server computes, the default iq answers, keepalive, reconnection, the run
 * loop and the fd interface.  Exits 77 (skipped) when the servers cannot start (no python3
 * or openssl). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "net_internal.h"

#include <pxmpp/net.h>
#include <pxmpp/pxmpp.h>

/* ---- the servers ---------------------------------------------------------------------- */

static struct {
    pid_t pid;
    int to_child; /* closing it stops the servers */
    char dns[32];
    int direct, starttls, starttls_ep, closed;
    char cafile[512];
    char workdir[64];
} srv = { .pid = -1, .to_child = -1 };

static int start_servers(void)
{
    snprintf(srv.workdir, sizeof srv.workdir, "/tmp/pxmpp-net-test.XXXXXX");
    if (!mkdtemp(srv.workdir))
        return -1;
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    srv.pid = fork();
    if (srv.pid < 0)
        return -1;
    if (srv.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(PXMPP_TEST_PYTHON, PXMPP_TEST_PYTHON, PXMPP_TEST_NET_DIR "/servers.py", srv.workdir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    srv.to_child = in[1];
    FILE *f = fdopen(out[0], "r");
    char line[1024];
    int dns = 0;
    bool ok = f && fgets(line, sizeof line, f) &&
              sscanf(line, "dns=%d direct=%d starttls=%d starttls_ep=%d closed=%d cafile=%511s", &dns, &srv.direct,
                     &srv.starttls, &srv.starttls_ep, &srv.closed, srv.cafile) == 6;
    if (f)
        fclose(f);
    snprintf(srv.dns, sizeof srv.dns, "127.0.0.1:%d", dns);
    return ok ? 0 : -1;
}

static void stop_servers(void)
{
    if (srv.to_child >= 0)
        close(srv.to_child);
    if (srv.pid > 0) {
        int status;
        for (int i = 0; i < 50 && waitpid(srv.pid, &status, WNOHANG) == 0; i++)
            nanosleep(&(struct timespec){ .tv_sec = 0, .tv_nsec = 100000000 }, NULL);
        if (waitpid(srv.pid, &status, WNOHANG) == 0) {
            kill(srv.pid, SIGTERM);
            waitpid(srv.pid, &status, 0);
        }
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", srv.workdir);
    if (srv.workdir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", srv.workdir);
}

/* ---- a recording app ------------------------------------------------------------------- */

typedef struct app {
    pxmpp_net *n;
    int ready, closed, disconnects, failed_code, iq_requests, echoes;
    char failed_reason[512];
    int last_disconnect_code;
    uint32_t retry_ms[8];
    char info[2048];           /* the server's description of the connection */
    unsigned char unique[64], end_point[64], exporter[64];
    size_t unique_len, end_point_len, exporter_len;
    int exporter_rc;
    char mechanism[32];        /* the SASL mechanism and binding type the client used */
    pxmpp_cb_type cb_used;
    int close_after_ready;     /* pxmpp_net_close() in the n-th `ready` (0: after the echo; -1: never) */
    int fd_opens, fd_closes, fd_now;
    bool saw_closed_port;      /* the log names the SRV target nobody listens on */
} app;

static void on_ready(void *user, const char *jid)
{
    app *a = user;
    a->ready++;
    assert_non_null(strstr(jid, "@example.test/"));
    pxmpp_client *c = pxmpp_net_client(a->n);
    assert_non_null(c);
    snprintf(a->mechanism, sizeof a->mechanism, "%s", pxmpp_client_mechanism(c));
    a->cb_used = pxmpp_client_channel_binding(c);
    if (a->close_after_ready && a->ready == a->close_after_ready) {
        assert_int_equal(pxmpp_net_close(a->n), 0);
        return;
    }
    if (!a->close_after_ready)
        assert_int_equal(pxmpp_net_send_chat(a->n, "echo@example.test", "ping <&> pong"), 0);
}

/* Without close_after_ready the app closes once it has both the echo and the description. */
static void close_when_done(app *a)
{
    if (!a->close_after_ready && a->echoes && a->info[0])
        assert_int_equal(pxmpp_net_close(a->n), 0);
}

static void on_message(void *user, const pxmpp_message *m)
{
    app *a = user;
    assert_non_null(m->from);
    if (strcmp(m->from, "example.test") == 0 && m->bodies_count == 1) {
        snprintf(a->info, sizeof a->info, "%s", m->bodies[0].text);
        /* the binding data as computed here, while the connection is up */
        SSL *ssl = pxmpp__net_ssl(a->n);
        assert_non_null(ssl);
        assert_int_equal(pxmpp__channel_binding(ssl, PXMPP__CB_TLS_UNIQUE, a->unique, sizeof a->unique, &a->unique_len), 0);
        assert_int_equal(pxmpp__channel_binding(ssl, PXMPP__CB_TLS_SERVER_END_POINT, a->end_point, sizeof a->end_point,
                                                &a->end_point_len),
                         0);
        a->exporter_rc = pxmpp__channel_binding(ssl, PXMPP__CB_TLS_EXPORTER, a->exporter, sizeof a->exporter,
                                                &a->exporter_len);
        close_when_done(a);
        return;
    }
    if (strncmp(m->from, "echo@example.test", 17) == 0) {
        assert_int_equal(m->bodies_count, 1);
        assert_string_equal(m->bodies[0].text, "ping <&> pong");
        a->echoes++;
        close_when_done(a);
    }
}

static bool on_iq_request(void *user, const pxmpp_iq *iq)
{
    app *a = user;
    (void)iq;
    a->iq_requests++;
    return false; /* the defaults answer */
}

static void on_disconnected(void *user, int code, const char *reason, uint32_t retry_ms)
{
    app *a = user;
    (void)reason;
    if (a->disconnects < 8)
        a->retry_ms[a->disconnects] = retry_ms;
    a->disconnects++;
    a->last_disconnect_code = code;
}

static void on_failed(void *user, int code, const char *reason)
{
    app *a = user;
    a->failed_code = code;
    snprintf(a->failed_reason, sizeof a->failed_reason, "%s", reason);
}

static void on_closed(void *user)
{
    app *a = user;
    a->closed++;
}

static void on_fd_changed(void *user, int old_fd, int new_fd)
{
    app *a = user;
    if (new_fd >= 0) {
        assert_int_equal(old_fd, -1);
        a->fd_opens++;
        a->fd_now = new_fd;
    } else {
        assert_int_equal(old_fd, a->fd_now);
        a->fd_closes++;
        a->fd_now = -1;
    }
}

static void on_log(void *user, const char *line)
{
    app *a = user;
    char closed[64];
    snprintf(closed, sizeof closed, "localhost port %d", srv.closed);
    if (strstr(line, closed))
        a->saw_closed_port = true;
    if (getenv("PXMPP_TEST_VERBOSE"))
        fprintf(stderr, "  [net] %s\n", line);
}

static const pxmpp_net_callbacks callbacks = {
    .ready = on_ready,
    .message = on_message,
    .iq_request = on_iq_request,
    .disconnected = on_disconnected,
    .failed = on_failed,
    .closed = on_closed,
    .fd_changed = on_fd_changed,
    .log = on_log,
};

static pxmpp_net_config config(const char *jid)
{
    pxmpp_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.client.jid = jid;
    cfg.client.password = "secret";
    cfg.client.resource = "test";
    cfg.cafile = srv.cafile;
    cfg.dns_server = srv.dns;
    cfg.connect_timeout_ms = 5000;
    cfg.dns_timeout_ms = 2000;
    return cfg;
}

/* config() with a host and port instead of DNS. */
static pxmpp_net_config config_at(const char *jid, const char *host, int port, bool direct_tls)
{
    pxmpp_net_config cfg = config(jid);
    cfg.host = host;
    cfg.port = (uint16_t)port;
    cfg.direct_tls = direct_tls;
    cfg.dns_server = NULL;
    return cfg;
}

/* A session from pxmpp_net_new() to the end of pxmpp_net_run(); returns what the run returned. */
static int run_app(app *a, const pxmpp_net_config *cfg, int close_after_ready)
{
    memset(a, 0, sizeof *a);
    a->close_after_ready = close_after_ready;
    assert_int_equal(pxmpp_net_new(&a->n, cfg, &callbacks, a), 0);
    int rc = pxmpp_net_run(a->n);
    pxmpp_net_free(a->n);
    a->n = NULL;
    return rc;
}

/* Drives a started driver through poll() until *counter reaches value. */
static void pump_until(app *a, const int *counter, int value)
{
    while (*counter < value) {
        struct pollfd p = { .fd = pxmpp_net_fd(a->n), .events = pxmpp_net_events(a->n), .revents = 0 };
        int r = poll(&p, 1, pxmpp_net_timeout_ms(a->n));
        assert_true(r >= 0);
        assert_int_equal(pxmpp_net_process(a->n, r > 0 ? p.revents : 0), 0);
    }
}

/* The value of KEY= in the server's description, or "". */
static const char *info_value(const app *a, const char *key, char *buf, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *p = strstr(a->info, pat);
    buf[0] = '\0';
    if (p) {
        p += strlen(pat);
        size_t len = strcspn(p, " ");
        snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
    }
    return buf;
}

static void assert_hex(const char *hex, const unsigned char *bin, size_t len)
{
    char mine[2 * 64 + 1];
    for (size_t i = 0; i < len; i++)
        snprintf(mine + 2 * i, 3, "%02x", bin[i]);
    mine[2 * len] = '\0';
    assert_string_equal(hex, mine);
}

static void check_defaults_answered(const app *a)
{
    char v[256];
    assert_int_equal(a->iq_requests, 3);
    assert_string_equal(info_value(a, "disco", v, sizeof v), "result:client/bot:pxmpp:3");
    assert_string_equal(info_value(a, "version", v, sizeof v), "result:pxmpp/" PXMPP_VERSION_STRING);
    assert_string_equal(info_value(a, "other", v, sizeof v), "error:service-unavailable");
}

/* A session that echoed and closed, on a connection the server describes as LISTENER, TLS
   version TLS and ALPN protocol ALPN, with SNI naming the domain; the channel-binding data
   computed here matches the server's (an end point hash of end_point_len bytes); the
   default iq answers went out. */
static void check_session(const app *a, const char *listener, const char *tls, const char *alpn, size_t end_point_len)
{
    char v[256];
    assert_string_equal(info_value(a, "mech", v, sizeof v), a->mechanism);
    assert_int_equal(a->ready, 1);
    assert_int_equal(a->echoes, 1);
    assert_int_equal(a->closed, 1);
    assert_int_equal(a->failed_code, 0);
    assert_string_equal(info_value(a, "listener", v, sizeof v), listener);
    assert_string_equal(info_value(a, "tls", v, sizeof v), tls);
    assert_string_equal(info_value(a, "sni", v, sizeof v), "example.test");
    assert_string_equal(info_value(a, "alpn", v, sizeof v), alpn);
    assert_int_equal(a->end_point_len, end_point_len);
    assert_hex(info_value(a, "tls-server-end-point", v, sizeof v), a->end_point, a->end_point_len);
    assert_hex(info_value(a, "tls-unique", v, sizeof v), a->unique, a->unique_len);
    check_defaults_answered(a);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_srv_lookup(void **state)
{
    (void)state;
    pxmpp__target t[8];
    size_t n = 0;
    assert_int_equal(pxmpp__srv_lookup("_xmpps-client._tcp.example.test", srv.dns, 2000, true, t, 8, &n),
                     PXMPP__SRV_FOUND);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].host, "localhost");
    assert_true(t[0].direct_tls && t[1].direct_tls);
    assert_int_equal(t[0].priority + t[1].priority, 5);
    assert_int_equal(pxmpp__srv_lookup("_xmpp-client._tcp.example.test", srv.dns, 2000, false, t, 8, &n),
                     PXMPP__SRV_FOUND);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].port, srv.starttls);
    assert_false(t[0].direct_tls);
    assert_int_equal(pxmpp__srv_lookup("_xmpp-client._tcp.dot.test", srv.dns, 2000, false, t, 8, &n),
                     PXMPP__SRV_REFUSED);
    assert_int_equal(pxmpp__srv_lookup("_xmpp-client._tcp.nothing.test", srv.dns, 2000, false, t, 8, &n),
                     PXMPP__SRV_NONE);
    assert_int_equal(n, 0);
}

/* By JID: SRV says direct TLS on a dead port first (priority 0), then direct TLS on the
   server (5), then STARTTLS (10).  The run loop. */
static void test_connect_by_srv_direct_tls(void **state)
{
    (void)state;
    app a;
    pxmpp_net_config cfg = config("alice@example.test");
    assert_int_equal(run_app(&a, &cfg, 0), 0);
    assert_true(a.saw_closed_port);
    /* RSA with SHA-256: the end point hash is SHA-256 of the certificate */
    check_session(&a, "direct", "TLSv1.3", "xmpp-client", 32);
    assert_non_null(strstr(a.mechanism, "SCRAM-SHA-1"));
    assert_int_equal(a.exporter_rc, 0); /* TLS 1.3 */
    assert_int_equal(a.exporter_len, 32);
    /* the sockets: the dead port's, then the server's; both closed */
    assert_int_equal(a.fd_opens, a.fd_closes);
    assert_true(a.fd_opens >= 2);
}

/* STARTTLS through host/port, driven by an fd loop as an app with its own loop would. */
static void test_starttls_fd_interface(void **state)
{
    (void)state;
    app a;
    memset(&a, 0, sizeof a);
    pxmpp_net_config cfg = config_at("bob@example.test", "127.0.0.1", srv.starttls, false);
    assert_int_equal(pxmpp_net_new(&a.n, &cfg, &callbacks, &a), 0);
    assert_int_equal(pxmpp_net_start(a.n), 0);
    int rc = 0;
    for (int rounds = 0; rc == 0 && rounds < 10000; rounds++) {
        int fd = pxmpp_net_fd(a.n);
        if (fd >= 0)
            assert_int_equal(fd, a.fd_now);
        struct pollfd p = { .fd = fd, .events = pxmpp_net_events(a.n), .revents = 0 };
        int t = pxmpp_net_timeout_ms(a.n);
        assert_true(t >= 0 && t <= 15000);
        int r = poll(&p, 1, t);
        assert_true(r >= 0);
        rc = pxmpp_net_process(a.n, r > 0 ? p.revents : 0);
    }
    assert_int_equal(rc, 1); /* closed */
    assert_int_equal(pxmpp_net_fd(a.n), -1);
    assert_int_equal(pxmpp_net_timeout_ms(a.n), -1);
    /* ECDSA with SHA-384: the end point hash is SHA-384 */
    check_session(&a, "starttls", "TLSv1.2", "None", 48);
    /* the server announced tls-unique and tls-server-end-point: the client took tls-unique,
       asked the driver for it, and the server found it equal to its own */
    assert_string_equal(a.mechanism, "SCRAM-SHA-1-PLUS");
    assert_int_equal(a.cb_used, PXMPP_CB_TLS_UNIQUE);
    char v[64];
    assert_string_equal(info_value(&a, "cb", v, sizeof v), "tls-unique");
    assert_int_equal(a.unique_len, 12); /* TLS 1.2 Finished */
    assert_int_equal(a.exporter_rc, -1); /* not defined before TLS 1.3 */
    assert_int_equal(a.fd_opens, 1);
    assert_int_equal(a.fd_closes, 1);
    pxmpp_net_free(a.n);
}

/* A server that announces only tls-server-end-point: the SCRAM-SHA-1-PLUS login binds to the
   hash of its certificate (SHA-384 for this ECDSA certificate), as the server computes it. */
static void test_channel_binding_server_end_point(void **state)
{
    (void)state;
    app a;
    pxmpp_net_config cfg = config_at("carol@example.test", "127.0.0.1", srv.starttls_ep, false);
    cfg.client.require_channel_binding = true;
    assert_int_equal(run_app(&a, &cfg, 0), 0);
    check_session(&a, "starttls", "TLSv1.2", "None", 48);
    assert_string_equal(a.mechanism, "SCRAM-SHA-1-PLUS");
    assert_int_equal(a.cb_used, PXMPP_CB_TLS_SERVER_END_POINT);
    char v[64];
    assert_string_equal(info_value(&a, "cb", v, sizeof v), "tls-server-end-point");
}

/* The certificate names example.test: a JID of another domain fails, whatever the host. */
static void test_certificate_checked_against_domain(void **state)
{
    (void)state;
    app a;
    memset(&a, 0, sizeof a);
    pxmpp_net_config cfg = config_at("mallory@other.test", "localhost", srv.direct, true);
    cfg.reconnect = -1; /* a direct TLS failure passes to the next address, then retries */
    cfg.backoff_min_ms = cfg.backoff_max_ms = 50;
    assert_int_equal(pxmpp_net_new(&a.n, &cfg, &callbacks, &a), 0);
    assert_int_equal(pxmpp_net_start(a.n), 0);
    pump_until(&a, &a.disconnects, 2);
    assert_int_equal(a.last_disconnect_code, PXMPP_ERR_TLS);
    assert_int_equal(a.ready, 0);
    assert_int_equal(pxmpp_net_close(a.n), 0);
    assert_int_equal(pxmpp_net_run(a.n), 0);
    assert_int_equal(a.closed, 1);
    pxmpp_net_free(a.n);

    /* the same without retries: `failed` with the verification error */
    cfg.reconnect = 0;
    assert_int_equal(run_app(&a, &cfg, 0), PXMPP_ERR_TLS);
    assert_non_null(strstr(a.failed_reason, "certificate verification failed for other.test"));
}

static void test_no_service(void **state)
{
    (void)state;
    app a;
    pxmpp_net_config cfg = config("x@dot.test");
    cfg.reconnect = 3; /* not tried again: DNS says there is no service */
    assert_int_equal(run_app(&a, &cfg, 0), PXMPP_ERR_RESOLVE);
    assert_int_equal(a.failed_code, PXMPP_ERR_RESOLVE);
    assert_non_null(strstr(a.failed_reason, "dot.test offers no XMPP client service"));
}

static void test_bad_password_not_retried(void **state)
{
    (void)state;
    app a;
    pxmpp_net_config cfg = config("alice@example.test");
    cfg.client.password = "wrong";
    cfg.reconnect = -1;
    assert_int_equal(run_app(&a, &cfg, 0), PXMPP_ERR_AUTH);
    assert_int_equal(a.disconnects, 0);
    assert_int_equal(a.ready, 0);
}

/* The server stops answering: the keepalive ping goes unanswered, the connection counts as
   lost, and a new one is made. */
static void test_keepalive_reconnects(void **state)
{
    (void)state;
    app a;
    pxmpp_net_config cfg = config("silent@example.test");
    cfg.keepalive_ms = 300;
    cfg.keepalive_timeout_ms = 300;
    cfg.reconnect = -1;
    cfg.backoff_min_ms = 50;
    cfg.backoff_max_ms = 100;
    assert_int_equal(run_app(&a, &cfg, 2), 0);
    assert_int_equal(a.ready, 2);
    assert_int_equal(a.disconnects, 1);
    assert_int_equal(a.last_disconnect_code, PXMPP_ERR_DISCONNECTED);
    assert_int_equal(a.retry_ms[0], 50); /* the first retry after a session waits backoff_min */
    assert_int_equal(a.closed, 1);
}

/* White space keeps a silent connection open: no answer is expected, so nothing is lost,
   and the spaces between stanzas do not disturb the server's parser. */
static void test_whitespace_keepalive(void **state)
{
    (void)state;
    app a;
    memset(&a, 0, sizeof a);
    pxmpp_net_config cfg = config_at("silent@example.test", "127.0.0.1", srv.direct, true);
    cfg.keepalive = PXMPP_NET_KEEPALIVE_WHITESPACE;
    cfg.keepalive_ms = 100;
    cfg.keepalive_timeout_ms = 100;
    a.close_after_ready = -1; /* neither close nor echo on `ready` */
    assert_int_equal(pxmpp_net_new(&a.n, &cfg, &callbacks, &a), 0);
    assert_int_equal(pxmpp_net_start(a.n), 0);
    pump_until(&a, &a.ready, 1);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do { /* 800 ms: several keepalives */
        struct pollfd p = { .fd = pxmpp_net_fd(a.n), .events = pxmpp_net_events(a.n), .revents = 0 };
        int timeout = pxmpp_net_timeout_ms(a.n);
        assert_true(timeout >= 0 && timeout <= 100);
        int r = poll(&p, 1, timeout);
        assert_int_equal(pxmpp_net_process(a.n, r > 0 ? p.revents : 0), 0);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 800);
    assert_int_equal(a.disconnects, 0);
    /* the stream still works: the server answers a message */
    assert_int_equal(pxmpp_net_send_chat(a.n, "echo@example.test", "ping <&> pong"), 0);
    pump_until(&a, &a.echoes, 1);
    assert_int_equal(pxmpp_net_close(a.n), 0);
    assert_int_equal(pxmpp_net_run(a.n), 0);
    assert_int_equal(a.closed, 1);
    pxmpp_net_free(a.n);
}

/* The server drops the TCP connection: a new session on a new connection. */
static void test_dropped_connection_reconnects(void **state)
{
    (void)state;
    app a;
    pxmpp_net_config cfg = config_at("drop@example.test", "127.0.0.1", srv.direct, true);
    cfg.reconnect = 1;
    cfg.backoff_min_ms = 50;
    assert_int_equal(run_app(&a, &cfg, 2), 0);
    assert_int_equal(a.ready, 2);
    assert_int_equal(a.disconnects, 1);
    assert_int_equal(a.last_disconnect_code, PXMPP_ERR_DISCONNECTED);
    assert_int_equal(a.fd_opens, 2);
    assert_int_equal(a.fd_closes, 2);
}

static int setup(void **state)
{
    (void)state;
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the driver must not need it ignored */
    if (start_servers() != 0) {
        fprintf(stderr, "test_net_local: the local servers did not start (python3 and openssl needed): skipped\n");
        stop_servers();
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srv_lookup),
        cmocka_unit_test(test_connect_by_srv_direct_tls),
        cmocka_unit_test(test_starttls_fd_interface),
        cmocka_unit_test(test_channel_binding_server_end_point),
        cmocka_unit_test(test_certificate_checked_against_domain),
        cmocka_unit_test(test_no_service),
        cmocka_unit_test(test_bad_password_not_retried),
        cmocka_unit_test(test_keepalive_reconnects),
        cmocka_unit_test(test_whitespace_keepalive),
        cmocka_unit_test(test_dropped_connection_reconnects),
    };
    int failed = cmocka_run_group_tests(tests, setup, NULL);
    stop_servers();
    return failed;
}
