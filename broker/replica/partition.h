/* A partition this broker hosts: its partition_log, its role (leader or
 * follower, at which leader epoch), its high watermark, and the delayed
 * operations waiting on it.
 *
 * The log keeps offsets and segments; this module decides. In particular the
 * high watermark lives here: the log only checkpoints the value it is told
 * (partition_log_set_high_watermark), and the checkpointed value is never
 * raised to the log end offset on open.
 *
 * High watermark rule (partition_hw_rule, pure): the leader's high watermark
 * is the minimum log end offset over the ISR (itself included), never moving
 * backwards; a follower's is min(leader's high watermark, own log end).
 *
 * Durability promise (broker/replica/README.md): see there.
 *
 * Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_PARTITION_H
#define SLUICE_BROKER_REPLICA_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/log/partition_log.h"
#include "broker/metadata/topic_name.h"
#include "broker/replica/change_journal.h"
#include "broker/replica/delayed_op.h"
#include "common/config.h"

#define PARTITION_MAX_REPLICAS 16

enum partition_role {
    PARTITION_FOLLOWER = 0, /* hosts a replica; another broker (or nobody) leads */
    PARTITION_LEADER = 1,
};

/* What the leader knows of one replica (itself included). */
struct replica_progress {
    int32_t broker_id;
    int64_t log_end;               /* -1: unknown (has not fetched in this epoch) */
    uint64_t caught_up_ms;         /* last time it had everything the leader had (uv_now) */
    uint64_t last_fetch_ms;        /* its last fetch (uv_now) */
    int64_t last_fetch_leader_end; /* the leader's log end at that fetch */
    int64_t broker_epoch;          /* the epoch it fetched with (KIP-903), -1 unknown */
    int64_t log_start;             /* its log start offset, from its fetches; -1 unknown */
};

/* A follower's fetching state (replica side). */
enum partition_fetch_state {
    FETCH_NONE = 0, /* leader, or no leader to fetch from */
    FETCH_TRUNCATE, /* ask the leader where our last epoch ends, cut what diverges */
    FETCH_ACTIVE,   /* fetching */
};

/* Counted since this broker opened the partition, for /metrics. */
struct partition_traffic {
    uint64_t bytes_in, records_in;     /* appended as leader (client produce) */
    uint64_t bytes_out;                /* read by consumers (not by followers) */
    uint64_t isr_shrinks, isr_expands; /* ISR changes this broker made as leader */
};

/* What an unresolved ISR proposal (alter_in_flight) waits for. */
enum partition_alter_wait {
    ALTER_WAIT_ANSWER,   /* its request is out */
    ALTER_WAIT_RESEND,   /* outcome unknown: the same proposal goes again at alter_retry_ms */
    ALTER_WAIT_METADATA, /* lost the compare-and-set: a newer partition epoch settles it */
};

struct partition {
    char topic[TOPIC_NAME_MAX + 1];
    int32_t index;
    char *dir;                 /* owned: the partition's directory */
    struct partition_log *log; /* owned */
    struct delayed_key waiters;
    /* The replica manager's journal of changed partitions, and this
     * partition's slot in it (partition_set_journal); NULL: none. */
    struct change_journal *journal;
    uint32_t slot;
    /* role, from the metadata (partition_become_*) */
    enum partition_role role;
    int32_t leader_epoch;       /* only grows */
    int32_t leader_id;          /* -1: none */
    int32_t partition_epoch;    /* the ISR's version, for AlterPartition */
    int64_t epoch_start_offset; /* log end when this broker became leader (KIP-207) */
    int64_t high_watermark;     /* never above the log end, never backwards while leading */
    /* replicas and ISR (leader side) */
    struct replica_progress replicas[PARTITION_MAX_REPLICAS];
    int32_t n_replicas;
    int32_t isr[PARTITION_MAX_REPLICAS];
    int32_t n_isr;
    /* The proposed ISR of an AlterPartition not resolved yet (KIP-497): it
     * counts for the high watermark until the controller's answer or the
     * metadata proves it committed or never will. */
    int32_t pending_isr[PARTITION_MAX_REPLICAS];
    int32_t n_pending_isr;                /* -1 or 0: none */
    int32_t pending_partition_epoch;      /* the partition epoch it was proposed against */
    bool alter_in_flight;                 /* a proposal is unresolved: no other is made */
    enum partition_alter_wait alter_wait; /* what an unresolved proposal waits for */
    uint64_t alter_retry_ms;              /* uv_now before which no new ISR change is proposed */
    int32_t self;
    /* follower side */
    enum partition_fetch_state fetch_state;
    uint64_t fetch_retry_ms;       /* uv_now before which the fetcher leaves it alone */
    uint32_t fetch_not_ready_ms;   /* the last wait for a leader not ready yet; 0: none */
    int64_t leader_high_watermark; /* the leader's, from its last fetch answer; -1 unknown */
    /* replication throttles: whether the topic's leader. / follower.
     * replication.throttled.replicas list this partition on this broker */
    bool leader_throttled, follower_throttled;
    /* topic config */
    int64_t flush_messages;      /* the topic's flush.messages */
    int32_t min_insync_replicas; /* the topic's min.insync.replicas */
    struct log_flush_req flush_req;
    bool flush_pending;
    int flush_status;     /* the last requested fsync's error, 0 if it worked */
    int64_t flush_target; /* the log end that fsync was to cover */
    struct partition_traffic traffic;
};

/* Open (creating or recovering) the partition over an opened log (taken
 * over). Starts as a follower with no leader; the replica manager applies
 * the role from the metadata. Returns 0 with *out owned by the caller, or
 * -ENOMEM (the log is closed then). */
int partition_open(struct partition_log *log, const char *dir, const char *topic, int32_t index,
                   int32_t self, const struct topic_config *cfg, struct partition **out);
/* The topic config's throttled-replica lists, for this partition on this
 * broker (common/throttled_replicas.h); partition_set_config calls it. */
void partition_set_throttles(struct partition *p, const struct topic_config *cfg);
/* Whether `replica` is in the ISR as this broker (leading) knows it. */
bool partition_in_isr(const struct partition *p, int32_t replica);
/* Flush and close (shutdown). Waiters are detached; they finish at their deadline. */
void partition_close(struct partition *p);
/* Delete the partition's files (DeleteTopics) and free it. */
void partition_destroy(struct partition *p);

/* Record every later change of `p` in `journal` as slot `slot`
 * (change_journal.h); NULL stops. */
void partition_set_journal(struct partition *p, struct change_journal *journal, uint32_t slot);

/* ---- role ---- */

/* What the metadata says about the partition. */
struct partition_state {
    int32_t leader;
    int32_t leader_epoch;
    int32_t partition_epoch;
    const int32_t *replicas;
    int32_t n_replicas;
    const int32_t *isr;
    int32_t n_isr;
    uint64_t now_ms; /* uv_now: a new leader counts its ISR as caught up from here */
};

/* Apply the metadata's state: become leader or follower (a new leader epoch
 * or leader), or adopt a new ISR. Every parked operation is woken so produce
 * waits can see a role change. Returns true when the role or epoch changed
 * (a follower must then re-check its log against the new leader). */
bool partition_apply_state(struct partition *p, const struct partition_state *st);
bool partition_is_leader(const struct partition *p);

/* ---- writes ---- */

/* Append batches as leader (see partition_log_append: validated, offsets
 * assigned in place in `batches`). Waiters are notified; the high
 * watermark follows the ISR rule. Errors as partition_log_append, or
 * LOG_ERR_CLOSED when not the leader. */
int partition_append(struct partition *p, uint8_t *batches, size_t len,
                     struct log_append_info *info);

/* Append a transaction marker as leader (partition_log_append_marker):
 * waiters are notified, the high watermark follows the ISR rule. Errors as
 * there, or LOG_ERR_CLOSED when not the leader. */
int partition_append_marker(struct partition *p, const struct log_txn_marker *m,
                            struct log_append_info *info);

/* Append batches fetched from the leader as they are (follower), then
 * move the high watermark to min(leader_hw, log end). */
int partition_append_replica(struct partition *p, const uint8_t *batches, size_t len,
                             int64_t leader_hw, struct log_append_info *info);

/* Whether an acknowledgement of offsets below `end` may go now, for
 * flush.messages: 0 yes; 1 no, an fsync was started and waiters are
 * notified when it completes (check again then); or a negative error. */
int partition_flush_ready(struct partition *p, int64_t end);

/* The topic's config changed. */
void partition_set_config(struct partition *p, const struct topic_config *cfg);

/* ---- reads ---- */

int64_t partition_high_watermark(const struct partition *p);
/* Whether a leader's high watermark has reached the start of its epoch: a
 * new leader's may lag what the old one had shown consumers until its
 * followers fetch once (KIP-207); until then it answers no offsets. */
bool partition_hw_caught_up(const struct partition *p);
int64_t partition_log_start(const struct partition *p);
int64_t partition_log_end(const struct partition *p);

enum partition_reader {
    PARTITION_READ_CONSUMER,  /* up to the high watermark */
    PARTITION_READ_REPLICA,   /* up to the log end */
    PARTITION_READ_COMMITTED, /* up to the last stable offset (read_committed) */
};

/* The last stable offset: min(first unstable offset, high watermark). Only
 * a leader's is meaningful to consumers. */
int64_t partition_last_stable_offset(const struct partition *p);

/* Read whole batches from `offset` (see partition_log_read); consumers see
 * only what is below the high watermark. Release `out` with
 * log_read_result_release. */
int partition_read(struct partition *p, enum partition_reader who, int64_t offset, size_t max_bytes,
                   struct log_read_result *out);
/* As partition_read, copying the bytes into `out`. */
int partition_read_copy(struct partition *p, enum partition_reader who, int64_t offset,
                        size_t max_bytes, struct buf *out, struct log_read_result *info);
/* ListOffsets by timestamp, below the high watermark: *offset -1 if none. */
int partition_offset_for_timestamp(struct partition *p, int64_t ts, int64_t *offset,
                                   int64_t *batch_ts);

/* ---- waiting ---- */

/* Make `op` watch this partition: it is asked again whenever the log end,
 * the high watermark, the durable offset or the role moves. */
void partition_watch(struct partition *p, struct delayed_op *op);

/* ---- replication, leader side ---- */

/* Follower `replica_id` (registered at `broker_epoch`) fetched from
 * `fetch_offset` (its log end), its log starting at `log_start` (-1:
 * unknown), at `now_ms`: record its progress, move the high watermark, and
 * wake the waiters when its log start moved (a DeleteRecords waits for
 * it). Returns partition_follower_may_join(p, replica_id) after it. */
bool partition_follower_fetched(struct partition *p, int32_t replica_id, int64_t broker_epoch,
                                int64_t fetch_offset, int64_t log_start, uint64_t now_ms);
/* What the leader knows of replica `replica_id`, or NULL if it is not one. */
const struct replica_progress *partition_replica(const struct partition *p, int32_t replica_id);
/* Leader: whether follower `replica_id` is out of the ISR and may join it
 * now, from its last fetch: caught up to the high watermark and into this
 * leader's epoch (partition_isr_may_join; a replica that has not fetched in
 * this epoch may not). Whether its broker may be proposed (registered,
 * unfenced, the registration it fetched as) is not decided here:
 * replica_isr_expand checks that (replica_follower_eligible). */
bool partition_follower_may_join(const struct partition *p, int32_t replica_id);
/* An ISR change is proposed to the controller: until its answer the high
 * watermark counts the old and the proposed members (KIP-497). */
void partition_isr_proposed(struct partition *p, const int32_t *isr, int32_t n_isr);
/* The controller's answer ends the proposal: applied (`st` the committed
 * state), or refused in a way that proves nothing changed (`st` the current
 * state or NULL). `st` is adopted when it is for this leader epoch and
 * newer than what the partition has. */
void partition_isr_answered(struct partition *p, const struct partition_state *st);
/* The proposal may have committed (no answer: `resend`) or lost the
 * compare-and-set (INVALID_UPDATE_VERSION: not `resend`): `st` (NULL if
 * none) is adopted as above, and unless the partition epoch is now past
 * the one proposed against, the proposed ISR keeps counting for the high
 * watermark; it waits to be sent again (partition_isr_resent) or for
 * metadata with a newer partition epoch (partition_apply_state). */
void partition_isr_unresolved(struct partition *p, const struct partition_state *st, bool resend);
/* The unresolved proposal was sent again, the same. */
void partition_isr_resent(struct partition *p);

/* ---- replication, follower side ---- */

/* Cut the log at `offset` (a divergent tail); the high watermark follows it
 * down if it must (logged: that is not supposed to happen). */
int partition_truncate(struct partition *p, int64_t offset);
/* Empty the log and restart it at `offset` (the leader's log starts past
 * ours). */
int partition_truncate_fully(struct partition *p, int64_t offset);
/* The leader's log start offset from a fetch answer: ours moves up to it
 * (Kafka's follower maybeIncrementLogStartOffset), never past our high
 * watermark; the next fetch tells the leader. Segments below it go with
 * retention, as any below the log start. Returns 1 if it moved, 0 if not,
 * or an error. */
int partition_follow_leader_start(struct partition *p, int64_t leader_start);

/* ---- ISR decisions (pure) ---- */

/* The ISR without followers that have not caught up for `lag_ms` (Kafka's
 * replica.lag.time.max.ms), never without `leader`. Writes it to `out`
 * and returns its size (== n_isr: nobody lags). */
int32_t partition_isr_shrink(const struct replica_progress *replicas, int32_t n_replicas,
                             const int32_t *isr, int32_t n_isr, int32_t leader, uint64_t now_ms,
                             uint64_t lag_ms, int32_t *out);
/* Whether a follower outside the ISR may join: its log end reached the high
 * watermark and the start of the leader's epoch (Kafka's isFollowerInSync). */
bool partition_isr_may_join(int64_t follower_end, int64_t high_watermark,
                            int64_t epoch_start_offset);
/* Kafka's caught-up clock: the new caught_up_ms of follower `r` fetching at
 * `fetch_offset` at `now_ms` while the leader's log ends at `leader_end`. */
uint64_t partition_caught_up_at(const struct replica_progress *r, int64_t fetch_offset,
                                int64_t leader_end, uint64_t now_ms);

/* ---- admin ---- */

/* DeleteRecords up to `offset` (-1 = high watermark) as leader: the log
 * start moves at once (readers see it), *target is the offset asked for
 * (-1 resolved), and the answer must wait for it to be durable (a crash
 * must never bring back records a client was told are gone) and for the
 * low watermark (partition_low_watermark) to reach *target. Returns 1:
 * durable already; 0: `w->done` tells later
 * (partition_log_checkpoint_wait); or an error now
 * (LOG_ERR_OFFSET_OUT_OF_RANGE above the HW, -errno). Never blocks on disk. */
int partition_delete_records(struct partition *p, int64_t offset, int64_t *target,
                             struct log_checkpoint_waiter *w);

/* Retention moved the log start (segments deleted by retention.ms or
 * retention.bytes): tell the partition's waiters and the journal of
 * changes, as partition_delete_records does, so parked follower fetches
 * answer now and carry the new log start to the followers. */
void partition_log_start_moved(struct partition *p);

/* Whether broker `broker_id` is alive (registered and unfenced). */
typedef bool (*partition_alive_fn)(void *data, int32_t broker_id);

/* Kafka's Partition.lowWatermarkIfLeader: the lowest log start offset over
 * the leader (`leader_start`, replica `self`) and every other replica in
 * `replicas` whose broker `alive` says is alive; a live replica not heard
 * from in this leader epoch counts as -1 and holds it there. A fenced or
 * unregistered broker's replica does not hold it back. Pure. */
int64_t partition_low_watermark_rule(int64_t leader_start, int32_t self,
                                     const struct replica_progress *replicas, int32_t n_replicas,
                                     partition_alive_fn alive, void *data);
/* The rule for this partition as leader (-1 when not leading). */
int64_t partition_low_watermark(const struct partition *p, partition_alive_fn alive, void *data);

/* ---- the high watermark rule (pure) ---- */

/* The leader's high watermark: min log end over `isr` (ids looked up in
 * `replicas`; an ISR member whose log end is unknown holds it where it is),
 * never below `current`, never above `leader_end`. */
int64_t partition_hw_rule(int64_t current, int64_t leader_end,
                          const struct replica_progress *replicas, int32_t n_replicas,
                          const int32_t *isr, int32_t n_isr);

#endif
