/* Kafka's OffsetCheckpointFile text format, one file per log directory for
 * all of its partitions (`recovery-point-offset-checkpoint`,
 * `replication-offset-checkpoint`, `log-start-offset-checkpoint`):
 *
 *     0                  version
 *     2                  number of entries
 *     orders 0 1234      topic, partition, offset
 *     orders 1 99
 *
 * Pure formatting and parsing; the owner (broker/replica/log_dir_checkpoints)
 * does the I/O. */
#ifndef SLUICE_BROKER_LOG_OFFSET_CHECKPOINT_FILE_H
#define SLUICE_BROKER_LOG_OFFSET_CHECKPOINT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define OFFSET_CHECKPOINT_RECOVERY_POINT "recovery-point-offset-checkpoint"
#define OFFSET_CHECKPOINT_HIGH_WATERMARK "replication-offset-checkpoint"
#define OFFSET_CHECKPOINT_LOG_START      "log-start-offset-checkpoint"

/* A file larger than this is refused as corrupt (about a million partitions). */
#define OFFSET_CHECKPOINT_MAX_BYTES (64u << 20)

/* Append the header for `count` entries to `out`. Returns 0 or -ENOMEM. */
int offset_checkpoint_begin(struct buf *out, size_t count);
/* Append one entry line. Returns 0 or -ENOMEM. */
int offset_checkpoint_add(struct buf *out, const char *topic, int32_t partition, int64_t offset);

/* Called for each entry of a parsed file; `topic` is valid for the call only.
 * A nonzero return stops the parse and is returned by it. */
typedef int (*offset_checkpoint_entry_fn)(const char *topic, int32_t partition, int64_t offset,
                                          void *arg);

/* Parse `len` bytes of `text` (need not be NUL-terminated). Returns 0,
 * LOG_ERR_CORRUPT when the text is not a well-formed version-0 file whose
 * entry count matches its lines (entries already reported stand: the caller
 * discards what it collected), or the callback's nonzero value. */
int offset_checkpoint_parse(const char *text, size_t len, offset_checkpoint_entry_fn fn, void *arg);

/* Read and parse `<dir>/<name>`: 0, -ENOENT when there is none, LOG_ERR_CORRUPT,
 * -errno, or the callback's value. Blocking: startup only. */
int offset_checkpoint_read(const char *dir, const char *name, offset_checkpoint_entry_fn fn,
                           void *arg);

#endif
