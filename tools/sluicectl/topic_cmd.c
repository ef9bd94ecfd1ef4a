/* sluicectl topic commands; see topic_cmd.h. */
#include "tools/sluicectl/topic_cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"
#include "tools/sluicectl/admin_session.h"
#include "tools/sluicectl/output.h"

#define MAX_CONFIGS 64
#define ARENA_LIMIT (64u << 20)

enum { RESOURCE_TOPIC = 2 };

struct topic_opts {
    const char *name;
    int32_t partitions;
    int32_t replication_factor;
    const char *configs[MAX_CONFIGS]; /* "k=v" */
    size_t n_configs;
    const char *deletes[MAX_CONFIGS];
    size_t n_deletes;
    bool if_not_exists, if_exists;
};

/* One command's connection (to the controller for admin requests) and the
 * arena its decoded responses live in. */
struct session {
    struct admin_session a;
    struct topic_opts *o;
};

void topic_cmd_usage(void)
{
    fprintf(stderr, "usage: sluicectl topic <command> --bootstrap-server host:port [options]\n"
                    "\n"
                    "commands:\n"
                    "  create NAME [--partitions N] [--replication-factor N] [--config k=v ...]\n"
                    "              [--if-not-exists]\n"
                    "  list\n"
                    "  describe NAME\n"
                    "  delete NAME [--if-exists]\n"
                    "  alter-config NAME [--config k=v ...] [--delete-config k ...]\n"
                    "\n"
                    "options:\n" ADMIN_SESSION_OPTIONS_HELP "\n"
                    "exit codes: 0 ok, 1 operation failed, 2 usage, 3 cannot connect\n");
}

/* ---- requests ---- */

static int decode_failed(struct session *s, const char *what)
{
    snprintf(s->a.err, sizeof s->a.err, "cannot decode %s response from %s", what,
             s->a.client.peer);
    return -1;
}

/* Reconnect to the controller named by metadata, if it is another broker. */
static int connect_controller(struct session *s)
{
    struct kafka_metadata_response md;
    if (admin_session_metadata(&s->a, (const char *[]){NULL}, 0, &md) != 0) {
        return -1;
    }
    for (int32_t i = 0; i < md.brokers_count; i++) {
        const struct kafka_metadata_response_broker *b = &md.brokers[i];
        if (b->node_id != md.controller_id) {
            continue;
        }
        char peer[300];
        snprintf(peer, sizeof peer, "%s:%d", b->host, b->port);
        if (strcmp(peer, s->a.client.peer) == 0) {
            return 0;
        }
        return admin_session_reconnect(&s->a, b->host, b->port) == 0 ? 0 : -2;
    }
    return 0; /* no controller known: ask the bootstrap broker */
}

static int report_error(struct session *s, const char *what, int16_t code, const char *message)
{
    if (code == KAFKA_ERROR_NONE) {
        return 0;
    }
    snprintf(s->a.err, sizeof s->a.err, "%s: %s%s%s", what, kafka_error_name(code),
             message ? ": " : "", message ? message : "");
    return -1;
}

/* Split "k=v" items into config entries (key/value borrowed from argv). */
static int split_configs(struct session *s,
                         struct kafka_create_topics_request_creatable_topic_config *out)
{
    for (size_t i = 0; i < s->o->n_configs; i++) {
        const char *eq = strchr(s->o->configs[i], '=');
        if (eq == NULL || eq == s->o->configs[i]) {
            snprintf(s->a.err, sizeof s->a.err, "bad --config '%s': expected key=value",
                     s->o->configs[i]);
            return -1;
        }
        out[i].name =
            kafka_arena_strndup(&s->a.arena, s->o->configs[i], (size_t)(eq - s->o->configs[i]));
        out[i].value = eq + 1;
    }
    return 0;
}

static int do_create(struct session *s)
{
    struct kafka_create_topics_request_creatable_topic_config cfgs[MAX_CONFIGS];
    if (split_configs(s, cfgs) != 0) {
        return SLUICECTL_USAGE;
    }
    struct kafka_create_topics_request_creatable_topic t;
    kafka_create_topics_request_creatable_topic_init(&t);
    t.name = s->o->name;
    t.num_partitions = s->o->partitions;
    t.replication_factor = (int16_t)s->o->replication_factor;
    t.assignments_count = 0;
    t.configs = cfgs;
    t.configs_count = (int32_t)s->o->n_configs;
    struct kafka_create_topics_request req;
    kafka_create_topics_request_init(&req);
    req.topics = &t;
    req.topics_count = 1;
    req.timeout_ms = s->a.timeout_ms;
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_create_topics_request_encode(&w, 4, &req);
    kafka_writer_free(&w);
    struct kafka_create_topics_response resp;
    struct kafka_reader r;
    if (rv != 0 || admin_session_call(&s->a, KAFKA_API_CREATE_TOPICS, 4, &r) != 0) {
        return SLUICECTL_FAILED;
    }
    if (kafka_create_topics_response_decode(&r, 4, &resp) != 0 || resp.topics_count != 1) {
        decode_failed(s, "create topics");
        return SLUICECTL_FAILED;
    }
    int16_t code = resp.topics[0].error_code;
    if (code == KAFKA_ERROR_TOPIC_ALREADY_EXISTS && s->o->if_not_exists) {
        code = KAFKA_ERROR_NONE;
    }
    if (report_error(s, "cannot create topic", code, resp.topics[0].error_message) != 0) {
        return SLUICECTL_FAILED;
    }
    if (s->a.json) {
        printf("{\"topic\":");
        output_json_string(stdout, s->o->name);
        printf(",\"created\":%s}\n",
               resp.topics[0].error_code == KAFKA_ERROR_NONE ? "true" : "false");
    } else {
        printf("%s topic %s\n",
               resp.topics[0].error_code == KAFKA_ERROR_NONE ? "Created" : "Already exists:",
               s->o->name);
    }
    return SLUICECTL_OK;
}

static int do_delete(struct session *s)
{
    struct kafka_delete_topics_request req;
    kafka_delete_topics_request_init(&req);
    const char *names[1] = {s->o->name};
    req.topic_names = names;
    req.topic_names_count = 1;
    req.timeout_ms = s->a.timeout_ms;
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_delete_topics_request_encode(&w, 3, &req);
    kafka_writer_free(&w);
    struct kafka_delete_topics_response resp;
    struct kafka_reader r;
    if (rv != 0 || admin_session_call(&s->a, KAFKA_API_DELETE_TOPICS, 3, &r) != 0) {
        return SLUICECTL_FAILED;
    }
    if (kafka_delete_topics_response_decode(&r, 3, &resp) != 0 || resp.responses_count != 1) {
        decode_failed(s, "delete topics");
        return SLUICECTL_FAILED;
    }
    int16_t code = resp.responses[0].error_code;
    bool existed = code != KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
    if (!existed && s->o->if_exists) {
        code = KAFKA_ERROR_NONE;
    }
    if (report_error(s, "cannot delete topic", code, NULL) != 0) {
        return SLUICECTL_FAILED;
    }
    if (s->a.json) {
        printf("{\"topic\":");
        output_json_string(stdout, s->o->name);
        printf(",\"deleted\":%s}\n", existed ? "true" : "false");
    } else {
        printf("%s topic %s\n", existed ? "Deleted" : "No such", s->o->name);
    }
    return SLUICECTL_OK;
}

static int replication_of(const struct kafka_metadata_response_topic *t)
{
    return t->partitions_count > 0 ? t->partitions[0].replica_nodes_count : 0;
}

static int compare_topics(const void *a, const void *b)
{
    const struct kafka_metadata_response_topic *x = a, *y = b;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int do_list(struct session *s)
{
    struct kafka_metadata_response md;
    if (admin_session_metadata(&s->a, NULL, -1, &md) != 0) {
        return SLUICECTL_FAILED;
    }
    if (md.topics_count > 1) {
        qsort(md.topics, (size_t)md.topics_count, sizeof *md.topics, compare_topics);
    }
    if (s->a.json) {
        printf("[");
        for (int32_t i = 0; i < md.topics_count; i++) {
            printf("%s{\"name\":", i ? "," : "");
            output_json_string(stdout, md.topics[i].name);
            printf(",\"partitions\":%d,\"replication_factor\":%d}", md.topics[i].partitions_count,
                   replication_of(&md.topics[i]));
        }
        printf("]\n");
        return SLUICECTL_OK;
    }
    int width = 5;
    for (int32_t i = 0; i < md.topics_count; i++) {
        int len = (int)strlen(md.topics[i].name ? md.topics[i].name : "");
        width = len > width ? len : width;
    }
    printf("%-*s  %10s  %11s\n", width, "TOPIC", "PARTITIONS", "REPLICATION");
    for (int32_t i = 0; i < md.topics_count; i++) {
        printf("%-*s  %10d  %11d\n", width, md.topics[i].name, md.topics[i].partitions_count,
               replication_of(&md.topics[i]));
    }
    return SLUICECTL_OK;
}

static int describe_configs(struct session *s, struct kafka_describe_configs_response_result **out)
{
    struct kafka_describe_configs_request_resource res;
    kafka_describe_configs_request_resource_init(&res);
    res.resource_type = RESOURCE_TOPIC;
    res.resource_name = s->o->name;
    res.configuration_keys_count = -1;
    struct kafka_describe_configs_request req;
    kafka_describe_configs_request_init(&req);
    req.resources = &res;
    req.resources_count = 1;
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_describe_configs_request_encode(&w, 2, &req);
    kafka_writer_free(&w);
    struct kafka_describe_configs_response resp;
    struct kafka_reader r;
    if (rv != 0 || admin_session_call(&s->a, KAFKA_API_DESCRIBE_CONFIGS, 2, &r) != 0) {
        return -1;
    }
    if (kafka_describe_configs_response_decode(&r, 2, &resp) != 0 || resp.results_count != 1) {
        return decode_failed(s, "describe configs");
    }
    *out = &resp.results[0];
    return report_error(s, "cannot describe configs", resp.results[0].error_code,
                        resp.results[0].error_message);
}

static const char *source_name(int8_t source)
{
    switch (source) {
    case 1:
        return "TOPIC";
    case 4:
        return "STATIC_BROKER";
    case 5:
        return "DEFAULT";
    default:
        return "OTHER";
    }
}

static void print_int_list(const int32_t *v, int32_t n, bool json)
{
    printf(json ? "[" : "");
    for (int32_t i = 0; i < n; i++) {
        printf("%s%d", i ? "," : "", v[i]);
    }
    printf(json ? "]" : "");
}

/* "1,2,3" into buf (cut at its size). */
static void int_list_text(char *buf, size_t size, const int32_t *v, int32_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%d", i ? "," : "", v[i]);
        used += w > 0 ? (size_t)w : 0;
    }
}

static void describe_json(const struct kafka_metadata_response_topic *t,
                          const struct kafka_describe_configs_response_result *c)
{
    printf("{\"name\":");
    output_json_string(stdout, t->name);
    printf(",\"partitions\":[");
    for (int32_t i = 0; i < t->partitions_count; i++) {
        const struct kafka_metadata_response_partition *p = &t->partitions[i];
        printf("%s{\"partition\":%d,\"leader\":%d,\"leader_epoch\":%d,\"replicas\":", i ? "," : "",
               p->partition_index, p->leader_id, p->leader_epoch);
        print_int_list(p->replica_nodes, p->replica_nodes_count, true);
        printf(",\"isr\":");
        print_int_list(p->isr_nodes, p->isr_nodes_count, true);
        printf(",\"under_replicated\":%s,\"offline\":%s}",
               p->isr_nodes_count < p->replica_nodes_count ? "true" : "false",
               p->leader_id < 0 ? "true" : "false");
    }
    printf("],\"configs\":{");
    for (int32_t i = 0; i < c->configs_count; i++) {
        printf("%s", i ? "," : "");
        output_json_string(stdout, c->configs[i].name);
        printf(":{\"value\":");
        output_json_string(stdout, c->configs[i].value);
        printf(",\"source\":\"%s\"}", source_name(c->configs[i].config_source));
    }
    printf("}}\n");
}

static void describe_table(const struct kafka_metadata_response_topic *t,
                           const struct kafka_describe_configs_response_result *c)
{
    printf("Topic: %s\tPartitionCount: %d\tReplicationFactor: %d\n", t->name, t->partitions_count,
           replication_of(t));
    printf("\n%9s  %6s  %12s  %-16s  %-16s  %s\n", "PARTITION", "LEADER", "LEADER_EPOCH",
           "REPLICAS", "ISR", "STATE");
    for (int32_t i = 0; i < t->partitions_count; i++) {
        const struct kafka_metadata_response_partition *p = &t->partitions[i];
        printf("%9d  %6d  %12d  ", p->partition_index, p->leader_id, p->leader_epoch);
        char replicas[128], isr[128];
        int_list_text(replicas, sizeof replicas, p->replica_nodes, p->replica_nodes_count);
        int_list_text(isr, sizeof isr, p->isr_nodes, p->isr_nodes_count);
        printf("%-16s  %-16s  %s\n", replicas, isr,
               p->leader_id < 0                              ? "offline"
               : p->isr_nodes_count < p->replica_nodes_count ? "under-replicated"
                                                             : "in-sync");
    }
    printf("\n%-32s  %-24s  %s\n", "CONFIG", "VALUE", "SOURCE");
    for (int32_t i = 0; i < c->configs_count; i++) {
        printf("%-32s  %-24s  %s\n", c->configs[i].name,
               c->configs[i].value ? c->configs[i].value : "(null)",
               source_name(c->configs[i].config_source));
    }
}

static int do_describe(struct session *s)
{
    struct kafka_metadata_response md;
    const char *names[1] = {s->o->name};
    if (admin_session_metadata(&s->a, names, 1, &md) != 0) {
        return SLUICECTL_FAILED;
    }
    if (md.topics_count != 1 ||
        report_error(s, "cannot describe topic", md.topics[0].error_code, s->o->name) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_describe_configs_response_result *configs;
    if (describe_configs(s, &configs) != 0) {
        return SLUICECTL_FAILED;
    }
    if (s->a.json) {
        describe_json(&md.topics[0], configs);
    } else {
        describe_table(&md.topics[0], configs);
    }
    return SLUICECTL_OK;
}

enum { OP_SET = 0, OP_DELETE = 1 };

static int do_alter_config(struct session *s)
{
    size_t n = s->o->n_configs + s->o->n_deletes;
    if (n == 0) {
        snprintf(s->a.err, sizeof s->a.err, "alter-config needs --config k=v or --delete-config k");
        return SLUICECTL_USAGE;
    }
    struct kafka_create_topics_request_creatable_topic_config sets[MAX_CONFIGS];
    if (split_configs(s, sets) != 0) {
        return SLUICECTL_USAGE;
    }
    struct kafka_incremental_alter_configs_request_alterable_config cfgs[2 * MAX_CONFIGS];
    for (size_t i = 0; i < n; i++) {
        bool set = i < s->o->n_configs;
        cfgs[i].name = set ? sets[i].name : s->o->deletes[i - s->o->n_configs];
        cfgs[i].value = set ? sets[i].value : NULL;
        cfgs[i].config_operation = set ? OP_SET : OP_DELETE;
    }
    struct kafka_incremental_alter_configs_request_alter_configs_resource res;
    kafka_incremental_alter_configs_request_alter_configs_resource_init(&res);
    res.resource_type = RESOURCE_TOPIC;
    res.resource_name = s->o->name;
    res.configs = cfgs;
    res.configs_count = (int32_t)n;
    struct kafka_incremental_alter_configs_request req;
    kafka_incremental_alter_configs_request_init(&req);
    req.resources = &res;
    req.resources_count = 1;
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_incremental_alter_configs_request_encode(&w, 0, &req);
    kafka_writer_free(&w);
    struct kafka_incremental_alter_configs_response resp;
    struct kafka_reader r;
    if (rv != 0 || admin_session_call(&s->a, KAFKA_API_INCREMENTAL_ALTER_CONFIGS, 0, &r) != 0) {
        return SLUICECTL_FAILED;
    }
    if (kafka_incremental_alter_configs_response_decode(&r, 0, &resp) != 0 ||
        resp.responses_count != 1) {
        decode_failed(s, "alter configs");
        return SLUICECTL_FAILED;
    }
    if (report_error(s, "cannot alter topic config", resp.responses[0].error_code,
                     resp.responses[0].error_message) != 0) {
        return SLUICECTL_FAILED;
    }
    if (s->a.json) {
        printf("{\"topic\":");
        output_json_string(stdout, s->o->name);
        printf(",\"altered\":%zu}\n", n);
    } else {
        printf("Altered %zu config(s) of topic %s\n", n, s->o->name);
    }
    return SLUICECTL_OK;
}

/* ---- command line ---- */

enum { OPT_IF_NOT_EXISTS = 256, OPT_IF_EXISTS, OPT_DELETE_CONFIG };

static const struct option long_options[] = {
    ADMIN_SESSION_OPTIONS,
    {"partitions", required_argument, NULL, 'p'},
    {"replication-factor", required_argument, NULL, 'r'},
    {"config", required_argument, NULL, 'c'},
    {"delete-config", required_argument, NULL, OPT_DELETE_CONFIG},
    {"if-not-exists", no_argument, NULL, OPT_IF_NOT_EXISTS},
    {"if-exists", no_argument, NULL, OPT_IF_EXISTS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_int(const char *text, const char *what, int32_t min, int32_t *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < min || v > INT32_MAX) {
        fprintf(stderr, "sluicectl: bad %s '%s'\n", what, text);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

static int add_item(const char **list, size_t *n, const char *item)
{
    if (*n == MAX_CONFIGS) {
        fprintf(stderr, "sluicectl: at most %d configs\n", MAX_CONFIGS);
        return -1;
    }
    list[(*n)++] = item;
    return 0;
}

static int take_option(void *cmd, int c, const char *arg)
{
    struct topic_opts *o = cmd;
    switch (c) {
    case 'p':
        return parse_int(arg, "--partitions", 1, &o->partitions);
    case 'r':
        return parse_int(arg, "--replication-factor", 1, &o->replication_factor);
    case 'c':
        return add_item(o->configs, &o->n_configs, arg);
    case OPT_DELETE_CONFIG:
        return add_item(o->deletes, &o->n_deletes, arg);
    case OPT_IF_NOT_EXISTS:
        o->if_not_exists = true;
        return 0;
    case OPT_IF_EXISTS:
        o->if_exists = true;
        return 0;
    default:
        return -1;
    }
}

/* Returns 0, 1 for --help, or -1 on a usage error. */
static int parse_args(int argc, char **argv, struct admin_session *a, struct topic_opts *o,
                      const char **command)
{
    memset(o, 0, sizeof *o);
    o->partitions = -1;
    o->replication_factor = -1;
    int rv = admin_session_getopt(a, argc, argv, "b:p:r:c:h", long_options, take_option, o);
    if (rv != 0) {
        return rv;
    }
    int rest = argc - optind;
    *command = rest > 0 ? argv[optind] : NULL;
    o->name = rest > 1 ? argv[optind + 1] : NULL;
    bool needs_name = *command != NULL && strcmp(*command, "list") != 0;
    if (*command == NULL || rest > 2 || (needs_name && o->name == NULL) ||
        (!needs_name && rest > 1)) {
        fprintf(stderr, "sluicectl: topic: expected a command%s\n",
                needs_name ? " and a topic name" : "");
        return -1;
    }
    return 0;
}

static int run(struct session *s, const char *command)
{
    if (strcmp(command, "list") == 0) {
        return do_list(s);
    }
    if (strcmp(command, "describe") == 0) {
        return do_describe(s);
    }
    int rv = connect_controller(s);
    if (rv != 0) {
        return rv == -2 ? SLUICECTL_CONNECT : SLUICECTL_FAILED;
    }
    if (strcmp(command, "create") == 0) {
        return do_create(s);
    }
    if (strcmp(command, "delete") == 0) {
        return do_delete(s);
    }
    return do_alter_config(s);
}

int topic_cmd_main(int argc, char **argv)
{
    struct session s;
    struct topic_opts o;
    admin_session_init(&s.a);
    s.o = &o;
    const char *command;
    int rv = parse_args(argc, argv, &s.a, &o, &command);
    if (rv != 0) {
        topic_cmd_usage();
        return rv > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    static const char *const known[] = {"create", "list", "describe", "delete", "alter-config"};
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        ok |= strcmp(command, known[i]) == 0;
    }
    if (!ok) {
        fprintf(stderr, "sluicectl: unknown topic command '%s'\n", command);
        topic_cmd_usage();
        return SLUICECTL_USAGE;
    }
    rv = admin_session_open(&s.a, ARENA_LIMIT);
    if (rv == SLUICECTL_OK) {
        rv = run(&s, command);
        if (rv != SLUICECTL_OK) {
            fprintf(stderr, "sluicectl: %s\n", s.a.err);
        }
    }
    admin_session_close(&s.a);
    return rv;
}
