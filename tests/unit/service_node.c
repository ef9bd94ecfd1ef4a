#include "tests/unit/service_node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/kafka/kafka_errors.h"
#include "tests/unit/test_ports.h"

static void on_leadership(struct quorum *q, bool ready)
{
    struct node *n = q->data;
    controller_service_leadership(&n->svc, ready);
}

static void wake(uv_timer_t *t)
{
    (void)t; /* only makes uv_run return */
}

void run_for(struct node *n, uint64_t ms)
{
    uv_update_time(&n->loop);
    uint64_t end = uv_now(&n->loop) + ms;
    uv_timer_t t;
    uv_timer_init(&n->loop, &t);
    while (uv_now(&n->loop) < end) {
        uv_timer_start(&t, wake, 10, 0);
        uv_run(&n->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&n->loop, UV_RUN_NOWAIT);
}

/* The service's clock in the tests that step time themselves. */
static uint64_t fake_clock(void *data)
{
    return *(const uint64_t *)data;
}

void node_start(struct node *n, uint64_t session_ms)
{
    node_start_clocked(n, session_ms, NULL);
}

/* With `clock`, broker sessions are timed by *clock, which only the test
 * moves (borrowed: must outlive the node). */
void node_start_clocked(struct node *n, uint64_t session_ms, uint64_t *clock)
{
    memset(n, 0, sizeof *n);
    strcpy(n->dir, "/tmp/sluice-service-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(n->dir));
    ck_assert_int_eq(uv_loop_init(&n->loop), 0);
    ck_assert_int_eq(sluice_config_init(&n->config), 0);
    n->config.broker_session_timeout_ms = (int32_t)session_ms;
    n->config.broker_heartbeat_interval_ms = 50;
    char err[256], voters[64];
    int port = test_free_port_pair();
    snprintf(voters, sizeof voters, "1@127.0.0.1:%d", port);
    ck_assert_int_eq(voters_parse(voters, &n->voters, err, sizeof err), 0);
    struct quorum_options o = {.heartbeat_ms = 20, .election_ms = 100, .segment_size = 8192};
    ck_assert_int_eq(quorum_init(&n->quorum, 1, &o, on_leadership, NULL), 0);
    n->quorum.data = n;
    ck_assert_int_eq(quorum_start_uv(&n->quorum, &n->loop, n->dir, &n->voters, err, sizeof err), 0);
    ck_assert_int_eq(controller_service_start(&n->svc, &n->loop, &n->quorum, &n->voters, &n->config,
                                              "127.0.0.1", port, NULL),
                     0);
    if (clock != NULL) {
        controller_service_set_clock(&n->svc, fake_clock, clock);
    }
    ck_assert_int_eq(rpc_client_init(&n->client, &n->loop, "127.0.0.1", port, NULL), 0);
    n->target = &n->client;
    for (int i = 0; i < 300 && !quorum_is_ready(&n->quorum); i++) {
        run_for(n, 10);
    }
    ck_assert(quorum_is_ready(&n->quorum));
    for (int i = 0; i < 100 && n->quorum.fsm.image->cluster_id[0] == '\0'; i++) {
        run_for(n, 10); /* the cluster id commits */
    }
    ck_assert_str_ne(n->quorum.fsm.image->cluster_id, "");
}

static void on_closed_flag(struct quorum *q)
{
    ((struct node *)q->data)->closed = true;
}

void on_client_closed(struct rpc_client *c)
{
    (void)c;
}

void node_stop(struct node *n)
{
    rpc_client_close(&n->client, on_client_closed);
    controller_service_close(&n->svc, NULL);
    quorum_close(&n->quorum, on_closed_flag);
    while (!n->closed) {
        uv_run(&n->loop, UV_RUN_ONCE);
    }
    uv_run(&n->loop, UV_RUN_DEFAULT);
    quorum_release(&n->quorum);
    ck_assert_int_eq(uv_loop_close(&n->loop), 0);
    sluice_config_free(&n->config);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- synchronous calls ---- */

void on_reply(struct rpc_request *req, int status, const struct rpc_frame *f)
{
    struct reply *r = req->data;
    r->done = true;
    r->status = status;
    if (status == 0) {
        r->rpc_error = f->error;
        r->msg = protobuf_c_message_unpack(r->desc, NULL, f->body_len, f->body);
    }
}

void *call(struct node *n, uint32_t method, const ProtobufCMessage *body,
           const ProtobufCMessageDescriptor *resp_desc)
{
    struct reply r = {.desc = resp_desc};
    struct rpc_request req = {.data = &r};
    ck_assert_int_eq(rpc_client_call(n->target, &req, method, 1, body, NULL, 0, 5000, on_reply), 0);
    while (!r.done) {
        uv_run(&n->loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.rpc_error, 0);
    ck_assert_ptr_nonnull(r.msg);
    return r.msg;
}

void release(void *msg)
{
    protobuf_c_message_free_unpacked(msg, NULL);
}

int64_t register_broker(struct node *n, int32_t id, const char *inc, int32_t *code)
{
    Sluice__Controller__RegisterBrokerRequest req =
        SLUICE__CONTROLLER__REGISTER_BROKER_REQUEST__INIT;
    Sluice__Metadata__Endpoint ep = SLUICE__METADATA__ENDPOINT__INIT, *eps[1] = {&ep};
    ep.name = "PLAINTEXT";
    ep.host = "127.0.0.1";
    ep.port = (uint32_t)(9000 + id);
    req.broker_id = id;
    req.incarnation_id = (char *)inc;
    req.endpoints = eps;
    req.n_endpoints = 1;
    Sluice__Controller__RegisterBrokerResponse *resp =
        call(n, M(REGISTER_BROKER), &req.base,
             &sluice__controller__register_broker_response__descriptor);
    int64_t epoch = resp->broker_epoch;
    *code = resp->error_code;
    release(resp);
    return epoch;
}

Sluice__Controller__BrokerHeartbeatResponse *heartbeat(struct node *n, int32_t id, int64_t epoch,
                                                       bool shutdown)
{
    Sluice__Controller__BrokerHeartbeatRequest req =
        SLUICE__CONTROLLER__BROKER_HEARTBEAT_REQUEST__INIT;
    req.broker_id = id;
    req.broker_epoch = epoch;
    req.metadata_offset = fsm_offset(&n->quorum.fsm);
    req.want_shutdown = shutdown;
    return call(n, M(BROKER_HEARTBEAT), &req.base,
                &sluice__controller__broker_heartbeat_response__descriptor);
}

Sluice__Controller__CreateTopicsResponse *create_topic(struct node *n, const char *name,
                                                       int32_t partitions, int32_t rf,
                                                       const char *config_key,
                                                       const char *config_value)
{
    Sluice__Controller__CreateTopicsRequest req = SLUICE__CONTROLLER__CREATE_TOPICS_REQUEST__INIT;
    Sluice__Controller__CreatableTopic t = SLUICE__CONTROLLER__CREATABLE_TOPIC__INIT, *ts[1] = {&t};
    Sluice__Controller__TopicConfig c = SLUICE__CONTROLLER__TOPIC_CONFIG__INIT, *cs[1] = {&c};
    t.name = (char *)name;
    t.num_partitions = partitions;
    t.replication_factor = rf;
    if (config_key != NULL) {
        c.name = (char *)config_key;
        c.value = (char *)config_value;
        t.configs = cs;
        t.n_configs = 1;
    }
    req.topics = ts;
    req.n_topics = 1;
    return call(n, M(CREATE_TOPICS), &req.base,
                &sluice__controller__create_topics_response__descriptor);
}

int64_t epochs[4];

void register_three(struct node *n)
{
    int32_t code;
    for (int id = 1; id <= 3; id++) {
        char inc[16];
        snprintf(inc, sizeof inc, "inc-%d", id);
        epochs[id] = register_broker(n, id, inc, &code);
        ck_assert_int_eq(code, KAFKA_ERROR_NONE);
        ck_assert_int_gt(epochs[id], 0);
        ck_assert(image_find_broker(n->quorum.fsm.image, id)->fenced);
        Sluice__Controller__BrokerHeartbeatResponse *hb = heartbeat(n, id, epochs[id], false);
        ck_assert_int_eq(hb->error_code, KAFKA_ERROR_NONE);
        ck_assert(hb->is_caught_up);
        ck_assert(!hb->is_fenced);
        release(hb);
    }
}