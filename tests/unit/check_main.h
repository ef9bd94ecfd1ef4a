/* The one main() body every unit test shares: run the suite that
 * `make_suite` builds with Check's normal output (Check owns and frees the
 * suite), and turn the failure count into the exit status. */
#ifndef SLUICE_TESTS_UNIT_CHECK_MAIN_H
#define SLUICE_TESTS_UNIT_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Returns EXIT_SUCCESS when every test passed, EXIT_FAILURE otherwise. */
static inline int check_main_run(Suite *(*make_suite)(void))
{
    SRunner *runner = srunner_create(make_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
