/* A small blocking Kafka client for sluicectl: one TCP connection, one
 * request at a time, every wait bounded by a timeout.
 *
 * Requests are encoded by the caller with the generated codecs into a body
 * buffer; responses come back as a body buffer (header stripped) for the
 * caller to decode. Response sizes are bounded (KAFKA_CLIENT_MAX_RESPONSE)
 * before anything is allocated. Not thread-safe. */
#ifndef SLUICE_TOOLS_SLUICECTL_KAFKA_CLIENT_H
#define SLUICE_TOOLS_SLUICECTL_KAFKA_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "tools/sluicectl/client_security.h"

#define KAFKA_CLIENT_MAX_RESPONSE (64 * 1024 * 1024)

struct ssl_st;
struct ssl_ctx_st;

struct kafka_client {
    int fd;
    struct ssl_ctx_st *ssl_ctx; /* TLS (security.protocol SSL / SASL_SSL), else NULL */
    struct ssl_st *ssl;
    const struct client_security *security; /* borrowed: reconnects to other brokers reuse it */
    int timeout_ms;
    int32_t next_correlation_id;
    char peer[300];
};

/* Connect to "host:port" and, as `security` (--command-config; NULL for
 * PLAINTEXT) says, handshake TLS (the server's certificate verified against
 * ssl.ca.location, and its name unless ssl.endpoint.identification.algorithm
 * is empty) and authenticate with SASL (SaslHandshake v1, SaslAuthenticate:
 * PLAIN, or SCRAM with the server's signature checked). Returns 0, or -1
 * with `err` saying why. */
int kafka_client_connect(struct kafka_client *c, const char *host_port, int timeout_ms,
                         const struct client_security *security, char *err, size_t errlen);
/* Same with host and port apart. */
int kafka_client_connect_to(struct kafka_client *c, const char *host, int port, int timeout_ms,
                            const struct client_security *security, char *err, size_t errlen);
void kafka_client_close(struct kafka_client *c);

/* Send `body` as api_key/version (the request header version follows from
 * the codec table) and receive the response body into `out` (reset first;
 * the caller frees it). Returns 0, or -1 with `err`. */
int kafka_client_call(struct kafka_client *c, int16_t api_key, int16_t version,
                      const struct buf *body, struct buf *out, char *err, size_t errlen);

#endif
