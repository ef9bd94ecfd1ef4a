/* --command-config; see client_security.h. */
#include "tools/sluicectl/client_security.h"

#include <stdio.h>
#include <string.h>

#include "common/properties.h"

/* The value of `name="..."` in a JAAS line (PlainLoginModule / ScramLoginModule). */
static bool jaas_value(const char *jaas, const char *name, char *out, size_t cap)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "%s=\"", name);
    const char *p = strstr(jaas, pattern);
    if (p == NULL) {
        return false;
    }
    p += strlen(pattern);
    const char *end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= cap) {
        return false;
    }
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return true;
}

static int copy(char *dst, size_t cap, const char *key, const char *value, char *err, size_t errlen)
{
    if (strlen(value) >= cap) {
        snprintf(err, errlen, "%s is too long", key);
        return -1;
    }
    snprintf(dst, cap, "%s", value);
    return 0;
}

static int apply(struct client_security *s, const char *key, const char *value, char *err,
                 size_t errlen)
{
    if (strcmp(key, "security.protocol") == 0) {
        if (strcmp(value, "PLAINTEXT") == 0 || strcmp(value, "SSL") == 0 ||
            strcmp(value, "SASL_PLAINTEXT") == 0 || strcmp(value, "SASL_SSL") == 0) {
            s->tls = strstr(value, "SSL") != NULL;
            s->sasl = strncmp(value, "SASL_", 5) == 0;
            return 0;
        }
        snprintf(err, errlen,
                 "security.protocol: '%s' is not PLAINTEXT, SSL, SASL_PLAINTEXT or "
                 "SASL_SSL",
                 value);
        return -1;
    }
    if (strcmp(key, "sasl.mechanism") == 0) {
        return copy(s->mechanism, sizeof s->mechanism, key, value, err, errlen);
    }
    if (strcmp(key, "sasl.username") == 0) {
        return copy(s->username, sizeof s->username, key, value, err, errlen);
    }
    if (strcmp(key, "sasl.password") == 0) {
        return copy(s->password, sizeof s->password, key, value, err, errlen);
    }
    if (strcmp(key, "sasl.jaas.config") == 0) {
        if (!jaas_value(value, "username", s->username, sizeof s->username) ||
            !jaas_value(value, "password", s->password, sizeof s->password)) {
            snprintf(err, errlen, "sasl.jaas.config: expected username=\"...\" password=\"...\"");
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "ssl.ca.location") == 0 || strcmp(key, "ssl.truststore.location") == 0) {
        return copy(s->ca, sizeof s->ca, key, value, err, errlen);
    }
    if (strcmp(key, "ssl.certificate.location") == 0) {
        return copy(s->cert, sizeof s->cert, key, value, err, errlen);
    }
    if (strcmp(key, "ssl.key.location") == 0) {
        return copy(s->key, sizeof s->key, key, value, err, errlen);
    }
    if (strcmp(key, "ssl.keystore.location") == 0) { /* PEM: key and chain in one file */
        return copy(s->cert, sizeof s->cert, key, value, err, errlen) ||
               copy(s->key, sizeof s->key, key, value, err, errlen);
    }
    if (strcmp(key, "ssl.endpoint.identification.algorithm") == 0) {
        s->verify_hostname = value[0] != '\0';
    }
    return 0;
}

int client_security_load(const char *path, struct client_security *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->verify_hostname = true;
    snprintf(out->mechanism, sizeof out->mechanism, "GSSAPI"); /* Kafka's default */
    if (path == NULL) {
        return 0;
    }
    struct properties props;
    if (properties_load_file(path, &props, err, errlen) != 0) {
        return -1;
    }
    int rv = 0;
    for (size_t i = 0; rv == 0 && i < props.count; i++) {
        rv = apply(out, props.items[i].key, props.items[i].value, err, errlen);
    }
    properties_free(&props);
    if (rv == 0 && out->sasl &&
        (strcmp(out->mechanism, "PLAIN") != 0 && strcmp(out->mechanism, "SCRAM-SHA-256") != 0 &&
         strcmp(out->mechanism, "SCRAM-SHA-512") != 0)) {
        snprintf(err, errlen, "sasl.mechanism: '%s' is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                 out->mechanism);
        rv = -1;
    }
    if (rv == 0 && out->sasl && (out->username[0] == '\0' || out->password[0] == '\0')) {
        snprintf(err, errlen, "SASL needs sasl.username and sasl.password (or sasl.jaas.config)");
        rv = -1;
    }
    return rv;
}
