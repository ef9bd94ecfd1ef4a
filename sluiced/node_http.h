/* The node's HTTP endpoints on metrics.listener (off when empty):
 *
 *   /metrics  Prometheus text (node_metrics); the per-partition families
 *             are rendered on the thread pool, the answer sent after
 *   /livez    200 whenever the loop answers at all
 *   /readyz   200 when node_ready, else 503 with the reason
 *   /status   the JSON status `sluicectl node status --http` prints
 *
 * Loop thread only; `status` is borrowed until node_http_stop, `h` until
 * the loop ran dry after it (a render in progress finishes then). */
#ifndef SLUICE_SLUICED_NODE_HTTP_H
#define SLUICE_SLUICED_NODE_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "common/http_server.h"
#include "sluiced/node_status.h"

struct node_http {
    struct http_server *server; /* NULL: off */
    const struct node_status *status;
    uv_loop_t *loop;
    int renders; /* /metrics texts being rendered on the thread pool */
};

/* Split metrics.listener ("host:port", "http://host:port", "[::1]:port",
 * ":port" for every interface) into `host` and `port`. 0 or -EINVAL with
 * `err`. */
int node_http_parse_listener(const char *spec, char *host, size_t hostlen, int *port, char *err,
                             size_t errlen);
/* Start serving when `spec` is non-empty. 0, or a negative error with `err`
 * (then node_http_release after the loop ran, as after a stop). */
int node_http_start(struct node_http *h, uv_loop_t *loop, const char *spec,
                    const struct node_status *status, char *err, size_t errlen);
/* The bound port (0 when off). */
int node_http_port(const struct node_http *h);
void node_http_stop(struct node_http *h);
/* Once the loop has run dry after the stop. */
void node_http_release(struct node_http *h);

#endif
