/* Fuzz target: length-prefixed framing (common/frame.c) with Kafka's bounds, the first code
 * that sees a client's bytes. The input is a byte stream fed to one
 * frame_reader in chunks whose sizes come from the first input byte, as a
 * socket would deliver it. Invariants, checked against a straightforward
 * reference parse of the same stream: every frame yielded is exactly the
 * bytes the stream carried after its size prefix; a declared size above the
 * maximum is refused before any allocation (TOO_LARGE, nothing buffered), a
 * negative or too-small one is INVALID; consumption never exceeds what was
 * fed; errors are where the reference says they are. Every frame taken is
 * given back as the reader's spare, which holds the larger body after. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "common/bigendian.h"

#define FUZZ_FRAME_MAX 4096
/* Kafka's smallest request (KAFKA_REQUEST_MIN_SIZE), as the broker uses it. */
#define FUZZ_FRAME_MIN 10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reference: what the stream holds at `pos`; returns the status the reader
 * must end with for that frame and the body bounds. */
static enum frame_status reference_frame(const uint8_t *s, size_t len, size_t pos, size_t *body,
                                         size_t *body_len)
{
    if (len - pos < 4)
        return FRAME_NEED_MORE;
    int32_t declared = (int32_t)be32_load(s + pos);
    if (declared < FUZZ_FRAME_MIN)
        return FRAME_INVALID;
    if (declared > FUZZ_FRAME_MAX)
        return FRAME_TOO_LARGE;
    if (len - pos - 4 < (size_t)declared)
        return FRAME_NEED_MORE;
    *body = pos + 4;
    *body_len = (size_t)declared;
    return FRAME_READY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1; /* 1..17 bytes per read */
    const uint8_t *s = data + 1;
    size_t len = size - 1, fed = 0, ref_pos = 0;
    struct frame_reader fr;
    frame_reader_init(&fr, FUZZ_FRAME_MIN, FUZZ_FRAME_MAX);
    enum frame_status st = FRAME_NEED_MORE;
    while (fed < len) {
        size_t n = len - fed < chunk ? len - fed : chunk, used = 0;
        st = frame_reader_feed(&fr, s + fed, n, &used);
        if (used > n)
            abort();
        fed += used;
        if (st == FRAME_READY) {
            size_t body, body_len, got_len, got_cap;
            if (reference_frame(s, len, ref_pos, &body, &body_len) != FRAME_READY)
                abort();
            if (fed != body + body_len)
                abort(); /* the reader stops right after the frame */
            uint8_t *got = frame_reader_take(&fr, &got_len, &got_cap);
            if (got_len != body_len || got_cap < got_len || memcmp(got, s + body, body_len) != 0)
                abort();
            /* Given back as the spare (the reader keeps the larger of two:
             * ASan catches the one it should have freed). */
            frame_reader_give_spare(&fr, got, got_cap);
            if (frame_reader_spare_cap(&fr) < got_cap)
                abort();
            ref_pos = fed;
            if (frame_reader_partial(&fr))
                abort();
        } else if (st != FRAME_NEED_MORE) {
            size_t body, body_len;
            if (reference_frame(s, len, ref_pos, &body, &body_len) != st || fed != ref_pos + 4)
                abort();
            if (st == FRAME_TOO_LARGE && fr.body != NULL)
                abort(); /* refused before allocating */
            break;
        } else if (used != n) {
            abort(); /* NEED_MORE means everything was taken */
        }
    }
    if (st == FRAME_NEED_MORE && fed == len) {
        size_t body, body_len;
        if (reference_frame(s, len, ref_pos, &body, &body_len) != FRAME_NEED_MORE)
            abort();
        if (frame_reader_partial(&fr) != (len > ref_pos))
            abort();
    }
    frame_reader_free(&fr);
    return 0;
}
