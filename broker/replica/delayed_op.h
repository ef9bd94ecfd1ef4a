/* Delayed operations (Kafka's "purgatory"): requests that wait for something
 * to happen on one or more partitions, or for a deadline.
 *
 * A Fetch with max_wait_ms/min_bytes waits until enough data is readable; a
 * Produce with acks=all (once replication exists) waits until the high
 * watermark passes its offsets. Each partition embeds a `delayed_key`; an op
 * watches the keys it cares about, and whoever moves a partition's log end or
 * high watermark calls delayed_key_notify, which asks each watching op whether
 * it can complete now. Nothing polls: an op is re-examined only when one of
 * its partitions changed, and otherwise completes at its deadline.
 *
 * Ownership: ops are caller-owned and must stay valid until `complete` is
 * called; the queue unlinks an op from every key and from the deadline list
 * BEFORE calling `complete`, so `complete` may free it. Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_DELAYED_OP_H
#define SLUICE_BROKER_REPLICA_DELAYED_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct delayed_op;
struct delayed_watch;

struct delayed_key_cursor;

/* Embedded in whatever is watched (a partition). */
struct delayed_key {
    struct delayed_watch *head;
    /* The notifications walking this key's list (nested ones included):
     * unlinking a watch moves on any of them that points at it, because a
     * completion may cancel or complete other ops of the same key (a
     * response write failing closes its connection, whose other parked
     * requests are cancelled and freed). */
    struct delayed_key_cursor *cursors;
};

struct delayed_queue {
    uv_timer_t timer;
    struct delayed_op *head, *tail; /* by deadline, earliest first */
    size_t count;
    bool closed;
};

struct delayed_op {
    void *data;
    /* Whether the op can complete now (called on a key notification). */
    bool (*ready)(struct delayed_op *op);
    /* For `ready`: which watch notified, numbered in delayed_op_watch order
     * from 0, so an op watching many keys re-examines only that one. */
    size_t fired;
    /* The op is done: `expired` says the deadline passed (or the queue closed). */
    void (*complete)(struct delayed_op *op, bool expired);
    /* private */
    struct delayed_queue *queue;
    uint64_t deadline;
    struct delayed_op *prev, *next;
    struct delayed_watch *watches;
    size_t n_watches, max_watches;
};

void delayed_queue_init(struct delayed_queue *q, uv_loop_t *loop);
/* Complete every pending op as expired, then close the timer; `on_closed`
 * (may be NULL) fires from the loop once the handle is closed. */
void delayed_queue_close(struct delayed_queue *q, uv_close_cb on_closed);

void delayed_key_init(struct delayed_key *key);
/* Ask every op watching `key` whether it is ready; complete those that are. */
void delayed_key_notify(struct delayed_key *key);
/* The watched object is going away: unlink every op from it. The ops keep
 * waiting for their other keys or their deadline. */
void delayed_key_detach(struct delayed_key *key);

/* Prepare `op` to watch up to `max_keys` keys. Returns 0 or -ENOMEM. */
int delayed_op_init(struct delayed_op *op, size_t max_keys, bool (*ready)(struct delayed_op *),
                    void (*complete)(struct delayed_op *, bool), void *data);
/* Free what delayed_op_init allocated; for an op never added (or completed). */
void delayed_op_free(struct delayed_op *op);
/* Watch `key` (at most max_keys times; extra calls are ignored). */
void delayed_op_watch(struct delayed_op *op, struct delayed_key *key);
/* Start waiting: the op completes on a ready notification or after
 * `timeout_ms`. A closed queue completes it at once as expired. */
void delayed_queue_add(struct delayed_queue *q, struct delayed_op *op, uint64_t timeout_ms);
/* Stop waiting without completing (its requester went away): the op leaves
 * every key and the deadline list; `complete` is not called. The caller then
 * frees it (delayed_op_free). Harmless for an op not waiting. */
void delayed_op_cancel(struct delayed_op *op);

#endif
