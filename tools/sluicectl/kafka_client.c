/* Blocking Kafka client; see kafka_client.h. */
#include "tools/sluicectl/kafka_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proto/kafka/kafka_errors.h"
#include "proto/kafka/kafka_header.h"
#include "common/bigendian.h"
#include "common/scram.h"
#include "kafka_messages.h"

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {fd, events, 0};
    int rv;
    do {
        rv = poll(&p, 1, timeout_ms);
    } while (rv < 0 && errno == EINTR);
    return rv > 0 ? 0 : (rv == 0 ? -ETIMEDOUT : -errno);
}

/* Non-blocking connect bounded by the timeout. */
static int connect_addr(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int rv = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : -errno;
    if (rv == -EINPROGRESS) {
        rv = wait_fd(fd, POLLOUT, timeout_ms);
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (rv == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0) {
            rv = -soerr;
        }
    }
    if (rv != 0) {
        close(fd);
        return rv;
    }
    return fd;
}

static int secure(struct kafka_client *c, const char *host, char *err, size_t errlen);

int kafka_client_connect_to(struct kafka_client *c, const char *host, int port, int timeout_ms,
                            const struct client_security *security, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->next_correlation_id = 1;
    snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rv = getaddrinfo(host, portstr, &hints, &res);
    if (rv != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rv));
        return -1;
    }
    int last = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
        int fd = connect_addr(ai, timeout_ms);
        if (fd >= 0) {
            c->fd = fd;
        } else {
            last = fd;
        }
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", c->peer, strerror(-last));
        return -1;
    }
    c->security = security;
    if (security != NULL && secure(c, host, err, errlen) != 0) {
        kafka_client_close(c);
        return -1;
    }
    return 0;
}

int kafka_client_connect(struct kafka_client *c, const char *host_port, int timeout_ms,
                         const struct client_security *security, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(host_port, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    size_t host_len = colon ? (size_t)(colon - host_port) : 0;
    if (colon == NULL || end == colon + 1 || *end != '\0' || port <= 0 || port > 65535 ||
        host_len == 0 || host_len >= sizeof host) {
        snprintf(err, errlen, "bad bootstrap server '%s': expected host:port", host_port);
        return -1;
    }
    memcpy(host, host_port, host_len);
    host[host_len] = '\0';
    if (host[0] == '[' && host_len > 2 && host[host_len - 1] == ']') {
        memmove(host, host + 1, host_len - 2);
        host[host_len - 2] = '\0';
    }
    return kafka_client_connect_to(c, host, (int)port, timeout_ms, security, err, errlen);
}

void kafka_client_close(struct kafka_client *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ssl_ctx);
    c->ssl = NULL;
    c->ssl_ctx = NULL;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* Wait for what OpenSSL asked for; 0, or a negative error. */
static int tls_wait(struct kafka_client *c, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    if (e == SSL_ERROR_WANT_READ) {
        return wait_fd(c->fd, POLLIN, c->timeout_ms);
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        return wait_fd(c->fd, POLLOUT, c->timeout_ms);
    }
    return e == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO;
}

static int tls_io(struct kafka_client *c, uint8_t *p, size_t len, bool write)
{
    while (len > 0) {
        size_t n = 0;
        int ret = write ? SSL_write_ex(c->ssl, p, len, &n) : SSL_read_ex(c->ssl, p, len, &n);
        if (ret == 1) {
            p += n;
            len -= n;
            continue;
        }
        int rv = tls_wait(c, ret);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static int send_all(struct kafka_client *c, const uint8_t *p, size_t len)
{
    if (c->ssl != NULL) {
        return tls_io(c, (uint8_t *)p, len, true);
    }
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            int rv = wait_fd(c->fd, POLLOUT, c->timeout_ms);
            if (rv != 0) {
                return rv;
            }
            continue;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

static int recv_all(struct kafka_client *c, uint8_t *p, size_t len)
{
    if (c->ssl != NULL) {
        return tls_io(c, p, len, false);
    }
    while (len > 0) {
        int rv = wait_fd(c->fd, POLLIN, c->timeout_ms);
        if (rv != 0) {
            return rv;
        }
        ssize_t n = recv(c->fd, p, len, 0);
        if (n == 0) {
            return -ECONNRESET;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            return -errno;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

static int encode_request(struct kafka_client *c, int16_t api_key, int16_t version,
                          const struct buf *body, struct buf *frame, int16_t *resp_header)
{
    int16_t req_header;
    if (kafka_api_header_versions(api_key, version, &req_header, resp_header, NULL) != 0) {
        return -EINVAL;
    }
    struct kafka_request_header h = {api_key, version, c->next_correlation_id++, "sluicectl", 0};
    uint8_t *size;
    struct kafka_writer w;
    kafka_writer_init(&w, frame);
    int rv = buf_append_zeros(frame, 4, &size);
    if (rv == 0) {
        rv = kafka_request_header_encode(&w, req_header, &h);
    }
    if (rv == 0) {
        rv = buf_append(frame, body->data, body->len);
    }
    kafka_writer_free(&w);
    if (rv == 0) {
        be32_store(frame->data, (uint32_t)(frame->len - 4));
    }
    return rv == 0 ? 0 : -ENOMEM;
}

static int read_response(struct kafka_client *c, int16_t resp_header, int32_t corr, struct buf *out,
                         char *err, size_t errlen)
{
    uint8_t size_bytes[4];
    int rv = recv_all(c, size_bytes, 4);
    int32_t size = (int32_t)be32_load(size_bytes);
    if (rv == 0 && (size < 4 || size > KAFKA_CLIENT_MAX_RESPONSE)) {
        snprintf(err, errlen, "bad response size %d from %s", size, c->peer);
        return -1;
    }
    buf_reset(out);
    if (rv == 0 && buf_reserve(out, (size_t)size) != 0) {
        rv = -ENOMEM;
    }
    if (rv == 0) {
        rv = recv_all(c, out->data, (size_t)size);
    }
    if (rv != 0) {
        snprintf(err, errlen, "no response from %s: %s", c->peer, strerror(-rv));
        return -1;
    }
    out->len = (size_t)size;
    struct kafka_arena arena;
    kafka_arena_init(&arena, 1 << 20);
    struct kafka_reader r;
    kafka_reader_init(&r, out->data, out->len, &arena);
    struct kafka_response_header h;
    rv = kafka_response_header_decode(&r, resp_header, &h);
    size_t used = r.pos;
    kafka_arena_free(&arena);
    if (rv != 0 || h.correlation_id != corr) {
        snprintf(err, errlen, "bad response header from %s", c->peer);
        return -1;
    }
    memmove(out->data, out->data + used, out->len - used);
    out->len -= used;
    return 0;
}

int kafka_client_call(struct kafka_client *c, int16_t api_key, int16_t version,
                      const struct buf *body, struct buf *out, char *err, size_t errlen)
{
    struct buf frame = BUF_INIT;
    int16_t resp_header;
    int32_t corr = c->next_correlation_id;
    int rv = encode_request(c, api_key, version, body, &frame, &resp_header);
    if (rv != 0) {
        buf_free(&frame);
        snprintf(err, errlen, "cannot encode request api_key=%d version=%d", api_key, version);
        return -1;
    }
    rv = send_all(c, frame.data, frame.len);
    buf_free(&frame);
    if (rv != 0) {
        snprintf(err, errlen, "cannot send to %s: %s", c->peer, strerror(-rv));
        return -1;
    }
    return read_response(c, resp_header, corr, out, err, errlen);
}

/* ---- TLS and SASL (--command-config) ---- */

static int tls_fail(char *err, size_t errlen, const char *what, const char *peer)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "%s %s: %s", what, peer, reason != NULL ? reason : "TLS failure");
    ERR_clear_error();
    return -1;
}

static int tls_start(struct kafka_client *c, const char *host, char *err, size_t errlen)
{
    const struct client_security *sec = c->security;
    c->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (c->ssl_ctx == NULL) {
        return tls_fail(err, errlen, "cannot create a TLS context for", c->peer);
    }
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
    int ok = sec->ca[0] != '\0' ? SSL_CTX_load_verify_locations(c->ssl_ctx, sec->ca, NULL)
                                : SSL_CTX_set_default_verify_paths(c->ssl_ctx);
    if (ok != 1) {
        return tls_fail(err, errlen, "cannot read ssl.ca.location for", c->peer);
    }
    if (sec->cert[0] != '\0' &&
        (SSL_CTX_use_certificate_chain_file(c->ssl_ctx, sec->cert) != 1 ||
         SSL_CTX_use_PrivateKey_file(c->ssl_ctx, sec->key[0] ? sec->key : sec->cert,
                                     SSL_FILETYPE_PEM) != 1)) {
        return tls_fail(err, errlen, "cannot use the client certificate for", c->peer);
    }
    c->ssl = SSL_new(c->ssl_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        return tls_fail(err, errlen, "cannot start TLS with", c->peer);
    }
    struct in6_addr ip;
    bool numeric = inet_pton(AF_INET, host, &ip) == 1 || inet_pton(AF_INET6, host, &ip) == 1;
    if (!numeric) {
        SSL_set_tlsext_host_name(c->ssl, host);
    }
    if (sec->verify_hostname) {
        X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
        ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : SSL_set1_host(c->ssl, host);
        if (ok != 1) {
            return tls_fail(err, errlen, "cannot set the name to verify for", c->peer);
        }
    }
    for (;;) {
        int ret = SSL_connect(c->ssl);
        if (ret == 1) {
            return 0;
        }
        int rv = tls_wait(c, ret);
        if (rv == -EPROTO) {
            return tls_fail(err, errlen, "TLS handshake failed with", c->peer);
        }
        if (rv != 0) {
            snprintf(err, errlen, "TLS handshake with %s: %s", c->peer, strerror(-rv));
            return -1;
        }
    }
}

/* One SaslAuthenticate v1 exchange: send `token`, the server's answer in *out
 * (in `arena`). */
static int sasl_step(struct kafka_client *c, struct kafka_arena *arena, const void *token,
                     size_t len, struct kafka_bytes *out, char *err, size_t errlen)
{
    struct kafka_sasl_authenticate_request req = {{token, (int32_t)len}};
    struct buf body = BUF_INIT, resp = BUF_INIT;
    struct kafka_writer w;
    kafka_writer_init(&w, &body);
    int rv = kafka_sasl_authenticate_request_encode(&w, 1, &req);
    kafka_writer_free(&w);
    if (rv == 0) {
        rv = kafka_client_call(c, KAFKA_API_SASL_AUTHENTICATE, 1, &body, &resp, err, errlen);
    }
    buf_free(&body);
    struct kafka_sasl_authenticate_response answer;
    if (rv == 0) {
        struct kafka_reader r;
        kafka_reader_init(&r, resp.data, resp.len, arena);
        if (kafka_sasl_authenticate_response_decode(&r, 1, &answer) != 0) {
            snprintf(err, errlen, "bad SaslAuthenticate answer from %s", c->peer);
            rv = -1;
        } else if (answer.error_code != KAFKA_ERROR_NONE) {
            snprintf(err, errlen, "SASL authentication with %s failed: %s%s%s", c->peer,
                     kafka_error_name(answer.error_code), answer.error_message ? ": " : "",
                     answer.error_message ? answer.error_message : "");
            rv = -1;
        } else {
            /* The answer lives in resp: copy it into the arena. */
            uint8_t *copy = kafka_arena_alloc(arena, (size_t)answer.auth_bytes.len + 1);
            if (copy == NULL) {
                rv = -1;
            } else {
                memcpy(copy, answer.auth_bytes.data, (size_t)answer.auth_bytes.len);
                copy[answer.auth_bytes.len] = '\0';
                *out = (struct kafka_bytes){copy, answer.auth_bytes.len};
            }
        }
    }
    buf_free(&resp);
    return rv == 0 ? 0 : -1;
}

static bool attr(const char *msg, char key, char *out, size_t cap)
{
    for (const char *p = msg; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        size_t len = strcspn(p, ",");
        if (p[0] == key && p[1] == '=' && len - 2 < cap) {
            memcpy(out, p + 2, len - 2);
            out[len - 2] = '\0';
            return true;
        }
    }
    return false;
}

/* RFC 5802 client: first message, proof from the server's salt and
 * iterations, then the server's signature checked. */
static int sasl_scram(struct kafka_client *c, struct kafka_arena *arena, int mech, char *err,
                      size_t errlen)
{
    const struct client_security *sec = c->security;
    uint8_t random[18];
    char cnonce[32], first[600], final[1200], auth[2400];
    struct kafka_bytes answer;
    if (RAND_bytes(random, sizeof random) != 1) {
        snprintf(err, errlen, "no randomness for a SCRAM nonce");
        return -1;
    }
    EVP_EncodeBlock((unsigned char *)cnonce, random, sizeof random);
    snprintf(first, sizeof first, "n,,n=%s,r=%s", sec->username, cnonce);
    if (strpbrk(sec->username, ",=") != NULL) {
        snprintf(err, errlen, "sasl.username with ',' or '=' is not supported");
        return -1;
    }
    if (sasl_step(c, arena, first, strlen(first), &answer, err, errlen) != 0) {
        return -1;
    }
    const char *server_first = (const char *)answer.data;
    char nonce[300], salt_b64[200], iter[16];
    uint8_t salt[160];
    if (!attr(server_first, 'r', nonce, sizeof nonce) ||
        !attr(server_first, 's', salt_b64, sizeof salt_b64) ||
        !attr(server_first, 'i', iter, sizeof iter) ||
        strncmp(nonce, cnonce, strlen(cnonce)) != 0 || strlen(salt_b64) % 4 != 0 ||
        strlen(salt_b64) / 4 * 3 > sizeof salt) {
        snprintf(err, errlen, "bad SCRAM server-first-message from %s", c->peer);
        return -1;
    }
    int salt_len = EVP_DecodeBlock(salt, (const unsigned char *)salt_b64, (int)strlen(salt_b64));
    for (size_t i = strlen(salt_b64); i > 0 && salt_b64[i - 1] == '='; i--) {
        salt_len--;
    }
    size_t n = scram_key_len(mech);
    uint8_t salted[SCRAM_MAX_KEY], client_key[SCRAM_MAX_KEY], stored[SCRAM_MAX_KEY],
        server_key[SCRAM_MAX_KEY], sig[SCRAM_MAX_KEY], proof[SCRAM_MAX_KEY];
    char proof_b64[100], server_sig_b64[100];
    int len = snprintf(auth, sizeof auth, "%s,%s,c=biws,r=%s", first + 3, server_first, nonce);
    if (salt_len <= 0 || len < 0 || (size_t)len >= sizeof auth ||
        scram_salted_password(mech, sec->password, salt, (size_t)salt_len, atoi(iter), salted) !=
            0 ||
        scram_hmac(mech, salted, "Client Key", 10, client_key) != 0 ||
        scram_keys(mech, salted, stored, server_key) != 0 ||
        scram_hmac(mech, stored, auth, (size_t)len, sig) != 0) {
        snprintf(err, errlen, "cannot compute the SCRAM proof");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        proof[i] = client_key[i] ^ sig[i];
    }
    EVP_EncodeBlock((unsigned char *)proof_b64, proof, (int)n);
    snprintf(final, sizeof final, "c=biws,r=%s,p=%s", nonce, proof_b64);
    if (sasl_step(c, arena, final, strlen(final), &answer, err, errlen) != 0) {
        return -1;
    }
    scram_hmac(mech, server_key, auth, (size_t)len, sig);
    EVP_EncodeBlock((unsigned char *)server_sig_b64, sig, (int)n);
    char v[120];
    if (!attr((const char *)answer.data, 'v', v, sizeof v) || strcmp(v, server_sig_b64) != 0) {
        snprintf(err, errlen, "SCRAM server signature from %s does not verify", c->peer);
        return -1;
    }
    return 0;
}

static int sasl_start(struct kafka_client *c, char *err, size_t errlen)
{
    const struct client_security *sec = c->security;
    struct kafka_sasl_handshake_request hs = {sec->mechanism};
    struct buf body = BUF_INIT, resp = BUF_INIT;
    struct kafka_writer w;
    kafka_writer_init(&w, &body);
    int rv = kafka_sasl_handshake_request_encode(&w, 1, &hs);
    kafka_writer_free(&w);
    if (rv == 0) {
        rv = kafka_client_call(c, KAFKA_API_SASL_HANDSHAKE, 1, &body, &resp, err, errlen);
    }
    buf_free(&body);
    struct kafka_arena arena;
    kafka_arena_init(&arena, 1 << 20);
    struct kafka_sasl_handshake_response answer;
    if (rv == 0) {
        struct kafka_reader r;
        kafka_reader_init(&r, resp.data, resp.len, &arena);
        if (kafka_sasl_handshake_response_decode(&r, 1, &answer) != 0) {
            snprintf(err, errlen, "bad SaslHandshake answer from %s", c->peer);
            rv = -1;
        } else if (answer.error_code != KAFKA_ERROR_NONE) {
            snprintf(err, errlen, "SASL handshake with %s: %s", c->peer,
                     kafka_error_name(answer.error_code));
            rv = -1;
        }
    }
    if (rv == 0) {
        int mech = scram_mechanism_from_name(sec->mechanism);
        if (mech != 0) {
            rv = sasl_scram(c, &arena, mech, err, errlen);
        } else {
            char token[520];
            size_t ulen = strlen(sec->username), plen = strlen(sec->password);
            token[0] = '\0';
            memcpy(token + 1, sec->username, ulen);
            token[1 + ulen] = '\0';
            memcpy(token + 2 + ulen, sec->password, plen);
            struct kafka_bytes answer_bytes;
            rv = sasl_step(c, &arena, token, 2 + ulen + plen, &answer_bytes, err, errlen);
        }
    }
    kafka_arena_free(&arena);
    buf_free(&resp);
    return rv == 0 ? 0 : -1;
}

static int secure(struct kafka_client *c, const char *host, char *err, size_t errlen)
{
    if (c->security->tls && tls_start(c, host, err, errlen) != 0) {
        return -1;
    }
    return c->security->sasl ? sasl_start(c, err, errlen) : 0;
}
