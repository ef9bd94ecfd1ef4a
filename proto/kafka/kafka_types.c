#include "proto/kafka/kafka_types.h"

const char *kafka_codec_strerror(int status)
{
    switch (status) {
    case KAFKA_CODEC_OK:
        return "ok";
    case KAFKA_CODEC_ETRUNCATED:
        return "truncated";
    case KAFKA_CODEC_EMALFORMED:
        return "malformed";
    case KAFKA_CODEC_ENOMEM:
        return "out of memory";
    case KAFKA_CODEC_EVERSION:
        return "unsupported api key or version";
    case KAFKA_CODEC_EINVAL:
        return "value not encodable in this version";
    case KAFKA_CODEC_ETRAILING:
        return "bytes left after the request body";
    }
    return "unknown codec status";
}
