/* partition_log crash recovery: torn tails, flipped bits, lost or damaged
 * indexes and checkpoints. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/partition_log.h"
#include "broker/log/record_batch.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

static uv_loop_t loop;
static char *dir;
static char pdir[1024];
static struct topic_config tc;
static struct tb_clock clk = {1700000000000};
static const struct log_clock clock_ = {tb_clock_now, &clk};

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
    snprintf(pdir, sizeof pdir, "%s/topic-0", dir);
    tb_topic_config(&tc, "segment.bytes=3000", "index.interval.bytes=200", NULL);
}

static void teardown(void)
{
    topic_config_free(&tc);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
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

static void fill(struct partition_log *log, int batches)
{
    for (int i = 0; i < batches; i++) {
        struct buf b = BUF_INIT;
        struct log_append_info info;
        tb_batch(&b, 1 + i % 3, 100, clk.now + i, (uint32_t)i);
        ck_assert_int_eq(partition_log_append(log, b.data, b.len, 1, &info), 0);
        buf_free(&b);
    }
}

static void read_all(struct partition_log *log, struct buf *out)
{
    int64_t next = partition_log_start_offset(log);
    while (next < partition_log_end_offset(log)) {
        struct log_read_result r;
        ck_assert_int_eq(partition_log_read_copy(log, next, 1 << 20, INT64_MAX, out, &r), 0);
        ck_assert_int_gt(r.next_offset, next);
        next = r.next_offset;
    }
}

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", pdir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*len + 1);
    ck_assert_uint_eq(fread(p, 1, *len, f), *len);
    fclose(f);
    return p;
}

static void spit(const char *name, const uint8_t *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", pdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, len, f), len);
    fclose(f);
}

/* Name of the last segment and the position/base of its last batch. */
static void last_batch(struct partition_log *log, char *name, size_t namelen, int64_t *pos,
                       int64_t *base)
{
    struct log_read_result r;
    int64_t end = partition_log_end_offset(log);
    ck_assert_int_eq(partition_log_read(log, end - 1, 1, INT64_MAX, &r), 0);
    *pos = r.position;
    *base = r.first_offset;
    log_read_result_release(&r);
    /* The active segment's base: the lowest base whose read starts at 0. */
    int64_t seg_base = *base;
    while (seg_base > 0) {
        ck_assert_int_eq(partition_log_read(log, seg_base - 1, 1, INT64_MAX, &r), 0);
        int64_t p = r.position, prev = r.first_offset;
        log_read_result_release(&r);
        if (p >= *pos) {
            break; /* previous batch lives in an earlier segment */
        }
        seg_base = prev;
    }
    snprintf(name, namelen, "%020lld.log", (long long)seg_base);
}

START_TEST(test_torn_tail_at_every_byte)
{
    struct partition_log *log = open_log();
    fill(log, 31);
    char name[64];
    int64_t pos, base;
    last_batch(log, name, sizeof name, &pos, &base);
    ck_assert_int_gt(pos, 0); /* the last segment holds several batches */
    ck_assert_str_ne(name, "00000000000000000000.log");
    int64_t end = partition_log_end_offset(log);
    struct buf want = BUF_INIT;
    read_all(log, &want);
    ck_assert_int_eq(partition_log_close(log), 0);
    size_t len;
    uint8_t *pristine = slurp(name, &len);
    for (size_t cut = (size_t)pos; cut < len; cut++) {
        spit(name, pristine, cut);
        log = open_log();
        ck_assert_msg(partition_log_end_offset(log) == base, "cut %zu: end %lld want %lld", cut,
                      (long long)partition_log_end_offset(log), (long long)base);
        ck_assert_int_le(partition_log_high_watermark(log), base);
        struct buf got = BUF_INIT;
        read_all(log, &got);
        ck_assert_uint_eq(got.len, want.len - (len - (size_t)pos));
        ck_assert_mem_eq(got.data, want.data, got.len);
        buf_free(&got);
        ck_assert_int_eq(partition_log_close(log), 0);
    }
    /* The whole file again: nothing lost, and appends continue. */
    spit(name, pristine, len);
    log = open_log();
    ck_assert_int_eq(partition_log_end_offset(log), end);
    fill(log, 1);
    ck_assert_int_gt(partition_log_end_offset(log), end);
    ck_assert_int_eq(partition_log_close(log), 0);
    free(pristine);
    buf_free(&want);
}
END_TEST

START_TEST(test_flipped_bit_in_last_batch)
{
    struct partition_log *log = open_log();
    fill(log, 25);
    char name[64];
    int64_t pos, base;
    last_batch(log, name, sizeof name, &pos, &base);
    int64_t base_last = partition_log_end_offset(log) - 1;
    int64_t seg_base = strtoll(name, NULL, 10);
    ck_assert_int_eq(partition_log_close(log), 0);
    size_t len;
    uint8_t *pristine = slurp(name, &len);
    for (size_t i = (size_t)pos; i < len; i++) {
        if (i >= (size_t)pos + 12 && i < (size_t)pos + 16) {
            continue; /* partitionLeaderEpoch: outside the CRC, not checkable */
        }
        for (int bit = 0; bit < 8; bit += 7) {
            pristine[i] ^= (uint8_t)(1u << bit);
            spit(name, pristine, len);
            pristine[i] ^= (uint8_t)(1u << bit);
            log = open_log();
            int64_t want_end = base, want_size = pos;
            if (i < (size_t)pos + 8) {
                /* baseOffset is outside the CRC: a flip that raises it inside
                 * the segment reads as a gap (Kafka allows gaps anywhere); one
                 * that lowers it, or leaves the segment, cuts the batch. */
                int64_t flipped = base ^ (int64_t)((uint64_t)1 << (bit + 8 * (pos + 7 - i)));
                int64_t last = flipped + (base_last - base);
                if (flipped > base && last - seg_base <= INT32_MAX) {
                    want_end = last + 1;
                    want_size = (int64_t)len;
                }
            }
            ck_assert_msg(partition_log_end_offset(log) == want_end, "byte %zu bit %d: end %lld",
                          i - (size_t)pos, bit, (long long)partition_log_end_offset(log));
            ck_assert_int_eq(partition_log_close(log), 0);
            ck_assert_int_eq(tb_file_size(pdir, name), want_size);
        }
    }
    free(pristine);
}
END_TEST

START_TEST(test_corrupt_middle_segment_without_checkpoint)
{
    struct partition_log *log = open_log();
    fill(log, 40);
    ck_assert_int_ge(partition_log_segment_count(log), 3);
    ck_assert_int_eq(partition_log_close(log), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", pdir, PARTITION_LOG_CHECKPOINT_FILE);
    ck_assert_int_eq(unlink(path), 0);
    size_t len;
    uint8_t *seg0 = slurp("00000000000000000000.log", &len);
    struct record_batch_header h;
    ck_assert_int_eq(record_batch_parse(seg0, len, &h), 0);
    size_t second = (size_t)record_batch_size(&h);
    seg0[second + 40] ^= 4; /* inside the second batch's CRC range */
    spit("00000000000000000000.log", seg0, len);
    log = open_log();
    ck_assert_int_eq(partition_log_end_offset(log), h.last_offset_delta + 1);
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    ck_assert_int_eq(tb_file_size(pdir, "00000000000000000000.log"), (int64_t)second);
    ck_assert_int_eq(partition_log_close(log), 0);
    free(seg0);
}
END_TEST

/* A rolled segment ending short of the next one (the cleaner removed its
 * last records, or a crash lost its unflushed tail at a batch boundary) is
 * a gap, as in Kafka: the later segments stay, and reads inside the gap
 * move on to the next segment instead of returning nothing (an earlier bug
 * found by fuzz_log_recovery). Cutting there would lose acknowledged data
 * of a compacted log whose policy became delete. */
START_TEST(test_segment_ending_short_of_the_next)
{
    struct partition_log *log = open_log();
    fill(log, 40);
    int64_t end = partition_log_end_offset(log);
    size_t segments = partition_log_segment_count(log);
    ck_assert_int_ge(segments, 3);
    ck_assert_int_eq(partition_log_close(log), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", pdir, PARTITION_LOG_CHECKPOINT_FILE);
    ck_assert_int_eq(unlink(path), 0);
    size_t len;
    uint8_t *seg0 = slurp("00000000000000000000.log", &len);
    struct record_batch_header h;
    ck_assert_int_eq(record_batch_parse(seg0, len, &h), 0);
    ck_assert_uint_lt((size_t)record_batch_size(&h), len);
    spit("00000000000000000000.log", seg0, (size_t)record_batch_size(&h));
    log = open_log();
    ck_assert_int_eq(partition_log_end_offset(log), end);
    ck_assert_uint_eq(partition_log_segment_count(log), segments);
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read(log, h.last_offset_delta + 1, 1, INT64_MAX, &r), 0);
    ck_assert_int_gt(r.first_offset, h.last_offset_delta + 1);
    ck_assert_int_eq(r.position, 0); /* the next segment's first batch */
    log_read_result_release(&r);
    struct buf all = BUF_INIT;
    read_all(log, &all);
    ck_assert_uint_gt(all.len, (size_t)record_batch_size(&h));
    buf_free(&all);
    ck_assert_int_eq(partition_log_close(log), 0);
    free(seg0);
}
END_TEST

START_TEST(test_lost_and_damaged_indexes_rebuilt_identically)
{
    struct partition_log *log = open_log();
    fill(log, 40);
    ck_assert_int_ge(partition_log_segment_count(log), 3);
    ck_assert_int_eq(partition_log_close(log), 0);
    size_t ilen, tlen, n;
    uint8_t *index = slurp("00000000000000000000.index", &ilen);
    uint8_t *tindex = slurp("00000000000000000000.timeindex", &tlen);
    ck_assert_uint_gt(ilen, 0);
    ck_assert_uint_gt(tlen, 0);
    struct buf want = BUF_INIT, got = BUF_INIT;
    log = open_log();
    read_all(log, &want);
    ck_assert_int_eq(partition_log_close(log), 0);
    /* Lost. */
    char path[4096];
    snprintf(path, sizeof path, "%s/00000000000000000000.index", pdir);
    ck_assert_int_eq(unlink(path), 0);
    snprintf(path, sizeof path, "%s/00000000000000000000.timeindex", pdir);
    ck_assert_int_eq(unlink(path), 0);
    log = open_log();
    read_all(log, &got);
    ck_assert_uint_eq(got.len, want.len);
    ck_assert_mem_eq(got.data, want.data, got.len);
    ck_assert_int_eq(partition_log_close(log), 0);
    uint8_t *p = slurp("00000000000000000000.index", &n);
    ck_assert_uint_eq(n, ilen);
    ck_assert_mem_eq(p, index, n);
    free(p);
    p = slurp("00000000000000000000.timeindex", &n);
    ck_assert_uint_eq(n, tlen);
    ck_assert_mem_eq(p, tindex, n);
    free(p);
    /* Damaged: a partial entry, then an entry pointing past the segment. */
    spit("00000000000000000000.index", index, ilen - 3);
    log = open_log();
    ck_assert_int_eq(partition_log_close(log), 0);
    p = slurp("00000000000000000000.index", &n);
    ck_assert_uint_eq(n, ilen);
    ck_assert_mem_eq(p, index, n);
    free(p);
    index[ilen - 3] = 0x7f;
    spit("00000000000000000000.index", index, ilen);
    log = open_log();
    buf_reset(&got);
    read_all(log, &got);
    ck_assert_mem_eq(got.data, want.data, got.len);
    ck_assert_int_eq(partition_log_close(log), 0);
    free(index);
    free(tindex);
    buf_free(&want);
    buf_free(&got);
}
END_TEST

START_TEST(test_bad_checkpoint_and_leftovers)
{
    struct partition_log *log = open_log();
    fill(log, 10);
    partition_log_set_high_watermark(log, 5);
    int64_t end = partition_log_end_offset(log);
    ck_assert_int_eq(partition_log_close(log), 0);
    spit(PARTITION_LOG_CHECKPOINT_FILE, (const uint8_t *)"garbage\n", 8);
    spit("00000000000000000000.log.deleted", (const uint8_t *)"x", 1);
    spit(PARTITION_LOG_CHECKPOINT_FILE ".tmp", (const uint8_t *)"x", 1);
    spit("notes.txt", (const uint8_t *)"x", 1);
    log = open_log();
    ck_assert_int_eq(partition_log_end_offset(log), end);
    ck_assert_int_eq(partition_log_start_offset(log), 0);
    ck_assert_int_eq(partition_log_high_watermark(log), 0);
    ck_assert_int_eq(tb_file_size(pdir, "00000000000000000000.log.deleted"), -1);
    ck_assert_int_eq(tb_file_size(pdir, PARTITION_LOG_CHECKPOINT_FILE ".tmp"), -1);
    ck_assert_int_eq(tb_file_size(pdir, "notes.txt"), 1);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

START_TEST(test_garbage_segment_file)
{
    /* A .log full of random bytes, including huge length fields: recovery
     * cuts it to nothing without large allocations or crashes. */
    ck_assert_int_eq(mkdir(pdir, 0755), 0);
    uint8_t junk[5000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 16);
    }
    junk[8] = 0x7f; /* batchLength ~2 GB */
    spit("00000000000000000000.log", junk, sizeof junk);
    struct partition_log *log = open_log();
    ck_assert_int_eq(partition_log_end_offset(log), 0);
    ck_assert_int_eq(tb_file_size(pdir, "00000000000000000000.log"), 0);
    fill(log, 2);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The segments' base offsets, ascending; returns how many (at most `max`). */
static size_t segment_bases(int64_t *bases, size_t max)
{
    DIR *d = opendir(pdir);
    struct dirent *e;
    size_t n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL && n < max) {
        size_t len = strlen(e->d_name);
        if (len == 24 && strcmp(e->d_name + 20, ".log") == 0) {
            bases[n++] = strtoll(e->d_name, NULL, 10);
        }
    }
    closedir(d);
    qsort(bases, n, sizeof *bases, cmp_i64);
    return n;
}

/* Flip a bit inside the CRC range of the second batch of segment `base`;
 * returns the size of its first batch and *records its record count. */
static size_t damage_second_batch(int64_t base, int64_t *records)
{
    char name[64];
    size_t len;
    snprintf(name, sizeof name, "%020lld.log", (long long)base);
    uint8_t *p = slurp(name, &len);
    struct record_batch_header h;
    ck_assert_int_eq(record_batch_parse(p, len, &h), 0);
    size_t first = (size_t)record_batch_size(&h);
    ck_assert_uint_gt(len, first + 60);
    p[first + 40] ^= 4;
    spit(name, p, len);
    free(p);
    *records = h.last_offset_delta + 1;
    return first;
}

struct load_arg {
    struct partition_log *log;
    int rv;
    char err[256];
};

static void load_on_thread(void *p)
{
    struct load_arg *a = p;
    a->rv = partition_log_load(a->log, a->err, sizeof a->err);
}

/* Start-up recovery validates only the segments from the one holding the
 * checkpointed recovery point on, and runs off the loop thread
 * (partition_log_prepare / load / attach): damage in an earlier segment is
 * not even read (only a recovery from offset 0 finds and cuts it), damage
 * past the recovery point is cut. */
START_TEST(test_recovery_from_the_checkpointed_recovery_point)
{
    struct partition_log *log = open_log();
    fill(log, 40);
    int64_t end = partition_log_end_offset(log);
    ck_assert_int_eq(partition_log_close(log), 0);
    int64_t bases[64];
    size_t n = segment_bases(bases, 64);
    ck_assert_uint_ge(n, 4);
    int64_t rec0, rec2;
    size_t first0 = damage_second_batch(bases[0], &rec0);
    size_t first2 = damage_second_batch(bases[2], &rec2);
    char name0[64];
    snprintf(name0, sizeof name0, "%020lld.log", (long long)bases[0]);
    int64_t size0 = tb_file_size(pdir, name0);

    struct log_checkpoint cp = {0, end, bases[2]};
    struct load_arg a = {0};
    ck_assert_int_eq(partition_log_prepare(&loop, pdir, &tc, &clock_, &cp, NULL, &a.log), 0);
    uv_thread_t th;
    ck_assert_int_eq(uv_thread_create(&th, load_on_thread, &a), 0);
    ck_assert_int_eq(uv_thread_join(&th), 0);
    ck_assert_msg(a.rv == 0, "%s", a.err);
    partition_log_attach(a.log);
    log = a.log;
    ck_assert_int_eq(partition_log_end_offset(log), bases[2] + rec2);
    ck_assert_int_eq(partition_log_segment_count(log), 3);
    ck_assert_int_eq(tb_file_size(pdir, name0), size0);
    struct buf out = BUF_INIT;
    read_all(log, &out); /* segment 0's damage is in the bytes, not yet seen */
    buf_free(&out);
    ck_assert_int_eq(partition_log_close(log), 0);
    (void)first2;

    cp.recovery_point = 0;
    ck_assert_int_eq(
        partition_log_open_owned(&loop, pdir, &tc, &clock_, &cp, NULL, &log, a.err, sizeof a.err),
        0);
    ck_assert_int_eq(partition_log_end_offset(log), rec0);
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    ck_assert_int_eq(tb_file_size(pdir, name0), (int64_t)first0);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_recovery");
    TCase *tc_ = tcase_create("core");
    tcase_add_checked_fixture(tc_, setup, teardown);
    tcase_set_timeout(tc_, 120);
    tcase_add_test(tc_, test_torn_tail_at_every_byte);
    tcase_add_test(tc_, test_flipped_bit_in_last_batch);
    tcase_add_test(tc_, test_corrupt_middle_segment_without_checkpoint);
    tcase_add_test(tc_, test_segment_ending_short_of_the_next);
    tcase_add_test(tc_, test_lost_and_damaged_indexes_rebuilt_identically);
    tcase_add_test(tc_, test_bad_checkpoint_and_leftovers);
    tcase_add_test(tc_, test_garbage_segment_file);
    tcase_add_test(tc_, test_recovery_from_the_checkpointed_recovery_point);
    suite_add_tcase(s, tc_);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
