#include <check.h>
#include <string.h>

#include "controller/election.h"
#include "tests/unit/check_main.h"

/* Usable brokers as a bitmask by id. */
static bool usable(int32_t id, void *arg)
{
    return (*(unsigned *)arg >> id) & 1u;
}

static struct election_result elect(const int32_t *replicas, size_t n_replicas, const int32_t *isr,
                                    size_t n_isr, int32_t leader, unsigned live, bool unclean,
                                    int32_t *isr_out)
{
    struct election_input in = {replicas, n_replicas, isr, n_isr, leader, unclean, usable, &live};
    struct election_result out = {.isr = isr_out};
    election_elect(&in, &out);
    return out;
}

#define BIT(id) (1u << (id))

START_TEST(test_live_leader_keeps_leading)
{
    int32_t reps[] = {1, 2, 3}, isr[] = {1, 2, 3}, out[3];
    /* Broker 2 is not the preferred replica but leads and is alive: no churn. */
    struct election_result r = elect(reps, 3, isr, 3, 2, BIT(1) | BIT(2) | BIT(3), false, out);
    ck_assert_int_eq(r.leader, 2);
    ck_assert(!r.changed);
    /* A dead follower leaves the ISR; the leader stays. */
    r = elect(reps, 3, isr, 3, 1, BIT(1) | BIT(2), false, out);
    ck_assert_int_eq(r.leader, 1);
    ck_assert_uint_eq(r.n_isr, 2);
    ck_assert(r.changed);
}
END_TEST

START_TEST(test_dead_leader_replaced_by_preferred_live_isr)
{
    int32_t reps[] = {3, 1, 2}, isr[] = {1, 2, 3}, out[3];
    /* 3 (leader, preferred) dies: 1 comes before 2 in replica order. */
    struct election_result r = elect(reps, 3, isr, 3, 3, BIT(1) | BIT(2), false, out);
    ck_assert_int_eq(r.leader, 1);
    ck_assert_uint_eq(r.n_isr, 2);
    ck_assert(r.changed);
    ck_assert(!r.unclean);
    /* A replica outside the ISR is never a clean choice. */
    int32_t isr2[] = {3, 2};
    r = elect(reps, 3, isr2, 2, 3, BIT(1) | BIT(2), false, out);
    ck_assert_int_eq(r.leader, 2);
    ck_assert_uint_eq(r.n_isr, 1);
    ck_assert_int_eq(out[0], 2);
}
END_TEST

START_TEST(test_offline_without_live_isr_unless_unclean)
{
    int32_t reps[] = {1, 2, 3}, isr[] = {1}, out[3];
    struct election_result r = elect(reps, 3, isr, 1, 1, BIT(2) | BIT(3), false, out);
    ck_assert_int_eq(r.leader, -1);
    ck_assert_uint_eq(r.n_isr, 1); /* the ISR is kept for a clean return */
    ck_assert_int_eq(out[0], 1);
    ck_assert(r.changed);
    /* Broker 1 returns: it is elected again, cleanly. */
    int32_t kept[] = {1};
    r = elect(reps, 3, kept, 1, -1, BIT(1) | BIT(2), false, out);
    ck_assert_int_eq(r.leader, 1);
    ck_assert(r.changed);
    /* Unclean: first live replica, alone in the ISR. */
    r = elect(reps, 3, isr, 1, 1, BIT(3) | BIT(2), true, out);
    ck_assert_int_eq(r.leader, 2);
    ck_assert_uint_eq(r.n_isr, 1);
    ck_assert_int_eq(out[0], 2);
    ck_assert(r.unclean);
    /* Nobody alive at all: offline even when unclean is allowed. */
    r = elect(reps, 3, isr, 1, 1, 0, true, out);
    ck_assert_int_eq(r.leader, -1);
}
END_TEST

static int32_t preferred(const int32_t *isr, size_t n_isr, int32_t leader, unsigned live)
{
    static const int32_t replicas[] = {1, 2, 3};
    struct election_input in = {replicas, 3, isr, n_isr, leader, false, usable, &live};
    return election_preferred(&in);
}

START_TEST(test_preferred_replica_takes_back_leadership)
{
    const int32_t all[] = {1, 2, 3}, without_1[] = {2, 3};
    unsigned live = BIT(1) | BIT(2) | BIT(3);
    ck_assert_int_eq(preferred(all, 3, 2, live), 1);
    ck_assert_int_eq(preferred(all, 3, 1, live), -1);            /* leads already */
    ck_assert_int_eq(preferred(without_1, 2, 2, live), -1);      /* not in sync */
    ck_assert_int_eq(preferred(all, 3, 2, BIT(2) | BIT(3)), -1); /* not usable */
}
END_TEST

START_TEST(test_imbalance_is_strictly_above_the_percentage)
{
    ck_assert(!election_imbalanced(10, 1, 10)); /* exactly 10% */
    ck_assert(election_imbalanced(10, 2, 10));
    ck_assert(election_imbalanced(1, 1, 10));
    ck_assert(!election_imbalanced(0, 0, 10)); /* prefers nothing */
    ck_assert(!election_imbalanced(5, 0, 0));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("election");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_live_leader_keeps_leading);
    tcase_add_test(tc, test_dead_leader_replaced_by_preferred_live_isr);
    tcase_add_test(tc, test_offline_without_live_isr_unless_unclean);
    tcase_add_test(tc, test_preferred_replica_takes_back_leadership);
    tcase_add_test(tc, test_imbalance_is_strictly_above_the_percentage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
