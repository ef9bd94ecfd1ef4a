/* ACL bindings in the metadata image and Kafka's StandardAuthorizer rules
 * over them (KIP-801): which bindings a filter matches (DescribeAcls,
 * DeleteAcls), whether a binding may be created, and the authorization
 * decision for one action.
 *
 * The image keeps its bindings sorted by (resource type, pattern type,
 * resource name, principal, host, operation, permission), so the bindings
 * of one resource pattern are one contiguous range found by binary search:
 * an authorization looks at the literal name, the literal wildcard "*" and
 * each prefix of the name, O(name length x log bindings), never every
 * binding. Pure and single-threaded: no I/O, no allocation except in
 * image_put_acl. Codes are Kafka's (AclOperation, ResourceType, PatternType,
 * AclPermissionType). */
#ifndef SLUICE_METADATA_ACL_H
#define SLUICE_METADATA_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metadata/image.h"

typedef Sluice__Metadata__AccessControlEntryRecord AclBinding;

enum acl_resource_type {
    ACL_RESOURCE_UNKNOWN = 0,
    ACL_RESOURCE_ANY = 1,
    ACL_RESOURCE_TOPIC = 2,
    ACL_RESOURCE_GROUP = 3,
    ACL_RESOURCE_CLUSTER = 4,
    ACL_RESOURCE_TRANSACTIONAL_ID = 5,
};

enum acl_pattern_type {
    ACL_PATTERN_UNKNOWN = 0,
    ACL_PATTERN_ANY = 1,
    ACL_PATTERN_MATCH = 2,
    ACL_PATTERN_LITERAL = 3,
    ACL_PATTERN_PREFIXED = 4,
};

enum acl_operation {
    ACL_OP_UNKNOWN = 0,
    ACL_OP_ANY = 1,
    ACL_OP_ALL = 2,
    ACL_OP_READ = 3,
    ACL_OP_WRITE = 4,
    ACL_OP_CREATE = 5,
    ACL_OP_DELETE = 6,
    ACL_OP_ALTER = 7,
    ACL_OP_DESCRIBE = 8,
    ACL_OP_CLUSTER_ACTION = 9,
    ACL_OP_DESCRIBE_CONFIGS = 10,
    ACL_OP_ALTER_CONFIGS = 11,
    ACL_OP_IDEMPOTENT_WRITE = 12,
};

enum acl_permission {
    ACL_PERMISSION_UNKNOWN = 0,
    ACL_PERMISSION_ANY = 1,
    ACL_PERMISSION_DENY = 2,
    ACL_PERMISSION_ALLOW = 3,
};

/* The only name of the CLUSTER resource, and the wildcards. */
#define ACL_CLUSTER_NAME      "kafka-cluster"
#define ACL_WILDCARD_RESOURCE "*"
#define ACL_WILDCARD_HOST     "*"
#define ACL_WILDCARD_USER     "User:*"

/* Kafka's AclBindingFilter: NULL strings match anything, ANY codes too;
 * pattern MATCH matches every pattern that would apply to the name. */
struct acl_filter {
    int32_t resource_type;
    const char *resource_name;
    int32_t pattern_type;
    const char *principal;
    const char *host;
    int32_t operation;
    int32_t permission;
};

/* Why a binding may not be created (Kafka answers INVALID_REQUEST), or NULL
 * if it may: known concrete codes, LITERAL or PREFIXED, a non-empty name
 * ("kafka-cluster" for CLUSTER), an operation the resource type has, a
 * "Type:name" principal and a host. */
const char *acl_binding_invalid(const AclBinding *b);
/* Why a filter is unusable (INVALID_REQUEST), or NULL: UNKNOWN codes. */
const char *acl_filter_invalid(const struct acl_filter *f);
bool acl_filter_matches(const struct acl_filter *f, const AclBinding *b);

/* The sort order of the image's bindings: <0, 0, >0. */
int acl_compare(const AclBinding *a, const AclBinding *b);
/* find: the image's equal binding or NULL. put: insert a copy unless an
 * equal one is there (0 either way, -ENOMEM). remove: whether one was. */
const AclBinding *image_find_acl(const MetadataImage *img, const AclBinding *b);
int image_put_acl(MetadataImage *img, const AclBinding *b);
bool image_remove_acl(MetadataImage *img, const AclBinding *b);

/* One action to authorize: `principal` ("User:alice") from `host` (an
 * address, no leading '/') does `operation` on the resource. */
struct acl_action {
    const char *principal;
    const char *host;
    int32_t operation;
    int32_t resource_type;
    const char *resource_name;
};

/* StandardAuthorizer's decision from the bindings alone (super users are
 * the caller's): a matching DENY wins; else a matching ALLOW allows (ALLOW
 * of READ, WRITE, DELETE or ALTER implies DESCRIBE, of ALTER_CONFIGS
 * implies DESCRIBE_CONFIGS; ALL matches every operation); a binding matches
 * when its pattern covers the resource, its principal is the action's or
 * User:*, its host the action's or *. If no binding at all covers the
 * resource, `allow_if_no_acl` decides (allow.everyone.if.no.acl.found). */
bool acl_authorize(const MetadataImage *img, const struct acl_action *a, bool allow_if_no_acl);

/* Kafka's authorizeByResourceType: whether some resource of the action's
 * type (its name is ignored) allows the operation: an ALLOW binding whose
 * pattern no DENY covers, and no DENY on every resource (LITERAL "*").
 * Only ALLOW/DENY of the operation itself or ALL count. Linear in the
 * bindings of that type: for rare requests (InitProducerId). */
bool acl_authorize_any(const MetadataImage *img, const struct acl_action *a);

#endif
