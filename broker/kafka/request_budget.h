/* queued.max.request.bytes: the memory every Kafka connection together may
 * hold in requests read but not yet answered.
 *
 * Connections charge the bytes they hold (a frame's buffer as it grows with
 * the bytes received, then the whole request until its response is written)
 * and release them when the request is freed. While the budget is spent a
 * connection stops reading and waits here; releases resume the waiters.
 *
 * One exception keeps the broker from stalling: when every byte is held by
 * half-received frames, nothing would ever be answered to free it. So one
 * connection at a time that is in the middle of a frame may read past the
 * limit until that frame is complete (as Kafka's non-strict memory pool lets
 * one allocation overshoot). The memory held is therefore at most the limit
 * plus one frame (socket.request.max.bytes) plus one read buffer per
 * connection.
 *
 * Borrowed pointers only; loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_REQUEST_BUDGET_H
#define SLUICE_BROKER_KAFKA_REQUEST_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct request_budget_waiter {
    /* Called once the budget may have room again; the waiter has been
     * removed from the list and re-queues itself if it still cannot read. */
    void (*resume)(struct request_budget_waiter *w);
    struct request_budget_waiter *prev, *next;
    bool queued;
};

struct request_budget {
    size_t limit; /* 0: unlimited */
    size_t used;
    const void *overshoot; /* the one reader finishing its frame past the limit */
    struct request_budget_waiter *head, *tail;
    uint64_t pauses; /* readers told to wait, since init (for the log) */
};

/* `limit` in bytes; 0 (queued.max.request.bytes=-1) means unlimited. */
void request_budget_init(struct request_budget *b, size_t limit);

void request_budget_charge(struct request_budget *b, size_t bytes);
/* Give `bytes` back; resumes waiters while there is room. */
void request_budget_release(struct request_budget *b, size_t bytes);

/* Whether `reader` may read now. `mid_frame`: it holds part of a frame. A
 * mid-frame reader may become the one allowed past a spent budget; it keeps
 * that place until request_budget_frame_done. */
bool request_budget_may_read(struct request_budget *b, const void *reader, bool mid_frame);
/* `reader` completed its frame or went away: if it was past the limit,
 * another mid-frame reader may take its place (the waiters are resumed). */
void request_budget_frame_done(struct request_budget *b, const void *reader);

/* Queue `w` until the budget has room (no-op if already queued). */
void request_budget_wait(struct request_budget *b, struct request_budget_waiter *w);
/* Unqueue `w` (closing connection); no-op if not queued. */
void request_budget_cancel(struct request_budget *b, struct request_budget_waiter *w);

#endif
