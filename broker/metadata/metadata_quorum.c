/* The metadata view fed by the controller quorum; see metadata_quorum.h.
 *
 * Each refresh rebuilds what changed from the broker's replayed image:
 * brokers and the cluster id are rebuilt whole (few, small); topics are
 * diffed by name and id so the listener hears exactly what changed. A topic
 * whose id changed was deleted and re-created under the same name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata/metadata_quorum_internal.h"
#include "common/log.h"

/* How often waits for a change to become visible are checked. */
#define WAIT_TICK_MS 50

/* ---- topics from the image ---- */

static void topic_free(struct quorum_topic *qt)
{
    if (qt != NULL) {
        topic_config_free(&qt->t.config);
        free(qt->t.partitions);
        free(qt->config_signature);
        free(qt);
    }
}

static void copy_ints(int32_t *out, int32_t *n_out, const int32_t *in, size_t n)
{
    *n_out = n < METADATA_MAX_REPLICAS ? (int32_t)n : METADATA_MAX_REPLICAS;
    if (*n_out > 0) { /* an empty protobuf-c repeated field has a NULL array */
        memcpy(out, in, (size_t)*n_out * sizeof *out);
    }
}

static void partition_from_state(struct metadata_partition *p, int32_t index,
                                 const PartitionState *ps)
{
    memset(p, 0, sizeof *p);
    p->index = index;
    p->leader = -1;
    if (ps == NULL) {
        return; /* a gap in the image: shown offline */
    }
    p->leader = ps->leader;
    p->leader_epoch = ps->leader_epoch;
    p->partition_epoch = ps->partition_epoch;
    copy_ints(p->replicas, &p->n_replicas, ps->replicas, ps->n_replicas);
    copy_ints(p->isr, &p->n_isr, ps->isr, ps->n_isr);
    copy_ints(p->adding, &p->n_adding, ps->adding_replicas, ps->n_adding_replicas);
    copy_ints(p->removing, &p->n_removing, ps->removing_replicas, ps->n_removing_replicas);
}

/* The topic's config entries as one comparable string (malloc'd). */
static char *config_signature(const TopicState *ts)
{
    size_t len = 1;
    for (size_t i = 0; i < ts->n_configs; i++) {
        len += strlen(ts->configs[i]->name) + strlen(ts->configs[i]->value) + 2;
    }
    char *s = malloc(len), *at = s;
    for (size_t i = 0; s != NULL && i < ts->n_configs; i++) {
        at += sprintf(at, "%s=%s\n", ts->configs[i]->name, ts->configs[i]->value);
    }
    if (s != NULL) {
        *at = '\0';
    }
    return s;
}

static int config_from_state(const struct metadata_quorum *q, const TopicState *ts,
                             struct topic_config *tc)
{
    if (topic_config_init(tc, q->cfg) != 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < ts->n_configs; i++) {
        char why[256];
        if (topic_config_set(tc, ts->configs[i]->name, ts->configs[i]->value, why, sizeof why) <
            0) {
            /* The controller validated it; a broker of another version may not know it. */
            log_warn("metadata", "ignoring topic config topic=%s key=%s reason=\"%s\"", ts->name,
                     ts->configs[i]->name, why);
        }
    }
    return 0;
}

static int32_t partition_count(const TopicState *ts)
{
    int32_t n = 0;
    for (size_t i = 0; i < ts->n_partitions; i++) {
        if (ts->partitions[i]->partition >= n && ts->partitions[i]->partition < INT32_MAX) {
            n = ts->partitions[i]->partition + 1;
        }
    }
    return n < METADATA_MAX_PARTITIONS ? n : METADATA_MAX_PARTITIONS;
}

static struct metadata_partition *partitions_from_state(const TopicState *ts, int32_t n)
{
    struct metadata_partition *parts = calloc(n > 0 ? (size_t)n : 1, sizeof *parts);
    for (int32_t i = 0; parts != NULL && i < n; i++) {
        partition_from_state(&parts[i], i, image_find_partition(ts, i));
    }
    return parts;
}

static struct quorum_topic *topic_from_state(const struct metadata_quorum *q, const TopicState *ts)
{
    struct quorum_topic *qt = calloc(1, sizeof *qt);
    if (qt == NULL) {
        return NULL;
    }
    snprintf(qt->t.name, sizeof qt->t.name, "%s", ts->name);
    if (ts->topic_id.len == sizeof qt->t.id) {
        memcpy(qt->t.id, ts->topic_id.data, sizeof qt->t.id);
    }
    qt->t.n_partitions = partition_count(ts);
    qt->t.partitions = partitions_from_state(ts, qt->t.n_partitions);
    qt->config_signature = config_signature(ts);
    if (qt->t.partitions == NULL || qt->config_signature == NULL ||
        config_from_state(q, ts, &qt->t.config) != 0) {
        free(qt->t.partitions);
        free(qt->config_signature);
        free(qt);
        return NULL;
    }
    return qt;
}

/* ---- diffing ---- */

static bool partitions_equal(const struct metadata_partition *a, const struct metadata_partition *b)
{
    return a->leader == b->leader && a->leader_epoch == b->leader_epoch &&
           a->partition_epoch == b->partition_epoch && a->n_replicas == b->n_replicas &&
           a->n_isr == b->n_isr &&
           memcmp(a->replicas, b->replicas, (size_t)a->n_replicas * sizeof *a->replicas) == 0 &&
           memcmp(a->isr, b->isr, (size_t)a->n_isr * sizeof *a->isr) == 0 &&
           a->n_adding == b->n_adding && a->n_removing == b->n_removing &&
           memcmp(a->adding, b->adding, (size_t)a->n_adding * sizeof *a->adding) == 0 &&
           memcmp(a->removing, b->removing, (size_t)a->n_removing * sizeof *a->removing) == 0;
}

/* Replace `old`'s contents with `next`'s (then freed) and say what changed. */
static void topic_update(struct metadata_quorum *q, struct quorum_topic *old,
                         struct quorum_topic *next)
{
    int32_t old_count = old->t.n_partitions;
    bool changed = false;
    for (int32_t i = 0; i < old_count && i < next->t.n_partitions; i++) {
        changed |= !partitions_equal(&old->t.partitions[i], &next->t.partitions[i]);
    }
    bool config_changed = strcmp(old->config_signature, next->config_signature) != 0;
    struct quorum_topic swap = *old;
    *old = *next;
    *next = swap;
    topic_free(next);
    const struct metadata_listener *l = &q->listener;
    if (old->t.n_partitions > old_count && l->partitions_added != NULL) {
        l->partitions_added(l->data, &old->t, old_count);
    }
    if (changed && l->partitions_changed != NULL) {
        l->partitions_changed(l->data, &old->t);
    }
    if (config_changed && l->config_changed != NULL) {
        l->config_changed(l->data, &old->t);
    }
}

static void topic_remove(struct metadata_quorum *q, const char *name)
{
    struct quorum_topic *qt = strmap_remove(&q->topics, name);
    if (qt == NULL) {
        return;
    }
    log_info("metadata", "topic removed from the view topic=%s", qt->t.name);
    if (q->listener.topic_deleted != NULL) {
        q->listener.topic_deleted(q->listener.data, &qt->t);
    }
    topic_free(qt);
}

/* Topics shown but gone from the image, or re-created with another id. */
static int remove_stale_topics(struct metadata_quorum *q, const MetadataImage *img)
{
    size_t n = q->topics.count, k = 0, b;
    char **stale = calloc(n ? n : 1, sizeof *stale);
    if (stale == NULL) {
        return -ENOMEM;
    }
    for (struct strmap_entry *e = strmap_first(&q->topics, &b); e;
         e = strmap_next(&q->topics, e, &b)) {
        const struct quorum_topic *qt = e->value;
        const TopicState *ts = image_find_topic(img, qt->t.name);
        if (ts == NULL || ts->topic_id.len != 16 || memcmp(ts->topic_id.data, qt->t.id, 16) != 0) {
            stale[k++] = strdup(e->key); /* keys belong to the map */
        }
    }
    int rv = 0;
    for (size_t i = 0; i < k; i++) {
        if (stale[i] == NULL) {
            rv = -ENOMEM;
            continue;
        }
        topic_remove(q, stale[i]);
        free(stale[i]);
    }
    free(stale);
    return rv;
}

static int apply_topic(struct metadata_quorum *q, const TopicState *ts)
{
    if (topic_name_reserved(ts->name)) {
        return 0; /* never hosted: its directory is the controller's (topic_name.h) */
    }
    struct quorum_topic *next = topic_from_state(q, ts);
    if (next == NULL) {
        return -ENOMEM;
    }
    struct quorum_topic *old = strmap_get(&q->topics, ts->name);
    if (old != NULL) {
        topic_update(q, old, next);
        return 0;
    }
    if (strmap_put(&q->topics, next->t.name, next) != 0) {
        topic_free(next);
        return -ENOMEM;
    }
    log_info("metadata", "topic added to the view topic=%s partitions=%d", next->t.name,
             next->t.n_partitions);
    if (q->listener.topic_created != NULL) {
        q->listener.topic_created(q->listener.data, &next->t);
    }
    return 0;
}

/* ---- brokers ---- */

static void broker_from_state(struct quorum_broker *qb, const BrokerState *bs)
{
    memset(qb, 0, sizeof *qb);
    qb->b.node_id = bs->broker_id;
    snprintf(qb->rack, sizeof qb->rack, "%s", bs->rack != NULL ? bs->rack : "");
    for (size_t i = 0; i < bs->n_endpoints && qb->b.n_endpoints < LISTENER_MAX; i++) {
        const Endpoint *e = bs->endpoints[i];
        struct metadata_endpoint *ep = &qb->b.endpoints[qb->b.n_endpoints++];
        snprintf(ep->listener, sizeof ep->listener, "%s", e->name);
        snprintf(ep->host, sizeof ep->host, "%s", e->host);
        ep->port = (uint16_t)e->port;
    }
}

/* Only unfenced brokers are shown: a fenced one leads nothing and clients
 * should not be sent to it (KIP-631). */
static int rebuild_brokers(struct metadata_quorum *q, const MetadataImage *img)
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
    free(q->brokers);
    q->brokers = brokers;
    q->n_brokers = n;
    return 0;
}

/* ---- refresh, lifecycle ---- */

static int apply_image(struct metadata_quorum *q, const MetadataImage *img)
{
    snprintf(q->cluster_id, sizeof q->cluster_id, "%s", img->cluster_id ? img->cluster_id : "");
    q->offset = img->offset;
    int rv = rebuild_brokers(q, img);
    if (rv == 0) {
        rv = remove_stale_topics(q, img);
    }
    for (size_t i = 0; rv == 0 && i < img->n_topics; i++) {
        rv = apply_topic(q, img->topics[i]);
    }
    return rv;
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
    if (apply_image(q, img) != 0) {
        /* The next refresh retries from the whole image. */
        log_error("metadata", "out of memory applying metadata offset=%lld",
                  (long long)img->offset);
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
    const MetadataImage *img = src->image(src->data);
    if ((img != NULL && apply_image(q, img) != 0) || metadata_view_wrap_quorum(out, q) != 0) {
        metadata_quorum_close(q);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    uv_timer_init(loop, &q->timer);
    q->timer.data = q;
    uv_timer_start(&q->timer, on_tick, WAIT_TICK_MS, WAIT_TICK_MS);
    return 0;
}

static void free_view(struct metadata_quorum *q)
{
    size_t b;
    for (struct strmap_entry *e = strmap_first(&q->topics, &b); e;
         e = strmap_next(&q->topics, e, &b)) {
        topic_free(e->value);
    }
    strmap_free(&q->topics);
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
