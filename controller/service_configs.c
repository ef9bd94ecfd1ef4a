/* AlterConfigs on topics (and the dynamic broker configs: the replication
 * throttle rates) on the active controller: brokers forward Kafka's
 * AlterConfigs (replace: keys not listed return to their defaults) and
 * IncrementalAlterConfigs (KIP-339 SET and DELETE). Each change is a
 * ConfigRecord (value_is_null deletes), idempotent on retry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "controller/service_internal.h"

#define RESOURCE_TYPE_BROKER 4 /* Kafka's ConfigResource.Type.BROKER */

typedef Sluice__Controller__AlterConfigsRequest AlterConfigsRequest;
typedef Sluice__Controller__AlterConfigsResource AlterConfigsResource;

/* Per resource: its answer and its records [first, first + count). */
struct config_item {
    struct service_answer answer;
    size_t first, count;
};

struct configs_extra {
    size_t n;
    struct config_item items[];
};

static const struct service_answer *config_answer(void *extra, size_t i)
{
    return &((struct configs_extra *)extra)->items[i].answer;
}

static void configs_respond(struct controller_service *svc, struct rpc_call *call,
                            struct configs_extra *x, int32_t failure)
{
    service_respond_topics(svc, call, x->n, failure, config_answer, x);
}

static bool known_key(const char *name)
{
    size_t n;
    const struct config_def *defs = topic_config_defs(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(defs[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static bool listed(const AlterConfigsResource *r, const char *name)
{
    for (size_t k = 0; k < r->n_configs; k++) {
        if (strcmp(r->configs[k]->name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* The topic's config after the change must parse: validate it whole. */
static void check_resource(struct controller_service *svc, const AlterConfigsResource *r,
                           const TopicState *t, struct config_item *it)
{
    struct topic_config tc;
    if (topic_config_init(&tc, svc->config) != 0) {
        it->answer.code = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        snprintf(it->answer.message, sizeof it->answer.message, "out of memory");
        return;
    }
    char why[160];
    for (size_t k = 0; !r->replace && k < t->n_configs; k++) {
        if (!listed(r, t->configs[k]->name)) {
            topic_config_set(&tc, t->configs[k]->name, t->configs[k]->value, why, sizeof why);
        }
    }
    for (size_t k = 0; k < r->n_configs && it->answer.code == KAFKA_ERROR_NONE; k++) {
        const Sluice__Controller__AlterableConfig *c = r->configs[k];
        if (!known_key(c->name)) {
            it->answer.code = KAFKA_ERROR_INVALID_CONFIG;
            snprintf(it->answer.message, sizeof it->answer.message, "Unknown topic config name: %s",
                     c->name);
        } else if (!c->is_delete &&
                   topic_config_set(&tc, c->name, c->value, why, sizeof why) != 0) {
            it->answer.code = KAFKA_ERROR_INVALID_CONFIG;
            snprintf(it->answer.message, sizeof it->answer.message, "%s", why);
        }
    }
    topic_config_free(&tc);
}

static int add_records(MetadataBatch *batch, const AlterConfigsResource *r, const TopicState *t)
{
    int rv = 0;
    for (size_t k = 0; rv == 0 && r->replace && k < t->n_configs; k++) {
        if (!listed(r, t->configs[k]->name)) {
            rv = records_add_topic_config(batch, r->topic, t->configs[k]->name, NULL);
        }
    }
    for (size_t k = 0; rv == 0 && k < r->n_configs; k++) {
        const Sluice__Controller__AlterableConfig *c = r->configs[k];
        rv = records_add_topic_config(batch, r->topic, c->name, c->is_delete ? NULL : c->value);
    }
    return rv;
}

static void configs_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct configs_extra *x = op->extra;
    for (size_t i = 0; status == 0 && i < x->n; i++) {
        struct config_item *it = &x->items[i];
        for (size_t r = it->first; r < it->first + it->count && r < res->n; r++) {
            if (res->errors[r] != KAFKA_ERROR_NONE && it->answer.code == KAFKA_ERROR_NONE) {
                it->answer.code = res->errors[r]; /* deleted meanwhile */
                snprintf(it->answer.message, sizeof it->answer.message,
                         "the topic changed concurrently");
            }
        }
    }
    configs_respond(op->svc, op->call, x, status != 0 ? service_failure_code(status) : 0);
}

/* A BROKER resource (its id, or "" for every broker): only the dynamic
 * broker configs, SET and DELETE. */
static void check_broker_resource(const AlterConfigsResource *r, struct config_item *it)
{
    const char *s = r->topic;
    while (*s >= '0' && *s <= '9') {
        s++;
    }
    if (*s != '\0' || strlen(r->topic) > 10) {
        it->answer.code = KAFKA_ERROR_INVALID_REQUEST;
        snprintf(it->answer.message, sizeof it->answer.message,
                 "a broker resource is a broker id or empty (every broker), not '%.64s'", r->topic);
        return;
    }
    if (r->replace) {
        it->answer.code = KAFKA_ERROR_INVALID_REQUEST;
        snprintf(it->answer.message, sizeof it->answer.message,
                 "broker configs are altered with IncrementalAlterConfigs");
        return;
    }
    for (size_t k = 0; k < r->n_configs; k++) {
        const Sluice__Controller__AlterableConfig *c = r->configs[k];
        const char *why = broker_dynamic_config_check(c->name, c->is_delete ? NULL : c->value);
        if (why != NULL) {
            it->answer.code = KAFKA_ERROR_INVALID_CONFIG;
            snprintf(it->answer.message, sizeof it->answer.message, "%.64s: %s", c->name, why);
            return;
        }
    }
}

/* Validate every resource, then add the records of the valid ones. */
static int plan(struct controller_service *svc, const AlterConfigsRequest *req,
                struct configs_extra *x, MetadataBatch *batch)
{
    for (size_t i = 0; i < req->n_resources; i++) {
        const AlterConfigsResource *r = req->resources[i];
        struct config_item *it = &x->items[i];
        if (r->resource_type == RESOURCE_TYPE_BROKER) {
            check_broker_resource(r, it);
            if (it->answer.code != KAFKA_ERROR_NONE || req->validate_only) {
                continue;
            }
            it->first = batch->n_records;
            for (size_t k = 0; k < r->n_configs; k++) {
                const Sluice__Controller__AlterableConfig *c = r->configs[k];
                if (records_add_config(batch, RESOURCE_TYPE_BROKER, r->topic, c->name,
                                       c->is_delete ? NULL : c->value) != 0) {
                    return -ENOMEM;
                }
            }
            it->count = batch->n_records - it->first;
            continue;
        }
        const TopicState *t = image_find_topic(svc->quorum->fsm.image, r->topic);
        if (t == NULL) {
            it->answer.code = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
            snprintf(it->answer.message, sizeof it->answer.message,
                     "The topic '%s' does not exist.", r->topic);
            continue;
        }
        check_resource(svc, r, t, it);
        if (it->answer.code != KAFKA_ERROR_NONE || req->validate_only) {
            continue;
        }
        it->first = batch->n_records;
        if (add_records(batch, r, t) != 0) {
            return -ENOMEM;
        }
        it->count = batch->n_records - it->first;
    }
    return 0;
}

void service_alter_configs(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const AlterConfigsRequest *req = (const AlterConfigsRequest *)call->request;
    struct configs_extra *x = calloc(1, sizeof *x + req->n_resources * sizeof x->items[0]);
    MetadataBatch *batch = records_batch_new();
    if (x == NULL || batch == NULL) {
        goto oom;
    }
    x->n = req->n_resources;
    for (size_t i = 0; i < x->n; i++) {
        x->items[i].answer.name = req->resources[i]->topic;
    }
    if (!service_check_active(svc)) {
        configs_respond(svc, call, x, KAFKA_ERROR_NOT_CONTROLLER);
        goto done;
    }
    if (plan(svc, req, x, batch) != 0) {
        goto oom;
    }
    if (batch->n_records == 0) {
        configs_respond(svc, call, x, KAFKA_ERROR_NONE);
        goto done;
    }
    log_info("controller", "altering topic configs resources=%zu records=%zu", x->n,
             batch->n_records);
    service_propose(svc, call, batch, x, configs_done);
    return;
oom:
    rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
done:
    records_free(batch);
    free(x);
}
