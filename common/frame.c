/* Length-prefixed framing; see frame.h. */
#include "common/frame.h"

#include <stdlib.h>
#include <string.h>

#include "common/bigendian.h"

static int32_t clamp_size(size_t size)
{
    return size > INT32_MAX ? INT32_MAX : (int32_t)size;
}

void frame_reader_init(struct frame_reader *fr, size_t min_size, size_t max_size)
{
    memset(fr, 0, sizeof *fr);
    fr->min_size = min_size > 0 ? clamp_size(min_size) : 1;
    fr->max_size = clamp_size(max_size);
}

void frame_reader_free(struct frame_reader *fr)
{
    free(fr->body);
    fr->body = NULL;
    fr->body_cap = 0;
    frame_reader_drop_spare(fr);
}

void frame_reader_give_spare(struct frame_reader *fr, uint8_t *body, size_t cap)
{
    if (body == NULL) {
        return;
    }
    if (cap <= fr->spare_cap) {
        free(body);
        return;
    }
    free(fr->spare);
    fr->spare = body;
    fr->spare_cap = cap;
}

void frame_reader_drop_spare(struct frame_reader *fr)
{
    free(fr->spare);
    fr->spare = NULL;
    fr->spare_cap = 0;
}

size_t frame_reader_spare_cap(const struct frame_reader *fr)
{
    return fr->spare_cap;
}

/* A new frame's first buffer: the spare for a large frame (reserve_body
 * grows it if the frame is larger still), else at most FRAME_INITIAL_ALLOC. */
static int start_body(struct frame_reader *fr, size_t size)
{
    if (size > FRAME_INITIAL_ALLOC && fr->spare != NULL) {
        fr->body = fr->spare;
        fr->body_cap = fr->spare_cap;
        fr->spare = NULL;
        fr->spare_cap = 0;
        return 0;
    }
    size_t cap = size < FRAME_INITIAL_ALLOC ? size : FRAME_INITIAL_ALLOC;
    fr->body = malloc(cap);
    if (fr->body == NULL) {
        return -1;
    }
    fr->body_cap = cap;
    return 0;
}

static enum frame_status accept_size(struct frame_reader *fr)
{
    int32_t size = (int32_t)be32_load(fr->size_bytes);
    fr->last_size = size;
    if (size < 0 || size < fr->min_size) {
        return FRAME_INVALID;
    }
    if (size > fr->max_size) {
        return FRAME_TOO_LARGE;
    }
    if (start_body(fr, (size_t)size) != 0) {
        return FRAME_NO_MEMORY;
    }
    fr->body_len = (size_t)size;
    fr->body_have = 0;
    return FRAME_NEED_MORE;
}

/* Room for `n` more body bytes: double, never past the declared size. */
static int reserve_body(struct frame_reader *fr, size_t n)
{
    size_t want = fr->body_have + n;
    if (want <= fr->body_cap) {
        return 0;
    }
    size_t cap = fr->body_cap * 2 > want ? fr->body_cap * 2 : want;
    cap = cap < fr->body_len ? cap : fr->body_len;
    uint8_t *p = realloc(fr->body, cap);
    if (p == NULL) {
        return -1;
    }
    fr->body = p;
    fr->body_cap = cap;
    return 0;
}

enum frame_status frame_reader_feed(struct frame_reader *fr, const uint8_t *data, size_t len,
                                    size_t *consumed)
{
    size_t used = 0;
    enum frame_status st = FRAME_NEED_MORE;
    while (used < len) {
        if (fr->body == NULL) {
            size_t n = 4 - fr->size_have;
            n = n < len - used ? n : len - used;
            memcpy(fr->size_bytes + fr->size_have, data + used, n);
            fr->size_have += n;
            used += n;
            if (fr->size_have < 4) {
                break;
            }
            st = accept_size(fr);
            if (st != FRAME_NEED_MORE) {
                break;
            }
        }
        size_t n = fr->body_len - fr->body_have;
        n = n < len - used ? n : len - used;
        if (reserve_body(fr, n) != 0) {
            st = FRAME_NO_MEMORY;
            break;
        }
        memcpy(fr->body + fr->body_have, data + used, n);
        fr->body_have += n;
        used += n;
        if (fr->body_have == fr->body_len) {
            st = FRAME_READY;
            break;
        }
    }
    *consumed = used;
    return st;
}

uint8_t *frame_reader_take(struct frame_reader *fr, size_t *len, size_t *cap)
{
    uint8_t *body = fr->body;
    *len = fr->body_len;
    *cap = fr->body_cap;
    fr->body = NULL;
    fr->body_len = fr->body_have = fr->body_cap = 0;
    fr->size_have = 0;
    return body;
}

int frame_reader_partial(const struct frame_reader *fr)
{
    return fr->size_have > 0;
}
