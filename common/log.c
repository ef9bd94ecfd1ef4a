#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

/* The one piece of process-wide state: set once at start-up from config. */
static enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

enum log_level log_get_level(void)
{
    return log_threshold;
}

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_LEVEL_ERROR; i++) {
        if (strcasecmp(name, log_level_names[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        return LOG_LEVEL_WARN;
    }
    return -1;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    if (level < log_threshold) {
        return;
    }
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);

    /* Format the whole line first so concurrent writers (thread pool) never
     * interleave within a line. */
    char line[2048];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, log_level_names[level], component);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) {
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    }
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
