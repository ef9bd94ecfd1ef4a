/* CreatePartitions (key 37): grow a topic through the metadata view (with
 * the controller quorum: forwarded to the active controller, KIP-590).
 * Asynchronous: the response goes when every topic has its answer. */
#include <stdio.h>

#include "broker/kafka/admin_batch.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static int16_t check_assignments(struct kafka_call *call,
                                 const struct kafka_create_partitions_request_topic *t, char *err,
                                 size_t errlen)
{
    int32_t self = metadata_view_local_node(call->svc->metadata);
    if (t->assignments_count > 0 && metadata_view_broker_count(call->svc->metadata) > 1) {
        snprintf(err, errlen,
                 "Manual replica assignment is not supported yet: let the "
                 "controller place the replicas");
        return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int32_t i = 0; i < t->assignments_count; i++) {
        const struct kafka_create_partitions_request_assignment *a = &t->assignments[i];
        if (a->broker_ids_count != 1 || a->broker_ids[0] != self) {
            snprintf(err, errlen, "Each new partition must be assigned to [%d], the only broker",
                     self);
            return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    return KAFKA_ERROR_NONE;
}

/* Each topic's answer is its op's result. */
static int encode_response(struct kafka_admin_batch *b, struct kafka_writer *w)
{
    struct kafka_create_partitions_response *resp = b->response;
    for (int32_t i = 0; i < b->count; i++) {
        resp->results[i].error_code = b->ops[i].error_code;
        resp->results[i].error_message = kafka_admin_batch_message(&b->ops[i]);
    }
    return kafka_create_partitions_response_encode(w, b->call->header.api_version, resp);
}

static void grow_one(struct kafka_admin_batch *b, const struct kafka_create_partitions_request *req,
                     int32_t i)
{
    struct kafka_call *call = b->call;
    const struct kafka_create_partitions_request_topic *t = &req->topics[i];
    struct kafka_create_partitions_response *resp = b->response;
    struct kafka_create_partitions_response_topic_result *o = &resp->results[i];
    kafka_create_partitions_response_topic_result_init(o);
    o->name = t->name;
    if (!kafka_authorize(call, ACL_OP_ALTER, ACL_RESOURCE_TOPIC, t->name ? t->name : "")) {
        metadata_admin_fail(&b->ops[i], kafka_admin_batch_op_done,
                            KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED, NULL);
        return;
    }
    char err[256];
    int16_t code = check_assignments(call, t, err, sizeof err);
    if (code != KAFKA_ERROR_NONE) {
        metadata_admin_fail(&b->ops[i], kafka_admin_batch_op_done, code, err);
        return;
    }
    uint64_t timeout = req->timeout_ms > 0 ? (uint64_t)req->timeout_ms
                                           : (uint64_t)call->svc->cfg->request_timeout_ms;
    if (!req->validate_only) {
        kafka_admin_batch_wait_for(b, i, t->name);
    }
    metadata_view_submit_add_partitions(call->svc->metadata, t->name, t->count, req->validate_only,
                                        timeout, &b->ops[i], kafka_admin_batch_op_done);
}

void kafka_handle_create_partitions(struct kafka_call *call)
{
    struct kafka_create_partitions_request req;
    int rv = kafka_create_partitions_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.topics_count > 0 ? req.topics_count : 0;
    struct kafka_create_partitions_response *resp = kafka_arena_alloc(&call->arena, sizeof *resp);
    struct kafka_create_partitions_response_topic_result *results =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *results);
    struct kafka_admin_batch *b = kafka_admin_batch_new(call, n, encode_response, resp);
    if (resp == NULL || results == NULL || b == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_create_partitions_response_init(resp);
    resp->results = results;
    resp->results_count = n;
    for (int32_t i = 0; i < n; i++) {
        grow_one(b, &req, i);
    }
    kafka_admin_batch_submitted(b);
}
