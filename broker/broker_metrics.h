/* What the broker role tells the HTTP endpoints: its readiness (/readyz,
 * the JSON status) and its metrics in Prometheus text (/metrics).
 *
 * Everything is read from the broker's own state on the loop thread at
 * request time (counters live where the events happen: request_metrics in
 * dispatch, partition_traffic in each partition); nothing is kept here.
 * Per-partition series are one walk over the hosted partitions, so a
 * scrape costs a few lines per partition: the loop may only copy their
 * values into a snapshot (a plain array, no pointers into the partitions)
 * and render its text elsewhere, on the thread pool (issue 14: the text of
 * 5,000 partitions stalled the loop for tens of milliseconds). */
#ifndef SLUICE_BROKER_BROKER_METRICS_H
#define SLUICE_BROKER_BROKER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/broker.h"
#include "common/prom_text.h"

struct broker_status {
    bool registered;             /* the controllers answered this incarnation's registration */
    bool ready;                  /* registered, caught up with the metadata and unfenced */
    bool accepting;              /* the Kafka listeners accept clients */
    int64_t broker_epoch;        /* 0 until registered */
    int64_t metadata_offset;     /* of the broker's replayed image, -1 before the first */
    int32_t partitions, leaders; /* hosted, and led by this broker */
    int32_t partitions_opening;  /* logs still being opened or recovered on the thread pool */
};

void broker_status_get(struct broker *b, struct broker_status *out);
struct broker_partition_snapshot;

/* Append the broker's metrics families (loop thread). With `partitions`
 * NULL, the per-partition ones too; otherwise their values are copied into
 * a snapshot, *partitions (left NULL when the broker is not started or
 * memory ran out, the latter also an error of `w`), for the caller to write
 * and free. */
void broker_metrics_write(struct broker *b, struct prom_writer *w,
                          struct broker_partition_snapshot **partitions);
/* The per-partition families of the snapshot: log size, segments, log end,
 * high watermark, leadership and followers' lag. Touches nothing but the
 * snapshot: any thread. */
void broker_partition_snapshot_write(const struct broker_partition_snapshot *s,
                                     struct prom_writer *w);
/* NULL is a no-op. */
void broker_partition_snapshot_free(struct broker_partition_snapshot *s);

#endif
