/* DescribeLogDirs (key 35): each of this broker's log directories, with
 * KAFKA_STORAGE_ERROR for one that went offline after a storage error, the
 * size and lag of each partition it holds (all of them, or those the request
 * names), and from v4 the volume's total and usable bytes (KIP-827). */
#include <string.h>
#include <sys/statvfs.h>

#include "broker/kafka/authorizer.h"
#include "broker/kafka/dispatch.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

typedef struct kafka_describe_log_dirs_response_result dir_result;
typedef struct kafka_describe_log_dirs_response_topic dir_topic;
typedef struct kafka_describe_log_dirs_response_partition dir_partition;

struct describe_ctx {
    struct kafka_call *call;
    const struct kafka_describe_log_dirs_request *req;
    dir_result *results; /* one per log directory */
    size_t n_dirs;
    size_t *n_parts; /* per directory: partitions counted (pass 1) */
    bool filling;    /* pass 2 */
    bool oom;
};

static bool wanted(const struct kafka_describe_log_dirs_request *req, const char *topic,
                   int32_t index)
{
    if (req->topics_count < 0) {
        return true; /* null: every partition */
    }
    for (int32_t i = 0; i < req->topics_count; i++) {
        const struct kafka_describe_log_dirs_request_describable_log_dir_topic *t = &req->topics[i];
        if (t->topic == NULL || strcmp(t->topic, topic) != 0) {
            continue;
        }
        for (int32_t j = 0; j < t->partitions_count; j++) {
            if (t->partitions[j] == index) {
                return true;
            }
        }
    }
    return false;
}

/* Pass 1 counts each directory's partitions; pass 2 files them, grouping a
 * topic's partitions (the replica manager visits them topic by topic). */
static void visit(struct partition *p, void *arg)
{
    struct describe_ctx *c = arg;
    struct replica_manager *rm = c->call->svc->replicas;
    int d = replica_manager_partition_dir(rm, p->topic, p->index);
    if (d < 0 || (size_t)d >= c->n_dirs || !wanted(c->req, p->topic, p->index)) {
        return;
    }
    if (!c->filling) {
        c->n_parts[d]++;
        return;
    }
    dir_result *r = &c->results[d];
    if (r->topics == NULL) {
        return; /* offline, or out of memory */
    }
    dir_topic *t = r->topics_count > 0 ? &r->topics[r->topics_count - 1] : NULL;
    if (t == NULL || strcmp(t->name, p->topic) != 0) {
        t = &r->topics[r->topics_count++];
        kafka_describe_log_dirs_response_topic_init(t);
        t->name = p->topic;
        t->partitions =
            kafka_arena_alloc_array(&c->call->arena, c->n_parts[d] + 1, sizeof *t->partitions);
        t->partitions_count = 0;
        if (t->partitions == NULL) {
            c->oom = true;
            r->topics_count--;
            return;
        }
    }
    dir_partition *out = &t->partitions[t->partitions_count++];
    kafka_describe_log_dirs_response_partition_init(out);
    out->partition_index = p->index;
    out->partition_size = partition_log_size_bytes(p->log);
    /* Kafka's lag of a current log: how far its end is below the high
     * watermark (a follower catching up), never negative. */
    int64_t lag = partition_high_watermark(p) - partition_log_end(p);
    out->offset_lag = lag > 0 ? lag : 0;
    out->is_future_key = false;
}

void kafka_handle_describe_log_dirs(struct kafka_call *call)
{
    struct kafka_describe_log_dirs_request req;
    int rv = kafka_describe_log_dirs_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct replica_manager *rm = call->svc->replicas;
    size_t n_dirs = rm->dirs->count;
    /* Kafka: without Describe on the cluster, no directories (and, v3+,
     * CLUSTER_AUTHORIZATION_FAILED). */
    bool authorized =
        kafka_authorize(call, ACL_OP_DESCRIBE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME);
    if (!authorized) {
        n_dirs = 0;
    }
    struct describe_ctx c = {call, &req, NULL, n_dirs, NULL, false, false};
    c.results = kafka_arena_alloc_array(&call->arena, n_dirs + 1, sizeof *c.results);
    c.n_parts = kafka_arena_alloc_array(&call->arena, n_dirs + 1, sizeof *c.n_parts);
    if (c.results == NULL || c.n_parts == NULL) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    memset(c.n_parts, 0, (n_dirs + 1) * sizeof *c.n_parts);
    if (authorized) {
        replica_manager_each_partition(rm, visit, &c);
    }
    for (size_t d = 0; d < n_dirs; d++) {
        dir_result *r = &c.results[d];
        kafka_describe_log_dirs_response_result_init(r);
        r->log_dir = rm->dirs->paths[d];
        r->topics_count = 0;
        r->total_bytes = r->usable_bytes = -1;
        if (rm->logs.dir_offline[d]) {
            r->error_code = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
            r->topics = NULL; /* encoded as an empty array */
            continue;
        }
        r->error_code = KAFKA_ERROR_NONE;
        /* At most one topic entry per partition. */
        r->topics = kafka_arena_alloc_array(&call->arena, c.n_parts[d] + 1, sizeof *r->topics);
        if (r->topics == NULL) {
            c.oom = true;
        }
        struct statvfs st;
        if (statvfs(rm->dirs->paths[d], &st) == 0) {
            r->total_bytes = (int64_t)st.f_blocks * (int64_t)st.f_frsize;
            r->usable_bytes = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
        }
    }
    c.filling = true;
    if (authorized) {
        replica_manager_each_partition(rm, visit, &c);
    }
    if (c.oom) {
        kafka_call_fail(call, "out of memory");
        return;
    }
    struct kafka_describe_log_dirs_response resp;
    kafka_describe_log_dirs_response_init(&resp);
    resp.error_code = authorized ? KAFKA_ERROR_NONE : KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
    resp.results = c.results;
    resp.results_count = (int32_t)n_dirs;
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_describe_log_dirs_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}
