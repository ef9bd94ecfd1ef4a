/* The transaction APIs' common checks; see txn_gate.h. */
#include "broker/kafka/txn_gate.h"

#include "broker/kafka/authorizer.h"
#include "proto/kafka/kafka_errors.h"

int16_t kafka_txn_gate(struct kafka_call *call, const char *transactional_id)
{
    if (call->svc->txns == NULL) {
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
    if (transactional_id == NULL ||
        !kafka_authorize(call, ACL_OP_WRITE, ACL_RESOURCE_TRANSACTIONAL_ID, transactional_id)) {
        return KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    }
    return KAFKA_ERROR_NONE;
}

int16_t kafka_txn_error_for_client(const struct kafka_call *call, int16_t code,
                                   int16_t fenced_since)
{
    if (code == KAFKA_ERROR_PRODUCER_FENCED && call->header.api_version < fenced_since) {
        return KAFKA_ERROR_INVALID_PRODUCER_EPOCH;
    }
    return code;
}
