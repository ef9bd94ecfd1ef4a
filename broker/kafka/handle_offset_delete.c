/* OffsetDelete (key 47): drop a group's committed offsets for partitions
 * its members do not consume (KIP-496). */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

void kafka_handle_offset_delete(struct kafka_call *call)
{
    struct kafka_offset_delete_request req;
    int rv = kafka_offset_delete_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t nt = req.topics_count > 0 ? req.topics_count : 0;
    size_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        n += req.topics[i].partitions_count > 0 ? (size_t)req.topics[i].partitions_count : 0;
    }
    struct group_offset_ref *refs = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *refs);
    struct kafka_offset_delete_response resp;
    kafka_offset_delete_response_init(&resp);
    resp.topics = kafka_arena_alloc_array(&call->arena, (size_t)nt + 1, sizeof *resp.topics);
    if (refs == NULL || resp.topics == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    size_t k = 0;
    for (int32_t i = 0; i < nt; i++) {
        for (int32_t j = 0; j < req.topics[i].partitions_count; j++) {
            refs[k++] = (struct group_offset_ref){req.topics[i].name,
                                                  req.topics[i].partitions[j].partition_index, 0};
        }
    }
    resp.error_code = group_delete_offsets(call->svc->groups, req.group_id, refs, n);
    resp.topics_count = resp.error_code == KAFKA_ERROR_NONE ? nt : 0;
    k = 0;
    for (int32_t i = 0; i < resp.topics_count; i++) {
        struct kafka_offset_delete_response_topic *t = &resp.topics[i];
        int32_t np = req.topics[i].partitions_count > 0 ? req.topics[i].partitions_count : 0;
        kafka_offset_delete_response_topic_init(t);
        t->name = req.topics[i].name;
        t->partitions =
            kafka_arena_alloc_array(&call->arena, (size_t)np + 1, sizeof *t->partitions);
        if (t->partitions == NULL) {
            kafka_call_fail(call, "out of memory");
            return;
        }
        t->partitions_count = np;
        for (int32_t j = 0; j < np; j++, k++) {
            kafka_offset_delete_response_partition_init(&t->partitions[j]);
            t->partitions[j].partition_index = refs[k].partition;
            t->partitions[j].error_code = refs[k].error;
        }
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_offset_delete_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
