/* A min-heap of deadlines: which of many items is due first, and all that
 * are due by a given time, without visiting the others (the retention timer
 * of thousands of partitions, each with its own next deadline).
 *
 * Items embed a `struct deadline_entry`; the heap holds pointers to them and
 * records each one's position in it, so moving or removing an item is
 * O(log n) and needs no search. The caller owns the items and must remove
 * one before freeing it. Not thread-safe: one loop thread. */
#ifndef SLUICE_COMMON_DEADLINE_HEAP_H
#define SLUICE_COMMON_DEADLINE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct deadline_entry {
    int64_t deadline;
    size_t slot; /* position in the heap + 1; 0 when not queued */
};

struct deadline_heap {
    struct deadline_entry **items;
    size_t count, cap;
};

void deadline_heap_init(struct deadline_heap *h);
/* Frees the heap's array, not the items. */
void deadline_heap_free(struct deadline_heap *h);

static inline bool deadline_entry_queued(const struct deadline_entry *e)
{
    return e->slot != 0;
}

/* Queue `e` at `deadline`, or move it there if it is queued already.
 * Returns 0, or -ENOMEM (then `e` is left as it was). */
int deadline_heap_set(struct deadline_heap *h, struct deadline_entry *e, int64_t deadline);
/* Take `e` out of the heap; a no-op if it is not queued. */
void deadline_heap_remove(struct deadline_heap *h, struct deadline_entry *e);
/* Remove and return the entry with the earliest deadline if that deadline
 * is at or before `now`, else NULL. Ties come out in no particular order. */
struct deadline_entry *deadline_heap_pop_due(struct deadline_heap *h, int64_t now);
/* The earliest deadline queued, INT64_MAX when empty. */
int64_t deadline_heap_next(const struct deadline_heap *h);

#endif
