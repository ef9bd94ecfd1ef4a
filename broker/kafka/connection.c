/* One Kafka client connection; see connection.h. */
#include "broker/kafka/connection_internal.h"

#include "broker/kafka/conn_quota.h"
#include "broker/kafka/sasl_server.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/ssl_principal.h"
#include "common/tcp_peer.h"
#include "common/tls.h"
#include "proto/kafka/kafka_header.h"

#define READ_CHUNK 65536

static void reading_update(struct kafka_conn *c);

const char *kafka_conn_peer(const struct kafka_conn *conn)
{
    return conn->peer;
}

const char *kafka_conn_listener(const struct kafka_conn *conn)
{
    return conn->opts.listener_name;
}

bool kafka_conn_plaintext(const struct kafka_conn *conn)
{
    return conn->opts.plaintext;
}

size_t kafka_conn_pending_bytes(const struct kafka_conn *conn)
{
    return conn->pending_bytes;
}

const char *kafka_conn_principal(const struct kafka_conn *conn)
{
    return conn->principal;
}

static void set_principal(struct kafka_conn *conn, const char *name)
{
    snprintf(conn->principal, sizeof conn->principal, "User:%s", name);
}

bool kafka_conn_authenticated(const struct kafka_conn *conn)
{
    return conn->authenticated;
}

bool kafka_conn_sasl_listener(const struct kafka_conn *conn)
{
    return conn->opts.sasl;
}

struct sasl_server *kafka_conn_sasl(const struct kafka_conn *conn)
{
    return conn->sasl;
}

bool kafka_conn_sasl_raw(const struct kafka_conn *conn)
{
    return conn->sasl_raw;
}

/* Bare SASL tokens may be shorter than any Kafka request header. */
static void set_raw(struct kafka_conn *conn, bool raw)
{
    conn->sasl_raw = raw;
    conn->frames.min_size = raw ? 1 : KAFKA_REQUEST_MIN_SIZE;
}

void kafka_conn_set_sasl(struct kafka_conn *conn, struct sasl_server *s, bool raw)
{
    sasl_server_free(conn->sasl);
    conn->sasl = s;
    set_raw(conn, raw);
}

void kafka_conn_set_authenticated(struct kafka_conn *conn, const char *name)
{
    set_principal(conn, name);
    conn->authenticated = true;
    kafka_conn_set_sasl(conn, NULL, false);
}

bool kafka_conn_reauthenticate(struct kafka_conn *conn, const char *name)
{
    char principal[PRINCIPAL_MAX];
    snprintf(principal, sizeof principal, "User:%s", name);
    kafka_conn_set_sasl(conn, NULL, false); /* frees `name` when it is the exchange's */
    return strcmp(principal, conn->principal) == 0;
}

const char *kafka_conn_sasl_mechanism(const struct kafka_conn *conn)
{
    return conn->sasl_mechanism;
}

void kafka_conn_set_sasl_mechanism(struct kafka_conn *conn, const char *mechanism)
{
    snprintf(conn->sasl_mechanism, sizeof conn->sasl_mechanism, "%s", mechanism);
}

void kafka_conn_set_session_expiry(struct kafka_conn *conn, uint64_t expires_ms)
{
    conn->session_expires_ms = expires_ms;
}

bool kafka_conn_session_expired(const struct kafka_conn *conn, uint64_t now_ms)
{
    return conn->session_expires_ms != 0 && now_ms >= conn->session_expires_ms;
}

void kafka_conn_close_when_flushed(struct kafka_conn *conn)
{
    conn->close_after = true;
    reading_update(conn);
}

struct kafka_conn *kafka_conn_next(const struct kafka_conn *conn)
{
    return conn->next;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct kafka_conn *c = h->data;
    c->handles_open--;
    conn_maybe_free(c);
}

static void spares_unlink(struct kafka_frame_spares *s, struct kafka_conn *c)
{
    if (c->spare_prev != NULL) {
        c->spare_prev->spare_next = c->spare_next;
    } else {
        s->oldest = c->spare_next;
    }
    if (c->spare_next != NULL) {
        c->spare_next->spare_prev = c->spare_prev;
    } else {
        s->newest = c->spare_prev;
    }
    c->spare_prev = c->spare_next = NULL;
}

static void spares_link_newest(struct kafka_frame_spares *s, struct kafka_conn *c)
{
    c->spare_next = NULL;
    c->spare_prev = s->newest;
    if (s->newest != NULL) {
        s->newest->spare_next = c;
    } else {
        s->oldest = c;
    }
    s->newest = c;
}

/* Count the reader's spare as it is now in the shared spares: a new frame
 * may have taken it, a body given back may have replaced it, the budget may
 * have freed it. A connection whose spare changed becomes the newest. */
static void spares_recount(struct kafka_conn *c)
{
    struct kafka_frame_spares *s = c->opts.frame_spares;
    size_t now = frame_reader_spare_cap(&c->frames);
    if (s == NULL || now == c->spare_counted) {
        return;
    }
    if (c->spare_counted > 0) {
        spares_unlink(s, c);
    }
    s->held = s->held - c->spare_counted + now;
    c->spare_counted = now;
    if (now > 0) {
        spares_link_newest(s, c);
    }
}

/* Whether the request budget has room for the spares to hold `more` bytes
 * besides what they hold: the spares are inside queued.max.request.bytes. */
static bool spares_fit_budget(const struct kafka_conn *c, size_t more)
{
    const struct request_budget *b = c->opts.budget;
    const struct kafka_frame_spares *s = c->opts.frame_spares;
    return b == NULL || b->limit == 0 || b->used + s->held + more <= b->limit;
}

/* The budget's used bytes grew: free idle spares, oldest first (this
 * connection's too), until they and the requests fit its limit again. */
static void spares_evict(struct kafka_conn *c)
{
    struct kafka_frame_spares *s = c->opts.frame_spares;
    if (s == NULL) {
        return;
    }
    while (s->oldest != NULL && !spares_fit_budget(c, 0)) {
        struct kafka_conn *victim = s->oldest;
        frame_reader_drop_spare(&victim->frames);
        spares_recount(victim);
    }
}

/* Before a frame may start: the frame reader receives a new large frame
 * into the spare at once, so keep the spare only if the budget lets this
 * reader hold all of it now (within the limit and its share); else free it
 * and the frame grows from FRAME_INITIAL_ALLOC, charged as it grows. */
static void spare_check_room(struct kafka_conn *c)
{
    const struct request_budget *b = c->opts.budget;
    size_t cap = frame_reader_spare_cap(&c->frames);
    if (cap == 0 || c->frames.body != NULL || b == NULL || b->limit == 0) {
        return;
    }
    const struct request_budget_reader *r = &c->budget_reader;
    if (b->used + cap <= b->limit && r->held + cap <= request_budget_share(b, r)) {
        return;
    }
    frame_reader_drop_spare(&c->frames);
    spares_recount(c);
}

/* A request's body goes back to the reader for the next large request if
 * the shared spares and the request budget have room for it (the reader
 * keeps the larger of it and the spare it holds), else to malloc. */
static void frame_recycle(struct kafka_conn *c, uint8_t *frame, size_t cap)
{
    struct kafka_frame_spares *s = c->opts.frame_spares;
    size_t spare = frame_reader_spare_cap(&c->frames);
    size_t grows = cap > spare ? cap - spare : 0;
    if (s == NULL || c->closing || cap < FRAME_INITIAL_ALLOC || s->held + grows > s->limit ||
        !spares_fit_budget(c, grows)) {
        free(frame);
        return;
    }
    frame_reader_give_spare(&c->frames, frame, cap);
    spares_recount(c);
}

static void request_free(struct kafka_request *req)
{
    if (req->charged > 0) {
        request_budget_release(req->conn->opts.budget, &req->conn->budget_reader, req->charged);
    }
    kafka_response_free(&req->response);
    frame_recycle(req->conn, req->frame, req->frame_cap);
    free(req);
}

void conn_maybe_free(struct kafka_conn *c)
{
    if (!c->closing || c->handles_open > 0 || c->head != NULL ||
        request_pacer_resuming(&c->pacer)) {
        return;
    }
    if (c->opts.registry != NULL) {
        if (c->prev != NULL) {
            c->prev->next = c->next;
        } else {
            *c->opts.registry = c->next;
        }
        if (c->next != NULL) {
            c->next->prev = c->prev;
        }
    }
    tls_session_free(c->tls);
    free(c->tls_chunk);
    sasl_server_free(c->sasl);
    if (c->on_closed != NULL) {
        c->on_closed(c, c->data);
    }
    free(c);
}

/* Free every request the handlers are done with or never got; the ones
 * still being handled keep the connection alive until they complete. */
static void drop_finished(struct kafka_conn *c)
{
    struct kafka_request **link = &c->head, *last = NULL;
    while (*link != NULL) {
        struct kafka_request *req = *link;
        if (req->state != REQ_HANDLING) {
            *link = req->next;
            c->in_flight--;
            request_free(req);
        } else {
            last = req;
            link = &req->next;
        }
    }
    c->tail = last;
}

void kafka_conn_close(struct kafka_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->writing = false;
    /* drop_finished frees the waiting requests; a handler that yielded goes
     * on to the end (kafka_request_yield), so its on_cancel is left alone. */
    request_pacer_close(&c->pacer);
    if (c->quota_admitted) { /* its descriptor is closed below, synchronously */
        conn_quota_release(c->opts.quota, c->ip);
        c->quota_admitted = false;
    }
    drop_finished(c);
    frame_reader_free(&c->frames); /* nothing reads it once closing */
    spares_recount(c);             /* its spare is gone */
    if (c->opts.budget != NULL) {
        request_budget_cancel(c->opts.budget, &c->budget_reader);
        request_budget_release(c->opts.budget, &c->budget_reader, c->frame_charged);
        c->frame_charged = 0;
        request_budget_frame_done(c->opts.budget, &c->budget_reader);
    }
    /* Only handled requests are left; the handles still open keep `c`
     * alive while their handlers let go. */
    for (struct kafka_request *req = c->head, *next; req != NULL; req = next) {
        next = req->next;
        void (*cancel)(struct kafka_request *) = req->on_cancel;
        if (cancel != NULL && req != request_pacer_yielded(&c->pacer)) {
            req->on_cancel = NULL;
            cancel(req);
        }
    }
    if (c->poll_fd >= 0) {
        uv_close((uv_handle_t *)&c->writable, on_handle_closed);
        close(c->poll_fd);
        c->poll_fd = -1;
    }
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
    uv_close((uv_handle_t *)&c->frame_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

void kafka_conn_abort(struct kafka_conn *c)
{
    kafka_conn_close(c);
    struct kafka_request *req = request_pacer_abort(&c->pacer);
    if (req == NULL) {
        return;
    }
    void (*cancel)(struct kafka_request *) = req->on_cancel;
    req->on_cancel = NULL;
    cancel(req); /* last: dropping the request may free `c` */
}

void kafka_conn_fail(struct kafka_conn *c, const char *why)
{
    if (!c->closing) {
        log_warn("kafka", "closing connection peer=%s listener=%s reason=\"%s\"", c->peer,
                 c->opts.listener_name, why);
    }
    kafka_conn_close(c);
}

static void on_idle(uv_timer_t *t)
{
    struct kafka_conn *c = t->data;
    if (c->tls != NULL && !tls_session_established(c->tls)) {
        kafka_conn_fail(c, "TLS handshake not completed within ssl.handshake.timeout.ms");
        return;
    }
    if (c->in_flight > 0) {
        uv_timer_again(t); /* a long poll or a slow reader is not idleness */
        return;
    }
    if (frame_reader_partial(&c->frames)) {
        kafka_conn_fail(c, "request not completed within connections.max.idle.ms");
        return;
    }
    log_debug("kafka", "closing idle connection peer=%s", c->peer);
    kafka_conn_close(c);
}

static void on_frame_timeout(uv_timer_t *t)
{
    struct kafka_conn *c = t->data;
    char why[160];
    snprintf(why, sizeof why,
             "request not completed within request.timeout.ms (%zu of %d bytes received)",
             c->frames.body_have, c->frames.body != NULL ? c->frames.last_size : 0);
    kafka_conn_fail(c, why);
}

/* The clock of a started frame runs only while the connection reads: a
 * client paused by our own flow control is not slow. Each frame gets the
 * whole timeout from when it (or reading) started. */
static void frame_timer_update(struct kafka_conn *c)
{
    bool want = !c->closing && c->reading && c->opts.frame_timeout_ms > 0 &&
                frame_reader_partial(&c->frames);
    bool active = uv_is_active((uv_handle_t *)&c->frame_timer);
    if (want && !active) {
        uv_timer_start(&c->frame_timer, on_frame_timeout, c->opts.frame_timeout_ms, 0);
    } else if (!want && active) {
        uv_timer_stop(&c->frame_timer);
    }
}

/* Charge the budget for what the partial frame's buffer holds now. */
static void charge_partial(struct kafka_conn *c)
{
    if (c->opts.budget == NULL) {
        return;
    }
    size_t now = c->frames.body_cap;
    if (now > c->frame_charged) {
        request_budget_charge(c->opts.budget, &c->budget_reader, now - c->frame_charged);
        spares_evict(c);
    } else if (now < c->frame_charged) {
        request_budget_release(c->opts.budget, &c->budget_reader, c->frame_charged - now);
    }
    c->frame_charged = now;
}

/* Activity that proves the client alive: a whole request or a whole response.
 * Single bytes of a dribbled frame deliberately do not count. */
static void idle_restart(struct kafka_conn *c)
{
    if (!c->closing && c->opts.idle_timeout_ms > 0) {
        uv_timer_start(&c->idle, on_idle, c->opts.idle_timeout_ms, c->opts.idle_timeout_ms);
    }
}

static void request_pop(struct kafka_conn *c)
{
    struct kafka_request *req = c->head;
    c->head = req->next;
    if (c->head == NULL) {
        c->tail = NULL;
    }
    c->in_flight--;
    request_free(req);
    c->piece = c->piece_off = 0;
}

void conn_writer_run(struct kafka_conn *c)
{
    while (!c->writing && !c->closing && c->head != NULL &&
           (c->head->state == REQ_DONE || c->head->state == REQ_DROPPED)) {
        struct kafka_request *req = c->head;
        if (req->state == REQ_DONE && c->piece < 2 * req->response.n_splices + 1) {
            /* A fresh clock: after a pause the cached loop time would hide
             * that this broker has been cut off meanwhile. */
            uv_update_time(c->tcp.loop);
            if (c->opts.response_stale != NULL &&
                c->opts.response_stale(c->opts.response_stale_data, req->done_ms,
                                       uv_now(c->tcp.loop))) {
                log_info("kafka",
                         "closing connection peer=%s: a response built before this broker "
                         "was cut off from the controllers is not sent",
                         c->peer);
                kafka_conn_close(c);
                return;
            }
            int rv = conn_write_piece(c, &req->response);
            if (rv < 0) {
                log_debug("kafka", "write failed peer=%s error=%d", c->peer, rv);
                kafka_conn_close(c);
                return;
            }
            continue;
        }
        request_pop(c);
        idle_restart(c);
    }
    if (c->close_after && !c->closing && !c->writing && c->head == NULL) {
        kafka_conn_close(c);
        return;
    }
    reading_update(c);
}

static void finish_request(struct kafka_request *req, enum request_state state)
{
    struct kafka_conn *c = req->conn;
    req->state = state;
    if (c->closing) {
        drop_finished(c);
        conn_maybe_free(c);
        return;
    }
    if (state == REQ_DONE) {
        req->done_ms = uv_now(c->tcp.loop);
        kafka_response_finish(&req->response);
        c->pending_bytes += kafka_response_wire_size(&req->response);
    }
    if (req == c->head) {
        conn_writer_run(c);
    }
}

void kafka_request_complete(struct kafka_request *req)
{
    finish_request(req, REQ_DONE);
}

void kafka_request_drop(struct kafka_request *req)
{
    finish_request(req, REQ_DROPPED);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    b->base = malloc(READ_CHUNK);
    b->len = b->base ? READ_CHUNK : 0;
}

static const char *frame_error(enum frame_status st)
{
    switch (st) {
    case FRAME_TOO_LARGE:
        return "request size above socket.request.max.bytes";
    case FRAME_INVALID:
        return "request size negative or too small for a header";
    default:
        return "out of memory for request";
    }
}

/* Take the frame just completed as the newest request, waiting for its
 * handler. */
static void enqueue_request(struct kafka_conn *c)
{
    struct kafka_request *req = calloc(1, sizeof *req);
    if (req == NULL) {
        kafka_conn_fail(c, "out of memory for request");
        return;
    }
    req->state = REQ_WAITING;
    req->conn = c;
    req->frame = frame_reader_take(&c->frames, &req->frame_len, &req->frame_cap);
    req->charged = c->frame_charged; /* the budget now counts it until it is answered */
    c->frame_charged = 0;
    uv_timer_stop(&c->frame_timer);
    if (c->opts.budget != NULL) {
        request_budget_frame_done(c->opts.budget, &c->budget_reader);
    }
    kafka_response_init(&req->response);
    if (c->tail != NULL) {
        c->tail->next = req;
    } else {
        c->head = req;
    }
    c->tail = req;
    request_pacer_add(&c->pacer, req);
    c->in_flight++;
    idle_restart(c);
}

/* The pacer's turn for the oldest waiting request: hand it to the handler. */
static void start_request(struct kafka_request *req, void *data)
{
    struct kafka_conn *c = data;
    req->state = REQ_HANDLING;
    c->on_request(req, c->data);
}

bool kafka_request_budget_spent(const struct kafka_request *req)
{
    return request_pacer_budget_spent(&req->conn->pacer);
}

void kafka_request_yield(struct kafka_request *req, void (*resume)(struct kafka_request *req),
                         void (*cancel)(struct kafka_request *req))
{
    request_pacer_yield(&req->conn->pacer, req, resume, cancel);
}

/* Frame `data` and start each request as its frame completes. Once one
 * has to wait, the rest is held and framed after it started: the handler
 * of one request may change how the next is framed (SaslHandshake v0's
 * raw tokens). */
static void consume(struct kafka_conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len && !c->closing) {
        if (request_pacer_blocked(&c->pacer)) {
            if (request_pacer_hold(&c->pacer, data + off, len - off) != 0) {
                kafka_conn_fail(c, "out of memory for request");
            }
            spares_evict(c); /* the held bytes are charged */
            return;
        }
        size_t used;
        spare_check_room(c);
        enum frame_status st = frame_reader_feed(&c->frames, data + off, len - off, &used);
        off += used;
        spares_recount(c); /* a new frame may have taken the spare */
        charge_partial(c);
        if (st == FRAME_READY) {
            enqueue_request(c);
            request_pacer_run(&c->pacer);
        } else if (st != FRAME_NEED_MORE) {
            char why[128];
            snprintf(why, sizeof why, "%s (size=%d max=%d)", frame_error(st), c->frames.last_size,
                     c->frames.max_size);
            kafka_conn_fail(c, why);
        }
    }
}

/* The handshake just finished: the client certificate names the principal. */
static bool tls_established(struct kafka_conn *c)
{
    const char *subject = tls_session_peer_subject(c->tls);
    if (subject != NULL && c->opts.tls_principal_rules != NULL) {
        char name[PRINCIPAL_MAX - 5];
        if (ssl_principal_map(c->opts.tls_principal_rules, subject, name, sizeof name) != 0) {
            char why[PRINCIPAL_MAX + 96];
            snprintf(why, sizeof why,
                     "no ssl.principal.mapping.rules entry maps client certificate subject=\"%s\"",
                     subject);
            kafka_conn_fail(c, why);
            return false;
        }
        set_principal(c, name);
    }
    char desc[96];
    log_debug("kafka", "TLS established peer=%s listener=%s %s principal=%s", c->peer,
              c->opts.listener_name, tls_session_describe(c->tls, desc, sizeof desc), c->principal);
    uv_timer_stop(&c->idle); /* the handshake deadline */
    idle_restart(c);
    return true;
}

/* Best effort: a failing session's alert tells the client why. */
static void tls_send_alert(struct kafka_conn *c)
{
    size_t len;
    uint8_t *data = tls_session_take_output(c->tls, &len);
    if (data != NULL) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        free(data);
    }
}

/* Ciphertext from the socket: decrypt and consume every whole TLS record. */
static void tls_consume(struct kafka_conn *c, const uint8_t *data, size_t len)
{
    bool was_established = tls_session_established(c->tls);
    int n = tls_session_feed(c->tls, data, len);
    uint8_t plain[16384];
    while (n >= 0) {
        n = tls_session_read(c->tls, plain, sizeof plain);
        if (!was_established && tls_session_established(c->tls)) {
            was_established = true;
            if (!tls_established(c)) {
                return;
            }
        }
        if (n > 0) {
            consume(c, plain, (size_t)n);
            if (c->closing) {
                return;
            }
        } else if (n == TLS_AGAIN) {
            break;
        }
    }
    if (n == TLS_CLOSED) {
        /* The requests read before close_notify still run, as they did
         * when every request started as soon as it was read (an acks=0
         * Produce is appended): close once they have started. */
        if (!request_pacer_idle(&c->pacer)) {
            c->close_when_started = true;
            reading_update(c);
        } else {
            kafka_conn_close(c);
        }
        return;
    }
    if (n == TLS_FAILED) {
        tls_send_alert(c);
        char why[320];
        snprintf(why, sizeof why, "TLS %s failed: %s", was_established ? "session" : "handshake",
                 tls_session_error(c->tls));
        kafka_conn_fail(c, why);
        return;
    }
    if (conn_tls_flush(c, false) < 0) {
        kafka_conn_fail(c, "cannot write TLS records");
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct kafka_conn *c = s->data;
    if (nread > 0 && c->tls != NULL) {
        tls_consume(c, (const uint8_t *)b->base, (size_t)nread);
    } else if (nread > 0) {
        consume(c, (const uint8_t *)b->base, (size_t)nread);
    } else if (nread < 0) {
        if (frame_reader_partial(&c->frames)) {
            kafka_conn_fail(c, "peer closed the connection in the middle of a request");
        } else {
            kafka_conn_close(c);
        }
    }
    free(b->base);
    if (!c->closing) {
        reading_update(c);
    }
}

static void on_budget_room(struct request_budget_reader *r)
{
    struct kafka_conn *c =
        (struct kafka_conn *)((char *)r - offsetof(struct kafka_conn, budget_reader));
    reading_update(c);
}

/* A later iteration had room and the pacer started what waited: frame what
 * was held behind it (which may wait again). After a close only a yielded
 * handler went on: the connection may be free to go now. */
static void on_paced(void *data)
{
    struct kafka_conn *c = data;
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    size_t len;
    uint8_t *held = request_pacer_take_held(&c->pacer, &len);
    if (held != NULL) {
        consume(c, held, len);
        free(held);
    }
    if (c->close_when_started && !c->closing && request_pacer_idle(&c->pacer)) {
        kafka_conn_close(c);
    }
    if (!c->closing) {
        reading_update(c);
    }
}

static void reading_update(struct kafka_conn *c)
{
    /* Nothing more is read while a request waits for the iteration budget. */
    bool want = !c->closing && !c->close_after && c->in_flight < c->opts.max_in_flight &&
                c->pending_bytes < c->opts.max_pending_bytes && !request_pacer_blocked(&c->pacer) &&
                !c->close_when_started;
    if (want && c->opts.budget != NULL &&
        !request_budget_may_read(c->opts.budget, &c->budget_reader,
                                 frame_reader_partial(&c->frames), c->frame_charged)) {
        want = false;
        request_budget_wait(c->opts.budget, &c->budget_reader);
    }
    if (want && !c->reading) {
        int rv = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rv != 0) {
            kafka_conn_fail(c, uv_strerror(rv));
            return;
        }
        c->reading = true;
    } else if (!want && c->reading && !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    frame_timer_update(c);
}

/* Count the connection in its quota; false if a limit refuses it. */
static bool admit(struct kafka_conn *c)
{
    uv_os_fd_t fd = -1;
    snprintf(c->ip, sizeof c->ip, "%s", c->peer);
    char *colon = strrchr(c->ip, ':');
    if (colon != NULL) {
        *colon = '\0';
    }
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) {
        fd = -1;
    }
    c->quota_admitted = conn_quota_admit(c->opts.quota, c->ip, fd, uv_now(c->tcp.loop)) == NULL;
    return c->quota_admitted;
}

static void registry_link(struct kafka_conn *c)
{
    if (c->opts.registry == NULL) {
        return;
    }
    c->next = *c->opts.registry;
    if (c->next != NULL) {
        c->next->prev = c;
    }
    *c->opts.registry = c;
}

int kafka_conn_accept(uv_stream_t *server, const struct kafka_conn_options *opts,
                      kafka_request_cb on_request, void (*on_closed)(struct kafka_conn *, void *),
                      void *data, struct kafka_conn **out)
{
    struct kafka_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return UV_ENOMEM;
    }
    c->opts = *opts;
    c->on_request = on_request;
    c->on_closed = on_closed;
    c->data = data;
    c->poll_fd = -1;
    snprintf(c->principal, sizeof c->principal, "User:ANONYMOUS");
    c->authenticated = !opts->sasl;
    frame_reader_init(&c->frames, KAFKA_REQUEST_MIN_SIZE,
                      opts->max_request_bytes > 0 ? (size_t)opts->max_request_bytes : 0);
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->idle);
    uv_timer_init(server->loop, &c->frame_timer);
    c->tcp.data = c->idle.data = c->frame_timer.data = c;
    c->budget_reader.resume = on_budget_room;
    request_pacer_init(&c->pacer, opts->iteration_budget, opts->budget, &c->budget_reader,
                       start_request, on_paced, c);
    c->handles_open = 3;
    registry_link(c);
    int rv = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rv != 0) {
        kafka_conn_close(c);
        return rv;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    tcp_peer_name(&c->tcp, c->peer, sizeof c->peer);
    if (c->opts.quota != NULL && !admit(c)) {
        kafka_conn_close(c);
        return UV_ECONNREFUSED;
    }
    if (opts->tls != NULL) {
        c->tls = tls_session_new(opts->tls);
        if (c->tls == NULL) {
            kafka_conn_close(c);
            return UV_ENOMEM;
        }
        uv_timer_start(&c->idle, on_idle, opts->tls_handshake_timeout_ms, 0);
    } else {
        idle_restart(c);
    }
    reading_update(c);
    *out = c;
    return 0;
}
