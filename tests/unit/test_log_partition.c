/* partition_log: append, read, rolls, indexes, offsets, truncation,
 * DeleteRecords, checkpoints, reopen. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/partition_log.h"
#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

static uv_loop_t loop;
static char *dir;
static struct tb_clock clk = {1700000000000};
static const struct log_clock clock_ = {tb_clock_now, &clk};

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    tb_rmdir(dir);
}

static struct partition_log *open_log(const struct topic_config *tc)
{
    struct partition_log *log = NULL;
    char err[256] = "";
    char path[4096];
    snprintf(path, sizeof path, "%s/topic-0", dir);
    ck_assert_msg(partition_log_open(&loop, path, tc, &clock_, &log, err, sizeof err) == 0, "%s",
                  err);
    return log;
}

static const char *pdir(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/topic-0", dir);
    return path;
}

/* Append one batch of `count` records; returns its first offset. */
static int64_t append(struct partition_log *log, int count, size_t value_len, uint32_t seed)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, count, value_len, clk.now, seed);
    int rv = partition_log_append(log, b.data, b.len, 3, &info);
    ck_assert_msg(rv == 0, "append: %s (%s)", log_err_name(rv), info.reason);
    ck_assert_int_eq(info.last_offset - info.first_offset + 1, count);
    buf_free(&b);
    return info.first_offset;
}

/* Read everything from `from` with read_copy, checking batch continuity. */
static void read_all(struct partition_log *log, int64_t from, struct buf *out)
{
    int64_t next = from;
    while (next < partition_log_end_offset(log)) {
        struct log_read_result r;
        size_t before = out->len;
        ck_assert_int_eq(partition_log_read_copy(log, next, 1, INT64_MAX, out, &r), 0);
        ck_assert_uint_gt(out->len, before);
        ck_assert_int_le(r.first_offset, next);
        ck_assert_int_gt(r.next_offset, next);
        next = r.next_offset;
    }
}

START_TEST(test_empty_log)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    struct log_read_result r;
    ck_assert_int_eq(partition_log_start_offset(log), 0);
    ck_assert_int_eq(partition_log_end_offset(log), 0);
    ck_assert_int_eq(partition_log_high_watermark(log), 0);
    ck_assert_int_eq(partition_log_read(log, 0, 1000, INT64_MAX, &r), 0);
    ck_assert_uint_eq(r.length, 0);
    log_read_result_release(&r);
    ck_assert_int_eq(partition_log_read(log, 1, 1000, INT64_MAX, &r), LOG_ERR_OFFSET_OUT_OF_RANGE);
    int64_t off, ts;
    ck_assert_int_eq(partition_log_offset_for_timestamp(log, 0, &off, &ts), 0);
    ck_assert_int_eq(off, -1);
    ck_assert_int_eq(partition_log_close(log), 0);
    ck_assert_int_eq(tb_file_size(pdir(), "00000000000000000000.log"), 0);
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_end_offset(log), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_append_assigns_offsets_in_place)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 3, 10, 100, 1);
    size_t first = b.len;
    tb_batch(&b, 2, 10, 200, 2);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 9, &info), 0);
    ck_assert_int_eq(info.first_offset, 0);
    ck_assert_int_eq(info.last_offset, 4);
    ck_assert_int_eq(info.records, 5);
    ck_assert_int_eq(info.batches, 2);
    ck_assert_int_eq(info.max_timestamp, 201);
    ck_assert_int_eq(info.log_append_time, -1);
    ck_assert_int_eq((int64_t)be64_load(b.data), 0);
    ck_assert_int_eq((int64_t)be64_load(b.data + first), 3);
    ck_assert_int_eq((int32_t)be32_load(b.data + first + 12), 9);
    ck_assert_int_eq(partition_log_end_offset(log), 5);
    struct buf got = BUF_INIT;
    read_all(log, 0, &got);
    ck_assert_uint_eq(got.len, b.len);
    ck_assert_mem_eq(got.data, b.data, b.len);
    buf_free(&got);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_bad_batch_writes_nothing)
{
    struct topic_config tc;
    tb_topic_config(&tc, "max.message.bytes=2000", NULL);
    struct partition_log *log = open_log(&tc);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    append(log, 1, 10, 1);
    int64_t size = partition_log_size_bytes(log);
    /* A good batch followed by a bad-CRC one: neither is written. */
    tb_batch(&b, 2, 10, 0, 2);
    size_t second = b.len;
    tb_batch(&b, 2, 10, 0, 3);
    b.data[b.len - 1] ^= 1;
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), LOG_ERR_CORRUPT);
    ck_assert(info.reason[0] != '\0');
    ck_assert_int_eq((int64_t)be64_load(b.data), 0); /* not rewritten */
    /* Truncated buffer, oversize batch, count mismatch, empty buffer. */
    ck_assert_int_eq(partition_log_append(log, b.data, second - 1, 0, &info), LOG_ERR_CORRUPT);
    buf_reset(&b);
    tb_batch(&b, 3, 1000, 0, 4);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), LOG_ERR_TOO_LARGE);
    buf_reset(&b);
    tb_batch(&b, 3, 10, 0, 5);
    be32_store(b.data + 23, 5);
    tb_fix_crc(b.data);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), LOG_ERR_INVALID_RECORD);
    ck_assert_int_eq(partition_log_append(log, b.data, 0, 0, &info), LOG_ERR_CORRUPT);
    ck_assert_int_eq(partition_log_end_offset(log), 1);
    ck_assert_int_eq(partition_log_size_bytes(log), size);
    ck_assert_int_eq(tb_file_size(pdir(), "00000000000000000000.log"), size);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* Batches the size producers send (16 KiB here) take the CRC's long path
 * (256-byte blocks, then 64- and 16-byte steps and a byte tail): one
 * flipped bit anywhere under the CRC still rejects the batch as corrupt, on
 * the leader and on a follower, and nothing is written. */
START_TEST(test_large_corrupt_batch_rejected)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 16, 1000, clk.now, 9);
    ck_assert_uint_gt(b.len, 16000);
    size_t covered = b.len - RECORD_BATCH_CRC_START;
    const size_t at[] = {RECORD_BATCH_CRC_START,
                         RECORD_BATCH_CRC_START + 255,
                         RECORD_BATCH_CRC_START + 256,
                         b.len / 2,
                         RECORD_BATCH_CRC_START + covered / 256 * 256 + 70,
                         b.len - 20,
                         b.len - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        b.data[at[i]] ^= 0x04;
        ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), LOG_ERR_CORRUPT);
        ck_assert_msg(strstr(info.reason, "CRC") != NULL, "%s", info.reason);
        ck_assert_int_eq(partition_log_append_as_follower(log, b.data, b.len, &info),
                         LOG_ERR_CORRUPT);
        b.data[at[i]] ^= 0x04;
    }
    ck_assert_int_eq(partition_log_end_offset(log), 0);
    ck_assert_int_eq(partition_log_size_bytes(log), 0);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), 0);
    ck_assert_int_eq(partition_log_end_offset(log), 16);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_rolls_and_every_offset_reads)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=4000", "index.interval.bytes=300", NULL);
    struct partition_log *log = open_log(&tc);
    int64_t starts[200];
    int n = 0;
    for (int i = 0; i < 60; i++) {
        starts[n++] = append(log, 1 + i % 4, 50 + (size_t)i * 3, (uint32_t)i);
    }
    ck_assert_int_gt(partition_log_segment_count(log), 5);
    int64_t end = partition_log_end_offset(log);
    /* Every offset, including each segment's first and last: the batch
     * containing it comes back first. */
    for (int64_t o = 0; o < end; o++) {
        struct log_read_result r;
        struct record_batch_header h;
        uint8_t hdr[RECORD_BATCH_HEADER_SIZE];
        ck_assert_int_eq(partition_log_read(log, o, 1, INT64_MAX, &r), 0);
        ck_assert_int_eq(r.batches, 1);
        ck_assert_int_eq(pread(r.fd, hdr, sizeof hdr, r.position), (ssize_t)sizeof hdr);
        record_batch_parse(hdr, sizeof hdr, &h);
        ck_assert_int_le(h.base_offset, o);
        ck_assert_int_ge(record_batch_last_offset(&h), o);
        ck_assert_int_eq(h.base_offset, r.first_offset);
        ck_assert_uint_eq((size_t)record_batch_size(&h), r.length);
        log_read_result_release(&r);
    }
    for (int i = 0; i < n; i++) {
        struct log_read_result r;
        ck_assert_int_eq(partition_log_read(log, starts[i], 1, INT64_MAX, &r), 0);
        ck_assert_int_eq(r.first_offset, starts[i]);
        log_read_result_release(&r);
    }
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_read_limits)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 10; i++) {
        append(log, 2, 100, (uint32_t)i);
    }
    struct log_read_result r;
    struct buf b = BUF_INIT;
    /* max_bytes smaller than a batch: still one whole batch. */
    ck_assert_int_eq(partition_log_read(log, 4, 10, INT64_MAX, &r), 0);
    ck_assert_int_eq(r.batches, 1);
    ck_assert_int_eq(r.first_offset, 4);
    ck_assert_int_eq(r.next_offset, 6);
    size_t one = r.length;
    log_read_result_release(&r);
    ck_assert_int_eq(partition_log_read(log, 4, one * 3 + 1, INT64_MAX, &r), 0);
    ck_assert_int_eq(r.batches, 3);
    ck_assert_uint_eq(r.length, one * 3);
    log_read_result_release(&r);
    /* Inside a batch: from that batch's start. */
    ck_assert_int_eq(partition_log_read(log, 5, 1 << 20, INT64_MAX, &r), 0);
    ck_assert_int_eq(r.first_offset, 4);
    ck_assert_int_eq(r.next_offset, 20);
    log_read_result_release(&r);
    /* High watermark bound: only batches wholly below it. */
    ck_assert_int_eq(partition_log_read(log, 0, 1 << 20, 7, &r), 0);
    ck_assert_int_eq(r.next_offset, 6);
    log_read_result_release(&r);
    ck_assert_int_eq(partition_log_read(log, 6, 1 << 20, 7, &r), 0);
    ck_assert_uint_eq(r.length, 0);
    log_read_result_release(&r);
    /* At the end: empty; beyond and below: out of range. */
    ck_assert_int_eq(partition_log_read(log, 20, 1 << 20, INT64_MAX, &r), 0);
    ck_assert_uint_eq(r.length, 0);
    ck_assert_int_eq(r.next_offset, 20);
    ck_assert_int_eq(partition_log_read(log, 21, 1 << 20, INT64_MAX, &r),
                     LOG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(partition_log_read(log, -1, 1 << 20, INT64_MAX, &r),
                     LOG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(partition_log_read_copy(log, 21, 100, INT64_MAX, &b, NULL),
                     LOG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_read_copy_matches_fd_range)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=3000", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 30; i++) {
        append(log, 3, 70, (uint32_t)i);
    }
    for (int64_t o = 0; o < partition_log_end_offset(log); o += 7) {
        struct log_read_result r, info;
        struct buf b = BUF_INIT;
        ck_assert_int_eq(partition_log_read(log, o, 1000, INT64_MAX, &r), 0);
        ck_assert_int_eq(partition_log_read_copy(log, o, 1000, INT64_MAX, &b, &info), 0);
        ck_assert_uint_eq(b.len, r.length);
        ck_assert_int_eq(info.first_offset, r.first_offset);
        ck_assert_int_eq(info.next_offset, r.next_offset);
        uint8_t *direct = malloc(r.length);
        ck_assert_int_eq(pread(r.fd, direct, r.length, r.position), (ssize_t)r.length);
        ck_assert_mem_eq(direct, b.data, b.len);
        free(direct);
        log_read_result_release(&r);
        buf_free(&b);
    }
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_reopen_reads_identical)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=5000", "index.interval.bytes=100", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 50; i++) {
        clk.now += 10;
        append(log, 1 + i % 5, 90, (uint32_t)i);
    }
    partition_log_set_high_watermark(log, 77);
    struct buf before = BUF_INIT, after = BUF_INIT;
    read_all(log, 0, &before);
    int64_t end = partition_log_end_offset(log);
    int segs = partition_log_segment_count(log);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_end_offset(log), end);
    ck_assert_int_eq(partition_log_segment_count(log), segs);
    ck_assert_int_eq(partition_log_high_watermark(log), 77);
    ck_assert_int_eq(partition_log_durable_offset(log), end);
    read_all(log, 0, &after);
    ck_assert_uint_eq(before.len, after.len);
    ck_assert_mem_eq(before.data, after.data, before.len);
    /* Appending after reopen continues the offsets. */
    ck_assert_int_eq(append(log, 2, 10, 99), end);
    ck_assert_int_eq(partition_log_close(log), 0);
    buf_free(&before);
    buf_free(&after);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_high_watermark_rules_and_checkpoint)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    append(log, 10, 10, 1);
    partition_log_set_high_watermark(log, 100);
    ck_assert_int_eq(partition_log_high_watermark(log), 10); /* never past the end */
    partition_log_set_high_watermark(log, 4);
    ck_assert_int_eq(partition_log_high_watermark(log), 10); /* never backwards */
    ck_assert_int_eq(partition_log_checkpoint(log), 0);
    ck_assert_int_gt(tb_file_size(pdir(), PARTITION_LOG_CHECKPOINT_FILE), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_high_watermark(log), 10);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_truncate_to)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=2000", "index.interval.bytes=100", NULL);
    struct partition_log *log = open_log(&tc);
    int64_t starts[40];
    for (int i = 0; i < 40; i++) {
        starts[i] = append(log, 2, 60, (uint32_t)i);
    }
    partition_log_set_high_watermark(log, 80);
    int segs = partition_log_segment_count(log);
    struct buf before = BUF_INIT, after = BUF_INIT;
    read_all(log, 0, &before);
    /* Truncate at a batch boundary in the middle. */
    ck_assert_int_eq(partition_log_truncate_to(log, starts[25]), 0);
    ck_assert_int_eq(partition_log_end_offset(log), starts[25]);
    ck_assert_int_eq(partition_log_high_watermark(log), starts[25]);
    ck_assert_int_lt(partition_log_segment_count(log), segs);
    read_all(log, 0, &after);
    ck_assert_uint_lt(after.len, before.len);
    ck_assert_mem_eq(after.data, before.data, after.len);
    /* Inside a batch: the whole batch goes. */
    ck_assert_int_eq(partition_log_truncate_to(log, starts[20] + 1), 0);
    ck_assert_int_eq(partition_log_end_offset(log), starts[20]);
    /* Past the end: no-op. Then appends continue from the new end. */
    ck_assert_int_eq(partition_log_truncate_to(log, 1000), 0);
    ck_assert_int_eq(append(log, 1, 5, 1), starts[20]);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_end_offset(log), starts[20] + 1);
    buf_reset(&after);
    read_all(log, 0, &after);
    ck_assert_mem_eq(after.data, before.data, after.len - 100);
    /* Fully, to an offset beyond. */
    ck_assert_int_eq(partition_log_truncate_fully_and_start_at(log, 500), 0);
    ck_assert_int_eq(partition_log_start_offset(log), 500);
    ck_assert_int_eq(partition_log_end_offset(log), 500);
    ck_assert_int_eq(append(log, 1, 5, 1), 500);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_start_offset(log), 500);
    ck_assert_int_eq(partition_log_end_offset(log), 501);
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    ck_assert_int_eq(partition_log_close(log), 0);
    buf_free(&before);
    buf_free(&after);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_delete_records)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1500", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 30; i++) {
        append(log, 2, 80, (uint32_t)i);
    }
    int segs = partition_log_segment_count(log);
    ck_assert_int_eq(partition_log_delete_records(log, 10), LOG_ERR_OFFSET_OUT_OF_RANGE); /* > HW */
    partition_log_set_high_watermark(log, 60);
    ck_assert_int_eq(partition_log_delete_records(log, 61), LOG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(partition_log_delete_records(log, 31), 0);
    ck_assert_int_eq(partition_log_start_offset(log), 31);
    ck_assert_int_lt(partition_log_segment_count(log), segs);
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read(log, 30, 100, INT64_MAX, &r), LOG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(partition_log_read(log, 31, 100, INT64_MAX, &r), 0);
    ck_assert_int_eq(r.first_offset, 30); /* the batch holding 31 */
    log_read_result_release(&r);
    ck_assert_int_eq(partition_log_delete_records(log, 5), 0); /* lower: no-op */
    ck_assert_int_eq(partition_log_start_offset(log), 31);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_start_offset(log), 31);
    /* Up to the end: everything below goes except the active segment. */
    partition_log_set_high_watermark(log, 60);
    ck_assert_int_eq(partition_log_delete_records(log, 60), 0);
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    ck_assert_int_eq(partition_log_read(log, 60, 100, INT64_MAX, &r), 0);
    ck_assert_uint_eq(r.length, 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_offset_for_timestamp)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=2000", "index.interval.bytes=200", NULL);
    struct partition_log *log = open_log(&tc);
    clk.now = 10000;
    for (int i = 0; i < 40; i++) {
        append(log, 4, 40, (uint32_t)i); /* records at now..now+3 */
        clk.now += 100;
    }
    for (int i = 0; i < 40; i++) {
        int64_t off, ts;
        int64_t batch_ts = 10000 + i * 100;
        ck_assert_int_eq(partition_log_offset_for_timestamp(log, batch_ts, &off, &ts), 0);
        ck_assert_int_eq(off, i * 4);
        ck_assert_int_eq(ts, batch_ts);
        ck_assert_int_eq(partition_log_offset_for_timestamp(log, batch_ts + 2, &off, &ts), 0);
        ck_assert_int_eq(off, i * 4 + 2);
        ck_assert_int_eq(ts, batch_ts + 2);
        ck_assert_int_eq(partition_log_offset_for_timestamp(log, batch_ts + 50, &off, &ts), 0);
        ck_assert_int_eq(off, i == 39 ? -1 : (i + 1) * 4);
    }
    int64_t off, ts;
    ck_assert_int_eq(partition_log_offset_for_timestamp(log, 0, &off, &ts), 0);
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    /* Same answers after reopen (time index loaded from disk). */
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_offset_for_timestamp(log, 10000 + 2050, &off, &ts), 0);
    ck_assert_int_eq(off, 21 * 4);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* Record timestamps are baseTimestamp + a producer-chosen delta: one that
 * overflows int64 wraps (as in Kafka's Java) instead of being undefined
 * behaviour (UBSan: signed integer overflow in the ListOffsets lookup). */
START_TEST(test_offset_for_timestamp_delta_overflow)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 2, 10, 0, 1);
    be64_store(b.data + 27, (uint64_t)(INT64_MAX - 3)); /* baseTimestamp */
    be64_store(b.data + 35, (uint64_t)INT64_MAX);       /* maxTimestamp */
    size_t rec1 = 61 + 1 + (size_t)(b.data[61] >> 1);   /* one-byte zigzag length */
    ck_assert_uint_eq(b.data[rec1 + 2], 2);             /* timestampDelta zigzag(1) */
    b.data[rec1 + 2] = 10;                              /* zigzag(5): past INT64_MAX */
    tb_fix_crc(b.data);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), 0);
    int64_t off, ts;
    ck_assert_int_eq(partition_log_offset_for_timestamp(log, INT64_MAX - 2, &off, &ts), 0);
    ck_assert_int_eq(off, 0); /* no record qualifies: the batch's base offset */
    ck_assert_int_eq(ts, INT64_MAX);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_follower_append)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch_ex(&b, 3, 10, 0, 1, 0, 0);
    tb_batch_ex(&b, 2, 10, 0, 2, 0, 3);
    ck_assert_int_eq(partition_log_append_as_follower(log, b.data, b.len, &info), 0);
    ck_assert_int_eq(info.first_offset, 0);
    ck_assert_int_eq(partition_log_end_offset(log), 5);
    ck_assert_int_eq(partition_log_append_as_follower(log, b.data, b.len, &info),
                     LOG_ERR_OFFSET_MISMATCH);
    buf_reset(&b);
    tb_batch_ex(&b, 1, 10, 0, 3, 0, 5);
    tb_batch_ex(&b, 1, 10, 0, 3, 0, 5); /* overlaps its predecessor */
    ck_assert_int_eq(partition_log_append_as_follower(log, b.data, b.len, &info),
                     LOG_ERR_OFFSET_MISMATCH);
    ck_assert_int_eq(partition_log_end_offset(log), 5);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_read_survives_segment_deletion)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1000", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 20; i++) {
        append(log, 2, 80, (uint32_t)i);
    }
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read(log, 0, 100000, INT64_MAX, &r), 0);
    uint8_t *want = malloc(r.length), *got = malloc(r.length);
    ck_assert_int_eq(pread(r.fd, want, r.length, r.position), (ssize_t)r.length);
    partition_log_set_high_watermark(log, 40);
    ck_assert_int_eq(partition_log_delete_records(log, 40), 0);
    ck_assert_int_eq(tb_file_size(pdir(), "00000000000000000000.log"), -1);
    ck_assert_int_eq(pread(r.fd, got, r.length, r.position), (ssize_t)r.length);
    ck_assert_mem_eq(want, got, r.length);
    ck_assert_int_eq(partition_log_destroy(log), 0);
    ck_assert_int_eq(pread(r.fd, got, r.length, r.position), (ssize_t)r.length);
    log_read_result_release(&r);
    ck_assert_int_eq(tb_file_size(dir, "topic-0"), -1);
    free(want);
    free(got);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_large_read_of_many_small_batches)
{
    /* More batch headers than one read window holds. */
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 1500; i++) {
        append(log, 1, 20 + (size_t)(i % 7), (uint32_t)i);
    }
    struct buf one_by_one = BUF_INIT, bulk = BUF_INIT;
    read_all(log, 0, &one_by_one);
    ck_assert_uint_gt(one_by_one.len, 3 * 32 * 1024);
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read_copy(log, 0, 1 << 30, INT64_MAX, &bulk, &r), 0);
    ck_assert_int_eq(r.batches, 1500);
    ck_assert_int_eq(r.next_offset, 1500);
    ck_assert_uint_eq(bulk.len, one_by_one.len);
    ck_assert_mem_eq(bulk.data, one_by_one.data, bulk.len);
    /* A byte limit that ends mid-way: whole batches only, and no more. */
    buf_reset(&bulk);
    ck_assert_int_eq(partition_log_read_copy(log, 100, 50000, INT64_MAX, &bulk, &r), 0);
    ck_assert_uint_le(bulk.len, 50000);
    ck_assert_uint_gt(bulk.len, 50000 - 200);
    struct log_read_result next;
    ck_assert_int_eq(partition_log_read(log, r.next_offset, 1, INT64_MAX, &next), 0);
    ck_assert_int_eq(next.position, r.position + (int64_t)r.length);
    log_read_result_release(&next);
    buf_free(&one_by_one);
    buf_free(&bulk);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_index_entries_point_at_batches)
{
    struct topic_config tc;
    tb_topic_config(&tc, "index.interval.bytes=500", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 100; i++) {
        append(log, 1 + i % 3, 60, (uint32_t)i);
    }
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log(&tc);
    char path[4200];
    snprintf(path, sizeof path, "%s/00000000000000000000.index", pdir());
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t e[8];
    int entries = 0;
    int64_t prev_pos = -1;
    while (fread(e, 1, 8, f) == 8) {
        int64_t off = be32_load(e), pos = be32_load(e + 4);
        ck_assert_int_gt(pos, prev_pos);
        prev_pos = pos;
        /* The entry names the batch at `pos` by its last offset. */
        struct log_read_result r;
        ck_assert_int_eq(partition_log_read(log, off, 1, INT64_MAX, &r), 0);
        ck_assert_int_eq(r.position, pos);
        ck_assert_int_eq(r.next_offset, off + 1);
        log_read_result_release(&r);
        /* Just past the entry: the next batch (none at the log end). */
        ck_assert_int_eq(partition_log_read(log, off + 1, 1, INT64_MAX, &r), 0);
        ck_assert_int_eq(r.first_offset, off + 1 < partition_log_end_offset(log) ? off + 1 : -1);
        log_read_result_release(&r);
        entries++;
    }
    fclose(f);
    ck_assert_int_gt(entries, 10);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_partition");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_empty_log);
    tcase_add_test(tc, test_append_assigns_offsets_in_place);
    tcase_add_test(tc, test_bad_batch_writes_nothing);
    tcase_add_test(tc, test_large_corrupt_batch_rejected);
    tcase_add_test(tc, test_rolls_and_every_offset_reads);
    tcase_add_test(tc, test_read_limits);
    tcase_add_test(tc, test_read_copy_matches_fd_range);
    tcase_add_test(tc, test_reopen_reads_identical);
    tcase_add_test(tc, test_high_watermark_rules_and_checkpoint);
    tcase_add_test(tc, test_truncate_to);
    tcase_add_test(tc, test_delete_records);
    tcase_add_test(tc, test_offset_for_timestamp);
    tcase_add_test(tc, test_offset_for_timestamp_delta_overflow);
    tcase_add_test(tc, test_follower_append);
    tcase_add_test(tc, test_read_survives_segment_deletion);
    tcase_add_test(tc, test_large_read_of_many_small_batches);
    tcase_add_test(tc, test_index_entries_point_at_batches);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
