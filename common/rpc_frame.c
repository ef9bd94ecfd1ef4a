#include "common/rpc_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigendian.h"
#include "proto/rpc.pb-c.h"

int rpc_frame_encode(struct buf *out, const struct rpc_frame *frame, const ProtobufCMessage *body,
                     const void *payload, size_t payload_len, size_t max_frame)
{
    size_t body_len = body != NULL ? protobuf_c_message_get_packed_size(body) : 0;
    Sluice__Rpc__RpcHeader hdr = SLUICE__RPC__RPC_HEADER__INIT;
    hdr.kind = (Sluice__Rpc__RpcKind)frame->kind;
    hdr.method = frame->method;
    hdr.version = frame->version;
    hdr.correlation_id = frame->correlation_id;
    hdr.error = frame->error;
    hdr.error_message = (char *)(frame->error_message != NULL ? frame->error_message : "");
    if (body_len > UINT32_MAX || payload_len > UINT32_MAX) {
        return -EMSGSIZE;
    }
    hdr.body_length = (uint32_t)body_len;
    hdr.payload_length = (uint32_t)payload_len;
    size_t hdr_len = sluice__rpc__rpc_header__get_packed_size(&hdr);
    if (hdr_len > RPC_FRAME_MAX_HEADER || body_len > max_frame || payload_len > max_frame ||
        4 + hdr_len + body_len + payload_len > max_frame) {
        return -EMSGSIZE;
    }
    size_t frame_len = 4 + hdr_len + body_len + payload_len;
    if (buf_reserve(out, 4 + frame_len) != 0) {
        return -ENOMEM;
    }
    uint8_t *p = out->data + out->len;
    be32_store(p, (uint32_t)frame_len);
    be32_store(p + 4, (uint32_t)hdr_len);
    p += 8;
    p += sluice__rpc__rpc_header__pack(&hdr, p);
    if (body != NULL) {
        p += protobuf_c_message_pack(body, p);
    }
    if (payload == NULL) {
        out->len += 4 + frame_len - payload_len; /* the caller sends the payload */
        return 0;
    }
    if (payload_len > 0) {
        memcpy(p, payload, payload_len);
    }
    out->len += 4 + frame_len;
    return 0;
}

void rpc_frame_reader_init(struct rpc_frame_reader *r, size_t max_frame)
{
    frame_reader_init(&r->frames, 4, max_frame);
}

void rpc_frame_reader_free(struct rpc_frame_reader *r)
{
    frame_reader_free(&r->frames);
}

/* Decode a complete frame body (everything after the length prefix). */
static int decode_frame(const uint8_t *p, size_t len, rpc_frame_cb cb, void *arg)
{
    if (len < 4) {
        return -EBADMSG;
    }
    size_t hdr_len = be32_load(p);
    if (hdr_len > RPC_FRAME_MAX_HEADER || hdr_len > len - 4) {
        return -EBADMSG;
    }
    Sluice__Rpc__RpcHeader *hdr = sluice__rpc__rpc_header__unpack(NULL, hdr_len, p + 4);
    if (hdr == NULL) {
        return -EBADMSG;
    }
    size_t rest = len - 4 - hdr_len;
    int rv = -EBADMSG;
    if ((hdr->kind != SLUICE__RPC__RPC_KIND__RPC_KIND_REQUEST &&
         hdr->kind != SLUICE__RPC__RPC_KIND__RPC_KIND_RESPONSE) ||
        (uint64_t)hdr->body_length + hdr->payload_length != rest) {
        goto out;
    }
    const uint8_t *body = p + 4 + hdr_len;
    struct rpc_frame f = {
        .kind = (enum rpc_kind)hdr->kind,
        .method = hdr->method,
        .version = hdr->version,
        .correlation_id = hdr->correlation_id,
        .error = hdr->error,
        .error_message = hdr->error_message != NULL ? hdr->error_message : "",
        .body = body,
        .body_len = hdr->body_length,
        .payload = body + hdr->body_length,
        .payload_len = hdr->payload_length,
    };
    rv = cb(&f, arg);
out:
    sluice__rpc__rpc_header__free_unpacked(hdr, NULL);
    return rv;
}

static int frame_errno(enum frame_status st)
{
    switch (st) {
    case FRAME_TOO_LARGE:
        return -EMSGSIZE;
    case FRAME_INVALID:
        return -EBADMSG;
    default:
        return -ENOMEM;
    }
}

int rpc_frame_reader_feed(struct rpc_frame_reader *r, const uint8_t *data, size_t len,
                          rpc_frame_cb cb, void *arg)
{
    size_t consumed;
    return rpc_frame_reader_feed_some(r, data, len, cb, arg, &consumed);
}

int rpc_frame_reader_feed_some(struct rpc_frame_reader *r, const uint8_t *data, size_t len,
                               rpc_frame_cb cb, void *arg, size_t *consumed)
{
    const uint8_t *start = data;
    int rv = 0;
    while (len > 0) {
        size_t used;
        enum frame_status st = frame_reader_feed(&r->frames, data, len, &used);
        data += used;
        len -= used;
        if (st == FRAME_NEED_MORE) {
            break;
        }
        if (st != FRAME_READY) {
            rv = frame_errno(st);
            break;
        }
        size_t frame_len, frame_cap;
        uint8_t *frame = frame_reader_take(&r->frames, &frame_len, &frame_cap);
        rv = decode_frame(frame, frame_len, cb, arg);
        free(frame);
        if (rv != 0) {
            break;
        }
    }
    *consumed = (size_t)(data - start);
    return rv;
}
