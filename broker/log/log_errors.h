/* Error codes of the partition log (broker/log/).
 *
 * Functions in broker/log/ return 0 on success, a negative errno for system
 * failures (-ENOMEM, -ENOSPC, -EIO, ...) or one of the LOG_ERR_* codes below
 * for rejected input. The LOG_ERR_* values sit far below any errno so the two
 * never collide. log_err_to_kafka maps either kind to the Kafka error code a
 * request handler should answer with. */
#ifndef SLUICE_BROKER_LOG_LOG_ERRORS_H
#define SLUICE_BROKER_LOG_LOG_ERRORS_H

#include <stdint.h>

enum log_err {
    LOG_ERR_CORRUPT = -10001,        /* bad CRC, magic, lengths → CORRUPT_MESSAGE (2) */
    LOG_ERR_TOO_LARGE = -10002,      /* batch over max.message.bytes → MESSAGE_TOO_LARGE (10) */
    LOG_ERR_INVALID_RECORD = -10003, /* count/offset-delta mismatch, control batch from a
                                        client, malformed record → INVALID_RECORD (87) */
    LOG_ERR_OFFSET_OUT_OF_RANGE =
        -10004, /* read/delete outside [start, end] → OFFSET_OUT_OF_RANGE (1) */
    LOG_ERR_OFFSET_MISMATCH = -10005,       /* follower batch does not continue the log
                                               → UNKNOWN_SERVER_ERROR (-1); replication handles it */
    LOG_ERR_RECORD_LIST_TOO_LARGE = -10006, /* one append larger than a segment may hold
                                               → RECORD_LIST_TOO_LARGE (18) */
    LOG_ERR_CLOSED = -10007,      /* log destroyed or failed → KAFKA_STORAGE_ERROR (56) */
    LOG_ERR_STALE_EPOCH = -10008, /* leader append in an epoch older than the log's latest: this
                                     broker no longer leads → NOT_LEADER_OR_FOLLOWER (6) */
};

/* Kafka error codes used by the mapping (from the protocol's ErrorCodes). */
#define KAFKA_ERR_UNKNOWN_SERVER_ERROR   (-1)
#define KAFKA_ERR_OFFSET_OUT_OF_RANGE    1
#define KAFKA_ERR_CORRUPT_MESSAGE        2
#define KAFKA_ERR_NOT_LEADER_OR_FOLLOWER 6
#define KAFKA_ERR_MESSAGE_TOO_LARGE      10
#define KAFKA_ERR_RECORD_LIST_TOO_LARGE  18
#define KAFKA_ERR_KAFKA_STORAGE_ERROR    56
#define KAFKA_ERR_INVALID_RECORD         87

/* A short constant name for `rv` ("CORRUPT", "ENOSPC", ...). Never NULL. */
const char *log_err_name(int rv);

/* The Kafka error code for a broker/log return value: 0 for 0, the mapping
 * above for LOG_ERR_*, KAFKA_STORAGE_ERROR for disk errors (-EIO, -ENOSPC,
 * -EROFS, -EDQUOT), UNKNOWN_SERVER_ERROR for anything else. */
int16_t log_err_to_kafka(int rv);

#endif
