/* ElectLeaders (KIP-460) on the active controller: PREFERRED elections for
 * the partitions asked for. Per partition, Kafka's answers: ELECTION_NOT_NEEDED when the
 * preferred replica leads already, PREFERRED_LEADER_NOT_AVAILABLE when it may
 * not lead (fenced, shutting down or out of the ISR),
 * UNKNOWN_TOPIC_OR_PARTITION. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/service_internal.h"

typedef Sluice__Controller__ElectLeadersRequest ElectLeadersRequest;
typedef Sluice__Controller__ElectResult ElectResult;

/* One partition's answer, and where its change record sits (-1: none). */
struct elect_item {
    const char *topic; /* borrowed from the request */
    int32_t partition;
    int32_t code;
    char message[160];
    int record;
};

struct elect_extra {
    size_t n;
    struct elect_item items[];
};

static void elect_respond(struct controller_service *svc, struct rpc_call *call,
                          const struct elect_extra *x, int32_t failure)
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
        const struct elect_item *it = &x->items[i];
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

/* Decide one partition: an answer now, or a change record in `batch`.
 * Returns 0 or -ENOMEM. */
static int elect_one(struct controller_service *svc, MetadataBatch *batch, struct elect_item *it)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    const TopicState *t = image_find_topic(img, it->topic);
    const PartitionState *p = t != NULL ? image_find_partition(t, it->partition) : NULL;
    if (p == NULL) {
        it->code = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
        snprintf(it->message, sizeof it->message, "The partition does not exist.");
        return 0;
    }
    if (p->n_replicas > 0 && p->leader == p->replicas[0]) {
        it->code = KAFKA_ERROR_ELECTION_NOT_NEEDED;
        snprintf(it->message, sizeof it->message,
                 "Leader election not needed for topic partition.");
        return 0;
    }
    size_t before = batch->n_records;
    int rv = service_elect_preferred(svc, batch, t, p);
    if (rv < 0) {
        return rv;
    }
    if (rv == 0) {
        it->code = KAFKA_ERROR_PREFERRED_LEADER_NOT_AVAILABLE;
        snprintf(it->message, sizeof it->message,
                 "Failed to elect leader for partition %s-%d under strategy "
                 "PreferredReplicaPartitionLeaderElectionStrategy",
                 it->topic, it->partition);
        return 0;
    }
    it->record = (int)before;
    return 0;
}

/* An answer slot per requested partition. NULL when out of memory. */
static struct elect_extra *elect_items(const ElectLeadersRequest *req)
{
    struct elect_extra *x = calloc(1, sizeof *x + req->n_partitions * sizeof x->items[0]);
    if (x == NULL) {
        return NULL;
    }
    x->n = req->n_partitions;
    for (size_t i = 0; i < x->n; i++) {
        x->items[i].topic = req->partitions[i]->topic;
        x->items[i].partition = req->partitions[i]->partition;
        x->items[i].record = -1;
    }
    return x;
}

static void elect_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct elect_extra *x = op->extra;
    for (size_t i = 0; status == 0 && i < x->n; i++) {
        struct elect_item *it = &x->items[i];
        if (it->record >= 0 && (size_t)it->record < res->n && res->errors[it->record] != 0) {
            /* The partition changed between decision and commit. */
            it->code = res->errors[it->record];
            snprintf(it->message, sizeof it->message, "the partition changed concurrently");
        }
    }
    elect_respond(op->svc, op->call, x, status != 0 ? service_failure_code(status) : 0);
}

void service_elect_leaders(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const ElectLeadersRequest *req = (const ElectLeadersRequest *)call->request;
    struct elect_extra *x = elect_items(req);
    MetadataBatch *batch = records_batch_new();
    if (x == NULL || batch == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        free(x);
        records_free(batch);
        return;
    }
    if (!service_check_active(svc)) {
        elect_respond(svc, call, x, KAFKA_ERROR_NOT_CONTROLLER);
        free(x);
        records_free(batch);
        return;
    }
    int rv = 0;
    for (size_t i = 0; rv == 0 && i < x->n; i++) {
        rv = elect_one(svc, batch, &x->items[i]);
    }
    if (rv != 0) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
    } else if (batch->n_records == 0) {
        elect_respond(svc, call, x, KAFKA_ERROR_NONE);
    } else {
        log_info("controller", "ElectLeaders: proposing %zu preferred leader elections",
                 batch->n_records);
        service_propose(svc, call, batch, x, elect_done); /* owns batch and x now */
        return;
    }
    free(x);
    records_free(batch);
}
