/* The partition's offsets checkpoint, `log-offsets.checkpoint`: a small text
 * file in Kafka's checkpoint style (version line, count line, then one
 * "name value" line per entry), written atomically (tmp + fsync + rename +
 * directory fsync) so a crash leaves either the old or the new file. */
#ifndef SLUICE_BROKER_LOG_CHECKPOINT_H
#define SLUICE_BROKER_LOG_CHECKPOINT_H

#include <stdint.h>

struct log_checkpoint {
    int64_t log_start_offset;
    int64_t high_watermark;
    int64_t recovery_point; /* every offset below it was fsynced */
};

/* Write `cp` to `<dir>/<name>`. Returns 0 or -errno. Synchronous. */
int checkpoint_write(const char *dir, const char *name, const struct log_checkpoint *cp);

/* Read `<dir>/<name>`: 0 with *cp filled, -ENOENT if there is none, or
 * LOG_ERR_CORRUPT if it does not parse (the caller falls back to defaults). */
int checkpoint_read(const char *dir, const char *name, struct log_checkpoint *cp);

#endif
