/* The controller RPC service (proto/controller.proto) on the CONTROLLER
 * listener.
 *
 * Only the active controller (quorum ready: leader and past its barrier)
 * changes anything; every other node answers NOT_CONTROLLER with the
 * leader's id and address when known, and callers retry there. Requests are
 * checked against the current image, turned into record batches, proposed,
 * and answered once committed and applied, from the FSM result (a rejection
 * at apply time, e.g. a concurrent creation of the same topic, reaches the
 * caller as its Kafka error). An outcome lost with the leadership is answered
 * NOT_CONTROLLER; retries are safe because records are idempotent or
 * compare-and-set (shared/RAFT.md).
 *
 * The service also runs the leader's periodic duties: fencing brokers whose
 * session lapsed (broker.session.timeout.ms), and electing new partition
 * leaders when a leader is fenced or shutting down (controller/election).
 *
 * Loop thread only; the struct is caller-owned until the close callback. */
#ifndef SLUICE_CONTROLLER_SERVICE_H
#define SLUICE_CONTROLLER_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/rpc_server.h"
#include "controller/liveness.h"
#include "controller/offline_replicas.h"
#include "controller/quorum.h"
#include "metadata/voters.h"

/* Settings come from the process configuration (borrowed for the service's
 * lifetime): num.partitions, default.replication.factor, delete.topic.enable,
 * unclean.leader.election.enable, broker.session.timeout.ms,
 * broker.heartbeat.interval.ms, cluster.id (NULL: generated once by the first
 * active controller), and topic-config validation of CreateTopics. */
#include "common/config.h"

struct controller_service {
    void *data; /* owner's */
    uv_loop_t *loop;
    struct quorum *quorum;
    struct voters voters;
    const struct sluice_config *config;
    char cluster_id[64];
    struct rpc_server server;
    struct liveness liveness;
    struct offline_replicas offline; /* from heartbeats; see offline_replicas.h */
    uv_timer_t timer;
    bool duty_in_flight; /* one fencing/election proposal at a time */
    /* What the last election scan that found nothing to do saw: while the
     * image, the shutting-down brokers and the offline replicas are as they
     * were, a scan of every partition would find nothing again (elections
     * read nothing else), so the duty timer skips it. elect_clean_offset -1:
     * scan. */
    int64_t elect_clean_offset;
    uint64_t elect_clean_liveness, elect_clean_offline;
    int64_t reassign_clean_offset; /* the same for completing reassignments (image only) */
    uint64_t elect_scans;          /* election scans of every partition run (tests) */
    uint64_t rebalance_due_ms;     /* next auto leader rebalance check; 0: not scheduled yet */
    /* AlterPartition requests served as the active controller, and the
     * partitions they named (a version-3 request names many): for
     * /metrics. */
    uint64_t alter_requests, alter_items;
    unsigned ops_in_flight;
    bool closing;
    unsigned open_handles;
    void (*close_cb)(struct controller_service *svc);
    /* The clock broker sessions are timed by, in milliseconds; NULL means
     * uv_now(loop). See controller_service_set_clock. */
    uint64_t (*clock)(void *clock_data);
    void *clock_data;
    const struct internal_tls *tls; /* borrowed; NULL: plaintext */
};

/* Listen on host:port (IPv4/IPv6 literal; port 0 picks one) and serve.
 * `quorum` is borrowed and must outlive the service; `voters` is copied
 * (for NOT_CONTROLLER hints). `tls` (the controller listener's, borrowed,
 * outliving the service; NULL or not enabled: plaintext) makes every caller
 * prove itself with mutual TLS, and each method checks who the caller is
 * (service_identity.c). Returns 0 or a libuv error. */
int controller_service_start(struct controller_service *svc, uv_loop_t *loop, struct quorum *quorum,
                             const struct voters *voters, const struct sluice_config *config,
                             const char *host, int port, const struct internal_tls *tls);
/* The quorum's leadership callback must forward here (the owner wires it):
 * a new active controller restarts broker sessions and sets the cluster id. */
void controller_service_leadership(struct controller_service *svc, bool ready);
int controller_service_port(struct controller_service *svc);
/* Time broker sessions by `clock(clock_data)` instead of the loop's clock
 * (tests, to step time without waiting or racing slow commits). Call right
 * after controller_service_start, before the loop runs. */
void controller_service_set_clock(struct controller_service *svc, uint64_t (*clock)(void *data),
                                  void *clock_data);
/* Now, by the service's clock (milliseconds). */
uint64_t controller_service_now(const struct controller_service *svc);
/* Run the periodic duties now (tests; normally a timer does). */
void controller_service_tick(struct controller_service *svc);
/* Stop listening; requests in flight are answered as their proposals finish
 * (close the quorum after this callback). */
void controller_service_close(struct controller_service *svc,
                              void (*cb)(struct controller_service *svc));

#endif
