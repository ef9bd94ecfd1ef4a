/* IncrementalAlterConfigs (key 44, KIP-339): SET and DELETE on topic configs;
 * keys not mentioned keep their values. APPEND/SUBTRACT (list-valued keys)
 * are refused with INVALID_REQUEST. Broker configs are static in Sluice.
 * Through the metadata view (with the controller quorum: forwarded to the
 * active controller), asynchronously. */
#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "kafka_messages.h"

enum { RESOURCE_TOPIC = 2 };
enum { OP_SET = 0, OP_DELETE = 1 };

static int16_t
entries_of(struct kafka_call *call,
           const struct kafka_incremental_alter_configs_request_alter_configs_resource *r,
           struct metadata_config_entry **out, const char **why)
{
    int32_t n = r->configs_count > 0 ? r->configs_count : 0;
    struct metadata_config_entry *entries =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *entries);
    if (entries == NULL) {
        return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    for (int32_t i = 0; i < n; i++) {
        int8_t op = r->configs[i].config_operation;
        if (op != OP_SET && op != OP_DELETE) {
            *why = "Only SET and DELETE are supported";
            return KAFKA_ERROR_INVALID_REQUEST;
        }
        if (op == OP_SET && r->configs[i].value == NULL) {
            *why = "SET needs a value";
            return KAFKA_ERROR_INVALID_REQUEST;
        }
        entries[i].key = r->configs[i].name;
        entries[i].value = op == OP_SET ? r->configs[i].value : NULL;
    }
    *out = entries;
    return KAFKA_ERROR_NONE;
}

/* The call's state while topic configs change (in the call's arena). */
struct alter_ctx {
    struct kafka_call *call;
    struct kafka_incremental_alter_configs_response resp;
    struct metadata_admin_op *ops; /* one per resource */
    int32_t pending;
};

static void respond(struct alter_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_incremental_alter_configs_response_encode(&w, call->header.api_version,
                                                             &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_altered(struct metadata_admin_op *op)
{
    struct alter_ctx *ctx = op->data;
    struct kafka_incremental_alter_configs_response_alter_configs_resource_response *o =
        &ctx->resp.responses[op - ctx->ops];
    o->error_code = op->error_code;
    o->error_message =
        op->error_code != KAFKA_ERROR_NONE && op->error_message[0] ? op->error_message : NULL;
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}

static void
alter_one(struct alter_ctx *ctx, bool validate_only, int32_t i,
          const struct kafka_incremental_alter_configs_request_alter_configs_resource *r)
{
    struct kafka_call *call = ctx->call;
    struct metadata_admin_op *op = &ctx->ops[i];
    struct kafka_incremental_alter_configs_response_alter_configs_resource_response *o =
        &ctx->resp.responses[i];
    kafka_incremental_alter_configs_response_alter_configs_resource_response_init(o);
    o->resource_type = r->resource_type;
    o->resource_name = r->resource_name;
    op->data = ctx;
    if (r->resource_type != RESOURCE_TOPIC) {
        metadata_admin_fail(op, on_altered, KAFKA_ERROR_INVALID_REQUEST,
                            "Only topic configs can be altered: broker configs are static");
        return;
    }
    struct metadata_config_entry *entries = NULL;
    const char *why = NULL;
    int16_t code = entries_of(call, r, &entries, &why);
    if (code != KAFKA_ERROR_NONE) {
        metadata_admin_fail(op, on_altered, code, why);
        return;
    }
    size_t n = r->configs_count > 0 ? (size_t)r->configs_count : 0;
    metadata_view_submit_alter_topic_config(
        call->svc->metadata, r->resource_name, entries, n, false, validate_only,
        (uint64_t)call->svc->cfg->request_timeout_ms, op, on_altered);
}

void kafka_handle_incremental_alter_configs(struct kafka_call *call)
{
    struct kafka_incremental_alter_configs_request req;
    int rv =
        kafka_incremental_alter_configs_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.resources_count > 0 ? req.resources_count : 0;
    struct alter_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    struct kafka_incremental_alter_configs_response_alter_configs_resource_response *responses =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *responses);
    struct metadata_admin_op *ops = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *ops);
    if (ctx == NULL || responses == NULL || ops == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_incremental_alter_configs_response_init(&ctx->resp);
    ctx->resp.responses = responses;
    ctx->resp.responses_count = n;
    ctx->call = call;
    ctx->ops = ops;
    ctx->pending = n + 1; /* answers may come before the loop ends */
    for (int32_t i = 0; i < n; i++) {
        alter_one(ctx, req.validate_only, i, &req.resources[i]);
    }
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}
