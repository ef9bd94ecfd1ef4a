/* sluicectl producers; see producers_cmd.h. Asks the bootstrap broker for
 * the partition's leader (Metadata), then the leader (DescribeProducers v0). */
#include "tools/sluicectl/producers_cmd.h"

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

#define ARENA_LIMIT (64u << 20)

static void usage(void)
{
    fprintf(stderr,
            "usage: sluicectl producers TOPIC PARTITION --bootstrap-server host:port [--json]\n"
            "                          [--command-config FILE]\n"
            "                 [--timeout-ms N]\n"
            "\n"
            "The idempotent producers the partition's leader remembers: id, epoch, last\n"
            "sequence, last timestamp, open transaction start (-1: none).\n"
            "exit codes: 0 ok, 1 operation failed, 2 usage, 3 cannot connect\n");
}

static void print(bool json, const char *topic, int32_t partition,
                  const struct kafka_describe_producers_response_partition_response *p)
{
    if (json) {
        printf("{\"topic\":");
        output_json_string(stdout, topic);
        printf(",\"partition\":%d,\"producers\":[", partition);
    } else {
        printf("%-20s %6s %14s %20s %22s\n", "PRODUCER_ID", "EPOCH", "LAST_SEQUENCE",
               "LAST_TIMESTAMP", "CURRENT_TXN_START");
    }
    for (int32_t i = 0; i < p->active_producers_count; i++) {
        const struct kafka_describe_producers_response_producer_state *s = &p->active_producers[i];
        if (json) {
            printf("%s{\"producer_id\":%" PRId64 ",\"producer_epoch\":%d,\"last_sequence\":%d,"
                   "\"last_timestamp\":%" PRId64 ",\"current_txn_start_offset\":%" PRId64 "}",
                   i ? "," : "", s->producer_id, s->producer_epoch, s->last_sequence,
                   s->last_timestamp, s->current_txn_start_offset);
        } else {
            printf("%-20" PRId64 " %6d %14d %20" PRId64 " %22" PRId64 "\n", s->producer_id,
                   s->producer_epoch, s->last_sequence, s->last_timestamp,
                   s->current_txn_start_offset);
        }
    }
    if (json) {
        printf("]}\n");
    }
}

static int describe(struct admin_session *s, const char *topic, int32_t partition)
{
    struct kafka_metadata_response md;
    if (admin_session_metadata(s, &topic, 1, &md) != 0) {
        return SLUICECTL_FAILED;
    }
    if (md.topics_count != 1 || md.topics[0].error_code != KAFKA_ERROR_NONE) {
        snprintf(s->err, sizeof s->err, "topic %s: %s", topic,
                 kafka_error_name(md.topics_count == 1 ? md.topics[0].error_code
                                                       : KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION));
        return SLUICECTL_FAILED;
    }
    int rv = admin_session_connect_leader(s, &md, topic, partition);
    if (rv != 0) {
        return rv == -2 ? SLUICECTL_CONNECT : SLUICECTL_FAILED;
    }
    struct kafka_describe_producers_request req;
    kafka_describe_producers_request_init(&req);
    struct kafka_describe_producers_request_topic_request t;
    kafka_describe_producers_request_topic_request_init(&t);
    t.name = topic;
    t.partition_indexes = &partition;
    t.partition_indexes_count = 1;
    req.topics = &t;
    req.topics_count = 1;
    struct kafka_writer w;
    admin_session_begin(s, &w);
    rv = kafka_describe_producers_request_encode(&w, 0, &req);
    kafka_writer_free(&w);
    struct kafka_reader rd;
    struct kafka_describe_producers_response resp;
    if (rv != 0 || admin_session_call(s, KAFKA_API_DESCRIBE_PRODUCERS, 0, &rd) != 0) {
        return SLUICECTL_FAILED;
    }
    if (kafka_describe_producers_response_decode(&rd, 0, &resp) != 0 || resp.topics_count != 1 ||
        resp.topics[0].partitions_count != 1) {
        snprintf(s->err, sizeof s->err, "cannot decode describe_producers from %s", s->client.peer);
        return SLUICECTL_FAILED;
    }
    const struct kafka_describe_producers_response_partition_response *p =
        &resp.topics[0].partitions[0];
    if (p->error_code != KAFKA_ERROR_NONE) {
        snprintf(s->err, sizeof s->err, "%s-%d: %s", topic, partition,
                 kafka_error_name(p->error_code));
        return SLUICECTL_FAILED;
    }
    print(s->json, topic, partition, p);
    return SLUICECTL_OK;
}

int producers_cmd_main(int argc, char **argv)
{
    struct admin_session s;
    admin_session_init(&s);
    int parsed = admin_session_parse(&s, argc, argv, usage);
    if (parsed >= 0) {
        return parsed;
    }
    char *end = NULL;
    long partition = argc - optind == 2 ? strtol(argv[optind + 1], &end, 10) : -1;
    if (argc - optind != 2 || end == NULL || *end != '\0' || partition < 0 ||
        partition > INT32_MAX) {
        usage();
        return SLUICECTL_USAGE;
    }
    int rv = admin_session_open(&s, ARENA_LIMIT);
    if (rv == SLUICECTL_OK) {
        rv = describe(&s, argv[optind], (int32_t)partition);
        if (rv != SLUICECTL_OK) {
            fprintf(stderr, "sluicectl: %s\n", s.err);
        }
    }
    admin_session_close(&s);
    return rv;
}
