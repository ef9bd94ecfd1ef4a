/* The transaction coordinator: per-id state in __transaction_state, its
 * loading, its writes (acks=all), InitProducerId and the read APIs; see
 * txn_coordinator.h. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "broker/coord/coord_log.h"
#include "broker/group/group_records.h"
#include "broker/replica/partition.h"
#include "broker/txn/txn_coordinator.h"
#include "broker/txn/txn_marker_sender.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/wall_clock.h"
#include "proto/kafka/kafka_errors.h"

/* How often leadership is checked. */
#define TICK_MS 100
/* How long InitProducerId may wait for the controller to hand out ids. */
#define PRODUCER_ID_WAIT_MS 30000
/* Bounds one loaded record's strings and partition list. */
#define LOAD_ARENA_LIMIT (4u << 20)
/* The group coordinator's topic (AddOffsetsToTxn adds its partitions). */
#define OFFSETS_TOPIC "__consumer_offsets"

/* Kafka's TransactionMetadata.isEpochExhausted: the last epoch is kept so
 * the coordinator can always fence. */
static bool epoch_exhausted(int16_t epoch)
{
    return epoch >= INT16_MAX - 1;
}

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
    /* In memory only, as Kafka keeps them (TransactionLogValue v0 has
     * neither): the epoch before the last KIP-360 bump, so a retried
     * InitProducerId gets the same answer, and the producer id before the
     * last rotation. -1: none. */
    int16_t last_epoch;
    int64_t prev_producer_id;
};

/* A place in one of the coordinator's lists of entries: circular, with the
 * list's head as its sentinel, so an entry leaves it without a walk. */
struct txn_link {
    struct txn_link *prev, *next;
};

struct txn_entry {
    struct txn_link all;      /* tc->entries */
    struct txn_link prepared; /* tc->prepared while PrepareCommit/PrepareAbort */
    struct txn_coordinator *tc;
    char *id;
    int32_t partition; /* of __transaction_state */
    struct txn_state state;
    bool pending; /* a new state is being written: others wait for it */
    /* PrepareCommit/PrepareAbort: the markers being sent, whether they
     * all are written (CompleteX is next), or were refused for good. */
    struct txn_marker_job *job;
    bool markers_written;
    bool markers_refused;
};

struct txn_coordinator {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    struct metadata_view *metadata;
    struct coord_log log;
    uv_timer_t tick;
    struct strmap ids;       /* transactional.id -> its txn_entry */
    struct txn_link entries; /* every entry: the periodic scans and unloading */
    /* The entries whose markers the tick drives, so that it visits only
     * those and not every id it coordinates. */
    struct txn_link prepared;
    struct txn_marker_sender *markers;
    uint64_t next_timeout_scan; /* uv_now */
    uint64_t next_expiry_scan;  /* uv_now */
    unsigned open_handles;      /* the tick timer and the marker sender */
};

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
    *s = (struct txn_state){v->producer_id,
                            v->producer_epoch,
                            v->timeout_ms,
                            v->status,
                            NULL,
                            0,
                            v->update_ms,
                            v->start_ms,
                            -1,
                            -1};
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

/* A deep copy of `from` into `to`. 0 or -ENOMEM. */
static int state_copy(struct txn_state *to, const struct txn_state *from)
{
    struct txn_log_value v = {from->producer_id, from->producer_epoch, from->timeout_ms,
                              from->status,      from->partitions,     from->n_partitions,
                              from->update_ms,   from->start_ms};
    int rv = state_from_value(to, &v);
    to->last_epoch = from->last_epoch;
    to->prev_producer_id = from->prev_producer_id;
    return rv;
}

static bool state_has(const struct txn_state *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->n_partitions; i++) {
        if (s->partitions[i].partition == partition && strcmp(s->partitions[i].topic, topic) == 0) {
            return true;
        }
    }
    return false;
}

/* Add the partitions `s` lacks. 0 or -ENOMEM (s unchanged but for
 * partitions already added). */
static int state_add(struct txn_state *s, const struct txn_topic_partition *add, size_t n)
{
    struct txn_topic_partition *grown =
        realloc(s->partitions, (s->n_partitions + n + 1) * sizeof *grown);
    if (grown == NULL) {
        return -ENOMEM;
    }
    s->partitions = grown;
    for (size_t i = 0; i < n; i++) {
        if (state_has(s, add[i].topic, add[i].partition)) {
            continue;
        }
        char *topic = strdup(add[i].topic);
        if (topic == NULL) {
            return -ENOMEM;
        }
        s->partitions[s->n_partitions++] = (struct txn_topic_partition){topic, add[i].partition};
    }
    return 0;
}

static struct txn_log_value state_value(const struct txn_state *s)
{
    return (struct txn_log_value){s->producer_id, s->producer_epoch, s->timeout_ms, s->status,
                                  s->partitions,  s->n_partitions,   s->update_ms,  s->start_ms};
}

/* ---- entries ---- */

static void link_init(struct txn_link *l)
{
    l->prev = l->next = l;
}

static bool link_listed(const struct txn_link *l)
{
    return l->next != l;
}

/* Put `l` first in the list headed by `head`. */
static void link_push(struct txn_link *head, struct txn_link *l)
{
    l->prev = head;
    l->next = head->next;
    head->next->prev = l;
    head->next = l;
}

/* Take `l` out of its list; a no-op if it is in none. */
static void link_remove(struct txn_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

#define ENTRY_OF(l, field) ((struct txn_entry *)((char *)(l)-offsetof(struct txn_entry, field)))

static struct txn_entry *entry_find(struct txn_coordinator *tc, const char *id)
{
    return strmap_get(&tc->ids, id);
}

static struct txn_entry *entry_create(struct txn_coordinator *tc, const char *id, int32_t partition)
{
    struct txn_entry *e = calloc(1, sizeof *e);
    if (e == NULL || (e->id = strdup(id)) == NULL) {
        free(e);
        return NULL;
    }
    if (strmap_put(&tc->ids, e->id, e) != 0) {
        free(e->id);
        free(e);
        return NULL;
    }
    e->partition = partition;
    e->tc = tc;
    e->state = (struct txn_state){-1, -1, 0, TXN_EMPTY, NULL, 0, 0, -1, -1, -1};
    link_push(&tc->entries, &e->all);
    link_init(&e->prepared);
    return e;
}

/* Replace e's state with `s` (ownership taken), keeping tc->prepared to
 * the entries in PrepareCommit or PrepareAbort. */
static void entry_set_state(struct txn_coordinator *tc, struct txn_entry *e, struct txn_state *s)
{
    state_free(&e->state);
    e->state = *s;
    if (s->status != TXN_PREPARE_COMMIT && s->status != TXN_PREPARE_ABORT) {
        link_remove(&e->prepared);
    } else if (!link_listed(&e->prepared)) {
        link_push(&tc->prepared, &e->prepared);
    }
}

static void entry_drop(struct txn_coordinator *tc, struct txn_entry *e)
{
    strmap_remove(&tc->ids, e->id);
    link_remove(&e->all);
    link_remove(&e->prepared);
    txn_marker_job_cancel(e->job);
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
    entry_set_state(ls->tc, e, &s);
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
    struct txn_link *next;
    for (struct txn_link *l = tc->entries.next; l != &tc->entries; l = next) {
        next = l->next;
        struct txn_entry *e = ENTRY_OF(l, all);
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
    int32_t coordinator_epoch; /* the partition's loaded epoch it was written under */
    struct txn_state next;     /* applied to the entry once replicated */
    bool tombstone;            /* the id expires: dropped once replicated */
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
    if (e != NULL && e->partition == w->partition &&
        coord_log_loaded_epoch(&tc->log, w->partition) == w->coordinator_epoch) {
        e->pending = false;
        if (err == KAFKA_ERROR_NONE && w->tombstone) {
            entry_drop(tc, e);
            e = NULL;
        } else if (err == KAFKA_ERROR_NONE) {
            entry_set_state(tc, e, &w->next);
            w->next.partitions = NULL;
            w->next.n_partitions = 0;
            e->markers_written = false;
            e->markers_refused = false;
        } else if (e->state.producer_epoch < 0) {
            entry_drop(tc, e); /* a new id whose first record was lost */
            e = NULL;
        }
    } else {
        e = NULL;
        if (err == KAFKA_ERROR_NONE) {
            err = KAFKA_ERROR_NOT_COORDINATOR; /* unloaded meanwhile */
        }
    }
    if (err != KAFKA_ERROR_NONE) {
        log_info("txn", "transactional id %s: %s not written: %s", w->id,
                 w->tombstone ? "tombstone" : txn_status_name(w->next.status),
                 kafka_error_name(err));
    }
    w->cb(w->arg, write_error(err), err == KAFKA_ERROR_NONE ? e : NULL);
    state_free(&w->next);
    free(w->id);
    free(w);
}

/* Append one record for e's id to its __transaction_state partition and
 * answer `w` once it is replicated (or failed). A NULL value is the id's
 * tombstone. */
static void write_record(struct txn_coordinator *tc, struct txn_entry *e, struct txn_write *w,
                         const struct txn_log_value *v)
{
    struct buf key, value, batch;
    buf_init(&key);
    buf_init(&value);
    buf_init(&batch);
    int16_t err = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
    int64_t end = -1;
    if (txn_log_key_encode(&key, e->id) == 0 &&
        (v == NULL || txn_log_value_encode(&value, v) == 0)) {
        struct group_record rec = {key.data, key.len, v != NULL ? value.data : NULL,
                                   v != NULL ? (int32_t)value.len : -1};
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

/* A txn_write for e, or NULL (then cb has been answered and `next`, if
 * given, freed). */
static struct txn_write *write_new(struct txn_coordinator *tc, struct txn_entry *e,
                                   struct txn_state *next, txn_written_cb cb, void *arg)
{
    struct txn_write *w = calloc(1, sizeof *w);
    char *id = w != NULL ? strdup(e->id) : NULL;
    if (id == NULL) {
        free(w);
        if (next != NULL) {
            state_free(next);
        }
        cb(arg, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE, NULL);
        return NULL;
    }
    *w = (struct txn_write){
        tc, id, e->partition, coord_log_loaded_epoch(&tc->log, e->partition), {0}, false, cb, arg};
    if (next != NULL) {
        w->next = *next;
    } else {
        w->next = (struct txn_state){-1, -1, 0, TXN_EMPTY, NULL, 0, 0, -1, -1, -1};
        w->tombstone = true;
    }
    w->next.update_ms = wall_clock_ms();
    return w;
}

/* Write `next` (ownership taken) as e's state: cb(arg, NONE, e) once
 * replicated and applied, or an error; cb may run before this returns. */
static void write_state(struct txn_coordinator *tc, struct txn_entry *e, struct txn_state *next,
                        txn_written_cb cb, void *arg)
{
    struct txn_write *w = write_new(tc, e, next, cb, arg);
    if (w != NULL) {
        struct txn_log_value v = state_value(&w->next);
        write_record(tc, e, w, &v);
    }
}

/* Write e's tombstone (Kafka's transactional id expiration): once it is
 * replicated the entry is dropped and cb(arg, NONE, NULL) runs; a new
 * InitProducerId for the id starts afresh with a new producer id. */
static void write_tombstone(struct txn_coordinator *tc, struct txn_entry *e, txn_written_cb cb,
                            void *arg)
{
    struct txn_write *w = write_new(tc, e, NULL, cb, arg);
    if (w != NULL) {
        write_record(tc, e, w, NULL);
    }
}

/* ---- the markers: PrepareCommit/PrepareAbort -> CompleteCommit/CompleteAbort ---- */

static void complete_written(void *arg, int16_t err, struct txn_entry *e)
{
    (void)arg;
    (void)e;
    (void)err; /* on failure the entry stays PrepareX with its markers written: the tick retries */
}

/* All markers are written: the transaction is complete. */
static void write_complete(struct txn_coordinator *tc, struct txn_entry *e)
{
    const struct txn_state *s = &e->state;
    enum txn_status done =
        s->status == TXN_PREPARE_COMMIT ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT;
    struct txn_state next = {
        s->producer_id, s->producer_epoch, s->timeout_ms,      done, NULL, 0, 0,
        s->start_ms,    s->last_epoch,     s->prev_producer_id};
    write_state(tc, e, &next, complete_written, NULL);
}

/* A job's outcome. `e` is alive: dropping an entry cancels its job. */
static void markers_done(void *arg, int16_t err)
{
    struct txn_entry *e = arg;
    struct txn_coordinator *tc = e->tc;
    e->job = NULL;
    if (err != KAFKA_ERROR_NONE) {
        /* A newer producer epoch or coordinator owns the partitions' state
         * (Kafka stops sending too); the id stays as it is until this
         * coordinator reloads it. */
        log_warn("txn", "transactional id %s: markers refused (%s); left %s", e->id,
                 kafka_error_name(err), txn_status_name(e->state.status));
        e->markers_refused = true;
        return;
    }
    e->markers_written = true;
    if (!e->pending) {
        write_complete(tc, e);
    }
}

/* Send the markers of e's PrepareCommit/PrepareAbort to its partitions. On
 * -ENOMEM nothing starts and the tick tries again. */
static void start_markers(struct txn_coordinator *tc, struct txn_entry *e)
{
    const struct txn_state *s = &e->state;
    struct txn_marker_spec spec = {s->producer_id,
                                   s->producer_epoch,
                                   s->status == TXN_PREPARE_COMMIT,
                                   coord_log_loaded_epoch(&tc->log, e->partition),
                                   s->partitions,
                                   s->n_partitions};
    log_info("txn",
             "transactional id %s: writing %s markers of producer %lld epoch %d to %zu "
             "partitions",
             e->id, spec.commit ? "commit" : "abort", (long long)spec.producer_id,
             spec.producer_epoch, spec.n_partitions);
    e->job = txn_marker_send(tc->markers, &spec, markers_done, e);
}

/* ---- ending a transaction: EndTxn, timeouts, fencing ---- */

struct end_ctx {
    struct txn_coordinator *tc;
    txn_result_cb cb; /* may be NULL */
    void *arg;
    bool fence; /* on success answer CONCURRENT_TRANSACTIONS (InitProducerId retries) */
};

static void end_answer(struct end_ctx *ctx, int16_t err)
{
    if (ctx->cb != NULL) {
        ctx->cb(ctx->arg, err);
    }
    free(ctx);
}

static void prepare_written(void *arg, int16_t err, struct txn_entry *e)
{
    struct end_ctx *ctx = arg;
    if (err == KAFKA_ERROR_NONE) {
        start_markers(ctx->tc, e);
        if (ctx->fence) {
            err = KAFKA_ERROR_CONCURRENT_TRANSACTIONS;
        }
    }
    end_answer(ctx, err);
}

/* Write e's PrepareCommit/PrepareAbort at `epoch`; its markers follow once
 * it is durable. cb (may be NULL) gets the outcome, CONCURRENT_TRANSACTIONS
 * for a success with `fence`. */
static void write_prepare(struct txn_coordinator *tc, struct txn_entry *e, bool commit,
                          int16_t epoch, int16_t last_epoch, bool fence, txn_result_cb cb,
                          void *arg)
{
    struct end_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        if (cb != NULL) {
            cb(arg, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
        }
        return;
    }
    *ctx = (struct end_ctx){tc, cb, arg, fence};
    struct txn_state next;
    if (state_copy(&next, &e->state) != 0) {
        end_answer(ctx, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    next.status = commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT;
    next.producer_epoch = epoch;
    next.last_epoch = last_epoch;
    log_info("txn", "transactional id %s: %s (producer %lld epoch %d)", e->id,
             txn_status_name(next.status), (long long)next.producer_id, epoch);
    write_state(tc, e, &next, prepare_written, ctx);
}

/* Kafka's prepareFenceProducerEpoch and abort: the producer's epoch is
 * bumped so the instance that left the transaction open is fenced (on the
 * coordinator and, through the markers, on the partitions), then the
 * transaction is aborted. */
static void fence_and_abort(struct txn_coordinator *tc, struct txn_entry *e, bool fence,
                            txn_result_cb cb, void *arg)
{
    int16_t epoch = e->state.producer_epoch;
    if (epoch < INT16_MAX) {
        epoch++;
    }
    write_prepare(tc, e, false, epoch, -1, fence, cb, arg);
}

/* The id's entry in *out (NULL: it has none) when this broker leads the
 * id's partition of __transaction_state, else coord_log_route's error. */
static int16_t entry_routed(struct txn_coordinator *tc, const char *id, struct txn_entry **out)
{
    int32_t partition;
    int16_t err = coord_log_route(&tc->log, id, &partition);
    *out = err == KAFKA_ERROR_NONE ? entry_find(tc, id) : NULL;
    return err;
}

/* The checks AddPartitionsToTxn, AddOffsetsToTxn and EndTxn share: the id's
 * entry, or an error. */
static int16_t entry_for_client(struct txn_coordinator *tc, const char *id, int64_t producer_id,
                                int16_t producer_epoch, struct txn_entry **out)
{
    if (id == NULL || id[0] == '\0') {
        return KAFKA_ERROR_INVALID_REQUEST;
    }
    struct txn_entry *e;
    int16_t err = entry_routed(tc, id, &e);
    if (err != KAFKA_ERROR_NONE) {
        return err;
    }
    if (e == NULL || e->state.producer_epoch < 0 || e->state.producer_id != producer_id) {
        return KAFKA_ERROR_INVALID_PRODUCER_ID_MAPPING;
    }
    if (e->state.producer_epoch != producer_epoch) {
        return KAFKA_ERROR_PRODUCER_FENCED;
    }
    if (e->pending) {
        return KAFKA_ERROR_CONCURRENT_TRANSACTIONS;
    }
    *out = e;
    return KAFKA_ERROR_NONE;
}

void txn_end(struct txn_coordinator *tc, const struct txn_end_request *req, txn_result_cb cb,
             void *arg)
{
    struct txn_entry *e = NULL;
    int16_t err =
        entry_for_client(tc, req->transactional_id, req->producer_id, req->producer_epoch, &e);
    if (err != KAFKA_ERROR_NONE) {
        cb(arg, err);
        return;
    }
    bool commit = req->commit;
    switch (e->state.status) {
    case TXN_ONGOING:
        write_prepare(tc, e, commit, e->state.producer_epoch, e->state.last_epoch, false, cb, arg);
        return;
    /* A retry of an EndTxn already done or under way. */
    case TXN_COMPLETE_COMMIT:
        err = commit ? KAFKA_ERROR_NONE : KAFKA_ERROR_INVALID_TXN_STATE;
        break;
    case TXN_COMPLETE_ABORT:
        err = !commit ? KAFKA_ERROR_NONE : KAFKA_ERROR_INVALID_TXN_STATE;
        break;
    case TXN_PREPARE_COMMIT:
        err = commit ? KAFKA_ERROR_CONCURRENT_TRANSACTIONS : KAFKA_ERROR_INVALID_TXN_STATE;
        break;
    case TXN_PREPARE_ABORT:
        err = !commit ? KAFKA_ERROR_CONCURRENT_TRANSACTIONS : KAFKA_ERROR_INVALID_TXN_STATE;
        break;
    default:
        err = KAFKA_ERROR_INVALID_TXN_STATE; /* Empty: no transaction to end */
        break;
    }
    if (err == KAFKA_ERROR_INVALID_TXN_STATE) {
        log_info("txn", "transactional id %s: %s asked in state %s", e->id,
                 commit ? "commit" : "abort", txn_status_name(e->state.status));
    }
    cb(arg, err);
}

/* ---- AddPartitionsToTxn, AddOffsetsToTxn ---- */

struct add_ctx {
    txn_result_cb cb;
    void *arg;
};

static void add_written(void *arg, int16_t err, struct txn_entry *e)
{
    (void)e;
    struct add_ctx *ctx = arg;
    ctx->cb(ctx->arg, err);
    free(ctx);
}

void txn_add_partitions(struct txn_coordinator *tc, const struct txn_add_request *req,
                        txn_result_cb cb, void *arg)
{
    struct txn_entry *e = NULL;
    int16_t err =
        entry_for_client(tc, req->transactional_id, req->producer_id, req->producer_epoch, &e);
    if (err != KAFKA_ERROR_NONE) {
        cb(arg, err);
        return;
    }
    const struct txn_state *s = &e->state;
    if (s->status == TXN_PREPARE_COMMIT || s->status == TXN_PREPARE_ABORT) {
        cb(arg, KAFKA_ERROR_CONCURRENT_TRANSACTIONS); /* the previous one completes first */
        return;
    }
    bool all = s->status == TXN_ONGOING;
    for (size_t i = 0; i < req->n_partitions && all; i++) {
        all = state_has(s, req->partitions[i].topic, req->partitions[i].partition);
    }
    if (all) {
        cb(arg, KAFKA_ERROR_NONE);
        return;
    }
    struct add_ctx *ctx = calloc(1, sizeof *ctx);
    struct txn_state next;
    if (ctx == NULL || state_copy(&next, s) != 0) {
        free(ctx);
        cb(arg, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (s->status != TXN_ONGOING) { /* a new transaction */
        state_free(&next);
        next.start_ms = wall_clock_ms();
        next.status = TXN_ONGOING;
    }
    if (state_add(&next, req->partitions, req->n_partitions) != 0) {
        state_free(&next);
        free(ctx);
        cb(arg, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    *ctx = (struct add_ctx){cb, arg};
    write_state(tc, e, &next, add_written, ctx);
}

void txn_add_offsets(struct txn_coordinator *tc, const char *transactional_id, int64_t producer_id,
                     int16_t producer_epoch, const char *group_id, txn_result_cb cb, void *arg)
{
    if (group_id == NULL || group_id[0] == '\0') {
        cb(arg, KAFKA_ERROR_INVALID_REQUEST);
        return;
    }
    /* The group's partition, as the group coordinator maps it. */
    const struct metadata_topic *t = metadata_view_topic(tc->metadata, OFFSETS_TOPIC);
    int32_t n =
        t != NULL && t->n_partitions > 0 ? t->n_partitions : tc->cfg->offsets_topic_num_partitions;
    struct txn_topic_partition tp = {OFFSETS_TOPIC, coord_log_partition_for(group_id, n)};
    struct txn_add_request req = {transactional_id, producer_id, producer_epoch, &tp, 1};
    txn_add_partitions(tc, &req, cb, arg);
}

/* ---- InitProducerId ---- */

struct init_ctx {
    struct txn_coordinator *tc;
    char *id;
    int32_t timeout_ms;
    bool expected; /* KIP-360: the request named its producer id and epoch */
    int16_t expected_epoch;
    bool rotate; /* a new producer id for a known id whose epochs are exhausted */
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
                       int16_t epoch, int16_t last_epoch, int64_t prev_producer_id)
{
    struct txn_state next = {producer_id, epoch, ctx->timeout_ms, TXN_EMPTY,       NULL, 0,
                             0,           -1,    last_epoch,      prev_producer_id};
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
    if (err == KAFKA_ERROR_NONE && e == NULL && !ctx->rotate) {
        e = entry_create(ctx->tc, ctx->id, partition);
        err = e == NULL ? KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE : KAFKA_ERROR_NONE;
    } else if (err == KAFKA_ERROR_NONE &&
               (e == NULL || e->pending || (!ctx->rotate && e->state.producer_epoch >= 0))) {
        /* Changed meanwhile (another instance initialised it): retry. */
        err = KAFKA_ERROR_CONCURRENT_TRANSACTIONS;
    }
    if (err != KAFKA_ERROR_NONE) {
        init_finish(ctx, err, NULL);
        return;
    }
    if (ctx->rotate) {
        const struct txn_state *s = &e->state;
        if (s->status != TXN_EMPTY && s->status != TXN_COMPLETE_COMMIT &&
            s->status != TXN_COMPLETE_ABORT) {
            init_finish(ctx, KAFKA_ERROR_CONCURRENT_TRANSACTIONS, NULL);
            return;
        }
        init_write(ctx, e, op->producer_id, 0, ctx->expected ? s->producer_epoch : -1,
                   s->producer_id);
        return;
    }
    init_write(ctx, e, op->producer_id, 0, -1, -1);
}

static void init_new_producer_id(struct init_ctx *ctx)
{
    ctx->op.data = ctx;
    metadata_view_submit_producer_id(ctx->tc->metadata, PRODUCER_ID_WAIT_MS, &ctx->op,
                                     init_got_producer_id);
}

static void init_fenced(void *arg, int16_t err)
{
    init_finish(arg, err, NULL);
}

/* An existing id (Kafka's prepareInitProducerIdTransit): fence its previous
 * instance by bumping the epoch. NONE: ctx is answered later. */
static int16_t init_existing(struct init_ctx *ctx, struct txn_entry *e,
                             const struct txn_init_request *req)
{
    const struct txn_state *s = &e->state;
    if (e->pending) {
        return KAFKA_ERROR_CONCURRENT_TRANSACTIONS;
    }
    /* KIP-360: a client that names its producer id must name the current
     * one, or the previous one with an exhausted epoch (a retry across a
     * rotation); the epoch is checked below. */
    if (ctx->expected && s->producer_epoch >= 0 && req->producer_id != s->producer_id &&
        !(req->producer_id == s->prev_producer_id && epoch_exhausted(req->producer_epoch))) {
        return KAFKA_ERROR_PRODUCER_FENCED;
    }
    switch (s->status) {
    case TXN_PREPARE_COMMIT:
    case TXN_PREPARE_ABORT:
        return KAFKA_ERROR_CONCURRENT_TRANSACTIONS; /* completing: the client retries */
    case TXN_ONGOING:
        /* The previous instance left a transaction open: abort it (its
         * epoch bumped, fencing it), answering CONCURRENT_TRANSACTIONS; the
         * retry bumps the epoch again for the new instance. */
        log_info("txn", "transactional id %s: a new instance aborts the open transaction", e->id);
        fence_and_abort(ctx->tc, e, true, init_fenced, ctx);
        return KAFKA_ERROR_NONE;
    default:
        break;
    }
    if (epoch_exhausted(s->producer_epoch) &&
        (!ctx->expected || req->producer_epoch == s->producer_epoch)) {
        ctx->rotate = true; /* the epoch is exhausted: a new producer id */
        init_new_producer_id(ctx);
        return KAFKA_ERROR_NONE;
    }
    /* Kafka's prepareIncrementProducerEpoch. */
    if (!ctx->expected) {
        init_write(ctx, e, s->producer_id, (int16_t)(s->producer_epoch + 1), -1,
                   s->prev_producer_id);
    } else if (s->producer_epoch < 0 || req->producer_epoch == s->producer_epoch) {
        /* The instance recovers from an error: bump, remembering its epoch. */
        init_write(ctx, e, s->producer_id, (int16_t)(s->producer_epoch + 1), s->producer_epoch,
                   s->prev_producer_id);
    } else if (s->last_epoch >= 0 && req->producer_epoch == s->last_epoch) {
        /* A retry of a bump whose answer was lost: the same answer. */
        init_write(ctx, e, s->producer_id, s->producer_epoch, s->last_epoch, s->prev_producer_id);
    } else {
        log_info("txn", "transactional id %s: epoch %d is neither the current %d nor the last %d",
                 e->id, req->producer_epoch, s->producer_epoch, s->last_epoch);
        return KAFKA_ERROR_PRODUCER_FENCED;
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
    bool expected = req->producer_id >= 0 && req->producer_epoch >= 0;
    *ctx = (struct init_ctx){
        tc, ctx->id, req->timeout_ms, expected, req->producer_epoch, false, cb, arg, {0}};
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
    struct txn_entry *e;
    int16_t err = entry_routed(tc, transactional_id, &e);
    if (err != KAFKA_ERROR_NONE) {
        return err;
    }
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
    for (struct txn_link *l = tc->entries.next; l != &tc->entries; l = l->next) {
        struct txn_entry *e = ENTRY_OF(l, all);
        if (e->state.producer_epoch >= 0) {
            describe_entry(e, fn, arg);
        }
    }
}

/* ---- the tick: loading led partitions, pending markers, timeouts ---- */

/* Load every partition this broker leads, without waiting for a request:
 * a new coordinator finishes what its predecessor left (markers of a
 * PrepareX) and times out open transactions. */
static void load_led(struct txn_coordinator *tc)
{
    const struct metadata_topic *t = metadata_view_topic(tc->metadata, TXN_STATE_TOPIC);
    for (int32_t i = 0; t != NULL && i < t->n_partitions; i++) {
        if (coord_log_partition(&tc->log, i) != NULL && !coord_log_loaded(&tc->log, i)) {
            coord_log_load(&tc->log, i);
        }
    }
}

/* Markers of PrepareX states with none under way (loaded ones, or a job
 * that could not start), and CompleteX writes that failed. */
static void drive_markers(struct txn_coordinator *tc)
{
    struct txn_link *next;
    for (struct txn_link *l = tc->prepared.next; l != &tc->prepared; l = next) {
        next = l->next;
        struct txn_entry *e = ENTRY_OF(l, prepared);
        if (e->pending || e->job != NULL || e->markers_refused ||
            !coord_log_loaded(&tc->log, e->partition)) {
            continue;
        }
        if (e->markers_written) {
            write_complete(tc, e);
        } else {
            start_markers(tc, e);
        }
    }
}

/* Kafka's abortTimedOutTransactions: an Ongoing transaction older than its
 * timeout is aborted, its producer fenced. This scan and expire_idle's
 * visit every id, as Kafka's do, but only once a cleanup interval (10 s and
 * 1 h by default), not every tick: a deadline heap would have to follow
 * every state change and still put back the ids a scan skips (pending
 * writes, partitions reloading), for no gain at that rate. */
static void abort_timed_out(struct txn_coordinator *tc)
{
    int64_t now = wall_clock_ms();
    struct txn_link *next;
    for (struct txn_link *l = tc->entries.next; l != &tc->entries; l = next) {
        next = l->next;
        struct txn_entry *e = ENTRY_OF(l, all);
        const struct txn_state *s = &e->state;
        if (e->pending || s->status != TXN_ONGOING || s->start_ms < 0 ||
            now <= s->start_ms + s->timeout_ms || !coord_log_loaded(&tc->log, e->partition)) {
            continue;
        }
        log_info("txn",
                 "transactional id %s: transaction of producer %lld epoch %d timed out "
                 "after %d ms: aborting it",
                 e->id, (long long)s->producer_id, s->producer_epoch, s->timeout_ms);
        fence_and_abort(tc, e, false, NULL, NULL);
    }
}

static void expired_written(void *arg, int16_t err, struct txn_entry *e)
{
    (void)e;
    char *id = arg;
    if (err == KAFKA_ERROR_NONE) {
        log_info("txn", "transactional id %s expired: removed", id);
    }
    free(id);
}

/* Kafka's removeExpiredTransactionalIds: an id with no transaction open or
 * completing, unused for transactional.id.expiration.ms, is removed (a
 * tombstone in __transaction_state), so ids that are never used again do
 * not hold the coordinator's memory forever. */
static void expire_idle(struct txn_coordinator *tc)
{
    int64_t now = wall_clock_ms();
    int64_t idle_ms = tc->cfg->transactional_id_expiration_ms;
    struct txn_link *next;
    for (struct txn_link *l = tc->entries.next; l != &tc->entries; l = next) {
        next = l->next;
        struct txn_entry *e = ENTRY_OF(l, all);
        const struct txn_state *s = &e->state;
        if (e->pending || e->job != NULL || s->producer_epoch < 0 ||
            (s->status != TXN_EMPTY && s->status != TXN_COMPLETE_COMMIT &&
             s->status != TXN_COMPLETE_ABORT) ||
            now - s->update_ms < idle_ms || !coord_log_loaded(&tc->log, e->partition)) {
            continue;
        }
        char *id = strdup(e->id);
        if (id != NULL) {
            write_tombstone(tc, e, expired_written, id);
        }
    }
}

static void tick(uv_timer_t *t)
{
    struct txn_coordinator *tc = t->data;
    coord_log_check_leadership(&tc->log);
    load_led(tc);
    drive_markers(tc);
    uint64_t now = uv_now(tc->loop);
    if (now >= tc->next_timeout_scan) {
        int32_t every = tc->cfg->transaction_abort_timed_out_transaction_cleanup_interval_ms;
        tc->next_timeout_scan = now + (uint64_t)(every > 0 ? every : 10000);
        abort_timed_out(tc);
    }
    if (now >= tc->next_expiry_scan) {
        int32_t every = tc->cfg->transaction_remove_expired_transaction_cleanup_interval_ms;
        tc->next_expiry_scan = now + (uint64_t)(every > 0 ? every : 3600000);
        expire_idle(tc);
    }
}

/* ---- lifecycle ---- */

int txn_coordinator_start(struct txn_coordinator **out, uv_loop_t *loop,
                          const struct sluice_config *cfg, struct metadata_view *metadata,
                          struct replica_manager *replicas)
{
    struct txn_coordinator *tc = calloc(1, sizeof *tc);
    if (tc == NULL) {
        return -ENOMEM;
    }
    if (txn_marker_sender_new(&tc->markers, replicas) != 0) {
        free(tc);
        return -ENOMEM;
    }
    tc->loop = loop;
    tc->cfg = cfg;
    tc->metadata = metadata;
    strmap_init(&tc->ids);
    link_init(&tc->entries);
    link_init(&tc->prepared);
    struct coord_log_spec spec = {TXN_STATE_TOPIC, cfg->transaction_state_log_num_partitions,
                                  cfg->transaction_state_log_replication_factor,
                                  cfg->transaction_state_log_min_isr};
    coord_log_init(&tc->log, loop, cfg, metadata, replicas, &spec, load_batches, unload_partition,
                   tc);
    uv_timer_init(loop, &tc->tick);
    tc->tick.data = tc;
    uv_timer_start(&tc->tick, tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&tc->tick);
    tc->open_handles = 2;
    *out = tc;
    return 0;
}

static void release(struct txn_coordinator *tc)
{
    if (--tc->open_handles > 0) {
        return;
    }
    while (link_listed(&tc->entries)) {
        entry_drop(tc, ENTRY_OF(tc->entries.next, all));
    }
    strmap_free(&tc->ids);
    coord_log_free(&tc->log);
    free(tc);
}

static void on_tick_closed(uv_handle_t *h)
{
    release(h->data);
}

static void on_markers_closed(void *arg)
{
    release(arg);
}

void txn_coordinator_stop(struct txn_coordinator *tc)
{
    if (tc == NULL) {
        return;
    }
    uv_timer_stop(&tc->tick);
    uv_close((uv_handle_t *)&tc->tick, on_tick_closed);
    /* The entries' jobs are cancelled with the sender; they are freed after. */
    for (struct txn_link *l = tc->entries.next; l != &tc->entries; l = l->next) {
        ENTRY_OF(l, all)->job = NULL;
    }
    txn_marker_sender_close(tc->markers, on_markers_closed, tc);
}
