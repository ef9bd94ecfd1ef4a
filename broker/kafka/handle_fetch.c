/* Fetch (key 1): read record batches below the high watermark.
 *
 * - At least one whole batch (the first partition with data may exceed
 *   partition_max_bytes and max_bytes, KIP-74); later partitions stop at
 *   those limits.
 * - Long poll: with less than min_bytes available and max_wait_ms > 0 the
 *   request parks as a delayed operation on its partitions, re-examined only
 *   when one of them appends (no polling), answered at the deadline at last.
 *   A wake re-reads only the partition that changed (each partition's
 *   readable bytes are kept), so a fetch of thousands of partitions costs
 *   one partition per append, not thousands. max_wait_ms is clamped to
 *   request.timeout.ms, and a parked fetch whose connection closes lets go
 *   of its request at once (issue 11: it pinned memory until its deadline).
 * - A new leader whose high watermark has not reached the start of its
 *   epoch answers NOT_LEADER_OR_FOLLOWER (retriable) rather than a high
 *   watermark below one the old leader may have shown (KIP-207 for Fetch).
 * - isolation_level=1 (read_committed, KIP-98): records only below the last
 *   stable offset (partition_last_stable_offset: no open transaction's
 *   records, none whose marker is not yet replicated), and the aborted
 *   transactions (producer id, first offset) overlapping the returned range
 *   from the segments' .txnindex, at most FETCH_MAX_ABORTED per partition, so
 *   the client drops their records. last_stable_offset is answered at both
 *   levels; read_uncommitted reads up to the high watermark as before. A
 *   parked read_committed fetch wakes on the high watermark moves that move
 *   the LSO.
 * - Incremental fetch sessions (KIP-227, v7+; fetch_session.h): a request
 *   in a session names only what changed, and the answer carries only the
 *   partitions with records or changed offsets or errors.
 * - v12+ (KIP-320): a consumer that names the epoch of the last batch it
 *   fetched (last_fetched_epoch) and whose position lies past where that
 *   epoch ends in our log gets that end as diverging_epoch and no records,
 *   so it truncates rather than reading on over a log that is not ours.
 * - Record bytes are never copied: the response carries splice points that
 *   the connection sends with sendfile from the segment files. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/fetch_session.h"
#include "broker/log/txn_index.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

/* Aborted transactions listed per partition and response: the client needs
 * only those overlapping the records returned, which a fetch bounds. More
 * than this in one read is answered KAFKA_STORAGE_ERROR (logged) rather than
 * with a list that would let aborted records through. */
#define FETCH_MAX_ABORTED 65536

#define ISOLATION_READ_COMMITTED 1

struct fetch_part {
    const char *topic;
    bool denied; /* no READ on the topic: TOPIC_AUTHORIZATION_FAILED */
    const struct kafka_fetch_request_partition *in;
    size_t readable; /* while parked: bytes a read would return now */
    bool send;       /* goes into the response (an incremental one leaves some out) */
    int16_t error;
    int64_t high_watermark, log_start, last_stable;
    struct partition *partition; /* while collected: for the aborted list */
    bool diverged;
    struct leader_epoch_end diverging; /* when diverged */
    struct log_read_result read;
    struct kafka_file_slice slice;
};

struct fetch_ctx {
    struct kafka_call *call;
    struct kafka_fetch_request req;
    struct fetch_part *parts;
    size_t n_parts;
    size_t bytes;
    bool has_error;
    struct delayed_op op;
    struct fetch_session_use session;
    size_t *watched; /* part index of each watch (delayed_op.fired) */
    size_t readable; /* sum of the parts' readable bytes while parked */
};

static void release_all(struct fetch_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_parts; i++) {
        log_read_result_release(&ctx->parts[i].read);
        memset(&ctx->parts[i].read, 0, sizeof ctx->parts[i].read);
    }
    ctx->bytes = 0;
    ctx->has_error = false;
}

static void read_one(struct fetch_ctx *ctx, struct fetch_part *fp, size_t *budget)
{
    if (fp->denied) {
        fp->error = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        fp->high_watermark = fp->log_start = -1;
        return;
    }
    struct partition *p =
        kafka_leader_partition(ctx->call, fp->topic, fp->in->partition, &fp->error);
    fp->partition = p;
    if (p == NULL) {
        fp->high_watermark = fp->log_start = fp->last_stable = -1;
        return;
    }
    fp->high_watermark = partition_high_watermark(p);
    fp->last_stable = partition_last_stable_offset(p);
    fp->log_start = partition_log_start(p);
    fp->error = kafka_check_leader_epoch(fp->in->current_leader_epoch, p->leader_epoch);
    if (fp->error == KAFKA_ERROR_NONE && !partition_hw_caught_up(p)) {
        /* A new leader whose high watermark is still below what the old
         * one may have shown: answering would move the consumer's high
         * watermark backwards (RELIABILITY.md, E). The client retries in
         * a moment, once the followers have fetched in this epoch. */
        fp->error = KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER;
        fp->high_watermark = fp->last_stable = -1;
    }
    if (fp->error != KAFKA_ERROR_NONE) {
        return;
    }
    if (fp->in->last_fetched_epoch >= 0) {
        /* As Kafka: where that epoch (or the newest one before it) ends. */
        struct leader_epoch_end end =
            partition_log_end_offset_for_epoch(p->log, fp->in->last_fetched_epoch);
        if (end.end_offset == LEADER_EPOCH_UNDEFINED_OFFSET) {
            fp->error = KAFKA_ERROR_OFFSET_OUT_OF_RANGE;
            return;
        }
        if (end.epoch < fp->in->last_fetched_epoch || end.end_offset < fp->in->fetch_offset) {
            fp->diverged = true;
            fp->diverging = end;
            return;
        }
    }
    size_t limit = fp->in->partition_max_bytes > 0 ? (size_t)fp->in->partition_max_bytes : 0;
    limit = limit < *budget ? limit : *budget;
    if (limit == 0 && ctx->bytes > 0) {
        return; /* out of budget: nothing for this partition this time */
    }
    enum partition_reader who = ctx->req.isolation_level == ISOLATION_READ_COMMITTED
                                    ? PARTITION_READ_COMMITTED
                                    : PARTITION_READ_CONSUMER;
    int rv = partition_read(p, who, fp->in->fetch_offset, limit > 0 ? limit : 1, &fp->read);
    if (rv != 0) {
        memset(&fp->read, 0, sizeof fp->read);
        fp->error = kafka_error_from_log(rv);
        return;
    }
    if (fp->read.length > limit && ctx->bytes > 0) {
        /* Only the first partition with data may exceed the limits. */
        log_read_result_release(&fp->read);
        memset(&fp->read, 0, sizeof fp->read);
        return;
    }
    ctx->bytes += fp->read.length;
    *budget -= fp->read.length < *budget ? fp->read.length : *budget;
}

static void collect(struct fetch_ctx *ctx)
{
    release_all(ctx);
    size_t budget = ctx->req.max_bytes > 0 ? (size_t)ctx->req.max_bytes : 0;
    for (size_t i = 0; i < ctx->n_parts; i++) {
        struct fetch_part *fp = &ctx->parts[i];
        fp->error = KAFKA_ERROR_NONE;
        fp->diverged = false;
        read_one(ctx, fp, &budget);
        /* Either answers at once, without waiting for min_bytes. */
        ctx->has_error |= fp->error != KAFKA_ERROR_NONE || fp->diverged;
    }
}

/* The aborted transactions overlapping what `fp` returns. A failure to read
 * the index is answered as a storage error, never as "nothing aborted". */
static void fill_aborted(struct fetch_ctx *ctx, struct fetch_part *fp,
                         struct kafka_fetch_response_partition_data *o)
{
    struct txn_index_entry found[64];
    struct txn_index_entry *e = found;
    size_t n = 0, max = sizeof found / sizeof found[0];
    int rv = partition_log_aborted_txns(fp->partition->log, fp->in->fetch_offset,
                                        fp->read.next_offset, e, max, &n);
    if (rv == 0 && n == max) {
        /* Many aborts in range: once more with room for the bound. */
        e = kafka_arena_alloc_array(&ctx->call->arena, FETCH_MAX_ABORTED, sizeof *e);
        rv = e == NULL ? -ENOMEM
                       : partition_log_aborted_txns(fp->partition->log, fp->in->fetch_offset,
                                                    fp->read.next_offset, e, FETCH_MAX_ABORTED, &n);
    }
    if (rv == 0 && n == FETCH_MAX_ABORTED) {
        log_error("kafka",
                  "too many aborted transactions in one read topic=%s partition=%d offset=%lld",
                  fp->topic, fp->in->partition, (long long)fp->in->fetch_offset);
        rv = -E2BIG;
    }
    if (rv == 0 && n > 0) {
        o->aborted_transactions =
            kafka_arena_alloc_array(&ctx->call->arena, n, sizeof *o->aborted_transactions);
        rv = o->aborted_transactions == NULL ? -ENOMEM : 0;
    }
    if (rv != 0) {
        o->error_code = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        kafka_fetch_response_aborted_transaction_init(&o->aborted_transactions[i]);
        o->aborted_transactions[i].producer_id = e[i].producer_id;
        o->aborted_transactions[i].first_offset = e[i].first_offset;
    }
    o->aborted_transactions_count = (int32_t)n;
}

static void fill_partition(struct fetch_ctx *ctx, struct fetch_part *fp,
                           struct kafka_fetch_response_partition_data *o)
{
    kafka_fetch_response_partition_data_init(o);
    o->partition_index = fp->in->partition;
    o->error_code = fp->error;
    o->high_watermark = fp->high_watermark;
    o->last_stable_offset = fp->last_stable;
    o->log_start_offset = fp->log_start;
    o->aborted_transactions_count = ctx->req.isolation_level == ISOLATION_READ_COMMITTED ? 0 : -1;
    if (fp->read.length > 0 && ctx->req.isolation_level == ISOLATION_READ_COMMITTED &&
        fp->partition != NULL) {
        fill_aborted(ctx, fp, o);
    }
    o->preferred_read_replica = -1;
    if (fp->diverged) {
        o->diverging_epoch.epoch = fp->diverging.epoch;
        o->diverging_epoch.end_offset = fp->diverging.end_offset;
    }
    o->records.data = (const uint8_t *)"";
    o->records.len = 0;
    if (fp->read.length > 0 && o->error_code == KAFKA_ERROR_NONE) {
        fp->slice.fd = fp->read.fd;
        fp->slice.position = fp->read.position;
        o->records.len = (int32_t)fp->read.length;
        o->records.splice_source = &fp->slice;
    }
}

/* Which parts the response carries: all of them, except in an incremental
 * session answer, where the session says what the client already knows. */
static void choose_sent(struct fetch_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_parts; i++) {
        struct fetch_part *fp = &ctx->parts[i];
        fp->send = ctx->session.session_id == 0 || fp->diverged ||
                   fetch_session_should_send(ctx->call->svc->fetch_sessions,
                                             ctx->session.session_id, ctx->session.incremental,
                                             fp->topic, fp->in->partition, fp->high_watermark,
                                             fp->log_start, fp->error, fp->read.length > 0);
    }
}

static int build_response(struct fetch_ctx *ctx, struct kafka_fetch_response *resp)
{
    struct kafka_arena *arena = &ctx->call->arena;
    kafka_fetch_response_init(resp);
    resp->throttle_time_ms = 0;
    resp->error_code = ctx->session.error;
    resp->session_id = ctx->session.session_id;
    choose_sent(ctx);
    int32_t nt = ctx->req.topics_count > 0 ? ctx->req.topics_count : 0;
    resp->responses =
        kafka_arena_alloc_array(arena, nt > 0 ? (size_t)nt : 1, sizeof *resp->responses);
    if (resp->responses == NULL) {
        return -1;
    }
    size_t k = 0, total_sent = 0;
    int32_t out_topics = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_fetch_request_topic *t = &ctx->req.topics[i];
        int32_t np = t->partitions_count > 0 ? t->partitions_count : 0, sent = 0;
        for (int32_t j = 0; j < np; j++) {
            sent += ctx->parts[k + (size_t)j].send;
        }
        total_sent += (size_t)sent;
        if (sent == 0 && ctx->session.incremental) {
            k += (size_t)np;
            continue;
        }
        struct kafka_fetch_response_fetchable_topic_response *o = &resp->responses[out_topics++];
        kafka_fetch_response_fetchable_topic_response_init(o);
        o->topic = t->topic;
        o->partitions = kafka_arena_alloc_array(arena, (size_t)sent, sizeof *o->partitions);
        if (o->partitions == NULL) {
            return -1;
        }
        o->partitions_count = sent;
        int32_t m = 0;
        for (int32_t j = 0; j < np; j++, k++) {
            if (ctx->parts[k].send) {
                fill_partition(ctx, &ctx->parts[k], &o->partitions[m++]);
            }
        }
    }
    resp->responses_count = out_topics;
    if (ctx->session.session_id != 0) {
        /* Tests read these to see sessions at work. */
        log_debug("kafka", "fetch session answer session_id=%d incremental=%d partitions=%zu",
                  ctx->session.session_id, ctx->session.incremental, total_sent);
    }
    return 0;
}

static void ctx_free(struct fetch_ctx *ctx)
{
    release_all(ctx);
    free(ctx->watched);
    free(ctx->parts);
    free(ctx);
}

static void respond(struct fetch_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    call->req->on_cancel = NULL;
    struct kafka_fetch_response resp;
    if (build_response(ctx, &resp) != 0) {
        release_all(ctx);
        kafka_call_fail(call, "out of memory building fetch response");
        return;
    }
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_fetch_response_encode(&w, call->header.api_version, &resp);
    }
    /* The response dups the segment descriptors; then our references go.
     * ctx and parts are malloc'd: they outlive the call (and its arena). */
    kafka_call_finish_response(call, &w, rv);
    ctx_free(ctx);
}

/* What part `i` alone would return now (its first batch even beyond the
 * limits, as the first partition with data may), or an error. */
static void probe(struct fetch_ctx *ctx, size_t i)
{
    struct fetch_part *fp = &ctx->parts[i];
    size_t bytes = ctx->bytes, budget = SIZE_MAX;
    ctx->bytes = 0;
    fp->error = KAFKA_ERROR_NONE;
    fp->diverged = false;
    read_one(ctx, fp, &budget);
    ctx->readable -= fp->readable;
    fp->readable = fp->error == KAFKA_ERROR_NONE ? fp->read.length : 0;
    ctx->readable += fp->readable;
    ctx->has_error |= fp->error != KAFKA_ERROR_NONE || fp->diverged;
    log_read_result_release(&fp->read);
    memset(&fp->read, 0, sizeof fp->read);
    ctx->bytes = bytes;
}

/* One of the watched partitions changed: re-read that one only. */
static bool fetch_ready(struct delayed_op *op)
{
    struct fetch_ctx *ctx = op->data;
    probe(ctx, ctx->watched[op->fired]);
    return ctx->has_error || ctx->readable >= (size_t)ctx->req.min_bytes;
}

/* The connection closed while the fetch was parked. */
static void fetch_cancel(struct kafka_request *req)
{
    struct fetch_ctx *ctx = req->data;
    log_debug("kafka", "fetch cancelled: connection closed correlation_id=%d",
              ctx->call->header.correlation_id);
    delayed_op_cancel(&ctx->op);
    delayed_op_free(&ctx->op);
    kafka_call_no_response(ctx->call);
    ctx_free(ctx);
}

static void fetch_complete(struct delayed_op *op, bool expired)
{
    (void)expired;
    struct fetch_ctx *ctx = op->data;
    delayed_op_free(op);
    collect(ctx);
    respond(ctx);
}

/* One fetch_part per requested partition, in request order. */
static int plan(struct fetch_ctx *ctx)
{
    size_t n = 0;
    for (int32_t i = 0; i < ctx->req.topics_count; i++) {
        int32_t np = ctx->req.topics[i].partitions_count;
        n += np > 0 ? (size_t)np : 0;
    }
    ctx->parts = calloc(n ? n : 1, sizeof *ctx->parts);
    if (ctx->parts == NULL) {
        return -1;
    }
    ctx->n_parts = n;
    size_t k = 0;
    for (int32_t i = 0; i < ctx->req.topics_count; i++) {
        const struct kafka_fetch_request_topic *t = &ctx->req.topics[i];
        bool denied =
            t->partitions_count > 0 && !kafka_authorize(ctx->call, ACL_OP_READ, ACL_RESOURCE_TOPIC,
                                                        t->topic != NULL ? t->topic : "");
        for (int32_t j = 0; j < t->partitions_count; j++) {
            ctx->parts[k].denied = denied;
            ctx->parts[k].topic = t->topic;
            ctx->parts[k++].in = &t->partitions[j];
        }
    }
    return 0;
}

/* Park the fetch on every partition it reads until enough data arrives. */
static int wait_for_data(struct fetch_ctx *ctx)
{
    if ((ctx->watched = calloc(ctx->n_parts, sizeof *ctx->watched)) == NULL) {
        return -1;
    }
    if (delayed_op_init(&ctx->op, ctx->n_parts, fetch_ready, fetch_complete, ctx) != 0) {
        return -1;
    }
    /* Tests wait for this line instead of sleeping and hoping it parked; the
     * loop handles nothing else before the fetch is parked below. */
    log_debug("kafka", "fetch parked correlation_id=%d partitions=%zu max_wait_ms=%d",
              ctx->call->header.correlation_id, ctx->n_parts, ctx->req.max_wait_ms);
    struct replica_manager *rm = ctx->call->svc->replicas;
    size_t n_watched = 0;
    for (size_t i = 0; i < ctx->n_parts; i++) {
        struct partition *p =
            replica_manager_partition(rm, ctx->parts[i].topic, ctx->parts[i].in->partition);
        if (p != NULL) {
            ctx->watched[n_watched++] = i; /* delayed_op.fired numbers watches so */
            partition_watch(p, &ctx->op);
        }
    }
    ctx->call->req->data = ctx;
    ctx->call->req->on_cancel = fetch_cancel;
    replica_manager_park(rm, &ctx->op, (uint64_t)ctx->req.max_wait_ms);
    return 0;
}

void kafka_handle_fetch(struct kafka_call *call)
{
    struct fetch_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    int rv = kafka_fetch_request_decode(&call->body, call->header.api_version, &ctx->req);
    if (rv != 0) {
        free(ctx);
        kafka_call_bad_request(call, rv);
        return;
    }
    if (ctx->req.min_bytes < 0) {
        ctx->req.min_bytes = 0;
    }
    if (ctx->req.max_wait_ms > call->svc->cfg->request_timeout_ms) {
        ctx->req.max_wait_ms = call->svc->cfg->request_timeout_ms;
    }
    if (call->header.api_version >= 7 && call->svc->fetch_sessions != NULL &&
        fetch_session_resolve(call->svc->fetch_sessions, &ctx->req, &call->arena,
                              uv_now(call->svc->loop), &ctx->session) != 0) {
        log_warn("kafka", "out of memory for a fetch session: answering without one");
    }
    if (ctx->session.error != KAFKA_ERROR_NONE) {
        ctx->req.topics_count = 0; /* the error alone; the client starts over */
    }
    if (plan(ctx) != 0) {
        free(ctx);
        kafka_call_fail(call, "out of memory");
        return;
    }
    collect(ctx);
    bool now = ctx->has_error || ctx->req.max_wait_ms <= 0 || ctx->n_parts == 0 ||
               ctx->bytes >= (size_t)ctx->req.min_bytes;
    if (!now) {
        ctx->readable = 0;
        for (size_t i = 0; i < ctx->n_parts; i++) {
            ctx->parts[i].readable = ctx->parts[i].read.length;
            ctx->readable += ctx->parts[i].readable;
        }
        release_all(ctx);
        if (wait_for_data(ctx) == 0) {
            return;
        }
        collect(ctx);
    }
    respond(ctx);
}
