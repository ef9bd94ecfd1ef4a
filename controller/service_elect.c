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

/* Decide one partition: an answer now, or a change record in `batch`.
 * Returns 0 or -ENOMEM. */
static int elect_one(struct controller_service *svc, MetadataBatch *batch,
                     struct partition_answer *it)
{
    const TopicState *t;
    const PartitionState *p = partition_answer_find(svc, it, &t);
    if (p == NULL) {
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
static struct partition_answers *elect_items(const ElectLeadersRequest *req)
{
    struct partition_answers *x = partition_answers_new(req->n_partitions);
    for (size_t i = 0; x != NULL && i < x->n; i++) {
        x->items[i].topic = req->partitions[i]->topic;
        x->items[i].partition = req->partitions[i]->partition;
    }
    return x;
}

void service_elect_leaders(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const ElectLeadersRequest *req = (const ElectLeadersRequest *)call->request;
    struct partition_answers *x = elect_items(req);
    MetadataBatch *batch = records_batch_new();
    if (x == NULL || batch == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        free(x);
        records_free(batch);
        return;
    }
    if (!service_check_active(svc)) {
        service_respond_answers(svc, call, x, KAFKA_ERROR_NOT_CONTROLLER);
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
        service_respond_answers(svc, call, x, KAFKA_ERROR_NONE);
    } else {
        log_info("controller", "ElectLeaders: proposing %zu preferred leader elections",
                 batch->n_records);
        service_propose(svc, call, batch, x, service_answers_done); /* owns batch and x now */
        return;
    }
    free(x);
    records_free(batch);
}
