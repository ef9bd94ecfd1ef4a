/* Mutual TLS inside the cluster; see internal_tls.h. */
#include "common/internal_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/rpc_server.h"
#include "common/ssl_principal.h"

struct protocol_lookup {
    const char *name;
    char *out;
    size_t len;
};

static int match_protocol(const char *item, size_t len, void *arg)
{
    struct protocol_lookup *l = arg;
    const char *colon = memchr(item, ':', len);
    size_t name_len = strlen(l->name);
    if (colon == NULL || (size_t)(colon - item) != name_len ||
        strncasecmp(item, l->name, name_len) != 0) {
        return 0;
    }
    size_t proto_len = len - name_len - 1;
    snprintf(l->out, l->len, "%.*s", (int)proto_len, colon + 1);
    return 1;
}

void internal_tls_protocol(const struct sluice_config *cfg, const char *name, char *out, size_t len)
{
    snprintf(out, len, "PLAINTEXT");
    if (name == NULL || name[0] == '\0' || cfg->listener_security_protocol_map == NULL) {
        return;
    }
    struct protocol_lookup l = {name, out, len};
    config_list_foreach(cfg->listener_security_protocol_map, match_protocol, &l);
}

static int first_item(const char *item, size_t len, void *arg)
{
    struct protocol_lookup *l = arg;
    snprintf(l->out, l->len, "%.*s", (int)len, item);
    return 1;
}

void internal_tls_controller_listener(const struct sluice_config *cfg, char *out, size_t len)
{
    out[0] = '\0';
    if (cfg->controller_listener_names != NULL) {
        struct protocol_lookup l = {NULL, out, len};
        config_list_foreach(cfg->controller_listener_names, first_item, &l);
    }
}

bool listener_tls_overridden(const struct sluice_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_listener_settings; i++) {
        if (strcasecmp(cfg->listener_settings[i].listener, name) == 0) {
            return true;
        }
    }
    return false;
}

void listener_tls_settings(const struct sluice_config *cfg, const char *name,
                           struct tls_settings *st)
{
#define PICK(key, field) sluice_config_listener_value(cfg, name, key, cfg->field)
    *st = (struct tls_settings){
        .keystore_location = PICK("ssl.keystore.location", ssl_keystore_location),
        .keystore_certificate_chain =
            PICK("ssl.keystore.certificate.chain", ssl_keystore_certificate_chain),
        .keystore_key = PICK("ssl.keystore.key", ssl_keystore_key),
        .key_password = PICK("ssl.key.password", ssl_key_password),
        .truststore_location = PICK("ssl.truststore.location", ssl_truststore_location),
        .truststore_certificates = PICK("ssl.truststore.certificates", ssl_truststore_certificates),
        .client_auth = PICK("ssl.client.auth", ssl_client_auth),
        .enabled_protocols = PICK("ssl.enabled.protocols", ssl_enabled_protocols),
        .cipher_suites = PICK("ssl.cipher.suites", ssl_cipher_suites),
    };
#undef PICK
}

int internal_tls_open(struct internal_tls *t, const struct sluice_config *cfg, const char *name,
                      char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    snprintf(t->listener, sizeof t->listener, "%s", name != NULL ? name : "");
    char protocol[32];
    internal_tls_protocol(cfg, name, protocol, sizeof protocol);
    if (strcasecmp(protocol, "PLAINTEXT") == 0) {
        return 0;
    }
    if (strcasecmp(protocol, "SSL") != 0) {
        snprintf(err, errlen,
                 "listener %s uses security protocol %s; Sluice's internal listeners speak "
                 "PLAINTEXT or SSL (mutual TLS)",
                 name, protocol);
        return -EINVAL;
    }
    listener_tls_settings(cfg, name, &t->settings);
    t->settings.client_auth = "required"; /* a peer inside the cluster always proves itself */
    const char *algo =
        sluice_config_listener_value(cfg, name, "ssl.endpoint.identification.algorithm",
                                     cfg->ssl_endpoint_identification_algorithm);
    t->verify_host = algo != NULL && strcasecmp(algo, "https") == 0;
    const char *pattern = cfg->node_principal_pattern != NULL ? cfg->node_principal_pattern : "";
    const char *mark = strstr(pattern, "{id}");
    if (mark == NULL || strstr(mark + 4, "{id}") != NULL ||
        strlen(pattern) >= sizeof t->node_pattern) {
        snprintf(err, errlen,
                 "node.principal.pattern=%s must name each node's principal with one {id} "
                 "(e.g. User:CN=sluice-node-{id})",
                 pattern);
        return -EINVAL;
    }
    snprintf(t->node_pattern, sizeof t->node_pattern, "%s", pattern);
    char inner[400];
    const char *rules = sluice_config_listener_value(cfg, name, "ssl.principal.mapping.rules",
                                                     cfg->ssl_principal_mapping_rules);
    int rv = ssl_principal_rules_parse(rules, &t->rules, inner, sizeof inner);
    if (rv != 0) {
        snprintf(err, errlen, "listener %s: ssl.principal.mapping.rules: %s", name, inner);
        return rv;
    }
    rv = tls_context_new(&t->settings, &t->server, inner, sizeof inner);
    if (rv == 0) {
        rv = tls_context_new_client(&t->settings, &t->client, inner, sizeof inner);
    }
    if (rv != 0) {
        snprintf(err, errlen, "listener %s (SSL): %s", name, inner);
        internal_tls_close(t);
        return rv;
    }
    return 0;
}

bool internal_tls_enabled(const struct internal_tls *t)
{
    return t->server != NULL;
}

int internal_tls_reload(struct internal_tls *t, char *err, size_t errlen)
{
    if (t->server == NULL) {
        return 0;
    }
    int rv = tls_context_reload(t->server, err, errlen);
    return rv != 0 ? rv : tls_context_reload(t->client, err, errlen);
}

int32_t internal_tls_pattern_node(const char *pattern, const char *principal)
{
    const char *mark = strstr(pattern, "{id}");
    if (mark == NULL || principal == NULL) {
        return -1;
    }
    size_t pre = (size_t)(mark - pattern);
    const char *suffix = mark + 4;
    size_t suffix_len = strlen(suffix);
    size_t len = strlen(principal);
    if (len <= pre + suffix_len || strncmp(principal, pattern, pre) != 0 ||
        strcmp(principal + len - suffix_len, suffix) != 0) {
        return -1;
    }
    const char *digits = principal + pre;
    size_t n = len - pre - suffix_len;
    if (n > 9 || (n > 1 && digits[0] == '0')) {
        return -1; /* node ids are int32; "07" is not node 7's name */
    }
    int32_t id = 0;
    for (size_t i = 0; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9') {
            return -1;
        }
        id = id * 10 + (digits[i] - '0');
    }
    return id;
}

void internal_tls_identify(const struct internal_tls *t, const char *subject,
                           struct internal_peer *out)
{
    out->node = -1;
    char name[256];
    if (subject == NULL) {
        snprintf(out->principal, sizeof out->principal, "(no certificate)");
        return;
    }
    if (t->rules == NULL || ssl_principal_map(t->rules, subject, name, sizeof name) != 0) {
        snprintf(out->principal, sizeof out->principal, "(subject %s matches no mapping rule)",
                 subject);
        return;
    }
    snprintf(out->principal, sizeof out->principal, "User:%s", name);
    out->node = internal_tls_pattern_node(t->node_pattern, out->principal);
}

bool internal_tls_call_is_node(const struct internal_tls *t, struct rpc_call *call, int32_t node,
                               char *why, size_t whylen)
{
    if (t == NULL || !internal_tls_enabled(t)) {
        return true;
    }
    struct internal_peer peer;
    internal_tls_identify(t, rpc_call_peer_subject(call), &peer);
    if (peer.node >= 0 && (node < 0 || peer.node == node)) {
        return true;
    }
    if (peer.node < 0) {
        snprintf(why, whylen, "principal %s is not a node's (node.principal.pattern=%s)",
                 peer.principal, t->node_pattern);
    } else {
        snprintf(why, whylen, "principal %s is node %d, not node %d", peer.principal, peer.node,
                 node);
    }
    return false;
}

void internal_tls_close(struct internal_tls *t)
{
    ssl_principal_rules_free(t->rules);
    t->rules = NULL;
    tls_context_free(t->server);
    tls_context_free(t->client);
    t->server = t->client = NULL;
}
