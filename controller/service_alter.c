/* AlterPartition (KIP-497, KIP-903): a partition leader changes its ISR.
 *
 * Versions 1 and 2 name one partition in the request's own fields; version
 * 3 (issue 14) names up to ALTER_PARTITION_MAX_ITEMS in `items`, as Kafka's
 * AlterPartition does, so a broker re-added to the ISR of thousands of
 * partitions after a restart costs its leaders a few requests and raft
 * commits, not one per partition. Every partition, alone or in a batch, goes
 * through the same checks (alter_check); the accepted ones of a batch are
 * proposed in one metadata batch (one raft entry), and each item is answered
 * on its own: a refusal, at check or at apply time, fails only its item. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/service_internal.h"
#include "metadata/alter_partition_limits.h"

typedef Sluice__Controller__AlterPartitionRequest AlterPartitionRequest;
typedef Sluice__Controller__AlterPartitionResponse AlterPartitionResponse;
typedef Sluice__Controller__AlterPartitionItemResult ItemResult;

/* One partition's proposal, from a version 1/2 request's fields or from a
 * version-3 item (borrowed from the request), with its ISR as ids and
 * KIP-903 epochs (-1: not given; malloc'd). */
struct alter_item {
    ProtobufCBinaryData topic_id;
    int32_t partition, leader_epoch, partition_epoch;
    int32_t *ids;
    int64_t *epochs;
    size_t n;
};

static int alter_isr_alloc(struct alter_item *it, size_t n)
{
    it->n = n;
    it->ids = malloc((n ? n : 1) * sizeof *it->ids);
    it->epochs = malloc((n ? n : 1) * sizeof *it->epochs);
    if (it->ids == NULL || it->epochs == NULL) {
        free(it->ids);
        free(it->epochs);
        return -ENOMEM;
    }
    return 0;
}

static void alter_item_free(struct alter_item *it)
{
    free(it->ids);
    free(it->epochs);
}

/* The proposal of a version 1 or 2 request (its own fields). */
static int alter_item_from_request(const AlterPartitionRequest *req, struct alter_item *it)
{
    *it =
        (struct alter_item){req->topic_id, req->partition, req->leader_epoch, req->partition_epoch};
    bool with_epochs = req->n_new_isr_with_epochs > 0;
    if (alter_isr_alloc(it, with_epochs ? req->n_new_isr_with_epochs : req->n_new_isr) != 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < it->n; i++) {
        const Sluice__Controller__IsrMember *m = with_epochs ? req->new_isr_with_epochs[i] : NULL;
        it->ids[i] = m != NULL ? m->broker_id : req->new_isr[i];
        it->epochs[i] = m != NULL ? m->broker_epoch : -1;
    }
    return 0;
}

/* The proposal of one version-3 item. */
static int alter_item_from_batch(const Sluice__Controller__AlterPartitionItem *src,
                                 struct alter_item *it)
{
    *it =
        (struct alter_item){src->topic_id, src->partition, src->leader_epoch, src->partition_epoch};
    if (alter_isr_alloc(it, src->n_new_isr_with_epochs) != 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < it->n; i++) {
        it->ids[i] = src->new_isr_with_epochs[i]->broker_id;
        it->epochs[i] = src->new_isr_with_epochs[i]->broker_epoch;
    }
    return 0;
}

/* Whether each proposed member may be in the ISR: a replica, listed once,
 * registered, unfenced, not shutting down, and (KIP-903) the registration
 * the leader saw. A member joining must name its broker epoch. */
static int32_t alter_check_members(struct controller_service *svc, const PartitionState *p,
                                   const struct alter_item *isr, const char **message)
{
    for (size_t i = 0; i < isr->n; i++) {
        int32_t id = isr->ids[i];
        bool joining = !image_ints_contain(p->isr, p->n_isr, id);
        if (!image_ints_contain(p->replicas, p->n_replicas, id) ||
            image_ints_contain(isr->ids, i, id)) {
            *message = "ISR member is not a replica or is listed twice";
            return KAFKA_ERROR_INVALID_REQUEST;
        }
        if (joining && isr->epochs[i] == -1) {
            *message = "a broker joining the ISR needs its broker epoch (new_isr_with_epochs)";
            return KAFKA_ERROR_INVALID_REQUEST;
        }
        const BrokerState *b = image_find_broker(svc->quorum->fsm.image, id);
        if (!service_broker_usable(svc, id)) {
            *message = "a fenced or shutting-down broker cannot be in the ISR";
            return KAFKA_ERROR_INELIGIBLE_REPLICA;
        }
        if (isr->epochs[i] != -1 && isr->epochs[i] != b->broker_epoch) {
            *message = "ISR member's broker epoch is not its current registration";
            return KAFKA_ERROR_INELIGIBLE_REPLICA;
        }
    }
    return KAFKA_ERROR_NONE;
}

/* Not a Kafka code: alter_check found the proposal already committed. */
#define ALTER_ALREADY_APPLIED (-1000)

static bool same_members(const int32_t *a, size_t n, const struct alter_item *isr)
{
    if (n != isr->n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!image_ints_contain(isr->ids, isr->n, a[i])) {
            return false;
        }
    }
    return true;
}

/* The checks of KIP-497, in Kafka's order, for one partition proposed by
 * `broker_id` at `broker_epoch`. */
static int32_t alter_check(struct controller_service *svc, int32_t broker_id, int64_t broker_epoch,
                           const struct alter_item *it, const PartitionState **out,
                           const char **message)
{
    const MetadataImage *img = svc->quorum->fsm.image;
    const BrokerState *b = image_find_broker(img, broker_id);
    if (b == NULL || b->broker_epoch != broker_epoch) {
        return KAFKA_ERROR_STALE_BROKER_EPOCH;
    }
    const TopicState *t = fsm_find_topic_id(&svc->quorum->fsm, it->topic_id);
    if (t == NULL) {
        return KAFKA_ERROR_UNKNOWN_TOPIC_ID;
    }
    const PartitionState *p = image_find_partition(t, it->partition);
    if (p == NULL) {
        return KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    *out = p;
    if (p->leader_epoch != it->leader_epoch) {
        return KAFKA_ERROR_FENCED_LEADER_EPOCH;
    }
    if (p->leader != broker_id) {
        *message = "only the partition leader may alter its ISR";
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    if (p->partition_epoch != it->partition_epoch) {
        /* A retry of a change that committed (its answer was lost with a
         * controller): the same ISR is there, so it succeeded. */
        return it->partition_epoch < p->partition_epoch && same_members(p->isr, p->n_isr, it)
                   ? ALTER_ALREADY_APPLIED
                   : KAFKA_ERROR_INVALID_UPDATE_VERSION;
    }
    if (!image_ints_contain(it->ids, it->n, p->leader)) {
        *message = "the leader must stay in the ISR";
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    return alter_check_members(svc, p, it, message);
}

/* Append the checked change to `batch`; the epochs go into the record so
 * the FSM checks joining members again at apply time, after anything
 * committed meanwhile. 0 or -ENOMEM. */
static int alter_add_change(MetadataBatch *batch, const struct alter_item *it,
                            const PartitionState *p)
{
    if (records_add_change(batch, it->topic_id, it->partition, p->partition_epoch, p->leader,
                           it->ids, it->n) != 0 ||
        records_set_change_epochs(batch, it->epochs, it->n) != 0) {
        return -ENOMEM;
    }
    return 0;
}

static const char *apply_message(int32_t code)
{
    return code == KAFKA_ERROR_INELIGIBLE_REPLICA ? "an ISR member was fenced or re-registered"
                                                  : "";
}

/* The committed state of a partition, for the leader to adopt (also after a
 * lost race: INVALID_UPDATE_VERSION with the winner's ISR). */
static PartitionState *committed_state(struct controller_service *svc, ProtobufCBinaryData id,
                                       int32_t partition)
{
    const TopicState *t = fsm_find_topic_id(&svc->quorum->fsm, id);
    return t != NULL ? image_find_partition(t, partition) : NULL;
}

/* ---- versions 1 and 2: one partition ---- */

static void respond_single(struct controller_service *svc, struct rpc_call *call, int32_t code,
                           const char *message)
{
    const AlterPartitionRequest *req = (const AlterPartitionRequest *)call->request;
    AlterPartitionResponse resp = SLUICE__CONTROLLER__ALTER_PARTITION_RESPONSE__INIT;
    LeaderHint hint;
    resp.error_code = code;
    resp.error_message = (char *)message;
    resp.topic_id = req->topic_id;
    if (code == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    } else {
        resp.partition = committed_state(svc, req->topic_id, req->partition);
    }
    rpc_call_respond(call, &resp.base, NULL, 0);
}

static void single_done(struct service_op *op, int status, const struct fsm_result *res)
{
    int32_t code = status != 0 ? service_failure_code(status) : res->errors[0];
    respond_single(op->svc, op->call, code, apply_message(code));
}

static void alter_single(struct controller_service *svc, struct rpc_call *call,
                         const AlterPartitionRequest *req)
{
    struct alter_item it;
    if (alter_item_from_request(req, &it) != 0) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    const PartitionState *p = NULL;
    const char *message = "";
    int32_t code = alter_check(svc, req->broker_id, req->broker_epoch, &it, &p, &message);
    if (code == KAFKA_ERROR_NONE) {
        MetadataBatch *batch = records_batch_new();
        if (batch == NULL || alter_add_change(batch, &it, p) != 0) {
            records_free(batch);
            rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        } else {
            service_propose(svc, call, batch, NULL, single_done);
        }
    } else {
        respond_single(svc, call, code == ALTER_ALREADY_APPLIED ? KAFKA_ERROR_NONE : code, message);
    }
    alter_item_free(&it);
}

/* ---- version 3: many partitions ---- */

/* Each item's answer so far, and where its change record sits in the
 * proposed batch (-1: none). service_propose frees it. */
struct batch_answers {
    size_t n;
    struct {
        int32_t code;
        const char *message; /* static */
        int record;
    } items[];
};

/* Answer every item (from `x`), or only `failure` for the whole request. */
static void respond_batch(struct controller_service *svc, struct rpc_call *call,
                          const struct batch_answers *x, int32_t failure, const char *message)
{
    const AlterPartitionRequest *req = (const AlterPartitionRequest *)call->request;
    AlterPartitionResponse resp = SLUICE__CONTROLLER__ALTER_PARTITION_RESPONSE__INIT;
    LeaderHint hint;
    resp.version = 3;
    resp.error_code = failure;
    resp.error_message = (char *)message;
    if (failure == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    }
    size_t n = failure == KAFKA_ERROR_NONE && x != NULL ? x->n : 0;
    ItemResult *results = calloc(n ? n : 1, sizeof *results);
    ItemResult **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (results == NULL || ptrs == NULL) {
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const Sluice__Controller__AlterPartitionItem *it = req->items[i];
        sluice__controller__alter_partition_item_result__init(&results[i]);
        results[i].topic_id = it->topic_id;
        results[i].partition_index = it->partition;
        results[i].error_code = x->items[i].code;
        results[i].error_message = (char *)x->items[i].message;
        results[i].partition = committed_state(svc, it->topic_id, it->partition);
        ptrs[i] = &results[i];
    }
    resp.items = ptrs;
    resp.n_items = n;
    rpc_call_respond(call, &resp.base, NULL, 0);
out:
    free(results);
    free(ptrs);
}

static void batch_done(struct service_op *op, int status, const struct fsm_result *res)
{
    struct batch_answers *x = op->extra;
    if (status != 0) {
        /* The whole entry's fate is unknown or lost: the broker retries
         * every item (accepted ones are then found already applied). */
        respond_batch(op->svc, op->call, NULL, service_failure_code(status), "");
        return;
    }
    for (size_t i = 0; i < x->n; i++) {
        int r = x->items[i].record;
        if (r >= 0 && (size_t)r < res->n) {
            x->items[i].code = res->errors[r];
            x->items[i].message = apply_message(res->errors[r]);
        }
    }
    respond_batch(op->svc, op->call, x, KAFKA_ERROR_NONE, "");
}

/* Check every item; the accepted ones' changes go into `batch`. 0 or
 * -ENOMEM. */
static int check_items(struct controller_service *svc, const AlterPartitionRequest *req,
                       struct batch_answers *x, MetadataBatch *batch)
{
    for (size_t i = 0; i < req->n_items; i++) {
        struct alter_item it;
        if (alter_item_from_batch(req->items[i], &it) != 0) {
            return -ENOMEM;
        }
        const PartitionState *p = NULL;
        const char *message = "";
        int32_t code = alter_check(svc, req->broker_id, req->broker_epoch, &it, &p, &message);
        x->items[i].record = -1;
        x->items[i].message = message;
        x->items[i].code = code == ALTER_ALREADY_APPLIED ? KAFKA_ERROR_NONE : code;
        if (code == KAFKA_ERROR_NONE) {
            x->items[i].record = (int)batch->n_records;
            if (alter_add_change(batch, &it, p) != 0) {
                alter_item_free(&it);
                return -ENOMEM;
            }
        }
        alter_item_free(&it);
    }
    return 0;
}

static void alter_batch(struct controller_service *svc, struct rpc_call *call,
                        const AlterPartitionRequest *req)
{
    if (req->n_items > ALTER_PARTITION_MAX_ITEMS) {
        log_warn("controller", "AlterPartition with too many items broker.id=%d items=%zu max=%d",
                 req->broker_id, req->n_items, ALTER_PARTITION_MAX_ITEMS);
        respond_batch(svc, call, NULL, KAFKA_ERROR_INVALID_REQUEST, "too many items");
        return;
    }
    struct batch_answers *x =
        malloc(sizeof *x + req->n_items * sizeof x->items[0]); /* bounded just above */
    MetadataBatch *batch = records_batch_new();
    if (x == NULL || batch == NULL) {
        goto err;
    }
    x->n = req->n_items;
    if (check_items(svc, req, x, batch) != 0) {
        goto err;
    }
    if (batch->n_records == 0) {
        respond_batch(svc, call, x, KAFKA_ERROR_NONE, "");
        records_free(batch);
        free(x);
        return;
    }
    service_propose(svc, call, batch, x, batch_done); /* takes batch and x */
    return;
err:
    records_free(batch);
    free(x);
    rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
}

void service_alter_partition(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const AlterPartitionRequest *req = (const AlterPartitionRequest *)call->request;
    bool batched = req->n_items > 0;
    if (!service_check_active(svc)) {
        if (batched) {
            respond_batch(svc, call, NULL, KAFKA_ERROR_NOT_CONTROLLER, "");
        } else {
            respond_single(svc, call, KAFKA_ERROR_NOT_CONTROLLER, "");
        }
        return;
    }
    svc->alter_requests++;
    svc->alter_items += batched ? req->n_items : 1;
    if (batched) {
        alter_batch(svc, call, req);
    } else {
        alter_single(svc, call, req);
    }
}
