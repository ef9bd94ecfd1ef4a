/* A hosted partition; see partition.h. */
#include "broker/replica/partition.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int partition_open(uv_loop_t *loop, const char *dir, const char *topic, int32_t index,
                   int32_t leader_epoch, const struct topic_config *cfg, struct partition **out,
                   char *err, size_t errlen)
{
    struct partition *p = calloc(1, sizeof *p);
    if (p == NULL || (p->dir = strdup(dir)) == NULL) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->index = index;
    p->leader_epoch = leader_epoch;
    p->is_leader = true;
    p->flush_messages = cfg->flush_messages;
    p->min_insync_replicas = cfg->min_insync_replicas;
    delayed_key_init(&p->waiters);
    int rv = partition_log_open(loop, dir, cfg, NULL, &p->log, err, errlen);
    if (rv != 0) {
        free(p->dir);
        free(p);
        return rv;
    }
    /* Sole replica: everything in the log is committed (see partition.h). */
    partition_log_set_high_watermark(p->log, partition_log_end_offset(p->log));
    *out = p;
    return 0;
}

void partition_close(struct partition *p)
{
    delayed_key_detach(&p->waiters);
    int rv = partition_log_close(p->log);
    if (rv != 0) {
        log_error("replica", "closing partition log failed topic=%s partition=%d error=%s",
                  p->topic, p->index, log_err_name(rv));
    }
    free(p->dir);
    free(p);
}

void partition_destroy(struct partition *p)
{
    delayed_key_detach(&p->waiters);
    int rv = partition_log_destroy(p->log);
    if (rv != 0) {
        log_error("replica", "deleting partition log failed topic=%s partition=%d error=%s",
                  p->topic, p->index, log_err_name(rv));
    }
    free(p->dir);
    free(p);
}

int partition_append(struct partition *p, uint8_t *batches, size_t len,
                     struct log_append_info *info)
{
    int rv = partition_log_append(p->log, batches, len, p->leader_epoch, info);
    if (rv != 0) {
        return rv;
    }
    partition_log_set_high_watermark(p->log, partition_log_end_offset(p->log));
    delayed_key_notify(&p->waiters);
    return 0;
}

int partition_ack_flush(struct partition *p, struct log_flush_req *req, log_flush_cb cb)
{
    int64_t unsynced = partition_log_end_offset(p->log) - partition_log_durable_offset(p->log);
    if (unsynced <= 0 || unsynced < p->flush_messages) {
        return 0;
    }
    int rv = partition_log_flush(p->log, req, cb);
    return rv == 0 ? 1 : rv;
}

void partition_set_config(struct partition *p, const struct topic_config *cfg)
{
    p->flush_messages = cfg->flush_messages;
    p->min_insync_replicas = cfg->min_insync_replicas;
    partition_log_set_config(p->log, cfg);
}

int64_t partition_high_watermark(const struct partition *p)
{
    return partition_log_high_watermark(p->log);
}

int64_t partition_log_start(const struct partition *p)
{
    return partition_log_start_offset(p->log);
}

int64_t partition_log_end(const struct partition *p)
{
    return partition_log_end_offset(p->log);
}

int partition_delete_records(struct partition *p, int64_t offset, int64_t *low)
{
    int64_t target = offset == -1 ? partition_high_watermark(p) : offset;
    if (target < 0) {
        return LOG_ERR_OFFSET_OUT_OF_RANGE;
    }
    int rv = partition_log_delete_records(p->log, target);
    if (rv == 0) {
        *low = partition_log_start_offset(p->log);
    }
    return rv;
}

bool partition_can_ack_all(const struct partition *p)
{
    return p->min_insync_replicas <= 1;
}
