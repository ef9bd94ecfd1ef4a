/* Names of broker/log return codes. */
#include "broker/log/log_errors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

bool log_err_is_storage(int rv)
{
    if (rv >= 0 || rv <= -4096) {
        return false; /* success or a LOG_ERR_* code */
    }
    switch (-rv) {
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EINVAL:
    case EAGAIN:
    case EINTR:
    case ECANCELED:
        return false;
    default:
        return true;
    }
}

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
    case LOG_ERR_OUT_OF_ORDER_SEQUENCE:
        return "OUT_OF_ORDER_SEQUENCE";
    case LOG_ERR_INVALID_PRODUCER_EPOCH:
        return "INVALID_PRODUCER_EPOCH";
    case LOG_ERR_INVALID_TXN_STATE:
        return "INVALID_TXN_STATE";
    case LOG_ERR_COORDINATOR_FENCED:
        return "COORDINATOR_FENCED";
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
    case -EROFS:
        return "EROFS";
    case -EDQUOT:
        return "EDQUOT";
    case -EACCES:
        return "EACCES";
    case -EMFILE:
        return "EMFILE";
    default:
        return rv < 0 && rv > -4096 ? "ERRNO" : "UNKNOWN";
    }
}

int log_err_reason(int rv, char *reason, size_t reasonlen, const char *fmt, ...)
{
    if (reason != NULL && reasonlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, reasonlen, fmt, ap);
        va_end(ap);
    }
    return rv;
}
