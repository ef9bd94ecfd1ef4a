/* Handler time per event loop iteration; see iteration_budget.h. */
#include "common/iteration_budget.h"

#include <stddef.h>
#include <string.h>

static void noop_idle(uv_idle_t *h)
{
    (void)h;
}

static void idle_update(struct iteration_budget *b)
{
    if (b->handles_open == 0 || uv_is_closing((uv_handle_t *)&b->idle)) {
        return; /* not on a loop (unit tests), or closing */
    }
    if (b->head != NULL && !uv_is_active((uv_handle_t *)&b->idle)) {
        uv_idle_start(&b->idle, noop_idle);
    } else if (b->head == NULL && uv_is_active((uv_handle_t *)&b->idle)) {
        uv_idle_stop(&b->idle);
    }
}

static void on_prepare(uv_prepare_t *h)
{
    iteration_budget_refill(h->data);
}

static void on_closed(uv_handle_t *h)
{
    struct iteration_budget *b = h->data;
    b->handles_open--;
}

int iteration_budget_init(struct iteration_budget *b, uv_loop_t *loop, uint64_t limit_ns)
{
    memset(b, 0, sizeof *b);
    b->limit_ns = limit_ns > 0 ? limit_ns : ITERATION_BUDGET_DEFAULT_NS;
    int rv = uv_prepare_init(loop, &b->prepare);
    if (rv != 0) {
        return rv;
    }
    rv = uv_idle_init(loop, &b->idle);
    if (rv != 0) {
        uv_close((uv_handle_t *)&b->prepare, NULL);
        return rv;
    }
    b->prepare.data = b->idle.data = b;
    b->handles_open = 2;
    uv_prepare_start(&b->prepare, on_prepare); /* fails only without a callback */
    uv_unref((uv_handle_t *)&b->prepare);
    uv_unref((uv_handle_t *)&b->idle);
    return 0;
}

void iteration_budget_close(struct iteration_budget *b)
{
    while (b->head != NULL) {
        iteration_budget_cancel(b, b->head);
    }
    if (b->handles_open == 2) {
        uv_close((uv_handle_t *)&b->prepare, on_closed);
        uv_close((uv_handle_t *)&b->idle, on_closed);
    }
}

bool iteration_budget_has_room(const struct iteration_budget *b)
{
    return b == NULL || b->spent_ns < b->limit_ns;
}

bool iteration_budget_has_room_with(const struct iteration_budget *b, uint64_t running_ns)
{
    return b == NULL || b->spent_ns + running_ns < b->limit_ns;
}

void iteration_budget_charge(struct iteration_budget *b, uint64_t ns)
{
    if (b != NULL) {
        b->spent_ns += ns;
    }
}

void iteration_budget_wait(struct iteration_budget *b, struct iteration_budget_waiter *w)
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
    b->n_waiting++;
    b->waits++;
    idle_update(b);
}

void iteration_budget_cancel(struct iteration_budget *b, struct iteration_budget_waiter *w)
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
    b->n_waiting--;
    idle_update(b);
}

void iteration_budget_refill(struct iteration_budget *b)
{
    b->spent_ns = 0;
    /* Only those queued now: a waiter that spends the budget and queues
     * again waits for the next iteration. */
    for (size_t n = b->n_waiting; n > 0 && b->head != NULL && iteration_budget_has_room(b); n--) {
        struct iteration_budget_waiter *w = b->head;
        iteration_budget_cancel(b, w);
        w->resume(w);
    }
}
