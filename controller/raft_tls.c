/* TLS relay for the raft port; see raft_tls.h. */
#include "controller/raft_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/internal_tls.h"
#include "common/log.h"
#include "common/tcp_peer.h"
#include "controller/raft_stream_check.h"

/* One relayed connection: raft's plain loopback side and the peer's TLS side. */
struct raft_tls_pipe {
    struct raft_tls *relay;
    uv_tcp_t plain, secure;
    struct tls_session *tls;
    bool outbound;
    bool plain_up, secure_up; /* connected (or accepted) */
    bool plain_reading, secure_reading;
    bool secured, closing;
    bool resolving; /* gai pending */
    /* Inbound: the voter its certificate names, and whether the raft
     * handshake it sent claims that same id (only then does raft see it).
     * Outbound: the voter reached through the route. */
    int32_t voter;
    bool vetted;
    struct raft_stream_check check; /* inbound: every byte the peer sends raft */
    uint64_t accepted_ms;           /* inbound, for the handshake timeout */
    char principal[320];
    unsigned open;    /* handles to close, lookups pending */
    struct buf early; /* peer bytes decrypted before raft's side is connected */
    uv_connect_t connect;
    uv_getaddrinfo_t gai;
    char peer[VOTER_HOST_MAX + 16];
    char port[8];
    struct raft_tls_pipe *prev, *next;
};

struct relay_write {
    uv_write_t req;
    struct raft_tls_pipe *pipe;
    void *data;
};

static void pipe_update_reading(struct raft_tls_pipe *p);
static void on_secure_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void on_plain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void maybe_closed(struct raft_tls *relay)
{
    if (relay->closing && relay->open_handles == 0 && relay->pipes == NULL &&
        relay->close_cb != NULL) {
        void (*cb)(struct raft_tls *) = relay->close_cb;
        relay->close_cb = NULL;
        cb(relay);
    }
}

static void pipe_release(struct raft_tls_pipe *p)
{
    if (--p->open > 0) {
        return;
    }
    struct raft_tls *relay = p->relay;
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        relay->pipes = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    tls_session_free(p->tls);
    buf_free(&p->early);
    free(p);
    maybe_closed(relay);
}

static void on_pipe_handle_closed(uv_handle_t *h)
{
    pipe_release(h->data);
}

static void pipe_close(struct raft_tls_pipe *p)
{
    if (p->closing) {
        return;
    }
    p->closing = true;
    p->open++; /* held while closing the handles */
    uv_close((uv_handle_t *)&p->plain, on_pipe_handle_closed);
    uv_close((uv_handle_t *)&p->secure, on_pipe_handle_closed);
    pipe_release(p);
}

static struct raft_tls_pipe *pipe_new(struct raft_tls *relay, bool outbound)
{
    struct raft_tls_pipe *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->relay = relay;
    p->outbound = outbound;
    uv_tcp_init(relay->loop, &p->plain);
    uv_tcp_init(relay->loop, &p->secure);
    p->plain.data = p->secure.data = p;
    p->open = 2;
    p->next = relay->pipes;
    if (relay->pipes != NULL) {
        relay->pipes->prev = p;
    }
    relay->pipes = p;
    return p;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    size_t size = suggested < 65536 ? 65536 : suggested;
    out->base = malloc(size);
    out->len = out->base != NULL ? size : 0;
}

static void on_relay_written(uv_write_t *req, int status)
{
    struct relay_write *w = (struct relay_write *)req;
    struct raft_tls_pipe *p = w->pipe;
    free(w->data);
    free(w);
    if (status != 0) {
        pipe_close(p);
    } else if (!p->closing) {
        pipe_update_reading(p);
    }
}

/* Write `data` (malloc'd, ownership transferred) to `dst`. */
static int write_owned(struct raft_tls_pipe *p, uv_tcp_t *dst, void *data, size_t len)
{
    struct relay_write *w = malloc(sizeof *w);
    if (w == NULL) {
        free(data);
        return -ENOMEM;
    }
    w->pipe = p;
    w->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int rv = uv_write(&w->req, (uv_stream_t *)dst, &b, 1, on_relay_written);
    if (rv != 0) {
        free(data);
        free(w);
    }
    return rv;
}

static int flush_tls(struct raft_tls_pipe *p)
{
    size_t len;
    uint8_t *cipher = tls_session_take_output(p->tls, &len);
    if (cipher == NULL) {
        return len == 0 ? 0 : -ENOMEM;
    }
    return write_owned(p, &p->secure, cipher, len);
}

uint64_t raft_tls_claimed_id(const uint8_t *handshake, size_t len)
{
    uint64_t id = 0;
    for (size_t i = 0; i < 8 && 8 + i < len; i++) {
        id |= (uint64_t)handshake[8 + i] << (8 * i);
    }
    return id;
}

static void on_raft_connected(uv_connect_t *req, int status);

/* Inbound: the raft handshake's first 16 bytes are in `early`; raft sees
 * the connection only when the id it claims is its certificate's. */
static int vet_handshake(struct raft_tls_pipe *p)
{
    if (p->early.len < 16) {
        return 0;
    }
    uint64_t claimed = raft_tls_claimed_id(p->early.data, p->early.len);
    if (claimed != (uint64_t)p->voter) {
        log_warn("quorum",
                 "raft peer refused peer=%s principal=%s reason=\"claims to be voter %llu, its "
                 "certificate is voter %d's\"",
                 p->peer, p->principal, (unsigned long long)claimed, p->voter);
        return -EACCES;
    }
    p->vetted = true;
    log_debug("quorum", "raft peer accepted peer=%s principal=%s voter=%d", p->peer, p->principal,
              p->voter);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", p->relay->raft_port, &addr);
    p->connect.data = p;
    return uv_tcp_connect(&p->connect, &p->plain, (const struct sockaddr *)&addr,
                          on_raft_connected);
}

/* Inbound: what the peer sends goes through the stream check before raft
 * reads a byte of it (raft_stream_check.h). A message naming another voter
 * closes the connection: raft sees a lost peer, which reconnects. */
static int check_inbound(struct raft_tls_pipe *p, const uint8_t *data, size_t len)
{
    enum raft_stream_verdict v = raft_stream_check_feed(&p->check, data, len);
    if (v == RAFT_STREAM_OK) {
        return 0;
    }
    unsigned long long claimed = (unsigned long long)p->check.claimed;
    if (v == RAFT_STREAM_FORGED && p->check.type == 0) {
        log_warn("quorum",
                 "raft peer refused peer=%s principal=%s reason=\"claims to be voter %llu, its "
                 "certificate is voter %d's\"",
                 p->peer, p->principal, claimed, p->voter);
    } else if (v == RAFT_STREAM_FORGED) {
        log_warn("quorum",
                 "raft message refused peer=%s principal=%s reason=\"RequestVote names candidate "
                 "%llu, its certificate is voter %d's\"",
                 p->peer, p->principal, claimed, p->voter);
    } else {
        log_warn("quorum",
                 "raft message refused peer=%s principal=%s reason=\"malformed message type=%llu: "
                 "its header is too short for what it announces\"",
                 p->peer, p->principal, (unsigned long long)p->check.type);
    }
    return -EACCES;
}

static int to_plain(struct raft_tls_pipe *p, const uint8_t *data, size_t len)
{
    if (!p->outbound && check_inbound(p, data, len) != 0) {
        return -EACCES;
    }
    if (!p->plain_up) {
        int rv = buf_append(&p->early, data, len);
        return rv != 0 || p->outbound || p->vetted ? rv : vet_handshake(p);
    }
    void *copy = malloc(len);
    if (copy == NULL) {
        return -ENOMEM;
    }
    memcpy(copy, data, len);
    return write_owned(p, &p->plain, copy, len);
}

static void on_plain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct raft_tls_pipe *p = s->data;
    if (n < 0) {
        pipe_close(p);
    } else if (n > 0 && !p->closing) {
        if (tls_session_write(p->tls, (const uint8_t *)b->base, (size_t)n) != 0 ||
            flush_tls(p) != 0) {
            pipe_close(p);
        } else {
            pipe_update_reading(p);
        }
    }
    free(b->base);
}

static void pipe_update_reading(struct raft_tls_pipe *p)
{
    if (p->closing) {
        return;
    }
    size_t plain_queued = uv_stream_get_write_queue_size((uv_stream_t *)&p->plain) + p->early.len;
    size_t secure_queued = uv_stream_get_write_queue_size((uv_stream_t *)&p->secure);
    bool want_secure = p->secure_up && plain_queued < RAFT_TLS_MAX_QUEUED;
    bool want_plain = p->secured && p->plain_up && secure_queued < RAFT_TLS_MAX_QUEUED;
    if (want_secure != p->secure_reading) {
        p->secure_reading = want_secure;
        if (want_secure) {
            uv_read_start((uv_stream_t *)&p->secure, on_alloc, on_secure_read);
        } else {
            uv_read_stop((uv_stream_t *)&p->secure);
        }
    }
    if (want_plain != p->plain_reading) {
        p->plain_reading = want_plain;
        if (want_plain) {
            uv_read_start((uv_stream_t *)&p->plain, on_alloc, on_plain_read);
        } else {
            uv_read_stop((uv_stream_t *)&p->plain);
        }
    }
}

static void on_raft_connected(uv_connect_t *req, int status)
{
    struct raft_tls_pipe *p = req->data;
    if (p->closing) {
        return;
    }
    if (status != 0) {
        log_warn("quorum", "raft TLS relay: cannot reach the local raft port: %s",
                 uv_strerror(status));
        pipe_close(p);
        return;
    }
    p->plain_up = true;
    if (p->early.len > 0) {
        struct buf early = p->early;
        buf_init(&p->early);
        if (write_owned(p, &p->plain, early.data, early.len) != 0) {
            pipe_close(p);
            return;
        }
    }
    pipe_update_reading(p);
}

/* The peer's certificate is verified; now who is it? Outbound it must be
 * the voter raft asked for; inbound, some voter, whose id its raft
 * handshake must then claim (vet_handshake). */
static void pipe_secured(struct raft_tls_pipe *p)
{
    p->secured = true;
    char how[96];
    log_debug("quorum", "raft TLS %s peer=%s %s", p->outbound ? "to" : "from", p->peer,
              tls_session_describe(p->tls, how, sizeof how));
    struct internal_peer peer;
    internal_tls_identify(p->relay->tls, tls_session_peer_subject(p->tls), &peer);
    snprintf(p->principal, sizeof p->principal, "%s", peer.principal);
    if (p->outbound && peer.node != p->voter) {
        log_warn("quorum",
                 "raft peer refused peer=%s principal=%s reason=\"not voter %d's certificate "
                 "(node.principal.pattern=%s)\"",
                 p->peer, peer.principal, p->voter, p->relay->tls->node_pattern);
        pipe_close(p);
    } else if (!p->outbound &&
               (peer.node < 0 || voters_find(&p->relay->voters, peer.node) == NULL)) {
        log_warn("quorum",
                 "raft peer refused peer=%s principal=%s reason=\"not a voter's certificate "
                 "(node.principal.pattern=%s)\"",
                 p->peer, peer.principal, p->relay->tls->node_pattern);
        pipe_close(p);
    } else if (!p->outbound) {
        p->voter = peer.node;
        raft_stream_check_init(&p->check, (uint64_t)peer.node);
    }
}

/* Drive the handshake and pass decrypted bytes to raft's side. */
static void pipe_drive(struct raft_tls_pipe *p)
{
    uint8_t plain[16384];
    int n;
    while (!p->closing) {
        bool was = tls_session_established(p->tls);
        n = tls_session_read(p->tls, plain, sizeof plain);
        if (!was && tls_session_established(p->tls)) {
            if (flush_tls(p) != 0) {
                pipe_close(p);
                return;
            }
            pipe_secured(p);
        }
        if (n <= 0 || p->closing) {
            break;
        }
        if (to_plain(p, plain, (size_t)n) != 0) {
            pipe_close(p);
            return;
        }
    }
    if (p->closing) {
        return;
    }
    if (n == TLS_FAILED) {
        log_warn("quorum", "raft TLS handshake %s peer=%s reason=\"%s\"",
                 p->outbound ? "failed" : "refused", p->peer, tls_session_error(p->tls));
        (void)flush_tls(p); /* the alert, best effort */
        pipe_close(p);
    } else if (n == TLS_CLOSED || flush_tls(p) != 0) {
        pipe_close(p);
    } else {
        pipe_update_reading(p);
    }
}

static void on_secure_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct raft_tls_pipe *p = s->data;
    if (n < 0) {
        pipe_close(p);
    } else if (n > 0 && !p->closing) {
        if (tls_session_feed(p->tls, (const uint8_t *)b->base, (size_t)n) != 0) {
            pipe_close(p);
        } else {
            pipe_drive(p);
        }
    }
    free(b->base);
}

static void on_inbound(uv_stream_t *listener, int status)
{
    struct raft_tls *relay = listener->data;
    if (status != 0 || relay->closing) {
        return;
    }
    struct raft_tls_pipe *p = pipe_new(relay, false);
    if (p == NULL) {
        return;
    }
    p->accepted_ms = uv_now(relay->loop);
    if (uv_accept(listener, (uv_stream_t *)&p->secure) != 0 ||
        (p->tls = tls_session_new(relay->tls->server)) == NULL) {
        pipe_close(p);
        return;
    }
    tcp_peer_name(&p->secure, p->peer, sizeof p->peer);
    p->secure_up = true;
    pipe_update_reading(p);
}

static void on_peer_connected(uv_connect_t *req, int status)
{
    struct raft_tls_pipe *p = req->data;
    if (p->closing) {
        return;
    }
    if (status != 0) {
        log_debug("quorum", "raft TLS: cannot connect to %s: %s", p->peer, uv_strerror(status));
        pipe_close(p);
        return;
    }
    p->secure_up = true;
    pipe_update_reading(p);
    pipe_drive(p); /* the ClientHello */
}

static void on_peer_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    struct raft_tls_pipe *p = gai->data;
    p->resolving = false;
    if (!p->closing && (status != 0 || res == NULL)) {
        log_debug("quorum", "raft TLS: cannot resolve %s: %s", p->peer, uv_strerror(status));
        pipe_close(p);
    } else if (!p->closing) {
        p->connect.data = p;
        if (uv_tcp_connect(&p->connect, &p->secure, res->ai_addr, on_peer_connected) != 0) {
            pipe_close(p);
        }
    }
    uv_freeaddrinfo(res);
    pipe_release(p);
}

/* raft connects to a voter through its route: reach the voter over TLS. */
static void on_route(uv_stream_t *listener, int status)
{
    struct raft_tls_route *route = listener->data;
    struct raft_tls *relay = route->relay;
    if (status != 0 || relay->closing) {
        return;
    }
    const struct voter *v = voters_find(&relay->voters, route->voter);
    struct raft_tls_pipe *p = pipe_new(relay, true);
    if (p == NULL) {
        return;
    }
    if (uv_accept(listener, (uv_stream_t *)&p->plain) != 0) {
        pipe_close(p);
        return;
    }
    p->plain_up = true;
    p->voter = route->voter;
    p->tls = tls_session_new_client(relay->tls->client, relay->tls->verify_host ? v->host : NULL);
    if (p->tls == NULL) {
        pipe_close(p);
        return;
    }
    snprintf(p->peer, sizeof p->peer, "%s:%u", v->host, v->port + 1u);
    snprintf(p->port, sizeof p->port, "%u", v->port + 1u);
    p->gai.data = p;
    p->open++;
    p->resolving = true;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    if (uv_getaddrinfo(relay->loop, &p->gai, on_peer_resolved, v->host, p->port, &hints) != 0) {
        p->open--;
        p->resolving = false;
        pipe_close(p);
    }
}

static void listener_closed(struct raft_tls *relay)
{
    relay->open_handles--;
    maybe_closed(relay);
}

static void on_inbound_closed(uv_handle_t *h)
{
    listener_closed(h->data);
}

static void on_route_closed(uv_handle_t *h)
{
    listener_closed(((struct raft_tls_route *)h->data)->relay);
}

/* Drop inbound peers that have not proved who they are in time: one that
 * connects and sends nothing (or stalls mid-handshake) holds no socket
 * for long. */
static void on_sweep(uv_timer_t *t)
{
    struct raft_tls *relay = t->data;
    uint64_t now = uv_now(relay->loop);
    for (struct raft_tls_pipe *p = relay->pipes, *next; p != NULL; p = next) {
        next = p->next;
        if (!p->outbound && !p->vetted && !p->closing &&
            now - p->accepted_ms >= relay->handshake_timeout_ms) {
            log_warn("quorum",
                     "raft TLS handshake timed out peer=%s after=%llums (ssl.handshake.timeout.ms)",
                     p->peer, (unsigned long long)(now - p->accepted_ms));
            pipe_close(p);
        }
    }
}

/* A loopback port free now, for raft_uv_tcp to bind (it takes no port 0). */
static int free_loopback_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static int listen_on(struct raft_tls *relay, uv_tcp_t *tcp, void *data, const char *host, int port,
                     uv_connection_cb cb, int *bound)
{
    uv_tcp_init(relay->loop, tcp);
    relay->inbound_up = relay->inbound_up || tcp == &relay->inbound;
    tcp->data = data;
    relay->open_handles++;
    struct sockaddr_in addr;
    int rv = uv_ip4_addr(host, port, &addr);
    if (rv == 0) {
        rv = uv_tcp_bind(tcp, (const struct sockaddr *)&addr, 0);
    }
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)tcp, 16, cb);
    }
    struct sockaddr_in got;
    int len = sizeof got;
    if (rv == 0 && bound != NULL) {
        rv = uv_tcp_getsockname(tcp, (struct sockaddr *)&got, &len);
        *bound = ntohs(got.sin_port);
    }
    return rv;
}

int raft_tls_start(struct raft_tls *relay, uv_loop_t *loop, const struct voters *voters,
                   int32_t self, const char *bind_host, int bind_port,
                   const struct internal_tls *tls, uint64_t handshake_timeout_ms)
{
    memset(relay, 0, sizeof *relay);
    relay->loop = loop;
    relay->tls = tls;
    relay->handshake_timeout_ms = handshake_timeout_ms > 0 ? handshake_timeout_ms : 10000;
    relay->voters = *voters;
    uv_timer_init(loop, &relay->sweep);
    relay->sweep.data = relay;
    relay->open_handles++;
    uint64_t every = relay->handshake_timeout_ms / 4;
    every = every < 10 ? 10 : every > 1000 ? 1000 : every;
    uv_timer_start(&relay->sweep, on_sweep, every, every);
    relay->raft_port = free_loopback_port();
    if (relay->raft_port < 0) {
        return UV_EADDRNOTAVAIL;
    }
    int rv = listen_on(relay, &relay->inbound, relay, bind_host, bind_port, on_inbound, NULL);
    for (size_t i = 0; rv == 0 && i < voters->n; i++) {
        if (voters->v[i].id == self) {
            continue;
        }
        struct raft_tls_route *r = &relay->routes[relay->n_routes++];
        r->relay = relay;
        r->voter = voters->v[i].id;
        rv = listen_on(relay, &r->listener, r, "127.0.0.1", 0, on_route, &r->port);
    }
    return rv;
}

void raft_tls_raft_bind(const struct raft_tls *relay, char *out, size_t len)
{
    snprintf(out, len, "127.0.0.1:%d", relay->raft_port);
}

int raft_tls_route_port(const struct raft_tls *relay, int32_t voter)
{
    for (size_t i = 0; i < relay->n_routes; i++) {
        if (relay->routes[i].voter == voter) {
            return relay->routes[i].port;
        }
    }
    return -1;
}

void raft_tls_close(struct raft_tls *relay, void (*cb)(struct raft_tls *relay))
{
    relay->closing = true;
    relay->close_cb = cb;
    if (relay->open_handles > 0) {
        uv_close((uv_handle_t *)&relay->sweep, on_inbound_closed);
        if (relay->inbound_up) {
            uv_close((uv_handle_t *)&relay->inbound, on_inbound_closed);
        }
        for (size_t i = 0; i < relay->n_routes; i++) {
            uv_close((uv_handle_t *)&relay->routes[i].listener, on_route_closed);
        }
    }
    for (struct raft_tls_pipe *p = relay->pipes, *next; p != NULL; p = next) {
        next = p->next;
        if (p->resolving) {
            uv_cancel((uv_req_t *)&p->gai);
        }
        pipe_close(p);
    }
    maybe_closed(relay);
}
