/* Helpers for the broker/log/ tests: encode real Kafka v2 record batches
 * (records with keys, values and headers, CRC-32C), temporary directories,
 * a settable clock and a default topic config. */
#ifndef SLUICE_TESTS_UNIT_LOG_TEST_UTIL_H
#define SLUICE_TESTS_UNIT_LOG_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "broker/log/partition_log.h"
#include "common/buf.h"
#include "common/config.h"

/* Append one batch of `count` records to `out`: record i has key "key-<i>",
 * a value of `value_len` bytes derived from `seed` and i, and one header
 * ("h", "v<i>"); timestamps base_ts + i. baseOffset 0, producerId -1. */
void tb_batch(struct buf *out, int count, size_t value_len, int64_t base_ts, uint32_t seed);

/* Same with explicit attributes and base offset (e.g. follower batches). */
void tb_batch_ex(struct buf *out, int count, size_t value_len, int64_t base_ts, uint32_t seed,
                 int16_t attributes, int64_t base_offset);

/* Recompute the CRC of the batch at `batch` (after a test edits it). */
void tb_fix_crc(uint8_t *batch);

/* Make a fresh directory under /tmp; *path is malloc'd. */
char *tb_tmpdir(void);
/* rm -rf `path` and free it. */
void tb_rmdir(char *path);

/* A clock the test sets by hand. */
struct tb_clock {
    int64_t now;
};
int64_t tb_clock_now(void *data);

/* Topic config with defaults from a default broker config, then the given
 * key=value pairs (NULL-terminated). */
void tb_topic_config(struct topic_config *tc, ...);

/* File size in bytes, -1 if missing. */
int64_t tb_file_size(const char *dir, const char *name);

#endif
