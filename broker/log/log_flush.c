/* Flush policy and durability: fsync runs on the libuv thread pool; the loop
 * thread learns the result in the after-work callback and advances the
 * durable offset (which is also the recovery point written to the
 * checkpoint). One flush runs at a time; requests arriving meanwhile are
 * served by the next one. A flush also writes the leader-epoch cache when it
 * is not in a synced file yet, from a copy taken on the loop (log_epochs.c
 * says why the recovery point may then move). */
#include "broker/log/partition_log_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs_util.h"
#include "common/log.h"

struct flush_job {
    uv_work_t work;
    struct partition_log *log; /* NULL once the log has closed */
    struct segment **segs;     /* one reference each, released after the work */
    size_t n;
    char *dir; /* also fsync the directory (files created, removed or renamed) */
    /* Also write this copy of the leader-epoch cache (has_epochs) after the
     * segments: tmp, fsync, rename, under epochs_lock, unless voided by the
     * loop (closing), after which the pool renames nothing. */
    struct leader_epoch_entry *epochs;
    size_t nepochs;
    bool has_epochs;
    bool epochs_voided; /* under epochs_lock */
    uv_mutex_t epochs_lock;
    const char *failed; /* the step that failed, for the log */
    /* Also write this producer snapshot, once the segments are durable. */
    struct producer_snapshot *snapshot;
    int64_t target;
    int status;
};

static int sync_fd(int fd)
{
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int sync_segment_files(struct segment *seg)
{
    int rv;
    if ((rv = sync_fd(seg->log_fd)) < 0 || (rv = sync_fd(seg->offset_index.fd)) < 0 ||
        (rv = sync_fd(seg->time_index.fd)) < 0 ||
        (seg->txn_fd >= 0 && (rv = sync_fd(seg->txn_fd)) < 0)) {
        return rv;
    }
    return 0;
}

/* Thread pool. The lock is held across the write so that the loop, voiding
 * it while closing, waits for a rename under way rather than racing it on
 * the same .tmp file. */
static int write_epochs(struct flush_job *job)
{
    uv_mutex_lock(&job->epochs_lock);
    int rv = job->epochs_voided
                 ? 0
                 : leader_epoch_checkpoint_write_entries(job->dir, job->epochs, job->nepochs);
    uv_mutex_unlock(&job->epochs_lock);
    return rv;
}

/* Loop: after this the job writes no epoch file (it may have written one). */
static void void_epochs(struct flush_job *job)
{
    if (job->has_epochs) {
        uv_mutex_lock(&job->epochs_lock);
        job->epochs_voided = true;
        uv_mutex_unlock(&job->epochs_lock);
    }
}

/* Thread pool: touches only the job (the segments' fds are kept open by the
 * job's references). */
static void flush_work(uv_work_t *req)
{
    struct flush_job *job = req->data;
    for (size_t i = 0; i < job->n && job->status == 0; i++) {
        job->status = sync_segment_files(job->segs[i]);
    }
    /* Before the recovery point passes the data whose epochs it holds. */
    if (job->status == 0 && job->has_epochs && (job->status = write_epochs(job)) < 0) {
        job->failed = "write " LEADER_EPOCH_CHECKPOINT_FILE;
    }
    /* After the data it describes (a failed flush writes none); its own
     * failure only costs a longer rebuild, so it fails nothing else. */
    if (job->status == 0 && job->snapshot != NULL) {
        log_producers_snapshot_write(job->snapshot);
    }
    if (job->status == 0 && job->dir != NULL) {
        job->status = fs_fsync_dir(job->dir);
    }
}

static void job_free(struct flush_job *job)
{
    for (size_t i = 0; i < job->n; i++) {
        segment_unref(job->segs[i]);
    }
    free(job->segs);
    free(job->dir);
    free(job->epochs);
    if (job->snapshot != NULL) {
        log_producers_snapshot_done(job->snapshot);
    }
    uv_mutex_destroy(&job->epochs_lock);
    free(job);
}

static struct flush_job *job_new(void)
{
    struct flush_job *job = calloc(1, sizeof *job);
    if (job != NULL && uv_mutex_init(&job->epochs_lock) != 0) {
        free(job);
        return NULL;
    }
    if (job != NULL) {
        job->failed = "fsync";
    }
    return job;
}

/* Complete the waiters whose target is durable (or all, on error). Ready
 * ones are unlinked first so callbacks may queue new requests. */
static void complete_waiters(struct partition_log *log, int status)
{
    struct log_flush_req *ready = NULL, **pp = &log->waiters;
    int64_t end = log_end(log);
    while (*pp != NULL) {
        struct log_flush_req *req = *pp;
        int64_t target = req->target < end ? req->target : end;
        if (status < 0 || target <= log->durable_offset) {
            *pp = req->next;
            req->next = ready;
            ready = req;
        } else {
            pp = &req->next;
        }
    }
    while (ready != NULL) {
        struct log_flush_req *req = ready;
        ready = req->next;
        req->next = NULL;
        req->cb(req, status);
    }
}

static int start_flush(struct partition_log *log);

static void flush_after(uv_work_t *req, int status)
{
    struct flush_job *job = req->data;
    struct partition_log *log = job->log;
    if (log != NULL) {
        log->flush_inflight = NULL;
        int rv = status < 0 ? status : job->status;
        if (rv == 0) {
            int64_t end = log_end(log);
            int64_t durable = job->target < end ? job->target : end;
            if (durable > log->durable_offset) {
                log->durable_offset = durable;
                log_note_work(log);
            }
        } else {
            log->epochs_unsynced = log->epochs_unsynced || job->has_epochs;
            log_note_io_error(log, rv, job->failed);
        }
        log_epochs_after_flush(log);
        complete_waiters(log, rv); /* on failure, every waiter: nothing will flush */
        if (log->waiters != NULL) {
            (void)start_flush(log);
        } else {
            partition_log_flush_if_due(log);
        }
    }
    job_free(job);
}

static int job_collect(struct partition_log *log, struct flush_job *job)
{
    if ((job->segs = calloc(log->nsegs, sizeof *job->segs)) == NULL) {
        return -ENOMEM;
    }
    bool dir = log->dir_dirty || log->epochs_unsynced || log->snapshot_pending != NULL;
    if (dir && (job->dir = strdup(log->dir)) == NULL) {
        return -ENOMEM;
    }
    if (log->epochs_unsynced) {
        size_t n = log->epochs.count;
        if (n > 0 && (job->epochs = malloc(n * sizeof *job->epochs)) == NULL) {
            return -ENOMEM;
        }
        if (n > 0) {
            memcpy(job->epochs, log->epochs.entries, n * sizeof *job->epochs);
        }
        job->nepochs = n;
        job->has_epochs = true;
    }
    for (size_t i = 0; i < log->nsegs; i++) {
        struct segment *seg = log->segs[i];
        if (seg->dirty) {
            if (segment_use(seg) < 0) {
                return -EIO; /* the caller puts back what was taken */
            }
            (void)index_file_write_pending(&seg->offset_index);
            (void)index_file_write_pending(&seg->time_index);
            seg->dirty = false;
            segment_ref(seg);
            job->segs[job->n++] = seg;
        }
    }
    log->dir_dirty = false;
    log->epochs_unsynced = false;
    job->snapshot = log->snapshot_pending;
    log->snapshot_pending = NULL;
    return 0;
}

static int start_flush(struct partition_log *log)
{
    if (log->io_error != 0) {
        return log->io_error;
    }
    struct flush_job *job = job_new();
    int rv = job != NULL ? job_collect(log, job) : -ENOMEM;
    if (rv == 0) {
        job->log = log;
        job->target = log_end(log);
        job->work.data = job;
        rv = uv_queue_work(log->loop, &job->work, flush_work, flush_after);
    }
    if (rv < 0) {
        if (job != NULL) {
            for (size_t i = 0; i < job->n; i++) {
                job->segs[i]->dirty = true;
            }
            log->dir_dirty = log->dir_dirty || job->dir != NULL;
            log->epochs_unsynced = log->epochs_unsynced || job->has_epochs;
            if (log->snapshot_pending == NULL) {
                log->snapshot_pending = job->snapshot;
                job->snapshot = NULL;
            }
            job_free(job);
        }
        return rv;
    }
    log->flush_inflight = job;
    log->flush_soon = false;
    log->unflushed_messages = 0;
    log->last_flush_ms = log_now_ms(log);
    return 0;
}

int partition_log_flush(struct partition_log *log, struct log_flush_req *req, log_flush_cb cb)
{
    req->cb = cb;
    req->target = log_end(log);
    req->next = log->waiters;
    log->waiters = req;
    if (log->flush_inflight != NULL) {
        return 0; /* flush_after starts the next one */
    }
    int rv = start_flush(log);
    if (rv < 0) {
        log->waiters = req->next;
        req->next = NULL;
    }
    return rv;
}

void partition_log_flush_if_due(struct partition_log *log)
{
    if (log->flush_inflight != NULL || log->io_error != 0) {
        return;
    }
    if (log->flush_soon || (log->unflushed_messages > 0 &&
                            (log->unflushed_messages >= log->cfg.flush_messages ||
                             log_now_ms(log) - log->last_flush_ms >= log->cfg.flush_ms))) {
        (void)start_flush(log);
    }
}

void log_note_io_error(struct partition_log *log, int err, const char *what)
{
    if (log->io_error != 0) {
        return;
    }
    /* Kafka's rule: after a failed fsync the kernel may have dropped the
     * dirty pages, so a later success proves nothing; after a failed write
     * the directory is suspect. Either way no durable offset moves again. */
    log_error("log",
              "storage error dir=%s op=%s error=%s: the log takes no more appends and its "
              "durable offset stays at %lld until it is reopened",
              log->dir, what, strerror(-err), (long long)log->durable_offset);
    log->io_error = err;
    if (log->owner.failed != NULL) {
        log->owner.failed(log->owner.data, log, err, what);
    }
}

void log_flush_note_append(struct partition_log *log, int64_t records)
{
    log->unflushed_messages += records;
    partition_log_flush_if_due(log);
    log_note_work(log);
}

/* Closing: the cache goes into a synced file in place of the copy an
 * in-flight flush was writing (voided: the pool renames nothing after this).
 * Even after a storage error (then as a best effort): an urgent write
 * waiting for that flush would have been made on the loop. */
static int sync_epochs(struct partition_log *log)
{
    if (log->flush_inflight != NULL && log->flush_inflight->has_epochs) {
        void_epochs(log->flush_inflight);
        log->epochs_unsynced = true;
    }
    if (!log->epochs_unsynced) {
        return 0;
    }
    int rv =
        leader_epoch_checkpoint_write_entries(log->dir, log->epochs.entries, log->epochs.count);
    if (rv < 0) {
        return rv; /* logged by the caller (log_note_io_error) */
    }
    log->epochs_unsynced = false;
    log->epochs_rewrite = false;
    log->dir_dirty = true;
    return 0;
}

int log_flush_sync(struct partition_log *log)
{
    int rv = log->io_error;
    const char *what = "fsync";
    for (size_t i = 0; i < log->nsegs && rv == 0; i++) {
        struct segment *seg = log->segs[i];
        /* A closed index may hold a few pending entries (segment.h). */
        if ((seg->offset_index.pending_len > 0 || seg->time_index.pending_len > 0) &&
            segment_use(seg) == 0) {
            (void)index_file_write_pending(&seg->offset_index);
            (void)index_file_write_pending(&seg->time_index);
        }
        if (!seg->dirty) {
            continue;
        }
        if ((rv = segment_use(seg)) == 0 && (rv = sync_segment_files(seg)) == 0) {
            seg->dirty = false;
        }
    }
    int erv = sync_epochs(log);
    if (rv == 0 && erv < 0) {
        rv = erv;
        what = "write " LEADER_EPOCH_CHECKPOINT_FILE;
    }
    if (rv == 0 && log->snapshot_pending != NULL) {
        /* Closing: every segment is durable now, so its snapshot may follow. */
        log_producers_snapshot_write(log->snapshot_pending);
        log_producers_snapshot_done(log->snapshot_pending);
        log->snapshot_pending = NULL;
        log->dir_dirty = true;
    }
    if (rv == 0 && log->dir_dirty && (rv = fs_fsync_dir(log->dir)) == 0) {
        log->dir_dirty = false;
    }
    if (rv == 0) {
        log->durable_offset = log_end(log);
    } else {
        log_note_io_error(log, rv, what);
    }
    return rv;
}

bool log_flush_writes_epochs(const struct partition_log *log)
{
    return log->flush_inflight != NULL && log->flush_inflight->has_epochs;
}

void log_flush_shutdown(struct partition_log *log, int status)
{
    /* A detached write must not add a snapshot to a directory that is
     * deleted, or reopened by a log that may truncate below it. */
    log_flush_void_snapshots(log, -1);
    if (log->flush_inflight != NULL) {
        void_epochs(log->flush_inflight);
        log->flush_inflight->log = NULL;
        log->flush_inflight = NULL;
    }
    while (log->waiters != NULL) {
        struct log_flush_req *req = log->waiters;
        log->waiters = req->next;
        req->next = NULL;
        req->cb(req, status);
    }
}

void log_flush_clamp(struct partition_log *log)
{
    int64_t end = log_end(log);
    if (log->durable_offset > end) {
        log->durable_offset = end;
    }
    if (log->flush_inflight != NULL && log->flush_inflight->target > end) {
        log->flush_inflight->target = end;
    }
    log_flush_void_snapshots(log, end);
}

void log_flush_void_snapshots(struct partition_log *log, int64_t above)
{
    if (log->snapshot_pending != NULL &&
        log_producers_snapshot_void(log->snapshot_pending, above)) {
        log_producers_snapshot_free(log->snapshot_pending);
        log->snapshot_pending = NULL;
    }
    struct flush_job *job = log->flush_inflight;
    if (job != NULL && job->snapshot != NULL) {
        (void)log_producers_snapshot_void(job->snapshot, above);
    }
}
