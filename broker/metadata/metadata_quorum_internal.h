/* Internal to metadata_quorum*.c: the quorum-fed view's state, shared by
 * the image replay (metadata_quorum.c, its topics in
 * metadata_quorum_topics.c) and admin forwarding (metadata_quorum_admin.c). */
#ifndef SLUICE_BROKER_METADATA_METADATA_QUORUM_INTERNAL_H
#define SLUICE_BROKER_METADATA_METADATA_QUORUM_INTERNAL_H

#include "broker/metadata/metadata_impl.h"
#include "broker/metadata/metadata_quorum.h"
#include "common/strmap.h"
#include "metadata/image_changes.h"

struct quorum_broker {
    struct metadata_broker b;
    char rack[256];
};

/* A topic as shown: the public struct first, then what diffs need. */
struct quorum_topic {
    struct metadata_topic t;
    char *config_signature; /* "key=value\n"... as in the image, owned */
    char id_key[24];        /* the id as text: the key in the view's id map */
    uint64_t seen;          /* the generation of the last whole image that had it */
};

struct quorum_op;           /* metadata_quorum_admin.c */
struct producer_id_request; /* producer_ids.c */

struct metadata_quorum {
    uv_loop_t *loop;
    const struct sluice_config *cfg;
    struct metadata_quorum_source src;
    int32_t self;
    char cluster_id[64];
    int64_t offset;                /* of the image last shown */
    struct quorum_broker *brokers; /* unfenced, by id */
    size_t n_brokers;
    struct strmap topics;    /* name -> struct quorum_topic * */
    struct strmap topic_ids; /* id_key -> the same topics */
    uint64_t generation;     /* of whole images applied (quorum_topic.seen) */
    struct metadata_listener listener;
    struct quorum_op *ops; /* admin requests in flight or waiting to be visible */
    uv_timer_t timer;      /* expires waits; allocated with the struct */
    /* producer_ids.c: the block [pid_next, pid_end) and who waits for the next */
    int64_t pid_next, pid_end;
    struct metadata_producer_id_op *pid_waiting;
    struct producer_id_request *pid_request; /* in flight, NULL if none */
};

/* metadata_quorum_topics.c: bring the view's topics in line with the whole
 * image, or with only what `changes` names, firing the listener for exactly
 * what changed. 0 or -ENOMEM (the view may then be partly updated: apply the
 * whole image next). */
int quorum_topics_apply_image(struct metadata_quorum *q, const MetadataImage *img);
int quorum_topics_apply_changes(struct metadata_quorum *q, const MetadataImage *img,
                                const struct image_changes *changes);
/* Free every topic and both maps. */
void quorum_topics_free(struct metadata_quorum *q);

/* metadata_quorum_admin.c: answer waiting requests whose change is now
 * visible (or whose wait expired when `expire`). */
void quorum_ops_check(struct metadata_quorum *q, bool expire);
/* Complete every op (view closing); in-flight RPCs are detached. */
void quorum_ops_detach_all(struct metadata_quorum *q);
/* producer_ids.c: fail waiting InitProducerIds (view closing); an
 * in-flight controller request is detached. */
void quorum_producer_ids_detach(struct metadata_quorum *q);

#endif
