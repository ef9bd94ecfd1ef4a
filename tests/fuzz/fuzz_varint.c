/* Fuzz target: varints (common/varint.c), as record batches and flexible
 * Kafka versions carry them. Every decoder runs at every start position.
 * Invariants: a decode never claims more bytes than it was given, nor more
 * than the type's maximum length; whatever decodes re-encodes to the same
 * value in varint_size bytes, no longer than the input used (non-minimal
 * encodings such as 0x80 0x00 are accepted, so the input may be longer); and
 * the minimal encoding of a value is what a decoder of the same width reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_u64(const uint8_t *p, size_t avail)
{
    uint64_t v = 0xdeadbeef, again;
    uint8_t enc[VARINT_MAX_LEN64];
    int n = varint_decode_u64(p, avail, &v);
    if (n < 0) {
        if (v != 0xdeadbeef || (n != VARINT_ETRUNCATED && n != VARINT_EOVERFLOW))
            abort(); /* *out must be untouched on error */
        return;
    }
    if (n == 0 || (size_t)n > avail || n > VARINT_MAX_LEN64)
        abort();
    size_t len = varint_encode_u64(enc, v);
    if (len != varint_size_u64(v) || len > (size_t)n)
        abort();
    if (varint_decode_u64(enc, len, &again) != (int)len || again != v)
        abort();
    /* Truncating the minimal encoding must be reported, never over-read. */
    if (varint_decode_u64(enc, len - 1, &again) != VARINT_ETRUNCATED)
        abort();
}

static void check_u32(const uint8_t *p, size_t avail)
{
    uint32_t v, again;
    uint8_t enc[VARINT_MAX_LEN64];
    int n = varint_decode_u32(p, avail, &v);
    if (n < 0)
        return;
    if (n == 0 || (size_t)n > avail || n > VARINT_MAX_LEN32)
        abort();
    size_t len = varint_encode_u32(enc, v);
    if (len > (size_t)n || len > VARINT_MAX_LEN32)
        abort();
    if (varint_decode_u32(enc, len, &again) != (int)len || again != v)
        abort();
    /* A u32 that decodes is a u64 of the same value. */
    uint64_t wide;
    if (varint_decode_u64(p, avail, &wide) != n || wide != v)
        abort();
}

static void check_s64(const uint8_t *p, size_t avail)
{
    int64_t v, again;
    uint8_t enc[VARINT_MAX_LEN64];
    int n = varint_decode_s64(p, avail, &v);
    if (n < 0)
        return;
    size_t len = varint_encode_s64(enc, v);
    if (len != varint_size_s64(v) || len > (size_t)n)
        abort();
    if (varint_decode_s64(enc, len, &again) != (int)len || again != v)
        abort();
}

static void check_s32(const uint8_t *p, size_t avail)
{
    int32_t v, again;
    uint8_t enc[VARINT_MAX_LEN64];
    int n = varint_decode_s32(p, avail, &v);
    if (n < 0)
        return;
    size_t len = varint_encode_s32(enc, v);
    if (len > (size_t)n || len > VARINT_MAX_LEN32)
        abort();
    if (varint_decode_s32(enc, len, &again) != (int)len || again != v)
        abort();
    int64_t wide;
    if (varint_decode_s64(p, avail, &wide) != n || wide != v)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size && i < 64; i++) {
        check_u64(data + i, size - i);
        check_u32(data + i, size - i);
        check_s64(data + i, size - i);
        check_s32(data + i, size - i);
    }
    return 0;
}
