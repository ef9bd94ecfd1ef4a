/* AlterPartitionReassignments (key 45) and ListPartitionReassignments (key
 * 46), KIP-455. Alter: one metadata admin op per partition (admin_batch),
 * forwarded to the active controller; a null replica list cancels. List:
 * answered from this broker's view, which carries each partition's adding
 * and removing replicas; only partitions being reassigned are listed, as
 * Kafka does. */
#include <string.h>

#include "broker/kafka/admin_batch.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "kafka_messages.h"
#include "proto/kafka/kafka_errors.h"

/* Each partition's answer is its op's result, in request order. */
static int encode_alter(struct kafka_admin_batch *b, struct kafka_writer *w)
{
    struct kafka_alter_partition_reassignments_response *resp = b->response;
    int32_t k = 0;
    for (int32_t i = 0; i < resp->responses_count; i++) {
        struct kafka_alter_partition_reassignments_response_reassignable_topic_response *t =
            &resp->responses[i];
        for (int32_t j = 0; j < t->partitions_count; j++, k++) {
            t->partitions[j].error_code = b->ops[k].error_code;
            t->partitions[j].error_message = kafka_admin_batch_message(&b->ops[k]);
        }
    }
    return kafka_alter_partition_reassignments_response_encode(w, b->call->header.api_version,
                                                               resp);
}

/* The response's shape (one entry per requested partition); the total
 * partition count, or -1 when the arena is exhausted. */
static int32_t shape_alter(struct kafka_call *call,
                           const struct kafka_alter_partition_reassignments_request *req,
                           struct kafka_alter_partition_reassignments_response *resp)
{
    int32_t n = req->topics_count > 0 ? req->topics_count : 0;
    resp->responses = kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *resp->responses);
    if (resp->responses == NULL) {
        return -1;
    }
    resp->responses_count = n;
    int32_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        const struct kafka_alter_partition_reassignments_request_reassignable_topic *t =
            &req->topics[i];
        struct kafka_alter_partition_reassignments_response_reassignable_topic_response *o =
            &resp->responses[i];
        kafka_alter_partition_reassignments_response_reassignable_topic_response_init(o);
        o->name = t->name != NULL ? t->name : "";
        int32_t count = t->partitions_count > 0 ? t->partitions_count : 0;
        o->partitions =
            kafka_arena_alloc_array(&call->arena, (size_t)count + 1, sizeof *o->partitions);
        if (o->partitions == NULL) {
            return -1;
        }
        o->partitions_count = count;
        for (int32_t j = 0; j < count; j++) {
            kafka_alter_partition_reassignments_response_reassignable_partition_response_init(
                &o->partitions[j]);
            o->partitions[j].partition_index = t->partitions[j].partition_index;
        }
        total += count;
    }
    return total;
}

void kafka_handle_alter_partition_reassignments(struct kafka_call *call)
{
    struct kafka_alter_partition_reassignments_request req;
    int rv = kafka_alter_partition_reassignments_request_decode(&call->body,
                                                                call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_alter_partition_reassignments_response *resp =
        kafka_arena_alloc(&call->arena, sizeof *resp);
    if (resp == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_alter_partition_reassignments_response_init(resp);
    int32_t total = shape_alter(call, &req, resp);
    struct kafka_admin_batch *b =
        total >= 0 ? kafka_admin_batch_new(call, total, encode_alter, resp) : NULL;
    if (b == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    uint64_t timeout = req.timeout_ms > 0 ? (uint64_t)req.timeout_ms
                                          : (uint64_t)call->svc->cfg->request_timeout_ms;
    /* Kafka: Alter on the cluster, else the response and each partition
     * answer CLUSTER_AUTHORIZATION_FAILED. */
    bool authorized = kafka_authorize(call, ACL_OP_ALTER, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME);
    if (!authorized) {
        resp->error_code = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
    }
    int32_t k = 0;
    for (int32_t i = 0; i < resp->responses_count; i++) {
        const struct kafka_alter_partition_reassignments_request_reassignable_topic *t =
            &req.topics[i];
        for (int32_t j = 0; j < resp->responses[i].partitions_count; j++, k++) {
            const struct kafka_alter_partition_reassignments_request_reassignable_partition *p =
                &t->partitions[j];
            bool cancel = p->replicas_count < 0;
            if (!authorized) {
                metadata_admin_fail(&b->ops[k], kafka_admin_batch_op_done,
                                    KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED, NULL);
                continue;
            }
            if (t->name == NULL) {
                metadata_admin_fail(&b->ops[k], kafka_admin_batch_op_done,
                                    KAFKA_ERROR_INVALID_REQUEST, "topic name is null");
                continue;
            }
            kafka_admin_batch_wait_for(b, k, t->name); /* replicas added here open */
            metadata_view_submit_reassign(call->svc->metadata, t->name, p->partition_index,
                                          p->replicas, cancel ? 0 : p->replicas_count, cancel,
                                          timeout, &b->ops[k], kafka_admin_batch_op_done);
        }
    }
    kafka_admin_batch_submitted(b);
}

/* ---- ListPartitionReassignments ---- */

static bool reassigning(const struct metadata_partition *p)
{
    return p->n_adding > 0 || p->n_removing > 0;
}

/* Append partition `p` of topic answer `o` (room reserved by the caller). */
static void
add_ongoing(struct kafka_list_partition_reassignments_response_ongoing_topic_reassignment *o,
            const struct metadata_partition *p)
{
    struct kafka_list_partition_reassignments_response_ongoing_partition_reassignment *e =
        &o->partitions[o->partitions_count++];
    kafka_list_partition_reassignments_response_ongoing_partition_reassignment_init(e);
    e->partition_index = p->index;
    /* The view outlives the encode (same loop turn), so borrowing is safe. */
    e->replicas = (int32_t *)p->replicas;
    e->replicas_count = p->n_replicas;
    e->adding_replicas = (int32_t *)p->adding;
    e->adding_replicas_count = p->n_adding;
    e->removing_replicas = (int32_t *)p->removing;
    e->removing_replicas_count = p->n_removing;
}

/* Topic `t`'s ongoing reassignments (of `indexes`, or all when NULL) as
 * answer `o`; an empty answer is left out by the caller. */
static int
add_topic(struct kafka_call *call,
          struct kafka_list_partition_reassignments_response_ongoing_topic_reassignment *o,
          const struct metadata_topic *t, const int32_t *indexes, int32_t n_indexes)
{
    kafka_list_partition_reassignments_response_ongoing_topic_reassignment_init(o);
    o->name = t->name;
    o->partitions =
        kafka_arena_alloc_array(&call->arena, (size_t)t->n_partitions + 1, sizeof *o->partitions);
    if (o->partitions == NULL) {
        return -1;
    }
    o->partitions_count = 0;
    for (int32_t j = 0; j < t->n_partitions; j++) {
        bool wanted = indexes == NULL;
        for (int32_t k = 0; !wanted && k < n_indexes; k++) {
            wanted = indexes[k] == j;
        }
        if (wanted && reassigning(&t->partitions[j])) {
            add_ongoing(o, &t->partitions[j]);
        }
    }
    return 0;
}

void kafka_handle_list_partition_reassignments(struct kafka_call *call)
{
    struct kafka_list_partition_reassignments_request req;
    int rv = kafka_list_partition_reassignments_request_decode(&call->body,
                                                               call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    const struct metadata_view *v = call->svc->metadata;
    struct kafka_list_partition_reassignments_response resp;
    kafka_list_partition_reassignments_response_init(&resp);
    size_t n = req.topics_count < 0 ? metadata_view_topic_count(v) : (size_t)req.topics_count;
    if (!kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME)) {
        resp.error_code = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
        n = 0; /* Kafka: Describe on the cluster, else nothing is listed */
    }
    const struct metadata_topic **topics =
        kafka_arena_alloc_array(&call->arena, n + 1, sizeof *topics);
    resp.topics = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *resp.topics);
    if (topics == NULL || resp.topics == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    if (req.topics_count < 0 && n > 0) {
        n = metadata_view_topics(v, topics, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            const char *name = req.topics[i].name;
            topics[i] = name != NULL ? metadata_view_topic(v, name) : NULL;
        }
    }
    resp.topics_count = 0;
    for (size_t i = 0; i < n; i++) {
        if (topics[i] == NULL) {
            continue; /* Kafka lists only ongoing reassignments: unknown topics have none */
        }
        const int32_t *indexes = req.topics_count < 0 ? NULL : req.topics[i].partition_indexes;
        int32_t n_indexes = req.topics_count < 0 ? 0 : req.topics[i].partition_indexes_count;
        struct kafka_list_partition_reassignments_response_ongoing_topic_reassignment *o =
            &resp.topics[resp.topics_count];
        if (add_topic(call, o, topics[i], indexes, n_indexes) != 0) {
            kafka_call_fail(call, "out of memory");
            return;
        }
        resp.topics_count += o->partitions_count > 0;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv =
            kafka_list_partition_reassignments_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
