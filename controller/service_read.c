/* FetchMetadata (the brokers' metadata stream) and DescribeQuorum. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/service_internal.h"

#define DEFAULT_MAX_DELTAS 1000

typedef Sluice__Metadata__MetadataDelta MetadataDelta;

struct delta_list {
    MetadataDelta *deltas;
    MetadataDelta **ptrs;
    size_t n;
};

static int collect_delta(const struct fsm_delta *d, void *arg)
{
    struct delta_list *l = arg;
    MetadataBatch *batch = fsm_entry_unpack(d->bytes, d->len);
    if (batch == NULL) {
        return -ENOMEM; /* our own encoding: only allocation can fail */
    }
    MetadataDelta *delta = &l->deltas[l->n];
    sluice__metadata__metadata_delta__init(delta);
    delta->offset = d->offset;
    delta->batch = batch;
    l->ptrs[l->n++] = delta;
    return 0;
}

static void delta_list_free(struct delta_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        sluice__metadata__metadata_batch__free_unpacked(l->deltas[i].batch, NULL);
    }
    free(l->deltas);
    free(l->ptrs);
}

void service_fetch_metadata(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    const Sluice__Controller__FetchMetadataRequest *req =
        (const Sluice__Controller__FetchMetadataRequest *)call->request;
    Sluice__Controller__FetchMetadataResponse resp =
        SLUICE__CONTROLLER__FETCH_METADATA_RESPONSE__INIT;
    LeaderHint hint;
    if (!service_check_active(svc)) {
        resp.error_code = KAFKA_ERROR_NOT_CONTROLLER;
        service_leader_hint(svc, &hint);
        resp.leader = &hint;
        rpc_call_respond(call, &resp.base, NULL, 0);
        return;
    }
    struct fsm *fsm = &svc->quorum->fsm;
    size_t max = req->max_deltas > 0 && req->max_deltas < DEFAULT_MAX_DELTAS ? req->max_deltas
                                                                             : DEFAULT_MAX_DELTAS;
    struct delta_list l = {calloc(max, sizeof *l.deltas), calloc(max, sizeof *l.ptrs), 0};
    int rv = l.deltas != NULL && l.ptrs != NULL ? 0 : -ENOMEM;
    if (rv == 0 && req->after_offset >= 0) {
        rv = fsm_deltas_after(fsm, req->after_offset, max, collect_delta, &l);
    }
    if (rv == -ENOMEM) {
        delta_list_free(&l);
        rpc_call_fail(call, RPC_ERROR_INTERNAL, "out of memory");
        return;
    }
    resp.latest_offset = fsm_offset(fsm);
    if (req->after_offset < 0 || rv == -ERANGE) {
        /* Too far behind (or first fetch): the whole image instead. */
        resp.image = fsm->image;
    } else {
        resp.deltas = l.ptrs;
        resp.n_deltas = l.n;
    }
    rpc_call_respond(call, &resp.base, NULL, 0);
    delta_list_free(&l);
}

void service_describe_quorum(struct rpc_call *call, void *arg)
{
    struct controller_service *svc = arg;
    struct quorum *q = svc->quorum;
    Sluice__Controller__DescribeQuorumResponse resp =
        SLUICE__CONTROLLER__DESCRIBE_QUORUM_RESPONSE__INIT;
    LeaderHint hint;
    service_leader_hint(svc, &hint);
    resp.leader = &hint;
    resp.node_id = q->node_id;
    resp.state = (char *)quorum_state_name(q);
    resp.last_index = quorum_last_index(q);
    resp.term = quorum_term(q);
    resp.last_applied = quorum_last_applied(q);
    resp.metadata_offset = fsm_offset(&q->fsm);
    Sluice__Controller__QuorumVoter voters[VOTERS_MAX], *ptrs[VOTERS_MAX];
    char addresses[VOTERS_MAX][VOTER_HOST_MAX + 8];
    for (size_t i = 0; i < svc->voters.n; i++) {
        sluice__controller__quorum_voter__init(&voters[i]);
        voters[i].node_id = svc->voters.v[i].id;
        snprintf(addresses[i], sizeof addresses[i], "%s:%u", svc->voters.v[i].host,
                 svc->voters.v[i].port);
        voters[i].address = addresses[i];
        ptrs[i] = &voters[i];
    }
    resp.voters = ptrs;
    resp.n_voters = svc->voters.n;
    /* A follower's image may trail the leader's by a few entries; the
     * offset says how current it is. */
    resp.image = q->fsm.image;
    rpc_call_respond(call, &resp.base, NULL, 0);
}
