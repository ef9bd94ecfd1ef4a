/* Log directories, topic-id files and periodic log work; see log_manager.h. */
#include "broker/replica/log_manager.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/replica/dir_checkpoint.h"
#include "broker/replica/log_manager_internal.h"
#include "broker/replica/partition_metadata.h"
#include "common/deadline_heap.h"
#include "common/fs_util.h"
#include "common/log.h"
#include "common/wall_clock.h"

/* Partition opens on the thread pool at once: libuv's pool has four threads
 * by default, and flush fsyncs and checkpoint writes must still get one. */
#define OPENS_IN_FLIGHT 3

/* log_manager_flush_all's pass: a few flushes at a time, one slot each. */
struct flush_all_slot {
    struct log_flush_req req;
    struct log_flush_all *fa;
    bool busy;
};

struct log_flush_all {
    struct log_manager *lm;
    /* The next log to flush: open_logs is walked from its head as it was at
     * the call, and a log opened later goes in front of it, so it is not
     * reached; one closed meanwhile moves the cursor on (open_unlist). */
    struct managed_log *cursor;
    size_t in_flight;
    bool cancelled; /* the manager is stopping: closing the logs completes the flushes */
    struct flush_all_slot slots[LOG_MANAGER_FLUSH_ALL_IN_FLIGHT];
    void (*cb)(void *arg);
    void *arg;
};

/* Partition directories renamed for deletion whose removal an earlier run
 * did not finish (a crash, a shutdown): removed on the thread pool. */
static void remove_deleted_dirs(struct log_manager *lm, const char *data_dir)
{
    DIR *d = opendir(data_dir);
    struct dirent *e;
    char path[4096];
    if (d == NULL) {
        return; /* data_dirs_open made it; an unreadable one fails its opens */
    }
    while ((e = readdir(d)) != NULL) {
        if (partition_log_dir_is_deleted(e->d_name) &&
            (size_t)snprintf(path, sizeof path, "%s/%s", data_dir, e->d_name) < sizeof path) {
            partition_log_remove_deleted_dir(&lm->deletions, path);
        }
    }
    closedir(d);
}

/* A device error takes the directory offline (Kafka's log loading and
 * checkpoint writes do); anything else (corrupt, missing, out of
 * descriptors) only the partition being opened, which the owner reports, or
 * nothing for a checkpoint write, which the next tick retries. */
static bool device_error(int rv)
{
    return rv == -EIO || rv == -EROFS || rv == -ENOSPC || rv == -EDQUOT || rv == -ENXIO ||
           rv == -ENODEV;
}

/* A failed write of a directory's offsets checkpoints: a device error takes
 * it offline, as any failed write of its data does (Kafka's checkpoint
 * writes go through its LogDirFailureChannel too); anything else (out of
 * descriptors) is retried by the next checkpoint tick. */
static void on_checkpoint_fault(void *data, struct dir_checkpoint *dc, int err)
{
    struct log_manager *lm = data;
    for (size_t i = 0; i < lm->dirs->count; i++) {
        if (lm->checkpoints[i] == dc && device_error(err)) {
            log_manager_fail_dir(lm, i, err, "offsets checkpoints write");
        }
    }
}

int log_manager_init(struct log_manager *lm, uv_loop_t *loop, const struct sluice_config *cfg,
                     const struct data_dirs *dirs, log_manager_each_fn each, void *owner)
{
    memset(lm, 0, sizeof *lm);
    lm->loop = loop;
    lm->cfg = cfg;
    lm->dirs = dirs;
    lm->each = each;
    lm->owner = owner;
    lm->flush_visits_per_turn = LOG_MANAGER_FLUSH_VISITS_PER_TURN;
    lm->retention_visits_per_turn = LOG_MANAGER_RETENTION_VISITS_PER_TURN;
    deadline_heap_init(&lm->retention_due);
    log_delete_queue_init(&lm->deletions, loop, LOG_MANAGER_DELETIONS_IN_FLIGHT);
    partition_log_file_cache_init(&lm->files,
                                  log_manager_open_files_limit(cfg->log_max_open_files));
    if (log_open_queue_init(&lm->opens, loop, dirs, OPENS_IN_FLIGHT) != 0) {
        log_error("replica", "cannot set up the partition open queue");
        return -ENOMEM;
    }
    for (size_t i = 0; i < dirs->count; i++) {
        if ((lm->checkpoints[i] = dir_checkpoint_open(loop, dirs->paths[i])) == NULL) {
            log_error("replica", "out of memory reading checkpoints dir=%s", dirs->paths[i]);
            return -ENOMEM;
        }
        dir_checkpoint_on_fault(lm->checkpoints[i], on_checkpoint_fault, lm);
        remove_deleted_dirs(lm, dirs->paths[i]);
    }
    return 0;
}

size_t log_manager_open_files_limit(int32_t configured)
{
    if (configured > 0) {
        return (size_t)configured;
    }
    /* Half of what is left after connections and the rest of the process:
     * active partitions hold one each (indexes open on use), so 4,096 made
     * a broker of 5,000 busy partitions reopen segments all the time. */
    struct rlimit rl;
    size_t n = LOG_MAX_OPEN_FILES_DERIVED_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)(512 + 2 * n)) {
        n = rl.rlim_cur > 512 + 2 * 64 ? (size_t)(rl.rlim_cur - 512) / 2 : 64;
    }
    return n;
}

void log_manager_close(struct log_manager *lm)
{
    struct log_flush_all *fa = lm->flush_all;
    if (fa != NULL) {
        lm->flush_all = NULL;
        if (fa->in_flight == 0) {
            free(fa);
        } else { /* cannot happen: every log is closed; better a leak than a use after free */
            log_error("replica", "flushes still in flight after closing every log n=%zu",
                      fa->in_flight);
        }
    }
    log_open_queue_close(&lm->opens);
    /* After the opens: one whose topic went meanwhile deletes what it made. */
    log_delete_queue_close(&lm->deletions);
    for (size_t i = 0; i < DATA_DIR_MAX; i++) {
        if (lm->checkpoints[i] != NULL) {
            if (!lm->dir_offline[i]) {
                (void)dir_checkpoint_write_sync(lm->checkpoints[i]); /* logged there */
            }
            dir_checkpoint_close(lm->checkpoints[i]);
            lm->checkpoints[i] = NULL;
        }
    }
    deadline_heap_free(&lm->retention_due);
}

/* ---- the logs' reports (partition_log_owner) ---- */

static void work_list(struct managed_log *m)
{
    list_add(&m->lm->work, m, offsetof(struct managed_log, work));
}

void managed_log_work_unlist(struct managed_log *m)
{
    if (m->lm->flush_cursor == m) {
        m->lm->flush_cursor = m->work.next; /* the pass goes on after it */
    }
    list_remove(&m->lm->work, m, offsetof(struct managed_log, work));
}

/* The cleaner's list: compacted logs with segments not yet cleaned. */
static void compact_list(struct managed_log *m)
{
    list_add(&m->lm->compacted, m, offsetof(struct managed_log, compact));
}

static void compact_unlist(struct managed_log *m)
{
    list_remove(&m->lm->compacted, m, offsetof(struct managed_log, compact));
}

static void open_unlist(struct managed_log *m);

static void on_log_cleanable(void *data, struct partition_log *log)
{
    (void)log;
    compact_list(data);
}

static void on_log_work(void *data, struct partition_log *log)
{
    (void)log;
    work_list(data);
}

static void on_log_deadline(void *data, struct partition_log *log)
{
    managed_log_retention_schedule(data, log);
}

/* Record the log's offsets in its directory's entries. */
void managed_log_file_offsets(struct managed_log *m)
{
    struct log_checkpoint cp;
    partition_log_offsets(m->log, &cp);
    if (dir_checkpoint_set(m->lm->checkpoints[m->dir], m->topic, m->partition, &cp) != 0) {
        log_error("replica", "out of memory recording offsets topic=%s partition=%d", m->topic,
                  m->partition);
    }
}

static int on_log_checkpoint_now(void *data, struct partition_log *log)
{
    struct managed_log *m = data;
    (void)log;
    managed_log_file_offsets(m);
    int rv = dir_checkpoint_write_sync(m->lm->checkpoints[m->dir]);
    /* Out of memory before the disk was touched: as for a pool write, no
     * storage fault, and the next checkpoint tick writes the state. The
     * log's change (a follower's full truncation) is done already and
     * cannot be undone; an error would only keep the partition from
     * following it (partition_truncate_fully) while its fetcher goes on
     * from the new log end anyway. */
    return rv == -ENOMEM ? 0 : rv;
}

static void start_wait(struct managed_log *m);

static void on_start_durable(struct log_checkpoint_waiter *w, int status)
{
    struct managed_log *m = w->data;
    m->start_pending = false;
    if (status == LOG_ERR_CLOSED) {
        return; /* shutdown: the segments stay for the next open */
    }
    if (status < 0) {
        /* As any failed write of the directory's data: it goes offline (the
         * segments stay until a later open finds the start offset). */
        char ctx[300];
        snprintf(ctx, sizeof ctx, "offsets checkpoint topic=%s partition=%d", m->topic,
                 m->partition);
        log_manager_fail_dir(m->lm, m->dir, status, ctx);
        return;
    }
    int rv = partition_log_start_durable(m->log, m->start_target);
    if (rv < 0) {
        log_error("replica", "cannot trim the epoch cache topic=%s partition=%d error=%s", m->topic,
                  m->partition, log_err_name(rv));
    }
    if (partition_log_start_offset(m->log) > m->start_target) {
        start_wait(m); /* moved again meanwhile */
    }
}

/* Delete the segments below the log start once a checkpoint holding it
 * landed; one wait per log at a time, for the newest start when it began. */
static void start_wait(struct managed_log *m)
{
    if (m->start_pending) {
        return;
    }
    m->start_target = partition_log_start_offset(m->log);
    m->start_wait.done = on_start_durable;
    m->start_wait.data = m;
    int rv = dir_checkpoint_wait(m->lm->checkpoints[m->dir], &m->start_wait);
    if (rv == 1) {
        (void)partition_log_start_durable(m->log, m->start_target); /* logged there */
    } else {
        m->start_pending = true;
    }
}

static int on_log_checkpoint_wait(void *data, struct partition_log *log,
                                  struct log_checkpoint_waiter *w)
{
    struct managed_log *m = data;
    (void)log;
    if (m->lm->dir_offline[m->dir]) {
        return LOG_ERR_CLOSED;
    }
    managed_log_file_offsets(m);
    start_wait(m);
    return dir_checkpoint_wait(m->lm->checkpoints[m->dir], w);
}

static void on_log_failed(void *data, struct partition_log *log, int err, const char *what)
{
    struct managed_log *m = data;
    char ctx[300];
    (void)log;
    snprintf(ctx, sizeof ctx, "%s topic=%s partition=%d", what, m->topic, m->partition);
    log_manager_fail_dir(m->lm, m->dir, err, ctx);
}

static void on_offline_timer(uv_timer_t *t)
{
    struct log_manager *lm = t->data;
    for (size_t i = 0; i < lm->dirs->count; i++) {
        if (lm->offline_unhandled[i]) {
            lm->offline_unhandled[i] = false;
            if (lm->dir_failed != NULL) {
                lm->dir_failed(lm->owner, i);
            }
            /* What still waits for one of its checkpoints (a DeleteRecords)
             * would wait for a write that never comes. */
            if (lm->checkpoints[i] != NULL) {
                dir_checkpoint_fail_waiters(lm->checkpoints[i], -EIO);
            }
        }
    }
}

void log_manager_fail_dir(struct log_manager *lm, size_t dir, int err, const char *what)
{
    if (dir >= lm->dirs->count || lm->dir_offline[dir]) {
        return;
    }
    lm->dir_offline[dir] = true;
    lm->offline_unhandled[dir] = true;
    snprintf(lm->dir_error[dir], sizeof lm->dir_error[dir], "%s during %s", strerror(-err), what);
    log_error(
        "replica",
        "log directory offline dir=%s error=%s cause=\"%s\": its partitions stop being served "
        "and are reported offline to the controller",
        lm->dirs->paths[dir], log_err_name(err), lm->dir_error[dir]);
    if (lm->timers_started) {
        uv_timer_start(&lm->offline_timer, on_offline_timer, 0, 0);
    }
}

size_t log_manager_dirs_online(const struct log_manager *lm)
{
    size_t n = 0;
    for (size_t i = 0; i < lm->dirs->count; i++) {
        n += !lm->dir_offline[i];
    }
    return n;
}

static void on_log_closed(void *data, struct partition_log *log, const struct log_checkpoint *cp)
{
    struct managed_log *m = data;
    struct dir_checkpoint *dc = m->lm->checkpoints[m->dir];
    (void)log;
    if (cp != NULL) {
        if (dir_checkpoint_set(dc, m->topic, m->partition, cp) != 0) {
            log_error("replica", "out of memory recording offsets topic=%s partition=%d", m->topic,
                      m->partition);
        }
    } else {
        dir_checkpoint_remove(dc, m->topic, m->partition);
    }
    managed_log_work_unlist(m);
    compact_unlist(m);
    open_unlist(m);
    deadline_heap_remove(&m->lm->retention_due, &m->retention);
    list_remove(&m->lm->retention_pending, m, offsetof(struct managed_log, retention_pass));
    if (m->start_pending) {
        dir_checkpoint_unwait(dc, &m->start_wait);
    }
    free(m->topic);
    free(m);
}

/* The directory holding `topic-index` already, or the least loaded online
 * one; -1 when it lives in an offline directory (Kafka does not recreate
 * such a replica elsewhere) or no directory is online. */
static int choose_dir(struct log_manager *lm, const char *topic, int32_t index)
{
    int best = -1;
    for (size_t i = 0; i < lm->dirs->count; i++) {
        char path[4096];
        struct stat st;
        if (partition_log_dir_name(lm->dirs->paths[i], topic, index, path, sizeof path) == 0 &&
            stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            return lm->dir_offline[i] ? -1 : (int)i;
        }
        if (!lm->dir_offline[i] &&
            (best < 0 || lm->partitions_in_dir[i] < lm->partitions_in_dir[best])) {
            best = (int)i;
        }
    }
    return best;
}

/* One partition being opened: prepared on the loop, opened on the pool
 * (open_run), handed back on the loop (open_done). */
struct open_job {
    struct log_open_task task;
    struct log_manager *lm;
    struct managed_log *m; /* the log's owner data, from the start */
    struct partition_log_owner owner;
    struct topic_config cfg; /* a copy: the pool must not read the view's */
    char path[4096];
    uint8_t id[16];
    int32_t leader_epoch;
    bool exists; /* the directory existed when queued */
    bool listed; /* `cp` is the directory files' entry for it */
    struct log_checkpoint cp;
    bool legacy; /* it has its own log-offsets.checkpoint to retire */
    struct partition_log *log;
    int rv;
    char err[512];
    log_manager_opened_fn done;
    void *arg;
};

static void open_run(struct log_open_task *t)
{
    struct open_job *j = (struct open_job *)t;
    const struct log_checkpoint *cp = j->listed ? &j->cp : NULL;
    if (j->exists && partition_metadata_stale(j->path, j->id)) {
        log_warn("replica", "deleting the partition of an earlier topic with this name dir=%s",
                 j->path);
        /* Renamed aside first, so a crash midway never leaves a partial
         * directory under the name; removed here, on the pool. */
        if ((j->rv = partition_log_delete_dir(NULL, j->path)) < 0) {
            snprintf(j->err, sizeof j->err,
                     "cannot delete the directory of an earlier topic %.256s: %s", j->path,
                     strerror(-j->rv));
            return;
        }
        /* A directory made anew starts from nothing, whatever the entry said. */
        cp = NULL;
        j->exists = false;
    }
    if (mkdir(j->path, 0755) == 0) {
        t->sync_data_dir = true; /* the new entry must survive a crash */
    } else if (errno != EEXIST) {
        j->rv = -errno;
        snprintf(j->err, sizeof j->err, "cannot create partition directory %.256s: %s", j->path,
                 strerror(errno));
        return;
    }
    if ((j->rv = partition_log_prepare(j->lm->loop, j->path, &j->cfg, NULL, cp, &j->owner,
                                       &j->log)) < 0) {
        snprintf(j->err, sizeof j->err, "out of memory");
        return;
    }
    if ((j->rv = partition_log_load(j->log, j->err, sizeof j->err)) < 0) {
        partition_log_discard(j->log);
        j->log = NULL;
        return;
    }
    if (j->leader_epoch >= 0 && partition_log_latest_epoch(j->log) < j->leader_epoch) {
        /* Failure is logged there; becoming leader on the loop tries again. */
        (void)partition_log_begin_epoch(j->log, j->leader_epoch);
    }
    char legacy[4200];
    snprintf(legacy, sizeof legacy, "%s/" PARTITION_LOG_CHECKPOINT_FILE, j->path);
    j->legacy = !j->listed && j->exists && access(legacy, F_OK) == 0;
    int meta_rv = partition_metadata_write(j->path, j->id);
    if (meta_rv < 0) {
        /* Not fatal: the id only guards against a deleted topic's leftover
         * directory, and the next open of this partition writes it again. */
        log_warn("replica", "cannot record the topic id dir=%s error=%s", j->path,
                 strerror(-meta_rv));
    }
    /* The files of a new directory (segments, partition.metadata, the
     * epochs) before the partition takes records. */
    if (t->sync_data_dir && (j->rv = fs_fsync_dir(j->path)) < 0) {
        snprintf(j->err, sizeof j->err, "cannot fsync partition directory %.256s: %s", j->path,
                 strerror(-j->rv));
        partition_log_discard(j->log);
        j->log = NULL;
    }
}

static void open_done(struct log_open_task *t)
{
    struct open_job *j = (struct open_job *)t;
    struct log_manager *lm = j->lm;
    struct managed_log *m = j->m;
    size_t d = m->dir;
    int rv = j->rv;
    /* Named before m may be freed below: operators look for the partition. */
    char which[320];
    snprintf(which, sizeof which, "topic=%.256s partition=%d", m->topic, (int)m->partition);
    if (rv == 0 && t->data_dir_status < 0) {
        rv = t->data_dir_status;
        snprintf(j->err, sizeof j->err, "cannot fsync log directory %s: %s", lm->dirs->paths[d],
                 strerror(-rv));
        partition_log_attach(j->log);
        m->log = j->log;
        (void)partition_log_close(j->log); /* frees m (on_log_closed) */
        m = NULL;
    }
    if (rv != 0) {
        log_error("replica", "cannot open partition %s dir=%s error=\"%s\"", which, j->path,
                  j->err);
        if (device_error(rv)) {
            char what[300];
            snprintf(what, sizeof what, "open dir=%.256s", j->path);
            log_manager_fail_dir(lm, d, rv, what);
        }
        if (m != NULL) {
            free(m->topic);
            free(m);
        }
        log_manager_release(lm, d);
        j->done(j->arg, rv, NULL, d, j->path);
    } else {
        struct dir_checkpoint *dc = lm->checkpoints[d];
        partition_log_attach(j->log);
        m->log = j->log;
        list_add(&lm->open_logs, m, offsetof(struct managed_log, open));
        managed_log_file_offsets(m);
        managed_log_retention_schedule(m, m->log);
        if (partition_log_compaction_pending(m->log)) {
            compact_list(m); /* a restart cleans each compacted log once */
        }
        /* Offsets from the partition's own file (the format before the
         * directory's files): it goes once the directory's files list them. */
        char legacy[4200];
        snprintf(legacy, sizeof legacy, "%s/" PARTITION_LOG_CHECKPOINT_FILE, j->path);
        if (j->legacy && dir_checkpoint_retire_file(dc, legacy) != 0) {
            log_warn("replica", "out of memory: keeping the old checkpoint file=%s", legacy);
        }
        j->done(j->arg, 0, j->log, d, j->path);
    }
    topic_config_free(&j->cfg);
    free(j);
}

int log_manager_open(struct log_manager *lm, const char *topic, const uint8_t id[16], int32_t index,
                     const struct topic_config *cfg, int32_t leader_epoch,
                     log_manager_opened_fn done, void *arg)
{
    int chosen = choose_dir(lm, topic, index);
    if (chosen < 0) {
        log_error("replica",
                  "cannot open partition topic=%s partition=%d: its log directory is "
                  "offline",
                  topic, index);
        return -EROFS;
    }
    size_t d = (size_t)chosen;
    struct dir_checkpoint *dc = lm->checkpoints[d];
    struct open_job *j = calloc(1, sizeof *j);
    struct managed_log *m = calloc(1, sizeof *m);
    if (j == NULL || m == NULL || (m->topic = strdup(topic)) == NULL ||
        topic_config_copy(&j->cfg, cfg) != 0) {
        log_error("replica", "cannot open partition topic=%s partition=%d: out of memory", topic,
                  index);
        if (j != NULL) {
            topic_config_free(&j->cfg);
        }
        if (m != NULL) {
            free(m->topic);
        }
        free(m);
        free(j);
        return -ENOMEM;
    }
    if (partition_log_dir_name(lm->dirs->paths[d], topic, index, j->path, sizeof j->path) != 0) {
        log_error("replica", "cannot open partition topic=%s partition=%d: name too long", topic,
                  index);
        topic_config_free(&j->cfg);
        free(m->topic);
        free(m);
        free(j);
        return -ENAMETOOLONG;
    }
    struct stat st;
    j->exists = stat(j->path, &st) == 0;
    /* The directory's files speak for an existing partition directory only;
     * one made anew starts from nothing, whatever an old entry said. */
    j->listed = j->exists && dir_checkpoint_get(dc, topic, index, &j->cp);
    if (!j->exists) {
        dir_checkpoint_remove(dc, topic, index);
    }
    m->lm = lm;
    m->partition = index;
    m->dir = d;
    j->lm = lm;
    j->m = m;
    j->owner = (struct partition_log_owner){on_log_work,
                                            on_log_checkpoint_now,
                                            on_log_closed,
                                            on_log_failed,
                                            m,
                                            &lm->files,
                                            on_log_deadline,
                                            on_log_cleanable,
                                            &lm->deletions,
                                            on_log_checkpoint_wait};
    memcpy(j->id, id, sizeof j->id);
    j->leader_epoch = leader_epoch;
    j->done = done;
    j->arg = arg;
    j->task.path = j->path;
    j->task.data_dir = d;
    j->task.run = open_run;
    j->task.done = open_done;
    lm->partitions_in_dir[d]++;
    log_open_queue_add(&lm->opens, &j->task);
    return 0;
}

size_t log_manager_opening(const struct log_manager *lm)
{
    return log_open_queue_pending(&lm->opens);
}

void log_manager_wait_opens(struct log_manager *lm)
{
    log_open_queue_drain(&lm->opens);
}

void log_manager_release(struct log_manager *lm, size_t dir_index)
{
    if (dir_index < DATA_DIR_MAX && lm->partitions_in_dir[dir_index] > 0) {
        lm->partitions_in_dir[dir_index]--;
    }
}

/* ---- periodic work: checkpoints (the flush and retention passes are in
 * log_manager_passes.c) ---- */

uint64_t log_manager_checkpoint_interval_ms(const struct sluice_config *cfg)
{
    int64_t every = cfg->replica_high_watermark_checkpoint_interval_ms;
    if (cfg->log_flush_offset_checkpoint_interval_ms < every) {
        every = cfg->log_flush_offset_checkpoint_interval_ms;
    }
    if (cfg->log_flush_start_offset_checkpoint_interval_ms < every) {
        every = cfg->log_flush_start_offset_checkpoint_interval_ms;
    }
    return every > 0 ? (uint64_t)every : 1;
}

/* Offsets filed by log_manager_on_flush reach the files here; a directory
 * whose entries did not change is not written. */
static void on_checkpoint(uv_timer_t *t)
{
    struct log_manager *lm = t->data;
    for (size_t i = 0; i < DATA_DIR_MAX; i++) {
        if (lm->checkpoints[i] != NULL && !lm->dir_offline[i]) {
            dir_checkpoint_write_async(lm->checkpoints[i]);
        }
    }
}

/* ---- the cleaner ---- */

struct dirtiest {
    int64_t now_ms;
    double ratio;
    struct partition_log *log;
    const char *topic;
    int32_t index;
};

/* The listed logs only; those found clean leave the list until they roll
 * again (or their config makes them compacted). */
static void cleaner_pass(struct log_manager *lm, struct dirtiest *d)
{
    struct managed_log *next;
    for (struct managed_log *m = lm->compacted; m != NULL; m = next) {
        next = m->compact.next;
        lm->cleaner_visits++;
        if (!partition_log_compaction_pending(m->log)) {
            compact_unlist(m);
            continue;
        }
        double ratio = partition_log_cleanable_ratio(m->log, d->now_ms);
        if (ratio >= 0 && ratio > d->ratio) {
            d->ratio = ratio;
            d->log = m->log;
            d->topic = m->topic;
            d->index = m->partition;
        }
    }
}

static void on_cleaned(struct partition_log *log, const struct log_clean_stats *st, void *data)
{
    struct log_manager *lm = data;
    (void)log;
    (void)st; /* the log module logged the outcome */
    lm->cleaning = false;
}

static void on_cleaner(uv_timer_t *t)
{
    struct log_manager *lm = t->data;
    struct dirtiest d = {.now_ms = wall_clock_ms(), .ratio = -1};
    if (lm->cleaning) {
        return;
    }
    cleaner_pass(lm, &d);
    if (d.log == NULL) {
        return;
    }
    struct log_cleaner_limits lim = {
        .dedupe_buffer_bytes = lm->cfg->log_cleaner_dedupe_buffer_size,
        .io_max_bytes_per_second = lm->cfg->log_cleaner_io_max_bytes_per_second,
    };
    int rv = partition_log_clean(d.log, &lim, d.now_ms, on_cleaned, lm);
    if (rv == 1) {
        lm->cleaning = true;
        log_info("replica", "cleaning topic=%s partition=%d dirty_ratio=%.3f", d.topic, d.index,
                 d.ratio);
    } else if (rv < 0) {
        log_error("replica", "cannot start clean topic=%s partition=%d error=%s", d.topic, d.index,
                  strerror(-rv));
    }
}

/* ---- flushing every log before a shutdown (log_manager_flush_all) ---- */

static void open_unlist(struct managed_log *m)
{
    struct log_flush_all *fa = m->lm->flush_all;
    if (fa != NULL && fa->cursor == m) {
        fa->cursor = m->open.next;
    }
    list_remove(&m->lm->open_logs, m, offsetof(struct managed_log, open));
}

/* The log at the cursor (moved past it), or NULL at the end. */
static struct managed_log *flush_all_next(struct log_flush_all *fa)
{
    struct managed_log *m = fa->cursor;
    if (m != NULL) {
        fa->cursor = m->open.next;
    }
    return m;
}

static void on_flush_all_flushed(struct log_flush_req *req, int status);

static void on_flush_all_done(uv_timer_t *t)
{
    struct log_manager *lm = t->data;
    void (*cb)(void *arg) = lm->flush_all_done_cb;
    void *arg = lm->flush_all_done_arg;
    lm->flush_all_done_cb = NULL;
    lm->flush_all_done_arg = NULL;
    if (cb != NULL) {
        cb(arg);
    }
}

/* Start flushes while there is room; once none is left to start or in
 * flight, call the callback (on a later loop turn). */
static void flush_all_dispatch(struct log_flush_all *fa)
{
    struct log_manager *lm = fa->lm;
    for (size_t i = 0; i < LOG_MANAGER_FLUSH_ALL_IN_FLIGHT; i++) {
        struct flush_all_slot *slot = &fa->slots[i];
        struct managed_log *m;
        while (!slot->busy && (m = flush_all_next(fa)) != NULL) {
            slot->busy = true;
            slot->req.data = slot;
            fa->in_flight++;
            if (partition_log_flush(m->log, &slot->req, on_flush_all_flushed) < 0) {
                /* A failed log (logged where it failed) or no memory: the
                 * close tries again. */
                slot->busy = false;
                fa->in_flight--;
            }
        }
    }
    if (fa->in_flight > lm->flush_all_stats.max_in_flight) {
        lm->flush_all_stats.max_in_flight = fa->in_flight;
    }
    if (fa->in_flight == 0 && fa->cursor == NULL) {
        /* Called back on a later loop turn, never from here: the last flush
         * may complete inside a log's close or deletion, and the callback
         * (a broker stopping) frees what that close goes on to use. */
        lm->flush_all_done_cb = fa->cb;
        lm->flush_all_done_arg = fa->arg;
        lm->flush_all = NULL;
        free(fa);
        uv_timer_start(&lm->flush_all_done, on_flush_all_done, 0, 0);
    }
}

static void on_flush_all_flushed(struct log_flush_req *req, int status)
{
    (void)status; /* a failure is logged by the log; the close syncs again */
    struct flush_all_slot *slot = req->data;
    struct log_flush_all *fa = slot->fa;
    slot->busy = false;
    fa->in_flight--;
    fa->lm->flush_all_stats.flushed++;
    if (!fa->cancelled) {
        flush_all_dispatch(fa);
    }
}

int log_manager_flush_all(struct log_manager *lm, void (*cb)(void *arg), void *arg)
{
    if (!lm->timers_started) {
        return -EINVAL;
    }
    if (lm->flush_all != NULL || lm->flush_all_done_cb != NULL) {
        return -EBUSY;
    }
    struct log_flush_all *fa = calloc(1, sizeof *fa);
    if (fa == NULL) {
        return -ENOMEM;
    }
    fa->lm = lm;
    fa->cb = cb;
    fa->arg = arg;
    fa->cursor = lm->open_logs;
    for (size_t i = 0; i < LOG_MANAGER_FLUSH_ALL_IN_FLIGHT; i++) {
        fa->slots[i].fa = fa;
    }
    lm->flush_all = fa;
    flush_all_dispatch(fa); /* may call cb now: nothing to flush */
    return 0;
}

/* ---- lifecycle ---- */

void log_manager_start_timers(struct log_manager *lm)
{
    uv_timer_init(lm->loop, &lm->retention_timer);
    uv_timer_init(lm->loop, &lm->flush_timer);
    uv_idle_init(lm->loop, &lm->flush_idle);
    uv_idle_init(lm->loop, &lm->retention_idle);
    uv_timer_init(lm->loop, &lm->flush_all_done);
    lm->flush_all_done.data = lm;
    lm->retention_timer.data = lm->flush_timer.data = lm->flush_idle.data = lm;
    lm->retention_idle.data = lm;
    uint64_t every = (uint64_t)lm->cfg->log_retention_check_interval_ms;
    uv_timer_start(&lm->retention_timer, log_manager_on_retention, every, every);
    uv_timer_start(&lm->flush_timer, log_manager_on_flush, FLUSH_TICK_MS, FLUSH_TICK_MS);
    uv_timer_init(lm->loop, &lm->checkpoint_timer);
    lm->checkpoint_timer.data = lm;
    uint64_t checkpoint_every = log_manager_checkpoint_interval_ms(lm->cfg);
    uv_timer_start(&lm->checkpoint_timer, on_checkpoint, checkpoint_every, checkpoint_every);
    uv_timer_init(lm->loop, &lm->cleaner_timer);
    lm->cleaner_timer.data = lm;
    uv_timer_init(lm->loop, &lm->offline_timer);
    lm->offline_timer.data = lm;
    if (lm->cfg->log_cleaner_enable) {
        uint64_t backoff = (uint64_t)lm->cfg->log_cleaner_backoff_ms;
        backoff = backoff > 0 ? backoff : 1;
        uv_timer_start(&lm->cleaner_timer, on_cleaner, backoff, backoff);
    }
    lm->timers_started = true;
    for (size_t i = 0; i < lm->dirs->count; i++) {
        if (lm->offline_unhandled[i]) { /* failed while starting up */
            uv_timer_start(&lm->offline_timer, on_offline_timer, 0, 0);
            break;
        }
    }
}

void log_manager_stop(struct log_manager *lm)
{
    if (lm->timers_started) {
        uv_close((uv_handle_t *)&lm->retention_timer, NULL);
        uv_close((uv_handle_t *)&lm->flush_timer, NULL);
        uv_close((uv_handle_t *)&lm->flush_idle, NULL);
        uv_close((uv_handle_t *)&lm->retention_idle, NULL);
        uv_close((uv_handle_t *)&lm->flush_all_done, NULL); /* its callback is not called */
        lm->flush_all_done_cb = NULL;
        lm->flush_cursor = NULL;
        lm->flush_tick_missed = lm->retention_tick_missed = false;
        uv_close((uv_handle_t *)&lm->checkpoint_timer, NULL);
        uv_close((uv_handle_t *)&lm->cleaner_timer, NULL);
        uv_close((uv_handle_t *)&lm->offline_timer, NULL);
        lm->timers_started = false;
    }
    if (lm->flush_all != NULL) {
        lm->flush_all->cancelled = true; /* closing a log completes its flush request */
    }
}

void log_manager_delete_stray(struct log_manager *lm, const char *path)
{
    /* No need to open (and recover) a log only to delete it. */
    (void)partition_log_delete_dir(&lm->deletions, path); /* a failure is logged there */
}

size_t log_manager_deletions_pending(const struct log_manager *lm)
{
    return log_delete_queue_pending(&lm->deletions);
}
