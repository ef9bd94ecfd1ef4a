/* Mutual TLS for Sluice's own traffic: the replication RPC between brokers
 * (the inter-broker listener), the controller RPC and the raft port (the
 * controller listener).
 *
 * Whether a listener speaks TLS is Kafka's setting: its name maps to SSL in
 * listener.security.protocol.map (inter.broker.listener.name,
 * controller.listener.names). Then both ends present the certificate of
 * ssl.keystore.* and require the peer's, verified against ssl.truststore.*
 * (ssl.client.auth=required, whatever the Kafka listeners use), each
 * setting overridable per listener as listener.name.<name>.ssl.*. Clients
 * also check the server's host name unless
 * ssl.endpoint.identification.algorithm is empty. SASL is not spoken inside
 * the cluster: SASL_PLAINTEXT and SASL_SSL there are configuration errors.
 *
 * The struct is caller-owned; the contexts borrow their settings' strings
 * from the config, which must outlive them. Loop thread only. */
#ifndef SLUICE_COMMON_INTERNAL_TLS_H
#define SLUICE_COMMON_INTERNAL_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/tls.h"

struct internal_tls {
    char listener[64];
    struct tls_settings settings;
    struct tls_context *server; /* accepts peers; NULL: plaintext */
    struct tls_context *client; /* connects to peers; NULL: plaintext */
    bool verify_host;           /* ssl.endpoint.identification.algorithm=https */
};

/* The security protocol listener `name` maps to in
 * listener.security.protocol.map ("PLAINTEXT" when it is not there, or for
 * a NULL or empty name), copied into `out`. */
void internal_tls_protocol(const struct sluice_config *cfg, const char *name, char *out,
                           size_t len);
/* The listener named first in controller.listener.names; "" when unset. */
void internal_tls_controller_listener(const struct sluice_config *cfg, char *out, size_t len);
/* Set up `t` for listener `name`: both contexts when it is SSL, none when
 * PLAINTEXT. Returns 0, or -EINVAL with `err` (a SASL protocol, a bad key or
 * certificate). */
int internal_tls_open(struct internal_tls *t, const struct sluice_config *cfg, const char *name,
                      char *err, size_t errlen);
bool internal_tls_enabled(const struct internal_tls *t);
/* Re-read keys and certificates (SIGHUP); on error the old ones stay. */
int internal_tls_reload(struct internal_tls *t, char *err, size_t errlen);
void internal_tls_close(struct internal_tls *t);

#endif
