/* The leader-epoch cache (KIP-101, KIP-279) and its checkpoint file. */
#include "broker/log/leader_epoch_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log/log_errors.h"
#include "common/fs_util.h"

#define CHECKPOINT_VERSION 0
/* "<int32> <int64>\n" at most. */
#define CHECKPOINT_LINE_MAX 32

void leader_epoch_cache_init(struct leader_epoch_cache *c)
{
    memset(c, 0, sizeof *c);
}

void leader_epoch_cache_free(struct leader_epoch_cache *c)
{
    free(c->entries);
    leader_epoch_cache_init(c);
}

void leader_epoch_cache_clear(struct leader_epoch_cache *c)
{
    c->count = 0;
}

static const struct leader_epoch_entry *latest(const struct leader_epoch_cache *c)
{
    return c->count > 0 ? &c->entries[c->count - 1] : NULL;
}

static int reserve(struct leader_epoch_cache *c, size_t n)
{
    if (n <= c->cap) {
        return 0;
    }
    size_t cap = c->cap ? c->cap * 2 : 8;
    while (cap < n) {
        cap *= 2;
    }
    struct leader_epoch_entry *e = realloc(c->entries, cap * sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    c->entries = e;
    c->cap = cap;
    return 0;
}

int leader_epoch_cache_assign(struct leader_epoch_cache *c, int32_t epoch, int64_t start_offset)
{
    if (epoch < 0 || start_offset < 0) {
        return -EINVAL;
    }
    const struct leader_epoch_entry *last = latest(c);
    /* The same epoch seen again later (every batch of a follower append) keeps
     * its first offset. */
    if (last != NULL && last->epoch == epoch && start_offset >= last->start_offset) {
        return 0;
    }
    if (reserve(c, c->count + 1) < 0) {
        return -ENOMEM;
    }
    /* An older epoch, or the latest one starting earlier, means the entries
     * after the conflict describe a history that is no longer in the log:
     * drop them so epochs and offsets stay monotonic (Kafka's
     * maybeTruncateNonMonotonicEntries). */
    while (c->count > 0 && (c->entries[c->count - 1].epoch >= epoch ||
                            c->entries[c->count - 1].start_offset >= start_offset)) {
        c->count--;
    }
    c->entries[c->count++] = (struct leader_epoch_entry){epoch, start_offset};
    return 1;
}

int32_t leader_epoch_cache_latest_epoch(const struct leader_epoch_cache *c)
{
    return c->count > 0 ? c->entries[c->count - 1].epoch : LEADER_EPOCH_UNDEFINED;
}

int32_t leader_epoch_cache_epoch_for_offset(const struct leader_epoch_cache *c, int64_t offset)
{
    int32_t found = LEADER_EPOCH_UNDEFINED;
    for (size_t i = 0; i < c->count && c->entries[i].start_offset <= offset; i++) {
        found = c->entries[i].epoch;
    }
    return found;
}

/* Index of the first entry with epoch > `epoch` (count if none). */
static size_t first_above(const struct leader_epoch_cache *c, int32_t epoch)
{
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->entries[mid].epoch <= epoch) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

struct leader_epoch_end leader_epoch_cache_end_offset_for(const struct leader_epoch_cache *c,
                                                          int32_t requested, int64_t log_end_offset)
{
    struct leader_epoch_end undefined = {LEADER_EPOCH_UNDEFINED, LEADER_EPOCH_UNDEFINED_OFFSET};
    if (requested == LEADER_EPOCH_UNDEFINED || c->count == 0) {
        return undefined;
    }
    /* The latest epoch is still being written: it ends at the log end. */
    if (requested == leader_epoch_cache_latest_epoch(c)) {
        return (struct leader_epoch_end){requested, log_end_offset};
    }
    size_t higher = first_above(c, requested);
    if (higher == c->count) {
        return undefined;
    }
    int64_t end = c->entries[higher].start_offset;
    if (higher == 0) {
        /* Older than anything we hold: that history was deleted; the answer
         * lets the follower replicate from our first epoch. */
        return (struct leader_epoch_end){requested, end};
    }
    return (struct leader_epoch_end){c->entries[higher - 1].epoch, end};
}

bool leader_epoch_cache_truncate_from_end(struct leader_epoch_cache *c, int64_t end_offset)
{
    size_t before = c->count;
    if (end_offset < 0) {
        return false;
    }
    while (c->count > 0 && c->entries[c->count - 1].start_offset >= end_offset) {
        c->count--;
    }
    return c->count != before;
}

bool leader_epoch_cache_truncate_from_start(struct leader_epoch_cache *c, int64_t start_offset)
{
    size_t keep_from = 0;
    if (start_offset < 0 || c->count == 0 || c->entries[0].start_offset >= start_offset) {
        return false;
    }
    /* The last entry starting at or below the new start holds it. */
    while (keep_from + 1 < c->count && c->entries[keep_from + 1].start_offset <= start_offset) {
        keep_from++;
    }
    memmove(c->entries, c->entries + keep_from, (c->count - keep_from) * sizeof *c->entries);
    c->count -= keep_from;
    c->entries[0].start_offset = start_offset;
    return true;
}

/* ---- checkpoint ---- */

enum checkpoint_sync { CHECKPOINT_UNSYNCED, CHECKPOINT_FILE_SYNCED, CHECKPOINT_SYNCED };

static int write_checkpoint(const struct leader_epoch_entry *entries, size_t n, const char *dir,
                            enum checkpoint_sync sync)
{
    size_t cap = 32 + n * CHECKPOINT_LINE_MAX, len;
    char *text = malloc(cap);
    if (text == NULL) {
        return -ENOMEM;
    }
    len = (size_t)snprintf(text, cap, "%d\n%zu\n", CHECKPOINT_VERSION, n);
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(text + len, cap - len, "%" PRId32 " %" PRId64 "\n",
                                entries[i].epoch, entries[i].start_offset);
    }
    int rv;
    switch (sync) {
    case CHECKPOINT_SYNCED:
        rv = fs_write_atomic(dir, LEADER_EPOCH_CHECKPOINT_FILE, text, len);
        break;
    case CHECKPOINT_FILE_SYNCED:
        rv = fs_write_replace_synced(dir, LEADER_EPOCH_CHECKPOINT_FILE, text, len);
        break;
    default:
        rv = fs_write_replace(dir, LEADER_EPOCH_CHECKPOINT_FILE, text, len);
        break;
    }
    free(text);
    return rv;
}

int leader_epoch_cache_write(const struct leader_epoch_cache *c, const char *dir)
{
    return write_checkpoint(c->entries, c->count, dir, CHECKPOINT_SYNCED);
}

int leader_epoch_cache_write_unsynced(const struct leader_epoch_cache *c, const char *dir)
{
    return write_checkpoint(c->entries, c->count, dir, CHECKPOINT_UNSYNCED);
}

int leader_epoch_checkpoint_write_entries(const char *dir, const struct leader_epoch_entry *entries,
                                          size_t n)
{
    return write_checkpoint(entries, n, dir, CHECKPOINT_FILE_SYNCED);
}

/* Parse one non-negative decimal number ending at `sep`; advances *p. */
static bool parse_number(const char **p, char sep, int64_t max, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (max - (*s - '0')) / 10) {
            return false;
        }
        v = v * 10 + (*s - '0');
    }
    if (*s != sep) {
        return false;
    }
    *p = s + 1;
    *out = v;
    return true;
}

static int parse_entries(struct leader_epoch_cache *c, const char *p, char *err, size_t errlen)
{
    int64_t version, count, epoch, offset;
    if (!parse_number(&p, '\n', INT32_MAX, &version) || version != CHECKPOINT_VERSION) {
        snprintf(err, errlen, "bad version line");
        return LOG_ERR_CORRUPT;
    }
    /* Every entry needs at least 4 bytes ("0 0\n"): bound the count by the
     * file before reserving anything. */
    if (!parse_number(&p, '\n', INT64_MAX, &count) || count > (int64_t)strlen(p) / 4) {
        snprintf(err, errlen, "bad entry count line");
        return LOG_ERR_CORRUPT;
    }
    if (reserve(c, (size_t)count) < 0) {
        return -ENOMEM;
    }
    for (int64_t i = 0; i < count; i++) {
        if (!parse_number(&p, ' ', INT32_MAX, &epoch) ||
            !parse_number(&p, '\n', INT64_MAX, &offset)) {
            snprintf(err, errlen, "bad entry line %" PRId64, i + 1);
            return LOG_ERR_CORRUPT;
        }
        const struct leader_epoch_entry *last = latest(c);
        if (last != NULL && (epoch <= last->epoch || offset < last->start_offset)) {
            snprintf(err, errlen,
                     "entry %" PRId64 " (%" PRId64 " %" PRId64 ") does not follow (%" PRId32
                     " %" PRId64 ")",
                     i + 1, epoch, offset, last->epoch, last->start_offset);
            return LOG_ERR_CORRUPT;
        }
        c->entries[c->count++] = (struct leader_epoch_entry){(int32_t)epoch, offset};
    }
    if (*p != '\0') {
        snprintf(err, errlen, "trailing bytes after %" PRId64 " entries", count);
        return LOG_ERR_CORRUPT;
    }
    return 0;
}

/* Read the whole file (at most LEADER_EPOCH_CHECKPOINT_MAX_BYTES) into a
 * NUL-terminated buffer the caller frees. */
static int slurp(int fd, char **out, char *err, size_t errlen)
{
    size_t cap = 4096, len = 0;
    char *text = malloc(cap + 1);
    for (;;) {
        if (text == NULL) {
            return -ENOMEM;
        }
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int rv = -errno;
            free(text);
            return rv;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len == cap && cap >= LEADER_EPOCH_CHECKPOINT_MAX_BYTES) {
            free(text);
            snprintf(err, errlen, "larger than %d bytes", LEADER_EPOCH_CHECKPOINT_MAX_BYTES);
            return LOG_ERR_CORRUPT;
        }
        if (len == cap) {
            char *grown = realloc(text, cap * 2 + 1);
            if (grown == NULL) {
                free(text);
            }
            text = grown;
            cap *= 2;
        }
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        free(text);
        snprintf(err, errlen, "contains NUL bytes");
        return LOG_ERR_CORRUPT;
    }
    *out = text;
    return 0;
}

int leader_epoch_cache_read(struct leader_epoch_cache *c, const char *dir, char *err, size_t errlen)
{
    char path[4096], *text = NULL;
    leader_epoch_cache_clear(c);
    err[0] = '\0';
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, LEADER_EPOCH_CHECKPOINT_FILE) >=
        sizeof path) {
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rv = slurp(fd, &text, err, errlen);
    close(fd);
    if (rv == 0) {
        rv = leader_epoch_cache_parse(c, text, err, errlen);
        free(text);
    }
    return rv;
}

int leader_epoch_cache_parse(struct leader_epoch_cache *c, const char *text, char *err,
                             size_t errlen)
{
    leader_epoch_cache_clear(c);
    err[0] = '\0';
    int rv = parse_entries(c, text, err, errlen);
    if (rv < 0) {
        leader_epoch_cache_clear(c);
    }
    return rv;
}

/* ---- the follower's truncation decision ---- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

struct leader_epoch_truncation
leader_epoch_truncation_decide(const struct leader_epoch_cache *follower, int64_t follower_leo,
                               int32_t leader_epoch, int64_t leader_end_offset)
{
    if (leader_end_offset == LEADER_EPOCH_UNDEFINED_OFFSET || leader_end_offset < 0) {
        return (struct leader_epoch_truncation){follower_leo, true};
    }
    if (leader_epoch == LEADER_EPOCH_UNDEFINED) {
        return (struct leader_epoch_truncation){min64(leader_end_offset, follower_leo), true};
    }
    struct leader_epoch_end mine =
        leader_epoch_cache_end_offset_for(follower, leader_epoch, follower_leo);
    if (mine.end_offset == LEADER_EPOCH_UNDEFINED_OFFSET) {
        /* We hold no epoch at or below the leader's: our whole log is newer
         * than what the leader can vouch for. */
        return (struct leader_epoch_truncation){min64(leader_end_offset, follower_leo), true};
    }
    if (mine.epoch != leader_epoch) {
        /* We never had the leader's epoch: cut to where our epoch below it
         * ends and ask again about that epoch. */
        return (struct leader_epoch_truncation){min64(mine.end_offset, follower_leo), false};
    }
    int64_t offset = min64(min64(mine.end_offset, leader_end_offset), follower_leo);
    return (struct leader_epoch_truncation){offset, true};
}
