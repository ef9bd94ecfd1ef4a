#include "common/crc32c.h"

#include <string.h>

/* Reflected Castagnoli polynomial. */
#define CRC32C_POLY 0x82f63b78u

/* Slicing-by-8 tables, computed at compile time would need a generator; they
 * are built once on first use instead (idempotent, so a benign race). */
static uint32_t crc32c_table[8][256];
static volatile int crc32c_table_ready;

static void crc32c_build_table(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) {
            crc = crc & 1 ? (crc >> 1) ^ CRC32C_POLY : crc >> 1;
        }
        crc32c_table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = crc32c_table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = crc32c_table[0][crc & 0xff] ^ (crc >> 8);
            crc32c_table[k][n] = crc;
        }
    }
    crc32c_table_ready = 1;
}

uint32_t crc32c_software(uint32_t crc, const void *data, size_t len)
{
    if (!crc32c_table_ready) {
        crc32c_build_table();
    }
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
              crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
              crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
              crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) uint32_t crc32c_hardware(uint32_t crc, const void *data,
                                                           size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) {
        c32 = _mm_crc32_u8(c32, *p++);
    }
    return ~c32;
}

int crc32c_have_hardware(void)
{
    return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t crc32c_hardware(uint32_t crc, const void *data, size_t len)
{
    return crc32c_software(crc, data, len);
}

int crc32c_have_hardware(void)
{
    return 0;
}
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
    if (crc32c_have_hardware()) {
        return crc32c_hardware(crc, data, len);
    }
    return crc32c_software(crc, data, len);
}
