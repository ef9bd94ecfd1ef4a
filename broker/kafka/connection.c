/* One Kafka client connection; see connection.h. */
#include "broker/kafka/connection.h"

#include "broker/kafka/conn_quota.h"
#include "broker/kafka/sasl_server.h"
#include "broker/kafka/request_budget.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/iteration_budget.h"
#include "common/log.h"
#include "common/ssl_principal.h"
#include "common/tcp_peer.h"
#include "common/tls.h"
#include "proto/kafka/kafka_header.h"

/* REQ_WAITING: read, not yet handed to the handler (the loop's iteration
 * budget had no room); the requests after the first waiting one wait too. */
enum request_state { REQ_WAITING, REQ_HANDLING, REQ_DONE, REQ_DROPPED };

#define READ_CHUNK 65536
/* Plaintext encrypted per socket write on TLS: a spliced file range is read
 * into memory this much at a time (no sendfile through OpenSSL). */
#define TLS_WRITE_CHUNK 65536
#define PRINCIPAL_MAX   256

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
    struct request_budget_reader budget_reader; /* its account in opts.budget */
    /* FIFO of requests in arrival order; head is the next to answer. */
    struct kafka_request *head, *tail;
    struct kafka_request *next_start; /* the first REQ_WAITING request, or NULL */
    /* A handler that yielded (kafka_request_yield) and its continuation:
     * it goes on before anything after it starts. */
    struct kafka_request *yielded;
    void (*yield_resume)(struct kafka_request *req);
    struct iteration_budget_waiter budget_waiter; /* queued while either waits */
    /* A yielded handler is running (start_waiting): the connection may be
     * closed already and its last request completed meanwhile, so it is
     * freed after the handler returns, not inside it. */
    bool resuming;
    bool aborted;         /* kafka_conn_abort: a handler that yields is cancelled */
    uint64_t slice_began; /* uv_hrtime() when the running handler was called */
    /* Bytes read behind a waiting request, framed once it has started:
     * at most one read (a TLS read's plaintext), since reading stops while
     * a request waits. Owned; charged to opts.budget (held_charged). */
    uint8_t *held;
    size_t held_len;
    size_t held_charged;
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
    uint8_t *tls_chunk;            /* TLS_WRITE_CHUNK bytes read from a spliced file */
    char principal[PRINCIPAL_MAX]; /* "User:..." */
    struct sasl_server *sasl;      /* the exchange in progress */
    bool sasl_raw;                 /* SaslHandshake v0: bare tokens follow */
    bool authenticated;            /* always on non-SASL listeners */
    char sasl_mechanism[32];       /* the one that authenticated (re-authentication keeps it) */
    uint64_t session_expires_ms;   /* uv_now() when the SASL session ends; 0: never */
    bool close_after;              /* close once the responses are written */
    struct kafka_conn *prev, *next;
};

static void conn_maybe_free(struct kafka_conn *c);
static void writer_run(struct kafka_conn *c);
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

static void request_free(struct kafka_request *req)
{
    if (req->charged > 0) {
        request_budget_release(req->conn->opts.budget, &req->conn->budget_reader, req->charged);
    }
    kafka_response_free(&req->response);
    free(req->frame);
    free(req);
}

static void conn_maybe_free(struct kafka_conn *c)
{
    if (!c->closing || c->handles_open > 0 || c->head != NULL || c->resuming) {
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
    frame_reader_free(&c->frames);
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

static void budget_waiter_cancel(struct kafka_conn *c)
{
    if (c->opts.iteration_budget != NULL) {
        iteration_budget_cancel(c->opts.iteration_budget, &c->budget_waiter);
    }
}

/* Give back what the held bytes are charged to the request budget. */
static void held_release(struct kafka_conn *c)
{
    if (c->held_charged > 0) {
        request_budget_release(c->opts.budget, &c->budget_reader, c->held_charged);
        c->held_charged = 0;
    }
}

void kafka_conn_close(struct kafka_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->writing = false;
    c->next_start = NULL; /* drop_finished frees the waiting requests */
    /* A handler that yielded goes on to the end (kafka_request_yield):
     * the connection keeps its budget waiter for it. */
    if (c->yielded == NULL) {
        budget_waiter_cancel(c);
    }
    free(c->held);
    c->held = NULL;
    c->held_len = 0;
    held_release(c);
    if (c->quota_admitted) { /* its descriptor is closed below, synchronously */
        conn_quota_release(c->opts.quota, c->ip);
        c->quota_admitted = false;
    }
    drop_finished(c);
    if (c->opts.budget != NULL) {
        request_budget_cancel(c->opts.budget, &c->budget_reader);
        frame_reader_free(&c->frames); /* nothing reads it once closing */
        request_budget_release(c->opts.budget, &c->budget_reader, c->frame_charged);
        c->frame_charged = 0;
        request_budget_frame_done(c->opts.budget, &c->budget_reader);
    }
    /* Only handled requests are left; the handles still open keep `c`
     * alive while their handlers let go. */
    for (struct kafka_request *req = c->head, *next; req != NULL; req = next) {
        next = req->next;
        void (*cancel)(struct kafka_request *) = req->on_cancel;
        if (cancel != NULL && req != c->yielded) {
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
    c->aborted = true;
    struct kafka_request *req = c->yielded;
    if (req == NULL) {
        return;
    }
    void (*cancel)(struct kafka_request *) = req->on_cancel;
    c->yielded = NULL;
    c->yield_resume = NULL;
    req->on_cancel = NULL;
    budget_waiter_cancel(c);
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

/* Bounds of memory piece `k` (the bytes before splice k, or after the last). */
static void memory_piece(const struct kafka_response *r, size_t k, size_t *start, size_t *end)
{
    *start = k == 0 ? 0 : r->splices[k - 1].at;
    *end = k < r->n_splices ? r->splices[k].at : r->bytes.len;
}

static void on_writable(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct kafka_conn *c = p->data;
    uv_poll_stop(p);
    c->writing = false;
    if (status < 0) {
        kafka_conn_close(c);
        return;
    }
    writer_run(c);
}

static int wait_writable(struct kafka_conn *c, int sock)
{
    if (c->poll_fd < 0) {
        int fd = dup(sock);
        if (fd < 0) {
            return -errno;
        }
        int rv = uv_poll_init(c->tcp.loop, &c->writable, fd);
        if (rv != 0) {
            close(fd);
            return rv;
        }
        c->writable.data = c;
        c->poll_fd = fd;
        c->handles_open++;
    }
    int rv = uv_poll_start(&c->writable, UV_WRITABLE, on_writable);
    if (rv == 0) {
        c->writing = true;
        return 1;
    }
    return rv;
}

/* Write what the socket takes of memory piece; 1 if the rest waits for the
 * socket to drain (writer_run goes on from on_writable), 0 when the piece is
 * done, negative on error. The rest is never handed to uv_write: libuv would
 * send it without asking us, and every piece must pass writer_run's check. */
static int write_memory(struct kafka_conn *c, const struct kafka_response *r)
{
    size_t start, end;
    memory_piece(r, c->piece / 2, &start, &end);
    while (c->piece_off < end - start) {
        uv_buf_t b = uv_buf_init((char *)r->bytes.data + start + c->piece_off,
                                 (unsigned)(end - start - c->piece_off));
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == UV_EAGAIN) {
            uv_os_fd_t sock;
            int rv = uv_fileno((uv_handle_t *)&c->tcp, &sock);
            return rv != 0 ? rv : wait_writable(c, sock);
        }
        if (n < 0) {
            return n;
        }
        c->piece_off += (size_t)n;
        c->pending_bytes -= (size_t)n;
    }
    c->piece++;
    c->piece_off = 0;
    return 0;
}

/* Send a spliced file range straight from the page cache to the socket. */
static int write_splice(struct kafka_conn *c, const struct kafka_response *r)
{
    const struct kafka_response_splice *s = &r->splices[c->piece / 2];
    uv_os_fd_t sock;
    int rv = uv_fileno((uv_handle_t *)&c->tcp, &sock);
    if (rv != 0) {
        return rv;
    }
    while (c->piece_off < s->len) {
        off_t pos = (off_t)(s->pos + (int64_t)c->piece_off);
        ssize_t n = sendfile(sock, s->fd, &pos, s->len - c->piece_off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return wait_writable(c, sock);
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            return -errno; /* the client left mid-response: routine, the caller closes */
        }
        if (n <= 0) {
            /* The frame size already promised these bytes: nothing to do but close. */
            log_error("kafka", "sendfile failed peer=%s error=%s", c->peer,
                      n == 0 ? "file shorter than promised" : strerror(errno));
            return -EIO;
        }
        c->piece_off += (size_t)n;
        c->pending_bytes -= (size_t)n;
    }
    c->piece++;
    c->piece_off = 0;
    return 0;
}

/* ---- TLS ----
 * Ciphertext leaves in the order OpenSSL produced it: every chunk is its own
 * uv_write, which libuv queues in order. The response writer waits for its
 * chunk before encrypting the next; handshake records and alerts produced
 * while reading go out alongside without holding the writer. */

struct tls_write {
    uv_write_t req; /* first: the callback's pointer is the struct's */
    struct kafka_conn *conn;
    bool writer;   /* the response writer waits for this one */
    uint8_t *data; /* owned */
};

static void on_tls_write(uv_write_t *w, int status)
{
    struct tls_write *tw = (struct tls_write *)w;
    struct kafka_conn *c = tw->conn;
    bool writer = tw->writer;
    free(tw->data);
    free(tw);
    if (writer) {
        c->writing = false;
    }
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    if (status < 0) {
        log_debug("kafka", "write failed peer=%s error=%s", c->peer, uv_strerror(status));
        kafka_conn_close(c);
        return;
    }
    if (writer) {
        writer_run(c);
    }
}

/* Queue the session's pending ciphertext: 1 if a write is now pending, 0
 * when there was none, negative on error. */
static int tls_flush(struct kafka_conn *c, bool writer)
{
    size_t len;
    uint8_t *data = tls_session_take_output(c->tls, &len);
    if (data == NULL) {
        return len == 0 ? 0 : UV_ENOMEM;
    }
    struct tls_write *tw = malloc(sizeof *tw);
    if (tw == NULL) {
        free(data);
        return UV_ENOMEM;
    }
    tw->conn = c;
    tw->writer = writer;
    tw->data = data;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int rv = uv_write(&tw->req, (uv_stream_t *)&c->tcp, &b, 1, on_tls_write);
    if (rv != 0) {
        free(data);
        free(tw);
        return rv;
    }
    if (writer) {
        c->writing = true;
    }
    return 1;
}

/* Read `len` bytes of a spliced range into tls_chunk. */
static int read_splice(struct kafka_conn *c, const struct kafka_response_splice *sp, size_t len)
{
    if (c->tls_chunk == NULL && (c->tls_chunk = malloc(TLS_WRITE_CHUNK)) == NULL) {
        return UV_ENOMEM;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(sp->fd, c->tls_chunk + got, len - got,
                          (off_t)(sp->pos + (int64_t)(c->piece_off + got)));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            /* The frame size already promised these bytes: nothing to do but close. */
            log_error("kafka", "reading record data failed peer=%s error=%s", c->peer,
                      n == 0 ? "file shorter than promised" : strerror(errno));
            return -EIO;
        }
        got += (size_t)n;
    }
    return 0;
}

/* Encrypt the next chunk of the current piece (memory or a spliced file
 * range, read with pread: sendfile cannot go through OpenSSL) and queue it.
 * 1 if a write is pending, 0 when the piece was empty, negative on error. */
static int write_tls(struct kafka_conn *c, const struct kafka_response *r)
{
    const uint8_t *plain;
    size_t piece_len;
    if (c->piece % 2 == 0) {
        size_t start, end;
        memory_piece(r, c->piece / 2, &start, &end);
        plain = r->bytes.data + start + c->piece_off;
        piece_len = end - start;
    } else {
        piece_len = r->splices[c->piece / 2].len;
        plain = NULL;
    }
    size_t len = piece_len - c->piece_off;
    len = len > TLS_WRITE_CHUNK ? TLS_WRITE_CHUNK : len;
    if (plain == NULL && len > 0) {
        int rv = read_splice(c, &r->splices[c->piece / 2], len);
        if (rv != 0) {
            return rv;
        }
        plain = c->tls_chunk;
    }
    if (len > 0 && tls_session_write(c->tls, plain, len) != 0) {
        log_debug("kafka", "TLS write failed peer=%s error=%s", c->peer, tls_session_error(c->tls));
        return -EPROTO;
    }
    c->piece_off += len;
    c->pending_bytes -= len;
    if (c->piece_off == piece_len) {
        c->piece++;
        c->piece_off = 0;
    }
    return tls_flush(c, true);
}

static void writer_run(struct kafka_conn *c)
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
            int rv = c->tls != NULL      ? write_tls(c, &req->response)
                     : c->piece % 2 == 0 ? write_memory(c, &req->response)
                                         : write_splice(c, &req->response);
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
        writer_run(c);
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
    req->frame = frame_reader_take(&c->frames, &req->frame_len);
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
    if (c->next_start == NULL) {
        c->next_start = req;
    }
    c->in_flight++;
    idle_restart(c);
}

/* Hand the waiting requests to the handler in arrival order while the
 * loop's iteration budget has room, charging it with the time each handler
 * ran; else wait for a later iteration (iteration_budget.h). Handlers run
 * on the loop (a compressed batch is inflated there to be validated), so
 * this is what keeps one connection's pipelined expensive requests from
 * holding every timer and socket of the loop, the controller heartbeats
 * included. */
static void start_waiting(struct kafka_conn *c)
{
    struct iteration_budget *budget = c->opts.iteration_budget;
    /* Once closed, only a yielded handler goes on (next_start is NULL). */
    while (c->yielded != NULL || (c->next_start != NULL && !c->closing)) {
        if (!iteration_budget_has_room(budget)) {
            iteration_budget_wait(budget, &c->budget_waiter);
            return;
        }
        uint64_t began = budget != NULL ? uv_hrtime() : 0;
        c->slice_began = began;
        if (c->yielded != NULL) {
            /* A yielded handler goes on before anything after it starts,
             * as Kafka processes one request of a connection at a time. */
            struct kafka_request *req = c->yielded;
            void (*resume)(struct kafka_request *) = c->yield_resume;
            c->yielded = NULL;
            c->yield_resume = NULL;
            req->on_cancel = NULL; /* set again if it yields again */
            c->resuming = true;
            resume(req);
            c->resuming = false;
        } else {
            struct kafka_request *req = c->next_start;
            c->next_start = req->next; /* read first: the handler may complete and free req */
            req->state = REQ_HANDLING;
            c->on_request(req, c->data);
        }
        if (budget != NULL) {
            iteration_budget_charge(budget, uv_hrtime() - began);
        }
    }
}

bool kafka_request_budget_spent(const struct kafka_request *req)
{
    const struct kafka_conn *c = req->conn;
    if (c->opts.iteration_budget == NULL) {
        return false;
    }
    return !iteration_budget_has_room_with(c->opts.iteration_budget, uv_hrtime() - c->slice_began);
}

void kafka_request_yield(struct kafka_request *req, void (*resume)(struct kafka_request *req),
                         void (*cancel)(struct kafka_request *req))
{
    struct kafka_conn *c = req->conn;
    req->on_cancel = cancel;
    if (c->aborted) {
        req->on_cancel = NULL;
        cancel(req);
        return;
    }
    /* Closed by the peer or by us (not aborted): the request was read, so
     * it is processed to the end as Kafka does and only the answer is
     * dropped; an acks=0 Produce must not lose its later partitions. */
    c->yielded = req;
    c->yield_resume = resume;
    /* The handler was called by start_waiting (as a new request or
     * resumed) and returns right after this: that loop charges its time,
     * then resumes it at once if there is still room, else queues the
     * connection for a later iteration. */
}

/* Whether nothing may be framed or read now: a request waits to start or
 * a handler to go on. */
static bool blocked(const struct kafka_conn *c)
{
    return c->next_start != NULL || c->yielded != NULL;
}

/* Keep `len` bytes read behind a waiting request, charged to the request
 * budget like a partial frame until they are framed. They are charged
 * without asking for room, which cannot deadlock: they were read already,
 * and are framed (and released) as soon as the request in front starts,
 * which the iteration budget grants in a later iteration whatever the
 * request budget holds. While they are charged the connection holds more
 * than a frame, so it is not the one reader let past a spent budget. */
static void hold(struct kafka_conn *c, const uint8_t *data, size_t len)
{
    uint8_t *p = realloc(c->held, c->held_len + len);
    if (p == NULL) {
        kafka_conn_fail(c, "out of memory for request");
        return;
    }
    memcpy(p + c->held_len, data, len);
    c->held = p;
    c->held_len += len;
    if (c->opts.budget != NULL) {
        request_budget_charge(c->opts.budget, &c->budget_reader, len);
        c->held_charged += len;
    }
}

/* Frame `data` and start each request as its frame completes. Once one
 * has to wait, the rest is held and framed after it started: the handler
 * of one request may change how the next is framed (SaslHandshake v0's
 * raw tokens). */
static void consume(struct kafka_conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len && !c->closing) {
        if (blocked(c)) {
            hold(c, data + off, len - off);
            return;
        }
        size_t used;
        enum frame_status st = frame_reader_feed(&c->frames, data + off, len - off, &used);
        off += used;
        charge_partial(c);
        if (st == FRAME_READY) {
            enqueue_request(c);
            start_waiting(c);
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
        if (blocked(c) || c->held != NULL) {
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
    if (tls_flush(c, false) < 0) {
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

/* A later iteration has room: start what waits, then frame what was held
 * behind it (which may wait again). */
static void on_iteration_room(struct iteration_budget_waiter *w)
{
    struct kafka_conn *c =
        (struct kafka_conn *)((char *)w - offsetof(struct kafka_conn, budget_waiter));
    if (c->closing) { /* a yielded handler going on after the close */
        start_waiting(c);
        conn_maybe_free(c);
        return;
    }
    start_waiting(c);
    if (!blocked(c) && c->held != NULL && !c->closing) {
        uint8_t *held = c->held;
        size_t len = c->held_len;
        c->held = NULL;
        c->held_len = 0;
        held_release(c); /* framing charges what it keeps */
        consume(c, held, len);
        free(held);
    }
    if (c->close_when_started && !c->closing && !blocked(c) && c->held == NULL) {
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
                c->pending_bytes < c->opts.max_pending_bytes && !blocked(c) &&
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
    c->budget_waiter.resume = on_iteration_room;
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
