/* ISR changes left unresolved, reported once per round instead of once per
 * partition. With the controllers down every led partition's proposal goes
 * unanswered at each retry (replica_isr.c sends it again after
 * REPLICA_ISR_ALTER_RETRY_MS), and one INFO line per partition per retry
 * buries everything else in the log. A round is the answers delivered in
 * one loop iteration (a failed AlterPartition request answers all of its
 * items at once, alter_batcher.h); its INFO line, with the count, each
 * distinct answer with its count (errors=NOT_CONTROLLER:12,UNKNOWN:3) and
 * the first ISR_RETRY_LOG_NAMED partitions, is written from a zero-delay
 * timer after them. Answers are shown by their Kafka name, -1 as UNKNOWN
 * (no answer, or the controller's UNKNOWN_SERVER_ERROR: the controller link
 * reports both alike, and they prove the same), a code without a name as
 * its number. The first ISR_RETRY_LOG_ERRORS distinct answers are counted
 * apart and the rest together as "other", so the line stays bounded. Each
 * partition is logged at DEBUG as it is added.
 *
 * Loop thread; embedded in the replica manager, which outlives it. */
#ifndef SLUICE_BROKER_REPLICA_ISR_RETRY_LOG_H
#define SLUICE_BROKER_REPLICA_ISR_RETRY_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/metadata/topic_name.h"

#define ISR_RETRY_LOG_NAMED  3
#define ISR_RETRY_LOG_ERRORS 6

struct isr_retry_log_error {
    int32_t code; /* the answer */
    size_t n;     /* partitions answered with it in the pending round */
};

struct isr_retry_log {
    uv_timer_t timer;                                        /* armed while a round is pending */
    size_t n;                                                /* partitions in the pending round */
    struct isr_retry_log_error errors[ISR_RETRY_LOG_ERRORS]; /* first distinct answers */
    size_t n_errors;                                         /* entries used in errors[] */
    size_t n_other;                                          /* partitions with any later answer */
    char named[ISR_RETRY_LOG_NAMED][TOPIC_NAME_MAX + 16];    /* "topic-partition" */
};

/* Set up an empty log on `loop`. */
void isr_retry_log_init(struct isr_retry_log *l, uv_loop_t *loop);
/* Partition `partition` of `topic` (copied) got answer `error` and will be
 * proposed again: logged at DEBUG now, counted in the round's INFO line. */
void isr_retry_log_add(struct isr_retry_log *l, const char *topic, int32_t partition,
                       int32_t error);
/* Write the pending round's line now, if any, and close the timer (its
 * handle finishes closing on the next loop run). */
void isr_retry_log_close(struct isr_retry_log *l);

#endif
