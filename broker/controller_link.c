#include "broker/controller_link.h"

#include <errno.h>
#include <stdio.h>
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
    link->on_metadata = on_metadata;
    rv = broker_session_start(&link->session, loop, &voters, &o, on_session_metadata);
    if (rv != 0) {
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
    if (link->stop_cb != NULL) {
        link->stop_cb(link);
    }
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
