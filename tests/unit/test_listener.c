#include <check.h>
#include <errno.h>
#include <string.h>

#include "broker/kafka/listener.h"
#include "tests/unit/check_main.h"

static const char *MAP = "PLAINTEXT:PLAINTEXT,SSL:SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT";

START_TEST(test_parse_forms)
{
    struct listener_endpoint eps[8];
    char err[256];
    int n = listener_list_parse("PLAINTEXT://0.0.0.0:9092, INTERNAL://:9093,SSL://[::1]:9094", MAP,
                                eps, 8, err, sizeof err);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(eps[0].name, "PLAINTEXT");
    ck_assert_str_eq(eps[0].host, "0.0.0.0");
    ck_assert_int_eq(eps[0].port, 9092);
    ck_assert_int_eq(eps[0].protocol, SECURITY_PLAINTEXT);
    ck_assert_str_eq(eps[1].name, "INTERNAL");
    ck_assert_str_eq(eps[1].host, "");
    ck_assert_int_eq(eps[1].port, 9093);
    ck_assert_int_eq(eps[1].protocol, SECURITY_PLAINTEXT);
    ck_assert_str_eq(eps[2].host, "::1");
    ck_assert_int_eq(eps[2].protocol, SECURITY_SSL);
}
END_TEST

START_TEST(test_parse_errors)
{
    struct listener_endpoint eps[8];
    char err[256];
    const char *bad[] = {"PLAINTEXT:9092",       "PLAINTEXT://host", "PLAINTEXT://h:99999",
                         "PLAINTEXT://h:x1",     "://h:1",           "PLAINTEXT://::1:9092",
                         "PLAINTEXT://[::1:9092"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(listener_list_parse(bad[i], MAP, eps, 8, err, sizeof err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "invalid listener"));
    }
    ck_assert_int_eq(listener_list_parse("NOPE://h:1", MAP, eps, 8, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "listener.security.protocol.map"));
    ck_assert_int_eq(
        listener_list_parse("PLAINTEXT://h:1,plaintext://h:2", MAP, eps, 8, err, sizeof err),
        -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "twice"));
}
END_TEST

static void config_with(struct sluice_config *cfg, const char *listeners, const char *advertised)
{
    char err[256];
    ck_assert_int_eq(sluice_config_init(cfg), 0);
    ck_assert_int_eq(sluice_config_set(cfg, "listeners", listeners, err, sizeof err), 0);
    if (advertised != NULL) {
        ck_assert_int_eq(
            sluice_config_set(cfg, "advertised.listeners", advertised, err, sizeof err), 0);
    }
    ck_assert_int_eq(sluice_config_set(cfg, "listener.security.protocol.map", MAP, err, sizeof err),
                     0);
}

START_TEST(test_set_advertised_defaults)
{
    struct sluice_config cfg;
    struct listener_set set;
    char err[256];
    config_with(&cfg, "PLAINTEXT://0.0.0.0:9092,INTERNAL://127.0.0.1:9093", NULL);
    ck_assert_int_eq(listener_set_parse(&cfg, &set, err, sizeof err), 0);
    ck_assert_uint_eq(set.n_bind, 2);
    ck_assert_uint_eq(set.n_advertised, 2);
    /* A wildcard bind is advertised as this host's name, never as 0.0.0.0. */
    ck_assert_str_ne(listener_set_advertised(&set, "PLAINTEXT")->host, "0.0.0.0");
    ck_assert_str_ne(listener_set_advertised(&set, "PLAINTEXT")->host, "");
    ck_assert_str_eq(listener_set_advertised(&set, "INTERNAL")->host, "127.0.0.1");
    sluice_config_free(&cfg);

    config_with(&cfg, "PLAINTEXT://:9092", "PLAINTEXT://broker1.example:19092");
    ck_assert_int_eq(listener_set_parse(&cfg, &set, err, sizeof err), 0);
    ck_assert_str_eq(listener_set_advertised(&set, "PLAINTEXT")->host, "broker1.example");
    ck_assert_int_eq(listener_set_advertised(&set, "PLAINTEXT")->port, 19092);
    ck_assert_str_eq(set.bind[0].host, "");
    sluice_config_free(&cfg);
}
END_TEST

START_TEST(test_set_errors)
{
    struct sluice_config cfg;
    struct listener_set set;
    char err[256];
    /* Kafka listeners may use TLS and SASL; the replication listener TLS only. */
    config_with(&cfg, "SSL://:9093", NULL);
    ck_assert_int_eq(listener_set_parse(&cfg, &set, err, sizeof err), 0);
    ck_assert_int_eq(set.bind[0].protocol, SECURITY_SSL);
    sluice_config_free(&cfg);
    config_with(&cfg, "PLAINTEXT://:9092,SSL://:9093", NULL);
    ck_assert_int_eq(sluice_config_set(&cfg, "inter.broker.listener.name", "SSL", err, sizeof err),
                     0);
    ck_assert_int_eq(listener_set_parse(&cfg, &set, err, sizeof err), 0);
    sluice_config_free(&cfg);
    config_with(&cfg, "PLAINTEXT://:9092,SASL_SSL://:9093", NULL);
    ck_assert_int_eq(sluice_config_set(&cfg, "listener.security.protocol.map",
                                       "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL", err, sizeof err),
                     0);
    ck_assert_int_eq(
        sluice_config_set(&cfg, "inter.broker.listener.name", "SASL_SSL", err, sizeof err), 0);
    ck_assert_int_eq(listener_set_parse(&cfg, &set, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "serves PLAINTEXT or SSL") != NULL, "%s", err);
    sluice_config_free(&cfg);

    config_with(&cfg, "PLAINTEXT://:9092", "PLAINTEXT://0.0.0.0:9092");
    ck_assert_int_eq(listener_set_parse(&cfg, &set, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "non-routable"));
    sluice_config_free(&cfg);

    config_with(&cfg, "PLAINTEXT://:9092", "INTERNAL://h:9093");
    ck_assert_int_eq(listener_set_parse(&cfg, &set, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "not in listeners"));
    sluice_config_free(&cfg);
}
END_TEST

START_TEST(test_controller_listener_excluded)
{
    struct sluice_config cfg;
    struct listener_set set;
    char err[256];
    config_with(&cfg, "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093", NULL);
    ck_assert_int_eq(
        sluice_config_set(&cfg, "controller.listener.names", "CONTROLLER", err, sizeof err), 0);
    ck_assert_int_eq(listener_set_parse(&cfg, &set, err, sizeof err), 0);
    ck_assert_uint_eq(set.n_bind, 1);
    ck_assert_str_eq(set.bind[0].name, "PLAINTEXT");
    ck_assert_ptr_null(listener_set_advertised(&set, "CONTROLLER"));
    sluice_config_free(&cfg);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("listener");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_forms);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_set_advertised_defaults);
    tcase_add_test(tc, test_set_errors);
    tcase_add_test(tc, test_controller_listener_excluded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
