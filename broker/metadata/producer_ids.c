/* Producer ids for InitProducerId (metadata_view_submit_producer_id): the
 * broker hands out ids from a block the active controller allocated through
 * the metadata log (AllocateProducerIds, a ProducerIdsRecord), and asks for
 * the next block when this one runs out. Requests arriving meanwhile wait
 * for it; one controller request is in flight at a time. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata/metadata_quorum_internal.h"
#include "common/log.h"
#include "proto/controller.pb-c.h"
#include "proto/kafka/kafka_errors.h"

/* A block committed meanwhile by another broker makes ours lose the
 * compare-and-set: ask again at once, a few times. */
#define ALLOCATE_ATTEMPTS 5

struct producer_id_request {
    struct metadata_quorum *q; /* NULL once the view closed */
    struct controller_request req;
    uint64_t timeout_ms;
    int attempts;
};

static void complete(struct metadata_producer_id_op *op, int16_t code, int64_t id)
{
    op->error_code = code;
    op->producer_id = code == KAFKA_ERROR_NONE ? id : -1;
    op->cb(op);
}

/* Serve waiters from the block while it lasts (oldest first). */
static void serve(struct metadata_quorum *q)
{
    while (q->pid_waiting != NULL && q->pid_next < q->pid_end) {
        struct metadata_producer_id_op *op = q->pid_waiting;
        q->pid_waiting = op->next;
        complete(op, KAFKA_ERROR_NONE, q->pid_next++);
    }
}

static void fail_all(struct metadata_quorum *q, int16_t code)
{
    while (q->pid_waiting != NULL) {
        struct metadata_producer_id_op *op = q->pid_waiting;
        q->pid_waiting = op->next;
        complete(op, code, -1);
    }
}

static int send_allocate(struct producer_id_request *r);

static void on_allocated(struct controller_request *creq, int status, const ProtobufCMessage *m)
{
    struct producer_id_request *r = creq->data;
    struct metadata_quorum *q = r->q;
    if (q == NULL) {
        free(r);
        return;
    }
    const Sluice__Controller__AllocateProducerIdsResponse *resp =
        (const Sluice__Controller__AllocateProducerIdsResponse *)m;
    int32_t code = status != 0 ? KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE : resp->error_code;
    if (code == KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS && ++r->attempts < ALLOCATE_ATTEMPTS &&
        send_allocate(r) == 0) {
        return;
    }
    q->pid_request = NULL;
    if (code == KAFKA_ERROR_NONE && resp->producer_id_len > 0 && resp->producer_id_start >= 0) {
        q->pid_next = resp->producer_id_start;
        q->pid_end = resp->producer_id_start + resp->producer_id_len;
        log_info("metadata", "producer id block start=%" PRId64 " count=%d", q->pid_next,
                 resp->producer_id_len);
        free(r);
        serve(q);
        return;
    }
    log_warn("metadata", "cannot get producer ids from the controller error=%s reason=\"%s\"",
             status != 0 ? strerror(-status) : kafka_error_name((int16_t)code),
             status != 0 ? "" : resp->error_message);
    free(r);
    /* Retriable for every client: it asks again after its backoff. */
    fail_all(q, code == KAFKA_ERROR_NONE ? KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE : (int16_t)code);
}

static int send_allocate(struct producer_id_request *r)
{
    Sluice__Controller__AllocateProducerIdsRequest req =
        SLUICE__CONTROLLER__ALLOCATE_PRODUCER_IDS_REQUEST__INIT;
    req.version = 1;
    req.broker_id = r->q->self;
    req.broker_epoch = -1; /* the registration is checked by id */
    return controller_client_call(
        r->q->src.client, &r->req,
        SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALLOCATE_PRODUCER_IDS, &req.base,
        &sluice__controller__allocate_producer_ids_response__descriptor, r->timeout_ms,
        on_allocated);
}

void metadata_quorum_submit_producer_id(struct metadata_quorum *q, uint64_t timeout_ms,
                                        struct metadata_producer_id_op *op)
{
    if (q->pid_next < q->pid_end && q->pid_waiting == NULL) {
        complete(op, KAFKA_ERROR_NONE, q->pid_next++);
        return;
    }
    /* Queue at the tail: ids go out in arrival order. */
    op->next = NULL;
    struct metadata_producer_id_op **tail = &q->pid_waiting;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = op;
    if (q->pid_request != NULL) {
        return;
    }
    struct producer_id_request *r = calloc(1, sizeof *r);
    if (q->src.client == NULL || r == NULL) {
        free(r);
        fail_all(q, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    r->q = q;
    r->req.data = r;
    r->timeout_ms = timeout_ms;
    if (send_allocate(r) != 0) {
        free(r);
        fail_all(q, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    q->pid_request = r;
}

void quorum_producer_ids_detach(struct metadata_quorum *q)
{
    if (q->pid_request != NULL) {
        q->pid_request->q = NULL; /* freed when the controller client calls back */
        q->pid_request = NULL;
    }
    fail_all(q, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
}
