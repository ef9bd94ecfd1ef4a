/* The metadata_view handle: forwards each call to the quorum-fed view
 * (metadata_impl.h), and the admin-op plumbing the Kafka handlers use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/metadata/metadata_impl.h"
#include "proto/kafka/kafka_errors.h"

#define DISPATCH(v, fn, ...) metadata_quorum_##fn((v)->quorum, __VA_ARGS__)
#define DISPATCH0(v, fn)     metadata_quorum_##fn((v)->quorum)

int metadata_view_wrap_quorum(struct metadata_view **out, struct metadata_quorum *q)
{
    struct metadata_view *v = calloc(1, sizeof *v);
    if (v == NULL) {
        return -ENOMEM;
    }
    v->quorum = q;
    *out = v;
    return 0;
}

void metadata_view_close(struct metadata_view *v)
{
    if (v == NULL) {
        return;
    }
    metadata_quorum_close(v->quorum);
    free(v);
}

void metadata_view_set_listener(struct metadata_view *v, const struct metadata_listener *l)
{
    metadata_quorum_set_listener(v->quorum, l);
}

const char *metadata_view_cluster_id(const struct metadata_view *v)
{
    return DISPATCH0(v, cluster_id);
}

int32_t metadata_view_controller_id(const struct metadata_view *v)
{
    return DISPATCH0(v, controller_id);
}

int32_t metadata_view_local_node(const struct metadata_view *v)
{
    return DISPATCH0(v, local_node);
}

size_t metadata_view_broker_count(const struct metadata_view *v)
{
    return DISPATCH0(v, broker_count);
}

const struct metadata_broker *metadata_view_broker(const struct metadata_view *v, size_t i)
{
    return DISPATCH(v, broker, i);
}

const struct metadata_endpoint *metadata_broker_endpoint(const struct metadata_broker *b,
                                                         const char *listener)
{
    for (size_t i = 0; i < b->n_endpoints; i++) {
        if (strcasecmp(b->endpoints[i].listener, listener) == 0) {
            return &b->endpoints[i];
        }
    }
    return NULL;
}

const struct metadata_topic *metadata_view_topic(const struct metadata_view *v, const char *name)
{
    return DISPATCH(v, topic, name);
}

size_t metadata_view_topic_count(const struct metadata_view *v)
{
    return DISPATCH0(v, topic_count);
}

size_t metadata_view_topics(const struct metadata_view *v, const struct metadata_topic **out,
                            size_t max)
{
    return DISPATCH(v, topics, out, max);
}

bool metadata_view_scram_at(const struct metadata_view *v, size_t i,
                            struct metadata_scram_credential *out)
{
    return DISPATCH(v, scram_at, i, out);
}

bool metadata_view_scram_find(const struct metadata_view *v, const char *user, int32_t mechanism,
                              struct metadata_scram_credential *out)
{
    return DISPATCH(v, scram_find, user, mechanism, out);
}

const AclBinding *metadata_view_acl_at(const struct metadata_view *v, size_t i)
{
    return DISPATCH(v, acl_at, i);
}

bool metadata_view_authorize(const struct metadata_view *v, const struct acl_action *a,
                             bool allow_if_no_acl)
{
    return DISPATCH(v, authorize, a, allow_if_no_acl);
}

bool metadata_view_authorize_any(const struct metadata_view *v, const struct acl_action *a)
{
    return DISPATCH(v, authorize_any, a);
}

/* ---- asynchronous mutations ---- */

void metadata_admin_complete(struct metadata_admin_op *op, int16_t code, const char *message)
{
    op->error_code = code;
    snprintf(op->error_message, sizeof op->error_message, "%s",
             code != 0 && message != NULL ? message : "");
    op->pending = NULL;
    op->cb(op);
}

static void op_start(struct metadata_admin_op *op, metadata_admin_cb cb)
{
    op->cb = cb;
    op->pending = NULL;
    op->answer = NULL;
    op->error_code = 0;
    op->error_message[0] = '\0';
}

void metadata_admin_fail(struct metadata_admin_op *op, metadata_admin_cb cb, int16_t code,
                         const char *message)
{
    op_start(op, cb);
    metadata_admin_complete(op, code, message);
}

void metadata_view_submit_create_topic(struct metadata_view *v,
                                       const struct metadata_topic_spec *spec, bool validate_only,
                                       uint64_t timeout_ms, struct metadata_admin_op *op,
                                       metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_create_topic(v->quorum, spec, validate_only, timeout_ms, op);
}

void metadata_view_submit_sync(struct metadata_view *v, uint64_t timeout_ms,
                               struct metadata_admin_op *op, metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_sync(v->quorum, timeout_ms, op);
}

void metadata_view_submit_delete_topic(struct metadata_view *v, const char *name,
                                       uint64_t timeout_ms, struct metadata_admin_op *op,
                                       metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_delete_topic(v->quorum, name, timeout_ms, op);
}

void metadata_view_submit_add_partitions(struct metadata_view *v, const char *name, int32_t total,
                                         bool validate_only, uint64_t timeout_ms,
                                         struct metadata_admin_op *op, metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_add_partitions(v->quorum, name, total, validate_only, timeout_ms, op);
}

void metadata_view_submit_elect_preferred(struct metadata_view *v, const char *name,
                                          int32_t partition, uint64_t timeout_ms,
                                          struct metadata_admin_op *op, metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_elect_preferred(v->quorum, name, partition, timeout_ms, op);
}

void metadata_view_submit_reassign(struct metadata_view *v, const char *name, int32_t partition,
                                   const int32_t *replicas, int32_t n, bool cancel,
                                   uint64_t timeout_ms, struct metadata_admin_op *op,
                                   metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_reassign(v->quorum, name, partition, replicas, n, cancel, timeout_ms,
                                    op);
}

void metadata_view_submit_alter_topic_config(struct metadata_view *v, const char *name,
                                             const struct metadata_config_entry *entries, size_t n,
                                             bool replace, bool validate_only, uint64_t timeout_ms,
                                             struct metadata_admin_op *op, metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_alter_topic_config(v->quorum, name, entries, n, replace, validate_only,
                                              timeout_ms, op);
}

const char *metadata_view_broker_config(struct metadata_view *v, int32_t broker_id,
                                        const char *name)
{
    return metadata_quorum_broker_config(v->quorum, broker_id, name);
}

void metadata_view_submit_alter_broker_config(struct metadata_view *v, const char *broker,
                                              const struct metadata_config_entry *entries, size_t n,
                                              bool validate_only, uint64_t timeout_ms,
                                              struct metadata_admin_op *op, metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_alter_broker_config(v->quorum, broker, entries, n, validate_only,
                                               timeout_ms, op);
}

void metadata_view_submit_producer_id(struct metadata_view *v, uint64_t timeout_ms,
                                      struct metadata_producer_id_op *op,
                                      metadata_producer_id_cb cb)
{
    op->cb = cb;
    metadata_quorum_submit_producer_id(v->quorum, timeout_ms, op);
}

void metadata_view_submit_alter_scram(struct metadata_view *v,
                                      const struct metadata_scram_credential *cred, bool remove,
                                      uint64_t timeout_ms, struct metadata_admin_op *op,
                                      metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_alter_scram(v->quorum, cred, remove, timeout_ms, op);
}

void metadata_view_submit_alter_acls(struct metadata_view *v,
                                     const Sluice__Controller__AlterAclsRequest *req,
                                     uint64_t timeout_ms, struct metadata_admin_op *op,
                                     metadata_admin_cb cb)
{
    op_start(op, cb);
    metadata_quorum_submit_alter_acls(v->quorum, req, timeout_ms, op);
}
