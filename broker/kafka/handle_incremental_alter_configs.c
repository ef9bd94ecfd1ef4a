/* IncrementalAlterConfigs (key 44, KIP-339): SET and DELETE on topic configs;
 * keys not mentioned keep their values. APPEND/SUBTRACT (list-valued keys)
 * are refused with INVALID_REQUEST. Broker configs are static in Sluice but
 * for the replication throttle rates (a BROKER resource: a broker id, or
 * empty for every broker; ALTER_CONFIGS on the cluster), which
 * `sluicectl partition reassign --throttle` sets as kafka-reassign-partitions.sh does.
 * Through the metadata view (with the controller quorum: forwarded to the
 * active controller), asynchronously. */
#include "broker/kafka/admin_batch.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

enum { OP_SET = 0, OP_DELETE = 1 };
enum { RESOURCE_BROKER = 4 }; /* Kafka's ConfigResource.Type */

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

/* Each resource's answer is its op's result. */
static int encode_response(struct kafka_admin_batch *b, struct kafka_writer *w)
{
    struct kafka_incremental_alter_configs_response *resp = b->response;
    for (int32_t i = 0; i < b->count; i++) {
        resp->responses[i].error_code = b->ops[i].error_code;
        resp->responses[i].error_message = kafka_admin_batch_message(&b->ops[i]);
    }
    return kafka_incremental_alter_configs_response_encode(w, b->call->header.api_version, resp);
}

static void
alter_one(struct kafka_admin_batch *b, bool validate_only, int32_t i,
          const struct kafka_incremental_alter_configs_request_alter_configs_resource *r)
{
    struct kafka_call *call = b->call;
    struct metadata_admin_op *op = &b->ops[i];
    struct kafka_incremental_alter_configs_response *resp = b->response;
    struct kafka_incremental_alter_configs_response_alter_configs_resource_response *o =
        &resp->responses[i];
    kafka_incremental_alter_configs_response_alter_configs_resource_response_init(o);
    o->resource_type = r->resource_type;
    o->resource_name = r->resource_name;
    bool broker = r->resource_type == RESOURCE_BROKER;
    if (!broker && !kafka_admin_topic_resource(b, i, r->resource_type, r->resource_name)) {
        return;
    }
    struct metadata_config_entry *entries = NULL;
    const char *why = NULL;
    int16_t code = entries_of(call, r, &entries, &why);
    if (code == KAFKA_ERROR_NONE && broker &&
        !kafka_authorize(call, ACL_OP_ALTER_CONFIGS, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME)) {
        code = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
    }
    if (code != KAFKA_ERROR_NONE) {
        metadata_admin_fail(op, kafka_admin_batch_op_done, code, why);
        return;
    }
    size_t n = r->configs_count > 0 ? (size_t)r->configs_count : 0;
    if (broker) {
        metadata_view_submit_alter_broker_config(
            call->svc->metadata, r->resource_name != NULL ? r->resource_name : "", entries, n,
            validate_only, (uint64_t)call->svc->cfg->request_timeout_ms, op,
            kafka_admin_batch_op_done);
        return;
    }
    kafka_admin_alter_topic_config(b, i, r->resource_name, entries, n, false, validate_only);
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
    int32_t n = req.resources_count > 0 ? req.resources_count : 0;
    struct kafka_incremental_alter_configs_response *resp =
        kafka_arena_alloc(&call->arena, sizeof *resp);
    struct kafka_incremental_alter_configs_response_alter_configs_resource_response *responses =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *responses);
    struct kafka_admin_batch *b = kafka_admin_batch_new(call, n, encode_response, resp);
    if (resp == NULL || responses == NULL || b == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_incremental_alter_configs_response_init(resp);
    resp->responses = responses;
    resp->responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        alter_one(b, req.validate_only, i, &req.resources[i]);
    }
    kafka_admin_batch_submitted(b);
}
