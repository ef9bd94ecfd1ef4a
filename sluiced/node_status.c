/* The node's readiness, status and metrics; see node_status.h. */
#include "sluiced/node_status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker/broker_metrics.h"
#include "common/prom_text.h"
#include "controller/controller_metrics.h"

bool node_ready(const struct node_status *n, char *why, size_t whylen)
{
    if (*n->stopping) {
        snprintf(why, whylen, "shutting down");
        return false;
    }
    if (n->controller != NULL) {
        struct controller_status cs;
        controller_status_get(n->controller, &cs);
        if (cs.leader_id == 0) {
            snprintf(why, whylen, "controller: no quorum leader known (raft state %s)", cs.state);
            return false;
        }
    }
    if (n->broker != NULL) {
        struct broker_status bs;
        broker_status_get(n->broker, &bs);
        if (!bs.registered) {
            snprintf(why, whylen, "broker: not registered with the controllers");
            return false;
        }
        if (!bs.ready || !bs.accepting) {
            snprintf(why, whylen, "broker: not caught up with the metadata or fenced");
            return false;
        }
    }
    snprintf(why, whylen, "ready");
    return true;
}

/* A JSON string; the values here are config text and static names. */
static int json_string(struct buf *out, const char *s)
{
    int rv = buf_append(out, "\"", 1);
    for (; rv == 0 && s != NULL && *s != '\0'; s++) {
        char esc[8];
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            snprintf(esc, sizeof esc, "\\%c", c);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
        } else {
            rv = buf_append(out, s, 1);
            continue;
        }
        rv = buf_append(out, esc, strlen(esc));
    }
    return rv == 0 ? buf_append(out, "\"", 1) : rv;
}

static int appendf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int appendf(struct buf *out, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return n < 0 ? -EINVAL
                 : buf_append(out, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

int node_status_json(const struct node_status *n, struct buf *out)
{
    char why[160];
    bool ready = node_ready(n, why, sizeof why);
    int rv = appendf(out, "{\"node_id\":%d,\"roles\":", n->config->node_id);
    rv = rv ?: json_string(out, n->config->process_roles);
    rv = rv ?: appendf(out, ",\"ready\":%s,\"reason\":", ready ? "true" : "false");
    rv = rv ?: json_string(out, why);
    if (rv == 0 && n->loop_busy != NULL) {
        const struct loop_busy_stats *lb = loop_busy_stats(n->loop_busy);
        rv = appendf(out, ",\"event_loop\":{\"iterations\":%" PRIu64 ",\"busy_max_seconds\":%.6f}",
                     lb->count, (double)lb->max_ns / 1e9);
    }
    if (n->broker != NULL) {
        struct broker_status bs;
        broker_status_get(n->broker, &bs);
        rv = rv
                 ?: appendf(out,
                            ",\"broker\":{\"registered\":%s,\"caught_up_and_unfenced\":%s,"
                            "\"accepting_clients\":%s,\"broker_epoch\":%" PRId64
                            ",\"metadata_offset\":%" PRId64 ",\"partitions\":%d,\"leaders\":%d,"
                            "\"partitions_opening\":%d}",
                            bs.registered ? "true" : "false", bs.ready ? "true" : "false",
                            bs.accepting ? "true" : "false", bs.broker_epoch, bs.metadata_offset,
                            bs.partitions, bs.leaders, bs.partitions_opening);
    }
    if (n->controller != NULL) {
        struct controller_status cs;
        controller_status_get(n->controller, &cs);
        rv = rv ?: appendf(out, ",\"controller\":{\"state\":");
        rv = rv ?: json_string(out, cs.state);
        rv = rv
                 ?: appendf(out,
                            ",\"leader_id\":%d,\"active\":%s,\"term\":%" PRIu64
                            ",\"last_index\":%" PRIu64 ",\"applied_index\":%" PRIu64
                            ",\"metadata_offset\":%" PRId64
                            ",\"brokers\":%d,\"fenced_brokers\":%d,\"partitions\":%d,"
                            "\"offline_partitions\":%d,\"under_replicated_partitions\":%d,"
                            "\"under_min_isr_partitions\":%d}",
                            cs.leader_id, cs.active ? "true" : "false", cs.term, cs.last_index,
                            cs.applied_index, cs.metadata_offset, cs.brokers, cs.fenced_brokers,
                            cs.partitions, cs.offline_partitions, cs.under_replicated_partitions,
                            cs.under_min_isr_partitions);
    }
    return rv ?: appendf(out, "}\n");
}

/* Every request the node serves waits behind a callback that blocks its one
 * loop: the busy time per iteration shows such stalls (common/loop_busy.h). */
static void loop_busy_metrics(const struct loop_busy *lb, struct prom_writer *w)
{
    const struct loop_busy_stats *s = loop_busy_stats(lb);
    prom_family(w, "sluice_event_loop_busy_seconds", "histogram",
                "Time each event loop iteration ran callbacks between two waits for I/O; every "
                "request on the node waits behind a long one.");
    prom_histogram(w, "sluice_event_loop_busy_seconds", NULL, 0, loop_busy_bounds_seconds,
                   s->counts, LOOP_BUSY_N_BOUNDS, (double)s->sum_ns / 1e9);
    prom_family(w, "sluice_event_loop_busy_max_seconds", "gauge",
                "The longest busy event loop iteration since the process started.");
    prom_sample_double(w, "sluice_event_loop_busy_max_seconds", NULL, 0, (double)s->max_ns / 1e9);
}

int node_metrics(const struct node_status *n, struct buf *out,
                 struct broker_partition_snapshot **partitions)
{
    if (partitions != NULL) {
        *partitions = NULL;
    }
    struct prom_writer w;
    prom_writer_init(&w, out);
    char why[160];
    prom_gauge(&w, "sluice_node_ready",
               "1 when /readyz answers 200 (see sluiced/node_status.h for what that means).",
               node_ready(n, why, sizeof why));
    if (n->heap_trims != NULL) {
        prom_family(&w, "sluice_heap_trims_total", "counter",
                    "Heap trim timer ticks: trimmed, skipped because the event loop was busy "
                    "(a trim stops the loop; pages given back under traffic come straight back), "
                    "or skipped because resident memory had not grown since the last trim.");
        struct prom_label trimmed = {"result", "trimmed"}, skipped = {"result", "skipped_busy"},
                          unchanged = {"result", "skipped_unchanged"};
        prom_sample_int(&w, "sluice_heap_trims_total", &trimmed, 1,
                        (int64_t)n->heap_trims->trimmed);
        prom_sample_int(&w, "sluice_heap_trims_total", &skipped, 1,
                        (int64_t)n->heap_trims->skipped_busy);
        prom_sample_int(&w, "sluice_heap_trims_total", &unchanged, 1,
                        (int64_t)n->heap_trims->skipped_unchanged);
    }
    if (n->loop_busy != NULL) {
        loop_busy_metrics(n->loop_busy, &w);
    }
    if (n->broker != NULL) {
        broker_metrics_write(n->broker, &w, partitions);
    }
    if (n->controller != NULL) {
        controller_metrics_write(n->controller, &w);
    }
    int rv = prom_writer_error(&w);
    if (rv != 0 && partitions != NULL) {
        broker_partition_snapshot_free(*partitions);
        *partitions = NULL;
    }
    return rv;
}
