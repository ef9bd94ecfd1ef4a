/* RPC frames: the wire unit of Sluice's internal RPC (see proto/rpc.proto).
 *
 *   uint32 BE frame_length   bytes after this field
 *   uint32 BE header_length
 *   RpcHeader                protobuf, header_length bytes
 *   body                     protobuf of the method's message, header.body_length bytes
 *   payload                  raw bytes (record data), header.payload_length bytes
 *
 * The payload travels beside the protobuf body so record data is never
 * encoded or decoded by protobuf. Decoding is incremental and bounded: the
 * frame length is checked against the reader's maximum before any allocation
 * (common/frame.h; a length of 2 GiB or more is malformed), and the header's
 * lengths must add up to the frame length exactly.
 *
 * Pure code (no I/O); any thread, one reader per connection. */
#ifndef SLUICE_COMMON_RPC_FRAME_H
#define SLUICE_COMMON_RPC_FRAME_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/frame.h"

enum rpc_kind { RPC_REQUEST = 0, RPC_RESPONSE = 1 };

/* Errors a server reports in a response header (RpcHeader.error). */
enum rpc_error {
    RPC_OK = 0,
    RPC_ERROR_UNKNOWN_METHOD = 1, /* no handler registered for the method id */
    RPC_ERROR_MALFORMED = 2,      /* the body did not decode as the method's request */
    RPC_ERROR_INTERNAL = 3,       /* the handler failed (out of memory, ...) */
    RPC_ERROR_UNAVAILABLE = 4,    /* the service is shutting down */
    RPC_ERROR_NOT_AUTHORIZED =
        5, /* the caller's identity may not call this (rpc_server_set_guard) */
};

/* Largest header we accept; a header is a few dozen bytes plus a message. */
#define RPC_FRAME_MAX_HEADER 4096
/* Default bound on a whole frame (see rpc_frame_reader_init). */
#define RPC_FRAME_DEFAULT_MAX (16u * 1024 * 1024)

/* A decoded frame. In frames handed out by the reader every pointer is
 * borrowed from the reader and valid only during the callback. */
struct rpc_frame {
    enum rpc_kind kind;
    uint32_t method;
    uint32_t version;
    uint64_t correlation_id;
    int32_t error;             /* enum rpc_error, responses only */
    const char *error_message; /* never NULL when decoded ("" if none) */
    const uint8_t *body;
    size_t body_len;
    const uint8_t *payload;
    size_t payload_len;
};

/* Append one frame to `out`: the header from `frame` (its body/payload
 * pointers are ignored), `body` packed (NULL for an empty body) and `payload`
 * copied. A NULL `payload` with payload_len > 0 appends everything but the
 * payload: the caller sends those bytes right after (rpc_conn_send_files).
 * Returns 0, -ENOMEM, or -EMSGSIZE when the frame would exceed `max_frame`.
 * `out` is unchanged on failure. */
int rpc_frame_encode(struct buf *out, const struct rpc_frame *frame, const ProtobufCMessage *body,
                     const void *payload, size_t payload_len, size_t max_frame);

typedef int (*rpc_frame_cb)(const struct rpc_frame *frame, void *arg);

/* Incremental decoder for one byte stream: the length-prefixed framing is
 * common/frame.h's reader (bounded before allocation); this decodes what it
 * yields. */
struct rpc_frame_reader {
    struct frame_reader frames; /* min 4 (header_length), max the frame bound */
};

void rpc_frame_reader_init(struct rpc_frame_reader *r, size_t max_frame);
void rpc_frame_reader_free(struct rpc_frame_reader *r);

/* Consume `len` bytes, calling `cb` for each complete frame in order. Returns
 * 0; -EMSGSIZE for a frame above the maximum; -EBADMSG for a frame whose
 * header does not decode or whose lengths do not add up; -ENOMEM; or the
 * first non-zero value `cb` returns (decoding stops there). After an error the
 * stream is unusable: close the connection. */
int rpc_frame_reader_feed(struct rpc_frame_reader *r, const uint8_t *data, size_t len,
                          rpc_frame_cb cb, void *arg);
/* As rpc_frame_reader_feed, and *consumed says how many bytes were used:
 * when `cb` returns non-zero to pause (not an error), the caller keeps
 * data[*consumed..len) and feeds it later. */
int rpc_frame_reader_feed_some(struct rpc_frame_reader *r, const uint8_t *data, size_t len,
                               rpc_frame_cb cb, void *arg, size_t *consumed);

#endif
