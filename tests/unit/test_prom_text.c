#include <check.h>
#include <string.h>

#include "common/prom_text.h"
#include "tests/unit/check_main.h"

static const char *text(struct buf *b)
{
    buf_append_u8(b, 0);
    b->len--;
    return (const char *)b->data;
}

START_TEST(test_family_and_escaped_labels)
{
    struct buf b = BUF_INIT;
    struct prom_writer w;
    prom_writer_init(&w, &b);
    prom_family(&w, "x_total", "counter", "Line one\nback\\slash.");
    struct prom_label l[2] = {{"topic", "a\"b\\c\nd"}, {"partition", "3"}};
    prom_sample_int(&w, "x_total", l, 2, -42);
    prom_sample_int(&w, "x_total", NULL, 0, 7);
    ck_assert_int_eq(prom_writer_error(&w), 0);
    ck_assert_str_eq(text(&b), "# HELP x_total Line one\\nback\\\\slash.\n"
                               "# TYPE x_total counter\n"
                               "x_total{topic=\"a\\\"b\\\\c\\nd\",partition=\"3\"} -42\n"
                               "x_total 7\n");
    buf_free(&b);
}
END_TEST

START_TEST(test_histogram_is_cumulative)
{
    struct buf b = BUF_INIT;
    struct prom_writer w;
    prom_writer_init(&w, &b);
    const double bounds[2] = {0.5, 1};
    const uint64_t counts[3] = {2, 0, 3};
    struct prom_label l = {"api", "Fetch"};
    prom_histogram(&w, "d_seconds", &l, 1, bounds, counts, 2, 4.25);
    ck_assert_str_eq(text(&b), "d_seconds_bucket{api=\"Fetch\",le=\"0.5\"} 2\n"
                               "d_seconds_bucket{api=\"Fetch\",le=\"1\"} 2\n"
                               "d_seconds_bucket{api=\"Fetch\",le=\"+Inf\"} 5\n"
                               "d_seconds_sum{api=\"Fetch\"} 4.25\n"
                               "d_seconds_count{api=\"Fetch\"} 5\n");
    buf_free(&b);
}
END_TEST

START_TEST(test_histogram_without_labels)
{
    struct buf b = BUF_INIT;
    struct prom_writer w;
    prom_writer_init(&w, &b);
    const double bounds[1] = {0.0005};
    const uint64_t counts[2] = {1, 1};
    prom_histogram(&w, "busy_seconds", NULL, 0, bounds, counts, 1, 2.5);
    ck_assert_str_eq(text(&b), "busy_seconds_bucket{le=\"0.0005\"} 1\n"
                               "busy_seconds_bucket{le=\"+Inf\"} 2\n"
                               "busy_seconds_sum 2.5\n"
                               "busy_seconds_count 2\n");
    buf_free(&b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("prom_text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_family_and_escaped_labels);
    tcase_add_test(tc, test_histogram_is_cumulative);
    tcase_add_test(tc, test_histogram_without_labels);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
