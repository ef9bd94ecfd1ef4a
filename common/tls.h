/* TLS with OpenSSL over memory BIOs, for any libuv stream.
 *
 * A tls_context is the server's configuration (Kafka's ssl.* settings: PEM
 * keystore and truststore, client authentication, protocols, cipher suites)
 * built into an OpenSSL SSL_CTX. A tls_session is one connection's TLS state:
 * the owner feeds it the ciphertext it read from the socket, reads plaintext
 * out, writes plaintext in, and takes the ciphertext to put on the socket.
 * No I/O happens here, so the owner keeps its own event loop, flow control
 * and write ordering:
 *
 *   on read:   tls_session_feed(cipher) ; while tls_session_read(...) > 0: consume
 *              then send tls_session_take_output (handshake records, alerts)
 *   to write:  tls_session_write(plain) ; send tls_session_take_output
 *
 * Reload (SIGHUP): tls_context_reload rebuilds the SSL_CTX from the same
 * settings and swaps it in when the new one is good; sessions already open
 * keep the one they started with (OpenSSL counts references).
 *
 * Ownership: a context copies nothing it does not need: the settings' strings
 * are borrowed and must outlive it (they live in the process config). A
 * session borrows its context only while being created. Loop thread only. */
#ifndef SLUICE_COMMON_TLS_H
#define SLUICE_COMMON_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tls_client_auth { TLS_CLIENT_AUTH_NONE, TLS_CLIENT_AUTH_REQUESTED, TLS_CLIENT_AUTH_REQUIRED };

/* Kafka's names; each NULL or "" when unset. PEM only (ssl.keystore.type=PEM). */
struct tls_settings {
    const char *keystore_location;          /* ssl.keystore.location: key + chain in one file */
    const char *keystore_certificate_chain; /* ssl.keystore.certificate.chain: PEM text */
    const char *keystore_key;               /* ssl.keystore.key: PEM text */
    const char *key_password;               /* ssl.key.password: for an encrypted key */
    const char *truststore_location;        /* ssl.truststore.location: CA certificates */
    const char *truststore_certificates;    /* ssl.truststore.certificates: PEM text */
    const char *client_auth;                /* ssl.client.auth: none|requested|required */
    const char *enabled_protocols;          /* ssl.enabled.protocols: TLSv1.2,TLSv1.3 */
    const char *cipher_suites;              /* ssl.cipher.suites: IANA or OpenSSL names */
};

struct tls_context;
struct tls_session;

/* Build a server context. Returns 0 and *out (the caller owns it), or
 * -EINVAL with `err` naming the setting and OpenSSL's reason. */
int tls_context_new(const struct tls_settings *settings, struct tls_context **out, char *err,
                    size_t errlen);
/* Build a client context (connecting out, e.g. to a peer inside the
 * cluster): the keystore is the certificate presented when the server asks
 * (mutual TLS), and the server's certificate is always verified against the
 * truststore, which is therefore required. ssl.client.auth is ignored. */
int tls_context_new_client(const struct tls_settings *settings, struct tls_context **out, char *err,
                           size_t errlen);
bool tls_context_is_client(const struct tls_context *ctx);
/* Re-read the key, certificates and trust store. On error the old
 * configuration stays in force and `err` says why. */
int tls_context_reload(struct tls_context *ctx, char *err, size_t errlen);
void tls_context_free(struct tls_context *ctx);

/* A server-side session; NULL when out of memory. */
struct tls_session *tls_session_new(struct tls_context *ctx);
/* A client-side session from a client context; `verify_host` (NULL: no
 * check; Kafka's ssl.endpoint.identification.algorithm=https otherwise) is
 * the name or address literal the server's certificate must carry. NULL
 * when out of memory. The client speaks first: call tls_session_read once
 * before any input to produce the ClientHello for take_output. */
struct tls_session *tls_session_new_client(struct tls_context *ctx, const char *verify_host);
void tls_session_free(struct tls_session *s);

/* Results of the session calls. */
#define TLS_AGAIN  0  /* nothing more until more ciphertext arrives */
#define TLS_FAILED -1 /* handshake or protocol failure: tls_session_error says why */
#define TLS_CLOSED -2 /* the peer sent close_notify */

/* Ciphertext read from the socket. Returns 0 or TLS_FAILED (out of memory). */
int tls_session_feed(struct tls_session *s, const uint8_t *cipher, size_t len);
/* Drive the handshake and decrypt into `out`: the number of plaintext bytes
 * (> 0), TLS_AGAIN, TLS_FAILED or TLS_CLOSED. */
int tls_session_read(struct tls_session *s, uint8_t *out, size_t cap);
/* Encrypt all of `plain` (only once the handshake is done). Returns 0 or
 * TLS_FAILED. The ciphertext waits in the session for take_output. */
int tls_session_write(struct tls_session *s, const uint8_t *plain, size_t len);
/* Ciphertext waiting for the socket: a malloc'd buffer the caller owns
 * (*len bytes), or NULL with *len == 0 when there is none (or no memory:
 * *len is then nonzero). */
uint8_t *tls_session_take_output(struct tls_session *s, size_t *len);

bool tls_session_established(const struct tls_session *s);
/* Why the session failed (OpenSSL's reason, e.g. "certificate verify
 * failed", or "not a TLS handshake"); borrowed, valid until the next call. */
const char *tls_session_error(const struct tls_session *s);
/* The verified peer certificate's subject in RFC 2253 form (as Java's
 * X500Principal.getName() writes it), or NULL without a client certificate.
 * Borrowed from the session. */
const char *tls_session_peer_subject(struct tls_session *s);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", for log lines. Borrowed. */
const char *tls_session_describe(const struct tls_session *s, char *out, size_t len);

#endif
