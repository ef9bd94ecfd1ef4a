/* The broker's data directories (log.dirs): created if missing, locked so two
 * processes never share one, and stamped with meta.properties (node.id,
 * cluster.id, version) as Kafka does, so a directory is never silently reused
 * by a different node. */
#ifndef SLUICE_BROKER_DATA_DIR_H
#define SLUICE_BROKER_DATA_DIR_H

#include <stddef.h>
#include <stdint.h>

#define DATA_DIR_MAX 16

struct data_dirs {
    char *paths[DATA_DIR_MAX];
    int lock_fds[DATA_DIR_MAX];
    size_t count;
};

/* Open every directory in the comma-separated `log_dirs` for node `node_id`.
 * On failure returns a negative errno with `err` naming the directory and the
 * cause, and nothing stays locked. On success the caller owns `dirs` and
 * releases it with data_dirs_close. */
int data_dirs_open(struct data_dirs *dirs, const char *log_dirs, int32_t node_id, char *err,
                   size_t errlen);
void data_dirs_close(struct data_dirs *dirs);

#endif
