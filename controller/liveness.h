/* Broker liveness on the active controller: when each broker last sent a
 * heartbeat, and which are shutting down (KIP-631's broker sessions).
 *
 * Deliberately outside the FSM: time is local to the leader and not
 * replicated. What it decides (fence a silent broker) becomes records the
 * leader proposes. A new leader starts every known broker's session afresh,
 * as KRaft does, so a controller failover does not fence the whole cluster.
 *
 * Pure: the caller passes `now` (milliseconds, e.g. uv_now). Single-threaded. */
#ifndef SLUICE_CONTROLLER_LIVENESS_H
#define SLUICE_CONTROLLER_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct liveness_session {
    int32_t broker_id;
    int64_t broker_epoch;
    uint64_t last_heartbeat;
    bool shutting_down;
};

struct liveness {
    uint64_t session_timeout_ms;
    struct liveness_session *sessions;
    size_t n, cap;
    uint64_t changes; /* bumped whenever a broker's shutting_down changes (elections read it) */
};

void liveness_init(struct liveness *l, uint64_t session_timeout_ms);
void liveness_free(struct liveness *l);
/* Record a heartbeat (or registration) of `broker_id` at `epoch`; a new
 * epoch starts a new session (clearing shutting_down). 0 or -ENOMEM. */
int liveness_touch(struct liveness *l, int32_t broker_id, int64_t epoch, uint64_t now);
/* Every session restarts at `now` (on becoming the active controller). */
void liveness_reset(struct liveness *l, uint64_t now);
/* Whether the broker's session has lapsed: no heartbeat for longer than the
 * session timeout, or never seen by this controller. */
bool liveness_expired(const struct liveness *l, int32_t broker_id, uint64_t now);
/* Whether the broker has a live session with the given epoch. */
bool liveness_active(const struct liveness *l, int32_t broker_id, int64_t epoch, uint64_t now);
void liveness_set_shutting_down(struct liveness *l, int32_t broker_id);
bool liveness_shutting_down(const struct liveness *l, int32_t broker_id);

#endif
