/* Sending a transaction's markers to its partitions' leaders; see
 * txn_marker_sender.h. */
#include "broker/txn/txn_marker_sender.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/replica/partition.h"
#include "broker/replica/replica_service.h"
#include "broker/replica/txn_markers.h"
#include "common/internal_tls.h"
#include "common/log.h"
#include "common/rpc_client.h"
#include "proto/kafka/kafka_errors.h"
#include "proto/replica.pb-c.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
/* A remote write answers within request.timeout.ms; this much more before
 * the RPC counts as lost. */
#define RPC_SLACK_MS 5000

enum part_state { PART_PENDING, PART_IN_FLIGHT, PART_DONE };

struct job_part {
    char *topic;
    int32_t partition;
    enum part_state state;
};

struct txn_marker_job {
    struct txn_marker_job *next;
    struct txn_marker_sender *sender;
    int64_t producer_id;
    int16_t producer_epoch;
    bool commit;
    int32_t coordinator_epoch;
    struct job_part *parts;
    size_t n_parts;
    txn_marker_job_cb cb;
    void *arg;
    unsigned in_flight; /* sends not yet answered */
    unsigned attempts;
    uint64_t due;        /* uv_now of the next round */
    int16_t fatal;       /* a refusal for good, else NONE */
    bool cancelled;      /* cb is not called */
    bool finished;       /* cb was called (or cancelled): freed by the sweep */
    bool logged_waiting; /* a retry was logged, to log it once */
};

struct peer {
    int32_t node;
    char host[LISTENER_HOST_MAX];
    int port;
    struct rpc_client client;
    struct txn_marker_sender *sender;
};

struct txn_marker_sender {
    struct replica_manager *rm;
    struct txn_marker_job *jobs;
    struct peer **peers;
    size_t n_peers;
    uv_timer_t timer;
    unsigned open_handles;
    bool closing;
    void (*closed)(void *arg);
    void *closed_arg;
};

/* One send: the partitions of one job to one leader (or this broker). */
struct send {
    struct txn_marker_job *job;
    size_t *idx; /* into job->parts */
    size_t n;
    struct txn_marker_write write; /* local */
    struct txn_marker_partition *slots;
    struct rpc_request req; /* remote */
};

static void schedule(struct txn_marker_sender *s);

/* ---- jobs ---- */

static void job_free(struct txn_marker_job *job)
{
    for (size_t i = 0; i < job->n_parts; i++) {
        free(job->parts[i].topic);
    }
    free(job->parts);
    free(job);
}

/* Free the jobs nobody waits for any more (finished or cancelled, nothing in
 * flight). Only here, so no callback ever frees a job under a caller. */
static void sweep(struct txn_marker_sender *s)
{
    for (struct txn_marker_job **pp = &s->jobs; *pp != NULL;) {
        struct txn_marker_job *job = *pp;
        if ((job->finished || job->cancelled) && job->in_flight == 0) {
            *pp = job->next;
            job_free(job);
        } else {
            pp = &job->next;
        }
    }
}

/* After an answer: report the outcome once everything is known. */
static void settle(struct txn_marker_job *job)
{
    if (job->finished || job->cancelled) {
        return;
    }
    bool all = true;
    for (size_t i = 0; i < job->n_parts && all; i++) {
        all = job->parts[i].state == PART_DONE;
    }
    if (job->fatal != KAFKA_ERROR_NONE && job->in_flight == 0) {
        job->finished = true;
        job->cb(job->arg, job->fatal);
    } else if (all) {
        job->finished = true;
        job->cb(job->arg, KAFKA_ERROR_NONE);
    }
    if (job->finished) {
        schedule(job->sender); /* the sweep frees it */
    }
}

static void part_answer(struct txn_marker_job *job, struct job_part *p, int16_t error)
{
    switch (error) {
    case KAFKA_ERROR_NONE:
    /* Kafka: the producer could not have written there either. */
    case KAFKA_ERROR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case KAFKA_ERROR_UNSUPPORTED_VERSION:
        p->state = PART_DONE;
        return;
    case KAFKA_ERROR_INVALID_PRODUCER_EPOCH:
    case KAFKA_ERROR_TRANSACTION_COORDINATOR_FENCED:
        log_warn("txn",
                 "%s marker of producer %" PRId64 " epoch %d refused by %s-%d: %s; the newer "
                 "producer epoch or coordinator completes the transaction",
                 job->commit ? "commit" : "abort", job->producer_id, job->producer_epoch, p->topic,
                 p->partition, kafka_error_name(error));
        job->fatal = error;
        p->state = PART_PENDING;
        return;
    default:
        if (!job->logged_waiting) {
            log_info("txn", "%s marker of producer %" PRId64 " on %s-%d: %s; retrying",
                     job->commit ? "commit" : "abort", job->producer_id, p->topic, p->partition,
                     kafka_error_name(error));
            job->logged_waiting = true;
        }
        p->state = PART_PENDING;
        return;
    }
}

static void send_free(struct send *sd)
{
    free(sd->idx);
    free(sd->slots);
    free(sd);
}

/* Every partition of `sd` failed with `error` (the send as a whole). */
static void send_fail_all(struct send *sd, int16_t error)
{
    for (size_t i = 0; i < sd->n; i++) {
        part_answer(sd->job, &sd->job->parts[sd->idx[i]], error);
    }
}

static void send_done(struct send *sd)
{
    struct txn_marker_job *job = sd->job;
    job->in_flight--;
    send_free(sd);
    settle(job);
    schedule(job->sender);
}

/* ---- local writes ---- */

static void local_done(void *arg)
{
    struct send *sd = arg;
    for (size_t i = 0; i < sd->n; i++) {
        part_answer(sd->job, &sd->job->parts[sd->idx[i]], sd->slots[i].error_code);
    }
    send_done(sd);
}

static void send_local(struct send *sd)
{
    struct txn_marker_job *job = sd->job;
    sd->slots = calloc(sd->n, sizeof *sd->slots);
    if (sd->slots == NULL) {
        send_fail_all(sd, KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
        send_done(sd);
        return;
    }
    for (size_t i = 0; i < sd->n; i++) {
        sd->slots[i].topic = job->parts[sd->idx[i]].topic;
        sd->slots[i].partition = job->parts[sd->idx[i]].partition;
    }
    sd->write = (struct txn_marker_write){job->producer_id,       job->producer_epoch, job->commit,
                                          job->coordinator_epoch, sd->slots,           sd->n};
    const struct sluice_config *cfg = job->sender->rm->cfg;
    uint64_t timeout = cfg->request_timeout_ms > 0 ? (uint64_t)cfg->request_timeout_ms : 30000;
    if (txn_markers_write(job->sender->rm, &sd->write, 1, timeout, local_done, sd) != 0) {
        send_fail_all(sd, KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
        send_done(sd);
    }
}

/* ---- remote writes (WRITE_TXN_MARKERS) ---- */

/* The last handle closed: every job was cancelled and its sends answered. */
static void release(struct txn_marker_sender *s)
{
    while (s->jobs != NULL) {
        struct txn_marker_job *job = s->jobs;
        s->jobs = job->next;
        job_free(job);
    }
    void (*closed)(void *arg) = s->closed;
    void *arg = s->closed_arg;
    free(s);
    closed(arg);
}

static void peer_closed(struct rpc_client *c)
{
    struct peer *p = c->data;
    struct txn_marker_sender *s = p->sender;
    free(p);
    if (--s->open_handles == 0) {
        release(s);
    }
}

/* Markers go only to the leader's broker: its certificate must be node
 * `p->node`'s. */
static bool check_leader(struct rpc_client *client, const char *subject, char *why, size_t whylen)
{
    struct peer *p = client->data;
    const struct internal_tls *tls = p->sender->rm->tls;
    struct internal_peer peer;
    internal_tls_identify(tls, subject, &peer);
    if (peer.node == p->node) {
        return true;
    }
    snprintf(why, whylen, "leader %d at %s:%d presented principal %s, not node %d's (%s)", p->node,
             p->host, p->port, peer.principal, p->node, tls->node_pattern);
    return false;
}

/* The RPC client for `node`, pointed at its inter-broker endpoint, or NULL
 * (no endpoint known yet, or out of memory). */
static struct peer *peer_for(struct txn_marker_sender *s, int32_t node)
{
    const struct metadata_endpoint *ep = replica_manager_endpoint(s->rm, node);
    if (ep == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < s->n_peers; i++) {
        struct peer *p = s->peers[i];
        if (p->node != node) {
            continue;
        }
        if (strcmp(p->host, ep->host) != 0 || p->port != ep->port) {
            snprintf(p->host, sizeof p->host, "%s", ep->host);
            p->port = ep->port;
            if (rpc_client_set_target(&p->client, p->host, p->port) != 0) {
                return NULL;
            }
        }
        return p;
    }
    struct peer **grown = realloc(s->peers, (s->n_peers + 1) * sizeof *grown);
    if (grown == NULL) {
        return NULL;
    }
    s->peers = grown;
    struct peer *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->node = node;
    p->sender = s;
    snprintf(p->host, sizeof p->host, "%s", ep->host);
    p->port = ep->port;
    const struct internal_tls *tls = s->rm->tls;
    struct rpc_client_options o = {.max_frame = replica_rpc_max_frame(s->rm->cfg),
                                   .tls = tls != NULL ? tls->client : NULL,
                                   .tls_verify_host = tls != NULL && tls->verify_host,
                                   .check_server = tls != NULL ? check_leader : NULL};
    if (rpc_client_init(&p->client, s->rm->loop, p->host, p->port, &o) != 0) {
        free(p);
        return NULL;
    }
    p->client.data = p;
    s->peers[s->n_peers++] = p;
    s->open_handles++;
    return p;
}

static void remote_done(struct rpc_request *req, int status, const struct rpc_frame *response)
{
    struct send *sd = req->data;
    Sluice__Replica__WriteTxnMarkersResponse *resp = NULL;
    if (status == 0 && response->error == 0) {
        resp = sluice__replica__write_txn_markers_response__unpack(NULL, response->body_len,
                                                                   response->body);
    }
    if (resp == NULL || resp->error_code != 0 || resp->n_markers != 1) {
        send_fail_all(sd, resp != NULL && resp->error_code != 0 ? (int16_t)resp->error_code
                                                                : KAFKA_ERROR_NETWORK_EXCEPTION);
    } else {
        const Sluice__Replica__TxnMarkerResult *r = resp->markers[0];
        for (size_t i = 0; i < sd->n; i++) {
            struct job_part *p = &sd->job->parts[sd->idx[i]];
            int16_t err = KAFKA_ERROR_NETWORK_EXCEPTION; /* not answered: try again */
            for (size_t k = 0; k < r->n_partitions; k++) {
                if (r->partitions[k]->partition == p->partition &&
                    strcmp(r->partitions[k]->topic, p->topic) == 0) {
                    err = (int16_t)r->partitions[k]->error_code;
                    break;
                }
            }
            part_answer(sd->job, p, err);
        }
    }
    if (resp != NULL) {
        sluice__replica__write_txn_markers_response__free_unpacked(resp, NULL);
    }
    send_done(sd);
}

static void send_remote(struct send *sd, int32_t leader)
{
    struct txn_marker_job *job = sd->job;
    struct peer *peer = peer_for(job->sender, leader);
    Sluice__Replica__TxnMarkerPartition *parts = calloc(sd->n, sizeof *parts);
    Sluice__Replica__TxnMarkerPartition **pptrs = calloc(sd->n, sizeof *pptrs);
    int rv = -ENOMEM;
    if (peer != NULL && parts != NULL && pptrs != NULL) {
        for (size_t i = 0; i < sd->n; i++) {
            sluice__replica__txn_marker_partition__init(&parts[i]);
            parts[i].topic = job->parts[sd->idx[i]].topic;
            parts[i].partition = job->parts[sd->idx[i]].partition;
            pptrs[i] = &parts[i];
        }
        Sluice__Replica__TxnMarker marker = SLUICE__REPLICA__TXN_MARKER__INIT;
        marker.producer_id = job->producer_id;
        marker.producer_epoch = job->producer_epoch;
        marker.committed = job->commit;
        marker.coordinator_epoch = job->coordinator_epoch;
        marker.partitions = pptrs;
        marker.n_partitions = sd->n;
        Sluice__Replica__TxnMarker *mptr = &marker;
        Sluice__Replica__WriteTxnMarkersRequest req =
            SLUICE__REPLICA__WRITE_TXN_MARKERS_REQUEST__INIT;
        req.version = 1;
        req.markers = &mptr;
        req.n_markers = 1;
        const struct sluice_config *cfg = job->sender->rm->cfg;
        uint64_t timeout =
            (cfg->request_timeout_ms > 0 ? (uint64_t)cfg->request_timeout_ms : 30000) +
            RPC_SLACK_MS;
        sd->req.data = sd;
        rv = rpc_client_call(&peer->client, &sd->req,
                             SLUICE__REPLICA__REPLICA_METHOD__REPLICA_METHOD_WRITE_TXN_MARKERS, 1,
                             &req.base, NULL, 0, timeout, remote_done);
    }
    free(parts);
    free(pptrs);
    if (rv != 0) {
        send_fail_all(sd, KAFKA_ERROR_NETWORK_EXCEPTION);
        send_done(sd);
    }
}

/* ---- rounds ---- */

/* Where partition `p` is written now: 1 here, 0 at *leader, -1 nowhere yet
 * (no leader), -2 nowhere ever (the topic or partition is gone). */
static int locate(struct txn_marker_sender *s, const struct job_part *p, int32_t *leader)
{
    const struct metadata_topic *t = metadata_view_topic(s->rm->metadata, p->topic);
    if (t == NULL || p->partition < 0 || p->partition >= t->n_partitions) {
        return -2;
    }
    *leader = t->partitions[p->partition].leader;
    if (*leader < 0) {
        return -1;
    }
    return *leader == s->rm->self ? 1 : 0;
}

/* Send every pending partition of `job`, one send per leader. */
static void round_run(struct txn_marker_job *job)
{
    struct txn_marker_sender *s = job->sender;
    job->in_flight++; /* held across the round: no send settles the job under us */
    for (size_t i = 0; i < job->n_parts; i++) {
        struct job_part *p = &job->parts[i];
        if (p->state != PART_PENDING) {
            continue;
        }
        int32_t leader = -1;
        int where = locate(s, p, &leader);
        if (where == -2) {
            log_info("txn", "%s-%d is gone: no %s marker needed for producer %" PRId64, p->topic,
                     p->partition, job->commit ? "commit" : "abort", job->producer_id);
            p->state = PART_DONE;
            continue;
        }
        if (where == -1) {
            continue;
        }
        struct send *sd = calloc(1, sizeof *sd);
        if (sd == NULL || (sd->idx = calloc(job->n_parts, sizeof *sd->idx)) == NULL) {
            free(sd);
            break;
        }
        sd->job = job;
        for (size_t k = i; k < job->n_parts; k++) {
            struct job_part *q = &job->parts[k];
            int32_t ql = -1;
            if (q->state == PART_PENDING && locate(s, q, &ql) == where && ql == leader) {
                q->state = PART_IN_FLIGHT;
                sd->idx[sd->n++] = k;
            }
        }
        job->in_flight++;
        if (where == 1) {
            send_local(sd);
        } else {
            send_remote(sd, leader);
        }
    }
    job->in_flight--;
    settle(job);
}

/* Whether `job` waits for a round: nothing in flight, not over. (A round
 * with no partition left to send settles it.) */
static bool job_waits(const struct txn_marker_job *job)
{
    return !job->finished && !job->cancelled && job->in_flight == 0;
}

static void on_timer(uv_timer_t *t)
{
    struct txn_marker_sender *s = t->data;
    sweep(s);
    uint64_t now = uv_now(s->rm->loop);
    for (struct txn_marker_job *job = s->jobs; job != NULL; job = job->next) {
        if (job_waits(job) && job->due <= now) {
            uint64_t backoff = (uint64_t)BACKOFF_MIN_MS << (job->attempts < 5 ? job->attempts : 5);
            job->due = now + (backoff < BACKOFF_MAX_MS ? backoff : BACKOFF_MAX_MS);
            job->attempts++;
            round_run(job);
        }
    }
    sweep(s);
    schedule(s);
}

/* Run the timer for the earliest job due (or a sweep). */
static void schedule(struct txn_marker_sender *s)
{
    if (s->closing) {
        return;
    }
    uint64_t now = uv_now(s->rm->loop);
    bool any = false;
    uint64_t at = UINT64_MAX;
    for (struct txn_marker_job *job = s->jobs; job != NULL; job = job->next) {
        if ((job->finished || job->cancelled) && job->in_flight == 0) {
            at = now;
            any = true;
        } else if (job_waits(job)) {
            at = job->due < at ? job->due : at;
            any = true;
        }
    }
    if (!any) {
        uv_timer_stop(&s->timer);
        return;
    }
    uint64_t delay = at > now ? at - now : 0;
    if (uv_is_active((uv_handle_t *)&s->timer) && uv_timer_get_due_in(&s->timer) <= delay) {
        return;
    }
    uv_timer_start(&s->timer, on_timer, delay, 0);
}

struct txn_marker_job *txn_marker_send(struct txn_marker_sender *s,
                                       const struct txn_marker_spec *spec, txn_marker_job_cb cb,
                                       void *arg)
{
    if (s->closing) {
        return NULL;
    }
    struct txn_marker_job *job = calloc(1, sizeof *job);
    if (job == NULL || (job->parts = calloc(spec->n_partitions + 1, sizeof *job->parts)) == NULL) {
        free(job);
        return NULL;
    }
    for (size_t i = 0; i < spec->n_partitions; i++, job->n_parts++) {
        job->parts[i].partition = spec->partitions[i].partition;
        if ((job->parts[i].topic = strdup(spec->partitions[i].topic)) == NULL) {
            job_free(job);
            return NULL;
        }
    }
    job->sender = s;
    job->producer_id = spec->producer_id;
    job->producer_epoch = spec->producer_epoch;
    job->commit = spec->commit;
    job->coordinator_epoch = spec->coordinator_epoch;
    job->cb = cb;
    job->arg = arg;
    job->fatal = KAFKA_ERROR_NONE;
    job->due = uv_now(s->rm->loop);
    job->next = s->jobs;
    s->jobs = job;
    /* The first round runs on the timer, so cb never runs inside this call. */
    uv_timer_stop(&s->timer);
    uv_timer_start(&s->timer, on_timer, 0, 0);
    return job;
}

void txn_marker_job_cancel(struct txn_marker_job *job)
{
    if (job != NULL) {
        job->cancelled = true;
        schedule(job->sender);
    }
}

/* ---- lifecycle ---- */

int txn_marker_sender_new(struct txn_marker_sender **out, struct replica_manager *rm)
{
    struct txn_marker_sender *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -ENOMEM;
    }
    s->rm = rm;
    uv_timer_init(rm->loop, &s->timer);
    s->timer.data = s;
    s->open_handles = 1;
    *out = s;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct txn_marker_sender *s = h->data;
    if (--s->open_handles == 0) {
        release(s);
    }
}

void txn_marker_sender_close(struct txn_marker_sender *s, void (*closed)(void *arg), void *arg)
{
    s->closing = true;
    s->closed = closed;
    s->closed_arg = arg;
    for (struct txn_marker_job *job = s->jobs; job != NULL; job = job->next) {
        job->cancelled = true;
    }
    /* Closing a client answers its requests (-ECANCELED) before it is done. */
    for (size_t i = 0; i < s->n_peers; i++) {
        rpc_client_close(&s->peers[i]->client, peer_closed);
    }
    free(s->peers);
    s->peers = NULL;
    s->n_peers = 0;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, timer_closed);
}
