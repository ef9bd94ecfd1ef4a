/* Private to broker/kafka/connection*.c: a Kafka connection's state,
 * shared by the files that implement connection.h. connection.c owns the
 * connection (accept, read, frame, hand requests to handlers, close) and
 * decides when the head request's response is written (conn_writer_run);
 * connection_write.c writes it to the socket, plaintext or TLS. Loop
 * thread. */
#ifndef SLUICE_BROKER_KAFKA_CONNECTION_INTERNAL_H
#define SLUICE_BROKER_KAFKA_CONNECTION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/kafka/connection.h"
#include "broker/kafka/request_budget.h"
#include "broker/kafka/request_pacer.h"
#include "common/frame.h"

/* REQ_WAITING: read, not yet handed to the handler (the loop's iteration
 * budget had no room; request_pacer.h); the requests after the first
 * waiting one wait too. */
enum request_state { REQ_WAITING, REQ_HANDLING, REQ_DONE, REQ_DROPPED };

#define PRINCIPAL_MAX 256

struct kafka_conn {
    uv_tcp_t tcp;
    uv_timer_t idle;
    uv_timer_t frame_timer; /* a started frame must complete (frame_timeout_ms) */
    uv_poll_t writable;     /* on a dup of the socket: waits out EAGAIN from sendfile */
    int poll_fd;
    struct kafka_conn_options opts;
    kafka_request_cb on_request;
    void (*on_closed)(struct kafka_conn *, void *);
    void *data;
    char peer[64];
    char ip[64];         /* peer without the port: the quota's key */
    bool quota_admitted; /* counted in opts.quota; released on close */
    struct frame_reader frames;
    size_t frame_charged; /* the partial frame's buffer, charged to opts.budget */
    size_t spare_counted; /* the reader's spare, counted in opts.frame_spares->held */
    /* Its place in opts.frame_spares' list while spare_counted > 0. */
    struct kafka_conn *spare_prev, *spare_next;
    struct request_budget_reader budget_reader; /* its account in opts.budget */
    /* FIFO of requests in arrival order; head is the next to answer. */
    struct kafka_request *head, *tail;
    /* When the REQ_WAITING requests start (a handler that yielded goes on
     * first), and the bytes read behind them. */
    struct request_pacer pacer;
    /* The TLS peer closed the session behind requests that wait: close
     * once they have all started and no handler has yielded. */
    bool close_when_started;
    size_t in_flight;     /* requests in the FIFO */
    size_t pending_bytes; /* response bytes in the FIFO not yet written */
    /* Writer: the head request's response, piece by piece. */
    bool writing;
    size_t piece;     /* even = memory range before splice piece/2, odd = splice */
    size_t piece_off; /* bytes of the current piece already written */
    bool reading, closing;
    int handles_open;
    struct tls_session *tls;       /* NULL on plaintext listeners */
    uint8_t *tls_chunk;            /* a chunk of a spliced file (connection_write.c) */
    char principal[PRINCIPAL_MAX]; /* "User:..." */
    struct sasl_server *sasl;      /* the exchange in progress */
    bool sasl_raw;                 /* SaslHandshake v0: bare tokens follow */
    bool authenticated;            /* always on non-SASL listeners */
    char sasl_mechanism[32];       /* the one that authenticated (re-authentication keeps it) */
    uint64_t session_expires_ms;   /* uv_now() when the SASL session ends; 0: never */
    bool close_after;              /* close once the responses are written */
    struct kafka_conn *prev, *next;
};

/* connection.c */

/* Write what the head request has ready, unless a write is pending; then
 * read again if there is room. Called again by connection_write.c when a
 * pending write completes. May close `c`. */
void conn_writer_run(struct kafka_conn *c);
/* Free `c` once it is closing and nothing refers to it any more (handles
 * closed, writes completed, handlers done). */
void conn_maybe_free(struct kafka_conn *c);

/* connection_write.c */

/* Write the next piece of response `r` (the head request's, borrowed) from
 * c->piece and c->piece_off, as far as the socket takes it: memory pieces
 * with uv_try_write, spliced file ranges with sendfile, or, on TLS, one
 * encrypted chunk of either. Returns 1 if the rest waits for a pending
 * write or for the socket to drain (conn_writer_run runs again then), 0 if
 * the piece is done, or a negative error (the caller closes). */
int conn_write_piece(struct kafka_conn *c, const struct kafka_response *r);
/* Queue the TLS session's pending ciphertext (handshake records and alerts
 * when `writer` is false; the response writer's chunk, which it waits for,
 * when true): 1 if a write is now pending, 0 when there was none, negative
 * on error. */
int conn_tls_flush(struct kafka_conn *c, bool writer);

#endif
