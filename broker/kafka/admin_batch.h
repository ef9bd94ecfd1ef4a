/* The fan-in shared by the Kafka admin handlers that change one resource
 * per request entry through the metadata view (CreateTopics, DeleteTopics,
 * CreatePartitions, AlterConfigs, IncrementalAlterConfigs): one
 * metadata_admin_op per entry, one answer once the last op has completed.
 *
 * Ops may complete synchronously, while the handler is still submitting the
 * others: the batch answers only when every op has completed and the handler
 * has called kafka_admin_batch_submitted(), and once the partitions this
 * broker hosts of the topics the handler named (kafka_admin_batch_wait_for:
 * those it created, grew or moved) are open (the view applies a new topic at
 * once, but its logs are opened on the thread pool:
 * replica_manager_after_opens); opens of other topics do not hold the answer.
 * Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_ADMIN_BATCH_H
#define SLUICE_BROKER_KAFKA_ADMIN_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/kafka/dispatch.h"

struct kafka_admin_batch;

/* Copy each op's result (b->ops[i]) into entry i of the handler's response
 * (b->response) and encode it into `w`; returns the encoder's result. */
typedef int (*kafka_admin_encode_fn)(struct kafka_admin_batch *b, struct kafka_writer *w);

struct kafka_admin_batch {
    struct kafka_call *call;
    struct metadata_admin_op *ops; /* `count` of them, each op->data = the batch */
    int32_t count;
    int32_t pending; /* ops not completed yet, +1 until submitted */
    kafka_admin_encode_fn encode;
    void *response;                    /* the handler's response message, borrowed */
    struct replica_opens_waiter opens; /* answering once this broker's new partitions are open */
    const char **wait_topics;          /* per op: the topic whose opens to wait for, or NULL */
};

/* Allocate a batch of `count` ops from the call's arena (`response` is
 * borrowed and must live as long: allocate it there too). Returns NULL when
 * the arena is exhausted; the caller then answers with kafka_call_fail(). */
struct kafka_admin_batch *kafka_admin_batch_new(struct kafka_call *call, int32_t count,
                                                kafka_admin_encode_fn encode, void *response);

/* The metadata_admin_cb to pass for every op of a batch (to
 * metadata_view_submit_* or metadata_admin_fail). */
void kafka_admin_batch_op_done(struct metadata_admin_op *op);

/* Op `i` creates, grows or moves partitions of `topic` (borrowed for the
 * call's life): the answer waits until those this broker hosts are open. */
void kafka_admin_batch_wait_for(struct kafka_admin_batch *b, int32_t i, const char *topic);

/* The handler has started (or failed) every op: answer now if all of them
 * have completed already, else when the last one does. */
void kafka_admin_batch_submitted(struct kafka_admin_batch *b);

/* The error_message a response entry carries for `op`: NULL unless the op
 * failed with a message. Borrowed from the op (it lives in the arena). */
const char *kafka_admin_batch_message(const struct metadata_admin_op *op);

/* AlterConfigs and IncrementalAlterConfigs: op i alters a topic's config.
 * The principal needs AlterConfigs on the topic (TOPIC_AUTHORIZATION_FAILED)
 * or, for a broker resource, on the cluster (CLUSTER_AUTHORIZATION_FAILED).
 * Broker configs are static in Sluice (server.properties): a resource of any
 * other type fails op i with INVALID_REQUEST. False when op i has failed. */
bool kafka_admin_topic_resource(struct kafka_admin_batch *b, int32_t i, int8_t resource_type,
                                const char *name);

/* Op i sets (NULL value: deletes) `n` keys of `topic`'s config, replacing the
 * rest with defaults when `replace` (AlterConfigs); `entries` live in the
 * call's arena, NULL failing the op as out of memory. */
void kafka_admin_alter_topic_config(struct kafka_admin_batch *b, int32_t i, const char *topic,
                                    const struct metadata_config_entry *entries, size_t n,
                                    bool replace, bool validate_only);

#endif
