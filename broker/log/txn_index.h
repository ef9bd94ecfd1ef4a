/* The aborted-transaction index beside a segment: Kafka's `.txnindex`
 * (TransactionIndex), in its on-disk format.
 *
 * One entry per abort marker written into the segment, in marker order,
 * each TXN_INDEX_ENTRY_SIZE bytes big-endian: version i16 (0), producerId
 * i64, firstOffset i64 (the transaction's first offset, maybe in an earlier
 * segment), lastOffset i64 (the marker's offset), lastStableOffset i64 (the
 * LSO once the marker was written: a reader whose upper bound is at or below
 * it needs no later segment's entries). Fetch with read_committed lists the
 * aborted transactions overlapping the range it returns, so consumers drop
 * their records.
 *
 * Functions on a caller-owned descriptor (the segment keeps it); reads go
 * through a fixed buffer and never allocate. Loop thread (plain pread /
 * pwrite on a small file). */
#ifndef SLUICE_BROKER_LOG_TXN_INDEX_H
#define SLUICE_BROKER_LOG_TXN_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TXN_INDEX_ENTRY_SIZE 34
#define TXN_INDEX_VERSION    0
#define TXN_INDEX_SUFFIX     ".txnindex"

struct txn_index_entry {
    int64_t producer_id;
    int64_t first_offset;
    int64_t last_offset;
    int64_t last_stable_offset;
};

void txn_index_encode(const struct txn_index_entry *e, uint8_t out[TXN_INDEX_ENTRY_SIZE]);
/* 0, or -EBADMSG for an unknown version. */
int txn_index_decode(const uint8_t in[TXN_INDEX_ENTRY_SIZE], struct txn_index_entry *e);

/* Append `e` at `*size` (the file's valid length, advanced). 0 or -errno
 * (a short write is cut back). */
int txn_index_append(int fd, int64_t *size, const struct txn_index_entry *e);

/* Kafka's collectAbortedTxns: add to `out` (room for `max`, *n in/out) every
 * entry with lastOffset >= fetch_offset and firstOffset < upper_bound, in
 * file order. *complete becomes true when an entry's lastStableOffset >=
 * upper_bound (no later segment can add any). Stops quietly when `out` is
 * full. Reads the first `size` bytes only. 0, -errno, or -EBADMSG. */
int txn_index_collect(int fd, int64_t size, int64_t fetch_offset, int64_t upper_bound,
                      struct txn_index_entry *out, size_t max, size_t *n, bool *complete);

/* Kafka's truncateTo: the valid length once entries whose lastOffset >=
 * `offset` are dropped (entries are in marker order: a prefix stays). The
 * caller ftruncates. 0 with *new_size, -errno or -EBADMSG. */
int txn_index_truncated_size(int fd, int64_t size, int64_t offset, int64_t *new_size);

#endif
