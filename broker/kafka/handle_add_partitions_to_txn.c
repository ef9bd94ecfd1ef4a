/* AddPartitionsToTxn (key 24, versions 0-3): partitions join the
 * producer's transaction through the transaction coordinator
 * (broker/txn/), answered once the Ongoing state naming them is written.
 * As Kafka: WRITE on the transactional id (else every partition gets
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED); a partition of a topic the
 * principal may not WRITE gets TOPIC_AUTHORIZATION_FAILED, one the
 * metadata does not know UNKNOWN_TOPIC_OR_PARTITION, and then the others
 * OPERATION_NOT_ATTEMPTED; otherwise all share the coordinator's answer. */
#include <stdlib.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/txn_gate.h"
#include "broker/txn/txn_coordinator.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct add_ctx {
    struct kafka_call *call;
    struct kafka_add_partitions_to_txn_request req;
    int16_t *errors; /* per partition, in request order; NULL: all `common` */
};

/* Answer every partition of the request: its own error, or `common`. */
static void respond(struct add_ctx *ctx, int16_t common)
{
    struct kafka_call *call = ctx->call;
    const struct kafka_add_partitions_to_txn_request *req = &ctx->req;
    common = kafka_txn_error_for_client(call, common, 2);
    struct kafka_add_partitions_to_txn_response resp;
    kafka_add_partitions_to_txn_response_init(&resp);
    int32_t n_topics = req->v3_and_below_topics_count > 0 ? req->v3_and_below_topics_count : 0;
    resp.results_by_topic_v3_and_below = kafka_arena_alloc_array(
        &call->arena, (size_t)n_topics + 1, sizeof *resp.results_by_topic_v3_and_below);
    if (resp.results_by_topic_v3_and_below == NULL) {
        kafka_call_fail(call, "out of memory");
        free(ctx->errors);
        free(ctx);
        return;
    }
    resp.results_by_topic_v3_and_below_count = n_topics;
    size_t k = 0;
    bool failed = false;
    for (int32_t i = 0; i < n_topics && !failed; i++) {
        const struct kafka_add_partitions_to_txn_request_topic *t = &req->v3_and_below_topics[i];
        struct kafka_add_partitions_to_txn_response_topic_result *o =
            &resp.results_by_topic_v3_and_below[i];
        kafka_add_partitions_to_txn_response_topic_result_init(o);
        o->name = t->name;
        int32_t n = t->partitions_count > 0 ? t->partitions_count : 0;
        o->results_by_partition =
            kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *o->results_by_partition);
        failed = o->results_by_partition == NULL;
        o->results_by_partition_count = n;
        for (int32_t j = 0; j < n && !failed; j++, k++) {
            struct kafka_add_partitions_to_txn_response_partition_result *r =
                &o->results_by_partition[j];
            kafka_add_partitions_to_txn_response_partition_result_init(r);
            r->partition_index = t->partitions[j];
            r->partition_error_code = ctx->errors != NULL ? ctx->errors[k] : common;
        }
    }
    free(ctx->errors);
    free(ctx);
    if (failed) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_add_partitions_to_txn_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_added(void *arg, int16_t error)
{
    respond(arg, error);
}

/* Per-partition authorization and existence; true when all pass, else
 * ctx->errors holds the answers. */
static bool check_partitions(struct add_ctx *ctx, size_t total)
{
    struct kafka_call *call = ctx->call;
    const struct kafka_add_partitions_to_txn_request *req = &ctx->req;
    ctx->errors = calloc(total + 1, sizeof *ctx->errors);
    if (ctx->errors == NULL) {
        return false;
    }
    bool bad = false;
    size_t k = 0;
    for (int32_t i = 0; i < req->v3_and_below_topics_count; i++) {
        const struct kafka_add_partitions_to_txn_request_topic *t = &req->v3_and_below_topics[i];
        bool allowed =
            t->name != NULL && kafka_authorize(call, ACL_OP_WRITE, ACL_RESOURCE_TOPIC, t->name);
        const struct metadata_topic *mt =
            allowed ? metadata_view_topic(call->svc->metadata, t->name) : NULL;
        for (int32_t j = 0; j < t->partitions_count; j++, k++) {
            if (!allowed) {
                ctx->errors[k] = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
            } else if (mt == NULL || t->partitions[j] < 0 || t->partitions[j] >= mt->n_partitions) {
                ctx->errors[k] = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
            } else {
                ctx->errors[k] = KAFKA_ERROR_OPERATION_NOT_ATTEMPTED;
                continue;
            }
            bad = true;
        }
    }
    if (!bad) {
        free(ctx->errors);
        ctx->errors = NULL;
    }
    return !bad;
}

void kafka_handle_add_partitions_to_txn(struct kafka_call *call)
{
    struct add_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    int rv = kafka_add_partitions_to_txn_request_decode(&call->body, call->header.api_version,
                                                        &ctx->req);
    if (rv != 0) {
        free(ctx);
        kafka_call_bad_request(call, rv);
        return;
    }
    const struct kafka_add_partitions_to_txn_request *req = &ctx->req;
    int16_t refused = kafka_txn_gate(call, req->v3_and_below_transactional_id);
    if (refused != KAFKA_ERROR_NONE) {
        respond(ctx, refused);
        return;
    }
    size_t total = 0;
    for (int32_t i = 0; i < req->v3_and_below_topics_count; i++) {
        if (req->v3_and_below_topics[i].partitions_count > 0) {
            total += (size_t)req->v3_and_below_topics[i].partitions_count;
        }
    }
    if (!check_partitions(ctx, total)) {
        if (ctx->errors == NULL) {
            free(ctx);
            kafka_call_fail(call, "out of memory");
            return;
        }
        respond(ctx, KAFKA_ERROR_NONE);
        return;
    }
    struct txn_topic_partition *parts =
        kafka_arena_alloc_array(&call->arena, total + 1, sizeof *parts);
    if (parts == NULL) {
        free(ctx);
        kafka_call_fail(call, "out of memory");
        return;
    }
    size_t k = 0;
    for (int32_t i = 0; i < req->v3_and_below_topics_count; i++) {
        const struct kafka_add_partitions_to_txn_request_topic *t = &req->v3_and_below_topics[i];
        for (int32_t j = 0; j < t->partitions_count; j++) {
            parts[k++] = (struct txn_topic_partition){t->name, t->partitions[j]};
        }
    }
    struct txn_add_request ar = {req->v3_and_below_transactional_id, req->v3_and_below_producer_id,
                                 req->v3_and_below_producer_epoch, parts, total};
    txn_add_partitions(call->svc->txns, &ar, on_added, ctx);
}
