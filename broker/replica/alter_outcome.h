/* What the answer to an AlterPartition proves about the proposed ISR
 * change (Kafka's AlterPartitionManager and
 * Partition.handleAlterPartitionError; KIP-497). The leader acts on it in
 * replica_isr.c: only an answer that proves the change was not applied may
 * drop the proposed ISR from the high watermark; anything that may have
 * committed keeps it. Pure: no state, any thread. */
#ifndef SLUICE_BROKER_REPLICA_ALTER_OUTCOME_H
#define SLUICE_BROKER_REPLICA_ALTER_OUTCOME_H

#include <stdint.h>

/* The answer's `error`: 0 (applied), the controller's Kafka error code, or
 * one of these, which the controller link reports instead of a code: */
#define REPLICA_ALTER_UNKNOWN  (-1) /* no answer: the change may have committed */
#define REPLICA_ALTER_NOT_SENT (-2) /* it never reached a controller */

enum alter_outcome {
    ALTER_OUTCOME_APPLIED,      /* NONE */
    ALTER_OUTCOME_REFUSED,      /* proven not applied: drop the proposal */
    ALTER_OUTCOME_LOST_VERSION, /* INVALID_UPDATE_VERSION: another change won,
                                 * or a duplicate of ours that committed */
    ALTER_OUTCOME_UNKNOWN,      /* may have committed: keep it, send it again */
};

/* The outcome of answer `error`. REFUSED only for the codes that prove
 * nothing changed: REPLICA_ALTER_NOT_SENT, FENCED_LEADER_EPOCH,
 * STALE_BROKER_EPOCH, UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION,
 * INELIGIBLE_REPLICA, INVALID_REQUEST and OPERATION_NOT_ATTEMPTED; every
 * other code (no answer, NOT_CONTROLLER retried out, UNKNOWN_SERVER_ERROR,
 * a code added to Kafka later) is UNKNOWN. */
enum alter_outcome alter_outcome_of(int32_t error);

#endif
