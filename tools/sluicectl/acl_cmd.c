/* sluicectl acl commands; see acl_cmd.h. */
#include "tools/sluicectl/acl_cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"
#include "tools/sluicectl/admin_session.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT (16u << 20)
#define ACL_VERSION 1 /* the first with pattern types */
#define MAX_ITEMS   64

/* Kafka's codes (ResourceType, PatternType, AclOperation, AclPermissionType). */
enum { RES_ANY = 1, RES_TOPIC = 2, RES_GROUP = 3, RES_CLUSTER = 4, RES_TXN = 5 };
enum { PAT_ANY = 1, PAT_MATCH = 2, PAT_LITERAL = 3, PAT_PREFIXED = 4 };
enum { OP_ANY = 1 };
enum { PERM_ANY = 1, PERM_DENY = 2, PERM_ALLOW = 3 };

#define CLUSTER_NAME "kafka-cluster"

static const char *const OPERATIONS[] = {
    NULL,
    "Any",
    "All",
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "ClusterAction",
    "DescribeConfigs",
    "AlterConfigs",
    "IdempotentWrite",
};
#define N_OPERATIONS ((int)(sizeof OPERATIONS / sizeof OPERATIONS[0]))

static const char *const RESOURCES[] = {NULL,    "Any",     "Topic",
                                        "Group", "Cluster", "TransactionalId"};
static const char *const PATTERNS[] = {NULL, "ANY", "MATCH", "LITERAL", "PREFIXED"};
static const char *const PERMISSIONS[] = {NULL, "ANY", "DENY", "ALLOW"};

static const char *name_of(const char *const *names, int n, int code)
{
    return code > 0 && code < n && names[code] != NULL ? names[code] : "UNKNOWN";
}

struct resource {
    int8_t type;
    const char *name;
};

struct principal {
    const char *name;
    int8_t permission;
};

struct asession {
    struct admin_session a;
    const char *command;
    struct resource resources[MAX_ITEMS];
    int n_resources;
    struct principal principals[MAX_ITEMS];
    int n_principals;
    int8_t operations[MAX_ITEMS];
    int n_operations;
    const char *hosts[MAX_ITEMS];
    int n_hosts;
    int8_t pattern; /* 0: the command's default */
};

void acl_cmd_usage(void)
{
    fprintf(stderr,
            "usage: sluicectl acl <create|list|delete> --bootstrap-server host:port [options]\n"
            "\n"
            "commands (kafka-acls.sh --add, --list, --remove):\n"
            "  create   add a binding per resource x operation x principal x host\n"
            "  list     the bindings matching the options (none: every binding)\n"
            "  delete   remove the bindings matching the options; prints what went\n"
            "\n"
            "resources (repeatable; list and delete: none means any):\n"
            "  --topic NAME  --group NAME  --transactional-id NAME  --cluster\n"
            "  --resource-pattern-type literal|prefixed|any|match\n"
            "                (create: literal or prefixed, default literal; list and\n"
            "                delete: default any, match = every pattern that applies)\n"
            "principals and hosts (repeatable):\n"
            "  --allow-principal User:NAME   --deny-principal User:NAME\n"
            "  --principal User:NAME         (list and delete: either permission)\n"
            "  --host HOST                   (default *: every host)\n"
            "  --operation OP                Read, Write, Create, Delete, Alter, Describe,\n"
            "                                ClusterAction, DescribeConfigs, AlterConfigs,\n"
            "                                IdempotentWrite or All (list and delete:\n"
            "                                default any)\n"
            "\n"
            "options:\n" ADMIN_SESSION_OPTIONS_HELP "\n"
            "exit codes: 0 ok, 1 operation failed, 2 usage, 3 cannot connect\n");
}

/* ---- encoding a binding for humans and for --json ---- */

static void print_binding(struct asession *s, bool *first, int8_t rtype, const char *rname,
                          int8_t pattern, const char *principal, const char *host, int8_t op,
                          int8_t perm)
{
    const char *r = name_of(RESOURCES, 6, rtype), *p = name_of(PATTERNS, 5, pattern),
               *o = name_of(OPERATIONS, N_OPERATIONS, op), *m = name_of(PERMISSIONS, 4, perm);
    if (!s->a.json) {
        printf("%s:%s:%s\t%s\thost=%s\t%s\t%s\n", r, p, rname ? rname : "", principal, host, o, m);
        return;
    }
    printf("%s{\"resource_type\":\"%s\",\"resource_name\":", *first ? "" : ",", r);
    output_json_string(stdout, rname ? rname : "");
    printf(",\"pattern_type\":\"%s\",\"principal\":", p);
    output_json_string(stdout, principal);
    printf(",\"host\":");
    output_json_string(stdout, host);
    printf(",\"operation\":\"%s\",\"permission\":\"%s\"}", o, m);
    *first = false;
}

/* ---- one request, one answer ---- */

/* Send the request encoded in the session (`encoded`: the encoder's status)
 * and position `r` on the answer: SLUICECTL_OK or SLUICECTL_FAILED. */
static int exchange(struct asession *s, struct kafka_writer *w, int encoded, int16_t api,
                    struct kafka_reader *r)
{
    kafka_writer_free(w);
    if (encoded != 0 || admin_session_call(&s->a, api, ACL_VERSION, r) != 0) {
        return SLUICECTL_FAILED;
    }
    return SLUICECTL_OK;
}

static int undecodable(struct asession *s, int rv)
{
    snprintf(s->a.err, sizeof s->a.err, "cannot decode the answer: %s", kafka_codec_strerror(rv));
    return SLUICECTL_FAILED;
}

/* JSON output is one array of the bindings printed. */
static void json_open(const struct asession *s)
{
    if (s->a.json) {
        printf("[");
    }
}

static void json_close(const struct asession *s)
{
    if (s->a.json) {
        printf("]\n");
    }
}

/* ---- create ---- */

static int do_create(struct asession *s)
{
    if (s->n_resources == 0 || s->n_principals == 0 || s->n_operations == 0) {
        snprintf(s->a.err, sizeof s->a.err,
                 "create needs a resource, an --allow-principal or --deny-principal and an "
                 "--operation");
        return SLUICECTL_USAGE;
    }
    int8_t pattern = s->pattern ? s->pattern : PAT_LITERAL;
    if (pattern != PAT_LITERAL && pattern != PAT_PREFIXED) {
        snprintf(s->a.err, sizeof s->a.err, "create: the pattern type is literal or prefixed");
        return SLUICECTL_USAGE;
    }
    int n_hosts = s->n_hosts ? s->n_hosts : 1;
    size_t total = (size_t)s->n_resources * (size_t)s->n_principals * (size_t)s->n_operations *
                   (size_t)n_hosts;
    struct kafka_create_acls_request_acl_creation *c = calloc(total, sizeof *c);
    if (c == NULL) {
        snprintf(s->a.err, sizeof s->a.err, "out of memory");
        return SLUICECTL_FAILED;
    }
    size_t k = 0;
    for (int r = 0; r < s->n_resources; r++) {
        for (int o = 0; o < s->n_operations; o++) {
            for (int p = 0; p < s->n_principals; p++) {
                for (int h = 0; h < n_hosts; h++, k++) {
                    kafka_create_acls_request_acl_creation_init(&c[k]);
                    c[k].resource_type = s->resources[r].type;
                    c[k].resource_name = s->resources[r].name;
                    c[k].resource_pattern_type =
                        s->resources[r].type == RES_CLUSTER ? PAT_LITERAL : pattern;
                    c[k].principal = s->principals[p].name;
                    c[k].permission_type = s->principals[p].permission;
                    c[k].host = s->n_hosts ? s->hosts[h] : "*";
                    c[k].operation = s->operations[o];
                }
            }
        }
    }
    struct kafka_create_acls_request req;
    kafka_create_acls_request_init(&req);
    req.creations = c;
    req.creations_count = (int32_t)total;
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_create_acls_request_encode(&w, ACL_VERSION, &req);
    struct kafka_reader r;
    if (exchange(s, &w, rv, KAFKA_API_CREATE_ACLS, &r) != SLUICECTL_OK) {
        free(c);
        return SLUICECTL_FAILED;
    }
    struct kafka_create_acls_response resp;
    rv = kafka_create_acls_response_decode(&r, ACL_VERSION, &resp);
    if (rv != 0 || resp.results_count != (int32_t)total) {
        snprintf(s->a.err, sizeof s->a.err, "cannot decode the answer: %s",
                 rv != 0 ? kafka_codec_strerror(rv) : "one result per binding expected");
        free(c);
        return SLUICECTL_FAILED;
    }
    int exit_code = SLUICECTL_OK;
    bool first = true;
    json_open(s);
    for (size_t i = 0; i < total; i++) {
        int16_t e = resp.results[i].error_code;
        if (e != KAFKA_ERROR_NONE) {
            snprintf(s->a.err, sizeof s->a.err, "binding %s:%s for %s: %s%s%s",
                     name_of(RESOURCES, 6, c[i].resource_type), c[i].resource_name, c[i].principal,
                     kafka_error_name(e), resp.results[i].error_message ? ": " : "",
                     resp.results[i].error_message ? resp.results[i].error_message : "");
            fprintf(stderr, "sluicectl: %s\n", s->a.err);
            exit_code = SLUICECTL_FAILED;
            continue;
        }
        if (!s->a.json) {
            printf("created ");
        }
        print_binding(s, &first, c[i].resource_type, c[i].resource_name, c[i].resource_pattern_type,
                      c[i].principal, c[i].host, c[i].operation, c[i].permission_type);
    }
    json_close(s);
    free(c);
    if (exit_code != SLUICECTL_OK) {
        s->a.err[0] = '\0'; /* each failure said already */
    }
    return exit_code;
}

/* ---- filters for list and delete ---- */

/* One filter per resource (or one for any resource) x principal (or any) x
 * operation (or any) x host (or any), written to out[] (cap entries);
 * returns how many, or -1 when there are more than cap (s->a.err says so). */
static int build_filters(struct asession *s, struct kafka_delete_acls_request_filter *out, int cap)
{
    int8_t pattern = s->pattern ? s->pattern : PAT_ANY;
    int nr = s->n_resources ? s->n_resources : 1, np = s->n_principals ? s->n_principals : 1,
        no = s->n_operations ? s->n_operations : 1, nh = s->n_hosts ? s->n_hosts : 1;
    if ((long)nr * np * no * nh > cap) {
        snprintf(s->a.err, sizeof s->a.err, "too many combinations of options (at most %d)", cap);
        return -1;
    }
    int k = 0;
    for (int r = 0; r < nr; r++) {
        for (int p = 0; p < np; p++) {
            for (int o = 0; o < no; o++) {
                for (int h = 0; h < nh; h++, k++) {
                    struct kafka_delete_acls_request_filter *f = &out[k];
                    kafka_delete_acls_request_filter_init(f);
                    f->resource_type_filter = s->n_resources ? s->resources[r].type : RES_ANY;
                    f->resource_name_filter = s->n_resources ? s->resources[r].name : NULL;
                    f->pattern_type_filter = pattern;
                    f->principal_filter = s->n_principals ? s->principals[p].name : NULL;
                    f->permission_type = s->n_principals ? s->principals[p].permission : PERM_ANY;
                    f->host_filter = s->n_hosts ? s->hosts[h] : NULL;
                    f->operation = s->n_operations ? s->operations[o] : OP_ANY;
                }
            }
        }
    }
    return k;
}

/* ---- list ---- */

static int list_one(struct asession *s, const struct kafka_delete_acls_request_filter *f,
                    bool *first)
{
    struct kafka_describe_acls_request req;
    kafka_describe_acls_request_init(&req);
    req.resource_type_filter = f->resource_type_filter;
    req.resource_name_filter = f->resource_name_filter;
    req.pattern_type_filter = f->pattern_type_filter;
    req.principal_filter = f->principal_filter;
    req.host_filter = f->host_filter;
    req.operation = f->operation;
    req.permission_type = f->permission_type;
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_describe_acls_request_encode(&w, ACL_VERSION, &req);
    struct kafka_reader r;
    if (exchange(s, &w, rv, KAFKA_API_DESCRIBE_ACLS, &r) != SLUICECTL_OK) {
        return SLUICECTL_FAILED;
    }
    struct kafka_describe_acls_response resp;
    rv = kafka_describe_acls_response_decode(&r, ACL_VERSION, &resp);
    if (rv != 0) {
        return undecodable(s, rv);
    }
    if (resp.error_code != KAFKA_ERROR_NONE) {
        snprintf(s->a.err, sizeof s->a.err, "cannot list ACLs: %s%s%s",
                 kafka_error_name(resp.error_code), resp.error_message ? ": " : "",
                 resp.error_message ? resp.error_message : "");
        return SLUICECTL_FAILED;
    }
    for (int32_t i = 0; i < resp.resources_count; i++) {
        const struct kafka_describe_acls_response_resource *res = &resp.resources[i];
        for (int32_t k = 0; k < res->acls_count; k++) {
            const struct kafka_describe_acls_response_acl_description *d = &res->acls[k];
            print_binding(s, first, res->resource_type, res->resource_name, res->pattern_type,
                          d->principal, d->host, d->operation, d->permission_type);
        }
    }
    return SLUICECTL_OK;
}

static int do_list(struct asession *s)
{
    struct kafka_delete_acls_request_filter filters[MAX_ITEMS];
    int n = build_filters(s, filters, MAX_ITEMS);
    if (n < 0) {
        return SLUICECTL_USAGE;
    }
    bool first = true;
    json_open(s);
    for (int i = 0; i < n; i++) {
        int rv = list_one(s, &filters[i], &first);
        if (rv != SLUICECTL_OK) {
            return rv;
        }
    }
    json_close(s);
    return SLUICECTL_OK;
}

/* ---- delete ---- */

static int do_delete(struct asession *s)
{
    struct kafka_delete_acls_request_filter filters[MAX_ITEMS];
    int n = build_filters(s, filters, MAX_ITEMS);
    if (n < 0) {
        return SLUICECTL_USAGE;
    }
    struct kafka_delete_acls_request req;
    kafka_delete_acls_request_init(&req);
    req.filters = filters;
    req.filters_count = n;
    struct kafka_writer w;
    admin_session_begin(&s->a, &w);
    int rv = kafka_delete_acls_request_encode(&w, ACL_VERSION, &req);
    struct kafka_reader r;
    if (exchange(s, &w, rv, KAFKA_API_DELETE_ACLS, &r) != SLUICECTL_OK) {
        return SLUICECTL_FAILED;
    }
    struct kafka_delete_acls_response resp;
    rv = kafka_delete_acls_response_decode(&r, ACL_VERSION, &resp);
    if (rv != 0) {
        return undecodable(s, rv);
    }
    int exit_code = SLUICECTL_OK;
    bool first = true;
    json_open(s);
    for (int32_t i = 0; i < resp.filter_results_count; i++) {
        const struct kafka_delete_acls_response_filter_result *fr = &resp.filter_results[i];
        if (fr->error_code != KAFKA_ERROR_NONE) {
            fprintf(stderr, "sluicectl: cannot delete ACLs: %s%s%s\n",
                    kafka_error_name(fr->error_code), fr->error_message ? ": " : "",
                    fr->error_message ? fr->error_message : "");
            exit_code = SLUICECTL_FAILED;
            continue;
        }
        for (int32_t k = 0; k < fr->matching_acls_count; k++) {
            const struct kafka_delete_acls_response_matching_acl *m = &fr->matching_acls[k];
            if (m->error_code != KAFKA_ERROR_NONE) {
                fprintf(stderr, "sluicectl: cannot delete a binding of %s: %s\n", m->resource_name,
                        kafka_error_name(m->error_code));
                exit_code = SLUICECTL_FAILED;
                continue;
            }
            if (!s->a.json) {
                printf("deleted ");
            }
            print_binding(s, &first, m->resource_type, m->resource_name, m->pattern_type,
                          m->principal, m->host, m->operation, m->permission_type);
        }
    }
    json_close(s);
    return exit_code;
}

/* ---- options ---- */

enum {
    OPT_TOPIC = 256,
    OPT_GROUP,
    OPT_TXN,
    OPT_CLUSTER,
    OPT_PATTERN,
    OPT_ALLOW,
    OPT_DENY,
    OPT_PRINCIPAL,
    OPT_HOST,
    OPT_OPERATION,
};

static const struct option long_options[] = {
    ADMIN_SESSION_OPTIONS,
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"group", required_argument, NULL, OPT_GROUP},
    {"transactional-id", required_argument, NULL, OPT_TXN},
    {"cluster", no_argument, NULL, OPT_CLUSTER},
    {"resource-pattern-type", required_argument, NULL, OPT_PATTERN},
    {"allow-principal", required_argument, NULL, OPT_ALLOW},
    {"deny-principal", required_argument, NULL, OPT_DENY},
    {"principal", required_argument, NULL, OPT_PRINCIPAL},
    {"host", required_argument, NULL, OPT_HOST},
    {"operation", required_argument, NULL, OPT_OPERATION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int8_t operation_from_name(const char *name)
{
    for (int i = 2; i < N_OPERATIONS; i++) { /* "Any" is not an operation to grant */
        if (strcasecmp(name, OPERATIONS[i]) == 0) {
            return (int8_t)i;
        }
    }
    return 0;
}

static int8_t pattern_from_name(const char *name)
{
    for (int i = 1; i < 5; i++) {
        if (strcasecmp(name, PATTERNS[i]) == 0) {
            return (int8_t)i;
        }
    }
    return 0;
}

static int add_resource(struct asession *s, int8_t type, const char *name)
{
    if (s->n_resources == MAX_ITEMS) {
        fprintf(stderr, "sluicectl: acl: at most %d resources\n", MAX_ITEMS);
        return -1;
    }
    s->resources[s->n_resources++] = (struct resource){type, name};
    return 0;
}

static int add_principal(struct asession *s, const char *name, int8_t permission)
{
    const char *colon = strchr(name, ':');
    if (colon == NULL || colon == name || colon[1] == '\0') {
        fprintf(stderr, "sluicectl: acl: principal '%s' is not of the form User:NAME\n", name);
        return -1;
    }
    if (s->n_principals == MAX_ITEMS) {
        fprintf(stderr, "sluicectl: acl: at most %d principals\n", MAX_ITEMS);
        return -1;
    }
    s->principals[s->n_principals++] = (struct principal){name, permission};
    return 0;
}

static int take_option(void *cmd, int c, const char *arg)
{
    struct asession *s = cmd;
    switch (c) {
    case OPT_TOPIC:
        return add_resource(s, RES_TOPIC, arg);
    case OPT_GROUP:
        return add_resource(s, RES_GROUP, arg);
    case OPT_TXN:
        return add_resource(s, RES_TXN, arg);
    case OPT_CLUSTER:
        return add_resource(s, RES_CLUSTER, CLUSTER_NAME);
    case OPT_PATTERN:
        s->pattern = pattern_from_name(arg);
        if (s->pattern == 0) {
            fprintf(stderr, "sluicectl: acl: --resource-pattern-type is literal, prefixed, "
                            "any or match\n");
            return -1;
        }
        return 0;
    case OPT_ALLOW:
        return add_principal(s, arg, PERM_ALLOW);
    case OPT_DENY:
        return add_principal(s, arg, PERM_DENY);
    case OPT_PRINCIPAL:
        return add_principal(s, arg, PERM_ANY);
    case OPT_HOST:
        if (s->n_hosts == MAX_ITEMS) {
            fprintf(stderr, "sluicectl: acl: at most %d hosts\n", MAX_ITEMS);
            return -1;
        }
        s->hosts[s->n_hosts++] = arg;
        return 0;
    case OPT_OPERATION:
        if (s->n_operations == MAX_ITEMS) {
            fprintf(stderr, "sluicectl: acl: at most %d operations\n", MAX_ITEMS);
            return -1;
        }
        s->operations[s->n_operations] = operation_from_name(arg);
        if (s->operations[s->n_operations] == 0) {
            fprintf(stderr, "sluicectl: acl: unknown operation '%s'\n", arg);
            return -1;
        }
        s->n_operations++;
        return 0;
    default:
        return -1;
    }
}

static int parse_args(int argc, char **argv, struct asession *s)
{
    int rv = admin_session_getopt(&s->a, argc, argv, "b:h", long_options, take_option, s);
    if (rv != 0) {
        return rv;
    }
    s->command = optind < argc ? argv[optind] : NULL;
    if (s->command == NULL || argc - optind != 1 ||
        (strcmp(s->command, "create") != 0 && strcmp(s->command, "list") != 0 &&
         strcmp(s->command, "delete") != 0)) {
        fprintf(stderr, "sluicectl: acl: expected create, list or delete\n");
        return -1;
    }
    if (strcmp(s->command, "create") != 0) {
        return 0;
    }
    for (int i = 0; i < s->n_principals; i++) {
        if (s->principals[i].permission == PERM_ANY) {
            fprintf(stderr, "sluicectl: acl: create takes --allow-principal or "
                            "--deny-principal, not --principal\n");
            return -1;
        }
    }
    return 0;
}

int acl_cmd_main(int argc, char **argv)
{
    struct asession *s = calloc(1, sizeof *s);
    if (s == NULL) {
        fprintf(stderr, "sluicectl: out of memory\n");
        return SLUICECTL_FAILED;
    }
    admin_session_init(&s->a);
    int rv = parse_args(argc, argv, s);
    if (rv != 0) {
        acl_cmd_usage();
        free(s);
        return rv > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    rv = admin_session_open(&s->a, ARENA_LIMIT);
    if (rv == SLUICECTL_OK) {
        if (strcmp(s->command, "create") == 0) {
            rv = do_create(s);
        } else if (strcmp(s->command, "list") == 0) {
            rv = do_list(s);
        } else {
            rv = do_delete(s);
        }
        if (rv != SLUICECTL_OK && s->a.err[0] != '\0') {
            fprintf(stderr, "sluicectl: %s\n", s->a.err);
        }
    }
    admin_session_close(&s->a);
    free(s);
    return rv;
}
