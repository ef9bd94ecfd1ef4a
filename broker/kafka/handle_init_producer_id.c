/* InitProducerId (key 22, versions 0-4). Without a transactional id, for
 * idempotent producers: a new producer id with epoch 0, as Kafka answers
 * (also when a KIP-360 client sends its current id and epoch: for
 * idempotent producers Kafka hands out a fresh id); ids come from the
 * broker's block (metadata_view_submit_producer_id). With one, the
 * transaction coordinator answers (broker/txn/): the id's producer id with
 * its epoch bumped, fencing the previous instance. */
#include <stdlib.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/txn_gate.h"
#include "broker/txn/txn_coordinator.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

/* How long a request may wait for the controller to hand out a block. */
#define PRODUCER_ID_WAIT_MS 30000

struct init_pid_ctx {
    struct kafka_call *call;
    struct metadata_producer_id_op op;
};

static void respond(struct kafka_call *call, int16_t code, int64_t id, int16_t epoch)
{
    struct kafka_init_producer_id_response resp;
    kafka_init_producer_id_response_init(&resp);
    resp.throttle_time_ms = 0;
    resp.error_code = code;
    resp.producer_id = code == KAFKA_ERROR_NONE ? id : -1;
    resp.producer_epoch = code == KAFKA_ERROR_NONE ? epoch : -1;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_init_producer_id_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_producer_id(struct metadata_producer_id_op *op)
{
    struct init_pid_ctx *ctx = op->data;
    struct kafka_call *call = ctx->call;
    if (op->error_code != KAFKA_ERROR_NONE) {
        log_info("kafka", "init producer id failed peer=%s error=%s",
                 kafka_conn_peer(call->req->conn), kafka_error_name(op->error_code));
    }
    respond(call, op->error_code, op->producer_id, 0);
    free(ctx);
}

static void on_transactional(void *arg, int16_t error, int64_t producer_id, int16_t epoch)
{
    struct kafka_call *call = arg;
    respond(call, kafka_txn_error_for_client(call, error, 3), producer_id, epoch);
}

void kafka_handle_init_producer_id(struct kafka_call *call)
{
    struct kafka_init_producer_id_request req;
    int rv = kafka_init_producer_id_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    if (req.transactional_id != NULL) {
        int16_t refused = kafka_txn_gate(call, req.transactional_id);
        if (refused != KAFKA_ERROR_NONE) {
            respond(call, refused, -1, -1);
            return;
        }
        struct txn_init_request tr = {req.transactional_id, req.transaction_timeout_ms,
                                      req.producer_id, req.producer_epoch};
        txn_init_producer_id(call->svc->txns, &tr, on_transactional, call);
        return;
    }
    /* Kafka 3.x: IDEMPOTENT_WRITE on the cluster, or WRITE on some topic. */
    if (!kafka_authorize(call, ACL_OP_IDEMPOTENT_WRITE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME) &&
        !kafka_authorize_any(call, ACL_OP_WRITE, ACL_RESOURCE_TOPIC)) {
        respond(call, KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED, -1, -1);
        return;
    }
    struct init_pid_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->call = call;
    ctx->op.data = ctx;
    metadata_view_submit_producer_id(call->svc->metadata, PRODUCER_ID_WAIT_MS, &ctx->op,
                                     on_producer_id);
}
