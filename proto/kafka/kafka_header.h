/* Kafka request and response headers.
 *
 * Request header v0: api_key, api_version, correlation_id; v1 adds client_id
 * (int16-length nullable string, never compact, even in v2); v2 (flexible
 * request versions, KIP-482) adds a tagged-field section, skipped on decode.
 * Response header v0: correlation_id; v1 adds a tagged-field section. Which
 * versions apply to an (api_key, api_version) is kafka_api_header_versions()
 * (kafka_messages.h); ApiVersions responses always use header v0 (KIP-511).
 *
 * Ownership as for every decoder: client_id is allocated in the reader's
 * arena. Errors are KAFKA_CODEC_E* statuses. */
#ifndef SLUICE_PROTO_KAFKA_HEADER_H
#define SLUICE_PROTO_KAFKA_HEADER_H

#include <stdint.h>

#include "proto/kafka/kafka_reader.h"
#include "proto/kafka/kafka_writer.h"

/* The smallest request frame: api_key, api_version, correlation_id and the
 * client_id length (the frame reader's minimum, common/frame.h). */
#define KAFKA_REQUEST_MIN_SIZE 10

struct kafka_request_header {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    const char *client_id;  /* NULL when null or header v0 */
    int16_t header_version; /* set by kafka_request_header_decode */
};

struct kafka_response_header {
    int32_t correlation_id;
};

/* Decode a request header, choosing its version from (api_key, api_version).
 * When the pair has no codec, the v1 fields are still decoded (so a server can
 * answer an ApiVersions request of an unknown version with UNSUPPORTED_VERSION)
 * and KAFKA_CODEC_EVERSION is returned with the reader after client_id. */
int kafka_request_header_decode(struct kafka_reader *r, struct kafka_request_header *h);

/* Decode/encode a request header of a known version (0, 1 or 2). */
int kafka_request_header_decode_version(struct kafka_reader *r, int16_t header_version,
                                        struct kafka_request_header *h);
int kafka_request_header_encode(struct kafka_writer *w, int16_t header_version,
                                const struct kafka_request_header *h);

/* Response header v0 or v1 (v1 writes an empty tagged-field section). */
int kafka_response_header_encode(struct kafka_writer *w, int16_t header_version,
                                 const struct kafka_response_header *h);
int kafka_response_header_decode(struct kafka_reader *r, int16_t header_version,
                                 struct kafka_response_header *h);

#endif
