/* Partition log: open/close/destroy, offsets, append, truncation.
 * Reads are in log_read.c, recovery in log_recovery.c, retention and
 * DeleteRecords in log_retention.c, fsync policy in log_flush.c. */
#include "broker/log/partition_log_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/log/checkpoint.h"
#include "broker/log/log_delete.h"
#include "common/log.h"
#include "common/wall_clock.h"

static int64_t real_now_ms(void *data)
{
    (void)data;
    return wall_clock_ms();
}

int64_t log_now_ms(const struct partition_log *log)
{
    return log->clock.now_ms(log->clock.data);
}

int partition_log_dir_name(const char *log_dir, const char *topic, int32_t partition, char *out,
                           size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s-%d", log_dir, topic, (int)partition);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static void settings_from(struct log_settings *s, const struct topic_config *cfg)
{
    s->segment_bytes = cfg->segment_bytes > 0 ? cfg->segment_bytes : 1;
    s->segment_ms = cfg->segment_ms > 0 ? cfg->segment_ms : INT64_MAX;
    s->retention_ms = cfg->retention_ms;
    s->retention_bytes = cfg->retention_bytes;
    s->flush_messages = cfg->flush_messages > 0 ? cfg->flush_messages : 1;
    s->flush_ms = cfg->flush_ms >= 0 ? cfg->flush_ms : INT64_MAX;
    s->max_message_bytes = cfg->max_message_bytes;
    s->index_interval_bytes = cfg->index_interval_bytes > 0 ? cfg->index_interval_bytes : 0;
    s->segment_index_bytes =
        cfg->segment_index_bytes >= SEGMENT_TIME_ENTRY_SIZE ? cfg->segment_index_bytes : 4096;
    const char *policy = cfg->cleanup_policy != NULL ? cfg->cleanup_policy : "delete";
    s->compact = strstr(policy, "compact") != NULL;
    s->delete = strstr(policy, "delete") != NULL;
    s->delete_retention_ms = cfg->delete_retention_ms;
    s->min_cleanable_dirty_ratio = cfg->min_cleanable_dirty_ratio;
    s->min_compaction_lag_ms = cfg->min_compaction_lag_ms;
    s->max_compaction_lag_ms =
        cfg->max_compaction_lag_ms > 0 ? cfg->max_compaction_lag_ms : INT64_MAX;
}

void partition_log_set_config(struct partition_log *log, const struct topic_config *cfg)
{
    settings_from(&log->cfg, cfg);
    log_note_deadline(log); /* retention.ms, retention.bytes or cleanup.policy may be new */
    log_note_cleanable(log);
    if (log->unflushed_messages > 0) {
        log_note_work(log); /* flush.ms may be new: the timer looks again */
    }
}

/* ---- segment list ---- */

int log_segs_push(struct partition_log *log, struct segment *seg)
{
    if (log->nsegs == log->segs_cap) {
        size_t cap = log->segs_cap ? log->segs_cap * 2 : 8;
        struct segment **segs = realloc(log->segs, cap * sizeof *segs);
        if (segs == NULL) {
            return -ENOMEM;
        }
        log->segs = segs;
        log->segs_cap = cap;
    }
    log->segs[log->nsegs++] = seg;
    return 0;
}

static void segs_drop(struct partition_log *log, size_t from, size_t n, const char *why, bool now)
{
    log_cleaner_settle(log); /* replaces segments in place: `from` stays valid */
    for (size_t i = from; i < from + n; i++) {
        struct segment *seg = log->segs[i];
        log_info("log",
                 "deleting segment dir=%s base_offset=%" PRId64 " size=%" PRId64 " reason=%s",
                 log->dir, seg->base_offset, seg->size, why);
        if (now) {
            segment_unlink(seg);
        } else {
            /* A failed rename (logged) leaves the files: the log start
             * offset already excludes them, and a restart deletes them. */
            struct log_deleter deleter = log_deleter_of(log);
            (void)segment_delete_async(seg, &deleter);
        }
        segment_release(seg);
    }
    memmove(log->segs + from, log->segs + from + n, (log->nsegs - from - n) * sizeof *log->segs);
    log->nsegs -= n;
    log->dir_dirty = true;
}

void log_segs_remove(struct partition_log *log, size_t from, size_t n, const char *why)
{
    segs_drop(log, from, n, why, false);
}

void log_segs_remove_now(struct partition_log *log, size_t from, size_t n, const char *why)
{
    segs_drop(log, from, n, why, true);
}

size_t log_segs_find(const struct partition_log *log, int64_t offset)
{
    size_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_offset <= offset) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* ---- open / close ---- */

static int log_alloc(uv_loop_t *loop, const char *dir, const struct topic_config *cfg,
                     const struct log_clock *clock, struct partition_log **out)
{
    struct partition_log *log = calloc(1, sizeof *log);
    if (log == NULL || (log->dir = strdup(dir)) == NULL) {
        free(log);
        return -ENOMEM;
    }
    log->loop = loop;
    log->retention_size_trigger = INT64_MAX;
    log->snapshot_interval_bytes = PRODUCER_SNAPSHOT_INTERVAL_BYTES;
    log->mid_snapshot = -1;
    leader_epoch_cache_init(&log->epochs);
    producer_state_init(&log->producers);
    settings_from(&log->cfg, cfg);
    if (clock != NULL && clock->now_ms != NULL) {
        log->clock = *clock;
    } else {
        log->clock.now_ms = real_now_ms;
    }
    *out = log;
    return 0;
}

static void log_free(struct partition_log *log)
{
    log_spare_shutdown(log);
    for (size_t i = 0; i < log->nsegs; i++) {
        segment_release(log->segs[i]);
    }
    free(log->segs);
    log_producers_snapshot_free(log->snapshot_pending);
    leader_epoch_cache_free(&log->epochs);
    producer_state_free(&log->producers);
    free(log->dir);
    free(log);
}

static void read_checkpoint(const struct partition_log *log, struct log_checkpoint *cp)
{
    int rv = checkpoint_read(log->dir, PARTITION_LOG_CHECKPOINT_FILE, cp);
    if (rv < 0) {
        if (rv != -ENOENT) {
            log_warn("log", "ignoring unreadable checkpoint dir=%s error=%s", log->dir,
                     log_err_name(rv));
        }
        cp->log_start_offset = cp->high_watermark = cp->recovery_point = 0;
    }
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A directory without segment files starts with one empty segment at the
 * checkpointed log start offset. If it cannot join the list, its files go
 * again and its reference is dropped: log_free only releases listed ones. */
static int create_first_segment(struct partition_log *log, int64_t base, char *err, size_t errlen)
{
    struct segment *seg;
    int rv = segment_create(log->dir, base, log_now_ms(log), log->owner.files, &seg);
    if (rv == 0 && (rv = log_segs_push(log, seg)) < 0) {
        segment_unlink(seg);
        segment_release(seg);
    }
    if (rv < 0) {
        snprintf(err, errlen, "cannot create first segment in %s: %s", log->dir, strerror(-rv));
    }
    return rv;
}

int partition_log_open(uv_loop_t *loop, const char *dir, const struct topic_config *cfg,
                       const struct log_clock *clock, struct partition_log **out, char *err,
                       size_t errlen)
{
    return partition_log_open_owned(loop, dir, cfg, clock, NULL, NULL, out, err, errlen);
}

void partition_log_file_cache_init(struct file_cache *c, size_t max_fds)
{
    file_cache_init(c, max_fds, segment_cache_close);
}

int partition_log_open_owned(uv_loop_t *loop, const char *dir, const struct topic_config *cfg,
                             const struct log_clock *clock, const struct log_checkpoint *given,
                             const struct partition_log_owner *owner, struct partition_log **out,
                             char *err, size_t errlen)
{
    struct partition_log *log;
    int rv = partition_log_prepare(loop, dir, cfg, clock, given, owner, &log);
    if (rv < 0) {
        snprintf(err, errlen, "out of memory opening %s", dir);
        return rv;
    }
    if ((rv = partition_log_load(log, err, errlen)) < 0) {
        partition_log_discard(log);
        return rv;
    }
    partition_log_attach(log);
    *out = log;
    return 0;
}

int partition_log_prepare(uv_loop_t *loop, const char *dir, const struct topic_config *cfg,
                          const struct log_clock *clock, const struct log_checkpoint *cp,
                          const struct partition_log_owner *owner, struct partition_log **out)
{
    struct partition_log *log;
    int rv = log_alloc(loop, dir, cfg, clock, &log);
    if (rv < 0) {
        return rv;
    }
    if (cp != NULL) {
        log->open_cp = *cp;
        log->have_open_cp = true;
    }
    if (owner != NULL) {
        log->attach_owner = *owner;
    }
    /* The load may run on another thread: its segments use a cache of the
     * log's own, never the owner's (loop thread only). Without an owner's
     * cache every segment keeps its files open, as before. */
    if (log->attach_owner.files != NULL) {
        partition_log_file_cache_init(&log->load_files, PARTITION_LOG_LOAD_FDS);
        log->owner.files = &log->load_files;
    }
    *out = log;
    return 0;
}

int partition_log_load(struct partition_log *log, char *err, size_t errlen)
{
    struct log_checkpoint cp;
    int rv;
    if (mkdir(log->dir, 0755) < 0 && errno != EEXIST) {
        rv = -errno;
        snprintf(err, errlen, "cannot create partition directory %s: %s", log->dir,
                 strerror(errno));
        return rv;
    }
    if (log->have_open_cp) {
        cp = log->open_cp;
    } else {
        read_checkpoint(log, &cp);
    }
    if ((rv = log_recovery_load(log, cp.recovery_point, err, errlen)) < 0) {
        return rv;
    }
    if (log->nsegs == 0 && (rv = create_first_segment(log, cp.log_start_offset, err, errlen)) < 0) {
        return rv;
    }
    log->start_offset = clamp64(cp.log_start_offset, log->segs[0]->base_offset, log_end(log));
    log->high_watermark = clamp64(cp.high_watermark, log->start_offset, log_end(log));
    if ((rv = log_epochs_load(log, cp.recovery_point, err, errlen)) < 0) {
        return rv;
    }
    if ((rv = log_producers_load(log)) < 0) {
        snprintf(err, errlen, "cannot rebuild the producer state of %s: %s", log->dir,
                 log_err_name(rv));
        return rv;
    }
    log->durable_offset = log_end(log); /* recovery fsynced what it validated */
    log->last_flush_ms = log_now_ms(log);
    log_info("log",
             "opened partition log dir=%s segments=%zu log_start_offset=%" PRId64
             " log_end_offset=%" PRId64 " high_watermark=%" PRId64,
             log->dir, log->nsegs, log->start_offset, log_end(log), log->high_watermark);
    return 0;
}

void partition_log_attach(struct partition_log *log)
{
    for (size_t i = 0; i < log->nsegs; i++) {
        segment_move_cache(log->segs[i], log->attach_owner.files);
    }
    log->owner = log->attach_owner;
}

void partition_log_discard(struct partition_log *log)
{
    log_free(log);
}

static int write_checkpoint(struct partition_log *log)
{
    struct log_checkpoint cp = {log->start_offset, log->high_watermark, log->durable_offset};
    int rv = checkpoint_write(log->dir, PARTITION_LOG_CHECKPOINT_FILE, &cp);
    if (rv < 0) {
        log_error("log", "cannot write checkpoint dir=%s error=%s", log->dir, strerror(-rv));
    }
    return rv;
}

static bool owned(const struct partition_log *log)
{
    return log->owner.has_work != NULL;
}

int partition_log_checkpoint(struct partition_log *log)
{
    if (owned(log)) {
        return log->owner.checkpoint_now(log->owner.data, log);
    }
    return write_checkpoint(log);
}

int partition_log_checkpoint_wait(struct partition_log *log, struct log_checkpoint_waiter *w)
{
    if (owned(log) && log->owner.checkpoint_wait != NULL) {
        return log->owner.checkpoint_wait(log->owner.data, log, w);
    }
    int rv = partition_log_checkpoint(log);
    if (rv < 0) {
        return rv;
    }
    rv = partition_log_start_durable(log, log->start_offset);
    return rv < 0 ? rv : 1;
}

void log_note_deadline(struct partition_log *log)
{
    if (log->owner.deadline_moved != NULL) {
        log->owner.deadline_moved(log->owner.data, log);
    }
}

void log_note_cleanable(struct partition_log *log)
{
    if (log->owner.cleanable != NULL && partition_log_compaction_pending(log)) {
        log->owner.cleanable(log->owner.data, log);
    }
}

void log_note_work(struct partition_log *log)
{
    if (owned(log) && !log->work_noted) {
        log->work_noted = true;
        log->owner.has_work(log->owner.data, log);
    }
}

void partition_log_offsets(const struct partition_log *log, struct log_checkpoint *cp)
{
    cp->log_start_offset = log->start_offset;
    cp->high_watermark = log->high_watermark;
    cp->recovery_point = log->durable_offset;
}

bool partition_log_take_work(struct partition_log *log)
{
    /* Unflushed records need the timer only for flush.ms: flush.messages is
     * checked on each append, and by default (neither set) records are left
     * to the page cache, so a log written once is not visited every second
     * forever after. The next append or moved offset lists it again. */
    bool timed = log->unflushed_messages > 0 && log->cfg.flush_ms != INT64_MAX;
    log->work_noted = timed || log->flush_soon || log->flush_inflight != NULL;
    return log->work_noted;
}

int partition_log_close(struct partition_log *log)
{
    log_cleaner_shutdown(log);
    segment_seal(log_active(log));
    int rv = log_flush_sync(log);
    log_flush_shutdown(log, rv);
    int crv = 0;
    if (owned(log)) {
        struct log_checkpoint cp;
        partition_log_offsets(log, &cp);
        log->owner.closed(log->owner.data, log, &cp);
    } else {
        crv = write_checkpoint(log);
    }
    log_free(log);
    return rv < 0 ? rv : crv;
}

bool partition_log_dir_is_deleted(const char *name)
{
    return log_delete_is_dir_name(name);
}

/* Rename `dir` aside and remove it as `d` says. */
static int delete_dir(const struct log_deleter *d, const char *dir)
{
    char aside[4200];
    int rv = log_delete_rename_dir(dir, aside, sizeof aside);
    if (rv < 0) {
        log_error("log", "cannot rename partition directory for deletion dir=%s error=%s", dir,
                  strerror(-rv));
        return rv;
    }
    log_info("log", "deleting partition directory dir=%s renamed=%s", dir, aside);
    /* The name is free now; what the removal leaves (logged) stays renamed,
     * and the next start-up tries again. */
    (void)log_delete_dir(d, aside);
    return 0;
}

int partition_log_delete_dir(struct log_delete_queue *deletions, const char *dir)
{
    struct log_deleter d = {deletions, NULL};
    return delete_dir(&d, dir);
}

void partition_log_remove_deleted_dir(struct log_delete_queue *deletions, const char *path)
{
    struct log_deleter d = {deletions, NULL};
    log_info("log", "removing partition directory left for deletion dir=%s", path);
    (void)log_delete_dir(&d, path);
}

/* Kafka's LogManager.asyncDelete: on the loop only the rename of the
 * directory, after which the partition's name is free (a topic created again
 * gets a fresh directory) and no open or start-up takes the old files for a
 * partition; the unlinks and the rmdir run on the thread pool, and so do the
 * last closes of the segments' descriptors, which free the extents. The
 * rename is not fsynced, as the unlinks before were not: after a crash the
 * directory is either still there, a stray the broker deletes once it has
 * caught up with the metadata, or renamed, and removed at start-up. */
int partition_log_destroy(struct partition_log *log)
{
    log_cleaner_shutdown(log);
    log_flush_shutdown(log, LOG_ERR_CLOSED);
    if (owned(log)) {
        log->owner.closed(log->owner.data, log, NULL);
    }
    struct log_deleter deleter = log_deleter_of(log);
    int rv = delete_dir(&deleter, log->dir);
    if (rv == 0) {
        for (size_t i = 0; i < log->nsegs; i++) {
            segment_close_async(log->segs[i], &deleter);
        }
    }
    log_free(log);
    return rv;
}

/* ---- offsets ---- */

int64_t partition_log_start_offset(const struct partition_log *log)
{
    return log->start_offset;
}

int64_t partition_log_end_offset(const struct partition_log *log)
{
    return log_end(log);
}

int64_t partition_log_high_watermark(const struct partition_log *log)
{
    return log->high_watermark;
}

int64_t partition_log_durable_offset(const struct partition_log *log)
{
    return log->durable_offset;
}

int64_t partition_log_size_bytes(const struct partition_log *log)
{
    int64_t total = 0;
    for (size_t i = 0; i < log->nsegs; i++) {
        total += log->segs[i]->size;
    }
    return total;
}

int partition_log_segment_count(const struct partition_log *log)
{
    return (int)log->nsegs;
}

void partition_log_set_high_watermark(struct partition_log *log, int64_t hw)
{
    hw = clamp64(hw, log->start_offset, log_end(log));
    if (hw > log->high_watermark) {
        log->high_watermark = hw;
        producer_state_on_high_watermark(&log->producers, hw);
        log_note_work(log);
    }
}
