/* Kafka request counters for /metrics: per API key, how many requests were
 * answered, how many closed the connection instead (undecodable, unsupported,
 * or failed to encode), and a latency histogram from the frame's arrival to
 * the answer (or the connection's close).
 *
 * The struct is plain counters, owned by the broker and borrowed by every
 * call through kafka_services. Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_REQUEST_METRICS_H
#define SLUICE_BROKER_KAFKA_REQUEST_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/prom_text.h"

/* Kafka's API keys are below this (Kafka 4 uses up to 90). */
#define REQUEST_METRICS_MAX_KEY  128
#define REQUEST_METRICS_N_BOUNDS 15

struct api_request_stats {
    uint64_t requests; /* answered, or answered with none (acks=0) */
    uint64_t failures; /* closed the connection instead of an answer */
    uint64_t latency_buckets[REQUEST_METRICS_N_BOUNDS + 1];
    double latency_seconds_sum;
};

struct request_metrics {
    struct api_request_stats api[REQUEST_METRICS_MAX_KEY];
};

/* One request of `api_key` ended after `elapsed_ns`; keys out of range are
 * not counted (such requests close their connection anyway). */
void request_metrics_record(struct request_metrics *m, int16_t api_key, bool failed,
                            uint64_t elapsed_ns);
/* sluice_kafka_requests_total, sluice_kafka_request_failures_total and
 * sluice_kafka_request_duration_seconds, labelled api="Produce" etc., for
 * every API this broker serves. */
void request_metrics_write(const struct request_metrics *m, struct prom_writer *w);

#endif
