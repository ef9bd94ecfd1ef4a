/* The log manager's retention timer visits only the logs whose retention
 * deadline has passed, and those logs lose exactly their expired segments:
 * by time, after a dynamic config change to a shorter retention.ms, after
 * retention.bytes shrinks, and after an append takes a log past it. Real
 * logs in a temporary directory, a real loop and the wall clock: records are
 * stamped hours in the past rather than waiting. Its cleaner visits only the
 * compacted logs with segments not yet cleaned. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "broker/data_dir.h"
#include "broker/replica/dir_checkpoint.h"
#include "broker/replica/log_manager.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

#define N_LOGS 40
#define HOUR   3600000LL

static char *dir;
static struct sluice_config cfg;
static struct data_dirs dirs;
static uv_loop_t loop;
static struct log_manager lm;
static struct partition_log *logs[N_LOGS];
static struct topic_config tc;

static int64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Only the fallback (no memory for the queue) walks every log. */
static void each_log(void *owner, log_manager_visit_fn visit, void *arg)
{
    (void)owner;
    for (int i = 0; i < N_LOGS; i++) {
        visit(logs[i], "t", i, arg);
    }
}

static void on_opened(void *arg, int rv, struct partition_log *log, size_t dir_index,
                      const char *path)
{
    (void)dir_index;
    (void)path;
    ck_assert_int_eq(rv, 0);
    *(struct partition_log **)arg = log;
}

static void setup(void)
{
    char err[256];
    dir = tb_tmpdir();
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    ck_assert_int_eq(sluice_config_set(&cfg, "log.dirs", dir, err, sizeof err), 0);
    ck_assert_int_eq(
        sluice_config_set(&cfg, "log.retention.check.interval.ms", "5", err, sizeof err), 0);
    ck_assert_int_eq(sluice_config_set(&cfg, "log.cleaner.backoff.ms", "5", err, sizeof err), 0);
    ck_assert_int_eq(data_dirs_open(&dirs, dir, 1, err, sizeof err), 0);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(log_manager_init(&lm, &loop, &cfg, &dirs, each_log, NULL), 0);
    tb_topic_config(&tc, "segment.bytes=1000", "retention.ms=3600000", NULL);
    uint8_t id[16];
    memset(id, 0x5a, sizeof id);
    for (int i = 0; i < N_LOGS; i++) {
        ck_assert_int_eq(log_manager_open(&lm, "t", id, i, &tc, -1, on_opened, &logs[i]), 0);
    }
    log_manager_wait_opens(&lm); /* opened on the thread pool */
    for (int i = 0; i < N_LOGS; i++) {
        ck_assert_ptr_nonnull(logs[i]);
    }
}

static void teardown(void)
{
    for (int i = 0; i < N_LOGS; i++) {
        if (logs[i] != NULL) {
            ck_assert_int_eq(partition_log_close(logs[i]), 0);
            log_manager_release(&lm, 0);
        }
    }
    log_manager_stop(&lm);
    uv_run(&loop, UV_RUN_DEFAULT);
    log_manager_close(&lm);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    data_dirs_close(&dirs);
    topic_config_free(&tc);
    sluice_config_free(&cfg);
    tb_rmdir(dir);
}

/* Append `batches` batches stamped `ts` and let all of it be deleted
 * (high watermark at the end). */
static void fill(int i, int batches, int64_t ts)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    for (int k = 0; k < batches; k++) {
        buf_reset(&b);
        tb_batch(&b, 2, 100, ts, (uint32_t)k);
        ck_assert_int_eq(partition_log_append(logs[i], b.data, b.len, 0, &info), 0);
    }
    buf_free(&b);
    partition_log_set_high_watermark(logs[i], partition_log_end_offset(logs[i]));
}

/* Run retention passes (the timer every 5 ms) until `visits` logs were
 * visited in all, then `extra` more passes' worth of loop turns. */
static void run_until_visits(uint64_t visits, int extra)
{
    for (int turns = 0; lm.retention_visits < visits && turns < 100000; turns++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_uint_eq(lm.retention_visits, visits);
    for (int k = 0; k < extra; k++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

START_TEST(test_only_due_logs_are_visited)
{
    int64_t now = wall_now();
    int segs[N_LOGS];
    for (int i = 0; i < N_LOGS; i++) {
        /* Logs 0-4 hold records two hours old: expired under retention.ms
         * of an hour. Log 10's are 30 minutes old, the rest new. */
        fill(i, 10, i < 5 ? now - 2 * HOUR : i == 10 ? now - HOUR / 2 : now);
        segs[i] = partition_log_segment_count(logs[i]);
        ck_assert_int_ge(segs[i], 3);
    }
    log_manager_start_timers(&lm);
    run_until_visits(5, 20);
    for (int i = 0; i < N_LOGS; i++) {
        int expect = i < 5 ? 1 : segs[i]; /* all but the active segment, or nothing */
        ck_assert_int_eq(partition_log_segment_count(logs[i]), expect);
    }

    /* retention.ms shortened to ten minutes on log 10 (a dynamic topic
     * config): due at once, visited once, its segments gone. */
    struct topic_config shorter;
    tb_topic_config(&shorter, "segment.bytes=1000", "retention.ms=600000", NULL);
    partition_log_set_config(logs[10], &shorter);
    run_until_visits(6, 20);
    ck_assert_int_eq(partition_log_segment_count(logs[10]), 1);
    ck_assert_int_eq(partition_log_segment_count(logs[11]), segs[11]);

    /* retention.bytes lowered on log 20: exactly the oldest segments over it go. */
    struct topic_config smaller;
    tb_topic_config(&smaller, "segment.bytes=1000", "retention.ms=3600000", "retention.bytes=1500",
                    NULL);
    partition_log_set_config(logs[20], &smaller);
    run_until_visits(7, 20);
    /* Kafka's rule: the oldest goes while the log stays at or over the limit
     * without it (segments hold at most segment.bytes). */
    int64_t size = partition_log_size_bytes(logs[20]);
    ck_assert_int_ge(size, 1500);
    ck_assert_int_lt(size - 1500, 1000);
    ck_assert_int_lt(partition_log_segment_count(logs[20]), segs[20]);

    /* Log 21 under a limit it does not reach yet: not visited, until an
     * append takes it past. */
    struct topic_config larger;
    tb_topic_config(&larger, "segment.bytes=1000", "retention.ms=3600000", "retention.bytes=8000",
                    NULL);
    partition_log_set_config(logs[21], &larger);
    run_until_visits(7, 20);
    ck_assert_int_eq(partition_log_segment_count(logs[21]), segs[21]);
    while (partition_log_size_bytes(logs[21]) < 8000 + 1000) {
        fill(21, 1, now);
    }
    int64_t start = partition_log_start_offset(logs[21]);
    run_until_visits(8, 20);
    size = partition_log_size_bytes(logs[21]);
    ck_assert_int_ge(size, 8000);
    ck_assert_int_lt(size - 8000, 1000);
    ck_assert_int_gt(partition_log_start_offset(logs[21]), start);
    topic_config_free(&shorter);
    topic_config_free(&smaller);
    topic_config_free(&larger);
}
END_TEST

/* A retention pass visits a bounded number of due logs per loop turn; a
 * due log closed before its visit is skipped, the others still trimmed. */
START_TEST(test_retention_pass_visits_a_bounded_number_of_logs_per_turn)
{
    int64_t now = wall_now();
    int segs[N_LOGS];
    for (int i = 0; i < N_LOGS; i++) {
        fill(i, 10, i < 5 ? now - 2 * HOUR : now); /* logs 0-4 expired */
        segs[i] = partition_log_segment_count(logs[i]);
    }
    lm.retention_visits_per_turn = 2;
    log_manager_start_timers(&lm);
    for (int turns = 0; lm.retention_visits == 0 && turns < 100000; turns++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_uint_eq(lm.retention_visits, 2);
    int trimmed = 0, pending = -1;
    for (int i = 0; i < 5; i++) {
        if (partition_log_segment_count(logs[i]) == 1) {
            trimmed++;
        } else if (pending < 0) {
            pending = i;
        }
    }
    ck_assert_int_eq(trimmed, 2);
    ck_assert_int_eq(partition_log_close(logs[pending]), 0);
    log_manager_release(&lm, 0);
    logs[pending] = NULL;
    uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(lm.retention_visits, 4);
    ck_assert_ptr_null(lm.retention_pending);
    for (int k = 0; k < 20; k++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_uint_eq(lm.retention_visits, 4);
    for (int i = 0; i < N_LOGS; i++) {
        if (logs[i] != NULL) {
            ck_assert_int_eq(partition_log_segment_count(logs[i]), i < 5 ? 1 : segs[i]);
        }
    }
}
END_TEST

/* Loop turns (timers every 5 ms) until `done` holds. */
#define RUN_UNTIL(done)                                                                            \
    do {                                                                                           \
        for (int turns_ = 0; !(done) && turns_ < 100000; turns_++) {                               \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
        }                                                                                          \
        ck_assert_msg((done), "never: %s", #done);                                                 \
    } while (0)

static void run_turns(int n)
{
    for (int k = 0; k < n; k++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

START_TEST(test_cleaner_visits_only_compacted_logs_with_segments_to_clean)
{
    int64_t now = wall_now();
    for (int i = 0; i < N_LOGS; i++) {
        fill(i, 10, now);
    }
    log_manager_start_timers(&lm);
    /* No compacted log: the cleaner's ticks visit nothing. */
    run_turns(40);
    ck_assert_uint_eq(lm.cleaner_visits, 0);

    /* Logs 3 and 7 become compacted: listed, cleaned, then left alone. */
    struct topic_config compact;
    tb_topic_config(&compact, "segment.bytes=1000", "cleanup.policy=compact", NULL);
    partition_log_set_config(logs[3], &compact);
    partition_log_set_config(logs[7], &compact);
    ck_assert_ptr_nonnull(lm.compacted);
    RUN_UNTIL(lm.compacted == NULL);
    int64_t active3 = partition_log_end_offset(logs[3]);
    ck_assert_int_gt(partition_log_clean_offset(logs[3]), 0);
    ck_assert_int_gt(partition_log_clean_offset(logs[7]), 0);
    ck_assert_int_eq(partition_log_clean_offset(logs[4]), 0);
    uint64_t visits = lm.cleaner_visits;
    run_turns(40);
    ck_assert_uint_eq(lm.cleaner_visits, visits);

    /* A roll of log 3 lists it again, alone. */
    int segs = partition_log_segment_count(logs[3]);
    while (partition_log_segment_count(logs[3]) == segs) {
        fill(3, 1, now);
    }
    ck_assert_ptr_nonnull(lm.compacted);
    RUN_UNTIL(lm.compacted == NULL && partition_log_clean_offset(logs[3]) >= active3);
    ck_assert_uint_gt(lm.cleaner_visits, visits);
    topic_config_free(&compact);
}
END_TEST

/* Whether log i's offsets, as its directory's checkpoint entries hold them,
 * have its high watermark at its end. */
static bool filed(int i)
{
    struct log_checkpoint cp;
    return dir_checkpoint_get(lm.checkpoints[0], "t", i, &cp) &&
           cp.high_watermark == partition_log_end_offset(logs[i]);
}

/* The flush pass over thousands of active logs is spread over loop turns,
 * a bounded number of logs per turn, so clients are served in between; a
 * log closed in the middle of a pass is skipped, the rest still visited. */
START_TEST(test_flush_pass_visits_a_bounded_number_of_logs_per_turn)
{
    int64_t now = wall_now();
    for (int i = 0; i < N_LOGS; i++) {
        fill(i, 1, now); /* listed with work, most recent first: 39 ... 0 */
        ck_assert(!filed(i));
    }
    lm.flush_visits_per_turn = 16;
    log_manager_start_timers(&lm);
    RUN_UNTIL(lm.flush_visits > 0); /* the flush timer ticks each second */
    ck_assert_uint_eq(lm.flush_visits, 16);
    for (int i = 0; i < N_LOGS; i++) {
        ck_assert_int_eq(filed(i), i >= N_LOGS - 16);
    }
    /* Log 23 is next in the pass: closed now, the pass goes on after it. */
    ck_assert_int_eq(partition_log_close(logs[23]), 0);
    log_manager_release(&lm, 0);
    logs[23] = NULL;
    uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(lm.flush_visits, 32);
    uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(lm.flush_visits, N_LOGS - 1);
    ck_assert_ptr_null(lm.flush_cursor);
    for (int i = 0; i < N_LOGS; i++) {
        ck_assert(i == 23 || filed(i));
    }
}
END_TEST

/* A flush tick that comes while a pass is still going is neither lost nor
 * served back to back: the pass ending does not begin the next one (the
 * loop gets a whole tick for its other work), and the next one still comes
 * a tick later for the logs the pass went by (here log 39, visited first,
 * then given work again). The timer is stopped after that tick, so only
 * the tick that came during the pass can bring log 39 round again. */
START_TEST(test_flush_tick_during_a_pass_brings_the_next_one_a_tick_after_it_ends)
{
    int64_t now = wall_now();
    for (int i = 0; i < N_LOGS; i++) {
        fill(i, 1, now); /* listed with work, most recent first: 39 ... 0 */
    }
    lm.flush_visits_per_turn = 16;
    log_manager_start_timers(&lm);
    RUN_UNTIL(lm.flush_visits > 0); /* the flush timer ticks each second */
    ck_assert(filed(N_LOGS - 1));
    fill(N_LOGS - 1, 1, now); /* behind the cursor: listed again at the head */
    ck_assert(!filed(N_LOGS - 1));
    /* Past the next tick: it fires in this turn, with the pass half done. */
    struct timespec tick = {1, 100 * 1000 * 1000};
    nanosleep(&tick, NULL);
    uv_run(&loop, UV_RUN_ONCE);
    ck_assert_ptr_nonnull(lm.flush_cursor);
    uv_timer_stop(&lm.flush_timer);
    RUN_UNTIL(lm.flush_visits >= N_LOGS); /* the turn this pass ends in */
    ck_assert_ptr_null(lm.flush_cursor);  /* no pass begun at once */
    ck_assert(!filed(N_LOGS - 1));
    ck_assert(uv_is_active((uv_handle_t *)&lm.flush_timer)); /* the tick is not lost */
    RUN_UNTIL(filed(N_LOGS - 1));
    for (int i = 0; i < N_LOGS; i++) {
        ck_assert(filed(i));
    }
}
END_TEST

/* A retention tick that comes while a pass is still going is neither lost
 * nor served back to back: the pass ending does not begin the next one,
 * and a log that became due during the pass (log 10, its retention.ms
 * shortened) is visited in the pass a tick later. The timer is stopped
 * after that tick, so only the tick that came during the pass can bring
 * log 10 round. */
START_TEST(test_retention_tick_during_a_pass_brings_the_next_one_a_tick_after_it_ends)
{
    int64_t now = wall_now();
    int segs[N_LOGS];
    for (int i = 0; i < N_LOGS; i++) {
        fill(i, 10, i < 5 || i == 10 ? now - 2 * HOUR : now); /* logs 0-4 expired */
        segs[i] = partition_log_segment_count(logs[i]);
    }
    /* Log 10 is kept for three hours at first: not due. */
    struct topic_config longer, shorter;
    tb_topic_config(&longer, "segment.bytes=1000", "retention.ms=10800000", NULL);
    tb_topic_config(&shorter, "segment.bytes=1000", "retention.ms=3600000", NULL);
    partition_log_set_config(logs[10], &longer);
    lm.retention_visits_per_turn = 1;
    log_manager_start_timers(&lm);
    RUN_UNTIL(lm.retention_visits > 0);
    ck_assert_ptr_nonnull(lm.retention_pending);  /* four of the five still to visit */
    partition_log_set_config(logs[10], &shorter); /* due now */
    /* Past the next tick (every 5 ms): it fires in this turn, mid-pass. */
    struct timespec tick = {0, 20 * 1000 * 1000};
    nanosleep(&tick, NULL);
    uv_run(&loop, UV_RUN_ONCE);
    ck_assert_ptr_nonnull(lm.retention_pending);
    uv_timer_stop(&lm.retention_timer);
    RUN_UNTIL(lm.retention_visits >= 5); /* a visit a turn: the turn this pass ends in */
    ck_assert_uint_eq(lm.retention_visits, 5);
    ck_assert_ptr_null(lm.retention_pending); /* no pass begun at once */
    ck_assert_int_eq(partition_log_segment_count(logs[10]), segs[10]);
    ck_assert(uv_is_active((uv_handle_t *)&lm.retention_timer)); /* the tick is not lost */
    RUN_UNTIL(lm.retention_visits >= 6);
    run_turns(20);
    ck_assert_uint_eq(lm.retention_visits, 6);
    ck_assert_ptr_null(lm.retention_pending);
    for (int i = 0; i < N_LOGS; i++) {
        ck_assert_int_eq(partition_log_segment_count(logs[i]), i < 5 || i == 10 ? 1 : segs[i]);
    }
    topic_config_free(&longer);
    topic_config_free(&shorter);
}
END_TEST

/* log.max.open.files 0 follows the soft RLIMIT_NOFILE, within its bounds. */
START_TEST(test_open_files_limit_follows_the_soft_rlimit)
{
    ck_assert_uint_eq(log_manager_open_files_limit(300), 300);
    struct rlimit saved, rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = saved;
    rl.rlim_cur = 1024;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_eq(log_manager_open_files_limit(0), (1024 - 512) / 2);
    rl.rlim_cur = 600; /* nearly nothing past the reserve */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_eq(log_manager_open_files_limit(0), 64);
    if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= 20000) {
        rl.rlim_cur = 20000; /* 5,000 active partitions fit */
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        ck_assert_uint_eq(log_manager_open_files_limit(0), (20000 - 512) / 2);
    }
    if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= 512 + 2 * 65536 + 1) {
        rl.rlim_cur = 512 + 2 * 65536 + 1;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        ck_assert_uint_eq(log_manager_open_files_limit(0), LOG_MAX_OPEN_FILES_DERIVED_MAX);
    }
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
}
END_TEST
static Suite *make_suite(void)
{
    Suite *s = suite_create("log_manager_retention");
    TCase *tc_core = tcase_create("core");
    tcase_add_checked_fixture(tc_core, setup, teardown);
    tcase_set_timeout(tc_core, 60);
    tcase_add_test(tc_core, test_only_due_logs_are_visited);
    tcase_add_test(tc_core, test_cleaner_visits_only_compacted_logs_with_segments_to_clean);
    tcase_add_test(tc_core, test_open_files_limit_follows_the_soft_rlimit);
    tcase_add_test(tc_core, test_flush_pass_visits_a_bounded_number_of_logs_per_turn);
    tcase_add_test(tc_core, test_retention_pass_visits_a_bounded_number_of_logs_per_turn);
    tcase_add_test(tc_core, test_flush_tick_during_a_pass_brings_the_next_one_a_tick_after_it_ends);
    tcase_add_test(tc_core,
                   test_retention_tick_during_a_pass_brings_the_next_one_a_tick_after_it_ends);
    suite_add_tcase(s, tc_core);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
