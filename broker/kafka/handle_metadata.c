/* Metadata (key 3): brokers with the host:port advertised on the listener the
 * client came in through, the controller, and topics with their partitions.
 * Unknown topics are created when auto.create.topics.enable is set and the
 * request allows it (always before v4), as Kafka does; with the controller
 * quorum that is asynchronous and the response waits for it. */
#include <stddef.h>
#include <string.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "common/log.h"
#include "kafka_messages.h"

/* A client asking about a topic this broker does not know waits at most this
 * long for the broker to catch up with the controller. */
#define SYNC_MAX_MS 1000

static int fill_brokers(struct kafka_call *call, struct kafka_metadata_response *resp)
{
    const struct metadata_view *v = call->svc->metadata;
    size_t n = metadata_view_broker_count(v);
    resp->brokers = kafka_arena_alloc_array(&call->arena, n, sizeof *resp->brokers);
    if (resp->brokers == NULL) {
        return -1;
    }
    int32_t count = 0;
    for (size_t i = 0; i < n; i++) {
        const struct metadata_broker *b = metadata_view_broker(v, i);
        const struct metadata_endpoint *ep =
            metadata_broker_endpoint(b, kafka_conn_listener(call->req->conn));
        if (ep == NULL) {
            continue; /* not reachable through this listener */
        }
        struct kafka_metadata_response_broker *out = &resp->brokers[count++];
        kafka_metadata_response_broker_init(out);
        out->node_id = b->node_id;
        out->host = ep->host;
        out->port = ep->port;
        out->rack = b->rack;
    }
    resp->brokers_count = count;
    return 0;
}

static int fill_partitions(struct kafka_call *call, const struct metadata_topic *t,
                           struct kafka_metadata_response_topic *out)
{
    out->partitions =
        kafka_arena_alloc_array(&call->arena, (size_t)t->n_partitions, sizeof *out->partitions);
    if (out->partitions == NULL) {
        return -1;
    }
    out->partitions_count = t->n_partitions;
    for (int32_t i = 0; i < t->n_partitions; i++) {
        const struct metadata_partition *p = &t->partitions[i];
        struct kafka_metadata_response_partition *o = &out->partitions[i];
        kafka_metadata_response_partition_init(o);
        o->error_code = p->leader >= 0 ? KAFKA_ERROR_NONE : KAFKA_ERROR_LEADER_NOT_AVAILABLE;
        o->partition_index = p->index;
        o->leader_id = p->leader;
        o->leader_epoch = p->leader_epoch;
        o->replica_nodes = (int32_t *)p->replicas;
        o->replica_nodes_count = p->n_replicas;
        o->isr_nodes = (int32_t *)p->isr;
        o->isr_nodes_count = p->n_isr;
        o->offline_replicas_count = 0;
    }
    return 0;
}

static int fill_topic(struct kafka_call *call, const struct metadata_topic *t, const char *name,
                      int16_t error, struct kafka_metadata_response_topic *out)
{
    kafka_metadata_response_topic_init(out);
    out->name = name;
    out->error_code = error;
    out->partitions_count = 0;
    if (t == NULL) {
        return 0;
    }
    memcpy(out->topic_id.bytes, t->id, 16);
    out->is_internal = t->internal;
    return fill_partitions(call, t, out);
}

/* A topic the client asked for by name; `create_error` is the answer of its
 * auto-creation, if one was tried. */
static int requested_topic(struct kafka_call *call, const char *name, int16_t create_error,
                           struct kafka_metadata_response_topic *out)
{
    if (!kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, name)) {
        return fill_topic(call, NULL, name, KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED, out);
    }
    const struct metadata_topic *t = metadata_view_topic(call->svc->metadata, name);
    int16_t error =
        create_error != KAFKA_ERROR_NONE && create_error != KAFKA_ERROR_TOPIC_ALREADY_EXISTS
            ? create_error
            : KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
    return fill_topic(call, t, name, t != NULL ? KAFKA_ERROR_NONE : error, out);
}

static int fill_all_topics(struct kafka_call *call, struct kafka_metadata_response *resp)
{
    const struct metadata_view *v = call->svc->metadata;
    size_t n = metadata_view_topic_count(v);
    const struct metadata_topic **topics = kafka_arena_alloc_array(&call->arena, n, sizeof *topics);
    resp->topics = kafka_arena_alloc_array(&call->arena, n, sizeof *resp->topics);
    if (topics == NULL || resp->topics == NULL) {
        return -1;
    }
    n = metadata_view_topics(v, topics, n);
    resp->topics_count = 0;
    for (size_t i = 0; i < n; i++) {
        /* Kafka leaves out what the principal may not describe. */
        if (!kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, topics[i]->name)) {
            continue;
        }
        if (fill_topic(call, topics[i], topics[i]->name, 0, &resp->topics[resp->topics_count++]) !=
            0) {
            return -1;
        }
    }
    return 0;
}

static int fill_requested(struct kafka_call *call, const struct kafka_metadata_request *req,
                          const int16_t *create_errors, struct kafka_metadata_response *resp)
{
    int16_t version = call->header.api_version;
    /* v0: an empty list means all topics; v1+: null means all, empty none. */
    if (req->topics_count < 0 || (version == 0 && req->topics_count == 0)) {
        return fill_all_topics(call, resp);
    }
    resp->topics =
        kafka_arena_alloc_array(&call->arena, (size_t)req->topics_count, sizeof *resp->topics);
    if (resp->topics == NULL && req->topics_count > 0) {
        return -1;
    }
    resp->topics_count = req->topics_count;
    for (int32_t i = 0; i < req->topics_count; i++) {
        const char *name = req->topics[i].name ? req->topics[i].name : "";
        if (requested_topic(call, name, create_errors[i], &resp->topics[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The call's state while auto-created topics are being created (arena). */
struct metadata_ctx {
    struct kafka_call *call;
    struct kafka_metadata_request req;
    struct metadata_admin_op *ops; /* one per requested topic */
    struct metadata_admin_op sync; /* catching up before answering "unknown" */
    int16_t *create_errors;        /* per requested topic; NONE if not tried */
    int32_t pending;
    bool created;                      /* auto-creation tried */
    struct replica_opens_waiter opens; /* then answering once new partitions are open */
    const char **created_topics;       /* the topics auto-created, opens.n_topics of them */
};

static void answer(struct metadata_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    struct kafka_metadata_response resp;
    kafka_metadata_response_init(&resp);
    resp.throttle_time_ms = 0;
    resp.cluster_id = metadata_view_cluster_id(call->svc->metadata);
    resp.controller_id = metadata_view_controller_id(call->svc->metadata);
    resp.topics_count = 0;
    if (fill_brokers(call, &resp) != 0 ||
        fill_requested(call, &ctx->req, ctx->create_errors, &resp) != 0) {
        kafka_call_fail(call, "out of memory building metadata response");
        return;
    }
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_metadata_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

static void answer_after_opens(struct replica_opens_waiter *w)
{
    answer((struct metadata_ctx *)((char *)w - offsetof(struct metadata_ctx, opens)));
}

/* A topic created here has partitions this broker may lead, opened on the
 * thread pool: a client producing right after this answer must find them
 * open (replica_manager_after_opens; only those topics' opens count). */
static void respond(struct metadata_ctx *ctx)
{
    if (!ctx->created) {
        answer(ctx);
        return;
    }
    ctx->opens.cb = answer_after_opens;
    ctx->opens.topics = ctx->created_topics;
    replica_manager_after_opens(ctx->call->svc->replicas, &ctx->opens);
}

static void on_auto_created(struct metadata_admin_op *op)
{
    struct metadata_ctx *ctx = op->data;
    int32_t i = (int32_t)(op - ctx->ops);
    ctx->create_errors[i] = op->error_code;
    if (op->error_code != KAFKA_ERROR_NONE && op->error_code != KAFKA_ERROR_TOPIC_ALREADY_EXISTS) {
        log_info("kafka", "auto-create refused topic=%s error=%s reason=\"%s\"",
                 ctx->req.topics[i].name, kafka_error_name(op->error_code), op->error_message);
    }
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}

static void on_synced(struct metadata_admin_op *op)
{
    struct metadata_ctx *ctx = op->data;
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}

/* Unknown topics the client named are created first when
 * auto.create.topics.enable is set and the request allows it (always before
 * v4); otherwise this broker catches up with the controller before saying
 * "unknown" (metadata_view_submit_sync). The response is built once every
 * creation has its answer. */
static void auto_create(struct metadata_ctx *ctx)
{
    struct kafka_call *call = ctx->call;
    bool allow = (call->header.api_version < 4 || ctx->req.allow_auto_topic_creation) &&
                 call->svc->cfg->auto_create_topics_enable;
    bool sync = false;
    for (int32_t i = 0; i < ctx->req.topics_count; i++) {
        const char *name = ctx->req.topics[i].name;
        if (name == NULL || metadata_view_topic(call->svc->metadata, name) != NULL) {
            continue;
        }
        if (!allow) {
            sync = true;
            continue;
        }
        /* Auto-creation needs CREATE on the cluster or the topic. */
        if (!kafka_authorize(call, ACL_OP_CREATE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME) &&
            !kafka_authorize(call, ACL_OP_CREATE, ACL_RESOURCE_TOPIC, name)) {
            ctx->create_errors[i] = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
            continue;
        }
        struct metadata_topic_spec spec = {name, -1, -1, NULL, 0};
        ctx->ops[i].data = ctx;
        ctx->pending++;
        ctx->created = true;
        ctx->created_topics[ctx->opens.n_topics++] = name;
        metadata_view_submit_create_topic(call->svc->metadata, &spec, false,
                                          (uint64_t)call->svc->cfg->request_timeout_ms,
                                          &ctx->ops[i], on_auto_created);
    }
    if (sync) {
        uint64_t timeout = (uint64_t)call->svc->cfg->request_timeout_ms;
        ctx->sync.data = ctx;
        ctx->pending++;
        metadata_view_submit_sync(call->svc->metadata,
                                  timeout < SYNC_MAX_MS ? timeout : SYNC_MAX_MS, &ctx->sync,
                                  on_synced);
    }
}

void kafka_handle_metadata(struct kafka_call *call)
{
    struct metadata_ctx *ctx = kafka_arena_alloc(&call->arena, sizeof *ctx);
    if (ctx == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    int rv = kafka_metadata_request_decode(&call->body, call->header.api_version, &ctx->req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    size_t n = ctx->req.topics_count > 0 ? (size_t)ctx->req.topics_count : 0;
    ctx->call = call;
    ctx->ops = kafka_arena_alloc_array(&call->arena, n, sizeof *ctx->ops);
    ctx->create_errors = kafka_arena_alloc_array(&call->arena, n, sizeof *ctx->create_errors);
    ctx->created_topics = kafka_arena_alloc_array(&call->arena, n, sizeof *ctx->created_topics);
    if (ctx->ops == NULL || ctx->create_errors == NULL || ctx->created_topics == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    ctx->pending = 1; /* answers may come before the loop ends */
    ctx->created = false;
    auto_create(ctx);
    if (--ctx->pending == 0) {
        respond(ctx);
    }
}
