/* When a connection's requests may start: one connection's share of the
 * loop's handler time (common/iteration_budget.h), kept by its connection
 * (connection.c), which owns the struct.
 *
 * A request read and framed is handed to its handler only while the loop's
 * iteration budget has room; otherwise it waits, and so does every request
 * read after it (they start in arrival order), until a later iteration
 * with room, after the loop has run its timers and served its other
 * sockets. A handler whose work is long yields between slices
 * (request_pacer_yield) and goes on in a later iteration, before anything
 * after it starts (Kafka processes a connection's requests one at a time,
 * so appends keep their order), even once the connection has closed: as in
 * Kafka, a request that was read is processed to the end and only its
 * answer is dropped; only request_pacer_abort (the broker stopping) gives
 * it up. Handlers run on the loop (a compressed
 * batch is inflated there to be validated), so this is what keeps one
 * connection's pipelined expensive requests from holding every timer and
 * socket of the loop, the controller heartbeats included (issue 14).
 *
 * While a request waits or a handler has yielded the pacer is busy: the
 * connection frames nothing more, and keeps the bytes it read meanwhile
 * here (request_pacer_hold) until what is in front has started, because
 * one request's handler may change how the next is framed (SaslHandshake
 * v0's raw tokens). Those bytes are charged to the request budget
 * (queued.max.request.bytes, request_budget.h) like a partial frame.
 *
 * The requests are the connection's: the pacer only points into its FIFO
 * (linked by kafka_request.next) at the first one still waiting, and never
 * frees one. Borrowed budgets must outlive the pacer. Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_REQUEST_PACER_H
#define SLUICE_BROKER_KAFKA_REQUEST_PACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/kafka/connection.h"
#include "common/iteration_budget.h"

struct request_budget;
struct request_budget_reader;

struct request_pacer {
    struct iteration_budget *budget;       /* borrowed; NULL: every request starts at once */
    struct request_budget *request_budget; /* borrowed; NULL: held bytes are not charged */
    struct request_budget_reader *reader;  /* the connection's account in request_budget */
    /* Hand `req`, the oldest waiting request, to its handler; the time it
     * runs is charged to the iteration budget. */
    void (*start)(struct kafka_request *req, void *data);
    /* A later iteration had room and the pacer started what it could: the
     * connection goes on (frames what was held, reads again). */
    void (*resumed)(void *data);
    void *data;
    struct kafka_request *next_start; /* the first waiting request, or NULL */
    /* A handler that yielded and its continuation: it goes on before
     * anything after it starts. */
    struct kafka_request *yielded;
    void (*yield_resume)(struct kafka_request *req);
    struct iteration_budget_waiter waiter; /* queued while either waits */
    /* A yielded handler is running (request_pacer_run): the connection may
     * be closed already and its last request completed meanwhile, so it is
     * freed after the handler returns, not inside it. */
    bool resuming;
    uint64_t slice_began; /* uv_hrtime() when the running handler was called */
    /* Bytes read behind a waiting request: at most one read (a TLS read's
     * plaintext), since the connection stops reading while busy. Owned;
     * held_charged of them charged to request_budget. */
    uint8_t *held;
    size_t held_len;
    size_t held_charged;
    bool closed;  /* request_pacer_close ran: no new request starts, nothing is held */
    bool aborted; /* request_pacer_abort ran: a handler that yields is cancelled */
};

/* Set up `p` (its memory zeroed or not) with borrowed budgets (either may be
 * NULL) and the connection's callbacks. */
void request_pacer_init(struct request_pacer *p, struct iteration_budget *budget,
                        struct request_budget *request_budget, struct request_budget_reader *reader,
                        void (*start)(struct kafka_request *req, void *data),
                        void (*resumed)(void *data), void *data);

/* The connection closes: forget the waiting requests (the connection frees
 * them), free the held bytes and give back their charge. A handler that
 * yielded still goes on in a later iteration (the pacer keeps waiting for
 * one with room); then `resumed` is called with the connection closed.
 * Nothing new starts or is held after this. Idempotent. */
void request_pacer_close(struct request_pacer *p);
/* The broker is stopping (after request_pacer_close): stop waiting for the
 * iteration budget, and return the request of a handler that yielded (its
 * on_cancel is the caller's to call; the pacer forgot it), or NULL. A
 * handler that yields from now on is cancelled at once. */
struct kafka_request *request_pacer_abort(struct request_pacer *p);

/* `req` was just framed, the newest of the connection's FIFO: it waits to
 * start behind the requests already waiting. */
void request_pacer_add(struct request_pacer *p, struct kafka_request *req);

/* Start what waits, in order (a yielded handler first), while the
 * iteration budget has room, charging it with the time each handler ran;
 * when there is no room, wait for a later iteration, which starts the rest
 * and then calls `resumed`. A handler may close the connection meanwhile;
 * once it is closed only a yielded handler goes on. */
void request_pacer_run(struct request_pacer *p);

/* The request of the handler that yielded and waits to go on, or NULL. */
struct kafka_request *request_pacer_yielded(const struct request_pacer *p);
/* Whether a yielded handler is running now, called from request_pacer_run:
 * the connection must not free itself meanwhile. */
bool request_pacer_resuming(const struct request_pacer *p);
/* Whether a request waits to start or a handler to go on: nothing more may
 * be framed or read now. */
bool request_pacer_blocked(const struct request_pacer *p);
/* Whether nothing waits, nothing has yielded and no bytes are held: every
 * request read so far has started. */
bool request_pacer_idle(const struct request_pacer *p);

/* Keep `len` bytes read while blocked (copied), charged to the request
 * budget until they are framed. They are charged without asking for room,
 * which cannot deadlock: they were read already, and are framed (and
 * released) as soon as the request in front starts, which the iteration
 * budget grants in a later iteration whatever the request budget holds.
 * While they are charged the connection holds more than a frame, so it is
 * not the one reader let past a spent budget. Returns 0 or -ENOMEM (the
 * connection then fails). */
int request_pacer_hold(struct request_pacer *p, const uint8_t *data, size_t len);
/* Once no longer blocked: the held bytes (ownership transferred, *len set)
 * with their charge given back (framing charges what it keeps), or NULL
 * when none are held or the pacer is still blocked or closed. */
uint8_t *request_pacer_take_held(struct request_pacer *p, size_t *len);

/* Whether the running handler (called through `start` or resumed, and
 * running now) should yield: the iteration budget is spent once its time
 * so far is counted. Always false without an iteration budget. */
bool request_pacer_budget_spent(const struct request_pacer *p);
/* The running handler of `req` yields, as the last thing it does:
 * `resume(req)` is called once in a later iteration with room, charged
 * like a handler, even if the connection closes meanwhile. `cancel` is
 * req->on_cancel meanwhile, for request_pacer_abort's caller; it is
 * called at once if the pacer was aborted already. */
void request_pacer_yield(struct request_pacer *p, struct kafka_request *req,
                         void (*resume)(struct kafka_request *req),
                         void (*cancel)(struct kafka_request *req));

#endif
