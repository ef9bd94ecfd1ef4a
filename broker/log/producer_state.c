/* Per-partition producer state (producer_state.h). */
#include "broker/log/producer_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bigendian.h"
#include "common/crc32c.h"

#define SNAPSHOT_MAGIC   "SLPS"
#define SNAPSHOT_VERSION 2
#define SNAPSHOT_HEADER  14 /* magic 4, version 2, crc 4, count 4 */
#define ENTRY_FIXED_V1   27 /* id 8, epoch 2, timestamp 8, txn 8, n 1 */
#define ENTRY_FIXED      31 /* v2: id 8, epoch 2, timestamp 8, txn 8, coordinator epoch 4, n 1 */
#define BATCH_BYTES      24

/* Kafka's DefaultRecordBatch.incrementSequence: sequences wrap at INT32_MAX. */
static int32_t seq_add(int32_t seq, int32_t delta)
{
    if (seq > INT32_MAX - delta) {
        return delta - (INT32_MAX - seq) - 1;
    }
    return seq + delta;
}

bool producer_batch_from_header(const struct record_batch_header *h, struct producer_batch *out)
{
    if (h->producer_id < 0) {
        return false;
    }
    *out = (struct producer_batch){
        .producer_id = h->producer_id,
        .epoch = h->producer_epoch,
        .first_seq = h->base_sequence,
        .last_seq = h->base_sequence >= 0 ? seq_add(h->base_sequence, h->last_offset_delta) : -1,
        .first_offset = h->base_offset,
        .last_offset = record_batch_last_offset(h),
        .max_timestamp = h->max_timestamp,
        .transactional = (h->attributes & RECORD_BATCH_ATTR_TRANSACTIONAL) != 0,
        .control = (h->attributes & RECORD_BATCH_ATTR_CONTROL) != 0,
    };
    return true;
}

/* ---- the ordered offset sets (producer_state.h) ---- */

/* The first index in [head, n) whose key is >= `key`. */
static size_t set_lower_bound(const struct offset_set *s, int64_t key)
{
    size_t lo = s->head, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].key < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Drop the gone entries, moving the rest to the front. */
static void set_compact(struct offset_set *s)
{
    size_t kept = 0;
    for (size_t i = s->head; i < s->n; i++) {
        if (!s->v[i].gone) {
            s->v[kept++] = s->v[i];
        }
    }
    s->head = 0;
    s->n = kept;
}

static int set_add(struct offset_set *s, int64_t key, int64_t value)
{
    if (s->n == s->cap) {
        if (s->head > 0 || s->live < s->n - s->head) {
            set_compact(s);
        }
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 8;
            struct offset_set_entry *v = realloc(s->v, cap * sizeof *v);
            if (v == NULL) {
                return -ENOMEM;
            }
            s->v = v;
            s->cap = cap;
        }
    }
    /* Log order makes this an append; a rebuild from a snapshot may not. */
    size_t i = s->n > s->head && s->v[s->n - 1].key >= key ? set_lower_bound(s, key) : s->n;
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof *s->v);
    s->v[i] = (struct offset_set_entry){key, value, false};
    s->n++;
    s->live++;
    return 0;
}

static void set_remove(struct offset_set *s, int64_t key)
{
    size_t i = set_lower_bound(s, key);
    while (i < s->n && s->v[i].key == key && s->v[i].gone) {
        i++;
    }
    if (i == s->n || s->v[i].key != key) {
        return;
    }
    s->v[i].gone = true;
    s->live--;
    while (s->head < s->n && s->v[s->head].gone) {
        s->head++;
    }
    if (s->head == s->n) {
        s->head = s->n = 0;
    } else if (s->n - s->head > 2 * s->live + 16) {
        set_compact(s); /* amortized: at least half the entries go */
    }
}

/* The smallest entry, NULL when empty. */
static const struct offset_set_entry *set_first(const struct offset_set *s)
{
    return s->head < s->n ? &s->v[s->head] : NULL;
}

static void set_clear(struct offset_set *s)
{
    s->head = s->n = s->live = 0;
}

static void set_free(struct offset_set *s)
{
    free(s->v);
    *s = (struct offset_set){0};
}

void producer_state_init(struct producer_state *ps)
{
    memset(ps, 0, sizeof *ps);
    ps->oldest_timestamp = INT64_MAX;
}

/* Keep oldest_timestamp a lower bound after `e` changed. */
static void note_timestamp(struct producer_state *ps, const struct producer_entry *e)
{
    if (e->last_timestamp < ps->oldest_timestamp) {
        ps->oldest_timestamp = e->last_timestamp;
    }
}

void producer_state_free(struct producer_state *ps)
{
    free(ps->entries);
    set_free(&ps->open_txns);
    set_free(&ps->unreplicated_by_marker);
    set_free(&ps->unreplicated_by_first);
    producer_state_init(ps);
}

void producer_state_clear(struct producer_state *ps)
{
    ps->count = 0;
    set_clear(&ps->open_txns);
    set_clear(&ps->unreplicated_by_marker);
    set_clear(&ps->unreplicated_by_first);
    ps->oldest_timestamp = INT64_MAX;
}

/* Index of `id`, or where it would go (*found false). */
static size_t search(const struct producer_state *ps, int64_t id, bool *found)
{
    size_t lo = 0, hi = ps->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->entries[mid].producer_id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = lo < ps->count && ps->entries[lo].producer_id == id;
    return lo;
}

const struct producer_entry *producer_state_find(const struct producer_state *ps,
                                                 int64_t producer_id)
{
    bool found;
    size_t i = search(ps, producer_id, &found);
    return found ? &ps->entries[i] : NULL;
}

static bool in_sequence(int32_t last, int32_t next)
{
    return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

enum producer_check producer_state_check(const struct producer_state *ps,
                                         const struct producer_batch *b,
                                         struct producer_batch_meta *dup, char *why, size_t whylen)
{
    const struct producer_entry *e = producer_state_find(ps, b->producer_id);
    if (e == NULL || e->epoch == PRODUCER_NO_EPOCH) {
        return PRODUCER_CHECK_OK; /* unknown (or removed) producer: any sequence starts it */
    }
    if (b->epoch == e->epoch) {
        for (uint8_t i = 0; i < e->n_batches; i++) {
            if (e->batches[i].first_seq == b->first_seq && e->batches[i].last_seq == b->last_seq) {
                *dup = e->batches[i];
                return PRODUCER_CHECK_DUPLICATE;
            }
        }
    }
    if (b->epoch < e->epoch) {
        snprintf(why, whylen,
                 "epoch %d of producer %" PRId64 " is older than the last seen epoch %d", b->epoch,
                 b->producer_id, e->epoch);
        return PRODUCER_CHECK_STALE_EPOCH;
    }
    if (!b->transactional && e->txn_first_offset >= 0) {
        snprintf(why, whylen,
                 "non-transactional batch of producer %" PRId64
                 " while its transaction from offset %" PRId64 " is open",
                 b->producer_id, e->txn_first_offset);
        return PRODUCER_CHECK_INVALID_TXN_STATE;
    }
    if (b->epoch != e->epoch) {
        if (b->first_seq != 0) {
            snprintf(why, whylen,
                     "sequence %d for the new epoch %d of producer %" PRId64 " is not 0",
                     b->first_seq, b->epoch, b->producer_id);
            return PRODUCER_CHECK_OUT_OF_ORDER;
        }
        return PRODUCER_CHECK_OK;
    }
    int32_t last = e->n_batches > 0 ? e->batches[e->n_batches - 1].last_seq : -1;
    if (e->n_batches > 0 && !in_sequence(last, b->first_seq)) {
        snprintf(why, whylen,
                 "out of order sequence %d of producer %" PRId64 " (epoch %d): expected %d",
                 b->first_seq, b->producer_id, b->epoch, last == INT32_MAX ? 0 : last + 1);
        return PRODUCER_CHECK_OUT_OF_ORDER;
    }
    return PRODUCER_CHECK_OK;
}

static struct producer_entry *insert(struct producer_state *ps, int64_t id)
{
    bool found;
    size_t i = search(ps, id, &found);
    if (found) {
        return &ps->entries[i];
    }
    if (ps->count == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 8;
        struct producer_entry *n = realloc(ps->entries, cap * sizeof *n);
        if (n == NULL) {
            return NULL;
        }
        ps->entries = n;
        ps->cap = cap;
    }
    memmove(&ps->entries[i + 1], &ps->entries[i], (ps->count - i) * sizeof *ps->entries);
    ps->count++;
    struct producer_entry *e = &ps->entries[i];
    *e = (struct producer_entry){.producer_id = id,
                                 .epoch = PRODUCER_NO_EPOCH,
                                 .last_timestamp = -1,
                                 .txn_first_offset = -1,
                                 .coordinator_epoch = -1};
    return e;
}

int producer_state_update(struct producer_state *ps, const struct producer_batch *b)
{
    struct producer_entry *e = insert(ps, b->producer_id);
    if (e == NULL) {
        return -ENOMEM;
    }
    bool opens = b->transactional && !b->control && e->txn_first_offset < 0;
    if (opens && set_add(&ps->open_txns, b->first_offset, 0) < 0) {
        return -ENOMEM;
    }
    if (e->epoch != b->epoch) {
        e->epoch = b->epoch;
        e->n_batches = 0; /* Kafka's maybeUpdateProducerEpoch */
    }
    if (b->max_timestamp > e->last_timestamp) {
        e->last_timestamp = b->max_timestamp;
    }
    note_timestamp(ps, e);
    if (b->control) {
        return 0; /* markers end the transaction in producer_state_end_txn */
    }
    if (e->n_batches == PRODUCER_STATE_BATCHES) {
        memmove(&e->batches[0], &e->batches[1],
                (PRODUCER_STATE_BATCHES - 1) * sizeof e->batches[0]);
        e->n_batches--;
    }
    e->batches[e->n_batches++] =
        (struct producer_batch_meta){b->first_seq, b->last_seq, b->first_offset, b->last_offset};
    if (opens) {
        e->txn_first_offset = b->first_offset;
    }
    return 0;
}

enum producer_check producer_state_check_marker(const struct producer_state *ps,
                                                const struct producer_marker *m, char *why,
                                                size_t whylen)
{
    const struct producer_entry *e = producer_state_find(ps, m->producer_id);
    if (e == NULL) {
        return PRODUCER_CHECK_OK;
    }
    if (e->epoch != PRODUCER_NO_EPOCH && m->epoch < e->epoch) {
        snprintf(why, whylen,
                 "marker epoch %d of producer %" PRId64 " is older than the last seen epoch %d",
                 m->epoch, m->producer_id, e->epoch);
        return PRODUCER_CHECK_STALE_EPOCH;
    }
    if (m->coordinator_epoch < e->coordinator_epoch) {
        snprintf(why, whylen,
                 "marker of producer %" PRId64 " from coordinator epoch %d, older than %d",
                 m->producer_id, m->coordinator_epoch, e->coordinator_epoch);
        return PRODUCER_CHECK_COORDINATOR_FENCED;
    }
    return PRODUCER_CHECK_OK;
}

int producer_state_end_txn(struct producer_state *ps, const struct producer_marker *m,
                           struct producer_completed_txn *done)
{
    struct producer_entry *e = insert(ps, m->producer_id);
    if (e == NULL) {
        return -ENOMEM;
    }
    int64_t first = e->txn_first_offset >= 0 ? e->txn_first_offset : m->offset;
    if (set_add(&ps->unreplicated_by_marker, m->offset, first) < 0) {
        return -ENOMEM;
    }
    if (set_add(&ps->unreplicated_by_first, first, 0) < 0) {
        set_remove(&ps->unreplicated_by_marker, m->offset);
        return -ENOMEM;
    }
    if (e->epoch != m->epoch) {
        e->epoch = m->epoch;
        e->n_batches = 0;
    }
    if (m->timestamp > e->last_timestamp) {
        e->last_timestamp = m->timestamp;
    }
    note_timestamp(ps, e); /* it may expire again now its transaction is over */
    *done = (struct producer_completed_txn){
        .producer_id = m->producer_id,
        .first_offset = first,
        .last_offset = m->offset,
        .aborted = !m->commit,
    };
    if (e->txn_first_offset >= 0) {
        set_remove(&ps->open_txns, e->txn_first_offset);
    }
    e->txn_first_offset = -1;
    e->coordinator_epoch = m->coordinator_epoch;
    return 0;
}

void producer_state_on_high_watermark(struct producer_state *ps, int64_t hw)
{
    /* Markers are written in offset order: those below `hw` come first. */
    const struct offset_set_entry *e;
    while ((e = set_first(&ps->unreplicated_by_marker)) != NULL && e->key < hw) {
        set_remove(&ps->unreplicated_by_first, e->value);
        set_remove(&ps->unreplicated_by_marker, e->key);
    }
}

int64_t producer_state_first_unstable_offset(const struct producer_state *ps)
{
    const struct offset_set_entry *open = set_first(&ps->open_txns);
    const struct offset_set_entry *done = set_first(&ps->unreplicated_by_first);
    int64_t first = open != NULL ? open->key : INT64_MAX;
    return done != NULL && done->key < first ? done->key : first;
}

int64_t producer_state_stable_after(const struct producer_state *ps, int64_t marker_offset)
{
    const struct offset_set_entry *open = set_first(&ps->open_txns);
    return open != NULL ? open->key : marker_offset + 1;
}

size_t producer_state_expire(struct producer_state *ps, int64_t now_ms, int64_t expiration_ms)
{
    size_t kept = 0, gone = 0;
    ps->oldest_timestamp = INT64_MAX;
    for (size_t i = 0; i < ps->count; i++) {
        const struct producer_entry *e = &ps->entries[i];
        if (e->txn_first_offset < 0 && now_ms - e->last_timestamp >= expiration_ms) {
            gone++;
            continue;
        }
        if (e->txn_first_offset < 0) {
            note_timestamp(ps, e);
        }
        ps->entries[kept++] = *e;
    }
    ps->count = kept;
    return gone;
}

int64_t producer_state_expiry_deadline(const struct producer_state *ps, int64_t expiration_ms)
{
    if (ps->count == 0 || ps->oldest_timestamp == INT64_MAX) {
        return INT64_MAX;
    }
    if (expiration_ms > 0 && ps->oldest_timestamp > INT64_MAX - expiration_ms) {
        return INT64_MAX;
    }
    return ps->oldest_timestamp + expiration_ms;
}

size_t producer_state_drop_before(struct producer_state *ps, int64_t offset)
{
    size_t kept = 0, gone = 0;
    for (size_t i = 0; i < ps->count; i++) {
        const struct producer_entry *e = &ps->entries[i];
        if (e->n_batches > 0 && e->txn_first_offset < 0 &&
            e->batches[e->n_batches - 1].last_offset < offset) {
            gone++;
            continue;
        }
        ps->entries[kept++] = *e;
    }
    ps->count = kept;
    return gone;
}

/* ---- snapshots ---- */

int producer_state_encode(const struct producer_state *ps, uint8_t **out, size_t *len)
{
    size_t n = SNAPSHOT_HEADER;
    for (size_t i = 0; i < ps->count; i++) {
        n += ENTRY_FIXED + (size_t)ps->entries[i].n_batches * BATCH_BYTES;
    }
    uint8_t *buf = malloc(n), *p = buf + SNAPSHOT_HEADER;
    if (buf == NULL) {
        return -ENOMEM;
    }
    memcpy(buf, SNAPSHOT_MAGIC, 4);
    be16_store(buf + 4, SNAPSHOT_VERSION);
    be32_store(buf + 10, (uint32_t)ps->count);
    for (size_t i = 0; i < ps->count; i++) {
        const struct producer_entry *e = &ps->entries[i];
        be64_store(p, (uint64_t)e->producer_id);
        be16_store(p + 8, (uint16_t)e->epoch);
        be64_store(p + 10, (uint64_t)e->last_timestamp);
        be64_store(p + 18, (uint64_t)e->txn_first_offset);
        be32_store(p + 26, (uint32_t)e->coordinator_epoch);
        p[30] = e->n_batches;
        p += ENTRY_FIXED;
        for (uint8_t k = 0; k < e->n_batches; k++, p += BATCH_BYTES) {
            be32_store(p, (uint32_t)e->batches[k].first_seq);
            be32_store(p + 4, (uint32_t)e->batches[k].last_seq);
            be64_store(p + 8, (uint64_t)e->batches[k].first_offset);
            be64_store(p + 16, (uint64_t)e->batches[k].last_offset);
        }
    }
    be32_store(buf + 6, crc32c(0, buf + 10, n - 10));
    *out = buf;
    *len = n;
    return 0;
}

int producer_state_decode(struct producer_state *ps, const uint8_t *p, size_t len)
{
    if (len < SNAPSHOT_HEADER || memcmp(p, SNAPSHOT_MAGIC, 4) != 0 ||
        (be16_load(p + 4) != 1 && be16_load(p + 4) != SNAPSHOT_VERSION) ||
        be32_load(p + 6) != crc32c(0, p + 10, len - 10)) {
        return -EBADMSG;
    }
    size_t fixed = be16_load(p + 4) == 1 ? ENTRY_FIXED_V1 : ENTRY_FIXED;
    uint32_t count = be32_load(p + 10);
    /* Each entry takes at least `fixed` bytes: bound the allocation by the file. */
    if (count > PRODUCER_STATE_MAX_SNAPSHOT_ENTRIES ||
        (size_t)count > (len - SNAPSHOT_HEADER) / fixed) {
        return -EBADMSG;
    }
    struct producer_entry *entries = calloc(count ? count : 1, sizeof *entries);
    if (entries == NULL) {
        return -ENOMEM;
    }
    const uint8_t *q = p + SNAPSHOT_HEADER, *end = p + len;
    for (uint32_t i = 0; i < count; i++) {
        struct producer_entry *e = &entries[i];
        if ((size_t)(end - q) < fixed) {
            goto bad;
        }
        e->producer_id = (int64_t)be64_load(q);
        e->epoch = (int16_t)be16_load(q + 8);
        e->last_timestamp = (int64_t)be64_load(q + 10);
        e->txn_first_offset = (int64_t)be64_load(q + 18);
        e->coordinator_epoch = fixed == ENTRY_FIXED ? (int32_t)be32_load(q + 26) : -1;
        e->n_batches = q[fixed - 1];
        q += fixed;
        if (e->n_batches > PRODUCER_STATE_BATCHES ||
            (size_t)(end - q) < (size_t)e->n_batches * BATCH_BYTES ||
            (i > 0 && e->producer_id <= entries[i - 1].producer_id)) {
            goto bad;
        }
        for (uint8_t k = 0; k < e->n_batches; k++, q += BATCH_BYTES) {
            e->batches[k].first_seq = (int32_t)be32_load(q);
            e->batches[k].last_seq = (int32_t)be32_load(q + 4);
            e->batches[k].first_offset = (int64_t)be64_load(q + 8);
            e->batches[k].last_offset = (int64_t)be64_load(q + 16);
        }
    }
    if (q != end) {
        goto bad;
    }
    /* The open transactions' first offsets, in a new set so that a
     * failure leaves the state unchanged. */
    struct offset_set open = {0};
    for (uint32_t i = 0; i < count; i++) {
        if (entries[i].txn_first_offset >= 0 &&
            set_add(&open, entries[i].txn_first_offset, 0) < 0) {
            set_free(&open);
            free(entries);
            return -ENOMEM;
        }
    }
    free(ps->entries);
    ps->entries = entries;
    ps->count = ps->cap = count;
    set_free(&ps->open_txns);
    ps->open_txns = open;
    set_clear(&ps->unreplicated_by_marker);
    set_clear(&ps->unreplicated_by_first);
    if (count == 0) {
        ps->cap = 1;
    }
    ps->oldest_timestamp = INT64_MAX;
    for (uint32_t i = 0; i < count; i++) {
        note_timestamp(ps, &entries[i]);
    }
    return 0;
bad:
    free(entries);
    return -EBADMSG;
}
