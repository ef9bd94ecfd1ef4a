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

struct controller_link {
    void *data; /* owner's */
    struct broker_session session;
    bool running;
    void (*stop_cb)(struct controller_link *link);
    void (*on_metadata)(struct controller_link *link); /* NULL: nobody listens */
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
/* Controlled shutdown (bounded), then close; `cb` may be NULL. */
void controller_link_stop(struct controller_link *link, void (*cb)(struct controller_link *link));

#endif
