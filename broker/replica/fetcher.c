/* Follower fetchers; see fetcher.h. */
#include "broker/replica/fetcher_session.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/replica/replica_manager.h"
#include "broker/replica/replica_service.h"
#include "broker/replica/replica_session.h"
#include "common/internal_tls.h"
#include "common/log.h"
#include "common/rpc_client.h"
#include "proto/replica.pb-c.h"

#define ERR_OFFSET_OUT_OF_RANGE    1
#define ERR_UNKNOWN_TOPIC          3
#define ERR_NOT_LEADER_OR_FOLLOWER 6
#define ERR_UNKNOWN_LEADER_EPOCH   75
#define NOT_READY_FIRST_WAIT_MS    50   /* then doubling up to replica.fetch.backoff.ms */
#define REQUEST_SLACK_MS           5000 /* beyond the long poll, before a fetch counts as lost */
#define MAX_SENT                   REPLICA_FETCH_MAX_PARTITIONS /* partitions in one request */
/* The longest a fetcher goes without a full round (one visiting every
 * partition it follows) while its rounds are incremental. Every case known
 * to need a full round forces one at once (round_is_incremental); this
 * bound is the safety net for one missed, so that it costs at most this
 * much latency, never correctness. 5 s is the leader's own sweep of a
 * session (replica_service.c), far below replica.lag.time.max.ms (30 s).
 * At 1 s the walks were most of an idle node's CPU at 5,000 partitions
 * (perf: partition_is_leader, the log end and latest epoch of every
 * partition followed, each a cache miss) and a 1-5 ms loop stall per
 * fetcher every second. */
#define FULL_ROUND_EVERY_MS 5000

int32_t fetcher_slot_of(const char *topic, int32_t index, int32_t n)
{
    uint32_t h = 2166136261u;
    for (const char *c = topic; *c; c++) {
        h = (h ^ (uint8_t)*c) * 16777619u;
    }
    h ^= (uint32_t)index;
    return n > 1 ? (int32_t)(h % (uint32_t)n) : 0;
}

int32_t fetcher_leader(const struct replica_fetcher *f)
{
    return f->leader;
}

int32_t fetcher_slot(const struct replica_fetcher *f)
{
    return f->slot;
}

static void fetcher_free(struct replica_fetcher *f)
{
    free(f->set);
    free(f->sent);
    free(f->session);
    free(f->moved);
    free(f);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct replica_fetcher *f = h->data;
    if (--f->open_handles == 0) {
        fetcher_free(f);
    }
}

static void on_client_closed(struct rpc_client *c)
{
    struct replica_fetcher *f = c->data;
    if (--f->open_handles == 0) {
        fetcher_free(f);
    }
}

static void round_start(struct replica_fetcher *f);

static void on_timer(uv_timer_t *t)
{
    round_start(t->data);
}

struct replica_fetcher *fetcher_new(struct replica_manager *rm, int32_t leader, int32_t slot)
{
    struct replica_fetcher *f = calloc(1, sizeof *f);
    if (f == NULL || (f->sent = calloc(MAX_SENT, sizeof *f->sent)) == NULL ||
        (f->session = calloc(MAX_SENT, sizeof *f->session)) == NULL ||
        (f->moved = calloc(MAX_SENT, sizeof *f->moved)) == NULL) {
        if (f != NULL) {
            free(f->sent);
            free(f->session);
        }
        free(f);
        return NULL;
    }
    f->session_epoch = REPLICA_SESSION_EPOCH_NEW;
    f->rm = rm;
    f->leader = leader;
    f->slot = slot;
    f->port = -1;
    uv_timer_init(rm->loop, &f->timer);
    f->timer.data = f;
    f->open_handles = 1;
    return f;
}

void fetcher_kick(struct replica_fetcher *f)
{
    if (!f->in_flight && !f->closing && !uv_is_active((uv_handle_t *)&f->timer)) {
        uv_timer_start(&f->timer, on_timer, 0, 0);
    }
}

static void backoff(struct replica_fetcher *f)
{
    if (!f->closing) {
        uv_timer_start(&f->timer, on_timer, (uint64_t)f->rm->cfg->replica_fetch_backoff_ms, 0);
    }
}

void fetcher_close(struct replica_fetcher *f)
{
    f->closing = true;
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, on_handle_closed);
    if (f->client_up) {
        f->open_handles++;
        f->client.data = f;
        rpc_client_close(&f->client, on_client_closed);
    }
}

/* Point the client at the leader's inter-broker endpoint. Returns 0, or -1
 * when the leader has none (yet). */

/* Only the leader's broker answers as the leader: its certificate must be
 * node `leader`'s. */
static bool check_leader(struct rpc_client *client, const char *subject, char *why, size_t whylen)
{
    struct replica_fetcher *f = client->data;
    struct internal_peer peer;
    internal_tls_identify(f->rm->tls, subject, &peer);
    if (peer.node == f->leader) {
        return true;
    }
    snprintf(why, whylen, "leader %d at %s:%d presented principal %s, not node %d's (%s)",
             f->leader, f->host, f->port, peer.principal, f->leader, f->rm->tls->node_pattern);
    return false;
}

static int connect_leader(struct replica_fetcher *f)
{
    const struct metadata_endpoint *ep = replica_manager_endpoint(f->rm, f->leader);
    if (ep == NULL) {
        return -1;
    }
    if (f->client_up && strcmp(ep->host, f->host) == 0 && ep->port == f->port) {
        return 0;
    }
    snprintf(f->host, sizeof f->host, "%s", ep->host);
    f->port = ep->port;
    if (f->client_up) {
        return rpc_client_set_target(&f->client, f->host, f->port) == 0 ? 0 : -1;
    }
    const struct internal_tls *tls = f->rm->tls;
    struct rpc_client_options o = {.max_frame = replica_rpc_max_frame(f->rm->cfg),
                                   .tls = tls != NULL ? tls->client : NULL,
                                   .tls_verify_host = tls != NULL && tls->verify_host,
                                   .check_server = tls != NULL ? check_leader : NULL};
    if (rpc_client_init(&f->client, f->rm->loop, f->host, f->port, &o) != 0) {
        return -1;
    }
    f->client.data = f;
    f->client_up = true;
    log_info("replica", "fetching from leader=%d host=%s port=%d slot=%d", f->leader, f->host,
             f->port, f->slot);
    return 0;
}

/* Whether `p`, in this fetcher's slot, is ours to fetch (now or after its
 * retry wait). */
static bool mine_in_slot(struct replica_fetcher *f, struct partition *p)
{
    return !partition_is_leader(p) && p->leader_id == f->leader && p->fetch_state != FETCH_NONE;
}

/* Whether `p` is ours to fetch (now or after its retry wait). */
static bool mine(struct replica_fetcher *f, struct partition *p)
{
    int32_t n = f->rm->cfg->num_replica_fetchers;
    return mine_in_slot(f, p) && fetcher_slot_of(p->topic, p->index, n) == f->slot;
}

/* One walk over the hosted partitions: the partitions to fetch, unless
 * some need truncation first, then only those (the walk switches over at
 * the first one it meets). */
struct collect {
    struct replica_fetcher *f;
    uint64_t now;
    enum partition_fetch_state want;
    uint64_t next_retry; /* the earliest fetch_retry_ms still ahead; UINT64_MAX: none */
    uint64_t held_back;  /* by the throttle, while collecting to fetch */
    size_t max_sent;     /* the request's bound (request_max) */
    size_t ready;        /* partitions to fetch now: in the request or past its bound */
    size_t at;           /* the position being visited: a set entry, or in the walk */
    bool overflow;       /* a partition to send did not fit */
    size_t overflow_at;  /* the position of the first one */
    /* Without the set (collect_one): the walk numbers this slot's hosted
     * partitions (`seen` so far) and visits those in [from, until). */
    size_t seen, from, until;
};

/* The most partitions one request names. A follower of more partitions
 * from one leader (in one fetcher slot) fetches them in turns, a window of
 * this many each round; num.replica.fetchers splits them instead. */
static size_t request_max(const struct replica_fetcher *f)
{
    size_t max = f->rm->fetch_request_max_partitions;
    return max == 0 || max > MAX_SENT ? MAX_SENT : max;
}

/* Kafka's shouldFollowerThrottle: a listed partition, not caught up with the
 * leader's high watermark (a follower in sync is never held back: that
 * would shrink the ISR), and the follower's throttle over its rate. */
static bool follower_throttles(struct replica_fetcher *f, struct partition *p, uint64_t now)
{
    if (!p->follower_throttled) {
        return false; /* the common case, without touching the log */
    }
    bool in_sync =
        p->leader_high_watermark >= 0 && partition_log_end(p) >= p->leader_high_watermark;
    return !in_sync && replication_quota_exceeded(replica_manager_quota(f->rm, false), now);
}

/* Visit `p`, of this fetcher's slot, whose topic is `topic_len` long. */
static void collect_member(struct collect *c, struct partition *p, size_t topic_len)
{
    struct replica_fetcher *f = c->f;
    f->rm->fetcher_stats.partitions_walked++;
    if (!mine_in_slot(f, p)) {
        return;
    }
    if (p->fetch_retry_ms > c->now) {
        c->next_retry = p->fetch_retry_ms < c->next_retry ? p->fetch_retry_ms : c->next_retry;
        return;
    }
    if (p->fetch_state == FETCH_TRUNCATE && c->want == FETCH_ACTIVE) {
        c->want = FETCH_TRUNCATE;
        f->n_sent = 0;
        f->throttled = false;
        c->overflow = false;
        c->overflow_at = SIZE_MAX;
    }
    if (p->fetch_state != c->want) {
        return;
    }
    /* The throttle first: a partition it holds back is counted whether or
     * not the request still has room for it. */
    if (c->want == FETCH_ACTIVE && follower_throttles(f, p, c->now)) {
        c->held_back++;
        f->throttled = true;
        return;
    }
    c->ready++;
    if (f->n_sent >= c->max_sent) {
        if (!c->overflow) {
            c->overflow = true;
            c->overflow_at = c->at;
        }
        return;
    }
    struct sent *s = &f->sent[f->n_sent++];
    s->p = p;
    memcpy(s->topic, p->topic, topic_len + 1);
    s->index = p->index;
    s->leader_epoch = p->leader_epoch;
    s->last_fetched_epoch = partition_log_latest_epoch(p->log);
    s->fetch_offset = partition_log_end(p);
    s->log_start = partition_log_start(p);
    s->moved = false;
}

/* replica_manager_each_partition's visitor, when the set is unavailable:
 * this slot's partitions are numbered in the walk's order, and those in
 * [c->from, c->until) visited, so that a window starts where the last one
 * stopped as it does on the set. */
static void collect_one(struct partition *p, void *arg)
{
    struct collect *c = arg;
    struct replica_fetcher *f = c->f;
    if (fetcher_slot_of(p->topic, p->index, f->rm->cfg->num_replica_fetchers) != f->slot) {
        f->rm->fetcher_stats.partitions_walked++;
        return;
    }
    size_t at = c->seen++;
    if (at < c->from || at >= c->until) {
        f->rm->fetcher_stats.partitions_walked++;
        return;
    }
    c->at = at;
    collect_member(c, p, strlen(p->topic));
}

/* The partition `s` names, if it still follows this leader at that epoch. */
static struct partition *still_mine(struct replica_fetcher *f, const struct sent *s)
{
    struct partition *p = replica_manager_partition(f->rm, s->topic, s->index);
    if (p == NULL || p != s->p || partition_is_leader(p) || p->leader_id != f->leader ||
        p->leader_epoch != s->leader_epoch) {
        return NULL;
    }
    return p;
}

/* Start a round in `wait_ms` at the latest. */
static void wake_within(struct replica_fetcher *f, uint64_t wait_ms)
{
    if (!uv_is_active((uv_handle_t *)&f->timer) || uv_timer_get_due_in(&f->timer) > wait_ms) {
        uv_timer_start(&f->timer, on_timer, wait_ms, 0);
    }
}

/* Leave `p` alone for `wait_ms`. */
static void retry_in(struct replica_fetcher *f, struct partition *p, uint64_t wait_ms)
{
    p->fetch_retry_ms = uv_now(f->rm->loop) + wait_ms;
    wake_within(f, wait_ms);
}

static void retry_later(struct replica_fetcher *f, struct partition *p)
{
    retry_in(f, p, (uint64_t)f->rm->cfg->replica_fetch_backoff_ms);
}

/* Whether the leader's answer says only that it has not caught up with the
 * metadata that made it our leader: it has not created its replica yet, or
 * knows an older leader epoch. Both follow every topic creation and
 * leadership change for a moment, since brokers apply the same metadata
 * independently. */
static bool leader_not_ready(int32_t error)
{
    return error == ERR_NOT_LEADER_OR_FOLLOWER || error == ERR_UNKNOWN_TOPIC ||
           error == ERR_UNKNOWN_LEADER_EPOCH;
}

/* Retry a leader that is not ready soon, then less and less often: a full
 * replica.fetch.backoff.ms (Kafka's 1 s) would keep a new topic's or a new
 * leader's acks=all produces waiting that long, while a leader whose
 * metadata is truly stuck is not asked more than a few extra times. */
static void retry_not_ready(struct replica_fetcher *f, struct partition *p, int32_t error)
{
    uint32_t max = (uint32_t)f->rm->cfg->replica_fetch_backoff_ms;
    uint32_t wait =
        p->fetch_not_ready_ms == 0 ? NOT_READY_FIRST_WAIT_MS : p->fetch_not_ready_ms * 2;
    wait = wait < max ? wait : max;
    p->fetch_not_ready_ms = wait;
    log_debug("replica", "leader not ready topic=%s partition=%d leader=%d error=%d retry_ms=%u",
              p->topic, p->index, f->leader, error, wait);
    retry_in(f, p, wait);
}

/* ---- truncation (KIP-101/279) ---- */

static void truncate_answer(struct replica_fetcher *f, struct partition *p,
                            const Sluice__Replica__EpochEnd *e)
{
    if (e->error_code != 0) {
        if (leader_not_ready(e->error_code)) {
            retry_not_ready(f, p, e->error_code);
        } else {
            retry_later(f, p);
        }
        return;
    }
    p->fetch_not_ready_ms = 0;
    int64_t end = partition_log_end(p);
    struct leader_epoch_truncation t = leader_epoch_truncation_decide(
        partition_log_epoch_cache(p->log), end, e->leader_epoch, e->end_offset);
    if (t.offset < end) {
        int rv = partition_truncate(p, t.offset);
        if (rv != 0) {
            log_error("replica", "cannot truncate topic=%s partition=%d to=%lld error=%s", p->topic,
                      p->index, (long long)t.offset, log_err_name(rv));
            retry_later(f, p);
            return;
        }
    }
    if (t.done) {
        p->fetch_state = FETCH_ACTIVE;
    }
}

static void on_epochs(struct rpc_request *req, int status, const struct rpc_frame *frame)
{
    struct replica_fetcher *f = req->data;
    f->in_flight = false;
    if (f->closing) {
        return;
    }
    Sluice__Replica__OffsetsForLeaderEpochResponse *r = NULL;
    if (status == 0 && frame->error == 0) {
        r = sluice__replica__offsets_for_leader_epoch_response__unpack(NULL, frame->body_len,
                                                                       frame->body);
    }
    if (r == NULL || r->n_partitions != f->n_sent) {
        if (r != NULL) {
            sluice__replica__offsets_for_leader_epoch_response__free_unpacked(r, NULL);
        }
        backoff(f);
        return;
    }
    for (size_t i = 0; i < f->n_sent; i++) {
        struct partition *p = still_mine(f, &f->sent[i]);
        if (p != NULL && p->fetch_state == FETCH_TRUNCATE) {
            truncate_answer(f, p, r->partitions[i]);
        }
    }
    sluice__replica__offsets_for_leader_epoch_response__free_unpacked(r, NULL);
    round_start(f);
}

/* Partitions whose log has no epoch need no question: nothing can diverge. */
static bool skip_question(struct partition *p)
{
    if (partition_log_latest_epoch(p->log) < 0 || partition_log_end(p) == partition_log_start(p)) {
        p->fetch_state = FETCH_ACTIVE;
        return true;
    }
    return false;
}

static int send_epochs(struct replica_fetcher *f)
{
    Sluice__Replica__EpochQuery q[64], *qp[64];
    size_t n = 0;
    for (size_t i = 0; i < f->n_sent && n < 64; i++) {
        struct partition *p = f->sent[i].p;
        if (skip_question(p)) {
            continue;
        }
        f->sent[n] = f->sent[i];
        sluice__replica__epoch_query__init(&q[n]);
        q[n].topic = f->sent[n].topic;
        q[n].partition = f->sent[n].index;
        q[n].current_leader_epoch = f->sent[n].leader_epoch;
        q[n].leader_epoch = partition_log_latest_epoch(p->log);
        qp[n] = &q[n];
        n++;
    }
    f->n_sent = n;
    if (n == 0) {
        return 1; /* nothing to ask: fetch */
    }
    Sluice__Replica__OffsetsForLeaderEpochRequest body =
        SLUICE__REPLICA__OFFSETS_FOR_LEADER_EPOCH_REQUEST__INIT;
    body.version = 1;
    body.replica_id = f->rm->self;
    body.partitions = qp;
    body.n_partitions = n;
    f->req.data = f;
    int rv =
        rpc_client_call(&f->client, &f->req,
                        SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_OFFSETS_FOR_LEADER_EPOCH, 1,
                        &body.base, NULL, 0, (uint64_t)f->rm->cfg->request_timeout_ms, on_epochs);
    f->in_flight = rv == 0;
    return rv == 0 ? 0 : -1;
}

/* ---- fetching ---- */

static void fetched_one(struct replica_fetcher *f, struct partition *p,
                        const Sluice__Replica__FetchedPartition *fp, const uint8_t *records)
{
    if (fp->error_code == ERR_OFFSET_OUT_OF_RANGE) {
        int64_t end = partition_log_end(p);
        int rv = 0;
        if (fp->log_end_offset >= 0 && end > fp->log_end_offset) {
            log_warn("replica", "ahead of the leader topic=%s partition=%d ours=%lld leader=%lld",
                     p->topic, p->index, (long long)end, (long long)fp->log_end_offset);
            rv = partition_truncate(p, fp->log_end_offset);
        } else if (fp->log_start_offset > end) {
            rv = partition_truncate_fully(p, fp->log_start_offset);
        }
        if (rv != 0) {
            retry_later(f, p);
        }
        return;
    }
    if (leader_not_ready(fp->error_code)) {
        retry_not_ready(f, p, fp->error_code);
        return;
    }
    if (fp->error_code != 0) {
        retry_later(f, p);
        return;
    }
    p->fetch_not_ready_ms = 0;
    struct log_append_info info;
    p->leader_high_watermark = fp->high_watermark;
    int rv = partition_append_replica(p, records, fp->records_length, fp->high_watermark, &info);
    if (rv == 0 && p->follower_throttled && fp->records_length > 0) {
        replication_quota_record(&f->rm->follower_quota, fp->records_length, uv_now(f->rm->loop));
    }
    if (rv != 0) {
        log_warn("replica", "follower append failed topic=%s partition=%d error=%s reason=\"%s\"",
                 p->topic, p->index, log_err_name(rv), info.reason);
        p->fetch_state = FETCH_TRUNCATE;
        retry_later(f, p);
        return;
    }
    /* The leader's DeleteRecords waits for our log start to follow its
     * own (its low watermark); the next fetch tells it. */
    rv = partition_follow_leader_start(p, fp->log_start_offset);
    if (rv < 0) {
        log_warn("replica",
                 "cannot follow the leader's log start topic=%s partition=%d to=%lld error=%s",
                 p->topic, p->index, (long long)fp->log_start_offset, log_err_name(rv));
    }
}

/* A session error (the leader lost or renumbered the session: restarted,
 * evicted it): start over with a full request, at once the first time. */
static void on_session_error(struct replica_fetcher *f, int32_t error)
{
    log_info("replica", "fetch session=%d with leader=%d ended error=%d: fetching in full",
             f->session_id, f->leader, error);
    fetcher_session_drop(f);
    bool again = f->session_error;
    f->session_error = true;
    if (again) {
        backoff(f);
    } else {
        round_start(f);
    }
}

/* Note that the answer moved `s`'s partition `p` on (entry `at` of the set
 * the answer is matched against): an incremental round names it. */
static void note_moved(struct replica_fetcher *f, struct sent *s, size_t at, struct partition *p)
{
    if (!s->moved &&
        (partition_log_end(p) != s->fetch_offset || partition_log_start(p) != s->log_start ||
         partition_log_latest_epoch(p->log) != s->last_fetched_epoch)) {
        s->moved = true;
        f->moved[f->n_moved++] = at;
    }
}

/* Apply each answered partition, matched by topic and partition against the
 * request's effective set (f->sent after a full round, the session after an
 * incremental one): a session's answer leaves out the partitions with
 * nothing new. Returns whether every answered partition applied cleanly:
 * no error, retry or truncation, nothing stale or unknown (else the next
 * round is full). */
static bool fetched_all(struct replica_fetcher *f, const Sluice__Replica__ReplicaFetchResponse *r,
                        const struct rpc_frame *frame)
{
    struct sent *set = f->incremental ? f->session : f->sent;
    size_t n = f->incremental ? f->n_session : f->n_sent, pos = 0;
    bool clean = true;
    f->n_moved = 0;
    for (size_t i = 0; i < r->n_partitions; i++) {
        const Sluice__Replica__FetchedPartition *fp = r->partitions[i];
        if (fp->records_length > frame->payload_len - pos) {
            log_error("replica", "fetch response from leader=%d overruns its payload", f->leader);
            return false;
        }
        struct sent *s = fetcher_session_find(set, n, fp->topic, fp->partition);
        struct partition *p = s != NULL ? still_mine(f, s) : NULL;
        if (p != NULL && p->fetch_state == FETCH_ACTIVE &&
            partition_log_end(p) == s->fetch_offset) {
            fetched_one(f, p, fp, frame->payload + pos);
            if (fp->error_code != 0 || p->fetch_state != FETCH_ACTIVE) {
                clean = false;
            } else {
                note_moved(f, s, (size_t)(s - set), p);
            }
            if (fp->error_code == 0 && fp->records_length > 0) {
                f->idle_named = 0; /* the leader had something: keep asking (fetch_max_wait) */
            }
        } else {
            clean = false;
        }
        pos += fp->records_length;
    }
    return clean;
}

static void on_fetch(struct rpc_request *req, int status, const struct rpc_frame *frame)
{
    struct replica_fetcher *f = req->data;
    f->in_flight = false;
    if (f->closing) {
        return;
    }
    Sluice__Replica__ReplicaFetchResponse *r = NULL;
    if (status == 0 && frame->error == 0) {
        r = sluice__replica__replica_fetch_response__unpack(NULL, frame->body_len, frame->body);
    }
    if (r == NULL) {
        if (status != 0 && f->backoff_logged++ % 20 == 0) {
            log_warn("replica", "fetch from leader=%d failed error=%s", f->leader,
                     strerror(-status));
        }
        fetcher_session_drop(f); /* the leader may have moved the session on: we cannot tell */
        backoff(f);
        return;
    }
    if (r->error_code == REPLICA_SESSION_ERR_NOT_FOUND ||
        r->error_code == REPLICA_SESSION_ERR_INVALID_EPOCH) {
        int32_t error = r->error_code;
        sluice__replica__replica_fetch_response__free_unpacked(r, NULL);
        on_session_error(f, error);
        return;
    }
    f->session_error = false;
    f->backoff_logged = 0;
    if (fetcher_session_fits(f, r->session_id)) {
        bool clean = fetched_all(f, r, frame);
        fetcher_session_answered(f, r->session_id);
        f->steady = clean && f->session_epoch != REPLICA_SESSION_EPOCH_NEW;
    }
    sluice__replica__replica_fetch_response__free_unpacked(r, NULL);
    round_start(f);
}

/* Send the fetch of lists `l` (borrowed until it returns), for the leader
 * to hold up to `max_wait_ms` while it has nothing to answer. */
static int send_fetch(struct replica_fetcher *f, const struct fetch_lists *l, uint32_t max_wait_ms)
{
    const struct sluice_config *cfg = f->rm->cfg;
    Sluice__Replica__ReplicaFetchRequest body = SLUICE__REPLICA__REPLICA_FETCH_REQUEST__INIT;
    body.version = REPLICA_FETCH_VERSION;
    body.replica_id = f->rm->self;
    body.broker_epoch = replica_manager_broker_epoch(f->rm);
    body.max_wait_ms = max_wait_ms;
    body.min_bytes = (uint32_t)cfg->replica_fetch_min_bytes;
    body.max_bytes = (uint32_t)cfg->replica_fetch_response_max_bytes;
    body.partitions = l->part_ptrs;
    body.n_partitions = l->n_parts;
    body.forgotten = l->forgot_ptrs;
    body.n_forgotten = l->n_forgot;
    body.session_id = f->session_id;
    body.session_epoch = f->session_epoch;
    f->req.data = f;
    int rv = rpc_client_call(
        &f->client, &f->req, SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_FETCH, 1, &body.base,
        NULL, 0, (uint64_t)cfg->replica_fetch_wait_max_ms + REQUEST_SLACK_MS, on_fetch);
    f->in_flight = rv == 0;
    return rv == 0 ? 0 : -1;
}

static void set_add(struct partition *p, void *arg)
{
    struct replica_fetcher *f = arg;
    f->rm->fetcher_stats.partitions_walked++;
    if (!f->set_valid || !mine(f, p)) {
        return;
    }
    if (f->n_set == f->cap_set) {
        size_t cap = f->cap_set ? 2 * f->cap_set : 64;
        struct set_member *set = reallocarray(f->set, cap, sizeof *set);
        if (set == NULL) {
            f->set_valid = false; /* walk every hosted partition this round */
            return;
        }
        f->set = set;
        f->cap_set = cap;
    }
    f->set[f->n_set++] = (struct set_member){p, strlen(p->topic)};
}

static int set_member_cmp(const void *a, const void *b)
{
    const struct partition *x = ((const struct set_member *)a)->p;
    const struct partition *y = ((const struct set_member *)b)->p;
    if (x->index != y->index) {
        return x->index < y->index ? -1 : 1;
    }
    return strcmp(x->topic, y->topic);
}

/* Visit this fetcher's partitions with collect_member: its own set (sorted
 * as the session, so the partitions to fetch come out in order), rebuilt
 * from every hosted partition when the replica manager says a partition may
 * have joined or been freed since. */
static void collect(struct replica_fetcher *f, struct collect *c)
{
    uint64_t gen = f->rm->fetch_set_gen;
    if (!f->set_valid || f->set_gen != gen) {
        f->n_set = 0;
        f->set_valid = true;
        f->set_gen = gen;
        replica_manager_each_partition(f->rm, set_add, f);
        if (f->n_set > 1) {
            qsort(f->set, f->n_set, sizeof *f->set, set_member_cmp);
        }
    }
    if (!f->set_valid) {
        /* Every hosted partition, twice: this slot's from where the last
         * window stopped, then those before it. Each round used to start at
         * the walk's first: while the set could not be built (out of
         * memory), it took the same window every round and never fetched
         * the partitions past it. */
        c->from = f->window_start;
        c->until = SIZE_MAX;
        replica_manager_each_partition(f->rm, collect_one, c);
        c->until = c->from < c->seen ? c->from : c->seen;
        c->from = 0;
        c->seen = 0;
        if (c->until > 0) {
            replica_manager_each_partition(f->rm, collect_one, c);
        }
        return;
    }
    /* From where the last round that overflowed stopped, around the set. */
    size_t start = f->window_start < f->n_set ? f->window_start : 0;
    for (size_t k = 0; k < f->n_set; k++) {
        c->at = (start + k) % f->n_set;
        collect_member(c, f->set[c->at].p, f->set[c->at].topic_len);
    }
}

/* After a fetch round's collect: where the next one starts, and a warning
 * the first time this fetcher has more ready partitions than a request
 * carries (each of them is then fetched every few rounds, not every one). */
static void note_overflow(struct replica_fetcher *f, const struct collect *c)
{
    f->overflow = c->overflow;
    if (!c->overflow) {
        f->window_start = 0;
        f->overflow_logged = false;
        return;
    }
    f->rm->fetcher_stats.overflow_rounds++;
    f->window_start = c->overflow_at;
    if (!f->overflow_logged) {
        f->overflow_logged = true;
        log_warn("replica",
                 "follower of more than %zu partitions from leader=%d in fetcher slot %d: "
                 "fetching them in turns, %zu a round; raise num.replica.fetchers to fetch "
                 "them all every round",
                 c->max_sent, f->leader, f->slot, c->max_sent);
    }
}

/* The max wait of a fetch round's request (after its collect `c`):
 * replica.fetch.wait.max.ms, but none while the set overflows and the
 * windows named since a fetch last waited or an answer last brought records
 * do not yet cover the ready partitions. A record outside the window asked
 * used to wait for every window before its own, each a long poll when it
 * had nothing new: up to (windows - 1) x replica.fetch.wait.max.ms. Once
 * the windows have come back empty all the way round, the round waits, so
 * an idle fetcher still parks: one wait a turn of the windows, not a spin. */
static uint32_t fetch_max_wait(struct replica_fetcher *f, const struct collect *c)
{
    if (!c->overflow || f->idle_named + f->n_sent >= c->ready) {
        f->idle_named = 0;
        return (uint32_t)f->rm->cfg->replica_fetch_wait_max_ms;
    }
    f->idle_named += f->n_sent;
    return 0;
}

/* Whether the next round may be incremental: the last one was a session
 * fetch whose answer applied cleanly (steady), and nothing since calls for a
 * full round: no kick (partitions joined, left or changed leader or epoch:
 * fetch_set_gen moved), nothing held back by the throttle, waiting for a
 * retry or left for the next window (overflow) at the last full round, and
 * the last full round is recent enough
 * (FULL_ROUND_EVERY_MS). Session errors, failed or erroring answers and
 * truncations all leave `steady` false. */
static bool round_is_incremental(struct replica_fetcher *f, uint64_t now)
{
    return f->steady && f->session_epoch != REPLICA_SESSION_EPOCH_NEW && f->n_session > 0 &&
           f->set_valid && f->set_gen == f->rm->fetch_set_gen && !f->throttled && !f->retry_waits &&
           !f->overflow && now - f->last_full_ms < FULL_ROUND_EVERY_MS;
}

/* Whether the moved session entry `s` can be fetched on as the session's:
 * still ours at its epoch, active, not waiting for a retry nor throttled. */
static struct partition *moved_fetchable(struct replica_fetcher *f, const struct sent *s,
                                         uint64_t now)
{
    struct partition *p = still_mine(f, s);
    if (p == NULL || p->fetch_state != FETCH_ACTIVE || p->fetch_retry_ms > now ||
        follower_throttles(f, p, now)) {
        return NULL;
    }
    return p;
}

static void moved_forget(struct replica_fetcher *f)
{
    for (size_t i = 0; i < f->n_moved; i++) {
        f->session[f->moved[i]].moved = false;
    }
    f->n_moved = 0;
}

/* The incremental request's list: the moved session entries, updated in
 * place to where their partitions are now (the leader holds the session's
 * other partitions at the values it has). Returns -1 (nothing updated) when
 * one cannot go on as it is: the round must be full. */
static int moved_list_fill(struct replica_fetcher *f, struct fetch_lists *l, uint64_t now)
{
    memset(l, 0, sizeof *l); /* the caller frees it whatever this returns */
    for (size_t i = 0; i < f->n_moved; i++) {
        if (moved_fetchable(f, &f->session[f->moved[i]], now) == NULL) {
            return -1;
        }
    }
    l->parts = calloc(f->n_moved + 1, sizeof *l->parts);
    l->part_ptrs = calloc(f->n_moved + 1, sizeof *l->part_ptrs);
    if (l->parts == NULL || l->part_ptrs == NULL) {
        return -1;
    }
    for (size_t i = 0; i < f->n_moved; i++) {
        struct sent *s = &f->session[f->moved[i]];
        s->fetch_offset = partition_log_end(s->p);
        s->last_fetched_epoch = partition_log_latest_epoch(s->p->log);
        s->log_start = partition_log_start(s->p);
        s->moved = false;
        fetcher_session_list_part(f, l, s);
    }
    f->n_moved = 0;
    return 0;
}

/* A steady round: name only the moved partitions, continuing the session.
 * Returns 0 (sent), 1 (cannot: run a full round instead) or -1 (failed:
 * back off). */
static int incremental_round(struct replica_fetcher *f, uint64_t now)
{
    f->rm->fetcher_stats.partitions_walked += f->n_moved;
    struct fetch_lists l;
    if (moved_list_fill(f, &l, now) != 0) {
        fetcher_session_lists_free(&l);
        moved_forget(f);
        return 1;
    }
    f->rm->fetcher_stats.incremental_rounds++;
    f->incremental = true;
    int rv = connect_leader(f) == 0
                 ? send_fetch(f, &l, (uint32_t)f->rm->cfg->replica_fetch_wait_max_ms)
                 : -1;
    fetcher_session_lists_free(&l);
    if (rv != 0) {
        fetcher_session_drop(f); /* the session's entries moved on without the leader */
    }
    return rv;
}

/* A full round: visit every partition followed; truncation questions
 * first, then a fetch for the rest. */
static void full_round(struct replica_fetcher *f, uint64_t now)
{
    struct collect c = {.f = f,
                        .now = now,
                        .want = FETCH_ACTIVE,
                        .next_retry = UINT64_MAX,
                        .max_sent = request_max(f),
                        .at = SIZE_MAX,
                        .overflow_at = SIZE_MAX};
    f->rm->fetcher_stats.full_rounds++;
    f->last_full_ms = now;
    f->incremental = false;
    f->n_sent = 0;
    f->n_moved = 0;
    f->throttled = false;
    collect(f, &c);
    bool truncating = c.want == FETCH_TRUNCATE;
    if (!truncating) {
        /* Only a fetch round moves the window: a truncation round (at most
         * 64 questions; the next round is full) that reset it would bring
         * the first window back after each one, and a partition due for
         * truncation again and again (a leader that keeps answering its
         * question with an error) kept the others from ever being fetched. */
        note_overflow(f, &c);
        f->rm->follower_quota.held_back += c.held_back;
    }
    f->retry_waits = c.next_retry != UINT64_MAX;
    if (f->retry_waits) {
        /* Partitions waiting to be retried come back on the timer even
         * when nothing else is fetched meanwhile. */
        wake_within(f, c.next_retry - c.now);
    }
    if (f->n_sent == 0) {
        if (f->throttled) {
            backoff(f); /* throttled partitions are asked for again later */
        }
        return; /* idle until kicked */
    }
    if (connect_leader(f) != 0) {
        backoff(f);
        return;
    }
    int rv = -1;
    if (truncating) {
        rv = send_epochs(f);
    } else {
        uint32_t max_wait_ms = fetch_max_wait(f, &c);
        struct fetch_lists l;
        rv = fetcher_session_lists_fill(f, &l) == 0 ? send_fetch(f, &l, max_wait_ms) : -1;
        fetcher_session_lists_free(&l);
    }
    if (rv == 1) {
        round_start(f); /* nothing needed asking after all */
    } else if (rv != 0) {
        backoff(f);
    }
}

/* One round: incremental when steady (round_is_incremental), else full. */
static void round_start(struct replica_fetcher *f)
{
    if (f->in_flight || f->closing) {
        return;
    }
    uint64_t now = uv_now(f->rm->loop);
    bool incremental = round_is_incremental(f, now);
    f->steady = false; /* until this round's answer applies cleanly */
    int rv = incremental ? incremental_round(f, now) : 1;
    if (rv == 1) {
        full_round(f, now);
    } else if (rv != 0) {
        backoff(f);
    }
}
