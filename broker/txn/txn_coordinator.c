/* The transaction coordinator: per-id state in __transaction_state, its
 * loading, its writes (acks=all), InitProducerId and the read APIs; see
 * txn_coordinator.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/coord/coord_log.h"
#include "broker/group/group_records.h"
#include "broker/txn/txn_coordinator.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"

/* How often leadership is checked. */
#define TICK_MS 100
/* How long InitProducerId may wait for the controller to hand out ids. */
#define PRODUCER_ID_WAIT_MS 30000
/* Bounds one loaded record's strings and partition list. */
#define LOAD_ARENA_LIMIT (4u << 20)

/* One id's state: what the log holds for it (the last replicated record). */
struct txn_state {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t timeout_ms;
    enum txn_status status;
    struct txn_topic_partition *partitions; /* owned, topic strings too */
    size_t n_partitions;
    int64_t update_ms;
    int64_t start_ms;
};

struct txn_entry {
    struct txn_entry *next;
    char *id;
    int32_t partition; /* of __transaction_state */
    struct txn_state state;
    bool pending; /* a new state is being written: others wait for it */
};

struct txn_coordinator {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    struct metadata_view *metadata;
    struct coord_log log;
    uv_timer_t tick;
    struct txn_entry *entries;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- states ---- */

static void state_free(struct txn_state *s)
{
    for (size_t i = 0; i < s->n_partitions; i++) {
        free((char *)s->partitions[i].topic);
    }
    free(s->partitions);
    s->partitions = NULL;
    s->n_partitions = 0;
}

/* A deep copy of `v` into `s` (which is overwritten). 0 or -ENOMEM. */
static int state_from_value(struct txn_state *s, const struct txn_log_value *v)
{
    *s = (struct txn_state){v->producer_id, v->producer_epoch, v->timeout_ms, v->status, NULL, 0,
                            v->update_ms,   v->start_ms};
    if (v->n_partitions == 0) {
        return 0;
    }
    s->partitions = calloc(v->n_partitions, sizeof *s->partitions);
    if (s->partitions == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < v->n_partitions; i++, s->n_partitions++) {
        s->partitions[i].partition = v->partitions[i].partition;
        s->partitions[i].topic = strdup(v->partitions[i].topic);
        if (s->partitions[i].topic == NULL) {
            state_free(s);
            return -ENOMEM;
        }
    }
    return 0;
}

static struct txn_log_value state_value(const struct txn_state *s)
{
    return (struct txn_log_value){s->producer_id, s->producer_epoch, s->timeout_ms, s->status,
                                  s->partitions,  s->n_partitions,   s->update_ms,  s->start_ms};
}

static struct txn_entry *entry_find(struct txn_coordinator *tc, const char *id)
{
    for (struct txn_entry *e = tc->entries; e != NULL; e = e->next) {
        if (strcmp(e->id, id) == 0) {
            return e;
        }
    }
    return NULL;
}

static struct txn_entry *entry_create(struct txn_coordinator *tc, const char *id, int32_t partition)
{
    struct txn_entry *e = calloc(1, sizeof *e);
    if (e == NULL || (e->id = strdup(id)) == NULL) {
        free(e);
        return NULL;
    }
    e->partition = partition;
    e->state = (struct txn_state){-1, -1, 0, TXN_EMPTY, NULL, 0, 0, -1};
    e->next = tc->entries;
    tc->entries = e;
    return e;
}

static void entry_drop(struct txn_coordinator *tc, struct txn_entry *e)
{
    for (struct txn_entry **pp = &tc->entries; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    }
    state_free(&e->state);
    free(e->id);
    free(e);
}

/* ---- loading and unloading (coord_log callbacks) ---- */

struct load_state {
    struct txn_coordinator *tc;
    int32_t partition;
    struct kafka_arena arena;
    size_t bad;
};

static void load_record(void *arg, const struct group_record *r)
{
    struct load_state *ls = arg;
    kafka_arena_reset(&ls->arena);
    const char *id;
    struct txn_log_value v;
    if (txn_log_key_decode(r->key, r->key_len, &ls->arena, &id) != 0) {
        ls->bad++;
        return;
    }
    struct txn_entry *e = entry_find(ls->tc, id);
    if (r->value == NULL) {
        if (e != NULL) {
            entry_drop(ls->tc, e); /* the id expired */
        }
        return;
    }
    if (txn_log_value_decode(r->value, (size_t)r->value_len, &ls->arena, &v) != 0) {
        ls->bad++;
        return;
    }
    if (e == NULL && (e = entry_create(ls->tc, id, ls->partition)) == NULL) {
        ls->bad++;
        return;
    }
    struct txn_state s;
    if (state_from_value(&s, &v) != 0) {
        ls->bad++;
        return;
    }
    state_free(&e->state);
    e->state = s;
}

static int load_batches(void *owner, int32_t i, const uint8_t *batches, size_t len)
{
    struct load_state ls = {owner, i, {0}, 0};
    kafka_arena_init(&ls.arena, LOAD_ARENA_LIMIT);
    int rv = group_batches_walk(batches, len, load_record, &ls);
    kafka_arena_free(&ls.arena);
    if (rv != 0 || ls.bad > 0) {
        log_warn("txn", "%s-%d: %zu records unreadable", TXN_STATE_TOPIC, i, ls.bad);
    }
    return 0;
}

static void unload_partition(void *owner, int32_t i)
{
    struct txn_coordinator *tc = owner;
    struct txn_entry *next;
    for (struct txn_entry *e = tc->entries; e != NULL; e = next) {
        next = e->next;
        if (e->partition == i) {
            entry_drop(tc, e);
        }
    }
}

/* ---- writing a new state ---- */

typedef void (*txn_written_cb)(void *arg, int16_t error, struct txn_entry *e);

struct txn_write {
    struct txn_coordinator *tc;
    char *id;
    int32_t partition;
    struct txn_state next; /* applied to the entry once replicated */
    txn_written_cb cb;
    void *arg;
};

/* Kafka's mapping of a failed log write to what the client is told. */
static int16_t write_error(int16_t err)
{
    switch (err) {
    case KAFKA_ERROR_NONE:
    case KAFKA_ERROR_NOT_COORDINATOR:
        return err;
    default:
        return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
    }
}

static void written(void *arg, int16_t err)
{
    struct txn_write *w = arg;
    struct txn_coordinator *tc = w->tc;
    struct txn_entry *e = entry_find(tc, w->id);
    if (e != NULL && e->partition == w->partition) {
        e->pending = false;
        if (err == KAFKA_ERROR_NONE) {
            state_free(&e->state);
            e->state = w->next;
            w->next.partitions = NULL;
            w->next.n_partitions = 0;
        } else if (e->state.producer_epoch < 0) {
            entry_drop(tc, e); /* a new id whose first record was lost */
            e = NULL;
        }
    } else if (err == KAFKA_ERROR_NONE) {
        err = KAFKA_ERROR_NOT_COORDINATOR; /* unloaded meanwhile */
    }
    if (err != KAFKA_ERROR_NONE) {
        log_info("txn", "transactional id %s: state %s not written: %s", w->id,
                 txn_status_name(w->next.status), kafka_error_name(err));
    }
    w->cb(w->arg, write_error(err), err == KAFKA_ERROR_NONE ? e : NULL);
    state_free(&w->next);
    free(w->id);
    free(w);
}

/* Write `next` (ownership taken) as e's state: cb(arg, NONE, e) once
 * replicated and applied, or an error; cb may run before this returns. */
static void write_state(struct txn_coordinator *tc, struct txn_entry *e, struct txn_state *next,
                        txn_written_cb cb, void *arg)
{
    struct txn_write *w = calloc(1, sizeof *w);
    char *id = w != NULL ? strdup(e->id) : NULL;
    if (id == NULL) {
        free(w);
        state_free(next);
        cb(arg, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE, NULL);
        return;
    }
    *w = (struct txn_write){tc, id, e->partition, *next, cb, arg};
    w->next.update_ms = wall_ms();
    struct txn_log_value v = state_value(&w->next);
    struct buf key, value, batch;
    buf_init(&key);
    buf_init(&value);
    buf_init(&batch);
    int16_t err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    int64_t end = -1;
    if (txn_log_key_encode(&key, e->id) == 0 && txn_log_value_encode(&value, &v) == 0) {
        struct group_record rec = {key.data, key.len, value.data, (int32_t)value.len};
        if (group_batch_build(&batch, &rec, 1, w->next.update_ms) == 0) {
            err = coord_log_append(&tc->log, e->partition, batch.data, batch.len,
                                   KAFKA_ERROR_UNKNOWN_SERVER_ERROR, &end);
        }
    }
    buf_free(&key);
    buf_free(&value);
    buf_free(&batch);
    e->pending = true;
    if (err != KAFKA_ERROR_NONE) {
        written(w, err);
        return;
    }
    coord_log_wait_replicated(&tc->log, e->partition, end, written, w);
}

/* ---- InitProducerId ---- */

struct init_ctx {
    struct txn_coordinator *tc;
    char *id;
    int32_t timeout_ms;
    txn_init_cb cb;
    void *arg;
    struct metadata_producer_id_op op;
};

static void init_finish(struct init_ctx *ctx, int16_t err, const struct txn_entry *e)
{
    if (err == KAFKA_ERROR_NONE) {
        ctx->cb(ctx->arg, err, e->state.producer_id, e->state.producer_epoch);
    } else {
        ctx->cb(ctx->arg, err, -1, -1);
    }
    free(ctx->id);
    free(ctx);
}

static void init_written(void *arg, int16_t err, struct txn_entry *e)
{
    init_finish(arg, err, e);
}

/* Write the id's Empty state with `producer_id` and `epoch`. */
static void init_write(struct init_ctx *ctx, struct txn_entry *e, int64_t producer_id,
                       int16_t epoch)
{
    struct txn_state next = {producer_id, epoch, ctx->timeout_ms, TXN_EMPTY, NULL, 0, 0, -1};
    log_info("txn", "transactional id %s: producer id %lld epoch %d", e->id, (long long)producer_id,
             epoch);
    write_state(ctx->tc, e, &next, init_written, ctx);
}

static void init_got_producer_id(struct metadata_producer_id_op *op)
{
    struct init_ctx *ctx = op->data;
    if (op->error_code != KAFKA_ERROR_NONE) {
        init_finish(ctx, op->error_code, NULL);
        return;
    }
    /* Routed again: leadership may have moved while the controller answered. */
    int32_t partition;
    int16_t err = coord_log_route(&ctx->tc->log, ctx->id, &partition);
    struct txn_entry *e = err == KAFKA_ERROR_NONE ? entry_find(ctx->tc, ctx->id) : NULL;
    if (err == KAFKA_ERROR_NONE && e == NULL) {
        e = entry_create(ctx->tc, ctx->id, partition);
        err = e == NULL ? KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE : KAFKA_ERROR_NONE;
    } else if (err == KAFKA_ERROR_NONE && e->pending) {
        err = KAFKA_ERROR_CONCURRENT_TRANSACTIONS;
    }
    if (err != KAFKA_ERROR_NONE) {
        init_finish(ctx, err, NULL);
        return;
    }
    init_write(ctx, e, op->producer_id, 0);
}

static void init_new_producer_id(struct init_ctx *ctx)
{
    ctx->op.data = ctx;
    metadata_view_submit_producer_id(ctx->tc->metadata, PRODUCER_ID_WAIT_MS, &ctx->op,
                                     init_got_producer_id);
}

/* An existing id: fence its previous instance by bumping the epoch. */
static int16_t init_existing(struct init_ctx *ctx, struct txn_entry *e,
                             const struct txn_init_request *req)
{
    const struct txn_state *s = &e->state;
    if (e->pending) {
        return KAFKA_ERROR_CONCURRENT_TRANSACTIONS;
    }
    /* KIP-360: a client that names its id and epoch must hold the current
     * ones; an older instance is a zombie. */
    if (req->producer_id >= 0 &&
        (req->producer_id != s->producer_id || req->producer_epoch != s->producer_epoch)) {
        return KAFKA_ERROR_PRODUCER_FENCED;
    }
    switch (s->status) {
    case TXN_EMPTY:
    case TXN_COMPLETE_COMMIT:
    case TXN_COMPLETE_ABORT:
    case TXN_DEAD:
        break;
    default:
        /* An open or completing transaction: it finishes (or is aborted)
         * first; the client retries. */
        return KAFKA_ERROR_CONCURRENT_TRANSACTIONS;
    }
    if (s->producer_epoch >= INT16_MAX - 1) {
        init_new_producer_id(ctx); /* the epoch is exhausted: a new producer id */
    } else {
        init_write(ctx, e, s->producer_id, (int16_t)(s->producer_epoch + 1));
    }
    return KAFKA_ERROR_NONE;
}

void txn_init_producer_id(struct txn_coordinator *tc, const struct txn_init_request *req,
                          txn_init_cb cb, void *arg)
{
    if (req->transactional_id == NULL || req->transactional_id[0] == '\0') {
        cb(arg, KAFKA_ERROR_INVALID_REQUEST, -1, -1);
        return;
    }
    if (req->timeout_ms <= 0 || req->timeout_ms > tc->cfg->transaction_max_timeout_ms) {
        cb(arg, KAFKA_ERROR_INVALID_TRANSACTION_TIMEOUT, -1, -1);
        return;
    }
    int32_t partition;
    int16_t err = coord_log_route(&tc->log, req->transactional_id, &partition);
    struct init_ctx *ctx = err == KAFKA_ERROR_NONE ? calloc(1, sizeof *ctx) : NULL;
    if (ctx == NULL || (ctx->id = strdup(req->transactional_id)) == NULL) {
        free(ctx);
        cb(arg, err != KAFKA_ERROR_NONE ? err : KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE, -1, -1);
        return;
    }
    *ctx = (struct init_ctx){tc, ctx->id, req->timeout_ms, cb, arg, {0}};
    struct txn_entry *e = entry_find(tc, req->transactional_id);
    if (e == NULL) {
        init_new_producer_id(ctx);
        return;
    }
    err = init_existing(ctx, e, req);
    if (err != KAFKA_ERROR_NONE) {
        init_finish(ctx, err, NULL);
    }
}

/* ---- FindCoordinator, DescribeTransactions, ListTransactions ---- */

int16_t txn_find_coordinator(struct txn_coordinator *tc, const char *transactional_id,
                             int32_t *node_id)
{
    if (transactional_id == NULL || transactional_id[0] == '\0') {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    return coord_log_find_leader(&tc->log, transactional_id, node_id);
}

static void describe_entry(const struct txn_entry *e,
                           void (*fn)(void *arg, const struct txn_description *d), void *arg)
{
    const struct txn_state *s = &e->state;
    struct txn_description d = {e->id,         s->status,   s->producer_id, s->producer_epoch,
                                s->timeout_ms, s->start_ms, s->partitions,  s->n_partitions};
    fn(arg, &d);
}

int16_t txn_describe(struct txn_coordinator *tc, const char *transactional_id,
                     void (*fn)(void *arg, const struct txn_description *d), void *arg)
{
    if (transactional_id == NULL || transactional_id[0] == '\0') {
        return KAFKA_ERROR_TRANSACTIONAL_ID_NOT_FOUND;
    }
    int32_t partition;
    int16_t err = coord_log_route(&tc->log, transactional_id, &partition);
    if (err != KAFKA_ERROR_NONE) {
        return err;
    }
    struct txn_entry *e = entry_find(tc, transactional_id);
    if (e == NULL || e->state.producer_epoch < 0) {
        return KAFKA_ERROR_TRANSACTIONAL_ID_NOT_FOUND;
    }
    describe_entry(e, fn, arg);
    return KAFKA_ERROR_NONE;
}

void txn_each(struct txn_coordinator *tc, void (*fn)(void *arg, const struct txn_description *d),
              void *arg)
{
    coord_log_check_leadership(&tc->log);
    for (struct txn_entry *e = tc->entries; e != NULL; e = e->next) {
        if (e->state.producer_epoch >= 0) {
            describe_entry(e, fn, arg);
        }
    }
}

/* ---- lifecycle ---- */

static void tick(uv_timer_t *t)
{
    struct txn_coordinator *tc = t->data;
    coord_log_check_leadership(&tc->log);
}

int txn_coordinator_start(struct txn_coordinator **out, uv_loop_t *loop,
                          const struct sluice_config *cfg, struct metadata_view *metadata,
                          struct replica_manager *replicas)
{
    struct txn_coordinator *tc = calloc(1, sizeof *tc);
    if (tc == NULL) {
        return -ENOMEM;
    }
    tc->loop = loop;
    tc->cfg = cfg;
    tc->metadata = metadata;
    struct coord_log_spec spec = {TXN_STATE_TOPIC, cfg->transaction_state_log_num_partitions,
                                  cfg->transaction_state_log_replication_factor,
                                  cfg->transaction_state_log_min_isr};
    coord_log_init(&tc->log, loop, cfg, metadata, replicas, &spec, load_batches, unload_partition,
                   tc);
    uv_timer_init(loop, &tc->tick);
    tc->tick.data = tc;
    uv_timer_start(&tc->tick, tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&tc->tick);
    *out = tc;
    return 0;
}

static void on_tick_closed(uv_handle_t *h)
{
    struct txn_coordinator *tc = h->data;
    while (tc->entries != NULL) {
        entry_drop(tc, tc->entries);
    }
    coord_log_free(&tc->log);
    free(tc);
}

void txn_coordinator_stop(struct txn_coordinator *tc)
{
    if (tc == NULL) {
        return;
    }
    uv_timer_stop(&tc->tick);
    uv_close((uv_handle_t *)&tc->tick, on_tick_closed);
}
