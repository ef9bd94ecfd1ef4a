/* ListOffsets (key 2): earliest (-2), latest (-1) and by timestamp. The
 * latest offset is the high watermark for read_uncommitted and the last
 * stable offset for read_committed (isolation_level 1, v2+);
 * OFFSET_NOT_AVAILABLE while a new leader's high watermark is below
 * the start of its epoch (KIP-207). */
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/kafka/partition_walk.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

#define LATEST_TIMESTAMP   (-1)
#define EARLIEST_TIMESTAMP (-2)

static void list_one(struct kafka_call *call, const char *topic,
                     const struct kafka_list_offsets_request_partition *in,
                     struct kafka_list_offsets_response_partition_response *out)
{
    kafka_list_offsets_response_partition_response_init(out);
    out->partition_index = in->partition_index;
    out->timestamp = -1;
    out->offset = -1;
    out->leader_epoch = -1;
    if (!kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, topic ? topic : "")) {
        out->error_code = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
    struct partition *p =
        kafka_leader_partition(call, topic, in->partition_index, &out->error_code);
    if (p == NULL) {
        return;
    }
    out->error_code = kafka_check_leader_epoch(in->current_leader_epoch, p->leader_epoch);
    if (out->error_code != KAFKA_ERROR_NONE) {
        return;
    }
    if (in->timestamp == LATEST_TIMESTAMP && !partition_hw_caught_up(p)) {
        /* KIP-207: a new leader whose high watermark has not caught up with
         * its epoch's start would answer an offset below what consumers saw
         * from the old leader; the client retries. */
        out->error_code = KAFKA_ERROR_OFFSET_NOT_AVAILABLE;
    } else if (in->timestamp == LATEST_TIMESTAMP) {
        out->offset = partition_high_watermark(p);
    } else if (in->timestamp == EARLIEST_TIMESTAMP) {
        out->offset = partition_log_start(p);
    } else if (in->timestamp < 0) {
        /* -3 (max timestamp, KIP-734) needs ListOffsets v7, not advertised. */
        out->error_code = KAFKA_ERROR_UNSUPPORTED_VERSION;
    } else {
        int64_t offset, ts;
        int rv = partition_offset_for_timestamp(p, in->timestamp, &offset, &ts);
        if (rv != 0) {
            out->error_code = kafka_error_from_log(rv);
        } else {
            out->offset = offset;
            out->timestamp = ts;
        }
    }
}

/* read_committed: LATEST answers the last stable offset. */
static void latest_is_stable(struct kafka_call *call, const struct kafka_list_offsets_request *req,
                             struct kafka_list_offsets_response *resp)
{
    for (int32_t i = 0; i < resp->topics_count; i++) {
        for (int32_t j = 0; j < resp->topics[i].partitions_count; j++) {
            struct kafka_list_offsets_response_partition_response *out =
                &resp->topics[i].partitions[j];
            if (req->topics[i].partitions[j].timestamp != LATEST_TIMESTAMP ||
                out->error_code != KAFKA_ERROR_NONE) {
                continue;
            }
            struct partition *p = replica_manager_partition(
                call->svc->replicas, resp->topics[i].name, out->partition_index);
            if (p != NULL) {
                out->offset = partition_last_stable_offset(p);
            }
        }
    }
}

void kafka_handle_list_offsets(struct kafka_call *call)
{
    struct kafka_list_offsets_request req;
    int rv = kafka_list_offsets_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_list_offsets_response resp;
    kafka_list_offsets_response_init(&resp);
    KAFKA_WALK_PARTITIONS(rv, call, &req, &resp, kafka_list_offsets_response_topic_response_init,
                          list_one);
    if (rv != 0) {
        kafka_call_fail(call, "out of memory building list_offsets response");
        return;
    }
    if (req.isolation_level == 1) {
        latest_is_stable(call, &req, &resp);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_list_offsets_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
