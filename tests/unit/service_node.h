/* The controller service on one real node for unit tests (test_service.c,
 * test_service_alter.c, test_broker_session.c): a raft_uv quorum in a
 * temporary directory, the RPC service on loopback, and synchronous calls
 * as a broker would make them.
 * Every helper asserts (libcheck) rather than returning errors. */
#ifndef SLUICE_TESTS_UNIT_SERVICE_NODE_H
#define SLUICE_TESTS_UNIT_SERVICE_NODE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/rpc_client.h"
#include "controller/service.h"
#include "proto/controller.pb-c.h"

#define M(name) SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_##name

struct node {
    uv_loop_t loop;
    char dir[64];
    struct sluice_config config;
    struct voters voters;
    struct quorum quorum;
    struct controller_service svc;
    struct rpc_client client;
    struct rpc_client *target; /* where call() sends: &client unless a test redirects */
    bool closed;
};

struct reply {
    bool done;
    int status;
    int32_t rpc_error;
    ProtobufCMessage *msg;
    const ProtobufCMessageDescriptor *desc;
};

/* Run the node's loop for about `ms`. */
void run_for(struct node *n, uint64_t ms);
/* Start a one-voter quorum and its service, wait until it is the active
 * controller with a cluster id. With `clock`, broker sessions are timed by
 * *clock, which only the test moves (borrowed: must outlive the node). */
void node_start(struct node *n, uint64_t session_ms);
void node_start_clocked(struct node *n, uint64_t session_ms, uint64_t *clock);
/* Close everything and remove the directory. */
void node_stop(struct node *n);
/* rpc_client_call's callback filling a struct reply (req->data). */
void on_reply(struct rpc_request *req, int status, const struct rpc_frame *f);
void on_client_closed(struct rpc_client *c);
/* Call `method` and wait; the decoded answer is the caller's (release()). */
void *call(struct node *n, uint32_t method, const ProtobufCMessage *body,
           const ProtobufCMessageDescriptor *resp_desc);
void release(void *msg);
int64_t register_broker(struct node *n, int32_t id, const char *inc, int32_t *code);
Sluice__Controller__BrokerHeartbeatResponse *heartbeat(struct node *n, int32_t id, int64_t epoch,
                                                       bool shutdown);
Sluice__Controller__CreateTopicsResponse *create_topic(struct node *n, const char *name,
                                                       int32_t partitions, int32_t rf,
                                                       const char *config_key,
                                                       const char *config_value);
/* Brokers 1..3 registered and unfenced; their epochs in epochs[1..3]. */
extern int64_t epochs[4];
void register_three(struct node *n);

#endif
