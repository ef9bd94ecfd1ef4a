#include "common/tcp_peer.h"

#include <arpa/inet.h>
#include <stdio.h>

void tcp_peer_name(uv_tcp_t *tcp, char *out, size_t len)
{
    struct sockaddr_storage sa;
    int sa_len = sizeof sa;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &sa_len) == 0) {
        if (sa.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&sa, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&sa, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        }
    }
    snprintf(out, len, "%s:%d", host, port);
}
