/* The per-partition bookkeeping OffsetCommit and TxnOffsetCommit share:
 * every partition of the request in order, each with the error it is
 * refused with (or none), and apart the ones the group coordinator is asked
 * to commit; its answers are merged back into request order for the
 * response. All arrays live in the call's arena. Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_COMMIT_PARTS_H
#define SLUICE_BROKER_KAFKA_COMMIT_PARTS_H

#include <stddef.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/dispatch.h"

struct kafka_commit_parts {
    struct group_commit_partition *parts;   /* request order */
    struct group_commit_partition *allowed; /* those refused nothing: to commit */
    size_t n_parts, n_allowed;
};

/* Room for `n` partitions. Returns 0, or -1 when the arena is exhausted. */
int kafka_commit_parts_alloc(struct kafka_commit_parts *cp, struct kafka_call *call, size_t n);

/* The request's next partition (copied; its strings borrowed from the
 * request); with error KAFKA_ERROR_NONE it is also to be committed. */
void kafka_commit_parts_add(struct kafka_commit_parts *cp, struct group_commit_partition p);

/* After the commit: the committed partitions' errors back into `parts`. */
void kafka_commit_parts_merge(struct kafka_commit_parts *cp);

/* Fills `resp_`->topics with one result per topic of `req_` (its name
 * borrowed from the request) and, for each partition, its index and its
 * error from `cp_`->parts, in request order. `topic_init_` and
 * `partition_init_` are the generated response initialisers. A macro, as
 * KAFKA_WALK_PARTITIONS (partition_walk.h): the two APIs' generated types
 * differ. Sets `rv_` to 0, or to -1 when the arena is exhausted. */
#define KAFKA_COMMIT_RESULTS(rv_, call_, req_, resp_, topic_init_, partition_init_, cp_)           \
    do {                                                                                           \
        int32_t nt_ = (req_)->topics_count > 0 ? (req_)->topics_count : 0;                         \
        size_t k_ = 0;                                                                             \
        (resp_)->topics_count = nt_;                                                               \
        (resp_)->topics =                                                                          \
            kafka_arena_alloc_array(&(call_)->arena, (size_t)nt_ + 1, sizeof *(resp_)->topics);    \
        (rv_) = (resp_)->topics != NULL ? 0 : -1;                                                  \
        for (int32_t i_ = 0; (rv_) == 0 && i_ < nt_; i_++) {                                       \
            int32_t np_ =                                                                          \
                (req_)->topics[i_].partitions_count > 0 ? (req_)->topics[i_].partitions_count : 0; \
            topic_init_(&(resp_)->topics[i_]);                                                     \
            (resp_)->topics[i_].name = (req_)->topics[i_].name;                                    \
            (resp_)->topics[i_].partitions = kafka_arena_alloc_array(                              \
                &(call_)->arena, (size_t)np_ + 1, sizeof *(resp_)->topics[i_].partitions);         \
            if ((resp_)->topics[i_].partitions == NULL) {                                          \
                (rv_) = -1;                                                                        \
                break;                                                                             \
            }                                                                                      \
            (resp_)->topics[i_].partitions_count = np_;                                            \
            for (int32_t j_ = 0; j_ < np_; j_++, k_++) {                                           \
                partition_init_(&(resp_)->topics[i_].partitions[j_]);                              \
                (resp_)->topics[i_].partitions[j_].partition_index =                               \
                    (req_)->topics[i_].partitions[j_].partition_index;                             \
                (resp_)->topics[i_].partitions[j_].error_code = (cp_)->parts[k_].error;            \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#endif
