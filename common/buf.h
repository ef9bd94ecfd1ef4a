/* Growable byte buffer.
 *
 * A `struct buf` owns `data` (malloc'd); buf_free releases it. Appends grow
 * geometrically and return 0 or -ENOMEM, leaving the buffer unchanged on
 * failure. Integers are appended big-endian (wire order). */
#ifndef SLUICE_COMMON_BUF_H
#define SLUICE_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Forget the contents, keep the allocation. */
void buf_reset(struct buf *b);
/* Make room for `extra` more bytes beyond len. */
int buf_reserve(struct buf *b, size_t extra);
/* Grow a bare byte array (*data, *cap: realloc'd; its owner frees it with
 * free()) to hold at least `need` bytes, the way a `struct buf` grows: kept
 * when it does already, else its capacity doubles, from `first_cap` (> 0)
 * when it has none, until it does. Returns 0, or -ENOMEM (also for a `need`
 * above SIZE_MAX / 2) leaving both unchanged. */
int buf_grow_to(uint8_t **data, size_t *cap, size_t need, size_t first_cap);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_u8(struct buf *b, uint8_t v);
int buf_append_be16(struct buf *b, uint16_t v);
int buf_append_be32(struct buf *b, uint32_t v);
int buf_append_be64(struct buf *b, uint64_t v);
int buf_append_uvarint(struct buf *b, uint64_t v);
int buf_append_varint(struct buf *b, int64_t v); /* zigzag */
/* Append `len` zero bytes, returning a pointer to them in *at (valid until the
 * next append) so a length or CRC can be patched in later. */
int buf_append_zeros(struct buf *b, size_t len, uint8_t **at);
/* Hand the bytes to the caller (who frees them) and leave `b` empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

#endif
