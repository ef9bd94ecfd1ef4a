/* Helpers for the broker/log/ tests. */
#define _XOPEN_SOURCE 700
#include "log_test_util.h"

#include <check.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/bigendian.h"
#include "common/crc32c.h"

static void append_bytes_field(struct buf *b, const void *p, int32_t len)
{
    ck_assert_int_eq(buf_append_varint(b, len), 0);
    if (len > 0) {
        ck_assert_int_eq(buf_append(b, p, (size_t)len), 0);
    }
}

static void append_record(struct buf *out, int i, size_t value_len, uint32_t seed)
{
    struct buf rec = BUF_INIT;
    char key[32], hval[32];
    int klen = snprintf(key, sizeof key, "key-%d", i);
    int hlen = snprintf(hval, sizeof hval, "v%d", i);
    uint8_t *value = malloc(value_len + 1);
    ck_assert_ptr_nonnull(value);
    for (size_t j = 0; j < value_len; j++) {
        value[j] = (uint8_t)(seed * 31u + (uint32_t)i * 7u + (uint32_t)j);
    }
    buf_append_u8(&rec, 0);     /* attributes */
    buf_append_varint(&rec, i); /* timestampDelta */
    buf_append_varint(&rec, i); /* offsetDelta */
    append_bytes_field(&rec, key, klen);
    append_bytes_field(&rec, value, (int32_t)value_len);
    buf_append_varint(&rec, 1); /* headers */
    append_bytes_field(&rec, "h", 1);
    append_bytes_field(&rec, hval, hlen);
    ck_assert_int_eq(buf_append_varint(out, (int64_t)rec.len), 0);
    ck_assert_int_eq(buf_append(out, rec.data, rec.len), 0);
    buf_free(&rec);
    free(value);
}

void tb_fix_crc(uint8_t *batch)
{
    uint32_t len = be32_load(batch + 8);
    be32_store(batch + 17, crc32c(0, batch + 21, len + 12 - 21));
}

void tb_batch_ex(struct buf *out, int count, size_t value_len, int64_t base_ts, uint32_t seed,
                 int16_t attributes, int64_t base_offset)
{
    size_t start = out->len;
    buf_append_be64(out, (uint64_t)base_offset);
    buf_append_be32(out, 0); /* batchLength, patched */
    buf_append_be32(out, 0); /* partitionLeaderEpoch */
    buf_append_u8(out, 2);
    buf_append_be32(out, 0); /* crc, patched */
    buf_append_be16(out, (uint16_t)attributes);
    buf_append_be32(out, (uint32_t)(count - 1));
    buf_append_be64(out, (uint64_t)base_ts);
    buf_append_be64(out, (uint64_t)(base_ts + count - 1));
    buf_append_be64(out, (uint64_t)-1); /* producerId */
    buf_append_be16(out, (uint16_t)-1);
    buf_append_be32(out, (uint32_t)-1);
    buf_append_be32(out, (uint32_t)count);
    for (int i = 0; i < count; i++) {
        append_record(out, i, value_len, seed);
    }
    be32_store(out->data + start + 8, (uint32_t)(out->len - start - 12));
    tb_fix_crc(out->data + start);
}

void tb_batch(struct buf *out, int count, size_t value_len, int64_t base_ts, uint32_t seed)
{
    tb_batch_ex(out, count, value_len, base_ts, seed, 0, 0);
}

char *tb_tmpdir(void)
{
    char *path = strdup("/tmp/sluice-logtest-XXXXXX");
    ck_assert_ptr_nonnull(path);
    ck_assert_ptr_nonnull(mkdtemp(path));
    return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void tb_rmdir(char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

int64_t tb_clock_now(void *data)
{
    return ((struct tb_clock *)data)->now;
}

void tb_topic_config(struct topic_config *tc, ...)
{
    struct sluice_config broker;
    char err[256];
    va_list ap;
    ck_assert_int_eq(sluice_config_init(&broker), 0);
    ck_assert_int_eq(topic_config_init(tc, &broker), 0);
    sluice_config_free(&broker);
    va_start(ap, tc);
    for (const char *kv; (kv = va_arg(ap, const char *)) != NULL;) {
        char key[64];
        const char *eq = strchr(kv, '=');
        ck_assert_ptr_nonnull(eq);
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        ck_assert_msg(topic_config_set(tc, key, eq + 1, err, sizeof err) == 0, "%s", err);
    }
    va_end(ap);
}

int64_t tb_file_size(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) < 0 ? -1 : (int64_t)st.st_size;
}
