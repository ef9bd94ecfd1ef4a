/* The partitions this broker hosts, kept in step with the metadata view:
 * partition roles (Kafka's ReplicaManager).
 *
 * Opens a partition (its log through the log manager) for every partition
 * the metadata lists this broker as a replica of (at start-up and when topics
 * are created, grow or are reassigned), applies each one's leader, leader
 * epoch and ISR (partition_apply_state), deletes them when topics are
 * deleted, and pushes topic config changes. Owns the log manager (data
 * directories, retention, flush and checkpoint timers) and the one
 * delayed-operation queue Fetch and Produce wait in. Loop thread. */
#ifndef SLUICE_BROKER_REPLICA_REPLICA_MANAGER_H
#define SLUICE_BROKER_REPLICA_REPLICA_MANAGER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/data_dir.h"
#include "broker/metadata/metadata_view.h"
#include "broker/replica/delayed_op.h"
#include "broker/replica/log_manager.h"
#include "broker/replica/partition.h"
#include "common/config.h"
#include "common/strmap.h"

struct replica_manager {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    const struct data_dirs *dirs;
    struct metadata_view *metadata;
    struct strmap topics; /* name -> struct hosted_topic * */
    struct log_manager logs;
    struct delayed_queue delayed;
};

/* Open every hosted partition and subscribe to metadata changes. All
 * arguments are borrowed and must outlive the manager. Returns 0 or a
 * negative error with `err` (nothing left open). */
int replica_manager_start(struct replica_manager *rm, uv_loop_t *loop,
                          const struct sluice_config *cfg, const struct data_dirs *dirs,
                          struct metadata_view *metadata, char *err, size_t errlen);
/* Complete waiting operations, flush and close every log, close the timers
 * (their handles finish closing on the next loop run). */
void replica_manager_stop(struct replica_manager *rm);

/* The hosted partition, or NULL (unknown topic, index out of range). */
struct partition *replica_manager_partition(const struct replica_manager *rm, const char *topic,
                                            int32_t index);

/* Park `op` (watching partitions through partition_watch) until it is ready
 * or `timeout_ms` passes: the one purgatory for Fetch and Produce waits. */
void replica_manager_park(struct replica_manager *rm, struct delayed_op *op, uint64_t timeout_ms);

#endif
