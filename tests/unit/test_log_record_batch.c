/* record_batch: parsing and validation of Kafka v2 record batches. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

static const struct record_batch_limits client_limits = {
    .max_batch_bytes = 1 << 20, .from_client = true, .walk_records = true};

START_TEST(test_valid_batch_parses)
{
    struct buf b = BUF_INIT;
    struct record_batch_header h;
    char reason[128] = "";
    tb_batch(&b, 5, 100, 1000, 1);
    ck_assert_int_eq(
        record_batch_validate(b.data, b.len, &client_limits, &h, reason, sizeof reason), 0);
    ck_assert_int_eq(record_batch_size(&h), (int64_t)b.len);
    ck_assert_int_eq(h.magic, 2);
    ck_assert_int_eq(h.records_count, 5);
    ck_assert_int_eq(h.last_offset_delta, 4);
    ck_assert_int_eq(h.base_timestamp, 1000);
    ck_assert_int_eq(h.max_timestamp, 1004);
    ck_assert_int_eq(h.producer_id, -1);
    ck_assert_str_eq(reason, "");
    buf_free(&b);
}
END_TEST

START_TEST(test_every_short_buffer_is_corrupt)
{
    struct buf b = BUF_INIT;
    char reason[128];
    tb_batch(&b, 3, 20, 0, 2);
    for (size_t n = 0; n < b.len; n++) {
        reason[0] = '\0';
        ck_assert_int_eq(
            record_batch_validate(b.data, n, &client_limits, NULL, reason, sizeof reason),
            LOG_ERR_CORRUPT);
        ck_assert(reason[0] != '\0');
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_bad_crc_every_covered_byte)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, 2, 10, 0, 3);
    for (size_t i = RECORD_BATCH_CRC_START; i < b.len; i++) {
        b.data[i] ^= 0x10;
        ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                         LOG_ERR_CORRUPT);
        b.data[i] ^= 0x10;
    }
    /* baseOffset and leader epoch are outside the CRC: changing them is fine. */
    record_batch_set_base_offset(b.data, 12345);
    record_batch_set_leader_epoch(b.data, 7);
    struct record_batch_header h;
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, &h, NULL, 0), 0);
    ck_assert_int_eq(h.base_offset, 12345);
    ck_assert_int_eq(h.partition_leader_epoch, 7);
    buf_free(&b);
}
END_TEST

START_TEST(test_wrong_magic)
{
    struct buf b = BUF_INIT;
    char reason[128];
    tb_batch(&b, 1, 10, 0, 4);
    b.data[16] = 1;
    ck_assert_int_eq(
        record_batch_validate(b.data, b.len, &client_limits, NULL, reason, sizeof reason),
        LOG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(reason, "magic"));
    buf_free(&b);
}
END_TEST

START_TEST(test_count_mismatch_is_invalid_record)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, 3, 10, 0, 5);
    be32_store(b.data + 57, 4); /* recordsCount 4 vs lastOffsetDelta 2 */
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    /* Consistent header, but the batch really holds 3 records. */
    be32_store(b.data + 23, 3);
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    /* A follower does not apply producer rules nor walk records. */
    struct record_batch_limits follower = {0};
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &follower, NULL, NULL, 0), 0);
    be32_store(b.data + 57, 0);
    be32_store(b.data + 23, (uint32_t)-1);
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    buf_free(&b);
}
END_TEST

START_TEST(test_oversize_batch)
{
    struct buf b = BUF_INIT;
    struct record_batch_limits limits = client_limits;
    tb_batch(&b, 4, 100, 0, 6);
    limits.max_batch_bytes = (int64_t)b.len;
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &limits, NULL, NULL, 0), 0);
    limits.max_batch_bytes = (int64_t)b.len - 1;
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &limits, NULL, NULL, 0),
                     LOG_ERR_TOO_LARGE);
    buf_free(&b);
}
END_TEST

START_TEST(test_control_batch_from_client_rejected)
{
    struct buf b = BUF_INIT;
    tb_batch_ex(&b, 1, 4, 0, 7, RECORD_BATCH_ATTR_CONTROL, 0);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    struct record_batch_limits follower = {0};
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &follower, NULL, NULL, 0), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_malformed_record_rejected_compressed_not_walked)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, 2, 10, 0, 8);
    /* First record's length varint (zigzag) doubled: runs past the batch. */
    b.data[61] = (uint8_t)(b.data[61] + 40);
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    /* Marked compressed (gzip): records are opaque, header + CRC only. */
    be16_store(b.data + 21, 1);
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_batch_length_below_minimum)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, 1, 1, 0, 9);
    be32_store(b.data + 8, 10);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_CORRUPT);
    be32_store(b.data + 8, (uint32_t)-5);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_CORRUPT);
    buf_free(&b);
}
END_TEST

START_TEST(test_error_names)
{
    ck_assert_str_eq(log_err_name(LOG_ERR_CORRUPT), "CORRUPT");
}
END_TEST

START_TEST(test_random_mutations_never_crash)
{
    /* Mutate bytes (CRC fixed up, so the record walk sees the damage) and
     * truncate at random: validation must answer, never read out of bounds
     * (the ASan build checks the latter). */
    struct buf b = BUF_INIT;
    tb_batch(&b, 6, 30, 0, 11);
    uint8_t *copy = malloc(b.len);
    uint32_t x = 99;
    int accepted = 0;
    for (int round = 0; round < 5000; round++) {
        memcpy(copy, b.data, b.len);
        for (int k = 0; k < 1 + round % 4; k++) {
            x = x * 1103515245u + 12345u;
            size_t at = RECORD_BATCH_HEADER_SIZE + (x >> 8) % (b.len - RECORD_BATCH_HEADER_SIZE);
            copy[at] = (uint8_t)(x >> 20);
        }
        tb_fix_crc(copy);
        x = x * 1103515245u + 12345u;
        size_t len = round % 3 == 0 ? (x >> 8) % (b.len + 1) : b.len;
        int rv = record_batch_validate(copy, len, &client_limits, NULL, NULL, 0);
        ck_assert(rv == 0 || rv == LOG_ERR_CORRUPT || rv == LOG_ERR_INVALID_RECORD);
        accepted += rv == 0;
    }
    ck_assert_int_lt(accepted, 5000);
    free(copy);
    buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_record_batch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_valid_batch_parses);
    tcase_add_test(tc, test_every_short_buffer_is_corrupt);
    tcase_add_test(tc, test_bad_crc_every_covered_byte);
    tcase_add_test(tc, test_wrong_magic);
    tcase_add_test(tc, test_count_mismatch_is_invalid_record);
    tcase_add_test(tc, test_oversize_batch);
    tcase_add_test(tc, test_control_batch_from_client_rejected);
    tcase_add_test(tc, test_malformed_record_rejected_compressed_not_walked);
    tcase_add_test(tc, test_batch_length_below_minimum);
    tcase_add_test(tc, test_error_names);
    tcase_add_test(tc, test_random_mutations_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
