#include <pxmpp/error.h>

#include <stddef.h>

static const struct {
    int code;
    const char *name;
    const char *text;
} table[] = {
    { PXMPP_OK, "PXMPP_OK", "success" },
    { PXMPP_ERR_INVALID_ARGUMENT, "PXMPP_ERR_INVALID_ARGUMENT", "invalid argument" },
    { PXMPP_ERR_BUFFER_TOO_SMALL, "PXMPP_ERR_BUFFER_TOO_SMALL", "buffer too small" },
    { PXMPP_ERR_STATE, "PXMPP_ERR_STATE", "call not allowed in the current state" },
    { PXMPP_ERR_JID_EMPTY, "PXMPP_ERR_JID_EMPTY", "JID or JID part is empty" },
    { PXMPP_ERR_JID_TOO_LONG, "PXMPP_ERR_JID_TOO_LONG", "JID part longer than 1023 bytes" },
    { PXMPP_ERR_JID_LOCAL, "PXMPP_ERR_JID_LOCAL", "invalid JID localpart" },
    { PXMPP_ERR_JID_DOMAIN, "PXMPP_ERR_JID_DOMAIN", "invalid JID domainpart" },
    { PXMPP_ERR_JID_RESOURCE, "PXMPP_ERR_JID_RESOURCE", "invalid JID resourcepart" },
    { PXMPP_ERR_JID_UTF8, "PXMPP_ERR_JID_UTF8", "JID is not valid UTF-8" },
    { PXMPP_ERR_STANZA_INVALID, "PXMPP_ERR_STANZA_INVALID", "stanza failed validation" },
    { PXMPP_ERR_UNKNOWN_ELEMENT, "PXMPP_ERR_UNKNOWN_ELEMENT", "no type is known for the element" },
    { PXMPP_ERR_VALUE, "PXMPP_ERR_VALUE", "value cannot be serialized" },
    { PXMPP_ERR_INVALID_CHAR, "PXMPP_ERR_INVALID_CHAR", "invalid UTF-8 or a character not allowed in XML" },
    { PXMPP_ERR_INVALID_NAME, "PXMPP_ERR_INVALID_NAME", "name or namespace not allowed in XML" },
    { PXMPP_ERR_AUTH, "PXMPP_ERR_AUTH", "authentication failed" },
    { PXMPP_ERR_TLS_REQUIRED, "PXMPP_ERR_TLS_REQUIRED", "TLS required but not offered" },
    { PXMPP_ERR_NO_MECHANISM, "PXMPP_ERR_NO_MECHANISM", "no acceptable SASL mechanism" },
    { PXMPP_ERR_TLS, "PXMPP_ERR_TLS", "TLS negotiation failed" },
    { PXMPP_ERR_PROTOCOL, "PXMPP_ERR_PROTOCOL", "protocol error" },
    { PXMPP_ERR_TIMEOUT, "PXMPP_ERR_TIMEOUT", "timed out" },
    { PXMPP_ERR_IQ_ERROR, "PXMPP_ERR_IQ_ERROR", "iq error reply" },
    { PXMPP_ERR_RESOLVE, "PXMPP_ERR_RESOLVE", "no server found for the domain" },
    { PXMPP_ERR_CONNECT, "PXMPP_ERR_CONNECT", "cannot connect to the server" },
    { PXMPP_ERR_DISCONNECTED, "PXMPP_ERR_DISCONNECTED", "connection lost" },
    { PXMPP_ERR_FATAL, "PXMPP_ERR_FATAL", "fatal error" },
    { PXMPP_ERR_NOMEM, "PXMPP_ERR_NOMEM", "out of memory" },
    { PXMPP_ERR_XML, "PXMPP_ERR_XML", "XML not well-formed" },
    { PXMPP_ERR_RESTRICTED_XML, "PXMPP_ERR_RESTRICTED_XML", "restricted XML (comment, PI, DTD or entity)" },
    { PXMPP_ERR_ENCODING, "PXMPP_ERR_ENCODING", "unsupported encoding" },
    { PXMPP_ERR_NAMESPACE, "PXMPP_ERR_NAMESPACE", "invalid namespace" },
    { PXMPP_ERR_VERSION, "PXMPP_ERR_VERSION", "unsupported stream version" },
    { PXMPP_ERR_UNSUPPORTED_STANZA, "PXMPP_ERR_UNSUPPORTED_STANZA", "unsupported top-level element" },
    { PXMPP_ERR_LIMIT, "PXMPP_ERR_LIMIT", "limit exceeded" },
    { PXMPP_ERR_CLOSED, "PXMPP_ERR_CLOSED", "stream closed" },
    { PXMPP_ERR_WRITE, "PXMPP_ERR_WRITE", "write callback failed" },
    { PXMPP_ERR_PEER_STREAM_ERROR, "PXMPP_ERR_PEER_STREAM_ERROR", "peer sent a stream error" },
    { PXMPP_ERR_TRUNCATED, "PXMPP_ERR_TRUNCATED", "input ended early" },
    { PXMPP_ERR_BAD_FORMAT, "PXMPP_ERR_BAD_FORMAT", "bad stream format" },
};

const char *pxmpp_strerror(int code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == code)
            return table[i].text;
    return "unknown error";
}

const char *pxmpp_error_name(int code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == code)
            return table[i].name;
    return "PXMPP_ERR_UNKNOWN";
}
