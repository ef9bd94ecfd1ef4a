/* Transactions in the partition log: producer-state transitions for
 * transactional batches and markers (Kafka's ProducerAppendInfo), the last
 * stable offset, the marker batch format, the `.txnindex` format and its
 * collection, and through a partition log: markers appended as leader and
 * copied by a follower, the aborted list, and its rebuild on reopen. */
#include "broker/log/control_batch.h"
#include "broker/log/partition_log.h"
#include "broker/log/producer_state.h"
#include "broker/log/txn_index.h"
#include "common/bigendian.h"
#include "tests/unit/check_main.h"
#include "tests/unit/log_test_util.h"

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static struct producer_batch txn_batch(int64_t pid, int16_t epoch, int32_t seq, int32_t n,
                                       int64_t offset, bool transactional)
{
    return (struct producer_batch){pid,  epoch,         seq,  seq + n - 1, offset, offset + n - 1,
                                   1000, transactional, false};
}

static struct producer_marker marker(int64_t pid, int16_t epoch, int32_t coord, bool commit,
                                     int64_t offset)
{
    return (struct producer_marker){pid, epoch, coord, commit, offset, 2000};
}

START_TEST(test_transaction_opens_and_marker_ends_it)
{
    struct producer_state ps;
    producer_state_init(&ps);
    char why[160];
    struct producer_batch_meta dup;
    ck_assert_int_eq(producer_state_first_unstable_offset(&ps), INT64_MAX);
    struct producer_batch b = txn_batch(5, 0, 0, 3, 10, true);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    b = txn_batch(5, 0, 3, 2, 20, true);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    ck_assert_int_eq(producer_state_find(&ps, 5)->txn_first_offset, 10);
    ck_assert_int_eq(producer_state_first_unstable_offset(&ps), 10);
    /* A plain batch while the transaction is open. */
    b = txn_batch(5, 0, 5, 1, 30, false);
    ck_assert_int_eq(producer_state_check(&ps, &b, &dup, why, sizeof why),
                     PRODUCER_CHECK_INVALID_TXN_STATE);
    /* Markers: an older producer epoch, then an older coordinator epoch. */
    struct producer_marker m = marker(5, 0, 3, false, 25);
    ck_assert_int_eq(producer_state_check_marker(&ps, &m, why, sizeof why), PRODUCER_CHECK_OK);
    struct producer_completed_txn done;
    ck_assert_int_eq(producer_state_end_txn(&ps, &m, &done), 0);
    ck_assert(done.aborted);
    ck_assert_int_eq(done.first_offset, 10);
    ck_assert_int_eq(done.last_offset, 25);
    ck_assert_int_eq(producer_state_find(&ps, 5)->txn_first_offset, -1);
    /* Unreplicated until the high watermark passes the marker. */
    ck_assert_int_eq(producer_state_first_unstable_offset(&ps), 10);
    producer_state_on_high_watermark(&ps, 25);
    ck_assert_int_eq(producer_state_first_unstable_offset(&ps), 10);
    producer_state_on_high_watermark(&ps, 26);
    ck_assert_int_eq(producer_state_first_unstable_offset(&ps), INT64_MAX);
    m = marker(5, 0, 2, true, 40);
    ck_assert_int_eq(producer_state_check_marker(&ps, &m, why, sizeof why),
                     PRODUCER_CHECK_COORDINATOR_FENCED);
    b = txn_batch(5, 1, 0, 1, 41, true); /* a bumped epoch */
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    m = marker(5, 0, 3, true, 42);
    ck_assert_int_eq(producer_state_check_marker(&ps, &m, why, sizeof why),
                     PRODUCER_CHECK_STALE_EPOCH);
    /* A transactional batch from the older epoch is fenced too. */
    b = txn_batch(5, 0, 6, 1, 43, true);
    ck_assert_int_eq(producer_state_check(&ps, &b, &dup, why, sizeof why),
                     PRODUCER_CHECK_STALE_EPOCH);
    /* A marker with no open transaction spans itself. */
    m = marker(9, 0, 0, true, 50);
    ck_assert_int_eq(producer_state_end_txn(&ps, &m, &done), 0);
    ck_assert_int_eq(done.first_offset, 50);
    /* The aborted entry's lastStableOffset: the open transaction holds it. */
    ck_assert_int_eq(producer_state_stable_after(&ps, 60), 41);
    producer_state_free(&ps);
}
END_TEST

START_TEST(test_snapshot_keeps_open_transaction_and_coordinator_epoch)
{
    struct producer_state ps, back;
    producer_state_init(&ps);
    producer_state_init(&back);
    struct producer_batch b = txn_batch(5, 2, 0, 3, 10, true);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    struct producer_marker m = marker(6, 1, 7, true, 13);
    struct producer_completed_txn done;
    ck_assert_int_eq(producer_state_end_txn(&ps, &m, &done), 0);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(producer_state_encode(&ps, &buf, &len), 0);
    ck_assert_int_eq(producer_state_decode(&back, buf, len), 0);
    ck_assert_int_eq(producer_state_find(&back, 5)->txn_first_offset, 10);
    ck_assert_int_eq(producer_state_find(&back, 6)->coordinator_epoch, 7);
    free(buf);
    producer_state_free(&ps);
    producer_state_free(&back);
}
END_TEST

/* The last stable offset kept in ordered sets against a scan of a shadow
 * state: many producers, transactions ending out of their opening order,
 * markers without a transaction, high watermark moves and snapshot round
 * trips (which forget the unreplicated ones, as a reload does). */
#define SHADOW_PRODUCERS 40
START_TEST(test_lso_sets_agree_with_a_scan)
{
    struct producer_state ps;
    producer_state_init(&ps);
    int64_t open[SHADOW_PRODUCERS];
    int64_t done_first[4096], done_marker[4096];
    size_t n_done = 0;
    for (int i = 0; i < SHADOW_PRODUCERS; i++) {
        open[i] = -1;
    }
    unsigned seed = 14;
    int64_t offset = 0, hw = 0;
    for (int step = 0; step < 20000; step++) {
        int pid = rand_r(&seed) % SHADOW_PRODUCERS, op = rand_r(&seed) % 10;
        if (op < 5) { /* a transactional batch of 1-3 records */
            int32_t n = 1 + rand_r(&seed) % 3;
            struct producer_batch b = txn_batch(pid, 0, 0, n, offset, true);
            ck_assert_int_eq(producer_state_update(&ps, &b), 0);
            if (open[pid] < 0) {
                open[pid] = offset;
            }
            offset += n;
        } else if (op < 8 && n_done < 4096) { /* a marker (with or without a transaction) */
            struct producer_marker m = marker(pid, 0, 0, op == 5, offset);
            struct producer_completed_txn done;
            ck_assert_int_eq(producer_state_end_txn(&ps, &m, &done), 0);
            ck_assert_int_eq(done.first_offset, open[pid] >= 0 ? open[pid] : offset);
            done_first[n_done] = done.first_offset;
            done_marker[n_done++] = offset;
            open[pid] = -1;
            offset++;
        } else if (op == 8) { /* the high watermark moves up */
            hw += rand_r(&seed) % (offset - hw + 1);
            producer_state_on_high_watermark(&ps, hw);
            size_t kept = 0;
            for (size_t i = 0; i < n_done; i++) {
                if (done_marker[i] >= hw) {
                    done_first[kept] = done_first[i];
                    done_marker[kept++] = done_marker[i];
                }
            }
            n_done = kept;
        } else if (rand_r(&seed) % 50 == 0) { /* reloaded from a snapshot */
            uint8_t *buf;
            size_t len;
            ck_assert_int_eq(producer_state_encode(&ps, &buf, &len), 0);
            ck_assert_int_eq(producer_state_decode(&ps, buf, len), 0);
            free(buf);
            n_done = 0;
        }
        int64_t first_open = INT64_MAX, first = INT64_MAX;
        for (int i = 0; i < SHADOW_PRODUCERS; i++) {
            if (open[i] >= 0 && open[i] < first_open) {
                first_open = open[i];
            }
        }
        first = first_open;
        for (size_t i = 0; i < n_done; i++) {
            first = done_first[i] < first ? done_first[i] : first;
        }
        ck_assert_int_eq(producer_state_first_unstable_offset(&ps), first);
        ck_assert_int_eq(producer_state_stable_after(&ps, offset),
                         first_open == INT64_MAX ? offset + 1 : first_open);
        /* Ended transactions behind a long open one do not pile up. */
        const struct offset_set *sets[] = {&ps.open_txns, &ps.unreplicated_by_marker,
                                           &ps.unreplicated_by_first};
        for (size_t i = 0; i < 3; i++) {
            ck_assert_uint_le(sets[i]->n - sets[i]->head, 2 * sets[i]->live + 16);
        }
    }
    producer_state_free(&ps);
}
END_TEST

START_TEST(test_marker_batch_round_trip)
{
    uint8_t b[CONTROL_BATCH_MARKER_SIZE];
    control_batch_build_marker(b, 42, 3, false, 17, 1234);
    struct record_batch_header h;
    struct record_batch_limits lim = {.walk_records = true};
    char why[160] = "";
    ck_assert_msg(record_batch_validate(b, sizeof b, &lim, &h, why, sizeof why) == 0, "%s", why);
    ck_assert_int_eq(h.attributes, RECORD_BATCH_ATTR_TRANSACTIONAL | RECORD_BATCH_ATTR_CONTROL);
    ck_assert_int_eq(h.producer_id, 42);
    ck_assert_int_eq(h.producer_epoch, 3);
    ck_assert_int_eq(h.base_sequence, -1);
    struct control_marker mk;
    ck_assert_int_eq(control_batch_read_marker(b, sizeof b, &h, &mk), 0);
    ck_assert_int_eq(mk.type, CONTROL_TYPE_ABORT);
    ck_assert_int_eq(mk.coordinator_epoch, 17);
    /* A client may not produce it. */
    lim.from_client = true;
    ck_assert_int_eq(record_batch_validate(b, sizeof b, &lim, &h, why, sizeof why),
                     LOG_ERR_INVALID_RECORD);
}
END_TEST

START_TEST(test_txn_index_collect_and_truncate)
{
    char *d = tb_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/x.txnindex", d);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    int64_t size = 0;
    struct txn_index_entry in[] = {{1, 0, 10, 11}, {2, 5, 20, 12}, {3, 30, 40, 41}};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(txn_index_append(fd, &size, &in[i]), 0);
    }
    ck_assert_int_eq(size, 3 * TXN_INDEX_ENTRY_SIZE);
    uint8_t raw[TXN_INDEX_ENTRY_SIZE];
    ck_assert_int_eq(pread(fd, raw, sizeof raw, TXN_INDEX_ENTRY_SIZE), TXN_INDEX_ENTRY_SIZE);
    ck_assert_int_eq(be16_load(raw), 0);              /* version */
    ck_assert_int_eq((int64_t)be64_load(raw + 2), 2); /* producer id */
    struct txn_index_entry out[4];
    size_t n = 0;
    bool complete = false;
    /* [12, 35): entries 2 (marker 20) and 3 (first 30); entry 1 ends before. */
    ck_assert_int_eq(txn_index_collect(fd, size, 12, 35, out, 4, &n, &complete), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(out[0].producer_id, 2);
    ck_assert_int_eq(out[1].producer_id, 3);
    ck_assert(complete); /* entry 3's lastStableOffset 41 >= 35 */
    /* Bounded: room for one. */
    n = 0;
    complete = false;
    ck_assert_int_eq(txn_index_collect(fd, size, 0, 100, out, 1, &n, &complete), 0);
    ck_assert_int_eq(n, 1);
    int64_t keep;
    ck_assert_int_eq(txn_index_truncated_size(fd, size, 20, &keep), 0);
    ck_assert_int_eq(keep, TXN_INDEX_ENTRY_SIZE);
    close(fd);
    tb_rmdir(d);
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

static int produce(struct partition_log *log, int count, int64_t pid, int32_t seq,
                   bool transactional)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, count, 50, clk.now, (uint32_t)seq);
    be64_store(b.data + 43, (uint64_t)pid);
    be16_store(b.data + 51, 0);
    be32_store(b.data + 53, (uint32_t)seq);
    if (transactional) {
        be16_store(b.data + 21, RECORD_BATCH_ATTR_TRANSACTIONAL);
    }
    tb_fix_crc(b.data);
    struct log_append_info info;
    int rv = partition_log_append(log, b.data, b.len, 1, &info);
    buf_free(&b);
    return rv;
}

static int end_txn(struct partition_log *log, int64_t pid, bool commit, int32_t coord)
{
    struct log_txn_marker m = {pid, 0, coord, commit};
    struct log_append_info info;
    return partition_log_append_marker(log, &m, 1, &info);
}

static size_t aborted(struct partition_log *log, int64_t from, int64_t to,
                      struct txn_index_entry *out)
{
    size_t n = 0;
    ck_assert_int_eq(partition_log_aborted_txns(log, from, to, out, 8, &n), 0);
    return n;
}

START_TEST(test_log_markers_lso_and_aborted_list)
{
    struct topic_config tc;
    tb_topic_config(&tc, "segment.bytes=2000", NULL);
    struct partition_log *log = open_log("t-0", &tc), *follower = open_log("f-0", &tc);
    ck_assert_int_eq(produce(log, 2, 7, 0, true), 0); /* 0-1 txn of 7 */
    ck_assert_int_eq(produce(log, 2, 8, 0, true), 0); /* 2-3 txn of 8 */
    ck_assert_int_eq(produce(log, 1, 7, 2, false), LOG_ERR_INVALID_TXN_STATE);
    ck_assert_int_eq(partition_log_first_unstable_offset(log), 0);
    ck_assert_int_eq(end_txn(log, 7, false, 1), 0); /* abort at 4 */
    ck_assert_int_eq(end_txn(log, 7, false, 0), LOG_ERR_COORDINATOR_FENCED);
    partition_log_set_high_watermark(log, 5);
    ck_assert_int_eq(partition_log_first_unstable_offset(log), 2);
    ck_assert_int_eq(end_txn(log, 8, true, 1), 0); /* commit at 5 */
    partition_log_set_high_watermark(log, 6);
    ck_assert_int_eq(partition_log_first_unstable_offset(log), INT64_MAX);
    for (int i = 0; i < 20; i++) { /* roll a few segments */
        ck_assert_int_eq(produce(log, 3, 9, i * 3, true), 0);
        ck_assert_int_eq(end_txn(log, 9, i % 2 == 0, 1), 0);
    }
    ck_assert_int_gt(partition_log_segment_count(log), 2);
    struct txn_index_entry out[8];
    ck_assert_int_eq(aborted(log, 0, 6, out), 1);
    ck_assert_int_eq(out[0].producer_id, 7);
    ck_assert_int_eq(out[0].first_offset, 0);
    ck_assert_int_eq(out[0].last_offset, 4);
    int64_t end = partition_log_end_offset(log);
    size_t all = aborted(log, 0, end, out);
    ck_assert_int_eq(all, 8); /* bounded by `max` */

    /* A follower copying the log builds the same index. */
    struct buf fetched = BUF_INIT;
    struct log_append_info info;
    for (int64_t at = 0; at < end;) {
        struct log_read_result r;
        buf_reset(&fetched);
        ck_assert_int_eq(partition_log_read_copy(log, at, 1 << 20, INT64_MAX, &fetched, &r), 0);
        ck_assert_int_eq(
            partition_log_append_as_follower(follower, fetched.data, fetched.len, &info), 0);
        at = r.next_offset;
    }
    struct txn_index_entry fout[8];
    ck_assert_int_eq(aborted(follower, 10, end, fout), aborted(log, 10, end, out));
    ck_assert_int_eq(fout[0].last_offset, out[0].last_offset);

    /* Reopened without its txn index files: rebuilt from the log. */
    ck_assert_int_eq(partition_log_close(log), 0);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -f %s/t-0/*.txnindex %s/t-0/*.snapshot", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    log = open_log("t-0", &tc);
    ck_assert_int_eq(aborted(log, 0, 6, out), 1);
    ck_assert_int_eq(out[0].last_offset, 4);
    ck_assert_int_eq(aborted(log, 10, end, out), aborted(follower, 10, end, fout));
    /* Truncation drops the index entries above the cut. */
    ck_assert_int_eq(partition_log_truncate_to(log, 5), 0);
    ck_assert_int_eq(aborted(log, 0, INT64_MAX, out), 1);
    ck_assert_int_eq(partition_log_first_unstable_offset(log), 2); /* 8's txn is open again */
    buf_free(&fetched);
    ck_assert_int_eq(partition_log_close(log), 0);
    ck_assert_int_eq(partition_log_close(follower), 0);
    topic_config_free(&tc);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("log_txn");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_transaction_opens_and_marker_ends_it);
    tcase_add_test(tc, test_snapshot_keeps_open_transaction_and_coordinator_epoch);
    tcase_add_test(tc, test_lso_sets_agree_with_a_scan);
    tcase_add_test(tc, test_marker_batch_round_trip);
    tcase_add_test(tc, test_txn_index_collect_and_truncate);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("partition_log");
    tcase_add_checked_fixture(tl, log_setup, log_teardown);
    tcase_add_test(tl, test_log_markers_lso_and_aborted_list);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
