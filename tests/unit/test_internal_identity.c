/* Who a peer inside the cluster is: node.principal.pattern matching
 * (common/internal_tls.h) and the raft handshake's claimed id
 * (controller/raft_tls.h). */
#include <check.h>
#include <string.h>

#include "common/internal_tls.h"
#include "common/ssl_principal.h"
#include "controller/raft_tls.h"
#include "tests/unit/check_main.h"

START_TEST(test_pattern_names_each_node)
{
    const char *pat = "User:CN=sluice-node-{id}";
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node-3"), 3);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node-0"), 0);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node-120"), 120);
    /* Not a node's: another name, no id, a sign, a leading zero, extra text, too long. */
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=alice"), -1);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node-"), -1);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node--3"), -1);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node-03"), -1);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node-3,O=x"), -1);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node-3x"), -1);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "User:CN=sluice-node-9999999999"), -1);
    ck_assert_int_eq(internal_tls_pattern_node(pat, "user:CN=sluice-node-3"), -1);
    /* The id anywhere in the pattern. */
    ck_assert_int_eq(
        internal_tls_pattern_node("User:node{id}.kafka.example", "User:node2.kafka.example"), 2);
    ck_assert_int_eq(internal_tls_pattern_node("User:{id}", "User:7"), 7);
    ck_assert_int_eq(internal_tls_pattern_node("User:{id}", "User:"), -1);
}
END_TEST

START_TEST(test_identify_maps_the_subject_first)
{
    struct internal_tls t;
    memset(&t, 0, sizeof t);
    char err[256];
    ck_assert_int_eq(
        ssl_principal_rules_parse("RULE:^CN=([^,]*),O=Sluice$/$1/L", &t.rules, err, sizeof err), 0);
    strcpy(t.node_pattern, "User:sluice-node-{id}");
    struct internal_peer peer;
    internal_tls_identify(&t, "CN=Sluice-Node-2,O=Sluice", &peer);
    ck_assert_str_eq(peer.principal, "User:sluice-node-2");
    ck_assert_int_eq(peer.node, 2);
    internal_tls_identify(&t, "CN=sluice-node-2,O=Other", &peer); /* no rule matches */
    ck_assert_int_eq(peer.node, -1);
    ck_assert_ptr_nonnull(strstr(peer.principal, "matches no mapping rule"));
    internal_tls_identify(&t, "CN=alice,O=Sluice", &peer);
    ck_assert_str_eq(peer.principal, "User:alice");
    ck_assert_int_eq(peer.node, -1);
    internal_tls_identify(&t, NULL, &peer);
    ck_assert_str_eq(peer.principal, "(no certificate)");
    ck_assert_int_eq(peer.node, -1);
    ssl_principal_rules_free(t.rules);
}
END_TEST

START_TEST(test_raft_handshake_claimed_id)
{
    /* raft 0.15: protocol 1, server id 3, address length 16, little-endian. */
    const uint8_t hs[24] = {1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 16};
    ck_assert_uint_eq(raft_tls_claimed_id(hs, sizeof hs), 3);
    const uint8_t big[16] = {1, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0, 0x80};
    ck_assert_uint_eq(raft_tls_claimed_id(big, sizeof big), 0x8000000000000201ull);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("internal_identity");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pattern_names_each_node);
    tcase_add_test(tc, test_identify_maps_the_subject_first);
    tcase_add_test(tc, test_raft_handshake_claimed_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
