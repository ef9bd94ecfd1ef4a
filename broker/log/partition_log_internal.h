/* Private to broker/log/: the partition log's state, shared by the files that
 * implement partition_log.h (partition_log.c open/close/append/truncate,
 * log_read.c, log_recovery.c, log_retention.c, log_flush.c). */
#ifndef SLUICE_BROKER_LOG_PARTITION_LOG_INTERNAL_H
#define SLUICE_BROKER_LOG_PARTITION_LOG_INTERNAL_H

#include "broker/log/leader_epoch_cache.h"
#include "broker/log/partition_log.h"
#include "broker/log/producer_state.h"
#include "broker/log/segment.h"

/* The numeric topic settings the log uses (copied from struct topic_config). */
struct log_settings {
    int64_t segment_bytes;
    int64_t segment_ms;
    int64_t retention_ms;
    int64_t retention_bytes;
    int64_t flush_messages;
    int64_t flush_ms;
    int32_t max_message_bytes;
    int32_t index_interval_bytes;
    int32_t segment_index_bytes;
    bool compact; /* cleanup.policy has compact */
    bool delete;  /* cleanup.policy has delete */
    int64_t delete_retention_ms;
    double min_cleanable_dirty_ratio;
    int64_t min_compaction_lag_ms;
    int64_t max_compaction_lag_ms;
};

struct clean_job;

struct flush_job;

struct producer_snapshot;

/* How much a truncation may have to replay to rebuild the producer state:
 * a snapshot is taken within the active segment every this many bytes
 * (log_producers.c). */
#define PRODUCER_SNAPSHOT_INTERVAL_BYTES (32 * 1024 * 1024)

struct spare_job;

struct partition_log {
    uv_loop_t *loop;
    char *dir;
    struct log_settings cfg;
    struct log_clock clock;
    struct segment **segs; /* by base offset; the last is active; never empty */
    size_t nsegs, segs_cap;
    int64_t start_offset;
    int64_t high_watermark;
    int64_t durable_offset; /* also the recovery point */
    /* A failed fsync, sticky: the kernel may have dropped the dirty pages,
     * so a later fsync's success proves nothing about them. Like Kafka
     * taking the log directory offline, the log then accepts no appends and
     * never moves durable_offset again; reopening (a restart) recovers. */
    int io_error;
    struct partition_log_owner owner; /* owner.has_work NULL: not owned */
    bool work_noted;                  /* has_work fired; take_work not yet called */
    /* Between partition_log_prepare and partition_log_attach: the owner to
     * report to once attached, the offsets to open with, and the cache
     * bounding the segment descriptors of the load. */
    struct partition_log_owner attach_owner;
    struct log_checkpoint open_cp;
    bool have_open_cp;
    struct file_cache load_files;
    /* The active segment's size from which the log is over retention.bytes
     * (set by partition_log_retention_deadline; INT64_MAX: not watched). */
    int64_t retention_size_trigger;
    struct leader_epoch_cache epochs; /* log_epochs.c */
    struct producer_state producers;  /* log_producers.c */
    /* The cache is not (yet) in a synced leader-epoch-checkpoint: the next
     * flush copies it and writes it on the pool before it moves the recovery
     * point; closing writes it (log_epochs.c says why that is enough). */
    bool epochs_unsynced;
    /* An urgent change waits for the in-flight flush's epoch write: written
     * on the loop as soon as that flush completes (log_epochs_after_flush). */
    bool epochs_rewrite;
    /* flush state (log_flush.c) */
    int64_t unflushed_messages;
    int64_t last_flush_ms;
    bool dir_dirty; /* segment files created or removed since the last fsync */
    /* A segment rolled (Kafka flushes it in the background) or a producer
     * snapshot waits for its batches to be durable: flush in the background. */
    bool flush_soon;
    struct flush_job *flush_inflight;
    /* Taken at the last roll or within the active segment, written by the
     * next flush (log_producers.c). */
    struct producer_snapshot *snapshot_pending;
    /* Bytes appended since the last snapshot was taken; one is taken within
     * the active segment every snapshot_interval_bytes (log_producers.c). */
    int64_t snapshot_bytes;
    int64_t snapshot_interval_bytes; /* PRODUCER_SNAPSHOT_INTERVAL_BYTES; tests set less */
    int64_t mid_snapshot;            /* the last taken within the active segment, -1: none */
    /* A batch the state could not take (out of memory, a .txnindex write):
     * no snapshot is taken until the next load rebuilds it from the log. */
    bool producers_incomplete;
    struct log_flush_req *waiters;
    /* cleaner state (log_cleaner.c) */
    int64_t clean_offset;         /* everything below has been cleaned (a segment base) */
    uint64_t truncations;         /* bumped by truncation: an in-flight clean is void */
    struct clean_job *clean_job;  /* in flight, NULL if none */
    int cleaner_crash_after_step; /* tests: stop a swap after this step (0: never) */
    /* the next roll's files, made on the pool (log_spare.c) */
    struct segment *spare;
    struct spare_job *spare_job; /* in flight, NULL if none */
    bool spare_off;              /* no O_TMPFILE here, or its files cannot be named */
    bool spare_failed;           /* making one failed: no retry before the roll */
};

static inline struct segment *log_active(const struct partition_log *log)
{
    return log->segs[log->nsegs - 1];
}

static inline int64_t log_end(const struct partition_log *log)
{
    return log_active(log)->next_offset;
}

int64_t log_now_ms(const struct partition_log *log);

/* Where the log's file deletions run: its owner's queue (a few at a time),
 * or straight on its loop's thread pool for a log without one. */
static inline struct log_deleter log_deleter_of(const struct partition_log *log)
{
    return (struct log_deleter){log->owner.deletions, log->loop};
}

/* Tell the owner (if any) the log has periodic work or moved offsets. */
void log_note_work(struct partition_log *log);
/* Tell the owner (if any) its retention deadline may have moved earlier. */
void log_note_deadline(struct partition_log *log);
/* Tell the owner (if any) a compacted log may have something new to clean. */
void log_note_cleanable(struct partition_log *log);
/* A storage fault (`err`, log_err_is_storage) while doing `what`: the log
 * takes no more appends and its durable offset stays put (io_error, sticky
 * until reopened); logged and told to the owner the first time. */
void log_note_io_error(struct partition_log *log, int err, const char *what);

/* Segment list (partition_log.c). */
int log_segs_push(struct partition_log *log, struct segment *seg);
/* Drop segments [from, from + n) from the list and delete their files:
 * renamed now and unlinked on the thread pool (segment_delete_async), or,
 * for recovery (which may itself run on the pool, where no work can be
 * queued), unlinked now. */
void log_segs_remove(struct partition_log *log, size_t from, size_t n, const char *why);
void log_segs_remove_now(struct partition_log *log, size_t from, size_t n, const char *why);
/* Index of the last segment with base <= offset (0 if offset is below all). */
size_t log_segs_find(const struct partition_log *log, int64_t offset);

/* Recovery (log_recovery.c): load all segments of log->dir into log->segs,
 * validating those at or past `recovery_point`. */
int log_recovery_load(struct partition_log *log, int64_t recovery_point, char *err, size_t errlen);
/* Re-scan `seg` from the start: validate batches (offsets rising, gaps
 * allowed, every offset below `next_base`, the next segment's base or
 * INT64_MAX), rebuild both indexes, and cut the file after the last valid
 * batch. *truncated = bytes cut. */
int log_recovery_scan_segment(struct partition_log *log, struct segment *seg, int64_t next_base,
                              int64_t *truncated);
/* After the .log of `seg` was cut to seg->size, a batch boundary: bring its
 * summary and both indexes back in line as log_recovery_scan_segment would
 * (the same entries, end offset and timestamps), but from its index (Kafka's
 * LogSegment.truncateTo): keep the entries below the cut and walk the batch
 * headers after the last one kept, without CRCs, so the loop reads about
 * index.interval.bytes plus one batch instead of the whole segment. An index
 * that does not match the batches falls back to the full scan. Loop thread.
 * Returns 0 or -errno (logged). */
int log_recovery_truncate_segment(struct partition_log *log, struct segment *seg);

/* Leader epochs (log_epochs.c). Each returns 0 or the error of writing
 * leader-epoch-checkpoint (logged there), which the caller must fail on.
 * Appends only mark the cache unsynced (the flush writes it); truncation and
 * the log start write it at once unless a flush is writing it (then right
 * after that flush). */
/* After recovery: load the checkpoint, re-derive it from the batches past
 * the recovery point (all of them if the file is missing or corrupt), trim
 * it to [log start, log end] and write it if it changed. */
int log_epochs_load(struct partition_log *log, int64_t recovery_point, char *err, size_t errlen);
/* Both append paths, before the bytes are written (writes only when the
 * epoch drops entries below the log end). */
int log_epochs_assign(struct partition_log *log, int32_t epoch, int64_t start_offset);
/* The follower path: the epochs of `n` batches, headers as validation parsed them. */
int log_epochs_note_follower_batches(struct partition_log *log,
                                     const struct record_batch_header *hdrs, size_t n);
/* After the log end went down / the log start went up / the log emptied. */
int log_epochs_after_truncation(struct partition_log *log);
int log_epochs_after_start_moved(struct partition_log *log);
int log_epochs_reset(struct partition_log *log);
/* A flush completed (flush_after, on the loop): make the urgent write that
 * waited for it. */
void log_epochs_after_flush(struct partition_log *log);

/* Producer state (log_producers.c). */
/* Rebuild from the latest readable snapshot at or below the log end and the
 * batches after it (the whole log if none); later snapshots are deleted.
 * Open and truncation call it. 0 or -errno (logged). */
int log_producers_load(struct partition_log *log);
int log_producers_after_truncation(struct partition_log *log);
/* The leader's check of the `n` validated batches of one append: 0 to
 * append, 1 for a duplicate (*dup: the original; write nothing), or
 * LOG_ERR_INVALID_RECORD (an idempotent append of several batches, or
 * without epoch or sequence), LOG_ERR_OUT_OF_ORDER_SEQUENCE,
 * LOG_ERR_INVALID_PRODUCER_EPOCH with `why`. */
int log_producers_check(struct partition_log *log, const struct record_batch_header *hdrs, size_t n,
                        struct producer_batch_meta *dup, char *why, size_t whylen);
/* Both append paths, after the batches (`batches`, headers `hdrs`) are
 * written to the active segment: markers end transactions (log_txn_note).
 * 0 or -ENOMEM (logged). */
int log_producers_note(struct partition_log *log, const uint8_t *batches,
                       const struct record_batch_header *hdrs, size_t n);

/* Transactions (log_txn.c). The control batch `batch` (header `h`), written
 * into `seg`: a transaction marker ends its producer's transaction, and an
 * abort goes into seg's .txnindex. Other control batches are ignored. 0,
 * -ENOMEM or the index write's -errno (logged). */
int log_txn_note(struct partition_log *log, struct segment *seg, const uint8_t *batch,
                 const struct record_batch_header *h);
/* At roll: encode the state below the log end as the log's pending
 * snapshot, which the next flush writes to `<log end>.snapshot` on the
 * thread pool after the batches below it are durable, then deleting the
 * snapshots below the first segment. A failure is logged and only costs a
 * longer rebuild. 0 or -ENOMEM. */
int log_producers_snapshot(struct partition_log *log);
/* Thread pool (or the loop when closing): write the snapshot and fsync it;
 * the caller fsyncs the directory. Touches only `s`. */
void log_producers_snapshot_write(struct producer_snapshot *s);
/* Loop: if `s` describes state above `above` (a truncation cut it, or -1:
 * the log emptied or is going), make sure its file never appears. Returns
 * whether it did. */
bool log_producers_snapshot_void(struct producer_snapshot *s, int64_t above);
/* Loop, after the write: log a failure, free. */
void log_producers_snapshot_done(struct producer_snapshot *s);
void log_producers_snapshot_free(struct producer_snapshot *s);
/* The log emptied (truncate fully): forget everything, delete snapshots. */
void log_producers_reset(struct partition_log *log);

/* Spare segment files (log_spare.c). After an append: near a roll, make
 * the next segment's files on the pool. At a roll: the spare named as the
 * segment at `base_offset`, or NULL (none, or it cannot be used: create the
 * segment). Shutdown: drop the spare, detach a job in flight. Loop thread. */
void log_spare_note_append(struct partition_log *log);
struct segment *log_spare_take(struct partition_log *log, int64_t base_offset);
void log_spare_shutdown(struct partition_log *log);

/* Cleaner (log_cleaner.c; the swap and its recovery: log_cleaner_swap.c). */
/* Detach an in-flight clean (close/destroy): it finishes on the pool and
 * removes its .cleaned files without touching the log. */
void log_cleaner_shutdown(struct partition_log *log);
/* Before anything names a segment's files on the loop (a deletion, a
 * truncation): stop an in-flight swap where it is, so the log's segments are
 * its files again (a segment already swapped is installed, one only committed
 * taken back). Loop thread; waits at most for one segment's renames and open on the pool. */
void log_cleaner_settle(struct partition_log *log);
/* Recovery, before segments are listed: finish swaps that reached `.swap`
 * (their indexes are dropped, so they are rebuilt) and delete `.cleaned`
 * leftovers. Returns 0 or -errno. */
int log_cleaner_recover(const char *dir);

/* Flush (log_flush.c). */
void log_flush_note_append(struct partition_log *log, int64_t records);
/* Synchronous flush of everything, for close: the segments, the epoch
 * cache if unsynced or an in-flight flush was writing it (voided first), the
 * pending producer snapshot, the directory; then the log is durable to its
 * end. */
int log_flush_sync(struct partition_log *log);
/* Whether the in-flight flush (if any) writes leader-epoch-checkpoint. */
bool log_flush_writes_epochs(const struct partition_log *log);
/* Detach an in-flight job (voiding its epoch and producer snapshots) and
 * complete the waiters with `status`. */
void log_flush_shutdown(struct partition_log *log, int status);
/* After truncation: clamp the durable offset to the log end (and void the
 * snapshots above it). */
void log_flush_clamp(struct partition_log *log);
/* Void the pending and in-flight producer snapshots above `above` (-1: all). */
void log_flush_void_snapshots(struct partition_log *log, int64_t above);

#endif
