/* Fuzz target: the internal RPC server's dispatch (common/rpc_server.c with
 * common/rpc_conn.c), end to end on a real libuv loop: the input is written
 * as a peer's byte stream to a live rpc_server over loopback, with tight
 * limits (8 KiB requests, 4 pending calls, 1 KiB unsent answers) so the
 * pending-call cap, the unsent-bytes back-pressure and the frame backlog are
 * all exercised. Handlers decode the controller's real request messages
 * (budgeted unpack); even correlation ids are answered at once, odd ones are
 * parked and answered later, some after the connection is gone.
 * Invariants: the server never crashes or leaks (ASan), every byte it sends
 * back decodes as a sequence of RESPONSE frames, it answers no more requests
 * than the stream could carry, and the connection ends (closed by the server
 * or after the peer's end of stream) within a bounded number of loop turns. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/rpc_frame.h"
#include "common/rpc_server.h"
#include "proto/controller.pb-c.h"

#define MAX_REQUEST 8192
#define MAX_PARKED  64
#define MAX_TURNS   20000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_server {
    uv_loop_t loop;
    struct rpc_server server;
    bool open;
    struct rpc_call *parked[MAX_PARKED];
    size_t n_parked;
    size_t handled;
};

static void answer(struct rpc_call *call)
{
    Sluice__Controller__FetchMetadataResponse resp =
        SLUICE__CONTROLLER__FETCH_METADATA_RESPONSE__INIT;
    resp.latest_offset = (int64_t)call->correlation_id;
    rpc_call_respond(call, &resp.base, call->payload, call->payload_len);
}

static void handler(struct rpc_call *call, void *arg)
{
    struct fuzz_server *f = arg;
    f->handled++;
    if (call->correlation_id % 2 == 1 && f->n_parked < MAX_PARKED) {
        f->parked[f->n_parked++] = call; /* answered later, maybe orphaned */
        return;
    }
    answer(call);
}

static void answer_parked(struct fuzz_server *f, size_t keep)
{
    while (f->n_parked > keep) {
        answer(f->parked[--f->n_parked]);
    }
}

static void on_closed(struct rpc_server *s)
{
    ((struct fuzz_server *)s->data)->open = false;
}

static int response_frame(const struct rpc_frame *frame, void *arg)
{
    size_t *responses = arg;
    if (frame->kind != RPC_RESPONSE) {
        abort();
    }
    (*responses)++;
    return 0;
}

static const ProtobufCMessageDescriptor *const requests[] = {
    &sluice__controller__register_broker_request__descriptor,
    &sluice__controller__broker_heartbeat_request__descriptor,
    &sluice__controller__create_topics_request__descriptor,
    &sluice__controller__delete_topics_request__descriptor,
    &sluice__controller__create_partitions_request__descriptor,
    &sluice__controller__alter_configs_request__descriptor,
    &sluice__controller__alter_partition_request__descriptor,
    &sluice__controller__fetch_metadata_request__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_server f;
    memset(&f, 0, sizeof f);
    if (uv_loop_init(&f.loop) != 0) {
        return 0;
    }
    rpc_server_init(&f.server, &f.loop, 1 << 20);
    struct rpc_server_limits limits = {
        .max_request_frame = MAX_REQUEST, .max_pending_calls = 4, .max_unsent_bytes = 1024};
    rpc_server_set_limits(&f.server, &limits);
    f.server.data = &f;
    for (uint32_t m = 0; m < sizeof requests / sizeof requests[0]; m++) {
        rpc_server_handle(&f.server, m + 1, requests[m], handler, &f);
    }
    if (rpc_server_listen(&f.server, "127.0.0.1", 0) != 0) {
        abort();
    }
    f.open = true;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    addr.sin_port = htons((uint16_t)rpc_server_port(&f.server));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        abort();
    }
    /* Closed with a reset: thousands of runs a second would otherwise fill
     * the ephemeral ports with TIME_WAIT and fail a later connect. */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    int rv;
    do { /* libFuzzer's timeout alarm may interrupt the connect */
        rv = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    } while (rv != 0 && (errno == EINTR || errno == EALREADY));
    if (rv != 0 && errno != EISCONN) {
        fprintf(stderr, "fuzz_rpc_dispatch: connect: %s\n", strerror(errno));
        abort();
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    struct rpc_frame_reader back;
    rpc_frame_reader_init(&back, 1 << 20);
    size_t sent = 0, responses = 0;
    bool shut = false, eof = false;
    for (int turn = 0; turn < MAX_TURNS && !eof; turn++) {
        if (sent < size) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += (size_t)n;
            } else if (n < 0 && errno != EAGAIN) {
                break; /* the server closed on us */
            }
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        uv_run(&f.loop, UV_RUN_NOWAIT);
        if (turn % 7 == 0) {
            answer_parked(&f, 2); /* some answers come late */
        }
        uint8_t buf[65536];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
            if (rpc_frame_reader_feed(&back, buf, (size_t)n, response_frame, &responses) != 0) {
                abort(); /* the server wrote something that is not a frame */
            }
        }
        eof = n == 0 || (n < 0 && errno != EAGAIN);
    }
    /* Each request frame is at least 8 bytes: size and header length (an
     * empty RpcHeader is valid protobuf, and is answered as a bad call). */
    if (responses > f.handled + size / 8) {
        abort();
    }
    close(fd);
    rpc_server_close(&f.server, on_closed);
    while (f.open) {
        uv_run(&f.loop, UV_RUN_ONCE);
    }
    answer_parked(&f, 0); /* orphaned now: just freed */
    uv_run(&f.loop, UV_RUN_DEFAULT);
    uv_loop_close(&f.loop);
    rpc_frame_reader_free(&back);
    return 0;
}
