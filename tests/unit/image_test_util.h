/* Helpers for the tests that feed a replica manager a metadata image they
 * build by hand (test_replica_manager.c, test_replica_parked.c,
 * test_replica_fetcher.c): the
 * fixture (a temporary log directory, broker 1's config, a loop, the image)
 * and the image's contents: this broker registered, topics whose partitions
 * it leads as their only replica, and their removal. Each call checks its
 * own result (Check assertions). */
#ifndef SLUICE_TESTS_UNIT_IMAGE_TEST_UTIL_H
#define SLUICE_TESTS_UNIT_IMAGE_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/data_dir.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/replica_manager.h"
#include "common/config.h"
#include "metadata/image.h"

struct replica_fixture {
    char dir[64];             /* the log directory, removed at teardown */
    struct sluice_config cfg; /* node.id=1, num.partitions=3, log.dirs=dir */
    struct data_dirs dirs;
    uv_loop_t loop;
    MetadataImage *img; /* cluster "cluster-x", broker 1 registered */
};

void rfx_setup(struct replica_fixture *fx);
void rfx_teardown(struct replica_fixture *fx);
/* A quorum source serving fx->img. */
struct metadata_quorum_source rfx_source(struct replica_fixture *fx);
/* A quorum-fed view over fx->img and a replica manager on it. */
void rfx_start(struct replica_fixture *fx, struct metadata_view **v, struct replica_manager *rm);
void rfx_stop(struct replica_fixture *fx, struct metadata_view *v, struct replica_manager *rm);
/* Run the loop until every partition being opened (on the thread pool) is
 * hosted or offline. */
void rfx_settle(struct replica_fixture *fx, struct replica_manager *rm);

/* Broker 1 (this one), epoch 10, registered and unfenced. */
void itu_add_self(MetadataImage *img);

/* Broker `id`, epoch 10 + id, registered and unfenced. */
void itu_add_broker(MetadataImage *img, int32_t id);

/* Fence (true) or unfence broker `id` (the test fails if there is none). */
void itu_set_fenced(MetadataImage *img, int32_t id, bool fenced);

/* Partition `t->n_partitions` of `t`, led by `leader` at epoch 0, replicas
 * `replicas` (n of them), all in the ISR. */
void itu_add_partition_led(TopicState *t, int32_t leader, const int32_t *replicas, size_t n);

/* Partition `t->n_partitions` of `t`, led by broker 1, its only replica. */
void itu_add_partition(TopicState *t);

/* A topic without partitions, not yet in any image, whose id is 16 bytes of
 * `id_byte`. */
TopicState *itu_new_topic(const char *name, uint8_t id_byte);

/* A topic of `n` such partitions whose id is 16 bytes of `id_byte`. */
TopicState *itu_add_topic(MetadataImage *img, const char *name, int32_t n, uint8_t id_byte);

/* Remove topic `name` (the test fails if there is none). */
void itu_remove_topic(MetadataImage *img, const char *name);

#endif
