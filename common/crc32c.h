/* CRC-32C (Castagnoli), the checksum of Kafka record batches (magic 2).
 *
 * Uses carry-less multiplication (VPCLMULQDQ) or the SSE4.2 crc32
 * instruction when the CPU has them, a table-driven software version
 * otherwise; all give identical results. Thread-safe. */
#ifndef SLUICE_COMMON_CRC32C_H
#define SLUICE_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend `crc` (0 to start) over `len` bytes; returns the finished CRC, so
 * crc32c(crc32c(0, a, n), b, m) == crc32c(0, a‖b, n+m). */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The two implementations, exposed so tests can check them against each other. */
uint32_t crc32c_software(uint32_t crc, const void *data, size_t len);
/* Only call when crc32c_have_hardware() is true. */
uint32_t crc32c_hardware(uint32_t crc, const void *data, size_t len);
int crc32c_have_hardware(void);
/* Carry-less multiplication (VPCLMULQDQ with AVX-512) for 256 bytes and
 * more, crc32c_hardware below that. Only call when crc32c_have_folded(). */
uint32_t crc32c_folded(uint32_t crc, const void *data, size_t len);
int crc32c_have_folded(void);

#endif
