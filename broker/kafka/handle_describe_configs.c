/* DescribeConfigs (key 32): broker configs (broker_config_defs) and topic
 * configs (topic_config_defs) with their sources in Kafka's terms: a topic
 * key is TOPIC_CONFIG when the topic sets it, STATIC_BROKER_CONFIG when it
 * inherits a broker setting from server.properties, DEFAULT_CONFIG otherwise.
 * include_synonyms lists the topic value and the broker key behind it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

enum { RESOURCE_TOPIC = 2, RESOURCE_BROKER = 4 };

/* Kafka's DescribeConfigsResponse ConfigSource values. */
enum {
    SOURCE_TOPIC_CONFIG = 1,
    SOURCE_STATIC_BROKER_CONFIG = 4,
    SOURCE_DEFAULT_CONFIG = 5,
};

static int8_t kafka_source(enum config_source s)
{
    switch (s) {
    case CONFIG_SOURCE_TOPIC:
        return SOURCE_TOPIC_CONFIG;
    case CONFIG_SOURCE_STATIC:
    case CONFIG_SOURCE_BROKER:
        return SOURCE_STATIC_BROKER_CONFIG;
    default:
        return SOURCE_DEFAULT_CONFIG;
    }
}

static bool wanted(const struct kafka_describe_configs_request_resource *r, const char *name)
{
    if (r->configuration_keys_count < 0) {
        return true;
    }
    for (int32_t i = 0; i < r->configuration_keys_count; i++) {
        if (r->configuration_keys[i] != NULL && strcmp(r->configuration_keys[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static const char *value_of(struct kafka_call *call, const struct config_def *def, const void *base)
{
    char text[256];
    const char *v = config_format(def, base, text, sizeof text);
    return v != NULL ? kafka_arena_strndup(&call->arena, v, strlen(v)) : NULL;
}

static const struct config_def *broker_def(const char *name, size_t *index)
{
    size_t n;
    const struct config_def *defs = broker_config_defs(&n);
    for (size_t i = 0; name != NULL && i < n; i++) {
        if (strcmp(defs[i].name, name) == 0) {
            *index = i;
            return &defs[i];
        }
    }
    return NULL;
}

/* Synonyms, most specific first, as Kafka lists them. */
static void add_synonyms(struct kafka_call *call, const struct config_def *def, int8_t source,
                         const char *value,
                         struct kafka_describe_configs_response_resource_result *o)
{
    o->synonyms = kafka_arena_alloc_array(&call->arena, 2, sizeof *o->synonyms);
    o->synonyms_count = 0;
    if (o->synonyms == NULL) {
        return;
    }
    if (source == SOURCE_TOPIC_CONFIG) {
        o->synonyms[o->synonyms_count++] =
            (struct kafka_describe_configs_response_synonym){def->name, value, source};
    }
    size_t bi;
    const struct config_def *bdef = broker_def(def->broker_name, &bi);
    if (bdef != NULL) {
        const struct sluice_config *cfg = call->svc->cfg;
        o->synonyms[o->synonyms_count++] = (struct kafka_describe_configs_response_synonym){
            bdef->name, value_of(call, bdef, cfg),
            kafka_source((enum config_source)cfg->source[bi])};
    } else if (source != SOURCE_TOPIC_CONFIG) {
        o->synonyms[o->synonyms_count++] =
            (struct kafka_describe_configs_response_synonym){def->name, value, source};
    }
}

static int describe(struct kafka_call *call, const struct kafka_describe_configs_request *req,
                    const struct kafka_describe_configs_request_resource *r,
                    const struct config_def *defs, size_t n, const void *base,
                    const uint8_t *sources, bool read_only,
                    struct kafka_describe_configs_response_result *out)
{
    out->configs = kafka_arena_alloc_array(&call->arena, n, sizeof *out->configs);
    if (out->configs == NULL) {
        return -1;
    }
    out->configs_count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!wanted(r, defs[i].name)) {
            continue;
        }
        struct kafka_describe_configs_response_resource_result *o =
            &out->configs[out->configs_count++];
        kafka_describe_configs_response_resource_result_init(o);
        o->name = defs[i].name;
        o->value = defs[i].sensitive ? NULL : value_of(call, &defs[i], base);
        o->read_only = read_only;
        o->config_source = kafka_source((enum config_source)sources[i]);
        o->is_sensitive = defs[i].sensitive;
        o->synonyms_count = 0;
        if (req->include_synonyms) {
            add_synonyms(call, &defs[i], o->config_source, o->value, o);
        }
    }
    return 0;
}

static int describe_one(struct kafka_call *call, const struct kafka_describe_configs_request *req,
                        const struct kafka_describe_configs_request_resource *r,
                        struct kafka_describe_configs_response_result *out)
{
    kafka_describe_configs_response_result_init(out);
    out->resource_type = r->resource_type;
    out->resource_name = r->resource_name;
    out->configs_count = 0;
    size_t n;
    /* Kafka authorizes before looking the resource up: DescribeConfigs on
     * the topic, or on the cluster for a broker's configs. */
    if (r->resource_type == RESOURCE_TOPIC &&
        !kafka_authorize(call, ACL_OP_DESCRIBE_CONFIGS, ACL_RESOURCE_TOPIC, r->resource_name)) {
        out->error_code = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
        return 0;
    }
    if (r->resource_type == RESOURCE_BROKER &&
        !kafka_authorize(call, ACL_OP_DESCRIBE_CONFIGS, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME)) {
        out->error_code = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
        return 0;
    }
    if (r->resource_type == RESOURCE_TOPIC) {
        const struct metadata_topic *t = metadata_view_topic(call->svc->metadata, r->resource_name);
        if (t == NULL) {
            out->error_code = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
            out->error_message = "Topic does not exist";
            return 0;
        }
        const struct config_def *defs = topic_config_defs(&n);
        return describe(call, req, r, defs, n, &t->config, t->config.source, false, out);
    }
    if (r->resource_type == RESOURCE_BROKER) {
        char self[16];
        snprintf(self, sizeof self, "%d", metadata_view_local_node(call->svc->metadata));
        if (r->resource_name[0] != '\0' && strcmp(r->resource_name, self) != 0) {
            out->error_code = KAFKA_ERROR_INVALID_REQUEST;
            out->error_message = "Unexpected broker id: this broker only describes itself";
            return 0;
        }
        const struct config_def *defs = broker_config_defs(&n);
        return describe(call, req, r, defs, n, call->svc->cfg, call->svc->cfg->source, true, out);
    }
    out->error_code = KAFKA_ERROR_INVALID_REQUEST;
    out->error_message = "Unsupported resource type";
    return 0;
}

void kafka_handle_describe_configs(struct kafka_call *call)
{
    struct kafka_describe_configs_request req;
    int rv = kafka_describe_configs_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_describe_configs_response resp;
    kafka_describe_configs_response_init(&resp);
    int32_t n = req.resources_count > 0 ? req.resources_count : 0;
    resp.results = kafka_arena_alloc_array(&call->arena, (size_t)n, sizeof *resp.results);
    resp.results_count = n;
    for (int32_t i = 0; resp.results != NULL && i < n; i++) {
        if (describe_one(call, &req, &req.resources[i], &resp.results[i]) != 0) {
            resp.results = NULL;
        }
    }
    if (resp.results == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_describe_configs_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
