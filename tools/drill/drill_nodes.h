/* drill_nodes: the local node processes sluice-drill may signal and restart
 * (--node ID:PIDFILE:START_CMD).
 *
 * A node's pid is read from its pid file each time (so the caller's own
 * tooling may restart it between rounds), except right after the drill
 * started it: then it is the child's pid, which is also written to the pid
 * file. START_CMD runs under /bin/sh -c in a process group of its own, with
 * stdin/stdout/stderr on /dev/null (redirect inside the command to keep a
 * log); it must run the node in the foreground, ideally with `exec`, so that
 * the pid the drill records is the node's. Nodes the drill started keep
 * running after it exits.
 *
 * Main thread only. Functions print their own error and return -1. */
#ifndef SLUICE_DRILL_NODES_H
#define SLUICE_DRILL_NODES_H

#include "drill.h"

struct drill_node *drill_node_find(struct drill_options *o, int32_t id);

/* 1 when the node's process exists and is not a zombie. */
int drill_node_running(struct drill_node *n);

/* kill(2) the node's process; SIGSTOP and SIGCONT are remembered so that
 * drill_nodes_continue_all can undo a pause on any exit path. */
int drill_node_signal(const struct drill_options *o, struct drill_node *n, int sig);

/* Waits until the process is gone (0) or timeout_ms passed (-1). */
int drill_node_wait_exit(struct drill_node *n, int timeout_ms);

/* Runs START_CMD; 0 once forked (it does not wait for the node to serve). */
int drill_node_start(const struct drill_options *o, struct drill_node *n);

/* SIGCONT every node the drill stopped. */
void drill_nodes_continue_all(struct drill_options *o);

/* Runs cmd under /bin/sh -c with the extra "KEY=VALUE" entries of env (NULL
 * terminated) and its stdout sent to stderr; waits up to timeout_ms.
 * Returns its exit status, or -1. */
int drill_run_command(const struct drill_options *o, const char *cmd, char *const *env,
                      int timeout_ms);

/* Runs cmd under /bin/sh -c and captures up to cap-1 bytes of its stdout
 * into out (NUL-terminated); its exit status, or -1. */
int drill_capture_command(const char *cmd, char *out, size_t cap, int timeout_ms);

#endif
