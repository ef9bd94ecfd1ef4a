/* The advertised API table (ApiVersions) is exactly the floor in
 * ../shared/kafka-protocol/README.md for the APIs implemented here, plus the
 * config-altering APIs, OffsetForLeaderEpoch (KIP-320) and the group APIs, and every
 * advertised version has a codec. */
#include <check.h>

#include "broker/kafka/dispatch.h"
#include "kafka_messages.h"
#include "tests/unit/check_main.h"

struct range {
    int16_t key, min, max;
};

static const struct range expected[] = {
    {KAFKA_API_PRODUCE, 0, 7},
    {KAFKA_API_FETCH, 4, 12}, /* 12: diverging epochs (KIP-320) */
    {KAFKA_API_LIST_OFFSETS, 1, 5},
    {KAFKA_API_METADATA, 0, 8},
    {KAFKA_API_API_VERSIONS, 0, 4},
    {KAFKA_API_CREATE_TOPICS, 2, 4},
    {KAFKA_API_DELETE_TOPICS, 1, 3},
    {KAFKA_API_DELETE_RECORDS, 0, 1},
    {KAFKA_API_DESCRIBE_CONFIGS, 1, 2},
    {KAFKA_API_CREATE_PARTITIONS, 0, 1},
    {KAFKA_API_ALTER_CONFIGS, 0, 1},
    {KAFKA_API_INCREMENTAL_ALTER_CONFIGS, 0, 1},
    {KAFKA_API_DESCRIBE_LOG_DIRS, 0, 4},
    {KAFKA_API_ELECT_LEADERS, 0, 2},                 /* PREFERRED only (KIP-460) */
    {KAFKA_API_ALTER_PARTITION_REASSIGNMENTS, 0, 0}, /* KIP-455 */
    {KAFKA_API_LIST_PARTITION_REASSIGNMENTS, 0, 0},
    {KAFKA_API_OFFSET_FOR_LEADER_EPOCH, 0, 4},
    /* Consumer groups (broker/group/). */
    {KAFKA_API_FIND_COORDINATOR, 0, 4},
    {KAFKA_API_JOIN_GROUP, 0, 5},
    {KAFKA_API_SYNC_GROUP, 0, 3},
    {KAFKA_API_HEARTBEAT, 0, 3},
    {KAFKA_API_LEAVE_GROUP, 0, 3},
    {KAFKA_API_OFFSET_COMMIT, 2, 7},
    {KAFKA_API_OFFSET_FETCH, 1, 8},
    {KAFKA_API_LIST_GROUPS, 0, 4},
    {KAFKA_API_DESCRIBE_GROUPS, 0, 4},
    {KAFKA_API_DELETE_GROUPS, 0, 2},
    {KAFKA_API_OFFSET_DELETE, 0, 0},
    {KAFKA_API_INIT_PRODUCER_ID, 0, 4},
    {KAFKA_API_DESCRIBE_PRODUCERS, 0, 0},
    /* Transactions (broker/txn/). */
    {KAFKA_API_DESCRIBE_TRANSACTIONS, 0, 0},
    {KAFKA_API_LIST_TRANSACTIONS, 0, 0},
    {KAFKA_API_ADD_PARTITIONS_TO_TXN, 0, 3},
    {KAFKA_API_ADD_OFFSETS_TO_TXN, 0, 3},
    {KAFKA_API_END_TXN, 0, 3},
    {KAFKA_API_WRITE_TXN_MARKERS, 0, 1}, /* transaction markers on led partitions */
    {KAFKA_API_TXN_OFFSET_COMMIT, 0, 3}, /* offsets sent in a transaction */
    /* SASL listeners and SCRAM users. */
    {KAFKA_API_SASL_HANDSHAKE, 0, 1},
    {KAFKA_API_SASL_AUTHENTICATE, 0, 2},
    {KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0},
    {KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS, 0, 0},
    /* ACLs (KIP-801). */
    {KAFKA_API_DESCRIBE_ACLS, 0, 3},
    {KAFKA_API_CREATE_ACLS, 0, 3},
    {KAFKA_API_DELETE_ACLS, 0, 3},
};

#define N_EXPECTED (sizeof expected / sizeof *expected)

START_TEST(test_advertised_table_is_exact)
{
    ck_assert_uint_eq(kafka_dispatch_api_count(), N_EXPECTED);
    for (size_t i = 0; i < N_EXPECTED; i++) {
        int16_t min, max;
        ck_assert_msg(kafka_dispatch_advertised(expected[i].key, &min, &max), "api %d missing",
                      expected[i].key);
        ck_assert_int_eq(min, expected[i].min);
        ck_assert_int_eq(max, expected[i].max);
    }
    /* Not implemented, so never advertised (README: advertise nothing else). */
    int16_t min, max;
    ck_assert(!kafka_dispatch_advertised(68, &min, &max));
}
END_TEST

START_TEST(test_every_advertised_version_has_a_codec)
{
    for (size_t i = 0; i < kafka_dispatch_api_count(); i++) {
        int16_t key, min, max;
        kafka_dispatch_api_at(i, &key, &min, &max);
        for (int16_t v = min; v <= max; v++) {
            int16_t req_header, resp_header;
            bool flexible;
            ck_assert_msg(kafka_api_header_versions(key, v, &req_header, &resp_header, &flexible) ==
                              0,
                          "api %d version %d has no codec", key, v);
            if (key == KAFKA_API_API_VERSIONS) {
                ck_assert_int_eq(resp_header, 0); /* KIP-511 */
            }
        }
    }
}
END_TEST

START_TEST(test_log_error_mapping)
{
    ck_assert_int_eq(kafka_error_from_log(0), 0);
    ck_assert_int_eq(kafka_error_from_log(LOG_ERR_CORRUPT), 2);
    ck_assert_int_eq(kafka_error_from_log(LOG_ERR_TOO_LARGE), 10);
    ck_assert_int_eq(kafka_error_from_log(LOG_ERR_INVALID_RECORD), 87);
    ck_assert_int_eq(kafka_error_from_log(LOG_ERR_OFFSET_OUT_OF_RANGE), 1);
    ck_assert_int_eq(kafka_error_from_log(LOG_ERR_RECORD_LIST_TOO_LARGE), 18);
    ck_assert_int_eq(kafka_error_from_log(-28 /* ENOSPC */), 56);
    ck_assert_int_eq(kafka_error_from_log(LOG_ERR_OFFSET_MISMATCH), -1);
    ck_assert_int_eq(kafka_error_from_log(LOG_ERR_STALE_EPOCH), 6);
}
END_TEST

START_TEST(test_leader_epoch_fencing)
{
    ck_assert_int_eq(kafka_check_leader_epoch(-1, 5), 0);
    ck_assert_int_eq(kafka_check_leader_epoch(5, 5), 0);
    ck_assert_int_eq(kafka_check_leader_epoch(4, 5), 74); /* FENCED_LEADER_EPOCH */
    ck_assert_int_eq(kafka_check_leader_epoch(6, 5), 75); /* UNKNOWN_LEADER_EPOCH */
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("dispatch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_advertised_table_is_exact);
    tcase_add_test(tc, test_every_advertised_version_has_a_codec);
    tcase_add_test(tc, test_leader_epoch_fencing);
    tcase_add_test(tc, test_log_error_mapping);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
