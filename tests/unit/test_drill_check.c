/* drill_check: the history checker of sluice-drill (tools/drill). Each test
 * feeds a small history and the reads that followed, and asserts the
 * verdict: a clean history has no violation; each kind of fault in the data
 * is found and counted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "drill_check.h"

#define S(x) ((int64_t)(x)*1000000000)

static struct drill_check *check;
static struct drill_report report;

static void setup(void)
{
    check = drill_check_new(2);
    ck_assert_ptr_nonnull(check);
    drill_check_window(check, S(0), S(10));
    memset(&report, 0, sizeof report);
}

static void teardown(void)
{
    drill_check_free(check);
}

static void attempt(int32_t producer, int64_t seq, enum drill_outcome outcome, int32_t partition,
                    int64_t offset, int64_t done_ns)
{
    struct drill_attempt a = {.producer = producer,
                              .seq = seq,
                              .outcome = outcome,
                              .partition = partition,
                              .offset = outcome == DRILL_OUTCOME_OK ? offset : -1,
                              .sent_ns = done_ns,
                              .done_ns = done_ns,
                              .error = outcome == DRILL_OUTCOME_OK ? NULL : "Local: Timed out"};
    ck_assert_int_eq(drill_check_attempt(check, &a), 0);
}

static void read_final(int32_t partition, int64_t offset, int32_t producer, int64_t seq)
{
    ck_assert_int_eq(drill_check_read(check, DRILL_READ_FINAL, partition, offset, producer, seq),
                     0);
}

static void run(void)
{
    ck_assert_int_eq(drill_check_run(check, &report), 0);
}

/* Producer 0 writes 0..3 to partition 0, producer 1 writes 0..1 to partition
 * 1, all acknowledged one second apart, and the final read holds them all. */
static void clean_history(void)
{
    for (int i = 0; i < 4; i++) {
        attempt(0, i, DRILL_OUTCOME_OK, 0, i, S(i + 1));
        read_final(0, i, 0, i);
    }
    for (int i = 0; i < 2; i++) {
        attempt(1, i, DRILL_OUTCOME_OK, 1, i, S(i + 1));
        read_final(1, i, 1, i);
    }
    drill_check_final_high_watermark(check, 0, 4);
    drill_check_final_high_watermark(check, 1, 2);
}

START_TEST(test_clean_history_passes)
{
    clean_history();
    ck_assert_int_eq(drill_check_high_watermark(check, 0, 0, S(1), 2, "ListOffsets"), 0);
    ck_assert_int_eq(drill_check_high_watermark(check, 0, 0, S(2), 4, "ListOffsets"), 0);
    run();
    ck_assert_int_eq(report.violations, 0);
    ck_assert_int_eq(report.listed, 0);
    ck_assert_int_eq(report.attempted, 6);
    ck_assert_int_eq(report.acknowledged, 6);
    /* acks at 1..4 s in a window of 0..10 s: the longest gap is the tail */
    ck_assert_int_eq(report.longest_unavailable_ns, S(6));
}
END_TEST

/* The stretch without an acknowledgement that lasted longest within [from,
 * to): it ran from start to end, `within` of it inside the interval. */
static void assert_unavailable(int64_t from, int64_t to, int64_t start, int64_t end, int64_t within)
{
    struct drill_stretch u = drill_check_unavailable(check, from, to);
    ck_assert_int_eq(u.start_ns, start);
    ck_assert_int_eq(u.end_ns, end);
    ck_assert_int_eq(u.within_ns, within);
}

/* Acks at 1, 2, 5 and 6 s of a 0..10 s window: no acknowledgement for
 * 0-1, 1-2, 2-5, 5-6 and 6-10 s. A round's figure is the longest part of
 * such a stretch within its interval. */
START_TEST(test_unavailable_within_an_interval)
{
    const int64_t at[] = {S(1), S(2), S(5), S(6)};
    for (int i = 0; i < 4; i++) {
        attempt(0, i, DRILL_OUTCOME_OK, 0, i, at[i]);
        read_final(0, i, 0, i);
    }
    run();
    ck_assert_int_eq(report.longest_unavailable_ns, S(4));
    ck_assert_int_eq(report.window_start_ns, S(0));
    ck_assert_int_eq(report.window_end_ns, S(10));
    assert_unavailable(S(0), S(10), S(6), S(10), S(4));
    assert_unavailable(S(3) / 2, S(3), S(2), S(5), S(1));            /* 2-3 beats 1.5-2 */
    assert_unavailable(S(1), S(7), S(2), S(5), S(3));                /* 2-5, 6-10 only in part */
    assert_unavailable(S(9) / 2, S(8), S(6), S(10), S(2));           /* 6-8 beats 4.5-5 and 5-6 */
    assert_unavailable(S(11) / 2, S(29) / 5, S(5), S(6), S(3) / 10); /* within one */
    assert_unavailable(S(7), S(20), S(6), S(10), S(3));              /* cut at the window's end */
    assert_unavailable(S(11), S(12), 0, 0, 0);                       /* after the window */
}
END_TEST

START_TEST(test_lost_acknowledged_write_detected)
{
    clean_history();
    attempt(0, 4, DRILL_OUTCOME_OK, 0, 4, S(5)); /* acknowledged, never read back */
    run();
    ck_assert_int_eq(report.counts[DRILL_V_LOST], 1);
    ck_assert_int_eq(report.violations, 1);
    ck_assert_int_eq(report.list[0].kind, DRILL_V_LOST);
    ck_assert_ptr_nonnull(strstr(report.list[0].detail, "0:4"));
}
END_TEST

START_TEST(test_acknowledged_at_another_offset_is_lost)
{
    attempt(0, 0, DRILL_OUTCOME_OK, 0, 0, S(1));
    attempt(0, 1, DRILL_OUTCOME_OK, 0, 1, S(2));
    read_final(0, 0, 0, 1); /* the new leader holds 0:1 where 0:0 was acknowledged */
    run();
    ck_assert_int_eq(report.counts[DRILL_V_LOST], 2);
}
END_TEST

/* The final history of test_duplicate_*: an unknown value at two offsets. */
static void duplicated_history(void)
{
    clean_history();
    attempt(0, 4, DRILL_OUTCOME_UNKNOWN, 0, -1, S(5));
    read_final(0, 4, 0, 4);
    read_final(0, 5, 0, 4); /* the same value twice */
}

START_TEST(test_duplicate_counted_but_allowed_without_idempotence)
{
    duplicated_history();
    run();
    ck_assert_int_eq(report.duplicated, 1);
    ck_assert_int_eq(report.counts[DRILL_V_DUPLICATE], 0);
    ck_assert_int_eq(report.unknown, 1);
    ck_assert_int_eq(report.unknown_written, 1);
    ck_assert_int_eq(report.violations, 0);
}
END_TEST

START_TEST(test_duplicate_is_violation_with_idempotence)
{
    drill_check_idempotent(check, 1);
    duplicated_history();
    run();
    ck_assert_int_eq(report.duplicated, 1);
    ck_assert_int_eq(report.counts[DRILL_V_DUPLICATE], 1);
    ck_assert_int_eq(report.violations, 1);
    ck_assert_int_eq(report.list[0].kind, DRILL_V_DUPLICATE);
}
END_TEST

START_TEST(test_retried_copy_landing_later_is_no_reordering)
{
    /* seq 4 and 5 were appended at 4 and 5 but their acknowledgement was
     * lost; the client's retry appended them again at 6 and 7 and that was
     * acknowledged; seq 6 followed at 8. The log reads 4 5 4 5 6: seq 4
     * after seq 5, yet every acknowledged write is in the order sent. */
    clean_history();
    attempt(0, 4, DRILL_OUTCOME_OK, 0, 6, S(5));
    attempt(0, 5, DRILL_OUTCOME_OK, 0, 7, S(5));
    attempt(0, 6, DRILL_OUTCOME_OK, 0, 8, S(6));
    attempt(0, 7, DRILL_OUTCOME_OK, 0, 10, S(8));
    attempt(0, 8, DRILL_OUTCOME_UNKNOWN, 0, -1, S(8));
    read_final(0, 4, 0, 4);
    read_final(0, 5, 0, 5);
    read_final(0, 6, 0, 4);
    read_final(0, 7, 0, 5);
    read_final(0, 8, 0, 6);
    read_final(0, 9, 0, 8); /* unknown: no acknowledgement placed it after seq 7 */
    read_final(0, 10, 0, 7);
    run();
    ck_assert_int_eq(report.counts[DRILL_V_ORDER], 0);
    ck_assert_int_eq(report.duplicated, 2);
    ck_assert_int_eq(report.violations, 0);
}
END_TEST

START_TEST(test_unknown_written_once_is_fine)
{
    clean_history();
    attempt(0, 4, DRILL_OUTCOME_UNKNOWN, 0, -1, S(5));
    attempt(0, 5, DRILL_OUTCOME_UNKNOWN, 0, -1, S(5));
    read_final(0, 4, 0, 4);
    run();
    ck_assert_int_eq(report.violations, 0);
    ck_assert_int_eq(report.unknown_written, 1);
}
END_TEST

START_TEST(test_offset_with_two_values_detected)
{
    clean_history();
    /* a consumer during the run saw another value at offset 2 */
    ck_assert_int_eq(drill_check_read(check, DRILL_READ_RUN, 0, 2, 1, 7), 0);
    ck_assert_int_eq(drill_check_read(check, DRILL_READ_RUN, 0, 2, 1, 7), 0); /* reported once */
    run();
    ck_assert_int_eq(report.counts[DRILL_V_OFFSET_TWO_VALUES], 1);
    ck_assert_int_eq(report.counts[DRILL_V_PHANTOM], 0);
}
END_TEST

START_TEST(test_offset_conflict_between_run_and_final_read)
{
    attempt(0, 0, DRILL_OUTCOME_OK, 0, 0, S(1));
    attempt(1, 0, DRILL_OUTCOME_OK, 0, 0, S(2)); /* two acks for one offset */
    ck_assert_int_eq(drill_check_read(check, DRILL_READ_RUN, 0, 0, 0, 0), 0);
    read_final(0, 0, 1, 0);
    run();
    ck_assert_int_eq(report.counts[DRILL_V_OFFSET_TWO_VALUES], 1);
    ck_assert_int_eq(report.counts[DRILL_V_LOST], 1);
}
END_TEST

START_TEST(test_order_violation_detected)
{
    attempt(0, 0, DRILL_OUTCOME_OK, 0, 1, S(1));
    attempt(0, 1, DRILL_OUTCOME_OK, 0, 0, S(2)); /* seq 1 landed before seq 0 */
    attempt(1, 0, DRILL_OUTCOME_OK, 0, 2, S(2));
    read_final(0, 1, 0, 0);
    read_final(0, 0, 0, 1);
    read_final(0, 2, 1, 0);
    run();
    ck_assert_int_eq(report.counts[DRILL_V_ORDER], 1);
    ck_assert_int_eq(report.violations, 1);
}
END_TEST

/* An acknowledged write sent at sent_ns and acknowledged at done_ns. */
static void acked(int32_t producer, int64_t seq, int32_t partition, int64_t offset, int64_t sent_ns,
                  int64_t done_ns)
{
    struct drill_attempt a = {.producer = producer,
                              .seq = seq,
                              .outcome = DRILL_OUTCOME_OK,
                              .partition = partition,
                              .offset = offset,
                              .sent_ns = sent_ns,
                              .done_ns = done_ns};
    ck_assert_int_eq(drill_check_attempt(check, &a), 0);
}

START_TEST(test_acknowledged_reorder_caught_despite_earlier_copy)
{
    /* seq 0 acknowledged at offset 2, then seq 1 sent and acknowledged at
     * offset 1: a reordering of acknowledged writes, even though an
     * unacknowledged copy of seq 0 sits at offset 0 before both. */
    acked(0, 0, 0, 2, S(1), S(2));
    acked(0, 1, 0, 1, S(3), S(4));
    read_final(0, 0, 0, 0);
    read_final(0, 1, 0, 1);
    read_final(0, 2, 0, 0);
    run();
    ck_assert_int_eq(report.counts[DRILL_V_ORDER], 1);
    ck_assert_int_eq(report.violations, 1);
    ck_assert_int_eq(report.duplicated, 1);
    ck_assert_ptr_nonnull(strstr(report.list[0].detail, "seq 1"));
}
END_TEST

START_TEST(test_writes_in_flight_together_may_swap)
{
    /* seq 0 was sent first, its request to a paused leader timed out, and
     * the client's retry reached the new leader after seq 1 (sent before
     * seq 0 was acknowledged): no promised order between them. seq 2, sent
     * after both were acknowledged, must follow both, and does. */
    acked(0, 0, 0, 1, S(1), S(5));
    acked(0, 1, 0, 0, S(2), S(3));
    acked(0, 2, 0, 2, S(6), S(7));
    read_final(0, 0, 0, 1);
    read_final(0, 1, 0, 0);
    read_final(0, 2, 0, 2);
    run();
    ck_assert_int_eq(report.violations, 0);
}
END_TEST

START_TEST(test_write_sent_after_ack_must_follow_it)
{
    /* seq 2 was sent after seq 0 and seq 1 were acknowledged at offsets 1
     * and 2, yet was acknowledged at offset 0 */
    acked(0, 0, 0, 1, S(1), S(5));
    acked(0, 1, 0, 2, S(2), S(3));
    acked(0, 2, 0, 0, S(6), S(7));
    read_final(0, 0, 0, 2);
    read_final(0, 1, 0, 0);
    read_final(0, 2, 0, 1);
    run();
    ck_assert_int_eq(report.counts[DRILL_V_ORDER], 1);
    ck_assert_int_eq(report.violations, 1);
}
END_TEST

START_TEST(test_order_is_per_partition)
{
    /* producer 0's later seq on another partition at a lower offset is fine */
    attempt(0, 0, DRILL_OUTCOME_OK, 0, 5, S(1));
    attempt(0, 1, DRILL_OUTCOME_OK, 1, 0, S(2));
    read_final(0, 5, 0, 0);
    read_final(1, 0, 0, 1);
    run();
    ck_assert_int_eq(report.violations, 0);
}
END_TEST

START_TEST(test_hw_regression_detected)
{
    clean_history();
    ck_assert_int_eq(drill_check_high_watermark(check, 0, 1, S(1), 4, "fetch"), 0);
    ck_assert_int_eq(drill_check_high_watermark(check, 0, 1, S(2), 1, "fetch"), 0);
    ck_assert_int_eq(drill_check_high_watermark(check, 0, 1, S(3), 2, "fetch"), 0);
    /* another observer's lower answer is not compared with observer 1's */
    ck_assert_int_eq(drill_check_high_watermark(check, 0, 0, S(3), 3, "ListOffsets"), 0);
    run();
    ck_assert_int_eq(report.counts[DRILL_V_HW_REGRESSION], 1);
    ck_assert_int_eq(report.violations, 1);
}
END_TEST

START_TEST(test_failed_write_visible_detected)
{
    clean_history();
    attempt(1, 2, DRILL_OUTCOME_FAILED, 1, -1, S(3));
    ck_assert_int_eq(drill_check_read(check, DRILL_READ_RUN, 1, 2, 1, 2), 0);
    run();
    ck_assert_int_eq(report.counts[DRILL_V_FAILED_VISIBLE], 1);
}
END_TEST

START_TEST(test_phantom_value_detected)
{
    clean_history();
    read_final(1, 2, 1, 9); /* never attempted */
    run();
    ck_assert_int_eq(report.counts[DRILL_V_PHANTOM], 1);
}
END_TEST

START_TEST(test_replicas_identical_below_hw)
{
    clean_history();
    for (int32_t node = 1; node <= 3; node++) {
        ck_assert_int_eq(drill_check_replica_batch(check, node, 0, 0, 1, 0xaa), 0);
        ck_assert_int_eq(drill_check_replica_batch(check, node, 0, 2, 3, 0xbb), 0);
    }
    /* node 3 has a tail beyond the high watermark (4): not compared */
    ck_assert_int_eq(drill_check_replica_batch(check, 3, 0, 4, 4, 0xcc), 0);
    run();
    ck_assert_int_eq(report.violations, 0);
    ck_assert_int_eq(report.replicas_compared, 1);
}
END_TEST

START_TEST(test_replica_divergence_detected)
{
    clean_history();
    ck_assert_int_eq(drill_check_replica_batch(check, 1, 0, 0, 1, 0xaa), 0);
    ck_assert_int_eq(drill_check_replica_batch(check, 1, 0, 2, 3, 0xbb), 0);
    ck_assert_int_eq(drill_check_replica_batch(check, 2, 0, 0, 1, 0xaa), 0);
    ck_assert_int_eq(drill_check_replica_batch(check, 2, 0, 2, 3, 0xbc), 0); /* other CRC */
    ck_assert_int_eq(drill_check_replica_log(check, 3, 0), 0);               /* empty */
    run();
    ck_assert_int_eq(report.counts[DRILL_V_REPLICA_DIVERGED], 2);
}
END_TEST

START_TEST(test_values_round_trip_and_foreign_rejected)
{
    char buf[DRILL_VALUE_MAX];
    int32_t p;
    int64_t s;
    int len = drill_value_format(buf, "r1", 12, 345);
    ck_assert_int_eq(drill_value_parse(buf, (size_t)len, "r1", &p, &s), 0);
    ck_assert_int_eq(p, 12);
    ck_assert_int_eq(s, 345);
    ck_assert_int_eq(drill_value_parse(buf, (size_t)len, "r2", &p, &s), -1);
    ck_assert_int_eq(drill_value_parse(buf, (size_t)len - 1, "r1", &p, &s), 0); /* "34" */
    ck_assert_int_eq(drill_value_parse("r1/12:", 6, "r1", &p, &s), -1);
    ck_assert_int_eq(drill_value_parse("r1/-1:3", 7, "r1", &p, &s), -1);
    ck_assert_int_eq(drill_value_parse("r1/99999:3", 10, "r1", &p, &s), -1);
    ck_assert_int_eq(drill_value_parse(NULL, 0, "r1", &p, &s), -1);
}
END_TEST

START_TEST(test_bad_attempts_rejected)
{
    struct drill_attempt a = {
        .producer = 0, .seq = 0, .outcome = DRILL_OUTCOME_OK, .partition = 2, .offset = 0};
    ck_assert_int_eq(drill_check_attempt(check, &a), -EINVAL); /* partition out of range */
    a.partition = 0;
    a.producer = DRILL_MAX_PRODUCERS;
    ck_assert_int_eq(drill_check_attempt(check, &a), -EINVAL);
    run();
    ck_assert_int_eq(report.attempted, 0);
}
END_TEST

START_TEST(test_listing_is_bounded)
{
    for (int i = 0; i < 50; i++) {
        attempt(0, i, DRILL_OUTCOME_OK, 0, i, S(1));
    }
    read_final(1, 0, 1, 0); /* a phantom: listed despite the flood of lost */
    run();
    ck_assert_int_eq(report.counts[DRILL_V_LOST], 50);
    ck_assert_int_eq(report.violations, 51);
    ck_assert_int_eq(report.listed, DRILL_REPORT_LISTED_PER_KIND + 1);
    int phantoms = 0;
    for (size_t i = 0; i < report.listed; i++) {
        phantoms += report.list[i].kind == DRILL_V_PHANTOM;
    }
    ck_assert_int_eq(phantoms, 1);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("drill_check");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_clean_history_passes);
    tcase_add_test(tc, test_unavailable_within_an_interval);
    tcase_add_test(tc, test_lost_acknowledged_write_detected);
    tcase_add_test(tc, test_acknowledged_at_another_offset_is_lost);
    tcase_add_test(tc, test_duplicate_counted_but_allowed_without_idempotence);
    tcase_add_test(tc, test_duplicate_is_violation_with_idempotence);
    tcase_add_test(tc, test_retried_copy_landing_later_is_no_reordering);
    tcase_add_test(tc, test_unknown_written_once_is_fine);
    tcase_add_test(tc, test_offset_with_two_values_detected);
    tcase_add_test(tc, test_offset_conflict_between_run_and_final_read);
    tcase_add_test(tc, test_order_violation_detected);
    tcase_add_test(tc, test_acknowledged_reorder_caught_despite_earlier_copy);
    tcase_add_test(tc, test_writes_in_flight_together_may_swap);
    tcase_add_test(tc, test_write_sent_after_ack_must_follow_it);
    tcase_add_test(tc, test_order_is_per_partition);
    tcase_add_test(tc, test_hw_regression_detected);
    tcase_add_test(tc, test_failed_write_visible_detected);
    tcase_add_test(tc, test_phantom_value_detected);
    tcase_add_test(tc, test_replicas_identical_below_hw);
    tcase_add_test(tc, test_replica_divergence_detected);
    tcase_add_test(tc, test_values_round_trip_and_foreign_rejected);
    tcase_add_test(tc, test_bad_attempts_rejected);
    tcase_add_test(tc, test_listing_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
