/* The broker's data directories (log.dirs): created if missing, locked so two
 * processes never share one, and stamped with meta.properties (node.id,
 * cluster.id, version) as Kafka does, so a directory is never silently reused
 * by a different node. */
#ifndef SLUICE_BROKER_DATA_DIR_H
#define SLUICE_BROKER_DATA_DIR_H

#include <stddef.h>
#include <stdint.h>

#define DATA_DIR_MAX         16
#define DATA_DIR_CLUSTER_MAX 64

struct data_dirs {
    char *paths[DATA_DIR_MAX];
    int lock_fds[DATA_DIR_MAX];
    size_t count;
    int32_t node_id;
    /* The cluster.id the directories record; "" until the first start has
     * learnt it from the controller quorum (data_dirs_claim_cluster). */
    char cluster_id[DATA_DIR_CLUSTER_MAX];
};

/* Open every directory in the comma-separated `log_dirs` for node `node_id`.
 * Directories that record different cluster ids are refused (-EINVAL).
 * On failure returns a negative errno with `err` naming the directory and the
 * cause, and nothing stays locked. On success the caller owns `dirs` and
 * releases it with data_dirs_close. */
int data_dirs_open(struct data_dirs *dirs, const char *log_dirs, int32_t node_id, char *err,
                   size_t errlen);
/* The cluster this node's data belongs to is `cluster_id` (from the
 * metadata image). When the directories record none yet, it is written to
 * every meta.properties (atomically, fsynced) and 0 returned. When they
 * record another one, returns -EINVAL with `err` naming the directory and
 * both ids: the data belongs to another cluster, and the process must stop
 * before serving or changing anything. Other negative errnos: write failed. */
int data_dirs_claim_cluster(struct data_dirs *dirs, const char *cluster_id, char *err,
                            size_t errlen);
void data_dirs_close(struct data_dirs *dirs);

#endif
