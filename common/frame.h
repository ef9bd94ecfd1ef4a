/* Length-prefixed framing: a big-endian 32-bit size, then that many bytes.
 * The one frame reader for both wire protocols: Kafka requests (broker/kafka/
 * connection.c) and Sluice's internal RPC (common/rpc_frame.c).
 *
 * A frame_reader is fed whatever bytes the socket produced, in chunks of any
 * size, and yields whole frames. The declared size is checked against the
 * reader's bounds (e.g. socket.request.max.bytes) BEFORE anything is
 * allocated, so a peer claiming 2 GiB costs four bytes of memory, not two
 * gigabytes. The size is signed as in Kafka (int32): a size with the top bit
 * set is invalid, never "large".
 *
 * A reader may also hold one spare body: the body of a frame its caller is
 * done with, given back (frame_reader_give_spare) so that the next large
 * frame is received into memory already mapped instead of a fresh
 * allocation. A body of 1 MiB or more is mmapped by malloc (sluiced pins
 * M_MMAP_THRESHOLD) and unmapped when freed, so without a spare every such
 * frame faults in its pages anew.
 *
 * Pure: no I/O, one owner, not thread-safe. */
#ifndef SLUICE_COMMON_FRAME_H
#define SLUICE_COMMON_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* First allocation for a frame's body; it then doubles as bytes arrive, so
 * a peer that declares a large frame and sends a few bytes costs this much,
 * not the declared size. Frames up to this size never use the spare: they
 * are allocated at their exact size, from the heap. */
#define FRAME_INITIAL_ALLOC 65536

enum frame_status {
    FRAME_NEED_MORE = 0,  /* all input consumed, no frame complete yet */
    FRAME_READY = 1,      /* a frame is complete: take it with frame_reader_take */
    FRAME_TOO_LARGE = -1, /* declared size above the maximum: close the connection */
    FRAME_INVALID = -2,   /* declared size negative or below the minimum */
    FRAME_NO_MEMORY = -3,
};

struct frame_reader {
    int32_t min_size, max_size; /* bounds on the declared size */
    uint8_t size_bytes[4];
    size_t size_have;
    uint8_t *body; /* owned; allocated once the size is known and accepted, then
                      grown with the bytes received (never past body_len) */
    size_t body_len, body_have, body_cap;
    int32_t last_size; /* the declared size, for error messages */
    uint8_t *spare;    /* owned; NULL or a body given back, spare_cap bytes */
    size_t spare_cap;
};

/* Frames declare between min_size and max_size bytes (an empty frame is
 * never valid: a min_size of 0 is taken as 1; a max_size above INT32_MAX is
 * taken as INT32_MAX). */
void frame_reader_init(struct frame_reader *fr, size_t min_size, size_t max_size);
/* Free the partial frame and the spare. The reader may be reused only after
 * frame_reader_init. */
void frame_reader_free(struct frame_reader *fr);

/* Consume bytes from `data` until a frame completes or the input runs out.
 * *consumed says how many bytes were used; call again with the rest after
 * taking a READY frame. Errors are sticky: the connection must be closed. */
enum frame_status frame_reader_feed(struct frame_reader *fr, const uint8_t *data, size_t len,
                                    size_t *consumed);

/* After FRAME_READY: ownership of the frame body (malloc'd, *len bytes, the
 * size prefix excluded) is transferred to the caller. *cap is how many bytes
 * the allocation holds (>= *len; more when the body was a spare), for
 * frame_reader_give_spare. */
uint8_t *frame_reader_take(struct frame_reader *fr, size_t *len, size_t *cap);

/* Give back a body the caller is done with (from frame_reader_take, or any
 * malloc'd block of `cap` bytes; NULL is ignored): ownership is transferred.
 * The reader keeps the larger of it and its current spare and frees the
 * other. The next frame that declares more than FRAME_INITIAL_ALLOC bytes is
 * received into the spare, grown with realloc as bytes arrive only when the
 * declared size exceeds it (never past the declared size, as a fresh body). */
void frame_reader_give_spare(struct frame_reader *fr, uint8_t *body, size_t cap);

/* Free the spare, if any (a caller whose memory bound no longer has room
 * for it); the next large frame grows from FRAME_INITIAL_ALLOC. */
void frame_reader_drop_spare(struct frame_reader *fr);

/* Bytes held by the spare (0: none), for the caller's accounting: it
 * changes in frame_reader_give_spare, and in frame_reader_feed when a new
 * frame takes the spare (the bytes then belong to the frame, body_cap). */
size_t frame_reader_spare_cap(const struct frame_reader *fr);

/* True while part of a frame has been received (for the idle timeout: a
 * connection stuck mid-frame is as idle as a silent one). */
int frame_reader_partial(const struct frame_reader *fr);

#endif
