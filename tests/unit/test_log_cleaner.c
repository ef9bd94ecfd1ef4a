/* Log compaction (broker/log/log_cleaner.c): latest value per key, offsets
 * and batch boundaries kept, tombstones and delete.retention.ms, the active
 * segment left alone, readers across a swap, crash at every swap step,
 * compressed batches, keyless records refused, follower gaps, the offset map.
 * The swap runs on the thread pool (issue 14): rename and fs_fsync_dir are
 * wrapped to count the loop's calls and to hold the pool at one fsync while
 * the loop truncates. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/wait.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/batch_codec.h"
#include "broker/log/record_codec.h"
#include "broker/log/offset_map.h"
#include "broker/log/partition_log.h"
#include "broker/log/partition_log_internal.h"
#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "common/varint.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

#define T0   1700000000000LL
#define KEYS 5

static uv_loop_t loop;
static char *dir;
static char pdir[1024];
static struct tb_clock clk;
static const struct log_clock clock_ = {tb_clock_now, &clk};
static const struct log_cleaner_limits lim = {.dedupe_buffer_bytes = 1 << 20,
                                              .io_max_bytes_per_second = 1e300};

/* ---- wrapped: the swap's renames and directory fsyncs ---- */

static pthread_t loop_thread;
static atomic_int loop_swap_renames; /* of .cleaned / .swap files, on the loop */
static atomic_int loop_dir_fsyncs;
static atomic_int pool_dir_fsyncs;
/* The pool's directory fsync right after it renamed segment `gate_at - 2`
 * to `.log.swap` (its commit) waits for gate_open; 0: none. */
static atomic_int gate_at;
static atomic_bool gate_reached, gate_open;
/* Hold the pool at the swap's final directory fsync instead (no .swap nor
 * .cleaned file left): gate_passed once that fsync returned. */
static atomic_bool gate_final, gate_passed;
static _Thread_local char last_rename_to[1200]; /* the calling thread's last rename */

int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);
int __real_fs_fsync_dir(const char *path);
int __wrap_fs_fsync_dir(const char *path);

int __wrap_rename(const char *from, const char *to)
{
    if (pthread_equal(pthread_self(), loop_thread) &&
        (strstr(from, ".cleaned") != NULL || strstr(from, ".swap") != NULL)) {
        atomic_fetch_add(&loop_swap_renames, 1);
    }
    snprintf(last_rename_to, sizeof last_rename_to, "%s", to);
    return __real_rename(from, to);
}

/* Whether `dir_path` holds no file of a swap in progress. */
static bool no_swap_files(const char *dir_path)
{
    DIR *d = opendir(dir_path);
    ck_assert_ptr_nonnull(d);
    bool none = true;
    for (struct dirent *e; none && (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        none = !(n > 5 && strcmp(e->d_name + n - 5, ".swap") == 0) &&
               !(n > 8 && strcmp(e->d_name + n - 8, ".cleaned") == 0);
    }
    closedir(d);
    return none;
}

static bool gated(const char *dir_path)
{
    if (atomic_load(&gate_final)) {
        return !atomic_load(&gate_reached) && no_swap_files(dir_path);
    }
    char want[1300];
    int gate = atomic_load(&gate_at);
    snprintf(want, sizeof want, "%s/%020d.log.swap", dir_path, gate - 2);
    return gate >= 2 && !atomic_load(&gate_reached) && strcmp(last_rename_to, want) == 0;
}

int __wrap_fs_fsync_dir(const char *path)
{
    if (pthread_equal(pthread_self(), loop_thread)) {
        atomic_fetch_add(&loop_dir_fsyncs, 1);
    } else if (atomic_fetch_add(&pool_dir_fsyncs, 1) >= 0 && gated(path)) {
        atomic_store(&gate_reached, true);
        while (!atomic_load(&gate_open)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        int rv = __real_fs_fsync_dir(path);
        atomic_store(&gate_passed, true);
        return rv;
    }
    return __real_fs_fsync_dir(path);
}

static void reset_counts(void)
{
    atomic_store(&loop_swap_renames, 0);
    atomic_store(&loop_dir_fsyncs, 0);
    atomic_store(&pool_dir_fsyncs, 0);
    atomic_store(&gate_at, 0);
    atomic_store(&gate_reached, false);
    atomic_store(&gate_open, false);
    atomic_store(&gate_final, false);
    atomic_store(&gate_passed, false);
}

static void setup(void)
{
    loop_thread = pthread_self();
    reset_counts();
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
    snprintf(pdir, sizeof pdir, "%s/c-0", dir);
    clk.now = T0;
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    tb_rmdir(dir);
}

static struct partition_log *open_log(const char *policy)
{
    struct topic_config tc;
    char pol[64];
    snprintf(pol, sizeof pol, "cleanup.policy=%s", policy);
    tb_topic_config(&tc, "segment.bytes=120", pol, "delete.retention.ms=10000",
                    "min.cleanable.dirty.ratio=0.1", NULL);
    struct partition_log *log = NULL;
    char err[256] = "";
    ck_assert_msg(partition_log_open(&loop, pdir, &tc, &clock_, &log, err, sizeof err) == 0, "%s",
                  err);
    topic_config_free(&tc);
    return log;
}

/* ---- batches with chosen keys and values (NULL value: tombstone) ---- */

struct trec {
    const char *key, *value;
};

static void put_bytes(struct buf *b, const char *s)
{
    buf_append_varint(b, s == NULL ? -1 : (int64_t)strlen(s));
    if (s != NULL) {
        buf_append(b, s, strlen(s));
    }
}

/* attrs & 7 names a codec: with `fake`, the records are left uncompressed
 * (undecodable), else they are really compressed. */
static void make_batch_ex(struct buf *b, const struct trec *r, int n, int64_t ts, int16_t attrs,
                          bool fake)
{
    size_t start = b->len;
    buf_append_be64(b, 0);
    buf_append_be32(b, 0);
    buf_append_be32(b, 0);
    buf_append_u8(b, 2);
    buf_append_be32(b, 0);
    buf_append_be16(b, (uint16_t)attrs);
    buf_append_be32(b, (uint32_t)(n - 1));
    buf_append_be64(b, (uint64_t)ts);
    buf_append_be64(b, (uint64_t)ts);
    buf_append_be64(b, (uint64_t)-1);
    buf_append_be16(b, (uint16_t)-1);
    buf_append_be32(b, (uint32_t)-1);
    buf_append_be32(b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        struct buf body = BUF_INIT;
        buf_append_u8(&body, 0);
        buf_append_varint(&body, 0);
        buf_append_varint(&body, i);
        put_bytes(&body, r[i].key);
        put_bytes(&body, r[i].value);
        buf_append_varint(&body, 0);
        buf_append_varint(b, (int64_t)body.len);
        buf_append(b, body.data, body.len);
        buf_free(&body);
    }
    if ((attrs & 7) != 0 && !fake) {
        size_t rec_start = start + RECORD_BATCH_HEADER_SIZE, zlen, cap = 0;
        uint8_t *z = NULL;
        ck_assert_int_eq(batch_codec_compress(attrs & 7, b->data + rec_start, b->len - rec_start, 0,
                                              &z, &cap, 0, &zlen),
                         0);
        b->len = rec_start;
        buf_append(b, z, zlen);
        free(z);
    }
    be32_store(b->data + start + 8, (uint32_t)(b->len - start - 12));
    tb_fix_crc(b->data + start);
}

static void make_batch(struct buf *b, const struct trec *r, int n, int64_t ts, int16_t attrs)
{
    make_batch_ex(b, r, n, ts, attrs, true);
}

static int append_recs(struct partition_log *log, const struct trec *r, int n, int16_t attrs)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    make_batch(&b, r, n, clk.now, attrs);
    int rv = partition_log_append(log, b.data, b.len, 0, &info);
    buf_free(&b);
    return rv;
}

static void append1(struct partition_log *log, const char *key, const char *value)
{
    struct trec r = {key, value};
    ck_assert_int_eq(append_recs(log, &r, 1, 0), 0);
}

/* ---- reading the whole log back ---- */

struct seen {
    int64_t offset;
    char key[32], value[32];
    bool tombstone;
};

static void decode_batch(const uint8_t *p, const struct record_batch_header *h, struct seen *out,
                         int *n)
{
    size_t len = (size_t)record_batch_size(h), pos = RECORD_BATCH_HEADER_SIZE;
    for (int i = 0; i < h->records_count; i++) {
        int32_t rlen, od, kl, vl;
        int64_t tsd;
        pos += (size_t)varint_decode_s32(p + pos, len - pos, &rlen);
        size_t q = pos + 1;
        q += (size_t)varint_decode_s64(p + q, len - q, &tsd);
        q += (size_t)varint_decode_s32(p + q, len - q, &od);
        q += (size_t)varint_decode_s32(p + q, len - q, &kl);
        struct seen *s = &out[(*n)++];
        memset(s, 0, sizeof *s);
        s->offset = h->base_offset + od;
        snprintf(s->key, sizeof s->key, "%.*s", kl, (const char *)p + q);
        q += (size_t)kl;
        q += (size_t)varint_decode_s32(p + q, len - q, &vl);
        s->tombstone = vl < 0;
        if (vl >= 0) {
            snprintf(s->value, sizeof s->value, "%.*s", vl, (const char *)p + q);
        }
        pos += (size_t)rlen;
    }
}

/* Every record from the log start; CRCs checked, offsets strictly rising. */
static int read_all(struct partition_log *log, struct seen *out, int cap)
{
    int n = 0;
    int64_t off = partition_log_start_offset(log), prev = -1;
    while (off < partition_log_end_offset(log)) {
        struct buf b = BUF_INIT;
        struct log_read_result info;
        ck_assert_int_eq(partition_log_read_copy(log, off, 1 << 20, INT64_MAX, &b, &info), 0);
        ck_assert_uint_gt(b.len, 0);
        for (size_t pos = 0; pos < b.len;) {
            struct record_batch_header h;
            struct record_batch_limits lims = {0};
            ck_assert_int_eq(record_batch_validate(b.data + pos, b.len - pos, &lims, &h, NULL, 0),
                             0);
            ck_assert_int_lt(n + h.records_count, cap + 1);
            int codec = record_batch_compression(&h);
            uint8_t *plain = NULL;
            size_t plen;
            if (codec == 0) {
                decode_batch(b.data + pos, &h, out, &n);
            } else if (record_codec_inflate(codec, b.data + pos + RECORD_BATCH_HEADER_SIZE,
                                            (size_t)record_batch_size(&h) -
                                                RECORD_BATCH_HEADER_SIZE,
                                            1 << 20, &plain, &plen, NULL, 0) == 0) {
                struct buf whole = BUF_INIT;
                buf_append(&whole, b.data + pos, RECORD_BATCH_HEADER_SIZE);
                buf_append(&whole, plain, plen);
                struct record_batch_header ph = h;
                ph.batch_length = (int32_t)(whole.len - RECORD_BATCH_LOG_OVERHEAD);
                decode_batch(whole.data, &ph, out, &n);
                buf_free(&whole);
            }
            free(plain);
            ck_assert_int_gt(h.base_offset, prev);
            prev = record_batch_last_offset(&h);
            pos += (size_t)record_batch_size(&h);
        }
        off = info.next_offset;
        buf_free(&b);
    }
    for (int i = 1; i < n; i++) {
        ck_assert_int_gt(out[i].offset, out[i - 1].offset);
    }
    return n;
}

static void on_clean(struct partition_log *log, const struct log_clean_stats *st, void *data)
{
    (void)log;
    *(struct log_clean_stats *)data = *st;
}

struct cb_seen {
    struct log_clean_stats st;
    bool called, log_null;
};

static void on_clean_seen(struct partition_log *log, const struct log_clean_stats *st, void *data)
{
    struct cb_seen *s = data;
    s->st = *st;
    s->called = true;
    s->log_null = log == NULL;
}

static struct log_clean_stats clean(struct partition_log *log)
{
    struct log_clean_stats st = {.status = 12345};
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    ck_assert_int_eq(partition_log_clean(log, &lim, clk.now, on_clean, &st), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_ne(st.status, 12345);
    return st;
}

/* Rounds 0..3 write k0..k4 = "r<round>", one record a batch (several
 * segments), then the active segment gets k0 twice. Offsets: round r key i
 * is at r*KEYS + i. */
static void fill(struct partition_log *log)
{
    char key[16], value[16];
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < KEYS; i++) {
            snprintf(key, sizeof key, "k%d", i);
            snprintf(value, sizeof value, "r%d", r);
            append1(log, key, value);
        }
    }
    ck_assert_int_gt(partition_log_segment_count(log), 4);
}

static void end_with_active(struct partition_log *log)
{
    struct trec act[2] = {{"k0", "a1"}, {"k0", "a2"}};
    /* Roll so the rounds are all in non-active segments. */
    struct buf b = BUF_INIT;
    make_batch(&b, act, 2, clk.now, 0);
    while (partition_log_segment_count(log) > 0) {
        int segs = partition_log_segment_count(log);
        struct log_append_info info;
        struct buf c = BUF_INIT;
        buf_append(&c, b.data, b.len);
        ck_assert_int_eq(partition_log_append(log, c.data, c.len, 0, &info), 0);
        buf_free(&c);
        if (partition_log_segment_count(log) > segs) {
            break;
        }
    }
    buf_free(&b);
}

/* The latest rounds survive: one record per key below the active segment,
 * at its original offset, and both active records. */
static void check_compacted(struct partition_log *log)
{
    struct seen s[64];
    int n = read_all(log, s, 64);
    int active = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].offset >= 4 * KEYS) {
            active++;
            continue;
        }
        int k = s[i].key[1] - '0';
        ck_assert_str_eq(s[i].value, "r3");
        ck_assert_int_eq(s[i].offset, 3 * KEYS + k);
    }
    ck_assert_int_eq(n - active, KEYS);
    ck_assert_int_ge(active, 2);
}

START_TEST(test_compacts_to_latest_per_key)
{
    struct partition_log *log = open_log("compact");
    fill(log);
    end_with_active(log);
    int64_t end = partition_log_end_offset(log);
    int64_t active_size = log_active(log)->size;
    struct log_clean_stats st = clean(log);
    ck_assert_int_eq(st.status, 0);
    ck_assert_int_eq(st.records_removed, 3 * KEYS);
    ck_assert_int_gt(st.segments_rewritten, 0);
    check_compacted(log);
    ck_assert_int_eq(partition_log_end_offset(log), end);
    ck_assert_int_eq(log_active(log)->size, active_size);
    ck_assert_int_eq(partition_log_start_offset(log), 0);
    /* Reads from inside a gap land on the next surviving batch. */
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read(log, 1, 1 << 20, INT64_MAX, &r), 0);
    ck_assert_int_eq(r.first_offset, 3 * KEYS);
    log_read_result_release(&r);
    /* Nothing new is dirty: no second clean. */
    ck_assert(partition_log_cleanable_ratio(log, clk.now) < 0);
    /* A full recovery (no checkpoint) accepts the gaps and sees the same. */
    ck_assert_int_eq(partition_log_close(log), 0);
    char cp[1100];
    snprintf(cp, sizeof cp, "%s/%s", pdir, PARTITION_LOG_CHECKPOINT_FILE);
    ck_assert_int_eq(unlink(cp), 0);
    log = open_log("compact");
    ck_assert_int_eq(partition_log_end_offset(log), end);
    check_compacted(log);
    /* So does one after cleanup.policy became delete: the gaps are not
     * corruption, and cutting there would lose acknowledged records. */
    ck_assert_int_eq(partition_log_close(log), 0);
    ck_assert_int_eq(unlink(cp), 0);
    log = open_log("delete");
    ck_assert_int_eq(partition_log_end_offset(log), end);
    check_compacted(log);
    partition_log_close(log);
}
END_TEST

START_TEST(test_delete_policy_and_ratio_do_not_clean)
{
    struct partition_log *log = open_log("delete");
    fill(log);
    end_with_active(log);
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    ck_assert(partition_log_cleanable_ratio(log, clk.now) < 0);
    struct log_clean_stats st;
    ck_assert_int_eq(partition_log_clean(log, &lim, clk.now, on_clean, &st), 0);
    partition_log_close(log);
    /* Compacted, but nothing below the high watermark is cleanable. */
    tb_rmdir(dir);
    dir = tb_tmpdir();
    snprintf(pdir, sizeof pdir, "%s/c-0", dir);
    log = open_log("compact,delete");
    fill(log);
    end_with_active(log);
    ck_assert(partition_log_cleanable_ratio(log, clk.now) < 0);
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    ck_assert(partition_log_cleanable_ratio(log, clk.now) > 0.99);
    partition_log_close(log);
}
END_TEST

START_TEST(test_tombstones_kept_then_dropped)
{
    struct partition_log *log = open_log("compact");
    append1(log, "a", "1");
    append1(log, "b", "1");
    append1(log, "a", NULL); /* tombstone at T0 */
    append1(log, "c", "1");
    end_with_active(log);
    clk.now = T0 + 5000; /* within delete.retention.ms = 10000 */
    ck_assert_int_eq(clean(log).status, 0);
    struct seen s[32];
    int n = read_all(log, s, 32);
    int tomb = 0, a_values = 0;
    for (int i = 0; i < n; i++) {
        tomb += strcmp(s[i].key, "a") == 0 && s[i].tombstone;
        a_values += strcmp(s[i].key, "a") == 0 && !s[i].tombstone;
    }
    ck_assert_int_eq(tomb, 1);
    ck_assert_int_eq(a_values, 0);
    /* More dirty data, and the tombstone is past its retention. */
    append1(log, "d", "1");
    end_with_active(log);
    clk.now = T0 + 20001;
    ck_assert_int_eq(clean(log).status, 0);
    n = read_all(log, s, 32);
    bool b_seen = false;
    for (int i = 0; i < n; i++) {
        ck_assert_str_ne(s[i].key, "a");
        b_seen |= strcmp(s[i].key, "b") == 0;
    }
    ck_assert(b_seen);
    partition_log_close(log);
}
END_TEST

/* Transactional records never supersede (an aborted value must not replace
 * a committed one) and their tombstones stay past delete.retention.ms (the
 * values they delete were not superseded either). */
START_TEST(test_transactional_records_do_not_supersede)
{
    struct partition_log *log = open_log("compact");
    append1(log, "a", "committed");
    append1(log, "b", "1");
    struct trec txn[2] = {{"a", "aborted"}, {"b", NULL}};
    ck_assert_int_eq(append_recs(log, txn, 2, RECORD_BATCH_ATTR_TRANSACTIONAL), 0);
    end_with_active(log);
    clk.now = T0 + 20001;
    ck_assert_int_eq(clean(log).status, 0);
    struct seen s[32];
    int n = read_all(log, s, 32);
    bool committed = false, aborted = false, b_value = false, b_tomb = false;
    for (int i = 0; i < n; i++) {
        committed |= strcmp(s[i].key, "a") == 0 && strcmp(s[i].value, "committed") == 0;
        aborted |= strcmp(s[i].key, "a") == 0 && strcmp(s[i].value, "aborted") == 0;
        b_value |= strcmp(s[i].key, "b") == 0 && !s[i].tombstone;
        b_tomb |= strcmp(s[i].key, "b") == 0 && s[i].tombstone;
    }
    ck_assert(committed && aborted && b_value && b_tomb);
    partition_log_close(log);
}
END_TEST

START_TEST(test_reader_keeps_old_segment)
{
    struct partition_log *log = open_log("compact");
    fill(log);
    end_with_active(log);
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read(log, 0, 1 << 20, INT64_MAX, &r), 0);
    ck_assert_int_eq(r.first_offset, 0);
    uint8_t *before = malloc(r.length);
    ck_assert_int_eq(pread(r.fd, before, r.length, r.position), (ssize_t)r.length);
    ck_assert_int_eq(clean(log).status, 0);
    uint8_t *after = malloc(r.length);
    ck_assert_int_eq(pread(r.fd, after, r.length, r.position), (ssize_t)r.length);
    ck_assert_int_eq(memcmp(before, after, r.length), 0);
    log_read_result_release(&r);
    check_compacted(log);
    free(before);
    free(after);
    partition_log_close(log);
}
END_TEST

static bool any_file_with(const char *suffix)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q '%s$'", pdir, suffix);
    return system(cmd) == 0;
}

/* Stop the swap after each of its steps as a crash would, then reopen. */
START_TEST(test_crash_at_every_swap_step)
{
    for (int step = 1; step <= 3; step++) {
        struct partition_log *log = open_log("compact");
        fill(log);
        end_with_active(log);
        int64_t end = partition_log_end_offset(log);
        log->cleaner_crash_after_step = step;
        ck_assert_int_eq(clean(log).status, 0);
        ck_assert_int_eq(partition_log_close(log), 0);
        log = open_log("compact");
        ck_assert_msg(!any_file_with(".swap") && !any_file_with(".cleaned"), "step %d", step);
        ck_assert_int_eq(partition_log_end_offset(log), end);
        /* The first segment committed (its .swap existed); the rest were
         * discarded and are cleaned again now. */
        struct seen s[64];
        int n = read_all(log, s, 64);
        ck_assert_int_lt(n, 4 * KEYS + 2);
        ck_assert_int_eq(clean(log).status, 0);
        check_compacted(log);
        partition_log_close(log);
        tb_rmdir(dir);
        dir = tb_tmpdir();
        snprintf(pdir, sizeof pdir, "%s/c-0", dir);
    }
}
END_TEST

/* Closing (or deleting) a log stops a slow, throttled clean early: the
 * callback says the log is gone, nothing is left behind. At 200 B/s this
 * clean would take minutes; the test's timeout is far shorter. */
START_TEST(test_close_cancels_a_throttled_clean)
{
    for (int destroy = 0; destroy <= 1; destroy++) {
        struct partition_log *log = open_log("compact");
        fill(log);
        end_with_active(log);
        partition_log_set_high_watermark(log, partition_log_end_offset(log));
        struct log_cleaner_limits slow = {.dedupe_buffer_bytes = 1 << 20,
                                          .io_max_bytes_per_second = 200};
        struct cb_seen seen = {0};
        ck_assert_int_eq(partition_log_clean(log, &slow, clk.now, on_clean_seen, &seen), 1);
        if (destroy) {
            partition_log_destroy(log);
        } else {
            ck_assert_int_eq(partition_log_close(log), 0);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        ck_assert(seen.called && seen.log_null);
        ck_assert_int_ne(seen.st.status, 0);
        if (destroy) {
            /* The directory (renamed aside, with the clean's .cleaned
             * files) is gone too, once the pool has run. */
            char cmd[1200];
            snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", dir);
            ck_assert_int_ne(access(pdir, F_OK), 0);
            ck_assert_int_eq(system(cmd), 0);
        } else {
            ck_assert(!any_file_with(".cleaned"));
            log = open_log("compact");
            struct seen s[64];
            ck_assert_int_eq(read_all(log, s, 64), 4 * KEYS + 2);
            partition_log_close(log);
        }
    }
}
END_TEST

START_TEST(test_crash_before_commit_keeps_old_data)
{
    struct partition_log *log = open_log("compact");
    fill(log);
    end_with_active(log);
    ck_assert_int_eq(partition_log_close(log), 0);
    /* Half-written cleaner output from a crash before the .swap rename. */
    char path[1200];
    snprintf(path, sizeof path, "%s/%020d.log.cleaned", pdir, 0);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "garbage", 7), 7);
    close(fd);
    log = open_log("compact");
    ck_assert(!any_file_with(".cleaned"));
    struct seen s[64];
    ck_assert_int_eq(read_all(log, s, 64), 4 * KEYS + 2);
    partition_log_close(log);
}
END_TEST

START_TEST(test_undecodable_compressed_batch_kept_whole)
{
    struct partition_log *log = open_log("delete");
    /* A gzip-flagged batch whose body is not gzip, as a replica may hold
     * (followers check the header and CRC only): the cleaner cannot read
     * it, so it keeps it byte for byte. */
    struct trec z[2] = {{"k0", "zz"}, {"k1", "zz"}};
    struct buf zb = BUF_INIT;
    struct log_append_info zinfo;
    make_batch(&zb, z, 2, clk.now, 1);
    ck_assert_int_eq(partition_log_append_as_follower(log, zb.data, zb.len, &zinfo), 0);
    buf_free(&zb);
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=120", "cleanup.policy=compact",
                    "min.cleanable.dirty.ratio=0.1", NULL);
    partition_log_set_config(log, &tc);
    topic_config_free(&tc);
    /* A leader refuses such a batch: it does not inflate. */
    ck_assert_int_eq(append_recs(log, z, 2, 1), LOG_ERR_CORRUPT);
    fill(log);
    end_with_active(log);
    struct buf before = BUF_INIT;
    ck_assert_int_eq(partition_log_read_copy(log, 0, 1, INT64_MAX, &before, NULL), 0);
    ck_assert_int_eq(clean(log).status, 0);
    struct buf after = BUF_INIT;
    ck_assert_int_eq(partition_log_read_copy(log, 0, 1, INT64_MAX, &after, NULL), 0);
    ck_assert_uint_eq(before.len, after.len);
    ck_assert_int_eq(memcmp(before.data, after.data, before.len), 0);
    buf_free(&before);
    buf_free(&after);
    partition_log_close(log);
}
END_TEST

/* Each codec: a compressed batch loses its superseded record and is
 * rewritten with the same codec; the superseding records stay. */
START_TEST(test_compressed_batches_compacted_per_codec)
{
    for (int codec = 1; codec <= 4; codec++) {
        struct partition_log *log = open_log("compact");
        struct trec z[3] = {{"a", "old"}, {"b", "keep"}, {"c", "old"}};
        struct buf b = BUF_INIT;
        struct log_append_info info;
        make_batch_ex(&b, z, 3, clk.now, (int16_t)codec, false);
        ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), 0);
        buf_free(&b);
        append1(log, "a", "new");
        append1(log, "c", "new");
        end_with_active(log);
        ck_assert_int_eq(clean(log).status, 0);
        struct buf first = BUF_INIT;
        ck_assert_int_eq(partition_log_read_copy(log, 0, 1, INT64_MAX, &first, NULL), 0);
        struct record_batch_header h;
        struct record_batch_limits lims = {0};
        ck_assert_int_eq(record_batch_validate(first.data, first.len, &lims, &h, NULL, 0), 0);
        ck_assert_int_eq(record_batch_compression(&h), codec);
        ck_assert_int_eq(h.records_count, 1);
        ck_assert_int_eq(h.base_offset, 0);
        ck_assert_int_eq(h.last_offset_delta, 2);
        buf_free(&first);
        struct seen s[16];
        int n = read_all(log, s, 16);
        ck_assert_int_ge(n, 3);
        ck_assert_str_eq(s[0].key, "b");
        ck_assert_int_eq(s[0].offset, 1);
        ck_assert_str_eq(s[1].value, "new");
        ck_assert_str_eq(s[2].value, "new");
        partition_log_close(log);
        tb_rmdir(dir);
        dir = tb_tmpdir();
        snprintf(pdir, sizeof pdir, "%s/c-0", dir);
    }
}
END_TEST

START_TEST(test_keyless_records_refused_when_compacted)
{
    struct trec r[2] = {{"k", "v"}, {NULL, "v"}};
    struct partition_log *log = open_log("compact");
    ck_assert_int_eq(append_recs(log, r, 2, 0), LOG_ERR_INVALID_RECORD);
    ck_assert_int_eq(partition_log_end_offset(log), 0);
    ck_assert_int_eq(append_recs(log, r, 1, 0), 0);
    /* Compressed batches are checked too. */
    struct buf b = BUF_INIT;
    struct log_append_info info;
    make_batch_ex(&b, r, 2, clk.now, RECORD_CODEC_ZSTD, false);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), LOG_ERR_INVALID_RECORD);
    ck_assert_ptr_nonnull(strstr(info.reason, "no key"));
    b.len = 0;
    make_batch_ex(&b, r, 1, clk.now, RECORD_CODEC_ZSTD, false);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 0, &info), 0);
    buf_free(&b);
    partition_log_close(log);
    log = open_log("delete");
    ck_assert_int_eq(append_recs(log, r, 2, 0), 0);
    partition_log_close(log);
}
END_TEST

/* Under either policy: a compacted topic switched to delete keeps the
 * leader's gaps, and a follower still catching up must cross them. */
START_TEST(test_follower_accepts_gaps_not_overlaps)
{
    struct partition_log *log = open_log(_i == 0 ? "compact" : "delete");
    struct buf b = BUF_INIT;
    struct trec r = {"k", "v"};
    struct log_append_info info;
    make_batch(&b, &r, 1, clk.now, 0);
    record_batch_set_base_offset(b.data, 7);
    ck_assert_int_eq(partition_log_append_as_follower(log, b.data, b.len, &info), 0);
    ck_assert_int_eq(partition_log_end_offset(log), 8);
    record_batch_set_base_offset(b.data, 5);
    ck_assert_int_eq(partition_log_append_as_follower(log, b.data, b.len, &info),
                     LOG_ERR_OFFSET_MISMATCH);
    buf_free(&b);
    partition_log_close(log);
}
END_TEST

START_TEST(test_offset_map)
{
    struct offset_map m;
    ck_assert_int_eq(offset_map_init(&m, 16 * OFFSET_MAP_ENTRY_SIZE), 0);
    ck_assert_int_eq(offset_map_get(&m, (const uint8_t *)"a", 1), -1);
    ck_assert_int_eq(offset_map_put(&m, (const uint8_t *)"a", 1, 5), 0);
    ck_assert_int_eq(offset_map_put(&m, (const uint8_t *)"a", 1, 9), 0);
    ck_assert_int_eq(offset_map_get(&m, (const uint8_t *)"a", 1), 9);
    ck_assert_int_eq(offset_map_put(&m, (const uint8_t *)"", 0, 3), 0);
    ck_assert_int_eq(offset_map_get(&m, (const uint8_t *)"", 0), 3);
    int full = 0;
    for (int i = 0; i < 40; i++) {
        char k[8];
        snprintf(k, sizeof k, "x%d", i);
        full += offset_map_put(&m, (const uint8_t *)k, strlen(k), i);
    }
    ck_assert_int_gt(full, 0);
    ck_assert_uint_le(m.count, m.max);
    ck_assert_int_eq(offset_map_get(&m, (const uint8_t *)"a", 1), 9);
    offset_map_free(&m);
}
END_TEST

static int count_files_with(const char *suffix)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "exit $(ls %s | grep -c '%s$')", pdir, suffix);
    return WEXITSTATUS(system(cmd));
}

/* Issue 14: the swap's renames and directory fsyncs run on the thread pool;
 * the loop only installs the segments the pool opened. */
START_TEST(test_swap_runs_off_the_loop)
{
    struct partition_log *log = open_log("compact");
    fill(log);
    end_with_active(log);
    reset_counts();
    struct log_clean_stats st = clean(log);
    ck_assert_int_eq(st.status, 0);
    ck_assert_int_gt(st.segments_rewritten, 0);
    int renames = atomic_load(&loop_swap_renames), loop_fsyncs = atomic_load(&loop_dir_fsyncs);
    int pool_fsyncs = atomic_load(&pool_dir_fsyncs);
    ck_assert_int_eq(renames, 0);
    ck_assert_int_eq(loop_fsyncs, 0);
    /* the rewrite's fsync, and one per committed segment, on the pool */
    ck_assert_int_gt(pool_fsyncs, st.segments_rewritten);
    ck_assert_int_eq(count_files_with(".log"), partition_log_segment_count(log));
    check_compacted(log);
    ck_assert(!any_file_with(".swap") && !any_file_with(".cleaned"));
    partition_log_close(log);
}
END_TEST

/* Hold the swap at the pool's `gate`-th directory fsync, truncate on the
 * loop meanwhile, let the swap go on. Returns the clean's status. */
static int truncate_during_swap(struct partition_log *log, int gate, bool fully, int64_t offset)
{
    struct cb_seen seen = {0};
    reset_counts();
    atomic_store(&gate_at, gate);
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    ck_assert_int_eq(partition_log_clean(log, &lim, clk.now, on_clean_seen, &seen), 1);
    while (!atomic_load(&gate_reached) && !seen.called) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* Fails on a swap done on the loop: the pool saw a single fsync. */
    ck_assert_msg(atomic_load(&gate_reached), "the swap never reached the pool's fsync %d", gate);
    int rv = fully ? partition_log_truncate_fully_and_start_at(log, offset)
                   : partition_log_truncate_to(log, offset);
    ck_assert_int_eq(rv, 0);
    atomic_store(&gate_open, true);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(seen.called && !seen.log_null);
    return seen.st.status;
}

/* What the log reads for offsets [0, 10) after a truncation to 10 met a
 * swap whose first rewritten segment (offset 0: k0=r0, superseded) was
 * swapped into place and whose second (offset 1) was committed only. */
static void check_truncated_to_ten(struct partition_log *log)
{
    struct seen s[64];
    int n = read_all(log, s, 64);
    ck_assert_int_eq(partition_log_end_offset(log), 10);
    ck_assert_int_eq(n, 9); /* offset 0 cleaned away; 1..9 as written */
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(s[i].offset, i + 1);
        char value[16];
        snprintf(value, sizeof value, "r%d", (i + 1) / KEYS);
        ck_assert_str_eq(s[i].value, value);
    }
}

START_TEST(test_truncation_during_swap)
{
    struct partition_log *log = open_log("compact");
    fill(log);
    end_with_active(log);
    ck_assert_int_eq(partition_log_segment_count(log), 4 * KEYS + 1); /* a batch a segment */
    /* Held after segment 1's commit: segment 0 is in place, segment 1 only
     * committed. */
    ck_assert_int_ne(truncate_during_swap(log, 3, false, 10), 0);
    check_truncated_to_ten(log);
    ck_assert(!any_file_with(".swap") && !any_file_with(".cleaned"));
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log("compact");
    check_truncated_to_ten(log);
    partition_log_close(log);
}
END_TEST

/* A full truncation (a follower's log start moved past its end) meets a
 * committed swap: no segment below the new start comes back on reopen. */
START_TEST(test_full_truncation_during_swap)
{
    for (int gate = 2; gate <= 3; gate++) {
        struct partition_log *log = open_log("compact");
        fill(log);
        end_with_active(log);
        ck_assert_int_ne(truncate_during_swap(log, gate, true, 100), 0);
        ck_assert_int_eq(partition_log_close(log), 0);
        log = open_log("compact");
        ck_assert_msg(!any_file_with(".swap") && !any_file_with(".cleaned"), "gate %d", gate);
        ck_assert_int_eq(count_files_with(".log"), 1);
        ck_assert_int_eq(partition_log_start_offset(log), 100);
        ck_assert_int_eq(partition_log_end_offset(log), 100);
        partition_log_close(log);
        tb_rmdir(dir);
        dir = tb_tmpdir();
        snprintf(pdir, sizeof pdir, "%s/c-0", dir);
    }
}
END_TEST

/* Closing the log while the pool is between two steps of a swap: the pool
 * renames nothing after the close, and the reopened log is consistent. */
START_TEST(test_close_during_swap)
{
    struct partition_log *log = open_log("compact");
    fill(log);
    end_with_active(log);
    int64_t end = partition_log_end_offset(log);
    struct cb_seen seen = {0};
    reset_counts();
    atomic_store(&gate_at, 3);
    partition_log_set_high_watermark(log, end);
    ck_assert_int_eq(partition_log_clean(log, &lim, clk.now, on_clean_seen, &seen), 1);
    while (!atomic_load(&gate_reached) && !seen.called) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(atomic_load(&gate_reached), "the swap never reached the pool's fsync");
    ck_assert_int_eq(partition_log_close(log), 0);
    atomic_store(&gate_open, true);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(seen.called && seen.log_null);
    ck_assert(!any_file_with(".swap") && !any_file_with(".cleaned"));
    log = open_log("compact");
    ck_assert_int_eq(partition_log_end_offset(log), end);
    struct seen s[64];
    int n = read_all(log, s, 64);
    ck_assert_int_eq(n, 4 * KEYS + 2 - 1); /* only segment 0 was swapped */
    ck_assert_int_eq(clean(log).status, 0);
    check_compacted(log);
    partition_log_close(log);
}
END_TEST

/* The pool has finished the whole swap (every segment in place, the final
 * fsync done) but its completion has not run when a follower truncates to
 * 10, below map_end (20): the truncation settles the swap, and the
 * completion must not then move clean_offset to map_end, past the log end
 * (records appended again in [10, 20) would count as clean without ever
 * being in an offset map: a tombstone there could outlive the value it
 * deletes). */
START_TEST(test_truncation_after_the_pool_swapped_before_completion)
{
    struct partition_log *log = open_log("compact");
    fill(log);
    end_with_active(log);
    struct cb_seen seen = {0};
    reset_counts();
    atomic_store(&gate_final, true);
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    ck_assert_int_eq(partition_log_clean(log, &lim, clk.now, on_clean_seen, &seen), 1);
    while (!atomic_load(&gate_reached) && !seen.called) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert(atomic_load(&gate_reached));
    atomic_store(&gate_open, true);
    while (!atomic_load(&gate_passed)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert(!seen.called); /* the completion has not run: the loop did not */
    ck_assert_int_eq(partition_log_truncate_to(log, 10), 0);
    ck_assert_int_le(partition_log_clean_offset(log), 10);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(seen.called && !seen.log_null);
    ck_assert_int_eq(partition_log_end_offset(log), 10);
    ck_assert_msg(partition_log_clean_offset(log) <= partition_log_end_offset(log),
                  "clean_offset %" PRId64 " past the log end %" PRId64 " after a truncation",
                  partition_log_clean_offset(log), partition_log_end_offset(log));
    ck_assert_int_ne(seen.st.status, 0); /* abandoned, not reported as cleaned */
    partition_log_close(log);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("log_cleaner");
    TCase *tc = tcase_create("cleaner");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_compacts_to_latest_per_key);
    tcase_add_test(tc, test_delete_policy_and_ratio_do_not_clean);
    tcase_add_test(tc, test_tombstones_kept_then_dropped);
    tcase_add_test(tc, test_transactional_records_do_not_supersede);
    tcase_add_test(tc, test_reader_keeps_old_segment);
    tcase_add_test(tc, test_crash_at_every_swap_step);
    tcase_add_test(tc, test_swap_runs_off_the_loop);
    tcase_add_test(tc, test_truncation_during_swap);
    tcase_add_test(tc, test_full_truncation_during_swap);
    tcase_add_test(tc, test_close_during_swap);
    tcase_add_test(tc, test_truncation_after_the_pool_swapped_before_completion);
    tcase_add_test(tc, test_crash_before_commit_keeps_old_data);
    tcase_add_test(tc, test_close_cancels_a_throttled_clean);
    tcase_add_test(tc, test_undecodable_compressed_batch_kept_whole);
    tcase_add_test(tc, test_compressed_batches_compacted_per_codec);
    tcase_add_test(tc, test_keyless_records_refused_when_compacted);
    tcase_add_loop_test(tc, test_follower_accepts_gaps_not_overlaps, 0, 2);
    tcase_add_test(tc, test_offset_map);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
