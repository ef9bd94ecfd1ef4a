/* partition_log durability: flush policy, flush requests on the thread
 * pool, close with a flush in flight, and full-disk appends. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "broker/log/partition_log.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

static uv_loop_t loop;
static char *dir;
static char pdir[1024];
static struct tb_clock clk = {1700000000000LL};
static const struct log_clock clock_ = {tb_clock_now, &clk};

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
    snprintf(pdir, sizeof pdir, "%s/t-0", dir);
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

static int append(struct partition_log *log, int count, size_t value_len)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, count, value_len, clk.now, 1);
    int rv = partition_log_append(log, b.data, b.len, 0, &info);
    buf_free(&b);
    return rv;
}

struct flush_result {
    int calls;
    int status;
    int64_t durable_at_cb;
    struct partition_log *log;
};

static void on_flush(struct log_flush_req *req, int status)
{
    struct flush_result *res = req->data;
    res->calls++;
    res->status = status;
    if (res->log != NULL) {
        res->durable_at_cb = partition_log_durable_offset(res->log);
    }
}

START_TEST(test_flush_request)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL); /* default policy: never flush on its own */
    struct partition_log *log = open_log(&tc);
    ck_assert_int_eq(append(log, 5, 10), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_durable_offset(log), 0);
    struct flush_result res = {.log = log};
    struct log_flush_req req = {.data = &res};
    ck_assert_int_eq(partition_log_flush(log, &req, on_flush), 0);
    ck_assert_int_eq(res.calls, 0); /* never from inside the call */
    ck_assert_int_eq(append(log, 2, 10), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, 0);
    ck_assert_int_ge(res.durable_at_cb, 5);
    /* A request made while one is in flight is served by the next flush. */
    struct flush_result res2 = {.log = log};
    struct log_flush_req req2 = {.data = &res2};
    ck_assert_int_eq(partition_log_flush(log, &req2, on_flush), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(res2.calls, 1);
    ck_assert_int_eq(partition_log_durable_offset(log), 7);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_flush_messages_policy)
{
    struct topic_config tc;
    tb_topic_config(&tc, "flush.messages=10", NULL);
    struct partition_log *log = open_log(&tc);
    ck_assert_int_eq(append(log, 4, 10), 0);
    ck_assert_int_eq(append(log, 4, 10), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_durable_offset(log), 0);
    ck_assert_int_eq(append(log, 4, 10), 0); /* 12 >= 10 */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_durable_offset(log), 12);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_flush_ms_policy)
{
    struct topic_config tc;
    tb_topic_config(&tc, "flush.ms=1000", NULL);
    struct partition_log *log = open_log(&tc);
    ck_assert_int_eq(append(log, 3, 10), 0);
    partition_log_flush_if_due(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_durable_offset(log), 0);
    clk.now += 1000;
    partition_log_flush_if_due(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_durable_offset(log), 3);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

static int work_calls;
static void count_work(void *data, struct partition_log *log)
{
    (void)data;
    (void)log;
    work_calls++;
}
static int no_checkpoint(void *data, struct partition_log *log)
{
    (void)data;
    (void)log;
    return 0;
}
static void closed_quietly(void *data, struct partition_log *log, const struct log_checkpoint *cp)
{
    (void)data;
    (void)log;
    (void)cp;
}

/* The log manager's flush timer visits the logs that report work. Unflushed
 * records keep a log on its list only under a flush.ms: by default (records
 * left to the page cache) a log written once must not be visited every
 * second from then on, which at thousands of partitions is most of an idle
 * broker's CPU. */
START_TEST(test_periodic_work_only_under_flush_ms)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log_owner owner = {count_work, no_checkpoint, closed_quietly, NULL, NULL,
                                        NULL,       NULL};
    struct partition_log *log = NULL;
    char err[256] = "";
    work_calls = 0;
    ck_assert_msg(partition_log_open_owned(&loop, pdir, &tc, &clock_, NULL, &owner, &log, err,
                                           sizeof err) == 0,
                  "%s", err);
    (void)partition_log_take_work(log); /* whatever opening reported */
    work_calls = 0;
    ck_assert_int_eq(append(log, 3, 10), 0);
    ck_assert_int_eq(work_calls, 1);
    ck_assert(!partition_log_take_work(log)); /* the timer lets go of it */
    ck_assert_int_eq(append(log, 3, 10), 0);
    ck_assert_int_eq(work_calls, 2); /* and the next append brings it back */
    ck_assert(!partition_log_take_work(log));

    /* A flush.ms set now needs the timer for the records already written. */
    topic_config_free(&tc);
    tb_topic_config(&tc, "flush.ms=1000", NULL);
    partition_log_set_config(log, &tc);
    ck_assert_int_eq(work_calls, 3);
    ck_assert(partition_log_take_work(log));
    ck_assert(partition_log_take_work(log)); /* kept until they are flushed */
    clk.now += 1000;
    partition_log_flush_if_due(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_durable_offset(log), 6);
    ck_assert(!partition_log_take_work(log));
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_close_with_flush_in_flight)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    ck_assert_int_eq(append(log, 3, 10), 0);
    struct flush_result res = {0};
    struct log_flush_req req = {.data = &res};
    ck_assert_int_eq(partition_log_flush(log, &req, on_flush), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    ck_assert_int_eq(res.calls, 1);
    ck_assert_int_eq(res.status, 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* the detached job finishes safely */
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_end_offset(log), 3);
    ck_assert_int_eq(partition_log_destroy(log), 0);
    ck_assert_int_eq(tb_file_size(dir, "t-0"), -1);
    topic_config_free(&tc);
}
END_TEST

/* A full disk, simulated with RLIMIT_FSIZE (writes past it fail with EFBIG
 * after writing what fits, like ENOSPC): the append fails and the partial
 * write is cut back. As in Kafka, a storage error is not retried in place:
 * the log takes no more appends (its directory goes offline) even once there
 * is room, until it is reopened. */
START_TEST(test_full_disk_append)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log(&tc);
    ck_assert_int_eq(append(log, 2, 100), 0);
    int64_t size = partition_log_size_bytes(log);
    struct rlimit lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
    struct rlimit small = {(rlim_t)size + 50, lim.rlim_max};
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    ck_assert_int_eq(append(log, 2, 100), -EFBIG);
    ck_assert_int_eq(partition_log_end_offset(log), 2);
    ck_assert_int_eq(partition_log_size_bytes(log), size);
    ck_assert_int_eq(tb_file_size(pdir, "00000000000000000000.log"), size);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ck_assert_int_eq(append(log, 2, 100), -EIO);
    ck_assert_int_eq(partition_log_end_offset(log), 2);
    ck_assert_int_eq(partition_log_close(log), -EFBIG);
    log = open_log(&tc);
    ck_assert_int_eq(partition_log_end_offset(log), 2);
    ck_assert_int_eq(append(log, 2, 100), 0);
    ck_assert_int_eq(partition_log_end_offset(log), 4);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_roll_flushes_in_background)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1000", NULL); /* default: no flush policy */
    struct partition_log *log = open_log(&tc);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(append(log, 1, 300), 0);
    }
    ck_assert_int_ge(partition_log_segment_count(log), 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Everything up to the latest roll is durable without anyone asking. */
    ck_assert_int_ge(partition_log_durable_offset(log), 3);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_flush");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_flush_request);
    tcase_add_test(tc, test_flush_messages_policy);
    tcase_add_test(tc, test_flush_ms_policy);
    tcase_add_test(tc, test_periodic_work_only_under_flush_ms);
    tcase_add_test(tc, test_close_with_flush_in_flight);
    tcase_add_test(tc, test_full_disk_append);
    tcase_add_test(tc, test_roll_flushes_in_background);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
