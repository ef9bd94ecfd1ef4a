/* OffsetDelete (key 47): drop a group's committed offsets for partitions
 * its members do not consume (KIP-496), answered once the tombstones are
 * replicated (acks=all). As Kafka: Delete on the group (else the whole
 * request is GROUP_AUTHORIZATION_FAILED) and Read on each topic (else its
 * partitions are TOPIC_AUTHORIZATION_FAILED and left alone). */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct offset_delete_ctx {
    struct kafka_call *call;
    struct kafka_offset_delete_request req;
    struct group_offset_ref *all;  /* every partition of the request, in order */
    struct group_offset_ref *refs; /* the authorized ones, handed to the group */
    size_t *index;                 /* refs[i] is all[index[i]] */
    size_t n_refs;
};

static void answer(void *arg, int16_t error)
{
    struct offset_delete_ctx *ctx = arg;
    struct kafka_call *call = ctx->call;
    for (size_t i = 0; i < ctx->n_refs; i++) {
        ctx->all[ctx->index[i]].error = ctx->refs[i].error;
    }
    struct kafka_offset_delete_response resp;
    kafka_offset_delete_response_init(&resp);
    int32_t nt = ctx->req.topics_count > 0 ? ctx->req.topics_count : 0;
    resp.topics = kafka_arena_alloc_array(&call->arena, (size_t)nt + 1, sizeof *resp.topics);
    if (resp.topics == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.error_code = error;
    resp.topics_count = error == KAFKA_ERROR_NONE ? nt : 0;
    size_t k = 0;
    for (int32_t i = 0; i < resp.topics_count; i++) {
        struct kafka_offset_delete_response_topic *t = &resp.topics[i];
        int32_t np =
            ctx->req.topics[i].partitions_count > 0 ? ctx->req.topics[i].partitions_count : 0;
        kafka_offset_delete_response_topic_init(t);
        t->name = ctx->req.topics[i].name;
        t->partitions =
            kafka_arena_alloc_array(&call->arena, (size_t)np + 1, sizeof *t->partitions);
        if (t->partitions == NULL) {
            kafka_call_fail(call, "out of memory");
            return;
        }
        t->partitions_count = np;
        for (int32_t j = 0; j < np; j++, k++) {
            kafka_offset_delete_response_partition_init(&t->partitions[j]);
            t->partitions[j].partition_index = ctx->all[k].partition;
            t->partitions[j].error_code = ctx->all[k].error;
        }
    }
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_offset_delete_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

void kafka_handle_offset_delete(struct kafka_call *call)
{
    struct offset_delete_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    int rv = kafka_offset_delete_request_decode(&call->body, call->header.api_version, &ctx->req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    if (!kafka_authorize(call, ACL_OP_DELETE, ACL_RESOURCE_GROUP,
                         ctx->req.group_id ? ctx->req.group_id : "")) {
        ctx->n_refs = 0;
        answer(ctx, KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED);
        return;
    }
    int32_t nt = ctx->req.topics_count > 0 ? ctx->req.topics_count : 0;
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        n += ctx->req.topics[i].partitions_count > 0 ? (size_t)ctx->req.topics[i].partitions_count
                                                     : 0;
    }
    ctx->all = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *ctx->all);
    ctx->refs = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *ctx->refs);
    ctx->index = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *ctx->index);
    if (ctx->all == NULL || ctx->refs == NULL || ctx->index == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    size_t k = 0;
    ctx->n_refs = 0;
    for (int32_t i = 0; i < nt; i++) {
        const char *topic = ctx->req.topics[i].name;
        bool allowed = kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_TOPIC, topic ? topic : "");
        for (int32_t j = 0; j < ctx->req.topics[i].partitions_count; j++, k++) {
            ctx->all[k] = (struct group_offset_ref){
                topic, ctx->req.topics[i].partitions[j].partition_index,
                allowed ? KAFKA_ERROR_NONE : KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED};
            if (allowed) {
                ctx->index[ctx->n_refs] = k;
                ctx->refs[ctx->n_refs++] = ctx->all[k];
            }
        }
    }
    group_delete_offsets(call->svc->groups, ctx->req.group_id, ctx->refs, ctx->n_refs, answer, ctx);
}
