/* Small filesystem helpers shared by the broker and the controller.
 * Blocking calls: run them at startup or on a thread pool, never on a busy
 * loop thread. Errors are negative errno values; nothing is logged here. */
#ifndef SLUICE_COMMON_FS_UTIL_H
#define SLUICE_COMMON_FS_UTIL_H

#include <stddef.h>

/* Like `mkdir -p` (mode 0755): create `path` and every missing parent.
 * Existing directories are fine. `path` is borrowed. Returns 0,
 * -ENAMETOOLONG for a path of 4096 bytes or more, or the failing mkdir's
 * -errno. */
int fs_mkdir_p(const char *path);

/* fsync the directory `dir` (borrowed), so that entries created, renamed or
 * removed in it survive a crash. Returns 0 or -errno. */
int fs_fsync_dir(const char *dir);

/* write(2) all `len` bytes of `data` (borrowed) to `fd`, retrying after
 * EINTR and short writes. Returns 0, -errno, or -EIO for a write that made
 * no progress. */
int fs_write_all(int fd, const void *data, size_t len);

/* Replace `dir`/`name` atomically with `len` bytes of `data` (all borrowed):
 * write `dir`/`name`.tmp (mode 0644), fsync it, rename it over the target,
 * then fsync `dir`. A crash leaves either the old or the new file. On a
 * failure before the rename the .tmp is removed and the target untouched.
 * Returns 0, -ENAMETOOLONG, or -errno of the failing step (-EIO for a write
 * that made no progress). */
int fs_write_atomic(const char *dir, const char *name, const void *data, size_t len);

/* fs_write_atomic without the fsyncs: write `dir`/`name`.tmp and rename it
 * over the target. Readers see the old or the new file; after a crash the
 * target may be the old file, the new one, or (filesystems that do not order
 * data before renames) an empty one, so the caller fsyncs the file and `dir`
 * itself before relying on it (e.g. with the data it describes). */
int fs_write_replace(const char *dir, const char *name, const void *data, size_t len);

/* fs_write_atomic without the directory fsync: the file is fsynced before
 * the rename, and the caller fsyncs `dir` itself, once for several changes
 * (a flush that also created or renamed other files in it). */
int fs_write_replace_synced(const char *dir, const char *name, const void *data, size_t len);

#endif
