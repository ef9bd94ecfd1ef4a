/* A partition this broker hosts: its partition_log, its leader epoch and high
 * watermark, and the delayed operations waiting on it.
 *
 * Single broker, no replication yet: this broker leads every partition and
 * the ISR is just itself, so the high watermark follows the log end offset.
 *
 * Durability promise (documented in broker/replica/README.md): an append is
 * acknowledged, and the high watermark moved past it, once the batches are
 * written to the segment file (in the page cache). That survives a crash of
 * the process, kill -9 included, but not of the machine, exactly like Kafka
 * with its default flush settings (log.flush.interval.messages/ms unset),
 * where durability against machine loss comes from replication. Topics that
 * set flush.messages / flush.ms get fsyncs from the log, and when an append
 * leaves at least flush.messages records unsynced the acknowledgement waits
 * for that fsync (partition_ack_flush), as Kafka's synchronous flush inside
 * Log.append makes the produce response wait.
 *
 * Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_PARTITION_H
#define SLUICE_BROKER_REPLICA_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/log/partition_log.h"
#include "broker/metadata/topic_name.h"
#include "broker/replica/delayed_op.h"
#include "common/config.h"

struct partition {
    char topic[TOPIC_NAME_MAX + 1];
    int32_t index;
    int32_t leader_epoch;      /* the current one from the metadata */
    bool is_leader;            /* this broker leads it; else it only hosts a replica */
    char *dir;                 /* owned: the partition's directory */
    struct partition_log *log; /* owned */
    struct delayed_key waiters;
    int64_t flush_messages;      /* the topic's flush.messages */
    int32_t min_insync_replicas; /* the topic's min.insync.replicas */
};

/* Open (creating or recovering) the partition's log in `dir`. Returns 0 with
 * *out owned by the caller, or a negative error with `err`. */
int partition_open(uv_loop_t *loop, const char *dir, const char *topic, int32_t index,
                   int32_t leader_epoch, const struct topic_config *cfg, struct partition **out,
                   char *err, size_t errlen);
/* Flush and close (shutdown). Waiters are detached; they finish at their deadline. */
void partition_close(struct partition *p);
/* Delete the partition's files (DeleteTopics) and free it. */
void partition_destroy(struct partition *p);

/* Append batches as leader (see partition_log_append: validated, offsets
 * assigned in place in `batches`). On success the high watermark moves to the
 * new log end and waiters are notified. Errors as partition_log_append. */
int partition_append(struct partition *p, uint8_t *batches, size_t len,
                     struct log_append_info *info);

/* Before acknowledging an append: if at least flush.messages records are
 * not yet fsynced, queue `req` (caller-owned, valid until `cb`) and return 1;
 * `cb` fires later on the loop with 0 or the fsync error. Returns 0 when the
 * acknowledgement may go now, or a negative error. */
int partition_ack_flush(struct partition *p, struct log_flush_req *req, log_flush_cb cb);

/* Whether an acks=all write can be acknowledged as promised: with
 * min.insync.replicas = M, an acknowledged write must survive the loss of
 * M-1 replicas (RELIABILITY.md). Until follower replication exists only the
 * leader holds a write, so that holds only for M <= 1; for M > 1 the producer
 * must get NOT_ENOUGH_REPLICAS and nothing is written. */
bool partition_can_ack_all(const struct partition *p);
/* The topic's config changed. */
void partition_set_config(struct partition *p, const struct topic_config *cfg);

int64_t partition_high_watermark(const struct partition *p);
int64_t partition_log_start(const struct partition *p);
int64_t partition_log_end(const struct partition *p);

/* DeleteRecords up to `offset` (-1 = high watermark); returns the new low
 * watermark in *low or an error (LOG_ERR_OFFSET_OUT_OF_RANGE above the HW). */
int partition_delete_records(struct partition *p, int64_t offset, int64_t *low);

#endif
