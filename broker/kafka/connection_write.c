/* Writing a connection's responses to the socket; see
 * connection_internal.h. */
#include "broker/kafka/connection_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tls.h"

/* Plaintext encrypted per socket write on TLS: a spliced file range is read
 * into memory this much at a time (no sendfile through OpenSSL). */
#define TLS_WRITE_CHUNK 65536

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
    conn_writer_run(c);
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
 * socket to drain (conn_writer_run goes on from on_writable), 0 when the piece is
 * done, negative on error. The rest is never handed to uv_write: libuv would
 * send it without asking us, and every piece must pass conn_writer_run's check. */
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
        conn_writer_run(c);
    }
}

int conn_tls_flush(struct kafka_conn *c, bool writer)
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
    return conn_tls_flush(c, true);
}

int conn_write_piece(struct kafka_conn *c, const struct kafka_response *r)
{
    return c->tls != NULL      ? write_tls(c, r)
           : c->piece % 2 == 0 ? write_memory(c, r)
                               : write_splice(c, r);
}
