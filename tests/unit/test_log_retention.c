/* partition_log retention (retention.bytes, retention.ms with an injected
 * clock), segment.ms rolls and runtime config changes. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker/log/partition_log.h"
#include "common/bigendian.h"
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

/* ---- the retention deadline (what lets an owner visit only due logs) ---- */

static int deadline_calls;

static void on_work(void *data, struct partition_log *log)
{
    (void)data;
    (void)log;
}

static int on_checkpoint_now(void *data, struct partition_log *log)
{
    (void)data;
    (void)log;
    return 0;
}

static void on_closed(void *data, struct partition_log *log, const struct log_checkpoint *cp)
{
    (void)data;
    (void)log;
    (void)cp;
}

static void on_deadline(void *data, struct partition_log *log)
{
    (void)data;
    (void)log;
    deadline_calls++;
}

static struct partition_log *open_owned(const struct topic_config *tc)
{
    struct partition_log *log = NULL;
    char err[256] = "";
    struct partition_log_owner owner = {on_work, on_checkpoint_now, on_closed, NULL, NULL,
                                        NULL,    on_deadline};
    deadline_calls = 0;
    ck_assert_msg(partition_log_open_owned(&loop, pdir, tc, &clock_, NULL, &owner, &log, err,
                                           sizeof err) == 0,
                  "%s", err);
    return log;
}

#define NO_PRODUCERS 86400000LL

/* The deadline is the oldest segment's largest timestamp + retention.ms + 1:
 * a millisecond before it retention deletes nothing, at it exactly that
 * segment, and the next deadline is the next segment's. */
START_TEST(test_deadline_is_when_the_oldest_segment_expires)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.ms=1000", "retention.ms=20000", NULL);
    struct partition_log *log = open_owned(&tc);
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), INT64_MAX);
    append(log, 1);
    ck_assert_int_eq(deadline_calls, 0);
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), INT64_MAX);
    for (int i = 1; i < 5; i++) {
        clk.now += 1001;
        append(log, 1); /* rolls: segment i holds the record stamped T0 + i*1001 */
    }
    ck_assert_int_eq(deadline_calls, 4); /* one per roll */
    ck_assert_int_eq(partition_log_segment_count(log), 5);
    partition_log_set_high_watermark(log, 5);
    int64_t deadline = partition_log_retention_deadline(log, NO_PRODUCERS);
    ck_assert_int_eq(deadline, T0 + 20000 + 1);
    ck_assert_int_eq(partition_log_apply_retention(log, deadline - 1), 0);
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), deadline);
    ck_assert_int_eq(partition_log_apply_retention(log, deadline), 1);
    ck_assert_int_eq(partition_log_start_offset(log), 1);
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), T0 + 1001 + 20000 + 1);
    /* Down to the active segment: no deadline until the next roll. */
    ck_assert_int_eq(partition_log_apply_retention(log, T0 + 1000000000), 3);
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), INT64_MAX);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* A dynamic config change to a shorter retention.ms tells the owner, and
 * the new, earlier deadline deletes exactly the segments expired under it. */
START_TEST(test_shorter_retention_moves_the_deadline_earlier)
{
    struct topic_config tc, shorter;
    tb_topic_config(&tc, "segment.ms=1000", "retention.ms=604800000", NULL);
    tb_topic_config(&shorter, "segment.ms=1000", "retention.ms=3000", NULL);
    struct partition_log *log = open_owned(&tc);
    for (int i = 0; i < 6; i++) {
        append(log, 1);
        clk.now += 1001;
    }
    partition_log_set_high_watermark(log, 6);
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), T0 + 604800000LL + 1);
    int calls = deadline_calls;
    partition_log_set_config(log, &shorter);
    ck_assert_int_eq(deadline_calls, calls + 1);
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), T0 + 3000 + 1);
    /* At T0 + 2*1001 + 3001 the segments stamped T0 and T0 + 1001 and
     * T0 + 2002 are expired, T0 + 3003 is not. */
    ck_assert_int_eq(partition_log_apply_retention(log, T0 + 2 * 1001 + 3001), 3);
    ck_assert_int_eq(partition_log_start_offset(log), 3);
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), T0 + 3 * 1001 + 3001);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
    topic_config_free(&shorter);
}
END_TEST

/* retention.bytes: the append that takes the log past the limit by the
 * oldest segment's size tells the owner once, and the deadline is now. */
START_TEST(test_size_retention_due_after_the_append_that_crosses_it)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1000", "retention.bytes=3000", NULL);
    struct partition_log *log = open_owned(&tc);
    int appends = 0, calls_at_due = -1;
    while (appends < 200) {
        append(log, 2);
        appends++;
        if (partition_log_segment_count(log) >= 2 &&
            partition_log_retention_deadline(log, NO_PRODUCERS) == INT64_MIN) {
            calls_at_due = deadline_calls;
            break;
        }
    }
    ck_assert_int_ge(calls_at_due, 1);
    /* Just over: the last append crossed the limit (one batch ago it was not). */
    int64_t size = partition_log_size_bytes(log);
    ck_assert_int_gt(size, 3000);
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    ck_assert_int_eq(partition_log_apply_retention(log, clk.now), 1);
    ck_assert_int_ge(partition_log_size_bytes(log), 3000);
    ck_assert_int_ne(partition_log_retention_deadline(log, NO_PRODUCERS), INT64_MIN);
    /* Appends below the limit say nothing; the one that crosses it does
     * (a roll says so anyway). */
    for (int i = 0; i < 200; i++) {
        int before = deadline_calls, segs = partition_log_segment_count(log);
        append(log, 2);
        bool due = partition_log_retention_deadline(log, NO_PRODUCERS) == INT64_MIN;
        if (partition_log_segment_count(log) == segs) {
            ck_assert_int_eq(deadline_calls - before, (due ? 1 : 0));
        }
        if (due) {
            break;
        }
    }
    ck_assert_int_eq(partition_log_retention_deadline(log, NO_PRODUCERS), INT64_MIN);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* Idempotent producers expire producer.id.expiration.ms after their last
 * batch: the deadline covers them even with one segment and no retention. */
START_TEST(test_deadline_covers_producer_expiry)
{
    struct topic_config tc;
    tb_topic_config(&tc, "retention.ms=-1", NULL);
    struct partition_log *log = open_owned(&tc);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 1, 10, T0 - 5000, 1);
    be64_store(b.data + 43, 77); /* producerId */
    be16_store(b.data + 51, 0);  /* producerEpoch */
    be32_store(b.data + 53, 0);  /* baseSequence */
    tb_fix_crc(b.data);
    int calls = deadline_calls;
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), 0);
    ck_assert_int_eq(deadline_calls, calls + 1);
    ck_assert_int_eq(partition_log_retention_deadline(log, 60000), T0 - 5000 + 60000);
    ck_assert_uint_eq(partition_log_expire_producers(log, T0 - 5000 + 59999, 60000), 0);
    ck_assert_uint_eq(partition_log_expire_producers(log, T0 - 5000 + 60000, 60000), 1);
    ck_assert_int_eq(partition_log_retention_deadline(log, 60000), INT64_MAX);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
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
    tcase_add_test(tc, test_deadline_is_when_the_oldest_segment_expires);
    tcase_add_test(tc, test_shorter_retention_moves_the_deadline_earlier);
    tcase_add_test(tc, test_size_retention_due_after_the_append_that_crosses_it);
    tcase_add_test(tc, test_deadline_covers_producer_expiry);
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
