/* partition_log_open under allocation failure: linked with
 * -Wl,--wrap=realloc so a test can make the next realloc fail. A failed open
 * must leave nothing behind: no descriptor, no segment file. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/partition_log.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static bool fail_next_realloc;

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_next_realloc) {
        fail_next_realloc = false;
        return NULL;
    }
    return __real_realloc(p, n);
}

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        n += fcntl(fd, F_GETFD) >= 0;
    }
    return n;
}

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/* The first realloc of an open on an empty directory is the segment list's
 * (log_segs_push), after the first segment's files were created. */
START_TEST(test_first_segment_not_listed_is_released)
{
    uv_loop_t loop;
    struct topic_config tc;
    struct partition_log *log = NULL;
    char err[256], path[4096];
    char *dir = tb_tmpdir();
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    tb_topic_config(&tc, NULL);
    snprintf(path, sizeof path, "%s/topic-0", dir);
    int before = open_fds();

    fail_next_realloc = true;
    ck_assert_int_eq(partition_log_open(&loop, path, &tc, NULL, &log, err, sizeof err), -ENOMEM);
    ck_assert(!fail_next_realloc);
    ck_assert_ptr_nonnull(strstr(err, "first segment"));
    ck_assert_int_eq(open_fds(), before);
    ck_assert_int_eq(dir_entries(path), 0);

    /* Nothing left in the way: the next open works. */
    ck_assert_int_eq(partition_log_open(&loop, path, &tc, NULL, &log, err, sizeof err), 0);
    ck_assert_int_eq(partition_log_segment_count(log), 1);
    ck_assert_int_eq(partition_log_close(log), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    topic_config_free(&tc);
    tb_rmdir(dir);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("log_open_faults");
    TCase *tc = tcase_create("open");
    tcase_add_test(tc, test_first_segment_not_listed_is_released);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
