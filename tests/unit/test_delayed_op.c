#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "broker/replica/delayed_op.h"
#include "tests/unit/check_main.h"

struct waiter {
    struct delayed_op op;
    int needed; /* ready once *level >= needed */
    const int *level;
    int completions;
    bool expired;
    uint64_t completed_at;
    uv_loop_t *loop;
};

static bool ready(struct delayed_op *op)
{
    struct waiter *w = op->data;
    return *w->level >= w->needed;
}

static void complete(struct delayed_op *op, bool expired)
{
    struct waiter *w = op->data;
    w->completions++;
    w->expired = expired;
    w->completed_at = uv_now(w->loop);
    delayed_op_free(op);
}

static void waiter_start(struct waiter *w, struct delayed_queue *q, uv_loop_t *loop,
                         struct delayed_key **keys, size_t n, int needed, const int *level,
                         uint64_t timeout)
{
    w->needed = needed;
    w->level = level;
    w->loop = loop;
    ck_assert_int_eq(delayed_op_init(&w->op, n, ready, complete, w), 0);
    for (size_t i = 0; i < n; i++) {
        delayed_op_watch(&w->op, keys[i]);
    }
    delayed_queue_add(q, &w->op, timeout);
}

START_TEST(test_notify_completes_only_ready_ops)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct delayed_queue q;
    delayed_queue_init(&q, &loop);
    struct delayed_key a, b;
    delayed_key_init(&a);
    delayed_key_init(&b);
    int level = 0;
    struct waiter w1 = {0}, w2 = {0}, w3 = {0};
    struct delayed_key *ab[] = {&a, &b, &a}, *onlyb[] = {&b};
    waiter_start(&w1, &q, &loop, ab, 3, 1, &level, 10000);
    waiter_start(&w2, &q, &loop, ab, 2, 2, &level, 10000);
    waiter_start(&w3, &q, &loop, onlyb, 1, 1, &level, 10000);
    delayed_key_notify(&a); /* nothing changed yet */
    ck_assert_int_eq(w1.completions + w2.completions + w3.completions, 0);
    level = 1;
    delayed_key_notify(&a); /* w1 ready; w3 does not watch a */
    ck_assert_int_eq(w1.completions, 1);
    ck_assert(!w1.expired);
    ck_assert_int_eq(w2.completions, 0);
    ck_assert_int_eq(w3.completions, 0);
    ck_assert_uint_eq(q.count, 2);
    level = 2;
    delayed_key_notify(&b);
    ck_assert_int_eq(w1.completions, 1); /* unlinked, never again */
    ck_assert_int_eq(w2.completions, 1);
    ck_assert_int_eq(w3.completions, 1);
    ck_assert_ptr_null(a.head);
    ck_assert_ptr_null(b.head);
    ck_assert_uint_eq(q.count, 0);
    delayed_queue_close(&q, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_deadlines_expire_in_order)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct delayed_queue q;
    delayed_queue_init(&q, &loop);
    struct delayed_key a;
    delayed_key_init(&a);
    int level = 0;
    struct waiter w[3];
    memset(w, 0, sizeof w);
    struct delayed_key *keys[] = {&a};
    uint64_t start = uv_now(&loop);
    waiter_start(&w[0], &q, &loop, keys, 1, 1, &level, 120);
    waiter_start(&w[1], &q, &loop, keys, 1, 1, &level, 30);
    waiter_start(&w[2], &q, &loop, keys, 1, 1, &level, 60);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns when the queue's timer is idle */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(w[i].completions, 1);
        ck_assert(w[i].expired);
    }
    ck_assert_uint_ge(w[1].completed_at - start, 30);
    ck_assert_uint_ge(w[2].completed_at - start, 60);
    ck_assert_uint_ge(w[0].completed_at - start, 120);
    ck_assert_uint_le(w[1].completed_at, w[2].completed_at);
    ck_assert_uint_le(w[2].completed_at, w[0].completed_at);
    ck_assert_ptr_null(a.head);
    delayed_queue_close(&q, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_detach_and_close)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct delayed_queue q;
    delayed_queue_init(&q, &loop);
    struct delayed_key a;
    delayed_key_init(&a);
    int level = 5;
    struct waiter w = {0};
    struct delayed_key *keys[] = {&a};
    waiter_start(&w, &q, &loop, keys, 1, 1, &level, 100000);
    delayed_key_detach(&a); /* the partition went away */
    delayed_key_notify(&a);
    ck_assert_int_eq(w.completions, 0);
    delayed_queue_close(&q, NULL); /* shutdown answers it */
    ck_assert_int_eq(w.completions, 1);
    ck_assert(w.expired);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static size_t last_fired;

static bool record_fired(struct delayed_op *op)
{
    last_fired = op->fired;
    return false;
}

/* `fired` names the watch that notified; a cancelled op leaves every key and
 * the deadline list without completing. */
START_TEST(test_fired_and_cancel)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct delayed_queue q;
    delayed_queue_init(&q, &loop);
    struct delayed_key k[3];
    struct waiter w = {0};
    ck_assert_int_eq(delayed_op_init(&w.op, 3, record_fired, complete, &w), 0);
    for (int i = 0; i < 3; i++) {
        delayed_key_init(&k[i]);
        delayed_op_watch(&w.op, &k[i]);
    }
    delayed_queue_add(&q, &w.op, 10000);
    delayed_key_notify(&k[2]);
    ck_assert_uint_eq(last_fired, 2);
    delayed_key_notify(&k[0]);
    ck_assert_uint_eq(last_fired, 0);
    delayed_op_cancel(&w.op);
    ck_assert_uint_eq(q.count, 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(k[i].head);
    }
    delayed_op_cancel(&w.op); /* harmless twice */
    delayed_op_free(&w.op);
    ck_assert_int_eq(w.completions, 0);
    delayed_queue_close(&q, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(w.completions, 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A completion that cancels (and frees) another op parked on the same key,
 * as a response write failing closes its connection and cancels that
 * connection's other parked requests: the notification goes on past it. */
static struct waiter *victim;

static void complete_and_cancel_victim(struct delayed_op *op, bool expired)
{
    complete(op, expired);
    if (victim != NULL) {
        delayed_op_cancel(&victim->op);
        delayed_op_free(&victim->op);
        victim = NULL;
    }
}

START_TEST(test_completion_cancels_another_op_of_the_key)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct delayed_queue q;
    delayed_queue_init(&q, &loop);
    struct delayed_key k;
    delayed_key_init(&k);
    int level = 0;
    struct waiter first = {0}, cancelled = {0}, last = {0};
    struct delayed_key *keys[] = {&k};
    /* Added last, visited first: `first` completes and cancels `cancelled`,
     * which the notification would have visited next. */
    waiter_start(&last, &q, &loop, keys, 1, 1, &level, 10000);
    waiter_start(&cancelled, &q, &loop, keys, 1, 1, &level, 10000);
    first.needed = 1;
    first.level = &level;
    first.loop = &loop;
    ck_assert_int_eq(delayed_op_init(&first.op, 1, ready, complete_and_cancel_victim, &first), 0);
    delayed_op_watch(&first.op, &k);
    delayed_queue_add(&q, &first.op, 10000);
    victim = &cancelled;
    level = 1;
    delayed_key_notify(&k);
    ck_assert_int_eq(first.completions, 1);
    ck_assert_int_eq(cancelled.completions, 0);
    ck_assert_int_eq(last.completions, 1);
    ck_assert_ptr_null(k.head);
    ck_assert_ptr_null(k.cursors);
    delayed_queue_close(&q, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("delayed_op");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_notify_completes_only_ready_ops);
    tcase_add_test(tc, test_deadlines_expire_in_order);
    tcase_add_test(tc, test_detach_and_close);
    tcase_add_test(tc, test_fired_and_cancel);
    tcase_add_test(tc, test_completion_cancels_another_op_of_the_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
