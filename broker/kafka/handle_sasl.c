/* SaslHandshake (key 17) and SaslAuthenticate (key 36), and the bare tokens
 * that follow SaslHandshake v0 (KIP-152's legacy framing, which kafka-python
 * uses): the exchange itself is sasl_server's; this file moves its tokens and
 * applies Kafka's rules. A failed authentication is answered with
 * SASL_AUTHENTICATION_FAILED after connection.failed.authentication.delay.ms
 * (bare tokens have no error form: the connection just closes after the
 * delay), and the connection is closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kafka/dispatch.h"
#include "broker/kafka/sasl_server.h"
#include "common/log.h"
#include "proto/kafka/kafka_errors.h"
#include "kafka_messages.h"

#define MECHANISMS_MAX 8

/* ---- the delay before a refusal ---- */

struct refusal {
    uv_timer_t timer;
    struct kafka_call *call;   /* Kafka-framed: answered when the timer fires */
    struct kafka_request *req; /* bare token: dropped, connection closed */
    struct kafka_writer w;
    int status;
};

static void refusal_free(uv_handle_t *h)
{
    free(h->data);
}

static void on_refusal_due(uv_timer_t *t)
{
    struct refusal *r = t->data;
    if (r->call != NULL) {
        kafka_conn_close_when_flushed(r->call->req->conn);
        kafka_call_finish_response(r->call, &r->w, r->status);
    } else {
        kafka_conn_close(r->req->conn); /* the failure was logged with its reason */
        kafka_request_drop(r->req);
    }
    uv_close((uv_handle_t *)t, refusal_free);
}

/* Answer (or drop) after the configured delay. `w` holds the encoded answer. */
static void refuse_later(struct kafka_services *svc, struct kafka_call *call,
                         struct kafka_request *req, struct kafka_writer *w, int status)
{
    struct refusal *r = calloc(1, sizeof *r);
    if (r == NULL) {
        if (call != NULL) {
            kafka_writer_free(w);
            kafka_call_fail(call, "SASL authentication failed");
        } else {
            kafka_conn_fail(req->conn, "SASL authentication failed");
            kafka_request_drop(req);
        }
        return;
    }
    r->call = call;
    r->req = req;
    if (w != NULL) {
        r->w = *w;
    }
    r->status = status;
    uv_timer_init(svc->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_refusal_due,
                   (uint64_t)svc->cfg->connection_failed_authentication_delay_ms, 0);
}

/* connections.max.reauth.ms: the session just (re)authenticated ends then. */
static void start_session(struct kafka_services *svc, struct kafka_conn *conn)
{
    int64_t ms = svc->cfg->connections_max_reauth_ms;
    kafka_conn_set_session_expiry(conn, ms > 0 ? uv_now(svc->loop) + (uint64_t)ms : 0);
}

static void log_outcome(struct kafka_conn *conn, const struct sasl_server *s, enum sasl_step step)
{
    if (step == SASL_STEP_CONTINUE) {
        return;
    }
    if (step == SASL_STEP_DONE) {
        log_debug("kafka", "SASL authenticated peer=%s listener=%s mechanism=%s user=%s",
                  kafka_conn_peer(conn), kafka_conn_listener(conn), sasl_server_mechanism(s),
                  sasl_server_user(s));
    } else {
        log_warn("kafka",
                 "SASL authentication failed peer=%s listener=%s mechanism=%s user=%s "
                 "reason=\"%s\"",
                 kafka_conn_peer(conn), kafka_conn_listener(conn), sasl_server_mechanism(s),
                 sasl_server_user(s), sasl_server_error(s));
    }
}

/* ---- SaslHandshake ---- */

static int32_t enabled_mechanisms(const char *list, const char **out)
{
    static const char *const known[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
    int32_t n = 0;
    for (size_t i = 0; i < sizeof known / sizeof *known && n < MECHANISMS_MAX; i++) {
        if (sasl_mechanism_enabled(list, known[i])) {
            out[n++] = known[i];
        }
    }
    return n;
}

void kafka_handle_sasl_handshake(struct kafka_call *call)
{
    struct kafka_sasl_handshake_request req;
    int rv = kafka_sasl_handshake_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_conn *conn = call->req->conn;
    const char *mechanisms[MECHANISMS_MAX];
    struct kafka_sasl_handshake_response resp;
    kafka_sasl_handshake_response_init(&resp);
    resp.mechanisms = mechanisms;
    resp.mechanisms_count = enabled_mechanisms(call->svc->cfg->sasl_enabled_mechanisms, mechanisms);
    bool close = true;
    /* KIP-368: an authenticated connection starts over with SaslHandshake
     * v1 when sessions expire, with the mechanism it used first. */
    bool reauth = kafka_conn_authenticated(conn) && call->header.api_version >= 1 &&
                  call->svc->cfg->connections_max_reauth_ms > 0;
    if (!kafka_conn_sasl_listener(conn) || (kafka_conn_authenticated(conn) && !reauth) ||
        kafka_conn_sasl(conn) != NULL) {
        resp.error_code = KAFKA_ERROR_ILLEGAL_SASL_STATE;
    } else if (req.mechanism == NULL ||
               !sasl_mechanism_enabled(call->svc->cfg->sasl_enabled_mechanisms, req.mechanism)) {
        resp.error_code = KAFKA_ERROR_UNSUPPORTED_SASL_MECHANISM;
    } else if (reauth && strcmp(req.mechanism, kafka_conn_sasl_mechanism(conn)) != 0) {
        resp.error_code = KAFKA_ERROR_ILLEGAL_SASL_STATE; /* re-authentication keeps it */
    } else {
        struct sasl_server *s = sasl_server_new(req.mechanism);
        if (s == NULL) {
            kafka_call_fail(call, "out of memory for SASL");
            return;
        }
        kafka_conn_set_sasl(conn, s, call->header.api_version == 0);
        if (!reauth) {
            kafka_conn_set_sasl_mechanism(conn, req.mechanism);
        }
        close = false;
    }
    if (close) {
        log_warn("kafka", "SASL handshake refused peer=%s listener=%s mechanism=%s error=%s",
                 kafka_conn_peer(conn), kafka_conn_listener(conn),
                 req.mechanism ? req.mechanism : "null", kafka_error_name(resp.error_code));
        kafka_conn_close_when_flushed(conn);
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_sasl_handshake_response_encode(&w, call->header.api_version, &resp);
    }
    kafka_call_finish_response(call, &w, rv);
}

/* ---- SaslAuthenticate ---- */

void kafka_handle_sasl_authenticate(struct kafka_call *call)
{
    struct kafka_sasl_authenticate_request req;
    int rv = kafka_sasl_authenticate_request_decode(&call->body, call->header.api_version, &req);
    if (rv != 0) {
        kafka_call_bad_request(call, rv);
        return;
    }
    struct kafka_conn *conn = call->req->conn;
    struct sasl_server *s = kafka_conn_sasl(conn);
    struct kafka_sasl_authenticate_response resp;
    kafka_sasl_authenticate_response_init(&resp);
    struct buf token = BUF_INIT;
    enum sasl_step step = SASL_STEP_FAILED;
    if (s == NULL || kafka_conn_sasl_raw(conn)) {
        resp.error_code = KAFKA_ERROR_ILLEGAL_SASL_STATE;
        resp.error_message = "SaslAuthenticate without a SaslHandshake v1 before it";
    } else {
        step = sasl_server_step(s, req.auth_bytes.data, (size_t)req.auth_bytes.len,
                                call->svc->metadata, &token);
        log_outcome(conn, s, step);
        if (step == SASL_STEP_FAILED) {
            resp.error_code = KAFKA_ERROR_SASL_AUTHENTICATION_FAILED;
            resp.error_message = "Authentication failed: Invalid username or password";
        }
    }
    uint8_t *bytes = kafka_arena_alloc(&call->arena, token.len + 1);
    if (bytes == NULL) {
        buf_free(&token);
        kafka_call_fail(call, "out of memory for SASL");
        return;
    }
    if (token.len > 0) { /* an empty token may have no buffer at all */
        memcpy(bytes, token.data, token.len);
    }
    resp.auth_bytes = (struct kafka_bytes){bytes, (int32_t)token.len};
    buf_free(&token);
    if (step == SASL_STEP_DONE && kafka_conn_authenticated(conn)) {
        if (!kafka_conn_reauthenticate(conn, sasl_server_user(s))) {
            log_warn("kafka", "SASL re-authentication as another principal refused peer=%s",
                     kafka_conn_peer(conn));
            resp.error_code = KAFKA_ERROR_SASL_AUTHENTICATION_FAILED;
            resp.error_message = "Re-authentication must keep the principal";
        } else {
            log_debug("kafka", "SASL re-authenticated peer=%s principal=%s", kafka_conn_peer(conn),
                      kafka_conn_principal(conn));
        }
    } else if (step == SASL_STEP_DONE) {
        kafka_conn_set_authenticated(conn, sasl_server_user(s));
    }
    if (step == SASL_STEP_DONE && resp.error_code == KAFKA_ERROR_NONE) {
        start_session(call->svc, conn);
        resp.session_lifetime_ms = call->svc->cfg->connections_max_reauth_ms;
    }
    struct kafka_writer w;
    rv = kafka_call_begin_response(call, &w);
    if (rv == 0) {
        rv = kafka_sasl_authenticate_response_encode(&w, call->header.api_version, &resp);
    }
    if (resp.error_code != KAFKA_ERROR_NONE && rv == 0) {
        refuse_later(call->svc, call, NULL, &w, rv);
        return;
    }
    kafka_call_finish_response(call, &w, rv);
}

/* A bare token after SaslHandshake v0: the answer is the bare token too
 * (size-prefixed, no header); success with PLAIN is an empty one. */
void kafka_sasl_raw_token(struct kafka_request *req, struct kafka_services *svc)
{
    struct kafka_conn *conn = req->conn;
    struct sasl_server *s = kafka_conn_sasl(conn);
    struct buf *out = &req->response.bytes;
    buf_reset(out);
    uint8_t *size;
    if (buf_append_zeros(out, 4, &size) != 0) {
        kafka_conn_fail(conn, "out of memory for SASL");
        kafka_request_drop(req);
        return;
    }
    enum sasl_step step = sasl_server_step(s, req->frame, req->frame_len, svc->metadata, out);
    log_outcome(conn, s, step);
    if (step == SASL_STEP_FAILED) {
        refuse_later(svc, NULL, req, NULL, 0);
        return;
    }
    if (step == SASL_STEP_DONE) {
        kafka_conn_set_authenticated(conn, sasl_server_user(s));
        start_session(svc, conn);
    }
    kafka_request_complete(req);
}
