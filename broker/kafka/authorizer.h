/* Authorization of Kafka requests (KIP-801's StandardAuthorizer): whether
 * the connection's principal, from its host, may perform an operation on a
 * resource, decided by the ACL bindings of this broker's metadata view.
 *
 * Switched on by authorizer.class.name naming Kafka's authorizer
 * (org.apache.kafka.metadata.authorizer.StandardAuthorizer, or the older
 * kafka.security.authorizer.AclAuthorizer); super.users bypass every check;
 * allow.everyone.if.no.acl.found opens resources that have no binding at
 * all. Without it every request is allowed, as in Kafka. The principal is
 * the connection's (SASL or the TLS certificate; User:ANONYMOUS otherwise).
 * Loop thread only. */
#ifndef SLUICE_BROKER_KAFKA_AUTHORIZER_H
#define SLUICE_BROKER_KAFKA_AUTHORIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "metadata/acl.h"

struct kafka_call;
struct kafka_authorizer;

/* Parse the settings of `cfg`. *out is NULL when authorization is off.
 * Returns 0, or -EINVAL (an unknown authorizer.class.name, a super user not
 * of the form Type:name; `err` says which) or -ENOMEM. */
int kafka_authorizer_new(const struct sluice_config *cfg, struct kafka_authorizer **out, char *err,
                         size_t errlen);
void kafka_authorizer_free(struct kafka_authorizer *a);

/* Whether the call's principal may do `operation` (enum acl_operation) on
 * the resource (enum acl_resource_type, `name`; the cluster's name is
 * ACL_CLUSTER_NAME). Always true when authorization is off. */
bool kafka_authorize(struct kafka_call *call, int32_t operation, int32_t resource_type,
                     const char *name);
/* Kafka's authorizeByResourceType: whether the principal may do
 * `operation` on some resource of the type (acl_authorize_any); true when
 * off or for a super user. */
bool kafka_authorize_any(struct kafka_call *call, int32_t operation, int32_t resource_type);
/* Whether authorization is on (the ACL APIs answer SECURITY_DISABLED if not). */
bool kafka_authorizer_enabled(const struct kafka_call *call);

#endif
