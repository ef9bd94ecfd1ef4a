/* drill_nodes: see drill_nodes.h. */
#include "drill_nodes.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct drill_node *drill_node_find(struct drill_options *o, int32_t id)
{
    for (int i = 0; i < o->n_nodes; i++) {
        if (o->nodes[i].id == id) {
            return &o->nodes[i];
        }
    }
    return NULL;
}

static pid_t node_pid(const struct drill_node *n)
{
    if (n->child > 0) {
        return n->child;
    }
    if (n->pidfile == NULL) {
        return -1;
    }
    FILE *f = fopen(n->pidfile, "r");
    if (f == NULL) {
        return -1;
    }
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        pid = -1;
    }
    fclose(f);
    return (pid_t)pid;
}

/* A killed process that its parent has not reaped yet still answers
 * kill(pid, 0): /proc tells a zombie apart. */
static int is_zombie(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 1; /* gone between the calls */
    }
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char *paren = strrchr(buf, ')'); /* the name may hold spaces */
    return paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

int drill_node_running(struct drill_node *n)
{
    pid_t pid = node_pid(n);
    if (pid <= 0) {
        return 0;
    }
    if (n->child > 0) {
        int status;
        if (waitpid(n->child, &status, WNOHANG) == n->child) {
            n->child = 0; /* reaped: fall back to the pid file */
            n->stopped = 0;
            return 0;
        }
    }
    return kill(pid, 0) == 0 && !is_zombie(pid);
}

int drill_node_signal(const struct drill_options *o, struct drill_node *n, int sig)
{
    pid_t pid = node_pid(n);
    if (pid <= 0 || !drill_node_running(n)) {
        fprintf(stderr, "sluice-drill: node %d: no running process (pid file %s)\n", n->id,
                n->pidfile ? n->pidfile : "none");
        return -1;
    }
    if (kill(pid, sig) != 0) {
        fprintf(stderr, "sluice-drill: node %d: kill %ld: %s\n", n->id, (long)pid, strerror(errno));
        return -1;
    }
    n->stopped = sig == SIGSTOP ? 1 : sig == SIGCONT ? 0 : n->stopped;
    drill_log(o, "node %d (pid %ld): %s", n->id, (long)pid, strsignal(sig));
    return 0;
}

int drill_node_wait_exit(struct drill_node *n, int timeout_ms)
{
    int64_t deadline = tool_now_ns() + (int64_t)timeout_ms * 1000000;
    while (drill_node_running(n)) {
        if (tool_now_ns() > deadline) {
            return -1;
        }
        drill_sleep_ms(20);
    }
    n->stopped = 0;
    return 0;
}

/* In the child: /dev/null for stdin, stdout to `out_fd` (or /dev/null). */
static void child_stdio(int out_fd)
{
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        if (out_fd < 0) {
            dup2(null, 2);
        }
        if (null > 2) {
            close(null);
        }
    }
}

static void write_pidfile(const struct drill_node *n, pid_t pid)
{
    if (n->pidfile == NULL) {
        return;
    }
    FILE *f = fopen(n->pidfile, "w");
    if (f == NULL || fprintf(f, "%ld\n", (long)pid) < 0 || fclose(f) != 0) {
        fprintf(stderr, "sluice-drill: node %d: cannot write %s\n", n->id, n->pidfile);
    }
}

int drill_node_start(const struct drill_options *o, struct drill_node *n)
{
    if (n->start_cmd == NULL || n->start_cmd[0] == '\0') {
        fprintf(stderr, "sluice-drill: node %d: no start command\n", n->id);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "sluice-drill: node %d: fork: %s\n", n->id, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0); /* the drill's terminal signals are not the node's */
        child_stdio(-1);
        execl("/bin/sh", "sh", "-c", n->start_cmd, (char *)NULL);
        _exit(127);
    }
    n->child = pid;
    n->stopped = 0;
    write_pidfile(n, pid);
    drill_log(o, "node %d: started (pid %ld)", n->id, (long)pid);
    return 0;
}

void drill_nodes_continue_all(struct drill_options *o)
{
    for (int i = 0; i < o->n_nodes; i++) {
        struct drill_node *n = &o->nodes[i];
        if (n->stopped) {
            drill_node_signal(o, n, SIGCONT);
        }
    }
}

static int wait_child(pid_t pid, int timeout_ms)
{
    int64_t deadline = tool_now_ns() + (int64_t)timeout_ms * 1000000;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (tool_now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        drill_sleep_ms(10);
    }
}

int drill_run_command(const struct drill_options *o, const char *cmd, char *const *env,
                      int timeout_ms)
{
    drill_log(o, "running: %s", cmd);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "sluice-drill: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        for (char *const *e = env; e != NULL && *e != NULL; e++) {
            putenv(*e);
        }
        child_stdio(2); /* keep stdout for the drill's report */
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int rc = wait_child(pid, timeout_ms);
    if (rc != 0) {
        fprintf(stderr, "sluice-drill: command exited %d: %s\n", rc, cmd);
    }
    return rc;
}

int drill_capture_command(const char *cmd, char *out, size_t cap, int timeout_ms)
{
    int fds[2];
    if (cap == 0 || pipe(fds) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child_stdio(fds[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], out + len, cap - 1 - len)) > 0 && len + (size_t)got < cap - 1) {
        len += (size_t)got;
    }
    if (got > 0) {
        len += (size_t)got;
    }
    out[len] = '\0';
    close(fds[0]);
    return wait_child(pid, timeout_ms);
}
