/* A program built against an installed pxmpp: builds a message and checks
 * its serialized form.  Exit status 0 when the output is as expected. */
#include <pxmpp/pxmpp.h>

#include <stdio.h>
#include <string.h>

static const char expected[] =
    "<message to='juliet@example.com' id='m-1' type='chat'>"
    "<body>Wherefore art thou, Romeo &amp; &lt;Montague&gt;?</body>"
    "<body xml:lang='de'>Warum bist du Romeo?</body>"
    "</message>";

int main(void)
{
    pxmpp_arena *arena = NULL;
    pxmpp_buf out;
    int status = 1;

    pxmpp_buf_init(&out, NULL);
    int rc = pxmpp_arena_new(&arena, NULL, 0);
    if (rc != 0) {
        fprintf(stderr, "pxmpp_arena_new: %s\n", pxmpp_strerror(rc));
        return 1;
    }

    pxmpp_message *m = pxmpp_build_message(arena, "juliet@example.com", PXMPP_MESSAGE_TYPE_CHAT, "m-1");
    if (!m) {
        fprintf(stderr, "pxmpp_build_message failed\n");
        goto done;
    }
    if ((rc = pxmpp_message_add_body(arena, m, NULL, "Wherefore art thou, Romeo & <Montague>?")) != 0 ||
        (rc = pxmpp_message_add_body(arena, m, "de", "Warum bist du Romeo?")) != 0) {
        fprintf(stderr, "pxmpp_message_add_body: %s\n", pxmpp_strerror(rc));
        goto done;
    }
    if ((rc = pxmpp_write(&out, &pxmpp_message_desc, m, PXMPP_NS_CLIENT, 0)) != 0) {
        fprintf(stderr, "pxmpp_write: %s\n", pxmpp_strerror(rc));
        goto done;
    }
    if (out.len != strlen(expected) || memcmp(out.data, expected, out.len) != 0) {
        fprintf(stderr, "unexpected output\n  got:      %.*s\n  expected: %s\n", (int)out.len,
                out.data ? out.data : "", expected);
        goto done;
    }
    printf("pxmpp %s consumer: %s\n", PXMPP_VERSION_STRING, out.data);
    status = 0;

done:
    pxmpp_buf_free(&out);
    pxmpp_arena_free(arena);
    return status;
}
