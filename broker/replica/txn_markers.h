/* Writing transaction markers on the partitions this broker leads: the one
 * code path behind the WRITE_TXN_MARKERS replica RPC (proto/replica.proto,
 * called by the transaction coordinator) and the Kafka API WriteTxnMarkers
 * (key 27). Kafka's ReplicaManager.appendRecords for the coordinator origin.
 *
 * For each marker and each of its partitions: the partition must be hosted
 * and led here (NOT_LEADER_OR_FOLLOWER; UNKNOWN_TOPIC_OR_PARTITION when the
 * metadata does not know it), the ISR at least min.insync.replicas
 * (NOT_ENOUGH_REPLICAS); then a control batch (commit or abort, the
 * coordinator's epoch) is appended for the producer at its epoch
 * (partition_log_append_marker: INVALID_PRODUCER_EPOCH,
 * TRANSACTION_COORDINATOR_FENCED as Kafka answers), and the answer waits
 * until the high watermark passes it (NOT_ENOUGH_REPLICAS_AFTER_APPEND if
 * the ISR shrank below the minimum meanwhile), leadership moves
 * (NOT_LEADER_OR_FOLLOWER) or `timeout_ms` passes (REQUEST_TIMED_OUT). Every
 * error is a Kafka error code; the coordinator retries the retriable ones.
 *
 * Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_TXN_MARKERS_H
#define SLUICE_BROKER_REPLICA_TXN_MARKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/replica/replica_manager.h"

struct txn_marker_partition {
    const char *topic;
    int32_t partition;
    int16_t error_code; /* out: a Kafka error code */
};

struct txn_marker_write {
    int64_t producer_id;
    int16_t producer_epoch;
    bool commit; /* false: abort */
    int32_t coordinator_epoch;
    struct txn_marker_partition *partitions;
    size_t n_partitions;
};

/* All markers are written (or failed): every error_code is set. */
typedef void (*txn_markers_done_cb)(void *arg);

/* Write `markers` (borrowed, with their topic strings, until `done` fires;
 * the error codes are written into them). `done` fires exactly once, from
 * inside this call when nothing has to wait, else later on the loop thread.
 * Returns 0, or -ENOMEM with nothing written and `done` never fired. */
int txn_markers_write(struct replica_manager *rm, struct txn_marker_write *markers, size_t n,
                      uint64_t timeout_ms, txn_markers_done_cb done, void *arg);

/* A marker written by txn_markers_write is replicated (the high watermark
 * passed it, in the leader epoch it was appended in). The group coordinator
 * listens, so transactional offsets (TxnOffsetCommit) on a
 * __consumer_offsets partition are applied on commit and dropped on abort
 * (Kafka's GroupCoordinator.onTransactionCompleted). */
struct txn_marker_written {
    const char *topic;
    int32_t partition;
    int32_t leader_epoch;
    int64_t producer_id;
    bool commit;
    int64_t offset; /* the marker's */
};
typedef void (*txn_marker_listener_fn)(void *arg, const struct txn_marker_written *m);
/* One listener per replica manager; fn NULL removes it. */
void txn_markers_set_listener(struct replica_manager *rm, txn_marker_listener_fn fn, void *arg);

#endif
