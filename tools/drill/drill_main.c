/* sluice-drill: a failover drill for any Kafka-protocol cluster. Runs a
 * workload (acks=all producers with unique values, consumers reading
 * throughout), applies faults in rounds, heals, reads everything back and
 * checks the history (RELIABILITY.md). See README.md for the options. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drill.h"
#include "drill_faults.h"
#include "drill_kafka.h"
#include "drill_nodes.h"
#include "drill_report.h"
#include "drill_segments.h"

#define MAX_CONSUMERS (DRILL_MAX_OBSERVERS - 1) /* observer 0 is the ListOffsets poller */
#define MAX_PRODUCERS 64

void drill_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void drill_log(const struct drill_options *o, const char *fmt, ...)
{
    (void)o;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld sluice-drill: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice-drill --bootstrap-server HOST:PORT[,...] [--topic NAME]\n"
            "         [--partitions N] [--replication-factor N] [--min-insync-replicas N]\n"
            "         [--producers N] [--consumers N] [--rate RECORDS_PER_SEC_PER_PRODUCER]\n"
            "         [--rounds N] [--fault-interval-ms MS] [--warmup-ms MS] [--pause-ms MS]\n"
            "         [--fault command|kill-leader|pause-leader|restart-leader|\n"
            "                  restart-follower|kill-controller|kill-majority|none[,...]]\n"
            "         [--fault-command CMD] [--heal-command CMD]\n"
            "         [--node ID:PIDFILE:START_CMD]... [--data-dir ID:PATH]...\n"
            "         [--controllers HOST:PORT[,...]] [--sluicectl PATH]\n"
            "         [--message-timeout-ms MS] [--final-timeout-ms MS] [--run TAG]\n"
            "         [--idempotent] [--json] [--verbose]\n"
            "--idempotent: producers with enable.idempotence (five requests in flight), and a\n"
            "  value at two offsets is a violation. Without it duplicates from retries are\n"
            "  counted but allowed (Kafka's at-least-once).\n"
            "exit: 0 no violation, 1 violations, 2 usage error, 3 the drill could not finish\n"
            "See tools/drill/README.md.\n");
}

/* An int option in [min, max] (both within int's range). */
static int parse_int(const char *s, long min, long max, int *out)
{
    long v;
    if (tool_parse_long(s, min, max, &v) != 0) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

static struct drill_node *node_entry(struct drill_options *o, const char *spec, const char **rest)
{
    int id;
    char idbuf[16];
    const char *colon = strchr(spec, ':');
    if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof idbuf) {
        return NULL;
    }
    memcpy(idbuf, spec, (size_t)(colon - spec));
    idbuf[colon - spec] = '\0';
    if (parse_int(idbuf, 0, INT32_MAX, &id) != 0) {
        return NULL;
    }
    *rest = colon + 1;
    struct drill_node *n = drill_node_find(o, id);
    if (n == NULL && o->n_nodes < DRILL_MAX_NODES) {
        n = &o->nodes[o->n_nodes++];
        *n = (struct drill_node){.id = id};
    }
    return n;
}

/* --node ID:PIDFILE:START_CMD (the command may hold colons). */
static int parse_node(struct drill_options *o, char *spec)
{
    const char *rest;
    struct drill_node *n = node_entry(o, spec, &rest);
    char *colon = n ? strchr(rest, ':') : NULL;
    if (colon == NULL || colon == rest) {
        return -1;
    }
    *colon = '\0';
    n->pidfile = rest;
    n->start_cmd = colon + 1;
    return 0;
}

static int parse_data_dir(struct drill_options *o, const char *spec)
{
    const char *rest;
    struct drill_node *n = node_entry(o, spec, &rest);
    if (n == NULL || *rest == '\0') {
        return -1;
    }
    n->data_dir = rest;
    return 0;
}

struct int_option {
    const char *name;
    int *value;
    long min, max;
};

static int parse_option(struct drill_options *o, const char *name, char *value)
{
    const struct int_option ints[] = {
        {"--partitions", &o->partitions, 1, DRILL_MAX_PARTITIONS},
        {"--replication-factor", &o->replication_factor, 1, 32767},
        {"--min-insync-replicas", &o->min_insync_replicas, 1, 32767},
        {"--producers", &o->producers, 1, MAX_PRODUCERS},
        {"--consumers", &o->consumers, 0, MAX_CONSUMERS},
        {"--rate", &o->rate, 1, 100000},
        {"--rounds", &o->rounds, 0, DRILL_MAX_ROUNDS},
        {"--fault-interval-ms", &o->fault_interval_ms, 0, 3600000},
        {"--warmup-ms", &o->warmup_ms, 0, 3600000},
        {"--pause-ms", &o->pause_ms, 0, 3600000},
        {"--message-timeout-ms", &o->message_timeout_ms, 1000, 3600000},
        {"--final-timeout-ms", &o->final_timeout_ms, 1000, 3600000},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (strcmp(name, ints[i].name) == 0) {
            return parse_int(value, ints[i].min, ints[i].max, ints[i].value);
        }
    }
    const struct {
        const char *name;
        const char **value;
    } strings[] = {
        {"--bootstrap-server", &o->bootstrap},
        {"--topic", &o->topic},
        {"--fault", &o->faults},
        {"--fault-command", &o->fault_command},
        {"--heal-command", &o->heal_command},
        {"--controllers", &o->controllers},
        {"--sluicectl", &o->sluicectl},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        if (strcmp(name, strings[i].name) == 0) {
            *strings[i].value = value;
            return *value ? 0 : -1;
        }
    }
    if (strcmp(name, "--node") == 0) {
        return parse_node(o, value);
    }
    if (strcmp(name, "--data-dir") == 0) {
        return parse_data_dir(o, value);
    }
    if (strcmp(name, "--run") == 0 && strlen(value) > 0 && strlen(value) < sizeof o->run &&
        strpbrk(value, "/:") == NULL) {
        snprintf(o->run, sizeof o->run, "%s", value);
        return 0;
    }
    fprintf(stderr, "sluice-drill: unknown option %s\n", name);
    return -1;
}

static void default_options(struct drill_options *o)
{
    *o = (struct drill_options){.topic = "sluice-drill",
                                .replication_factor = 3,
                                .producers = 3,
                                .consumers = 1,
                                .rate = 100,
                                .rounds = 3,
                                .fault_interval_ms = 5000,
                                .warmup_ms = 2000,
                                .message_timeout_ms = 30000,
                                .final_timeout_ms = 60000,
                                .sluicectl = "sluicectl"};
    snprintf(o->run, sizeof o->run, "%lx-%lx", (unsigned long)time(NULL) & 0xffffffUL,
             (unsigned long)getpid());
}

/* 0, 1 when help was asked for, or -1 with a message (a usage error). */
static int parse_args(struct drill_options *o, int argc, char **argv)
{
    default_options(o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o->json = 1;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            o->verbose = 1;
        } else if (strcmp(argv[i], "--idempotent") == 0) {
            o->idempotent = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return 1;
        } else if (i + 1 == argc) {
            fprintf(stderr, "sluice-drill: %s needs a value\n", argv[i]);
            return -1;
        } else if (parse_option(o, argv[i], argv[i + 1]) != 0) {
            fprintf(stderr, "sluice-drill: bad value for %s: %s\n", argv[i], argv[i + 1]);
            return -1;
        } else {
            i++;
        }
    }
    if (o->bootstrap == NULL) {
        fprintf(stderr, "sluice-drill: --bootstrap-server is required\n");
        return -1;
    }
    if (o->faults == NULL) {
        int local = o->n_nodes > 0 && o->nodes[0].pidfile != NULL;
        o->faults = o->fault_command ? "command" : local ? "kill-leader" : "none";
    }
    char bad[64];
    if (drill_faults_validate(o->faults, bad, sizeof bad) != 0) {
        fprintf(stderr, "sluice-drill: unknown fault '%s'\n", bad);
        return -1;
    }
    return drill_faults_check_options(o);
}

struct scan_target {
    struct drill_check *check;
    int32_t node, partition;
};

static int add_batch(void *arg, int64_t base, int64_t last, uint32_t crc)
{
    struct scan_target *t = arg;
    return drill_check_replica_batch(t->check, t->node, t->partition, base, last, crc);
}

/* Feeds each replica's batches from the data directories given; returns
 * why nothing could be compared, or NULL. */
static const char *scan_replicas(struct drill_options *o, struct drill_kafka *k,
                                 struct drill_check *c)
{
    int dirs = 0;
    for (int i = 0; i < o->n_nodes; i++) {
        dirs += o->nodes[i].data_dir != NULL;
    }
    if (dirs < 2) {
        return "give --data-dir ID:PATH for at least two replicas";
    }
    struct drill_topology *t = malloc(sizeof *t);
    if (t == NULL || drill_kafka_topology(k, t, 10000) != 0) {
        free(t);
        return "no Metadata for the topic";
    }
    const char *note = NULL;
    for (int32_t p = 0; p < t->n && note == NULL; p++) {
        for (int r = 0; r < t->p[p].n_replicas && note == NULL; r++) {
            struct drill_node *n = drill_node_find(o, t->p[p].replicas[r]);
            if (n == NULL || n->data_dir == NULL) {
                continue;
            }
            char err[512];
            struct scan_target st = {c, n->id, p};
            if (drill_check_replica_log(c, n->id, p) != 0 ||
                drill_segments_scan(n->data_dir, o->topic, p, add_batch, &st, err, sizeof err) !=
                    0) {
                fprintf(stderr, "sluice-drill: node %d partition %d: %s\n", n->id, p, err);
                note = "a data directory could not be read";
            }
        }
    }
    free(t);
    return note;
}

static int exit_code(const struct drill_summary *s)
{
    if (s->report->violations > 0) {
        return DRILL_EXIT_VIOLATION;
    }
    return s->final_read_complete && s->healed ? DRILL_EXIT_PASS : DRILL_EXIT_ERROR;
}

/* Each round's longest time without an acknowledgement within its interval
 * (drill.h): a long stretch shows which fault caused it. */
static void measure_rounds(const struct drill_check *c, const struct drill_report *r,
                           struct drill_round *rounds, int n)
{
    for (int i = 0; i < n; i++) {
        struct drill_round *d = &rounds[i];
        int64_t from = d->applied_ns != 0 ? d->applied_ns : d->start_ns;
        d->end_ns = i + 1 < n ? rounds[i + 1].start_ns : r->window_end_ns;
        d->unavailable = drill_check_unavailable(c, from, d->end_ns);
    }
}

/* The workload and the faults, then the final read and the verdict. */
static int drill(struct drill_options *o, struct drill_kafka *k, struct drill_check *c,
                 struct drill_round *rounds)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct drill_report *r = malloc(sizeof *r);
    struct drill_summary s = {.report = r, .rounds = rounds};
    if (r == NULL || drill_kafka_start(k, c, &lock) != 0) {
        drill_kafka_stop(k);
        free(r);
        return DRILL_EXIT_ERROR;
    }
    drill_log(o, "workload running: topic %s, %d partitions, %d producers, run tag %s", o->topic,
              o->partitions, o->producers, o->run);
    s.healed = drill_faults_run(o, k, rounds) == 0;
    while (s.n_rounds < o->rounds && rounds[s.n_rounds].round != 0) {
        s.n_rounds++;
    }
    drill_log(o, "stopping the workload");
    drill_kafka_stop(k);
    drill_log(o, "final read");
    s.final_read_complete = drill_kafka_final_read(k, c, o->final_timeout_ms) == 0;
    s.replica_note = scan_replicas(o, k, c);
    if (drill_check_run(c, r) != 0) {
        fprintf(stderr, "sluice-drill: out of memory checking the history\n");
        free(r);
        return DRILL_EXIT_ERROR;
    }
    measure_rounds(c, r, rounds, s.n_rounds);
    s.exit_code = exit_code(&s);
    (o->json ? drill_report_json : drill_report_text)(stdout, o, &s);
    fflush(stdout);
    free(r);
    return s.exit_code;
}

/* librdkafka 2.0.2 (Debian bookworm's) can abort in rd_kafka_destroy when a
 * broker connection fails while the client terminates: a broker thread then
 * drops another broker's last reference (librdkafka issue #3608, open). The
 * clients are destroyed after the report, which no teardown can change, so
 * an abort there exits with the verdict's code and says why. */
static volatile sig_atomic_t teardown_exit_code = DRILL_EXIT_ERROR;

static void abort_in_teardown(int sig)
{
    (void)sig;
    static const char why[] = "sluice-drill: librdkafka aborted while destroying its clients, "
                              "after the report (librdkafka issue #3608); the verdict stands\n";
    ssize_t written = write(STDERR_FILENO, why, sizeof why - 1);
    (void)written;
    _exit(teardown_exit_code);
}

int main(int argc, char **argv)
{
    struct drill_options o;
    int parsed = parse_args(&o, argc, argv);
    if (parsed == 1) {
        usage(stdout);
        return 0;
    }
    if (parsed != 0) {
        usage(stderr);
        return DRILL_EXIT_USAGE;
    }
    struct drill_kafka *k;
    if (drill_kafka_open(&o, &k) != 0) {
        return DRILL_EXIT_ERROR;
    }
    int rc = DRILL_EXIT_ERROR;
    struct drill_check *c = drill_check_new(o.partitions);
    if (c != NULL) {
        drill_check_idempotent(c, o.idempotent);
    }
    struct drill_round *rounds = calloc((size_t)o.rounds + 1, sizeof *rounds);
    if (c != NULL && rounds != NULL) {
        rc = drill(&o, k, c, rounds);
    }
    drill_nodes_continue_all(&o);
    free(rounds);
    drill_check_free(c);
    teardown_exit_code = rc;
    signal(SIGABRT, abort_in_teardown);
    drill_kafka_close(k);
    return rc;
}
