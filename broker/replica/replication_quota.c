/* Replication throttles; see replication_quota.h. */
#include "broker/replica/replication_quota.h"

#include <string.h>

#define SPAN_MS ((uint64_t)REPLICATION_QUOTA_SAMPLES * REPLICATION_QUOTA_WINDOW_MS)

void replication_quota_init(struct replication_quota *q)
{
    memset(q, 0, sizeof *q);
    q->bound = INT64_MAX;
}

void replication_quota_set_bound(struct replication_quota *q, int64_t bound)
{
    q->bound = bound < 0 ? INT64_MAX : bound;
}

/* Forget samples that ended before the span (Kafka's purgeObsoleteSamples). */
static void purge(struct replication_quota *q, uint64_t now_ms)
{
    for (int i = 0; i < REPLICATION_QUOTA_SAMPLES; i++) {
        if (q->samples[i].used && q->samples[i].start_ms + SPAN_MS <= now_ms) {
            q->samples[i].used = false;
            q->samples[i].bytes = 0;
        }
    }
}

void replication_quota_record(struct replication_quota *q, uint64_t bytes, uint64_t now_ms)
{
    q->throttled_bytes += bytes;
    int c = q->current;
    if (!q->samples[c].used || now_ms >= q->samples[c].start_ms + REPLICATION_QUOTA_WINDOW_MS) {
        if (q->samples[c].used) {
            c = q->current = (c + 1) % REPLICATION_QUOTA_SAMPLES;
        }
        q->samples[c].used = true;
        q->samples[c].start_ms = now_ms;
        q->samples[c].bytes = 0;
    }
    q->samples[c].bytes += bytes;
}

double replication_quota_rate(struct replication_quota *q, uint64_t now_ms)
{
    purge(q, now_ms);
    uint64_t total = 0, oldest = now_ms;
    for (int i = 0; i < REPLICATION_QUOTA_SAMPLES; i++) {
        if (q->samples[i].used) {
            total += q->samples[i].bytes;
            oldest = q->samples[i].start_ms < oldest ? q->samples[i].start_ms : oldest;
        }
    }
    /* Kafka's Rate.windowSize: at least SAMPLES - 1 full windows, so a young
     * quota does not read a few bytes as a huge rate. */
    uint64_t elapsed = now_ms - oldest;
    uint64_t full = elapsed / REPLICATION_QUOTA_WINDOW_MS;
    if (full < REPLICATION_QUOTA_SAMPLES - 1) {
        elapsed += (REPLICATION_QUOTA_SAMPLES - 1 - full) * REPLICATION_QUOTA_WINDOW_MS;
    }
    return (double)total * 1000.0 / (double)elapsed;
}

bool replication_quota_exceeded(struct replication_quota *q, uint64_t now_ms)
{
    return q->bound != INT64_MAX && replication_quota_rate(q, now_ms) > (double)q->bound;
}
