/* TLS over memory BIOs; see tls.h. */
#include "common/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct tls_context {
    const struct tls_settings *settings; /* borrowed */
    bool client;                         /* connects out: verifies the server */
    SSL_CTX *ctx;
};

struct tls_session {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool established;
    char error[256];
    char *subject; /* cached peer subject */
};

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* OpenSSL's reason for the last failure, clearing its error queue. */
static void ssl_reason(char *out, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(out, len, "unknown error");
    } else {
        const char *r = ERR_reason_error_string(e);
        snprintf(out, len, "%s", r != NULL ? r : "unknown error");
    }
    ERR_clear_error();
}

static int fail(char *err, size_t errlen, const char *what, const char *value)
{
    char reason[160];
    ssl_reason(reason, sizeof reason);
    snprintf(err, errlen, "%s%s%s: %s", what, value ? " " : "", value ? value : "", reason);
    return -EINVAL;
}

/* ssl.keystore.certificate.chain / ssl.keystore.key as PEM text. */
static int use_inline_keystore(SSL_CTX *ctx, const struct tls_settings *st, char *err,
                               size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(st->keystore_certificate_chain, -1);
    X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (leaf == NULL || SSL_CTX_use_certificate(ctx, leaf) != 1) {
        X509_free(leaf);
        BIO_free(bio);
        return fail(err, errlen, "cannot use ssl.keystore.certificate.chain", NULL);
    }
    X509_free(leaf);
    X509 *extra;
    while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            BIO_free(bio);
            return fail(err, errlen, "cannot use ssl.keystore.certificate.chain", NULL);
        }
    }
    ERR_clear_error(); /* the end of the PEM text reads as an error */
    BIO_free(bio);
    bio = BIO_new_mem_buf(st->keystore_key, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(
                              bio, NULL, NULL, (void *)(st->key_password ? st->key_password : ""))
                        : NULL;
    BIO_free(bio);
    if (key == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        EVP_PKEY_free(key);
        return fail(err, errlen, "cannot use ssl.keystore.key", NULL);
    }
    EVP_PKEY_free(key);
    return 0;
}

static int use_keystore(SSL_CTX *ctx, const struct tls_settings *st, char *err, size_t errlen)
{
    if (set(st->key_password)) {
        SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)st->key_password);
    }
    if (set(st->keystore_location)) {
        if (SSL_CTX_use_certificate_chain_file(ctx, st->keystore_location) != 1) {
            return fail(err, errlen, "cannot read the certificate chain of ssl.keystore.location",
                        st->keystore_location);
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, st->keystore_location, SSL_FILETYPE_PEM) != 1) {
            return fail(err, errlen, "cannot read the private key of ssl.keystore.location",
                        st->keystore_location);
        }
    } else if (set(st->keystore_certificate_chain) && set(st->keystore_key)) {
        int rv = use_inline_keystore(ctx, st, err, errlen);
        if (rv != 0) {
            return rv;
        }
    } else {
        snprintf(err, errlen,
                 "a TLS listener needs ssl.keystore.location, or ssl.keystore.certificate.chain "
                 "and ssl.keystore.key");
        return -EINVAL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return fail(err, errlen, "the private key does not match the certificate of",
                    set(st->keystore_location) ? st->keystore_location : "ssl.keystore.key");
    }
    return 0;
}

static int use_truststore(SSL_CTX *ctx, const struct tls_settings *st, char *err, size_t errlen)
{
    if (set(st->truststore_location)) {
        if (SSL_CTX_load_verify_locations(ctx, st->truststore_location, NULL) != 1) {
            return fail(err, errlen, "cannot read ssl.truststore.location",
                        st->truststore_location);
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(st->truststore_location);
        if (names != NULL) {
            SSL_CTX_set_client_CA_list(ctx, names); /* takes ownership */
        }
    }
    if (set(st->truststore_certificates)) {
        BIO *bio = BIO_new_mem_buf(st->truststore_certificates, -1);
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        X509 *ca;
        int n = 0;
        while (bio != NULL && (ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            int ok = X509_STORE_add_cert(store, ca);
            if (ok == 1) {
                SSL_CTX_add_client_CA(ctx, ca);
            }
            X509_free(ca);
            if (ok != 1) {
                BIO_free(bio);
                return fail(err, errlen, "cannot use ssl.truststore.certificates", NULL);
            }
            n++;
        }
        ERR_clear_error();
        BIO_free(bio);
        if (n == 0) {
            snprintf(err, errlen, "ssl.truststore.certificates holds no PEM certificate");
            return -EINVAL;
        }
    }
    return 0;
}

static int protocol_version(const char *name, size_t len)
{
    if (len == 7 && strncmp(name, "TLSv1.2", len) == 0) {
        return TLS1_2_VERSION;
    }
    if (len == 7 && strncmp(name, "TLSv1.3", len) == 0) {
        return TLS1_3_VERSION;
    }
    return 0;
}

/* ssl.enabled.protocols: the lowest and highest listed bound what is offered. */
static int use_protocols(SSL_CTX *ctx, const char *list, char *err, size_t errlen)
{
    int lo = 0, hi = 0;
    const char *p = set(list) ? list : "TLSv1.2,TLSv1.3";
    while (*p != '\0') {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (len == 0) {
            break;
        }
        int v = protocol_version(p, len);
        if (v == 0) {
            snprintf(err, errlen, "ssl.enabled.protocols: '%.*s' is not TLSv1.2 or TLSv1.3",
                     (int)len, p);
            return -EINVAL;
        }
        lo = lo == 0 || v < lo ? v : lo;
        hi = v > hi ? v : hi;
        p += len;
    }
    if (lo == 0) {
        snprintf(err, errlen, "ssl.enabled.protocols names no protocol");
        return -EINVAL;
    }
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    return 0;
}

/* The OpenSSL name of a TLS 1.2 suite given by its IANA name (Kafka's form)
 * or its OpenSSL name; NULL if OpenSSL has no such suite. */
static const char *tls12_cipher_name(SSL *probe, const char *name)
{
    STACK_OF(SSL_CIPHER) *all = SSL_get_ciphers(probe);
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        const char *std = SSL_CIPHER_standard_name(c);
        if (strcmp(SSL_CIPHER_get_name(c), name) == 0 || (std && strcmp(std, name) == 0)) {
            return SSL_CIPHER_get_name(c);
        }
    }
    return NULL;
}

static int append(char *list, size_t cap, const char *name)
{
    size_t used = strlen(list);
    int n = snprintf(list + used, cap - used, "%s%s", used ? ":" : "", name);
    return n < 0 || (size_t)n >= cap - used ? -EINVAL : 0;
}

/* ssl.cipher.suites: TLS 1.3 suites (TLS_AES_...) go to the ciphersuites
 * list, the others to the TLS 1.2 cipher list. */
static int use_ciphers(SSL_CTX *ctx, const char *list, char *err, size_t errlen)
{
    if (!set(list)) {
        return 0;
    }
    char v12[2048] = "", v13[512] = "";
    SSL_CTX *all = SSL_CTX_new(TLS_server_method());
    SSL *probe = all && SSL_CTX_set_cipher_list(all, "ALL:COMPLEMENTOFALL") ? SSL_new(all) : NULL;
    int rv = probe != NULL ? 0 : fail(err, errlen, "cannot list OpenSSL's cipher suites", NULL);
    for (const char *p = list; rv == 0 && *p != '\0';) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (len == 0) {
            break;
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        p += len;
        const char *ossl = tls12_cipher_name(probe, name);
        if (strncmp(name, "TLS_AES_", 8) == 0 || strncmp(name, "TLS_CHACHA20_", 13) == 0) {
            rv = append(v13, sizeof v13, name);
        } else if (ossl != NULL) {
            rv = append(v12, sizeof v12, ossl);
        } else {
            snprintf(err, errlen, "ssl.cipher.suites: unknown cipher suite '%s'", name);
            rv = -EINVAL;
        }
    }
    SSL_free(probe);
    SSL_CTX_free(all);
    if (rv == 0 && v12[0] != '\0' && SSL_CTX_set_cipher_list(ctx, v12) != 1) {
        rv = fail(err, errlen, "ssl.cipher.suites: OpenSSL refuses", v12);
    }
    /* Only TLS 1.2 suites named: leave TLS 1.3 with none, as Kafka would. */
    if (rv == 0 && SSL_CTX_set_ciphersuites(ctx, v13) != 1) {
        rv = fail(err, errlen, "ssl.cipher.suites: OpenSSL refuses", v13);
    }
    return rv;
}

static int client_auth_mode(const char *s, enum tls_client_auth *out, char *err, size_t errlen)
{
    if (!set(s) || strcmp(s, "none") == 0) {
        *out = TLS_CLIENT_AUTH_NONE;
    } else if (strcmp(s, "requested") == 0) {
        *out = TLS_CLIENT_AUTH_REQUESTED;
    } else if (strcmp(s, "required") == 0) {
        *out = TLS_CLIENT_AUTH_REQUIRED;
    } else {
        snprintf(err, errlen, "ssl.client.auth: '%s' is not none, requested or required", s);
        return -EINVAL;
    }
    return 0;
}

static int build(const struct tls_settings *st, bool client, SSL_CTX **out, char *err,
                 size_t errlen)
{
    enum tls_client_auth auth;
    int rv = client_auth_mode(st->client_auth, &auth, err, errlen);
    if (rv != 0) {
        return rv;
    }
    /* A client always verifies the server it reaches (inside the cluster
     * there is no anonymous server), against the same trust store. */
    if (client) {
        auth = TLS_CLIENT_AUTH_REQUIRED;
    }
    SSL_CTX *ctx = SSL_CTX_new(client ? TLS_client_method() : TLS_server_method());
    if (ctx == NULL) {
        return fail(err, errlen, "cannot create a TLS context", NULL);
    }
    /* No renegotiation, no session tickets to keep keys for: each
     * connection does a full handshake. Compression stays off (CRIME). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    rv = use_protocols(ctx, st->enabled_protocols, err, errlen);
    if (rv == 0) {
        rv = use_ciphers(ctx, st->cipher_suites, err, errlen);
    }
    if (rv == 0) {
        rv = use_keystore(ctx, st, err, errlen);
    }
    if (rv == 0) {
        rv = use_truststore(ctx, st, err, errlen);
    }
    if (rv == 0 && auth != TLS_CLIENT_AUTH_NONE && !set(st->truststore_location) &&
        !set(st->truststore_certificates)) {
        snprintf(err, errlen,
                 "%s needs ssl.truststore.location or ssl.truststore.certificates to verify "
                 "the peer's certificate",
                 client ? "a TLS client" : "ssl.client.auth=requested or required");
        rv = -EINVAL;
    }
    if (rv != 0) {
        SSL_CTX_free(ctx);
        return rv;
    }
    int mode = SSL_VERIFY_NONE;
    if (auth == TLS_CLIENT_AUTH_REQUESTED) {
        mode = SSL_VERIFY_PEER;
    } else if (auth == TLS_CLIENT_AUTH_REQUIRED) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx, mode, NULL);
    *out = ctx;
    return 0;
}

static int context_new(const struct tls_settings *settings, bool client, struct tls_context **out,
                       char *err, size_t errlen)
{
    struct tls_context *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->settings = settings;
    c->client = client;
    int rv = build(settings, client, &c->ctx, err, errlen);
    if (rv != 0) {
        free(c);
        return rv;
    }
    *out = c;
    return 0;
}

int tls_context_new(const struct tls_settings *settings, struct tls_context **out, char *err,
                    size_t errlen)
{
    return context_new(settings, false, out, err, errlen);
}

int tls_context_new_client(const struct tls_settings *settings, struct tls_context **out, char *err,
                           size_t errlen)
{
    return context_new(settings, true, out, err, errlen);
}

bool tls_context_is_client(const struct tls_context *ctx)
{
    return ctx->client;
}

int tls_context_reload(struct tls_context *c, char *err, size_t errlen)
{
    SSL_CTX *fresh;
    int rv = build(c->settings, c->client, &fresh, err, errlen);
    if (rv != 0) {
        return rv;
    }
    SSL_CTX_free(c->ctx); /* sessions still using it hold their own reference */
    c->ctx = fresh;
    return 0;
}

void tls_context_free(struct tls_context *c)
{
    if (c != NULL) {
        SSL_CTX_free(c->ctx);
        free(c);
    }
}

static struct tls_session *session_new(struct tls_context *ctx)
{
    struct tls_session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->ssl = SSL_new(ctx->ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (s->ssl == NULL || s->rbio == NULL || s->wbio == NULL) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        SSL_free(s->ssl);
        free(s);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(s->rbio, -1); /* empty means "retry", not end of stream */
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    return s;
}

struct tls_session *tls_session_new(struct tls_context *ctx)
{
    struct tls_session *s = session_new(ctx);
    if (s != NULL) {
        SSL_set_accept_state(s->ssl);
    }
    return s;
}

/* The server must be `host`: a DNS name in its certificate's subjectAltName
 * (or CN), or an IP address literal in its IP SANs. */
static int expect_host(SSL *ssl, const char *host)
{
    unsigned char addr[16];
    bool literal = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    if (literal) {
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host) != 1) {
        return -1;
    }
    return SSL_set_tlsext_host_name(ssl, host) == 1 ? 0 : -1;
}

struct tls_session *tls_session_new_client(struct tls_context *ctx, const char *verify_host)
{
    struct tls_session *s = session_new(ctx);
    if (s == NULL) {
        return NULL;
    }
    SSL_set_connect_state(s->ssl);
    if (verify_host != NULL && verify_host[0] != '\0' && expect_host(s->ssl, verify_host) != 0) {
        tls_session_free(s);
        ERR_clear_error();
        return NULL;
    }
    return s;
}

void tls_session_free(struct tls_session *s)
{
    if (s != NULL) {
        SSL_free(s->ssl);
        free(s->subject);
        free(s);
    }
}

int tls_session_feed(struct tls_session *s, const uint8_t *cipher, size_t len)
{
    size_t written;
    if (BIO_write_ex(s->rbio, cipher, len, &written) != 1 || written != len) {
        snprintf(s->error, sizeof s->error, "out of memory buffering TLS input");
        return TLS_FAILED;
    }
    return 0;
}

/* Why `ret` of an SSL call failed, as one of the TLS_* results. */
static int session_status(struct tls_session *s, int ret)
{
    int e = SSL_get_error(s->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return TLS_AGAIN;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        return TLS_CLOSED;
    }
    char reason[160];
    ssl_reason(reason, sizeof reason);
    long verify = SSL_get_verify_result(s->ssl);
    if (verify != X509_V_OK) {
        snprintf(s->error, sizeof s->error, "%s (%s)", reason,
                 X509_verify_cert_error_string(verify));
    } else {
        snprintf(s->error, sizeof s->error, "%s", reason);
    }
    return TLS_FAILED;
}

int tls_session_read(struct tls_session *s, uint8_t *out, size_t cap)
{
    if (!s->established) {
        int ret = SSL_do_handshake(s->ssl);
        if (ret != 1) {
            return session_status(s, ret);
        }
        s->established = true;
    }
    size_t n = 0;
    int ret = SSL_read_ex(s->ssl, out, cap, &n);
    if (ret != 1) {
        return session_status(s, ret);
    }
    return (int)n;
}

int tls_session_write(struct tls_session *s, const uint8_t *plain, size_t len)
{
    size_t n = 0;
    /* The write BIO is memory and grows: the whole buffer is taken at once. */
    if (len > 0 && (SSL_write_ex(s->ssl, plain, len, &n) != 1 || n != len)) {
        (void)session_status(s, 0); /* records why */
        return TLS_FAILED;
    }
    return 0;
}

uint8_t *tls_session_take_output(struct tls_session *s, size_t *len)
{
    size_t pending = BIO_ctrl_pending(s->wbio);
    *len = pending;
    if (pending == 0) {
        return NULL;
    }
    uint8_t *buf = malloc(pending);
    size_t got = 0;
    if (buf == NULL || BIO_read_ex(s->wbio, buf, pending, &got) != 1 || got != pending) {
        free(buf);
        return NULL;
    }
    return buf;
}

bool tls_session_established(const struct tls_session *s)
{
    return s->established;
}

const char *tls_session_error(const struct tls_session *s)
{
    return s->error[0] != '\0' ? s->error : "TLS failure";
}

const char *tls_session_peer_subject(struct tls_session *s)
{
    if (s->subject != NULL) {
        return s->subject;
    }
    X509 *peer = SSL_get0_peer_certificate(s->ssl);
    if (peer == NULL || SSL_get_verify_result(s->ssl) != X509_V_OK) {
        return NULL;
    }
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL ||
        X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(bio);
        return NULL;
    }
    size_t len = BIO_ctrl_pending(bio);
    s->subject = malloc(len + 1);
    if (s->subject != NULL) {
        size_t got = 0;
        BIO_read_ex(bio, s->subject, len, &got);
        s->subject[got] = '\0';
    }
    BIO_free(bio);
    return s->subject;
}

const char *tls_session_describe(const struct tls_session *s, char *out, size_t len)
{
    snprintf(out, len, "%s %s", SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl));
    return out;
}
