/* The topic id a partition directory belongs to (KIP-516; Kafka's
 * PartitionMetadataFile).
 *
 * `<dir>/partition.metadata` ("version: 0" and "topic_id: <hex>", written
 * once) ties a directory to its topic's id. A directory left by a topic that
 * was deleted while this broker was down would otherwise become the log of
 * a new topic with the same name, old records included. The log manager
 * checks and writes it while opening a partition on the thread pool
 * (log_manager.c). Blocking file I/O; no state; any thread. */
#ifndef SLUICE_BROKER_REPLICA_PARTITION_METADATA_H
#define SLUICE_BROKER_REPLICA_PARTITION_METADATA_H

#include <stdint.h>

#define PARTITION_METADATA_FILE "partition.metadata"

/* 1: partition directory `path` holds another topic's partition (its file
 * names another id); 0 otherwise (no file yet, or the same id). */
int partition_metadata_stale(const char *path, const uint8_t id[16]);

/* Record `id` in `path` (borrowed) unless a file is there already: written
 * through a .tmp (log recovery removes a leftover one), fsynced and renamed;
 * the caller fsyncs `path` itself if the entry must survive a crash. Returns
 * 0 (written, or already there), -ENAMETOOLONG, or -errno of the failing
 * step, after which no descriptor is left open and the .tmp is removed.
 * Nothing is logged here: the caller logs, with the partition. */
int partition_metadata_write(const char *path, const uint8_t id[16]);

#endif
