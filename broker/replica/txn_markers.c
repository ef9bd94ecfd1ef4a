/* Transaction markers on led partitions; see txn_markers.h. */
#include "broker/replica/txn_markers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "common/log.h"

/* Kafka error codes (proto/kafka/kafka_errors.h is the Kafka layer's). */
#define ERR_NONE                           0
#define ERR_UNKNOWN_TOPIC_OR_PARTITION     3
#define ERR_NOT_LEADER_OR_FOLLOWER         6
#define ERR_REQUEST_TIMED_OUT              7
#define ERR_NOT_ENOUGH_REPLICAS            19
#define ERR_NOT_ENOUGH_REPLICAS_AFTER      20
#define ERR_KAFKA_STORAGE_ERROR            56
#define ERR_UNKNOWN_SERVER_ERROR           (-1)
#define ERR_INVALID_PRODUCER_EPOCH         47
#define ERR_TRANSACTION_COORDINATOR_FENCED 52

struct marker_wait {
    struct txn_marker_partition *slot;
    int32_t leader_epoch; /* the epoch it was appended in */
    int64_t end;          /* marker offset + 1 */
    int64_t producer_id;
    bool commit;
    bool done;
};

struct markers_ctx {
    struct replica_manager *rm;
    struct marker_wait *waits;
    size_t n_waits;
    txn_markers_done_cb done;
    void *arg;
    struct delayed_op op;
};

static int16_t error_from_log(int rv)
{
    switch (rv) {
    case 0:
        return ERR_NONE;
    case LOG_ERR_INVALID_PRODUCER_EPOCH:
        return ERR_INVALID_PRODUCER_EPOCH;
    case LOG_ERR_COORDINATOR_FENCED:
        return ERR_TRANSACTION_COORDINATOR_FENCED;
    case LOG_ERR_STALE_EPOCH:
    case LOG_ERR_CLOSED:
        return ERR_NOT_LEADER_OR_FOLLOWER;
    case -EIO:
    case -ENOSPC:
    case -EROFS:
    case -EDQUOT:
        return ERR_KAFKA_STORAGE_ERROR;
    default:
        return ERR_UNKNOWN_SERVER_ERROR;
    }
}

static void wait_fail(struct marker_wait *w, int16_t error)
{
    w->done = true;
    w->slot->error_code = error;
}

/* Whether `w` can be answered now; sets its outcome when so. */
static bool wait_check(struct markers_ctx *ctx, struct marker_wait *w)
{
    struct partition *p = replica_manager_partition(ctx->rm, w->slot->topic, w->slot->partition);
    if (p == NULL || !partition_is_leader(p) || p->leader_epoch != w->leader_epoch ||
        !replica_manager_may_lead(ctx->rm)) {
        wait_fail(w, ERR_NOT_LEADER_OR_FOLLOWER);
        return true;
    }
    if (partition_high_watermark(p) < w->end) {
        return false;
    }
    if (p->n_isr < p->min_insync_replicas) {
        wait_fail(w, ERR_NOT_ENOUGH_REPLICAS_AFTER);
        return true;
    }
    int rv = partition_flush_ready(p, w->end);
    if (rv == 1) {
        return false;
    }
    wait_fail(w, rv < 0 ? error_from_log(rv) : ERR_NONE);
    if (rv == 0 && ctx->rm->marker_listener != NULL) {
        struct txn_marker_written m = {w->slot->topic, w->slot->partition, w->leader_epoch,
                                       w->producer_id, w->commit,          w->end - 1};
        ctx->rm->marker_listener(ctx->rm->marker_listener_arg, &m);
    }
    return true;
}

void txn_markers_set_listener(struct replica_manager *rm, txn_marker_listener_fn fn, void *arg)
{
    rm->marker_listener = fn;
    rm->marker_listener_arg = arg;
}

static bool markers_ready(struct delayed_op *op)
{
    struct markers_ctx *ctx = op->data;
    bool all = true;
    for (size_t i = 0; i < ctx->n_waits; i++) {
        if (!ctx->waits[i].done) {
            all &= wait_check(ctx, &ctx->waits[i]);
        }
    }
    return all;
}

static void finish(struct markers_ctx *ctx)
{
    txn_markers_done_cb done = ctx->done;
    void *arg = ctx->arg;
    free(ctx->waits);
    free(ctx);
    done(arg);
}

static void markers_complete(struct delayed_op *op, bool expired)
{
    struct markers_ctx *ctx = op->data;
    delayed_op_free(op);
    if (expired) {
        markers_ready(op);
        for (size_t i = 0; i < ctx->n_waits; i++) {
            if (!ctx->waits[i].done) {
                wait_fail(&ctx->waits[i], ERR_REQUEST_TIMED_OUT);
            }
        }
    }
    finish(ctx);
}

static void append_one(struct markers_ctx *ctx, const struct txn_marker_write *m,
                       struct txn_marker_partition *slot)
{
    struct partition *p = replica_manager_partition(ctx->rm, slot->topic, slot->partition);
    if (p == NULL) {
        const struct metadata_topic *t = metadata_view_topic(ctx->rm->metadata, slot->topic);
        slot->error_code = t == NULL || slot->partition < 0 || slot->partition >= t->n_partitions
                               ? ERR_UNKNOWN_TOPIC_OR_PARTITION
                               : ERR_NOT_LEADER_OR_FOLLOWER;
        return;
    }
    if (!partition_is_leader(p) || !replica_manager_may_lead(ctx->rm)) {
        slot->error_code = ERR_NOT_LEADER_OR_FOLLOWER;
        return;
    }
    if (p->n_isr < p->min_insync_replicas) {
        slot->error_code = ERR_NOT_ENOUGH_REPLICAS;
        return;
    }
    struct log_txn_marker lm = {m->producer_id, m->producer_epoch, m->coordinator_epoch, m->commit};
    struct log_append_info info;
    int rv = partition_append_marker(p, &lm, &info);
    if (rv != 0) {
        slot->error_code = error_from_log(rv);
        log_info("replica",
                 "transaction marker rejected topic=%s partition=%d producer=%" PRId64
                 " epoch=%d commit=%d error=%s reason=\"%s\"",
                 slot->topic, slot->partition, m->producer_id, m->producer_epoch, m->commit,
                 log_err_name(rv), info.reason);
        return;
    }
    ctx->waits[ctx->n_waits++] = (struct marker_wait){
        slot, p->leader_epoch, info.first_offset + 1, m->producer_id, m->commit, false};
}

int txn_markers_write(struct replica_manager *rm, struct txn_marker_write *markers, size_t n,
                      uint64_t timeout_ms, txn_markers_done_cb done, void *arg)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += markers[i].n_partitions;
    }
    struct markers_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL || (ctx->waits = calloc(total ? total : 1, sizeof *ctx->waits)) == NULL) {
        free(ctx);
        return -ENOMEM;
    }
    ctx->rm = rm;
    ctx->done = done;
    ctx->arg = arg;
    ctx->op.data = ctx;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < markers[i].n_partitions; j++) {
            markers[i].partitions[j].error_code = ERR_NONE;
            append_one(ctx, &markers[i], &markers[i].partitions[j]);
        }
    }
    if (markers_ready(&ctx->op) ||
        delayed_op_init(&ctx->op, ctx->n_waits, markers_ready, markers_complete, ctx) != 0) {
        for (size_t i = 0; i < ctx->n_waits; i++) {
            if (!ctx->waits[i].done) {
                wait_fail(&ctx->waits[i], ERR_REQUEST_TIMED_OUT);
            }
        }
        finish(ctx);
        return 0;
    }
    for (size_t i = 0; i < ctx->n_waits; i++) {
        struct partition *p =
            replica_manager_partition(rm, ctx->waits[i].slot->topic, ctx->waits[i].slot->partition);
        if (p != NULL && !ctx->waits[i].done) {
            partition_watch(p, &ctx->op);
        }
    }
    replica_manager_park(rm, &ctx->op, timeout_ms);
    return 0;
}
