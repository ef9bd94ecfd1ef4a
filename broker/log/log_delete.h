/* Private to broker/log/: deleting log files off the event loop (Kafka's
 * LogManager.asyncDelete and LogSegment's `.deleted` files).
 *
 * Unlinking a large file frees its extents, which on ext4 can take many
 * milliseconds, and so does the last close of a file already unlinked; a
 * topic of thousands of partitions means tens of thousands of unlinks. On
 * the loop thread only renames happen (one directory entry each, which never
 * frees extents): a partition directory to `<dir>.<id>-delete`, a segment's
 * files to `<file>.deleted`. The unlinks, the rmdir and the last closes run
 * on the libuv thread pool.
 *
 * A queued job owns copies of its paths and the descriptors it was given and
 * never points at a log or segment, so a log closed or destroyed while it
 * is in flight is no concern; sluiced runs its loop dry before closing it,
 * which lets every queued job finish (one not run, a crash, leaves renamed
 * files that the next open or start-up removes: log_recovery.c removes
 * `*.deleted` files, the log manager `-delete` directories).
 *
 * Failures are logged once each, with the path, on the loop after the job. */
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

/* Loop thread (or any thread for a job done synchronously): close the `nfds`
 * descriptors `fds` (taken) and unlink the `npaths` paths (copied; ENOENT is
 * no error: a later deletion of a segment of the same base may have renamed
 * its own file over the name, and the first unlink took both). Both on the
 * thread pool of `loop`; `loop` NULL, or out of memory: now. */
void log_delete_files(uv_loop_t *loop, const int *fds, size_t nfds, const char *const *paths,
                      size_t npaths);

/* Rename partition directory `dir` to `<dir>.<id>-delete` (`out`, outlen
 * bytes): the new name is unique, and no partition open or start-up scan
 * takes it for a partition. Returns 0 or -errno (nothing logged). */
int log_delete_rename_dir(const char *dir, char *out, size_t outlen);

/* Whether `name` (an entry of a log directory) is a directory renamed for
 * deletion. */
bool log_delete_is_dir_name(const char *name);

/* Remove directory `path` and the files in it: on the thread pool of
 * `loop`, or now (`loop` NULL, out of memory). Returns 0 when queued or
 * done, or the -errno of the removal done now (logged). */
int log_delete_dir(uv_loop_t *loop, const char *path);

#endif
