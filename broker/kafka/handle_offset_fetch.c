/* OffsetFetch (key 9): a group's committed offsets, for the partitions
 * named or (topics null, v2+) all of them. A partition without a committed
 * offset answers -1. */
#include <string.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct all_ctx {
    struct kafka_call *call;
    struct kafka_offset_fetch_response *resp;
    size_t cap;
    bool oom;
};

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
}

static int fill_named(struct kafka_call *call, const struct kafka_offset_fetch_request *req,
                      struct kafka_offset_fetch_response *resp, int16_t err)
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

void kafka_handle_offset_fetch(struct kafka_call *call)
{
    struct kafka_offset_fetch_request req;
    int16_t version = call->header.api_version;
    int rv = kafka_offset_fetch_request_decode(&call->body, version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_offset_fetch_response resp;
    kafka_offset_fetch_response_init(&resp);
    int16_t err = group_offsets_ready(call->svc->groups, req.group_id);
    resp.error_code = err;
    resp.topics_count = 0;
    if (req.topics_count >= 0) {
        rv = fill_named(call, &req, &resp, err);
    } else if (err == KAFKA_ERROR_NONE) {
        struct all_ctx c = {call, &resp, 0, false};
        group_each_committed(call->svc->groups, req.group_id, count_all, &c);
        c.cap++;
        resp.topics = kafka_arena_alloc_array(&call->arena, c.cap, sizeof *resp.topics);
        if (resp.topics != NULL) {
            group_each_committed(call->svc->groups, req.group_id, add_one, &c);
        }
        rv = resp.topics == NULL || c.oom ? -1 : 0;
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
