/* Listener configuration parsing; see listener.h. */
#include "broker/kafka/listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "broker/replica/replica_manager.h"

static const char *const protocol_names[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};

const char *security_protocol_name(enum security_protocol p)
{
    return (unsigned)p < sizeof protocol_names / sizeof *protocol_names ? protocol_names[p]
                                                                        : "UNKNOWN";
}

/* Find `name` (len bytes) in "NAME:PROTO,..." and store its protocol. */
static int lookup_protocol(const char *map, const char *name, enum security_protocol *out)
{
    const char *p = map ? map : "";
    size_t name_len = strlen(name);
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        const char *colon = strchr(p, ':');
        if (colon == NULL) {
            break;
        }
        const char *end = strchr(colon, ',');
        size_t proto_len = end ? (size_t)(end - colon - 1) : strlen(colon + 1);
        if ((size_t)(colon - p) == name_len && strncasecmp(p, name, name_len) == 0) {
            for (size_t i = 0; i < sizeof protocol_names / sizeof *protocol_names; i++) {
                if (strlen(protocol_names[i]) == proto_len &&
                    strncasecmp(colon + 1, protocol_names[i], proto_len) == 0) {
                    *out = (enum security_protocol)i;
                    return 0;
                }
            }
            return -EINVAL;
        }
        p = end ? end + 1 : colon + 1 + proto_len;
    }
    return -ENOENT;
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
    if (len == 0 || len > 5) {
        return -EINVAL;
    }
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535) {
        return -EINVAL;
    }
    *port = (uint16_t)v;
    return 0;
}

/* Split "host:port" or "[v6]:port" (len bytes at s) into the endpoint. */
static int parse_host_port(const char *s, size_t len, struct listener_endpoint *ep)
{
    const char *host = s, *port;
    size_t host_len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || close + 1 >= s + len || close[1] != ':') {
            return -EINVAL;
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        port = close + 2;
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++) {
            if (s[i] == ':') {
                if (colon != NULL) {
                    return -EINVAL; /* bare IPv6 needs brackets */
                }
                colon = s + i;
            }
        }
        if (colon == NULL) {
            return -EINVAL;
        }
        host_len = (size_t)(colon - s);
        port = colon + 1;
    }
    if (host_len >= sizeof ep->host) {
        return -EINVAL;
    }
    memcpy(ep->host, host, host_len);
    ep->host[host_len] = '\0';
    return parse_port(port, (size_t)(s + len - port), &ep->port);
}

struct parse_ctx {
    const char *protocol_map;
    struct listener_endpoint *out;
    size_t max, n;
    char *err;
    size_t errlen;
};

static int parse_one(const char *item, size_t len, void *arg)
{
    struct parse_ctx *ctx = arg;
    if (ctx->n == ctx->max) {
        snprintf(ctx->err, ctx->errlen, "too many listeners (at most %zu)", ctx->max);
        return -EINVAL;
    }
    struct listener_endpoint *ep = &ctx->out[ctx->n];
    memset(ep, 0, sizeof *ep);
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len; i++) {
        if (item[i] == ':' && item[i + 1] == '/' && item[i + 2] == '/') {
            sep = item + i;
            break;
        }
    }
    size_t name_len = sep ? (size_t)(sep - item) : 0;
    if (sep == NULL || name_len == 0 || name_len >= sizeof ep->name ||
        parse_host_port(sep + 3, (size_t)(item + len - sep - 3), ep) != 0) {
        snprintf(ctx->err, ctx->errlen,
                 "invalid listener '%.*s': expected NAME://host:port (IPv6 as [addr])", (int)len,
                 item);
        return -EINVAL;
    }
    for (size_t i = 0; i < name_len; i++) {
        ep->name[i] = item[i];
    }
    int rv = lookup_protocol(ctx->protocol_map, ep->name, &ep->protocol);
    if (rv != 0) {
        snprintf(
            ctx->err, ctx->errlen,
            rv == -ENOENT
                ? "listener '%s' is not in listener.security.protocol.map"
                : "listener '%s' maps to an unknown protocol in listener.security.protocol.map",
            ep->name);
        return -EINVAL;
    }
    for (size_t i = 0; i < ctx->n; i++) {
        if (strcasecmp(ctx->out[i].name, ep->name) == 0) {
            snprintf(ctx->err, ctx->errlen, "listener name '%s' appears twice", ep->name);
            return -EINVAL;
        }
    }
    ctx->n++;
    return 0;
}

int listener_list_parse(const char *list, const char *protocol_map, struct listener_endpoint *out,
                        size_t max, char *err, size_t errlen)
{
    struct parse_ctx ctx = {protocol_map, out, max, 0, err, errlen};
    int rv = config_list_foreach(list ? list : "", parse_one, &ctx);
    if (rv != 0) {
        return -EINVAL;
    }
    return (int)ctx.n;
}

static int name_in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list ? list : "";
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t len = strcspn(p, ", ");
        if (len == n && len > 0 && strncasecmp(p, name, n) == 0) {
            return 1;
        }
        p += len;
    }
    return 0;
}

/* Drop controller listeners: the broker role neither serves nor advertises them. */
static size_t drop_controller(struct listener_endpoint *eps, size_t n, const char *controller)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!name_in_list(controller, eps[i].name)) {
            eps[kept++] = eps[i];
        }
    }
    return kept;
}

/* Kafka listeners may use any protocol; the inter-broker listener speaks
 * Sluice's replication RPC, over mutual TLS or plaintext, never SASL. */
static int check_served(const struct listener_set *set, const struct sluice_config *cfg, char *err,
                        size_t errlen)
{
    if (set->n_bind == 0) {
        snprintf(err, errlen, "listeners must name at least one broker listener");
        return -EINVAL;
    }
    const char *replication = replica_listener_name(cfg);
    for (size_t i = 0; i < set->n_bind; i++) {
        enum security_protocol p = set->bind[i].protocol;
        if (p != SECURITY_PLAINTEXT && p != SECURITY_SSL &&
            strcasecmp(set->bind[i].name, replication) == 0) {
            snprintf(err, errlen,
                     "inter-broker listener '%s' uses security protocol %s; the replication "
                     "listener serves PLAINTEXT or SSL (mutual TLS)",
                     set->bind[i].name, security_protocol_name(set->bind[i].protocol));
            return -EINVAL;
        }
    }
    return 0;
}

static void unspecified_to_empty(struct listener_endpoint *ep)
{
    if (strcmp(ep->host, "0.0.0.0") == 0 || strcmp(ep->host, "::") == 0) {
        ep->host[0] = '\0';
    }
}

static int check_advertised(struct listener_set *set, char *err, size_t errlen)
{
    char hostname[LISTENER_HOST_MAX] = "localhost";
    (void)gethostname(hostname, sizeof hostname - 1);
    for (size_t i = 0; i < set->n_advertised; i++) {
        struct listener_endpoint *ep = &set->advertised[i];
        const struct listener_endpoint *bound = NULL;
        for (size_t j = 0; j < set->n_bind; j++) {
            if (strcasecmp(set->bind[j].name, ep->name) == 0) {
                bound = &set->bind[j];
            }
        }
        if (bound == NULL) {
            snprintf(err, errlen, "advertised listener '%s' is not in listeners", ep->name);
            return -EINVAL;
        }
        if (strcmp(ep->host, "0.0.0.0") == 0 || strcmp(ep->host, "::") == 0) {
            snprintf(err, errlen,
                     "advertised listener '%s' uses the non-routable address %s; set "
                     "advertised.listeners to a host clients can reach",
                     ep->name, ep->host);
            return -EINVAL;
        }
        if (ep->host[0] == '\0') {
            snprintf(ep->host, sizeof ep->host, "%s", hostname);
        }
    }
    return 0;
}

int listener_set_parse(const struct sluice_config *cfg, struct listener_set *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *map = cfg->listener_security_protocol_map;
    int n = listener_list_parse(cfg->listeners, map, out->bind, LISTENER_MAX, err, errlen);
    if (n < 0) {
        return n;
    }
    out->n_bind = drop_controller(out->bind, (size_t)n, cfg->controller_listener_names);
    int rv = check_served(out, cfg, err, errlen);
    if (rv != 0) {
        return rv;
    }
    const char *adv = cfg->advertised_listeners ? cfg->advertised_listeners : cfg->listeners;
    n = listener_list_parse(adv, map, out->advertised, LISTENER_MAX, err, errlen);
    if (n < 0) {
        return n;
    }
    out->n_advertised = drop_controller(out->advertised, (size_t)n, cfg->controller_listener_names);
    /* A bound listener with no advertised entry is advertised as bound. */
    for (size_t i = 0; i < out->n_bind && out->n_advertised < LISTENER_MAX; i++) {
        if (listener_set_advertised(out, out->bind[i].name) == NULL) {
            out->advertised[out->n_advertised] = out->bind[i];
            unspecified_to_empty(&out->advertised[out->n_advertised++]);
        }
    }
    if (cfg->advertised_listeners == NULL) {
        /* Derived from `listeners`: a wildcard bind means "this host". Only an
         * explicit advertised wildcard is an error, as in Kafka. */
        for (size_t i = 0; i < out->n_advertised; i++) {
            unspecified_to_empty(&out->advertised[i]);
        }
    }
    return check_advertised(out, err, errlen);
}

const struct listener_endpoint *listener_set_advertised(const struct listener_set *set,
                                                        const char *name)
{
    for (size_t i = 0; i < set->n_advertised; i++) {
        if (strcasecmp(set->advertised[i].name, name) == 0) {
            return &set->advertised[i];
        }
    }
    return NULL;
}
