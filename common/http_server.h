/* A small HTTP/1.1 server on the process's libuv loop, for metrics and
 * health endpoints: h2o (Debian's libh2o, built for libuv) parses HTTP; this
 * module maps exact GET/HEAD paths to callbacks that build the whole body.
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

#include <stddef.h>
#include <uv.h>

#include "common/buf.h"

struct http_server;

/* What a route answers. The body starts empty; content_type defaults to
 * text/plain. */
struct http_response {
    int status;
    const char *content_type; /* static string */
    struct buf body;          /* owned by the server */
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
/* Stop accepting, finish the requests in progress and close every
 * connection; the handles finish closing on later loop runs. NULL is a no-op. */
void http_server_stop(struct http_server *s);
/* Free a stopped server once the loop has run dry. NULL is a no-op. */
void http_server_release(struct http_server *s);

#endif
