/* DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key
 * 51, KIP-554): SCRAM users in the metadata log. The client sends the salted
 * password; the broker turns it into the stored and server keys right here,
 * so only those reach the controller and the log. One metadata_admin_op per
 * entry (admin_batch.h); the answer has one result per user, the first
 * failure of that user's entries winning, as Kafka reports them. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "broker/kafka/admin_batch.h"
#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "broker/metadata/topic_name.h"
#include "common/scram.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

/* Kafka's bounds on SCRAM iterations. */
#define SCRAM_MIN_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS 16384
#define ALTER_TIMEOUT_MS     30000

/* ---- Describe ---- */

static int32_t credentials_of(struct kafka_call *call, const char *user,
                              struct kafka_describe_user_scram_credentials_response_result *r)
{
    struct metadata_scram_credential c;
    r->credential_infos = kafka_arena_alloc_array(&call->arena, 2, sizeof *r->credential_infos);
    r->credential_infos_count = 0;
    if (r->credential_infos == NULL) {
        return -1;
    }
    for (int m = SCRAM_SHA_256; m <= SCRAM_SHA_512; m++) {
        if (metadata_view_scram_find(call->svc->metadata, user, m, &c)) {
            r->credential_infos[r->credential_infos_count].mechanism = (int8_t)m;
            r->credential_infos[r->credential_infos_count++].iterations = c.iterations;
        }
    }
    return r->credential_infos_count;
}

static bool named_before(const struct kafka_describe_user_scram_credentials_request *req, int32_t i)
{
    for (int32_t k = 0; k < i; k++) {
        if (strcmp(req->users[k].name, req->users[i].name) == 0) {
            return true;
        }
    }
    return false;
}

static void describe_respond(struct kafka_call *call,
                             const struct kafka_describe_user_scram_credentials_response *resp)
{
    struct kafka_writer w;
    int rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_describe_user_scram_credentials_response_encode(&w, call->header.api_version,
                                                                   resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

void kafka_handle_describe_user_scram_credentials(struct kafka_call *call)
{
    struct kafka_describe_user_scram_credentials_request req;
    int rv = kafka_describe_user_scram_credentials_request_decode(&call->body,
                                                                  call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_describe_user_scram_credentials_response resp;
    kafka_describe_user_scram_credentials_response_init(&resp);
    if (!kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME)) {
        resp.error_code = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
        resp.results_count = 0;
        describe_respond(call, &resp);
        return;
    }
    /* Null or empty: every user with a credential (in name order). */
    struct metadata_scram_credential c;
    size_t total = 0;
    while (metadata_view_scram_at(call->svc->metadata, total, &c)) {
        total++;
    }
    size_t cap = req.users_count > 0 ? (size_t)req.users_count : total;
    resp.results = kafka_arena_alloc_array(&call->arena, cap + 1, sizeof *resp.results);
    if (resp.results == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    resp.results_count = 0;
    for (size_t i = 0; i < cap; i++) {
        struct kafka_describe_user_scram_credentials_response_result *r =
            &resp.results[resp.results_count];
        kafka_describe_user_scram_credentials_response_result_init(r);
        if (req.users_count > 0) {
            r->user = req.users[i].name;
            if (named_before(&req, (int32_t)i)) {
                r->error_code = KAFKA_ERROR_DUPLICATE_RESOURCE;
                r->error_message = "Cannot describe SCRAM credentials for the same user twice";
            } else if (credentials_of(call, r->user, r) == 0) {
                r->error_code = KAFKA_ERROR_RESOURCE_NOT_FOUND;
                r->error_message = "Attempt to describe a user credential that does not exist";
            }
            resp.results_count++;
            continue;
        }
        metadata_view_scram_at(call->svc->metadata, i, &c);
        if (resp.results_count > 0 &&
            strcmp(resp.results[resp.results_count - 1].user, c.user) == 0) {
            continue; /* the user's second mechanism: listed with the first */
        }
        r->user = c.user;
        credentials_of(call, r->user, r);
        resp.results_count++;
    }
    describe_respond(call, &resp);
}

/* ---- Alter ---- */

struct alter_ctx {
    struct kafka_alter_user_scram_credentials_request req;
    struct kafka_alter_user_scram_credentials_response resp;
    bool authorized; /* Alter on the cluster: else every user is refused */
};

static const char *entry_user(const struct alter_ctx *x, int32_t i)
{
    return i < x->req.deletions_count ? x->req.deletions[i].name
                                      : x->req.upsertions[i - x->req.deletions_count].name;
}

static int8_t entry_mechanism(const struct alter_ctx *x, int32_t i)
{
    return i < x->req.deletions_count ? x->req.deletions[i].mechanism
                                      : x->req.upsertions[i - x->req.deletions_count].mechanism;
}

static int encode_alter(struct kafka_admin_batch *b, struct kafka_writer *w)
{
    struct alter_ctx *x = b->response;
    struct kafka_alter_user_scram_credentials_response *resp = &x->resp;
    for (int32_t i = 0; i < b->count; i++) {
        const char *user = entry_user(x, i);
        struct kafka_alter_user_scram_credentials_response_result *r = NULL;
        for (int32_t k = 0; k < resp->results_count; k++) {
            if (strcmp(resp->results[k].user, user) == 0) {
                r = &resp->results[k];
            }
        }
        if (r == NULL) {
            r = &resp->results[resp->results_count++];
            kafka_alter_user_scram_credentials_response_result_init(r);
            r->user = user;
        }
        if (r->error_code == KAFKA_ERROR_NONE && b->ops[i].error_code != KAFKA_ERROR_NONE) {
            r->error_code = b->ops[i].error_code;
            r->error_message = kafka_admin_batch_message(&b->ops[i]);
        }
    }
    return kafka_alter_user_scram_credentials_response_encode(w, b->call->header.api_version, resp);
}

/* Kafka's checks of one entry; NONE or the code (with *why). */
static int16_t check_entry(const struct alter_ctx *x, int32_t i, const char **why)
{
    const char *user = entry_user(x, i);
    int mechanism = entry_mechanism(x, i);
    for (int32_t k = 0; k < x->req.deletions_count + x->req.upsertions_count; k++) {
        if (k != i && strcmp(entry_user(x, k), user) == 0 && entry_mechanism(x, k) == mechanism) {
            *why = "A user credential cannot be altered twice in the same request";
            return KAFKA_ERROR_DUPLICATE_RESOURCE;
        }
    }
    if (user[0] == '\0' || strlen(user) > TOPIC_NAME_MAX) {
        *why = "Username must be between 1 and 249 characters";
        return KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL;
    }
    if (scram_key_len(mechanism) == 0) {
        *why = "Unknown SCRAM mechanism";
        return KAFKA_ERROR_UNSUPPORTED_SASL_MECHANISM;
    }
    if (i >= x->req.deletions_count) {
        const struct kafka_alter_user_scram_credentials_request_scram_credential_upsertion *u =
            &x->req.upsertions[i - x->req.deletions_count];
        if (u->iterations < SCRAM_MIN_ITERATIONS || u->iterations > SCRAM_MAX_ITERATIONS) {
            *why = "Iterations must be between 4096 and 16384";
            return KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL;
        }
        if (u->salt.len <= 0 || (size_t)u->salted_password.len != scram_key_len(mechanism)) {
            *why = "Salt empty or salted password of the wrong length";
            return KAFKA_ERROR_UNACCEPTABLE_CREDENTIAL;
        }
    }
    return KAFKA_ERROR_NONE;
}

static void submit_entry(struct kafka_admin_batch *b, struct alter_ctx *x, int32_t i)
{
    struct metadata_admin_op *op = &b->ops[i];
    const char *why = NULL;
    int16_t code =
        x->authorized ? check_entry(x, i, &why) : KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
    if (code != KAFKA_ERROR_NONE) {
        metadata_admin_fail(op, kafka_admin_batch_op_done, code, why);
        return;
    }
    struct metadata_scram_credential c = {entry_user(x, i), entry_mechanism(x, i)};
    if (i < x->req.deletions_count) {
        metadata_view_submit_alter_scram(b->call->svc->metadata, &c, true, ALTER_TIMEOUT_MS, op,
                                         kafka_admin_batch_op_done);
        return;
    }
    const struct kafka_alter_user_scram_credentials_request_scram_credential_upsertion *u =
        &x->req.upsertions[i - x->req.deletions_count];
    uint8_t stored[SCRAM_MAX_KEY], server[SCRAM_MAX_KEY];
    if (scram_keys(c.mechanism, u->salted_password.data, stored, server) != 0) {
        metadata_admin_fail(op, kafka_admin_batch_op_done, KAFKA_ERROR_UNKNOWN_SERVER_ERROR,
                            "cannot derive the SCRAM keys");
        return;
    }
    c.iterations = u->iterations;
    c.salt = u->salt.data;
    c.salt_len = (size_t)u->salt.len;
    c.stored_key = stored;
    c.server_key = server;
    c.key_len = scram_key_len(c.mechanism);
    metadata_view_submit_alter_scram(b->call->svc->metadata, &c, false, ALTER_TIMEOUT_MS, op,
                                     kafka_admin_batch_op_done);
    OPENSSL_cleanse(server, sizeof server);
}

void kafka_handle_alter_user_scram_credentials(struct kafka_call *call)
{
    struct alter_ctx *x = kafka_arena_alloc(&call->arena, sizeof *x);
    if (x == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    int rv = kafka_alter_user_scram_credentials_request_decode(&call->body,
                                                               call->header.api_version, &x->req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    x->req.deletions_count = x->req.deletions_count > 0 ? x->req.deletions_count : 0;
    x->req.upsertions_count = x->req.upsertions_count > 0 ? x->req.upsertions_count : 0;
    int32_t n = x->req.deletions_count + x->req.upsertions_count;
    kafka_alter_user_scram_credentials_response_init(&x->resp);
    x->resp.results = kafka_arena_alloc_array(&call->arena, (size_t)n + 1, sizeof *x->resp.results);
    struct kafka_admin_batch *b =
        x->resp.results != NULL ? kafka_admin_batch_new(call, n, encode_alter, x) : NULL;
    if (b == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    x->resp.results_count = 0;
    x->authorized = kafka_authorize(call, ACL_OP_ALTER, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME);
    for (int32_t i = 0; i < n; i++) {
        submit_entry(b, x, i);
    }
    kafka_admin_batch_submitted(b);
}
