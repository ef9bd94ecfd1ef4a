#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>

#include "controller/placement.h"
#include "tests/unit/check_main.h"

static bool distinct(const int32_t *a, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            if (a[i] == a[j]) {
                return false;
            }
        }
    }
    return true;
}

static int index_of(const struct placement_broker *b, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i].id == id) {
            return (int)i;
        }
    }
    ck_abort_msg("replica %d is not one of the brokers", id);
    return -1;
}

START_TEST(test_round_robin_spreads_leaders_and_replicas)
{
    struct placement_broker b[] = {{1, NULL}, {2, NULL}, {3, NULL}};
    int32_t out[6 * 2];
    ck_assert_int_eq(placement_assign(b, 3, 6, 2, 0, 0, out), 0);
    int leaders[3] = {0}, replicas[3] = {0};
    for (int p = 0; p < 6; p++) {
        ck_assert(distinct(&out[p * 2], 2));
        leaders[index_of(b, 3, out[p * 2])]++;
        for (int j = 0; j < 2; j++) {
            replicas[index_of(b, 3, out[p * 2 + j])]++;
        }
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(leaders[i], 2);
        ck_assert_int_eq(replicas[i], 4);
    }
    /* `start` rotates the leaders: partition 0 now starts at the 2nd broker. */
    int32_t rotated[6 * 2];
    ck_assert_int_eq(placement_assign(b, 3, 6, 2, 1, 0, rotated), 0);
    ck_assert_int_eq(rotated[0], out[2]);
    /* Deterministic. */
    int32_t again[6 * 2];
    ck_assert_int_eq(placement_assign(b, 3, 6, 2, 0, 0, again), 0);
    ck_assert_mem_eq(again, out, sizeof out);
}
END_TEST

START_TEST(test_rack_aware)
{
    /* Given out of order: placement must not depend on the input order. */
    struct placement_broker b[] = {{4, "b"}, {1, "a"}, {3, "b"}, {2, "a"}};
    int32_t out[8 * 2];
    ck_assert_int_eq(placement_assign(b, 4, 8, 2, 0, 0, out), 0);
    int leaders[4] = {0};
    for (int p = 0; p < 8; p++) {
        int x = index_of(b, 4, out[p * 2]), y = index_of(b, 4, out[p * 2 + 1]);
        ck_assert_str_ne(b[x].rack, b[y].rack); /* one replica per rack */
        leaders[x]++;
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(leaders[i], 2);
    }
    /* rf 3 on two racks: both racks used, no broker twice. */
    int32_t out3[4 * 3];
    ck_assert_int_eq(placement_assign(b, 4, 4, 3, 0, 1, out3), 0);
    for (int p = 0; p < 4; p++) {
        ck_assert(distinct(&out3[p * 3], 3));
        bool has_a = false, has_b = false;
        for (int j = 0; j < 3; j++) {
            const char *rack = b[index_of(b, 4, out3[p * 3 + j])].rack;
            has_a |= strcmp(rack, "a") == 0;
            has_b |= strcmp(rack, "b") == 0;
        }
        ck_assert(has_a && has_b);
    }
}
END_TEST

START_TEST(test_replication_factor_bounds)
{
    struct placement_broker b[] = {{1, NULL}, {2, NULL}};
    int32_t out[8];
    ck_assert_int_eq(placement_assign(b, 2, 1, 3, 0, 0, out), -EINVAL);
    ck_assert_int_eq(placement_assign(b, 2, 1, 0, 0, 0, out), -EINVAL);
    ck_assert_int_eq(placement_assign(b, 0, 1, 1, 0, 0, out), -EINVAL);
    ck_assert_int_eq(placement_assign(b, 2, 4, 2, 0, 0, out), 0);
    for (int p = 0; p < 4; p++) {
        ck_assert(distinct(&out[p * 2], 2));
    }
    struct placement_broker one[] = {{7, NULL}};
    ck_assert_int_eq(placement_assign(one, 1, 3, 1, 5, 9, out), 0);
    ck_assert_int_eq(out[0], 7);
    ck_assert_int_eq(out[2], 7);
}
END_TEST

START_TEST(test_broker_partition_limit)
{
    ck_assert_int_eq(placement_broker_partition_limit(50), 50);
    struct rlimit saved, rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = saved;
    rl.rlim_cur = 1024;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_int_eq(placement_broker_partition_limit(0), (1024 - 512) / 3);
    rl.rlim_cur = 100; /* below the reserve: still one */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_int_eq(placement_broker_partition_limit(0), 1);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert(placement_fits(40, 10, 1, 50));
    ck_assert(!placement_fits(40, 11, 1, 50));
    ck_assert(placement_fits(140, 10, 3, 50));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("placement");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_round_robin_spreads_leaders_and_replicas);
    tcase_add_test(tc, test_rack_aware);
    tcase_add_test(tc, test_replication_factor_bounds);
    tcase_add_test(tc, test_broker_partition_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
