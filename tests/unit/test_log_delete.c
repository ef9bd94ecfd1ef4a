/* File deletion off the event loop (issue 14, Kafka's asyncDelete): on the
 * loop only renames happen, a deleted segment's files to `<file>.deleted`
 * and a deleted partition's directory to `<dir>.<id>-delete`; the unlinks
 * and the rmdir run on the thread pool, so they are seen done only once the
 * loop has run. Reads in flight keep their bytes; leftovers of a crash are
 * removed when a log opens (`.deleted` files) or the log manager starts
 * (`-delete` directories). Real files in a temporary directory, a real
 * loop. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/data_dir.h"
#include "broker/log/partition_log.h"
#include "broker/replica/log_manager.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

#define T0 1700000000000LL

static uv_loop_t loop;
static char *dir;
static char pdir[1024];
static struct tb_clock clk;
static const struct log_clock clock_ = {tb_clock_now, &clk};
static struct topic_config tc;

/* The pool's one thread (UV_THREADPOOL_SIZE=1, set in main) held by a work
 * item, so that what the loop queues behind it is seen not done yet. */
static uv_sem_t gate;
static uv_work_t gate_work;

static void gate_wait(uv_work_t *w)
{
    (void)w;
    uv_sem_wait(&gate);
}

static void gate_after(uv_work_t *w, int status)
{
    (void)w;
    (void)status;
}

static void pool_hold(void)
{
    ck_assert_int_eq(uv_sem_init(&gate, 0), 0);
    ck_assert_int_eq(uv_queue_work(&loop, &gate_work, gate_wait, gate_after), 0);
}

/* Let the pool go and run the loop until its work is done. */
static void pool_run(void)
{
    uv_sem_post(&gate);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_sem_destroy(&gate);
}

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
    snprintf(pdir, sizeof pdir, "%s/t-0", dir);
    clk.now = T0;
    tb_topic_config(&tc, "segment.bytes=1000", NULL);
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    topic_config_free(&tc);
    tb_rmdir(dir);
}

static struct partition_log *open_log(void)
{
    struct partition_log *log = NULL;
    char err[256] = "";
    ck_assert_msg(partition_log_open(&loop, pdir, &tc, &clock_, &log, err, sizeof err) == 0, "%s",
                  err);
    return log;
}

static void append(struct partition_log *log, int count, uint32_t seed)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, count, 100, clk.now, seed);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), 0);
    buf_free(&b);
}

static bool exists(const char *d, const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", d, name);
    return access(path, F_OK) == 0;
}

/* Entries of `d` whose name ends with `suffix`. */
static int count_suffix(const char *d, const char *suffix)
{
    DIR *dd = opendir(d);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(dd);
    while ((e = readdir(dd)) != NULL) {
        size_t len = strlen(e->d_name), s = strlen(suffix);
        n += len >= s && strcmp(e->d_name + len - s, suffix) == 0 && strcmp(e->d_name, ".") != 0 &&
             strcmp(e->d_name, "..") != 0;
    }
    closedir(dd);
    return n;
}

static void seg_name(char *out, size_t len, int64_t base, const char *ext)
{
    snprintf(out, len, "%020lld%s", (long long)base, ext);
}

/* A log of several segments (segment.bytes=1000), all below the high
 * watermark. */
static struct partition_log *several_segments(void)
{
    struct partition_log *log = open_log();
    for (int i = 0; i < 30; i++) {
        append(log, 2, (uint32_t)i);
    }
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    ck_assert_int_gt(partition_log_segment_count(log), 3);
    return log;
}

/* DeleteRecords past the first segment: its files are renamed at once and
 * unlinked once the loop has run the pool's work. */
START_TEST(test_deleted_segment_renamed_then_unlinked)
{
    struct partition_log *log = several_segments();
    char name[64], deleted[64];
    pool_hold();
    ck_assert_int_eq(partition_log_delete_records(log, 10), 0);
    ck_assert_int_eq(partition_log_start_offset(log), 10);
    seg_name(name, sizeof name, 0, ".log");
    seg_name(deleted, sizeof deleted, 0, ".log.deleted");
    ck_assert(!exists(pdir, name));
    ck_assert_msg(exists(pdir, deleted), "the segment is renamed on the loop, not unlinked");
    seg_name(deleted, sizeof deleted, 0, ".index.deleted");
    ck_assert(exists(pdir, deleted));
    seg_name(deleted, sizeof deleted, 0, ".timeindex.deleted");
    ck_assert(exists(pdir, deleted));
    pool_run();
    ck_assert_int_eq(count_suffix(pdir, ".deleted"), 0);
    ck_assert_int_eq(count_suffix(pdir, ".log"), partition_log_segment_count(log));
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* A read holding the segment keeps reading the deleted bytes; its files go
 * with its last reference. */
START_TEST(test_read_in_flight_survives_deletion)
{
    struct partition_log *log = several_segments();
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read(log, 0, 1 << 20, INT64_MAX, &r), 0);
    ck_assert_uint_gt(r.length, 0);
    uint8_t *before = malloc(r.length), *after = malloc(r.length);
    ck_assert_int_eq(pread(r.fd, before, r.length, r.position), (ssize_t)r.length);
    ck_assert_int_eq(partition_log_apply_retention(log, clk.now), 0);
    ck_assert_int_eq(partition_log_delete_records(log, partition_log_end_offset(log)), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(pread(r.fd, after, r.length, r.position), (ssize_t)r.length);
    ck_assert_mem_eq(before, after, r.length);
    log_read_result_release(&r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(count_suffix(pdir, ".deleted"), 0);
    free(before);
    free(after);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* Truncating fully to the base of an existing segment, twice before the
 * pool runs: the new segment's files are never the old ones, the second
 * rename takes the first's `.deleted` names, and the unlinks (the first
 * finding its names gone) leave the new segment alone. */
START_TEST(test_truncate_fully_to_same_base)
{
    struct partition_log *log = open_log();
    append(log, 5, 1);
    char name[64];
    seg_name(name, sizeof name, 0, ".log");
    int64_t old_size = tb_file_size(pdir, name);
    ck_assert_int_gt(old_size, 0);
    pool_hold();
    ck_assert_int_eq(partition_log_truncate_fully_and_start_at(log, 0), 0);
    ck_assert_int_eq(tb_file_size(pdir, name), 0);
    seg_name(name, sizeof name, 0, ".log.deleted");
    ck_assert_int_eq(tb_file_size(pdir, name), old_size);
    append(log, 3, 2);
    ck_assert_int_eq(partition_log_truncate_fully_and_start_at(log, 0), 0);
    append(log, 4, 3);
    seg_name(name, sizeof name, 0, ".log");
    int64_t new_size = tb_file_size(pdir, name);
    pool_run();
    ck_assert_int_eq(count_suffix(pdir, ".deleted"), 0);
    ck_assert_int_eq(tb_file_size(pdir, name), new_size);
    ck_assert_int_eq(partition_log_end_offset(log), 4);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log();
    ck_assert_int_eq(partition_log_end_offset(log), 4);
    struct buf b = BUF_INIT;
    ck_assert_int_eq(partition_log_read_copy(log, 0, 1 << 20, INT64_MAX, &b, NULL), 0);
    ck_assert_uint_eq(b.len, (size_t)new_size);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* Deleting the partition renames its directory at once; the directory is
 * gone once the loop has run. */
START_TEST(test_destroy_renames_then_removes)
{
    struct partition_log *log = several_segments();
    pool_hold();
    ck_assert_int_eq(partition_log_destroy(log), 0);
    ck_assert_int_ne(access(pdir, F_OK), 0);
    ck_assert_int_eq(count_suffix(dir, "-delete"), 1);
    pool_run();
    ck_assert_int_eq(count_suffix(dir, ""), 0);
}
END_TEST

/* A topic created again under the name before the pool ran keeps its files. */
START_TEST(test_destroy_then_recreate)
{
    struct partition_log *log = several_segments();
    ck_assert_int_eq(partition_log_destroy(log), 0);
    log = open_log();
    append(log, 2, 9);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(count_suffix(dir, "-delete"), 0);
    ck_assert_int_eq(partition_log_end_offset(log), 2);
    ck_assert_int_eq(partition_log_close(log), 0);
    ck_assert(exists(pdir, "00000000000000000000.log"));
}
END_TEST

/* `.deleted` files a crash left are garbage: never segments, removed. */
START_TEST(test_open_removes_deleted_leftovers)
{
    struct partition_log *log = open_log();
    append(log, 2, 1);
    ck_assert_int_eq(partition_log_close(log), 0);
    static const char *const junk[] = {
        "00000000000000000000.log.deleted", "00000000000000000000.index.deleted",
        "00000000000000000500.log.deleted", "00000000000000000500.timeindex.deleted"};
    for (size_t i = 0; i < 4; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", pdir, junk[i]);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs("not a segment", f);
        fclose(f);
    }
    log = open_log();
    ck_assert_int_eq(count_suffix(pdir, ".deleted"), 0);
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    ck_assert_int_eq(partition_log_end_offset(log), 2);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

static void each_none(void *owner, log_manager_visit_fn visit, void *arg)
{
    (void)owner;
    (void)visit;
    (void)arg;
}

/* A `-delete` directory an earlier run left is removed once the log
 * manager starts (on the pool), and is never taken for a partition: a
 * stray deletion leaves it alone and deletes a real stray the same way. */
START_TEST(test_log_manager_removes_deleted_dirs)
{
    struct sluice_config cfg;
    struct data_dirs dirs;
    struct log_manager lm;
    char err[256], left[1000], stray[1024];
    snprintf(left, sizeof left, "%s/t-0.0123456789abcdef-delete", dir);
    snprintf(pdir, sizeof pdir, "%s", left);
    struct partition_log *log = several_segments();
    ck_assert_int_eq(partition_log_close(log), 0);
    snprintf(pdir, sizeof pdir, "%s/t-1", dir);
    log = several_segments();
    ck_assert_int_eq(partition_log_close(log), 0);
    snprintf(stray, sizeof stray, "%s", pdir);
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    ck_assert_int_eq(sluice_config_set(&cfg, "log.dirs", dir, err, sizeof err), 0);
    ck_assert_int_eq(data_dirs_open(&dirs, dir, 1, err, sizeof err), 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* the flushes of the rolls */
    pool_hold();
    ck_assert_int_eq(log_manager_init(&lm, &loop, &cfg, &dirs, each_none, NULL), 0);
    log_manager_delete_stray(&lm, stray);
    ck_assert_int_ne(access(stray, F_OK), 0);
    ck_assert_int_eq(count_suffix(dir, "-delete"), 2);
    pool_run();
    ck_assert_int_ne(access(left, F_OK), 0);
    ck_assert_int_eq(count_suffix(dir, "-delete"), 0);
    ck_assert(!partition_log_dir_is_deleted("t-0"));
    ck_assert(!partition_log_dir_is_deleted("topic-delete-12"));
    ck_assert(partition_log_dir_is_deleted("t-0.0123456789abcdef-delete"));
    log_manager_close(&lm);
    data_dirs_close(&dirs);
    sluice_config_free(&cfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_delete");
    TCase *tc_ = tcase_create("log_delete");
    tcase_add_checked_fixture(tc_, setup, teardown);
    tcase_set_timeout(tc_, 60);
    tcase_add_test(tc_, test_deleted_segment_renamed_then_unlinked);
    tcase_add_test(tc_, test_read_in_flight_survives_deletion);
    tcase_add_test(tc_, test_truncate_fully_to_same_base);
    tcase_add_test(tc_, test_destroy_renames_then_removes);
    tcase_add_test(tc_, test_destroy_then_recreate);
    tcase_add_test(tc_, test_open_removes_deleted_leftovers);
    tcase_add_test(tc_, test_log_manager_removes_deleted_dirs);
    suite_add_tcase(s, tc_);
    return s;
}

int main(void)
{
    setenv("UV_THREADPOOL_SIZE", "1", 1);
    return check_main_run(suite);
}
