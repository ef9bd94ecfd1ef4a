/* sluicectl's session with a Kafka cluster; see admin_session.h. */
#include "tools/sluicectl/admin_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/kafka/kafka_errors.h"
#include "tools/sluicectl/topic_cmd.h"

void admin_session_init(struct admin_session *s)
{
    memset(s, 0, sizeof *s);
    s->timeout_ms = ADMIN_SESSION_TIMEOUT_MS;
    s->client.fd = -1;
}

/* Take getopt's option `c` with `arg` if it is one of the session's: 1 taken,
 * 0 not one of them, -1 a bad value (said on stderr). */
static int take_session_option(struct admin_session *s, int c, const char *arg)
{
    char *end;
    long v;
    switch (c) {
    case 'b':
        s->bootstrap = arg;
        return 1;
    case 'K':
        s->command_config = arg;
        return 1;
    case 'j':
        s->json = true;
        return 1;
    case 't':
        v = strtol(arg, &end, 10);
        if (*arg == '\0' || *end != '\0' || v <= 0 || v > 3600 * 1000) {
            fprintf(stderr,
                    "sluicectl: --timeout-ms must be a number of milliseconds, 1..3600000\n");
            return -1;
        }
        s->timeout_ms = (int)v;
        return 1;
    default:
        return 0;
    }
}

int admin_session_getopt(struct admin_session *s, int argc, char **argv, const char *shortopts,
                         const struct option *options, admin_session_option_fn take, void *cmd)
{
    optind = 1;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, options, NULL)) != -1) {
        if (c == 'h') {
            return 1;
        }
        int taken = take_session_option(s, c, optarg);
        if (taken < 0 || (taken == 0 && (take == NULL || take(cmd, c, optarg) != 0))) {
            return -1;
        }
    }
    return 0;
}

int admin_session_parse(struct admin_session *s, int argc, char **argv, void (*usage)(void))
{
    static const struct option long_options[] = {
        ADMIN_SESSION_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rv = admin_session_getopt(s, argc, argv, "b:h", long_options, NULL, NULL);
    if (rv == 0) {
        return -1;
    }
    usage();
    return rv > 0 ? SLUICECTL_OK : SLUICECTL_USAGE;
}

int admin_session_open(struct admin_session *s, size_t arena_limit)
{
    kafka_arena_init(&s->arena, arena_limit);
    if (s->bootstrap == NULL) {
        fprintf(stderr, "sluicectl: --bootstrap-server host:port is required\n");
        return SLUICECTL_USAGE;
    }
    int rv = kafka_client_connect_configured(&s->client, s->bootstrap, s->timeout_ms,
                                             s->command_config, &s->security);
    if (rv != 0) {
        return rv == -1 ? SLUICECTL_USAGE : SLUICECTL_CONNECT;
    }
    return SLUICECTL_OK;
}

void admin_session_close(struct admin_session *s)
{
    kafka_client_close(&s->client);
    kafka_arena_free(&s->arena);
    buf_free(&s->body);
    buf_free(&s->response);
}

void admin_session_begin(struct admin_session *s, struct kafka_writer *w)
{
    buf_reset(&s->body);
    kafka_writer_init(w, &s->body);
}

/* Send the encoded body and position a reader on the answer. */
int admin_session_call(struct admin_session *s, int16_t api, int16_t version,
                       struct kafka_reader *r)
{
    if (kafka_client_call(&s->client, api, version, &s->body, &s->response, s->err,
                          sizeof s->err) != 0) {
        return -1;
    }
    kafka_reader_init(r, s->response.data, s->response.len, &s->arena);
    return 0;
}

int admin_session_fail(struct admin_session *s, const char *what, int16_t code)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, kafka_error_name(code));
    return -1;
}

int admin_session_reconnect(struct admin_session *s, const char *host, int port)
{
    struct kafka_client c;
    if (kafka_client_connect_to(&c, host, port, s->timeout_ms, s->client.security, s->err,
                                sizeof s->err) != 0) {
        return -1;
    }
    kafka_client_close(&s->client);
    s->client = c;
    return 0;
}

int admin_session_metadata(struct admin_session *s, const char **topics, int32_t n,
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
    admin_session_begin(s, &w);
    int rv = kafka_metadata_request_encode(&w, 8, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    if (rv != 0 || admin_session_call(s, KAFKA_API_METADATA, 8, &r) != 0) {
        return -1;
    }
    return kafka_metadata_response_decode(&r, 8, out) == 0 ? 0
                                                           : admin_session_fail(s, "metadata", -1);
}

int admin_session_connect_coordinator(struct admin_session *s, int8_t key_type, const char *key)
{
    struct kafka_find_coordinator_request req;
    kafka_find_coordinator_request_init(&req);
    req.key = key;
    req.key_type = key_type;
    for (int attempt = 0; attempt < 20; attempt++) {
        struct kafka_writer w;
        admin_session_begin(s, &w);
        int rv = kafka_find_coordinator_request_encode(&w, 2, &req);
        kafka_writer_free(&w);
        struct kafka_reader r;
        struct kafka_find_coordinator_response resp;
        if (rv != 0 || admin_session_call(s, KAFKA_API_FIND_COORDINATOR, 2, &r) != 0 ||
            kafka_find_coordinator_response_decode(&r, 2, &resp) != 0) {
            return -1;
        }
        if (resp.error_code == KAFKA_ERROR_NONE) {
            return admin_session_reconnect(s, resp.host, resp.port);
        }
        if (resp.error_code != KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE) {
            return admin_session_fail(s, "find coordinator", resp.error_code);
        }
        struct timespec pause = {0, 250 * 1000 * 1000}; /* the offsets topic is being created */
        nanosleep(&pause, NULL);
    }
    return admin_session_fail(s, "find coordinator", KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
}

int admin_session_connect_leader(struct admin_session *s, const struct kafka_metadata_response *md,
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
    for (int32_t b = 0; leader >= 0 && b < md->brokers_count; b++) {
        if (md->brokers[b].node_id == leader) {
            return admin_session_reconnect(s, md->brokers[b].host, md->brokers[b].port) == 0 ? 0
                                                                                             : -2;
        }
    }
    snprintf(s->err, sizeof s->err, "partition %s-%d has no leader", topic, partition);
    return -1;
}

int64_t admin_session_list_offset(struct admin_session *s, const struct kafka_metadata_response *md,
                                  const char *topic, int32_t partition, int64_t timestamp)
{
    if (admin_session_connect_leader(s, md, topic, partition) != 0) {
        return -1;
    }
    struct kafka_list_offsets_request_partition rp = {partition, -1, timestamp};
    struct kafka_list_offsets_request_topic rt = {topic, &rp, 1};
    struct kafka_list_offsets_request req = {-1, 0, &rt, 1};
    struct kafka_writer w;
    admin_session_begin(s, &w);
    int rv = kafka_list_offsets_request_encode(&w, 5, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    struct kafka_list_offsets_response resp;
    if (rv == 0 && admin_session_call(s, KAFKA_API_LIST_OFFSETS, 5, &r) == 0 &&
        kafka_list_offsets_response_decode(&r, 5, &resp) == 0 && resp.topics_count == 1 &&
        resp.topics[0].partitions_count == 1 &&
        resp.topics[0].partitions[0].error_code == KAFKA_ERROR_NONE) {
        return resp.topics[0].partitions[0].offset;
    }
    return -1;
}
