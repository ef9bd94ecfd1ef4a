/* The record-batch compression codecs Kafka uses (attributes bits 0-2):
 * 1 gzip (zlib, gzip wrapper), 2 snappy (raw, or xerial-framed as the Java
 * client writes it), 3 lz4 (the LZ4 frame format, KIP-57), 4 zstd. The
 * cleaner compresses what it keeps with the batch's own codec; it reads
 * compressed batches with record_codec_inflate (record_codec.h), the one
 * bounded decompression that produce validation uses too.
 *
 * Output goes into a caller-owned growable buffer (*buf, *cap; realloc'd,
 * free with free()). Pure functions; thread-safe. */
#ifndef SLUICE_BROKER_LOG_BATCH_CODEC_H
#define SLUICE_BROKER_LOG_BATCH_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "broker/log/record_codec.h" /* the codec ids */

/* Compress `len` bytes into (*buf)[at..at + *out_len) (bytes before `at`
 * are kept: the batch header goes there). `framed_snappy` picks the xerial
 * framing for snappy. Returns 0, -EINVAL, -EIO (codec failure), -ENOMEM. */
int batch_codec_compress(int codec, const uint8_t *in, size_t len, int framed_snappy, uint8_t **buf,
                         size_t *cap, size_t at, size_t *out_len);

/* Whether a snappy payload uses the xerial framing. */
int batch_codec_snappy_framed(const uint8_t *in, size_t len);

#endif
