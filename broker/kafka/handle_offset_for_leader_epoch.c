/* OffsetForLeaderEpoch (key 23, v0-4): "where does leader epoch E end in
 * your log?", answered by the partition leader from its leader-epoch cache
 * (broker/log/leader_epoch_cache.h). KIP-320 consumers ask it after a leader
 * change to detect that the log they read was truncated; Kafka followers ask
 * it before fetching (KIP-101/279; Sluice followers use the internal RPC).
 * As in Kafka's Partition.lastOffsetForLeaderEpoch, the current leader epoch
 * is checked first (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH), then
 * leadership (NOT_LEADER_OR_FOLLOWER); an epoch the cache cannot place
 * answers NONE with epoch and offset -1. Authorization as Kafka's:
 * ClusterAction on the cluster (replicas) or Describe on each topic
 * (consumers, TOPIC_AUTHORIZATION_FAILED otherwise). */
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static void
answer_one(struct kafka_call *call, const char *topic,
           const struct kafka_offset_for_leader_epoch_request_offset_for_leader_partition *in,
           bool authorized, struct kafka_offset_for_leader_epoch_response_epoch_end_offset *out)
{
    kafka_offset_for_leader_epoch_response_epoch_end_offset_init(out);
    out->partition = in->partition;
    if (!authorized) {
        out->error_code = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
    /* Kafka checks the epoch before the role: a follower that knows a newer
     * epoch than the client still fences it. */
    const struct partition *hosted =
        replica_manager_partition(call->svc->replicas, topic, in->partition);
    if (hosted != NULL) {
        out->error_code = kafka_check_leader_epoch(in->current_leader_epoch, hosted->leader_epoch);
        if (out->error_code != KAFKA_ERROR_NONE) {
            return;
        }
    }
    /* NOT_LEADER_OR_FOLLOWER, or UNKNOWN_TOPIC_OR_PARTITION when not hosted. */
    struct partition *p = kafka_leader_partition(call, topic, in->partition, &out->error_code);
    if (p == NULL) {
        return;
    }
    struct leader_epoch_end end = partition_log_end_offset_for_epoch(p->log, in->leader_epoch);
    if (end.end_offset != LEADER_EPOCH_UNDEFINED_OFFSET) {
        out->leader_epoch = end.epoch;
        out->end_offset = end.end_offset;
    }
}

static int
answer_topic(struct kafka_call *call,
             const struct kafka_offset_for_leader_epoch_request_offset_for_leader_topic *in,
             bool cluster_action,
             struct kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result *out)
{
    kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result_init(out);
    int32_t np = in->partitions_count > 0 ? in->partitions_count : 0;
    out->topic = in->topic;
    out->partitions = kafka_arena_alloc_array(&call->arena, (size_t)np, sizeof *out->partitions);
    if (out->partitions == NULL) {
        return -1;
    }
    out->partitions_count = np;
    bool authorized = cluster_action || kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC,
                                                        in->topic ? in->topic : "");
    for (int32_t j = 0; j < np; j++) {
        answer_one(call, in->topic, &in->partitions[j], authorized, &out->partitions[j]);
    }
    return 0;
}

void kafka_handle_offset_for_leader_epoch(struct kafka_call *call)
{
    struct kafka_offset_for_leader_epoch_request req;
    int rv =
        kafka_offset_for_leader_epoch_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_offset_for_leader_epoch_response resp;
    kafka_offset_for_leader_epoch_response_init(&resp);
    int32_t nt = req.topics_count > 0 ? req.topics_count : 0;
    resp.topics = kafka_arena_alloc_array(&call->arena, (size_t)nt, sizeof *resp.topics);
    resp.topics_count = nt;
    bool cluster_action =
        kafka_authorize(call, ACL_OP_CLUSTER_ACTION, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME);
    for (int32_t i = 0; resp.topics != NULL && i < nt; i++) {
        if (answer_topic(call, &req.topics[i], cluster_action, &resp.topics[i]) != 0) {
            resp.topics = NULL;
        }
    }
    if (resp.topics == NULL) {
        kafka_call_fail(call, "out of memory building offset_for_leader_epoch response");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_offset_for_leader_epoch_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
