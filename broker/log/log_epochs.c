/* The partition log's leader-epoch cache: kept in step with appends,
 * truncation and the log start, checkpointed to leader-epoch-checkpoint, and
 * rebuilt from the batches on open (Kafka's LogLoader does the same).
 *
 * Open trusts the file only below the segment that holds the recovery point:
 * log_epochs_load drops its entries from there on and re-derives them from
 * the batches. So the file must agree with the cache below the recovery
 * point; past it, it may lag or lead. Changes are of two kinds:
 * - Hot: a new epoch at the end of the cache (a leader's first append in its
 *   epoch, a follower's first batch of one, a leader beginning its epoch
 *   deferred). It adds or replaces only entries that start at or above the
 *   log end, never below the recovery point, so it writes nothing on the loop
 *   (after a failover thousands of partitions change at once): it marks the
 *   cache unsynced, and the next flush copies the entries and writes them on
 *   the thread pool (tmp, fsync, rename, then the directory fsync) before it
 *   reports success (log_flush.c). A failed write fails the flush as a failed
 *   fsync does: the directory goes offline, as in Kafka. Kafka moved the same
 *   write and fsync off its request threads (KAFKA-15046).
 * - Urgent: truncation from the end, the log start moving, the log emptied,
 *   and a follower batch older than the latest epoch (it drops entries below
 *   the log end: Kafka's maybeTruncateNonMonotonicEntries). Written at once
 *   without fsync, as before (the next flush writes it synced; a crash may
 *   leave the older file, which open trims), unless a flush carrying an epoch
 *   snapshot is in flight: its rename on the pool could land after ours and
 *   put an older file back. Then the write waits for that flush to complete
 *   (epochs_rewrite, written by log_epochs_after_flush right after it).
 *
 * Why the file is never older than the cache below a recovery point the flush
 * sets: one flush runs at a time; it takes the snapshot S of the cache and
 * the target T (the log end) when it starts, and when it completes, with S in
 * a synced file, it moves the recovery point to R = min(T, log end). Between
 * the two the cache changes only by
 * - hot changes, at or above the log end of their time, which is >= R (the
 *   log end falls only by truncation, and truncation clamps T to it);
 * - truncation to L: entries at or above L go, and T (so R) drops to L or
 *   below;
 * - the log start moving: entries change only below the log start, where open
 *   trims the file again (truncate_from_start), so no older file misleads it;
 * - emptying the log: the durable offset jumps to the new start, which R
 *   cannot pass.
 * So S agrees with the cache below R. Any change after S was taken marks the
 * cache unsynced, so the next flush writes it again before it moves the
 * recovery point further; an urgent write deferred meanwhile is made on the
 * loop after the flush's rename, never before, so the last file renamed is
 * the newest. Closing (log_flush_sync) voids an in-flight snapshot under its
 * lock, after which the pool renames nothing, then writes the cache synced
 * before it marks the log durable to its end. */
#include "broker/log/partition_log_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Write the cache now, without fsync (the next flush writes it synced). */
static int write_unsynced(struct partition_log *log)
{
    log->epochs_unsynced = true;
    int rv = leader_epoch_cache_write_unsynced(&log->epochs, log->dir);
    if (rv < 0) {
        log_error("log", "cannot write %s dir=%s error=%s", LEADER_EPOCH_CHECKPOINT_FILE, log->dir,
                  strerror(-rv));
    }
    return rv;
}

/* An urgent change: written now, or once the in-flight flush has renamed its
 * older snapshot into place. */
static int save_urgent(struct partition_log *log)
{
    if (log_flush_writes_epochs(log)) {
        log->epochs_unsynced = true;
        log->epochs_rewrite = true;
        return 0;
    }
    return write_unsynced(log);
}

/* Opening: the log is durable to its end once open, so what it says of its
 * epochs is too. */
static int save_synced(struct partition_log *log)
{
    int rv = leader_epoch_cache_write(&log->epochs, log->dir);
    log->epochs_unsynced = rv < 0;
    return rv;
}

/* Assign the epochs of the batches in segments [from, nsegs) starting at or
 * after `from_offset`. A batch older than the latest epoch is skipped (the
 * log's epochs never decrease; Kafka's LogSegment.recover does the same). */
static int scan_segments(struct partition_log *log, size_t from)
{
    for (size_t i = from; i < log->nsegs; i++) {
        struct segment *seg = log->segs[i];
        struct segment_cursor *cur = malloc(sizeof *cur);
        if (cur == NULL) {
            return -ENOMEM;
        }
        segment_cursor_init(cur, seg);
        int rv = 0;
        for (int64_t pos = 0; pos < seg->size && rv == 0;) {
            struct record_batch_header h;
            if ((rv = segment_read_header(cur, pos, &h)) < 0) {
                break;
            }
            if (h.partition_leader_epoch > leader_epoch_cache_latest_epoch(&log->epochs)) {
                rv = leader_epoch_cache_assign(&log->epochs, h.partition_leader_epoch,
                                               h.base_offset);
                rv = rv < 0 ? rv : 0;
            }
            pos += record_batch_size(&h);
        }
        free(cur);
        if (rv < 0) {
            return rv;
        }
    }
    return 0;
}

static bool same_entries(const struct leader_epoch_cache *c, const struct leader_epoch_entry *e,
                         size_t n)
{
    if (n != c->count) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (e[i].epoch != c->entries[i].epoch || e[i].start_offset != c->entries[i].start_offset) {
            return false;
        }
    }
    return true;
}

/* Load the checkpoint and re-derive the part past the recovery point from
 * the batches (or everything, when the file is missing or corrupt). */
int log_epochs_load(struct partition_log *log, int64_t recovery_point, char *err, size_t errlen)
{
    char why[160];
    size_t from = 0;
    int rv = leader_epoch_cache_read(&log->epochs, log->dir, why, sizeof why);
    bool missing = rv == -ENOENT;
    if (rv == -ENOENT) {
        log_info("log", "no %s, building it from the log dir=%s", LEADER_EPOCH_CHECKPOINT_FILE,
                 log->dir);
    } else if (rv == LOG_ERR_CORRUPT) {
        log_warn("log", "corrupt %s, rebuilding it from the log dir=%s reason=%s",
                 LEADER_EPOCH_CHECKPOINT_FILE, log->dir, why);
    } else if (rv < 0) {
        snprintf(err, errlen, "cannot read %s in %s: %s", LEADER_EPOCH_CHECKPOINT_FILE, log->dir,
                 strerror(-rv));
        return rv;
    }
    /* What the file said, to write it again only if the log disagrees. */
    size_t nread = rv == 0 ? log->epochs.count : SIZE_MAX;
    struct leader_epoch_entry *read = NULL;
    if (nread != SIZE_MAX && nread > 0 && (read = malloc(nread * sizeof *read)) == NULL) {
        snprintf(err, errlen, "out of memory loading %s in %s", LEADER_EPOCH_CHECKPOINT_FILE,
                 log->dir);
        return -ENOMEM;
    }
    if (read != NULL) {
        memcpy(read, log->epochs.entries, nread * sizeof *read);
    }
    if (rv == 0) {
        from = log_segs_find(log, recovery_point);
        leader_epoch_cache_truncate_from_end(&log->epochs, log->segs[from]->base_offset);
    }
    if ((rv = scan_segments(log, from)) < 0) {
        snprintf(err, errlen, "cannot rebuild the leader epochs of %s: %s", log->dir,
                 log_err_name(rv));
        goto out;
    }
    leader_epoch_cache_truncate_from_end(&log->epochs, log_end(log));
    leader_epoch_cache_truncate_from_start(&log->epochs, log->start_offset);
    if (same_entries(&log->epochs, read, nread)) {
        goto out;
    }
    if (missing && log->epochs.count == 0) {
        goto out; /* nothing to say (a new log): a file of no entries costs an fsync */
    }
    if ((rv = save_synced(log)) < 0) {
        snprintf(err, errlen, "cannot write %s in %s: %s", LEADER_EPOCH_CHECKPOINT_FILE, log->dir,
                 strerror(-rv));
    }
out:
    free(read);
    return rv;
}

/* Note in the cache that `epoch` starts at `start_offset` (logged when new):
 * 1 when the cache changed, 0, or a negative error. */
static int assign(struct partition_log *log, int32_t epoch, int64_t start_offset)
{
    int rv = leader_epoch_cache_assign(&log->epochs, epoch, start_offset);
    if (rv > 0) {
        log_info("log", "leader epoch %" PRId32 " starts at offset %" PRId64 " dir=%s", epoch,
                 start_offset, log->dir);
    }
    return rv;
}

/* Whether assigning `epoch` drops an entry that starts below the log end:
 * only an epoch older than one already holding records does (a follower's
 * batch from a history truncation should have removed), and that rewrites
 * entries a recovery point may have passed. */
static bool drops_history(const struct partition_log *log, int32_t epoch)
{
    const struct leader_epoch_cache *c = &log->epochs;
    int64_t end = log_end(log);
    for (size_t i = c->count; i > 0 && c->entries[i - 1].epoch >= epoch; i--) {
        if (c->entries[i - 1].start_offset < end) {
            return true;
        }
    }
    return false;
}

int log_epochs_assign(struct partition_log *log, int32_t epoch, int64_t start_offset)
{
    if (epoch < 0) {
        return 0; /* a batch without an epoch (never written by Sluice) */
    }
    bool urgent = drops_history(log, epoch);
    int rv = assign(log, epoch, start_offset);
    if (rv <= 0) {
        return rv;
    }
    if (urgent) {
        return save_urgent(log);
    }
    log->epochs_unsynced = true; /* the next flush writes it (hot: see the top) */
    return 0;
}

int log_epochs_note_follower_batches(struct partition_log *log,
                                     const struct record_batch_header *hdrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rv = log_epochs_assign(log, hdrs[i].partition_leader_epoch, hdrs[i].base_offset);
        if (rv < 0) {
            return rv;
        }
    }
    return 0;
}

int log_epochs_after_truncation(struct partition_log *log)
{
    bool changed = leader_epoch_cache_truncate_from_end(&log->epochs, log_end(log));
    return changed ? save_urgent(log) : 0;
}

int log_epochs_after_start_moved(struct partition_log *log)
{
    bool changed = leader_epoch_cache_truncate_from_start(&log->epochs, log->start_offset);
    return changed ? save_urgent(log) : 0;
}

int log_epochs_reset(struct partition_log *log)
{
    leader_epoch_cache_clear(&log->epochs);
    return save_urgent(log);
}

void log_epochs_after_flush(struct partition_log *log)
{
    if (log->epochs_rewrite) {
        log->epochs_rewrite = false;
        (void)write_unsynced(log); /* logged there; the next flush tries again */
    }
}

/* ---- public accessors (partition_log.h) ---- */

static int begin_epoch(struct partition_log *log, int32_t epoch, bool write_now)
{
    int32_t latest = leader_epoch_cache_latest_epoch(&log->epochs);
    if (epoch < 0) {
        return -EINVAL;
    }
    if (epoch < latest) {
        log_warn("log",
                 "not beginning leader epoch %" PRId32 ": the log is at epoch %" PRId32 " dir=%s",
                 epoch, latest, log->dir);
        return LOG_ERR_STALE_EPOCH;
    }
    /* At the log end, after every entry: a hot change (see the top). */
    int rv = assign(log, epoch, log_end(log));
    if (rv <= 0) {
        return rv;
    }
    if (write_now) {
        return write_unsynced(log);
    }
    log->epochs_unsynced = true;
    return 0;
}

int partition_log_begin_epoch(struct partition_log *log, int32_t epoch)
{
    return begin_epoch(log, epoch, true);
}

int partition_log_begin_epoch_deferred(struct partition_log *log, int32_t epoch)
{
    return begin_epoch(log, epoch, false);
}

int32_t partition_log_latest_epoch(const struct partition_log *log)
{
    return leader_epoch_cache_latest_epoch(&log->epochs);
}

struct leader_epoch_end partition_log_end_offset_for_epoch(const struct partition_log *log,
                                                           int32_t epoch)
{
    return leader_epoch_cache_end_offset_for(&log->epochs, epoch, log_end(log));
}

const struct leader_epoch_cache *partition_log_epoch_cache(const struct partition_log *log)
{
    return &log->epochs;
}
