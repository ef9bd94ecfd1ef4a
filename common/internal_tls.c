/* Mutual TLS inside the cluster; see internal_tls.h. */
#include "common/internal_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/* The listener's ssl.* settings: listener.name.<name>.ssl.* over ssl.*. */
static void listener_settings(const struct sluice_config *cfg, const char *name,
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
        .client_auth = "required", /* a peer inside the cluster always proves itself */
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
    listener_settings(cfg, name, &t->settings);
    const char *algo =
        sluice_config_listener_value(cfg, name, "ssl.endpoint.identification.algorithm",
                                     cfg->ssl_endpoint_identification_algorithm);
    t->verify_host = algo != NULL && strcasecmp(algo, "https") == 0;
    char inner[400];
    int rv = tls_context_new(&t->settings, &t->server, inner, sizeof inner);
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

void internal_tls_close(struct internal_tls *t)
{
    tls_context_free(t->server);
    tls_context_free(t->client);
    t->server = t->client = NULL;
}
