/* Committed offsets: OffsetCommit (appended to __consumer_offsets and
 * acknowledged once the high watermark passes it), OffsetFetch from the
 * loaded cache, and KIP-211 expiry; see group_coordinator.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/group/group_internal.h"
#include "common/log.h"
#include "common/wall_clock.h"
#include "proto/kafka/kafka_errors.h"

struct group_offset *group_offset_find(struct group *g, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < g->n_offsets; i++) {
        if (g->offsets[i].partition == partition && strcmp(g->offsets[i].topic, topic) == 0) {
            return &g->offsets[i];
        }
    }
    return NULL;
}

void group_offset_clear(struct group_offset *o)
{
    free(o->topic);
    free(o->metadata);
    o->topic = NULL;
    o->metadata = NULL;
}

void group_offset_remove(struct group *g, size_t i)
{
    group_offset_clear(&g->offsets[i]);
    g->offsets[i] = g->offsets[--g->n_offsets];
}

int group_offset_put(struct group *g, const char *topic, int32_t partition,
                     const struct group_offset_value *v, int64_t record_offset)
{
    char *meta = malloc(v->metadata.len > 0 ? (size_t)v->metadata.len + 1 : 1);
    if (meta == NULL) {
        return -ENOMEM;
    }
    if (v->metadata.len > 0) {
        memcpy(meta, v->metadata.p, (size_t)v->metadata.len);
    }
    meta[v->metadata.len > 0 ? v->metadata.len : 0] = '\0';
    struct group_offset *o = group_offset_find(g, topic, partition);
    if (o == NULL) {
        if (g->n_offsets == g->cap_offsets) {
            size_t cap = g->cap_offsets ? 2 * g->cap_offsets : 8;
            struct group_offset *os = realloc(g->offsets, cap * sizeof *os);
            if (os == NULL) {
                free(meta);
                return -ENOMEM;
            }
            g->offsets = os;
            g->cap_offsets = cap;
        }
        o = &g->offsets[g->n_offsets];
        o->topic = strdup(topic);
        if (o->topic == NULL) {
            free(meta);
            return -ENOMEM;
        }
        o->partition = partition;
        o->metadata = NULL;
        g->n_offsets++;
    }
    free(o->metadata);
    o->metadata = meta;
    o->offset = v->offset;
    o->leader_epoch = v->leader_epoch;
    o->commit_ms = v->commit_timestamp;
    o->record_offset = record_offset;
    return 0;
}

/* ---- OffsetCommit ---- */

struct commit_wait {
    struct group_coordinator *gc;
    char *group_id;
    int64_t commit_ms;
    int64_t record_offset; /* the batch's last offset */
    struct group_commit_partition *parts;
    size_t n;
    group_commit_cb cb;
    void *arg;
};

/* The commit is replicated (or failed): the cache changes only now, so a
 * fetch never returns an offset a new leader could lose. */
static void commit_finish(void *arg, int16_t outcome)
{
    struct commit_wait *w = arg;
    struct group *g = outcome == KAFKA_ERROR_NONE ? group_find(w->gc, w->group_id) : NULL;
    for (size_t i = 0; i < w->n; i++) {
        struct group_commit_partition *cp = &w->parts[i];
        if (cp->error != KAFKA_ERROR_NONE) {
            continue;
        }
        cp->error = outcome;
        if (g != NULL) {
            const char *md = cp->metadata ? cp->metadata : "";
            struct group_offset_value v = {
                cp->offset, cp->leader_epoch, {md, (int32_t)strlen(md)}, w->commit_ms};
            if (group_offset_put(g, cp->topic, cp->partition, &v, w->record_offset) != 0) {
                cp->error = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
            }
        }
    }
    w->cb(w->arg);
    free(w->group_id);
    free(w);
}

/* Generation checks; a commit with no member and generation -1 is a
 * "simple" commit, accepted while the group has no members. */
static int16_t commit_check(struct group_coordinator *gc, struct group *g, int32_t generation,
                            const char *member_id, const char *instance_id)
{
    bool simple = generation < 0 && (member_id == NULL || member_id[0] == '\0');
    if (simple) {
        return g->n_members == 0 ? KAFKA_ERROR_NONE : KAFKA_ERROR_UNKNOWN_MEMBER_ID;
    }
    struct group_member *m = NULL;
    int16_t err = group_member_check(g, generation, member_id, instance_id, &m);
    if (m != NULL) {
        m->last_seen_ms = uv_now(gc->loop);
    }
    if (err != KAFKA_ERROR_NONE) {
        return err;
    }
    if (g->state == GROUP_PREPARING_REBALANCE || g->state == GROUP_COMPLETING_REBALANCE) {
        return KAFKA_ERROR_REBALANCE_IN_PROGRESS;
    }
    return KAFKA_ERROR_NONE;
}

void group_commit_fail_all(struct group_commit_partition *parts, size_t n, int16_t err)
{
    for (size_t i = 0; i < n; i++) {
        if (parts[i].error == KAFKA_ERROR_NONE) {
            parts[i].error = err;
        }
    }
}

/* Encode one record per valid partition into keys/values; returns how many. */
static size_t commit_records(const char *group_id, struct group_commit_partition *parts, size_t n,
                             int64_t now, struct buf *keys, struct buf *values,
                             struct group_record *recs)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct group_commit_partition *cp = &parts[i];
        const char *md = cp->metadata ? cp->metadata : "";
        if (strlen(md) > GROUP_OFFSET_METADATA_MAX) {
            cp->error = KAFKA_ERROR_OFFSET_METADATA_TOO_LARGE;
            continue;
        }
        if (cp->topic == NULL || strlen(cp->topic) > 249 || strlen(group_id) > INT16_MAX) {
            cp->error = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        struct group_offset_value v = {
            cp->offset, cp->leader_epoch, {md, (int32_t)strlen(md)}, now};
        buf_init(&keys[k]);
        buf_init(&values[k]);
        if (group_offset_key_encode(&keys[k], group_id, cp->topic, cp->partition) != 0 ||
            group_offset_value_encode(&values[k], &v) != 0) {
            cp->error = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
            buf_free(&keys[k]);
            buf_free(&values[k]);
            continue;
        }
        recs[k] = (struct group_record){keys[k].data, keys[k].len, values[k].data,
                                        (int32_t)values[k].len};
        k++;
    }
    return k;
}

int16_t group_commit_append(struct group_coordinator *gc, const char *group_id, int32_t part,
                            struct group_commit_partition *parts, size_t n, int64_t now,
                            const struct group_batch_producer *producer, int64_t *end)
{
    struct buf *keys = calloc(n + 1, sizeof *keys);
    struct buf *values = calloc(n + 1, sizeof *values);
    struct group_record *recs = calloc(n + 1, sizeof *recs);
    int16_t err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    size_t k = 0;
    if (keys != NULL && values != NULL && recs != NULL) {
        k = commit_records(group_id, parts, n, now, keys, values, recs);
        err = k == 0 ? KAFKA_ERROR_NONE : group_append_txn(gc, part, recs, k, producer, end);
    }
    for (size_t i = 0; i < k; i++) {
        buf_free(&keys[i]);
        buf_free(&values[i]);
    }
    free(keys);
    free(values);
    free(recs);
    if (err == KAFKA_ERROR_NONE && k == 0) {
        *end = -1; /* nothing valid to write */
    }
    return err;
}

void group_commit(struct group_coordinator *gc, const char *group_id, int32_t generation,
                  const char *member_id, const char *instance_id,
                  struct group_commit_partition *parts, size_t n, group_commit_cb cb, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        parts[i].error = KAFKA_ERROR_NONE;
    }
    int32_t part;
    int16_t err = group_route(gc, group_id, &part);
    struct group *g = err == KAFKA_ERROR_NONE ? group_get_or_create(gc, group_id, part) : NULL;
    if (err == KAFKA_ERROR_NONE) {
        err = g == NULL ? KAFKA_ERROR_UNKNOWN_SERVER_ERROR
                        : commit_check(gc, g, generation, member_id, instance_id);
    }
    int64_t now = wall_clock_ms(), end = -1;
    if (err == KAFKA_ERROR_NONE) {
        err = group_commit_append(gc, group_id, part, parts, n, now, NULL, &end);
    }
    struct commit_wait *w = err == KAFKA_ERROR_NONE && end >= 0 ? calloc(1, sizeof *w) : NULL;
    char *id = w != NULL ? strdup(group_id) : NULL;
    if (err == KAFKA_ERROR_NONE && end >= 0 && id == NULL) {
        err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    if (err != KAFKA_ERROR_NONE || end < 0) {
        free(w);
        group_commit_fail_all(parts, n, err);
        cb(arg);
        return;
    }
    *w = (struct commit_wait){gc, id, now, end - 1, parts, n, cb, arg};
    group_wait_replicated(gc, part, end, commit_finish, w);
}

/* ---- OffsetFetch ---- */

int16_t group_offsets_ready(struct group_coordinator *gc, const char *group_id)
{
    int32_t part;
    return group_route(gc, group_id, &part);
}

static void to_committed(const struct group_offset *o, struct group_committed *out)
{
    *out = (struct group_committed){o->topic, o->partition, o->offset, o->leader_epoch,
                                    o->metadata ? o->metadata : ""};
}

bool group_committed_offset(struct group_coordinator *gc, const char *group_id, const char *topic,
                            int32_t partition, struct group_committed *out)
{
    struct group *g = group_find(gc, group_id);
    struct group_offset *o = g ? group_offset_find(g, topic, partition) : NULL;
    if (o == NULL) {
        *out = (struct group_committed){topic, partition, -1, -1, ""};
        return false;
    }
    to_committed(o, out);
    return true;
}

void group_each_committed(struct group_coordinator *gc, const char *group_id,
                          void (*fn)(void *arg, const struct group_committed *c), void *arg)
{
    struct group *g = group_find(gc, group_id);
    for (size_t i = 0; g != NULL && i < g->n_offsets; i++) {
        struct group_committed c;
        to_committed(&g->offsets[i], &c);
        fn(arg, &c);
    }
}

/* ---- KIP-211 expiry ---- */

void group_expire_offsets(struct group_coordinator *gc, struct group *g, int64_t now_ms)
{
    int64_t retention = (int64_t)gc->cfg->offsets_retention_minutes * 60000;
    if (g->state != GROUP_EMPTY || g->n_offsets == 0 ||
        now_ms - (int64_t)g->empty_since_ms < retention) {
        return;
    }
    struct partition *p = group_log_partition(gc, g->partition);
    if (p == NULL) {
        return;
    }
    for (size_t i = g->n_offsets; i-- > 0;) {
        struct group_offset *o = &g->offsets[i];
        if (now_ms - o->commit_ms < retention || group_txn_pending(g, o->topic, o->partition)) {
            continue; /* a pending transactional offset may still commit over it */
        }
        struct buf key;
        buf_init(&key);
        int64_t end;
        if (group_offset_key_encode(&key, g->id, o->topic, o->partition) == 0) {
            struct group_record r = {key.data, key.len, NULL, -1};
            if (group_append(gc, g->partition, &r, 1, &end) == KAFKA_ERROR_NONE) {
                log_info("group", "group %s: offset of %s-%d expired", g->id, o->topic,
                         o->partition);
                group_offset_remove(g, i);
            }
        }
        buf_free(&key);
    }
}

/* ---- OffsetDelete ---- */

/* Whether a member's consumer-protocol subscription (version, topics[])
 * names `topic`. Unparseable metadata counts as subscribed: refuse rather
 * than delete offsets a member may be using. */
static bool subscribes(const struct member_protocol *p, const char *topic)
{
    const uint8_t *b = p->metadata;
    size_t len = p->len, at = 2;
    if (len < 6) {
        return true;
    }
    int32_t n = (int32_t)((uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5]);
    at = 6;
    for (int32_t i = 0; i < n; i++) {
        if (len - at < 2) {
            return true;
        }
        size_t sl = (size_t)(b[at] << 8 | b[at + 1]);
        at += 2;
        if (len - at < sl) {
            return true;
        }
        if (sl == strlen(topic) && memcmp(b + at, topic, sl) == 0) {
            return true;
        }
        at += sl;
    }
    return false;
}

static bool group_subscribes(const struct group *g, const char *topic)
{
    if (g->protocol_type == NULL || strcmp(g->protocol_type, "consumer") != 0) {
        return false;
    }
    for (size_t i = 0; i < g->n_members; i++) {
        const struct group_member *m = g->members[i];
        for (size_t j = 0; j < m->n_protocols; j++) {
            bool chosen =
                g->protocol_name == NULL || strcmp(m->protocols[j].name, g->protocol_name) == 0;
            if (chosen && subscribes(&m->protocols[j], topic)) {
                return true;
            }
        }
    }
    return false;
}

/* Tombstones for the refs with a committed offset, in one batch; *end is
 * -1 when there is nothing to delete. Refs whose topic a member consumes
 * are refused. */
static int16_t delete_offsets_append(struct group_coordinator *gc, struct group *g,
                                     struct group_offset_ref *refs, size_t n, bool *written,
                                     int64_t *end)
{
    struct group_record *recs = calloc(n + 1, sizeof *recs);
    struct buf *keys = calloc(n + 1, sizeof *keys);
    int16_t err =
        recs != NULL && keys != NULL ? KAFKA_ERROR_NONE : KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    size_t k = 0;
    for (size_t i = 0; i < n && err == KAFKA_ERROR_NONE; i++) {
        refs[i].error = KAFKA_ERROR_NONE;
        written[i] = false;
        if (g->n_members > 0 && group_subscribes(g, refs[i].topic)) {
            refs[i].error = KAFKA_ERROR_GROUP_SUBSCRIBED_TO_TOPIC;
            continue;
        }
        if (group_offset_find(g, refs[i].topic, refs[i].partition) == NULL) {
            continue; /* nothing committed: nothing to delete */
        }
        buf_init(&keys[k]);
        if (group_offset_key_encode(&keys[k], g->id, refs[i].topic, refs[i].partition) != 0) {
            err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        }
        recs[k] = (struct group_record){keys[k].data, keys[k].len, NULL, -1};
        k++;
        written[i] = true;
    }
    *end = -1;
    if (err == KAFKA_ERROR_NONE && k > 0) {
        err = group_append(gc, g->partition, recs, k, end);
    }
    for (size_t i = 0; i < k; i++) {
        buf_free(&keys[i]);
    }
    free(recs);
    free(keys);
    return err;
}

void group_delete_offsets(struct group_coordinator *gc, const char *group_id,
                          struct group_offset_ref *refs, size_t n, group_done_cb cb, void *arg)
{
    int32_t part;
    int16_t err = group_route(gc, group_id, &part);
    struct group *g = err == KAFKA_ERROR_NONE ? group_find(gc, group_id) : NULL;
    bool *written = calloc(n + 1, sizeof *written);
    int64_t end = -1;
    if (err == KAFKA_ERROR_NONE) {
        err = g == NULL         ? KAFKA_ERROR_GROUP_ID_NOT_FOUND
              : written == NULL ? KAFKA_ERROR_UNKNOWN_SERVER_ERROR
                                : delete_offsets_append(gc, g, refs, n, written, &end);
    }
    for (size_t i = 0; err == KAFKA_ERROR_NONE && i < n; i++) {
        struct group_offset *o =
            written[i] ? group_offset_find(g, refs[i].topic, refs[i].partition) : NULL;
        if (o != NULL) {
            group_offset_remove(g, (size_t)(o - g->offsets));
            group_txn_forget(g, refs[i].topic, refs[i].partition); /* as loading the tombstone */
        }
    }
    free(written);
    if (err != KAFKA_ERROR_NONE || end < 0) {
        cb(arg, err);
        return;
    }
    group_wait_replicated(gc, part, end, cb, arg);
}
