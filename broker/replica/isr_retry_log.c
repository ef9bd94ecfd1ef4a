/* One INFO line per round of unresolved ISR changes; see isr_retry_log.h. */
#include "broker/replica/isr_retry_log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "broker/replica/alter_outcome.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"

/* Room for one "NAME:count" entry of the errors= field: the longest Kafka
 * name is under 40 characters, a count under 21 digits. */
#define ERROR_ENTRY_MAX 72

/* Append ",label:n" (no comma first) to `out` (size `size`, `*used`
 * filled) without running past it: a cut entry ends the field. */
static void append_entry(char *out, size_t size, size_t *used, const char *label, size_t n)
{
    if (*used >= size) {
        return;
    }
    int w = snprintf(out + *used, size - *used, "%s%s:%zu", *used > 0 ? "," : "", label, n);
    *used = w < 0 ? size : *used + (size_t)w;
}

/* `code` as the line shows it, in `buf` when it has no name. */
static const char *error_label(int32_t code, char *buf, size_t len)
{
    if (code == REPLICA_ALTER_UNKNOWN) {
        /* Not UNKNOWN_SERVER_ERROR: with the controllers down it is almost
         * always "no answer", which the link reports with the same code. */
        return "UNKNOWN";
    }
    if (code >= INT16_MIN && code <= INT16_MAX) {
        const char *name = kafka_error_name((int16_t)code);
        if (strcmp(name, "UNKNOWN_ERROR_CODE") != 0) {
            return name;
        }
    }
    snprintf(buf, len, "%d", (int)code);
    return buf;
}

/* "NAME:count,..." for the pending round into `out`. */
static void format_errors(const struct isr_retry_log *l, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->n_errors; i++) {
        char number[16];
        const char *label = error_label(l->errors[i].code, number, sizeof number);
        append_entry(out, size, &used, label, l->errors[i].n);
    }
    if (l->n_other > 0) {
        append_entry(out, size, &used, "other", l->n_other);
    }
}

static void write_round(struct isr_retry_log *l)
{
    if (l->n == 0) {
        return;
    }
    char errors[(ISR_RETRY_LOG_ERRORS + 1) * ERROR_ENTRY_MAX];
    format_errors(l, errors, sizeof errors);
    char first[ISR_RETRY_LOG_NAMED * (TOPIC_NAME_MAX + 17)];
    size_t used = 0;
    size_t named = l->n < ISR_RETRY_LOG_NAMED ? l->n : ISR_RETRY_LOG_NAMED;
    first[0] = '\0';
    for (size_t i = 0; i < named; i++) {
        used += (size_t)snprintf(first + used, sizeof first - used, "%s%s", i > 0 ? "," : "",
                                 l->named[i]);
    }
    log_info("replica",
             "ISR changes unanswered: proposing them again partitions=%zu errors=%s first=%s%s",
             l->n, errors, first, l->n > named ? ",..." : "");
    l->n = 0;
    l->n_errors = 0;
    l->n_other = 0;
}

static void on_round_end(uv_timer_t *t)
{
    write_round(t->data);
}

/* Count `code` under its own entry, or under "other" once the distinct
 * answers fill errors[]. */
static void count_error(struct isr_retry_log *l, int32_t code)
{
    for (size_t i = 0; i < l->n_errors; i++) {
        if (l->errors[i].code == code) {
            l->errors[i].n++;
            return;
        }
    }
    if (l->n_errors < ISR_RETRY_LOG_ERRORS) {
        l->errors[l->n_errors++] = (struct isr_retry_log_error){code, 1};
    } else {
        l->n_other++;
    }
}

void isr_retry_log_init(struct isr_retry_log *l, uv_loop_t *loop)
{
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    l->n = 0;
    l->n_errors = 0;
    l->n_other = 0;
}

void isr_retry_log_add(struct isr_retry_log *l, const char *topic, int32_t partition, int32_t error)
{
    log_debug("replica", "ISR change unanswered: proposing it again topic=%s partition=%d error=%d",
              topic, partition, error);
    if (l->n == 0) {
        /* Zero delay: the timers run in the loop's next iteration, after
         * every answer this one delivers. */
        uv_timer_start(&l->timer, on_round_end, 0, 0);
    }
    count_error(l, error);
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
