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
#include "broker/kafka/commit_parts.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct txn_commit_ctx {
    struct kafka_call *call;
    struct kafka_txn_offset_commit_request req;
    struct kafka_commit_parts cp; /* errors set before the commit */
};

static void answer(void *arg)
{
    struct txn_commit_ctx *ctx = arg;
    struct kafka_call *call = ctx->call;
    kafka_commit_parts_merge(&ctx->cp);
    struct kafka_txn_offset_commit_response resp;
    kafka_txn_offset_commit_response_init(&resp);
    int rv;
    KAFKA_COMMIT_RESULTS(rv, call, &ctx->req, &resp, kafka_txn_offset_commit_response_topic_init,
                         kafka_txn_offset_commit_response_partition_init, &ctx->cp);
    free(ctx);
    if (rv != 0) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
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
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        n += req->topics[i].partitions_count > 0 ? (size_t)req->topics[i].partitions_count : 0;
    }
    if (kafka_commit_parts_alloc(&ctx->cp, call, n) != 0) {
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
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_txn_offset_commit_request_topic *t = &req->topics[i];
        const char *name = t->name != NULL ? t->name : "";
        for (int32_t j = 0; j < t->partitions_count; j++) {
            const struct kafka_txn_offset_commit_request_partition *p = &t->partitions[j];
            int16_t err =
                all != KAFKA_ERROR_NONE ? all : topic_error(call, name, p->partition_index);
            kafka_commit_parts_add(&ctx->cp,
                                   (struct group_commit_partition){
                                       name, p->partition_index, p->committed_offset,
                                       p->committed_leader_epoch, p->committed_metadata, err});
        }
    }
    if (ctx->cp.n_allowed == 0) {
        answer(ctx);
        return;
    }
    struct group_txn_commit_request gr = {group_id,
                                          req->producer_id,
                                          req->producer_epoch,
                                          req->generation_id,
                                          req->member_id != NULL ? req->member_id : "",
                                          req->group_instance_id};
    group_txn_commit(call->svc->groups, &gr, ctx->cp.allowed, ctx->cp.n_allowed, answer, ctx);
}
