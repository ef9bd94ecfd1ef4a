/* The coordinator's private types, shared by its files (group_coordinator.c:
 * lifecycle, loading, expiry; group_membership.c: join, sync, heartbeat,
 * leave; group_offsets.c: commits and fetches). Not a public header. */
#ifndef SLUICE_BROKER_GROUP_GROUP_INTERNAL_H
#define SLUICE_BROKER_GROUP_GROUP_INTERNAL_H

#include "broker/coord/coord_log.h"
#include "broker/group/group_coordinator.h"
#include "broker/group/group_records.h"
#include "broker/replica/delayed_op.h"
#include "broker/replica/partition.h"

#define GROUP_MAX_PENDING 256

enum group_state {
    GROUP_EMPTY,
    GROUP_PREPARING_REBALANCE,
    GROUP_COMPLETING_REBALANCE,
    GROUP_STABLE,
    GROUP_DEAD, /* being dropped: waiting requests answer and let go */
};

struct member_protocol {
    char *name;
    uint8_t *metadata;
    size_t len;
};

struct group_member {
    char *id;
    char *instance_id; /* NULL: dynamic */
    char *client_id;
    char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    struct member_protocol *protocols;
    size_t n_protocols;
    uint8_t *assignment;
    size_t assignment_len;
    uint64_t last_seen_ms; /* uv_now of its last join, sync, heartbeat or commit */
    bool joining;          /* its JoinGroup waits for this rebalance */
};

struct group_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;
    int64_t commit_ms;     /* wall clock */
    int64_t record_offset; /* in __consumer_offsets: a later write wins (Kafka's olderThan) */
};

/* A transactional offset (TxnOffsetCommit) waiting for its producer's
 * marker: applied on commit, dropped on abort (group_txn.c). One per
 * producer and partition, the latest write. */
struct group_txn_offset {
    int64_t producer_id;
    struct group_offset o;
};

struct group {
    struct group *next;
    char *id;
    int32_t partition; /* of __consumer_offsets */
    enum group_state state;
    int32_t generation;
    char *protocol_type; /* NULL until a member joins */
    char *protocol_name;
    char *leader;
    struct group_member **members;
    size_t n_members, cap_members;
    struct group_offset *offsets;
    size_t n_offsets, cap_offsets;
    struct group_txn_offset *txn_offsets; /* pending transactional offsets */
    size_t n_txn_offsets, cap_txn_offsets;
    /* KIP-394: ids handed out with MEMBER_ID_REQUIRED, not yet joined with;
     * a ring of GROUP_MAX_PENDING, the oldest forgotten first. */
    char *pending[GROUP_MAX_PENDING];
    size_t next_pending;
    uint64_t rebalance_deadline;     /* uv_now: the join phase ends */
    uint64_t initial_delay_deadline; /* uv_now: a new group waits for more members */
    uint64_t empty_since_ms;         /* wall clock, for offsets.retention.minutes */
    struct delayed_key waiters;      /* JoinGroup and SyncGroup parked on this group */
    int32_t storing_generation;      /* its GroupMetadata is being replicated; -1: none */
};

struct group_coordinator {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    struct metadata_view *metadata;
    struct replica_manager *replicas;
    uv_timer_t tick;
    struct group *groups;
    struct coord_log log; /* __consumer_offsets */
};

/* group_coordinator.c */
/* The group's partition, loaded if this broker leads it: NONE,
 * NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS. */
int16_t group_route(struct group_coordinator *gc, const char *group_id, int32_t *partition);
struct group *group_find(struct group_coordinator *gc, const char *group_id);
struct group *group_get_or_create(struct group_coordinator *gc, const char *group_id,
                                  int32_t partition);
/* The leading partition of __consumer_offsets index `i`, or NULL. */
struct partition *group_log_partition(struct group_coordinator *gc, int32_t i);
/* Append `n` records to partition `i` without waiting; 0 or a Kafka error,
 * with *end the offset after them. */
int16_t group_append(struct group_coordinator *gc, int32_t i, const struct group_record *recs,
                     size_t n, int64_t *end);
/* group_append as one transactional batch of `producer` (NULL: plain). */
int16_t group_append_txn(struct group_coordinator *gc, int32_t i, const struct group_record *recs,
                         size_t n, const struct group_batch_producer *producer, int64_t *end);
/* acks=all for the coordinator's own writes: cb(arg, NONE) once partition
 * `i`'s high watermark reaches `end` under the leader epoch of now;
 * NOT_COORDINATOR if that leadership ends first (the records may be
 * truncated), REQUEST_TIMED_OUT after request.timeout.ms. cb may run before
 * this returns. */
void group_wait_replicated(struct group_coordinator *gc, int32_t i, int64_t end, group_done_cb cb,
                           void *arg);
const char *group_state_name(enum group_state s);
/* Append the group's GroupMetadata record (its generation and assignments,
 * or its emptiness) so a new coordinator restores members without a
 * rebalance: NONE with *end the offset after it, or a Kafka error (logged).
 * SyncGroup waits for it to replicate (group_wait_replicated) before the
 * members get their assignments; emptiness and a static member's rejoin do
 * not wait: a lost record there only costs the members a rejoin. */
int16_t group_store_metadata(struct group_coordinator *gc, struct group *g, int64_t *end);

/* group_membership.c */
void group_member_free(struct group_member *m);
/* Make room for one more member; 0 or -ENOMEM. */
int group_grow_members(struct group *g);
struct group_member *group_member_find(const struct group *g, const char *member_id);
/* Kafka's checks of a request from member `member_id` (`instance_id`: its
 * static id, NULL when dynamic) in `generation` of `g`: FENCED_INSTANCE_ID
 * when the static id is another member's, UNKNOWN_MEMBER_ID when there is
 * no such member, ILLEGAL_GENERATION when the generation is not the
 * group's; else NONE. *member (when `member` is not NULL) is the member
 * found, also with ILLEGAL_GENERATION, else NULL: whether the request
 * renews its session is the caller's decision. */
int16_t group_member_check(const struct group *g, int32_t generation, const char *member_id,
                           const char *instance_id, struct group_member **member);
void group_remove_member(struct group_coordinator *gc, struct group *g, struct group_member *m);
void group_prepare_rebalance(struct group_coordinator *gc, struct group *g);
/* Finish the join phase if it may (all joined, or the deadline passed). */
void group_maybe_complete_join(struct group_coordinator *gc, struct group *g);
/* Expire members whose session ran out. */
void group_expire_members(struct group_coordinator *gc, struct group *g, uint64_t now);

/* group_offsets.c */
/* Append the offset records of `parts` (those without an error; the
 * invalid ones get theirs) to partition `part` in one batch, transactional
 * when `producer` is set: NONE with *end the offset after it (-1: nothing
 * valid to write), or a Kafka error. */
int16_t group_commit_append(struct group_coordinator *gc, const char *group_id, int32_t part,
                            struct group_commit_partition *parts, size_t n, int64_t now,
                            const struct group_batch_producer *producer, int64_t *end);
/* Set `err` on every part still without an error. */
void group_commit_fail_all(struct group_commit_partition *parts, size_t n, int16_t err);
struct group_offset *group_offset_find(struct group *g, const char *topic, int32_t partition);
/* Set the committed offset written at `record_offset` in __consumer_offsets
 * (-1: unknown). 0 or -ENOMEM. */
int group_offset_put(struct group *g, const char *topic, int32_t partition,
                     const struct group_offset_value *v, int64_t record_offset);
void group_offset_remove(struct group *g, size_t i);
/* Free what a group_offset owns. */
void group_offset_clear(struct group_offset *o);
/* KIP-211: an empty group's offsets expire offsets.retention.minutes after it emptied. */
void group_expire_offsets(struct group_coordinator *gc, struct group *g, int64_t now_ms);

/* group_txn.c: transactional offsets. */
/* Keep the producer's offset written at `record_offset` pending (replacing
 * its earlier one for the partition). 0 or -ENOMEM. */
int group_txn_offset_put(struct group *g, int64_t producer_id, const char *topic, int32_t partition,
                         const struct group_offset_value *v, int64_t record_offset);
/* The producer's marker at `marker_offset`: its pending offsets written
 * before it become committed (unless a later plain commit wrote the
 * partition) or, on abort, are dropped. -ENOMEM leaves an offset pending. */
int group_txn_complete(struct group *g, int64_t producer_id, bool commit, int64_t marker_offset);
/* Drop every producer's pending offset of the partition (a tombstone). */
void group_txn_forget(struct group *g, const char *topic, int32_t partition);
bool group_txn_pending(const struct group *g, const char *topic, int32_t partition);
void group_txn_free(struct group *g);
/* The txn_markers listener (txn_marker_listener_fn): `arg` is the coordinator. */
struct txn_marker_written;
void group_txn_marker_written(void *arg, const struct txn_marker_written *m);

#endif
