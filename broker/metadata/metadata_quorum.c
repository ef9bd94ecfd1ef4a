/* The metadata view fed by the controller quorum; see metadata_quorum.h.
 *
 * Each refresh brings the view up to date with the broker's replayed image:
 * brokers and the cluster id are rebuilt whole (few, small) when a broker
 * record came; topics (metadata_quorum_topics.c) are updated where the
 * source's changes say, or compared whole when it replaced its image. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata/metadata_quorum_internal.h"
#include "common/log.h"

/* How often waits for a change to become visible are checked. */
#define WAIT_TICK_MS 50

/* ---- brokers ---- */

static void broker_from_state(struct quorum_broker *qb, const BrokerState *bs)
{
    memset(qb, 0, sizeof *qb);
    qb->b.node_id = bs->broker_id;
    qb->b.epoch = bs->broker_epoch;
    snprintf(qb->rack, sizeof qb->rack, "%s", bs->rack != NULL ? bs->rack : "");
    for (size_t i = 0; i < bs->n_endpoints && qb->b.n_endpoints < LISTENER_MAX; i++) {
        const Endpoint *e = bs->endpoints[i];
        struct metadata_endpoint *ep = &qb->b.endpoints[qb->b.n_endpoints++];
        snprintf(ep->listener, sizeof ep->listener, "%s", e->name);
        snprintf(ep->host, sizeof ep->host, "%s", e->host);
        ep->port = (uint16_t)e->port;
    }
}

static bool shows_broker(const struct quorum_broker *brokers, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (brokers[i].b.node_id == id) {
            return true;
        }
    }
    return false;
}

/* Tell the listener which brokers appeared or went since `old` (the list
 * shown before the update, `n_old` of them). */
static void notify_brokers_changed(struct metadata_quorum *q, const struct quorum_broker *old,
                                   size_t n_old)
{
    if (q->listener.brokers_changed == NULL) {
        return;
    }
    int32_t *ids = malloc((n_old + q->n_brokers + 1) * sizeof *ids);
    size_t n = 0;
    for (size_t i = 0; ids != NULL && i < n_old; i++) {
        if (!shows_broker(q->brokers, q->n_brokers, old[i].b.node_id)) {
            ids[n++] = old[i].b.node_id;
        }
    }
    for (size_t i = 0; ids != NULL && i < q->n_brokers; i++) {
        if (!shows_broker(old, n_old, q->brokers[i].b.node_id)) {
            ids[n++] = q->brokers[i].b.node_id;
        }
    }
    if (ids == NULL || n > 0) {
        q->listener.brokers_changed(q->listener.data, ids, n);
    }
    free(ids);
}

/* Only unfenced brokers are shown: a fenced one leads nothing and clients
 * should not be sent to it (KIP-631). The list shown before goes to `old`
 * (the caller frees it). */
static int rebuild_brokers(struct metadata_quorum *q, const MetadataImage *img,
                           struct quorum_broker **old, size_t *n_old)
{
    struct quorum_broker *brokers = calloc(img->n_brokers ? img->n_brokers : 1, sizeof *brokers);
    if (brokers == NULL) {
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < img->n_brokers; i++) {
        if (!img->brokers[i]->fenced) {
            broker_from_state(&brokers[n++], img->brokers[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        brokers[i].b.rack = brokers[i].rack[0] != '\0' ? brokers[i].rack : NULL;
    }
    *old = q->brokers;
    *n_old = q->n_brokers;
    q->brokers = brokers;
    q->n_brokers = n;
    return 0;
}

/* ---- refresh, lifecycle ---- */

static int apply_image(struct metadata_quorum *q, const MetadataImage *img,
                       const struct image_changes *changes)
{
    snprintf(q->cluster_id, sizeof q->cluster_id, "%s", img->cluster_id ? img->cluster_id : "");
    q->offset = img->offset;
    bool whole = changes == NULL || changes->everything;
    struct quorum_broker *old = NULL;
    size_t n_old = 0;
    bool rebuilt = false;
    int rv = 0;
    if (whole || changes->brokers) {
        rv = rebuild_brokers(q, img, &old, &n_old);
        rebuilt = rv == 0;
    }
    if (rv == 0) {
        rv = whole ? quorum_topics_apply_image(q, img)
                   : quorum_topics_apply_changes(q, img, changes);
    }
    if (rebuilt) {
        /* After the topics: a listener re-checking what a broker's
         * liveness decides sees the partitions of the same update. */
        notify_brokers_changed(q, old, n_old);
    }
    free(old);
    return rv;
}

static struct image_changes *source_changes(const struct metadata_quorum *q)
{
    return q->src.changes != NULL ? q->src.changes(q->src.data) : NULL;
}

void metadata_quorum_refresh(struct metadata_view *v)
{
    struct metadata_quorum *q = v->quorum;
    if (q == NULL) {
        return;
    }
    const MetadataImage *img = q->src.image(q->src.data);
    if (img == NULL) {
        return;
    }
    struct image_changes *changes = source_changes(q);
    if (apply_image(q, img, changes) != 0) {
        /* The next refresh retries from the whole image. */
        log_error("metadata", "out of memory applying metadata offset=%lld",
                  (long long)img->offset);
        if (changes != NULL) {
            image_changes_note_everything(changes);
        }
    } else if (changes != NULL) {
        image_changes_clear(changes);
    }
    quorum_ops_check(q, false);
}

static void on_tick(uv_timer_t *timer)
{
    quorum_ops_check(timer->data, true);
}

int metadata_quorum_open(struct metadata_view **out, uv_loop_t *loop,
                         const struct sluice_config *cfg, const struct metadata_quorum_source *src,
                         char *err, size_t errlen)
{
    struct metadata_quorum *q = calloc(1, sizeof *q);
    if (q == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    q->loop = loop;
    q->cfg = cfg;
    q->src = *src;
    q->self = cfg->node_id;
    strmap_init(&q->topics);
    strmap_init(&q->topic_ids);
    const MetadataImage *img = src->image(src->data);
    if ((img != NULL && apply_image(q, img, NULL) != 0) || metadata_view_wrap_quorum(out, q) != 0) {
        metadata_quorum_close(q);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    uv_timer_init(loop, &q->timer);
    q->timer.data = q;
    uv_timer_start(&q->timer, on_tick, WAIT_TICK_MS, WAIT_TICK_MS);
    if (img != NULL && source_changes(q) != NULL) {
        image_changes_clear(source_changes(q)); /* what the view opened with */
    }
    return 0;
}

static void free_view(struct metadata_quorum *q)
{
    quorum_topics_free(q);
    free(q->brokers);
    free(q);
}

static void on_timer_closed(uv_handle_t *h)
{
    free_view(h->data);
}

void metadata_quorum_close(struct metadata_quorum *q)
{
    quorum_ops_detach_all(q);
    quorum_producer_ids_detach(q);
    if (q->timer.data == q) {
        uv_close((uv_handle_t *)&q->timer, on_timer_closed);
    } else {
        free_view(q); /* the timer was never started */
    }
}

void metadata_quorum_set_listener(struct metadata_quorum *q, const struct metadata_listener *l)
{
    q->listener = *l;
}

/* ---- reads ---- */

const char *metadata_quorum_cluster_id(const struct metadata_quorum *q)
{
    return q->cluster_id;
}

/* Any broker forwards admin requests (KIP-590), so any live one may be
 * named. This broker names itself, the one broker the client surely reaches
 * (it is reading this answer), but only once its own view shows it
 * unfenced: a controller_id missing from the brokers list leaves
 * librdkafka's admin client waiting for it forever. Until then, the lowest
 * unfenced broker. (Naming one fixed broker everywhere is worse: clients
 * cache it and keep waiting when it stops.) */
int32_t metadata_quorum_controller_id(const struct metadata_quorum *q)
{
    for (size_t i = 0; i < q->n_brokers; i++) {
        if (q->brokers[i].b.node_id == q->self) {
            return q->self;
        }
    }
    return q->n_brokers > 0 ? q->brokers[0].b.node_id : q->self;
}

int32_t metadata_quorum_local_node(const struct metadata_quorum *q)
{
    return q->self;
}

size_t metadata_quorum_broker_count(const struct metadata_quorum *q)
{
    return q->n_brokers;
}

const struct metadata_broker *metadata_quorum_broker(const struct metadata_quorum *q, size_t i)
{
    return i < q->n_brokers ? &q->brokers[i].b : NULL;
}

const struct metadata_topic *metadata_quorum_topic(const struct metadata_quorum *q,
                                                   const char *name)
{
    const struct quorum_topic *qt = strmap_get(&q->topics, name);
    return qt != NULL ? &qt->t : NULL;
}

size_t metadata_quorum_topic_count(const struct metadata_quorum *q)
{
    return q->topics.count;
}

static int compare_topics(const void *a, const void *b)
{
    const struct metadata_topic *x = *(const struct metadata_topic *const *)a;
    const struct metadata_topic *y = *(const struct metadata_topic *const *)b;
    return strcmp(x->name, y->name);
}

size_t metadata_quorum_topics(const struct metadata_quorum *q, const struct metadata_topic **out,
                              size_t max)
{
    size_t n = 0, b;
    for (struct strmap_entry *e = strmap_first(&q->topics, &b); e && n < max;
         e = strmap_next(&q->topics, e, &b)) {
        out[n++] = &((const struct quorum_topic *)e->value)->t;
    }
    if (n > 1) {
        qsort(out, n, sizeof *out, compare_topics);
    }
    return n;
}
