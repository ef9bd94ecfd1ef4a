/* A hosted partition; see partition.h. */
#include "broker/replica/partition.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/throttled_replicas.h"

int partition_open(struct partition_log *log, const char *dir, const char *topic, int32_t index,
                   int32_t self, const struct topic_config *cfg, struct partition **out)
{
    struct partition *p = calloc(1, sizeof *p);
    if (p == NULL || (p->dir = strdup(dir)) == NULL) {
        free(p);
        partition_log_close(log);
        return -ENOMEM;
    }
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->index = index;
    p->log = log;
    p->self = self;
    p->role = PARTITION_FOLLOWER;
    p->leader_id = -1;
    p->leader_epoch = -1;
    p->n_pending_isr = -1;
    p->leader_high_watermark = -1;
    partition_set_throttles(p, cfg);
    p->flush_messages = cfg->flush_messages;
    p->min_insync_replicas = cfg->min_insync_replicas;
    /* What the log checkpointed; only the ISR rule raises it. */
    p->high_watermark = partition_log_high_watermark(log);
    delayed_key_init(&p->waiters);
    *out = p;
    return 0;
}

void partition_close(struct partition *p)
{
    delayed_key_detach(&p->waiters);
    partition_log_set_high_watermark(p->log, p->high_watermark);
    int rv = partition_log_close(p->log);
    if (rv != 0) {
        log_error("replica", "closing partition log failed topic=%s partition=%d error=%s",
                  p->topic, p->index, log_err_name(rv));
    }
    free(p->dir);
    free(p);
}

void partition_destroy(struct partition *p)
{
    delayed_key_detach(&p->waiters);
    int rv = partition_log_destroy(p->log);
    if (rv != 0) {
        log_error("replica", "deleting partition log failed topic=%s partition=%d error=%s",
                  p->topic, p->index, log_err_name(rv));
    }
    free(p->dir);
    free(p);
}

void partition_set_journal(struct partition *p, struct change_journal *journal, uint32_t slot)
{
    p->journal = journal;
    p->slot = slot;
}

/* Something a waiter or a follower's fetch session may care about moved:
 * the log end or start, the high watermark, the role or epoch, an fsync. */
static void note_change(struct partition *p)
{
    if (p->journal != NULL) {
        change_journal_record(p->journal, p->slot);
    }
    delayed_key_notify(&p->waiters);
}

/* ---- the high watermark ---- */

static const struct replica_progress *progress_of(const struct replica_progress *replicas,
                                                  int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++) {
        if (replicas[i].broker_id == id) {
            return &replicas[i];
        }
    }
    return NULL;
}

int64_t partition_hw_rule(int64_t current, int64_t leader_end,
                          const struct replica_progress *replicas, int32_t n_replicas,
                          const int32_t *isr, int32_t n_isr)
{
    int64_t hw = leader_end;
    for (int32_t i = 0; i < n_isr; i++) {
        const struct replica_progress *r = progress_of(replicas, n_replicas, isr[i]);
        int64_t end = r != NULL ? r->log_end : -1;
        if (end < 0) {
            return current < leader_end ? current : leader_end; /* unknown: hold */
        }
        hw = end < hw ? end : hw;
    }
    return hw > current ? hw : current;
}

/* Set the high watermark, tell the log (for its checkpoint), wake waiters. */
static void set_hw(struct partition *p, int64_t hw)
{
    assert(hw <= partition_log_end_offset(p->log));
    if (hw == p->high_watermark) {
        return;
    }
    p->high_watermark = hw;
    partition_log_set_high_watermark(p->log, hw);
    note_change(p);
}

/* Leader: the ISR rule over the ISR and, while an AlterPartition is in
 * flight, the proposed ISR too (KIP-497's maximal ISR). */
static void leader_update_hw(struct partition *p)
{
    int32_t members[2 * PARTITION_MAX_REPLICAS];
    int32_t n = 0;
    for (int32_t i = 0; i < p->n_isr; i++) {
        members[n++] = p->isr[i];
    }
    for (int32_t i = 0; i < p->n_pending_isr; i++) {
        members[n++] = p->pending_isr[i];
    }
    int64_t end = partition_log_end_offset(p->log);
    struct replica_progress *self = NULL;
    for (int32_t i = 0; i < p->n_replicas; i++) {
        if (p->replicas[i].broker_id == p->self) {
            self = &p->replicas[i];
        }
    }
    if (self != NULL) {
        self->log_end = end;
    }
    int64_t hw = partition_hw_rule(p->high_watermark, end, p->replicas, p->n_replicas, members, n);
    set_hw(p, hw > end ? end : hw);
}

/* ---- role ---- */

static void copy_ids(int32_t *dst, int32_t *n_dst, const int32_t *src, int32_t n)
{
    n = n > PARTITION_MAX_REPLICAS ? PARTITION_MAX_REPLICAS : n;
    memcpy(dst, src, (size_t)n * sizeof *dst);
    *n_dst = n;
}

static void reset_replicas(struct partition *p, const struct partition_state *st)
{
    int32_t n = st->n_replicas > PARTITION_MAX_REPLICAS ? PARTITION_MAX_REPLICAS : st->n_replicas;
    struct replica_progress old[PARTITION_MAX_REPLICAS];
    int32_t n_old = p->n_replicas;
    memcpy(old, p->replicas, sizeof old);
    for (int32_t i = 0; i < n; i++) {
        const struct replica_progress *o = progress_of(old, n_old, st->replicas[i]);
        p->replicas[i] =
            o != NULL ? *o
                      : (struct replica_progress){st->replicas[i], -1, st->now_ms, 0, -1, -1, -1};
    }
    p->n_replicas = n;
}

bool partition_apply_state(struct partition *p, const struct partition_state *st)
{
    enum partition_role role = st->leader == p->self ? PARTITION_LEADER : PARTITION_FOLLOWER;
    bool changed =
        role != p->role || st->leader_epoch != p->leader_epoch || st->leader != p->leader_id;
    assert(st->leader_epoch >= p->leader_epoch || p->leader_epoch < 0);
    if (changed) {
        /* A new epoch: what followers had is unknown until they fetch again. */
        p->n_replicas = 0;
        p->n_pending_isr = -1;
        p->alter_in_flight = false;
        if (role == PARTITION_LEADER) {
            p->epoch_start_offset = partition_log_end_offset(p->log);
            /* Kafka's makeLeader: the new epoch starts at our log end, so
             * OffsetForLeaderEpoch ends the older ones there (KIP-101).
             * Its file is written by the log's next flush on the thread pool,
             * not here on the loop for each of thousands of partitions at
             * once. */
            int rv = partition_log_begin_epoch_deferred(p->log, st->leader_epoch);
            if (rv != 0) {
                log_error("replica",
                          "cannot begin leader epoch topic=%s partition=%d epoch=%d error=%s",
                          p->topic, p->index, st->leader_epoch, log_err_name(rv));
            }
        }
    }
    p->role = role;
    p->leader_id = st->leader;
    p->leader_epoch = st->leader_epoch;
    p->partition_epoch = st->partition_epoch;
    reset_replicas(p, st);
    copy_ids(p->isr, &p->n_isr, st->isr, st->n_isr);
    if (p->alter_in_flight && p->alter_wait != ALTER_WAIT_ANSWER &&
        p->partition_epoch > p->pending_partition_epoch) {
        /* A newer ISR committed: it holds the proposal if that committed,
         * and the proposal, made against an older epoch, cannot commit any
         * more. (A proposal still out is settled by its answer.) */
        p->n_pending_isr = -1;
        p->alter_in_flight = false;
    }
    if (role == PARTITION_LEADER) {
        p->fetch_state = FETCH_NONE;
        leader_update_hw(p);
    } else if (changed) {
        p->fetch_state = st->leader >= 0 ? FETCH_TRUNCATE : FETCH_NONE;
        p->fetch_retry_ms = 0;
        p->fetch_not_ready_ms = 0;
    }
    note_change(p); /* parked produces see the change */
    return changed;
}

bool partition_is_leader(const struct partition *p)
{
    return p->role == PARTITION_LEADER;
}

/* ---- writes ---- */

int partition_append(struct partition *p, uint8_t *batches, size_t len,
                     struct log_append_info *info)
{
    if (p->role != PARTITION_LEADER) {
        snprintf(info->reason, sizeof info->reason, "not the leader");
        return LOG_ERR_CLOSED;
    }
    int64_t before = partition_log_end_offset(p->log);
    int rv = partition_log_append(p->log, batches, len, p->leader_epoch, info);
    if (rv != 0) {
        return rv;
    }
    if (info->duplicate) {
        return 0; /* nothing written: the original's acknowledgement rules apply */
    }
    assert(partition_log_end_offset(p->log) > before);
    p->traffic.bytes_in += len;
    p->traffic.records_in += (uint64_t)info->records;
    leader_update_hw(p);
    note_change(p);
    return 0;
}

int partition_append_marker(struct partition *p, const struct log_txn_marker *m,
                            struct log_append_info *info)
{
    if (p->role != PARTITION_LEADER) {
        snprintf(info->reason, sizeof info->reason, "not the leader");
        return LOG_ERR_CLOSED;
    }
    int rv = partition_log_append_marker(p->log, m, p->leader_epoch, info);
    if (rv != 0) {
        return rv;
    }
    leader_update_hw(p);
    note_change(p);
    return 0;
}

int partition_append_replica(struct partition *p, const uint8_t *batches, size_t len,
                             int64_t leader_hw, struct log_append_info *info)
{
    int rv = 0;
    if (len > 0) {
        rv = partition_log_append_as_follower(p->log, batches, len, info);
    }
    if (rv != 0) {
        return rv;
    }
    int64_t end = partition_log_end_offset(p->log);
    int64_t hw = leader_hw < end ? leader_hw : end;
    if (hw > p->high_watermark) {
        set_hw(p, hw);
    }
    if (len > 0) {
        note_change(p);
    }
    return 0;
}

static void on_flushed(struct log_flush_req *req, int status)
{
    struct partition *p = req->data;
    p->flush_pending = false;
    p->flush_status = status; /* no log calls here: close completes flushes too */
    if (status != 0) {
        log_error("replica", "fsync failed topic=%s partition=%d error=%s", p->topic, p->index,
                  log_err_name(status));
    }
    note_change(p);
}

int partition_flush_ready(struct partition *p, int64_t end)
{
    int64_t durable = partition_log_durable_offset(p->log);
    if (durable >= end) {
        return 0;
    }
    if (p->flush_pending) {
        return 1;
    }
    if (p->flush_status != 0 && end <= p->flush_target) {
        return p->flush_status; /* the fsync this write waited for failed: never acknowledge */
    }
    int64_t unsynced = partition_log_end_offset(p->log) - durable;
    if (unsynced < p->flush_messages && !p->flush_pending) {
        return 0; /* under the threshold: the topic does not ask for a sync ack */
    }
    if (p->flush_pending) {
        return 1;
    }
    p->flush_req.data = p;
    p->flush_status = 0;
    p->flush_target = partition_log_end_offset(p->log);
    int rv = partition_log_flush(p->log, &p->flush_req, on_flushed);
    if (rv != 0) {
        return rv;
    }
    p->flush_pending = true;
    return 1;
}

void partition_set_throttles(struct partition *p, const struct topic_config *cfg)
{
    p->leader_throttled =
        throttled_replicas_lists(cfg->leader_replication_throttled_replicas, p->index, p->self);
    p->follower_throttled =
        throttled_replicas_lists(cfg->follower_replication_throttled_replicas, p->index, p->self);
}

bool partition_in_isr(const struct partition *p, int32_t replica)
{
    for (int32_t i = 0; i < p->n_isr; i++) {
        if (p->isr[i] == replica) {
            return true;
        }
    }
    return false;
}

void partition_set_config(struct partition *p, const struct topic_config *cfg)
{
    partition_set_throttles(p, cfg);
    p->flush_messages = cfg->flush_messages;
    p->min_insync_replicas = cfg->min_insync_replicas;
    partition_log_set_config(p->log, cfg);
}

/* ---- reads ---- */

int64_t partition_high_watermark(const struct partition *p)
{
    return p->high_watermark;
}

bool partition_hw_caught_up(const struct partition *p)
{
    return p->role != PARTITION_LEADER || p->high_watermark >= p->epoch_start_offset;
}

int64_t partition_log_start(const struct partition *p)
{
    return partition_log_start_offset(p->log);
}

int64_t partition_log_end(const struct partition *p)
{
    return partition_log_end_offset(p->log);
}

int64_t partition_last_stable_offset(const struct partition *p)
{
    int64_t first = partition_log_first_unstable_offset(p->log);
    return first < p->high_watermark ? first : p->high_watermark;
}

static int64_t read_bound(const struct partition *p, enum partition_reader who)
{
    switch (who) {
    case PARTITION_READ_REPLICA:
        return INT64_MAX;
    case PARTITION_READ_COMMITTED:
        return partition_last_stable_offset(p);
    default:
        return p->high_watermark;
    }
}

int partition_read(struct partition *p, enum partition_reader who, int64_t offset, size_t max_bytes,
                   struct log_read_result *out)
{
    int rv = partition_log_read(p->log, offset, max_bytes, read_bound(p, who), out);
    if (rv == 0 && who != PARTITION_READ_REPLICA) {
        p->traffic.bytes_out += out->length;
    }
    return rv;
}

int partition_read_copy(struct partition *p, enum partition_reader who, int64_t offset,
                        size_t max_bytes, struct buf *out, struct log_read_result *info)
{
    int rv = partition_log_read_copy(p->log, offset, max_bytes, read_bound(p, who), out, info);
    if (rv == 0 && who != PARTITION_READ_REPLICA) {
        p->traffic.bytes_out += info->length;
    }
    return rv;
}

int partition_offset_for_timestamp(struct partition *p, int64_t ts, int64_t *offset,
                                   int64_t *batch_ts)
{
    int rv = partition_log_offset_for_timestamp(p->log, ts, offset, batch_ts);
    if (rv == 0 && *offset >= p->high_watermark) {
        *offset = *batch_ts = -1; /* not yet committed: "no such offset" */
    }
    return rv;
}

void partition_watch(struct partition *p, struct delayed_op *op)
{
    delayed_op_watch(op, &p->waiters);
}

/* ---- replication, leader side ---- */

static struct replica_progress *progress_mut(struct partition *p, int32_t id)
{
    for (int32_t i = 0; i < p->n_replicas; i++) {
        if (p->replicas[i].broker_id == id) {
            return &p->replicas[i];
        }
    }
    return NULL;
}

static bool ids_contain(const int32_t *ids, int32_t n, int32_t id)
{
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

uint64_t partition_caught_up_at(const struct replica_progress *r, int64_t fetch_offset,
                                int64_t leader_end, uint64_t now_ms)
{
    uint64_t at = r->caught_up_ms;
    if (fetch_offset >= leader_end) {
        at = now_ms > at ? now_ms : at;
    } else if (r->last_fetch_leader_end >= 0 && fetch_offset >= r->last_fetch_leader_end) {
        /* It has what the leader had at its previous fetch. */
        at = r->last_fetch_ms > at ? r->last_fetch_ms : at;
    }
    return at;
}

bool partition_isr_may_join(int64_t follower_end, int64_t high_watermark,
                            int64_t epoch_start_offset)
{
    return follower_end >= high_watermark && follower_end >= epoch_start_offset;
}

bool partition_follower_fetched(struct partition *p, int32_t replica_id, int64_t broker_epoch,
                                int64_t fetch_offset, int64_t log_start, uint64_t now_ms)
{
    struct replica_progress *r = progress_mut(p, replica_id);
    if (r == NULL || p->role != PARTITION_LEADER || replica_id == p->self) {
        return false;
    }
    int64_t end = partition_log_end_offset(p->log);
    r->caught_up_ms = partition_caught_up_at(r, fetch_offset, end, now_ms);
    r->last_fetch_ms = now_ms;
    r->last_fetch_leader_end = end;
    r->broker_epoch = broker_epoch;
    r->log_end = fetch_offset < end ? fetch_offset : end;
    if (log_start != r->log_start) {
        r->log_start = log_start;
        delayed_key_notify(&p->waiters); /* a DeleteRecords may wait for it */
    }
    leader_update_hw(p);
    return partition_follower_may_join(p, replica_id);
}

const struct replica_progress *partition_replica(const struct partition *p, int32_t replica_id)
{
    return progress_of(p->replicas, p->n_replicas, replica_id);
}

bool partition_follower_may_join(const struct partition *p, int32_t replica_id)
{
    const struct replica_progress *r = partition_replica(p, replica_id);
    return r != NULL && p->role == PARTITION_LEADER && replica_id != p->self &&
           !ids_contain(p->isr, p->n_isr, replica_id) &&
           partition_isr_may_join(r->log_end, p->high_watermark, p->epoch_start_offset);
}

void partition_isr_proposed(struct partition *p, const int32_t *isr, int32_t n_isr)
{
    copy_ids(p->pending_isr, &p->n_pending_isr, isr, n_isr);
    p->pending_partition_epoch = p->partition_epoch;
    p->alter_in_flight = true;
    p->alter_wait = ALTER_WAIT_ANSWER;
}

void partition_isr_resent(struct partition *p)
{
    p->alter_wait = ALTER_WAIT_ANSWER;
}

/* Adopt a committed state from an AlterPartition answer when it is this
 * leader's and newer than ours. */
static void adopt_answer(struct partition *p, const struct partition_state *st)
{
    if (st != NULL && p->role == PARTITION_LEADER && st->leader == p->self &&
        st->leader_epoch == p->leader_epoch && st->partition_epoch > p->partition_epoch) {
        p->partition_epoch = st->partition_epoch;
        if (st->n_isr < p->n_isr) {
            p->traffic.isr_shrinks++;
        } else if (st->n_isr > p->n_isr) {
            p->traffic.isr_expands++;
        }
        copy_ids(p->isr, &p->n_isr, st->isr, st->n_isr);
    }
}

void partition_isr_answered(struct partition *p, const struct partition_state *st)
{
    p->alter_in_flight = false;
    p->n_pending_isr = -1;
    adopt_answer(p, st);
    if (p->role == PARTITION_LEADER) {
        leader_update_hw(p);
    }
    note_change(p);
}

void partition_isr_unresolved(struct partition *p, const struct partition_state *st, bool resend)
{
    adopt_answer(p, st);
    if (p->partition_epoch > p->pending_partition_epoch) {
        /* Settled: a newer ISR is committed (see partition_apply_state). */
        p->alter_in_flight = false;
        p->n_pending_isr = -1;
    } else {
        p->alter_wait = resend ? ALTER_WAIT_RESEND : ALTER_WAIT_METADATA;
    }
    if (p->role == PARTITION_LEADER) {
        leader_update_hw(p);
    }
    note_change(p);
}

int32_t partition_isr_shrink(const struct replica_progress *replicas, int32_t n_replicas,
                             const int32_t *isr, int32_t n_isr, int32_t leader, uint64_t now_ms,
                             uint64_t lag_ms, int32_t *out)
{
    int32_t n = 0;
    for (int32_t i = 0; i < n_isr; i++) {
        const struct replica_progress *r = progress_of(replicas, n_replicas, isr[i]);
        bool lagging =
            isr[i] != leader &&
            (r == NULL || (now_ms > r->caught_up_ms && now_ms - r->caught_up_ms > lag_ms));
        if (!lagging) {
            out[n++] = isr[i];
        }
    }
    return n;
}

/* ---- replication, follower side ---- */

static void follow_truncation(struct partition *p, int64_t old_end)
{
    int64_t end = partition_log_end_offset(p->log);
    if (p->high_watermark > end) {
        log_warn("replica",
                 "truncation went below the high watermark topic=%s partition=%d "
                 "high_watermark=%lld log_end_offset=%lld",
                 p->topic, p->index, (long long)p->high_watermark, (long long)end);
        p->high_watermark = end;
    }
    if (end != old_end) {
        log_info("replica", "truncated topic=%s partition=%d from=%lld to=%lld", p->topic, p->index,
                 (long long)old_end, (long long)end);
    }
    note_change(p);
}

int partition_truncate(struct partition *p, int64_t offset)
{
    int64_t old_end = partition_log_end_offset(p->log);
    if (offset >= old_end) {
        return 0;
    }
    int rv = partition_log_truncate_to(p->log, offset);
    if (rv == 0) {
        follow_truncation(p, old_end);
    }
    return rv;
}

int partition_truncate_fully(struct partition *p, int64_t offset)
{
    int64_t old_end = partition_log_end_offset(p->log);
    int rv = partition_log_truncate_fully_and_start_at(p->log, offset);
    if (rv == 0) {
        if (p->high_watermark < offset) {
            p->high_watermark = offset;
        }
        follow_truncation(p, old_end);
    }
    return rv;
}

/* ---- admin ---- */

int partition_delete_records(struct partition *p, int64_t offset, int64_t *target_out,
                             struct log_checkpoint_waiter *w)
{
    int64_t target = offset == -1 ? partition_high_watermark(p) : offset;
    if (target < 0 || target > p->high_watermark) {
        return LOG_ERR_OFFSET_OUT_OF_RANGE;
    }
    *target_out = target;
    partition_log_set_high_watermark(p->log, p->high_watermark);
    int rv = partition_log_advance_start(p->log, target);
    if (rv < 0) {
        return rv;
    }
    if (rv == 1) {
        note_change(p); /* followers' sessions learn the new log start */
    }
    /* Even when this request moved nothing: an earlier one may have moved
     * the start to here and still wait for its write. */
    return partition_log_checkpoint_wait(p->log, w);
}

void partition_log_start_moved(struct partition *p)
{
    note_change(p);
}

int partition_follow_leader_start(struct partition *p, int64_t leader_start)
{
    int64_t target = leader_start < p->high_watermark ? leader_start : p->high_watermark;
    if (p->role != PARTITION_FOLLOWER || target <= partition_log_start_offset(p->log)) {
        return 0;
    }
    partition_log_set_high_watermark(p->log, p->high_watermark);
    int rv = partition_log_advance_start(p->log, target);
    if (rv == 1) {
        note_change(p);
    }
    return rv;
}

int64_t partition_low_watermark_rule(int64_t leader_start, int32_t self,
                                     const struct replica_progress *replicas, int32_t n_replicas,
                                     partition_alive_fn alive, void *data)
{
    int64_t low = leader_start;
    for (int32_t i = 0; i < n_replicas; i++) {
        const struct replica_progress *r = &replicas[i];
        if (r->broker_id != self && r->log_start < low && alive(data, r->broker_id)) {
            low = r->log_start;
        }
    }
    return low;
}

int64_t partition_low_watermark(const struct partition *p, partition_alive_fn alive, void *data)
{
    if (p->role != PARTITION_LEADER) {
        return -1;
    }
    return partition_low_watermark_rule(partition_log_start_offset(p->log), p->self, p->replicas,
                                        p->n_replicas, alive, data);
}
