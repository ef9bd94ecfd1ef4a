/* Private to broker/replica/log_manager*.c: what the log manager keeps of
 * each log it opened, shared by log_manager.c (directories, opens, the logs'
 * reports, checkpoints, the cleaner, log_manager_flush_all, the timers) and
 * log_manager_passes.c (the periodic flush and retention passes: which logs
 * each visits, a bounded number per loop turn). Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_LOG_MANAGER_INTERNAL_H
#define SLUICE_BROKER_REPLICA_LOG_MANAGER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/log/partition_log.h"
#include "broker/replica/log_manager.h"
#include "common/deadline_heap.h"

/* The flush timer's period: each tick begins a pass over the logs with work
 * (log_manager_on_flush). */
#define FLUSH_TICK_MS 1000

/* A log's place in one of the manager's lists of logs with work: doubly
 * linked, so a log leaves in O(1) when its work is done or it closes. */
struct log_link {
    struct managed_log *prev, *next;
    bool listed;
};

/* A log the manager opened: what it needs to file the log's offsets, its
 * place in the list of logs with periodic work and in the retention queue.
 * Freed when the log closes. */
struct managed_log {
    struct log_manager *lm;
    struct partition_log *log;
    char *topic;
    int32_t partition;
    size_t dir;
    struct log_link work;            /* in lm->work */
    struct log_link compact;         /* in lm->compacted */
    struct log_link open;            /* in lm->open_logs, while open */
    struct deadline_entry retention; /* queued at its retention deadline */
    struct log_link retention_pass;  /* in lm->retention_pending: due, not yet visited */
    /* Waiting for a checkpoint holding log start `start_target` to land
     * before the segments below it are deleted (DeleteRecords). */
    struct log_checkpoint_waiter start_wait;
    int64_t start_target;
    bool start_pending;
};

/* `m`'s link at byte offset `link` (offsetof the list's struct log_link). */
static inline struct log_link *link_of(struct managed_log *m, size_t link)
{
    return (struct log_link *)((char *)m + link);
}

static inline void list_add(struct managed_log **head, struct managed_log *m, size_t link)
{
    struct log_link *l = link_of(m, link);
    if (l->listed) {
        return;
    }
    l->prev = NULL;
    l->next = *head;
    if (l->next != NULL) {
        link_of(l->next, link)->prev = m;
    }
    *head = m;
    l->listed = true;
}

static inline void list_remove(struct managed_log **head, struct managed_log *m, size_t link)
{
    struct log_link *l = link_of(m, link);
    if (!l->listed) {
        return;
    }
    if (l->prev != NULL) {
        link_of(l->prev, link)->next = l->next;
    } else {
        *head = l->next;
    }
    if (l->next != NULL) {
        link_of(l->next, link)->prev = l->prev;
    }
    l->prev = l->next = NULL;
    l->listed = false;
}

/* log_manager.c */

/* Record the log's offsets in its directory's entries. */
void managed_log_file_offsets(struct managed_log *m);
/* Take the log off the list of logs with work (lm->work); a flush pass at
 * it goes on after it. */
void managed_log_work_unlist(struct managed_log *m);

/* log_manager_passes.c */

/* Queue the log at its retention deadline (out of the queue for never).
 * Without memory for the queue, every retention pass visits every log. */
void managed_log_retention_schedule(struct managed_log *m, struct partition_log *log);
/* The retention timer (every log.retention.check.interval.ms) and the flush
 * timer (every second), started by log_manager_start_timers: each begins a
 * pass that an idle handle carries on, a bounded number of logs per loop
 * turn. */
void log_manager_on_retention(uv_timer_t *t);
void log_manager_on_flush(uv_timer_t *t);

#endif
