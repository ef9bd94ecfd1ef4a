/* A small HTTP/1.1 server on the process's libuv loop, for metrics and
 * health endpoints: h2o (Debian's libh2o, built for libuv) parses HTTP; this
 * module maps exact GET/HEAD paths to callbacks that build the whole body,
 * at once or later (http_response_defer: the route hands the work to the
 * thread pool and finishes the answer from the loop).
 *
 * Every answer closes its connection (the scrapers this serves ask every few
 * seconds; keep-alive connections would only hold the loop open at
 * shutdown), and a connection that sends no request within a few seconds is
 * closed by h2o.
 *
 * Ownership: http_server_start allocates the server; http_server_stop
 * closes the listener and every connection; once the loop has run dry,
 * http_server_release frees it (h2o's timers live in it until their close
 * callbacks ran). Loop thread only. */
#ifndef SLUICE_COMMON_HTTP_SERVER_H
#define SLUICE_COMMON_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "common/buf.h"

struct http_server;
struct http_pending;

/* What a route answers. The body starts empty; content_type defaults to
 * text/plain. */
struct http_response {
    int status;
    const char *content_type; /* static string */
    struct buf body;          /* owned by the server */
    void *req_;               /* the server's; routes do not touch it */
    bool deferred_;
};

struct http_route {
    const char *path; /* exact, e.g. "/metrics"; a query string is ignored */
    void (*fn)(void *data, struct http_response *res);
    void *data;
};

/* Listen on `host`:`port` (port 0: ephemeral, see http_server_port) and
 * serve `routes` (copied; `data` pointers borrowed until stop). Other paths
 * answer 404, other methods 405. Returns 0 with *out, or a negative error
 * with `err` naming the address. */
int http_server_start(struct http_server **out, uv_loop_t *loop, const char *host, int port,
                      const struct http_route *routes, size_t n_routes, char *err, size_t errlen);
int http_server_port(const struct http_server *s);

/* Called by a route: answer later with http_server_finish instead of with
 * `res` (whose status, content type and body are then ignored, the body
 * freed). Returns the handle; each must be finished exactly once, on the loop
 * thread, possibly from within the route itself. The connection stays open
 * until then, even across http_server_stop. */
struct http_pending *http_response_defer(struct http_response *res);
/* Send the deferred answer, taking `body` (left empty). If the client went
 * away meanwhile (h2o freed the request), the body is just freed. Frees the
 * handle. */
void http_server_finish(struct http_pending *p, int status, const char *content_type,
                        struct buf *body);
/* Stop accepting, finish the requests in progress and close every
 * connection; the handles finish closing on later loop runs. NULL is a no-op. */
void http_server_stop(struct http_server *s);
/* Free a stopped server once the loop has run dry. NULL is a no-op. */
void http_server_release(struct http_server *s);

#endif
