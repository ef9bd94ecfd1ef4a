/* Bounds-checked cursor over a Kafka message body.
 *
 * Every read checks the bytes present before touching them and, on failure,
 * returns a negative KAFKA_CODEC_E* status and leaves the cursor where it was.
 * Lengths read from the input are checked against the bytes remaining before
 * anything is allocated: a string or bytes value must be entirely present, an
 * array of N elements needs N * (minimum element size) bytes remaining.
 *
 * Ownership: the reader borrows `data` (it must outlive everything decoded
 * from it: bytes and records values point into it) and the arena (strings and
 * arrays are allocated there). Neither is freed by the reader. Single-threaded.
 *
 * `flex` selects the compact encodings of flexible versions (KIP-482: unsigned
 * varint N+1 lengths, 0 meaning null); `nullable` says whether null is legal
 * in the version being decoded (a null otherwise is KAFKA_CODEC_EMALFORMED). */
#ifndef SLUICE_PROTO_KAFKA_READER_H
#define SLUICE_PROTO_KAFKA_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/kafka/kafka_arena.h"
#include "proto/kafka/kafka_types.h"

/* Kafka strings are int16-length on the wire; compact ones are held to the same bound. */
#define KAFKA_STRING_MAX_LEN 32767

struct kafka_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
    struct kafka_arena *arena;
};

void kafka_reader_init(struct kafka_reader *r, const uint8_t *data, size_t len,
                       struct kafka_arena *arena);
size_t kafka_reader_remaining(const struct kafka_reader *r);

/* Fixed-size big-endian values. bool is any non-zero byte. */
int kafka_read_int8(struct kafka_reader *r, int8_t *out);
int kafka_read_int16(struct kafka_reader *r, int16_t *out);
int kafka_read_uint16(struct kafka_reader *r, uint16_t *out);
int kafka_read_int32(struct kafka_reader *r, int32_t *out);
int kafka_read_uint32(struct kafka_reader *r, uint32_t *out);
int kafka_read_int64(struct kafka_reader *r, int64_t *out);
int kafka_read_float64(struct kafka_reader *r, double *out);
int kafka_read_bool(struct kafka_reader *r, bool *out);
int kafka_read_uuid(struct kafka_reader *r, struct kafka_uuid *out);

/* Varints: unsigned LEB128 (flexible-version lengths and tags), and the
 * zigzag varint/varlong of record batches. At most 5 / 10 bytes. */
int kafka_read_uvarint(struct kafka_reader *r, uint32_t *out);
int kafka_read_varint(struct kafka_reader *r, int32_t *out);
int kafka_read_varlong(struct kafka_reader *r, int64_t *out);

/* String: int16 length (or compact), -1 null -> *out = NULL. The value is
 * copied into the arena and NUL-terminated; a NUL byte inside the string is
 * KAFKA_CODEC_EMALFORMED (it could not be represented). */
int kafka_read_string(struct kafka_reader *r, bool flex, bool nullable, const char **out);

/* Bytes: int32 length (or compact). Borrows the input: out->data points into
 * the reader's buffer. Null is {NULL, -1}. */
int kafka_read_bytes(struct kafka_reader *r, bool flex, bool nullable, struct kafka_bytes *out);

/* Records: like bytes (borrowed, never copied), splice_source NULL. */
int kafka_read_records(struct kafka_reader *r, bool flex, bool nullable, struct kafka_records *out);

/* Array length: int32 (or compact), -1 for null. Fails unless
 * count * max(min_elem_size, 1) bytes remain, so a claimed length can never
 * size an allocation beyond what the input could describe. */
int kafka_read_array_len(struct kafka_reader *r, bool flex, bool nullable, size_t min_elem_size,
                         int32_t *count);

/* Zeroed storage for `count` elements from the reader's arena; NULL if the
 * arena refuses (KAFKA_CODEC_ENOMEM for the caller). */
void *kafka_reader_alloc_array(struct kafka_reader *r, int32_t count, size_t elem_size);

/* Tagged fields (KIP-482): the count of a tagged-field section (each needs at
 * least 2 bytes, checked), then per field its tag and a sub-reader over
 * exactly its bytes; `r` moves past the field whether or not the caller
 * decodes it, which is how unknown tags are skipped. */
int kafka_read_tag_count(struct kafka_reader *r, uint32_t *count);
int kafka_read_tag(struct kafka_reader *r, uint32_t *tag, struct kafka_reader *field);

/* Read and discard a whole tagged-field section (request header v2). */
int kafka_skip_tagged_fields(struct kafka_reader *r);

#endif
