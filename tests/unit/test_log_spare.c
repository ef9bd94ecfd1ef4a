/* Rolls take the next segment's files made ahead on the thread pool
 * (broker/log/log_spare.c, issue 14): no segment_create on the loop at a
 * roll once the spare is ready, the reopened log matches, a crash while the
 * spare is being named is recovered, and a leftover file of the new name
 * makes the roll create the files as before. segment_create is wrapped to
 * count its calls. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/partition_log.h"
#include "broker/log/segment.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

static uv_loop_t loop;
static char *dir;
static char pdir[4096];
static struct tb_clock clk = {1700000000000};
static const struct log_clock clock_ = {tb_clock_now, &clk};
static int creates;     /* segment_create calls */
static int spare_calls; /* segment_create_spare calls (on the pool) */
static int spare_fail;  /* 0, or the -errno segment_create_spare returns */

int __real_segment_create(const char *dir, int64_t base_offset, int64_t now_ms,
                          struct file_cache *cache, struct segment **out);
int __wrap_segment_create(const char *dir, int64_t base_offset, int64_t now_ms,
                          struct file_cache *cache, struct segment **out);

int __wrap_segment_create(const char *d, int64_t base_offset, int64_t now_ms,
                          struct file_cache *cache, struct segment **out)
{
    creates++;
    return __real_segment_create(d, base_offset, now_ms, cache, out);
}

int __real_segment_create_spare(const char *dir, struct segment **out);
int __wrap_segment_create_spare(const char *dir, struct segment **out);

static int spare_running;     /* segment_create_spare calls running now */
static int spare_running_max; /* the most at once */
static int spare_sleep_us;    /* each call takes at least this long */

int __wrap_segment_create_spare(const char *d, struct segment **out)
{
    __atomic_add_fetch(&spare_calls, 1, __ATOMIC_SEQ_CST);
    int running = __atomic_add_fetch(&spare_running, 1, __ATOMIC_SEQ_CST);
    int max = __atomic_load_n(&spare_running_max, __ATOMIC_SEQ_CST);
    while (running > max && !__atomic_compare_exchange_n(&spare_running_max, &max, running, false,
                                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    int sleep_us = __atomic_load_n(&spare_sleep_us, __ATOMIC_SEQ_CST);
    if (sleep_us > 0) {
        usleep((useconds_t)sleep_us);
    }
    int fail = __atomic_load_n(&spare_fail, __ATOMIC_SEQ_CST);
    int rv = fail != 0 ? fail : __real_segment_create_spare(d, out);
    __atomic_sub_fetch(&spare_running, 1, __ATOMIC_SEQ_CST);
    return rv;
}

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
    snprintf(pdir, sizeof pdir, "%s/topic-0", dir);
    creates = spare_calls = spare_fail = 0;
    spare_running = spare_running_max = spare_sleep_us = 0;
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    tb_rmdir(dir);
}

static struct partition_log *open_log(void)
{
    struct topic_config tc;
    struct partition_log *log = NULL;
    char err[256] = "";
    tb_topic_config(&tc, "segment.bytes=1000", NULL);
    ck_assert_msg(partition_log_open(&loop, pdir, &tc, &clock_, &log, err, sizeof err) == 0, "%s",
                  err);
    topic_config_free(&tc);
    return log;
}

/* One batch of 2 records of 100 bytes (seed = its first offset). */
static void append_only(struct partition_log *log)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 2, 100, clk.now, (uint32_t)partition_log_end_offset(log));
    int rv = partition_log_append(log, b.data, b.len, 0, &info);
    ck_assert_msg(rv == 0, "append: %s (%s)", log_err_name(rv), info.reason);
    buf_free(&b);
}

/* One batch, then the pool's work (the spare) runs. */
static void append(struct partition_log *log)
{
    append_only(log);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static int64_t read_all(struct partition_log *log)
{
    int64_t next = partition_log_start_offset(log), records = 0;
    while (next < partition_log_end_offset(log)) {
        struct buf out = BUF_INIT;
        struct log_read_result r;
        ck_assert_int_eq(partition_log_read_copy(log, next, 1, INT64_MAX, &out, &r), 0);
        ck_assert_int_eq(r.first_offset, next);
        records += r.next_offset - next;
        next = r.next_offset;
        buf_free(&out);
    }
    return records;
}

static bool exists(int64_t base, const char *ext)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%020lld%s", pdir, (long long)base, ext);
    return access(path, F_OK) == 0;
}

START_TEST(test_rolls_use_spares)
{
    struct partition_log *log = open_log();
    creates = 0;
    for (int i = 0; i < 40; i++) {
        append(log);
    }
    int segs = partition_log_segment_count(log);
    ck_assert_int_ge(segs, 5);
    /* Every roll took the spare made when the active segment neared it. */
    ck_assert_int_eq(creates, 0);
    ck_assert_int_eq(read_all(log), 80);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log();
    ck_assert_int_eq(partition_log_segment_count(log), segs);
    ck_assert_int_eq(partition_log_end_offset(log), 80);
    ck_assert_int_eq(read_all(log), 80);
    append(log);
    ck_assert_int_eq(read_all(log), 82);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* A crash after the spare's .log got its name, before its indexes did. */
START_TEST(test_crash_while_naming_a_spare)
{
    struct partition_log *log = open_log();
    while (partition_log_segment_count(log) < 3) {
        append(log);
    }
    int64_t end = partition_log_end_offset(log);
    ck_assert_int_eq(partition_log_close(log), 0);
    /* The active segment's indexes are empty: as if never linked. */
    char path[4200];
    int64_t active = -1;
    for (int64_t b = end; b >= 0 && active < 0; b--) {
        active = exists(b, ".log") ? b : -1;
    }
    ck_assert_int_ge(active, 0);
    snprintf(path, sizeof path, "%s/%020lld.index", pdir, (long long)active);
    ck_assert_int_eq(unlink(path), 0);
    snprintf(path, sizeof path, "%s/%020lld.timeindex", pdir, (long long)active);
    ck_assert_int_eq(unlink(path), 0);
    log = open_log();
    ck_assert_int_eq(partition_log_end_offset(log), end);
    ck_assert_int_eq(read_all(log), end);
    for (int i = 0; i < 10; i++) {
        append(log);
    }
    ck_assert_int_eq(read_all(log), end + 20);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log();
    ck_assert_int_eq(read_all(log), end + 20);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* A leftover index of the next segment's name (e.g. from a crash): the
 * spare cannot take the name, the roll creates the segment, truncating it. */
START_TEST(test_leftover_name_falls_back_to_create)
{
    struct partition_log *log = open_log();
    creates = 0;
    int segs = partition_log_segment_count(log);
    /* Fill the active segment to just below a roll, with the spare ready. */
    append(log);
    int64_t next_base = -1;
    for (int i = 0; i < 40 && partition_log_segment_count(log) == segs; i++) {
        next_base = partition_log_end_offset(log);
        char path[4200];
        snprintf(path, sizeof path, "%s/%020lld.index", pdir, (long long)next_base);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "garbage!", 8), 8);
        close(fd);
        append(log);
        if (partition_log_segment_count(log) == segs) {
            unlink(path);
        }
    }
    ck_assert_int_eq(partition_log_segment_count(log), segs + 1);
    ck_assert_int_eq(creates, 1);
    ck_assert(exists(next_base, ".log"));
    ck_assert_int_eq(read_all(log), partition_log_end_offset(log));
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log();
    ck_assert_int_eq(read_all(log), partition_log_end_offset(log));
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

static void on_work(void *data, struct partition_log *log)
{
    (void)data;
    (void)partition_log_take_work(log);
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

static int open_fd_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        n += fcntl(fd, F_GETFD) >= 0;
    }
    return n;
}

/* A spare waits in the descriptor cache like a segment, so under a bound of
 * 3 descriptors (the active segment's) none is made: it would push out
 * active segments and be closed itself before its roll. The rolls create
 * the files; no descriptor leaks, none stays counted. */
START_TEST(test_cache_may_close_a_spare)
{
    struct file_cache cache;
    partition_log_file_cache_init(&cache, 3);
    int fds_before = open_fd_count();
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1000", NULL);
    struct partition_log_owner owner = {on_work, on_checkpoint_now, on_closed, NULL, NULL, &cache};
    struct partition_log *log = NULL;
    char err[256] = "";
    ck_assert_msg(
        partition_log_open_owned(&loop, pdir, &tc, NULL, NULL, &owner, &log, err, sizeof err) == 0,
        "%s", err);
    topic_config_free(&tc);
    creates = 0;
    for (int i = 0; i < 40; i++) {
        append(log);
    }
    ck_assert_int_ge(partition_log_segment_count(log), 5);
    ck_assert_int_eq(creates, partition_log_segment_count(log) - 1);
    ck_assert_int_eq(spare_calls, 0);
    ck_assert_int_eq(read_all(log), 80);
    ck_assert_int_eq(partition_log_close(log), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_uint_eq(cache.open_fds, 0);
    ck_assert_int_eq(open_fd_count(), fds_before);
}
END_TEST

/* Logs that near their rolls together (a topic's partitions under one
 * segment.ms) share their broker's limit of 2 spare jobs at once: the pool
 * is not queued with one job per partition ahead of flushes and
 * checkpoints. The logs refused ask again at their next append; every
 * reservation is given back. */
START_TEST(test_spare_jobs_bounded_per_cache)
{
    enum { LOGS = 6 };
    struct file_cache cache;
    partition_log_file_cache_init(&cache, 0);
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1000", NULL);
    struct partition_log_owner owner = {on_work, on_checkpoint_now, on_closed, NULL, NULL, &cache};
    struct partition_log *logs[LOGS];
    for (int i = 0; i < LOGS; i++) {
        char path[4200], err[256] = "";
        snprintf(path, sizeof path, "%s/topic-%d", dir, i);
        ck_assert_msg(partition_log_open_owned(&loop, path, &tc, NULL, NULL, &owner, &logs[i], err,
                                               sizeof err) == 0,
                      "%s", err);
    }
    topic_config_free(&tc);
    /* Three batches bring a segment of 1000 bytes past 7/8; the loop does
     * not run, so no job completes before every log has asked. */
    __atomic_store_n(&spare_sleep_us, 20000, __ATOMIC_SEQ_CST);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < LOGS; i++) {
            append_only(logs[i]);
            ck_assert_uint_le(cache.reserved_fds, 2 * 3);
        }
    }
    ck_assert_uint_eq(cache.reserved_fds, 2 * 3);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(__atomic_load_n(&spare_calls, __ATOMIC_SEQ_CST), 2);
    ck_assert_int_le(__atomic_load_n(&spare_running_max, __ATOMIC_SEQ_CST), 2);
    ck_assert_uint_eq(cache.reserved_fds, 0);
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < LOGS; i++) {
            append(logs[i]);
        }
    }
    ck_assert_uint_eq(cache.reserved_fds, 0);
    for (int i = 0; i < LOGS; i++) {
        ck_assert_int_ge(partition_log_segment_count(logs[i]), 3);
        ck_assert_int_eq(read_all(logs[i]), 26);
        ck_assert_int_eq(partition_log_close(logs[i]), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_uint_eq(cache.open_fds, 0);
}
END_TEST

/* A spare that cannot be made (ENOSPC here; EMFILE, a lost directory) is
 * not asked for again before the roll, which creates the files itself: one
 * pool job and one warning per segment, not one per append near its end.
 * The next segment tries again. */
START_TEST(test_failed_spare_waits_for_the_roll)
{
    struct topic_config tc;
    struct partition_log *log = NULL;
    char err[256] = "";
    tb_topic_config(&tc, "segment.bytes=20000", NULL);
    ck_assert_msg(partition_log_open(&loop, pdir, &tc, &clock_, &log, err, sizeof err) == 0, "%s",
                  err);
    topic_config_free(&tc);
    creates = 0; /* the open created the first segment */
    __atomic_store_n(&spare_fail, -ENOSPC, __ATOMIC_SEQ_CST);
    int appends_near_roll = 0;
    while (partition_log_segment_count(log) == 1) {
        int before = spare_calls;
        append(log);
        appends_near_roll += spare_calls > 0 && before > 0;
    }
    ck_assert_int_gt(appends_near_roll, 5); /* several appends between 7/8 and the roll */
    ck_assert_int_eq(spare_calls, 1);
    ck_assert_int_eq(creates, 1);
    __atomic_store_n(&spare_fail, 0, __ATOMIC_SEQ_CST);
    while (partition_log_segment_count(log) == 2) {
        append(log);
    }
    ck_assert_int_eq(spare_calls, 2); /* the second segment's spare, made */
    ck_assert_int_eq(creates, 1);     /* and taken by its roll */
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("log_spare");
    TCase *tc = tcase_create("spare");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rolls_use_spares);
    tcase_add_test(tc, test_crash_while_naming_a_spare);
    tcase_add_test(tc, test_leftover_name_falls_back_to_create);
    tcase_add_test(tc, test_cache_may_close_a_spare);
    tcase_add_test(tc, test_failed_spare_waits_for_the_roll);
    tcase_add_test(tc, test_spare_jobs_bounded_per_cache);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
