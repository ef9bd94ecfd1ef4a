/* AddOffsetsToTxn (key 25, versions 0-3): the consumer group's
 * __consumer_offsets partition joins the producer's transaction, so the
 * offsets the producer commits in it (TxnOffsetCommit) become visible with
 * the transaction's commit marker. Needs WRITE on the transactional id and
 * READ on the group. */
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/txn_gate.h"
#include "broker/txn/txn_coordinator.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static void respond(struct kafka_call *call, int16_t code)
{
    struct kafka_add_offsets_to_txn_response resp;
    kafka_add_offsets_to_txn_response_init(&resp);
    resp.throttle_time_ms = 0;
    resp.error_code = kafka_txn_error_for_client(call, code, 2);
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
    int16_t refused = kafka_txn_gate(call, req.transactional_id);
    if (refused != KAFKA_ERROR_NONE) {
        respond(call, refused);
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
