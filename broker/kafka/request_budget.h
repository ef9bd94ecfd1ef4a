/* queued.max.request.bytes: the memory every Kafka connection together may
 * hold in requests read but not yet answered, shared fairly.
 *
 * Each connection is a reader with an account of the bytes it holds (a
 * frame's buffer as it grows with the bytes received, then the whole request
 * until its response is written); the bytes are released when the request
 * is freed. While the budget is spent a reader stops reading and waits here;
 * releases resume the waiters.
 *
 * Fairness: a reader also stops at its share, the limit divided by the
 * number of contenders (readers holding bytes or waiting) plus one. The
 * "plus one" keeps room for a newcomer: one connection that pipelines
 * maximum-size requests and does not read its answers holds at most half
 * the budget while it is alone, and less as others arrive, so a
 * well-behaved client on another connection still finds room at once
 * rather than waiting for the hog's answers to go out (which, for a peer
 * that never reads, is never). A reader over its share waits for its own
 * answers; a reader whose only holding is the frame it is in the middle of
 * finishes that frame (nothing of its own would ever free it) while less
 * than half the budget is used, so the readers under their share keep the
 * other half; a reader holds at most its share plus one frame.
 *
 * One exception keeps the broker from stalling: when every byte is held by
 * half-received frames, nothing would ever be answered to free it. So one
 * reader at a time that is in the middle of a frame and holds nothing else
 * may read past the limit until that frame is complete (as Kafka's
 * non-strict memory pool lets one allocation overshoot). The memory held is therefore at most the
 * limit plus one frame (socket.request.max.bytes) plus one read buffer per connection.
 *
 * The bound counts the request bodies connections keep for reuse
 * (connection.h, kafka_frame_spares) too, though the budget does not: they
 * are kept only while `used` and they fit the limit, and freed as charges
 * push `used` past what is left (connection.c), so a reader never waits for
 * bytes only a spare holds; a frame received into a spare is charged all of
 * it at once, and only while that fits the reader's share.
 *
 * Borrowed pointers only; loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_REQUEST_BUDGET_H
#define SLUICE_BROKER_KAFKA_REQUEST_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One connection's account. Zero it, set `resume`, and release everything
 * it holds (and cancel its wait) before freeing it. */
struct request_budget_reader {
    /* Called once the budget may have room again; the reader has been
     * removed from the wait list and re-queues itself if it still cannot
     * read. */
    void (*resume)(struct request_budget_reader *r);
    size_t held; /* bytes charged to this reader now */
    struct request_budget_reader *prev, *next;
    bool queued;
};

struct request_budget {
    size_t limit; /* 0: unlimited */
    size_t used;
    size_t contenders;                             /* readers holding bytes or waiting */
    const struct request_budget_reader *overshoot; /* the one reader finishing its frame
                                                      past the limit */
    struct request_budget_reader *head, *tail;
    uint64_t pauses;       /* readers told to wait, since init (for the log and metrics) */
    uint64_t share_pauses; /* of which because the reader was at its share */
};

/* `limit` in bytes; 0 (queued.max.request.bytes=-1) means unlimited. */
void request_budget_init(struct request_budget *b, size_t limit);

void request_budget_charge(struct request_budget *b, struct request_budget_reader *r, size_t bytes);
/* Give back `bytes` of what `r` holds; resumes waiters while there is room. */
void request_budget_release(struct request_budget *b, struct request_budget_reader *r,
                            size_t bytes);

/* The most `r` may hold before it stops reading new frames: the limit over
 * the contenders (counting `r`) plus one; SIZE_MAX when unlimited. */
size_t request_budget_share(const struct request_budget *b, const struct request_budget_reader *r);

/* Whether `r` may read now. `mid_frame`: it holds part of a frame, whose
 * buffer is `frame_bytes` of what it holds. A mid-frame reader may become
 * the one allowed past a spent budget; it keeps that place until
 * request_budget_frame_done. */
bool request_budget_may_read(struct request_budget *b, struct request_budget_reader *r,
                             bool mid_frame, size_t frame_bytes);
/* `r` completed its frame or went away: if it was past the limit, another
 * mid-frame reader may take its place (the waiters are resumed). */
void request_budget_frame_done(struct request_budget *b, const struct request_budget_reader *r);

/* Queue `r` until the budget has room or its share grows (no-op if already
 * queued). */
void request_budget_wait(struct request_budget *b, struct request_budget_reader *r);
/* Unqueue `r` (closing connection); no-op if not queued. */
void request_budget_cancel(struct request_budget *b, struct request_budget_reader *r);

#endif
