/* sluicectl group commands; see group_cmd.h. */
#include "tools/sluicectl/group_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bigendian.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"
#include "tools/sluicectl/group_reset.h"
#include "tools/sluicectl/group_session.h"
#include "tools/sluicectl/kafka_client.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT (64u << 20)

void group_cmd_usage(void)
{
    fprintf(stderr,
            "usage: sluicectl group <command> --bootstrap-server host:port [--json]\n"
            "                       [--command-config FILE (security.protocol, sasl.*, ssl.*)]\n"
            "\n"
            "commands:\n"
            "  list             every group, with its state and protocol type\n"
            "  describe GROUP   state, protocol, members and, per partition, the committed\n"
            "                   offset, the end offset and the lag\n"
            "  delete GROUP     a group without members, with its committed offsets\n"
            "  reset-offsets GROUP (--topic T[:P,P...] ... | --all-topics)\n"
            "                (--to-earliest | --to-latest | --to-offset N |\n"
            "                 --to-datetime YYYY-MM-DDTHH:MM:SS[.sss] (UTC) | --shift-by N)\n"
            "                [--dry-run (default) | --execute]\n"
            "                   new committed offsets for a group without active members,\n"
            "                   clamped to each partition's earliest..latest offsets\n"
            "\n"
            "exit codes: 0 ok, 1 operation failed, 2 usage, 3 cannot connect\n");
}

/* ---- list ---- */

struct listed {
    const char *id, *type, *state;
};

static int compare_listed(const void *a, const void *b)
{
    return strcmp(((const struct listed *)a)->id, ((const struct listed *)b)->id);
}

static int do_list(struct admin_session *s)
{
    struct kafka_metadata_response md;
    if (admin_session_metadata(s, (const char *[]){NULL}, 0, &md) != 0) {
        return SLUICECTL_FAILED;
    }
    struct listed *all = NULL;
    size_t n = 0;
    for (int32_t b = 0; b < md.brokers_count; b++) {
        if (admin_session_reconnect(s, md.brokers[b].host, md.brokers[b].port) != 0) {
            free(all);
            return SLUICECTL_CONNECT;
        }
        struct kafka_list_groups_request req;
        kafka_list_groups_request_init(&req);
        req.states_filter_count = 0;
        struct kafka_writer w;
        admin_session_begin(s, &w);
        int rv = kafka_list_groups_request_encode(&w, 4, &req);
        kafka_writer_free(&w);
        struct kafka_reader r;
        struct kafka_list_groups_response resp;
        if (rv != 0 || admin_session_call(s, KAFKA_API_LIST_GROUPS, 4, &r) != 0 ||
            kafka_list_groups_response_decode(&r, 4, &resp) != 0) {
            free(all);
            return SLUICECTL_FAILED;
        }
        struct listed *grown = realloc(all, (n + (size_t)resp.groups_count + 1) * sizeof *all);
        if (grown == NULL) {
            free(all);
            return SLUICECTL_FAILED;
        }
        all = grown;
        for (int32_t i = 0; i < resp.groups_count; i++) {
            all[n++] = (struct listed){resp.groups[i].group_id, resp.groups[i].protocol_type,
                                       resp.groups[i].group_state};
        }
    }
    if (n > 1) {
        qsort(all, n, sizeof *all, compare_listed);
    }
    if (s->json) {
        printf("[");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"group\":", i ? "," : "");
            output_json_string(stdout, all[i].id);
            printf(",\"state\":");
            output_json_string(stdout, all[i].state);
            printf(",\"protocol_type\":");
            output_json_string(stdout, all[i].type);
            printf("}");
        }
        printf("]\n");
    } else {
        int width = 5;
        for (size_t i = 0; i < n; i++) {
            int len = (int)strlen(all[i].id);
            width = len > width ? len : width;
        }
        printf("%-*s  %-20s  %s\n", width, "GROUP", "STATE", "PROTOCOL-TYPE");
        for (size_t i = 0; i < n; i++) {
            printf("%-*s  %-20s  %s\n", width, all[i].id, all[i].state, all[i].type);
        }
    }
    free(all);
    return SLUICECTL_OK;
}

/* ---- the coordinator ---- */

static int do_delete(struct admin_session *s, const char *group)
{
    if (admin_session_connect_coordinator(s, 0, group) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_delete_groups_request req;
    kafka_delete_groups_request_init(&req);
    req.groups_names = &group;
    req.groups_names_count = 1;
    struct kafka_writer w;
    admin_session_begin(s, &w);
    int rv = kafka_delete_groups_request_encode(&w, 2, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    struct kafka_delete_groups_response resp;
    if (rv != 0 || admin_session_call(s, KAFKA_API_DELETE_GROUPS, 2, &r) != 0 ||
        kafka_delete_groups_response_decode(&r, 2, &resp) != 0 || resp.results_count != 1) {
        return SLUICECTL_FAILED;
    }
    if (resp.results[0].error_code != KAFKA_ERROR_NONE) {
        admin_session_fail(s, "delete group", resp.results[0].error_code);
        return SLUICECTL_FAILED;
    }
    if (s->json) {
        printf("{\"deleted\":");
        output_json_string(stdout, group);
        printf("}\n");
    } else {
        printf("deleted group %s\n", group);
    }
    return SLUICECTL_OK;
}

/* ---- describe ---- */

/* A consumer-protocol assignment as "topic:0,1 other:3" (bounded; "" if not one). */
static void assignment_text(const struct kafka_bytes *a, char *out, size_t size)
{
    const uint8_t *p = a->data;
    size_t len = a->len > 0 ? (size_t)a->len : 0, at = 6, used = 0;
    out[0] = '\0';
    if (len < 6) {
        return;
    }
    int32_t topics = (int32_t)be32_load(p + 2);
    for (int32_t t = 0; t < topics && len - at >= 2; t++) {
        size_t sl = be16_load(p + at);
        at += 2;
        if (len - at < sl + 4) {
            return;
        }
        used += (size_t)snprintf(out + used, size - used, "%s%.*s:", t ? " " : "", (int)sl,
                                 (const char *)p + at);
        at += sl;
        int32_t np = (int32_t)be32_load(p + at);
        at += 4;
        for (int32_t i = 0; i < np && len - at >= 4 && used < size; i++, at += 4) {
            used += (size_t)snprintf(out + used, size - used, "%s%d", i ? "," : "",
                                     (int)be32_load(p + at));
        }
        if (used >= size) {
            out[size - 1] = '\0';
            return;
        }
    }
}

static void print_members(struct admin_session *s,
                          const struct kafka_describe_groups_response_described_group *g)
{
    char asg[1024];
    if (s->json) {
        printf(",\"members\":[");
        for (int32_t i = 0; i < g->members_count; i++) {
            const struct kafka_describe_groups_response_described_group_member *m = &g->members[i];
            assignment_text(&m->member_assignment, asg, sizeof asg);
            printf("%s{\"member_id\":", i ? "," : "");
            output_json_string(stdout, m->member_id);
            printf(",\"client_id\":");
            output_json_string(stdout, m->client_id);
            printf(",\"host\":");
            output_json_string(stdout, m->client_host);
            printf(",\"assignment\":");
            output_json_string(stdout, asg);
            printf("}");
        }
        printf("]");
        return;
    }
    printf("\n%-50s  %-20s  %-16s  %s\n", "MEMBER", "CLIENT-ID", "HOST", "ASSIGNMENT");
    for (int32_t i = 0; i < g->members_count; i++) {
        const struct kafka_describe_groups_response_described_group_member *m = &g->members[i];
        assignment_text(&m->member_assignment, asg, sizeof asg);
        printf("%-50s  %-20s  %-16s  %s\n", m->member_id, m->client_id, m->client_host, asg);
    }
}

static void print_offsets(struct admin_session *s, const struct kafka_offset_fetch_response *off,
                          const struct kafka_metadata_response *md)
{
    bool first = true;
    printf(s->json ? ",\"offsets\":[" : "\n%-30s  %9s  %14s  %14s  %10s\n", "TOPIC", "PARTITION",
           "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG");
    for (int32_t t = 0; t < off->topics_count; t++) {
        const struct kafka_offset_fetch_response_topic *ot = &off->topics[t];
        for (int32_t p = 0; p < ot->partitions_count; p++) {
            const struct kafka_offset_fetch_response_partition *op = &ot->partitions[p];
            int64_t end = admin_session_list_offset(s, md, ot->name, op->partition_index, -1);
            int64_t lag = end >= 0 && op->committed_offset >= 0 ? end - op->committed_offset : -1;
            if (s->json) {
                printf("%s{\"topic\":", first ? "" : ",");
                output_json_string(stdout, ot->name);
                printf(",\"partition\":%d,\"committed\":%lld,\"end\":%lld,\"lag\":%lld}",
                       op->partition_index, (long long)op->committed_offset, (long long)end,
                       (long long)lag);
            } else {
                printf("%-30s  %9d  %14lld  %14lld  %10lld\n", ot->name, op->partition_index,
                       (long long)op->committed_offset, (long long)end, (long long)lag);
            }
            first = false;
        }
    }
    if (s->json) {
        printf("]");
    }
}

static int do_describe(struct admin_session *s, const char *group)
{
    struct kafka_metadata_response md;
    if (admin_session_metadata(s, NULL, -1, &md) != 0 ||
        admin_session_connect_coordinator(s, 0, group) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_describe_groups_response_described_group *g;
    struct kafka_offset_fetch_response off;
    if (group_session_describe(s, group, &g) != 0 || group_session_committed(s, group, &off) != 0) {
        return SLUICECTL_FAILED;
    }
    if (strcmp(g->group_state, "Dead") == 0 && off.topics_count == 0) {
        snprintf(s->err, sizeof s->err, "group %s does not exist", group);
        return SLUICECTL_FAILED;
    }
    if (s->json) {
        printf("{\"group\":");
        output_json_string(stdout, group);
        printf(",\"state\":");
        output_json_string(stdout, g->group_state);
        printf(",\"protocol_type\":");
        output_json_string(stdout, g->protocol_type);
        printf(",\"protocol\":");
        output_json_string(stdout, g->protocol_data);
    } else {
        printf("GROUP %s  STATE %s  PROTOCOL %s/%s\n", group, g->group_state,
               g->protocol_type[0] ? g->protocol_type : "-",
               g->protocol_data[0] ? g->protocol_data : "-");
    }
    print_members(s, g);
    print_offsets(s, &off, &md);
    printf(s->json ? "}\n" : "");
    return SLUICECTL_OK;
}

/* ---- command line ---- */

/* OPT_RESET + enum group_reset_to for the --to-* choices; the rest above them. */
enum { OPT_RESET = 256, OPT_TOPIC = 512, OPT_ALL_TOPICS, OPT_DRY_RUN, OPT_EXECUTE };

static const struct option long_options[] = {
    ADMIN_SESSION_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"all-topics", no_argument, NULL, OPT_ALL_TOPICS},
    {"to-earliest", no_argument, NULL, OPT_RESET + GROUP_RESET_EARLIEST},
    {"to-latest", no_argument, NULL, OPT_RESET + GROUP_RESET_LATEST},
    {"to-offset", required_argument, NULL, OPT_RESET + GROUP_RESET_OFFSET},
    {"to-datetime", required_argument, NULL, OPT_RESET + GROUP_RESET_DATETIME},
    {"shift-by", required_argument, NULL, OPT_RESET + GROUP_RESET_SHIFT},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"execute", no_argument, NULL, OPT_EXECUTE},
    {NULL, 0, NULL, 0},
};

/* One --to-* choice; its value (an offset, a time or a shift) parsed. */
static int parse_reset_option(int c, const char *arg, struct group_reset_spec *spec)
{
    enum group_reset_to to = (enum group_reset_to)(c - OPT_RESET);
    if (spec->to != GROUP_RESET_NONE && spec->to != to) {
        fprintf(stderr, "sluicectl: give one of --to-earliest, --to-latest, --to-offset, "
                        "--to-datetime, --shift-by\n");
        return -1;
    }
    spec->to = to;
    if (to == GROUP_RESET_DATETIME) {
        if (group_reset_parse_datetime(arg, &spec->value) != 0) {
            fprintf(stderr, "sluicectl: --to-datetime %s: expected YYYY-MM-DDTHH:MM:SS[.sss]\n",
                    arg);
            return -1;
        }
    } else if (to == GROUP_RESET_OFFSET || to == GROUP_RESET_SHIFT) {
        char *end;
        errno = 0;
        spec->value = strtoll(arg, &end, 10);
        if (errno != 0 || end == arg || *end != '\0' ||
            (to == GROUP_RESET_OFFSET && spec->value < 0)) {
            fprintf(stderr, "sluicectl: %s %s: expected a%s number\n",
                    to == GROUP_RESET_OFFSET ? "--to-offset" : "--shift-by", arg,
                    to == GROUP_RESET_OFFSET ? " non-negative" : "n integer");
            return -1;
        }
    }
    return 0;
}

static int parse_reset_args(int c, const char *arg, struct group_reset_spec *spec)
{
    switch (c) {
    case OPT_TOPIC:
        if (spec->n_topics == GROUP_RESET_MAX_TOPICS) {
            fprintf(stderr, "sluicectl: at most %d --topic options\n", GROUP_RESET_MAX_TOPICS);
            return -1;
        }
        spec->topics[spec->n_topics++] = arg;
        return 0;
    case OPT_ALL_TOPICS:
        spec->all_topics = true;
        return 0;
    case OPT_DRY_RUN:
        spec->execute = false;
        return 0;
    case OPT_EXECUTE:
        spec->execute = true;
        return 0;
    default:
        return parse_reset_option(c, arg, spec);
    }
}

/* What the options of reset-offsets fill in, and whether any was given. */
struct reset_args {
    struct group_reset_spec *spec;
    bool given;
};

static int take_option(void *cmd, int c, const char *arg)
{
    struct reset_args *ra = cmd;
    if (c < OPT_RESET || parse_reset_args(c, arg, ra->spec) != 0) {
        return -1;
    }
    ra->given = true;
    return 0;
}

static int parse_args(int argc, char **argv, struct admin_session *s, const char **command,
                      const char **group, struct group_reset_spec *spec)
{
    struct reset_args ra = {spec, false};
    int rv = admin_session_getopt(s, argc, argv, "b:h", long_options, take_option, &ra);
    if (rv != 0) {
        return rv;
    }
    int rest = argc - optind;
    *command = rest > 0 ? argv[optind] : NULL;
    *group = rest > 1 ? argv[optind + 1] : NULL;
    bool list = *command != NULL && strcmp(*command, "list") == 0;
    bool reset = *command != NULL && strcmp(*command, "reset-offsets") == 0;
    bool named = *command != NULL &&
                 (strcmp(*command, "describe") == 0 || strcmp(*command, "delete") == 0 || reset);
    if ((!list && !named) || (list && rest != 1) || (named && rest != 2)) {
        fprintf(stderr, "sluicectl: group: expected list, describe GROUP, delete GROUP or "
                        "reset-offsets GROUP\n");
        return -1;
    }
    if (ra.given && !reset) {
        fprintf(stderr, "sluicectl: --topic, --to-* and --execute are reset-offsets options\n");
        return -1;
    }
    if (reset && (spec->to == GROUP_RESET_NONE || (spec->n_topics == 0) == !spec->all_topics)) {
        fprintf(stderr, "sluicectl: reset-offsets needs one --to-* option and either --topic "
                        "or --all-topics\n");
        return -1;
    }
    return 0;
}

int group_cmd_main(int argc, char **argv)
{
    struct admin_session s;
    admin_session_init(&s);
    const char *command, *group;
    struct group_reset_spec spec;
    memset(&spec, 0, sizeof spec);
    int rv = parse_args(argc, argv, &s, &command, &group, &spec);
    if (rv != 0) {
        group_cmd_usage();
        return rv > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    rv = admin_session_open(&s, ARENA_LIMIT);
    if (rv == SLUICECTL_OK) {
        if (strcmp(command, "list") == 0) {
            rv = do_list(&s);
        } else if (strcmp(command, "describe") == 0) {
            rv = do_describe(&s, group);
        } else if (strcmp(command, "reset-offsets") == 0) {
            rv = group_reset_run(&s, group, &spec);
        } else {
            rv = do_delete(&s, group);
        }
        if (rv != SLUICECTL_OK) {
            fprintf(stderr, "sluicectl: %s\n", s.err);
        }
    }
    admin_session_close(&s);
    return rv;
}
