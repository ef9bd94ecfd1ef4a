/* sluicectl partition reassign and broker decommission; see reassign_cmd.h.
 * Every request goes to the bootstrap broker: it forwards reassignments to
 * the active controller and answers listings from its metadata view. */
#include "tools/sluicectl/reassign_cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka_messages.h"
#include "proto/kafka/kafka_errors.h"
#include "tools/sluicectl/admin_session.h"
#include "tools/sluicectl/plan_json.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT        (64u << 20)
#define DEFAULT_TIMEOUT_MS 60000
#define MAX_REPLICAS       8 /* the controller's limit on a reassignment's target */
#define MAX_PLAN           100000
#define MAX_BROKERS        1024

/* One partition's target. */
struct move {
    char *topic; /* owned */
    int32_t partition;
    int32_t replicas[MAX_REPLICAS];
    int32_t n_replicas;
};

struct plan {
    struct move *moves;
    size_t n, cap;
};

struct reassign_run {
    struct admin_session s;
    int request_timeout_ms; /* the controller's deadline: --timeout-ms */
    long long throttle;     /* --throttle: bytes per second, -1 none */
};

/* Kafka's ConfigResource types and IncrementalAlterConfigs operations. */
enum { RESOURCE_TOPIC = 2, RESOURCE_BROKER = 4 };
enum { OP_SET = 0, OP_DELETE = 1 };

#define LEADER_THROTTLED_REPLICAS   "leader.replication.throttled.replicas"
#define FOLLOWER_THROTTLED_REPLICAS "follower.replication.throttled.replicas"
#define LEADER_THROTTLED_RATE       "leader.replication.throttled.rate"
#define FOLLOWER_THROTTLED_RATE     "follower.replication.throttled.rate"

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->moves[i].topic);
    }
    free(p->moves);
    memset(p, 0, sizeof *p);
}

static struct move *plan_add(struct plan *p, const char *topic, int32_t partition)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct move *m = realloc(p->moves, cap * sizeof *m);
        if (m == NULL) {
            return NULL;
        }
        p->moves = m;
        p->cap = cap;
    }
    struct move *m = &p->moves[p->n];
    memset(m, 0, sizeof *m);
    m->topic = strdup(topic);
    if (m->topic == NULL) {
        return NULL;
    }
    m->partition = partition;
    p->n++;
    return m;
}

/* ---- plan files ---- */

static int plan_load(const char *path, struct plan *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct json_object *doc = plan_json_load(path, err, errlen);
    if (doc == NULL) {
        return -1;
    }
    int rv = -1;
    struct json_object *parts;
    size_t n = plan_json_array(doc, "partitions", &parts);
    if (n == 0 || n > MAX_PLAN) {
        snprintf(err, errlen, "%s: needs a \"partitions\" array of 1 to %d entries", path,
                 MAX_PLAN);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(parts, i), *pv = NULL, *r;
        const char *topic = plan_json_string(e, "topic");
        int32_t partition = -1;
        int bad = json_object_is_type(e, json_type_object) &&
                          json_object_object_get_ex(e, "partition", &pv)
                      ? plan_json_index(pv, &partition)
                      : -1;
        size_t n_replicas = plan_json_array(e, "replicas", &r);
        if (topic == NULL || bad != 0 || n_replicas == 0 || n_replicas > MAX_REPLICAS) {
            snprintf(err, errlen,
                     "%s: partitions[%zu] needs \"topic\", \"partition\" (>= 0%s) and "
                     "\"replicas\" (1 to %d broker ids)",
                     path, i, bad == -2 ? "; only integers below 2^31" : "", MAX_REPLICAS);
            goto out;
        }
        for (size_t k = 0; k < out->n; k++) {
            if (out->moves[k].partition == partition && strcmp(out->moves[k].topic, topic) == 0) {
                snprintf(err, errlen, "%s: %s-%d is listed twice", path, topic, partition);
                goto out;
            }
        }
        struct move *m = plan_add(out, topic, partition);
        if (m == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        for (size_t k = 0; k < n_replicas; k++) {
            int32_t broker;
            if (plan_json_index(json_object_array_get_idx(r, k), &broker) != 0) {
                snprintf(err, errlen, "%s: partitions[%zu].replicas holds a bad broker id", path,
                         i);
                goto out;
            }
            for (int32_t x = 0; x < m->n_replicas; x++) {
                if (m->replicas[x] == broker) {
                    snprintf(err, errlen, "%s: partitions[%zu].replicas lists broker %d twice",
                             path, i, broker);
                    goto out;
                }
            }
            m->replicas[m->n_replicas++] = broker;
        }
        /* "log_dirs" (Kafka's per-replica directory) is accepted; only
         * "any" means something to Sluice. */
    }
    rv = 0;
out:
    json_object_put(doc);
    if (rv != 0) {
        plan_free(out);
    }
    return rv;
}

static void plan_print(FILE *f, const struct plan *p)
{
    fprintf(f, "{\"version\":1,\"partitions\":[");
    for (size_t i = 0; i < p->n; i++) {
        const struct move *m = &p->moves[i];
        fprintf(f, "%s{\"topic\":", i ? "," : "");
        output_json_string(f, m->topic);
        fprintf(f, ",\"partition\":%d,\"replicas\":[", m->partition);
        for (int32_t k = 0; k < m->n_replicas; k++) {
            fprintf(f, "%s%d", k ? "," : "", m->replicas[k]);
        }
        fprintf(f, "],\"log_dirs\":[");
        for (int32_t k = 0; k < m->n_replicas; k++) {
            fprintf(f, "%s\"any\"", k ? "," : "");
        }
        fprintf(f, "]}");
    }
    fprintf(f, "]}\n");
}

/* ---- requests ---- */

/* Send the request encoded with result `rv` and position `rd` on the answer. */
static int call(struct reassign_run *r, struct kafka_writer *w, int rv, int16_t api,
                struct kafka_reader *rd)
{
    kafka_writer_free(w);
    if (rv != 0) {
        snprintf(r->s.err, sizeof r->s.err, "cannot encode request %d", api);
        return -1;
    }
    return admin_session_call(&r->s, api, 0, rd);
}

static const struct kafka_metadata_response_partition *
find_partition(const struct kafka_metadata_response *md, const char *topic, int32_t partition)
{
    for (int32_t i = 0; i < md->topics_count; i++) {
        const struct kafka_metadata_response_topic *t = &md->topics[i];
        if (t->name == NULL || strcmp(t->name, topic) != 0) {
            continue;
        }
        for (int32_t j = 0; j < t->partitions_count; j++) {
            if (t->partitions[j].partition_index == partition) {
                return &t->partitions[j];
            }
        }
    }
    return NULL;
}

/* AlterPartitionReassignments for the whole plan (cancel: null replicas).
 * Prints each failure; returns how many failed, or -1. */
static int alter(struct reassign_run *r, const struct plan *p, bool cancel)
{
    struct kafka_alter_partition_reassignments_request req;
    kafka_alter_partition_reassignments_request_init(&req);
    req.timeout_ms = r->request_timeout_ms;
    req.topics = kafka_arena_alloc_array(&r->s.arena, p->n, sizeof *req.topics);
    if (req.topics == NULL) {
        snprintf(r->s.err, sizeof r->s.err, "out of memory");
        return -1;
    }
    req.topics_count = 0;
    /* One entry per topic, partitions in plan order. */
    for (size_t i = 0; i < p->n; i++) {
        struct kafka_alter_partition_reassignments_request_reassignable_topic *t = NULL;
        for (int32_t k = 0; k < req.topics_count; k++) {
            if (strcmp(req.topics[k].name, p->moves[i].topic) == 0) {
                t = &req.topics[k];
            }
        }
        if (t == NULL) {
            t = &req.topics[req.topics_count++];
            kafka_alter_partition_reassignments_request_reassignable_topic_init(t);
            t->name = p->moves[i].topic;
            t->partitions = kafka_arena_alloc_array(&r->s.arena, p->n, sizeof *t->partitions);
            if (t->partitions == NULL) {
                snprintf(r->s.err, sizeof r->s.err, "out of memory");
                return -1;
            }
            t->partitions_count = 0;
        }
        struct kafka_alter_partition_reassignments_request_reassignable_partition *e =
            &t->partitions[t->partitions_count++];
        kafka_alter_partition_reassignments_request_reassignable_partition_init(e);
        e->partition_index = p->moves[i].partition;
        e->replicas = cancel ? NULL : p->moves[i].replicas;
        e->replicas_count = cancel ? -1 : p->moves[i].n_replicas;
    }
    struct kafka_writer w;
    admin_session_begin(&r->s, &w);
    struct kafka_reader rd;
    if (call(r, &w, kafka_alter_partition_reassignments_request_encode(&w, 0, &req),
             KAFKA_API_ALTER_PARTITION_REASSIGNMENTS, &rd) != 0) {
        return -1;
    }
    struct kafka_alter_partition_reassignments_response resp;
    if (kafka_alter_partition_reassignments_response_decode(&rd, 0, &resp) != 0) {
        snprintf(r->s.err, sizeof r->s.err,
                 "cannot decode the AlterPartitionReassignments response");
        return -1;
    }
    if (resp.error_code != KAFKA_ERROR_NONE) {
        snprintf(r->s.err, sizeof r->s.err, "%s%s%s", kafka_error_name(resp.error_code),
                 resp.error_message ? ": " : "", resp.error_message ? resp.error_message : "");
        return -1;
    }
    int failed = 0;
    for (int32_t i = 0; i < resp.responses_count; i++) {
        for (int32_t j = 0; j < resp.responses[i].partitions_count; j++) {
            const struct
                kafka_alter_partition_reassignments_response_reassignable_partition_response *e =
                    &resp.responses[i].partitions[j];
            if (e->error_code != KAFKA_ERROR_NONE) {
                fprintf(stderr, "sluicectl: %s-%d: %s%s%s\n", resp.responses[i].name,
                        e->partition_index, kafka_error_name(e->error_code),
                        e->error_message ? ": " : "", e->error_message ? e->error_message : "");
                failed++;
            }
        }
    }
    return failed;
}

/* ListPartitionReassignments for every topic. */
static int list_ongoing(struct reassign_run *r,
                        struct kafka_list_partition_reassignments_response *out)
{
    struct kafka_list_partition_reassignments_request req;
    kafka_list_partition_reassignments_request_init(&req);
    req.timeout_ms = r->request_timeout_ms;
    req.topics = NULL;
    req.topics_count = -1;
    struct kafka_writer w;
    admin_session_begin(&r->s, &w);
    struct kafka_reader rd;
    if (call(r, &w, kafka_list_partition_reassignments_request_encode(&w, 0, &req),
             KAFKA_API_LIST_PARTITION_REASSIGNMENTS, &rd) != 0) {
        return -1;
    }
    if (kafka_list_partition_reassignments_response_decode(&rd, 0, out) != 0) {
        snprintf(r->s.err, sizeof r->s.err,
                 "cannot decode the ListPartitionReassignments response");
        return -1;
    }
    if (out->error_code != KAFKA_ERROR_NONE) {
        snprintf(r->s.err, sizeof r->s.err, "%s", kafka_error_name(out->error_code));
        return -1;
    }
    return 0;
}

static bool ongoing(const struct kafka_list_partition_reassignments_response *l, const char *topic,
                    int32_t partition)
{
    for (int32_t i = 0; i < l->topics_count; i++) {
        if (strcmp(l->topics[i].name, topic) != 0) {
            continue;
        }
        for (int32_t j = 0; j < l->topics[i].partitions_count; j++) {
            if (l->topics[i].partitions[j].partition_index == partition) {
                return true;
            }
        }
    }
    return false;
}

/* Per partition of the plan: done (replicas as planned, nothing ongoing),
 * in progress, or elsewhere. Prints Kafka's lines (or JSON); returns how
 * many are not done, or -1. */
static int verify(struct reassign_run *r, const struct plan *p, bool quiet)
{
    struct kafka_list_partition_reassignments_response l;
    struct kafka_metadata_response md;
    if (list_ongoing(r, &l) != 0 || admin_session_metadata(&r->s, NULL, 0, &md) != 0) {
        return -1;
    }
    int pending = 0;
    if (r->s.json && !quiet) {
        printf("[");
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct move *m = &p->moves[i];
        const struct kafka_metadata_response_partition *mp =
            find_partition(&md, m->topic, m->partition);
        const char *state;
        if (ongoing(&l, m->topic, m->partition)) {
            state = "in_progress";
        } else if (mp != NULL && mp->replica_nodes_count == m->n_replicas &&
                   memcmp(mp->replica_nodes, m->replicas,
                          (size_t)m->n_replicas * sizeof *m->replicas) == 0) {
            state = "complete";
        } else {
            state = "not_started";
        }
        pending += strcmp(state, "complete") != 0;
        if (quiet) {
            continue;
        }
        if (r->s.json) {
            printf("%s{\"topic\":", i ? "," : "");
            output_json_string(stdout, m->topic);
            printf(",\"partition\":%d,\"state\":\"%s\"}", m->partition, state);
        } else if (state[0] == 'c') {
            printf("Reassignment of partition %s-%d is completed.\n", m->topic, m->partition);
        } else if (state[0] == 'i') {
            printf("Reassignment of partition %s-%d is still in progress.\n", m->topic,
                   m->partition);
        } else {
            printf("There is no active reassignment of partition %s-%d, but replica set is [",
                   m->topic, m->partition);
            for (int32_t k = 0; mp != NULL && k < mp->replica_nodes_count; k++) {
                printf("%s%d", k ? ", " : "", mp->replica_nodes[k]);
            }
            printf("] rather than [");
            for (int32_t k = 0; k < m->n_replicas; k++) {
                printf("%s%d", k ? ", " : "", m->replicas[k]);
            }
            printf("].\n");
        }
    }
    if (r->s.json && !quiet) {
        printf("]\n");
    }
    return pending;
}

/* ---- throttles (kafka-reassign-partitions.sh --throttle) ---- */

/* One resource's two config changes: `values` NULL deletes both. */
struct throttle_change {
    int8_t type;
    char name[256];
    const char *keys[2];
    const char *values[2];
};

/* IncrementalAlterConfigs for `n` resources; prints each failure. Returns
 * how many failed, or -1. */
static int alter_throttles(struct reassign_run *r, const struct throttle_change *ch, size_t n)
{
    if (n == 0) {
        return 0;
    }
    struct kafka_incremental_alter_configs_request_alter_configs_resource *res =
        kafka_arena_alloc_array(&r->s.arena, n, sizeof *res);
    struct kafka_incremental_alter_configs_request_alterable_config *cfgs =
        kafka_arena_alloc_array(&r->s.arena, 2 * n, sizeof *cfgs);
    if (res == NULL || cfgs == NULL) {
        snprintf(r->s.err, sizeof r->s.err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        kafka_incremental_alter_configs_request_alter_configs_resource_init(&res[i]);
        res[i].resource_type = ch[i].type;
        res[i].resource_name = (char *)ch[i].name;
        res[i].configs = &cfgs[2 * i];
        res[i].configs_count = 2;
        for (int k = 0; k < 2; k++) {
            cfgs[2 * i + k].name = (char *)ch[i].keys[k];
            cfgs[2 * i + k].value = (char *)ch[i].values[k];
            cfgs[2 * i + k].config_operation = ch[i].values[k] != NULL ? OP_SET : OP_DELETE;
        }
    }
    struct kafka_incremental_alter_configs_request req;
    kafka_incremental_alter_configs_request_init(&req);
    req.resources = res;
    req.resources_count = (int32_t)n;
    struct kafka_writer w;
    admin_session_begin(&r->s, &w);
    struct kafka_reader rd;
    if (call(r, &w, kafka_incremental_alter_configs_request_encode(&w, 0, &req),
             KAFKA_API_INCREMENTAL_ALTER_CONFIGS, &rd) != 0) {
        return -1;
    }
    struct kafka_incremental_alter_configs_response resp;
    if (kafka_incremental_alter_configs_response_decode(&rd, 0, &resp) != 0) {
        snprintf(r->s.err, sizeof r->s.err, "cannot decode the IncrementalAlterConfigs response");
        return -1;
    }
    int failed = 0;
    for (int32_t i = 0; i < resp.responses_count; i++) {
        if (resp.responses[i].error_code != KAFKA_ERROR_NONE) {
            const char *msg = resp.responses[i].error_message;
            fprintf(stderr, "sluicectl: %s %s: %s%s%s\n",
                    resp.responses[i].resource_type == RESOURCE_BROKER ? "broker" : "topic",
                    resp.responses[i].resource_name ? resp.responses[i].resource_name : "",
                    kafka_error_name(resp.responses[i].error_code), msg ? ": " : "",
                    msg ? msg : "");
            failed++;
        }
    }
    return failed;
}

static bool has(const int32_t *a, int32_t n, int32_t v)
{
    for (int32_t i = 0; i < n; i++) {
        if (a[i] == v) {
            return true;
        }
    }
    return false;
}

/* Append "p:b" to a growing list in the arena. */
static char *list_add(struct reassign_run *r, char *list, int32_t partition, int32_t broker)
{
    size_t len = list != NULL ? strlen(list) : 0;
    char *grown = kafka_arena_alloc(&r->s.arena, len + 32);
    if (grown != NULL) {
        snprintf(grown, len + 32, "%s%s%d:%d", list != NULL ? list : "", len ? "," : "", partition,
                 broker);
    }
    return grown;
}

/* As kafka-reassign-partitions.sh: for each topic with a moving partition,
 * its leader list names the partition's current replicas (any may lead) and
 * its follower list the replicas being added; every broker involved gets
 * both rates. */
static int set_throttles(struct reassign_run *r, const struct plan *p, const struct plan *now)
{
    struct throttle_change *ch =
        kafka_arena_alloc_array(&r->s.arena, 2 * p->n + MAX_BROKERS + 1, sizeof *ch);
    char **leader = kafka_arena_alloc_array(&r->s.arena, p->n + 1, sizeof *leader);
    char **follower = kafka_arena_alloc_array(&r->s.arena, p->n + 1, sizeof *follower);
    int32_t *brokers = kafka_arena_alloc_array(&r->s.arena, MAX_BROKERS, sizeof *brokers);
    char *rate = kafka_arena_alloc(&r->s.arena, 24);
    if (ch == NULL || leader == NULL || follower == NULL || brokers == NULL || rate == NULL) {
        snprintf(r->s.err, sizeof r->s.err, "out of memory");
        return -1;
    }
    snprintf(rate, 24, "%lld", r->throttle);
    size_t n_topics = 0;
    int32_t n_brokers = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct move *to = &p->moves[i], *from = &now->moves[i];
        bool moving = to->n_replicas != from->n_replicas ||
                      memcmp(to->replicas, from->replicas,
                             (size_t)to->n_replicas * sizeof *to->replicas) != 0;
        if (!moving) {
            continue;
        }
        size_t t = 0;
        while (t < n_topics && strcmp(ch[t].name, to->topic) != 0) {
            t++;
        }
        if (t == n_topics) {
            memset(&ch[t], 0, sizeof ch[t]);
            ch[t].type = RESOURCE_TOPIC;
            snprintf(ch[t].name, sizeof ch[t].name, "%s", to->topic);
            leader[t] = follower[t] = NULL;
            n_topics++;
        }
        for (int32_t k = 0; k < from->n_replicas; k++) {
            leader[t] = list_add(r, leader[t], to->partition, from->replicas[k]);
        }
        for (int32_t k = 0; k < to->n_replicas; k++) {
            if (!has(from->replicas, from->n_replicas, to->replicas[k])) {
                follower[t] = list_add(r, follower[t], to->partition, to->replicas[k]);
            }
        }
        for (int32_t k = 0; k < from->n_replicas + to->n_replicas; k++) {
            int32_t b =
                k < from->n_replicas ? from->replicas[k] : to->replicas[k - from->n_replicas];
            if (!has(brokers, n_brokers, b) && n_brokers < MAX_BROKERS) {
                brokers[n_brokers++] = b;
            }
        }
    }
    for (size_t t = 0; t < n_topics; t++) {
        ch[t].keys[0] = LEADER_THROTTLED_REPLICAS;
        ch[t].values[0] = leader[t] != NULL ? leader[t] : "";
        ch[t].keys[1] = FOLLOWER_THROTTLED_REPLICAS;
        ch[t].values[1] = follower[t] != NULL ? follower[t] : "";
    }
    for (int32_t b = 0; b < n_brokers; b++) {
        struct throttle_change *c = &ch[n_topics + (size_t)b];
        memset(c, 0, sizeof *c);
        c->type = RESOURCE_BROKER;
        snprintf(c->name, sizeof c->name, "%d", brokers[b]);
        c->keys[0] = LEADER_THROTTLED_RATE;
        c->keys[1] = FOLLOWER_THROTTLED_RATE;
        c->values[0] = c->values[1] = rate;
    }
    int failed = alter_throttles(r, ch, n_topics + (size_t)n_brokers);
    if (failed != 0) {
        if (failed > 0) {
            snprintf(r->s.err, sizeof r->s.err, "%d throttle configs were refused", failed);
        }
        return -1;
    }
    if (!r->s.json) {
        printf("Warning: You must run --verify periodically, until the reassignment completes, "
               "to ensure the throttle is removed.\n");
        printf("The inter-broker throttle limit was set to %lld B/s\n", r->throttle);
    }
    return 0;
}

/* Once every move is complete (--verify): the rates go from every broker
 * and the lists from the plan's topics, as kafka-reassign-partitions.sh
 * does. */
static int clear_throttles(struct reassign_run *r, const struct plan *p)
{
    struct kafka_metadata_response md;
    if (admin_session_metadata(&r->s, NULL, 0, &md) != 0) {
        return -1;
    }
    size_t cap = p->n + (size_t)(md.brokers_count > 0 ? md.brokers_count : 0) + 1;
    struct throttle_change *ch = kafka_arena_alloc_array(&r->s.arena, cap, sizeof *ch);
    if (ch == NULL) {
        snprintf(r->s.err, sizeof r->s.err, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (int32_t b = 0; b < md.brokers_count; b++) {
        memset(&ch[n], 0, sizeof ch[n]);
        ch[n].type = RESOURCE_BROKER;
        snprintf(ch[n].name, sizeof ch[n].name, "%d", md.brokers[b].node_id);
        ch[n].keys[0] = LEADER_THROTTLED_RATE;
        ch[n].keys[1] = FOLLOWER_THROTTLED_RATE;
        n++;
    }
    size_t first_topic = n;
    for (size_t i = 0; i < p->n; i++) {
        bool seen = false;
        for (size_t k = first_topic; k < n; k++) {
            seen |= strcmp(ch[k].name, p->moves[i].topic) == 0;
        }
        if (seen) {
            continue;
        }
        memset(&ch[n], 0, sizeof ch[n]);
        ch[n].type = RESOURCE_TOPIC;
        snprintf(ch[n].name, sizeof ch[n].name, "%s", p->moves[i].topic);
        ch[n].keys[0] = LEADER_THROTTLED_REPLICAS;
        ch[n].keys[1] = FOLLOWER_THROTTLED_REPLICAS;
        n++;
    }
    int failed = alter_throttles(r, ch, n);
    if (failed != 0) {
        if (failed > 0) {
            snprintf(r->s.err, sizeof r->s.err, "%d throttle configs could not be cleared", failed);
        }
        return -1;
    }
    if (!r->s.json) {
        printf("Clearing broker-level throttles on brokers ");
        for (int32_t b = 0; b < md.brokers_count; b++) {
            printf("%s%d", b ? "," : "", md.brokers[b].node_id);
        }
        printf("\n");
        for (size_t k = first_topic; k < n; k++) {
            printf("Clearing topic-level throttles on topic %s\n", ch[k].name);
        }
    }
    return 0;
}

/* The plan's partitions as they are now, for rolling back. */
static int current_of(struct reassign_run *r, const struct plan *p, struct plan *out)
{
    memset(out, 0, sizeof *out);
    struct kafka_metadata_response md;
    if (admin_session_metadata(&r->s, NULL, 0, &md) != 0) {
        return -1;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct kafka_metadata_response_partition *mp =
            find_partition(&md, p->moves[i].topic, p->moves[i].partition);
        if (mp == NULL) {
            snprintf(r->s.err, sizeof r->s.err, "%s-%d: UNKNOWN_TOPIC_OR_PARTITION",
                     p->moves[i].topic, p->moves[i].partition);
            plan_free(out);
            return -1;
        }
        struct move *m = plan_add(out, p->moves[i].topic, p->moves[i].partition);
        if (m == NULL) {
            plan_free(out);
            snprintf(r->s.err, sizeof r->s.err, "out of memory");
            return -1;
        }
        for (int32_t k = 0; k < mp->replica_nodes_count && k < MAX_REPLICAS; k++) {
            m->replicas[m->n_replicas++] = mp->replica_nodes[k];
        }
    }
    return 0;
}

static int execute(struct reassign_run *r, const struct plan *p)
{
    struct plan now;
    if (current_of(r, p, &now) != 0) {
        return SLUICECTL_FAILED;
    }
    if (!r->s.json) {
        printf("Current partition replica assignment\n\n");
        plan_print(stdout, &now);
        printf("\nSave this to use as the --reassignment-json-file option during rollback\n");
    }
    if (r->throttle >= 0 && set_throttles(r, p, &now) != 0) {
        plan_free(&now);
        return SLUICECTL_FAILED;
    }
    plan_free(&now);
    int failed = alter(r, p, false);
    if (failed < 0) {
        return SLUICECTL_FAILED;
    }
    if (failed > 0) {
        snprintf(r->s.err, sizeof r->s.err, "%d of %zu reassignments were refused", failed, p->n);
        return SLUICECTL_FAILED;
    }
    if (!r->s.json) {
        printf("Successfully started partition reassignment%s for ", p->n == 1 ? "" : "s");
        for (size_t i = 0; i < p->n; i++) {
            printf("%s%s-%d", i ? "," : "", p->moves[i].topic, p->moves[i].partition);
        }
        printf("\n");
    } else {
        printf("{\"started\":%zu}\n", p->n);
    }
    return SLUICECTL_OK;
}

/* --generate: spread the listed topics' partitions over `brokers`
 * round-robin, keeping each partition's replication factor (Kafka's
 * rack-unaware assignment, starting each partition one broker further). */
static int generate(struct reassign_run *r, const char *topics_file, const int32_t *brokers,
                    int32_t n_brokers)
{
    struct json_object *doc = plan_json_load(topics_file, r->s.err, sizeof r->s.err);
    if (doc == NULL) {
        return SLUICECTL_USAGE;
    }
    struct json_object *list;
    size_t n_topics = plan_json_array(doc, "topics", &list);
    int rv = SLUICECTL_USAGE;
    const char **names = NULL;
    struct plan now = {0}, proposed = {0};
    if (n_topics == 0 || n_topics > MAX_PLAN) {
        snprintf(r->s.err, sizeof r->s.err, "%s: needs a \"topics\" array of {\"topic\": NAME}",
                 topics_file);
        goto out;
    }
    names = calloc(n_topics, sizeof *names);
    if (names == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n_topics; i++) {
        names[i] = plan_json_string(json_object_array_get_idx(list, i), "topic");
        if (names[i] == NULL) {
            snprintf(r->s.err, sizeof r->s.err, "%s: topics[%zu] needs \"topic\"", topics_file, i);
            goto out;
        }
    }
    rv = SLUICECTL_FAILED;
    struct kafka_metadata_response md;
    if (admin_session_metadata(&r->s, names, (int32_t)n_topics, &md) != 0) {
        goto out;
    }
    int32_t next = 0;
    for (int32_t i = 0; i < md.topics_count; i++) {
        const struct kafka_metadata_response_topic *t = &md.topics[i];
        if (t->error_code != KAFKA_ERROR_NONE) {
            snprintf(r->s.err, sizeof r->s.err, "topic %s: %s", t->name ? t->name : "?",
                     kafka_error_name(t->error_code));
            goto out;
        }
        for (int32_t j = 0; j < t->partitions_count; j++) {
            const struct kafka_metadata_response_partition *mp = &t->partitions[j];
            int32_t rf = mp->replica_nodes_count;
            if (rf > n_brokers || rf > MAX_REPLICAS) {
                snprintf(r->s.err, sizeof r->s.err,
                         "%s-%d has %d replicas: more than the %d brokers listed", t->name,
                         mp->partition_index, rf, n_brokers);
                goto out;
            }
            struct move *cur = plan_add(&now, t->name, mp->partition_index);
            struct move *m = plan_add(&proposed, t->name, mp->partition_index);
            if (cur == NULL || m == NULL) {
                goto out;
            }
            for (int32_t k = 0; k < rf; k++) {
                cur->replicas[k] = mp->replica_nodes[k];
                m->replicas[k] = brokers[(next + k) % n_brokers];
            }
            cur->n_replicas = m->n_replicas = rf;
            next++;
        }
    }
    if (r->s.json) {
        printf("{\"current\":");
        plan_print(stdout, &now);
        printf(",\"proposed\":");
        plan_print(stdout, &proposed);
        printf("}\n");
    } else {
        printf("Current partition replica assignment\n");
        plan_print(stdout, &now);
        printf("\nProposed partition reassignment configuration\n");
        plan_print(stdout, &proposed);
    }
    rv = SLUICECTL_OK;
out:
    free(names);
    plan_free(&now);
    plan_free(&proposed);
    json_object_put(doc);
    return rv;
}

static int parse_brokers(const char *s, int32_t *out, int32_t *n)
{
    *n = 0;
    while (*s != '\0') {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || *n >= MAX_BROKERS ||
            (*end != ',' && *end != '\0')) {
            return -1;
        }
        for (int32_t i = 0; i < *n; i++) {
            if (out[i] == v) {
                return -1;
            }
        }
        out[(*n)++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

/* Open the session; the socket waits 5 s past the controller's deadline,
 * so that its answer (with each partition's error) arrives rather than a
 * timeout. */
static int open_run(struct reassign_run *r)
{
    r->request_timeout_ms = r->s.timeout_ms;
    r->s.timeout_ms += 5000;
    return admin_session_open(&r->s, ARENA_LIMIT);
}

static void reassign_usage(void)
{
    fprintf(stderr,
            "usage: sluicectl partition reassign --bootstrap-server host:port\n"
            "           (--reassignment-json-file FILE (--execute | --verify | --cancel) |\n"
            "            --generate --topics-to-move-json-file FILE --broker-list 1,2,3)\n"
            "           [--throttle BYTES_PER_SEC] [--json] [--command-config FILE]\n"
            "           [--timeout-ms N]\n"
            "\n"
            "kafka-reassign-partitions.sh's plan files: {\"version\":1,\"partitions\":\n"
            "[{\"topic\":\"t\",\"partition\":0,\"replicas\":[2,3]}]}; topics to move:\n"
            "{\"version\":1,\"topics\":[{\"topic\":\"t\"}]}. --execute prints the current\n"
            "assignment (for a rollback) and starts the moves; --verify exits 1 while any\n"
            "partition is not yet where the plan puts it; --cancel stops the moves in progress.\n"
            "--throttle (with --execute) limits the moving replicas' replication to that many\n"
            "bytes per second (the topics' leader./follower.replication.throttled.replicas and\n"
            "the brokers' leader./follower.replication.throttled.rate); --verify removes it\n"
            "once every move is complete.\n"
            "exit codes: 0 ok, 1 failed (or not complete), 2 usage, 3 cannot connect\n");
}

/* What reassign's own options give. */
struct reassign_args {
    struct reassign_run *r;
    const char *plan_file, *topics_file, *broker_list;
    int mode, modes; /* the mode's option value, how many modes were given */
    bool bad_throttle;
};

static int take_reassign_option(void *cmd, int c, const char *arg)
{
    struct reassign_args *a = cmd;
    if (c == 'f') {
        a->plan_file = arg;
    } else if (c == 'T') {
        a->topics_file = arg;
    } else if (c == 'B') {
        a->broker_list = arg;
    } else if (c == 'R') {
        char *end;
        a->r->throttle = strtoll(arg, &end, 10);
        a->bad_throttle = *arg == '\0' || *end != '\0' || a->r->throttle < 0;
    } else if (c == 'x' || c == 'v' || c == 'c' || c == 'g') {
        a->mode = c;
        a->modes++;
    } else {
        return -1;
    }
    return 0;
}

int reassign_cmd_main(int argc, char **argv)
{
    static const struct option long_options[] = {
        ADMIN_SESSION_OPTIONS,
        {"reassignment-json-file", required_argument, NULL, 'f'},
        {"topics-to-move-json-file", required_argument, NULL, 'T'},
        {"broker-list", required_argument, NULL, 'B'},
        {"execute", no_argument, NULL, 'x'},
        {"verify", no_argument, NULL, 'v'},
        {"cancel", no_argument, NULL, 'c'},
        {"generate", no_argument, NULL, 'g'},
        {"throttle", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct reassign_run r;
    memset(&r, 0, sizeof r);
    r.throttle = -1;
    admin_session_init(&r.s);
    r.s.timeout_ms = DEFAULT_TIMEOUT_MS;
    struct reassign_args a = {&r, NULL, NULL, NULL, 0, 0, false};
    int parsed =
        admin_session_getopt(&r.s, argc, argv, "b:h", long_options, take_reassign_option, &a);
    if (parsed != 0) {
        reassign_usage();
        return parsed > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    const char *plan_file = a.plan_file, *topics_file = a.topics_file;
    int mode = a.mode;
    int32_t brokers[MAX_BROKERS];
    int32_t n_brokers = 0;
    bool ok = r.s.bootstrap != NULL && optind == argc && a.modes == 1 &&
              (mode == 'g' ? topics_file != NULL && a.broker_list != NULL &&
                                 parse_brokers(a.broker_list, brokers, &n_brokers) == 0
                           : plan_file != NULL) &&
              !a.bad_throttle && (r.throttle < 0 || mode == 'x');
    if (!ok) {
        reassign_usage();
        return SLUICECTL_USAGE;
    }
    struct plan plan = {0};
    if (mode != 'g' && plan_load(plan_file, &plan, r.s.err, sizeof r.s.err) != 0) {
        fprintf(stderr, "sluicectl: %s\n", r.s.err);
        return SLUICECTL_USAGE;
    }
    int rv = open_run(&r);
    if (rv != SLUICECTL_OK) {
        plan_free(&plan);
        admin_session_close(&r.s);
        return rv;
    }
    if (mode == 'g') {
        rv = generate(&r, topics_file, brokers, n_brokers);
    } else if (mode == 'x') {
        rv = execute(&r, &plan);
    } else if (mode == 'v') {
        int pending = verify(&r, &plan, false);
        rv = pending == 0 ? SLUICECTL_OK : SLUICECTL_FAILED;
        if (pending == 0 && clear_throttles(&r, &plan) != 0) {
            rv = SLUICECTL_FAILED;
        }
        if (pending > 0) {
            snprintf(r.s.err, sizeof r.s.err, "%d of %zu partitions not yet reassigned", pending,
                     plan.n);
        }
    } else {
        int failed = alter(&r, &plan, true);
        rv = failed == 0 ? SLUICECTL_OK : SLUICECTL_FAILED;
        if (failed > 0) {
            snprintf(r.s.err, sizeof r.s.err, "%d cancellations failed", failed);
        } else if (failed == 0) {
            printf("Successfully cancelled partition reassignment%s for ", plan.n == 1 ? "" : "s");
            for (size_t i = 0; i < plan.n; i++) {
                printf("%s%s-%d", i ? "," : "", plan.moves[i].topic, plan.moves[i].partition);
            }
            printf("\n");
        }
    }
    if (rv != SLUICECTL_OK) {
        fprintf(stderr, "sluicectl: %s\n", r.s.err);
    }
    plan_free(&plan);
    admin_session_close(&r.s);
    return rv;
}

/* ---- broker decommission ---- */

/* A plan moving every replica off `id`: each one replaced, in place, by the
 * live broker holding the fewest replicas that is not already a replica. */
static int decommission_plan(struct reassign_run *r, int32_t id, struct plan *out)
{
    memset(out, 0, sizeof *out);
    struct kafka_metadata_response md;
    if (admin_session_metadata(&r->s, NULL, 0, &md) != 0) {
        return -1;
    }
    int32_t n = md.brokers_count < MAX_BROKERS ? md.brokers_count : MAX_BROKERS;
    int64_t load[MAX_BROKERS] = {0};
    bool known = false;
    for (int32_t b = 0; b < n; b++) {
        known = known || md.brokers[b].node_id == id;
    }
    if (!known) {
        snprintf(r->s.err, sizeof r->s.err, "broker %d is not a live broker of this cluster", id);
        return -1;
    }
    for (int32_t i = 0; i < md.topics_count; i++) {
        for (int32_t j = 0; j < md.topics[i].partitions_count; j++) {
            const struct kafka_metadata_response_partition *p = &md.topics[i].partitions[j];
            for (int32_t k = 0; k < p->replica_nodes_count; k++) {
                for (int32_t b = 0; b < n; b++) {
                    load[b] += md.brokers[b].node_id == p->replica_nodes[k];
                }
            }
        }
    }
    for (int32_t i = 0; i < md.topics_count; i++) {
        const struct kafka_metadata_response_topic *t = &md.topics[i];
        for (int32_t j = 0; j < t->partitions_count; j++) {
            const struct kafka_metadata_response_partition *p = &t->partitions[j];
            int32_t at = -1;
            for (int32_t k = 0; k < p->replica_nodes_count; k++) {
                at = p->replica_nodes[k] == id ? k : at;
            }
            if (at < 0 || p->replica_nodes_count > MAX_REPLICAS) {
                continue;
            }
            int32_t best = -1;
            for (int32_t b = 0; b < n; b++) {
                bool replica = false;
                for (int32_t k = 0; k < p->replica_nodes_count; k++) {
                    replica = replica || p->replica_nodes[k] == md.brokers[b].node_id;
                }
                if (!replica && (best < 0 || load[b] < load[best])) {
                    best = b;
                }
            }
            if (best < 0) {
                snprintf(r->s.err, sizeof r->s.err,
                         "%s-%d: no other broker to move its replica on broker %d to", t->name,
                         p->partition_index, id);
                plan_free(out);
                return -1;
            }
            load[best]++;
            struct move *m = plan_add(out, t->name, p->partition_index);
            if (m == NULL) {
                plan_free(out);
                snprintf(r->s.err, sizeof r->s.err, "out of memory");
                return -1;
            }
            for (int32_t k = 0; k < p->replica_nodes_count; k++) {
                m->replicas[k] = k == at ? md.brokers[best].node_id : p->replica_nodes[k];
            }
            m->n_replicas = p->replica_nodes_count;
        }
    }
    return 0;
}

static void broker_usage(void)
{
    fprintf(stderr,
            "usage: sluicectl broker decommission ID --bootstrap-server host:port\n"
            "           [--no-wait] [--wait-timeout-ms N] [--json] [--command-config FILE]\n"
            "\n"
            "Moves every replica off broker ID (each to the live broker holding the fewest\n"
            "replicas), then waits until the broker holds none (unless --no-wait).\n"
            "exit codes: 0 ok, 1 failed (or not complete in time), 2 usage, 3 cannot connect\n");
}

/* What broker decommission's own options give. */
struct decommission_args {
    bool wait;
    long wait_ms;
};

static int take_decommission_option(void *cmd, int c, const char *arg)
{
    struct decommission_args *a = cmd;
    if (c == 'n') {
        a->wait = false;
    } else if (c == 'w' && atol(arg) > 0) {
        a->wait_ms = atol(arg);
    } else {
        return -1;
    }
    return 0;
}

int broker_cmd_main(int argc, char **argv)
{
    static const struct option long_options[] = {
        ADMIN_SESSION_OPTIONS,
        {"no-wait", no_argument, NULL, 'n'},
        {"wait-timeout-ms", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "decommission") != 0) {
        broker_usage();
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    argc--;
    argv++;
    struct reassign_run r;
    memset(&r, 0, sizeof r);
    admin_session_init(&r.s);
    r.s.timeout_ms = DEFAULT_TIMEOUT_MS;
    struct decommission_args a = {true, 600000};
    int parsed =
        admin_session_getopt(&r.s, argc, argv, "b:h", long_options, take_decommission_option, &a);
    if (parsed != 0) {
        broker_usage();
        return parsed > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    char *end = NULL;
    long id = argc - optind == 1 ? strtol(argv[optind], &end, 10) : -1;
    if (r.s.bootstrap == NULL || end == NULL || *end != '\0' || id < 0 || id > INT32_MAX) {
        broker_usage();
        return SLUICECTL_USAGE;
    }
    int rv = open_run(&r);
    if (rv != SLUICECTL_OK) {
        admin_session_close(&r.s);
        return rv;
    }
    struct plan plan;
    rv = SLUICECTL_FAILED;
    if (decommission_plan(&r, (int32_t)id, &plan) != 0) {
        goto out;
    }
    if (plan.n > 0) {
        int failed = alter(&r, &plan, false);
        if (failed != 0) {
            if (failed > 0) {
                snprintf(r.s.err, sizeof r.s.err, "%d of %zu moves were refused", failed, plan.n);
            }
            plan_free(&plan);
            goto out;
        }
    }
    if (!r.s.json) {
        printf("Moving %zu replica%s off broker %ld\n", plan.n, plan.n == 1 ? "" : "s", id);
    }
    int pending = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (a.wait) {
        kafka_arena_free(&r.s.arena);
        kafka_arena_init(&r.s.arena, ARENA_LIMIT);
        pending = verify(&r, &plan, true);
        if (pending <= 0) {
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed > a.wait_ms) {
            break;
        }
        usleep(500 * 1000);
    }
    if (pending < 0) {
        plan_free(&plan);
        goto out;
    }
    if (pending > 0) {
        snprintf(r.s.err, sizeof r.s.err, "%d of %zu partitions still on broker %ld after %ld ms",
                 pending, plan.n, id, a.wait_ms);
    } else {
        rv = SLUICECTL_OK;
    }
    if (r.s.json) {
        printf("{\"broker\":%ld,\"moved\":%zu,\"pending\":%d}\n", id, plan.n,
               a.wait ? pending : -1);
    } else if (rv == SLUICECTL_OK) {
        printf(a.wait ? "Broker %ld holds no replica\n" : "Started; verify with --verify\n", id);
    }
    plan_free(&plan);
out:
    if (rv != SLUICECTL_OK) {
        fprintf(stderr, "sluicectl: %s\n", r.s.err);
    }
    admin_session_close(&r.s);
    return rv;
}
