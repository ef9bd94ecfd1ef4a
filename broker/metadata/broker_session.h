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
 *   - stay fenced (want_fence in the heartbeats) until the owner is ready
 *     to serve what the metadata assigns it, then ask to be unfenced;
 *   - on stop, a controlled shutdown first moves leadership elsewhere;
 *   - for the replica layer: whether this broker may act as a leader now
 *     (isolation, below) and AlterPartition requests for the ISR changes of
 *     partitions it leads, batched (alter_batcher.h: one request in flight,
 *     the changes proposed meanwhile together in the next).
 *
 * Isolation (issue 8, "leadership that cannot split"). The controller
 * fences a broker whose heartbeats stop for broker.session.timeout.ms, and
 * elects other leaders in the same metadata batch. A broker cut off from
 * the controllers (or paused) may not see that batch, so it must stop on
 * its own first: it counts itself isolated once no heartbeat sent less than
 * broker.session.timeout.ms minus a margin ago has been acknowledged. The
 * controller measures the session from when it received the heartbeat,
 * which is no earlier than when it was sent, so the broker stops before the
 * controller can fence it. Each acknowledgement also carries the
 * controller's metadata offset; the broker leads again only once its image
 * has reached it, so an image left stale by a pause cannot make it act as
 * leader of a partition it lost meanwhile.
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

#include "broker/metadata/alter_batcher.h"
#include "metadata/controller_client.h"
#include "metadata/fsm.h"
#include "metadata/image_changes.h"
#include "proto/controller.pb-c.h"

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
    uint64_t session_timeout_ms; /* broker.session.timeout.ms; 0: Kafka's 9000 */
    /* The controller listener's TLS (borrowed; NULL: plaintext): mutual TLS
     * to the controllers, each checked to be the voter reached. */
    const struct internal_tls *tls;
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
    /* What the replay changed since the metadata view last applied it. */
    struct image_changes changes;
    bool have_image;
    int64_t broker_epoch; /* 0: not registered */
    bool fenced;
    uint64_t last_heartbeat;
    uint64_t session_timeout_ms, isolation_margin_ms;
    uint64_t register_sent, heartbeat_sent; /* send times of the requests in flight */
    bool acked;                    /* a registration or heartbeat of this epoch was answered */
    uint64_t last_acked_sent;      /* send time of the newest acknowledged one */
    int64_t acked_offset;          /* controller's metadata offset in that answer */
    bool was_isolated;             /* for on_isolated */
    broker_session_cb on_isolated; /* owner's, may be NULL: fires when isolation begins */
    /* Owner's, may be NULL (ready at once): whether this broker is ready to
     * be unfenced (see broker_session_ready_to_unfence). */
    bool (*ready_to_unfence)(struct broker_session *s);
    bool unfence_ready;      /* latched: ready_to_unfence said yes once */
    int64_t reported_offset; /* metadata offset sent in the last heartbeat */
    uv_timer_t timer;
    struct controller_request register_req, heartbeat_req, fetch_req, shutdown_req;
    bool register_busy, heartbeat_busy, fetch_busy, shutdown_busy;
    broker_session_cb on_metadata;
    bool stopping;
    broker_session_cb stop_cb;
    unsigned open;
    /* Offline replicas, sent in every heartbeat (broker_session_set_offline). */
    Sluice__Controller__OfflineReplica *offline;
    Sluice__Controller__OfflineReplica **offline_ptrs;
    size_t n_offline;
    char **offline_dirs;
    size_t n_offline_dirs;
    bool offline_changed;       /* heartbeat now rather than at the next interval */
    struct alter_batcher alter; /* AlterPartition requests (alter_batcher.h) */
};

/* Fencing at start-up (Kafka's BrokerLifecycleManager.setReadyToUnfence).
 * A registration starts fenced, and the controller unfences the broker once
 * its heartbeats show it caught up with the metadata to its registration.
 * Until s->ready_to_unfence (when set) first returns true, asked at each
 * session tick once the image has reached the registration, the heartbeats
 * carry want_fence, so the controller keeps the broker fenced: it leads
 * nothing and joins no ISR while, say, the partitions the replayed metadata
 * assigns it are still being opened. The answer is latched for the life of
 * the session: a later re-registration or fencing (a lapsed session) is
 * unfenced as soon as it is caught up, and nothing the owner does later
 * (a new topic's opens) fences a running broker. The first yes sends a
 * heartbeat at once. */
bool broker_session_ready_to_unfence(struct broker_session *s);

/* Start registering and heartbeating with the controllers in `voters`.
 * `options` is copied. `on_metadata` (may be NULL) fires after each change
 * of the local image. Returns 0 or a negative error. */
int broker_session_start(struct broker_session *s, uv_loop_t *loop, const struct voters *voters,
                         const struct broker_session_options *options,
                         broker_session_cb on_metadata);
/* The local image (borrowed; valid until the next loop iteration). */
const MetadataImage *broker_session_image(const struct broker_session *s);
/* What the replay changed in the image since its reader last cleared this
 * (image_changes.h): each delta's records, or everything when a whole image
 * was adopted. Borrowed; the metadata view applies and clears it. */
struct image_changes *broker_session_changes(struct broker_session *s);
static inline bool broker_session_registered(const struct broker_session *s)
{
    return s->broker_epoch > 0;
}
/* This registration's broker epoch (0: not registered). Followers send it
 * with their fetches so the leader can name it in AlterPartition (KIP-903). */
static inline int64_t broker_session_epoch(const struct broker_session *s)
{
    return s->broker_epoch;
}
/* Whether the broker is cut off from the controllers at `now_ms` (its
 * loop's uv_now()): not registered, or no registration or heartbeat sent
 * after now - (broker.session.timeout.ms - margin) has been acknowledged.
 * The margin is the heartbeat interval, at most a quarter of the timeout.
 * An isolated broker must not acknowledge writes nor serve as leader: by
 * the time the controller fences it, another replica may lead. */
bool broker_session_is_isolated(const struct broker_session *s, uint64_t now_ms);
/* When the isolation under way at `now_ms` began (the last acknowledged
 * heartbeat's send time plus the session timeout less the margin), or 0 if
 * the broker is not isolated then or has had no heartbeat acknowledged in
 * this registration (it led nothing under it). What the broker said before
 * that instant about partitions it led may be stale after it. */
uint64_t broker_session_isolated_since(const struct broker_session *s, uint64_t now_ms);
/* Whether the broker may act as a partition leader at `now_ms`: not
 * isolated, its image has reached the metadata offset of the last
 * acknowledgement, and that image shows its own registration (this epoch)
 * unfenced. Then the image's leaderships for this broker are current; the
 * replica layer checks this before acknowledging a write (acks=1 or all)
 * and before serving produce, and steps down while it is false.
 * `on_isolated` fires (from the session's timer, at most 200 ms late) when
 * isolation begins, so parked requests can be failed at once. */
bool broker_session_may_lead(const struct broker_session *s, uint64_t now_ms);
/* Ask the controller to set the ISR of a partition this broker leads
 * (KIP-497): compare-and-set on `partition_epoch`, at `leader_epoch`, as
 * the image showed them. `isr` must include this broker; every member
 * joining the ISR needs the broker epoch it fetched with. Sent with this
 * session's broker epoch and retried at the active controller until the
 * request timeout. Returns 0 (`cb` will fire exactly once), -EAGAIN (not
 * registered), -ECANCELED (stopping) or -ENOMEM. Until the answer, the
 * leader computes its high watermark over both ISRs (KIP-497). Proposals
 * made while a request is in flight go together in the next one
 * (alter_batcher.h, which also describes the callback). */
int broker_session_alter_partition(struct broker_session *s, struct broker_alter_partition *op,
                                   ProtobufCBinaryData topic_id, int32_t partition,
                                   int32_t leader_epoch, int32_t partition_epoch,
                                   const struct broker_isr_member *isr, size_t n_isr,
                                   broker_alter_partition_cb cb);
/* The replicas this broker cannot serve (`n` topic ids and partitions: their
 * log directory failed, or they could not be opened) and the offline log
 * directories' paths. Copied; replaces the previous set. Sent in the next
 * heartbeat (at once) and every one after, so the controller moves their
 * leadership and ISR membership off this broker (Kafka's BrokerHeartbeat
 * offline_log_dirs). Returns 0 or -ENOMEM (the previous set stays). */
int broker_session_set_offline(struct broker_session *s, const uint8_t (*topic_ids)[16],
                               const int32_t *partitions, size_t n, const char *const *dirs,
                               size_t n_dirs);
/* Controlled shutdown (bounded by the request timeout), then close. */
void broker_session_stop(struct broker_session *s, broker_session_cb cb);

#endif
