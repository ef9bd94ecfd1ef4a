/* broker/log/producer_state: Kafka's ProducerAppendInfo rules for
 * idempotent batches (duplicates, sequence gaps, epochs), the last-five
 * window, expiry and the snapshot encoding. */
#include "broker/log/producer_state.h"
#include "broker/log/partition_log.h"
#include "broker/log/partition_log_internal.h"
#include "common/bigendian.h"
#include "tests/unit/check_main.h"
#include "tests/unit/log_test_util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static struct producer_state ps;

static void setup(void)
{
    producer_state_init(&ps);
}

static void teardown(void)
{
    producer_state_free(&ps);
}

static struct producer_batch batch(int64_t pid, int16_t epoch, int32_t seq, int32_t n,
                                   int64_t offset)
{
    return (struct producer_batch){
        pid, epoch, seq, seq + (n - 1), offset, offset + n - 1, 1000 + offset, false, false};
}

static enum producer_check check(struct producer_batch b, struct producer_batch_meta *dup)
{
    char why[160];
    struct producer_batch_meta scratch;
    return producer_state_check(&ps, &b, dup != NULL ? dup : &scratch, why, sizeof why);
}

START_TEST(test_unknown_producer_starts_at_any_sequence)
{
    ck_assert_int_eq(check(batch(7, 0, 0, 1, 0), NULL), PRODUCER_CHECK_OK);
    ck_assert_int_eq(check(batch(7, 0, 42, 1, 0), NULL), PRODUCER_CHECK_OK);
}
END_TEST

START_TEST(test_duplicate_gets_original_offsets)
{
    struct producer_batch b = batch(7, 0, 0, 3, 10);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    b = batch(7, 0, 3, 2, 13);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    struct producer_batch_meta dup;
    struct producer_batch retry = batch(7, 0, 0, 3, 99);
    ck_assert_int_eq(check(retry, &dup), PRODUCER_CHECK_DUPLICATE);
    ck_assert_int_eq(dup.first_offset, 10);
    ck_assert_int_eq(dup.last_offset, 12);
    ck_assert_int_eq(check(batch(7, 0, 5, 1, 99), NULL), PRODUCER_CHECK_OK);
    ck_assert_int_eq(check(batch(7, 0, 6, 1, 99), NULL), PRODUCER_CHECK_OUT_OF_ORDER);
    /* The same first sequence with another length is not a duplicate: a gap. */
    ck_assert_int_eq(check(batch(7, 0, 0, 2, 99), NULL), PRODUCER_CHECK_OUT_OF_ORDER);
}
END_TEST

START_TEST(test_only_last_five_batches_are_remembered)
{
    for (int i = 0; i < 6; i++) {
        struct producer_batch b = batch(1, 0, i, 1, i);
        ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    }
    ck_assert_int_eq(producer_state_find(&ps, 1)->n_batches, PRODUCER_STATE_BATCHES);
    ck_assert_int_eq(check(batch(1, 0, 1, 1, 0), NULL), PRODUCER_CHECK_DUPLICATE);
    ck_assert_int_eq(check(batch(1, 0, 0, 1, 0), NULL), PRODUCER_CHECK_OUT_OF_ORDER);
}
END_TEST

START_TEST(test_epochs)
{
    struct producer_batch b = batch(3, 2, 0, 4, 0);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    ck_assert_int_eq(check(batch(3, 1, 4, 1, 0), NULL), PRODUCER_CHECK_STALE_EPOCH);
    ck_assert_int_eq(check(batch(3, 3, 4, 1, 0), NULL), PRODUCER_CHECK_OUT_OF_ORDER);
    ck_assert_int_eq(check(batch(3, 3, 0, 1, 0), NULL), PRODUCER_CHECK_OK);
    /* A new epoch forgets the old batches. */
    b = batch(3, 3, 0, 1, 4);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    ck_assert_int_eq(producer_state_find(&ps, 3)->n_batches, 1);
}
END_TEST

START_TEST(test_sequence_wraps)
{
    struct producer_batch b = batch(9, 0, INT32_MAX, 1, 0);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    ck_assert_int_eq(check(batch(9, 0, 0, 1, 1), NULL), PRODUCER_CHECK_OK);
    struct record_batch_header h = {.base_offset = 5,
                                    .last_offset_delta = 2,
                                    .producer_id = 9,
                                    .producer_epoch = 0,
                                    .base_sequence = INT32_MAX - 1};
    struct producer_batch from;
    ck_assert(producer_batch_from_header(&h, &from));
    ck_assert_int_eq(from.last_seq, 0);
    ck_assert_int_eq(from.last_offset, 7);
    h.producer_id = -1;
    ck_assert(!producer_batch_from_header(&h, &from));
}
END_TEST

START_TEST(test_expiry)
{
    struct producer_batch old = batch(1, 0, 0, 1, 0), fresh = batch(2, 0, 0, 1, 5000);
    ck_assert_int_eq(producer_state_update(&ps, &old), 0);   /* timestamp 1000 */
    ck_assert_int_eq(producer_state_update(&ps, &fresh), 0); /* timestamp 6000 */
    ck_assert_uint_eq(producer_state_expire(&ps, 7000, 3000), 1);
    ck_assert_ptr_null(producer_state_find(&ps, 1));
    ck_assert_ptr_nonnull(producer_state_find(&ps, 2));
}
END_TEST

START_TEST(test_log_start_drops_producers_wholly_below_it)
{
    struct producer_batch a = batch(1, 0, 0, 5, 0), b = batch(2, 0, 0, 5, 5);
    ck_assert_int_eq(producer_state_update(&ps, &a), 0); /* offsets 0-4 */
    ck_assert_int_eq(producer_state_update(&ps, &b), 0); /* offsets 5-9 */
    ck_assert_uint_eq(producer_state_drop_before(&ps, 5), 1);
    ck_assert_ptr_null(producer_state_find(&ps, 1));
    ck_assert_uint_eq(producer_state_drop_before(&ps, 9), 0);
    ck_assert_ptr_nonnull(producer_state_find(&ps, 2));
}
END_TEST

START_TEST(test_snapshot_round_trip_and_corruption)
{
    for (int64_t pid = 50; pid > 0; pid -= 7) {
        for (int i = 0; i < 3; i++) {
            struct producer_batch b = batch(pid, 1, i * 2, 2, pid * 10 + i * 2);
            ck_assert_int_eq(producer_state_update(&ps, &b), 0);
        }
    }
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(producer_state_encode(&ps, &buf, &len), 0);
    struct producer_state back;
    producer_state_init(&back);
    ck_assert_int_eq(producer_state_decode(&back, buf, len), 0);
    ck_assert_uint_eq(back.count, ps.count);
    ck_assert_int_eq(memcmp(back.entries, ps.entries, ps.count * sizeof *ps.entries), 0);
    for (size_t cut = 0; cut < len; cut += 13) {
        ck_assert_int_eq(producer_state_decode(&back, buf, cut), -EBADMSG);
    }
    buf[len - 3] ^= 0x40;
    ck_assert_int_eq(producer_state_decode(&back, buf, len), -EBADMSG);
    ck_assert_uint_eq(back.count, ps.count); /* unchanged by the refusals */
    producer_state_free(&back);
    free(buf);
}
END_TEST

/* ---- through the partition log ---- */

static uv_loop_t loop;
static char *dir;
static struct tb_clock clk = {1700000000000};
static const struct log_clock clock_ = {tb_clock_now, &clk};

static void log_setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    dir = tb_tmpdir();
}

static void log_teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    tb_rmdir(dir);
}

static struct partition_log *open_log(const char *name, const struct topic_config *tc)
{
    struct partition_log *log = NULL;
    char err[256] = "", path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_msg(partition_log_open(&loop, path, tc, &clock_, &log, err, sizeof err) == 0, "%s",
                  err);
    return log;
}

/* One batch of `count` records from producer `pid` starting at `seq`. */
static void idem_batch(struct buf *b, int count, int64_t pid, int16_t epoch, int32_t seq)
{
    buf_reset(b);
    tb_batch(b, count, 100, clk.now, (uint32_t)seq);
    be64_store(b->data + 43, (uint64_t)pid);
    be16_store(b->data + 51, (uint16_t)epoch);
    be32_store(b->data + 53, (uint32_t)seq);
    tb_fix_crc(b->data);
}

/* Leader append of a fresh copy of the batch; returns the status. */
static int leader_append(struct partition_log *log, int count, int64_t pid, int32_t seq,
                         struct log_append_info *info)
{
    struct buf b = BUF_INIT;
    idem_batch(&b, count, pid, 0, seq);
    int rv = partition_log_append(log, b.data, b.len, 1, info);
    buf_free(&b);
    return rv;
}

/* The snapshots on disk of `name` strictly inside (lo, hi). */
static int snapshots_between(const char *name, int64_t lo, int64_t hi)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len == 29 && strcmp(e->d_name + 20, ".snapshot") == 0) {
            int64_t off = strtoll(e->d_name, NULL, 10);
            n += off > lo && off < hi;
        }
    }
    closedir(d);
    return n;
}

static int snapshot_files(const char *name)
{
    return snapshots_between(name, -1, INT64_MAX);
}

START_TEST(test_log_dedupes_across_rolls_and_reopen)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1500", NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    for (int i = 0; i < 12; i++) {
        ck_assert_int_eq(leader_append(log, 3, 77, i * 3, &info), 0);
        ck_assert(!info.duplicate);
    }
    ck_assert_int_gt(partition_log_segment_count(log), 2);
    int64_t end = partition_log_end_offset(log);
    ck_assert_int_eq(leader_append(log, 3, 77, 33, &info), 0);
    ck_assert(info.duplicate);
    ck_assert_int_eq(info.first_offset, end - 3);
    ck_assert_int_eq(info.last_offset, end - 1);
    ck_assert_int_eq(partition_log_end_offset(log), end);
    ck_assert_int_eq(leader_append(log, 1, 77, 40, &info), LOG_ERR_OUT_OF_ORDER_SEQUENCE);
    ck_assert_int_eq(partition_log_close(log), 0);
    ck_assert_int_gt(snapshot_files("t-0"), 0); /* written at the rolls */

    /* Reopened: the latest snapshot plus the batches after it. */
    log = open_log("t-0", &tc);
    ck_assert_int_eq(leader_append(log, 3, 77, 30, &info), 0);
    ck_assert(info.duplicate);
    ck_assert_int_eq(info.first_offset, end - 6);
    ck_assert_int_eq(leader_append(log, 1, 77, 36, &info), 0);
    ck_assert(!info.duplicate);
    ck_assert_int_eq(info.first_offset, end);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* The base offset of the newest segment on disk. */
static int64_t last_segment_base(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int64_t best = -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n == 24 && strcmp(e->d_name + 20, ".log") == 0) {
            int64_t base = strtoll(e->d_name, NULL, 10);
            best = base > best ? base : best;
        }
    }
    closedir(d);
    return best;
}

static bool file_exists(const char *name, int64_t snapshot_offset)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%020lld.snapshot", dir, name, (long long)snapshot_offset);
    return access(path, F_OK) == 0;
}

/* Overwrite the producer id of the batch at the start of segment 0. The
 * recovery of a reopen only validates past the recovery point, so only a
 * replay of that segment sees it. */
static void rewrite_first_producer_id(const char *name, int64_t producer_id)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%020d.log", dir, name, 0);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    uint8_t id[8];
    be64_store(id, (uint64_t)producer_id);
    ck_assert_int_eq(fseek(f, 43, SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(id, 1, sizeof id, f), sizeof id);
    ck_assert_int_eq(fclose(f), 0);
}

/* Within one (1 GiB) segment, a snapshot every snapshot_interval_bytes: a
 * truncation rebuilds the producer state from the last one below the cut,
 * not from the segment's start (before, a truncation replayed the whole
 * active segment on the loop: 321 ms for 1 GiB of 16 KiB batches). The
 * segment keeps the last two taken within it, and a roll drops them. */
START_TEST(test_truncation_replays_from_a_snapshot_within_the_segment)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL); /* 1 GiB segments: no roll below */
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    ck_assert_int_eq(leader_append(log, 3, 77, 0, &info), 0);
    log->snapshot_interval_bytes = log_active(log)->size * 3;
    for (int i = 1; i < 24; i++) {
        ck_assert_int_eq(leader_append(log, 3, 77, i * 3, &info), 0);
        uv_run(&loop, UV_RUN_DEFAULT); /* each flush writes the snapshot it carries */
    }
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    int64_t end = partition_log_end_offset(log);
    ck_assert_int_eq(end, 72);
    /* At most the last two within the segment stay. */
    ck_assert_int_ge(snapshots_between("t-0", 0, end), 1);
    ck_assert_int_le(snapshots_between("t-0", 0, end), 2);
    ck_assert_int_eq(snapshots_between("t-0", 0, end - 18), 0);

    /* The first batch's producer id is now another: a replay from the
     * segment's start would put producer 78 into the state. */
    rewrite_first_producer_id("t-0", 78);
    ck_assert_int_eq(partition_log_truncate_to(log, end - 3), 0);
    ck_assert_ptr_null(producer_state_find(partition_log_producers(log), 78));
    /* Producer 77's state is that of the batches below the cut. */
    ck_assert_int_eq(leader_append(log, 3, 77, 66, &info), 0);
    ck_assert(info.duplicate);
    ck_assert_int_eq(leader_append(log, 3, 77, 69, &info), 0);
    ck_assert(!info.duplicate);
    ck_assert_int_eq(info.first_offset, end - 3);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* A roll drops the rolled segment's snapshots within it: what stays is one
 * per segment base, as before. */
START_TEST(test_roll_drops_the_snapshots_within_the_rolled_segment)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=3000", NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    ck_assert_int_eq(leader_append(log, 3, 77, 0, &info), 0);
    log->snapshot_interval_bytes = log_active(log)->size;
    int32_t seq = 3;
    while (partition_log_segment_count(log) < 3) {
        ck_assert_int_eq(leader_append(log, 3, 77, seq, &info), 0);
        seq += 3;
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    int64_t first_roll = log->segs[1]->base_offset;
    ck_assert_int_eq(snapshots_between("t-0", 0, first_roll), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* A roll's snapshot waiting for its flush is not replaced by snapshots within
 * the new segment (it would be lost, and what it was to delete with it): the
 * rolled segment's snapshots within it go all the same. */
START_TEST(test_pending_roll_snapshot_is_not_replaced_by_one_within_the_segment)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=3000", NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    ck_assert_int_eq(leader_append(log, 3, 77, 0, &info), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    log->snapshot_interval_bytes = log_active(log)->size;
    int32_t seq = 3;
    for (int i = 0; i < 3; i++) { /* snapshots within segment 0, each written */
        ck_assert_int_eq(leader_append(log, 3, 77, seq, &info), 0);
        seq += 3;
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    /* A burst without the loop: a roll, then appends past the interval. */
    while (partition_log_segment_count(log) < 2) {
        ck_assert_int_eq(leader_append(log, 3, 77, seq, &info), 0);
        seq += 3;
    }
    int64_t first_roll = log->segs[1]->base_offset;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(leader_append(log, 3, 77, seq, &info), 0);
        seq += 3;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(file_exists("t-0", first_roll));
    ck_assert_int_eq(snapshots_between("t-0", 0, first_roll), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

static int txn_append(struct partition_log *log, int count, int64_t pid, int32_t seq)
{
    struct buf b = BUF_INIT;
    idem_batch(&b, count, pid, 0, seq);
    be16_store(b.data + 21, RECORD_BATCH_ATTR_TRANSACTIONAL);
    tb_fix_crc(b.data);
    struct log_append_info info;
    int rv = partition_log_append(log, b.data, b.len, 1, &info);
    buf_free(&b);
    return rv;
}

/* A snapshot keeps no completed transaction whose marker is above the high
 * watermark, so none is taken within the segment while there is one: a
 * truncation that rebuilt from it would let the LSO pass the transaction
 * (read_committed consumers would read it before its marker is
 * replicated). Once the high watermark passes the marker, one is taken. */
START_TEST(test_no_snapshot_within_the_segment_while_a_transaction_is_unreplicated)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    ck_assert_int_eq(txn_append(log, 2, 7, 0), 0); /* 0-1 */
    struct log_txn_marker m = {7, 0, 1, true};
    ck_assert_int_eq(partition_log_append_marker(log, &m, 1, &info), 0); /* 2 */
    ck_assert_int_eq(partition_log_first_unstable_offset(log), 0);       /* HW 0 */
    log->snapshot_interval_bytes = 1;
    ck_assert_int_eq(leader_append(log, 3, 77, 0, &info), 0); /* 3-5 */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(!file_exists("t-0", 6));
    ck_assert_int_eq(leader_append(log, 3, 77, 3, &info), 0); /* 6-8 */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_truncate_to(log, 6), 0);
    ck_assert_int_eq(partition_log_first_unstable_offset(log), 0);
    partition_log_set_high_watermark(log, 6);
    ck_assert_int_eq(leader_append(log, 3, 77, 3, &info), 0); /* 6-8 again */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(file_exists("t-0", 9));
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* A full truncation forgets the old log's snapshots within its segment: the
 * new log's first one is kept, not taken for a superseded one. */
START_TEST(test_full_truncation_starts_the_snapshots_within_the_segment_afresh)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    int32_t seq = 0;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(leader_append(log, 3, 77, seq, &info), 0);
        seq += 3;
    }
    log->snapshot_interval_bytes = 1;
    ck_assert_int_eq(leader_append(log, 3, 77, seq, &info), 0); /* snapshot at 33 */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(file_exists("t-0", 33));
    ck_assert_int_eq(partition_log_truncate_fully_and_start_at(log, 5), 0);
    ck_assert_int_eq(leader_append(log, 3, 78, 0, &info), 0); /* 5-7, snapshot at 8 */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(file_exists("t-0", 8));
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

/* An aborted transaction spanning a snapshot within the segment: truncations
 * above and below its marker, and a reopen, rebuild the .txnindex and the
 * LSO from the snapshot and the batches after it. */
START_TEST(test_transaction_spanning_a_snapshot_within_the_segment)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    ck_assert_int_eq(txn_append(log, 2, 7, 0), 0); /* 0-1 */
    log->snapshot_interval_bytes = 1;
    ck_assert_int_eq(leader_append(log, 3, 77, 0, &info), 0); /* 2-4, snapshot at 5 */
    uv_run(&loop, UV_RUN_DEFAULT);
    log->snapshot_interval_bytes = 1 << 30;
    ck_assert_int_eq(txn_append(log, 2, 7, 2), 0);            /* 5-6 */
    ck_assert_int_eq(leader_append(log, 1, 77, 3, &info), 0); /* 7 */
    struct log_txn_marker m = {7, 0, 1, false};
    ck_assert_int_eq(partition_log_append_marker(log, &m, 1, &info), 0); /* 8: abort */
    ck_assert_int_eq(leader_append(log, 3, 77, 4, &info), 0);            /* 9-11 */
    partition_log_set_high_watermark(log, 12);
    ck_assert(file_exists("t-0", 5));
    struct txn_index_entry out[8];
    size_t n = 0;
    ck_assert_int_eq(partition_log_aborted_txns(log, 0, 12, out, 8, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(partition_log_truncate_to(log, 9), 0);
    ck_assert_int_eq(partition_log_aborted_txns(log, 0, 12, out, 8, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(out[0].first_offset, 0);
    ck_assert_int_eq(out[0].last_offset, 8);
    ck_assert_int_eq(partition_log_first_unstable_offset(log), INT64_MAX);
    ck_assert_int_eq(partition_log_truncate_to(log, 8), 0);
    ck_assert_int_eq(partition_log_aborted_txns(log, 0, 12, out, 8, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(partition_log_first_unstable_offset(log), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log("t-0", &tc);
    ck_assert_int_eq(partition_log_first_unstable_offset(log), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_snapshot_written_after_roll_by_the_flush_and_used_on_reopen)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1500", NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    for (int i = 0; i < 12; i++) {
        ck_assert_int_eq(leader_append(log, 3, 77, i * 3, &info), 0);
    }
    ck_assert_int_gt(partition_log_segment_count(log), 2);
    int64_t end = partition_log_end_offset(log);
    int64_t last_roll = last_segment_base("t-0");
    /* The rolls queued the snapshots' writes on the thread pool, with the
     * flushes: done once the loop has seen them complete. */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(file_exists("t-0", last_roll));
    ck_assert_int_ge(partition_log_durable_offset(log), last_roll);
    ck_assert_int_eq(partition_log_close(log), 0);

    /* Reopened from the snapshot: the first segment is not replayed. */
    rewrite_first_producer_id("t-0", 78);
    log = open_log("t-0", &tc);
    ck_assert_ptr_null(producer_state_find(partition_log_producers(log), 78));
    ck_assert_int_eq(leader_append(log, 3, 77, 33, &info), 0);
    ck_assert(info.duplicate);
    ck_assert_int_eq(info.first_offset, end - 3);
    ck_assert_int_eq(partition_log_close(log), 0);

    /* Without snapshots the whole log is replayed, and the rewrite shows. */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -f %s/t-0/*.snapshot", dir);
    ck_assert_int_eq(system(cmd), 0);
    log = open_log("t-0", &tc);
    ck_assert_ptr_nonnull(producer_state_find(partition_log_producers(log), 78));
    ck_assert_int_eq(leader_append(log, 3, 77, 33, &info), 0);
    ck_assert(info.duplicate);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_truncation_below_a_snapshot_in_flight_voids_it)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=1500", NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct log_append_info info;
    int i = 0;
    while (partition_log_segment_count(log) < 2) {
        ck_assert_int_eq(leader_append(log, 3, 77, i++ * 3, &info), 0);
    }
    int64_t roll = last_segment_base("t-0");
    /* The roll's flush (and snapshot) is queued; the log is cut below the
     * snapshot's offset before the pool runs it. */
    ck_assert_int_eq(partition_log_truncate_to(log, roll - 3), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(!file_exists("t-0", roll));
    ck_assert_int_eq(snapshot_files("t-0"), 0);

    /* The log grows past that offset again with other batches: a reopen
     * rebuilds from them, not from a state the truncation removed. */
    ck_assert_int_eq(leader_append(log, 3, 90, 0, &info), 0);
    while (partition_log_segment_count(log) < 3) {
        ck_assert_int_eq(leader_append(log, 3, 91, i++ * 3, &info), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_close(log), 0);
    log = open_log("t-0", &tc);
    const struct producer_entry *e = producer_state_find(partition_log_producers(log), 77);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_lt(e->batches[e->n_batches - 1].last_offset, roll - 3);
    ck_assert_ptr_nonnull(producer_state_find(partition_log_producers(log), 90));
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_follower_builds_the_same_state_and_truncation_rebuilds_it)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *leader = open_log("l-0", &tc), *follower = open_log("f-0", &tc);
    struct log_append_info info;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(leader_append(leader, 2, 9, i * 2, &info), 0);
    }
    struct buf fetched = BUF_INIT;
    struct log_read_result r;
    ck_assert_int_eq(partition_log_read_copy(leader, 0, 1 << 20, INT64_MAX, &fetched, &r), 0);
    ck_assert_int_eq(partition_log_append_as_follower(follower, fetched.data, fetched.len, &info),
                     0);
    /* The follower, now leading, answers the retry of the last batch from its own state. */
    ck_assert_int_eq(leader_append(follower, 2, 9, 6, &info), 0);
    ck_assert(info.duplicate);
    ck_assert_int_eq(info.first_offset, 6);
    const struct producer_entry *e = producer_state_find(partition_log_producers(follower), 9);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->batches[e->n_batches - 1].last_seq, 7);

    /* Truncated below the last batch: it is no longer in the log, so not a duplicate. */
    ck_assert_int_eq(partition_log_truncate_to(follower, 6), 0);
    ck_assert_int_eq(leader_append(follower, 2, 9, 6, &info), 0);
    ck_assert(!info.duplicate);
    ck_assert_int_eq(info.first_offset, 6);
    buf_free(&fetched);
    ck_assert_int_eq(partition_log_close(leader), 0);
    ck_assert_int_eq(partition_log_close(follower), 0);
    topic_config_free(&tc);
}
END_TEST

START_TEST(test_idempotent_append_of_two_batches_is_refused)
{
    struct topic_config tc;
    tb_topic_config(&tc, NULL);
    struct partition_log *log = open_log("t-0", &tc);
    struct buf b = BUF_INIT, two = BUF_INIT;
    idem_batch(&b, 1, 5, 0, 0);
    buf_append(&two, b.data, b.len);
    idem_batch(&b, 1, 5, 0, 1);
    buf_append(&two, b.data, b.len);
    struct log_append_info info;
    ck_assert_int_eq(partition_log_append(log, two.data, two.len, 1, &info),
                     LOG_ERR_INVALID_RECORD);
    ck_assert_int_eq(partition_log_end_offset(log), 0);
    buf_free(&b);
    buf_free(&two);
    ck_assert_int_eq(partition_log_close(log), 0);
    topic_config_free(&tc);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("producer_state");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unknown_producer_starts_at_any_sequence);
    tcase_add_test(tc, test_duplicate_gets_original_offsets);
    tcase_add_test(tc, test_only_last_five_batches_are_remembered);
    tcase_add_test(tc, test_epochs);
    tcase_add_test(tc, test_sequence_wraps);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_log_start_drops_producers_wholly_below_it);
    tcase_add_test(tc, test_snapshot_round_trip_and_corruption);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("partition_log");
    tcase_add_checked_fixture(tl, log_setup, log_teardown);
    tcase_add_test(tl, test_log_dedupes_across_rolls_and_reopen);
    tcase_add_test(tl, test_snapshot_written_after_roll_by_the_flush_and_used_on_reopen);
    tcase_add_test(tl, test_truncation_below_a_snapshot_in_flight_voids_it);
    tcase_add_test(tl, test_follower_builds_the_same_state_and_truncation_rebuilds_it);
    tcase_add_test(tl, test_idempotent_append_of_two_batches_is_refused);
    tcase_add_test(tl, test_truncation_replays_from_a_snapshot_within_the_segment);
    tcase_add_test(tl, test_roll_drops_the_snapshots_within_the_rolled_segment);
    tcase_add_test(tl, test_pending_roll_snapshot_is_not_replaced_by_one_within_the_segment);
    tcase_add_test(tl, test_no_snapshot_within_the_segment_while_a_transaction_is_unreplicated);
    tcase_add_test(tl, test_full_truncation_starts_the_snapshots_within_the_segment_afresh);
    tcase_add_test(tl, test_transaction_spanning_a_snapshot_within_the_segment);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
