/* AddOffsetsToTxn (key 25, versions 0-3): the consumer group's
 * __consumer_offsets partition joins the producer's transaction, so the
 * offsets the producer commits in it (TxnOffsetCommit) become visible with
 * the transaction's commit marker. Needs WRITE on the transactional id and
 * READ on the group. */
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/txn/txn_coordinator.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static void respond(struct kafka_call *call, int16_t code)
{
    /* Clients before KIP-588 (v2) know INVALID_PRODUCER_EPOCH, not PRODUCER_FENCED. */
    if (code == KAFKA_ERROR_PRODUCER_FENCED && call->header.api_version < 2) {
        code = KAFKA_ERROR_INVALID_PRODUCER_EPOCH;
    }
    struct kafka_add_offsets_to_txn_response resp;
    kafka_add_offsets_to_txn_response_init(&resp);
    resp.throttle_time_ms = 0;
    resp.error_code = code;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_add_offsets_to_txn_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_added(void *arg, int16_t error)
{
    respond(arg, error);
}

void kafka_handle_add_offsets_to_txn(struct kafka_call *call)
{
    struct kafka_add_offsets_to_txn_request req;
    int rv = kafka_add_offsets_to_txn_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    if (call->svc->txns == NULL) {
        respond(call, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (req.transactional_id == NULL ||
        !kafka_authorize(call, ACL_OP_WRITE, ACL_RESOURCE_TRANSACTIONAL_ID, req.transactional_id)) {
        respond(call, KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
        return;
    }
    if (req.group_id == NULL ||
        !kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_GROUP, req.group_id)) {
        respond(call, KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED);
        return;
    }
    txn_add_offsets(call->svc->txns, req.transactional_id, req.producer_id, req.producer_epoch,
                    req.group_id, on_added, call);
}
