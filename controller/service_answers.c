/* Per-partition answers shared by ElectLeaders and AlterPartitionReassignments;
 * see service_internal.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/service_internal.h"

typedef Sluice__Controller__ElectResult ElectResult;

struct partition_answers *partition_answers_new(size_t n)
{
    struct partition_answers *x = calloc(1, sizeof *x + n * sizeof x->items[0]);
    if (x != NULL) {
        x->n = n;
        for (size_t i = 0; i < n; i++) {
            x->items[i].record = -1;
        }
    }
    return x;
}

const PartitionState *partition_answer_find(struct controller_service *svc,
                                            struct partition_answer *it, const TopicState **topic)
{
    const TopicState *t = image_find_topic(svc->quorum->fsm.image, it->topic);
    const PartitionState *p = t != NULL ? image_find_partition(t, it->partition) : NULL;
    if (p == NULL) {
        it->code = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
        snprintf(it->message, sizeof it->message, "The partition does not exist.");
    }
    *topic = t;
    return p;
}

void service_respond_answers(struct controller_service *svc, struct rpc_call *call,
                             const struct partition_answers *x, int32_t failure)
{
    Sluice__Controller__ElectLeadersResponse resp =
        SLUICE__CONTROLLER__ELECT_LEADERS_RESPONSE__INIT;
    LeaderHint hint;
    size_t n = failure == KAFKA_ERROR_NONE ? x->n : 0;
    ElectResult *results = calloc(n ? n : 1, sizeof *results);
    ElectResult **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (results == NULL || ptrs == NULL) {
        free(results);
        free(ptrs);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    resp.error_code = failure;
    if (failure == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    }
    for (size_t i = 0; i < n; i++) {
        const struct partition_answer *it = &x->items[i];
        sluice__controller__elect_result__init(&results[i]);
        results[i].topic = (char *)it->topic;
        results[i].partition = it->partition;
        results[i].error_code = it->code;
        results[i].error_message = (char *)it->message;
        ptrs[i] = &results[i];
    }
    resp.results = ptrs;
    resp.n_results = n;
    rpc_call_respond(call, &resp.base, NULL, 0);
    free(results);
    free(ptrs);
}

void service_answers_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct partition_answers *x = op->extra;
    for (size_t i = 0; status == 0 && i < x->n; i++) {
        struct partition_answer *it = &x->items[i];
        if (it->record >= 0 && (size_t)it->record < res->n && res->errors[it->record] != 0) {
            /* The partition changed between decision and commit. */
            it->code = res->errors[it->record];
            snprintf(it->message, sizeof it->message, "the partition changed concurrently");
        }
    }
    service_respond_answers(op->svc, op->call, x, status != 0 ? service_failure_code(status) : 0);
}
