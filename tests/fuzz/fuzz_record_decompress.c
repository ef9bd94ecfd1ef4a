/* Fuzz target: bounded decompression of compressed record batch bodies
 * (broker/log/record_codec.c), which every compressed produce goes through.
 * Byte 0 picks the codec (its low 3 bits: 0 and 5-7 must be refused as
 * unknown), byte 1 the bound (1 << (byte % 21) bytes, up to 1 MiB); the rest
 * is the body.
 * Invariants: a rejection is a known code with a reason and no buffer; an
 * accepted body inflated to at most the bound; inflating it again with the
 * bound set to exactly its length gives the same bytes (determinism, and the
 * bound is inclusive), and with one byte less is TOO_LARGE; and what came
 * out, compressed again by the codec's own library, inflates back to itself
 * (so the decoder agrees with the reference encoder). */
#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "broker/log/record_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Compress with the codec's reference library; NULL if it cannot. */
static uint8_t *recompress(int codec, const uint8_t *in, size_t len, size_t *outlen)
{
    size_t cap = len + len / 2 + 1024;
    uint8_t *out = malloc(cap);
    if (out == NULL)
        abort();
    if (codec == RECORD_CODEC_GZIP) {
        uLongf n = (uLongf)cap;
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            abort();
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)len;
        zs.next_out = out;
        zs.avail_out = (uInt)n;
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
            abort();
        *outlen = cap - zs.avail_out;
        deflateEnd(&zs);
    } else if (codec == RECORD_CODEC_SNAPPY) {
        *outlen = cap;
        if (snappy_compress((const char *)in, len, (char *)out, outlen) != SNAPPY_OK)
            abort();
    } else if (codec == RECORD_CODEC_LZ4) {
        *outlen = LZ4F_compressFrame(out, cap, in, len, NULL);
        if (LZ4F_isError(*outlen))
            abort();
    } else {
        *outlen = ZSTD_compress(out, cap, in, len, 1);
        if (ZSTD_isError(*outlen))
            abort();
    }
    return out;
}

static void check_accepted(int codec, const uint8_t *body, size_t blen, const uint8_t *out,
                           size_t n)
{
    uint8_t *again, *back, *re;
    size_t n2, relen;
    if (record_codec_inflate(codec, body, blen, n, &again, &n2, NULL, 0) != 0 || n2 != n ||
        (n > 0 && memcmp(again, out, n) != 0))
        abort();
    free(again);
    if (n > 0 && record_codec_inflate(codec, body, blen, n - 1, &again, &n2, NULL, 0) !=
                     RECORD_CODEC_ERR_TOO_LARGE)
        abort();
    re = recompress(codec, out, n, &relen);
    if (record_codec_inflate(codec, re, relen, n, &back, &n2, NULL, 0) != 0 || n2 != n ||
        (n > 0 && memcmp(back, out, n) != 0))
        abort();
    free(back);
    free(re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int codec = data[0] & 7;
    size_t max_out = (size_t)1 << (data[1] % 21);
    uint8_t *out = (uint8_t *)1;
    size_t n = 12345;
    char reason[160] = "";
    int rv =
        record_codec_inflate(codec, data + 2, size - 2, max_out, &out, &n, reason, sizeof reason);
    if (rv != 0) {
        if (out != NULL || n != 0 || reason[0] == '\0' ||
            (rv != RECORD_CODEC_ERR_CORRUPT && rv != RECORD_CODEC_ERR_TOO_LARGE &&
             rv != RECORD_CODEC_ERR_CODEC && rv != -ENOMEM))
            abort();
        if ((codec == RECORD_CODEC_NONE || codec > RECORD_CODEC_MAX) !=
            (rv == RECORD_CODEC_ERR_CODEC))
            abort();
        return 0;
    }
    if (codec == RECORD_CODEC_NONE || codec > RECORD_CODEC_MAX || n > max_out)
        abort();
    check_accepted(codec, data + 2, size - 2, out, n);
    free(out);
    return 0;
}
