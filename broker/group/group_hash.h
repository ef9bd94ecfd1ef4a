/* Which __consumer_offsets partition holds a group: Kafka's
 * Utils.abs(groupId.hashCode()) % partitions, so clients and tools that
 * hash group ids themselves agree with us. Pure; thread-safe. */
#ifndef SLUICE_BROKER_GROUP_GROUP_HASH_H
#define SLUICE_BROKER_GROUP_GROUP_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Java's String.hashCode over the UTF-16 code units of the UTF-8 `s` (`len`
 * bytes). Invalid UTF-8 bytes count as U+FFFD, as Java's decoder does. */
int32_t group_java_hash(const char *s, size_t len);

/* The partition of `group_id` among `partitions` (> 0). */
int32_t group_partition_for(const char *group_id, int32_t partitions);

#endif
