/* DeleteTopics (key 20): through the metadata view (with the controller
 * quorum: forwarded to the active controller, KIP-590); the replica manager
 * deletes the partition directories when notified. Asynchronous: the
 * response goes when every topic has its answer. */
#include "broker/kafka/admin_batch.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

/* Each topic's answer is its op's result. DeleteTopics v1-3 results carry
 * no error message: the code says it all. */
static int encode_response(struct kafka_admin_batch *b, struct kafka_writer *w)
{
    struct kafka_delete_topics_response *resp = b->response;
    for (int32_t i = 0; i < b->count; i++) {
        resp->responses[i].error_code = b->ops[i].error_code;
    }
    return kafka_delete_topics_response_encode(w, b->call->header.api_version, resp);
}

void kafka_handle_delete_topics(struct kafka_call *call)
{
    struct kafka_delete_topics_request req;
    int rv = kafka_delete_topics_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.topic_names_count > 0 ? req.topic_names_count : 0;
    struct kafka_delete_topics_response *resp = kafka_arena_alloc(&call->arena, sizeof *resp);
    struct kafka_delete_topics_response_deletable_topic_result *results =
        kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *results);
    struct kafka_admin_batch *b = kafka_admin_batch_new(call, n, encode_response, resp);
    if (resp == NULL || results == NULL || b == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    kafka_delete_topics_response_init(resp);
    resp->responses = results;
    resp->responses_count = n;
    uint64_t timeout = req.timeout_ms > 0 ? (uint64_t)req.timeout_ms
                                          : (uint64_t)call->svc->cfg->request_timeout_ms;
    for (int32_t i = 0; i < n; i++) {
        kafka_delete_topics_response_deletable_topic_result_init(&results[i]);
        results[i].name = req.topic_names[i];
        if (req.topic_names[i] == NULL) {
            metadata_admin_fail(&b->ops[i], kafka_admin_batch_op_done, KAFKA_ERROR_INVALID_REQUEST,
                                NULL);
        } else if (!kafka_authorize(call, ACL_OP_DELETE, ACL_RESOURCE_TOPIC, req.topic_names[i])) {
            metadata_admin_fail(&b->ops[i], kafka_admin_batch_op_done,
                                KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED, NULL);
        } else {
            metadata_view_submit_delete_topic(call->svc->metadata, req.topic_names[i], timeout,
                                              &b->ops[i], kafka_admin_batch_op_done);
        }
    }
    kafka_admin_batch_submitted(b);
}
