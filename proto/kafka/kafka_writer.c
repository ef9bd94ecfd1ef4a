#include "proto/kafka/kafka_writer.h"

#include <stdlib.h>
#include <string.h>

#include "common/varint.h"

#define KAFKA_WRITER_STRING_MAX 32767

void kafka_writer_init(struct kafka_writer *w, struct buf *out)
{
    w->out = out;
    w->splice_hook = NULL;
    w->splice_hook_data = NULL;
    w->splices = NULL;
    w->splice_count = 0;
    w->splice_cap = 0;
    w->spliced_bytes = 0;
}

void kafka_writer_set_splice_hook(struct kafka_writer *w, kafka_writer_splice_hook hook, void *data)
{
    w->splice_hook = hook;
    w->splice_hook_data = data;
}

void kafka_writer_free(struct kafka_writer *w)
{
    free(w->splices);
    w->splices = NULL;
    w->splice_count = 0;
    w->splice_cap = 0;
    w->spliced_bytes = 0;
}

uint64_t kafka_writer_spliced_bytes(const struct kafka_writer *w)
{
    return w->spliced_bytes;
}

/* common/buf returns 0 or -ENOMEM. */
static int kafka_buf_status(int rv)
{
    return rv < 0 ? KAFKA_CODEC_ENOMEM : 0;
}

int kafka_write_int8(struct kafka_writer *w, int8_t v)
{
    return kafka_buf_status(buf_append_u8(w->out, (uint8_t)v));
}

int kafka_write_bool(struct kafka_writer *w, bool v)
{
    return kafka_buf_status(buf_append_u8(w->out, v ? 1 : 0));
}

int kafka_write_int16(struct kafka_writer *w, int16_t v)
{
    return kafka_buf_status(buf_append_be16(w->out, (uint16_t)v));
}

int kafka_write_uint16(struct kafka_writer *w, uint16_t v)
{
    return kafka_buf_status(buf_append_be16(w->out, v));
}

int kafka_write_int32(struct kafka_writer *w, int32_t v)
{
    return kafka_buf_status(buf_append_be32(w->out, (uint32_t)v));
}

int kafka_write_uint32(struct kafka_writer *w, uint32_t v)
{
    return kafka_buf_status(buf_append_be32(w->out, v));
}

int kafka_write_int64(struct kafka_writer *w, int64_t v)
{
    return kafka_buf_status(buf_append_be64(w->out, (uint64_t)v));
}

int kafka_write_float64(struct kafka_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return kafka_buf_status(buf_append_be64(w->out, bits));
}

int kafka_write_uuid(struct kafka_writer *w, struct kafka_uuid v)
{
    return kafka_buf_status(buf_append(w->out, v.bytes, sizeof(v.bytes)));
}

int kafka_write_uvarint(struct kafka_writer *w, uint32_t v)
{
    return kafka_buf_status(buf_append_uvarint(w->out, v));
}

int kafka_write_varint(struct kafka_writer *w, int32_t v)
{
    return kafka_buf_status(buf_append_varint(w->out, v));
}

int kafka_write_varlong(struct kafka_writer *w, int64_t v)
{
    return kafka_buf_status(buf_append_varint(w->out, v));
}

/* Length prefix for a value of `len` bytes (-1 null): compact N+1, int16 or int32. */
static int kafka_write_length(struct kafka_writer *w, bool flex, bool short_len, bool nullable,
                              int64_t len)
{
    if (len < -1 || (len == -1 && !nullable))
        return KAFKA_CODEC_EINVAL;
    if (flex)
        return kafka_write_uvarint(w, (uint32_t)(len + 1));
    if (short_len)
        return kafka_write_int16(w, (int16_t)len);
    return kafka_write_int32(w, (int32_t)len);
}

int kafka_write_string(struct kafka_writer *w, bool flex, bool nullable, const char *s)
{
    size_t len = s != NULL ? strlen(s) : 0;
    if (len > KAFKA_WRITER_STRING_MAX)
        return KAFKA_CODEC_EINVAL;
    int rv = kafka_write_length(w, flex, true, nullable, s != NULL ? (int64_t)len : -1);
    if (rv < 0 || s == NULL)
        return rv;
    return kafka_buf_status(buf_append(w->out, s, len));
}

int kafka_write_bytes(struct kafka_writer *w, bool flex, bool nullable, const struct kafka_bytes *b)
{
    if (b->len > 0 && b->data == NULL)
        return KAFKA_CODEC_EINVAL;
    int rv = kafka_write_length(w, flex, false, nullable, b->len);
    if (rv < 0 || b->len <= 0)
        return rv;
    return kafka_buf_status(buf_append(w->out, b->data, (size_t)b->len));
}

static int kafka_writer_add_splice(struct kafka_writer *w, int32_t len, const void *source)
{
    if (w->splice_hook != NULL) {
        int rv = w->splice_hook(w->splice_hook_data, len, source);
        if (rv == 0)
            w->spliced_bytes += (uint64_t)len;
        return rv;
    }
    if (w->splice_count == w->splice_cap) {
        size_t cap = w->splice_cap ? w->splice_cap * 2 : 8;
        struct kafka_writer_splice *s = realloc(w->splices, cap * sizeof(*s));
        if (s == NULL)
            return KAFKA_CODEC_ENOMEM;
        w->splices = s;
        w->splice_cap = cap;
    }
    w->splices[w->splice_count++] = (struct kafka_writer_splice){w->out->len, len, source};
    w->spliced_bytes += (uint64_t)len;
    return 0;
}

int kafka_write_records(struct kafka_writer *w, bool flex, bool nullable,
                        const struct kafka_records *rec)
{
    if (rec->splice_source == NULL) {
        struct kafka_bytes b = {rec->data, rec->len};
        return kafka_write_bytes(w, flex, nullable, &b);
    }
    if (rec->len < 0)
        return KAFKA_CODEC_EINVAL;
    int rv = kafka_write_length(w, flex, false, nullable, rec->len);
    if (rv < 0 || rec->len == 0)
        return rv;
    return kafka_writer_add_splice(w, rec->len, rec->splice_source);
}

int kafka_write_array_len(struct kafka_writer *w, bool flex, bool nullable, int32_t count)
{
    return kafka_write_length(w, flex, false, nullable, count);
}

int kafka_write_tag_begin(struct kafka_writer *w, uint32_t tag, size_t *mark)
{
    int rv = kafka_write_uvarint(w, tag);
    *mark = w->out->len;
    return rv;
}

int kafka_write_tag_end(struct kafka_writer *w, size_t mark)
{
    uint8_t size[VARINT_MAX_LEN64];
    if (mark > w->out->len)
        return KAFKA_CODEC_EINVAL;
    /* Splice offsets only grow, so checking the last one is enough. */
    if (w->splice_count > 0 && w->splices[w->splice_count - 1].offset >= mark)
        return KAFKA_CODEC_EINVAL;
    size_t value_len = w->out->len - mark;
    if (value_len > UINT32_MAX)
        return KAFKA_CODEC_EINVAL;
    size_t n = varint_encode_u32(size, (uint32_t)value_len);
    if (buf_reserve(w->out, n) < 0)
        return KAFKA_CODEC_ENOMEM;
    memmove(w->out->data + mark + n, w->out->data + mark, value_len);
    memcpy(w->out->data + mark, size, n);
    w->out->len += n;
    return 0;
}
