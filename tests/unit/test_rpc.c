/* The RPC layer on a real libuv loop over loopback: frames, server dispatch,
 * client timeouts and reconnection, and hostile input. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/bigendian.h"
#include "common/rpc_client.h"
#include "common/rpc_server.h"
#include "proto/controller.pb-c.h"
#include "proto/rpc.pb-c.h"
#include "tests/unit/check_main.h"

#define METHOD_ECHO    1 /* FetchMetadata messages: latest_offset = after_offset + 1 */
#define METHOD_LATER   2 /* answered from a timer 20 ms later */
#define METHOD_NEVER   3 /* parked; never answered by the handler */
#define TEST_MAX_FRAME 65536

struct fixture {
    uv_loop_t loop;
    struct rpc_server server;
    bool server_up;
    int port;
    struct rpc_call *parked[8];
    int n_parked;
    uv_timer_t later_timer;
    struct rpc_call *later_call;
};

struct result {
    bool done;
    int status;
    int32_t error;
    int64_t latest_offset;
    char payload[64];
    size_t payload_len;
};

static void echo_handler(struct rpc_call *call, void *arg)
{
    (void)arg;
    Sluice__Controller__FetchMetadataRequest *req =
        (Sluice__Controller__FetchMetadataRequest *)call->request;
    Sluice__Controller__FetchMetadataResponse resp =
        SLUICE__CONTROLLER__FETCH_METADATA_RESPONSE__INIT;
    resp.latest_offset = req->after_offset + 1;
    ck_assert_int_eq(rpc_call_respond(call, &resp.base, call->payload, call->payload_len), 0);
}

static void on_later(uv_timer_t *t)
{
    struct fixture *f = t->data;
    Sluice__Controller__FetchMetadataResponse resp =
        SLUICE__CONTROLLER__FETCH_METADATA_RESPONSE__INIT;
    resp.latest_offset = 777;
    rpc_call_respond(f->later_call, &resp.base, NULL, 0);
    f->later_call = NULL;
}

static void later_handler(struct rpc_call *call, void *arg)
{
    struct fixture *f = arg;
    f->later_call = call;
    uv_timer_start(&f->later_timer, on_later, 20, 0);
}

static void never_handler(struct rpc_call *call, void *arg)
{
    struct fixture *f = arg;
    ck_assert_int_lt(f->n_parked, 8);
    f->parked[f->n_parked++] = call;
}

static void server_start(struct fixture *f, int port)
{
    const ProtobufCMessageDescriptor *d = &sluice__controller__fetch_metadata_request__descriptor;
    rpc_server_init(&f->server, &f->loop, TEST_MAX_FRAME);
    ck_assert_int_eq(rpc_server_handle(&f->server, METHOD_ECHO, d, echo_handler, f), 0);
    ck_assert_int_eq(rpc_server_handle(&f->server, METHOD_LATER, d, later_handler, f), 0);
    ck_assert_int_eq(rpc_server_handle(&f->server, METHOD_NEVER, d, never_handler, f), 0);
    ck_assert_int_eq(rpc_server_handle(&f->server, METHOD_ECHO, d, echo_handler, f), -EINVAL);
    ck_assert_int_eq(rpc_server_listen(&f->server, "127.0.0.1", port), 0);
    f->port = rpc_server_port(&f->server);
    ck_assert_int_gt(f->port, 0);
    f->server_up = true;
}

static void on_server_closed(struct rpc_server *s)
{
    struct fixture *f = s->data;
    f->server_up = false;
}

static void server_stop(struct fixture *f)
{
    f->server.data = f;
    rpc_server_close(&f->server, on_server_closed);
    while (f->server_up) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    for (int i = 0; i < f->n_parked; i++) {
        rpc_call_fail(f->parked[i], RPC_ERROR_UNAVAILABLE, "test over"); /* orphaned: freed */
    }
    f->n_parked = 0;
}

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->later_timer);
    f->later_timer.data = f;
}

static void fixture_close(struct fixture *f)
{
    if (f->server_up) {
        server_stop(f);
    }
    uv_close((uv_handle_t *)&f->later_timer, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void on_guard(uv_timer_t *t)
{
    (void)t; /* only wakes the loop */
}

/* Run until *flag or `ms` of loop time pass. */
static void run_until(struct fixture *f, const bool *flag, uint64_t ms)
{
    uv_update_time(&f->loop);
    uint64_t end = uv_now(&f->loop) + ms;
    uv_timer_t guard;
    uv_timer_init(&f->loop, &guard);
    uv_timer_start(&guard, on_guard, ms, 0);
    while (!*flag && uv_now(&f->loop) < end) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void on_response(struct rpc_request *req, int status, const struct rpc_frame *resp)
{
    struct result *r = req->data;
    r->done = true;
    r->status = status;
    if (status != 0) {
        return;
    }
    r->error = resp->error;
    if (resp->error == 0) {
        Sluice__Controller__FetchMetadataResponse *m =
            sluice__controller__fetch_metadata_response__unpack(NULL, resp->body_len, resp->body);
        ck_assert_ptr_nonnull(m);
        r->latest_offset = m->latest_offset;
        sluice__controller__fetch_metadata_response__free_unpacked(m, NULL);
    }
    ck_assert_uint_le(resp->payload_len, sizeof r->payload);
    memcpy(r->payload, resp->payload, resp->payload_len);
    r->payload_len = resp->payload_len;
}

static int call(struct rpc_client *c, struct rpc_request *req, struct result *r, uint32_t method,
                int64_t after, const char *payload, uint64_t timeout_ms)
{
    Sluice__Controller__FetchMetadataRequest m = SLUICE__CONTROLLER__FETCH_METADATA_REQUEST__INIT;
    m.after_offset = after;
    memset(r, 0, sizeof *r);
    req->data = r;
    return rpc_client_call(c, req, method, 0, &m.base, payload,
                           payload != NULL ? strlen(payload) : 0, timeout_ms, on_response);
}

static void on_client_closed(struct rpc_client *c)
{
    *(bool *)c->data = true;
}

static void client_close(struct fixture *f, struct rpc_client *c)
{
    bool closed = false;
    c->data = &closed;
    rpc_client_close(c, on_client_closed);
    run_until(f, &closed, 2000);
    ck_assert(closed);
}

struct seen {
    int n;
    uint32_t method;
};

static int on_test_frame(const struct rpc_frame *fr, void *arg)
{
    struct seen *seen = arg;
    if (seen->n == 0) {
        ck_assert_uint_eq(fr->payload_len, 3);
        ck_assert_mem_eq(fr->payload, "raw", 3);
        ck_assert_uint_eq(fr->correlation_id, 99);
        ck_assert_uint_eq(fr->version, 2);
        Sluice__Controller__FetchMetadataRequest *m =
            sluice__controller__fetch_metadata_request__unpack(NULL, fr->body_len, fr->body);
        ck_assert_int_eq(m->after_offset, 42);
        sluice__controller__fetch_metadata_request__free_unpacked(m, NULL);
    } else {
        ck_assert_uint_eq(fr->body_len, 0);
        ck_assert_uint_eq(fr->payload_len, 0);
    }
    seen->n++;
    seen->method = fr->method;
    return 0;
}

START_TEST(test_frame_reader_byte_by_byte)
{
    struct buf b = BUF_INIT;
    Sluice__Controller__FetchMetadataRequest m = SLUICE__CONTROLLER__FETCH_METADATA_REQUEST__INIT;
    m.after_offset = 42;
    struct rpc_frame f = {.kind = RPC_REQUEST, .method = 7, .version = 2, .correlation_id = 99};
    ck_assert_int_eq(rpc_frame_encode(&b, &f, &m.base, "raw", 3, 1024), 0);
    ck_assert_int_eq(rpc_frame_encode(&b, &f, NULL, NULL, 0, 1024), 0);
    struct rpc_frame_reader r;
    rpc_frame_reader_init(&r, 1024);
    struct seen seen = {0};
    for (size_t i = 0; i < b.len; i++) {
        ck_assert_int_eq(rpc_frame_reader_feed(&r, b.data + i, 1, on_test_frame, &seen), 0);
    }
    ck_assert_int_eq(seen.n, 2);
    ck_assert_uint_eq(seen.method, 7);
    rpc_frame_reader_free(&r);
    buf_free(&b);
    /* A frame larger than the bound is refused at encode time. */
    ck_assert_int_eq(rpc_frame_encode(&b, &f, NULL, "0123456789", 10, 12), -EMSGSIZE);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

static int never_called(const struct rpc_frame *fr, void *arg)
{
    (void)fr;
    (void)arg;
    ck_abort_msg("no frame expected");
    return 0;
}

START_TEST(test_frame_reader_rejects_bad_lengths)
{
    struct rpc_frame_reader r;
    /* Announced size above the bound: refused from the 4-byte prefix alone. */
    uint8_t huge[4];
    be32_store(huge, 0x7fffffff);
    rpc_frame_reader_init(&r, 1024);
    ck_assert_int_eq(rpc_frame_reader_feed(&r, huge, 4, never_called, NULL), -EMSGSIZE);
    ck_assert_ptr_null(r.frames.body);
    rpc_frame_reader_free(&r);
    /* A length of 2 GiB or more is malformed, and so is one too short for
     * the header length. */
    be32_store(huge, 0x80000000u);
    rpc_frame_reader_init(&r, SIZE_MAX);
    ck_assert_int_eq(rpc_frame_reader_feed(&r, huge, 4, never_called, NULL), -EBADMSG);
    rpc_frame_reader_free(&r);
    be32_store(huge, 3);
    rpc_frame_reader_init(&r, 1024);
    ck_assert_int_eq(rpc_frame_reader_feed(&r, huge, 4, never_called, NULL), -EBADMSG);
    rpc_frame_reader_free(&r);
    /* Header length pointing past the frame. */
    uint8_t bad[12];
    be32_store(bad, 8);
    be32_store(bad + 4, 100);
    memset(bad + 8, 0, 4);
    rpc_frame_reader_init(&r, 1024);
    ck_assert_int_eq(rpc_frame_reader_feed(&r, bad, sizeof bad, never_called, NULL), -EBADMSG);
    rpc_frame_reader_free(&r);
    /* Body length in the header disagreeing with the frame length. */
    struct buf b = BUF_INIT;
    struct rpc_frame f = {.kind = RPC_REQUEST, .method = 1};
    ck_assert_int_eq(rpc_frame_encode(&b, &f, NULL, "abc", 3, 1024), 0);
    b.data[b.len - 1] = 0;
    be32_store(b.data, be32_load(b.data) - 1);
    rpc_frame_reader_init(&r, 1024);
    ck_assert_int_eq(rpc_frame_reader_feed(&r, b.data, b.len - 1, never_called, NULL), -EBADMSG);
    rpc_frame_reader_free(&r);
    buf_free(&b);
}
END_TEST

START_TEST(test_request_response_many_in_flight)
{
    struct fixture f;
    fixture_init(&f);
    server_start(&f, 0);
    struct rpc_client c;
    ck_assert_int_eq(rpc_client_init(&c, &f.loop, "127.0.0.1", f.port, NULL), 0);
    struct rpc_request reqs[20];
    struct result res[20];
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(call(&c, &reqs[i], &res[i], METHOD_ECHO, i * 10, "payload", 2000), 0);
    }
    struct rpc_request later_req;
    struct result later;
    ck_assert_int_eq(call(&c, &later_req, &later, METHOD_LATER, 0, NULL, 2000), 0);
    run_until(&f, &later.done, 2000);
    run_until(&f, &res[19].done, 2000);
    for (int i = 0; i < 20; i++) {
        ck_assert(res[i].done);
        ck_assert_int_eq(res[i].status, 0);
        ck_assert_int_eq(res[i].error, 0);
        ck_assert_int_eq(res[i].latest_offset, i * 10 + 1);
        ck_assert_uint_eq(res[i].payload_len, 7);
        ck_assert_mem_eq(res[i].payload, "payload", 7);
    }
    ck_assert(later.done);
    ck_assert_int_eq(later.status, 0);
    ck_assert_int_eq(later.latest_offset, 777);
    ck_assert_uint_eq(c.connects, 1);
    client_close(&f, &c);
    fixture_close(&f);
}
END_TEST

/* ---- payloads sent with sendfile from files ---- */

#define METHOD_FILES 4
#define FILES_BYTES  (3u << 20) /* more than a socket buffer: sendfile meets EAGAIN */
#define FILES_MAX    (8u << 20)

static int files_fd = -1;

/* Answers with two ranges of the test file: [100, 100 + n) and [0, 10). */
static void files_handler(struct rpc_call *call, void *arg)
{
    (void)arg;
    Sluice__Controller__FetchMetadataRequest *req =
        (Sluice__Controller__FetchMetadataRequest *)call->request;
    Sluice__Controller__FetchMetadataResponse resp =
        SLUICE__CONTROLLER__FETCH_METADATA_RESPONSE__INIT;
    resp.latest_offset = req->after_offset;
    struct rpc_file_slice slices[2] = {{files_fd, 100, (size_t)req->after_offset},
                                       {files_fd, 0, 10}};
    ck_assert_int_eq(rpc_call_respond_files(call, &resp.base, slices, 2), 0);
}

struct files_result {
    bool done;
    int status;
    int64_t n;
    bool payload_ok;
};

static uint8_t file_byte(size_t i)
{
    return (uint8_t)(i * 7 + i / 251);
}

static void on_files_response(struct rpc_request *req, int status, const struct rpc_frame *resp)
{
    struct files_result *r = req->data;
    r->done = true;
    r->status = status;
    if (status != 0 || resp->error != 0) {
        return;
    }
    Sluice__Controller__FetchMetadataResponse *m =
        sluice__controller__fetch_metadata_response__unpack(NULL, resp->body_len, resp->body);
    ck_assert_ptr_nonnull(m);
    size_t n = (size_t)m->latest_offset;
    sluice__controller__fetch_metadata_response__free_unpacked(m, NULL);
    r->payload_ok = resp->payload_len == n + 10;
    for (size_t i = 0; r->payload_ok && i < n; i++) {
        r->payload_ok = resp->payload[i] == file_byte(100 + i);
    }
    for (size_t i = 0; r->payload_ok && i < 10; i++) {
        r->payload_ok = resp->payload[n + i] == file_byte(i);
    }
}

START_TEST(test_file_payloads_in_order_with_plain_frames)
{
    char path[] = "/tmp/sluice-test-rpc-XXXXXX";
    files_fd = mkstemp(path);
    ck_assert_int_ge(files_fd, 0);
    unlink(path);
    uint8_t *data = malloc(FILES_BYTES + 200);
    for (size_t i = 0; i < FILES_BYTES + 200; i++) {
        data[i] = file_byte(i);
    }
    ck_assert_int_eq(write(files_fd, data, FILES_BYTES + 200), (ssize_t)(FILES_BYTES + 200));
    free(data);
    struct fixture f;
    fixture_init(&f);
    const ProtobufCMessageDescriptor *d = &sluice__controller__fetch_metadata_request__descriptor;
    rpc_server_init(&f.server, &f.loop, FILES_MAX);
    ck_assert_int_eq(rpc_server_handle(&f.server, METHOD_ECHO, d, echo_handler, &f), 0);
    ck_assert_int_eq(rpc_server_handle(&f.server, METHOD_FILES, d, files_handler, &f), 0);
    ck_assert_int_eq(rpc_server_listen(&f.server, "127.0.0.1", 0), 0);
    f.port = rpc_server_port(&f.server);
    f.server_up = true;
    struct rpc_client c;
    struct rpc_client_options o = {.max_frame = FILES_MAX};
    ck_assert_int_eq(rpc_client_init(&c, &f.loop, "127.0.0.1", f.port, &o), 0);
    /* Big file answers interleaved with plain ones: each arrives whole and
     * in its place (the client matches by correlation id, the bytes must
     * not interleave on the wire). */
    struct rpc_request freqs[3], ereqs[3];
    struct files_result fres[3];
    struct result eres[3];
    int64_t sizes[3] = {FILES_BYTES, 0, 12345};
    for (int i = 0; i < 3; i++) {
        Sluice__Controller__FetchMetadataRequest m =
            SLUICE__CONTROLLER__FETCH_METADATA_REQUEST__INIT;
        m.after_offset = sizes[i];
        memset(&fres[i], 0, sizeof fres[i]);
        freqs[i].data = &fres[i];
        ck_assert_int_eq(rpc_client_call(&c, &freqs[i], METHOD_FILES, 0, &m.base, NULL, 0, 5000,
                                         on_files_response),
                         0);
        ck_assert_int_eq(call(&c, &ereqs[i], &eres[i], METHOD_ECHO, i, "plain", 5000), 0);
    }
    run_until(&f, &eres[2].done, 5000);
    run_until(&f, &fres[2].done, 5000);
    for (int i = 0; i < 3; i++) {
        ck_assert(fres[i].done);
        ck_assert_int_eq(fres[i].status, 0);
        ck_assert_msg(fres[i].payload_ok, "file payload %d corrupt", i);
        ck_assert(eres[i].done);
        ck_assert_int_eq(eres[i].status, 0);
        ck_assert_mem_eq(eres[i].payload, "plain", 5);
    }
    ck_assert_uint_eq(c.connects, 1);
    client_close(&f, &c);
    fixture_close(&f);
    close(files_fd);
}
END_TEST

START_TEST(test_timeout_and_unknown_method)
{
    struct fixture f;
    fixture_init(&f);
    server_start(&f, 0);
    struct rpc_client c;
    ck_assert_int_eq(rpc_client_init(&c, &f.loop, "127.0.0.1", f.port, NULL), 0);
    struct rpc_request r1, r2, r3;
    struct result slow, unknown, fine;
    ck_assert_int_eq(call(&c, &r1, &slow, METHOD_NEVER, 0, NULL, 50), 0);
    ck_assert_int_eq(call(&c, &r2, &unknown, 33, 0, NULL, 2000), 0);
    ck_assert_int_eq(call(&c, &r3, &fine, METHOD_ECHO, 5, NULL, 2000), 0);
    run_until(&f, &slow.done, 2000);
    ck_assert(slow.done);
    ck_assert_int_eq(slow.status, -ETIMEDOUT);
    ck_assert(unknown.done);
    ck_assert_int_eq(unknown.status, 0);
    ck_assert_int_eq(unknown.error, RPC_ERROR_UNKNOWN_METHOD);
    ck_assert(fine.done);
    ck_assert_int_eq(fine.latest_offset, 6);
    /* The connection survived both. */
    ck_assert_uint_eq(c.connects, 1);
    ck_assert_int_eq(f.n_parked, 1);
    client_close(&f, &c);
    fixture_close(&f);
}
END_TEST

START_TEST(test_reconnect_after_server_restart)
{
    struct fixture f;
    fixture_init(&f);
    server_start(&f, 0);
    int port = f.port;
    struct rpc_client_options o = {.backoff_min_ms = 10, .backoff_max_ms = 40};
    struct rpc_client c;
    ck_assert_int_eq(rpc_client_init(&c, &f.loop, "localhost", port, &o), 0);
    struct rpc_request req;
    struct result r;
    ck_assert_int_eq(call(&c, &req, &r, METHOD_NEVER, 0, NULL, 5000), 0);
    while (f.n_parked == 0) {
        uv_run(&f.loop, UV_RUN_ONCE);
    }
    /* The server goes away with the request in flight: it fails, not hangs. */
    server_stop(&f);
    run_until(&f, &r.done, 2000);
    ck_assert(r.done);
    ck_assert_int_eq(r.status, -ECONNRESET);
    /* A request while the server is down waits and goes out after reconnect. */
    ck_assert_int_eq(call(&c, &req, &r, METHOD_ECHO, 41, NULL, 5000), 0);
    bool never = false;
    run_until(&f, &never, 150); /* several failed attempts with backoff */
    ck_assert(!r.done);
    server_start(&f, port);
    run_until(&f, &r.done, 3000);
    ck_assert(r.done);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.latest_offset, 42);
    ck_assert_uint_eq(c.connects, 2);
    client_close(&f, &c);
    fixture_close(&f);
}
END_TEST

/* A client that picks another server itself (the controller client) is told
 * at once that a server refuses connections, instead of its request waiting
 * through reconnect attempts until its timeout; once a server answers
 * again, the next request gets through. */
START_TEST(test_fail_unreachable_fails_waiting_requests_at_once)
{
    struct fixture f;
    fixture_init(&f);
    server_start(&f, 0);
    int port = f.port;
    server_stop(&f); /* nothing listens on `port` now: connections are refused */
    struct rpc_client_options o = {.backoff_min_ms = 10, .fail_unreachable = true};
    struct rpc_client c;
    ck_assert_int_eq(rpc_client_init(&c, &f.loop, "127.0.0.1", port, &o), 0);
    struct rpc_request req;
    struct result r;
    /* A timeout far beyond the wait below: only the refusal can end it. */
    ck_assert_int_eq(call(&c, &req, &r, METHOD_ECHO, 1, NULL, 600000), 0);
    run_until(&f, &r.done, 30000);
    ck_assert(r.done);
    ck_assert_int_eq(r.status, -ECONNREFUSED);
    server_start(&f, port);
    ck_assert_int_eq(call(&c, &req, &r, METHOD_ECHO, 41, NULL, 600000), 0);
    run_until(&f, &r.done, 30000);
    ck_assert(r.done);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.latest_offset, 42);
    client_close(&f, &c);
    fixture_close(&f);
}
END_TEST

/* A raw connection for sending bytes no well-behaved client would. */
struct raw {
    struct rpc_conn conn;
    bool connected, closed;
    int close_reason;
    int frames;
    int32_t last_error;
};

static int raw_frame(struct rpc_conn *conn, const struct rpc_frame *frame)
{
    struct raw *raw = conn->data;
    raw->frames++;
    raw->last_error = frame->error;
    return 0;
}

static void raw_closed(struct rpc_conn *conn, int reason)
{
    struct raw *raw = conn->data;
    raw->closed = true;
    raw->close_reason = reason;
}

static void raw_connected(uv_connect_t *req, int status)
{
    struct raw *raw = req->data;
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(rpc_conn_start(&raw->conn), 0);
    raw->connected = true;
}

static void raw_open(struct fixture *f, struct raw *raw)
{
    static uv_connect_t creq;
    memset(raw, 0, sizeof *raw);
    ck_assert_int_eq(rpc_conn_init(&raw->conn, &f->loop, TEST_MAX_FRAME, raw_frame, raw_closed), 0);
    raw->conn.data = raw;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", f->port, &addr);
    creq.data = raw;
    ck_assert_int_eq(uv_tcp_connect(&creq, &raw->conn.tcp, (struct sockaddr *)&addr, raw_connected),
                     0);
    run_until(f, &raw->connected, 2000);
    ck_assert(raw->connected);
}

static void raw_send(struct raw *raw, const void *bytes, size_t len)
{
    struct buf b = BUF_INIT;
    buf_append(&b, bytes, len);
    ck_assert_int_eq(rpc_conn_send_encoded(&raw->conn, &b), 0);
}

static void assert_server_still_serves(struct fixture *f)
{
    struct rpc_client c;
    ck_assert_int_eq(rpc_client_init(&c, &f->loop, "127.0.0.1", f->port, NULL), 0);
    struct rpc_request req;
    struct result r;
    ck_assert_int_eq(call(&c, &req, &r, METHOD_ECHO, 1, NULL, 2000), 0);
    run_until(f, &r.done, 2000);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.latest_offset, 2);
    client_close(f, &c);
}

START_TEST(test_oversized_frame_closes_connection)
{
    struct fixture f;
    fixture_init(&f);
    server_start(&f, 0);
    struct raw raw;
    raw_open(&f, &raw);
    uint8_t prefix[4];
    be32_store(prefix, TEST_MAX_FRAME + 1);
    raw_send(&raw, prefix, sizeof prefix);
    run_until(&f, &raw.closed, 2000);
    ck_assert(raw.closed);
    ck_assert_int_eq(raw.frames, 0);
    assert_server_still_serves(&f);
    /* And the client refuses to build one. */
    struct rpc_client_options o = {.max_frame = 64};
    struct rpc_client c;
    ck_assert_int_eq(rpc_client_init(&c, &f.loop, "127.0.0.1", f.port, &o), 0);
    struct rpc_request req;
    struct result r;
    char big[100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(call(&c, &req, &r, METHOD_ECHO, 1, big, 1000), -EMSGSIZE);
    client_close(&f, &c);
    fixture_close(&f);
}
END_TEST

/* A connection with max_pending_calls unfinished is not read: the third and
 * fourth pipelined requests wait (in the socket or the frame backlog) until
 * a call finishes. */
START_TEST(test_pending_call_cap_pauses_reading)
{
    struct fixture f;
    fixture_init(&f);
    server_start(&f, 0);
    struct rpc_server_limits limits = {.max_pending_calls = 2};
    rpc_server_set_limits(&f.server, &limits);
    struct raw raw;
    raw_open(&f, &raw);
    struct buf b = BUF_INIT;
    Sluice__Controller__FetchMetadataRequest body =
        SLUICE__CONTROLLER__FETCH_METADATA_REQUEST__INIT;
    for (uint64_t i = 1; i <= 4; i++) {
        struct rpc_frame fr = {
            .kind = RPC_REQUEST, .method = METHOD_NEVER, .version = 1, .correlation_id = i};
        ck_assert_int_eq(rpc_frame_encode(&b, &fr, &body.base, NULL, 0, TEST_MAX_FRAME), 0);
    }
    ck_assert_int_eq(rpc_conn_send_encoded(&raw.conn, &b), 0);
    bool never = false;
    run_until(&f, &never, 300);
    ck_assert_int_eq(f.n_parked, 2);
    struct rpc_call *first = f.parked[0];
    f.parked[0] = f.parked[1];
    f.n_parked = 1;
    rpc_call_fail(first, RPC_ERROR_UNAVAILABLE, "done"); /* may deliver the next at once */
    run_until(&f, &never, 300);
    ck_assert_int_eq(f.n_parked, 2); /* the third request, and only it */
    ck_assert_int_eq(raw.frames, 1);
    ck_assert_int_eq(raw.last_error, RPC_ERROR_UNAVAILABLE);
    rpc_conn_close(&raw.conn, 0);
    run_until(&f, &raw.closed, 2000);
    fixture_close(&f);
}
END_TEST

START_TEST(test_garbage_and_malformed_body)
{
    struct fixture f;
    fixture_init(&f);
    server_start(&f, 0);
    /* A valid frame whose body is not a FetchMetadataRequest: error reply. */
    struct raw raw;
    raw_open(&f, &raw);
    struct buf frame = BUF_INIT;
    const uint8_t junk_body[] = {0xff, 0xff, 0xff};
    {
        uint8_t hb[256];
        Sluice__Rpc__RpcHeader rh = SLUICE__RPC__RPC_HEADER__INIT;
        rh.method = METHOD_ECHO;
        rh.correlation_id = 5;
        rh.body_length = sizeof junk_body;
        rh.error_message = "";
        size_t hl = sluice__rpc__rpc_header__pack(&rh, hb);
        buf_append_be32(&frame, (uint32_t)(4 + hl + sizeof junk_body));
        buf_append_be32(&frame, (uint32_t)hl);
        buf_append(&frame, hb, hl);
        buf_append(&frame, junk_body, sizeof junk_body);
    }
    raw_send(&raw, frame.data, frame.len);
    buf_free(&frame);
    bool got = false;
    while (!got && !raw.closed) {
        uv_run(&f.loop, UV_RUN_ONCE);
        got = raw.frames > 0;
    }
    ck_assert_int_eq(raw.frames, 1);
    ck_assert_int_eq(raw.last_error, RPC_ERROR_MALFORMED);
    /* Then pure garbage: the server hangs up. */
    uint8_t garbage[64];
    for (size_t i = 0; i < sizeof garbage; i++) {
        garbage[i] = (uint8_t)(i * 37 + 11);
    }
    be32_store(garbage, 60);
    raw_send(&raw, garbage, sizeof garbage);
    run_until(&f, &raw.closed, 2000);
    ck_assert(raw.closed);
    assert_server_still_serves(&f);
    fixture_close(&f);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_frame_reader_byte_by_byte);
    tcase_add_test(tc, test_frame_reader_rejects_bad_lengths);
    tcase_add_test(tc, test_request_response_many_in_flight);
    tcase_add_test(tc, test_file_payloads_in_order_with_plain_frames);
    tcase_add_test(tc, test_timeout_and_unknown_method);
    tcase_add_test(tc, test_reconnect_after_server_restart);
    tcase_add_test(tc, test_fail_unreachable_fails_waiting_requests_at_once);
    tcase_add_test(tc, test_oversized_frame_closes_connection);
    tcase_add_test(tc, test_garbage_and_malformed_body);
    tcase_add_test(tc, test_pending_call_cap_pauses_reading);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
