#include "common/rpc_conn.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct conn_write {
    uv_write_t req;
    struct buf bytes;
};

int rpc_conn_init(struct rpc_conn *conn, uv_loop_t *loop, size_t max_frame,
                  rpc_conn_frame_cb on_frame, rpc_conn_close_cb on_close)
{
    int rv = uv_tcp_init(loop, &conn->tcp);
    if (rv != 0) {
        return rv;
    }
    conn->tcp.data = conn;
    conn->max_frame = max_frame;
    conn->on_frame = on_frame;
    conn->on_close = on_close;
    conn->closing = false;
    conn->close_reason = 0;
    rpc_frame_reader_init(&conn->reader, max_frame);
    uv_tcp_nodelay(&conn->tcp, 1);
    return 0;
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct rpc_conn *conn = handle->data;
    rpc_frame_reader_free(&conn->reader);
    conn->on_close(conn, conn->close_reason);
}

void rpc_conn_close(struct rpc_conn *conn, int reason)
{
    if (conn->closing) {
        return;
    }
    conn->closing = true;
    conn->close_reason = reason;
    uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
    (void)handle;
    /* Reads are copied into the frame reader right away, so a fresh block
     * per read is simple; 64 KiB keeps the number of reads low. */
    size_t size = suggested < 65536 ? 65536 : suggested;
    out->base = malloc(size);
    out->len = out->base != NULL ? size : 0;
}

static int deliver_frame(const struct rpc_frame *frame, void *arg)
{
    struct rpc_conn *conn = arg;
    if (conn->closing) {
        return -ECANCELED;
    }
    return conn->on_frame(conn, frame);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct rpc_conn *conn = stream->data;
    if (nread < 0) {
        rpc_conn_close(conn, (int)nread);
    } else if (nread > 0 && !conn->closing) {
        int rv = rpc_frame_reader_feed(&conn->reader, (const uint8_t *)buf->base, (size_t)nread,
                                       deliver_frame, conn);
        if (rv != 0) {
            rpc_conn_close(conn, rv);
        }
    }
    free(buf->base);
}

int rpc_conn_start(struct rpc_conn *conn)
{
    return uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
}

static void on_written(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct rpc_conn *conn = req->handle->data;
    buf_free(&w->bytes);
    free(w);
    if (status != 0 && status != UV_ECANCELED) {
        rpc_conn_close(conn, status);
    }
}

int rpc_conn_send_encoded(struct rpc_conn *conn, struct buf *bytes)
{
    struct conn_write *w = NULL;
    int rv = -ENOTCONN;
    if (conn->closing) {
        goto err;
    }
    rv = -ENOMEM;
    w = malloc(sizeof *w);
    if (w == NULL) {
        goto err;
    }
    w->bytes = *bytes;
    uv_buf_t ub = uv_buf_init((char *)w->bytes.data, (unsigned)w->bytes.len);
    rv = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &ub, 1, on_written);
    if (rv != 0) {
        goto err_after_alloc;
    }
    buf_init(bytes); /* the bytes are the write's now, freed in on_written */
    return 0;

err_after_alloc:
    free(w);
    rpc_conn_close(conn, rv);
err:
    assert(rv != 0);
    buf_free(bytes);
    return rv;
}

int rpc_conn_send(struct rpc_conn *conn, const struct rpc_frame *frame,
                  const ProtobufCMessage *body, const void *payload, size_t payload_len)
{
    struct buf bytes = BUF_INIT;
    int rv = rpc_frame_encode(&bytes, frame, body, payload, payload_len, conn->max_frame);
    if (rv != 0) {
        buf_free(&bytes);
        return rv;
    }
    return rpc_conn_send_encoded(conn, &bytes);
}

const char *rpc_conn_strerror(int code)
{
    if (code == UV_EOF) {
        return "end of file";
    }
    return strerror(code < 0 ? -code : code); /* libuv codes are -errno on Unix */
}
