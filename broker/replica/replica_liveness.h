/* What the liveness of the brokers (registered and unfenced: shown in the
 * metadata view) decides for the partitions this broker leads: Kafka's
 * low watermark for DeleteRecords (Partition.lowWatermarkIfLeader counts
 * only replicas on live brokers), which followers may be proposed for the
 * ISR (Kafka's isReplicaIsrEligible, KIP-841/KIP-903), and, when a broker
 * is fenced, unfenced, registers or goes, re-asking the operations parked
 * on those partitions (a DeleteRecords waiting on a replica that stopped
 * counting is answered then, not at its timeout) and proposing the
 * caught-up followers there that may join the ISR now. Uses the replica
 * manager's public API only. Loop thread. */
#ifndef SLUICE_BROKER_REPLICA_REPLICA_LIVENESS_H
#define SLUICE_BROKER_REPLICA_REPLICA_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/replica/partition.h"
#include "broker/replica/replica_manager.h"

/* Kafka's low watermark of `p` as leader (partition_low_watermark), a
 * replica counting only while its broker is in the metadata view (every
 * replica counts without a view); -1 when not leading. */
int64_t replica_low_watermark(struct replica_manager *rm, const struct partition *p);

/* Whether follower `replica_id` of `p` (led here) may be proposed for the
 * ISR (Kafka's isReplicaIsrEligible, KIP-841 and KIP-903): its broker is
 * shown in the metadata view (registered and unfenced) and its last fetch
 * was made as that registration (the broker epoch it fetched with is the
 * view's: progress from an earlier incarnation, whose log may be gone, or
 * from one not registered yet says nothing of this one). The controller
 * refuses any other (INELIGIBLE_REPLICA, or INVALID_REQUEST without an
 * epoch). Without a view every replica is. */
bool replica_follower_eligible(const struct replica_manager *rm, const struct partition *p,
                               int32_t replica_id);

/* Brokers `ids` (`n` of them; NULL: any) appeared in or went from the
 * view: ask again every operation parked on a partition this broker leads
 * with a replica on one of them, and propose for the ISR a follower there
 * that is now live and caught up (partition_follower_may_join) at once,
 * not at its next fetch, which may be parked for replica.fetch.wait.max.ms
 * (replica_isr_expand's rules hold: one change in flight per partition,
 * none during the retry delay after a refusal). */
void replica_liveness_changed(struct replica_manager *rm, const int32_t *ids, size_t n);

#endif
