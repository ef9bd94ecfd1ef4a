/* The server side of one SASL exchange: PLAIN (RFC 4616) and SCRAM-SHA-256 /
 * SCRAM-SHA-512 (RFC 5802, RFC 7677), against the SCRAM credentials of the
 * metadata log. PLAIN verifies the password against the SCRAM credential
 * (SHA-256 first, then SHA-512): no other password store exists.
 *
 * The caller feeds each client token (SaslAuthenticate's auth_bytes, or a
 * raw token after SaslHandshake v0) to sasl_server_step and sends back what
 * it writes to `out`. Credentials are looked up through `lookup` at the step
 * that needs them. Tokens above SASL_TOKEN_MAX fail. Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_SASL_SERVER_H
#define SLUICE_BROKER_KAFKA_SASL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/metadata/metadata_view.h"
#include "common/buf.h"

#define SASL_TOKEN_MAX 4096

enum sasl_step { SASL_STEP_CONTINUE, SASL_STEP_DONE, SASL_STEP_FAILED };

struct sasl_server;

/* Whether `mechanism` is in `enabled` (sasl.enabled.mechanisms, comma-separated). */
bool sasl_mechanism_enabled(const char *enabled, const char *mechanism);
/* A server for `mechanism` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); NULL for
 * an unknown one or out of memory. The caller owns it. */
struct sasl_server *sasl_server_new(const char *mechanism);
void sasl_server_free(struct sasl_server *s);

/* One client token in; the answer appended to `out`. DONE: authenticated
 * as sasl_server_user. FAILED: sasl_server_error says why (for the log; the
 * client gets a generic message). */
enum sasl_step sasl_server_step(struct sasl_server *s, const uint8_t *in, size_t len,
                                const struct metadata_view *view, struct buf *out);
const char *sasl_server_mechanism(const struct sasl_server *s);
const char *sasl_server_user(const struct sasl_server *s);
const char *sasl_server_error(const struct sasl_server *s);

#endif
