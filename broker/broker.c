/* The broker role; see broker.h. */
#include "broker/broker.h"
#include "broker/kafka/authorizer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/group/group_coordinator.h"
#include "broker/txn/txn_coordinator.h"
#include "broker/kafka/fetch_session.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/replica_service.h"
#include "common/log.h"

/* Kafka's defaults: connections.max.idle.ms = 10 minutes. In-flight and
 * pending-byte limits bound what one client can make the broker buffer. */
#define IDLE_TIMEOUT_MS   600000
#define MAX_IN_FLIGHT     64
#define MAX_PENDING_BYTES (64u << 20)

enum { STARTED_NOTHING, STARTED_SERVER, STARTED_METADATA, STARTED_REPLICAS };

/* ---- the inter-broker listener ----
 *
 * The listener named by inter.broker.listener.name (default REPLICATION)
 * speaks Sluice's replication RPC (proto/replica.proto), not the Kafka
 * protocol: Kafka clients and replicas use separate listeners. It is
 * registered with the controller like the others, so followers find their
 * leaders' endpoints in the metadata; Kafka clients never see it (Metadata
 * answers with the endpoints of the listener a client connected to). */

static bool is_replication(const struct sluice_config *cfg, const struct listener_endpoint *ep)
{
    return strcmp(ep->name, replica_listener_name(cfg)) == 0;
}

/* The Kafka server's listeners: all but the inter-broker one. */
static void split_listeners(struct broker *b)
{
    struct listener_set *k = &b->kafka_listeners;
    memset(k, 0, sizeof *k);
    for (size_t i = 0; i < b->listeners.n_bind; i++) {
        if (!is_replication(b->cfg, &b->listeners.bind[i])) {
            k->bind[k->n_bind++] = b->listeners.bind[i];
        }
    }
    for (size_t i = 0; i < b->listeners.n_advertised; i++) {
        if (!is_replication(b->cfg, &b->listeners.advertised[i])) {
            k->advertised[k->n_advertised++] = b->listeners.advertised[i];
        }
    }
}

/* Ports bound as 0 become known: copy them into what is registered. */
static void copy_bound_ports(struct listener_set *all, const char *name, uint16_t port)
{
    for (size_t i = 0; i < all->n_bind; i++) {
        if (strcmp(all->bind[i].name, name) == 0 && all->bind[i].port == 0) {
            all->bind[i].port = port;
        }
    }
    for (size_t i = 0; i < all->n_advertised; i++) {
        if (strcmp(all->advertised[i].name, name) == 0 && all->advertised[i].port == 0) {
            all->advertised[i].port = port;
        }
    }
}

static int start_replication_listener(struct broker *b, char *err, size_t errlen)
{
    for (size_t i = 0; i < b->kafka_listeners.n_bind; i++) {
        copy_bound_ports(&b->listeners, b->kafka_listeners.bind[i].name,
                         b->kafka_listeners.bind[i].port);
    }
    rpc_server_init(&b->rpc, b->loop, replica_rpc_max_frame(b->cfg));
    struct rpc_server_limits limits = rpc_server_control_limits(
        (uint64_t)b->cfg->request_timeout_ms, (uint64_t)b->cfg->connections_max_idle_ms);
    rpc_server_set_limits(&b->rpc, &limits);
    int rv =
        internal_tls_open(&b->replication_tls, b->cfg, replica_listener_name(b->cfg), err, errlen);
    if (rv != 0) {
        return rv;
    }
    rpc_server_set_tls(&b->rpc, b->replication_tls.server);
    rv = replica_service_register(&b->rpc, &b->replicas, &b->replication_tls);
    for (size_t i = 0; rv == 0 && i < b->listeners.n_bind; i++) {
        const struct listener_endpoint *ep = &b->listeners.bind[i];
        if (!is_replication(b->cfg, ep)) {
            continue;
        }
        rv = rpc_server_listen(&b->rpc, ep->host[0] ? ep->host : "0.0.0.0", ep->port);
        if (rv != 0) {
            snprintf(err, errlen, "cannot listen on %s://%s:%u: %s", ep->name, ep->host, ep->port,
                     uv_strerror(rv));
            return rv;
        }
        b->rpc_listening = true;
        copy_bound_ports(&b->listeners, ep->name, (uint16_t)rpc_server_port(&b->rpc));
        log_info("broker", "replication listening listener=%s host=%s port=%d security=%s",
                 ep->name, ep->host[0] ? ep->host : "*", rpc_server_port(&b->rpc),
                 internal_tls_enabled(&b->replication_tls) ? "SSL (mutual TLS)" : "PLAINTEXT");
        break;
    }
    if (rv == 0 && !b->rpc_listening) {
        log_info("broker",
                 "no %s listener: this broker cannot serve followers "
                 "(add it to listeners, or set inter.broker.listener.name)",
                 replica_listener_name(b->cfg));
    }
    return rv;
}

static int64_t link_broker_epoch(void *data)
{
    return controller_link_broker_epoch(data);
}

_Static_assert(REPLICA_ALTER_UNKNOWN == CONTROLLER_LINK_ALTER_UNKNOWN &&
                   REPLICA_ALTER_NOT_SENT == CONTROLLER_LINK_ALTER_NOT_SENT,
               "the replica layer reads the link's AlterPartition outcomes");

static int link_alter_partition(void *data, const uint8_t topic_id[16], int32_t index,
                                int32_t leader_epoch, int32_t partition_epoch, const int32_t *isr,
                                const int64_t *broker_epochs, int32_t n_isr, replica_alter_cb cb,
                                void *arg)
{
    return controller_link_alter_partition(data, topic_id, index, leader_epoch, partition_epoch,
                                           isr, broker_epochs, n_isr, cb, arg);
}

static bool link_may_lead(void *data, uint64_t now_ms)
{
    return controller_link_may_lead(data, now_ms);
}

static int link_report_offline(void *data, const uint8_t (*topic_ids)[16],
                               const int32_t *partitions, size_t n, const char *const *dirs,
                               size_t n_dirs)
{
    struct controller_link *link = data;
    return broker_session_set_offline(&link->session, topic_ids, partitions, n, dirs, n_dirs);
}

/* Every log directory failed: stop the way an operator's SIGTERM does
 * (controlled shutdown, logs closed), rather than halting as Kafka does, so
 * the controller moves leadership at once. */
static void link_all_dirs_offline(void *data)
{
    (void)data;
    raise(SIGTERM);
}

static bool link_response_stale(void *data, uint64_t built_ms, uint64_t now_ms)
{
    return controller_link_response_stale(data, built_ms, now_ms);
}

/* Isolation began: parked produces must not complete as acknowledged. */
static void on_isolated(struct broker_session *s)
{
    struct broker *b = ((struct controller_link *)s->data)->data;
    if (b != NULL && b->started >= STARTED_REPLICAS) {
        replica_manager_wake_all(&b->replicas);
    }
}

/* Kafka keeps a starting broker fenced until its logs are loaded (log
 * recovery comes before BrokerLifecycleManager.setReadyToUnfence): asked
 * once the session's image has reached this broker's registration, by when
 * the metadata view has applied it (on_link_metadata) and every partition
 * it assigns here has been queued to open. Fenced, the broker leads nothing
 * and joins no ISR while its partitions recover on the thread pool; a
 * partition that fails to open is done too (offline, reported). Asked only
 * until the first yes (broker_session_ready_to_unfence): a topic created
 * later, whose opens are in flight, never fences a running broker. */
static bool ready_to_unfence(struct broker_session *s)
{
    struct broker *b = ((struct controller_link *)s->data)->data;
    if (b == NULL || b->started != STARTED_REPLICAS) {
        return false;
    }
    size_t opening = replica_manager_opening(&b->replicas);
    if (opening > 0 && !b->told_opening) {
        b->told_opening = true;
        log_info("broker", "staying fenced until the hosted partitions are open opening=%zu",
                 opening);
    }
    return opening == 0;
}

static void conn_options(const struct sluice_config *cfg, struct kafka_conn_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_request_bytes = cfg->socket_request_max_bytes;
    o->idle_timeout_ms =
        cfg->connections_max_idle_ms > 0 ? (uint64_t)cfg->connections_max_idle_ms : IDLE_TIMEOUT_MS;
    o->max_in_flight = MAX_IN_FLIGHT;
    o->max_pending_bytes = MAX_PENDING_BYTES;
    o->max_connections = cfg->max_connections;
    o->max_connections_per_ip = cfg->max_connections_per_ip;
    o->per_ip_overrides = cfg->max_connections_per_ip_overrides;
    o->max_connection_creation_rate = cfg->max_connection_creation_rate;
    o->queued_max_request_bytes = cfg->queued_max_request_bytes;
    o->frame_timeout_ms = (uint64_t)cfg->request_timeout_ms;
}

/* The TLS context of the SSL and SASL_SSL listeners, when any is configured. */
static int open_tls(struct broker *b, struct kafka_conn_options *o, char *err, size_t errlen)
{
    bool wanted = false, global = false; /* a TLS listener; one on the global ssl.* */
    for (size_t i = 0; i < b->kafka_listeners.n_bind; i++) {
        enum security_protocol p = b->kafka_listeners.bind[i].protocol;
        bool tls = p == SECURITY_SSL || p == SECURITY_SASL_SSL;
        wanted = wanted || tls;
        global =
            global || (tls && !listener_tls_overridden(b->cfg, b->kafka_listeners.bind[i].name));
    }
    if (!wanted) {
        return 0;
    }
    const struct sluice_config *cfg = b->cfg;
    b->tls_settings = (struct tls_settings){
        cfg->ssl_keystore_location,   cfg->ssl_keystore_certificate_chain,
        cfg->ssl_keystore_key,        cfg->ssl_key_password,
        cfg->ssl_truststore_location, cfg->ssl_truststore_certificates,
        cfg->ssl_client_auth,         cfg->ssl_enabled_protocols,
        cfg->ssl_cipher_suites,
    };
    int rv = ssl_principal_rules_parse(cfg->ssl_principal_mapping_rules, &b->tls_principals, err,
                                       errlen);
    if (rv == 0 && global) {
        rv = tls_context_new(&b->tls_settings, &b->tls, err, errlen);
    }
    if (rv != 0) {
        ssl_principal_rules_free(b->tls_principals);
        b->tls_principals = NULL;
        return rv;
    }
    o->tls = b->tls;
    o->tls_principal_rules = b->tls_principals;
    o->tls_handshake_timeout_ms = (uint64_t)cfg->ssl_handshake_timeout_ms;
    return 0;
}

/* A context of its own for each TLS listener with listener.name.<name>.ssl.*
 * settings, and its own principal mapping when it has
 * listener.name.<name>.ssl.principal.mapping.rules (kafka_listeners index =
 * kafka_server listener index). */
static int open_listener_tls(struct broker *b, char *err, size_t errlen)
{
    for (size_t i = 0; i < b->kafka_listeners.n_bind; i++) {
        const struct listener_endpoint *ep = &b->kafka_listeners.bind[i];
        if ((ep->protocol != SECURITY_SSL && ep->protocol != SECURITY_SASL_SSL) ||
            !listener_tls_overridden(b->cfg, ep->name)) {
            continue;
        }
        listener_tls_settings(b->cfg, ep->name, &b->listener_tls_settings[i]);
        char inner[400];
        const char *rules =
            sluice_config_listener_value(b->cfg, ep->name, "ssl.principal.mapping.rules", NULL);
        int rv = rules == NULL ? 0
                               : ssl_principal_rules_parse(rules, &b->listener_principals[i], inner,
                                                           sizeof inner);
        if (rv != 0) {
            snprintf(err, errlen, "listener %s: ssl.principal.mapping.rules: %s", ep->name, inner);
            return rv;
        }
        rv =
            tls_context_new(&b->listener_tls_settings[i], &b->listener_tls[i], inner, sizeof inner);
        if (rv != 0) {
            snprintf(err, errlen, "listener %s: %s", ep->name, inner);
            return rv;
        }
    }
    return 0;
}

static void close_tls(struct broker *b)
{
    for (size_t i = 0; i < LISTENER_MAX; i++) {
        tls_context_free(b->listener_tls[i]);
        b->listener_tls[i] = NULL;
        ssl_principal_rules_free(b->listener_principals[i]);
        b->listener_principals[i] = NULL;
    }
    internal_tls_close(&b->replication_tls);
    tls_context_free(b->tls);
    b->tls = NULL;
    ssl_principal_rules_free(b->tls_principals);
    b->tls_principals = NULL;
}

void broker_reload_tls(struct broker *b)
{
    char err[512];
    if (internal_tls_reload(&b->replication_tls, err, sizeof err) != 0) {
        log_error("broker", "replication TLS reload failed, keeping the previous certificates: %s",
                  err);
    } else if (internal_tls_enabled(&b->replication_tls)) {
        log_info("broker", "replication TLS reloaded listener=%s", b->replication_tls.listener);
    }
    if (controller_link_reload_tls(&b->link, err, sizeof err) != 0) {
        log_error("broker",
                  "controller-link TLS reload failed, keeping the previous certificates: %s", err);
    } else if (internal_tls_enabled(&b->link.tls)) {
        log_info("broker", "controller-link TLS reloaded listener=%s", b->link.tls.listener);
    }
    for (size_t i = 0; i < LISTENER_MAX; i++) {
        if (b->listener_tls[i] == NULL) {
            continue;
        }
        if (tls_context_reload(b->listener_tls[i], err, sizeof err) != 0) {
            log_error("broker",
                      "TLS reload failed for listener %s, keeping the previous "
                      "certificates: %s",
                      b->kafka_listeners.bind[i].name, err);
        } else {
            log_info("broker", "TLS reloaded listener=%s", b->kafka_listeners.bind[i].name);
        }
    }
    if (b->tls == NULL) {
        return;
    }
    if (tls_context_reload(b->tls, err, sizeof err) != 0) {
        log_error("broker", "TLS reload failed, keeping the previous certificates: %s", err);
        return;
    }
    log_info("broker", "TLS key, certificates and trust store reloaded");
}

static const MetadataImage *link_image(void *data)
{
    return controller_link_image(data);
}

/* What each metadata fetch changed: the view applies only that. */
static struct image_changes *link_changes(void *data)
{
    return broker_session_changes(&((struct controller_link *)data)->session);
}

static const TopicState *link_find_topic_id(void *data, ProtobufCBinaryData id)
{
    return fsm_find_topic_id(&((struct controller_link *)data)->session.metadata, id);
}

/* Whether the local image holds this broker's own registration, at the epoch
 * this incarnation registered with, unfenced: the controller unfences a
 * broker only once it has caught up, and seeing that record here means this
 * broker has replayed the metadata at least that far. (An older
 * registration shown as alive after a restart does not count.) */
static bool link_caught_up_and_unfenced(const struct controller_link *link)
{
    const struct broker_session *s = &link->session;
    const MetadataImage *image = broker_session_image(s);
    if (!broker_session_registered(s) || image == NULL) {
        return false;
    }
    for (size_t i = 0; i < image->n_brokers; i++) {
        const BrokerState *state = image->brokers[i];
        if (state->broker_id == s->broker_id && state->broker_epoch == s->broker_epoch) {
            return !state->fenced;
        }
    }
    return false;
}

bool broker_caught_up_and_unfenced(const struct broker *b)
{
    return b->started >= STARTED_METADATA && link_caught_up_and_unfenced(&b->link);
}

/* As Kafka's broker does, clients are served only once this broker is
 * registered, caught up with the cluster metadata and unfenced: before that
 * its view is empty or stale and it would call existing topics unknown. */
static void accept_when_caught_up(struct broker *b)
{
    if (b->accepting || b->started != STARTED_REPLICAS || !link_caught_up_and_unfenced(&b->link)) {
        return;
    }
    char err[256];
    int rv = kafka_server_listen(&b->server, err, sizeof err);
    if (rv != 0) {
        log_error("broker", "cannot accept Kafka clients: %s", err);
        return;
    }
    b->accepting = true;
    log_info("broker", "accepting Kafka clients: caught up with the cluster metadata");
    /* Only now is the metadata current enough to tell a stray replica (moved
     * away or deleted while this broker was down) from an assigned one. */
    replica_manager_delete_strays(&b->replicas);
}

/* Before this broker acts on the first image (opens, deletes or serves
 * partitions), its data must belong to the image's cluster. */
static void check_cluster_identity(struct broker *b, const MetadataImage *img)
{
    if (img == NULL || img->cluster_id == NULL || img->cluster_id[0] == '\0') {
        return;
    }
    char err[768];
    int rv = data_dirs_claim_cluster(b->dirs, img->cluster_id, err, sizeof err);
    if (rv == -EINVAL) {
        log_error("broker", "stopping: %s", err);
        exit(1);
    }
    if (rv != 0) {
        log_error("broker", "stopping: cannot record the cluster id: %s", err);
        exit(1);
    }
}

static void on_link_metadata(struct controller_link *link)
{
    struct broker *b = link->data;
    check_cluster_identity(b, controller_link_image(link));
    metadata_quorum_refresh(b->metadata);
    accept_when_caught_up(b);
}

/* The view fed by the controller quorum (a single node is a one-voter quorum). */
static int open_metadata(struct broker *b, char *err, size_t errlen)
{
    int rv = controller_link_start(&b->link, b->loop, b->cfg, &b->listeners, b->dirs->cluster_id,
                                   NULL, err, errlen);
    if (rv != 0) {
        return rv;
    }
    b->link.data = b;
    struct metadata_quorum_source src = {&b->link, link_image, &b->link.session.client,
                                         link_changes, link_find_topic_id};
    rv = metadata_quorum_open(&b->metadata, b->loop, b->cfg, &src, err, errlen);
    if (rv != 0) {
        controller_link_stop(&b->link, NULL);
        return rv;
    }
    b->link.on_metadata = on_link_metadata;
    return 0;
}

/* Bind first so ephemeral ports (port 0) are known before the metadata view
 * copies the advertised endpoints; the listeners accept only once this broker
 * is caught up and unfenced (on_link_metadata). */
int broker_start(struct broker *b, uv_loop_t *loop, const struct sluice_config *cfg,
                 struct data_dirs *dirs, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    b->loop = loop;
    b->dirs = dirs;
    b->cfg = cfg;
    int rv = listener_set_parse(cfg, &b->listeners, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = kafka_authorizer_new(cfg, &b->authorizer, err, errlen);
    if (rv != 0) {
        return rv;
    }
    struct kafka_conn_options opts;
    conn_options(cfg, &opts);
    opts.response_stale = link_response_stale;
    opts.response_stale_data = &b->link;
    split_listeners(b);
    rv = open_tls(b, &opts, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = open_listener_tls(b, err, errlen);
    if (rv != 0) {
        close_tls(b);
        return rv;
    }
    rv = kafka_server_bind(&b->server, loop, &b->kafka_listeners, &opts, kafka_dispatch,
                           &b->services, err, errlen);
    for (size_t i = 0; rv == 0 && i < LISTENER_MAX; i++) {
        b->server.listener_tls[i] = b->listener_tls[i];
        b->server.listener_principal_rules[i] = b->listener_principals[i];
    }
    if (rv == 0 && (rv = start_replication_listener(b, err, errlen)) != 0) {
        kafka_server_stop(&b->server);
        if (b->rpc_listening) {
            rpc_server_close(&b->rpc, NULL);
        }
        close_tls(b);
        return rv;
    }
    if (rv != 0) {
        close_tls(b);
        kafka_authorizer_free(b->authorizer);
        b->authorizer = NULL;
        return rv;
    }
    b->started = STARTED_SERVER;
    rv = open_metadata(b, err, errlen);
    if (rv == 0) {
        b->started = STARTED_METADATA;
        rv = replica_manager_start(&b->replicas, loop, cfg, dirs, b->metadata, err, errlen);
    }
    if (rv == 0) {
        struct replica_controller rc = {&b->link,      link_broker_epoch,   link_alter_partition,
                                        link_may_lead, link_report_offline, link_all_dirs_offline};
        replica_manager_set_controller(&b->replicas, &rc);
        replica_manager_set_tls(&b->replicas, &b->replication_tls);
        b->link.session.on_isolated = on_isolated;
        b->link.session.ready_to_unfence = ready_to_unfence;
    }
    if (rv != 0) {
        broker_stop(b);
        return rv;
    }
    b->started = STARTED_REPLICAS;
    if (group_coordinator_start(&b->groups, loop, cfg, b->metadata, &b->replicas) != 0) {
        snprintf(err, errlen, "out of memory starting the group coordinator");
        broker_stop(b);
        return -ENOMEM;
    }
    if (txn_coordinator_start(&b->txns, loop, cfg, b->metadata, &b->replicas) != 0) {
        snprintf(err, errlen, "out of memory starting the transaction coordinator");
        broker_stop(b);
        return -ENOMEM;
    }
    struct fetch_session_cache *sessions =
        fetch_session_cache_new(cfg->max_incremental_fetch_session_cache_slots);
    if (sessions == NULL) {
        snprintf(err, errlen, "out of memory for the fetch session cache");
        broker_stop(b);
        return -ENOMEM;
    }
    b->services =
        (struct kafka_services){loop,     cfg,          b->metadata,   &b->replicas, b->groups,
                                sessions, &b->requests, b->authorizer, b->txns};
    return 0;
}

static void on_link_stopped(struct controller_link *link)
{
    struct broker *b = link->data;
    void (*cb)(struct broker * b) = b->stopped_cb;
    b->stopped_cb = NULL;
    if (cb != NULL) {
        cb(b);
    }
}

static void on_logs_flushed(void *arg)
{
    broker_stop(arg);
}

void broker_stop_then(struct broker *b, void (*cb)(struct broker *b))
{
    if (b->started < STARTED_METADATA) { /* no controller session to end */
        broker_stop(b);
        cb(b);
        return;
    }
    b->stopped_cb = cb;
    if (b->started < STARTED_REPLICAS ||
        log_manager_flush_all(&b->replicas.logs, on_logs_flushed, b) != 0) {
        broker_stop(b);
    }
}

void broker_stop(struct broker *b)
{
    if (b->started >= STARTED_SERVER) {
        kafka_server_stop(&b->server);
        if (b->rpc_listening) {
            rpc_server_close(&b->rpc, NULL);
            b->rpc_listening = false;
        }
    }
    if (b->started >= STARTED_REPLICAS) {
        replica_manager_stop(&b->replicas); /* answers parked group requests too */
        group_coordinator_stop(b->groups);
        b->groups = NULL;
        txn_coordinator_stop(b->txns);
        b->txns = NULL;
        fetch_session_cache_free(b->services.fetch_sessions);
        b->services.fetch_sessions = NULL;
    }
    if (b->started >= STARTED_METADATA) {
        b->link.on_metadata = NULL;
        metadata_view_close(b->metadata);
        b->metadata = NULL;
        controller_link_stop(&b->link, on_link_stopped);
    }
    b->started = STARTED_NOTHING;
    close_tls(b); /* connections still closing hold their own sessions */
    b->services.authorizer = NULL;
    kafka_authorizer_free(b->authorizer);
    b->authorizer = NULL;
}
