/* TxnOffsetCommit (key 28): a transactional producer's consumed offsets,
 * sent to the group coordinator inside its transaction
 * (sendOffsetsToTransaction). The coordinator appends them as a
 * transactional batch (answered once replicated) and keeps them pending
 * until the transaction's marker; see group_coordinator.h. Authorization as
 * Kafka's: WRITE on the transactional id, READ on the group, READ on each
 * topic. */
#include <stdlib.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct txn_commit_ctx {
    struct kafka_call *call;
    struct kafka_txn_offset_commit_request req;
    struct group_commit_partition *parts; /* request order; errors set before the commit */
    struct group_commit_partition *allowed;
    size_t n_parts, n_allowed;
};

static void answer(void *arg)
{
    struct txn_commit_ctx *ctx = arg;
    struct kafka_call *call = ctx->call;
    size_t a = 0;
    for (size_t k = 0; k < ctx->n_parts; k++) {
        if (ctx->parts[k].error == KAFKA_ERROR_NONE && a < ctx->n_allowed) {
            ctx->parts[k].error = ctx->allowed[a++].error;
        }
    }
    struct kafka_txn_offset_commit_response resp;
    kafka_txn_offset_commit_response_init(&resp);
    int32_t nt = ctx->req.topics_count > 0 ? ctx->req.topics_count : 0;
    resp.topics = kafka_arena_alloc_array(&call->arena, (size_t)nt + 1, sizeof *resp.topics);
    resp.topics_count = resp.topics != NULL ? nt : 0;
    size_t k = 0;
    for (int32_t i = 0; resp.topics != NULL && i < nt; i++) {
        const struct kafka_txn_offset_commit_request_topic *t = &ctx->req.topics[i];
        struct kafka_txn_offset_commit_response_topic *o = &resp.topics[i];
        int32_t np = t->partitions_count > 0 ? t->partitions_count : 0;
        kafka_txn_offset_commit_response_topic_init(o);
        o->name = t->name;
        o->partitions =
            kafka_arena_alloc_array(&call->arena, (size_t)np + 1, sizeof *o->partitions);
        o->partitions_count = o->partitions != NULL ? np : 0;
        for (int32_t j = 0; o->partitions != NULL && j < np; j++, k++) {
            kafka_txn_offset_commit_response_partition_init(&o->partitions[j]);
            o->partitions[j].partition_index = t->partitions[j].partition_index;
            o->partitions[j].error_code = ctx->parts[k].error;
        }
    }
    free(ctx);
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_txn_offset_commit_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

/* Kafka's per-topic checks: READ on the topic, then its existence. */
static int16_t topic_error(struct kafka_call *call, const char *name, int32_t partition)
{
    if (!kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_TOPIC, name)) {
        return KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
    }
    const struct metadata_topic *t = metadata_view_topic(call->svc->metadata, name);
    if (t == NULL || partition < 0 || partition >= t->n_partitions) {
        return KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    return KAFKA_ERROR_NONE;
}

void kafka_handle_txn_offset_commit(struct kafka_call *call)
{
    struct txn_commit_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    int rv =
        kafka_txn_offset_commit_request_decode(&call->body, call->header.api_version, &ctx->req);
    if (rv != 0) {
        free(ctx);
        kafka_call_bad_request(call, rv);
        return;
    }
    const struct kafka_txn_offset_commit_request *req = &ctx->req;
    int32_t nt = req->topics_count > 0 ? req->topics_count : 0;
    for (int32_t i = 0; i < nt; i++) {
        ctx->n_parts +=
            req->topics[i].partitions_count > 0 ? (size_t)req->topics[i].partitions_count : 0;
    }
    ctx->parts = kafka_arena_alloc_array(&call->arena, ctx->n_parts + 1, sizeof *ctx->parts);
    ctx->allowed = kafka_arena_alloc_array(&call->arena, ctx->n_parts + 1, sizeof *ctx->allowed);
    if (ctx->parts == NULL || ctx->allowed == NULL) {
        free(ctx);
        kafka_call_fail(call, "out of memory");
        return;
    }
    const char *group_id = req->group_id != NULL ? req->group_id : "";
    int16_t all = KAFKA_ERROR_NONE;
    if (!kafka_authorize(call, ACL_OP_WRITE, ACL_RESOURCE_TRANSACTIONAL_ID,
                         req->transactional_id != NULL ? req->transactional_id : "")) {
        all = KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else if (!kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_GROUP, group_id)) {
        all = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
    }
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_txn_offset_commit_request_topic *t = &req->topics[i];
        const char *name = t->name != NULL ? t->name : "";
        for (int32_t j = 0; j < t->partitions_count; j++, k++) {
            const struct kafka_txn_offset_commit_request_partition *p = &t->partitions[j];
            int16_t err =
                all != KAFKA_ERROR_NONE ? all : topic_error(call, name, p->partition_index);
            ctx->parts[k] = (struct group_commit_partition){name,
                                                            p->partition_index,
                                                            p->committed_offset,
                                                            p->committed_leader_epoch,
                                                            p->committed_metadata,
                                                            err};
            if (err == KAFKA_ERROR_NONE) {
                ctx->allowed[ctx->n_allowed++] = ctx->parts[k];
            }
        }
    }
    if (ctx->n_allowed == 0) {
        answer(ctx);
        return;
    }
    struct group_txn_commit_request gr = {group_id,
                                          req->producer_id,
                                          req->producer_epoch,
                                          req->generation_id,
                                          req->member_id != NULL ? req->member_id : "",
                                          req->group_instance_id};
    group_txn_commit(call->svc->groups, &gr, ctx->allowed, ctx->n_allowed, answer, ctx);
}
