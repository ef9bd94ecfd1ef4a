/* Blocking Kafka client; see kafka_client.h. */
#include "tools/sluicectl/kafka_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/kafka/kafka_header.h"
#include "common/bigendian.h"
#include "kafka_messages.h"

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {fd, events, 0};
    int rv;
    do {
        rv = poll(&p, 1, timeout_ms);
    } while (rv < 0 && errno == EINTR);
    return rv > 0 ? 0 : (rv == 0 ? -ETIMEDOUT : -errno);
}

/* Non-blocking connect bounded by the timeout. */
static int connect_addr(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int rv = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : -errno;
    if (rv == -EINPROGRESS) {
        rv = wait_fd(fd, POLLOUT, timeout_ms);
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (rv == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0) {
            rv = -soerr;
        }
    }
    if (rv != 0) {
        close(fd);
        return rv;
    }
    return fd;
}

int kafka_client_connect_to(struct kafka_client *c, const char *host, int port, int timeout_ms,
                            char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->next_correlation_id = 1;
    snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rv = getaddrinfo(host, portstr, &hints, &res);
    if (rv != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rv));
        return -1;
    }
    int last = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
        int fd = connect_addr(ai, timeout_ms);
        if (fd >= 0) {
            c->fd = fd;
        } else {
            last = fd;
        }
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", c->peer, strerror(-last));
        return -1;
    }
    return 0;
}

int kafka_client_connect(struct kafka_client *c, const char *host_port, int timeout_ms, char *err,
                         size_t errlen)
{
    char host[256];
    const char *colon = strrchr(host_port, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    size_t host_len = colon ? (size_t)(colon - host_port) : 0;
    if (colon == NULL || end == colon + 1 || *end != '\0' || port <= 0 || port > 65535 ||
        host_len == 0 || host_len >= sizeof host) {
        snprintf(err, errlen, "bad bootstrap server '%s': expected host:port", host_port);
        return -1;
    }
    memcpy(host, host_port, host_len);
    host[host_len] = '\0';
    if (host[0] == '[' && host_len > 2 && host[host_len - 1] == ']') {
        memmove(host, host + 1, host_len - 2);
        host[host_len - 2] = '\0';
    }
    return kafka_client_connect_to(c, host, (int)port, timeout_ms, err, errlen);
}

void kafka_client_close(struct kafka_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static int send_all(struct kafka_client *c, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            int rv = wait_fd(c->fd, POLLOUT, c->timeout_ms);
            if (rv != 0) {
                return rv;
            }
            continue;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

static int recv_all(struct kafka_client *c, uint8_t *p, size_t len)
{
    while (len > 0) {
        int rv = wait_fd(c->fd, POLLIN, c->timeout_ms);
        if (rv != 0) {
            return rv;
        }
        ssize_t n = recv(c->fd, p, len, 0);
        if (n == 0) {
            return -ECONNRESET;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            return -errno;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

static int encode_request(struct kafka_client *c, int16_t api_key, int16_t version,
                          const struct buf *body, struct buf *frame, int16_t *resp_header)
{
    int16_t req_header;
    if (kafka_api_header_versions(api_key, version, &req_header, resp_header, NULL) != 0) {
        return -EINVAL;
    }
    struct kafka_request_header h = {api_key, version, c->next_correlation_id++, "sluicectl", 0};
    uint8_t *size;
    struct kafka_writer w;
    kafka_writer_init(&w, frame);
    int rv = buf_append_zeros(frame, 4, &size);
    if (rv == 0) {
        rv = kafka_request_header_encode(&w, req_header, &h);
    }
    if (rv == 0) {
        rv = buf_append(frame, body->data, body->len);
    }
    kafka_writer_free(&w);
    if (rv == 0) {
        be32_store(frame->data, (uint32_t)(frame->len - 4));
    }
    return rv == 0 ? 0 : -ENOMEM;
}

static int read_response(struct kafka_client *c, int16_t resp_header, int32_t corr, struct buf *out,
                         char *err, size_t errlen)
{
    uint8_t size_bytes[4];
    int rv = recv_all(c, size_bytes, 4);
    int32_t size = (int32_t)be32_load(size_bytes);
    if (rv == 0 && (size < 4 || size > KAFKA_CLIENT_MAX_RESPONSE)) {
        snprintf(err, errlen, "bad response size %d from %s", size, c->peer);
        return -1;
    }
    buf_reset(out);
    if (rv == 0 && buf_reserve(out, (size_t)size) != 0) {
        rv = -ENOMEM;
    }
    if (rv == 0) {
        rv = recv_all(c, out->data, (size_t)size);
    }
    if (rv != 0) {
        snprintf(err, errlen, "no response from %s: %s", c->peer, strerror(-rv));
        return -1;
    }
    out->len = (size_t)size;
    struct kafka_arena arena;
    kafka_arena_init(&arena, 1 << 20);
    struct kafka_reader r;
    kafka_reader_init(&r, out->data, out->len, &arena);
    struct kafka_response_header h;
    rv = kafka_response_header_decode(&r, resp_header, &h);
    size_t used = r.pos;
    kafka_arena_free(&arena);
    if (rv != 0 || h.correlation_id != corr) {
        snprintf(err, errlen, "bad response header from %s", c->peer);
        return -1;
    }
    memmove(out->data, out->data + used, out->len - used);
    out->len -= used;
    return 0;
}

int kafka_client_call(struct kafka_client *c, int16_t api_key, int16_t version,
                      const struct buf *body, struct buf *out, char *err, size_t errlen)
{
    struct buf frame = BUF_INIT;
    int16_t resp_header;
    int32_t corr = c->next_correlation_id;
    int rv = encode_request(c, api_key, version, body, &frame, &resp_header);
    if (rv != 0) {
        buf_free(&frame);
        snprintf(err, errlen, "cannot encode request api_key=%d version=%d", api_key, version);
        return -1;
    }
    rv = send_all(c, frame.data, frame.len);
    buf_free(&frame);
    if (rv != 0) {
        snprintf(err, errlen, "cannot send to %s: %s", c->peer, strerror(-rv));
        return -1;
    }
    return read_response(c, resp_header, corr, out, err, errlen);
}
