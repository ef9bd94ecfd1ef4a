/* One log segment: `<base>.log` plus its `.index` and `.timeindex`, and a
 * `.txnindex` (txn_index.h) once an abort marker is written into it.
 *
 * Offset index entry: relative offset u32, file position u32 (big-endian),
 * pointing at the start of a batch and keyed by that batch's last offset, one
 * entry each time more than index.interval.bytes were written since the last
 * (Kafka's LogSegment.append). Time index entry: timestamp i64, relative
 * offset u32: the largest batch maxTimestamp seen so far and the last offset
 * of the batch that carried it, appended only when it grows.
 *
 * Reference counted (loop thread only, no atomics): the partition log holds
 * one reference, each read result and each background flush another; the
 * files are closed when the last goes, so deleted segments stay readable
 * (and a deleted segment's last close, with the unlink of its files, goes
 * to the thread pool: segment_delete_async).
 *
 * Descriptors (file_cache.h): a segment created or opened with a cache opens
 * its files on demand (segment_use, and every function here that reads or
 * writes them) and the cache may close them again while only the log holds
 * the segment. A segment referenced by anything else (a read in flight, a
 * background fsync, a clean) keeps them open, and so does one its log has
 * let go of (segment_release): its readers keep the inode they had. Without
 * a cache the files stay open for the segment's life. */
#ifndef SLUICE_BROKER_LOG_SEGMENT_H
#define SLUICE_BROKER_LOG_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "broker/log/file_cache.h"
#include "broker/log/index_file.h"
#include "broker/log/log_delete.h"
#include "broker/log/record_batch.h"
#include "broker/log/txn_index.h"

#define SEGMENT_OFFSET_ENTRY_SIZE 8
#define SEGMENT_TIME_ENTRY_SIZE   12
#define SEGMENT_NAME_DIGITS       20
/* Positions in the offset index are u32 and Kafka keeps them int32. */
#define SEGMENT_MAX_BYTES ((int64_t)INT32_MAX)

struct segment {
    int64_t base_offset;
    int64_t next_offset;    /* last offset + 1; base_offset when empty */
    int64_t size;           /* bytes of valid batches in .log */
    int64_t max_timestamp;  /* largest batch maxTimestamp, -1 if none */
    int64_t max_ts_offset;  /* last offset of the batch carrying it */
    int64_t first_batch_ts; /* maxTimestamp of the first batch (segment.ms), -1 if none */
    int64_t created_ms;     /* when created or opened (segment.ms fallback) */
    int64_t bytes_since_index;
    int64_t time_index_last_ts; /* timestamp of the last time index entry, -1 if none */
    int log_fd;
    int txn_fd;       /* .txnindex, -1 until the segment holds an abort marker */
    int64_t txn_size; /* valid bytes of .txnindex */
    struct index_file offset_index;
    struct index_file time_index;
    bool dirty; /* written since the last fsync was started */
    int refs;
    struct file_cache *cache;      /* NULL: the files stay open */
    struct file_cache_entry files; /* listed in `cache` while the files are open */
    bool closed;  /* the cache closed the files; segment_use reopens (while open, the index
                     fds may be -1: segment_use_log) */
    bool retired; /* the log let go of it: never closed early or reopened */
    bool had_txn; /* a .txnindex exists: reopen it too */
    /* Deleted (segment_delete_async, segment_close_async): when the last
     * reference goes, its descriptors are closed, and its renamed files
     * (`renamed` bit i: the i-th of .log, .index, .timeindex, .txnindex)
     * unlinked, as `deleter` says (log_delete.h). Either set: never
     * reopened. */
    bool deleting;
    struct log_deleter deleter;
    unsigned renamed;
    char *path; /* "<dir>/<20-digit base>" without extension */
};

/* Create empty files for a new segment (truncating leftovers of the same
 * name). Returns 0 with *out (one reference) or -errno. */
int segment_create(const char *dir, int64_t base_offset, int64_t now_ms, struct file_cache *cache,
                   struct segment **out);

/* A roll's files made ahead (thread pool, no cache): three unnamed files
 * (O_TMPFILE) in `dir`, which a crash leaves nothing of. Returns 0 with *out
 * (one reference, no base yet) or -errno (EOPNOTSUPP and EISDIR: the file
 * system has no O_TMPFILE). */
int segment_create_spare(const char *dir, struct segment **out);
/* Make a spare the new segment at `base_offset` (loop thread): its files get
 * their names (.log first), a leftover .txnindex of that base goes, and it
 * joins `cache` (the cache a spare was listed in while it waited may have
 * closed it: then -EBADF). Returns 0, or -errno with no name left behind
 * (EEXIST: leftover files of that base; create the segment instead). On
 * error the caller releases the spare. */
int segment_adopt_spare(struct segment *seg, int64_t base_offset, int64_t now_ms,
                        struct file_cache *cache);

/* Open an existing segment's files without reading them (size = file size,
 * index entry counts from file sizes; missing index files are created).
 * The caller then either recovers it or loads its indexes' summaries. */
int segment_open(const char *dir, int64_t base_offset, int64_t now_ms, struct file_cache *cache,
                 struct segment **out);

/* Make sure the files are open (reopening what the cache closed) and mark
 * the segment recently used. Loop thread. Returns 0 or -errno (logged). The
 * functions below call it themselves; call it before handing the segment's
 * descriptors to other code or threads (then hold a reference). A retired
 * segment's closed index files stay closed (lookups then scan). */
int segment_use(struct segment *seg);
/* The same for the .log (and .txnindex) only: appends and reads of records
 * need no index descriptor, so a segment reopened this way holds one
 * descriptor in the cache instead of three, and with thousands of active
 * partitions the cache's bound covers three times as many of them. Index
 * entries wait in memory until segment_use opens the index files (to write
 * a full buffer, seal, flush or look up written entries). */
int segment_use_log(struct segment *seg);

/* The close callback of a cache of segments (file_cache_init): closes the
 * files only while the log alone holds the segment, writing pending index
 * entries first to an open index file (a closed one keeps up to a few
 * hundred bytes of them in memory). */
bool segment_cache_close(struct file_cache_entry *e);

void segment_ref(struct segment *seg);
void segment_unref(struct segment *seg);
/* The log drops its own reference (removed, replaced, closed): the segment
 * leaves the cache (its open descriptors stay with the remaining holders)
 * and is unreferenced. */
void segment_release(struct segment *seg);
/* Move the segment to descriptor cache `cache` (its open files listed there
 * from now on, closed ones reopened through it). A segment with a cache
 * cannot move to none; one opened without (e.g. on the thread pool) joins
 * `cache` with the files it has open. Loop thread. */
void segment_move_cache(struct segment *seg, struct file_cache *cache);
/* Remove the files now (the open descriptors keep working): for files just
 * created, still empty, and for recovery, which runs off the loop. */
void segment_unlink(struct segment *seg);
/* Delete the files without blocking the loop (Kafka's asyncDeleteSegment):
 * each is renamed `<file>.deleted` now (a directory entry, which frees no
 * extents), and unlinked as `d` says (copied; the thread pool, through a
 * bounded queue for a broker's logs) once the last reference is gone, where
 * the descriptors are closed too, so the kernel frees the extents there.
 * Readers holding a reference keep reading through their descriptors
 * meanwhile; the segment is never reopened by name (its name may be a new
 * segment's by then). Loop thread, before the log lets go of it
 * (segment_release). Returns 0, or the -errno of a rename (logged), and then
 * the files are as they were and stay. */
int segment_delete_async(struct segment *seg, const struct log_deleter *d);
/* Undo segment_delete_async before the segment was released: the files get
 * their names back. Returns 0 or -errno (logged). */
int segment_delete_undo(struct segment *seg);
/* The files go another way (their directory is being removed): when the
 * last reference goes, close the descriptors as `d` says (copied; the thread
 * pool), where a close of an unlinked file frees its extents. */
void segment_close_async(struct segment *seg, const struct log_deleter *d);

/* Account for a batch written at `position`: end offset, timestamps, and an
 * index entry when more than `index_interval_bytes` went by since the last. */
void segment_note_batch(struct segment *seg, int64_t position, const struct record_batch_header *h,
                        int32_t index_interval_bytes);

/* Write `len` bytes at the end of .log (a partial write is cut back on error).
 * Does not index: call segment_note_batch for each batch afterwards. */
int segment_write(struct segment *seg, const uint8_t *data, size_t len);

/* Add the final time index entry if the largest timestamp is not yet indexed
 * (Kafka does this when a segment stops being active) and write pending
 * index entries out. */
void segment_seal(struct segment *seg);

/* File position from which scanning finds `offset`: the floor entry of the
 * offset index, 0 if none. */
int64_t segment_lookup_position(struct segment *seg, int64_t offset);
/* Position to start scanning for the first batch with maxTimestamp >= ts. */
int64_t segment_lookup_time_position(struct segment *seg, int64_t ts);

/* Reads batch headers of one segment through a window, so walking many
 * small batches costs one pread per window rather than one per batch.
 * Short-lived (one call), usually on the stack. */
#define SEGMENT_CURSOR_WINDOW (32 * 1024)
struct segment_cursor {
    struct segment *seg;
    int64_t start; /* file position of buf[0] */
    size_t len;    /* valid bytes in buf */
    uint8_t buf[SEGMENT_CURSOR_WINDOW];
};

void segment_cursor_init(struct segment_cursor *c, struct segment *seg);

/* Read and sanity-check the batch header at `position` (< seg->size): the
 * length must be sane and the whole batch inside the segment, else
 * LOG_ERR_CORRUPT (logged); -errno if the file cannot be read. */
int segment_read_header(struct segment_cursor *c, int64_t position,
                        struct record_batch_header *out);

/* Aborted transactions (.txnindex, created on the first): append one,
 * drop those whose marker is at or above `offset`, or collect (see
 * txn_index_collect). Each returns 0 or -errno (logged by the caller). */
int segment_txn_append(struct segment *seg, const struct txn_index_entry *e);
int segment_txn_truncate(struct segment *seg, int64_t offset);
int segment_txn_collect(struct segment *seg, int64_t fetch_offset, int64_t upper_bound,
                        struct txn_index_entry *out, size_t max, size_t *n, bool *complete);

/* Entries an index may hold before the segment must roll. */
bool segment_index_full(const struct segment *seg, int32_t segment_index_bytes);

/* Load max timestamp from the last time index entry (segments not recovered). */
int segment_load_time_summary(struct segment *seg);

/* The .log's modification time in ms (no descriptor needed), or -errno. */
int64_t segment_mtime_ms(const struct segment *seg);

/* Read exactly `len` bytes at `pos` of the .log. Returns 0, -errno or -EIO on EOF. */
int segment_pread(struct segment *seg, void *buf, size_t len, int64_t pos);
/* The same from any thread, for a segment the caller holds a reference to
 * and used (segment_use) on the loop before: its files cannot be closed. */
int segment_pread_held(const struct segment *seg, void *buf, size_t len, int64_t pos);

#endif
