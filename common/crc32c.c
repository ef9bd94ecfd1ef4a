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

/* The crc32 instruction has a latency of 3 cycles but a throughput of one
 * per cycle, so three independent streams over adjacent blocks run ~3x
 * faster than one; the streams' CRCs are then combined by "shifting" a CRC
 * over a block of zeros with precomputed tables (Mark Adler's crc32c.c,
 * https://stackoverflow.com/a/17646775). Record batch validation runs this
 * over every produced byte. */
#define CRC32C_LONG  8192
#define CRC32C_SHORT 256

static uint32_t crc32c_long[4][256];
static uint32_t crc32c_short[4][256];
static volatile int crc32c_shift_ready;

static uint32_t gf2_matrix_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    while (vec) {
        if (vec & 1) {
            sum ^= *mat;
        }
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_matrix_square(uint32_t *square, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++) {
        square[n] = gf2_matrix_times(mat, mat[n]);
    }
}

/* The operator that applies `len` zero bytes to a CRC (len a power of two). */
static void crc32c_zeros_op(uint32_t *even, size_t len)
{
    uint32_t odd[32], row = 1;
    odd[0] = CRC32C_POLY;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_matrix_square(even, odd); /* 2 zero bits */
    gf2_matrix_square(odd, even); /* 4 zero bits */
    do {
        gf2_matrix_square(even, odd);
        len >>= 1;
        if (len == 0) {
            return;
        }
        gf2_matrix_square(odd, even);
        len >>= 1;
    } while (len);
    memcpy(even, odd, sizeof odd);
}

static void crc32c_zeros(uint32_t zeros[][256], size_t len)
{
    uint32_t op[32];
    crc32c_zeros_op(op, len);
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = gf2_matrix_times(op, n);
        zeros[1][n] = gf2_matrix_times(op, n << 8);
        zeros[2][n] = gf2_matrix_times(op, n << 16);
        zeros[3][n] = gf2_matrix_times(op, n << 24);
    }
}

static uint32_t crc32c_shift(uint32_t zeros[][256], uint32_t crc)
{
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^
           zeros[3][crc >> 24];
}

/* Three interleaved streams over 3 * `block` bytes at p; returns the CRC. */
__attribute__((target("sse4.2"))) static uint64_t crc32c_3way(uint64_t crc0, const uint8_t *p,
                                                              size_t block, uint32_t zeros[][256])
{
    uint64_t crc1 = 0, crc2 = 0, w0, w1, w2;
    for (size_t i = 0; i < block; i += 8) {
        memcpy(&w0, p + i, 8);
        memcpy(&w1, p + block + i, 8);
        memcpy(&w2, p + 2 * block + i, 8);
        crc0 = _mm_crc32_u64(crc0, w0);
        crc1 = _mm_crc32_u64(crc1, w1);
        crc2 = _mm_crc32_u64(crc2, w2);
    }
    crc0 = crc32c_shift(zeros, (uint32_t)crc0) ^ crc1;
    return crc32c_shift(zeros, (uint32_t)crc0) ^ crc2;
}

__attribute__((target("sse4.2"))) uint32_t crc32c_hardware(uint32_t crc, const void *data,
                                                           size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    if (!crc32c_shift_ready) {
        crc32c_zeros(crc32c_long, CRC32C_LONG);
        crc32c_zeros(crc32c_short, CRC32C_SHORT);
        crc32c_shift_ready = 1;
    }
    for (; len >= 3 * CRC32C_LONG; p += 3 * CRC32C_LONG, len -= 3 * CRC32C_LONG) {
        c = crc32c_3way(c, p, CRC32C_LONG, crc32c_long);
    }
    for (; len >= 3 * CRC32C_SHORT; p += 3 * CRC32C_SHORT, len -= 3 * CRC32C_SHORT) {
        c = crc32c_3way(c, p, CRC32C_SHORT, crc32c_short);
    }
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

#include <immintrin.h>

/* With VPCLMULQDQ, one instruction multiplies four pairs of 64-bit
 * polynomials, so the message can be folded 256 bytes at a time (Intel,
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", 2009):
 * ~4x the crc32 instruction's bytes per cycle, and this runs over every
 * produced byte. The folded 16 bytes and the tail go through the crc32
 * instruction, which also does the final reduction.
 *
 * Reflected bit order: a 16-byte lane X = lo:hi is L(x)*x^64 + H(x), and a
 * carry-less product of two 64-bit values carries one extra factor x. So
 * moving a lane D bits further along the message is
 *   clmul(lo, x^(D+31) mod P) ^ clmul(hi, x^(D-33) mod P)
 * with each constant in the low half of its 64-bit operand. */
#define FOLD_BLOCK 256 /* four 64-byte accumulators */

struct fold_constants {
    __m512i by_block; /* D = 256 bytes: each accumulator to its next block */
    __m512i by_64;    /* D = 64 bytes: one accumulator into the next */
    __m512i lanes;    /* lanes 0..2 of the last accumulator into lane 3: 48, 32, 16 bytes */
    __m128i by_16;    /* one 16-byte lane to the next */
};

static struct fold_constants fold_k;
static volatile int fold_ready;

/* x^n mod P, bit-reflected (bit 31 is x^0). */
static uint64_t xpow_mod(size_t n)
{
    uint32_t r = 0x80000000u;
    while (n--) {
        r = (r >> 1) ^ (r & 1 ? CRC32C_POLY : 0);
    }
    return r;
}

static __m128i fold_pair(size_t bytes)
{
    return _mm_set_epi64x((long long)xpow_mod(8 * bytes - 33), (long long)xpow_mod(8 * bytes + 31));
}

__attribute__((target("avx512f"))) static void fold_init(void)
{
    __m128i block = fold_pair(FOLD_BLOCK), by64 = fold_pair(64);
    fold_k.by_block = _mm512_broadcast_i32x4(block);
    fold_k.by_64 = _mm512_broadcast_i32x4(by64);
    fold_k.lanes = _mm512_inserti32x4(_mm512_castsi128_si512(fold_pair(48)), fold_pair(32), 1);
    fold_k.lanes = _mm512_inserti32x4(fold_k.lanes, fold_pair(16), 2);
    fold_k.by_16 = fold_pair(16);
    fold_ready = 1;
}

/* a moved along by the distance k encodes, XORed with b. */
__attribute__((target("avx512f,vpclmulqdq"))) static inline __m512i fold512(__m512i a, __m512i k,
                                                                            __m512i b)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(a, k, 0x00),
                                     _mm512_clmulepi64_epi128(a, k, 0x11), b, 0x96);
}

__attribute__((target("pclmul"))) static inline __m128i fold128(__m128i a, __m128i k, __m128i b)
{
    return _mm_xor_si128(
        _mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)), b);
}

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) uint32_t
crc32c_folded(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len < FOLD_BLOCK) {
        return crc32c_hardware(crc, data, len);
    }
    if (!fold_ready) {
        fold_init();
    }
    /* The running CRC enters as the first 32 bits of the message. */
    __m512i a0 = _mm512_xor_si512(_mm512_loadu_si512(p),
                                  _mm512_castsi128_si512(_mm_cvtsi32_si128((int)~crc)));
    __m512i a1 = _mm512_loadu_si512(p + 64), a2 = _mm512_loadu_si512(p + 128);
    __m512i a3 = _mm512_loadu_si512(p + 192);
    for (p += FOLD_BLOCK, len -= FOLD_BLOCK; len >= FOLD_BLOCK;
         p += FOLD_BLOCK, len -= FOLD_BLOCK) {
        a0 = fold512(a0, fold_k.by_block, _mm512_loadu_si512(p));
        a1 = fold512(a1, fold_k.by_block, _mm512_loadu_si512(p + 64));
        a2 = fold512(a2, fold_k.by_block, _mm512_loadu_si512(p + 128));
        a3 = fold512(a3, fold_k.by_block, _mm512_loadu_si512(p + 192));
    }
    a1 = fold512(a0, fold_k.by_64, a1);
    a2 = fold512(a1, fold_k.by_64, a2);
    a3 = fold512(a2, fold_k.by_64, a3);
    for (; len >= 64; p += 64, len -= 64) {
        a3 = fold512(a3, fold_k.by_64, _mm512_loadu_si512(p));
    }
    __m512i t = fold512(a3, fold_k.lanes, _mm512_setzero_si512());
    __m128i x = _mm_xor_si128(
        _mm_xor_si128(_mm512_castsi512_si128(t), _mm512_extracti32x4_epi32(t, 1)),
        _mm_xor_si128(_mm512_extracti32x4_epi32(t, 2), _mm512_extracti32x4_epi32(a3, 3)));
    for (; len >= 16; p += 16, len -= 16) {
        x = fold128(x, fold_k.by_16, _mm_loadu_si128((const __m128i *)(const void *)p));
    }
    /* crc32 of the lane from 0 is X * x^32 mod P: the CRC so far. */
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(x));
    c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(x, 1));
    return crc32c_hardware(~(uint32_t)c, p, len);
}

int crc32c_have_folded(void)
{
    return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq");
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

uint32_t crc32c_folded(uint32_t crc, const void *data, size_t len)
{
    return crc32c_software(crc, data, len);
}

int crc32c_have_folded(void)
{
    return 0;
}
#endif

typedef uint32_t (*crc32c_fn)(uint32_t crc, const void *data, size_t len);

/* The implementation this CPU runs, chosen on first use (the same choice
 * every time, so a race is benign, like the tables'): asking the CPU on
 * every call showed in profiles of the append path. */
static volatile crc32c_fn crc32c_impl;

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
    crc32c_fn impl = crc32c_impl;
    if (impl == NULL) {
        impl = crc32c_have_folded()     ? crc32c_folded
               : crc32c_have_hardware() ? crc32c_hardware
                                        : crc32c_software;
        crc32c_impl = impl;
    }
    return impl(crc, data, len);
}
