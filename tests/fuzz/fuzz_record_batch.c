/* Fuzz target: record batch validation (broker/log/record_batch.c), which
 * guards every produce and every follower fetch. The first input byte picks
 * the limits (from_client, walk_records, a max.message.bytes) and whether the
 * target first rewrites the CRC of the leading batch so that the checks
 * behind the CRC (producer rules, the record walk) get explored too; the rest
 * is a buffer of batches, validated one after another.
 * Invariants for every accepted batch: it lies inside the buffer, is at
 * least a header long and within the size limit; its CRC-32C, recomputed here
 * independently of the validator, matches the stored one; magic is 2; with
 * from_client the producer rules hold; with walk_records the codec id is
 * 0-4 (compressed bodies are covered by fuzz_record_decompress) and an uncompressed
 * batch's records parse and number recordsCount (checked by an independent
 * walker below); and loosening the limits never rejects an accepted batch. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "common/crc32c.h"
#include "common/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Skip one zigzag-varint-length byte field; -1 null allowed when nullable. */
static bool skip_field(const uint8_t *p, size_t end, size_t *pos, bool nullable)
{
    int64_t n;
    int rv = varint_decode_s64(p + *pos, end - *pos, &n);
    if (rv < 0)
        return false;
    *pos += (size_t)rv;
    if (n == -1 && nullable)
        return true;
    if (n < 0 || (uint64_t)n > end - *pos)
        return false;
    *pos += (size_t)n;
    return true;
}

/* An independent record walker: the records fill [p, p+len) exactly and
 * there are `count` of them. */
static bool records_well_formed(const uint8_t *p, size_t len, int32_t count)
{
    size_t pos = 0;
    int64_t i = 0;
    while (pos < len) {
        int64_t rec_len, ts, delta, headers;
        int rv = varint_decode_s64(p + pos, len - pos, &rec_len);
        if (rv < 0 || rec_len < 0 || (uint64_t)rec_len > len - pos - (size_t)rv)
            return false;
        pos += (size_t)rv;
        size_t end = pos + (size_t)rec_len, q = pos + 1;
        if (rec_len < 1)
            return false;
        if ((rv = varint_decode_s64(p + q, end - q, &ts)) < 0)
            return false;
        q += (size_t)rv;
        if ((rv = varint_decode_s64(p + q, end - q, &delta)) < 0 || delta != i)
            return false;
        q += (size_t)rv;
        if (!skip_field(p, end, &q, true) || !skip_field(p, end, &q, true))
            return false;
        if ((rv = varint_decode_s64(p + q, end - q, &headers)) < 0 || headers < 0)
            return false;
        q += (size_t)rv;
        for (int64_t h = 0; h < headers; h++) {
            if (!skip_field(p, end, &q, false) || !skip_field(p, end, &q, true))
                return false;
        }
        if (q != end)
            return false;
        pos = end;
        i++;
    }
    return i == count;
}

static void check_accepted(const uint8_t *p, size_t avail, const struct record_batch_limits *lim,
                           const struct record_batch_header *h)
{
    int64_t size = record_batch_size(h);
    if (size < RECORD_BATCH_HEADER_SIZE || (uint64_t)size > avail || h->magic != 2)
        abort();
    if (lim->max_batch_bytes > 0 && size > lim->max_batch_bytes)
        abort();
    uint32_t crc = crc32c(0, p + RECORD_BATCH_CRC_START, (size_t)size - RECORD_BATCH_CRC_START);
    if (crc != be32_load(p + RECORD_BATCH_OFF_CRC) || crc != h->crc)
        abort();
    if (lim->from_client && ((h->attributes & RECORD_BATCH_ATTR_CONTROL) || h->records_count <= 0 ||
                             (int64_t)h->last_offset_delta + 1 != h->records_count))
        abort();
    if (lim->walk_records && record_batch_compression(h) > 4)
        abort(); /* Kafka's codec ids are 0-4 */
    if (lim->walk_records && record_batch_compression(h) == 0 &&
        !records_well_formed(p + RECORD_BATCH_HEADER_SIZE, (size_t)size - RECORD_BATCH_HEADER_SIZE,
                             h->records_count))
        abort();
    /* Looser limits accept it too. */
    struct record_batch_limits loose = {0};
    struct record_batch_header h2;
    if (record_batch_validate(p, avail, &loose, &h2, NULL, 0) != 0 || h2.crc != h->crc ||
        h2.batch_length != h->batch_length || h2.base_offset != h->base_offset ||
        h2.records_count != h->records_count)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    struct record_batch_limits lim = {
        .from_client = mode & 1,
        .walk_records = mode & 2,
        .max_batch_bytes = (mode & 4) ? 256 : 0,
    };
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        abort();
    memcpy(buf, data + 1, len);
    if ((mode & 8) && len >= RECORD_BATCH_HEADER_SIZE) {
        /* Make the leading batch's CRC right, if its length fits. */
        int64_t bl = (int32_t)be32_load(buf + RECORD_BATCH_OFF_LENGTH);
        if (bl >= RECORD_BATCH_HEADER_SIZE - RECORD_BATCH_LOG_OVERHEAD &&
            (uint64_t)bl + RECORD_BATCH_LOG_OVERHEAD <= len)
            be32_store(buf + RECORD_BATCH_OFF_CRC,
                       crc32c(0, buf + RECORD_BATCH_CRC_START,
                              (size_t)bl + RECORD_BATCH_LOG_OVERHEAD - RECORD_BATCH_CRC_START));
    }
    size_t pos = 0;
    char reason[128];
    while (pos < len) {
        struct record_batch_header h;
        reason[0] = '\0';
        int rv = record_batch_validate(buf + pos, len - pos, &lim, &h, reason, sizeof reason);
        if (rv != 0) {
            if (rv >= 0 || reason[0] == '\0' || memchr(reason, '\0', sizeof reason) == NULL)
                abort(); /* a rejection is an error code with a reason */
            break;
        }
        check_accepted(buf + pos, len - pos, &lim, &h);
        pos += (size_t)record_batch_size(&h);
    }
    free(buf);
    return 0;
}
