/* The guard of a session (client, server, component) against being freed by its own
 * callbacks.  Callbacks run inside the calls the app makes into the session, and the app
 * may free the session from one of them: every public entry point enters the guard
 * (PXMPP__ENTER) and leaves through pxmpp__guard_leave(); a free requested inside a
 * callback pauses the stream and happens when the outermost call returns. */
#ifndef PXMPP_GUARD_H
#define PXMPP_GUARD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

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

/* The common part of a session's report (server, component): formats the text; for a
   failure (@p code < 0) when none was recorded yet, records @p code in *err and the text in
   @p reason (@p cap bytes) and closes our side of the stream @p s; logs the text (a failure
   prefixed "failed: ") through @p log unless @p quiet (a free was requested).  Returns true
   when this was a new failure: the caller then sets its state and reports it to the app.
   A failure after the first is ignored (false, nothing logged). */
bool pxmpp__session_report(int *err, char *reason, size_t cap, pxmpp_stream *s, void (*log)(void *, const char *),
                           void *user, bool quiet, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 9, 0)));

#endif
