/* Generic properties of every generated Kafka message codec, at every version:
 * - random values round-trip: encode -> decode -> encode is byte-identical and
 *   decoding consumes exactly the encoded bytes;
 * - every strict prefix of a valid encoding fails to decode (and, the prefix
 *   living in an exactly-sized heap block, ASan catches any over-read);
 * - random garbage and bit-flipped encodings never crash, and whatever decodes
 *   re-encodes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka/kafka_arena.h"
#include "kafka_messages_test.h"

/* A message body encoded by another Kafka implementation. */
struct kafka_reference_vector {
    const char *name;
    int16_t api_key;
    int16_t version;
    bool is_request;
    size_t len;
    const uint8_t *bytes;
};

#include "tests/unit/kafka_python_vectors.h"
#include "tests/unit/kmsg_vectors.h"
#include "tests/unit/check_main.h"

#define ARENA_LIMIT         (16u << 20)
#define SEEDS_PER_VERSION   12
#define GARBAGE_PER_VERSION 40

/* Decode `len` bytes (copied into a block of exactly that size) as `msg` at
 * `version`; return the status and, if `reencoded` is set, re-encode into it. */
static int decode_exact(const struct kafka_test_message *msg, int16_t version, const uint8_t *data,
                        size_t len, size_t *remaining, struct buf *reencoded)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, data, len);
    struct kafka_arena arena;
    kafka_arena_init(&arena, ARENA_LIMIT);
    void *m = malloc(msg->size);
    ck_assert_ptr_nonnull(m);
    struct kafka_reader r;
    kafka_reader_init(&r, copy, len, &arena);
    int rv = msg->decode(&r, version, m);
    if (remaining)
        *remaining = kafka_reader_remaining(&r);
    if (rv == 0 && reencoded) {
        struct kafka_writer w;
        kafka_writer_init(&w, reencoded);
        ck_assert_int_eq(msg->encode(&w, version, m), 0);
        kafka_writer_free(&w);
    }
    free(m);
    kafka_arena_free(&arena);
    free(copy);
    return rv;
}

/* Encode a random `msg` at `version` from `seed` into `out`. */
static void encode_random(const struct kafka_test_message *msg, int16_t version, uint64_t seed,
                          struct buf *out)
{
    struct kafka_arena arena;
    kafka_arena_init(&arena, ARENA_LIMIT);
    struct kafka_test_fill fill;
    kafka_test_fill_init(&fill, seed, &arena);
    void *m = malloc(msg->size);
    ck_assert_ptr_nonnull(m);
    msg->init(m);
    ck_assert_int_eq(msg->fill(&fill, version, m), 0);
    struct kafka_writer w;
    kafka_writer_init(&w, out);
    int rv = msg->encode(&w, version, m);
    ck_assert_msg(rv == 0, "%s v%d encode: %s", msg->name, version, kafka_codec_strerror(rv));
    ck_assert_uint_eq(kafka_writer_spliced_bytes(&w), 0);
    kafka_writer_free(&w);
    free(m);
    kafka_arena_free(&arena);
}

START_TEST(test_round_trip_every_message_and_version)
{
    size_t cases = 0;
    for (size_t i = 0; i < kafka_test_messages_count; i++) {
        const struct kafka_test_message *msg = &kafka_test_messages[i];
        for (int16_t v = msg->min_version; v <= msg->max_version; v++) {
            for (uint64_t seed = 1; seed <= SEEDS_PER_VERSION; seed++) {
                struct buf first = BUF_INIT, second = BUF_INIT;
                encode_random(msg, v, seed * 7919 + (uint64_t)i * 104729 + (uint64_t)v, &first);
                size_t remaining = 99;
                int rv = decode_exact(msg, v, first.data, first.len, &remaining, &second);
                ck_assert_msg(rv == 0, "%s v%d decode: %s", msg->name, v, kafka_codec_strerror(rv));
                ck_assert_uint_eq(remaining, 0);
                ck_assert_uint_eq(second.len, first.len);
                ck_assert_msg(first.len == 0 || memcmp(first.data, second.data, first.len) == 0,
                              "%s v%d: re-encoding differs", msg->name, v);
                buf_free(&first);
                buf_free(&second);
                cases++;
            }
        }
    }
    /* 27 APIs, request and response, at least one version each. */
    ck_assert_uint_ge(kafka_test_messages_count, 54);
    ck_assert_uint_ge(cases, kafka_test_messages_count * SEEDS_PER_VERSION);
}
END_TEST

START_TEST(test_every_truncation_fails)
{
    for (size_t i = 0; i < kafka_test_messages_count; i++) {
        const struct kafka_test_message *msg = &kafka_test_messages[i];
        for (int16_t v = msg->min_version; v <= msg->max_version; v++) {
            struct buf full = BUF_INIT;
            encode_random(msg, v, 4242 + (uint64_t)v, &full);
            for (size_t k = 0; k < full.len; k++) {
                int rv = decode_exact(msg, v, full.data, k, NULL, NULL);
                ck_assert_msg(rv < 0, "%s v%d: %zu of %zu bytes decoded", msg->name, v, k,
                              full.len);
            }
            buf_free(&full);
        }
    }
}
END_TEST

START_TEST(test_garbage_never_crashes)
{
    struct kafka_arena scratch;
    kafka_arena_init(&scratch, 0);
    struct kafka_test_fill rng;
    kafka_test_fill_init(&rng, 20261121, &scratch);
    size_t decoded_ok = 0, runs = 0;
    for (size_t i = 0; i < kafka_test_messages_count; i++) {
        const struct kafka_test_message *msg = &kafka_test_messages[i];
        for (int16_t v = msg->min_version; v <= msg->max_version; v++) {
            for (int n = 0; n < GARBAGE_PER_VERSION; n++) {
                struct buf input = BUF_INIT, out = BUF_INIT;
                if (n % 2 == 0) {
                    /* Pure noise. */
                    size_t len = kafka_test_rand(&rng) % 96;
                    for (size_t k = 0; k < len; k++)
                        ck_assert_int_eq(buf_append_u8(&input, (uint8_t)kafka_test_rand(&rng)), 0);
                } else {
                    /* A valid encoding with a few bytes overwritten. */
                    encode_random(msg, v, kafka_test_rand(&rng), &input);
                    for (int f = 0; f < 3 && input.len > 0; f++)
                        input.data[kafka_test_rand(&rng) % input.len] =
                            (uint8_t)kafka_test_rand(&rng);
                }
                if (decode_exact(msg, v, input.data, input.len, NULL, &out) == 0)
                    decoded_ok++;
                runs++;
                buf_free(&input);
                buf_free(&out);
            }
        }
    }
    ck_assert_uint_gt(runs, 2000);
    /* Some mutated inputs still decode: the test exercises both paths. */
    ck_assert_uint_gt(decoded_ok, 0);
    kafka_arena_free(&scratch);
}
END_TEST

static const struct kafka_test_message *find_message(int16_t api_key, bool is_request)
{
    for (size_t i = 0; i < kafka_test_messages_count; i++) {
        if (kafka_test_messages[i].api_key == api_key &&
            kafka_test_messages[i].is_request == is_request)
            return &kafka_test_messages[i];
    }
    return NULL;
}

static void hex_dump(const char *what, const uint8_t *p, size_t len)
{
    fprintf(stderr, "%s (%zu):", what, len);
    for (size_t i = 0; i < len; i++)
        fprintf(stderr, " %02x", p[i]);
    fprintf(stderr, "\n");
}

/* Each reference encoding decodes completely and re-encodes to the same bytes. */
static void check_reference_vectors(const struct kafka_reference_vector *vecs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct kafka_reference_vector *vec = &vecs[i];
        const struct kafka_test_message *msg = find_message(vec->api_key, vec->is_request);
        ck_assert_msg(msg != NULL, "%s: no codec", vec->name);
        struct buf out = BUF_INIT;
        size_t remaining = 99;
        int rv = decode_exact(msg, vec->version, vec->bytes, vec->len, &remaining, &out);
        ck_assert_msg(rv == 0, "%s (vector %zu): %s", vec->name, i, kafka_codec_strerror(rv));
        ck_assert_msg(remaining == 0, "%s (vector %zu): %zu bytes left", vec->name, i, remaining);
        bool same =
            out.len == vec->len && (vec->len == 0 || memcmp(out.data, vec->bytes, vec->len) == 0);
        if (!same) {
            hex_dump("reference", vec->bytes, vec->len);
            hex_dump("ours", out.data, out.len);
        }
        ck_assert_msg(same, "%s (vector %zu): re-encoding differs", vec->name, i);
        buf_free(&out);
    }
}

/* kafka-python 2.0.2: non-flexible versions. */
START_TEST(test_kafka_python_encodings)
{
    size_t n = sizeof kafka_python_vectors / sizeof kafka_python_vectors[0];
    ck_assert_uint_gt(n, 200);
    check_reference_vectors(kafka_python_vectors, n);
}
END_TEST

/* franz-go kmsg: every codec version, flexible ones included. */
START_TEST(test_kmsg_encodings)
{
    size_t n = sizeof kmsg_vectors / sizeof kmsg_vectors[0];
    ck_assert_uint_gt(n, 800);
    check_reference_vectors(kmsg_vectors, n);
}
END_TEST

START_TEST(test_versions_outside_range_rejected)
{
    for (size_t i = 0; i < kafka_test_messages_count; i++) {
        const struct kafka_test_message *msg = &kafka_test_messages[i];
        const uint8_t bytes[8] = {0};
        ck_assert_int_eq(
            decode_exact(msg, (int16_t)(msg->max_version + 1), bytes, sizeof bytes, NULL, NULL),
            KAFKA_CODEC_EVERSION);
        ck_assert_int_eq(decode_exact(msg, -1, bytes, sizeof bytes, NULL, NULL),
                         KAFKA_CODEC_EVERSION);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("kafka_codec");
    TCase *tc = tcase_create("generated");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_round_trip_every_message_and_version);
    tcase_add_test(tc, test_every_truncation_fails);
    tcase_add_test(tc, test_garbage_never_crashes);
    tcase_add_test(tc, test_kafka_python_encodings);
    tcase_add_test(tc, test_kmsg_encodings);
    tcase_add_test(tc, test_versions_outside_range_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
