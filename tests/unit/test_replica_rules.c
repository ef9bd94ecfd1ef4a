/* The replication rules of broker/replica as pure functions and on a real
 * partition: the high watermark over the ISR (never backwards, held by an
 * ISR member whose progress is unknown, KIP-497's proposed ISR counted),
 * ISR shrink and join decisions (Kafka's caught-up clock), a follower's
 * high watermark, truncation, and the fetcher's slot choice. Kafka's low
 * watermark for DeleteRecords (the lowest log start over the leader and
 * the replicas on live brokers), a DeleteRecords that waits for it as the
 * followers report their log starts, and a follower's log start following
 * the leader's. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/replica/fetcher.h"
#include "broker/replica/partition.h"
#include "common/buf.h"
#include "tests/unit/check_main.h"
#include "tests/unit/log_test_util.h"

static struct replica_progress rp(int32_t id, int64_t end, uint64_t caught_up)
{
    return (struct replica_progress){id, end, caught_up, 0, -1, -1, -1};
}

START_TEST(test_hw_is_min_over_isr)
{
    struct replica_progress r[3] = {rp(1, 100, 0), rp(2, 80, 0), rp(3, 50, 0)};
    int32_t all[3] = {1, 2, 3}, two[2] = {1, 2};
    ck_assert_int_eq(partition_hw_rule(0, 100, r, 3, all, 3), 50);
    ck_assert_int_eq(partition_hw_rule(0, 100, r, 3, two, 2), 80);
    /* Never backwards, never above the leader's log end. */
    ck_assert_int_eq(partition_hw_rule(60, 100, r, 3, all, 3), 60);
    ck_assert_int_eq(partition_hw_rule(0, 70, r, 3, two, 2), 70);
    /* An ISR member that has not fetched in this epoch holds it. */
    r[1].log_end = -1;
    ck_assert_int_eq(partition_hw_rule(40, 100, r, 3, all, 3), 40);
    /* A member the leader has no progress for at all holds it too. */
    int32_t stranger[2] = {1, 9};
    ck_assert_int_eq(partition_hw_rule(10, 100, r, 3, stranger, 2), 10);
    /* A leader alone: its own log end. */
    int32_t solo[1] = {1};
    ck_assert_int_eq(partition_hw_rule(10, 100, r, 3, solo, 1), 100);
}
END_TEST

START_TEST(test_isr_shrink_drops_only_laggards)
{
    struct replica_progress r[3] = {rp(1, 100, 0), rp(2, 100, 9000), rp(3, 40, 1000)};
    int32_t isr[3] = {1, 2, 3}, out[3];
    /* lag 5000 at 10000: 3 last caught up at 1000, so it goes. */
    ck_assert_int_eq(partition_isr_shrink(r, 3, isr, 3, 1, 10000, 5000, out), 2);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(out[1], 2);
    /* Exactly at the limit stays. */
    ck_assert_int_eq(partition_isr_shrink(r, 3, isr, 3, 1, 6000, 5000, out), 3);
    /* The leader never leaves, however old its clock. */
    r[0].caught_up_ms = 0;
    ck_assert_int_eq(partition_isr_shrink(r, 3, isr, 3, 1, 100000, 5000, out), 1);
    ck_assert_int_eq(out[0], 1);
}
END_TEST

START_TEST(test_caught_up_clock)
{
    struct replica_progress r = rp(2, 50, 100);
    /* At the leader's end now: caught up now. */
    ck_assert_int_eq(partition_caught_up_at(&r, 80, 80, 500), 500);
    /* Behind now, but has what the leader had at its previous fetch: caught
     * up as of that fetch. */
    r.last_fetch_leader_end = 70;
    r.last_fetch_ms = 300;
    ck_assert_int_eq(partition_caught_up_at(&r, 70, 90, 500), 300);
    /* Behind both: the clock stays. */
    ck_assert_int_eq(partition_caught_up_at(&r, 60, 90, 500), 100);
    /* Never backwards. */
    r.caught_up_ms = 400;
    ck_assert_int_eq(partition_caught_up_at(&r, 70, 90, 500), 400);
}
END_TEST

START_TEST(test_isr_join_needs_hw_and_epoch_start)
{
    ck_assert(partition_isr_may_join(100, 100, 90));
    ck_assert(!partition_isr_may_join(99, 100, 90));
    /* Caught up to the HW but not into this leader's epoch yet. */
    ck_assert(!partition_isr_may_join(100, 80, 120));
    ck_assert(partition_isr_may_join(120, 80, 120));
}
END_TEST

START_TEST(test_fetcher_slots)
{
    for (int32_t i = 0; i < 50; i++) {
        ck_assert_int_eq(fetcher_slot_of("t", i, 1), 0);
        int32_t s = fetcher_slot_of("topic", i, 3);
        ck_assert(s >= 0 && s < 3);
        ck_assert_int_eq(s, fetcher_slot_of("topic", i, 3)); /* stable */
    }
}
END_TEST

/* ---- on a real partition ---- */

static char dir[64];
static uv_loop_t loop;
static struct topic_config tc;
static struct sluice_config bcfg;

static struct partition *open_partition(int32_t self)
{
    char err[256], path[128];
    snprintf(path, sizeof path, "%s/t-0", dir);
    struct partition_log *log;
    ck_assert_msg(partition_log_open(&loop, path, &tc, NULL, &log, err, sizeof err) == 0, "%s",
                  err);
    struct partition *p;
    ck_assert_int_eq(partition_open(log, path, "t", 0, self, &tc, &p), 0);
    return p;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/sluice-test-rules-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(sluice_config_init(&bcfg), 0);
    ck_assert_int_eq(topic_config_init(&tc, &bcfg), 0);
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    topic_config_free(&tc);
    sluice_config_free(&bcfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void append(struct partition *p, int records)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    tb_batch(&b, records, 10, 1000, 7);
    ck_assert_int_eq(partition_append(p, b.data, b.len, &info), 0);
    buf_free(&b);
}

START_TEST(test_leader_hw_follows_the_isr)
{
    struct partition *p = open_partition(1);
    int32_t replicas[3] = {1, 2, 3}, isr[3] = {1, 2, 3};
    struct partition_state st = {1, 5, 0, replicas, 3, isr, 3, 1000};
    ck_assert(partition_apply_state(p, &st));
    ck_assert(partition_is_leader(p));
    append(p, 10);
    ck_assert_int_eq(partition_log_end(p), 10);
    ck_assert_int_eq(partition_high_watermark(p), 0);              /* followers unknown */
    ck_assert(!partition_follower_fetched(p, 2, 7, 10, -1, 1100)); /* in the ISR already */
    ck_assert_int_eq(partition_high_watermark(p), 0);
    partition_follower_fetched(p, 3, 7, 4, -1, 1100);
    ck_assert_int_eq(partition_high_watermark(p), 4);
    partition_follower_fetched(p, 3, 7, 10, -1, 1200);
    ck_assert_int_eq(partition_high_watermark(p), 10);
    /* A follower fetch far below cannot move it back. */
    partition_follower_fetched(p, 3, 7, 2, -1, 1300);
    ck_assert_int_eq(partition_high_watermark(p), 10);
    /* Shrink proposed: until answered both ISRs count (KIP-497). */
    append(p, 5);
    int32_t smaller[2] = {1, 2};
    partition_isr_proposed(p, smaller, 2);
    partition_follower_fetched(p, 2, 7, 15, -1, 1400);
    ck_assert_int_eq(partition_high_watermark(p), 10); /* 3 still counts */
    struct partition_state done = {1, 5, 1, NULL, 0, smaller, 2, 0};
    partition_isr_answered(p, &done);
    ck_assert_int_eq(p->n_isr, 2);
    ck_assert_int_eq(partition_high_watermark(p), 15);
    /* A stale answer (older partition epoch) is not adopted. */
    struct partition_state stale = {1, 5, 0, NULL, 0, isr, 3, 0};
    partition_isr_answered(p, &stale);
    ck_assert_int_eq(p->n_isr, 2);
    partition_close(p);
}
END_TEST

START_TEST(test_join_proposed_when_caught_up)
{
    struct partition *p = open_partition(1);
    int32_t replicas[3] = {1, 2, 3}, isr[2] = {1, 2};
    struct partition_state st = {1, 2, 0, replicas, 3, isr, 2, 1000};
    partition_apply_state(p, &st);
    append(p, 8);
    partition_follower_fetched(p, 2, 7, 8, -1, 1100);
    ck_assert_int_eq(partition_high_watermark(p), 8);
    ck_assert(!partition_follower_may_join(p, 3));                /* not fetched in this epoch */
    ck_assert(!partition_follower_fetched(p, 3, 7, 5, -1, 1200)); /* behind the HW */
    ck_assert(!partition_follower_may_join(p, 3));
    ck_assert(partition_follower_fetched(p, 3, 7, 8, -1, 1300));  /* caught up: join */
    ck_assert(!partition_follower_fetched(p, 4, 7, 8, -1, 1300)); /* not a replica */
    /* The same rule from the last fetch, asked later (its broker appears):
     * still caught up while the high watermark stays, not once it moves
     * past what it fetched; never for ISR members, itself or a non-replica. */
    append(p, 2);
    ck_assert(partition_follower_may_join(p, 3));
    partition_follower_fetched(p, 2, 7, 10, -1, 1400);
    ck_assert_int_eq(partition_high_watermark(p), 10);
    ck_assert(!partition_follower_may_join(p, 3));
    ck_assert(!partition_follower_may_join(p, 2));
    ck_assert(!partition_follower_may_join(p, 1));
    ck_assert(!partition_follower_may_join(p, 4));
    partition_close(p);
}
END_TEST

START_TEST(test_follower_hw_and_truncation)
{
    /* Write as leader in epoch 1, then follow: the follower's HW is
     * min(leader's, own log end), and truncation lowers the log end. */
    struct partition *p = open_partition(2);
    int32_t replicas[2] = {1, 2}, solo[1] = {2};
    struct partition_state lead = {2, 1, 0, replicas, 2, solo, 1, 0};
    partition_apply_state(p, &lead);
    append(p, 10);
    ck_assert_int_eq(partition_high_watermark(p), 10);
    struct partition_state follow = {1, 2, 0, replicas, 2, replicas, 2, 0};
    ck_assert(partition_apply_state(p, &follow));
    ck_assert(!partition_is_leader(p));
    ck_assert_int_eq(p->fetch_state, FETCH_TRUNCATE);
    struct log_append_info info;
    ck_assert_int_eq(partition_append(p, NULL, 0, &info), LOG_ERR_CLOSED); /* not the leader */
    ck_assert_int_eq(partition_append_replica(p, NULL, 0, 50, &info), 0);
    ck_assert_int_eq(partition_high_watermark(p), 10); /* capped by our log end */
    ck_assert_int_eq(partition_truncate(p, 6), 0);
    ck_assert_int_le(partition_log_end(p), 6);
    ck_assert_int_le(partition_high_watermark(p), partition_log_end(p));
    partition_close(p);
}
END_TEST

/* Alive: the ids in the int32_t array `data` ends with -1. */
static bool alive_in(void *data, int32_t broker_id)
{
    for (const int32_t *id = data; *id >= 0; id++) {
        if (*id == broker_id) {
            return true;
        }
    }
    return false;
}

START_TEST(test_low_watermark_rule)
{
    struct replica_progress r[3] = {rp(1, 100, 0), rp(2, 100, 0), rp(3, 100, 0)};
    int32_t all[] = {1, 2, 3, -1}, without_3[] = {1, 2, -1};
    r[0].log_start = 0; /* the leader's own entry does not count: leader_start does */
    r[1].log_start = 10;
    r[2].log_start = 5;
    ck_assert_int_eq(partition_low_watermark_rule(10, 1, r, 3, alive_in, all), 5);
    /* A replica on a fenced or unregistered broker does not hold it. */
    ck_assert_int_eq(partition_low_watermark_rule(10, 1, r, 3, alive_in, without_3), 10);
    /* The leader's own log start is the ceiling. */
    r[2].log_start = 40;
    ck_assert_int_eq(partition_low_watermark_rule(20, 1, r, 3, alive_in, all), 10);
    /* A live replica not heard from in this epoch holds it at -1. */
    r[1].log_start = -1;
    ck_assert_int_eq(partition_low_watermark_rule(20, 1, r, 3, alive_in, all), -1);
    /* Alone: the leader's log start. */
    ck_assert_int_eq(partition_low_watermark_rule(20, 1, r, 1, alive_in, all), 20);
}
END_TEST

struct low_wait {
    struct partition *p;
    int64_t target;
    int readies, completions;
    bool expired;
};

static int32_t every_node[] = {1, 2, 3, -1};

static bool low_ready(struct delayed_op *op)
{
    struct low_wait *lw = op->data;
    lw->readies++;
    return partition_low_watermark(lw->p, alive_in, every_node) >= lw->target;
}

static void low_complete(struct delayed_op *op, bool expired)
{
    struct low_wait *lw = op->data;
    lw->completions++;
    lw->expired = expired;
    delayed_op_free(op);
}

/* DeleteRecords on a leader of three replicas moves its own log start at
 * once, but the low watermark waits for both followers' fetches to report
 * theirs; an op parked on it (as the handler parks) completes on the
 * second report, not on the first. */
START_TEST(test_delete_records_waits_for_followers_log_start)
{
    struct partition *p = open_partition(1);
    int32_t replicas[3] = {1, 2, 3};
    struct partition_state st = {1, 5, 0, replicas, 3, replicas, 3, 1000};
    partition_apply_state(p, &st);
    append(p, 10);
    partition_follower_fetched(p, 2, 7, 10, 0, 1100);
    partition_follower_fetched(p, 3, 7, 10, 0, 1100);
    ck_assert_int_eq(partition_high_watermark(p), 10);
    ck_assert_int_eq(partition_low_watermark(p, alive_in, every_node), 0);
    struct log_checkpoint_waiter w = {0};
    int64_t target = -1;
    ck_assert_int_ge(partition_delete_records(p, 6, &target, &w), 0);
    ck_assert_int_eq(target, 6);
    ck_assert_int_eq(partition_log_start(p), 6);
    ck_assert_int_eq(partition_low_watermark(p, alive_in, every_node), 0);
    /* -1 asks for the high watermark. */
    ck_assert_int_ge(partition_delete_records(p, -1, &target, &w), 0);
    ck_assert_int_eq(target, 10);
    target = 6;

    struct delayed_queue q;
    delayed_queue_init(&q, &loop);
    struct delayed_op op;
    struct low_wait lw = {p, target, 0, 0, false};
    ck_assert_int_eq(delayed_op_init(&op, 1, low_ready, low_complete, &lw), 0);
    partition_watch(p, &op);
    delayed_queue_add(&q, &op, 600000);
    partition_follower_fetched(p, 2, 7, 10, 6, 1200);
    ck_assert_int_ge(lw.readies, 1);
    ck_assert_int_eq(lw.completions, 0); /* replica 3 is still at 0 */
    ck_assert_int_eq(partition_low_watermark(p, alive_in, every_node), 0);
    partition_follower_fetched(p, 3, 7, 10, 10, 1300);
    ck_assert_int_eq(lw.completions, 1);
    ck_assert(!lw.expired);
    ck_assert_int_eq(partition_low_watermark(p, alive_in, every_node), 6);
    /* Replica 3's broker fenced: only the leader and replica 2 count. */
    int32_t without_3[] = {1, 2, -1};
    ck_assert_int_eq(partition_low_watermark(p, alive_in, without_3), 6);
    delayed_queue_close(&q, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    partition_close(p);
}
END_TEST

/* A follower's log start follows the leader's from fetch answers, never
 * past its own high watermark, never backwards. */
START_TEST(test_follower_follows_the_leader_log_start)
{
    struct partition *p = open_partition(2);
    int32_t replicas[2] = {1, 2};
    struct partition_state lead = {2, 1, 0, replicas, 2, replicas + 1, 1, 0};
    partition_apply_state(p, &lead);
    append(p, 10);
    struct partition_state follow = {1, 2, 0, replicas, 2, replicas, 2, 0};
    partition_apply_state(p, &follow);
    ck_assert_int_eq(partition_high_watermark(p), 10);
    ck_assert_int_eq(partition_follow_leader_start(p, 5), 1);
    ck_assert_int_eq(partition_log_start(p), 5);
    ck_assert_int_eq(partition_follow_leader_start(p, 3), 0); /* never backwards */
    ck_assert_int_eq(partition_log_start(p), 5);
    ck_assert_int_eq(partition_follow_leader_start(p, 12), 1); /* capped by our HW */
    ck_assert_int_eq(partition_log_start(p), 10);
    partition_close(p);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("replica_rules");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, test_hw_is_min_over_isr);
    tcase_add_test(pure, test_isr_shrink_drops_only_laggards);
    tcase_add_test(pure, test_caught_up_clock);
    tcase_add_test(pure, test_isr_join_needs_hw_and_epoch_start);
    tcase_add_test(pure, test_fetcher_slots);
    tcase_add_test(pure, test_low_watermark_rule);
    suite_add_tcase(s, pure);
    TCase *part = tcase_create("partition");
    tcase_add_checked_fixture(part, setup, teardown);
    tcase_add_test(part, test_leader_hw_follows_the_isr);
    tcase_add_test(part, test_join_proposed_when_caught_up);
    tcase_add_test(part, test_follower_hw_and_truncation);
    tcase_add_test(part, test_delete_records_waits_for_followers_log_start);
    tcase_add_test(part, test_follower_follows_the_leader_log_start);
    suite_add_tcase(s, part);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
