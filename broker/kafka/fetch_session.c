/* Incremental fetch sessions (KIP-227); see fetch_session.h. */
#include "broker/kafka/fetch_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"
#include "proto/kafka/kafka_errors.h"

struct fs_part {
    int32_t partition;
    struct kafka_fetch_request_partition in; /* what the client last asked */
    bool sent;                               /* told anything yet */
    int64_t sent_hw, sent_log_start;
    int16_t sent_error;
};

struct fs_topic {
    char *name;
    struct fs_part **parts;
    size_t n, cap;
};

struct session {
    int32_t id;
    int32_t epoch; /* the next request's */
    uint64_t last_used_ms;
    struct fs_topic *topics;
    size_t n_topics, cap_topics;
    struct strmap index; /* "topic partition" -> struct fs_part */
};

struct fetch_session_cache {
    int32_t slots;
    struct session **sessions;
    size_t n;
    int32_t next_id;
    size_t total_parts;
};

static void key_of(const char *topic, int32_t partition, char *out, size_t len)
{
    snprintf(out, len, "%s %d", topic, (int)partition);
}

struct fetch_session_cache *fetch_session_cache_new(int32_t slots)
{
    struct fetch_session_cache *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->slots = slots > 0 ? slots : 0;
    if (c->slots > 0 && (c->sessions = calloc((size_t)c->slots, sizeof *c->sessions)) == NULL) {
        free(c);
        return NULL;
    }
    c->next_id = 1;
    return c;
}

static void session_free(struct fetch_session_cache *c, struct session *s)
{
    for (size_t t = 0; t < s->n_topics; t++) {
        for (size_t i = 0; i < s->topics[t].n; i++) {
            free(s->topics[t].parts[i]);
        }
        c->total_parts -= s->topics[t].n;
        free(s->topics[t].parts);
        free(s->topics[t].name);
    }
    free(s->topics);
    strmap_free(&s->index);
    free(s);
}

void fetch_session_cache_free(struct fetch_session_cache *c)
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

static size_t find_slot(const struct fetch_session_cache *c, int32_t id)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->sessions[i]->id == id) {
            return i;
        }
    }
    return SIZE_MAX;
}

static void remove_slot(struct fetch_session_cache *c, size_t i)
{
    session_free(c, c->sessions[i]);
    c->sessions[i] = c->sessions[--c->n];
}

static struct session *find(const struct fetch_session_cache *c, int32_t id)
{
    size_t i = id != 0 ? find_slot(c, id) : SIZE_MAX;
    return i == SIZE_MAX ? NULL : c->sessions[i];
}

/* ---- a session's partitions ---- */

static struct fs_topic *topic_get_or_add(struct session *s, const char *name)
{
    for (size_t t = 0; t < s->n_topics; t++) {
        if (strcmp(s->topics[t].name, name) == 0) {
            return &s->topics[t];
        }
    }
    if (s->n_topics == s->cap_topics) {
        size_t cap = s->cap_topics ? 2 * s->cap_topics : 4;
        struct fs_topic *ts = realloc(s->topics, cap * sizeof *ts);
        if (ts == NULL) {
            return NULL;
        }
        s->topics = ts;
        s->cap_topics = cap;
    }
    struct fs_topic *t = &s->topics[s->n_topics];
    memset(t, 0, sizeof *t);
    if ((t->name = strdup(name)) == NULL) {
        return NULL;
    }
    s->n_topics++;
    return t;
}

static int upsert(struct fetch_session_cache *c, struct session *s, const char *topic,
                  const struct kafka_fetch_request_partition *in)
{
    char key[300];
    key_of(topic, in->partition, key, sizeof key);
    struct fs_part *p = strmap_get(&s->index, key);
    if (p != NULL) {
        p->in = *in;
        return 0;
    }
    if (c->total_parts >= FETCH_SESSION_MAX_PARTITIONS) {
        return -ENOSPC;
    }
    struct fs_topic *t = topic_get_or_add(s, topic);
    if (t == NULL) {
        return -ENOMEM;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        struct fs_part **ps = realloc(t->parts, cap * sizeof *ps);
        if (ps == NULL) {
            return -ENOMEM;
        }
        t->parts = ps;
        t->cap = cap;
    }
    if ((p = calloc(1, sizeof *p)) == NULL) {
        return -ENOMEM;
    }
    p->partition = in->partition;
    p->in = *in;
    if (strmap_put(&s->index, key, p) != 0) {
        free(p);
        return -ENOMEM;
    }
    t->parts[t->n++] = p;
    c->total_parts++;
    return 0;
}

static void forget(struct fetch_session_cache *c, struct session *s, const char *topic,
                   int32_t partition)
{
    char key[300];
    key_of(topic, partition, key, sizeof key);
    struct fs_part *p = strmap_remove(&s->index, key);
    if (p == NULL) {
        return;
    }
    for (size_t t = 0; t < s->n_topics; t++) {
        struct fs_topic *ft = &s->topics[t];
        if (strcmp(ft->name, topic) != 0) {
            continue;
        }
        for (size_t i = 0; i < ft->n; i++) {
            if (ft->parts[i] == p) {
                memmove(ft->parts + i, ft->parts + i + 1, (ft->n - i - 1) * sizeof *ft->parts);
                ft->n--;
                break;
            }
        }
    }
    free(p);
    c->total_parts--;
}

static int apply_request(struct fetch_session_cache *c, struct session *s,
                         const struct kafka_fetch_request *req)
{
    for (int32_t i = 0; i < req->topics_count; i++) {
        const struct kafka_fetch_request_topic *t = &req->topics[i];
        for (int32_t j = 0; j < t->partitions_count; j++) {
            int rv = upsert(c, s, t->topic, &t->partitions[j]);
            if (rv != 0) {
                return rv;
            }
        }
    }
    for (int32_t i = 0; i < req->forgotten_topics_data_count; i++) {
        const struct kafka_fetch_request_forgotten_topic *f = &req->forgotten_topics_data[i];
        for (int32_t j = 0; j < f->partitions_count; j++) {
            forget(c, s, f->topic, f->partitions[j]);
        }
    }
    return 0;
}

/* The session's whole partition set as the request's topics (arena). */
static int expand(const struct session *s, struct kafka_fetch_request *req,
                  struct kafka_arena *arena)
{
    struct kafka_fetch_request_topic *topics =
        kafka_arena_alloc_array(arena, s->n_topics ? s->n_topics : 1, sizeof *topics);
    if (topics == NULL) {
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t t = 0; t < s->n_topics; t++) {
        const struct fs_topic *ft = &s->topics[t];
        if (ft->n == 0) {
            continue;
        }
        struct kafka_fetch_request_partition *ps =
            kafka_arena_alloc_array(arena, ft->n, sizeof *ps);
        if (ps == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < ft->n; i++) {
            ps[i] = ft->parts[i]->in;
        }
        topics[k].topic = ft->name;
        topics[k].partitions = ps;
        topics[k].partitions_count = (int32_t)ft->n;
        k++;
    }
    req->topics = topics;
    req->topics_count = (int32_t)k;
    return 0;
}

/* ---- creating ---- */

static int32_t new_id(struct fetch_session_cache *c)
{
    for (;;) {
        int32_t id = c->next_id;
        c->next_id = c->next_id == INT32_MAX ? 1 : c->next_id + 1;
        if (find_slot(c, id) == SIZE_MAX) {
            return id;
        }
    }
}

static void evict_lru(struct fetch_session_cache *c)
{
    size_t lru = 0;
    for (size_t i = 1; i < c->n; i++) {
        if (c->sessions[i]->last_used_ms < c->sessions[lru]->last_used_ms) {
            lru = i;
        }
    }
    remove_slot(c, lru);
}

/* A new session holding the request's partitions; 0 when none can be kept. */
static int create(struct fetch_session_cache *c, const struct kafka_fetch_request *req,
                  uint64_t now_ms, int32_t *id)
{
    *id = 0;
    if (c->n == (size_t)c->slots) {
        evict_lru(c);
    }
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -ENOMEM;
    }
    strmap_init(&s->index);
    s->id = new_id(c);
    s->epoch = 1;
    s->last_used_ms = now_ms;
    c->sessions[c->n++] = s;
    int rv = apply_request(c, s, req);
    if (rv != 0) {
        remove_slot(c, c->n - 1);
        return rv == -ENOSPC ? 0 : rv; /* too many partitions: no session */
    }
    *id = s->id;
    return 0;
}

int fetch_session_resolve(struct fetch_session_cache *c, struct kafka_fetch_request *req,
                          struct kafka_arena *arena, uint64_t now_ms, struct fetch_session_use *use)
{
    int32_t id = req->session_id, epoch = req->session_epoch;
    memset(use, 0, sizeof *use);
    size_t slot = id != 0 ? find_slot(c, id) : SIZE_MAX;
    if (epoch <= 0) {
        /* -1: close the session (if any) and fetch without one; 0: start
         * a new session, closing the one named. */
        if (slot != SIZE_MAX) {
            remove_slot(c, slot);
        }
        if (epoch == 0 && c->slots > 0) {
            return create(c, req, now_ms, &use->session_id);
        }
        return 0;
    }
    if (slot == SIZE_MAX) {
        use->error = KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND;
        return 0;
    }
    struct session *s = c->sessions[slot];
    if (s->epoch != epoch) {
        use->error = KAFKA_ERROR_INVALID_FETCH_SESSION_EPOCH;
        return 0;
    }
    int rv = apply_request(c, s, req);
    if (rv == 0) {
        rv = expand(s, req, arena);
    }
    if (rv != 0) {
        /* The session no longer matches what the client believes. */
        remove_slot(c, slot);
        use->error = KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND;
        return rv == -ENOSPC ? 0 : rv;
    }
    s->epoch = epoch == INT32_MAX ? 1 : epoch + 1;
    s->last_used_ms = now_ms;
    use->session_id = id;
    use->incremental = true;
    return 0;
}

bool fetch_session_should_send(struct fetch_session_cache *c, int32_t session_id, bool incremental,
                               const char *topic, int32_t partition, int64_t high_watermark,
                               int64_t log_start, int16_t error, bool has_records)
{
    struct session *s = find(c, session_id);
    if (s == NULL) {
        return true;
    }
    char key[300];
    key_of(topic, partition, key, sizeof key);
    struct fs_part *p = strmap_get(&s->index, key);
    if (p == NULL) {
        return true;
    }
    bool send = !incremental || !p->sent || has_records || error != KAFKA_ERROR_NONE ||
                high_watermark != p->sent_hw || log_start != p->sent_log_start ||
                error != p->sent_error;
    if (send) {
        p->sent = true;
        p->sent_hw = high_watermark;
        p->sent_log_start = log_start;
        p->sent_error = error;
    }
    return send;
}
