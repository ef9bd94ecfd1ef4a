/* The partition log's transactions: markers end producers' transactions
 * (producer_state.h), aborts go into the segment's `.txnindex`
 * (txn_index.h), and read_committed readers learn the first unstable offset
 * and the aborted transactions of a range. */
#include "broker/log/partition_log_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "broker/log/control_batch.h"
#include "common/log.h"

int log_txn_note(struct partition_log *log, struct segment *seg, const uint8_t *batch,
                 const struct record_batch_header *h)
{
    struct control_marker mk;
    int rv = control_batch_read_marker(batch, (size_t)record_batch_size(h), h, &mk);
    if (rv != 0) {
        if (rv < 0) {
            log_warn("log", "ignoring an unreadable control batch dir=%s offset=%" PRId64, log->dir,
                     h->base_offset);
        }
        return 0;
    }
    struct producer_marker m = {
        .producer_id = h->producer_id,
        .epoch = h->producer_epoch,
        .coordinator_epoch = mk.coordinator_epoch,
        .commit = mk.type == CONTROL_TYPE_COMMIT,
        .offset = h->base_offset,
        .timestamp = h->max_timestamp,
    };
    struct producer_completed_txn done;
    if ((rv = producer_state_end_txn(&log->producers, &m, &done)) < 0) {
        return rv;
    }
    if (!done.aborted) {
        return 0;
    }
    struct txn_index_entry e = {
        .producer_id = done.producer_id,
        .first_offset = done.first_offset,
        .last_offset = done.last_offset,
        .last_stable_offset = producer_state_stable_after(&log->producers, done.last_offset),
    };
    if ((rv = segment_txn_append(seg, &e)) < 0) {
        /* The marker is in the log: a restart's rebuild indexes it again
         * (only from the latest snapshot on). Say so. */
        log_error("log",
                  "cannot write transaction index dir=%s segment=%" PRId64 " producer=%" PRId64
                  " error=%s",
                  log->dir, seg->base_offset, done.producer_id, strerror(-rv));
    }
    return rv;
}

int64_t partition_log_first_unstable_offset(const struct partition_log *log)
{
    return producer_state_first_unstable_offset(&log->producers);
}

int partition_log_aborted_txns(const struct partition_log *log, int64_t fetch_offset,
                               int64_t upper_bound, struct txn_index_entry *out, size_t max,
                               size_t *n)
{
    *n = 0;
    bool complete = false;
    for (size_t i = log_segs_find(log, fetch_offset); i < log->nsegs && !complete && *n < max;
         i++) {
        int rv =
            segment_txn_collect(log->segs[i], fetch_offset, upper_bound, out, max, n, &complete);
        if (rv < 0) {
            log_warn("log", "cannot read transaction index dir=%s segment=%" PRId64 " error=%s",
                     log->dir, log->segs[i]->base_offset, strerror(-rv));
            return rv;
        }
    }
    return 0;
}
