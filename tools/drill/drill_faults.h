/* drill_faults: the rounds of faults sluice-drill applies while its workload
 * runs. Each round: find the target from Metadata (the leader of partition
 * (round - 1) mod partitions) or from the controllers, apply the fault, hold
 * it for --fault-interval-ms, heal, and let the cluster settle for as long
 * again (and until every partition has a leader, up to 30 s).
 *
 * Faults (--fault, a comma list cycled over the rounds):
 *   command          --fault-command, then --heal-command, under /bin/sh -c
 *                    with SLUICE_DRILL_* variables (README.md)
 *   kill-leader      SIGKILL the partition leader; heal: start it
 *   pause-leader     SIGSTOP the leader for max(--pause-ms, interval); SIGCONT
 *   restart-leader   SIGTERM the leader, wait for its exit; heal: start it
 *   restart-follower the same for a replica that does not lead the partition
 *   kill-controller  SIGKILL the controller quorum leader (sluicectl cluster
 *                    status --json); heal: start it
 *   kill-majority    SIGKILL the leader and one more node; heal: start both
 *   none             nothing (a baseline run)
 * Main thread only. */
#ifndef SLUICE_DRILL_FAULTS_H
#define SLUICE_DRILL_FAULTS_H

#include "drill.h"
#include "drill_kafka.h"

/* 0 when every name in the comma list is a known fault. */
int drill_faults_validate(const char *list, char *bad, size_t badlen);

/* Needs --node entries (with pid files and start commands) for the built-in
 * faults; 0 when the options suffice for the listed faults, else -1 with a
 * message printed. */
int drill_faults_check_options(const struct drill_options *o);

/* Runs o->rounds rounds, filling rounds[0..o->rounds-1] but for
 * end_ns and unavailable, which need the checked history. Returns 0, or -1 when a
 * heal failed (the cluster may be left degraded; reported). */
int drill_faults_run(struct drill_options *o, struct drill_kafka *k, struct drill_round *rounds);

#endif
