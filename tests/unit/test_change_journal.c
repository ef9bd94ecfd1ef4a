/* broker/replica/change_journal: the partitions that changed, in order, a
 * reader's position, what the ring no longer holds, resets, and the waiters
 * asked on every record. */
#include "broker/replica/change_journal.h"
#include "tests/unit/check_main.h"

#include <check.h>

static int asked;

static bool count_ready(struct delayed_op *op)
{
    (void)op;
    asked++;
    return false;
}

static void never_complete(struct delayed_op *op, bool expired)
{
    (void)op;
    (void)expired;
}

START_TEST(test_records_in_order_and_bounds)
{
    struct change_journal j;
    ck_assert_int_eq(change_journal_init(&j, 5), 0); /* rounded up to 8 */
    ck_assert(!change_journal_holds(&j, 0));         /* a reader that never read */
    uint64_t pos = change_journal_end(&j);
    ck_assert(change_journal_holds(&j, pos));
    for (uint32_t slot = 0; slot < 8; slot++) {
        change_journal_record(&j, slot * 10);
    }
    ck_assert(change_journal_holds(&j, pos));
    for (uint64_t seq = pos; seq < change_journal_end(&j); seq++) {
        ck_assert_uint_eq(change_journal_at(&j, seq), (seq - pos) * 10);
    }
    change_journal_record(&j, 99); /* the ninth overwrites the first */
    ck_assert(!change_journal_holds(&j, pos));
    ck_assert(change_journal_holds(&j, pos + 1));
    ck_assert_uint_eq(change_journal_at(&j, change_journal_end(&j) - 1), 99);
    ck_assert(!change_journal_holds(&j, change_journal_end(&j) + 1)); /* from the future */
    change_journal_free(&j);
}
END_TEST

START_TEST(test_reset_and_waiters)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct delayed_queue q;
    delayed_queue_init(&q, &loop);
    struct change_journal j;
    ck_assert_int_eq(change_journal_init(&j, 16), 0);
    struct delayed_op op;
    ck_assert_int_eq(delayed_op_init(&op, 1, count_ready, never_complete, NULL), 0);
    delayed_op_watch(&op, &j.waiters);
    delayed_queue_add(&q, &op, 60000);
    asked = 0;
    change_journal_record(&j, 1);
    change_journal_record(&j, 2);
    ck_assert_int_eq(asked, 2);
    /* A reader exactly at the end is behind a reset too. */
    uint64_t at_end = change_journal_end(&j);
    change_journal_reset(&j);
    ck_assert_int_eq(asked, 3);
    ck_assert(!change_journal_holds(&j, at_end));
    ck_assert(change_journal_holds(&j, change_journal_end(&j)));
    change_journal_free(&j); /* detaches the op */
    ck_assert_ptr_null(j.waiters.head);
    delayed_op_cancel(&op);
    delayed_op_free(&op);
    delayed_queue_close(&q, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("change_journal");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_records_in_order_and_bounds);
    tcase_add_test(tc, test_reset_and_waiters);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
