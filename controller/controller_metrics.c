/* The controller's status and metrics; see controller_metrics.h. */
#include "controller/controller_metrics.h"

#include <stdlib.h>
#include <string.h>

/* The topic's min.insync.replicas, or the broker-wide default. */
static int32_t topic_min_isr(const TopicState *t, int32_t fallback)
{
    for (size_t i = 0; i < t->n_configs; i++) {
        if (strcmp(t->configs[i]->name, "min.insync.replicas") == 0) {
            return (int32_t)strtol(t->configs[i]->value, NULL, 10);
        }
    }
    return fallback;
}

static void count_image(const MetadataImage *img, int32_t default_min_isr,
                        struct controller_status *out)
{
    for (size_t i = 0; i < img->n_brokers; i++) {
        out->brokers++;
        out->fenced_brokers += img->brokers[i]->fenced;
    }
    for (size_t t = 0; t < img->n_topics; t++) {
        const TopicState *topic = img->topics[t];
        int32_t min_isr = topic_min_isr(topic, default_min_isr);
        for (size_t p = 0; p < topic->n_partitions; p++) {
            const PartitionState *ps = topic->partitions[p];
            out->partitions++;
            out->offline_partitions += ps->leader < 0;
            out->under_replicated_partitions += ps->n_isr < ps->n_replicas;
            out->under_min_isr_partitions += (int32_t)ps->n_isr < min_isr;
        }
    }
}

void controller_status_get(struct controller_role *role, struct controller_status *out)
{
    memset(out, 0, sizeof *out);
    out->state = "unavailable";
    out->metadata_offset = -1;
    if (!role->quorum_started || role->stopping) {
        return;
    }
    struct quorum *q = &role->quorum;
    out->state = quorum_state_name(q);
    quorum_leader(q, &out->leader_id, NULL);
    out->active = quorum_is_ready(q);
    out->term = quorum_term(q);
    out->last_index = quorum_last_index(q);
    out->applied_index = quorum_last_applied(q);
    out->metadata_offset = fsm_offset(&q->fsm);
    if (q->fsm.image != NULL) {
        count_image(q->fsm.image, role->config->min_insync_replicas, out);
    }
}

void controller_metrics_write(struct controller_role *role, struct prom_writer *w)
{
    struct controller_status st;
    controller_status_get(role, &st);
    prom_gauge(w, "sluice_controller_active", "1 on the active controller (raft leader, ready).",
               st.active);
    prom_gauge(w, "sluice_controller_leader_id",
               "The controller quorum's leader as this node knows it (0: none).", st.leader_id);
    prom_gauge(w, "sluice_raft_term", "Current raft term (0: unknown).", (int64_t)st.term);
    prom_gauge(w, "sluice_raft_last_index", "Index of the last entry in this node's raft log.",
               (int64_t)st.last_index);
    prom_gauge(w, "sluice_raft_applied_index",
               "Index of the last raft entry applied to the metadata image.",
               (int64_t)st.applied_index);
    prom_gauge(w, "sluice_controller_metadata_offset",
               "Offset of this controller's metadata image.", st.metadata_offset);
    prom_gauge(w, "sluice_controller_registered_brokers", "Brokers in the metadata image.",
               st.brokers);
    prom_gauge(w, "sluice_controller_fenced_brokers",
               "Brokers fenced in the metadata image (no leadership, no ISR).", st.fenced_brokers);
    prom_gauge(w, "sluice_cluster_partitions", "Partitions in the metadata image.", st.partitions);
    prom_gauge(w, "sluice_cluster_offline_partitions", "Partitions without a leader.",
               st.offline_partitions);
    prom_gauge(w, "sluice_cluster_under_replicated_partitions",
               "Partitions whose ISR is smaller than their replica set.",
               st.under_replicated_partitions);
    prom_gauge(w, "sluice_cluster_under_min_isr_partitions",
               "Partitions whose ISR is below their min.insync.replicas.",
               st.under_min_isr_partitions);
    if (role->service_started) {
        /* Served as the active controller; a version-3 request names many
         * partitions (issue 14). */
        const struct controller_service *svc = &role->service;
        prom_family(w, "sluice_controller_alter_partition_requests_total", "counter",
                    "AlterPartition requests served as the active controller.");
        prom_sample_int(w, "sluice_controller_alter_partition_requests_total", NULL, 0,
                        (int64_t)svc->alter_requests);
        prom_family(w, "sluice_controller_alter_partition_items_total", "counter",
                    "Partitions named in the AlterPartition requests served.");
        prom_sample_int(w, "sluice_controller_alter_partition_items_total", NULL, 0,
                        (int64_t)svc->alter_items);
    }
}
