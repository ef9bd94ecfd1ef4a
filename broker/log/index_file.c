/* Fixed-size-entry index files with an in-memory append buffer. */
#include "broker/log/index_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

void index_file_init(struct index_file *ix, int fd, size_t entry_size, uint32_t persisted)
{
    ix->fd = fd;
    ix->entry_size = entry_size;
    ix->persisted = persisted;
    ix->entries = persisted;
    ix->pending_len = 0;
    ix->pending_cap = 0;
    ix->pending = NULL;
}

static void drop_pending(struct index_file *ix)
{
    free(ix->pending);
    ix->pending = NULL;
    ix->pending_len = 0;
    ix->pending_cap = 0;
    ix->entries = ix->persisted;
}

void index_file_close(struct index_file *ix)
{
    drop_pending(ix);
    if (ix->fd >= 0) {
        close(ix->fd);
        ix->fd = -1;
    }
}

void index_file_close_fd(struct index_file *ix)
{
    if (ix->fd >= 0) {
        close(ix->fd);
        ix->fd = -1;
    }
}

void index_file_reopen(struct index_file *ix, int fd)
{
    ix->fd = fd;
}

bool index_file_append_writes(const struct index_file *ix)
{
    return ix->pending_len + ix->entry_size > INDEX_FILE_PENDING_MAX;
}

int index_file_write_pending(struct index_file *ix)
{
    size_t done = 0;
    if (ix->pending_len == 0) {
        drop_pending(ix);
        return 0;
    }
    if (ix->fd < 0) {
        return -EBADF;
    }
    off_t at = (off_t)ix->persisted * (off_t)ix->entry_size;
    while (done < ix->pending_len) {
        ssize_t n = pwrite(ix->fd, ix->pending + done, ix->pending_len - done, at + (off_t)done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int rv = n < 0 ? -errno : -EIO;
            /* Derived data: drop the entries rather than fail the append. */
            log_warn("log", "index write failed, dropping entries entries=%u error=%s",
                     ix->entries - ix->persisted, strerror(-rv));
            (void)ftruncate(ix->fd, at);
            drop_pending(ix);
            return rv;
        }
        done += (size_t)n;
    }
    ix->persisted = ix->entries;
    drop_pending(ix);
    return 0;
}

void index_file_append(struct index_file *ix, const uint8_t *entry)
{
    if (index_file_append_writes(ix) && index_file_write_pending(ix) == -EBADF) {
        return; /* no descriptor: a sparser index is still a correct one */
    }
    if (ix->pending_len + ix->entry_size > ix->pending_cap) {
        /* Doubling from a few entries: thousands of partitions each with a
         * few entries waiting cost bytes, not a full buffer each. */
        size_t cap = ix->pending_cap > 0 ? 2 * ix->pending_cap : 8 * ix->entry_size;
        cap = cap < INDEX_FILE_PENDING_MAX ? cap : INDEX_FILE_PENDING_MAX;
        uint8_t *p = realloc(ix->pending, cap);
        if (p == NULL) {
            return; /* no memory: a sparser index is still a correct one */
        }
        ix->pending = p;
        ix->pending_cap = cap;
    }
    memcpy(ix->pending + ix->pending_len, entry, ix->entry_size);
    ix->pending_len += ix->entry_size;
    ix->entries++;
}

int index_file_entry(const struct index_file *ix, uint32_t i, uint8_t *out)
{
    if (i >= ix->persisted) {
        memcpy(out, ix->pending + (size_t)(i - ix->persisted) * ix->entry_size, ix->entry_size);
        return 0;
    }
    if (ix->fd < 0) {
        return -EBADF;
    }
    off_t at = (off_t)i * (off_t)ix->entry_size;
    ssize_t n;
    do {
        n = pread(ix->fd, out, ix->entry_size, at);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)ix->entry_size) {
        return n < 0 ? -errno : -EIO;
    }
    return 0;
}

int index_file_reset(struct index_file *ix)
{
    ix->persisted = 0;
    drop_pending(ix);
    return ftruncate(ix->fd, 0) < 0 ? -errno : 0;
}

int index_file_truncate(struct index_file *ix, uint32_t n)
{
    if (n >= ix->entries) {
        return 0;
    }
    if (n >= ix->persisted) {
        ix->pending_len = (size_t)(n - ix->persisted) * ix->entry_size;
        ix->entries = n;
        return 0;
    }
    if (ix->fd < 0) {
        return -EBADF;
    }
    if (ftruncate(ix->fd, (off_t)n * (off_t)ix->entry_size) < 0) {
        return -errno;
    }
    ix->persisted = n;
    drop_pending(ix);
    return 0;
}

int64_t index_file_floor(const struct index_file *ix, int64_t key,
                         int64_t (*key_at)(const uint8_t *entry))
{
    int64_t lo = 0, hi = (int64_t)ix->entries - 1, found = -1;
    uint8_t e[INDEX_FILE_ENTRY_MAX];
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (index_file_entry(ix, (uint32_t)mid, e) < 0) {
            return -1;
        }
        if (key_at(e) <= key) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}
