/* drill_segments: reads the batch headers of one partition's log straight
 * from a broker's data directory (log.dirs), so sluice-drill can compare
 * replicas without the Kafka protocol (which serves Fetch from the leader
 * only).
 *
 * Layout (broker/log/README.md, as in Kafka): <dir>/<topic>-<partition>/
 * holds segments named <20-digit base offset>.log, each a sequence of v2
 * record batches: baseOffset i64, batchLength i32, partitionLeaderEpoch i32,
 * magic i8, crc u32 (CRC-32C from attributes to the end, so it does not
 * cover the leader epoch and is equal on every replica of a batch),
 * attributes i16, lastOffsetDelta i32, ...
 * A segment is read up to its first header that is short, not magic 2 or
 * whose length runs past the file (a torn or preallocated tail). Reading a
 * live broker's files is safe: the drill only reads. */
#ifndef SLUICE_DRILL_SEGMENTS_H
#define SLUICE_DRILL_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

typedef int (*drill_batch_cb)(void *arg, int64_t base_offset, int64_t last_offset, uint32_t crc);

/* Calls cb for each batch of <dir>/<topic>-<partition>, segments in offset
 * order. Returns 0 (also when the partition directory does not exist: no
 * batches), the first non-zero value cb returned, or -1 with a message in
 * err (errlen bytes) when a directory or file cannot be read. */
int drill_segments_scan(const char *dir, const char *topic, int32_t partition, drill_batch_cb cb,
                        void *arg, char *err, size_t errlen);

#endif
