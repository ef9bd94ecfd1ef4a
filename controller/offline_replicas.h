/* Replicas brokers cannot serve, as their latest heartbeats said (a failed
 * log directory, a partition that would not open): Kafka's offline log dirs
 * (KIP-112, KIP-858), kept per partition.
 *
 * Like liveness, held by the active controller only and not replicated: the
 * brokers repeat the set in every heartbeat, so a new active controller
 * learns it within one heartbeat interval. A broker's set is forgotten when
 * it registers again (a new broker epoch): a restart reopens its logs.
 * Elections treat a broker as unusable for the partitions in its set.
 *
 * Single-threaded; no I/O. */
#ifndef SLUICE_CONTROLLER_OFFLINE_REPLICAS_H
#define SLUICE_CONTROLLER_OFFLINE_REPLICAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct offline_replica {
    uint8_t topic_id[16];
    int32_t partition;
};

struct offline_broker {
    int32_t broker_id;
    int64_t broker_epoch;
    struct offline_replica *replicas;
    size_t n;
};

struct offline_replicas {
    struct offline_broker *brokers;
    size_t n, cap;
    uint64_t changes; /* bumped whenever a broker's set changes (elections read it) */
};

void offline_replicas_init(struct offline_replicas *o);
void offline_replicas_free(struct offline_replicas *o);
/* Broker `broker_id` at `broker_epoch` reports `n` offline replicas (the
 * whole set; 0 clears it). A topic id that is not 16 bytes is skipped.
 * Returns 0 or -ENOMEM (the previous set stays). */
int offline_replicas_set(struct offline_replicas *o, int32_t broker_id, int64_t broker_epoch,
                         const struct offline_replica *replicas, size_t n);
/* The broker's current set (NULL when empty or from another epoch). */
const struct offline_broker *offline_replicas_of(const struct offline_replicas *o,
                                                 int32_t broker_id, int64_t broker_epoch);
/* Whether broker `broker_id` (at `broker_epoch`) reported that replica. */
bool offline_replicas_has(const struct offline_replicas *o, int32_t broker_id, int64_t broker_epoch,
                          const uint8_t topic_id[16], int32_t partition);

#endif
