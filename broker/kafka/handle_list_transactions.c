/* ListTransactions (key 66, v0): the transactional ids this broker
 * coordinates now, filtered by state and producer id (admin clients ask
 * every broker and merge). Only the ids the principal may Describe are
 * listed, as Kafka does. */
#include <string.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/txn/txn_coordinator.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct list_ctx {
    struct kafka_call *call;
    const struct kafka_list_transactions_request *req;
    struct kafka_list_transactions_response *resp;
    int32_t cap;
};

static bool wanted(const struct list_ctx *c, const struct txn_description *d)
{
    bool state_ok = c->req->state_filters_count <= 0;
    for (int32_t i = 0; !state_ok && i < c->req->state_filters_count; i++) {
        state_ok = strcmp(c->req->state_filters[i], txn_status_name(d->status)) == 0;
    }
    bool pid_ok = c->req->producer_id_filters_count <= 0;
    for (int32_t i = 0; !pid_ok && i < c->req->producer_id_filters_count; i++) {
        pid_ok = c->req->producer_id_filters[i] == d->producer_id;
    }
    return state_ok && pid_ok;
}

static void count(void *arg, const struct txn_description *d)
{
    (void)d;
    ((struct list_ctx *)arg)->cap++;
}

static void add(void *arg, const struct txn_description *d)
{
    struct list_ctx *c = arg;
    if (c->resp->transaction_states_count < c->cap && wanted(c, d) &&
        kafka_authorize(c->call, ACL_OP_DESCRIBE, ACL_RESOURCE_TRANSACTIONAL_ID,
                        d->transactional_id)) {
        struct kafka_list_transactions_response_transaction_state *s =
            &c->resp->transaction_states[c->resp->transaction_states_count++];
        kafka_list_transactions_response_transaction_state_init(s);
        s->transactional_id = d->transactional_id;
        s->producer_id = d->producer_id;
        s->transaction_state = txn_status_name(d->status);
    }
}

static bool known_state(const char *name)
{
    for (int s = TXN_EMPTY; s <= TXN_PREPARE_EPOCH_FENCE; s++) {
        if (strcmp(txn_status_name((enum txn_status)s), name) == 0) {
            return true;
        }
    }
    return false;
}

void kafka_handle_list_transactions(struct kafka_call *call)
{
    struct kafka_list_transactions_request req;
    int rv = kafka_list_transactions_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_list_transactions_response resp;
    kafka_list_transactions_response_init(&resp);
    resp.error_code =
        call->svc->txns != NULL ? KAFKA_ERROR_NONE : KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    int32_t nf = req.state_filters_count > 0 ? req.state_filters_count : 0;
    resp.unknown_state_filters =
        kafka_arena_alloc_array(&call->arena, (size_t)nf + 1, sizeof *resp.unknown_state_filters);
    struct list_ctx c = {call, &req, &resp, 0};
    if (call->svc->txns != NULL) {
        txn_each(call->svc->txns, count, &c);
    }
    resp.transaction_states =
        kafka_arena_alloc_array(&call->arena, (size_t)c.cap + 1, sizeof *resp.transaction_states);
    if (resp.unknown_state_filters == NULL || resp.transaction_states == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.unknown_state_filters_count = 0;
    for (int32_t i = 0; i < nf; i++) {
        if (!known_state(req.state_filters[i])) {
            resp.unknown_state_filters[resp.unknown_state_filters_count++] = req.state_filters[i];
        }
    }
    resp.transaction_states_count = 0;
    if (call->svc->txns != NULL) {
        txn_each(call->svc->txns, add, &c);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_list_transactions_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
