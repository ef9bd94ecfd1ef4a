/* Value types and status codes shared by the Kafka codec runtime
 * (kafka_reader, kafka_writer) and the generated kafka_messages.[ch].
 *
 * These are plain values; ownership of the memory they point at is stated by
 * whoever fills them (see kafka_reader.h and kafka_writer.h). */
#ifndef SLUICE_PROTO_KAFKA_TYPES_H
#define SLUICE_PROTO_KAFKA_TYPES_H

#include <stdbool.h>
#include <stdint.h>

/* Codec statuses: 0 on success, one of these (negative) on failure. */
enum kafka_codec_status {
    KAFKA_CODEC_OK = 0,
    KAFKA_CODEC_ETRUNCATED = -1, /* input ends before the value does */
    KAFKA_CODEC_EMALFORMED = -2, /* impossible encoding: bad varint, negative length,
                                    null where not nullable, NUL inside a string */
    KAFKA_CODEC_ENOMEM = -3,     /* arena limit reached or allocation failed */
    KAFKA_CODEC_EVERSION = -4,   /* API key or version without a codec */
    KAFKA_CODEC_EINVAL = -5,     /* encode: value not representable in this version */
    KAFKA_CODEC_ETRAILING = -6,  /* decode: bytes left after a request body */
};

/* Static description of a status, e.g. "truncated". */
const char *kafka_codec_strerror(int status);

/* Kafka's uuid type (topic ids): 16 raw bytes, all-zero meaning "none". */
struct kafka_uuid {
    uint8_t bytes[16];
};

/* Kafka's bytes type. len -1 means null (data NULL). */
struct kafka_bytes {
    const uint8_t *data;
    int32_t len;
};

/* Kafka's records type: a record batch set, never copied by the codec.
 * len -1 means null. On decode `data` borrows the reader's input and
 * `splice_source` is NULL. On encode, when `splice_source` is non-NULL only
 * the length prefix is written and the writer records a splice point (see
 * kafka_writer.h); `data` is then ignored. */
struct kafka_records {
    const uint8_t *data;
    int32_t len;
    const void *splice_source;
};

#endif
