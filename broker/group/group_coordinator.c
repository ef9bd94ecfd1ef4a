/* The coordinator's lifecycle, the mapping of groups to __consumer_offsets
 * partitions (loading and unloading them), expiry, and the read-only and
 * admin APIs; see group_coordinator.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/coord/coord_log.h"
#include "broker/group/group_internal.h"
#include "broker/log/partition_log.h"
#include "broker/replica/txn_markers.h"
#include "common/log.h"
#include "common/wall_clock.h"
#include "proto/kafka/kafka_errors.h"

/* How often sessions, rebalance deadlines, retention and leadership are checked. */
#define TICK_MS 100

const char *group_state_name(enum group_state s)
{
    switch (s) {
    case GROUP_EMPTY:
        return "Empty";
    case GROUP_PREPARING_REBALANCE:
        return "PreparingRebalance";
    case GROUP_COMPLETING_REBALANCE:
        return "CompletingRebalance";
    case GROUP_STABLE:
        return "Stable";
    default:
        return "Dead";
    }
}

struct group *group_find(struct group_coordinator *gc, const char *group_id)
{
    for (struct group *g = gc->groups; g != NULL; g = g->next) {
        if (strcmp(g->id, group_id) == 0) {
            return g;
        }
    }
    return NULL;
}

struct group *group_get_or_create(struct group_coordinator *gc, const char *group_id,
                                  int32_t partition)
{
    struct group *g = group_find(gc, group_id);
    if (g != NULL) {
        return g;
    }
    g = calloc(1, sizeof *g);
    if (g == NULL || (g->id = strdup(group_id)) == NULL) {
        free(g);
        return NULL;
    }
    g->partition = partition;
    g->state = GROUP_EMPTY;
    g->storing_generation = -1;
    g->empty_since_ms = (uint64_t)wall_clock_ms();
    delayed_key_init(&g->waiters);
    g->next = gc->groups;
    gc->groups = g;
    return g;
}

static void group_free(struct group *g)
{
    for (size_t i = 0; i < g->n_members; i++) {
        group_member_free(g->members[i]);
    }
    for (size_t i = 0; i < g->n_offsets; i++) {
        free(g->offsets[i].topic);
        free(g->offsets[i].metadata);
    }
    group_txn_free(g);
    for (size_t i = 0; i < GROUP_MAX_PENDING; i++) {
        free(g->pending[i]);
    }
    free(g->members);
    free(g->offsets);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader);
    free(g->id);
    free(g);
}

/* Unlink and free `g`; requests waiting on it are answered first. */
static void group_drop(struct group_coordinator *gc, struct group *g)
{
    g->state = GROUP_DEAD;
    delayed_key_notify(&g->waiters);
    delayed_key_detach(&g->waiters);
    for (struct group **pp = &gc->groups; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    group_free(g);
}

/* coord_log_unload_fn: drop the groups of partition `i`. */
static void unload_partition(void *owner, int32_t i)
{
    struct group_coordinator *gc = owner;
    struct group *next;
    for (struct group *g = gc->groups; g != NULL; g = next) {
        next = g->next;
        if (g->partition == i) {
            group_drop(gc, g);
        }
    }
}

struct partition *group_log_partition(struct group_coordinator *gc, int32_t i)
{
    return coord_log_partition(&gc->log, i);
}

/* ---- loading ---- */

struct load_state {
    struct group_coordinator *gc;
    int32_t partition;
    size_t records, bad;
};

static char *dup_str(struct group_str s)
{
    return s.len < 0 ? NULL : strndup(s.p, (size_t)s.len);
}

struct load_members {
    struct group *g;
    uint64_t now;
    bool failed;
};

static void load_member(void *arg, const struct group_metadata_member *mm)
{
    struct load_members *lm = arg;
    struct group *g = lm->g;
    struct group_member *m = calloc(1, sizeof *m);
    struct member_protocol *p = calloc(1, sizeof *p);
    if (m == NULL || p == NULL || (g->n_members == g->cap_members && group_grow_members(g) != 0)) {
        free(m);
        free(p);
        lm->failed = true;
        return;
    }
    m->id = dup_str(mm->member_id);
    m->instance_id = dup_str(mm->instance_id);
    m->client_id = dup_str(mm->client_id);
    m->client_host = dup_str(mm->client_host);
    m->session_timeout_ms = mm->session_timeout_ms;
    m->rebalance_timeout_ms = mm->rebalance_timeout_ms;
    m->last_seen_ms = lm->now; /* its session restarts with the new coordinator */
    m->protocols = p;
    m->n_protocols = 1;
    p->name = strdup(g->protocol_name ? g->protocol_name : "");
    p->len = (size_t)mm->subscription_len;
    p->metadata = malloc(p->len + 1);
    m->assignment_len = (size_t)mm->assignment_len;
    m->assignment = malloc(m->assignment_len + 1);
    g->members[g->n_members++] = m;
    if (m->id == NULL || m->client_id == NULL || m->client_host == NULL || p->name == NULL ||
        p->metadata == NULL || m->assignment == NULL) {
        lm->failed = true;
        return;
    }
    memcpy(p->metadata, mm->subscription, p->len);
    memcpy(m->assignment, mm->assignment, m->assignment_len);
}

/* A GroupMetadata record: the group as of its last stable generation. */
static int load_metadata(struct load_state *ls, const char *gid, const struct group_record *r)
{
    struct group_metadata_value v;
    if (group_metadata_value_decode(r->value, (size_t)r->value_len, &v, NULL, NULL) != 0) {
        return -EINVAL;
    }
    struct group *g = group_get_or_create(ls->gc, gid, ls->partition);
    if (g == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < g->n_members; i++) {
        group_member_free(g->members[i]);
    }
    g->n_members = 0;
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader);
    g->protocol_type = dup_str(v.protocol_type);
    g->protocol_name = dup_str(v.protocol);
    g->leader = dup_str(v.leader);
    g->generation = v.generation;
    struct load_members lm = {g, uv_now(ls->gc->loop), false};
    group_metadata_value_decode(r->value, (size_t)r->value_len, &v, load_member, &lm);
    g->state = g->n_members > 0 ? GROUP_STABLE : GROUP_EMPTY;
    if (g->n_members == 0) {
        g->empty_since_ms = (uint64_t)(v.state_timestamp > 0 ? v.state_timestamp : wall_clock_ms());
    }
    return lm.failed ? -ENOMEM : 0;
}

int16_t group_store_metadata(struct group_coordinator *gc, struct group *g, int64_t *end)
{
    struct group_metadata_member *ms = calloc(g->n_members + 1, sizeof *ms);
    if (ms == NULL) {
        log_warn("group", "group %s: out of memory writing its metadata", g->id);
        return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    for (size_t i = 0; i < g->n_members; i++) {
        const struct group_member *m = g->members[i];
        ms[i] = (struct group_metadata_member){
            {m->id, (int32_t)strlen(m->id)},
            {m->instance_id, m->instance_id ? (int32_t)strlen(m->instance_id) : -1},
            {m->client_id, (int32_t)strlen(m->client_id)},
            {m->client_host, (int32_t)strlen(m->client_host)},
            m->rebalance_timeout_ms,
            m->session_timeout_ms,
            (const uint8_t *)"",
            0,
            m->assignment ? m->assignment : (const uint8_t *)"",
            (int32_t)m->assignment_len};
        for (size_t j = 0; g->protocol_name && j < m->n_protocols; j++) {
            if (strcmp(m->protocols[j].name, g->protocol_name) == 0) {
                ms[i].subscription = m->protocols[j].metadata;
                ms[i].subscription_len = (int32_t)m->protocols[j].len;
            }
        }
    }
    const char *pt = g->protocol_type ? g->protocol_type : "";
    struct group_metadata_value v = {
        {pt, (int32_t)strlen(pt)},
        g->generation,
        {g->protocol_name, g->protocol_name ? (int32_t)strlen(g->protocol_name) : -1},
        {g->leader, g->leader ? (int32_t)strlen(g->leader) : -1},
        wall_clock_ms(),
        (int32_t)g->n_members};
    struct buf key, value;
    buf_init(&key);
    buf_init(&value);
    int16_t err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    if (group_metadata_key_encode(&key, g->id) == 0 &&
        group_metadata_value_encode(&value, &v, ms) == 0) {
        struct group_record rec = {key.data, key.len, value.data, (int32_t)value.len};
        err = group_append(gc, g->partition, &rec, 1, end);
    }
    if (err != KAFKA_ERROR_NONE) {
        log_warn("group", "group %s: cannot write its metadata: %s", g->id, kafka_error_name(err));
    }
    buf_free(&key);
    buf_free(&value);
    free(ms);
    return err;
}

/* Kafka's doLoadGroupsAndOffsets: a transactional batch's offsets stay
 * pending for its producer until the producer's marker (a later plain
 * commit of the same partition still wins over them). */
static void load_record(void *arg, const struct group_batch_info *b, const struct group_record *r)
{
    struct load_state *ls = arg;
    struct group_record_key k;
    if (group_record_key_decode(r->key, r->key_len, &k) != 0 || k.group.len > 4096 ||
        k.topic.len > 4096) {
        ls->bad++;
        return;
    }
    char gid[4097], topic[4097];
    memcpy(gid, k.group.p, (size_t)k.group.len);
    gid[k.group.len] = '\0';
    ls->records++;
    if (k.kind != GROUP_RECORD_OFFSET) {
        struct group *g = group_find(ls->gc, gid);
        if (r->value == NULL) {
            if (g != NULL) {
                group_drop(ls->gc, g); /* deleted */
            }
        } else if (load_metadata(ls, gid, r) != 0) {
            ls->bad++;
        }
        return;
    }
    memcpy(topic, k.topic.p, (size_t)k.topic.len);
    topic[k.topic.len] = '\0';
    struct group *g = group_get_or_create(ls->gc, gid, ls->partition);
    if (g == NULL) {
        ls->bad++;
        return;
    }
    bool txn = b->transactional && b->producer_id >= 0;
    if (r->value == NULL) {
        struct group_offset *o = txn ? NULL : group_offset_find(g, topic, k.partition);
        if (o != NULL) {
            group_offset_remove(g, (size_t)(o - g->offsets));
        }
        if (!txn) {
            group_txn_forget(g, topic, k.partition); /* as a live delete drops them */
        }
        return;
    }
    struct group_offset_value v;
    if (group_offset_value_decode(r->value, (size_t)r->value_len, &v) != 0) {
        ls->bad++;
        return;
    }
    int rv = txn ? group_txn_offset_put(g, b->producer_id, topic, k.partition, &v, b->base_offset)
                 : group_offset_put(g, topic, k.partition, &v, b->base_offset);
    if (rv != 0) {
        ls->bad++;
    }
}

/* A transaction marker: the producer's pending offsets in this partition's
 * groups are committed or dropped. */
static void load_marker(void *arg, const struct group_batch_info *b, bool commit)
{
    struct load_state *ls = arg;
    for (struct group *g = ls->gc->groups; g != NULL; g = g->next) {
        if (g->partition == ls->partition && g->n_txn_offsets > 0 &&
            group_txn_complete(g, b->producer_id, commit, b->base_offset) != 0) {
            ls->bad++;
        }
    }
}

/* coord_log_load_fn: the groups and offsets in a chunk of partition `i`. */
static int load_batches(void *owner, int32_t i, const uint8_t *batches, size_t len)
{
    struct load_state ls = {owner, i, 0, 0};
    struct group_batch_visitor v = {load_record, load_marker, &ls};
    if (group_batches_visit(batches, len, &v) != 0) {
        ls.bad++;
    }
    if (ls.bad > 0) {
        log_warn("group", "__consumer_offsets-%d: %zu of %zu records unreadable", i, ls.bad,
                 ls.records);
    }
    return 0;
}

int16_t group_route(struct group_coordinator *gc, const char *group_id, int32_t *partition)
{
    if (group_id == NULL || group_id[0] == '\0' || strlen(group_id) > INT16_MAX) {
        return KAFKA_ERROR_INVALID_GROUP_ID; /* longer ones do not fit Kafka's record keys */
    }
    return coord_log_route(&gc->log, group_id, partition);
}

int16_t group_append(struct group_coordinator *gc, int32_t i, const struct group_record *recs,
                     size_t n, int64_t *end)
{
    return group_append_txn(gc, i, recs, n, NULL, end);
}

int16_t group_append_txn(struct group_coordinator *gc, int32_t i, const struct group_record *recs,
                         size_t n, const struct group_batch_producer *producer, int64_t *end)
{
    struct buf batch;
    buf_init(&batch);
    int16_t err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    int rv = producer != NULL ? group_txn_batch_build(&batch, recs, n, wall_clock_ms(), producer)
                              : group_batch_build(&batch, recs, n, wall_clock_ms());
    if (rv == 0) {
        err = coord_log_append(&gc->log, i, batch.data, batch.len,
                               KAFKA_ERROR_INVALID_COMMIT_OFFSET_SIZE, end);
    }
    buf_free(&batch);
    return err;
}

void group_wait_replicated(struct group_coordinator *gc, int32_t i, int64_t end, group_done_cb cb,
                           void *arg)
{
    coord_log_wait_replicated(&gc->log, i, end, cb, arg);
}

/* ---- FindCoordinator ---- */

int16_t group_find_coordinator(struct group_coordinator *gc, const char *group_id, int32_t *node_id)
{
    if (group_id == NULL) {
        return KAFKA_ERROR_INVALID_GROUP_ID;
    }
    return coord_log_find_leader(&gc->log, group_id, node_id);
}

/* ---- expiry ---- */

static void tick(uv_timer_t *t)
{
    struct group_coordinator *gc = t->data;
    uint64_t now = uv_now(gc->loop);
    int64_t wall = wall_clock_ms();
    coord_log_check_leadership(&gc->log);
    struct group *next;
    for (struct group *g = gc->groups; g != NULL; g = next) {
        next = g->next;
        group_expire_members(gc, g, now);
        group_maybe_complete_join(gc, g);
        group_expire_offsets(gc, g, wall);
        if (g->state == GROUP_EMPTY && g->n_offsets == 0 && g->n_members == 0 &&
            g->n_txn_offsets == 0 && wall - (int64_t)g->empty_since_ms > 60000) {
            group_drop(gc, g); /* nothing left to remember */
        }
    }
}

int group_coordinator_start(struct group_coordinator **out, uv_loop_t *loop,
                            const struct sluice_config *cfg, struct metadata_view *metadata,
                            struct replica_manager *replicas)
{
    struct group_coordinator *gc = calloc(1, sizeof *gc);
    if (gc == NULL) {
        return -ENOMEM;
    }
    gc->loop = loop;
    gc->cfg = cfg;
    gc->metadata = metadata;
    gc->replicas = replicas;
    struct coord_log_spec spec = {GROUP_OFFSETS_TOPIC, cfg->offsets_topic_num_partitions,
                                  cfg->offsets_topic_replication_factor, 0};
    coord_log_init(&gc->log, loop, cfg, metadata, replicas, &spec, load_batches, unload_partition,
                   gc);
    uv_timer_init(loop, &gc->tick);
    gc->tick.data = gc;
    uv_timer_start(&gc->tick, tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&gc->tick);
    txn_markers_set_listener(replicas, group_txn_marker_written, gc);
    *out = gc;
    return 0;
}

static void on_tick_closed(uv_handle_t *h)
{
    struct group_coordinator *gc = h->data;
    while (gc->groups != NULL) {
        struct group *g = gc->groups;
        gc->groups = g->next;
        delayed_key_detach(&g->waiters);
        group_free(g);
    }
    coord_log_free(&gc->log);
    free(gc);
}

void group_coordinator_stop(struct group_coordinator *gc)
{
    if (gc == NULL) {
        return;
    }
    txn_markers_set_listener(gc->replicas, NULL, NULL);
    uv_timer_stop(&gc->tick);
    uv_close((uv_handle_t *)&gc->tick, on_tick_closed);
}

/* ---- ListGroups, DescribeGroups, DeleteGroups ---- */

void group_each(struct group_coordinator *gc,
                void (*fn)(void *arg, const char *group_id, const char *protocol_type,
                           const char *state),
                void *arg)
{
    for (struct group *g = gc->groups; g != NULL; g = g->next) {
        struct partition *p = group_log_partition(gc, g->partition);
        if (p != NULL && g->state != GROUP_DEAD) {
            fn(arg, g->id, g->protocol_type ? g->protocol_type : "", group_state_name(g->state));
        }
    }
}

int16_t group_describe(struct group_coordinator *gc, const char *group_id,
                       void (*fn)(void *arg, const struct group_description *d), void *arg)
{
    int32_t part;
    int16_t err = group_route(gc, group_id, &part);
    if (err != KAFKA_ERROR_NONE) {
        return err;
    }
    struct group *g = group_find(gc, group_id);
    struct group_description d = {"Dead", "", "", NULL, 0};
    if (g == NULL) {
        fn(arg, &d);
        return KAFKA_ERROR_NONE;
    }
    struct group_described_member *ms = calloc(g->n_members + 1, sizeof *ms);
    if (ms == NULL) {
        return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    for (size_t i = 0; i < g->n_members; i++) {
        struct group_member *m = g->members[i];
        ms[i] = (struct group_described_member){
            m->id, m->instance_id, m->client_id, m->client_host, NULL, 0, NULL, 0};
        for (size_t j = 0; g->protocol_name && j < m->n_protocols; j++) {
            if (strcmp(m->protocols[j].name, g->protocol_name) == 0) {
                ms[i].metadata = m->protocols[j].metadata;
                ms[i].metadata_len = m->protocols[j].len;
            }
        }
        if (g->state == GROUP_STABLE) {
            ms[i].assignment = m->assignment;
            ms[i].assignment_len = m->assignment_len;
        }
    }
    d.state = group_state_name(g->state);
    d.protocol_type = g->protocol_type ? g->protocol_type : "";
    d.protocol = g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE
                     ? (g->protocol_name ? g->protocol_name : "")
                     : "";
    d.members = ms;
    d.n_members = g->n_members;
    fn(arg, &d);
    free(ms);
    return KAFKA_ERROR_NONE;
}

/* Tombstones for the group's offsets and metadata, appended in one batch. */
static int16_t delete_append(struct group_coordinator *gc, struct group *g, int64_t *end)
{
    /* Pending transactional offsets get tombstones too: a coordinator
     * loading the log must not commit them when their marker comes. */
    size_t n = g->n_offsets + g->n_txn_offsets + 1;
    struct group_record *recs = calloc(n, sizeof *recs);
    struct buf *keys = calloc(n, sizeof *keys);
    int16_t rv = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    if (recs != NULL && keys != NULL) {
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            const struct group_offset *o = i < g->n_offsets ? &g->offsets[i]
                                           : i + 1 < n      ? &g->txn_offsets[i - g->n_offsets].o
                                                            : NULL;
            buf_init(&keys[i]);
            bad |= o != NULL ? group_offset_key_encode(&keys[i], g->id, o->topic, o->partition)
                             : group_metadata_key_encode(&keys[i], g->id);
            recs[i] = (struct group_record){keys[i].data, keys[i].len, NULL, -1};
        }
        rv = bad ? KAFKA_ERROR_UNKNOWN_SERVER_ERROR : group_append(gc, g->partition, recs, n, end);
        for (size_t i = 0; i < n; i++) {
            buf_free(&keys[i]);
        }
    }
    free(recs);
    free(keys);
    return rv;
}

void group_delete(struct group_coordinator *gc, const char *group_id, group_done_cb cb, void *arg)
{
    int32_t part;
    int16_t err = group_route(gc, group_id, &part);
    struct group *g = err == KAFKA_ERROR_NONE ? group_find(gc, group_id) : NULL;
    int64_t end = -1;
    if (err == KAFKA_ERROR_NONE) {
        err = g == NULL          ? KAFKA_ERROR_GROUP_ID_NOT_FOUND
              : g->n_members > 0 ? KAFKA_ERROR_NON_EMPTY_GROUP
                                 : delete_append(gc, g, &end);
    }
    if (err != KAFKA_ERROR_NONE) {
        cb(arg, err);
        return;
    }
    group_drop(gc, g);
    group_wait_replicated(gc, part, end, cb, arg);
}
