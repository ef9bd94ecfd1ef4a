/* CreateTopics (key 19): through the metadata view, which checks names,
 * counts and configs. -1 partitions / replication factor take the broker
 * defaults (KIP-464). Manual assignments must name existing brokers. */
#include <stdio.h>
#include <string.h>

#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
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

static void create_one(struct kafka_call *call, const struct kafka_create_topics_request *req,
                       int32_t i, struct kafka_create_topics_response_creatable_topic_result *out)
{
    const struct kafka_create_topics_request_creatable_topic *t = &req->topics[i];
    kafka_create_topics_response_creatable_topic_result_init(out);
    out->name = t->name;
    char *err = kafka_arena_alloc(&call->arena, 512);
    if (err == NULL) {
        out->error_code = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        return;
    }
    err[0] = '\0';
    if (duplicate(req, i)) {
        out->error_code = KAFKA_ERROR_INVALID_REQUEST;
        snprintf(err, 512, "Create topics request from client contains a duplicate topic.");
    } else {
        int32_t nc = t->configs_count > 0 ? t->configs_count : 0;
        struct metadata_config_entry *cfgs =
            kafka_arena_alloc_array(&call->arena, (size_t)nc, sizeof *cfgs);
        for (int32_t c = 0; cfgs != NULL && c < nc; c++) {
            cfgs[c].key = t->configs[c].name;
            cfgs[c].value = t->configs[c].value;
        }
        struct metadata_topic_spec spec = {t->name, t->num_partitions, t->replication_factor, cfgs,
                                           (size_t)nc};
        out->error_code = check_assignments(call, t, &spec, err, 512);
        if (out->error_code == KAFKA_ERROR_NONE) {
            out->error_code = metadata_view_create_topic(call->svc->metadata, &spec,
                                                         req->validate_only, NULL, err, 512);
        }
    }
    out->error_message = out->error_code != KAFKA_ERROR_NONE ? err : NULL;
}

void kafka_handle_create_topics(struct kafka_call *call)
{
    struct kafka_create_topics_request req;
    int rv = kafka_create_topics_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_create_topics_response resp;
    kafka_create_topics_response_init(&resp);
    int32_t n = req.topics_count > 0 ? req.topics_count : 0;
    resp.topics = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *resp.topics);
    if (resp.topics == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.topics_count = n;
    for (int32_t i = 0; i < n; i++) {
        create_one(call, &req, i, &resp.topics[i]);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_create_topics_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
