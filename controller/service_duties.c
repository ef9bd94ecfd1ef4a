/* The active controller's periodic duties: fence brokers whose session
 * lapsed and, in the same batch (one raft entry), move partition leadership
 * off brokers that cannot lead (fenced, unregistered, shutting down),
 * shrinking ISRs to usable members. Elections see the batch's own fence and
 * unfence records, so fencing and its elections commit together (KIP-631). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/election.h"
#include "controller/service_internal.h"

/* The brokers as the FSM will see them when it reaches the end of `batch`:
 * the image plus the batch's own fence, unfence and (re)registration records. The FSM applies
 * a batch's records in order, so elections computed against this view and
 * appended after a fence record commit atomically with it (KIP-631). */
struct elect_view {
    struct controller_service *svc;
    const MetadataBatch *batch;
    const TopicState *topic; /* the partition elected: a broker that reported */
    int32_t partition;       /* its replica offline cannot lead it or be in its ISR */
};

static bool fenced_in_view(const struct elect_view *v, const BrokerState *b)
{
    bool fenced = b->fenced;
    for (size_t i = 0; i < v->batch->n_records; i++) {
        const MetadataRecord *r = v->batch->records[i];
        if (r->record_case == SLUICE__METADATA__METADATA_RECORD__RECORD_FENCE_BROKER &&
            r->fence_broker->broker_id == b->broker_id) {
            fenced = true;
        } else if (r->record_case == SLUICE__METADATA__METADATA_RECORD__RECORD_REGISTER_BROKER &&
                   r->register_broker->broker_id == b->broker_id) {
            fenced = true; /* a new registration starts fenced (KIP-631) */
        } else if (r->record_case == SLUICE__METADATA__METADATA_RECORD__RECORD_UNFENCE_BROKER &&
                   r->unfence_broker->broker_id == b->broker_id) {
            fenced = false;
        }
    }
    return fenced;
}

/* service_broker_usable, seen through the batch. */
static bool usable(int32_t id, void *arg)
{
    const struct elect_view *v = arg;
    const BrokerState *b = image_find_broker(v->svc->quorum->fsm.image, id);
    if (b == NULL || fenced_in_view(v, b) || liveness_shutting_down(&v->svc->liveness, id)) {
        return false;
    }
    return v->topic == NULL || v->topic->topic_id.len != 16 ||
           !offline_replicas_has(&v->svc->offline, id, b->broker_epoch, v->topic->topic_id.data,
                                 v->partition);
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
    struct elect_view view = {svc, batch, t, p->partition};
    struct election_input in = {p->replicas, p->n_replicas,         p->isr, p->n_isr,
                                p->leader,   topic_unclean(svc, t), usable, &view};
    struct election_result out = {.isr = scratch};
    election_elect(&in, &out);
    if (!out.changed) {
        return 0;
    }
    /* A leader that is only shutting down (still alive, unfenced) keeps a
     * partition nobody else can take, rather than taking it offline. */
    if (out.leader == -1 && p->leader >= 0) {
        const BrokerState *b = image_find_broker(svc->quorum->fsm.image, p->leader);
        if (b != NULL && !fenced_in_view(&view, b)) {
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

/* elect_one with a scratch ISR of its own: 1 if a record was added, 0 if
 * not, or -ENOMEM. */
static int elect_partition(struct controller_service *svc, MetadataBatch *batch,
                           const TopicState *t, const PartitionState *p)
{
    int32_t *scratch = malloc((p->n_replicas + p->n_isr + 1) * sizeof *scratch);
    int rv = scratch != NULL ? elect_one(svc, batch, t, p, scratch) : -ENOMEM;
    free(scratch);
    return rv;
}

/* Whether `broker` leads, is in the ISR, or could be elected to lead an
 * offline partition (a replica, for unclean election). */
static bool involves(const PartitionState *p, int32_t broker)
{
    return p->leader == broker || image_ints_contain(p->isr, p->n_isr, broker) ||
           (p->leader == -1 && image_ints_contain(p->replicas, p->n_replicas, broker));
}

int service_elect_partitions(struct controller_service *svc, MetadataBatch *batch,
                             int32_t only_broker)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    int added = 0;
    svc->elect_scans++;
    for (size_t i = 0; i < img->n_topics; i++) {
        const TopicState *t = img->topics[i];
        for (size_t j = 0; j < t->n_partitions; j++) {
            const PartitionState *p = t->partitions[j];
            if (only_broker >= 0 && !involves(p, only_broker)) {
                continue;
            }
            int rv = elect_partition(svc, batch, t, p);
            if (rv < 0) {
                return rv;
            }
            added += rv;
        }
    }
    return added;
}

int service_offline_batch(struct controller_service *svc, MetadataBatch *batch,
                          const BrokerState *b)
{
    const struct offline_broker *o =
        offline_replicas_of(&svc->offline, b->broker_id, b->broker_epoch);
    int added = 0;
    for (size_t i = 0; o != NULL && i < o->n; i++) {
        ProtobufCBinaryData id = {16, (uint8_t *)o->replicas[i].topic_id};
        const TopicState *t = fsm_find_topic_id(&svc->quorum->fsm, id);
        const PartitionState *p =
            t != NULL ? image_find_partition(t, o->replicas[i].partition) : NULL;
        if (p == NULL ||
            (p->leader != b->broker_id && !image_ints_contain(p->isr, p->n_isr, b->broker_id))) {
            continue;
        }
        int rv = elect_partition(svc, batch, t, p);
        if (rv < 0) {
            return rv;
        }
        added += rv;
    }
    return added;
}

int service_fencing_batch(struct controller_service *svc, MetadataBatch *batch,
                          const BrokerState *b, bool fence)
{
    if (records_add_fencing(batch, b->broker_id, b->broker_epoch, fence) != 0) {
        return -ENOMEM;
    }
    int n = service_elect_partitions(svc, batch, b->broker_id);
    return n >= 0 ? n + 1 : n;
}

int service_registration_batch(struct controller_service *svc, MetadataBatch *batch,
                               const Sluice__Controller__RegisterBrokerRequest *req)
{
    const BrokerState *old = image_find_broker(svc->quorum->fsm.image, req->broker_id);
    if (records_add_register(batch, req->broker_id, req->incarnation_id, req->rack, req->endpoints,
                             req->n_endpoints) != 0) {
        return -ENOMEM;
    }
    /* A retried registration of the same process changes nothing. */
    if (old == NULL || strcmp(old->incarnation_id, req->incarnation_id) == 0) {
        return 1;
    }
    int n = service_elect_partitions(svc, batch, req->broker_id);
    return n >= 0 ? n + 1 : n;
}

int service_elect_preferred(struct controller_service *svc, MetadataBatch *batch,
                            const TopicState *t, const PartitionState *p)
{
    struct elect_view view = {svc, batch, t, p->partition};
    struct election_input in = {p->replicas, p->n_replicas, p->isr, p->n_isr,
                                p->leader,   false,         usable, &view};
    int32_t leader = election_preferred(&in);
    if (leader < 0) {
        return 0;
    }
    if (records_add_change(batch, t->topic_id, p->partition, p->partition_epoch, leader, p->isr,
                           p->n_isr) != 0) {
        return -ENOMEM;
    }
    return 1;
}

/* Preferred elections for the partitions broker `id` should lead but does
 * not, when that is more than leader.imbalance.per.broker.percentage of
 * them (Kafka's auto.leader.rebalance.enable). Returns records added or
 * -ENOMEM. */
static int rebalance_broker(struct controller_service *svc, MetadataBatch *batch, int32_t id)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    int32_t preferred = 0, elsewhere = 0;
    for (size_t i = 0; i < img->n_topics; i++) {
        for (size_t j = 0; j < img->topics[i]->n_partitions; j++) {
            const PartitionState *p = img->topics[i]->partitions[j];
            if (p->n_replicas > 0 && p->replicas[0] == id) {
                preferred++;
                elsewhere += p->leader != id;
            }
        }
    }
    if (!election_imbalanced(preferred, elsewhere,
                             svc->config->leader_imbalance_per_broker_percentage)) {
        return 0;
    }
    int added = 0;
    for (size_t i = 0; i < img->n_topics; i++) {
        for (size_t j = 0; j < img->topics[i]->n_partitions; j++) {
            const PartitionState *p = img->topics[i]->partitions[j];
            if (p->n_replicas == 0 || p->replicas[0] != id) {
                continue;
            }
            int rv = service_elect_preferred(svc, batch, img->topics[i], p);
            if (rv < 0) {
                return rv;
            }
            added += rv;
        }
    }
    if (added > 0) {
        log_info("controller",
                 "leader imbalance broker.id=%d preferred=%d led_elsewhere=%d: electing %d "
                 "preferred leaders",
                 id, preferred, elsewhere, added);
    }
    return added;
}

/* Every leader.imbalance.check.interval.seconds (the first check one
 * interval after this controller's first duty). */
static int rebalance_leaders(struct controller_service *svc, MetadataBatch *batch)
{
    const struct sluice_config *cfg = svc->config;
    uint64_t now = controller_service_now(svc);
    uint64_t interval = (uint64_t)cfg->leader_imbalance_check_interval_seconds * 1000;
    if (!cfg->auto_leader_rebalance_enable) {
        return 0;
    }
    if (svc->rebalance_due_ms == 0) {
        svc->rebalance_due_ms = now + interval;
    }
    if (now < svc->rebalance_due_ms) {
        return 0;
    }
    svc->rebalance_due_ms = now + interval;
    const MetadataImage *img = svc->quorum->fsm.image;
    int added = 0;
    for (size_t i = 0; i < img->n_brokers; i++) {
        int rv = rebalance_broker(svc, batch, img->brokers[i]->broker_id);
        if (rv < 0) {
            return rv;
        }
        added += rv;
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
    uint64_t now = controller_service_now(svc);
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

/* Whether an election scan would see what the last one that found nothing
 * saw: no fence in this batch, the same image and the same broker states. */
static bool elections_unchanged(const struct controller_service *svc, int fenced)
{
    return fenced == 0 && svc->elect_clean_offset == fsm_offset(&svc->quorum->fsm) &&
           svc->elect_clean_liveness == svc->liveness.changes &&
           svc->elect_clean_offline == svc->offline.changes;
}

void service_duties(struct controller_service *svc)
{
    if (svc->duty_in_flight) {
        return;
    }
    if (!service_check_active(svc)) {
        svc->elect_clean_offset = svc->reassign_clean_offset = -1; /* the next term: scan */
        return;
    }
    MetadataBatch *batch = records_batch_new();
    if (batch == NULL) {
        return;
    }
    /* The fences, then the elections they call for in the same entry, so
     * no applied offset shows a fenced broker leading (KIP-631). The scan
     * visits every partition, so it runs only when what elections read has
     * changed since the last one that found nothing (every tick otherwise:
     * 40,000 partition visits a second at 5,000 partitions). */
    int n = fence_expired(svc, batch);
    int elected = n < 0                         ? n
                  : elections_unchanged(svc, n) ? 0
                                                : service_elect_partitions(svc, batch, -1);
    if (n == 0 && elected == 0) {
        svc->elect_clean_offset = fsm_offset(&svc->quorum->fsm);
        svc->elect_clean_liveness = svc->liveness.changes;
        svc->elect_clean_offline = svc->offline.changes;
    }
    n = elected >= 0 ? n + elected : elected;
    if (n == 0 && svc->reassign_clean_offset != fsm_offset(&svc->quorum->fsm)) {
        /* nothing to repair: reassignments may finish (they read only the image) */
        n = service_reassign_complete(svc, batch);
        svc->reassign_clean_offset = n == 0 ? fsm_offset(&svc->quorum->fsm) : -1;
    }
    if (n == 0) { /* leadership may go back where it belongs */
        n = rebalance_leaders(svc, batch);
    }
    if (n <= 0) {
        records_free(batch);
        return;
    }
    log_info("controller", "duty proposal records=%d", n);
    svc->duty_in_flight = true;
    service_propose(svc, NULL, batch, NULL, duty_done);
}
