#include "broker/metadata/alter_batcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "metadata/alter_partition_limits.h"
#include "proto/controller.pb-c.h"
#include "proto/kafka/kafka_errors.h"

#define METHOD SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALTER_PARTITION

typedef Sluice__Controller__AlterPartitionRequest AlterPartitionRequest;
typedef Sluice__Controller__AlterPartitionResponse AlterPartitionResponse;
typedef Sluice__Controller__AlterPartitionItem AlterPartitionItem;
typedef Sluice__Controller__IsrMember IsrMember;

static void kick(struct alter_batcher *b);

void alter_batcher_init(struct alter_batcher *b, struct controller_client *client, uv_loop_t *loop,
                        int32_t broker_id, const int64_t *broker_epoch, uint64_t request_timeout_ms)
{
    *b = (struct alter_batcher){.client = client,
                                .loop = loop,
                                .broker_id = broker_id,
                                .broker_epoch = broker_epoch,
                                .request_timeout_ms = request_timeout_ms};
}

/* Answer one proposal; it may be freed, or a new one submitted, by its
 * callback. */
static void complete(struct broker_alter_partition *op, int status, int32_t code,
                     const PartitionState *committed)
{
    free(op->isr);
    op->isr = NULL;
    op->next = NULL;
    op->cb(op, status, code, committed);
}

/* Answer every proposal of `list` with the same outcome. */
static void complete_all(struct alter_batcher *b, struct broker_alter_partition *list, int status,
                         int32_t code)
{
    bool was = b->dispatching;
    b->dispatching = true;
    while (list != NULL) {
        struct broker_alter_partition *next = list->next;
        complete(list, status, code, NULL);
        list = next;
    }
    b->dispatching = was;
}

/* Move up to `max` waiting proposals of the current broker epoch into the
 * in-flight list, in order; those of an older one go to *stale. */
static void take_items(struct alter_batcher *b, size_t max, struct broker_alter_partition **stale)
{
    struct broker_alter_partition **tail = &b->in_flight, **stale_tail = stale;
    b->n_in_flight = 0;
    while (b->waiting != NULL && b->n_in_flight < max) {
        struct broker_alter_partition *op = b->waiting;
        b->waiting = op->next;
        op->next = NULL;
        if (op->broker_epoch != *b->broker_epoch) {
            *stale_tail = op;
            stale_tail = &op->next;
        } else {
            *tail = op;
            tail = &op->next;
            b->n_in_flight++;
        }
    }
    if (b->waiting == NULL) {
        b->waiting_tail = NULL;
    }
}

/* Protobuf views of the in-flight items (one allocation each; freed by the
 * caller once the client copied the body). */
struct request_views {
    AlterPartitionItem *items, **item_ptrs;
    IsrMember *members, **member_ptrs;
};

static int build_views(const struct alter_batcher *b, struct request_views *v)
{
    size_t n = b->n_in_flight, members = 0;
    for (const struct broker_alter_partition *op = b->in_flight; op != NULL; op = op->next) {
        members += op->n_isr;
    }
    v->items = calloc(n ? n : 1, sizeof *v->items);
    v->item_ptrs = calloc(n ? n : 1, sizeof *v->item_ptrs);
    v->members = calloc(members ? members : 1, sizeof *v->members);
    v->member_ptrs = calloc(members ? members : 1, sizeof *v->member_ptrs);
    if (v->items == NULL || v->item_ptrs == NULL || v->members == NULL || v->member_ptrs == NULL) {
        return -ENOMEM;
    }
    size_t i = 0, m = 0;
    for (const struct broker_alter_partition *op = b->in_flight; op != NULL; op = op->next, i++) {
        AlterPartitionItem *it = &v->items[i];
        sluice__controller__alter_partition_item__init(it);
        it->topic_id = (ProtobufCBinaryData){16, (uint8_t *)op->topic_id};
        it->partition = op->partition;
        it->leader_epoch = op->leader_epoch;
        it->partition_epoch = op->partition_epoch;
        it->new_isr_with_epochs = &v->member_ptrs[m];
        it->n_new_isr_with_epochs = op->n_isr;
        for (size_t j = 0; j < op->n_isr; j++, m++) {
            sluice__controller__isr_member__init(&v->members[m]);
            v->members[m].broker_id = op->isr[j].broker_id;
            v->members[m].broker_epoch = op->isr[j].broker_epoch;
            v->member_ptrs[m] = &v->members[m];
        }
        v->item_ptrs[i] = it;
    }
    return 0;
}

static void free_views(struct request_views *v)
{
    free(v->items);
    free(v->item_ptrs);
    free(v->members);
    free(v->member_ptrs);
}

static void on_answer(struct controller_request *req, int status, const ProtobufCMessage *m);

/* Send the in-flight items as one version-3 request; its first item also
 * fills the version-2 fields, for a controller that predates version 3.
 * 0 or the error (the items stay in flight for the caller to fail). */
static int send_in_flight(struct alter_batcher *b)
{
    struct request_views v = {0};
    int rv = build_views(b, &v);
    if (rv == 0) {
        AlterPartitionRequest req = SLUICE__CONTROLLER__ALTER_PARTITION_REQUEST__INIT;
        const AlterPartitionItem *first = v.item_ptrs[0];
        req.version = 3;
        req.broker_id = b->broker_id;
        req.broker_epoch = *b->broker_epoch;
        req.topic_id = first->topic_id;
        req.partition = first->partition;
        req.leader_epoch = first->leader_epoch;
        req.partition_epoch = first->partition_epoch;
        req.new_isr_with_epochs = first->new_isr_with_epochs;
        req.n_new_isr_with_epochs = first->n_new_isr_with_epochs;
        req.items = v.item_ptrs;
        req.n_items = b->n_in_flight;
        b->req.data = b;
        /* The client copies the body now. */
        rv = controller_client_call(b->client, &b->req, METHOD, &req.base,
                                    &sluice__controller__alter_partition_response__descriptor,
                                    b->request_timeout_ms, on_answer);
    }
    free_views(&v);
    if (rv == 0) {
        b->busy = true;
        b->requests++;
        b->items += b->n_in_flight;
    }
    return rv;
}

/* Send what waits, unless a request is in flight or answers are being
 * delivered (then this runs again after them). */
static void kick(struct alter_batcher *b)
{
    while (!b->busy && !b->dispatching && b->waiting != NULL) {
        bool legacy = uv_now(b->loop) < b->legacy_until;
        struct broker_alter_partition *stale = NULL;
        take_items(b, legacy ? 1 : ALTER_PARTITION_MAX_ITEMS, &stale);
        complete_all(b, stale, -ESTALE, KAFKA_ERROR_NONE);
        int rv = b->in_flight != NULL ? send_in_flight(b) : 0;
        if (rv != 0) {
            struct broker_alter_partition *failed = b->in_flight;
            b->in_flight = NULL;
            b->n_in_flight = 0;
            complete_all(b, failed, rv, KAFKA_ERROR_NONE);
        }
    }
}

/* A controller that predates version 3 answered the first item alone (in
 * the version-2 form): that answer is the first item's; the others wait
 * again, ahead of newer proposals. */
static void answer_legacy(struct alter_batcher *b, struct broker_alter_partition *list,
                          const AlterPartitionResponse *resp)
{
    struct broker_alter_partition *rest = list->next;
    if (rest != NULL) {
        struct broker_alter_partition *last = rest;
        while (last->next != NULL) {
            last = last->next;
        }
        last->next = b->waiting;
        if (b->waiting == NULL) {
            b->waiting_tail = last;
        }
        b->waiting = rest;
    }
    if (uv_now(b->loop) >= b->legacy_until) {
        log_warn("broker-session",
                 "the controller answered AlterPartition without batches (older version): "
                 "sending one partition per request for %d ms broker.id=%d",
                 ALTER_BATCHER_LEGACY_MS, b->broker_id);
    }
    b->legacy_until = uv_now(b->loop) + ALTER_BATCHER_LEGACY_MS;
    complete(list, 0, resp->error_code, resp->partition);
}

/* Item i's own answer, or NULL when the response has none that matches. */
static const Sluice__Controller__AlterPartitionItemResult *
item_result(const AlterPartitionResponse *resp, size_t i, const struct broker_alter_partition *op)
{
    if (i >= resp->n_items) {
        return NULL;
    }
    const Sluice__Controller__AlterPartitionItemResult *r = resp->items[i];
    bool same = r->topic_id.len == 16 && memcmp(r->topic_id.data, op->topic_id, 16) == 0 &&
                r->partition_index == op->partition;
    return same ? r : NULL;
}

static void answer_items(struct broker_alter_partition *list, const AlterPartitionResponse *resp)
{
    /* An item the answer leaves out takes the request's error. */
    int32_t fallback =
        resp->error_code != KAFKA_ERROR_NONE ? resp->error_code : KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    size_t i = 0;
    while (list != NULL) {
        struct broker_alter_partition *next = list->next;
        const Sluice__Controller__AlterPartitionItemResult *r = item_result(resp, i++, list);
        if (r != NULL) {
            complete(list, 0, r->error_code, r->partition);
        } else {
            complete(list, 0, fallback, NULL);
        }
        list = next;
    }
}

static void on_answer(struct controller_request *req, int status, const ProtobufCMessage *m)
{
    struct alter_batcher *b = req->data;
    const AlterPartitionResponse *resp = (const AlterPartitionResponse *)m;
    struct broker_alter_partition *list = b->in_flight;
    b->in_flight = NULL;
    b->n_in_flight = 0;
    b->busy = false;
    b->dispatching = true;
    if (status != 0) {
        complete_all(b, list, status, KAFKA_ERROR_NONE);
    } else if (resp->version < 3 && list != NULL) {
        answer_legacy(b, list, resp);
    } else {
        answer_items(list, resp);
    }
    b->dispatching = false;
    kick(b);
}

int alter_batcher_submit(struct alter_batcher *b, struct broker_alter_partition *op,
                         const uint8_t topic_id[16], int32_t partition, int32_t leader_epoch,
                         int32_t partition_epoch, const struct broker_isr_member *isr, size_t n_isr,
                         broker_alter_partition_cb cb)
{
    if (*b->broker_epoch == 0) {
        return -EAGAIN;
    }
    op->isr = malloc((n_isr ? n_isr : 1) * sizeof *op->isr);
    if (op->isr == NULL) {
        return -ENOMEM;
    }
    memcpy(op->isr, isr, n_isr * sizeof *isr);
    op->n_isr = n_isr;
    op->cb = cb;
    op->next = NULL;
    op->broker_epoch = *b->broker_epoch;
    memcpy(op->topic_id, topic_id, 16);
    op->partition = partition;
    op->leader_epoch = leader_epoch;
    op->partition_epoch = partition_epoch;
    if (b->busy || b->dispatching) {
        if (b->waiting_tail != NULL) {
            b->waiting_tail->next = op;
        } else {
            b->waiting = op;
        }
        b->waiting_tail = op;
        return 0;
    }
    /* Idle: nothing waits (kick leaves nothing waiting while idle), so the
     * request carries this proposal alone, and a failure to send is
     * returned rather than called back from inside this call. */
    b->in_flight = op;
    b->n_in_flight = 1;
    int rv = send_in_flight(b);
    if (rv != 0) {
        b->in_flight = NULL;
        b->n_in_flight = 0;
        free(op->isr);
        op->isr = NULL;
    }
    return rv;
}

void alter_batcher_cancel(struct alter_batcher *b, int status)
{
    struct broker_alter_partition *list = b->waiting;
    b->waiting = b->waiting_tail = NULL;
    complete_all(b, list, status, KAFKA_ERROR_NONE);
}
