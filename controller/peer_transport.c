#include "controller/peer_transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct peer_resolve {
    struct peer_transport *pt;
    struct peer_resolve *next, *prev;
    uv_getaddrinfo_t gai;
    struct raft_uv_connect inner; /* the raft_uv_tcp attempt, once resolved */
    struct raft_uv_connect *req;  /* raft's, completed through cb */
    raft_uv_connect_cb cb;
    raft_id id;
    char host[VOTER_HOST_MAX];
    char port[8];
    char address[VOTER_ADDR_MAX]; /* resolved "a.b.c.d:port" */
};

static struct peer_transport *from_iface(struct raft_uv_transport *t)
{
    return t->impl;
}

static void maybe_closed(struct peer_transport *pt)
{
    if (pt->closing && pt->tcp_closed && pt->resolving == NULL && (!pt->tls || pt->relay_closed) &&
        pt->close_cb != NULL) {
        raft_uv_transport_close_cb cb = pt->close_cb;
        pt->close_cb = NULL;
        cb(&pt->iface);
    }
}

static void unlink_resolve(struct peer_resolve *r)
{
    struct peer_transport *pt = r->pt;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        pt->resolving = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
}

/* Completes raft's request and frees the attempt. */
static void finish(struct peer_resolve *r, struct uv_stream_s *stream, int status)
{
    struct peer_transport *pt = r->pt;
    struct raft_uv_connect *req = r->req;
    raft_uv_connect_cb cb = r->cb;
    free(r);
    cb(req, stream, status);
    maybe_closed(pt);
}

static void on_tcp_connected(struct raft_uv_connect *inner, struct uv_stream_s *stream, int status)
{
    finish(inner->data, stream, status);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    struct peer_resolve *r = gai->data;
    struct peer_transport *pt = r->pt;
    unlink_resolve(r);
    if (pt->closing || status == UV_ECANCELED) {
        uv_freeaddrinfo(res);
        finish(r, NULL, RAFT_CANCELED);
        return;
    }
    if (status != 0 || res == NULL) {
        /* Expected while a peer's container or host is down: raft retries. */
        /* Warn once (a typo in the voters shows), then keep quiet: raft
         * retries every second. */
        pt->resolve_failures++;
        log_write(pt->resolve_failures == 1 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, "quorum",
                  "cannot resolve raft peer %llu host %s (will retry): %s",
                  (unsigned long long)r->id, r->host, uv_strerror(status));
        uv_freeaddrinfo(res);
        finish(r, NULL, RAFT_NOCONNECTION);
        return;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    uv_freeaddrinfo(res);
    snprintf(r->address, sizeof r->address, "%s:%s", ip, r->port);
    r->inner.data = r;
    int rv = pt->tcp.connect(&pt->tcp, &r->inner, r->id, r->address, on_tcp_connected);
    if (rv != 0) {
        finish(r, NULL, rv);
    }
}

/* The host and port to reach `id`: the configured voter, else `address`. */
static int peer_target(struct peer_transport *pt, raft_id id, const char *address,
                       struct peer_resolve *r)
{
    const struct voter *v = id <= INT32_MAX ? voters_find(&pt->voters, (int32_t)id) : NULL;
    if (v != NULL) {
        snprintf(r->host, sizeof r->host, "%s", v->host);
        snprintf(r->port, sizeof r->port, "%u", v->port + 1u);
        return 0;
    }
    const char *colon = strrchr(address, ':');
    size_t host_len = colon != NULL ? (size_t)(colon - address) : 0;
    if (colon == NULL || host_len == 0 || host_len >= sizeof r->host ||
        strlen(colon + 1) >= sizeof r->port) {
        return RAFT_NOCONNECTION;
    }
    memcpy(r->host, address, host_len);
    r->host[host_len] = '\0';
    snprintf(r->port, sizeof r->port, "%s", colon + 1);
    return 0;
}

static int do_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct peer_transport *pt = from_iface(t);
    if (pt->closing) {
        return RAFT_CANCELED;
    }
    if (pt->tls) {
        /* Through the voter's loopback route; the relay resolves its name. */
        int port = id <= INT32_MAX ? raft_tls_route_port(&pt->relay, (int32_t)id) : -1;
        if (port < 0) {
            return RAFT_NOCONNECTION;
        }
        struct peer_resolve *r = calloc(1, sizeof *r);
        if (r == NULL) {
            return RAFT_NOMEM;
        }
        r->pt = pt;
        r->req = req;
        r->cb = cb;
        r->id = id;
        req->cb = cb;
        r->inner.data = r;
        snprintf(r->address, sizeof r->address, "127.0.0.1:%d", port);
        int rv = pt->tcp.connect(&pt->tcp, &r->inner, id, r->address, on_tcp_connected);
        if (rv != 0) {
            free(r);
        }
        return rv;
    }
    struct peer_resolve *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return RAFT_NOMEM;
    }
    int rv = peer_target(pt, id, address, r);
    if (rv != 0) {
        free(r);
        return rv;
    }
    r->pt = pt;
    r->req = req;
    r->cb = cb;
    r->id = id;
    req->cb = cb;
    r->gai.data = r;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    if (uv_getaddrinfo(pt->loop, &r->gai, on_resolved, r->host, r->port, &hints) != 0) {
        free(r);
        return RAFT_NOCONNECTION;
    }
    r->next = pt->resolving;
    if (r->next != NULL) {
        r->next->prev = r;
    }
    pt->resolving = r;
    return 0;
}

static int do_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct peer_transport *pt = from_iface(t);
    int rv = pt->tcp.init(&pt->tcp, id, address);
    if (rv != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "%s", pt->tcp.errmsg);
    }
    return rv;
}

static void on_tcp_accept(struct raft_uv_transport *tcp, raft_id id, const char *address,
                          struct uv_stream_s *stream)
{
    struct peer_transport *pt = tcp->data;
    pt->accept_cb(&pt->iface, id, address, stream);
}

static int do_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct peer_transport *pt = from_iface(t);
    pt->accept_cb = cb;
    int rv = pt->tcp.listen(&pt->tcp, on_tcp_accept);
    if (rv != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "%s", pt->tcp.errmsg);
    }
    return rv;
}

static void on_tcp_closed(struct raft_uv_transport *tcp)
{
    struct peer_transport *pt = tcp->data;
    pt->tcp_closed = true;
    maybe_closed(pt);
}

static void on_relay_closed(struct raft_tls *relay)
{
    struct peer_transport *pt =
        (struct peer_transport *)((char *)relay - offsetof(struct peer_transport, relay));
    pt->relay_closed = true;
    maybe_closed(pt);
}

static void do_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct peer_transport *pt = from_iface(t);
    pt->closing = true;
    pt->close_cb = cb;
    /* A lookup already running cannot be cancelled; its callback sees
     * `closing` and completes raft's request with RAFT_CANCELED. */
    for (struct peer_resolve *r = pt->resolving; r != NULL; r = r->next) {
        uv_cancel((uv_req_t *)&r->gai);
    }
    pt->tcp.close(&pt->tcp, on_tcp_closed);
    if (pt->tls) {
        raft_tls_close(&pt->relay, on_relay_closed);
    }
}

/* Start the TLS relay on the public raft address; raft then binds loopback. */
static int start_relay(struct peer_transport *pt, const char *bind_address,
                       const struct peer_transport_tls *tls, char *raft_bind, size_t len)
{
    char host[64];
    const char *colon = strrchr(bind_address, ':');
    if (colon == NULL || (size_t)(colon - bind_address) >= sizeof host) {
        return RAFT_INVALID;
    }
    memcpy(host, bind_address, (size_t)(colon - bind_address));
    host[colon - bind_address] = '\0';
    pt->tls = true;
    int rv = raft_tls_start(&pt->relay, pt->loop, &pt->voters, tls->self, host, atoi(colon + 1),
                            tls->tls, tls->handshake_timeout_ms);
    if (rv != 0) {
        log_error("quorum", "raft TLS relay cannot listen on %s: %s", bind_address,
                  uv_strerror(rv));
        return RAFT_IOERR;
    }
    raft_tls_raft_bind(&pt->relay, raft_bind, len);
    log_info("quorum", "raft peers over mutual TLS on %s (raft on %s)", bind_address, raft_bind);
    return 0;
}

int peer_transport_init(struct peer_transport *pt, uv_loop_t *loop, const struct voters *voters,
                        const char *bind_address, const struct peer_transport_tls *tls)
{
    memset(pt, 0, sizeof *pt);
    pt->loop = loop;
    pt->voters = *voters;
    char raft_bind[VOTER_ADDR_MAX];
    snprintf(raft_bind, sizeof raft_bind, "%s", bind_address);
    int rv = raft_uv_tcp_init(&pt->tcp, loop);
    if (rv != 0) {
        goto err;
    }
    pt->tcp.data = pt;
    if (tls != NULL &&
        (rv = start_relay(pt, bind_address, tls, raft_bind, sizeof raft_bind)) != 0) {
        goto err_after_tcp;
    }
    rv = raft_uv_tcp_set_bind_address(&pt->tcp, raft_bind);
    if (rv != 0) {
        goto err_after_tcp;
    }
    pt->iface.impl = pt;
    pt->iface.init = do_init;
    pt->iface.listen = do_listen;
    pt->iface.connect = do_connect;
    pt->iface.close = do_close;
    return 0;
err_after_tcp:
    if (pt->tls) {
        raft_tls_close(&pt->relay, NULL); /* its handles finish closing on the loop */
    }
    raft_uv_tcp_close(&pt->tcp);
err:
    return rv;
}

void peer_transport_release(struct peer_transport *pt)
{
    raft_uv_tcp_close(&pt->tcp);
}
