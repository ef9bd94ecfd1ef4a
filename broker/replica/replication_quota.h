/* One side's replication throttle (Kafka's ReplicationQuotaManager): the
 * bytes of throttled partitions, measured as a rate over sampled windows
 * (Kafka's defaults: 11 samples of 1 s, the rate's elapsed time padded to
 * ten full windows while younger, so a fresh quota allows a burst of ten
 * seconds' worth), against a bound in bytes per second
 * (`leader.replication.throttled.rate` / `follower.replication.throttled.rate`).
 *
 * The leader holds back what it serves to an out-of-sync follower of a
 * partition its `leader.replication.throttled.replicas` lists while the rate
 * exceeds the bound; the follower leaves out of its fetches the partitions
 * its `follower.replication.throttled.replicas` lists while it is not caught
 * up and the rate exceeds the bound. Replicas in sync are never held back, so
 * a throttle never shrinks the ISR. Pure (the caller passes the time). */
#ifndef SLUICE_BROKER_REPLICA_REPLICATION_QUOTA_H
#define SLUICE_BROKER_REPLICA_REPLICATION_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#define REPLICATION_QUOTA_SAMPLES   11
#define REPLICATION_QUOTA_WINDOW_MS 1000

struct replication_quota {
    int64_t bound; /* bytes per second; INT64_MAX: unlimited */
    struct {
        uint64_t start_ms;
        uint64_t bytes;
        bool used;
    } samples[REPLICATION_QUOTA_SAMPLES];
    int current;
    /* for /metrics */
    uint64_t throttled_bytes; /* recorded: bytes of throttled partitions moved */
    uint64_t held_back;       /* partition fetches held back by the throttle */
};

void replication_quota_init(struct replication_quota *q);
/* Change the bound (bytes per second; INT64_MAX: unlimited). The samples stay. */
void replication_quota_set_bound(struct replication_quota *q, int64_t bound);
/* Count `bytes` of throttled partitions moved at `now_ms`. */
void replication_quota_record(struct replication_quota *q, uint64_t bytes, uint64_t now_ms);
/* The measured rate in bytes per second at `now_ms`. */
double replication_quota_rate(struct replication_quota *q, uint64_t now_ms);
/* Whether the rate exceeds the bound (never when unlimited). */
bool replication_quota_exceeded(struct replication_quota *q, uint64_t now_ms);

#endif
