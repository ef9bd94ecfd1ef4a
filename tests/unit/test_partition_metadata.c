/* broker/replica/partition_metadata: the topic id file of a partition
 * directory, and what a failed write leaves behind (nothing: no open
 * descriptor, no .tmp). fsync is wrapped (-Wl,--wrap=fsync) so a test can
 * make the one before the rename fail, as a failing disk does. */
#include "broker/replica/partition_metadata.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int __real_fsync(int fd);
int __wrap_fsync(int fd);

static int fsync_error; /* errno for the next fsync to fail with; 0: none */

int __wrap_fsync(int fd)
{
    if (fsync_error != 0) {
        errno = fsync_error;
        fsync_error = 0;
        return -1;
    }
    return __real_fsync(fd);
}

static char root[64];
static const uint8_t topic_a[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                    0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe};
static const uint8_t topic_b[16] = {0xff};

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/sluice-partition-metadata-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    fsync_error = 0;
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

static int exists(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    return access(path, F_OK) == 0;
}

/* Open descriptors of this process (the count includes the one opendir
 * holds while counting, the same every time). */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(test_write_then_stale)
{
    ck_assert_int_eq(partition_metadata_stale(root, topic_a), 0); /* no file yet */
    ck_assert_int_eq(partition_metadata_write(root, topic_a), 0);

    char path[256], text[128] = {0};
    snprintf(path, sizeof path, "%s/" PARTITION_METADATA_FILE, root);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_gt(fread(text, 1, sizeof text - 1, f), 0);
    fclose(f);
    ck_assert_str_eq(text, "version: 0\ntopic_id: 0123456789abcdef1032547698badcfe\n");

    ck_assert_int_eq(partition_metadata_stale(root, topic_a), 0);
    ck_assert_int_eq(partition_metadata_stale(root, topic_b), 1);
    /* Written once: a second write (even another id) leaves the file. */
    ck_assert_int_eq(partition_metadata_write(root, topic_b), 0);
    ck_assert_int_eq(partition_metadata_stale(root, topic_a), 0);
    ck_assert(!exists(PARTITION_METADATA_FILE ".tmp"));
}
END_TEST

START_TEST(test_failed_fsync_closes_and_removes_tmp)
{
    int before = open_fds();
    fsync_error = EIO;
    ck_assert_int_eq(partition_metadata_write(root, topic_a), -EIO);
    ck_assert_int_eq(fsync_error, 0); /* the injected failure was reached */
    ck_assert_int_eq(open_fds(), before);
    ck_assert(!exists(PARTITION_METADATA_FILE));
    ck_assert(!exists(PARTITION_METADATA_FILE ".tmp"));

    /* The next open writes it again. */
    ck_assert_int_eq(partition_metadata_write(root, topic_a), 0);
    ck_assert_int_eq(open_fds(), before);
    ck_assert(exists(PARTITION_METADATA_FILE));
    ck_assert_int_eq(partition_metadata_stale(root, topic_b), 1);
}
END_TEST

START_TEST(test_missing_directory_is_an_error)
{
    char path[256];
    snprintf(path, sizeof path, "%s/gone", root);
    int before = open_fds();
    ck_assert_int_eq(partition_metadata_write(path, topic_a), -ENOENT);
    ck_assert_int_eq(open_fds(), before);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("partition_metadata");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_write_then_stale);
    tcase_add_test(tc, test_failed_fsync_closes_and_removes_tmp);
    tcase_add_test(tc, test_missing_directory_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
