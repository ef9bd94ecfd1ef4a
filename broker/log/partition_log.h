/* The durable log of one partition: Kafka's on-disk design.
 *
 * A directory per partition (`<log.dir>/<topic>-<partition>`) holds segments
 * named by their 20-digit base offset: `00000000000000000000.log` (record
 * batches exactly as produced, with offsets assigned), `.index` (sparse offset
 * index: relative offset u32 + file position u32, big-endian, one entry every
 * index.interval.bytes) and `.timeindex` (timestamp i64 + relative offset u32).
 * The log start offset, high watermark and recovery point survive restarts
 * through the log's owner (the broker keeps Kafka's per-directory checkpoint
 * files) or, for a log without one, its own small `log-offsets.checkpoint`
 * text file; `leader-epoch-checkpoint` keeps
 * the leader-epoch cache (leader_epoch_cache.h: epoch -> first offset), which
 * both append paths extend, truncation and the log start trim, and opening
 * re-derives from the batches.
 *
 * Threading: every function runs on the loop thread that opened the log. The
 * only work done elsewhere is fsync, the producer snapshot written at a roll
 * (by the flush that makes the rolled segment durable), the
 * leader-epoch-checkpoint a new epoch needs (by the next flush, before it
 * moves the recovery point past the epoch's records) and file deletion, on
 * the libuv thread pool (uv_queue_work).
 *
 * Deletion (Kafka's asyncDelete): a deleted segment's files (retention,
 * DeleteRecords, truncation) are renamed `<file>.deleted` on the loop and
 * unlinked on the pool, with the last close of their descriptors, once no
 * read holds the segment; a deleted partition's directory is renamed
 * `<dir>.<id>-delete` and removed on the pool. An owned log's deletions
 * wait in its owner's queue (partition_log_owner.deletions), which lets only
 * a few onto the pool at once. Opening a log removes `*.deleted` leftovers;
 * the owner removes `-delete` directories at start-up
 * (partition_log_dir_is_deleted).
 *
 * Errors: 0 on success, negative errno for system failures, LOG_ERR_* (see
 * log_errors.h) for rejected input (the Kafka handlers map them to Kafka codes).
 * A failed append leaves the log exactly as it was (a partial write is cut
 * back), so appends work again once the cause (e.g. ENOSPC) is gone.
 *
 * Resources: a log opened without a file cache keeps every segment's three
 * files open, as Kafka does (partitions x segments x 3 descriptors); an owned
 * log shares its owner's cache (partition_log_owner.files), which opens
 * segment files on use and closes the least recently used past its limit. */
#ifndef SLUICE_BROKER_LOG_PARTITION_LOG_H
#define SLUICE_BROKER_LOG_PARTITION_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "broker/log/checkpoint.h"
#include "broker/log/leader_epoch_cache.h"
#include "broker/log/log_errors.h"
#include "common/buf.h"
#include "common/config.h"

struct file_cache;
struct log_delete_queue;
struct partition_log;
struct segment;

/* Wall clock in milliseconds, injectable for tests (retention, segment.ms,
 * flush.ms). `data` is passed back to now_ms. */
struct log_clock {
    int64_t (*now_ms)(void *data);
    void *data;
};

#define PARTITION_LOG_CHECKPOINT_FILE "log-offsets.checkpoint"

/* Write "<log_dir>/<topic>-<partition>" into `out`. Returns 0, or -ENAMETOOLONG. */
int partition_log_dir_name(const char *log_dir, const char *topic, int32_t partition, char *out,
                           size_t outlen);

/* Open the partition log in directory `dir` (the full `<topic>-<partition>`
 * path; created if missing, its parent must exist), running crash recovery:
 * the last segment and every segment past the recovery point are validated
 * batch by batch; a torn or corrupt tail is truncated (and logged); missing or
 * inconsistent indexes are rebuilt. `cfg` is copied (numbers only); `clock`
 * is copied, NULL means the real clock. `loop` is borrowed and must outlive
 * the log (fsync work is queued on it). On success *out is the caller's, to
 * release with partition_log_close or partition_log_destroy. On failure
 * returns a negative errno with `err` saying why. */
int partition_log_open(uv_loop_t *loop, const char *dir, const struct topic_config *cfg,
                       const struct log_clock *clock, struct partition_log **out, char *err,
                       size_t errlen);

/* ---- an owner that keeps the offsets checkpoints ----
 *
 * A broker keeps the offsets of all partitions of a log directory in three
 * files there (Kafka's recovery-point-offset-checkpoint and friends), written
 * on the thread pool by the log manager. A log opened with an owner reports
 * to it instead of writing its own log-offsets.checkpoint. */
struct partition_log_owner {
    /* The log has periodic work: unflushed records or a flush in flight, or
     * offsets (log start, high watermark, durable offset) that moved. Called
     * once, then not again until partition_log_take_work has cleared it. */
    void (*has_work)(void *data, struct partition_log *log);
    /* Persist the log's offsets now, before this call returns (a follower
     * emptying its log, partition_log_delete_records). Returns 0 or -errno;
     * the log manager returns 0 when memory ran out before the disk was
     * touched, and its next periodic write carries the offsets. */
    int (*checkpoint_now)(void *data, struct partition_log *log);
    /* The log is going away: closed (its final offsets in `cp`, after its last
     * fsync) or deleted (`cp` NULL). The log must not be used in the call. */
    void (*closed)(void *data, struct partition_log *log, const struct log_checkpoint *cp);
    /* The log hit a storage fault (log_err_is_storage: `err`, while doing
     * `what`) and takes no more appends; called once per log. May be NULL.
     * Called from inside an append or a flush completion: the owner must not
     * close the log in the call (it defers that). */
    void (*failed)(void *data, struct partition_log *log, int err, const char *what);
    void *data;
    /* The broker's bound on segment descriptors (file_cache.h), shared by
     * its logs and outliving them; NULL: every segment keeps its files open. */
    struct file_cache *files;
    /* partition_log_retention_deadline may have moved earlier: a segment
     * rolled, was deleted or cleaned, the log grew past retention.bytes, the
     * config changed, or a producer's timestamp is older than the others'.
     * Called from inside appends and retention: the owner only re-reads the
     * deadline. May be NULL. */
    void (*deadline_moved)(void *data, struct partition_log *log);
    /* A compacted log may have something new to clean
     * (partition_log_compaction_pending): a segment rolled, or a config
     * change made the log compacted. Called from inside appends: the owner
     * only takes note, so its cleaner visits only such logs. May be NULL. */
    void (*cleanable)(void *data, struct partition_log *log);
    /* The broker's queue of file deletions (log_delete.h), shared by its
     * logs and outliving them and their segments: what the logs delete
     * (segments, their own directory) runs there, a few jobs on the thread
     * pool at a time. NULL: straight on the pool, unbounded. */
    struct log_delete_queue *deletions;
    /* partition_log_checkpoint_wait for an owned log: file the offsets and
     * tell `w` once they are on disk; same returns. Once they are, the owner
     * calls partition_log_start_durable (segments below the start go). May be
     * NULL: a synchronous checkpoint. */
    int (*checkpoint_wait)(void *data, struct partition_log *log, struct log_checkpoint_waiter *w);
};

/* Set up a cache bounding the descriptors of the segments of the logs that
 * share it (partition_log_owner.files) to about `max_fds` (0: unbounded). */
void partition_log_file_cache_init(struct file_cache *c, size_t max_fds);

/* partition_log_open for an owned log: `cp` is what the owner's checkpoint
 * files say of this partition, or NULL when they do not list it (then the
 * log reads its own log-offsets.checkpoint, if any: the format before
 * per-directory files). `owner` is copied. */
int partition_log_open_owned(uv_loop_t *loop, const char *dir, const struct topic_config *cfg,
                             const struct log_clock *clock, const struct log_checkpoint *cp,
                             const struct partition_log_owner *owner, struct partition_log **out,
                             char *err, size_t errlen);

/* ---- opening off the loop thread ----
 *
 * partition_log_open_owned in three steps, so that many logs (a topic of
 * thousands of partitions, a restart) open on the libuv thread pool while the
 * loop keeps serving:
 * 1. partition_log_prepare, on the loop thread: copies cfg, clock, cp (NULL:
 *    read the log's own log-offsets.checkpoint, as partition_log_open_owned)
 *    and owner (may be NULL); no I/O.
 * 2. partition_log_load, on any one thread: creates the directory if missing
 *    and recovers (as partition_log_open). It touches only the log's own
 *    directory and memory: until step 3 its segments' descriptors are bounded
 *    by a cache of the log's own (PARTITION_LOG_LOAD_FDS), not the owner's.
 *    The same thread may then call partition_log_begin_epoch (a new leader's
 *    epoch written with the rest of the files). On failure (-errno with `err`)
 *    free the log with partition_log_discard.
 * 3. partition_log_attach, on the loop thread: from now on the log reports to
 *    its owner, and its open segments are in the owner's file cache.
 * Until step 3 nothing but these calls and partition_log_discard may use the
 * log. */
#define PARTITION_LOG_LOAD_FDS 64

int partition_log_prepare(uv_loop_t *loop, const char *dir, const struct topic_config *cfg,
                          const struct log_clock *clock, const struct log_checkpoint *cp,
                          const struct partition_log_owner *owner, struct partition_log **out);
int partition_log_load(struct partition_log *log, char *err, size_t errlen);
void partition_log_attach(struct partition_log *log);
/* Free a prepared log that failed to load or is not wanted any more; its
 * files stay. Any thread, before partition_log_attach. */
void partition_log_discard(struct partition_log *log);

/* The offsets a checkpoint records now: log start, high watermark and the
 * recovery point (the durable offset). */
void partition_log_offsets(const struct partition_log *log, struct log_checkpoint *cp);

/* The owner has looked at the log's work. Returns true while the log still
 * needs the periodic timer (unflushed records under a flush.ms, a flush in
 * flight): the owner keeps it listed. Otherwise has_work fires again on the
 * next change (an append, moved offsets, new settings). */
bool partition_log_take_work(struct partition_log *log);

/* Flush everything to disk (synchronously: this is shutdown), write the
 * checkpoint, complete pending flush requests from inside this call (status
 * 0, or the fsync error) and free the log. Outstanding read results stay valid until released. A
 * background fsync still in flight finishes on its own; run the loop until it
 * has (uv_run) before uv_loop_close. Returns 0 or the flush error (the log is
 * freed either way). */
int partition_log_close(struct partition_log *log);

/* Delete the partition (DeleteTopics) and free the log: its directory is
 * renamed aside now and its files and directory removed on the thread pool
 * (see Deletion above). Pending flush requests complete with LOG_ERR_CLOSED.
 * Outstanding read results stay readable until released. Returns 0, or the
 * -errno of the rename (logged; the files then stay where they were). */
int partition_log_destroy(struct partition_log *log);

/* Whether `name`, an entry of a log directory, is a partition directory
 * renamed for deletion (`<topic>-<partition>.<id>-delete`): never a
 * partition, only to be removed (partition_log_remove_deleted_dir). */
bool partition_log_dir_is_deleted(const char *name);
/* Delete partition directory `dir`, which no open log uses (a stray
 * replica, a directory left by an earlier topic of the same name): renamed
 * aside now, then removed with its files through `deletions` (log_delete.h:
 * on the thread pool, a few at a time), or, with `deletions` NULL, now on
 * this thread (blocking: for a thread of the pool). Loop thread when
 * `deletions` is given. Returns 0 once renamed (a failure of the removal is
 * logged, and the next start-up tries again), or the -errno of the rename
 * (logged; the directory stays). */
int partition_log_delete_dir(struct log_delete_queue *deletions, const char *dir);
/* Remove `path`, a directory renamed for deletion that an earlier run left
 * (partition_log_dir_is_deleted), through `deletions`. Loop thread. */
void partition_log_remove_deleted_dir(struct log_delete_queue *deletions, const char *path);

/* Replace the topic config (AlterConfigs / IncrementalAlterConfigs); takes
 * effect from the next append/roll/retention check. */
void partition_log_set_config(struct partition_log *log, const struct topic_config *cfg);

/* ---- append ---- */

/* See partition_log_append. */
#define LOG_APPEND_INFLATE_MULTIPLE 4

struct log_append_info {
    int64_t first_offset;     /* offset of the first record appended */
    int64_t last_offset;      /* offset of the last record appended */
    int64_t max_timestamp;    /* largest batch maxTimestamp, -1 if none */
    int64_t log_append_time;  /* -1: timestamps are CreateTime (no message.timestamp.type yet) */
    int64_t log_start_offset; /* after the append, for the Produce response */
    int32_t batches;
    int64_t records;  /* sum of records_count */
    bool duplicate;   /* a retried idempotent batch already in the log: first/last offset are
                         the original's and nothing was written */
    char reason[160]; /* why the append was rejected, empty on success */
};

/* Append the record batches in `batches` (`len` bytes, one or more whole v2
 * batches) as leader: every batch is validated first (record_batch_validate
 * with from_client and max.message.bytes) and nothing is written if any is
 * bad, nor when `leader_epoch` is older than the log's latest epoch
 * (LOG_ERR_STALE_EPOCH). `leader_epoch` starts an entry in the epoch cache
 * (written to leader-epoch-checkpoint by the next flush, off the loop) if it
 * is new. Then baseOffset is rewritten
 * to the next offsets and partitionLeaderEpoch to `leader_epoch`, IN PLACE in the caller's buffer
 * (both outside the CRC), and the bytes are written in one write. The buffer
 * is borrowed for the call only. Rolls a new segment first when the active
 * one would pass segment.bytes, is older than segment.ms, or its index is full.
 * May start a background fsync per flush.messages / flush.ms.
 * The compressed batches of one call may inflate to at most
 * LOG_APPEND_INFLATE_MULTIPLE x max.message.bytes together, else
 * LOG_ERR_INVALID_RECORD: they are inflated on the loop to be validated,
 * all before any is written (the append is atomic), so this bounds the
 * time one partition of a Produce holds the loop, while clients send one
 * batch per partition per request (a few are accepted).
 * Returns 0 with `info` filled, or an error with info->reason set. */
int partition_log_append(struct partition_log *log, uint8_t *batches, size_t len,
                         int32_t leader_epoch, struct log_append_info *info);

/* Idempotent producers (producer_state.h): a batch with a producer id is
 * checked against the partition's producer state by partition_log_append
 * (alone in its append, else LOG_ERR_INVALID_RECORD; a retry of one of the
 * producer's last five batches returns 0 with info->duplicate and writes
 * nothing; LOG_ERR_OUT_OF_ORDER_SEQUENCE, LOG_ERR_INVALID_PRODUCER_EPOCH).
 * Both append paths record what they write; the state is snapshotted at
 * segment roll (encoded on the loop, written on the thread pool once the
 * batches it describes are durable; a truncation below it voids it) and
 * rebuilt on open and truncation from the latest snapshot at or below the
 * log end plus the batches after it. */

/* Drop producers idle for `expiration_ms` (producer.id.expiration.ms): their
 * next batch starts afresh at any sequence. Returns how many went. */
size_t partition_log_expire_producers(struct partition_log *log, int64_t now_ms,
                                      int64_t expiration_ms);

/* ---- transactions (log_txn.c; producer_state.h, txn_index.h) ----
 *
 * Transactional batches open their producer's transaction (a plain batch
 * while one is open: LOG_ERR_INVALID_TXN_STATE). The leader writes commit and
 * abort markers for the transaction coordinator with
 * partition_log_append_marker; followers and recovery read them from the
 * batches. Each abort is listed in the `.txnindex` of the segment holding its
 * marker (deleted with the segment, rebuilt from the latest producer snapshot
 * on open and truncation). */

struct log_txn_marker {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t coordinator_epoch;
    bool commit;
};

/* Append a marker as leader in `leader_epoch` (a control batch of one
 * record at the log end, timestamped now). Refused with
 * LOG_ERR_INVALID_PRODUCER_EPOCH (older than the producer's epoch),
 * LOG_ERR_COORDINATOR_FENCED (older coordinator epoch than the last marker's)
 * or as partition_log_append. info->first_offset is the marker's offset. */
int partition_log_append_marker(struct partition_log *log, const struct log_txn_marker *m,
                                int32_t leader_epoch, struct log_append_info *info);

/* The first offset of the open transactions and of those whose marker is not
 * yet below the high watermark; INT64_MAX if none. The last stable offset is
 * min(this, high watermark). */
int64_t partition_log_first_unstable_offset(const struct partition_log *log);

struct txn_index_entry;
/* The aborted transactions overlapping [fetch_offset, upper_bound): marker
 * at or after fetch_offset and first offset below upper_bound, at most `max`
 * (into `out`, *n of them), scanning the segments from fetch_offset's on.
 * 0 or -errno. */
int partition_log_aborted_txns(const struct partition_log *log, int64_t fetch_offset,
                               int64_t upper_bound, struct txn_index_entry *out, size_t max,
                               size_t *n);

struct producer_state;
/* The partition's producer state, borrowed (read-only) until the next append
 * or truncation (DescribeProducers). */
const struct producer_state *partition_log_producers(const struct partition_log *log);

/* Append batches fetched from the leader keeping their offsets and leader
 * epochs: each batch must start at or above the log end offset and above its
 * predecessor (gaps are allowed under any cleanup.policy: the leader's
 * cleaner leaves them), else LOG_ERR_OFFSET_MISMATCH; validated for magic, lengths and
 * CRC (not the producer rules). Nothing written on error. info->first_offset is the first batch's
 * base offset. */
int partition_log_append_as_follower(struct partition_log *log, const uint8_t *batches, size_t len,
                                     struct log_append_info *info);

/* ---- read ---- */

/* Whole batches from one segment, as a byte range of an open file so Fetch
 * can sendfile it. Holds a reference on the segment: the fd stays open and
 * the bytes stay readable even if retention or DeleteTopics removes the
 * files, until log_read_result_release. (Truncation, which only replication
 * does, can still cut the bytes short: readers past the new end get EOF.) */
struct log_read_result {
    int fd;               /* the segment's .log file; do not close */
    int64_t position;     /* file position of the first byte */
    size_t length;        /* 0: nothing to return (at log end / bound) */
    int64_t first_offset; /* baseOffset of the first batch returned, -1 if empty */
    int64_t next_offset;  /* last offset of the last batch + 1 (or the request offset if empty) */
    int32_t batches;
    struct segment *segment; /* private: the reference; NULL if empty */
};

/* Read from `offset`: up to `max_bytes` of whole batches, but at least one
 * whole batch even if larger; only batches whose last offset is below
 * `max_offset` (exclusive bound, e.g. the high watermark; INT64_MAX for
 * none). A read starting inside a batch returns from that batch's start, as
 * Kafka does (the consumer skips the earlier records). Reads never span
 * segments. Returns 0 (maybe with length 0 at the log end or the bound), or
 * LOG_ERR_OFFSET_OUT_OF_RANGE when offset < log start or > log end, or
 * LOG_ERR_CORRUPT / -errno if the file cannot be read. On success the caller
 * must call log_read_result_release (harmless on an empty result). */
int partition_log_read(struct partition_log *log, int64_t offset, size_t max_bytes,
                       int64_t max_offset, struct log_read_result *out);

/* Drop the segment reference of `r` (safe to call twice, or on empty results). */
void log_read_result_release(struct log_read_result *r);

/* Same as partition_log_read but appends the bytes to `out` (for TLS, tests).
 * If `info` is not NULL it receives the offsets (its segment is NULL: no
 * release needed). Returns as partition_log_read, or -ENOMEM / -EIO. */
int partition_log_read_copy(struct partition_log *log, int64_t offset, size_t max_bytes,
                            int64_t max_offset, struct buf *out, struct log_read_result *info);

/* ListOffsets by timestamp: the first batch whose maxTimestamp >= `ts`.
 * Returns 0 with *offset = its base offset (clamped up to the log start) and
 * *batch_ts = its maxTimestamp, or 0 with *offset = -1 and *batch_ts = -1 when
 * no batch qualifies (Kafka answers offset -1 then). The special timestamps
 * -1 (latest) and -2 (earliest) are the caller's: use end/start offset. */
int partition_log_offset_for_timestamp(struct partition_log *log, int64_t ts, int64_t *offset,
                                       int64_t *batch_ts);

/* ---- offsets ---- */

int64_t partition_log_start_offset(const struct partition_log *log);
int64_t partition_log_end_offset(const struct partition_log *log);
int64_t partition_log_high_watermark(const struct partition_log *log);
/* Everything below this offset has been fsynced. */
int64_t partition_log_durable_offset(const struct partition_log *log);
/* Bytes in all segments. */
int64_t partition_log_size_bytes(const struct partition_log *log);
int partition_log_segment_count(const struct partition_log *log);

/* Move the high watermark to `hw`, clamped to [log start, log end]; it never
 * moves backwards here (only truncate_to lowers it). Kept in memory; written
 * by partition_log_checkpoint and on close. */
void partition_log_set_high_watermark(struct partition_log *log, int64_t hw);

/* Persist the offsets (start offset, high watermark, recovery point) now:
 * through the owner's checkpoint_now for an owned log, else
 * log-offsets.checkpoint atomically (tmp file, fsync, rename, fsync
 * directory). Synchronous: for the rare changes that delete files after it,
 * never per request. */
int partition_log_checkpoint(struct partition_log *log);

/* Make the offsets as they are now durable without blocking the loop:
 * returns 1 if they already are (`w->done` not called), 0 if `w->done` will
 * be called from the loop once a checkpoint write holding them landed (0)
 * or failed / the owner closed (-errno, LOG_ERR_CLOSED), or -errno now. A
 * log without an owner writes its own file here (tests, tools: 1 or
 * -errno). */
int partition_log_checkpoint_wait(struct partition_log *log, struct log_checkpoint_waiter *w);

/* ---- replication / admin ---- */

/* Remove every record at or above `offset` (a follower truncating to the
 * leader's log). Segments wholly above go; the segment holding `offset` is
 * cut at the start of the batch containing `offset`, so the new log end may be
 * below `offset` if it falls inside a batch. High watermark and durable offset
 * are lowered to the new end. offset >= log end: nothing to do. offset below
 * the log start: the log is emptied and restarts at `offset`. */
int partition_log_truncate_to(struct partition_log *log, int64_t offset);

/* Empty the log and restart it at `offset` (a follower whose leader's log
 * starts beyond its end, Kafka's truncateFullyAndStartAt): all segments are
 * deleted, start offset, end offset and high watermark become `offset`, and
 * the checkpoint is written. */
int partition_log_truncate_fully_and_start_at(struct partition_log *log, int64_t offset);

/* DeleteRecords: advance the log start offset to `before_offset` (must be
 * <= high watermark, else LOG_ERR_OFFSET_OUT_OF_RANGE) and delete whole
 * segments that lie entirely below it (never the active one). The checkpoint
 * is written before returning. A lower offset than the current start is a
 * no-op success. */
int partition_log_delete_records(struct partition_log *log, int64_t before_offset);

/* DeleteRecords off the loop's disk, in three steps. Advance the log start
 * offset in memory (bounds as above; readers see it at once): returns 1 if
 * it moved, 0 if `before_offset` is not past it. Then
 * partition_log_checkpoint_wait: the answer may go once it completes. The
 * owner then calls partition_log_start_durable with the start offset its
 * written checkpoint holds, which deletes the segments wholly below it. */
int partition_log_advance_start(struct partition_log *log, int64_t before_offset);
int partition_log_start_durable(struct partition_log *log, int64_t durable_start);

/* Retention: delete whole segments, oldest first and never the active one,
 * whose largest timestamp is older than now_ms - retention.ms, or while the
 * log exceeds retention.bytes by at least the oldest segment's size. Also
 * drops segments entirely below the log start offset. The owner calls this on
 * a timer (log.retention.check.interval.ms). Returns the number of segments
 * deleted, or a negative error. */
int partition_log_apply_retention(struct partition_log *log, int64_t now_ms);

/* The wall-clock time (ms) from which partition_log_apply_retention or
 * partition_log_expire_producers (with `producer_expiration_ms`) may have
 * something to do if nothing else changes: the oldest segment's largest
 * timestamp + retention.ms, INT64_MIN when segments lie below the log start
 * or the log is over retention.bytes by the oldest segment's size, the
 * producers' expiry; INT64_MAX for never. It may come early (a segment not
 * yet below the high watermark is still kept), never late: whatever moves it
 * earlier calls the owner's deadline_moved, which is how an owner's timer can
 * visit only the logs that are due (Kafka's retention pass visits all).
 * Also arms that call for the append that takes the log past
 * retention.bytes. */
int64_t partition_log_retention_deadline(struct partition_log *log, int64_t producer_expiration_ms);

/* ---- leader epochs (KIP-101, KIP-279) ---- */

/* A replica becoming leader in `epoch` records that the epoch starts at the
 * log end (Kafka's maybeAssignEpochStartOffset in makeLeader), before it
 * appends anything, so OffsetForLeaderEpoch answers for the old epochs end
 * where the new one begins. The latest epoch again changes nothing; an older
 * one is refused with LOG_ERR_STALE_EPOCH (the log already holds a newer
 * leader's records), as partition_log_append refuses to stamp it. Writes the
 * checkpoint (unsynced: the next flush syncs it) when the cache changed.
 * Returns 0, -EINVAL for a negative epoch,
 * LOG_ERR_STALE_EPOCH, or -errno (checkpoint write). */
int partition_log_begin_epoch(struct partition_log *log, int32_t epoch);
/* The same on the loop thread, but the checkpoint is not written now: the
 * next flush writes it on the thread pool (or closing, or a truncation):
 * thousands of partitions changing leader at once (a broker unfenced after
 * its restart) must not hold the loop with a file written for each. The
 * recovery point does not pass the epoch's records before that flush, and
 * open re-derives the epochs past it from the batches, so a crash loses
 * nothing the log refers to. Returns 0, -EINVAL or LOG_ERR_STALE_EPOCH. */
int partition_log_begin_epoch_deferred(struct partition_log *log, int32_t epoch);

/* Latest epoch with an entry, LEADER_EPOCH_UNDEFINED for an empty cache. */
int32_t partition_log_latest_epoch(const struct partition_log *log);

/* OffsetForLeaderEpoch: leader_epoch_cache_end_offset_for against this log's
 * end offset. */
struct leader_epoch_end partition_log_end_offset_for_epoch(const struct partition_log *log,
                                                           int32_t epoch);

/* The cache itself, borrowed (read-only; valid until the next call that
 * changes the log), e.g. for leader_epoch_truncation_decide. */
const struct leader_epoch_cache *partition_log_epoch_cache(const struct partition_log *log);

/* ---- compaction (log_cleaner.c; Kafka's LogCleaner) ----
 *
 * For cleanup.policy=compact (or compact,delete): keep the last record of
 * each key. The log is split at clean_offset into a clean head (already
 * compacted) and a dirty section ending before the first uncleanable segment
 * (the active one, one reaching past the high watermark, or one younger than
 * min.compaction.lag.ms). A clean builds a key -> latest offset map over the
 * dirty section, then rewrites every non-active segment up to its end on the
 * libuv thread pool, dropping records whose key has a later offset and
 * tombstones (null value) older than delete.retention.ms. Offsets and batch
 * boundaries stay: a rewritten batch keeps its base offset and
 * lastOffsetDelta; an emptied batch goes (gaps are allowed). Compressed
 * batches are decompressed (batch_codec.h) and what they keep is
 * recompressed with their own codec. Control batches, and batches that do
 * not decode, are kept whole and their keys are not mapped (never wrongly
 * dropped). Transactional records are not mapped either (an aborted one
 * must never supersede a committed value; their .txnindex entries stay with
 * the segment, so read_committed readers still drop aborted ones), and
 * transactional tombstones are kept; a later plain record supersedes them.
 * Unlike Kafka, aborted records are not removed and markers are kept
 * forever. Compacted logs refuse records without a key at append.
 *
 * Crash safety (Kafka's .cleaned/.swap): the pool writes and fsyncs
 * `<base>.log.cleaned` with `.index.cleaned` and `.timeindex.cleaned`; the
 * loop renames `.log.cleaned` to `.log.swap` and fsyncs the directory (the
 * commit point), renames the indexes and then `.log.swap` over `.log`.
 * Opening a log finishes any `.swap` (rebuilding its indexes) and deletes
 * `.cleaned` files. Readers holding the old segment keep its open file. */

struct log_cleaner_limits {
    int64_t dedupe_buffer_bytes;    /* log.cleaner.dedupe.buffer.size */
    double io_max_bytes_per_second; /* log.cleaner.io.max.bytes.per.second (read + write) */
};

struct log_clean_stats {
    int status; /* 0, -errno, or LOG_ERR_CLOSED when the log closed or was truncated meanwhile */
    int64_t bytes_read;
    int64_t bytes_written;
    int64_t records_removed;
    int segments_rewritten;
    int64_t clean_offset; /* the log's clean offset afterwards */
};

/* `log` is NULL if the log was closed or destroyed meanwhile. */
typedef void (*log_clean_cb)(struct partition_log *log, const struct log_clean_stats *st,
                             void *data);

/* How dirty a compacted log is: dirty bytes / (clean + dirty bytes) of its
 * cleanable segments, or -1 if it cannot be cleaned now (not compacted, a
 * clean in flight, nothing dirty, or below min.cleanable.dirty.ratio and not
 * past max.compaction.lag.ms). */
double partition_log_cleanable_ratio(const struct partition_log *log, int64_t now_ms);

/* Start a clean if partition_log_cleanable_ratio says one is due. Returns 1
 * when queued (`cb` fires later on the loop thread, exactly once), 0 when
 * there is nothing to do, or a negative errno (cb will not fire). */
int partition_log_clean(struct partition_log *log, const struct log_cleaner_limits *lim,
                        int64_t now_ms, log_clean_cb cb, void *data);

/* Whether a compacted log has segments past its clean offset besides the
 * active one: dirty data a clean will take once due (dirty enough, old
 * enough, below the high watermark). False for other logs. O(1): an owner
 * keeps the logs for which it holds and drops the others. */
bool partition_log_compaction_pending(const struct partition_log *log);

/* Offset below which the log has been compacted (the log start if never). */
int64_t partition_log_clean_offset(const struct partition_log *log);

/* ---- durability ---- */

struct log_flush_req;
typedef void (*log_flush_cb)(struct log_flush_req *req, int status);

/* Caller-owned; must stay valid until the callback fires. */
struct log_flush_req {
    void *data;
    /* private */
    log_flush_cb cb;
    int64_t target;
    struct log_flush_req *next;
};

/* Ask for everything appended so far to be fsynced; `cb` fires on the loop
 * thread, always asynchronously (never from inside this call), with status 0
 * once partition_log_durable_offset covers the log end at the time of the
 * call, or a negative errno if fsync failed. `cb` must not close or destroy
 * the log. Returns 0, or an error (-ENOMEM, uv_queue_work's) and then `cb`
 * will not fire. */
int partition_log_flush(struct partition_log *log, struct log_flush_req *req, log_flush_cb cb);

/* Start a background fsync if flush.messages or flush.ms says one is due, or
 * a segment rolled since the last one (Kafka flushes segments that stop being
 * active, so recovery after a crash only re-reads recent data). The owner
 * calls this on a timer (Kafka's log.flush.scheduler.interval.ms); appends
 * check it too. */
void partition_log_flush_if_due(struct partition_log *log);

#endif
