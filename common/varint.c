#include "common/varint.h"

size_t varint_encode_u64(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

size_t varint_encode_u32(uint8_t *out, uint32_t v)
{
    return varint_encode_u64(out, v);
}

size_t varint_encode_s64(uint8_t *out, int64_t v)
{
    return varint_encode_u64(out, zigzag_encode64(v));
}

size_t varint_encode_s32(uint8_t *out, int32_t v)
{
    return varint_encode_u64(out, (uint32_t)zigzag_encode64(v));
}

size_t varint_size_u64(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t varint_size_s64(int64_t v)
{
    return varint_size_u64(zigzag_encode64(v));
}

/* Shared decoder: `max_len` bytes at most, value must fit in `bits`. */
static int varint_decode(const uint8_t *p, size_t avail, unsigned bits, uint64_t *out)
{
    size_t max_len = bits == 32 ? VARINT_MAX_LEN32 : VARINT_MAX_LEN64;
    uint64_t value = 0;
    for (size_t i = 0; i < max_len; i++) {
        if (i >= avail) {
            return VARINT_ETRUNCATED;
        }
        uint64_t chunk = p[i] & 0x7f;
        unsigned shift = (unsigned)(7 * i);
        if (shift + 7 > bits && (chunk >> (bits - shift)) != 0) {
            return VARINT_EOVERFLOW;
        }
        value |= chunk << shift;
        if ((p[i] & 0x80) == 0) {
            *out = value;
            return (int)i + 1;
        }
    }
    return VARINT_EOVERFLOW;
}

int varint_decode_u64(const uint8_t *p, size_t avail, uint64_t *out)
{
    return varint_decode(p, avail, 64, out);
}

int varint_decode_u32(const uint8_t *p, size_t avail, uint32_t *out)
{
    uint64_t v;
    int n = varint_decode(p, avail, 32, &v);
    if (n > 0) {
        *out = (uint32_t)v;
    }
    return n;
}

int varint_decode_s64(const uint8_t *p, size_t avail, int64_t *out)
{
    uint64_t v;
    int n = varint_decode(p, avail, 64, &v);
    if (n > 0) {
        *out = zigzag_decode64(v);
    }
    return n;
}

int varint_decode_s32(const uint8_t *p, size_t avail, int32_t *out)
{
    uint64_t v;
    int n = varint_decode(p, avail, 32, &v);
    if (n > 0) {
        *out = (int32_t)zigzag_decode64(v);
    }
    return n;
}
