/* The record-batch compression codecs Kafka uses (attributes bits 0-2):
 * 1 gzip (zlib, gzip wrapper), 2 snappy (raw, or xerial-framed as the Java
 * client writes it), 3 lz4 (the LZ4 frame format, KIP-57), 4 zstd. The
 * cleaner decompresses to read keys and compresses what it keeps with the
 * batch's own codec.
 *
 * Output goes into a caller-owned growable buffer (*buf, *cap; realloc'd,
 * free with free()). Decompression never produces more than `max_out` bytes
 * whatever the input claims. Pure functions; thread-safe. */
#ifndef SLUICE_BROKER_LOG_BATCH_CODEC_H
#define SLUICE_BROKER_LOG_BATCH_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_CODEC_GZIP   1
#define BATCH_CODEC_SNAPPY 2
#define BATCH_CODEC_LZ4    3
#define BATCH_CODEC_ZSTD   4

/* Decompress `len` bytes into (*buf)[0..*out_len). Returns 0, -EINVAL for an
 * unknown codec, -EBADMSG for data that does not decode, -EFBIG past
 * max_out, -ENOMEM. */
int batch_codec_decompress(int codec, const uint8_t *in, size_t len, size_t max_out, uint8_t **buf,
                           size_t *cap, size_t *out_len);

/* Compress `len` bytes into (*buf)[at..at + *out_len) (bytes before `at`
 * are kept: the batch header goes there). `framed_snappy` picks the xerial
 * framing for snappy. Returns 0, -EINVAL, -EIO (codec failure), -ENOMEM. */
int batch_codec_compress(int codec, const uint8_t *in, size_t len, int framed_snappy, uint8_t **buf,
                         size_t *cap, size_t at, size_t *out_len);

/* Whether a snappy payload uses the xerial framing. */
int batch_codec_snappy_framed(const uint8_t *in, size_t len);

#endif
