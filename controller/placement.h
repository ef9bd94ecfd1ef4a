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
 * leadership across topics). */
#ifndef SLUICE_CONTROLLER_PLACEMENT_H
#define SLUICE_CONTROLLER_PLACEMENT_H

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

#endif
