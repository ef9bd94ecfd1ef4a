/* FindCoordinator (key 10): the broker coordinating a consumer group (key
 * type 0), with the host and port it advertises on the listener this
 * request came through, or a transactional id (key type 1, broker/txn/);
 * v4 asks for several keys at once. */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/txn/txn_coordinator.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct located {
    int32_t node_id;
    const char *host; /* borrowed from the metadata view: encode before it changes */
    int32_t port;
};

static int16_t locate(struct kafka_call *call, int8_t key_type, const char *key,
                      struct located *out)
{
    *out = (struct located){-1, "", -1};
    /* Kafka: DESCRIBE on the group or the transactional id. */
    if (key_type == 0 &&
        !kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_GROUP, key ? key : "")) {
        return KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
    }
    if (key_type == 1 &&
        !kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_TRANSACTIONAL_ID, key ? key : "")) {
        return KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    }
    int32_t node = -1;
    int16_t err;
    if (key_type == 0) {
        err = group_find_coordinator(call->svc->groups, key, &node);
    } else if (key_type == 1 && call->svc->txns != NULL) {
        err = txn_find_coordinator(call->svc->txns, key, &node);
    } else {
        return KAFKA_ERROR_INVALID_REQUEST; /* Kafka's answer to an unknown key type */
    }
    if (err != KAFKA_ERROR_NONE) {
        return err;
    }
    const struct metadata_view *v = call->svc->metadata;
    for (size_t i = 0; i < metadata_view_broker_count(v); i++) {
        const struct metadata_broker *b = metadata_view_broker(v, i);
        const struct metadata_endpoint *ep =
            b->node_id == node ? metadata_broker_endpoint(b, kafka_conn_listener(call->req->conn))
                               : NULL;
        if (ep != NULL) {
            *out = (struct located){node, ep->host, ep->port};
            return KAFKA_ERROR_NONE;
        }
    }
    return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
}

static int batched(struct kafka_call *call, const struct kafka_find_coordinator_request *req,
                   struct kafka_find_coordinator_response *resp)
{
    int32_t n = req->coordinator_keys_count > 0 ? req->coordinator_keys_count : 0;
    resp->coordinators =
        kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *resp->coordinators);
    if (resp->coordinators == NULL) {
        return -1;
    }
    resp->coordinators_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_find_coordinator_response_coordinator *c = &resp->coordinators[i];
        struct located at;
        kafka_find_coordinator_response_coordinator_init(c);
        c->key = req->coordinator_keys[i];
        c->error_code = locate(call, req->key_type, req->coordinator_keys[i], &at);
        c->node_id = at.node_id;
        c->host = at.host;
        c->port = at.port;
        c->error_message =
            c->error_code != KAFKA_ERROR_NONE ? kafka_error_name(c->error_code) : NULL;
    }
    return 0;
}

void kafka_handle_find_coordinator(struct kafka_call *call)
{
    struct kafka_find_coordinator_request req;
    int rv = kafka_find_coordinator_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_find_coordinator_response resp;
    kafka_find_coordinator_response_init(&resp);
    if (call->header.api_version >= 4) {
        if (batched(call, &req, &resp) != 0) {
            kafka_call_fail(call, "out of memory");
            return;
        }
    } else {
        struct located at;
        resp.error_code = locate(call, req.key_type, req.key, &at);
        resp.node_id = at.node_id;
        resp.host = at.host;
        resp.port = at.port;
        resp.error_message =
            resp.error_code != KAFKA_ERROR_NONE ? kafka_error_name(resp.error_code) : NULL;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_find_coordinator_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
