/* DeleteRecords (key 21): move a partition's log start offset forward; -1
 * means the high watermark. Offsets above it are OFFSET_OUT_OF_RANGE.
 *
 * The leader moves its own log start at once, then each partition waits
 * for two things before it is answered:
 *   - the new log start is in the log directory's checkpoint file, so a
 *     crash never brings back records a client was told are gone; those
 *     files are written on the thread pool, never on the loop (one write
 *     serves every partition of a directory);
 *   - Kafka's low watermark (ReplicaManager.deleteRecords and
 *     DelayedDeleteRecords; partition_low_watermark) reaches the offset:
 *     the lowest log start over the leader and every replica on a live
 *     broker, which followers move up to the leader's from their fetch
 *     answers and report in their next fetch. The request parks in the
 *     replica layer's purgatory for this, up to its timeout_ms; a partition
 *     still short of it then answers REQUEST_TIMED_OUT. One that can no
 *     longer be served here answers at once as Kafka's getPartitionOrError
 *     (kafka_leader_partition): NOT_LEADER_OR_FOLLOWER when leadership
 *     moved (or the replica moved away), UNKNOWN_TOPIC_OR_PARTITION when
 *     the topic was deleted, KAFKA_STORAGE_ERROR when its directory
 *     failed. The answer's low_watermark is the low
 *     watermark when the partition completed (>= the offset).
 * The connection writes answers in request order whenever they complete. */
#include <stdlib.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/partition_walk.h"
#include "broker/replica/replica_liveness.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct delete_ctx;

/* One partition the answer waits for; in the call's arena. */
struct partition_wait {
    struct log_checkpoint_waiter w;
    struct delete_ctx *ctx;
    const char *topic; /* the request's, valid while the call lives */
    int32_t index;
    int64_t target; /* the offset asked for, -1 resolved */
    bool done;      /* out holds the partition's answer */
    struct kafka_delete_records_response_partition_result *out;
};

/* The request while it waits; in the call's arena (the op's watch list is
 * malloc'd by delayed_op_init, freed as it completes). */
struct delete_ctx {
    struct kafka_call *call;
    int32_t timeout_ms;
    struct kafka_delete_records_response resp;
    struct partition_wait **waits; /* one slot per partition in the request */
    size_t n_waits, cap_waits;
    size_t pending; /* partitions whose checkpoint write has not completed */
    bool failed;    /* the arena ran out: fail the call once none waits */
    struct delayed_op op;
};

static void respond(struct delete_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_delete_records_response_encode(&w, call->header.api_version, &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void wait_fail(struct partition_wait *pw, int16_t error)
{
    pw->done = true;
    pw->out->error_code = error;
    pw->out->low_watermark = -1;
}

/* Whether `pw` can be answered now; sets its outcome when so
 * (DelayedDeleteRecords.tryComplete). Parked, it is asked again whenever
 * its partition changes, goes (deleted, moved away, its directory failed)
 * or a broker holding one of its replicas is fenced or comes back. */
static bool wait_check(struct delete_ctx *ctx, struct partition_wait *pw)
{
    int16_t error;
    struct partition *p = kafka_leader_partition(ctx->call, pw->topic, pw->index, &error);
    if (p == NULL) {
        wait_fail(pw, error);
        return true;
    }
    int64_t low = replica_low_watermark(ctx->call->svc->replicas, p);
    if (low < pw->target) {
        return false;
    }
    pw->done = true;
    pw->out->low_watermark = low;
    return true;
}

static bool delete_ready(struct delayed_op *op)
{
    struct delete_ctx *ctx = op->data;
    bool all = true;
    for (size_t i = 0; i < ctx->n_waits; i++) {
        if (!ctx->waits[i]->done) {
            all &= wait_check(ctx, ctx->waits[i]);
        }
    }
    return all;
}

static void time_out_the_rest(struct delete_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_waits; i++) {
        if (!ctx->waits[i]->done) {
            wait_fail(ctx->waits[i], KAFKA_ERROR_REQUEST_TIMED_OUT);
        }
    }
}

static void delete_complete(struct delayed_op *op, bool expired)
{
    struct delete_ctx *ctx = op->data;
    delayed_op_free(op);
    if (expired) {
        delete_ready(op); /* a last look: what is ready now is answered as such */
        time_out_the_rest(ctx);
    }
    respond(ctx);
}

/* Every log start is durable: answer now, or park until the low watermarks
 * reach the offsets asked for. */
static void wait_low_watermarks(struct delete_ctx *ctx)
{
    if (delete_ready(&ctx->op)) {
        respond(ctx);
        return;
    }
    if (delayed_op_init(&ctx->op, ctx->n_waits, delete_ready, delete_complete, ctx) != 0) {
        time_out_the_rest(ctx);
        respond(ctx);
        return;
    }
    struct replica_manager *rm = ctx->call->svc->replicas;
    for (size_t i = 0; i < ctx->n_waits; i++) {
        struct partition_wait *pw = ctx->waits[i];
        struct partition *p = replica_manager_partition(rm, pw->topic, pw->index);
        if (p != NULL && !pw->done) {
            partition_watch(p, &ctx->op);
        }
    }
    int32_t timeout = ctx->timeout_ms > 0 ? ctx->timeout_ms : 0;
    replica_manager_park(rm, &ctx->op, (uint64_t)timeout);
}

static void on_durable(struct log_checkpoint_waiter *w, int status)
{
    struct partition_wait *pw = w->data;
    struct delete_ctx *ctx = pw->ctx;
    if (status < 0) {
        /* Not known to be on disk: the client must not count them gone. */
        wait_fail(pw, KAFKA_ERROR_KAFKA_STORAGE_ERROR);
    }
    if (--ctx->pending == 0) {
        if (ctx->failed) {
            kafka_call_fail(ctx->call, "out of memory");
        } else {
            wait_low_watermarks(ctx);
        }
    }
}

static void delete_one(struct kafka_call *call, const char *topic,
                       const struct kafka_delete_records_request_partition *in,
                       struct kafka_delete_records_response_partition_result *out)
{
    struct delete_ctx *ctx = call->handler_data;
    kafka_delete_records_response_partition_result_init(out);
    out->partition_index = in->partition_index;
    out->low_watermark = -1;
    if (!kafka_authorize(call, ACL_OP_DELETE, ACL_RESOURCE_TOPIC, topic ? topic : "")) {
        out->error_code = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
    struct partition *p =
        kafka_leader_partition(call, topic, in->partition_index, &out->error_code);
    if (p == NULL) {
        return;
    }
    struct partition_wait *pw = kafka_arena_alloc(&call->arena, sizeof *pw);
    if (pw == NULL || ctx->n_waits == ctx->cap_waits) {
        out->error_code = KAFKA_ERROR_UNKNOWN_SERVER_ERROR; /* nothing deleted */
        return;
    }
    *pw = (struct partition_wait){
        .ctx = ctx, .topic = topic, .index = in->partition_index, .out = out};
    pw->w.done = on_durable;
    pw->w.data = pw;
    int rv = partition_delete_records(p, in->offset, &pw->target, &pw->w);
    if (rv < 0) {
        out->error_code = kafka_error_from_log(rv);
        return;
    }
    ctx->waits[ctx->n_waits++] = pw;
    if (rv == 0) {
        ctx->pending++; /* on_durable completes it, never from inside this walk */
    }
}

static size_t partitions_in(const struct kafka_delete_records_request *req)
{
    size_t n = 0;
    for (int32_t i = 0; i < req->topics_count; i++) {
        int32_t np = req->topics[i].partitions_count;
        n += np > 0 ? (size_t)np : 0;
    }
    return n;
}

void kafka_handle_delete_records(struct kafka_call *call)
{
    struct kafka_delete_records_request req;
    int rv = kafka_delete_records_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct delete_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    size_t n = partitions_in(&req);
    struct partition_wait **waits = kafka_arena_alloc_array(&call->arena, n ? n : 1, sizeof *waits);
    if (ctx == NULL || waits == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    *ctx = (struct delete_ctx){
        .call = call, .timeout_ms = req.timeout_ms, .waits = waits, .cap_waits = n};
    ctx->op.data = ctx; /* delete_ready's, before the op is initialised */
    call->handler_data = ctx;
    kafka_delete_records_response_init(&ctx->resp);
    KAFKA_WALK_PARTITIONS(rv, call, &req, &ctx->resp,
                          kafka_delete_records_response_topic_result_init, delete_one);
    if (ctx->pending > 0) {
        /* Waiters hold pointers into the call: it goes on when the last one
         * completes, failed if the arena ran out for later topics. */
        ctx->failed = rv != 0;
        return;
    }
    if (rv != 0) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    wait_low_watermarks(ctx);
}
