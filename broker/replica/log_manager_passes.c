/* The log manager's periodic passes over its logs: retention (the logs
 * whose retention deadline passed, from a deadline heap) and background
 * flushes (the logs that reported work); see log_manager.h and
 * log_manager_internal.h. */
#include "broker/replica/log_manager_internal.h"

#include <stddef.h>

#include "common/deadline_heap.h"
#include "common/log.h"
#include "common/wall_clock.h"

/* Queue the log at its retention deadline (out of the queue for never).
 * Without memory for the queue, every retention pass visits every log. */
void managed_log_retention_schedule(struct managed_log *m, struct partition_log *log)
{
    struct log_manager *lm = m->lm;
    int64_t deadline = partition_log_retention_deadline(log, lm->cfg->producer_id_expiration_ms);
    if (deadline == INT64_MAX) {
        deadline_heap_remove(&lm->retention_due, &m->retention);
    } else if (deadline_heap_set(&lm->retention_due, &m->retention, deadline) != 0 &&
               !lm->retention_every_log) {
        lm->retention_every_log = true;
        log_error("replica",
                  "out of memory queueing retention topic=%s partition=%d: retention now "
                  "visits every partition",
                  m->topic, m->partition);
    }
}

struct retention_pass {
    struct log_manager *lm;
    int64_t now_ms;
    int64_t producer_id_expiration_ms;
};

static void retention_one(struct partition_log *log, const char *topic, int32_t index, void *arg)
{
    const struct retention_pass *pass = arg;
    int64_t now_ms = pass->now_ms;
    size_t expired = partition_log_expire_producers(log, now_ms, pass->producer_id_expiration_ms);
    if (expired > 0) {
        log_info("replica", "expired idle producers topic=%s partition=%d producers=%zu", topic,
                 index, expired);
    }
    int64_t start = partition_log_start_offset(log);
    int rv = partition_log_apply_retention(log, now_ms);
    if (partition_log_start_offset(log) != start && pass->lm->start_moved != NULL) {
        /* Followers learn the new start only from a fetch answer, and a
         * DeleteRecords' low watermark waits for them. */
        pass->lm->start_moved(pass->lm->owner, topic, index);
    }
    if (rv > 0) {
        log_info("replica",
                 "retention deleted segments topic=%s partition=%d segments=%d "
                 "log_start_offset=%lld",
                 topic, index, rv, (long long)partition_log_start_offset(log));
    } else if (rv < 0) {
        log_error("replica", "retention failed topic=%s partition=%d error=%s", topic, index,
                  log_err_name(rv));
    }
}

/* Take the logs due now off the queue into the pass; false when none is. */
static bool retention_pass_begin(struct log_manager *lm)
{
    lm->retention_pass_now_ms = wall_clock_ms();
    struct deadline_entry *e;
    while ((e = deadline_heap_pop_due(&lm->retention_due, lm->retention_pass_now_ms)) != NULL) {
        struct managed_log *m =
            (struct managed_log *)((char *)e - offsetof(struct managed_log, retention));
        list_add(&lm->retention_pending, m, offsetof(struct managed_log, retention_pass));
    }
    return lm->retention_pending != NULL;
}

/* The pass just ended. If a tick came during it (the pass outlasted its
 * log.retention.check.interval.ms), the timer starts again from now: the
 * next pass begins one whole tick after this one ended, so that passes
 * which each outlast their tick do not run back to back and leave the loop
 * only the turns between visits. That tick is not lost: the restarted
 * timer brings its pass, to the logs that fell due during this one. */
static void retention_pass_end(struct log_manager *lm)
{
    uv_idle_stop(&lm->retention_idle);
    if (lm->retention_tick_missed) {
        lm->retention_tick_missed = false;
        uint64_t every = (uint64_t)lm->cfg->log_retention_check_interval_ms;
        uv_timer_start(&lm->retention_timer, log_manager_on_retention, every, every);
    }
}

static void on_retention_idle(uv_idle_t *idle)
{
    struct log_manager *lm = idle->data;
    struct retention_pass pass = {lm, lm->retention_pass_now_ms,
                                  lm->cfg->producer_id_expiration_ms};
    for (size_t n = 0; lm->retention_pending != NULL && n < lm->retention_visits_per_turn; n++) {
        struct managed_log *m = lm->retention_pending;
        list_remove(&lm->retention_pending, m, offsetof(struct managed_log, retention_pass));
        retention_one(m->log, m->topic, m->partition, &pass);
        managed_log_retention_schedule(m, m->log);
        lm->retention_visits++;
    }
    if (lm->retention_pending == NULL) {
        retention_pass_end(lm);
    }
}

/* Only the logs whose retention deadline has passed: the due ones leave the
 * queue first, so what a visit changes cannot bring a log round twice in one
 * pass; then the idle handle visits a bounded number per loop turn (a
 * visit may delete segments: thousands of partitions created together
 * expire together) and queues each again at its next deadline. A pass still
 * going is left to finish, and the next one starts a tick after it ends. */
void log_manager_on_retention(uv_timer_t *t)
{
    struct log_manager *lm = t->data;
    if (lm->retention_every_log) {
        struct retention_pass pass = {lm, wall_clock_ms(), lm->cfg->producer_id_expiration_ms};
        lm->each(lm->owner, retention_one, &pass);
        return;
    }
    if (lm->retention_pending != NULL) {
        lm->retention_tick_missed = true;
        return;
    }
    if (retention_pass_begin(lm)) {
        uv_idle_start(&lm->retention_idle, on_retention_idle);
    }
}

/* The pass just ended. If a tick came during it (the pass outlasted
 * FLUSH_TICK_MS), the timer starts again from now: the next pass begins
 * one whole tick after this one ended, so that passes which each outlast
 * their tick do not run back to back. That tick is not lost: the
 * restarted timer brings its pass, to the logs this one went by (listed
 * again at the head of the list, behind the cursor). */
static void flush_pass_end(struct log_manager *lm)
{
    uv_idle_stop(&lm->flush_idle);
    if (lm->flush_tick_missed) {
        lm->flush_tick_missed = false;
        uv_timer_start(&lm->flush_timer, log_manager_on_flush, FLUSH_TICK_MS, FLUSH_TICK_MS);
    }
}

/* Visit the pass's next flush_visits_per_turn logs; the idle handle runs
 * this once per loop turn, after the timers and before the poll for I/O,
 * until the pass is done. */
static void flush_step(struct log_manager *lm)
{
    for (size_t n = 0; lm->flush_cursor != NULL && n < lm->flush_visits_per_turn; n++) {
        struct managed_log *m = lm->flush_cursor;
        lm->flush_cursor = m->work.next;
        partition_log_flush_if_due(m->log);
        managed_log_file_offsets(m);
        if (!partition_log_take_work(m->log)) {
            managed_log_work_unlist(m);
        }
        lm->flush_visits++;
    }
    if (lm->flush_cursor == NULL) {
        flush_pass_end(lm);
    }
}

static void on_flush_idle(uv_idle_t *idle)
{
    flush_step(idle->data);
}

/* Only the logs with work: flush what is due, file their offsets, and drop
 * those that have nothing left pending from the list. A pass still going
 * (thousands of active partitions) is left to finish, and the next one
 * starts a tick after it ends. */
void log_manager_on_flush(uv_timer_t *t)
{
    struct log_manager *lm = t->data;
    if (lm->flush_cursor != NULL) {
        lm->flush_tick_missed = true;
    } else if (lm->work != NULL) {
        lm->flush_cursor = lm->work;
        uv_idle_start(&lm->flush_idle, on_flush_idle);
    }
}
