/* The broker role's link to the controller quorum (controller.quorum.voters):
 * a broker_session (broker/metadata/broker_session.h) registers
 * this broker with its advertised listeners, heartbeats, and pulls the
 * metadata stream; stopping it performs a controlled shutdown.
 *
 * The broker's metadata view (broker/metadata/metadata_quorum.h) reads the
 * session's image and forwards admin requests through its controller
 * client. Loop thread; the struct is caller-owned until the stop callback. */
#ifndef SLUICE_BROKER_CONTROLLER_LINK_H
#define SLUICE_BROKER_CONTROLLER_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/kafka/listener.h"
#include "common/config.h"
#include "broker/metadata/broker_session.h"
#include "common/internal_tls.h"

struct controller_link {
    void *data; /* owner's */
    struct broker_session session;
    bool running;
    void (*stop_cb)(struct controller_link *link);
    void (*on_metadata)(struct controller_link *link); /* NULL: nobody listens */
    struct internal_tls tls; /* the controller listener's; freed once the session stopped */
};

/* Start registering; `listeners` are read now (their advertised endpoints
 * are copied). `on_metadata` (may be NULL; link->on_metadata, may be reset
 * later) fires after each change of the session's image. `cluster_id`
 * (copied; "" when not known yet) is the cluster the broker's data belongs
 * to: the controllers refuse to register it into another one. Returns 0 or
 * -EINVAL with `err`. */
int controller_link_start(struct controller_link *link, uv_loop_t *loop,
                          const struct sluice_config *cfg, const struct listener_set *listeners,
                          const char *cluster_id, void (*on_metadata)(struct controller_link *link),
                          char *err, size_t errlen);
/* The session's replayed image (NULL before the first fetch). */
const MetadataImage *controller_link_image(const struct controller_link *link);
/* This broker's registration epoch, 0 until registered. */
int64_t controller_link_broker_epoch(const struct controller_link *link);

/* The answer to an AlterPartition: `error` is the controller's Kafka code
 * with the partition's committed leader, leader epoch, partition epoch and
 * ISR (on success the change just applied; on an error the current state
 * when the controller sent it, else leader epoch -1 and no ISR), or
 * CONTROLLER_LINK_ALTER_UNKNOWN when no controller answered (the change may
 * have committed), or CONTROLLER_LINK_ALTER_NOT_SENT when it never reached
 * one. */
#define CONTROLLER_LINK_ALTER_UNKNOWN  (-1)
#define CONTROLLER_LINK_ALTER_NOT_SENT (-2)
/* The `error` an AlterPartition answer is reported with: the batcher's
 * `status` and `error_code` (broker_alter_partition_cb), `with_state` when
 * it carried the partition's committed state. -ESTALE (never sent) is
 * NOT_SENT, every other failure status, or NONE without a committed
 * state, UNKNOWN; otherwise the controller's `error_code`. Pure. */
int32_t controller_link_alter_error(int status, int32_t error_code, bool with_state);
typedef void (*link_alter_cb)(void *arg, int32_t error, int32_t leader, int32_t leader_epoch,
                              int32_t partition_epoch, const int32_t *isr, int32_t n_isr);

/* Propose `isr` (with the broker epoch each member fetched with, -1 when
 * not known: members already in the ISR only, KIP-903) for partition `index`
 * of topic `topic_id` as its leader at `leader_epoch`, with
 * `partition_epoch` as the compare-and-set (Kafka's AlterPartition, through
 * broker_session_alter_partition). `cb(arg, ...)` fires exactly once, later.
 * Returns 0 or a negative error (then `cb` does not fire). */
int controller_link_alter_partition(struct controller_link *link, const uint8_t topic_id[16],
                                    int32_t index, int32_t leader_epoch, int32_t partition_epoch,
                                    const int32_t *isr, const int64_t *broker_epochs, int32_t n_isr,
                                    link_alter_cb cb, void *arg);
/* Whether this broker may act as a partition leader now (not isolated from
 * the controllers, image current and showing it unfenced:
 * broker_session_may_lead). Always true without a controller quorum. */
bool controller_link_may_lead(const struct controller_link *link, uint64_t now_ms);
/* Whether a Kafka response built at built_ms must not be sent at now_ms:
 * the broker has been isolated since (broker_session_isolated_since). False
 * without a controller quorum. */
bool controller_link_response_stale(const struct controller_link *link, uint64_t built_ms,
                                    uint64_t now_ms);

/* Controlled shutdown (bounded), then close; `cb` may be NULL. */
/* Re-read the controller listener's key, certificates and trust store
 * (SIGHUP): new connections to the controllers use them. Returns 0 or an
 * error with `err` (the old ones stay). */
int controller_link_reload_tls(struct controller_link *link, char *err, size_t errlen);
void controller_link_stop(struct controller_link *link, void (*cb)(struct controller_link *link));

#endif
