/* common/loop_busy: the histogram and the stall warning's rate limit with
 * given durations, then a real loop: a callback that blocks it is measured,
 * a wait for a timer is not. The durations asserted on the real loop are
 * lower bounds of blocks the test itself induces (a busy-wait), and the
 * idle wait's absence from the busy buckets, not performance. */
#include <check.h>
#include <stdint.h>
#include <uv.h>

#include "common/loop_busy.h"
#include "tests/unit/check_main.h"

#define MS 1000000ull

/* Iterations busy more than 25 ms: the buckets above le=0.025. */
static uint64_t over_25ms(const struct loop_busy_stats *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= LOOP_BUSY_N_BOUNDS; i++) {
        if (i == LOOP_BUSY_N_BOUNDS || loop_busy_bounds_seconds[i] > 0.025) {
            n += s->counts[i];
        }
    }
    return n;
}

START_TEST(test_record_fills_buckets_count_sum_and_max)
{
    struct loop_busy lb = {0};
    uint64_t busy[] = {0, 500000, 500001, 30 * MS, 5000 * MS, 5000 * MS + 1};
    for (size_t i = 0; i < sizeof busy / sizeof busy[0]; i++) {
        loop_busy_record(&lb, busy[i], 1);
    }
    const struct loop_busy_stats *s = loop_busy_stats(&lb);
    ck_assert_double_eq(loop_busy_bounds_seconds[0], 0.0005);
    ck_assert_double_eq(loop_busy_bounds_seconds[LOOP_BUSY_N_BOUNDS - 1], 5);
    ck_assert_uint_eq(s->counts[0], 2); /* 0 and exactly 0.5 ms: le is inclusive */
    ck_assert_uint_eq(s->counts[1], 1); /* just over 0.5 ms */
    ck_assert_uint_eq(s->counts[6], 1); /* 30 ms: (0.025, 0.05] */
    ck_assert_uint_eq(s->counts[LOOP_BUSY_N_BOUNDS - 1], 1); /* exactly 5 s */
    ck_assert_uint_eq(s->counts[LOOP_BUSY_N_BOUNDS], 1);     /* over 5 s: +Inf */
    ck_assert_uint_eq(s->count, 6);
    ck_assert_uint_eq(s->sum_ns, 500000 + 500001 + 30 * MS + 10000 * MS + 1);
    ck_assert_uint_eq(s->max_ns, 5000 * MS + 1);
}
END_TEST

START_TEST(test_stall_warning_is_rate_limited)
{
    struct loop_busy lb = {0};
    const uint64_t s = 1000 * MS;
    ck_assert(!loop_busy_record(&lb, 999 * MS, 100 * s)); /* under 1 s */
    ck_assert(loop_busy_record(&lb, 1500 * MS, 100 * s)); /* the first stall */
    ck_assert(!loop_busy_record(&lb, 2 * s, 105 * s));    /* 5 s later */
    ck_assert(!loop_busy_record(&lb, 3 * s, 109 * s));
    ck_assert(!loop_busy_record(&lb, 500 * MS, 111 * s)); /* not a stall */
    ck_assert(loop_busy_record(&lb, s, 111 * s));         /* 1 s is one; 11 s later */
    ck_assert(!loop_busy_record(&lb, s, 112 * s));
    ck_assert_uint_eq(loop_busy_stats(&lb)->count, 7);
}
END_TEST

static void spin(uv_timer_t *t)
{
    uint64_t until = uv_hrtime() + *(uint64_t *)t->data;
    while (uv_hrtime() < until) {
    }
}

/* Runs `loop` (its only referenced handle a timer firing after `after_ms`
 * that busy-waits `spin_ns`) under a meter and returns the meter's stats. */
static struct loop_busy_stats run_one_timer(uint64_t after_ms, uint64_t spin_ns)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct loop_busy lb;
    ck_assert_int_eq(loop_busy_start(&lb, &loop), 0);
    ck_assert_uint_eq(loop_busy_stats(&lb)->count, 0);
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = &spin_ns;
    uv_timer_start(&timer, spin, after_ms, 0);
    /* The timer fires in the loop's second iteration, before its prepare,
     * which measures the span since the first one: the wait, then the
     * callback. The meter does not keep the loop alive: uv_run returns once
     * the timer is done. */
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    struct loop_busy_stats stats = *loop_busy_stats(&lb);
    uv_close((uv_handle_t *)&timer, NULL);
    loop_busy_stop(&lb);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    return stats;
}

START_TEST(test_blocking_callback_is_busy)
{
    struct loop_busy_stats s = run_one_timer(10, 30 * MS);
    ck_assert_uint_ge(s.count, 1);
    ck_assert_uint_ge(over_25ms(&s), 1);
    ck_assert_uint_ge(s.max_ns, 30 * MS);
    ck_assert_uint_ge(s.sum_ns, 30 * MS);
}
END_TEST

START_TEST(test_waiting_for_a_timer_is_not_busy)
{
    /* Without subtracting the idle time, the iteration would count the
     * 50 ms wait as busy. */
    struct loop_busy_stats s = run_one_timer(50, 0);
    ck_assert_uint_ge(s.count, 1);
    ck_assert_uint_eq(over_25ms(&s), 0);
    ck_assert_uint_lt(s.max_ns, 25 * MS);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("loop_busy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_record_fills_buckets_count_sum_and_max);
    tcase_add_test(tc, test_stall_warning_is_rate_limited);
    tcase_add_test(tc, test_blocking_callback_is_busy);
    tcase_add_test(tc, test_waiting_for_a_timer_is_not_busy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
