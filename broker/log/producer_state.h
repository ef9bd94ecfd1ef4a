/* Per-partition producer state: Kafka's ProducerStateManager and
 * ProducerAppendInfo for idempotent producers (KIP-98, KIP-360).
 *
 * For every producer id seen in the partition's log it keeps the producer
 * epoch, the metadata of the last PRODUCER_STATE_BATCHES batches (sequence
 * range and offsets, for duplicate detection), the largest timestamp seen
 * (for producer.id.expiration.ms), the first offset of its open
 * transaction (-1: none) and the epoch of the transaction coordinator that
 * wrote its last marker (-1: none).
 *
 * Transactions (Kafka's ProducerAppendInfo for transactional and control
 * batches): a transactional batch opens the producer's transaction at its
 * first offset if none is open; a plain batch while one is open is
 * INVALID_TXN_STATE. A control batch (commit or abort marker, written by the
 * leader for the coordinator) ends it: a marker whose producer epoch is older
 * than the producer's is INVALID_PRODUCER_EPOCH, one whose coordinator epoch
 * is older than the last marker's is TRANSACTION_COORDINATOR_FENCED. A marker
 * for a producer with no open transaction is accepted (the coordinator
 * retries), its transaction spanning the marker alone, as in Kafka. A
 * completed transaction stays "unreplicated" until the high watermark passes
 * its marker: the last stable offset (LSO) is the smallest first offset of
 * the open and unreplicated transactions, capped by the high watermark.
 *
 * The leader checks each client batch with producer_state_check before it
 * writes it, exactly as Kafka's ProducerAppendInfo does for the client origin:
 *  - same epoch and the same (first, last) sequence as a retained batch: a
 *    duplicate (answered with its original offsets, not written again);
 *  - an epoch older than the producer's: INVALID_PRODUCER_EPOCH;
 *  - a newer epoch must start at sequence 0, the same epoch must continue at
 *    last sequence + 1 (wrapping at INT32_MAX): else OUT_OF_ORDER_SEQUENCE.
 *    An unknown producer may start at any sequence (since KIP-360 Kafka no
 *    longer answers UNKNOWN_PRODUCER_ID on Produce: its state may have been
 *    removed by retention or expiry).
 * Every batch written, by the leader or by a follower (which does not check:
 * the leader did), then goes through producer_state_update, so all replicas
 * hold the same state and a new leader dedupes retries sent to the old one.
 *
 * Snapshots: `<20-digit offset>.snapshot` files in the partition directory
 * (Kafka's names) hold the state of everything below that offset, written
 * atomically at segment roll. Format (big-endian): "SLPS" u16 version(1)
 * u32 crc32c(of what follows) u32 count, then per producer: i64 id, i16
 * epoch, i64 last_timestamp, i64 txn_first_offset, i32 coordinator_epoch
 * (version 2 only; version 1 files are read with -1), u8 n, n x (i32
 * first_seq, i32 last_seq, i64 first_offset, i64 last_offset). A file that
 * does not parse, or whose crc or counts are wrong, is refused (the caller
 * rebuilds from the log instead). Unreplicated transactions are not in it:
 * a snapshot is taken at roll, and what it misses above the high watermark
 * only matters to a leader, which waits for its followers again anyway; one
 * within a segment (log_producers.c) is taken only while there are none.
 *
 * The struct is the caller's (embedded in the partition log); entries are
 * owned. Loop thread only; the memory functions never log. */
#ifndef SLUICE_BROKER_LOG_PRODUCER_STATE_H
#define SLUICE_BROKER_LOG_PRODUCER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/log/record_batch.h"

#define PRODUCER_STATE_BATCHES 5 /* Kafka's NUM_BATCHES_TO_RETAIN */
#define PRODUCER_NO_EPOCH      (-1)
/* A snapshot claiming more producers than this is refused as corrupt. */
#define PRODUCER_STATE_MAX_SNAPSHOT_ENTRIES (1 << 22)

struct producer_batch_meta {
    int32_t first_seq, last_seq;
    int64_t first_offset, last_offset;
};

struct producer_entry {
    int64_t producer_id;
    int16_t epoch;
    int64_t last_timestamp;
    int64_t txn_first_offset;  /* -1: no open transaction */
    int32_t coordinator_epoch; /* of the last marker, -1: none */
    uint8_t n_batches;
    struct producer_batch_meta batches[PRODUCER_STATE_BATCHES]; /* oldest first */
};

/* A transaction its marker ended: [first_offset, last_offset], the marker
 * last. */
struct producer_completed_txn {
    int64_t producer_id;
    int64_t first_offset, last_offset;
    bool aborted;
};

/* An ordered set of offsets with a value each (producer_state.c): kept
 * sorted by key, removals mark an entry gone and drop it once it reaches the
 * front, or compact the array when the gone outnumber the rest. Keys arrive
 * in log order, so an add is an append and the smallest key is the first
 * entry: the last stable offset costs O(1) and an update O(log n) amortized,
 * whatever the number of producers. */
struct offset_set_entry {
    int64_t key, value;
    bool gone;
};
struct offset_set {
    struct offset_set_entry *v; /* [head, n): sorted by key, v[head] not gone */
    size_t head, n, cap, live;
};

struct producer_state {
    struct producer_entry *entries; /* sorted by producer_id */
    size_t count, cap;
    /* The first offsets of the open transactions (value unused). */
    struct offset_set open_txns;
    /* Completed transactions whose marker is not yet below the high
     * watermark (they hold the LSO back): by marker offset (value: the
     * first offset), and by first offset. */
    struct offset_set unreplicated_by_marker, unreplicated_by_first;
    /* At most the last timestamp of every producer that could expire (no
     * open transaction); INT64_MAX when none. Exact after
     * producer_state_expire, lowered by every change, so the expiry
     * deadline it gives may come early but never late. */
    int64_t oldest_timestamp;
};

/* What a batch header says about its producer, with its offsets in the log. */
struct producer_batch {
    int64_t producer_id;
    int16_t epoch;
    int32_t first_seq, last_seq;
    int64_t first_offset, last_offset;
    int64_t max_timestamp;
    bool transactional, control;
};

/* Fill `out` from a parsed header (base_offset as it will be in the log).
 * Returns false when the batch has no producer id (nothing to track). */
bool producer_batch_from_header(const struct record_batch_header *h, struct producer_batch *out);

void producer_state_init(struct producer_state *ps);
void producer_state_free(struct producer_state *ps);
void producer_state_clear(struct producer_state *ps);

/* Borrowed until the next change; NULL if unknown. */
const struct producer_entry *producer_state_find(const struct producer_state *ps,
                                                 int64_t producer_id);

enum producer_check {
    PRODUCER_CHECK_OK = 0,
    PRODUCER_CHECK_DUPLICATE = 1,         /* *dup holds the original batch */
    PRODUCER_CHECK_STALE_EPOCH = 2,       /* INVALID_PRODUCER_EPOCH */
    PRODUCER_CHECK_OUT_OF_ORDER = 3,      /* OUT_OF_ORDER_SEQUENCE_NUMBER */
    PRODUCER_CHECK_INVALID_TXN_STATE = 4, /* INVALID_TXN_STATE */
    PRODUCER_CHECK_COORDINATOR_FENCED = 5 /* TRANSACTION_COORDINATOR_FENCED (markers) */
};

/* The leader's check of a client batch (see above); `why` gets a reason for
 * the two refusals. Changes nothing. */
enum producer_check producer_state_check(const struct producer_state *ps,
                                         const struct producer_batch *b,
                                         struct producer_batch_meta *dup, char *why, size_t whylen);

/* Record a (non-control) batch written to the log. 0 or -ENOMEM (state
 * unchanged). A control batch only moves epoch and timestamp here: markers
 * go through producer_state_end_txn. */
int producer_state_update(struct producer_state *ps, const struct producer_batch *b);

/* A transaction marker (control batch) as written or about to be. */
struct producer_marker {
    int64_t producer_id;
    int16_t epoch;
    int32_t coordinator_epoch;
    bool commit;
    int64_t offset; /* the control batch's (only) offset */
    int64_t timestamp;
};

/* The leader's check of a marker before it writes it (see above):
 * PRODUCER_CHECK_OK, _STALE_EPOCH or _COORDINATOR_FENCED with `why`. */
enum producer_check producer_state_check_marker(const struct producer_state *ps,
                                                const struct producer_marker *m, char *why,
                                                size_t whylen);

/* Record a marker written to the log: the producer's open transaction (or
 * the marker alone) completes into *done, which is kept as unreplicated
 * until producer_state_on_high_watermark passes it. 0 or -ENOMEM (state
 * unchanged). */
int producer_state_end_txn(struct producer_state *ps, const struct producer_marker *m,
                           struct producer_completed_txn *done);

/* Forget unreplicated transactions whose marker lies below `hw`. */
void producer_state_on_high_watermark(struct producer_state *ps, int64_t hw);

/* The smallest first offset of the open and unreplicated transactions, or
 * INT64_MAX when there is none. The LSO is min(this, high watermark). */
int64_t producer_state_first_unstable_offset(const struct producer_state *ps);

/* Kafka's lastStableOffset of an aborted-transaction index entry: the
 * smallest first offset of the open transactions, else `marker_offset` + 1
 * (what a reader past it may take as stable). */
int64_t producer_state_stable_after(const struct producer_state *ps, int64_t marker_offset);

/* Drop producers whose last timestamp is at least `expiration_ms` old and
 * that have no open transaction. Returns how many went. */
size_t producer_state_expire(struct producer_state *ps, int64_t now_ms, int64_t expiration_ms);

/* When producer_state_expire may next drop a producer, given
 * `expiration_ms`: early rather than late; INT64_MAX when it never will. */
int64_t producer_state_expiry_deadline(const struct producer_state *ps, int64_t expiration_ms);

/* The log start moved to `offset` (retention, DeleteRecords): forget
 * producers whose last batch lies wholly below it, as Kafka does; their next
 * batch starts afresh. Returns how many went. */
size_t producer_state_drop_before(struct producer_state *ps, int64_t offset);

/* Serialize to a malloc'd buffer the caller frees. 0 or -ENOMEM. */
int producer_state_encode(const struct producer_state *ps, uint8_t **out, size_t *len);
/* Replace the state with the encoded one. 0, -EBADMSG (state unchanged) or
 * -ENOMEM. */
int producer_state_decode(struct producer_state *ps, const uint8_t *p, size_t len);

#endif
