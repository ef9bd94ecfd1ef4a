/* Transactional offsets (KIP-98, KIP-447): TxnOffsetCommit writes them as a
 * transactional batch of the producer; they stay pending per producer until
 * the producer's marker lands on the partition (txn_markers_write tells the
 * coordinator once it is replicated; loading reads it from the log); see
 * group_coordinator.h. Kafka's GroupMetadata.prepareTxnOffsetCommit and
 * completePendingTxnOffsetCommit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/group/group_internal.h"
#include "broker/log/partition_log.h"
#include "broker/log/producer_state.h"
#include "broker/replica/txn_markers.h"
#include "common/log.h"
#include "common/wall_clock.h"
#include "proto/kafka/kafka_errors.h"

static struct group_txn_offset *txn_find(struct group *g, int64_t producer_id, const char *topic,
                                         int32_t partition)
{
    for (size_t i = 0; i < g->n_txn_offsets; i++) {
        struct group_txn_offset *t = &g->txn_offsets[i];
        if (t->producer_id == producer_id && t->o.partition == partition &&
            strcmp(t->o.topic, topic) == 0) {
            return t;
        }
    }
    return NULL;
}

static void txn_remove(struct group *g, size_t i)
{
    group_offset_clear(&g->txn_offsets[i].o);
    g->txn_offsets[i] = g->txn_offsets[--g->n_txn_offsets];
}

int group_txn_offset_put(struct group *g, int64_t producer_id, const char *topic, int32_t partition,
                         const struct group_offset_value *v, int64_t record_offset)
{
    int32_t mlen = v->metadata.len > 0 ? v->metadata.len : 0;
    char *meta = strndup(mlen > 0 ? v->metadata.p : "", (size_t)mlen);
    if (meta == NULL) {
        return -ENOMEM;
    }
    struct group_txn_offset *t = txn_find(g, producer_id, topic, partition);
    if (t == NULL) {
        if (g->n_txn_offsets == g->cap_txn_offsets) {
            size_t cap = g->cap_txn_offsets ? 2 * g->cap_txn_offsets : 8;
            struct group_txn_offset *ts = realloc(g->txn_offsets, cap * sizeof *ts);
            if (ts == NULL) {
                free(meta);
                return -ENOMEM;
            }
            g->txn_offsets = ts;
            g->cap_txn_offsets = cap;
        }
        t = &g->txn_offsets[g->n_txn_offsets];
        *t = (struct group_txn_offset){producer_id, {.topic = strdup(topic)}};
        if (t->o.topic == NULL) {
            free(meta);
            return -ENOMEM;
        }
        t->o.partition = partition;
        g->n_txn_offsets++;
    } else if (t->o.record_offset > record_offset) {
        free(meta); /* an older write read after a newer one: keep the newer */
        return 0;
    }
    free(t->o.metadata);
    t->o.metadata = meta;
    t->o.offset = v->offset;
    t->o.leader_epoch = v->leader_epoch;
    t->o.commit_ms = v->commit_timestamp;
    t->o.record_offset = record_offset;
    return 0;
}

int group_txn_complete(struct group *g, int64_t producer_id, bool commit, int64_t marker_offset)
{
    int rv = 0;
    for (size_t i = g->n_txn_offsets; i-- > 0;) {
        struct group_txn_offset *t = &g->txn_offsets[i];
        if (t->producer_id != producer_id || t->o.record_offset >= marker_offset) {
            continue; /* another producer's, or written after this marker */
        }
        if (commit) {
            struct group_offset *cur = group_offset_find(g, t->o.topic, t->o.partition);
            if (cur == NULL || cur->record_offset < t->o.record_offset) {
                struct group_offset_value v = {t->o.offset,
                                               t->o.leader_epoch,
                                               {t->o.metadata, (int32_t)strlen(t->o.metadata)},
                                               t->o.commit_ms};
                if (group_offset_put(g, t->o.topic, t->o.partition, &v, t->o.record_offset) != 0) {
                    rv = -ENOMEM;
                    continue;
                }
            }
        }
        txn_remove(g, i);
    }
    return rv;
}

void group_txn_forget(struct group *g, const char *topic, int32_t partition)
{
    for (size_t i = g->n_txn_offsets; i-- > 0;) {
        if (g->txn_offsets[i].o.partition == partition &&
            strcmp(g->txn_offsets[i].o.topic, topic) == 0) {
            txn_remove(g, i);
        }
    }
}

bool group_txn_pending(const struct group *g, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < g->n_txn_offsets; i++) {
        if (g->txn_offsets[i].o.partition == partition &&
            strcmp(g->txn_offsets[i].o.topic, topic) == 0) {
            return true;
        }
    }
    return false;
}

void group_txn_free(struct group *g)
{
    for (size_t i = 0; i < g->n_txn_offsets; i++) {
        group_offset_clear(&g->txn_offsets[i].o);
    }
    free(g->txn_offsets);
    g->txn_offsets = NULL;
    g->n_txn_offsets = g->cap_txn_offsets = 0;
}

bool group_offset_unstable(struct group_coordinator *gc, const char *group_id, const char *topic,
                           int32_t partition)
{
    struct group *g = group_find(gc, group_id);
    return g != NULL && group_txn_pending(g, topic, partition);
}

/* ---- markers ---- */

void group_txn_marker_written(void *arg, const struct txn_marker_written *m)
{
    struct group_coordinator *gc = arg;
    if (strcmp(m->topic, GROUP_OFFSETS_TOPIC) != 0 || !coord_log_loaded(&gc->log, m->partition)) {
        return; /* not loaded: a later load reads the marker from the log */
    }
    struct partition *p = group_log_partition(gc, m->partition);
    if (p == NULL || p->leader_epoch != m->leader_epoch) {
        return;
    }
    for (struct group *g = gc->groups; g != NULL; g = g->next) {
        if (g->partition != m->partition || g->n_txn_offsets == 0) {
            continue;
        }
        if (group_txn_complete(g, m->producer_id, m->commit, m->offset) != 0) {
            log_warn("group", "group %s: out of memory completing producer %lld's offsets", g->id,
                     (long long)m->producer_id);
        }
    }
}

/* ---- TxnOffsetCommit ---- */

/* Kafka's validateOffsetCommit for a transactional commit. */
static int16_t txn_commit_check(struct group *g, const struct group_txn_commit_request *req)
{
    const char *member_id = req->member_id != NULL ? req->member_id : "";
    if (g->state == GROUP_DEAD) {
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
    if (req->generation < 0 && member_id[0] == '\0' && req->instance_id == NULL) {
        return KAFKA_ERROR_NONE; /* v0-2, or a producer outside any group */
    }
    /* A transactional commit does not renew the member's session. */
    return group_member_check(g, req->generation, member_id, req->instance_id, NULL);
}

/* The sequence the coordinator's next batch of the producer continues at:
 * Kafka writes these batches with the coordinator origin, which skips the
 * sequence check; writing the next sequence passes the client's check. */
static int32_t next_sequence(struct partition *p, int64_t producer_id, int16_t epoch)
{
    const struct producer_entry *e =
        producer_state_find(partition_log_producers(p->log), producer_id);
    if (e == NULL || e->epoch != epoch || e->n_batches == 0) {
        return 0;
    }
    int32_t last = e->batches[e->n_batches - 1].last_seq;
    return last == INT32_MAX ? 0 : last + 1;
}

struct txn_commit_wait {
    struct group_commit_partition *parts;
    size_t n;
    group_commit_cb cb;
    void *arg;
};

/* The records are replicated or failed. The pending offsets were kept when
 * the batch was appended and stay (the batch may be in the log; its marker
 * decides), as a coordinator loading the log would keep them. */
static void txn_commit_finish(void *arg, int16_t outcome)
{
    struct txn_commit_wait *w = arg;
    group_commit_fail_all(w->parts, w->n, outcome);
    w->cb(w->arg);
    free(w);
}

void group_txn_commit(struct group_coordinator *gc, const struct group_txn_commit_request *req,
                      struct group_commit_partition *parts, size_t n, group_commit_cb cb, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        parts[i].error = KAFKA_ERROR_NONE;
    }
    int32_t part;
    int16_t err = group_route(gc, req->group_id, &part);
    struct group *g = err == KAFKA_ERROR_NONE ? group_get_or_create(gc, req->group_id, part) : NULL;
    if (err == KAFKA_ERROR_NONE) {
        err = g == NULL ? KAFKA_ERROR_UNKNOWN_SERVER_ERROR : txn_commit_check(g, req);
    }
    if (err == KAFKA_ERROR_NONE && (req->producer_id < 0 || req->producer_epoch < 0)) {
        err = KAFKA_ERROR_INVALID_PRODUCER_ID_MAPPING;
    }
    struct partition *p = err == KAFKA_ERROR_NONE ? group_log_partition(gc, part) : NULL;
    if (err == KAFKA_ERROR_NONE && p == NULL) {
        err = KAFKA_ERROR_NOT_COORDINATOR;
    }
    int64_t now = wall_clock_ms(), end = -1;
    if (err == KAFKA_ERROR_NONE) {
        struct group_batch_producer producer = {
            req->producer_id, req->producer_epoch,
            next_sequence(p, req->producer_id, req->producer_epoch)};
        err = group_commit_append(gc, req->group_id, part, parts, n, now, &producer, &end);
    }
    struct txn_commit_wait *w = err == KAFKA_ERROR_NONE && end >= 0 ? calloc(1, sizeof *w) : NULL;
    if (err == KAFKA_ERROR_NONE && end >= 0 && w == NULL) {
        err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR; /* appended, but cannot wait: fail the request */
    }
    if (err == KAFKA_ERROR_NONE && end >= 0) {
        /* Pending from now: a require_stable OffsetFetch must not miss them
         * while they replicate. */
        for (size_t i = 0; i < n; i++) {
            struct group_commit_partition *cp = &parts[i];
            if (cp->error != KAFKA_ERROR_NONE) {
                continue;
            }
            const char *md = cp->metadata ? cp->metadata : "";
            struct group_offset_value v = {
                cp->offset, cp->leader_epoch, {md, (int32_t)strlen(md)}, now};
            if (group_txn_offset_put(g, req->producer_id, cp->topic, cp->partition, &v, end - 1) !=
                0) {
                cp->error = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
            }
        }
    }
    if (err != KAFKA_ERROR_NONE || end < 0) {
        free(w);
        group_commit_fail_all(parts, n, err);
        cb(arg);
        return;
    }
    *w = (struct txn_commit_wait){parts, n, cb, arg};
    group_wait_replicated(gc, part, end, txn_commit_finish, w);
}
