/* sluicectl log-dirs; see log_dirs_cmd.h. One DescribeLogDirs (v4, every
 * partition) to the bootstrap broker. */
#include "tools/sluicectl/log_dirs_cmd.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"
#include "tools/sluicectl/admin_session.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT  (64u << 20)
#define LOG_DIRS_VER 4

static void usage(void)
{
    fprintf(stderr, "usage: sluicectl log-dirs --bootstrap-server host:port [--json]\n"
                    "                         [--command-config FILE] [--timeout-ms N]\n"
                    "\n"
                    "The bootstrap broker's log directories: status (online, or offline after a\n"
                    "storage error: its partitions are served by other replicas), partitions,\n"
                    "bytes of log, and the volume's total and usable bytes.\n"
                    "exit codes: 0 ok, 1 operation failed, 2 usage, 3 cannot connect\n");
}

static int64_t dir_bytes(const struct kafka_describe_log_dirs_response_result *r, int32_t *parts)
{
    int64_t sum = 0;
    *parts = 0;
    for (int32_t t = 0; t < r->topics_count; t++) {
        for (int32_t p = 0; p < r->topics[t].partitions_count; p++) {
            sum += r->topics[t].partitions[p].partition_size;
            (*parts)++;
        }
    }
    return sum;
}

static void print_json(const struct kafka_describe_log_dirs_response *resp)
{
    printf("{\"log_dirs\":[");
    for (int32_t i = 0; i < resp->results_count; i++) {
        const struct kafka_describe_log_dirs_response_result *r = &resp->results[i];
        printf("%s{\"dir\":", i ? "," : "");
        output_json_string(stdout, r->log_dir);
        printf(",\"status\":\"%s\",\"error\":",
               r->error_code == KAFKA_ERROR_NONE ? "online" : "offline");
        output_json_string(
            stdout, r->error_code == KAFKA_ERROR_NONE ? "" : kafka_error_name(r->error_code));
        printf(",\"total_bytes\":%" PRId64 ",\"usable_bytes\":%" PRId64 ",\"partitions\":[",
               r->total_bytes, r->usable_bytes);
        bool first = true;
        for (int32_t t = 0; t < r->topics_count; t++) {
            for (int32_t p = 0; p < r->topics[t].partitions_count; p++) {
                const struct kafka_describe_log_dirs_response_partition *x =
                    &r->topics[t].partitions[p];
                printf("%s{\"topic\":", first ? "" : ",");
                output_json_string(stdout, r->topics[t].name);
                printf(",\"partition\":%d,\"size\":%" PRId64 ",\"offset_lag\":%" PRId64 "}",
                       x->partition_index, x->partition_size, x->offset_lag);
                first = false;
            }
        }
        printf("]}");
    }
    printf("]}\n");
}

static void print_table(const struct kafka_describe_log_dirs_response *resp)
{
    printf("%-8s %-20s %10s %16s %16s %16s  %s\n", "STATUS", "ERROR", "PARTITIONS", "LOG_BYTES",
           "TOTAL_BYTES", "USABLE_BYTES", "DIR");
    for (int32_t i = 0; i < resp->results_count; i++) {
        const struct kafka_describe_log_dirs_response_result *r = &resp->results[i];
        int32_t parts;
        int64_t bytes = dir_bytes(r, &parts);
        bool ok = r->error_code == KAFKA_ERROR_NONE;
        printf("%-8s %-20s %10d %16" PRId64 " %16" PRId64 " %16" PRId64 "  %s\n",
               ok ? "online" : "offline", ok ? "-" : kafka_error_name(r->error_code), parts, bytes,
               r->total_bytes, r->usable_bytes, r->log_dir);
    }
}

static int describe(struct admin_session *s)
{
    struct kafka_describe_log_dirs_request req;
    kafka_describe_log_dirs_request_init(&req);
    req.topics = NULL;
    req.topics_count = -1; /* every partition */
    struct kafka_writer w;
    admin_session_begin(s, &w);
    int rv = kafka_describe_log_dirs_request_encode(&w, LOG_DIRS_VER, &req);
    kafka_writer_free(&w);
    struct kafka_reader rd;
    struct kafka_describe_log_dirs_response resp;
    if (rv != 0 || admin_session_call(s, KAFKA_API_DESCRIBE_LOG_DIRS, LOG_DIRS_VER, &rd) != 0) {
        return SLUICECTL_FAILED;
    }
    if (kafka_describe_log_dirs_response_decode(&rd, LOG_DIRS_VER, &resp) != 0) {
        snprintf(s->err, sizeof s->err, "cannot decode describe_log_dirs from %s", s->client.peer);
        return SLUICECTL_FAILED;
    }
    if (resp.error_code != KAFKA_ERROR_NONE) {
        admin_session_fail(s, "describe log dirs", resp.error_code);
        return SLUICECTL_FAILED;
    }
    if (s->json) {
        print_json(&resp);
    } else {
        print_table(&resp);
    }
    return SLUICECTL_OK;
}

int log_dirs_cmd_main(int argc, char **argv)
{
    struct admin_session s;
    admin_session_init(&s);
    int parsed = admin_session_parse(&s, argc, argv, usage);
    if (parsed >= 0) {
        return parsed;
    }
    if (argc != optind) {
        usage();
        return SLUICECTL_USAGE;
    }
    int rv = admin_session_open(&s, ARENA_LIMIT);
    if (rv == SLUICECTL_OK) {
        rv = describe(&s);
        if (rv != SLUICECTL_OK) {
            fprintf(stderr, "sluicectl: %s\n", s.err);
        }
    }
    admin_session_close(&s);
    return rv;
}
