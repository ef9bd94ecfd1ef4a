/* Placeholder so the API links while the implementation lands; every
 * operation fails with -ENOSYS. Replaced by partition_log.c and friends. */
#include "broker/log/partition_log.h"

#include <errno.h>
#include <stdio.h>

int partition_log_dir_name(const char *log_dir, const char *topic, int32_t partition, char *out,
                           size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s-%d", log_dir, topic, (int)partition);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int partition_log_open(uv_loop_t *loop, const char *dir, const struct topic_config *cfg,
                       const struct log_clock *clock, struct partition_log **out, char *err,
                       size_t errlen)
{
    (void)loop, (void)cfg, (void)clock;
    *out = NULL;
    snprintf(err, errlen, "partition log not implemented yet (dir=%s)", dir);
    return -ENOSYS;
}

int partition_log_close(struct partition_log *log)
{
    (void)log;
    return -ENOSYS;
}

int partition_log_destroy(struct partition_log *log)
{
    (void)log;
    return -ENOSYS;
}

void partition_log_set_config(struct partition_log *log, const struct topic_config *cfg)
{
    (void)log, (void)cfg;
}

int partition_log_append(struct partition_log *log, uint8_t *batches, size_t len,
                         int32_t leader_epoch, struct log_append_info *info)
{
    (void)log, (void)batches, (void)len, (void)leader_epoch, (void)info;
    return -ENOSYS;
}

int partition_log_append_as_follower(struct partition_log *log, const uint8_t *batches, size_t len,
                                     struct log_append_info *info)
{
    (void)log, (void)batches, (void)len, (void)info;
    return -ENOSYS;
}

int partition_log_read(struct partition_log *log, int64_t offset, size_t max_bytes,
                       int64_t max_offset, struct log_read_result *out)
{
    (void)log, (void)offset, (void)max_bytes, (void)max_offset, (void)out;
    return -ENOSYS;
}

void log_read_result_release(struct log_read_result *r)
{
    (void)r;
}

int partition_log_read_copy(struct partition_log *log, int64_t offset, size_t max_bytes,
                            int64_t max_offset, struct buf *out, struct log_read_result *info)
{
    (void)log, (void)offset, (void)max_bytes, (void)max_offset, (void)out, (void)info;
    return -ENOSYS;
}

int partition_log_offset_for_timestamp(struct partition_log *log, int64_t ts, int64_t *offset,
                                       int64_t *batch_ts)
{
    (void)log, (void)ts, (void)offset, (void)batch_ts;
    return -ENOSYS;
}

int64_t partition_log_start_offset(const struct partition_log *log)
{
    (void)log;
    return 0;
}

int64_t partition_log_end_offset(const struct partition_log *log)
{
    (void)log;
    return 0;
}

int64_t partition_log_high_watermark(const struct partition_log *log)
{
    (void)log;
    return 0;
}

int64_t partition_log_durable_offset(const struct partition_log *log)
{
    (void)log;
    return 0;
}

int64_t partition_log_size_bytes(const struct partition_log *log)
{
    (void)log;
    return 0;
}

int partition_log_segment_count(const struct partition_log *log)
{
    (void)log;
    return 0;
}

void partition_log_set_high_watermark(struct partition_log *log, int64_t hw)
{
    (void)log, (void)hw;
}

int partition_log_checkpoint(struct partition_log *log)
{
    (void)log;
    return -ENOSYS;
}

int partition_log_truncate_to(struct partition_log *log, int64_t offset)
{
    (void)log, (void)offset;
    return -ENOSYS;
}

int partition_log_delete_records(struct partition_log *log, int64_t before_offset)
{
    (void)log, (void)before_offset;
    return -ENOSYS;
}

int partition_log_apply_retention(struct partition_log *log, int64_t now_ms)
{
    (void)log, (void)now_ms;
    return -ENOSYS;
}

int partition_log_flush(struct partition_log *log, struct log_flush_req *req, log_flush_cb cb)
{
    (void)log, (void)req, (void)cb;
    return -ENOSYS;
}

void partition_log_flush_if_due(struct partition_log *log)
{
    (void)log;
}
