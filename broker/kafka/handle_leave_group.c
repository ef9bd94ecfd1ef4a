/* LeaveGroup (key 13): one member (v0-2) or a batch by member or instance
 * id (v3+, KIP-345). */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

void kafka_handle_leave_group(struct kafka_call *call)
{
    struct kafka_leave_group_request req;
    int16_t version = call->header.api_version;
    int rv = kafka_leave_group_request_decode(&call->body, version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    size_t n = version >= 3 ? (size_t)(req.members_count > 0 ? req.members_count : 0) : 1;
    struct group_member_ref *refs = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *refs);
    int16_t *errors = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *errors);
    struct kafka_leave_group_response_member_response *out =
        kafka_arena_alloc_array(&call->arena, n + 1, sizeof *out);
    if (refs == NULL || errors == NULL || out == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        refs[i].member_id = version >= 3 ? req.members[i].member_id : req.member_id;
        refs[i].instance_id = version >= 3 ? req.members[i].group_instance_id : NULL;
        errors[i] = KAFKA_ERROR_NONE;
        if (refs[i].member_id == NULL) {
            refs[i].member_id = "";
        }
    }
    struct kafka_leave_group_response resp;
    kafka_leave_group_response_init(&resp);
    resp.error_code =
        kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_GROUP, req.group_id ? req.group_id : "")
            ? group_leave(call->svc->groups, req.group_id, refs, n, errors)
            : KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
    for (size_t i = 0; i < n; i++) {
        kafka_leave_group_response_member_response_init(&out[i]);
        out[i].member_id = refs[i].member_id;
        out[i].group_instance_id = refs[i].instance_id;
        out[i].error_code = resp.error_code != KAFKA_ERROR_NONE ? resp.error_code : errors[i];
    }
    if (version < 3 && resp.error_code == KAFKA_ERROR_NONE) {
        resp.error_code = errors[0]; /* one member: its error is the answer */
    }
    resp.members = out;
    resp.members_count = version >= 3 ? (int32_t)n : 0;
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_leave_group_response_encode(&w, version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
