#include "controller/controller_role.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define METADATA_SUBDIR "__cluster_metadata-0"

struct find_state {
    const char *names; /* controller.listener.names */
    char host[VOTER_HOST_MAX];
    int port;
    bool found;
};

static int name_matches(const char *item, size_t len, void *arg)
{
    const char *name = arg;
    return strlen(name) == len && strncasecmp(item, name, len) == 0;
}

/* One `listeners` item "NAME://host:port": keep it if NAME is a controller
 * listener name. */
static int check_listener(const char *item, size_t len, void *arg)
{
    struct find_state *st = arg;
    char text[VOTER_HOST_MAX + 80];
    if (st->found || len >= sizeof text) {
        return 0;
    }
    memcpy(text, item, len);
    text[len] = '\0';
    char *sep = strstr(text, "://");
    char *colon = strrchr(text, ':');
    if (sep == NULL || colon == NULL || colon < sep + 2) {
        return 0;
    }
    *sep = '\0';
    if (config_list_foreach(st->names, name_matches, text) != 1) {
        return 0;
    }
    *colon = '\0';
    char *host = sep + 3;
    if (host[0] == '[') { /* [::1] */
        host++;
        host[strlen(host) - 1] = '\0';
    }
    snprintf(st->host, sizeof st->host, "%s", host);
    st->port = atoi(colon + 1);
    st->found = true;
    return 0;
}

/* A literal to bind: "" is every interface; names resolve to IPv4. */
static int bind_literal(const char *host, char *out, size_t outlen)
{
    struct in6_addr scratch;
    if (host[0] == '\0') {
        snprintf(out, outlen, "0.0.0.0");
        return 0;
    }
    if (inet_pton(AF_INET, host, &scratch) == 1 || inet_pton(AF_INET6, host, &scratch) == 1) {
        snprintf(out, outlen, "%s", host);
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
        return -EHOSTUNREACH;
    }
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, out, (socklen_t)outlen);
    freeaddrinfo(res);
    return 0;
}

bool controller_role_configured(const char *roles, const char *role)
{
    return roles != NULL && config_list_foreach(roles, name_matches, (void *)role) == 1;
}

static void on_fatal(struct quorum *q, int status, const char *message)
{
    (void)status;
    /* A leader whose disk failed may otherwise stay leader (raft < 0.16):
     * stop here and let the supervisor restart us. */
    log_error("controller", "stopping the process after a raft storage failure node.id=%d: %s",
              q->node_id, message);
    exit(1);
}

static void on_leadership(struct quorum *q, bool ready)
{
    struct controller_role *role = q->data;
    if (role->service_started) {
        controller_service_leadership(&role->service, ready);
    }
}

static int metadata_dir(const struct sluice_config *c, char *out, size_t outlen)
{
    const char *base = c->metadata_log_dir;
    char first[4096];
    if (base == NULL || base[0] == '\0') {
        const char *comma = strchr(c->log_dirs, ',');
        size_t n = comma != NULL ? (size_t)(comma - c->log_dirs) : strlen(c->log_dirs);
        if (n >= sizeof first) {
            return -ENAMETOOLONG;
        }
        memcpy(first, c->log_dirs, n);
        first[n] = '\0';
        base = first;
    }
    int n = snprintf(out, outlen, "%s/%s", base, METADATA_SUBDIR);
    return n > 0 && (size_t)n < outlen ? 0 : -ENAMETOOLONG;
}

/* Where the service listens: the CONTROLLER listener or the voter port. */
static int service_address(struct controller_role *role, const struct voter *self, char *host,
                           size_t hostlen, int *port, char *err, size_t errlen)
{
    const struct sluice_config *c = role->config;
    struct find_state st = {.names = c->controller_listener_names, .port = self->port};
    if (c->controller_listener_names != NULL && c->listeners != NULL) {
        config_list_foreach(c->listeners, check_listener, &st);
    }
    if (st.found && st.port != self->port) {
        log_warn("controller",
                 "CONTROLLER listener port=%d differs from the voter port=%u;"
                 " brokers use the voter address",
                 st.port, self->port);
    }
    *port = st.found ? st.port : self->port;
    if (bind_literal(st.found ? st.host : "", host, hostlen) != 0) {
        snprintf(err, errlen, "cannot resolve CONTROLLER listener host %s", st.host);
        return -EHOSTUNREACH;
    }
    return 0;
}

int controller_role_start(struct controller_role *role, uv_loop_t *loop,
                          const struct sluice_config *config, char *err, size_t errlen)
{
    memset(role, 0, sizeof *role);
    role->loop = loop;
    role->config = config;
    int rv = voters_parse(config->controller_quorum_voters, &role->voters, err, errlen);
    const struct voter *self = rv == 0 ? voters_find(&role->voters, config->node_id) : NULL;
    if (rv == 0 && self == NULL) {
        snprintf(err, errlen, "node.id %d is not in controller.quorum.voters", config->node_id);
        rv = -EINVAL;
    }
    char dir[4200], host[VOTER_HOST_MAX];
    int port = 0;
    if (rv == 0) {
        rv = metadata_dir(config, dir, sizeof dir);
        if (rv != 0) {
            snprintf(err, errlen, "metadata.log.dir is too long");
        }
    }
    if (rv == 0) {
        rv = service_address(role, self, host, sizeof host, &port, err, errlen);
    }
    if (rv != 0) {
        return rv;
    }
    char listener[64];
    internal_tls_controller_listener(config, listener, sizeof listener);
    rv = internal_tls_open(&role->tls, config, listener, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = quorum_init(&role->quorum, config->node_id, NULL, on_leadership, on_fatal);
    if (rv != 0) {
        internal_tls_close(&role->tls);
        snprintf(err, errlen, "out of memory");
        return rv;
    }
    role->quorum.data = role;
    if (quorum_set_bind_host(&role->quorum, host) != 0) {
        log_warn("controller",
                 "raft binds every interface: the CONTROLLER listener host %s is not an IPv4 "
                 "address (raft 0.15 takes IPv4 only)",
                 host);
    }
    if (internal_tls_enabled(&role->tls)) {
        struct peer_transport_tls t = {&role->tls, (uint64_t)config->ssl_handshake_timeout_ms,
                                       config->node_id};
        quorum_set_tls(&role->quorum, &t);
    }
    role->quorum_started = true;
    rv = quorum_start_uv(&role->quorum, loop, dir, &role->voters, err, errlen);
    if (rv == 0) {
        rv = controller_service_start(&role->service, loop, &role->quorum, &role->voters, config,
                                      host, port, &role->tls);
        if (rv != 0) {
            snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, uv_strerror(rv));
        }
    }
    if (rv != 0) {
        controller_role_stop(role, NULL);
        return rv;
    }
    role->service_started = true;
    log_info("controller", "controller role started node.id=%d metadata.dir=%s", config->node_id,
             dir);
    return 0;
}

static void on_quorum_closed(struct quorum *q)
{
    struct controller_role *role = q->data;
    role->quorum_started = false;
    if (role->stop_cb != NULL) {
        role->stop_cb(role);
    }
}

static void on_service_closed(struct controller_service *svc)
{
    struct controller_role *role = svc->data;
    role->service_started = false;
    quorum_close(&role->quorum, on_quorum_closed);
}

void controller_role_reload_tls(struct controller_role *role)
{
    if (!internal_tls_enabled(&role->tls)) {
        return;
    }
    char err[512];
    if (internal_tls_reload(&role->tls, err, sizeof err) != 0) {
        log_error("controller",
                  "controller TLS reload failed, keeping the previous certificates: %s", err);
        return;
    }
    log_info("controller", "controller and raft TLS reloaded listener=%s", role->tls.listener);
}

void controller_role_stop(struct controller_role *role, void (*cb)(struct controller_role *role))
{
    if (role->stopping) {
        return;
    }
    role->stopping = true;
    role->stop_cb = cb;
    if (role->service_started) {
        role->service.data = role;
        controller_service_close(&role->service, on_service_closed);
    } else if (role->quorum_started) {
        quorum_close(&role->quorum, on_quorum_closed);
    } else if (cb != NULL) {
        cb(role);
    }
}

void controller_role_release(struct controller_role *role)
{
    quorum_release(&role->quorum);
    internal_tls_close(&role->tls);
}
