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

static int meta_has(const char *dir, const char *line)
{
    char path[512], buf[512];
    snprintf(path, sizeof path, "%s/meta.properties", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, line) != NULL;
}

START_TEST(test_cluster_id_claimed_then_enforced)
{
    char base[] = "/tmp/sluice-test-dirs-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(base));
    char list[1024], a[256], b[256];
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b", base);
    snprintf(list, sizeof list, "%s,%s", a, b);
    struct data_dirs dirs;
    char err[768];

    /* First start: no cluster recorded until the quorum's image names one. */
    ck_assert_int_eq(data_dirs_open(&dirs, list, 3, err, sizeof err), 0);
    ck_assert_str_eq(dirs.cluster_id, "");
    ck_assert_int_eq(data_dirs_claim_cluster(&dirs, "AAAAAAAAAAAAAAAAAAAAAA", err, sizeof err), 0);
    ck_assert(meta_has(a, "cluster.id=AAAAAAAAAAAAAAAAAAAAAA\n"));
    ck_assert(meta_has(b, "cluster.id=AAAAAAAAAAAAAAAAAAAAAA\n"));
    ck_assert(meta_has(b, "node.id=3\n"));
    data_dirs_close(&dirs);

    /* Restart: the recorded id is read back; the same cluster is fine,
     * another one is refused with both ids named. */
    ck_assert_int_eq(data_dirs_open(&dirs, list, 3, err, sizeof err), 0);
    ck_assert_str_eq(dirs.cluster_id, "AAAAAAAAAAAAAAAAAAAAAA");
    ck_assert_int_eq(data_dirs_claim_cluster(&dirs, "AAAAAAAAAAAAAAAAAAAAAA", err, sizeof err), 0);
    ck_assert_int_eq(data_dirs_claim_cluster(&dirs, "BBBBBBBBBBBBBBBBBBBBBB", err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "cluster.id=AAAAAAAAAAAAAAAAAAAAAA"));
    ck_assert_ptr_nonnull(strstr(err, "cluster.id=BBBBBBBBBBBBBBBBBBBBBB"));
    ck_assert(meta_has(a, "cluster.id=AAAAAAAAAAAAAAAAAAAAAA\n")); /* untouched */
    data_dirs_close(&dirs);

    /* Two log dirs from different clusters are refused at open. */
    char other[300];
    snprintf(other, sizeof other, "%s/c", base);
    ck_assert_int_eq(data_dirs_open(&dirs, other, 3, err, sizeof err), 0);
    ck_assert_int_eq(data_dirs_claim_cluster(&dirs, "CCCCCCCCCCCCCCCCCCCCCC", err, sizeof err), 0);
    data_dirs_close(&dirs);
    snprintf(list, sizeof list, "%s,%s", a, other);
    ck_assert_int_eq(data_dirs_open(&dirs, list, 3, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "refusing to mix"));

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
    tcase_add_test(tc, test_cluster_id_claimed_then_enforced);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
