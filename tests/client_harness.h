/* The scripted in-process XMPP server the client tests talk to (no network): STARTTLS (the
 * handshake only pretended), SASL through GNU SASL, binding, legacy session, roster, and hooks
 * through which a test adds features, elements and stanza accounting of its own. */
#ifndef PXMPP_TESTS_CLIENT_HARNESS_H
#define PXMPP_TESTS_CLIENT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gsasl.h>

#include <pxmpp/pxmpp.h>

enum mode {
    M_OK = 0,
    M_NO_TLS,            /* STARTTLS not offered */
    M_WRONG_PASSWORD,
    M_BAD_SIGNATURE,     /* tampered v= in the SCRAM server-final */
    M_NO_SIGNATURE,      /* success without additional data */
    M_BAD_NONCE,         /* server nonce does not extend the client's */
    M_BAD_ITERATIONS,    /* i=0 */
    M_ONLY_PLAIN,        /* only PLAIN offered */
    M_NO_BIND,           /* features after auth lack bind */
    M_BIND_ERROR,
    M_NO_FEATURES_AFTER_TLS, /* after TLS the server offers nothing usable */
    M_SESSION_REQUIRED,
    M_INJECT_AFTER_PROCEED, /* plaintext bytes follow <proceed/> in the same read */
    M_SPACE_AFTER_PROCEED,  /* a line feed follows <proceed/> in the same read */
    M_PLUS,              /* SCRAM-SHA-1-PLUS offered too, no XEP-0440 announcement */
    M_PLUS_ANNOUNCED,    /* SCRAM-SHA-1-PLUS offered, the types of g_announce announced */
    M_ANNOUNCED_NO_PLUS, /* types announced, no -PLUS mechanism offered */
    M_HUGE_ITERATIONS,   /* i=g_iterations in the SCRAM server-first */
    M_FEATURES_TWICE,    /* a second <stream:features/> right after the client's <auth/> */
    M_ONLY_LOGIN,        /* no TLS, only LOGIN offered */
    M_PLUS_STRIPPED      /* the server binds channels, but its -PLUS offer was removed on the way */
};

typedef struct server {
    pxmpp_stream *s;
    pxmpp_buf out;       /* bytes to the client */
    enum mode mode;
    bool tls_done, auth_done;
    Gsasl *g;
    Gsasl_session *gs;
    char mech[32];
    pxmpp_arena *a;
    int roster_gets, roster_sets, session_reqs;
    char last_iq_id[64];
    pxmpp_buf seen;      /* everything the client sent, for assertions */
    char first_msg[256]; /* the client's first SASL message, decoded */
    int auths;           /* <auth/> elements received */
    /* hooks of a test (NULL: none), with its state */
    void *ext;
    void (*features_hook)(struct server *sv, pxmpp_payload *pl, size_t *n); /* features after authentication */
    void (*element_hook)(struct server *sv, const pxmpp_type_desc *d, const void *obj); /* elements not handled here */
    void (*stanza_in)(struct server *sv, const pxmpp_type_desc *d); /* each stanza from the client, first */
    void (*stanza_out)(struct server *sv, const char *xml, size_t len); /* each stanza to the client, after */
} server;

typedef struct client_side {
    pxmpp_client *c;
    pxmpp_buf out;       /* bytes to the server */
    server *srv;
    bool ready, closed;
    int failed_code;
    pxmpp_stream_error_condition failed_cond;
    int messages, presences, subs, pushes;
    int roster_status, iq_status, iq_calls;
    size_t roster_count;
    bool roster_unchanged;
    pxmpp_buf log;
    int readies;         /* `ready` calls */
    void *ext;           /* a test's own state */
} client_side;

extern const char *PASSWORD;
extern bool g_allow_plain;     /* configuration knobs for the next setup() */
extern size_t g_max_pending;
extern size_t g_piece;         /* the client reads the server's output in pieces of this size */
extern const char *g_announce[4];  /* XEP-0440 types the server announces in M_PLUS_ANNOUNCED */
extern unsigned g_cb_types;        /* bit (1 << type): channel-binding types the client can compute */
extern unsigned g_cb_asked[4];     /* how often the channel_binding callback was asked for each type */
extern const char *g_mechs;        /* the client's mechanism list (NULL: the default) */
extern bool g_require_cb;
extern unsigned long g_iterations; /* the iteration count of M_HUGE_ITERATIONS */
extern bool g_free_in_failed;      /* the failed callback frees the client */
extern const pxmpp_mem *g_mem;     /* the client's allocator (NULL: malloc) */
extern bool (*g_iq_request)(void *, const pxmpp_iq *); /* the client's iq_request callback */
extern int (*g_start_tls)(void *); /* replaces the harness's start_tls when set */
extern bool g_direct_tls;          /* the client is told before start that the connection is TLS */
/* The channel-binding data both ends agree on, per type (index: pxmpp_cb_type). */
extern const unsigned char CB_DATA[4][32];
extern const size_t CB_LEN[4];
/* Puts the knobs above back to their defaults. */
void reset_knobs(void);
/* Called by setup() before the client is created: a test adds its configuration, callbacks and
   server hooks here (NULL: none). */
extern void (*g_prepare)(client_side *cs, server *sv, pxmpp_client_config *cfg, pxmpp_client_callbacks *cb);

/* Creates both sides, starts the client and runs the exchange until both are quiet. */
void setup(client_side *cs, server *sv, enum mode mode, pxmpp_tls_policy tls, const char *password);
void teardown(client_side *cs, server *sv);
/* Passes the bytes each side wrote to the other until neither has anything left. */
void pump(client_side *cs, server *sv);
/* Feeds server bytes to the client in one piece; the feed must succeed. */
void feed_server_bytes(client_side *cs, const char *s);
/* Serializes an element from the server (stanzas are passed to sv->stanza_out). */
void srv_send(server *sv, const pxmpp_type_desc *d, const void *obj);
/* The connection is gone: a new server stream for the next one, its unsent bytes dropped
   (what the hooks keep in sv->ext survives). */
void srv_reconnect(server *sv);
int cli_write(void *user, const char *d, size_t n);

#endif
