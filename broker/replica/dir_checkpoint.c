/* One log directory's offsets checkpoint files; see dir_checkpoint.h. */
#include "broker/replica/dir_checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/log_errors.h"
#include "broker/log/offset_checkpoint_file.h"
#include "common/buf.h"
#include "common/fs_util.h"
#include "common/log.h"
#include "common/strmap.h"

enum { FILE_RECOVERY, FILE_HW, FILE_START, N_FILES };

static const char *const FILE_NAMES[N_FILES] = {
    OFFSET_CHECKPOINT_RECOVERY_POINT,
    OFFSET_CHECKPOINT_HIGH_WATERMARK,
    OFFSET_CHECKPOINT_LOG_START,
};

struct entry {
    char *topic;
    int32_t partition;
    struct log_checkpoint cp;
};

/* Orders the writes of one directory: the pool's and the loop's synchronous
 * ones. Shared with in-flight jobs (refs, loop thread only) so closing the
 * directory never frees the lock under a worker. */
struct writer {
    uv_mutex_t lock;
    uint64_t written_seq; /* under lock: the newest state on disk */
    int refs;
};

/* One entry as a write saw it; its topic is `names` + name_at. */
struct snap {
    size_t name_at;
    int32_t partition;
    struct log_checkpoint cp;
};

struct job {
    uv_work_t work;
    struct dir_checkpoint *dc; /* NULL once the directory closed */
    struct writer *w;
    char *dir;
    /* The entries copied on the loop (a memcpy each); the files are
     * formatted from them by whoever writes, off the loop for a pool write:
     * formatting thousands of lines took milliseconds of the loop. */
    struct snap *snaps;
    size_t n_snaps;
    struct buf names; /* the topics, each '\0'-terminated */
    struct buf files[N_FILES];
    char **retire;
    size_t n_retire;
    uint64_t seq;
    int status;
    bool unformatted; /* formatting ran out of memory: nothing was written */
};

struct dir_checkpoint {
    uv_loop_t *loop;
    char *dir;
    struct strmap entries; /* "topic partition" -> struct entry */
    bool dirty;            /* an entry changed since the last write started */
    uint64_t seq;          /* of the last write started */
    struct writer *w;
    struct job *inflight;
    uint64_t landed; /* the newest state a write finished (loop's view) */
    /* dir_checkpoint_wait's waiters, each for the state of its call: at
     * most one per caller's request, in the callers' memory. */
    struct log_checkpoint_waiter *waiters;
    char **retire; /* old per-partition files to delete after the next write */
    size_t n_retire, cap_retire;
    dir_checkpoint_fault_fn fault;
    void *fault_data;
};

/* "topic partition" into `out` (truncated to `len`): the log manager files
 * every active partition's offsets each second, so no snprintf here. */
static void key_of(const char *topic, int32_t partition, char *out, size_t len)
{
    char digits[12];
    size_t n = 0;
    int64_t v = partition < 0 ? -(int64_t)partition : partition;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    if (partition < 0) {
        digits[n++] = '-';
    }
    size_t topic_len = strlen(topic);
    if (len == 0 || topic_len + 1 + n + 1 > len) {
        snprintf(out, len, "%s %d", topic, (int)partition);
        return;
    }
    memcpy(out, topic, topic_len);
    out[topic_len] = ' ';
    for (size_t i = 0; i < n; i++) {
        out[topic_len + 1 + i] = digits[n - 1 - i];
    }
    out[topic_len + 1 + n] = '\0';
}

static void writer_unref(struct writer *w)
{
    if (--w->refs == 0) {
        uv_mutex_destroy(&w->lock);
        free(w);
    }
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i]);
    }
    free(s);
}

/* ---- reading ---- */

struct load_ctx {
    struct dir_checkpoint *dc;
    int file;
};

static struct entry *entry_get_or_add(struct dir_checkpoint *dc, const char *topic,
                                      int32_t partition)
{
    char key[300];
    key_of(topic, partition, key, sizeof key);
    struct entry *e = strmap_get(&dc->entries, key);
    if (e != NULL) {
        return e;
    }
    if ((e = calloc(1, sizeof *e)) == NULL || (e->topic = strdup(topic)) == NULL) {
        free(e);
        return NULL;
    }
    e->partition = partition;
    if (strmap_put(&dc->entries, key, e) != 0) {
        free(e->topic);
        free(e);
        return NULL;
    }
    return e;
}

static int load_entry(const char *topic, int32_t partition, int64_t offset, void *arg)
{
    struct load_ctx *ctx = arg;
    struct entry *e = entry_get_or_add(ctx->dc, topic, partition);
    if (e == NULL) {
        return -ENOMEM;
    }
    int64_t *field = ctx->file == FILE_RECOVERY ? &e->cp.recovery_point
                     : ctx->file == FILE_HW     ? &e->cp.high_watermark
                                                : &e->cp.log_start_offset;
    *field = offset;
    return 0;
}

static int check_entry(const char *topic, int32_t partition, int64_t offset, void *arg)
{
    (void)topic;
    (void)partition;
    (void)offset;
    (void)arg;
    return 0;
}

static void free_entries(struct strmap *m)
{
    size_t b;
    for (struct strmap_entry *it = strmap_first(m, &b); it; it = strmap_next(m, it, &b)) {
        struct entry *e = it->value;
        free(e->topic);
        free(e);
    }
    strmap_free(m);
}

struct dir_checkpoint *dir_checkpoint_open(uv_loop_t *loop, const char *dir)
{
    struct dir_checkpoint *dc = calloc(1, sizeof *dc);
    struct writer *w = calloc(1, sizeof *w);
    if (dc == NULL || w == NULL || (dc->dir = strdup(dir)) == NULL ||
        uv_mutex_init(&w->lock) != 0) {
        free(w);
        if (dc != NULL) {
            free(dc->dir);
        }
        free(dc);
        return NULL;
    }
    w->refs = 1;
    dc->w = w;
    dc->loop = loop;
    strmap_init(&dc->entries);
    for (int f = 0; f < N_FILES; f++) {
        struct load_ctx ctx = {dc, f};
        /* Validate the whole file before taking any of it. */
        int rv = offset_checkpoint_read(dir, FILE_NAMES[f], check_entry, NULL);
        if (rv == 0) {
            rv = offset_checkpoint_read(dir, FILE_NAMES[f], load_entry, &ctx);
        }
        if (rv == -ENOMEM) {
            dir_checkpoint_close(dc);
            return NULL;
        }
        if (rv != 0 && rv != -ENOENT) {
            /* Offsets default to 0 for what it listed: a full recovery and
             * a high watermark that only the ISR rule raises again. */
            log_warn("replica", "ignoring unreadable checkpoint dir=%s file=%s error=%s", dir,
                     FILE_NAMES[f], log_err_name(rv));
        }
    }
    return dc;
}

void dir_checkpoint_on_fault(struct dir_checkpoint *dc, dir_checkpoint_fault_fn fault, void *data)
{
    dc->fault = fault;
    dc->fault_data = data;
}

bool dir_checkpoint_get(const struct dir_checkpoint *dc, const char *topic, int32_t partition,
                        struct log_checkpoint *cp)
{
    char key[300];
    key_of(topic, partition, key, sizeof key);
    const struct entry *e = strmap_get(&dc->entries, key);
    if (e == NULL) {
        return false;
    }
    *cp = e->cp;
    return true;
}

/* ---- updating ---- */

int dir_checkpoint_set(struct dir_checkpoint *dc, const char *topic, int32_t partition,
                       const struct log_checkpoint *cp)
{
    struct entry *e = entry_get_or_add(dc, topic, partition);
    if (e == NULL) {
        return -ENOMEM;
    }
    if (memcmp(&e->cp, cp, sizeof *cp) != 0) {
        e->cp = *cp;
        dc->dirty = true;
    }
    return 0;
}

void dir_checkpoint_remove(struct dir_checkpoint *dc, const char *topic, int32_t partition)
{
    char key[300];
    key_of(topic, partition, key, sizeof key);
    struct entry *e = strmap_remove(&dc->entries, key);
    if (e != NULL) {
        free(e->topic);
        free(e);
        dc->dirty = true;
    }
}

int dir_checkpoint_retire_file(struct dir_checkpoint *dc, const char *path)
{
    if (dc->n_retire == dc->cap_retire) {
        size_t cap = dc->cap_retire ? 2 * dc->cap_retire : 16;
        char **r = realloc(dc->retire, cap * sizeof *r);
        if (r == NULL) {
            return -ENOMEM;
        }
        dc->retire = r;
        dc->cap_retire = cap;
    }
    if ((dc->retire[dc->n_retire] = strdup(path)) == NULL) {
        return -ENOMEM;
    }
    dc->n_retire++;
    dc->dirty = true;
    return 0;
}

/* ---- writing ---- */

/* Loop thread: copy the entries into the job. */
static int snapshot(const struct dir_checkpoint *dc, struct job *job)
{
    job->snaps = malloc((dc->entries.count + 1) * sizeof *job->snaps);
    if (job->snaps == NULL) {
        return -ENOMEM;
    }
    size_t b;
    for (struct strmap_entry *it = strmap_first(&dc->entries, &b); it;
         it = strmap_next(&dc->entries, it, &b)) {
        const struct entry *e = it->value;
        struct snap *s = &job->snaps[job->n_snaps++];
        s->name_at = job->names.len;
        s->partition = e->partition;
        s->cp = e->cp;
        int rv = buf_append(&job->names, e->topic, strlen(e->topic) + 1);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Any thread: the three files' text from the job's copy of the entries. */
static int format(struct job *job)
{
    int rv = 0;
    for (int f = 0; f < N_FILES && rv == 0; f++) {
        rv = offset_checkpoint_begin(&job->files[f], job->n_snaps);
    }
    for (size_t i = 0; i < job->n_snaps && rv == 0; i++) {
        const struct snap *s = &job->snaps[i];
        const char *topic = (const char *)job->names.data + s->name_at;
        if ((rv = offset_checkpoint_add(&job->files[FILE_RECOVERY], topic, s->partition,
                                        s->cp.recovery_point)) == 0 &&
            (rv = offset_checkpoint_add(&job->files[FILE_HW], topic, s->partition,
                                        s->cp.high_watermark)) == 0) {
            rv = offset_checkpoint_add(&job->files[FILE_START], topic, s->partition,
                                       s->cp.log_start_offset);
        }
    }
    return rv;
}

/* Any thread. State `seq` lands only if nothing newer did already; then the
 * retired files go (a newer write listed their partitions too). */
static int write_files(struct writer *w, uint64_t seq, const char *dir,
                       const struct buf files[N_FILES], char **retire, size_t n_retire)
{
    int rv = 0;
    uv_mutex_lock(&w->lock);
    if (seq > w->written_seq) {
        for (int f = 0; f < N_FILES && rv == 0; f++) {
            rv = fs_write_atomic(dir, FILE_NAMES[f], files[f].data, files[f].len);
        }
        if (rv == 0) {
            w->written_seq = seq;
        }
    }
    uv_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n_retire && rv == 0; i++) {
        (void)unlink(retire[i]); /* already gone is fine; a survivor is ignored */
    }
    return rv;
}

static void job_free(struct job *job)
{
    for (int f = 0; f < N_FILES; f++) {
        buf_free(&job->files[f]);
    }
    free(job->snaps);
    buf_free(&job->names);
    free_strings(job->retire, job->n_retire);
    free(job->dir);
    writer_unref(job->w);
    free(job);
}

/* Any thread: format, then write. */
static int job_write(struct job *job)
{
    int rv = format(job);
    job->unformatted = rv != 0;
    return rv != 0
               ? rv
               : write_files(job->w, job->seq, job->dir, job->files, job->retire, job->n_retire);
}

static void job_work(uv_work_t *req)
{
    struct job *job = req->data;
    job->status = job_write(job);
}

/* A failed write leaves the directory dirty and its retired files listed. */
static void give_back(struct dir_checkpoint *dc, struct job *job)
{
    dc->dirty = true;
    for (size_t i = 0; i < job->n_retire; i++) {
        if (dir_checkpoint_retire_file(dc, job->retire[i]) != 0) {
            break; /* kept on disk and ignored once the directory's files list it */
        }
    }
}

/* Loop: a write that touched the disk failed. */
static void write_failed(struct dir_checkpoint *dc, struct job *job, int err)
{
    log_error("replica", "cannot write offsets checkpoints dir=%s error=%s", dc->dir,
              strerror(-err));
    give_back(dc, job);
    if (dc->fault != NULL) {
        dc->fault(dc->fault_data, dc, err);
    }
}

static void waiter_unlink(struct dir_checkpoint *dc, struct log_checkpoint_waiter *w)
{
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        dc->waiters = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    w->prev = w->next = NULL;
}

/* Tell the waiters for states up to `seq` (all: UINT64_MAX) `status`. They
 * leave the list first: a `done` may wait or unwait again. */
static void complete_waiters(struct dir_checkpoint *dc, uint64_t seq, int status)
{
    struct log_checkpoint_waiter *ready = NULL;
    struct log_checkpoint_waiter *w = dc->waiters;
    while (w != NULL) {
        struct log_checkpoint_waiter *next = w->next;
        if (w->seq <= seq) {
            waiter_unlink(dc, w);
            w->next = ready;
            ready = w;
        }
        w = next;
    }
    while (ready != NULL) {
        w = ready;
        ready = w->next;
        w->next = NULL;
        w->done(w, status);
    }
}

/* Loop: a write (pool or synchronous) that ran out of memory copying or
 * formatting the files; `job` NULL if it ran out making the job. No storage
 * fault (the disk was not touched): the state stays dirty for the next
 * checkpoint tick, and its waiters wait for that write rather than fail (a
 * failure takes the directory offline). Not queued again at once: memory is
 * short now, and the tick comes soon enough. */
static void job_unformatted(struct dir_checkpoint *dc, struct job *job)
{
    /* No promise of a next tick: a synchronous write may be the shutdown's,
     * after which none comes (dir_checkpoint_close says so). */
    log_warn("replica",
             "out of memory formatting offsets checkpoints dir=%s: the files keep their older "
             "offsets until a later write",
             dc->dir);
    if (job != NULL) {
        give_back(dc, job);
    } else {
        dc->dirty = true;
    }
}

static void job_after(uv_work_t *req, int status)
{
    struct job *job = req->data;
    struct dir_checkpoint *dc = job->dc;
    int rv = status < 0 ? status : job->status;
    uint64_t seq = job->seq;
    if (dc != NULL) {
        dc->inflight = NULL;
        if (rv < 0 && job->unformatted) {
            job_unformatted(dc, job);
            job_free(job);
            /* A synchronous write while this one was in flight may have
             * landed their state: they need not wait for the tick. */
            complete_waiters(dc, dc->landed, 0);
            return;
        }
        if (rv < 0) {
            write_failed(dc, job, rv);
        } else if (seq > dc->landed) {
            dc->landed = seq;
        }
    }
    job_free(job);
    if (dc != NULL) {
        /* Whatever landed answers the waiters whose state it holds (this
         * write, or a synchronous one while this was in flight); then a
         * failed write fails the answers that needed its state: a retry may
         * never land (the directory goes offline), and they must not wait
         * for it. */
        complete_waiters(dc, dc->landed, 0);
        if (rv < 0) {
            complete_waiters(dc, seq, rv);
        }
        /* The newer state they wait for; after a failure not at once
         * against a failing disk (whose owner has heard of it and may have
         * taken it offline, answering them): the next tick retries. */
        if (dc->waiters != NULL && rv == 0) {
            dir_checkpoint_write_async(dc);
        }
    }
}

static struct job *job_new(struct dir_checkpoint *dc)
{
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL || (job->dir = strdup(dc->dir)) == NULL) {
        free(job);
        return NULL;
    }
    for (int f = 0; f < N_FILES; f++) {
        buf_init(&job->files[f]);
    }
    buf_init(&job->names);
    job->w = dc->w;
    dc->w->refs++;
    if (snapshot(dc, job) != 0) {
        job_free(job);
        return NULL;
    }
    job->dc = dc;
    job->retire = dc->retire;
    job->n_retire = dc->n_retire;
    dc->retire = NULL;
    dc->n_retire = dc->cap_retire = 0;
    job->seq = ++dc->seq;
    dc->dirty = false;
    job->work.data = job;
    return job;
}

void dir_checkpoint_write_async(struct dir_checkpoint *dc)
{
    if (!dc->dirty || dc->inflight != NULL) {
        return;
    }
    struct job *job = job_new(dc);
    int rv = job != NULL ? uv_queue_work(dc->loop, &job->work, job_work, job_after) : -ENOMEM;
    if (rv < 0) {
        log_error("replica", "cannot queue offsets checkpoints dir=%s error=%s", dc->dir,
                  strerror(-rv));
        if (job != NULL) {
            give_back(dc, job);
            job_free(job);
        }
        return;
    }
    dc->inflight = job;
}

int dir_checkpoint_write_sync(struct dir_checkpoint *dc)
{
    if (!dc->dirty) {
        return 0;
    }
    struct job *job = job_new(dc);
    int rv = job != NULL ? job_write(job) : -ENOMEM;
    if (rv < 0 && (job == NULL || job->unformatted)) {
        job_unformatted(dc, job);
        rv = -ENOMEM;
    } else if (rv < 0) {
        write_failed(dc, job, rv);
    } else if (job->seq > dc->landed) {
        dc->landed = job->seq;
    }
    if (job != NULL) {
        job_free(job);
    }
    if (dc->waiters != NULL && dc->inflight == NULL) {
        /* Waiters are told from a pool write's completion, never from
         * inside this call (its caller is in the middle of changing a log):
         * one more write, which finds its state landed or carries it. */
        dc->dirty = true;
        dir_checkpoint_write_async(dc);
    }
    return rv;
}

int dir_checkpoint_wait(struct dir_checkpoint *dc, struct log_checkpoint_waiter *w)
{
    uint64_t need = dc->dirty ? dc->seq + 1 : dc->seq;
    if (need <= dc->landed) {
        return 1;
    }
    w->seq = need;
    w->prev = NULL;
    w->next = dc->waiters;
    if (dc->waiters != NULL) {
        dc->waiters->prev = w;
    }
    dc->waiters = w;
    dir_checkpoint_write_async(dc); /* in flight already: its completion queues the next */
    return 0;
}

void dir_checkpoint_unwait(struct dir_checkpoint *dc, struct log_checkpoint_waiter *w)
{
    if (w->prev != NULL || dc->waiters == w) {
        waiter_unlink(dc, w);
    }
}

void dir_checkpoint_fail_waiters(struct dir_checkpoint *dc, int err)
{
    complete_waiters(dc, dc->landed, 0); /* theirs landed already */
    complete_waiters(dc, UINT64_MAX, err);
}

void dir_checkpoint_close(struct dir_checkpoint *dc)
{
    if (dc == NULL) {
        return;
    }
    if (dc->dirty) {
        log_warn("replica",
                 "closing with offsets not written dir=%s: the next start recovers the logs "
                 "from the older offsets in the files",
                 dc->dir);
    }
    if (dc->inflight != NULL) {
        dc->inflight->dc = NULL;
    }
    complete_waiters(dc, dc->landed, 0); /* the shutdown's write landed theirs */
    complete_waiters(dc, UINT64_MAX, LOG_ERR_CLOSED);
    free_entries(&dc->entries);
    free_strings(dc->retire, dc->n_retire);
    writer_unref(dc->w);
    free(dc->dir);
    free(dc);
}
