/* The hosted partitions whose replication-visible state changed (log end,
 * log start, high watermark, role, leader epoch), in the order they changed.
 *
 * A leader serves each follower's fetch session (replica_session.h) from
 * it: the partitions to look at for a fetch are the ones the follower named,
 * plus those the journal recorded since the session's last answer, instead
 * of every partition of the session (thousands at scale, each a walk over
 * cold memory). Parked session fetches watch `waiters`, notified on every
 * record, and read only the records after their own position.
 *
 * Partitions are recorded by slot (replica_manager numbers its partitions
 * densely; a slot is reused after its partition is freed, which the manager
 * signals separately). The ring is bounded: a reader further behind than it
 * holds, or behind a reset, is told so and must look at everything it
 * serves. Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_CHANGE_JOURNAL_H
#define SLUICE_BROKER_REPLICA_CHANGE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/replica/delayed_op.h"

struct change_journal {
    uint32_t *ring; /* slots; record `seq` is ring[seq & mask] */
    uint64_t mask;
    uint64_t next;       /* the sequence number the next record gets */
    uint64_t valid_from; /* records before this one do not tell everything (a reset) */
    struct delayed_key waiters;
};

/* Hold the last `capacity` records (rounded up to a power of two). Returns
 * 0 or -ENOMEM. */
int change_journal_init(struct change_journal *j, size_t capacity);
/* Detach the waiters (they finish at their deadline) and free the ring. */
void change_journal_free(struct change_journal *j);

/* Slot `slot`'s partition changed: record it and ask every waiter. */
void change_journal_record(struct change_journal *j, uint32_t slot);
/* Something changed that the records do not name (every partition may
 * look different now): readers from before must look at everything. */
void change_journal_reset(struct change_journal *j);

/* The sequence number after the last record: a reader's position. */
uint64_t change_journal_end(const struct change_journal *j);
/* Whether the records from `since` to the end are all held (and nothing
 * was reset since): if not, the reader must look at everything. */
bool change_journal_holds(const struct change_journal *j, uint64_t since);
/* Record `seq`'s slot; `seq` within what change_journal_holds allowed. */
uint32_t change_journal_at(const struct change_journal *j, uint64_t seq);

#endif
