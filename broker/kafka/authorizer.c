/* The broker's authorizer (authorizer.h): settings, super users, and the
 * call's principal and host handed to acl_authorize over the view. */
#include "broker/kafka/authorizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kafka/dispatch.h"

/* The names Kafka gives its ACL authorizers: either switches ours on. */
static const char *const AUTHORIZER_NAMES[] = {
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
};

struct kafka_authorizer {
    bool allow_if_no_acl;
    char *super_users; /* the setting, split in place at ';' */
    const char **supers;
    size_t n_supers;
};

void kafka_authorizer_free(struct kafka_authorizer *a)
{
    if (a != NULL) {
        free(a->super_users);
        free(a->supers);
        free(a);
    }
}

static bool known_name(const char *name)
{
    for (size_t i = 0; i < sizeof AUTHORIZER_NAMES / sizeof AUTHORIZER_NAMES[0]; i++) {
        if (strcmp(name, AUTHORIZER_NAMES[i]) == 0) {
            return true;
        }
    }
    return false;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    return s;
}

/* super.users: "User:a;User:b", each Type:name. */
static int parse_supers(struct kafka_authorizer *a, const char *setting, char *err, size_t errlen)
{
    a->super_users = strdup(setting != NULL ? setting : "");
    a->supers = calloc(strlen(a->super_users) / 2 + 1, sizeof *a->supers);
    if (a->super_users == NULL || a->supers == NULL) {
        return -ENOMEM;
    }
    char *save = NULL;
    for (char *tok = strtok_r(a->super_users, ";", &save); tok != NULL;
         tok = strtok_r(NULL, ";", &save)) {
        char *p = trim(tok);
        if (*p == '\0') {
            continue;
        }
        const char *colon = strchr(p, ':');
        if (colon == NULL || colon == p || colon[1] == '\0') {
            snprintf(err, errlen, "super.users: '%s' is not a principal of the form User:name", p);
            return -EINVAL;
        }
        a->supers[a->n_supers++] = p;
    }
    return 0;
}

int kafka_authorizer_new(const struct sluice_config *cfg, struct kafka_authorizer **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    const char *name = cfg->authorizer_class_name != NULL ? cfg->authorizer_class_name : "";
    if (name[0] == '\0') {
        return 0;
    }
    if (!known_name(name)) {
        snprintf(err, errlen,
                 "authorizer.class.name: unknown authorizer '%s' (use "
                 "org.apache.kafka.metadata.authorizer.StandardAuthorizer)",
                 name);
        return -EINVAL;
    }
    struct kafka_authorizer *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return -ENOMEM;
    }
    a->allow_if_no_acl = cfg->allow_everyone_if_no_acl_found;
    int rv = parse_supers(a, cfg->super_users, err, errlen);
    if (rv != 0) {
        kafka_authorizer_free(a);
        return rv;
    }
    *out = a;
    return 0;
}

bool kafka_authorizer_enabled(const struct kafka_call *call)
{
    return call->svc->authorizer != NULL;
}

/* The peer's address without port or brackets, as Kafka's host. */
static const char *client_address(struct kafka_call *call)
{
    const char *peer = kafka_conn_peer(call->req->conn);
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    char *h = kafka_arena_alloc(&call->arena, n + 1);
    if (h == NULL) {
        return "";
    }
    memcpy(h, peer, n);
    h[n] = '\0';
    return h;
}

static bool is_super(const struct kafka_authorizer *a, const char *principal)
{
    for (size_t i = 0; i < a->n_supers; i++) {
        if (strcmp(a->supers[i], principal) == 0) {
            return true;
        }
    }
    return false;
}

bool kafka_authorize_any(struct kafka_call *call, int32_t operation, int32_t resource_type)
{
    const struct kafka_authorizer *a = call->svc->authorizer;
    const char *principal = kafka_conn_principal(call->req->conn);
    if (a == NULL || is_super(a, principal)) {
        return true;
    }
    struct acl_action action = {principal, client_address(call), operation, resource_type, ""};
    return metadata_view_authorize_any(call->svc->metadata, &action);
}

bool kafka_authorize(struct kafka_call *call, int32_t operation, int32_t resource_type,
                     const char *name)
{
    const struct kafka_authorizer *a = call->svc->authorizer;
    if (a == NULL) {
        return true;
    }
    const char *principal = kafka_conn_principal(call->req->conn);
    if (is_super(a, principal)) {
        return true;
    }
    struct acl_action action = {
        .principal = principal,
        .host = client_address(call),
        .operation = operation,
        .resource_type = resource_type,
        .resource_name = name != NULL ? name : "",
    };
    return metadata_view_authorize(call->svc->metadata, &action, a->allow_if_no_acl);
}
