/* Leader side of replication; see replica_service.h. */
#include "broker/replica/replica_service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/replica/replica_session.h"
#include "broker/replica/txn_markers.h"
#include "common/log.h"
#include "proto/replica.pb-c.h"

typedef Sluice__Replica__ReplicaFetchRequest FetchRequest;
typedef Sluice__Replica__FetchPartition FetchPartition;
typedef Sluice__Replica__FetchedPartition FetchedPartition;

/* Kafka error codes the replica RPC answers with. */
#define ERR_NONE                   0
#define ERR_OFFSET_OUT_OF_RANGE    1
#define ERR_UNKNOWN_TOPIC          3
#define ERR_NOT_LEADER_OR_FOLLOWER 6
#define ERR_FENCED_LEADER_EPOCH    74
#define ERR_UNKNOWN_LEADER_EPOCH   75
#define ERR_STORAGE                56

#define FRAME_SLACK (1u << 20) /* headers and protobuf bodies */

size_t replica_rpc_max_frame(const struct sluice_config *cfg)
{
    size_t m = (size_t)cfg->replica_fetch_response_max_bytes;
    m = (size_t)cfg->replica_fetch_max_bytes > m ? (size_t)cfg->replica_fetch_max_bytes : m;
    m = (size_t)cfg->message_max_bytes > m ? (size_t)cfg->message_max_bytes : m;
    return m + FRAME_SLACK;
}

struct fetch_ctx {
    struct rpc_call *call;
    struct replica_manager *rm;
    const FetchRequest *req; /* the call's, valid until it is finished */
    /* The partitions to serve: the request's, or its session's whole set
     * (replica_session.h); parts(ctx)[i] below. */
    struct replica_session_fetch sess;
    bool may_lead;    /* replica_manager_may_lead, read once per pass over the partitions */
    int64_t *hw_seen; /* per partition: the HW when the fetch arrived */
    /* While parked: per partition, the bytes a read would return now, and
     * their sum; watched[k] is the partition of the op's k-th watch, so a
     * wake re-reads that partition only (a follower's fetch names every
     * partition it follows from this leader, thousands at scale). */
    size_t *readable, readable_sum;
    size_t *watched;
    struct delayed_op op;
};

static const FetchPartition *part(const struct fetch_ctx *ctx, size_t i)
{
    return ctx->sess.partitions[i];
}

/* The partition if this broker leads it at the epoch the follower names;
 * `may_lead` is replica_manager_may_lead's answer (a clock read), taken
 * once per request or wake, not per partition. */
static struct partition *leader_for(struct replica_manager *rm, const char *topic, int32_t index,
                                    int32_t epoch, bool may_lead, int32_t *error)
{
    struct partition *p = replica_manager_partition(rm, topic, index);
    if (p == NULL) {
        *error = ERR_NOT_LEADER_OR_FOLLOWER;
    } else if (!partition_is_leader(p) || !may_lead) {
        *error = ERR_NOT_LEADER_OR_FOLLOWER;
    } else if (epoch >= 0 && epoch < p->leader_epoch) {
        *error = ERR_FENCED_LEADER_EPOCH;
    } else if (epoch > p->leader_epoch) {
        *error = ERR_UNKNOWN_LEADER_EPOCH; /* our metadata is behind; it retries */
    } else {
        *error = ERR_NONE;
        return p;
    }
    return NULL;
}

/* Kafka's shouldLeaderThrottle: a listed partition, a follower out of the
 * ISR (an in-sync one is never held back: that would shrink the ISR), and
 * the leader's throttle over its rate. */
static bool leader_throttles(struct replica_manager *rm, struct partition *p, int32_t replica)
{
    return p->leader_throttled && !partition_in_isr(p, replica) &&
           replication_quota_exceeded(replica_manager_quota(rm, true), uv_now(rm->loop));
}

/* Read one partition's batches (a byte range of a segment, sent later with
 * sendfile); fill `out`. */
static void read_one(struct fetch_ctx *ctx, const FetchPartition *in, FetchedPartition *out,
                     struct log_read_result *read, size_t *sent, size_t *budget,
                     uint64_t *throttled)
{
    int32_t error;
    struct partition *p = leader_for(ctx->rm, in->topic, in->partition, in->current_leader_epoch,
                                     ctx->may_lead, &error);
    out->error_code = error;
    out->high_watermark = out->log_start_offset = out->log_end_offset = -1;
    if (p == NULL) {
        return;
    }
    out->high_watermark = partition_high_watermark(p);
    out->log_start_offset = partition_log_start(p);
    out->log_end_offset = partition_log_end(p);
    if (leader_throttles(ctx->rm, p, ctx->req->replica_id)) {
        ctx->rm->leader_quota.held_back++;
        return; /* nothing this time; the follower asks again */
    }
    size_t limit = in->partition_max_bytes < *budget ? in->partition_max_bytes : *budget;
    if (limit == 0 && *sent > 0) {
        return;
    }
    int rv =
        partition_read(p, PARTITION_READ_REPLICA, in->fetch_offset, limit > 0 ? limit : 1, read);
    if (rv != 0) {
        memset(read, 0, sizeof *read);
        out->error_code = rv == LOG_ERR_OFFSET_OUT_OF_RANGE ? ERR_OFFSET_OUT_OF_RANGE : ERR_STORAGE;
        return;
    }
    if (read->length > limit && *sent > 0) {
        /* Only the first partition with data may exceed the limits. */
        log_read_result_release(read);
        memset(read, 0, sizeof *read);
        return;
    }
    out->records_length = (uint32_t)read->length;
    if (p->leader_throttled) {
        *throttled += read->length;
    }
    *sent += read->length;
    *budget -= read->length < *budget ? read->length : *budget;
}

static void fetch_ctx_free(struct fetch_ctx *ctx)
{
    replica_session_fetch_release(&ctx->sess);
    free(ctx->hw_seen);
    free(ctx->readable);
    free(ctx->watched);
    free(ctx);
}

/* Answer the follower's session error alone: it starts a new session. */
static void respond_session_error(struct fetch_ctx *ctx)
{
    ctx->rm->fetch_stats.session_errors++;
    Sluice__Replica__ReplicaFetchResponse resp = SLUICE__REPLICA__REPLICA_FETCH_RESPONSE__INIT;
    resp.error_code = ctx->sess.error;
    rpc_call_respond(ctx->call, &resp.base, NULL, 0);
    fetch_ctx_free(ctx);
}

static void respond(struct fetch_ctx *ctx)
{
    const FetchRequest *req = ctx->req;
    size_t n = ctx->sess.n_partitions;
    FetchedPartition *parts = calloc(n ? n : 1, sizeof *parts);
    FetchedPartition **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    struct log_read_result *reads = calloc(n ? n : 1, sizeof *reads);
    struct rpc_file_slice *slices = calloc(n ? n : 1, sizeof *slices);
    size_t n_slices = 0, n_answered = 0, sent = 0;
    if (parts == NULL || ptrs == NULL || reads == NULL || slices == NULL) {
        rpc_call_fail(ctx->call, RPC_ERROR_INTERNAL, "out of memory");
        goto out;
    }
    size_t budget = req->max_bytes > 0 ? req->max_bytes : 1;
    /* What throttled partitions sent counts against the leader's throttle
     * (Kafka's sizeOfThrottledPartitions), in sync or not. */
    uint64_t throttled = 0;
    ctx->may_lead = replica_manager_may_lead(ctx->rm);
    for (size_t i = 0; i < n; i++) {
        sluice__replica__fetched_partition__init(&parts[i]);
        parts[i].topic = part(ctx, i)->topic;
        parts[i].partition = part(ctx, i)->partition;
        read_one(ctx, part(ctx, i), &parts[i], &reads[i], &sent, &budget, &throttled);
        /* A session's answer leaves out what has not changed (KIP-227);
         * partitions with records are always in it, so the payload's
         * slices stay in the order of the entries. */
        if (replica_session_should_send(ctx->rm->fetch_sessions, &ctx->sess, i, &parts[i])) {
            ptrs[n_answered++] = &parts[i];
        }
        if (reads[i].length > 0) {
            slices[n_slices++] =
                (struct rpc_file_slice){reads[i].fd, reads[i].position, reads[i].length};
        }
    }
    if (throttled > 0) {
        replication_quota_record(&ctx->rm->leader_quota, throttled, uv_now(ctx->rm->loop));
    }
    ctx->rm->fetch_stats.answered += n_answered;
    Sluice__Replica__ReplicaFetchResponse resp = SLUICE__REPLICA__REPLICA_FETCH_RESPONSE__INIT;
    resp.partitions = ptrs;
    resp.n_partitions = n_answered;
    resp.session_id = ctx->sess.session_id;
    int rv = rpc_call_respond_files(ctx->call, &resp.base, slices, n_slices);
    if (rv != 0 && rv != -ENOTCONN) {
        log_warn("replica", "cannot answer a replica fetch replica=%d bytes=%zu error=%s",
                 req->replica_id, sent, strerror(-rv));
    }
out:
    for (size_t i = 0; reads != NULL && i < n; i++) {
        log_read_result_release(&reads[i]); /* the connection dup'd the descriptors */
    }
    free(reads);
    free(slices);
    free(parts);
    free(ptrs);
    fetch_ctx_free(ctx);
}

/* Re-read partition `i` of the fetch: true when it alone must be answered
 * now (leadership, high watermark or log range changed), else its readable
 * bytes are brought up to date. */
static bool probe(struct fetch_ctx *ctx, size_t i)
{
    const FetchPartition *in = part(ctx, i);
    int32_t error;
    struct partition *p = leader_for(ctx->rm, in->topic, in->partition, in->current_leader_epoch,
                                     ctx->may_lead, &error);
    if (p == NULL || partition_high_watermark(p) != ctx->hw_seen[i]) {
        return true;
    }
    int64_t end = partition_log_end(p);
    if (in->fetch_offset > end || in->fetch_offset < partition_log_start(p)) {
        return true;
    }
    size_t bytes = 0;
    struct log_read_result r;
    /* A throttled partition's bytes do not make the fetch ready. */
    if (!leader_throttles(ctx->rm, p, ctx->req->replica_id) && end > in->fetch_offset &&
        partition_read(p, PARTITION_READ_REPLICA, in->fetch_offset, in->partition_max_bytes, &r) ==
            0) {
        bytes = r.length;
        log_read_result_release(&r);
    }
    ctx->readable_sum += bytes - ctx->readable[i];
    ctx->readable[i] = bytes;
    return false;
}

static bool enough_readable(const struct fetch_ctx *ctx)
{
    size_t min = ctx->req->min_bytes > 0 ? ctx->req->min_bytes : 1;
    return ctx->readable_sum >= min;
}

/* Whether the fetch should answer as it arrives (after note_progress, whose
 * may_lead it shares). */
static bool fetch_ready_now(struct fetch_ctx *ctx)
{
    for (size_t i = 0; i < ctx->sess.n_partitions; i++) {
        if (probe(ctx, i)) {
            return true;
        }
    }
    return enough_readable(ctx);
}

/* A watched partition changed while the fetch was parked. */
static bool fetch_ready(struct delayed_op *op)
{
    struct fetch_ctx *ctx = op->data;
    ctx->may_lead = replica_manager_may_lead(ctx->rm);
    return probe(ctx, ctx->watched[op->fired]) || enough_readable(ctx);
}

static void fetch_complete(struct delayed_op *op, bool expired)
{
    (void)expired;
    struct fetch_ctx *ctx = op->data;
    delayed_op_free(op);
    respond(ctx);
}

/* Record each follower's progress once per request, and propose ISR joins:
 * for every partition of its session, named in this request or not (a
 * caught-up follower that has nothing new to say stays caught up). */
static void note_progress(struct fetch_ctx *ctx)
{
    uint64_t now = uv_now(ctx->rm->loop);
    ctx->may_lead = replica_manager_may_lead(ctx->rm);
    for (size_t i = 0; i < ctx->sess.n_partitions; i++) {
        const FetchPartition *in = part(ctx, i);
        int32_t error;
        struct partition *p = leader_for(ctx->rm, in->topic, in->partition,
                                         in->current_leader_epoch, ctx->may_lead, &error);
        ctx->hw_seen[i] = p != NULL ? partition_high_watermark(p) : -1;
        /* A fetch offset outside our log is answered OFFSET_OUT_OF_RANGE and
         * proves nothing: a follower ahead of us holds a divergent tail,
         * which must never count towards the high watermark. */
        bool in_log = p != NULL && in->fetch_offset <= partition_log_end(p) &&
                      in->fetch_offset >= partition_log_start(p);
        if (in_log && partition_follower_fetched(p, ctx->req->replica_id, ctx->req->broker_epoch,
                                                 in->fetch_offset, now)) {
            replica_manager_isr_expand(ctx->rm, p, ctx->req->replica_id);
        }
        if (p != NULL) {
            ctx->hw_seen[i] = partition_high_watermark(p);
        }
    }
}

/* At most this many sessions: each follower broker has num.replica.fetchers
 * fetchers here, so twice that per broker leaves room for restarts before a
 * live session is evicted. */
static size_t max_sessions(const struct replica_manager *rm)
{
    size_t brokers = rm->metadata != NULL ? metadata_view_broker_count(rm->metadata) : 0;
    size_t fetchers = rm->cfg->num_replica_fetchers > 0 ? (size_t)rm->cfg->num_replica_fetchers : 1;
    size_t n = 2 * (brokers > 0 ? brokers : 1) * fetchers;
    return n > 8 ? n : 8;
}

/* Resolve the request's session: 0, or -1 when the answer was sent (a
 * session error) or failed. */
static int resolve_session(struct fetch_ctx *ctx)
{
    struct replica_manager *rm = ctx->rm;
    const FetchRequest *req = ctx->req;
    rm->fetch_stats.requests++;
    rm->fetch_stats.named += req->n_partitions;
    if (rm->fetch_sessions == NULL) {
        /* Stopping: no sessions any more; a sessionless request is served. */
        ctx->sess.partitions = (const FetchPartition *const *)req->partitions;
        ctx->sess.n_partitions = req->n_partitions;
        ctx->sess.error =
            req->session_epoch > REPLICA_SESSION_EPOCH_NEW ? REPLICA_SESSION_ERR_NOT_FOUND : 0;
    } else if (replica_session_resolve(rm->fetch_sessions, req, max_sessions(rm), uv_now(rm->loop),
                                       &ctx->sess) != 0) {
        log_warn("replica", "no memory for the fetch session of replica=%d session=%d",
                 req->replica_id, req->session_id);
    }
    if (ctx->sess.error != 0) {
        respond_session_error(ctx);
        return -1;
    }
    rm->fetch_stats.served += ctx->sess.n_partitions;
    size_t n = ctx->sess.n_partitions + 1;
    if ((ctx->hw_seen = calloc(n, sizeof(int64_t))) == NULL ||
        (ctx->readable = calloc(n, sizeof(size_t))) == NULL ||
        (ctx->watched = calloc(n, sizeof(size_t))) == NULL) {
        rpc_call_fail(ctx->call, RPC_ERROR_INTERNAL, "out of memory");
        fetch_ctx_free(ctx);
        return -1;
    }
    return 0;
}

static void handle_fetch(struct rpc_call *call, void *arg)
{
    struct replica_manager *rm = arg;
    struct fetch_ctx *ctx = calloc(1, sizeof *ctx);
    const FetchRequest *req = (const FetchRequest *)call->request;
    if (ctx == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    ctx->call = call;
    ctx->rm = rm;
    ctx->req = req;
    if (resolve_session(ctx) != 0) {
        return;
    }
    note_progress(ctx);
    ctx->op.data = ctx;
    size_t n = ctx->sess.n_partitions;
    if (req->max_wait_ms == 0 || n == 0 || fetch_ready_now(ctx) ||
        delayed_op_init(&ctx->op, n, fetch_ready, fetch_complete, ctx) != 0) {
        respond(ctx);
        return;
    }
    size_t n_watched = 0;
    for (size_t i = 0; i < n; i++) {
        struct partition *p =
            replica_manager_partition(rm, part(ctx, i)->topic, part(ctx, i)->partition);
        if (p != NULL) {
            ctx->watched[n_watched++] = i; /* the op's watches are numbered in this order */
            partition_watch(p, &ctx->op);
        }
    }
    replica_manager_park(rm, &ctx->op, req->max_wait_ms);
}

static void handle_epochs(struct rpc_call *call, void *arg)
{
    struct replica_manager *rm = arg;
    const Sluice__Replica__OffsetsForLeaderEpochRequest *req =
        (const Sluice__Replica__OffsetsForLeaderEpochRequest *)call->request;
    size_t n = req->n_partitions;
    Sluice__Replica__EpochEnd *ends = calloc(n ? n : 1, sizeof *ends);
    Sluice__Replica__EpochEnd **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (ends == NULL || ptrs == NULL) {
        free(ends);
        free(ptrs);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    bool may_lead = replica_manager_may_lead(rm);
    for (size_t i = 0; i < n; i++) {
        const Sluice__Replica__EpochQuery *q = req->partitions[i];
        sluice__replica__epoch_end__init(&ends[i]);
        ptrs[i] = &ends[i];
        ends[i].topic = q->topic;
        ends[i].partition = q->partition;
        ends[i].leader_epoch = -1;
        ends[i].end_offset = -1;
        int32_t error;
        struct partition *p =
            leader_for(rm, q->topic, q->partition, q->current_leader_epoch, may_lead, &error);
        ends[i].error_code = error;
        if (p != NULL) {
            struct leader_epoch_end e = partition_log_end_offset_for_epoch(p->log, q->leader_epoch);
            ends[i].leader_epoch = e.epoch;
            ends[i].end_offset = e.end_offset;
        }
    }
    Sluice__Replica__OffsetsForLeaderEpochResponse resp =
        SLUICE__REPLICA__OFFSETS_FOR_LEADER_EPOCH_RESPONSE__INIT;
    resp.partitions = ptrs;
    resp.n_partitions = n;
    rpc_call_respond(call, &resp.base, NULL, 0);
    free(ends);
    free(ptrs);
}

/* ---- WRITE_TXN_MARKERS ---- */

typedef Sluice__Replica__WriteTxnMarkersRequest MarkersRequest;

/* Malloc'd: lives until the markers are written. */
struct markers_call {
    struct rpc_call *call;
    const MarkersRequest *req; /* the call's */
    struct txn_marker_write *markers;
    struct txn_marker_partition *slots;
};

static void markers_call_free(struct markers_call *mc)
{
    free(mc->markers);
    free(mc->slots);
    free(mc);
}

static void markers_done(void *arg)
{
    struct markers_call *mc = arg;
    const MarkersRequest *req = mc->req;
    size_t total = 0;
    for (size_t i = 0; i < req->n_markers; i++) {
        total += req->markers[i]->n_partitions;
    }
    Sluice__Replica__TxnMarkerResult *results = calloc(req->n_markers + 1, sizeof *results);
    Sluice__Replica__TxnMarkerResult **rptrs = calloc(req->n_markers + 1, sizeof *rptrs);
    Sluice__Replica__TxnMarkerPartitionResult *parts = calloc(total + 1, sizeof *parts);
    Sluice__Replica__TxnMarkerPartitionResult **pptrs = calloc(total + 1, sizeof *pptrs);
    if (results == NULL || rptrs == NULL || parts == NULL || pptrs == NULL) {
        rpc_call_fail(mc->call, RPC_ERROR_INTERNAL, "out of memory");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < req->n_markers; i++) {
        sluice__replica__txn_marker_result__init(&results[i]);
        rptrs[i] = &results[i];
        results[i].producer_id = mc->markers[i].producer_id;
        results[i].partitions = &pptrs[k];
        results[i].n_partitions = mc->markers[i].n_partitions;
        for (size_t j = 0; j < mc->markers[i].n_partitions; j++, k++) {
            const struct txn_marker_partition *s = &mc->markers[i].partitions[j];
            sluice__replica__txn_marker_partition_result__init(&parts[k]);
            parts[k].topic = (char *)s->topic;
            parts[k].partition = s->partition;
            parts[k].error_code = s->error_code;
            pptrs[k] = &parts[k];
        }
    }
    Sluice__Replica__WriteTxnMarkersResponse resp =
        SLUICE__REPLICA__WRITE_TXN_MARKERS_RESPONSE__INIT;
    resp.markers = rptrs;
    resp.n_markers = req->n_markers;
    rpc_call_respond(mc->call, &resp.base, NULL, 0);
out:
    free(results);
    free(rptrs);
    free(parts);
    free(pptrs);
    markers_call_free(mc);
}

static void handle_markers(struct rpc_call *call, void *arg)
{
    struct replica_manager *rm = arg;
    const MarkersRequest *req = (const MarkersRequest *)call->request;
    size_t total = 0;
    for (size_t i = 0; i < req->n_markers; i++) {
        total += req->markers[i]->n_partitions;
    }
    struct markers_call *mc = calloc(1, sizeof *mc);
    if (mc == NULL || (mc->markers = calloc(req->n_markers + 1, sizeof *mc->markers)) == NULL ||
        (mc->slots = calloc(total + 1, sizeof *mc->slots)) == NULL) {
        if (mc != NULL) {
            markers_call_free(mc);
        }
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    mc->call = call;
    mc->req = req;
    size_t k = 0;
    for (size_t i = 0; i < req->n_markers; i++) {
        const Sluice__Replica__TxnMarker *m = req->markers[i];
        mc->markers[i] = (struct txn_marker_write){
            .producer_id = m->producer_id,
            .producer_epoch = (int16_t)m->producer_epoch,
            .commit = m->committed,
            .coordinator_epoch = m->coordinator_epoch,
            .partitions = &mc->slots[k],
            .n_partitions = m->n_partitions,
        };
        for (size_t j = 0; j < m->n_partitions; j++, k++) {
            mc->slots[k].topic = m->partitions[j]->topic;
            mc->slots[k].partition = m->partitions[j]->partition;
        }
    }
    uint64_t timeout =
        rm->cfg->request_timeout_ms > 0 ? (uint64_t)rm->cfg->request_timeout_ms : 30000;
    if (txn_markers_write(rm, mc->markers, req->n_markers, timeout, markers_done, mc) != 0) {
        markers_call_free(mc);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
    }
}

static bool registered_broker(const struct replica_manager *rm, int32_t node)
{
    size_t n = rm->metadata != NULL ? metadata_view_broker_count(rm->metadata) : 0;
    for (size_t i = 0; i < n; i++) {
        if (metadata_view_broker(rm->metadata, i)->node_id == node) {
            return true;
        }
    }
    return false;
}

/* Who may call: a follower fetches (and asks epochs) only as itself; a
 * transaction coordinator writes markers only from a registered broker. */
static bool guard(struct rpc_call *call, void *arg, char *why, size_t whylen)
{
    const struct replica_manager *rm = arg;
    /* The same listener's TLS, handed to the manager once it started
     * (replica_manager_set_tls); before that nobody is served. */
    const struct internal_tls *tls = rm->tls;
    if (tls == NULL) {
        snprintf(why, whylen, "the broker is starting");
        return false;
    }
    if (call->method == SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_WRITE_TXN_MARKERS) {
        struct internal_peer peer;
        internal_tls_identify(tls, rpc_call_peer_subject(call), &peer);
        if (peer.node >= 0 && registered_broker(rm, peer.node)) {
            return true;
        }
        snprintf(why, whylen, "not a broker: principal %s is %s", peer.principal,
                 peer.node >= 0 ? "a node that is not a registered broker" : "not a node's");
        return false;
    }
    int32_t node = -1;
    if (call->method == SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_FETCH) {
        node = ((Sluice__Replica__ReplicaFetchRequest *)call->request)->replica_id;
    } else if (call->method ==
               SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_OFFSETS_FOR_LEADER_EPOCH) {
        node = ((Sluice__Replica__OffsetsForLeaderEpochRequest *)call->request)->replica_id;
    }
    if (node < -1) {
        node = INT32_MAX; /* nobody's id: refused, not "any node" */
    }
    char inner[400];
    if (internal_tls_call_is_node(tls, call, node, inner, sizeof inner)) {
        return true;
    }
    snprintf(why, whylen, "%s: %s", node >= 0 ? "fetching as another replica" : "not a broker",
             inner);
    return false;
}

int replica_service_register(struct rpc_server *server, struct replica_manager *rm,
                             const struct internal_tls *tls)
{
    if (tls != NULL && internal_tls_enabled(tls)) {
        rpc_server_set_guard(server, guard, rm); /* rm->tls: replica_manager_set_tls */
    }
    int rv =
        rpc_server_handle(server, SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_FETCH,
                          &sluice__replica__replica_fetch_request__descriptor, handle_fetch, rm);
    if (rv == 0) {
        rv = rpc_server_handle(
            server, SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_OFFSETS_FOR_LEADER_EPOCH,
            &sluice__replica__offsets_for_leader_epoch_request__descriptor, handle_epochs, rm);
    }
    if (rv == 0) {
        rv = rpc_server_handle(
            server, SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_WRITE_TXN_MARKERS,
            &sluice__replica__write_txn_markers_request__descriptor, handle_markers, rm);
    }
    return rv;
}
