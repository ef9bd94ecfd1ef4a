/* common/iteration_budget: room and charges, waiters resumed in the order
 * they queued and round robin when each spends the budget, each at most
 * once per refill, cancellation, and on a real loop: a queued waiter keeps
 * the loop from blocking and is resumed in the next iteration, and closing
 * leaves nothing open. No durations: costs are charged by hand. */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "common/iteration_budget.h"
#include "tests/unit/check_main.h"

#define LIMIT 1000u

struct user {
    struct iteration_budget_waiter w; /* first: the callback's pointer is the user's */
    struct iteration_budget *b;
    char name;
    uint64_t cost;   /* charged when resumed */
    bool wait_again; /* queue again when resumed */
    int resumed;
};

static char order[32];
static size_t n_order;

static void on_resume(struct iteration_budget_waiter *w)
{
    struct user *u = (struct user *)w;
    u->resumed++;
    order[n_order++] = u->name;
    iteration_budget_charge(u->b, u->cost);
    if (u->wait_again) {
        iteration_budget_wait(u->b, &u->w);
    }
}

static void user_init(struct user *u, struct iteration_budget *b, char name, uint64_t cost)
{
    *u = (struct user){.w = {.resume = on_resume}, .b = b, .name = name, .cost = cost};
}

/* A budget off any loop: only the pure parts run. */
static void budget_off_loop(struct iteration_budget *b)
{
    *b = (struct iteration_budget){.limit_ns = LIMIT};
    n_order = 0;
}

START_TEST(test_room_until_the_limit_is_spent)
{
    struct iteration_budget b;
    budget_off_loop(&b);
    ck_assert(iteration_budget_has_room(NULL));
    ck_assert(iteration_budget_has_room(&b));
    iteration_budget_charge(&b, LIMIT - 1);
    ck_assert(iteration_budget_has_room(&b)); /* one more request may start, however long */
    iteration_budget_charge(&b, 1);
    ck_assert(!iteration_budget_has_room(&b));
    iteration_budget_refill(&b);
    ck_assert(iteration_budget_has_room(&b));
    ck_assert_uint_eq(b.spent_ns, 0);
}
END_TEST

/* A handler working in slices counts the time it has run, not yet charged. */
START_TEST(test_room_with_a_running_handler_counts_its_time)
{
    struct iteration_budget b;
    budget_off_loop(&b);
    ck_assert(iteration_budget_has_room_with(NULL, UINT64_MAX / 2));
    ck_assert(iteration_budget_has_room_with(&b, LIMIT - 1));
    ck_assert(!iteration_budget_has_room_with(&b, LIMIT));
    iteration_budget_charge(&b, LIMIT / 2);
    ck_assert(iteration_budget_has_room_with(&b, LIMIT / 2 - 1));
    ck_assert(!iteration_budget_has_room_with(&b, LIMIT / 2));
}
END_TEST

START_TEST(test_waiters_resume_in_order_while_there_is_room)
{
    struct iteration_budget b;
    budget_off_loop(&b);
    struct user a, c, d;
    user_init(&a, &b, 'a', 10);
    user_init(&c, &b, 'c', 10);
    user_init(&d, &b, 'd', 10);
    iteration_budget_charge(&b, LIMIT);
    iteration_budget_wait(&b, &a.w);
    iteration_budget_wait(&b, &c.w);
    iteration_budget_wait(&b, &a.w); /* already queued: keeps its place */
    iteration_budget_wait(&b, &d.w);
    ck_assert_uint_eq(b.n_waiting, 3);
    ck_assert_uint_eq(b.waits, 3);
    iteration_budget_refill(&b);
    ck_assert_uint_eq(n_order, 3);
    ck_assert(order[0] == 'a' && order[1] == 'c' && order[2] == 'd');
    ck_assert_ptr_null(b.head);
    ck_assert_ptr_null(b.tail);
    ck_assert_uint_eq(b.n_waiting, 0);
    ck_assert_uint_eq(b.spent_ns, 30);
}
END_TEST

/* Each user spends a whole iteration and has more to do: one per refill,
 * round robin, none starved. */
START_TEST(test_users_that_spend_the_budget_take_turns)
{
    struct iteration_budget b;
    budget_off_loop(&b);
    struct user u[3];
    for (int i = 0; i < 3; i++) {
        user_init(&u[i], &b, (char)('x' + i), LIMIT);
        u[i].wait_again = true;
        iteration_budget_wait(&b, &u[i].w);
    }
    for (int i = 0; i < 6; i++) {
        iteration_budget_refill(&b);
    }
    ck_assert_uint_eq(n_order, 6);
    ck_assert(memcmp(order, "xyzxyz", 6) == 0);
    ck_assert_uint_eq(b.n_waiting, 3);
    /* A newcomer queues behind them. */
    struct user late;
    user_init(&late, &b, 'L', LIMIT);
    iteration_budget_wait(&b, &late.w);
    for (int i = 0; i < 4; i++) {
        iteration_budget_refill(&b);
    }
    ck_assert(memcmp(order + 6, "xyzL", 4) == 0);
    for (int i = 0; i < 3; i++) {
        iteration_budget_cancel(&b, &u[i].w);
    }
    ck_assert_ptr_null(b.head);
}
END_TEST

/* A cheap user that queues again is resumed once per refill, not in a
 * loop within one. */
START_TEST(test_a_waiter_queued_during_refill_waits_for_the_next)
{
    struct iteration_budget b;
    budget_off_loop(&b);
    struct user a;
    user_init(&a, &b, 'a', 0);
    a.wait_again = true;
    iteration_budget_wait(&b, &a.w);
    iteration_budget_refill(&b);
    ck_assert_int_eq(a.resumed, 1);
    ck_assert(a.w.queued);
    iteration_budget_refill(&b);
    ck_assert_int_eq(a.resumed, 2);
    iteration_budget_cancel(&b, &a.w);
    iteration_budget_cancel(&b, &a.w); /* idempotent */
    ck_assert(!a.w.queued);
    ck_assert_uint_eq(b.n_waiting, 0);
}
END_TEST

START_TEST(test_cancel_from_the_middle_keeps_the_rest_in_order)
{
    struct iteration_budget b;
    budget_off_loop(&b);
    struct user u[3];
    for (int i = 0; i < 3; i++) {
        user_init(&u[i], &b, (char)('p' + i), 0);
        iteration_budget_wait(&b, &u[i].w);
    }
    iteration_budget_cancel(&b, &u[1].w);
    iteration_budget_refill(&b);
    ck_assert_uint_eq(n_order, 2);
    ck_assert(order[0] == 'p' && order[1] == 'r');
    ck_assert_int_eq(u[1].resumed, 0);
}
END_TEST

static void on_timer(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* On a loop: the waiter is resumed by the next iteration's prepare, and
 * the queued waiter's idle handle keeps that iteration from blocking in
 * poll (a far timer keeps the loop alive and must not have fired). */
START_TEST(test_on_a_loop_a_waiter_resumes_next_iteration_without_blocking)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct iteration_budget b;
    ck_assert_int_eq(iteration_budget_init(&b, &loop, 0), 0);
    ck_assert_uint_eq(b.limit_ns, ITERATION_BUDGET_DEFAULT_NS);
    n_order = 0;
    bool fired = false;
    uv_timer_t far;
    uv_timer_init(&loop, &far);
    far.data = &fired;
    uv_timer_start(&far, on_timer, 3600 * 1000, 0);
    struct user a;
    user_init(&a, &b, 'a', 5);
    iteration_budget_charge(&b, b.limit_ns);
    iteration_budget_wait(&b, &a.w);
    uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(a.resumed, 1);
    ck_assert(!fired);
    ck_assert(!uv_is_active((uv_handle_t *)&b.idle)); /* nobody waits: poll may block again */
    /* Closing forgets a waiter; the handles close with the loop's next run. */
    iteration_budget_wait(&b, &a.w);
    iteration_budget_close(&b);
    ck_assert(!a.w.queued);
    uv_close((uv_handle_t *)&far, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(b.handles_open, 0);
    ck_assert_int_eq(a.resumed, 1);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("iteration_budget");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_room_until_the_limit_is_spent);
    tcase_add_test(tc, test_room_with_a_running_handler_counts_its_time);
    tcase_add_test(tc, test_waiters_resume_in_order_while_there_is_room);
    tcase_add_test(tc, test_users_that_spend_the_budget_take_turns);
    tcase_add_test(tc, test_a_waiter_queued_during_refill_waits_for_the_next);
    tcase_add_test(tc, test_cancel_from_the_middle_keeps_the_rest_in_order);
    tcase_add_test(tc, test_on_a_loop_a_waiter_resumes_next_iteration_without_blocking);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
