/* One RPC connection: a TCP stream carrying rpc_frame frames both ways.
 *
 * Shared by rpc_server (accepted sockets) and rpc_client (outgoing ones), and
 * the only code that reads or writes RPC sockets. TLS (rpc_conn_use_tls)
 * wraps the byte stream here, between uv_read/uv_write and the frame reader:
 * frames queue until the handshake is done, and file payloads, which cannot
 * go through sendfile encrypted, are read in chunks and written through the
 * session instead.
 *
 * Loop thread only. The owner allocates the struct, calls rpc_conn_init, and
 * frees it in (or after) `on_close`, which fires exactly once after
 * rpc_conn_close or a read/write error, from the handle's close callback.
 *
 * Back-pressure: reading stops while the owner pauses it (rpc_conn_pause,
 * e.g. too many calls pending) or while the output this side has queued
 * for a peer that does not read passes max_unsent. Frames are delivered one
 * at a time: bytes already read past a frame that paused the connection
 * wait (at most one read buffer) until reading resumes. */
#ifndef SLUICE_COMMON_RPC_CONN_H
#define SLUICE_COMMON_RPC_CONN_H

#include <stdbool.h>
#include <uv.h>

#include "common/rpc_frame.h"

struct rpc_conn;
/* A frame arrived; pointers are valid during the call only. Return non-zero
 * to close the connection with that reason. */
typedef int (*rpc_conn_frame_cb)(struct rpc_conn *conn, const struct rpc_frame *frame);
/* The connection is closed; `reason` is 0 for a local close, or a negative
 * errno/libuv code (UV_EOF for the peer closing, -EMSGSIZE, -EBADMSG, ...). */
typedef void (*rpc_conn_close_cb)(struct rpc_conn *conn, int reason);

/* A byte range of an open file, sent with sendfile as (part of) a payload. */
struct rpc_file_slice {
    int fd; /* borrowed: rpc_conn_send_files dups it */
    int64_t pos;
    size_t len;
};

struct conn_out;
struct tls_session;

/* The TLS handshake completed (the peer's certificate is verified). */
typedef void (*rpc_conn_secured_cb)(struct rpc_conn *conn);

struct rpc_conn {
    void *data; /* owner's */
    uv_tcp_t tcp;
    /* Frames with file payloads go out in order with the others: while one
     * is being written (`file_busy`), later frames wait in `out_head`. */
    struct conn_out *out_head, *out_tail;
    bool file_busy;
    uv_poll_t writable; /* on a dup of the socket: waits out EAGAIN from sendfile */
    int poll_fd;        /* -1: none */
    unsigned open_handles;
    struct rpc_frame_reader reader;
    size_t max_frame;      /* frames written */
    size_t max_unsent;     /* output bytes queued before reading stops; 0 = no bound */
    size_t unsent;         /* output bytes held in memory, not yet written */
    bool started, reading; /* rpc_conn_start called; reads requested from libuv */
    bool paused;           /* by the owner */
    bool in_feed;          /* delivering frames (no nested feeding) */
    struct buf backlog;    /* bytes read past the frame that paused reading */
    /* For the owner's timeouts (uv_now ms; 0 = not applicable). */
    uint64_t frame_started_ms; /* a frame is partly received, while reading */
    uint64_t last_active_ms;   /* last frame received or output drained */
    uint64_t frames_in;        /* complete frames received */
    rpc_conn_frame_cb on_frame;
    rpc_conn_close_cb on_close;
    struct tls_session *tls; /* owned; NULL: plaintext */
    bool secured;            /* the TLS handshake is done */
    bool tls_writing;        /* a file chunk is being written through TLS */
    char tls_error[256];     /* why the handshake or session failed */
    rpc_conn_secured_cb on_secured;
    bool closing;
    int close_reason;
};

/* uv_tcp_init on `loop`. Returns 0 or a libuv error (then nothing to close). */
int rpc_conn_init(struct rpc_conn *conn, uv_loop_t *loop, size_t max_frame,
                  rpc_conn_frame_cb on_frame, rpc_conn_close_cb on_close);
/* Speak TLS over this connection (before rpc_conn_start): `session`
 * (tls_session_new for accepted sockets, tls_session_new_client for outgoing
 * ones) is owned by the connection from now on, also on failure paths.
 * `on_secured` (may be NULL) fires once the handshake is done; a failed
 * handshake closes the connection with -EPROTO, and rpc_conn_tls_error says
 * why (also during on_close). */
void rpc_conn_use_tls(struct rpc_conn *conn, struct tls_session *session,
                      rpc_conn_secured_cb on_secured);
/* OpenSSL's reason for the failure ("certificate verify failed ...") when
 * the connection closed with -EPROTO; NULL otherwise. Borrowed. */
const char *rpc_conn_tls_error(const struct rpc_conn *conn);
/* The verified peer certificate's subject (RFC 2253), or NULL without TLS.
 * Borrowed from the connection. */
const char *rpc_conn_peer_subject(struct rpc_conn *conn);
/* Start reading (after connect/accept). Returns 0 or a libuv error. */
int rpc_conn_start(struct rpc_conn *conn);
/* Frames read are at most `max_read` bytes (before rpc_conn_start; the
 * default is max_frame): a server reads small requests and writes large
 * answers. */
void rpc_conn_set_read_limit(struct rpc_conn *conn, size_t max_read);
/* Stop (true) or resume (false) reading for the owner. */
void rpc_conn_pause(struct rpc_conn *conn, bool paused);
/* Encode and queue one frame (body packed, payload copied). Returns 0,
 * -EMSGSIZE (frame above max_frame), -ENOMEM, -ENOTCONN when closing, or a
 * libuv write error (the connection is then being closed). */
int rpc_conn_send(struct rpc_conn *conn, const struct rpc_frame *frame,
                  const ProtobufCMessage *body, const void *payload, size_t payload_len);
/* Encode one frame whose payload is the file ranges `slices` (in order),
 * and queue it: the header and body are written, then each range goes from
 * its file to the socket with sendfile, never through user space (over TLS
 * the ranges are read in chunks and encrypted: no zero copy then). The
 * descriptors are dup'd here (the caller keeps its own), so a file deleted
 * meanwhile stays readable. Returns as rpc_conn_send. */
int rpc_conn_send_files(struct rpc_conn *conn, const struct rpc_frame *frame,
                        const ProtobufCMessage *body, const struct rpc_file_slice *slices,
                        size_t n_slices);
/* Queue already-encoded frames; `bytes` ownership is transferred (freed here
 * on success and failure). */
int rpc_conn_send_encoded(struct rpc_conn *conn, struct buf *bytes);
/* Text for a close reason or libuv/errno code. Unlike uv_strerror it does not
 * leak on codes libuv does not know (-EBADMSG, -EMSGSIZE are ours). */
const char *rpc_conn_strerror(int code);
/* Close (idempotent): on_close(conn, reason) fires later from the loop. */
void rpc_conn_close(struct rpc_conn *conn, int reason);

#endif
