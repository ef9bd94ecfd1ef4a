#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal_tls.h"
#include "common/log.h"
#include "controller/service_internal.h"

typedef Sluice__Controller__RegisterBrokerRequest RegisterBrokerRequest;
typedef Sluice__Controller__BrokerHeartbeatRequest BrokerHeartbeatRequest;
typedef Sluice__Controller__ControlledShutdownRequest ControlledShutdownRequest;

/* ---- shared plumbing ---- */

void service_leader_hint(struct controller_service *svc, LeaderHint *hint)
{
    sluice__controller__leader_hint__init(hint);
    int32_t id;
    quorum_leader(svc->quorum, &id, NULL);
    const struct voter *v = id > 0 ? voters_find(&svc->voters, id) : NULL;
    hint->leader_id = v != NULL ? id : -1;
    hint->host = (char *)(v != NULL ? v->host : "");
    hint->port = v != NULL ? v->port : 0;
}

bool service_check_active(struct controller_service *svc)
{
    return !svc->closing && quorum_is_ready(svc->quorum);
}

int32_t service_failure_code(int status)
{
    switch (status) {
    case QUORUM_NOT_LEADER:
    case QUORUM_UNKNOWN_OUTCOME:
    case QUORUM_SHUTTING_DOWN:
        /* Unknown outcome too: the caller retries at the new leader, and
         * records are idempotent or compare-and-set. */
        return KAFKA_ERROR_NOT_CONTROLLER;
    default:
        return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    }
}

void service_respond_topics(struct controller_service *svc, struct rpc_call *call, size_t n,
                            int32_t failure, service_topic_result_fn fn, void *extra)
{
    Sluice__Controller__TopicResultsResponse resp =
        SLUICE__CONTROLLER__TOPIC_RESULTS_RESPONSE__INIT;
    LeaderHint hint;
    TopicResult *results = calloc(n ? n : 1, sizeof *results);
    TopicResult **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (results == NULL || ptrs == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        goto out;
    }
    resp.error_code = failure;
    if (failure == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    }
    for (size_t i = 0; i < n; i++) {
        sluice__controller__topic_result__init(&results[i]);
        const struct service_answer *a = fn(extra, i);
        results[i].name = (char *)a->name;
        results[i].error_code = failure != KAFKA_ERROR_NONE ? failure : a->code;
        results[i].error_message = (char *)a->message;
        ptrs[i] = &results[i];
    }
    resp.topics = ptrs;
    resp.n_topics = n;
    rpc_call_respond(call, &resp.base, NULL, 0);
out:
    free(results);
    free(ptrs);
}

bool service_broker_usable(struct controller_service *svc, int32_t id)
{
    const BrokerState *b = image_find_broker(svc->quorum->fsm.image, id);
    return b != NULL && !b->fenced && !liveness_shutting_down(&svc->liveness, id);
}

static void on_proposed(struct quorum_proposal *req, int status, const struct fsm_result *result)
{
    struct service_op *op = req->data;
    op->svc->ops_in_flight--;
    op->done(op, status, result);
    free(op->extra);
    free(op);
}

void service_propose(struct controller_service *svc, struct rpc_call *call, MetadataBatch *batch,
                     void *extra, service_op_done done)
{
    struct service_op *op = calloc(1, sizeof *op);
    int rv = -ENOMEM;
    if (op != NULL) {
        *op = (struct service_op){.svc = svc, .call = call, .done = done, .extra = extra};
        op->proposal.data = op;
        rv = quorum_propose(svc->quorum, &op->proposal, batch, on_proposed);
    }
    records_free(batch);
    if (rv == 0) {
        svc->ops_in_flight++;
        return;
    }
    struct service_op failed = {.svc = svc, .call = call, .done = done, .extra = extra};
    done(&failed, rv, NULL);
    free(extra);
    free(op);
}

/* Answer with an error in any response of the common shape (error_code,
 * error_message, leader as fields 1..3), e.g. NOT_CONTROLLER before doing
 * anything. */
#define RESPOND_ERROR(svc, call, Type, INIT, code, message)                                        \
    do {                                                                                           \
        Type resp_ = INIT;                                                                         \
        LeaderHint hint_;                                                                          \
        resp_.error_code = (code);                                                                 \
        resp_.error_message = (char *)(message);                                                   \
        if (resp_.error_code == KAFKA_ERROR_NOT_CONTROLLER) {                                      \
            service_leader_hint((svc), &hint_);                                                    \
            resp_.leader = &hint_;                                                                 \
        }                                                                                          \
        rpc_call_respond((call), &resp_.base, NULL, 0);                                            \
    } while (0)

/* ---- RegisterBroker ---- */

static void register_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct controller_service *svc = op->svc;
    const RegisterBrokerRequest *req = (const RegisterBrokerRequest *)op->call->request;
    Sluice__Controller__RegisterBrokerResponse resp =
        SLUICE__CONTROLLER__REGISTER_BROKER_RESPONSE__INIT;
    LeaderHint hint;
    resp.error_code = status != 0 ? service_failure_code(status) : res->errors[0];
    const BrokerState *b = image_find_broker(svc->quorum->fsm.image, req->broker_id);
    if (resp.error_code == KAFKA_ERROR_NONE && b != NULL) {
        resp.broker_epoch = b->broker_epoch;
        resp.cluster_id = svc->quorum->fsm.image->cluster_id;
        liveness_touch(&svc->liveness, b->broker_id, b->broker_epoch, controller_service_now(svc));
        log_info("controller", "broker registered broker.id=%d epoch=%lld", b->broker_id,
                 (long long)b->broker_epoch);
    } else if (resp.error_code == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    }
    rpc_call_respond(op->call, &resp.base, NULL, 0);
}

static void handle_register(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const RegisterBrokerRequest *req = (const RegisterBrokerRequest *)call->request;
    const MetadataImage *img = svc->quorum->fsm.image;
    int32_t code = KAFKA_ERROR_NONE;
    const char *message = "";
    if (!service_check_active(svc)) {
        code = KAFKA_ERROR_NOT_CONTROLLER;
    } else if (req->broker_id < 0 || req->incarnation_id[0] == '\0') {
        code = KAFKA_ERROR_INVALID_REQUEST;
        message = "broker id and incarnation id are required";
    } else if (req->cluster_id[0] != '\0' && img->cluster_id[0] != '\0' &&
               strcmp(req->cluster_id, img->cluster_id) != 0) {
        code = KAFKA_ERROR_INCONSISTENT_CLUSTER_ID;
        message = "the broker belongs to another cluster";
    } else {
        const BrokerState *old = image_find_broker(img, req->broker_id);
        /* KIP-631: a second process with the same id while the first one's
         * session is alive is refused; it retries after the session ends. */
        if (old != NULL && strcmp(old->incarnation_id, req->incarnation_id) != 0 && !old->fenced &&
            liveness_active(&svc->liveness, old->broker_id, old->broker_epoch,
                            controller_service_now(svc))) {
            code = KAFKA_ERROR_DUPLICATE_BROKER_REGISTRATION;
            message = "another broker with this id has a live session";
        }
    }
    if (code != KAFKA_ERROR_NONE) {
        RESPOND_ERROR(svc, call, Sluice__Controller__RegisterBrokerResponse,
                      SLUICE__CONTROLLER__REGISTER_BROKER_RESPONSE__INIT, code, message);
        return;
    }
    MetadataBatch *batch = records_batch_new();
    int n = batch != NULL ? service_registration_batch(svc, batch, req) : -ENOMEM;
    if (n < 0) {
        records_free(batch);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    if (n > 1) {
        log_info("controller", "broker re-registering broker.id=%d partition.changes=%d",
                 req->broker_id, n - 1);
    }
    service_propose(svc, call, batch, NULL, register_done);
}

/* ---- BrokerHeartbeat and ControlledShutdown ---- */

struct heartbeat_extra {
    bool shutdown; /* answer as ControlledShutdown / want_shutdown */
    int32_t remaining;
    bool caught_up;
};

static void respond_heartbeat(struct controller_service *svc, struct rpc_call *call, int32_t code,
                              const struct heartbeat_extra *x)
{
    const BrokerHeartbeatRequest *req = (const BrokerHeartbeatRequest *)call->request;
    Sluice__Controller__BrokerHeartbeatResponse resp =
        SLUICE__CONTROLLER__BROKER_HEARTBEAT_RESPONSE__INIT;
    LeaderHint hint;
    resp.error_code = code;
    if (code == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    }
    const BrokerState *b = image_find_broker(svc->quorum->fsm.image, req->broker_id);
    resp.is_caught_up = x->caught_up;
    resp.is_fenced = b == NULL || b->fenced;
    resp.should_shutdown = x->shutdown && x->remaining == 0 && code == KAFKA_ERROR_NONE;
    resp.metadata_offset = fsm_offset(&svc->quorum->fsm);
    rpc_call_respond(call, &resp.base, NULL, 0);
}

static void respond_shutdown(struct controller_service *svc, struct rpc_call *call, int32_t code,
                             int32_t remaining)
{
    Sluice__Controller__ControlledShutdownResponse resp =
        SLUICE__CONTROLLER__CONTROLLED_SHUTDOWN_RESPONSE__INIT;
    LeaderHint hint;
    resp.error_code = code;
    resp.remaining_leaderships = remaining;
    if (code == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    }
    rpc_call_respond(call, &resp.base, NULL, 0);
}

static void lifecycle_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct heartbeat_extra *x = op->extra;
    int32_t code = status != 0 ? service_failure_code(status) : KAFKA_ERROR_NONE;
    for (size_t i = 0; status == 0 && i < res->n; i++) {
        if (res->errors[i] != KAFKA_ERROR_NONE) {
            x->remaining++; /* a change lost a race: the broker asks again */
        }
    }
    if (op->call->method ==
        SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_CONTROLLED_SHUTDOWN) {
        respond_shutdown(op->svc, op->call, code, x->remaining);
    } else {
        respond_heartbeat(op->svc, op->call, code, x);
    }
}

/* Move leadership off a shutting-down broker (and it out of ISRs); fence it
 * once it leads nothing (KIP-631's controlled shutdown). `closed`: the
 * broker's ControlledShutdown, which it sends as its last request, its logs
 * closed: it serves nothing any more, so it is fenced now, and a partition
 * only it could lead (no other ISR member) is left without a leader until it
 * is back, as Kafka's controlled shutdown does. Left unfenced, a broker that
 * was the only replica of a partition (a single node) kept a live session in
 * the controller, and its restart was refused registration
 * (DUPLICATE_BROKER_REGISTRATION) until broker.session.timeout.ms ran out.
 * A heartbeat's want_shutdown comes from a broker still serving: it keeps
 * such a partition until its session ends. */
static void begin_shutdown(struct controller_service *svc, struct rpc_call *call,
                           const BrokerState *b, struct heartbeat_extra *x, bool closed)
{
    liveness_set_shutting_down(&svc->liveness, b->broker_id);
    MetadataBatch *batch = records_batch_new();
    bool fence = closed && !b->fenced;
    int n = batch == NULL ? -ENOMEM
            : fence       ? records_add_fencing(batch, b->broker_id, b->broker_epoch, true)
                          : 0;
    n = n >= 0 ? service_elect_partitions(svc, batch, b->broker_id) : n;
    x->remaining = 0;
    const MetadataImage *img = svc->quorum->fsm.image;
    for (size_t t = 0; n >= 0 && t < img->n_topics; t++) {
        for (size_t p = 0; p < img->topics[t]->n_partitions; p++) {
            x->remaining += img->topics[t]->partitions[p]->leader == b->broker_id;
        }
    }
    /* Partitions it keeps leading are those the batch moves plus the ones
     * with no other ISR member; subtract the moved ones. */
    for (size_t i = 0; n > 0 && i < batch->n_records; i++) {
        if (batch->records[i]->record_case !=
            SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION_CHANGE) {
            continue; /* the fencing */
        }
        const Sluice__Metadata__PartitionChangeRecord *c = batch->records[i]->partition_change;
        const TopicState *t = fsm_find_topic_id(&svc->quorum->fsm, c->topic_id);
        const PartitionState *p = t != NULL ? image_find_partition(t, c->partition) : NULL;
        x->remaining -= p != NULL && p->leader == b->broker_id && c->leader != b->broker_id;
    }
    if (n >= 0 && x->remaining == 0 && !b->fenced && !fence) {
        n = records_add_fencing(batch, b->broker_id, b->broker_epoch, true);
    }
    if (n < 0) {
        records_free(batch);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        free(x);
        return;
    }
    service_propose(svc, call, batch, x, lifecycle_done);
}

/* Fencing, unfencing or nothing, per the heartbeat's wishes and catch-up. */
static void heartbeat_change(struct controller_service *svc, struct rpc_call *call,
                             const BrokerState *b, struct heartbeat_extra *x)
{
    const BrokerHeartbeatRequest *req = (const BrokerHeartbeatRequest *)call->request;
    bool fence = !b->fenced && req->want_fence;
    bool unfence = b->fenced && x->caught_up && !req->want_fence &&
                   !liveness_shutting_down(&svc->liveness, b->broker_id);
    if (!fence && !unfence) {
        respond_heartbeat(svc, call, KAFKA_ERROR_NONE, x);
        free(x);
        return;
    }
    MetadataBatch *batch = records_batch_new();
    int n = batch != NULL ? service_fencing_batch(svc, batch, b, fence) : -ENOMEM;
    if (n < 0) {
        records_free(batch);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        free(x);
        return;
    }
    log_info("controller", "%s broker broker.id=%d epoch=%lld records=%d",
             fence ? "fencing" : "unfencing", b->broker_id, (long long)b->broker_epoch, n);
    service_propose(svc, call, batch, x, lifecycle_done);
}

/* Note the broker's offline replicas (its whole set, every heartbeat) and,
 * when it still leads or is in the ISR of any, propose the elections that
 * take it out (Kafka's handling of offline log dirs). Returns true when it
 * answered the heartbeat (fencing waits for the next one). */
static bool offline_change(struct controller_service *svc, struct rpc_call *call,
                           const BrokerState *b, struct heartbeat_extra *x)
{
    const BrokerHeartbeatRequest *req = (const BrokerHeartbeatRequest *)call->request;
    size_t n = req->n_offline_replicas;
    struct offline_replica *refs = calloc(n ? n : 1, sizeof *refs);
    size_t kept = 0;
    for (size_t i = 0; refs != NULL && i < n; i++) {
        const Sluice__Controller__OfflineReplica *r = req->offline_replicas[i];
        if (r->topic_id.len == 16) {
            memcpy(refs[kept].topic_id, r->topic_id.data, 16);
            refs[kept++].partition = r->partition;
        }
    }
    const struct offline_broker *before =
        offline_replicas_of(&svc->offline, b->broker_id, b->broker_epoch);
    size_t n_before = before != NULL ? before->n : 0;
    int rv = refs != NULL
                 ? offline_replicas_set(&svc->offline, b->broker_id, b->broker_epoch, refs, kept)
                 : -ENOMEM;
    free(refs);
    if (rv != 0) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        free(x);
        return true;
    }
    if (kept != n_before) {
        log_warn("controller",
                 "broker reports offline replicas broker.id=%d partitions=%zu log_dirs=%zu%s%s",
                 b->broker_id, kept, req->n_offline_log_dirs,
                 req->n_offline_log_dirs > 0 ? " first_dir=" : "",
                 req->n_offline_log_dirs > 0 ? req->offline_log_dirs[0] : "");
    }
    if (kept == 0) {
        return false;
    }
    MetadataBatch *batch = records_batch_new();
    int changes = batch != NULL ? service_offline_batch(svc, batch, b) : -ENOMEM;
    if (changes <= 0) {
        records_free(batch);
        if (changes < 0) {
            rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
            free(x);
            return true;
        }
        return false;
    }
    log_info("controller",
             "moving leadership and ISR membership off offline replicas broker.id=%d changes=%d",
             b->broker_id, changes);
    service_propose(svc, call, batch, x, lifecycle_done);
    return true;
}

/* Common checks; returns the broker or NULL after answering. */
static const BrokerState *lifecycle_broker(struct controller_service *svc, struct rpc_call *call,
                                           int32_t broker_id, int64_t epoch,
                                           struct heartbeat_extra *x)
{
    int32_t code = KAFKA_ERROR_NONE;
    const BrokerState *b = NULL;
    if (!service_check_active(svc)) {
        code = KAFKA_ERROR_NOT_CONTROLLER;
    } else if ((b = image_find_broker(svc->quorum->fsm.image, broker_id)) == NULL) {
        code = KAFKA_ERROR_BROKER_ID_NOT_REGISTERED;
    } else if (b->broker_epoch != epoch) {
        code = KAFKA_ERROR_STALE_BROKER_EPOCH;
    }
    if (code == KAFKA_ERROR_NONE) {
        liveness_touch(&svc->liveness, broker_id, epoch, controller_service_now(svc));
        return b;
    }
    if (x->shutdown &&
        call->method ==
            SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_CONTROLLED_SHUTDOWN) {
        respond_shutdown(svc, call, code, -1);
    } else {
        respond_heartbeat(svc, call, code, x);
    }
    return NULL;
}

static void handle_heartbeat(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const BrokerHeartbeatRequest *req = (const BrokerHeartbeatRequest *)call->request;
    struct heartbeat_extra *x = calloc(1, sizeof *x);
    if (x == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    x->shutdown = req->want_shutdown;
    const BrokerState *b = lifecycle_broker(svc, call, req->broker_id, req->broker_epoch, x);
    if (b == NULL) {
        free(x);
        return;
    }
    /* Caught up once it has applied the batch that registered it. */
    x->caught_up = req->metadata_offset >= b->broker_epoch;
    if (req->want_shutdown) {
        begin_shutdown(svc, call, b, x, false);
    } else if (!offline_change(svc, call, b, x)) {
        heartbeat_change(svc, call, b, x);
    }
}

static void handle_controlled_shutdown(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const ControlledShutdownRequest *req = (const ControlledShutdownRequest *)call->request;
    struct heartbeat_extra *x = calloc(1, sizeof *x);
    if (x == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    x->shutdown = true;
    const BrokerState *b = lifecycle_broker(svc, call, req->broker_id, req->broker_epoch, x);
    if (b == NULL) {
        free(x);
        return;
    }
    begin_shutdown(svc, call, b, x, true);
}

/* ---- lifecycle of the service ---- */

static void cluster_id_done(struct service_op *op, int status, const struct fsm_result *res)
{
    (void)res;
    if (status == 0) {
        log_info("controller", "cluster id cluster.id=%s", op->svc->quorum->fsm.image->cluster_id);
    }
}

/* The first active controller names the cluster: cluster.id if configured,
 * else a random Kafka-style id (22 characters of base64url). */
static void ensure_cluster_id(struct controller_service *svc)
{
    if (svc->quorum->fsm.image->cluster_id[0] != '\0') {
        return;
    }
    char id[32];
    if (svc->config->cluster_id != NULL && svc->config->cluster_id[0] != '\0') {
        snprintf(id, sizeof id, "%s", svc->config->cluster_id);
    } else {
        uint8_t raw[TOPIC_ID_LEN];
        uv_random(NULL, NULL, raw, sizeof raw, 0, NULL);
        image_topic_id_format((ProtobufCBinaryData){sizeof raw, raw}, id);
    }
    MetadataBatch *batch = records_batch_new();
    if (batch == NULL || records_add_cluster_id(batch, id) != 0) {
        records_free(batch);
        return;
    }
    service_propose(svc, NULL, batch, NULL, cluster_id_done);
}

void controller_service_leadership(struct controller_service *svc, bool ready)
{
    if (!ready || svc->closing) {
        return;
    }
    svc->elect_clean_offset = svc->reassign_clean_offset = -1; /* scan afresh as leader */
    /* Every registered broker gets a full session from now on (KRaft does
     * the same), so a failover does not fence the whole cluster. */
    const MetadataImage *img = svc->quorum->fsm.image;
    uint64_t now = controller_service_now(svc);
    for (size_t i = 0; i < img->n_brokers; i++) {
        liveness_touch(&svc->liveness, img->brokers[i]->broker_id, img->brokers[i]->broker_epoch,
                       now);
    }
    liveness_reset(&svc->liveness, now);
    svc->duty_in_flight = false;
    ensure_cluster_id(svc);
}

void controller_service_set_clock(struct controller_service *svc, uint64_t (*clock)(void *data),
                                  void *clock_data)
{
    svc->clock = clock;
    svc->clock_data = clock_data;
}

uint64_t controller_service_now(const struct controller_service *svc)
{
    return svc->clock != NULL ? svc->clock(svc->clock_data) : uv_now(svc->loop);
}

void controller_service_tick(struct controller_service *svc)
{
    service_duties(svc);
}

static void on_timer(uv_timer_t *timer)
{
    service_duties(timer->data);
}

static int register_methods(struct controller_service *svc)
{
    static const struct {
        uint32_t method;
        const ProtobufCMessageDescriptor *request;
        rpc_handler_fn fn;
    } methods[] = {
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_REGISTER_BROKER,
         &sluice__controller__register_broker_request__descriptor, handle_register},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_BROKER_HEARTBEAT,
         &sluice__controller__broker_heartbeat_request__descriptor, handle_heartbeat},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_CREATE_TOPICS,
         &sluice__controller__create_topics_request__descriptor, service_create_topics},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_DELETE_TOPICS,
         &sluice__controller__delete_topics_request__descriptor, service_delete_topics},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_CREATE_PARTITIONS,
         &sluice__controller__create_partitions_request__descriptor, service_create_partitions},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALTER_CONFIGS,
         &sluice__controller__alter_configs_request__descriptor, service_alter_configs},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALTER_SCRAM_CREDENTIALS,
         &sluice__controller__alter_scram_credentials_request__descriptor, service_alter_scram},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALTER_PARTITION,
         &sluice__controller__alter_partition_request__descriptor, service_alter_partition},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_CONTROLLED_SHUTDOWN,
         &sluice__controller__controlled_shutdown_request__descriptor, handle_controlled_shutdown},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_FETCH_METADATA,
         &sluice__controller__fetch_metadata_request__descriptor, service_fetch_metadata},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_DESCRIBE_QUORUM,
         &sluice__controller__describe_quorum_request__descriptor, service_describe_quorum},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALLOCATE_PRODUCER_IDS,
         &sluice__controller__allocate_producer_ids_request__descriptor,
         service_allocate_producer_ids},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ELECT_LEADERS,
         &sluice__controller__elect_leaders_request__descriptor, service_elect_leaders},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALTER_ACLS,
         &sluice__controller__alter_acls_request__descriptor, service_alter_acls},
        {SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALTER_PARTITION_REASSIGNMENTS,
         &sluice__controller__alter_partition_reassignments_request__descriptor,
         service_alter_reassignments},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        int rv = rpc_server_handle(&svc->server, methods[i].method, methods[i].request,
                                   methods[i].fn, svc);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Duties run a few times per heartbeat interval, so a silent broker is
 * fenced within broker.session.timeout.ms plus a fraction of a heartbeat. */
static uint64_t duty_interval(const struct sluice_config *c)
{
    uint64_t ms = (uint64_t)c->broker_heartbeat_interval_ms / 4;
    return ms < 20 ? 20 : ms > 500 ? 500 : ms;
}

int controller_service_start(struct controller_service *svc, uv_loop_t *loop, struct quorum *quorum,
                             const struct voters *voters, const struct sluice_config *config,
                             const char *host, int port, const struct internal_tls *tls)
{
    memset(svc, 0, sizeof *svc);
    svc->elect_clean_offset = svc->reassign_clean_offset = -1;
    svc->loop = loop;
    svc->quorum = quorum;
    svc->voters = *voters;
    svc->config = config;
    liveness_init(&svc->liveness, (uint64_t)config->broker_session_timeout_ms);
    offline_replicas_init(&svc->offline);
    rpc_server_init(&svc->server, loop, (size_t)config->socket_request_max_bytes);
    struct rpc_server_limits limits = rpc_server_control_limits(
        (uint64_t)config->request_timeout_ms, (uint64_t)config->connections_max_idle_ms);
    rpc_server_set_limits(&svc->server, &limits);
    svc->tls = tls;
    rpc_server_set_tls(&svc->server, tls != NULL ? tls->server : NULL);
    svc->server.data = svc;
    service_identity_guard(svc);
    int rv = register_methods(svc);
    if (rv == 0) {
        rv = rpc_server_listen(&svc->server, host, port);
    }
    if (rv != 0) {
        liveness_free(&svc->liveness);
        offline_replicas_free(&svc->offline);
        return rv;
    }
    uv_timer_init(loop, &svc->timer);
    svc->timer.data = svc;
    uv_timer_start(&svc->timer, on_timer, duty_interval(config), duty_interval(config));
    svc->open_handles = 2;
    log_info("controller", "controller service listening host=%s port=%d", host,
             rpc_server_port(&svc->server));
    return 0;
}

int controller_service_port(struct controller_service *svc)
{
    return rpc_server_port(&svc->server);
}

static void closed_one(struct controller_service *svc)
{
    if (--svc->open_handles == 0) {
        liveness_free(&svc->liveness);
        offline_replicas_free(&svc->offline);
        if (svc->close_cb != NULL) {
            svc->close_cb(svc);
        }
    }
}

static void on_server_closed(struct rpc_server *server)
{
    closed_one(server->data);
}

static void on_timer_closed(uv_handle_t *handle)
{
    closed_one(handle->data);
}

void controller_service_close(struct controller_service *svc,
                              void (*cb)(struct controller_service *svc))
{
    if (svc->closing) {
        return;
    }
    svc->closing = true;
    svc->close_cb = cb;
    uv_close((uv_handle_t *)&svc->timer, on_timer_closed);
    rpc_server_close(&svc->server, on_server_closed);
}
