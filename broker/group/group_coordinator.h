/* Kafka's classic group coordinator: consumer groups (join, sync,
 * heartbeat, leave, session and rebalance timeouts, static membership) and
 * their committed offsets, kept in the internal topic __consumer_offsets.
 *
 * A group lives in partition group_partition_for(id, n) of that topic, and
 * this broker coordinates it while it leads that partition. On the first
 * request after becoming leader (a new leader epoch) the partition's groups
 * and offsets are loaded from its log, up to the high watermark, before
 * anything is answered (COORDINATOR_LOAD_IN_PROGRESS until the high watermark
 * has caught up, KIP-207); when leadership goes, its groups are dropped and
 * requests get NOT_COORDINATOR. Offset commits are appended to the partition
 * as Kafka-schema records (group_records.h) and acknowledged only once the
 * high watermark passes them (acks=all), waiting in the replica layer's
 * purgatory; so are JoinGroup and SyncGroup while a rebalance runs.
 *
 * Answers come through callbacks, at once or later; pointers in a result are
 * valid during the callback only. Error codes are Kafka's. Loop thread only.
 * The coordinator borrows its dependencies, which must outlive it. */
#ifndef SLUICE_BROKER_GROUP_GROUP_COORDINATOR_H
#define SLUICE_BROKER_GROUP_GROUP_COORDINATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/metadata/metadata_view.h"
#include "broker/replica/replica_manager.h"
#include "common/config.h"

#define GROUP_OFFSETS_TOPIC "__consumer_offsets"
/* Kafka's offset.metadata.max.bytes default. */
#define GROUP_OFFSET_METADATA_MAX 4096

struct group_coordinator;

/* Allocate and start the coordinator (its expiry timer). 0 or -ENOMEM. */
int group_coordinator_start(struct group_coordinator **out, uv_loop_t *loop,
                            const struct sluice_config *cfg, struct metadata_view *metadata,
                            struct replica_manager *replicas);
/* Close the timer; the coordinator frees itself once it is closed. Waiting
 * requests are answered by the purgatory's own close. */
void group_coordinator_stop(struct group_coordinator *gc);

/* FindCoordinator: the node leading the group's partition. Creates
 * __consumer_offsets on first use (COORDINATOR_NOT_AVAILABLE meanwhile). */
int16_t group_find_coordinator(struct group_coordinator *gc, const char *group_id,
                               int32_t *node_id);

struct group_protocol {
    const char *name;
    const uint8_t *metadata;
    size_t len;
};

struct group_join_request {
    const char *group_id;
    const char *member_id;   /* "" on a first join */
    const char *instance_id; /* NULL: dynamic member */
    const char *protocol_type;
    const char *client_id;
    const char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    bool require_known_member; /* JoinGroup v4+: KIP-394 */
    const struct group_protocol *protocols;
    size_t n_protocols;
};

struct group_join_member {
    const char *member_id;
    const char *instance_id;
    const uint8_t *metadata;
    size_t len;
};

struct group_join_result {
    int16_t error;
    int32_t generation;
    const char *protocol_name;
    const char *leader;
    const char *member_id;
    const struct group_join_member *members; /* the leader's answer only */
    size_t n_members;
};

typedef void (*group_join_cb)(void *arg, const struct group_join_result *r);
void group_join(struct group_coordinator *gc, const struct group_join_request *req,
                group_join_cb cb, void *arg);

struct group_assignment {
    const char *member_id;
    const uint8_t *data;
    size_t len;
};

struct group_sync_request {
    const char *group_id;
    int32_t generation;
    const char *member_id;
    const char *instance_id;
    const struct group_assignment *assignments; /* the leader's */
    size_t n_assignments;
};

typedef void (*group_sync_cb)(void *arg, int16_t error, const uint8_t *assignment, size_t len);
void group_sync(struct group_coordinator *gc, const struct group_sync_request *req,
                group_sync_cb cb, void *arg);

int16_t group_heartbeat(struct group_coordinator *gc, const char *group_id, int32_t generation,
                        const char *member_id, const char *instance_id);

/* LeaveGroup: a member by id, or (static) by instance id. Returns the
 * group-level error; per-member errors in errors[i]. */
struct group_member_ref {
    const char *member_id;
    const char *instance_id;
};
int16_t group_leave(struct group_coordinator *gc, const char *group_id,
                    const struct group_member_ref *members, size_t n, int16_t *errors);

struct group_commit_partition {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    const char *metadata; /* NULL: none */
    int16_t error;        /* out */
};

/* OffsetCommit: `parts` (caller-owned until cb) get their errors, then cb. */
typedef void (*group_commit_cb)(void *arg);
void group_commit(struct group_coordinator *gc, const char *group_id, int32_t generation,
                  const char *member_id, const char *instance_id,
                  struct group_commit_partition *parts, size_t n, group_commit_cb cb, void *arg);

/* TxnOffsetCommit (KIP-98, KIP-447): the offsets are appended as one
 * transactional batch of the producer (acks=all before cb) and stay pending
 * until the producer's marker lands on the group's partition: applied on
 * commit, dropped on abort (group_txn_marker_written; a coordinator that
 * loads the partition does the same from the log). Member checks as Kafka's
 * validateOffsetCommit: a request naming a member (generation >= 0, a member
 * id or an instance id, v3) must name a current one (FENCED_INSTANCE_ID,
 * UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION); one naming none is accepted
 * whatever the group's state. INVALID_PRODUCER_EPOCH when the partition has
 * seen the producer at a newer epoch. */
struct group_txn_commit_request {
    const char *group_id;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t generation;      /* -1: none given (v0-2) */
    const char *member_id;   /* "": none */
    const char *instance_id; /* NULL: none */
};
void group_txn_commit(struct group_coordinator *gc, const struct group_txn_commit_request *req,
                      struct group_commit_partition *parts, size_t n, group_commit_cb cb,
                      void *arg);

/* OffsetFetch with require_stable (KIP-447): whether a transactional offset
 * of the partition is pending (UNSTABLE_OFFSET_COMMIT). */
bool group_offset_unstable(struct group_coordinator *gc, const char *group_id, const char *topic,
                           int32_t partition);

/* OffsetFetch: first check the group (NONE, NOT_COORDINATOR,
 * COORDINATOR_LOAD_IN_PROGRESS...), then look up partitions or visit all. */
int16_t group_offsets_ready(struct group_coordinator *gc, const char *group_id);
struct group_committed {
    const char *topic;
    int32_t partition;
    int64_t offset; /* -1: none */
    int32_t leader_epoch;
    const char *metadata;
};
bool group_committed_offset(struct group_coordinator *gc, const char *group_id, const char *topic,
                            int32_t partition, struct group_committed *out);
void group_each_committed(struct group_coordinator *gc, const char *group_id,
                          void (*fn)(void *arg, const struct group_committed *c), void *arg);

/* ListGroups over the groups this broker coordinates now. */
void group_each(struct group_coordinator *gc,
                void (*fn)(void *arg, const char *group_id, const char *protocol_type,
                           const char *state),
                void *arg);

struct group_described_member {
    const char *member_id;
    const char *instance_id;
    const char *client_id;
    const char *client_host;
    const uint8_t *metadata;
    size_t metadata_len;
    const uint8_t *assignment;
    size_t assignment_len;
};
struct group_description {
    const char *state; /* Kafka's names; "Dead" for an unknown group */
    const char *protocol_type;
    const char *protocol;
    const struct group_described_member *members;
    size_t n_members;
};
/* DescribeGroups: cb receives the description (or the error) at once. */
int16_t group_describe(struct group_coordinator *gc, const char *group_id,
                       void (*fn)(void *arg, const struct group_description *d), void *arg);

/* The end of an operation that writes to __consumer_offsets: `error` is
 * NONE only once the records are replicated (acks=all), so an answer never
 * promises what a leader change could undo. */
typedef void (*group_done_cb)(void *arg, int16_t error);

/* DeleteGroups: only a group without members (NON_EMPTY_GROUP,
 * GROUP_ID_NOT_FOUND); drops it and writes tombstones for its offsets and
 * metadata, then cb. cb may run before this returns. */
void group_delete(struct group_coordinator *gc, const char *group_id, group_done_cb cb, void *arg);

/* OffsetDelete: drop committed offsets of a group (GROUP_ID_NOT_FOUND);
 * refused per partition (GROUP_SUBSCRIBED_TO_TOPIC) while a member of a
 * "consumer" group subscribes to its topic. `refs` (caller-owned until cb)
 * get their errors, then cb with the group-level error (may run before this
 * returns). */
struct group_offset_ref {
    const char *topic;
    int32_t partition;
    int16_t error; /* out */
};
void group_delete_offsets(struct group_coordinator *gc, const char *group_id,
                          struct group_offset_ref *refs, size_t n, group_done_cb cb, void *arg);

#endif
