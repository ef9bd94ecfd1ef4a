/* partition_log retention (retention.bytes, retention.ms with an injected
 * clock), segment.ms rolls and runtime config changes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker/log/partition_log.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

#define T0 1700000000000LL

static uv_loop_t loop;
static char *dir;
static char pdir[1024];
static struct tb_clock clk;
static const struct log_clock clock_ = {tb_clock_now, &clk};

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
    snprintf(pdir, sizeof pdir, "%s/t-3", dir);
    clk.now = T0;
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
    ck_assert_msg(partition_log_open(&loop, pdir, tc, &clock_, &log, err, sizeof err) == 0, "%s",
                  err);
    return log;
}

static void append(struct partition_log *log, int count)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, count, 100, clk.now, 1);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), 0);
    buf_free(&b);
}

START_TEST(test_retention_bytes)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1000", "retention.bytes=3000", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 60; i++) {
        append(log, 2);
    }
    int64_t size = partition_log_size_bytes(log);
    int segs = partition_log_segment_count(log);
    ck_assert_int_gt(size, 6000);
    /* Nothing above the high watermark may go. */
    ck_assert_int_eq(partition_log_apply_retention(log, clk.now), 0);
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    int deleted = partition_log_apply_retention(log, clk.now);
    ck_assert_int_gt(deleted, 0);
    ck_assert_int_eq(partition_log_segment_count(log), segs - deleted);
    int64_t after = partition_log_size_bytes(log);
    ck_assert_int_lt(after, size);
    /* Kafka's rule: stop when deleting the oldest would go below the limit. */
    ck_assert_int_ge(after, 3000);
    ck_assert_int_lt(after - 3000, 1000);
    int64_t start = partition_log_start_offset(log);
    ck_assert_int_gt(start, 0);
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read(log, start - 1, 100, INT64_MAX, &r),
                     LOG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(partition_log_read(log, start, 100, INT64_MAX, &r), 0);
    ck_assert_int_eq(r.first_offset, start);
    log_read_result_release(&r);
    ck_assert_int_eq(partition_log_apply_retention(log, clk.now), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_start_offset(log), start);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_retention_ms)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.ms=1000", "retention.ms=20000", NULL);
    struct partition_log *log = open_log(&tc);
    /* One segment per second (segment.ms), records stamped with the clock. */
    for (int i = 0; i < 10; i++) {
        append(log, 1);
        clk.now += 1001;
    }
    ck_assert_int_eq(partition_log_segment_count(log), 10);
    partition_log_set_high_watermark(log, 10);
    ck_assert_int_eq(partition_log_apply_retention(log, clk.now), 0);
    /* Segment i holds the record stamped T0 + i*1001. */
    ck_assert_int_eq(partition_log_apply_retention(log, T0 + 3 * 1001 + 20001), 4);
    ck_assert_int_eq(partition_log_start_offset(log), 4);
    ck_assert_int_eq(partition_log_segment_count(log), 6);
    /* Far future: everything expired, the active segment stays. */
    ck_assert_int_eq(partition_log_apply_retention(log, T0 + 1000000000), 5);
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    ck_assert_int_eq(partition_log_start_offset(log), 9);
    ck_assert_int_eq(partition_log_end_offset(log), 10);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_no_retention_when_unlimited)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=500", "retention.ms=-1", "retention.bytes=-1", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 20; i++) {
        append(log, 1);
    }
    partition_log_set_high_watermark(log, 20);
    ck_assert_int_eq(partition_log_apply_retention(log, T0 + 1000000000000LL), 0);
    ck_assert_int_eq(partition_log_start_offset(log), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_config_change_at_runtime)
{
    struct topic_config tc, small;
    tb_topic_config(&tc, NULL);
    tb_topic_config(&small, "segment.bytes=400", "retention.bytes=0", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 10; i++) {
        append(log, 1);
    }
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    partition_log_set_config(log, &small);
    append(log, 1);
    append(log, 1);
    ck_assert_int_ge(partition_log_segment_count(log), 2);
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    ck_assert_int_gt(partition_log_apply_retention(log, clk.now), 0);
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
    topic_config_free(&small);
}
END_TEST

START_TEST(test_roll_when_index_full)
{
    /* segment.index.bytes=4096 holds 512 offset entries; an entry per batch. */
    struct topic_config tc;
    tb_topic_config(&tc, "segment.index.bytes=4096", "index.interval.bytes=0", NULL);
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 600; i++) {
        append(log, 1);
    }
    ck_assert_int_eq(partition_log_segment_count(log), 2);
    ck_assert_int_eq(partition_log_close(log), 0);
    char name[64];
    snprintf(name, sizeof name, "t-3/00000000000000000000.index");
    ck_assert_int_eq(tb_file_size(dir, name), 4096);
    topic_config_free(&tc);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_retention");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_retention_bytes);
    tcase_add_test(tc, test_retention_ms);
    tcase_add_test(tc, test_no_retention_when_unlimited);
    tcase_add_test(tc, test_config_change_at_runtime);
    tcase_add_test(tc, test_roll_when_index_full);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
