/* log_bench: partition log append throughput beside a plain sequential
 * write() of the same bytes to the same directory, in the same run.
 *
 *   log_bench [--size 2G] [--dir DIR] [--record-size 1024] [--batch-bytes 16384]
 *             [--rounds 1] [--no-sync] [--segment-bytes N] [--truncate]
 *
 * After an untimed warm-up write, each round writes --size bytes with plain
 * write() of batch-sized chunks and appends record batches (records of
 * --record-size bytes, --batch-bytes of values per batch) to a fresh
 * partition log with default topic settings (1 GiB segments unless
 * --segment-bytes), and prints both rates and their ratio; the order
 * alternates between rounds and a last line sums all rounds. Both end with
 * an fsync (the log's through partition_log_flush on the thread pool) unless
 * --no-sync. Like Kafka, the log fsyncs a segment in the background when it
 * rolls, so with several segments part of its flush overlaps the writes;
 * --segment-bytes larger than --size measures a single segment. Files are
 * removed afterwards.
 *
 * --truncate measures instead what a truncation of the last batch costs the
 * loop (a follower cutting its tail after a leader change): the rebuild of
 * the producer state replays the batches after the latest snapshot. Each
 * round fills two logs of --size and flushes them: one with this build's
 * producer snapshots (at rolls and every PRODUCER_SNAPSHOT_INTERVAL_BYTES
 * within the active segment), the baseline with snapshots at rolls only, as
 * Kafka's are; it prints both times and their ratio. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/log/partition_log.h"
#include "broker/log/partition_log_internal.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/fs_util.h"
#include "common/log.h"

/* One timed run: wall and CPU seconds, bytes written. */
struct measurement {
    double wall, user, sys;
    int64_t bytes;
};

struct options {
    int64_t size;
    const char *dir;
    size_t record_size;
    size_t batch_bytes;
    int rounds;
    int sync;
    const char *segment_bytes; /* NULL: the default log.segment.bytes */
    int truncate;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start (sign -1) or finish (sign 1) a measurement: wall and this
 * process's CPU seconds. The thread pool's background fsync counts too. */
static void measure(struct measurement *m, int sign)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    m->wall += sign * now_s();
    m->user += sign * ((double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6);
    m->sys += sign * ((double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
}

static int64_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'k':
    case 'K':
        v *= 1024.0;
        break;
    case 'm':
    case 'M':
        v *= 1024.0 * 1024.0;
        break;
    case 'g':
    case 'G':
        v *= 1024.0 * 1024.0 * 1024.0;
        break;
    case '\0':
        break;
    default:
        return -1;
    }
    return v > 0 ? (int64_t)v : -1;
}

/* Append one record (null key, `value`, no headers) with its length prefix. */
static int encode_record(struct buf *b, int index, const uint8_t *value, size_t value_len)
{
    struct buf rec = BUF_INIT;
    int rv = buf_append_u8(&rec, 0);               /* attributes */
    rv = rv ? rv : buf_append_varint(&rec, 0);     /* timestampDelta */
    rv = rv ? rv : buf_append_varint(&rec, index); /* offsetDelta */
    rv = rv ? rv : buf_append_varint(&rec, -1);    /* null key */
    rv = rv ? rv : buf_append_varint(&rec, (int64_t)value_len);
    rv = rv ? rv : buf_append(&rec, value, value_len);
    rv = rv ? rv : buf_append_varint(&rec, 0); /* headers */
    rv = rv ? rv : buf_append_varint(b, (int64_t)rec.len);
    rv = rv ? rv : buf_append(b, rec.data, rec.len);
    buf_free(&rec);
    return rv;
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One v2 batch of `count` records of `value_len` bytes each. */
static int encode_batch(struct buf *b, int count, size_t value_len, int64_t ts)
{
    uint8_t *value = malloc(value_len ? value_len : 1);
    int rv = value != NULL ? 0 : -ENOMEM;
    rv = rv ? rv : buf_append_be64(b, 0);
    rv = rv ? rv : buf_append_be32(b, 0); /* batchLength, patched below */
    rv = rv ? rv : buf_append_be32(b, 0);
    rv = rv ? rv : buf_append_u8(b, 2);
    rv = rv ? rv : buf_append_be32(b, 0); /* crc, patched below */
    rv = rv ? rv : buf_append_be16(b, 0);
    rv = rv ? rv : buf_append_be32(b, (uint32_t)(count - 1));
    rv = rv ? rv : buf_append_be64(b, (uint64_t)ts);
    rv = rv ? rv : buf_append_be64(b, (uint64_t)ts);
    rv = rv ? rv : buf_append_be64(b, (uint64_t)-1);
    rv = rv ? rv : buf_append_be16(b, (uint16_t)-1);
    rv = rv ? rv : buf_append_be32(b, (uint32_t)-1);
    rv = rv ? rv : buf_append_be32(b, (uint32_t)count);
    for (int i = 0; i < count && rv == 0; i++) {
        for (size_t j = 0; j < value_len; j++) {
            value[j] = (uint8_t)(i * 31 + (int)j);
        }
        rv = encode_record(b, i, value, value_len);
    }
    free(value);
    if (rv == 0) {
        store_be32(b->data + 8, (uint32_t)(b->len - 12));
        store_be32(b->data + 17, crc32c(0, b->data + 21, b->len - 21));
    }
    return rv;
}

/* Plain sequential write of `total` bytes in `chunk`-sized writes. */
static int bench_plain(const struct options *o, const char *dir, const struct buf *chunk,
                       struct measurement *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/plain.bin", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    int rv = 0;
    int64_t done = 0;
    *m = (struct measurement){0};
    measure(m, -1);
    while (done < o->size && rv == 0) {
        rv = fs_write_all(fd, chunk->data, chunk->len);
        done += (int64_t)chunk->len;
    }
    if (rv == 0 && o->sync && fdatasync(fd) < 0) {
        rv = -errno;
    }
    measure(m, 1);
    m->bytes = done;
    close(fd);
    unlink(path);
    return rv;
}

static void on_flushed(struct log_flush_req *req, int status)
{
    *(int *)req->data = status == 0 ? 1 : status;
}

static int log_sync(uv_loop_t *loop, struct partition_log *log)
{
    int done = 0;
    struct log_flush_req req = {.data = &done};
    int rv = partition_log_flush(log, &req, on_flushed);
    if (rv < 0) {
        return rv;
    }
    while (done == 0) {
        uv_run(loop, UV_RUN_ONCE);
    }
    return done == 1 ? 0 : done;
}

/* Append the batch in `batch` until `total` bytes are in the log. With
 * `truncate_ms`, then flush it and time a truncation of the last batch, with
 * producer snapshots within the active segment only if `snapshots_within`. */
static int bench_log(const struct options *o, const char *dir, struct buf *batch,
                     struct measurement *m, bool snapshots_within, double *truncate_ms)
{
    uv_loop_t loop;
    struct sluice_config broker;
    struct topic_config tc;
    struct partition_log *log;
    char path[4096], err[256];
    int rv;
    snprintf(path, sizeof path, "%s/bench-0", dir);
    if (uv_loop_init(&loop) < 0 || sluice_config_init(&broker) < 0 ||
        topic_config_init(&tc, &broker) < 0) {
        return -ENOMEM;
    }
    if (o->segment_bytes != NULL &&
        topic_config_set(&tc, "segment.bytes", o->segment_bytes, err, sizeof err) != 0) {
        fprintf(stderr, "log_bench: %s\n", err);
        return -EINVAL;
    }
    if ((rv = partition_log_open(&loop, path, &tc, NULL, &log, err, sizeof err)) < 0) {
        fprintf(stderr, "log_bench: %s\n", err);
        return rv;
    }
    if (!snapshots_within) {
        log->snapshot_interval_bytes = INT64_MAX;
    }
    int64_t done = 0;
    *m = (struct measurement){0};
    measure(m, -1);
    while (done < o->size) {
        struct log_append_info info;
        if ((rv = partition_log_append(log, batch->data, batch->len, 0, &info)) < 0) {
            fprintf(stderr, "log_bench: append failed: %s\n", info.reason);
            break;
        }
        done += (int64_t)batch->len;
    }
    if (rv == 0 && o->sync) {
        rv = log_sync(&loop, log);
    }
    measure(m, 1);
    m->bytes = done;
    if (rv == 0 && truncate_ms != NULL && (rv = log_sync(&loop, log)) == 0) {
        int64_t end = partition_log_end_offset(log);
        int64_t records = (int64_t)(o->batch_bytes / o->record_size);
        double t0 = now_s();
        rv = partition_log_truncate_to(log, end - records);
        *truncate_ms = (now_s() - t0) * 1e3;
    }
    int segments = partition_log_segment_count(log);
    partition_log_destroy(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    printf("  (partition log: %d segment(s) of up to %" PRId64 " bytes)\n", segments,
           tc.segment_bytes);
    topic_config_free(&tc);
    sluice_config_free(&broker);
    return rv;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: log_bench [--size BYTES[K|M|G]] [--dir DIR] [--record-size N]\n"
               "                 [--batch-bytes N] [--rounds N] [--no-sync] [--segment-bytes N]\n"
               "                 [--truncate]\n"
               "Compares partition log appends with plain write() in the same directory;\n"
               "--truncate: a truncation's producer-state rebuild against snapshots at rolls "
               "only.\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {{"size", required_argument, NULL, 's'},
                                             {"dir", required_argument, NULL, 'd'},
                                             {"record-size", required_argument, NULL, 'r'},
                                             {"batch-bytes", required_argument, NULL, 'b'},
                                             {"rounds", required_argument, NULL, 'n'},
                                             {"no-sync", no_argument, NULL, 'S'},
                                             {"segment-bytes", required_argument, NULL, 'g'},
                                             {"truncate", no_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    *o = (struct options){.size = 2LL << 30,
                          .dir = ".",
                          .record_size = 1024,
                          .batch_bytes = 16384,
                          .rounds = 1,
                          .sync = 1};
    while ((c = getopt_long(argc, argv, "s:d:r:b:n:Sg:th", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->size = parse_size(optarg);
            break;
        case 'd':
            o->dir = optarg;
            break;
        case 'r':
            o->record_size = (size_t)parse_size(optarg);
            break;
        case 'b':
            o->batch_bytes = (size_t)parse_size(optarg);
            break;
        case 'n':
            o->rounds = atoi(optarg);
            break;
        case 'S':
            o->sync = 0;
            break;
        case 'g':
            o->segment_bytes = optarg;
            break;
        case 't':
            o->truncate = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (o->size <= 0 || o->record_size == 0 || o->record_size > (1u << 20) ||
        o->batch_bytes < o->record_size || o->batch_bytes > (64u << 20) || o->rounds < 1) {
        return -1;
    }
    return 0;
}

static double mibs(const struct measurement *m)
{
    return (double)m->bytes / m->wall / (1 << 20);
}

static void add(struct measurement *sum, const struct measurement *m)
{
    sum->wall += m->wall;
    sum->user += m->user;
    sum->sys += m->sys;
    sum->bytes += m->bytes;
}

/* Rates and their ratio, then the CPU each side spent per GiB (user and
 * system seconds; the log's own work is mostly its user time above the
 * plain write's) and the CPU ratio (plain CPU / log CPU). On a machine
 * shared with other work the wall-clock ratio follows the scheduler; the
 * CPU ratio is what the log's code decides. */
static void print_pair(const char *label, const struct measurement *plain,
                       const struct measurement *log)
{
    double gib_plain = (double)plain->bytes / (1 << 30), gib_log = (double)log->bytes / (1 << 30);
    double cpu_plain = (plain->user + plain->sys) / gib_plain;
    double cpu_log = (log->user + log->sys) / gib_log;
    printf("%s: plain write %.1f MiB/s | partition log %.1f MiB/s | ratio %.3f | cpu s/GiB "
           "plain %.3f + %.3f, log %.3f + %.3f (user + sys) | cpu ratio %.3f\n",
           label, mibs(plain), mibs(log), mibs(log) / mibs(plain), plain->user / gib_plain,
           plain->sys / gib_plain, log->user / gib_log, log->sys / gib_log, cpu_plain / cpu_log);
    fflush(stdout);
}

/* Odd rounds write plain first, even rounds the log first, so neither
 * always inherits the other's writeback. */
static int run_round(const struct options *o, const char *dir, struct buf *batch, int round,
                     struct measurement *plain_sum, struct measurement *log_sum)
{
    struct measurement plain = {0}, log = {0};
    int rv = 0;
    for (int step = 0; step < 2 && rv == 0; step++) {
        /* Start each measurement with no writeback left over from the
         * previous one (or from whoever else shares the disk). */
        sync();
        if ((step == 0) == (round % 2 == 1)) {
            rv = bench_plain(o, dir, batch, &plain);
        } else {
            rv = bench_log(o, dir, batch, &log, true, NULL);
        }
    }
    if (rv < 0) {
        fprintf(stderr, "log_bench: round %d failed: %s\n", round, strerror(-rv));
        return rv;
    }
    char label[32];
    snprintf(label, sizeof label, "round %d", round);
    print_pair(label, &plain, &log);
    add(plain_sum, &plain);
    add(log_sum, &log);
    return 0;
}

/* --truncate: the truncation's time with this build's snapshots and with
 * snapshots at rolls only (the baseline), alternating which goes first. */
static int truncate_round(const struct options *o, const char *dir, struct buf *batch, int round,
                          double *within_sum, double *rolls_sum)
{
    struct measurement m;
    double within = 0, rolls = 0;
    int rv = 0;
    for (int step = 0; step < 2 && rv == 0; step++) {
        sync();
        bool first_within = round % 2 == 1;
        bool snapshots_within = (step == 0) == first_within;
        rv = bench_log(o, dir, batch, &m, snapshots_within, snapshots_within ? &within : &rolls);
    }
    if (rv < 0) {
        fprintf(stderr, "log_bench: round %d failed: %s\n", round, strerror(-rv));
        return rv;
    }
    printf("round %d: truncation of the last batch %.2f ms | baseline (snapshots at rolls "
           "only) %.2f ms | ratio %.1f\n",
           round, within, rolls, within > 0 ? rolls / within : 0.0);
    fflush(stdout);
    *within_sum += within;
    *rolls_sum += rolls;
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    struct buf batch = BUF_INIT;
    char dir[2048];
    if (parse_args(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    log_set_level(LOG_LEVEL_WARN);
    snprintf(dir, sizeof dir, "%s/log-bench-XXXXXX", o.dir);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "log_bench: cannot create a directory in %s: %s\n", o.dir, strerror(errno));
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int count = (int)(o.batch_bytes / o.record_size);
    if (encode_batch(&batch, count, o.record_size, (int64_t)ts.tv_sec * 1000) < 0) {
        return 1;
    }
    printf("log_bench: %.0f MiB per run, batches of %d x %zu-byte records (%zu bytes), %s, "
           "dir %s\n",
           (double)o.size / (1 << 20), count, o.record_size, batch.len,
           o.sync ? "fsync at end" : "no fsync", dir);
    /* An untimed plain write first: the first large write after start-up
     * is consistently slower (allocator and writeback warm-up), which would
     * otherwise flatter the log in round 1. */
    struct measurement warm, plain_sum = {0}, log_sum = {0};
    double within_sum = 0, rolls_sum = 0;
    int rv = bench_plain(&o, dir, &batch, &warm);
    for (int r = 1; r <= o.rounds && rv == 0; r++) {
        rv = o.truncate ? truncate_round(&o, dir, &batch, r, &within_sum, &rolls_sum)
                        : run_round(&o, dir, &batch, r, &plain_sum, &log_sum);
    }
    if (rv == 0 && o.rounds > 1 && o.truncate) {
        printf("all rounds: truncation %.2f ms | baseline %.2f ms | ratio %.1f\n",
               within_sum / o.rounds, rolls_sum / o.rounds,
               within_sum > 0 ? rolls_sum / within_sum : 0.0);
    } else if (rv == 0 && o.rounds > 1) {
        print_pair("all rounds", &plain_sum, &log_sum);
    }
    buf_free(&batch);
    rmdir(dir);
    return rv == 0 ? 0 : 1;
}
