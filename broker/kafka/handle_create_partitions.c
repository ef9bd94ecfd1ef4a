/* CreatePartitions (key 37): grow a topic through the metadata view (with
 * the controller quorum: forwarded to the active controller, KIP-590).
 * Asynchronous: the response goes when every topic has its answer. */
#include <stdio.h>

#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "kafka_messages.h"

static int16_t check_assignments(struct kafka_call *call,
                                 const struct kafka_create_partitions_request_topic *t, char *err,
                                 size_t errlen)
{
    int32_t self = metadata_view_local_node(call->svc->metadata);
    if (t->assignments_count > 0 && metadata_view_broker_count(call->svc->metadata) > 1) {
        snprintf(err, errlen,
                 "Manual replica assignment is not supported yet: let the "
                 "controller place the replicas");
        return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int32_t i = 0; i < t->assignments_count; i++) {
        const struct kafka_create_partitions_request_assignment *a = &t->assignments[i];
        if (a->broker_ids_count != 1 || a->broker_ids[0] != self) {
            snprintf(err, errlen, "Each new partition must be assigned to [%d], the only broker",
                     self);
            return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    return KAFKA_ERROR_NONE;
}

/* The call's state while topics grow (in the call's arena). */
struct partitions_ctx {
    struct kafka_call *call;
    struct kafka_create_partitions_response resp;
    struct metadata_admin_op *ops; /* one per topic */
    int32_t pending;
};

static void respond(struct partitions_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_create_partitions_response_encode(&w, call->header.api_version, &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_grown(struct metadata_admin_op *op)
{
    struct partitions_ctx *ctx = op->data;
    struct kafka_create_partitions_response_topic_result *o = &ctx->resp.results[op - ctx->ops];
    o->error_code = op->error_code;
    o->error_message =
        op->error_code != KAFKA_ERROR_NONE && op->error_message[0] ? op->error_message : NULL;
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}

static void grow_one(struct partitions_ctx *ctx, const struct kafka_create_partitions_request *req,
                     int32_t i)
{
    struct kafka_call *call = ctx->call;
    const struct kafka_create_partitions_request_topic *t = &req->topics[i];
    struct kafka_create_partitions_response_topic_result *o = &ctx->resp.results[i];
    kafka_create_partitions_response_topic_result_init(o);
    o->name = t->name;
    ctx->ops[i].data = ctx;
    char err[256];
    int16_t code = check_assignments(call, t, err, sizeof err);
    if (code != KAFKA_ERROR_NONE) {
        metadata_admin_fail(&ctx->ops[i], on_grown, code, err);
        return;
    }
    uint64_t timeout = req->timeout_ms > 0 ? (uint64_t)req->timeout_ms
                                           : (uint64_t)call->svc->cfg->request_timeout_ms;
    metadata_view_submit_add_partitions(call->svc->metadata, t->name, t->count, req->validate_only,
                                        timeout, &ctx->ops[i], on_grown);
}

void kafka_handle_create_partitions(struct kafka_call *call)
{
    struct kafka_create_partitions_request req;
    int rv = kafka_create_partitions_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.topics_count > 0 ? req.topics_count : 0;
    struct partitions_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    struct kafka_create_partitions_response_topic_result *results =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *results);
    struct metadata_admin_op *ops = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *ops);
    if (ctx == NULL || results == NULL || ops == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_create_partitions_response_init(&ctx->resp);
    ctx->resp.results = results;
    ctx->resp.results_count = n;
    ctx->call = call;
    ctx->ops = ops;
    ctx->pending = n + 1; /* answers may come before the loop ends */
    for (int32_t i = 0; i < n; i++) {
        grow_one(ctx, &req, i);
    }
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}
