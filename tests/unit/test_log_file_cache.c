/* The segment descriptor bound (broker/log/file_cache.h): the LRU itself,
 * then logs sharing a small cache: appends, reads, retention, truncation,
 * flush and reopening work while the open descriptors stay within the
 * limit, and a read in flight keeps its segment's files open. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/log/file_cache.h"
#include "broker/log/partition_log.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

/* ---- the LRU on its own ---- */

struct fake {
    struct file_cache_entry e;
    bool busy;
    bool closed;
};

static bool fake_close(struct file_cache_entry *e)
{
    struct fake *f = (struct fake *)e;
    if (f->busy) {
        return false;
    }
    f->closed = true;
    return true;
}

START_TEST(test_lru_evicts_least_recent)
{
    struct file_cache c;
    struct fake f[4];
    memset(f, 0, sizeof f);
    file_cache_init(&c, 9, fake_close);
    for (int i = 0; i < 3; i++) {
        file_cache_opened(&c, &f[i].e, 3);
    }
    ck_assert_uint_eq(c.open_fds, 9);
    file_cache_touch(&f[0].e); /* order now 0, 2, 1: 1 is the least recent */
    file_cache_opened(&c, &f[3].e, 3);
    ck_assert(f[1].closed);
    ck_assert(!f[0].closed && !f[2].closed && !f[3].closed);
    ck_assert_uint_eq(c.open_fds, 9);
    ck_assert_uint_eq(c.entries, 3);
    ck_assert_ptr_null(f[1].e.cache);
    ck_assert_uint_eq(c.evictions, 1);
    file_cache_add_fds(&f[3].e, 1); /* a .txnindex opened: 10 > 9, 2 goes */
    ck_assert(f[2].closed);
    ck_assert_uint_eq(c.open_fds, 7);
    file_cache_forget(&f[0].e);
    file_cache_forget(&f[0].e); /* twice: a no-op */
    ck_assert_uint_eq(c.open_fds, 4);
    ck_assert_uint_eq(c.entries, 1);
}
END_TEST

START_TEST(test_lru_skips_entries_in_use)
{
    struct file_cache c;
    struct fake f[4];
    memset(f, 0, sizeof f);
    file_cache_init(&c, 6, fake_close);
    file_cache_opened(&c, &f[0].e, 3);
    file_cache_opened(&c, &f[1].e, 3);
    f[0].busy = f[1].busy = true;
    /* Nothing can close: the bound is passed rather than a read refused,
     * and the walk ends (each entry offered once). */
    file_cache_opened(&c, &f[2].e, 3);
    ck_assert(!f[0].closed && !f[1].closed && !f[2].closed);
    ck_assert_uint_eq(c.open_fds, 9);
    /* Once released, the next opening trims back to the bound. */
    f[0].busy = false;
    file_cache_opened(&c, &f[3].e, 3);
    ck_assert(f[0].closed);
    ck_assert(!f[3].closed);
    f[1].busy = false;
    file_cache_trim(&c, NULL);
    ck_assert_uint_le(c.open_fds, 6);
    file_cache_close_idle(&c);
    ck_assert_uint_eq(c.open_fds, 0);
    ck_assert_uint_eq(c.entries, 0);
}
END_TEST

START_TEST(test_lru_unbounded)
{
    struct file_cache c;
    struct fake f[50];
    memset(f, 0, sizeof f);
    file_cache_init(&c, 0, fake_close);
    for (int i = 0; i < 50; i++) {
        file_cache_opened(&c, &f[i].e, 3);
    }
    ck_assert_uint_eq(c.open_fds, 150);
    ck_assert_uint_eq(c.evictions, 0);
}
END_TEST

/* ---- logs sharing a small cache ---- */

#define MAX_FDS 12
#define NLOGS   3

static uv_loop_t loop;
static char *dir;
static struct file_cache cache;

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

static struct partition_log *open_owned_with(int i, const char *segment_bytes)
{
    struct topic_config tc;
    tb_topic_config(&tc, segment_bytes, "index.interval.bytes=100", NULL);
    char pdir[1024], err[256] = "";
    snprintf(pdir, sizeof pdir, "%s/t-%d", dir, i);
    struct partition_log_owner owner = {on_work, on_checkpoint_now, on_closed, NULL, NULL, &cache};
    struct partition_log *log = NULL;
    ck_assert_msg(
        partition_log_open_owned(&loop, pdir, &tc, NULL, NULL, &owner, &log, err, sizeof err) == 0,
        "%s", err);
    topic_config_free(&tc); /* the log keeps its own settings */
    return log;
}

static struct partition_log *open_owned(int i)
{
    return open_owned_with(i, "segment.bytes=1000");
}

static int open_fd_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        n += fcntl(fd, F_GETFD) >= 0;
    }
    return n;
}

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
    partition_log_file_cache_init(&cache, MAX_FDS);
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    ck_assert_uint_eq(cache.open_fds, 0);
    tb_rmdir(dir);
}

static void append_at(struct partition_log *log, int i, int64_t ts)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 2, 100, ts + i, (uint32_t)i);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), 0);
    buf_free(&b);
    uv_run(&loop, UV_RUN_DEFAULT); /* background flushes (rolls) finish, as on a broker */
}

/* Timestamps of 1970: segment.ms rolls at nearly every append. */
static void append(struct partition_log *log, int i)
{
    append_at(log, i, 1000);
}

/* Every offset of `log` reads back in order. */
static void read_all(struct partition_log *log)
{
    int64_t off = partition_log_start_offset(log), end = partition_log_end_offset(log);
    while (off < end) {
        struct buf b = BUF_INIT;
        struct log_read_result r;
        ck_assert_int_eq(partition_log_read_copy(log, off, 1 << 20, INT64_MAX, &b, &r), 0);
        ck_assert_int_eq(r.first_offset, off);
        ck_assert_uint_gt(b.len, 0);
        ck_assert_uint_le(cache.open_fds, MAX_FDS);
        off = r.next_offset;
        buf_free(&b);
    }
}

START_TEST(test_logs_stay_within_the_bound)
{
    int before = open_fd_count();
    struct partition_log *logs[NLOGS];
    for (int i = 0; i < NLOGS; i++) {
        logs[i] = open_owned(i);
    }
    for (int n = 0; n < 40; n++) {
        for (int i = 0; i < NLOGS; i++) {
            append(logs[i], n);
            ck_assert_uint_le(cache.open_fds, MAX_FDS);
        }
    }
    for (int i = 0; i < NLOGS; i++) {
        ck_assert_int_gt(partition_log_segment_count(logs[i]), 5);
        read_all(logs[i]);
    }
    ck_assert_uint_gt(cache.evictions, 0);
    /* The process holds what the cache counts (plus the loop's own). */
    ck_assert_int_le(open_fd_count() - before, MAX_FDS + 1);
    /* Truncation, retention and a synchronous flush on closed segments. */
    ck_assert_int_eq(partition_log_truncate_to(logs[0], 30), 0);
    ck_assert_int_eq(partition_log_end_offset(logs[0]), 30);
    partition_log_set_high_watermark(logs[1], partition_log_end_offset(logs[1]));
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1000", "retention.bytes=2000", NULL);
    partition_log_set_config(logs[1], &tc);
    topic_config_free(&tc);
    ck_assert_int_gt(partition_log_apply_retention(logs[1], 2000), 0);
    for (int i = 0; i < NLOGS; i++) {
        read_all(logs[i]);
        ck_assert_int_eq(partition_log_close(logs[i]), 0);
    }
    /* Reopened (recovery through the cache), everything is still there. */
    for (int i = 0; i < NLOGS; i++) {
        logs[i] = open_owned(i);
        ck_assert_uint_le(cache.open_fds, MAX_FDS);
    }
    ck_assert_int_eq(partition_log_end_offset(logs[0]), 30);
    for (int i = 0; i < NLOGS; i++) {
        read_all(logs[i]);
        ck_assert_int_eq(partition_log_close(logs[i]), 0);
    }
}
END_TEST

START_TEST(test_read_in_flight_keeps_its_files)
{
    struct partition_log *log = open_owned(0);
    for (int n = 0; n < 60; n++) {
        append(log, n);
    }
    struct log_read_result held;
    ck_assert_int_eq(partition_log_read(log, 0, 1 << 20, INT64_MAX, &held), 0);
    ck_assert_uint_gt(held.length, 0);
    uint8_t first[64];
    ck_assert_int_eq(pread(held.fd, first, sizeof first, held.position), (ssize_t)sizeof first);
    /* Use every other segment many times over: the held one is not closed. */
    read_all(log);
    read_all(log);
    ck_assert_uint_gt(cache.evictions, 0);
    ck_assert_int_ge(fcntl(held.fd, F_GETFD), 0);
    uint8_t again[64];
    ck_assert_int_eq(pread(held.fd, again, sizeof again, held.position), (ssize_t)sizeof again);
    ck_assert_mem_eq(first, again, sizeof first);
    /* Retention deletes the segment under the read: it stays readable. */
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1000", "retention.bytes=1000", NULL);
    partition_log_set_config(log, &tc);
    topic_config_free(&tc);
    ck_assert_int_gt(partition_log_apply_retention(log, 2000), 0);
    read_all(log);
    ck_assert_int_eq(pread(held.fd, again, sizeof again, held.position), (ssize_t)sizeof again);
    ck_assert_mem_eq(first, again, sizeof first);
    log_read_result_release(&held);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* A fetch of many partitions pins one segment each, past the bound; once
 * the results are released the cache is back within it, without waiting
 * for another segment to open. */
START_TEST(test_release_trims_back_to_the_bound)
{
    enum { N = 8 };
    struct partition_log *logs[N];
    struct log_read_result held[N];
    for (int i = 0; i < N; i++) {
        logs[i] = open_owned(i);
        append(logs[i], i);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(partition_log_read(logs[i], 0, 1 << 20, INT64_MAX, &held[i]), 0);
        ck_assert_uint_gt(held[i].length, 0);
    }
    ck_assert_uint_gt(cache.open_fds, MAX_FDS); /* 8 pinned segments, 24 descriptors */
    for (int i = 0; i < N; i++) {
        log_read_result_release(&held[i]);
    }
    ck_assert_uint_le(cache.open_fds, MAX_FDS);
    for (int i = 0; i < N; i++) {
        read_all(logs[i]);
        ck_assert_int_eq(partition_log_close(logs[i]), 0);
    }
}
END_TEST

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Appends reopen only a segment's .log: with index files closed, each
 * active segment costs the cache one descriptor, so 8 logs (24 descriptors
 * with their indexes) all stay open under a bound of 12 and appending to
 * them in turn closes nothing. The index entries they gather meanwhile
 * stay in memory and reach the files when the log closes. */
START_TEST(test_appends_hold_the_log_descriptor_only)
{
    enum { N = 8 };
    struct partition_log *logs[N];
    for (int i = 0; i < N; i++) {
        logs[i] = open_owned_with(i, "segment.bytes=1000000");
    }
    /* Timestamps of now: no segment.ms roll (a roll seals, which writes
     * the index files). */
    int64_t now = (int64_t)time(NULL) * 1000;
    for (int n = 0; n < 2; n++) { /* evicts what opening left with three descriptors */
        for (int i = 0; i < N; i++) {
            append_at(logs[i], n, now);
        }
    }
    unsigned long long evictions = cache.evictions;
    for (int n = 2; n < 20; n++) {
        for (int i = 0; i < N; i++) {
            append_at(logs[i], n, now);
            ck_assert_uint_le(cache.open_fds, MAX_FDS);
        }
    }
    ck_assert_uint_eq(cache.evictions, evictions);
    ck_assert_uint_eq(cache.entries, N); /* all open: with indexes they would need 24 */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(partition_log_close(logs[i]), 0);
        char path[1100];
        snprintf(path, sizeof path, "%s/t-%d/%020d.index", dir, i, 0);
        ck_assert_int_gt(file_size(path), 0);
        snprintf(path, sizeof path, "%s/t-%d/%020d.timeindex", dir, i, 0);
        ck_assert_int_gt(file_size(path), 0);
    }
    /* Reopened, a read from the middle finds its batch through the index. */
    for (int i = 0; i < N; i++) {
        logs[i] = open_owned_with(i, "segment.bytes=1000000");
        struct buf b = BUF_INIT;
        struct log_read_result r;
        ck_assert_int_eq(partition_log_read_copy(logs[i], 25, 1 << 20, INT64_MAX, &b, &r), 0);
        ck_assert_int_le(r.first_offset, 25);
        ck_assert_int_gt(r.next_offset, 25);
        buf_free(&b);
        read_all(logs[i]);
        ck_assert_int_eq(partition_log_close(logs[i]), 0);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_file_cache");
    TCase *lru = tcase_create("lru");
    tcase_add_test(lru, test_lru_evicts_least_recent);
    tcase_add_test(lru, test_lru_skips_entries_in_use);
    tcase_add_test(lru, test_lru_unbounded);
    suite_add_tcase(s, lru);
    TCase *logs = tcase_create("logs");
    tcase_add_checked_fixture(logs, setup, teardown);
    tcase_add_test(logs, test_logs_stay_within_the_bound);
    tcase_add_test(logs, test_read_in_flight_keeps_its_files);
    tcase_add_test(logs, test_release_trims_back_to_the_bound);
    tcase_add_test(logs, test_appends_hold_the_log_descriptor_only);
    suite_add_tcase(s, logs);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
