/* ApiVersions (key 18): the APIs and versions this broker serves, exactly the
 * dispatch table. A version we do not know is answered by dispatch.c. */
#include "broker/kafka/dispatch.h"
#include "kafka_messages.h"

void kafka_handle_api_versions(struct kafka_call *call)
{
    struct kafka_api_versions_request req;
    int rv = kafka_api_versions_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    size_t n = kafka_dispatch_api_count();
    struct kafka_api_versions_response_api_version *keys =
        kafka_arena_alloc_array(&call->arena, n, sizeof *keys);
    if (keys == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        kafka_dispatch_api_at(i, &keys[i].api_key, &keys[i].min_version, &keys[i].max_version);
    }
    struct kafka_api_versions_response resp;
    kafka_api_versions_response_init(&resp);
    resp.error_code = 0;
    resp.api_keys = keys;
    resp.api_keys_count = (int32_t)n;
    resp.throttle_time_ms = 0;
    resp.supported_features_count = 0;
    resp.finalized_features_count = 0;
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_api_versions_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
