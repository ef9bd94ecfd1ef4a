/* The internal topic a coordinator keeps its state in (__consumer_offsets
 * for the group coordinator, __transaction_state for the transaction
 * coordinator): creating it on first use, mapping a key to its partition
 * (Kafka's abs(hashCode(key)) % partitions), loading a partition's log when
 * this broker becomes its leader and unloading it when leadership goes,
 * appending the coordinator's own batches, and waiting for them to
 * replicate (acks=all) before the coordinator acts on them.
 *
 * The owner decodes its records itself: loading hands it raw batch bytes.
 * Loop thread only; borrows its dependencies, which must outlive it. */
#ifndef SLUICE_BROKER_COORD_COORD_LOG_H
#define SLUICE_BROKER_COORD_COORD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/metadata/metadata_view.h"
#include "broker/replica/replica_manager.h"
#include "common/config.h"

struct partition;

/* How the topic is created on first use. */
struct coord_log_spec {
    const char *topic;
    int32_t num_partitions;
    int32_t replication_factor;  /* capped by the registered brokers */
    int32_t min_insync_replicas; /* capped by the replication factor; <= 0: the default */
};

/* Load `len` bytes of record batches of partition `i` (called repeatedly,
 * in log order, up to the high watermark). 0 or a negative error (the
 * partition stays unloaded). */
typedef int (*coord_log_load_fn)(void *owner, int32_t i, const uint8_t *batches, size_t len);
/* Forget the state of partition `i` (leadership lost, or a new epoch). */
typedef void (*coord_log_unload_fn)(void *owner, int32_t i);
typedef void (*coord_log_done_cb)(void *arg, int16_t error);

struct coord_log {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    struct metadata_view *metadata;
    struct replica_manager *replicas;
    struct coord_log_spec spec;
    coord_log_load_fn load;
    coord_log_unload_fn unload;
    void *owner;
    int32_t *loaded_epoch; /* per partition: the leader epoch loaded, -1 none */
    int32_t n_partitions;
    struct metadata_admin_op create_op;
    bool creating;
};

void coord_log_init(struct coord_log *cl, uv_loop_t *loop, const struct sluice_config *cfg,
                    struct metadata_view *metadata, struct replica_manager *replicas,
                    const struct coord_log_spec *spec, coord_log_load_fn load,
                    coord_log_unload_fn unload, void *owner);
/* Free what init and use allocated (no callbacks). A topic creation in
 * flight must have finished (the metadata view answers it before closing). */
void coord_log_free(struct coord_log *cl);

/* The partition of `key` in a topic of `n` partitions. */
int32_t coord_log_partition_for(const char *key, int32_t n);

/* FindCoordinator: the node leading the key's partition. Creates the topic
 * on first use (COORDINATOR_NOT_AVAILABLE meanwhile). */
int16_t coord_log_find_leader(struct coord_log *cl, const char *key, int32_t *node_id);

/* The key's partition, loaded if this broker leads it: NONE,
 * NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS
 * (KIP-207: until the high watermark has caught up). */
int16_t coord_log_route(struct coord_log *cl, const char *key, int32_t *partition);
/* Partition `i` by index, loaded if this broker leads it (as
 * coord_log_route): for an owner that takes over its partitions' pending work
 * as soon as it leads them, without waiting for a request. */
int16_t coord_log_load(struct coord_log *cl, int32_t i);
/* The leader epoch partition `i` is loaded under (Kafka's coordinator
 * epoch), or -1. */
int32_t coord_log_loaded_epoch(const struct coord_log *cl, int32_t i);
/* Whether partition `i` is loaded under the current leadership. */
bool coord_log_loaded(struct coord_log *cl, int32_t i);
/* The leading partition `i`, or NULL. */
struct partition *coord_log_partition(struct coord_log *cl, int32_t i);
/* Unload the partitions whose leadership changed; call it periodically. */
void coord_log_check_leadership(struct coord_log *cl);

/* Append one record batch (baseOffset 0; the log stamps it in place) to
 * loaded partition `i` without
 * waiting: NONE with *end the offset after it, NOT_COORDINATOR,
 * COORDINATOR_NOT_AVAILABLE (fewer in-sync replicas than required),
 * `too_large` when the log refuses its size, or INVALID_PRODUCER_EPOCH for
 * a transactional batch of a producer the log knows at a newer epoch. */
int16_t coord_log_append(struct coord_log *cl, int32_t i, uint8_t *batch, size_t len,
                         int16_t too_large, int64_t *end);
/* acks=all: cb(arg, NONE) once partition `i`'s high watermark reaches `end`
 * under the leader epoch of now; NOT_COORDINATOR if that leadership ends
 * first (the records may be truncated), REQUEST_TIMED_OUT after
 * request.timeout.ms. cb may run before this returns. */
void coord_log_wait_replicated(struct coord_log *cl, int32_t i, int64_t end, coord_log_done_cb cb,
                               void *arg);

#endif
