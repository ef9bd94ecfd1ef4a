/* Error codes of the partition log (broker/log/).
 *
 * Functions in broker/log/ return 0 on success, a negative errno for system
 * failures (-ENOMEM, -ENOSPC, -EIO, ...) or one of the LOG_ERR_* codes below
 * for rejected input. The LOG_ERR_* values sit far below any errno so the two
 * never collide. The log knows nothing of Kafka's error numbers: the Kafka
 * handlers map these codes (kafka_error_from_log in broker/kafka). */
#ifndef SLUICE_BROKER_LOG_LOG_ERRORS_H
#define SLUICE_BROKER_LOG_LOG_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_err {
    LOG_ERR_CORRUPT = -10001,             /* bad CRC, magic, lengths */
    LOG_ERR_TOO_LARGE = -10002,           /* batch over max.message.bytes */
    LOG_ERR_INVALID_RECORD = -10003,      /* count/offset-delta mismatch, control batch from a
                                             client, malformed record */
    LOG_ERR_OFFSET_OUT_OF_RANGE = -10004, /* read/delete outside [start, end] */
    LOG_ERR_OFFSET_MISMATCH =
        -10005, /* follower batch does not continue the log (replication handles it) */
    LOG_ERR_RECORD_LIST_TOO_LARGE = -10006, /* one append larger than a segment may hold */
    LOG_ERR_CLOSED = -10007,                /* log destroyed or failed */
    LOG_ERR_STALE_EPOCH = -10008, /* leader append in an epoch older than the log's latest:
                                     this broker no longer leads */
    LOG_ERR_OUT_OF_ORDER_SEQUENCE = -10009,  /* idempotent batch does not continue its producer's
                                                sequence (producer_state.h) */
    LOG_ERR_INVALID_PRODUCER_EPOCH = -10010, /* idempotent batch or marker from an older
                                                producer epoch */
    LOG_ERR_INVALID_TXN_STATE = -10011,      /* plain batch while the producer's transaction is
                                                open */
    LOG_ERR_COORDINATOR_FENCED = -10012,     /* marker from an older coordinator epoch */
};

/* Whether `rv` is a storage fault (a negative errno from the disk: EIO,
 * ENOSPC, EROFS, EDQUOT, ...), as opposed to rejected input, a closed log or
 * running out of memory or descriptors. A storage fault takes the log
 * directory offline (Kafka's LogDirFailureChannel). */
bool log_err_is_storage(int rv);

/* A short constant name for `rv` ("CORRUPT", "ENOSPC", ...). Never NULL. */
const char *log_err_name(int rv);

/* Returns `rv` (any code the caller fails with) after writing why, formatted
 * as printf does, into the caller's `reason` buffer of `reasonlen` bytes
 * (truncated to fit; nothing written when `reason` is NULL or `reasonlen` 0):
 * the validators' error message for the client. */
int log_err_reason(int rv, char *reason, size_t reasonlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
