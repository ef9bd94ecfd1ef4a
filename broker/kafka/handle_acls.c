/* DescribeAcls (key 29), CreateAcls (30) and DeleteAcls (31): the ACL
 * bindings of the metadata log (KIP-801). Describe reads this broker's view;
 * Create and Delete go to the controller as one AlterAcls request (the
 * controller matches deletion filters against its own image) and are
 * answered once this view shows the change. As in Kafka: without an
 * authorizer every answer is SECURITY_DISABLED; describing needs DESCRIBE on
 * the cluster, creating and deleting ALTER on the cluster. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

#define ALTER_ACLS_TIMEOUT_MS 30000

static const char SECURITY_DISABLED_MESSAGE[] = "No Authorizer is configured on the broker";

/* The refusal every entry of a request gets, or NONE. */
static int16_t refusal(struct kafka_call *call, int32_t operation, const char **message)
{
    if (!kafka_authorizer_enabled(call)) {
        *message = SECURITY_DISABLED_MESSAGE;
        return KAFKA_ERROR_SECURITY_DISABLED;
    }
    if (!kafka_authorize(call, operation, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME)) {
        *message = NULL;
        return KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
    }
    return KAFKA_ERROR_NONE;
}

/* ---- Describe ---- */

static bool same_pattern(const AclBinding *a, const AclBinding *b)
{
    return a->resource_type == b->resource_type && a->pattern_type == b->pattern_type &&
           strcmp(a->resource_name, b->resource_name) == 0;
}

/* The matching bindings, grouped by resource pattern (consecutive in the
 * image's order). */
static int describe_matches(struct kafka_call *call, const struct acl_filter *f,
                            struct kafka_describe_acls_response *resp)
{
    struct metadata_view *v = call->svc->metadata;
    size_t n = 0;
    while (metadata_view_acl_at(v, n) != NULL) {
        n++;
    }
    resp->resources = kafka_arena_alloc_array(&call->arena, n + 1, sizeof *resp->resources);
    struct kafka_describe_acls_response_acl_description *descs =
        kafka_arena_alloc_array(&call->arena, n + 1, sizeof *descs);
    if (resp->resources == NULL || descs == NULL) {
        return -1;
    }
    resp->resources_count = 0;
    const AclBinding *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        const AclBinding *b = metadata_view_acl_at(v, i);
        if (!acl_filter_matches(f, b)) {
            continue;
        }
        if (prev == NULL || !same_pattern(prev, b)) {
            struct kafka_describe_acls_response_resource *r =
                &resp->resources[resp->resources_count++];
            kafka_describe_acls_response_resource_init(r);
            r->resource_type = (int8_t)b->resource_type;
            r->resource_name = b->resource_name;
            r->pattern_type = (int8_t)b->pattern_type;
            r->acls = descs;
            r->acls_count = 0;
        }
        struct kafka_describe_acls_response_resource *r =
            &resp->resources[resp->resources_count - 1];
        struct kafka_describe_acls_response_acl_description *d = &r->acls[r->acls_count++];
        descs++;
        kafka_describe_acls_response_acl_description_init(d);
        d->principal = b->principal;
        d->host = b->host;
        d->operation = (int8_t)b->operation;
        d->permission_type = (int8_t)b->permission;
        prev = b;
    }
    return 0;
}

void kafka_handle_describe_acls(struct kafka_call *call)
{
    struct kafka_describe_acls_request req;
    int rv = kafka_describe_acls_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_describe_acls_response resp;
    kafka_describe_acls_response_init(&resp);
    struct acl_filter f = {req.resource_type_filter, req.resource_name_filter,
                           req.pattern_type_filter,  req.principal_filter,
                           req.host_filter,          req.operation,
                           req.permission_type};
    const char *message = NULL;
    resp.error_code = refusal(call, ACL_OP_DESCRIBE, &message);
    if (resp.error_code == KAFKA_ERROR_NONE && (message = acl_filter_invalid(&f)) != NULL) {
        resp.error_code = KAFKA_ERROR_INVALID_REQUEST;
    }
    resp.error_message = message;
    if (resp.error_code == KAFKA_ERROR_NONE && describe_matches(call, &f, &resp) != 0) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_describe_acls_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

/* ---- Create and Delete: one AlterAcls request to the controller ---- */

struct alter_ctx {
    struct metadata_admin_op op;
    bool create;
    int32_t count;   /* creations or filters */
    int16_t refused; /* every entry's code when refused before asking */
    const char *refused_message;
};

static void binding_of(const struct kafka_create_acls_request_acl_creation *c, AclBinding *b)
{
    sluice__metadata__access_control_entry_record__init(b);
    b->version = 1;
    b->resource_type = c->resource_type;
    b->resource_name = (char *)(c->resource_name != NULL ? c->resource_name : "");
    b->pattern_type = c->resource_pattern_type;
    b->principal = (char *)(c->principal != NULL ? c->principal : "");
    b->host = (char *)(c->host != NULL ? c->host : "");
    b->operation = c->operation;
    b->permission = c->permission_type;
}

static void filter_of(const struct kafka_delete_acls_request_filter *k,
                      Sluice__Controller__AclFilter *f)
{
    sluice__controller__acl_filter__init(f);
    f->resource_type = k->resource_type_filter;
    f->resource_name_null = k->resource_name_filter == NULL;
    f->resource_name = (char *)(f->resource_name_null ? "" : k->resource_name_filter);
    f->pattern_type = k->pattern_type_filter;
    f->principal_null = k->principal_filter == NULL;
    f->principal = (char *)(f->principal_null ? "" : k->principal_filter);
    f->host_null = k->host_filter == NULL;
    f->host = (char *)(f->host_null ? "" : k->host_filter);
    f->operation = k->operation;
    f->permission = k->permission_type;
}

/* The code and message of entry i: the refusal, the whole request's
 * failure, or the controller's per-entry result. */
static int16_t entry_code(const struct alter_ctx *x, int32_t i, const char **message)
{
    const Sluice__Controller__AlterAclsResponse *a = x->op.answer;
    if (x->refused != KAFKA_ERROR_NONE) {
        *message = x->refused_message;
        return x->refused;
    }
    if (x->op.error_code != KAFKA_ERROR_NONE || a == NULL) {
        *message = x->op.error_message[0] != '\0' ? x->op.error_message : NULL;
        return x->op.error_code != KAFKA_ERROR_NONE ? x->op.error_code
                                                    : KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    size_t n = x->create ? a->n_creation_results : a->n_deletion_results;
    if ((size_t)i >= n) {
        *message = "the controller answered fewer entries";
        return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
    int32_t code =
        x->create ? a->creation_results[i]->error_code : a->deletion_results[i]->error_code;
    const char *m =
        x->create ? a->creation_results[i]->error_message : a->deletion_results[i]->error_message;
    *message = m != NULL && m[0] != '\0' ? m : NULL;
    return (int16_t)code;
}

static int encode_create(struct kafka_call *call, struct alter_ctx *x, struct kafka_writer *w)
{
    struct kafka_create_acls_response resp;
    kafka_create_acls_response_init(&resp);
    resp.results =
        kafka_arena_alloc_array(&call->arena, (size_t)x->count + 1, sizeof *resp.results);
    if (resp.results == NULL) {
        return -1;
    }
    for (int32_t i = 0; i < x->count; i++) {
        kafka_create_acls_response_acl_creation_result_init(&resp.results[i]);
        resp.results[i].error_code = entry_code(x, i, &resp.results[i].error_message);
    }
    resp.results_count = x->count;
    return kafka_create_acls_response_encode(w, call->header.api_version, &resp);
}

static const char *arena_copy(struct kafka_call *call, const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = kafka_arena_alloc(&call->arena, n);
    if (c != NULL) {
        memcpy(c, s, n);
    }
    return c;
}

static int matches_of(struct kafka_call *call, const Sluice__Controller__AclDeletionResult *d,
                      struct kafka_delete_acls_response_filter_result *r);

static int encode_delete(struct kafka_call *call, struct alter_ctx *x, struct kafka_writer *w)
{
    struct kafka_delete_acls_response resp;
    kafka_delete_acls_response_init(&resp);
    resp.filter_results =
        kafka_arena_alloc_array(&call->arena, (size_t)x->count + 1, sizeof *resp.filter_results);
    if (resp.filter_results == NULL) {
        return -1;
    }
    for (int32_t i = 0; i < x->count; i++) {
        struct kafka_delete_acls_response_filter_result *r = &resp.filter_results[i];
        kafka_delete_acls_response_filter_result_init(r);
        r->error_code = entry_code(x, i, &r->error_message);
        if (r->error_code == KAFKA_ERROR_NONE &&
            matches_of(call, x->op.answer->deletion_results[i], r) != 0) {
            return -1;
        }
    }
    resp.filter_results_count = x->count;
    return kafka_delete_acls_response_encode(w, call->header.api_version, &resp);
}

static int matches_of(struct kafka_call *call, const Sluice__Controller__AclDeletionResult *d,
                      struct kafka_delete_acls_response_filter_result *r)
{
    r->matching_acls =
        kafka_arena_alloc_array(&call->arena, d->n_matches + 1, sizeof *r->matching_acls);
    if (r->matching_acls == NULL) {
        return -1;
    }
    for (size_t k = 0; k < d->n_matches; k++) {
        const AclBinding *b = d->matches[k];
        struct kafka_delete_acls_response_matching_acl *m = &r->matching_acls[k];
        kafka_delete_acls_response_matching_acl_init(m);
        /* Copied: the answer is freed before the arena. */
        m->resource_type = (int8_t)b->resource_type;
        m->resource_name = arena_copy(call, b->resource_name);
        m->pattern_type = (int8_t)b->pattern_type;
        m->principal = arena_copy(call, b->principal);
        m->host = arena_copy(call, b->host);
        m->operation = (int8_t)b->operation;
        m->permission_type = (int8_t)b->permission;
        if (m->resource_name == NULL || m->principal == NULL || m->host == NULL) {
            return -1;
        }
    }
    r->matching_acls_count = (int32_t)d->n_matches;
    return 0;
}

static void answer(struct alter_ctx *x)
{
    struct kafka_call *call = x->op.data;
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = x->create ? encode_create(call, x, &w) : encode_delete(call, x, &w);
    }
    if (x->op.answer != NULL) {
        sluice__controller__alter_acls_response__free_unpacked(x->op.answer, NULL);
        x->op.answer = NULL;
    }
    kafka_call_finish_response(call, &w, rv);
}

static void on_altered(struct metadata_admin_op *op)
{
    answer((struct alter_ctx *)((char *)op - offsetof(struct alter_ctx, op)));
}

static struct alter_ctx *alter_ctx_new(struct kafka_call *call, bool create, int32_t count)
{
    struct alter_ctx *x = kafka_arena_alloc(&call->arena, sizeof *x);
    if (x == NULL) {
        kafka_call_fail(call, "out of memory");
        return NULL;
    }
    memset(x, 0, sizeof *x);
    x->op.data = call;
    x->create = create;
    x->count = count > 0 ? count : 0;
    x->refused = refusal(call, ACL_OP_ALTER, &x->refused_message);
    return x;
}

void kafka_handle_create_acls(struct kafka_call *call)
{
    struct kafka_create_acls_request req;
    int rv = kafka_create_acls_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct alter_ctx *x = alter_ctx_new(call, true, req.creations_count);
    if (x == NULL) {
        return;
    }
    AclBinding *bindings =
        kafka_arena_alloc_array(&call->arena, (size_t)x->count + 1, sizeof *bindings);
    AclBinding **ptrs = kafka_arena_alloc_array(&call->arena, (size_t)x->count + 1, sizeof *ptrs);
    if (bindings == NULL || ptrs == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    if (x->refused != KAFKA_ERROR_NONE || x->count == 0) {
        answer(x);
        return;
    }
    for (int32_t i = 0; i < x->count; i++) {
        binding_of(&req.creations[i], &bindings[i]);
        ptrs[i] = &bindings[i];
    }
    Sluice__Controller__AlterAclsRequest alter = SLUICE__CONTROLLER__ALTER_ACLS_REQUEST__INIT;
    alter.version = 1;
    alter.creations = ptrs;
    alter.n_creations = (size_t)x->count;
    metadata_view_submit_alter_acls(call->svc->metadata, &alter, ALTER_ACLS_TIMEOUT_MS, &x->op,
                                    on_altered);
}

void kafka_handle_delete_acls(struct kafka_call *call)
{
    struct kafka_delete_acls_request req;
    int rv = kafka_delete_acls_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct alter_ctx *x = alter_ctx_new(call, false, req.filters_count);
    if (x == NULL) {
        return;
    }
    Sluice__Controller__AclFilter *filters =
        kafka_arena_alloc_array(&call->arena, (size_t)x->count + 1, sizeof *filters);
    Sluice__Controller__AclFilter **ptrs =
        kafka_arena_alloc_array(&call->arena, (size_t)x->count + 1, sizeof *ptrs);
    if (filters == NULL || ptrs == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    if (x->refused != KAFKA_ERROR_NONE || x->count == 0) {
        answer(x);
        return;
    }
    for (int32_t i = 0; i < x->count; i++) {
        filter_of(&req.filters[i], &filters[i]);
        ptrs[i] = &filters[i];
    }
    Sluice__Controller__AlterAclsRequest alter = SLUICE__CONTROLLER__ALTER_ACLS_REQUEST__INIT;
    alter.version = 1;
    alter.deletions = ptrs;
    alter.n_deletions = (size_t)x->count;
    metadata_view_submit_alter_acls(call->svc->metadata, &alter, ALTER_ACLS_TIMEOUT_MS, &x->op,
                                    on_altered);
}
