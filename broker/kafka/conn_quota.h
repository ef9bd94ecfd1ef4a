/* Connection quotas of the Kafka listeners, as Kafka's ConnectionQuotas:
 * `max.connections` across every listener, `max.connections.per.ip` per
 * client address with `max.connections.per.ip.overrides` ("ip:count,...";
 * addresses only, no host names), `max.connection.creation.rate` (new
 * connections per second across the listeners, counted in whole-second
 * windows; Kafka delays the excess, Sluice refuses it), and a descriptor
 * headroom: a connection
 * whose descriptor lands within `fd_reserve` of RLIMIT_NOFILE is refused, so
 * segments, indexes and the controller's sockets can still be opened (the
 * kernel hands out the lowest free descriptor, so a high one means nearly
 * all are in use).
 *
 * Owns its maps; loop thread only. A refused connection is still accepted
 * and closed at once by the caller, as Kafka does. */
#ifndef SLUICE_BROKER_KAFKA_CONN_QUOTA_H
#define SLUICE_BROKER_KAFKA_CONN_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strmap.h"

struct conn_quota {
    int32_t max_total, max_per_ip, max_rate;
    int32_t total;
    uint64_t window_start_ms; /* the current one-second rate window */
    int32_t window_count;     /* connections admitted in it */
    int fd_limit;             /* RLIMIT_NOFILE soft limit when initialised */
    int fd_reserve;           /* descriptors kept free for everything else */
    struct strmap overrides;  /* ip -> (intptr_t)limit + 1 */
    struct strmap per_ip;     /* ip -> (intptr_t)open connections */
    /* Refusals, for the caller's rate-limited log line. */
    uint64_t refused;         /* since init */
    const char *last_refused; /* the limit named by the last refusal */
    char last_refused_ip[64]; /* and its client */
};

/* Parse the overrides and read the descriptor limit. Returns 0, or -EINVAL
 * with `err` naming the bad entry, or -ENOMEM. */
int conn_quota_init(struct conn_quota *q, int32_t max_total, int32_t max_per_ip,
                    const char *overrides, int fd_reserve, char *err, size_t errlen);

/* Set max.connection.creation.rate (per second; <= 0 or INT32_MAX: none). */
void conn_quota_set_rate(struct conn_quota *q, int32_t per_second);
void conn_quota_free(struct conn_quota *q);

/* Count a new connection from `ip` holding descriptor `fd`, arriving at
 * `now_ms` (a monotonic clock). Returns NULL and counts it, or the name of
 * the limit it would pass (counting nothing). */
const char *conn_quota_admit(struct conn_quota *q, const char *ip, int fd, uint64_t now_ms);

/* Forget an admitted connection from `ip`. */
void conn_quota_release(struct conn_quota *q, const char *ip);

/* The limit for `ip` (its override or max_per_ip). */
int32_t conn_quota_limit_for(const struct conn_quota *q, const char *ip);

#endif
