/* The parts the sessions (client, server, component) share: see guard.h. */
#include "guard.h"

#include <stdio.h>
#include <string.h>

bool pxmpp__session_report(int *err, char *reason, size_t cap, pxmpp_stream *s, void (*log)(void *, const char *),
                           void *user, bool quiet, int code, const char *fmt, va_list ap)
{
    if (code < 0 && *err)
        return false;
    char text[512];
    vsnprintf(text, sizeof text < cap ? sizeof text : cap, fmt, ap);
    if (code < 0) {
        *err = code;
        snprintf(reason, cap, "%s", text);
        (void)pxmpp_stream_close(s); /* no-op when our side is closed already */
    }
    if (log && !quiet) {
        char line[sizeof text + 16];
        snprintf(line, sizeof line, "%s%s", code < 0 ? "failed: " : "", text);
        log(user, line);
    }
    return code < 0;
}
