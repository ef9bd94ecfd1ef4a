/* A coordinator's internal topic: creation, routing, loading, appends and
 * acks=all waits; see coord_log.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/coord/coord_log.h"
#include "broker/group/group_hash.h"
#include "broker/log/partition_log.h"
#include "broker/replica/delayed_op.h"
#include "broker/replica/partition.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"

/* Bytes read per step while loading a partition. */
#define LOAD_CHUNK (1u << 20)

void coord_log_init(struct coord_log *cl, uv_loop_t *loop, const struct sluice_config *cfg,
                    struct metadata_view *metadata, struct replica_manager *replicas,
                    const struct coord_log_spec *spec, coord_log_load_fn load,
                    coord_log_unload_fn unload, void *owner)
{
    *cl = (struct coord_log){.loop = loop,
                             .cfg = cfg,
                             .metadata = metadata,
                             .replicas = replicas,
                             .spec = *spec,
                             .load = load,
                             .unload = unload,
                             .owner = owner};
}

void coord_log_free(struct coord_log *cl)
{
    free(cl->loaded_epoch);
    cl->loaded_epoch = NULL;
    cl->n_partitions = 0;
}

int32_t coord_log_partition_for(const char *key, int32_t n)
{
    return group_partition_for(key, n);
}

struct partition *coord_log_partition(struct coord_log *cl, int32_t i)
{
    struct partition *p = replica_manager_partition(cl->replicas, cl->spec.topic, i);
    if (p == NULL || !partition_is_leader(p) || !replica_manager_may_lead(cl->replicas)) {
        return NULL;
    }
    return p;
}

bool coord_log_loaded(struct coord_log *cl, int32_t i)
{
    struct partition *p = i >= 0 && i < cl->n_partitions ? coord_log_partition(cl, i) : NULL;
    return p != NULL && cl->loaded_epoch[i] == p->leader_epoch;
}

int32_t coord_log_loaded_epoch(const struct coord_log *cl, int32_t i)
{
    return i >= 0 && i < cl->n_partitions ? cl->loaded_epoch[i] : -1;
}

static void unload_partition(struct coord_log *cl, int32_t i)
{
    if (i < cl->n_partitions && cl->loaded_epoch[i] >= 0) {
        log_info("coord", "unloading %s-%d (epoch %d)", cl->spec.topic, i, cl->loaded_epoch[i]);
        cl->loaded_epoch[i] = -1;
    }
    cl->unload(cl->owner, i);
}

void coord_log_check_leadership(struct coord_log *cl)
{
    for (int32_t i = 0; i < cl->n_partitions; i++) {
        if (cl->loaded_epoch[i] < 0) {
            continue;
        }
        struct partition *p = coord_log_partition(cl, i);
        if (p == NULL || p->leader_epoch != cl->loaded_epoch[i]) {
            unload_partition(cl, i);
        }
    }
}

static int load_partition(struct coord_log *cl, struct partition *p, int32_t i)
{
    int64_t hw = partition_high_watermark(p);
    int64_t at = partition_log_start(p);
    struct buf chunk;
    buf_init(&chunk);
    int rv = 0;
    while (at < hw) {
        struct log_read_result info;
        buf_reset(&chunk);
        rv = partition_read_copy(p, PARTITION_READ_CONSUMER, at, LOAD_CHUNK, &chunk, &info);
        if (rv != 0) {
            log_warn("coord", "cannot load %s-%d at offset %lld: error %d", cl->spec.topic, i,
                     (long long)at, rv);
            break;
        }
        if (info.length == 0 || info.next_offset <= at) {
            break;
        }
        rv = cl->load(cl->owner, i, chunk.data, chunk.len);
        if (rv != 0) {
            log_warn("coord", "cannot load %s-%d at offset %lld: error %d", cl->spec.topic, i,
                     (long long)at, rv);
            break;
        }
        at = info.next_offset;
    }
    buf_free(&chunk);
    if (rv == 0) {
        log_info("coord", "loaded %s-%d epoch %d up to offset %lld", cl->spec.topic, i,
                 p->leader_epoch, (long long)at);
    }
    return rv;
}

static int ensure_slots(struct coord_log *cl, int32_t n)
{
    if (n <= cl->n_partitions) {
        return 0;
    }
    int32_t *e = realloc(cl->loaded_epoch, (size_t)n * sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = cl->n_partitions; i < n; i++) {
        e[i] = -1;
    }
    cl->loaded_epoch = e;
    cl->n_partitions = n;
    return 0;
}

int16_t coord_log_route(struct coord_log *cl, const char *key, int32_t *partition)
{
    const struct metadata_topic *t = metadata_view_topic(cl->metadata, cl->spec.topic);
    if (t == NULL || t->n_partitions <= 0 || ensure_slots(cl, t->n_partitions) != 0) {
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
    int32_t i = coord_log_partition_for(key, t->n_partitions);
    *partition = i;
    return coord_log_load(cl, i);
}

int16_t coord_log_load(struct coord_log *cl, int32_t i)
{
    if (i < 0 || i >= cl->n_partitions) {
        const struct metadata_topic *t = metadata_view_topic(cl->metadata, cl->spec.topic);
        if (t == NULL || i < 0 || i >= t->n_partitions || ensure_slots(cl, t->n_partitions) != 0) {
            return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    struct partition *p = coord_log_partition(cl, i);
    if (p == NULL) {
        unload_partition(cl, i);
        return KAFKA_ERROR_NOT_COORDINATOR;
    }
    if (cl->loaded_epoch[i] == p->leader_epoch) {
        return KAFKA_ERROR_NONE;
    }
    unload_partition(cl, i); /* an older epoch's view may have missed writes */
    if (!partition_hw_caught_up(p)) {
        return KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS;
    }
    if (load_partition(cl, p, i) != 0) {
        unload_partition(cl, i);
        return KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS;
    }
    cl->loaded_epoch[i] = p->leader_epoch;
    return KAFKA_ERROR_NONE;
}

int16_t coord_log_append(struct coord_log *cl, int32_t i, uint8_t *batch, size_t len,
                         int16_t too_large, int64_t *end)
{
    if (!coord_log_loaded(cl, i)) {
        return KAFKA_ERROR_NOT_COORDINATOR;
    }
    struct partition *p = coord_log_partition(cl, i);
    if (p->n_isr < p->min_insync_replicas) {
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE; /* Kafka maps NOT_ENOUGH_REPLICAS so */
    }
    struct log_append_info info;
    int rv = partition_append(p, batch, len, &info);
    if (rv != 0) {
        log_warn("coord", "cannot append to %s-%d: %s", cl->spec.topic, i, info.reason);
        if (rv == LOG_ERR_INVALID_PRODUCER_EPOCH) {
            return KAFKA_ERROR_INVALID_PRODUCER_EPOCH; /* a fenced TxnOffsetCommit */
        }
        return rv == LOG_ERR_TOO_LARGE ? too_large : KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
    *end = info.last_offset + 1;
    return KAFKA_ERROR_NONE;
}

/* ---- waiting for replication (acks=all) ---- */

struct replicated_wait {
    struct coord_log *cl;
    int32_t partition;
    int32_t leader_epoch; /* the records were appended in */
    int64_t end;
    coord_log_done_cb cb;
    void *arg;
    int16_t outcome;
    struct delayed_op op;
};

/* Whether the wait is over, with w->outcome set: the high watermark passed
 * the records, or the leadership they were appended under is gone (a new
 * leader may have truncated them). */
static bool replicated_ready(struct delayed_op *op)
{
    struct replicated_wait *w = op->data;
    struct partition *p = coord_log_partition(w->cl, w->partition);
    if (p == NULL || p->leader_epoch != w->leader_epoch) {
        w->outcome = KAFKA_ERROR_NOT_COORDINATOR;
        return true;
    }
    if (partition_high_watermark(p) < w->end) {
        return false;
    }
    w->outcome = KAFKA_ERROR_NONE;
    return true;
}

static void replicated_finish(struct replicated_wait *w)
{
    w->cb(w->arg, w->outcome);
    free(w);
}

static void replicated_complete(struct delayed_op *op, bool expired)
{
    struct replicated_wait *w = op->data;
    delayed_op_free(op);
    if (expired && !replicated_ready(op)) {
        w->outcome = KAFKA_ERROR_REQUEST_TIMED_OUT;
    }
    replicated_finish(w);
}

void coord_log_wait_replicated(struct coord_log *cl, int32_t i, int64_t end, coord_log_done_cb cb,
                               void *arg)
{
    struct partition *p = coord_log_partition(cl, i);
    struct replicated_wait *w = p != NULL ? calloc(1, sizeof *w) : NULL;
    if (w == NULL) {
        cb(arg, p == NULL ? KAFKA_ERROR_NOT_COORDINATOR : KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
        return;
    }
    *w = (struct replicated_wait){cl, i, p->leader_epoch, end, cb, arg, KAFKA_ERROR_NONE, {0}};
    w->op.data = w;
    if (replicated_ready(&w->op)) {
        replicated_finish(w);
        return;
    }
    if (delayed_op_init(&w->op, 1, replicated_ready, replicated_complete, w) != 0) {
        w->outcome = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
        replicated_finish(w);
        return;
    }
    partition_watch(p, &w->op);
    replica_manager_park(cl->replicas, &w->op, (uint64_t)cl->cfg->request_timeout_ms);
}

/* ---- creation on first use ---- */

static void created(struct metadata_admin_op *op)
{
    struct coord_log *cl = op->data;
    cl->creating = false;
    if (op->error_code != KAFKA_ERROR_NONE && op->error_code != KAFKA_ERROR_TOPIC_ALREADY_EXISTS) {
        log_warn("coord", "cannot create %s: %s %s", cl->spec.topic,
                 kafka_error_name(op->error_code), op->error_message);
    }
}

static void create_topic(struct coord_log *cl)
{
    if (cl->creating) {
        return;
    }
    int32_t brokers = (int32_t)metadata_view_broker_count(cl->metadata);
    int32_t rf = cl->spec.replication_factor;
    if (brokers > 0 && rf > brokers) {
        rf = brokers;
    }
    int32_t min_isr = cl->spec.min_insync_replicas < rf ? cl->spec.min_insync_replicas : rf;
    char min_isr_text[16];
    snprintf(min_isr_text, sizeof min_isr_text, "%d", min_isr);
    struct metadata_config_entry configs[] = {{"cleanup.policy", "compact"},
                                              {"min.insync.replicas", min_isr_text}};
    struct metadata_topic_spec spec = {cl->spec.topic, cl->spec.num_partitions, rf, configs,
                                       min_isr > 0 ? 2 : 1};
    cl->creating = true;
    cl->create_op.data = cl;
    log_info("coord", "creating %s: %d partitions, replication factor %d", cl->spec.topic,
             spec.num_partitions, rf);
    metadata_view_submit_create_topic(
        cl->metadata, &spec, false, (uint64_t)cl->cfg->request_timeout_ms, &cl->create_op, created);
}

int16_t coord_log_find_leader(struct coord_log *cl, const char *key, int32_t *node_id)
{
    const struct metadata_topic *t = metadata_view_topic(cl->metadata, cl->spec.topic);
    if (t == NULL) {
        create_topic(cl);
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
    if (t->n_partitions <= 0) {
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
    const struct metadata_partition *mp =
        &t->partitions[coord_log_partition_for(key, t->n_partitions)];
    if (mp->leader < 0) {
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
    *node_id = mp->leader;
    return KAFKA_ERROR_NONE;
}
