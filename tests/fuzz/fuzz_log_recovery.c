/* Fuzz target: partition log crash recovery (broker/log/log_recovery.c and
 * the segment, index and checkpoint readers under it). Whatever a crash, a
 * bad disk or an operator left in a partition directory is read at start-up
 * and must never crash the broker or serve garbage.
 * Input: `flags u8`, then chunks `length u16 BE, bytes` for, in order: segment
 * 0's .log, .index, .timeindex, the checkpoint file, and a second segment's
 * .log (based at offset flags >> 2); a missing chunk is a missing file. Flags
 * bit 0: the target first fixes the CRC of every batch it can walk in each
 * .log, so recovery gets past the CRC check; bit 1: keep the checkpoint
 * (without one, every segment is scanned from its first byte). After the
 * five chunks, an optional u16 BE `cut`: the log is truncated to
 * start + cut % (end - start + 1) as a follower would (partition_log_truncate_to,
 * which rebuilds the cut segment from its index, read from the files here).
 * Invariants after partition_log_open: start <= high watermark <= end;
 * reading from the start returns whole batches up to the end, and without a
 * checkpoint every batch validates (magic, length, CRC) and offsets rise
 * (gaps are allowed, as in Kafka); after a truncation the same holds, and
 * without a checkpoint the log ends at or below the cut; an append then works, and after close
 * and reopen (which rescans the last segment) the log ends at the same
 * offset with the same bytes (unless a truncation made a segment loaded
 * without a scan the last one: see check_log).
 *
 * Speed (issue 15: 15 s used to run ~3,800 inputs): the partition lives in
 * /dev/shm where there is one, with small segments (4 KiB), dense index
 * entries and small indexes, so an input of a few KiB crosses segment and
 * index boundaries; the configuration and the loop are made once per
 * process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/log/partition_log.h"
#include "broker/log/record_batch.h"
#include "common/bigendian.h"
#include "common/log.h"
#include "common/crc32c.h"
#include "common/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t fixed_now(void *data)
{
    (void)data;
    return 1700000000000;
}

static const struct log_clock fuzz_clock = {fixed_now, NULL};

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (n > 0 && write(fd, p, n) != (ssize_t)n))
        abort();
    close(fd);
}

/* Fix the CRC of each batch whose length fits, walking by batchLength. */
static void fix_crcs(uint8_t *p, size_t n)
{
    size_t pos = 0;
    while (n - pos >= RECORD_BATCH_HEADER_SIZE) {
        int64_t bl = (int32_t)be32_load(p + pos + RECORD_BATCH_OFF_LENGTH);
        if (bl < RECORD_BATCH_HEADER_SIZE - RECORD_BATCH_LOG_OVERHEAD ||
            (uint64_t)bl + RECORD_BATCH_LOG_OVERHEAD > n - pos)
            return;
        size_t size = (size_t)bl + RECORD_BATCH_LOG_OVERHEAD;
        be32_store(p + pos + RECORD_BATCH_OFF_CRC,
                   crc32c(0, p + pos + RECORD_BATCH_CRC_START, size - RECORD_BATCH_CRC_START));
        pos += size;
    }
}

#define FUZZ_REC_LEN   10 /* the record below, length prefix included */
#define FUZZ_BATCH_LEN (RECORD_BATCH_HEADER_SIZE + FUZZ_REC_LEN)

/* One batch of one record (null key, value "abc"), CRC set. */
static void make_batch(uint8_t out[FUZZ_BATCH_LEN])
{
    /* length 9 (zigzag 18), attributes, tsDelta 0, offsetDelta 0, key -1
     * (zigzag 1), value length 3 (zigzag 6), "abc", no headers */
    static const uint8_t rec[FUZZ_REC_LEN] = {18, 0, 0, 0, 1, 6, 'a', 'b', 'c', 0};
    memset(out, 0, FUZZ_BATCH_LEN);
    be32_store(out + RECORD_BATCH_OFF_LENGTH, FUZZ_BATCH_LEN - RECORD_BATCH_LOG_OVERHEAD);
    out[RECORD_BATCH_OFF_MAGIC] = RECORD_BATCH_MAGIC_V2;
    be64_store(out + 27, 1700000000000);
    be64_store(out + 35, 1700000000000);
    be64_store(out + 43, UINT64_MAX); /* producerId -1 */
    be16_store(out + 51, UINT16_MAX);
    be32_store(out + 53, UINT32_MAX);
    be32_store(out + 57, 1);
    memcpy(out + RECORD_BATCH_HEADER_SIZE, rec, sizeof rec);
    be32_store(out + RECORD_BATCH_OFF_CRC,
               crc32c(0, out + RECORD_BATCH_CRC_START, FUZZ_BATCH_LEN - RECORD_BATCH_CRC_START));
}

/* Read everything; check the batches when `strict`. Returns the bytes. */
static void read_all(struct partition_log *log, bool strict, struct buf *all)
{
    int64_t next = partition_log_start_offset(log), end = partition_log_end_offset(log);
    int64_t expect = -1;
    while (next < end) {
        struct buf out = BUF_INIT;
        struct log_read_result info;
        int rv = partition_log_read_copy(log, next, 1 << 16, INT64_MAX, &out, &info);
        if (rv != 0) {
            if (strict)
                abort(); /* a recovered log reads back */
            buf_free(&out);
            return;
        }
        if (out.len == 0 && info.next_offset == next) {
            buf_free(&out);
            break; /* a gap up to the log end (kept by recovery): no batch above */
        }
        if (info.next_offset <= next || out.len == 0)
            abort(); /* no progress below the log end */
        for (size_t pos = 0; pos < out.len;) {
            struct record_batch_header h;
            struct record_batch_limits none = {0};
            if (record_batch_validate(out.data + pos, out.len - pos, &none, &h, NULL, 0) != 0) {
                if (strict)
                    abort();
                break;
            }
            if (strict && expect >= 0 && h.base_offset < expect)
                abort();
            expect = record_batch_last_offset(&h) + 1;
            pos += (size_t)record_batch_size(&h);
        }
        if (buf_append(all, out.data, out.len) != 0)
            abort();
        buf_free(&out);
        next = info.next_offset;
    }
    if (strict && expect >= 0 && expect > end)
        abort();
}

static struct partition_log *open_log(uv_loop_t *loop, const char *pdir,
                                      const struct topic_config *tc)
{
    struct partition_log *log = NULL;
    char err[512];
    if (partition_log_open(loop, pdir, tc, &fuzz_clock, &log, err, sizeof err) != 0)
        return NULL;
    return log;
}

static void check_offsets(struct partition_log *log)
{
    int64_t start = partition_log_start_offset(log), end = partition_log_end_offset(log);
    int64_t hw = partition_log_high_watermark(log);
    if (start > hw || hw > end)
        abort();
}

/* Truncate to the offset `cut` picks. 0, or -1 if the truncation failed (a
 * damaged segment recovery did not scan may fail it; nothing to check).
 * With every batch validated at open (`strict`), the log must end at or
 * below the cut; a segment loaded without a scan may hold offsets that jump
 * (baseOffset is outside the CRC) below the cut, kept as a rescan would. */
static int truncate_log(struct partition_log *log, int32_t cut, bool strict)
{
    int64_t start = partition_log_start_offset(log), end = partition_log_end_offset(log);
    int64_t to = start + (int64_t)((uint64_t)cut % ((uint64_t)(end - start) + 1));
    if (partition_log_truncate_to(log, to) != 0)
        return -1;
    if (strict && partition_log_end_offset(log) > (to < end ? to : end))
        abort();
    check_offsets(log);
    struct buf all = BUF_INIT;
    read_all(log, strict, &all);
    buf_free(&all);
    return 0;
}

static void check_log(uv_loop_t *loop, const char *pdir, const struct topic_config *tc, bool strict,
                      int32_t cut)
{
    struct partition_log *log = open_log(loop, pdir, tc);
    if (log == NULL)
        return;
    check_offsets(log);
    struct buf before = BUF_INIT, after = BUF_INIT;
    read_all(log, strict, &before);
    buf_free(&before);
    if (cut >= 0 && truncate_log(log, cut, strict) != 0) {
        partition_log_close(log);
        uv_run(loop, UV_RUN_DEFAULT);
        return;
    }
    /* A truncation into a segment loaded without a scan (checkpoint kept)
     * makes it the last one, which the reopen validates batch by batch. The
     * truncation, like Kafka's, does not check the batches below the cut
     * again, so a damaged one there (a bad CRC, offsets that jump back) is
     * cut only then and the reopened log may end anywhere: it must open and
     * read, nothing more. */
    bool rechecked = cut >= 0 && !strict;
    int64_t end = partition_log_end_offset(log);
    uint8_t batch[FUZZ_BATCH_LEN];
    struct log_append_info info;
    make_batch(batch);
    int rv = partition_log_append(log, batch, sizeof batch, 0, &info);
    if (rv == 0 && (info.first_offset != end || partition_log_end_offset(log) != end + 1))
        abort();
    end = partition_log_end_offset(log);
    read_all(log, false, &before);
    partition_log_close(log);
    uv_run(loop, UV_RUN_DEFAULT);
    log = open_log(loop, pdir, tc);
    if (log == NULL)
        abort();
    if (!rechecked && partition_log_end_offset(log) != end)
        abort(); /* a cleanly closed log reopens as it was */
    read_all(log, false, &after);
    if (!rechecked &&
        (after.len != before.len || (after.len && memcmp(after.data, before.data, after.len))))
        abort();
    partition_log_close(log);
    uv_run(loop, UV_RUN_DEFAULT);
    buf_free(&before);
    buf_free(&after);
}

/* Next chunk of the input, or NULL when it has run out. */
static const uint8_t *next_chunk(const uint8_t *data, size_t size, size_t *pos, size_t *n)
{
    if (size - *pos < 2)
        return NULL;
    *n = (size_t)data[*pos] << 8 | data[*pos + 1];
    *pos += 2;
    *n = *n < size - *pos ? *n : size - *pos;
    const uint8_t *p = data + *pos;
    *pos += *n;
    return p;
}

static void remove_tree(const char *dir, const char *pdir)
{
    char path[1024];
    DIR *d = opendir(pdir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", pdir, e->d_name);
                unlink(path);
            }
        }
        closedir(d);
    }
    rmdir(pdir);
    rmdir(dir);
}

/* Built on first use and kept for the process (libFuzzer runs inputs in
 * one process; the replay main too). Small segments and indexes: see above. */
static const struct topic_config *fuzz_topic_config(void)
{
    static struct sluice_config broker;
    static struct topic_config tc;
    static bool ready;
    if (!ready) {
        if (sluice_config_init(&broker) != 0)
            abort();
        if (topic_config_init(&tc, &broker) != 0)
            abort();
        /* Below what the config allows for an index (4 KiB), which the log
         * accepts: an index fills, and rolls its segment, after 10 entries. */
        tc.segment_bytes = 4096;
        tc.index_interval_bytes = 64;
        tc.segment_index_bytes = 120;
        ready = true;
    }
    return &tc;
}

/* One loop for the process, like the configuration: every input leaves it
 * with nothing active (checked). */
static uv_loop_t *fuzz_loop(void)
{
    static uv_loop_t loop;
    static bool ready;
    if (!ready) {
        if (uv_loop_init(&loop) != 0)
            abort();
        ready = true;
    }
    return &loop;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"00000000000000000000.log", "00000000000000000000.index",
                                        "00000000000000000000.timeindex",
                                        PARTITION_LOG_CHECKPOINT_FILE, NULL};
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    log_set_level(LOG_LEVEL_ERROR); /* per-input info lines cost more than the input */
    char dir[256], pdir[300], second[32];
    snprintf(dir, sizeof dir, "%s/sluice-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(pdir, sizeof pdir, "%s/t-0", dir);
    if (mkdir(pdir, 0755) != 0)
        abort();
    snprintf(second, sizeof second, "%020d.log", flags >> 2);
    size_t pos = 1, n;
    const uint8_t *p;
    int chunks = 0;
    for (int i = 0; i < 5 && (p = next_chunk(data, size, &pos, &n)) != NULL; i++, chunks++) {
        const char *name = i < 4 ? names[i] : second;
        if (i == 3 && !(flags & 2))
            continue;
        uint8_t *copy = malloc(n ? n : 1);
        if (copy == NULL)
            abort();
        memcpy(copy, p, n);
        if ((flags & 1) && (i == 0 || i == 4))
            fix_crcs(copy, n);
        write_file(pdir, name, copy, n);
        free(copy);
    }
    int32_t cut = chunks == 5 && size - pos >= 2 ? (int32_t)(data[pos] << 8 | data[pos + 1]) : -1;
    uv_loop_t *loop = fuzz_loop();
    check_log(loop, pdir, fuzz_topic_config(), !(flags & 2), cut);
    uv_run(loop, UV_RUN_DEFAULT);
    if (uv_loop_alive(loop))
        abort(); /* the log left a handle or request behind */
    remove_tree(dir, pdir);
    return 0;
}
