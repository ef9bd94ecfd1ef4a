/* Helpers for the tests that feed a replica manager a metadata image they
 * build by hand (test_replica_manager.c, test_replica_parked.c): this broker
 * registered, topics whose partitions it leads as their only replica, and
 * their removal. Each call checks its own result (Check assertions). */
#ifndef SLUICE_TESTS_UNIT_IMAGE_TEST_UTIL_H
#define SLUICE_TESTS_UNIT_IMAGE_TEST_UTIL_H

#include <stdint.h>

#include "metadata/image.h"

/* Broker 1 (this one), epoch 10, registered and unfenced. */
void itu_add_self(MetadataImage *img);

/* Partition `t->n_partitions` of `t`, led by broker 1, its only replica. */
void itu_add_partition(TopicState *t);

/* A topic of `n` such partitions whose id is 16 bytes of `id_byte`. */
TopicState *itu_add_topic(MetadataImage *img, const char *name, int32_t n, uint8_t id_byte);

/* Remove topic `name` (the test fails if there is none). */
void itu_remove_topic(MetadataImage *img, const char *name);

#endif
