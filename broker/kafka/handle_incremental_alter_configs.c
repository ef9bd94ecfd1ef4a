/* IncrementalAlterConfigs (key 44, KIP-339): SET and DELETE on topic configs;
 * keys not mentioned keep their values. APPEND/SUBTRACT (list-valued keys)
 * are refused with INVALID_REQUEST. Broker configs are static in Sluice. */
#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "kafka_messages.h"

enum { RESOURCE_TOPIC = 2 };
enum { OP_SET = 0, OP_DELETE = 1 };

static int16_t
entries_of(struct kafka_call *call,
           const struct kafka_incremental_alter_configs_request_alter_configs_resource *r,
           struct metadata_config_entry **out, const char **why)
{
    int32_t n = r->configs_count > 0 ? r->configs_count : 0;
    struct metadata_config_entry *entries =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *entries);
    if (entries == NULL) {
        return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    for (int32_t i = 0; i < n; i++) {
        int8_t op = r->configs[i].config_operation;
        if (op != OP_SET && op != OP_DELETE) {
            *why = "Only SET and DELETE are supported";
            return KAFKA_ERROR_INVALID_REQUEST;
        }
        if (op == OP_SET && r->configs[i].value == NULL) {
            *why = "SET needs a value";
            return KAFKA_ERROR_INVALID_REQUEST;
        }
        entries[i].key = r->configs[i].name;
        entries[i].value = op == OP_SET ? r->configs[i].value : NULL;
    }
    *out = entries;
    return KAFKA_ERROR_NONE;
}

static void
alter_one(struct kafka_call *call, bool validate_only,
          const struct kafka_incremental_alter_configs_request_alter_configs_resource *r,
          struct kafka_incremental_alter_configs_response_alter_configs_resource_response *o)
{
    kafka_incremental_alter_configs_response_alter_configs_resource_response_init(o);
    o->resource_type = r->resource_type;
    o->resource_name = r->resource_name;
    if (r->resource_type != RESOURCE_TOPIC) {
        o->error_code = KAFKA_ERROR_INVALID_REQUEST;
        o->error_message = "Only topic configs can be altered: broker configs are static";
        return;
    }
    struct metadata_config_entry *entries = NULL;
    const char *why = NULL;
    o->error_code = entries_of(call, r, &entries, &why);
    if (o->error_code != KAFKA_ERROR_NONE) {
        o->error_message = why;
        return;
    }
    char *err = kafka_arena_alloc(&call->arena, 512);
    if (err == NULL) {
        o->error_code = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        return;
    }
    size_t n = r->configs_count > 0 ? (size_t)r->configs_count : 0;
    o->error_code = metadata_view_alter_topic_config(call->svc->metadata, r->resource_name, entries,
                                                     n, false, validate_only, err, 512);
    o->error_message = o->error_code != KAFKA_ERROR_NONE ? err : NULL;
}

void kafka_handle_incremental_alter_configs(struct kafka_call *call)
{
    struct kafka_incremental_alter_configs_request req;
    int rv =
        kafka_incremental_alter_configs_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_incremental_alter_configs_response resp;
    kafka_incremental_alter_configs_response_init(&resp);
    int32_t n = req.resources_count > 0 ? req.resources_count : 0;
    resp.responses = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *resp.responses);
    if (resp.responses == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        alter_one(call, req.validate_only, &req.resources[i], &resp.responses[i]);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_incremental_alter_configs_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
