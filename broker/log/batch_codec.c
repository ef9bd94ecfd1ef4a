/* Compression with Kafka's batch codecs over Debian's zlib, snappy, lz4 and
 * zstd, for the cleaner's rewrite (decompression is record_codec_inflate). */
#include "broker/log/batch_codec.h"

#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/bigendian.h"
#include "common/buf.h"

/* xerial snappy-java framing: magic, version 1, compatible version 1, then
 * blocks of [u32 big-endian length][raw snappy]. */
static const uint8_t XERIAL_MAGIC[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER 16

/* The output buffer's first allocation; it then doubles (buf_grow_to). */
#define OUT_FIRST_CAP (64 * 1024)

int batch_codec_snappy_framed(const uint8_t *in, size_t len)
{
    return len >= XERIAL_HEADER && memcmp(in, XERIAL_MAGIC, sizeof XERIAL_MAGIC) == 0;
}

static int gzip_to(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)*out_len;
    int zr = deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return zr == Z_STREAM_END ? 0 : -EIO;
}

static size_t bound(int codec, size_t len, int framed)
{
    switch (codec) {
    case RECORD_CODEC_GZIP:
        return compressBound((uLong)len) + 64;
    case RECORD_CODEC_SNAPPY:
        return snappy_max_compressed_length(len) + (framed ? XERIAL_HEADER + 4 : 0);
    case RECORD_CODEC_LZ4:
        return LZ4F_compressFrameBound(len, NULL);
    case RECORD_CODEC_ZSTD:
        return ZSTD_compressBound(len);
    default:
        return 0;
    }
}

int batch_codec_compress(int codec, const uint8_t *in, size_t len, int framed_snappy, uint8_t **buf,
                         size_t *cap, size_t at, size_t *out_len)
{
    size_t max = bound(codec, len, framed_snappy);
    if (max == 0) {
        return -EINVAL;
    }
    int rv = buf_grow_to(buf, cap, at + max, OUT_FIRST_CAP);
    if (rv < 0) {
        return rv;
    }
    uint8_t *out = *buf + at;
    size_t n = max, r;
    switch (codec) {
    case RECORD_CODEC_GZIP:
        rv = gzip_to(in, len, out, &n);
        break;
    case RECORD_CODEC_SNAPPY:
        if (framed_snappy) {
            memcpy(out, XERIAL_MAGIC, sizeof XERIAL_MAGIC);
            be32_store(out + 8, 1);
            be32_store(out + 12, 1);
            n = max - XERIAL_HEADER - 4;
            rv = snappy_compress((const char *)in, len, (char *)out + XERIAL_HEADER + 4, &n) ==
                         SNAPPY_OK
                     ? 0
                     : -EIO;
            be32_store(out + XERIAL_HEADER, (uint32_t)n);
            n += XERIAL_HEADER + 4;
        } else {
            rv = snappy_compress((const char *)in, len, (char *)out, &n) == SNAPPY_OK ? 0 : -EIO;
        }
        break;
    case RECORD_CODEC_LZ4:
        r = LZ4F_compressFrame(out, max, in, len, NULL);
        rv = LZ4F_isError(r) ? -EIO : 0;
        n = r;
        break;
    default:
        r = ZSTD_compress(out, max, in, len, 3);
        rv = ZSTD_isError(r) ? -EIO : 0;
        n = r;
        break;
    }
    *out_len = rv == 0 ? n : 0;
    return rv;
}
