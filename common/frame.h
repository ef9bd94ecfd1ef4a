/* Kafka request framing: a big-endian int32 size, then that many bytes.
 *
 * A frame_reader is fed whatever bytes the socket produced, in chunks of any
 * size, and yields whole frames. The declared size is checked against the
 * configured maximum (socket.request.max.bytes) BEFORE anything is allocated,
 * so a peer claiming 2 GiB costs four bytes of memory, not two gigabytes.
 *
 * Pure: no I/O, one owner, not thread-safe. */
#ifndef SLUICE_BROKER_KAFKA_FRAME_H
#define SLUICE_BROKER_KAFKA_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum frame_status {
    FRAME_NEED_MORE = 0,  /* all input consumed, no frame complete yet */
    FRAME_READY = 1,      /* a frame is complete: take it with frame_reader_take */
    FRAME_TOO_LARGE = -1, /* declared size above the maximum: close the connection */
    FRAME_INVALID = -2,   /* declared size negative or too small for a request header */
    FRAME_NO_MEMORY = -3,
};

/* The smallest request: api_key, api_version, correlation_id, client_id length. */
#define FRAME_MIN_SIZE 10

struct frame_reader {
    int32_t max_size;
    uint8_t size_bytes[4];
    size_t size_have;
    uint8_t *body; /* owned; allocated once the size is known and accepted */
    size_t body_len, body_have;
    int32_t last_size; /* the declared size, for error messages */
};

void frame_reader_init(struct frame_reader *fr, int32_t max_size);
void frame_reader_free(struct frame_reader *fr);

/* Consume bytes from `data` until a frame completes or the input runs out.
 * *consumed says how many bytes were used; call again with the rest after
 * taking a READY frame. Errors are sticky: the connection must be closed. */
enum frame_status frame_reader_feed(struct frame_reader *fr, const uint8_t *data, size_t len,
                                    size_t *consumed);

/* After FRAME_READY: ownership of the frame body (malloc'd, *len bytes, the
 * size prefix excluded) is transferred to the caller. */
uint8_t *frame_reader_take(struct frame_reader *fr, size_t *len);

/* True while part of a frame has been received (for the idle timeout: a
 * connection stuck mid-frame is as idle as a silent one). */
int frame_reader_partial(const struct frame_reader *fr);

#endif
