/* Command-line and clock helpers shared by the tools (sluice-perf,
 * sluice-probe, sluice-drill), so that each is written once. */
#ifndef SLUICE_TOOLS_COMMON_TOOL_CLI_H
#define SLUICE_TOOLS_COMMON_TOOL_CLI_H

#include <stdint.h>

/* Parse all of `s` as a decimal integer in [min, max] into `*out`.
 * Returns 0, or -1 (`*out` untouched) for NULL, an empty string, trailing
 * characters, overflow or a value out of range. */
int tool_parse_long(const char *s, long min, long max, long *out);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t tool_now_ns(void);

#endif
