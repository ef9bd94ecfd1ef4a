/* The offsets checkpoints of one log directory, as Kafka keeps them: three
 * files for all of the directory's partitions (offset_checkpoint_file.h),
 * `recovery-point-offset-checkpoint`, `replication-offset-checkpoint` (high
 * watermarks) and `log-start-offset-checkpoint`.
 *
 * The directory's entries live in memory; the log manager updates them from
 * the logs that changed and asks for a write on its checkpoint timer. A write
 * happens only when an entry changed since the last one: the loop copies the
 * entries, and the libuv thread pool formats the three files from the copy
 * and writes each atomically (tmp, fsync, rename, directory fsync); one write per directory is in
 * flight at a time. Whoever must not go on before its offsets are durable (a DeleteRecords answer)
 * waits for a pool write with dir_checkpoint_wait: waiters share the writes, so a burst of them
 * costs one or two writes. A synchronous write (shutdown, a follower emptying its log) is ordered
 * with the asynchronous ones: whichever carries the newer state lands last.
 *
 * Partitions whose offsets came from their own `log-offsets.checkpoint` (the
 * format before these files) have that file deleted once a write listing them
 * succeeded. Loop thread only, except the write itself. */
#ifndef SLUICE_BROKER_REPLICA_DIR_CHECKPOINT_H
#define SLUICE_BROKER_REPLICA_DIR_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "broker/log/checkpoint.h"

struct dir_checkpoint;

/* A write of the directory's files failed on the disk (not for want of
 * memory before touching it): called on the loop, once per failed write,
 * pool or synchronous, after the error was logged. Kafka takes a log
 * directory offline on any failed checkpoint write; the owner decides. */
typedef void (*dir_checkpoint_fault_fn)(void *data, struct dir_checkpoint *dc, int err);

/* Read the directory's three files (blocking: startup). A missing or corrupt
 * file is logged and its offsets taken as unknown (a partition it would have
 * listed falls back to its own file, or to a full recovery with offsets 0,
 * which never raises a high watermark). Returns NULL only without memory.
 * `dir` is copied; `loop` must outlive the result. */
struct dir_checkpoint *dir_checkpoint_open(uv_loop_t *loop, const char *dir);

/* Who hears of the failed writes from now on (`fault` NULL: nobody). */
void dir_checkpoint_on_fault(struct dir_checkpoint *dc, dir_checkpoint_fault_fn fault, void *data);

/* What the files (or later updates) say of `topic`-`partition`: true with
 * *cp filled, false if this partition is not listed in all three files. */
bool dir_checkpoint_get(const struct dir_checkpoint *dc, const char *topic, int32_t partition,
                        struct log_checkpoint *cp);

/* Record the partition's current offsets (in memory). Returns 0 or -ENOMEM. */
int dir_checkpoint_set(struct dir_checkpoint *dc, const char *topic, int32_t partition,
                       const struct log_checkpoint *cp);

/* The partition was deleted: drop it from the files. */
void dir_checkpoint_remove(struct dir_checkpoint *dc, const char *topic, int32_t partition);

/* Delete `path` (a partition's old `log-offsets.checkpoint`; copied) after
 * the next write succeeds. Returns 0 or -ENOMEM. */
int dir_checkpoint_retire_file(struct dir_checkpoint *dc, const char *path);

/* Queue a write on the thread pool if anything changed since the last one
 * and none is in flight. Errors are logged and reported to the fault
 * handler (the state stays dirty for the next call). Running out of memory
 * while formatting the files fails no waiter: they wait for the next call's
 * write. */
void dir_checkpoint_write_async(struct dir_checkpoint *dc);

/* Write now, on this thread, if anything changed (waits for an in-flight
 * write's file operations first). Returns 0 or -errno (logged, and reported
 * to the fault handler before this returns unless it is -ENOMEM). -ENOMEM
 * means only that memory ran out before the disk was touched (logged at
 * WARN, as for a pool write): no storage fault, and the state stays for the
 * next dir_checkpoint_write_async. */
int dir_checkpoint_write_sync(struct dir_checkpoint *dc);

/* Wait until the state recorded so far (dir_checkpoint_set...) is on disk:
 * returns 1 if it already is (`w->done` is not called), else 0 and a pool
 * write is started or follows the one in flight; `w->done` is then called
 * once from the loop, with 0 or the write's -errno (the answers needing a
 * failed write fail, they do not wait for a retry; but a write that ran out
 * of memory formatting the files, before touching the disk, is retried by
 * the next dir_checkpoint_write_async, and they wait for it), or
 * LOG_ERR_CLOSED from dir_checkpoint_close. Any write that lands (a
 * synchronous one too) answers every waiter whose state it holds, at the
 * latest from the completion of the pool write in flight or of one it
 * queues. Never from inside this call or a synchronous write. */
int dir_checkpoint_wait(struct dir_checkpoint *dc, struct log_checkpoint_waiter *w);

/* Stop waiting without `done` (the waiter goes away); harmless if `w` is
 * not waiting. */
void dir_checkpoint_unwait(struct dir_checkpoint *dc, struct log_checkpoint_waiter *w);

/* The directory went offline: no write of it is started again (the
 * checkpoint tick skips it), so answer every waiter now, 0 if its state
 * landed, else `err`; a waiter left for the next tick (a write that ran out
 * of memory formatting, or could not be queued) would otherwise never be
 * answered. Not from inside a `done`. */
void dir_checkpoint_fail_waiters(struct dir_checkpoint *dc, int err);

/* Free, completing the waiters with LOG_ERR_CLOSED; a write in flight finishes on its own (run the
 * loop until it has). */
void dir_checkpoint_close(struct dir_checkpoint *dc);

#endif
