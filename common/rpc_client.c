#include "common/rpc_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/tls.h"

static void start_attempt(struct rpc_client *c);

static void maybe_closed(struct rpc_client *c)
{
    if (c->state == RPC_CLIENT_CLOSING && c->open_handles == 0 && c->close_cb != NULL) {
        rpc_client_close_cb cb = c->close_cb;
        c->close_cb = NULL;
        cb(c);
    }
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct rpc_client *c = handle->data;
    c->open_handles--;
    maybe_closed(c);
}

static void queue_remove(struct rpc_client *c, struct rpc_request *req)
{
    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else {
        c->queue = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    }
    req->prev = req->next = NULL;
}

static void request_finish(struct rpc_request *req, int status, const struct rpc_frame *response)
{
    queue_remove(req->client, req);
    buf_free(&req->frame);
    req->cb(req, status, response);
}

/* Fail the first request matching `sent_only`, one at a time, because a
 * callback may change the queue. */
static void fail_requests(struct rpc_client *c, bool sent_only, int status)
{
    for (;;) {
        struct rpc_request *req = c->queue;
        while (req != NULL && sent_only && !req->sent) {
            req = req->next;
        }
        if (req == NULL) {
            return;
        }
        request_finish(req, status, NULL);
    }
}

/* A connection attempt failed: with fail_unreachable the waiting requests
 * fail now (see rpc_client_options), else they wait for the next attempt. */
static void fail_unreachable(struct rpc_client *c, int status)
{
    if (c->options.fail_unreachable) {
        fail_requests(c, false, status);
    }
}

static void on_deadline(uv_timer_t *timer);

static void arm_deadline_timer(struct rpc_client *c)
{
    if (c->state == RPC_CLIENT_CLOSING) {
        return;
    }
    uint64_t earliest = UINT64_MAX;
    for (struct rpc_request *r = c->queue; r != NULL; r = r->next) {
        earliest = r->deadline < earliest ? r->deadline : earliest;
    }
    if (earliest == UINT64_MAX) {
        uv_timer_stop(&c->deadline_timer);
        return;
    }
    uint64_t now = uv_now(c->loop);
    uv_timer_start(&c->deadline_timer, on_deadline, earliest > now ? earliest - now : 0, 0);
}

static void on_deadline(uv_timer_t *timer)
{
    struct rpc_client *c = timer->data;
    for (;;) {
        uint64_t now = uv_now(c->loop);
        struct rpc_request *req = c->queue;
        while (req != NULL && req->deadline > now) {
            req = req->next;
        }
        if (req == NULL) {
            break;
        }
        request_finish(req, -ETIMEDOUT, NULL);
    }
    arm_deadline_timer(c);
}

static void send_request(struct rpc_client *c, struct rpc_request *req)
{
    req->sent = true;
    /* A write error closes the connection, which fails this request. */
    rpc_conn_send_encoded(c->conn, &req->frame);
}

static void flush_queue(struct rpc_client *c)
{
    for (struct rpc_request *r = c->queue; r != NULL && c->state == RPC_CLIENT_CONNECTED;
         r = r->next) {
        if (!r->sent) {
            send_request(c, r);
        }
    }
}

static bool has_unsent(const struct rpc_client *c)
{
    for (const struct rpc_request *r = c->queue; r != NULL; r = r->next) {
        if (!r->sent) {
            return true;
        }
    }
    return false;
}

static void on_backoff(uv_timer_t *timer)
{
    struct rpc_client *c = timer->data;
    if (c->state == RPC_CLIENT_BACKOFF) {
        start_attempt(c);
    } else if (c->state == RPC_CLIENT_CONNECTING && c->conn != NULL) {
        rpc_conn_close(c->conn, UV_ETIMEDOUT); /* connect timeout */
    }
}

/* After a failed attempt or a lost connection: retry later if anyone waits. */
static void schedule_retry(struct rpc_client *c)
{
    if (!has_unsent(c)) {
        c->state = RPC_CLIENT_IDLE;
        return;
    }
    c->state = RPC_CLIENT_BACKOFF;
    uv_timer_start(&c->backoff_timer, on_backoff, c->backoff_ms, 0);
    c->backoff_ms *= 2;
    if (c->backoff_ms > c->options.backoff_max_ms) {
        c->backoff_ms = c->options.backoff_max_ms;
    }
}

static int on_frame(struct rpc_conn *conn, const struct rpc_frame *frame)
{
    struct rpc_client *c = conn->data;
    if (frame->kind != RPC_RESPONSE) {
        return -EBADMSG; /* servers never send requests on our connections */
    }
    for (struct rpc_request *r = c->queue; r != NULL; r = r->next) {
        if (r->sent && r->correlation_id == frame->correlation_id) {
            request_finish(r, 0, frame);
            arm_deadline_timer(c);
            return 0;
        }
    }
    return 0; /* a late answer to a request that timed out */
}

static void on_conn_closed(struct rpc_conn *conn, int reason)
{
    struct rpc_client *c = conn->data;
    bool was_connected = c->state == RPC_CLIENT_CONNECTED;
    char tls_error[sizeof conn->tls_error];
    memcpy(tls_error, conn->tls_error, sizeof tls_error);
    free(conn);
    c->open_handles--;
    if (c->conn == conn) {
        c->conn = NULL;
    }
    if (c->state == RPC_CLIENT_CLOSING) {
        maybe_closed(c);
        return;
    }
    if (tls_error[0] != '\0') {
        log_warn("rpc", "TLS handshake failed host=%s port=%d reason=\"%s\"", c->host, c->port,
                 tls_error);
    } else if (reason != 0 && reason != -ECANCELED) {
        log_debug("rpc", "connection lost host=%s port=%d reason=%s", c->host, c->port,
                  rpc_conn_strerror(reason));
    }
    if (was_connected) {
        c->backoff_ms = c->options.backoff_min_ms;
    }
    fail_requests(c, true, -ECONNRESET);
    if (!was_connected && reason != -ECANCELED) { /* -ECANCELED: retargeted, not unreachable */
        fail_unreachable(c, reason != 0 ? reason : -ECONNREFUSED);
    }
    if (c->state != RPC_CLIENT_CLOSING) {
        schedule_retry(c);
        arm_deadline_timer(c);
    }
}

static void on_secured(struct rpc_conn *conn);
static void connected(struct rpc_client *c);

static void on_connected(uv_connect_t *creq, int status)
{
    struct rpc_client *c = creq->data;
    struct rpc_conn *conn = creq->handle->data;
    if (conn->closing) {
        return;
    }
    if (status == 0 && c->options.tls != NULL) {
        struct tls_session *s =
            tls_session_new_client(c->options.tls, c->options.tls_verify_host ? c->host : NULL);
        if (s == NULL) {
            status = -ENOMEM;
        } else {
            rpc_conn_use_tls(conn, s, on_secured);
        }
    }
    if (status == 0) {
        status = rpc_conn_start(conn);
    }
    if (status != 0) {
        log_debug("rpc", "connect failed host=%s port=%d error=%s", c->host, c->port,
                  rpc_conn_strerror(status));
        rpc_conn_close(conn, status);
        return;
    }
    if (c->options.tls == NULL) {
        connected(c);
    }
}

/* TLS: connected once the server proved itself (and accepted us). */
static void on_secured(struct rpc_conn *conn)
{
    struct rpc_client *c = conn->data;
    char why[512];
    if (c->options.check_server != NULL &&
        !c->options.check_server(c, rpc_conn_peer_subject(conn), why, sizeof why)) {
        log_warn("rpc", "server refused host=%s port=%d reason=\"%s\"", c->host, c->port, why);
        rpc_conn_close(conn, -EACCES);
        return;
    }
    connected(c);
}

static void connected(struct rpc_client *c)
{
    uv_timer_stop(&c->backoff_timer);
    c->state = RPC_CLIENT_CONNECTED;
    c->connects++;
    c->backoff_ms = c->options.backoff_min_ms;
    flush_queue(c);
}

static void connect_to(struct rpc_client *c, const struct sockaddr *addr)
{
    struct rpc_conn *conn = malloc(sizeof *conn);
    int rv = conn != NULL
                 ? rpc_conn_init(conn, c->loop, c->options.max_frame, on_frame, on_conn_closed)
                 : UV_ENOMEM;
    if (rv != 0) {
        free(conn);
        schedule_retry(c);
        return;
    }
    conn->data = c;
    c->conn = conn;
    c->open_handles++;
    c->state = RPC_CLIENT_CONNECTING;
    c->connect_req.data = c;
    rv = uv_tcp_connect(&c->connect_req, &conn->tcp, addr, on_connected);
    if (rv != 0) {
        rpc_conn_close(conn, rv);
        return;
    }
    uv_timer_start(&c->backoff_timer, on_backoff, c->options.connect_timeout_ms, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct rpc_client *c = req->data;
    c->open_handles--;
    if (c->state == RPC_CLIENT_CLOSING) {
        uv_freeaddrinfo(res);
        maybe_closed(c);
        return;
    }
    if (status != 0 || res == NULL) {
        log_warn("rpc", "cannot resolve host=%s error=%s", c->host, rpc_conn_strerror(status));
        uv_freeaddrinfo(res);
        fail_unreachable(c, status != 0 ? status : -EHOSTUNREACH);
        schedule_retry(c);
        return;
    }
    if (c->resolve_generation != c->generation) {
        uv_freeaddrinfo(res); /* retargeted meanwhile: look up the new name */
        start_attempt(c);
        return;
    }
    connect_to(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void start_attempt(struct rpc_client *c)
{
    struct sockaddr_storage addr;
    if (uv_ip4_addr(c->host, c->port, (struct sockaddr_in *)&addr) == 0 ||
        uv_ip6_addr(c->host, c->port, (struct sockaddr_in6 *)&addr) == 0) {
        connect_to(c, (struct sockaddr *)&addr);
        return;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->resolve_req.data = c;
    c->state = RPC_CLIENT_RESOLVING;
    c->resolve_generation = c->generation;
    int rv = uv_getaddrinfo(c->loop, &c->resolve_req, on_resolved, c->host, port, &hints);
    if (rv != 0) {
        schedule_retry(c);
        return;
    }
    c->open_handles++;
}

static int set_address(struct rpc_client *c, const char *host, int port)
{
    if (host == NULL || strlen(host) >= sizeof c->host || port <= 0 || port > 65535) {
        return -EINVAL;
    }
    strcpy(c->host, host);
    c->port = port;
    return 0;
}

int rpc_client_init(struct rpc_client *client, uv_loop_t *loop, const char *host, int port,
                    const struct rpc_client_options *options)
{
    memset(client, 0, sizeof *client);
    if (set_address(client, host, port) != 0) {
        return -EINVAL;
    }
    client->loop = loop;
    client->options = (struct rpc_client_options){RPC_FRAME_DEFAULT_MAX, 50, 5000, 5000};
    if (options != NULL) {
        client->options.max_frame = options->max_frame ? options->max_frame : RPC_FRAME_DEFAULT_MAX;
        client->options.backoff_min_ms = options->backoff_min_ms ? options->backoff_min_ms : 50;
        client->options.backoff_max_ms = options->backoff_max_ms ? options->backoff_max_ms : 5000;
        client->options.connect_timeout_ms =
            options->connect_timeout_ms ? options->connect_timeout_ms : 5000;
        client->options.fail_unreachable = options->fail_unreachable;
        client->options.tls = options->tls;
        client->options.tls_verify_host = options->tls_verify_host;
        client->options.check_server = options->check_server;
    }
    client->backoff_ms = client->options.backoff_min_ms;
    client->next_correlation_id = 1;
    uv_timer_init(loop, &client->backoff_timer);
    uv_timer_init(loop, &client->deadline_timer);
    client->backoff_timer.data = client->deadline_timer.data = client;
    client->open_handles = 2;
    client->state = RPC_CLIENT_IDLE;
    return 0;
}

int rpc_client_set_target(struct rpc_client *client, const char *host, int port)
{
    if (client->state == RPC_CLIENT_CLOSING) {
        return -ECANCELED;
    }
    if (strcmp(client->host, host) == 0 && client->port == port) {
        return 0;
    }
    if (set_address(client, host, port) != 0) {
        return -EINVAL;
    }
    client->backoff_ms = client->options.backoff_min_ms;
    client->generation++;
    if (client->conn != NULL) {
        /* Until the close completes, new requests queue instead of going
         * out on the old connection; then they go to the new address. */
        client->state = RPC_CLIENT_CONNECTING;
        rpc_conn_close(client->conn, -ECANCELED);
    }
    return 0;
}

int rpc_client_call(struct rpc_client *client, struct rpc_request *req, uint32_t method,
                    uint32_t version, const ProtobufCMessage *body, const void *payload,
                    size_t payload_len, uint64_t timeout_ms, rpc_response_cb cb)
{
    if (client->state == RPC_CLIENT_CLOSING) {
        return -ECANCELED;
    }
    memset((char *)req + sizeof req->data, 0, sizeof *req - sizeof req->data);
    struct rpc_frame f = {.kind = RPC_REQUEST,
                          .method = method,
                          .version = version,
                          .correlation_id = client->next_correlation_id};
    int rv =
        rpc_frame_encode(&req->frame, &f, body, payload, payload_len, client->options.max_frame);
    if (rv != 0) {
        buf_free(&req->frame);
        return rv;
    }
    client->next_correlation_id++;
    req->cb = cb;
    req->client = client;
    req->correlation_id = f.correlation_id;
    req->deadline = uv_now(client->loop) + timeout_ms;
    /* Append at the tail so requests go out in call order. */
    struct rpc_request **tail = &client->queue;
    struct rpc_request *prev = NULL;
    while (*tail != NULL) {
        prev = *tail;
        tail = &(*tail)->next;
    }
    req->prev = prev;
    *tail = req;
    if (client->state == RPC_CLIENT_CONNECTED) {
        send_request(client, req);
    } else if (client->state == RPC_CLIENT_IDLE) {
        start_attempt(client);
    }
    arm_deadline_timer(client);
    return 0;
}

void rpc_client_close(struct rpc_client *client, rpc_client_close_cb cb)
{
    if (client->state == RPC_CLIENT_CLOSING) {
        return;
    }
    bool resolving = client->state == RPC_CLIENT_RESOLVING;
    /* CLOSING first: callbacks that call again get -ECANCELED. */
    client->state = RPC_CLIENT_CLOSING;
    client->close_cb = cb;
    fail_requests(client, false, -ECANCELED);
    if (client->conn != NULL) {
        rpc_conn_close(client->conn, -ECANCELED);
    }
    if (resolving) {
        uv_cancel((uv_req_t *)&client->resolve_req);
    }
    uv_close((uv_handle_t *)&client->backoff_timer, on_timer_closed);
    uv_close((uv_handle_t *)&client->deadline_timer, on_timer_closed);
}
