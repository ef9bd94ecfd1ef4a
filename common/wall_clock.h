/* The wall clock in milliseconds since the epoch (CLOCK_REALTIME), the
 * clock of Kafka's record timestamps and of the deadlines derived from
 * them: retention, the cleaner's lag, transaction timeouts. It can jump (an
 * NTP step); a duration that must not is measured on libuv's uv_now.
 * Any thread. */
#ifndef SLUICE_COMMON_WALL_CLOCK_H
#define SLUICE_COMMON_WALL_CLOCK_H

#include <stdint.h>

/* Milliseconds since 1970-01-01T00:00:00Z, now. */
int64_t wall_clock_ms(void);

#endif
