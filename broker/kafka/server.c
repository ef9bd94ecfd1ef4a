/* Kafka listeners; see server.h. */
#include "broker/kafka/server.h"

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* Descriptors kept free for segments, indexes, checkpoints and the
 * controller's connections when clients crowd the descriptor table; libuv
 * keeps one more spare to accept-and-close when it is full (its EMFILE trick). */
#define FD_RESERVE 64

/* A client over a limit may retry in a tight loop: one line a second,
 * counting what it stands for. */
#define REFUSAL_LOG_INTERVAL_MS 1000

/* The bytes every connection together may keep as request bodies for reuse
 * (connection.h, kafka_frame_spares). Producers send requests of up to
 * about 1 MiB by default (Java's max.request.size, librdkafka's
 * message.max.bytes) and a connection keeps one spare, so 64 producing
 * connections keep theirs. It is also memory a broker keeps resident after
 * the traffic stopped, until those connections close, so it stays a small
 * fixed amount rather than a share of queued.max.request.bytes (256 MiB by
 * default, or unbounded); a body larger than it (socket.request.max.bytes
 * allows 100 MiB) is never kept. When queued.max.request.bytes is set the
 * spares also fit inside it, with the requests it counts, and give way to
 * them (connection.h), so its bound on memory holds with spares. */
#define KAFKA_FRAME_SPARES_LIMIT (64u << 20)

static void log_refusal(struct kafka_server *s, const char *listener)
{
    uint64_t now = uv_now(s->loop);
    if (s->refusals_logged != 0 && now - s->refusal_logged_ms < REFUSAL_LOG_INTERVAL_MS) {
        return;
    }
    log_warn("kafka",
             "refused connection listener=%s peer=%s limit=%s refused_since_last_log=%llu "
             "open=%d",
             listener, s->quota.last_refused_ip, s->quota.last_refused,
             (unsigned long long)(s->quota.refused - s->refusals_logged), s->quota.total);
    s->refusal_logged_ms = now;
    s->refusals_logged = s->quota.refused;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct kafka_server *s = listener->data;
    size_t i = (size_t)((uv_tcp_t *)listener - s->tcp);
    if (status < 0) {
        log_warn("kafka", "accept failed listener=%s error=%s", s->listeners->bind[i].name,
                 uv_strerror(status));
        return;
    }
    struct kafka_conn_options opts = s->options;
    opts.listener_name = s->listeners->bind[i].name;
    enum security_protocol proto = s->listeners->bind[i].protocol;
    opts.plaintext = proto == SECURITY_PLAINTEXT;
    if (proto != SECURITY_SSL && proto != SECURITY_SASL_SSL) {
        opts.tls = NULL;
    } else if (s->listener_tls[i] != NULL) {
        opts.tls = s->listener_tls[i]; /* its listener.name.<name>.ssl.* settings */
    }
    if (s->listener_principal_rules[i] != NULL) {
        opts.tls_principal_rules = s->listener_principal_rules[i];
    }
    opts.sasl = proto == SECURITY_SASL_PLAINTEXT || proto == SECURITY_SASL_SSL;
    opts.registry = &s->conns;
    struct kafka_conn *conn;
    opts.quota = &s->quota;
    opts.budget = &s->budget;
    opts.frame_spares = &s->frame_spares;
    opts.iteration_budget = &s->handler_budget;
    int rv = kafka_conn_accept(listener, &opts, s->on_request, NULL, s->data, &conn);
    if (rv == UV_ECONNREFUSED) {
        log_refusal(s, opts.listener_name);
    } else if (rv != 0) {
        log_warn("kafka", "cannot accept connection listener=%s error=%s", opts.listener_name,
                 uv_strerror(rv));
    }
}

/* Resolve host (numeric or a name; "" = every interface) for binding. */
static int resolve(const struct listener_endpoint *ep, struct sockaddr_storage *out)
{
    const char *host = ep->host[0] != '\0' ? ep->host : "0.0.0.0";
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[8];
    snprintf(port, sizeof port, "%u", ep->port);
    int rv = getaddrinfo(host, port, &hints, &res);
    if (rv != 0) {
        return UV_EAI_NONAME;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static uint16_t bound_port(uv_tcp_t *tcp)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (uv_tcp_getsockname(tcp, (struct sockaddr *)&sa, &len) != 0) {
        return 0;
    }
    return ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                          : ((struct sockaddr_in *)&sa)->sin_port);
}

static int bind_one(struct kafka_server *s, size_t i)
{
    struct listener_endpoint *ep = &s->listeners->bind[i];
    struct sockaddr_storage addr;
    int rv = resolve(ep, &addr);
    uv_tcp_init(s->loop, &s->tcp[i]);
    s->tcp[i].data = s;
    s->n_tcp = i + 1;
    if (rv == 0) {
        rv = uv_tcp_bind(&s->tcp[i], (struct sockaddr *)&addr, 0);
    }
    if (rv != 0) {
        return rv;
    }
    uint16_t port = bound_port(&s->tcp[i]);
    if (ep->port == 0) {
        ep->port = port;
        for (size_t j = 0; j < s->listeners->n_advertised; j++) {
            struct listener_endpoint *adv = &s->listeners->advertised[j];
            if (strcmp(adv->name, ep->name) == 0 && adv->port == 0) {
                adv->port = port;
            }
        }
    }
    return 0;
}

int kafka_server_bind(struct kafka_server *s, uv_loop_t *loop, struct listener_set *listeners,
                      const struct kafka_conn_options *options, kafka_request_cb on_request,
                      void *data, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->listeners = listeners;
    s->options = *options;
    s->on_request = on_request;
    s->data = data;
    int qrv = conn_quota_init(
        &s->quota, options->max_connections > 0 ? options->max_connections : INT32_MAX,
        options->max_connections_per_ip > 0 ? options->max_connections_per_ip : INT32_MAX,
        options->per_ip_overrides, FD_RESERVE, err, errlen);
    if (qrv != 0) {
        return qrv == -EINVAL ? UV_EINVAL : UV_ENOMEM;
    }
    conn_quota_set_rate(&s->quota, options->max_connection_creation_rate);
    int brv = iteration_budget_init(&s->handler_budget, loop, 0);
    if (brv != 0) {
        snprintf(err, errlen, "cannot start the handler budget: %s", uv_strerror(brv));
        conn_quota_free(&s->quota);
        return brv;
    }
    request_budget_init(&s->budget, options->queued_max_request_bytes > 0
                                        ? (size_t)options->queued_max_request_bytes
                                        : 0);
    s->frame_spares.limit = KAFKA_FRAME_SPARES_LIMIT;
    for (size_t i = 0; i < listeners->n_bind; i++) {
        int rv = bind_one(s, i);
        if (rv != 0) {
            snprintf(err, errlen, "cannot bind %s://%s:%u: %s", listeners->bind[i].name,
                     listeners->bind[i].host, listeners->bind[i].port, uv_strerror(rv));
            kafka_server_stop(s);
            return rv;
        }
    }
    return 0;
}

int kafka_server_listen(struct kafka_server *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n_tcp; i++) {
        const struct listener_endpoint *ep = &s->listeners->bind[i];
        int rv = uv_listen((uv_stream_t *)&s->tcp[i], 1024, on_connection);
        if (rv != 0) {
            snprintf(err, errlen, "cannot listen on %s://%s:%u: %s", ep->name, ep->host, ep->port,
                     uv_strerror(rv));
            return rv;
        }
        log_info("kafka", "listening listener=%s host=%s port=%u", ep->name,
                 ep->host[0] ? ep->host : "*", ep->port);
    }
    return 0;
}

int kafka_server_start(struct kafka_server *s, uv_loop_t *loop, struct listener_set *listeners,
                       const struct kafka_conn_options *options, kafka_request_cb on_request,
                       void *data, char *err, size_t errlen)
{
    int rv = kafka_server_bind(s, loop, listeners, options, on_request, data, err, errlen);
    if (rv == 0) {
        rv = kafka_server_listen(s, err, errlen);
        if (rv != 0) {
            kafka_server_stop(s);
        }
    }
    return rv;
}

void kafka_server_stop(struct kafka_server *s)
{
    for (size_t i = 0; i < s->n_tcp; i++) {
        if (!uv_is_closing((uv_handle_t *)&s->tcp[i])) {
            uv_close((uv_handle_t *)&s->tcp[i], NULL);
        }
    }
    s->n_tcp = 0;
    struct kafka_conn *c = s->conns;
    while (c != NULL) {
        struct kafka_conn *next = kafka_conn_next(c);
        kafka_conn_abort(c);
        c = next;
    }
    iteration_budget_close(&s->handler_budget);
    conn_quota_free(&s->quota); /* every connection released it on close */
}
