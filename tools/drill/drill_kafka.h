/* drill_kafka: everything sluice-drill does over the Kafka protocol, on
 * librdkafka.
 *
 * drill_kafka_open creates the topic (admin API; an existing one is used as
 * it is) and waits until every partition has a leader. drill_kafka_start
 * runs the workload on threads of its own: o->producers producers, each with
 * its own client, acks=all, one request in flight (so a retry cannot reorder
 * a producer's records), values "RUN/PRODUCER:SEQ" at o->rate records/s,
 * spread over the partitions; o->consumers consumers that assign every
 * partition from the beginning (no consumer group) and read until stopped;
 * and a poller that asks for the high watermarks (ListOffsets) every 250 ms.
 * Consumers and poller feed the checker as they go, under `lock`.
 * drill_kafka_stop ends the workload: producers stop sending and wait up to
 * message.timeout.ms for their outstanding records; then every attempt goes
 * to the checker (one without a delivery report counts as unknown).
 * drill_kafka_final_read (once) reads every partition from the start until
 * the high watermark is reached and stable, feeding DRILL_READ_FINAL reads.
 * drill_kafka_close destroys every client; none is destroyed before, so that
 * the report can be printed before librdkafka's teardown, which can abort
 * (see drill_main.c).
 *
 * All functions run on the caller's (main) thread; errors are printed once,
 * here, and returned as -1. */
#ifndef SLUICE_DRILL_KAFKA_H
#define SLUICE_DRILL_KAFKA_H

#include "drill.h"

struct drill_kafka;

/* o is borrowed until drill_kafka_close; o->partitions is set from Metadata. */
int drill_kafka_open(struct drill_options *o, struct drill_kafka **out);
void drill_kafka_close(struct drill_kafka *k);

/* The topic's partitions as the cluster reports them now. 0, or -1 when no
 * Metadata answer came within timeout_ms. */
int drill_kafka_topology(struct drill_kafka *k, struct drill_topology *t, int timeout_ms);

/* Waits until every partition has a leader (0) or timeout_ms passed (-1). */
int drill_kafka_wait_leaders(struct drill_kafka *k, int timeout_ms);

/* c and lock are borrowed until drill_kafka_stop returns. */
int drill_kafka_start(struct drill_kafka *k, struct drill_check *c, pthread_mutex_t *lock);
void drill_kafka_stop(struct drill_kafka *k);

int drill_kafka_final_read(struct drill_kafka *k, struct drill_check *c, int timeout_ms);

#endif
