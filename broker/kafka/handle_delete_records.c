/* DeleteRecords (key 21): move a partition's log start offset forward; -1
 * means the high watermark. Offsets above it are OFFSET_OUT_OF_RANGE. */
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static void delete_one(struct kafka_call *call, const char *topic,
                       const struct kafka_delete_records_request_partition *in,
                       struct kafka_delete_records_response_partition_result *out)
{
    kafka_delete_records_response_partition_result_init(out);
    out->partition_index = in->partition_index;
    out->low_watermark = -1;
    struct partition *p =
        kafka_leader_partition(call, topic, in->partition_index, &out->error_code);
    if (p == NULL) {
        return;
    }
    int64_t low;
    int rv = partition_delete_records(p, in->offset, &low);
    out->error_code = kafka_error_from_log(rv);
    if (rv == 0) {
        out->low_watermark = low;
    }
}

void kafka_handle_delete_records(struct kafka_call *call)
{
    struct kafka_delete_records_request req;
    int rv = kafka_delete_records_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_delete_records_response resp;
    kafka_delete_records_response_init(&resp);
    int32_t nt = req.topics_count > 0 ? req.topics_count : 0;
    resp.topics = kafka_arena_alloc_array(&call->arena, (size_t)nt, sizeof *resp.topics);
    resp.topics_count = nt;
    for (int32_t i = 0; resp.topics != NULL && i < nt; i++) {
        struct kafka_delete_records_response_topic_result *o = &resp.topics[i];
        kafka_delete_records_response_topic_result_init(o);
        int32_t np = req.topics[i].partitions_count > 0 ? req.topics[i].partitions_count : 0;
        o->name = req.topics[i].name;
        o->partitions = kafka_arena_alloc_array(&call->arena, (size_t)np, sizeof *o->partitions);
        if (o->partitions == NULL) {
            resp.topics = NULL;
            break;
        }
        o->partitions_count = np;
        for (int32_t j = 0; j < np; j++) {
            delete_one(call, o->name, &req.topics[i].partitions[j], &o->partitions[j]);
        }
    }
    if (resp.topics == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_delete_records_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
