/* The raft transport: raft_uv_tcp, reaching each voter by the host name
 * configured in controller.quorum.voters, resolved at every connect.
 *
 * raft 0.15's TCP transport parses addresses with uv_ip4_addr only, and the
 * addresses it is given live on in the raft log (the bootstrap
 * configuration). Resolving names once at start and storing the IPv4
 * literals strands the quorum when the hosts come back on other addresses
 * (`docker compose down` then `up` puts containers on a new subnet). So this
 * wrapper:
 *   - connects to a known voter id through its configured host name (the
 *     address raft passes is ignored for known ids, so logs written by older
 *     versions with IPv4 literals keep working), resolved with
 *     uv_getaddrinfo (IPv4, asynchronous, on the loop) at each attempt;
 *   - connects to an unknown id through the "host:port" raft gives it;
 *   - delegates listening and accepted connections to raft_uv_tcp.
 * A failed resolution fails that attempt with RAFT_NOCONNECTION; raft
 * retries after its connect retry delay.
 *
 * With TLS (peer_transport_tls), raft_uv_tcp listens and connects on
 * loopback only, and controller/raft_tls.h relays those bytes over mutual
 * TLS: a voter is reached through its loopback route, and peers connect to
 * the relay on the public raft address. Unknown ids are not reached then.
 *
 * Loop thread only. The caller owns the struct; it must stay valid until
 * the close callback raft passes to `iface.close` has fired, after which
 * peer_transport_release frees the TCP transport. */
#ifndef SLUICE_CONTROLLER_PEER_TRANSPORT_H
#define SLUICE_CONTROLLER_PEER_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <uv.h>

#include "controller/raft_tls.h"
#include "metadata/voters.h"

struct peer_resolve; /* one connect attempt being resolved (private) */

/* Mutual TLS between controllers: the controller listener's TLS (borrowed,
 * outliving the transport), which also says who a peer is. */
struct peer_transport_tls {
    const struct internal_tls *tls;
    uint64_t handshake_timeout_ms; /* ssl.handshake.timeout.ms */
    int32_t self;
};

struct peer_transport {
    struct raft_uv_transport iface; /* give &iface to raft_uv_init */
    /* private */
    struct raft_uv_transport tcp; /* raft_uv_tcp does the sockets */
    uv_loop_t *loop;
    struct voters voters; /* copied: names to resolve */
    raft_uv_accept_cb accept_cb;
    struct peer_resolve *resolving; /* attempts waiting for uv_getaddrinfo */
    bool closing;
    bool tcp_closed;
    raft_uv_transport_close_cb close_cb;
    unsigned long resolve_failures; /* for status and tests */
    bool tls;                       /* relay.* in use */
    struct raft_tls relay;
    bool relay_closed;
};

/* Set up on `loop`; `voters` is copied; raft listens on `bind_address`
 * ("a.b.c.d:port", the voter's raft port). Returns 0, or a raft error code
 * (RAFT_NOMEM, RAFT_INVALID for a bad bind address) with nothing to
 * release. */
int peer_transport_init(struct peer_transport *pt, uv_loop_t *loop, const struct voters *voters,
                        const char *bind_address, const struct peer_transport_tls *tls);
/* Free what init allocated: after raft closed the transport (or when raft
 * never used it). */
void peer_transport_release(struct peer_transport *pt);

#endif
