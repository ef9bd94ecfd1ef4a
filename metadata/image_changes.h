/* What a run of metadata batches may have changed in the image, for a reader
 * that keeps its own view derived from the image (the broker's metadata
 * view, broker/metadata/metadata_quorum.c) and wants to update only what the
 * batches touched: as KRaft's MetadataDelta, applying a delta then costs in
 * proportion to the delta, not to the cluster's size (issue 14).
 *
 * Noted from the records themselves: a record names what it could change,
 * whether or not the fsm accepted it, so the set over-approximates and the
 * reader compares each named item with the image. When the image is replaced
 * whole (a snapshot, a full metadata fetch), or a note cannot be kept for lack
 * of memory, `everything` is set instead: the reader rebuilds from the whole
 * image, as it would from a snapshot.
 *
 * Pure (no I/O), single-threaded; the struct is caller-owned. */
#ifndef SLUICE_METADATA_IMAGE_CHANGES_H
#define SLUICE_METADATA_IMAGE_CHANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metadata/fsm.h"

/* Past this many noted items a whole rebuild is no dearer: `everything`. */
#define IMAGE_CHANGES_MAX 65536

struct image_changed_partition {
    uint8_t topic_id[TOPIC_ID_LEN];
    int32_t partition;
};

struct image_changes {
    bool everything; /* rebuild from the whole image; the lists are then empty */
    bool brokers;    /* a broker registered, or was fenced or unfenced */
    /* Topics created, removed or given partitions (TopicRecord,
     * RemoveTopicRecord, PartitionRecord), by id. */
    uint8_t (*topics)[TOPIC_ID_LEN];
    size_t n_topics, cap_topics;
    /* Partitions whose leader, epochs, replicas or ISR may have changed
     * (PartitionChangeRecord). */
    struct image_changed_partition *partitions;
    size_t n_partitions, cap_partitions;
    /* Topics whose configs may have changed (ConfigRecord), by name. */
    char **config_topics;
    size_t n_config_topics, cap_config_topics;
};

void image_changes_init(struct image_changes *c);
void image_changes_free(struct image_changes *c);
/* Note what the records of `batch` (borrowed) name. Never fails: without
 * memory it sets `everything`. */
void image_changes_note_batch(struct image_changes *c, const MetadataBatch *batch);
/* The image was replaced whole. */
void image_changes_note_everything(struct image_changes *c);
/* Nothing changed since: the reader has applied the set (capacity kept). */
void image_changes_clear(struct image_changes *c);

#endif
