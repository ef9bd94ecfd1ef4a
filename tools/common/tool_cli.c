/* See tool_cli.h. */
#include "tool_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int tool_parse_long(const char *s, long min, long max, long *out)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int64_t tool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
