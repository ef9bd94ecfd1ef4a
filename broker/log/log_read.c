/* Partition log reads: Fetch ranges, copies, and timestamp lookups. */
#include "broker/log/partition_log_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/varint.h"

static void result_empty(struct log_read_result *out, int64_t offset)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->first_offset = -1;
    out->next_offset = offset;
}

/* Find the first batch whose last offset >= offset, starting at segment
 * *seg_index. Returns 0 with *pos and *h (and `cur` on that segment), 1 if
 * there is none, or an error. */
static int locate(const struct partition_log *log, int64_t offset, struct segment_cursor *cur,
                  size_t *seg_index, int64_t *pos, struct record_batch_header *h)
{
    for (size_t i = *seg_index; i < log->nsegs; i++) {
        struct segment *seg = log->segs[i];
        int64_t p = i == *seg_index ? segment_lookup_position(seg, offset) : 0;
        segment_cursor_init(cur, seg);
        while (p < seg->size) {
            int rv = segment_read_header(cur, p, h);
            if (rv < 0) {
                return rv;
            }
            if (record_batch_last_offset(h) >= offset) {
                *seg_index = i;
                *pos = p;
                return 0;
            }
            p += record_batch_size(h);
        }
    }
    return 1;
}

/* Extend the range [start, *end) with whole batches below max_offset while
 * it stays within max_bytes. A batch whose offsets go back ends the range
 * too: a damaged baseOffset (outside the CRC) in a segment recovery did not
 * scan must not move the result's next offset backwards, or the reader
 * would fetch the same range again forever. */
static int extend(struct segment_cursor *cur, int64_t start, int64_t *end, size_t max_bytes,
                  int64_t max_offset, struct log_read_result *out)
{
    while (*end < cur->seg->size) {
        struct record_batch_header h;
        int rv = segment_read_header(cur, *end, &h);
        if (rv < 0) {
            return rv;
        }
        if (record_batch_last_offset(&h) >= max_offset || h.base_offset < out->next_offset ||
            (uint64_t)(*end - start + record_batch_size(&h)) > max_bytes) {
            break;
        }
        *end += record_batch_size(&h);
        out->next_offset = record_batch_last_offset(&h) + 1;
        out->batches++;
    }
    return 0;
}

int partition_log_read(struct partition_log *log, int64_t offset, size_t max_bytes,
                       int64_t max_offset, struct log_read_result *out)
{
    struct record_batch_header h;
    struct segment_cursor cur;
    int64_t pos;
    result_empty(out, offset);
    if (offset < log->start_offset || offset > log_end(log)) {
        return LOG_ERR_OFFSET_OUT_OF_RANGE;
    }
    if (offset == log_end(log) || offset >= max_offset) {
        return 0;
    }
    size_t i = log_segs_find(log, offset);
    int rv = locate(log, offset, &cur, &i, &pos, &h);
    if (rv != 0 || record_batch_last_offset(&h) >= max_offset) {
        return rv < 0 ? rv : 0;
    }
    struct segment *seg = log->segs[i];
    int64_t end = pos + record_batch_size(&h);
    out->first_offset = h.base_offset;
    out->next_offset = record_batch_last_offset(&h) + 1;
    out->batches = 1;
    if ((rv = extend(&cur, pos, &end, max_bytes, max_offset, out)) < 0) {
        result_empty(out, offset);
        return rv;
    }
    if ((rv = segment_use_log(seg)) < 0) {
        result_empty(out, offset);
        return rv;
    }
    segment_ref(seg); /* pinned: the cache leaves its files open while the result lives */
    out->segment = seg;
    out->fd = seg->log_fd;
    out->position = pos;
    out->length = (size_t)(end - pos);
    return 0;
}

void log_read_result_release(struct log_read_result *r)
{
    if (r->segment != NULL) {
        segment_unref(r->segment);
        r->segment = NULL;
        r->fd = -1;
    }
}

int partition_log_read_copy(struct partition_log *log, int64_t offset, size_t max_bytes,
                            int64_t max_offset, struct buf *out, struct log_read_result *info)
{
    struct log_read_result r;
    int rv = partition_log_read(log, offset, max_bytes, max_offset, &r);
    if (rv == 0 && r.length > 0) {
        if ((rv = buf_reserve(out, r.length)) == 0 &&
            (rv = segment_pread(r.segment, out->data + out->len, r.length, r.position)) == 0) {
            out->len += r.length;
        }
    }
    log_read_result_release(&r);
    if (info != NULL) {
        *info = r;
    }
    return rv;
}

/* First record of an uncompressed batch with timestamp >= ts and its
 * timestamp in *rec_ts (Kafka answers ListOffsets with the record, not the
 * batch); the base offset (and batch maxTimestamp) for compressed batches. */
static int64_t record_offset_for_timestamp(struct segment *seg, int64_t pos,
                                           const struct record_batch_header *h, int64_t ts,
                                           int64_t *rec_ts)
{
    size_t len = (size_t)record_batch_size(h) - RECORD_BATCH_HEADER_SIZE;
    int64_t found = h->base_offset;
    uint8_t *p;
    if (record_batch_compression(h) != 0 || (h->attributes & RECORD_BATCH_ATTR_LOG_APPEND_TIME) ||
        (p = malloc(len ? len : 1)) == NULL) {
        return found;
    }
    if (segment_pread(seg, p, len, pos + RECORD_BATCH_HEADER_SIZE) == 0) {
        for (size_t at = 0; at < len;) {
            int32_t rec_len, delta;
            int64_t ts_delta;
            int a = varint_decode_s32(p + at, len - at, &rec_len), b, c;
            if (a < 0 || rec_len < 1 || (size_t)rec_len > len - at - (size_t)a ||
                (b = varint_decode_s64(p + at + a + 1, (size_t)rec_len - 1, &ts_delta)) < 0 ||
                (c = varint_decode_s32(p + at + a + 1 + b, (size_t)rec_len - 1 - (size_t)b,
                                       &delta)) < 0) {
                break;
            }
            /* The delta is the producer's, unchecked: add as Kafka's Java
             * longs do (wrapping), not with C's undefined signed overflow. */
            int64_t rec = (int64_t)((uint64_t)h->base_timestamp + (uint64_t)ts_delta);
            if (rec >= ts) {
                found = h->base_offset + delta;
                *rec_ts = rec;
                break;
            }
            at += (size_t)a + (size_t)rec_len;
        }
    }
    free(p);
    return found;
}

int partition_log_offset_for_timestamp(struct partition_log *log, int64_t ts, int64_t *offset,
                                       int64_t *batch_ts)
{
    *offset = *batch_ts = -1;
    for (size_t i = 0; i < log->nsegs; i++) {
        struct segment *seg = log->segs[i];
        if (seg->max_timestamp < ts) {
            continue;
        }
        struct segment_cursor cur;
        segment_cursor_init(&cur, seg);
        for (int64_t p = segment_lookup_time_position(seg, ts); p < seg->size;) {
            struct record_batch_header h;
            int rv = segment_read_header(&cur, p, &h);
            if (rv < 0) {
                return rv;
            }
            if (h.max_timestamp >= ts && record_batch_last_offset(&h) >= log->start_offset) {
                *batch_ts = h.max_timestamp;
                int64_t o = record_offset_for_timestamp(seg, p, &h, ts, batch_ts);
                *offset = o > log->start_offset ? o : log->start_offset;
                return 0;
            }
            p += record_batch_size(&h);
        }
    }
    return 0;
}
