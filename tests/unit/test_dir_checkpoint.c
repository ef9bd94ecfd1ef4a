/* broker/log/offset_checkpoint_file (Kafka's OffsetCheckpointFile format) and
 * broker/replica/dir_checkpoint (one log directory's three files), and how often
 * the log manager writes them. */
#include "broker/log/log_errors.h"
#include "broker/log/offset_checkpoint_file.h"
#include "broker/replica/dir_checkpoint.h"
#include "broker/replica/log_manager.h"
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
    snprintf(root, sizeof root, "/tmp/sluice-dir-ckpt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

struct seen {
    int n;
    char topic[8][64];
    int32_t partition[8];
    int64_t offset[8];
};

static int collect(const char *topic, int32_t partition, int64_t offset, void *arg)
{
    struct seen *s = arg;
    if (s->n == 8) {
        return -E2BIG;
    }
    snprintf(s->topic[s->n], sizeof s->topic[s->n], "%s", topic);
    s->partition[s->n] = partition;
    s->offset[s->n++] = offset;
    return 0;
}

static int parse_str(const char *text, struct seen *s)
{
    memset(s, 0, sizeof *s);
    return offset_checkpoint_parse(text, strlen(text), collect, s);
}

START_TEST(test_format_parse_round_trip)
{
    struct buf b = BUF_INIT;
    ck_assert_int_eq(offset_checkpoint_begin(&b, 2), 0);
    ck_assert_int_eq(offset_checkpoint_add(&b, "orders", 0, 1234), 0);
    ck_assert_int_eq(offset_checkpoint_add(&b, "a.b-c_d", 2147483647, INT64_MAX), 0);
    const char want[] = "0\n2\norders 0 1234\na.b-c_d 2147483647 9223372036854775807\n";
    ck_assert_uint_eq(b.len, strlen(want));
    ck_assert(memcmp(b.data, want, b.len) == 0);
    struct seen s = {0};
    ck_assert_int_eq(offset_checkpoint_parse((const char *)b.data, b.len, collect, &s), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.topic[1], "a.b-c_d");
    ck_assert_int_eq(s.partition[1], 2147483647);
    ck_assert(s.offset[1] == INT64_MAX);
    buf_free(&b);
    ck_assert_int_eq(parse_str("0\n0\n", &s), 0);
    ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(test_parse_refuses_malformed)
{
    struct seen s;
    const char *bad[] = {
        "",                                 /* nothing */
        "1\n0\n",                           /* unknown version */
        "0\n2\nt 0 1\n",                    /* fewer lines than the count */
        "0\n1\nt 0 1\nt 1 2\n",             /* more lines than the count */
        "0\n1\nt 0 1",                      /* torn last line */
        "0\n1\nt -1 1\n",                   /* negative partition */
        "0\n1\nt 0 -5\n",                   /* negative offset */
        "0\n1\nt 0 99999999999999999999\n", /* overflow */
        "0\n1\nt 2147483648 0\n",           /* partition beyond int32 */
        "0\n1\n 0 1\n",                     /* empty topic */
        "0\n1\nt 0 1 7\n",                  /* extra field */
        "0\n1\nt 0x 1\n",                   /* not a number */
        "0\n99999999999\n",                 /* count beyond int32 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse_str(bad[i], &s) == LOG_ERR_CORRUPT, "accepted case %zu", i);
    }
}
END_TEST

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static int read_file(const char *name, char *out, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return 0;
}

static bool exists(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    return access(path, F_OK) == 0;
}

START_TEST(test_dir_round_trip_and_only_when_changed)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dir_checkpoint *dc = dir_checkpoint_open(&loop, root);
    ck_assert_ptr_nonnull(dc);
    struct log_checkpoint cp = {.log_start_offset = 5, .high_watermark = 40, .recovery_point = 30};
    struct log_checkpoint got;
    ck_assert(!dir_checkpoint_get(dc, "orders", 3, &got));
    ck_assert_int_eq(dir_checkpoint_set(dc, "orders", 3, &cp), 0);
    struct log_checkpoint cp2 = {0, 7, 7};
    ck_assert_int_eq(dir_checkpoint_set(dc, "t", 0, &cp2), 0);
    dir_checkpoint_write_async(dc);
    uv_run(&loop, UV_RUN_DEFAULT); /* the pool's write and its after-callback */
    char text[256];
    ck_assert_int_eq(read_file(OFFSET_CHECKPOINT_HIGH_WATERMARK, text, sizeof text), 0);
    ck_assert(strstr(text, "orders 3 40\n") != NULL);
    ck_assert(strstr(text, "t 0 7\n") != NULL);
    ck_assert_int_eq(read_file(OFFSET_CHECKPOINT_RECOVERY_POINT, text, sizeof text), 0);
    ck_assert(strstr(text, "orders 3 30\n") != NULL);
    ck_assert_int_eq(read_file(OFFSET_CHECKPOINT_LOG_START, text, sizeof text), 0);
    ck_assert(strstr(text, "orders 3 5\n") != NULL);

    /* Nothing changed: no write (the removed file stays away). */
    char path[256];
    snprintf(path, sizeof path, "%s/" OFFSET_CHECKPOINT_HIGH_WATERMARK, root);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(dir_checkpoint_set(dc, "orders", 3, &cp), 0);
    dir_checkpoint_write_async(dc);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(dir_checkpoint_write_sync(dc), 0);
    ck_assert(!exists(OFFSET_CHECKPOINT_HIGH_WATERMARK));

    /* A change: written again; a deleted partition leaves the files. */
    cp.high_watermark = 41;
    ck_assert_int_eq(dir_checkpoint_set(dc, "orders", 3, &cp), 0);
    dir_checkpoint_remove(dc, "t", 0);
    ck_assert_int_eq(dir_checkpoint_write_sync(dc), 0);
    dir_checkpoint_close(dc);

    dc = dir_checkpoint_open(&loop, root);
    ck_assert(dir_checkpoint_get(dc, "orders", 3, &got));
    ck_assert(got.log_start_offset == 5 && got.high_watermark == 41 && got.recovery_point == 30);
    ck_assert(!dir_checkpoint_get(dc, "t", 0, &got));
    dir_checkpoint_close(dc);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_dir_retires_old_files_after_a_write)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    write_file("old.checkpoint", "0\n3\nlog-start-offset 0\nhigh-watermark 1\nrecovery-point 1\n");
    struct dir_checkpoint *dc = dir_checkpoint_open(&loop, root);
    char old[256];
    snprintf(old, sizeof old, "%s/old.checkpoint", root);
    ck_assert_int_eq(dir_checkpoint_retire_file(dc, old), 0);
    ck_assert(exists("old.checkpoint")); /* not before the directory's files list it */
    struct log_checkpoint cp = {0, 1, 1};
    ck_assert_int_eq(dir_checkpoint_set(dc, "x", 0, &cp), 0);
    dir_checkpoint_write_async(dc);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(!exists("old.checkpoint"));
    ck_assert(exists(OFFSET_CHECKPOINT_LOG_START));
    dir_checkpoint_close(dc);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_dir_corrupt_file_is_ignored)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    write_file(OFFSET_CHECKPOINT_HIGH_WATERMARK, "0\n2\norders 0 10\n");
    write_file(OFFSET_CHECKPOINT_RECOVERY_POINT, "0\n1\norders 0 8\n");
    write_file(OFFSET_CHECKPOINT_LOG_START, "garbage");
    struct dir_checkpoint *dc = dir_checkpoint_open(&loop, root);
    ck_assert_ptr_nonnull(dc);
    struct log_checkpoint got;
    /* A corrupt file's offsets are unknown (0): never a raised high watermark. */
    ck_assert(dir_checkpoint_get(dc, "orders", 0, &got));
    ck_assert(got.recovery_point == 8 && got.log_start_offset == 0 && got.high_watermark == 0);
    dir_checkpoint_close(dc);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A write in flight when the directory closes finishes on its own. */
START_TEST(test_dir_close_with_write_in_flight)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dir_checkpoint *dc = dir_checkpoint_open(&loop, root);
    struct log_checkpoint cp = {0, 3, 3};
    ck_assert_int_eq(dir_checkpoint_set(dc, "y", 1, &cp), 0);
    dir_checkpoint_write_async(dc);
    dir_checkpoint_close(dc);
    uv_run(&loop, UV_RUN_DEFAULT);
    char text[128];
    ck_assert_int_eq(read_file(OFFSET_CHECKPOINT_HIGH_WATERMARK, text, sizeof text), 0);
    ck_assert_str_eq(text, "0\n1\ny 1 3\n");
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A pool write holds the entries as they were when it was queued (it
 * formats them off the loop, from its own copy): changes and removals made
 * meanwhile, topic names freed included, go in the next write. */
START_TEST(test_dir_pool_write_holds_the_state_it_was_queued_with)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dir_checkpoint *dc = dir_checkpoint_open(&loop, root);
    struct log_checkpoint a = {1, 10, 9}, b = {0, 2147483647, 5};
    ck_assert_int_eq(dir_checkpoint_set(dc, "alpha", 0, &a), 0);
    ck_assert_int_eq(dir_checkpoint_set(dc, "beta", 2147483647, &b), 0);
    dir_checkpoint_write_async(dc);
    struct log_checkpoint a2 = {1, 11, 11};
    ck_assert_int_eq(dir_checkpoint_set(dc, "alpha", 0, &a2), 0);
    dir_checkpoint_remove(dc, "beta", 2147483647);
    uv_run(&loop, UV_RUN_DEFAULT);
    char text[256];
    ck_assert_int_eq(read_file(OFFSET_CHECKPOINT_HIGH_WATERMARK, text, sizeof text), 0);
    ck_assert(strstr(text, "alpha 0 10\n") != NULL);
    ck_assert(strstr(text, "beta 2147483647 2147483647\n") != NULL);
    struct log_checkpoint got;
    ck_assert(dir_checkpoint_get(dc, "alpha", 0, &got) && got.high_watermark == 11);
    ck_assert(!dir_checkpoint_get(dc, "beta", 2147483647, &got));

    dir_checkpoint_write_async(dc);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(read_file(OFFSET_CHECKPOINT_HIGH_WATERMARK, text, sizeof text), 0);
    ck_assert_str_eq(text, "0\n1\nalpha 0 11\n");
    dir_checkpoint_close(dc);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* One write covers the three files, so it runs at the shortest interval. */
START_TEST(test_checkpoint_interval_is_the_shortest)
{
    struct sluice_config cfg;
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    ck_assert_uint_eq(log_manager_checkpoint_interval_ms(&cfg), 5000); /* Kafka's defaults */
    cfg.log_flush_offset_checkpoint_interval_ms = 700;
    ck_assert_uint_eq(log_manager_checkpoint_interval_ms(&cfg), 700);
    cfg.log_flush_start_offset_checkpoint_interval_ms = 300;
    ck_assert_uint_eq(log_manager_checkpoint_interval_ms(&cfg), 300);
    sluice_config_free(&cfg);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("dir_checkpoint");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_format_parse_round_trip);
    tcase_add_test(tc, test_parse_refuses_malformed);
    tcase_add_test(tc, test_dir_round_trip_and_only_when_changed);
    tcase_add_test(tc, test_dir_retires_old_files_after_a_write);
    tcase_add_test(tc, test_dir_corrupt_file_is_ignored);
    tcase_add_test(tc, test_dir_close_with_write_in_flight);
    tcase_add_test(tc, test_dir_pool_write_holds_the_state_it_was_queued_with);
    tcase_add_test(tc, test_checkpoint_interval_is_the_shortest);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
