/* Names and Kafka mappings of broker/log return codes. */
#include "broker/log/log_errors.h"

#include <errno.h>

const char *log_err_name(int rv)
{
    switch (rv) {
    case 0:
        return "OK";
    case LOG_ERR_CORRUPT:
        return "CORRUPT";
    case LOG_ERR_TOO_LARGE:
        return "TOO_LARGE";
    case LOG_ERR_INVALID_RECORD:
        return "INVALID_RECORD";
    case LOG_ERR_OFFSET_OUT_OF_RANGE:
        return "OFFSET_OUT_OF_RANGE";
    case LOG_ERR_OFFSET_MISMATCH:
        return "OFFSET_MISMATCH";
    case LOG_ERR_RECORD_LIST_TOO_LARGE:
        return "RECORD_LIST_TOO_LARGE";
    case LOG_ERR_CLOSED:
        return "CLOSED";
    case LOG_ERR_STALE_EPOCH:
        return "STALE_EPOCH";
    case -ENOSPC:
        return "ENOSPC";
    case -EIO:
        return "EIO";
    case -ENOMEM:
        return "ENOMEM";
    case -ENOENT:
        return "ENOENT";
    case -EINVAL:
        return "EINVAL";
    default:
        return rv < 0 && rv > -4096 ? "ERRNO" : "UNKNOWN";
    }
}

int16_t log_err_to_kafka(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case LOG_ERR_CORRUPT:
        return KAFKA_ERR_CORRUPT_MESSAGE;
    case LOG_ERR_TOO_LARGE:
        return KAFKA_ERR_MESSAGE_TOO_LARGE;
    case LOG_ERR_INVALID_RECORD:
        return KAFKA_ERR_INVALID_RECORD;
    case LOG_ERR_OFFSET_OUT_OF_RANGE:
        return KAFKA_ERR_OFFSET_OUT_OF_RANGE;
    case LOG_ERR_RECORD_LIST_TOO_LARGE:
        return KAFKA_ERR_RECORD_LIST_TOO_LARGE;
    case LOG_ERR_STALE_EPOCH:
        return KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
    case LOG_ERR_CLOSED:
    case -EIO:
    case -ENOSPC:
    case -EROFS:
    case -EDQUOT:
        return KAFKA_ERR_KAFKA_STORAGE_ERROR;
    default:
        return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    }
}
