/* The quorum-fed view's topics, kept in step with the broker's replayed
 * image; see metadata_quorum_internal.h.
 *
 * Two ways in. A whole image (the view opening, a snapshot or full metadata
 * fetch adopted, or a source that does not say what changed) is compared
 * topic by topic and partition by partition. A run of deltas
 * (image_changes) touches only what its records name: the topics created,
 * removed or grown, the partitions changed, the topics whose configs
 * changed, so applying an ISR change costs the same with 10 partitions as
 * with 10,000 (issue 14). Either way the listener hears exactly what
 * changed, partition by partition; a topic whose id changed was deleted and
 * re-created under the same name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata/metadata_quorum_internal.h"
#include "common/log.h"

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
    image_topic_id_format((ProtobufCBinaryData){sizeof qt->t.id, qt->t.id}, qt->id_key);
    qt->t.n_partitions = partition_count(ts);
    qt->t.partitions =
        calloc(qt->t.n_partitions > 0 ? (size_t)qt->t.n_partitions : 1, sizeof *qt->t.partitions);
    for (int32_t i = 0; qt->t.partitions != NULL && i < qt->t.n_partitions; i++) {
        partition_from_state(&qt->t.partitions[i], i, image_find_partition(ts, i));
    }
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

/* ---- the view's topics, by name and by id ---- */

static struct quorum_topic *topic_by_id(const struct metadata_quorum *q, ProtobufCBinaryData id)
{
    char key[24];
    if (id.len != TOPIC_ID_LEN) {
        return NULL;
    }
    image_topic_id_format(id, key);
    return strmap_get(&q->topic_ids, key);
}

static void topic_remove(struct metadata_quorum *q, struct quorum_topic *qt)
{
    strmap_remove(&q->topics, qt->t.name);
    strmap_remove(&q->topic_ids, qt->id_key);
    log_info("metadata", "topic removed from the view topic=%s", qt->t.name);
    if (q->listener.topic_deleted != NULL) {
        q->listener.topic_deleted(q->listener.data, &qt->t);
    }
    topic_free(qt);
}

static int topic_create(struct metadata_quorum *q, const TopicState *ts)
{
    struct quorum_topic *qt = topic_from_state(q, ts);
    if (qt == NULL) {
        return -ENOMEM;
    }
    if (strmap_put(&q->topics, qt->t.name, qt) != 0) {
        topic_free(qt);
        return -ENOMEM;
    }
    if (strmap_put(&q->topic_ids, qt->id_key, qt) != 0) {
        strmap_remove(&q->topics, qt->t.name);
        topic_free(qt);
        return -ENOMEM;
    }
    qt->seen = q->generation;
    log_info("metadata", "topic added to the view topic=%s partitions=%d", qt->t.name,
             qt->t.n_partitions);
    if (q->listener.topic_created != NULL) {
        q->listener.topic_created(q->listener.data, &qt->t);
    }
    return 0;
}

void quorum_topics_free(struct metadata_quorum *q)
{
    size_t b;
    for (struct strmap_entry *e = strmap_first(&q->topics, &b); e;
         e = strmap_next(&q->topics, e, &b)) {
        topic_free(e->value);
    }
    strmap_free(&q->topics);
    strmap_free(&q->topic_ids);
}

/* ---- one topic's changes ---- */

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

/* Partition `i` (shown already) as the image has it now. */
static void partition_update(struct metadata_quorum *q, struct quorum_topic *qt, int32_t i,
                             const TopicState *ts)
{
    struct metadata_partition next;
    partition_from_state(&next, i, image_find_partition(ts, i));
    if (partitions_equal(&qt->t.partitions[i], &next)) {
        return;
    }
    qt->t.partitions[i] = next;
    if (q->listener.partition_changed != NULL) {
        q->listener.partition_changed(q->listener.data, &qt->t, i);
    }
}

/* Partitions the image added to a shown topic (they are never removed). */
static int topic_grow(struct metadata_quorum *q, struct quorum_topic *qt, const TopicState *ts)
{
    int32_t old = qt->t.n_partitions, n = partition_count(ts);
    if (n <= old) {
        return 0;
    }
    struct metadata_partition *parts = realloc(qt->t.partitions, (size_t)n * sizeof *parts);
    if (parts == NULL) {
        return -ENOMEM;
    }
    for (int32_t i = old; i < n; i++) {
        partition_from_state(&parts[i], i, image_find_partition(ts, i));
    }
    qt->t.partitions = parts;
    qt->t.n_partitions = n;
    if (q->listener.partitions_added != NULL) {
        q->listener.partitions_added(q->listener.data, &qt->t, old);
    }
    return 0;
}

static int topic_update_config(struct metadata_quorum *q, struct quorum_topic *qt,
                               const TopicState *ts)
{
    char *signature = config_signature(ts);
    if (signature == NULL) {
        return -ENOMEM;
    }
    if (strcmp(signature, qt->config_signature) == 0) {
        free(signature);
        return 0;
    }
    struct topic_config config;
    if (config_from_state(q, ts, &config) != 0) {
        free(signature);
        return -ENOMEM;
    }
    topic_config_free(&qt->t.config);
    qt->t.config = config;
    free(qt->config_signature);
    qt->config_signature = signature;
    if (q->listener.config_changed != NULL) {
        q->listener.config_changed(q->listener.data, &qt->t);
    }
    return 0;
}

/* ---- a whole image ---- */

static bool same_id(const struct quorum_topic *qt, const TopicState *ts)
{
    return ts->topic_id.len == TOPIC_ID_LEN && memcmp(ts->topic_id.data, qt->t.id, 16) == 0;
}

/* Topics shown but gone from the image, or re-created with another id. */
static int remove_stale_topics(struct metadata_quorum *q, const MetadataImage *img)
{
    q->generation++;
    for (size_t i = 0; i < img->n_topics; i++) {
        struct quorum_topic *qt = strmap_get(&q->topics, img->topics[i]->name);
        if (qt != NULL && same_id(qt, img->topics[i]) &&
            !topic_name_reserved(img->topics[i]->name)) {
            qt->seen = q->generation;
        }
    }
    size_t n = 0, b;
    struct quorum_topic **stale = calloc(q->topics.count ? q->topics.count : 1, sizeof *stale);
    if (stale == NULL) {
        return -ENOMEM;
    }
    for (struct strmap_entry *e = strmap_first(&q->topics, &b); e;
         e = strmap_next(&q->topics, e, &b)) {
        struct quorum_topic *qt = e->value;
        if (qt->seen != q->generation) {
            stale[n++] = qt; /* removed after the walk: the map must not change during it */
        }
    }
    for (size_t i = 0; i < n; i++) {
        topic_remove(q, stale[i]);
    }
    free(stale);
    return 0;
}

static int apply_topic(struct metadata_quorum *q, const TopicState *ts)
{
    if (topic_name_reserved(ts->name)) {
        return 0; /* never hosted: its directory is the controller's (topic_name.h) */
    }
    struct quorum_topic *qt = strmap_get(&q->topics, ts->name);
    if (qt == NULL) {
        return topic_create(q, ts);
    }
    for (int32_t i = 0; i < qt->t.n_partitions; i++) {
        partition_update(q, qt, i, ts);
    }
    int rv = topic_grow(q, qt, ts);
    return rv == 0 ? topic_update_config(q, qt, ts) : rv;
}

int quorum_topics_apply_image(struct metadata_quorum *q, const MetadataImage *img)
{
    int rv = remove_stale_topics(q, img);
    for (size_t i = 0; rv == 0 && i < img->n_topics; i++) {
        rv = apply_topic(q, img->topics[i]);
    }
    return rv;
}

/* ---- only what changed ---- */

/* The image's topic `id`, through the source's index when it has one.
 * Changes come in runs of the same topic (a creation, a broker's partitions
 * moved at once), so the last one found is tried first. */
struct topic_lookup {
    const struct metadata_quorum *q;
    const MetadataImage *img;
    const uint8_t *id;
    const TopicState *ts;
};

static const TopicState *image_topic(struct topic_lookup *l, const uint8_t id[TOPIC_ID_LEN])
{
    if (l->id == NULL || memcmp(l->id, id, TOPIC_ID_LEN) != 0) {
        ProtobufCBinaryData key = {TOPIC_ID_LEN, (uint8_t *)id};
        l->id = id;
        l->ts = l->q->src.find_topic_id != NULL ? l->q->src.find_topic_id(l->q->src.data, key)
                                                : image_find_topic_id(l->img, key);
    }
    return l->ts;
}

/* A topic created, removed or grown. */
static int sync_topic(struct metadata_quorum *q, struct topic_lookup *l,
                      const uint8_t id[TOPIC_ID_LEN])
{
    const TopicState *ts = image_topic(l, id);
    struct quorum_topic *shown = topic_by_id(q, (ProtobufCBinaryData){TOPIC_ID_LEN, (uint8_t *)id});
    if (ts == NULL || topic_name_reserved(ts->name)) {
        if (shown != NULL) {
            topic_remove(q, shown);
        }
        return 0;
    }
    if (shown != NULL) {
        return topic_grow(q, shown, ts);
    }
    struct quorum_topic *same_name = strmap_get(&q->topics, ts->name);
    if (same_name != NULL) {
        topic_remove(q, same_name); /* re-created under its name */
    }
    return topic_create(q, ts);
}

static void sync_partition(struct metadata_quorum *q, struct topic_lookup *l,
                           const struct image_changed_partition *cp)
{
    struct quorum_topic *shown =
        topic_by_id(q, (ProtobufCBinaryData){TOPIC_ID_LEN, (uint8_t *)cp->topic_id});
    const TopicState *ts = shown != NULL ? image_topic(l, cp->topic_id) : NULL;
    if (ts != NULL && cp->partition >= 0 && cp->partition < shown->t.n_partitions) {
        partition_update(q, shown, cp->partition, ts);
    }
}

static int sync_config(struct metadata_quorum *q, const MetadataImage *img, const char *name)
{
    struct quorum_topic *qt = strmap_get(&q->topics, name);
    const TopicState *ts = qt != NULL ? image_find_topic(img, name) : NULL;
    return ts != NULL && same_id(qt, ts) ? topic_update_config(q, qt, ts) : 0;
}

int quorum_topics_apply_changes(struct metadata_quorum *q, const MetadataImage *img,
                                const struct image_changes *ch)
{
    struct topic_lookup l = {q, img, NULL, NULL};
    int rv = 0;
    /* Topics first: a partition changed in a topic created or grown in the
     * same run is shown once its topic is. */
    for (size_t i = 0; rv == 0 && i < ch->n_topics; i++) {
        rv = sync_topic(q, &l, ch->topics[i]);
    }
    for (size_t i = 0; rv == 0 && i < ch->n_partitions; i++) {
        sync_partition(q, &l, &ch->partitions[i]);
    }
    for (size_t i = 0; rv == 0 && i < ch->n_config_topics; i++) {
        rv = sync_config(q, img, ch->config_topics[i]);
    }
    return rv;
}
