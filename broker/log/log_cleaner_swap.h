/* The cleaner's swap (log_cleaner_swap.c): putting a clean's rewritten
 * segments in place of their sources, crash-safely, once the rewrite
 * (log_cleaner.c) is done; and, at open, the recovery of a swap a crash
 * interrupted. Internal to broker/log: the job below is shared by the two
 * halves of a clean, and by nothing else.
 *
 * Each rewritten segment is swapped on the thread pool in three steps, each
 * leaving a state recovery finishes or undoes (log_cleaner_recover):
 *   1. `.log.cleaned` -> `.log.swap`, directory fsynced: the commit;
 *   2. the `.cleaned` indexes -> `.index`, `.timeindex`;
 *   3. `.log.swap` -> `.log`; the segment is opened (no descriptor cache: the
 *      loop lists it in the log's) and the loop installs it.
 * Nothing on the loop names the source segments' files meanwhile: the job's
 * references keep all their descriptors open (the cache closes no segment
 * held by another), so readers keep the old inodes until the install. What
 * would name them (a deletion, a truncation, a close) first calls
 * log_cleaner_settle (partition_log_internal.h), which takes swap_lock: the
 * pool holds it only around steps, never across an fsync, so the loop waits
 * at most for a segment's renames and the open of its cleaned files. The
 * open stays under the lock: a settle must find every segment in place
 * already opened, or it would leave the log naming files its old segment's
 * descriptors no longer are. */
#ifndef SLUICE_BROKER_LOG_LOG_CLEANER_SWAP_H
#define SLUICE_BROKER_LOG_LOG_CLEANER_SWAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "broker/log/offset_map.h"
#include "broker/log/partition_log_internal.h"

#define CLEAN_PATH_MAX 4096

enum swap_state {
    SWAP_NONE,      /* `.log.cleaned` (or nothing): the old files are the segment */
    SWAP_COMMITTED, /* `.log.swap`: recovery installs it */
    SWAP_IN_PLACE,  /* the cleaned files carry the segment's names */
};

struct clean_src {
    struct segment *seg; /* one reference */
    int64_t base, size, next_offset;
    bool rewritten; /* .cleaned files written and differing from the source */
    int64_t max_ts, max_ts_offset, first_batch_ts, time_index_last_ts;
    int64_t created_ms;
    /* the swap (log_cleaner_swap.c), under the job's swap_lock */
    bool gone;               /* left the log before the swap: not swapped */
    enum swap_state state;   /* how far its files are swapped */
    struct segment *cleaned; /* opened after the swap, until installed */
};

struct clean_job {
    uv_work_t work;
    uv_loop_t *loop;
    struct partition_log *log; /* NULL once the log closed */
    atomic_bool cancelled;     /* set by the loop when the log closes: stop early */
    char *dir;
    struct clean_src *src;
    size_t nsrc;       /* segments referenced */
    size_t n;          /* segments [0, n) are rewritten (n <= nsrc) */
    size_t dirty_from; /* [dirty_from, n) feed the offset map */
    int64_t map_end;   /* base of the first segment not cleaned */
    int64_t now_ms, delete_retention_ms;
    int32_t index_interval_bytes;
    struct log_cleaner_limits lim;
    uint64_t truncations;
    log_clean_cb cb;
    void *data;
    struct log_clean_stats st;
    /* pool-side state */
    struct offset_map map;
    uint8_t *batch;
    size_t batch_cap;
    uint8_t *out; /* the rewritten batch */
    size_t out_cap;
    uint8_t *plain; /* a compressed batch's records, decompressed */
    uint8_t *kept;  /* the records a rewritten batch keeps */
    size_t kept_cap;
    bool warned; /* an undecodable batch was logged */
    struct timespec started;
    /* the swap (log_cleaner_swap.c): a second piece of pool work once the
     * rewrite is done */
    bool swapping;
    uv_mutex_t swap_lock; /* the pool renames under it; the loop settles under it */
    bool swap_lock_init;
    bool swap_aborted; /* set by the loop (settle, close): the pool renames nothing more */
    int swap_status;   /* the swap's result; on entry nonzero: only remove the files */
    int swap_fault;    /* a step after a commit failed: the log must stop */
    int crash_after;   /* tests: stop after this step as a crash would */
};

/* ---- the swap (log_cleaner_swap.c), loop thread ---- */

/* The rewrite is done (`void_rv` 0), or failed or was voided (`void_rv`
 * negative: the swap only removes the `.cleaned` files): queue the swap on
 * the thread pool. Returns 0 when queued: the job is the swap's from then on,
 * and its completion installs the swapped segments, moves the log's clean
 * offset and ends the job (log_cleaner_finish). Otherwise a negative libuv
 * error, and the job is still the caller's. */
int log_cleaner_swap_start(struct partition_log *log, struct clean_job *job, int void_rv);
/* Stop a swap in flight where it is (the job must be swapping): a segment
 * swapped into place is installed in `log` (NULL: the log is closing, it is
 * not), one only committed gets its `.log.cleaned` name back, and the pool
 * renames nothing more. Waits at most for one segment's renames and open. */
void log_cleaner_swap_settle(struct partition_log *log, struct clean_job *job);

/* ---- from the rewrite (log_cleaner.c), for the swap ---- */

/* `<segment path><ext>` into `out` (CLEAN_PATH_MAX bytes): 0 or -ENAMETOOLONG. */
int log_cleaner_path(char *out, const struct clean_src *src, const char *ext);
/* Remove the segment's `.cleaned` files (those that exist). */
void log_cleaner_unlink_cleaned(const struct clean_src *src);
/* End the job with `rv` (1: a simulated crash, reported as 0): log the
 * outcome, call its callback, free it. `log` is NULL once it closed. */
void log_cleaner_finish(struct clean_job *job, struct partition_log *log, int rv);

#endif
