/* common/fs_util: mkdir -p and atomic file replacement. */
#include "common/fs_util.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/sluice-fs-util-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

START_TEST(test_mkdir_p_creates_parents)
{
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/c", root);
    ck_assert_int_eq(fs_mkdir_p(path), 0);
    ck_assert(is_dir(path));
    /* Existing directories are fine, and so is a trailing slash. */
    ck_assert_int_eq(fs_mkdir_p(path), 0);
    snprintf(path, sizeof path, "%s/a/b/", root);
    ck_assert_int_eq(fs_mkdir_p(path), 0);
}
END_TEST

START_TEST(test_mkdir_p_errors)
{
    char path[256];
    snprintf(path, sizeof path, "%s/file", root);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(path, sizeof path, "%s/file/sub", root);
    ck_assert_int_eq(fs_mkdir_p(path), -ENOTDIR);

    char *long_path = malloc(5000);
    memset(long_path, 'x', 4999);
    long_path[0] = '/';
    long_path[4999] = '\0';
    ck_assert_int_eq(fs_mkdir_p(long_path), -ENAMETOOLONG);
    free(long_path);
}
END_TEST

START_TEST(test_write_all_writes_everything)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(fs_write_all(fds[1], "abcdef", 6), 0);
    char got[8] = {0};
    ck_assert_int_eq(read(fds[0], got, sizeof got), 6);
    ck_assert_str_eq(got, "abcdef");
    close(fds[0]);
    close(fds[1]);
    ck_assert_int_eq(fs_write_all(fds[1], "x", 1), -EBADF);
}
END_TEST

static void read_text(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

START_TEST(test_write_atomic_replaces)
{
    char path[256], tmp[256], text[64];
    snprintf(path, sizeof path, "%s/state", root);
    snprintf(tmp, sizeof tmp, "%s/state.tmp", root);
    ck_assert_int_eq(fs_write_atomic(root, "state", "first version\n", 14), 0);
    read_text(path, text, sizeof text);
    ck_assert_str_eq(text, "first version\n");
    ck_assert_int_eq(fs_write_atomic(root, "state", "2nd", 3), 0);
    read_text(path, text, sizeof text);
    ck_assert_str_eq(text, "2nd");
    ck_assert_int_eq(access(tmp, F_OK), -1);
    ck_assert_int_eq(fs_fsync_dir(root), 0);
}
END_TEST

START_TEST(test_write_atomic_failure_keeps_target)
{
    char sub[256], path[256];
    snprintf(sub, sizeof sub, "%s/missing", root);
    ck_assert_int_eq(fs_write_atomic(sub, "state", "x", 1), -ENOENT);
    ck_assert_int_eq(fs_fsync_dir(sub), -ENOENT);

    /* A directory in the way of the rename: the target stays, no .tmp. */
    snprintf(path, sizeof path, "%s/busy", root);
    ck_assert_int_eq(fs_mkdir_p(path), 0);
    snprintf(path, sizeof path, "%s/busy/inner", root);
    ck_assert_int_eq(fs_mkdir_p(path), 0);
    ck_assert_int_ne(fs_write_atomic(root, "busy", "x", 1), 0);
    ck_assert(is_dir(path));
    snprintf(path, sizeof path, "%s/busy.tmp", root);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

/* The variant whose caller fsyncs the directory: the same replacement, the
 * same failures. */
START_TEST(test_write_replace_synced)
{
    char path[256], text[64];
    snprintf(path, sizeof path, "%s/state", root);
    ck_assert_int_eq(fs_write_replace_synced(root, "state", "one\n", 4), 0);
    ck_assert_int_eq(fs_write_replace_synced(root, "state", "two\n", 4), 0);
    read_text(path, text, sizeof text);
    ck_assert_str_eq(text, "two\n");
    snprintf(path, sizeof path, "%s/state.tmp", root);
    ck_assert_int_eq(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/missing", root);
    ck_assert_int_eq(fs_write_replace_synced(path, "state", "x", 1), -ENOENT);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("fs_util");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mkdir_p_creates_parents);
    tcase_add_test(tc, test_mkdir_p_errors);
    tcase_add_test(tc, test_write_all_writes_everything);
    tcase_add_test(tc, test_write_atomic_replaces);
    tcase_add_test(tc, test_write_atomic_failure_keeps_target);
    tcase_add_test(tc, test_write_replace_synced);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
