/* Kafka record batch v2: header parsing and produce-time validation, after
 * Kafka's DefaultRecordBatch.ensureValid and LogValidator. */
#include "broker/log/record_batch.h"

#include <stdlib.h>

#include "broker/log/record_codec.h"
#include "common/bigendian.h"
#include "common/crc32c.h"
#include "common/varint.h"

/* batchLength counts from partitionLeaderEpoch to the end: 61 - 12. */
#define MIN_BATCH_LENGTH (RECORD_BATCH_HEADER_SIZE - RECORD_BATCH_LOG_OVERHEAD)

int record_batch_parse(const uint8_t *p, size_t avail, struct record_batch_header *out)
{
    if (avail < RECORD_BATCH_HEADER_SIZE) {
        return LOG_ERR_CORRUPT;
    }
    out->base_offset = (int64_t)be64_load(p);
    out->batch_length = (int32_t)be32_load(p + 8);
    out->partition_leader_epoch = (int32_t)be32_load(p + 12);
    out->magic = (int8_t)p[16];
    out->crc = be32_load(p + 17);
    out->attributes = (int16_t)be16_load(p + 21);
    out->last_offset_delta = (int32_t)be32_load(p + 23);
    out->base_timestamp = (int64_t)be64_load(p + 27);
    out->max_timestamp = (int64_t)be64_load(p + 35);
    out->producer_id = (int64_t)be64_load(p + 43);
    out->producer_epoch = (int16_t)be16_load(p + 51);
    out->base_sequence = (int32_t)be32_load(p + 53);
    out->records_count = (int32_t)be32_load(p + 57);
    return 0;
}

/* The record walk runs over every produced record, and nearly all of its
 * varints are one or two bytes: those are decoded inline, longer ones by
 * the general decoder, which rejects encodings longer than the type allows.
 * Both accept a non-minimal encoding such as 0x80 0x00 (zero), as Kafka's
 * ByteUtils.readVarint does, so the inline forms need no check of their own.
 * Each returns 0 and advances *pos, or -1 if malformed or truncated. */
static inline int get_s32(const uint8_t *p, size_t len, size_t *pos, int32_t *out)
{
    size_t at = *pos;
    if (at + 1 < len && p[at] >= 0x80 && p[at + 1] < 0x80) {
        uint32_t v = (uint32_t)(p[at] & 0x7f) | (uint32_t)p[at + 1] << 7;
        *out = (int32_t)(v >> 1) ^ -(int32_t)(v & 1);
        *pos = at + 2;
        return 0;
    }
    if (at < len && p[at] < 0x80) {
        *out = (int32_t)(p[at] >> 1) ^ -(int32_t)(p[at] & 1);
        *pos = at + 1;
        return 0;
    }
    int rv = varint_decode_s32(p + at, len - at, out);
    if (rv < 0) {
        return -1;
    }
    *pos = at + (size_t)rv;
    return 0;
}

static inline int skip_s64(const uint8_t *p, size_t len, size_t *pos)
{
    int64_t v;
    if (*pos < len && p[*pos] < 0x80) {
        (*pos)++;
        return 0;
    }
    int rv = varint_decode_s64(p + *pos, len - *pos, &v);
    if (rv < 0) {
        return -1;
    }
    *pos += (size_t)rv;
    return 0;
}

/* Skip the bytes of a field whose zigzag varint length `n` was just read:
 * -1 means null, other negatives are malformed. */
static inline int skip_bytes(size_t len, size_t *pos, int32_t n, bool nullable)
{
    if (n < 0) {
        return (n == -1 && nullable) ? 0 : -1;
    }
    if ((size_t)n > len - *pos) {
        return -1;
    }
    *pos += (size_t)n;
    return 0;
}

static inline int skip_bytes_field(const uint8_t *p, size_t len, size_t *pos, bool nullable)
{
    int32_t n;
    return get_s32(p, len, pos, &n) < 0 ? -1 : skip_bytes(len, pos, n, nullable);
}

/* Parse one record body of `len` bytes; check its offsetDelta is `index`.
 * Returns 0, -1 if malformed, -2 if `need_key` and the key is null. */
static inline int check_record_body(const uint8_t *p, size_t len, int32_t index, bool need_key)
{
    size_t pos = 1; /* attributes i8 */
    int32_t offset_delta, key_len, headers;
    if (len < 1 || skip_s64(p, len, &pos) < 0 || get_s32(p, len, &pos, &offset_delta) < 0 ||
        offset_delta != index || get_s32(p, len, &pos, &key_len) < 0) {
        return -1;
    }
    if (need_key && key_len < 0) {
        return -2;
    }
    if (skip_bytes(len, &pos, key_len, true) < 0 || skip_bytes_field(p, len, &pos, true) < 0 ||
        get_s32(p, len, &pos, &headers) < 0 || headers < 0) {
        return -1;
    }
    for (int32_t i = 0; i < headers; i++) {
        if (skip_bytes_field(p, len, &pos, false) < 0 || skip_bytes_field(p, len, &pos, true) < 0) {
            return -1;
        }
    }
    return pos == len ? 0 : -1;
}

/* Walk the records of an uncompressed batch body (after the 61-byte header). */
static int walk_records(const uint8_t *p, size_t len, int32_t count, bool need_key, char *reason,
                        size_t reasonlen)
{
    size_t pos = 0;
    int32_t i;
    for (i = 0; pos < len; i++) {
        int32_t rec_len;
        if (get_s32(p, len, &pos, &rec_len) < 0 || rec_len < 0 || (size_t)rec_len > len - pos) {
            return log_err_reason(LOG_ERR_INVALID_RECORD, reason, reasonlen,
                                  "record %d has a bad length or runs past the batch", i);
        }
        int body = i >= count ? -1 : check_record_body(p + pos, (size_t)rec_len, i, need_key);
        if (body == -2) {
            return log_err_reason(LOG_ERR_INVALID_RECORD, reason, reasonlen,
                                  "record %d has no key: a compacted topic needs keyed records", i);
        }
        if (body < 0) {
            return log_err_reason(LOG_ERR_INVALID_RECORD, reason, reasonlen,
                                  "record %d is malformed or out of sequence (count %d)", i, count);
        }
        pos += (size_t)rec_len;
    }
    if (i != count) {
        return log_err_reason(LOG_ERR_INVALID_RECORD, reason, reasonlen,
                              "batch holds %d records but recordsCount says %d", i, count);
    }
    return 0;
}

/* Inflate a compressed batch's records, bounded by max.message.bytes (or
 * RECORD_BATCH_INFLATE_MAX_DEFAULT), and walk them as Kafka's LogValidator
 * does: a body the codec rejects is CORRUPT, one that inflates too far or
 * whose records do not match the header is INVALID_RECORD. */
static int check_compressed(const uint8_t *body, size_t len, const struct record_batch_header *h,
                            const struct record_batch_limits *limits, char *reason,
                            size_t reasonlen)
{
    size_t max_out = limits->max_batch_bytes > 0 ? (size_t)limits->max_batch_bytes
                                                 : RECORD_BATCH_INFLATE_MAX_DEFAULT;
    bool set_bound = limits->max_inflate_bytes > 0 && (size_t)limits->max_inflate_bytes < max_out;
    if (set_bound) {
        max_out = (size_t)limits->max_inflate_bytes;
    }
    uint8_t *records;
    size_t n;
    int rv = record_codec_inflate(record_batch_compression(h), body, len, max_out, &records, &n,
                                  reason, reasonlen);
    if (rv == RECORD_CODEC_ERR_CORRUPT || rv == RECORD_CODEC_ERR_CODEC) {
        return LOG_ERR_CORRUPT;
    }
    if (rv == RECORD_CODEC_ERR_TOO_LARGE) {
        if (set_bound) {
            return log_err_reason(
                LOG_ERR_INVALID_RECORD, reason, reasonlen,
                "the record set inflates beyond its bound: %zu bytes were left for this "
                "batch",
                max_out);
        }
        return LOG_ERR_INVALID_RECORD;
    }
    if (rv < 0) {
        return log_err_reason(rv, reason, reasonlen, "no memory to inflate a %zu-byte batch body",
                              len);
    }
    if (limits->inflated != NULL) {
        *limits->inflated += n;
    }
    rv = walk_records(records, n, h->records_count, limits->require_keys, reason, reasonlen);
    free(records);
    return rv;
}

/* The records of the batch at `p` (`size` bytes): uncompressed ones walked in
 * place (the fast path), compressed ones inflated first. */
static int check_records(const uint8_t *p, size_t size, const struct record_batch_header *h,
                         const struct record_batch_limits *limits, char *reason, size_t reasonlen)
{
    int codec = record_batch_compression(h);
    const uint8_t *body = p + RECORD_BATCH_HEADER_SIZE;
    size_t len = size - RECORD_BATCH_HEADER_SIZE;
    if (codec == RECORD_CODEC_NONE) {
        return walk_records(body, len, h->records_count, limits->require_keys, reason, reasonlen);
    }
    if (codec > RECORD_CODEC_MAX) {
        return log_err_reason(LOG_ERR_CORRUPT, reason, reasonlen, "unknown compression codec id %d",
                              codec);
    }
    return check_compressed(body, len, h, limits, reason, reasonlen);
}

static int check_producer_rules(const struct record_batch_header *h, char *reason, size_t reasonlen)
{
    if (h->attributes & RECORD_BATCH_ATTR_CONTROL) {
        return log_err_reason(LOG_ERR_INVALID_RECORD, reason, reasonlen,
                              "control batches may not be produced by clients");
    }
    if (h->records_count <= 0) {
        return log_err_reason(LOG_ERR_INVALID_RECORD, reason, reasonlen, "invalid record count %d",
                              h->records_count);
    }
    if (h->last_offset_delta < 0 || (int64_t)h->last_offset_delta + 1 != h->records_count) {
        return log_err_reason(LOG_ERR_INVALID_RECORD, reason, reasonlen,
                              "recordsCount %d does not match lastOffsetDelta %d", h->records_count,
                              h->last_offset_delta);
    }
    return 0;
}

int record_batch_validate(const uint8_t *p, size_t avail, const struct record_batch_limits *limits,
                          struct record_batch_header *out, char *reason, size_t reasonlen)
{
    struct record_batch_header h;
    if (record_batch_parse(p, avail, &h) < 0) {
        return log_err_reason(LOG_ERR_CORRUPT, reason, reasonlen,
                              "%zu bytes is shorter than a batch header", avail);
    }
    if (h.magic != RECORD_BATCH_MAGIC_V2) {
        return log_err_reason(LOG_ERR_CORRUPT, reason, reasonlen, "unsupported magic %d (need 2)",
                              h.magic);
    }
    if (h.batch_length < MIN_BATCH_LENGTH) {
        return log_err_reason(LOG_ERR_CORRUPT, reason, reasonlen,
                              "batchLength %d below the minimum %d", h.batch_length,
                              MIN_BATCH_LENGTH);
    }
    int64_t size = record_batch_size(&h);
    if (limits->max_batch_bytes > 0 && size > limits->max_batch_bytes) {
        return log_err_reason(LOG_ERR_TOO_LARGE, reason, reasonlen,
                              "batch of %lld bytes exceeds max.message.bytes %lld", (long long)size,
                              (long long)limits->max_batch_bytes);
    }
    if ((uint64_t)size > avail) {
        return log_err_reason(LOG_ERR_CORRUPT, reason, reasonlen,
                              "batchLength %d runs past the %zu bytes present", h.batch_length,
                              avail);
    }
    uint32_t crc = crc32c(0, p + RECORD_BATCH_CRC_START, (size_t)size - RECORD_BATCH_CRC_START);
    if (crc != h.crc) {
        return log_err_reason(LOG_ERR_CORRUPT, reason, reasonlen,
                              "CRC mismatch: stored %08x computed %08x", h.crc, crc);
    }
    if (limits->from_client) {
        int rv = check_producer_rules(&h, reason, reasonlen);
        if (rv < 0) {
            return rv;
        }
    }
    if (limits->walk_records) {
        int rv = check_records(p, (size_t)size, &h, limits, reason, reasonlen);
        if (rv < 0) {
            return rv;
        }
    }
    if (out != NULL) {
        *out = h;
    }
    return 0;
}

int record_batch_walk_records(const uint8_t *records, size_t len, int32_t count, bool need_key,
                              char *reason, size_t reasonlen)
{
    return walk_records(records, len, count, need_key, reason, reasonlen);
}

void record_batch_set_base_offset(uint8_t *batch, int64_t base_offset)
{
    be64_store(batch + RECORD_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void record_batch_set_leader_epoch(uint8_t *batch, int32_t epoch)
{
    be32_store(batch + RECORD_BATCH_OFF_LEADER_EPOCH, (uint32_t)epoch);
}
