/* What the liveness of the brokers (registered and unfenced: shown in the
 * metadata view) decides for the partitions this broker leads: Kafka's
 * low watermark for DeleteRecords (Partition.lowWatermarkIfLeader counts
 * only replicas on live brokers), and re-asking the operations parked on
 * those partitions when a broker is fenced, unfenced, registers or goes,
 * so a DeleteRecords waiting on a replica that stopped counting is
 * answered then, not at its timeout. Uses the replica manager's public
 * API only. Loop thread. */
#ifndef SLUICE_BROKER_REPLICA_REPLICA_LIVENESS_H
#define SLUICE_BROKER_REPLICA_REPLICA_LIVENESS_H

#include <stddef.h>
#include <stdint.h>

#include "broker/replica/partition.h"
#include "broker/replica/replica_manager.h"

/* Kafka's low watermark of `p` as leader (partition_low_watermark), a
 * replica counting only while its broker is in the metadata view (every
 * replica counts without a view); -1 when not leading. */
int64_t replica_low_watermark(struct replica_manager *rm, const struct partition *p);

/* Brokers `ids` (`n` of them; NULL: any) appeared in or went from the
 * view: ask again every operation parked on a partition this broker leads
 * with a replica on one of them. */
void replica_liveness_changed(struct replica_manager *rm, const int32_t *ids, size_t n);

#endif
