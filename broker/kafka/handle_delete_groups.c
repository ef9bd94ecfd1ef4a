/* DeleteGroups (key 42): groups without members, with their offsets. */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

void kafka_handle_delete_groups(struct kafka_call *call)
{
    struct kafka_delete_groups_request req;
    int rv = kafka_delete_groups_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.groups_names_count > 0 ? req.groups_names_count : 0;
    struct kafka_delete_groups_response resp;
    kafka_delete_groups_response_init(&resp);
    resp.results = kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *resp.results);
    if (resp.results == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.results_count = n;
    for (int32_t i = 0; i < n; i++) {
        kafka_delete_groups_response_deletable_group_result_init(&resp.results[i]);
        resp.results[i].group_id = req.groups_names[i];
        resp.results[i].error_code = group_delete(call->svc->groups, req.groups_names[i]);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_delete_groups_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
