/* broker/txn: Kafka's TransactionLogKey/TransactionLogValue v0, byte for
 * byte (the layout Kafka's TransactionLog writes), and refusal of every
 * truncation. */
#include <check.h>
#include <string.h>

#include "broker/txn/txn_records.h"
#include "check_main.h"

static const uint8_t ongoing_value[] = {
    0, 0,                                      /* version 0 */
    0, 0, 0,    0,    0, 0, 0, 5,              /* producer id */
    0, 1,                                      /* epoch */
    0, 0, 0xea, 0x60,                          /* timeout 60000 */
    1,                                         /* Ongoing */
    0, 0, 0,    1,                             /* one topic */
    0, 1, 't',                                 /* "t" */
    0, 0, 0,    2,    0, 0, 0, 0,  0, 0, 0, 2, /* partitions 0 and 2 */
    0, 0, 0,    0,    0, 0, 0, 10,             /* last update */
    0, 0, 0,    0,    0, 0, 0, 9,              /* start */
};

START_TEST(test_value_layout_and_round_trip)
{
    const struct txn_topic_partition parts[] = {{"t", 0}, {"t", 2}};
    struct txn_log_value v = {5, 1, 60000, TXN_ONGOING, parts, 2, 10, 9};
    struct buf out;
    buf_init(&out);
    ck_assert_int_eq(txn_log_value_encode(&out, &v), 0);
    ck_assert_uint_eq(out.len, sizeof ongoing_value);
    ck_assert_mem_eq(out.data, ongoing_value, sizeof ongoing_value);
    struct kafka_arena arena;
    kafka_arena_init(&arena, 1 << 16);
    struct txn_log_value got;
    ck_assert_int_eq(txn_log_value_decode(out.data, out.len, &arena, &got), 0);
    ck_assert_int_eq(got.producer_id, 5);
    ck_assert_int_eq(got.producer_epoch, 1);
    ck_assert_int_eq(got.timeout_ms, 60000);
    ck_assert_int_eq(got.status, TXN_ONGOING);
    ck_assert_uint_eq(got.n_partitions, 2);
    ck_assert_str_eq(got.partitions[1].topic, "t");
    ck_assert_int_eq(got.partitions[1].partition, 2);
    ck_assert_int_eq(got.update_ms, 10);
    ck_assert_int_eq(got.start_ms, 9);
    for (size_t cut = 0; cut < out.len; cut++) {
        kafka_arena_reset(&arena);
        ck_assert_int_ne(txn_log_value_decode(out.data, cut, &arena, &got), 0);
    }
    kafka_arena_free(&arena);
    buf_free(&out);
}
END_TEST

START_TEST(test_empty_value_and_key)
{
    struct txn_log_value v = {7, 0, 1000, TXN_EMPTY, NULL, 0, 1, -1};
    struct buf out, key;
    buf_init(&out);
    buf_init(&key);
    ck_assert_int_eq(txn_log_value_encode(&out, &v), 0);
    ck_assert_int_eq(txn_log_key_encode(&key, "my-txn"), 0);
    static const uint8_t want_key[] = {0, 0, 0, 6, 'm', 'y', '-', 't', 'x', 'n'};
    ck_assert_mem_eq(key.data, want_key, sizeof want_key);
    struct kafka_arena arena;
    kafka_arena_init(&arena, 1 << 16);
    struct txn_log_value got;
    const char *id;
    ck_assert_int_eq(txn_log_value_decode(out.data, out.len, &arena, &got), 0);
    ck_assert_uint_eq(got.n_partitions, 0);
    ck_assert_int_eq(got.start_ms, -1);
    ck_assert_int_eq(txn_log_key_decode(key.data, key.len, &arena, &id), 0);
    ck_assert_str_eq(id, "my-txn");
    /* An unknown status or version is refused. */
    out.data[16] = 9;
    ck_assert_int_ne(txn_log_value_decode(out.data, out.len, &arena, &got), 0);
    key.data[1] = 1;
    ck_assert_int_ne(txn_log_key_decode(key.data, key.len, &arena, &id), 0);
    kafka_arena_free(&arena);
    buf_free(&out);
    buf_free(&key);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("txn_records");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_value_layout_and_round_trip);
    tcase_add_test(tc, test_empty_value_and_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
