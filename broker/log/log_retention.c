/* Deleting old data: retention.ms / retention.bytes (Kafka's
 * deleteOldSegments) and DeleteRecords (advancing the log start offset).
 * Only whole segments are deleted, oldest first, never the active one. */
#include "broker/log/partition_log_internal.h"

#include <inttypes.h>
#include <sys/stat.h>

#include "common/log.h"

/* Kafka uses the largest record timestamp, or the file's modification time
 * when the segment holds no timestamps. */
static int64_t segment_time(const struct segment *seg)
{
    if (seg->max_timestamp >= 0) {
        return seg->max_timestamp;
    }
    int64_t mtime = segment_mtime_ms(seg);
    return mtime < 0 ? INT64_MAX : mtime; /* unknown: keep it */
}

/* Segment k may go only if it is not active and wholly below the high
 * watermark (never delete what consumers have not been allowed to see). */
static bool deletable(const struct partition_log *log, size_t k)
{
    return k + 1 < log->nsegs && log->segs[k + 1]->base_offset <= log->high_watermark;
}

static size_t count_below_start(const struct partition_log *log)
{
    size_t k = 0;
    while (k + 1 < log->nsegs && log->segs[k + 1]->base_offset <= log->start_offset) {
        k++;
    }
    return k;
}

static size_t count_expired(const struct partition_log *log, size_t k, int64_t now_ms)
{
    if (log->cfg.retention_ms < 0) {
        return k;
    }
    while (deletable(log, k) && now_ms - segment_time(log->segs[k]) > log->cfg.retention_ms) {
        k++;
    }
    return k;
}

static size_t count_oversize(const struct partition_log *log, size_t k)
{
    if (log->cfg.retention_bytes < 0) {
        return k;
    }
    int64_t excess = partition_log_size_bytes(log) - log->cfg.retention_bytes;
    for (size_t i = 0; i < k; i++) {
        excess -= log->segs[i]->size;
    }
    while (deletable(log, k) && excess >= log->segs[k]->size) {
        excess -= log->segs[k]->size;
        k++;
    }
    return k;
}

static void delete_front(struct partition_log *log, size_t n, const char *why)
{
    if (n == 0) {
        return;
    }
    log_segs_remove(log, 0, n, why);
    if (log->start_offset < log->segs[0]->base_offset) {
        log->start_offset = log->segs[0]->base_offset;
    }
    if (log->high_watermark < log->start_offset) {
        log->high_watermark = log->start_offset;
    }
    log_note_work(log);
    log_note_deadline(log); /* the next segment may be older than the ones deleted */
}

int partition_log_apply_retention(struct partition_log *log, int64_t now_ms)
{
    size_t below = count_below_start(log);
    delete_front(log, below, "below log start offset");
    /* cleanup.policy=compact alone keeps every segment (the cleaner shrinks
     * them); only "delete" applies retention.ms / retention.bytes. */
    size_t expired = log->cfg.delete ? count_expired(log, 0, now_ms) : 0;
    delete_front(log, expired, "retention.ms");
    size_t oversize = log->cfg.delete ? count_oversize(log, 0) : 0;
    delete_front(log, oversize, "retention.bytes");
    producer_state_drop_before(&log->producers, log->start_offset);
    int rv = log_epochs_after_start_moved(log);
    return rv < 0 ? rv : (int)(below + expired + oversize);
}

static int64_t add_saturating(int64_t a, int64_t b)
{
    return b > 0 && a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t sealed_bytes(const struct partition_log *log)
{
    int64_t total = 0;
    for (size_t i = 0; i + 1 < log->nsegs; i++) {
        total += log->segs[i]->size;
    }
    return total;
}

int64_t partition_log_retention_deadline(struct partition_log *log, int64_t producer_expiration_ms)
{
    int64_t deadline = producer_state_expiry_deadline(&log->producers, producer_expiration_ms);
    log->retention_size_trigger = INT64_MAX;
    if (log->nsegs < 2) {
        return deadline; /* the active segment is never deleted: a roll tells */
    }
    if (count_below_start(log) > 0) {
        return INT64_MIN;
    }
    if (!log->cfg.delete) {
        return deadline;
    }
    int64_t over = log->cfg.retention_bytes >= 0
                       ? add_saturating(log->cfg.retention_bytes, log->segs[0]->size)
                       : INT64_MAX;
    if (over < INT64_MAX) {
        /* count_oversize's test, as the active segment's size that meets it */
        int64_t trigger = over - sealed_bytes(log);
        if (log_active(log)->size >= trigger) {
            return INT64_MIN;
        }
        log->retention_size_trigger = trigger;
    }
    if (log->cfg.retention_ms >= 0) {
        /* count_expired deletes once now - time > retention.ms */
        int64_t t = segment_time(log->segs[0]);
        int64_t expiry = t == INT64_MAX
                             ? INT64_MAX
                             : add_saturating(add_saturating(t, log->cfg.retention_ms), 1);
        deadline = expiry < deadline ? expiry : deadline;
    }
    return deadline;
}

int partition_log_advance_start(struct partition_log *log, int64_t before_offset)
{
    if (before_offset < 0 || before_offset > log->high_watermark) {
        return LOG_ERR_OFFSET_OUT_OF_RANGE;
    }
    if (before_offset <= log->start_offset) {
        return 0;
    }
    log_info("log", "advancing log start offset dir=%s from=%" PRId64 " to=%" PRId64, log->dir,
             log->start_offset, before_offset);
    log->start_offset = before_offset;
    log_note_work(log); /* the owner files the new offsets */
    return 1;
}

int partition_log_start_durable(struct partition_log *log, int64_t durable_start)
{
    /* Only what lies wholly below a start that is on disk: a crash then
     * never finds a segment of records a client was told are gone. */
    size_t k = 0;
    while (k + 1 < log->nsegs && log->segs[k + 1]->base_offset <= durable_start &&
           log->segs[k + 1]->base_offset <= log->start_offset) {
        k++;
    }
    delete_front(log, k, "DeleteRecords");
    producer_state_drop_before(&log->producers, log->start_offset);
    return log_epochs_after_start_moved(log);
}

int partition_log_delete_records(struct partition_log *log, int64_t before_offset)
{
    int rv = partition_log_advance_start(log, before_offset);
    if (rv <= 0) {
        return rv;
    }
    /* Persist the new start before deleting files, so a crash never brings
     * deleted records back from a segment that survived. */
    rv = partition_log_checkpoint(log);
    int erv = partition_log_start_durable(log, log->start_offset);
    return rv < 0 ? rv : erv;
}
