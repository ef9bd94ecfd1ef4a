/* AllocateProducerIds on the active controller (Kafka's KIP-730): a broker
 * whose InitProducerId block ran out gets the next PRODUCER_ID_BLOCK_SIZE
 * ids, committed as a ProducerIdsRecord before it is answered, so a block
 * is never handed out twice, across controller failover too. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "common/log.h"
#include "controller/service_internal.h"

typedef Sluice__Controller__AllocateProducerIdsRequest AllocateProducerIdsRequest;
typedef Sluice__Controller__AllocateProducerIdsResponse AllocateProducerIdsResponse;

/* Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE. */
#define PRODUCER_ID_BLOCK_SIZE 1000

struct block {
    int64_t start;
};

static void respond(struct controller_service *svc, struct rpc_call *call, int32_t code,
                    const char *message, int64_t start)
{
    AllocateProducerIdsResponse resp = SLUICE__CONTROLLER__ALLOCATE_PRODUCER_IDS_RESPONSE__INIT;
    LeaderHint hint;
    resp.error_code = code;
    resp.error_message = (char *)message;
    if (code == KAFKA_ERROR_NOT_CONTROLLER) {
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
    }
    if (code == KAFKA_ERROR_NONE) {
        resp.producer_id_start = start;
        resp.producer_id_len = PRODUCER_ID_BLOCK_SIZE;
    }
    rpc_call_respond(call, &resp.base, NULL, 0);
}

static void allocated(struct service_op *op, int status, const struct fsm_result *res)
{
    const struct block *b = op->extra;
    int32_t code = status != 0 ? service_failure_code(status) : res->errors[0];
    if (code == KAFKA_ERROR_NONE) {
        log_info("controller", "producer ids allocated broker.id=%d start=%" PRId64 " count=%d",
                 ((const AllocateProducerIdsRequest *)op->call->request)->broker_id, b->start,
                 PRODUCER_ID_BLOCK_SIZE);
    }
    respond(op->svc, op->call, code,
            code == KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS ? "another block was allocated "
                                                               "meanwhile: ask again"
                                                             : "",
            b->start);
}

void service_allocate_producer_ids(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const AllocateProducerIdsRequest *req = (const AllocateProducerIdsRequest *)call->request;
    if (!service_check_active(svc)) {
        respond(svc, call, KAFKA_ERROR_NOT_CONTROLLER, "", 0);
        return;
    }
    const MetadataImage *img = svc->quorum->fsm.image;
    const BrokerState *broker = image_find_broker(img, req->broker_id);
    if (broker == NULL || (req->broker_epoch >= 0 && broker->broker_epoch != req->broker_epoch)) {
        respond(svc, call, KAFKA_ERROR_STALE_BROKER_EPOCH, "unknown broker or stale broker epoch",
                0);
        return;
    }
    if (img->next_producer_id > INT64_MAX - PRODUCER_ID_BLOCK_SIZE) {
        respond(svc, call, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "producer ids exhausted", 0);
        return;
    }
    struct block *b = malloc(sizeof *b);
    MetadataBatch *batch = records_batch_new();
    if (b == NULL || batch == NULL ||
        records_add_producer_ids(batch, req->broker_id, req->broker_epoch, img->next_producer_id,
                                 img->next_producer_id + PRODUCER_ID_BLOCK_SIZE) != 0) {
        free(b);
        records_free(batch);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    b->start = img->next_producer_id;
    service_propose(svc, call, batch, b, allocated);
}
