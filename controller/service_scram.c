/* AlterUserScramCredentials on the active controller: each upsertion becomes
 * a UserScramCredentialRecord, each deletion a RemoveUserScramCredentialRecord.
 * The broker already checked the request's shape and derived the keys; here
 * the rules that need the image (a deletion needs a credential) and a second
 * look at the bounds, since any RPC client may call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/service_internal.h"

typedef Sluice__Controller__AlterScramCredentialsRequest AlterScramRequest;

/* Kafka's bounds on SCRAM iterations (ScramMechanism: 4096 .. 16384). */
#define SCRAM_MIN_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS 16384

struct scram_extra {
    size_t n;
    struct service_answer answers[];
};

static const struct service_answer *scram_answer(void *extra, size_t i)
{
    return &((struct scram_extra *)extra)->answers[i];
}

static bool mechanism_known(int32_t m)
{
    return m == SCRAM_MECHANISM_SHA_256 || m == SCRAM_MECHANISM_SHA_512;
}

static void refuse(struct service_answer *a, int32_t code, const char *why)
{
    a->code = code;
    snprintf(a->message, sizeof a->message, "%s", why);
}

static void check_upsertion(const ScramCredential *c, struct service_answer *a)
{
    size_t key_len = c->mechanism == SCRAM_MECHANISM_SHA_256 ? 32 : 64;
    if (c->name[0] == '\0') {
        refuse(a, KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL, "Username must not be empty");
    } else if (!mechanism_known(c->mechanism)) {
        refuse(a, KAFKA_ERROR_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism");
    } else if (c->iterations < SCRAM_MIN_ITERATIONS || c->iterations > SCRAM_MAX_ITERATIONS) {
        refuse(a, KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL, "Iterations must be between 4096 and 16384");
    } else if (c->salt.len == 0 || c->stored_key.len != key_len || c->server_key.len != key_len) {
        refuse(a, KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL, "Salt or keys of the wrong size");
    }
}

static void scram_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct scram_extra *x = op->extra;
    /* Records were added for the accepted entries only, in entry order. */
    size_t r = 0;
    for (size_t i = 0; status == 0 && i < x->n; i++) {
        if (x->answers[i].code != KAFKA_ERROR_NONE) {
            continue;
        }
        if (r < res->n && res->errors[r] != KAFKA_ERROR_NONE) {
            refuse(&x->answers[i], res->errors[r], "the credential changed concurrently");
        }
        r++;
    }
    service_respond_topics(op->svc, op->call, x->n,
                           status != 0 ? service_failure_code(status) : KAFKA_ERROR_NONE,
                           scram_answer, x);
}

static int plan(struct controller_service *svc, const AlterScramRequest *req, struct scram_extra *x,
                MetadataBatch *batch)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    for (size_t i = 0; i < req->n_upsertions; i++) {
        check_upsertion(req->upsertions[i], &x->answers[i]);
        if (x->answers[i].code == KAFKA_ERROR_NONE &&
            records_add_scram(batch, req->upsertions[i]) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < req->n_deletions; i++) {
        const Sluice__Metadata__RemoveUserScramCredentialRecord *d = req->deletions[i];
        struct service_answer *a = &x->answers[req->n_upsertions + i];
        if (!mechanism_known(d->mechanism)) {
            refuse(a, KAFKA_ERROR_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism");
        } else if (image_find_scram(img, d->name, d->mechanism) == NULL) {
            refuse(a, KAFKA_ERROR_RESOURCE_NOT_FOUND,
                   "Attempt to delete a user credential that does not exist");
        } else if (records_add_remove_scram(batch, d->name, d->mechanism) != 0) {
            return -1;
        }
    }
    return 0;
}

void service_alter_scram(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const AlterScramRequest *req = (const AlterScramRequest *)call->request;
    size_t n = req->n_upsertions + req->n_deletions;
    struct scram_extra *x = calloc(1, sizeof *x + n * sizeof x->answers[0]);
    MetadataBatch *batch = records_batch_new();
    if (x == NULL || batch == NULL) {
        goto oom;
    }
    x->n = n;
    for (size_t i = 0; i < req->n_upsertions; i++) {
        x->answers[i].name = req->upsertions[i]->name;
    }
    for (size_t i = 0; i < req->n_deletions; i++) {
        x->answers[req->n_upsertions + i].name = req->deletions[i]->name;
    }
    if (!service_check_active(svc)) {
        service_respond_topics(svc, call, n, KAFKA_ERROR_NOT_CONTROLLER, scram_answer, x);
        goto done;
    }
    if (plan(svc, req, x, batch) != 0) {
        goto oom;
    }
    if (batch->n_records == 0) {
        service_respond_topics(svc, call, n, KAFKA_ERROR_NONE, scram_answer, x);
        goto done;
    }
    log_info("controller", "altering SCRAM credentials upsertions=%zu deletions=%zu records=%zu",
             req->n_upsertions, req->n_deletions, batch->n_records);
    service_propose(svc, call, batch, x, scram_done);
    return;
oom:
    rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
done:
    records_free(batch);
    free(x);
}
