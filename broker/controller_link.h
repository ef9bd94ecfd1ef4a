/* The broker role's link to the controller quorum: when
 * controller.quorum.voters is set, a broker_session (controller/) registers
 * this broker with its advertised listeners, heartbeats, and pulls the
 * metadata stream; stopping it performs a controlled shutdown.
 *
 * Today the Kafka handlers still read the local metadata view; the session's
 * image is where the controller-fed view will come from. Loop thread; the
 * struct is caller-owned until the stop callback. */
#ifndef SLUICE_BROKER_CONTROLLER_LINK_H
#define SLUICE_BROKER_CONTROLLER_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/kafka/listener.h"
#include "common/config.h"
#include "controller/broker_session.h"

struct controller_link {
    void *data; /* owner's */
    struct broker_session session;
    bool running;
    void (*stop_cb)(struct controller_link *link);
};

/* Whether the configuration asks for a controller link (voters are set). */
bool controller_link_configured(const struct sluice_config *cfg);
/* Start registering; `listeners` are read now (their advertised endpoints
 * are copied). Returns 0 or -EINVAL with `err`. */
int controller_link_start(struct controller_link *link, uv_loop_t *loop,
                          const struct sluice_config *cfg, const struct listener_set *listeners,
                          char *err, size_t errlen);
/* Controlled shutdown (bounded), then close; `cb` may be NULL. */
void controller_link_stop(struct controller_link *link, void (*cb)(struct controller_link *link));

#endif
