/* Produce (key 0): append record batches to partition logs.
 *
 * Versions 3-7 are served (record batch v2); 0-2 are advertised for
 * librdkafka's feature detection but answered with UNSUPPORTED_VERSION.
 * acks=0 gets no response; if anything failed the connection is closed
 * instead, which is how Kafka tells an acks=0 producer. acks=-1 (all) behaves
 * as acks=1 until replication exists, and says so once in the log; where the
 * topic's min.insync.replicas asks for more than one copy it is refused with
 * NOT_ENOUGH_REPLICAS (partition_can_ack_all) rather than acknowledged falsely.
 * Idempotent batches (producerId >= 0) are appended without sequence checks:
 * InitProducerId is not advertised, so well-behaved clients carry on without
 * idempotence (franz-go does).
 *
 * The response waits for an fsync only where the topic asks for one
 * (flush.messages, see partition_ack_flush); otherwise it goes at once. */
#include <stdio.h>
#include <stdlib.h>

#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "broker/log/log_errors.h"
#include "common/log.h"
#include "kafka_messages.h"

struct produce_ctx;

/* A partition whose acknowledgement waits for an fsync. */
struct produce_flush {
    struct log_flush_req req;
    struct produce_ctx *ctx;
    struct kafka_produce_response_partition_produce_response *out;
};

/* Malloc'd: outlives the handler while fsyncs are pending. */
struct produce_ctx {
    struct kafka_call *call;
    struct kafka_produce_request req;
    struct kafka_produce_response resp;
    int16_t forced_error; /* answer every partition with this, append nothing */
    bool any_error;
    struct produce_flush *flushes; /* one slot per partition in the request */
    size_t n_flushes, cap_flushes, pending;
};

static void respond(struct produce_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_produce_response_encode(&w, call->header.api_version, &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
    free(ctx->flushes);
    free(ctx);
}

static void on_flushed(struct log_flush_req *req, int status)
{
    struct produce_flush *f = req->data;
    struct produce_ctx *ctx = f->ctx;
    if (status != 0) {
        f->out->error_code = kafka_error_from_log(status);
        f->out->base_offset = -1;
    }
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}

static void wait_durable(struct produce_ctx *ctx, struct partition *p,
                         struct kafka_produce_response_partition_produce_response *out)
{
    if (ctx->req.acks == 0 || ctx->n_flushes == ctx->cap_flushes) {
        return;
    }
    struct produce_flush *f = &ctx->flushes[ctx->n_flushes];
    f->ctx = ctx;
    f->out = out;
    f->req.data = f;
    int rv = partition_ack_flush(p, &f->req, on_flushed);
    if (rv == 1) {
        ctx->n_flushes++;
        ctx->pending++;
    } else if (rv < 0) {
        out->error_code = kafka_error_from_log(rv);
    }
}

static void append_one(struct produce_ctx *ctx, const char *topic,
                       const struct kafka_produce_request_partition_produce_data *in,
                       struct kafka_produce_response_partition_produce_response *out)
{
    kafka_produce_response_partition_produce_response_init(out);
    out->index = in->index;
    out->base_offset = -1;
    out->log_append_time_ms = -1;
    out->log_start_offset = -1;
    out->record_errors_count = 0;
    if (ctx->forced_error != KAFKA_ERROR_NONE) {
        out->error_code = ctx->forced_error;
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
    if (ctx->req.acks == -1 && !partition_can_ack_all(p)) {
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
    wait_durable(ctx, p, out);
}

static int append_topic(struct produce_ctx *ctx,
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
    for (int32_t j = 0; j < np; j++) {
        append_one(ctx, t->name, &t->partition_data[j], &o->partition_responses[j]);
        ctx->any_error |= o->partition_responses[j].error_code != KAFKA_ERROR_NONE;
    }
    return 0;
}

static int append_all(struct produce_ctx *ctx)
{
    int32_t n = ctx->req.topic_data_count > 0 ? ctx->req.topic_data_count : 0;
    size_t partitions = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t np = ctx->req.topic_data[i].partition_data_count;
        partitions += np > 0 ? (size_t)np : 0;
    }
    ctx->flushes = calloc(partitions ? partitions : 1, sizeof *ctx->flushes);
    ctx->cap_flushes = partitions;
    ctx->resp.responses =
        kafka_arena_alloc_array(&ctx->call->arena, (size_t)n, sizeof *ctx->resp.responses);
    if (ctx->flushes == NULL || ctx->resp.responses == NULL) {
        return -1;
    }
    ctx->resp.responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        if (append_topic(ctx, &ctx->req.topic_data[i], &ctx->resp.responses[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

static bool acks_valid(struct kafka_call *call, int16_t acks)
{
    if (acks == -1 && !call->svc->warned_acks_all) {
        call->svc->warned_acks_all = true;
        log_warn("kafka", "acks=all is served as acks=1: replication does not exist yet "
                          "(logged once)");
    }
    return acks == 0 || acks == 1 || acks == -1;
}

static void finish(struct produce_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    if (ctx->req.acks != 0) {
        if (ctx->pending == 0) {
            respond(ctx);
        }
        return; /* else on_flushed responds */
    }
    if (ctx->any_error) {
        kafka_call_fail(call, "acks=0 produce failed: closing so the producer notices");
    } else {
        kafka_call_no_response(call);
    }
    free(ctx->flushes);
    free(ctx);
}

void kafka_handle_produce(struct kafka_call *call)
{
    struct produce_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    int rv = kafka_produce_request_decode(&call->body, call->header.api_version, &ctx->req);
    if (rv != 0) {
        free(ctx);
        kafka_call_bad_request(call, rv);
        return;
    }
    if (call->header.api_version < 3) {
        ctx->forced_error = KAFKA_ERROR_UNSUPPORTED_VERSION; /* message formats v0/v1 */
    } else if (!acks_valid(call, ctx->req.acks)) {
        ctx->forced_error = KAFKA_ERROR_INVALID_REQUIRED_ACKS;
    }
    kafka_produce_response_init(&ctx->resp);
    ctx->resp.throttle_time_ms = 0;
    ctx->resp.responses_count = 0;
    if (append_all(ctx) != 0 && ctx->pending == 0) {
        free(ctx->flushes);
        free(ctx);
        kafka_call_fail(call, "out of memory building produce response");
        return;
    }
    finish(ctx);
}
