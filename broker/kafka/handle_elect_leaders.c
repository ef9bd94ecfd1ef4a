/* ElectLeaders (key 43, KIP-460): PREFERRED elections forwarded to the active
 * controller, one metadata admin op per partition (admin_batch). Sluice's
 * controller never elects a replica outside the ISR, so UNCLEAN is refused
 * per partition. A null topic list means every partition this broker's view
 * shows led by another than its preferred replica (as Kafka's controller
 * answers: the partitions already led by it are left out). */
#include <string.h>

#include "broker/kafka/admin_batch.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "kafka_messages.h"
#include "proto/kafka/kafka_errors.h"

#define ELECTION_TYPE_PREFERRED 0

/* Each partition's answer is its op's result; ops run topic by topic in
 * response order. */
static int encode_response(struct kafka_admin_batch *b, struct kafka_writer *w)
{
    struct kafka_elect_leaders_response *resp = b->response;
    int32_t k = 0;
    for (int32_t i = 0; i < resp->replica_election_results_count; i++) {
        struct kafka_elect_leaders_response_replica_election_result *t =
            &resp->replica_election_results[i];
        for (int32_t j = 0; j < t->partition_result_count; j++, k++) {
            t->partition_result[j].error_code = b->ops[k].error_code;
            t->partition_result[j].error_message = kafka_admin_batch_message(&b->ops[k]);
        }
    }
    return kafka_elect_leaders_response_encode(w, b->call->header.api_version, resp);
}

/* Allocate topic i's answer with room for `n` partitions, named `topic`
 * (copied into the arena: the view may change before the answer). */
static int add_topic(struct kafka_call *call, struct kafka_elect_leaders_response *resp, int32_t i,
                     const char *topic, int32_t n)
{
    struct kafka_elect_leaders_response_replica_election_result *t =
        &resp->replica_election_results[i];
    kafka_elect_leaders_response_replica_election_result_init(t);
    size_t len = strlen(topic) + 1;
    char *name = kafka_arena_alloc(&call->arena, len);
    t->partition_result =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof(*t->partition_result));
    if (name == NULL || t->partition_result == NULL) {
        return -1;
    }
    memcpy(name, topic, len);
    t->topic = name;
    t->partition_result_count = n;
    for (int32_t j = 0; j < n; j++) {
        kafka_elect_leaders_response_partition_result_init(&t->partition_result[j]);
    }
    return 0;
}

static int32_t unpreferred_count(const struct metadata_topic *t)
{
    int32_t n = 0;
    for (int32_t j = 0; j < t->n_partitions; j++) {
        const struct metadata_partition *p = &t->partitions[j];
        n += p->n_replicas > 0 && p->leader != p->replicas[0];
    }
    return n;
}

/* The null topic list: every partition of the view not led by its
 * preferred replica. */
static int shape_all(struct kafka_call *call, struct kafka_elect_leaders_response *resp)
{
    const struct metadata_view *v = call->svc->metadata;
    size_t n = metadata_view_topic_count(v);
    const struct metadata_topic **topics = kafka_arena_alloc_array(&call->arena, n, sizeof *topics);
    resp->replica_election_results =
        kafka_arena_alloc_array(&call->arena, n, sizeof *resp->replica_election_results);
    if (topics == NULL || resp->replica_election_results == NULL) {
        return -1;
    }
    n = metadata_view_topics(v, topics, n);
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t count = unpreferred_count(topics[i]);
        if (count == 0) {
            continue;
        }
        if (add_topic(call, resp, k, topics[i]->name, count) != 0) {
            return -1;
        }
        struct kafka_elect_leaders_response_partition_result *out =
            resp->replica_election_results[k++].partition_result;
        for (int32_t j = 0, m = 0; j < topics[i]->n_partitions; j++) {
            const struct metadata_partition *p = &topics[i]->partitions[j];
            if (p->n_replicas > 0 && p->leader != p->replicas[0]) {
                out[m++].partition_id = p->index;
            }
        }
    }
    resp->replica_election_results_count = k;
    return 0;
}

/* The partitions the request names, in its order. */
static int shape_listed(struct kafka_call *call, const struct kafka_elect_leaders_request *req,
                        struct kafka_elect_leaders_response *resp)
{
    int32_t n = req->topic_partitions_count;
    resp->replica_election_results =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *resp->replica_election_results);
    if (resp->replica_election_results == NULL) {
        return -1;
    }
    for (int32_t i = 0; i < n; i++) {
        const struct kafka_elect_leaders_request_topic_partitions *t = &req->topic_partitions[i];
        int32_t count = t->partitions_count > 0 ? t->partitions_count : 0;
        if (add_topic(call, resp, i, t->topic != NULL ? t->topic : "", count) != 0) {
            return -1;
        }
        for (int32_t j = 0; j < count; j++) {
            resp->replica_election_results[i].partition_result[j].partition_id = t->partitions[j];
        }
    }
    resp->replica_election_results_count = n;
    return 0;
}

void kafka_handle_elect_leaders(struct kafka_call *call)
{
    struct kafka_elect_leaders_request req;
    int rv = kafka_elect_leaders_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_elect_leaders_response *resp = kafka_arena_alloc(&call->arena, sizeof *resp);
    if (resp == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_elect_leaders_response_init(resp);
    /* Kafka: without Alter on the cluster, the request's partitions (none
     * for "all") each answer CLUSTER_AUTHORIZATION_FAILED, as does the
     * response itself (v1+). */
    bool authorized = kafka_authorize(call, ACL_OP_ALTER, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME);
    if (!authorized) {
        resp->error_code = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
        rv = req.topic_partitions_count < 0 ? 0 : shape_listed(call, &req, resp);
    } else {
        rv =
            req.topic_partitions_count < 0 ? shape_all(call, resp) : shape_listed(call, &req, resp);
    }
    int32_t total = 0;
    for (int32_t i = 0; rv == 0 && i < resp->replica_election_results_count; i++) {
        total += resp->replica_election_results[i].partition_result_count;
    }
    struct kafka_admin_batch *b =
        rv == 0 ? kafka_admin_batch_new(call, total, encode_response, resp) : NULL;
    if (b == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    uint64_t timeout = req.timeout_ms > 0 ? (uint64_t)req.timeout_ms
                                          : (uint64_t)call->svc->cfg->request_timeout_ms;
    int32_t k = 0;
    for (int32_t i = 0; i < resp->replica_election_results_count; i++) {
        const struct kafka_elect_leaders_response_replica_election_result *t =
            &resp->replica_election_results[i];
        for (int32_t j = 0; j < t->partition_result_count; j++, k++) {
            if (!authorized) {
                metadata_admin_fail(&b->ops[k], kafka_admin_batch_op_done,
                                    KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED, NULL);
                continue;
            }
            if (req.election_type != ELECTION_TYPE_PREFERRED) {
                metadata_admin_fail(&b->ops[k], kafka_admin_batch_op_done,
                                    KAFKA_ERROR_INVALID_REQUEST,
                                    "only PREFERRED elections: the controller never elects a "
                                    "replica outside the ISR");
                continue;
            }
            metadata_view_submit_elect_preferred(call->svc->metadata, t->topic,
                                                 t->partition_result[j].partition_id, timeout,
                                                 &b->ops[k], kafka_admin_batch_op_done);
        }
    }
    kafka_admin_batch_submitted(b);
}
