/* sluicectl group reset-offsets; see group_reset.h. */
#include "tools/sluicectl/group_reset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/kafka/kafka_errors.h"
#include "tools/sluicectl/output.h"
#include "tools/sluicectl/topic_cmd.h"

/* One partition of the plan. */
struct reset_target {
    const char *topic;
    int32_t partition;
    int64_t current; /* committed now, -1 if none */
    int64_t next;    /* the new committed offset */
    int16_t error;   /* of the commit */
};

struct reset_plan {
    struct reset_target *t;
    size_t n, cap;
};

int group_reset_parse_datetime(const char *text, int64_t *ms)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno == 0 && end != text && *end == '\0' && v >= 0) {
        *ms = v;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL) {
        return -1;
    }
    int frac = 0;
    if (rest[0] == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++) {
            frac = digits < 3 ? frac * 10 + (*rest - '0') : frac;
        }
        for (; digits > 0 && digits < 3; digits++) {
            frac *= 10;
        }
    }
    if (rest[0] == 'Z') {
        rest++;
    }
    if (rest[0] != '\0') {
        return -1;
    }
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return 0;
}

static int plan_add(struct reset_plan *p, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->t[i].partition == partition && strcmp(p->t[i].topic, topic) == 0) {
            return 0; /* named twice */
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct reset_target *t = realloc(p->t, cap * sizeof *t);
        if (t == NULL) {
            return -1;
        }
        p->t = t;
        p->cap = cap;
    }
    p->t[p->n++] = (struct reset_target){topic, partition, -1, -1, KAFKA_ERROR_NONE};
    return 0;
}

static const struct kafka_metadata_response_topic *
find_topic(const struct kafka_metadata_response *md, const char *name, size_t len)
{
    for (int32_t i = 0; i < md->topics_count; i++) {
        const char *n = md->topics[i].name;
        if (n != NULL && strlen(n) == len && strncmp(n, name, len) == 0) {
            return &md->topics[i];
        }
    }
    return NULL;
}

static bool has_partition(const struct kafka_metadata_response_topic *t, int32_t partition)
{
    for (int32_t i = 0; i < t->partitions_count; i++) {
        if (t->partitions[i].partition_index == partition) {
            return true;
        }
    }
    return false;
}

/* "topic" (every partition) or "topic:0,2". */
static int plan_topic(struct admin_session *s, struct reset_plan *p,
                      const struct kafka_metadata_response *md, const char *arg)
{
    const char *colon = strchr(arg, ':');
    size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
    const struct kafka_metadata_response_topic *t = find_topic(md, arg, len);
    if (t == NULL || t->error_code != KAFKA_ERROR_NONE) {
        snprintf(s->err, sizeof s->err, "topic %.*s does not exist", (int)len, arg);
        return -1;
    }
    if (colon == NULL) {
        for (int32_t i = 0; i < t->partitions_count; i++) {
            if (plan_add(p, t->name, t->partitions[i].partition_index) != 0) {
                return admin_session_fail(s, "plan", KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
            }
        }
        return 0;
    }
    for (const char *at = colon + 1;;) {
        char *end;
        errno = 0;
        long v = strtol(at, &end, 10);
        if (errno != 0 || end == at || v < 0 || v > INT32_MAX || (*end != ',' && *end != '\0')) {
            snprintf(s->err, sizeof s->err, "bad partition list in --topic %s", arg);
            return -1;
        }
        if (!has_partition(t, (int32_t)v)) {
            snprintf(s->err, sizeof s->err, "topic %s has no partition %ld", t->name, v);
            return -1;
        }
        if (plan_add(p, t->name, (int32_t)v) != 0) {
            return admin_session_fail(s, "plan", KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
        }
        if (*end == '\0') {
            return 0;
        }
        at = end + 1;
    }
}

/* The partitions to reset, with their committed offsets. */
static int plan_partitions(struct admin_session *s, const struct group_reset_spec *spec,
                           const struct kafka_metadata_response *md,
                           const struct kafka_offset_fetch_response *off, struct reset_plan *p)
{
    for (int32_t t = 0; spec->all_topics && t < off->topics_count; t++) {
        for (int32_t i = 0; i < off->topics[t].partitions_count; i++) {
            if (plan_add(p, off->topics[t].name, off->topics[t].partitions[i].partition_index)) {
                return admin_session_fail(s, "plan", KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
            }
        }
    }
    for (int i = 0; i < spec->n_topics; i++) {
        if (plan_topic(s, p, md, spec->topics[i]) != 0) {
            return -1;
        }
    }
    for (size_t k = 0; k < p->n; k++) {
        for (int32_t t = 0; t < off->topics_count; t++) {
            for (int32_t i = 0; strcmp(off->topics[t].name, p->t[k].topic) == 0 &&
                                i < off->topics[t].partitions_count;
                 i++) {
                if (off->topics[t].partitions[i].partition_index == p->t[k].partition) {
                    p->t[k].current = off->topics[t].partitions[i].committed_offset;
                }
            }
        }
    }
    return 0;
}

/* The new offset of one partition, clamped to earliest..latest as Kafka does. */
static int plan_offset(struct admin_session *s, const struct group_reset_spec *spec,
                       const struct kafka_metadata_response *md, struct reset_target *t)
{
    int64_t earliest = admin_session_list_offset(s, md, t->topic, t->partition, -2);
    int64_t latest = admin_session_list_offset(s, md, t->topic, t->partition, -1);
    if (earliest < 0 || latest < 0) {
        snprintf(s->err, sizeof s->err, "cannot read the offsets of %s-%d from its leader",
                 t->topic, t->partition);
        return -1;
    }
    int64_t want = earliest;
    switch (spec->to) {
    case GROUP_RESET_LATEST:
        want = latest;
        break;
    case GROUP_RESET_OFFSET:
        want = spec->value;
        break;
    case GROUP_RESET_DATETIME:
        want = admin_session_list_offset(s, md, t->topic, t->partition, spec->value);
        want = want < 0 ? latest : want; /* nothing at or after it */
        break;
    case GROUP_RESET_SHIFT:
        if (t->current < 0) {
            snprintf(s->err, sizeof s->err, "%s-%d has no committed offset to shift", t->topic,
                     t->partition);
            return -1;
        }
        want = t->current + spec->value;
        break;
    default:
        break;
    }
    t->next = want < earliest ? earliest : want > latest ? latest : want;
    return 0;
}

/* OffsetCommit of the plan as a "simple" commit (no member, generation -1). */
static int commit_plan(struct admin_session *s, const char *group, struct reset_plan *p)
{
    struct kafka_offset_commit_request req;
    kafka_offset_commit_request_init(&req);
    req.group_id = group;
    req.member_id = "";
    req.generation_id_or_member_epoch = -1;
    req.topics = kafka_arena_alloc_array(&s->arena, p->n + 1, sizeof *req.topics);
    if (req.topics == NULL) {
        return admin_session_fail(s, "commit", KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
    }
    req.topics_count = (int32_t)p->n; /* one topic entry per partition keeps the mapping simple */
    for (size_t i = 0; i < p->n; i++) {
        struct kafka_offset_commit_request_partition *rp = kafka_arena_alloc(&s->arena, sizeof *rp);
        if (rp == NULL) {
            return admin_session_fail(s, "commit", KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
        }
        *rp =
            (struct kafka_offset_commit_request_partition){p->t[i].partition, p->t[i].next, -1, ""};
        req.topics[i] = (struct kafka_offset_commit_request_topic){p->t[i].topic, rp, 1};
    }
    struct kafka_writer w;
    admin_session_begin(s, &w);
    int rv = kafka_offset_commit_request_encode(&w, 5, &req);
    kafka_writer_free(&w);
    struct kafka_reader r;
    struct kafka_offset_commit_response resp;
    if (rv != 0 || admin_session_call(s, KAFKA_API_OFFSET_COMMIT, 5, &r) != 0 ||
        kafka_offset_commit_response_decode(&r, 5, &resp) != 0 ||
        resp.topics_count != (int32_t)p->n) {
        return rv != 0 || s->err[0] == '\0' ? admin_session_fail(s, "commit", -1) : -1;
    }
    int16_t first_error = KAFKA_ERROR_NONE;
    for (size_t i = 0; i < p->n; i++) {
        p->t[i].error = resp.topics[i].partitions_count == 1
                            ? resp.topics[i].partitions[0].error_code
                            : KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        first_error = first_error ? first_error : p->t[i].error;
    }
    return first_error == KAFKA_ERROR_NONE ? 0 : admin_session_fail(s, "commit", first_error);
}

static void print_plan(struct admin_session *s, const char *group, const struct reset_plan *p,
                       bool executed)
{
    if (s->json) {
        printf("{\"group\":");
        output_json_string(stdout, group);
        printf(",\"executed\":%s,\"offsets\":[", executed ? "true" : "false");
        for (size_t i = 0; i < p->n; i++) {
            printf("%s{\"topic\":", i ? "," : "");
            output_json_string(stdout, p->t[i].topic);
            printf(",\"partition\":%d,\"current\":%lld,\"new\":%lld", p->t[i].partition,
                   (long long)p->t[i].current, (long long)p->t[i].next);
            if (executed) {
                printf(",\"error\":");
                output_json_string(stdout, kafka_error_name(p->t[i].error));
            }
            printf("}");
        }
        printf("]}\n");
        return;
    }
    printf("%-30s  %-30s  %9s  %14s  %10s%s\n", "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET",
           "NEW-OFFSET", executed ? "  RESULT" : "");
    for (size_t i = 0; i < p->n; i++) {
        printf("%-30s  %-30s  %9d  %14lld  %10lld", group, p->t[i].topic, p->t[i].partition,
               (long long)p->t[i].current, (long long)p->t[i].next);
        printf(executed ? "  %s\n" : "\n", kafka_error_name(p->t[i].error));
    }
    if (!executed) {
        printf("(dry run: nothing committed; add --execute to commit these offsets)\n");
    }
}

/* Members would overwrite the reset with their own commits, and the
 * coordinator refuses a memberless commit while they are there. */
static int require_inactive(struct admin_session *s, const char *group)
{
    struct kafka_describe_groups_response_described_group *g;
    if (group_session_describe(s, group, &g) != 0) {
        return -1;
    }
    if (g->members_count > 0 ||
        (strcmp(g->group_state, "Empty") != 0 && strcmp(g->group_state, "Dead") != 0)) {
        snprintf(s->err, sizeof s->err,
                 "group %s is active (state %s, %d members): stop its consumers before "
                 "resetting its offsets",
                 group, g->group_state, g->members_count);
        return -1;
    }
    return 0;
}

int group_reset_run(struct admin_session *s, const char *group, const struct group_reset_spec *spec)
{
    struct kafka_metadata_response md;
    struct kafka_offset_fetch_response off;
    struct reset_plan plan = {0};
    int rv = SLUICECTL_FAILED;
    if (admin_session_metadata(s, NULL, -1, &md) != 0 ||
        admin_session_connect_coordinator(s, 0, group) != 0 || require_inactive(s, group) != 0 ||
        group_session_committed(s, group, &off) != 0 ||
        plan_partitions(s, spec, &md, &off, &plan) != 0) {
        goto out;
    }
    if (plan.n == 0) {
        snprintf(s->err, sizeof s->err, "no partitions to reset (name them with --topic)");
        goto out;
    }
    for (size_t i = 0; i < plan.n; i++) {
        if (plan_offset(s, spec, &md, &plan.t[i]) != 0) {
            goto out;
        }
    }
    if (spec->execute) {
        /* The group may have gained members while the plan was made. */
        if (admin_session_connect_coordinator(s, 0, group) != 0 ||
            require_inactive(s, group) != 0) {
            goto out;
        }
        int crv = commit_plan(s, group, &plan);
        print_plan(s, group, &plan, true);
        rv = crv == 0 ? SLUICECTL_OK : SLUICECTL_FAILED;
        goto out;
    }
    print_plan(s, group, &plan, false);
    rv = SLUICECTL_OK;
out:
    free(plan.t);
    return rv;
}
