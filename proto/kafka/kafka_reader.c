#include "proto/kafka/kafka_reader.h"

#include <string.h>

#include "common/bigendian.h"
#include "common/varint.h"

void kafka_reader_init(struct kafka_reader *r, const uint8_t *data, size_t len,
                       struct kafka_arena *arena)
{
    static const uint8_t empty[1];
    /* Never do arithmetic on a NULL pointer, even for an empty body. */
    r->data = data != NULL ? data : empty;
    r->len = data != NULL ? len : 0;
    r->pos = 0;
    r->arena = arena;
}

size_t kafka_reader_remaining(const struct kafka_reader *r)
{
    return r->len - r->pos;
}

/* Pointer to the next `n` bytes, consumed; NULL if fewer remain. */
static const uint8_t *kafka_reader_take(struct kafka_reader *r, size_t n)
{
    if (n > r->len - r->pos)
        return NULL;
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

int kafka_read_int8(struct kafka_reader *r, int8_t *out)
{
    const uint8_t *p = kafka_reader_take(r, 1);
    if (p == NULL)
        return KAFKA_CODEC_ETRUNCATED;
    *out = (int8_t)p[0];
    return 0;
}

int kafka_read_bool(struct kafka_reader *r, bool *out)
{
    const uint8_t *p = kafka_reader_take(r, 1);
    if (p == NULL)
        return KAFKA_CODEC_ETRUNCATED;
    *out = p[0] != 0;
    return 0;
}

int kafka_read_uint16(struct kafka_reader *r, uint16_t *out)
{
    const uint8_t *p = kafka_reader_take(r, 2);
    if (p == NULL)
        return KAFKA_CODEC_ETRUNCATED;
    *out = be16_load(p);
    return 0;
}

int kafka_read_int16(struct kafka_reader *r, int16_t *out)
{
    uint16_t v;
    int rv = kafka_read_uint16(r, &v);
    if (rv == 0)
        *out = (int16_t)v;
    return rv;
}

int kafka_read_uint32(struct kafka_reader *r, uint32_t *out)
{
    const uint8_t *p = kafka_reader_take(r, 4);
    if (p == NULL)
        return KAFKA_CODEC_ETRUNCATED;
    *out = be32_load(p);
    return 0;
}

int kafka_read_int32(struct kafka_reader *r, int32_t *out)
{
    uint32_t v;
    int rv = kafka_read_uint32(r, &v);
    if (rv == 0)
        *out = (int32_t)v;
    return rv;
}

int kafka_read_int64(struct kafka_reader *r, int64_t *out)
{
    const uint8_t *p = kafka_reader_take(r, 8);
    if (p == NULL)
        return KAFKA_CODEC_ETRUNCATED;
    *out = (int64_t)be64_load(p);
    return 0;
}

int kafka_read_float64(struct kafka_reader *r, double *out)
{
    const uint8_t *p = kafka_reader_take(r, 8);
    if (p == NULL)
        return KAFKA_CODEC_ETRUNCATED;
    uint64_t bits = be64_load(p);
    memcpy(out, &bits, sizeof(*out));
    return 0;
}

int kafka_read_uuid(struct kafka_reader *r, struct kafka_uuid *out)
{
    const uint8_t *p = kafka_reader_take(r, sizeof(out->bytes));
    if (p == NULL)
        return KAFKA_CODEC_ETRUNCATED;
    memcpy(out->bytes, p, sizeof(out->bytes));
    return 0;
}

static int kafka_varint_status(int rv)
{
    return rv == VARINT_ETRUNCATED ? KAFKA_CODEC_ETRUNCATED : KAFKA_CODEC_EMALFORMED;
}

int kafka_read_uvarint(struct kafka_reader *r, uint32_t *out)
{
    int n = varint_decode_u32(r->data + r->pos, r->len - r->pos, out);
    if (n < 0)
        return kafka_varint_status(n);
    r->pos += (size_t)n;
    return 0;
}

int kafka_read_varint(struct kafka_reader *r, int32_t *out)
{
    int n = varint_decode_s32(r->data + r->pos, r->len - r->pos, out);
    if (n < 0)
        return kafka_varint_status(n);
    r->pos += (size_t)n;
    return 0;
}

int kafka_read_varlong(struct kafka_reader *r, int64_t *out)
{
    int n = varint_decode_s64(r->data + r->pos, r->len - r->pos, out);
    if (n < 0)
        return kafka_varint_status(n);
    r->pos += (size_t)n;
    return 0;
}

/* A length prefix: int16 (short) or int32, or a compact unsigned varint N+1.
 * *len is -1 for null. Does not check the bytes that follow. */
static int kafka_read_length(struct kafka_reader *r, bool flex, bool short_len, int64_t *len)
{
    if (flex) {
        uint32_t n;
        int rv = kafka_read_uvarint(r, &n);
        if (rv < 0)
            return rv;
        *len = (int64_t)n - 1;
        return 0;
    }
    if (short_len) {
        int16_t n;
        int rv = kafka_read_int16(r, &n);
        *len = n;
        return rv;
    }
    int32_t n;
    int rv = kafka_read_int32(r, &n);
    *len = n;
    return rv;
}

/* Length of a string/bytes/array value: -1 (null, if allowed) or >= 0. The
 * cursor is restored on failure. */
static int kafka_read_checked_length(struct kafka_reader *r, bool flex, bool short_len,
                                     bool nullable, int64_t max, int64_t *len)
{
    size_t start = r->pos;
    int rv = kafka_read_length(r, flex, short_len, len);
    if (rv == 0 && (*len < -1 || (*len == -1 && !nullable) || *len > max))
        rv = KAFKA_CODEC_EMALFORMED;
    if (rv < 0)
        r->pos = start;
    return rv;
}

int kafka_read_string(struct kafka_reader *r, bool flex, bool nullable, const char **out)
{
    size_t start = r->pos;
    int64_t len;
    int rv = kafka_read_checked_length(r, flex, true, nullable, KAFKA_STRING_MAX_LEN, &len);
    if (rv < 0)
        return rv;
    if (len < 0) {
        *out = NULL;
        return 0;
    }
    const uint8_t *p = kafka_reader_take(r, (size_t)len);
    if (p == NULL) {
        rv = KAFKA_CODEC_ETRUNCATED;
    } else if (memchr(p, 0, (size_t)len) != NULL) {
        rv = KAFKA_CODEC_EMALFORMED;
    } else {
        *out = kafka_arena_strndup(r->arena, (const char *)p, (size_t)len);
        if (*out == NULL)
            rv = KAFKA_CODEC_ENOMEM;
    }
    if (rv < 0)
        r->pos = start;
    return rv;
}

int kafka_read_bytes(struct kafka_reader *r, bool flex, bool nullable, struct kafka_bytes *out)
{
    size_t start = r->pos;
    int64_t len;
    int rv = kafka_read_checked_length(r, flex, false, nullable, INT32_MAX, &len);
    if (rv < 0)
        return rv;
    if (len < 0) {
        out->data = NULL;
        out->len = -1;
        return 0;
    }
    const uint8_t *p = kafka_reader_take(r, (size_t)len);
    if (p == NULL) {
        r->pos = start;
        return KAFKA_CODEC_ETRUNCATED;
    }
    out->data = p;
    out->len = (int32_t)len;
    return 0;
}

int kafka_read_records(struct kafka_reader *r, bool flex, bool nullable, struct kafka_records *out)
{
    struct kafka_bytes b;
    int rv = kafka_read_bytes(r, flex, nullable, &b);
    if (rv < 0)
        return rv;
    out->data = b.data;
    out->len = b.len;
    out->splice_source = NULL;
    return 0;
}

int kafka_read_array_len(struct kafka_reader *r, bool flex, bool nullable, size_t min_elem_size,
                         int32_t *count)
{
    size_t start = r->pos;
    int64_t len;
    int rv = kafka_read_checked_length(r, flex, false, nullable, INT32_MAX, &len);
    if (rv < 0)
        return rv;
    size_t min = min_elem_size > 0 ? min_elem_size : 1;
    /* Division, not multiplication: no overflow whatever the claimed count. */
    if (len > 0 && (size_t)len > kafka_reader_remaining(r) / min) {
        r->pos = start;
        return KAFKA_CODEC_ETRUNCATED;
    }
    *count = (int32_t)len;
    return 0;
}

void *kafka_reader_alloc_array(struct kafka_reader *r, int32_t count, size_t elem_size)
{
    if (count <= 0 || r->arena == NULL)
        return NULL;
    return kafka_arena_alloc_array(r->arena, (size_t)count, elem_size);
}

int kafka_read_tag_count(struct kafka_reader *r, uint32_t *count)
{
    size_t start = r->pos;
    int rv = kafka_read_uvarint(r, count);
    if (rv < 0)
        return rv;
    /* Each tagged field is at least a tag byte and a size byte. */
    if (*count > kafka_reader_remaining(r) / 2) {
        r->pos = start;
        return KAFKA_CODEC_ETRUNCATED;
    }
    return 0;
}

int kafka_read_tag(struct kafka_reader *r, uint32_t *tag, struct kafka_reader *field)
{
    size_t start = r->pos;
    uint32_t size;
    int rv = kafka_read_uvarint(r, tag);
    if (rv == 0)
        rv = kafka_read_uvarint(r, &size);
    if (rv == 0 && size > kafka_reader_remaining(r))
        rv = KAFKA_CODEC_ETRUNCATED;
    if (rv < 0) {
        r->pos = start;
        return rv;
    }
    kafka_reader_init(field, r->data + r->pos, size, r->arena);
    r->pos += size;
    return 0;
}

int kafka_skip_tagged_fields(struct kafka_reader *r)
{
    size_t start = r->pos;
    uint32_t count;
    int rv = kafka_read_tag_count(r, &count);
    for (uint32_t i = 0; rv == 0 && i < count; i++) {
        uint32_t tag;
        struct kafka_reader field;
        rv = kafka_read_tag(r, &tag, &field);
    }
    if (rv < 0)
        r->pos = start;
    return rv;
}
