/* Kafka's batch codecs over Debian's zlib, snappy, lz4 and zstd. */
#include "broker/log/batch_codec.h"

#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/bigendian.h"

/* xerial snappy-java framing: magic, version 1, compatible version 1, then
 * blocks of [u32 big-endian length][raw snappy]. */
static const uint8_t XERIAL_MAGIC[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER 16

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) {
        return 0;
    }
    size_t ncap = *cap ? *cap : 64 * 1024;
    while (ncap < need) {
        ncap *= 2;
    }
    uint8_t *nb = realloc(*buf, ncap);
    if (nb == NULL) {
        return -ENOMEM;
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* Room for at least `want` more bytes after `used`, never past `max_out`. */
static int room(uint8_t **buf, size_t *cap, size_t used, size_t want, size_t max_out)
{
    if (used >= max_out) {
        return -EFBIG;
    }
    size_t need = used + want;
    return reserve(buf, cap, need > max_out ? max_out : need);
}

static int gunzip(const uint8_t *in, size_t len, size_t max_out, uint8_t **buf, size_t *cap,
                  size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK) {
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    size_t used = 0;
    int rv = 0, zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if ((rv = room(buf, cap, used, 64 * 1024, max_out)) < 0) {
            break;
        }
        zs.next_out = *buf + used;
        zs.avail_out = (uInt)(*cap - used);
        zr = inflate(&zs, Z_NO_FLUSH);
        used = *cap - zs.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END) {
            rv = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
            break;
        }
        if (zr == Z_OK && zs.avail_in == 0 && zs.avail_out > 0) {
            rv = -EBADMSG; /* truncated stream */
            break;
        }
    }
    inflateEnd(&zs);
    *out_len = used;
    return rv;
}

static int unzstd(const uint8_t *in, size_t len, size_t max_out, uint8_t **buf, size_t *cap,
                  size_t *out_len)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (ds == NULL) {
        return -ENOMEM;
    }
    ZSTD_inBuffer ib = {in, len, 0};
    size_t used = 0, zr = 1;
    int rv = 0;
    while (ib.pos < ib.size || zr != 0) {
        if ((rv = room(buf, cap, used, 64 * 1024, max_out)) < 0) {
            break;
        }
        ZSTD_outBuffer ob = {*buf, *cap, used};
        zr = ZSTD_decompressStream(ds, &ob, &ib);
        used = ob.pos;
        if (ZSTD_isError(zr)) {
            rv = -EBADMSG;
            break;
        }
        if (zr != 0 && ib.pos == ib.size && ob.pos < ob.size) {
            rv = -EBADMSG; /* truncated frame */
            break;
        }
    }
    ZSTD_freeDStream(ds);
    *out_len = used;
    return rv;
}

static int unlz4(const uint8_t *in, size_t len, size_t max_out, uint8_t **buf, size_t *cap,
                 size_t *out_len)
{
    LZ4F_dctx *dc;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dc, LZ4F_VERSION))) {
        return -ENOMEM;
    }
    size_t used = 0, pos = 0, hint = 1;
    int rv = 0;
    while (hint != 0) {
        if ((rv = room(buf, cap, used, 64 * 1024, max_out)) < 0) {
            break;
        }
        size_t dst = *cap - used, src = len - pos;
        hint = LZ4F_decompress(dc, *buf + used, &dst, in + pos, &src, NULL);
        used += dst;
        pos += src;
        if (LZ4F_isError(hint) || (hint != 0 && pos == len && dst == 0)) {
            rv = -EBADMSG;
            break;
        }
    }
    LZ4F_freeDecompressionContext(dc);
    *out_len = used;
    return rv;
}

static int snappy_block(const uint8_t *in, size_t len, size_t max_out, uint8_t **buf, size_t *cap,
                        size_t *used)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK) {
        return -EBADMSG;
    }
    if (n > max_out - *used) {
        return -EFBIG;
    }
    int rv = reserve(buf, cap, *used + n);
    if (rv < 0) {
        return rv;
    }
    if (snappy_uncompress((const char *)in, len, (char *)*buf + *used, &n) != SNAPPY_OK) {
        return -EBADMSG;
    }
    *used += n;
    return 0;
}

int batch_codec_snappy_framed(const uint8_t *in, size_t len)
{
    return len >= XERIAL_HEADER && memcmp(in, XERIAL_MAGIC, sizeof XERIAL_MAGIC) == 0;
}

static int unsnappy(const uint8_t *in, size_t len, size_t max_out, uint8_t **buf, size_t *cap,
                    size_t *out_len)
{
    int rv = 0;
    *out_len = 0;
    if (!batch_codec_snappy_framed(in, len)) {
        return snappy_block(in, len, max_out, buf, cap, out_len);
    }
    for (size_t pos = XERIAL_HEADER; rv == 0 && pos < len;) {
        if (len - pos < 4) {
            return -EBADMSG;
        }
        size_t n = be32_load(in + pos);
        pos += 4;
        if (n > len - pos) {
            return -EBADMSG;
        }
        rv = snappy_block(in + pos, n, max_out, buf, cap, out_len);
        pos += n;
    }
    return rv;
}

int batch_codec_decompress(int codec, const uint8_t *in, size_t len, size_t max_out, uint8_t **buf,
                           size_t *cap, size_t *out_len)
{
    *out_len = 0;
    switch (codec) {
    case BATCH_CODEC_GZIP:
        return gunzip(in, len, max_out, buf, cap, out_len);
    case BATCH_CODEC_SNAPPY:
        return unsnappy(in, len, max_out, buf, cap, out_len);
    case BATCH_CODEC_LZ4:
        return unlz4(in, len, max_out, buf, cap, out_len);
    case BATCH_CODEC_ZSTD:
        return unzstd(in, len, max_out, buf, cap, out_len);
    default:
        return -EINVAL;
    }
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
    case BATCH_CODEC_GZIP:
        return compressBound((uLong)len) + 64;
    case BATCH_CODEC_SNAPPY:
        return snappy_max_compressed_length(len) + (framed ? XERIAL_HEADER + 4 : 0);
    case BATCH_CODEC_LZ4:
        return LZ4F_compressFrameBound(len, NULL);
    case BATCH_CODEC_ZSTD:
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
    int rv = reserve(buf, cap, at + max);
    if (rv < 0) {
        return rv;
    }
    uint8_t *out = *buf + at;
    size_t n = max, r;
    switch (codec) {
    case BATCH_CODEC_GZIP:
        rv = gzip_to(in, len, out, &n);
        break;
    case BATCH_CODEC_SNAPPY:
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
    case BATCH_CODEC_LZ4:
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
