/* sluicectl group: the requests the group commands share, on an admin
 * session already connected to the group's coordinator. Decoded answers live
 * in the session's arena. 0, or -1 with s->err set. */
#ifndef SLUICE_TOOLS_SLUICECTL_GROUP_SESSION_H
#define SLUICE_TOOLS_SLUICECTL_GROUP_SESSION_H

#include "tools/sluicectl/admin_session.h"

/* DescribeGroups of `group`. */
int group_session_describe(struct admin_session *s, const char *group,
                           struct kafka_describe_groups_response_described_group **out);
/* OffsetFetch of every committed offset of `group`. */
int group_session_committed(struct admin_session *s, const char *group,
                            struct kafka_offset_fetch_response *out);

#endif
