/* CreateTopics (key 19): through the metadata view, which checks names,
 * counts and configs (with the controller quorum: forwarded to the active
 * controller, KIP-590). -1 partitions / replication factor take the broker
 * defaults (KIP-464). Manual assignments are accepted only where they cannot
 * disagree with placement: on a lone broker, every partition on it.
 * Asynchronous: the response goes when every topic has its answer. */
#include <stdio.h>
#include <string.h>

#include "broker/kafka/admin_batch.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static bool duplicate(const struct kafka_create_topics_request *req, int32_t i)
{
    for (int32_t j = 0; j < req->topics_count; j++) {
        if (j != i && strcmp(req->topics[j].name, req->topics[i].name) == 0) {
            return true;
        }
    }
    return false;
}

/* Manual assignment: its size is the partition count; replicas must exist. */
static int16_t check_assignments(struct kafka_call *call,
                                 const struct kafka_create_topics_request_creatable_topic *t,
                                 struct metadata_topic_spec *spec, char *err, size_t errlen)
{
    if (t->assignments_count <= 0) {
        return KAFKA_ERROR_NONE;
    }
    if (t->num_partitions != -1 || t->replication_factor != -1) {
        snprintf(err, errlen,
                 "Both numPartitions or replicationFactor and replicasAssignments "
                 "were set. Both cannot be used at the same time.");
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    int32_t self = metadata_view_local_node(call->svc->metadata);
    if (metadata_view_broker_count(call->svc->metadata) > 1) {
        snprintf(err, errlen,
                 "Manual replica assignment is not supported yet: let the "
                 "controller place the replicas");
        return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (int32_t i = 0; i < t->assignments_count; i++) {
        const struct kafka_create_topics_request_creatable_replica_assignment *a =
            &t->assignments[i];
        if (a->partition_index != i || a->broker_ids_count != 1 || a->broker_ids[0] != self) {
            snprintf(err, errlen,
                     "Replica assignment for partition %d must be exactly [%d], the "
                     "only broker",
                     a->partition_index, self);
            return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    spec->num_partitions = t->assignments_count;
    spec->replication_factor = 1;
    return KAFKA_ERROR_NONE;
}

/* Each topic's answer is its op's result. */
static int encode_response(struct kafka_admin_batch *b, struct kafka_writer *w)
{
    struct kafka_create_topics_response *resp = b->response;
    for (int32_t i = 0; i < b->count; i++) {
        resp->topics[i].error_code = b->ops[i].error_code;
        resp->topics[i].error_message = kafka_admin_batch_message(&b->ops[i]);
    }
    return kafka_create_topics_response_encode(w, b->call->header.api_version, resp);
}

static void create_one(struct kafka_admin_batch *b, const struct kafka_create_topics_request *req,
                       int32_t i)
{
    struct kafka_call *call = b->call;
    const struct kafka_create_topics_request_creatable_topic *t = &req->topics[i];
    struct metadata_admin_op *op = &b->ops[i];
    struct kafka_create_topics_response *resp = b->response;
    kafka_create_topics_response_creatable_topic_result_init(&resp->topics[i]);
    resp->topics[i].name = t->name;
    if (duplicate(req, i)) {
        metadata_admin_fail(op, kafka_admin_batch_op_done, KAFKA_ERROR_INVALID_REQUEST,
                            "Create topics request from client contains a duplicate topic.");
        return;
    }
    /* Kafka: CREATE on the cluster, or on the topic. */
    if (!kafka_authorize(call, ACL_OP_CREATE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME) &&
        !kafka_authorize(call, ACL_OP_CREATE, ACL_RESOURCE_TOPIC, t->name ? t->name : "")) {
        metadata_admin_fail(op, kafka_admin_batch_op_done, KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED,
                            NULL);
        return;
    }
    int32_t nc = t->configs_count > 0 ? t->configs_count : 0;
    struct metadata_config_entry *cfgs =
        kafka_arena_alloc_array(&call->arena, (size_t)nc, sizeof *cfgs);
    for (int32_t c = 0; cfgs != NULL && c < nc; c++) {
        cfgs[c].key = t->configs[c].name;
        cfgs[c].value = t->configs[c].value;
    }
    struct metadata_topic_spec spec = {t->name, t->num_partitions, t->replication_factor, cfgs,
                                       (size_t)nc};
    char err[256];
    int16_t code = check_assignments(call, t, &spec, err, sizeof err);
    if (code != KAFKA_ERROR_NONE) {
        metadata_admin_fail(op, kafka_admin_batch_op_done, code, err);
        return;
    }
    uint64_t timeout = req->timeout_ms > 0 ? (uint64_t)req->timeout_ms
                                           : (uint64_t)call->svc->cfg->request_timeout_ms;
    if (!req->validate_only) {
        kafka_admin_batch_wait_for(b, i, t->name);
    }
    metadata_view_submit_create_topic(call->svc->metadata, &spec, req->validate_only, timeout, op,
                                      kafka_admin_batch_op_done);
}

void kafka_handle_create_topics(struct kafka_call *call)
{
    struct kafka_create_topics_request req;
    int rv = kafka_create_topics_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.topics_count > 0 ? req.topics_count : 0;
    struct kafka_create_topics_response *resp = kafka_arena_alloc(&call->arena, sizeof *resp);
    struct kafka_create_topics_response_creatable_topic_result *topics =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *topics);
    struct kafka_admin_batch *b = kafka_admin_batch_new(call, n, encode_response, resp);
    if (resp == NULL || topics == NULL || b == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_create_topics_response_init(resp);
    resp->topics = topics;
    resp->topics_count = n;
    for (int32_t i = 0; i < n; i++) {
        create_one(b, &req, i);
    }
    kafka_admin_batch_submitted(b);
}
