/* The next segment's files, made ahead on the thread pool (issue 14): a
 * roll then only names them (three linkat calls on the loop) instead of
 * creating three files there (inode allocation, and O_TRUNC of a leftover,
 * which frees its extents). When the active segment nears a roll (7/8 of
 * segment.bytes or of segment.ms) one spare is made: three unnamed files
 * (O_TMPFILE), so a crash at any point leaves nothing to clean up, and a
 * crash during the naming leaves a .log whose missing indexes recovery
 * creates. The spare waits in the log's descriptor cache like a segment (the
 * cache may close it under pressure: the roll then creates the files as
 * before, as it does without a spare or on a file system without O_TMPFILE). */
#include "broker/log/partition_log_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* A spare's descriptors (.log, .index, .timeindex). */
#define SPARE_FDS 3
/* Spares made at once per descriptor cache (per broker): the partitions of
 * a topic created at once all near a segment.ms roll together, and one pool
 * job each would queue ahead of the flushes and checkpoints. A log refused
 * here asks again at its next append. */
#define SPARE_JOBS_MAX 2

struct spare_job {
    uv_work_t work;
    struct partition_log *log; /* NULL once the log closed */
    struct file_cache *files;  /* holds SPARE_FDS reserved_fds for the job; outlives the log */
    char *dir;
    struct segment *seg;
    int status;
};

static void spare_work(uv_work_t *req)
{
    struct spare_job *job = req->data;
    job->status = segment_create_spare(job->dir, &job->seg);
}

/* Whether the descriptor cache can list a spare's three files without
 * closing another segment's: under pressure a spare would push out active
 * segments (reopened on the loop at their next use) and then be closed
 * itself before its roll. */
static bool cache_has_room(const struct partition_log *log)
{
    const struct file_cache *c = log->owner.files;
    return c == NULL || c->max_fds == 0 || c->open_fds + c->reserved_fds + SPARE_FDS <= c->max_fds;
}

/* Room for one more spare job now. */
static bool may_start(const struct partition_log *log)
{
    const struct file_cache *c = log->owner.files;
    return cache_has_room(log) &&
           (c == NULL || c->reserved_fds + SPARE_FDS <= SPARE_JOBS_MAX * SPARE_FDS);
}

static void spare_after(uv_work_t *req, int status)
{
    struct spare_job *job = req->data;
    struct partition_log *log = job->log;
    int rv = status < 0 ? status : job->status;
    if (job->files != NULL) {
        job->files->reserved_fds -= SPARE_FDS;
    }
    bool keep = log != NULL && rv == 0 && cache_has_room(log);
    if (!keep) {
        segment_release(rv < 0 ? NULL : job->seg);
    }
    if (log != NULL) {
        log->spare_job = NULL;
        if (rv == -EOPNOTSUPP || rv == -EISDIR || rv == -EINVAL) {
            log_info("log", "no O_TMPFILE here, segments are created at roll dir=%s", log->dir);
            log->spare_off = true;
        } else if (rv < 0) {
            /* No retry before the roll (which creates the files itself):
             * EMFILE, ENOSPC or a lost directory would otherwise queue a job
             * and log a line at every append until then. */
            log->spare_failed = true;
            log_warn("log", "cannot make the next segment's files dir=%s error=%s", log->dir,
                     strerror(-rv));
        } else if (keep) {
            log->spare = job->seg;
            segment_move_cache(job->seg, log->owner.files);
        }
    }
    free(job->dir);
    free(job);
}

static bool near_roll(const struct partition_log *log)
{
    const struct segment *seg = log_active(log);
    int64_t since = seg->first_batch_ts >= 0 ? seg->first_batch_ts : seg->created_ms;
    return seg->size >= log->cfg.segment_bytes - log->cfg.segment_bytes / 8 ||
           log_now_ms(log) - since >= log->cfg.segment_ms - log->cfg.segment_ms / 8;
}

void log_spare_note_append(struct partition_log *log)
{
    if (log->spare != NULL || log->spare_job != NULL || log->spare_off || log->spare_failed ||
        log->io_error != 0 || !near_roll(log) || !may_start(log)) {
        return;
    }
    struct spare_job *job = calloc(1, sizeof *job);
    if (job == NULL || (job->dir = strdup(log->dir)) == NULL) {
        free(job);
        return; /* the roll creates the files itself */
    }
    job->work.data = job;
    job->log = log;
    if (uv_queue_work(log->loop, &job->work, spare_work, spare_after) < 0) {
        free(job->dir);
        free(job);
        return;
    }
    log->spare_job = job;
    job->files = log->owner.files;
    if (job->files != NULL) {
        job->files->reserved_fds += SPARE_FDS;
    }
}

struct segment *log_spare_take(struct partition_log *log, int64_t base_offset)
{
    struct segment *seg = log->spare;
    log->spare_failed = false; /* the next segment may try again */
    if (seg == NULL) {
        return NULL;
    }
    log->spare = NULL;
    int rv = segment_adopt_spare(seg, base_offset, log_now_ms(log), log->owner.files);
    if (rv == -EEXIST || rv == -EBADF) {
        /* A leftover holds the name, or the cache closed the spare. */
        log_debug("log", "spare segment not used dir=%s base_offset=%lld error=%s", log->dir,
                  (long long)base_offset, strerror(-rv));
    } else if (rv < 0) {
        /* Naming through /proc/self/fd does not work here (no /proc, a
         * policy): every spare would be wasted work. */
        log_info("log",
                 "cannot name spare segment files, segments are created at roll dir=%s error=%s",
                 log->dir, strerror(-rv));
        log->spare_off = true;
    }
    if (rv < 0) {
        segment_release(seg);
        return NULL;
    }
    return seg;
}

void log_spare_shutdown(struct partition_log *log)
{
    if (log->spare_job != NULL) {
        log->spare_job->log = NULL;
        log->spare_job = NULL;
    }
    segment_release(log->spare);
    log->spare = NULL;
}
