/* The cleaner's swap and its recovery; see log_cleaner_swap.h. */
#include "broker/log/log_cleaner_swap.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs_util.h"
#include "common/log.h"

static int rename_ext(const struct clean_src *src, const char *from, const char *to)
{
    char a[CLEAN_PATH_MAX], b[CLEAN_PATH_MAX];
    int rv;
    if ((rv = log_cleaner_path(a, src, from)) < 0 || (rv = log_cleaner_path(b, src, to)) < 0) {
        return rv;
    }
    return rename(a, b) < 0 ? -errno : 0;
}

/* ---- on the pool (the steps and the lock: log_cleaner_swap.h) ---- */

static void unlock_swap(struct clean_job *job)
{
    uv_mutex_unlock(&job->swap_lock);
}

/* Steps 2 and 3 for a committed segment, under swap_lock. */
static int swap_into_place(struct clean_job *job, struct clean_src *src)
{
    int rv;
    if ((rv = rename_ext(src, ".index.cleaned", ".index")) < 0 ||
        (rv = rename_ext(src, ".timeindex.cleaned", ".timeindex")) < 0) {
        return rv;
    }
    if (job->crash_after == 2) {
        return 1;
    }
    if ((rv = rename_ext(src, ".log.swap", ".log")) < 0) {
        return rv;
    }
    src->state = SWAP_IN_PLACE;
    if (job->crash_after == 3) {
        return 1;
    }
    /* Opened here, so the loop installs it without touching the disk. A
     * failure leaves the old segment serving from its descriptors and stops
     * the log; its next open loads the swapped files. */
    rv = segment_open(job->dir, src->base, src->created_ms, NULL, &src->cleaned);
    if (rv < 0) {
        log_error("log", "cannot open cleaned segment dir=%s segment=%" PRId64 " error=%s",
                  job->dir, src->base, strerror(-rv));
        src->cleaned = NULL;
        job->swap_fault = rv; /* the old segment's state no longer names its files */
    }
    return 0;
}

/* A failed step after the commit: the files are left for recovery, which
 * finishes the swap; the log must stop (its indexes may not match). */
static int swap_failed_committed(struct clean_job *job, struct clean_src *src, int rv)
{
    log_error("log", "cleaner swap failed after its commit dir=%s segment=%" PRId64 " error=%s",
              job->dir, src->base, strerror(-rv));
    job->swap_fault = rv;
    return rv;
}

/* Swap one segment. Returns 0, 1 (a simulated crash), LOG_ERR_CLOSED (the
 * loop settled the job) or -errno. */
static int swap_one(struct clean_job *job, struct clean_src *src)
{
    int rv;
    uv_mutex_lock(&job->swap_lock);
    if (job->swap_aborted) {
        unlock_swap(job);
        return LOG_ERR_CLOSED;
    }
    rv = rename_ext(src, ".log.cleaned", ".log.swap");
    src->state = rv == 0 ? SWAP_COMMITTED : SWAP_NONE;
    unlock_swap(job);
    if (rv < 0) {
        return rv;
    }
    if (job->crash_after == 1) {
        return 1;
    }
    rv = fs_fsync_dir(job->dir);
    uv_mutex_lock(&job->swap_lock);
    if (job->swap_aborted) {
        rv = LOG_ERR_CLOSED; /* the loop took the commit back */
    } else if (rv < 0) {
        /* Not known to be committed: take it back, so the old segment and
         * its files stay the truth. */
        if (rename_ext(src, ".log.swap", ".log.cleaned") == 0) {
            src->state = SWAP_NONE;
        } else {
            (void)swap_failed_committed(job, src, rv);
        }
    } else if ((rv = swap_into_place(job, src)) < 0) {
        (void)swap_failed_committed(job, src, rv);
    }
    unlock_swap(job);
    return rv;
}

static void swap_work(uv_work_t *req)
{
    struct clean_job *job = req->data;
    int rv = job->swap_status; /* nonzero: the clean is void, only clean up */
    bool moved = false;
    for (size_t i = 0; rv == 0 && i < job->n; i++) {
        struct clean_src *src = &job->src[i];
        if (src->rewritten && !src->gone) {
            rv = swap_one(job, src);
            moved = moved || src->state == SWAP_IN_PLACE;
        }
    }
    if (rv == 1) {
        job->swap_status = 1; /* a simulated crash: leave every file as it is */
        return;
    }
    int frv = moved ? fs_fsync_dir(job->dir) : 0;
    if (frv < 0) {
        log_error("log", "cannot fsync dir=%s error=%s", job->dir, strerror(-frv));
        uv_mutex_lock(&job->swap_lock); /* settle_locked reads it */
        job->swap_fault = frv;
        unlock_swap(job);
    }
    for (size_t i = 0; i < job->n; i++) {
        if (job->src[i].rewritten && job->src[i].state == SWAP_NONE) {
            log_cleaner_unlink_cleaned(&job->src[i]); /* not swapped: leave nothing behind */
        }
    }
    job->swap_status = rv != 0 ? rv : frv;
}

/* ---- on the loop ---- */

static size_t find_segment(const struct partition_log *log, const struct segment *seg)
{
    for (size_t j = 0; j < log->nsegs; j++) {
        if (log->segs[j] == seg) {
            return j;
        }
    }
    return SIZE_MAX;
}

/* Put the segment the pool opened in the place of its source. No I/O. */
static void install(struct partition_log *log, struct clean_src *src)
{
    struct segment *seg = src->cleaned, *old = src->seg;
    size_t j = find_segment(log, old);
    src->cleaned = NULL;
    if (j == SIZE_MAX) {
        segment_release(seg); /* cannot happen: removals settle first */
        return;
    }
    segment_move_cache(seg, log->owner.files);
    seg->next_offset = old->next_offset;
    seg->max_timestamp = src->max_ts;
    seg->max_ts_offset = src->max_ts_offset;
    seg->first_batch_ts = src->first_batch_ts;
    seg->time_index_last_ts = src->time_index_last_ts;
    log->segs[j] = seg;
    /* Its files were replaced, not unlinked: readers keep the old inode, and
     * its last close, which frees it, happens on the thread pool. */
    struct log_deleter deleter = log_deleter_of(log);
    segment_close_async(old, &deleter);
    segment_release(old);
    log_note_deadline(log); /* its largest timestamp may have gone down */
}

/* Under swap_lock: stop the swap where it is. A segment swapped into place
 * is installed; one only committed gets its `.log.cleaned` name back (a
 * rename on the loop, only when a truncation, deletion or close meets a
 * swap in flight), so no recovery brings back a segment the log then drops
 * or cuts. */
static void settle_locked(struct partition_log *log, struct clean_job *job)
{
    job->swap_aborted = true;
    for (size_t i = 0; i < job->n; i++) {
        struct clean_src *src = &job->src[i];
        if (src->state == SWAP_COMMITTED && job->swap_fault == 0) {
            int rv = rename_ext(src, ".log.swap", ".log.cleaned");
            if (rv == 0) {
                src->state = SWAP_NONE;
            } else {
                log_error("log",
                          "cannot take back a cleaner swap dir=%s segment=%" PRId64 " error=%s",
                          job->dir, src->base, strerror(-rv));
                job->swap_fault = rv;
            }
        } else if (src->state == SWAP_IN_PLACE && src->cleaned != NULL && log != NULL) {
            install(log, src);
        }
    }
}

void log_cleaner_swap_settle(struct partition_log *log, struct clean_job *job)
{
    uv_mutex_lock(&job->swap_lock);
    settle_locked(log, job);
    unlock_swap(job);
}

void log_cleaner_settle(struct partition_log *log)
{
    struct clean_job *job = log->clean_job;
    if (job != NULL && job->swapping) {
        log_cleaner_swap_settle(log, job);
    }
}

/* The completion: install what the pool put in place, move the clean
 * offset, end the job. */
static void swap_after(uv_work_t *req, int status)
{
    struct clean_job *job = req->data;
    struct partition_log *log = job->log;
    int rv = status < 0 ? status : job->swap_status;
    for (size_t i = 0; log != NULL && i < job->n; i++) {
        struct clean_src *src = &job->src[i];
        if (src->state == SWAP_IN_PLACE) {
            if (src->cleaned != NULL) {
                install(log, src);
            }
            job->st.segments_rewritten++;
        }
    }
    if (log != NULL && job->swap_fault != 0) {
        log_note_io_error(log, job->swap_fault, "cleaner swap");
    }
    /* A truncation after the pool finished (settled before this ran) may
     * have cut below map_end: what is appended again there was never in
     * the offset map, so it must not count as clean. */
    if (log != NULL && rv == 0 && job->truncations != log->truncations) {
        rv = LOG_ERR_CLOSED;
    }
    if (log != NULL && rv == 0 && job->map_end > log->clean_offset) {
        log->clean_offset = job->map_end;
    }
    log_cleaner_finish(job, log, rv);
}

/* Queue the swap (or, for a void clean, the removal of its files). Returns
 * 0 if queued. */
int log_cleaner_swap_start(struct partition_log *log, struct clean_job *job, int void_rv)
{
    for (size_t i = 0; i < job->n; i++) {
        /* Retention or DeleteRecords removed it meanwhile. */
        job->src[i].gone = find_segment(log, job->src[i].seg) == SIZE_MAX;
    }
    int rv = uv_mutex_init(&job->swap_lock);
    if (rv < 0) {
        return rv;
    }
    job->swap_lock_init = true;
    job->swap_status = void_rv;
    job->crash_after = log->cleaner_crash_after_step;
    job->swapping = true;
    if ((rv = uv_queue_work(job->loop, &job->work, swap_work, swap_after)) < 0) {
        job->swapping = false;
        return rv;
    }
    log->clean_job = job; /* still: no other clean writes .cleaned files now */
    return 0;
}

/* ---- recovery ---- */

static bool strip_suffix(char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (n <= s || strcmp(name + n - s, suffix) != 0) {
        return false;
    }
    name[n - s] = '\0';
    return true;
}

/* `<stem>.log.swap` exists: the cleaned segment is committed. Its indexes
 * may be old or new, so they go and recovery rebuilds them. */
static int finish_swap(const char *dir, const char *stem)
{
    static const char *const drop[] = {".index", ".timeindex", ".index.cleaned",
                                       ".timeindex.cleaned"};
    char a[CLEAN_PATH_MAX], b[CLEAN_PATH_MAX];
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        snprintf(a, sizeof a, "%s/%s%s", dir, stem, drop[i]);
        if (unlink(a) < 0 && errno != ENOENT) {
            return -errno;
        }
    }
    snprintf(a, sizeof a, "%s/%s.log.swap", dir, stem);
    snprintf(b, sizeof b, "%s/%s.log", dir, stem);
    if (rename(a, b) < 0) {
        return -errno;
    }
    log_warn("log", "finished an interrupted cleaner swap dir=%s segment=%s", dir, stem);
    return 0;
}

int log_cleaner_recover(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rv = 0, swapped = 0;
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    while (rv == 0 && (e = readdir(d)) != NULL) {
        char stem[256];
        if (strlen(e->d_name) >= sizeof stem) {
            continue;
        }
        strcpy(stem, e->d_name);
        if (strip_suffix(stem, ".log.swap")) {
            rv = finish_swap(dir, stem);
            swapped++;
        }
    }
    closedir(d);
    if (rv == 0 && swapped > 0) {
        rv = fs_fsync_dir(dir);
    }
    return rv;
}
