/* Partition reassignment (KIP-455) on the active controller.
 *
 * AlterPartitionReassignments writes one PartitionChangeRecord per
 * partition with the replica set as Kafka keeps it during a move: the
 * target replicas first, then the original ones being removed, with
 * `adding_replicas` (target minus original) and `removing_replicas`
 * (original minus target). Brokers that become replicas open the partition
 * and fetch from the leader like any follower; the leader adds them to the
 * ISR once caught up (AlterPartition). The completion duty
 * (service_reassign_complete) then switches the replica set to the target
 * once every target replica is in the ISR, moving leadership off a removed
 * leader; removed brokers close the partition and delete its data.
 * Cancelling writes back the original replicas (minus nothing added). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/service_internal.h"

typedef Sluice__Controller__AlterPartitionReassignmentsRequest ReassignRequest;
typedef Sluice__Controller__PartitionReassignment Reassignment;

/* A replica set larger than this is refused (brokers keep at most
 * METADATA_MAX_REPLICAS per partition, and a move holds target plus
 * removed replicas at once). */
#define REASSIGN_MAX_REPLICAS 8

static bool contains(const int32_t *a, size_t n, int32_t v)
{
    return image_ints_contain(a, n, v);
}

/* `a` minus `b`, in `a`'s order, into `out`; returns the count. */
static size_t minus(const int32_t *a, size_t na, const int32_t *b, size_t nb, int32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < na; i++) {
        if (!contains(b, nb, a[i])) {
            out[n++] = a[i];
        }
    }
    return n;
}

/* The leader after the replica set becomes `replicas` with ISR `isr`: the
 * current one if it stays in the ISR and usable, else the first usable ISR
 * member in replica order; -1 when there is none. */
static int32_t leader_after(struct controller_service *svc, const PartitionState *p,
                            const int32_t *replicas, size_t n_replicas, const int32_t *isr,
                            size_t n_isr)
{
    if (p->leader >= 0 && contains(isr, n_isr, p->leader) &&
        service_broker_usable(svc, p->leader)) {
        return p->leader;
    }
    for (size_t i = 0; i < n_replicas; i++) {
        if (contains(isr, n_isr, replicas[i]) && service_broker_usable(svc, replicas[i])) {
            return replicas[i];
        }
    }
    return -1;
}

/* Append the change taking `p` to `replicas` (adding, removing) with the
 * ISR limited to them. 1 when added, 0 when no member of the new ISR can
 * lead (nothing added), -ENOMEM. */
static int add_replica_change(struct controller_service *svc, MetadataBatch *batch,
                              const TopicState *t, const PartitionState *p, const int32_t *replicas,
                              size_t n_replicas, const int32_t *adding, size_t n_adding,
                              const int32_t *removing, size_t n_removing)
{
    int32_t isr[2 * REASSIGN_MAX_REPLICAS + 16];
    size_t n_isr = 0;
    for (size_t i = 0; i < p->n_isr && n_isr < sizeof isr / sizeof isr[0]; i++) {
        if (contains(replicas, n_replicas, p->isr[i])) {
            isr[n_isr++] = p->isr[i];
        }
    }
    int32_t leader = leader_after(svc, p, replicas, n_replicas, isr, n_isr);
    if (leader < 0) {
        return 0;
    }
    if (records_add_change(batch, t->topic_id, p->partition, p->partition_epoch, leader, isr,
                           n_isr) != 0 ||
        records_set_change_replicas(batch, replicas, n_replicas, adding, n_adding, removing,
                                    n_removing) != 0) {
        return -ENOMEM;
    }
    return 1;
}

static bool reassigning(const PartitionState *p)
{
    return p->n_adding_replicas > 0 || p->n_removing_replicas > 0;
}

/* Check one requested target; NONE or the error with it->message set. */
static int32_t check_target(struct controller_service *svc, const Reassignment *r,
                            struct partition_answer *it)
{
    if (r->n_replicas == 0 || r->n_replicas > REASSIGN_MAX_REPLICAS) {
        snprintf(it->message, sizeof it->message, "a reassignment needs 1 to %d replicas",
                 REASSIGN_MAX_REPLICAS);
        return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
    }
    for (size_t i = 0; i < r->n_replicas; i++) {
        if (contains(r->replicas, i, r->replicas[i])) {
            snprintf(it->message, sizeof it->message, "replica %d is listed twice", r->replicas[i]);
            return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
        }
        if (image_find_broker(svc->quorum->fsm.image, r->replicas[i]) == NULL) {
            snprintf(it->message, sizeof it->message, "broker %d is not registered",
                     r->replicas[i]);
            return KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
        }
    }
    return KAFKA_ERROR_NONE;
}

/* Decide one partition: an answer now, or a change record in `batch`.
 * Returns 0 or -ENOMEM. */
static int reassign_one(struct controller_service *svc, MetadataBatch *batch, const Reassignment *r,
                        struct partition_answer *it)
{
    const TopicState *t;
    const PartitionState *p = partition_answer_find(svc, it, &t);
    if (p == NULL) {
        return 0;
    }
    if (p->n_replicas > 2 * REASSIGN_MAX_REPLICAS) {
        it->code = KAFKA_ERROR_INVALID_REPLICA_ASSIGNMENT;
        snprintf(it->message, sizeof it->message, "too many replicas");
        return 0;
    }
    /* The replicas before any reassignment in progress began. */
    int32_t original[2 * REASSIGN_MAX_REPLICAS];
    size_t n_original =
        minus(p->replicas, p->n_replicas, p->adding_replicas, p->n_adding_replicas, original);
    const int32_t *target = r->replicas;
    size_t n_target = r->n_replicas;
    if (r->cancel) {
        if (!reassigning(p)) {
            it->code = KAFKA_ERROR_NO_REASSIGNMENT_IN_PROGRESS;
            snprintf(it->message, sizeof it->message, "no reassignment of %s-%d is in progress",
                     r->topic, r->partition);
            return 0;
        }
        target = original;
        n_target = n_original;
    } else if ((it->code = check_target(svc, r, it)) != KAFKA_ERROR_NONE) {
        return 0;
    }
    if (!reassigning(p) && n_target == p->n_replicas &&
        memcmp(target, p->replicas, n_target * sizeof *target) == 0) {
        return 0; /* already there */
    }
    int32_t replicas[3 * REASSIGN_MAX_REPLICAS], adding[REASSIGN_MAX_REPLICAS],
        removing[2 * REASSIGN_MAX_REPLICAS];
    memcpy(replicas, target, n_target * sizeof *target);
    size_t n_removing = minus(original, n_original, target, n_target, removing);
    memcpy(replicas + n_target, removing, n_removing * sizeof *removing);
    size_t n_adding = r->cancel ? 0 : minus(target, n_target, original, n_original, adding);
    if (n_adding == 0) {
        n_removing = 0; /* nothing to wait for: the target replicas are the ISR's already */
    }
    size_t n_replicas = n_adding == 0 ? n_target : n_target + n_removing;
    size_t before = batch->n_records;
    int rv = add_replica_change(svc, batch, t, p, replicas, n_replicas, adding, n_adding, removing,
                                n_removing);
    if (rv < 0) {
        return rv;
    }
    if (rv == 0) {
        it->code = KAFKA_ERROR_ELIGIBLE_LEADERS_NOT_AVAILABLE;
        snprintf(it->message, sizeof it->message,
                 "no replica of %s-%d in the ISR could lead it with the new replicas", r->topic,
                 r->partition);
        return 0;
    }
    log_info("controller",
             "reassignment %s topic=%s partition=%d replicas=%zu adding=%zu removing=%zu",
             r->cancel ? "cancelled" : "started", r->topic, r->partition, n_replicas, n_adding,
             n_removing);
    it->record = (int)before;
    return 0;
}

void service_alter_reassignments(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const ReassignRequest *req = (const ReassignRequest *)call->request;
    struct partition_answers *x = partition_answers_new(req->n_reassignments);
    MetadataBatch *batch = records_batch_new();
    if (x == NULL || batch == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        free(x);
        records_free(batch);
        return;
    }
    for (size_t i = 0; i < x->n; i++) {
        x->items[i].topic = req->reassignments[i]->topic;
        x->items[i].partition = req->reassignments[i]->partition;
    }
    if (!service_check_active(svc)) {
        service_respond_answers(svc, call, x, KAFKA_ERROR_NOT_CONTROLLER);
        free(x);
        records_free(batch);
        return;
    }
    int rv = 0;
    for (size_t i = 0; rv == 0 && i < x->n; i++) {
        rv = reassign_one(svc, batch, req->reassignments[i], &x->items[i]);
    }
    if (rv != 0) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
    } else if (batch->n_records == 0) {
        service_respond_answers(svc, call, x, KAFKA_ERROR_NONE);
    } else {
        service_propose(svc, call, batch, x, service_answers_done); /* owns batch and x now */
        return;
    }
    free(x);
    records_free(batch);
}

int service_reassign_complete(struct controller_service *svc, MetadataBatch *batch)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    int added = 0;
    for (size_t i = 0; i < img->n_topics; i++) {
        const TopicState *t = img->topics[i];
        for (size_t j = 0; j < t->n_partitions; j++) {
            const PartitionState *p = t->partitions[j];
            if (!reassigning(p) || p->n_replicas > 3 * REASSIGN_MAX_REPLICAS) {
                continue;
            }
            int32_t target[3 * REASSIGN_MAX_REPLICAS];
            size_t n_target = minus(p->replicas, p->n_replicas, p->removing_replicas,
                                    p->n_removing_replicas, target);
            bool caught_up = true;
            for (size_t k = 0; k < n_target; k++) {
                caught_up = caught_up && contains(p->isr, p->n_isr, target[k]);
            }
            if (!caught_up) {
                continue;
            }
            int rv = add_replica_change(svc, batch, t, p, target, n_target, NULL, 0, NULL, 0);
            if (rv < 0) {
                return rv;
            }
            if (rv > 0) {
                log_info("controller",
                         "reassignment complete topic=%s partition=%d replicas=%zu removed=%zu",
                         t->name, p->partition, n_target, p->n_removing_replicas);
            }
            added += rv;
        }
    }
    return added;
}
