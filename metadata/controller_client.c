#include "metadata/controller_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal_tls.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"
#include "proto/controller.pb-c.h"

#define ATTEMPT_TIMEOUT_MS 1500
#define RETRY_DELAY_MS     100

static void send_attempt(struct controller_request *req);

static ProtobufCMessage *message_copy(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *bytes = malloc(len ? len : 1);
    if (bytes == NULL) {
        return NULL;
    }
    protobuf_c_message_pack(m, bytes);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, bytes);
    free(bytes);
    return copy;
}

static void finish(struct controller_request *req, int status, const ProtobufCMessage *resp)
{
    protobuf_c_message_free_unpacked(req->body, NULL);
    req->body = NULL;
    req->cb(req, status, resp);
}

static void point_at(struct controller_client *c, size_t voter)
{
    c->current = voter % c->voters.n;
    const struct voter *v = &c->voters.v[c->current];
    rpc_client_set_target(&c->rpc, v->host, v->port);
}

static void on_retry_timer(uv_timer_t *timer)
{
    struct controller_client *c = timer->data;
    uint64_t now = uv_now(c->loop);
    /* Take the due requests off the list first: sending may re-add them. */
    struct controller_request *due = NULL, **link = &c->waiting;
    while (*link != NULL) {
        struct controller_request *r = *link;
        if (r->retry_at <= now) {
            *link = r->next;
            r->next = due;
            due = r;
        } else {
            link = &r->next;
        }
    }
    while (due != NULL) {
        struct controller_request *r = due;
        due = r->next;
        r->next = NULL;
        send_attempt(r);
    }
    if (c->waiting == NULL) {
        uv_timer_stop(&c->retry_timer);
    }
}

/* Retry after a short delay, or give up at the deadline. */
static void retry_later(struct controller_request *req, int last_status)
{
    struct controller_client *c = req->client;
    uint64_t now = uv_now(c->loop);
    if (c->closing || now >= req->deadline) {
        finish(req, c->closing ? -ECANCELED : last_status, NULL);
        return;
    }
    req->retry_at = now + RETRY_DELAY_MS;
    req->next = c->waiting;
    c->waiting = req;
    if (!uv_is_active((uv_handle_t *)&c->retry_timer)) {
        uv_timer_start(&c->retry_timer, on_retry_timer, RETRY_DELAY_MS, RETRY_DELAY_MS);
    }
}

/* The common response fields: error_code and the leader hint. */
static int32_t response_error(const ProtobufCMessage *m,
                              const Sluice__Controller__LeaderHint **hint)
{
    const ProtobufCFieldDescriptor *code =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "error_code");
    const ProtobufCFieldDescriptor *leader =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "leader");
    *hint = leader != NULL
                ? *(Sluice__Controller__LeaderHint *const *)((const char *)m + leader->offset)
                : NULL;
    return code != NULL ? *(const int32_t *)((const char *)m + code->offset) : 0;
}

static void follow_hint(struct controller_request *req, const Sluice__Controller__LeaderHint *hint)
{
    struct controller_client *c = req->client;
    for (size_t i = 0; hint != NULL && hint->leader_id >= 0 && i < c->voters.n; i++) {
        if (c->voters.v[i].id == hint->leader_id && i != c->current) {
            point_at(c, i);
            send_attempt(req); /* straight to the named leader */
            return;
        }
    }
    /* No leader known yet (election), or it named this very node. */
    if (req->target == c->current) {
        point_at(c, c->current + 1);
    }
    retry_later(req, -ETIMEDOUT);
}

static void on_rpc_response(struct rpc_request *rpc, int status, const struct rpc_frame *frame)
{
    struct controller_request *req = rpc->data;
    struct controller_client *c = req->client;
    req->in_flight = false;
    if (status == -ECANCELED && c->closing) {
        finish(req, -ECANCELED, NULL);
        return;
    }
    if (status != 0 || frame->error == RPC_ERROR_UNAVAILABLE) {
        /* Unreachable or stopping: try another voter, unless another
         * request already moved the client on. */
        if (req->target == c->current) {
            point_at(c, c->current + 1);
        }
        retry_later(req, status != 0 ? status : -ETIMEDOUT);
        return;
    }
    if (frame->error != RPC_OK) {
        log_warn("controller-client", "controller refused method=%u error=%d message=%s",
                 req->method, frame->error, frame->error_message);
        finish(req, -EPROTO, NULL);
        return;
    }
    ProtobufCMessage *resp =
        protobuf_c_message_unpack(req->response_type, NULL, frame->body_len, frame->body);
    if (resp == NULL) {
        finish(req, -EPROTO, NULL);
        return;
    }
    const Sluice__Controller__LeaderHint *hint;
    if (response_error(resp, &hint) == KAFKA_ERROR_NOT_CONTROLLER) {
        follow_hint(req, hint);
    } else {
        finish(req, 0, resp);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
}

static void send_attempt(struct controller_request *req)
{
    struct controller_client *c = req->client;
    uint64_t now = uv_now(c->loop);
    if (c->closing || now >= req->deadline) {
        finish(req, c->closing ? -ECANCELED : -ETIMEDOUT, NULL);
        return;
    }
    uint64_t left = req->deadline - now;
    req->rpc.data = req;
    req->target = c->current;
    int rv = rpc_client_call(&c->rpc, &req->rpc, req->method, 1, req->body, NULL, 0,
                             left < c->attempt_timeout_ms ? left : c->attempt_timeout_ms,
                             on_rpc_response);
    if (rv != 0) {
        finish(req, rv, NULL);
        return;
    }
    req->in_flight = true;
}

int controller_client_init(struct controller_client *c, uv_loop_t *loop,
                           const struct voters *voters)
{
    return controller_client_init_tls(c, loop, voters, NULL);
}

/* Only a controller answers as one: the certificate must be the voter's this
 * client is pointed at. */
static bool check_controller(struct rpc_client *rpc, const char *subject, char *why, size_t whylen)
{
    struct controller_client *c = rpc->data;
    int32_t want = c->voters.v[c->current].id;
    struct internal_peer peer;
    internal_tls_identify(c->tls, subject, &peer);
    if (peer.node == want) {
        return true;
    }
    snprintf(why, whylen, "controller %d at %s:%u presented principal %s, not voter %d's (%s)",
             want, c->voters.v[c->current].host, c->voters.v[c->current].port, peer.principal, want,
             c->tls->node_pattern);
    return false;
}

int controller_client_init_tls(struct controller_client *c, uv_loop_t *loop,
                               const struct voters *voters, const struct internal_tls *tls)
{
    bool secure = tls != NULL && internal_tls_enabled(tls);
    memset(c, 0, sizeof *c);
    if (voters->n == 0) {
        return -EINVAL;
    }
    c->loop = loop;
    c->voters = *voters;
    c->attempt_timeout_ms = ATTEMPT_TIMEOUT_MS;
    /* A voter that refuses connections (it died; after a leader's death its
     * followers still name it until the election ends) fails the attempt at
     * once, so the request moves on to the next voter instead of spending
     * the attempt timeout there: a broker must reach the new controller
     * within its session timeout of the election. */
    struct rpc_client_options o = {.backoff_min_ms = 50,
                                   .backoff_max_ms = 1000,
                                   .connect_timeout_ms = 1000,
                                   .fail_unreachable = true,
                                   .tls = secure ? tls->client : NULL,
                                   .tls_verify_host = secure && tls->verify_host,
                                   .check_server = secure ? check_controller : NULL};
    c->tls = secure ? tls : NULL;
    int rv = rpc_client_init(&c->rpc, loop, voters->v[0].host, voters->v[0].port, &o);
    if (rv != 0) {
        return rv;
    }
    c->rpc.data = c;
    uv_timer_init(loop, &c->retry_timer);
    c->retry_timer.data = c;
    c->open = 2;
    return 0;
}

int controller_client_call(struct controller_client *c, struct controller_request *req,
                           uint32_t method, const ProtobufCMessage *body,
                           const ProtobufCMessageDescriptor *response_type, uint64_t timeout_ms,
                           controller_response_cb cb)
{
    if (c->closing) {
        return -ECANCELED;
    }
    void *data = req->data;
    memset(req, 0, sizeof *req);
    req->data = data;
    req->body = message_copy(body);
    if (req->body == NULL) {
        return -ENOMEM;
    }
    req->client = c;
    req->cb = cb;
    req->method = method;
    req->response_type = response_type;
    req->deadline = uv_now(c->loop) + timeout_ms;
    send_attempt(req);
    return 0;
}

static void closed_one(struct controller_client *c)
{
    if (--c->open == 0 && c->close_cb != NULL) {
        c->close_cb(c);
    }
}

static void on_rpc_closed(struct rpc_client *rpc)
{
    closed_one(rpc->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

void controller_client_close(struct controller_client *c, void (*cb)(struct controller_client *c))
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->close_cb = cb;
    while (c->waiting != NULL) {
        struct controller_request *r = c->waiting;
        c->waiting = r->next;
        finish(r, -ECANCELED, NULL);
    }
    uv_close((uv_handle_t *)&c->retry_timer, on_timer_closed);
    rpc_client_close(&c->rpc, on_rpc_closed); /* in-flight ones end with -ECANCELED */
}
