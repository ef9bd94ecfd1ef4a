/* CreatePartitions (key 37): grow a topic through the metadata view. */
#include <stdio.h>

#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "kafka_messages.h"

static int16_t check_assignments(struct kafka_call *call,
                                 const struct kafka_create_partitions_request_topic *t, char *err,
                                 size_t errlen)
{
    int32_t self = metadata_view_local_node(call->svc->metadata);
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

void kafka_handle_create_partitions(struct kafka_call *call)
{
    struct kafka_create_partitions_request req;
    int rv = kafka_create_partitions_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_create_partitions_response resp;
    kafka_create_partitions_response_init(&resp);
    int32_t n = req.topics_count > 0 ? req.topics_count : 0;
    resp.results = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *resp.results);
    if (resp.results == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.results_count = n;
    for (int32_t i = 0; i < n; i++) {
        const struct kafka_create_partitions_request_topic *t = &req.topics[i];
        struct kafka_create_partitions_response_topic_result *o = &resp.results[i];
        kafka_create_partitions_response_topic_result_init(o);
        o->name = t->name;
        char *err = kafka_arena_alloc(&call->arena, 256);
        if (err == NULL) {
            o->error_code = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
            continue;
        }
        o->error_code = check_assignments(call, t, err, 256);
        if (o->error_code == KAFKA_ERROR_NONE) {
            o->error_code = metadata_view_add_partitions(call->svc->metadata, t->name, t->count,
                                                         req.validate_only, err, 256);
        }
        o->error_message = o->error_code != KAFKA_ERROR_NONE ? err : NULL;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_create_partitions_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
