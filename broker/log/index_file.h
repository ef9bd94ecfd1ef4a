/* A segment index file: fixed-size big-endian entries appended in order and
 * searched by binary search (the `.index` and `.timeindex` files).
 *
 * Entries are buffered in memory (`pending`) and written in chunks, so an
 * append costs no system call most of the time; lookups see pending entries
 * too. The descriptor may be closed (-1) while entries wait: the segment
 * opens it only to write them out or to read written entries, so appending
 * records needs only the `.log` open (segment.h). Index files are derived data: recovery rebuilds
 * them from the `.log`, so a failed index write only drops entries (the index gets sparser, lookups
 * stay correct) instead of failing the append. Loop thread only. */
#ifndef SLUICE_BROKER_LOG_INDEX_FILE_H
#define SLUICE_BROKER_LOG_INDEX_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INDEX_FILE_PENDING_MAX 4096
#define INDEX_FILE_ENTRY_MAX   16

struct index_file {
    int fd;
    size_t entry_size;  /* 8 (.index) or 12 (.timeindex) */
    uint32_t persisted; /* entries in the file */
    uint32_t entries;   /* persisted + pending */
    size_t pending_len; /* bytes in pending */
    size_t pending_cap; /* bytes allocated, at most INDEX_FILE_PENDING_MAX */
    uint8_t *pending;   /* grown while entries wait and freed once they are written, so
                           idle (sealed) segments cost no buffer and one with a few
                           entries waiting costs a few bytes */
};

/* Take `fd` (ownership transferred: index_file_close closes it and frees
 * the buffer; pending entries not written by then are dropped) whose file
 * holds `persisted` whole entries. */
void index_file_init(struct index_file *ix, int fd, size_t entry_size, uint32_t persisted);
void index_file_close(struct index_file *ix);
/* Close the descriptor only: pending entries and counts stay, for a later
 * index_file_reopen. */
void index_file_close_fd(struct index_file *ix);
/* Take `fd` again (after index_file_close_fd): the file holds the
 * `persisted` entries it had. */
void index_file_reopen(struct index_file *ix, int fd);
/* Whether the next index_file_append writes the buffer out (needs the
 * descriptor). */
bool index_file_append_writes(const struct index_file *ix);

/* Append one entry of entry_size bytes; writes the buffer out when full. */
void index_file_append(struct index_file *ix, const uint8_t *entry);
/* Write pending entries to the file and free the buffer. Returns 0 or
 * -errno (the pending entries are dropped), or -EBADF without a descriptor
 * (the entries stay pending). */
int index_file_write_pending(struct index_file *ix);
/* Copy entry `i` (< entries) into `out`. Returns 0 or -errno (-EBADF: a
 * written entry, and the descriptor is closed). */
int index_file_entry(const struct index_file *ix, uint32_t i, uint8_t *out);
/* Drop all entries (file truncated to 0). */
int index_file_reset(struct index_file *ix);
/* Keep the first `n` entries and drop the rest (n >= entries: nothing to
 * do). The pending buffer always holds entries persisted..entries-1, the
 * tail of the index, so the entries dropped are pending ones first: those
 * at n and beyond leave the buffer, and only when n < persisted is the file
 * cut to n entries, which needs the descriptor (-EBADF without one). Returns
 * 0, or -errno with the index unchanged (a file that could not be cut would
 * otherwise keep stale entries past the new end). */
int index_file_truncate(struct index_file *ix, uint32_t n);

/* Binary search: the last entry whose leading big-endian key (`key_at` picks
 * it out of an entry) is <= `key`. Returns its index, -1 if none (or on a
 * read error, which only makes the caller scan from the segment start). */
int64_t index_file_floor(const struct index_file *ix, int64_t key,
                         int64_t (*key_at)(const uint8_t *entry));

#endif
