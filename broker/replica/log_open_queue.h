/* Partition directories opened on the libuv thread pool, a bounded number at
 * a time, with the fsync of their data directory batched.
 *
 * Creating a topic of thousands of partitions, or restarting with them, is
 * file work per partition (mkdir, segment files, partition.metadata, fsyncs)
 * that would keep the loop from everything else, heartbeats included, for
 * seconds. Each task runs on the pool; a task that created a directory asks
 * for its data directory's fsync, and one fsync then covers every such task
 * that finished meanwhile (the directory entries of a whole batch), before
 * any of them is done. So a new partition is handed back only once its
 * directory and files are durable.
 *
 * Order: two tasks of the same path never run at once, and run in the order
 * queued (a topic deleted and created again while its first open is in
 * flight). Otherwise tasks finish in any order.
 *
 * Loop thread only, except each task's `run`. */
#ifndef SLUICE_BROKER_REPLICA_LOG_OPEN_QUEUE_H
#define SLUICE_BROKER_REPLICA_LOG_OPEN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "broker/data_dir.h"

struct log_open_req;

struct log_open_task {
    /* Set by the user before log_open_queue_add. */
    const char *path;                      /* borrowed until `done` */
    size_t data_dir;                       /* index into the queue's directories */
    void (*run)(struct log_open_task *t);  /* on a pool thread */
    void (*done)(struct log_open_task *t); /* on the loop; may free the task */
    /* Set by `run`: it created an entry in the data directory (e.g. the
     * partition's directory), so `done` waits for that directory's fsync. */
    bool sync_data_dir;
    /* 0, or -errno of that fsync (then the entry may not survive a crash). */
    int data_dir_status;
    /* private */
    struct log_open_task *next;
    bool started;
};

struct log_open_queue {
    uv_loop_t *loop;
    const struct data_dirs *dirs;
    size_t max_in_flight;
    size_t in_flight;                            /* tasks whose run is queued or running */
    struct log_open_task *queue, *queue_tail;    /* not started, FIFO */
    size_t pending;                              /* added, not yet done */
    struct log_open_task *synced[DATA_DIR_MAX];  /* run, waiting for the next fsync */
    struct log_open_req *dir_sync[DATA_DIR_MAX]; /* the fsync in flight, NULL if none */
    struct log_open_req *reqs;                   /* pool work in flight (runs and fsyncs) */
    uv_mutex_t lock;                             /* guards each req's `worked` */
    uv_cond_t worked;
    bool ready;
};

/* `dirs` is borrowed and outlives the queue. At most `max_in_flight` tasks
 * run at once (0: 1). Returns 0 or a negative errno. */
int log_open_queue_init(struct log_open_queue *q, uv_loop_t *loop, const struct data_dirs *dirs,
                        size_t max_in_flight);
/* Queue `t` (borrowed until its `done`). */
void log_open_queue_add(struct log_open_queue *q, struct log_open_task *t);
/* Tasks queued, running or waiting for an fsync. */
size_t log_open_queue_pending(const struct log_open_queue *q);
/* Block until every queued task is done, calling the `done`s from here
 * (start-up before the loop runs, shutdown). */
void log_open_queue_drain(struct log_open_queue *q);
/* Drain, then free. Pool work already handed back finishes on the next loop
 * run touching only its own memory. */
void log_open_queue_close(struct log_open_queue *q);

#endif
