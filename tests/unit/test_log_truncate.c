/* partition_log_truncate_to rebuilds the cut segment's indexes and summary
 * from its offset index and the few batches after the last entry kept
 * (log_recovery_truncate_segment). The oracle is the full rescan
 * (log_recovery_scan_segment) of the same segment right after: every field
 * and every index entry must be the same. Random logs (batch counts, record
 * counts, value sizes, timestamps out of order or absent, index.interval.bytes
 * from 0 to the default, rolls, reopens, follower appends with offset gaps),
 * random cuts, then appends, reads at every batch's offsets and ListOffsets
 * by timestamp against a model of the log. The seed is printed at the start
 * and in every failure; SLUICE_TEST_SEED=<n> runs the same logs again.
 *
 * Linked with -Wl,--wrap=pread64,--wrap=log_write: to count the bytes a
 * truncation reads, and to see whether it fell back to the full rescan. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/log/partition_log.h"
#include "broker/log/partition_log_internal.h"
#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "common/log.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

ssize_t __real_pread64(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t n, off_t off);
void __real_log_write(enum log_level level, const char *component, const char *fmt, ...);
void __wrap_log_write(enum log_level level, const char *component, const char *fmt, ...);

static bool counting;
static int64_t bytes_read;
static int rescans; /* truncations that fell back to the full rescan */

ssize_t __wrap_pread64(int fd, void *buf, size_t n, off_t off)
{
    ssize_t r = __real_pread64(fd, buf, n, off);
    if (counting && r > 0) {
        bytes_read += r;
    }
    return r;
}

void __wrap_log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    if (strstr(fmt, "rescanning truncated segment") != NULL) {
        rescans++;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    __real_log_write(level, component, "%s", line);
}

static uv_loop_t loop;
static char *dir;
static char pdir[1024];
static struct tb_clock clk = {1700000000000};
static const struct log_clock clock_ = {tb_clock_now, &clk};
static uint32_t base_seed;

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
    snprintf(pdir, sizeof pdir, "%s/topic-0", dir);
    log_set_level(LOG_LEVEL_WARN); /* hundreds of truncations log at info */
    rescans = 0;
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    tb_rmdir(dir);
}

/* ---- random numbers (splitmix64: the seed alone fixes the run) ---- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static uint32_t below(uint32_t n)
{
    return rnd() % n;
}

/* ---- the model: every batch in the log, in offset order ---- */

struct mbatch {
    int64_t base;
    int count;
    int64_t base_ts; /* record i has base_ts + i; -1 with one record: no timestamp */
    uint32_t crc;
};

struct ctx {
    uint32_t seed;
    struct topic_config tc;
    struct partition_log *log;
    bool follower; /* appends keep the test's offsets, with gaps */
    int max_records;
    uint32_t max_value;
    uint32_t absent_ts_in_16; /* batches without a timestamp, out of 16 */
    struct mbatch *b;
    size_t n, cap;
};

static int64_t mb_last(const struct mbatch *b)
{
    return b->base + b->count - 1;
}

static void open_ctx_log(struct ctx *c)
{
    char err[256] = "";
    c->log = NULL;
    ck_assert_msg(partition_log_open(&loop, pdir, &c->tc, &clock_, &c->log, err, sizeof err) == 0,
                  "seed=%u open: %s", c->seed, err);
}

/* Close and let the thread pool finish what the log left it (a producer
 * snapshot written at a roll), so the next open finds the directory quiet. */
static void close_ctx_log(struct ctx *c)
{
    ck_assert_int_eq(partition_log_close(c->log), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void reopen(struct ctx *c)
{
    close_ctx_log(c);
    open_ctx_log(c);
}

static void model_push(struct ctx *c, const struct mbatch *m)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->b = realloc(c->b, c->cap * sizeof *c->b);
        ck_assert_ptr_nonnull(c->b);
    }
    c->b[c->n++] = *m;
}

static void append_batch(struct ctx *c, int count, size_t value_len, int64_t ts)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    int64_t end = partition_log_end_offset(c->log);
    int64_t base = c->follower ? end + (below(4) == 0 ? (int64_t)below(6) : 0) : 0;
    int rv;
    tb_batch_ex(&b, count, value_len, ts, rnd(), 0, base);
    if (c->follower) {
        rv = partition_log_append_as_follower(c->log, b.data, b.len, &info);
    } else {
        rv = partition_log_append(c->log, b.data, b.len, 3, &info);
    }
    ck_assert_msg(rv == 0, "seed=%u append: %s (%s)", c->seed, log_err_name(rv), info.reason);
    struct mbatch m = {info.first_offset, count, ts, be32_load(b.data + 17)};
    ck_assert_int_eq(m.base, c->follower ? base : end);
    model_push(c, &m);
    buf_free(&b);
}

/* Timestamps around the clock, out of order, sometimes absent (-1). */
static void append_random(struct ctx *c)
{
    int count = 1 + (int)below((uint32_t)c->max_records);
    size_t value_len = below(c->max_value + 1);
    int64_t ts = clk.now - 500000 + (int64_t)below(1000000);
    if (below(16) < c->absent_ts_in_16) {
        ts = -1;
        count = 1;
    }
    append_batch(c, count, value_len, ts);
}

/* ---- one segment's state, as the oracle compares it ---- */

struct snap {
    int64_t next_offset, size, max_timestamp, max_ts_offset, first_batch_ts;
    int64_t time_index_last_ts, bytes_since_index;
    uint32_t offset_entries, time_entries;
    uint8_t *offsets, *times;
};

/* `written`: the entries must all be in the file (as after a truncation or
 * rescan; appends leave some pending). */
static uint8_t *read_entries(struct index_file *ix, bool written)
{
    uint8_t *out = malloc((size_t)ix->entries * ix->entry_size + 1);
    struct stat st;
    ck_assert_ptr_nonnull(out);
    for (uint32_t i = 0; i < ix->entries; i++) {
        ck_assert_int_eq(index_file_entry(ix, i, out + (size_t)i * ix->entry_size), 0);
    }
    ck_assert_int_eq(fstat(ix->fd, &st), 0);
    ck_assert_int_eq(st.st_size, (off_t)ix->persisted * (off_t)ix->entry_size);
    if (written) {
        ck_assert_uint_eq(ix->persisted, ix->entries);
    }
    return out;
}

static void take(struct segment *seg, struct snap *s, bool written)
{
    ck_assert_int_eq(segment_use(seg), 0);
    s->next_offset = seg->next_offset;
    s->size = seg->size;
    s->max_timestamp = seg->max_timestamp;
    s->max_ts_offset = seg->max_ts_offset;
    s->first_batch_ts = seg->first_batch_ts;
    s->time_index_last_ts = seg->time_index_last_ts;
    s->bytes_since_index = seg->bytes_since_index;
    s->offset_entries = seg->offset_index.entries;
    s->time_entries = seg->time_index.entries;
    s->offsets = read_entries(&seg->offset_index, written);
    s->times = read_entries(&seg->time_index, written);
}

#define SAME(field)                                                                                \
    ck_assert_msg(fast.field == full.field,                                                        \
                  "seed=%u truncate_to=%" PRId64 " segment=%" PRId64 ": " #field " %" PRId64       \
                  " after the index-based truncation, %" PRId64 " after a rescan",                 \
                  c->seed, to, seg->base_offset, (int64_t)fast.field, (int64_t)full.field)

/* The last segment (the one truncate_to cut, unless `to` was at the end)
 * against its full rescan. */
static void check_against_rescan(struct ctx *c, int64_t to, bool cut_done)
{
    struct segment *seg = c->log->segs[c->log->nsegs - 1];
    struct snap fast, full;
    int64_t cut;
    take(seg, &fast, cut_done);
    ck_assert_int_eq(log_recovery_scan_segment(c->log, seg, INT64_MAX, &cut), 0);
    ck_assert_int_eq(cut, 0);
    take(seg, &full, true);
    SAME(next_offset);
    SAME(size);
    SAME(max_timestamp);
    SAME(max_ts_offset);
    SAME(first_batch_ts);
    SAME(time_index_last_ts);
    SAME(bytes_since_index);
    SAME(offset_entries);
    SAME(time_entries);
    for (uint32_t i = 0; i < full.offset_entries; i++) {
        ck_assert_msg(memcmp(fast.offsets + 8 * i, full.offsets + 8 * i, 8) == 0,
                      "seed=%u truncate_to=%" PRId64 ": offset index entry %u differs", c->seed, to,
                      i);
    }
    for (uint32_t i = 0; i < full.time_entries; i++) {
        ck_assert_msg(memcmp(fast.times + 12 * i, full.times + 12 * i, 12) == 0,
                      "seed=%u truncate_to=%" PRId64 ": time index entry %u differs", c->seed, to,
                      i);
    }
    free(fast.offsets);
    free(fast.times);
    free(full.offsets);
    free(full.times);
}

/* ---- reads against the model ---- */

static void check_batch_read(struct ctx *c, const struct mbatch *m, int64_t at)
{
    struct buf out = BUF_INIT;
    struct log_read_result r;
    struct record_batch_header h;
    ck_assert_int_eq(partition_log_read_copy(c->log, at, 1, INT64_MAX, &out, &r), 0);
    ck_assert_msg(r.first_offset == m->base && r.next_offset == mb_last(m) + 1,
                  "seed=%u read at %" PRId64 ": batch [%" PRId64 ", %" PRId64 ") expected [%" PRId64
                  ", %" PRId64 ")",
                  c->seed, at, r.first_offset, r.next_offset, m->base, mb_last(m) + 1);
    ck_assert_uint_ge(out.len, RECORD_BATCH_HEADER_SIZE);
    record_batch_parse(out.data, out.len, &h);
    ck_assert_uint_eq(h.crc, m->crc);
    ck_assert_int_eq(h.max_timestamp, m->base_ts + m->count - 1);
    buf_free(&out);
}

/* ListOffsets by timestamp from the model: the first record (in offset
 * order) with a timestamp >= ts. */
static void expected_for_timestamp(const struct ctx *c, int64_t ts, int64_t *off, int64_t *rec_ts)
{
    *off = *rec_ts = -1;
    for (size_t i = 0; i < c->n; i++) {
        const struct mbatch *m = &c->b[i];
        if (m->base_ts + m->count - 1 >= ts) {
            int64_t k = ts > m->base_ts ? ts - m->base_ts : 0;
            *off = m->base + k;
            *rec_ts = m->base_ts + k;
            return;
        }
    }
}

static void check_timestamp(struct ctx *c, int64_t ts)
{
    int64_t off, got_ts, want, want_ts;
    expected_for_timestamp(c, ts, &want, &want_ts);
    ck_assert_int_eq(partition_log_offset_for_timestamp(c->log, ts, &off, &got_ts), 0);
    ck_assert_msg(off == want && got_ts == want_ts,
                  "seed=%u offset for timestamp %" PRId64 ": %" PRId64 " (ts %" PRId64
                  "), expected %" PRId64 " (ts %" PRId64 ")",
                  c->seed, ts, off, got_ts, want, want_ts);
}

static void check_reads(struct ctx *c)
{
    int64_t end = c->n > 0 ? mb_last(&c->b[c->n - 1]) + 1 : 0;
    ck_assert_int_ge(partition_log_end_offset(c->log), end);
    for (size_t i = 0; i < c->n; i++) {
        check_batch_read(c, &c->b[i], c->b[i].base);
        check_batch_read(c, &c->b[i], mb_last(&c->b[i]));
    }
    for (int i = 0; i < 24 && c->n > 0; i++) {
        const struct mbatch *m = &c->b[below((uint32_t)c->n)];
        int64_t ts = m->base_ts >= 0 ? m->base_ts + below((uint32_t)m->count + 1) : 0;
        check_timestamp(c, ts);
    }
    check_timestamp(c, clk.now + 1000000); /* above every timestamp: none */
    check_timestamp(c, 0);                 /* the first timestamped record */
}

/* ---- truncation ---- */

static void model_truncate(struct ctx *c, int64_t to)
{
    while (c->n > 0 && mb_last(&c->b[c->n - 1]) >= to) {
        c->n--;
    }
}

/* Truncate to `to` and compare with the rescan; the log must end at the
 * last batch kept, or at the base of the segment `to` fell in if it kept
 * none (a follower's gap may lie before it). */
static void truncate_and_check(struct ctx *c, int64_t to)
{
    int before = rescans;
    bool cut_done = to < partition_log_end_offset(c->log);
    int rv = partition_log_truncate_to(c->log, to);
    ck_assert_msg(rv == 0, "seed=%u truncate_to=%" PRId64 ": %s", c->seed, to, log_err_name(rv));
    model_truncate(c, to);
    int64_t last_end = c->n > 0 ? mb_last(&c->b[c->n - 1]) + 1 : 0;
    int64_t seg_base = c->log->segs[c->log->nsegs - 1]->base_offset;
    ck_assert_int_eq(partition_log_end_offset(c->log), last_end > seg_base ? last_end : seg_base);
    ck_assert_msg(rescans == before, "seed=%u truncate_to=%" PRId64 " fell back to the rescan",
                  c->seed, to);
    check_against_rescan(c, to, cut_done);
}

/* A cut the rounds pick: the log end (no-op), inside the last batch, a
 * segment's base (it is left empty), the log start, or anywhere. */
static int64_t pick_cut(struct ctx *c)
{
    int64_t end = partition_log_end_offset(c->log);
    switch (below(8)) {
    case 0:
        return end;
    case 1:
        return end > 0 ? end - 1 : 0;
    case 2:
        return c->log->segs[below((uint32_t)c->log->nsegs)]->base_offset;
    case 3:
        return 0;
    default:
        return (int64_t)below((uint32_t)end + 1);
    }
}

static void run_random_log(uint32_t seed)
{
    static const char *const intervals[] = {"index.interval.bytes=0", "index.interval.bytes=1",
                                            "index.interval.bytes=37", "index.interval.bytes=700",
                                            "index.interval.bytes=4096"};
    char segment_bytes[64];
    struct ctx c = {.seed = seed};
    rng_state = seed;
    const char *interval = intervals[below(5)];
    snprintf(segment_bytes, sizeof segment_bytes, "segment.bytes=%u",
             below(3) == 0 ? (1u << 30) : 2000 + below(40000));
    tb_topic_config(&c.tc, interval, segment_bytes, NULL);
    c.follower = below(3) == 0;
    c.max_records = 1 + (int)below(12);
    c.max_value = below(3) == 0 ? 1500 : below(300);
    c.absent_ts_in_16 = below(4) == 0 ? 15 : 1;
    open_ctx_log(&c);
    int batches = 20 + (int)below(300);
    for (int i = 0; i < batches; i++) {
        append_random(&c);
        if (below(200) == 0) {
            reopen(&c); /* earlier segments are then loaded without a scan */
        }
    }
    for (int round = 0; round < 16; round++) {
        truncate_and_check(&c, pick_cut(&c));
        if (below(3) == 0) {
            check_reads(&c);
        }
        for (int i = (int)below(60); i > 0; i--) {
            append_random(&c);
        }
        if (below(5) == 0) {
            reopen(&c);
        }
    }
    check_reads(&c);
    close_ctx_log(&c);
    topic_config_free(&c.tc);
    free(c.b);
}

START_TEST(test_truncation_matches_full_rescan)
{
    /* Each log in its own directory: a fresh one per seed. */
    for (uint32_t i = 0; i < 12; i++) {
        uint32_t seed = base_seed + (uint32_t)_i * 1000u + i;
        run_random_log(seed);
        char path[1100];
        snprintf(path, sizeof path, "rm -rf %s", pdir);
        ck_assert_int_eq(system(path), 0);
    }
}
END_TEST

/* The cut at the segment base leaves it empty; at the log end nothing
 * changes; into an older segment the later ones go; at 0 the log is empty;
 * appends then continue and read back by offset and by timestamp. */
START_TEST(test_truncation_edges)
{
    struct ctx c = {.seed = base_seed, .max_records = 5, .max_value = 120, .absent_ts_in_16 = 1};
    rng_state = base_seed;
    tb_topic_config(&c.tc, "segment.bytes=4000", "index.interval.bytes=200", NULL);
    open_ctx_log(&c);
    for (int i = 0; i < 150; i++) {
        append_batch(&c, 1 + i % 5, 40 + (size_t)(i * 7) % 90, clk.now - (i % 7) * 1000 + i);
    }
    int segs = partition_log_segment_count(c.log);
    ck_assert_int_ge(segs, 4);
    int64_t end = partition_log_end_offset(c.log);
    int64_t size = partition_log_size_bytes(c.log);

    truncate_and_check(&c, end); /* no-op */
    ck_assert_int_eq(partition_log_end_offset(c.log), end);
    ck_assert_int_eq(partition_log_size_bytes(c.log), size);
    ck_assert_int_eq(partition_log_segment_count(c.log), segs);

    const struct mbatch *last = &c.b[c.n - 1];
    ck_assert_int_gt(last->count, 1);
    int64_t last_base = last->base;
    truncate_and_check(&c, end - 1); /* inside the last batch: all of it goes */
    ck_assert_int_eq(partition_log_end_offset(c.log), last_base);

    struct segment *active = c.log->segs[c.log->nsegs - 1];
    int64_t active_base = active->base_offset;
    truncate_and_check(&c, active_base); /* the active segment is left empty */
    ck_assert_int_eq(partition_log_segment_count(c.log), segs);
    ck_assert_int_eq(active->size, 0);
    ck_assert_int_eq(active->next_offset, active_base);
    ck_assert_int_eq(active->max_timestamp, -1);
    ck_assert_int_eq(active->first_batch_ts, -1);
    ck_assert_uint_eq(active->offset_index.entries, 0);
    ck_assert_uint_eq(active->time_index.entries, 0);
    check_reads(&c);

    /* Near the end of the first segment: the later ones go. */
    int64_t first_end = c.log->segs[0]->next_offset;
    truncate_and_check(&c, first_end - 2);
    ck_assert_int_eq(partition_log_segment_count(c.log), 1);
    ck_assert_uint_gt(c.log->segs[0]->offset_index.entries, 0);
    for (int i = 0; i < 40; i++) {
        append_random(&c);
    }
    ck_assert_int_gt(partition_log_segment_count(c.log), 1);
    check_reads(&c);
    reopen(&c);
    check_reads(&c);

    truncate_and_check(&c, 0); /* everything */
    ck_assert_int_eq(partition_log_end_offset(c.log), 0);
    ck_assert_int_eq(partition_log_segment_count(c.log), 1);
    for (int i = 0; i < 30; i++) {
        append_random(&c);
    }
    check_reads(&c);
    close_ctx_log(&c);
    topic_config_free(&c.tc);
    free(c.b);
}
END_TEST

/* With the default 1 GiB segment, a truncation must not read the segment:
 * the index-based rebuild reads about index.interval.bytes plus a batch
 * (and a read-ahead window), wherever the cut falls. The rescan it
 * replaces read everything below the cut, megabytes here. */
START_TEST(test_truncation_reads_a_bounded_window)
{
    struct ctx c = {.seed = base_seed, .max_records = 8, .max_value = 400, .absent_ts_in_16 = 1};
    rng_state = base_seed;
    tb_topic_config(&c.tc, NULL); /* index.interval.bytes=4096, segment.bytes=1 GiB */
    ck_assert_int_eq(c.tc.index_interval_bytes, 4096);
    open_ctx_log(&c);
    for (int i = 0; i < 4500; i++) {
        append_random(&c);
    }
    reopen(&c);
    ck_assert_int_eq(partition_log_segment_count(c.log), 1);
    struct segment *seg = c.log->segs[0];
    ck_assert_int_gt(seg->size, 3 << 20);
    /* Largest batch: 8 records of 400 bytes and their framing. */
    const int64_t bound = 4096 + 8 * 450 + RECORD_BATCH_HEADER_SIZE + 3 * 64 * 1024;
    for (int round = 0; round < 12; round++) {
        int64_t end = partition_log_end_offset(c.log);
        int64_t to = end - 1 - (int64_t)below((uint32_t)(end / 40));
        struct log_read_result r;
        ck_assert_int_eq(partition_log_read(c.log, to, 1, INT64_MAX, &r), 0);
        int64_t pos = r.position;
        log_read_result_release(&r);
        ck_assert_int_gt(pos, 2 << 20);
        /* partition_log_truncate_to's cut, with the reads of the rebuild
         * alone counted (the producer state replay it goes on to is not
         * this change's). */
        ck_assert_int_eq(segment_use(seg), 0);
        ck_assert_int_eq(ftruncate(seg->log_fd, (off_t)pos), 0);
        seg->size = pos;
        bytes_read = 0;
        counting = true;
        ck_assert_int_eq(log_recovery_truncate_segment(c.log, seg), 0);
        counting = false;
        ck_assert_msg(bytes_read <= bound,
                      "seed=%u: truncating at position %" PRId64 " read %" PRId64
                      " bytes, more than %" PRId64,
                      c.seed, pos, bytes_read, bound);
        model_truncate(&c, to);
        ck_assert_int_eq(partition_log_end_offset(c.log), mb_last(&c.b[c.n - 1]) + 1);
        ck_assert_int_eq(rescans, 0);
        check_against_rescan(&c, to, true);
    }
    check_reads(&c);
    close_ctx_log(&c);
    topic_config_free(&c.tc);
    free(c.b);
}
END_TEST

/* An offset index entry that does not name the batch at its position (a
 * damaged file recovery did not rescan): the truncation falls back to the
 * full rescan, which rebuilds the index right. */
START_TEST(test_wrong_index_entry_falls_back_to_rescan)
{
    struct ctx c = {.seed = base_seed, .max_records = 4, .max_value = 100, .absent_ts_in_16 = 1};
    rng_state = base_seed;
    tb_topic_config(&c.tc, "segment.bytes=20000", "index.interval.bytes=300", NULL);
    open_ctx_log(&c);
    for (int i = 0; i < 300; i++) {
        append_random(&c);
    }
    ck_assert_int_gt(partition_log_segment_count(c.log), 2);
    close_ctx_log(&c);
    /* Entry j of the first segment's index claims one offset more. */
    char path[1200];
    uint8_t e[16];
    snprintf(path, sizeof path, "%s/00000000000000000000.index", pdir);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    int64_t entries = st.st_size / 8, j = entries / 2;
    ck_assert_int_ge(entries, 4);
    ck_assert_int_eq(pread(fd, e, 16, (off_t)(8 * j)), 16);
    int64_t next_key = be32_load(e + 8);
    be32_store(e, be32_load(e) + 1);
    ck_assert_int_eq(pwrite(fd, e, 8, (off_t)(8 * j)), 8);
    close(fd);
    open_ctx_log(&c);
    /* The cut at the start of batch j + 1 (entry j + 1's batch, whose last
     * offset is its key) keeps entries 0..j: j's names the wrong batch. */
    int64_t to = next_key;
    ck_assert_int_eq(partition_log_truncate_to(c.log, to), 0);
    ck_assert_int_eq(rescans, 1);
    model_truncate(&c, to);
    ck_assert_int_eq(partition_log_end_offset(c.log), mb_last(&c.b[c.n - 1]) + 1);
    check_against_rescan(&c, to, true);
    /* The rescan wrote entry j right again. */
    struct segment *seg = c.log->segs[0];
    ck_assert_uint_eq(seg->offset_index.entries, (uint32_t)(j + 1));
    ck_assert_int_eq(index_file_entry(&seg->offset_index, (uint32_t)j, e + 8), 0);
    ck_assert_uint_eq(be32_load(e + 8), be32_load(e) - 1);
    check_reads(&c);
    close_ctx_log(&c);
    topic_config_free(&c.tc);
    free(c.b);
}
END_TEST

/* index_file_truncate: entries past n leave the buffer first, then the
 * file; n >= entries is a no-op; cutting the file needs the descriptor. */
START_TEST(test_index_file_truncate)
{
    char path[1200];
    struct index_file ix;
    uint8_t e[8];
    struct stat st;
    snprintf(path, sizeof path, "%s/ix", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    index_file_init(&ix, fd, 8, 0);
    for (uint32_t i = 0; i < 10; i++) {
        be32_store(e, i);
        be32_store(e + 4, 100 * i);
        index_file_append(&ix, e);
        if (i == 5) {
            ck_assert_int_eq(index_file_write_pending(&ix), 0); /* 0..5 in the file */
        }
    }
    ck_assert_uint_eq(ix.persisted, 6);
    ck_assert_int_eq(index_file_truncate(&ix, 12), 0);
    ck_assert_uint_eq(ix.entries, 10);
    ck_assert_int_eq(index_file_truncate(&ix, 8), 0); /* pending only */
    ck_assert_uint_eq(ix.entries, 8);
    ck_assert_uint_eq(ix.persisted, 6);
    ck_assert_int_eq(index_file_entry(&ix, 7, e), 0);
    ck_assert_uint_eq(be32_load(e), 7);
    index_file_close_fd(&ix);
    ck_assert_int_eq(index_file_truncate(&ix, 4), -EBADF); /* unchanged */
    ck_assert_uint_eq(ix.entries, 8);
    ck_assert_uint_eq(ix.persisted, 6);
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    index_file_reopen(&ix, fd);
    ck_assert_int_eq(index_file_truncate(&ix, 4), 0); /* into the file */
    ck_assert_uint_eq(ix.entries, 4);
    ck_assert_uint_eq(ix.persisted, 4);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, 32);
    be32_store(e, 40);
    index_file_append(&ix, e);
    ck_assert_int_eq(index_file_write_pending(&ix), 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, 40);
    ck_assert_int_eq(index_file_entry(&ix, 3, e), 0);
    ck_assert_uint_eq(be32_load(e), 3);
    ck_assert_int_eq(index_file_entry(&ix, 4, e), 0);
    ck_assert_uint_eq(be32_load(e), 40);
    ck_assert_int_eq(index_file_truncate(&ix, 0), 0);
    ck_assert_uint_eq(ix.entries, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    index_file_close(&ix);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_truncate");
    TCase *tc = tcase_create("truncate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_truncation_matches_full_rescan, 0, 4);
    tcase_add_test(tc, test_truncation_edges);
    tcase_add_test(tc, test_truncation_reads_a_bounded_window);
    tcase_add_test(tc, test_wrong_index_entry_falls_back_to_rescan);
    tcase_add_test(tc, test_index_file_truncate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *env = getenv("SLUICE_TEST_SEED");
    base_seed = env != NULL ? (uint32_t)strtoul(env, NULL, 10) : (uint32_t)time(NULL);
    fprintf(stderr, "log_truncate: seed=%u (SLUICE_TEST_SEED=%u runs it again)\n", base_seed,
            base_seed);
    return check_main_run(suite);
}
