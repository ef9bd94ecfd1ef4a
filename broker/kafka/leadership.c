/* Which partitions this broker answers client requests for; see
 * kafka_leader_partition in dispatch.h. */
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"

struct partition *kafka_leader_partition(struct kafka_call *call, const char *topic, int32_t index,
                                         int16_t *error)
{
    struct partition *p = replica_manager_partition(call->svc->replicas, topic, index);
    if (p != NULL && partition_is_leader(p) && replica_manager_may_lead(call->svc->replicas)) {
        *error = KAFKA_ERROR_NONE;
        return p;
    }
    const struct metadata_topic *t =
        topic != NULL ? metadata_view_topic(call->svc->metadata, topic) : NULL;
    bool known = t != NULL && index >= 0 && index < t->n_partitions;
    if (known && replica_manager_partition_offline(call->svc->replicas, topic, index)) {
        /* Its log directory failed here: the client refreshes its metadata
         * and finds the leader the controller elected elsewhere. */
        *error = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
        return NULL;
    }
    /* Kafka answers NOT_LEADER_OR_FOLLOWER for a partition that exists but
     * is led elsewhere (or by nobody): the client refreshes its metadata. */
    *error = known ? KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER : KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
    return NULL;
}
