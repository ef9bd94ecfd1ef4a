/* Fuzz target: a Kafka request as the broker receives it (frame size already
 * stripped): header, then the body of whatever (api_key, version) it names.
 * Whatever decodes must re-encode, and the re-encoding must decode to the same
 * bytes again (encode is a fixed point after one decode).
 * (See README.md for how targets are built and run.) */
#include <stdlib.h>
#include <string.h>

#include "proto/kafka/kafka_header.h"
#include "kafka_messages_test.h"

#define FUZZ_ARENA_LIMIT (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct kafka_test_message *fuzz_find(int16_t api_key)
{
    for (size_t i = 0; i < kafka_test_messages_count; i++) {
        if (kafka_test_messages[i].api_key == api_key && kafka_test_messages[i].is_request)
            return &kafka_test_messages[i];
    }
    return NULL;
}

/* Decode `len` bytes as `msg` at `version`; on success encode into `out`. */
static int fuzz_decode_encode(const struct kafka_test_message *msg, int16_t version,
                              const uint8_t *data, size_t len, struct buf *out)
{
    struct kafka_arena arena;
    kafka_arena_init(&arena, FUZZ_ARENA_LIMIT);
    struct kafka_reader r;
    kafka_reader_init(&r, data, len, &arena);
    void *m = malloc(msg->size);
    if (m == NULL)
        abort();
    int rv = msg->decode(&r, version, m);
    if (rv == 0) {
        struct kafka_writer w;
        kafka_writer_init(&w, out);
        if (msg->encode(&w, version, m) != 0)
            abort(); /* anything decoded must be encodable */
        kafka_writer_free(&w);
    }
    free(m);
    kafka_arena_free(&arena);
    return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kafka_arena arena;
    kafka_arena_init(&arena, FUZZ_ARENA_LIMIT);
    struct kafka_reader r;
    kafka_reader_init(&r, data, size, &arena);
    struct kafka_request_header h;
    int rv = kafka_request_header_decode(&r, &h);
    const struct kafka_test_message *msg = rv == 0 ? fuzz_find(h.api_key) : NULL;
    if (msg != NULL) {
        struct buf once = BUF_INIT, twice = BUF_INIT;
        const uint8_t *body = data + r.pos;
        size_t body_len = kafka_reader_remaining(&r);
        if (fuzz_decode_encode(msg, h.api_version, body, body_len, &once) == 0) {
            if (fuzz_decode_encode(msg, h.api_version, once.data, once.len, &twice) != 0)
                abort();
            if (once.len != twice.len || (once.len && memcmp(once.data, twice.data, once.len)))
                abort();
        }
        buf_free(&once);
        buf_free(&twice);
    }
    kafka_arena_free(&arena);
    return 0;
}
