/* One INFO line per round of unresolved ISR changes; see isr_retry_log.h. */
#include "broker/replica/isr_retry_log.h"

#include <stdio.h>

#include "common/log.h"

static void write_round(struct isr_retry_log *l)
{
    if (l->n == 0) {
        return;
    }
    char first[ISR_RETRY_LOG_NAMED * (TOPIC_NAME_MAX + 17)];
    size_t used = 0;
    size_t named = l->n < ISR_RETRY_LOG_NAMED ? l->n : ISR_RETRY_LOG_NAMED;
    first[0] = '\0';
    for (size_t i = 0; i < named; i++) {
        used += (size_t)snprintf(first + used, sizeof first - used, "%s%s", i > 0 ? "," : "",
                                 l->named[i]);
    }
    log_info("replica",
             "ISR changes unanswered: proposing them again partitions=%zu error=%d first=%s%s",
             l->n, l->error, first, l->n > named ? ",..." : "");
    l->n = 0;
}

static void on_round_end(uv_timer_t *t)
{
    write_round(t->data);
}

void isr_retry_log_init(struct isr_retry_log *l, uv_loop_t *loop)
{
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    l->n = 0;
}

void isr_retry_log_add(struct isr_retry_log *l, const char *topic, int32_t partition, int32_t error)
{
    log_debug("replica", "ISR change unanswered: proposing it again topic=%s partition=%d error=%d",
              topic, partition, error);
    if (l->n == 0) {
        l->error = error;
        /* Zero delay: the timers run in the loop's next iteration, after
         * every answer this one delivers. */
        uv_timer_start(&l->timer, on_round_end, 0, 0);
    }
    if (l->n < ISR_RETRY_LOG_NAMED) {
        snprintf(l->named[l->n], sizeof l->named[l->n], "%s-%d", topic, (int)partition);
    }
    l->n++;
}

void isr_retry_log_close(struct isr_retry_log *l)
{
    write_round(l);
    uv_close((uv_handle_t *)&l->timer, NULL);
}
