/* What the transaction APIs (InitProducerId with a transactional id,
 * AddPartitionsToTxn, AddOffsetsToTxn, EndTxn) check before they reach the
 * transaction coordinator (broker/txn/), and how they word its errors for
 * older clients. Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_TXN_GATE_H
#define SLUICE_BROKER_KAFKA_TXN_GATE_H

#include <stdint.h>

#include "broker/kafka/dispatch.h"

/* KAFKA_ERROR_NONE when the call may act for `transactional_id` (borrowed;
 * NULL is refused) through this broker's coordinator; otherwise the error
 * to answer with: COORDINATOR_NOT_AVAILABLE without a coordinator,
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED without WRITE on the id (Kafka's
 * KafkaApis). */
int16_t kafka_txn_gate(struct kafka_call *call, const char *transactional_id);

/* `code` as the call's client knows it: clients of an API version below
 * `fenced_since` predate KIP-588's PRODUCER_FENCED and get
 * INVALID_PRODUCER_EPOCH for it. */
int16_t kafka_txn_error_for_client(const struct kafka_call *call, int16_t code,
                                   int16_t fenced_since);

#endif
