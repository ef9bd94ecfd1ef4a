/* The active controller's periodic duties: fence brokers whose session
 * lapsed, then move partition leadership off brokers that cannot lead
 * (fenced, unregistered, shutting down), shrinking ISRs to usable members. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/election.h"
#include "controller/service_internal.h"

static bool usable(int32_t id, void *arg)
{
    return service_broker_usable(arg, id);
}

static bool topic_unclean(struct controller_service *svc, const TopicState *t)
{
    const char *v = image_topic_config(t, "unclean.leader.election.enable");
    return v != NULL ? strcmp(v, "true") == 0 : svc->config->unclean_leader_election_enable;
}

/* The change for one partition, if any; returns 1 if a record was added. */
static int elect_one(struct controller_service *svc, MetadataBatch *batch, const TopicState *t,
                     const PartitionState *p, int32_t *scratch)
{
    struct election_input in = {p->replicas, p->n_replicas,         p->isr, p->n_isr,
                                p->leader,   topic_unclean(svc, t), usable, svc};
    struct election_result out = {.isr = scratch};
    election_elect(&in, &out);
    if (!out.changed) {
        return 0;
    }
    /* A leader that is only shutting down (still alive, unfenced) keeps a
     * partition nobody else can take, rather than taking it offline. */
    if (out.leader == -1 && p->leader >= 0) {
        const BrokerState *b = image_find_broker(svc->quorum->fsm.image, p->leader);
        if (b != NULL && !b->fenced) {
            return 0;
        }
    }
    if (out.unclean) {
        log_warn("controller", "unclean leader election topic=%s partition=%d leader=%d", t->name,
                 p->partition, out.leader);
    }
    int rv = records_add_change(batch, t->topic_id, p->partition, p->partition_epoch, out.leader,
                                out.isr, out.n_isr);
    return rv == 0 ? 1 : rv;
}

int service_elect_partitions(struct controller_service *svc, MetadataBatch *batch,
                             int32_t only_broker)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    int added = 0;
    for (size_t i = 0; i < img->n_topics; i++) {
        const TopicState *t = img->topics[i];
        for (size_t j = 0; j < t->n_partitions; j++) {
            const PartitionState *p = t->partitions[j];
            if (only_broker >= 0 && p->leader != only_broker &&
                !image_ints_contain(p->isr, p->n_isr, only_broker)) {
                continue;
            }
            int32_t *scratch = malloc((p->n_replicas + p->n_isr + 1) * sizeof *scratch);
            int rv = scratch != NULL ? elect_one(svc, batch, t, p, scratch) : -ENOMEM;
            free(scratch);
            if (rv < 0) {
                return rv;
            }
            added += rv;
        }
    }
    return added;
}

static void duty_done(struct service_op *op, int status, const struct fsm_result *res)
{
    op->svc->duty_in_flight = false;
    for (size_t i = 0; status == 0 && i < res->n; i++) {
        if (res->errors[i] != 0) {
            log_info("controller", "duty record %zu rejected error=%d", i, res->errors[i]);
        }
    }
    if (status != 0) {
        log_warn("controller", "fencing/election proposal failed status=%d", status);
    }
}

/* Fence every unfenced broker whose session lapsed. Returns the number of
 * records added or -ENOMEM. */
static int fence_expired(struct controller_service *svc, MetadataBatch *batch)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    uint64_t now = uv_now(svc->loop);
    int added = 0;
    for (size_t i = 0; i < img->n_brokers; i++) {
        const BrokerState *b = img->brokers[i];
        if (b->fenced || !liveness_expired(&svc->liveness, b->broker_id, now)) {
            continue;
        }
        log_info("controller", "fencing broker after session timeout broker.id=%d epoch=%lld",
                 b->broker_id, (long long)b->broker_epoch);
        if (records_add_fencing(batch, b->broker_id, b->broker_epoch, true) != 0) {
            return -ENOMEM;
        }
        added++;
    }
    return added;
}

void service_duties(struct controller_service *svc)
{
    if (svc->duty_in_flight || !service_check_active(svc)) {
        return;
    }
    MetadataBatch *batch = records_batch_new();
    if (batch == NULL) {
        return;
    }
    /* Fencing first; the elections it calls for run on the next tick, once
     * the fence is applied and the broker counts as unusable. */
    int n = fence_expired(svc, batch);
    if (n == 0) {
        n = service_elect_partitions(svc, batch, -1);
    }
    if (n <= 0) {
        records_free(batch);
        return;
    }
    log_info("controller", "duty proposal records=%d", n);
    svc->duty_in_flight = true;
    service_propose(svc, NULL, batch, NULL, duty_done);
}
