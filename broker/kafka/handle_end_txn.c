/* EndTxn (key 26, versions 0-3): commit or abort the producer's open
 * transaction through the transaction coordinator (broker/txn/), answered
 * once PrepareCommit/PrepareAbort is written; the markers follow. Needs
 * WRITE on the transactional id. */
#include "broker/kafka/dispatch.h"
#include "broker/kafka/txn_gate.h"
#include "broker/txn/txn_coordinator.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static void respond(struct kafka_call *call, int16_t code)
{
    struct kafka_end_txn_response resp;
    kafka_end_txn_response_init(&resp);
    resp.throttle_time_ms = 0;
    resp.error_code = kafka_txn_error_for_client(call, code, 2);
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
    int16_t refused = kafka_txn_gate(call, req.transactional_id);
    if (refused != KAFKA_ERROR_NONE) {
        respond(call, refused);
        return;
    }
    struct txn_end_request er = {req.transactional_id, req.producer_id, req.producer_epoch,
                                 req.committed};
    txn_end(call->svc->txns, &er, on_ended, call);
}
