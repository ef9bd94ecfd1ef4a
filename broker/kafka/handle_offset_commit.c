/* OffsetCommit (key 8): the coordinator appends the offsets to
 * __consumer_offsets and answers once they are replicated (acks=all). */
#include <stdlib.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/commit_parts.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct commit_ctx {
    struct kafka_call *call;
    struct kafka_offset_commit_request req;
    /* The parts the principal may commit (READ on the topic) are committed;
     * the others answer TOPIC_AUTHORIZATION_FAILED. */
    struct kafka_commit_parts cp;
};

static void answer(void *arg)
{
    struct commit_ctx *ctx = arg;
    struct kafka_call *call = ctx->call;
    kafka_commit_parts_merge(&ctx->cp);
    struct kafka_offset_commit_response resp;
    kafka_offset_commit_response_init(&resp);
    int rv;
    KAFKA_COMMIT_RESULTS(rv, call, &ctx->req, &resp, kafka_offset_commit_response_topic_init,
                         kafka_offset_commit_response_partition_init, &ctx->cp);
    free(ctx);
    if (rv != 0) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
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
    if (kafka_commit_parts_alloc(&ctx->cp, call, n) != 0) {
        free(ctx);
        kafka_call_fail(call, "out of memory");
        return;
    }
    bool group_ok = kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_GROUP,
                                    ctx->req.group_id ? ctx->req.group_id : "");
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_offset_commit_request_topic *t = &ctx->req.topics[i];
        int16_t denied =
            !group_ok ? KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED
            : kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_TOPIC, t->name ? t->name : "")
                ? KAFKA_ERROR_NONE
                : KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        for (int32_t j = 0; j < t->partitions_count; j++) {
            const struct kafka_offset_commit_request_partition *p = &t->partitions[j];
            kafka_commit_parts_add(&ctx->cp,
                                   (struct group_commit_partition){
                                       t->name, p->partition_index, p->committed_offset,
                                       p->committed_leader_epoch, p->committed_metadata, denied});
        }
    }
    if (!group_ok || (ctx->cp.n_allowed == 0 && n > 0)) {
        answer(ctx);
        return;
    }
    group_commit(call->svc->groups, ctx->req.group_id, ctx->req.generation_id_or_member_epoch,
                 ctx->req.member_id ? ctx->req.member_id : "", ctx->req.group_instance_id,
                 ctx->cp.allowed, ctx->cp.n_allowed, answer, ctx);
}
