/* The ISR as the leader changes it (Kafka's AlterPartition; KIP-497): a
 * follower that caught up is proposed for the ISR once its broker is live
 * (at its fetch, or when its broker appears: replica_liveness_changed),
 * followers that have not caught up for replica.lag.time.max.ms are
 * proposed out of it. Each
 * proposal goes to the controller through the replica manager's
 * replica_controller, at most one per partition at a time (while it is in
 * flight the high watermark counts the old and the proposed ISR,
 * partition_isr_proposed), and its answer is applied to the partition if it
 * still has the same leader epoch. The proposed ISR stops counting only
 * once the change is known to be applied or not: after NONE, or a refusal
 * that proves nothing changed (then the partition proposes nothing for
 * REPLICA_ISR_ALTER_RETRY_MS). When the change may have committed (no
 * answer, NOT_CONTROLLER retried out, UNKNOWN_SERVER_ERROR) the same
 * proposal is sent again after REPLICA_ISR_ALTER_RETRY_MS, for as long as
 * it takes; after INVALID_UPDATE_VERSION it waits for the metadata's newer
 * partition epoch (Kafka's AlterPartition handling). Resends ride on the
 * follower fetches and the lag scan. Uses the replica manager's public API
 * only. Loop thread. */
#ifndef SLUICE_BROKER_REPLICA_REPLICA_ISR_H
#define SLUICE_BROKER_REPLICA_REPLICA_ISR_H

#include <stdint.h>

#include "broker/replica/partition.h"
#include "broker/replica/replica_manager.h"

/* A partition whose ISR change was refused proposes none for this long (a
 * refused member, fenced or not yet registered, stays refused a while);
 * an unanswered one is sent again after it. */
#define REPLICA_ISR_ALTER_RETRY_MS 500

/* Leader: propose adding `replica` to p's ISR, unless a change is in flight
 * already (an unanswered one is sent again when due), one was refused less
 * than REPLICA_ISR_ALTER_RETRY_MS ago, or the replica is not eligible
 * (replica_follower_eligible: its broker fenced or unregistered, or its
 * last fetch made as another registration; the controller would refuse
 * it). The caller has checked that it may join
 * (partition_follower_may_join). */
void replica_isr_expand(struct replica_manager *rm, struct partition *p, int32_t replica);

/* Every led partition: propose the ISR without the followers that have not
 * caught up for replica.lag.time.max.ms (partition_isr_shrink). The
 * replica manager calls it every half of that interval. */
void replica_isr_shrink_lagging(struct replica_manager *rm);

#endif
