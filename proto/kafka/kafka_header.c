#include "proto/kafka/kafka_header.h"

#include "kafka_messages.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_rv_ = (expr);                                                                      \
        if (try_rv_ < 0)                                                                           \
            return try_rv_;                                                                        \
    } while (0)

/* The fields every header version >= 1 shares. */
static int kafka_request_header_decode_v1(struct kafka_reader *r, struct kafka_request_header *h)
{
    TRY(kafka_read_int16(r, &h->api_key));
    TRY(kafka_read_int16(r, &h->api_version));
    TRY(kafka_read_int32(r, &h->correlation_id));
    return kafka_read_string(r, false, true, &h->client_id);
}

int kafka_request_header_decode(struct kafka_reader *r, struct kafka_request_header *h)
{
    int16_t version;
    h->client_id = NULL;
    h->header_version = 1;
    TRY(kafka_request_header_decode_v1(r, h));
    TRY(kafka_api_header_versions(h->api_key, h->api_version, &version, NULL, NULL));
    h->header_version = version;
    if (version >= 2)
        TRY(kafka_skip_tagged_fields(r));
    return 0;
}

int kafka_request_header_decode_version(struct kafka_reader *r, int16_t header_version,
                                        struct kafka_request_header *h)
{
    if (header_version < 0 || header_version > 2)
        return KAFKA_CODEC_EVERSION;
    h->client_id = NULL;
    h->header_version = header_version;
    if (header_version == 0) {
        TRY(kafka_read_int16(r, &h->api_key));
        TRY(kafka_read_int16(r, &h->api_version));
        return kafka_read_int32(r, &h->correlation_id);
    }
    TRY(kafka_request_header_decode_v1(r, h));
    if (header_version == 2)
        TRY(kafka_skip_tagged_fields(r));
    return 0;
}

int kafka_request_header_encode(struct kafka_writer *w, int16_t header_version,
                                const struct kafka_request_header *h)
{
    if (header_version < 0 || header_version > 2)
        return KAFKA_CODEC_EVERSION;
    TRY(kafka_write_int16(w, h->api_key));
    TRY(kafka_write_int16(w, h->api_version));
    TRY(kafka_write_int32(w, h->correlation_id));
    if (header_version >= 1)
        TRY(kafka_write_string(w, false, true, h->client_id));
    if (header_version == 2)
        TRY(kafka_write_uvarint(w, 0));
    return 0;
}

int kafka_response_header_encode(struct kafka_writer *w, int16_t header_version,
                                 const struct kafka_response_header *h)
{
    if (header_version < 0 || header_version > 1)
        return KAFKA_CODEC_EVERSION;
    TRY(kafka_write_int32(w, h->correlation_id));
    if (header_version == 1)
        TRY(kafka_write_uvarint(w, 0));
    return 0;
}

int kafka_response_header_decode(struct kafka_reader *r, int16_t header_version,
                                 struct kafka_response_header *h)
{
    if (header_version < 0 || header_version > 1)
        return KAFKA_CODEC_EVERSION;
    TRY(kafka_read_int32(r, &h->correlation_id));
    if (header_version == 1)
        TRY(kafka_skip_tagged_fields(r));
    return 0;
}
