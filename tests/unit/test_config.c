#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/properties.h"
#include "tests/unit/check_main.h"

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/sluice-test-config-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(test_properties_syntax)
{
    const char *text = "# comment\n! other comment\n\n"
                       "a=1\n"
                       "  b : two words  \n"
                       "c 3\n"
                       "d=line\\\n    continued\n"
                       "e=tab\\there\\u0041\n"
                       "f=\n";
    struct properties p;
    char err[128];
    ck_assert_int_eq(properties_parse(text, strlen(text), &p, err, sizeof err), 0);
    ck_assert_uint_eq(p.count, 6);
    ck_assert_str_eq(p.items[0].key, "a");
    ck_assert_str_eq(p.items[0].value, "1");
    ck_assert_int_eq(p.items[0].line, 4);
    ck_assert_str_eq(p.items[1].key, "b");
    ck_assert_str_eq(p.items[1].value, "two words");
    ck_assert_str_eq(p.items[2].value, "3");
    ck_assert_str_eq(p.items[3].value, "linecontinued");
    ck_assert_str_eq(p.items[4].value, "tab\thereA");
    ck_assert_str_eq(p.items[5].value, "");
    properties_free(&p);
}
END_TEST

START_TEST(test_properties_bad_escape)
{
    const char *text = "ok=1\nbad=\\u00zz\n";
    struct properties p;
    char err[128];
    ck_assert_int_eq(properties_parse(text, strlen(text), &p, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "line 2"));
    ck_assert_uint_eq(p.count, 0);
    /* An escaped NUL would truncate the key or value (found by fuzz_config). */
    const char *nul = "log.dirs=/data\\u0000/x\n";
    ck_assert_int_eq(properties_parse(nul, strlen(nul), &p, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "line 1"));
    ck_assert_uint_eq(p.count, 0);
}
END_TEST

START_TEST(test_good_file)
{
    const char *path = write_temp("node.id=3\n"
                                  "controller.quorum.voters=3@127.0.0.1:9093\n"
                                  "log.dirs=/var/lib/sluice/a,/var/lib/sluice/b\n"
                                  "num.partitions=6\n"
                                  "log.retention.hours=168\n"
                                  "auto.create.topics.enable=false\n"
                                  "some.unknown.key=whatever\n");
    struct sluice_config cfg;
    char err[256];
    ck_assert_int_eq(sluice_config_load(&cfg, path, NULL, 0, NULL, err, sizeof err), 0);
    ck_assert_int_eq(cfg.node_id, 3);
    ck_assert_str_eq(cfg.log_dirs, "/var/lib/sluice/a,/var/lib/sluice/b");
    ck_assert_int_eq(cfg.num_partitions, 6);
    ck_assert_int_eq(cfg.log_retention_ms, 168LL * 3600 * 1000);
    ck_assert(!cfg.auto_create_topics_enable);
    /* Untouched keys keep Kafka's defaults. */
    ck_assert_int_eq(cfg.log_segment_bytes, 1073741824);
    ck_assert_int_eq(cfg.socket_request_max_bytes, 104857600);
    ck_assert_int_eq(cfg.default_replication_factor, 1);
    sluice_config_free(&cfg);
    unlink(path);
}
END_TEST

START_TEST(test_bad_values_name_key_and_value)
{
    static const struct {
        const char *line, *expect;
    } cases[] = {
        {"num.partitions=0\n", "num.partitions"},
        {"num.partitions=abc\n", "not an integer"},
        {"log.segment.bytes=99999999999999999999\n", "log.segment.bytes"},
        {"auto.create.topics.enable=yes\n", "true or false"},
        {"log.cleanup.policy=shred\n", "shred"},
        {"log.retention.ms=-2\n", "between -1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "node.id=1\n%s", cases[i].line);
        const char *path = write_temp(text);
        struct sluice_config cfg;
        char err[256] = "";
        ck_assert_int_eq(sluice_config_load(&cfg, path, NULL, 0, NULL, err, sizeof err), -EINVAL);
        ck_assert_msg(strstr(err, cases[i].expect) != NULL, "'%s' lacks '%s'", err,
                      cases[i].expect);
        ck_assert_msg(strstr(err, "line 2") != NULL, "'%s' lacks the line", err);
        unlink(path);
    }
}
END_TEST

/* The checkpoint intervals are periods of a timer: 0, negative or not a
 * number would stop or spin it, so they are refused at load. */
START_TEST(test_checkpoint_intervals)
{
    static const char *const keys[] = {
        "log.flush.offset.checkpoint.interval.ms",
        "replica.high.watermark.checkpoint.interval.ms",
        "log.flush.start.offset.checkpoint.interval.ms",
    };
    static const char *const bad[] = {"0", "-5", "soon", "2147483648"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            char text[256];
            snprintf(text, sizeof text, "node.id=1\n%s=%s\n", keys[k], bad[b]);
            const char *path = write_temp(text);
            struct sluice_config cfg;
            char err[256] = "";
            ck_assert_int_eq(sluice_config_load(&cfg, path, NULL, 0, NULL, err, sizeof err),
                             -EINVAL);
            ck_assert_msg(strstr(err, keys[k]) != NULL && strstr(err, bad[b]) != NULL,
                          "'%s' lacks the key or the value", err);
            unlink(path);
        }
    }
    const char *path = write_temp("node.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093\n"
                                  "replica.high.watermark.checkpoint.interval.ms=250\n");
    struct sluice_config cfg;
    char err[256];
    ck_assert_int_eq(sluice_config_load(&cfg, path, NULL, 0, NULL, err, sizeof err), 0);
    ck_assert_int_eq(cfg.replica_high_watermark_checkpoint_interval_ms, 250);
    /* Kafka's defaults for the other two. */
    ck_assert_int_eq(cfg.log_flush_offset_checkpoint_interval_ms, 60000);
    ck_assert_int_eq(cfg.log_flush_start_offset_checkpoint_interval_ms, 60000);
    sluice_config_free(&cfg);
    unlink(path);
}
END_TEST

START_TEST(test_missing_node_id_and_file)
{
    struct sluice_config cfg;
    char err[256];
    const char *path = write_temp("log.dirs=/tmp/x\n");
    ck_assert_int_eq(sluice_config_load(&cfg, path, NULL, 0, NULL, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "node.id"));
    unlink(path);
    ck_assert_int_eq(
        sluice_config_load(&cfg, "/nonexistent/server.properties", NULL, 0, NULL, err, sizeof err),
        -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/server.properties"));
}
END_TEST

/* No local metadata mode: a broker without voters is a configuration error
 * that says how to run a single node (a one-voter quorum). */
START_TEST(test_voters_are_required)
{
    struct sluice_config cfg;
    char err[512];
    char *broker_only[] = {"node.id=4", "process.roles=broker"};
    ck_assert_int_eq(sluice_config_load(&cfg, NULL, broker_only, 2, NULL, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "controller.quorum.voters is required"));
    ck_assert_ptr_nonnull(strstr(err, "process.roles=broker,controller"));
    ck_assert_ptr_nonnull(strstr(err, "4@"));
    char *single[] = {"node.id=4", "process.roles=broker,controller",
                      "controller.quorum.voters=4@127.0.0.1:9093"};
    ck_assert_int_eq(sluice_config_load(&cfg, NULL, single, 3, NULL, err, sizeof err), 0);
    sluice_config_free(&cfg);
}
END_TEST

START_TEST(test_env_and_override_precedence)
{
    const char *path =
        write_temp("node.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093\nlog.dirs=/from/file\n"
                   "num.partitions=2\n");
    char *env[] = {"SLUICE_LOG_DIRS=/from/env", "SLUICE_NUM_PARTITIONS=4", "PATH=/bin",
                   "SLUICE_NOT_A_KEY=1", NULL};
    char *overrides[] = {"num.partitions=8"};
    struct sluice_config cfg;
    char err[256];
    ck_assert_int_eq(sluice_config_load(&cfg, path, overrides, 1, env, err, sizeof err), 0);
    ck_assert_str_eq(cfg.log_dirs, "/from/env");
    ck_assert_int_eq(cfg.num_partitions, 8);
    sluice_config_free(&cfg);

    char *bad_override[] = {"num.partitions"};
    ck_assert_int_eq(sluice_config_load(&cfg, path, bad_override, 1, NULL, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "key=value"));
    unlink(path);
}
END_TEST

START_TEST(test_topic_config_inherits_and_overrides)
{
    struct sluice_config cfg;
    char err[256];
    char *overrides[] = {"node.id=1", "controller.quorum.voters=1@127.0.0.1:9093",
                         "log.retention.ms=1000"};
    ck_assert_int_eq(sluice_config_load(&cfg, NULL, overrides, 3, NULL, err, sizeof err), 0);
    struct topic_config tc;
    ck_assert_int_eq(topic_config_init(&tc, &cfg), 0);
    size_t n;
    const struct config_def *defs = topic_config_defs(&n);
    ck_assert_int_eq(tc.retention_ms, 1000);
    ck_assert_int_eq(tc.segment_bytes, cfg.log_segment_bytes);
    ck_assert_str_eq(tc.cleanup_policy, "delete");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(defs[i].name, "retention.ms") == 0) {
            ck_assert_int_eq(tc.source[i], CONFIG_SOURCE_BROKER);
        } else if (strcmp(defs[i].name, "segment.bytes") == 0) {
            ck_assert_int_eq(tc.source[i], CONFIG_SOURCE_DEFAULT);
        }
    }
    ck_assert_int_eq(topic_config_set(&tc, "segment.bytes", "4096", err, sizeof err), 0);
    ck_assert_int_eq(tc.segment_bytes, 4096);
    ck_assert_int_eq(topic_config_set(&tc, "cleanup.policy", "compact", err, sizeof err), 0);
    ck_assert_str_eq(tc.cleanup_policy, "compact");
    ck_assert_int_eq(topic_config_set(&tc, "segment.bytes", "-5", err, sizeof err), -EINVAL);
    ck_assert_int_eq(topic_config_set(&tc, "no.such", "1", err, sizeof err), CONFIG_UNKNOWN_KEY);

    char text[64];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(defs[i].name, "segment.bytes") == 0) {
            ck_assert_str_eq(config_format(&defs[i], &tc, text, sizeof text), "4096");
        }
    }
    topic_config_free(&tc);
    sluice_config_free(&cfg);
}
END_TEST

static int count_item(const char *item, size_t len, void *arg)
{
    (void)item;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

START_TEST(test_list_foreach)
{
    int count = 0;
    ck_assert_int_eq(config_list_foreach(" a, b ,,c ", count_item, &count), 0);
    ck_assert_int_eq(count, 3);
}
END_TEST

START_TEST(test_listener_ssl_overrides)
{
    struct sluice_config c;
    char err[256];
    ck_assert_int_eq(sluice_config_init(&c), 0);
    ck_assert_int_eq(sluice_config_set(&c, "ssl.keystore.location", "/global.pem", err, sizeof err),
                     0);
    ck_assert_int_eq(sluice_config_set(&c, "listener.name.replication.ssl.keystore.location",
                                       "/first.pem", err, sizeof err),
                     0);
    ck_assert_int_eq(sluice_config_set(&c, "listener.name.REPLICATION.ssl.keystore.location",
                                       "/repl.pem", err, sizeof err),
                     0);
    /* Not an ssl.* key, or not a key at all: unknown, as Kafka ignores it. */
    ck_assert_int_eq(
        sluice_config_set(&c, "listener.name.replication.num.partitions", "3", err, sizeof err),
        CONFIG_UNKNOWN_KEY);
    ck_assert_int_eq(sluice_config_set(&c, "listener.name.x.ssl.nonsense", "1", err, sizeof err),
                     CONFIG_UNKNOWN_KEY);
    ck_assert_uint_eq(c.n_listener_settings, 1);
    ck_assert_str_eq(sluice_config_listener_value(&c, "Replication", "ssl.keystore.location",
                                                  c.ssl_keystore_location),
                     "/repl.pem");
    ck_assert_str_eq(sluice_config_listener_value(&c, "CONTROLLER", "ssl.keystore.location",
                                                  c.ssl_keystore_location),
                     "/global.pem");
    ck_assert_ptr_null(sluice_config_listener_value(&c, "REPLICATION", "ssl.truststore.location",
                                                    c.ssl_truststore_location));
    sluice_config_free(&c);
}
END_TEST

/* Kafka's listener.name.<listener>.ssl.principal.mapping.rules: a listener
 * maps certificates its own way, the others keep the global rules. */
START_TEST(test_listener_principal_mapping_rules)
{
    struct sluice_config c;
    char err[256];
    ck_assert_int_eq(sluice_config_init(&c), 0);
    ck_assert_int_eq(sluice_config_set(&c, "ssl.principal.mapping.rules",
                                       "RULE:^CN=([^,]*).*$/$1/,DEFAULT", err, sizeof err),
                     0);
    ck_assert_int_eq(sluice_config_set(&c, "listener.name.partners.ssl.principal.mapping.rules",
                                       "RULE:^.*O=([^,]*).*$/$1/U,DEFAULT", err, sizeof err),
                     0);
    ck_assert_str_eq(sluice_config_listener_value(&c, "PARTNERS", "ssl.principal.mapping.rules",
                                                  c.ssl_principal_mapping_rules),
                     "RULE:^.*O=([^,]*).*$/$1/U,DEFAULT");
    ck_assert_str_eq(sluice_config_listener_value(&c, "SSL", "ssl.principal.mapping.rules",
                                                  c.ssl_principal_mapping_rules),
                     "RULE:^CN=([^,]*).*$/$1/,DEFAULT");
    /* An environment variable reaches it too (SLUICE_LISTENER_NAME_...). */
    char *env[] = {"SLUICE_LISTENER_NAME_INTERNAL_SSL_PRINCIPAL_MAPPING_RULES=DEFAULT", NULL};
    ck_assert_int_eq(sluice_config_apply_env(&c, env, err, sizeof err), 0);
    ck_assert_str_eq(sluice_config_listener_value(&c, "internal", "ssl.principal.mapping.rules",
                                                  c.ssl_principal_mapping_rules),
                     "DEFAULT");
    ck_assert_uint_eq(c.n_listener_settings, 2);
    sluice_config_free(&c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_properties_syntax);
    tcase_add_test(tc, test_properties_bad_escape);
    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_bad_values_name_key_and_value);
    tcase_add_test(tc, test_checkpoint_intervals);
    tcase_add_test(tc, test_missing_node_id_and_file);
    tcase_add_test(tc, test_voters_are_required);
    tcase_add_test(tc, test_env_and_override_precedence);
    tcase_add_test(tc, test_topic_config_inherits_and_overrides);
    tcase_add_test(tc, test_list_foreach);
    tcase_add_test(tc, test_listener_ssl_overrides);
    tcase_add_test(tc, test_listener_principal_mapping_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
