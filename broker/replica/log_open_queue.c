/* Partition directories opened on the thread pool; see log_open_queue.h. */
#include "broker/replica/log_open_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs_util.h"

/* One piece of pool work: a task's run, or a data directory's fsync for the
 * tasks in `batch`. Freed by its after-work callback, which only frees it
 * when the loop thread already handled it (`orphan`: drain). */
struct log_open_req {
    uv_work_t work;
    struct log_open_queue *q;
    struct log_open_task *task; /* a run; NULL: an fsync */
    size_t dir;
    struct log_open_task *batch;
    int status;
    bool worked; /* under q->lock */
    bool orphan;
    struct log_open_req *prev, *next;
};

int log_open_queue_init(struct log_open_queue *q, uv_loop_t *loop, const struct data_dirs *dirs,
                        size_t max_in_flight)
{
    memset(q, 0, sizeof *q);
    q->loop = loop;
    q->dirs = dirs;
    q->max_in_flight = max_in_flight > 0 ? max_in_flight : 1;
    if (uv_mutex_init(&q->lock) != 0) {
        return -ENOMEM;
    }
    if (uv_cond_init(&q->worked) != 0) {
        uv_mutex_destroy(&q->lock);
        return -ENOMEM;
    }
    q->ready = true;
    return 0;
}

static void req_link(struct log_open_queue *q, struct log_open_req *r)
{
    r->q = q;
    r->prev = NULL;
    r->next = q->reqs;
    if (q->reqs != NULL) {
        q->reqs->prev = r;
    }
    q->reqs = r;
}

static void req_unlink(struct log_open_queue *q, struct log_open_req *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        q->reqs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
}

static void work(uv_work_t *w)
{
    struct log_open_req *r = (struct log_open_req *)w;
    if (r->task != NULL) {
        r->task->run(r->task);
    } else {
        r->status = fs_fsync_dir(r->q->dirs->paths[r->dir]);
    }
    uv_mutex_lock(&r->q->lock);
    r->worked = true;
    uv_cond_broadcast(&r->q->worked);
    uv_mutex_unlock(&r->q->lock);
}

static void after_work(uv_work_t *w, int status);

static void finish(struct log_open_queue *q, struct log_open_task *t)
{
    q->pending--;
    t->done(t);
}

/* Start the fsync of each data directory with tasks waiting for one and
 * none in flight: it covers all of them. */
static void start_dir_syncs(struct log_open_queue *q)
{
    for (size_t d = 0; d < q->dirs->count; d++) {
        if (q->synced[d] == NULL || q->dir_sync[d] != NULL) {
            continue;
        }
        struct log_open_req *r = calloc(1, sizeof *r);
        if (r == NULL) {
            /* Out of memory: fsync here rather than never. */
            int status = fs_fsync_dir(q->dirs->paths[d]);
            struct log_open_task *t = q->synced[d], *next;
            q->synced[d] = NULL;
            for (; t != NULL; t = next) {
                next = t->next;
                t->data_dir_status = status;
                finish(q, t);
            }
            continue;
        }
        r->dir = d;
        r->batch = q->synced[d];
        q->synced[d] = NULL;
        req_link(q, r);
        q->dir_sync[d] = r;
        uv_queue_work(q->loop, &r->work, work, after_work);
    }
}

/* The loop's side of finished pool work. */
static void handle(struct log_open_queue *q, struct log_open_req *r)
{
    req_unlink(q, r);
    if (r->task != NULL) {
        struct log_open_task *t = r->task;
        q->in_flight--;
        if (t->sync_data_dir && t->data_dir < q->dirs->count) {
            t->next = q->synced[t->data_dir];
            q->synced[t->data_dir] = t;
        } else {
            finish(q, t);
        }
    } else {
        struct log_open_task *t = r->batch, *next;
        q->dir_sync[r->dir] = NULL;
        for (; t != NULL; t = next) {
            next = t->next;
            t->data_dir_status = r->status;
            finish(q, t);
        }
    }
    start_dir_syncs(q);
}

static bool same_path(const struct log_open_task *t, const char *path)
{
    return strcmp(t->path, path) == 0;
}

/* Whether a task of `path` has started and is not done yet. */
static bool path_busy(const struct log_open_queue *q, const char *path)
{
    for (const struct log_open_req *r = q->reqs; r != NULL; r = r->next) {
        if (r->task != NULL && same_path(r->task, path)) {
            return true;
        }
        for (const struct log_open_task *t = r->batch; t != NULL; t = t->next) {
            if (same_path(t, path)) {
                return true;
            }
        }
    }
    for (size_t d = 0; d < q->dirs->count; d++) {
        for (const struct log_open_task *t = q->synced[d]; t != NULL; t = t->next) {
            if (same_path(t, path)) {
                return true;
            }
        }
    }
    return false;
}

static void start_run(struct log_open_queue *q, struct log_open_task *t)
{
    struct log_open_req *r = calloc(1, sizeof *r);
    t->started = true;
    q->in_flight++;
    if (r == NULL) {
        /* Out of memory: run it here rather than never. */
        t->run(t);
        q->in_flight--;
        finish(q, t);
        return;
    }
    r->task = t;
    req_link(q, r);
    uv_queue_work(q->loop, &r->work, work, after_work);
}

/* Start queued tasks, oldest first, while there is room; a task whose path
 * is busy, or queued earlier and still waiting, waits. */
static void dispatch(struct log_open_queue *q)
{
    struct log_open_task **pp = &q->queue, *prev = NULL;
    while (*pp != NULL && q->in_flight < q->max_in_flight) {
        struct log_open_task *t = *pp;
        bool wait = path_busy(q, t->path);
        for (const struct log_open_task *e = q->queue; !wait && e != t; e = e->next) {
            wait = same_path(e, t->path);
        }
        if (wait) {
            prev = t;
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        if (q->queue_tail == t) {
            q->queue_tail = prev;
        }
        t->next = NULL;
        start_run(q, t);
    }
}

static void after_work(uv_work_t *w, int status)
{
    struct log_open_req *r = (struct log_open_req *)w;
    struct log_open_queue *q = r->q;
    (void)status; /* never cancelled */
    if (r->orphan) {
        free(r);
        return;
    }
    handle(q, r);
    free(r);
    dispatch(q);
}

void log_open_queue_add(struct log_open_queue *q, struct log_open_task *t)
{
    t->next = NULL;
    t->started = false;
    t->sync_data_dir = false;
    t->data_dir_status = 0;
    if (q->queue_tail != NULL) {
        q->queue_tail->next = t;
    } else {
        q->queue = t;
    }
    q->queue_tail = t;
    q->pending++;
    dispatch(q);
}

size_t log_open_queue_pending(const struct log_open_queue *q)
{
    return q->pending;
}

void log_open_queue_drain(struct log_open_queue *q)
{
    while (q->ready && q->pending > 0) {
        dispatch(q);
        start_dir_syncs(q);
        struct log_open_req *r = NULL;
        uv_mutex_lock(&q->lock);
        for (;;) {
            for (r = q->reqs; r != NULL && !r->worked; r = r->next) {
            }
            if (r != NULL || q->reqs == NULL) {
                break;
            }
            uv_cond_wait(&q->worked, &q->lock);
        }
        uv_mutex_unlock(&q->lock);
        if (r == NULL) {
            continue; /* everything was finished inline (out of memory) */
        }
        /* Handled here; its after-work callback only frees it. */
        r->orphan = true;
        handle(q, r);
    }
}

void log_open_queue_close(struct log_open_queue *q)
{
    if (!q->ready) {
        return;
    }
    log_open_queue_drain(q);
    uv_cond_destroy(&q->worked);
    uv_mutex_destroy(&q->lock);
    q->ready = false;
}
