/* sluicectl group: one session with the cluster (a connection, moved to
 * the group's coordinator or a partition's leader as needed, and the arena
 * every decoded answer lives in until the command ends) and the requests
 * the group commands share. Functions returning int give 0, or -1 with
 * s->err set. */
#ifndef SLUICE_TOOLS_SLUICECTL_GROUP_SESSION_H
#define SLUICE_TOOLS_SLUICECTL_GROUP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "kafka_messages.h"
#include "tools/sluicectl/kafka_client.h"

struct gsession {
    const char *bootstrap, *group;
    const char *command_config; /* --command-config: Kafka client properties */
    bool json;
    int timeout_ms;
    struct kafka_client client;
    struct kafka_arena arena;
    struct buf body, response;
    char err[512];
};

/* Send s->body (already encoded) and position `r` on the answer. */
int group_session_call(struct gsession *s, int16_t api, int16_t version, struct kafka_reader *r);
/* Set s->err to "what: ERROR_NAME"; returns -1. */
int group_session_fail(struct gsession *s, const char *what, int16_t code);
/* Move the session's connection to host:port. */
int group_session_reconnect(struct gsession *s, const char *host, int port);
/* Metadata of `topics` (NULL: every topic). */
int group_session_metadata(struct gsession *s, const char **topics, int32_t n,
                           struct kafka_metadata_response *out);
/* FindCoordinator for s->group, then connect to it. */
int group_session_connect_coordinator(struct gsession *s);
/* DescribeGroups of s->group at its coordinator. */
int group_session_describe(struct gsession *s,
                           struct kafka_describe_groups_response_described_group **out);
/* OffsetFetch of every committed offset of s->group at its coordinator. */
int group_session_committed(struct gsession *s, struct kafka_offset_fetch_response *out);
/* ListOffsets at the partition's leader for `timestamp` (-1 latest, -2
 * earliest, else the first offset at or after it): the offset, or -1 if
 * unknown or none. Leaves the session connected to that leader. */
int64_t group_session_list_offset(struct gsession *s, const struct kafka_metadata_response *md,
                                  const char *topic, int32_t partition, int64_t timestamp);

#endif
