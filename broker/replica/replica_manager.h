/* The partitions this broker hosts, kept in step with the metadata view:
 * partition roles (Kafka's ReplicaManager).
 *
 * Opens a partition (its log through the log manager, on the thread pool)
 * for every partition the metadata lists this broker as a replica of (at
 * start-up, waiting for all of them, and when topics are created, grow or
 * are reassigned, without waiting), applies each one's leader, leader
 * epoch and ISR (partition_apply_state), deletes them when topics are
 * deleted, and pushes topic config changes. Owns the log manager (data
 * directories, retention, flush and checkpoint timers) and the one
 * delayed-operation queue Fetch and Produce wait in. Loop thread. */
#ifndef SLUICE_BROKER_REPLICA_REPLICA_MANAGER_H
#define SLUICE_BROKER_REPLICA_REPLICA_MANAGER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/data_dir.h"
#include "broker/metadata/metadata_view.h"
#include "broker/replica/alter_outcome.h"
#include "broker/replica/change_journal.h"
#include "broker/replica/delayed_op.h"
#include "broker/replica/isr_retry_log.h"
#include "broker/replica/log_manager.h"
#include "broker/replica/partition.h"
#include "broker/replica/replication_quota.h"
#include "common/config.h"
#include "common/strmap.h"

struct replica_fetcher;
struct replica_session_cache;

/* How the replica layer reaches the controller (the broker wires it to its
 * controller link). NULL functions: no controller (ISR changes are not
 * proposed). */
/* `error`: 0 (applied: the committed state follows), the controller's
 * Kafka error code (with the partition's committed state when it sent one,
 * else leader_epoch -1 and no ISR), REPLICA_ALTER_UNKNOWN or
 * REPLICA_ALTER_NOT_SENT (alter_outcome.h says what each proves). */
typedef void (*replica_alter_cb)(void *arg, int32_t error, int32_t leader, int32_t leader_epoch,
                                 int32_t partition_epoch, const int32_t *isr, int32_t n_isr);
struct replica_controller {
    void *data;
    int64_t (*broker_epoch)(void *data);
    /* AlterPartition with each member's broker epoch (-1: unknown, for
     * members already in the ISR): 0 and `cb` fires once later, or an error. */
    int (*alter_partition)(void *data, const uint8_t topic_id[16], int32_t index,
                           int32_t leader_epoch, int32_t partition_epoch, const int32_t *isr,
                           const int64_t *broker_epochs, int32_t n_isr, replica_alter_cb cb,
                           void *arg);
    /* Whether this broker may act as a leader now (not isolated: it stops
     * acknowledging writes and serving as leader otherwise). */
    bool (*may_lead)(void *data, uint64_t now_ms);
    /* The replicas this broker cannot serve, by topic id and partition, and
     * the offline log directories (the whole set each time; see
     * broker_session_set_offline). NULL: not reported. */
    int (*report_offline)(void *data, const uint8_t (*topic_ids)[16], const int32_t *partitions,
                          size_t n, const char *const *dirs, size_t n_dirs);
    /* Every log directory is offline: nothing is left to serve, and the
     * broker shuts down (as Kafka does). NULL: nothing happens. */
    void (*all_dirs_offline)(void *data);
};

struct internal_tls;
struct txn_marker_written;

/* The changes a follower's session may miss between two fetches before the
 * leader looks at all of its partitions again: seconds of changes at
 * thousands a second, 256 KiB. */
#define REPLICA_CHANGE_JOURNAL_RECORDS 65536

struct replica_manager {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    const struct data_dirs *dirs;
    struct metadata_view *metadata;
    struct strmap topics; /* name -> struct hosted_topic * */
    struct log_manager logs;
    struct delayed_queue delayed;
    int32_t self;
    struct replica_controller controller;
    struct replica_fetcher **fetchers; /* one per (leader, slot) in use */
    size_t n_fetchers, cap_fetchers;
    /* Moves whenever a hosted partition may have joined a fetcher's set (a
     * fetcher is kicked for it) or been freed: fetchers keep their own
     * partitions and walk all hosted ones again only then. */
    uint64_t fetch_set_gen;
    uv_timer_t isr_timer;
    struct isr_retry_log isr_retry_log; /* unanswered ISR changes, a line per round */
    bool running;
    const struct internal_tls *tls; /* fetching from leaders over mutual TLS; NULL: plaintext */
    bool offline_dirty;             /* the offline replicas changed since the last report */
    /* told of every replicated transaction marker (txn_markers.h) */
    void (*marker_listener)(void *arg, const struct txn_marker_written *m);
    void *marker_listener_arg;
    /* Replication throttles (replication_quota.h): what this broker serves
     * as leader and fetches as follower for throttled partitions. */
    struct replication_quota leader_quota, follower_quota;
    /* Followers' incremental fetch sessions with this leader
     * (replica_session.h); NULL once stopped. */
    struct replica_session_cache *fetch_sessions;
    /* What changed, for the leader's views of those sessions
     * (change_journal.h): every hosted partition has a slot in it, slots
     * of freed partitions are reused (free_slots), and partitions_gen moves
     * whenever a partition gets or gives up its slot. */
    struct change_journal changes;
    uint32_t n_slots, *free_slots;
    size_t n_free_slots, cap_free_slots;
    uint64_t partitions_gen;
    /* Follower fetches served as leader: requests, partitions they named,
     * partitions served (with their sessions' cached ones), partitions
     * looked at to answer them (what changed, unless a fetch sweeps its
     * session), partitions answered, and session errors answered. */
    struct {
        uint64_t requests, named, served, examined, answered, session_errors;
    } fetch_stats;
    /* This broker's fetcher rounds as follower (fetcher.c): full ones
     * (visiting every partition a fetcher follows), incremental ones (only
     * the partitions the last answer moved), and the partitions all rounds
     * visited (with the walks over every hosted partition that rebuild a
     * fetcher's set). */
    struct {
        uint64_t full_rounds, incremental_rounds, partitions_walked;
        uint64_t overflow_rounds; /* full rounds that left partitions for the next */
    } fetcher_stats;
    /* The most partitions one follower fetch names (fetcher.c); 0 (the
     * default) or more than REPLICA_FETCH_MAX_PARTITIONS (4096,
     * replica_session.h) means REPLICA_FETCH_MAX_PARTITIONS.
     * Tests lower it before the fetchers start. */
    size_t fetch_request_max_partitions;
    uint64_t open_seq; /* numbers the partition opens in flight */
    struct replica_opens_waiter *opens_waiters;
};

/* Open every hosted partition and subscribe to metadata changes. All
 * arguments are borrowed and must outlive the manager. Returns 0 or a
 * negative error with `err` (nothing left open). */
int replica_manager_start(struct replica_manager *rm, uv_loop_t *loop,
                          const struct sluice_config *cfg, const struct data_dirs *dirs,
                          struct metadata_view *metadata, char *err, size_t errlen);
/* Complete waiting operations, flush and close every log, close the timers
 * (their handles finish closing on the next loop run). A
 * log_manager_flush_all still under way stops without calling its
 * callback. */
void replica_manager_stop(struct replica_manager *rm);

/* Partitions whose logs are being opened on the thread pool (a new topic's,
 * or one that grew or moved here): each becomes hosted, its role applied,
 * only once its files are durable; until then replica_manager_partition
 * says NULL and clients are told NOT_LEADER_OR_FOLLOWER. */
size_t replica_manager_opening(const struct replica_manager *rm);
/* File deletions (deleted partitions' directories, deleted segments' files)
 * waiting for the thread pool or on it (log_manager_deletions_pending). */
size_t replica_manager_deletions_pending(const struct replica_manager *rm);

/* Something to run once the partitions of some topics are open. */
struct replica_opens_waiter {
    void (*cb)(struct replica_opens_waiter *w);
    /* The topics whose opens to wait for (the caller's, until cb); none:
     * cb runs at once. */
    const char *const *topics;
    size_t n_topics;
    struct replica_opens_waiter *next; /* private */
};
/* Run w->cb once no partition of w's topics is being opened here: from this
 * call if none is, else on the loop when the last of their opens in flight
 * is done (or the manager stops). Opens of other topics (thousands of a
 * restart or of another new topic) do not hold it. An admin request that
 * created or grew topics answers only then, so a client producing to this
 * broker right after the answer finds the partitions this broker leads
 * open. `w` is the caller's until then. */
void replica_manager_after_opens(struct replica_manager *rm, struct replica_opens_waiter *w);

/* The hosted partition, or NULL (unknown topic, index out of range, or
 * still being opened). */
struct partition *replica_manager_partition(const struct replica_manager *rm, const char *topic,
                                            int32_t index);

/* Fetch from leaders over the inter-broker listener's TLS `tls` (borrowed,
 * outliving the manager; NULL or not enabled: plaintext): each leader's
 * certificate must name its host (tls->verify_host) and be the leader's
 * node's (node.principal.pattern). */
void replica_manager_set_tls(struct replica_manager *rm, const struct internal_tls *tls);

/* Whether this broker is a replica of `topic`-`index` but cannot serve it:
 * its log directory is offline, or it could not be opened. Clients get
 * KAFKA_STORAGE_ERROR for it. */
bool replica_manager_partition_offline(const struct replica_manager *rm, const char *topic,
                                       int32_t index);

/* The log directory (index into the data dirs) a hosted, open partition lives
 * in, or -1. */
int replica_manager_partition_dir(const struct replica_manager *rm, const char *topic,
                                  int32_t index);

/* Wire the controller (before partitions lead anything that replicates). */
void replica_manager_set_controller(struct replica_manager *rm, const struct replica_controller *c);

/* Visit every hosted partition. */
void replica_manager_each_partition(struct replica_manager *rm,
                                    void (*fn)(struct partition *p, void *arg), void *arg);
/* Kafka's stray replicas: delete every partition directory in an online log
 * directory that the metadata does not assign to this broker (a replica
 * moved away, or a topic deleted, while this broker was down). Call only once
 * this broker has current metadata (its own unfenced registration in the
 * image): before that, every directory looks unassigned. */
void replica_manager_delete_strays(struct replica_manager *rm);
/* The leader's (`leader`) or the follower's throttle, its bound refreshed
 * from this broker's dynamic config (leader. / follower.replication.throttled.rate). */
struct replication_quota *replica_manager_quota(struct replica_manager *rm, bool leader);
/* Broker `id`'s endpoint on the inter-broker listener, NULL if unknown. */
const struct metadata_endpoint *replica_manager_endpoint(struct replica_manager *rm, int32_t id);
/* This broker's registration epoch (-1 unknown). */
int64_t replica_manager_broker_epoch(struct replica_manager *rm);
/* The inter-broker listener's name (inter.broker.listener.name, default
 * REPLICATION). */
const char *replica_listener_name(const struct sluice_config *cfg);
/* Whether this broker may act as a leader now (see replica_controller). */
bool replica_manager_may_lead(struct replica_manager *rm);
/* Isolation began (or anything else every parked operation must see): ask
 * every parked operation again. */
void replica_manager_wake_all(struct replica_manager *rm);

/* Park `op` (watching partitions through partition_watch) until it is ready
 * or `timeout_ms` passes: the one purgatory for Fetch and Produce waits. */
void replica_manager_park(struct replica_manager *rm, struct delayed_op *op, uint64_t timeout_ms);

#endif
