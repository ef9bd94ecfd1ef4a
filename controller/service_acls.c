/* CreateAcls and DeleteAcls on the active controller (KIP-801's
 * AclControlManager): each valid new binding becomes an
 * AccessControlEntryRecord (none when it exists already: creating is
 * idempotent), each binding a deletion filter matches in this controller's
 * image a RemoveAccessControlEntryRecord, all in one batch. The answer lists
 * every filter's matches and the metadata offset of the change, which the
 * broker waits to see before answering its client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/service_internal.h"
#include "metadata/acl.h"

typedef Sluice__Controller__AlterAclsRequest AlterAclsRequest;
typedef Sluice__Controller__AlterAclsResponse AlterAclsResponse;
typedef Sluice__Controller__AclResult AclResult;
typedef Sluice__Controller__AclDeletionResult AclDeletionResult;

/* The response under construction (every part malloc'd, freed with
 * free_unpacked once sent). */
struct acls_extra {
    AlterAclsResponse *resp;
};

static char *dup_message(const char *s)
{
    return strdup(s != NULL ? s : "");
}

static AclBinding *binding_copy(const AclBinding *b)
{
    AclBinding *c = malloc(sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    sluice__metadata__access_control_entry_record__init(c);
    c->version = 1;
    c->resource_type = b->resource_type;
    c->pattern_type = b->pattern_type;
    c->operation = b->operation;
    c->permission = b->permission;
    c->resource_name = strdup(b->resource_name);
    c->principal = strdup(b->principal);
    c->host = strdup(b->host);
    if (c->resource_name == NULL || c->principal == NULL || c->host == NULL) {
        sluice__metadata__access_control_entry_record__free_unpacked(c, NULL);
        return NULL;
    }
    return c;
}

static AlterAclsResponse *response_new(size_t n_create, size_t n_delete)
{
    AlterAclsResponse *r = malloc(sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    sluice__controller__alter_acls_response__init(r);
    r->error_message = dup_message(NULL);
    r->creation_results = calloc(n_create ? n_create : 1, sizeof *r->creation_results);
    r->deletion_results = calloc(n_delete ? n_delete : 1, sizeof *r->deletion_results);
    if (r->error_message == NULL || r->creation_results == NULL || r->deletion_results == NULL) {
        sluice__controller__alter_acls_response__free_unpacked(r, NULL);
        return NULL;
    }
    for (; r->n_creation_results < n_create; r->n_creation_results++) {
        AclResult *a = malloc(sizeof *a);
        if (a == NULL) {
            sluice__controller__alter_acls_response__free_unpacked(r, NULL);
            return NULL;
        }
        sluice__controller__acl_result__init(a);
        r->creation_results[r->n_creation_results] = a;
    }
    for (; r->n_deletion_results < n_delete; r->n_deletion_results++) {
        AclDeletionResult *d = malloc(sizeof *d);
        if (d == NULL) {
            sluice__controller__alter_acls_response__free_unpacked(r, NULL);
            return NULL;
        }
        sluice__controller__acl_deletion_result__init(d);
        r->deletion_results[r->n_deletion_results] = d;
    }
    return r;
}

static void filter_of(const Sluice__Controller__AclFilter *f, struct acl_filter *out)
{
    *out = (struct acl_filter){
        .resource_type = f->resource_type,
        .resource_name = f->resource_name_null ? NULL : f->resource_name,
        .pattern_type = f->pattern_type,
        .principal = f->principal_null ? NULL : f->principal,
        .host = f->host_null ? NULL : f->host,
        .operation = f->operation,
        .permission = f->permission,
    };
}

/* Whether an earlier filter of the request already removes `b`. */
static bool removed_before(const AlterAclsResponse *r, size_t upto, const AclBinding *b)
{
    for (size_t k = 0; k < upto; k++) {
        for (size_t m = 0; m < r->deletion_results[k]->n_matches; m++) {
            if (acl_compare(r->deletion_results[k]->matches[m], b) == 0) {
                return true;
            }
        }
    }
    return false;
}

static int plan_deletion(const MetadataImage *img, AlterAclsResponse *r, size_t i,
                         const Sluice__Controller__AclFilter *pf, MetadataBatch *batch)
{
    AclDeletionResult *d = r->deletion_results[i];
    struct acl_filter f;
    filter_of(pf, &f);
    const char *why = acl_filter_invalid(&f);
    if (why != NULL) {
        d->error_code = KAFKA_ERROR_INVALID_REQUEST;
        d->error_message = dup_message(why);
        return d->error_message != NULL ? 0 : -1;
    }
    for (size_t k = 0; k < img->n_acls; k++) {
        const AclBinding *b = img->acls[k];
        if (!acl_filter_matches(&f, b)) {
            continue;
        }
        AclBinding **bigger = realloc(d->matches, (d->n_matches + 1) * sizeof *bigger);
        if (bigger == NULL) {
            return -1;
        }
        d->matches = bigger;
        if ((d->matches[d->n_matches] = binding_copy(b)) == NULL) {
            return -1;
        }
        d->n_matches++;
        if (!removed_before(r, i, b) && records_add_remove_acl(batch, b) != 0) {
            return -1;
        }
    }
    return 0;
}

static int plan(const MetadataImage *img, const AlterAclsRequest *req, AlterAclsResponse *r,
                MetadataBatch *batch)
{
    for (size_t i = 0; i < req->n_creations; i++) {
        const AclBinding *b = req->creations[i];
        const char *why = acl_binding_invalid(b);
        if (why != NULL) {
            r->creation_results[i]->error_code = KAFKA_ERROR_INVALID_REQUEST;
            r->creation_results[i]->error_message = dup_message(why);
            if (r->creation_results[i]->error_message == NULL) {
                return -1;
            }
        } else if (image_find_acl(img, b) == NULL && records_add_acl(batch, b) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < req->n_deletions; i++) {
        if (plan_deletion(img, r, i, req->deletions[i], batch) != 0) {
            return -1;
        }
    }
    return 0;
}

static void respond(struct controller_service *svc, struct rpc_call *call, AlterAclsResponse *r,
                    int32_t failure, int64_t offset)
{
    LeaderHint hint;
    r->error_code = failure;
    r->offset = offset;
    if (failure == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        r->leader = &hint;
    }
    rpc_call_respond(call, &r->base, NULL, 0);
    r->leader = NULL; /* static storage, not ours to free */
    sluice__controller__alter_acls_response__free_unpacked(r, NULL);
}

/* A failed record (a binding removed concurrently, say) changes nothing a
 * client asked for: the binding is gone or there either way. */
static void acls_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct acls_extra *x = op->extra;
    respond(op->svc, op->call, x->resp, status != 0 ? service_failure_code(status) : 0,
            res != NULL ? res->offset : 0);
}

void service_alter_acls(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const AlterAclsRequest *req = (const AlterAclsRequest *)call->request;
    struct acls_extra *x = calloc(1, sizeof *x);
    MetadataBatch *batch = records_batch_new();
    AlterAclsResponse *r = response_new(req->n_creations, req->n_deletions);
    if (x == NULL || batch == NULL || r == NULL) {
        goto oom;
    }
    if (!service_check_active(svc)) {
        respond(svc, call, r, KAFKA_ERROR_NOT_CONTROLLER, 0);
        r = NULL;
        goto done;
    }
    const MetadataImage *img = svc->quorum->fsm.image;
    if (plan(img, req, r, batch) != 0) {
        goto oom;
    }
    if (batch->n_records == 0) {
        respond(svc, call, r, KAFKA_ERROR_NONE, img->offset);
        r = NULL;
        goto done;
    }
    log_info("controller", "altering ACLs creations=%zu deletion_filters=%zu records=%zu",
             req->n_creations, req->n_deletions, batch->n_records);
    x->resp = r;
    service_propose(svc, call, batch, x, acls_done);
    return;
oom:
    rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
done:
    if (r != NULL) {
        sluice__controller__alter_acls_response__free_unpacked(r, NULL);
    }
    records_free(batch);
    free(x);
}
