/* Log compaction: choosing what to clean and the pool-side rewrite (see
 * partition_log.h, "compaction"); the swap that puts the rewritten segments
 * in place, and its recovery, are log_cleaner_swap.c's. The pool thread
 * touches only its job: the source segments are non-active (never written
 * again) and kept open by the job's references; their sizes are copied
 * before the job is queued. */
#include "broker/log/log_cleaner_swap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/log/batch_codec.h"
#include "broker/log/record_codec.h"
#include "broker/log/offset_map.h"
#include "common/bigendian.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/fs_util.h"
#include "common/log.h"
#include "common/varint.h"

/* A batch read from disk may not claim more than this (the clean fails). */
#define CLEAN_MAX_BATCH_BYTES (128 * 1024 * 1024)
#define CLEAN_WRITE_BUF       (64 * 1024)
/* The job's batch, out and kept buffers start here and double (buf_grow_to). */
#define JOB_BUF_FIRST_CAP (64 * 1024)

/* ---- planning (loop thread) ---- */

struct clean_plan {
    size_t dirty_from, end;
    int64_t clean_bytes, dirty_bytes;
    int64_t first_dirty_ts;
};

static bool too_young(const struct partition_log *log, const struct segment *seg, int64_t now_ms)
{
    return log->cfg.min_compaction_lag_ms > 0 && seg->max_timestamp >= 0 &&
           now_ms - seg->max_timestamp < log->cfg.min_compaction_lag_ms;
}

/* Segments [0, end) are cleanable: not active, wholly below the high
 * watermark, and (from the clean offset on) old enough. */
static void plan(const struct partition_log *log, int64_t now_ms, struct clean_plan *p)
{
    int64_t clean_off =
        log->clean_offset > log->start_offset ? log->clean_offset : log->start_offset;
    memset(p, 0, sizeof *p);
    p->dirty_from = SIZE_MAX;
    p->first_dirty_ts = -1;
    for (size_t i = 0; i + 1 < log->nsegs; i++) {
        const struct segment *seg = log->segs[i];
        int64_t next_base = log->segs[i + 1]->base_offset;
        if (next_base > log->high_watermark) {
            break;
        }
        if (next_base <= clean_off) {
            p->clean_bytes += seg->size;
            p->end = i + 1;
            continue;
        }
        if (too_young(log, seg, now_ms)) {
            break;
        }
        if (p->dirty_from == SIZE_MAX) {
            p->dirty_from = i;
            p->first_dirty_ts = seg->first_batch_ts >= 0 ? seg->first_batch_ts : seg->max_timestamp;
        }
        p->dirty_bytes += seg->size;
        p->end = i + 1;
    }
}

double partition_log_cleanable_ratio(const struct partition_log *log, int64_t now_ms)
{
    struct clean_plan p;
    if (!log->cfg.compact || log->clean_job != NULL) {
        return -1;
    }
    plan(log, now_ms, &p);
    if (p.dirty_from == SIZE_MAX || p.dirty_bytes == 0) {
        return -1;
    }
    double ratio = (double)p.dirty_bytes / (double)(p.clean_bytes + p.dirty_bytes);
    bool overdue = log->cfg.max_compaction_lag_ms != INT64_MAX && p.first_dirty_ts >= 0 &&
                   now_ms - p.first_dirty_ts > log->cfg.max_compaction_lag_ms;
    return ratio >= log->cfg.min_cleanable_dirty_ratio || overdue ? ratio : -1;
}

bool partition_log_compaction_pending(const struct partition_log *log)
{
    /* The clean offset is a segment base: an active segment starting past
     * it leaves at least one whole segment not yet cleaned. */
    return log->cfg.compact && log_active(log)->base_offset > partition_log_clean_offset(log);
}

int64_t partition_log_clean_offset(const struct partition_log *log)
{
    return log->clean_offset > log->start_offset ? log->clean_offset : log->start_offset;
}

/* ---- the pool side ---- */

static void throttle(struct clean_job *job, int64_t bytes)
{
    double rate = job->lim.io_max_bytes_per_second;
    struct timespec now;
    if (rate <= 0 || rate > 1e15 || clock_gettime(CLOCK_MONOTONIC, &now) != 0) {
        return;
    }
    double elapsed = (double)(now.tv_sec - job->started.tv_sec) +
                     (double)(now.tv_nsec - job->started.tv_nsec) / 1e9;
    /* Sleep in slices, so a closing log does not wait for a slow clean. */
    for (double wait = (double)bytes / rate - elapsed; wait > 0 && !atomic_load(&job->cancelled);
         wait -= 0.05) {
        double slice = wait < 0.05 ? wait : 0.05;
        struct timespec ts = {0, (long)(slice * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* Count I/O and throttle. Returns 0, or -ECANCELED once the log closed. */
static int note_io(struct clean_job *job, int64_t read, int64_t written)
{
    job->st.bytes_read += read;
    job->st.bytes_written += written;
    throttle(job, job->st.bytes_read + job->st.bytes_written);
    return atomic_load(&job->cancelled) ? -ECANCELED : 0;
}

/* Read the batch at `pos` of `src` into job->batch. */
static int read_batch(struct clean_job *job, const struct clean_src *src, int64_t pos,
                      struct record_batch_header *h)
{
    uint8_t hdr[RECORD_BATCH_HEADER_SIZE];
    int rv;
    if (src->size - pos < RECORD_BATCH_HEADER_SIZE) {
        return LOG_ERR_CORRUPT;
    }
    if ((rv = segment_pread_held(src->seg, hdr, sizeof hdr, pos)) < 0) {
        return rv;
    }
    record_batch_parse(hdr, sizeof hdr, h);
    int64_t size = record_batch_size(h);
    if (h->magic != RECORD_BATCH_MAGIC_V2 || size < RECORD_BATCH_HEADER_SIZE ||
        size > src->size - pos || size > CLEAN_MAX_BATCH_BYTES) {
        log_error("log", "cleaner found a bad batch dir=%s segment=%" PRId64 " position=%" PRId64,
                  job->dir, src->base, pos);
        return LOG_ERR_CORRUPT;
    }
    if ((rv = buf_grow_to(&job->batch, &job->batch_cap, (size_t)size, JOB_BUF_FIRST_CAP)) < 0) {
        return rv;
    }
    if ((rv = segment_pread_held(src->seg, job->batch, (size_t)size, pos)) < 0) {
        return rv;
    }
    return note_io(job, size, 0);
}

/* One record of an uncompressed batch. */
struct rec {
    const uint8_t *start; /* the length varint */
    size_t total;         /* varint + body */
    int64_t ts_delta;
    int32_t offset_delta;
    const uint8_t *key;
    int32_t key_len; /* -1: null */
    bool null_value;
};

/* Parse the record at body[*pos]; advance *pos. Returns 0 or -1. */
static int next_record(const uint8_t *body, size_t len, size_t *pos, struct rec *r)
{
    int32_t rec_len, value_len;
    int rv = varint_decode_s32(body + *pos, len - *pos, &rec_len);
    if (rv < 0 || rec_len < 1 || (size_t)rec_len > len - *pos - (size_t)rv) {
        return -1;
    }
    r->start = body + *pos;
    r->total = (size_t)rv + (size_t)rec_len;
    const uint8_t *p = body + *pos + rv;
    size_t n = (size_t)rec_len, q = 1; /* attributes */
    *pos += r->total;
    if ((rv = varint_decode_s64(p + q, n - q, &r->ts_delta)) < 0) {
        return -1;
    }
    q += (size_t)rv;
    if ((rv = varint_decode_s32(p + q, n - q, &r->offset_delta)) < 0) {
        return -1;
    }
    q += (size_t)rv;
    if ((rv = varint_decode_s32(p + q, n - q, &r->key_len)) < 0 || r->key_len < -1 ||
        (r->key_len > 0 && (size_t)r->key_len > n - q - (size_t)rv)) {
        return -1;
    }
    q += (size_t)rv;
    r->key = p + q;
    q += r->key_len > 0 ? (size_t)r->key_len : 0;
    if ((rv = varint_decode_s32(p + q, n - q, &value_len)) < 0) {
        return -1;
    }
    r->null_value = value_len < 0;
    return 0;
}

/* Batches whose records we read: uncompressed data batches. */
/* The records of the batch in job->batch: its body, or for a compressed
 * batch the body decompressed into job->plain. Returns 0, or 1 when the
 * cleaner must leave the batch alone (a control batch, or a body that does
 * not decode: kept whole, its keys unmapped, never dropped). */
static int records_of(struct clean_job *job, const struct record_batch_header *h,
                      const uint8_t **body, size_t *len)
{
    size_t n = (size_t)record_batch_size(h) - RECORD_BATCH_HEADER_SIZE;
    int codec = record_batch_compression(h);
    if (h->attributes & RECORD_BATCH_ATTR_CONTROL) {
        return 1;
    }
    if (codec == 0) {
        *body = job->batch + RECORD_BATCH_HEADER_SIZE;
        *len = n;
        return 0;
    }
    free(job->plain);
    job->plain = NULL;
    char why[128];
    int rv = record_codec_inflate(codec, job->batch + RECORD_BATCH_HEADER_SIZE, n,
                                  CLEAN_MAX_BATCH_BYTES, &job->plain, len, why, sizeof why);
    if (rv < 0) {
        if (!job->warned) {
            log_warn("log",
                     "cleaner keeps a batch it cannot decompress dir=%s offset=%" PRId64
                     " codec=%d error=%s",
                     job->dir, h->base_offset, codec, rv == -ENOMEM ? "ENOMEM" : why);
            job->warned = true;
        }
        return 1;
    }
    *body = job->plain;
    return 0;
}

/* Every record of the body parses and fills it exactly. */
static bool records_parse(const uint8_t *body, size_t len)
{
    struct rec r;
    for (size_t p = 0; p < len;) {
        if (next_record(body, len, &p, &r) < 0) {
            return false;
        }
    }
    return true;
}

/* Add the keys of segment `src` to the map. Returns 0, 1 if the map filled
 * up, or an error. */
static int map_segment(struct clean_job *job, const struct clean_src *src)
{
    struct record_batch_header h;
    for (int64_t pos = 0; pos < src->size; pos += record_batch_size(&h)) {
        int rv = read_batch(job, src, pos, &h);
        if (rv < 0) {
            return rv;
        }
        const uint8_t *body;
        size_t len, p = 0;
        /* Transactional records may belong to an aborted transaction: they
         * never supersede another record (an aborted value must not replace
         * a committed one), so their keys are not mapped. */
        if ((h.attributes & RECORD_BATCH_ATTR_TRANSACTIONAL) ||
            records_of(job, &h, &body, &len) != 0 || !records_parse(body, len)) {
            continue;
        }
        struct rec r;
        while (p < len) {
            (void)next_record(body, len, &p, &r);
            if (r.key_len >= 0 && offset_map_put(&job->map, r.key, (size_t)r.key_len,
                                                 h.base_offset + r.offset_delta) != 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* Build the map over [dirty_from, n); if it fills up, clean less (down to
 * the segment that did not fit) and rebuild. */
static int build_map(struct clean_job *job)
{
    for (size_t i = job->dirty_from; i < job->n; i++) {
        int rv = map_segment(job, &job->src[i]);
        if (rv < 0) {
            return rv;
        }
        if (rv == 1) {
            if (i == job->dirty_from) {
                log_error("log",
                          "log.cleaner.dedupe.buffer.size too small for one segment "
                          "dir=%s segment=%" PRId64,
                          job->dir, job->src[i].base);
                return -ENOBUFS;
            }
            job->n = i;
            job->map_end = job->src[i].base;
            offset_map_clear(&job->map);
            return build_map(job);
        }
    }
    return 0;
}

static bool keep_record(const struct clean_job *job, const struct record_batch_header *h,
                        const struct rec *r)
{
    if (r->key_len < 0) {
        return true; /* cannot judge it: never drop it */
    }
    int64_t offset = h->base_offset + r->offset_delta;
    int64_t latest = offset_map_get(&job->map, r->key, (size_t)r->key_len);
    if (latest > offset) {
        return false;
    }
    if (r->null_value && !(h->attributes & RECORD_BATCH_ATTR_TRANSACTIONAL)) {
        /* A transactional tombstone stays: it superseded nothing in the
         * map, so the values it deletes are still there. */
        int64_t ts = h->base_timestamp + r->ts_delta;
        return job->now_ms - ts <= job->delete_retention_ms;
    }
    return true;
}

/* Filter job->batch into job->out. *out_len 0 means drop the batch; a batch
 * kept whole is copied unchanged. */
/* The kept records of `body` go to job->kept; *max_ts their largest timestamp. */
static int32_t keep_records(struct clean_job *job, const struct record_batch_header *h,
                            const uint8_t *body, size_t len, size_t *kept_len, int64_t *max_ts)
{
    int32_t kept = 0;
    struct rec r;
    *kept_len = 0;
    *max_ts = -1;
    for (size_t p = 0; p < len;) {
        (void)next_record(body, len, &p, &r); /* records_parse checked them */
        if (!keep_record(job, h, &r)) {
            job->st.records_removed++;
            continue;
        }
        memcpy(job->kept + *kept_len, r.start, r.total);
        *kept_len += r.total;
        kept++;
        int64_t ts = h->base_timestamp + r.ts_delta;
        *max_ts = ts > *max_ts ? ts : *max_ts;
    }
    return kept;
}

/* Filter job->batch into job->out. *out_len 0 means drop the batch; a batch
 * kept whole is copied unchanged; a compressed one is recompressed with its
 * own codec. */
static int filter_batch(struct clean_job *job, const struct record_batch_header *h, size_t *out_len,
                        bool *changed)
{
    size_t size = (size_t)record_batch_size(h), len, kept_len, w;
    const uint8_t *body;
    int64_t max_ts;
    int codec = record_batch_compression(h);
    int rv = buf_grow_to(&job->out, &job->out_cap, size, JOB_BUF_FIRST_CAP);
    if (rv < 0) {
        return rv;
    }
    if (records_of(job, h, &body, &len) != 0 || !records_parse(body, len)) {
        memcpy(job->out, job->batch, size);
        *out_len = size;
        return 0;
    }
    if ((rv = buf_grow_to(&job->kept, &job->kept_cap, len, JOB_BUF_FIRST_CAP)) < 0) {
        return rv;
    }
    int32_t kept = keep_records(job, h, body, len, &kept_len, &max_ts);
    *changed |= kept_len != len;
    if (kept == 0 || kept_len == len) {
        *out_len = kept == 0 ? 0 : size;
        if (kept != 0) {
            memcpy(job->out, job->batch, size);
        }
        return 0;
    }
    if (codec == 0) {
        memcpy(job->out + RECORD_BATCH_HEADER_SIZE, job->kept, kept_len);
        w = RECORD_BATCH_HEADER_SIZE + kept_len;
    } else {
        int framed = codec == RECORD_CODEC_SNAPPY &&
                     batch_codec_snappy_framed(job->batch + RECORD_BATCH_HEADER_SIZE,
                                               size - RECORD_BATCH_HEADER_SIZE);
        if ((rv = batch_codec_compress(codec, job->kept, kept_len, framed, &job->out, &job->out_cap,
                                       RECORD_BATCH_HEADER_SIZE, &w)) < 0) {
            return rv;
        }
        w += RECORD_BATCH_HEADER_SIZE;
    }
    /* Same base offset, lastOffsetDelta and baseTimestamp (Kafka keeps the
     * batch's last offset so producer state survives); new length, count,
     * maxTimestamp (unless LogAppendTime) and CRC. */
    memcpy(job->out, job->batch, RECORD_BATCH_HEADER_SIZE);
    be32_store(job->out + RECORD_BATCH_OFF_LENGTH, (uint32_t)(w - RECORD_BATCH_LOG_OVERHEAD));
    be32_store(job->out + 57, (uint32_t)kept);
    if (!(h->attributes & RECORD_BATCH_ATTR_LOG_APPEND_TIME)) {
        be64_store(job->out + 35, (uint64_t)max_ts);
    }
    be32_store(job->out + RECORD_BATCH_OFF_CRC,
               crc32c(0, job->out + RECORD_BATCH_CRC_START, w - RECORD_BATCH_CRC_START));
    *out_len = w;
    return 0;
}

int log_cleaner_path(char *out, const struct clean_src *src, const char *ext)
{
    return (size_t)snprintf(out, CLEAN_PATH_MAX, "%s%s", src->seg->path, ext) >= CLEAN_PATH_MAX
               ? -ENAMETOOLONG
               : 0;
}

void log_cleaner_unlink_cleaned(const struct clean_src *src)
{
    static const char *const exts[] = {".log.cleaned", ".index.cleaned", ".timeindex.cleaned"};
    char path[CLEAN_PATH_MAX];
    for (size_t i = 0; i < 3; i++) {
        if (log_cleaner_path(path, src, exts[i]) == 0) {
            (void)unlink(path);
        }
    }
}

/* The output of one segment: its .log.cleaned plus a segment shell whose
 * index files are the .cleaned indexes, so segment_note_batch builds them
 * exactly as appends would. */
struct clean_out {
    struct segment shell;
    uint8_t *buf;
    size_t len;
};

static int out_open(struct clean_out *o, const struct clean_src *src)
{
    char path[CLEAN_PATH_MAX];
    int fds[3] = {-1, -1, -1}, rv = 0;
    static const char *const exts[] = {".log.cleaned", ".index.cleaned", ".timeindex.cleaned"};
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < 3 && rv == 0; i++) {
        if ((rv = log_cleaner_path(path, src, exts[i])) == 0 &&
            (fds[i] = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
            rv = -errno;
        }
    }
    if (rv == 0 && (o->buf = malloc(CLEAN_WRITE_BUF)) == NULL) {
        rv = -ENOMEM;
    }
    if (rv < 0) {
        for (size_t i = 0; i < 3; i++) {
            if (fds[i] >= 0) {
                close(fds[i]);
            }
        }
        return rv;
    }
    o->shell.base_offset = o->shell.next_offset = src->base;
    o->shell.max_timestamp = o->shell.max_ts_offset = o->shell.first_batch_ts = -1;
    o->shell.time_index_last_ts = -1;
    o->shell.log_fd = fds[0];
    o->shell.txn_fd = -1; /* the .txnindex stays with the segment: markers are kept */
    index_file_init(&o->shell.offset_index, fds[1], SEGMENT_OFFSET_ENTRY_SIZE, 0);
    index_file_init(&o->shell.time_index, fds[2], SEGMENT_TIME_ENTRY_SIZE, 0);
    return 0;
}

static int out_drain(struct clean_out *o)
{
    int rv = fs_write_all(o->shell.log_fd, o->buf, o->len);
    o->len = 0;
    return rv;
}

static int out_batch(struct clean_job *job, struct clean_out *o, const uint8_t *data, size_t len)
{
    struct record_batch_header h;
    record_batch_parse(data, len, &h);
    segment_note_batch(&o->shell, o->shell.size, &h, job->index_interval_bytes);
    o->shell.size += (int64_t)len;
    int rv = note_io(job, 0, (int64_t)len);
    if (rv == 0 && o->len + len > CLEAN_WRITE_BUF) {
        rv = out_drain(o);
    }
    if (rv < 0) {
        return rv;
    }
    if (len > CLEAN_WRITE_BUF) {
        return fs_write_all(o->shell.log_fd, data, len);
    }
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    return 0;
}

/* Write out, fsync and close the .cleaned files; record the summary. */
static int out_finish(struct clean_out *o, struct clean_src *src, int rv)
{
    if (rv == 0) {
        rv = out_drain(o);
    }
    segment_seal(&o->shell);
    if (rv == 0 && (fdatasync(o->shell.log_fd) < 0 || fdatasync(o->shell.offset_index.fd) < 0 ||
                    fdatasync(o->shell.time_index.fd) < 0)) {
        rv = -errno;
    }
    src->max_ts = o->shell.max_timestamp;
    src->max_ts_offset = o->shell.max_ts_offset;
    src->first_batch_ts = o->shell.first_batch_ts;
    src->time_index_last_ts = o->shell.time_index_last_ts;
    close(o->shell.log_fd);
    index_file_close(&o->shell.offset_index);
    index_file_close(&o->shell.time_index);
    free(o->buf);
    return rv;
}

/* Rewrite one segment into its .cleaned files (none if nothing changes). */
static int clean_segment(struct clean_job *job, struct clean_src *src)
{
    struct clean_out o;
    struct record_batch_header h;
    int64_t removed_before = job->st.records_removed;
    bool changed = false;
    int rv = out_open(&o, src);
    if (rv < 0) {
        return rv;
    }
    for (int64_t pos = 0; rv == 0 && pos < src->size; pos += record_batch_size(&h)) {
        if ((rv = read_batch(job, src, pos, &h)) < 0) {
            break;
        }
        size_t len = (size_t)record_batch_size(&h);
        if ((rv = filter_batch(job, &h, &len, &changed)) < 0) {
            break;
        }
        if (len > 0) {
            rv = out_batch(job, &o, job->out, len);
        }
    }
    rv = out_finish(&o, src, rv);
    src->rewritten = rv == 0 && changed;
    if (!src->rewritten) {
        log_cleaner_unlink_cleaned(src);
        job->st.records_removed = rv == 0 ? job->st.records_removed : removed_before;
    }
    return rv;
}

static void clean_work(uv_work_t *req)
{
    struct clean_job *job = req->data;
    clock_gettime(CLOCK_MONOTONIC, &job->started);
    int rv = offset_map_init(&job->map, job->lim.dedupe_buffer_bytes);
    if (rv == 0) {
        rv = build_map(job);
    }
    for (size_t i = 0; rv == 0 && i < job->n; i++) {
        rv = clean_segment(job, &job->src[i]);
    }
    if (rv == 0 && (rv = fs_fsync_dir(job->dir)) < 0) {
        log_error("log", "cannot fsync dir=%s error=%s", job->dir, strerror(-rv));
    }
    offset_map_free(&job->map);
    job->st.status = rv;
}

/* ---- the loop side ---- */

static void job_free(struct clean_job *job, size_t nsrc)
{
    for (size_t i = 0; i < nsrc; i++) {
        segment_release(job->src[i].cleaned); /* one not installed */
        segment_unref(job->src[i].seg);
    }
    if (job->swap_lock_init) {
        uv_mutex_destroy(&job->swap_lock);
    }
    free(job->src);
    free(job->batch);
    free(job->out);
    free(job->plain);
    free(job->kept);
    free(job->dir);
    free(job);
}

void log_cleaner_finish(struct clean_job *job, struct partition_log *log, int rv)
{
    if (log != NULL) {
        log->clean_job = NULL;
        job->st.clean_offset = partition_log_clean_offset(log);
        if (rv < 0) {
            log_warn("log", "clean abandoned dir=%s error=%s", log->dir, log_err_name(rv));
        } else if (rv == 0) {
            log_info("log",
                     "cleaned dir=%s segments=%d removed_records=%" PRId64 " read=%" PRId64
                     " written=%" PRId64 " clean_offset=%" PRId64,
                     log->dir, job->st.segments_rewritten, job->st.records_removed,
                     job->st.bytes_read, job->st.bytes_written, log->clean_offset);
        }
    }
    /* A deleted partition's directory was renamed before its removal was
     * queued, so whatever this job wrote into it is removed with it; job->dir
     * names what may be a new partition's directory by now. */
    job->st.status = rv == 1 ? 0 : rv;
    if (job->cb != NULL) {
        job->cb(log, &job->st, job->data);
    }
    job_free(job, job->nsrc);
}

static void clean_after(uv_work_t *req, int status)
{
    struct clean_job *job = req->data;
    struct partition_log *log = job->log;
    int rv = status < 0 ? status : job->st.status;
    if (log != NULL) {
        log->clean_job = NULL;
        /* A truncation voids the clean: the map may name records that are gone. */
        int void_rv = rv < 0 ? rv : job->truncations != log->truncations ? LOG_ERR_CLOSED : 0;
        int qrv = log_cleaner_swap_start(log, job, void_rv);
        if (qrv == 0) {
            return;
        }
        rv = rv < 0 ? rv : qrv;
    }
    for (size_t i = 0; i < job->n; i++) {
        if (job->src[i].rewritten) {
            log_cleaner_unlink_cleaned(&job->src[i]); /* closed meanwhile: leave nothing behind */
        }
    }
    log_cleaner_finish(job, log, rv);
}

static int job_setup(struct clean_job *job, struct partition_log *log, const struct clean_plan *p)
{
    if ((job->dir = strdup(log->dir)) == NULL ||
        (job->src = calloc(p->end, sizeof *job->src)) == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->end; i++) {
        struct segment *seg = log->segs[i];
        int rv = segment_use(seg); /* open before the pool reads it; the reference pins it */
        if (rv < 0) {
            return rv;
        }
        segment_ref(seg);
        job->src[i].seg = seg;
        job->src[i].base = seg->base_offset;
        job->src[i].size = seg->size;
        job->src[i].next_offset = seg->next_offset;
        job->src[i].created_ms = seg->created_ms;
    }
    job->n = job->nsrc = p->end;
    job->dirty_from = p->dirty_from;
    job->map_end = log->segs[p->end]->base_offset;
    return 0;
}

int partition_log_clean(struct partition_log *log, const struct log_cleaner_limits *lim,
                        int64_t now_ms, log_clean_cb cb, void *data)
{
    struct clean_plan p;
    if (partition_log_cleanable_ratio(log, now_ms) < 0) {
        return 0;
    }
    plan(log, now_ms, &p);
    struct clean_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        return -ENOMEM;
    }
    int rv = job_setup(job, log, &p);
    if (rv < 0) {
        job_free(job, job->src != NULL ? p.end : 0); /* refs are taken last */
        return rv;
    }
    job->work.data = job;
    job->loop = log->loop;
    job->log = log;
    job->now_ms = now_ms;
    job->delete_retention_ms = log->cfg.delete_retention_ms;
    job->index_interval_bytes = log->cfg.index_interval_bytes;
    job->lim = *lim;
    job->truncations = log->truncations;
    job->cb = cb;
    job->data = data;
    if ((rv = uv_queue_work(log->loop, &job->work, clean_work, clean_after)) < 0) {
        job_free(job, p.end);
        return rv;
    }
    log->clean_job = job;
    return 1;
}

void log_cleaner_shutdown(struct partition_log *log)
{
    if (log->clean_job != NULL) {
        struct clean_job *job = log->clean_job;
        if (job->swapping) {
            /* Nothing is renamed after this: the directory may be renamed
             * for deletion, or opened again, next. */
            log_cleaner_swap_settle(NULL, job);
        }
        log->clean_job->log = NULL;
        atomic_store(&log->clean_job->cancelled, true);
        log->clean_job = NULL;
    }
}
