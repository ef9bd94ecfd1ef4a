/* The log manager: where partition logs live on disk and the periodic work
 * on them (Kafka's LogManager).
 *
 * - Chooses the data directory for a new partition (the one holding the
 *   fewest partitions; an existing partition is found wherever it is).
 * - Records each partition directory's topic id in `partition.metadata`
 *   (KIP-516): a directory left by a topic deleted while the broker was down
 *   is emptied, not inherited by a re-created topic of the same name.
 * - Runs the log cleaner (compaction) every log.cleaner.backoff.ms when
 *   log.cleaner.enable: one clean at a time, on the dirtiest cleanable log
 *   (Kafka's single cleaner thread), throttled by
 *   log.cleaner.io.max.bytes.per.second. It visits only the compacted logs
 *   with segments not yet cleaned (partition_log_compaction_pending), a list
 *   the logs join when they roll or become compacted (cleanable) and leave
 *   once a visit finds them clean: idle or plain partitions cost nothing.
 * - Keeps the offsets of each directory's partitions in Kafka's three
 *   per-directory checkpoint files (dir_checkpoint.h), written together on
 *   the thread pool when something changed, every
 *   log_manager_checkpoint_interval_ms (5 s by Kafka's defaults), and at
 *   once for a DeleteRecords (partition_log_checkpoint_wait): its answer
 *   waits for that pool write, and the segments below the new log start go
 *   only once it landed (a failed write takes the directory offline).
 * - Runs background flushes every second (a pass that outlasts its second
 *   brings the next one a second after it ends), visiting only the logs that
 *   told it they have work (partition_log_owner.has_work): unflushed records
 *   or moved offsets. Idle partitions cost nothing per tick.
 * - Runs retention every log.retention.check.interval.ms, and with it drops
 *   idempotent producers idle for producer.id.expiration.ms. Each pass
 *   visits only the logs whose deadline (partition_log_retention_deadline)
 *   has passed, from a queue the logs keep current (deadline_moved).
 * - Bounds the descriptors its logs' segments hold (log.max.open.files): one
 *   file cache (broker/log/file_cache.h) shared by every log it opens.
 * - Before a shutdown, flushes every open log on the thread pool a few at a
 *   time (log_manager_flush_all), so that closing them has little left to
 *   sync on the loop.
 * - Bounds the file deletions its logs and stray directories put on the
 *   thread pool: one queue (broker/log/log_delete.h) lets two jobs (a
 *   partition directory's removal, a deleted segment's unlinks and last
 *   closes) onto the pool at once, so deleting a topic of thousands of
 *   partitions never queues thousands of jobs ahead of the flushes, opens
 *   and checkpoint writes of the other partitions. What waits there when
 *   the manager closes is left renamed for the next start-up.
 *
 * It knows logs, not roles: the partitions to visit come from the owner's
 * `each` callback. Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_LOG_MANAGER_H
#define SLUICE_BROKER_REPLICA_LOG_MANAGER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/data_dir.h"
#include "broker/log/file_cache.h"
#include "broker/log/log_delete.h"
#include "broker/log/partition_log.h"
#include "broker/replica/log_open_queue.h"
#include "common/config.h"
#include "common/deadline_heap.h"

struct dir_checkpoint;
struct managed_log;
struct log_flush_all;

typedef void (*log_manager_visit_fn)(struct partition_log *log, const char *topic, int32_t index,
                                     void *arg);
/* Call `visit` for every open log the owner holds. */
typedef void (*log_manager_each_fn)(void *owner, log_manager_visit_fn visit, void *arg);

struct log_manager {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    const struct data_dirs *dirs;
    size_t partitions_in_dir[DATA_DIR_MAX];
    log_manager_each_fn each;
    void *owner;
    uv_timer_t retention_timer, flush_timer, cleaner_timer;
    bool cleaning; /* a clean is in flight */
    uv_timer_t checkpoint_timer;
    bool timers_started;
    struct dir_checkpoint *checkpoints[DATA_DIR_MAX];
    struct managed_log *work; /* logs with periodic work (has_work), a list */
    /* The flush timer's pass over `work`: the next log to visit (NULL: no
     * pass going on), a bounded number per loop turn (flush_idle). A tick
     * during a pass sets flush_tick_missed: as the pass ends, the timer
     * restarts, and the next pass begins one whole tick later. */
    struct managed_log *flush_cursor;
    uv_idle_t flush_idle;
    bool flush_tick_missed;
    size_t flush_visits_per_turn;       /* LOG_MANAGER_FLUSH_VISITS_PER_TURN (tests lower it) */
    uint64_t flush_visits;              /* logs the flush passes visited (tests) */
    struct deadline_heap retention_due; /* the logs by retention deadline */
    /* The retention pass: the due logs not yet visited (a list), at most
     * retention_visits_per_turn visited per loop turn by retention_idle,
     * all against the wall clock read when the pass began. A tick during a
     * pass sets retention_tick_missed: as the pass ends, the timer
     * restarts, and the next pass begins one whole tick later. */
    struct managed_log *retention_pending;
    uv_idle_t retention_idle;
    bool retention_tick_missed;
    int64_t retention_pass_now_ms;
    size_t retention_visits_per_turn; /* LOG_MANAGER_RETENTION_VISITS_PER_TURN */
    bool retention_every_log;         /* the queue lacked memory: visit all */
    uint64_t retention_visits;        /* logs the retention passes visited (tests) */
    struct managed_log *compacted;    /* compacted logs with something to clean, a list */
    uint64_t cleaner_visits;          /* logs the cleaner passes visited (tests) */
    /* Offline log directories (Kafka's LogDirFailureChannel): a storage
     * fault in any log of a directory takes the whole directory offline until
     * the broker restarts. Its partitions are closed by the owner, no new
     * partition is placed there, and its checkpoint files are left alone. */
    bool dir_offline[DATA_DIR_MAX];
    char dir_error[DATA_DIR_MAX][160];    /* why, for logs, metrics and DescribeLogDirs */
    bool offline_unhandled[DATA_DIR_MAX]; /* dir_failed not yet called */
    uv_timer_t offline_timer;
    /* Called (on the loop, never from inside a log call) once per directory
     * that went offline: the owner closes its partitions. NULL: nobody. */
    void (*dir_failed)(void *owner, size_t dir);
    /* Called (on the loop, after the log's call returned) when retention
     * moved the log start of `topic`-`index`: the owner tells what waits
     * on the partition, as a DeleteRecords' move does. NULL: nobody. */
    void (*start_moved)(void *owner, const char *topic, int32_t index);
    struct file_cache files; /* segment descriptors of all its logs */
    struct log_open_queue opens;
    struct log_delete_queue deletions; /* file deletions of all its logs, and strays */
    struct managed_log *open_logs;     /* every log it opened that is still open, a list */
    struct log_flush_all *flush_all;   /* log_manager_flush_all's, or NULL */
    /* A finished log_manager_flush_all's callback, due on the next turn. */
    uv_timer_t flush_all_done;
    void (*flush_all_done_cb)(void *arg);
    void *flush_all_done_arg;
    /* Logs log_manager_flush_all flushed, and the most at once. */
    struct {
        uint64_t flushed;
        size_t max_in_flight;
    } flush_all_stats;
};

#define LOG_MAX_OPEN_FILES_DERIVED_MAX 65536
/* File deletions on the thread pool at once (log_delete.h): a topic's
 * thousands of directory removals take their turn two by two, so a flush, an
 * open or a checkpoint queued meanwhile waits behind at most two of them,
 * and two of the pool's four threads stay free of deletions. (With opens,
 * three at a time, all four can be busy at once, but a flush then still
 * waits for one job to end, not for a topic's worth.) */
#define LOG_MANAGER_DELETIONS_IN_FLIGHT 2

/* Logs the flush pass visits per loop turn: with thousands of active
 * partitions one pass in one callback held every client for milliseconds
 * each second; a few hundred cost well under one. */
#define LOG_MANAGER_FLUSH_VISITS_PER_TURN 256
/* Retention visits per loop turn: a visit may delete segments (renames, a
 * checkpoint wait), so fewer than the flush pass's. */
#define LOG_MANAGER_RETENTION_VISITS_PER_TURN 32

/* log.max.open.files as configured, or for 0 derived from the soft
 * RLIMIT_NOFILE: (limit - 512) / 2, at least 64, at most
 * LOG_MAX_OPEN_FILES_DERIVED_MAX. */
size_t log_manager_open_files_limit(int32_t configured);

/* How often the checkpoint files are written: the shortest of
 * log.flush.offset.checkpoint.interval.ms (recovery points),
 * replica.high.watermark.checkpoint.interval.ms (high watermarks) and
 * log.flush.start.offset.checkpoint.interval.ms (log start offsets), since
 * one write covers all three files. Offsets reach them at the next
 * background flush (every second, or a second after a longer pass ends), so
 * a shorter interval adds no freshness beyond that. */
uint64_t log_manager_checkpoint_interval_ms(const struct sluice_config *cfg);

/* Set up and read each directory's checkpoint files (blocking: startup),
 * and queue for the thread pool (two at a time, so the start-up's partition
 * opens do not wait behind them all) the removal of the partition
 * directories an earlier run renamed for deletion but did not finish
 * removing (partition_log_dir_is_deleted); borrowed arguments outlive the
 * manager. No timers yet. Returns 0 or -ENOMEM (then call
 * log_manager_close). */
int log_manager_init(struct log_manager *lm, uv_loop_t *loop, const struct sluice_config *cfg,
                     const struct data_dirs *dirs, log_manager_each_fn each, void *owner);
/* Start the retention, flush and checkpoint timers. */
void log_manager_start_timers(struct log_manager *lm);
/* Close the timers (their handles finish closing on the next loop run). A
 * log_manager_flush_all under way stops: it starts no more flushes and
 * never calls its callback (closing the logs completes the flushes in
 * flight). */
void log_manager_stop(struct log_manager *lm);
/* After every log it opened has been closed or deleted (log_manager_wait_opens
 * first): write the checkpoint files that changed (synchronously: shutdown)
 * and free them, and what a stopped log_manager_flush_all left. Deletions not started yet are
 * dropped, their files left renamed for the next start-up (log_delete_queue_close); those on the
 * thread pool finish on the next loop run. `lm`'s memory must outlive the
 * segments its logs' reads may still hold (as for its file cache). */
void log_manager_close(struct log_manager *lm);

/* A log opened by log_manager_open: rv 0 with the log (the caller's), the
 * directory it lives in (`dir_index`, and `path`, valid during the call), or
 * a negative errno (logged here; `log` NULL). */
typedef void (*log_manager_opened_fn)(void *arg, int rv, struct partition_log *log,
                                      size_t dir_index, const char *path);

/* Open (creating or recovering) the log of `topic`-`index` whose topic id is
 * `id`, in the directory already holding it, else the least loaded online
 * one, on the thread pool (log_open_queue.h: a few at a time): a directory
 * left by another topic of that name is deleted first, and a new partition's
 * directory, files and topic id are durable (its directory and the data
 * directory fsynced) before `done` runs on the loop. `leader_epoch` >= 0:
 * this broker leads the partition in that epoch, which begins with the files
 * (partition_log_begin_epoch off the loop). `cfg` is copied now. The log
 * reports to the manager (its offsets go into the directory's checkpoint
 * files) until it is closed or deleted. Returns 0 (`done` follows, from this
 * call only when out of memory), or -EROFS when it lives in an offline
 * directory or none is online, or -ENOMEM (`done` is not called). */
int log_manager_open(struct log_manager *lm, const char *topic, const uint8_t id[16], int32_t index,
                     const struct topic_config *cfg, int32_t leader_epoch,
                     log_manager_opened_fn done, void *arg);
/* Logs being opened (their `done` still to come). */
size_t log_manager_opening(const struct log_manager *lm);
/* Block until every log being opened has been handed to its `done` (called
 * from here): start-up, before the loop runs, and shutdown. */
void log_manager_wait_opens(struct log_manager *lm);
/* Delete partition directory `path` (`<log dir>/<topic>-<partition>`), which
 * no open partition uses: a stray replica (replica_manager_delete_strays).
 * Renamed aside now, removed on the thread pool behind the deletions queued
 * before it (partition_log_delete_dir). */
void log_manager_delete_stray(struct log_manager *lm, const char *path);
/* File deletions (directories, segments' files) queued or on the thread
 * pool. */
size_t log_manager_deletions_pending(const struct log_manager *lm);

/* Before a shutdown: flush every open log (its unflushed segments, leader
 * epochs, producer snapshot; partition_log_flush) on the thread pool,
 * LOG_MANAGER_FLUSH_ALL_IN_FLIGHT logs at a time, while the loop keeps
 * serving, then call cb(arg) on the loop. Closing 5,000 logs one by one on
 * the loop (replica_manager_stop) made ~25,000 fsyncs in a row and stopped
 * the loop for 5-18 s, heartbeats and raft included; after this pass the
 * close finds little or nothing left to sync. It changes no guarantee: the
 * close still flushes whatever is unflushed then (writes that came
 * meanwhile, a flush that failed). Each log open at the call is flushed once
 * (one opened later, or closed meanwhile, is not). cb runs on a loop turn
 * of its own, never from inside this call or a log's close, and not at all
 * once log_manager_stop ran. Returns 0, or -EBUSY (one is under way or its
 * callback is due), -EINVAL (the timers are not running: not started or
 * stopped) or -ENOMEM: then cb is not called. */
#define LOG_MANAGER_FLUSH_ALL_IN_FLIGHT 4
int log_manager_flush_all(struct log_manager *lm, void (*cb)(void *arg), void *arg);

/* Take directory `dir` offline because of `err` (a negative errno) while
 * doing `what` (logged once, with the directory and the cause). dir_failed
 * runs on a later loop turn. Idempotent. */
void log_manager_fail_dir(struct log_manager *lm, size_t dir, int err, const char *what);
/* How many directories are still online. */
size_t log_manager_dirs_online(const struct log_manager *lm);

/* A log opened by log_manager_open was closed or deleted. */
void log_manager_release(struct log_manager *lm, size_t dir_index);

#endif
