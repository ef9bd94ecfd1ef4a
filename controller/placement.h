/* Replica placement for new topics and partitions: round-robin over the
 * usable brokers, rack-aware, leaders spread evenly.
 *
 * Follows Kafka's AdminUtils.assignReplicasToBrokers: partition p's first
 * replica (its preferred leader) is broker (p + start) mod n, so leaders go
 * round-robin; followers are taken after it with a shift that grows every n
 * partitions, so follower sets differ. With racks, brokers are interleaved by
 * rack and each partition takes brokers from racks it does not use yet before
 * doubling up on one. Pure and deterministic: the caller picks `start` and
 * `shift` (e.g. from the number of partitions in the cluster, to rotate
 * leadership across topics). Also the per-broker partition limit both
 * metadata paths check before recording a topic or partitions. */
#ifndef SLUICE_CONTROLLER_PLACEMENT_H
#define SLUICE_CONTROLLER_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct placement_broker {
    int32_t id;
    const char *rack; /* NULL or "" when unknown */
};

/* Fill out[p * rf + j] with replica j of partition p, for `count`
 * partitions. `brokers` (n of them) are the live, unfenced brokers, in any
 * order. Returns 0; -EINVAL when rf < 1 or rf > n (the service answers
 * INVALID_REPLICATION_FACTOR); -ENOMEM. */
int placement_assign(const struct placement_broker *brokers, size_t n, int32_t count, int32_t rf,
                     uint32_t start, uint32_t shift, int32_t *out);

/* Descriptors a hosted partition replica holds open (segment log, offset
 * index, time index) and those kept for everything else (sockets, raft,
 * checkpoints) when deriving the default limit. */
#define PLACEMENT_FDS_PER_REPLICA 3
#define PLACEMENT_FD_RESERVE      512

/* Partition replicas one broker may host: `configured`
 * (max.broker.partitions, KIP-578's name) when > 0, else derived from this
 * process's RLIMIT_NOFILE as (limit - PLACEMENT_FD_RESERVE) / 3, at least 1.
 * Every broker is assumed to run with the same descriptor limit. */
int64_t placement_broker_partition_limit(int32_t configured);

/* Whether `adding` more replicas fit beside `existing` ones on `n_brokers`
 * brokers of `per_broker` each (round-robin placement spreads them evenly). */
static inline bool placement_fits(int64_t existing, int64_t adding, size_t n_brokers,
                                  int64_t per_broker)
{
    return existing + adding <= per_broker * (int64_t)n_brokers;
}

#endif
