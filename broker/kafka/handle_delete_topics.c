/* DeleteTopics (key 20): through the metadata view (with the controller
 * quorum: forwarded to the active controller, KIP-590); the replica manager
 * deletes the partition directories when notified. Asynchronous: the
 * response goes when every topic has its answer. */
#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "kafka_messages.h"

/* The call's state while topics are being deleted (in the call's arena). */
struct delete_ctx {
    struct kafka_call *call;
    struct kafka_delete_topics_response resp;
    struct metadata_admin_op *ops; /* one per topic */
    int32_t pending;
};

static void respond(struct delete_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_delete_topics_response_encode(&w, call->header.api_version, &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

/* DeleteTopics v1-3 results carry no error message: the code says it all. */
static void on_deleted(struct metadata_admin_op *op)
{
    struct delete_ctx *ctx = op->data;
    ctx->resp.responses[op - ctx->ops].error_code = op->error_code;
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}

void kafka_handle_delete_topics(struct kafka_call *call)
{
    struct kafka_delete_topics_request req;
    int rv = kafka_delete_topics_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.topic_names_count > 0 ? req.topic_names_count : 0;
    struct delete_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    struct kafka_delete_topics_response_deletable_topic_result *results =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *results);
    struct metadata_admin_op *ops = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *ops);
    if (ctx == NULL || results == NULL || ops == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_delete_topics_response_init(&ctx->resp);
    ctx->resp.responses = results;
    ctx->resp.responses_count = n;
    ctx->call = call;
    ctx->ops = ops;
    ctx->pending = n + 1; /* answers may come before the loop ends */
    uint64_t timeout = req.timeout_ms > 0 ? (uint64_t)req.timeout_ms
                                          : (uint64_t)call->svc->cfg->request_timeout_ms;
    for (int32_t i = 0; i < n; i++) {
        kafka_delete_topics_response_deletable_topic_result_init(&results[i]);
        results[i].name = req.topic_names[i];
        ops[i].data = ctx;
        if (req.topic_names[i] == NULL) {
            metadata_admin_fail(&ops[i], on_deleted, KAFKA_ERROR_INVALID_REQUEST, NULL);
        } else {
            metadata_view_submit_delete_topic(call->svc->metadata, req.topic_names[i], timeout,
                                              &ops[i], on_deleted);
        }
    }
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}
