/* AlterPartition answers classified; see alter_outcome.h. */
#include "broker/replica/alter_outcome.h"

#include "proto/kafka/kafka_errors.h"

enum alter_outcome alter_outcome_of(int32_t error)
{
    switch (error) {
    case KAFKA_ERROR_NONE:
        return ALTER_OUTCOME_APPLIED;
    case REPLICA_ALTER_NOT_SENT:
    case KAFKA_ERROR_FENCED_LEADER_EPOCH:
    case KAFKA_ERROR_STALE_BROKER_EPOCH:
    case KAFKA_ERROR_UNKNOWN_TOPIC_ID:
    case KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION:
    case KAFKA_ERROR_INELIGIBLE_REPLICA:
    case KAFKA_ERROR_INVALID_REQUEST:
    case KAFKA_ERROR_OPERATION_NOT_ATTEMPTED:
        return ALTER_OUTCOME_REFUSED;
    case KAFKA_ERROR_INVALID_UPDATE_VERSION:
        return ALTER_OUTCOME_LOST_VERSION;
    default: /* no answer, NOT_CONTROLLER retried out, UNKNOWN_SERVER_ERROR, ... */
        return ALTER_OUTCOME_UNKNOWN;
    }
}
