/* The partitions this broker hosts, kept in step with the metadata view.
 *
 * Opens a partition log for every partition the metadata lists this broker
 * as a replica of (at start-up and when topics are created, grow or are
 * reassigned), records whether it leads each one and its leader epoch
 * (partition.h: only the leader serves clients; followers just host the log
 * until follower replication exists), deletes them when topics are deleted,
 * pushes topic config changes to the logs, and runs the
 * periodic log work: retention every log.retention.check.interval.ms,
 * background flushes and checkpoints every second. Owns the delayed-operation
 * queue Fetch (and later acks=all Produce) waits in.
 *
 * New partitions go to the data directory holding the fewest partitions; an
 * existing partition is found in whichever directory has it. Loop thread. */
#ifndef SLUICE_BROKER_REPLICA_REPLICA_MANAGER_H
#define SLUICE_BROKER_REPLICA_REPLICA_MANAGER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/data_dir.h"
#include "broker/metadata/metadata_view.h"
#include "broker/replica/delayed_op.h"
#include "broker/replica/partition.h"
#include "common/config.h"
#include "common/strmap.h"

struct replica_manager {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    const struct data_dirs *dirs;
    struct metadata_view *metadata;
    struct strmap topics; /* name -> struct hosted_topic * */
    size_t partitions_in_dir[DATA_DIR_MAX];
    struct delayed_queue delayed;
    uv_timer_t retention_timer, flush_timer;
    int checkpoint_ticks;
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

#endif
