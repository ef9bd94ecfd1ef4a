/* A bound on the descriptors segment files hold: an LRU of entries (one per
 * segment) that have their files open, across all the logs that share it
 * (the broker has one, sized by log.max.open.files).
 *
 * Kafka keeps every segment's files open (and its indexes mapped), so a
 * broker's descriptors grow with partitions x segments. Here a segment opens
 * its files when used and the least recently used are closed once the
 * descriptors held pass the limit: descriptors follow the active segments.
 *
 * An entry that cannot be closed now (its owner's `close` callback says no:
 * a read in flight or a background fsync holds the segment) is skipped and
 * moved to the front, so the walk is bounded; the limit may then be passed
 * until such entries are released (a soft limit, never a refused read).
 *
 * Loop thread only, no locks: the thread pool works only on entries that
 * cannot be closed. */
#ifndef SLUICE_BROKER_LOG_FILE_CACHE_H
#define SLUICE_BROKER_LOG_FILE_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct file_cache;

struct file_cache_entry {
    struct file_cache_entry *prev, *next; /* in the cache's list, most recent first */
    struct file_cache *cache;             /* NULL: files closed (or not cached) */
    size_t fds;                           /* descriptors held while listed */
};

/* Close the entry's files and return true, or return false if it is in use
 * (then it stays open and listed). Must not call back into the cache. */
typedef bool (*file_cache_close_fn)(struct file_cache_entry *e);

struct file_cache {
    size_t max_fds;
    size_t open_fds; /* sum of the listed entries' fds */
    size_t entries;
    struct file_cache_entry head; /* sentinel of the circular list */
    file_cache_close_fn close;
    unsigned long long evictions; /* entries closed to keep the bound */
    /* Descriptors being opened on the thread pool for entries not listed
     * yet (spare segments, log_spare.c): the bound counts them already. */
    size_t reserved_fds;
};

/* max_fds 0: unbounded (entries are still listed and counted). */
void file_cache_init(struct file_cache *c, size_t max_fds, file_cache_close_fn close);

/* `e` (closed) has just opened `fds` descriptors: list it as the most recent,
 * then close least recently used entries while the bound is passed. */
void file_cache_opened(struct file_cache *c, struct file_cache_entry *e, size_t fds);
/* A listed entry opened (or closed) descriptors of its own: adjust its count. */
void file_cache_add_fds(struct file_cache_entry *e, size_t fds);
/* `e` is being used: the most recent. No-op if not listed. */
void file_cache_touch(struct file_cache_entry *e);
/* The owner closed `e`'s files itself (or frees it): unlist. No-op if not listed. */
void file_cache_forget(struct file_cache_entry *e);
/* Close least recently used entries (except `keep`, may be NULL) until the
 * bound holds or every listed entry has been offered once. */
void file_cache_trim(struct file_cache *c, const struct file_cache_entry *keep);
/* Close every entry that can be closed (shutdown, tests). */
void file_cache_close_idle(struct file_cache *c);

#endif
