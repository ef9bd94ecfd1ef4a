/* RPC client: one logical connection to one server address, with many
 * requests in flight, per-request timeouts, and reconnection with
 * exponential backoff.
 *
 * The client connects on first use. Requests made while disconnected wait in
 * a queue and are sent once connected (their timeout still runs). A request
 * already sent when the connection drops fails with -ECONNRESET and is not
 * resent: the caller decides whether retrying is safe. Host names are
 * resolved asynchronously on every connection attempt.
 *
 * Loop thread only. The client struct is caller-owned and stays valid until
 * the rpc_client_close callback; request structs are caller-owned and valid
 * until their callback, which fires exactly once. */
#ifndef SLUICE_COMMON_RPC_CLIENT_H
#define SLUICE_COMMON_RPC_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/rpc_conn.h"

struct rpc_client;
struct rpc_request;
struct tls_context;

/* `status`: 0 with `response` set (its error field may still carry a remote
 * enum rpc_error); -ETIMEDOUT; -ECONNRESET (lost after sending); -ECANCELED
 * (client closing or retargeted before sending); with fail_unreachable, the
 * error of the failed connection attempt (e.g. -ECONNREFUSED). `response` pointers are
 * valid during the callback only. */
typedef void (*rpc_response_cb)(struct rpc_request *req, int status,
                                const struct rpc_frame *response);

struct rpc_request {
    void *data; /* caller's */
    /* private */
    rpc_response_cb cb;
    struct rpc_client *client;
    uint64_t correlation_id;
    uint64_t deadline; /* uv_now based, ms */
    bool sent;
    struct buf frame; /* encoded until sent */
    struct rpc_request *prev, *next;
};

struct rpc_client_options {
    size_t max_frame;            /* default RPC_FRAME_DEFAULT_MAX */
    uint64_t backoff_min_ms;     /* first reconnect delay, default 50 */
    uint64_t backoff_max_ms;     /* cap, default 5000 */
    uint64_t connect_timeout_ms; /* default 5000 */
    /* A failed connection attempt (refused, unreachable, unresolvable, or
     * the connect timeout) fails every waiting request with its error at
     * once, instead of keeping them queued through the reconnect backoff
     * until their timeouts: for callers that try another server themselves
     * (the controller client moves on to the next voter). */
    bool fail_unreachable;
    /* Mutual TLS (a client context, tls_context_new_client; borrowed, must
     * outlive the client): the connection counts as connected once the
     * handshake is done, within connect_timeout_ms. NULL: plaintext. */
    struct tls_context *tls;
    /* Check that the server's certificate names `host` (Kafka's
     * ssl.endpoint.identification.algorithm=https). */
    bool tls_verify_host;
    /* With TLS: whether the server that completed the handshake (`subject`,
     * its verified certificate subject) is the one this client means to
     * reach; false closes the connection before any request goes out, and
     * `why` is logged. NULL: any server the trust store verifies. */
    bool (*check_server)(struct rpc_client *client, const char *subject, char *why, size_t whylen);
};

enum rpc_client_state {
    RPC_CLIENT_IDLE,      /* no connection, none wanted yet */
    RPC_CLIENT_RESOLVING, /* host name lookup */
    RPC_CLIENT_CONNECTING,
    RPC_CLIENT_CONNECTED,
    RPC_CLIENT_BACKOFF, /* waiting to retry */
    RPC_CLIENT_CLOSING,
};

typedef void (*rpc_client_close_cb)(struct rpc_client *client);

struct rpc_client {
    void *data; /* owner's */
    uv_loop_t *loop;
    struct rpc_client_options options;
    char host[256];
    int port;
    enum rpc_client_state state;
    struct rpc_conn *conn; /* current connection attempt or connection */
    uv_connect_t connect_req;
    uv_getaddrinfo_t resolve_req;
    uv_timer_t backoff_timer, deadline_timer;
    uint64_t backoff_ms;
    uint64_t next_correlation_id;
    uint64_t generation;         /* bumped per retarget, to spot stale lookups */
    uint64_t resolve_generation; /* generation of the lookup in flight */
    struct rpc_request *queue;   /* all requests, sent or not, in order */
    unsigned open_handles;
    unsigned connects; /* successful connections, for tests and logs */
    rpc_client_close_cb close_cb;
};

/* Set up the client for host:port (IPv4/IPv6 literal or a name). `options`
 * may be NULL for defaults. Returns 0, -EINVAL, or a libuv error. */
int rpc_client_init(struct rpc_client *client, uv_loop_t *loop, const char *host, int port,
                    const struct rpc_client_options *options);
/* Point the client at another server (e.g. the controller named in a
 * NOT_CONTROLLER answer): the current connection closes, requests in flight
 * fail with -ECONNRESET, queued ones go to the new address. */
int rpc_client_set_target(struct rpc_client *client, const char *host, int port);
/* Send a request. `body` is packed and `payload` copied now. Returns 0 (the
 * callback will fire), -EMSGSIZE, -ENOMEM, or -ECANCELED while closing. */
int rpc_client_call(struct rpc_client *client, struct rpc_request *req, uint32_t method,
                    uint32_t version, const ProtobufCMessage *body, const void *payload,
                    size_t payload_len, uint64_t timeout_ms, rpc_response_cb cb);
/* Fail every request with -ECANCELED, close the connection and timers; `cb`
 * (may be NULL) fires when the client memory may be released. */
void rpc_client_close(struct rpc_client *client, rpc_client_close_cb cb);

#endif
