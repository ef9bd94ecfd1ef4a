/* The records of __transaction_state, in Kafka's TransactionLogKey and
 * TransactionLogValue schemas (version 0), so Kafka's tools read them:
 *
 *   key   v0: transactional id
 *   value v0: producer id, producer epoch, transaction timeout, status,
 *             partitions (topic, partition ids), last update and start
 *             timestamps; a null value: the transactional id expired
 *
 * Pure functions; thread-safe. */
#ifndef SLUICE_BROKER_TXN_TXN_RECORDS_H
#define SLUICE_BROKER_TXN_TXN_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/kafka/kafka_arena.h"

/* Kafka's TransactionState ids, as written in the log. */
enum txn_status {
    TXN_EMPTY = 0,
    TXN_ONGOING = 1,
    TXN_PREPARE_COMMIT = 2,
    TXN_PREPARE_ABORT = 3,
    TXN_COMPLETE_COMMIT = 4,
    TXN_COMPLETE_ABORT = 5,
    TXN_DEAD = 6,
    TXN_PREPARE_EPOCH_FENCE = 7,
};

/* Kafka's names ("Empty", "Ongoing", "PrepareCommit", ...). */
const char *txn_status_name(enum txn_status s);

struct txn_topic_partition {
    const char *topic;
    int32_t partition;
};

struct txn_log_value {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t timeout_ms;
    enum txn_status status;
    const struct txn_topic_partition *partitions; /* any order; grouped by topic when written */
    size_t n_partitions;
    int64_t update_ms;
    int64_t start_ms; /* -1: no transaction started */
};

/* Append the encoding to `out`; 0, -ENOMEM or -EINVAL (a name longer than
 * Kafka's strings allow). */
int txn_log_key_encode(struct buf *out, const char *transactional_id);
int txn_log_value_encode(struct buf *out, const struct txn_log_value *v);

/* Decode; strings and the partition array live in `arena` (which bounds
 * them). 0 or -EINVAL (malformed, unknown version, or the arena is full). */
int txn_log_key_decode(const uint8_t *p, size_t len, struct kafka_arena *arena,
                       const char **transactional_id);
int txn_log_value_decode(const uint8_t *p, size_t len, struct kafka_arena *arena,
                         struct txn_log_value *out);

#endif
