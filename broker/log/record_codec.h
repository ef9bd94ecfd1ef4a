/* Bounded decompression of a record batch's records section, for the
 * produce-time validation in record_batch.c (Kafka's LogValidator inflates
 * compressed batches to check their records the same way).
 *
 * Codecs are Kafka's compression ids: 1 gzip (RFC 1952, concatenated members
 * allowed), 2 snappy (raw, or the xerial "\x82SNAPPY\0" framing the Java
 * client writes), 3 lz4 (LZ4 frame format), 4 zstd (zstd frames).
 *
 * The output is bounded: the buffer grows with the bytes actually produced
 * and never beyond `max_out`, so a small bomb costs at most `max_out` bytes
 * (plus the codec's own state: zstd's window is capped at
 * RECORD_CODEC_ZSTD_WINDOW_LOG_MAX, lz4's block buffer at 4 MiB by its format).
 * Pure function on caller-owned input; thread-safe. */
#ifndef SLUICE_BROKER_LOG_RECORD_CODEC_H
#define SLUICE_BROKER_LOG_RECORD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define RECORD_CODEC_NONE   0
#define RECORD_CODEC_GZIP   1
#define RECORD_CODEC_SNAPPY 2
#define RECORD_CODEC_LZ4    3
#define RECORD_CODEC_ZSTD   4
#define RECORD_CODEC_MAX    4 /* ids above this are unknown (Kafka's CompressionType) */

/* 2^24 = 16 MiB: above what any producer's default level uses (zstd's level
 * 19 uses 2^23), far below zstd's 2^27 default that a hostile frame header
 * could make the broker allocate. */
#define RECORD_CODEC_ZSTD_WINDOW_LOG_MAX 24

/* Result codes besides 0 and -ENOMEM. */
#define RECORD_CODEC_ERR_CORRUPT   (-1) /* not a valid stream for the codec */
#define RECORD_CODEC_ERR_TOO_LARGE (-2) /* inflates beyond max_out */
#define RECORD_CODEC_ERR_CODEC     (-3) /* codec id 0 or unknown */

/* Inflate `in` (`len` bytes) compressed with `codec`. On success returns 0,
 * *out is a malloc'd buffer the caller frees (NULL when *outlen is 0) and
 * *outlen its length (<= max_out). On failure *out is NULL, a reason goes to
 * `reason` (may be NULL) and one of the codes above, or -ENOMEM, is returned. */
int record_codec_inflate(int codec, const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                         size_t *outlen, char *reason, size_t reasonlen);

/* "none", "gzip", "snappy", "lz4", "zstd" or "unknown". */
const char *record_codec_name(int codec);

#endif
