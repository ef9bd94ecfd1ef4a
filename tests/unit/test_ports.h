/* Loopback ports for unit tests that listen (RPC service, raft).
 *
 * Ports come from below the kernel's ephemeral range (as tests/cluster does):
 * a port the kernel hands out for bind(0) lies inside that range, where any
 * outgoing connection on the machine — even this test's own RPC client — can
 * take it, or its successor, before raft binds it (raft_uv then fails with
 * RAFT_IOERR). Header-only: tests include it directly. */
#ifndef SLUICE_TESTS_UNIT_TEST_PORTS_H
#define SLUICE_TESTS_UNIT_TEST_PORTS_H

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Whether `port` can be bound on 127.0.0.1 right now. */
static inline int test_port_is_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* The usable [low, high] range for listeners: below the ephemeral range when
 * there is room, else above it. */
static inline void test_port_range(int *low, int *high)
{
    int eph_low = 32768, eph_high = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%d %d", &eph_low, &eph_high) != 2) {
            eph_low = 32768;
            eph_high = 60999;
        }
        fclose(f);
    }
    if (eph_low > 12000) {
        *low = 10000;
        *high = eph_low - 2;
    } else {
        *low = eph_high + 1;
        *high = 65000;
    }
}

/* A port that is free together with its successor (raft listens on the
 * CONTROLLER port + 1). Aborts the test if none is found. */
static inline int test_free_port_pair(void)
{
    int low, high;
    test_port_range(&low, &high);
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    for (int attempt = 0; attempt < 200; attempt++) {
        int port = low + rand() % (high - low);
        if (test_port_is_free(port) && test_port_is_free(port + 1)) {
            return port;
        }
    }
    ck_abort_msg("no free pair of loopback ports");
    return -1;
}

#endif
