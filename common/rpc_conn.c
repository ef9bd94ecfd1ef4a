#include "common/rpc_conn.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "common/tls.h"

/* File payloads over TLS are read and encrypted this much at a time: one
 * chunk per connection is in memory. */
#define TLS_FILE_CHUNK (256u << 10)

struct conn_write {
    uv_write_t req;
    struct buf bytes;
    size_t len; /* counted in conn->unsent until written */
};

/* rpc_frame_reader callback result: stop here, reading is paused. */
#define FEED_PAUSED 1

/* A frame waiting to be written: bytes, then (maybe) file ranges. */
struct conn_out {
    struct buf bytes;
    struct rpc_file_slice *slices; /* fds owned */
    size_t n_slices, slice, slice_off;
    struct conn_out *next;
};

static void writer_run(struct rpc_conn *conn);
static void reading_update(struct rpc_conn *conn);
static void tls_drive(struct rpc_conn *conn);

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
    conn->out_head = conn->out_tail = NULL;
    conn->file_busy = false;
    conn->poll_fd = -1;
    conn->open_handles = 1;
    conn->max_unsent = 0;
    conn->unsent = 0;
    conn->started = conn->reading = conn->paused = conn->in_feed = false;
    buf_init(&conn->backlog);
    conn->frame_started_ms = 0;
    conn->last_active_ms = uv_now(loop);
    conn->frames_in = 0;
    conn->tls = NULL;
    conn->secured = conn->tls_writing = false;
    conn->on_secured = NULL;
    conn->tls_error[0] = '\0';
    rpc_frame_reader_init(&conn->reader, max_frame);
    uv_tcp_nodelay(&conn->tcp, 1);
    return 0;
}

static void out_free(struct conn_out *o)
{
    for (size_t i = 0; i < o->n_slices; i++) {
        close(o->slices[i].fd);
    }
    free(o->slices);
    buf_free(&o->bytes);
    free(o);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct rpc_conn *conn = handle->data;
    if (--conn->open_handles > 0) {
        return;
    }
    while (conn->out_head != NULL) {
        struct conn_out *o = conn->out_head;
        conn->out_head = o->next;
        out_free(o);
    }
    if (conn->poll_fd >= 0) {
        close(conn->poll_fd);
        conn->poll_fd = -1;
    }
    rpc_frame_reader_free(&conn->reader);
    buf_free(&conn->backlog);
    tls_session_free(conn->tls);
    conn->tls = NULL;
    conn->on_close(conn, conn->close_reason);
}

void rpc_conn_close(struct rpc_conn *conn, int reason)
{
    if (conn->closing) {
        return;
    }
    conn->closing = true;
    conn->close_reason = reason;
    if (conn->poll_fd >= 0) {
        conn->open_handles++;
        uv_close((uv_handle_t *)&conn->writable, on_handle_closed);
    }
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

static bool may_read(const struct rpc_conn *conn)
{
    return conn->started && !conn->closing && !conn->paused &&
           (conn->max_unsent == 0 || conn->unsent <= conn->max_unsent);
}

static int deliver_frame(const struct rpc_frame *frame, void *arg)
{
    struct rpc_conn *conn = arg;
    if (conn->closing) {
        return -ECANCELED;
    }
    conn->frames_in++;
    conn->last_active_ms = uv_now(conn->tcp.loop);
    conn->frame_started_ms = 0;
    int rv = conn->on_frame(conn, frame);
    return rv == 0 && !may_read(conn) ? FEED_PAUSED : rv;
}

/* Deliver the frames in `data` until one pauses reading; what is left then
 * waits in the backlog. */
static void feed(struct rpc_conn *conn, const uint8_t *data, size_t len)
{
    size_t used = 0;
    conn->in_feed = true;
    int rv = rpc_frame_reader_feed_some(&conn->reader, data, len, deliver_frame, conn, &used);
    conn->in_feed = false;
    if (rv == FEED_PAUSED) {
        if (used < len && buf_append(&conn->backlog, data + used, len - used) != 0) {
            rpc_conn_close(conn, -ENOMEM);
        }
    } else if (rv != 0) {
        rpc_conn_close(conn, rv);
    } else if (frame_reader_partial(&conn->reader.frames) && conn->frame_started_ms == 0) {
        conn->frame_started_ms = uv_now(conn->tcp.loop);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct rpc_conn *conn = stream->data;
    if (nread < 0) {
        rpc_conn_close(conn, (int)nread);
    } else if (nread > 0 && !conn->closing && conn->tls != NULL) {
        if (tls_session_feed(conn->tls, (const uint8_t *)buf->base, (size_t)nread) != 0) {
            rpc_conn_close(conn, -ENOMEM);
        } else {
            tls_drive(conn);
            reading_update(conn);
        }
    } else if (nread > 0 && !conn->closing) {
        feed(conn, (const uint8_t *)buf->base, (size_t)nread);
        reading_update(conn);
    }
    free(buf->base);
}

static void reading_update(struct rpc_conn *conn)
{
    if (conn->in_feed || conn->closing) {
        return; /* feed's caller updates once the frame in hand is delivered */
    }
    while (may_read(conn) && conn->backlog.len > 0) {
        struct buf pending = conn->backlog;
        buf_init(&conn->backlog);
        feed(conn, pending.data, pending.len);
        buf_free(&pending);
    }
    bool want = may_read(conn);
    if (want && !conn->reading) {
        int rv = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
        if (rv != 0) {
            rpc_conn_close(conn, rv);
            return;
        }
        conn->reading = true;
        if (frame_reader_partial(&conn->reader.frames)) {
            conn->frame_started_ms = uv_now(conn->tcp.loop); /* the peer's clock restarts */
        }
    } else if (!want && conn->reading) {
        uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = false;
        conn->frame_started_ms = 0; /* paused by us: not the peer's delay */
    }
}

int rpc_conn_start(struct rpc_conn *conn)
{
    conn->started = true;
    int rv = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    conn->reading = rv == 0;
    if (rv == 0 && conn->tls != NULL) {
        tls_drive(conn); /* a client's ClientHello */
    }
    return rv;
}

void rpc_conn_set_read_limit(struct rpc_conn *conn, size_t max_read)
{
    rpc_frame_reader_free(&conn->reader);
    rpc_frame_reader_init(&conn->reader, max_read);
}

void rpc_conn_pause(struct rpc_conn *conn, bool paused)
{
    conn->paused = paused;
    reading_update(conn);
}

/* Output bytes left memory: the peer reads, so reading may resume. */
static void output_drained(struct rpc_conn *conn, size_t len)
{
    conn->unsent = len < conn->unsent ? conn->unsent - len : 0;
    conn->last_active_ms = uv_now(conn->tcp.loop);
    if (!conn->reading) {
        reading_update(conn);
    }
}

static void on_written(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct rpc_conn *conn = req->handle->data;
    size_t len = w->len;
    buf_free(&w->bytes);
    free(w);
    if (status != 0 && status != UV_ECANCELED) {
        rpc_conn_close(conn, status);
    } else if (status == 0) {
        output_drained(conn, len);
    }
}

/* ---- TLS ---- */

void rpc_conn_use_tls(struct rpc_conn *conn, struct tls_session *session,
                      rpc_conn_secured_cb on_secured)
{
    conn->tls = session;
    conn->on_secured = on_secured;
}

const char *rpc_conn_tls_error(const struct rpc_conn *conn)
{
    return conn->tls_error[0] != '\0' ? conn->tls_error : NULL;
}

const char *rpc_conn_peer_subject(struct rpc_conn *conn)
{
    return conn->tls != NULL && conn->secured ? tls_session_peer_subject(conn->tls) : NULL;
}

/* Whether frames may be written now: plaintext, or TLS past its handshake. */
static bool writable_now(const struct rpc_conn *conn)
{
    return conn->tls == NULL || conn->secured;
}

static void on_tls_written(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct rpc_conn *conn = req->handle->data;
    bool chunk = w->req.data != NULL;
    buf_free(&w->bytes);
    free(w);
    if (status != 0) {
        if (status != UV_ECANCELED) {
            rpc_conn_close(conn, status);
        }
        return;
    }
    if (chunk) {
        conn->tls_writing = false;
        writer_run(conn);
    }
}

/* Put the session's pending ciphertext (handshake records, alerts, or a
 * file chunk when `chunk`) on the socket. */
static int tls_flush(struct rpc_conn *conn, bool chunk)
{
    size_t len;
    uint8_t *cipher = tls_session_take_output(conn->tls, &len);
    if (cipher == NULL) {
        return len == 0 ? 0 : -ENOMEM;
    }
    struct conn_write *w = malloc(sizeof *w);
    if (w == NULL) {
        free(cipher);
        return -ENOMEM;
    }
    w->bytes = (struct buf){cipher, len, len};
    w->len = 0;
    w->req.data = chunk ? conn : NULL;
    uv_buf_t ub = uv_buf_init((char *)cipher, (unsigned)len);
    int rv = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &ub, 1, on_tls_written);
    if (rv != 0) {
        free(cipher);
        free(w);
        return rv;
    }
    conn->tls_writing = chunk;
    return 0;
}

/* Replace the plaintext in `bytes` by its ciphertext. */
static int tls_encrypt(struct rpc_conn *conn, struct buf *bytes)
{
    if (tls_session_write(conn->tls, bytes->data, bytes->len) != 0) {
        return -EPROTO;
    }
    size_t len;
    uint8_t *cipher = tls_session_take_output(conn->tls, &len);
    if (cipher == NULL && len > 0) {
        return -ENOMEM;
    }
    buf_free(bytes);
    *bytes = (struct buf){cipher, len, len};
    return 0;
}

/* Decrypted bytes go to the frame reader, or wait in the backlog while
 * reading is paused (at most what one socket read decrypts to). */
static void tls_deliver(struct rpc_conn *conn, const uint8_t *plain, size_t len)
{
    if (may_read(conn) && conn->backlog.len == 0) {
        feed(conn, plain, len);
    } else if (buf_append(&conn->backlog, plain, len) != 0) {
        rpc_conn_close(conn, -ENOMEM);
    }
}

static void tls_secured(struct rpc_conn *conn)
{
    conn->secured = true;
    if (conn->on_secured != NULL) {
        conn->on_secured(conn);
    }
    writer_run(conn); /* frames queued during the handshake */
}

/* Drive the handshake, decrypt what arrived, send what the session has to
 * say. A failed handshake (an untrusted or missing certificate, a peer
 * speaking plaintext) closes with -EPROTO. */
static void tls_drive(struct rpc_conn *conn)
{
    uint8_t plain[16384]; /* one TLS record */
    int n = 0;            /* the loop may not run: conn already closing */
    while (!conn->closing) {
        bool was = tls_session_established(conn->tls);
        n = tls_session_read(conn->tls, plain, sizeof plain);
        if (!was && tls_session_established(conn->tls)) {
            int rv = tls_flush(conn, false); /* the handshake's last flight first */
            if (rv != 0) {
                rpc_conn_close(conn, rv);
                return;
            }
            tls_secured(conn);
        }
        if (n <= 0) {
            break;
        }
        tls_deliver(conn, plain, (size_t)n);
    }
    if (conn->closing) {
        return;
    }
    int rv = tls_flush(conn, false);
    if (n == TLS_CLOSED) {
        rpc_conn_close(conn, UV_EOF);
    } else if (n == TLS_FAILED) {
        snprintf(conn->tls_error, sizeof conn->tls_error, "%s", tls_session_error(conn->tls));
        rpc_conn_close(conn, -EPROTO);
    } else if (rv != 0) {
        rpc_conn_close(conn, rv);
    }
}

/* Write `bytes` now (libuv keeps uv_write order). */
static int write_now(struct rpc_conn *conn, struct buf *bytes, uv_write_cb cb, void *data)
{
    struct conn_write *w = malloc(sizeof *w);
    if (w == NULL) {
        buf_free(bytes);
        return -ENOMEM;
    }
    w->bytes = *bytes;
    w->len = bytes->len;
    w->req.data = data;
    buf_init(bytes);
    if (conn->tls != NULL && tls_encrypt(conn, &w->bytes) != 0) {
        buf_free(&w->bytes);
        free(w);
        rpc_conn_close(conn, -EPROTO);
        return -EPROTO;
    }
    uv_buf_t ub = uv_buf_init((char *)w->bytes.data, (unsigned)w->bytes.len);
    int rv = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &ub, 1, cb);
    if (rv != 0) {
        buf_free(&w->bytes);
        free(w);
        rpc_conn_close(conn, rv);
    }
    return rv;
}

int rpc_conn_send_encoded(struct rpc_conn *conn, struct buf *bytes)
{
    if (conn->closing) {
        buf_free(bytes);
        return -ENOTCONN;
    }
    conn->unsent += bytes->len;
    if (!conn->file_busy && conn->out_head == NULL && writable_now(conn)) {
        return write_now(conn, bytes, on_written, NULL);
    }
    struct conn_out *o = calloc(1, sizeof *o);
    if (o == NULL) {
        buf_free(bytes);
        return -ENOMEM;
    }
    o->bytes = *bytes;
    buf_init(bytes);
    if (conn->out_tail != NULL) {
        conn->out_tail->next = o;
    } else {
        conn->out_head = o;
    }
    conn->out_tail = o;
    return 0;
}

int rpc_conn_send(struct rpc_conn *conn, const struct rpc_frame *frame,
                  const ProtobufCMessage *body, const void *payload, size_t payload_len)
{
    struct buf bytes = BUF_INIT;
    int rv = rpc_frame_encode(&bytes, frame, body, payload != NULL ? payload : "", payload_len,
                              conn->max_frame);
    if (rv != 0) {
        buf_free(&bytes);
        return rv;
    }
    return rpc_conn_send_encoded(conn, &bytes);
}

/* ---- frames with file payloads ---- */

static void on_writable(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct rpc_conn *conn = poll->data;
    uv_poll_stop(poll);
    if (status < 0) {
        rpc_conn_close(conn, status);
        return;
    }
    writer_run(conn);
}

static int wait_writable(struct rpc_conn *conn, int sock)
{
    if (conn->poll_fd < 0) {
        conn->poll_fd = dup(sock);
        if (conn->poll_fd < 0) {
            return -errno;
        }
        int rv = uv_poll_init(conn->tcp.loop, &conn->writable, conn->poll_fd);
        if (rv != 0) {
            close(conn->poll_fd);
            conn->poll_fd = -1;
            return rv;
        }
        conn->writable.data = conn;
    }
    return uv_poll_start(&conn->writable, UV_WRITABLE, on_writable);
}

/* Send the head's file ranges; 1 when they are all out, 0 when waiting for
 * the socket, or an error. */
static int send_slices(struct rpc_conn *conn, struct conn_out *o)
{
    uv_os_fd_t sock;
    int rv = uv_fileno((uv_handle_t *)&conn->tcp, &sock);
    if (rv != 0) {
        return rv;
    }
    while (o->slice < o->n_slices) {
        struct rpc_file_slice *s = &o->slices[o->slice];
        while (o->slice_off < s->len) {
            off_t pos = (off_t)(s->pos + (int64_t)o->slice_off);
            ssize_t n = sendfile(sock, s->fd, &pos, s->len - o->slice_off);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && errno == EAGAIN) {
                rv = wait_writable(conn, sock);
                return rv == 0 ? 0 : rv;
            }
            if (n <= 0) {
                /* The frame length already promised these bytes. */
                return n == 0 ? -EIO : -errno;
            }
            o->slice_off += (size_t)n;
        }
        o->slice++;
        o->slice_off = 0;
    }
    return 1;
}

/* Over TLS: read the next chunk of the head's file ranges, encrypt it and
 * write it; 1 when all ranges are out, 0 while a chunk is being written (its
 * callback continues), or an error. */
static int send_slices_tls(struct rpc_conn *conn, struct conn_out *o)
{
    if (o->slice >= o->n_slices) {
        return 1;
    }
    struct rpc_file_slice *s = &o->slices[o->slice];
    size_t want = s->len - o->slice_off;
    want = want < TLS_FILE_CHUNK ? want : TLS_FILE_CHUNK;
    uint8_t *chunk = malloc(want > 0 ? want : 1);
    if (chunk == NULL) {
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n =
            pread(s->fd, chunk + got, want - got, (off_t)(s->pos + (int64_t)(o->slice_off + got)));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            free(chunk);
            return n == 0 ? -EIO : -errno; /* the frame length already promised these bytes */
        }
        got += (size_t)n;
    }
    o->slice_off += got;
    if (o->slice_off == s->len) {
        o->slice++;
        o->slice_off = 0;
    }
    int rv = tls_session_write(conn->tls, chunk, got) == 0 ? 0 : -EPROTO;
    free(chunk);
    return rv != 0 ? rv : tls_flush(conn, true);
}

static void on_file_head_written(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct rpc_conn *conn = req->handle->data;
    size_t len = w->len;
    buf_free(&w->bytes);
    free(w);
    if (status != 0) {
        if (status != UV_ECANCELED) {
            rpc_conn_close(conn, status);
        }
        return;
    }
    writer_run(conn);
    output_drained(conn, len);
}

/* Drive the queue: the head frame's bytes (once), its file ranges, then the
 * next frames; plain frames are handed to uv_write at once. */
static void writer_run(struct rpc_conn *conn)
{
    while (!conn->closing && conn->out_head != NULL && writable_now(conn) && !conn->tls_writing) {
        struct conn_out *o = conn->out_head;
        if (o->bytes.len > 0) {
            bool file = o->n_slices > 0;
            int rv = write_now(conn, &o->bytes, file ? on_file_head_written : on_written, NULL);
            if (rv != 0) {
                return;
            }
            conn->file_busy = file;
            if (file) {
                return; /* on_file_head_written continues */
            }
        } else if (conn->tls != NULL && o->slice < o->n_slices) {
            int rv = send_slices_tls(conn, o);
            if (rv < 0) {
                rpc_conn_close(conn, rv);
            }
            return; /* on_tls_written continues, also after the last chunk */
        } else if (o->slice < o->n_slices) {
            int rv = send_slices(conn, o);
            if (rv < 0) {
                rpc_conn_close(conn, rv);
                return;
            }
            if (rv == 0) {
                return; /* on_writable continues */
            }
        }
        conn->out_head = o->next;
        if (conn->out_head == NULL) {
            conn->out_tail = NULL;
        }
        conn->file_busy = false;
        out_free(o);
    }
}

int rpc_conn_send_files(struct rpc_conn *conn, const struct rpc_frame *frame,
                        const ProtobufCMessage *body, const struct rpc_file_slice *slices,
                        size_t n_slices)
{
    size_t total = 0;
    for (size_t i = 0; i < n_slices; i++) {
        total += slices[i].len;
    }
    if (conn->closing) {
        return -ENOTCONN;
    }
    struct conn_out *o = calloc(1, sizeof *o);
    if (o == NULL || (n_slices > 0 && (o->slices = calloc(n_slices, sizeof *o->slices)) == NULL)) {
        free(o);
        return -ENOMEM;
    }
    int rv = rpc_frame_encode(&o->bytes, frame, body, NULL, total, conn->max_frame);
    for (size_t i = 0; rv == 0 && i < n_slices; i++) {
        o->slices[i] = slices[i];
        o->slices[i].fd = dup(slices[i].fd);
        if (o->slices[i].fd < 0) {
            rv = -errno;
            break;
        }
        o->n_slices++;
    }
    if (rv != 0) {
        out_free(o);
        return rv;
    }
    if (conn->out_tail != NULL) {
        conn->out_tail->next = o;
    } else {
        conn->out_head = o;
    }
    conn->out_tail = o;
    conn->unsent += o->bytes.len;
    if (!conn->file_busy) {
        writer_run(conn);
    }
    return 0;
}

const char *rpc_conn_strerror(int code)
{
    if (code == UV_EOF) {
        return "end of file";
    }
    return strerror(code < 0 ? -code : code); /* libuv codes are -errno on Unix */
}
