/* conn_quota: per-IP and total connection limits, overrides, the descriptor reserve. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "broker/kafka/conn_quota.h"
#include "tests/unit/check_main.h"

START_TEST(test_per_ip_total_and_release)
{
    struct conn_quota q;
    char err[160] = "";
    ck_assert_int_eq(conn_quota_init(&q, 5, 2, "10.0.0.9:3, ::1:0", 0, err, sizeof err), 0);
    ck_assert_int_eq(conn_quota_limit_for(&q, "10.0.0.9"), 3);
    ck_assert_int_eq(conn_quota_limit_for(&q, "::1"), 0);
    ck_assert_int_eq(conn_quota_limit_for(&q, "10.0.0.1"), 2);
    ck_assert_ptr_null(conn_quota_admit(&q, "10.0.0.1", -1, 0));
    ck_assert_ptr_null(conn_quota_admit(&q, "10.0.0.1", -1, 0));
    ck_assert_str_eq(conn_quota_admit(&q, "10.0.0.1", -1, 0), "max.connections.per.ip");
    ck_assert_str_eq(q.last_refused_ip, "10.0.0.1");
    ck_assert_str_eq(conn_quota_admit(&q, "::1", -1, 0), "max.connections.per.ip");
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(conn_quota_admit(&q, "10.0.0.9", -1, 0));
    }
    ck_assert_int_eq(q.total, 5);
    ck_assert_str_eq(conn_quota_admit(&q, "10.0.0.2", -1, 0), "max.connections");
    ck_assert_uint_eq(q.refused, 3);
    conn_quota_release(&q, "10.0.0.1");
    ck_assert_ptr_null(conn_quota_admit(&q, "10.0.0.1", -1, 0)); /* its place is back */
    conn_quota_release(&q, "10.0.0.9");
    ck_assert_ptr_null(conn_quota_admit(&q, "10.0.0.2", -1, 0));
    ck_assert_int_eq(q.total, 5);
    conn_quota_free(&q);
}
END_TEST

START_TEST(test_descriptor_reserve)
{
    struct conn_quota q;
    char err[160];
    ck_assert_int_eq(conn_quota_init(&q, 100, 100, NULL, 10, err, sizeof err), 0);
    q.fd_limit = 50;
    ck_assert_ptr_null(conn_quota_admit(&q, "a", 39, 0));
    ck_assert_ptr_nonnull(strstr(conn_quota_admit(&q, "a", 40, 0), "RLIMIT_NOFILE"));
    ck_assert_int_eq(q.total, 1);
    conn_quota_free(&q);
}
END_TEST

START_TEST(test_bad_overrides)
{
    static const char *const bad[] = {"10.0.0.1", "10.0.0.1:",     ":5",      "10.0.0.1:x",
                                      "a:-1",     "a:99999999999", "ok:1,bad"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct conn_quota q;
        char err[160] = "";
        ck_assert_int_eq(conn_quota_init(&q, 1, 1, bad[i], 0, err, sizeof err), -EINVAL);
        ck_assert_msg(strstr(err, "max.connections.per.ip.overrides") != NULL, "%s", err);
    }
}
END_TEST

START_TEST(test_creation_rate)
{
    struct conn_quota q;
    char err[160];
    ck_assert_int_eq(conn_quota_init(&q, 100, 100, NULL, 0, err, sizeof err), 0);
    conn_quota_set_rate(&q, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(conn_quota_admit(&q, "a", -1, 5000 + (uint64_t)i));
    }
    ck_assert_str_eq(conn_quota_admit(&q, "b", -1, 5999), "max.connection.creation.rate");
    ck_assert_ptr_null(conn_quota_admit(&q, "b", -1, 6000)); /* a new second */
    ck_assert_int_eq(q.total, 4);
    conn_quota_free(&q);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conn_quota");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_per_ip_total_and_release);
    tcase_add_test(tc, test_descriptor_reserve);
    tcase_add_test(tc, test_bad_overrides);
    tcase_add_test(tc, test_creation_rate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
