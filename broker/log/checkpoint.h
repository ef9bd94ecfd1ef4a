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

/* Someone waiting for offsets just recorded to be durable (a DeleteRecords
 * answer): `done` is called once, on the loop thread, with 0 once a write
 * holding them landed, or -errno when it failed or the writer closed
 * (LOG_ERR_CLOSED). Embedded in the waiter's memory: no allocation. */
struct log_checkpoint_waiter {
    void (*done)(struct log_checkpoint_waiter *w, int status);
    void *data;
    /* private to the writer */
    uint64_t seq;
    struct log_checkpoint_waiter *prev, *next;
};

/* Write `cp` to `<dir>/<name>`. Returns 0 or -errno. Synchronous. */
int checkpoint_write(const char *dir, const char *name, const struct log_checkpoint *cp);

/* Read `<dir>/<name>`: 0 with *cp filled, -ENOENT if there is none, or
 * LOG_ERR_CORRUPT if it does not parse (the caller falls back to defaults). */
int checkpoint_read(const char *dir, const char *name, struct log_checkpoint *cp);

#endif
