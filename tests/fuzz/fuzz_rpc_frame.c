/* Fuzz target: the internal RPC frame decoder (common/rpc_frame.c), which
 * reads whatever a peer broker or controller sends. The input is a byte
 * stream fed to one reader in chunks sized by the first input byte.
 * Invariants for every frame handed to the callback: its body and payload lie
 * inside the frame the stream carried (so inside the input), kind is a known
 * one and error_message is a string; re-encoding the frame's header with
 * rpc_frame_encode (body and payload carried together as the payload) and
 * decoding that again gives the same method, version, correlation id, error,
 * message and bytes. A frame above the reader's maximum is refused without
 * allocating it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigendian.h"
#include "common/rpc_frame.h"

#define FUZZ_RPC_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_stream {
    const uint8_t *start, *end; /* the input, for bounds checks */
    int frames;
};

struct fuzz_again {
    const struct rpc_frame *want;
    const uint8_t *bytes; /* body followed by payload of `want` */
    int seen;
};

static int on_again(const struct rpc_frame *f, void *arg)
{
    struct fuzz_again *a = arg;
    const struct rpc_frame *w = a->want;
    size_t n = w->body_len + w->payload_len;
    if (f->kind != w->kind || f->method != w->method || f->version != w->version ||
        f->correlation_id != w->correlation_id || f->error != w->error ||
        strcmp(f->error_message, w->error_message) != 0 || f->body_len != 0 ||
        f->payload_len != n || (n && memcmp(f->payload, a->bytes, n) != 0))
        abort();
    a->seen++;
    return 0;
}

/* Encode `f` again and check it decodes to the same frame. */
static void reencode(const struct rpc_frame *f)
{
    struct buf out = BUF_INIT;
    size_t n = f->body_len + f->payload_len;
    uint8_t *bytes = malloc(n ? n : 1);
    if (bytes == NULL)
        abort();
    memcpy(bytes, f->body, f->body_len);
    memcpy(bytes + f->body_len, f->payload, f->payload_len);
    int rv = rpc_frame_encode(&out, f, NULL, bytes, n, FUZZ_RPC_MAX + RPC_FRAME_MAX_HEADER);
    if (rv == 0) {
        struct rpc_frame_reader r;
        struct fuzz_again a = {.want = f, .bytes = bytes};
        rpc_frame_reader_init(&r, FUZZ_RPC_MAX + RPC_FRAME_MAX_HEADER);
        if (rpc_frame_reader_feed(&r, out.data, out.len, on_again, &a) != 0 || a.seen != 1)
            abort();
        rpc_frame_reader_free(&r);
    } else if (rv != -EMSGSIZE) {
        abort();
    }
    buf_free(&out);
    free(bytes);
}

static int on_frame(const struct rpc_frame *f, void *arg)
{
    struct fuzz_stream *s = arg;
    (void)s;
    if ((f->kind != RPC_REQUEST && f->kind != RPC_RESPONSE) || f->error_message == NULL)
        abort();
    if (f->payload != f->body + f->body_len)
        abort();
    /* Reading every byte lets ASan flag a body or payload outside the frame. */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < f->body_len; i++)
        sink ^= f->body[i];
    for (size_t i = 0; i < f->payload_len; i++)
        sink ^= f->payload[i];
    (void)sink;
    (void)strlen(f->error_message);
    reencode(f);
    s->frames++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 23 + 1;
    struct rpc_frame_reader r;
    struct fuzz_stream s = {.start = data + 1, .end = data + size};
    rpc_frame_reader_init(&r, FUZZ_RPC_MAX);
    for (size_t pos = 1; pos < size; pos += chunk) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        int rv = rpc_frame_reader_feed(&r, data + pos, n, on_frame, &s);
        if (rv == -EMSGSIZE && r.frames.body != NULL)
            abort(); /* refused before allocating */
        if (rv != 0) {
            if (rv != -EMSGSIZE && rv != -EBADMSG)
                abort();
            break;
        }
    }
    rpc_frame_reader_free(&r);
    return 0;
}
