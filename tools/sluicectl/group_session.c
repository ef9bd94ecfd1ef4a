/* The group commands' shared session and requests; see group_session.h. */
#include "tools/sluicectl/group_session.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto/kafka/kafka_errors.h"

/* Send the encoded body and position a reader on the answer. */
int group_session_call(struct gsession *s, int16_t api, int16_t version, struct kafka_reader *r)
{
    if (kafka_client_call(&s->client, api, version, &s->body, &s->response, s->err,
                          sizeof s->err) != 0) {
        return -1;
    }
    kafka_reader_init(r, s->response.data, s->response.len, &s->arena);
    return 0;
}

int group_session_fail(struct gsession *s, const char *what, int16_t code)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, kafka_error_name(code));
    return -1;
}

int group_session_reconnect(struct gsession *s, const char *host, int port)
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

int group_session_metadata(struct gsession *s, const char **topics, int32_t n,
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
    if (rv != 0 || group_session_call(s, KAFKA_API_METADATA, 8, &r) != 0) {
        return -1;
    }
    return kafka_metadata_response_decode(&r, 8, out) == 0 ? 0
                                                           : group_session_fail(s, "metadata", -1);
}

int group_session_connect_coordinator(struct gsession *s)
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
        if (rv != 0 || group_session_call(s, KAFKA_API_FIND_COORDINATOR, 2, &r) != 0 ||
            kafka_find_coordinator_response_decode(&r, 2, &resp) != 0) {
            return -1;
        }
        if (resp.error_code == KAFKA_ERROR_NONE) {
            return group_session_reconnect(s, resp.host, resp.port);
        }
        if (resp.error_code != KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE) {
            return group_session_fail(s, "find coordinator", resp.error_code);
        }
        struct timespec pause = {0, 250 * 1000 * 1000}; /* the offsets topic is being created */
        nanosleep(&pause, NULL);
    }
    return group_session_fail(s, "find coordinator", KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
}

int group_session_describe(struct gsession *s,
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
    if (rv != 0 || group_session_call(s, KAFKA_API_DESCRIBE_GROUPS, 4, &r) != 0 ||
        kafka_describe_groups_response_decode(&r, 4, &resp) != 0 || resp.groups_count != 1) {
        return -1;
    }
    *out = &resp.groups[0];
    return resp.groups[0].error_code == KAFKA_ERROR_NONE
               ? 0
               : group_session_fail(s, "describe group", resp.groups[0].error_code);
}

int group_session_committed(struct gsession *s, struct kafka_offset_fetch_response *out)
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
    if (rv != 0 || group_session_call(s, KAFKA_API_OFFSET_FETCH, 5, &r) != 0 ||
        kafka_offset_fetch_response_decode(&r, 5, out) != 0) {
        return -1;
    }
    return out->error_code == KAFKA_ERROR_NONE
               ? 0
               : group_session_fail(s, "offset fetch", out->error_code);
}

int64_t group_session_list_offset(struct gsession *s, const struct kafka_metadata_response *md,
                                  const char *topic, int32_t partition, int64_t timestamp)
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
            group_session_reconnect(s, md->brokers[b].host, md->brokers[b].port) != 0) {
            continue;
        }
        struct kafka_list_offsets_request_partition rp = {partition, -1, timestamp};
        struct kafka_list_offsets_request_topic rt = {topic, &rp, 1};
        struct kafka_list_offsets_request req = {-1, 0, &rt, 1};
        struct kafka_writer w;
        buf_reset(&s->body);
        kafka_writer_init(&w, &s->body);
        int rv = kafka_list_offsets_request_encode(&w, 5, &req);
        kafka_writer_free(&w);
        struct kafka_reader r;
        struct kafka_list_offsets_response resp;
        if (rv == 0 && group_session_call(s, KAFKA_API_LIST_OFFSETS, 5, &r) == 0 &&
            kafka_list_offsets_response_decode(&r, 5, &resp) == 0 && resp.topics_count == 1 &&
            resp.topics[0].partitions_count == 1 &&
            resp.topics[0].partitions[0].error_code == KAFKA_ERROR_NONE) {
            return resp.topics[0].partitions[0].offset;
        }
    }
    return -1;
}
