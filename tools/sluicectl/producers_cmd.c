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
#include "tools/sluicectl/kafka_client.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

#define ARENA_LIMIT        (64u << 20)
#define DEFAULT_TIMEOUT_MS 10000

struct producers_run {
    const char *bootstrap, *topic;
    const char *command_config; /* --command-config: Kafka client properties */
    int32_t partition;
    bool json;
    int timeout_ms;
    struct kafka_client client;
    struct kafka_arena arena;
    struct buf body, response;
    char err[512];
};

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

/* Send what `w` encoded into r->body (encode status `rv`) and leave the
 * answer in r->response. 0 or -1 with r->err. */
static int call(struct producers_run *r, struct kafka_writer *w, int rv, int16_t api,
                int16_t version)
{
    kafka_writer_free(w);
    if (rv != 0) {
        snprintf(r->err, sizeof r->err, "cannot encode request %d", api);
        return -1;
    }
    return kafka_client_call(&r->client, api, version, &r->body, &r->response, r->err,
                             sizeof r->err);
}

static void begin(struct producers_run *r, struct kafka_writer *w)
{
    buf_reset(&r->body);
    kafka_writer_init(w, &r->body);
}

/* Connect to the partition's leader. 0, -1 (answered with an error), -2
 * (cannot connect). */
static int connect_leader(struct producers_run *r)
{
    struct kafka_metadata_request req;
    kafka_metadata_request_init(&req);
    struct kafka_metadata_request_topic t;
    kafka_metadata_request_topic_init(&t);
    t.name = r->topic;
    req.topics = &t;
    req.topics_count = 1;
    req.allow_auto_topic_creation = false;
    struct kafka_writer w;
    begin(r, &w);
    if (call(r, &w, kafka_metadata_request_encode(&w, 8, &req), KAFKA_API_METADATA, 8) != 0) {
        return -1;
    }
    struct kafka_metadata_response md;
    struct kafka_reader rd;
    kafka_reader_init(&rd, r->response.data, r->response.len, &r->arena);
    if (kafka_metadata_response_decode(&rd, 8, &md) != 0 || md.topics_count != 1) {
        snprintf(r->err, sizeof r->err, "cannot decode metadata from %s", r->client.peer);
        return -1;
    }
    if (md.topics[0].error_code != KAFKA_ERROR_NONE) {
        snprintf(r->err, sizeof r->err, "topic %s: %s", r->topic,
                 kafka_error_name(md.topics[0].error_code));
        return -1;
    }
    int32_t leader = -1;
    for (int32_t i = 0; i < md.topics[0].partitions_count; i++) {
        if (md.topics[0].partitions[i].partition_index == r->partition) {
            leader = md.topics[0].partitions[i].leader_id;
        }
    }
    for (int32_t i = 0; leader >= 0 && i < md.brokers_count; i++) {
        if (md.brokers[i].node_id == leader) {
            struct kafka_client c;
            if (kafka_client_connect_to(&c, md.brokers[i].host, md.brokers[i].port, r->timeout_ms,
                                        r->client.security, r->err, sizeof r->err) != 0) {
                return -2;
            }
            kafka_client_close(&r->client);
            r->client = c;
            return 0;
        }
    }
    snprintf(r->err, sizeof r->err, "partition %s-%d has no leader", r->topic, r->partition);
    return -1;
}

static void print(const struct producers_run *r,
                  const struct kafka_describe_producers_response_partition_response *p)
{
    if (r->json) {
        printf("{\"topic\":");
        output_json_string(stdout, r->topic);
        printf(",\"partition\":%d,\"producers\":[", r->partition);
    } else {
        printf("%-20s %6s %14s %20s %22s\n", "PRODUCER_ID", "EPOCH", "LAST_SEQUENCE",
               "LAST_TIMESTAMP", "CURRENT_TXN_START");
    }
    for (int32_t i = 0; i < p->active_producers_count; i++) {
        const struct kafka_describe_producers_response_producer_state *s = &p->active_producers[i];
        if (r->json) {
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
    if (r->json) {
        printf("]}\n");
    }
}

static int describe(struct producers_run *r)
{
    int rv = connect_leader(r);
    if (rv != 0) {
        return rv == -2 ? SLUICECTL_CONNECT : SLUICECTL_FAILED;
    }
    struct kafka_describe_producers_request req;
    kafka_describe_producers_request_init(&req);
    struct kafka_describe_producers_request_topic_request t;
    kafka_describe_producers_request_topic_request_init(&t);
    t.name = r->topic;
    t.partition_indexes = &r->partition;
    t.partition_indexes_count = 1;
    req.topics = &t;
    req.topics_count = 1;
    struct kafka_writer w;
    begin(r, &w);
    if (call(r, &w, kafka_describe_producers_request_encode(&w, 0, &req),
             KAFKA_API_DESCRIBE_PRODUCERS, 0) != 0) {
        return SLUICECTL_FAILED;
    }
    struct kafka_describe_producers_response resp;
    struct kafka_reader rd;
    kafka_reader_init(&rd, r->response.data, r->response.len, &r->arena);
    if (kafka_describe_producers_response_decode(&rd, 0, &resp) != 0 || resp.topics_count != 1 ||
        resp.topics[0].partitions_count != 1) {
        snprintf(r->err, sizeof r->err, "cannot decode describe_producers from %s", r->client.peer);
        return SLUICECTL_FAILED;
    }
    const struct kafka_describe_producers_response_partition_response *p =
        &resp.topics[0].partitions[0];
    if (p->error_code != KAFKA_ERROR_NONE) {
        snprintf(r->err, sizeof r->err, "%s-%d: %s", r->topic, r->partition,
                 kafka_error_name(p->error_code));
        return SLUICECTL_FAILED;
    }
    print(r, p);
    return SLUICECTL_OK;
}

int producers_cmd_main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"bootstrap-server", required_argument, NULL, 'b'},
        {"command-config", required_argument, NULL, 'K'},
        {"json", no_argument, NULL, 'j'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct producers_run r;
    memset(&r, 0, sizeof r);
    r.timeout_ms = DEFAULT_TIMEOUT_MS;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "b:h", long_options, NULL)) != -1) {
        if (c == 'b') {
            r.bootstrap = optarg;
        } else if (c == 'K') {
            r.command_config = optarg;
        } else if (c == 'j') {
            r.json = true;
        } else if (c == 't' && atoi(optarg) > 0) {
            r.timeout_ms = atoi(optarg);
        } else {
            usage();
            return c == 'h' ? SLUICECTL_OK : SLUICECTL_USAGE;
        }
    }
    char *end = NULL;
    long partition = argc - optind == 2 ? strtol(argv[optind + 1], &end, 10) : -1;
    if (r.bootstrap == NULL || argc - optind != 2 || end == NULL || *end != '\0' || partition < 0 ||
        partition > INT32_MAX) {
        usage();
        return SLUICECTL_USAGE;
    }
    r.topic = argv[optind];
    r.partition = (int32_t)partition;
    struct client_security security;
    if (client_security_load(r.command_config, &security, r.err, sizeof r.err) != 0) {
        fprintf(stderr, "sluicectl: --command-config: %s\n", r.err);
        return SLUICECTL_USAGE;
    }
    if (kafka_client_connect(&r.client, r.bootstrap, r.timeout_ms, &security, r.err,
                             sizeof r.err) != 0) {
        fprintf(stderr, "sluicectl: %s\n", r.err);
        return SLUICECTL_CONNECT;
    }
    kafka_arena_init(&r.arena, ARENA_LIMIT);
    int rv = describe(&r);
    if (rv != SLUICECTL_OK) {
        fprintf(stderr, "sluicectl: %s\n", r.err);
    }
    kafka_client_close(&r.client);
    kafka_arena_free(&r.arena);
    buf_free(&r.body);
    buf_free(&r.response);
    return rv;
}
