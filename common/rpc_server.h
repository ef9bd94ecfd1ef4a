/* RPC server: listens on TCP, decodes requests, dispatches them by method id
 * to registered handlers, and sends their (possibly asynchronous) responses.
 *
 * A request for an unknown method is answered with RPC_ERROR_UNKNOWN_METHOD,
 * one whose body does not decode with RPC_ERROR_MALFORMED; an oversized or
 * garbled frame closes that connection. Nothing a peer sends can crash the
 * server or make it allocate more than its request frame bound per
 * connection (plus protobuf-c's budgeted decode, pb_budget.h).
 *
 * Limits (rpc_server_set_limits) keep one peer from holding the server:
 * requests are bounded separately from answers (control requests are
 * small; replication answers are large); a connection with
 * max_pending_calls unfinished stops being read until one finishes; one
 * whose unsent answers pass max_unsent_bytes (a peer that does not read)
 * stops being read until they drain; and a connection is closed when it
 * sends no complete request within handshake_timeout_ms of connecting,
 * leaves a frame half-sent for frame_timeout_ms of reading time, or is idle
 * (no frame, no call pending) for idle_timeout_ms.
 *
 * Loop thread only. The server struct is caller-owned and must stay valid
 * until the rpc_server_close callback. */
#ifndef SLUICE_COMMON_RPC_SERVER_H
#define SLUICE_COMMON_RPC_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/rpc_conn.h"

#define RPC_SERVER_MAX_METHODS 64

struct rpc_server;
struct rpc_server_conn;
struct tls_context;

/* One request being served. Owned by the server; handed to the handler,
 * which must finish it exactly once with rpc_call_respond or rpc_call_fail
 * (now or later, from the loop thread). If the connection closed meanwhile,
 * finishing just frees the call. */
struct rpc_call {
    struct rpc_server_conn *conn; /* NULL once the connection is gone */
    uint32_t method;
    uint32_t version;
    uint64_t correlation_id;
    ProtobufCMessage *request; /* decoded body; freed when the call finishes */
    uint8_t *payload;          /* raw payload copy, NULL if none */
    size_t payload_len;
    struct rpc_call *prev, *next; /* the connection's pending calls */
};

typedef void (*rpc_handler_fn)(struct rpc_call *call, void *arg);

struct rpc_method {
    const ProtobufCMessageDescriptor *request;
    rpc_handler_fn fn;
    void *arg;
};

typedef void (*rpc_server_close_cb)(struct rpc_server *server);
/* Whether the caller of `call` (its request decoded) may make it; when not,
 * `why` says who the caller is and why not. */
typedef bool (*rpc_guard_fn)(struct rpc_call *call, void *arg, char *why, size_t whylen);

/* Largest request a control service (the controller, the replica fetch
 * service) accepts: requests name topics and partitions; record data only
 * travels in answers and in followers' reads. */
#define RPC_CONTROL_MAX_REQUEST (4u << 20)

struct rpc_server_limits {
    size_t max_request_frame;      /* frames read; default: max_frame */
    size_t max_pending_calls;      /* per connection; 0 = no bound (default) */
    size_t max_unsent_bytes;       /* per connection; 0 = no bound (default) */
    uint64_t handshake_timeout_ms; /* first complete request; 0 = none (default) */
    uint64_t frame_timeout_ms;     /* a started frame completes; 0 = none (default) */
    uint64_t idle_timeout_ms;      /* 0 = none (default) */
};

struct rpc_server {
    void *data; /* owner's */
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listening;
    size_t max_frame; /* answers written */
    struct rpc_server_limits limits;
    uv_timer_t sweep; /* enforces the timeouts, when any is set */
    bool sweeping;
    struct rpc_method methods[RPC_SERVER_MAX_METHODS];
    struct tls_context *tls; /* borrowed; NULL: plaintext */
    rpc_guard_fn guard;      /* NULL: every caller may call every method */
    void *guard_arg;
    struct rpc_server_conn *conns; /* open connections */
    unsigned open_handles;         /* listener + connections */
    bool closing;
    rpc_server_close_cb close_cb;
};

/* Set up; nothing to close until rpc_server_listen succeeds. */
void rpc_server_init(struct rpc_server *server, uv_loop_t *loop, size_t max_frame);
/* Calls one connection may have pending at a control service, and the
 * answers it may leave unread, before the server stops reading it. */
#define RPC_CONTROL_MAX_PENDING_CALLS 64
#define RPC_CONTROL_MAX_UNSENT        (4u << 20)

/* The limits of a control service: RPC_CONTROL_* bounds, the handshake and
 * frame timeouts `request_timeout_ms` (request.timeout.ms) and the idle
 * timeout `idle_timeout_ms` (connections.max.idle.ms). */
struct rpc_server_limits rpc_server_control_limits(uint64_t request_timeout_ms,
                                                   uint64_t idle_timeout_ms);

/* Set the limits (before rpc_server_listen); zero fields keep the defaults. */
void rpc_server_set_limits(struct rpc_server *server, const struct rpc_server_limits *limits);
/* Speak TLS on every connection accepted from now on, with `tls` (a server
 * context, borrowed, outliving the server): with ssl.client.auth=required, a
 * peer without a certificate the truststore verifies never gets a request
 * served; the refusal is logged with the peer and OpenSSL's reason. */
void rpc_server_set_tls(struct rpc_server *server, struct tls_context *tls);
/* Ask `guard` before every handler: a refused call is logged (method, peer
 * address, `why`) and answered RPC_ERROR_NOT_AUTHORIZED with `why`, and the
 * handler never sees it. */
void rpc_server_set_guard(struct rpc_server *server, rpc_guard_fn guard, void *arg);
/* The verified certificate subject of the peer that made `call` (RFC 2253),
 * or NULL (plaintext, or the connection is gone). Borrowed. */
const char *rpc_call_peer_subject(struct rpc_call *call);
/* Route `method` to `fn` with requests decoded as `request`. Returns 0 or
 * -EINVAL (method id out of range or already taken). */
int rpc_server_handle(struct rpc_server *server, uint32_t method,
                      const ProtobufCMessageDescriptor *request, rpc_handler_fn fn, void *arg);
/* Bind and listen on an IPv4 or IPv6 literal; port 0 picks a free port.
 * Returns 0 or a libuv error. */
int rpc_server_listen(struct rpc_server *server, const char *host, int port);
/* The bound port (after listen), or -1. */
int rpc_server_port(struct rpc_server *server);
/* Stop listening and close every connection; pending calls are orphaned
 * (their handlers may still finish them). `cb` (may be NULL) fires once
 * everything is closed. */
void rpc_server_close(struct rpc_server *server, rpc_server_close_cb cb);

/* Finish a call with a response body (NULL: empty) and optional payload.
 * Returns 0, or an error if it could not be sent (the call is freed anyway). */
int rpc_call_respond(struct rpc_call *call, const ProtobufCMessage *response, const void *payload,
                     size_t payload_len);
/* Finish a call with a response whose payload is the file ranges `slices`,
 * sent with sendfile (rpc_conn_send_files; the descriptors are dup'd). */
int rpc_call_respond_files(struct rpc_call *call, const ProtobufCMessage *response,
                           const struct rpc_file_slice *slices, size_t n_slices);
/* Finish a call with an error in the response header. */
int rpc_call_fail(struct rpc_call *call, enum rpc_error error, const char *message);

#endif
