#include "broker/kafka/admin_batch.h"

#include <stddef.h>

#include "broker/kafka/authorizer.h"
#include "proto/kafka/kafka_errors.h"

struct kafka_admin_batch *kafka_admin_batch_new(struct kafka_call *call, int32_t count,
                                                kafka_admin_encode_fn encode, void *response)
{
    struct kafka_admin_batch *b = kafka_arena_alloc(&call->arena, sizeof *b);
    struct metadata_admin_op *ops =
        kafka_arena_alloc_array(&call->arena, (size_t)count, sizeof *ops);
    const char **wait_topics =
        kafka_arena_alloc_array(&call->arena, (size_t)count, sizeof *wait_topics);
    if (b == NULL || ops == NULL || wait_topics == NULL) {
        return NULL;
    }
    b->wait_topics = wait_topics;
    b->call = call;
    b->ops = ops;
    b->count = count;
    b->pending = count + 1; /* answers may come before the handler's loop ends */
    b->encode = encode;
    b->response = response;
    for (int32_t i = 0; i < count; i++) {
        ops[i].data = b;
    }
    return b;
}

static void answer(struct replica_opens_waiter *opens)
{
    struct kafka_admin_batch *b =
        (struct kafka_admin_batch *)((char *)opens - offsetof(struct kafka_admin_batch, opens));
    struct kafka_writer w;
    int rv = kafka_call_begin_response(b->call, &w);
    if (rv == 0) {
        rv = b->encode(b, &w);
    }
    kafka_call_finish_response(b->call, &w, rv);
}

void kafka_admin_batch_wait_for(struct kafka_admin_batch *b, int32_t i, const char *topic)
{
    b->wait_topics[i] = topic;
}

static void respond(struct kafka_admin_batch *b)
{
    size_t n = 0;
    for (int32_t i = 0; i < b->count; i++) {
        if (b->wait_topics[i] != NULL) {
            b->wait_topics[n++] = b->wait_topics[i];
        }
    }
    b->opens.cb = answer;
    b->opens.topics = b->wait_topics;
    b->opens.n_topics = n;
    replica_manager_after_opens(b->call->svc->replicas, &b->opens);
}

void kafka_admin_batch_op_done(struct metadata_admin_op *op)
{
    struct kafka_admin_batch *b = op->data;
    if (--b->pending == 0) {
        respond(b);
    }
}

void kafka_admin_batch_submitted(struct kafka_admin_batch *b)
{
    if (--b->pending == 0) {
        respond(b);
    }
}

const char *kafka_admin_batch_message(const struct metadata_admin_op *op)
{
    return op->error_code != KAFKA_ERROR_NONE && op->error_message[0] ? op->error_message : NULL;
}

enum { RESOURCE_TOPIC = 2, RESOURCE_BROKER = 4 }; /* Kafka's ConfigResource.Type */

bool kafka_admin_topic_resource(struct kafka_admin_batch *b, int32_t i, int8_t resource_type,
                                const char *name)
{
    /* Kafka authorizes first: AlterConfigs on the topic, or on the cluster
     * for a broker's configs. */
    if (resource_type == RESOURCE_TOPIC &&
        !kafka_authorize(b->call, ACL_OP_ALTER_CONFIGS, ACL_RESOURCE_TOPIC, name)) {
        metadata_admin_fail(&b->ops[i], kafka_admin_batch_op_done,
                            KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED, NULL);
        return false;
    }
    if (resource_type == RESOURCE_BROKER &&
        !kafka_authorize(b->call, ACL_OP_ALTER_CONFIGS, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME)) {
        metadata_admin_fail(&b->ops[i], kafka_admin_batch_op_done,
                            KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED, NULL);
        return false;
    }
    if (resource_type == RESOURCE_TOPIC) {
        return true;
    }
    metadata_admin_fail(&b->ops[i], kafka_admin_batch_op_done, KAFKA_ERROR_INVALID_REQUEST,
                        "Only topic configs can be altered: broker configs are static");
    return false;
}

void kafka_admin_alter_topic_config(struct kafka_admin_batch *b, int32_t i, const char *topic,
                                    const struct metadata_config_entry *entries, size_t n,
                                    bool replace, bool validate_only)
{
    struct kafka_call *call = b->call;
    if (entries == NULL) {
        metadata_admin_fail(&b->ops[i], kafka_admin_batch_op_done, KAFKA_ERROR_UNKNOWN_SERVER_ERROR,
                            "out of memory");
        return;
    }
    metadata_view_submit_alter_topic_config(
        call->svc->metadata, topic, entries, n, replace, validate_only,
        (uint64_t)call->svc->cfg->request_timeout_ms, &b->ops[i], kafka_admin_batch_op_done);
}
