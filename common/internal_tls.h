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
#include <stdint.h>

#include "common/config.h"
#include "common/tls.h"

struct ssl_principal_rules;
struct rpc_call;

struct internal_tls {
    char listener[64];
    struct tls_settings settings;
    struct tls_context *server; /* accepts peers; NULL: plaintext */
    struct tls_context *client; /* connects to peers; NULL: plaintext */
    bool verify_host;           /* ssl.endpoint.identification.algorithm=https */
    /* Who a peer is (with TLS only): its certificate subject mapped by
     * ssl.principal.mapping.rules gives the principal "User:<name>"; the
     * principal is node N's when it reads node.principal.pattern with
     * {id} = N. */
    struct ssl_principal_rules *rules;
    char node_pattern[256];
};

/* A peer's identity, from its certificate. */
struct internal_peer {
    char principal[320]; /* "User:CN=sluice-node-2", or "(no certificate)" */
    int32_t node;        /* the node it is, or -1: not a node's principal */
};

/* The security protocol listener `name` maps to in
 * listener.security.protocol.map ("PLAINTEXT" when it is not there, or for
 * a NULL or empty name), copied into `out`. */
void internal_tls_protocol(const struct sluice_config *cfg, const char *name, char *out,
                           size_t len);
/* The ssl.* settings of listener `name`: each listener.name.<name>.ssl.*
 * key over the global one (strings borrowed from cfg). */
void listener_tls_settings(const struct sluice_config *cfg, const char *name,
                           struct tls_settings *out);
/* Whether any listener.name.<name>.ssl.* key is set for `name`. */
bool listener_tls_overridden(const struct sluice_config *cfg, const char *name);
/* The listener named first in controller.listener.names; "" when unset. */
void internal_tls_controller_listener(const struct sluice_config *cfg, char *out, size_t len);
/* Set up `t` for listener `name`: both contexts when it is SSL, none when
 * PLAINTEXT. Returns 0, or -EINVAL with `err` (a SASL protocol, a bad key or
 * certificate). */
int internal_tls_open(struct internal_tls *t, const struct sluice_config *cfg, const char *name,
                      char *err, size_t errlen);
bool internal_tls_enabled(const struct internal_tls *t);

/* Who the peer whose verified certificate subject is `subject` (NULL: none)
 * is. */
void internal_tls_identify(const struct internal_tls *t, const char *subject,
                           struct internal_peer *out);
/* The node id `principal` names by `pattern` (one "{id}" standing for a
 * decimal id), or -1. Pure; exposed for tests. */
int32_t internal_tls_pattern_node(const char *pattern, const char *principal);
/* Whether the caller of `call` is node `node` (any node when `node` < 0).
 * Always true on a plaintext listener (no identity to check: PLAINTEXT
 * inside the cluster trusts the network). When not, `why` names the peer's
 * principal and what it is not, for the refusal's log line and answer. */
bool internal_tls_call_is_node(const struct internal_tls *t, struct rpc_call *call, int32_t node,
                               char *why, size_t whylen);
/* Re-read keys and certificates (SIGHUP); on error the old ones stay. */
int internal_tls_reload(struct internal_tls *t, char *err, size_t errlen);
void internal_tls_close(struct internal_tls *t);

#endif
