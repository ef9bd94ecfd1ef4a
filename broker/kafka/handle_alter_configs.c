/* AlterConfigs (key 33): replace a topic's configuration: keys listed are
 * set, keys not listed return to their defaults (Kafka's semantics for this
 * legacy API). Broker configs are static in Sluice (server.properties). */
#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "kafka_messages.h"

enum { RESOURCE_TOPIC = 2 };

static void alter_one(struct kafka_call *call, const struct kafka_alter_configs_request *req,
                      const struct kafka_alter_configs_request_resource *r,
                      struct kafka_alter_configs_response_resource_response *o)
{
    kafka_alter_configs_response_resource_response_init(o);
    o->resource_type = r->resource_type;
    o->resource_name = r->resource_name;
    if (r->resource_type != RESOURCE_TOPIC) {
        o->error_code = KAFKA_ERROR_INVALID_REQUEST;
        o->error_message = "Only topic configs can be altered: broker configs are static";
        return;
    }
    int32_t n = r->configs_count > 0 ? r->configs_count : 0;
    struct metadata_config_entry *entries =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *entries);
    char *err = kafka_arena_alloc(&call->arena, 512);
    if (entries == NULL || err == NULL) {
        o->error_code = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        entries[i].key = r->configs[i].name;
        entries[i].value = r->configs[i].value;
    }
    o->error_code = metadata_view_alter_topic_config(call->svc->metadata, r->resource_name, entries,
                                                     (size_t)n, true, req->validate_only, err, 512);
    o->error_message = o->error_code != KAFKA_ERROR_NONE ? err : NULL;
}

void kafka_handle_alter_configs(struct kafka_call *call)
{
    struct kafka_alter_configs_request req;
    int rv = kafka_alter_configs_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_alter_configs_response resp;
    kafka_alter_configs_response_init(&resp);
    int32_t n = req.resources_count > 0 ? req.resources_count : 0;
    resp.responses = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *resp.responses);
    if (resp.responses == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        alter_one(call, &req, &req.resources[i], &resp.responses[i]);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_alter_configs_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
