/* The metadata state machine, shared by both roles: the cluster metadata
 * image and the deterministic replay of metadata records
 * (proto/metadata.proto). The controller runs it under raft (controller/quorum);
 * a broker replays the controller's stream with it (broker/metadata/broker_session).
 *
 * PURE: no I/O, no clocks, no randomness. Every controller applies the same
 * raft entries in the same order and ends with the same image; brokers may
 * replay the same deltas with this code too. A record that breaks a business
 * rule (topic exists, stale broker epoch, stale partition epoch) is REJECTED:
 * its Kafka error code goes into the result and the image is unchanged by
 * it, but the apply itself succeeds, because a failing raft apply stalls the
 * log forever (see shared/RAFT.md).
 *
 * Offsets: each applied raft entry (one MetadataBatch) advances the metadata
 * offset by one; a broker's epoch is the offset of the batch that registered
 * it (as KRaft uses the record's log offset). The last `max_deltas` batches
 * are kept (accepted records only) so brokers can catch up incrementally.
 *
 * Single-threaded (the loop thread). The struct is caller-owned. */
#ifndef SLUICE_METADATA_FSM_H
#define SLUICE_METADATA_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "common/strmap.h"
#include "metadata/image.h"

typedef Sluice__Metadata__MetadataBatch MetadataBatch;
typedef Sluice__Metadata__MetadataRecord MetadataRecord;

/* One applied batch, as kept for metadata fetches. */
struct fsm_delta {
    int64_t offset;
    uint8_t *bytes; /* the accepted records, as fsm_batch_pack frames them */
    size_t len;
};

/* Outcome of the last apply: per record, a Kafka error code (0 accepted). */
struct fsm_result {
    int64_t offset; /* the batch's metadata offset */
    size_t n;
    int32_t *errors;
    size_t cap;
};

struct fsm {
    MetadataImage *image;
    struct fsm_delta *deltas; /* ring of max_deltas */
    size_t max_deltas, n_deltas, head;
    struct fsm_result result;
    uint64_t undecodable; /* entries that did not decode, applied as no-ops */
    /* The image's topics (TopicState *, owned by the image) by id text and by
     * name, so a record finds its topic without walking them all (issue 14).
     * Not valid (lookups walk the image, as image_find_topic does) after
     * running out of memory, or for an adopted image with duplicate names or
     * ids, which replay never makes. */
    struct strmap topics_by_id, topics_by_name;
    bool index_valid;
};

/* Empty image at offset 0. 0 or -ENOMEM. */
int fsm_init(struct fsm *fsm, size_t max_deltas);
void fsm_close(struct fsm *fsm);

static inline int64_t fsm_offset(const struct fsm *fsm)
{
    return fsm->image->offset;
}

/* Apply one raft entry, a packed MetadataBatch. On 0, *result (borrowed,
 * valid until the next apply) holds the batch's offset and per-record codes.
 * An entry that does not decode is a no-op batch (logged, counted), so the log
 * never stalls. Fails only with -ENOMEM: the image is then unreliable and the
 * caller must stop the process. */
int fsm_apply(struct fsm *fsm, const void *data, size_t len, const struct fsm_result **result);
/* Pack `batch` (caller-owned) as a raft entry (8-byte header, protobuf,
 * padding to a multiple of 8), into memory from `alloc` (raft_malloc for
 * raft; malloc in tests). 0, -ENOMEM. */
int fsm_batch_pack(const MetadataBatch *batch, void *(*alloc)(size_t), void **out, size_t *len);

/* Decode an entry made by fsm_batch_pack (a raft entry or a delta's bytes).
 * NULL if it does not decode; free with
 * sluice__metadata__metadata_batch__free_unpacked(batch, NULL). */
MetadataBatch *fsm_entry_unpack(const void *data, size_t len);
/* The whole image (offset included), framed like an entry, into memory from
 * `alloc`. fsm_restore takes the same form. */
int fsm_snapshot(const struct fsm *fsm, void *(*alloc)(size_t), void **out, size_t *len);
/* Replace the image with a packed one (a snapshot or a full fetch) and drop
 * the deltas. 0, -EBADMSG (does not decode; image unchanged), -ENOMEM. */
int fsm_restore(struct fsm *fsm, const void *data, size_t len);

/* Replace the image with `img` (ownership transferred) and drop the deltas:
 * a broker adopting a full image from the controller. */
void fsm_replace_image(struct fsm *fsm, MetadataImage *img);
/* Call `fn` for each kept delta with offset > after, oldest first, at most
 * `max`. Returns the number visited, -ERANGE when deltas after `after` are no
 * longer kept or `after` is ahead of us (send the image instead), or fn's
 * first non-zero value. */
int fsm_deltas_after(const struct fsm *fsm, int64_t after, size_t max,
                     int (*fn)(const struct fsm_delta *delta, void *arg), void *arg);

/* The image's topic named `name` / with id `id`, or NULL: as
 * image_find_topic and image_find_topic_id, without walking every topic. */
TopicState *fsm_find_topic(const struct fsm *fsm, const char *name);
TopicState *fsm_find_topic_id(const struct fsm *fsm, ProtobufCBinaryData id);

/* Kafka's topic name rule: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
bool fsm_topic_name_valid(const char *name);

#endif
