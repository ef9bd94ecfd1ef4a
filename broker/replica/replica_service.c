/* Leader side of replication; see replica_service.h. */
#include "broker/replica/replica_service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/replica/replica_isr.h"
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

/* A session's sweep (sweep_interval_ms) at least this often. */
#define SESSION_SWEEP_MAX_MS 5000

size_t replica_rpc_max_frame(const struct sluice_config *cfg)
{
    size_t m = (size_t)cfg->replica_fetch_response_max_bytes;
    m = (size_t)cfg->replica_fetch_max_bytes > m ? (size_t)cfg->replica_fetch_max_bytes : m;
    m = (size_t)cfg->message_max_bytes > m ? (size_t)cfg->message_max_bytes : m;
    return m + FRAME_SLACK;
}

/* What the leader keeps with each follower fetch session between its
 * fetches (replica_session_state), so that a fetch looks at the partitions
 * the follower named, the ones the journal of changes recorded since the
 * session's last answer, and the ones left to look at again (`carry`), not
 * at all of them: thousands at scale, each a walk over cold memory. */
struct session_view {
    uint64_t layout;         /* the session's layout the arrays below are for */
    uint64_t partitions_gen; /* rm->partitions_gen when the slots were read */
    uint64_t journal_pos;    /* the changes before it were answered (0: look at all) */
    /* The sweep (sweep_some): every partition looked at once per
     * sweep_interval_ms, a share at each fetch. */
    uint64_t sweep_start_ms; /* when the sweep in progress reached index 0 */
    size_t sweep_next;       /* the next session index it looks at */
    bool may_lead;           /* replica_manager_may_lead at the last fetch */
    bool untracked;          /* a partition has no slot: look at all of them each time */
    uint32_t *index_of_slot; /* journal slot -> session index + 1 */
    uint32_t n_slots;
    size_t n;               /* session partitions (the arrays below) */
    size_t *carry, n_carry; /* session indices to look at again */
    uint32_t *mark, stamp;  /* mark[i] == stamp: i is in the fetch's work ... */
    size_t *work_index;     /* ... at this position */
};

void replica_service_view_free(void *view)
{
    struct session_view *v = view;
    free(v->index_of_slot);
    free(v->carry);
    free(v->mark);
    free(v->work_index);
    free(v);
}

struct fetch_ctx {
    struct rpc_call *call;
    struct replica_manager *rm;
    const FetchRequest *req; /* the call's, valid until it is finished */
    /* The set to serve: the request's (sessionless), or its session's
     * (replica_session.h), served by index while the session's layout
     * stays. */
    struct replica_session_fetch sess;
    bool tracked; /* served through its session's view and the journal of changes */
    /* The partitions this fetch looks at, as indices into the set: every
     * one (sessionless, a new session, a sweep), else what changed. */
    size_t *work, n_work, cap_work;
    bool may_lead;    /* replica_manager_may_lead, read once per pass over the partitions */
    int64_t *hw_seen; /* per work entry: the HW when it was first looked at */
    /* While parked: per work entry, the bytes a read would return now, and
     * their sum. An untracked fetch watches each partition (watched[k] is
     * the work entry of the op's k-th watch); a tracked one watches the
     * journal, from journal_pos on. */
    size_t *readable, readable_sum;
    size_t *watched;
    uint64_t journal_pos;
    bool journal_gap; /* changes were lost to it: the next fetch looks at all */
    struct delayed_op op;
};

/* Work entry `k` as a request entry (`tmp` holds it for a session). */
static const FetchPartition *part(const struct fetch_ctx *ctx, size_t k, FetchPartition *tmp)
{
    size_t i = ctx->work[k];
    if (ctx->sess.partitions != NULL) {
        return ctx->sess.partitions[i];
    }
    replica_session_part(ctx->rm->fetch_sessions, &ctx->sess, i, tmp, NULL);
    return tmp;
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
 * sendfile); fill `out`. Returns whether the partition needs looking at on
 * the session's next fetch even if nothing changes meanwhile: records left
 * unsent (the budget, the throttle), or a follower not in the ISR yet (its
 * join is judged on each fetch). */
static bool read_one(struct fetch_ctx *ctx, const FetchPartition *in, FetchedPartition *out,
                     struct log_read_result *read, size_t *sent, size_t *budget,
                     uint64_t *throttled)
{
    int32_t error;
    struct partition *p = leader_for(ctx->rm, in->topic, in->partition, in->current_leader_epoch,
                                     ctx->may_lead, &error);
    out->error_code = error;
    out->high_watermark = out->log_start_offset = out->log_end_offset = -1;
    if (p == NULL) {
        return false;
    }
    out->high_watermark = partition_high_watermark(p);
    out->log_start_offset = partition_log_start(p);
    out->log_end_offset = partition_log_end(p);
    bool again =
        !partition_in_isr(p, ctx->req->replica_id) || in->fetch_offset < out->log_end_offset;
    if (leader_throttles(ctx->rm, p, ctx->req->replica_id)) {
        ctx->rm->leader_quota.held_back++;
        return again; /* nothing this time; the follower asks again */
    }
    size_t limit = in->partition_max_bytes < *budget ? in->partition_max_bytes : *budget;
    if (limit == 0 && *sent > 0) {
        return again;
    }
    int rv =
        partition_read(p, PARTITION_READ_REPLICA, in->fetch_offset, limit > 0 ? limit : 1, read);
    if (rv != 0) {
        memset(read, 0, sizeof *read);
        out->error_code = rv == LOG_ERR_OFFSET_OUT_OF_RANGE ? ERR_OFFSET_OUT_OF_RANGE : ERR_STORAGE;
        return false;
    }
    if (read->length > limit && *sent > 0) {
        /* Only the first partition with data may exceed the limits. */
        log_read_result_release(read);
        memset(read, 0, sizeof *read);
        return again;
    }
    out->records_length = (uint32_t)read->length;
    if (p->leader_throttled) {
        *throttled += read->length;
    }
    *sent += read->length;
    *budget -= read->length < *budget ? read->length : *budget;
    /* Records sent: the follower names the partition again with its new
     * offset (a follower that did not apply them is looked at again). */
    return again;
}

static void fetch_ctx_free(struct fetch_ctx *ctx)
{
    replica_session_fetch_release(&ctx->sess);
    free(ctx->work);
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

/* The view of the fetch's session, if the fetch is tracked and the session
 * is still the one it was resolved against. */
static struct session_view *view_of(const struct fetch_ctx *ctx)
{
    if (!ctx->tracked || !replica_session_unchanged(ctx->rm->fetch_sessions, &ctx->sess)) {
        return NULL;
    }
    void **state = replica_session_state(ctx->rm->fetch_sessions, &ctx->sess);
    return state != NULL ? *state : NULL;
}

/* Whether `v` was read for another layout of the session or before the
 * hosted partitions last changed: a partition of the session that had no
 * slot then (not hosted yet: a follower can apply a new topic before its
 * leader does) may have one now, and the view would pass its changes over
 * as another session's. */
static bool view_stale(const struct fetch_ctx *ctx, const struct session_view *v)
{
    return v->layout != ctx->sess.layout || v->partitions_gen != ctx->rm->partitions_gen;
}

/* The answer went out: what the session's next fetch starts from. */
static void view_answered(struct fetch_ctx *ctx, const bool *again)
{
    struct session_view *v = view_of(ctx);
    if (v == NULL) {
        return;
    }
    v->journal_pos = ctx->journal_gap ? 0 : change_journal_end(&ctx->rm->changes);
    v->n_carry = 0;
    for (size_t k = 0; k < ctx->n_work; k++) {
        if (again[k] && ctx->work[k] < v->n) {
            v->carry[v->n_carry++] = ctx->work[k];
        }
    }
}

static void respond(struct fetch_ctx *ctx)
{
    const FetchRequest *req = ctx->req;
    if (ctx->sess.partitions == NULL && ctx->sess.session_id != 0 &&
        !replica_session_unchanged(ctx->rm->fetch_sessions, &ctx->sess)) {
        /* Evicted or changed while this fetch waited (a request from the
         * same session overtook it): the follower starts over. */
        ctx->sess.error = REPLICA_SESSION_ERR_NOT_FOUND;
        respond_session_error(ctx);
        return;
    }
    size_t n = ctx->n_work;
    FetchedPartition *parts = calloc(n ? n : 1, sizeof *parts);
    FetchedPartition **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    struct log_read_result *reads = calloc(n ? n : 1, sizeof *reads);
    struct rpc_file_slice *slices = calloc(n ? n : 1, sizeof *slices);
    bool *again = calloc(n ? n : 1, sizeof *again);
    size_t n_slices = 0, n_answered = 0, sent = 0;
    if (parts == NULL || ptrs == NULL || reads == NULL || slices == NULL || again == NULL) {
        rpc_call_fail(ctx->call, RPC_ERROR_INTERNAL, "out of memory");
        goto out;
    }
    size_t budget = req->max_bytes > 0 ? req->max_bytes : 1;
    /* What throttled partitions sent counts against the leader's throttle
     * (Kafka's sizeOfThrottledPartitions), in sync or not. */
    uint64_t throttled = 0;
    ctx->may_lead = replica_manager_may_lead(ctx->rm);
    for (size_t k = 0; k < n; k++) {
        FetchPartition tmp;
        const FetchPartition *in = part(ctx, k, &tmp);
        sluice__replica__fetched_partition__init(&parts[k]);
        parts[k].topic = in->topic;
        parts[k].partition = in->partition;
        again[k] = read_one(ctx, in, &parts[k], &reads[k], &sent, &budget, &throttled);
        /* A session's answer leaves out what has not changed (KIP-227);
         * partitions with records are always in it, so the payload's
         * slices stay in the order of the entries. */
        if (replica_session_should_send(ctx->rm->fetch_sessions, &ctx->sess, ctx->work[k],
                                        &parts[k])) {
            ptrs[n_answered++] = &parts[k];
        }
        if (reads[k].length > 0) {
            slices[n_slices++] =
                (struct rpc_file_slice){reads[k].fd, reads[k].position, reads[k].length};
        }
    }
    if (throttled > 0) {
        replication_quota_record(&ctx->rm->leader_quota, throttled, uv_now(ctx->rm->loop));
    }
    ctx->rm->fetch_stats.answered += n_answered;
    ctx->rm->fetch_stats.examined += n;
    Sluice__Replica__ReplicaFetchResponse resp = SLUICE__REPLICA__REPLICA_FETCH_RESPONSE__INIT;
    resp.partitions = ptrs;
    resp.n_partitions = n_answered;
    resp.session_id = ctx->sess.session_id;
    int rv = rpc_call_respond_files(ctx->call, &resp.base, slices, n_slices);
    if (rv != 0 && rv != -ENOTCONN) {
        log_warn("replica", "cannot answer a replica fetch replica=%d bytes=%zu error=%s",
                 req->replica_id, sent, strerror(-rv));
    }
    view_answered(ctx, again);
out:
    for (size_t k = 0; reads != NULL && k < n; k++) {
        log_read_result_release(&reads[k]); /* the connection dup'd the descriptors */
    }
    free(reads);
    free(slices);
    free(parts);
    free(ptrs);
    free(again);
    fetch_ctx_free(ctx);
}

/* Whether an answer now would move the follower's log start, as its fetch
 * reports it (version 2 on): it follows ours up to its high watermark,
 * which the answer raises to min(our high watermark, its log end)
 * (partition_follow_leader_start). A DeleteRecords waits for it (the low
 * watermark), so a parked fetch answers as soon as our log start moves,
 * not when records come or its wait ends. Once told, the follower reports
 * its new log start and this is false again. */
static bool log_start_to_tell(const struct fetch_ctx *ctx, const FetchPartition *in,
                              const struct partition *p)
{
    if (ctx->req->version < REPLICA_FETCH_VERSION_LOG_START || in->log_start_offset < 0) {
        return false;
    }
    int64_t to = partition_log_start(p);
    int64_t hw = partition_high_watermark(p);
    to = hw < to ? hw : to;
    to = in->fetch_offset < to ? in->fetch_offset : to;
    return to > in->log_start_offset;
}

/* Re-read work entry `k`: true when it alone must be answered now
 * (leadership, high watermark or log range changed, or the follower's log
 * start has to follow ours), else its readable bytes are brought up to
 * date. */
static bool probe(struct fetch_ctx *ctx, size_t k)
{
    FetchPartition tmp;
    const FetchPartition *in = part(ctx, k, &tmp);
    int32_t error;
    struct partition *p = leader_for(ctx->rm, in->topic, in->partition, in->current_leader_epoch,
                                     ctx->may_lead, &error);
    if (p == NULL || partition_high_watermark(p) != ctx->hw_seen[k]) {
        return true;
    }
    int64_t end = partition_log_end(p);
    if (in->fetch_offset > end || in->fetch_offset < partition_log_start(p) ||
        log_start_to_tell(ctx, in, p)) {
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
    ctx->readable_sum += bytes - ctx->readable[k];
    ctx->readable[k] = bytes;
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
    for (size_t k = 0; k < ctx->n_work; k++) {
        if (probe(ctx, k)) {
            return true;
        }
    }
    return enough_readable(ctx);
}

/* Room for one more work entry; false without memory. */
static bool work_reserve(struct fetch_ctx *ctx, size_t more)
{
    size_t need = ctx->n_work + more;
    if (need <= ctx->cap_work) {
        return true;
    }
    size_t cap = ctx->cap_work ? ctx->cap_work : 16;
    while (cap < need) {
        cap *= 2;
    }
    size_t *work = realloc(ctx->work, cap * sizeof *work);
    if (work != NULL) {
        ctx->work = work;
    }
    int64_t *hw = realloc(ctx->hw_seen, cap * sizeof *hw);
    if (hw != NULL) {
        ctx->hw_seen = hw;
    }
    size_t *readable = realloc(ctx->readable, cap * sizeof *readable);
    if (readable != NULL) {
        ctx->readable = readable;
    }
    if (work == NULL || hw == NULL || readable == NULL) {
        return false;
    }
    ctx->cap_work = cap;
    return true;
}

/* Add session index `i` to the work (once per fetch: the view's marks). */
static bool work_add(struct fetch_ctx *ctx, struct session_view *v, size_t i)
{
    if (v->mark[i] == v->stamp && v->work_index[i] < ctx->n_work &&
        ctx->work[v->work_index[i]] == i) {
        return true;
    }
    if (!work_reserve(ctx, 1)) {
        return false;
    }
    v->mark[i] = v->stamp;
    v->work_index[i] = ctx->n_work;
    ctx->hw_seen[ctx->n_work] = -1;
    ctx->readable[ctx->n_work] = 0;
    ctx->work[ctx->n_work++] = i;
    return true;
}

/* A parked tracked fetch: look at the partitions of its session that the
 * journal recorded since it last looked. */
static bool tracked_ready(struct fetch_ctx *ctx)
{
    struct session_view *v = view_of(ctx);
    const struct change_journal *j = &ctx->rm->changes;
    /* A stale view would leave the fetch parked for its whole wait. */
    if (v == NULL || view_stale(ctx, v) || !change_journal_holds(j, ctx->journal_pos)) {
        ctx->journal_gap = true;
        return true; /* answer now; the session's next fetch looks at all */
    }
    bool ready = false;
    uint64_t end = change_journal_end(j);
    for (uint64_t seq = ctx->journal_pos; seq < end; seq++) {
        uint32_t slot = change_journal_at(j, seq);
        uint32_t i1 = slot < v->n_slots ? v->index_of_slot[slot] : 0;
        if (i1 == 0) {
            continue; /* another session's partition */
        }
        size_t i = i1 - 1, known = ctx->n_work;
        if (!work_add(ctx, v, i)) {
            ctx->journal_gap = true;
            return true;
        }
        size_t k = v->work_index[i];
        if (k >= known) {
            /* New to this fetch: ready if the follower's high watermark is
             * behind, as a partition looked at from the start would be. */
            FetchPartition tmp;
            replica_session_part(ctx->rm->fetch_sessions, &ctx->sess, i, &tmp, &ctx->hw_seen[k]);
        }
        ready = probe(ctx, k) || ready;
    }
    ctx->journal_pos = end;
    return ready || enough_readable(ctx);
}

/* Something the parked fetch watches changed. */
static bool fetch_ready(struct delayed_op *op)
{
    struct fetch_ctx *ctx = op->data;
    ctx->may_lead = replica_manager_may_lead(ctx->rm);
    if (ctx->tracked) {
        return tracked_ready(ctx);
    }
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
 * for every partition the fetch looks at, named in this request or not (a
 * caught-up follower that has nothing new to say stays caught up; a
 * session's partitions not looked at are, at its sweeps). */
static void note_progress(struct fetch_ctx *ctx)
{
    uint64_t now = uv_now(ctx->rm->loop);
    for (size_t k = 0; k < ctx->n_work; k++) {
        FetchPartition tmp;
        const FetchPartition *in = part(ctx, k, &tmp);
        int32_t error;
        struct partition *p = leader_for(ctx->rm, in->topic, in->partition,
                                         in->current_leader_epoch, ctx->may_lead, &error);
        ctx->hw_seen[k] = -1;
        ctx->readable[k] = 0;
        /* A fetch offset outside our log is answered OFFSET_OUT_OF_RANGE and
         * proves nothing: a follower ahead of us holds a divergent tail,
         * which must never count towards the high watermark. */
        bool in_log = p != NULL && in->fetch_offset <= partition_log_end(p) &&
                      in->fetch_offset >= partition_log_start(p);
        int64_t log_start =
            ctx->req->version >= REPLICA_FETCH_VERSION_LOG_START ? in->log_start_offset : -1;
        if (in_log && partition_follower_fetched(p, ctx->req->replica_id, ctx->req->broker_epoch,
                                                 in->fetch_offset, log_start, now)) {
            replica_isr_expand(ctx->rm, p, ctx->req->replica_id);
        }
        if (p != NULL) {
            ctx->hw_seen[k] = partition_high_watermark(p);
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

/* How often a session's fetches look at every one of its partitions
 * however little changed: it records the follower's progress on the
 * partitions it did not name (its caught-up time must stay well inside
 * replica.lag.time.max.ms), and is the backstop for any change the
 * journal missed. */
static uint64_t sweep_interval_ms(const struct replica_manager *rm)
{
    uint64_t every = (uint64_t)rm->cfg->replica_lag_time_max_ms / 4;
    return every > SESSION_SWEEP_MAX_MS ? SESSION_SWEEP_MAX_MS : every > 0 ? every : 1;
}

/* Read each partition's slot into the view (the session's layout or the
 * hosted partitions changed); false without memory. */
static bool view_rebuild(struct fetch_ctx *ctx, struct session_view *v)
{
    struct replica_manager *rm = ctx->rm;
    size_t n = ctx->sess.n_partitions;
    size_t cap = n ? n : 1;
    uint32_t *map = calloc(rm->n_slots ? rm->n_slots : 1, sizeof *map);
    size_t *carry = realloc(v->carry, cap * sizeof *carry);
    if (carry != NULL) {
        v->carry = carry;
    }
    uint32_t *mark = realloc(v->mark, cap * sizeof *mark);
    if (mark != NULL) {
        v->mark = mark;
    }
    size_t *work_index = realloc(v->work_index, cap * sizeof *work_index);
    if (work_index != NULL) {
        v->work_index = work_index;
    }
    if (map == NULL || carry == NULL || mark == NULL || work_index == NULL) {
        free(map);
        v->layout = 0; /* built for nothing */
        return false;
    }
    free(v->index_of_slot);
    v->index_of_slot = map;
    v->n_slots = rm->n_slots;
    v->n = n;
    v->n_carry = 0;
    v->stamp = 0;
    memset(v->mark, 0, cap * sizeof *v->mark);
    v->untracked = false;
    for (size_t i = 0; i < n; i++) {
        FetchPartition tmp;
        replica_session_part(rm->fetch_sessions, &ctx->sess, i, &tmp, NULL);
        struct partition *p = replica_manager_partition(rm, tmp.topic, tmp.partition);
        if (p != NULL && p->journal == NULL) {
            v->untracked = true; /* no slot (no memory): never missed, looked at always */
        } else if (p != NULL && p->slot < v->n_slots) {
            map[p->slot] = (uint32_t)(i + 1);
        }
        /* Not hosted yet: it gets a slot, and the view is rebuilt, once it is. */
    }
    v->layout = ctx->sess.layout;
    v->partitions_gen = rm->partitions_gen;
    v->journal_pos = 0;
    v->sweep_next = 0;
    return true;
}

/* The session's view, made on its first fetch; NULL without memory. */
static struct session_view *view_get(struct fetch_ctx *ctx)
{
    void **state = replica_session_state(ctx->rm->fetch_sessions, &ctx->sess);
    if (state == NULL) {
        return NULL;
    }
    if (*state == NULL) {
        *state = calloc(1, sizeof(struct session_view));
    }
    struct session_view *v = *state;
    if (v != NULL && view_stale(ctx, v)) {
        if (!view_rebuild(ctx, v)) {
            return NULL;
        }
    }
    return v;
}

/* Every partition of the set (sessionless, a new session, a sweep, or the
 * view lost track); false without memory. */
static bool work_all(struct fetch_ctx *ctx, struct session_view *v)
{
    size_t n = ctx->sess.n_partitions;
    if (!work_reserve(ctx, n)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        ctx->work[i] = i;
        if (v != NULL) {
            v->mark[i] = v->stamp;
            v->work_index[i] = i;
        }
    }
    ctx->n_work = n;
    return true;
}

/* Add the session's partitions the sweep has reached by `now`; false
 * without memory. The sweep walks them at an even pace, all of them in each
 * sweep_interval_ms, so each fetch looks at its share: a fetch that looked
 * at all of them at once stalled the loop for 2-3 ms at 5,000 partitions,
 * twice per sweep interval on every node (each leader has a session per
 * follower), and delayed every acks=all record in flight.
 *
 * The guarantee: a partition is looked at again within the interval plus
 * the gap between two of the session's fetches. So a round starts when the
 * last one was due to end (sweep_start_ms + interval), not when the fetch
 * that ended it came: that fetch may come a gap late, and a partition the
 * last round reached early would then wait for the next round's fetch a
 * gap late again, two gaps in all (an idle follower dropped from the ISR
 * once its fetches turned sparse). A fetch that finds a whole round due
 * past the one it ends looks at every partition, and the next round starts
 * with it. */
static bool sweep_some(struct fetch_ctx *ctx, struct session_view *v, uint64_t now)
{
    uint64_t interval = sweep_interval_ms(ctx->rm);
    size_t n = v->n;
    for (int round = 0; round < 2; round++) {
        uint64_t elapsed = now - v->sweep_start_ms;
        if (n == 0 || elapsed >= 2 * interval) {
            for (size_t i = 0; i < n; i++) {
                if (!work_add(ctx, v, i)) {
                    return false;
                }
            }
            v->sweep_next = 0;
            v->sweep_start_ms = now;
            return true;
        }
        size_t due = elapsed >= interval ? n : (size_t)((uint64_t)n * elapsed / interval);
        for (; v->sweep_next < due; v->sweep_next++) {
            if (!work_add(ctx, v, v->sweep_next)) {
                return false;
            }
        }
        if (v->sweep_next < n) {
            return true;
        }
        /* The round is done; the next began when this one was due to end,
         * less than an interval ago (else the whole next one was due). */
        v->sweep_next = 0;
        v->sweep_start_ms += interval;
    }
    return true;
}

/* What this fetch looks at; false without memory. A session continued,
 * with its view up to date: the partitions named, those carried over,
 * those the journal recorded since its last answer, and the sweep's
 * share. */
static bool choose_work(struct fetch_ctx *ctx)
{
    struct replica_manager *rm = ctx->rm;
    uint64_t now = uv_now(rm->loop);
    ctx->may_lead = replica_manager_may_lead(rm);
    ctx->journal_pos = change_journal_end(&rm->changes);
    struct session_view *v = NULL;
    if (ctx->sess.partitions == NULL && ctx->sess.session_id != 0) {
        v = view_get(ctx);
    }
    ctx->tracked = v != NULL;
    if (v == NULL) {
        return work_all(ctx, NULL);
    }
    v->stamp++;
    bool all = ctx->sess.fresh || v->untracked || v->may_lead != ctx->may_lead ||
               !change_journal_holds(&rm->changes, v->journal_pos);
    v->may_lead = ctx->may_lead;
    if (all) {
        v->sweep_start_ms = now; /* this fetch is a whole sweep */
        v->sweep_next = 0;
        return work_all(ctx, v);
    }
    size_t *named = malloc((ctx->req->n_partitions + 1) * sizeof *named);
    if (named == NULL) {
        return false;
    }
    size_t n_named = replica_session_named(rm->fetch_sessions, &ctx->sess, ctx->req, named);
    bool ok = true;
    for (size_t k = 0; ok && k < n_named; k++) {
        ok = work_add(ctx, v, named[k]);
    }
    free(named);
    for (size_t k = 0; ok && k < v->n_carry; k++) {
        ok = work_add(ctx, v, v->carry[k]);
    }
    uint64_t end = change_journal_end(&rm->changes);
    for (uint64_t seq = v->journal_pos; ok && seq < end; seq++) {
        uint32_t slot = change_journal_at(&rm->changes, seq);
        if (slot < v->n_slots && v->index_of_slot[slot] != 0) {
            ok = work_add(ctx, v, v->index_of_slot[slot] - 1);
        }
    }
    return ok && sweep_some(ctx, v, now);
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
                                       false, &ctx->sess) != 0) {
        log_warn("replica", "no memory for the fetch session of replica=%d session=%d",
                 req->replica_id, req->session_id);
    }
    if (ctx->sess.error != 0) {
        respond_session_error(ctx);
        return -1;
    }
    rm->fetch_stats.served += ctx->sess.n_partitions;
    if (!choose_work(ctx)) {
        rpc_call_fail(ctx->call, RPC_ERROR_INTERNAL, "out of memory");
        fetch_ctx_free(ctx);
        return -1;
    }
    return 0;
}

/* Park the fetch until what it looks at changes: a tracked one on the
 * journal of changes, an untracked one on each of its partitions. */
static int park(struct fetch_ctx *ctx)
{
    struct replica_manager *rm = ctx->rm;
    if (ctx->tracked) {
        if (delayed_op_init(&ctx->op, 1, fetch_ready, fetch_complete, ctx) != 0) {
            return -ENOMEM;
        }
        ctx->journal_pos = change_journal_end(&rm->changes);
        delayed_op_watch(&ctx->op, &rm->changes.waiters);
    } else {
        size_t n = ctx->n_work;
        if ((ctx->watched = calloc(n ? n : 1, sizeof *ctx->watched)) == NULL ||
            delayed_op_init(&ctx->op, n, fetch_ready, fetch_complete, ctx) != 0) {
            return -ENOMEM;
        }
        size_t n_watched = 0;
        for (size_t k = 0; k < n; k++) {
            FetchPartition tmp;
            const FetchPartition *in = part(ctx, k, &tmp);
            struct partition *p = replica_manager_partition(rm, in->topic, in->partition);
            if (p != NULL) {
                ctx->watched[n_watched++] = k; /* the op's watches are numbered in this order */
                partition_watch(p, &ctx->op);
            }
        }
    }
    replica_manager_park(rm, &ctx->op, ctx->req->max_wait_ms);
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
    if (req->max_wait_ms == 0 || ctx->sess.n_partitions == 0 || fetch_ready_now(ctx) ||
        park(ctx) != 0) {
        respond(ctx);
    }
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
