/* The broker role; see broker.h. */
#include "broker/broker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata/metadata_quorum.h"
#include "common/log.h"

/* Kafka's defaults: connections.max.idle.ms = 10 minutes. In-flight and
 * pending-byte limits bound what one client can make the broker buffer. */
#define IDLE_TIMEOUT_MS   600000
#define MAX_IN_FLIGHT     64
#define MAX_PENDING_BYTES (64u << 20)

enum { STARTED_NOTHING, STARTED_SERVER, STARTED_METADATA, STARTED_REPLICAS };

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
}

static const MetadataImage *link_image(void *data)
{
    return controller_link_image(data);
}

/* Whether the local image holds this broker's own registration, at the epoch
 * this incarnation registered with, unfenced: the controller unfences a
 * broker only once it has caught up, and seeing that record here means this
 * broker has replayed the metadata at least that far. (An older
 * registration shown as alive after a restart does not count.) */
static bool caught_up_and_unfenced(const struct controller_link *link)
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

/* As Kafka's broker does, clients are served only once this broker is
 * registered, caught up with the cluster metadata and unfenced: before that
 * its view is empty or stale and it would call existing topics unknown. */
static void accept_when_caught_up(struct broker *b)
{
    if (b->accepting || b->started != STARTED_REPLICAS || !caught_up_and_unfenced(&b->link)) {
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
    struct metadata_quorum_source src = {&b->link, link_image, &b->link.session.client};
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
    struct kafka_conn_options opts;
    conn_options(cfg, &opts);
    rv = kafka_server_bind(&b->server, loop, &b->listeners, &opts, kafka_dispatch, &b->services,
                           err, errlen);
    if (rv != 0) {
        return rv;
    }
    b->started = STARTED_SERVER;
    rv = open_metadata(b, err, errlen);
    if (rv == 0) {
        b->started = STARTED_METADATA;
        rv = replica_manager_start(&b->replicas, loop, cfg, dirs, b->metadata, err, errlen);
    }
    if (rv != 0) {
        broker_stop(b);
        return rv;
    }
    b->started = STARTED_REPLICAS;
    b->services = (struct kafka_services){loop, cfg, b->metadata, &b->replicas, false};
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

void broker_stop_then(struct broker *b, void (*cb)(struct broker *b))
{
    if (b->started < STARTED_METADATA) { /* no controller session to end */
        broker_stop(b);
        cb(b);
        return;
    }
    b->stopped_cb = cb;
    broker_stop(b);
}

void broker_stop(struct broker *b)
{
    if (b->started >= STARTED_SERVER) {
        kafka_server_stop(&b->server);
    }
    if (b->started >= STARTED_REPLICAS) {
        replica_manager_stop(&b->replicas);
    }
    if (b->started >= STARTED_METADATA) {
        b->link.on_metadata = NULL;
        metadata_view_close(b->metadata);
        b->metadata = NULL;
        controller_link_stop(&b->link, on_link_stopped);
    }
    b->started = STARTED_NOTHING;
}
