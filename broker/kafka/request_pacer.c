/* When a connection's requests may start; see request_pacer.h. */
#include "broker/kafka/request_pacer.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "broker/kafka/request_budget.h"

static void on_iteration_room(struct iteration_budget_waiter *w);

void request_pacer_init(struct request_pacer *p, struct iteration_budget *budget,
                        struct request_budget *request_budget, struct request_budget_reader *reader,
                        void (*start)(struct kafka_request *req, void *data),
                        void (*resumed)(void *data), void *data)
{
    memset(p, 0, sizeof *p);
    p->budget = budget;
    p->request_budget = request_budget;
    p->reader = reader;
    p->start = start;
    p->resumed = resumed;
    p->data = data;
    p->waiter.resume = on_iteration_room;
}

/* Give back what the held bytes are charged to the request budget. */
static void held_release(struct request_pacer *p)
{
    if (p->held_charged > 0) {
        request_budget_release(p->request_budget, p->reader, p->held_charged);
        p->held_charged = 0;
    }
}

static void waiter_cancel(struct request_pacer *p)
{
    if (p->budget != NULL) {
        iteration_budget_cancel(p->budget, &p->waiter);
    }
}

void request_pacer_close(struct request_pacer *p)
{
    p->closed = true;
    p->next_start = NULL;
    /* A handler that yielded goes on to the end (request_pacer_yield): the
     * pacer keeps its budget waiter for it. */
    if (p->yielded == NULL) {
        waiter_cancel(p);
    }
    free(p->held);
    p->held = NULL;
    p->held_len = 0;
    held_release(p);
}

struct kafka_request *request_pacer_abort(struct request_pacer *p)
{
    p->aborted = true;
    struct kafka_request *req = p->yielded;
    if (req == NULL) {
        return NULL;
    }
    p->yielded = NULL;
    p->yield_resume = NULL;
    waiter_cancel(p);
    return req;
}

struct kafka_request *request_pacer_yielded(const struct request_pacer *p)
{
    return p->yielded;
}

bool request_pacer_resuming(const struct request_pacer *p)
{
    return p->resuming;
}

void request_pacer_add(struct request_pacer *p, struct kafka_request *req)
{
    if (p->next_start == NULL) {
        p->next_start = req;
    }
}

void request_pacer_run(struct request_pacer *p)
{
    struct iteration_budget *budget = p->budget;
    /* Once closed, only a yielded handler goes on (next_start is NULL). */
    while (p->yielded != NULL || (p->next_start != NULL && !p->closed)) {
        if (!iteration_budget_has_room(budget)) {
            iteration_budget_wait(budget, &p->waiter);
            return;
        }
        uint64_t began = budget != NULL ? uv_hrtime() : 0;
        p->slice_began = began;
        if (p->yielded != NULL) {
            /* A yielded handler goes on before anything after it starts,
             * as Kafka processes one request of a connection at a time. */
            struct kafka_request *req = p->yielded;
            void (*resume)(struct kafka_request *) = p->yield_resume;
            p->yielded = NULL;
            p->yield_resume = NULL;
            req->on_cancel = NULL; /* set again if it yields again */
            p->resuming = true;
            resume(req);
            p->resuming = false;
        } else {
            struct kafka_request *req = p->next_start;
            p->next_start = req->next; /* read first: the handler may complete and free req */
            p->start(req, p->data);
        }
        if (budget != NULL) {
            iteration_budget_charge(budget, uv_hrtime() - began);
        }
    }
}

/* A later iteration has room: start what waits (after a close, only a
 * yielded handler), then let the connection go on: frame what was held
 * (which may wait again), or free itself once closed. `p` may be freed by
 * `resumed`. */
static void on_iteration_room(struct iteration_budget_waiter *w)
{
    struct request_pacer *p =
        (struct request_pacer *)((char *)w - offsetof(struct request_pacer, waiter));
    request_pacer_run(p);
    p->resumed(p->data);
}

bool request_pacer_blocked(const struct request_pacer *p)
{
    return p->next_start != NULL || p->yielded != NULL;
}

bool request_pacer_idle(const struct request_pacer *p)
{
    return !request_pacer_blocked(p) && p->held == NULL;
}

int request_pacer_hold(struct request_pacer *p, const uint8_t *data, size_t len)
{
    uint8_t *held = realloc(p->held, p->held_len + len);
    if (held == NULL) {
        return -ENOMEM;
    }
    memcpy(held + p->held_len, data, len);
    p->held = held;
    p->held_len += len;
    if (p->request_budget != NULL) {
        request_budget_charge(p->request_budget, p->reader, len);
        p->held_charged += len;
    }
    return 0;
}

uint8_t *request_pacer_take_held(struct request_pacer *p, size_t *len)
{
    if (request_pacer_blocked(p) || p->held == NULL || p->closed) {
        return NULL;
    }
    uint8_t *held = p->held;
    *len = p->held_len;
    p->held = NULL;
    p->held_len = 0;
    held_release(p);
    return held;
}

bool request_pacer_budget_spent(const struct request_pacer *p)
{
    if (p->budget == NULL) {
        return false;
    }
    return !iteration_budget_has_room_with(p->budget, uv_hrtime() - p->slice_began);
}

void request_pacer_yield(struct request_pacer *p, struct kafka_request *req,
                         void (*resume)(struct kafka_request *req),
                         void (*cancel)(struct kafka_request *req))
{
    req->on_cancel = cancel;
    if (p->aborted) {
        req->on_cancel = NULL;
        cancel(req);
        return;
    }
    /* Closed by the peer or by us (not aborted): the request was read, so
     * it is processed to the end as Kafka does and only the answer is
     * dropped; an acks=0 Produce must not lose its later partitions. */
    p->yielded = req;
    p->yield_resume = resume;
    /* The handler was called by request_pacer_run (as a new request or
     * resumed) and returns right after this: that loop charges its time,
     * then resumes it at once if there is still room, else waits for a
     * later iteration. */
}
