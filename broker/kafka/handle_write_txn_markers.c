/* WriteTxnMarkers (key 27, v0-1): a transaction coordinator asks this
 * broker to write commit or abort markers on partitions it leads. The same
 * code path as the WRITE_TXN_MARKERS replica RPC (broker/replica/
 * txn_markers.h): per partition a Kafka error code, answered once every
 * marker is below the high watermark or failed, or after request.timeout.ms
 * (REQUEST_TIMED_OUT). Sluice's own coordinator uses the RPC; this API is
 * Kafka's broker-to-broker one (and what tests drive the partition side
 * with). */
#include <stdlib.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/replica/txn_markers.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

/* Malloc'd: outlives the handler while the markers replicate. */
struct markers_ctx {
    struct kafka_call *call;
    struct kafka_write_txn_markers_request req;
    struct txn_marker_write *markers;
    struct txn_marker_partition *slots;
};

static void ctx_free(struct markers_ctx *ctx)
{
    free(ctx->markers);
    free(ctx->slots);
    free(ctx);
}

static int count(int32_t n)
{
    return n > 0 ? n : 0;
}

/* Build the response from the slots, in request order. */
static int build(struct markers_ctx *ctx, struct kafka_write_txn_markers_response *resp)
{
    struct kafka_arena *arena = &ctx->call->arena;
    int32_t nm = count(ctx->req.markers_count);
    kafka_write_txn_markers_response_init(resp);
    resp->markers = kafka_arena_alloc_array(arena, (size_t)nm, sizeof *resp->markers);
    if (nm > 0 && resp->markers == NULL) {
        return -1;
    }
    resp->markers_count = nm;
    size_t k = 0;
    for (int32_t i = 0; i < nm; i++) {
        const struct kafka_write_txn_markers_request_writable_txn_marker *in = &ctx->req.markers[i];
        struct kafka_write_txn_markers_response_writable_txn_marker_result *o = &resp->markers[i];
        kafka_write_txn_markers_response_writable_txn_marker_result_init(o);
        o->producer_id = in->producer_id;
        int32_t nt = count(in->topics_count);
        o->topics = kafka_arena_alloc_array(arena, (size_t)nt, sizeof *o->topics);
        if (nt > 0 && o->topics == NULL) {
            return -1;
        }
        o->topics_count = nt;
        for (int32_t t = 0; t < nt; t++) {
            struct kafka_write_txn_markers_response_writable_txn_marker_topic_result *ot =
                &o->topics[t];
            kafka_write_txn_markers_response_writable_txn_marker_topic_result_init(ot);
            ot->name = in->topics[t].name;
            int32_t np = count(in->topics[t].partition_indexes_count);
            ot->partitions = kafka_arena_alloc_array(arena, (size_t)np, sizeof *ot->partitions);
            if (np > 0 && ot->partitions == NULL) {
                return -1;
            }
            ot->partitions_count = np;
            for (int32_t p = 0; p < np; p++, k++) {
                kafka_write_txn_markers_response_writable_txn_marker_partition_result_init(
                    &ot->partitions[p]);
                ot->partitions[p].partition_index = ctx->slots[k].partition;
                ot->partitions[p].error_code = ctx->slots[k].error_code;
            }
        }
    }
    return 0;
}

static void markers_done(void *arg)
{
    struct markers_ctx *ctx = arg;
    struct kafka_call *call = ctx->call;
    struct kafka_write_txn_markers_response resp;
    if (build(ctx, &resp) != 0) {
        ctx_free(ctx);
        kafka_call_fail(call, "out of memory building write_txn_markers response");
        return;
    }
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_write_txn_markers_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
    ctx_free(ctx);
}

void kafka_handle_write_txn_markers(struct kafka_call *call)
{
    struct markers_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    int rv =
        kafka_write_txn_markers_request_decode(&call->body, call->header.api_version, &ctx->req);
    if (rv != 0) {
        free(ctx);
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t nm = count(ctx->req.markers_count);
    size_t total = 0;
    for (int32_t i = 0; i < nm; i++) {
        for (int32_t t = 0; t < count(ctx->req.markers[i].topics_count); t++) {
            total += (size_t)count(ctx->req.markers[i].topics[t].partition_indexes_count);
        }
    }
    ctx->markers = calloc((size_t)nm + 1, sizeof *ctx->markers);
    ctx->slots = calloc(total + 1, sizeof *ctx->slots);
    if (ctx->markers == NULL || ctx->slots == NULL) {
        ctx_free(ctx);
        kafka_call_fail(call, "out of memory");
        return;
    }
    size_t k = 0;
    for (int32_t i = 0; i < nm; i++) {
        const struct kafka_write_txn_markers_request_writable_txn_marker *in = &ctx->req.markers[i];
        size_t first = k;
        for (int32_t t = 0; t < count(in->topics_count); t++) {
            for (int32_t p = 0; p < count(in->topics[t].partition_indexes_count); p++, k++) {
                ctx->slots[k].topic = in->topics[t].name;
                ctx->slots[k].partition = in->topics[t].partition_indexes[p];
            }
        }
        ctx->markers[i] = (struct txn_marker_write){
            .producer_id = in->producer_id,
            .producer_epoch = in->producer_epoch,
            .commit = in->transaction_result,
            .coordinator_epoch = in->coordinator_epoch,
            .partitions = &ctx->slots[first],
            .n_partitions = k - first,
        };
    }
    /* Kafka: only the cluster itself (ClusterAction) writes markers, or a
     * principal that may Alter the cluster. */
    if (!kafka_authorize(call, ACL_OP_ALTER, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME) &&
        !kafka_authorize(call, ACL_OP_CLUSTER_ACTION, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME)) {
        for (size_t i = 0; i < total; i++) {
            ctx->slots[i].error_code = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
        }
        markers_done(ctx);
        return;
    }
    uint64_t timeout =
        (uint64_t)(call->svc->cfg->request_timeout_ms > 0 ? call->svc->cfg->request_timeout_ms
                                                          : 30000);
    if (txn_markers_write(call->svc->replicas, ctx->markers, (size_t)nm, timeout, markers_done,
                          ctx) != 0) {
        ctx_free(ctx);
        kafka_call_fail(call, "out of memory");
    }
}
