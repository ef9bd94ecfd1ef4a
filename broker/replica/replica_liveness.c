/* Broker liveness for the partitions led here; see replica_liveness.h. */
#include "broker/replica/replica_liveness.h"

#include <stdbool.h>

/* partition_alive_fn over the metadata view (Kafka's hasAliveBroker). */
static bool broker_shown(void *data, int32_t broker_id)
{
    const struct metadata_view *v = data;
    if (v == NULL) {
        return true; /* no view (tests): every replica counts */
    }
    size_t n = metadata_view_broker_count(v);
    for (size_t i = 0; i < n; i++) {
        if (metadata_view_broker(v, i)->node_id == broker_id) {
            return true;
        }
    }
    return false;
}

int64_t replica_low_watermark(struct replica_manager *rm, const struct partition *p)
{
    return partition_low_watermark(p, broker_shown, rm->metadata);
}

struct changed_brokers {
    const int32_t *ids;
    size_t n;
};

static bool has_replica_on(const struct partition *p, const struct changed_brokers *c)
{
    for (int32_t r = 0; r < p->n_replicas; r++) {
        int32_t id = p->replicas[r].broker_id;
        if (id == p->self) {
            continue;
        }
        if (c->ids == NULL) {
            return true;
        }
        for (size_t i = 0; i < c->n; i++) {
            if (c->ids[i] == id) {
                return true;
            }
        }
    }
    return false;
}

static void wake_if_affected(struct partition *p, void *arg)
{
    if (partition_is_leader(p) && has_replica_on(p, arg)) {
        delayed_key_notify(&p->waiters);
    }
}

void replica_liveness_changed(struct replica_manager *rm, const int32_t *ids, size_t n)
{
    struct changed_brokers c = {ids, n};
    replica_manager_each_partition(rm, wake_if_affected, &c);
}
