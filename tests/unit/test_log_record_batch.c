/* record_batch: parsing and validation of Kafka v2 record batches. */
#include <check.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "broker/log/record_batch.h"
#include "broker/log/record_codec.h"
#include "common/bigendian.h"
#include "log_test_util.h"
#include "tests/unit/check_main.h"

static const struct record_batch_limits client_limits = {
    .max_batch_bytes = 1 << 20, .from_client = true, .walk_records = true};
static const struct record_batch_limits follower_limits = {.max_batch_bytes = 1 << 20};

START_TEST(test_valid_batch_parses)
{
    struct buf b = BUF_INIT;
    struct record_batch_header h;
    char reason[128] = "";
    tb_batch(&b, 5, 100, 1000, 1);
    ck_assert_int_eq(
        record_batch_validate(b.data, b.len, &client_limits, &h, reason, sizeof reason), 0);
    ck_assert_int_eq(record_batch_size(&h), (int64_t)b.len);
    ck_assert_int_eq(h.magic, 2);
    ck_assert_int_eq(h.records_count, 5);
    ck_assert_int_eq(h.last_offset_delta, 4);
    ck_assert_int_eq(h.base_timestamp, 1000);
    ck_assert_int_eq(h.max_timestamp, 1004);
    ck_assert_int_eq(h.producer_id, -1);
    ck_assert_str_eq(reason, "");
    buf_free(&b);
}
END_TEST

START_TEST(test_every_short_buffer_is_corrupt)
{
    struct buf b = BUF_INIT;
    char reason[128];
    tb_batch(&b, 3, 20, 0, 2);
    for (size_t n = 0; n < b.len; n++) {
        reason[0] = '\0';
        ck_assert_int_eq(
            record_batch_validate(b.data, n, &client_limits, NULL, reason, sizeof reason),
            LOG_ERR_CORRUPT);
        ck_assert(reason[0] != '\0');
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_bad_crc_every_covered_byte)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, 2, 10, 0, 3);
    for (size_t i = RECORD_BATCH_CRC_START; i < b.len; i++) {
        b.data[i] ^= 0x10;
        ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                         LOG_ERR_CORRUPT);
        b.data[i] ^= 0x10;
    }
    /* baseOffset and leader epoch are outside the CRC: changing them is fine. */
    record_batch_set_base_offset(b.data, 12345);
    record_batch_set_leader_epoch(b.data, 7);
    struct record_batch_header h;
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, &h, NULL, 0), 0);
    ck_assert_int_eq(h.base_offset, 12345);
    ck_assert_int_eq(h.partition_leader_epoch, 7);
    buf_free(&b);
}
END_TEST

START_TEST(test_wrong_magic)
{
    struct buf b = BUF_INIT;
    char reason[128];
    tb_batch(&b, 1, 10, 0, 4);
    b.data[16] = 1;
    ck_assert_int_eq(
        record_batch_validate(b.data, b.len, &client_limits, NULL, reason, sizeof reason),
        LOG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(reason, "magic"));
    buf_free(&b);
}
END_TEST

START_TEST(test_count_mismatch_is_invalid_record)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, 3, 10, 0, 5);
    be32_store(b.data + 57, 4); /* recordsCount 4 vs lastOffsetDelta 2 */
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    /* Consistent header, but the batch really holds 3 records. */
    be32_store(b.data + 23, 3);
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    /* A follower does not apply producer rules nor walk records. */
    struct record_batch_limits follower = {0};
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &follower, NULL, NULL, 0), 0);
    be32_store(b.data + 57, 0);
    be32_store(b.data + 23, (uint32_t)-1);
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    buf_free(&b);
}
END_TEST

START_TEST(test_oversize_batch)
{
    struct buf b = BUF_INIT;
    struct record_batch_limits limits = client_limits;
    tb_batch(&b, 4, 100, 0, 6);
    limits.max_batch_bytes = (int64_t)b.len;
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &limits, NULL, NULL, 0), 0);
    limits.max_batch_bytes = (int64_t)b.len - 1;
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &limits, NULL, NULL, 0),
                     LOG_ERR_TOO_LARGE);
    buf_free(&b);
}
END_TEST

START_TEST(test_control_batch_from_client_rejected)
{
    struct buf b = BUF_INIT;
    tb_batch_ex(&b, 1, 4, 0, 7, RECORD_BATCH_ATTR_CONTROL, 0);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    struct record_batch_limits follower = {0};
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &follower, NULL, NULL, 0), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_malformed_record_rejected_compressed_inflated)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, 2, 10, 0, 8);
    /* First record's length varint (zigzag) doubled: runs past the batch. */
    b.data[61] = (uint8_t)(b.data[61] + 40);
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    /* Marked compressed (gzip) but not a gzip body: the leader inflates
     * compressed batches, so it is refused; a follower only checks the CRC. */
    be16_store(b.data + 21, 1);
    tb_fix_crc(b.data);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_CORRUPT);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &follower_limits, NULL, NULL, 0), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_batch_length_below_minimum)
{
    struct buf b = BUF_INIT;
    tb_batch(&b, 1, 1, 0, 9);
    be32_store(b.data + 8, 10);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_CORRUPT);
    be32_store(b.data + 8, (uint32_t)-5);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_CORRUPT);
    buf_free(&b);
}
END_TEST

START_TEST(test_error_names)
{
    ck_assert_str_eq(log_err_name(LOG_ERR_CORRUPT), "CORRUPT");
}
END_TEST

START_TEST(test_random_mutations_never_crash)
{
    /* Mutate bytes (CRC fixed up, so the record walk sees the damage) and
     * truncate at random: validation must answer, never read out of bounds
     * (the ASan build checks the latter). */
    struct buf b = BUF_INIT;
    tb_batch(&b, 6, 30, 0, 11);
    uint8_t *copy = malloc(b.len);
    uint32_t x = 99;
    int accepted = 0;
    for (int round = 0; round < 5000; round++) {
        memcpy(copy, b.data, b.len);
        for (int k = 0; k < 1 + round % 4; k++) {
            x = x * 1103515245u + 12345u;
            size_t at = RECORD_BATCH_HEADER_SIZE + (x >> 8) % (b.len - RECORD_BATCH_HEADER_SIZE);
            copy[at] = (uint8_t)(x >> 20);
        }
        tb_fix_crc(copy);
        x = x * 1103515245u + 12345u;
        size_t len = round % 3 == 0 ? (x >> 8) % (b.len + 1) : b.len;
        int rv = record_batch_validate(copy, len, &client_limits, NULL, NULL, 0);
        ck_assert(rv == 0 || rv == LOG_ERR_CORRUPT || rv == LOG_ERR_INVALID_RECORD);
        accepted += rv == 0;
    }
    ck_assert_int_lt(accepted, 5000);
    free(copy);
    buf_free(&b);
}
END_TEST

/* Compress `len` bytes with `codec` into a fresh buffer (*outlen bytes). */
static uint8_t *compress_body(int codec, const uint8_t *in, size_t len, size_t *outlen)
{
    size_t cap = len + len / 2 + 1024;
    uint8_t *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    if (codec == RECORD_CODEC_GZIP) {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                         Z_OK);
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)len;
        zs.next_out = out;
        zs.avail_out = (uInt)cap;
        ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
        *outlen = cap - zs.avail_out;
        deflateEnd(&zs);
    } else if (codec == RECORD_CODEC_SNAPPY) {
        *outlen = cap;
        ck_assert_int_eq(snappy_compress((const char *)in, len, (char *)out, outlen), SNAPPY_OK);
    } else if (codec == RECORD_CODEC_LZ4) {
        *outlen = LZ4F_compressFrame(out, cap, in, len, NULL);
        ck_assert(!LZ4F_isError(*outlen));
    } else {
        *outlen = ZSTD_compress(out, cap, in, len, 3);
        ck_assert(!ZSTD_isError(*outlen));
    }
    return out;
}

/* Rebuild the batch in `plain` (uncompressed) with its records section
 * replaced by `body` and the codec set in its attributes. */
static void rebatch(struct buf *out, const struct buf *plain, int codec, const uint8_t *body,
                    size_t blen)
{
    buf_append(out, plain->data, RECORD_BATCH_HEADER_SIZE);
    buf_append(out, body, blen);
    be32_store(out->data + 8, (uint32_t)(out->len - 12));
    be16_store(out->data + 21, (uint16_t)codec);
    tb_fix_crc(out->data);
}

/* A batch of `count` records compressed with `codec`. */
static void compressed_batch(struct buf *out, int codec, int count, size_t value_len)
{
    struct buf plain = BUF_INIT;
    size_t blen;
    tb_batch(&plain, count, value_len, 0, 21);
    uint8_t *body = compress_body(codec, plain.data + RECORD_BATCH_HEADER_SIZE,
                                  plain.len - RECORD_BATCH_HEADER_SIZE, &blen);
    rebatch(out, &plain, codec, body, blen);
    free(body);
    buf_free(&plain);
}

START_TEST(test_compressed_batches_validate)
{
    for (int codec = RECORD_CODEC_GZIP; codec <= RECORD_CODEC_ZSTD; codec++) {
        struct buf b = BUF_INIT;
        struct record_batch_header h;
        char reason[160] = "";
        compressed_batch(&b, codec, 50, 200);
        ck_assert_msg(
            record_batch_validate(b.data, b.len, &client_limits, &h, reason, sizeof reason) == 0,
            "%s: %s", record_codec_name(codec), reason);
        ck_assert_int_eq(record_batch_compression(&h), codec);
        ck_assert_int_eq(h.records_count, 50);
        ck_assert_int_lt((int64_t)b.len, 50 * 200); /* really compressed */
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_compressed_count_mismatch)
{
    /* The header claims one record more than the body holds (the issue's
     * attack used 2^31-1): the inflated walk refuses it. */
    for (int codec = RECORD_CODEC_GZIP; codec <= RECORD_CODEC_ZSTD; codec++) {
        int32_t claims[] = {6, 4, INT32_MAX};
        for (size_t k = 0; k < sizeof claims / sizeof claims[0]; k++) {
            struct buf b = BUF_INIT;
            char reason[160] = "";
            compressed_batch(&b, codec, 5, 10);
            be32_store(b.data + 23, (uint32_t)(claims[k] - 1)); /* lastOffsetDelta */
            be32_store(b.data + 57, (uint32_t)claims[k]);       /* recordsCount */
            tb_fix_crc(b.data);
            ck_assert_int_eq(
                record_batch_validate(b.data, b.len, &client_limits, NULL, reason, sizeof reason),
                LOG_ERR_INVALID_RECORD);
            ck_assert_ptr_nonnull(strstr(reason, "record"));
            buf_free(&b);
        }
    }
}
END_TEST

START_TEST(test_compressed_garbage_and_truncation)
{
    uint8_t garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++) {
        garbage[i] = (uint8_t)(i * 37 + 11);
    }
    for (int codec = RECORD_CODEC_GZIP; codec <= RECORD_CODEC_ZSTD; codec++) {
        struct buf plain = BUF_INIT, b = BUF_INIT, t = BUF_INIT;
        char reason[160] = "";
        tb_batch(&plain, 3, 10, 0, 5);
        rebatch(&b, &plain, codec, garbage, sizeof garbage);
        ck_assert_int_eq(
            record_batch_validate(b.data, b.len, &client_limits, NULL, reason, sizeof reason),
            LOG_ERR_CORRUPT);
        ck_assert_msg(strstr(reason, record_codec_name(codec)) != NULL, "%s", reason);
        /* Every proper prefix of a real compressed body is refused. */
        buf_reset(&b);
        compressed_batch(&b, codec, 3, 10);
        for (size_t cut = RECORD_BATCH_HEADER_SIZE; cut < b.len; cut++) {
            buf_reset(&t);
            rebatch(&t, &plain, codec, b.data + RECORD_BATCH_HEADER_SIZE,
                    cut - RECORD_BATCH_HEADER_SIZE);
            int rv = record_batch_validate(t.data, t.len, &client_limits, NULL, NULL, 0);
            ck_assert_msg(rv == LOG_ERR_CORRUPT || rv == LOG_ERR_INVALID_RECORD,
                          "%s cut at %zu: %d", record_codec_name(codec), cut, rv);
        }
        buf_free(&plain);
        buf_free(&b);
        buf_free(&t);
    }
}
END_TEST

START_TEST(test_unknown_codec_ids)
{
    /* The 77-byte batch: codec 7, recordsCount 2^31-1. */
    for (int codec = 5; codec <= 7; codec++) {
        struct buf b = BUF_INIT;
        char reason[160] = "";
        tb_batch(&b, 1, 4, 0, 1);
        be16_store(b.data + 21, (uint16_t)codec);
        be32_store(b.data + 23, (uint32_t)(INT32_MAX - 1));
        be32_store(b.data + 57, (uint32_t)INT32_MAX);
        tb_fix_crc(b.data);
        ck_assert_int_eq(
            record_batch_validate(b.data, b.len, &client_limits, NULL, reason, sizeof reason),
            LOG_ERR_CORRUPT);
        ck_assert_ptr_nonnull(strstr(reason, "codec"));
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_compression_bombs)
{
    /* 64 MiB of zeros compresses to a few KiB (snappy: 3 MiB); the bound is 8 MiB, so every
     * codec stops at the bound instead of inflating it all. */
    size_t big = 64u << 20;
    uint8_t *zeros = calloc(1, big);
    ck_assert_ptr_nonnull(zeros);
    for (int codec = RECORD_CODEC_GZIP; codec <= RECORD_CODEC_ZSTD; codec++) {
        struct buf plain = BUF_INIT, b = BUF_INIT;
        char reason[160] = "";
        size_t blen;
        /* snappy's format caps one block's ratio: a 64 MiB block is ~3 MiB. */
        uint8_t *body = compress_body(codec, zeros, big, &blen);
        ck_assert_uint_lt(blen, 4u << 20);
        tb_batch(&plain, 1, 4, 0, 1);
        rebatch(&b, &plain, codec, body, blen);
        struct record_batch_limits lim = client_limits;
        lim.max_batch_bytes = 8u << 20; /* the batch itself fits */
        ck_assert_int_eq(record_batch_validate(b.data, b.len, &lim, NULL, reason, sizeof reason),
                         LOG_ERR_INVALID_RECORD);
        ck_assert_msg(strstr(reason, "inflates beyond") != NULL, "%s", reason);
        free(body);
        buf_free(&plain);
        buf_free(&b);
    }
    free(zeros);
}
END_TEST

START_TEST(test_inflate_bound_is_exact)
{
    uint8_t data[5000];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i % 7);
    }
    for (int codec = RECORD_CODEC_GZIP; codec <= RECORD_CODEC_ZSTD; codec++) {
        size_t blen, n;
        uint8_t *out;
        uint8_t *body = compress_body(codec, data, sizeof data, &blen);
        ck_assert_int_eq(record_codec_inflate(codec, body, blen, sizeof data, &out, &n, NULL, 0),
                         0);
        ck_assert_uint_eq(n, sizeof data);
        ck_assert_mem_eq(out, data, sizeof data);
        free(out);
        ck_assert_int_eq(
            record_codec_inflate(codec, body, blen, sizeof data - 1, &out, &n, NULL, 0),
            RECORD_CODEC_ERR_TOO_LARGE);
        ck_assert_ptr_null(out);
        free(body);
    }
    size_t n;
    uint8_t *out;
    ck_assert_int_eq(record_codec_inflate(0, data, 10, 100, &out, &n, NULL, 0),
                     RECORD_CODEC_ERR_CODEC);
}
END_TEST

START_TEST(test_snappy_xerial_framing)
{
    /* What the Java client writes: the xerial header, then length-prefixed
     * raw snappy blocks (here two, split mid-record). */
    struct buf plain = BUF_INIT, body = BUF_INIT, b = BUF_INIT;
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    tb_batch(&plain, 20, 50, 0, 4);
    const uint8_t *recs = plain.data + RECORD_BATCH_HEADER_SIZE;
    size_t len = plain.len - RECORD_BATCH_HEADER_SIZE, half = len / 2;
    buf_append(&body, magic, sizeof magic);
    buf_append_be32(&body, 1);
    buf_append_be32(&body, 1);
    for (int part = 0; part < 2; part++) {
        size_t blen;
        uint8_t *blk = compress_body(RECORD_CODEC_SNAPPY, recs + (part ? half : 0),
                                     part ? len - half : half, &blen);
        buf_append_be32(&body, (uint32_t)blen);
        buf_append(&body, blk, blen);
        free(blk);
    }
    rebatch(&b, &plain, RECORD_CODEC_SNAPPY, body.data, body.len);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0), 0);
    /* A block length running past the body is corrupt. */
    be32_store(body.data + 16, (uint32_t)body.len);
    buf_reset(&b);
    rebatch(&b, &plain, RECORD_CODEC_SNAPPY, body.data, body.len);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_CORRUPT);
    /* A raw block declaring 0 bytes followed by garbage is corrupt, not empty
     * (found by the cluster test: bytes 0, 1, 2, ... was accepted). */
    uint8_t zero_then_garbage[] = {0, 1, 2, 3, 4, 5};
    size_t n;
    uint8_t *out;
    ck_assert_int_eq(record_codec_inflate(RECORD_CODEC_SNAPPY, zero_then_garbage,
                                          sizeof zero_then_garbage, 100, &out, &n, NULL, 0),
                     RECORD_CODEC_ERR_CORRUPT);
    buf_free(&plain);
    buf_free(&body);
    buf_free(&b);
}
END_TEST

/* A batch of one record whose timestampDelta and offsetDelta (both zero)
 * are written as the given varint bytes: key "k", null value, no headers. */
static void one_record_batch(struct buf *out, const uint8_t *ts, size_t tslen, const uint8_t *delta,
                             size_t dlen)
{
    struct buf plain = BUF_INIT, body = BUF_INIT;
    static const uint8_t tail[] = {0x02, 'k', 0x01, 0x00}; /* key, value -1, headers 0 */
    tb_batch(&plain, 1, 1, 0, 22);
    buf_append_u8(&body, (uint8_t)(2 * (1 + tslen + dlen + sizeof tail)));
    buf_append_u8(&body, 0); /* attributes */
    buf_append(&body, ts, tslen);
    buf_append(&body, delta, dlen);
    buf_append(&body, tail, sizeof tail);
    buf_reset(out);
    rebatch(out, &plain, RECORD_CODEC_NONE, body.data, body.len);
    buf_free(&plain);
    buf_free(&body);
}

START_TEST(test_record_varint_encodings)
{
    static const uint8_t zero[] = {0x00};
    /* Zero in two and three bytes: non-minimal, read as Kafka reads them,
     * by the inline two-byte path and the general decoder alike. */
    static const uint8_t zero2[] = {0x80, 0x00}, zero3[] = {0x80, 0x80, 0x00};
    /* Longer than a varint (5 bytes) or varlong (10 bytes) may be. */
    static const uint8_t long32[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t long64[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x00};
    struct buf b = BUF_INIT;
    char reason[128] = "";
    one_record_batch(&b, zero, sizeof zero, zero, sizeof zero);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0), 0);
    one_record_batch(&b, zero2, sizeof zero2, zero2, sizeof zero2);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0), 0);
    one_record_batch(&b, zero3, sizeof zero3, zero3, sizeof zero3);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0), 0);
    one_record_batch(&b, zero, sizeof zero, long32, sizeof long32);
    ck_assert_int_eq(
        record_batch_validate(b.data, b.len, &client_limits, NULL, reason, sizeof reason),
        LOG_ERR_INVALID_RECORD);
    ck_assert_ptr_nonnull(strstr(reason, "record 0 is malformed"));
    one_record_batch(&b, long64, sizeof long64, zero, sizeof zero);
    ck_assert_int_eq(record_batch_validate(b.data, b.len, &client_limits, NULL, NULL, 0),
                     LOG_ERR_INVALID_RECORD);
    buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log_record_batch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_valid_batch_parses);
    tcase_add_test(tc, test_every_short_buffer_is_corrupt);
    tcase_add_test(tc, test_bad_crc_every_covered_byte);
    tcase_add_test(tc, test_wrong_magic);
    tcase_add_test(tc, test_count_mismatch_is_invalid_record);
    tcase_add_test(tc, test_oversize_batch);
    tcase_add_test(tc, test_control_batch_from_client_rejected);
    tcase_add_test(tc, test_malformed_record_rejected_compressed_inflated);
    tcase_add_test(tc, test_batch_length_below_minimum);
    tcase_add_test(tc, test_error_names);
    tcase_add_test(tc, test_random_mutations_never_crash);
    tcase_add_test(tc, test_compressed_batches_validate);
    tcase_add_test(tc, test_compressed_count_mismatch);
    tcase_add_test(tc, test_compressed_garbage_and_truncation);
    tcase_add_test(tc, test_unknown_codec_ids);
    tcase_add_test(tc, test_compression_bombs);
    tcase_add_test(tc, test_inflate_bound_is_exact);
    tcase_add_test(tc, test_snappy_xerial_framing);
    tcase_add_test(tc, test_record_varint_encodings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
