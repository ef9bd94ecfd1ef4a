/* A per-iteration budget of the time an event loop spends in request
 * handlers, so that no single source of work (a flood of pipelined
 * requests that are each expensive, such as compressed batches that must be
 * inflated to be validated) can hold the loop for long: timers (the
 * broker's controller heartbeats) and every other socket are served between
 * two slices of such work.
 *
 * A user (one client connection) asks before starting a request whether the
 * budget has room (iteration_budget_has_room), charges what the request
 * cost (iteration_budget_charge, measured by the caller) and, when there is
 * no room, waits (iteration_budget_wait): it starts nothing more until its
 * `resume` callback runs in a later iteration.
 *
 * An iteration runs from one uv_prepare callback (just before the loop
 * waits for I/O) to the next. The prepare callback refills the budget and
 * resumes waiters in the order they began waiting, before the I/O
 * callbacks of the new iteration may spend it, so a user that waited goes
 * before users that did not; a user that spends the budget again waits
 * again at the tail (round robin). While anyone waits an idle handle keeps
 * the loop from blocking in poll. At least one request starts per
 * iteration: room means "spent less than the limit", so an iteration is
 * busy with handlers for at most the limit plus one request.
 *
 * Loop thread only. The caller owns the struct and every waiter; a waiter
 * must be cancelled (iteration_budget_cancel) before it is freed. The
 * struct stays valid until the close started by iteration_budget_close has
 * run. */
#ifndef SLUICE_COMMON_ITERATION_BUDGET_H
#define SLUICE_COMMON_ITERATION_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Handler time per iteration: well under a heartbeat interval, and long
 * enough that a loop serving ordinary requests rarely needs a second
 * slice. */
#define ITERATION_BUDGET_DEFAULT_NS 10000000ull /* 10 ms */

struct iteration_budget_waiter {
    /* Called from the prepare callback once the waiter is off the list;
     * it may start requests and wait again. */
    void (*resume)(struct iteration_budget_waiter *w);
    struct iteration_budget_waiter *prev, *next;
    bool queued;
};

struct iteration_budget {
    uv_prepare_t prepare; /* refills and resumes, once per iteration */
    uv_idle_t idle;       /* active while anyone waits: poll does not block */
    int handles_open;
    uint64_t limit_ns;
    uint64_t spent_ns; /* in the current iteration */
    struct iteration_budget_waiter *head, *tail;
    size_t n_waiting;
    uint64_t waits; /* times a user was told to wait, since init (metrics) */
};

/* Initialise `b` on `loop` with `limit_ns` per iteration (0: the default).
 * Both handles are unreferenced: they never keep the loop alive. Returns 0
 * or a negative libuv error (nothing then needs closing). */
int iteration_budget_init(struct iteration_budget *b, uv_loop_t *loop, uint64_t limit_ns);

/* Close both handles; the loop must run once more. Waiters still queued
 * are forgotten (not resumed). */
void iteration_budget_close(struct iteration_budget *b);

/* Whether a request may start now: less than the limit spent in this
 * iteration. A NULL budget always has room. */
bool iteration_budget_has_room(const struct iteration_budget *b);

/* Whether there is still room once a handler running for `running_ns`
 * (not charged yet) is counted: a long handler that works in slices asks
 * this between two of them. A NULL budget always has room. */
bool iteration_budget_has_room_with(const struct iteration_budget *b, uint64_t running_ns);

/* Charge `ns` of handler time to the current iteration. */
void iteration_budget_charge(struct iteration_budget *b, uint64_t ns);

/* Queue `w` (zeroed, `resume` set) to be resumed in a later iteration. A
 * waiter already queued stays where it is. */
void iteration_budget_wait(struct iteration_budget *b, struct iteration_budget_waiter *w);

/* Take `w` off the list if queued (idempotent). */
void iteration_budget_cancel(struct iteration_budget *b, struct iteration_budget_waiter *w);

/* The prepare callback's work, public so that it can be tested without a
 * loop: refill the budget, then resume the waiters queued before this call,
 * in order, while there is room. */
void iteration_budget_refill(struct iteration_budget *b);

#endif
