#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "tests/unit/check_main.h"

/* Test vectors from RFC 3720 (iSCSI) appendix B.4 and the common check value. */
START_TEST(test_known_vectors)
{
    ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
    uint8_t block[32];
    memset(block, 0, sizeof block);
    ck_assert_uint_eq(crc32c(0, block, 32), 0x8a9136aau);
    memset(block, 0xff, sizeof block);
    ck_assert_uint_eq(crc32c(0, block, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++) {
        block[i] = (uint8_t)i;
    }
    ck_assert_uint_eq(crc32c(0, block, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++) {
        block[i] = (uint8_t)(31 - i);
    }
    ck_assert_uint_eq(crc32c(0, block, 32), 0x113fdb5cu);
    ck_assert_uint_eq(crc32c(0, "", 0), 0);
}
END_TEST

START_TEST(test_software_matches_hardware)
{
    if (!crc32c_have_hardware()) {
        return; /* nothing to compare on this CPU; vectors above cover software */
    }
    uint8_t data[4099];
    srand(42);
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)rand();
    }
    /* Every length and misalignment up to a few words. */
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len + off <= 200; len++) {
            ck_assert_uint_eq(crc32c_software(0, data + off, len),
                              crc32c_hardware(0, data + off, len));
        }
    }
    ck_assert_uint_eq(crc32c_software(0, data, sizeof data), crc32c_hardware(0, data, sizeof data));
}
END_TEST

START_TEST(test_software_matches_hardware_long)
{
    if (!crc32c_have_hardware()) {
        return;
    }
    /* Lengths around the hardware path's 3 x 256 and 3 x 8192 byte blocks. */
    static uint8_t data[3 * 3 * 8192 + 777];
    srand(7);
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)rand();
    }
    const size_t lens[] = {767,
                           768,
                           769,
                           1535,
                           1536,
                           3 * 8192 - 1,
                           3 * 8192,
                           3 * 8192 + 1,
                           3 * 8192 + 768,
                           2 * 3 * 8192 + 5,
                           sizeof data - 3};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (size_t off = 0; off < 3; off++) {
            ck_assert_uint_eq(crc32c_software(0x1234, data + off, lens[i]),
                              crc32c_hardware(0x1234, data + off, lens[i]));
        }
    }
}
END_TEST

START_TEST(test_software_matches_folded)
{
    if (!crc32c_have_folded()) {
        return; /* no VPCLMULQDQ here: crc32c() uses the paths tested above */
    }
    /* Every length from below the 256-byte block through several blocks plus
     * every 64- and 16-byte remainder, at every misalignment of a 64-byte
     * load, with a running CRC that is not zero; then long buffers. */
    static uint8_t data[64 + 2048 + 3 * 65536 + 333];
    srand(11);
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)rand();
    }
    for (size_t off = 0; off < 64; off += 7) {
        for (size_t len = 200; len <= 1100; len++) {
            ck_assert_uint_eq(crc32c_software(0xdeadbeef, data + off, len),
                              crc32c_folded(0xdeadbeef, data + off, len));
        }
    }
    const size_t lens[] = {2047, 2048, 16589 - 21, 65536, 3 * 65536 + 333};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        ck_assert_uint_eq(crc32c_software(0, data + 1, lens[i]),
                          crc32c_folded(0, data + 1, lens[i]));
    }
    ck_assert_uint_eq(crc32c_folded(0, "123456789", 9), 0xe3069283u);
}
END_TEST

START_TEST(test_incremental)
{
    const char *text = "The quick brown fox jumps over the lazy dog";
    size_t len = strlen(text);
    uint32_t whole = crc32c(0, text, len);
    for (size_t split = 0; split <= len; split++) {
        ck_assert_uint_eq(crc32c(crc32c(0, text, split), text + split, len - split), whole);
        ck_assert_uint_eq(
            crc32c_software(crc32c_software(0, text, split), text + split, len - split), whole);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_known_vectors);
    tcase_add_test(tc, test_software_matches_hardware);
    tcase_add_test(tc, test_software_matches_hardware_long);
    tcase_add_test(tc, test_software_matches_folded);
    tcase_add_test(tc, test_incremental);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
