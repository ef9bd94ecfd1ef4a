/* Offline replicas per broker; see offline_replicas.h. */
#include "controller/offline_replicas.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void offline_replicas_init(struct offline_replicas *o)
{
    memset(o, 0, sizeof *o);
}

void offline_replicas_free(struct offline_replicas *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->brokers[i].replicas);
    }
    free(o->brokers);
    memset(o, 0, sizeof *o);
}

static struct offline_broker *find(const struct offline_replicas *o, int32_t broker_id)
{
    for (size_t i = 0; i < o->n; i++) {
        if (o->brokers[i].broker_id == broker_id) {
            return &o->brokers[i];
        }
    }
    return NULL;
}

int offline_replicas_set(struct offline_replicas *o, int32_t broker_id, int64_t broker_epoch,
                         const struct offline_replica *replicas, size_t n)
{
    struct offline_broker *b = find(o, broker_id);
    if (b == NULL && n == 0) {
        return 0;
    }
    /* Every heartbeat repeats the set: an unchanged one is not a change. */
    if (b != NULL && b->broker_epoch == broker_epoch && b->n == n &&
        (n == 0 || memcmp(b->replicas, replicas, n * sizeof *replicas) == 0)) {
        return 0;
    }
    o->changes++;
    struct offline_replica *copy = NULL;
    if (n > 0) {
        if ((copy = malloc(n * sizeof *copy)) == NULL) {
            return -ENOMEM;
        }
        memcpy(copy, replicas, n * sizeof *copy);
    }
    if (b == NULL) {
        if (o->n == o->cap) {
            size_t cap = o->cap ? 2 * o->cap : 4;
            struct offline_broker *bs = realloc(o->brokers, cap * sizeof *bs);
            if (bs == NULL) {
                free(copy);
                return -ENOMEM;
            }
            o->brokers = bs;
            o->cap = cap;
        }
        b = &o->brokers[o->n++];
        b->broker_id = broker_id;
        b->replicas = NULL;
    }
    free(b->replicas);
    b->broker_epoch = broker_epoch;
    b->replicas = copy;
    b->n = n;
    return 0;
}

const struct offline_broker *offline_replicas_of(const struct offline_replicas *o,
                                                 int32_t broker_id, int64_t broker_epoch)
{
    const struct offline_broker *b = find(o, broker_id);
    return b != NULL && b->broker_epoch == broker_epoch && b->n > 0 ? b : NULL;
}

bool offline_replicas_has(const struct offline_replicas *o, int32_t broker_id, int64_t broker_epoch,
                          const uint8_t topic_id[16], int32_t partition)
{
    const struct offline_broker *b = offline_replicas_of(o, broker_id, broker_epoch);
    for (size_t i = 0; b != NULL && i < b->n; i++) {
        if (b->replicas[i].partition == partition &&
            memcmp(b->replicas[i].topic_id, topic_id, 16) == 0) {
            return true;
        }
    }
    return false;
}
