/* ACL bindings: validation, filters, the sorted image array and the
 * StandardAuthorizer decision (acl.h). */
#include "metadata/acl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation and filters ---- */

static uint32_t op_bit(int32_t op)
{
    return 1u << (uint32_t)op;
}

/* Kafka's AclEntry.supportedOperations per resource type (ALL always). */
static uint32_t operations_of(int32_t resource_type)
{
    switch (resource_type) {
    case ACL_RESOURCE_TOPIC:
        return op_bit(ACL_OP_READ) | op_bit(ACL_OP_WRITE) | op_bit(ACL_OP_CREATE) |
               op_bit(ACL_OP_DESCRIBE) | op_bit(ACL_OP_DELETE) | op_bit(ACL_OP_ALTER) |
               op_bit(ACL_OP_DESCRIBE_CONFIGS) | op_bit(ACL_OP_ALTER_CONFIGS);
    case ACL_RESOURCE_GROUP:
        return op_bit(ACL_OP_READ) | op_bit(ACL_OP_DESCRIBE) | op_bit(ACL_OP_DELETE);
    case ACL_RESOURCE_CLUSTER:
        return op_bit(ACL_OP_CREATE) | op_bit(ACL_OP_CLUSTER_ACTION) |
               op_bit(ACL_OP_DESCRIBE_CONFIGS) | op_bit(ACL_OP_ALTER_CONFIGS) |
               op_bit(ACL_OP_IDEMPOTENT_WRITE) | op_bit(ACL_OP_ALTER) | op_bit(ACL_OP_DESCRIBE);
    case ACL_RESOURCE_TRANSACTIONAL_ID:
        return op_bit(ACL_OP_DESCRIBE) | op_bit(ACL_OP_WRITE);
    default:
        return 0;
    }
}

const char *acl_binding_invalid(const AclBinding *b)
{
    if (operations_of(b->resource_type) == 0) {
        return "Invalid resource type";
    }
    if (b->pattern_type != ACL_PATTERN_LITERAL && b->pattern_type != ACL_PATTERN_PREFIXED) {
        return "Invalid pattern type: only LITERAL and PREFIXED bindings exist";
    }
    if (b->resource_name == NULL || b->resource_name[0] == '\0') {
        return "Resource name should not be empty";
    }
    if (b->resource_type == ACL_RESOURCE_CLUSTER &&
        strcmp(b->resource_name, ACL_CLUSTER_NAME) != 0) {
        return "The only valid name for the CLUSTER resource is " ACL_CLUSTER_NAME;
    }
    if (b->operation != ACL_OP_ALL &&
        (b->operation <= ACL_OP_ALL || b->operation > 31 ||
         (operations_of(b->resource_type) & op_bit(b->operation)) == 0)) {
        return "Operation not supported by the resource type";
    }
    if (b->permission != ACL_PERMISSION_ALLOW && b->permission != ACL_PERMISSION_DENY) {
        return "Invalid permission type";
    }
    const char *colon = b->principal != NULL ? strchr(b->principal, ':') : NULL;
    if (colon == NULL || colon == b->principal || colon[1] == '\0') {
        return "Could not parse principal: expected Type:name";
    }
    if (b->host == NULL || b->host[0] == '\0') {
        return "Invalid host";
    }
    return NULL;
}

const char *acl_filter_invalid(const struct acl_filter *f)
{
    if (f->resource_type == ACL_RESOURCE_UNKNOWN || f->pattern_type == ACL_PATTERN_UNKNOWN ||
        f->operation == ACL_OP_UNKNOWN || f->permission == ACL_PERMISSION_UNKNOWN) {
        return "The filter has an UNKNOWN element";
    }
    return NULL;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Kafka's ResourcePatternFilter.matches. */
static bool pattern_matches(const struct acl_filter *f, const AclBinding *b)
{
    if (f->resource_type != ACL_RESOURCE_ANY && f->resource_type != b->resource_type) {
        return false;
    }
    if (f->pattern_type != ACL_PATTERN_ANY && f->pattern_type != ACL_PATTERN_MATCH &&
        f->pattern_type != b->pattern_type) {
        return false;
    }
    if (f->resource_name == NULL) {
        return true;
    }
    if (f->pattern_type == ACL_PATTERN_ANY || f->pattern_type == b->pattern_type) {
        return strcmp(f->resource_name, b->resource_name) == 0;
    }
    if (b->pattern_type == ACL_PATTERN_LITERAL) { /* MATCH */
        return strcmp(f->resource_name, b->resource_name) == 0 ||
               strcmp(b->resource_name, ACL_WILDCARD_RESOURCE) == 0;
    }
    return b->pattern_type == ACL_PATTERN_PREFIXED &&
           starts_with(f->resource_name, b->resource_name);
}

bool acl_filter_matches(const struct acl_filter *f, const AclBinding *b)
{
    return pattern_matches(f, b) &&
           (f->principal == NULL || strcmp(f->principal, b->principal) == 0) &&
           (f->host == NULL || strcmp(f->host, b->host) == 0) &&
           (f->operation == ACL_OP_ANY || f->operation == b->operation) &&
           (f->permission == ACL_PERMISSION_ANY || f->permission == b->permission);
}

/* ---- the sorted array ---- */

static int compare_int(int32_t a, int32_t b)
{
    return (a > b) - (a < b);
}

/* Compare b's pattern with (type, pattern, name[0..len)). */
static int compare_pattern(const AclBinding *b, int32_t type, int32_t pattern, const char *name,
                           size_t len)
{
    int c = compare_int(b->resource_type, type);
    if (c == 0) {
        c = compare_int(b->pattern_type, pattern);
    }
    if (c == 0) {
        c = strncmp(b->resource_name, name, len);
        if (c == 0 && b->resource_name[len] != '\0') {
            c = 1; /* longer: after */
        }
    }
    return c;
}

int acl_compare(const AclBinding *a, const AclBinding *b)
{
    int c = compare_pattern(a, b->resource_type, b->pattern_type, b->resource_name,
                            strlen(b->resource_name));
    if (c == 0) {
        c = strcmp(a->principal, b->principal);
    }
    if (c == 0) {
        c = strcmp(a->host, b->host);
    }
    if (c == 0) {
        c = compare_int(a->operation, b->operation);
    }
    if (c == 0) {
        c = compare_int(a->permission, b->permission);
    }
    return c;
}

/* The first index whose binding is not before `b`. */
static size_t lower_bound(const MetadataImage *img, const AclBinding *b)
{
    size_t lo = 0, hi = img->n_acls;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (acl_compare(img->acls[mid], b) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

const AclBinding *image_find_acl(const MetadataImage *img, const AclBinding *b)
{
    size_t i = lower_bound(img, b);
    return i < img->n_acls && acl_compare(img->acls[i], b) == 0 ? img->acls[i] : NULL;
}

int image_put_acl(MetadataImage *img, const AclBinding *b)
{
    size_t i = lower_bound(img, b);
    if (i < img->n_acls && acl_compare(img->acls[i], b) == 0) {
        return 0;
    }
    AclBinding *copy = malloc(sizeof *copy);
    AclBinding **bigger = realloc(img->acls, (img->n_acls + 1) * sizeof *bigger);
    if (bigger != NULL) {
        img->acls = bigger;
    }
    if (copy == NULL || bigger == NULL) {
        free(copy);
        return -ENOMEM;
    }
    sluice__metadata__access_control_entry_record__init(copy);
    copy->version = b->version;
    copy->resource_type = b->resource_type;
    copy->pattern_type = b->pattern_type;
    copy->operation = b->operation;
    copy->permission = b->permission;
    copy->resource_name = image_strdup(b->resource_name);
    copy->principal = image_strdup(b->principal);
    copy->host = image_strdup(b->host);
    if (copy->resource_name == NULL || copy->principal == NULL || copy->host == NULL) {
        sluice__metadata__access_control_entry_record__free_unpacked(copy, NULL);
        return -ENOMEM;
    }
    memmove(&img->acls[i + 1], &img->acls[i], (img->n_acls - i) * sizeof copy);
    img->acls[i] = copy;
    img->n_acls++;
    return 0;
}

bool image_remove_acl(MetadataImage *img, const AclBinding *b)
{
    size_t i = lower_bound(img, b);
    if (i >= img->n_acls || acl_compare(img->acls[i], b) != 0) {
        return false;
    }
    sluice__metadata__access_control_entry_record__free_unpacked(img->acls[i], NULL);
    memmove(&img->acls[i], &img->acls[i + 1], (img->n_acls - i - 1) * sizeof img->acls[0]);
    img->n_acls--;
    return true;
}

/* ---- authorization ---- */

struct decision {
    bool any_binding; /* some binding covers the resource */
    bool allowed;
    bool denied;
};

/* StandardAuthorizerData.findResult: whether `b` speaks to the action. */
static bool binding_applies(const AclBinding *b, const struct acl_action *a)
{
    if (strcmp(b->principal, a->principal) != 0 && strcmp(b->principal, ACL_WILDCARD_USER) != 0) {
        return false;
    }
    if (strcmp(b->host, ACL_WILDCARD_HOST) != 0 && strcmp(b->host, a->host) != 0) {
        return false;
    }
    if (b->operation == ACL_OP_ALL || b->operation == a->operation) {
        return true;
    }
    if (b->permission != ACL_PERMISSION_ALLOW) {
        return false;
    }
    if (a->operation == ACL_OP_DESCRIBE) {
        return b->operation == ACL_OP_READ || b->operation == ACL_OP_WRITE ||
               b->operation == ACL_OP_DELETE || b->operation == ACL_OP_ALTER;
    }
    return a->operation == ACL_OP_DESCRIBE_CONFIGS && b->operation == ACL_OP_ALTER_CONFIGS;
}

/* Every binding of the pattern (type, pattern, name[0..len)). */
static void check_range(const MetadataImage *img, const struct acl_action *a, int32_t pattern,
                        const char *name, size_t len, struct decision *d)
{
    size_t lo = 0, hi = img->n_acls;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (compare_pattern(img->acls[mid], a->resource_type, pattern, name, len) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (size_t i = lo; i < img->n_acls && !d->denied; i++) {
        const AclBinding *b = img->acls[i];
        if (compare_pattern(b, a->resource_type, pattern, name, len) != 0) {
            break;
        }
        d->any_binding = true;
        if (binding_applies(b, a)) {
            d->denied = b->permission == ACL_PERMISSION_DENY;
            d->allowed = d->allowed || b->permission == ACL_PERMISSION_ALLOW;
        }
    }
}

bool acl_authorize(const MetadataImage *img, const struct acl_action *a, bool allow_if_no_acl)
{
    struct decision d = {false, false, false};
    size_t len = strlen(a->resource_name);
    check_range(img, a, ACL_PATTERN_LITERAL, a->resource_name, len, &d);
    if (strcmp(a->resource_name, ACL_WILDCARD_RESOURCE) != 0) {
        check_range(img, a, ACL_PATTERN_LITERAL, ACL_WILDCARD_RESOURCE, 1, &d);
    }
    for (size_t k = 1; k <= len && !d.denied; k++) {
        check_range(img, a, ACL_PATTERN_PREFIXED, a->resource_name, k, &d);
    }
    if (d.denied) {
        return false;
    }
    return d.allowed || (!d.any_binding && allow_if_no_acl);
}

/* Whether `b` is about the action's principal, host and exact operation. */
static bool binding_speaks_exactly(const AclBinding *b, const struct acl_action *a)
{
    return (strcmp(b->principal, a->principal) == 0 ||
            strcmp(b->principal, ACL_WILDCARD_USER) == 0) &&
           (strcmp(b->host, ACL_WILDCARD_HOST) == 0 || strcmp(b->host, a->host) == 0) &&
           (b->operation == ACL_OP_ALL || b->operation == a->operation) &&
           b->resource_type == a->resource_type;
}

static bool deny_covers(const AclBinding *deny, const AclBinding *allow)
{
    if (deny->pattern_type == ACL_PATTERN_LITERAL) {
        return strcmp(deny->resource_name, ACL_WILDCARD_RESOURCE) == 0 ||
               (allow->pattern_type == ACL_PATTERN_LITERAL &&
                strcmp(deny->resource_name, allow->resource_name) == 0);
    }
    return starts_with(allow->resource_name, deny->resource_name);
}

bool acl_authorize_any(const MetadataImage *img, const struct acl_action *a)
{
    for (size_t i = 0; i < img->n_acls; i++) {
        const AclBinding *allow = img->acls[i];
        if (allow->permission != ACL_PERMISSION_ALLOW || !binding_speaks_exactly(allow, a)) {
            continue;
        }
        bool denied = false;
        for (size_t k = 0; k < img->n_acls && !denied; k++) {
            const AclBinding *deny = img->acls[k];
            denied = deny->permission == ACL_PERMISSION_DENY && binding_speaks_exactly(deny, a) &&
                     deny_covers(deny, allow);
        }
        if (!denied) {
            return true;
        }
    }
    return false;
}
