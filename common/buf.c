#include "common/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigendian.h"
#include "common/varint.h"

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}

int buf_grow_to(uint8_t **data, size_t *cap, size_t need, size_t first_cap)
{
    if (need <= *cap) {
        return 0;
    }
    if (need > SIZE_MAX / 2) {
        return -ENOMEM;
    }
    size_t ncap = *cap ? *cap : first_cap;
    while (ncap < need) {
        ncap *= 2;
    }
    uint8_t *grown = realloc(*data, ncap);
    if (grown == NULL) {
        return -ENOMEM;
    }
    *data = grown;
    *cap = ncap;
    return 0;
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (extra <= b->cap - b->len) {
        return 0;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        return -ENOMEM;
    }
    return buf_grow_to(&b->data, &b->cap, b->len + extra, 64);
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    int rv = buf_reserve(b, len);
    if (rv != 0) {
        return rv;
    }
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    return 0;
}

int buf_append_u8(struct buf *b, uint8_t v)
{
    return buf_append(b, &v, 1);
}

int buf_append_be16(struct buf *b, uint16_t v)
{
    uint8_t tmp[2];
    be16_store(tmp, v);
    return buf_append(b, tmp, sizeof tmp);
}

int buf_append_be32(struct buf *b, uint32_t v)
{
    uint8_t tmp[4];
    be32_store(tmp, v);
    return buf_append(b, tmp, sizeof tmp);
}

int buf_append_be64(struct buf *b, uint64_t v)
{
    uint8_t tmp[8];
    be64_store(tmp, v);
    return buf_append(b, tmp, sizeof tmp);
}

int buf_append_uvarint(struct buf *b, uint64_t v)
{
    uint8_t tmp[VARINT_MAX_LEN64];
    return buf_append(b, tmp, varint_encode_u64(tmp, v));
}

int buf_append_varint(struct buf *b, int64_t v)
{
    uint8_t tmp[VARINT_MAX_LEN64];
    return buf_append(b, tmp, varint_encode_s64(tmp, v));
}

int buf_append_zeros(struct buf *b, size_t len, uint8_t **at)
{
    int rv = buf_reserve(b, len);
    if (rv != 0) {
        return rv;
    }
    memset(b->data + b->len, 0, len);
    if (at != NULL) {
        *at = b->data + b->len;
    }
    b->len += len;
    return 0;
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
    uint8_t *data = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    buf_init(b);
    return data;
}
