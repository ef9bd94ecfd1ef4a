/* Client of the controller service, for brokers and tools: sends a request
 * to the active controller wherever it is.
 *
 * It starts with the first voter (controller.quorum.voters), follows
 * NOT_CONTROLLER answers to the leader they name, and moves on to the next
 * voter when one is unreachable, does not answer in time, or knows no
 * leader (an election is running), until the request's deadline. Any other
 * answer, error codes included, goes to the caller. Retrying is safe: the
 * controller's records are idempotent or compare-and-set.
 *
 * Loop thread only. Client and request structs are caller-owned; a request
 * stays valid until its callback, which fires exactly once. */
#ifndef SLUICE_METADATA_CONTROLLER_CLIENT_H
#define SLUICE_METADATA_CONTROLLER_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/rpc_client.h"
#include "metadata/voters.h"

struct controller_client;
struct controller_request;

/* status 0: `response` is the decoded answer (borrowed for the call; its
 * error_code may be any Kafka error except NOT_CONTROLLER). Otherwise
 * -ETIMEDOUT (no controller answered in time), -ECANCELED (client closing),
 * -EPROTO (the controller could not run the method), -ENOMEM. */
typedef void (*controller_response_cb)(struct controller_request *req, int status,
                                       const ProtobufCMessage *response);

struct controller_request {
    void *data; /* caller's */
    /* private */
    struct controller_client *client;
    controller_response_cb cb;
    uint32_t method;
    ProtobufCMessage *body; /* our copy */
    const ProtobufCMessageDescriptor *response_type;
    uint64_t deadline;
    uint64_t retry_at;
    struct rpc_request rpc;
    bool in_flight;
    size_t target;                   /* voter index the last attempt went to */
    struct controller_request *next; /* waiting to retry */
};

struct internal_tls;

struct controller_client {
    void *data; /* owner's */
    uv_loop_t *loop;
    struct voters voters;
    size_t current; /* voter the rpc client points at */
    struct rpc_client rpc;
    uv_timer_t retry_timer;
    struct controller_request *waiting;
    uint64_t attempt_timeout_ms;
    const struct internal_tls *tls; /* NULL: plaintext */
    bool closing;
    unsigned open;
    void (*close_cb)(struct controller_client *c);
};

/* `voters` is copied; hosts may be names (resolved per connection). */
int controller_client_init(struct controller_client *c, uv_loop_t *loop,
                           const struct voters *voters);
/* The same over the controller listener's TLS `tls` (borrowed, outliving
 * the client; NULL or not enabled: plaintext): each controller's
 * certificate must name its host (when tls->verify_host) and map to the
 * principal of the voter this client is reaching (node.principal.pattern);
 * any other answers nothing. */
int controller_client_init_tls(struct controller_client *c, uv_loop_t *loop,
                               const struct voters *voters, const struct internal_tls *tls);
/* Send `body` (copied now) as `method`; decode the answer as `response_type`.
 * Returns 0 (the callback will fire) or -ENOMEM / -ECANCELED. */
int controller_client_call(struct controller_client *c, struct controller_request *req,
                           uint32_t method, const ProtobufCMessage *body,
                           const ProtobufCMessageDescriptor *response_type, uint64_t timeout_ms,
                           controller_response_cb cb);
/* Fail waiting requests with -ECANCELED and close; `cb` may be NULL. */
void controller_client_close(struct controller_client *c, void (*cb)(struct controller_client *c));

#endif
