/* Produce (key 0): append record batches to partition logs.
 *
 * Versions 3-7 are served (record batch v2); 0-2 are advertised for
 * librdkafka's feature detection but answered with UNSUPPORTED_VERSION.
 * acks=0 gets no response; if anything failed the connection is closed
 * instead, which is how Kafka tells an acks=0 producer. acks=-1 (all) behaves
 * as acks=1 until replication exists, and says so once in the log.
 * Idempotent batches (producerId >= 0) are appended without sequence checks:
 * InitProducerId is not advertised, so well-behaved clients carry on without
 * idempotence (franz-go does). */
#include <stdio.h>

#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "broker/log/log_errors.h"
#include "common/log.h"
#include "kafka_messages.h"

struct produce_ctx {
    struct kafka_call *call;
    const struct kafka_produce_request *req;
    int16_t forced_error; /* answer every partition with this, append nothing */
    bool any_error;
};

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
    struct partition *p = replica_manager_partition(ctx->call->svc->replicas, topic, in->index);
    if (p == NULL) {
        out->error_code = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (in->records.len <= 0 || in->records.data == NULL) {
        out->error_code = KAFKA_ERROR_CORRUPT_MESSAGE;
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
}

static int append_all(struct produce_ctx *ctx, struct kafka_produce_response *resp)
{
    const struct kafka_produce_request *req = ctx->req;
    struct kafka_arena *arena = &ctx->call->arena;
    int32_t n = req->topic_data_count > 0 ? req->topic_data_count : 0;
    resp->responses = kafka_arena_alloc_array(arena, (size_t)n, sizeof *resp->responses);
    if (resp->responses == NULL) {
        return -1;
    }
    resp->responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        const struct kafka_produce_request_topic_produce_data *t = &req->topic_data[i];
        struct kafka_produce_response_topic_produce_response *o = &resp->responses[i];
        kafka_produce_response_topic_produce_response_init(o);
        int32_t np = t->partition_data_count > 0 ? t->partition_data_count : 0;
        o->name = t->name;
        o->partition_responses =
            kafka_arena_alloc_array(arena, (size_t)np, sizeof(*o->partition_responses));
        if (o->partition_responses == NULL) {
            return -1;
        }
        o->partition_responses_count = np;
        for (int32_t j = 0; j < np; j++) {
            append_one(ctx, t->name, &t->partition_data[j], &o->partition_responses[j]);
            ctx->any_error |= o->partition_responses[j].error_code != KAFKA_ERROR_NONE;
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

void kafka_handle_produce(struct kafka_call *call)
{
    struct kafka_produce_request req;
    int rv = kafka_produce_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct produce_ctx ctx = {call, &req, KAFKA_ERROR_NONE, false};
    if (call->header.api_version < 3) {
        ctx.forced_error = KAFKA_ERROR_UNSUPPORTED_VERSION; /* message formats v0/v1 */
    } else if (!acks_valid(call, req.acks)) {
        ctx.forced_error = KAFKA_ERROR_INVALID_REQUIRED_ACKS;
    }
    struct kafka_produce_response resp;
    kafka_produce_response_init(&resp);
    resp.throttle_time_ms = 0;
    resp.responses_count = 0;
    if (append_all(&ctx, &resp) != 0) {
        kafka_call_fail(call, "out of memory building produce response");
        return;
    }
    if (req.acks == 0) {
        if (ctx.any_error) {
            kafka_call_fail(call, "acks=0 produce failed: closing so the producer notices");
        } else {
            kafka_call_no_response(call);
        }
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_produce_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
