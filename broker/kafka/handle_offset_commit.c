/* OffsetCommit (key 8): the coordinator appends the offsets to
 * __consumer_offsets and answers once they are replicated (acks=all). */
#include <stdlib.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct commit_ctx {
    struct kafka_call *call;
    struct kafka_offset_commit_request req;
    struct group_commit_partition *parts;
    /* The parts the principal may commit (READ on the topic), committed;
     * the others answer TOPIC_AUTHORIZATION_FAILED (in parts). */
    struct group_commit_partition *allowed;
    size_t n_allowed;
};

/* The committed parts' results back into request order. */
static void merge_allowed(struct commit_ctx *ctx, size_t n)
{
    size_t a = 0;
    for (size_t k = 0; k < n; k++) {
        if (ctx->parts[k].error == KAFKA_ERROR_NONE && a < ctx->n_allowed) {
            ctx->parts[k].error = ctx->allowed[a++].error;
        }
    }
}

static void answer(void *arg)
{
    struct commit_ctx *ctx = arg;
    struct kafka_call *call = ctx->call;
    struct kafka_offset_commit_response resp;
    kafka_offset_commit_response_init(&resp);
    int32_t nt = ctx->req.topics_count > 0 ? ctx->req.topics_count : 0;
    size_t total = 0;
    for (int32_t i = 0; i < nt; i++) {
        total += ctx->req.topics[i].partitions_count > 0
                     ? (size_t)ctx->req.topics[i].partitions_count
                     : 0;
    }
    merge_allowed(ctx, total);
    resp.topics = kafka_arena_alloc_array(&call->arena, (size_t)nt + 1, sizeof *resp.topics);
    resp.topics_count = nt;
    size_t k = 0;
    for (int32_t i = 0; resp.topics != NULL && i < nt; i++) {
        const struct kafka_offset_commit_request_topic *t = &ctx->req.topics[i];
        struct kafka_offset_commit_response_topic *o = &resp.topics[i];
        int32_t np = t->partitions_count > 0 ? t->partitions_count : 0;
        kafka_offset_commit_response_topic_init(o);
        o->name = t->name;
        o->partitions =
            kafka_arena_alloc_array(&call->arena, (size_t)np + 1, sizeof *o->partitions);
        o->partitions_count = o->partitions ? np : 0;
        for (int32_t j = 0; o->partitions != NULL && j < np; j++, k++) {
            kafka_offset_commit_response_partition_init(&o->partitions[j]);
            o->partitions[j].partition_index = t->partitions[j].partition_index;
            o->partitions[j].error_code = ctx->parts[k].error;
        }
    }
    free(ctx);
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_offset_commit_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

void kafka_handle_offset_commit(struct kafka_call *call)
{
    struct commit_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    int rv = kafka_offset_commit_request_decode(&call->body, call->header.api_version, &ctx->req);
    if (rv != 0) {
        free(ctx);
        kafka_call_bad_request(call, rv);
        return;
    }
    size_t n = 0;
    int32_t nt = ctx->req.topics_count > 0 ? ctx->req.topics_count : 0;
    for (int32_t i = 0; i < nt; i++) {
        n += ctx->req.topics[i].partitions_count > 0 ? (size_t)ctx->req.topics[i].partitions_count
                                                     : 0;
    }
    ctx->parts = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *ctx->parts);
    ctx->allowed = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *ctx->allowed);
    if (ctx->parts == NULL || ctx->allowed == NULL) {
        free(ctx);
        kafka_call_fail(call, "out of memory");
        return;
    }
    bool group_ok = kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_GROUP,
                                    ctx->req.group_id ? ctx->req.group_id : "");
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_offset_commit_request_topic *t = &ctx->req.topics[i];
        int16_t denied =
            !group_ok ? KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED
            : kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_TOPIC, t->name ? t->name : "")
                ? KAFKA_ERROR_NONE
                : KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        for (int32_t j = 0; j < t->partitions_count; j++, k++) {
            const struct kafka_offset_commit_request_partition *p = &t->partitions[j];
            ctx->parts[k] = (struct group_commit_partition){t->name,
                                                            p->partition_index,
                                                            p->committed_offset,
                                                            p->committed_leader_epoch,
                                                            p->committed_metadata,
                                                            denied};
            if (denied == KAFKA_ERROR_NONE) {
                ctx->allowed[ctx->n_allowed++] = ctx->parts[k];
            }
        }
    }
    if (!group_ok || (ctx->n_allowed == 0 && n > 0)) {
        answer(ctx);
        return;
    }
    group_commit(call->svc->groups, ctx->req.group_id, ctx->req.generation_id_or_member_epoch,
                 ctx->req.member_id ? ctx->req.member_id : "", ctx->req.group_instance_id,
                 ctx->allowed, ctx->n_allowed, answer, ctx);
}
