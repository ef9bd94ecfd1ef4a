/* What metadata batches touched; see image_changes.h. */
#include "metadata/image_changes.h"

#include <stdlib.h>
#include <string.h>

void image_changes_init(struct image_changes *c)
{
    memset(c, 0, sizeof *c);
}

static void free_config_topics(struct image_changes *c)
{
    for (size_t i = 0; i < c->n_config_topics; i++) {
        free(c->config_topics[i]);
    }
    c->n_config_topics = 0;
}

void image_changes_free(struct image_changes *c)
{
    free_config_topics(c);
    free(c->topics);
    free(c->partitions);
    free(c->config_topics);
    memset(c, 0, sizeof *c);
}

void image_changes_clear(struct image_changes *c)
{
    free_config_topics(c);
    c->everything = false;
    c->brokers = false;
    c->n_topics = 0;
    c->n_partitions = 0;
}

void image_changes_note_everything(struct image_changes *c)
{
    image_changes_clear(c);
    c->everything = true;
}

/* Room for one more of `size` bytes in `*items`; false when it is full or
 * memory ran out (the caller then notes everything). */
static bool reserve(void **items, size_t n, size_t *cap, size_t size)
{
    if (n < *cap) {
        return true;
    }
    if (n >= IMAGE_CHANGES_MAX) {
        return false;
    }
    size_t bigger = *cap ? 2 * *cap : 16;
    void *grown = realloc(*items, bigger * size);
    if (grown == NULL) {
        return false;
    }
    *items = grown;
    *cap = bigger;
    return true;
}

static bool note_topic(struct image_changes *c, ProtobufCBinaryData id)
{
    if (id.len != TOPIC_ID_LEN) {
        return true; /* names no topic: the fsm rejects it */
    }
    /* A topic's creation is one TopicRecord and a PartitionRecord per
     * partition, in a row: one entry for them all. */
    if (c->n_topics > 0 && memcmp(c->topics[c->n_topics - 1], id.data, TOPIC_ID_LEN) == 0) {
        return true;
    }
    if (!reserve((void **)&c->topics, c->n_topics, &c->cap_topics, sizeof *c->topics)) {
        return false;
    }
    memcpy(c->topics[c->n_topics++], id.data, TOPIC_ID_LEN);
    return true;
}

static bool note_partition(struct image_changes *c, ProtobufCBinaryData id, int32_t partition)
{
    if (id.len != TOPIC_ID_LEN) {
        return true;
    }
    if (!reserve((void **)&c->partitions, c->n_partitions, &c->cap_partitions,
                 sizeof *c->partitions)) {
        return false;
    }
    struct image_changed_partition *p = &c->partitions[c->n_partitions++];
    memcpy(p->topic_id, id.data, TOPIC_ID_LEN);
    p->partition = partition;
    return true;
}

/* Kafka's ConfigResource type of a topic. */
#define RESOURCE_TOPIC 2

static bool note_config(struct image_changes *c, const Sluice__Metadata__ConfigRecord *r)
{
    if (r->resource_type != RESOURCE_TOPIC) {
        return true; /* broker configs are read from the image itself */
    }
    if (!reserve((void **)&c->config_topics, c->n_config_topics, &c->cap_config_topics,
                 sizeof *c->config_topics)) {
        return false;
    }
    char *name = strdup(r->resource_name != NULL ? r->resource_name : "");
    if (name == NULL) {
        return false;
    }
    c->config_topics[c->n_config_topics++] = name;
    return true;
}

/* False when the note could not be kept. Records the view does not derive
 * anything from (producer ids, SCRAM, ACLs) are read from the image itself. */
static bool note_record(struct image_changes *c, const MetadataRecord *r)
{
    switch (r->record_case) {
    case SLUICE__METADATA__METADATA_RECORD__RECORD_REGISTER_BROKER:
    case SLUICE__METADATA__METADATA_RECORD__RECORD_FENCE_BROKER:
    case SLUICE__METADATA__METADATA_RECORD__RECORD_UNFENCE_BROKER:
        c->brokers = true;
        return true;
    case SLUICE__METADATA__METADATA_RECORD__RECORD_TOPIC:
        return note_topic(c, r->topic->topic_id);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION:
        return note_topic(c, r->partition->topic_id);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_REMOVE_TOPIC:
        return note_topic(c, r->remove_topic->topic_id);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_PARTITION_CHANGE:
        return note_partition(c, r->partition_change->topic_id, r->partition_change->partition);
    case SLUICE__METADATA__METADATA_RECORD__RECORD_CONFIG:
        return note_config(c, r->config);
    default:
        return true;
    }
}

void image_changes_note_batch(struct image_changes *c, const MetadataBatch *batch)
{
    for (size_t i = 0; !c->everything && i < batch->n_records; i++) {
        if (!note_record(c, batch->records[i])) {
            image_changes_note_everything(c);
        }
    }
}
