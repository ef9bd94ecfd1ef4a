/* The transaction coordinator's marker sending (Kafka's
 * TransactionMarkerChannelManager): once a PrepareCommit or PrepareAbort is
 * durable, a job writes the commit or abort marker of the producer to every
 * partition of the transaction, and reports when all have it.
 *
 * Each partition's leader is found in the broker's metadata view: a
 * partition led here is written through txn_markers_write, any other
 * through the WRITE_TXN_MARKERS replica RPC to its leader (one RPC client
 * per leader, on the inter-broker listener). Retriable answers
 * (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS,
 * timeouts, lost connections, no leader yet) are retried with backoff
 * against the leader of the moment, without end: only the owner cancels a
 * job (when it stops coordinating the id). A partition whose topic the
 * metadata no longer knows was deleted and needs no marker (as Kafka).
 * INVALID_PRODUCER_EPOCH or TRANSACTION_COORDINATOR_FENCED from a leader
 * means a newer producer epoch or coordinator took over: the job ends with
 * that error and the owner leaves the transaction to them.
 *
 * Loop thread only. Borrows the replica manager, which must outlive it. */
#ifndef SLUICE_BROKER_TXN_TXN_MARKER_SENDER_H
#define SLUICE_BROKER_TXN_TXN_MARKER_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/replica/replica_manager.h"
#include "broker/txn/txn_records.h"

struct txn_marker_sender;
struct txn_marker_job;

/* 0 or -ENOMEM. */
int txn_marker_sender_new(struct txn_marker_sender **out, struct replica_manager *rm);
/* Cancel every job (no callbacks), close the RPC clients and the timer;
 * `closed(arg)` runs once the sender's memory is released. */
void txn_marker_sender_close(struct txn_marker_sender *s, void (*closed)(void *arg), void *arg);

/* NONE: every partition has the marker (replicated, below its high
 * watermark); INVALID_PRODUCER_EPOCH or TRANSACTION_COORDINATOR_FENCED: a
 * leader refused it for good. Called once, never from inside
 * txn_marker_send; the job is gone after it. */
typedef void (*txn_marker_job_cb)(void *arg, int16_t error);

struct txn_marker_spec {
    int64_t producer_id;
    int16_t producer_epoch;
    bool commit;
    int32_t coordinator_epoch; /* the leader epoch of the id's __transaction_state partition */
    const struct txn_topic_partition *partitions; /* copied */
    size_t n_partitions;
};

/* Start a job; NULL on -ENOMEM (nothing started, cb never called). */
struct txn_marker_job *txn_marker_send(struct txn_marker_sender *s,
                                       const struct txn_marker_spec *spec, txn_marker_job_cb cb,
                                       void *arg);
/* The owner no longer wants the outcome: cb is never called. */
void txn_marker_job_cancel(struct txn_marker_job *job);

#endif
