/* drill_check: see drill_check.h. */
#include "drill_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An open-addressing map from u64 keys to u64 values (linear probing, load
 * at most 1/2). Stored values are value + 1 so that 0 marks a free slot. */
struct u64map {
    uint64_t *keys;
    uint64_t *vals;
    size_t cap; /* power of two, or 0 */
    size_t len;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static size_t map_slot(const struct u64map *m, uint64_t key)
{
    size_t i = (size_t)mix(key) & (m->cap - 1);
    while (m->vals[i] != 0 && m->keys[i] != key) {
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

/* Returns 1 and *val when present, 0 when absent. */
static int map_get(const struct u64map *m, uint64_t key, uint64_t *val)
{
    if (m->cap == 0) {
        return 0;
    }
    size_t i = map_slot(m, key);
    if (m->vals[i] == 0) {
        return 0;
    }
    *val = m->vals[i] - 1;
    return 1;
}

static int map_grow(struct u64map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct u64map n = {calloc(cap, sizeof(uint64_t)), calloc(cap, sizeof(uint64_t)), cap, 0};
    if (n.keys == NULL || n.vals == NULL) {
        free(n.keys);
        free(n.vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] != 0) {
            size_t j = map_slot(&n, m->keys[i]);
            n.keys[j] = m->keys[i];
            n.vals[j] = m->vals[i];
            n.len++;
        }
    }
    free(m->keys);
    free(m->vals);
    *m = n;
    return 0;
}

/* Insert or overwrite. */
static int map_put(struct u64map *m, uint64_t key, uint64_t val)
{
    if ((m->len + 1) * 2 > m->cap && map_grow(m) != 0) {
        return -ENOMEM;
    }
    size_t i = map_slot(m, key);
    if (m->vals[i] == 0) {
        m->len++;
    }
    m->keys[i] = key;
    m->vals[i] = val + 1;
    return 0;
}

static void map_free(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
}

struct hw_state {
    int64_t max_hw;
    int64_t max_t_ns;
    int64_t reported_max; /* the max a regression was last reported against */
};

struct batch {
    int64_t base, last;
    uint32_t crc;
};

struct replica_log {
    int32_t node, partition;
    struct batch *batches;
    size_t len, cap;
};

struct drill_check {
    int32_t partitions;
    int64_t start_ns, end_ns;
    struct drill_attempt *attempts;
    size_t n_attempts, cap_attempts;
    struct u64map attempt_index; /* value key -> index in attempts */
    struct u64map all_reads;     /* offset key -> value key, first read */
    struct u64map final_reads;   /* offset key -> value key, final read */
    struct u64map seen_values;   /* value key -> 0, any read */
    struct u64map conflicts;     /* offset key -> 0, reported once */
    struct hw_state *hw;         /* [partition * DRILL_MAX_OBSERVERS + observer] */
    int64_t *final_hw;           /* [partition], -1 until known */
    struct replica_log *replicas;
    size_t n_replicas, cap_replicas;
    int idempotent;             /* duplicates are violations */
    struct drill_report report; /* violations found while feeding */
    int64_t *acks;              /* acknowledgement times, sorted; by drill_check_run */
    size_t n_acks;
};

static uint64_t value_key(int32_t producer, int64_t seq)
{
    return ((uint64_t)producer << 40) | (uint64_t)seq;
}

static int32_t key_producer(uint64_t vkey)
{
    return (int32_t)(vkey >> 40);
}

static int64_t key_seq(uint64_t vkey)
{
    return (int64_t)(vkey & (((uint64_t)1 << 40) - 1));
}

/* Offsets below 2^44, partitions below 2^20 (drill_check_new bounds them). */
static uint64_t offset_key(int32_t partition, int64_t offset)
{
    return ((uint64_t)partition << 44) | (uint64_t)offset;
}

static int32_t okey_partition(uint64_t okey)
{
    return (int32_t)(okey >> 44);
}

static int64_t okey_offset(uint64_t okey)
{
    return (int64_t)(okey & (((uint64_t)1 << 44) - 1));
}

static void violation(struct drill_report *r, enum drill_violation_kind kind, const char *fmt, ...)
{
    r->counts[kind]++;
    r->violations++;
    if (r->counts[kind] > DRILL_REPORT_LISTED_PER_KIND || r->listed == DRILL_REPORT_MAX_LISTED) {
        return;
    }
    struct drill_violation *v = &r->list[r->listed++];
    v->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
}

const char *drill_violation_kind_name(enum drill_violation_kind kind)
{
    static const char *const names[DRILL_V_KIND_COUNT] = {
        [DRILL_V_LOST] = "lost",
        [DRILL_V_FAILED_VISIBLE] = "failed_visible",
        [DRILL_V_DUPLICATE] = "duplicated",
        [DRILL_V_OFFSET_TWO_VALUES] = "offset_two_values",
        [DRILL_V_ORDER] = "order",
        [DRILL_V_PHANTOM] = "phantom",
        [DRILL_V_HW_REGRESSION] = "hw_regression",
        [DRILL_V_REPLICA_DIVERGED] = "replica_diverged",
    };
    return (unsigned)kind < DRILL_V_KIND_COUNT ? names[kind] : "?";
}

struct drill_check *drill_check_new(int32_t partitions)
{
    if (partitions <= 0 || partitions >= (1 << 20)) {
        return NULL;
    }
    struct drill_check *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->partitions = partitions;
    c->hw = calloc((size_t)partitions * DRILL_MAX_OBSERVERS, sizeof *c->hw);
    c->final_hw = calloc((size_t)partitions, sizeof *c->final_hw);
    if (c->hw == NULL || c->final_hw == NULL) {
        free(c->hw);
        free(c->final_hw);
        free(c);
        return NULL;
    }
    for (int32_t i = 0; i < partitions * DRILL_MAX_OBSERVERS; i++) {
        c->hw[i].max_hw = -1;
        c->hw[i].reported_max = -1;
    }
    for (int32_t p = 0; p < partitions; p++) {
        c->final_hw[p] = -1;
    }
    return c;
}

void drill_check_free(struct drill_check *c)
{
    if (c == NULL) {
        return;
    }
    free(c->attempts);
    map_free(&c->attempt_index);
    map_free(&c->all_reads);
    map_free(&c->final_reads);
    map_free(&c->seen_values);
    map_free(&c->conflicts);
    for (size_t i = 0; i < c->n_replicas; i++) {
        free(c->replicas[i].batches);
    }
    free(c->replicas);
    free(c->hw);
    free(c->final_hw);
    free(c->acks);
    free(c);
}

void drill_check_idempotent(struct drill_check *c, int idempotent)
{
    c->idempotent = idempotent != 0;
}

void drill_check_window(struct drill_check *c, int64_t start_ns, int64_t end_ns)
{
    c->start_ns = start_ns;
    c->end_ns = end_ns;
}

/* Grow *items (of `size` bytes each) so one more fits. */
static int reserve(void **items, size_t *cap, size_t len, size_t size)
{
    if (len < *cap) {
        return 0;
    }
    size_t n = *cap ? *cap * 2 : 256;
    void *p = realloc(*items, n * size);
    if (p == NULL) {
        return -ENOMEM;
    }
    *items = p;
    *cap = n;
    return 0;
}

int drill_check_attempt(struct drill_check *c, const struct drill_attempt *a)
{
    if (a->producer < 0 || a->producer >= DRILL_MAX_PRODUCERS || a->seq < 0 ||
        a->seq >= DRILL_MAX_SEQ ||
        (a->outcome == DRILL_OUTCOME_OK &&
         (a->partition < 0 || a->partition >= c->partitions || a->offset < 0))) {
        return -EINVAL;
    }
    if (reserve((void **)&c->attempts, &c->cap_attempts, c->n_attempts, sizeof *a) != 0 ||
        map_put(&c->attempt_index, value_key(a->producer, a->seq), c->n_attempts) != 0) {
        return -ENOMEM;
    }
    c->attempts[c->n_attempts++] = *a;
    return 0;
}

static void offset_conflict(struct drill_check *c, uint64_t okey, uint64_t first, uint64_t now)
{
    uint64_t unused;
    if (map_get(&c->conflicts, okey, &unused) || map_put(&c->conflicts, okey, 0) != 0) {
        return; /* reported already (or no memory to remember it: report again) */
    }
    violation(&c->report, DRILL_V_OFFSET_TWO_VALUES,
              "partition %" PRId32 " offset %" PRId64 " held %" PRId32 ":%" PRId64
              " and later %" PRId32 ":%" PRId64,
              okey_partition(okey), okey_offset(okey), key_producer(first), key_seq(first),
              key_producer(now), key_seq(now));
}

int drill_check_read(struct drill_check *c, enum drill_read_kind kind, int32_t partition,
                     int64_t offset, int32_t producer, int64_t seq)
{
    if (partition < 0 || partition >= c->partitions || offset < 0 || offset >= ((int64_t)1 << 44) ||
        producer < 0 || producer >= DRILL_MAX_PRODUCERS || seq < 0 || seq >= DRILL_MAX_SEQ) {
        c->report.foreign++;
        return 0;
    }
    uint64_t okey = offset_key(partition, offset);
    uint64_t vkey = value_key(producer, seq);
    uint64_t first;
    if (map_get(&c->all_reads, okey, &first)) {
        if (first != vkey) {
            offset_conflict(c, okey, first, vkey);
        }
    } else if (map_put(&c->all_reads, okey, vkey) != 0) {
        return -ENOMEM;
    }
    if (map_put(&c->seen_values, vkey, 0) != 0) {
        return -ENOMEM;
    }
    if (kind == DRILL_READ_FINAL && map_put(&c->final_reads, okey, vkey) != 0) {
        return -ENOMEM;
    }
    return 0;
}

void drill_check_foreign(struct drill_check *c)
{
    c->report.foreign++;
}

int drill_check_high_watermark(struct drill_check *c, int32_t partition, int observer, int64_t t_ns,
                               int64_t hw, const char *source)
{
    if (partition < 0 || partition >= c->partitions || observer < 0 ||
        observer >= DRILL_MAX_OBSERVERS || hw < 0) {
        return 0;
    }
    struct hw_state *s = &c->hw[partition * DRILL_MAX_OBSERVERS + observer];
    if (hw >= s->max_hw) {
        s->max_hw = hw;
        s->max_t_ns = t_ns;
        return 0;
    }
    if (s->reported_max == s->max_hw) {
        return 0; /* one report per regression, not per sample below it */
    }
    s->reported_max = s->max_hw;
    violation(&c->report, DRILL_V_HW_REGRESSION,
              "partition %" PRId32 ": %s saw high watermark %" PRId64 " at %.3fs after %" PRId64
              " at %.3fs",
              partition, source, hw, (double)(t_ns - c->start_ns) / 1e9, s->max_hw,
              (double)(s->max_t_ns - c->start_ns) / 1e9);
    return 0;
}

void drill_check_final_high_watermark(struct drill_check *c, int32_t partition, int64_t hw)
{
    if (partition >= 0 && partition < c->partitions) {
        c->final_hw[partition] = hw;
    }
}

static struct replica_log *replica_find(struct drill_check *c, int32_t node, int32_t partition)
{
    for (size_t i = 0; i < c->n_replicas; i++) {
        if (c->replicas[i].node == node && c->replicas[i].partition == partition) {
            return &c->replicas[i];
        }
    }
    return NULL;
}

int drill_check_replica_log(struct drill_check *c, int32_t node, int32_t partition)
{
    if (replica_find(c, node, partition) != NULL) {
        return 0;
    }
    if (reserve((void **)&c->replicas, &c->cap_replicas, c->n_replicas, sizeof *c->replicas) != 0) {
        return -ENOMEM;
    }
    c->replicas[c->n_replicas++] = (struct replica_log){.node = node, .partition = partition};
    return 0;
}

int drill_check_replica_batch(struct drill_check *c, int32_t node, int32_t partition,
                              int64_t base_offset, int64_t last_offset, uint32_t crc)
{
    if (drill_check_replica_log(c, node, partition) != 0) {
        return -ENOMEM;
    }
    struct replica_log *l = replica_find(c, node, partition);
    if (reserve((void **)&l->batches, &l->cap, l->len, sizeof *l->batches) != 0) {
        return -ENOMEM;
    }
    l->batches[l->len++] = (struct batch){base_offset, last_offset, crc};
    return 0;
}

/* --- the verdict --------------------------------------------------------- */

static void count_outcomes(const struct drill_check *c, struct drill_report *r)
{
    for (size_t i = 0; i < c->n_attempts; i++) {
        r->attempted++;
        switch (c->attempts[i].outcome) {
        case DRILL_OUTCOME_OK:
            r->acknowledged++;
            break;
        case DRILL_OUTCOME_FAILED:
            r->failed++;
            break;
        case DRILL_OUTCOME_UNKNOWN:
            r->unknown++;
            break;
        }
    }
}

/* occurrences[i]: how many offsets of the final read hold attempt i's value. */
static void count_final_occurrences(const struct drill_check *c, uint32_t *occurrences,
                                    struct drill_report *r)
{
    const struct u64map *m = &c->final_reads;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] == 0) {
            continue;
        }
        uint64_t vkey = m->vals[i] - 1;
        uint64_t idx;
        if (map_get(&c->attempt_index, vkey, &idx)) {
            occurrences[idx]++;
            continue;
        }
        violation(r, DRILL_V_PHANTOM,
                  "partition %" PRId32 " offset %" PRId64 " holds %" PRId32 ":%" PRId64
                  ", which was never sent",
                  okey_partition(m->keys[i]), okey_offset(m->keys[i]), key_producer(vkey),
                  key_seq(vkey));
    }
}

static void check_acknowledged(const struct drill_check *c, const struct drill_attempt *a,
                               uint32_t occurrences, struct drill_report *r)
{
    uint64_t held;
    uint64_t okey = offset_key(a->partition, a->offset);
    if (map_get(&c->final_reads, okey, &held) && held == value_key(a->producer, a->seq)) {
        return;
    }
    if (map_get(&c->final_reads, okey, &held)) {
        violation(r, DRILL_V_LOST,
                  "%" PRId32 ":%" PRId64 " acknowledged at partition %" PRId32 " offset %" PRId64
                  ", which holds %" PRId32 ":%" PRId64 " (the value is at %u other offsets)",
                  a->producer, a->seq, a->partition, a->offset, key_producer(held), key_seq(held),
                  occurrences);
    } else {
        violation(r, DRILL_V_LOST,
                  "%" PRId32 ":%" PRId64 " acknowledged at partition %" PRId32 " offset %" PRId64
                  ", absent from the final read (high watermark %" PRId64
                  "; the value is at %u other offsets)",
                  a->producer, a->seq, a->partition, a->offset, c->final_hw[a->partition],
                  occurrences);
    }
}

static void check_attempts(const struct drill_check *c, const uint32_t *occurrences,
                           struct drill_report *r)
{
    for (size_t i = 0; i < c->n_attempts; i++) {
        const struct drill_attempt *a = &c->attempts[i];
        uint64_t unused;
        if (a->outcome == DRILL_OUTCOME_OK) {
            check_acknowledged(c, a, occurrences[i], r);
        } else if (a->outcome == DRILL_OUTCOME_FAILED &&
                   map_get(&c->seen_values, value_key(a->producer, a->seq), &unused)) {
            violation(r, DRILL_V_FAILED_VISIBLE, "%" PRId32 ":%" PRId64 " failed (%s) but was read",
                      a->producer, a->seq, a->error ? a->error : "error");
        }
        if (a->outcome == DRILL_OUTCOME_UNKNOWN && occurrences[i] > 0) {
            r->unknown_written++;
        }
        if (occurrences[i] > 1) {
            r->duplicated++;
        }
        if (occurrences[i] > 1 && c->idempotent) {
            violation(r, DRILL_V_DUPLICATE, "%" PRId32 ":%" PRId64 " is at %u offsets", a->producer,
                      a->seq, occurrences[i]);
        }
    }
}

struct placed {
    int32_t partition, producer;
    int64_t offset, seq, sent_ns, done_ns;
};

static int placed_group_cmp(const struct placed *a, const struct placed *b)
{
    if (a->partition != b->partition) {
        return a->partition < b->partition ? -1 : 1;
    }
    return a->producer < b->producer ? -1 : a->producer > b->producer;
}

static int by_sent_cmp(const void *x, const void *y)
{
    const struct placed *a = x, *b = y;
    int g = placed_group_cmp(a, b);
    return g ? g : a->sent_ns < b->sent_ns ? -1 : a->sent_ns > b->sent_ns;
}

static int by_done_cmp(const void *x, const void *y)
{
    const struct placed *a = x, *b = y;
    int g = placed_group_cmp(a, b);
    return g ? g : a->done_ns < b->done_ns ? -1 : a->done_ns > b->done_ns;
}

/* One (partition, producer) group: sent[] by send time, done[] the same
 * writes by acknowledgement time. A write sent after another was
 * acknowledged must be at a higher offset. */
static void check_order_group(const struct placed *sent, const struct placed *done, size_t n,
                              struct drill_report *r)
{
    size_t j = 0;
    const struct placed *max = NULL; /* the highest offset acknowledged so far */
    for (size_t i = 0; i < n; i++) {
        const struct placed *b = &sent[i];
        for (; j < n && done[j].done_ns < b->sent_ns; j++) {
            max = max == NULL || done[j].offset > max->offset ? &done[j] : max;
        }
        if (max != NULL && b->offset < max->offset) {
            violation(r, DRILL_V_ORDER,
                      "partition %" PRId32 ": producer %" PRId32 " seq %" PRId64
                      " acknowledged at offset %" PRId64 ", before seq %" PRId64
                      " acknowledged at offset %" PRId64 " before it was sent",
                      b->partition, b->producer, b->seq, b->offset, max->seq, max->offset);
        }
    }
}

/* Within a partition, a producer's acknowledged writes keep the order of
 * acknowledgement: a write sent after another was acknowledged is at a
 * higher offset. Writes in flight together have no promised order between
 * them: without idempotence the client retries a write whose request timed
 * out or whose leader moved, possibly after later writes reached the new
 * leader, and a retried copy may sit after later values; failed or unknown
 * values promise no place at all. The lost check ensures each acknowledged
 * offset holds its value in the final read. */
static int check_order(const struct drill_check *c, struct drill_report *r)
{
    size_t cap = c->n_attempts ? c->n_attempts : 1;
    struct placed *sent = malloc(cap * sizeof *sent);
    struct placed *done = malloc(cap * sizeof *done);
    if (sent == NULL || done == NULL) {
        free(sent);
        free(done);
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->n_attempts; i++) {
        const struct drill_attempt *a = &c->attempts[i];
        if (a->outcome == DRILL_OUTCOME_OK) {
            sent[n++] = (struct placed){a->partition, a->producer, a->offset,
                                        a->seq,       a->sent_ns,  a->done_ns};
        }
    }
    memcpy(done, sent, n * sizeof *sent);
    qsort(sent, n, sizeof *sent, by_sent_cmp);
    qsort(done, n, sizeof *done, by_done_cmp);
    for (size_t g = 0, end; g < n; g = end) {
        for (end = g + 1; end < n && placed_group_cmp(&sent[g], &sent[end]) == 0; end++) {
        }
        check_order_group(&sent[g], &done[g], end - g, r);
    }
    free(sent);
    free(done);
    return 0;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* Every acknowledgement's time, sorted, into c->acks: the stretches without
 * one lie between neighbours (and the window's ends). */
static int collect_acks(struct drill_check *c)
{
    free(c->acks);
    c->n_acks = 0;
    c->acks = malloc((c->n_attempts ? c->n_attempts : 1) * sizeof *c->acks);
    if (c->acks == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->n_attempts; i++) {
        if (c->attempts[i].outcome == DRILL_OUTCOME_OK) {
            c->acks[c->n_acks++] = c->attempts[i].done_ns;
        }
    }
    qsort(c->acks, c->n_acks, sizeof *c->acks, cmp_i64);
    return 0;
}

struct drill_stretch drill_check_unavailable(const struct drill_check *c, int64_t from_ns,
                                             int64_t to_ns)
{
    to_ns = to_ns < c->end_ns ? to_ns : c->end_ns;
    struct drill_stretch longest = {0, 0, 0};
    int64_t prev = c->start_ns;
    for (size_t i = 0; i <= c->n_acks && prev < to_ns; i++) {
        int64_t next = i < c->n_acks ? c->acks[i] : c->end_ns;
        /* Nothing was acknowledged between prev and next. */
        int64_t lo = prev > from_ns ? prev : from_ns, hi = next < to_ns ? next : to_ns;
        if (hi - lo > longest.within_ns) {
            longest = (struct drill_stretch){prev, next, hi - lo};
        }
        prev = next > prev ? next : prev;
    }
    return longest;
}

/* The batches of log l that every replica must hold alike: from `lo` (the
 * highest log start among the replicas, since retention may differ) up to
 * the high watermark, excluding a batch that straddles it. */
static void replica_window(const struct replica_log *l, int64_t lo, int64_t hw, size_t *first,
                           size_t *count)
{
    size_t i = 0;
    while (i < l->len && l->batches[i].base < lo) {
        i++;
    }
    size_t j = i;
    while (j < l->len && l->batches[j].last < hw) {
        j++;
    }
    *first = i;
    *count = j - i;
}

static void compare_replicas(const struct replica_log *ref, const struct replica_log *l, int64_t lo,
                             int64_t hw, struct drill_report *r)
{
    size_t rf, rn, lf, ln;
    replica_window(ref, lo, hw, &rf, &rn);
    replica_window(l, lo, hw, &lf, &ln);
    for (size_t k = 0; k < rn && k < ln; k++) {
        const struct batch *a = &ref->batches[rf + k], *b = &l->batches[lf + k];
        if (a->base != b->base || a->last != b->last || a->crc != b->crc) {
            violation(r, DRILL_V_REPLICA_DIVERGED,
                      "partition %" PRId32 ": node %" PRId32 " has batch %" PRId64 "-%" PRId64
                      " crc %08x where node %" PRId32 " has %" PRId64 "-%" PRId64 " crc %08x",
                      ref->partition, ref->node, a->base, a->last, a->crc, l->node, b->base,
                      b->last, b->crc);
            return;
        }
    }
    if (rn != ln) {
        const struct replica_log *longer = rn > ln ? ref : l, *shorter = rn > ln ? l : ref;
        size_t k = rn < ln ? rn : ln;
        const struct batch *missing = &longer->batches[(rn > ln ? rf : lf) + k];
        violation(r, DRILL_V_REPLICA_DIVERGED,
                  "partition %" PRId32 ": node %" PRId32 " lacks offsets %" PRId64 "-%" PRId64
                  " below the high watermark %" PRId64 " that node %" PRId32 " holds",
                  ref->partition, shorter->node, missing->base, hw - 1, hw, longer->node);
    }
}

static void check_replicas(const struct drill_check *c, struct drill_report *r)
{
    for (int32_t p = 0; p < c->partitions; p++) {
        const struct replica_log *ref = NULL;
        int64_t lo = 0;
        int logs = 0;
        for (size_t i = 0; i < c->n_replicas; i++) {
            const struct replica_log *l = &c->replicas[i];
            if (l->partition != p) {
                continue;
            }
            logs++;
            ref = ref ? ref : l;
            if (l->len > 0 && l->batches[0].base > lo) {
                lo = l->batches[0].base;
            }
        }
        if (logs < 2 || c->final_hw[p] < 0) {
            continue;
        }
        r->replicas_compared++;
        for (size_t i = 0; i < c->n_replicas; i++) {
            const struct replica_log *l = &c->replicas[i];
            if (l->partition == p && l != ref) {
                compare_replicas(ref, l, lo, c->final_hw[p], r);
            }
        }
    }
}

int drill_check_run(struct drill_check *c, struct drill_report *r)
{
    *r = c->report;
    uint32_t *occurrences = calloc(c->n_attempts ? c->n_attempts : 1, sizeof *occurrences);
    if (occurrences == NULL) {
        return -ENOMEM;
    }
    count_outcomes(c, r);
    count_final_occurrences(c, occurrences, r);
    check_attempts(c, occurrences, r);
    free(occurrences);
    if (check_order(c, r) != 0 || collect_acks(c) != 0) {
        return -ENOMEM;
    }
    r->window_start_ns = c->start_ns;
    r->window_end_ns = c->end_ns;
    struct drill_stretch longest = drill_check_unavailable(c, c->start_ns, c->end_ns);
    r->longest_unavailable_ns = longest.within_ns;
    check_replicas(c, r);
    return 0;
}

int drill_value_format(char *buf, const char *run, int32_t producer, int64_t seq)
{
    return snprintf(buf, DRILL_VALUE_MAX, "%s/%" PRId32 ":%" PRId64, run, producer, seq);
}

/* Digits only, no sign, at most 15 of them; -1 otherwise. */
static int64_t parse_digits(const char *s, size_t len)
{
    if (len == 0 || len > 15) {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int drill_value_parse(const void *data, size_t len, const char *run, int32_t *producer,
                      int64_t *seq)
{
    const char *s = data;
    size_t run_len = strlen(run);
    if (data == NULL || len <= run_len + 1 || memcmp(s, run, run_len) != 0 || s[run_len] != '/') {
        return -1;
    }
    s += run_len + 1;
    len -= run_len + 1;
    const char *colon = memchr(s, ':', len);
    if (colon == NULL) {
        return -1;
    }
    int64_t p = parse_digits(s, (size_t)(colon - s));
    int64_t q = parse_digits(colon + 1, len - (size_t)(colon - s) - 1);
    if (p < 0 || p >= DRILL_MAX_PRODUCERS || q < 0 || q >= DRILL_MAX_SEQ) {
        return -1;
    }
    *producer = (int32_t)p;
    *seq = q;
    return 0;
}
