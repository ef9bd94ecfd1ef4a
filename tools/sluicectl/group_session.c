/* The group commands' requests; see group_session.h. */
#include "tools/sluicectl/group_session.h"

#include "proto/kafka/kafka_errors.h"

int group_session_describe(struct admin_session *s, const char *group,
                           struct kafka_describe_groups_response_described_group **out)
{
    struct kafka_describe_groups_request req;
    kafka_describe_groups_request_init(&req);
    req.groups = &group;
    req.groups_count = 1;
    struct kafka_writer w;
    admin_session_begin(s, &w);
    int rv = kafka_describe_groups_request_encode(&w, 4, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    struct kafka_describe_groups_response resp;
    if (rv != 0 || admin_session_call(s, KAFKA_API_DESCRIBE_GROUPS, 4, &r) != 0 ||
        kafka_describe_groups_response_decode(&r, 4, &resp) != 0 || resp.groups_count != 1) {
        return -1;
    }
    *out = &resp.groups[0];
    return resp.groups[0].error_code == KAFKA_ERROR_NONE
               ? 0
               : admin_session_fail(s, "describe group", resp.groups[0].error_code);
}

int group_session_committed(struct admin_session *s, const char *group,
                            struct kafka_offset_fetch_response *out)
{
    struct kafka_offset_fetch_request req;
    kafka_offset_fetch_request_init(&req);
    req.group_id = group;
    req.topics = NULL;
    req.topics_count = -1; /* all */
    struct kafka_writer w;
    admin_session_begin(s, &w);
    int rv = kafka_offset_fetch_request_encode(&w, 5, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    if (rv != 0 || admin_session_call(s, KAFKA_API_OFFSET_FETCH, 5, &r) != 0 ||
        kafka_offset_fetch_response_decode(&r, 5, out) != 0) {
        return -1;
    }
    return out->error_code == KAFKA_ERROR_NONE
               ? 0
               : admin_session_fail(s, "offset fetch", out->error_code);
}
