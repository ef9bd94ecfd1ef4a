/* What the controller role tells the HTTP endpoints: its quorum state
 * (/readyz: it knows its leader; the JSON status) and metrics in Prometheus
 * text (/metrics), read from the quorum and its replayed metadata image at
 * request time. Cluster-wide partition health comes from this node's image:
 * every controller reports it, the active one (sluice_controller_active 1)
 * is the current one. Loop thread only. */
#ifndef SLUICE_CONTROLLER_CONTROLLER_METRICS_H
#define SLUICE_CONTROLLER_CONTROLLER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/prom_text.h"
#include "controller/controller_role.h"

struct controller_status {
    const char *state;       /* raft state: follower, candidate, leader, ... (static) */
    int32_t leader_id;       /* 0: no leader known */
    bool active;             /* this node is the active controller */
    uint64_t term;           /* 0: unknown */
    uint64_t last_index;     /* raft log end */
    uint64_t applied_index;  /* applied to the metadata image */
    int64_t metadata_offset; /* of the image */
    int32_t brokers, fenced_brokers;
    int32_t partitions, offline_partitions, under_replicated_partitions, under_min_isr_partitions;
};

void controller_status_get(struct controller_role *role, struct controller_status *out);
void controller_metrics_write(struct controller_role *role, struct prom_writer *w);

#endif
