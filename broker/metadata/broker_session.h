/* The broker's side of KIP-631's broker lifecycle, over controller_client:
 *
 *   - register with a fresh incarnation id and get a broker epoch;
 *   - heartbeat every broker.heartbeat.interval.ms with the metadata offset
 *     applied so far (the controller unfences the broker once it has caught
 *     up), re-registering if the controller no longer knows the epoch;
 *   - pull the metadata stream: deltas after the local offset, or the whole
 *     image when too far behind, replayed into a local copy of the image
 *     with the controller's own FSM code so every broker converges on the
 *     same view; `on_metadata` fires after each change;
 *   - on stop, a controlled shutdown first moves leadership elsewhere.
 *
 * The broker never includes controller/: it speaks the RPC messages in
 * proto/ through metadata/controller_client and replays with metadata/fsm.
 *
 * Loop thread only; the struct is caller-owned until the stop callback. */
#ifndef SLUICE_BROKER_METADATA_BROKER_SESSION_H
#define SLUICE_BROKER_METADATA_BROKER_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "metadata/controller_client.h"
#include "metadata/fsm.h"

#define BROKER_SESSION_MAX_ENDPOINTS 16

struct broker_endpoint {
    const char *name; /* listener name */
    const char *host;
    uint16_t port;
    const char *security_protocol;
};

struct broker_session_options {
    int32_t broker_id;
    const char *rack;       /* NULL: none */
    const char *cluster_id; /* the data's cluster (sent when registering); NULL or "": unknown */
    const struct broker_endpoint *endpoints;
    size_t n_endpoints;
    uint64_t heartbeat_interval_ms;
    uint64_t request_timeout_ms;
};

struct broker_session;
typedef void (*broker_session_cb)(struct broker_session *s);

struct broker_session {
    void *data; /* owner's */
    uv_loop_t *loop;
    int32_t broker_id;
    char rack[256];
    char cluster_id[64];
    char incarnation_id[40];
    Endpoint endpoint_msgs[BROKER_SESSION_MAX_ENDPOINTS];
    Endpoint *endpoint_ptrs[BROKER_SESSION_MAX_ENDPOINTS];
    char endpoint_text[BROKER_SESSION_MAX_ENDPOINTS][3][256];
    size_t n_endpoints;
    uint64_t heartbeat_interval_ms, request_timeout_ms;
    struct controller_client client;
    struct fsm metadata; /* the replayed image */
    bool have_image;
    int64_t broker_epoch; /* 0: not registered */
    bool fenced;
    uint64_t last_heartbeat;
    int64_t reported_offset; /* metadata offset sent in the last heartbeat */
    uv_timer_t timer;
    struct controller_request register_req, heartbeat_req, fetch_req, shutdown_req;
    bool register_busy, heartbeat_busy, fetch_busy, shutdown_busy;
    broker_session_cb on_metadata;
    bool stopping;
    broker_session_cb stop_cb;
    unsigned open;
};

/* Start registering and heartbeating with the controllers in `voters`.
 * `options` is copied. `on_metadata` (may be NULL) fires after each change
 * of the local image. Returns 0 or a negative error. */
int broker_session_start(struct broker_session *s, uv_loop_t *loop, const struct voters *voters,
                         const struct broker_session_options *options,
                         broker_session_cb on_metadata);
/* The local image (borrowed; valid until the next loop iteration). */
const MetadataImage *broker_session_image(const struct broker_session *s);
static inline bool broker_session_registered(const struct broker_session *s)
{
    return s->broker_epoch > 0;
}
/* Controlled shutdown (bounded by the request timeout), then close. */
void broker_session_stop(struct broker_session *s, broker_session_cb cb);

#endif
