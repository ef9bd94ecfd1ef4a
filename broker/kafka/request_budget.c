/* queued.max.request.bytes; see request_budget.h. */
#include "broker/kafka/request_budget.h"

#include <string.h>

void request_budget_init(struct request_budget *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

static bool has_room(const struct request_budget *b)
{
    return b->limit == 0 || b->used < b->limit;
}

/* Hand every waiter its chance: detach the list first, since a waiter that
 * still cannot read queues itself again. */
static void resume_all(struct request_budget *b)
{
    struct request_budget_waiter *w = b->head;
    b->head = b->tail = NULL;
    while (w != NULL) {
        struct request_budget_waiter *next = w->next;
        w->prev = w->next = NULL;
        w->queued = false;
        w->resume(w);
        w = next;
    }
}

void request_budget_charge(struct request_budget *b, size_t bytes)
{
    b->used += bytes;
}

void request_budget_release(struct request_budget *b, size_t bytes)
{
    b->used = bytes < b->used ? b->used - bytes : 0;
    if (b->head != NULL && has_room(b)) {
        resume_all(b);
    }
}

bool request_budget_may_read(struct request_budget *b, const void *reader, bool mid_frame)
{
    if (has_room(b) || b->overshoot == reader) {
        return true;
    }
    if (mid_frame && b->overshoot == NULL) {
        b->overshoot = reader;
        return true;
    }
    return false;
}

void request_budget_frame_done(struct request_budget *b, const void *reader)
{
    if (b->overshoot == reader) {
        b->overshoot = NULL;
        if (b->head != NULL) {
            resume_all(b);
        }
    }
}

void request_budget_wait(struct request_budget *b, struct request_budget_waiter *w)
{
    if (w->queued) {
        return;
    }
    w->queued = true;
    w->next = NULL;
    w->prev = b->tail;
    if (b->tail != NULL) {
        b->tail->next = w;
    } else {
        b->head = w;
    }
    b->tail = w;
    b->pauses++;
}

void request_budget_cancel(struct request_budget *b, struct request_budget_waiter *w)
{
    if (!w->queued) {
        return;
    }
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        b->head = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    } else {
        b->tail = w->prev;
    }
    w->prev = w->next = NULL;
    w->queued = false;
}
