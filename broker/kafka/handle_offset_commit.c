/* OffsetCommit (key 8): the coordinator appends the offsets to
 * __consumer_offsets and answers once they are replicated (acks=all). */
#include <stdlib.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct commit_ctx {
    struct kafka_call *call;
    struct kafka_offset_commit_request req;
    struct group_commit_partition *parts;
};

static void answer(void *arg)
{
    struct commit_ctx *ctx = arg;
    struct kafka_call *call = ctx->call;
    struct kafka_offset_commit_response resp;
    kafka_offset_commit_response_init(&resp);
    int32_t nt = ctx->req.topics_count > 0 ? ctx->req.topics_count : 0;
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
    if (ctx->parts == NULL) {
        free(ctx);
        kafka_call_fail(call, "out of memory");
        return;
    }
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_offset_commit_request_topic *t = &ctx->req.topics[i];
        for (int32_t j = 0; j < t->partitions_count; j++, k++) {
            const struct kafka_offset_commit_request_partition *p = &t->partitions[j];
            ctx->parts[k] = (struct group_commit_partition){t->name,
                                                            p->partition_index,
                                                            p->committed_offset,
                                                            p->committed_leader_epoch,
                                                            p->committed_metadata,
                                                            0};
        }
    }
    group_commit(call->svc->groups, ctx->req.group_id, ctx->req.generation_id_or_member_epoch,
                 ctx->req.member_id ? ctx->req.member_id : "", ctx->req.group_instance_id,
                 ctx->parts, n, answer, ctx);
}
