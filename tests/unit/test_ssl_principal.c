#include <check.h>
#include <errno.h>
#include <string.h>

#include "common/ssl_principal.h"
#include "tests/unit/check_main.h"

static const char *SUBJECT = "CN=alice,OU=eng,O=Sluice";

static void map(const char *rules, const char *subject, int want_rv, const char *want)
{
    struct ssl_principal_rules *r;
    char err[256], out[128];
    ck_assert_int_eq(ssl_principal_rules_parse(rules, &r, err, sizeof err), 0);
    ck_assert_int_eq(ssl_principal_map(r, subject, out, sizeof out), want_rv);
    if (want != NULL) {
        ck_assert_str_eq(out, want);
    }
    ssl_principal_rules_free(r);
}

START_TEST(test_default_keeps_the_subject)
{
    map(NULL, SUBJECT, 0, SUBJECT);
    map("DEFAULT", SUBJECT, 0, SUBJECT);
}
END_TEST

START_TEST(test_rules_in_order_with_groups_and_case)
{
    map("RULE:^CN=([^,]*),OU=eng,O=Sluice$/$1/", SUBJECT, 0, "alice");
    map("RULE:^CN=([^,]*),OU=([^,]*),.*$/$2-$1/U, DEFAULT", SUBJECT, 0, "ENG-ALICE");
    map("RULE:^CN=(.*?),OU=ops.*$/$1/L,RULE:^CN=([^,]*),.*$/user-$1/", SUBJECT, 0, "user-alice");
    /* Not matching the whole subject is no match; nothing else: an error. */
    map("RULE:CN=alice/x/", SUBJECT, -ENOENT, NULL);
    map("RULE:^CN=bob.*$/bob/,DEFAULT", SUBJECT, 0, SUBJECT);
    /* An escaped slash belongs to the pattern. */
    map("RULE:^CN=(a\\/b)$/$1/", "CN=a/b", 0, "a/b");
}
END_TEST

START_TEST(test_bad_rules_are_named)
{
    struct ssl_principal_rules *r;
    char err[256];
    const char *bad[] = {"RULE:^CN=x", "RULE:^CN=(x/$1", "BOGUS", "RULE:a/b/Lx", "RULE:([/x/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(ssl_principal_rules_parse(bad[i], &r, err, sizeof err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "ssl.principal.mapping.rules"));
    }
}
END_TEST

START_TEST(test_name_too_long)
{
    struct ssl_principal_rules *r;
    char err[256], out[8];
    ck_assert_int_eq(ssl_principal_rules_parse("DEFAULT", &r, err, sizeof err), 0);
    ck_assert_int_eq(ssl_principal_map(r, SUBJECT, out, sizeof out), -ENAMETOOLONG);
    ssl_principal_rules_free(r);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("ssl_principal");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_default_keeps_the_subject);
    tcase_add_test(tc, test_rules_in_order_with_groups_and_case);
    tcase_add_test(tc, test_bad_rules_are_named);
    tcase_add_test(tc, test_name_too_long);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
