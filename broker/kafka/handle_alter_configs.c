/* AlterConfigs (key 33): replace a topic's configuration: keys listed are
 * set, keys not listed return to their defaults (Kafka's semantics for this
 * legacy API). Broker configs are static in Sluice (server.properties).
 * Through the metadata view (with the controller quorum: forwarded to the
 * active controller), asynchronously. */
#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "kafka_messages.h"

enum { RESOURCE_TOPIC = 2 };

/* The call's state while topic configs change (in the call's arena). */
struct alter_ctx {
    struct kafka_call *call;
    struct kafka_alter_configs_response resp;
    struct metadata_admin_op *ops; /* one per resource */
    int32_t pending;
};

static void respond(struct alter_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_alter_configs_response_encode(&w, call->header.api_version, &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_altered(struct metadata_admin_op *op)
{
    struct alter_ctx *ctx = op->data;
    struct kafka_alter_configs_response_resource_response *o = &ctx->resp.responses[op - ctx->ops];
    o->error_code = op->error_code;
    o->error_message =
        op->error_code != KAFKA_ERROR_NONE && op->error_message[0] ? op->error_message : NULL;
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}

static void alter_one(struct alter_ctx *ctx, const struct kafka_alter_configs_request *req,
                      int32_t i)
{
    struct kafka_call *call = ctx->call;
    const struct kafka_alter_configs_request_resource *r = &req->resources[i];
    struct kafka_alter_configs_response_resource_response *o = &ctx->resp.responses[i];
    struct metadata_admin_op *op = &ctx->ops[i];
    kafka_alter_configs_response_resource_response_init(o);
    o->resource_type = r->resource_type;
    o->resource_name = r->resource_name;
    op->data = ctx;
    if (r->resource_type != RESOURCE_TOPIC) {
        metadata_admin_fail(op, on_altered, KAFKA_ERROR_INVALID_REQUEST,
                            "Only topic configs can be altered: broker configs are static");
        return;
    }
    int32_t n = r->configs_count > 0 ? r->configs_count : 0;
    struct metadata_config_entry *entries =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *entries);
    if (entries == NULL) {
        metadata_admin_fail(op, on_altered, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "out of memory");
        return;
    }
    for (int32_t k = 0; k < n; k++) {
        entries[k].key = r->configs[k].name;
        entries[k].value = r->configs[k].value;
    }
    metadata_view_submit_alter_topic_config(
        call->svc->metadata, r->resource_name, entries, (size_t)n, true, req->validate_only,
        (uint64_t)call->svc->cfg->request_timeout_ms, op, on_altered);
}

void kafka_handle_alter_configs(struct kafka_call *call)
{
    struct kafka_alter_configs_request req;
    int rv = kafka_alter_configs_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.resources_count > 0 ? req.resources_count : 0;
    struct alter_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    struct kafka_alter_configs_response_resource_response *responses =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *responses);
    struct metadata_admin_op *ops = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *ops);
    if (ctx == NULL || responses == NULL || ops == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_alter_configs_response_init(&ctx->resp);
    ctx->resp.responses = responses;
    ctx->resp.responses_count = n;
    ctx->call = call;
    ctx->ops = ops;
    ctx->pending = n + 1; /* answers may come before the loop ends */
    for (int32_t i = 0; i < n; i++) {
        alter_one(ctx, &req, i);
    }
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}
