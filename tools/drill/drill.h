/* sluice-drill's internal contract: the options every part reads, and the
 * modules the process is assembled from (drill_main.c wires them):
 *   drill_kafka    topic creation, metadata, the workload (producers,
 *                  consumers, high watermark polling) and the final read
 *   drill_nodes    local node processes: signals, restarts, pids
 *   drill_faults   the rounds: pick a target, apply a fault, heal
 *   drill_report   the text and JSON report
 *   drill_check    the history checker (pure; drill_check.h)
 *   drill_segments replica batch headers from data directories
 * Everything runs on the main thread except the workload threads inside
 * drill_kafka, which feed the checker under its lock. */
#ifndef SLUICE_DRILL_H
#define SLUICE_DRILL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "drill_check.h"
#include "tool_cli.h" /* tool_now_ns, the drill's clock */

#define DRILL_MAX_NODES      16
#define DRILL_MAX_PARTITIONS 1024
#define DRILL_MAX_ROUNDS     100000

/* Exit codes. */
#define DRILL_EXIT_PASS      0
#define DRILL_EXIT_VIOLATION 1
#define DRILL_EXIT_USAGE     2
#define DRILL_EXIT_ERROR     3 /* the drill itself could not run or check */

struct drill_node {
    int32_t id;
    const char *pidfile;   /* NULL: the drill cannot signal this node */
    const char *start_cmd; /* /bin/sh -c command that runs the node in the foreground */
    const char *data_dir;  /* log.dirs of the node, for the replica comparison */
    pid_t child;           /* > 0 once the drill started the node itself */
    int stopped;           /* SIGSTOPped by the drill, not yet continued */
};

struct drill_options {
    const char *bootstrap;
    const char *topic;
    int partitions; /* 0: as the existing topic has (or 3 when created) */
    int replication_factor;
    int min_insync_replicas; /* 0: broker default */
    int producers;
    int consumers;
    int rate; /* records/s per producer */
    int rounds;
    int fault_interval_ms; /* fault held this long, then as long to settle */
    int warmup_ms;
    int pause_ms;           /* SIGSTOP length (pause-leader) */
    int message_timeout_ms; /* librdkafka message.timeout.ms */
    int final_timeout_ms;
    const char *faults; /* comma list, cycled over the rounds */
    const char *fault_command;
    const char *heal_command;
    const char *sluicectl;   /* for kill-controller */
    const char *controllers; /* controller.quorum addresses for sluicectl */
    struct drill_node nodes[DRILL_MAX_NODES];
    int n_nodes;
    int json;
    int verbose;
    int idempotent; /* enable.idempotence in the producers; duplicates are violations */
    char run[24];   /* the run tag in every value */
};

/* A partition's placement from a Metadata answer. */
struct drill_partition {
    int32_t leader; /* -1 when none */
    int32_t replicas[DRILL_MAX_NODES];
    int n_replicas;
    char leader_addr[128]; /* host:port of the leader, or "" */
};

struct drill_topology {
    int n;
    struct drill_partition p[DRILL_MAX_PARTITIONS];
};

/* One round as it happened, for the report. Times are on the drill's clock
 * (tool_now_ns). A round's interval runs from its fault being applied (from
 * its start when nothing was applied) until the next round starts, or the
 * last round's until the workload window ends. */
struct drill_round {
    int round;
    const char *fault;
    int32_t partition;
    int32_t targets[2];
    int n_targets;
    int ok;             /* the fault was applied */
    char detail[160];   /* why not, when !ok */
    int64_t start_ns;   /* the round began (Metadata, targets) */
    int64_t applied_ns; /* applying the fault began; 0 when the round was skipped */
    int64_t healed_ns;  /* healing began; 0 when it did not */
    /* Set after the history is checked: the interval's end, and the stretch
     * with no acknowledgement that lasted longest within the interval
     * (drill_check_unavailable). */
    int64_t end_ns;
    struct drill_stretch unavailable;
};

void drill_log(const struct drill_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void drill_sleep_ms(int ms);

#endif
