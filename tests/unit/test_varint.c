#include <check.h>
#include <stdint.h>

#include "common/varint.h"
#include "tests/unit/check_main.h"

START_TEST(test_unsigned_round_trip)
{
    const uint64_t values[] = {
        0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t out[VARINT_MAX_LEN64];
        size_t n = varint_encode_u64(out, values[i]);
        ck_assert_uint_eq(n, varint_size_u64(values[i]));
        uint64_t back = 0;
        ck_assert_int_eq(varint_decode_u64(out, n, &back), (int)n);
        ck_assert_uint_eq(back, values[i]);
        /* Every prefix is reported truncated, never misread. */
        for (size_t k = 0; k < n; k++) {
            ck_assert_int_eq(varint_decode_u64(out, k, &back), VARINT_ETRUNCATED);
        }
    }
}
END_TEST

START_TEST(test_known_encodings)
{
    uint8_t out[VARINT_MAX_LEN64];
    ck_assert_uint_eq(varint_encode_u64(out, 300), 2);
    ck_assert_uint_eq(out[0], 0xac);
    ck_assert_uint_eq(out[1], 0x02);
    /* Zigzag per the protobuf/Kafka spec: 0→0, -1→1, 1→2, -2→3. */
    ck_assert_uint_eq(varint_encode_s64(out, -1), 1);
    ck_assert_uint_eq(out[0], 1);
    varint_encode_s64(out, 1);
    ck_assert_uint_eq(out[0], 2);
    varint_encode_s64(out, -2);
    ck_assert_uint_eq(out[0], 3);
    ck_assert_uint_eq(varint_size_s64(INT64_MIN), 10);
}
END_TEST

START_TEST(test_signed_round_trip)
{
    const int64_t values[] = {0, -1, 1, -64, 64, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t out[VARINT_MAX_LEN64];
        size_t n = varint_encode_s64(out, values[i]);
        int64_t back;
        ck_assert_int_eq(varint_decode_s64(out, n, &back), (int)n);
        ck_assert_int_eq(back, values[i]);
    }
    uint8_t out[VARINT_MAX_LEN64];
    size_t n = varint_encode_s32(out, INT32_MIN);
    int32_t back32;
    ck_assert_int_eq(varint_decode_s32(out, n, &back32), (int)n);
    ck_assert_int_eq(back32, INT32_MIN);
}
END_TEST

START_TEST(test_overlong_rejected)
{
    /* Eleven continuation bytes can never be a 64-bit varint. */
    const uint8_t too_long[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0};
    uint64_t v64;
    ck_assert_int_eq(varint_decode_u64(too_long, sizeof too_long, &v64), VARINT_EOVERFLOW);
    /* 2^32 does not fit a 32-bit varint. */
    const uint8_t big[5] = {0x80, 0x80, 0x80, 0x80, 0x10};
    uint32_t v32 = 7;
    ck_assert_int_eq(varint_decode_u32(big, sizeof big, &v32), VARINT_EOVERFLOW);
    ck_assert_uint_eq(v32, 7);
    /* 10th byte may carry only the top bit of a 64-bit value. */
    const uint8_t ten[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    ck_assert_int_eq(varint_decode_u64(ten, sizeof ten, &v64), VARINT_EOVERFLOW);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("varint");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_unsigned_round_trip);
    tcase_add_test(tc, test_known_encodings);
    tcase_add_test(tc, test_signed_round_trip);
    tcase_add_test(tc, test_overlong_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
