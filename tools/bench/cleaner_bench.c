/* cleaner_bench: the log cleaner's compaction rate beside a plain copy of
 * the same bytes, in the same run.
 *
 *   cleaner_bench [--size 256M] [--keys 100000] [--record-size 100] [--dir DIR]
 *                 [--compression none|gzip|snappy|lz4|zstd]
 *
 * Fills a fresh cleanup.policy=compact log (16 MiB segments) with batches
 * of 100 records whose keys cycle through --keys distinct keys, then times
 * one unthrottled clean (key map over the dirty section, rewrite of every
 * non-active segment, fsync, swap) and prints the log bytes cleaned per
 * second. The baseline reads the same segment files twice (the cleaner
 * reads them once for the map and once to rewrite) and writes and fsyncs as
 * many bytes as the clean wrote; the ratio is clean rate / baseline rate.
 * Files are removed afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/log/batch_codec.h"
#include "broker/log/partition_log.h"
#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"

#define RECORDS_PER_BATCH 100

struct options {
    int64_t size;
    int keys;
    size_t record_size;
    const char *dir;
    int codec;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mibs(int64_t bytes, double seconds)
{
    return (double)bytes / seconds / (1 << 20);
}

/* One batch of RECORDS_PER_BATCH records with keys first_key, first_key+1... */
static int encode_batch(struct buf *b, const struct options *o, int64_t first_key, int64_t ts)
{
    struct buf recs = BUF_INIT;
    char key[32];
    int rv = 0;
    for (int i = 0; i < RECORDS_PER_BATCH && rv == 0; i++) {
        struct buf body = BUF_INIT;
        int n = snprintf(key, sizeof key, "key-%lld", (long long)((first_key + i) % o->keys));
        buf_append_u8(&body, 0);
        buf_append_varint(&body, 0);
        buf_append_varint(&body, i);
        buf_append_varint(&body, n);
        buf_append(&body, key, (size_t)n);
        buf_append_varint(&body, (int64_t)o->record_size);
        uint8_t *v;
        rv = buf_append_zeros(&body, o->record_size, &v);
        /* Pseudo-random values, so compressed runs are not flattered. */
        uint64_t x = (uint64_t)(first_key + i) * 0x9e3779b97f4a7c15ULL + 1;
        for (size_t j = 0; rv == 0 && j < o->record_size; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v[j] = (uint8_t)x;
        }
        buf_append_varint(&body, 0);
        buf_append_varint(&recs, (int64_t)body.len);
        rv = rv == 0 ? buf_append(&recs, body.data, body.len) : rv;
        buf_free(&body);
    }
    uint8_t h[RECORD_BATCH_HEADER_SIZE] = {0};
    be32_store(h + 12, 0);
    h[16] = 2;
    be16_store(h + 21, (uint16_t)o->codec);
    be32_store(h + 23, RECORDS_PER_BATCH - 1);
    be64_store(h + 27, (uint64_t)ts);
    be64_store(h + 35, (uint64_t)ts);
    be64_store(h + 43, (uint64_t)-1);
    be16_store(h + 51, (uint16_t)-1);
    be32_store(h + 53, (uint32_t)-1);
    be32_store(h + 57, RECORDS_PER_BATCH);
    b->len = 0;
    rv = rv == 0 ? buf_append(b, h, sizeof h) : rv;
    if (rv == 0 && o->codec != 0) {
        uint8_t *z = NULL;
        size_t cap = 0, zlen;
        rv = batch_codec_compress(o->codec, recs.data, recs.len, 0, &z, &cap, 0, &zlen);
        rv = rv == 0 ? buf_append(b, z, zlen) : rv;
        free(z);
    } else if (rv == 0) {
        rv = buf_append(b, recs.data, recs.len);
    }
    buf_free(&recs);
    if (rv == 0) {
        be32_store(b->data + 8, (uint32_t)(b->len - 12));
        be32_store(b->data + 17, crc32c(0, b->data + 21, b->len - 21));
    }
    return rv;
}

static void on_clean(struct partition_log *log, const struct log_clean_stats *st, void *data)
{
    (void)log;
    *(struct log_clean_stats *)data = *st;
}

/* Read every .log file of `dir` `times` times. */
static int plain_read(const char *dir, int times, int64_t *read_bytes)
{
    char cmd[4200], path[4200];
    static uint8_t chunk[1 << 20];
    snprintf(cmd, sizeof cmd, "ls %s/*.log", dir);
    *read_bytes = 0;
    for (int t = 0; t < times; t++) {
        FILE *ls = popen(cmd, "r");
        if (ls == NULL) {
            return -errno;
        }
        while (fgets(path, sizeof path, ls) != NULL) {
            path[strcspn(path, "\n")] = '\0';
            int fd = open(path, O_RDONLY);
            ssize_t n;
            while (fd >= 0 && (n = read(fd, chunk, sizeof chunk)) > 0) {
                *read_bytes += n;
            }
            if (fd >= 0) {
                close(fd);
            }
        }
        pclose(ls);
    }
    return 0;
}

/* Write and fsync `write_bytes` to a scratch file in `dir`. */
static int plain_write(const char *dir, int64_t write_bytes)
{
    char path[4200];
    static uint8_t chunk[1 << 20];
    snprintf(path, sizeof path, "%s/plain.out", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return -errno;
    }
    for (int64_t w = 0; w < write_bytes;) {
        size_t n =
            write_bytes - w < (int64_t)sizeof chunk ? (size_t)(write_bytes - w) : sizeof chunk;
        if (write(fd, chunk, n) != (ssize_t)n) {
            close(fd);
            return -EIO;
        }
        w += (int64_t)n;
    }
    fdatasync(fd);
    close(fd);
    unlink(path);
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"size", required_argument, NULL, 's'},        {"keys", required_argument, NULL, 'k'},
        {"record-size", required_argument, NULL, 'r'}, {"dir", required_argument, NULL, 'd'},
        {"compression", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0},
    };
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    *o = (struct options){256 << 20, 100000, 100, ".", 0};
    for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
        char *end;
        switch (c) {
        case 's':
            o->size = (int64_t)(strtod(optarg, &end) * (*end == 'G'   ? 1 << 30
                                                        : *end == 'M' ? 1 << 20
                                                        : *end == 'K' ? 1 << 10
                                                                      : 1));
            break;
        case 'k':
            o->keys = atoi(optarg);
            break;
        case 'r':
            o->record_size = (size_t)atol(optarg);
            break;
        case 'd':
            o->dir = optarg;
            break;
        case 'c':
            o->codec = -1;
            for (int i = 0; i < 5; i++) {
                o->codec = strcmp(optarg, codecs[i]) == 0 ? i : o->codec;
            }
            break;
        default:
            return -1;
        }
    }
    return o->size > 0 && o->keys > 0 && o->codec >= 0 ? 0 : -1;
}

static int fill(struct partition_log *log, const struct options *o, int64_t *batches)
{
    struct buf b = BUF_INIT;
    struct log_append_info info;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int rv = 0;
    for (*batches = 0; rv == 0 && partition_log_size_bytes(log) < o->size; (*batches)++) {
        rv = encode_batch(&b, o, *batches * RECORDS_PER_BATCH, (int64_t)ts.tv_sec * 1000);
        rv = rv == 0 ? partition_log_append(log, b.data, b.len, 0, &info) : rv;
    }
    buf_free(&b);
    return rv;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_args(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: cleaner_bench [--size 256M] [--keys N] [--record-size N] "
                        "[--dir DIR] [--compression none|gzip|snappy|lz4|zstd]\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_WARN);
    char dir[2048], pdir[2100];
    snprintf(dir, sizeof dir, "%s/cleaner-bench-XXXXXX", o.dir);
    if (mkdtemp(dir) == NULL) {
        perror("cleaner_bench: mkdtemp");
        return 1;
    }
    snprintf(pdir, sizeof pdir, "%s/bench-0", dir);
    struct sluice_config bc;
    struct topic_config tc;
    char err[256];
    uv_loop_t loop;
    struct partition_log *log = NULL;
    int64_t batches;
    sluice_config_init(&bc);
    topic_config_init(&tc, &bc);
    topic_config_set(&tc, "cleanup.policy", "compact", err, sizeof err);
    topic_config_set(&tc, "segment.bytes", "16777216", err, sizeof err);
    uv_loop_init(&loop);
    int rv = partition_log_open(&loop, pdir, &tc, NULL, &log, err, sizeof err);
    if (rv == 0 && (rv = fill(log, &o, &batches)) == 0) {
        int64_t size = partition_log_size_bytes(log);
        struct log_cleaner_limits lim = {.dedupe_buffer_bytes = 128 << 20,
                                         .io_max_bytes_per_second = 1e300};
        struct log_clean_stats st = {.status = -EINPROGRESS};
        int64_t plain_bytes = 0;
        partition_log_set_high_watermark(log, partition_log_end_offset(log));
        /* Baseline part 1, before the clean replaces the files: read them
         * twice, as the cleaner does (map pass, rewrite pass). */
        sync();
        double t0 = now_s();
        rv = plain_read(pdir, 2, &plain_bytes);
        double plain_s = now_s() - t0;
        sync();
        t0 = now_s();
        if (rv == 0) {
            rv = partition_log_clean(log, &lim, INT64_MAX / 2, on_clean, &st) == 1 ? 0 : -EAGAIN;
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        double clean_s = now_s() - t0;
        rv = rv == 0 ? st.status : rv;
        /* Baseline part 2: write and fsync what the clean wrote. */
        sync();
        t0 = now_s();
        rv = rv == 0 ? plain_write(pdir, st.bytes_written) : rv;
        plain_s += now_s() - t0;
        plain_bytes /= 2;
        if (rv == 0) {
            printf("cleaner_bench: %.0f MiB log, %lld batches x %d records of %zu B, %d keys, "
                   "codec %d\n",
                   (double)size / (1 << 20), (long long)batches, RECORDS_PER_BATCH, o.record_size,
                   o.keys, o.codec);
            printf("clean: %.0f MiB in %.2f s = %.1f MiB/s (read %.0f MiB, wrote %.0f MiB, "
                   "removed %lld records)\n",
                   (double)st.bytes_read / 2 / (1 << 20), clean_s, mibs(st.bytes_read / 2, clean_s),
                   (double)st.bytes_read / (1 << 20), (double)st.bytes_written / (1 << 20),
                   (long long)st.records_removed);
            printf("plain: read %.0f MiB twice + write %.0f MiB in %.2f s = %.1f MiB/s | ratio "
                   "%.3f\n",
                   (double)plain_bytes / (1 << 20), (double)st.bytes_written / (1 << 20), plain_s,
                   mibs(plain_bytes, plain_s),
                   mibs(st.bytes_read / 2, clean_s) / mibs(plain_bytes, plain_s));
        }
    }
    if (rv != 0) {
        fprintf(stderr, "cleaner_bench: failed: %s %s\n", strerror(rv < 0 ? -rv : rv), err);
    }
    if (log != NULL) {
        partition_log_destroy(log);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    topic_config_free(&tc);
    sluice_config_free(&bc);
    rmdir(dir);
    return rv == 0 ? 0 : 1;
}
