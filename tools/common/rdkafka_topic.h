/* CreateTopics through librdkafka's admin API, for the tools that set up
 * their own topic (sluice-perf, sluice-drill). */
#ifndef SLUICE_TOOLS_RDKAFKA_TOPIC_H
#define SLUICE_TOOLS_RDKAFKA_TOPIC_H

#include <librdkafka/rdkafka.h>

/* Create `nt` (named `topic`; owned by the caller) through `rk`, waiting up to
 * `timeout_ms`. Returns 0 when created, 1 when it existed already, -1 when it
 * failed or timed out, said on stderr as "<prog>: create topic <topic>: why". */
int tools_create_topic(rd_kafka_t *rk, rd_kafka_NewTopic_t *nt, const char *topic, int timeout_ms,
                       const char *prog);

#endif
