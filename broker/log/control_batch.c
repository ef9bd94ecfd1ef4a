/* Transaction marker batches (control_batch.h). */
#include "broker/log/control_batch.h"

#include <string.h>

#include "common/bigendian.h"
#include "common/crc32c.h"
#include "common/varint.h"

#define MARKER_RECORD_BODY                                                                         \
    16 /* attributes, ts delta, offset delta, key 1+4, value 1+6, headers                          \
        */

void control_batch_build_marker(uint8_t out[CONTROL_BATCH_MARKER_SIZE], int64_t producer_id,
                                int16_t producer_epoch, bool commit, int32_t coordinator_epoch,
                                int64_t timestamp_ms)
{
    memset(out, 0, CONTROL_BATCH_MARKER_SIZE);
    be64_store(out + RECORD_BATCH_OFF_BASE_OFFSET, 0);
    be32_store(out + RECORD_BATCH_OFF_LENGTH,
               CONTROL_BATCH_MARKER_SIZE - RECORD_BATCH_LOG_OVERHEAD);
    be32_store(out + RECORD_BATCH_OFF_LEADER_EPOCH, (uint32_t)-1);
    out[RECORD_BATCH_OFF_MAGIC] = RECORD_BATCH_MAGIC_V2;
    be16_store(out + RECORD_BATCH_OFF_ATTRIBUTES,
               RECORD_BATCH_ATTR_TRANSACTIONAL | RECORD_BATCH_ATTR_CONTROL);
    be32_store(out + 23, 0); /* lastOffsetDelta */
    be64_store(out + 27, (uint64_t)timestamp_ms);
    be64_store(out + 35, (uint64_t)timestamp_ms);
    be64_store(out + 43, (uint64_t)producer_id);
    be16_store(out + 51, (uint16_t)producer_epoch);
    be32_store(out + 53, (uint32_t)-1); /* baseSequence */
    be32_store(out + 57, 1);            /* recordsCount */
    uint8_t *r = out + RECORD_BATCH_HEADER_SIZE;
    size_t n = varint_encode_s32(r, MARKER_RECORD_BODY);
    r[n++] = 0;                       /* attributes */
    n += varint_encode_s64(r + n, 0); /* timestampDelta */
    n += varint_encode_s32(r + n, 0); /* offsetDelta */
    n += varint_encode_s32(r + n, 4); /* key */
    be16_store(r + n, 0);
    be16_store(r + n + 2, commit ? CONTROL_TYPE_COMMIT : CONTROL_TYPE_ABORT);
    n += 4;
    n += varint_encode_s32(r + n, 6); /* value */
    be16_store(r + n, 0);
    be32_store(r + n + 2, (uint32_t)coordinator_epoch);
    n += 6;
    n += varint_encode_s32(r + n, 0); /* headers */
    uint32_t crc =
        crc32c(0, out + RECORD_BATCH_CRC_START, CONTROL_BATCH_MARKER_SIZE - RECORD_BATCH_CRC_START);
    be32_store(out + RECORD_BATCH_OFF_CRC, crc);
}

/* A zigzag varint length followed by that many bytes; *field points at them. */
static int read_field(const uint8_t *p, size_t len, size_t *pos, const uint8_t **field,
                      int32_t *flen)
{
    int rv = varint_decode_s32(p + *pos, len - *pos, flen);
    if (rv < 0) {
        return -1;
    }
    *pos += (size_t)rv;
    if (*flen < 0) {
        *field = NULL;
        return 0;
    }
    if ((size_t)*flen > len - *pos) {
        return -1;
    }
    *field = p + *pos;
    *pos += (size_t)*flen;
    return 0;
}

int control_batch_read_marker(const uint8_t *batch, size_t len, const struct record_batch_header *h,
                              struct control_marker *out)
{
    if ((h->attributes & RECORD_BATCH_ATTR_CONTROL) == 0 || len < RECORD_BATCH_HEADER_SIZE ||
        (int64_t)len < record_batch_size(h)) {
        return LOG_ERR_CORRUPT;
    }
    if (record_batch_compression(h) != 0 || h->records_count != 1) {
        return 1;
    }
    const uint8_t *p = batch + RECORD_BATCH_HEADER_SIZE;
    size_t end = (size_t)record_batch_size(h) - RECORD_BATCH_HEADER_SIZE, pos = 0;
    int32_t body, i32;
    int64_t i64;
    int rv = varint_decode_s32(p, end, &body);
    if (rv < 0 || body < 0 || (size_t)body > end - (size_t)rv) {
        return LOG_ERR_CORRUPT;
    }
    pos = (size_t)rv;
    end = pos + (size_t)body;
    if (pos >= end) {
        return LOG_ERR_CORRUPT;
    }
    pos++; /* attributes */
    if ((rv = varint_decode_s64(p + pos, end - pos, &i64)) < 0) {
        return LOG_ERR_CORRUPT;
    }
    pos += (size_t)rv;
    if ((rv = varint_decode_s32(p + pos, end - pos, &i32)) < 0) {
        return LOG_ERR_CORRUPT;
    }
    pos += (size_t)rv;
    const uint8_t *key, *value;
    int32_t klen, vlen;
    if (read_field(p, end, &pos, &key, &klen) < 0 || read_field(p, end, &pos, &value, &vlen) < 0) {
        return LOG_ERR_CORRUPT;
    }
    if (key == NULL || klen < 4) {
        return LOG_ERR_CORRUPT;
    }
    int16_t type = (int16_t)be16_load(key + 2);
    if (type != CONTROL_TYPE_ABORT && type != CONTROL_TYPE_COMMIT) {
        return 1;
    }
    if (value == NULL || vlen < 6) {
        return LOG_ERR_CORRUPT;
    }
    out->type = type;
    out->coordinator_epoch = (int32_t)be32_load(value + 2);
    return 0;
}
