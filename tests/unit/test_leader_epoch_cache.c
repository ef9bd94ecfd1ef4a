/* broker/log/leader_epoch_cache: Kafka's LeaderEpochFileCache rules
 * (KIP-101, KIP-279), the leader-epoch-checkpoint file, and the follower's
 * truncation decision over divergent histories. */
#include "broker/log/leader_epoch_cache.h"
#include "broker/log/log_errors.h"
#include "broker/log/partition_log.h"
#include "broker/log/record_batch.h"
#include "tests/unit/check_main.h"
#include "tests/unit/log_test_util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

static struct leader_epoch_cache cache;

static void setup(void)
{
    leader_epoch_cache_init(&cache);
}

static void teardown(void)
{
    leader_epoch_cache_free(&cache);
}

/* The cache holds exactly the (epoch, offset) pairs in `want` (n pairs). */
static void assert_entries(const struct leader_epoch_cache *c, const int64_t *want, size_t n)
{
    ck_assert_uint_eq(c->count, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(c->entries[i].epoch, want[2 * i]);
        ck_assert_int_eq(c->entries[i].start_offset, want[2 * i + 1]);
    }
}
#define ASSERT_ENTRIES(c, ...)                                                                     \
    do {                                                                                           \
        const int64_t want_[] = {__VA_ARGS__};                                                     \
        assert_entries((c), want_, sizeof want_ / sizeof want_[0] / 2);                            \
    } while (0)

static void assert_end(const struct leader_epoch_cache *c, int32_t requested, int64_t leo,
                       int32_t epoch, int64_t end)
{
    struct leader_epoch_end e = leader_epoch_cache_end_offset_for(c, requested, leo);
    ck_assert_int_eq(e.epoch, epoch);
    ck_assert_int_eq(e.end_offset, end);
}

static void assign3(int32_t e1, int64_t o1, int32_t e2, int64_t o2, int32_t e3, int64_t o3)
{
    ck_assert_int_ge(leader_epoch_cache_assign(&cache, e1, o1), 0);
    ck_assert_int_ge(leader_epoch_cache_assign(&cache, e2, o2), 0);
    ck_assert_int_ge(leader_epoch_cache_assign(&cache, e3, o3), 0);
}

/* ---- assign ---- */

START_TEST(test_assign_keeps_first_offset_of_an_epoch)
{
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 2, 9), 1);
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 2, 10), 0);
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 2, 9), 0);
    ASSERT_ENTRIES(&cache, 2, 9);
    ck_assert_int_eq(leader_epoch_cache_latest_epoch(&cache), 2);
    assert_end(&cache, 2, 11, 2, 11);
}
END_TEST

START_TEST(test_assign_rejects_negative)
{
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, -1, 0), -EINVAL);
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 0, -1), -EINVAL);
    ck_assert_uint_eq(cache.count, 0);
    ck_assert_int_eq(leader_epoch_cache_latest_epoch(&cache), LEADER_EPOCH_UNDEFINED);
}
END_TEST

START_TEST(test_assign_new_epoch_same_offset_replaces)
{
    /* No record was written in epoch 2: epoch 3 at the same offset replaces it. */
    leader_epoch_cache_assign(&cache, 2, 9);
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 3, 9), 1);
    ASSERT_ENTRIES(&cache, 3, 9);
}
END_TEST

START_TEST(test_assign_newer_epoch_lower_offset_drops_conflict)
{
    leader_epoch_cache_assign(&cache, 2, 6);
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 3, 5), 1);
    ASSERT_ENTRIES(&cache, 3, 5);
}
END_TEST

START_TEST(test_assign_older_epoch_truncates_newer)
{
    leader_epoch_cache_assign(&cache, 1, 5);
    leader_epoch_cache_assign(&cache, 2, 6);
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 1, 7), 1);
    ASSERT_ENTRIES(&cache, 1, 7);
    assert_end(&cache, 1, 8, 1, 8);
    assert_end(&cache, 2, 8, LEADER_EPOCH_UNDEFINED, LEADER_EPOCH_UNDEFINED_OFFSET);
}
END_TEST

START_TEST(test_assign_latest_epoch_earlier_start)
{
    assign3(5, 11, 6, 12, 7, 13);
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 7, 12), 1);
    ASSERT_ENTRIES(&cache, 5, 11, 7, 12);
    assert_end(&cache, 5, 0, 5, 12);
    assert_end(&cache, 6, 0, 5, 12);
}
END_TEST

START_TEST(test_assign_many_leader_changes)
{
    int64_t leo = 0;
    leader_epoch_cache_assign(&cache, 0, 0);
    leader_epoch_cache_assign(&cache, 1, 0);
    ck_assert_int_eq(leader_epoch_cache_latest_epoch(&cache), 1);
    assert_end(&cache, 1, leo, 1, 0);
    assert_end(&cache, 0, leo, 0, 0);
    leo = 5;
    assert_end(&cache, 1, leo, 1, 5);
    assert_end(&cache, 0, leo, 0, 0);
    leader_epoch_cache_assign(&cache, 2, 5);
    leo = 10;
    assert_end(&cache, 2, leo, 2, 10);
    assert_end(&cache, 1, leo, 1, 5);
    assert_end(&cache, 0, leo, 0, 0);
}
END_TEST

START_TEST(test_assign_follower_receives_many_batches)
{
    for (int64_t off = 0; off < 9; off++) {
        ck_assert_int_ge(leader_epoch_cache_assign(&cache, (int32_t)(off / 3), off), 0);
    }
    ASSERT_ENTRIES(&cache, 0, 0, 1, 3, 2, 6);
    assert_end(&cache, 2, 9, 2, 9);
    assert_end(&cache, 0, 9, 0, 3);
    assert_end(&cache, 1, 9, 1, 6);
}
END_TEST

/* ---- end_offset_for ---- */

START_TEST(test_end_offset_undefined_cases)
{
    assert_end(&cache, 0, 0, LEADER_EPOCH_UNDEFINED, LEADER_EPOCH_UNDEFINED_OFFSET);
    assert_end(&cache, LEADER_EPOCH_UNDEFINED, 73, LEADER_EPOCH_UNDEFINED,
               LEADER_EPOCH_UNDEFINED_OFFSET);
    leader_epoch_cache_assign(&cache, 2, 11);
    leader_epoch_cache_assign(&cache, 3, 12);
    assert_end(&cache, LEADER_EPOCH_UNDEFINED, 0, LEADER_EPOCH_UNDEFINED,
               LEADER_EPOCH_UNDEFINED_OFFSET);
    /* An epoch above the latest is not known. */
    assert_end(&cache, 4, 100, LEADER_EPOCH_UNDEFINED, LEADER_EPOCH_UNDEFINED_OFFSET);
}
END_TEST

START_TEST(test_end_offset_below_first_epoch)
{
    assign3(5, 11, 6, 12, 7, 13);
    assert_end(&cache, 4, 0, 4, 11);
    assert_end(&cache, 0, 0, 0, 11);
}
END_TEST

START_TEST(test_end_offset_gap_in_epochs)
{
    assign3(0, 10, 2, 13, 4, 17);
    assert_end(&cache, 1, 0, 0, 13);
    assert_end(&cache, 2, 0, 2, 17);
    assert_end(&cache, 3, 0, 2, 17);
    assert_end(&cache, 4, 20, 4, 20);
}
END_TEST

START_TEST(test_epoch_for_offset)
{
    assign3(0, 10, 1, 20, 5, 30);
    ck_assert_int_eq(leader_epoch_cache_epoch_for_offset(&cache, 25), 1);
    ck_assert_int_eq(leader_epoch_cache_epoch_for_offset(&cache, 20), 1);
    ck_assert_int_eq(leader_epoch_cache_epoch_for_offset(&cache, 30), 5);
    ck_assert_int_eq(leader_epoch_cache_epoch_for_offset(&cache, 50), 5);
    ck_assert_int_eq(leader_epoch_cache_epoch_for_offset(&cache, 5), LEADER_EPOCH_UNDEFINED);
}
END_TEST

/* ---- truncation ---- */

START_TEST(test_truncate_from_end)
{
    assign3(2, 6, 3, 8, 4, 11);
    ck_assert(!leader_epoch_cache_truncate_from_end(&cache, LEADER_EPOCH_UNDEFINED_OFFSET));
    ck_assert(!leader_epoch_cache_truncate_from_end(&cache, 12));
    ck_assert_uint_eq(cache.count, 3);
    /* Between boundaries keeps the epoch that holds the offset. */
    ck_assert(leader_epoch_cache_truncate_from_end(&cache, 9));
    ASSERT_ENTRIES(&cache, 2, 6, 3, 8);
    /* On a boundary the epoch starting there goes (the bound is inclusive). */
    ck_assert(leader_epoch_cache_truncate_from_end(&cache, 8));
    ASSERT_ENTRIES(&cache, 2, 6);
    ck_assert(leader_epoch_cache_truncate_from_end(&cache, 0));
    ck_assert_uint_eq(cache.count, 0);
    ck_assert(!leader_epoch_cache_truncate_from_end(&cache, 7));
}
END_TEST

START_TEST(test_truncate_from_start)
{
    assign3(2, 6, 3, 8, 4, 11);
    ck_assert(!leader_epoch_cache_truncate_from_start(&cache, LEADER_EPOCH_UNDEFINED_OFFSET));
    ck_assert(!leader_epoch_cache_truncate_from_start(&cache, 1));
    ck_assert(!leader_epoch_cache_truncate_from_start(&cache, 6));
    ASSERT_ENTRIES(&cache, 2, 6, 3, 8, 4, 11);
    ck_assert(leader_epoch_cache_truncate_from_start(&cache, 8));
    ASSERT_ENTRIES(&cache, 3, 8, 4, 11);
    ck_assert(leader_epoch_cache_truncate_from_start(&cache, 9));
    ASSERT_ENTRIES(&cache, 3, 9, 4, 11);
    ck_assert(leader_epoch_cache_truncate_from_start(&cache, 15));
    ASSERT_ENTRIES(&cache, 4, 15);
    leader_epoch_cache_clear(&cache);
    ck_assert(!leader_epoch_cache_truncate_from_start(&cache, 7));
}
END_TEST

START_TEST(test_truncate_from_start_within_first)
{
    assign3(0, 0, 1, 7, 2, 10);
    ck_assert(leader_epoch_cache_truncate_from_start(&cache, 5));
    ASSERT_ENTRIES(&cache, 0, 5, 1, 7, 2, 10);
    ck_assert(leader_epoch_cache_truncate_from_start(&cache, 11));
    ASSERT_ENTRIES(&cache, 2, 11);
}
END_TEST

/* ---- checkpoint ---- */

static char *dir;

static void file_setup(void)
{
    setup();
    dir = tb_tmpdir();
}

static void file_teardown(void)
{
    teardown();
    tb_rmdir(dir);
}

static void write_file(const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, LEADER_EPOCH_CHECKPOINT_FILE);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* The checkpoint in `in` as text, "" when there is none. */
static char *read_text_in(const char *in)
{
    static char text[256];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", in, LEADER_EPOCH_CHECKPOINT_FILE);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ck_assert_int_eq(errno, ENOENT);
        text[0] = '\0';
        return text;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static char *read_text(void)
{
    return read_text_in(dir);
}

START_TEST(test_checkpoint_round_trip)
{
    char err[128];
    struct leader_epoch_cache other;
    assign3(0, 0, 3, 150, 7, 4000000000LL);
    ck_assert_int_eq(leader_epoch_cache_write(&cache, dir), 0);
    /* Kafka's format, byte for byte. */
    ck_assert_str_eq(read_text(), "0\n3\n0 0\n3 150\n7 4000000000\n");
    leader_epoch_cache_init(&other);
    ck_assert_int_eq(leader_epoch_cache_read(&other, dir, err, sizeof err), 0);
    ASSERT_ENTRIES(&other, 0, 0, 3, 150, 7, 4000000000LL);
    leader_epoch_cache_free(&other);
    /* An empty cache round-trips too. */
    leader_epoch_cache_clear(&cache);
    ck_assert_int_eq(leader_epoch_cache_write(&cache, dir), 0);
    ck_assert_str_eq(read_text(), "0\n0\n");
    ck_assert_int_eq(leader_epoch_cache_assign(&cache, 1, 1), 1);
    ck_assert_int_eq(leader_epoch_cache_read(&cache, dir, err, sizeof err), 0);
    ck_assert_uint_eq(cache.count, 0);
}
END_TEST

START_TEST(test_checkpoint_missing)
{
    char err[128];
    leader_epoch_cache_assign(&cache, 1, 1);
    ck_assert_int_eq(leader_epoch_cache_read(&cache, dir, err, sizeof err), -ENOENT);
    ck_assert_uint_eq(cache.count, 0);
}
END_TEST

static const char *const corrupt_files[] = {
    "",                               /* empty */
    "0\n",                            /* no count */
    "1\n1\n0 0\n",                    /* unknown version */
    "0\n2\n0 0\n",                    /* fewer entries than the count (torn) */
    "0\n2\n0 0\n1 5",                 /* last line torn */
    "0\n1\n0 0\n1 5\n",               /* more entries than the count */
    "0\n2\n3 0\n2 5\n",               /* epochs not increasing */
    "0\n2\n2 0\n2 5\n",               /* epoch repeated */
    "0\n2\n2 9\n3 5\n",               /* offsets decreasing */
    "0\n1\n-1 0\n",                   /* negative epoch */
    "0\n1\n1 -5\n",                   /* negative offset */
    "0\n1\n2147483648 0\n",           /* epoch beyond int32 */
    "0\n1\n1 99999999999999999999\n", /* offset beyond int64 */
    "0\n1\n1  5\n",                   /* two spaces */
    "0\n1\n1 5 \n",                   /* trailing space */
    "0\n99999999999\n1 5\n",          /* count far beyond the file */
    "0\n1\n1 x\n",                    /* not a number */
};

START_TEST(test_checkpoint_corrupt)
{
    char err[128];
    const char *text = corrupt_files[_i];
    write_file(text, strlen(text));
    leader_epoch_cache_assign(&cache, 9, 9);
    ck_assert_int_eq(leader_epoch_cache_read(&cache, dir, err, sizeof err), LOG_ERR_CORRUPT);
    ck_assert_msg(err[0] != '\0', "no reason for file %d", _i);
    ck_assert_uint_eq(cache.count, 0);
}
END_TEST

START_TEST(test_checkpoint_nul_and_oversized)
{
    char err[128];
    write_file("0\n1\n1 5\n\0", 9);
    ck_assert_int_eq(leader_epoch_cache_read(&cache, dir, err, sizeof err), LOG_ERR_CORRUPT);
    size_t big = (size_t)LEADER_EPOCH_CHECKPOINT_MAX_BYTES + 10;
    char *text = malloc(big);
    ck_assert_ptr_nonnull(text);
    memset(text, '\n', big);
    memcpy(text, "0\n1\n1 5\n", 8);
    write_file(text, big);
    free(text);
    ck_assert_int_eq(leader_epoch_cache_read(&cache, dir, err, sizeof err), LOG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "larger"));
}
END_TEST

/* ---- the follower's truncation decision over divergent histories ---- */

/* A replica: its cache and its log end offset. */
struct replica {
    struct leader_epoch_cache c;
    int64_t leo;
};

static void replica_init(struct replica *r, const int64_t *pairs, size_t n, int64_t leo)
{
    leader_epoch_cache_init(&r->c);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(leader_epoch_cache_assign(&r->c, (int32_t)pairs[2 * i], pairs[2 * i + 1]),
                         1);
    }
    r->leo = leo;
}
#define REPLICA(r, leo, ...)                                                                       \
    do {                                                                                           \
        const int64_t p_[] = {__VA_ARGS__};                                                        \
        replica_init((r), p_, sizeof p_ / sizeof p_[0] / 2, (leo));                                \
    } while (0)

/* Run the KIP-279 exchange as the follower does: ask for the end of our
 * latest epoch, truncate, repeat until done. Returns the final log end;
 * *rounds = requests made. */
static int64_t reconcile(struct replica *follower, const struct replica *leader, int *rounds)
{
    *rounds = 0;
    for (;;) {
        ck_assert_int_lt(*rounds, 100);
        (*rounds)++;
        struct leader_epoch_end answer = leader_epoch_cache_end_offset_for(
            &leader->c, leader_epoch_cache_latest_epoch(&follower->c), leader->leo);
        struct leader_epoch_truncation t = leader_epoch_truncation_decide(
            &follower->c, follower->leo, answer.epoch, answer.end_offset);
        ck_assert_int_ge(t.offset, 0);
        if (t.offset < follower->leo) {
            follower->leo = t.offset;
            leader_epoch_cache_truncate_from_end(&follower->c, t.offset);
        }
        if (t.done) {
            return follower->leo;
        }
    }
}

static void replicas_free(struct replica *a, struct replica *b)
{
    leader_epoch_cache_free(&a->c);
    leader_epoch_cache_free(&b->c);
}

START_TEST(test_decide_identical_logs_cut_nothing)
{
    struct replica f, l;
    int rounds;
    REPLICA(&f, 20, 0, 0, 1, 10);
    REPLICA(&l, 20, 0, 0, 1, 10);
    ck_assert_int_eq(reconcile(&f, &l, &rounds), 20);
    ck_assert_int_eq(rounds, 1);
    replicas_free(&f, &l);
}
END_TEST

START_TEST(test_decide_follower_behind_cuts_nothing)
{
    /* A follower that merely lags keeps everything: it is not cut to a
     * high watermark. */
    struct replica f, l;
    int rounds;
    REPLICA(&f, 12, 0, 0, 1, 10);
    REPLICA(&l, 30, 0, 0, 1, 10, 2, 25);
    ck_assert_int_eq(reconcile(&f, &l, &rounds), 12);
    replicas_free(&f, &l);
}
END_TEST

START_TEST(test_decide_kip101_lost_tail)
{
    /* KIP-101 scenario 1: A wrote m0,m1 in epoch 0; B had only m0 and became
     * leader in epoch 1, writing a different m1. A must drop its m1. */
    struct replica a, b;
    int rounds;
    REPLICA(&a, 2, 0, 0);
    REPLICA(&b, 2, 0, 0, 1, 1);
    ck_assert_int_eq(reconcile(&a, &b, &rounds), 1);
    ASSERT_ENTRIES(&a.c, 0, 0);
    replicas_free(&a, &b);
}
END_TEST

START_TEST(test_decide_old_leader_divergent_tail)
{
    /* The follower led epoch 2 from 8 and wrote to 10 unreplicated; the new
     * leader took over in epoch 3 from 7 (epoch 1 ended at 7 for it). */
    struct replica f, l;
    int rounds;
    REPLICA(&f, 10, 0, 0, 1, 5, 2, 8);
    REPLICA(&l, 12, 0, 0, 1, 5, 3, 7);
    ck_assert_int_eq(reconcile(&f, &l, &rounds), 7);
    ASSERT_ENTRIES(&f.c, 0, 0, 1, 5);
    replicas_free(&f, &l);
}
END_TEST

START_TEST(test_decide_two_leader_changes_in_a_row)
{
    /* KIP-279: the follower never saw epoch 1. It led epoch 2 from 5; the
     * leader had epoch 1 from 3 and leads epoch 3 from 9. The first answer
     * (1, 9) names an epoch the follower lacks: it cuts to the end of its
     * epoch 0 (5) and asks again about epoch 0, which the leader ends at 3. */
    struct replica f, l;
    int rounds;
    REPLICA(&f, 8, 0, 0, 2, 5);
    REPLICA(&l, 12, 0, 0, 1, 3, 3, 9);
    struct leader_epoch_end first = leader_epoch_cache_end_offset_for(&l.c, 2, l.leo);
    ck_assert_int_eq(first.epoch, 1);
    ck_assert_int_eq(first.end_offset, 9);
    struct leader_epoch_truncation t =
        leader_epoch_truncation_decide(&f.c, f.leo, first.epoch, first.end_offset);
    ck_assert_int_eq(t.offset, 5);
    ck_assert(!t.done);
    ck_assert_int_eq(reconcile(&f, &l, &rounds), 3);
    ck_assert_int_eq(rounds, 2);
    ASSERT_ENTRIES(&f.c, 0, 0);
    replicas_free(&f, &l);
}
END_TEST

START_TEST(test_decide_three_missing_epochs)
{
    /* The follower's epochs 2 and 4 are both unknown to the leader, which
     * led 1, 3 and 5: two extra rounds, ending at the end of epoch 0. */
    struct replica f, l;
    int rounds;
    REPLICA(&f, 30, 0, 0, 2, 10, 4, 20);
    REPLICA(&l, 40, 0, 0, 1, 8, 3, 15, 5, 25);
    ck_assert_int_eq(reconcile(&f, &l, &rounds), 8);
    ck_assert_int_eq(rounds, 3);
    replicas_free(&f, &l);
}
END_TEST

START_TEST(test_decide_leader_log_starts_later)
{
    /* The leader's log was trimmed past the follower's whole history: the
     * answer for an epoch below its first is the start of its first. */
    struct replica f, l;
    int rounds;
    REPLICA(&f, 10, 0, 0, 1, 5);
    REPLICA(&l, 100, 4, 50);
    ck_assert_int_eq(reconcile(&f, &l, &rounds), 10);
    replicas_free(&f, &l);
    /* ...unless the follower is past that start: then it diverged there. */
    REPLICA(&f, 60, 0, 0, 1, 5);
    REPLICA(&l, 100, 4, 50);
    ck_assert_int_eq(reconcile(&f, &l, &rounds), 50);
    replicas_free(&f, &l);
}
END_TEST

START_TEST(test_decide_undefined_answers)
{
    struct replica f;
    REPLICA(&f, 10, 0, 0, 1, 5);
    /* The leader knows no epoch: nothing is known to diverge, nothing cut. */
    struct leader_epoch_truncation t = leader_epoch_truncation_decide(
        &f.c, f.leo, LEADER_EPOCH_UNDEFINED, LEADER_EPOCH_UNDEFINED_OFFSET);
    ck_assert_int_eq(t.offset, 10);
    ck_assert(t.done);
    /* An old-protocol answer (no epoch, an offset) is trusted as an end. */
    t = leader_epoch_truncation_decide(&f.c, f.leo, LEADER_EPOCH_UNDEFINED, 7);
    ck_assert_int_eq(t.offset, 7);
    ck_assert(t.done);
    /* An empty follower has nothing to cut. */
    leader_epoch_cache_free(&f.c);
    t = leader_epoch_truncation_decide(&f.c, 0, 3, 40);
    ck_assert_int_eq(t.offset, 0);
    ck_assert(t.done);
}
END_TEST

/* ---- the partition log keeps its cache ---- */

static uv_loop_t loop;
static struct tb_clock clk = {1700000000000};
static const struct log_clock clock_ = {tb_clock_now, &clk};
static struct topic_config topic_cfg;

static void log_setup(void)
{
    file_setup();
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    /* Small segments, so recovery and retention cross segment boundaries. */
    tb_topic_config(&topic_cfg, "segment.bytes=2000", NULL);
}

static void log_teardown(void)
{
    topic_config_free(&topic_cfg);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    file_teardown();
}

static struct partition_log *open_log(void)
{
    struct partition_log *log = NULL;
    char err[256] = "";
    ck_assert_msg(partition_log_open(&loop, dir, &topic_cfg, &clock_, &log, err, sizeof err) == 0,
                  "%s", err);
    return log;
}

/* Flush everything appended so far and run the loop until it completes;
 * returns the flush's status. */
struct flush_wait {
    int calls;
    int status;
};

static void on_flushed(struct log_flush_req *req, int status)
{
    struct flush_wait *w = req->data;
    w->calls++;
    w->status = status;
}

static int flush_now(struct partition_log *log)
{
    struct flush_wait w = {0, 0};
    struct log_flush_req req = {.data = &w};
    ck_assert_int_eq(partition_log_flush(log, &req, on_flushed), 0);
    while (w.calls == 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    return w.status;
}

/* Every thread of libuv's pool held, so that work queued meanwhile (a
 * flush) runs only after pool_release: what the loop does in between comes,
 * deterministically, before the pool's part of that work. */
#define POOL_HOLD_MAX 16
static struct {
    uv_work_t work[POOL_HOLD_MAX];
    int n, done;
    uv_sem_t started, release;
} hold;

static void hold_work(uv_work_t *req)
{
    (void)req;
    uv_sem_post(&hold.started);
    uv_sem_wait(&hold.release);
}

static void hold_after(uv_work_t *req, int status)
{
    (void)req;
    ck_assert_int_eq(status, 0);
    if (++hold.done == hold.n) {
        uv_sem_destroy(&hold.started);
        uv_sem_destroy(&hold.release);
    }
}

static void pool_hold(void)
{
    const char *size = getenv("UV_THREADPOOL_SIZE"); /* libuv's default: 4 */
    hold.n = size != NULL && atoi(size) > 0 ? atoi(size) : 4;
    hold.done = 0;
    ck_assert_int_le(hold.n, POOL_HOLD_MAX);
    ck_assert_int_eq(uv_sem_init(&hold.started, 0), 0);
    ck_assert_int_eq(uv_sem_init(&hold.release, 0), 0);
    for (int i = 0; i < hold.n; i++) {
        ck_assert_int_eq(uv_queue_work(&loop, &hold.work[i], hold_work, hold_after), 0);
    }
    for (int i = 0; i < hold.n; i++) {
        uv_sem_wait(&hold.started);
    }
}

static void pool_release(void)
{
    for (int i = 0; i < hold.n; i++) {
        uv_sem_post(&hold.release);
    }
}

/* The cache as checkpoint text. */
static const char *cache_text(const struct leader_epoch_cache *c)
{
    static char text[256];
    size_t len = (size_t)snprintf(text, sizeof text, "0\n%zu\n", c->count);
    for (size_t i = 0; i < c->count; i++) {
        len += (size_t)snprintf(text + len, sizeof text - len, "%d %lld\n",
                                (int)c->entries[i].epoch, (long long)c->entries[i].start_offset);
    }
    return text;
}

/* What a crash leaves (the page cache survives a process crash): the
 * partition directory's files as they are now, copied to `to`. */
static void copy_dir_files(const char *to)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char from_path[1024], to_path[1024], buf[65536];
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(from_path, sizeof from_path, "%s/%s", dir, e->d_name);
        snprintf(to_path, sizeof to_path, "%s/%s", to, e->d_name);
        int in = open(from_path, O_RDONLY), out = open(to_path, O_WRONLY | O_CREAT, 0644);
        ck_assert_int_ge(in, 0);
        ck_assert_int_ge(out, 0);
        ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0) {
            ck_assert_int_eq(write(out, buf, (size_t)n), n);
        }
        ck_assert_int_eq(n, 0);
        close(in);
        close(out);
    }
    closedir(d);
}

static struct partition_log *reopen(struct partition_log *log)
{
    ck_assert_int_eq(partition_log_close(log), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    return open_log();
}

/* `n` leader appends of 5 records each in `epoch`. */
static void lead(struct partition_log *log, int32_t epoch, int n)
{
    for (int i = 0; i < n; i++) {
        struct buf b = BUF_INIT;
        struct log_append_info info;
        tb_batch(&b, 5, 100, clk.now, (uint32_t)i);
        int rv = partition_log_append(log, b.data, b.len, epoch, &info);
        ck_assert_msg(rv == 0, "append: %s (%s)", log_err_name(rv), info.reason);
        buf_free(&b);
    }
}

/* One follower batch of `count` records at the log end in `epoch`. */
static int follow(struct partition_log *log, int32_t epoch, int count)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch_ex(&b, count, 100, clk.now, 7, 0, partition_log_end_offset(log));
    record_batch_set_leader_epoch(b.data, epoch);
    int rv = partition_log_append_as_follower(log, b.data, b.len, &info);
    buf_free(&b);
    return rv;
}

START_TEST(test_log_leader_appends_stamp_epochs)
{
    struct partition_log *log = open_log();
    ck_assert_int_eq(partition_log_latest_epoch(log), LEADER_EPOCH_UNDEFINED);
    lead(log, 1, 4); /* 0..19 */
    /* The roll's flush writes the epoch file on the pool: let it finish
     * before this writes the file on the loop (they share its temporary). */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(partition_log_begin_epoch(log, 3), 0);
    lead(log, 3, 2); /* 20..29 */
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 3, 20);
    ck_assert_str_eq(read_text(), "0\n2\n1 0\n3 20\n");
    struct leader_epoch_end e = partition_log_end_offset_for_epoch(log, 2);
    ck_assert_int_eq(e.epoch, 1);
    ck_assert_int_eq(e.end_offset, 20);
    e = partition_log_end_offset_for_epoch(log, 3);
    ck_assert_int_eq(e.end_offset, 30);
    /* A new leader epoch with nothing written yet ends the previous one at the log end. */
    ck_assert_int_eq(partition_log_begin_epoch(log, 5), 0);
    e = partition_log_end_offset_for_epoch(log, 3);
    ck_assert_int_eq(e.epoch, 3);
    ck_assert_int_eq(e.end_offset, 30);
    ck_assert_int_eq(partition_log_begin_epoch(log, -1), -EINVAL);
    ck_assert_int_eq(partition_log_begin_epoch(log, 5), 0);
    /* A stale leader can neither begin nor stamp an older epoch; nothing is
     * written and producers are told to find the leader. */
    ck_assert_int_eq(partition_log_begin_epoch(log, 4), LOG_ERR_STALE_EPOCH);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 5, 100, clk.now, 1);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 3, &info), LOG_ERR_STALE_EPOCH);
    ck_assert_ptr_nonnull(strstr(info.reason, "older"));
    buf_free(&b);
    ck_assert_int_eq(partition_log_end_offset(log), 30);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 3, 20, 5, 30);
    /* Survives a restart. An epoch with no record at the log end does not,
     * as in Kafka (the log is trimmed to its end on load): the broker leads
     * nothing after a restart until elected again, and then begins anew. */
    log = reopen(log);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 3, 20);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* A leader's epoch begun on the loop (partition_log_begin_epoch_deferred)
 * is in the cache at once, and neither that nor the epoch's first append
 * writes its file on the loop: the next flush does, on the thread pool,
 * before it moves the recovery point past the epoch's records (issue 14,
 * KAFKA-15046). Closing writes what no flush has. */
START_TEST(test_log_new_epoch_written_by_the_flush)
{
    struct partition_log *log = open_log();
    lead(log, 1, 2); /* 0..9 */
    ck_assert_str_eq(read_text(), "");
    ck_assert_int_eq(flush_now(log), 0);
    ck_assert_str_eq(read_text(), "0\n1\n1 0\n");
    pool_hold(); /* no flush a roll might start writes meanwhile */
    ck_assert_int_eq(partition_log_begin_epoch_deferred(log, 3), 0);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 3, 10);
    ck_assert_str_eq(read_text(), "0\n1\n1 0\n");
    struct leader_epoch_end e = partition_log_end_offset_for_epoch(log, 1);
    ck_assert_int_eq(e.end_offset, 10);
    lead(log, 3, 1);                              /* 10..14 */
    ck_assert_str_eq(read_text(), "0\n1\n1 0\n"); /* not at the append */
    ck_assert_int_eq(partition_log_durable_offset(log), 10);
    pool_release();
    ck_assert_int_eq(flush_now(log), 0);
    ck_assert_int_eq(partition_log_durable_offset(log), 15);
    ck_assert_str_eq(read_text(), "0\n2\n1 0\n3 10\n");
    ck_assert_int_eq(partition_log_begin_epoch_deferred(log, 2), LOG_ERR_STALE_EPOCH);
    ck_assert_int_eq(partition_log_begin_epoch_deferred(log, 4), 0);
    ck_assert_str_eq(read_text(), "0\n2\n1 0\n3 10\n");
    ck_assert_int_eq(partition_log_close(log), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_str_eq(read_text(), "0\n3\n1 0\n3 10\n4 15\n");
}
END_TEST

/* A follower's new epochs likewise wait for the flush. */
START_TEST(test_log_follower_epoch_written_by_the_flush)
{
    struct partition_log *log = open_log();
    ck_assert_int_eq(follow(log, 0, 3), 0);
    ck_assert_int_eq(flush_now(log), 0);
    ck_assert_str_eq(read_text(), "0\n1\n0 0\n");
    ck_assert_int_eq(follow(log, 2, 3), 0);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 0, 0, 2, 3);
    ck_assert_str_eq(read_text(), "0\n1\n0 0\n");
    ck_assert_int_eq(flush_now(log), 0);
    ck_assert_str_eq(read_text(), "0\n2\n0 0\n2 3\n");
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* A follower batch older than the latest epoch drops entries below the log
 * end (Kafka's maybeTruncateNonMonotonicEntries): history a recovery point
 * may have passed, so it is written at once, as a truncation is. */
START_TEST(test_log_follower_older_epoch_written_at_once)
{
    struct partition_log *log = open_log();
    ck_assert_int_eq(follow(log, 0, 3), 0);
    ck_assert_int_eq(follow(log, 4, 3), 0);
    ck_assert_int_eq(flush_now(log), 0);
    ck_assert_str_eq(read_text(), "0\n2\n0 0\n4 3\n");
    ck_assert_int_eq(follow(log, 2, 1), 0); /* at 6 */
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 0, 0, 2, 6);
    ck_assert_str_eq(read_text(), "0\n2\n0 0\n2 6\n");
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* A crash before the flush: the file lacks the new epoch, and open rebuilds
 * it from the batches past the recovery point. */
START_TEST(test_log_crash_before_the_flush_rebuilds_the_new_epoch)
{
    struct partition_log *log = open_log();
    lead(log, 1, 8); /* 0..39, several segments */
    ck_assert_int_gt(partition_log_segment_count(log), 2);
    ck_assert_int_eq(flush_now(log), 0);
    ck_assert_int_eq(partition_log_checkpoint(log), 0); /* recovery point 40 */
    pool_hold(); /* the crash comes before any flush a roll might start */
    ck_assert_int_eq(partition_log_begin_epoch_deferred(log, 3), 0);
    lead(log, 3, 2); /* 40..49 */
    ck_assert_str_eq(read_text(), "0\n1\n1 0\n");
    char *crashed = tb_tmpdir();
    copy_dir_files(crashed);
    pool_release();
    ck_assert_str_eq(read_text_in(crashed), "0\n1\n1 0\n");
    struct partition_log *copy = NULL;
    char err[256] = "";
    ck_assert_msg(partition_log_open(&loop, crashed, &topic_cfg, &clock_, &copy, err, sizeof err) ==
                      0,
                  "%s", err);
    ck_assert_int_eq(partition_log_end_offset(copy), 50);
    ASSERT_ENTRIES(partition_log_epoch_cache(copy), 1, 0, 3, 40);
    ck_assert_int_eq(partition_log_close(copy), 0);
    ck_assert_int_eq(partition_log_close(log), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_str_eq(read_text_in(crashed), "0\n2\n1 0\n3 40\n");
    tb_rmdir(crashed);
}
END_TEST

/* A truncation while a flush is writing an older copy of the cache: the
 * flush's rename must not land after the truncation's write, so that write
 * waits for the flush, and the file ends equal to the cache. Deterministic:
 * the flush is queued, and the truncation made, before the loop runs. */
START_TEST(test_log_truncation_during_flush_leaves_the_file_equal_to_the_cache)
{
    struct partition_log *log = open_log();
    pool_hold();     /* the rolls' flushes and ours wait until pool_release */
    lead(log, 1, 2); /* 0..9 */
    ck_assert_int_eq(partition_log_begin_epoch_deferred(log, 3), 0);
    lead(log, 3, 2); /* 10..19 */
    struct flush_wait w = {0, 0};
    struct log_flush_req req = {.data = &w};
    ck_assert_int_eq(partition_log_flush(log, &req, on_flushed), 0); /* copies [1 0, 3 10] */
    ck_assert_int_eq(partition_log_truncate_to(log, 10), 0);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0);
    pool_release(); /* the flush writes its copy now, after the truncation */
    while (w.calls == 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(w.status, 0);
    ck_assert_int_eq(partition_log_durable_offset(log), 10); /* not past the cut */
    ck_assert_str_eq(read_text(), cache_text(partition_log_epoch_cache(log)));
    ck_assert_str_eq(read_text(), "0\n1\n1 0\n");
    /* A new leader's records after the cut: the next flush writes their
     * epoch, durable with them. */
    ck_assert_int_eq(follow(log, 5, 2), 0); /* 10..11 */
    ck_assert_int_eq(flush_now(log), 0);
    ck_assert_int_eq(partition_log_durable_offset(log), 12);
    ck_assert_str_eq(read_text(), "0\n2\n1 0\n5 10\n");
    log = reopen(log);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 5, 10);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

/* Closing while a flush writes an older copy: the pool renames nothing after
 * close wrote the cache (voided), so the file stays the newest. */
START_TEST(test_log_close_during_flush_keeps_the_newest_file)
{
    struct partition_log *log = open_log();
    pool_hold();     /* the rolls' flushes and ours wait until pool_release */
    lead(log, 1, 2); /* 0..9 */
    ck_assert_int_eq(partition_log_begin_epoch_deferred(log, 3), 0);
    lead(log, 3, 2); /* 10..19 */
    struct flush_wait w = {0, 0};
    struct log_flush_req req = {.data = &w};
    ck_assert_int_eq(partition_log_flush(log, &req, on_flushed), 0); /* copies [1 0, 3 10] */
    ck_assert_int_eq(partition_log_begin_epoch_deferred(log, 4), 0);
    lead(log, 4, 1); /* 20..24 */
    ck_assert_int_eq(partition_log_close(log), 0);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_str_eq(read_text(), "0\n3\n1 0\n3 10\n4 20\n");
    pool_release();
    uv_run(&loop, UV_RUN_DEFAULT); /* the detached flush runs now, voided */
    ck_assert_str_eq(read_text(), "0\n3\n1 0\n3 10\n4 20\n");
}
END_TEST

START_TEST(test_log_follower_appends_record_batch_epochs)
{
    struct partition_log *log = open_log();
    ck_assert_int_eq(follow(log, 0, 3), 0);
    ck_assert_int_eq(follow(log, 0, 3), 0);
    ck_assert_int_eq(follow(log, 2, 4), 0);
    ck_assert_int_eq(follow(log, 4, 1), 0);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 0, 0, 2, 6, 4, 10);
    ck_assert_int_eq(flush_now(log), 0); /* which writes the file */
    ck_assert_str_eq(read_text(), "0\n3\n0 0\n2 6\n4 10\n");
    /* A batch below the log end (a gap above it is allowed) changes nothing. */
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch_ex(&b, 1, 10, clk.now, 1, 0, 5);
    record_batch_set_leader_epoch(b.data, 9);
    ck_assert_int_eq(partition_log_append_as_follower(log, b.data, b.len, &info),
                     LOG_ERR_OFFSET_MISMATCH);
    buf_free(&b);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 0, 0, 2, 6, 4, 10);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

START_TEST(test_log_truncation_trims_epochs)
{
    struct partition_log *log = open_log();
    lead(log, 1, 4);                                         /* 0..19 */
    lead(log, 2, 4);                                         /* 20..39 */
    lead(log, 4, 4);                                         /* 40..59 */
    ck_assert_int_eq(partition_log_truncate_to(log, 45), 0); /* inside epoch 4 */
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 2, 20, 4, 40);
    ck_assert_int_eq(partition_log_truncate_to(log, 40), 0); /* on its boundary */
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 2, 20);
    /* The rolls started flushes that write older copies of the cache: the
     * truncation's write waits for them. */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_str_eq(read_text(), "0\n2\n1 0\n2 20\n");
    /* The follower's next epoch continues from the cut. */
    ck_assert_int_eq(follow(log, 5, 2), 0);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 2, 20, 5, 40);
    ck_assert_int_eq(partition_log_truncate_fully_and_start_at(log, 100), 0);
    ck_assert_uint_eq(partition_log_epoch_cache(log)->count, 0);
    ck_assert_str_eq(read_text(), "0\n0\n");
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

START_TEST(test_log_start_moves_trim_epochs)
{
    struct partition_log *log = open_log();
    lead(log, 1, 4); /* 0..19 */
    lead(log, 2, 4); /* 20..39 */
    lead(log, 3, 4); /* 40..59 */
    partition_log_set_high_watermark(log, 60);
    ck_assert_int_eq(partition_log_delete_records(log, 25), 0);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 2, 25, 3, 40);
    uv_run(&loop, UV_RUN_DEFAULT); /* the rolls' flushes, which the write waits for */
    ck_assert_str_eq(read_text(), "0\n2\n2 25\n3 40\n");
    /* Epochs below the log start answer with the start of the first kept one. */
    struct leader_epoch_end e = partition_log_end_offset_for_epoch(log, 1);
    ck_assert_int_eq(e.epoch, 1);
    ck_assert_int_eq(e.end_offset, 25);
    /* Retention that drops whole segments moves the first epoch's start up. */
    topic_config_free(&topic_cfg);
    tb_topic_config(&topic_cfg, "segment.bytes=2000", "retention.bytes=0", NULL);
    partition_log_set_config(log, &topic_cfg);
    ck_assert_int_gt(partition_log_apply_retention(log, clk.now), 0);
    int64_t start = partition_log_start_offset(log);
    ck_assert_int_gt(start, 25);
    const struct leader_epoch_cache *c = partition_log_epoch_cache(log);
    ck_assert_int_eq(c->entries[0].epoch, start < 40 ? 2 : 3);
    ck_assert_int_eq(c->entries[0].start_offset, start);
    ck_assert_int_eq(c->entries[c->count - 1].epoch, 3);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

START_TEST(test_log_failed_checkpoint_write_fails_the_log_until_reopened)
{
    struct partition_log *log = open_log();
    lead(log, 1, 2); /* 0..9 */
    ck_assert_int_eq(flush_now(log), 0);
    /* A directory in the file's place makes the atomic rename fail. */
    char path[512], inner[600];
    snprintf(path, sizeof path, "%s/%s", dir, LEADER_EPOCH_CHECKPOINT_FILE);
    snprintf(inner, sizeof inner, "%s/x", path);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(mkdir(inner, 0755), 0);
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, 5, 100, clk.now, 1);
    /* The append no longer writes the file; the flush does, and fails. */
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 2, &info), 0);
    ck_assert_int_eq(partition_log_end_offset(log), 15);
    ck_assert_int_lt(flush_now(log), 0);
    /* The recovery point never passes records whose epoch is in no synced
     * file. A storage error fails the log (its directory goes offline, as in
     * Kafka): no append even once the cause is gone. Reopened, the epoch is
     * rebuilt from the batches and written. */
    ck_assert_int_eq(partition_log_durable_offset(log), 10);
    ck_assert_int_eq(rmdir(inner), 0);
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 2, &info), -EIO);
    ck_assert_int_lt(partition_log_close(log), 0);
    log = open_log();
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 2, 10);
    ck_assert_str_eq(read_text(), "0\n2\n1 0\n2 10\n");
    ck_assert_int_eq(partition_log_append(log, b.data, b.len, 2, &info), 0);
    buf_free(&b);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

static void write_checkpoint_text(const char *text)
{
    write_file(text, strlen(text));
}

START_TEST(test_log_rebuilds_missing_or_corrupt_checkpoint)
{
    struct partition_log *log = open_log();
    lead(log, 1, 10); /* several segments */
    lead(log, 4, 10);
    lead(log, 6, 3);
    ck_assert_int_gt(partition_log_segment_count(log), 2);
    ck_assert_int_eq(partition_log_close(log), 0);
    const char *bad[] = {NULL, "0\n3\n1 0\n4 50", "0\n2\n4 0\n1 50\n", "garbage"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, LEADER_EPOCH_CHECKPOINT_FILE);
        if (bad[i] == NULL) {
            ck_assert_int_eq(unlink(path), 0);
        } else {
            write_checkpoint_text(bad[i]);
        }
        log = open_log();
        ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 4, 50, 6, 100);
        ck_assert_str_eq(read_text(), "0\n3\n1 0\n4 50\n6 100\n");
        ck_assert_int_eq(partition_log_close(log), 0);
    }
}
END_TEST

START_TEST(test_log_open_fixes_stale_checkpoint)
{
    struct partition_log *log = open_log();
    lead(log, 1, 10);
    lead(log, 4, 2); /* 50..59 */
    ck_assert_int_eq(partition_log_close(log), 0);
    /* Ahead of the log (a crash lost the data after the file was written):
     * trimmed to the log end. */
    write_checkpoint_text("0\n3\n1 0\n4 50\n7 80\n");
    log = open_log();
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 4, 50);
    ck_assert_int_eq(partition_log_close(log), 0);
    /* Behind the log past the recovery point: re-derived from the batches. */
    write_checkpoint_text("0\n1\n1 0\n");
    log = open_log();
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0, 4, 50);
    ck_assert_str_eq(read_text(), "0\n2\n1 0\n4 50\n");
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

START_TEST(test_log_reopen_after_torn_tail_drops_its_epoch)
{
    struct partition_log *log = open_log();
    lead(log, 1, 2); /* 0..9 */
    lead(log, 2, 1); /* 10..14 */
    ck_assert_int_eq(partition_log_close(log), 0);
    /* Tear the last batch: recovery cuts it, and its epoch goes with it. */
    char path[512];
    snprintf(path, sizeof path, "%s/%020d.log", dir, 0);
    int64_t size = tb_file_size(dir, "00000000000000000000.log");
    ck_assert_int_gt(size, 10);
    ck_assert_int_eq(truncate(path, size - 10), 0);
    log = open_log();
    ck_assert_int_eq(partition_log_end_offset(log), 10);
    ASSERT_ENTRIES(partition_log_epoch_cache(log), 1, 0);
    ck_assert_int_eq(partition_log_close(log), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("leader_epoch_cache");
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_assign_keeps_first_offset_of_an_epoch);
    tcase_add_test(tc, test_assign_rejects_negative);
    tcase_add_test(tc, test_assign_new_epoch_same_offset_replaces);
    tcase_add_test(tc, test_assign_newer_epoch_lower_offset_drops_conflict);
    tcase_add_test(tc, test_assign_older_epoch_truncates_newer);
    tcase_add_test(tc, test_assign_latest_epoch_earlier_start);
    tcase_add_test(tc, test_assign_many_leader_changes);
    tcase_add_test(tc, test_assign_follower_receives_many_batches);
    tcase_add_test(tc, test_end_offset_undefined_cases);
    tcase_add_test(tc, test_end_offset_below_first_epoch);
    tcase_add_test(tc, test_end_offset_gap_in_epochs);
    tcase_add_test(tc, test_epoch_for_offset);
    tcase_add_test(tc, test_truncate_from_end);
    tcase_add_test(tc, test_truncate_from_start);
    tcase_add_test(tc, test_truncate_from_start_within_first);
    suite_add_tcase(s, tc);

    TCase *tf = tcase_create("checkpoint");
    tcase_add_checked_fixture(tf, file_setup, file_teardown);
    tcase_add_test(tf, test_checkpoint_round_trip);
    tcase_add_test(tf, test_checkpoint_missing);
    tcase_add_loop_test(tf, test_checkpoint_corrupt, 0,
                        (int)(sizeof corrupt_files / sizeof corrupt_files[0]));
    tcase_add_test(tf, test_checkpoint_nul_and_oversized);
    suite_add_tcase(s, tf);

    TCase *td = tcase_create("truncation_decision");
    tcase_add_test(td, test_decide_identical_logs_cut_nothing);
    tcase_add_test(td, test_decide_follower_behind_cuts_nothing);
    tcase_add_test(td, test_decide_kip101_lost_tail);
    tcase_add_test(td, test_decide_old_leader_divergent_tail);
    tcase_add_test(td, test_decide_two_leader_changes_in_a_row);
    tcase_add_test(td, test_decide_three_missing_epochs);
    tcase_add_test(td, test_decide_leader_log_starts_later);
    tcase_add_test(td, test_decide_undefined_answers);
    suite_add_tcase(s, td);

    TCase *tl = tcase_create("partition_log");
    tcase_add_checked_fixture(tl, log_setup, log_teardown);
    tcase_add_test(tl, test_log_leader_appends_stamp_epochs);
    tcase_add_test(tl, test_log_follower_appends_record_batch_epochs);
    tcase_add_test(tl, test_log_truncation_trims_epochs);
    tcase_add_test(tl, test_log_start_moves_trim_epochs);
    tcase_add_test(tl, test_log_rebuilds_missing_or_corrupt_checkpoint);
    tcase_add_test(tl, test_log_open_fixes_stale_checkpoint);
    tcase_add_test(tl, test_log_reopen_after_torn_tail_drops_its_epoch);
    tcase_add_test(tl, test_log_failed_checkpoint_write_fails_the_log_until_reopened);
    tcase_add_test(tl, test_log_new_epoch_written_by_the_flush);
    tcase_add_test(tl, test_log_follower_epoch_written_by_the_flush);
    tcase_add_test(tl, test_log_follower_older_epoch_written_at_once);
    tcase_add_test(tl, test_log_crash_before_the_flush_rebuilds_the_new_epoch);
    tcase_add_test(tl, test_log_truncation_during_flush_leaves_the_file_equal_to_the_cache);
    tcase_add_test(tl, test_log_close_during_flush_keeps_the_newest_file);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
