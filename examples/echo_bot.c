/* echo_bot: logs in, approves subscription requests and sends every chat message back.
 *
 *   PXMPP_PASSWORD=secret echo_bot JID [HOST PORT [CAFILE]]
 *
 * Without HOST the server is found through the DNS SRV records of the JID's domain.
 * pxmpp_net does the I/O: it keeps the connection alive and reconnects when it is lost. */
#include <stdio.h>
#include <stdlib.h>

#include <pxmpp/net.h>

static pxmpp_net *net;

static void on_ready(void *user, const char *jid)
{
    (void)user;
    printf("online as %s\n", jid);
    fflush(stdout);
    pxmpp_net_send_presence(net, PXMPP_PRESENCE_SHOW_ABSENT, "Send me a message");
}

static void on_message(void *user, const pxmpp_message *m)
{
    (void)user;
    if (m->type == PXMPP_MESSAGE_TYPE_CHAT && m->bodies_count > 0)
        pxmpp_net_reply(net, m, m->bodies[0].text);
}

static void on_disconnected(void *user, int code, const char *reason, uint32_t retry_ms)
{
    (void)user;
    fprintf(stderr, "disconnected (%s: %s), retrying in %u ms\n", pxmpp_error_name(code), reason, (unsigned)retry_ms);
}

int main(int argc, char **argv)
{
    const char *password = getenv("PXMPP_PASSWORD");
    if ((argc != 2 && argc != 4 && argc != 5) || !password) {
        fprintf(stderr, "usage: PXMPP_PASSWORD=... %s JID [HOST PORT [CAFILE]]\n", argv[0]);
        return 2;
    }
    pxmpp_net_config cfg = {
        .client = { .jid = argv[1], .password = password },
        .host = argc > 2 ? argv[2] : NULL,
        .port = argc > 3 ? (uint16_t)atoi(argv[3]) : 0,
        .cafile = argc > 4 ? argv[4] : NULL,
        .reconnect = -1,
        .auto_approve = true,
    };
    pxmpp_net_callbacks cb = { .ready = on_ready, .message = on_message, .disconnected = on_disconnected };
    if (pxmpp_net_new(&net, &cfg, &cb, NULL) != 0) {
        fprintf(stderr, "invalid JID, or TLS cannot be set up\n");
        return 2;
    }
    int rc = pxmpp_net_run(net);
    fprintf(stderr, "stopped: %s\n", rc ? pxmpp_strerror(rc) : "closed");
    pxmpp_net_free(net);
    return rc ? 1 : 0;
}
