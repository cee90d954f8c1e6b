/* Must NOT compile: generated headers refuse a runtime with another ABI version. */
#include <pxmpp/types.h>
#undef PXMPP_RUNTIME_ABI
#define PXMPP_RUNTIME_ABI 999
#include <pxmpp/gen/rfc6121.h>
int main(void) { return 0; }
