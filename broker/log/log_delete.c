/* Deleting log files off the event loop; see log_delete.h. */
#include "broker/log/log_delete.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define DELETE_PATH_MAX 4096

/* What a job did not manage: the first failure, logged with its path, and
 * how many more there were (a directory on a failed disk would otherwise
 * log every file). The path is copied only on a failure: thousands of jobs
 * may wait in a queue. */
struct delete_failure {
    int err;
    size_t more;
    char *path; /* NULL: no memory to copy it */
};

struct log_delete_job {
    uv_work_t work;
    /* The queue it waits in or runs from; NULL: none, or one that closed
     * while it ran (then it touches no queue). */
    struct log_delete_queue *queue;
    struct log_delete_job *prev, *next; /* in queue->waiting (next only) or queue->running */
    int fds[LOG_DELETE_MAX_FDS];
    size_t nfds;
    char *dir; /* a directory to empty and remove, or NULL */
    size_t npaths;
    char **paths;
    struct delete_failure failed;
};

static void note_failure(struct delete_failure *f, const char *path, int err)
{
    if (f->err != 0) {
        f->more++;
        return;
    }
    f->err = err;
    f->path = strdup(path);
}

/* Log what failed, once, and forget it. */
static void report(struct delete_failure *f)
{
    if (f->err == 0) {
        return;
    }
    const char *path = f->path != NULL ? f->path : "(out of memory for the path)";
    if (f->more > 0) {
        log_error("log", "cannot delete path=%s error=%s (and %zu more paths)", path,
                  strerror(f->err), f->more);
    } else {
        log_error("log", "cannot delete path=%s error=%s", path, strerror(f->err));
    }
    free(f->path);
    *f = (struct delete_failure){0};
}

static void unlink_tolerant(const char *path, struct delete_failure *f)
{
    if (unlink(path) < 0 && errno != ENOENT) {
        note_failure(f, path, errno);
    }
}

/* Unlink every entry of `dir`, then the directory. */
static void remove_tree(const char *dir, struct delete_failure *f)
{
    char path[DELETE_PATH_MAX];
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno != ENOENT) {
            note_failure(f, dir, errno);
        }
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) {
            note_failure(f, dir, ENAMETOOLONG);
            continue;
        }
        unlink_tolerant(path, f);
    }
    closedir(d);
    if (rmdir(dir) < 0 && errno != ENOENT) {
        note_failure(f, dir, errno);
    }
}

static void close_fds(struct log_delete_job *j)
{
    for (size_t i = 0; i < j->nfds; i++) {
        close(j->fds[i]);
    }
    j->nfds = 0;
}

/* Unlinks first: a descriptor closed after its file's last link is gone is
 * what frees the extents, and that too should happen here. */
static void job_run(struct log_delete_job *j)
{
    for (size_t i = 0; i < j->npaths; i++) {
        unlink_tolerant(j->paths[i], &j->failed);
    }
    if (j->dir != NULL) {
        remove_tree(j->dir, &j->failed);
    }
    close_fds(j);
}

static void job_free(struct log_delete_job *j)
{
    for (size_t i = 0; i < j->npaths; i++) {
        free(j->paths[i]);
    }
    free(j->paths);
    free(j->dir);
    free(j->failed.path);
    free(j);
}

static void job_now(struct log_delete_job *j)
{
    job_run(j);
    report(&j->failed);
    job_free(j);
}

/* A job that will not run: its descriptors are closed, its renamed files
 * stay for the next start-up (see log_delete.h). */
static void job_drop(struct log_delete_job *j)
{
    close_fds(j);
    job_free(j);
}

/* ---- the queue ---- */

static void running_link(struct log_delete_queue *q, struct log_delete_job *j)
{
    j->queue = q;
    j->prev = NULL;
    j->next = q->running;
    if (q->running != NULL) {
        q->running->prev = j;
    }
    q->running = j;
    q->nrunning++;
}

static void running_unlink(struct log_delete_queue *q, struct log_delete_job *j)
{
    if (j->prev != NULL) {
        j->prev->next = j->next;
    } else {
        q->running = j->next;
    }
    if (j->next != NULL) {
        j->next->prev = j->prev;
    }
    j->prev = j->next = NULL;
    q->nrunning--;
}

static struct log_delete_job *waiting_pop(struct log_delete_queue *q)
{
    struct log_delete_job *j = q->waiting;
    if (j != NULL) {
        q->waiting = j->next;
        if (q->waiting == NULL) {
            q->waiting_tail = NULL;
        }
        j->next = NULL;
        q->nwaiting--;
    }
    return j;
}

static void job_work(uv_work_t *req)
{
    job_run(req->data);
}

static void dispatch(struct log_delete_queue *q);

static void job_after(uv_work_t *req, int status)
{
    struct log_delete_job *j = req->data;
    struct log_delete_queue *q = j->queue;
    (void)status; /* never cancelled */
    report(&j->failed);
    if (q != NULL) {
        running_unlink(q, j);
    }
    job_free(j);
    if (q != NULL) {
        dispatch(q);
    }
}

/* Move waiting jobs, oldest first, onto the pool while there is room. */
static void dispatch(struct log_delete_queue *q)
{
    struct log_delete_job *j;
    while (q->nrunning < q->max_in_flight && (j = waiting_pop(q)) != NULL) {
        running_link(q, j);
        if (uv_queue_work(q->loop, &j->work, job_work, job_after) != 0) {
            running_unlink(q, j);
            job_now(j);
        }
    }
}

void log_delete_queue_init(struct log_delete_queue *q, uv_loop_t *loop, size_t max_in_flight)
{
    memset(q, 0, sizeof *q);
    q->loop = loop;
    q->max_in_flight = max_in_flight > 0 ? max_in_flight : 1;
}

size_t log_delete_queue_pending(const struct log_delete_queue *q)
{
    return q->nwaiting + q->nrunning;
}

void log_delete_queue_close(struct log_delete_queue *q)
{
    size_t dirs = 0, files = 0;
    struct log_delete_job *j;
    if (q->closed) {
        return;
    }
    q->closed = true;
    while ((j = waiting_pop(q)) != NULL) {
        dirs += j->dir != NULL;
        files += j->npaths;
        job_drop(j);
    }
    if (dirs > 0 || files > 0) {
        log_info("log",
                 "shutting down before deleting directories=%zu files=%zu: renamed for "
                 "deletion, they go at the next start-up",
                 dirs, files);
    }
    while ((j = q->running) != NULL) {
        running_unlink(q, j);
        j->queue = NULL; /* finishes on the pool and frees itself */
    }
}

/* Run `j` as `d` says. */
static void job_start(const struct log_deleter *d, struct log_delete_job *j)
{
    struct log_delete_queue *q = d->queue;
    j->work.data = j;
    if (q != NULL && q->closed) {
        job_drop(j);
    } else if (q != NULL) {
        j->queue = q;
        j->next = NULL;
        if (q->waiting_tail != NULL) {
            q->waiting_tail->next = j;
        } else {
            q->waiting = j;
        }
        q->waiting_tail = j;
        q->nwaiting++;
        dispatch(q);
    } else if (d->loop == NULL || uv_queue_work(d->loop, &j->work, job_work, job_after) != 0) {
        job_now(j);
    }
}

/* ---- jobs ---- */

/* Without memory for a job: the same work, now, on this thread. */
static void files_now(const int *fds, size_t nfds, const char *const *paths, size_t npaths)
{
    struct delete_failure f = {0};
    for (size_t i = 0; i < npaths; i++) {
        unlink_tolerant(paths[i], &f);
    }
    for (size_t i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    report(&f);
}

void log_delete_files(const struct log_deleter *d, const int *fds, size_t nfds,
                      const char *const *paths, size_t npaths)
{
    struct log_delete_job *j = calloc(1, sizeof *j);
    if (j == NULL || nfds > LOG_DELETE_MAX_FDS ||
        (npaths > 0 && (j->paths = calloc(npaths, sizeof *j->paths)) == NULL)) {
        free(j);
        files_now(fds, nfds, paths, npaths);
        return;
    }
    for (size_t i = 0; i < npaths; i++, j->npaths++) {
        if ((j->paths[i] = strdup(paths[i])) == NULL) {
            job_free(j);
            files_now(fds, nfds, paths, npaths);
            return;
        }
    }
    memcpy(j->fds, fds, nfds * sizeof *fds);
    j->nfds = nfds;
    job_start(d, j);
}

int log_delete_rename_dir(const char *dir, char *out, size_t outlen)
{
    /* Kafka names it with a random UUID; the wall clock in nanoseconds is
     * unique enough for one broker, and a taken name is skipped: rename(2)
     * would replace an empty directory of that name silently. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t id = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    for (int tries = 0; tries < 16; tries++, id++) {
        int n = snprintf(out, outlen, "%s.%016" PRIx64 "%s", dir, id, LOG_DELETE_DIR_SUFFIX);
        if (n < 0 || (size_t)n >= outlen) {
            return -ENAMETOOLONG;
        }
        if (access(out, F_OK) == 0) {
            continue;
        }
        return rename(dir, out) < 0 ? -errno : 0;
    }
    return -EEXIST;
}

bool log_delete_is_dir_name(const char *name)
{
    size_t n = strlen(name), s = strlen(LOG_DELETE_DIR_SUFFIX);
    return n > s && strcmp(name + n - s, LOG_DELETE_DIR_SUFFIX) == 0;
}

int log_delete_dir(const struct log_deleter *d, const char *path)
{
    struct log_delete_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->dir = strdup(path)) == NULL) {
        free(j);
        struct delete_failure f = {0};
        remove_tree(path, &f);
        int rv = -f.err;
        report(&f);
        return rv;
    }
    if (d->queue == NULL && d->loop == NULL) {
        job_run(j);
        int rv = -j->failed.err;
        report(&j->failed);
        job_free(j);
        return rv;
    }
    job_start(d, j);
    return 0;
}
