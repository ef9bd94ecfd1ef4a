/* File deletion off the event loop (issue 14, Kafka's asyncDelete): on the
 * loop only renames happen, a deleted segment's files to `<file>.deleted`
 * and a deleted partition's directory to `<dir>.<id>-delete`; the unlinks
 * and the rmdir run on the thread pool, so they are seen done only once the
 * loop has run. Reads in flight keep their bytes; leftovers of a crash are
 * removed when a log opens (`.deleted` files) or the log manager starts
 * (`-delete` directories). A broker's deletions (the log manager's queue)
 * take their turn on the pool, a few at a time (issue 14, partition scale),
 * so other work queued after a topic's worth of them runs before they all
 * finish. Real files in a temporary directory, a real loop.
 *
 * Linked with -Wl,--wrap=uv_queue_work: every piece of work this binary
 * puts on libuv's pool passes through __wrap_uv_queue_work, which counts
 * the pieces on the pool at once (in libuv's queue or running, until their
 * after-work callback has run on the loop). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/data_dir.h"
#include "broker/log/log_delete.h"
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

/* Work on libuv's pool now, and the most there was at once. */
#define ON_POOL_MAX 1024
static struct {
    uv_work_t *req;
    uv_after_work_cb after;
} on_pool[ON_POOL_MAX];
static int on_pool_now, on_pool_peak;

int __real_uv_queue_work(uv_loop_t *l, uv_work_t *req, uv_work_cb work, uv_after_work_cb after);
int __wrap_uv_queue_work(uv_loop_t *l, uv_work_t *req, uv_work_cb work, uv_after_work_cb after);

static void on_pool_after(uv_work_t *req, int status)
{
    uv_after_work_cb after = NULL;
    for (int i = 0; i < ON_POOL_MAX; i++) {
        if (on_pool[i].req == req) {
            after = on_pool[i].after;
            on_pool[i].req = NULL;
            break;
        }
    }
    on_pool_now--;
    if (after != NULL) {
        after(req, status);
    }
}

/* Loop thread, as uv_queue_work. */
int __wrap_uv_queue_work(uv_loop_t *l, uv_work_t *req, uv_work_cb work, uv_after_work_cb after)
{
    int i = 0;
    while (i < ON_POOL_MAX && on_pool[i].req != NULL) {
        i++;
    }
    if (i == ON_POOL_MAX) {
        abort(); /* more at once than any test here makes */
    }
    int rv = __real_uv_queue_work(l, req, work, on_pool_after);
    if (rv == 0) {
        on_pool[i].req = req;
        on_pool[i].after = after;
        if (++on_pool_now > on_pool_peak) {
            on_pool_peak = on_pool_now;
        }
    }
    return rv;
}

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

/* Entries of `d` named `<prefix>...` (partition directories of a topic,
 * renamed or not). */
static int count_prefix(const char *d, const char *prefix)
{
    DIR *dd = opendir(d);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(dd);
    while ((e = readdir(dd)) != NULL) {
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    }
    closedir(dd);
    return n;
}

/* Entries of `d` named `<prefix>...` that do not end in `suffix`. */
static int count_prefix_unrenamed(const char *d, const char *prefix, const char *suffix)
{
    DIR *dd = opendir(d);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(dd);
    while ((e = readdir(dd)) != NULL) {
        size_t len = strlen(e->d_name), s = strlen(suffix);
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
             !(len >= s && strcmp(e->d_name + len - s, suffix) == 0);
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

/* ---- a broker's deletions take their turn (the log manager's queue) ---- */

#define STRAYS 100

static struct sluice_config mcfg;
static struct data_dirs mdirs;

static void manager_init(struct log_manager *lm)
{
    char err[256];
    ck_assert_int_eq(sluice_config_init(&mcfg), 0);
    ck_assert_int_eq(sluice_config_set(&mcfg, "log.dirs", dir, err, sizeof err), 0);
    ck_assert_int_eq(data_dirs_open(&mdirs, dir, 1, err, sizeof err), 0);
    ck_assert_int_eq(log_manager_init(lm, &loop, &mcfg, &mdirs, each_none, NULL), 0);
}

static void manager_close(struct log_manager *lm)
{
    log_manager_close(lm);
    data_dirs_close(&mdirs);
    sluice_config_free(&mcfg);
}

static void stray_path(char *out, size_t len, int i)
{
    snprintf(out, len, "%s/t-%d", dir, i);
}

/* `n` partition directories t-0 .. t-<n-1> of two files each, which no log
 * uses: strays to delete. */
static void make_strays(int n)
{
    static const char *const files[] = {"00000000000000000000.log", "partition.metadata"};
    char path[2048], file[2200];
    for (int i = 0; i < n; i++) {
        stray_path(path, sizeof path, i);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        for (size_t k = 0; k < 2; k++) {
            snprintf(file, sizeof file, "%s/%s", path, files[k]);
            FILE *f = fopen(file, "w");
            ck_assert_ptr_nonnull(f);
            fputs("data", f);
            fclose(f);
        }
    }
}

static void delete_strays(struct log_manager *lm, int n)
{
    char path[2048];
    for (int i = 0; i < n; i++) {
        stray_path(path, sizeof path, i);
        log_manager_delete_stray(lm, path);
    }
}

/* A hundred directory removals queued at once reach the pool two at a
 * time (the old code put all hundred there), and all of them happen. */
START_TEST(test_directory_removals_take_turns)
{
    struct log_manager lm;
    make_strays(STRAYS);
    manager_init(&lm);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(on_pool_now, 0);
    on_pool_peak = 0;
    delete_strays(&lm, STRAYS);
    /* Renamed on the loop; at most two removed yet. */
    ck_assert_int_ge(count_suffix(dir, "-delete"), STRAYS - LOG_MANAGER_DELETIONS_IN_FLIGHT);
    /* Every one renamed (in one scan: the pool removes renamed ones
     * meanwhile, so two counts could disagree). */
    ck_assert_int_eq(count_prefix_unrenamed(dir, "t-", "-delete"), 0);
    ck_assert_uint_eq(log_manager_deletions_pending(&lm), STRAYS);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(on_pool_peak, LOG_MANAGER_DELETIONS_IN_FLIGHT);
    ck_assert_uint_eq(log_manager_deletions_pending(&lm), 0);
    ck_assert_int_eq(count_prefix(dir, "t-"), 0);
    manager_close(&lm);
}
END_TEST

static void on_opened(void *arg, int rv, struct partition_log *log, size_t dir_index,
                      const char *path)
{
    (void)dir_index;
    (void)path;
    ck_assert_int_eq(rv, 0);
    *(struct partition_log **)arg = log;
}

/* The logs a broker opened delete through its queue too: segments deleted
 * by DeleteRecords, then the logs' directories and their segments' last
 * closes (a topic deleted), never more than two jobs on the pool. */
START_TEST(test_log_deletions_take_turns)
{
    enum { LOGS = 20 };
    struct log_manager lm;
    struct partition_log *logs[LOGS] = {0};
    uint8_t id[16];
    memset(id, 0x5a, sizeof id);
    manager_init(&lm);
    for (int i = 0; i < LOGS; i++) {
        ck_assert_int_eq(log_manager_open(&lm, "t", id, i, &tc, -1, on_opened, &logs[i]), 0);
    }
    log_manager_wait_opens(&lm);
    for (int i = 0; i < LOGS; i++) {
        ck_assert_ptr_nonnull(logs[i]);
        for (int k = 0; k < 30; k++) {
            append(logs[i], 2, (uint32_t)k);
        }
        partition_log_set_high_watermark(logs[i], partition_log_end_offset(logs[i]));
    }
    uv_run(&loop, UV_RUN_DEFAULT); /* the flushes of the rolls */
    ck_assert_int_eq(on_pool_now, 0);
    on_pool_peak = 0;
    for (int i = 0; i < LOGS; i++) {
        ck_assert_int_eq(partition_log_delete_records(logs[i], 10), 0);
    }
    size_t segments = log_manager_deletions_pending(&lm);
    ck_assert_uint_ge(segments, LOGS); /* at least one segment each */
    for (int i = 0; i < LOGS; i++) {
        ck_assert_int_eq(partition_log_destroy(logs[i]), 0);
        log_manager_release(&lm, 0);
    }
    ck_assert_uint_ge(log_manager_deletions_pending(&lm), segments + LOGS);
    ck_assert_int_le(on_pool_now, LOG_MANAGER_DELETIONS_IN_FLIGHT);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(on_pool_peak, LOG_MANAGER_DELETIONS_IN_FLIGHT);
    ck_assert_uint_eq(log_manager_deletions_pending(&lm), 0);
    ck_assert_int_eq(count_prefix(dir, "t-"), 0);
    manager_close(&lm);
}
END_TEST

/* Entries of `dir` renamed for deletion, counted on a pool thread (no
 * assertions there); -1 if it cannot be read. */
static uv_work_t probe_work;
static int probe_left = -1;

static void probe_count(uv_work_t *w)
{
    (void)w;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL) {
        return;
    }
    probe_left = 0;
    while ((e = readdir(d)) != NULL) {
        probe_left += partition_log_dir_is_deleted(e->d_name);
    }
    closedir(d);
}

static void probe_after(uv_work_t *w, int status)
{
    (void)w;
    ck_assert_int_eq(status, 0);
}

/* Work queued on the pool after a hundred directory removals (a flush, an
 * open) waits for the two on the pool, not for all hundred: on the old code
 * it found every directory gone. */
START_TEST(test_other_work_runs_before_the_deletions_end)
{
    struct log_manager lm;
    make_strays(STRAYS);
    manager_init(&lm);
    uv_run(&loop, UV_RUN_DEFAULT);
    pool_hold();
    delete_strays(&lm, STRAYS);
    ck_assert_int_eq(uv_queue_work(&loop, &probe_work, probe_count, probe_after), 0);
    pool_run();
    ck_assert_int_ge(probe_left, STRAYS - LOG_MANAGER_DELETIONS_IN_FLIGHT);
    ck_assert_int_eq(count_prefix(dir, "t-"), 0);
    manager_close(&lm);
}
END_TEST

/* Closing the manager (shutdown) drops the deletions still waiting: their
 * directories stay renamed, and the next start-up removes them; the two on
 * the pool finish without touching the manager, whose memory may be gone
 * (ASan). A job given to the closed queue (a read letting go of a deleted
 * segment late) only has its descriptors closed. */
START_TEST(test_close_leaves_waiting_deletions_to_start_up)
{
    enum { N = 10 };
    struct log_manager *lm = calloc(1, sizeof *lm);
    char file[2048];
    ck_assert_ptr_nonnull(lm);
    make_strays(N);
    manager_init(lm);
    uv_run(&loop, UV_RUN_DEFAULT);
    pool_hold();
    delete_strays(lm, N);
    ck_assert_uint_eq(log_manager_deletions_pending(lm), N);
    manager_close(lm);
    snprintf(file, sizeof file, "%s/late" LOG_DELETE_FILE_SUFFIX, dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    const char *paths[] = {file};
    struct log_deleter late = {&lm->deletions, &loop};
    log_delete_files(&late, &fd, 1, paths, 1);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* closed */
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(access(file, F_OK), 0); /* left */
    ck_assert_int_eq(unlink(file), 0);
    free(lm);
    pool_run();
    ck_assert_int_eq(count_suffix(dir, "-delete"), N - LOG_MANAGER_DELETIONS_IN_FLIGHT);
    struct log_manager again;
    manager_init(&again); /* start-up removes what was left */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(count_prefix(dir, "t-"), 0);
    manager_close(&again);
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
    tcase_add_test(tc_, test_directory_removals_take_turns);
    tcase_add_test(tc_, test_log_deletions_take_turns);
    tcase_add_test(tc_, test_other_work_runs_before_the_deletions_end);
    tcase_add_test(tc_, test_close_leaves_waiting_deletions_to_start_up);
    suite_add_tcase(s, tc_);
    return s;
}

int main(void)
{
    setenv("UV_THREADPOOL_SIZE", "1", 1);
    return check_main_run(suite);
}
