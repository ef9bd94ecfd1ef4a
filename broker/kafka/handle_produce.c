/* Produce (key 0): append record batches to partition logs.
 *
 * Versions 3-7 are served (record batch v2); 0-2 are advertised for
 * librdkafka's feature detection but answered with UNSUPPORTED_VERSION.
 * acks=0 gets no response; if anything failed the connection is closed
 * instead, which is how Kafka tells an acks=0 producer. Idempotent batches
 * (producerId >= 0) are checked against the partition's producer state by
 * the log (broker/log/producer_state.h): a retried batch is answered with
 * its original base offset and not written again (and, like any append,
 * acknowledged once the high watermark passes it);
 * OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH as Kafka answers.
 *
 * acks=1 completes at the leader's append. acks=all (-1) is refused before
 * the append with NOT_ENOUGH_REPLICAS when the ISR is smaller than the
 * topic's min.insync.replicas; otherwise it waits, parked in the replica
 * layer's purgatory, until the high watermark passes the batch (then
 * NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below the minimum
 * meanwhile), the partition can no longer be served here (as Kafka's
 * DelayedProduce, kafka_leader_partition: NOT_LEADER_OR_FOLLOWER when
 * leadership moved, UNKNOWN_TOPIC_OR_PARTITION when the topic was deleted,
 * KAFKA_STORAGE_ERROR when its directory failed) or the request's timeout
 * passes (REQUEST_TIMED_OUT). Either kind also waits for the fsync
 * a topic's flush.messages asks for (partition_flush_ready). */
#include <stdio.h>
#include <stdlib.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "common/log.h"
#include "kafka_messages.h"

/* One appended partition whose acknowledgement may have to wait. */
struct produce_wait {
    const char *topic;
    int32_t index;
    int32_t leader_epoch; /* the epoch it was appended in */
    int64_t end;          /* last offset appended + 1 */
    bool done;
    struct kafka_produce_response_partition_produce_response *out;
};

/* Malloc'd: outlives the handler while parked. */
struct produce_ctx {
    struct kafka_call *call;
    struct kafka_produce_request req;
    struct kafka_produce_response resp;
    int16_t forced_error; /* answer every partition with this, append nothing */
    bool any_error;
    struct produce_wait *waits; /* one slot per partition in the request */
    size_t n_waits, cap_waits;
    /* The next partition to append: the handler works in slices of the
     * loop's iteration budget (kafka_request_yield). */
    int32_t topic_at, partition_at;
    int16_t topic_error; /* of topic_at, decided as its first partition came */
    struct delayed_op op;
};

static void ctx_free(struct produce_ctx *ctx)
{
    free(ctx->waits);
    free(ctx);
}

static void respond(struct produce_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_produce_response_encode(&w, call->header.api_version, &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
    ctx_free(ctx);
}

static void wait_fail(struct produce_wait *wt, int16_t error)
{
    wt->done = true;
    wt->out->error_code = error;
    wt->out->base_offset = -1;
}

/* Whether `wt` can be answered now; sets its outcome when so. */
static bool wait_check(struct produce_ctx *ctx, struct produce_wait *wt)
{
    int16_t error;
    struct partition *p = kafka_leader_partition(ctx->call, wt->topic, wt->index, &error);
    if (p == NULL) {
        wait_fail(wt, error); /* as Kafka's DelayedProduce: the topic may be gone */
        return true;
    }
    if (p->leader_epoch != wt->leader_epoch) {
        wait_fail(wt, KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER);
        return true;
    }
    if (ctx->req.acks == -1) {
        if (partition_high_watermark(p) < wt->end) {
            return false;
        }
        if (p->n_isr < p->min_insync_replicas) {
            wait_fail(wt, KAFKA_ERROR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
            return true;
        }
    }
    int rv = partition_flush_ready(p, wt->end);
    if (rv == 1) {
        return false;
    }
    if (rv < 0) {
        wait_fail(wt, kafka_error_from_log(rv));
    }
    wt->done = true;
    return true;
}

static bool produce_ready(struct delayed_op *op)
{
    struct produce_ctx *ctx = op->data;
    bool all = true;
    for (size_t i = 0; i < ctx->n_waits; i++) {
        if (!ctx->waits[i].done) {
            all &= wait_check(ctx, &ctx->waits[i]);
        }
    }
    return all;
}

static void produce_complete(struct delayed_op *op, bool expired)
{
    struct produce_ctx *ctx = op->data;
    delayed_op_free(op);
    if (expired) {
        produce_ready(op); /* a last look: what is ready now is answered as such */
        for (size_t i = 0; i < ctx->n_waits; i++) {
            if (!ctx->waits[i].done) {
                wait_fail(&ctx->waits[i], KAFKA_ERROR_REQUEST_TIMED_OUT);
            }
        }
    }
    respond(ctx);
}

static void append_one(struct produce_ctx *ctx, const char *topic, int16_t topic_error,
                       const struct kafka_produce_request_partition_produce_data *in,
                       struct kafka_produce_response_partition_produce_response *out)
{
    kafka_produce_response_partition_produce_response_init(out);
    out->index = in->index;
    out->base_offset = -1;
    out->log_append_time_ms = -1;
    out->log_start_offset = -1;
    out->record_errors_count = 0;
    if (ctx->forced_error != KAFKA_ERROR_NONE || topic_error != KAFKA_ERROR_NONE) {
        out->error_code = ctx->forced_error != KAFKA_ERROR_NONE ? ctx->forced_error : topic_error;
        return;
    }
    struct partition *p = kafka_leader_partition(ctx->call, topic, in->index, &out->error_code);
    if (p == NULL) {
        return;
    }
    if (in->records.len <= 0 || in->records.data == NULL) {
        out->error_code = KAFKA_ERROR_CORRUPT_MESSAGE;
        return;
    }
    if (ctx->req.acks == -1 && p->n_isr < p->min_insync_replicas) {
        out->error_code = KAFKA_ERROR_NOT_ENOUGH_REPLICAS;
        return;
    }
    struct log_append_info info;
    /* The records point into the request frame, which this call owns: the
     * log rewrites baseOffset and leader epoch in place there. */
    int rv = partition_append(p, (uint8_t *)in->records.data, (size_t)in->records.len, &info);
    if (rv != 0) {
        out->error_code = kafka_error_from_log(rv);
        log_info("kafka", "produce rejected topic=%s partition=%d peer=%s error=%s reason=\"%s\"",
                 topic, in->index, kafka_conn_peer(ctx->call->req->conn),
                 kafka_error_name(out->error_code), info.reason);
        return;
    }
    out->error_code = KAFKA_ERROR_NONE;
    out->base_offset = info.first_offset;
    out->log_append_time_ms = info.log_append_time;
    out->log_start_offset = info.log_start_offset;
    if (ctx->req.acks != 0 && ctx->n_waits < ctx->cap_waits) {
        ctx->waits[ctx->n_waits++] = (struct produce_wait){
            topic, in->index, p->leader_epoch, info.last_offset + 1, false, out};
    }
}

static int topic_response_init(struct produce_ctx *ctx,
                               const struct kafka_produce_request_topic_produce_data *t,
                               struct kafka_produce_response_topic_produce_response *o)
{
    kafka_produce_response_topic_produce_response_init(o);
    int32_t np = t->partition_data_count > 0 ? t->partition_data_count : 0;
    o->name = t->name;
    o->partition_responses =
        kafka_arena_alloc_array(&ctx->call->arena, (size_t)np, sizeof(*o->partition_responses));
    if (o->partition_responses == NULL) {
        return -1;
    }
    o->partition_responses_count = np;
    return 0;
}

/* Append the partitions from the cursor on, until all are done (false) or
 * the loop's iteration budget is spent after at least one (true: yield).
 * Validation inflates compressed batches on the loop, each bounded by
 * max.message.bytes and a partition's record set by
 * LOG_APPEND_INFLATE_MULTIPLE of it (log_append.h), but one request may
 * carry thousands of partitions; their appends spread over iterations.
 * Each partition's leadership and epoch are checked as it is appended
 * (append_one), so a slice after a pause sees the state of then. */
static bool append_some(struct produce_ctx *ctx)
{
    bool first = true;
    for (; ctx->topic_at < ctx->resp.responses_count; ctx->topic_at++, ctx->partition_at = 0) {
        const struct kafka_produce_request_topic_produce_data *t =
            &ctx->req.topic_data[ctx->topic_at];
        struct kafka_produce_response_topic_produce_response *o =
            &ctx->resp.responses[ctx->topic_at];
        if (ctx->partition_at == 0) {
            /* Kafka: WRITE on the topic (a transactional id was checked before). */
            ctx->topic_error =
                kafka_authorize(ctx->call, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, t->name ? t->name : "")
                    ? KAFKA_ERROR_NONE
                    : KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        }
        for (; ctx->partition_at < o->partition_responses_count; ctx->partition_at++) {
            if (!first && kafka_request_budget_spent(ctx->call->req)) {
                return true;
            }
            first = false;
            int32_t j = ctx->partition_at;
            append_one(ctx, t->name, ctx->topic_error, &t->partition_data[j],
                       &o->partition_responses[j]);
            ctx->any_error |= o->partition_responses[j].error_code != KAFKA_ERROR_NONE;
        }
    }
    return false;
}

static int responses_init(struct produce_ctx *ctx)
{
    int32_t n = ctx->req.topic_data_count > 0 ? ctx->req.topic_data_count : 0;
    size_t partitions = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t np = ctx->req.topic_data[i].partition_data_count;
        partitions += np > 0 ? (size_t)np : 0;
    }
    ctx->waits = calloc(partitions ? partitions : 1, sizeof *ctx->waits);
    ctx->cap_waits = partitions;
    ctx->resp.responses =
        kafka_arena_alloc_array(&ctx->call->arena, (size_t)n, sizeof *ctx->resp.responses);
    if (ctx->waits == NULL || ctx->resp.responses == NULL) {
        return -1;
    }
    for (int32_t i = 0; i < n; i++) {
        if (topic_response_init(ctx, &ctx->req.topic_data[i], &ctx->resp.responses[i]) != 0) {
            return -1;
        }
    }
    ctx->resp.responses_count = n;
    return 0;
}

/* Answer now, or park until every appended partition may be acknowledged. */
static void finish(struct produce_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    if (ctx->req.acks == 0) {
        if (ctx->any_error) {
            kafka_call_fail(call, "acks=0 produce failed: closing so the producer notices");
        } else {
            kafka_call_no_response(call);
        }
        ctx_free(ctx);
        return;
    }
    if (produce_ready(&ctx->op)) {
        respond(ctx);
        return;
    }
    if (delayed_op_init(&ctx->op, ctx->n_waits, produce_ready, produce_complete, ctx) != 0) {
        for (size_t i = 0; i < ctx->n_waits; i++) {
            if (!ctx->waits[i].done) {
                wait_fail(&ctx->waits[i], KAFKA_ERROR_REQUEST_TIMED_OUT);
            }
        }
        respond(ctx);
        return;
    }
    struct replica_manager *rm = call->svc->replicas;
    for (size_t i = 0; i < ctx->n_waits; i++) {
        struct partition *p =
            replica_manager_partition(rm, ctx->waits[i].topic, ctx->waits[i].index);
        if (p != NULL && !ctx->waits[i].done) {
            partition_watch(p, &ctx->op);
        }
    }
    int32_t timeout = ctx->req.timeout_ms > 0 ? ctx->req.timeout_ms : 0;
    replica_manager_park(rm, &ctx->op, (uint64_t)timeout);
}

/* The broker is stopping (kafka_conn_abort) while the handler waited to go
 * on: the partitions not appended yet are not, and nobody hears the
 * answer. A connection that merely closed resumes the handler instead, so
 * the request is processed to the end as Kafka does. */
static void produce_cancel(struct kafka_request *req)
{
    struct produce_ctx *ctx = req->data;
    log_debug("kafka", "produce cancelled: broker stopping correlation_id=%d",
              ctx->call->header.correlation_id);
    kafka_call_no_response(ctx->call);
    ctx_free(ctx);
}

static void produce_continue(struct kafka_request *req)
{
    struct produce_ctx *ctx = req->data;
    if (append_some(ctx)) {
        kafka_request_yield(req, produce_continue, produce_cancel);
        return;
    }
    finish(ctx);
}

void kafka_handle_produce(struct kafka_call *call)
{
    struct produce_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    ctx->op.data = ctx;
    int rv = kafka_produce_request_decode(&call->body, call->header.api_version, &ctx->req);
    if (rv != 0) {
        free(ctx);
        kafka_call_bad_request(call, rv);
        return;
    }
    if (call->header.api_version < 3) {
        ctx->forced_error = KAFKA_ERROR_UNSUPPORTED_VERSION; /* message formats v0/v1 */
    } else if (ctx->req.acks != 0 && ctx->req.acks != 1 && ctx->req.acks != -1) {
        ctx->forced_error = KAFKA_ERROR_INVALID_REQUIRED_ACKS;
    } else if (ctx->req.transactional_id != NULL &&
               !kafka_authorize(call, ACL_OP_WRITE, ACL_RESOURCE_TRANSACTIONAL_ID,
                                ctx->req.transactional_id)) {
        ctx->forced_error = KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    }
    kafka_produce_response_init(&ctx->resp);
    ctx->resp.throttle_time_ms = 0;
    ctx->resp.responses_count = 0;
    if (responses_init(ctx) != 0) {
        ctx_free(ctx);
        kafka_call_fail(call, "out of memory building produce response");
        return;
    }
    call->req->data = ctx;
    produce_continue(call->req);
}
