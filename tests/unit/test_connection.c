/* broker/kafka/connection: a real libuv connection driven by a plain client
 * socket on loopback. Responses must leave in request order even when they
 * complete out of order, dropped requests (acks=0) leave no trace, and a
 * frame above the limit closes the connection, a spent request budget pauses
 * reading until an answer goes out, and a half-sent frame times out. A
 * response larger than the socket buffers goes out whole to a slow reader,
 * unless it became stale (response_stale) meanwhile: then the connection is
 * closed before the rest is sent. With an iteration budget, requests
 * that find it spent wait, in order and with nothing more read, for a later
 * iteration; closing while they wait frees them. A handler that yielded
 * goes on to the end when the connection closes, and is cancelled only
 * when the broker stops (kafka_conn_abort). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "broker/kafka/connection.h"
#include "broker/kafka/request_budget.h"
#include "common/iteration_budget.h"
#include "common/bigendian.h"
#include "tests/unit/check_main.h"

struct fixture {
    uv_loop_t loop;
    uv_tcp_t server;
    struct kafka_conn *conns;
    struct kafka_conn_options opts;
    struct kafka_request *held[8]; /* requests completed later by the test */
    size_t n_held;
    int requests, closed;
    int client;
    bool stale;                         /* what response_stale answers */
    struct iteration_budget *iteration; /* charged whole by tag 'X' (may be NULL) */
    char started[32];                   /* tags of the requests started, in order */
    const uint8_t *last_frame;          /* the body of the request started last */
    int yield_resumed, yield_cancelled; /* tag 'Y' */
    int slices_done;                    /* tag 'P': partitions "appended" */
};

/* Tag 'P' models a Produce of PRODUCE_SLICES partitions that appends one
 * per slice and yields in between (handle_produce.c's append_some). */
#define PRODUCE_SLICES 3

#define BIG_RESPONSE        (4u << 20)  /* far above SMALL_SOCKET_BUFFER */
#define SMALL_SOCKET_BUFFER (64 * 1024) /* the kernel doubles it */

static void yield_resume(struct kafka_request *req)
{
    struct fixture *f = req->data;
    f->yield_resumed++;
    kafka_request_complete(req);
}

static void yield_cancel(struct kafka_request *req)
{
    struct fixture *f = req->data;
    f->yield_cancelled++;
    kafka_request_drop(req);
}

/* Append the next partition; yield while more are left. */
static void produce_slice(struct kafka_request *req)
{
    struct fixture *f = req->data;
    f->slices_done++;
    if (f->slices_done < PRODUCE_SLICES) {
        iteration_budget_charge(f->iteration, f->iteration->limit_ns);
        ck_assert(kafka_request_budget_spent(req));
        kafka_request_yield(req, produce_slice, yield_cancel);
        return;
    }
    kafka_request_complete(req);
}

/* Respond with the frame's first 8 bytes (api key, version, correlation id)
 * framed; tag byte 'D' drops, 'H' holds for the test to complete later. */
static void on_request(struct kafka_request *req, void *data)
{
    struct fixture *f = data;
    char tag = (char)req->frame[8];
    f->last_frame = req->frame;
    if ((size_t)f->requests < sizeof f->started) {
        f->started[f->requests] = tag;
    }
    f->requests++;
    if (tag == 'X') { /* an expensive request: it spends the iteration's budget */
        iteration_budget_charge(f->iteration, f->iteration->limit_ns);
    }
    buf_append_be32(&req->response.bytes, 0);
    buf_append(&req->response.bytes, req->frame, 8);
    if (tag == 'B') {
        for (size_t i = 0; i < BIG_RESPONSE; i++) {
            buf_append(&req->response.bytes, &(uint8_t){(uint8_t)i}, 1);
        }
    }
    if (tag == 'Y') { /* spends the budget, yields and completes when resumed */
        iteration_budget_charge(f->iteration, f->iteration->limit_ns);
        ck_assert(kafka_request_budget_spent(req));
        req->data = f;
        kafka_request_yield(req, yield_resume, yield_cancel);
    } else if (tag == 'P') {
        req->data = f;
        produce_slice(req);
    } else if (tag == 'D') {
        kafka_request_drop(req);
    } else if (tag == 'H') {
        f->held[f->n_held++] = req;
    } else {
        kafka_request_complete(req);
    }
}

static void on_closed(struct kafka_conn *c, void *data)
{
    (void)c;
    ((struct fixture *)data)->closed++;
}

static void on_connection(uv_stream_t *s, int status)
{
    struct fixture *f = s->data;
    ck_assert_int_eq(status, 0);
    struct kafka_conn *conn;
    ck_assert_int_eq(kafka_conn_accept(s, &f->opts, on_request, on_closed, f, &conn), 0);
}

static bool response_stale(void *data, uint64_t built_ms, uint64_t now_ms);

/* A non-blocking client socket connected to the fixture's server (with
 * `rcvbuf` > 0, that receive buffer), once the connection is accepted with
 * f->opts as they are now: it is f->conns then. */
static int connect_client(struct fixture *f, int rcvbuf)
{
    struct sockaddr_in addr;
    int len = sizeof addr;
    uv_tcp_getsockname(&f->server, (struct sockaddr *)&addr, &len);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) {
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    }
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    struct kafka_conn *before = f->conns;
    for (int i = 0; i < 100 && f->conns == before; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    ck_assert_ptr_ne(f->conns, before);
    return fd;
}

/* Connect a client to a connection accepted with these options (with
 * stale_check, responses ask response_stale before they go out, and the
 * socket buffers are SMALL_SOCKET_BUFFER; with `iteration`, that budget is
 * initialised on the fixture's loop and shared). */
static void setup_fixture_full(struct fixture *f, int32_t max_request,
                               struct request_budget *budget, uint64_t frame_timeout_ms,
                               bool stale_check, struct iteration_budget *iteration)
{
    memset(f, 0, sizeof *f);
    uv_loop_init(&f->loop);
    if (iteration != NULL) {
        ck_assert_int_eq(iteration_budget_init(iteration, &f->loop, 0), 0);
        f->iteration = iteration;
    }
    uv_tcp_init(&f->loop, &f->server);
    f->server.data = f;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ck_assert_int_eq(uv_tcp_bind(&f->server, (struct sockaddr *)&addr, 0), 0);
    if (stale_check) {
        /* Small, fixed socket buffers on both ends (the accepted socket
         * inherits the listener's), so a BIG_RESPONSE cannot fit in them:
         * autotuned loopback buffers can grow to hold all of it (tcp_wmem's
         * maximum is 4 MiB, tcp_rmem's can be 32 MiB), and then it was sent
         * whole before the test could make it stale. */
        int size = SMALL_SOCKET_BUFFER;
        ck_assert_int_eq(uv_send_buffer_size((uv_handle_t *)&f->server, &size), 0);
    }
    ck_assert_int_eq(uv_listen((uv_stream_t *)&f->server, 8, on_connection), 0);
    f->opts = (struct kafka_conn_options){.max_request_bytes = max_request,
                                          .idle_timeout_ms = 60000,
                                          .max_in_flight = 64,
                                          .max_pending_bytes = 1 << 20,
                                          .listener_name = "TEST",
                                          .plaintext = true,
                                          .registry = &f->conns,
                                          .budget = budget,
                                          .iteration_budget = iteration,
                                          .frame_timeout_ms = frame_timeout_ms};
    if (stale_check) {
        f->opts.response_stale = response_stale;
        f->opts.response_stale_data = f;
    }
    f->client = connect_client(f, stale_check ? SMALL_SOCKET_BUFFER : 0);
}

static void setup_fixture_with(struct fixture *f, int32_t max_request,
                               struct request_budget *budget, uint64_t frame_timeout_ms)
{
    setup_fixture_full(f, max_request, budget, frame_timeout_ms, false, NULL);
}

static void setup_fixture(struct fixture *f, int32_t max_request)
{
    setup_fixture_with(f, max_request, NULL, 0);
}

static void teardown_fixture(struct fixture *f)
{
    close(f->client);
    for (struct kafka_conn *c = f->conns, *next; c != NULL; c = next) {
        next = kafka_conn_next(c);
        kafka_conn_abort(c); /* may free `c` */
    }
    uv_close((uv_handle_t *)&f->server, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

/* A request frame of `size` bytes after the size prefix: header-ish 8
 * bytes (key 18, version 0, correlation id), then the tag byte and zeros. */
static size_t make_frame_sized(uint8_t *out, size_t size, int32_t corr, char tag)
{
    be32_store(out, (uint32_t)size);
    be16_store(out + 4, 18);
    be16_store(out + 6, 0);
    be32_store(out + 8, (uint32_t)corr);
    out[12] = (uint8_t)tag;
    memset(out + 13, 0, size - 9);
    return 4 + size;
}

/* The smallest: padded to the minimum size. */
static size_t make_frame(uint8_t *out, int32_t corr, char tag)
{
    return make_frame_sized(out, 12, corr, tag);
}

/* Send `len` bytes in chunks of 1..7 bytes, running the loop in between. */
static void send_chunked(struct fixture *f, const uint8_t *p, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t n = 1 + (size_t)rand() % 7;
        n = n < len - off ? n : len - off;
        ck_assert_int_eq(send(f->client, p + off, n, 0), (ssize_t)n);
        off += n;
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    for (int i = 0; i < 20; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
}

/* Read what the broker sent so far (non-blocking, after pumping the loop). */
static size_t drain(struct fixture *f, uint8_t *out, size_t cap, int *eof)
{
    size_t got = 0;
    *eof = 0;
    for (int i = 0; i < 50; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        ssize_t n = recv(f->client, out + got, cap - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0 || (n < 0 && errno != EAGAIN)) {
            *eof = 1;
            break;
        }
    }
    return got;
}

START_TEST(test_responses_in_request_order)
{
    struct fixture f;
    setup_fixture(&f, 1024);
    srand(99);
    uint8_t stream[64];
    size_t len = make_frame(stream, 1, 'H');
    len += make_frame(stream + len, 2, 'C');
    len += make_frame(stream + len, 3, 'D');
    len += make_frame(stream + len, 4, 'C');
    send_chunked(&f, stream, len);
    ck_assert_int_eq(f.requests, 4);
    uint8_t got[256];
    int eof;
    /* Request 1 is held: nothing may be written yet, though 2 and 4 are done. */
    ck_assert_uint_eq(drain(&f, got, sizeof got, &eof), 0);
    ck_assert_int_eq(eof, 0);
    kafka_request_complete(f.held[0]);
    size_t n = drain(&f, got, sizeof got, &eof);
    ck_assert_uint_eq(n, 3 * 12); /* 1, 2 and 4; 3 was dropped */
    int32_t expect[] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(be32_load(got + 12 * i), 8);
        ck_assert_uint_eq(be32_load(got + 12 * i + 8), (uint32_t)expect[i]);
    }
    teardown_fixture(&f);
}
END_TEST

START_TEST(test_oversized_frame_closes)
{
    struct fixture f;
    setup_fixture(&f, 100);
    uint8_t claim[8] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    ck_assert_int_eq(send(f.client, claim, sizeof claim, 0), (ssize_t)sizeof claim);
    uint8_t got[16];
    int eof;
    drain(&f, got, sizeof got, &eof);
    ck_assert_int_eq(eof, 1);
    ck_assert_int_eq(f.requests, 0);
    for (int i = 0; i < 10; i++) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    ck_assert_int_eq(f.closed, 1); /* freed, and unlinked from the registry */
    ck_assert_ptr_null(f.conns);
    teardown_fixture(&f);
}
END_TEST

START_TEST(test_request_outlives_closed_connection)
{
    struct fixture f;
    setup_fixture(&f, 1024);
    uint8_t frame[16];
    send_chunked(&f, frame, make_frame(frame, 5, 'H'));
    ck_assert_uint_eq(f.n_held, 1);
    close(f.client);
    f.client = socket(AF_INET, SOCK_STREAM, 0); /* for teardown */
    for (int i = 0; i < 50; i++) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    /* The peer is gone, but the held request is still ours to complete; the
     * connection is freed only then. */
    ck_assert_int_eq(f.closed, 0);
    kafka_request_complete(f.held[0]);
    ck_assert_int_eq(f.closed, 1);
    teardown_fixture(&f);
}
END_TEST

/* Run the loop a few times without blocking. */
static void spin(struct fixture *f, int times)
{
    for (int i = 0; i < times; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
}

/* Alone on a 60-byte budget a connection's share is 30: with two 12-byte
 * requests unanswered the third frame's buffer takes it to 36 and reading
 * stops there, mid-frame, until an answer goes out. */
START_TEST(test_spent_budget_pauses_reading_until_answered)
{
    struct fixture f;
    struct request_budget budget;
    request_budget_init(&budget, 60);
    setup_fixture_with(&f, 1024, &budget, 0);
    uint8_t frame[16];
    for (int i = 0; i < 3; i++) {
        send_chunked(&f, frame, make_frame(frame, i, 'H'));
    }
    ck_assert_int_eq(f.requests, 2);
    ck_assert_uint_eq(budget.used, 36);
    ck_assert_ptr_nonnull(budget.head);
    ck_assert_uint_ge(budget.share_pauses, 1);
    /* The fourth frame waits in the socket, not in our memory. */
    send_chunked(&f, frame, make_frame(frame, 3, 'C'));
    spin(&f, 20);
    ck_assert_int_eq(f.requests, 2);
    /* One answer gives back 12 bytes: reading resumes and the rest of the
     * third frame and the whole fourth arrive (one read; the check is
     * between reads, so a reader may pass its share by what one read
     * holds). */
    kafka_request_complete(f.held[0]);
    spin(&f, 20);
    ck_assert_int_eq(f.requests, 4);
    kafka_request_complete(f.held[1]);
    kafka_request_complete(f.held[2]);
    spin(&f, 20);
    ck_assert_uint_eq(budget.used, 0);
    ck_assert_uint_eq(budget.contenders, 0);
    teardown_fixture(&f);
    ck_assert_uint_eq(budget.used, 0);
}
END_TEST

/* A connection with an iteration budget of handler time on the loop. */
static void setup_fixture_iteration(struct fixture *f, struct iteration_budget *ib)
{
    setup_fixture_full(f, 1024, NULL, 0, false, ib);
}

static void teardown_fixture_iteration(struct fixture *f, struct iteration_budget *ib)
{
    iteration_budget_close(ib);
    teardown_fixture(f);
}

/* Run the loop one iteration at a time until `n` requests started. */
static int iterations_until(struct fixture *f, int n)
{
    int i = 0;
    while (f->requests < n && i < 1000) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        i++;
    }
    ck_assert_int_ge(f->requests, n);
    return i;
}

/* Three pipelined frames in one read: the first spends the iteration's
 * budget, so the second waits (and the third, held behind it, is not even
 * framed) until the next iteration, then both start in order and every
 * answer goes out in request order. */
START_TEST(test_spent_iteration_budget_defers_the_rest_in_order)
{
    struct fixture f;
    struct iteration_budget ib;
    setup_fixture_iteration(&f, &ib);
    uint8_t frames[48];
    size_t len = make_frame(frames, 1, 'X');
    len += make_frame(frames + len, 2, 'C');
    len += make_frame(frames + len, 3, 'X');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 1);
    ck_assert_int_eq(f.requests, 1);
    ck_assert_uint_eq(ib.n_waiting, 1);
    uv_run(&f.loop, UV_RUN_NOWAIT); /* the next iteration's prepare resumes it */
    ck_assert_int_eq(f.requests, 3);
    ck_assert(memcmp(f.started, "XCX", 3) == 0);
    /* The last 'X' spent this iteration too: a fourth request waits again. */
    len = make_frame(frames, 4, 'C');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 4);
    uint8_t out[256];
    int eof;
    size_t got = drain(&f, out, sizeof out, &eof);
    ck_assert_uint_eq(got, 4 * 12);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(be32_load(out + 12 * i + 8), (uint32_t)(i + 1));
    }
    ck_assert_uint_ge(ib.waits, 1);
    teardown_fixture_iteration(&f, &ib);
}
END_TEST

/* Closing a connection whose requests wait for the budget frees them (and
 * what was held behind them) without ever starting them (ASan checks the
 * rest). */
START_TEST(test_close_while_requests_wait_for_the_budget)
{
    struct fixture f;
    struct iteration_budget ib;
    setup_fixture_iteration(&f, &ib);
    uint8_t frames[64];
    size_t len = make_frame(frames, 1, 'X');
    len += make_frame(frames + len, 2, 'C');
    len += make_frame(frames + len, 3, 'C');
    len += make_frame(frames + len, 4, 'C');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 1);
    ck_assert_uint_eq(ib.n_waiting, 1);
    kafka_conn_close(f.conns);
    ck_assert_uint_eq(ib.n_waiting, 0);
    spin(&f, 5);
    ck_assert_int_eq(f.requests, 1);
    ck_assert_int_eq(f.closed, 1);
    teardown_fixture_iteration(&f, &ib);
}
END_TEST

/* A handler that yields goes on in the next iteration before the request
 * behind it (read in the same read) starts; answers stay in order. */
START_TEST(test_yielded_handler_goes_on_before_the_next_request)
{
    struct fixture f;
    struct iteration_budget ib;
    setup_fixture_iteration(&f, &ib);
    uint8_t frames[32];
    size_t len = make_frame(frames, 1, 'Y');
    len += make_frame(frames + len, 2, 'C');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 1);
    ck_assert_int_eq(f.requests, 1);
    ck_assert_int_eq(f.yield_resumed, 0);
    ck_assert_uint_eq(ib.n_waiting, 1);
    uv_run(&f.loop, UV_RUN_NOWAIT); /* resumed, then the next one starts */
    ck_assert_int_eq(f.yield_resumed, 1);
    ck_assert_int_eq(f.requests, 2);
    ck_assert(memcmp(f.started, "YC", 2) == 0);
    uint8_t out[64];
    int eof;
    size_t got = drain(&f, out, sizeof out, &eof);
    ck_assert_uint_eq(got, 2 * 12);
    ck_assert_uint_eq(be32_load(out + 8), 1);
    ck_assert_uint_eq(be32_load(out + 12 + 8), 2);
    teardown_fixture_iteration(&f, &ib);
}
END_TEST

/* The client resets the connection while a Produce-like handler has
 * yielded after its first partition: the connection closes (writing the
 * answer to the request before it fails), yet the handler is resumed until
 * every partition is appended, as Kafka processes a request that was read
 * whatever became of its connection; the request behind it never starts,
 * nothing is answered, and the connection is freed once the handler
 * completed (ASan checks the rest). On the old code the close cancelled
 * the handler with one partition of three appended. */
START_TEST(test_peer_reset_while_a_handler_has_yielded_lets_it_finish)
{
    struct fixture f;
    struct iteration_budget ib;
    setup_fixture_iteration(&f, &ib);
    uint8_t frames[48];
    size_t len = make_frame(frames, 1, 'H');
    len += make_frame(frames + len, 2, 'P');
    len += make_frame(frames + len, 3, 'C');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 2);
    ck_assert_int_eq(f.slices_done, 1);
    ck_assert_uint_eq(ib.n_waiting, 1);
    /* A reset, not a FIN: the answer to request 1 then fails to go out. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ck_assert_int_eq(setsockopt(f.client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(f.client);
    f.client = socket(AF_INET, SOCK_STREAM, 0); /* for teardown_fixture to close */
    kafka_request_complete(f.held[0]);
    for (int i = 0; i < 100 && f.closed == 0; i++) {
        uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    ck_assert_int_eq(f.slices_done, PRODUCE_SLICES);
    ck_assert_int_eq(f.yield_cancelled, 0);
    ck_assert_int_eq(f.requests, 2);
    ck_assert_int_eq(f.closed, 1);
    ck_assert_uint_eq(ib.n_waiting, 0);
    teardown_fixture_iteration(&f, &ib);
}
END_TEST

/* A connection closed for a protocol error while a handler has yielded
 * lets the handler go on; the broker stopping (kafka_conn_abort) then
 * cancels it, once, and frees the connection. */
START_TEST(test_abort_cancels_a_handler_left_going_on_by_a_close)
{
    struct fixture f;
    struct iteration_budget ib;
    setup_fixture_iteration(&f, &ib);
    uint8_t frames[16];
    size_t len = make_frame(frames, 1, 'P');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 1);
    kafka_conn_fail(f.conns, "test: protocol error");
    ck_assert_int_eq(f.yield_cancelled, 0);
    ck_assert_uint_eq(ib.n_waiting, 1);
    kafka_conn_abort(f.conns);
    ck_assert_int_eq(f.yield_cancelled, 1);
    ck_assert_uint_eq(ib.n_waiting, 0);
    spin(&f, 5);
    ck_assert_int_eq(f.slices_done, 1);
    ck_assert_int_eq(f.closed, 1);
    ck_assert_ptr_null(f.conns);
    teardown_fixture_iteration(&f, &ib);
}
END_TEST

/* Stopping the broker (kafka_conn_abort) while a handler has yielded
 * cancels it instead (once), and the request behind it never starts. */
START_TEST(test_abort_while_a_handler_has_yielded_cancels_it)
{
    struct fixture f;
    struct iteration_budget ib;
    setup_fixture_iteration(&f, &ib);
    uint8_t frames[32];
    size_t len = make_frame(frames, 1, 'Y');
    len += make_frame(frames + len, 2, 'C');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 1);
    kafka_conn_abort(f.conns);
    ck_assert_int_eq(f.yield_cancelled, 1);
    ck_assert_uint_eq(ib.n_waiting, 0);
    spin(&f, 5);
    ck_assert_int_eq(f.yield_resumed, 0);
    ck_assert_int_eq(f.requests, 1);
    ck_assert_int_eq(f.closed, 1);
    teardown_fixture_iteration(&f, &ib);
}
END_TEST

/* Bytes held behind a waiting request count in queued.max.request.bytes
 * until they are framed, and are given back on close. */
START_TEST(test_held_bytes_are_charged_to_the_request_budget)
{
    struct fixture f;
    struct iteration_budget ib;
    struct request_budget budget;
    request_budget_init(&budget, 1000);
    setup_fixture_full(&f, 1024, &budget, 0, false, &ib);
    uint8_t frames[48];
    size_t len = make_frame(frames, 1, 'X');
    len += make_frame(frames + len, 2, 'C');
    len += make_frame(frames + len, 3, 'H');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 1);
    ck_assert_int_eq(f.requests, 1);
    /* 'X' was answered; 'C' waits (its 12 bytes) and the third frame is
     * held whole, size included. */
    ck_assert_uint_eq(budget.used, 12 + 16);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(f.requests, 3);
    spin(&f, 5);
    ck_assert_uint_eq(budget.used, 12); /* only the held 'H' request */
    kafka_request_complete(f.held[0]);
    spin(&f, 5);
    ck_assert_uint_eq(budget.used, 0);
    /* Closing while bytes are held gives them back. */
    len = make_frame(frames, 4, 'X');
    len += make_frame(frames + len, 5, 'C');
    len += make_frame(frames + len, 6, 'C');
    ck_assert_int_eq(send(f.client, frames, len, 0), (ssize_t)len);
    iterations_until(&f, 4);
    ck_assert_uint_eq(budget.used, 12 + 16);
    kafka_conn_close(f.conns);
    spin(&f, 5);
    ck_assert_uint_eq(budget.used, 0);
    teardown_fixture_iteration(&f, &ib);
    ck_assert_uint_eq(budget.used, 0);
}
END_TEST

START_TEST(test_half_sent_frame_times_out)
{
    struct fixture f;
    setup_fixture_with(&f, 1024, NULL, 50);
    uint8_t frame[16];
    make_frame(frame, 1, 'C');
    ck_assert_int_eq(send(f.client, frame, 6, 0), 6); /* size and two more bytes */
    uint64_t start = uv_now(&f.loop);
    while (f.closed == 0 && uv_now(&f.loop) - start < 10000) {
        uv_run(&f.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(f.closed, 1);
    ck_assert_int_eq(f.requests, 0);
    teardown_fixture(&f);
}
END_TEST

static bool response_stale(void *data, uint64_t built_ms, uint64_t now_ms)
{
    (void)built_ms;
    (void)now_ms;
    return ((struct fixture *)data)->stale;
}

/* Read everything until EOF or `want` bytes, pumping the loop. Bounded by
 * time, not by loop turns: on a loaded machine loopback segments can wait
 * for ksoftirqd, and a spin of a fixed number of turns ran out before the
 * rest arrived. Between turns it sleeps in poll() until the client socket or
 * the loop has something to do. */
static size_t read_big(struct fixture *f, uint8_t *out, size_t want, int *eof)
{
    size_t got = 0;
    *eof = 0;
    uint64_t deadline = uv_hrtime() + 60ull * 1000 * 1000 * 1000;
    while (got < want && !*eof && uv_hrtime() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        ssize_t n = recv(f->client, out + got, want - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0 || (n < 0 && errno != EAGAIN)) {
            *eof = 1;
        } else {
            struct pollfd fds[2] = {{.fd = f->client, .events = POLLIN},
                                    {.fd = uv_backend_fd(&f->loop), .events = POLLIN}};
            (void)poll(fds, 2, 50);
        }
    }
    return got;
}

START_TEST(test_big_response_goes_out_whole_unless_stale)
{
    for (int stale = 0; stale <= 1; stale++) {
        struct fixture f;
        setup_fixture_full(&f, 1024, NULL, 0, true, NULL);
        uint8_t frame[16];
        send_chunked(&f, frame, make_frame(frame, 9, 'B'));
        ck_assert_int_eq(f.requests, 1);
        size_t total = 12 + BIG_RESPONSE;
        uint8_t *got = malloc(total);
        int eof;
        /* The socket takes part; the rest waits until the client reads. */
        size_t first = read_big(&f, got, 4096, &eof);
        ck_assert_uint_eq(first, 4096);
        f.stale = stale;
        size_t n = first + read_big(&f, got + first, total - first, &eof);
        if (stale) {
            ck_assert_int_eq(eof, 1);
            ck_assert_uint_lt(n, total);
        } else {
            ck_assert_uint_eq(n, total);
            ck_assert_uint_eq(be32_load(got), total - 4);
            ck_assert_uint_eq(be32_load(got + 8), 9);
            for (size_t i = 0; i < BIG_RESPONSE; i += 4099) {
                ck_assert_uint_eq(got[12 + i], (uint8_t)i);
            }
        }
        free(got);
        teardown_fixture(&f);
    }
}
END_TEST

static void no_resume(struct request_budget_reader *r)
{
    (void)r;
}

START_TEST(test_budget_lets_one_frame_finish_past_the_limit)
{
    struct request_budget b;
    request_budget_init(&b, 100);
    struct request_budget_reader x = {.resume = no_resume}, y = {.resume = no_resume};
    request_budget_charge(&b, &x, 40);                     /* x's frame so far */
    request_budget_charge(&b, &y, 60);                     /* y's */
    ck_assert(!request_budget_may_read(&b, &x, false, 0)); /* between frames: wait */
    ck_assert(request_budget_may_read(&b, &x, true, 40));  /* mid-frame: finish it */
    ck_assert(!request_budget_may_read(&b, &y, true, 60)); /* only one at a time */
    request_budget_frame_done(&b, &x);
    ck_assert(request_budget_may_read(&b, &y, true, 60));
    request_budget_frame_done(&b, &y);
    request_budget_release(&b, &y, 60);
    ck_assert(request_budget_may_read(&b, &x, false, 0));
    request_budget_release(&b, &x, 40);
    ck_assert_uint_eq(b.used, 0);
    ck_assert_uint_eq(b.contenders, 0);
}
END_TEST

static int resumed;

static void count_resume(struct request_budget_reader *r)
{
    (void)r;
    resumed++;
}

/* One reader pipelining big requests it never has answered stops at its
 * share, leaving room for the next: half the limit alone, a third with one
 * more contender. */
START_TEST(test_budget_share_leaves_room_for_others)
{
    struct request_budget b;
    request_budget_init(&b, 90);
    struct request_budget_reader hog = {.resume = count_resume};
    struct request_budget_reader good = {.resume = count_resume};
    ck_assert_uint_eq(request_budget_share(&b, &hog), 45);
    request_budget_charge(&b, &hog, 40); /* a whole request, unanswered */
    ck_assert(request_budget_may_read(&b, &hog, false, 0));
    request_budget_charge(&b, &hog, 10); /* 50 >= 45 */
    ck_assert(!request_budget_may_read(&b, &hog, false, 0));
    ck_assert(!request_budget_may_read(&b, &hog, true, 5)); /* its answers free it */
    request_budget_wait(&b, &hog);
    ck_assert_uint_eq(b.share_pauses, 1);
    /* The newcomer finds room; with two contenders a share is 30. */
    ck_assert_uint_eq(request_budget_share(&b, &good), 30);
    ck_assert(request_budget_may_read(&b, &good, false, 0));
    request_budget_charge(&b, &good, 35); /* one frame of its own, past its share */
    /* It must finish it: more than half is used, so as the one past it. */
    ck_assert(request_budget_may_read(&b, &good, true, 35));
    ck_assert_ptr_eq(b.overshoot, &good);
    resumed = 0;
    request_budget_frame_done(&b, &good); /* the place past the limit is free: waiters retry */
    ck_assert_int_eq(resumed, 1);
    ck_assert(!request_budget_may_read(&b, &hog, false, 0));
    request_budget_wait(&b, &hog);
    /* The hog's answer goes out: a release with room resumes it, and it
     * may read again once under its share. */
    resumed = 0;
    request_budget_release(&b, &hog, 40);
    ck_assert_int_eq(resumed, 1);
    ck_assert_uint_eq(b.contenders, 2);
    ck_assert(request_budget_may_read(&b, &hog, false, 0));
    /* A reader holding nothing but a frame bigger than its share finishes it. */
    request_budget_release(&b, &good, 35);
    request_budget_release(&b, &hog, 10);
    ck_assert_uint_eq(b.contenders, 0);
    request_budget_charge(&b, &hog, 40);
    ck_assert(request_budget_may_read(&b, &hog, true, 40)); /* under half the budget */
    request_budget_charge(&b, &hog, 20);
    ck_assert(request_budget_may_read(&b, &hog, true, 60)); /* past it, alone */
    ck_assert_ptr_eq(b.overshoot, &hog);
    request_budget_frame_done(&b, &hog);
    request_budget_release(&b, &hog, 60);
    /* Unlimited: no share. */
    struct request_budget u;
    request_budget_init(&u, 0);
    ck_assert(request_budget_share(&u, &hog) == SIZE_MAX);
    request_budget_charge(&u, &hog, 1000);
    ck_assert(request_budget_may_read(&u, &hog, false, 0));
}
END_TEST

/* Send all of `p` on `fd` as the socket takes it, then run the loop until
 * `requests` requests have started in all (bounded by time: loopback under
 * load may wait for ksoftirqd). */
static void send_until_started(struct fixture *f, int fd, const uint8_t *p, size_t len,
                               int requests)
{
    size_t off = 0;
    uint64_t deadline = uv_hrtime() + 30ull * 1000 * 1000 * 1000;
    while ((off < len || f->requests < requests) && uv_hrtime() < deadline) {
        ssize_t n = off < len ? send(fd, p + off, len - off, 0) : 0;
        if (n > 0) {
            off += (size_t)n;
        } else {
            ck_assert(n == 0 || errno == EAGAIN);
            struct pollfd pfd = {.fd = uv_backend_fd(&f->loop), .events = POLLIN};
            (void)poll(&pfd, 1, 10);
        }
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    ck_assert_int_eq(f->requests, requests);
}

/* A large request body: grown from FRAME_INITIAL_ALLOC to its size. */
#define LARGE_REQUEST (200 * 1024)

/* When a large request is freed its body goes back to its connection's
 * reader, whose next large request is received into it, while the bodies
 * kept by every connection together stay within the shared bound; a
 * connection's spare is freed, and its bytes counted out, when it closes.
 * On the old code every body was freed (nothing counted in `held`). */
START_TEST(test_large_request_bodies_are_kept_within_the_bound)
{
    struct fixture f;
    setup_fixture(&f, 1 << 20);
    struct kafka_frame_spares spares = {.limit = LARGE_REQUEST + LARGE_REQUEST / 2};
    f.opts.frame_spares = &spares;
    int a = connect_client(&f, 0);
    struct kafka_conn *conn_a = f.conns;
    int b = connect_client(&f, 0);
    uint8_t *large = malloc(4 + LARGE_REQUEST);
    uint8_t small[16];
    size_t len = make_frame_sized(large, LARGE_REQUEST, 1, 'C');
    send_until_started(&f, a, large, len, 1);
    ck_assert_uint_eq(spares.held, LARGE_REQUEST);
    const uint8_t *kept = f.last_frame;
    /* A small body is not kept; the spare waits for the next large one. */
    send_until_started(&f, a, small, make_frame(small, 2, 'C'), 2);
    ck_assert_ptr_ne(f.last_frame, kept);
    ck_assert_uint_eq(spares.held, LARGE_REQUEST);
    make_frame_sized(large, LARGE_REQUEST, 3, 'H');
    send_until_started(&f, a, large, len, 3);
    ck_assert_ptr_eq(f.last_frame, kept);
    ck_assert_uint_eq(spares.held, 0); /* the request holds it now */
    kafka_request_complete(f.held[0]);
    spin(&f, 5);
    ck_assert_uint_eq(spares.held, LARGE_REQUEST);
    /* Another connection's body would pass the bound: it is freed. */
    make_frame_sized(large, LARGE_REQUEST, 4, 'C');
    send_until_started(&f, b, large, len, 4);
    ck_assert_uint_eq(spares.held, LARGE_REQUEST);
    /* Closing the first connection frees its spare: now there is room. */
    kafka_conn_close(conn_a);
    ck_assert_uint_eq(spares.held, 0);
    send_until_started(&f, b, large, len, 5);
    ck_assert_uint_eq(spares.held, LARGE_REQUEST);
    free(large);
    close(a);
    close(b);
    teardown_fixture(&f);
    ck_assert_uint_eq(spares.held, 0);
}
END_TEST

/* With a request budget the spares are inside it. Three connections on a
 * 512 KiB budget: a keeps a LARGE_REQUEST spare; while b holds a large
 * request a's share (512 KiB / 3) is below the spare, so a's next large
 * request is not received into it (the spare is freed, the frame grows
 * and is charged as it grows). a's body, kept again once answered, is freed
 * when c's large request, charged as it grows, would take the requests and
 * the spares past the limit. On the old code a's frame took the spare past
 * its share and the spare stayed beside the requests past the limit. */
START_TEST(test_spares_stay_within_the_request_budget)
{
    struct fixture f;
    struct request_budget budget;
    request_budget_init(&budget, 512 * 1024);
    setup_fixture_with(&f, 1 << 20, &budget, 0);
    struct kafka_frame_spares spares = {.limit = 64u << 20};
    f.opts.frame_spares = &spares;
    int a = connect_client(&f, 0);
    int b = connect_client(&f, 0);
    int c = connect_client(&f, 0);
    uint8_t *large = malloc(4 + LARGE_REQUEST);
    size_t len = make_frame_sized(large, LARGE_REQUEST, 1, 'C');
    send_until_started(&f, a, large, len, 1);
    const uint8_t *kept = f.last_frame;
    ck_assert_uint_eq(spares.held, LARGE_REQUEST);
    make_frame_sized(large, LARGE_REQUEST, 2, 'H');
    send_until_started(&f, b, large, len, 2);
    ck_assert_uint_eq(budget.used, LARGE_REQUEST);
    ck_assert_uint_eq(spares.held, LARGE_REQUEST); /* both fit the limit */
    make_frame_sized(large, LARGE_REQUEST, 3, 'H');
    send_until_started(&f, a, large, len, 3);
    ck_assert_ptr_ne(f.last_frame, kept);
    ck_assert_uint_eq(spares.held, 0);
    ck_assert_uint_eq(budget.used, 2 * LARGE_REQUEST);
    kafka_request_complete(f.held[1]); /* a's: its body is kept again */
    spin(&f, 5);
    ck_assert_uint_eq(budget.used, LARGE_REQUEST);
    ck_assert_uint_eq(spares.held, LARGE_REQUEST);
    make_frame_sized(large, LARGE_REQUEST, 4, 'H');
    send_until_started(&f, c, large, len, 4);
    ck_assert_uint_eq(budget.used, 2 * LARGE_REQUEST);
    ck_assert_uint_eq(spares.held, 0); /* evicted as c was charged */
    ck_assert_ptr_null(spares.oldest);
    ck_assert_ptr_null(spares.newest);
    /* An answer frees room: the body is kept again, within the limit. */
    kafka_request_complete(f.held[0]);
    spin(&f, 5);
    ck_assert_uint_eq(spares.held, LARGE_REQUEST);
    ck_assert_uint_le(budget.used + spares.held, budget.limit);
    kafka_request_complete(f.held[2]);
    spin(&f, 5);
    ck_assert_uint_eq(budget.used, 0);
    free(large);
    close(a);
    close(b);
    close(c);
    teardown_fixture(&f);
    ck_assert_uint_eq(spares.held, 0);
    ck_assert_uint_eq(budget.used, 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("connection");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_responses_in_request_order);
    tcase_add_test(tc, test_oversized_frame_closes);
    tcase_add_test(tc, test_request_outlives_closed_connection);
    tcase_add_test(tc, test_spent_budget_pauses_reading_until_answered);
    tcase_add_test(tc, test_half_sent_frame_times_out);
    tcase_add_test(tc, test_budget_lets_one_frame_finish_past_the_limit);
    tcase_add_test(tc, test_budget_share_leaves_room_for_others);
    tcase_add_test(tc, test_big_response_goes_out_whole_unless_stale);
    tcase_add_test(tc, test_spent_iteration_budget_defers_the_rest_in_order);
    tcase_add_test(tc, test_close_while_requests_wait_for_the_budget);
    tcase_add_test(tc, test_yielded_handler_goes_on_before_the_next_request);
    tcase_add_test(tc, test_peer_reset_while_a_handler_has_yielded_lets_it_finish);
    tcase_add_test(tc, test_abort_cancels_a_handler_left_going_on_by_a_close);
    tcase_add_test(tc, test_abort_while_a_handler_has_yielded_cancels_it);
    tcase_add_test(tc, test_held_bytes_are_charged_to_the_request_budget);
    tcase_add_test(tc, test_large_request_bodies_are_kept_within_the_bound);
    tcase_add_test(tc, test_spares_stay_within_the_request_budget);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
