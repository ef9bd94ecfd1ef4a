/* DeleteRecords without disk I/O on the loop (issue 14): the new log start is
 * made durable by a checkpoint write on the thread pool, whoever answers
 * waits for it (dir_checkpoint_wait), the segments below it go only once it
 * landed, and a failed write fails the waiters and takes the directory
 * offline. fs_write_atomic (tmp, fsync, rename, directory fsync: every
 * checkpoint file write) is wrapped to see which thread writes and to fail;
 * realloc is wrapped to fail the formatting of the files on the pool. */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/data_dir.h"
#include "broker/log/log_errors.h"
#include "broker/log/offset_checkpoint_file.h"
#include "broker/replica/dir_checkpoint.h"
#include "broker/replica/log_manager.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

int __real_fs_write_atomic(const char *dir, const char *name, const void *data, size_t len);
int __wrap_fs_write_atomic(const char *dir, const char *name, const void *data, size_t len);

static uv_thread_t loop_thread;
/* fail_with fails every write, fail_pool_with those off the loop thread. */
static atomic_int writes, writes_on_loop, fail_with, fail_pool_with;

int __wrap_fs_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    uv_thread_t self = uv_thread_self();
    bool on_loop = uv_thread_equal(&self, &loop_thread);
    atomic_fetch_add(&writes, 1);
    if (on_loop) {
        atomic_fetch_add(&writes_on_loop, 1);
    }
    int err = atomic_load(&fail_with);
    if (err == 0 && !on_loop) {
        err = atomic_load(&fail_pool_with);
    }
    return err != 0 ? err : __real_fs_write_atomic(dir, name, data, len);
}

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

/* Reallocs to fail off the loop thread (the files are formatted on the
 * pool: a buf growing) and on it (a synchronous write copying the entries),
 * and how many were failed. */
static atomic_int fail_pool_reallocs, fail_loop_reallocs, failed_reallocs;

void *__wrap_realloc(void *p, size_t n)
{
    uv_thread_t self = uv_thread_self();
    atomic_int *fail =
        uv_thread_equal(&self, &loop_thread) ? &fail_loop_reallocs : &fail_pool_reallocs;
    if (atomic_load(fail) > 0) {
        atomic_fetch_sub(fail, 1);
        atomic_fetch_add(&failed_reallocs, 1);
        return NULL;
    }
    return __real_realloc(p, n);
}

static char *dir;
static struct sluice_config cfg;
static struct data_dirs dirs;
static uv_loop_t loop;
static struct log_manager lm;
static struct partition_log *log_;
static struct topic_config tc;

struct done {
    int calls;
    int status;
};

static void on_done(struct log_checkpoint_waiter *w, int status)
{
    struct done *d = w->data;
    d->calls++;
    d->status = status;
}

static void waiter_init(struct log_checkpoint_waiter *w, struct done *d)
{
    memset(w, 0, sizeof *w);
    memset(d, 0, sizeof *d);
    w->done = on_done;
    w->data = d;
}

static void run_until(const struct done *d)
{
    for (int turns = 0; d->calls == 0 && turns < 100000; turns++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(d->calls, 1);
}

static void on_opened(void *arg, int rv, struct partition_log *log, size_t dir_index,
                      const char *path)
{
    (void)dir_index;
    (void)path;
    ck_assert_int_eq(rv, 0);
    *(struct partition_log **)arg = log;
}

static void reset_counts(void)
{
    atomic_store(&writes, 0);
    atomic_store(&writes_on_loop, 0);
    atomic_store(&fail_with, 0);
    atomic_store(&fail_pool_with, 0);
    atomic_store(&fail_pool_reallocs, 0);
    atomic_store(&fail_loop_reallocs, 0);
    atomic_store(&failed_reallocs, 0);
}

static void setup(void)
{
    char err[256];
    loop_thread = uv_thread_self();
    reset_counts();
    dir = tb_tmpdir();
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    ck_assert_int_eq(sluice_config_set(&cfg, "log.dirs", dir, err, sizeof err), 0);
    ck_assert_int_eq(data_dirs_open(&dirs, dir, 1, err, sizeof err), 0);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(log_manager_init(&lm, &loop, &cfg, &dirs, NULL, NULL), 0);
    tb_topic_config(&tc, "segment.bytes=1000", NULL);
    uint8_t id[16];
    memset(id, 0x5a, sizeof id);
    log_ = NULL;
    ck_assert_int_eq(log_manager_open(&lm, "t", id, 0, &tc, -1, on_opened, &log_), 0);
    log_manager_wait_opens(&lm);
    ck_assert_ptr_nonnull(log_);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    for (int k = 0; k < 10; k++) {
        buf_reset(&b);
        tb_batch(&b, 2, 100, 1000, (uint32_t)k);
        ck_assert_int_eq(partition_log_append(log_, b.data, b.len, 0, &info), 0);
    }
    buf_free(&b);
    partition_log_set_high_watermark(log_, partition_log_end_offset(log_));
    ck_assert_int_ge(partition_log_segment_count(log_), 3);
}

static void teardown(void)
{
    if (log_ != NULL) {
        ck_assert_int_eq(partition_log_close(log_), 0);
        log_manager_release(&lm, 0);
    }
    log_manager_stop(&lm);
    uv_run(&loop, UV_RUN_DEFAULT);
    log_manager_close(&lm);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    data_dirs_close(&dirs);
    topic_config_free(&tc);
    sluice_config_free(&cfg);
    tb_rmdir(dir);
}

/* The log-start-offset-checkpoint's entry for `topic`-0, -1 if none. */
static int64_t start_of_on_disk(const char *topic)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, OFFSET_CHECKPOINT_LOG_START);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[256], name[64];
    long long off = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        long long o;
        if (sscanf(line, "%63s 0 %lld", name, &o) == 2 && strcmp(name, topic) == 0) {
            off = o;
        }
    }
    fclose(f);
    return off;
}

static int64_t start_on_disk(void)
{
    return start_of_on_disk("t");
}

START_TEST(test_answer_waits_for_a_pool_write)
{
    int segs = partition_log_segment_count(log_);
    int64_t target = partition_log_end_offset(log_) - 3; /* inside the last segments */
    struct log_checkpoint_waiter w;
    struct done d;
    waiter_init(&w, &d);
    ck_assert_int_eq(partition_log_advance_start(log_, target), 1);
    ck_assert_int_eq(partition_log_checkpoint_wait(log_, &w), 0);
    /* Nothing answered, nothing deleted yet; readers see the new start. */
    ck_assert_int_eq(d.calls, 0);
    ck_assert_int_eq(partition_log_segment_count(log_), segs);
    ck_assert(partition_log_start_offset(log_) == target);
    run_until(&d);
    ck_assert_int_eq(d.status, 0);
    ck_assert(start_on_disk() == target);
    ck_assert_int_eq(atomic_load(&writes), 3);
    ck_assert_int_eq(atomic_load(&writes_on_loop), 0);
    /* Once on disk the segments wholly below the start went. */
    ck_assert_int_lt(partition_log_segment_count(log_), segs);
    ck_assert(partition_log_start_offset(log_) == target);

    /* Asking again for a start already on disk moves nothing; it answers at
     * once, or after a pool write if other offsets (the recovery point)
     * moved meanwhile. */
    ck_assert_int_eq(partition_log_advance_start(log_, target), 0);
    waiter_init(&w, &d);
    int rv = partition_log_checkpoint_wait(log_, &w);
    if (rv == 0) {
        run_until(&d);
        ck_assert_int_eq(d.status, 0);
    } else {
        ck_assert_int_eq(rv, 1);
        ck_assert_int_eq(d.calls, 0);
        /* and with nothing changed since, at once for sure */
        waiter_init(&w, &d);
        ck_assert_int_eq(partition_log_checkpoint_wait(log_, &w), 1);
    }
    ck_assert_int_eq(atomic_load(&writes_on_loop), 0);
}
END_TEST

/* A burst of requests shares the writes: at most the one in flight and one
 * more, whatever the number of waiters. */
START_TEST(test_waiters_share_writes)
{
    enum { N = 8 };
    struct log_checkpoint_waiter w[N];
    struct done d[N];
    int64_t start = partition_log_start_offset(log_);
    for (int i = 0; i < N; i++) {
        waiter_init(&w[i], &d[i]);
        ck_assert_int_eq(partition_log_advance_start(log_, start + 1 + i), 1);
        ck_assert_int_eq(partition_log_checkpoint_wait(log_, &w[i]), 0);
    }
    run_until(&d[N - 1]);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(d[i].calls, 1);
        ck_assert_int_eq(d[i].status, 0);
    }
    ck_assert(start_on_disk() == start + N);
    ck_assert_int_le(atomic_load(&writes), 2 * 3);
    ck_assert_int_eq(atomic_load(&writes_on_loop), 0);
}
END_TEST

/* A failed write fails the answer (the client must not count the records
 * gone), keeps the segments, and takes the directory offline. */
START_TEST(test_failed_write_fails_the_waiter)
{
    int segs = partition_log_segment_count(log_);
    struct log_checkpoint_waiter w;
    struct done d;
    waiter_init(&w, &d);
    atomic_store(&fail_with, -EIO);
    ck_assert_int_eq(partition_log_advance_start(log_, partition_log_end_offset(log_) - 3), 1);
    ck_assert_int_eq(partition_log_checkpoint_wait(log_, &w), 0);
    run_until(&d);
    ck_assert_int_eq(d.status, -EIO);
    ck_assert_int_eq(partition_log_segment_count(log_), segs);
    ck_assert(lm.dir_offline[0]);
    ck_assert_int_eq(atomic_load(&writes_on_loop), 0);
    /* An offline directory refuses at once. */
    waiter_init(&w, &d);
    ck_assert_int_eq(partition_log_checkpoint_wait(log_, &w), LOG_ERR_CLOSED);
}
END_TEST

/* Move the log start to `target` and wait (`w`, answering `d`) for a pool
 * write of the checkpoint that will run out of memory formatting it. */
static void wait_for_unformatted_pool_write(struct log_checkpoint_waiter *w, struct done *d,
                                            int64_t target)
{
    waiter_init(w, d);
    atomic_store(&fail_pool_reallocs, 1);
    ck_assert_int_eq(partition_log_advance_start(log_, target), 1);
    ck_assert_int_eq(partition_log_checkpoint_wait(log_, w), 0);
}

/* Running out of memory while formatting the files on the pool is no
 * storage fault: the directory stays online, the waiter keeps waiting, and
 * the next checkpoint tick writes the state (and answers it). */
START_TEST(test_format_out_of_memory_retries_on_the_next_tick)
{
    char err[256];
    int segs = partition_log_segment_count(log_);
    int64_t target = partition_log_end_offset(log_) - 3;
    struct log_checkpoint_waiter w;
    struct done d;
    wait_for_unformatted_pool_write(&w, &d, target);
    uv_run(&loop, UV_RUN_DEFAULT); /* no timers yet: until the pool write is back */
    ck_assert_int_eq(atomic_load(&failed_reallocs), 1);
    ck_assert_int_eq(atomic_load(&writes), 0); /* it failed before writing */
    ck_assert_int_eq(d.calls, 0);
    ck_assert(!lm.dir_offline[0]);
    ck_assert_int_eq(partition_log_segment_count(log_), segs);

    ck_assert_int_eq(sluice_config_set(&cfg, "replica.high.watermark.checkpoint.interval.ms", "5",
                                       err, sizeof err),
                     0);
    log_manager_start_timers(&lm);
    run_until(&d);
    ck_assert_int_eq(d.status, 0);
    ck_assert(start_on_disk() == target);
    ck_assert(!lm.dir_offline[0]);
    ck_assert_int_lt(partition_log_segment_count(log_), segs);
    ck_assert_int_eq(atomic_load(&writes_on_loop), 0);
}
END_TEST

/* A synchronous write that lands while a pool write is in flight answers
 * the pool write's waiters even when that one runs out of memory formatting
 * the files: their state is on disk, and the next checkpoint tick (none
 * here: the timers are not started) is not needed. */
START_TEST(test_sync_write_answers_waiters_of_an_unformatted_pool_write)
{
    int64_t target = partition_log_end_offset(log_) - 3;
    struct log_checkpoint_waiter w;
    struct done d;
    wait_for_unformatted_pool_write(&w, &d, target); /* the pool write starts */
    ck_assert_int_eq(partition_log_advance_start(log_, target + 1), 1);
    ck_assert_int_eq(partition_log_checkpoint(log_), 0); /* lands on the loop, newer */
    ck_assert(start_on_disk() == target + 1);
    ck_assert_int_eq(d.calls, 0);  /* never from inside the synchronous write */
    uv_run(&loop, UV_RUN_DEFAULT); /* no timers yet: until the pool write is back */
    ck_assert_int_eq(atomic_load(&failed_reallocs), 1);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.status, 0);
    ck_assert(!lm.dir_offline[0]);
}
END_TEST

/* A synchronous write (a follower emptying its log) that runs out of memory
 * before touching the disk is treated as a pool write that did: no storage
 * fault reported to the log (which would keep its partition from following
 * the truncation), the directory stays online, and the next checkpoint tick
 * writes the state. */
START_TEST(test_sync_write_out_of_memory_is_written_by_the_next_tick)
{
    char err[256];
    int64_t target = partition_log_end_offset(log_) - 3;
    ck_assert_int_eq(partition_log_advance_start(log_, target), 1);
    atomic_store(&fail_loop_reallocs, 1);
    ck_assert_int_eq(partition_log_checkpoint(log_), 0);
    ck_assert_int_eq(atomic_load(&failed_reallocs), 1);
    ck_assert_int_eq(atomic_load(&writes), 0); /* it failed before writing */
    ck_assert(!lm.dir_offline[0]);

    ck_assert_int_eq(sluice_config_set(&cfg, "replica.high.watermark.checkpoint.interval.ms", "5",
                                       err, sizeof err),
                     0);
    log_manager_start_timers(&lm);
    for (int turns = 0; start_on_disk() != target && turns < 10000; turns++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert(start_on_disk() == target);
    ck_assert(!lm.dir_offline[0]);
}
END_TEST

static void set_flag(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Run the loop until `*flag` or `ms` milliseconds passed. */
static void run_until_flag_or(const bool *flag, uint64_t ms)
{
    static uv_timer_t pause; /* closed by the time teardown runs the loop */
    bool paused = false;
    uv_timer_init(&loop, &pause);
    pause.data = &paused;
    uv_timer_start(&pause, set_flag, ms, 0);
    while (!paused && !*flag) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&pause, NULL);
}

static void checkpoint_every_5ms(void)
{
    char err[256];
    ck_assert_int_eq(sluice_config_set(&cfg, "replica.high.watermark.checkpoint.interval.ms", "5",
                                       err, sizeof err),
                     0);
}

/* A changed entry ("other"-0), every write failing with `err`, and the
 * checkpoint tick every 5 ms. */
static void periodic_writes_failing_with(int err)
{
    struct log_checkpoint cp = {1, 2, 2};
    ck_assert_int_eq(dir_checkpoint_set(lm.checkpoints[0], "other", 0, &cp), 0);
    atomic_store(&fail_with, err);
    checkpoint_every_5ms();
    log_manager_start_timers(&lm);
}

/* A periodic checkpoint write that fails on the disk takes the directory
 * offline, as a failed write of its segments does (Kafka's checkpoint
 * writes report to its LogDirFailureChannel): the device is suspect. Before,
 * the error was logged and the write retried on every tick while the
 * directory went on taking records. */
START_TEST(test_failed_periodic_write_takes_the_directory_offline)
{
    periodic_writes_failing_with(-EIO);
    run_until_flag_or(&lm.dir_offline[0], 2000);
    ck_assert(lm.dir_offline[0]);
    ck_assert_int_ge(atomic_load(&writes), 1);
    ck_assert_int_eq(atomic_load(&writes_on_loop), 0);
}
END_TEST

/* Out of descriptors is no device fault: the directory stays online and
 * the next ticks retry until a write lands. */
START_TEST(test_periodic_write_out_of_descriptors_is_retried)
{
    periodic_writes_failing_with(-EMFILE);
    for (int turns = 0; turns < 10000 && atomic_load(&writes) < 3; turns++) {
        uv_run(&loop, UV_RUN_ONCE); /* the 5 ms tick keeps it from blocking */
    }
    ck_assert_int_ge(atomic_load(&writes), 3); /* each tick tried again */
    ck_assert(!lm.dir_offline[0]);
    ck_assert_int_eq(start_of_on_disk("other"), -1);
    atomic_store(&fail_with, 0);
    for (int turns = 0; turns < 10000 && start_of_on_disk("other") != 1; turns++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(start_of_on_disk("other"), 1); /* a later tick wrote it */
    ck_assert(!lm.dir_offline[0]);
}
END_TEST

/* A pool write that fails on the disk takes the directory offline even when
 * a synchronous write lands the same state meanwhile and answers its
 * waiter: the failure said the device is suspect all the same. */
START_TEST(test_failed_pool_write_takes_the_directory_offline_after_a_sync_write_landed)
{
    struct dir_checkpoint *dc = lm.checkpoints[0];
    struct log_checkpoint cp = {1, 2, 2};
    struct log_checkpoint_waiter w;
    struct done d;
    waiter_init(&w, &d);
    ck_assert_int_eq(dir_checkpoint_set(dc, "other", 0, &cp), 0);
    atomic_store(&fail_pool_with, -EIO);
    ck_assert_int_eq(dir_checkpoint_wait(dc, &w), 0); /* the pool write starts */
    for (int i = 0; i < 5000 && atomic_load(&writes) == 0; i++) {
        uv_sleep(1); /* it fails before the synchronous write */
    }
    ck_assert_int_eq(atomic_load(&writes), 1);
    cp.log_start_offset = 3;
    ck_assert_int_eq(dir_checkpoint_set(dc, "other", 0, &cp), 0);
    ck_assert_int_eq(dir_checkpoint_write_sync(dc), 0); /* lands on the loop, newer */
    ck_assert_int_eq(start_of_on_disk("other"), 3);
    ck_assert(!lm.dir_offline[0]);
    uv_run(&loop, UV_RUN_DEFAULT); /* no timers yet: until the pool write is back */
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_eq(d.status, 0); /* its state is on disk */
    ck_assert(lm.dir_offline[0]);
}
END_TEST

/* A waiter left waiting for the next checkpoint tick (formatting ran out
 * of memory) is answered when its directory goes offline before that tick:
 * no tick writes an offline directory again, so nothing else would ever
 * answer it (a DeleteRecords waiting on it would hang, and every answer
 * after it on its connection). It fails: its state is not on disk. */
START_TEST(test_offline_directory_answers_a_waiter_left_for_the_next_tick)
{
    char err[256];
    struct log_checkpoint_waiter w;
    struct done d;
    waiter_init(&w, &d);
    atomic_store(&fail_pool_reallocs, 1);
    ck_assert_int_eq(partition_log_advance_start(log_, partition_log_end_offset(log_) - 3), 1);
    ck_assert_int_eq(partition_log_checkpoint_wait(log_, &w), 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* no timers yet: until the pool write is back */
    ck_assert_int_eq(atomic_load(&failed_reallocs), 1);
    ck_assert_int_eq(d.calls, 0);

    log_manager_fail_dir(&lm, 0, -EIO, "a test's write");
    ck_assert_int_eq(sluice_config_set(&cfg, "replica.high.watermark.checkpoint.interval.ms", "5",
                                       err, sizeof err),
                     0);
    log_manager_start_timers(&lm);
    /* Many checkpoint ticks. */
    static uv_timer_t pause; /* closed by the time teardown runs the loop */
    bool paused = false;
    uv_timer_init(&loop, &pause);
    pause.data = &paused;
    uv_timer_start(&pause, set_flag, 200, 0);
    while (!paused && d.calls == 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&pause, NULL);
    ck_assert_int_eq(d.calls, 1);
    ck_assert_int_lt(d.status, 0);
    ck_assert_int_eq(atomic_load(&writes), 0);
}
END_TEST

/* Shutdown completes the waiters: with 0 when its own write carried their
 * state, else LOG_ERR_CLOSED; never from inside the synchronous write. */
START_TEST(test_close_completes_waiters)
{
    struct dir_checkpoint *dc = dir_checkpoint_open(&loop, dir);
    struct log_checkpoint cp = {5, 6, 6};
    struct log_checkpoint_waiter w1, w2;
    struct done d1, d2;
    waiter_init(&w1, &d1);
    waiter_init(&w2, &d2);
    ck_assert_int_eq(dir_checkpoint_set(dc, "x", 0, &cp), 0);
    ck_assert_int_eq(dir_checkpoint_wait(dc, &w1), 0);  /* a pool write starts */
    ck_assert_int_eq(dir_checkpoint_write_sync(dc), 0); /* nothing new: no write */
    cp.log_start_offset = 6;
    ck_assert_int_eq(dir_checkpoint_set(dc, "x", 0, &cp), 0);
    ck_assert_int_eq(dir_checkpoint_wait(dc, &w2), 0);
    ck_assert_int_eq(d1.calls + d2.calls, 0);
    atomic_store(&fail_with, -EIO);
    ck_assert_int_eq(dir_checkpoint_write_sync(dc), -EIO); /* the shutdown's write */
    ck_assert_int_eq(d1.calls + d2.calls, 0);
    dir_checkpoint_close(dc);
    ck_assert_int_eq(d1.calls, 1);
    ck_assert_int_eq(d2.calls, 1);
    ck_assert_int_eq(d2.status, LOG_ERR_CLOSED);
    uv_run(&loop, UV_RUN_DEFAULT); /* the pool write finishes on its own */
}
END_TEST

/* A waiter that goes away is never called. */
START_TEST(test_unwait)
{
    struct dir_checkpoint *dc = dir_checkpoint_open(&loop, dir);
    struct log_checkpoint cp = {1, 2, 2};
    struct log_checkpoint_waiter w1, w2;
    struct done d1, d2;
    waiter_init(&w1, &d1);
    waiter_init(&w2, &d2);
    ck_assert_int_eq(dir_checkpoint_set(dc, "x", 0, &cp), 0);
    ck_assert_int_eq(dir_checkpoint_wait(dc, &w1), 0);
    ck_assert_int_eq(dir_checkpoint_wait(dc, &w2), 0);
    dir_checkpoint_unwait(dc, &w1);
    dir_checkpoint_unwait(dc, &w1); /* harmless twice */
    run_until(&d2);
    ck_assert_int_eq(d2.status, 0);
    ck_assert_int_eq(d1.calls, 0);
    dir_checkpoint_close(dc);
    ck_assert_int_eq(d1.calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("delete_records_async");
    TCase *tc_ = tcase_create("core");
    tcase_add_checked_fixture(tc_, setup, teardown);
    tcase_add_test(tc_, test_answer_waits_for_a_pool_write);
    tcase_add_test(tc_, test_waiters_share_writes);
    tcase_add_test(tc_, test_failed_write_fails_the_waiter);
    tcase_add_test(tc_, test_format_out_of_memory_retries_on_the_next_tick);
    tcase_add_test(tc_, test_offline_directory_answers_a_waiter_left_for_the_next_tick);
    tcase_add_test(tc_, test_sync_write_answers_waiters_of_an_unformatted_pool_write);
    tcase_add_test(tc_, test_sync_write_out_of_memory_is_written_by_the_next_tick);
    tcase_add_test(tc_, test_failed_periodic_write_takes_the_directory_offline);
    tcase_add_test(tc_, test_periodic_write_out_of_descriptors_is_retried);
    tcase_add_test(tc_,
                   test_failed_pool_write_takes_the_directory_offline_after_a_sync_write_landed);
    tcase_add_test(tc_, test_close_completes_waiters);
    tcase_add_test(tc_, test_unwait);
    suite_add_tcase(s, tc_);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
