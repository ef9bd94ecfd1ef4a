/* DescribeProducers (key 61, v0; KIP-664): the idempotent producers a
 * partition's leader remembers (broker/log/producer_state.h): id, epoch,
 * last sequence, last timestamp, open transaction start (-1: none). Served by
 * the leader only (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION), as
 * in Kafka; `sluicectl producers TOPIC PARTITION` asks it. */
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/log/producer_state.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static int answer_partition(struct kafka_call *call, const char *topic, int32_t index,
                            bool authorized,
                            struct kafka_describe_producers_response_partition_response *out)
{
    kafka_describe_producers_response_partition_response_init(out);
    out->partition_index = index;
    if (!authorized) {
        out->error_code = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        return 0;
    }
    struct partition *p = kafka_leader_partition(call, topic, index, &out->error_code);
    if (p == NULL) {
        return 0;
    }
    const struct producer_state *ps = partition_log_producers(p->log);
    out->active_producers =
        kafka_arena_alloc_array(&call->arena, ps->count, sizeof *out->active_producers);
    if (out->active_producers == NULL) {
        return -1;
    }
    out->active_producers_count = (int32_t)ps->count;
    for (size_t i = 0; i < ps->count; i++) {
        const struct producer_entry *e = &ps->entries[i];
        struct kafka_describe_producers_response_producer_state *o = &out->active_producers[i];
        kafka_describe_producers_response_producer_state_init(o);
        o->producer_id = e->producer_id;
        o->producer_epoch = e->epoch;
        o->last_sequence = e->n_batches > 0 ? e->batches[e->n_batches - 1].last_seq : -1;
        o->last_timestamp = e->last_timestamp;
        o->coordinator_epoch = -1;
        o->current_txn_start_offset = e->txn_first_offset;
    }
    return 0;
}

static int answer_topic(struct kafka_call *call,
                        const struct kafka_describe_producers_request_topic_request *in,
                        struct kafka_describe_producers_response_topic_response *out)
{
    kafka_describe_producers_response_topic_response_init(out);
    int32_t np = in->partition_indexes_count > 0 ? in->partition_indexes_count : 0;
    out->name = in->name;
    out->partitions = kafka_arena_alloc_array(&call->arena, (size_t)np, sizeof *out->partitions);
    if (out->partitions == NULL) {
        return -1;
    }
    out->partitions_count = np;
    /* Kafka: Read on the topic. */
    bool authorized =
        kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_TOPIC, in->name ? in->name : "");
    for (int32_t j = 0; j < np; j++) {
        if (answer_partition(call, in->name, in->partition_indexes[j], authorized,
                             &out->partitions[j]) != 0) {
            return -1;
        }
    }
    return 0;
}

void kafka_handle_describe_producers(struct kafka_call *call)
{
    struct kafka_describe_producers_request req;
    int rv = kafka_describe_producers_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_describe_producers_response resp;
    kafka_describe_producers_response_init(&resp);
    int32_t nt = req.topics_count > 0 ? req.topics_count : 0;
    resp.topics = kafka_arena_alloc_array(&call->arena, (size_t)nt, sizeof *resp.topics);
    resp.topics_count = nt;
    for (int32_t i = 0; resp.topics != NULL && i < nt; i++) {
        if (answer_topic(call, &req.topics[i], &resp.topics[i]) != 0) {
            resp.topics = NULL;
        }
    }
    if (resp.topics == NULL) {
        kafka_call_fail(call, "out of memory building describe_producers response");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_describe_producers_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
