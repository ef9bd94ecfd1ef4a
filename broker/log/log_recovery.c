/* Crash recovery: list a partition directory's segments, validate the ones
 * that may hold unflushed data batch by batch (lengths, offsets, CRC-32C),
 * cut a torn or corrupt tail after the last valid batch, and rebuild indexes
 * that are missing or inconsistent (Kafka's LogLoader). Disk input is never
 * trusted: every length is checked against the bytes in the file, and reads
 * go through one fixed-size buffer, so a corrupt file costs no large
 * allocation and cannot crash the process. */
#include "broker/log/partition_log_internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bigendian.h"
#include "common/crc32c.h"
#include "common/log.h"

#define READER_CAP (1 << 20)

/* A sequential window over the .log file. */
struct reader {
    const struct segment *seg;
    uint8_t *buf;
    size_t cap;    /* of buf: READER_CAP, or the whole segment when smaller */
    int64_t start; /* file position of buf[0] */
    size_t len;
};

/* Point *out at `n` (<= r->cap, <= limit - pos) bytes at `pos`; `limit` is
 * at most the segment's size.
 * Returns 0 or -errno: an I/O error must fail the open, not cut the log. */
static int reader_get(struct reader *r, int64_t pos, size_t n, int64_t limit, const uint8_t **out)
{
    if (pos >= r->start && pos + (int64_t)n <= r->start + (int64_t)r->len) {
        *out = r->buf + (pos - r->start);
        return 0;
    }
    size_t want = (size_t)(limit - pos < (int64_t)r->cap ? limit - pos : (int64_t)r->cap);
    int rv = want < n ? -EIO : segment_pread_held(r->seg, r->buf, want, pos);
    if (rv < 0) {
        r->len = 0;
        return rv;
    }
    r->start = pos;
    r->len = want;
    *out = r->buf;
    return 0;
}

static int reader_crc(struct reader *r, int64_t pos, int64_t len, int64_t limit, uint32_t *crc)
{
    uint32_t c = 0;
    while (len > 0) {
        size_t step = (size_t)(len < (int64_t)r->cap ? len : (int64_t)r->cap);
        const uint8_t *p;
        int rv = reader_get(r, pos, step, limit, &p);
        if (rv < 0) {
            return rv;
        }
        c = crc32c(c, p, step);
        pos += (int64_t)step;
        len -= (int64_t)step;
    }
    *crc = c;
    return 0;
}

/* Check the header of the batch at `pos` (everything check_batch does but
 * the CRC): 0 with *h if valid, 1 with *reason if not, or -errno. */
static int check_header(struct reader *r, const struct segment *seg, int64_t next_base, int64_t pos,
                        int64_t limit, struct record_batch_header *h, const char **reason)
{
    const uint8_t *p;
    int rv;
    if (limit - pos < RECORD_BATCH_HEADER_SIZE) {
        *reason = "incomplete batch header";
        return 1;
    }
    if ((rv = reader_get(r, pos, RECORD_BATCH_HEADER_SIZE, limit, &p)) < 0) {
        return rv;
    }
    record_batch_parse(p, RECORD_BATCH_HEADER_SIZE, h);
    if (h->magic != RECORD_BATCH_MAGIC_V2) {
        *reason = "bad magic";
        return 1;
    }
    if (h->batch_length < RECORD_BATCH_HEADER_SIZE - RECORD_BATCH_LOG_OVERHEAD ||
        record_batch_size(h) > limit - pos) {
        *reason = "batch length runs past the end of the file";
        return 1;
    }
    /* Offsets must rise and stay inside the segment, but may jump: the
     * cleaner leaves gaps, and they stay when cleanup.policy later becomes
     * delete, on this replica or a follower that copied them (Kafka allows
     * gaps anywhere). baseOffset is outside the CRC, so a flipped bit that
     * raises it is indistinguishable from a gap, as in Kafka. */
    if (h->last_offset_delta < 0 || h->base_offset < seg->next_offset ||
        h->base_offset > INT64_MAX - h->last_offset_delta || /* the last offset overflows */
        record_batch_last_offset(h) - seg->base_offset > INT32_MAX ||
        record_batch_last_offset(h) >= next_base) {
        *reason = "offsets go backwards or leave the segment";
        return 1;
    }
    return 0;
}

/* Check the batch at `pos`: 0 with *h if valid, 1 with *reason if not (the
 * tail from here is cut), or -errno if the file cannot be read. */
static int check_batch(struct reader *r, const struct segment *seg, int64_t next_base, int64_t pos,
                       int64_t limit, struct record_batch_header *h, const char **reason)
{
    uint32_t crc;
    int rv = check_header(r, seg, next_base, pos, limit, h, reason);
    if (rv != 0) {
        return rv;
    }
    if ((rv = reader_crc(r, pos + RECORD_BATCH_CRC_START,
                         record_batch_size(h) - RECORD_BATCH_CRC_START, limit, &crc)) < 0) {
        return rv;
    }
    *reason = "CRC mismatch";
    return crc == h->crc ? 0 : 1;
}

static void reset_summary(struct segment *seg)
{
    seg->next_offset = seg->base_offset;
    seg->max_timestamp = seg->max_ts_offset = seg->first_batch_ts = -1;
    seg->time_index_last_ts = -1;
    seg->bytes_since_index = 0;
    (void)index_file_reset(&seg->offset_index);
    (void)index_file_reset(&seg->time_index);
}

static int cut_tail(struct partition_log *log, struct segment *seg, int64_t pos, const char *reason,
                    int64_t *truncated)
{
    log_warn("log",
             "truncating corrupt or torn log tail dir=%s segment=%" PRId64 " offset=%" PRId64
             " position=%" PRId64 " bytes=%" PRId64 " reason=%s",
             log->dir, seg->base_offset, seg->next_offset, pos, seg->size - pos, reason);
    if (ftruncate(seg->log_fd, (off_t)pos) < 0) {
        return -errno;
    }
    *truncated = seg->size - pos;
    seg->size = pos;
    seg->dirty = true;
    return 0;
}

int log_recovery_scan_segment(struct partition_log *log, struct segment *seg, int64_t next_base,
                              int64_t *truncated)
{
    /* Small segments (the active one after a roll, most after a crash) get a
     * small buffer: recovery opens every partition at start-up. */
    size_t cap = seg->size >= READER_CAP ? READER_CAP : seg->size > 0 ? (size_t)seg->size : 1;
    struct reader r = {.seg = seg, .buf = malloc(cap), .cap = cap};
    const char *reason = "";
    int64_t pos = 0;
    int rv = 0;
    *truncated = 0;
    if (r.buf == NULL) {
        return -ENOMEM;
    }
    if ((rv = segment_use(seg)) < 0) {
        free(r.buf);
        return rv;
    }
    reset_summary(seg);
    while (pos < seg->size) {
        struct record_batch_header h;
        if ((rv = check_batch(&r, seg, next_base, pos, seg->size, &h, &reason)) != 0) {
            break;
        }
        segment_note_batch(seg, pos, &h, log->cfg.index_interval_bytes);
        pos += record_batch_size(&h);
    }
    free(r.buf);
    if (rv < 0) {
        log_error("log",
                  "cannot read segment dir=%s segment=%" PRId64 " position=%" PRId64 " error=%s",
                  log->dir, seg->base_offset, pos, strerror(-rv));
        return rv;
    }
    rv = 0;
    if (pos < seg->size) {
        rv = cut_tail(log, seg, pos, reason, truncated);
    }
    (void)index_file_write_pending(&seg->offset_index);
    (void)index_file_write_pending(&seg->time_index);
    return rv;
}

/* ---- truncation ---- */

/* The truncation walk needs batch headers only: a window this size is read
 * at a time, so a large batch is skipped rather than read. */
#define TRUNCATE_READER_CAP (64 * 1024)

static int64_t entry_position(const uint8_t *e)
{
    return (int64_t)be32_load(e + 4);
}

static int64_t time_entry_offset(const uint8_t *e)
{
    return (int64_t)be32_load(e + 8);
}

/* Keep the time index entries that were appended at offset index entries
 * 0..k, batch k's last offset being base + `last_rel`, and take the largest
 * timestamp from the last one kept (as Kafka's truncateTo does). Those are
 * exactly the entries whose offset is <= last_rel. An entry is appended at
 * an index point, after the batch there updated the largest timestamp, and
 * names the last offset of the batch that set it: at points <= k that is a
 * batch <= k. Any later entry, at a later point or at segment_seal, is
 * appended only when the largest timestamp grew past the one indexed at
 * point k, so a batch after k set it and its offset is > last_rel. Both
 * timestamps and offsets strictly increase along the index, so the kept
 * entries are a prefix, found by binary search. Returns 0, 1 with *reason,
 * or -errno. */
static int keep_time_entries(struct segment *seg, int64_t last_rel, const char **reason)
{
    struct index_file *ix = &seg->time_index;
    uint8_t e[SEGMENT_TIME_ENTRY_SIZE];
    int64_t t = index_file_floor(ix, last_rel, time_entry_offset);
    int rv;
    /* The floor is -1 on a read error too: tell that from "none kept". */
    if (t < 0 && ix->entries > 0) {
        if ((rv = index_file_entry(ix, 0, e)) < 0) {
            return rv;
        }
        if (time_entry_offset(e) <= last_rel) {
            *reason = "unreadable time index";
            return 1;
        }
    }
    if (t >= 0 && (rv = index_file_entry(ix, (uint32_t)t, e)) < 0) {
        return rv;
    }
    if ((rv = index_file_truncate(ix, (uint32_t)(t + 1))) < 0) {
        return rv;
    }
    seg->max_timestamp = seg->time_index_last_ts = t >= 0 ? (int64_t)be64_load(e) : -1;
    seg->max_ts_offset = t >= 0 ? seg->base_offset + time_entry_offset(e) : -1;
    return 0;
}

/* Keep the offset index entries up to the last one, k, whose batch lies
 * wholly below the cut (its position is below seg->size: positions rise
 * with the entries), the time entries of the same points, and restore the
 * summary as the scan leaves it after batch k: end offset, largest
 * timestamp, and bytes_since_index = batch k's size (segment_note_batch
 * restarts the count at an entry, then adds the batch). first_batch_ts
 * stays (batch 0 is below k: it never gets an entry), but a segment opened
 * without a scan has none yet and reads it from batch 0. *resume is where
 * the walk goes on: the end of batch k, or 0 with the summary reset when no
 * entry is kept. Returns 0, 1 with *reason if the index does not match the
 * batches, or -errno. */
static int keep_index_prefix(struct reader *r, struct segment *seg, int64_t *resume,
                             const char **reason)
{
    uint8_t e[SEGMENT_OFFSET_ENTRY_SIZE];
    struct record_batch_header h;
    /* -1 on a read error too: the walk from 0 then gives the same result. */
    int64_t k = index_file_floor(&seg->offset_index, seg->size - 1, entry_position);
    int rv;
    *resume = 0;
    if (k < 0) {
        reset_summary(seg);
        return 0;
    }
    if ((rv = index_file_entry(&seg->offset_index, (uint32_t)k, e)) < 0) {
        return rv;
    }
    int64_t last_rel = (int64_t)be32_load(e), pos = entry_position(e);
    seg->next_offset = seg->base_offset; /* check the batches as a segment's first */
    if (seg->first_batch_ts < 0) {
        if ((rv = check_header(r, seg, INT64_MAX, 0, seg->size, &h, reason)) != 0) {
            return rv;
        }
        seg->first_batch_ts = h.max_timestamp;
    }
    if ((rv = check_header(r, seg, INT64_MAX, pos, seg->size, &h, reason)) != 0) {
        return rv;
    }
    if (record_batch_last_offset(&h) != seg->base_offset + last_rel) {
        *reason = "offset index entry does not name the batch at its position";
        return 1;
    }
    if ((rv = index_file_truncate(&seg->offset_index, (uint32_t)(k + 1))) < 0 ||
        (rv = keep_time_entries(seg, last_rel, reason)) != 0) {
        return rv;
    }
    seg->next_offset = seg->base_offset + last_rel + 1;
    seg->bytes_since_index = record_batch_size(&h);
    *resume = pos + record_batch_size(&h);
    return 0;
}

int log_recovery_truncate_segment(struct partition_log *log, struct segment *seg)
{
    size_t cap = seg->size >= TRUNCATE_READER_CAP ? TRUNCATE_READER_CAP
                 : seg->size > 0                  ? (size_t)seg->size
                                                  : 1;
    struct reader r = {.seg = seg, .buf = malloc(cap), .cap = cap};
    const char *reason = "";
    int64_t pos = 0, truncated;
    int rv;
    if (r.buf == NULL) {
        return -ENOMEM;
    }
    if ((rv = segment_use(seg)) < 0) {
        free(r.buf);
        return rv;
    }
    /* Headers only, as the scan notes them: the batches below the cut were
     * checked when they were written or recovered. */
    rv = keep_index_prefix(&r, seg, &pos, &reason);
    while (rv == 0 && pos < seg->size) {
        struct record_batch_header h;
        if ((rv = check_header(&r, seg, INT64_MAX, pos, seg->size, &h, &reason)) == 0) {
            segment_note_batch(seg, pos, &h, log->cfg.index_interval_bytes);
            pos += record_batch_size(&h);
        }
    }
    free(r.buf);
    if (rv != 0) {
        log_warn("log",
                 "rescanning truncated segment dir=%s segment=%" PRId64 " size=%" PRId64
                 " position=%" PRId64 " reason=%s",
                 log->dir, seg->base_offset, seg->size, pos, rv < 0 ? strerror(-rv) : reason);
        return log_recovery_scan_segment(log, seg, INT64_MAX, &truncated);
    }
    (void)index_file_write_pending(&seg->offset_index);
    (void)index_file_write_pending(&seg->time_index);
    return 0;
}

/* ---- directory listing ---- */

static int parse_base(const char *name, const char *ext, int64_t *base)
{
    size_t n = strlen(name), e = strlen(ext);
    if (n != SEGMENT_NAME_DIGITS + e || strcmp(name + SEGMENT_NAME_DIGITS, ext) != 0) {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < SEGMENT_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return 0;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Leftovers of interrupted operations (Kafka's .deleted/.cleaned/.swap,
 * our checkpoint .tmp) are removed. */
static void remove_leftover(const char *dir, const char *name)
{
    char path[4096];
    if (has_suffix(name, ".deleted") || has_suffix(name, ".cleaned") || has_suffix(name, ".swap") ||
        has_suffix(name, ".tmp")) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        log_warn("log", "removing leftover file path=%s", path);
        (void)unlink(path);
    }
}

/* Sorted base offsets of the `.log` files in dir (*out malloc'd). */
static int list_bases(const char *dir, int64_t **out, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int64_t *bases = NULL, base;
    size_t n = 0, cap = 0;
    if (d == NULL) {
        return -errno;
    }
    while ((e = readdir(d)) != NULL) {
        remove_leftover(dir, e->d_name);
        if (parse_base(e->d_name, ".log", &base) < 0) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *nb = realloc(bases, cap * sizeof *nb);
            if (nb == NULL) {
                free(bases);
                closedir(d);
                return -ENOMEM;
            }
            bases = nb;
        }
        bases[n++] = base;
    }
    closedir(d);
    if (n > 1) {
        qsort(bases, n, sizeof *bases, cmp_i64);
    }
    *out = bases;
    *count = n;
    return 0;
}

static bool index_file_whole(const struct index_file *ix)
{
    struct stat st;
    return fstat(ix->fd, &st) == 0 &&
           (uint64_t)st.st_size == (uint64_t)ix->persisted * ix->entry_size;
}

/* Cheap checks of a segment we do not re-scan (Kafka's index sanityCheck):
 * whole entries, last entries pointing inside the segment, a time index
 * present when there is data. */
static bool indexes_consistent(const struct segment *seg, int64_t next_base)
{
    uint8_t e[SEGMENT_TIME_ENTRY_SIZE];
    int64_t span = next_base - seg->base_offset;
    if (!index_file_whole(&seg->offset_index) || !index_file_whole(&seg->time_index)) {
        return false;
    }
    if (seg->offset_index.entries > 0) {
        if (index_file_entry(&seg->offset_index, seg->offset_index.entries - 1, e) < 0 ||
            (int64_t)be32_load(e) >= span || (int64_t)be32_load(e + 4) >= seg->size) {
            return false;
        }
    }
    if (seg->time_index.entries == 0) {
        return seg->size == 0;
    }
    return index_file_entry(&seg->time_index, seg->time_index.entries - 1, e) == 0 &&
           (int64_t)be32_load(e + 8) < span;
}

static int sync_segment(struct segment *seg)
{
    if (fdatasync(seg->log_fd) < 0 || fdatasync(seg->offset_index.fd) < 0 ||
        fdatasync(seg->time_index.fd) < 0 || (seg->txn_fd >= 0 && fdatasync(seg->txn_fd) < 0)) {
        return -errno;
    }
    seg->dirty = false;
    return 0;
}

/* Recover segment i; drops every later segment if its tail was cut. */
static int recover_one(struct partition_log *log, size_t i)
{
    struct segment *seg = log->segs[i];
    int64_t next_base = i + 1 < log->nsegs ? log->segs[i + 1]->base_offset : INT64_MAX;
    int64_t truncated;
    int rv = log_recovery_scan_segment(log, seg, next_base, &truncated);
    if (rv == 0 && (rv = segment_use(seg)) == 0) {
        rv = sync_segment(seg);
    }
    if (rv < 0) {
        return rv;
    }
    /* A cut tail leaves the later segments unanchored, so everything after
     * it goes. A whole segment ending before the next one starts is a gap
     * (the cleaner's, kept under any cleanup.policy): its end is the next
     * base, so reads inside the gap move on to the next segment. */
    if (i + 1 < log->nsegs && truncated == 0) {
        seg->next_offset = next_base;
    }
    if (i + 1 < log->nsegs && truncated > 0) {
        log_warn("log",
                 "dropping segments after a corrupt or non-contiguous one dir=%s segment=%" PRId64
                 " next_offset=%" PRId64 " next_segment=%" PRId64 " dropped=%zu",
                 log->dir, seg->base_offset, seg->next_offset, log->segs[i + 1]->base_offset,
                 log->nsegs - i - 1);
        log_segs_remove_now(log, i + 1, log->nsegs - i - 1, "after corruption");
    }
    return 0;
}

static int load_segment(struct partition_log *log, size_t i, int64_t recovery_point)
{
    struct segment *seg = log->segs[i];
    if (i + 1 == log->nsegs || log->segs[i + 1]->base_offset > recovery_point) {
        return recover_one(log, i);
    }
    int64_t next_base = log->segs[i + 1]->base_offset;
    int rv = segment_use(seg);
    if (rv < 0) {
        return rv;
    }
    if (!indexes_consistent(seg, next_base)) {
        log_warn("log", "rebuilding inconsistent indexes dir=%s segment=%" PRId64, log->dir,
                 seg->base_offset);
        return recover_one(log, i);
    }
    seg->next_offset = next_base;
    seg->bytes_since_index = 0;
    return segment_load_time_summary(seg);
}

int log_recovery_load(struct partition_log *log, int64_t recovery_point, char *err, size_t errlen)
{
    int64_t *bases = NULL;
    size_t n = 0;
    int rv = log_cleaner_recover(log->dir);
    if (rv < 0) {
        snprintf(err, errlen, "cannot finish cleaner swaps in %s: %s", log->dir, strerror(-rv));
        return rv;
    }
    rv = list_bases(log->dir, &bases, &n);
    if (rv < 0) {
        snprintf(err, errlen, "cannot list %s: %s", log->dir, strerror(-rv));
        return rv;
    }
    for (size_t i = 0; i < n; i++) {
        struct segment *seg;
        if ((rv = segment_open(log->dir, bases[i], log_now_ms(log), log->owner.files, &seg)) == 0 &&
            (rv = log_segs_push(log, seg)) < 0) {
            segment_release(seg);
        }
        if (rv < 0) {
            snprintf(err, errlen, "cannot open segment %020" PRId64 " in %s: %s", bases[i],
                     log->dir, strerror(-rv));
            goto out;
        }
    }
    for (size_t i = 0; i < log->nsegs; i++) {
        if ((rv = load_segment(log, i, recovery_point)) < 0) {
            snprintf(err, errlen, "cannot recover segment %020" PRId64 " in %s: %s",
                     log->segs[i]->base_offset, log->dir, strerror(-rv));
            goto out;
        }
    }
out:
    free(bases);
    return rv;
}
