/* DeleteGroups (key 42): groups without members, with their offsets. Each
 * group's tombstones are answered for once replicated (acks=all); the
 * response goes when the last group is done. */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct delete_groups_ctx {
    struct kafka_call *call;
    struct kafka_delete_groups_response resp;
    int32_t pending; /* groups not done, plus one while requests are issued */
};

struct delete_group_slot {
    struct delete_groups_ctx *ctx;
    int32_t index;
};

static void one_done(struct delete_groups_ctx *ctx)
{
    if (--ctx->pending > 0) {
        return;
    }
    struct kafka_call *call = ctx->call;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_delete_groups_response_encode(&w, call->header.api_version, &ctx->resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void group_deleted(void *arg, int16_t error)
{
    struct delete_group_slot *slot = arg;
    slot->ctx->resp.results[slot->index].error_code = error;
    one_done(slot->ctx);
}

void kafka_handle_delete_groups(struct kafka_call *call)
{
    struct kafka_delete_groups_request req;
    int rv = kafka_delete_groups_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.groups_names_count > 0 ? req.groups_names_count : 0;
    struct delete_groups_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    struct delete_group_slot *slots =
        kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *slots);
    if (ctx == NULL || slots == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    kafka_delete_groups_response_init(&ctx->resp);
    ctx->resp.results =
        kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *ctx->resp.results);
    if (ctx->resp.results == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->resp.results_count = n;
    ctx->pending = n + 1;
    for (int32_t i = 0; i < n; i++) {
        kafka_delete_groups_response_deletable_group_result_init(&ctx->resp.results[i]);
        ctx->resp.results[i].group_id = req.groups_names[i];
    }
    for (int32_t i = 0; i < n; i++) {
        slots[i] = (struct delete_group_slot){ctx, i};
        if (!kafka_authorize(call, ACL_OP_DELETE, ACL_RESOURCE_GROUP,
                             req.groups_names[i] ? req.groups_names[i] : "")) {
            group_deleted(&slots[i], KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED);
            continue;
        }
        group_delete(call->svc->groups, req.groups_names[i], group_deleted, &slots[i]);
    }
    one_done(ctx);
}
