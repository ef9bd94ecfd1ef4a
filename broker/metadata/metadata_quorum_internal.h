/* Internal to metadata_quorum*.c: the quorum-fed view's state, shared by
 * the image replay (metadata_quorum.c) and admin forwarding
 * (metadata_quorum_admin.c). */
#ifndef SLUICE_BROKER_METADATA_METADATA_QUORUM_INTERNAL_H
#define SLUICE_BROKER_METADATA_METADATA_QUORUM_INTERNAL_H

#include "broker/metadata/metadata_impl.h"
#include "broker/metadata/metadata_quorum.h"
#include "common/strmap.h"

struct quorum_broker {
    struct metadata_broker b;
    char rack[256];
};

/* A topic as shown: the public struct first, then what diffs need. */
struct quorum_topic {
    struct metadata_topic t;
    char *config_signature; /* "key=value\n"... as in the image, owned */
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
    struct strmap topics; /* name -> struct quorum_topic * */
    struct metadata_listener listener;
    struct quorum_op *ops; /* admin requests in flight or waiting to be visible */
    uv_timer_t timer;      /* expires waits; allocated with the struct */
    /* producer_ids.c: the block [pid_next, pid_end) and who waits for the next */
    int64_t pid_next, pid_end;
    struct metadata_producer_id_op *pid_waiting;
    struct producer_id_request *pid_request; /* in flight, NULL if none */
};

/* metadata_quorum_admin.c: answer waiting requests whose change is now
 * visible (or whose wait expired when `expire`). */
void quorum_ops_check(struct metadata_quorum *q, bool expire);
/* Complete every op (view closing); in-flight RPCs are detached. */
void quorum_ops_detach_all(struct metadata_quorum *q);
/* producer_ids.c: fail waiting InitProducerIds (view closing); an
 * in-flight controller request is detached. */
void quorum_producer_ids_detach(struct metadata_quorum *q);

#endif
