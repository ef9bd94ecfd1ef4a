/* Logging: one line per event to stderr,
 *   2026-11-21T05:30:00.123Z INFO  [component] message key=value ...
 *
 * The level is set once at start-up from config; everything else is stateless.
 * Log an error once, where it is handled, with its context as key=value. */
#ifndef SLUICE_COMMON_LOG_H
#define SLUICE_COMMON_LOG_H

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
    /* A threshold only, above every event: nothing is logged. For fuzz
     * targets, whose inputs are errors by design; not a configurable level. */
    LOG_LEVEL_NONE,
};

/* Set the threshold; events below it are dropped. Call before starting threads. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "debug", "info", "warn", "error" (case-insensitive); -1 if unknown. */
int log_level_parse(const char *name);

void log_write(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(component, ...) log_write(LOG_LEVEL_DEBUG, component, __VA_ARGS__)
#define log_info(component, ...)  log_write(LOG_LEVEL_INFO, component, __VA_ARGS__)
#define log_warn(component, ...)  log_write(LOG_LEVEL_WARN, component, __VA_ARGS__)
#define log_error(component, ...) log_write(LOG_LEVEL_ERROR, component, __VA_ARGS__)

#endif
