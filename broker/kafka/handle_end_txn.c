/* EndTxn (key 26, versions 0-3): commit or abort the producer's open
 * transaction through the transaction coordinator (broker/txn/), answered
 * once PrepareCommit/PrepareAbort is written; the markers follow. Needs
 * WRITE on the transactional id. */
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
    struct kafka_end_txn_response resp;
    kafka_end_txn_response_init(&resp);
    resp.throttle_time_ms = 0;
    resp.error_code = code;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_end_txn_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_ended(void *arg, int16_t error)
{
    respond(arg, error);
}

void kafka_handle_end_txn(struct kafka_call *call)
{
    struct kafka_end_txn_request req;
    int rv = kafka_end_txn_request_decode(&call->body, call->header.api_version, &req);
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
    struct txn_end_request er = {req.transactional_id, req.producer_id, req.producer_epoch,
                                 req.committed};
    txn_end(call->svc->txns, &er, on_ended, call);
}
