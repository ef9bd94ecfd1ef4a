/* Listener configuration: Kafka's `listeners`, `advertised.listeners` and
 * `listener.security.protocol.map`, parsed into endpoints.
 *
 *   listeners=PLAINTEXT://0.0.0.0:9092,INTERNAL://:9093,EXTERNAL://[::1]:9094
 *
 * Syntax as in Kafka: NAME://host:port, comma-separated; an empty host binds
 * every interface and is advertised as this machine's hostname (Kafka uses
 * the canonical host name); IPv6 hosts are bracketed. NAME maps to a security protocol through
 * listener.security.protocol.map: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
 * for Kafka listeners; the inter-broker (replication) listener is PLAINTEXT
 * or SSL (mutual TLS, common/internal_tls.h).
 *
 * Pure parsing, no I/O; the result owns its strings. Not thread-safe. */
#ifndef SLUICE_BROKER_KAFKA_LISTENER_H
#define SLUICE_BROKER_KAFKA_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

#define LISTENER_MAX      16
#define LISTENER_NAME_MAX 64
#define LISTENER_HOST_MAX 256

enum security_protocol {
    SECURITY_PLAINTEXT,
    SECURITY_SSL,
    SECURITY_SASL_PLAINTEXT,
    SECURITY_SASL_SSL,
};

struct listener_endpoint {
    char name[LISTENER_NAME_MAX]; /* listener name, upper case as written */
    char host[LISTENER_HOST_MAX]; /* without brackets; "" = all interfaces */
    uint16_t port;                /* 0 = ephemeral (bind) */
    enum security_protocol protocol;
};

struct listener_set {
    struct listener_endpoint bind[LISTENER_MAX]; /* from `listeners` */
    size_t n_bind;
    struct listener_endpoint advertised[LISTENER_MAX]; /* advertised.listeners or listeners */
    size_t n_advertised;
};

/* Parse one "NAME://host:port" list into `out` (at most `max` entries),
 * resolving each name's protocol through `protocol_map` ("NAME:PROTO,...").
 * Returns the number of endpoints, or -EINVAL with `err` naming the entry. */
int listener_list_parse(const char *list, const char *protocol_map, struct listener_endpoint *out,
                        size_t max, char *err, size_t errlen);

/* Parse the broker's listener settings. Checks: at least one listener, names
 * unique, every name in the protocol map, the inter-broker listener PLAINTEXT or SSL,
 * controller.listener.names excluded from the broker's advertised endpoints, each advertised name
 * also a bound listener. Returns 0 or -EINVAL with `err`. */
int listener_set_parse(const struct sluice_config *cfg, struct listener_set *out, char *err,
                       size_t errlen);

/* The advertised endpoint clients should be told about on the listener named
 * `name`; NULL if none. Borrowed from `set`. */
const struct listener_endpoint *listener_set_advertised(const struct listener_set *set,
                                                        const char *name);

const char *security_protocol_name(enum security_protocol p);

#endif
