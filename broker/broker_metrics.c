/* The broker's status and metrics; see broker_metrics.h. */
#include "broker/broker_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/group/group_coordinator.h"
#include "broker/replica/partition.h"
#include "broker/replica/replica_session.h"

/* The hosted partitions, gathered once per scrape so each family is one
 * pass (the exposition format wants a family's samples together). */
struct partition_list {
    struct partition **p;
    size_t n, cap;
    bool oom;
};

static void gather(struct partition *p, void *arg)
{
    struct partition_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct partition **grown = realloc(l->p, cap * sizeof *grown);
        if (grown == NULL) {
            l->oom = true;
            return;
        }
        l->p = grown;
        l->cap = cap;
    }
    l->p[l->n++] = p;
}

static bool under_replicated(const struct partition *p)
{
    return partition_is_leader(p) && p->n_isr < p->n_replicas;
}

static bool under_min_isr(const struct partition *p)
{
    return partition_is_leader(p) && p->n_isr < p->min_insync_replicas;
}

void broker_status_get(struct broker *b, struct broker_status *out)
{
    memset(out, 0, sizeof *out);
    out->metadata_offset = -1;
    if (b->started == 0) {
        return;
    }
    const struct broker_session *s = &b->link.session;
    out->registered = broker_session_registered(s);
    out->broker_epoch = s->broker_epoch;
    const MetadataImage *image = broker_session_image(s);
    if (image != NULL) {
        out->metadata_offset = image->offset;
    }
    out->ready = broker_caught_up_and_unfenced(b);
    out->accepting = b->accepting;
    struct partition_list l = {0};
    replica_manager_each_partition(&b->replicas, gather, &l);
    out->partitions = (int32_t)l.n;
    for (size_t i = 0; i < l.n; i++) {
        out->leaders += partition_is_leader(l.p[i]);
    }
    free(l.p);
    out->partitions_opening = (int32_t)replica_manager_opening(&b->replicas);
}

/* ---- families ---- */

typedef int64_t (*partition_value_fn)(const struct partition *p);

/* Topics are visited together (the replica manager keeps a topic's
 * partitions in one array): sum runs of one topic. */
static void topic_family(struct prom_writer *w, const struct partition_list *l, const char *name,
                         const char *help, partition_value_fn value)
{
    prom_family(w, name, "counter", help);
    for (size_t i = 0; i < l->n;) {
        int64_t sum = 0;
        size_t j = i;
        for (; j < l->n && strcmp(l->p[j]->topic, l->p[i]->topic) == 0; j++) {
            sum += value(l->p[j]);
        }
        struct prom_label label = {"topic", l->p[i]->topic};
        prom_sample_int(w, name, &label, 1, sum);
        i = j;
    }
}

static int64_t bytes_in(const struct partition *p)
{
    return (int64_t)p->traffic.bytes_in;
}
static int64_t records_in(const struct partition *p)
{
    return (int64_t)p->traffic.records_in;
}
static int64_t bytes_out(const struct partition *p)
{
    return (int64_t)p->traffic.bytes_out;
}

/* ---- per-partition families, from a snapshot ---- */

/* A follower's lag as its leader saw it. */
struct lag_row {
    int32_t replica;
    int64_t lag;
};

struct partition_row {
    size_t topic; /* offset of its name in names */
    int32_t index;
    bool leader;
    int64_t size, segments, end, hw;
    size_t lag_first, n_lag; /* its followers in lags */
};

/* Plain copies: a partition, even its topic, may be deleted while the
 * snapshot is rendered. One copy of each topic's name. */
struct broker_partition_snapshot {
    struct partition_row *rows;
    size_t n;
    struct lag_row *lags;
    char *names;
};

static bool lag_counted(const struct partition *p, const struct replica_progress *rp)
{
    return rp->broker_id != p->self && rp->log_end >= 0;
}

static bool same_topic_as_previous(const struct partition_list *l, size_t i)
{
    return i > 0 && strcmp(l->p[i]->topic, l->p[i - 1]->topic) == 0;
}

/* Sized in a first pass, filled in a second: no growth, and the whole is
 * proportional to the hosted partitions (max.broker.partitions bounds them). */
static struct broker_partition_snapshot *snapshot_take(const struct partition_list *l)
{
    size_t n_lags = 0, names_len = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct partition *p = l->p[i];
        if (!same_topic_as_previous(l, i)) {
            names_len += strlen(p->topic) + 1;
        }
        if (partition_is_leader(p)) {
            for (int32_t r = 0; r < p->n_replicas; r++) {
                n_lags += lag_counted(p, &p->replicas[r]);
            }
        }
    }
    struct broker_partition_snapshot *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->rows = malloc((l->n ? l->n : 1) * sizeof *s->rows);
    s->lags = malloc((n_lags ? n_lags : 1) * sizeof *s->lags);
    s->names = malloc(names_len ? names_len : 1);
    if (s->rows == NULL || s->lags == NULL || s->names == NULL) {
        broker_partition_snapshot_free(s);
        return NULL;
    }
    size_t names_at = 0, topic = 0, lag_at = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct partition *p = l->p[i];
        if (!same_topic_as_previous(l, i)) {
            topic = names_at;
            size_t len = strlen(p->topic) + 1;
            memcpy(s->names + names_at, p->topic, len);
            names_at += len;
        }
        struct partition_row *row = &s->rows[i];
        row->topic = topic;
        row->index = p->index;
        row->leader = partition_is_leader(p);
        row->size = partition_log_size_bytes(p->log);
        row->segments = partition_log_segment_count(p->log);
        row->end = partition_log_end(p);
        row->hw = partition_high_watermark(p);
        row->lag_first = lag_at;
        row->n_lag = 0;
        if (!row->leader) {
            continue;
        }
        for (int32_t r = 0; r < p->n_replicas; r++) {
            const struct replica_progress *rp = &p->replicas[r];
            if (lag_counted(p, rp)) {
                s->lags[lag_at++] = (struct lag_row){
                    rp->broker_id, row->end > rp->log_end ? row->end - rp->log_end : 0};
                row->n_lag++;
            }
        }
    }
    s->n = l->n;
    return s;
}

void broker_partition_snapshot_free(struct broker_partition_snapshot *s)
{
    if (s != NULL) {
        free(s->rows);
        free(s->lags);
        free(s->names);
        free(s);
    }
}

static void row_labels(const struct broker_partition_snapshot *s, const struct partition_row *row,
                       char *index, size_t len, struct prom_label out[2])
{
    snprintf(index, len, "%d", row->index);
    out[0] = (struct prom_label){"topic", s->names + row->topic};
    out[1] = (struct prom_label){"partition", index};
}

typedef int64_t (*row_value_fn)(const struct partition_row *row);

static void partition_family(struct prom_writer *w, const struct broker_partition_snapshot *s,
                             const char *name, const char *type, const char *help,
                             row_value_fn value)
{
    prom_family(w, name, type, help);
    for (size_t i = 0; i < s->n; i++) {
        char index[16];
        struct prom_label labels[2];
        row_labels(s, &s->rows[i], index, sizeof index, labels);
        prom_sample_int(w, name, labels, 2, value(&s->rows[i]));
    }
}

static int64_t log_size(const struct partition_row *row)
{
    return row->size;
}
static int64_t log_segments(const struct partition_row *row)
{
    return row->segments;
}
static int64_t log_end(const struct partition_row *row)
{
    return row->end;
}
static int64_t high_watermark(const struct partition_row *row)
{
    return row->hw;
}
static int64_t is_leader(const struct partition_row *row)
{
    return row->leader;
}

static void replica_lag_family(struct prom_writer *w, const struct broker_partition_snapshot *s)
{
    const char *name = "sluice_replica_fetch_lag_records";
    prom_family(w, name, "gauge",
                "Leader only: offsets a follower is behind the leader's log end, as of its "
                "last fetch in this leader epoch.");
    for (size_t i = 0; i < s->n; i++) {
        const struct partition_row *row = &s->rows[i];
        for (size_t k = 0; k < row->n_lag; k++) {
            const struct lag_row *lag = &s->lags[row->lag_first + k];
            char index[16], replica[16];
            struct prom_label labels[3];
            row_labels(s, row, index, sizeof index, labels);
            snprintf(replica, sizeof replica, "%d", lag->replica);
            labels[2] = (struct prom_label){"replica", replica};
            prom_sample_int(w, name, labels, 3, lag->lag);
        }
    }
}

void broker_partition_snapshot_write(const struct broker_partition_snapshot *s,
                                     struct prom_writer *w)
{
    partition_family(w, s, "sluice_partition_log_size_bytes", "gauge",
                     "Bytes in the partition's segment files.", log_size);
    partition_family(w, s, "sluice_partition_log_segments", "gauge",
                     "Segments of the partition's log.", log_segments);
    partition_family(w, s, "sluice_partition_log_end_offset", "gauge",
                     "Offset the next appended record gets.", log_end);
    partition_family(w, s, "sluice_partition_high_watermark", "gauge",
                     "Offset below which records are committed (visible to consumers).",
                     high_watermark);
    partition_family(w, s, "sluice_partition_leader", "gauge",
                     "1 when this broker leads the partition.", is_leader);
    replica_lag_family(w, s);
}

static void sum_family(struct prom_writer *w, const struct partition_list *l, const char *name,
                       const char *type, const char *help, bool (*pred)(const struct partition *))
{
    int64_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        n += pred(l->p[i]);
    }
    prom_family(w, name, type, help);
    prom_sample_int(w, name, NULL, 0, n);
}

static void isr_change_families(struct prom_writer *w, const struct partition_list *l)
{
    uint64_t shrinks = 0, expands = 0;
    for (size_t i = 0; i < l->n; i++) {
        shrinks += l->p[i]->traffic.isr_shrinks;
        expands += l->p[i]->traffic.isr_expands;
    }
    prom_family(w, "sluice_isr_shrinks_total", "counter",
                "ISR shrinks this broker made as leader (accepted by the controller).");
    prom_sample_int(w, "sluice_isr_shrinks_total", NULL, 0, (int64_t)shrinks);
    prom_family(w, "sluice_isr_expands_total", "counter",
                "ISR expansions this broker made as leader (accepted by the controller).");
    prom_sample_int(w, "sluice_isr_expands_total", NULL, 0, (int64_t)expands);
}

/* ---- consumer groups: lag where this broker hosts the partition ---- */

struct group_lag_ctx {
    struct broker *b;
    struct prom_writer *w;
    const char *group;
};

static void committed_lag(void *arg, const struct group_committed *c)
{
    struct group_lag_ctx *ctx = arg;
    struct partition *p = replica_manager_partition(&ctx->b->replicas, c->topic, c->partition);
    if (p == NULL || c->offset < 0) {
        return;
    }
    int64_t hw = partition_high_watermark(p);
    char index[16];
    snprintf(index, sizeof index, "%d", c->partition);
    struct prom_label labels[3] = {
        {"group", ctx->group}, {"topic", c->topic}, {"partition", index}};
    prom_sample_int(ctx->w, "sluice_consumer_group_lag_records", labels, 3,
                    hw > c->offset ? hw - c->offset : 0);
}

static void group_lag(void *arg, const char *group_id, const char *protocol_type, const char *state)
{
    (void)protocol_type;
    (void)state;
    struct group_lag_ctx *ctx = arg;
    ctx->group = group_id;
    group_each_committed(ctx->b->groups, group_id, committed_lag, ctx);
}

static void group_lag_family(struct broker *b, struct prom_writer *w)
{
    prom_family(w, "sluice_consumer_group_lag_records", "gauge",
                "Coordinator only: high watermark minus the committed offset, for the groups "
                "this broker coordinates and the partitions it hosts.");
    if (b->groups != NULL) {
        struct group_lag_ctx ctx = {b, w, NULL};
        group_each(b->groups, group_lag, &ctx);
    }
}

static void connection_families(struct broker *b, struct prom_writer *w)
{
    int64_t conns = 0, queued = 0;
    for (struct kafka_conn *c = b->server.conns; c != NULL; c = kafka_conn_next(c)) {
        conns++;
        queued += (int64_t)kafka_conn_pending_bytes(c);
    }
    prom_gauge(w, "sluice_kafka_connections", "Open Kafka client connections.", conns);
    prom_gauge(w, "sluice_kafka_response_bytes_queued",
               "Response bytes queued on Kafka connections, not yet written (a connection "
               "stops reading requests past its bound).",
               queued);
    const struct request_budget *budget = &b->server.budget;
    prom_gauge(w, "sluice_kafka_request_budget_used_bytes",
               "Request bytes held now against queued.max.request.bytes.", (int64_t)budget->used);
    prom_gauge(w, "sluice_kafka_request_budget_limit_bytes",
               "queued.max.request.bytes (0: unlimited).", (int64_t)budget->limit);
    prom_family(w, "sluice_kafka_request_budget_pauses_total", "counter",
                "Times a connection stopped reading because the request budget was spent.");
    prom_sample_int(w, "sluice_kafka_request_budget_pauses_total", NULL, 0,
                    (int64_t)budget->pauses);
    prom_family(w, "sluice_kafka_request_budget_share_pauses_total", "counter",
                "Of those, times because the connection held its fair share of the budget "
                "(the limit over the connections holding or waiting, plus one).");
    prom_sample_int(w, "sluice_kafka_request_budget_share_pauses_total", NULL, 0,
                    (int64_t)budget->share_pauses);
    prom_family(w, "sluice_kafka_handler_budget_waits_total", "counter",
                "Times a connection's next request waited for a later event loop iteration "
                "because request handlers had used this iteration's share (10 ms).");
    prom_sample_int(w, "sluice_kafka_handler_budget_waits_total", NULL, 0,
                    (int64_t)b->server.handler_budget.waits);
}

/* Kafka's LogManager OfflineLogDirectoryCount, per directory, with the cause
 * as a label so an operator sees which disk failed and why. */
static void log_dir_family(struct broker *b, struct prom_writer *w)
{
    const struct log_manager *lm = &b->replicas.logs;
    prom_family(w, "sluice_log_dir_offline", "gauge",
                "1 when the log directory is offline after a storage error (its partitions are "
                "not served here until restart); the error label says why.");
    size_t offline = 0;
    for (size_t i = 0; i < b->replicas.dirs->count; i++) {
        struct prom_label labels[] = {{"dir", b->replicas.dirs->paths[i]},
                                      {"error", lm->dir_offline[i] ? lm->dir_error[i] : ""}};
        prom_sample_int(w, "sluice_log_dir_offline", labels, 2, lm->dir_offline[i]);
        offline += lm->dir_offline[i];
    }
    prom_gauge(w, "sluice_log_dirs_offline", "Offline log directories of this broker.",
               (int64_t)offline);
}

/* The replication throttles (leader.replication.throttled.rate and
 * follower.replication.throttled.rate), one sample per side. */
static void throttle_families(struct broker *b, struct prom_writer *w)
{
    struct replication_quota *q[2] = {replica_manager_quota(&b->replicas, true),
                                      replica_manager_quota(&b->replicas, false)};
    struct prom_label side[2] = {{"side", "leader"}, {"side", "follower"}};
    uint64_t now = uv_now(b->replicas.loop);
    prom_family(w, "sluice_replication_throttled_bytes_total", "counter",
                "Bytes of throttled partitions (the topic's leader./follower.replication."
                "throttled.replicas) this broker served as leader or fetched as follower.");
    for (int i = 0; i < 2; i++) {
        prom_sample_int(w, "sluice_replication_throttled_bytes_total", &side[i], 1,
                        (int64_t)q[i]->throttled_bytes);
    }
    prom_family(w, "sluice_replication_throttle_held_back_total", "counter",
                "Partition fetches of out-of-sync replicas held back because the throttle's "
                "rate was over its limit.");
    for (int i = 0; i < 2; i++) {
        prom_sample_int(w, "sluice_replication_throttle_held_back_total", &side[i], 1,
                        (int64_t)q[i]->held_back);
    }
    prom_family(w, "sluice_replication_throttle_rate_bytes", "gauge",
                "Measured rate of throttled replication bytes per second (11 windows of 1 s).");
    for (int i = 0; i < 2; i++) {
        prom_sample_double(w, "sluice_replication_throttle_rate_bytes", &side[i], 1,
                           replication_quota_rate(q[i], now));
    }
    prom_family(w, "sluice_replication_throttle_limit_bytes", "gauge",
                "The throttle's limit in bytes per second; -1 when unlimited.");
    for (int i = 0; i < 2; i++) {
        prom_sample_int(w, "sluice_replication_throttle_limit_bytes", &side[i], 1,
                        q[i]->bound == INT64_MAX ? -1 : q[i]->bound);
    }
}

/* Followers' fetches this broker served as leader, and their incremental
 * fetch sessions (KIP-227): with sessions, an idle follower names no
 * partitions, though each fetch serves all of its session's. */
static void prom_counter(struct prom_writer *w, const char *name, const char *help, int64_t value)
{
    prom_family(w, name, "counter", help);
    prom_sample_int(w, name, NULL, 0, value);
}

static void replica_fetch_families(struct broker *b, struct prom_writer *w)
{
    const struct replica_manager *rm = &b->replicas;
    prom_counter(w, "sluice_replica_fetch_requests_total",
                 "Follower fetch requests served as leader.", (int64_t)rm->fetch_stats.requests);
    prom_counter(w, "sluice_replica_fetch_partitions_named_total",
                 "Partitions named in follower fetch requests (with a fetch session, only the "
                 "new or changed ones).",
                 (int64_t)rm->fetch_stats.named);
    prom_counter(w, "sluice_replica_fetch_partitions_served_total",
                 "Partitions served to follower fetches, the sessions' cached ones included.",
                 (int64_t)rm->fetch_stats.served);
    prom_counter(w, "sluice_replica_fetch_partitions_examined_total",
                 "Partitions the leader looked at to answer follower fetches: with a fetch "
                 "session, those named, changed since its last answer or not yet caught up, "
                 "and a share of the others at each fetch, so that every one is looked at within "
                 "the session's sweep interval.",
                 (int64_t)rm->fetch_stats.examined);
    prom_counter(w, "sluice_replica_fetch_partitions_answered_total",
                 "Partitions in the answers to follower fetches.",
                 (int64_t)rm->fetch_stats.answered);
    prom_counter(w, "sluice_replica_fetch_session_errors_total",
                 "Follower fetches answered with a fetch session error (unknown session, wrong "
                 "epoch).",
                 (int64_t)rm->fetch_stats.session_errors);
    prom_gauge(w, "sluice_replica_fetch_sessions", "Followers' fetch sessions held as leader.",
               rm->fetch_sessions != NULL ? (int64_t)replica_session_cache_count(rm->fetch_sessions)
                                          : 0);
}

/* The follower side's cost: a fetcher's steady rounds visit only the
 * partitions its last answer moved, a full round every partition it follows
 * (issue 14). */
static void replica_fetcher_families(struct broker *b, struct prom_writer *w)
{
    const struct replica_manager *rm = &b->replicas;
    const char *rounds = "sluice_replica_fetcher_rounds_total";
    prom_family(w, rounds, "counter",
                "Follower fetcher rounds: full (every partition the fetcher follows visited) or "
                "incremental (only those the last answer moved).");
    const struct prom_label full = {"kind", "full"}, incremental = {"kind", "incremental"};
    prom_sample_int(w, rounds, &full, 1, (int64_t)rm->fetcher_stats.full_rounds);
    prom_sample_int(w, rounds, &incremental, 1, (int64_t)rm->fetcher_stats.incremental_rounds);
    prom_counter(w, "sluice_replica_fetcher_partitions_walked_total",
                 "Partitions visited by follower fetcher rounds (and by rebuilds of a fetcher's "
                 "partition set).",
                 (int64_t)rm->fetcher_stats.partitions_walked);
}

void broker_metrics_write(struct broker *b, struct prom_writer *w,
                          struct broker_partition_snapshot **partitions)
{
    if (b->started == 0) {
        return;
    }
    struct broker_status st;
    broker_status_get(b, &st);
    prom_gauge(w, "sluice_broker_registered",
               "1 once the controllers answered this broker's registration.", st.registered);
    prom_gauge(w, "sluice_broker_ready",
               "1 while this broker is registered, caught up with the metadata and unfenced.",
               st.ready);
    prom_gauge(w, "sluice_broker_metadata_offset",
               "Offset of the cluster metadata this broker has replayed.", st.metadata_offset);
    connection_families(b, w);
    request_metrics_write(&b->requests, w);

    struct partition_list l = {0};
    replica_manager_each_partition(&b->replicas, gather, &l);
    if (l.oom) {
        w->error = -ENOMEM;
    }
    prom_gauge(w, "sluice_broker_partitions", "Partition replicas this broker hosts.",
               (int64_t)l.n);
    prom_gauge(w, "sluice_broker_partitions_opening",
               "Partition logs being created or recovered on the thread pool (not served yet).",
               (int64_t)replica_manager_opening(&b->replicas));
    prom_gauge(w, "sluice_log_deletions_pending",
               "File deletions (deleted partitions' directories, deleted segments' files) "
               "waiting for the thread pool or on it, a few at a time.",
               (int64_t)replica_manager_deletions_pending(&b->replicas));
    sum_family(w, &l, "sluice_broker_leader_partitions", "gauge", "Partitions this broker leads.",
               partition_is_leader);
    sum_family(w, &l, "sluice_broker_under_replicated_partitions", "gauge",
               "Partitions this broker leads whose ISR is smaller than the replica set.",
               under_replicated);
    sum_family(w, &l, "sluice_broker_under_min_isr_partitions", "gauge",
               "Partitions this broker leads whose ISR is below min.insync.replicas (acks=all "
               "writes are refused).",
               under_min_isr);
    isr_change_families(w, &l);
    topic_family(w, &l, "sluice_topic_bytes_in_total",
                 "Record batch bytes produced to partitions this broker leads.", bytes_in);
    topic_family(w, &l, "sluice_topic_records_in_total",
                 "Records produced to partitions this broker leads.", records_in);
    topic_family(w, &l, "sluice_topic_bytes_out_total",
                 "Record batch bytes read by consumers (not followers) from this broker.",
                 bytes_out);
    if (!l.oom) {
        struct broker_partition_snapshot *snap = snapshot_take(&l);
        if (snap == NULL) {
            w->error = -ENOMEM;
        } else if (partitions != NULL) {
            *partitions = snap;
        } else {
            broker_partition_snapshot_write(snap, w);
            broker_partition_snapshot_free(snap);
        }
    }
    free(l.p);
    if (b->replicas.running && b->replicas.dirs != NULL) {
        log_dir_family(b, w);
        throttle_families(b, w);
        replica_fetch_families(b, w);
        replica_fetcher_families(b, w);
    }
    group_lag_family(b, w);
    if (b->link.running) {
        /* The ISR changes this broker proposed as a leader, and the
         * AlterPartition requests that carried them (batched: issue 14). */
        const struct alter_batcher *ab = &b->link.session.alter;
        prom_counter(w, "sluice_alter_partition_requests_total",
                     "AlterPartition requests sent to the controllers.", (int64_t)ab->requests);
        prom_counter(w, "sluice_alter_partition_items_total",
                     "ISR changes (partitions) carried by the AlterPartition requests sent.",
                     (int64_t)ab->items);
    }
}
