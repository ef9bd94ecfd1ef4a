/* The partition log's leader-epoch cache: kept in step with appends,
 * truncation and the log start, checkpointed on every change, and rebuilt
 * from the batches on open (Kafka's LogLoader does the same). The
 * checkpoint is written before the data it describes, so after a crash it
 * can only be ahead of the log (trimmed on open), never behind. It is written
 * without fsync (an fsync per partition on the loop cost seconds at a
 * thousand partitions); the flush that moves the recovery point fsyncs it
 * first (log_flush.c), and open re-derives every epoch past the recovery
 * point from the batches, so what a crash can lose is rebuilt. A leader
 * beginning its epoch on the loop leaves the write to the epoch's first
 * append (partition_log_begin_epoch_deferred): until then no record names
 * the epoch, so a file without it is no more behind than an unsynced one a
 * crash lost. */
#include "broker/log/partition_log_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Write the checkpoint if the cache changed or an earlier write failed: a
 * failed write must not be forgotten once the same epoch's next append finds
 * nothing new in memory. */
static int save_if(struct partition_log *log, bool changed)
{
    if (!changed && !log->epochs_unsaved) {
        return 0;
    }
    int rv = leader_epoch_cache_write_unsynced(&log->epochs, log->dir);
    log->epochs_unsaved = rv < 0;
    log->epochs_unsynced = log->epochs_unsynced || rv == 0;
    if (rv < 0) {
        log_error("log", "cannot write %s dir=%s error=%s", LEADER_EPOCH_CHECKPOINT_FILE, log->dir,
                  strerror(-rv));
    }
    return rv;
}

static int save(struct partition_log *log)
{
    return save_if(log, true);
}

/* Opening: the log is durable to its end once open, so what it says of its
 * epochs is too. */
static int save_synced(struct partition_log *log)
{
    int rv = leader_epoch_cache_write(&log->epochs, log->dir);
    log->epochs_unsaved = rv < 0;
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

int log_epochs_assign(struct partition_log *log, int32_t epoch, int64_t start_offset)
{
    if (epoch < 0) {
        return 0; /* a batch without an epoch (never written by Sluice) */
    }
    int rv = assign(log, epoch, start_offset);
    return rv < 0 ? rv : save_if(log, rv > 0);
}

int log_epochs_write_pending(struct partition_log *log)
{
    return save_if(log, false);
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
    return save_if(log, leader_epoch_cache_truncate_from_end(&log->epochs, log_end(log)));
}

int log_epochs_after_start_moved(struct partition_log *log)
{
    return save_if(log, leader_epoch_cache_truncate_from_start(&log->epochs, log->start_offset));
}

int log_epochs_reset(struct partition_log *log)
{
    leader_epoch_cache_clear(&log->epochs);
    return save(log);
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
    int rv = assign(log, epoch, log_end(log));
    if (rv < 0 || write_now) {
        return rv < 0 ? rv : save_if(log, rv > 0);
    }
    log->epochs_unsaved = log->epochs_unsaved || rv > 0;
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
