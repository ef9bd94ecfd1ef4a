#include "common/rpc_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pb_budget.h"
#include "common/tcp_peer.h"
#include "common/tls.h"

struct rpc_server_conn {
    struct rpc_conn conn;
    struct rpc_server *server;
    struct rpc_call *calls; /* pending, not yet finished */
    size_t n_calls;
    uint64_t accepted_ms;
    char peer[64]; /* for log lines */
    struct rpc_server_conn *prev, *next;
};

void rpc_server_init(struct rpc_server *server, uv_loop_t *loop, size_t max_frame)
{
    memset(server, 0, sizeof *server);
    server->loop = loop;
    server->max_frame = max_frame;
    server->limits.max_request_frame = max_frame;
}

struct rpc_server_limits rpc_server_control_limits(uint64_t request_timeout_ms,
                                                   uint64_t idle_timeout_ms)
{
    return (struct rpc_server_limits){.max_request_frame = RPC_CONTROL_MAX_REQUEST,
                                      .max_pending_calls = RPC_CONTROL_MAX_PENDING_CALLS,
                                      .max_unsent_bytes = RPC_CONTROL_MAX_UNSENT,
                                      .handshake_timeout_ms = request_timeout_ms,
                                      .frame_timeout_ms = request_timeout_ms,
                                      .idle_timeout_ms = idle_timeout_ms};
}

void rpc_server_set_limits(struct rpc_server *server, const struct rpc_server_limits *limits)
{
    server->limits = *limits;
    if (server->limits.max_request_frame == 0) {
        server->limits.max_request_frame = server->max_frame;
    }
}

int rpc_server_handle(struct rpc_server *server, uint32_t method,
                      const ProtobufCMessageDescriptor *request, rpc_handler_fn fn, void *arg)
{
    if (method >= RPC_SERVER_MAX_METHODS || server->methods[method].fn != NULL || fn == NULL ||
        request == NULL) {
        return -EINVAL;
    }
    server->methods[method] = (struct rpc_method){request, fn, arg};
    return 0;
}

static void maybe_closed(struct rpc_server *server)
{
    if (server->closing && server->open_handles == 0 && server->close_cb != NULL) {
        rpc_server_close_cb cb = server->close_cb;
        server->close_cb = NULL;
        cb(server);
    }
}

static void call_unlink(struct rpc_call *call)
{
    struct rpc_server_conn *sc = call->conn;
    if (sc == NULL) {
        return;
    }
    if (call->prev != NULL) {
        call->prev->next = call->next;
    } else {
        sc->calls = call->next;
    }
    if (call->next != NULL) {
        call->next->prev = call->prev;
    }
    call->conn = NULL;
    if (sc->n_calls-- == sc->server->limits.max_pending_calls) {
        rpc_conn_pause(&sc->conn, false); /* below the cap again */
    }
}

static void call_free(struct rpc_call *call, const ProtobufCMessageDescriptor *desc)
{
    if (call->request != NULL) {
        protobuf_c_message_free_unpacked(call->request, NULL);
    }
    (void)desc;
    free(call->payload);
    free(call);
}

/* The answer to `call`: a protobuf `response` plus either a raw `payload`
 * or, where `slices` is set, file ranges sent with sendfile. An answer over
 * the frame bound is replaced by an INTERNAL error, so the caller never
 * waits for nothing. */
struct call_answer {
    int32_t error;
    const char *message;
    const ProtobufCMessage *response;
    const void *payload;
    size_t payload_len;
    const struct rpc_file_slice *slices;
    size_t n_slices;
};

static int call_finish(struct rpc_call *call, const struct call_answer *a)
{
    struct rpc_server_conn *sc = call->conn;
    int rv = -ENOTCONN;
    if (sc != NULL) {
        struct rpc_frame f = {.kind = RPC_RESPONSE,
                              .method = call->method,
                              .version = call->version,
                              .correlation_id = call->correlation_id,
                              .error = a->error,
                              .error_message = a->message};
        rv = a->slices != NULL
                 ? rpc_conn_send_files(&sc->conn, &f, a->response, a->slices, a->n_slices)
                 : rpc_conn_send(&sc->conn, &f, a->response, a->payload, a->payload_len);
        if (rv == -EMSGSIZE) {
            log_error("rpc", "response too large method=%u", call->method);
            f.error = RPC_ERROR_INTERNAL;
            f.error_message = "response exceeds the frame size bound";
            rpc_conn_send(&sc->conn, &f, NULL, NULL, 0);
        }
        call_unlink(call);
    }
    call_free(call, NULL);
    return rv;
}

int rpc_call_respond(struct rpc_call *call, const ProtobufCMessage *response, const void *payload,
                     size_t payload_len)
{
    struct call_answer a = {RPC_OK, "", response, payload, payload_len, NULL, 0};
    return call_finish(call, &a);
}

int rpc_call_respond_files(struct rpc_call *call, const ProtobufCMessage *response,
                           const struct rpc_file_slice *slices, size_t n_slices)
{
    struct call_answer a = {RPC_OK, "", response, NULL, 0, slices, n_slices};
    return call_finish(call, &a);
}

int rpc_call_fail(struct rpc_call *call, enum rpc_error error, const char *message)
{
    struct call_answer a = {error, message, NULL, NULL, 0, NULL, 0};
    return call_finish(call, &a);
}

/* Answer a request that never reaches a handler. */
static int reply_error(struct rpc_conn *conn, const struct rpc_frame *req, enum rpc_error error,
                       const char *message)
{
    struct rpc_frame f = {.kind = RPC_RESPONSE,
                          .method = req->method,
                          .version = req->version,
                          .correlation_id = req->correlation_id,
                          .error = error,
                          .error_message = message};
    int rv = rpc_conn_send(conn, &f, NULL, NULL, 0);
    return rv == -EMSGSIZE ? 0 : rv;
}

static struct rpc_call *call_new(struct rpc_server_conn *sc, const struct rpc_frame *frame,
                                 ProtobufCMessage *request)
{
    struct rpc_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        return NULL;
    }
    if (frame->payload_len > 0) {
        call->payload = malloc(frame->payload_len);
        if (call->payload == NULL) {
            free(call);
            return NULL;
        }
        memcpy(call->payload, frame->payload, frame->payload_len);
        call->payload_len = frame->payload_len;
    }
    call->conn = sc;
    call->method = frame->method;
    call->version = frame->version;
    call->correlation_id = frame->correlation_id;
    call->request = request;
    call->next = sc->calls;
    if (sc->calls != NULL) {
        sc->calls->prev = call;
    }
    sc->calls = call;
    if (++sc->n_calls == sc->server->limits.max_pending_calls) {
        rpc_conn_pause(&sc->conn, true); /* resumed when one finishes */
    }
    return call;
}

static int on_frame(struct rpc_conn *conn, const struct rpc_frame *frame)
{
    struct rpc_server_conn *sc = conn->data;
    struct rpc_server *server = sc->server;
    if (frame->kind != RPC_REQUEST) {
        return -EBADMSG; /* a client never sends responses */
    }
    if (server->closing) {
        return reply_error(conn, frame, RPC_ERROR_UNAVAILABLE, "server shutting down");
    }
    const struct rpc_method *m =
        frame->method < RPC_SERVER_MAX_METHODS ? &server->methods[frame->method] : NULL;
    if (m == NULL || m->fn == NULL) {
        log_warn("rpc", "unknown method method=%u", frame->method);
        return reply_error(conn, frame, RPC_ERROR_UNKNOWN_METHOD, "unknown method");
    }
    bool exceeded;
    ProtobufCMessage *req = pb_unpack_bounded(m->request, frame->body_len, frame->body, &exceeded);
    if (req == NULL) {
        log_warn("rpc", "malformed request method=%u body_length=%zu reason=\"%s\"", frame->method,
                 frame->body_len,
                 exceeded ? "decoding it would pass its memory budget" : "does not decode");
        return reply_error(conn, frame, RPC_ERROR_MALFORMED, "request body does not decode");
    }
    struct rpc_call *call = call_new(sc, frame, req);
    if (call == NULL) {
        protobuf_c_message_free_unpacked(req, NULL);
        return reply_error(conn, frame, RPC_ERROR_INTERNAL, "out of memory");
    }
    char why[512];
    if (server->guard != NULL && !server->guard(call, server->guard_arg, why, sizeof why)) {
        log_warn("rpc", "refused method=%u peer=%s reason=\"%s\"", frame->method, sc->peer, why);
        rpc_call_fail(call, RPC_ERROR_NOT_AUTHORIZED, why);
        return 0;
    }
    m->fn(call, m->arg);
    return 0;
}

void rpc_server_set_guard(struct rpc_server *server, rpc_guard_fn guard, void *arg)
{
    server->guard = guard;
    server->guard_arg = arg;
}

static void on_conn_closed(struct rpc_conn *conn, int reason)
{
    struct rpc_server_conn *sc = conn->data;
    struct rpc_server *server = sc->server;
    const char *tls_error = rpc_conn_tls_error(conn);
    if (tls_error != NULL) {
        log_warn("rpc", "TLS handshake refused peer=%s reason=\"%s\"", sc->peer, tls_error);
    } else if (reason != 0 && reason != UV_EOF && reason != UV_ECONNRESET) {
        log_warn("rpc", "connection closed peer=%s reason=%s", sc->peer, rpc_conn_strerror(reason));
    }
    while (sc->calls != NULL) {
        call_unlink(sc->calls); /* orphaned: the handler still finishes it */
    }
    if (sc->prev != NULL) {
        sc->prev->next = sc->next;
    } else {
        server->conns = sc->next;
    }
    if (sc->next != NULL) {
        sc->next->prev = sc->prev;
    }
    free(sc);
    server->open_handles--;
    maybe_closed(server);
}

/* Which timeout `sc` has passed at `now`, or NULL. */
static const char *timed_out(const struct rpc_server_conn *sc, uint64_t now)
{
    const struct rpc_server_limits *l = &sc->server->limits;
    const struct rpc_conn *c = &sc->conn;
    if (l->frame_timeout_ms > 0 && c->frame_started_ms != 0 &&
        now - c->frame_started_ms >= l->frame_timeout_ms) {
        return "request frame not completed within the frame timeout";
    }
    if (l->handshake_timeout_ms > 0 && c->frames_in == 0 && c->frame_started_ms == 0 &&
        now - sc->accepted_ms >= l->handshake_timeout_ms) {
        return "no request within the handshake timeout";
    }
    if (l->idle_timeout_ms > 0 && sc->n_calls == 0 && c->unsent == 0 && c->frame_started_ms == 0 &&
        now - c->last_active_ms >= l->idle_timeout_ms) {
        return "idle";
    }
    return NULL;
}

static void on_sweep(uv_timer_t *t)
{
    struct rpc_server *server = t->data;
    uint64_t now = uv_now(server->loop);
    for (struct rpc_server_conn *sc = server->conns; sc != NULL; sc = sc->next) {
        const char *why = sc->conn.closing ? NULL : timed_out(sc, now);
        if (why != NULL) {
            if (strcmp(why, "idle") == 0) {
                log_debug("rpc", "closing idle connection peer=%s", sc->peer);
            } else {
                log_warn("rpc", "closing connection peer=%s reason=\"%s\"", sc->peer, why);
            }
            rpc_conn_close(&sc->conn, 0); /* frees later, from its close callback */
        }
    }
}

/* Check a few times per shortest timeout, within [50 ms, 1 s]. */
static uint64_t sweep_interval(const struct rpc_server_limits *l)
{
    uint64_t t[] = {l->handshake_timeout_ms, l->frame_timeout_ms, l->idle_timeout_ms};
    uint64_t min = 0;
    for (size_t i = 0; i < 3; i++) {
        if (t[i] > 0 && (min == 0 || t[i] < min)) {
            min = t[i];
        }
    }
    uint64_t ms = min / 4;
    return ms < 50 ? 50 : ms > 1000 ? 1000 : ms;
}

static void on_sweep_closed(uv_handle_t *h)
{
    struct rpc_server *server = h->data;
    server->open_handles--;
    maybe_closed(server);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct rpc_server *server = listener->data;
    if (status != 0) {
        log_warn("rpc", "accept failed error=%s", rpc_conn_strerror(status));
        return;
    }
    struct rpc_server_conn *sc = calloc(1, sizeof *sc);
    if (sc == NULL ||
        rpc_conn_init(&sc->conn, server->loop, server->max_frame, on_frame, on_conn_closed) != 0) {
        free(sc);
        log_error("rpc", "cannot accept connection: out of resources");
        return;
    }
    sc->conn.data = sc;
    sc->conn.max_unsent = server->limits.max_unsent_bytes;
    rpc_conn_set_read_limit(&sc->conn, server->limits.max_request_frame);
    sc->accepted_ms = uv_now(server->loop);
    sc->server = server;
    sc->next = server->conns;
    if (server->conns != NULL) {
        server->conns->prev = sc;
    }
    server->conns = sc;
    server->open_handles++;
    int rv = uv_accept(listener, (uv_stream_t *)&sc->conn.tcp);
    if (rv == 0) {
        tcp_peer_name(&sc->conn.tcp, sc->peer, sizeof sc->peer);
    }
    if (rv == 0 && server->tls != NULL) {
        struct tls_session *s = tls_session_new(server->tls);
        if (s == NULL) {
            rv = -ENOMEM;
        } else {
            rpc_conn_use_tls(&sc->conn, s, NULL);
        }
    }
    if (rv == 0) {
        rv = rpc_conn_start(&sc->conn);
    }
    if (rv != 0) {
        rpc_conn_close(&sc->conn, rv);
    }
}

void rpc_server_set_tls(struct rpc_server *server, struct tls_context *tls)
{
    server->tls = tls;
}

const char *rpc_call_peer_subject(struct rpc_call *call)
{
    return call->conn != NULL ? rpc_conn_peer_subject(&call->conn->conn) : NULL;
}

static int parse_address(const char *host, int port, struct sockaddr_storage *addr)
{
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)addr) == 0) {
        return 0;
    }
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr);
}

int rpc_server_listen(struct rpc_server *server, const char *host, int port)
{
    struct sockaddr_storage addr;
    int rv = parse_address(host, port, &addr);
    if (rv != 0) {
        return rv;
    }
    rv = uv_tcp_init(server->loop, &server->listener);
    if (rv != 0) {
        return rv;
    }
    server->listener.data = server;
    server->listening = true;
    server->open_handles++;
    rv = uv_tcp_bind(&server->listener, (const struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&server->listener, 128, on_connection);
    }
    if (rv != 0) {
        rpc_server_close(server, NULL);
        return rv;
    }
    const struct rpc_server_limits *l = &server->limits;
    if (l->handshake_timeout_ms > 0 || l->frame_timeout_ms > 0 || l->idle_timeout_ms > 0) {
        uv_timer_init(server->loop, &server->sweep);
        server->sweep.data = server;
        server->sweeping = true;
        server->open_handles++;
        uint64_t every = sweep_interval(l);
        uv_timer_start(&server->sweep, on_sweep, every, every);
    }
    return 0;
}

int rpc_server_port(struct rpc_server *server)
{
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (!server->listening ||
        uv_tcp_getsockname(&server->listener, (struct sockaddr *)&addr, &len) != 0) {
        return -1;
    }
    if (addr.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    }
    return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
}

static void on_listener_closed(uv_handle_t *handle)
{
    struct rpc_server *server = handle->data;
    server->open_handles--;
    maybe_closed(server);
}

void rpc_server_close(struct rpc_server *server, rpc_server_close_cb cb)
{
    server->closing = true;
    server->close_cb = cb;
    if (server->listening) {
        server->listening = false;
        uv_close((uv_handle_t *)&server->listener, on_listener_closed);
    }
    if (server->sweeping) {
        server->sweeping = false;
        uv_close((uv_handle_t *)&server->sweep, on_sweep_closed);
    }
    for (struct rpc_server_conn *sc = server->conns; sc != NULL; sc = sc->next) {
        rpc_conn_close(&sc->conn, 0);
    }
    maybe_closed(server);
}
