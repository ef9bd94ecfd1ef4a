#include "controller/liveness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void liveness_init(struct liveness *l, uint64_t session_timeout_ms)
{
    memset(l, 0, sizeof *l);
    l->session_timeout_ms = session_timeout_ms;
}

void liveness_free(struct liveness *l)
{
    free(l->sessions);
    memset(l, 0, sizeof *l);
}

static struct liveness_session *find(const struct liveness *l, int32_t broker_id)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->sessions[i].broker_id == broker_id) {
            return &l->sessions[i];
        }
    }
    return NULL;
}

int liveness_touch(struct liveness *l, int32_t broker_id, int64_t epoch, uint64_t now)
{
    struct liveness_session *s = find(l, broker_id);
    if (s == NULL) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 8;
            struct liveness_session *bigger = realloc(l->sessions, cap * sizeof *bigger);
            if (bigger == NULL) {
                return -ENOMEM;
            }
            l->sessions = bigger;
            l->cap = cap;
        }
        s = &l->sessions[l->n++];
        memset(s, 0, sizeof *s);
        s->broker_id = broker_id;
    }
    if (s->broker_epoch != epoch) {
        s->broker_epoch = epoch;
        l->changes += s->shutting_down;
        s->shutting_down = false;
    }
    s->last_heartbeat = now;
    return 0;
}

void liveness_reset(struct liveness *l, uint64_t now)
{
    for (size_t i = 0; i < l->n; i++) {
        l->sessions[i].last_heartbeat = now;
    }
}

bool liveness_expired(const struct liveness *l, int32_t broker_id, uint64_t now)
{
    const struct liveness_session *s = find(l, broker_id);
    return s == NULL || now - s->last_heartbeat > l->session_timeout_ms;
}

bool liveness_active(const struct liveness *l, int32_t broker_id, int64_t epoch, uint64_t now)
{
    const struct liveness_session *s = find(l, broker_id);
    return s != NULL && s->broker_epoch == epoch &&
           now - s->last_heartbeat <= l->session_timeout_ms;
}

void liveness_set_shutting_down(struct liveness *l, int32_t broker_id)
{
    struct liveness_session *s = find(l, broker_id);
    if (s != NULL) {
        l->changes += !s->shutting_down;
        s->shutting_down = true;
    }
}

bool liveness_shutting_down(const struct liveness *l, int32_t broker_id)
{
    const struct liveness_session *s = find(l, broker_id);
    return s != NULL && s->shutting_down;
}
