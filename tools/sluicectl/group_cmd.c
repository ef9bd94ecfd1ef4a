/* sluicectl group commands; see group_cmd.h. */
#include "tools/sluicectl/group_cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bigendian.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"
#include "tools/sluicectl/kafka_client.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT        (64u << 20)
#define DEFAULT_TIMEOUT_MS 10000

struct gsession {
    const char *bootstrap, *group;
    bool json;
    int timeout_ms;
    struct kafka_client client;
    struct kafka_arena arena;
    struct buf body, response;
    char err[512];
};

void group_cmd_usage(void)
{
    fprintf(stderr,
            "usage: sluicectl group <command> --bootstrap-server host:port [--json]\n"
            "\n"
            "commands:\n"
            "  list             every group, with its state and protocol type\n"
            "  describe GROUP   state, protocol, members and, per partition, the committed\n"
            "                   offset, the end offset and the lag\n"
            "  delete GROUP     a group without members, with its committed offsets\n"
            "\n"
            "exit codes: 0 ok, 1 operation failed, 2 usage, 3 cannot connect\n");
}

/* Send the encoded body and position a reader on the answer. */
static int exchange(struct gsession *s, int16_t api, int16_t version, struct kafka_reader *r)
{
    if (kafka_client_call(&s->client, api, version, &s->body, &s->response, s->err,
                          sizeof s->err) != 0) {
        return -1;
    }
    kafka_reader_init(r, s->response.data, s->response.len, &s->arena);
    return 0;
}

static int failed(struct gsession *s, const char *what, int16_t code)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, kafka_error_name(code));
    return -1;
}

static int reconnect(struct gsession *s, const char *host, int port)
{
    struct kafka_client c;
    if (kafka_client_connect_to(&c, host, port, s->timeout_ms, s->err, sizeof s->err) != 0) {
        return -1;
    }
    kafka_client_close(&s->client);
    s->client = c;
    return 0;
}

static int metadata(struct gsession *s, const char **topics, int32_t n,
                    struct kafka_metadata_response *out)
{
    struct kafka_metadata_request req;
    kafka_metadata_request_init(&req);
    struct kafka_metadata_request_topic *ts =
        kafka_arena_alloc_array(&s->arena, (size_t)n + 1, sizeof *ts);
    for (int32_t i = 0; ts != NULL && i < n; i++) {
        kafka_metadata_request_topic_init(&ts[i]);
        ts[i].name = topics[i];
    }
    req.topics = ts;
    req.topics_count = topics == NULL ? -1 : n;
    req.allow_auto_topic_creation = false;
    struct kafka_writer w;
    buf_reset(&s->body);
    kafka_writer_init(&w, &s->body);
    int rv = kafka_metadata_request_encode(&w, 8, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    if (rv != 0 || exchange(s, KAFKA_API_METADATA, 8, &r) != 0) {
        return -1;
    }
    return kafka_metadata_response_decode(&r, 8, out) == 0 ? 0 : failed(s, "metadata", -1);
}

/* ---- list ---- */

struct listed {
    const char *id, *type, *state;
};

static int compare_listed(const void *a, const void *b)
{
    return strcmp(((const struct listed *)a)->id, ((const struct listed *)b)->id);
}

static int do_list(struct gsession *s)
{
    struct kafka_metadata_response md;
    if (metadata(s, (const char *[]){NULL}, 0, &md) != 0) {
        return SLUICECTL_FAILED;
    }
    struct listed *all = NULL;
    size_t n = 0;
    for (int32_t b = 0; b < md.brokers_count; b++) {
        if (reconnect(s, md.brokers[b].host, md.brokers[b].port) != 0) {
            free(all);
            return SLUICECTL_CONNECT;
        }
        struct kafka_list_groups_request req;
        kafka_list_groups_request_init(&req);
        req.states_filter_count = 0;
        struct kafka_writer w;
        buf_reset(&s->body);
        kafka_writer_init(&w, &s->body);
        int rv = kafka_list_groups_request_encode(&w, 4, &req);
        kafka_writer_free(&w);
        struct kafka_reader r;
        struct kafka_list_groups_response resp;
        if (rv != 0 || exchange(s, KAFKA_API_LIST_GROUPS, 4, &r) != 0 ||
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

static int connect_coordinator(struct gsession *s)
{
    struct kafka_find_coordinator_request req;
    kafka_find_coordinator_request_init(&req);
    req.key = s->group;
    for (int attempt = 0; attempt < 20; attempt++) {
        struct kafka_writer w;
        buf_reset(&s->body);
        kafka_writer_init(&w, &s->body);
        int rv = kafka_find_coordinator_request_encode(&w, 2, &req);
        kafka_writer_free(&w);
        struct kafka_reader r;
        struct kafka_find_coordinator_response resp;
        if (rv != 0 || exchange(s, KAFKA_API_FIND_COORDINATOR, 2, &r) != 0 ||
            kafka_find_coordinator_response_decode(&r, 2, &resp) != 0) {
            return -1;
        }
        if (resp.error_code == KAFKA_ERROR_NONE) {
            return reconnect(s, resp.host, resp.port);
        }
        if (resp.error_code != KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE) {
            return failed(s, "find coordinator", resp.error_code);
        }
        struct timespec pause = {0, 250 * 1000 * 1000}; /* the offsets topic is being created */
        nanosleep(&pause, NULL);
    }
    return failed(s, "find coordinator", KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
}

static int do_delete(struct gsession *s)
{
    if (connect_coordinator(s) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_delete_groups_request req;
    kafka_delete_groups_request_init(&req);
    req.groups_names = &s->group;
    req.groups_names_count = 1;
    struct kafka_writer w;
    buf_reset(&s->body);
    kafka_writer_init(&w, &s->body);
    int rv = kafka_delete_groups_request_encode(&w, 2, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    struct kafka_delete_groups_response resp;
    if (rv != 0 || exchange(s, KAFKA_API_DELETE_GROUPS, 2, &r) != 0 ||
        kafka_delete_groups_response_decode(&r, 2, &resp) != 0 || resp.results_count != 1) {
        return SLUICECTL_FAILED;
    }
    if (resp.results[0].error_code != KAFKA_ERROR_NONE) {
        failed(s, "delete group", resp.results[0].error_code);
        return SLUICECTL_FAILED;
    }
    if (s->json) {
        printf("{\"deleted\":");
        output_json_string(stdout, s->group);
        printf("}\n");
    } else {
        printf("deleted group %s\n", s->group);
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

static int describe_group(struct gsession *s,
                          struct kafka_describe_groups_response_described_group **out)
{
    struct kafka_describe_groups_request req;
    kafka_describe_groups_request_init(&req);
    req.groups = &s->group;
    req.groups_count = 1;
    struct kafka_writer w;
    buf_reset(&s->body);
    kafka_writer_init(&w, &s->body);
    int rv = kafka_describe_groups_request_encode(&w, 4, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    struct kafka_describe_groups_response resp;
    if (rv != 0 || exchange(s, KAFKA_API_DESCRIBE_GROUPS, 4, &r) != 0 ||
        kafka_describe_groups_response_decode(&r, 4, &resp) != 0 || resp.groups_count != 1) {
        return -1;
    }
    *out = &resp.groups[0];
    return resp.groups[0].error_code == KAFKA_ERROR_NONE
               ? 0
               : failed(s, "describe group", resp.groups[0].error_code);
}

static int committed_offsets(struct gsession *s, struct kafka_offset_fetch_response *out)
{
    struct kafka_offset_fetch_request req;
    kafka_offset_fetch_request_init(&req);
    req.group_id = s->group;
    req.topics = NULL;
    req.topics_count = -1; /* all */
    struct kafka_writer w;
    buf_reset(&s->body);
    kafka_writer_init(&w, &s->body);
    int rv = kafka_offset_fetch_request_encode(&w, 5, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    if (rv != 0 || exchange(s, KAFKA_API_OFFSET_FETCH, 5, &r) != 0 ||
        kafka_offset_fetch_response_decode(&r, 5, out) != 0) {
        return -1;
    }
    return out->error_code == KAFKA_ERROR_NONE ? 0 : failed(s, "offset fetch", out->error_code);
}

/* The partition's end offset from its leader; -1 if unknown. */
static int64_t end_offset(struct gsession *s, const struct kafka_metadata_response *md,
                          const char *topic, int32_t partition)
{
    int32_t leader = -1;
    for (int32_t t = 0; t < md->topics_count; t++) {
        for (int32_t p = 0; md->topics[t].name && strcmp(md->topics[t].name, topic) == 0 &&
                            p < md->topics[t].partitions_count;
             p++) {
            if (md->topics[t].partitions[p].partition_index == partition) {
                leader = md->topics[t].partitions[p].leader_id;
            }
        }
    }
    for (int32_t b = 0; b < md->brokers_count; b++) {
        if (md->brokers[b].node_id != leader ||
            reconnect(s, md->brokers[b].host, md->brokers[b].port) != 0) {
            continue;
        }
        struct kafka_list_offsets_request_partition rp = {partition, -1, -1};
        struct kafka_list_offsets_request_topic rt = {topic, &rp, 1};
        struct kafka_list_offsets_request req = {-1, 0, &rt, 1};
        struct kafka_writer w;
        buf_reset(&s->body);
        kafka_writer_init(&w, &s->body);
        int rv = kafka_list_offsets_request_encode(&w, 5, &req);
        kafka_writer_free(&w);
        struct kafka_reader r;
        struct kafka_list_offsets_response resp;
        if (rv == 0 && exchange(s, KAFKA_API_LIST_OFFSETS, 5, &r) == 0 &&
            kafka_list_offsets_response_decode(&r, 5, &resp) == 0 && resp.topics_count == 1 &&
            resp.topics[0].partitions_count == 1 &&
            resp.topics[0].partitions[0].error_code == KAFKA_ERROR_NONE) {
            return resp.topics[0].partitions[0].offset;
        }
    }
    return -1;
}

static void print_members(struct gsession *s,
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

static void print_offsets(struct gsession *s, const struct kafka_offset_fetch_response *off,
                          const struct kafka_metadata_response *md)
{
    bool first = true;
    printf(s->json ? ",\"offsets\":[" : "\n%-30s  %9s  %14s  %14s  %10s\n", "TOPIC", "PARTITION",
           "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG");
    for (int32_t t = 0; t < off->topics_count; t++) {
        const struct kafka_offset_fetch_response_topic *ot = &off->topics[t];
        for (int32_t p = 0; p < ot->partitions_count; p++) {
            const struct kafka_offset_fetch_response_partition *op = &ot->partitions[p];
            int64_t end = end_offset(s, md, ot->name, op->partition_index);
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

static int do_describe(struct gsession *s)
{
    struct kafka_metadata_response md;
    if (metadata(s, NULL, -1, &md) != 0 || connect_coordinator(s) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_describe_groups_response_described_group *g;
    struct kafka_offset_fetch_response off;
    if (describe_group(s, &g) != 0 || committed_offsets(s, &off) != 0) {
        return SLUICECTL_FAILED;
    }
    if (strcmp(g->group_state, "Dead") == 0 && off.topics_count == 0) {
        snprintf(s->err, sizeof s->err, "group %s does not exist", s->group);
        return SLUICECTL_FAILED;
    }
    if (s->json) {
        printf("{\"group\":");
        output_json_string(stdout, s->group);
        printf(",\"state\":");
        output_json_string(stdout, g->group_state);
        printf(",\"protocol_type\":");
        output_json_string(stdout, g->protocol_type);
        printf(",\"protocol\":");
        output_json_string(stdout, g->protocol_data);
    } else {
        printf("GROUP %s  STATE %s  PROTOCOL %s/%s\n", s->group, g->group_state,
               g->protocol_type[0] ? g->protocol_type : "-",
               g->protocol_data[0] ? g->protocol_data : "-");
    }
    print_members(s, g);
    print_offsets(s, &off, &md);
    printf(s->json ? "}\n" : "");
    return SLUICECTL_OK;
}

/* ---- command line ---- */

static const struct option long_options[] = {
    {"bootstrap-server", required_argument, NULL, 'b'},
    {"json", no_argument, NULL, 'j'},
    {"timeout-ms", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_args(int argc, char **argv, struct gsession *s, const char **command)
{
    s->timeout_ms = DEFAULT_TIMEOUT_MS;
    optind = 1;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "b:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'b':
            s->bootstrap = optarg;
            break;
        case 'j':
            s->json = true;
            break;
        case 't':
            s->timeout_ms = atoi(optarg);
            if (s->timeout_ms <= 0) {
                fprintf(stderr, "sluicectl: --timeout-ms must be a positive number\n");
                return -1;
            }
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    int rest = argc - optind;
    *command = rest > 0 ? argv[optind] : NULL;
    s->group = rest > 1 ? argv[optind + 1] : NULL;
    bool list = *command != NULL && strcmp(*command, "list") == 0;
    bool named =
        *command != NULL && (strcmp(*command, "describe") == 0 || strcmp(*command, "delete") == 0);
    if ((!list && !named) || (list && rest != 1) || (named && rest != 2)) {
        fprintf(stderr, "sluicectl: group: expected list, describe GROUP or delete GROUP\n");
        return -1;
    }
    if (s->bootstrap == NULL) {
        fprintf(stderr, "sluicectl: --bootstrap-server host:port is required\n");
        return -1;
    }
    return 0;
}

int group_cmd_main(int argc, char **argv)
{
    struct gsession s;
    memset(&s, 0, sizeof s);
    const char *command;
    int rv = parse_args(argc, argv, &s, &command);
    if (rv != 0) {
        group_cmd_usage();
        return rv > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
    }
    if (kafka_client_connect(&s.client, s.bootstrap, s.timeout_ms, s.err, sizeof s.err) != 0) {
        fprintf(stderr, "sluicectl: %s\n", s.err);
        return SLUICECTL_CONNECT;
    }
    kafka_arena_init(&s.arena, ARENA_LIMIT);
    if (strcmp(command, "list") == 0) {
        rv = do_list(&s);
    } else if (strcmp(command, "describe") == 0) {
        rv = do_describe(&s);
    } else {
        rv = do_delete(&s);
    }
    if (rv != SLUICECTL_OK) {
        fprintf(stderr, "sluicectl: %s\n", s.err);
    }
    kafka_client_close(&s.client);
    kafka_arena_free(&s.arena);
    buf_free(&s.body);
    buf_free(&s.response);
    return rv;
}
