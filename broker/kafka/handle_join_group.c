/* JoinGroup (key 11): decode, hand to the group coordinator, answer when it
 * does (at once, or when the rebalance's join phase ends). */
#include <stdio.h>
#include <string.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static void answer(void *arg, const struct group_join_result *r)
{
    struct kafka_call *call = arg;
    struct kafka_join_group_response resp;
    kafka_join_group_response_init(&resp);
    resp.error_code = r->error;
    resp.generation_id = r->generation;
    resp.protocol_name = r->protocol_name ? r->protocol_name : "";
    resp.leader = r->leader ? r->leader : "";
    resp.member_id = r->member_id ? r->member_id : "";
    resp.members_count = 0;
    struct kafka_join_group_response_member *ms =
        kafka_arena_alloc_array(&call->arena, r->n_members + 1, sizeof *ms);
    if (ms == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    for (size_t i = 0; i < r->n_members; i++) {
        kafka_join_group_response_member_init(&ms[i]);
        ms[i].member_id = r->members[i].member_id;
        ms[i].group_instance_id = r->members[i].instance_id;
        ms[i].metadata.data = r->members[i].metadata;
        ms[i].metadata.len = (int32_t)r->members[i].len;
    }
    resp.members = ms;
    resp.members_count = (int32_t)r->n_members;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_join_group_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

/* Kafka's client host: "/" and the peer's address without its port. */
const char *kafka_client_host(struct kafka_call *call)
{
    const char *peer = kafka_conn_peer(call->req->conn);
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    char *h = kafka_arena_alloc(&call->arena, n + 2);
    if (h == NULL) {
        return "";
    }
    snprintf(h, n + 2, "/%.*s", (int)n, peer);
    return h;
}

void kafka_handle_join_group(struct kafka_call *call)
{
    struct kafka_join_group_request req;
    int rv = kafka_join_group_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    if (!kafka_authorize(call, ACL_OP_READ, ACL_RESOURCE_GROUP, req.group_id ? req.group_id : "")) {
        struct group_join_result denied = {.error = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED,
                                           .generation = -1};
        answer(call, &denied);
        return;
    }
    int32_t np = req.protocols_count > 0 ? req.protocols_count : 0;
    struct group_protocol *ps = kafka_arena_alloc_array(&call->arena, (size_t)np + 1, sizeof *ps);
    if (ps == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    for (int32_t i = 0; i < np; i++) {
        ps[i].name = req.protocols[i].name;
        ps[i].metadata = req.protocols[i].metadata.data;
        ps[i].len = req.protocols[i].metadata.len > 0 ? (size_t)req.protocols[i].metadata.len : 0;
    }
    struct group_join_request gr = {
        .group_id = req.group_id,
        .member_id = req.member_id ? req.member_id : "",
        .instance_id = req.group_instance_id,
        .protocol_type = req.protocol_type,
        .client_id = call->header.client_id ? call->header.client_id : "",
        .client_host = kafka_client_host(call),
        .session_timeout_ms = req.session_timeout_ms,
        /* v0 has no rebalance timeout: it is the session timeout. */
        .rebalance_timeout_ms =
            call->header.api_version >= 1 ? req.rebalance_timeout_ms : req.session_timeout_ms,
        .require_known_member = call->header.api_version >= 4,
        .protocols = ps,
        .n_protocols = (size_t)np,
    };
    if (gr.rebalance_timeout_ms <= 0) {
        gr.rebalance_timeout_ms = gr.session_timeout_ms;
    }
    group_join(call->svc->groups, &gr, answer, call);
}
