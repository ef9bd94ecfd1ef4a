#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/data_dir.h"
#include "tests/unit/check_main.h"

START_TEST(test_create_lock_and_stamp)
{
    char base[] = "/tmp/sluice-test-dirs-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(base));
    char list[256];
    snprintf(list, sizeof list, "%s/a/deep, %s/b", base, base);

    struct data_dirs dirs;
    char err[512];
    ck_assert_int_eq(data_dirs_open(&dirs, list, 7, err, sizeof err), 0);
    ck_assert_uint_eq(dirs.count, 2);

    /* A second opener is refused while the first holds the lock. */
    struct data_dirs again;
    ck_assert_int_ne(data_dirs_open(&again, list, 7, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "in use"));
    data_dirs_close(&dirs);

    /* Reopen by the same node works; by another node is refused. */
    ck_assert_int_eq(data_dirs_open(&dirs, list, 7, err, sizeof err), 0);
    data_dirs_close(&dirs);
    ck_assert_int_eq(data_dirs_open(&dirs, list, 8, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "node.id=7"));

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("data_dir");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_create_lock_and_stamp);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
