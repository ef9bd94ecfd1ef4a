/* OffsetFetch (key 9): a group's committed offsets, for the partitions
 * named or (topics null, v2+) all of them. A partition without a committed
 * offset answers -1; with require_stable (v7+, KIP-447) one with pending
 * transactional offsets answers UNSTABLE_OFFSET_COMMIT. */
#include <string.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct all_ctx {
    struct kafka_call *call;
    struct kafka_offset_fetch_response *resp;
    const char *group_id;
    bool require_stable;
    size_t cap;
    bool oom;
};

/* KIP-447: a read_committed consumer (require_stable) must not start from
 * an offset a pending transaction is about to replace; it retries. */
static bool unstable(struct kafka_call *call, bool require_stable, const char *group_id,
                     const char *topic, int32_t partition)
{
    return require_stable && group_offset_unstable(call->svc->groups, group_id, topic, partition);
}

static struct kafka_offset_fetch_response_topic *topic_slot(struct all_ctx *c, const char *name)
{
    struct kafka_offset_fetch_response *r = c->resp;
    for (int32_t i = 0; i < r->topics_count; i++) {
        if (strcmp(r->topics[i].name, name) == 0) {
            return &r->topics[i];
        }
    }
    return NULL;
}

static void count_all(void *arg, const struct group_committed *gc)
{
    (void)gc;
    ((struct all_ctx *)arg)->cap++;
}

static void add_one(void *arg, const struct group_committed *gc)
{
    struct all_ctx *c = arg;
    struct kafka_offset_fetch_response_topic *t = topic_slot(c, gc->topic);
    if (t == NULL) {
        t = &c->resp->topics[c->resp->topics_count++];
        kafka_offset_fetch_response_topic_init(t);
        t->name = gc->topic;
        t->partitions = kafka_arena_alloc_array(&c->call->arena, c->cap, sizeof *t->partitions);
        t->partitions_count = 0;
        if (t->partitions == NULL) {
            c->oom = true;
            c->resp->topics_count--;
            return;
        }
    }
    struct kafka_offset_fetch_response_partition *p = &t->partitions[t->partitions_count++];
    kafka_offset_fetch_response_partition_init(p);
    p->partition_index = gc->partition;
    p->committed_offset = gc->offset;
    p->committed_leader_epoch = gc->leader_epoch;
    p->metadata = gc->metadata;
    p->error_code = KAFKA_ERROR_NONE;
    if (unstable(c->call, c->require_stable, c->group_id, gc->topic, gc->partition)) {
        p->committed_offset = -1;
        p->committed_leader_epoch = -1;
        p->metadata = "";
        p->error_code = KAFKA_ERROR_UNSTABLE_OFFSET_COMMIT;
    }
}

static int fill_named(struct kafka_call *call, const struct kafka_offset_fetch_request *req,
                      struct kafka_offset_fetch_response *resp, int16_t group_err)
{
    int32_t nt = req->topics_count > 0 ? req->topics_count : 0;
    resp->topics = kafka_arena_alloc_array(&call->arena, (size_t)nt + 1, sizeof *resp->topics);
    if (resp->topics == NULL) {
        return -1;
    }
    resp->topics_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_offset_fetch_request_topic *t = &req->topics[i];
        struct kafka_offset_fetch_response_topic *o = &resp->topics[i];
        int32_t np = t->partition_indexes_count > 0 ? t->partition_indexes_count : 0;
        kafka_offset_fetch_response_topic_init(o);
        o->name = t->name;
        o->partitions =
            kafka_arena_alloc_array(&call->arena, (size_t)np + 1, sizeof *o->partitions);
        if (o->partitions == NULL) {
            return -1;
        }
        o->partitions_count = np;
        for (int32_t j = 0; j < np; j++) {
            struct group_committed c;
            group_committed_offset(call->svc->groups, req->group_id, t->name,
                                   t->partition_indexes[j], &c);
            int16_t err = group_err;
            if (err == KAFKA_ERROR_NONE && unstable(call, req->require_stable, req->group_id,
                                                    t->name, t->partition_indexes[j])) {
                err = KAFKA_ERROR_UNSTABLE_OFFSET_COMMIT;
            }
            kafka_offset_fetch_response_partition_init(&o->partitions[j]);
            o->partitions[j].partition_index = t->partition_indexes[j];
            o->partitions[j].committed_offset = err == KAFKA_ERROR_NONE ? c.offset : -1;
            o->partitions[j].committed_leader_epoch = err == KAFKA_ERROR_NONE ? c.leader_epoch : -1;
            o->partitions[j].metadata = err == KAFKA_ERROR_NONE ? c.metadata : "";
            o->partitions[j].error_code = err;
        }
    }
    return 0;
}

/* One group's answer in the v0-7 shape: `topics` NULL with count -1 asks for all. */
static int fetch_group(struct kafka_call *call, const char *group_id,
                       const struct kafka_offset_fetch_request_topic *topics, int32_t topics_count,
                       bool require_stable, struct kafka_offset_fetch_response *resp)
{
    struct kafka_offset_fetch_request one = {
        group_id,      (struct kafka_offset_fetch_request_topic *)topics, topics_count, NULL, 0,
        require_stable};
    int16_t err =
        kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_GROUP, group_id ? group_id : "")
            ? group_offsets_ready(call->svc->groups, group_id)
            : KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
    resp->error_code = err;
    resp->topics_count = 0;
    if (topics_count >= 0) {
        return fill_named(call, &one, resp, err);
    }
    if (err != KAFKA_ERROR_NONE) {
        return 0;
    }
    struct all_ctx c = {call, resp, group_id, require_stable, 0, false};
    group_each_committed(call->svc->groups, group_id, count_all, &c);
    c.cap++;
    resp->topics = kafka_arena_alloc_array(&call->arena, c.cap, sizeof *resp->topics);
    if (resp->topics != NULL) {
        group_each_committed(call->svc->groups, group_id, add_one, &c);
    }
    return resp->topics == NULL || c.oom ? -1 : 0;
}

/* v8+: several groups per request (KIP-709), answered group by group. */
static int fetch_groups(struct kafka_call *call, const struct kafka_offset_fetch_request *req,
                        struct kafka_offset_fetch_response *resp)
{
    struct kafka_arena *a = &call->arena;
    int32_t ng = req->groups_count > 0 ? req->groups_count : 0;
    resp->groups = kafka_arena_alloc_array(a, (size_t)ng + 1, sizeof *resp->groups);
    if (resp->groups == NULL) {
        return -1;
    }
    resp->groups_count = ng;
    for (int32_t i = 0; i < ng; i++) {
        const struct kafka_offset_fetch_request_group *g = &req->groups[i];
        int32_t nt = g->topics_count;
        struct kafka_offset_fetch_request_topic *ts =
            kafka_arena_alloc_array(a, (size_t)(nt > 0 ? nt : 0) + 1, sizeof *ts);
        if (ts == NULL) {
            return -1;
        }
        for (int32_t j = 0; j < nt; j++) {
            ts[j] = (struct kafka_offset_fetch_request_topic){g->topics[j].name,
                                                              g->topics[j].partition_indexes,
                                                              g->topics[j].partition_indexes_count};
        }
        struct kafka_offset_fetch_response one;
        kafka_offset_fetch_response_init(&one);
        if (fetch_group(call, g->group_id, nt >= 0 ? ts : NULL, nt, req->require_stable, &one) !=
            0) {
            return -1;
        }
        struct kafka_offset_fetch_response_group *out = &resp->groups[i];
        kafka_offset_fetch_response_group_init(out);
        out->group_id = g->group_id;
        out->error_code = one.error_code;
        out->topics = kafka_arena_alloc_array(a, (size_t)one.topics_count + 1, sizeof *out->topics);
        if (out->topics == NULL) {
            return -1;
        }
        out->topics_count = one.topics_count;
        for (int32_t j = 0; j < one.topics_count; j++) {
            const struct kafka_offset_fetch_response_topic *t = &one.topics[j];
            struct kafka_offset_fetch_response_topics *o = &out->topics[j];
            kafka_offset_fetch_response_topics_init(o);
            o->name = t->name;
            o->partitions =
                kafka_arena_alloc_array(a, (size_t)t->partitions_count + 1, sizeof *o->partitions);
            if (o->partitions == NULL) {
                return -1;
            }
            o->partitions_count = t->partitions_count;
            for (int32_t k = 0; k < t->partitions_count; k++) {
                const struct kafka_offset_fetch_response_partition *p = &t->partitions[k];
                o->partitions[k] = (struct kafka_offset_fetch_response_partitions){
                    p->partition_index, p->committed_offset, p->committed_leader_epoch, p->metadata,
                    p->error_code};
            }
        }
    }
    return 0;
}

void kafka_handle_offset_fetch(struct kafka_call *call)
{
    struct kafka_offset_fetch_request req;
    int16_t version = call->header.api_version;
    int rv = kafka_offset_fetch_request_decode(&call->body, version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    /* require_stable (v7+): partitions with pending transactional offsets
     * answer UNSTABLE_OFFSET_COMMIT (the client retries). */
    struct kafka_offset_fetch_response resp;
    kafka_offset_fetch_response_init(&resp);
    if (version >= 8) {
        rv = fetch_groups(call, &req, &resp);
    } else {
        rv = fetch_group(call, req.group_id, req.topics, req.topics_count, req.require_stable,
                         &resp);
    }
    if (rv != 0) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_offset_fetch_response_encode(&w, version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
