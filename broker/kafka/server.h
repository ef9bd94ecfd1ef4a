/* The broker's Kafka listeners: one libuv TCP server per bound listener
 * (listener.h), accepting connections (connection.h) that hand every request
 * frame to one callback.
 *
 * A listener configured with port 0 binds an ephemeral port; the chosen port
 * is written back into the listener set's bind and advertised entries, so
 * metadata tells clients where to connect. Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_SERVER_H
#define SLUICE_BROKER_KAFKA_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "broker/kafka/conn_quota.h"
#include "broker/kafka/connection.h"
#include "broker/kafka/listener.h"
#include "broker/kafka/request_budget.h"
#include "common/iteration_budget.h"

struct kafka_server {
    uv_loop_t *loop;
    struct listener_set *listeners; /* borrowed */
    uv_tcp_t tcp[LISTENER_MAX];
    size_t n_tcp;
    struct kafka_conn_options options;
    struct tls_context *listener_tls[LISTENER_MAX]; /* per listener; NULL: options.tls */
    /* per listener, borrowed; NULL: options.tls_principal_rules */
    const struct ssl_principal_rules *listener_principal_rules[LISTENER_MAX];
    struct kafka_conn *conns;     /* every open connection */
    struct conn_quota quota;      /* admits connections (conn_quota.h) */
    struct request_budget budget; /* queued.max.request.bytes, shared by every connection */
    /* Request bodies the connections keep for reuse (KAFKA_FRAME_SPARES_LIMIT). */
    struct kafka_frame_spares frame_spares;
    /* Handler time per loop iteration, shared by every connection. */
    struct iteration_budget handler_budget;
    uint64_t refusal_logged_ms, refusals_logged; /* rate-limits the refusal log */
    kafka_request_cb on_request;
    void *data;
};

/* Bind every listener in `listeners` (borrowed; port 0 is replaced by the
 * bound port, in the advertised endpoints too) without accepting yet:
 * connections are refused until kafka_server_listen. `options` is copied.
 * The connection quota is built from options' max_connections,
 * max_connections_per_ip and per_ip_overrides; refusals are logged at most
 * once a second, with how many there were. Every connection charges the
 * request budget built from options' queued_max_request_bytes and shares
 * one iteration budget (common/iteration_budget.h) of handler time, and
 * keeps large request bodies for reuse within one bound (frame_spares).
 * Returns 0, or a negative error with `err` naming the listener or the bad
 * quota setting (nothing is left bound). */
int kafka_server_bind(struct kafka_server *s, uv_loop_t *loop, struct listener_set *listeners,
                      const struct kafka_conn_options *options, kafka_request_cb on_request,
                      void *data, char *err, size_t errlen);

/* Start accepting connections on every bound listener. Returns 0 or a
 * negative libuv error with `err`; the caller stops the server on error. */
int kafka_server_listen(struct kafka_server *s, char *err, size_t errlen);

/* kafka_server_bind, then kafka_server_listen. */
int kafka_server_start(struct kafka_server *s, uv_loop_t *loop, struct listener_set *listeners,
                       const struct kafka_conn_options *options, kafka_request_cb on_request,
                       void *data, char *err, size_t errlen);
/* Stop listening and close every connection. Handles finish closing on the
 * next loop run. */
void kafka_server_stop(struct kafka_server *s);

#endif
