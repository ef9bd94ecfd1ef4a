/* Kafka's throttled-replica lists, the topic configs
 * `leader.replication.throttled.replicas` and
 * `follower.replication.throttled.replicas`: empty (none), `*` (every replica
 * of every partition), or `partition:broker` pairs separated by commas
 * (`0:101,0:102,1:102`). A broker throttles a partition when the list names
 * it with that broker, or is `*` (Kafka's TopicConfigHandler). Pure. */
#ifndef SLUICE_COMMON_THROTTLED_REPLICAS_H
#define SLUICE_COMMON_THROTTLED_REPLICAS_H

#include <stdbool.h>
#include <stdint.h>

/* NULL when `text` is a valid list, else why not (a static string). */
const char *throttled_replicas_check(const char *text);
/* Whether the list (NULL counts as empty) throttles `partition` on `broker`. */
bool throttled_replicas_lists(const char *text, int32_t partition, int32_t broker);

#endif
