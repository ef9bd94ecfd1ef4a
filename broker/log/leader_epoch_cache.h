/* The leader-epoch cache of one partition: Kafka's LeaderEpochFileCache
 * (KIP-101, KIP-279). It maps each leader epoch that has data in the log to
 * the offset of its first record, so that a replica can answer "where does
 * epoch E end?" (OffsetForLeaderEpoch) and a follower can find where its log
 * diverges from the leader's instead of trusting its high watermark.
 *
 * Invariants kept by every function: epochs strictly increase, start offsets
 * never decrease, and every epoch and offset is >= 0.
 *
 * Persistence: `leader-epoch-checkpoint` in the partition directory, Kafka's
 * text format ("0\n<count>\n" then one "<epoch> <start offset>" line per
 * entry), replaced atomically (common/fs_util). Reading checks every line and
 * the invariants, so a torn or edited file is reported as corrupt and the
 * caller rebuilds the cache from the log's batches.
 *
 * The struct is the caller's (usually embedded in the partition log); the
 * entry array is owned by the cache. Not thread-safe: the partition's loop
 * thread only (leader_epoch_checkpoint_write_entries, on a copy, excepted). Pure memory functions
 * never log; errors are returned. */
#ifndef SLUICE_BROKER_LOG_LEADER_EPOCH_CACHE_H
#define SLUICE_BROKER_LOG_LEADER_EPOCH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEADER_EPOCH_CHECKPOINT_FILE "leader-epoch-checkpoint"

/* Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET. */
#define LEADER_EPOCH_UNDEFINED        (-1)
#define LEADER_EPOCH_UNDEFINED_OFFSET (-1)

/* A checkpoint larger than this is refused as corrupt (and the cache rebuilt
 * from the log) rather than read: retention keeps the real list short. */
#define LEADER_EPOCH_CHECKPOINT_MAX_BYTES (4 << 20)

struct leader_epoch_entry {
    int32_t epoch;
    int64_t start_offset;
};

struct leader_epoch_cache {
    struct leader_epoch_entry *entries; /* owned; sorted by epoch */
    size_t count, cap;
};

/* An (epoch, end offset) answer; both UNDEFINED when there is none. */
struct leader_epoch_end {
    int32_t epoch;
    int64_t end_offset;
};

void leader_epoch_cache_init(struct leader_epoch_cache *c);
/* Free the entries; the cache is empty and reusable afterwards. */
void leader_epoch_cache_free(struct leader_epoch_cache *c);
void leader_epoch_cache_clear(struct leader_epoch_cache *c);

/* Record that `epoch` starts at `start_offset` (both append paths and a new
 * leader's election call it). Kafka's rules: the latest epoch assigned again
 * at the same or a later offset changes nothing (its start stays the first
 * offset seen); otherwise every entry whose epoch is >= `epoch` or whose start
 * is >= `start_offset` is dropped first (a conflicting history was truncated
 * away), and the new entry appended. Returns 1 if the cache changed, 0 if
 * not, -EINVAL for a negative epoch or offset, -ENOMEM. */
int leader_epoch_cache_assign(struct leader_epoch_cache *c, int32_t epoch, int64_t start_offset);

/* Latest epoch, or LEADER_EPOCH_UNDEFINED when empty. */
int32_t leader_epoch_cache_latest_epoch(const struct leader_epoch_cache *c);

/* The epoch of the record at `offset`: the last entry starting at or below
 * it, or LEADER_EPOCH_UNDEFINED if `offset` is below the first entry. */
int32_t leader_epoch_cache_epoch_for_offset(const struct leader_epoch_cache *c, int64_t offset);

/* Kafka's endOffsetFor: the largest epoch <= `requested` and the offset where
 * it ends, i.e. the start of the next higher epoch, or `log_end_offset` when
 * `requested` is the latest epoch. A `requested` below the first entry
 * answers (requested, start of the first entry): that history is gone from
 * the log, replicate from there. UNDEFINED for an UNDEFINED request, an empty
 * cache, or a `requested` above the latest epoch. */
struct leader_epoch_end leader_epoch_cache_end_offset_for(const struct leader_epoch_cache *c,
                                                          int32_t requested,
                                                          int64_t log_end_offset);

/* Log truncation: drop every entry starting at or above `end_offset`. A
 * negative `end_offset` does nothing. Returns true if anything changed. */
bool leader_epoch_cache_truncate_from_end(struct leader_epoch_cache *c, int64_t end_offset);

/* The log start moved to `start_offset` (retention, DeleteRecords): drop the
 * entries wholly below it and move the start of the epoch that contains it up
 * to `start_offset` (the latest entry is always kept). A negative offset does
 * nothing. Returns true if anything changed. */
bool leader_epoch_cache_truncate_from_start(struct leader_epoch_cache *c, int64_t start_offset);

/* Write the checkpoint `<dir>/leader-epoch-checkpoint` atomically.
 * Synchronous (fsync). Returns 0 or -errno. */
int leader_epoch_cache_write(const struct leader_epoch_cache *c, const char *dir);
/* The same without fsync (fs_write_replace): the partition log fsyncs the
 * file with the data it describes, before its recovery point passes it. */
int leader_epoch_cache_write_unsynced(const struct leader_epoch_cache *c, const char *dir);
/* Write `n` entries (borrowed: a copy of a cache's, in its order) as the
 * checkpoint `<dir>/leader-epoch-checkpoint`, in the same format: a .tmp
 * file, fsynced, renamed over it; the caller fsyncs `dir`. It touches only
 * its arguments, so a thread pool may run it on a copy of the cache while
 * the loop changes the cache itself (the partition log's flush, log_flush.c).
 * Returns 0 or -errno. */
int leader_epoch_checkpoint_write_entries(const char *dir, const struct leader_epoch_entry *entries,
                                          size_t n);

/* Replace the cache's contents with `<dir>/leader-epoch-checkpoint`. Returns
 * 0; -ENOENT when there is none; LOG_ERR_CORRUPT with `err` saying what is
 * wrong (bad version, count, line, non-increasing epochs or offsets, too
 * large, trailing bytes); -ENOMEM or -errno. On any error the cache is left
 * empty. */
int leader_epoch_cache_read(struct leader_epoch_cache *c, const char *dir, char *err,
                            size_t errlen);

/* Parse checkpoint text (NUL-terminated, borrowed) into the cache, with the
 * same checks and results as leader_epoch_cache_read (which uses it). */
int leader_epoch_cache_parse(struct leader_epoch_cache *c, const char *text, char *err,
                             size_t errlen);

/* The follower's truncation decision (KIP-279). The follower asked the
 * leader for the end offset of its latest epoch; the leader answered
 * (`leader_epoch`, `leader_end_offset`). `follower` and `follower_leo` are
 * the follower's cache and log end offset.
 * - The leader knows the epoch: truncate to min(both ends of that epoch,
 *   follower_leo); done.
 * - The leader answered an older epoch the follower's log does not have:
 *   truncate to where the follower's largest epoch below it ends, then ask
 *   again with the follower's new latest epoch (done = false). Each round the
 *   asked epoch falls, so the exchange ends.
 * - The leader knows no epoch (UNDEFINED offset: it has no epoch <= ours):
 *   nothing is known to diverge, so nothing is cut (offset = follower_leo);
 *   fetching then settles the rest (an out-of-range answer truncates to the
 *   leader's log end). The high watermark is never used as a guess.
 * `offset` >= follower_leo means "nothing to truncate". */
struct leader_epoch_truncation {
    int64_t offset;
    bool done;
};
struct leader_epoch_truncation
leader_epoch_truncation_decide(const struct leader_epoch_cache *follower, int64_t follower_leo,
                               int32_t leader_epoch, int64_t leader_end_offset);

#endif
