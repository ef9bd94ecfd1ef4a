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

static bool contends(const struct request_budget_reader *r)
{
    return r->held > 0 || r->queued;
}

/* Keep b->contenders right across a change to `r` that it was in before
 * (`was`) or not. */
static void recount(struct request_budget *b, const struct request_budget_reader *r, bool was)
{
    bool is = contends(r);
    if (is && !was) {
        b->contenders++;
    } else if (was && !is && b->contenders > 0) {
        b->contenders--;
    }
}

/* Hand every waiter its chance: detach the list first, since a waiter that
 * still cannot read queues itself again (at the tail, so the order rotates). */
static void resume_all(struct request_budget *b)
{
    struct request_budget_reader *r = b->head;
    b->head = b->tail = NULL;
    while (r != NULL) {
        struct request_budget_reader *next = r->next;
        bool was = contends(r);
        r->prev = r->next = NULL;
        r->queued = false;
        recount(b, r, was);
        r->resume(r);
        r = next;
    }
}

void request_budget_charge(struct request_budget *b, struct request_budget_reader *r, size_t bytes)
{
    bool was = contends(r);
    b->used += bytes;
    r->held += bytes;
    recount(b, r, was);
}

void request_budget_release(struct request_budget *b, struct request_budget_reader *r, size_t bytes)
{
    bool was = contends(r);
    b->used = bytes < b->used ? b->used - bytes : 0;
    r->held = bytes < r->held ? r->held - bytes : 0;
    recount(b, r, was);
    /* Room, or a share that grew: a waiter over its share waits for its
     * own releases or for contenders to leave, both of which land here. */
    if (b->head != NULL && has_room(b)) {
        resume_all(b);
    }
}

size_t request_budget_share(const struct request_budget *b, const struct request_budget_reader *r)
{
    if (b->limit == 0) {
        return SIZE_MAX;
    }
    size_t n = b->contenders + (contends(r) ? 0 : 1);
    return b->limit / (n + 1);
}

bool request_budget_may_read(struct request_budget *b, struct request_budget_reader *r,
                             bool mid_frame, size_t frame_bytes)
{
    if (b->limit == 0 || b->overshoot == r) {
        return true;
    }
    size_t share = request_budget_share(b, r);
    bool only_frame = r->held <= (mid_frame ? frame_bytes : 0);
    if (r->held >= share && !only_frame) {
        return false; /* over its share: its own answers free it */
    }
    /* A reader past its share that must finish its frame leaves half the
     * budget to the readers under theirs. */
    size_t cap = r->held < share ? b->limit : b->limit - b->limit / 2;
    if (b->used < cap) {
        return true;
    }
    /* Only a frame whose reader holds nothing else may go past the limit:
     * nothing else would free its bytes. */
    if (mid_frame && only_frame && b->overshoot == NULL) {
        b->overshoot = r;
        return true;
    }
    return false;
}

void request_budget_frame_done(struct request_budget *b, const struct request_budget_reader *r)
{
    if (b->overshoot == r) {
        b->overshoot = NULL;
        if (b->head != NULL) {
            resume_all(b);
        }
    }
}

void request_budget_wait(struct request_budget *b, struct request_budget_reader *r)
{
    if (r->queued) {
        return;
    }
    bool at_share = r->held > 0 && r->held >= request_budget_share(b, r);
    bool was = contends(r);
    r->queued = true;
    r->next = NULL;
    r->prev = b->tail;
    if (b->tail != NULL) {
        b->tail->next = r;
    } else {
        b->head = r;
    }
    b->tail = r;
    recount(b, r, was);
    b->pauses++;
    if (at_share) {
        b->share_pauses++;
    }
}

void request_budget_cancel(struct request_budget *b, struct request_budget_reader *r)
{
    if (!r->queued) {
        return;
    }
    bool was = contends(r);
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        b->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        b->tail = r->prev;
    }
    r->prev = r->next = NULL;
    r->queued = false;
    recount(b, r, was);
}
