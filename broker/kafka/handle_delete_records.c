/* DeleteRecords (key 21): move a partition's log start offset forward; -1
 * means the high watermark. Offsets above it are OFFSET_OUT_OF_RANGE. */
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/partition_walk.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static void delete_one(struct kafka_call *call, const char *topic,
                       const struct kafka_delete_records_request_partition *in,
                       struct kafka_delete_records_response_partition_result *out)
{
    kafka_delete_records_response_partition_result_init(out);
    out->partition_index = in->partition_index;
    out->low_watermark = -1;
    if (!kafka_authorize(call, ACL_OP_DELETE, ACL_RESOURCE_TOPIC, topic ? topic : "")) {
        out->error_code = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
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
    KAFKA_WALK_PARTITIONS(rv, call, &req, &resp, kafka_delete_records_response_topic_result_init,
                          delete_one);
    if (rv != 0) {
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
