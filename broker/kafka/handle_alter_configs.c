/* AlterConfigs (key 33): replace a topic's configuration: keys listed are
 * set, keys not listed return to their defaults (Kafka's semantics for this
 * legacy API). Broker configs are static in Sluice (server.properties).
 * Through the metadata view (with the controller quorum: forwarded to the
 * active controller), asynchronously. */
#include "broker/kafka/admin_batch.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

/* Each resource's answer is its op's result. */
static int encode_response(struct kafka_admin_batch *b, struct kafka_writer *w)
{
    struct kafka_alter_configs_response *resp = b->response;
    for (int32_t i = 0; i < b->count; i++) {
        resp->responses[i].error_code = b->ops[i].error_code;
        resp->responses[i].error_message = kafka_admin_batch_message(&b->ops[i]);
    }
    return kafka_alter_configs_response_encode(w, b->call->header.api_version, resp);
}

static void alter_one(struct kafka_admin_batch *b, const struct kafka_alter_configs_request *req,
                      int32_t i)
{
    struct kafka_call *call = b->call;
    const struct kafka_alter_configs_request_resource *r = &req->resources[i];
    struct kafka_alter_configs_response *resp = b->response;
    struct kafka_alter_configs_response_resource_response *o = &resp->responses[i];
    kafka_alter_configs_response_resource_response_init(o);
    o->resource_type = r->resource_type;
    o->resource_name = r->resource_name;
    if (!kafka_admin_topic_resource(b, i, r->resource_type, r->resource_name)) {
        return;
    }
    int32_t n = r->configs_count > 0 ? r->configs_count : 0;
    struct metadata_config_entry *entries =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *entries);
    for (int32_t k = 0; entries != NULL && k < n; k++) {
        entries[k].key = r->configs[k].name;
        entries[k].value = r->configs[k].value;
    }
    kafka_admin_alter_topic_config(b, i, r->resource_name, entries, (size_t)n, true,
                                   req->validate_only);
}

void kafka_handle_alter_configs(struct kafka_call *call)
{
    struct kafka_alter_configs_request req;
    int rv = kafka_alter_configs_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.resources_count > 0 ? req.resources_count : 0;
    struct kafka_alter_configs_response *resp = kafka_arena_alloc(&call->arena, sizeof *resp);
    struct kafka_alter_configs_response_resource_response *responses =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *responses);
    struct kafka_admin_batch *b = kafka_admin_batch_new(call, n, encode_response, resp);
    if (resp == NULL || responses == NULL || b == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_alter_configs_response_init(resp);
    resp->responses = responses;
    resp->responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        alter_one(b, &req, i);
    }
    kafka_admin_batch_submitted(b);
}
