/* HTTP server over h2o's libuv flavour; see http_server.h. */
#include "common/http_server.h"

#include <errno.h>
#include <h2o.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define MAX_ROUTES 16
/* h2o's http1 request timeout: headers must arrive within this, so an idle
 * or stalled connection cannot hold the server (or the shutdown) for long. */
#define REQUEST_TIMEOUT_MS 3000

struct route_handler {
    h2o_handler_t super; /* first: h2o hands this pointer back */
    struct http_route route;
};

struct http_server {
    uv_loop_t *loop;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    int port;
    size_t n_conns;
    bool context_live, stopping;
};

struct http_conn {
    uv_tcp_t tcp; /* first: h2o's close callback gets this pointer */
    struct http_server *server;
};

static void dispose_context(struct http_server *s)
{
    if (s->context_live) {
        s->context_live = false;
        h2o_context_dispose(&s->ctx); /* closes its timers: s lives until release */
        h2o_config_dispose(&s->config);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct http_conn *c = (struct http_conn *)h;
    struct http_server *s = c->server;
    free(c);
    s->n_conns--;
    if (s->stopping && s->n_conns == 0) {
        dispose_context(s);
    }
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct http_server *s = listener->data;
    if (status != 0 || s->stopping) {
        return;
    }
    struct http_conn *c = malloc(sizeof *c);
    if (c == NULL) {
        log_warn("http", "out of memory accepting a connection");
        return;
    }
    c->server = s;
    uv_tcp_init(s->loop, &c->tcp);
    s->n_conns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_accept(&s->accept_ctx, sock);
}

static bool path_is(const h2o_req_t *req, const char *path)
{
    size_t len = req->path_normalized.len;
    return len == strlen(path) && memcmp(req->path_normalized.base, path, len) == 0;
}

/* A body h2o sends straight from our allocation: the request's pool frees
 * it when h2o disposes the request (no second copy of a large body). */
struct pool_bytes {
    uint8_t *data;
};

static void free_pool_bytes(void *arg)
{
    free(((struct pool_bytes *)arg)->data);
}

/* Answer `req`, taking `body` (left empty). */
static int send_answer(h2o_req_t *req, int status, const char *content_type, struct buf *body)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : status == 503 ? "Service Unavailable" : "Error";
    req->res.content_length = body->len;
    req->http1_is_persistent = 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_iovec_t chunk = {NULL, 0};
    if (body->len > 0 && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        struct pool_bytes *owned = h2o_mem_alloc_shared(&req->pool, sizeof *owned, free_pool_bytes);
        chunk.base = (char *)buf_steal(body, &chunk.len);
        owned->data = (uint8_t *)chunk.base;
    }
    buf_free(body);
    h2o_start_response(req, &generator);
    h2o_send(req, &chunk, chunk.len > 0 ? 1 : 0, H2O_SEND_STATE_FINAL);
    return 0;
}

static int send_text(h2o_req_t *req, int status, const char *text)
{
    struct buf body = BUF_INIT;
    if (buf_append(&body, text, strlen(text)) != 0) {
        status = 500;
    }
    return send_answer(req, status, "text/plain", &body);
}

/* A deferred answer. The request lives in h2o's memory, freed when the
 * client goes away or the connection closes: a small object on the
 * request's pool tells the handle when that happens. */
struct http_pending {
    h2o_req_t *req; /* NULL once h2o disposed the request */
    struct pending_link *link;
};

struct pending_link {
    struct http_pending *pending; /* NULL once finished */
};

static void on_request_disposed(void *arg)
{
    struct pending_link *link = arg;
    if (link->pending != NULL) {
        link->pending->req = NULL;
    }
}

struct http_pending *http_response_defer(struct http_response *res)
{
    h2o_req_t *req = res->req_;
    /* h2o's allocators abort when memory runs out, as h2o itself does */
    struct http_pending *p = h2o_mem_alloc(sizeof *p);
    p->link = h2o_mem_alloc_shared(&req->pool, sizeof *p->link, on_request_disposed);
    p->link->pending = p;
    p->req = req;
    res->deferred_ = true;
    return p;
}

void http_server_finish(struct http_pending *p, int status, const char *content_type,
                        struct buf *body)
{
    if (p->req != NULL) {
        p->link->pending = NULL;
        send_answer(p->req, status, content_type, body);
    }
    buf_free(body);
    free(p);
}

static int on_request(h2o_handler_t *self, h2o_req_t *req)
{
    const struct route_handler *h = (const struct route_handler *)self;
    if (!path_is(req, h->route.path)) {
        return -1; /* a longer path under this prefix: h2o answers 404 */
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        return send_text(req, 405, "method not allowed\n");
    }
    struct http_response res = {200, "text/plain; charset=utf-8", BUF_INIT, req, false};
    h->route.fn(h->route.data, &res);
    if (res.deferred_) {
        buf_free(&res.body);
        return 0;
    }
    return send_answer(req, res.status, res.content_type, &res.body);
}

static int bind_listener(struct http_server *s, const char *host, int port, char *err,
                         size_t errlen)
{
    struct sockaddr_storage addr;
    int rv = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rv != 0) {
        rv = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    }
    if (rv != 0) {
        snprintf(err, errlen, "bad HTTP listener address %s:%d: %s", host, port, uv_strerror(rv));
        return rv;
    }
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&s->listener, 64, on_accept);
    }
    if (rv != 0) {
        snprintf(err, errlen, "cannot listen for HTTP on %s:%d: %s", host, port, uv_strerror(rv));
        uv_close((uv_handle_t *)&s->listener, NULL);
        return rv;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

int http_server_start(struct http_server **out, uv_loop_t *loop, const char *host, int port,
                      const struct http_route *routes, size_t n_routes, char *err, size_t errlen)
{
    if (n_routes > MAX_ROUTES) {
        snprintf(err, errlen, "too many HTTP routes (%zu, at most %d)", n_routes, MAX_ROUTES);
        return -EINVAL;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->loop = loop;
    h2o_config_init(&s->config);
    s->config.http1.req_timeout = REQUEST_TIMEOUT_MS;
    h2o_hostconf_t *host_conf =
        h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    for (size_t i = 0; i < n_routes; i++) {
        h2o_pathconf_t *path = h2o_config_register_path(host_conf, routes[i].path, 0);
        struct route_handler *h = (struct route_handler *)h2o_create_handler(path, sizeof *h);
        h->super.on_req = on_request;
        h->route = routes[i];
    }
    int rv = bind_listener(s, host, port, err, errlen);
    if (rv != 0) {
        h2o_config_dispose(&s->config);
        /* the listener's close has no callback and touches only s: freed at release */
        s->stopping = true;
        *out = s;
        return rv;
    }
    h2o_context_init(&s->ctx, loop, &s->config);
    s->context_live = true;
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    *out = s;
    return 0;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s)
{
    if (s == NULL || s->stopping) {
        return;
    }
    s->stopping = true;
    /* No h2o_context_request_shutdown: every answer closes its connection
     * already, and its http2 grace timer would outlive the context. */
    uv_close((uv_handle_t *)&s->listener, NULL);
    if (s->n_conns == 0) {
        dispose_context(s);
    }
}

void http_server_release(struct http_server *s)
{
    free(s);
}
