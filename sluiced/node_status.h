/* The node as the HTTP endpoints see it: whichever roles this process runs
 * (broker, controller or both), its readiness, its JSON status and its
 * metrics page. Also what sd_notify's READY=1 waits for.
 *
 * Ready means: the broker (if any) is registered, caught up with the
 * metadata, unfenced and serving clients; the controller (if any) knows the
 * quorum's leader; and the process is not shutting down. All pointers are
 * borrowed from sluiced. Loop thread only. */
#ifndef SLUICE_SLUICED_NODE_STATUS_H
#define SLUICE_SLUICED_NODE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/loop_busy.h"
#include "controller/controller_role.h"

struct broker_partition_snapshot;

/* What sluiced's heap trim timer did (sluiced.c trim_heap). */
struct heap_trim_counts {
    uint64_t trimmed;           /* ticks that trimmed the heap */
    uint64_t skipped_busy;      /* ticks that did not: the loop was busy */
    uint64_t skipped_unchanged; /* ticks that did not: resident memory had not grown */
};

struct node_status {
    const struct sluice_config *config;
    struct broker *broker;                     /* NULL: no broker role */
    struct controller_role *controller;        /* NULL: no controller role */
    const bool *stopping;                      /* the process is shutting down */
    const struct heap_trim_counts *heap_trims; /* NULL: none */
    const struct loop_busy *loop_busy;         /* NULL: not measured */
};

/* Whether the node is ready; if not, `why` says what it waits for. */
bool node_ready(const struct node_status *n, char *why, size_t whylen);
/* The JSON object `sluicectl node status` prints. 0 or -ENOMEM. */
int node_status_json(const struct node_status *n, struct buf *out);
/* The /metrics page. With `partitions` NULL, the whole of it; otherwise
 * all but the broker's per-partition families, whose values go into
 * *partitions (NULL when there are none) for broker_partition_snapshot_write
 * to append, on any thread. 0 or -ENOMEM (then *partitions is NULL). */
int node_metrics(const struct node_status *n, struct buf *out,
                 struct broker_partition_snapshot **partitions);

#endif
