/* How long each iteration of a libuv loop is busy: the time between two
 * waits for I/O that the loop spends running callbacks. Everything a loop
 * serves waits behind a callback that blocks (a disk operation, a walk over
 * thousands of partitions), so a long busy iteration is a stall every client
 * of the loop saw.
 *
 * One unreferenced uv_prepare handle (it never keeps the loop alive) reads,
 * once per iteration, the clock and the loop's idle time: the busy time of
 * an iteration is the wall time since the previous prepare minus the time
 * the loop spent blocked in poll in between (uv_metrics_idle_time). A
 * prepare runs just before poll, so the span from one to the next holds
 * exactly one wait (subtracted) and all the callbacks between two waits:
 * the I/O callbacks after the wait, check and close callbacks, then the next
 * iteration's timers, pending and idle callbacks. A prepare and check pair
 * would split that span in two halves summing to the same. Cost per
 * iteration: one uv_hrtime, one read of the idle counter (no clock read
 * outside poll), no allocation.
 *
 * Known overstatements: libuv 1.44 (Debian 12's) restarts its idle clock
 * when one wait polls again (epoll_wait interrupted by a signal, or woken
 * with nothing to run), so the part of that wait before counts as busy; and
 * time outside uv_run, between two runs of the loop, counts as busy.
 *
 * An iteration busy LOOP_BUSY_WARN_NS or longer is logged as a warning
 * (component `loop`) with its duration, at most once per
 * LOOP_BUSY_WARN_INTERVAL_NS, saying how many such stalls were not logged
 * since the previous warning.
 *
 * Loop thread only. The caller owns the struct; it must stay valid until
 * the close started by loop_busy_stop has run. */
#ifndef SLUICE_COMMON_LOOP_BUSY_H
#define SLUICE_COMMON_LOOP_BUSY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Upper bounds of the histogram's buckets, in seconds (Prometheus `le`),
 * from half a millisecond to 5 s; a last bucket holds the longer ones. */
#define LOOP_BUSY_N_BOUNDS 13
extern const double loop_busy_bounds_seconds[LOOP_BUSY_N_BOUNDS];

#define LOOP_BUSY_WARN_NS          1000000000ull  /* 1 s */
#define LOOP_BUSY_WARN_INTERVAL_NS 10000000000ull /* 10 s */

/* Since loop_busy_start. */
struct loop_busy_stats {
    /* counts[i]: iterations busy at most bounds[i] and more than bounds[i-1]
     * (prom_histogram's layout); counts[LOOP_BUSY_N_BOUNDS]: longer. */
    uint64_t counts[LOOP_BUSY_N_BOUNDS + 1];
    uint64_t count;  /* iterations measured */
    uint64_t sum_ns; /* their busy time */
    uint64_t max_ns; /* the longest one */
};

struct loop_busy {
    uv_prepare_t prepare;
    bool measuring;                 /* a prepare has run: the fields below hold it */
    uint64_t last_ns, last_idle_ns; /* uv_hrtime and the loop's idle time then */
    bool warned;                    /* a stall was logged, at last_warn_ns */
    uint64_t last_warn_ns;
    uint64_t stalls_unlogged; /* stalls since then that were not */
    struct loop_busy_stats stats;
};

/* Starts measuring `loop`'s iterations from its next one, turning on the
 * loop's idle time accounting (uv_loop_configure UV_METRICS_IDLE_TIME,
 * harmless if already on). Returns 0 or a negative libuv error, after which
 * nothing is started and `lb` needs no stop. */
int loop_busy_start(struct loop_busy *lb, uv_loop_t *loop);

/* Stops measuring and closes the handle; the loop must run once more for
 * the close to finish. The statistics stay readable. */
void loop_busy_stop(struct loop_busy *lb);

/* Records one iteration busy `busy_ns`, ending at `now_ns` (uv_hrtime):
 * the histogram, count, sum and maximum, and the rate-limited warning.
 * Returns true when this call logged a warning. Called by the prepare
 * handle; public so that the recording can be tested without a clock. */
bool loop_busy_record(struct loop_busy *lb, uint64_t busy_ns, uint64_t now_ns);

const struct loop_busy_stats *loop_busy_stats(const struct loop_busy *lb);

#endif
