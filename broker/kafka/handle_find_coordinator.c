/* FindCoordinator (key 10): the broker coordinating a consumer group (key
 * type 0), with the host and port it advertises on the listener this
 * request came through. Transaction coordinators (key type 1) do not exist
 * yet: COORDINATOR_NOT_AVAILABLE. */
#include "broker/group/group_coordinator.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

static int16_t locate(struct kafka_call *call, const struct kafka_find_coordinator_request *req,
                      struct kafka_find_coordinator_response *resp)
{
    if (req->key_type != 0) {
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
    int32_t node = -1;
    int16_t err = group_find_coordinator(call->svc->groups, req->key, &node);
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
            resp->node_id = node;
            resp->host = ep->host; /* encoded before the metadata can change */
            resp->port = ep->port;
            return KAFKA_ERROR_NONE;
        }
    }
    return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
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
    resp.node_id = -1;
    resp.host = "";
    resp.port = -1;
    resp.error_code = locate(call, &req, &resp);
    if (resp.error_code != KAFKA_ERROR_NONE) {
        resp.node_id = -1;
        resp.host = "";
        resp.port = -1;
        resp.error_message = kafka_error_name(resp.error_code);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_find_coordinator_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
