/* The leader's follower fetch sessions; see replica_session.h. */
#include "broker/replica/replica_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"

typedef Sluice__Replica__FetchPartition FetchPartition;

/* One partition of a session: what the follower last sent, and what it was
 * last told. */
struct rs_part {
    uint32_t topic; /* index into session.topics */
    int32_t partition;
    int64_t fetch_offset;
    int32_t current_leader_epoch, last_fetched_epoch;
    int64_t log_start_offset;
    uint32_t max_bytes;
    bool told;
    int32_t told_error;
    int64_t told_hw, told_log_start, told_log_end;
};

/* A topic name the session's partitions share; `refs` partitions use it
 * (0: the slot is free). */
struct rs_topic {
    char *name;
    size_t refs;
};

struct session {
    int32_t id, replica_id;
    void *state;   /* the caller's (replica_session_state) */
    int32_t epoch; /* the next request's */
    uint64_t last_used_ms;
    uint64_t layout; /* changes whenever parts[] is added to, removed from or reordered */
    struct rs_part *parts;
    size_t n, cap;
    struct strmap index; /* "partition topic" -> parts[] index + 1 */
    struct rs_topic *topics;
    size_t n_topics;
    struct strmap topic_index; /* name -> topics[] index + 1 */
};

struct replica_session_cache {
    struct session **sessions;
    size_t n, cap;
    uint64_t rng;
    uint64_t next_layout;
    size_t total_parts;
    void (*free_state)(void *state);
};

/* ---- the cache ---- */

struct replica_session_cache *replica_session_cache_new(uint64_t seed,
                                                        void (*free_state)(void *state))
{
    struct replica_session_cache *c = calloc(1, sizeof *c);
    if (c != NULL) {
        c->free_state = free_state;
        c->rng = seed | 1;
        c->next_layout = 1;
    }
    return c;
}

static void session_free(struct replica_session_cache *c, struct session *s)
{
    if (s->state != NULL && c->free_state != NULL) {
        c->free_state(s->state);
    }
    for (size_t i = 0; i < s->n_topics; i++) {
        free(s->topics[i].name);
    }
    c->total_parts -= s->n;
    free(s->topics);
    free(s->parts);
    strmap_free(&s->index);
    strmap_free(&s->topic_index);
    free(s);
}

void replica_session_cache_free(struct replica_session_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        session_free(c, c->sessions[i]);
    }
    free(c->sessions);
    free(c);
}

size_t replica_session_cache_count(const struct replica_session_cache *c)
{
    return c->n;
}

size_t replica_session_cache_partitions(const struct replica_session_cache *c)
{
    return c->total_parts;
}

static size_t find_slot(const struct replica_session_cache *c, int32_t id)
{
    for (size_t i = 0; id != 0 && i < c->n; i++) {
        if (c->sessions[i]->id == id) {
            return i;
        }
    }
    return SIZE_MAX;
}

static void remove_slot(struct replica_session_cache *c, size_t i)
{
    session_free(c, c->sessions[i]);
    c->sessions[i] = c->sessions[--c->n];
}

/* Session ids are random (xorshift64), as Kafka's: an id a previous leader
 * incarnation handed out is unlikely to name a live session here. */
static int32_t new_id(struct replica_session_cache *c)
{
    for (;;) {
        c->rng ^= c->rng << 13;
        c->rng ^= c->rng >> 7;
        c->rng ^= c->rng << 17;
        int32_t id = (int32_t)(c->rng & 0x7fffffff);
        if (id != 0 && find_slot(c, id) == SIZE_MAX) {
            return id;
        }
    }
}

/* ---- a session's partitions ---- */

static void key_of(int32_t partition, const char *topic, char *out, size_t len)
{
    snprintf(out, len, "%d %s", (int)partition, topic);
}

static size_t part_find(const struct session *s, const char *topic, int32_t partition)
{
    char key[320];
    key_of(partition, topic, key, sizeof key);
    uintptr_t v = (uintptr_t)strmap_get(&s->index, key);
    return v == 0 ? SIZE_MAX : (size_t)(v - 1);
}

static int topic_ref(struct session *s, const char *name, uint32_t *out)
{
    uintptr_t v = (uintptr_t)strmap_get(&s->topic_index, name);
    if (v != 0) {
        *out = (uint32_t)(v - 1);
        s->topics[*out].refs++;
        return 0;
    }
    size_t t = 0;
    while (t < s->n_topics && s->topics[t].refs > 0) {
        t++; /* a slot a forgotten topic freed */
    }
    if (t == s->n_topics) {
        struct rs_topic *ts = realloc(s->topics, (s->n_topics + 1) * sizeof *ts);
        if (ts == NULL) {
            return -ENOMEM;
        }
        s->topics = ts;
        s->topics[s->n_topics++] = (struct rs_topic){0};
    }
    char *copy = strdup(name);
    if (copy == NULL || strmap_put(&s->topic_index, name, (void *)(uintptr_t)(t + 1)) != 0) {
        free(copy);
        return -ENOMEM;
    }
    s->topics[t] = (struct rs_topic){copy, 1};
    *out = (uint32_t)t;
    return 0;
}

static void topic_unref(struct session *s, uint32_t t)
{
    if (--s->topics[t].refs == 0) {
        strmap_remove(&s->topic_index, s->topics[t].name);
        free(s->topics[t].name);
        s->topics[t].name = NULL;
    }
}

static void part_set(struct rs_part *e, const FetchPartition *in)
{
    e->fetch_offset = in->fetch_offset;
    e->current_leader_epoch = in->current_leader_epoch;
    e->last_fetched_epoch = in->last_fetched_epoch;
    e->log_start_offset = in->log_start_offset;
    e->max_bytes = in->partition_max_bytes;
    e->told = false; /* what the follower names explicitly is always answered */
}

static int part_upsert(struct replica_session_cache *c, struct session *s, const FetchPartition *in)
{
    size_t i = part_find(s, in->topic, in->partition);
    if (i != SIZE_MAX) {
        part_set(&s->parts[i], in);
        return 0;
    }
    if (s->n >= REPLICA_SESSION_MAX_PARTITIONS) {
        return -ENOSPC;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        struct rs_part *ps = realloc(s->parts, cap * sizeof *ps);
        if (ps == NULL) {
            return -ENOMEM;
        }
        s->parts = ps;
        s->cap = cap;
    }
    struct rs_part *e = &s->parts[s->n];
    memset(e, 0, sizeof *e);
    e->partition = in->partition;
    if (topic_ref(s, in->topic, &e->topic) != 0) {
        return -ENOMEM;
    }
    char key[320];
    key_of(in->partition, in->topic, key, sizeof key);
    if (strmap_put(&s->index, key, (void *)(uintptr_t)(s->n + 1)) != 0) {
        topic_unref(s, e->topic);
        return -ENOMEM;
    }
    part_set(e, in);
    s->n++;
    c->total_parts++;
    s->layout = c->next_layout++;
    return 0;
}

static void part_forget(struct replica_session_cache *c, struct session *s, const char *topic,
                        int32_t partition)
{
    size_t i = part_find(s, topic, partition);
    if (i == SIZE_MAX) {
        return;
    }
    char key[320];
    key_of(partition, topic, key, sizeof key);
    strmap_remove(&s->index, key);
    topic_unref(s, s->parts[i].topic);
    size_t last = --s->n;
    if (i != last) {
        s->parts[i] = s->parts[last];
        const struct rs_part *moved = &s->parts[i];
        key_of(moved->partition, s->topics[moved->topic].name, key, sizeof key);
        strmap_put(&s->index, key, (void *)(uintptr_t)(i + 1)); /* replaces: no allocation */
    }
    c->total_parts--;
    s->layout = c->next_layout++;
}

static int apply_request(struct replica_session_cache *c, struct session *s,
                         const Sluice__Replica__ReplicaFetchRequest *req)
{
    for (size_t i = 0; i < req->n_partitions; i++) {
        int rv = part_upsert(c, s, req->partitions[i]);
        if (rv != 0) {
            return rv;
        }
    }
    for (size_t i = 0; i < req->n_forgotten; i++) {
        part_forget(c, s, req->forgotten[i]->topic, req->forgotten[i]->partition);
    }
    return 0;
}

/* Copy the session's whole set into `out` (one block: the entries, their
 * pointers, the topic names), so it outlives whatever the session does. */
static int expand(const struct session *s, struct replica_session_fetch *out)
{
    size_t names = 0;
    for (size_t t = 0; t < s->n_topics; t++) {
        names += s->topics[t].refs > 0 ? strlen(s->topics[t].name) + 1 : 0;
    }
    size_t n = s->n;
    size_t head =
        n * (sizeof(FetchPartition) + sizeof(FetchPartition *)) + s->n_topics * sizeof(char *);
    uint8_t *block = malloc(head + names + 1);
    if (block == NULL) {
        return -ENOMEM;
    }
    FetchPartition *fps = (FetchPartition *)block;
    FetchPartition **ptrs = (FetchPartition **)(fps + n);
    char **topic_at = (char **)(ptrs + n);
    char *w = (char *)block + head;
    for (size_t t = 0; t < s->n_topics; t++) {
        topic_at[t] = NULL;
        if (s->topics[t].refs > 0) {
            size_t len = strlen(s->topics[t].name) + 1;
            memcpy(w, s->topics[t].name, len);
            topic_at[t] = w;
            w += len;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct rs_part *e = &s->parts[i];
        sluice__replica__fetch_partition__init(&fps[i]);
        fps[i].topic = topic_at[e->topic];
        fps[i].partition = e->partition;
        fps[i].fetch_offset = e->fetch_offset;
        fps[i].current_leader_epoch = e->current_leader_epoch;
        fps[i].last_fetched_epoch = e->last_fetched_epoch;
        fps[i].log_start_offset = e->log_start_offset;
        fps[i].partition_max_bytes = e->max_bytes;
        ptrs[i] = &fps[i];
    }
    out->copy = block;
    out->partitions = (const FetchPartition *const *)ptrs;
    out->n_partitions = n;
    out->session_id = s->id;
    out->layout = s->layout;
    return 0;
}

/* ---- resolving a request ---- */

static void serve_sessionless(const Sluice__Replica__ReplicaFetchRequest *req,
                              struct replica_session_fetch *out)
{
    out->session_id = 0;
    out->partitions = (const FetchPartition *const *)req->partitions;
    out->n_partitions = req->n_partitions;
}

static void evict_lru(struct replica_session_cache *c)
{
    size_t lru = 0;
    for (size_t i = 1; i < c->n; i++) {
        if (c->sessions[i]->last_used_ms < c->sessions[lru]->last_used_ms) {
            lru = i;
        }
    }
    remove_slot(c, lru);
}

/* A new session of the request's partitions, served from it; sessionless
 * when the request has more than a session may hold. */
/* `out` serves session `s`: its copy, or (no copy) its index order. */
static int serve_session(const struct session *s, bool copy, struct replica_session_fetch *out)
{
    if (copy) {
        return expand(s, out);
    }
    out->partitions = NULL;
    out->n_partitions = s->n;
    out->session_id = s->id;
    out->layout = s->layout;
    return 0;
}

static int create(struct replica_session_cache *c, const Sluice__Replica__ReplicaFetchRequest *req,
                  size_t max_sessions, uint64_t now_ms, bool copy,
                  struct replica_session_fetch *out)
{
    serve_sessionless(req, out);
    if (req->n_partitions > REPLICA_SESSION_MAX_PARTITIONS) {
        return 0;
    }
    while (c->n >= max_sessions && c->n > 0) {
        evict_lru(c);
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct session **ss = realloc(c->sessions, cap * sizeof *ss);
        if (ss == NULL) {
            return -ENOMEM;
        }
        c->sessions = ss;
        c->cap = cap;
    }
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -ENOMEM;
    }
    strmap_init(&s->index);
    strmap_init(&s->topic_index);
    s->id = new_id(c);
    s->replica_id = req->replica_id;
    s->epoch = REPLICA_SESSION_EPOCH_NEW + 1;
    s->last_used_ms = now_ms;
    c->sessions[c->n++] = s;
    Sluice__Replica__ReplicaFetchRequest adds = *req;
    adds.n_forgotten = 0; /* nothing to forget in a new session */
    int rv = apply_request(c, s, &adds);
    if (rv == 0) {
        rv = serve_session(s, copy, out);
    }
    if (rv != 0) {
        remove_slot(c, c->n - 1);
        serve_sessionless(req, out);
    }
    return rv == -ENOSPC ? 0 : rv;
}

static int next_epoch(int32_t epoch)
{
    return epoch == INT32_MAX ? REPLICA_SESSION_EPOCH_NEW + 1 : epoch + 1;
}

int replica_session_resolve(struct replica_session_cache *c,
                            const Sluice__Replica__ReplicaFetchRequest *req, size_t max_sessions,
                            uint64_t now_ms, bool copy, struct replica_session_fetch *out)
{
    memset(out, 0, sizeof *out);
    out->fresh = req->session_epoch <= REPLICA_SESSION_EPOCH_NEW;
    size_t slot = find_slot(c, req->session_id);
    if (slot != SIZE_MAX && c->sessions[slot]->replica_id != req->replica_id) {
        slot = SIZE_MAX; /* another follower's session is none of this one's business */
    }
    if (req->session_epoch <= REPLICA_SESSION_EPOCH_NEW) {
        if (slot != SIZE_MAX) {
            remove_slot(c, slot); /* the follower starts over, or fetches without one */
        }
        if (req->session_epoch == REPLICA_SESSION_EPOCH_NEW) {
            return create(c, req, max_sessions > 0 ? max_sessions : 1, now_ms, copy, out);
        }
        serve_sessionless(req, out);
        return 0;
    }
    if (slot == SIZE_MAX) {
        out->error = REPLICA_SESSION_ERR_NOT_FOUND;
        return 0;
    }
    struct session *s = c->sessions[slot];
    if (req->session_epoch != s->epoch) {
        out->error = REPLICA_SESSION_ERR_INVALID_EPOCH;
        return 0;
    }
    int rv = apply_request(c, s, req);
    if (rv == 0) {
        rv = serve_session(s, copy, out);
    }
    if (rv != 0) {
        /* The session no longer holds what the follower believes. */
        remove_slot(c, slot);
        memset(out, 0, sizeof *out);
        out->error = REPLICA_SESSION_ERR_NOT_FOUND;
        return rv == -ENOSPC ? 0 : rv;
    }
    s->epoch = next_epoch(s->epoch);
    s->last_used_ms = now_ms;
    return 0;
}

void replica_session_fetch_release(struct replica_session_fetch *f)
{
    free(f->copy);
    memset(f, 0, sizeof *f);
}

/* ---- a session served without a copy ---- */

static struct session *session_of(const struct replica_session_cache *c,
                                  const struct replica_session_fetch *f)
{
    size_t slot = find_slot(c, f->session_id);
    return slot == SIZE_MAX ? NULL : c->sessions[slot];
}

bool replica_session_unchanged(const struct replica_session_cache *c,
                               const struct replica_session_fetch *f)
{
    const struct session *s = c != NULL ? session_of(c, f) : NULL;
    return s != NULL && s->layout == f->layout;
}

void replica_session_part(const struct replica_session_cache *c,
                          const struct replica_session_fetch *f, size_t i, FetchPartition *out,
                          int64_t *told_hw)
{
    const struct session *s = session_of(c, f);
    const struct rs_part *e = &s->parts[i];
    sluice__replica__fetch_partition__init(out);
    out->topic = s->topics[e->topic].name;
    out->partition = e->partition;
    out->fetch_offset = e->fetch_offset;
    out->current_leader_epoch = e->current_leader_epoch;
    out->last_fetched_epoch = e->last_fetched_epoch;
    out->log_start_offset = e->log_start_offset;
    out->partition_max_bytes = e->max_bytes;
    if (told_hw != NULL) {
        *told_hw = e->told ? e->told_hw : -1;
    }
}

size_t replica_session_named(const struct replica_session_cache *c,
                             const struct replica_session_fetch *f,
                             const Sluice__Replica__ReplicaFetchRequest *req, size_t *out)
{
    const struct session *s = session_of(c, f);
    size_t n = 0;
    for (size_t k = 0; s != NULL && k < req->n_partitions; k++) {
        size_t i = part_find(s, req->partitions[k]->topic, req->partitions[k]->partition);
        if (i != SIZE_MAX) {
            out[n++] = i;
        }
    }
    return n;
}

void **replica_session_state(const struct replica_session_cache *c,
                             const struct replica_session_fetch *f)
{
    struct session *s = c != NULL && f->session_id != 0 ? session_of(c, f) : NULL;
    return s != NULL ? &s->state : NULL;
}

/* ---- answering ---- */

static struct rs_part *answered_part(const struct replica_session_cache *c,
                                     const struct replica_session_fetch *f, size_t i)
{
    size_t slot = find_slot(c, f->session_id);
    if (slot == SIZE_MAX) {
        return NULL;
    }
    struct session *s = c->sessions[slot];
    if (s->layout == f->layout && i < s->n) {
        return &s->parts[i]; /* the copy's order is still the session's */
    }
    if (f->partitions == NULL) {
        return NULL; /* no copy to name it: answered as it is */
    }
    size_t j = part_find(s, f->partitions[i]->topic, f->partitions[i]->partition);
    return j == SIZE_MAX ? NULL : &s->parts[j];
}

bool replica_session_should_send(struct replica_session_cache *c,
                                 const struct replica_session_fetch *f, size_t i,
                                 const Sluice__Replica__FetchedPartition *answer)
{
    if (c == NULL || f->session_id == 0) {
        return true;
    }
    struct rs_part *e = answered_part(c, f, i);
    if (e == NULL) {
        return true;
    }
    bool send = !e->told || answer->records_length > 0 || answer->error_code != 0 ||
                answer->error_code != e->told_error || answer->high_watermark != e->told_hw ||
                answer->log_start_offset != e->told_log_start ||
                answer->log_end_offset != e->told_log_end;
    if (send) {
        e->told = true;
        e->told_error = answer->error_code;
        e->told_hw = answer->high_watermark;
        e->told_log_start = answer->log_start_offset;
        e->told_log_end = answer->log_end_offset;
    }
    return send;
}
