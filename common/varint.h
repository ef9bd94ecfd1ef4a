/* Unsigned LEB128 varints and zigzag mapping, as used by Kafka record batches
 * (zigzag varint/varlong) and flexible protocol versions (unsigned varint).
 *
 * Decoders never read past `avail` bytes and reject encodings longer than the
 * type allows (5 bytes for 32-bit, 10 for 64-bit). */
#ifndef SLUICE_COMMON_VARINT_H
#define SLUICE_COMMON_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX_LEN32 5
#define VARINT_MAX_LEN64 10

/* Decode errors (returned negative). */
enum {
    VARINT_ETRUNCATED = -1, /* ran out of bytes */
    VARINT_EOVERFLOW = -2,  /* too many bytes, or value exceeds the type */
};

/* Write `v` to `out` (which must have VARINT_MAX_LEN64 bytes); return bytes written. */
size_t varint_encode_u64(uint8_t *out, uint64_t v);
size_t varint_encode_u32(uint8_t *out, uint32_t v);
/* Signed values are zigzag-mapped first (Kafka's varint/varlong). */
size_t varint_encode_s64(uint8_t *out, int64_t v);
size_t varint_encode_s32(uint8_t *out, int32_t v);

/* Bytes `v` would take encoded. */
size_t varint_size_u64(uint64_t v);
size_t varint_size_s64(int64_t v);

/* Decode from `p` holding `avail` bytes; return bytes consumed (> 0) or a
 * negative VARINT_E* code, in which case `*out` is untouched. */
int varint_decode_u64(const uint8_t *p, size_t avail, uint64_t *out);
int varint_decode_u32(const uint8_t *p, size_t avail, uint32_t *out);
int varint_decode_s64(const uint8_t *p, size_t avail, int64_t *out);
int varint_decode_s32(const uint8_t *p, size_t avail, int32_t *out);

static inline uint64_t zigzag_encode64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t zigzag_decode64(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
