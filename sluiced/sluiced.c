/* sluiced: the Sluice daemon.
 *
 *   sluiced path/to/server.properties [--override key=value ...]
 *
 * Loads the configuration, opens the data directories, runs the event loop
 * until SIGINT or SIGTERM, then shuts down cleanly. */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "broker/broker.h"
#include "broker/data_dir.h"
#include "common/config.h"
#include "common/log.h"
#include "common/loop_busy.h"
#include "controller/controller_role.h"
#include "sluiced/node_http.h"
#include "sluiced/node_status.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

#define MAX_OVERRIDES 256
/* How often readiness is checked until systemd is told (READY=1). */
#define READY_POLL_MS         250
#define HEAP_TRIM_INTERVAL_MS 10000
/* Idle brokers' loops are busy well under 1 %; one broker taking a paced
 * 2,000 records/s, 6 % or more. */
#define HEAP_TRIM_MAX_BUSY_PERCENT 5
/* A trim the ticks call for waits this long and looks at the loop again, so
 * traffic that has just started (after a quiet interval) is not stopped. */
#define HEAP_TRIM_CONFIRM_MS 1000
/* Resident memory grown by less than this since the last trim is not worth
 * one (thousands of madvise calls with the loop stopped at 5,000 partitions). */
#define HEAP_TRIM_MIN_GROWTH_BYTES (1u << 20)

extern char **environ;

struct sluiced {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm, sighup;
    struct sluice_config config;
    struct data_dirs data_dirs;
    struct broker broker;
    bool broker_running;
    struct controller_role controller;
    bool controller_running;
    bool stopping; /* a signal started the shutdown */
    struct node_status status;
    struct node_http http;
    uv_timer_t ready_timer;                   /* until the node is ready once: sd_notify */
    uv_timer_t trim_timer;                    /* gives freed heap memory back (trim_heap) */
    uint64_t trim_tick_ns, trim_tick_busy_ns; /* the last tick: uv_hrtime, loop busy time */
    bool trim_confirming;                     /* the timer is the one-shot confirmation */
    uint64_t rss_after_trim;                  /* resident bytes after the last trim (0: none) */
    struct heap_trim_counts heap_trims;
    struct loop_busy loop_busy; /* busy time per loop iteration, for /metrics */
};

struct args {
    const char *config_path;
    char *overrides[MAX_OVERRIDES];
    size_t n_overrides;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sluiced path/to/server.properties [--override key=value ...]\n"
                 "       sluiced --version | --help\n"
                 "\n"
                 "Settings use Kafka's names (node.id, listeners, log.dirs, ...). Environment\n"
                 "variables SLUICE_<KEY> override the file (SLUICE_LOG_DIRS sets log.dirs);\n"
                 "--override wins over both.\n");
}

/* Returns 0 to run, 1 to exit successfully (help/version), -1 on a usage error. */
static int parse_args(int argc, char **argv, struct args *args)
{
    memset(args, 0, sizeof *args);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("sluiced %s\n", SLUICE_VERSION);
            return 1;
        }
        if (strcmp(argv[i], "--override") == 0) {
            if (i + 1 == argc || args->n_overrides == MAX_OVERRIDES) {
                fprintf(stderr, "sluiced: --override needs key=value (at most %d)\n",
                        MAX_OVERRIDES);
                return -1;
            }
            args->overrides[args->n_overrides++] = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "sluiced: unknown option %s\n", argv[i]);
            return -1;
        } else if (args->config_path != NULL) {
            fprintf(stderr, "sluiced: more than one config file given\n");
            return -1;
        } else {
            args->config_path = argv[i];
        }
    }
    if (args->config_path == NULL) {
        fprintf(stderr, "sluiced: no config file given\n");
        return -1;
    }
    return 0;
}

static void stop_controller(struct sluiced *d)
{
    if (d->controller_running) {
        controller_role_stop(&d->controller, NULL);
        d->controller_running = false;
    }
}

static void on_broker_stopped(struct broker *b)
{
    stop_controller((struct sluiced *)((char *)b - offsetof(struct sluiced, broker)));
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct sluiced *d = handle->data;
    if (d->stopping) {
        log_warn("sluiced", "already shutting down, ignoring signal=%s", strsignal(signum));
        return;
    }
    d->stopping = true;
    log_info("sluiced", "shutting down signal=%s", strsignal(signum));
    sd_notify(0, "STOPPING=1");
    uv_close((uv_handle_t *)&d->ready_timer, NULL);
    uv_close((uv_handle_t *)&d->trim_timer, NULL);
    node_http_stop(&d->http);
    /* Keep catching signals: with the default disposition back, a second
     * Ctrl-C or SIGTERM would kill the process halfway through flushing logs
     * and controlled shutdown. Unreferenced, they no longer keep the loop
     * alive; run() closes them once everything else has stopped. */
    uv_unref((uv_handle_t *)&d->sigint);
    uv_unref((uv_handle_t *)&d->sigterm);
    uv_unref((uv_handle_t *)&d->sighup);
    /* The broker first, the controller once the broker's controlled shutdown
     * is over: it may be the only controller there is (a single node). */
    if (d->broker_running) {
        d->broker_running = false;
        broker_stop_then(&d->broker, on_broker_stopped);
    } else {
        stop_controller(d);
    }
}

/* Tell systemd (Type=notify; a no-op without NOTIFY_SOCKET) once the node
 * is ready: a unit ordered after this one starts only then. */
static void on_ready_poll(uv_timer_t *t)
{
    struct sluiced *d = t->data;
    char why[160];
    if (!node_ready(&d->status, why, sizeof why)) {
        return;
    }
    uv_timer_stop(t);
    sd_notify(0, "READY=1");
    log_info("sluiced", "node ready node.id=%d", d->config.node_id);
}

/* Resident bytes of this process, or 0 if /proc cannot tell. */
static uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    int n = f != NULL ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f != NULL) {
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

/* Whether the loop was busy less than HEAP_TRIM_MAX_BUSY_PERCENT of the time
 * since the last call; starts the next interval. */
static bool loop_was_quiet(struct sluiced *d)
{
    uint64_t now = uv_hrtime(), busy = loop_busy_stats(&d->loop_busy)->sum_ns;
    uint64_t span = now - d->trim_tick_ns, busy_span = busy - d->trim_tick_busy_ns;
    d->trim_tick_ns = now;
    d->trim_tick_busy_ns = busy;
    return busy_span * 100 <= span * HEAP_TRIM_MAX_BUSY_PERCENT;
}

/* Give the heap's free pages back to the system, once the loop is quiet. A
 * burst (an unthrottled produce, followers catching up) leaves the heap
 * fragmented: glibc returns only a free top of the heap, and a few live
 * blocks above the freed ones kept 8-18 MiB resident per node after the
 * burst was over (a 3-node cluster of 5,000 RF=3 partitions went from ~50 to
 * 68 MiB and stayed there). malloc_trim also releases the free pages inside
 * the heap, but with one madvise per free run: at 5,000 partitions one trim
 * made 2,092 calls with the loop stopped for 25-100 ms on a slow machine (the
 * tail of the produce latency), and pages released under traffic are
 * faulted straight back. So a tick trims only
 * - after an interval in which the loop was busy less than
 *   HEAP_TRIM_MAX_BUSY_PERCENT of the time: after a burst, not during one;
 * - when resident memory grew since the last trim: an idle node has nothing
 *   new to give back, and trimming it every tick stalled it every 10 s;
 * - and when the loop stayed quiet HEAP_TRIM_CONFIRM_MS longer: traffic that
 *   began just after a quiet interval is not stopped by it. */
static void trim_heap(uv_timer_t *t)
{
    struct sluiced *d = t->data;
    bool quiet = loop_was_quiet(d);
    if (d->trim_confirming) {
        d->trim_confirming = false;
        uv_timer_start(t, trim_heap, HEAP_TRIM_INTERVAL_MS, HEAP_TRIM_INTERVAL_MS);
        if (!quiet) {
            d->heap_trims.skipped_busy++;
            return;
        }
        malloc_trim(0);
        d->rss_after_trim = resident_bytes();
        d->heap_trims.trimmed++;
        return;
    }
    if (!quiet) {
        d->heap_trims.skipped_busy++;
        return;
    }
    uint64_t rss = resident_bytes();
    if (d->rss_after_trim != 0 && rss != 0 &&
        rss < d->rss_after_trim + HEAP_TRIM_MIN_GROWTH_BYTES) {
        d->heap_trims.skipped_unchanged++;
        return;
    }
    d->trim_confirming = true;
    uv_timer_start(t, trim_heap, HEAP_TRIM_CONFIRM_MS, 0);
}

/* The system's transparent huge page mode ("always", "madvise", "never") in
 * `out`, or "unknown". */
static const char *thp_mode(char *out, size_t cap)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128];
    snprintf(out, cap, "unknown");
    if (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *open = strchr(line, '['), *close = open != NULL ? strchr(open, ']') : NULL;
        if (close != NULL) {
            *close = '\0';
            snprintf(out, cap, "%s", open + 1);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return out;
}

/* The value GLIBC_TUNABLES gives glibc.malloc.hugetlb, 0 where it does not.
 * glibc reads the variable as colon-separated name=value pairs, a later
 * setting of a name replacing an earlier one, and the value as a whole
 * number, decimal, octal with a leading 0 or hex with 0x (_dl_strtoul), as
 * strtoull with base 0 does. A value that is not all number counts as 0:
 * glibc 2.39 and later ignore it, and a heap left untrimmed is the costlier
 * mistake. */
static unsigned long long glibc_hugetlb_tunable(const char *tunables)
{
    static const char name[] = "glibc.malloc.hugetlb=";
    unsigned long long value = 0;
    for (const char *at = tunables; at != NULL; at = strchr(at, ':')) {
        at += *at == ':';
        if (strncmp(at, name, sizeof name - 1) != 0) {
            continue;
        }
        const char *v = at + sizeof name - 1;
        size_t len = strcspn(v, ":");
        char digits[32], *end;
        value = 0;
        if (len > 0 && len < sizeof digits) {
            memcpy(digits, v, len);
            digits[len] = '\0';
            errno = 0;
            unsigned long long n = strtoull(digits, &end, 0);
            value = *end == '\0' && errno == 0 ? n : 0;
        }
    }
    return value;
}

/* Whether the operator put the heap on transparent huge pages: GLIBC_TUNABLES
 * sets glibc.malloc.hugetlb to 1 and the system's mode (in `mode`) is
 * madvise (glibc's malloc then madvises the heap MADV_HUGEPAGE) or always
 * (the kernel backs it so anyway). Not 2 or a page size: glibc then maps
 * only chunks above the mmap threshold from hugetlbfs, which malloc_trim
 * never touches, and the brk heap stays on 4 KiB pages that need the trim;
 * nor where the kernel has no THP ("unknown"), as glibc then does nothing.
 * A heap on huge pages is not trimmed: malloc_trim would split the huge
 * pages to give back the free 4 KiB pages inside them, and khugepaged fills
 * them back (it collapses a 2 MiB range holding a single page), so each
 * trim would stall the loop (thousands of madvise calls at 5,000
 * partitions) for memory that comes back within minutes; at 30 partitions
 * the refilled pages made an idle node trim again and again. glibc still
 * gives back a free top of the heap (in 2 MiB steps where it madvised). */
static bool heap_on_huge_pages(char *mode, size_t cap)
{
    if (glibc_hugetlb_tunable(getenv("GLIBC_TUNABLES")) != 1) {
        return false;
    }
    thp_mode(mode, cap);
    return strcmp(mode, "madvise") == 0 || strcmp(mode, "always") == 0;
}

/* SIGHUP: reload the TLS certificates, as an operator rotating them expects. */
static void on_sighup(uv_signal_t *handle, int signum)
{
    (void)signum;
    struct sluiced *d = handle->data;
    log_info("sluiced", "SIGHUP: reloading TLS keys, certificates and trust stores");
    if (d->controller_running) {
        controller_role_reload_tls(&d->controller);
    }
    if (d->broker_running) {
        broker_reload_tls(&d->broker);
    }
}

static bool has_role(const char *roles, const char *role)
{
    const char *p = roles ? strstr(roles, role) : NULL;
    return p != NULL;
}

static int run(struct sluiced *d)
{
    int rv = uv_loop_init(&d->loop);
    if (rv == 0) {
        rv = loop_busy_start(&d->loop_busy, &d->loop); /* also what trim_heap reads */
    }
    if (rv != 0) {
        log_error("sluiced", "cannot start event loop error=%s", uv_strerror(rv));
        return rv;
    }
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sighup);
    d->sigint.data = d->sigterm.data = d->sighup.data = d;
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sighup, on_sighup, SIGHUP);
    char err[512];
    if (controller_role_configured(d->config.process_roles, "controller")) {
        rv = controller_role_start(&d->controller, &d->loop, &d->config, err, sizeof err);
        d->controller_running = rv == 0;
        if (rv != 0) {
            log_error("sluiced", "cannot start the controller: %s", err);
        }
    }
    if (rv == 0 && has_role(d->config.process_roles, "broker")) {
        rv = broker_start(&d->broker, &d->loop, &d->config, &d->data_dirs, err, sizeof err);
        if (rv != 0) {
            log_error("sluiced", "cannot start the broker: %s", err);
        }
    }
    d->broker_running = rv == 0 && has_role(d->config.process_roles, "broker");
    d->status = (struct node_status){
        .config = &d->config,
        .broker = d->broker_running ? &d->broker : NULL,
        .controller = d->controller_running ? &d->controller : NULL,
        .stopping = &d->stopping,
        .heap_trims = &d->heap_trims,
        .loop_busy = &d->loop_busy,
    };
    if (rv == 0) {
        rv = node_http_start(&d->http, &d->loop, d->config.metrics_listener, &d->status, err,
                             sizeof err);
        if (rv != 0) {
            log_error("sluiced", "cannot start the HTTP endpoints: %s", err);
            if (d->broker_running) {
                broker_stop(&d->broker);
                d->broker_running = false;
            }
        }
    }
    if (rv != 0) {
        if (d->controller_running) {
            controller_role_stop(&d->controller, NULL);
        }
        uv_close((uv_handle_t *)&d->sigint, NULL);
        uv_close((uv_handle_t *)&d->sigterm, NULL);
        uv_close((uv_handle_t *)&d->sighup, NULL);
        loop_busy_stop(&d->loop_busy);
        uv_run(&d->loop, UV_RUN_DEFAULT);
        controller_role_release(&d->controller);
        node_http_release(&d->http);
        uv_loop_close(&d->loop);
        return rv;
    }
    uv_timer_init(&d->loop, &d->ready_timer);
    d->ready_timer.data = d;
    uv_timer_start(&d->ready_timer, on_ready_poll, 0, READY_POLL_MS);
    uv_timer_init(&d->loop, &d->trim_timer);
    d->trim_timer.data = d;
    d->trim_tick_ns = uv_hrtime();
    d->trim_tick_busy_ns = loop_busy_stats(&d->loop_busy)->sum_ns;
    char mode[32];
    if (heap_on_huge_pages(mode, sizeof mode)) {
        log_info("sluiced",
                 "heap on transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb, "
                 "transparent_hugepage=%s): no periodic heap trim",
                 mode);
    } else {
        uv_timer_start(&d->trim_timer, trim_heap, HEAP_TRIM_INTERVAL_MS, HEAP_TRIM_INTERVAL_MS);
    }
    uv_unref((uv_handle_t *)&d->trim_timer); /* never what keeps the loop running */

    log_info("sluiced", "ready node.id=%d roles=%s log.dirs=%s", d->config.node_id,
             d->config.process_roles, d->config.log_dirs);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    if (!uv_is_closing((uv_handle_t *)&d->trim_timer)) {
        uv_close((uv_handle_t *)&d->trim_timer, NULL);
    }
    loop_busy_stop(&d->loop_busy);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    /* Only now: raft may call back into its io until the loop runs dry. */
    controller_role_release(&d->controller);
    node_http_release(&d->http);
    rv = uv_loop_close(&d->loop);
    if (rv != 0) {
        log_error("sluiced", "event loop closed with handles open error=%s", uv_strerror(rv));
    }
    return rv;
}

/* Large buffers (request frames up to socket.request.max.bytes, responses)
 * must go back to the system when freed, or queued.max.request.bytes does not
 * bound resident memory. glibc raises its mmap threshold each time it frees a
 * large mmapped block, so after the first 8 MiB frame the next ones came from
 * the heap, where realloc copies and freed frames stay resident: 24 clients
 * pipelining 8 MiB frames against a 16 MiB budget grew the peak RSS by 38-42
 * MiB. A fixed threshold turns that adjustment off (for the trim threshold
 * too): at 1 MiB the peak grew 26-28 MiB (128 KiB: 21, 4 MiB: 36-39), while
 * buffers below it still come from the heap without a system call. */
static void pin_malloc_thresholds(void)
{
    if (mallopt(M_MMAP_THRESHOLD, 1 << 20) != 1) {
        log_warn("sluiced", "mallopt(M_MMAP_THRESHOLD) failed: freed request buffers may stay "
                            "resident");
    }
}

/* Raise the soft open-file limit to the hard one, as the JVM does for Kafka
 * (MaxFDLimit): shells and containers often start with a soft limit of 1,024
 * or a few thousand, below one descriptor per active partition, while the
 * hard limit (systemd's LimitNOFILE, Docker's default) allows far more. The
 * segment cache, the connection quota and the partition placement limit
 * all size themselves from the soft limit. Called before logging is
 * configured, so it reports what it did through `raised_from`. */
static rlim_t raise_open_file_limit(rlim_t *raised_from)
{
    struct rlimit rl;
    *raised_from = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 0;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
            *raised_from = was;
        } else {
            rl.rlim_cur = was;
        }
    }
    return rl.rlim_cur;
}

int main(int argc, char **argv)
{
    struct args args;
    int rv = parse_args(argc, argv, &args);
    if (rv != 0) {
        if (rv < 0) {
            usage(stderr);
        }
        return rv < 0 ? 2 : 0;
    }
    signal(SIGPIPE, SIG_IGN);
    pin_malloc_thresholds();
    rlim_t raised_from;
    rlim_t nofile = raise_open_file_limit(&raised_from);

    struct sluiced d;
    memset(&d, 0, sizeof d);
    char err[512];
    rv = sluice_config_load(&d.config, args.config_path, args.overrides, args.n_overrides, environ,
                            err, sizeof err);
    if (rv != 0) {
        log_error("sluiced", "bad configuration: %s", err);
        return 1;
    }
    log_set_level((enum log_level)log_level_parse(d.config.log_level));
    if (raised_from != 0) {
        log_info("sluiced", "raised the open-file limit (RLIMIT_NOFILE) from=%llu to=%llu",
                 (unsigned long long)raised_from, (unsigned long long)nofile);
    }

    rv = data_dirs_open(&d.data_dirs, d.config.log_dirs, d.config.node_id, err, sizeof err);
    if (rv != 0) {
        log_error("sluiced", "cannot open data directories: %s", err);
        sluice_config_free(&d.config);
        return 1;
    }
    rv = run(&d);
    data_dirs_close(&d.data_dirs);
    sluice_config_free(&d.config);
    log_info("sluiced", "stopped");
    return rv == 0 ? 0 : 1;
}
