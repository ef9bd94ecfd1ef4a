/* Binary min-heap of deadline entries; see deadline_heap.h. */
#include "common/deadline_heap.h"

#include <errno.h>
#include <stdlib.h>

void deadline_heap_init(struct deadline_heap *h)
{
    h->items = NULL;
    h->count = h->cap = 0;
}

void deadline_heap_free(struct deadline_heap *h)
{
    for (size_t i = 0; i < h->count; i++) {
        h->items[i]->slot = 0;
    }
    free(h->items);
    deadline_heap_init(h);
}

static void place(struct deadline_heap *h, size_t i, struct deadline_entry *e)
{
    h->items[i] = e;
    e->slot = i + 1;
}

static void sift_up(struct deadline_heap *h, size_t i)
{
    struct deadline_entry *e = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline <= e->deadline) {
            break;
        }
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, e);
}

static void sift_down(struct deadline_heap *h, size_t i)
{
    struct deadline_entry *e = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count) {
            break;
        }
        if (child + 1 < h->count && h->items[child + 1]->deadline < h->items[child]->deadline) {
            child++;
        }
        if (e->deadline <= h->items[child]->deadline) {
            break;
        }
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, e);
}

int deadline_heap_set(struct deadline_heap *h, struct deadline_entry *e, int64_t deadline)
{
    if (e->slot != 0) {
        int64_t old = e->deadline;
        e->deadline = deadline;
        if (deadline < old) {
            sift_up(h, e->slot - 1);
        } else if (deadline > old) {
            sift_down(h, e->slot - 1);
        }
        return 0;
    }
    if (h->count == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        struct deadline_entry **items = realloc(h->items, cap * sizeof *items);
        if (items == NULL) {
            return -ENOMEM;
        }
        h->items = items;
        h->cap = cap;
    }
    e->deadline = deadline;
    place(h, h->count++, e);
    sift_up(h, h->count - 1);
    return 0;
}

void deadline_heap_remove(struct deadline_heap *h, struct deadline_entry *e)
{
    if (e->slot == 0) {
        return;
    }
    size_t i = e->slot - 1;
    e->slot = 0;
    struct deadline_entry *last = h->items[--h->count];
    if (i == h->count) {
        return;
    }
    /* The last entry fills the hole and moves whichever way it must. */
    place(h, i, last);
    sift_up(h, i);
    sift_down(h, last->slot - 1);
}

struct deadline_entry *deadline_heap_pop_due(struct deadline_heap *h, int64_t now)
{
    if (h->count == 0 || h->items[0]->deadline > now) {
        return NULL;
    }
    struct deadline_entry *e = h->items[0];
    deadline_heap_remove(h, e);
    return e;
}

int64_t deadline_heap_next(const struct deadline_heap *h)
{
    return h->count > 0 ? h->items[0]->deadline : INT64_MAX;
}
