/* controller.quorum.voters: "1@host:port,2@host:port,..." (KIP-595's
 * syntax), parsed into the addresses raft stores. Names are kept as
 * configured: controller/peer_transport resolves them at each connect, so
 * hosts that come back on other IPv4 addresses (a re-created Docker
 * network) still find each other.
 *
 * As in KRaft, host:port is each controller's CONTROLLER listener, where
 * brokers and sluicectl reach the controller RPC service. raft_uv needs a
 * socket of its own, so raft peers talk on the next port (port + 1).
 *
 * Pure; any thread. */
#ifndef SLUICE_METADATA_VOTERS_H
#define SLUICE_METADATA_VOTERS_H

#include <stddef.h>
#include <stdint.h>

#define VOTERS_MAX             16
#define VOTER_HOST_MAX         256
#define VOTER_ADDR_MAX         32 /* "255.255.255.255:65535" */
#define VOTER_RAFT_ADDRESS_MAX (VOTER_HOST_MAX + 8)

struct voter {
    int32_t id;
    char host[VOTER_HOST_MAX];                 /* as configured */
    uint16_t port;                             /* controller RPC (CONTROLLER listener) */
    char raft_address[VOTER_RAFT_ADDRESS_MAX]; /* "host:<port+1>" for raft */
};

struct voters {
    struct voter v[VOTERS_MAX];
    size_t n;
};

/* Parse `text` into `out`, each raft_address "host:<port+1>". Returns 0
 * or -EINVAL with a message in `err` (bad syntax, id < 1 (raft ids start
 * at 1, so controller node ids must too), duplicate id,
 * port out of range (1..65534, since raft uses port + 1), too many voters). */
int voters_parse(const char *text, struct voters *out, char *err, size_t errlen);
/* The voter with `id`, or NULL. */
const struct voter *voters_find(const struct voters *voters, int32_t id);

#endif
