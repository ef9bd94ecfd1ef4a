/* broker/log/producer_state: Kafka's ProducerAppendInfo rules for
 * idempotent batches (duplicates, sequence gaps, epochs), the last-five
 * window, expiry and the snapshot encoding. */
#include "broker/log/producer_state.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct producer_state ps;

static void setup(void)
{
    producer_state_init(&ps);
}

static void teardown(void)
{
    producer_state_free(&ps);
}

static struct producer_batch batch(int64_t pid, int16_t epoch, int32_t seq, int32_t n,
                                   int64_t offset)
{
    return (struct producer_batch){pid,           epoch, seq,  seq + n - 1, offset, offset + n - 1,
                                   1000 + offset, false, false};
}

static enum producer_check check(struct producer_batch b, struct producer_batch_meta *dup)
{
    char why[160];
    struct producer_batch_meta scratch;
    return producer_state_check(&ps, &b, dup != NULL ? dup : &scratch, why, sizeof why);
}

START_TEST(test_unknown_producer_starts_at_any_sequence)
{
    ck_assert_int_eq(check(batch(7, 0, 0, 1, 0), NULL), PRODUCER_CHECK_OK);
    ck_assert_int_eq(check(batch(7, 0, 42, 1, 0), NULL), PRODUCER_CHECK_OK);
}
END_TEST

START_TEST(test_duplicate_gets_original_offsets)
{
    struct producer_batch b = batch(7, 0, 0, 3, 10);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    b = batch(7, 0, 3, 2, 13);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    struct producer_batch_meta dup;
    struct producer_batch retry = batch(7, 0, 0, 3, 99);
    ck_assert_int_eq(check(retry, &dup), PRODUCER_CHECK_DUPLICATE);
    ck_assert_int_eq(dup.first_offset, 10);
    ck_assert_int_eq(dup.last_offset, 12);
    ck_assert_int_eq(check(batch(7, 0, 5, 1, 99), NULL), PRODUCER_CHECK_OK);
    ck_assert_int_eq(check(batch(7, 0, 6, 1, 99), NULL), PRODUCER_CHECK_OUT_OF_ORDER);
    /* The same first sequence with another length is not a duplicate: a gap. */
    ck_assert_int_eq(check(batch(7, 0, 0, 2, 99), NULL), PRODUCER_CHECK_OUT_OF_ORDER);
}
END_TEST

START_TEST(test_only_last_five_batches_are_remembered)
{
    for (int i = 0; i < 6; i++) {
        struct producer_batch b = batch(1, 0, i, 1, i);
        ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    }
    ck_assert_int_eq(producer_state_find(&ps, 1)->n_batches, PRODUCER_STATE_BATCHES);
    ck_assert_int_eq(check(batch(1, 0, 1, 1, 0), NULL), PRODUCER_CHECK_DUPLICATE);
    ck_assert_int_eq(check(batch(1, 0, 0, 1, 0), NULL), PRODUCER_CHECK_OUT_OF_ORDER);
}
END_TEST

START_TEST(test_epochs)
{
    struct producer_batch b = batch(3, 2, 0, 4, 0);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    ck_assert_int_eq(check(batch(3, 1, 4, 1, 0), NULL), PRODUCER_CHECK_STALE_EPOCH);
    ck_assert_int_eq(check(batch(3, 3, 4, 1, 0), NULL), PRODUCER_CHECK_OUT_OF_ORDER);
    ck_assert_int_eq(check(batch(3, 3, 0, 1, 0), NULL), PRODUCER_CHECK_OK);
    /* A new epoch forgets the old batches. */
    b = batch(3, 3, 0, 1, 4);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    ck_assert_int_eq(producer_state_find(&ps, 3)->n_batches, 1);
}
END_TEST

START_TEST(test_sequence_wraps)
{
    struct producer_batch b = batch(9, 0, INT32_MAX, 1, 0);
    ck_assert_int_eq(producer_state_update(&ps, &b), 0);
    ck_assert_int_eq(check(batch(9, 0, 0, 1, 1), NULL), PRODUCER_CHECK_OK);
    struct record_batch_header h = {.base_offset = 5,
                                    .last_offset_delta = 2,
                                    .producer_id = 9,
                                    .producer_epoch = 0,
                                    .base_sequence = INT32_MAX - 1};
    struct producer_batch from;
    ck_assert(producer_batch_from_header(&h, &from));
    ck_assert_int_eq(from.last_seq, 0);
    ck_assert_int_eq(from.last_offset, 7);
    h.producer_id = -1;
    ck_assert(!producer_batch_from_header(&h, &from));
}
END_TEST

START_TEST(test_expiry)
{
    struct producer_batch old = batch(1, 0, 0, 1, 0), fresh = batch(2, 0, 0, 1, 5000);
    ck_assert_int_eq(producer_state_update(&ps, &old), 0);   /* timestamp 1000 */
    ck_assert_int_eq(producer_state_update(&ps, &fresh), 0); /* timestamp 6000 */
    ck_assert_uint_eq(producer_state_expire(&ps, 7000, 3000), 1);
    ck_assert_ptr_null(producer_state_find(&ps, 1));
    ck_assert_ptr_nonnull(producer_state_find(&ps, 2));
}
END_TEST

START_TEST(test_snapshot_round_trip_and_corruption)
{
    for (int64_t pid = 50; pid > 0; pid -= 7) {
        for (int i = 0; i < 3; i++) {
            struct producer_batch b = batch(pid, 1, i * 2, 2, pid * 10 + i * 2);
            ck_assert_int_eq(producer_state_update(&ps, &b), 0);
        }
    }
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(producer_state_encode(&ps, &buf, &len), 0);
    struct producer_state back;
    producer_state_init(&back);
    ck_assert_int_eq(producer_state_decode(&back, buf, len), 0);
    ck_assert_uint_eq(back.count, ps.count);
    ck_assert_int_eq(memcmp(back.entries, ps.entries, ps.count * sizeof *ps.entries), 0);
    for (size_t cut = 0; cut < len; cut += 13) {
        ck_assert_int_eq(producer_state_decode(&back, buf, cut), -EBADMSG);
    }
    buf[len - 3] ^= 0x40;
    ck_assert_int_eq(producer_state_decode(&back, buf, len), -EBADMSG);
    ck_assert_uint_eq(back.count, ps.count); /* unchanged by the refusals */
    producer_state_free(&back);
    free(buf);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("producer_state");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unknown_producer_starts_at_any_sequence);
    tcase_add_test(tc, test_duplicate_gets_original_offsets);
    tcase_add_test(tc, test_only_last_five_batches_are_remembered);
    tcase_add_test(tc, test_epochs);
    tcase_add_test(tc, test_sequence_wraps);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_snapshot_round_trip_and_corruption);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
