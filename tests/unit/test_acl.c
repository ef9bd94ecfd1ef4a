/* metadata/acl: StandardAuthorizer's matching rules (KIP-801), filters,
 * validation, and the sorted image array through fsm replay. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metadata/acl.h"
#include "metadata/fsm.h"
#include "metadata/records.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"

static MetadataImage *img;

static void setup(void)
{
    img = image_new();
    ck_assert_ptr_nonnull(img);
}

static void teardown(void)
{
    image_free(img);
}

static AclBinding binding(int32_t type, const char *name, int32_t pattern, const char *principal,
                          const char *host, int32_t op, int32_t perm)
{
    AclBinding b;
    sluice__metadata__access_control_entry_record__init(&b);
    b.version = 1;
    b.resource_type = type;
    b.resource_name = (char *)name;
    b.pattern_type = pattern;
    b.principal = (char *)principal;
    b.host = (char *)host;
    b.operation = op;
    b.permission = perm;
    return b;
}

static void put(int32_t type, const char *name, int32_t pattern, const char *principal,
                const char *host, int32_t op, int32_t perm)
{
    AclBinding b = binding(type, name, pattern, principal, host, op, perm);
    ck_assert_ptr_null(acl_binding_invalid(&b));
    ck_assert_int_eq(image_put_acl(img, &b), 0);
}

static bool may(const char *principal, const char *host, int32_t op, int32_t type, const char *name,
                bool allow_if_none)
{
    struct acl_action a = {principal, host, op, type, name};
    return acl_authorize(img, &a, allow_if_none);
}

#define TOPIC   ACL_RESOURCE_TOPIC
#define LITERAL ACL_PATTERN_LITERAL
#define ALLOW   ACL_PERMISSION_ALLOW
#define DENY    ACL_PERMISSION_DENY

START_TEST(test_no_acl_default)
{
    ck_assert(!may("User:alice", "10.0.0.1", ACL_OP_READ, TOPIC, "t", false));
    ck_assert(may("User:alice", "10.0.0.1", ACL_OP_READ, TOPIC, "t", true));
    /* A binding for someone else on the resource closes it to the rest. */
    put(TOPIC, "t", LITERAL, "User:bob", "*", ACL_OP_READ, ALLOW);
    ck_assert(!may("User:alice", "10.0.0.1", ACL_OP_READ, TOPIC, "t", true));
    ck_assert(may("User:alice", "10.0.0.1", ACL_OP_READ, TOPIC, "other", true));
}
END_TEST

START_TEST(test_allow_and_deny_wins)
{
    put(TOPIC, "t", LITERAL, "User:alice", "*", ACL_OP_READ, ALLOW);
    ck_assert(may("User:alice", "10.0.0.1", ACL_OP_READ, TOPIC, "t", false));
    ck_assert(!may("User:alice", "10.0.0.1", ACL_OP_WRITE, TOPIC, "t", false));
    ck_assert(!may("User:bob", "10.0.0.1", ACL_OP_READ, TOPIC, "t", false));
    /* A DENY for everyone on every topic beats alice's ALLOW. */
    put(TOPIC, "*", LITERAL, "User:*", "*", ACL_OP_READ, DENY);
    ck_assert(!may("User:alice", "10.0.0.1", ACL_OP_READ, TOPIC, "t", false));
}
END_TEST

START_TEST(test_wildcards_and_hosts)
{
    put(TOPIC, "*", LITERAL, "User:*", "10.0.0.1", ACL_OP_WRITE, ALLOW);
    ck_assert(may("User:anyone", "10.0.0.1", ACL_OP_WRITE, TOPIC, "x", false));
    ck_assert(!may("User:anyone", "10.0.0.2", ACL_OP_WRITE, TOPIC, "x", false));
    ck_assert(!may("User:anyone", "10.0.0.1", ACL_OP_WRITE, ACL_RESOURCE_GROUP, "x", false));
    put(TOPIC, "x", LITERAL, "User:carol", "10.0.0.2", ACL_OP_ALL, DENY);
    ck_assert(!may("User:carol", "10.0.0.2", ACL_OP_WRITE, TOPIC, "x", false));
    ck_assert(may("User:carol", "10.0.0.1", ACL_OP_WRITE, TOPIC, "x", false));
}
END_TEST

START_TEST(test_prefixed)
{
    put(TOPIC, "orders.", ACL_PATTERN_PREFIXED, "User:alice", "*", ACL_OP_WRITE, ALLOW);
    ck_assert(may("User:alice", "h", ACL_OP_WRITE, TOPIC, "orders.eu", false));
    ck_assert(may("User:alice", "h", ACL_OP_WRITE, TOPIC, "orders.", false));
    ck_assert(!may("User:alice", "h", ACL_OP_WRITE, TOPIC, "orders", false));
    ck_assert(!may("User:alice", "h", ACL_OP_WRITE, TOPIC, "payments", false));
    put(TOPIC, "orders.secret", ACL_PATTERN_PREFIXED, "User:alice", "*", ACL_OP_WRITE, DENY);
    ck_assert(!may("User:alice", "h", ACL_OP_WRITE, TOPIC, "orders.secret.1", false));
    ck_assert(may("User:alice", "h", ACL_OP_WRITE, TOPIC, "orders.public", false));
}
END_TEST

START_TEST(test_implied_operations)
{
    put(TOPIC, "r", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    put(TOPIC, "w", LITERAL, "User:a", "*", ACL_OP_WRITE, ALLOW);
    put(TOPIC, "d", LITERAL, "User:a", "*", ACL_OP_DELETE, ALLOW);
    put(TOPIC, "al", LITERAL, "User:a", "*", ACL_OP_ALTER, ALLOW);
    put(TOPIC, "c", LITERAL, "User:a", "*", ACL_OP_CREATE, ALLOW);
    put(TOPIC, "ac", LITERAL, "User:a", "*", ACL_OP_ALTER_CONFIGS, ALLOW);
    put(TOPIC, "all", LITERAL, "User:a", "*", ACL_OP_ALL, ALLOW);
    const char *implying[] = {"r", "w", "d", "al", "all"};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_msg(may("User:a", "h", ACL_OP_DESCRIBE, TOPIC, implying[i], false), "%s",
                      implying[i]);
    }
    ck_assert(!may("User:a", "h", ACL_OP_DESCRIBE, TOPIC, "c", false));
    ck_assert(!may("User:a", "h", ACL_OP_DESCRIBE, TOPIC, "ac", false));
    ck_assert(may("User:a", "h", ACL_OP_DESCRIBE_CONFIGS, TOPIC, "ac", false));
    ck_assert(!may("User:a", "h", ACL_OP_DESCRIBE_CONFIGS, TOPIC, "r", false));
    ck_assert(!may("User:a", "h", ACL_OP_WRITE, TOPIC, "r", false));
    /* A DENY of READ does not deny DESCRIBE (implication is for ALLOW only). */
    put(TOPIC, "w", LITERAL, "User:a", "*", ACL_OP_READ, DENY);
    ck_assert(may("User:a", "h", ACL_OP_DESCRIBE, TOPIC, "w", false));
    put(TOPIC, "w", LITERAL, "User:a", "*", ACL_OP_DESCRIBE, DENY);
    ck_assert(!may("User:a", "h", ACL_OP_DESCRIBE, TOPIC, "w", false));
}
END_TEST

START_TEST(test_validation)
{
    AclBinding b = binding(TOPIC, "t", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    ck_assert_ptr_null(acl_binding_invalid(&b));
    b.pattern_type = ACL_PATTERN_MATCH;
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
    b = binding(TOPIC, "", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
    b = binding(TOPIC, "t", LITERAL, "alice", "*", ACL_OP_READ, ALLOW);
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
    b = binding(TOPIC, "t", LITERAL, "User:a", "*", ACL_OP_ANY, ALLOW);
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
    b = binding(TOPIC, "t", LITERAL, "User:a", "*", ACL_OP_IDEMPOTENT_WRITE, ALLOW);
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
    b = binding(ACL_RESOURCE_GROUP, "g", LITERAL, "User:a", "*", ACL_OP_WRITE, ALLOW);
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
    b = binding(ACL_RESOURCE_CLUSTER, "c", LITERAL, "User:a", "*", ACL_OP_CREATE, ALLOW);
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
    b = binding(ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME, LITERAL, "User:a", "*", ACL_OP_CREATE,
                ALLOW);
    ck_assert_ptr_null(acl_binding_invalid(&b));
    b = binding(ACL_RESOURCE_ANY, "t", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
    b = binding(TOPIC, "t", LITERAL, "User:a", "*", ACL_OP_READ, ACL_PERMISSION_ANY);
    ck_assert_ptr_nonnull(acl_binding_invalid(&b));
}
END_TEST

START_TEST(test_filters)
{
    AclBinding lit = binding(TOPIC, "orders", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    AclBinding star = binding(TOPIC, "*", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    AclBinding pre = binding(TOPIC, "ord", ACL_PATTERN_PREFIXED, "User:b", "h", ACL_OP_WRITE, DENY);
    struct acl_filter any = {ACL_RESOURCE_ANY,  NULL, ACL_PATTERN_ANY, NULL, NULL, ACL_OP_ANY,
                             ACL_PERMISSION_ANY};
    ck_assert(acl_filter_matches(&any, &lit) && acl_filter_matches(&any, &pre));
    struct acl_filter f = any;
    f.resource_name = "orders";
    ck_assert(acl_filter_matches(&f, &lit));
    ck_assert(!acl_filter_matches(&f, &star)); /* ANY: the exact name */
    ck_assert(!acl_filter_matches(&f, &pre));
    f.pattern_type = ACL_PATTERN_MATCH; /* what applies to "orders" */
    ck_assert(acl_filter_matches(&f, &lit) && acl_filter_matches(&f, &star) &&
              acl_filter_matches(&f, &pre));
    f.pattern_type = ACL_PATTERN_PREFIXED;
    ck_assert(!acl_filter_matches(&f, &pre)); /* PREFIXED: the exact prefix */
    f.resource_name = "ord";
    ck_assert(acl_filter_matches(&f, &pre));
    f = any;
    f.principal = "User:b";
    f.permission = DENY;
    ck_assert(acl_filter_matches(&f, &pre) && !acl_filter_matches(&f, &lit));
    f = any;
    f.operation = ACL_OP_UNKNOWN;
    ck_assert_ptr_nonnull(acl_filter_invalid(&f));
    ck_assert_ptr_null(acl_filter_invalid(&any));
}
END_TEST

START_TEST(test_sorted_and_idempotent)
{
    put(TOPIC, "b", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    put(TOPIC, "a", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    put(ACL_RESOURCE_GROUP, "a", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    put(TOPIC, "a", ACL_PATTERN_PREFIXED, "User:a", "*", ACL_OP_READ, ALLOW);
    put(TOPIC, "a", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW); /* again: no change */
    ck_assert_uint_eq(img->n_acls, 4);
    for (size_t i = 1; i < img->n_acls; i++) {
        ck_assert_int_lt(acl_compare(img->acls[i - 1], img->acls[i]), 0);
    }
    AclBinding b = binding(TOPIC, "a", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    ck_assert(image_remove_acl(img, &b));
    ck_assert(!image_remove_acl(img, &b));
    ck_assert_uint_eq(img->n_acls, 3);
}
END_TEST

/* Many bindings on other resources do not change a decision (the lookup
 * is by resource range, so it stays correct at the ends of each range). */
START_TEST(test_many_bindings)
{
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "topic-%04d", i);
        put(TOPIC, name, i % 2 ? LITERAL : ACL_PATTERN_PREFIXED, "User:u", "*", ACL_OP_READ, ALLOW);
    }
    ck_assert(may("User:u", "h", ACL_OP_READ, TOPIC, "topic-0001", false));
    ck_assert(may("User:u", "h", ACL_OP_READ, TOPIC, "topic-0002-suffix", false));
    ck_assert(!may("User:u", "h", ACL_OP_READ, TOPIC, "topic-0003-suffix", false));
    ck_assert(!may("User:v", "h", ACL_OP_READ, TOPIC, "topic-0001", true));
    ck_assert(may("User:v", "h", ACL_OP_READ, TOPIC, "nothing", true));
}
END_TEST

/* Replay: records add and remove bindings; a removal of a missing one and
 * an invalid binding are rejected per record. */
START_TEST(test_fsm_replay)
{
    struct fsm fsm;
    ck_assert_int_eq(fsm_init(&fsm, 4), 0);
    MetadataBatch *batch = records_batch_new();
    AclBinding ok = binding(TOPIC, "t", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    AclBinding bad = binding(TOPIC, "t", ACL_PATTERN_ANY, "User:a", "*", ACL_OP_READ, ALLOW);
    AclBinding missing = binding(TOPIC, "u", LITERAL, "User:a", "*", ACL_OP_READ, ALLOW);
    ck_assert_int_eq(records_add_acl(batch, &ok), 0);
    ck_assert_int_eq(records_add_acl(batch, &bad), 0);
    ck_assert_int_eq(records_add_remove_acl(batch, &missing), 0);
    void *entry;
    size_t len;
    ck_assert_int_eq(fsm_batch_pack(batch, malloc, &entry, &len), 0);
    const struct fsm_result *res;
    ck_assert_int_eq(fsm_apply(&fsm, entry, len, &res), 0);
    ck_assert_uint_eq(res->n, 3);
    ck_assert_int_eq(res->errors[0], KAFKA_ERROR_NONE);
    ck_assert_int_eq(res->errors[1], KAFKA_ERROR_INVALID_REQUEST);
    ck_assert_int_eq(res->errors[2], KAFKA_ERROR_RESOURCE_NOT_FOUND);
    ck_assert_uint_eq(fsm.image->n_acls, 1);
    ck_assert_ptr_nonnull(image_find_acl(fsm.image, &ok));
    free(entry);
    records_free(batch);
    fsm_close(&fsm);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_no_acl_default);
    tcase_add_test(tc, test_allow_and_deny_wins);
    tcase_add_test(tc, test_wildcards_and_hosts);
    tcase_add_test(tc, test_prefixed);
    tcase_add_test(tc, test_implied_operations);
    tcase_add_test(tc, test_validation);
    tcase_add_test(tc, test_filters);
    tcase_add_test(tc, test_sorted_and_idempotent);
    tcase_add_test(tc, test_many_bindings);
    tcase_add_test(tc, test_fsm_replay);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
