/* The broker's AlterPartition requests, batched (issue 14, as Kafka's
 * AlterPartitionManager): ISR changes proposed while a request is in
 * flight wait, and go together in the next one (version 3 of
 * AlterPartitionRequest, proto/controller.proto), at most
 * ALTER_PARTITION_MAX_ITEMS per request and one request in flight per
 * broker session. A broker restarted with thousands of partitions is then
 * re-added to their ISRs by its leaders with a few requests and raft
 * commits, not one per partition.
 *
 * Each proposal keeps its own answer: its callback fires exactly once, with
 * its item's result, or with the request's failure (timeout, cancel). The
 * controller client retries NOT_CONTROLLER within the request timeout. A
 * proposal made under a broker epoch the session no longer has (it lost its
 * registration while the proposal waited) is not sent: it fails with
 * -ESTALE, and the replica layer proposes again from the current state.
 *
 * Against a controller that predates version 3 (a rolling upgrade), the
 * first item of a request is answered in the version-2 form; the others go
 * again, one per request, for ALTER_BATCHER_LEGACY_MS, then a batch is
 * tried again.
 *
 * Loop thread only. The batcher is embedded in the broker session; the
 * proposal structs are caller-owned and valid until their callback. */
#ifndef SLUICE_BROKER_METADATA_ALTER_BATCHER_H
#define SLUICE_BROKER_METADATA_ALTER_BATCHER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "metadata/controller_client.h"
#include "metadata/image.h"

#define ALTER_BATCHER_LEGACY_MS 30000

/* An ISR member as the leader saw it (KIP-903): `broker_epoch` is the one
 * the follower sent with its fetches (broker_session_epoch() on its side). */
struct broker_isr_member {
    int32_t broker_id;
    int64_t broker_epoch;
};

struct broker_alter_partition;
/* status 0: `error_code` is the controller's answer for this partition
 * (Kafka's error codes, see AlterPartitionResponse in
 * proto/controller.proto) and `committed` the partition's committed state
 * (borrowed for the call; NULL if the partition is gone or the answer
 * carried none). On NONE it is the change just applied; on
 * INVALID_UPDATE_VERSION or INELIGIBLE_REPLICA the current state, to adopt
 * when its leader epoch is still ours (else the metadata stream brings the
 * new role). status < 0: -ETIMEDOUT (no controller answered within the
 * request timeout), -ECANCELED (session stopping), -ESTALE (the session's
 * registration changed before it was sent), -ENOMEM; `committed` is NULL,
 * retry from current state. */
typedef void (*broker_alter_partition_cb)(struct broker_alter_partition *op, int status,
                                          int32_t error_code, const PartitionState *committed);

/* One proposed ISR change: caller-owned, valid until its callback. */
struct broker_alter_partition {
    void *data; /* caller's */
    /* private */
    broker_alter_partition_cb cb;
    struct broker_alter_partition *next; /* waiting or in flight */
    int64_t broker_epoch;                /* the session's when proposed */
    uint8_t topic_id[16];
    int32_t partition, leader_epoch, partition_epoch;
    struct broker_isr_member *isr; /* malloc'd copy */
    size_t n_isr;
};

struct alter_batcher {
    /* borrowed from the session, which outlives the batcher */
    struct controller_client *client;
    uv_loop_t *loop;
    int32_t broker_id;
    const int64_t *broker_epoch; /* the session's current one (0: not registered) */
    uint64_t request_timeout_ms;
    /* private */
    struct broker_alter_partition *waiting, *waiting_tail;
    struct broker_alter_partition *in_flight; /* the request's items, in order */
    size_t n_in_flight;
    bool busy;             /* a request is in flight */
    bool dispatching;      /* answering items: proposals made meanwhile wait for the next request */
    uint64_t legacy_until; /* uv_now before which requests carry one item */
    struct controller_request req;
    /* Requests sent and the items they carried (for /metrics and tests). */
    uint64_t requests, items;
};

/* Set up an idle batcher over `client` (borrowed) for broker `broker_id`,
 * whose current broker epoch is read from *broker_epoch at each send. */
void alter_batcher_init(struct alter_batcher *b, struct controller_client *client, uv_loop_t *loop,
                        int32_t broker_id, const int64_t *broker_epoch,
                        uint64_t request_timeout_ms);
/* Propose setting the ISR of partition `partition` of topic `topic_id`
 * (16 bytes) to `isr` (copied) as its leader at `leader_epoch`, with
 * `partition_epoch` as the compare-and-set, under the current broker
 * epoch. Sent at once when no request is in flight, else with the next one.
 * Returns 0 (`cb` fires exactly once, never from inside this call),
 * -EAGAIN (not registered), -ENOMEM, or the controller client's error
 * (then `cb` does not fire). */
int alter_batcher_submit(struct alter_batcher *b, struct broker_alter_partition *op,
                         const uint8_t topic_id[16], int32_t partition, int32_t leader_epoch,
                         int32_t partition_epoch, const struct broker_isr_member *isr, size_t n_isr,
                         broker_alter_partition_cb cb);
/* Fail every waiting proposal with `status` (the session is stopping; the
 * request in flight, if any, is failed by the client's close). */
void alter_batcher_cancel(struct alter_batcher *b, int status);

#endif
