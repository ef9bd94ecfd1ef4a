/* SyncGroup (key 14): the leader's assignment in, each member's out. */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static void answer(void *arg, int16_t error, const uint8_t *assignment, size_t len)
{
    struct kafka_call *call = arg;
    struct kafka_sync_group_response resp;
    kafka_sync_group_response_init(&resp);
    resp.error_code = error;
    resp.assignment.data = assignment ? assignment : (const uint8_t *)"";
    resp.assignment.len = (int32_t)len;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_sync_group_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

void kafka_handle_sync_group(struct kafka_call *call)
{
    struct kafka_sync_group_request req;
    int rv = kafka_sync_group_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    if (!kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_GROUP, req.group_id ? req.group_id : "")) {
        answer(call, KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED, NULL, 0);
        return;
    }
    int32_t n = req.assignments_count > 0 ? req.assignments_count : 0;
    struct group_assignment *as = kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *as);
    if (as == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        as[i].member_id = req.assignments[i].member_id;
        as[i].data = req.assignments[i].assignment.data;
        as[i].len =
            req.assignments[i].assignment.len > 0 ? (size_t)req.assignments[i].assignment.len : 0;
    }
    struct group_sync_request sr = {
        req.group_id, req.generation_id, req.member_id ? req.member_id : "", req.group_instance_id,
        as,           (size_t)n};
    group_sync(call->svc->groups, &sr, answer, call);
}
