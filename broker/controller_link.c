#include "broker/controller_link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "metadata/voters.h"

/* Controlled shutdown must not hold a stopping process for long when the
 * controllers are going away too. */
#define SHUTDOWN_TIMEOUT_MS 2000

static void on_session_metadata(struct broker_session *s)
{
    struct controller_link *link = s->data;
    if (link->on_metadata != NULL) {
        link->on_metadata(link);
    }
}

const MetadataImage *controller_link_image(const struct controller_link *link)
{
    return link->session.have_image ? broker_session_image(&link->session) : NULL;
}

int controller_link_start(struct controller_link *link, uv_loop_t *loop,
                          const struct sluice_config *cfg, const struct listener_set *listeners,
                          const char *cluster_id, void (*on_metadata)(struct controller_link *link),
                          char *err, size_t errlen)
{
    memset(link, 0, sizeof *link);
    struct voters voters;
    int rv = voters_parse(cfg->controller_quorum_voters, &voters, err, errlen);
    if (rv != 0) {
        return rv;
    }
    struct broker_endpoint eps[LISTENER_MAX];
    size_t n = 0;
    for (size_t i = 0; i < listeners->n_advertised && n < LISTENER_MAX; i++) {
        const struct listener_endpoint *l = &listeners->advertised[i];
        eps[n++] = (struct broker_endpoint){l->name, l->host, l->port,
                                            security_protocol_name(l->protocol)};
    }
    struct broker_session_options o = {
        .broker_id = cfg->node_id,
        .rack = NULL,
        .cluster_id = cluster_id,
        .endpoints = eps,
        .n_endpoints = n,
        .heartbeat_interval_ms = (uint64_t)cfg->broker_heartbeat_interval_ms,
        .session_timeout_ms = (uint64_t)cfg->broker_session_timeout_ms,
        .request_timeout_ms = (uint64_t)cfg->request_timeout_ms < SHUTDOWN_TIMEOUT_MS
                                  ? (uint64_t)cfg->request_timeout_ms
                                  : SHUTDOWN_TIMEOUT_MS,
    };
    char listener[64];
    internal_tls_controller_listener(cfg, listener, sizeof listener);
    rv = internal_tls_open(&link->tls, cfg, listener, err, errlen);
    if (rv != 0) {
        return rv;
    }
    o.tls = &link->tls;
    link->on_metadata = on_metadata;
    rv = broker_session_start(&link->session, loop, &voters, &o, on_session_metadata);
    if (rv != 0) {
        internal_tls_close(&link->tls);
        snprintf(err, errlen, "cannot start the controller session: %s", strerror(-rv));
        return rv;
    }
    link->session.data = link;
    link->running = true;
    log_info("broker", "registering with the controller quorum voters=%s",
             cfg->controller_quorum_voters);
    return 0;
}

static void on_session_stopped(struct broker_session *s)
{
    struct controller_link *link = s->data;
    link->running = false;
    internal_tls_close(&link->tls); /* no more connections to the controllers */
    if (link->stop_cb != NULL) {
        link->stop_cb(link);
    }
}

int controller_link_reload_tls(struct controller_link *link, char *err, size_t errlen)
{
    return link->running ? internal_tls_reload(&link->tls, err, errlen) : 0;
}

void controller_link_stop(struct controller_link *link, void (*cb)(struct controller_link *link))
{
    if (!link->running) {
        if (cb != NULL) {
            cb(link);
        }
        return;
    }
    link->stop_cb = cb;
    broker_session_stop(&link->session, on_session_stopped);
}

int64_t controller_link_broker_epoch(const struct controller_link *link)
{
    return link->running ? link->session.broker_epoch : 0;
}

int32_t controller_link_alter_error(int status, int32_t error_code, bool with_state)
{
    /* Only a proposal that was never sent is known not to have committed;
     * any other failure (a timeout, a lost connection, a stop) may come
     * after the controller applied it. */
    if (status == -ESTALE) {
        return CONTROLLER_LINK_ALTER_NOT_SENT;
    }
    if (status != 0 || (error_code == 0 && !with_state)) {
        return CONTROLLER_LINK_ALTER_UNKNOWN; /* (NONE without a state: not a controller's) */
    }
    return error_code;
}

/* One AlterPartition in flight (malloc'd until its answer). */
struct alter_op {
    struct broker_alter_partition op;
    link_alter_cb cb;
    void *arg;
};

static void on_alter(struct broker_alter_partition *bop, int status, int32_t error_code,
                     const PartitionState *committed)
{
    struct alter_op *op = bop->data;
    int32_t error = controller_link_alter_error(status, error_code, committed != NULL);
    if (status == 0 && committed != NULL) {
        /* On INVALID_UPDATE_VERSION or INELIGIBLE_REPLICA too: the leader
         * adopts it when the leader epoch is still its own. */
        op->cb(op->arg, error, committed->leader, committed->leader_epoch,
               committed->partition_epoch, committed->isr, (int32_t)committed->n_isr);
    } else {
        op->cb(op->arg, error, -1, -1, -1, NULL, 0);
    }
    free(op);
}

int controller_link_alter_partition(struct controller_link *link, const uint8_t topic_id[16],
                                    int32_t index, int32_t leader_epoch, int32_t partition_epoch,
                                    const int32_t *isr, const int64_t *broker_epochs, int32_t n_isr,
                                    link_alter_cb cb, void *arg)
{
    if (!link->running || n_isr < 0 || n_isr > 64) {
        return -ECANCELED;
    }
    struct broker_isr_member members[64];
    for (int32_t i = 0; i < n_isr; i++) {
        members[i] = (struct broker_isr_member){isr[i], broker_epochs[i]};
    }
    struct alter_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return -ENOMEM;
    }
    op->cb = cb;
    op->arg = arg;
    op->op.data = op;
    int rv = broker_session_alter_partition(
        &link->session, &op->op, (ProtobufCBinaryData){16, (uint8_t *)topic_id}, index,
        leader_epoch, partition_epoch, members, (size_t)n_isr, on_alter);
    if (rv != 0) {
        free(op);
    }
    return rv;
}

bool controller_link_may_lead(const struct controller_link *link, uint64_t now_ms)
{
    return !link->running || broker_session_may_lead(&link->session, now_ms);
}

bool controller_link_response_stale(const struct controller_link *link, uint64_t built_ms,
                                    uint64_t now_ms)
{
    if (!link->running) {
        return false;
    }
    uint64_t since = broker_session_isolated_since(&link->session, now_ms);
    return since != 0 && built_ms < since;
}
