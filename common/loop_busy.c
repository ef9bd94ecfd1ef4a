/* Busy time per event loop iteration; see loop_busy.h. */
#include "common/loop_busy.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "common/log.h"

const double loop_busy_bounds_seconds[LOOP_BUSY_N_BOUNDS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

/* The same bounds in nanoseconds: each iteration compares integers. */
static const uint64_t bounds_ns[LOOP_BUSY_N_BOUNDS] = {
    500000,    1000000,   2000000,   5000000,    10000000,   25000000,   50000000,
    100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000,
};

/* Most iterations fall in the first bucket: a short scan. */
static size_t bucket_of(uint64_t ns)
{
    size_t i = 0;
    while (i < LOOP_BUSY_N_BOUNDS && ns > bounds_ns[i]) {
        i++;
    }
    return i;
}

static void on_prepare(uv_prepare_t *handle)
{
    struct loop_busy *lb = handle->data;
    /* Outside poll the idle time is a counter read, not a clock read. */
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(handle->loop);
    if (lb->measuring) {
        uint64_t span = now - lb->last_ns, idle_span = idle - lb->last_idle_ns;
        loop_busy_record(lb, idle_span < span ? span - idle_span : 0, now);
    }
    lb->measuring = true;
    lb->last_ns = now;
    lb->last_idle_ns = idle;
}

int loop_busy_start(struct loop_busy *lb, uv_loop_t *loop)
{
    memset(lb, 0, sizeof *lb);
    int rv = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (rv == 0) {
        rv = uv_prepare_init(loop, &lb->prepare);
    }
    if (rv != 0) {
        return rv;
    }
    lb->prepare.data = lb;
    uv_prepare_start(&lb->prepare, on_prepare); /* fails only without a callback */
    uv_unref((uv_handle_t *)&lb->prepare);
    return 0;
}

void loop_busy_stop(struct loop_busy *lb)
{
    if (!uv_is_closing((uv_handle_t *)&lb->prepare)) {
        uv_close((uv_handle_t *)&lb->prepare, NULL);
    }
}

bool loop_busy_record(struct loop_busy *lb, uint64_t busy_ns, uint64_t now_ns)
{
    struct loop_busy_stats *s = &lb->stats;
    s->counts[bucket_of(busy_ns)]++;
    s->count++;
    s->sum_ns += busy_ns;
    if (busy_ns > s->max_ns) {
        s->max_ns = busy_ns;
    }
    if (busy_ns < LOOP_BUSY_WARN_NS) {
        return false;
    }
    if (lb->warned && now_ns - lb->last_warn_ns < LOOP_BUSY_WARN_INTERVAL_NS) {
        lb->stalls_unlogged++;
        return false;
    }
    log_warn("loop",
             "event loop stalled: one iteration ran callbacks without waiting for I/O, every "
             "request on this loop waited busy_seconds=%.3f max_seconds=%.3f "
             "stalls_not_logged=%" PRIu64,
             (double)busy_ns / 1e9, (double)s->max_ns / 1e9, lb->stalls_unlogged);
    lb->warned = true;
    lb->last_warn_ns = now_ns;
    lb->stalls_unlogged = 0;
    return true;
}

const struct loop_busy_stats *loop_busy_stats(const struct loop_busy *lb)
{
    return &lb->stats;
}
