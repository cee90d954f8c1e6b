/* Minimal JSON output helpers and a descriptor-driven dumper of typed elements. */
#ifndef PXMPP_TOOLS_JSON_H
#define PXMPP_TOOLS_JSON_H

#include <stdbool.h>
#include <stdio.h>

#include <pxmpp/pxmpp.h>

void json_string(FILE *f, const char *s);
void json_key(FILE *f, bool *first, const char *key);
/* Writes the fields of a typed element as JSON members (no braces), after *first. */
void json_fields(FILE *f, bool *first, const pxmpp_type_desc *d, const void *obj, const char *const *skip);
/* {"schema_type":...,...} for one payload. */
void json_payload(FILE *f, const pxmpp_payload *p, const char *content_ns);
/* The namespace typed element obj of type d is in (the parsed one for a type of several). */
const char *type_ns(const pxmpp_type_desc *d, const void *obj, const char *content_ns);
/* "namespace localname" of a payload, into buf. */
const char *payload_name(const pxmpp_payload *p, const char *content_ns, char *buf, size_t cap);

#endif
