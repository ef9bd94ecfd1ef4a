/* Bounded decompression of record batch bodies (gzip, snappy, lz4, zstd),
 * with Debian's zlib, libsnappy, liblz4 and libzstd. */
#include "broker/log/record_codec.h"

#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "broker/log/log_errors.h"
#include "common/bigendian.h"

/* First output allocation; it then doubles, up to the bound. */
#define OUT_INITIAL 16384

/* The output: grows by doubling with the bytes produced, up to max + 1 so a
 * full buffer at that size proves the stream inflates beyond max. */
struct outbuf {
    uint8_t *data;
    size_t len, cap, max;
};

static int out_resize(struct outbuf *o, size_t cap)
{
    uint8_t *p = realloc(o->data, cap);
    if (p == NULL) {
        return -ENOMEM;
    }
    o->data = p;
    o->cap = cap;
    return 0;
}

/* Make room for at least one more byte, or say the bound is passed. */
static int out_grow(struct outbuf *o)
{
    if (o->len < o->cap) {
        return 0;
    }
    if (o->cap > o->max) {
        return RECORD_CODEC_ERR_TOO_LARGE;
    }
    size_t cap = o->cap < OUT_INITIAL / 2 ? OUT_INITIAL : o->cap * 2;
    return out_resize(o, cap > o->max ? o->max + 1 : cap);
}

static int inflate_gzip(const uint8_t *in, size_t len, struct outbuf *o, char *reason,
                        size_t reasonlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const; it only reads */
    zs.avail_in = (uInt)len;
    int rv;
    for (;;) {
        if ((rv = out_grow(o)) < 0) {
            break;
        }
        zs.next_out = o->data + o->len;
        zs.avail_out = (uInt)(o->cap - o->len);
        int zr = inflate(&zs, Z_NO_FLUSH);
        o->len = o->cap - zs.avail_out;
        if (zr == Z_STREAM_END && zs.avail_in == 0) {
            break; /* rv is 0 */
        }
        if (zr == Z_STREAM_END) { /* another member follows (GZIPInputStream reads them too) */
            zr = inflateReset(&zs);
        }
        if (zr == Z_OK || (zr == Z_BUF_ERROR && zs.avail_out == 0)) {
            continue;
        }
        rv = zr == Z_MEM_ERROR ? -ENOMEM
                               : log_err_reason(RECORD_CODEC_ERR_CORRUPT, reason, reasonlen,
                                                "gzip body is invalid or truncated (%s)",
                                                zs.msg != NULL ? zs.msg : "unexpected end");
        break;
    }
    inflateEnd(&zs);
    return rv;
}

/* One raw snappy block. Its header states the inflated length exactly, so
 * the bound is checked before anything is allocated. */
static int snappy_block(const uint8_t *in, size_t len, struct outbuf *o, char *reason,
                        size_t reasonlen)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK) {
        return log_err_reason(RECORD_CODEC_ERR_CORRUPT, reason, reasonlen,
                              "snappy block header is invalid");
    }
    if (n > o->max - o->len) {
        return RECORD_CODEC_ERR_TOO_LARGE;
    }
    if (o->len + n > o->cap && out_resize(o, o->len + n) < 0) {
        return -ENOMEM;
    }
    char empty; /* a zero-length block still has to parse to its end */
    char *dst = n > 0 ? (char *)o->data + o->len : &empty;
    if (snappy_uncompress((const char *)in, len, dst, &n) != SNAPPY_OK) {
        return log_err_reason(RECORD_CODEC_ERR_CORRUPT, reason, reasonlen,
                              "snappy block is invalid");
    }
    o->len += n;
    return 0;
}

/* The Java client writes xerial's framing: magic, two version words, then
 * blocks each preceded by a big-endian length. Anything else is raw snappy
 * (librdkafka), as xerial's SnappyInputStream also accepts. */
static int inflate_snappy(const uint8_t *in, size_t len, struct outbuf *o, char *reason,
                          size_t reasonlen)
{
    static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    const size_t xerial_header = 16;
    if (len < xerial_header || memcmp(in, xerial_magic, sizeof xerial_magic) != 0) {
        return snappy_block(in, len, o, reason, reasonlen);
    }
    for (size_t pos = xerial_header; pos < len;) {
        if (len - pos < 4 || be32_load(in + pos) > len - pos - 4) {
            return log_err_reason(RECORD_CODEC_ERR_CORRUPT, reason, reasonlen,
                                  "xerial snappy block at byte %zu runs past the body", pos);
        }
        size_t blen = be32_load(in + pos);
        int rv = snappy_block(in + pos + 4, blen, o, reason, reasonlen);
        if (rv < 0) {
            return rv;
        }
        pos += 4 + blen;
    }
    return 0;
}

static int inflate_lz4(const uint8_t *in, size_t len, struct outbuf *o, char *reason,
                       size_t reasonlen)
{
    LZ4F_dctx *d;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) {
        return -ENOMEM;
    }
    size_t pos = 0, hint = 1;
    int rv;
    for (;;) {
        if ((rv = out_grow(o)) < 0) {
            break;
        }
        size_t src = len - pos, dst = o->cap - o->len;
        hint = LZ4F_decompress(d, o->data + o->len, &dst, in + pos, &src, NULL);
        if (LZ4F_isError(hint)) {
            rv = log_err_reason(RECORD_CODEC_ERR_CORRUPT, reason, reasonlen,
                                "lz4 body is invalid (%s)", LZ4F_getErrorName(hint));
            break;
        }
        pos += src;
        o->len += dst;
        if (hint == 0 && pos == len) {
            break; /* every frame decoded and flushed; rv is 0 */
        }
        if (src == 0 && dst == 0 && o->len < o->cap) { /* wants input there is none of */
            rv = log_err_reason(RECORD_CODEC_ERR_CORRUPT, reason, reasonlen,
                                "lz4 body is truncated");
            break;
        }
    }
    LZ4F_freeDecompressionContext(d);
    return rv;
}

static int inflate_zstd(const uint8_t *in, size_t len, struct outbuf *o, char *reason,
                        size_t reasonlen)
{
    ZSTD_DCtx *z = ZSTD_createDCtx();
    if (z == NULL) {
        return -ENOMEM;
    }
    ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, RECORD_CODEC_ZSTD_WINDOW_LOG_MAX);
    ZSTD_inBuffer ib = {in, len, 0};
    int rv;
    for (;;) {
        if ((rv = out_grow(o)) < 0) {
            break;
        }
        ZSTD_outBuffer ob = {o->data, o->cap, o->len};
        size_t r = ZSTD_decompressStream(z, &ob, &ib);
        o->len = ob.pos;
        if (ZSTD_isError(r)) {
            rv = log_err_reason(RECORD_CODEC_ERR_CORRUPT, reason, reasonlen,
                                "zstd body is invalid (%s)", ZSTD_getErrorName(r));
            break;
        }
        if (r == 0 && ib.pos == ib.size) {
            break; /* last frame complete; rv is 0 */
        }
        if (ib.pos == ib.size && ob.pos < ob.size) {
            rv = log_err_reason(RECORD_CODEC_ERR_CORRUPT, reason, reasonlen,
                                "zstd body is truncated");
            break;
        }
    }
    ZSTD_freeDCtx(z);
    return rv;
}

int record_codec_inflate(int codec, const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                         size_t *outlen, char *reason, size_t reasonlen)
{
    struct outbuf o = {.max = max_out};
    int rv;
    switch (codec) {
    case RECORD_CODEC_GZIP:
        rv = inflate_gzip(in, len, &o, reason, reasonlen);
        break;
    case RECORD_CODEC_SNAPPY:
        rv = inflate_snappy(in, len, &o, reason, reasonlen);
        break;
    case RECORD_CODEC_LZ4:
        rv = inflate_lz4(in, len, &o, reason, reasonlen);
        break;
    case RECORD_CODEC_ZSTD:
        rv = inflate_zstd(in, len, &o, reason, reasonlen);
        break;
    default:
        rv = log_err_reason(RECORD_CODEC_ERR_CODEC, reason, reasonlen,
                            "unknown compression codec id %d", codec);
        break;
    }
    if (rv == 0 && o.len > o.max) {
        rv = RECORD_CODEC_ERR_TOO_LARGE;
    }
    if (rv == RECORD_CODEC_ERR_TOO_LARGE) {
        log_err_reason(rv, reason, reasonlen, "%s body inflates beyond %zu bytes",
                       record_codec_name(codec), max_out);
    }
    if (rv < 0) {
        free(o.data);
        *out = NULL;
        *outlen = 0;
        return rv;
    }
    *out = o.data;
    *outlen = o.len;
    return 0;
}

const char *record_codec_name(int codec)
{
    static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    return codec >= 0 && codec <= RECORD_CODEC_MAX ? names[codec] : "unknown";
}
