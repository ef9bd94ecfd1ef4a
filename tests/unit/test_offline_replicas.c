/* controller/offline_replicas: each broker's latest reported set, tied to its
 * broker epoch (a new registration forgets it), replaced whole each time. */
#include <check.h>
#include <string.h>

#include "controller/offline_replicas.h"
#include "tests/unit/check_main.h"

static struct offline_replica ref(uint8_t id_byte, int32_t partition)
{
    struct offline_replica r;
    memset(r.topic_id, id_byte, sizeof r.topic_id);
    r.partition = partition;
    return r;
}

START_TEST(test_set_replaces_and_epoch_scopes)
{
    struct offline_replicas o;
    offline_replicas_init(&o);
    uint8_t a[16], b[16];
    memset(a, 1, sizeof a);
    memset(b, 2, sizeof b);
    ck_assert(!offline_replicas_has(&o, 3, 7, a, 0));
    struct offline_replica two[] = {ref(1, 0), ref(2, 5)};
    ck_assert_int_eq(offline_replicas_set(&o, 3, 7, two, 2), 0);
    ck_assert_uint_eq(o.changes, 1);
    /* The same set again (every heartbeat repeats it) is no change. */
    ck_assert_int_eq(offline_replicas_set(&o, 3, 7, two, 2), 0);
    ck_assert_uint_eq(o.changes, 1);
    ck_assert(offline_replicas_has(&o, 3, 7, a, 0));
    ck_assert(offline_replicas_has(&o, 3, 7, b, 5));
    ck_assert(!offline_replicas_has(&o, 3, 7, a, 5)); /* topic and partition both match */
    ck_assert(!offline_replicas_has(&o, 2, 7, a, 0)); /* another broker */
    /* Another registration of the broker: its old set says nothing. */
    ck_assert(!offline_replicas_has(&o, 3, 8, a, 0));
    ck_assert_ptr_null(offline_replicas_of(&o, 3, 8));
    ck_assert_uint_eq(offline_replicas_of(&o, 3, 7)->n, 2);
    /* The next heartbeat's set replaces the previous one. */
    struct offline_replica one[] = {ref(2, 5)};
    ck_assert_int_eq(offline_replicas_set(&o, 3, 7, one, 1), 0);
    ck_assert(!offline_replicas_has(&o, 3, 7, a, 0));
    ck_assert(offline_replicas_has(&o, 3, 7, b, 5));
    ck_assert_int_eq(offline_replicas_set(&o, 3, 7, NULL, 0), 0);
    ck_assert_ptr_null(offline_replicas_of(&o, 3, 7));
    /* Many brokers. */
    for (int32_t id = 10; id < 40; id++) {
        ck_assert_int_eq(offline_replicas_set(&o, id, 1, one, 1), 0);
    }
    for (int32_t id = 10; id < 40; id++) {
        ck_assert(offline_replicas_has(&o, id, 1, b, 5));
    }
    offline_replicas_free(&o);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("offline_replicas");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_set_replaces_and_epoch_scopes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
