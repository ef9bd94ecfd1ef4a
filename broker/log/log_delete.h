/* Deleting log files off the event loop (Kafka's LogManager.asyncDelete and
 * LogSegment's `.deleted` files), a bounded number of jobs at a time.
 *
 * Unlinking a large file frees its extents, which on ext4 can take many
 * milliseconds, and so does the last close of a file already unlinked; a
 * topic of thousands of partitions means tens of thousands of unlinks. On
 * the loop thread only renames happen (one directory entry each, which never
 * frees extents): a partition directory to `<dir>.<id>-delete`, a segment's
 * files to `<file>.deleted`. The unlinks, the rmdir and the last closes run
 * on the libuv thread pool.
 *
 * Bounded (issue 14): libuv's pool is four threads shared by every fsync,
 * checkpoint write and partition open of the process, served in the order
 * queued. A topic of 5,000 partitions handed to it at once put ~10,000 jobs
 * (a directory each, and the last closes of its segments) ahead of every
 * flush queued after them. A log_delete_queue, owned by whoever outlives the
 * logs that use it (the log manager, through partition_log_owner.deletions),
 * keeps its jobs in a FIFO and lets at most `max_in_flight` of them onto the
 * pool at once, so work queued meanwhile waits for at most that many. Logs
 * without one (tests, tools) queue their jobs on the pool straight away.
 *
 * A queued job owns copies of its paths and the descriptors it was given and
 * never points at a log or segment, so a log closed or destroyed meanwhile is
 * no concern. A job that never runs (a crash, or waiting when its queue
 * closes) leaves only renamed files, which the next open or start-up removes:
 * log_recovery.c removes `*.deleted` files, the log manager `-delete`
 * directories.
 *
 * Failures are logged once per job, with a path, on the loop after the job. */
#ifndef SLUICE_BROKER_LOG_LOG_DELETE_H
#define SLUICE_BROKER_LOG_LOG_DELETE_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

/* Appended to a file renamed for deletion (Kafka's LogFileUtils.DELETED_FILE_SUFFIX). */
#define LOG_DELETE_FILE_SUFFIX ".deleted"
/* Ends a partition directory renamed for deletion (Kafka's DeleteDirSuffix):
 * `<topic>-<partition>.<hex id>-delete`, never a valid `<topic>-<partition>`
 * name, which ends in digits. */
#define LOG_DELETE_DIR_SUFFIX "-delete"
/* Descriptors one job may close. */
#define LOG_DELETE_MAX_FDS 4

struct log_delete_job;

/* Deletion jobs waiting for the pool (FIFO) and on it. Loop thread only. */
struct log_delete_queue {
    uv_loop_t *loop;
    size_t max_in_flight;
    struct log_delete_job *waiting, *waiting_tail; /* not started, oldest first */
    size_t nwaiting;
    struct log_delete_job *running; /* on the pool, a list */
    size_t nrunning;
    bool closed;
};

/* At most `max_in_flight` (0: 1) jobs of `q` on the pool of `loop` (borrowed,
 * outlives the queue) at once. */
void log_delete_queue_init(struct log_delete_queue *q, uv_loop_t *loop, size_t max_in_flight);
/* Jobs waiting or on the pool. */
size_t log_delete_queue_pending(const struct log_delete_queue *q);
/* Shutdown: the jobs still waiting are dropped (their descriptors closed
 * now, their renamed files and directories left for the next start-up), and
 * those on the pool finish on the next loop run without touching `q`. Jobs
 * given to `q` afterwards (a read in flight letting go of a deleted segment)
 * are dropped the same way. `q`'s memory must stay valid as long as any log
 * or segment may still hand it a job (as partition_log_owner.files). Safe
 * on a zeroed queue and to call twice. */
void log_delete_queue_close(struct log_delete_queue *q);

/* Where a deletion runs: through `queue` when set, else straight on the
 * thread pool of `loop`, else now on the calling thread (blocking: for a
 * thread of the pool, or without a loop). */
struct log_deleter {
    struct log_delete_queue *queue;
    uv_loop_t *loop;
};

/* Loop thread (or any thread for a deleter of neither): close the `nfds`
 * descriptors `fds` (taken) and unlink the `npaths` paths (copied; ENOENT is
 * no error: a later deletion of a segment of the same base may have renamed
 * its own file over the name, and the first unlink took both), as `d` says;
 * out of memory: now. */
void log_delete_files(const struct log_deleter *d, const int *fds, size_t nfds,
                      const char *const *paths, size_t npaths);

/* Rename partition directory `dir` to `<dir>.<id>-delete` (`out`, outlen
 * bytes): the new name is unique, and no partition open or start-up scan
 * takes it for a partition. Returns 0 or -errno (nothing logged). */
int log_delete_rename_dir(const char *dir, char *out, size_t outlen);

/* Whether `name` (an entry of a log directory) is a directory renamed for
 * deletion. */
bool log_delete_is_dir_name(const char *name);

/* Remove directory `path` and the files in it, as `d` says (out of memory:
 * now). Returns 0 when queued or done, or the -errno of a removal done now
 * (logged). */
int log_delete_dir(const struct log_deleter *d, const char *path);

#endif
