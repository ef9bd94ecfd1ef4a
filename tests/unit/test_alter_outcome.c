/* What an AlterPartition answer proves, from the batcher's status to the
 * leader's decision: controller_link_alter_error (transport failures and
 * answers to codes) and alter_outcome_of (codes to outcomes). A change that
 * may have committed must never be taken as refused: the leader would drop
 * a member the controller may have committed to the ISR from its high
 * watermark (KIP-497), and a later leader elected from that ISR would lack
 * records the old one acknowledged. */
#include "broker/controller_link.h"
#include "broker/replica/alter_outcome.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

/* The outcome of a batcher callback (status, error_code, committed?). */
static enum alter_outcome outcome(int status, int32_t error_code, bool with_state)
{
    return alter_outcome_of(controller_link_alter_error(status, error_code, with_state));
}

/* The codes that prove the controller changed nothing. */
static bool proves_no_change(int32_t code)
{
    switch (code) {
    case KAFKA_ERROR_FENCED_LEADER_EPOCH:
    case KAFKA_ERROR_STALE_BROKER_EPOCH:
    case KAFKA_ERROR_UNKNOWN_TOPIC_ID:
    case KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION:
    case KAFKA_ERROR_INELIGIBLE_REPLICA:
    case KAFKA_ERROR_INVALID_REQUEST:
    case KAFKA_ERROR_OPERATION_NOT_ATTEMPTED:
        return true;
    default:
        return false;
    }
}

#define CODE(name, value) value,
static const int32_t every_code[] = {KAFKA_ERRORS(CODE)};
#undef CODE

START_TEST(test_every_controller_code)
{
    for (size_t i = 0; i < sizeof every_code / sizeof *every_code; i++) {
        int32_t code = every_code[i];
        for (int with_state = 0; with_state <= 1; with_state++) {
            enum alter_outcome got = outcome(0, code, with_state);
            enum alter_outcome want =
                code == KAFKA_ERROR_NONE
                    ? (with_state ? ALTER_OUTCOME_APPLIED : ALTER_OUTCOME_UNKNOWN)
                : code == KAFKA_ERROR_INVALID_UPDATE_VERSION ? ALTER_OUTCOME_LOST_VERSION
                : proves_no_change(code)                     ? ALTER_OUTCOME_REFUSED
                                                             : ALTER_OUTCOME_UNKNOWN;
            ck_assert_msg(got == want, "code %d with_state %d: outcome %d, want %d", code,
                          with_state, got, want);
        }
    }
}
END_TEST

/* A request that failed may have reached the controller: every failure
 * but "never sent" may have committed, whatever error code rides along. */
START_TEST(test_failed_requests_may_have_committed)
{
    static const int may_have_committed[] = {-ETIMEDOUT, -ECANCELED,    -ENOMEM, -ECONNRESET,
                                             -EPIPE,     -ECONNREFUSED, -EAGAIN, -EIO,
                                             -EINVAL,    -ENOENT,       -EPROTO, -1};
    for (size_t i = 0; i < sizeof may_have_committed / sizeof *may_have_committed; i++) {
        int status = may_have_committed[i];
        ck_assert_int_eq(controller_link_alter_error(status, KAFKA_ERROR_NONE, false),
                         CONTROLLER_LINK_ALTER_UNKNOWN);
        ck_assert_int_eq(outcome(status, KAFKA_ERROR_NONE, false), ALTER_OUTCOME_UNKNOWN);
        ck_assert_int_eq(outcome(status, KAFKA_ERROR_FENCED_LEADER_EPOCH, false),
                         ALTER_OUTCOME_UNKNOWN);
    }
    /* Stale registration: the batcher dropped it before sending. */
    ck_assert_int_eq(controller_link_alter_error(-ESTALE, KAFKA_ERROR_NONE, false),
                     CONTROLLER_LINK_ALTER_NOT_SENT);
    ck_assert_int_eq(outcome(-ESTALE, KAFKA_ERROR_NONE, false), ALTER_OUTCOME_REFUSED);
}
END_TEST

/* The link's codes mean the same to the replica layer. */
START_TEST(test_link_codes)
{
    ck_assert_int_eq(alter_outcome_of(CONTROLLER_LINK_ALTER_UNKNOWN), ALTER_OUTCOME_UNKNOWN);
    ck_assert_int_eq(alter_outcome_of(REPLICA_ALTER_UNKNOWN), ALTER_OUTCOME_UNKNOWN);
    ck_assert_int_eq(alter_outcome_of(CONTROLLER_LINK_ALTER_NOT_SENT), ALTER_OUTCOME_REFUSED);
    ck_assert_int_eq(alter_outcome_of(REPLICA_ALTER_NOT_SENT), ALTER_OUTCOME_REFUSED);
    /* Codes no Kafka version sends yet are not proof of anything. */
    ck_assert_int_eq(alter_outcome_of(32767), ALTER_OUTCOME_UNKNOWN);
    ck_assert_int_eq(alter_outcome_of(-3), ALTER_OUTCOME_UNKNOWN);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("alter_outcome");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_every_controller_code);
    tcase_add_test(tc, test_failed_requests_may_have_committed);
    tcase_add_test(tc, test_link_codes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
