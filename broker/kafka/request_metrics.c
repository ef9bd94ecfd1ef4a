/* Kafka request counters; see request_metrics.h. */
#include "broker/kafka/request_metrics.h"

#include <stddef.h>

#include "broker/kafka/dispatch.h"

/* Seconds: a produce to page cache takes well under a millisecond, acks=all
 * waits for followers, and a Fetch long poll waits up to fetch.max.wait.ms. */
static const double bounds[REQUEST_METRICS_N_BOUNDS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

void request_metrics_record(struct request_metrics *m, int16_t api_key, bool failed,
                            uint64_t elapsed_ns)
{
    if (m == NULL || api_key < 0 || api_key >= REQUEST_METRICS_MAX_KEY) {
        return;
    }
    struct api_request_stats *s = &m->api[api_key];
    if (failed) {
        s->failures++;
    } else {
        s->requests++;
    }
    double seconds = (double)elapsed_ns / 1e9;
    size_t b = 0;
    while (b < REQUEST_METRICS_N_BOUNDS && seconds > bounds[b]) {
        b++;
    }
    s->latency_buckets[b]++;
    s->latency_seconds_sum += seconds;
}

void request_metrics_write(const struct request_metrics *m, struct prom_writer *w)
{
    size_t n = kafka_dispatch_api_count();
    prom_family(w, "sluice_kafka_requests_total", "counter",
                "Kafka requests answered (acks=0 produces included), by API.");
    for (size_t i = 0; i < n; i++) {
        int16_t key, min, max;
        kafka_dispatch_api_at(i, &key, &min, &max);
        struct prom_label l = {"api", kafka_dispatch_api_name(key)};
        prom_sample_int(w, "sluice_kafka_requests_total", &l, 1, (int64_t)m->api[key].requests);
    }
    prom_family(w, "sluice_kafka_request_failures_total", "counter",
                "Kafka requests that closed their connection instead of an answer (undecodable, "
                "unsupported version, encode failure), by API.");
    for (size_t i = 0; i < n; i++) {
        int16_t key, min, max;
        kafka_dispatch_api_at(i, &key, &min, &max);
        struct prom_label l = {"api", kafka_dispatch_api_name(key)};
        prom_sample_int(w, "sluice_kafka_request_failures_total", &l, 1,
                        (int64_t)m->api[key].failures);
    }
    prom_family(w, "sluice_kafka_request_duration_seconds", "histogram",
                "Time from a request's arrival to its answer, by API.");
    for (size_t i = 0; i < n; i++) {
        int16_t key, min, max;
        kafka_dispatch_api_at(i, &key, &min, &max);
        const struct api_request_stats *s = &m->api[key];
        struct prom_label l = {"api", kafka_dispatch_api_name(key)};
        prom_histogram(w, "sluice_kafka_request_duration_seconds", &l, 1, bounds,
                       s->latency_buckets, REQUEST_METRICS_N_BOUNDS, s->latency_seconds_sum);
    }
}
