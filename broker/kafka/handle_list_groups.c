/* ListGroups (key 16): the groups this broker coordinates now (admin
 * clients ask every broker and merge). As Kafka: Describe on the cluster
 * lists them all, else only the groups the principal may Describe. */
#include <strings.h>

#include "broker/group/group_coordinator.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

struct list_ctx {
    struct kafka_call *call;
    const struct kafka_list_groups_request *req;
    struct kafka_list_groups_response *resp;
    int32_t cap;
    bool all; /* Describe on the cluster: no per-group check */
};

/* v4 states filter (KIP-518): empty or absent lists every state. */
static bool wanted(const struct list_ctx *c, const char *state)
{
    if (c->call->header.api_version < 4 || c->req->states_filter_count <= 0) {
        return true;
    }
    for (int32_t i = 0; i < c->req->states_filter_count; i++) {
        if (strcasecmp(c->req->states_filter[i], state) == 0) {
            return true;
        }
    }
    return false;
}

static void count(void *arg, const char *id, const char *type, const char *state)
{
    (void)id;
    (void)type;
    (void)state;
    ((struct list_ctx *)arg)->cap++;
}

static void add(void *arg, const char *id, const char *type, const char *state)
{
    struct list_ctx *c = arg;
    if (c->resp->groups_count < c->cap && wanted(c, state) &&
        (c->all || kafka_authorize(c->call, ACL_OP_DESCRIBE, ACL_RESOURCE_GROUP, id))) {
        struct kafka_list_groups_response_listed_group *g =
            &c->resp->groups[c->resp->groups_count++];
        kafka_list_groups_response_listed_group_init(g);
        g->group_id = id;
        g->protocol_type = type;
        g->group_state = state;
    }
}

void kafka_handle_list_groups(struct kafka_call *call)
{
    struct kafka_list_groups_request req;
    int rv = kafka_list_groups_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_list_groups_response resp;
    kafka_list_groups_response_init(&resp);
    resp.error_code = KAFKA_ERROR_NONE;
    struct list_ctx c = {
        call, &req, &resp, 0,
        kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME)};
    group_each(call->svc->groups, count, &c);
    resp.groups = kafka_arena_alloc_array(&call->arena, (size_t)c.cap + 1, sizeof *resp.groups);
    resp.groups_count = 0;
    if (resp.groups == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    group_each(call->svc->groups, add, &c);
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_list_groups_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
