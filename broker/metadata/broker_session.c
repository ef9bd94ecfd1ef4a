#include "broker/metadata/broker_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "proto/kafka/kafka_errors.h"
#include "proto/controller.pb-c.h"

#define M(name)                 SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_##name
#define FETCH_INTERVAL_MAX      200 /* ms between metadata fetches at most */
#define DELTAS_PER_FETCH        500
#define SESSION_KEEP_DELTAS     16
#define SESSION_TIMEOUT_DEFAULT 9000 /* Kafka's broker.session.timeout.ms */

static void tick(uv_timer_t *timer);

/* ---- registration ---- */

static void on_registered(struct controller_request *req, int status, const ProtobufCMessage *m)
{
    struct broker_session *s = req->data;
    s->register_busy = false;
    const Sluice__Controller__RegisterBrokerResponse *resp =
        (const Sluice__Controller__RegisterBrokerResponse *)m;
    if (status == 0 && resp->error_code == KAFKA_ERROR_INCONSISTENT_CLUSTER_ID) {
        /* Retrying cannot help. The metadata stream still runs, so the
         * owner sees the image's cluster id, checks it against its data
         * and stops. */
        log_error("broker-session",
                  "registration refused broker.id=%d: this broker's data is from cluster.id=%s, "
                  "not this quorum's",
                  s->broker_id, s->cluster_id);
        return;
    }
    if (status != 0 || resp->error_code != KAFKA_ERROR_NONE) {
        log_warn("broker-session", "registration failed broker.id=%d status=%d error=%d",
                 s->broker_id, status, status == 0 ? resp->error_code : 0);
        return; /* the next tick retries */
    }
    s->broker_epoch = resp->broker_epoch;
    s->fenced = true;
    s->reported_offset = -1;
    s->last_heartbeat = 0;
    /* The registration record is at offset broker_epoch: the image must
     * reach it before this incarnation leads anything. */
    s->acked = true;
    s->last_acked_sent = s->register_sent;
    s->acked_offset = resp->broker_epoch;
    log_info("broker-session", "registered broker.id=%d epoch=%lld cluster.id=%s", s->broker_id,
             (long long)s->broker_epoch, resp->cluster_id);
}

static void send_register(struct broker_session *s)
{
    Sluice__Controller__RegisterBrokerRequest req =
        SLUICE__CONTROLLER__REGISTER_BROKER_REQUEST__INIT;
    req.version = 1;
    req.broker_id = s->broker_id;
    req.incarnation_id = s->incarnation_id;
    req.rack = s->rack;
    req.cluster_id = s->cluster_id;
    req.endpoints = s->endpoint_ptrs;
    req.n_endpoints = s->n_endpoints;
    s->register_req.data = s;
    if (controller_client_call(&s->client, &s->register_req, M(REGISTER_BROKER), &req.base,
                               &sluice__controller__register_broker_response__descriptor,
                               s->request_timeout_ms, on_registered) == 0) {
        s->register_busy = true;
        s->register_sent = uv_now(s->loop);
    }
}

/* ---- heartbeats ---- */

static void on_heartbeat(struct controller_request *req, int status, const ProtobufCMessage *m)
{
    struct broker_session *s = req->data;
    s->heartbeat_busy = false;
    const Sluice__Controller__BrokerHeartbeatResponse *resp =
        (const Sluice__Controller__BrokerHeartbeatResponse *)m;
    if (status != 0) {
        return;
    }
    if (resp->error_code == KAFKA_ERROR_STALE_BROKER_EPOCH ||
        resp->error_code == KAFKA_ERROR_BROKER_ID_NOT_REGISTERED) {
        log_warn("broker-session", "controller lost our registration broker.id=%d error=%d",
                 s->broker_id, resp->error_code);
        s->broker_epoch = 0; /* register again */
        s->acked = false;
        return;
    }
    if (resp->error_code == KAFKA_ERROR_NONE && s->acked) {
        s->last_acked_sent = s->heartbeat_sent;
        if (resp->metadata_offset > s->acked_offset) {
            s->acked_offset = resp->metadata_offset;
        }
    }
    if (resp->error_code == KAFKA_ERROR_NONE && s->fenced != resp->is_fenced) {
        log_info("broker-session", "broker %s broker.id=%d",
                 resp->is_fenced ? "fenced" : "unfenced", s->broker_id);
        s->fenced = resp->is_fenced;
    }
}

/* The image has reached this registration's record (its offset is the
 * broker epoch), so it holds every topic created before the broker joined. */
static bool caught_up_to_registration(const struct broker_session *s)
{
    return s->broker_epoch > 0 && s->have_image && fsm_offset(&s->metadata) >= s->broker_epoch;
}

bool broker_session_ready_to_unfence(struct broker_session *s)
{
    if (s->unfence_ready || !caught_up_to_registration(s)) {
        return s->unfence_ready;
    }
    if (s->ready_to_unfence != NULL && !s->ready_to_unfence(s)) {
        return false;
    }
    s->unfence_ready = true;
    log_info("broker-session", "ready to be unfenced broker.id=%d epoch=%lld metadata_offset=%lld",
             s->broker_id, (long long)s->broker_epoch, (long long)fsm_offset(&s->metadata));
    return true;
}

static void send_heartbeat(struct broker_session *s)
{
    Sluice__Controller__BrokerHeartbeatRequest req =
        SLUICE__CONTROLLER__BROKER_HEARTBEAT_REQUEST__INIT;
    req.version = 1;
    req.broker_id = s->broker_id;
    req.broker_epoch = s->broker_epoch;
    req.metadata_offset = s->have_image ? fsm_offset(&s->metadata) : -1;
    /* Only ever true before the first unfencing, when the registration is
     * fenced anyway: the controller fences an unfenced broker that asks. */
    req.want_fence = !broker_session_ready_to_unfence(s);
    req.n_offline_replicas = s->n_offline;
    req.offline_replicas = s->offline_ptrs;
    req.n_offline_log_dirs = s->n_offline_dirs;
    req.offline_log_dirs = s->offline_dirs;
    s->offline_changed = false;
    s->reported_offset = req.metadata_offset;
    s->heartbeat_req.data = s;
    if (controller_client_call(&s->client, &s->heartbeat_req, M(BROKER_HEARTBEAT), &req.base,
                               &sluice__controller__broker_heartbeat_response__descriptor,
                               s->request_timeout_ms, on_heartbeat) == 0) {
        s->heartbeat_busy = true;
        s->last_heartbeat = uv_now(s->loop);
        s->heartbeat_sent = s->last_heartbeat;
    }
}

/* ---- metadata stream ---- */

/* Replay deltas in order; a gap means we missed some: fetch the image. */
static int apply_deltas(struct broker_session *s,
                        const Sluice__Controller__FetchMetadataResponse *resp)
{
    for (size_t i = 0; i < resp->n_deltas; i++) {
        const Sluice__Metadata__MetadataDelta *d = resp->deltas[i];
        if (d->offset != fsm_offset(&s->metadata) + 1 || d->batch == NULL) {
            return -ERANGE;
        }
        void *bytes;
        size_t len;
        const struct fsm_result *res;
        if (fsm_batch_pack(d->batch, malloc, &bytes, &len) != 0) {
            return -ENOMEM;
        }
        int rv = fsm_apply(&s->metadata, bytes, len, &res);
        free(bytes);
        if (rv != 0) {
            return rv;
        }
        image_changes_note_batch(&s->changes, d->batch);
    }
    return 0;
}

static void on_fetched(struct controller_request *req, int status, const ProtobufCMessage *m)
{
    struct broker_session *s = req->data;
    s->fetch_busy = false;
    const Sluice__Controller__FetchMetadataResponse *resp =
        (const Sluice__Controller__FetchMetadataResponse *)m;
    if (status != 0 || resp->error_code != KAFKA_ERROR_NONE) {
        return;
    }
    int64_t before = fsm_offset(&s->metadata);
    if (resp->image != NULL) {
        MetadataImage *copy = image_clone(resp->image);
        if (copy == NULL) {
            return;
        }
        fsm_replace_image(&s->metadata, copy);
        image_changes_note_everything(&s->changes);
        s->have_image = true;
    } else if (apply_deltas(s, resp) != 0) {
        s->have_image = false; /* refetch everything */
        return;
    }
    if (fsm_offset(&s->metadata) != before && s->on_metadata != NULL) {
        s->on_metadata(s);
    }
}

static void send_fetch(struct broker_session *s)
{
    Sluice__Controller__FetchMetadataRequest req = SLUICE__CONTROLLER__FETCH_METADATA_REQUEST__INIT;
    req.version = 1;
    req.broker_id = s->broker_id;
    req.after_offset = s->have_image ? fsm_offset(&s->metadata) : -1;
    req.max_deltas = DELTAS_PER_FETCH;
    s->fetch_req.data = s;
    if (controller_client_call(&s->client, &s->fetch_req, M(FETCH_METADATA), &req.base,
                               &sluice__controller__fetch_metadata_response__descriptor,
                               s->request_timeout_ms, on_fetched) == 0) {
        s->fetch_busy = true;
    }
}

/* Fenced, and the local image now includes our registration, or the owner
 * just became ready: say so without waiting a whole heartbeat interval, to
 * be unfenced sooner. */
static bool just_caught_up(struct broker_session *s)
{
    if (!s->fenced || !caught_up_to_registration(s)) {
        return false;
    }
    bool was_ready = s->unfence_ready;
    return s->reported_offset < s->broker_epoch ||
           (!was_ready && broker_session_ready_to_unfence(s));
}

/* ---- isolation ---- */

bool broker_session_is_isolated(const struct broker_session *s, uint64_t now_ms)
{
    if (s->broker_epoch == 0 || !s->acked) {
        return true;
    }
    uint64_t limit = s->session_timeout_ms - s->isolation_margin_ms;
    return now_ms < s->last_acked_sent || now_ms - s->last_acked_sent >= limit;
}

uint64_t broker_session_isolated_since(const struct broker_session *s, uint64_t now_ms)
{
    if (s->broker_epoch == 0 || !s->acked || now_ms < s->last_acked_sent) {
        return 0;
    }
    uint64_t since = s->last_acked_sent + (s->session_timeout_ms - s->isolation_margin_ms);
    return now_ms >= since ? since : 0;
}

bool broker_session_may_lead(const struct broker_session *s, uint64_t now_ms)
{
    if (broker_session_is_isolated(s, now_ms) || !s->have_image ||
        fsm_offset(&s->metadata) < s->acked_offset) {
        return false;
    }
    const BrokerState *b = image_find_broker(s->metadata.image, s->broker_id);
    return b != NULL && b->broker_epoch == s->broker_epoch && !b->fenced;
}

/* Tell the owner once when isolation begins. */
static void check_isolation(struct broker_session *s)
{
    bool isolated = broker_session_is_isolated(s, uv_now(s->loop));
    if (isolated && !s->was_isolated && s->acked) {
        log_warn("broker-session",
                 "isolated: no heartbeat acknowledged within the session timeout broker.id=%d "
                 "epoch=%lld",
                 s->broker_id, (long long)s->broker_epoch);
        if (s->on_isolated != NULL) {
            s->on_isolated(s);
        }
    }
    s->was_isolated = isolated;
}

/* ---- AlterPartition ---- */

int broker_session_alter_partition(struct broker_session *s, struct broker_alter_partition *op,
                                   ProtobufCBinaryData topic_id, int32_t partition,
                                   int32_t leader_epoch, int32_t partition_epoch,
                                   const struct broker_isr_member *isr, size_t n_isr,
                                   broker_alter_partition_cb cb)
{
    if (s->stopping) {
        return -ECANCELED;
    }
    if (topic_id.len != 16) {
        return -EINVAL;
    }
    return alter_batcher_submit(&s->alter, op, topic_id.data, partition, leader_epoch,
                                partition_epoch, isr, n_isr, cb);
}

/* ---- the timer ---- */

static void tick(uv_timer_t *timer)
{
    struct broker_session *s = timer->data;
    if (s->stopping) {
        return;
    }
    check_isolation(s);
    if (s->broker_epoch == 0) {
        if (!s->register_busy) {
            send_register(s);
        }
    } else if (!s->heartbeat_busy &&
               (uv_now(s->loop) - s->last_heartbeat >= s->heartbeat_interval_ms ||
                just_caught_up(s) || s->offline_changed)) {
        send_heartbeat(s);
    }
    if (!s->fetch_busy) {
        send_fetch(s);
    }
}

/* ---- start and stop ---- */

static void copy_endpoints(struct broker_session *s, const struct broker_session_options *o)
{
    s->n_endpoints = o->n_endpoints < BROKER_SESSION_MAX_ENDPOINTS ? o->n_endpoints
                                                                   : BROKER_SESSION_MAX_ENDPOINTS;
    for (size_t i = 0; i < s->n_endpoints; i++) {
        Endpoint *e = &s->endpoint_msgs[i];
        sluice__metadata__endpoint__init(e);
        snprintf(s->endpoint_text[i][0], 256, "%s", o->endpoints[i].name);
        snprintf(s->endpoint_text[i][1], 256, "%s", o->endpoints[i].host);
        snprintf(s->endpoint_text[i][2], 256, "%s",
                 o->endpoints[i].security_protocol ? o->endpoints[i].security_protocol
                                                   : "PLAINTEXT");
        e->name = s->endpoint_text[i][0];
        e->host = s->endpoint_text[i][1];
        e->security_protocol = s->endpoint_text[i][2];
        e->port = o->endpoints[i].port;
        s->endpoint_ptrs[i] = e;
    }
}

int broker_session_start(struct broker_session *s, uv_loop_t *loop, const struct voters *voters,
                         const struct broker_session_options *o, broker_session_cb on_metadata)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->broker_id = o->broker_id;
    snprintf(s->rack, sizeof s->rack, "%s", o->rack != NULL ? o->rack : "");
    snprintf(s->cluster_id, sizeof s->cluster_id, "%s", o->cluster_id != NULL ? o->cluster_id : "");
    s->heartbeat_interval_ms = o->heartbeat_interval_ms;
    s->request_timeout_ms = o->request_timeout_ms;
    s->on_metadata = on_metadata;
    s->session_timeout_ms = o->session_timeout_ms ? o->session_timeout_ms : SESSION_TIMEOUT_DEFAULT;
    /* Stop a heartbeat interval early (at most a quarter of the timeout):
     * the controller fences on its own duty timer, never early. */
    s->isolation_margin_ms = o->heartbeat_interval_ms < s->session_timeout_ms / 4
                                 ? o->heartbeat_interval_ms
                                 : s->session_timeout_ms / 4;
    s->was_isolated = true;
    copy_endpoints(s, o);
    /* A new incarnation per process start tells the controller this is a
     * restart, not a retried registration. */
    uint8_t raw[16];
    uv_random(NULL, NULL, raw, sizeof raw, 0, NULL);
    image_topic_id_format((ProtobufCBinaryData){sizeof raw, raw}, s->incarnation_id);
    int rv = fsm_init(&s->metadata, SESSION_KEEP_DELTAS);
    if (rv != 0) {
        return rv;
    }
    image_changes_init(&s->changes);
    rv = controller_client_init_tls(&s->client, loop, voters, o->tls);
    if (rv != 0) {
        fsm_close(&s->metadata);
        return rv;
    }
    alter_batcher_init(&s->alter, &s->client, loop, s->broker_id, &s->broker_epoch,
                       s->request_timeout_ms);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uint64_t every = o->heartbeat_interval_ms < FETCH_INTERVAL_MAX ? o->heartbeat_interval_ms
                                                                   : FETCH_INTERVAL_MAX;
    uv_timer_start(&s->timer, tick, 0, every ? every : 1);
    s->open = 2;
    return 0;
}

const MetadataImage *broker_session_image(const struct broker_session *s)
{
    return s->metadata.image;
}

struct image_changes *broker_session_changes(struct broker_session *s)
{
    return &s->changes;
}

static void offline_free(Sluice__Controller__OfflineReplica *refs,
                         Sluice__Controller__OfflineReplica **ptrs, char **dirs, size_t n_dirs)
{
    for (size_t i = 0; dirs != NULL && i < n_dirs; i++) {
        free(dirs[i]);
    }
    free(dirs);
    free(refs);
    free(ptrs);
}

int broker_session_set_offline(struct broker_session *s, const uint8_t (*topic_ids)[16],
                               const int32_t *partitions, size_t n, const char *const *dirs,
                               size_t n_dirs)
{
    /* Each reference points into `ids`, kept right after the messages. */
    size_t refs_size = n * sizeof(Sluice__Controller__OfflineReplica);
    uint8_t *block = malloc(refs_size + n * 16 + 1);
    Sluice__Controller__OfflineReplica **ptrs = calloc(n + 1, sizeof *ptrs);
    char **dir_copies = calloc(n_dirs + 1, sizeof *dir_copies);
    bool ok = block != NULL && ptrs != NULL && dir_copies != NULL;
    for (size_t i = 0; ok && i < n_dirs; i++) {
        ok = (dir_copies[i] = strdup(dirs[i])) != NULL;
    }
    if (!ok) {
        offline_free((Sluice__Controller__OfflineReplica *)block, ptrs, dir_copies, n_dirs);
        return -ENOMEM;
    }
    Sluice__Controller__OfflineReplica *refs = (Sluice__Controller__OfflineReplica *)block;
    uint8_t *ids = block + refs_size;
    for (size_t i = 0; i < n; i++) {
        memcpy(ids + 16 * i, topic_ids[i], 16);
        refs[i] = (Sluice__Controller__OfflineReplica)SLUICE__CONTROLLER__OFFLINE_REPLICA__INIT;
        refs[i].topic_id = (ProtobufCBinaryData){16, ids + 16 * i};
        refs[i].partition = partitions[i];
        ptrs[i] = &refs[i];
    }
    offline_free(s->offline, s->offline_ptrs, s->offline_dirs, s->n_offline_dirs);
    s->offline = refs;
    s->offline_ptrs = ptrs;
    s->n_offline = n;
    s->offline_dirs = dir_copies;
    s->n_offline_dirs = n_dirs;
    s->offline_changed = true;
    return 0;
}

static void closed_one(struct broker_session *s)
{
    if (--s->open == 0) {
        offline_free(s->offline, s->offline_ptrs, s->offline_dirs, s->n_offline_dirs);
        s->offline = NULL;
        s->offline_ptrs = NULL;
        s->offline_dirs = NULL;
        s->n_offline = s->n_offline_dirs = 0;
        fsm_close(&s->metadata);
        image_changes_free(&s->changes);
        if (s->stop_cb != NULL) {
            s->stop_cb(s);
        }
    }
}

static void on_client_closed(struct controller_client *c)
{
    closed_one(c->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

static void close_all(struct broker_session *s)
{
    /* The ISR changes not sent yet end here; the one in flight ends with
     * the client's close (both -ECANCELED). */
    alter_batcher_cancel(&s->alter, -ECANCELED);
    s->client.data = s;
    controller_client_close(&s->client, on_client_closed);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

static void on_shutdown_answered(struct controller_request *req, int status,
                                 const ProtobufCMessage *m)
{
    struct broker_session *s = req->data;
    const Sluice__Controller__ControlledShutdownResponse *resp =
        (const Sluice__Controller__ControlledShutdownResponse *)m;
    if (status == 0) {
        log_info("broker-session", "controlled shutdown broker.id=%d error=%d remaining=%d",
                 s->broker_id, resp->error_code, resp->remaining_leaderships);
    }
    close_all(s);
}

void broker_session_stop(struct broker_session *s, broker_session_cb cb)
{
    if (s->stopping) {
        return;
    }
    s->stopping = true;
    s->stop_cb = cb;
    uv_timer_stop(&s->timer);
    if (s->broker_epoch == 0) {
        close_all(s);
        return;
    }
    Sluice__Controller__ControlledShutdownRequest req =
        SLUICE__CONTROLLER__CONTROLLED_SHUTDOWN_REQUEST__INIT;
    req.version = 1;
    req.broker_id = s->broker_id;
    req.broker_epoch = s->broker_epoch;
    s->shutdown_req.data = s;
    if (controller_client_call(&s->client, &s->shutdown_req, M(CONTROLLED_SHUTDOWN), &req.base,
                               &sluice__controller__controlled_shutdown_response__descriptor,
                               s->request_timeout_ms < 5000 ? s->request_timeout_ms : 5000,
                               on_shutdown_answered) != 0) {
        close_all(s);
    }
}
