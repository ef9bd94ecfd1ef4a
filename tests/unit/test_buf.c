#include <check.h>
#include <stdlib.h>

#include "common/bigendian.h"
#include "common/buf.h"
#include "tests/unit/check_main.h"

START_TEST(test_append_grows_and_keeps_bytes)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 10000; i++) {
        ck_assert_int_eq(buf_append_u8(&b, (uint8_t)i), 0);
    }
    ck_assert_uint_eq(b.len, 10000);
    ck_assert_uint_ge(b.cap, 10000);
    for (int i = 0; i < 10000; i++) {
        ck_assert_uint_eq(b.data[i], (uint8_t)i);
    }
    buf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_big_endian_appends)
{
    struct buf b = BUF_INIT;
    buf_append_be16(&b, 0x0102);
    buf_append_be32(&b, 0x03040506);
    buf_append_be64(&b, 0x0708090a0b0c0d0eULL);
    const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    ck_assert_uint_eq(b.len, sizeof want);
    ck_assert_mem_eq(b.data, want, sizeof want);
    ck_assert_uint_eq(be16_load(b.data), 0x0102);
    ck_assert_uint_eq(be32_load(b.data + 2), 0x03040506);
    ck_assert_uint_eq(be64_load(b.data + 6), 0x0708090a0b0c0d0eULL);
    buf_free(&b);
}
END_TEST

START_TEST(test_zeros_patch_and_steal)
{
    struct buf b = BUF_INIT;
    uint8_t *len_at;
    ck_assert_int_eq(buf_append_zeros(&b, 4, &len_at), 0);
    buf_append(&b, "abc", 3);
    be32_store(b.data, 3);
    size_t n;
    uint8_t *data = buf_steal(&b, &n);
    ck_assert_uint_eq(n, 7);
    ck_assert_uint_eq(be32_load(data), 3);
    ck_assert_mem_eq(data + 4, "abc", 3);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    free(data);
}
END_TEST

START_TEST(test_reserve_rejects_overflow)
{
    struct buf b = BUF_INIT;
    buf_append_u8(&b, 1);
    ck_assert_int_ne(buf_reserve(&b, SIZE_MAX), 0);
    ck_assert_uint_eq(b.len, 1);
    buf_free(&b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_append_grows_and_keeps_bytes);
    tcase_add_test(tc, test_big_endian_appends);
    tcase_add_test(tc, test_zeros_patch_and_steal);
    tcase_add_test(tc, test_reserve_rejects_overflow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
