#include <check.h>
#include <stdint.h>

#include "broker/replica/replication_quota.h"
#include "common/config.h"
#include "common/throttled_replicas.h"
#include "metadata/image.h"
#include "tests/unit/check_main.h"

START_TEST(test_throttled_replicas_lists)
{
    ck_assert_ptr_null(throttled_replicas_check(""));
    ck_assert_ptr_null(throttled_replicas_check("*"));
    ck_assert_ptr_null(throttled_replicas_check(" 0:1 , 0:2,1:3 "));
    ck_assert_ptr_nonnull(throttled_replicas_check("0"));
    ck_assert_ptr_nonnull(throttled_replicas_check("0:"));
    ck_assert_ptr_nonnull(throttled_replicas_check("0:1,"));
    ck_assert_ptr_nonnull(throttled_replicas_check("a:1"));
    ck_assert_ptr_nonnull(throttled_replicas_check("0:1;1:2"));
    ck_assert_ptr_nonnull(throttled_replicas_check("-1:2"));
    ck_assert_ptr_nonnull(throttled_replicas_check("0:99999999999"));
    ck_assert(throttled_replicas_lists("0:1,0:2,1:3", 0, 2));
    ck_assert(throttled_replicas_lists("0:1,0:2,1:3", 1, 3));
    ck_assert(!throttled_replicas_lists("0:1,0:2,1:3", 1, 2));
    ck_assert(throttled_replicas_lists("*", 7, 9));
    ck_assert(!throttled_replicas_lists("", 0, 1));
    ck_assert(!throttled_replicas_lists(NULL, 0, 1));
    ck_assert(!throttled_replicas_lists("0:1,x", 0, 1)); /* malformed: nothing */
}
END_TEST

/* Kafka's Rate: a young quota's elapsed time is padded to ten windows, so
 * ten seconds' worth passes before the rate reads over the bound; the
 * samples age out after eleven windows. */
START_TEST(test_quota_rate_and_windows)
{
    struct replication_quota q;
    replication_quota_init(&q);
    ck_assert(!replication_quota_exceeded(&q, 1000));
    replication_quota_record(&q, 1u << 30, 1000);
    ck_assert(!replication_quota_exceeded(&q, 1000)); /* unlimited */
    replication_quota_init(&q);
    replication_quota_set_bound(&q, 1000);
    replication_quota_record(&q, 10000, 5000);
    ck_assert(!replication_quota_exceeded(&q, 5000)); /* 10000 B / 10 s = the bound */
    replication_quota_record(&q, 200, 5000);
    ck_assert(replication_quota_exceeded(&q, 5100)); /* 10200 B / 10.1 s */
    ck_assert_uint_eq(q.throttled_bytes, 10200);
    /* Eleven windows later the samples are gone. */
    ck_assert(!replication_quota_exceeded(&q, 5000 + 11000 + 100));
    double r = replication_quota_rate(&q, 30000);
    ck_assert(r == 0.0);
    /* Bytes spread over time: 500 B/s for 20 s stays under 1000 B/s. */
    for (uint64_t t = 40000; t < 60000; t += 100) {
        replication_quota_record(&q, 50, t);
        ck_assert(!replication_quota_exceeded(&q, t));
    }
}
END_TEST

START_TEST(test_broker_dynamic_configs)
{
    ck_assert_ptr_null(broker_dynamic_config_check(CONFIG_LEADER_THROTTLED_RATE, "1024"));
    ck_assert_ptr_null(broker_dynamic_config_check(CONFIG_FOLLOWER_THROTTLED_RATE, NULL));
    ck_assert_ptr_nonnull(broker_dynamic_config_check(CONFIG_LEADER_THROTTLED_RATE, "-1"));
    ck_assert_ptr_nonnull(broker_dynamic_config_check(CONFIG_LEADER_THROTTLED_RATE, "fast"));
    ck_assert_ptr_nonnull(broker_dynamic_config_check("num.io.threads", "8"));
    ck_assert_int_eq(broker_throttled_rate(NULL), INT64_MAX);
    ck_assert_int_eq(broker_throttled_rate("262144"), 262144);

    MetadataImage *img = image_new();
    ck_assert_ptr_nonnull(img);
    ck_assert_int_eq(image_set_broker_config(img, "", CONFIG_LEADER_THROTTLED_RATE, "100"), 0);
    ck_assert_int_eq(image_set_broker_config(img, "2", CONFIG_LEADER_THROTTLED_RATE, "200"), 0);
    ck_assert_str_eq(image_broker_config_for(img, 2, CONFIG_LEADER_THROTTLED_RATE), "200");
    ck_assert_str_eq(image_broker_config_for(img, 3, CONFIG_LEADER_THROTTLED_RATE), "100");
    ck_assert_ptr_null(image_broker_config_for(img, 3, CONFIG_FOLLOWER_THROTTLED_RATE));
    /* Survives a snapshot (pack/unpack). */
    MetadataImage *copy = image_clone(img);
    ck_assert_ptr_nonnull(copy);
    ck_assert_str_eq(image_broker_config_for(copy, 2, CONFIG_LEADER_THROTTLED_RATE), "200");
    ck_assert_int_eq(image_set_broker_config(copy, "2", CONFIG_LEADER_THROTTLED_RATE, NULL), 0);
    ck_assert_str_eq(image_broker_config_for(copy, 2, CONFIG_LEADER_THROTTLED_RATE), "100");
    image_free(copy);
    image_free(img);

    struct topic_config tc;
    char why[256];
    struct sluice_config cfg;
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    ck_assert_int_eq(topic_config_init(&tc, &cfg), 0);
    ck_assert_ptr_null(tc.leader_replication_throttled_replicas);
    ck_assert_int_eq(
        topic_config_set(&tc, "leader.replication.throttled.replicas", "0:1,1:2", why, sizeof why),
        0);
    ck_assert_int_ne(
        topic_config_set(&tc, "follower.replication.throttled.replicas", "0-1", why, sizeof why),
        0);
    struct topic_config dup;
    ck_assert_int_eq(topic_config_copy(&dup, &tc), 0);
    ck_assert_str_eq(dup.leader_replication_throttled_replicas, "0:1,1:2");
    topic_config_free(&tc);
    topic_config_free(&dup);
    sluice_config_free(&cfg);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("replication_throttle");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_throttled_replicas_lists);
    tcase_add_test(tc, test_quota_rate_and_windows);
    tcase_add_test(tc, test_broker_dynamic_configs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
