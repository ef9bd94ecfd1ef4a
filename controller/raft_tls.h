/* Mutual TLS for the raft port, as a relay in front of raft_uv_tcp.
 *
 * raft 0.15 reads and writes its streams itself, so TLS cannot sit between
 * raft and the socket inside one stream. Instead raft_uv_tcp keeps speaking
 * plain TCP on loopback, and this relay carries those bytes over TLS between
 * the controllers:
 *   - inbound: the relay listens on the public raft address; each accepted
 *     connection must complete a TLS handshake with a certificate the trust
 *     store verifies before one byte reaches raft, which listens on a
 *     loopback port of its own (raft_tls_raft_bind);
 *   - outbound: one loopback listener per voter (raft_tls_route_port); raft
 *     connects there, and the relay connects to that voter's raft port over
 *     TLS (resolving its host name each time), checking its certificate.
 * A refused handshake is logged with the peer and OpenSSL's reason and the
 * connection closed, which raft sees as a lost connection and retries.
 *
 * Identity: a verified certificate is not enough. Its principal
 * (common/internal_tls.h: ssl.principal.mapping.rules, then
 * node.principal.pattern) must be a voter's, and the raft handshake that
 * follows (protocol, server id, address: three little-endian uint64 and the
 * address) must claim that same voter's id: a controller holding node 2's
 * certificate cannot speak raft as voter 3. Outbound, the voter reached
 * must present its own certificate. An inbound peer that has not finished
 * both handshakes within the handshake timeout is dropped. Everything an
 * inbound peer sends then goes through raft_stream_check.h, so no message
 * body names another voter either (RequestVote's candidate_id).
 *
 * Bytes are relayed as they come; reading one side stops while the other
 * side has more than RAFT_TLS_MAX_QUEUED bytes unwritten (snapshots).
 *
 * Loop thread only. The struct is caller-owned and valid until the close
 * callback; the TLS contexts are borrowed and must outlive it. */
#ifndef SLUICE_CONTROLLER_RAFT_TLS_H
#define SLUICE_CONTROLLER_RAFT_TLS_H

#include <stdbool.h>
#include <uv.h>

#include "common/tls.h"
#include "metadata/voters.h"

#define RAFT_TLS_MAX_QUEUED (8u << 20)

struct raft_tls_pipe;

struct raft_tls_route {
    struct raft_tls *relay;
    uv_tcp_t listener; /* loopback; raft connects here to reach `voter` */
    int32_t voter;
    int port;
};

struct internal_tls;

struct raft_tls {
    uv_loop_t *loop;
    const struct internal_tls *tls;
    uint64_t handshake_timeout_ms;
    uv_timer_t sweep; /* drops inbound peers past the handshake timeout */
    struct voters voters;
    uv_tcp_t inbound; /* the public raft address */
    bool inbound_up;  /* initialised (to close) */
    int raft_port;    /* raft_uv_tcp's loopback port */
    struct raft_tls_route routes[VOTERS_MAX];
    size_t n_routes;
    struct raft_tls_pipe *pipes;
    unsigned open_handles;
    bool closing;
    void (*close_cb)(struct raft_tls *relay);
};

/* Listen on `bind_host`:`bind_port` (IPv4) for peers and on loopback for
 * raft's outgoing connections to every voter but `self`, with the
 * controller listener's TLS `tls` (enabled). Returns 0 or a libuv error
 * (then call raft_tls_close and wait for its callback). */
int raft_tls_start(struct raft_tls *relay, uv_loop_t *loop, const struct voters *voters,
                   int32_t self, const char *bind_host, int bind_port,
                   const struct internal_tls *tls, uint64_t handshake_timeout_ms);
/* The raft handshake's claimed server id, from its first 16 bytes (`len` at
 * least 16): little-endian protocol, then id. Pure; exposed for tests. */
uint64_t raft_tls_claimed_id(const uint8_t *handshake, size_t len);
/* The "127.0.0.1:port" raft_uv_tcp must listen on (after start). */
void raft_tls_raft_bind(const struct raft_tls *relay, char *out, size_t len);
/* The loopback port raft connects to for `voter`; -1 for an unknown id. */
int raft_tls_route_port(const struct raft_tls *relay, int32_t voter);
/* Close every listener and relayed connection; `cb` fires when done. */
void raft_tls_close(struct raft_tls *relay, void (*cb)(struct raft_tls *relay));

#endif
