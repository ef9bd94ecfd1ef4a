/* DescribeGroups (key 15): state, protocol and members of each group this
 * broker coordinates; others answer NOT_COORDINATOR. */
#include <string.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct describe_ctx {
    struct kafka_call *call;
    struct kafka_describe_groups_response_described_group *out;
    bool oom;
};

/* Copies everything into the call's arena: the group may change before the
 * response is encoded (it is not, but the arena keeps that true). */
static const char *keep(struct kafka_arena *a, const char *s)
{
    return s ? kafka_arena_strndup(a, s, strlen(s)) : NULL;
}

static struct kafka_bytes keep_bytes(struct kafka_arena *a, const uint8_t *p, size_t len)
{
    struct kafka_bytes b = {(const uint8_t *)"", 0};
    uint8_t *c = len ? kafka_arena_alloc(a, len) : NULL;
    if (c != NULL) {
        memcpy(c, p, len);
        b.data = c;
        b.len = (int32_t)len;
    }
    return b;
}

static void fill(void *arg, const struct group_description *d)
{
    struct describe_ctx *c = arg;
    struct kafka_arena *a = &c->call->arena;
    c->out->group_state = keep(a, d->state);
    c->out->protocol_type = keep(a, d->protocol_type);
    c->out->protocol_data = keep(a, d->protocol);
    c->out->members = kafka_arena_alloc_array(a, d->n_members + 1, sizeof *c->out->members);
    if (c->out->members == NULL) {
        c->oom = true;
        return;
    }
    c->out->members_count = (int32_t)d->n_members;
    for (size_t i = 0; i < d->n_members; i++) {
        const struct group_described_member *m = &d->members[i];
        struct kafka_describe_groups_response_described_group_member *o = &c->out->members[i];
        kafka_describe_groups_response_described_group_member_init(o);
        o->member_id = keep(a, m->member_id);
        o->group_instance_id = keep(a, m->instance_id);
        o->client_id = keep(a, m->client_id);
        o->client_host = keep(a, m->client_host);
        o->member_metadata = keep_bytes(a, m->metadata, m->metadata_len);
        o->member_assignment = keep_bytes(a, m->assignment, m->assignment_len);
    }
}

void kafka_handle_describe_groups(struct kafka_call *call)
{
    struct kafka_describe_groups_request req;
    int rv = kafka_describe_groups_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    int32_t n = req.groups_count > 0 ? req.groups_count : 0;
    struct kafka_describe_groups_response resp;
    kafka_describe_groups_response_init(&resp);
    resp.groups = kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *resp.groups);
    if (resp.groups == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.groups_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_describe_groups_response_described_group *o = &resp.groups[i];
        kafka_describe_groups_response_described_group_init(o);
        o->group_id = req.groups[i];
        o->group_state = "";
        o->protocol_type = "";
        o->protocol_data = "";
        o->members_count = 0;
        if (!kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_GROUP,
                             req.groups[i] ? req.groups[i] : "")) {
            o->error_code = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
            continue;
        }
        struct describe_ctx c = {call, o, false};
        o->error_code = group_describe(call->svc->groups, req.groups[i], fill, &c);
        if (c.oom) {
            kafka_call_fail(call, "out of memory");
            return;
        }
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_describe_groups_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
