/* Kafka's classic membership protocol: JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup and the rebalance state machine
 *   Empty -> PreparingRebalance -> CompletingRebalance -> Stable
 * with session expiry and static members (KIP-345); see group_coordinator.h.
 * JoinGroup and SyncGroup that must wait park in the replica layer's
 * purgatory, watching the group's key, which every state change notifies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/group/group_internal.h"
#include "common/log.h"
#include "common/wall_clock.h"
#include "proto/kafka/kafka_errors.h"

/* Waited beyond the rebalance timeout before a parked JoinGroup gives up:
 * the tick ends the join phase at the deadline, so this is only a backstop. */
#define JOIN_SLACK_MS 5000

void group_member_free(struct group_member *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->n_protocols; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].metadata);
    }
    free(m->protocols);
    free(m->assignment);
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m);
}

struct group_member *group_member_find(const struct group *g, const char *member_id)
{
    for (size_t i = 0; member_id != NULL && i < g->n_members; i++) {
        if (strcmp(g->members[i]->id, member_id) == 0) {
            return g->members[i];
        }
    }
    return NULL;
}

static struct group_member *member_by_instance(const struct group *g, const char *instance_id)
{
    for (size_t i = 0; instance_id != NULL && i < g->n_members; i++) {
        if (g->members[i]->instance_id && strcmp(g->members[i]->instance_id, instance_id) == 0) {
            return g->members[i];
        }
    }
    return NULL;
}

static void set_str(char **dst, const char *src)
{
    char *s = src ? strdup(src) : NULL;
    free(*dst);
    *dst = s;
}

static void become_empty(struct group *g)
{
    g->state = GROUP_EMPTY;
    g->empty_since_ms = (uint64_t)wall_clock_ms();
    set_str(&g->leader, NULL);
}

void group_remove_member(struct group_coordinator *gc, struct group *g, struct group_member *m)
{
    size_t i = 0;
    while (i < g->n_members && g->members[i] != m) {
        i++;
    }
    if (i == g->n_members) {
        return;
    }
    g->members[i] = g->members[--g->n_members];
    if (g->leader && strcmp(g->leader, m->id) == 0) {
        set_str(&g->leader, g->n_members ? g->members[0]->id : NULL);
    }
    group_member_free(m);
    if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE) {
        group_prepare_rebalance(gc, g);
    } else if (g->state == GROUP_PREPARING_REBALANCE) {
        group_maybe_complete_join(gc, g);
    }
}

void group_prepare_rebalance(struct group_coordinator *gc, struct group *g)
{
    uint64_t now = uv_now(gc->loop);
    int32_t max_rebalance = 0;
    for (size_t i = 0; i < g->n_members; i++) {
        if (g->members[i]->rebalance_timeout_ms > max_rebalance) {
            max_rebalance = g->members[i]->rebalance_timeout_ms;
        }
    }
    if (g->state == GROUP_EMPTY) {
        /* group.initial.rebalance.delay.ms: let a starting fleet join at once. */
        int32_t delay = gc->cfg->group_initial_rebalance_delay_ms;
        g->initial_delay_deadline = now + (uint64_t)(delay < max_rebalance ? delay : max_rebalance);
    }
    g->rebalance_deadline = now + (uint64_t)max_rebalance;
    g->state = GROUP_PREPARING_REBALANCE;
    log_debug("group", "group %s preparing rebalance (generation %d)", g->id, g->generation);
    delayed_key_notify(&g->waiters); /* SyncGroups waiting now answer REBALANCE_IN_PROGRESS */
}

static bool supports(const struct group_member *m, const char *protocol)
{
    for (size_t i = 0; i < m->n_protocols; i++) {
        if (strcmp(m->protocols[i].name, protocol) == 0) {
            return true;
        }
    }
    return false;
}

/* Kafka's vote: each member votes for its most preferred protocol that all
 * members support; the most votes wins (ties: the first counted). */
static const char *select_protocol(const struct group *g)
{
    const char *best = NULL;
    size_t best_votes = 0;
    for (size_t c = 0; g->n_members && c < g->members[0]->n_protocols; c++) {
        const char *cand = g->members[0]->protocols[c].name;
        size_t votes = 0;
        for (size_t i = 0; i < g->n_members; i++) {
            for (size_t j = 0; j < g->members[i]->n_protocols; j++) {
                const char *pref = g->members[i]->protocols[j].name;
                bool common = true;
                for (size_t k = 0; k < g->n_members && common; k++) {
                    common = supports(g->members[k], pref);
                }
                if (common) {
                    votes += strcmp(pref, cand) == 0;
                    break;
                }
            }
        }
        bool all = true;
        for (size_t k = 0; k < g->n_members && all; k++) {
            all = supports(g->members[k], cand);
        }
        if (all && (best == NULL || votes > best_votes)) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

void group_maybe_complete_join(struct group_coordinator *gc, struct group *g)
{
    if (g->state != GROUP_PREPARING_REBALANCE) {
        return;
    }
    uint64_t now = uv_now(gc->loop);
    bool all = true;
    for (size_t i = 0; i < g->n_members; i++) {
        all &= g->members[i]->joining;
    }
    if (now < g->initial_delay_deadline && now < g->rebalance_deadline) {
        return;
    }
    if (!all && now < g->rebalance_deadline) {
        return;
    }
    /* Members that did not rejoin in time are out. */
    for (size_t i = g->n_members; i-- > 0;) {
        struct group_member *m = g->members[i];
        if (!m->joining) {
            log_info("group", "group %s: member %s did not rejoin in time", g->id, m->id);
            g->members[i] = g->members[--g->n_members];
            if (g->leader && strcmp(g->leader, m->id) == 0) {
                set_str(&g->leader, NULL);
            }
            group_member_free(m);
        }
    }
    g->generation++;
    if (g->n_members == 0) {
        become_empty(g);
        set_str(&g->protocol_name, NULL);
        int64_t end;
        (void)group_store_metadata(gc, g, &end); /* not waited for: nobody is told anything */
        delayed_key_notify(&g->waiters);
        return;
    }
    if (g->leader == NULL) {
        set_str(&g->leader, g->members[0]->id);
    }
    set_str(&g->protocol_name, select_protocol(g));
    g->state = GROUP_COMPLETING_REBALANCE;
    for (size_t i = 0; i < g->n_members; i++) {
        free(g->members[i]->assignment);
        g->members[i]->assignment = NULL;
        g->members[i]->assignment_len = 0;
        g->members[i]->last_seen_ms = now;
    }
    log_info("group", "group %s generation %d: %zu members, protocol %s, leader %s", g->id,
             g->generation, g->n_members, g->protocol_name ? g->protocol_name : "-", g->leader);
    delayed_key_notify(&g->waiters);
}

void group_expire_members(struct group_coordinator *gc, struct group *g, uint64_t now)
{
    for (size_t i = g->n_members; i-- > 0;) {
        struct group_member *m = g->members[i];
        bool waiting_join = m->joining && g->state == GROUP_PREPARING_REBALANCE;
        if (!waiting_join && now - m->last_seen_ms > (uint64_t)m->session_timeout_ms) {
            log_info("group", "group %s: member %s session expired", g->id, m->id);
            group_remove_member(gc, g, m);
            i = i > g->n_members ? g->n_members : i;
        }
    }
}

/* ---- JoinGroup ---- */

struct join_wait {
    struct group_coordinator *gc;
    struct group *g;
    char *member_id;
    group_join_cb cb;
    void *arg;
    struct delayed_op op;
};

static void join_answer(struct group *g, const char *member_id, int16_t error, group_join_cb cb,
                        void *arg)
{
    struct group_join_result r = {error, -1, "", "", member_id, NULL, 0};
    struct group_member *m = g ? group_member_find(g, member_id) : NULL;
    if (error != KAFKA_ERROR_NONE || m == NULL) {
        r.error = error != KAFKA_ERROR_NONE ? error : KAFKA_ERROR_UNKNOWN_MEMBER_ID;
        cb(arg, &r);
        return;
    }
    m->joining = false;
    r.generation = g->generation;
    r.protocol_name = g->protocol_name ? g->protocol_name : "";
    r.leader = g->leader ? g->leader : "";
    struct group_join_member *ms = NULL;
    if (g->leader && strcmp(g->leader, member_id) == 0) {
        ms = calloc(g->n_members + 1, sizeof *ms);
        for (size_t i = 0; ms != NULL && i < g->n_members; i++) {
            struct group_member *o = g->members[i];
            ms[i] = (struct group_join_member){o->id, o->instance_id, NULL, 0};
            for (size_t j = 0; j < o->n_protocols; j++) {
                if (strcmp(o->protocols[j].name, r.protocol_name) == 0) {
                    ms[i].metadata = o->protocols[j].metadata;
                    ms[i].len = o->protocols[j].len;
                }
            }
        }
        if (ms == NULL) {
            r.error = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        }
        r.members = ms;
        r.n_members = ms ? g->n_members : 0;
    }
    cb(arg, &r);
    free(ms);
}

static bool join_ready(struct delayed_op *op)
{
    struct join_wait *w = op->data;
    struct group_member *m = group_member_find(w->g, w->member_id);
    return w->g->state != GROUP_PREPARING_REBALANCE || m == NULL;
}

static void join_complete(struct delayed_op *op, bool expired)
{
    struct join_wait *w = op->data;
    delayed_op_free(op);
    int16_t err = KAFKA_ERROR_NONE;
    if (w->g->state == GROUP_DEAD) {
        err = KAFKA_ERROR_NOT_COORDINATOR;
    } else if (expired && w->g->state == GROUP_PREPARING_REBALANCE) {
        err = KAFKA_ERROR_REBALANCE_IN_PROGRESS;
    }
    if (err != KAFKA_ERROR_NONE) {
        struct group_member *m = group_member_find(w->g, w->member_id);
        if (m != NULL) {
            m->joining = false;
        }
    }
    join_answer(w->g->state == GROUP_DEAD ? NULL : w->g, w->member_id, err, w->cb, w->arg);
    free(w->member_id);
    free(w);
}

static void join_park(struct group_coordinator *gc, struct group *g, struct group_member *m,
                      group_join_cb cb, void *arg)
{
    struct join_wait *w = calloc(1, sizeof *w);
    if (w == NULL || (w->member_id = strdup(m->id)) == NULL ||
        delayed_op_init(&w->op, 1, join_ready, join_complete, w) != 0) {
        free(w ? w->member_id : NULL);
        free(w);
        join_answer(NULL, m->id, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, cb, arg);
        return;
    }
    *w = (struct join_wait){gc, g, w->member_id, cb, arg, w->op};
    w->op.data = w;
    m->joining = true;
    delayed_op_watch(&w->op, &g->waiters);
    replica_manager_park(gc->replicas, &w->op,
                         (uint64_t)m->rebalance_timeout_ms +
                             (uint64_t)gc->cfg->group_initial_rebalance_delay_ms + JOIN_SLACK_MS);
    group_maybe_complete_join(gc, g);
}

static char *new_member_id(const char *client_id)
{
    uint8_t r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        return NULL;
    }
    char hex[33];
    for (size_t i = 0; i < sizeof r; i++) {
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    }
    size_t n = strlen(client_id) + 40;
    char *id = malloc(n);
    if (id != NULL) {
        snprintf(id, n, "%s-%.8s-%.4s-%.4s-%.4s-%.12s", client_id, hex, hex + 8, hex + 12, hex + 16,
                 hex + 20);
    }
    return id;
}

static int set_protocols(struct group_member *m, const struct group_join_request *req)
{
    struct member_protocol *ps = calloc(req->n_protocols ? req->n_protocols : 1, sizeof *ps);
    if (ps == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < req->n_protocols; i++) {
        ps[i].name = strdup(req->protocols[i].name);
        ps[i].metadata = malloc(req->protocols[i].len ? req->protocols[i].len : 1);
        ps[i].len = req->protocols[i].len;
        if (ps[i].name == NULL || ps[i].metadata == NULL) {
            for (size_t j = 0; j <= i; j++) {
                free(ps[j].name);
                free(ps[j].metadata);
            }
            free(ps);
            return -ENOMEM;
        }
        memcpy(ps[i].metadata, req->protocols[i].metadata, ps[i].len);
    }
    for (size_t i = 0; i < m->n_protocols; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].metadata);
    }
    free(m->protocols);
    m->protocols = ps;
    m->n_protocols = req->n_protocols;
    return 0;
}

static bool same_protocols(const struct group_member *m, const struct group_join_request *req)
{
    if (m->n_protocols != req->n_protocols) {
        return false;
    }
    for (size_t i = 0; i < req->n_protocols; i++) {
        if (strcmp(m->protocols[i].name, req->protocols[i].name) != 0 ||
            m->protocols[i].len != req->protocols[i].len ||
            (m->protocols[i].len &&
             memcmp(m->protocols[i].metadata, req->protocols[i].metadata, m->protocols[i].len))) {
            return false;
        }
    }
    return true;
}

int group_grow_members(struct group *g)
{
    size_t cap = g->cap_members ? 2 * g->cap_members : 4;
    struct group_member **ms = realloc(g->members, cap * sizeof *ms);
    if (ms == NULL) {
        return -ENOMEM;
    }
    g->members = ms;
    g->cap_members = cap;
    return 0;
}

static struct group_member *add_member(struct group *g, const struct group_join_request *req,
                                       char *id)
{
    if (g->n_members == g->cap_members && group_grow_members(g) != 0) {
        return NULL;
    }
    struct group_member *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    m->id = id;
    m->instance_id = req->instance_id ? strdup(req->instance_id) : NULL;
    m->client_id = strdup(req->client_id ? req->client_id : "");
    m->client_host = strdup(req->client_host ? req->client_host : "");
    if (m->client_id == NULL || m->client_host == NULL || set_protocols(m, req) != 0) {
        m->id = NULL;
        group_member_free(m);
        return NULL;
    }
    g->members[g->n_members++] = m;
    return m;
}

static void update_member(struct group_member *m, const struct group_join_request *req,
                          uint64_t now)
{
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms;
    m->last_seen_ms = now;
}

/* Checks every join passes before it changes anything. */
static int16_t join_check(struct group_coordinator *gc, const struct group *g,
                          const struct group_join_request *req)
{
    const struct sluice_config *cfg = gc->cfg;
    if (req->session_timeout_ms < cfg->group_min_session_timeout_ms ||
        req->session_timeout_ms > cfg->group_max_session_timeout_ms) {
        return KAFKA_ERROR_INVALID_SESSION_TIMEOUT;
    }
    if (req->protocol_type == NULL || req->protocol_type[0] == '\0' || req->n_protocols == 0) {
        return KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL;
    }
    for (size_t i = 0; i < req->n_protocols; i++) {
        if (req->protocols[i].name == NULL) {
            return KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL;
        }
    }
    if (g->n_members > 0 && g->protocol_type && strcmp(g->protocol_type, req->protocol_type)) {
        return KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL;
    }
    /* Some protocol every current member (other than this one) supports. */
    for (size_t p = 0; g->n_members > 0 && p < req->n_protocols; p++) {
        bool all = true;
        for (size_t i = 0; i < g->n_members && all; i++) {
            const struct group_member *m = g->members[i];
            all = (req->member_id[0] && strcmp(m->id, req->member_id) == 0) ||
                  (req->instance_id && m->instance_id &&
                   strcmp(m->instance_id, req->instance_id) == 0) ||
                  supports(m, req->protocols[p].name);
        }
        if (all) {
            return KAFKA_ERROR_NONE;
        }
    }
    return g->n_members > 0 ? KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL : KAFKA_ERROR_NONE;
}

/* A static member rejoining with a fresh member id (a restart): it takes the
 * old member's place and assignment. A stable group whose protocol the
 * member still supports does not rebalance; as Kafka does, the answer names
 * the old leader id, so a restarted leader does not reassign (a stable
 * group would not pass its new plan on). */
static void join_static_known(struct group_coordinator *gc, struct group *g, struct group_member *m,
                              const struct group_join_request *req, group_join_cb cb, void *arg)
{
    char *id = new_member_id(req->client_id ? req->client_id : "");
    char *old_leader = g->leader ? strdup(g->leader) : NULL;
    if (id == NULL || (g->leader && old_leader == NULL) || set_protocols(m, req) != 0) {
        free(id);
        free(old_leader);
        join_answer(NULL, "", KAFKA_ERROR_UNKNOWN_SERVER_ERROR, cb, arg);
        return;
    }
    if (g->leader && strcmp(g->leader, m->id) == 0) {
        set_str(&g->leader, id);
    }
    free(m->id);
    m->id = id;
    update_member(m, req, uv_now(gc->loop));
    if (g->state == GROUP_STABLE && g->protocol_name && supports(m, g->protocol_name)) {
        log_info("group", "group %s: static member %s rejoined as %s without a rebalance", g->id,
                 m->instance_id, id);
        int64_t end;
        (void)group_store_metadata(gc, g, &end); /* not waited for: see group_internal.h */
        struct group_join_result r = {KAFKA_ERROR_NONE,
                                      g->generation,
                                      g->protocol_name,
                                      old_leader ? old_leader : "",
                                      id,
                                      NULL,
                                      0};
        cb(arg, &r);
        free(old_leader);
        return;
    }
    free(old_leader);
    if (g->state != GROUP_PREPARING_REBALANCE) {
        group_prepare_rebalance(gc, g);
    }
    join_park(gc, g, m, cb, arg);
}

static void join_new(struct group_coordinator *gc, struct group *g,
                     const struct group_join_request *req, group_join_cb cb, void *arg)
{
    if ((int64_t)g->n_members >= gc->cfg->group_max_size) {
        join_answer(NULL, "", KAFKA_ERROR_GROUP_MAX_SIZE_REACHED, cb, arg);
        return;
    }
    char *id = new_member_id(req->client_id ? req->client_id : "");
    if (id == NULL) {
        join_answer(NULL, "", KAFKA_ERROR_UNKNOWN_SERVER_ERROR, cb, arg);
        return;
    }
    if (req->require_known_member && req->instance_id == NULL) {
        /* KIP-394: hand out the id; the member joins with it next. */
        struct group_join_result r = {KAFKA_ERROR_MEMBER_ID_REQUIRED, -1, "", "", id, NULL, 0};
        cb(arg, &r);
        char **slot = &g->pending[g->next_pending++ % GROUP_MAX_PENDING];
        free(*slot);
        *slot = id;
        return;
    }
    struct group_member *m = add_member(g, req, id);
    if (m == NULL) {
        free(id);
        join_answer(NULL, "", KAFKA_ERROR_UNKNOWN_SERVER_ERROR, cb, arg);
        return;
    }
    update_member(m, req, uv_now(gc->loop));
    if (g->protocol_type == NULL || g->n_members == 1) {
        set_str(&g->protocol_type, req->protocol_type);
    }
    if (g->state != GROUP_PREPARING_REBALANCE) {
        group_prepare_rebalance(gc, g);
    }
    join_park(gc, g, m, cb, arg);
}

static char **take_pending(struct group *g, const char *member_id)
{
    for (size_t i = 0; i < GROUP_MAX_PENDING; i++) {
        if (g->pending[i] != NULL && strcmp(g->pending[i], member_id) == 0) {
            return &g->pending[i];
        }
    }
    return NULL;
}

/* An unknown member id is UNKNOWN_MEMBER_ID, unless MEMBER_ID_REQUIRED just
 * handed it out (KIP-394). */
void group_join(struct group_coordinator *gc, const struct group_join_request *req,
                group_join_cb cb, void *arg)
{
    int32_t part;
    int16_t err = group_route(gc, req->group_id, &part);
    struct group *g = err == KAFKA_ERROR_NONE ? group_get_or_create(gc, req->group_id, part) : NULL;
    if (err == KAFKA_ERROR_NONE && g == NULL) {
        err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    if (err == KAFKA_ERROR_NONE) {
        err = join_check(gc, g, req);
    }
    if (err != KAFKA_ERROR_NONE) {
        join_answer(NULL, req->member_id, err, cb, arg);
        return;
    }
    struct group_member *by_instance = member_by_instance(g, req->instance_id);
    if (by_instance != NULL && req->member_id[0] != '\0' &&
        strcmp(by_instance->id, req->member_id) != 0) {
        join_answer(NULL, req->member_id, KAFKA_ERROR_FENCED_INSTANCE_ID, cb, arg);
        return;
    }
    if (by_instance != NULL && req->member_id[0] == '\0') {
        join_static_known(gc, g, by_instance, req, cb, arg);
        return;
    }
    struct group_member *m = group_member_find(g, req->member_id);
    if (m == NULL) {
        char **pending = req->member_id[0] ? take_pending(g, req->member_id) : NULL;
        if (req->member_id[0] != '\0' && pending == NULL) {
            join_answer(NULL, req->member_id, KAFKA_ERROR_UNKNOWN_MEMBER_ID, cb, arg);
            return;
        }
        if (pending != NULL) {
            /* Joining with the id MEMBER_ID_REQUIRED gave it. */
            struct group_join_request copy = *req;
            copy.require_known_member = false;
            char *id = *pending;
            *pending = NULL;
            struct group_member *nm = id ? add_member(g, &copy, id) : NULL;
            if (nm == NULL) {
                free(id);
                join_answer(NULL, req->member_id, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, cb, arg);
                return;
            }
            update_member(nm, req, uv_now(gc->loop));
            if (g->protocol_type == NULL || g->n_members == 1) {
                set_str(&g->protocol_type, req->protocol_type);
            }
            if (g->state != GROUP_PREPARING_REBALANCE) {
                group_prepare_rebalance(gc, g);
            }
            join_park(gc, g, nm, cb, arg);
            return;
        }
        join_new(gc, g, req, cb, arg);
        return;
    }
    /* A known member rejoining. */
    bool same = same_protocols(m, req);
    update_member(m, req, uv_now(gc->loop));
    if (set_protocols(m, req) != 0) {
        join_answer(NULL, req->member_id, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, cb, arg);
        return;
    }
    bool leader = g->leader && strcmp(g->leader, m->id) == 0;
    if (g->state == GROUP_STABLE && same && !leader) {
        join_answer(g, m->id, KAFKA_ERROR_NONE, cb, arg); /* nothing changed: current generation */
        return;
    }
    if (g->state != GROUP_PREPARING_REBALANCE) {
        group_prepare_rebalance(gc, g);
    }
    join_park(gc, g, m, cb, arg);
}

/* ---- SyncGroup ---- */

struct sync_wait {
    struct group *g;
    char *member_id;
    int32_t generation;
    group_sync_cb cb;
    void *arg;
    struct delayed_op op;
};

static bool sync_ready(struct delayed_op *op)
{
    struct sync_wait *w = op->data;
    return w->g->state != GROUP_COMPLETING_REBALANCE || w->g->generation != w->generation ||
           group_member_find(w->g, w->member_id) == NULL;
}

static void sync_answer(struct group *g, const char *member_id, int32_t generation,
                        group_sync_cb cb, void *arg)
{
    struct group_member *m = group_member_find(g, member_id);
    if (g->state == GROUP_DEAD) {
        cb(arg, KAFKA_ERROR_NOT_COORDINATOR, NULL, 0);
    } else if (m == NULL) {
        cb(arg, KAFKA_ERROR_UNKNOWN_MEMBER_ID, NULL, 0);
    } else if (g->generation != generation || g->state != GROUP_STABLE) {
        cb(arg, KAFKA_ERROR_REBALANCE_IN_PROGRESS, NULL, 0);
    } else {
        cb(arg, KAFKA_ERROR_NONE, m->assignment, m->assignment_len);
    }
}

static void sync_complete(struct delayed_op *op, bool expired)
{
    (void)expired; /* still completing: REBALANCE_IN_PROGRESS makes it rejoin */
    struct sync_wait *w = op->data;
    delayed_op_free(op);
    sync_answer(w->g, w->member_id, w->generation, w->cb, w->arg);
    free(w->member_id);
    free(w);
}

/* The leader's assignment: stored per member; absent members get none. */
static int16_t store_assignments(struct group *g, const struct group_sync_request *req)
{
    for (size_t i = 0; i < req->n_assignments; i++) {
        struct group_member *m = group_member_find(g, req->assignments[i].member_id);
        if (m == NULL) {
            continue;
        }
        uint8_t *a = malloc(req->assignments[i].len ? req->assignments[i].len : 1);
        if (a == NULL) {
            return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        }
        memcpy(a, req->assignments[i].data, req->assignments[i].len);
        free(m->assignment);
        m->assignment = a;
        m->assignment_len = req->assignments[i].len;
    }
    return KAFKA_ERROR_NONE;
}

struct metadata_store {
    struct group_coordinator *gc;
    char *group_id;
    int32_t generation;
};

/* The leader's assignment is replicated, or cannot be: only now do members
 * get their assignments (Kafka's storeGroup callback), so a coordinator
 * after a failover knows the generation every member was told. On failure
 * the group rebalances and the members rejoin. */
static void metadata_stored(void *arg, int16_t error)
{
    struct metadata_store *st = arg;
    struct group *g = group_find(st->gc, st->group_id);
    if (g != NULL && g->storing_generation == st->generation) {
        g->storing_generation = -1;
        if (g->generation == st->generation && g->state == GROUP_COMPLETING_REBALANCE) {
            if (error == KAFKA_ERROR_NONE) {
                g->state = GROUP_STABLE;
                log_info("group", "group %s generation %d is stable", g->id, g->generation);
            } else {
                log_warn("group",
                         "group %s generation %d: metadata not replicated (%s), rebalancing", g->id,
                         g->generation, kafka_error_name(error));
                group_prepare_rebalance(st->gc, g);
            }
            delayed_key_notify(&g->waiters);
        }
    }
    free(st->group_id);
    free(st);
}

/* Write the group with the leader's assignment; it becomes Stable once that
 * is replicated (maybe before this returns). */
static void store_group(struct group_coordinator *gc, struct group *g)
{
    struct metadata_store *st = calloc(1, sizeof *st);
    if (st == NULL || (st->group_id = strdup(g->id)) == NULL) {
        free(st);
        group_prepare_rebalance(gc, g);
        return;
    }
    st->gc = gc;
    st->generation = g->generation;
    g->storing_generation = g->generation;
    int64_t end = -1;
    int16_t err = group_store_metadata(gc, g, &end);
    if (err != KAFKA_ERROR_NONE) {
        metadata_stored(st, err);
        return;
    }
    group_wait_replicated(gc, g->partition, end, metadata_stored, st);
}

int16_t group_member_check(const struct group *g, int32_t generation, const char *member_id,
                           const char *instance_id, struct group_member **member)
{
    if (member != NULL) {
        *member = NULL;
    }
    struct group_member *by_instance = member_by_instance(g, instance_id);
    if (by_instance != NULL && strcmp(by_instance->id, member_id) != 0) {
        return KAFKA_ERROR_FENCED_INSTANCE_ID;
    }
    struct group_member *m = group_member_find(g, member_id);
    if (m == NULL) {
        return KAFKA_ERROR_UNKNOWN_MEMBER_ID;
    }
    if (member != NULL) {
        *member = m;
    }
    return generation != g->generation ? KAFKA_ERROR_ILLEGAL_GENERATION : KAFKA_ERROR_NONE;
}

/* Generation and membership checks shared by SyncGroup and Heartbeat; a
 * known member's session is renewed. */
static int16_t member_check(struct group_coordinator *gc, const char *group_id, int32_t generation,
                            const char *member_id, const char *instance_id, struct group **gout,
                            struct group_member **mout)
{
    int32_t part;
    int16_t err = group_route(gc, group_id, &part);
    if (err != KAFKA_ERROR_NONE) {
        return err;
    }
    struct group *g = group_find(gc, group_id);
    if (g == NULL || g->state == GROUP_DEAD) {
        return KAFKA_ERROR_UNKNOWN_MEMBER_ID;
    }
    struct group_member *m = NULL;
    err = group_member_check(g, generation, member_id, instance_id, &m);
    if (m != NULL) {
        m->last_seen_ms = uv_now(gc->loop);
        *gout = g;
        *mout = m;
    }
    return err;
}

void group_sync(struct group_coordinator *gc, const struct group_sync_request *req,
                group_sync_cb cb, void *arg)
{
    struct group *g = NULL;
    struct group_member *m = NULL;
    int16_t err =
        member_check(gc, req->group_id, req->generation, req->member_id, req->instance_id, &g, &m);
    if (err == KAFKA_ERROR_NONE && g->state == GROUP_PREPARING_REBALANCE) {
        err = KAFKA_ERROR_REBALANCE_IN_PROGRESS;
    }
    if (err != KAFKA_ERROR_NONE) {
        cb(arg, err, NULL, 0);
        return;
    }
    if (g->state == GROUP_COMPLETING_REBALANCE && g->leader && strcmp(g->leader, m->id) == 0 &&
        g->storing_generation != g->generation) {
        err = store_assignments(g, req);
        if (err != KAFKA_ERROR_NONE) {
            cb(arg, err, NULL, 0);
            return;
        }
        store_group(gc, g);
    }
    if (g->state != GROUP_COMPLETING_REBALANCE) {
        sync_answer(g, m->id, req->generation, cb, arg);
        return;
    }
    struct sync_wait *w = calloc(1, sizeof *w);
    if (w == NULL || (w->member_id = strdup(m->id)) == NULL ||
        delayed_op_init(&w->op, 1, sync_ready, sync_complete, w) != 0) {
        free(w ? w->member_id : NULL);
        free(w);
        cb(arg, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, NULL, 0);
        return;
    }
    w->g = g;
    w->generation = req->generation;
    w->cb = cb;
    w->arg = arg;
    delayed_op_watch(&w->op, &g->waiters);
    replica_manager_park(gc->replicas, &w->op, (uint64_t)m->session_timeout_ms);
}

int16_t group_heartbeat(struct group_coordinator *gc, const char *group_id, int32_t generation,
                        const char *member_id, const char *instance_id)
{
    struct group *g = NULL;
    struct group_member *m = NULL;
    int16_t err = member_check(gc, group_id, generation, member_id, instance_id, &g, &m);
    if (err == KAFKA_ERROR_NONE && g->state == GROUP_PREPARING_REBALANCE) {
        return KAFKA_ERROR_REBALANCE_IN_PROGRESS;
    }
    return err;
}

/* ---- LeaveGroup ---- */

int16_t group_leave(struct group_coordinator *gc, const char *group_id,
                    const struct group_member_ref *members, size_t n, int16_t *errors)
{
    int32_t part;
    int16_t err = group_route(gc, group_id, &part);
    if (err != KAFKA_ERROR_NONE) {
        return err;
    }
    struct group *g = group_find(gc, group_id);
    for (size_t i = 0; i < n; i++) {
        const struct group_member_ref *ref = &members[i];
        struct group_member *m = NULL;
        errors[i] = KAFKA_ERROR_NONE;
        if (g != NULL && ref->instance_id != NULL) {
            m = member_by_instance(g, ref->instance_id);
            if (m != NULL && ref->member_id && ref->member_id[0] &&
                strcmp(ref->member_id, m->id) != 0) {
                errors[i] = KAFKA_ERROR_FENCED_INSTANCE_ID;
                continue;
            }
        } else if (g != NULL) {
            m = group_member_find(g, ref->member_id);
        }
        if (m == NULL) {
            errors[i] = KAFKA_ERROR_UNKNOWN_MEMBER_ID;
            continue;
        }
        log_info("group", "group %s: member %s leaves", g->id, m->id);
        group_remove_member(gc, g, m);
    }
    if (g != NULL) {
        group_maybe_complete_join(gc, g); /* the rest may all have rejoined already */
    }
    return KAFKA_ERROR_NONE;
}
