/* Kafka record batch v2 (magic 2): parse and validate one batch header.
 *
 * Layout (all big-endian, see ../../shared kafka-protocol README "Record batch v2"):
 *   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8
 *   17 crc u32 | 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64
 *   35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32
 *   57 recordsCount i32 | 61 records...
 * The CRC-32C covers bytes 21..end, so baseOffset and partitionLeaderEpoch can
 * be rewritten by the broker without recomputing it.
 *
 * Pure functions on caller-owned buffers; thread-safe; never read past `avail`. */
#ifndef SLUICE_BROKER_LOG_RECORD_BATCH_H
#define SLUICE_BROKER_LOG_RECORD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/log/log_errors.h"

#define RECORD_BATCH_HEADER_SIZE  61 /* bytes up to the first record */
#define RECORD_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define RECORD_BATCH_MAGIC_V2     2
#define RECORD_BATCH_CRC_START    21 /* the CRC covers [21, 12 + batchLength) */
#define RECORD_BATCH_NO_TIMESTAMP (-1)

/* Byte offsets of the fields the broker rewrites or patches. */
#define RECORD_BATCH_OFF_BASE_OFFSET  0
#define RECORD_BATCH_OFF_LENGTH       8
#define RECORD_BATCH_OFF_LEADER_EPOCH 12
#define RECORD_BATCH_OFF_MAGIC        16
#define RECORD_BATCH_OFF_CRC          17
#define RECORD_BATCH_OFF_ATTRIBUTES   21

/* attributes bits */
#define RECORD_BATCH_ATTR_COMPRESSION_MASK 0x07 /* 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd */
#define RECORD_BATCH_ATTR_LOG_APPEND_TIME  0x08
#define RECORD_BATCH_ATTR_TRANSACTIONAL    0x10
#define RECORD_BATCH_ATTR_CONTROL          0x20

struct record_batch_header {
    int64_t base_offset;
    int32_t batch_length; /* bytes after the batchLength field */
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
};

/* Total bytes of the batch on disk / on the wire (12 + batchLength). */
static inline int64_t record_batch_size(const struct record_batch_header *h)
{
    return RECORD_BATCH_LOG_OVERHEAD + (int64_t)h->batch_length;
}

static inline int64_t record_batch_last_offset(const struct record_batch_header *h)
{
    return h->base_offset + h->last_offset_delta;
}

static inline int record_batch_compression(const struct record_batch_header *h)
{
    return h->attributes & RECORD_BATCH_ATTR_COMPRESSION_MASK;
}

/* Decode the 61-byte header at `p` into `*out`. Needs avail >= 61, else
 * LOG_ERR_CORRUPT. Checks nothing else (not the magic, not the length): use
 * record_batch_validate for that. */
int record_batch_parse(const uint8_t *p, size_t avail, struct record_batch_header *out);

/* The inflated-size bound when the limits give no max_batch_bytes:
 * Kafka's default max.message.bytes. */
#define RECORD_BATCH_INFLATE_MAX_DEFAULT 1048588

/* What record_batch_validate enforces. */
struct record_batch_limits {
    int64_t max_batch_bytes; /* max.message.bytes (whole batch incl. 12-byte overhead); <=0: none */
    bool from_client;        /* producer input: no control batches, records_count ==
                                lastOffsetDelta + 1 and > 0 (Kafka's LogValidator) */
    bool walk_records;       /* also check the codec and walk the records (inflated) */
    bool require_keys;       /* walk_records: every record needs a non-null key (compacted
                                topics; LOG_ERR_INVALID_RECORD otherwise) */
    /* walk_records: when > 0 and below the bound above, a compressed body
     * may inflate to at most this (what is left of a record set's bound,
     * partition_log_append). */
    int64_t max_inflate_bytes;
    size_t *inflated; /* when not NULL: += the bytes a compressed body inflated to */
};

/* Validate the batch starting at `p` (`avail` bytes present, which may hold
 * further batches). On success fills `*out` (may be NULL) and returns 0; the
 * batch occupies record_batch_size(out) bytes. Checks, in order:
 *  - header present, magic 2, batchLength >= 49 and all bytes present
 *    (LOG_ERR_CORRUPT);
 *  - size vs limits->max_batch_bytes (LOG_ERR_TOO_LARGE);
 *  - CRC-32C over bytes 21..end (LOG_ERR_CORRUPT);
 *  - from_client: not a control batch, records_count > 0 and
 *    records_count == lastOffsetDelta + 1 (LOG_ERR_INVALID_RECORD);
 *  - walk_records: the codec id is 0-4 (LOG_ERR_CORRUPT); a compressed body
 *    inflates (record_codec.h) without error (LOG_ERR_CORRUPT) to at most
 *    max_batch_bytes, or RECORD_BATCH_INFLATE_MAX_DEFAULT when that is <= 0,
 *    or max_inflate_bytes if lower (LOG_ERR_INVALID_RECORD); then every record's varint length is
 * bounded by the (inflated) body, its fields parse, offsetDelta runs 0,1,2..., and exactly
 * records_count records fill it (LOG_ERR_INVALID_RECORD). Uncompressed batches are walked in place,
 * allocating nothing; a compressed one costs one inflate into a temporary buffer that grows with
 *    the bytes produced (-ENOMEM if that fails). Like Kafka's LogValidator,
 *    a CRC only proves the bytes are what the producer sent, not that they
 *    are records, so a consumer would otherwise be served garbage.
 * On failure a human-readable reason goes to `reason` (may be NULL). */
int record_batch_validate(const uint8_t *p, size_t avail, const struct record_batch_limits *limits,
                          struct record_batch_header *out, char *reason, size_t reasonlen);

/* Walk `count` records in `len` bytes of record data (an uncompressed
 * body, or a compressed one after decompression) with the walk_records
 * checks, requiring keys if `need_key`. Returns 0 or LOG_ERR_INVALID_RECORD
 * with `reason`. */
int record_batch_walk_records(const uint8_t *records, size_t len, int32_t count, bool need_key,
                              char *reason, size_t reasonlen);

/* Rewrite the fields outside the CRC in place. */
void record_batch_set_base_offset(uint8_t *batch, int64_t base_offset);
void record_batch_set_leader_epoch(uint8_t *batch, int32_t epoch);

#endif
