/* drill_faults: see drill_faults.h. */
#include "drill_faults.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill_nodes.h"

#define STOP_TIMEOUT_MS    30000
#define COMMAND_TIMEOUT_MS 120000
#define SETTLE_LEADERS_MS  30000
#define START_ATTEMPTS     3
#define START_OBSERVE_MS   1500

static const char *const FAULTS[] = {
    "command",          "kill-leader",     "pause-leader",  "restart-leader",
    "restart-follower", "kill-controller", "kill-majority", "none"};

static int known_fault(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof FAULTS / sizeof FAULTS[0]; i++) {
        if (strlen(FAULTS[i]) == len && strncmp(FAULTS[i], name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

int drill_faults_validate(const char *list, char *bad, size_t badlen)
{
    const char *s = list;
    for (;;) {
        size_t len = strcspn(s, ",");
        if (!known_fault(s, len)) {
            snprintf(bad, badlen, "%.*s", (int)len, s);
            return -1;
        }
        if (s[len] == '\0') {
            return 0;
        }
        s += len + 1;
    }
}

/* The name of round `round`'s fault (1-based), copied into buf. */
static const char *fault_of_round(const char *list, int round)
{
    int count = 1;
    for (const char *s = list; *s; s++) {
        count += *s == ',';
    }
    int want = (round - 1) % count;
    const char *s = list;
    for (int i = 0; i < want; i++) {
        s = strchr(s, ',') + 1;
    }
    size_t len = strcspn(s, ",");
    for (size_t i = 0; i < sizeof FAULTS / sizeof FAULTS[0]; i++) {
        if (strlen(FAULTS[i]) == len && strncmp(FAULTS[i], s, len) == 0) {
            return FAULTS[i];
        }
    }
    return "none";
}

int drill_faults_check_options(const struct drill_options *o)
{
    int builtin = 0;
    for (int r = 1; r <= 8; r++) {
        const char *f = fault_of_round(o->faults, r);
        builtin |= strcmp(f, "command") != 0 && strcmp(f, "none") != 0;
        if (strcmp(f, "command") == 0 && o->fault_command == NULL) {
            fprintf(stderr, "sluice-drill: --fault command needs --fault-command\n");
            return -1;
        }
        if (strcmp(f, "kill-controller") == 0 && o->controllers == NULL) {
            fprintf(stderr, "sluice-drill: --fault kill-controller needs --controllers\n");
            return -1;
        }
        if (strcmp(f, "kill-majority") == 0 && o->n_nodes < 3) {
            fprintf(stderr, "sluice-drill: --fault kill-majority needs 3 --node entries\n");
            return -1;
        }
    }
    if (builtin && o->n_nodes == 0) {
        fprintf(stderr, "sluice-drill: built-in faults need --node ID:PIDFILE:START_CMD\n");
        return -1;
    }
    return 0;
}

/* The controller quorum's leader, from `sluicectl cluster status --json`. */
static int32_t controller_leader(const struct drill_options *o)
{
    char cmd[2048], out[1 << 16];
    snprintf(cmd, sizeof cmd, "'%s' cluster status --controller '%s' --json --timeout-ms 1000",
             o->sluicectl, o->controllers);
    if (drill_capture_command(cmd, out, sizeof out, COMMAND_TIMEOUT_MS) != 0) {
        return -1;
    }
    /* The first "leader_id" of the document is the top-level one. */
    const char *s = strstr(out, "\"leader_id\":");
    return s != NULL ? (int32_t)strtol(s + strlen("\"leader_id\":"), NULL, 10) : -1;
}

struct round_env {
    char round[64], topic[300], partition[64], leader_id[64], leader[200], bootstrap[1100];
    char leaders[4096];
    char *list[8];
};

/* SLUICE_DRILL_* for --fault-command and --heal-command (README.md). */
static void build_env(const struct drill_options *o, const struct drill_topology *t, int round,
                      int32_t partition, struct round_env *e)
{
    const struct drill_partition *p = &t->p[partition];
    snprintf(e->round, sizeof e->round, "SLUICE_DRILL_ROUND=%d", round);
    snprintf(e->topic, sizeof e->topic, "SLUICE_DRILL_TOPIC=%s", o->topic);
    snprintf(e->partition, sizeof e->partition, "SLUICE_DRILL_PARTITION=%d", partition);
    snprintf(e->leader_id, sizeof e->leader_id, "SLUICE_DRILL_LEADER_ID=%d", p->leader);
    snprintf(e->leader, sizeof e->leader, "SLUICE_DRILL_LEADER=%s", p->leader_addr);
    snprintf(e->bootstrap, sizeof e->bootstrap, "SLUICE_DRILL_BOOTSTRAP=%s", o->bootstrap);
    size_t len = (size_t)snprintf(e->leaders, sizeof e->leaders, "SLUICE_DRILL_LEADERS=");
    for (int i = 0; i < t->n && len < sizeof e->leaders; i++) {
        len += (size_t)snprintf(e->leaders + len, sizeof e->leaders - len, "%s%d=%d@%s",
                                i ? "," : "", i, t->p[i].leader, t->p[i].leader_addr);
    }
    char **l = e->list;
    *l++ = e->round, *l++ = e->topic, *l++ = e->partition, *l++ = e->leader_id;
    *l++ = e->leader, *l++ = e->bootstrap, *l++ = e->leaders, *l = NULL;
}

static int is_replica(const struct drill_partition *p, int32_t id)
{
    for (int i = 0; i < p->n_replicas; i++) {
        if (p->replicas[i] == id) {
            return 1;
        }
    }
    return 0;
}

/* A running --node other than `not`: a replica of p when p has several. */
static struct drill_node *other_node(struct drill_options *o, const struct drill_partition *p,
                                     int32_t not, int want_replica)
{
    for (int i = 0; i < o->n_nodes; i++) {
        struct drill_node *n = &o->nodes[i];
        if (n->id != not &&drill_node_running(n) && (!want_replica || is_replica(p, n->id))) {
            return n;
        }
    }
    return NULL;
}

static int add_target(struct drill_options *o, struct drill_round *r, struct drill_node **targets,
                      int32_t id, const char *role)
{
    struct drill_node *n = id >= 0 ? drill_node_find(o, id) : NULL;
    if (n == NULL) {
        snprintf(r->detail, sizeof r->detail, "%s is node %d, which is not a --node", role, id);
        return -1;
    }
    targets[r->n_targets] = n;
    r->targets[r->n_targets++] = id;
    return 0;
}

static int pick_targets(struct drill_options *o, const struct drill_topology *t,
                        struct drill_round *r, struct drill_node **targets)
{
    const struct drill_partition *p = &t->p[r->partition];
    const char *f = r->fault;
    if (strcmp(f, "kill-controller") == 0) {
        return add_target(o, r, targets, controller_leader(o), "the controller leader");
    }
    if (strcmp(f, "restart-follower") == 0) {
        struct drill_node *n = other_node(o, p, p->leader, p->n_replicas > 1);
        return add_target(o, r, targets, n ? n->id : -1, "a follower");
    }
    if (add_target(o, r, targets, p->leader, "the leader") != 0) {
        return -1;
    }
    if (strcmp(f, "kill-majority") == 0) {
        struct drill_node *n = other_node(o, p, p->leader, 0);
        return add_target(o, r, targets, n ? n->id : -1, "a second node");
    }
    return 0;
}

/* SIGTERM and wait; a node that ignores it is killed (and said so). */
static int stop_node(struct drill_options *o, struct drill_node *n, int sig)
{
    if (drill_node_signal(o, n, sig) != 0) {
        return -1;
    }
    if (drill_node_wait_exit(n, sig == SIGKILL ? 5000 : STOP_TIMEOUT_MS) == 0) {
        return 0;
    }
    fprintf(stderr, "sluice-drill: node %d did not exit on %s; killing it\n", n->id,
            strsignal(sig));
    drill_node_signal(o, n, SIGKILL);
    return drill_node_wait_exit(n, 5000);
}

/* Start a node and see that it stays up for a moment; a node that exits at
 * once (a port not yet free, say) is started again, a few times. */
static int start_node(struct drill_options *o, struct drill_node *n)
{
    for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        if (drill_node_start(o, n) != 0) {
            return -1;
        }
        drill_sleep_ms(START_OBSERVE_MS);
        if (drill_node_running(n)) {
            return 0;
        }
        fprintf(stderr, "sluice-drill: node %d exited right after start (attempt %d of %d)\n",
                n->id, attempt, START_ATTEMPTS);
        drill_sleep_ms(START_OBSERVE_MS * attempt);
    }
    return -1;
}

static int apply_fault(struct drill_options *o, struct drill_round *r, struct drill_node **targets,
                       struct round_env *env)
{
    const char *f = r->fault;
    if (strcmp(f, "command") == 0) {
        return drill_run_command(o, o->fault_command, env->list, COMMAND_TIMEOUT_MS) == 0 ? 0 : -1;
    }
    if (strcmp(f, "pause-leader") == 0) {
        return drill_node_signal(o, targets[0], SIGSTOP);
    }
    int sig = strncmp(f, "restart-", 8) == 0 ? SIGTERM : SIGKILL;
    for (int i = 0; i < r->n_targets; i++) {
        if (stop_node(o, targets[i], sig) != 0) {
            return -1;
        }
    }
    return 0;
}

static int heal_fault(struct drill_options *o, struct drill_round *r, struct drill_node **targets,
                      struct round_env *env)
{
    const char *f = r->fault;
    if (strcmp(f, "command") == 0) {
        return o->heal_command == NULL ||
                       drill_run_command(o, o->heal_command, env->list, COMMAND_TIMEOUT_MS) == 0
                   ? 0
                   : -1;
    }
    if (strcmp(f, "pause-leader") == 0) {
        return targets[0]->stopped ? drill_node_signal(o, targets[0], SIGCONT) : 0;
    }
    int rv = 0;
    for (int i = 0; i < r->n_targets; i++) {
        if (!drill_node_running(targets[i]) && start_node(o, targets[i]) != 0) {
            rv = -1;
        }
    }
    return rv;
}

static int hold_ms(const struct drill_options *o, const char *fault)
{
    if (strcmp(fault, "pause-leader") == 0 && o->pause_ms > o->fault_interval_ms) {
        return o->pause_ms;
    }
    return o->fault_interval_ms;
}

/* One round; -1 only when healing failed. */
static int run_round(struct drill_options *o, struct drill_kafka *k, struct drill_topology *t,
                     struct drill_round *r)
{
    struct drill_node *targets[2] = {NULL, NULL};
    struct round_env env;
    if (drill_kafka_topology(k, t, 5000) != 0) {
        snprintf(r->detail, sizeof r->detail, "no Metadata for the topic");
        drill_sleep_ms(o->fault_interval_ms);
        return 0;
    }
    r->partition = r->partition % t->n;
    build_env(o, t, r->round, r->partition, &env);
    if (strcmp(r->fault, "none") != 0 && strcmp(r->fault, "command") != 0 &&
        pick_targets(o, t, r, targets) != 0) {
        drill_log(o, "round %d: %s skipped: %s", r->round, r->fault, r->detail);
        drill_sleep_ms(o->fault_interval_ms);
        return 0;
    }
    drill_log(o, "round %d: %s (partition %d, leader %d)", r->round, r->fault, r->partition,
              t->p[r->partition].leader);
    r->applied_ns = tool_now_ns();
    int applied = strcmp(r->fault, "none") == 0 || apply_fault(o, r, targets, &env) == 0;
    if (!applied) {
        snprintf(r->detail, sizeof r->detail, "the fault could not be applied");
    }
    drill_sleep_ms(hold_ms(o, r->fault));
    r->healed_ns = tool_now_ns();
    int healed = strcmp(r->fault, "none") == 0 || heal_fault(o, r, targets, &env) == 0;
    r->ok = applied && healed;
    if (!healed) {
        snprintf(r->detail, sizeof r->detail, "healing failed");
        return -1;
    }
    drill_sleep_ms(o->fault_interval_ms);
    if (drill_kafka_wait_leaders(k, SETTLE_LEADERS_MS) != 0) {
        drill_log(o, "round %d: not every partition has a leader after %d ms", r->round,
                  SETTLE_LEADERS_MS);
    }
    return 0;
}

int drill_faults_run(struct drill_options *o, struct drill_kafka *k, struct drill_round *rounds)
{
    struct drill_topology *t = malloc(sizeof *t);
    if (t == NULL) {
        return -1;
    }
    drill_sleep_ms(o->warmup_ms);
    int rv = 0;
    for (int i = 0; i < o->rounds && rv == 0; i++) {
        struct drill_round *r = &rounds[i];
        *r = (struct drill_round){.round = i + 1,
                                  .fault = fault_of_round(o->faults, i + 1),
                                  .partition = i,
                                  .start_ns = tool_now_ns()};
        rv = run_round(o, k, t, r);
    }
    drill_nodes_continue_all(o);
    free(t);
    return rv;
}
