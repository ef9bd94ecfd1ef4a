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
 * log every file). */
struct delete_failure {
    int err;
    size_t more;
    char path[DELETE_PATH_MAX];
};

struct delete_job {
    uv_work_t work;
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
    snprintf(f->path, sizeof f->path, "%s", path);
}

static void report(const struct delete_failure *f)
{
    if (f->err == 0) {
        return;
    }
    if (f->more > 0) {
        log_error("log", "cannot delete path=%s error=%s (and %zu more paths)", f->path,
                  strerror(f->err), f->more);
    } else {
        log_error("log", "cannot delete path=%s error=%s", f->path, strerror(f->err));
    }
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

/* Unlinks first: a descriptor closed after its file's last link is gone is
 * what frees the extents, and that too should happen here. */
static void job_run(struct delete_job *j)
{
    for (size_t i = 0; i < j->npaths; i++) {
        unlink_tolerant(j->paths[i], &j->failed);
    }
    if (j->dir != NULL) {
        remove_tree(j->dir, &j->failed);
    }
    for (size_t i = 0; i < j->nfds; i++) {
        close(j->fds[i]);
    }
    j->nfds = 0;
}

static void job_free(struct delete_job *j)
{
    for (size_t i = 0; i < j->npaths; i++) {
        free(j->paths[i]);
    }
    free(j->paths);
    free(j->dir);
    free(j);
}

static void job_work(uv_work_t *req)
{
    job_run(req->data);
}

static void job_after(uv_work_t *req, int status)
{
    struct delete_job *j = req->data;
    (void)status; /* never cancelled */
    report(&j->failed);
    job_free(j);
}

/* Run `j` on the pool of `loop`, or now without one. */
static void job_start(uv_loop_t *loop, struct delete_job *j)
{
    j->work.data = j;
    if (loop != NULL && uv_queue_work(loop, &j->work, job_work, job_after) == 0) {
        return;
    }
    job_run(j);
    report(&j->failed);
    job_free(j);
}

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

void log_delete_files(uv_loop_t *loop, const int *fds, size_t nfds, const char *const *paths,
                      size_t npaths)
{
    struct delete_job *j = calloc(1, sizeof *j);
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
    job_start(loop, j);
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

int log_delete_dir(uv_loop_t *loop, const char *path)
{
    struct delete_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->dir = strdup(path)) == NULL) {
        free(j);
        struct delete_failure f = {0};
        remove_tree(path, &f);
        report(&f);
        return -f.err;
    }
    if (loop == NULL) {
        job_run(j);
        report(&j->failed);
        int rv = -j->failed.err;
        job_free(j);
        return rv;
    }
    job_start(loop, j);
    return 0;
}
