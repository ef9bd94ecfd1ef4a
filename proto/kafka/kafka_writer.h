/* Appending Kafka wire values to a growable buffer (common/buf.h), and the
 * splice points that let a Fetch response carry record data that is never
 * copied into the buffer.
 *
 * Splicing: encoding a `struct kafka_records` whose splice_source is non-NULL
 * writes the length prefix only, and records {offset, len, source} where
 * `offset` is buf->len at that moment. The bytes to put on the wire are then
 *   buf[0, s0.offset) + s0's len bytes from s0.source + buf[s0.offset, s1.offset)
 *   + s1's bytes + ... + buf[last.offset, buf->len)
 * and the frame size is buf->len + kafka_writer_spliced_bytes(). The source is
 * opaque to the codec (the server passes its segment-file slice descriptor and
 * sends those bytes with sendfile). See proto/kafka/README.md.
 *
 * Alternatively a splice hook (kafka_writer_set_splice_hook) is called at that
 * moment instead of recording the point: with the writer appending to the
 * response's own buffer, "now" is the splice position, which is what
 * broker/kafka/response.h's kafka_response_add_splice expects.
 *
 * Ownership: the writer borrows `out` (caller owns and frees it) and owns its
 * splice list (kafka_writer_free). Sources are borrowed, never dereferenced.
 * Errors: KAFKA_CODEC_ENOMEM (buffer growth), KAFKA_CODEC_EINVAL (null where the
 * version does not allow one, a string longer than 32767, a negative length).
 * After an error the buffer holds a partial encoding; discard it. */
#ifndef SLUICE_PROTO_KAFKA_WRITER_H
#define SLUICE_PROTO_KAFKA_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/kafka/kafka_types.h"
#include "common/buf.h"

struct kafka_writer_splice {
    size_t offset;      /* position in the writer's buffer where the bytes go */
    int32_t len;        /* bytes to take from source */
    const void *source; /* kafka_records.splice_source, opaque */
};

/* Called when records with a splice source are encoded; the bytes belong at
 * out->len. Return 0 or a negative KAFKA_CODEC_E* status (encoding stops). */
typedef int (*kafka_writer_splice_hook)(void *data, int32_t len, const void *source);

struct kafka_writer {
    struct buf *out;
    kafka_writer_splice_hook splice_hook;
    void *splice_hook_data;
    struct kafka_writer_splice *splices;
    size_t splice_count;
    size_t splice_cap;
    uint64_t spliced_bytes;
};

/* Start appending to `out` (its current contents are kept). */
void kafka_writer_init(struct kafka_writer *w, struct buf *out);
/* Route splices to `hook` (with `data`) instead of the splice list. */
void kafka_writer_set_splice_hook(struct kafka_writer *w, kafka_writer_splice_hook hook,
                                  void *data);
/* Free the splice list; `out` is untouched. */
void kafka_writer_free(struct kafka_writer *w);
/* Sum of the splices' lengths: bytes on the wire beyond out->len. */
uint64_t kafka_writer_spliced_bytes(const struct kafka_writer *w);

int kafka_write_int8(struct kafka_writer *w, int8_t v);
int kafka_write_int16(struct kafka_writer *w, int16_t v);
int kafka_write_uint16(struct kafka_writer *w, uint16_t v);
int kafka_write_int32(struct kafka_writer *w, int32_t v);
int kafka_write_uint32(struct kafka_writer *w, uint32_t v);
int kafka_write_int64(struct kafka_writer *w, int64_t v);
int kafka_write_float64(struct kafka_writer *w, double v);
int kafka_write_bool(struct kafka_writer *w, bool v);
int kafka_write_uuid(struct kafka_writer *w, struct kafka_uuid v);
int kafka_write_uvarint(struct kafka_writer *w, uint32_t v);
int kafka_write_varint(struct kafka_writer *w, int32_t v);  /* zigzag */
int kafka_write_varlong(struct kafka_writer *w, int64_t v); /* zigzag */

/* NULL is null (only if nullable). Compact encodings when flex. */
int kafka_write_string(struct kafka_writer *w, bool flex, bool nullable, const char *s);
/* len -1 is null. */
int kafka_write_bytes(struct kafka_writer *w, bool flex, bool nullable,
                      const struct kafka_bytes *b);
/* As bytes, or a splice point when splice_source is set (see above). */
int kafka_write_records(struct kafka_writer *w, bool flex, bool nullable,
                        const struct kafka_records *rec);
/* count -1 is null. */
int kafka_write_array_len(struct kafka_writer *w, bool flex, bool nullable, int32_t count);

/* A tagged field: begin writes the tag and remembers where the value starts;
 * the caller appends the value; end inserts the value's size before it. No
 * splice may happen in between (records are never tagged). */
int kafka_write_tag_begin(struct kafka_writer *w, uint32_t tag, size_t *mark);
int kafka_write_tag_end(struct kafka_writer *w, size_t mark);

#endif
