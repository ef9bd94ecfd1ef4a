/* deadline_heap: order, moves in both directions, removal from anywhere,
 * and pop_due taking exactly what is due, against a plain array model. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/deadline_heap.h"
#include "tests/unit/check_main.h"

START_TEST(test_pops_in_deadline_order_only_when_due)
{
    struct deadline_heap h;
    struct deadline_entry e[5] = {{0}};
    const int64_t when[5] = {50, 10, 40, 20, 30};
    deadline_heap_init(&h);
    ck_assert_int_eq(deadline_heap_next(&h), INT64_MAX);
    ck_assert_ptr_null(deadline_heap_pop_due(&h, INT64_MAX));
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(deadline_heap_set(&h, &e[i], when[i]), 0);
        ck_assert(deadline_entry_queued(&e[i]));
    }
    ck_assert_int_eq(deadline_heap_next(&h), 10);
    ck_assert_ptr_null(deadline_heap_pop_due(&h, 9));
    ck_assert_ptr_eq(deadline_heap_pop_due(&h, 25), &e[1]);
    ck_assert_ptr_eq(deadline_heap_pop_due(&h, 25), &e[3]);
    ck_assert_ptr_null(deadline_heap_pop_due(&h, 25));
    ck_assert(!deadline_entry_queued(&e[1]));
    ck_assert_int_eq(h.count, 3);
    deadline_heap_free(&h);
    ck_assert(!deadline_entry_queued(&e[0]));
}
END_TEST

START_TEST(test_set_moves_a_queued_entry_both_ways)
{
    struct deadline_heap h;
    struct deadline_entry a = {0}, b = {0}, c = {0};
    deadline_heap_init(&h);
    deadline_heap_set(&h, &a, 100);
    deadline_heap_set(&h, &b, 200);
    deadline_heap_set(&h, &c, 300);
    /* A shorter retention brings c forward; a roll moves a back. */
    ck_assert_int_eq(deadline_heap_set(&h, &c, 50), 0);
    ck_assert_int_eq(deadline_heap_set(&h, &a, 250), 0);
    ck_assert_int_eq(h.count, 3);
    ck_assert_ptr_eq(deadline_heap_pop_due(&h, 1000), &c);
    ck_assert_ptr_eq(deadline_heap_pop_due(&h, 1000), &b);
    ck_assert_ptr_eq(deadline_heap_pop_due(&h, 1000), &a);
    ck_assert_ptr_null(deadline_heap_pop_due(&h, 1000));
    /* Removing what is not queued is harmless. */
    deadline_heap_remove(&h, &a);
    deadline_heap_free(&h);
}
END_TEST

/* Random sets, moves, removals and pops against a model: every pop returns
 * an entry with the smallest deadline among those queued, and exactly the
 * due ones come out. */
START_TEST(test_random_against_model)
{
    enum { N = 64 };
    static struct deadline_entry e[N];
    static int64_t model[N]; /* INT64_MIN: not queued */
    struct deadline_heap h;
    deadline_heap_init(&h);
    srand(5);
    for (int i = 0; i < N; i++) {
        e[i] = (struct deadline_entry){0};
        model[i] = INT64_MIN;
    }
    for (int step = 0; step < 4000; step++) {
        int i = rand() % N, op = rand() % 4;
        if (op <= 1) {
            int64_t d = rand() % 1000;
            ck_assert_int_eq(deadline_heap_set(&h, &e[i], d), 0);
            model[i] = d;
        } else if (op == 2) {
            deadline_heap_remove(&h, &e[i]);
            model[i] = INT64_MIN;
        } else {
            int64_t now = rand() % 1000, least = INT64_MAX;
            size_t queued = 0;
            for (int k = 0; k < N; k++) {
                if (model[k] != INT64_MIN) {
                    queued++;
                    least = model[k] < least ? model[k] : least;
                }
            }
            ck_assert_uint_eq(h.count, queued);
            ck_assert_int_eq(deadline_heap_next(&h), least);
            struct deadline_entry *got = deadline_heap_pop_due(&h, now);
            if (least > now) {
                ck_assert_ptr_null(got);
            } else {
                ck_assert_ptr_nonnull(got);
                ck_assert_int_eq(got->deadline, least);
                ck_assert_int_eq(model[got - e], least);
                ck_assert(!deadline_entry_queued(got));
                model[got - e] = INT64_MIN;
            }
        }
    }
    for (int k = 0; k < N; k++) {
        ck_assert(deadline_entry_queued(&e[k]) == (model[k] != INT64_MIN));
    }
    deadline_heap_free(&h);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("deadline_heap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pops_in_deadline_order_only_when_due);
    tcase_add_test(tc, test_set_moves_a_queued_entry_both_ways);
    tcase_add_test(tc, test_random_against_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
