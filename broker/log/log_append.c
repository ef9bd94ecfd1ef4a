/* Partition log writes: leader and follower appends, segment rolls,
 * truncation (replication). */
#include "broker/log/partition_log_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/checkpoint.h"
#include "broker/log/control_batch.h"
#include "common/log.h"

#define SCAN_INLINE_HEADERS 16

/* What validation learnt about the batches of one append: each header is
 * parsed once, here, and reused to stamp offsets, index and record epochs. */
struct append_scan {
    int32_t batches;
    int64_t records;
    int64_t max_timestamp;
    int64_t first_base;               /* follower: offset of the first batch */
    int64_t last_offset;              /* follower: last offset of the last batch */
    struct record_batch_header *hdrs; /* `batches` of them: inline or malloc'd */
    size_t cap;
    struct record_batch_header inline_hdrs[SCAN_INLINE_HEADERS];
};

static void scan_free(struct append_scan *scan)
{
    if (scan->hdrs != scan->inline_hdrs) {
        free(scan->hdrs);
    }
    scan->hdrs = NULL;
}

static int scan_push(struct append_scan *scan, const struct record_batch_header *h)
{
    if ((size_t)scan->batches == scan->cap) {
        size_t cap = 2 * scan->cap;
        struct record_batch_header *n = malloc(cap * sizeof *n);
        if (n == NULL) {
            return -ENOMEM;
        }
        memcpy(n, scan->hdrs, scan->cap * sizeof *n);
        scan_free(scan);
        scan->hdrs = n;
        scan->cap = cap;
    }
    scan->hdrs[scan->batches] = *h;
    return 0;
}

static void info_reset(struct log_append_info *info)
{
    memset(info, 0, sizeof *info);
    info->first_offset = info->last_offset = -1;
    info->max_timestamp = -1;
    info->log_append_time = -1;
}

/* Validate every batch of the buffer before anything is written. A
 * leader's compressed batches are inflated on the loop, so what one
 * record set inflates to is bounded (LOG_APPEND_INFLATE_MULTIPLE). */
static int validate_all(const struct partition_log *log, const uint8_t *p, size_t len, bool leader,
                        struct append_scan *scan, struct log_append_info *info)
{
    size_t inflated = 0;
    struct record_batch_limits limits = {
        .max_batch_bytes = leader ? log->cfg.max_message_bytes : 0,
        .from_client = leader,
        .walk_records = leader,
        .require_keys = leader && log->cfg.compact,
        .inflated = &inflated,
    };
    int64_t per_batch = log->cfg.max_message_bytes > 0 ? log->cfg.max_message_bytes
                                                       : RECORD_BATCH_INFLATE_MAX_DEFAULT;
    int64_t set_bound = LOG_APPEND_INFLATE_MULTIPLE * per_batch;
    int64_t expect = log_end(log);
    memset(scan, 0, offsetof(struct append_scan, inline_hdrs));
    scan->hdrs = scan->inline_hdrs;
    scan->cap = SCAN_INLINE_HEADERS;
    scan->max_timestamp = -1;
    if (len == 0) {
        snprintf(info->reason, sizeof info->reason, "no record batches");
        return LOG_ERR_CORRUPT;
    }
    for (size_t pos = 0; pos < len;) {
        struct record_batch_header h;
        /* At least one byte: a bound of 0 would mean none. */
        int64_t left = set_bound - (int64_t)inflated;
        limits.max_inflate_bytes = left > 0 ? left : 1;
        int rv = record_batch_validate(p + pos, len - pos, &limits, &h, info->reason,
                                       sizeof info->reason);
        if (rv < 0) {
            return rv;
        }
        /* A follower sees gaps wherever the leader's cleaner removed
         * records, also after cleanup.policy became delete (Kafka allows
         * gaps anywhere); offsets must still rise. */
        if (!leader && h.base_offset < expect) {
            snprintf(info->reason, sizeof info->reason,
                     "batch base offset %" PRId64 " is below the log end %" PRId64, h.base_offset,
                     expect);
            return LOG_ERR_OFFSET_MISMATCH;
        }
        if (scan_push(scan, &h) != 0) {
            snprintf(info->reason, sizeof info->reason, "out of memory");
            return -ENOMEM;
        }
        if (scan->batches == 0) {
            scan->first_base = h.base_offset;
        }
        expect = record_batch_last_offset(&h) + 1;
        scan->last_offset = expect - 1;
        scan->batches++;
        scan->records += h.records_count;
        if (h.max_timestamp > scan->max_timestamp) {
            scan->max_timestamp = h.max_timestamp;
        }
        pos += (size_t)record_batch_size(&h);
    }
    return 0;
}

static bool needs_roll(const struct partition_log *log, size_t len, int64_t last_offset)
{
    const struct segment *seg = log_active(log);
    int64_t since = seg->first_batch_ts >= 0 ? seg->first_batch_ts : seg->created_ms;
    if (seg->size == 0) {
        return false;
    }
    return seg->size + (int64_t)len > log->cfg.segment_bytes ||
           seg->size + (int64_t)len > SEGMENT_MAX_BYTES ||
           log_now_ms(log) - since > log->cfg.segment_ms ||
           segment_index_full(seg, log->cfg.segment_index_bytes) ||
           last_offset - seg->base_offset > INT32_MAX;
}

static int roll(struct partition_log *log)
{
    struct segment *old = log_active(log);
    /* Made on the pool when the active segment neared the roll (log_spare.c). */
    struct segment *seg = log_spare_take(log, log_end(log));
    int rv = seg != NULL
                 ? 0
                 : segment_create(log->dir, log_end(log), log_now_ms(log), log->owner.files, &seg);
    if (rv < 0) {
        log_error("log", "cannot roll segment dir=%s base_offset=%" PRId64 " error=%s", log->dir,
                  log_end(log), strerror(-rv));
        return rv;
    }
    if ((rv = log_segs_push(log, seg)) < 0) {
        segment_unlink(seg);
        segment_release(seg);
        return rv;
    }
    segment_seal(old);
    log->dir_dirty = true;
    (void)log_producers_snapshot(log); /* a failure only lengthens the next rebuild */
    log_note_deadline(log);            /* the old active segment may now expire */
    log_note_cleanable(log);           /* or be compacted */
    /* Kafka flushes a segment once it is no longer active, so the recovery
     * point keeps up and a restart re-validates only the recent data. */
    log->flush_soon = true;
    log_debug("log", "rolled segment dir=%s base_offset=%" PRId64 " previous_size=%" PRId64,
              log->dir, seg->base_offset, old->size);
    return 0;
}

/* Write validated batches to the active segment and index them. */
static int write_batches(struct partition_log *log, const uint8_t *p, size_t len,
                         const struct append_scan *scan, struct log_append_info *info)
{
    struct segment *seg = log_active(log);
    int64_t position = seg->size;
    int rv = segment_write(seg, p, len);
    if (rv < 0) {
        snprintf(info->reason, sizeof info->reason, "write failed: %s", strerror(-rv));
        log_error("log", "append failed dir=%s offset=%" PRId64 " bytes=%zu error=%s", log->dir,
                  log_end(log), len, strerror(-rv));
        return rv;
    }
    size_t pos = 0;
    for (int32_t i = 0; i < scan->batches; i++) {
        segment_note_batch(seg, position + (int64_t)pos, &scan->hdrs[i],
                           log->cfg.index_interval_bytes);
        pos += (size_t)record_batch_size(&scan->hdrs[i]);
    }
    return 0;
}

static int append_common(struct partition_log *log, const uint8_t *p, size_t len, int64_t last,
                         const struct append_scan *scan, struct log_append_info *info)
{
    int rv;
    if (len > (size_t)SEGMENT_MAX_BYTES) {
        snprintf(info->reason, sizeof info->reason, "%zu bytes do not fit in one segment", len);
        return LOG_ERR_RECORD_LIST_TOO_LARGE;
    }
    if (needs_roll(log, len, last) && (rv = roll(log)) < 0) {
        snprintf(info->reason, sizeof info->reason, "cannot roll segment: %s", strerror(-rv));
        return rv;
    }
    if ((rv = write_batches(log, p, len, scan, info)) < 0) {
        return rv;
    }
    log_spare_note_append(log);
    info->last_offset = log_end(log) - 1;
    info->max_timestamp = scan->max_timestamp;
    info->batches = scan->batches;
    info->records = scan->records;
    info->log_start_offset = log->start_offset;
    log_flush_note_append(log, scan->records);
    if (log_active(log)->size >= log->retention_size_trigger) {
        log->retention_size_trigger = INT64_MAX; /* once, until the owner reads the deadline */
        log_note_deadline(log);
    }
    return 0;
}

static int leader_append(struct partition_log *log, uint8_t *batches, size_t len,
                         int32_t leader_epoch, struct append_scan *scan,
                         struct log_append_info *info);

int partition_log_append(struct partition_log *log, uint8_t *batches, size_t len,
                         int32_t leader_epoch, struct log_append_info *info)
{
    struct append_scan scan;
    info_reset(info);
    if (log->io_error != 0) {
        snprintf(info->reason, sizeof info->reason, "a write or fsync of this log failed");
        return -EIO;
    }
    int rv = validate_all(log, batches, len, true, &scan, info);
    if (rv < 0) {
        scan_free(&scan);
        return rv;
    }
    rv = leader_append(log, batches, len, leader_epoch, &scan, info);
    scan_free(&scan);
    if (log_err_is_storage(rv)) {
        log_note_io_error(log, rv, "append");
    }
    return rv;
}

static int leader_append(struct partition_log *log, uint8_t *batches, size_t len,
                         int32_t leader_epoch, struct append_scan *scan,
                         struct log_append_info *info)
{
    int rv;
    int64_t next = log_end(log);
    int32_t latest = partition_log_latest_epoch(log);
    if (leader_epoch >= 0 && leader_epoch < latest) {
        /* The log holds records of a newer leader: stamping an older epoch
         * would break the epochs' order that truncation decisions rely on. */
        snprintf(info->reason, sizeof info->reason,
                 "leader epoch %" PRId32 " is older than the log's latest epoch %" PRId32,
                 leader_epoch, latest);
        return LOG_ERR_STALE_EPOCH;
    }
    struct producer_batch_meta dup;
    rv = log_producers_check(log, scan->hdrs, (size_t)scan->batches, &dup, info->reason,
                             sizeof info->reason);
    if (rv < 0) {
        return rv;
    }
    if (rv == 1) {
        /* A retry of a batch already in the log: answered with its
         * offsets, not written again (Kafka's duplicate handling). */
        info->duplicate = true;
        info->first_offset = dup.first_offset;
        info->last_offset = dup.last_offset;
        info->log_start_offset = log->start_offset;
        return 0;
    }
    if ((rv = log_epochs_assign(log, leader_epoch, next)) < 0) {
        snprintf(info->reason, sizeof info->reason, "cannot record leader epoch: %s",
                 strerror(-rv));
        return rv;
    }
    info->first_offset = next;
    size_t pos = 0;
    for (int32_t i = 0; i < scan->batches; i++) {
        struct record_batch_header *h = &scan->hdrs[i];
        record_batch_set_base_offset(batches + pos, next);
        record_batch_set_leader_epoch(batches + pos, leader_epoch);
        h->base_offset = next;
        h->partition_leader_epoch = leader_epoch;
        next += (int64_t)h->last_offset_delta + 1;
        pos += (size_t)record_batch_size(h);
    }
    rv = append_common(log, batches, len, next - 1, scan, info);
    if (rv < 0) {
        info->first_offset = -1;
        return rv;
    }
    log_producers_note(log, batches, scan->hdrs, (size_t)scan->batches);
    return 0;
}

int partition_log_append_marker(struct partition_log *log, const struct log_txn_marker *m,
                                int32_t leader_epoch, struct log_append_info *info)
{
    info_reset(info);
    if (log->io_error != 0) {
        snprintf(info->reason, sizeof info->reason, "an fsync of this log failed");
        return -EIO;
    }
    int32_t latest = partition_log_latest_epoch(log);
    if (leader_epoch >= 0 && leader_epoch < latest) {
        snprintf(info->reason, sizeof info->reason,
                 "leader epoch %" PRId32 " is older than the log's latest epoch %" PRId32,
                 leader_epoch, latest);
        return LOG_ERR_STALE_EPOCH;
    }
    int64_t now = log_now_ms(log);
    struct producer_marker pm = {m->producer_id, m->producer_epoch, m->coordinator_epoch,
                                 m->commit,      log_end(log),      now};
    switch (producer_state_check_marker(&log->producers, &pm, info->reason, sizeof info->reason)) {
    case PRODUCER_CHECK_STALE_EPOCH:
        return LOG_ERR_INVALID_PRODUCER_EPOCH;
    case PRODUCER_CHECK_COORDINATOR_FENCED:
        return LOG_ERR_COORDINATOR_FENCED;
    default:
        break;
    }
    uint8_t batch[CONTROL_BATCH_MARKER_SIZE];
    control_batch_build_marker(batch, m->producer_id, m->producer_epoch, m->commit,
                               m->coordinator_epoch, now);
    int64_t next = log_end(log);
    record_batch_set_base_offset(batch, next);
    record_batch_set_leader_epoch(batch, leader_epoch);
    struct append_scan scan;
    memset(&scan, 0, offsetof(struct append_scan, inline_hdrs));
    scan.hdrs = scan.inline_hdrs;
    scan.cap = SCAN_INLINE_HEADERS;
    scan.batches = 1;
    scan.records = 1;
    scan.max_timestamp = now;
    int rv = record_batch_parse(batch, sizeof batch, &scan.hdrs[0]);
    if (rv == 0 && (rv = log_epochs_assign(log, leader_epoch, next)) < 0) {
        snprintf(info->reason, sizeof info->reason, "cannot record leader epoch: %s",
                 strerror(-rv));
    }
    if (rv == 0) {
        info->first_offset = next;
        rv = append_common(log, batch, sizeof batch, next, &scan, info);
    }
    if (rv < 0) {
        info->first_offset = -1;
        return rv;
    }
    log_producers_note(log, batch, scan.hdrs, 1);
    return 0;
}

int partition_log_append_as_follower(struct partition_log *log, const uint8_t *batches, size_t len,
                                     struct log_append_info *info)
{
    struct append_scan scan;
    info_reset(info);
    if (log->io_error != 0) {
        snprintf(info->reason, sizeof info->reason, "a write or fsync of this log failed");
        return -EIO;
    }
    int rv = validate_all(log, batches, len, false, &scan, info);
    if (rv == 0 &&
        (rv = log_epochs_note_follower_batches(log, scan.hdrs, (size_t)scan.batches)) < 0) {
        snprintf(info->reason, sizeof info->reason, "cannot record leader epochs: %s",
                 strerror(-rv));
    }
    if (rv == 0) {
        rv = append_common(log, batches, len, scan.last_offset, &scan, info);
    }
    if (rv == 0) {
        info->first_offset = scan.first_base;
        log_producers_note(log, batches, scan.hdrs, (size_t)scan.batches);
    }
    scan_free(&scan);
    if (log_err_is_storage(rv)) {
        log_note_io_error(log, rv, "replica append");
    }
    return rv;
}

/* ---- truncation ---- */

/* Position of the batch containing `offset` (or of the first batch after). */
static int position_of(struct segment *seg, int64_t offset, int64_t *out)
{
    int64_t pos = segment_lookup_position(seg, offset);
    struct segment_cursor cur;
    segment_cursor_init(&cur, seg);
    while (pos < seg->size) {
        struct record_batch_header h;
        int rv = segment_read_header(&cur, pos, &h);
        if (rv < 0) {
            return rv;
        }
        if (record_batch_last_offset(&h) >= offset) {
            break;
        }
        pos += record_batch_size(&h);
    }
    *out = pos;
    return 0;
}

static void after_truncation(struct partition_log *log)
{
    int64_t end = log_end(log);
    if (log->high_watermark > end) {
        log->high_watermark = end;
    }
    if (log->start_offset > end) {
        log->start_offset = end;
    }
    log_flush_clamp(log);
    log_note_work(log);
}

/* The old segment with base `offset`, whose file names the new one takes. */
static struct segment *segment_at(const struct partition_log *log, int64_t offset)
{
    size_t i = log_segs_find(log, offset);
    return log->segs[i]->base_offset == offset ? log->segs[i] : NULL;
}

int partition_log_truncate_fully_and_start_at(struct partition_log *log, int64_t offset)
{
    struct segment *seg;
    if (offset < 0) {
        return LOG_ERR_OFFSET_OUT_OF_RANGE;
    }
    log_cleaner_settle(log);
    /* An old segment of the same base gives up its names first: the new
     * one's are then fresh files, and the old ones go on the thread pool
     * (truncating them in place would free their extents here, and cut
     * them under reads in flight). */
    struct segment *same = segment_at(log, offset);
    struct log_deleter deleter = log_deleter_of(log);
    int rv = same != NULL ? segment_delete_async(same, &deleter) : 0;
    if (rv < 0) {
        return rv;
    }
    if ((rv = segment_create(log->dir, offset, log_now_ms(log), log->owner.files, &seg)) < 0) {
        goto err_after_rename;
    }
    size_t n = log->nsegs;
    if ((rv = log_segs_push(log, seg)) < 0) {
        segment_unlink(seg);
        segment_release(seg);
        goto err_after_rename;
    }
    log_warn("log", "truncating fully dir=%s new_start_offset=%" PRId64, log->dir, offset);
    log->truncations++;
    log->clean_offset = offset;
    for (size_t i = 0; i < n; i++) {
        log_info("log", "deleting segment dir=%s base_offset=%" PRId64 " reason=truncation",
                 log->dir, log->segs[i]->base_offset);
        if (log->segs[i] != same) {
            (void)segment_delete_async(log->segs[i], &deleter); /* a failure is logged */
        }
        segment_release(log->segs[i]);
    }
    memmove(log->segs, log->segs + n, sizeof *log->segs);
    log->nsegs = 1;
    log->dir_dirty = true;
    log->start_offset = log->high_watermark = offset;
    log_flush_clamp(log);
    log->durable_offset = offset;
    log_producers_reset(log);
    if ((rv = log_epochs_reset(log)) < 0) {
        return rv;
    }
    /* Synchronous on purpose (the one checkpoint write left on the loop
     * besides shutdown): the fetcher appends from `offset` as soon as this
     * returns and reports that log end to the leader, which may take this
     * replica into the ISR and later make it leader. Until the new start is
     * on disk a crash can leave old segments (their deletion is queued, not
     * done) below a gap, under the old start offset: this replica would then
     * serve records the leader's DeleteRecords said are gone. It is rare (a
     * follower fallen behind the leader's log start, once) and the write is
     * one per such event, not per request as DeleteRecords was. */
    return partition_log_checkpoint(log);
err_after_rename:
    if (same != NULL) {
        (void)segment_delete_undo(same);
    }
    return rv;
}

int partition_log_truncate_to(struct partition_log *log, int64_t offset)
{
    int64_t pos;
    if (offset >= log_end(log)) {
        return 0;
    }
    if (offset < log->start_offset) {
        return partition_log_truncate_fully_and_start_at(log, offset);
    }
    log_cleaner_settle(log); /* the segment cut below must be the one its files hold */
    log->truncations++;
    if (log->clean_offset > offset) {
        log->clean_offset = log->start_offset;
    }
    size_t i = log_segs_find(log, offset);
    if (i + 1 < log->nsegs) {
        log_segs_remove(log, i + 1, log->nsegs - i - 1, "truncation");
    }
    struct segment *seg = log->segs[i];
    int rv = position_of(seg, offset, &pos);
    if (rv < 0) {
        return rv;
    }
    log_info("log",
             "truncating dir=%s offset=%" PRId64 " log_end_offset=%" PRId64 " segment=%" PRId64
             " position=%" PRId64,
             log->dir, offset, seg->next_offset, seg->base_offset, pos);
    if ((rv = segment_use(seg)) < 0) {
        return rv;
    }
    if (ftruncate(seg->log_fd, (off_t)pos) < 0) {
        rv = -errno;
        log_error("log", "cannot truncate dir=%s error=%s", log->dir, strerror(errno));
        return rv;
    }
    seg->size = pos;
    seg->dirty = true;
    /* Indexes, end offset and timestamps of the shortened segment, from its
     * index and the few batches after the last entry kept: rescanning the
     * segment (up to segment.bytes, 1 GiB by default) would stall the loop. */
    rv = log_recovery_truncate_segment(log, seg);
    after_truncation(log);
    int erv = log_epochs_after_truncation(log);
    int prv = log_producers_after_truncation(log);
    return rv < 0 ? rv : erv < 0 ? erv : prv;
}
