/* Broker liveness for the partitions led here; see replica_liveness.h. */
#include "broker/replica/replica_liveness.h"

#include "broker/replica/replica_isr.h"

/* Broker `broker_id` as the view shows it (registered and unfenced), or
 * NULL. */
static const struct metadata_broker *shown_broker(const struct metadata_view *v, int32_t broker_id)
{
    size_t n = metadata_view_broker_count(v);
    for (size_t i = 0; i < n; i++) {
        const struct metadata_broker *b = metadata_view_broker(v, i);
        if (b->node_id == broker_id) {
            return b;
        }
    }
    return NULL;
}

/* partition_alive_fn over the metadata view (Kafka's hasAliveBroker). */
static bool broker_shown(void *data, int32_t broker_id)
{
    const struct metadata_view *v = data;
    /* no view (tests): every replica counts */
    return v == NULL || shown_broker(v, broker_id) != NULL;
}

bool replica_follower_eligible(const struct replica_manager *rm, const struct partition *p,
                               int32_t replica_id)
{
    if (rm->metadata == NULL) {
        return true; /* no view (tests): every replica is */
    }
    const struct metadata_broker *b = shown_broker(rm->metadata, replica_id);
    const struct replica_progress *r = partition_replica(p, replica_id);
    return b != NULL && r != NULL && r->broker_epoch == b->epoch;
}

int64_t replica_low_watermark(struct replica_manager *rm, const struct partition *p)
{
    return partition_low_watermark(p, broker_shown, rm->metadata);
}

struct changed_brokers {
    struct replica_manager *rm;
    const int32_t *ids;
    size_t n;
};

/* Whether follower `id` of `p` is on one of the changed brokers. */
static bool changed_follower(const struct partition *p, const struct changed_brokers *c, int32_t id)
{
    if (id == p->self) {
        return false;
    }
    if (c->ids == NULL) {
        return true;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->ids[i] == id) {
            return true;
        }
    }
    return false;
}

static void recheck_if_affected(struct partition *p, void *arg)
{
    const struct changed_brokers *c = arg;
    if (!partition_is_leader(p)) {
        return;
    }
    bool affected = false;
    for (int32_t r = 0; r < p->n_replicas; r++) {
        int32_t id = p->replicas[r].broker_id;
        if (!changed_follower(p, c, id)) {
            continue;
        }
        affected = true;
        /* Caught up while its broker was fenced (a restarted broker catches
         * up before the controller unfences it): the fetch that caught it
         * up proposed nothing, and the next may be parked a while. */
        if (partition_follower_may_join(p, id)) {
            replica_isr_expand(c->rm, p, id);
        }
    }
    if (affected) {
        delayed_key_notify(&p->waiters);
    }
}

void replica_liveness_changed(struct replica_manager *rm, const int32_t *ids, size_t n)
{
    struct changed_brokers c = {rm, ids, n};
    replica_manager_each_partition(rm, recheck_if_affected, &c);
}
