/* The partition log's producer state (producer_state.h): checked on the
 * leader's append, fed by both append paths, snapshotted at segment roll
 * (`<offset>.snapshot`, Kafka's ProducerStateManager files) and every
 * PRODUCER_SNAPSHOT_INTERVAL_BYTES within the active segment, and rebuilt on
 * open and after truncation from the latest snapshot at or below the log end
 * plus the batches after it (from the log start when there is none).
 *
 * Kafka snapshots only at rolls, so its rebuild after a truncation replays
 * the active segment from its start; here that ran on the loop, 321 ms for a
 * 1 GiB segment of 16 KiB batches with every page cached. The snapshots
 * within the segment bound it to an interval or two: the active segment keeps
 * its base's snapshot and the last two taken within it, and a roll's snapshot
 * takes the rolled segment's away. */
#include "broker/log/partition_log_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs_util.h"
#include "common/log.h"

#define SNAPSHOT_SUFFIX ".snapshot"
/* A snapshot file larger than this is not read (rebuilt from the log). */
#define SNAPSHOT_MAX_BYTES (256 << 20)

static void snapshot_name(int64_t offset, char *out, size_t outlen)
{
    snprintf(out, outlen, "%020" PRId64 SNAPSHOT_SUFFIX, offset);
}

/* The offset a directory entry names, -1 if it is not a snapshot. */
static int64_t snapshot_offset(const char *name)
{
    size_t n = strlen(name);
    if (n != 20 + strlen(SNAPSHOT_SUFFIX) || strcmp(name + 20, SNAPSHOT_SUFFIX) != 0) {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

static void remove_snapshot_in(const char *dir, int64_t offset)
{
    char name[64], path[4096];
    snapshot_name(offset, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (unlink(path) < 0 && errno != ENOENT) {
        log_warn("log", "cannot delete producer snapshot path=%s error=%s", path, strerror(errno));
    }
}

/* Delete the snapshots of `dir` outside [lo, hi] and those strictly between
 * gap_lo and gap_hi; return the largest kept (-1: none). Also runs on the
 * thread pool (after a snapshot write). */
static int64_t prune_snapshots_in(const char *dir, int64_t lo, int64_t hi, int64_t gap_lo,
                                  int64_t gap_hi, int *removed)
{
    DIR *d = opendir(dir);
    int64_t best = -1;
    if (d == NULL) {
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t off = snapshot_offset(e->d_name);
        if (off < 0) {
            continue;
        }
        if (off < lo || off > hi || (off > gap_lo && off < gap_hi)) {
            remove_snapshot_in(dir, off);
            if (removed != NULL) {
                (*removed)++;
            }
        } else if (off > best) {
            best = off;
        }
    }
    closedir(d);
    return best;
}

static void remove_snapshot(const struct partition_log *log, int64_t offset)
{
    remove_snapshot_in(log->dir, offset);
}

/* A removal marks the directory for the next flush's fsync: a snapshot of
 * truncated batches must not come back after a crash beside new data. */
static int64_t prune_snapshots(struct partition_log *log, int64_t lo, int64_t hi)
{
    int removed = 0;
    int64_t kept = prune_snapshots_in(log->dir, lo, hi, 0, 0, &removed);
    log->dir_dirty |= removed > 0;
    return kept;
}

static int read_snapshot(struct partition_log *log, int64_t offset)
{
    char name[64], path[4096];
    snapshot_name(offset, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", log->dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    int rv = fstat(fd, &st) < 0 ? -errno : 0;
    if (rv == 0 && (st.st_size <= 0 || st.st_size > SNAPSHOT_MAX_BYTES)) {
        rv = -EBADMSG;
    }
    uint8_t *buf = rv == 0 ? malloc((size_t)st.st_size) : NULL;
    if (rv == 0 && buf == NULL) {
        rv = -ENOMEM;
    }
    if (rv == 0) {
        ssize_t got = pread(fd, buf, (size_t)st.st_size, 0);
        rv = got == st.st_size ? producer_state_decode(&log->producers, buf, (size_t)got)
                               : (got < 0 ? -errno : -EIO);
    }
    free(buf);
    close(fd);
    return rv;
}

/* A batch in `seg`; `batch` holds its bytes (only needed for control
 * batches). */
static int note_batch(struct partition_log *log, struct segment *seg, const uint8_t *batch,
                      const struct record_batch_header *h)
{
    struct producer_batch b;
    if (!producer_batch_from_header(h, &b)) {
        return 0;
    }
    if (b.control) {
        return log_txn_note(log, seg, batch, h);
    }
    return producer_state_update(&log->producers, &b);
}

/* Control batches are tiny (a marker is 78 bytes); one larger than this is
 * not a marker Sluice or Kafka writes and is skipped on replay. */
#define CONTROL_BATCH_MAX_READ 4096

static int replay_batch(struct partition_log *log, struct segment *seg, int64_t pos,
                        const struct record_batch_header *h)
{
    if ((h->attributes & RECORD_BATCH_ATTR_CONTROL) == 0 || h->producer_id < 0) {
        return note_batch(log, seg, NULL, h);
    }
    if (record_batch_size(h) > CONTROL_BATCH_MAX_READ) {
        log_warn("log", "skipping an oversized control batch dir=%s offset=%" PRId64, log->dir,
                 h->base_offset);
        return 0;
    }
    uint8_t buf[CONTROL_BATCH_MAX_READ];
    int rv = segment_pread(seg, buf, (size_t)record_batch_size(h), pos);
    return rv < 0 ? rv : note_batch(log, seg, buf, h);
}

/* Feed every batch at or after `from` to the state. */
static int replay_from(struct partition_log *log, int64_t from)
{
    for (size_t i = log_segs_find(log, from); i < log->nsegs; i++) {
        struct segment *seg = log->segs[i];
        /* Aborts from `from` on are indexed again below. */
        int trv = segment_txn_truncate(seg, from);
        if (trv < 0) {
            log_warn("log", "cannot truncate transaction index dir=%s segment=%" PRId64 " error=%s",
                     log->dir, seg->base_offset, strerror(-trv));
        }
        struct segment_cursor *cur = malloc(sizeof *cur);
        if (cur == NULL) {
            return -ENOMEM;
        }
        segment_cursor_init(cur, seg);
        int rv = 0;
        /* From the batch holding `from` (a snapshot within the segment), not
         * the segment's start; from there too if the index entry names no
         * batch at or below it. */
        int64_t pos = from > seg->base_offset ? segment_lookup_position(seg, from) : 0;
        struct record_batch_header first;
        if (pos > 0 && (segment_read_header(cur, pos, &first) < 0 || first.base_offset > from ||
                        first.base_offset < seg->base_offset)) {
            pos = 0;
        }
        while (pos < seg->size && rv == 0) {
            struct record_batch_header h;
            if ((rv = segment_read_header(cur, pos, &h)) < 0) {
                break;
            }
            if (record_batch_last_offset(&h) >= from) {
                rv = replay_batch(log, seg, pos, &h);
            }
            pos += record_batch_size(&h);
        }
        free(cur);
        if (rv < 0) {
            return rv;
        }
    }
    return 0;
}

int log_producers_load(struct partition_log *log)
{
    producer_state_clear(&log->producers);
    log->producers_incomplete = false;
    int64_t snap = prune_snapshots(log, 0, log_end(log));
    int64_t from = log->segs[0]->base_offset;
    while (snap >= 0) {
        int rv = read_snapshot(log, snap);
        if (rv == 0) {
            from = snap > from ? snap : from;
            break;
        }
        log_warn("log", "ignoring unreadable producer snapshot dir=%s offset=%" PRId64 " error=%s",
                 log->dir, snap, strerror(-rv));
        remove_snapshot(log, snap);
        producer_state_clear(&log->producers);
        snap = prune_snapshots(log, 0, snap - 1);
    }
    int rv = replay_from(log, from);
    log->mid_snapshot = snap > log_active(log)->base_offset ? snap : -1;
    log->snapshot_bytes = 0;
    producer_state_on_high_watermark(&log->producers, log->high_watermark);
    if (rv < 0) {
        log_error("log", "cannot rebuild producer state dir=%s error=%s", log->dir,
                  log_err_name(rv));
        return rv;
    }
    if (log->producers.count > 0) {
        log_info("log", "loaded producer state dir=%s producers=%zu snapshot=%" PRId64, log->dir,
                 log->producers.count, snap);
    }
    return 0;
}

int log_producers_check(struct partition_log *log, const struct record_batch_header *hdrs, size_t n,
                        struct producer_batch_meta *dup, char *why, size_t whylen)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        any |= hdrs[i].producer_id >= 0;
    }
    if (!any) {
        return 0;
    }
    if (n != 1) {
        snprintf(why, whylen,
                 "a produce request from an idempotent producer must carry exactly "
                 "one record batch per partition");
        return LOG_ERR_INVALID_RECORD;
    }
    struct producer_batch b;
    producer_batch_from_header(&hdrs[0], &b);
    if (b.epoch < 0 || b.first_seq < 0) {
        snprintf(why, whylen, "batch of producer %" PRId64 " has epoch %d and sequence %d",
                 b.producer_id, b.epoch, b.first_seq);
        return LOG_ERR_INVALID_RECORD;
    }
    switch (producer_state_check(&log->producers, &b, dup, why, whylen)) {
    case PRODUCER_CHECK_OK:
        return 0;
    case PRODUCER_CHECK_DUPLICATE:
        return 1;
    case PRODUCER_CHECK_STALE_EPOCH:
        return LOG_ERR_INVALID_PRODUCER_EPOCH;
    case PRODUCER_CHECK_OUT_OF_ORDER:
        return LOG_ERR_OUT_OF_ORDER_SEQUENCE;
    case PRODUCER_CHECK_INVALID_TXN_STATE:
        return LOG_ERR_INVALID_TXN_STATE;
    case PRODUCER_CHECK_COORDINATOR_FENCED:
        return LOG_ERR_COORDINATOR_FENCED;
    }
    return 0;
}

/* The state below `offset`, encoded at roll or within the active segment
 * (log_producers_note) and written by the flush that makes the batches below
 * `offset` durable (log_flush.c), on the thread pool: a snapshot on disk then
 * never describes batches a crash could still take from the log. `lock`
 * orders the pool's file creation and rename against
 * log_producers_snapshot_void on the loop: once voided, no file of it appears
 * (a truncation or a deleted directory must not see one later). */
struct producer_snapshot {
    char *dir;
    int64_t offset;
    int64_t keep_from; /* older snapshots (below the first segment) go */
    /* and those strictly between these two: taken within a segment and
     * superseded (log_producers_snapshot) */
    int64_t drop_above, drop_below;
    bool at_roll; /* else within the segment */
    uint8_t *buf;
    size_t len;
    uv_mutex_t lock;
    bool voided; /* under lock */
    int status;  /* the pool's result, read on the loop after the work */
};

int log_producers_note(struct partition_log *log, const uint8_t *batches,
                       const struct record_batch_header *hdrs, size_t n)
{
    size_t pos = 0;
    int64_t oldest = log->producers.oldest_timestamp;
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = note_batch(log, log_active(log), batches + pos, &hdrs[i]);
        pos += (size_t)record_batch_size(&hdrs[i]);
        if (rv < 0) {
            /* The batch is written: the state misses it until the next
             * load; a retry of it would be written twice. Say so. */
            log_error("log", "producer state out of memory dir=%s offset=%" PRId64, log->dir,
                      hdrs[i].base_offset);
        }
    }
    if (log->producers.oldest_timestamp < oldest) {
        log_note_deadline(log); /* a producer that may expire sooner than the rest */
    }
    log->producers_incomplete |= rv < 0;
    log->snapshot_bytes += (int64_t)pos;
    /* Not while a roll's snapshot waits for its flush (it would replace it,
     * and the segment's base would have none), nor while a completed
     * transaction's marker is above the high watermark (a snapshot does not
     * keep those, so a rebuild from it would let the LSO pass them): the
     * next append asks again. One within the segment still waiting is
     * replaced: the flush writes the newest state. */
    struct producer_snapshot *pending = log->snapshot_pending;
    if (log->snapshot_bytes >= log->snapshot_interval_bytes &&
        (pending == NULL || !pending->at_roll) && log->producers.unreplicated_by_marker.live == 0 &&
        log_producers_snapshot(log) == 0) {
        /* Written once the batches below it are durable: flush soon. */
        log->flush_soon = true;
        partition_log_flush_if_due(log);
        log_note_work(log);
    }
    return rv;
}

void log_producers_snapshot_free(struct producer_snapshot *s)
{
    if (s == NULL) {
        return;
    }
    uv_mutex_destroy(&s->lock);
    free(s->buf);
    free(s->dir);
    free(s);
}

int log_producers_snapshot(struct partition_log *log)
{
    if (log->producers_incomplete) {
        return -EAGAIN; /* logged when the batch was missed */
    }
    struct producer_snapshot *s = calloc(1, sizeof *s);
    int rv = s != NULL ? 0 : -ENOMEM;
    if (rv == 0 && (s->dir = strdup(log->dir)) == NULL) {
        rv = -ENOMEM;
    }
    if (rv == 0) {
        rv = producer_state_encode(&log->producers, &s->buf, &s->len);
    }
    if (rv == 0 && uv_mutex_init(&s->lock) != 0) {
        rv = -ENOMEM;
    }
    if (rv < 0) {
        if (s != NULL) {
            free(s->buf);
            free(s->dir);
            free(s);
        }
        log_warn("log", "cannot take producer snapshot dir=%s offset=%" PRId64 " error=%s",
                 log->dir, log_end(log), strerror(-rv));
        return rv;
    }
    s->offset = log_end(log);
    s->keep_from = log->segs[0]->base_offset;
    int64_t base = log_active(log)->base_offset;
    s->at_roll = s->offset == base;
    if (s->at_roll) {
        /* At a roll: the rolled segment's snapshots within it go. */
        s->drop_above = log->nsegs > 1 ? log->segs[log->nsegs - 2]->base_offset : base;
        s->drop_below = base;
        log->mid_snapshot = -1;
    } else {
        /* Within the active segment: the one before stays, for a
         * truncation that goes below this one. */
        s->drop_above = base;
        s->drop_below = log->mid_snapshot > base ? log->mid_snapshot : base;
        log->mid_snapshot = s->offset;
    }
    log->snapshot_bytes = 0;
    /* A newer snapshot covers everything an older unwritten one would,
     * including what that one was to delete. */
    struct producer_snapshot *old = log->snapshot_pending;
    if (old != NULL && !old->at_roll && !s->at_roll) {
        s->drop_below = old->drop_below; /* its file never came: keep the one before it */
    } else if (old != NULL && old->drop_above < old->drop_below) {
        s->drop_below = old->drop_below > s->drop_below ? old->drop_below : s->drop_below;
        s->drop_above = old->drop_above < s->drop_above ? old->drop_above : s->drop_above;
    }
    log_producers_snapshot_free(log->snapshot_pending);
    log->snapshot_pending = s;
    return 0;
}

/* Thread pool (or the loop, closing): write `<offset>.snapshot.tmp`, fsync
 * it, rename it into place unless voided meanwhile. The caller fsyncs the
 * directory. */
void log_producers_snapshot_write(struct producer_snapshot *s)
{
    char name[64], path[4096], tmp[4200];
    snapshot_name(s->offset, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    uv_mutex_lock(&s->lock);
    int fd = s->voided ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rv = s->voided ? -ECANCELED : fd < 0 ? -errno : 0;
    uv_mutex_unlock(&s->lock);
    if (rv == 0) {
        rv = fs_write_all(fd, s->buf, s->len);
    }
    if (rv == 0 && fsync(fd) < 0) {
        rv = -errno;
    }
    if (fd >= 0) {
        close(fd);
    }
    uv_mutex_lock(&s->lock);
    if (rv == 0 && s->voided) {
        rv = -ECANCELED;
    }
    if (rv == 0 && rename(tmp, path) < 0) {
        rv = -errno;
    }
    if (rv != 0 && fd >= 0) {
        (void)unlink(tmp);
    }
    uv_mutex_unlock(&s->lock);
    s->status = rv;
    if (rv == 0) {
        /* Keep the snapshots of the segments still in the log (newer ones
         * are a later roll's, or gone with a truncation). */
        prune_snapshots_in(s->dir, s->keep_from, INT64_MAX, s->drop_above, s->drop_below, NULL);
    }
}

bool log_producers_snapshot_void(struct producer_snapshot *s, int64_t above)
{
    if (s->offset <= above) {
        return false;
    }
    uv_mutex_lock(&s->lock);
    s->voided = true;
    uv_mutex_unlock(&s->lock);
    return true;
}

void log_producers_snapshot_done(struct producer_snapshot *s)
{
    if (s->status < 0 && s->status != -ECANCELED) {
        log_warn("log", "cannot write producer snapshot dir=%s offset=%" PRId64 " error=%s", s->dir,
                 s->offset, strerror(-s->status));
    }
    log_producers_snapshot_free(s);
}

int log_producers_after_truncation(struct partition_log *log)
{
    int rv = log_producers_load(log);
    log_note_deadline(log); /* rebuilt producers, and fewer segments */
    return rv;
}

void log_producers_reset(struct partition_log *log)
{
    producer_state_clear(&log->producers);
    log->producers_incomplete = false;
    log->mid_snapshot = -1;
    log->snapshot_bytes = 0;
    log_flush_void_snapshots(log, -1); /* none of them describes the emptied log */
    prune_snapshots(log, INT64_MAX, INT64_MAX);
}

size_t partition_log_expire_producers(struct partition_log *log, int64_t now_ms,
                                      int64_t expiration_ms)
{
    return producer_state_expire(&log->producers, now_ms, expiration_ms);
}

const struct producer_state *partition_log_producers(const struct partition_log *log)
{
    return &log->producers;
}
