/* Heartbeat (key 12): keeps a member's session; tells it of a rebalance. */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

void kafka_handle_heartbeat(struct kafka_call *call)
{
    struct kafka_heartbeat_request req;
    int rv = kafka_heartbeat_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_heartbeat_response resp;
    kafka_heartbeat_response_init(&resp);
    if (!kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_GROUP, req.group_id ? req.group_id : "")) {
        resp.error_code = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
    } else {
        resp.error_code =
            group_heartbeat(call->svc->groups, req.group_id, req.generation_id,
                            req.member_id ? req.member_id : "", req.group_instance_id);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_heartbeat_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
