/* Kafka's transaction coordinator (KIP-98): the state of each
 * transactional.id, kept in the internal topic __transaction_state.
 *
 * A transactional id lives in partition abs(hashCode(id)) % n of that topic
 * (broker/coord/coord_log.h) and this broker coordinates it while it leads
 * that partition: the partition is loaded on the first request after a new
 * leader epoch and dropped when leadership goes (NOT_COORDINATOR). Every
 * state change is appended as a Kafka-schema record (txn_records.h) and
 * takes effect, and is answered, only once the high watermark passes it
 * (acks=all); while one is in flight the id answers CONCURRENT_TRANSACTIONS.
 *
 * Answers come through callbacks, at once or later. Error codes are
 * Kafka's. Loop thread only. Borrows its dependencies, which must outlive
 * it. */
#ifndef SLUICE_BROKER_TXN_TXN_COORDINATOR_H
#define SLUICE_BROKER_TXN_TXN_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/metadata/metadata_view.h"
#include "broker/replica/replica_manager.h"
#include "broker/txn/txn_records.h"
#include "common/config.h"

#define TXN_STATE_TOPIC "__transaction_state"

struct txn_coordinator;

/* 0 or -ENOMEM. */
int txn_coordinator_start(struct txn_coordinator **out, uv_loop_t *loop,
                          const struct sluice_config *cfg, struct metadata_view *metadata,
                          struct replica_manager *replicas);
/* Close the timer; the coordinator frees itself once it is closed. */
void txn_coordinator_stop(struct txn_coordinator *tc);

/* FindCoordinator key type 1: the node leading the id's partition. Creates
 * __transaction_state on first use (COORDINATOR_NOT_AVAILABLE meanwhile). */
int16_t txn_find_coordinator(struct txn_coordinator *tc, const char *transactional_id,
                             int32_t *node_id);

struct txn_init_request {
    const char *transactional_id; /* copied */
    int32_t timeout_ms;
    int64_t producer_id; /* KIP-360 (v3+): the caller's current id and epoch, or -1 */
    int16_t producer_epoch;
};

/* InitProducerId with a transactional id: a new producer id (epoch 0) for a
 * new id, else the same id with its epoch bumped, which fences the previous
 * instance (its requests get PRODUCER_FENCED / INVALID_PRODUCER_EPOCH); a
 * KIP-360 retry naming the epoch before the last bump gets the same answer.
 * INVALID_TRANSACTION_TIMEOUT outside 1..transaction.max.timeout.ms;
 * CONCURRENT_TRANSACTIONS while the id's previous transaction completes, or
 * after aborting the transaction the previous instance left open (the
 * client retries). */
typedef void (*txn_init_cb)(void *arg, int16_t error, int64_t producer_id, int16_t epoch);
void txn_init_producer_id(struct txn_coordinator *tc, const struct txn_init_request *req,
                          txn_init_cb cb, void *arg);

/* The answers of AddPartitionsToTxn, AddOffsetsToTxn and EndTxn: a Kafka
 * error code (PRODUCER_FENCED for a stale epoch: the handler maps it for
 * old versions). */
typedef void (*txn_result_cb)(void *arg, int16_t error);

struct txn_add_request {
    const char *transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    const struct txn_topic_partition *partitions; /* copied */
    size_t n_partitions;
};

/* AddPartitionsToTxn: the partitions join the id's transaction (Empty or
 * Complete -> Ongoing, which starts its timeout), once written.
 * INVALID_PRODUCER_ID_MAPPING for an unknown id or another producer id,
 * PRODUCER_FENCED for another epoch, CONCURRENT_TRANSACTIONS while a state
 * is being written or the previous transaction completes. */
void txn_add_partitions(struct txn_coordinator *tc, const struct txn_add_request *req,
                        txn_result_cb cb, void *arg);
/* AddOffsetsToTxn: adds the __consumer_offsets partition of `group_id`, so
 * the transaction's markers reach the group's committed offsets. */
void txn_add_offsets(struct txn_coordinator *tc, const char *transactional_id, int64_t producer_id,
                     int16_t producer_epoch, const char *group_id, txn_result_cb cb, void *arg);

struct txn_end_request {
    const char *transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    bool commit;
};

/* EndTxn: Ongoing -> PrepareCommit/PrepareAbort, answered once that is
 * written; the markers then go to every partition of the transaction
 * (txn_marker_sender.h) and CompleteCommit/CompleteAbort is written when
 * they all have them. A retry of a finished EndTxn is answered NONE (or
 * CONCURRENT_TRANSACTIONS while it completes); a commit of an aborting
 * transaction, an abort of a committing one, or ending with no transaction
 * open, INVALID_TXN_STATE. */
void txn_end(struct txn_coordinator *tc, const struct txn_end_request *req, txn_result_cb cb,
             void *arg);

/* What DescribeTransactions and ListTransactions show of one id; pointers
 * valid during the callback only. */
struct txn_description {
    const char *transactional_id;
    enum txn_status status;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t timeout_ms;
    int64_t start_ms; /* -1: none */
    const struct txn_topic_partition *partitions;
    size_t n_partitions;
};

/* DescribeTransactions: NONE with fn called once, or the routing error
 * (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, ...) or
 * TRANSACTIONAL_ID_NOT_FOUND. */
int16_t txn_describe(struct txn_coordinator *tc, const char *transactional_id,
                     void (*fn)(void *arg, const struct txn_description *d), void *arg);
/* ListTransactions: every id this broker coordinates now. */
void txn_each(struct txn_coordinator *tc, void (*fn)(void *arg, const struct txn_description *d),
              void *arg);

#endif
