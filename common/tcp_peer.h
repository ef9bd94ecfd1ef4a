/* The "host:port" of a TCP connection's peer, for log lines. */
#ifndef SLUICE_COMMON_TCP_PEER_H
#define SLUICE_COMMON_TCP_PEER_H

#include <stddef.h>

#include <uv.h>

/* Write the peer of `tcp` as "host:port" (IPv4 or IPv6) into `out`; "?:0"
 * when the peer is unknown (already disconnected). */
void tcp_peer_name(uv_tcp_t *tcp, char *out, size_t len);

#endif
