/* sluicectl group reset-offsets GROUP, in the spirit of
 * kafka-consumer-groups.sh --reset-offsets: new committed offsets for a
 * group that has no active members, to the earliest or latest offset, a
 * given offset, the first offset at or after a time, or shifted from the
 * committed one (always clamped to the partition's earliest..latest).
 * A dry run (the default) prints the plan; --execute commits it
 * (OffsetCommit with no member and generation -1, which the coordinator
 * refuses while the group has members). */
#ifndef SLUICE_TOOLS_SLUICECTL_GROUP_RESET_H
#define SLUICE_TOOLS_SLUICECTL_GROUP_RESET_H

#include <stdbool.h>
#include <stdint.h>

#include "tools/sluicectl/group_session.h"

#define GROUP_RESET_MAX_TOPICS 64

enum group_reset_to {
    GROUP_RESET_NONE,
    GROUP_RESET_EARLIEST,
    GROUP_RESET_LATEST,
    GROUP_RESET_OFFSET,
    GROUP_RESET_DATETIME,
    GROUP_RESET_SHIFT,
};

struct group_reset_spec {
    enum group_reset_to to;
    int64_t value; /* the offset, the time (ms since the epoch) or the shift */
    bool execute;
    bool all_topics;
    const char *topics[GROUP_RESET_MAX_TOPICS]; /* "topic" or "topic:0,2" (borrowed argv) */
    int n_topics;
};

/* "YYYY-MM-DDTHH:MM:SS[.sss][Z]" (UTC) or milliseconds since the epoch.
 * Returns 0 with *ms, or -1. */
int group_reset_parse_datetime(const char *text, int64_t *ms);

/* Plan, print and (with spec->execute) commit the reset. Returns an exit
 * code (enum sluicectl_exit) with s->err set on failure. */
int group_reset_run(struct admin_session *s, const char *group,
                    const struct group_reset_spec *spec);

#endif
