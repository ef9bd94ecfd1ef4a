/* Kafka codec runtime and generated codecs against byte vectors written by
 * hand from the protocol spec, plus the bounds, tagged-field and splice rules. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka/kafka_errors.h"
#include "proto/kafka/kafka_header.h"
#include "kafka_messages.h"
#include "tests/unit/check_main.h"

#define ARENA_LIMIT (1u << 20)

struct fixture {
    struct kafka_arena arena;
    struct kafka_reader r;
};

static void fixture_init(struct fixture *f, const uint8_t *data, size_t len)
{
    kafka_arena_init(&f->arena, ARENA_LIMIT);
    kafka_reader_init(&f->r, data, len, &f->arena);
}

/* librdkafka 2.0.2's first request: ApiVersions v3 with header v2 (KIP-511). */
static const uint8_t api_versions_v3_frame[] = {
    0x00, 0x12, 0x00, 0x03,                          /* api_key 18, api_version 3 */
    0x00, 0x00, 0x00, 0x01,                          /* correlation_id 1 */
    0x00, 0x07, 'r',  'd',  'k', 'a', 'f', 'k', 'a', /* client_id: int16 length, not compact */
    0x00,                                            /* header tagged fields */
    0x0b, 'l',  'i',  'b',  'r', 'd', 'k', 'a', 'f', 'k', 'a', /* compact "librdkafka" */
    0x06, '2',  '.',  '0',  '.', '2',                          /* compact "2.0.2" */
    0x00,                                                      /* body tagged fields */
};

START_TEST(test_api_versions_v3_request_from_librdkafka)
{
    struct fixture f;
    fixture_init(&f, api_versions_v3_frame, sizeof api_versions_v3_frame);
    struct kafka_request_header h;
    ck_assert_int_eq(kafka_request_header_decode(&f.r, &h), 0);
    ck_assert_int_eq(h.api_key, KAFKA_API_API_VERSIONS);
    ck_assert_int_eq(h.api_version, 3);
    ck_assert_int_eq(h.correlation_id, 1);
    ck_assert_str_eq(h.client_id, "rdkafka");
    ck_assert_int_eq(h.header_version, 2);
    struct kafka_api_versions_request req;
    ck_assert_int_eq(kafka_api_versions_request_decode(&f.r, 3, &req), 0);
    ck_assert_str_eq(req.client_software_name, "librdkafka");
    ck_assert_str_eq(req.client_software_version, "2.0.2");
    ck_assert_uint_eq(kafka_reader_remaining(&f.r), 0);

    /* Encoding the same values gives the same bytes. */
    struct buf out = BUF_INIT;
    struct kafka_writer w;
    kafka_writer_init(&w, &out);
    ck_assert_int_eq(kafka_request_header_encode(&w, 2, &h), 0);
    ck_assert_int_eq(kafka_api_versions_request_encode(&w, 3, &req), 0);
    ck_assert_uint_eq(out.len, sizeof api_versions_v3_frame);
    ck_assert_mem_eq(out.data, api_versions_v3_frame, out.len);
    kafka_writer_free(&w);
    buf_free(&out);
    kafka_arena_free(&f.arena);
}
END_TEST

START_TEST(test_api_versions_v3_response_bytes)
{
    struct kafka_api_versions_response_api_version keys[1];
    kafka_api_versions_response_api_version_init(&keys[0]);
    keys[0].api_key = 18;
    keys[0].min_version = 0;
    keys[0].max_version = 4;
    struct kafka_api_versions_response resp;
    kafka_api_versions_response_init(&resp);
    resp.api_keys = keys;
    resp.api_keys_count = 1;
    /* finalized_features_epoch defaults to -1 and so is not written (KIP-482). */
    ck_assert_int_eq(resp.finalized_features_epoch, -1);
    const uint8_t expect[] = {
        0x00, 0x00,                               /* error_code */
        0x02,                                     /* compact array of 1 */
        0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, /* {18, 0, 4}, no tags */
        0x00, 0x00, 0x00, 0x00,                   /* throttle_time_ms */
        0x00,                                     /* no tagged fields */
    };
    struct buf out = BUF_INIT;
    struct kafka_writer w;
    kafka_writer_init(&w, &out);
    ck_assert_int_eq(kafka_api_versions_response_encode(&w, 3, &resp), 0);
    ck_assert_uint_eq(out.len, sizeof expect);
    ck_assert_mem_eq(out.data, expect, sizeof expect);

    /* v0 has no throttle time and plain int32 array length. */
    buf_reset(&out);
    ck_assert_int_eq(kafka_api_versions_response_encode(&w, 0, &resp), 0);
    const uint8_t expect_v0[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
                                 0x00, 0x12, 0x00, 0x00, 0x00, 0x04};
    ck_assert_uint_eq(out.len, sizeof expect_v0);
    ck_assert_mem_eq(out.data, expect_v0, sizeof expect_v0);
    kafka_writer_free(&w);
    buf_free(&out);
}
END_TEST

START_TEST(test_metadata_v1_request)
{
    const uint8_t one_topic[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 't', 'e', 's', 't'};
    struct fixture f;
    fixture_init(&f, one_topic, sizeof one_topic);
    struct kafka_metadata_request req;
    ck_assert_int_eq(kafka_metadata_request_decode(&f.r, 1, &req), 0);
    ck_assert_int_eq(req.topics_count, 1);
    ck_assert_str_eq(req.topics[0].name, "test");
    /* Fields absent in v1 take their defaults. */
    ck_assert(req.allow_auto_topic_creation);
    kafka_arena_free(&f.arena);

    /* Null topics (all topics) is legal from v1, not in v0. */
    const uint8_t null_topics[] = {0xff, 0xff, 0xff, 0xff};
    fixture_init(&f, null_topics, sizeof null_topics);
    ck_assert_int_eq(kafka_metadata_request_decode(&f.r, 1, &req), 0);
    ck_assert_int_eq(req.topics_count, -1);
    ck_assert_ptr_null(req.topics);
    kafka_reader_init(&f.r, null_topics, sizeof null_topics, &f.arena);
    ck_assert_int_eq(kafka_metadata_request_decode(&f.r, 0, &req), KAFKA_CODEC_EMALFORMED);
    kafka_arena_free(&f.arena);
}
END_TEST

/* A record batch v2 with one record, as in the README's table (CRC not
 * checked by the codec: records are opaque bytes to it). */
static const uint8_t batch[] = {
    0,    0,    0,    0,    0,    0,    0,    0,    /* base offset */
    0,    0,    0,    0x3a,                         /* batch length 58 */
    0,    0,    0,    0,                            /* partition leader epoch */
    2,                                              /* magic */
    0x12, 0x34, 0x56, 0x78,                         /* crc */
    0,    0,                                        /* attributes */
    0,    0,    0,    0,                            /* last offset delta */
    0,    0,    0,    0,    0,    0,    0,    1,    /* base timestamp */
    0,    0,    0,    0,    0,    0,    0,    1,    /* max timestamp */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* producer id -1 */
    0xff, 0xff,                                     /* producer epoch */
    0xff, 0xff, 0xff, 0xff,                         /* base sequence */
    0,    0,    0,    1,                            /* record count */
    0x0e, 0,    0,    0,    0x01, 0x08, 'v',  'a',
    'l',  'u',  0x00, /* length 7, key null, value, 0 headers */
};

START_TEST(test_produce_v3_request_borrows_records)
{
    uint8_t req_bytes[64 + sizeof batch];
    const uint8_t head[] = {
        0xff, 0xff,             /* transactional_id null */
        0x00, 0x01,             /* acks 1 */
        0x00, 0x00, 0x05, 0xdc, /* timeout 1500 ms */
        0x00, 0x00, 0x00, 0x01, /* one topic */
        0x00, 0x01, 't',        /* name "t" */
        0x00, 0x00, 0x00, 0x01, /* one partition */
        0x00, 0x00, 0x00, 0x02, /* index 2 */
        0x00, 0x00, 0x00, sizeof batch,
    };
    memcpy(req_bytes, head, sizeof head);
    memcpy(req_bytes + sizeof head, batch, sizeof batch);
    size_t len = sizeof head + sizeof batch;
    struct fixture f;
    fixture_init(&f, req_bytes, len);
    struct kafka_produce_request req;
    ck_assert_int_eq(kafka_produce_request_decode(&f.r, 3, &req), 0);
    ck_assert_ptr_null(req.transactional_id);
    ck_assert_int_eq(req.acks, 1);
    ck_assert_int_eq(req.timeout_ms, 1500);
    ck_assert_int_eq(req.topic_data_count, 1);
    ck_assert_str_eq(req.topic_data[0].name, "t");
    ck_assert_int_eq(req.topic_data[0].partition_data_count, 1);
    const struct kafka_produce_request_partition_produce_data *p =
        &req.topic_data[0].partition_data[0];
    ck_assert_int_eq(p->index, 2);
    ck_assert_int_eq(p->records.len, (int32_t)sizeof batch);
    /* Borrowed, not copied: the slice is the request buffer itself. */
    ck_assert_ptr_eq(p->records.data, req_bytes + sizeof head);
    ck_assert_uint_eq(kafka_reader_remaining(&f.r), 0);
    kafka_arena_free(&f.arena);
}
END_TEST

START_TEST(test_array_claiming_2_31_elements)
{
    /* Metadata v1: topics claims INT32_MAX elements, four bytes follow. */
    const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 0x00, 0x01, 'a', 0x00};
    struct fixture f;
    fixture_init(&f, huge, sizeof huge);
    struct kafka_metadata_request req;
    ck_assert_int_eq(kafka_metadata_request_decode(&f.r, 1, &req), KAFKA_CODEC_ETRUNCATED);
    ck_assert_uint_eq(f.arena.used, 0); /* nothing allocated */
    /* Compact (v9): 0xffffffff - 1 elements does not even fit int32. */
    const uint8_t huge_compact[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00};
    kafka_reader_init(&f.r, huge_compact, sizeof huge_compact, &f.arena);
    ck_assert_int_eq(kafka_metadata_request_decode(&f.r, 9, &req), KAFKA_CODEC_EMALFORMED);
    /* Compact 2^31 - 1 elements, with little behind it. */
    const uint8_t big_compact[] = {0x80, 0x80, 0x80, 0x80, 0x08, 0x00, 0x00};
    kafka_reader_init(&f.r, big_compact, sizeof big_compact, &f.arena);
    ck_assert_int_eq(kafka_metadata_request_decode(&f.r, 9, &req), KAFKA_CODEC_ETRUNCATED);
    /* A primitive array: DeleteTopics v1 topic_names, strings need 2 bytes each. */
    const uint8_t names[] = {0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00};
    struct kafka_delete_topics_request del;
    kafka_reader_init(&f.r, names, sizeof names, &f.arena);
    ck_assert_int_eq(kafka_delete_topics_request_decode(&f.r, 1, &del), KAFKA_CODEC_ETRUNCATED);
    ck_assert_uint_eq(f.arena.used, 0);
    kafka_arena_free(&f.arena);
}
END_TEST

START_TEST(test_arena_limit_bounds_decoding)
{
    /* 200 empty topic names: fine for the bounds check, too much for a tiny arena. */
    uint8_t bytes[4 + 200 * 2 + 4] = {0x00, 0x00, 0x00, 200}; /* + timeout_ms */
    struct kafka_arena arena;
    kafka_arena_init(&arena, 256);
    struct kafka_reader r;
    kafka_reader_init(&r, bytes, sizeof bytes, &arena);
    struct kafka_delete_topics_request del;
    ck_assert_int_eq(kafka_delete_topics_request_decode(&r, 1, &del), KAFKA_CODEC_ENOMEM);
    ck_assert_uint_le(arena.used, 256);
    kafka_arena_free(&arena);
    kafka_arena_init(&arena, ARENA_LIMIT);
    kafka_reader_init(&r, bytes, sizeof bytes, &arena);
    ck_assert_int_eq(kafka_delete_topics_request_decode(&r, 1, &del), 0);
    ck_assert_int_eq(del.topic_names_count, 200);
    ck_assert_str_eq(del.topic_names[199], "");
    kafka_arena_free(&arena);
}
END_TEST

START_TEST(test_unknown_tagged_fields_skipped)
{
    const uint8_t bytes[] = {
        0x00, 0x00,                         /* error_code */
        0x02,                               /* one api key */
        0x00, 0x03, 0x00, 0x00, 0x00, 0x0c, /* {3, 0, 12} */
        0x01, 0x2a, 0x02, 0xde, 0xad,       /* element tags: unknown tag 42, 2 bytes */
        0x00, 0x00, 0x00, 0x07,             /* throttle_time_ms 7 */
        0x02,                               /* two tagged fields */
        0x01, 0x08, 0,    0,    0,    0,    0, 0, 0, 0x05, /* tag 1: finalized_features_epoch 5 */
        0x09, 0x03, 0xaa, 0xbb, 0xcc,                      /* tag 9: unknown, skipped */
    };
    struct fixture f;
    fixture_init(&f, bytes, sizeof bytes);
    struct kafka_api_versions_response resp;
    ck_assert_int_eq(kafka_api_versions_response_decode(&f.r, 3, &resp), 0);
    ck_assert_uint_eq(kafka_reader_remaining(&f.r), 0);
    ck_assert_int_eq(resp.api_keys_count, 1);
    ck_assert_int_eq(resp.api_keys[0].max_version, 12);
    ck_assert_int_eq(resp.throttle_time_ms, 7);
    ck_assert_int_eq(resp.finalized_features_epoch, 5);
    ck_assert_int_eq(resp.supported_features_count, 0);
    /* A tag whose size runs past the end is truncation, not a skip. */
    uint8_t bad[sizeof bytes];
    memcpy(bad, bytes, sizeof bytes);
    bad[sizeof bytes - 4] = 0x09;
    kafka_reader_init(&f.r, bad, sizeof bad, &f.arena);
    ck_assert_int_eq(kafka_api_versions_response_decode(&f.r, 3, &resp), KAFKA_CODEC_ETRUNCATED);
    kafka_arena_free(&f.arena);
}
END_TEST

/* A splice hook that remembers where each splice landed. */
struct hook_log {
    struct buf *out;
    size_t offsets[4];
    const void *sources[4];
    size_t count;
};

static int hook_record(void *data, int32_t len, const void *source)
{
    struct hook_log *log = data;
    (void)len;
    if (log->count == 4)
        return KAFKA_CODEC_EINVAL;
    log->offsets[log->count] = log->out->len;
    log->sources[log->count++] = source;
    return 0;
}

/* Fetch response v11/v12 with two partitions whose records are spliced. */
static void check_fetch_splice(int16_t version)
{
    static const char source_a = 'a', source_b = 'b';
    struct kafka_fetch_response_partition_data parts[2];
    for (int i = 0; i < 2; i++) {
        kafka_fetch_response_partition_data_init(&parts[i]);
        parts[i].partition_index = i;
        parts[i].high_watermark = 100;
        parts[i].last_stable_offset = 100;
    }
    parts[0].records = (struct kafka_records){NULL, (int32_t)sizeof batch, &source_a};
    parts[1].records = (struct kafka_records){NULL, 3, &source_b};
    struct kafka_fetch_response_fetchable_topic_response topic;
    kafka_fetch_response_fetchable_topic_response_init(&topic);
    topic.topic = "t";
    topic.partitions = parts;
    topic.partitions_count = 2;
    struct kafka_fetch_response resp;
    kafka_fetch_response_init(&resp);
    resp.responses = &topic;
    resp.responses_count = 1;

    struct buf out = BUF_INIT;
    struct kafka_writer w;
    kafka_writer_init(&w, &out);
    ck_assert_int_eq(kafka_fetch_response_encode(&w, version, &resp), 0);
    ck_assert_uint_eq(w.splice_count, 2);
    ck_assert_ptr_eq(w.splices[0].source, &source_a);
    ck_assert_ptr_eq(w.splices[1].source, &source_b);
    ck_assert_int_eq(w.splices[0].len, (int32_t)sizeof batch);
    ck_assert_uint_eq(kafka_writer_spliced_bytes(&w), sizeof batch + 3);

    /* Assemble what would go on the wire and decode it back. */
    const uint8_t tail[3] = {'x', 'y', 'z'};
    const uint8_t *datas[2] = {batch, tail};
    struct buf wire = BUF_INIT;
    size_t at = 0;
    for (size_t i = 0; i < w.splice_count; i++) {
        ck_assert_int_eq(buf_append(&wire, out.data + at, w.splices[i].offset - at), 0);
        ck_assert_int_eq(buf_append(&wire, datas[i], (size_t)w.splices[i].len), 0);
        at = w.splices[i].offset;
    }
    ck_assert_int_eq(buf_append(&wire, out.data + at, out.len - at), 0);
    ck_assert_uint_eq(wire.len, out.len + sizeof batch + 3);

    struct fixture f;
    fixture_init(&f, wire.data, wire.len);
    struct kafka_fetch_response back;
    ck_assert_int_eq(kafka_fetch_response_decode(&f.r, version, &back), 0);
    ck_assert_uint_eq(kafka_reader_remaining(&f.r), 0);
    ck_assert_int_eq(back.responses[0].partitions_count, 2);
    ck_assert_int_eq(back.responses[0].partitions[0].records.len, (int32_t)sizeof batch);
    ck_assert_mem_eq(back.responses[0].partitions[0].records.data, batch, sizeof batch);
    ck_assert_mem_eq(back.responses[0].partitions[1].records.data, tail, 3);
    ck_assert_int_eq(back.responses[0].partitions[1].last_stable_offset, 100);

    /* The hook sees the same points, and the same bytes come out. */
    struct buf hooked = BUF_INIT;
    struct kafka_writer hw;
    struct hook_log log = {.out = &hooked};
    kafka_writer_init(&hw, &hooked);
    kafka_writer_set_splice_hook(&hw, hook_record, &log);
    ck_assert_int_eq(kafka_fetch_response_encode(&hw, version, &resp), 0);
    ck_assert_uint_eq(hw.splice_count, 0);
    ck_assert_uint_eq(log.count, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_uint_eq(log.offsets[i], w.splices[i].offset);
        ck_assert_ptr_eq(log.sources[i], w.splices[i].source);
    }
    ck_assert_uint_eq(kafka_writer_spliced_bytes(&hw), sizeof batch + 3);
    ck_assert_mem_eq(hooked.data, out.data, out.len);
    kafka_writer_free(&hw);
    buf_free(&hooked);

    kafka_arena_free(&f.arena);
    buf_free(&wire);
    kafka_writer_free(&w);
    buf_free(&out);
}

START_TEST(test_fetch_response_records_spliced)
{
    check_fetch_splice(11);
    check_fetch_splice(12);
}
END_TEST

START_TEST(test_null_where_not_nullable_rejected_on_encode)
{
    struct kafka_metadata_request req;
    kafka_metadata_request_init(&req);
    req.topics_count = -1;
    struct buf out = BUF_INIT;
    struct kafka_writer w;
    kafka_writer_init(&w, &out);
    ck_assert_int_eq(kafka_metadata_request_encode(&w, 0, &req), KAFKA_CODEC_EINVAL);
    buf_reset(&out);
    ck_assert_int_eq(kafka_metadata_request_encode(&w, 1, &req), 0);
    ck_assert_uint_eq(out.len, 4);
    struct kafka_create_topics_response_creatable_topic_result result;
    kafka_create_topics_response_creatable_topic_result_init(&result);
    struct kafka_create_topics_response resp;
    kafka_create_topics_response_init(&resp);
    resp.topics = &result;
    resp.topics_count = 1;
    result.name = NULL; /* topic names are never null */
    ck_assert_int_eq(kafka_create_topics_response_encode(&w, 2, &resp), KAFKA_CODEC_EINVAL);
    kafka_writer_free(&w);
    buf_free(&out);
}
END_TEST

START_TEST(test_header_versions_table)
{
    int16_t req, resp;
    bool flex;
    ck_assert_int_eq(kafka_api_header_versions(KAFKA_API_API_VERSIONS, 3, &req, &resp, &flex), 0);
    ck_assert_int_eq(req, 2);
    ck_assert_int_eq(resp, 0); /* ApiVersions: always response header v0 */
    ck_assert(flex);
    ck_assert_int_eq(kafka_api_header_versions(KAFKA_API_METADATA, 8, &req, &resp, &flex), 0);
    ck_assert_int_eq(req, 1);
    ck_assert_int_eq(resp, 0);
    ck_assert(!flex);
    ck_assert_int_eq(kafka_api_header_versions(KAFKA_API_METADATA, 9, &req, &resp, &flex), 0);
    ck_assert_int_eq(req, 2);
    ck_assert_int_eq(resp, 1);
    ck_assert_int_eq(kafka_api_header_versions(KAFKA_API_FETCH, 3, &req, &resp, &flex),
                     KAFKA_CODEC_EVERSION);
    ck_assert_int_eq(kafka_api_header_versions(68, 0, &req, &resp, &flex), KAFKA_CODEC_EVERSION);
    const struct kafka_api_info *info = kafka_api_info_get(KAFKA_API_PRODUCE);
    ck_assert_ptr_nonnull(info);
    ck_assert_int_eq(info->min_version, 0);
    ck_assert_int_ge(info->max_version, 7);
    ck_assert_int_eq(info->flexible_from, 9);
    ck_assert_int_eq(kafka_api_info_get(KAFKA_API_SASL_HANDSHAKE)->flexible_from, -1);
    for (size_t i = 1; i < kafka_api_info_count(); i++)
        ck_assert_int_lt(kafka_api_info_at(i - 1)->api_key, kafka_api_info_at(i)->api_key);
}
END_TEST

START_TEST(test_request_header_unknown_version_still_parsed)
{
    /* ApiVersions v9 (unknown): the v1 fields are decoded so the server can
     * answer with UNSUPPORTED_VERSION in the v0 format. */
    const uint8_t bytes[] = {0x00, 0x12, 0x00, 0x09, 0x00, 0x00, 0x00, 0x2a, 0xff, 0xff};
    struct fixture f;
    fixture_init(&f, bytes, sizeof bytes);
    struct kafka_request_header h;
    ck_assert_int_eq(kafka_request_header_decode(&f.r, &h), KAFKA_CODEC_EVERSION);
    ck_assert_int_eq(h.api_key, 18);
    ck_assert_int_eq(h.api_version, 9);
    ck_assert_int_eq(h.correlation_id, 42);
    ck_assert_ptr_null(h.client_id);
    /* Every truncation fails. */
    for (size_t k = 0; k < sizeof bytes; k++) {
        kafka_reader_init(&f.r, bytes, k, &f.arena);
        ck_assert_int_eq(kafka_request_header_decode(&f.r, &h), KAFKA_CODEC_ETRUNCATED);
    }
    /* Header v2 with an unknown tagged field. */
    const uint8_t v2[] = {0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01,
                          0x00, 0x01, 'c',  0x01, 0x05, 0x01, 0x00};
    kafka_reader_init(&f.r, v2, sizeof v2, &f.arena);
    ck_assert_int_eq(kafka_request_header_decode(&f.r, &h), 0);
    ck_assert_int_eq(h.header_version, 2);
    ck_assert_str_eq(h.client_id, "c");
    ck_assert_uint_eq(kafka_reader_remaining(&f.r), 0);
    kafka_arena_free(&f.arena);
}
END_TEST

START_TEST(test_response_header)
{
    struct buf out = BUF_INIT;
    struct kafka_writer w;
    kafka_writer_init(&w, &out);
    struct kafka_response_header h = {0x01020304};
    ck_assert_int_eq(kafka_response_header_encode(&w, 0, &h), 0);
    ck_assert_int_eq(kafka_response_header_encode(&w, 1, &h), 0);
    const uint8_t expect[] = {1, 2, 3, 4, 1, 2, 3, 4, 0};
    ck_assert_uint_eq(out.len, sizeof expect);
    ck_assert_mem_eq(out.data, expect, sizeof expect);
    struct fixture f;
    fixture_init(&f, out.data, out.len);
    struct kafka_response_header back;
    ck_assert_int_eq(kafka_response_header_decode(&f.r, 0, &back), 0);
    ck_assert_int_eq(kafka_response_header_decode(&f.r, 1, &back), 0);
    ck_assert_int_eq(back.correlation_id, 0x01020304);
    ck_assert_uint_eq(kafka_reader_remaining(&f.r), 0);
    kafka_writer_free(&w);
    buf_free(&out);
}
END_TEST

START_TEST(test_strings_and_lengths)
{
    struct fixture f;
    /* A NUL inside a string cannot be represented: malformed. */
    const uint8_t nul[] = {0x00, 0x03, 'a', 0x00, 'b'};
    fixture_init(&f, nul, sizeof nul);
    const char *s;
    ck_assert_int_eq(kafka_read_string(&f.r, false, false, &s), KAFKA_CODEC_EMALFORMED);
    ck_assert_uint_eq(f.r.pos, 0); /* cursor unchanged on failure */
    /* Length -2 is malformed; -1 is null only where nullable. */
    const uint8_t minus2[] = {0xff, 0xfe};
    kafka_reader_init(&f.r, minus2, sizeof minus2, &f.arena);
    ck_assert_int_eq(kafka_read_string(&f.r, false, true, &s), KAFKA_CODEC_EMALFORMED);
    const uint8_t minus1[] = {0xff, 0xff};
    kafka_reader_init(&f.r, minus1, sizeof minus1, &f.arena);
    ck_assert_int_eq(kafka_read_string(&f.r, false, false, &s), KAFKA_CODEC_EMALFORMED);
    kafka_reader_init(&f.r, minus1, sizeof minus1, &f.arena);
    ck_assert_int_eq(kafka_read_string(&f.r, false, true, &s), 0);
    ck_assert_ptr_null(s);
    /* Compact 0 is null, 1 is empty. */
    const uint8_t compact[] = {0x00, 0x01};
    kafka_reader_init(&f.r, compact, sizeof compact, &f.arena);
    ck_assert_int_eq(kafka_read_string(&f.r, true, true, &s), 0);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(kafka_read_string(&f.r, true, false, &s), 0);
    ck_assert_str_eq(s, "");
    /* Bytes claiming more than present. */
    const uint8_t bytes[] = {0x00, 0x00, 0x10, 0x00, 1, 2, 3};
    struct kafka_bytes b;
    kafka_reader_init(&f.r, bytes, sizeof bytes, &f.arena);
    ck_assert_int_eq(kafka_read_bytes(&f.r, false, false, &b), KAFKA_CODEC_ETRUNCATED);
    /* Over-long varint. */
    const uint8_t varint[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    uint32_t u;
    kafka_reader_init(&f.r, varint, sizeof varint, &f.arena);
    ck_assert_int_eq(kafka_read_uvarint(&f.r, &u), KAFKA_CODEC_EMALFORMED);
    /* Empty and NULL input. */
    kafka_reader_init(&f.r, NULL, 0, &f.arena);
    int32_t i32;
    ck_assert_int_eq(kafka_read_int32(&f.r, &i32), KAFKA_CODEC_ETRUNCATED);
    ck_assert_int_eq(kafka_read_uvarint(&f.r, &u), KAFKA_CODEC_ETRUNCATED);
    kafka_arena_free(&f.arena);
}
END_TEST

START_TEST(test_error_names)
{
    ck_assert_int_eq(KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION, 3);
    ck_assert_int_eq(KAFKA_ERROR_UNSUPPORTED_VERSION, 35);
    ck_assert_int_eq(KAFKA_ERROR_TOPIC_ALREADY_EXISTS, 36);
    ck_assert_int_eq(KAFKA_ERROR_INVALID_RECORD, 87);
    ck_assert_str_eq(kafka_error_name(KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER),
                     "NOT_LEADER_OR_FOLLOWER");
    ck_assert_str_eq(kafka_error_name(-1), "UNKNOWN_SERVER_ERROR");
    ck_assert_str_eq(kafka_error_name(0), "NONE");
    ck_assert_str_eq(kafka_error_name(9999), "UNKNOWN_ERROR_CODE");
}
END_TEST

/* The one table serves the controller too: the codes it answers brokers with
 * keep Kafka's numbers (a private copy once had INVALID_UPDATE_VERSION = 96,
 * which is FEATURE_UPDATE_FAILED), and no number from -1 to the last is
 * missing a name. */
START_TEST(test_error_table_complete)
{
    ck_assert_int_eq(KAFKA_ERROR_NOT_CONTROLLER, 41);
    ck_assert_int_eq(KAFKA_ERROR_INVALID_UPDATE_VERSION, 95);
    ck_assert_str_eq(kafka_error_name(96), "FEATURE_UPDATE_FAILED");
    ck_assert_int_eq(KAFKA_ERROR_STALE_BROKER_EPOCH, 77);
    ck_assert_int_eq(KAFKA_ERROR_UNKNOWN_TOPIC_ID, 100);
    ck_assert_int_eq(KAFKA_ERROR_INELIGIBLE_REPLICA, 107);
    ck_assert_int_eq(KAFKA_ERROR_NEW_LEADER_ELECTED, 108);
    for (int16_t code = -1; code <= KAFKA_ERROR_TRANSACTION_ABORTABLE; code++) {
        ck_assert_str_ne(kafka_error_name(code), "UNKNOWN_ERROR_CODE");
    }
}
END_TEST

START_TEST(test_arena)
{
    struct kafka_arena a;
    kafka_arena_init(&a, 100000);
    void *p = kafka_arena_alloc(&a, 3);
    void *q = kafka_arena_alloc(&a, 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_ne(p, q);
    ck_assert_uint_eq((uintptr_t)q % sizeof(void *), 0);
    uint8_t *big = kafka_arena_alloc(&a, 50000); /* own chunk */
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(big[49999], 0);
    ck_assert_ptr_null(kafka_arena_alloc(&a, 60000)); /* over the limit */
    ck_assert_ptr_null(kafka_arena_alloc_array(&a, SIZE_MAX / 2, 4));
    kafka_arena_reset(&a);
    ck_assert_uint_eq(a.used, 0);
    ck_assert_ptr_nonnull(kafka_arena_alloc(&a, 60000));
    kafka_arena_free(&a);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("kafka_codec_vectors");
    TCase *tc = tcase_create("vectors");
    tcase_add_test(tc, test_api_versions_v3_request_from_librdkafka);
    tcase_add_test(tc, test_api_versions_v3_response_bytes);
    tcase_add_test(tc, test_metadata_v1_request);
    tcase_add_test(tc, test_produce_v3_request_borrows_records);
    tcase_add_test(tc, test_array_claiming_2_31_elements);
    tcase_add_test(tc, test_arena_limit_bounds_decoding);
    tcase_add_test(tc, test_unknown_tagged_fields_skipped);
    tcase_add_test(tc, test_fetch_response_records_spliced);
    tcase_add_test(tc, test_null_where_not_nullable_rejected_on_encode);
    tcase_add_test(tc, test_header_versions_table);
    tcase_add_test(tc, test_request_header_unknown_version_still_parsed);
    tcase_add_test(tc, test_response_header);
    tcase_add_test(tc, test_strings_and_lengths);
    tcase_add_test(tc, test_error_names);
    tcase_add_test(tc, test_error_table_complete);
    tcase_add_test(tc, test_arena);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
