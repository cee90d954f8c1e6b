/* The guard of a session (client, server, component) against being freed by its own
 * callbacks.  Callbacks run inside the calls the app makes into the session, and the app
 * may free the session from one of them: every public entry point enters the guard
 * (PXMPP__ENTER) and leaves through pxmpp__guard_leave(); a free requested inside a
 * callback pauses the stream and happens when the outermost call returns. */
#ifndef PXMPP_GUARD_H
#define PXMPP_GUARD_H

#include <stdbool.h>

#include <pxmpp/stream.h>

typedef struct pxmpp__guard {
    unsigned depth;    /* nesting of calls into the session */
    bool free_pending; /* the app asked for a free inside a callback */
} pxmpp__guard;

/* In pxmpp_*_free(): true when the session may be destroyed now; otherwise the free is
   recorded, the stream @p s paused (nothing more is parsed) and false returned. */
static inline bool pxmpp__guard_free(pxmpp__guard *g, pxmpp_stream *s)
{
    if (g->depth == 0)
        return true;
    g->free_pending = true;
    (void)pxmpp_stream_pause(s);
    return false;
}

/* Leaving an entry point: true when this was the outermost call and a free was asked for
   inside it (the caller destroys the session then). */
static inline bool pxmpp__guard_leave(pxmpp__guard *g) { return --g->depth == 0 && g->free_pending; }

/* The first statement of an entry point taking session @p obj (a struct with a `guard`). */
#define PXMPP__ENTER(obj)                                                                                        \
    do {                                                                                                         \
        if (!(obj))                                                                                              \
            return PXMPP_ERR_INVALID_ARGUMENT;                                                                   \
        (obj)->guard.depth++;                                                                                    \
    } while (0)

#endif
