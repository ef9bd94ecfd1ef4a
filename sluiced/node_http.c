/* The node's HTTP endpoints; see node_http.h. */
#include "sluiced/node_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/broker_metrics.h"
#include "common/log.h"
#include "common/prom_text.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Renders of the per-partition families in flight on the thread pool; a
 * scrape beyond renders inline (scrapers do not overlap; this bounds the
 * snapshots and texts held at once). */
#define MAX_METRICS_RENDERS 2

/* One /metrics answer whose per-partition families are rendered on the
 * thread pool (issue 14: at 5,000 partitions their text stalled the loop
 * for tens of milliseconds). Owns everything it touches off the loop. */
struct metrics_render {
    uv_work_t work;
    struct node_http *h;
    struct http_pending *pending;
    struct broker_partition_snapshot *partitions;
    struct buf body; /* the families rendered on the loop, then the rest */
    int error;
};

static void render_partitions(struct buf *body, const struct broker_partition_snapshot *s,
                              int *error)
{
    struct prom_writer w;
    prom_writer_init(&w, body);
    broker_partition_snapshot_write(s, &w);
    *error = prom_writer_error(&w);
}

/* The answer when memory ran out: `body` replaced by the reason, its
 * content type in `content_type`; returns the status. */
static int out_of_memory(struct buf *body, const char **content_type)
{
    buf_reset(body);
    buf_append(body, "out of memory\n", 14);
    *content_type = "text/plain";
    return 500;
}

static void finish_metrics(struct http_pending *pending, struct buf *body, int error)
{
    if (error != 0) {
        const char *type;
        int status = out_of_memory(body, &type);
        http_server_finish(pending, status, type, body);
        return;
    }
    http_server_finish(pending, 200, METRICS_CONTENT_TYPE, body);
}

static void render_work(uv_work_t *work)
{
    struct metrics_render *r = work->data;
    render_partitions(&r->body, r->partitions, &r->error);
}

static void render_done(uv_work_t *work, int status)
{
    struct metrics_render *r = work->data;
    r->h->renders--;
    finish_metrics(r->pending, &r->body, status != 0 ? status : r->error);
    broker_partition_snapshot_free(r->partitions);
    free(r);
}

static void serve_metrics(void *data, struct http_response *res)
{
    struct node_http *h = data;
    res->content_type = METRICS_CONTENT_TYPE;
    struct broker_partition_snapshot *partitions = NULL;
    bool defer = h->renders < MAX_METRICS_RENDERS;
    int rv = node_metrics(h->status, &res->body, defer ? &partitions : NULL);
    if (rv != 0) {
        res->status = out_of_memory(&res->body, &res->content_type);
        return;
    }
    if (partitions == NULL) {
        return; /* no broker, or rendered inline */
    }
    struct metrics_render *r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->work.data = r;
        r->h = h;
        r->partitions = partitions;
        r->body = res->body;
        if (uv_queue_work(h->loop, &r->work, render_work, render_done) == 0) {
            res->body = (struct buf)BUF_INIT;
            r->pending = http_response_defer(res);
            h->renders++;
            return;
        }
        free(r);
    }
    int error;
    render_partitions(&res->body, partitions, &error);
    broker_partition_snapshot_free(partitions);
    if (error != 0) {
        res->status = out_of_memory(&res->body, &res->content_type);
    }
}

static void serve_livez(void *data, struct http_response *res)
{
    (void)data;
    buf_append(&res->body, "ok\n", 3);
}

static void serve_readyz(void *data, struct http_response *res)
{
    const struct node_http *h = data;
    char why[160];
    if (!node_ready(h->status, why, sizeof why)) {
        res->status = 503;
    }
    buf_append(&res->body, why, strlen(why));
    buf_append(&res->body, "\n", 1);
}

static void serve_status(void *data, struct http_response *res)
{
    const struct node_http *h = data;
    res->content_type = "application/json";
    if (node_status_json(h->status, &res->body) != 0) {
        buf_reset(&res->body);
        res->status = 500;
    }
}

int node_http_parse_listener(const char *spec, char *host, size_t hostlen, int *port, char *err,
                             size_t errlen)
{
    const char *p = spec;
    if (strncasecmp(p, "http://", 7) == 0) {
        p += 7;
    }
    const char *colon = strrchr(p, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "metrics.listener=%s: expected host:port", spec);
        return -EINVAL;
    }
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || v < 0 || v > 65535) {
        snprintf(err, errlen, "metrics.listener=%s: bad port", spec);
        return -EINVAL;
    }
    size_t len = (size_t)(colon - p);
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') { /* [ipv6] */
        p++;
        len -= 2;
    }
    if (len >= hostlen) {
        snprintf(err, errlen, "metrics.listener=%s: host too long", spec);
        return -EINVAL;
    }
    if (len == 0) {
        snprintf(host, hostlen, "0.0.0.0");
    } else {
        memcpy(host, p, len);
        host[len] = '\0';
    }
    *port = (int)v;
    return 0;
}

int node_http_start(struct node_http *h, uv_loop_t *loop, const char *spec,
                    const struct node_status *status, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->status = status;
    h->loop = loop;
    if (spec == NULL || spec[0] == '\0') {
        return 0;
    }
    char host[256];
    int port;
    int rv = node_http_parse_listener(spec, host, sizeof host, &port, err, errlen);
    if (rv != 0) {
        return rv;
    }
    const struct http_route routes[] = {
        {"/metrics", serve_metrics, h},
        {"/livez", serve_livez, h},
        {"/readyz", serve_readyz, h},
        {"/status", serve_status, h},
    };
    rv = http_server_start(&h->server, loop, host, port, routes, sizeof routes / sizeof *routes,
                           err, errlen);
    if (rv == 0) {
        log_info("sluiced",
                 "HTTP endpoints listening host=%s port=%d paths=/metrics,/livez,/readyz,/status",
                 host, http_server_port(h->server));
    }
    return rv;
}

int node_http_port(const struct node_http *h)
{
    return h->server != NULL ? http_server_port(h->server) : 0;
}

void node_http_stop(struct node_http *h)
{
    http_server_stop(h->server);
}

void node_http_release(struct node_http *h)
{
    http_server_release(h->server);
    h->server = NULL;
}
