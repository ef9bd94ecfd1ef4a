/* One client connection speaking the Kafka protocol, on the broker's libuv loop.
 *
 * Reads frames (frame.h, bounded by socket.request.max.bytes before any
 * allocation), hands each one to the request callback in arrival order, and
 * writes the responses strictly in request order even when they complete out
 * of order (a Fetch long poll may finish after the Produce behind it): every
 * request holds a slot in a FIFO and the head is written once it completes.
 *
 * Flow control: when too many requests are in flight or too many response
 * bytes wait for the socket, reading stops until the client drains them, so a
 * client that never reads its responses cannot make the broker buffer without
 * bound. Across connections, the bytes of requests read and not yet answered
 * are charged to a shared budget (queued.max.request.bytes, request_budget.h):
 * when it is spent, reading pauses until answers go out. A connection idle
 * for connections.max.idle.ms with nothing in flight is closed; a frame whose
 * first bytes arrived must complete within request.timeout.ms of reading
 * time (time paused by flow control does not count), or the connection is
 * closed and the frame dropped.
 *
 * Fairness on the loop: handlers run on the loop thread (a Produce of a
 * compressed batch inflates it there), so each request is handed to its
 * handler only while the loop's iteration budget has room
 * (iteration_budget.h, the time handlers ran in this iteration); otherwise
 * it waits, with nothing more read from its connection, until a later
 * iteration, after the loop has run its timers and served its other
 * sockets. Requests of one connection still start in arrival order. A
 * handler whose own work is long yields between slices of it
 * (kafka_request_yield) and goes on in a later iteration. The connection
 * keeps this state in a request_pacer (request_pacer.h).
 *
 * Lifetime: a connection frees itself once closed and once every request it
 * handed out has been completed or dropped; a request therefore stays valid
 * until the handler calls kafka_request_complete/kafka_request_drop, even if
 * the peer went away meanwhile. Everything runs on the loop thread. */
#ifndef SLUICE_BROKER_KAFKA_CONNECTION_H
#define SLUICE_BROKER_KAFKA_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/kafka/response.h"

struct conn_quota;
struct sasl_server;
struct ssl_principal_rules;
struct tls_context;
struct request_budget;
struct iteration_budget;

struct kafka_conn;

struct kafka_request {
    struct kafka_conn *conn; /* borrowed; valid until complete/drop */
    uint8_t *frame;          /* owned by the request: the request bytes without the size */
    size_t frame_len;
    size_t frame_cap; /* bytes allocated at `frame` (>= frame_len): kept for reuse on free */
    struct kafka_response response; /* filled by the handler */
    void *data;                     /* for the handler */
    /* Set by a handler that answers later (a parked Fetch): called once if
     * the connection closes first, so the handler lets go of what the
     * request pins now rather than at its deadline. It must complete or
     * drop the request (the answer goes nowhere). */
    void (*on_cancel)(struct kafka_request *req);
    /* Internal to the connection. */
    struct kafka_request *next;
    int state;
    size_t charged;   /* bytes charged to the request budget */
    uint64_t done_ms; /* uv_now() when the response was finished */
};

typedef void (*kafka_request_cb)(struct kafka_request *req, void *data);

/* Request bodies kept for reuse, shared by the connections of one owner
 * (kafka_server). When a request of FRAME_INITIAL_ALLOC bytes or more is
 * freed, its body goes back to its connection's frame reader as the spare
 * (common/frame.h) for the next large request, rather than to malloc, which
 * unmaps a body of 1 MiB or more, so the next one faults in fresh pages.
 * A connection keeps one spare at most; the spares of every connection
 * together stay within `limit` (a body given back past it is freed).
 *
 * With a limited request budget (queued.max.request.bytes) the spares are
 * inside it too, so its bound on memory holds with them: a body is kept only
 * while the budget's used bytes and every spare fit its limit; when charges
 * for requests being read push them past it, idle spares are freed, oldest
 * first, until they fit (or none is left). The budget never makes a reader
 * wait for bytes held by spares: it counts only requests (used), and a
 * reader that reads evicts spares as it is charged. A new large frame is
 * received into its connection's spare only if the budget lets that reader
 * hold all of it at once (within the limit and its share); otherwise the
 * spare is freed and the frame grows from FRAME_INITIAL_ALLOC, charged as
 * it grows. A request received into a spare holds all of it, and is charged
 * so. A connection's spare is freed when it closes (an idle one is closed
 * after connections.max.idle.ms). */
struct kafka_frame_spares {
    size_t limit; /* bytes */
    size_t held;  /* bytes held as spares now, by every connection */
    /* The connections holding a spare, oldest first (the first to free). */
    struct kafka_conn *oldest, *newest;
};

struct kafka_conn_options {
    int32_t max_request_bytes;     /* socket.request.max.bytes */
    uint64_t idle_timeout_ms;      /* connections.max.idle.ms */
    uint64_t frame_timeout_ms;     /* request.timeout.ms: a started frame must complete */
    size_t max_in_flight;          /* requests read but not yet answered before reading pauses */
    size_t max_pending_bytes;      /* response bytes queued before reading pauses */
    const char *listener_name;     /* borrowed for the connection's lifetime */
    bool plaintext;                /* record data may be spliced with sendfile */
    struct kafka_conn **registry;  /* list head the connection links itself into (may be NULL) */
    struct conn_quota *quota;      /* admits each connection (may be NULL); borrowed */
    struct request_budget *budget; /* queued.max.request.bytes (may be NULL); borrowed */
    /* Request bodies kept for reuse (may be NULL: each is freed); borrowed. */
    struct kafka_frame_spares *frame_spares;
    /* Handler time per loop iteration, shared by the loop's connections
     * (may be NULL: unbounded); borrowed. */
    struct iteration_budget *iteration_budget;
    /* Read by kafka_server only, for the quota it owns; 0 = unlimited. */
    int32_t max_connections;              /* max.connections */
    int32_t max_connections_per_ip;       /* max.connections.per.ip */
    const char *per_ip_overrides;         /* max.connections.per.ip.overrides; borrowed */
    int32_t max_connection_creation_rate; /* max.connection.creation.rate (per second) */
    /* TLS (SSL and SASL_SSL listeners): NULL for plaintext. Borrowed; the
     * context may be reloaded meanwhile (open sessions keep theirs). */
    struct tls_context *tls;
    uint64_t tls_handshake_timeout_ms;                     /* ssl.handshake.timeout.ms */
    const struct ssl_principal_rules *tls_principal_rules; /* ssl.principal.mapping.rules */
    /* SASL_PLAINTEXT and SASL_SSL: nothing but ApiVersions, SaslHandshake and
     * SaslAuthenticate is served until the client authenticates. */
    bool sasl;
    int64_t queued_max_request_bytes; /* queued.max.request.bytes; <= 0: unlimited */
    /* Whether a response finished at built_ms (uv_now) must not go out at
     * now_ms because what it says may no longer hold: the broker has been
     * cut off from the controllers since (another replica may lead and
     * have shown a higher high watermark). The connection is closed instead
     * of sending it, so the client asks again elsewhere. Checked before
     * every piece of a response is written (TLS: every chunk), so a
     * response that was half sent when the process stalled (SIGSTOP, a long
     * pause) is cut, not completed. NULL: always send. */
    bool (*response_stale)(void *data, uint64_t built_ms, uint64_t now_ms);
    void *response_stale_data;
};

/* Accept a pending connection on `server`. `on_request` is called with each
 * complete frame; `on_closed` (may be NULL) once the connection is fully gone.
 * Returns 0 and the connection in *out (owned by itself, see above), or a
 * negative libuv error (the pending connection is then dropped):
 * UV_ECONNREFUSED when opts->quota refuses it (the quota records why). */
int kafka_conn_accept(uv_stream_t *server, const struct kafka_conn_options *opts,
                      kafka_request_cb on_request, void (*on_closed)(struct kafka_conn *, void *),
                      void *data, struct kafka_conn **out);

/* The response in req->response is complete: finish its size and queue it
 * for writing in order. Ownership of the request returns to the connection. */
void kafka_request_complete(struct kafka_request *req);
/* The request gets no response (acks=0 Produce). Ownership returns too. */
void kafka_request_drop(struct kafka_request *req);

/* ---- Handlers that work in slices ----
 * A handler whose work may be long (a Produce validating many partitions,
 * compressed batches inflated on the loop) checks between two pieces
 * whether the loop's iteration budget is spent, counting its own time so
 * far; if so it yields and goes on in a later iteration, after the loop
 * ran its timers and served other sockets. Nothing after the request
 * starts meanwhile (Kafka processes a connection's requests one at a time,
 * so appends keep their order); the response keeps its place in order. */

/* Whether the request's handler, called from the connection (or resumed)
 * and running now, should yield. Always false without an iteration budget. */
bool kafka_request_budget_spent(const struct kafka_request *req);
/* Called by the running handler as the last thing it does: `resume(req)`
 * is called once in a later iteration with room, charged like a handler.
 * A connection that closes meanwhile (the peer went away, a protocol
 * error, a stale response) still resumes it: as in Kafka, a request that
 * was read is processed to the end and only its answer is dropped (an
 * acks=0 Produce must not lose the partitions it has not reached). Only
 * kafka_conn_abort calls `cancel(req)` instead (it is req->on_cancel
 * meanwhile; at once if the connection was aborted already). Either must
 * go on to complete or drop the request eventually. */
void kafka_request_yield(struct kafka_request *req, void (*resume)(struct kafka_request *req),
                         void (*cancel)(struct kafka_request *req));

/* Close the connection after logging `why` once with the peer address (a
 * protocol violation). Requests in flight stay valid until completed. */
void kafka_conn_fail(struct kafka_conn *conn, const char *why);
/* Close quietly. Idempotent. A handler that yielded goes on to the end. */
void kafka_conn_close(struct kafka_conn *conn);
/* The broker is stopping: close, and cancel a handler that yielded
 * (kafka_request_yield), also one left going on by an earlier close, so
 * nothing runs on the loop for this connection afterwards except parked
 * requests completed by their owners. May free `conn`. Idempotent. */
void kafka_conn_abort(struct kafka_conn *conn);

/* "host:port" of the peer, for log lines. Borrowed. */
const char *kafka_conn_peer(const struct kafka_conn *conn);
const char *kafka_conn_listener(const struct kafka_conn *conn);
/* Whether record data may be spliced with sendfile (plaintext listener). */
bool kafka_conn_plaintext(const struct kafka_conn *conn);

/* Response bytes queued on `conn` and not yet written (bounded by
 * max_pending_bytes before reading pauses). */
size_t kafka_conn_pending_bytes(const struct kafka_conn *conn);

/* The authenticated principal, Kafka's form "User:name": from the client
 * certificate (ssl.principal.mapping.rules) on TLS, from SASL once
 * authenticated, else "User:ANONYMOUS". Borrowed. */
const char *kafka_conn_principal(const struct kafka_conn *conn);

/* ---- SASL (the state the SaslHandshake / SaslAuthenticate handlers keep) ---- */

/* False only on a SASL listener before authentication succeeded. */
bool kafka_conn_authenticated(const struct kafka_conn *conn);
bool kafka_conn_sasl_listener(const struct kafka_conn *conn);
/* The exchange SaslHandshake started (owned by the connection; NULL if none). */
struct sasl_server *kafka_conn_sasl(const struct kafka_conn *conn);
/* Start an exchange (ownership of `s` transferred). `raw`: SaslHandshake v0,
 * so the next frames are bare SASL tokens without a Kafka header
 * (kafka_conn_sasl_raw), as old clients (kafka-python) send them. */
void kafka_conn_set_sasl(struct kafka_conn *conn, struct sasl_server *s, bool raw);
bool kafka_conn_sasl_raw(const struct kafka_conn *conn);
/* Authenticated as User:`name` (copied): frees the exchange, ends raw mode. */
void kafka_conn_set_authenticated(struct kafka_conn *conn, const char *name);
/* KIP-368 re-authentication finished as User:`name`: frees the exchange;
 * false when that is not the connection's principal (Kafka refuses a
 * change of identity). */
bool kafka_conn_reauthenticate(struct kafka_conn *conn, const char *name);
/* The mechanism of the first authentication ("" before one). */
const char *kafka_conn_sasl_mechanism(const struct kafka_conn *conn);
void kafka_conn_set_sasl_mechanism(struct kafka_conn *conn, const char *mechanism);
/* The SASL session ends at `expires_ms` (uv_now; 0: never): from then on
 * only a re-authentication is served (connections.max.reauth.ms). */
void kafka_conn_set_session_expiry(struct kafka_conn *conn, uint64_t expires_ms);
bool kafka_conn_session_expired(const struct kafka_conn *conn, uint64_t now_ms);
/* Read nothing more; close once every queued response is written (a
 * refused authentication is answered, then the connection closed). */
void kafka_conn_close_when_flushed(struct kafka_conn *conn);

/* The next connection in the registry list after `conn`. */
struct kafka_conn *kafka_conn_next(const struct kafka_conn *conn);

#endif
