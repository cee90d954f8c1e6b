/* Channel-binding data of a TLS session (RFC 9266, RFC 5929). */
#include "net_internal.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

int pxmpp__server_end_point_md(int sig_md_nid)
{
    switch (sig_md_nid) {
    case NID_md5:
    case NID_sha1:
        return NID_sha256; /* RFC 5929 §4.1 */
    case NID_undef:
        return NID_undef;  /* no single hash (EdDSA): the binding is not defined */
    default:
        return EVP_get_digestbynid(sig_md_nid) ? sig_md_nid : NID_undef;
    }
}

/* RFC 5929 §4: the hash of the server's certificate, as DER, with the hash function of the
   certificate's signature algorithm (SHA-256 instead of MD5 or SHA-1). */
static int server_end_point(SSL *ssl, unsigned char *buf, size_t cap, size_t *len)
{
    X509 *cert = SSL_get_peer_certificate(ssl); /* a reference of our own */
    if (!cert)
        return -1;
    int mdnid = NID_undef;
    int rc = -1;
    if (X509_get_signature_info(cert, &mdnid, NULL, NULL, NULL) == 1) {
        const EVP_MD *md = EVP_get_digestbynid(pxmpp__server_end_point_md(mdnid));
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        if (md && X509_digest(cert, md, digest, &dlen) == 1 && dlen <= cap) {
            memcpy(buf, digest, dlen);
            *len = dlen;
            rc = 0;
        }
    }
    X509_free(cert);
    return rc;
}

int pxmpp__channel_binding(SSL *ssl, int type, unsigned char *buf, size_t cap, size_t *len)
{
    static const char label[] = "EXPORTER-Channel-Binding";
    if (!ssl || !SSL_is_init_finished(ssl))
        return -1;
    switch (type) {
    case PXMPP__CB_TLS_EXPORTER:
        /* RFC 9266: 32 bytes, empty context; defined for TLS 1.3 only */
        if (SSL_version(ssl) < TLS1_3_VERSION || cap < 32 ||
            SSL_export_keying_material(ssl, buf, 32, label, sizeof label - 1, (const unsigned char *)"", 0, 1) != 1)
            return -1;
        *len = 32;
        return 0;
    case PXMPP__CB_TLS_UNIQUE: {
        /* RFC 5929 §3.1: the first Finished message of the latest handshake: the client's in
           a full handshake, the server's when the session was resumed.  Under TLS 1.3 it is
           not defined; computed the same way, as some servers do. */
        size_t l = SSL_session_reused(ssl) ? SSL_get_peer_finished(ssl, buf, cap) : SSL_get_finished(ssl, buf, cap);
        if (l == 0 || l > cap)
            return -1;
        *len = l;
        return 0;
    }
    case PXMPP__CB_TLS_SERVER_END_POINT:
        return server_end_point(ssl, buf, cap, len);
    default:
        return -1;
    }
}
