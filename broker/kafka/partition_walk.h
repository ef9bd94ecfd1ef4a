#ifndef SLUICE_BROKER_KAFKA_PARTITION_WALK_H
#define SLUICE_BROKER_KAFKA_PARTITION_WALK_H

/* The per-partition walk shared by the handlers whose request and response
 * are lists of topics of partitions answered one partition at a time
 * (ListOffsets, DeleteRecords).
 *
 * It is a macro, not a function with callbacks: the generated request and
 * response topic/partition structs share their field names ({name,
 * partitions, partitions_count}) but are distinct C types per API, so a
 * function would need void pointers and element sizes. Each expansion
 * names the real types, so the compiler checks every field access and the
 * per-partition function's signature. */

#include "broker/kafka/dispatch.h"

/* Fills `resp_`->topics with one result per topic of `req_` (its name
 * borrowed from the request) and, for each partition, calls
 * `one_(call_, topic_name, &request_partition, &result_partition)`; `one_`
 * initialises the result. Negative counts are taken as empty. Arrays live
 * in the call's arena. Sets `rv_` to 0, or to -1 when the arena is
 * exhausted (the response is then unusable: fail the call). */
#define KAFKA_WALK_PARTITIONS(rv_, call_, req_, resp_, topic_init_, one_)                          \
    do {                                                                                           \
        int32_t nt_ = (req_)->topics_count > 0 ? (req_)->topics_count : 0;                         \
        (resp_)->topics_count = nt_;                                                               \
        (resp_)->topics =                                                                          \
            kafka_arena_alloc_array(&(call_)->arena, (size_t)nt_, sizeof *(resp_)->topics);        \
        (rv_) = (resp_)->topics != NULL ? 0 : -1;                                                  \
        for (int32_t i_ = 0; (rv_) == 0 && i_ < nt_; i_++) {                                       \
            topic_init_(&(resp_)->topics[i_]);                                                     \
            int32_t np_ =                                                                          \
                (req_)->topics[i_].partitions_count > 0 ? (req_)->topics[i_].partitions_count : 0; \
            (resp_)->topics[i_].name = (req_)->topics[i_].name;                                    \
            (resp_)->topics[i_].partitions = kafka_arena_alloc_array(                              \
                &(call_)->arena, (size_t)np_, sizeof *(resp_)->topics[i_].partitions);             \
            if ((resp_)->topics[i_].partitions == NULL) {                                          \
                (rv_) = -1;                                                                        \
                break;                                                                             \
            }                                                                                      \
            (resp_)->topics[i_].partitions_count = np_;                                            \
            for (int32_t j_ = 0; j_ < np_; j_++) {                                                 \
                one_((call_), (resp_)->topics[i_].name, &(req_)->topics[i_].partitions[j_],        \
                     &(resp_)->topics[i_].partitions[j_]);                                         \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#endif
