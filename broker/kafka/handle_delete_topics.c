/* DeleteTopics (key 20): through the metadata view; the replica manager
 * deletes the partition directories when notified. */
#include "broker/kafka/dispatch.h"
#include "broker/kafka/kafka_errors.h"
#include "kafka_messages.h"

void kafka_handle_delete_topics(struct kafka_call *call)
{
    struct kafka_delete_topics_request req;
    int rv = kafka_delete_topics_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_delete_topics_response resp;
    kafka_delete_topics_response_init(&resp);
    int32_t n = req.topic_names_count > 0 ? req.topic_names_count : 0;
    resp.responses = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *resp.responses);
    if (resp.responses == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_delete_topics_response_deletable_topic_result *o = &resp.responses[i];
        kafka_delete_topics_response_deletable_topic_result_init(o);
        o->name = req.topic_names[i];
        char err[256];
        o->error_code = req.topic_names[i] == NULL
                            ? KAFKA_ERROR_INVALID_REQUEST
                            : metadata_view_delete_topic(call->svc->metadata, req.topic_names[i],
                                                         err, sizeof err);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_delete_topics_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
