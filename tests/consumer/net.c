/* A program built against an installed pxmpp_net: creates a driver for an unreachable
 * address and checks that it fails the way the header says, without any network.
 * Exit status 0 when it does. */
#include <pxmpp/net.h>
#include <pxmpp/pxmpp.h>

#include <stdio.h>
#include <string.h>

static int failures;

static void on_failed(void *user, int code, const char *reason)
{
    (void)user;
    printf("failed as expected: %s: %s\n", pxmpp_error_name(code), reason);
    failures++;
}

int main(void)
{
    pxmpp_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.client.jid = "juliet@example.net";
    cfg.client.password = "secret";
    cfg.host = "127.0.0.1";
    cfg.port = 1; /* nobody listens there */
    pxmpp_net_callbacks cb = { .failed = on_failed };
    pxmpp_net *n = NULL;
    int rc = pxmpp_net_new(&n, &cfg, &cb, NULL);
    if (rc != 0) {
        fprintf(stderr, "pxmpp_net_new: %s\n", pxmpp_strerror(rc));
        return 1;
    }
    rc = pxmpp_net_run(n);
    pxmpp_net_free(n);
    if (rc != PXMPP_ERR_CONNECT || failures != 1) {
        fprintf(stderr, "expected PXMPP_ERR_CONNECT once, got %s (%d calls)\n", pxmpp_error_name(rc), failures);
        return 1;
    }
    printf("pxmpp_net %s consumer: ok\n", PXMPP_VERSION_STRING);
    return 0;
}
