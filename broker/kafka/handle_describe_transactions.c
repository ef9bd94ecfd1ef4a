/* DescribeTransactions (key 65, v0): the state of transactional ids this
 * broker coordinates (kafka-transactions.sh describe, sluicectl txn
 * describe); others get NOT_COORDINATOR per id. As Kafka: Describe on the
 * transactional id (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED), and only
 * the topics the principal may Describe are listed. */
#include <string.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/txn/txn_coordinator.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct describe_ctx {
    struct kafka_call *call;
    struct kafka_arena *arena;
    struct kafka_describe_transactions_response_transaction_state *out;
    bool failed;
};

/* The partitions, grouped by topic, copied into the arena (the strings are
 * borrowed: the response is encoded before the coordinator changes). */
static void describe_one(void *arg, const struct txn_description *d)
{
    struct describe_ctx *c = arg;
    struct kafka_describe_transactions_response_transaction_state *s = c->out;
    s->transaction_state = txn_status_name(d->status);
    s->transaction_timeout_ms = d->timeout_ms;
    s->transaction_start_time_ms = d->start_ms;
    s->producer_id = d->producer_id;
    s->producer_epoch = d->producer_epoch;
    s->topics = kafka_arena_alloc_array(c->arena, d->n_partitions + 1, sizeof *s->topics);
    int32_t *ids = kafka_arena_alloc_array(c->arena, d->n_partitions + 1, sizeof *ids);
    if (s->topics == NULL || ids == NULL) {
        c->failed = true;
        return;
    }
    s->topics_count = 0;
    for (size_t i = 0; i < d->n_partitions; i++) { /* the distinct topics */
        bool seen =
            !kafka_authorize(c->call, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, d->partitions[i].topic);
        for (int32_t k = 0; k < s->topics_count && !seen; k++) {
            seen = strcmp(s->topics[k].topic, d->partitions[i].topic) == 0;
        }
        if (!seen) {
            kafka_describe_transactions_response_topic_data_init(&s->topics[s->topics_count]);
            s->topics[s->topics_count].topic = d->partitions[i].topic;
            s->topics[s->topics_count++].partitions_count = 0;
        }
    }
    /* Each topic's partition ids, contiguous in `ids`. */
    size_t at = 0;
    for (int32_t k = 0; k < s->topics_count; k++) {
        struct kafka_describe_transactions_response_topic_data *t = &s->topics[k];
        t->partitions = ids + at;
        for (size_t i = 0; i < d->n_partitions; i++) {
            if (strcmp(d->partitions[i].topic, t->topic) == 0) {
                ids[at++] = d->partitions[i].partition;
                t->partitions_count++;
            }
        }
    }
}

void kafka_handle_describe_transactions(struct kafka_call *call)
{
    struct kafka_describe_transactions_request req;
    int rv =
        kafka_describe_transactions_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.transactional_ids_count > 0 ? req.transactional_ids_count : 0;
    struct kafka_describe_transactions_response resp;
    kafka_describe_transactions_response_init(&resp);
    resp.transaction_states =
        kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *resp.transaction_states);
    if (resp.transaction_states == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.transaction_states_count = n;
    struct describe_ctx c = {call, &call->arena, NULL, false};
    for (int32_t i = 0; i < n; i++) {
        struct kafka_describe_transactions_response_transaction_state *s =
            &resp.transaction_states[i];
        kafka_describe_transactions_response_transaction_state_init(s);
        s->transactional_id = req.transactional_ids[i];
        s->transaction_state = "";
        s->producer_id = -1;
        s->producer_epoch = -1;
        s->transaction_start_time_ms = -1;
        s->topics_count = 0;
        c.out = s;
        if (!kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_TRANSACTIONAL_ID,
                             req.transactional_ids[i] ? req.transactional_ids[i] : "")) {
            s->error_code = KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
            continue;
        }
        s->error_code =
            call->svc->txns == NULL
                ? KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE
                : txn_describe(call->svc->txns, req.transactional_ids[i], describe_one, &c);
    }
    if (c.failed) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_describe_transactions_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
