/* Segment files: create/open, write, index maintenance, lookups. */
#include "broker/log/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/log/log_delete.h"
#include "common/bigendian.h"
#include "common/log.h"

/* A segment's files, in the order of struct segment's `renamed` bits. */
#define SEGMENT_FILES 4
static const char *const segment_exts[SEGMENT_FILES] = {".log", ".index", ".timeindex",
                                                        TXN_INDEX_SUFFIX};

static int open_file(const char *base, const char *ext, int flags, int *fd)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s%s", base, ext) >= sizeof path) {
        return -ENAMETOOLONG;
    }
    *fd = open(path, flags | O_CLOEXEC, 0644);
    return *fd < 0 ? -errno : 0;
}

static int64_t file_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) < 0 ? -errno : (int64_t)st.st_size;
}

static int segment_alloc(const char *dir, int64_t base, int64_t now_ms, struct file_cache *cache,
                         struct segment **out)
{
    struct segment *seg = calloc(1, sizeof *seg);
    size_t n = strlen(dir) + 1 + SEGMENT_NAME_DIGITS + 1;
    if (seg == NULL || (seg->path = malloc(n)) == NULL) {
        free(seg);
        return -ENOMEM;
    }
    snprintf(seg->path, n, "%s/%020" PRId64, dir, base);
    seg->base_offset = seg->next_offset = base;
    seg->max_timestamp = seg->max_ts_offset = seg->first_batch_ts = -1;
    seg->time_index_last_ts = -1;
    seg->created_ms = now_ms;
    seg->log_fd = seg->offset_index.fd = seg->time_index.fd = seg->txn_fd = -1;
    seg->refs = 1;
    seg->cache = cache;
    *out = seg;
    return 0;
}

static size_t open_fds(const struct segment *seg)
{
    return (size_t)(seg->log_fd >= 0) + (size_t)(seg->offset_index.fd >= 0) +
           (size_t)(seg->time_index.fd >= 0) + (size_t)(seg->txn_fd >= 0);
}

static void close_log_and_txn(struct segment *seg)
{
    if (seg->log_fd >= 0) {
        close(seg->log_fd);
        seg->log_fd = -1;
    }
    if (seg->txn_fd >= 0) {
        close(seg->txn_fd);
        seg->txn_fd = -1;
    }
}

static void close_files(struct segment *seg)
{
    close_log_and_txn(seg);
    index_file_close(&seg->offset_index);
    index_file_close(&seg->time_index);
}

static void take_fd(int *fd, int *fds, size_t *n)
{
    if (*fd >= 0) {
        fds[(*n)++] = *fd;
        *fd = -1;
    }
}

/* A deleted segment's last reference went: its descriptors and renamed
 * files go to the thread pool (log_delete.h). */
static void hand_off_deleted(struct segment *seg)
{
    int fds[LOG_DELETE_MAX_FDS];
    size_t nfds = 0, npaths = 0;
    char names[SEGMENT_FILES][4096];
    const char *paths[SEGMENT_FILES];
    take_fd(&seg->log_fd, fds, &nfds);
    take_fd(&seg->txn_fd, fds, &nfds);
    take_fd(&seg->offset_index.fd, fds, &nfds);
    take_fd(&seg->time_index.fd, fds, &nfds);
    for (size_t i = 0; i < SEGMENT_FILES; i++) {
        if (seg->renamed & (1u << i)) {
            snprintf(names[i], sizeof names[i], "%s%s" LOG_DELETE_FILE_SUFFIX, seg->path,
                     segment_exts[i]);
            paths[npaths++] = names[i];
        }
    }
    if (nfds > 0 || npaths > 0) {
        log_delete_files(&seg->deleter, fds, nfds, paths, npaths);
    }
}

static bool deleted(const struct segment *seg)
{
    return seg->deleting || seg->renamed != 0;
}

static void segment_free(struct segment *seg)
{
    file_cache_forget(&seg->files);
    if (deleted(seg)) {
        hand_off_deleted(seg);
    }
    close_files(seg);
    free(seg->path);
    free(seg);
}

/* Pending entries an index whose file is closed may keep in memory. */
#define INDEX_KEEP_CLOSED 256

static void flush_pending(struct segment *seg, struct index_file *ix, const char *ext)
{
    if (ix->fd < 0 && ix->pending_len > INDEX_KEEP_CLOSED) {
        int fd;
        if (open_file(seg->path, ext, O_RDWR | O_CREAT, &fd) < 0) {
            return; /* kept: the next use of the segment's indexes writes them */
        }
        index_file_reopen(ix, fd);
    }
    if (ix->fd >= 0) {
        (void)index_file_write_pending(ix);
    }
}

bool segment_cache_close(struct file_cache_entry *e)
{
    struct segment *seg = (struct segment *)((char *)e - offsetof(struct segment, files));
    if (seg->refs > 1 || seg->retired) {
        return false;
    }
    /* Pending index entries go to an open index file before it closes. An
     * index whose file is not open keeps a few in memory (the append path
     * opens only the .log, and reopening both indexes here would undo
     * that); past INDEX_KEEP_CLOSED bytes they are written through a
     * descriptor opened for the purpose, so memory stays a few hundred
     * bytes per segment. A dirty .log or index may be closed: its pages
     * stay in the page cache and the next fsync, on a reopened descriptor,
     * writes them and reports any writeback error nobody has seen yet
     * (Linux errseq, since 4.16). */
    flush_pending(seg, &seg->offset_index, ".index");
    flush_pending(seg, &seg->time_index, ".timeindex");
    close_log_and_txn(seg);
    index_file_close_fd(&seg->offset_index);
    index_file_close_fd(&seg->time_index);
    seg->closed = true;
    return true;
}

static void cache_opened(struct segment *seg)
{
    if (seg->cache != NULL) {
        file_cache_opened(seg->cache, &seg->files, open_fds(seg));
    }
}

/* Reopen the .log (and .txnindex) the cache closed: the in-memory state
 * (sizes, entry counts, txn size) is kept and still describes the files. */
static int reopen_log(struct segment *seg)
{
    int rv, fd = -1;
    if ((rv = open_file(seg->path, ".log", O_RDWR, &fd)) < 0) {
        goto err;
    }
    if (seg->txn_size > 0 || seg->had_txn) {
        if ((rv = open_file(seg->path, TXN_INDEX_SUFFIX, O_RDWR | O_CREAT, &seg->txn_fd)) < 0) {
            seg->txn_fd = -1;
            close(fd);
            goto err;
        }
    }
    seg->log_fd = fd;
    seg->closed = false;
    return 0;
err:
    log_error("log", "cannot reopen segment path=%s error=%s", seg->path, strerror(-rv));
    return rv;
}

/* Open the index files that are not (their entry counts are kept). */
static int reopen_indexes(struct segment *seg)
{
    static const char *const exts[2] = {".index", ".timeindex"};
    struct index_file *ixs[2] = {&seg->offset_index, &seg->time_index};
    size_t opened = 0;
    int rv = 0;
    for (size_t i = 0; i < 2 && rv == 0; i++) {
        int fd;
        if (ixs[i]->fd >= 0) {
            continue;
        }
        if ((rv = open_file(seg->path, exts[i], O_RDWR | O_CREAT, &fd)) < 0) {
            log_error("log", "cannot reopen segment index path=%s%s error=%s", seg->path, exts[i],
                      strerror(-rv));
            break;
        }
        index_file_reopen(ixs[i], fd);
        opened++;
    }
    if (opened > 0) {
        file_cache_add_fds(&seg->files, opened);
    }
    return rv;
}

int segment_use_log(struct segment *seg)
{
    if (!seg->closed) {
        file_cache_touch(&seg->files);
        return 0;
    }
    if (deleted(seg)) {
        /* Its name may be a new segment's now (truncation to the same base). */
        log_error("log", "cannot reopen deleted segment path=%s", seg->path);
        return -ENOENT;
    }
    int rv = reopen_log(seg);
    if (rv == 0) {
        cache_opened(seg);
    }
    return rv;
}

int segment_use(struct segment *seg)
{
    int rv = segment_use_log(seg);
    if (rv < 0) {
        return rv;
    }
    /* A segment the log let go of is never reopened (its files may be
     * gone): without its index files, lookups scan from the start. */
    if (seg->retired || (seg->offset_index.fd >= 0 && seg->time_index.fd >= 0)) {
        return 0;
    }
    return reopen_indexes(seg);
}

static int segment_open_files(struct segment *seg, int flags)
{
    int rv, ofd = -1, tfd = -1;
    if ((rv = open_file(seg->path, ".log", O_RDWR | flags, &seg->log_fd)) < 0 ||
        (rv = open_file(seg->path, ".index", O_RDWR | O_CREAT | flags, &ofd)) < 0 ||
        (rv = open_file(seg->path, ".timeindex", O_RDWR | O_CREAT | flags, &tfd)) < 0) {
        goto err;
    }
    int64_t size = file_size(seg->log_fd), osize = file_size(ofd), tsize = file_size(tfd);
    if (size < 0 || osize < 0 || tsize < 0) {
        rv = -EIO;
        goto err;
    }
    seg->size = size;
    if (flags & O_TRUNC) {
        char path[4096];
        snprintf(path, sizeof path, "%s" TXN_INDEX_SUFFIX, seg->path);
        (void)unlink(path); /* a leftover of an older segment of the same base */
    } else if (open_file(seg->path, TXN_INDEX_SUFFIX, O_RDWR, &seg->txn_fd) == 0) {
        int64_t tsz = file_size(seg->txn_fd);
        seg->txn_size = tsz > 0 ? tsz - tsz % TXN_INDEX_ENTRY_SIZE : 0;
    } else {
        seg->txn_fd = -1;
    }
    index_file_init(&seg->offset_index, ofd, SEGMENT_OFFSET_ENTRY_SIZE,
                    (uint32_t)(osize / SEGMENT_OFFSET_ENTRY_SIZE));
    index_file_init(&seg->time_index, tfd, SEGMENT_TIME_ENTRY_SIZE,
                    (uint32_t)(tsize / SEGMENT_TIME_ENTRY_SIZE));
    return 0;
err:
    if (ofd >= 0) {
        close(ofd);
    }
    return rv;
}

int segment_create(const char *dir, int64_t base_offset, int64_t now_ms, struct file_cache *cache,
                   struct segment **out)
{
    struct segment *seg;
    int rv = segment_alloc(dir, base_offset, now_ms, cache, &seg);
    if (rv < 0) {
        return rv;
    }
    if ((rv = segment_open_files(seg, O_CREAT | O_TRUNC)) < 0) {
        segment_unlink(seg);
        segment_free(seg);
        return rv;
    }
    cache_opened(seg);
    *out = seg;
    return 0;
}

int segment_open(const char *dir, int64_t base_offset, int64_t now_ms, struct file_cache *cache,
                 struct segment **out)
{
    struct segment *seg;
    int rv = segment_alloc(dir, base_offset, now_ms, cache, &seg);
    if (rv < 0) {
        return rv;
    }
    if ((rv = segment_open_files(seg, 0)) < 0) {
        segment_free(seg);
        return rv;
    }
    seg->had_txn = seg->txn_fd >= 0;
    cache_opened(seg);
    *out = seg;
    return 0;
}

/* ---- spares: a roll's files created ahead, on the thread pool ---- */

int segment_create_spare(const char *dir, struct segment **out)
{
    struct segment *seg;
    int fds[3] = {-1, -1, -1}, rv = segment_alloc(dir, 0, 0, NULL, &seg);
    if (rv < 0) {
        return rv;
    }
    for (size_t i = 0; i < 3; i++) {
        if ((fds[i] = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644)) < 0) {
            rv = -errno;
            for (size_t j = 0; j < i; j++) {
                close(fds[j]);
            }
            segment_free(seg);
            return rv;
        }
    }
    seg->log_fd = fds[0];
    index_file_init(&seg->offset_index, fds[1], SEGMENT_OFFSET_ENTRY_SIZE, 0);
    index_file_init(&seg->time_index, fds[2], SEGMENT_TIME_ENTRY_SIZE, 0);
    *out = seg;
    return 0;
}

/* Give the unnamed file `fd` the name `<base><ext>` (linkat through
 * /proc/self/fd: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH). */
static int link_unnamed(int fd, const char *base, const char *ext)
{
    char from[64], to[4096];
    snprintf(from, sizeof from, "/proc/self/fd/%d", fd);
    if ((size_t)snprintf(to, sizeof to, "%s%s", base, ext) >= sizeof to) {
        return -ENAMETOOLONG;
    }
    return linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

int segment_adopt_spare(struct segment *seg, int64_t base_offset, int64_t now_ms,
                        struct file_cache *cache)
{
    const int fds[3] = {seg->log_fd, seg->offset_index.fd, seg->time_index.fd};
    size_t linked = 0;
    int rv = 0;
    if (seg->closed || fds[0] < 0 || fds[1] < 0 || fds[2] < 0) {
        return -EBADF; /* the cache closed it: its unnamed files are gone */
    }
    snprintf(seg->path + strlen(seg->path) - SEGMENT_NAME_DIGITS, SEGMENT_NAME_DIGITS + 1,
             "%020" PRId64, base_offset);
    /* The .log first: a crash before the indexes are linked leaves a
     * segment whose missing index files segment_open creates. */
    for (; linked < 3 && rv == 0; linked++) {
        rv = link_unnamed(fds[linked], seg->path, segment_exts[linked]);
    }
    if (rv < 0) {
        /* A leftover of the same name (EEXIST): the caller creates the
         * segment the old way, which truncates leftovers. */
        /* Indexes first, the .log last: a crash in between leaves a .log
         * without indexes, which recovery handles, never an orphan index. */
        for (size_t i = linked - 1; i-- > 0;) {
            char path[4096];
            snprintf(path, sizeof path, "%s%s", seg->path, segment_exts[i]);
            (void)unlink(path);
        }
        return rv;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s" TXN_INDEX_SUFFIX, seg->path);
    (void)unlink(path); /* a leftover of an older segment of the same base */
    seg->base_offset = seg->next_offset = base_offset;
    seg->created_ms = now_ms;
    segment_move_cache(seg, cache);
    file_cache_touch(&seg->files);
    return 0;
}

void segment_ref(struct segment *seg)
{
    seg->refs++;
}

void segment_unref(struct segment *seg)
{
    if (seg == NULL) {
        return;
    }
    if (--seg->refs == 0) {
        segment_free(seg);
        return;
    }
    /* The last holder besides the log let go: while pinned the segment may
     * have kept the cache over its bound (a fetch of many partitions pins
     * one segment each), so trim now rather than at the next opening. */
    struct file_cache *c = seg->files.cache;
    if (seg->refs == 1 && c != NULL && c->max_fds > 0 && c->open_fds > c->max_fds) {
        file_cache_trim(c, NULL);
    }
}

void segment_move_cache(struct segment *seg, struct file_cache *cache)
{
    if (seg->cache == cache || cache == NULL) {
        return;
    }
    /* A segment opened without a cache was never listed: its open files join. */
    size_t fds = seg->cache == NULL ? open_fds(seg) : seg->files.fds;
    bool listed = seg->cache == NULL ? fds > 0 : seg->files.cache != NULL;
    file_cache_forget(&seg->files);
    seg->cache = cache;
    if (listed) {
        file_cache_opened(cache, &seg->files, fds);
    }
}

void segment_release(struct segment *seg)
{
    if (seg != NULL) {
        seg->retired = true;
        file_cache_forget(&seg->files);
        segment_unref(seg);
    }
}

void segment_unlink(struct segment *seg)
{
    char path[4096];
    for (size_t i = 0; i < SEGMENT_FILES; i++) {
        snprintf(path, sizeof path, "%s%s", seg->path, segment_exts[i]);
        if (unlink(path) < 0 && errno != ENOENT) {
            log_warn("log", "cannot delete segment file path=%s error=%s", path, strerror(errno));
        }
    }
}

/* Rename file i of `seg` to its deleted name (`back`: the other way). */
static int rename_file(const struct segment *seg, size_t i, bool back)
{
    char live[4096], deleted[4096];
    snprintf(live, sizeof live, "%s%s", seg->path, segment_exts[i]);
    snprintf(deleted, sizeof deleted, "%s%s" LOG_DELETE_FILE_SUFFIX, seg->path, segment_exts[i]);
    if (rename(back ? deleted : live, back ? live : deleted) < 0) {
        return -errno;
    }
    return 0;
}

int segment_delete_async(struct segment *seg, const struct log_deleter *d)
{
    for (size_t i = 0; i < SEGMENT_FILES; i++) {
        int rv = rename_file(seg, i, false);
        if (rv == -ENOENT) {
            continue; /* not there (a .txnindex never made): nothing to delete */
        }
        if (rv < 0) {
            log_error("log", "cannot rename segment file for deletion path=%s%s error=%s",
                      seg->path, segment_exts[i], strerror(-rv));
            (void)segment_delete_undo(seg);
            return rv;
        }
        seg->renamed |= 1u << i;
    }
    seg->deleting = true;
    seg->deleter = *d;
    return 0;
}

int segment_delete_undo(struct segment *seg)
{
    int rv = 0;
    for (size_t i = 0; i < SEGMENT_FILES; i++) {
        int frv;
        if ((seg->renamed & (1u << i)) && (frv = rename_file(seg, i, true)) < 0) {
            log_error("log", "cannot restore segment file path=%s%s error=%s", seg->path,
                      segment_exts[i], strerror(-frv));
            rv = frv;
        }
    }
    seg->renamed = 0;
    seg->deleting = false;
    return rv;
}

void segment_close_async(struct segment *seg, const struct log_deleter *d)
{
    seg->deleting = true;
    seg->deleter = *d;
}

int segment_write(struct segment *seg, const uint8_t *data, size_t len)
{
    int rv = segment_use_log(seg);
    if (rv < 0) {
        return rv;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n =
            pwrite(seg->log_fd, data + done, len - done, (off_t)(seg->size + (int64_t)done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rv = n < 0 ? -errno : -EIO;
            /* Cut the partial write back so the file ends at the last whole
             * batch; if even that fails, the next write overwrites it and
             * recovery would truncate it. */
            if (done > 0 && ftruncate(seg->log_fd, (off_t)seg->size) < 0) {
                log_warn("log", "cannot cut back partial write path=%s.log error=%s", seg->path,
                         strerror(errno));
            }
            return rv;
        }
        done += (size_t)n;
    }
    seg->size += (int64_t)len;
    seg->dirty = true;
    return 0;
}

static void append_time_entry(struct segment *seg)
{
    uint8_t e[SEGMENT_TIME_ENTRY_SIZE];
    /* Kafka's TimeIndex.maybeAppend: only a larger timestamp is indexed. */
    if (seg->max_timestamp < 0 || seg->max_timestamp <= seg->time_index_last_ts) {
        return;
    }
    seg->time_index_last_ts = seg->max_timestamp;
    be64_store(e, (uint64_t)seg->max_timestamp);
    be32_store(e + 8, (uint32_t)(seg->max_ts_offset - seg->base_offset));
    index_file_append(&seg->time_index, e);
}

void segment_note_batch(struct segment *seg, int64_t position, const struct record_batch_header *h,
                        int32_t index_interval_bytes)
{
    int64_t last = record_batch_last_offset(h);
    /* An index entry that writes the pending buffer out needs the index
     * files (most do not: the append path keeps only the .log open). A
     * segment that cannot be reopened only gets a sparser index. */
    if (seg->bytes_since_index > index_interval_bytes &&
        (index_file_append_writes(&seg->offset_index) ||
         index_file_append_writes(&seg->time_index)) &&
        segment_use(seg) < 0) {
        seg->bytes_since_index = 0;
    }
    if (seg->next_offset == seg->base_offset && seg->first_batch_ts < 0) {
        seg->first_batch_ts = h->max_timestamp;
    }
    if (h->max_timestamp > seg->max_timestamp) {
        seg->max_timestamp = h->max_timestamp;
        seg->max_ts_offset = last;
    }
    if (seg->bytes_since_index > index_interval_bytes) {
        uint8_t e[SEGMENT_OFFSET_ENTRY_SIZE];
        be32_store(e, (uint32_t)(last - seg->base_offset));
        be32_store(e + 4, (uint32_t)position);
        index_file_append(&seg->offset_index, e);
        append_time_entry(seg);
        seg->bytes_since_index = 0;
    }
    seg->bytes_since_index += record_batch_size(h);
    seg->next_offset = last + 1;
}

void segment_seal(struct segment *seg)
{
    if (segment_use(seg) < 0) {
        return; /* the indexes stay sparser: recovery rebuilds them if needed */
    }
    append_time_entry(seg);
    (void)index_file_write_pending(&seg->offset_index);
    (void)index_file_write_pending(&seg->time_index);
}

static int64_t offset_key(const uint8_t *e)
{
    return (int64_t)be32_load(e);
}

static int64_t time_key(const uint8_t *e)
{
    return (int64_t)be64_load(e);
}

int64_t segment_lookup_position(struct segment *seg, int64_t offset)
{
    uint8_t e[SEGMENT_OFFSET_ENTRY_SIZE];
    /* Entries still pending need no descriptor. */
    if (seg->offset_index.persisted > 0 && segment_use(seg) < 0) {
        return 0;
    }
    int64_t i = index_file_floor(&seg->offset_index, offset - seg->base_offset, offset_key);
    if (i < 0 || index_file_entry(&seg->offset_index, (uint32_t)i, e) < 0) {
        return 0;
    }
    int64_t pos = (int64_t)be32_load(e + 4);
    return pos < seg->size ? pos : 0;
}

int64_t segment_lookup_time_position(struct segment *seg, int64_t ts)
{
    uint8_t e[SEGMENT_TIME_ENTRY_SIZE];
    if (seg->time_index.persisted > 0 && segment_use(seg) < 0) {
        return 0;
    }
    int64_t i = index_file_floor(&seg->time_index, ts, time_key);
    if (i < 0 || index_file_entry(&seg->time_index, (uint32_t)i, e) < 0) {
        return 0;
    }
    return segment_lookup_position(seg, seg->base_offset + (int64_t)be32_load(e + 8));
}

int64_t segment_mtime_ms(const struct segment *seg)
{
    struct stat st;
    char path[4096];
    snprintf(path, sizeof path, "%s.log", seg->path);
    if ((seg->log_fd >= 0 ? fstat(seg->log_fd, &st) : stat(path, &st)) < 0) {
        return -errno;
    }
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

int segment_pread(struct segment *seg, void *buf, size_t len, int64_t pos)
{
    int rv = segment_use(seg);
    return rv < 0 ? rv : segment_pread_held(seg, buf, len, pos);
}

int segment_pread_held(const struct segment *seg, void *buf, size_t len, int64_t pos)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(seg->log_fd, (uint8_t *)buf + done, len - done, (off_t)pos + (off_t)done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        done += (size_t)n;
    }
    return 0;
}

void segment_cursor_init(struct segment_cursor *c, struct segment *seg)
{
    c->seg = seg;
    c->start = 0;
    c->len = 0;
}

/* The 61 header bytes at `position`, from the window or a fresh read. */
static int cursor_fill(struct segment_cursor *c, int64_t position, const uint8_t **out)
{
    struct segment *seg = c->seg;
    if (position >= c->start && position + RECORD_BATCH_HEADER_SIZE <= c->start + (int64_t)c->len) {
        *out = c->buf + (position - c->start);
        return 0;
    }
    int64_t left = seg->size - position;
    size_t want = left < SEGMENT_CURSOR_WINDOW ? (size_t)left : SEGMENT_CURSOR_WINDOW;
    c->len = 0;
    int rv = segment_pread(seg, c->buf, want, position);
    if (rv < 0) {
        log_error("log", "cannot read segment path=%s.log position=%" PRId64 " error=%s", seg->path,
                  position, strerror(-rv));
        return rv;
    }
    c->start = position;
    c->len = want;
    *out = c->buf;
    return 0;
}

int segment_read_header(struct segment_cursor *c, int64_t position, struct record_batch_header *out)
{
    const struct segment *seg = c->seg;
    const uint8_t *h;
    if (position < 0 || position + RECORD_BATCH_HEADER_SIZE > seg->size) {
        goto corrupt;
    }
    int rv = cursor_fill(c, position, &h);
    if (rv < 0) {
        return rv;
    }
    record_batch_parse(h, RECORD_BATCH_HEADER_SIZE, out);
    if (out->magic == RECORD_BATCH_MAGIC_V2 &&
        out->batch_length >= RECORD_BATCH_HEADER_SIZE - RECORD_BATCH_LOG_OVERHEAD &&
        position + record_batch_size(out) <= seg->size && out->last_offset_delta >= 0) {
        return 0;
    }
corrupt:
    log_error("log",
              "corrupt batch header in segment path=%s.log position=%" PRId64 " size=%" PRId64,
              seg->path, position, seg->size);
    return LOG_ERR_CORRUPT;
}

bool segment_index_full(const struct segment *seg, int32_t segment_index_bytes)
{
    uint32_t max_offset_entries = (uint32_t)segment_index_bytes / SEGMENT_OFFSET_ENTRY_SIZE;
    uint32_t max_time_entries = (uint32_t)segment_index_bytes / SEGMENT_TIME_ENTRY_SIZE;
    return seg->offset_index.entries >= max_offset_entries ||
           seg->time_index.entries >= max_time_entries;
}

int segment_load_time_summary(struct segment *seg)
{
    uint8_t e[SEGMENT_TIME_ENTRY_SIZE];
    if (seg->time_index.entries == 0) {
        return 0;
    }
    int rv = segment_use(seg);
    if (rv < 0) {
        return rv;
    }
    rv = index_file_entry(&seg->time_index, seg->time_index.entries - 1, e);
    if (rv < 0) {
        return rv;
    }
    seg->max_timestamp = seg->time_index_last_ts = (int64_t)be64_load(e);
    seg->max_ts_offset = seg->base_offset + (int64_t)be32_load(e + 8);
    return 0;
}

int segment_txn_append(struct segment *seg, const struct txn_index_entry *e)
{
    int rv = segment_use(seg);
    if (rv < 0) {
        return rv;
    }
    if (seg->txn_fd < 0) {
        rv = open_file(seg->path, TXN_INDEX_SUFFIX, O_RDWR | O_CREAT | O_TRUNC, &seg->txn_fd);
        if (rv < 0) {
            seg->txn_fd = -1;
            return rv;
        }
        seg->txn_size = 0;
        seg->had_txn = true;
        file_cache_add_fds(&seg->files, 1);
    }
    seg->dirty = true;
    return txn_index_append(seg->txn_fd, &seg->txn_size, e);
}

int segment_txn_truncate(struct segment *seg, int64_t offset)
{
    int rv = segment_use(seg);
    if (rv < 0) {
        return rv;
    }
    if (seg->txn_fd < 0) {
        return 0;
    }
    int64_t keep;
    rv = txn_index_truncated_size(seg->txn_fd, seg->txn_size, offset, &keep);
    if (rv == -EBADMSG) {
        keep = 0; /* unreadable: the caller's rebuild writes it again */
    } else if (rv < 0) {
        return rv;
    }
    if (keep != seg->txn_size && ftruncate(seg->txn_fd, (off_t)keep) < 0) {
        return -errno;
    }
    seg->txn_size = keep;
    seg->dirty = true;
    return 0;
}

int segment_txn_collect(struct segment *seg, int64_t fetch_offset, int64_t upper_bound,
                        struct txn_index_entry *out, size_t max, size_t *n, bool *complete)
{
    int rv = segment_use(seg);
    if (rv < 0) {
        return rv;
    }
    if (seg->txn_fd < 0) {
        return 0;
    }
    return txn_index_collect(seg->txn_fd, seg->txn_size, fetch_offset, upper_bound, out, max, n,
                             complete);
}
