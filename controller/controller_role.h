/* The controller role assembled for sluiced: when process.roles contains
 * "controller", the quorum (raft on controller.quorum.voters, data in
 * metadata.log.dir, or the first of log.dirs, under __cluster_metadata-0) and
 * the controller RPC service on the CONTROLLER listener.
 *
 * The CONTROLLER listener is the first `listeners` entry named in
 * controller.listener.names; without one the service binds every interface
 * on this node's voter port. Raft itself uses the voter port + 1.
 *
 * A raft storage failure is fatal: logged, and the process exits with
 * status 1 (a supervisor restarts it; see shared/RAFT.md).
 *
 * Loop thread. The struct is caller-owned until the stop callback. */
#ifndef SLUICE_CONTROLLER_CONTROLLER_ROLE_H
#define SLUICE_CONTROLLER_CONTROLLER_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "common/internal_tls.h"
#include "common/config.h"
#include "controller/quorum.h"
#include "controller/service.h"
#include "metadata/voters.h"

struct controller_role {
    void *data; /* owner's */
    uv_loop_t *loop;
    const struct sluice_config *config;
    struct voters voters;
    struct quorum quorum;
    struct controller_service service;
    bool quorum_started, service_started, stopping;
    struct internal_tls tls; /* the controller listener's (RPC and raft) */
    void (*stop_cb)(struct controller_role *role);
};

/* Whether `roles` (process.roles) includes `role` as a whole item. */
bool controller_role_configured(const char *roles, const char *role);
/* Start both parts. `config` is borrowed for the role's lifetime. Returns 0
 * or a negative error with `err`; on error everything started is being
 * stopped and the loop must run to finish closing. */
int controller_role_start(struct controller_role *role, uv_loop_t *loop,
                          const struct sluice_config *config, char *err, size_t errlen);
/* Stop the service, then the quorum; `cb` (may be NULL) fires when both are
 * closed. Safe to call from a signal handler callback (not from raft's). */
/* Re-read the controller listener's key, certificates and trust store
 * (SIGHUP): the controller RPC and the raft relay use them for new
 * connections; open ones keep theirs. Logged either way. */
void controller_role_reload_tls(struct controller_role *role);
void controller_role_stop(struct controller_role *role, void (*cb)(struct controller_role *role));
/* After the stop, once the loop has run dry: frees what raft may still touch
 * until then (quorum_release). No-op for a role that never started. */
void controller_role_release(struct controller_role *role);

#endif
