/* The partitions that changed, in order; see change_journal.h. */
#include "broker/replica/change_journal.h"

#include <errno.h>
#include <stdlib.h>

int change_journal_init(struct change_journal *j, size_t capacity)
{
    size_t cap = 1;
    while (cap < capacity) {
        cap <<= 1;
    }
    *j = (struct change_journal){0};
    j->ring = calloc(cap, sizeof *j->ring);
    if (j->ring == NULL) {
        return -ENOMEM;
    }
    j->mask = cap - 1;
    j->next = 1; /* a reader at 0 has never read: it looks at everything */
    j->valid_from = 1;
    delayed_key_init(&j->waiters);
    return 0;
}

void change_journal_free(struct change_journal *j)
{
    delayed_key_detach(&j->waiters);
    free(j->ring);
    j->ring = NULL;
}

void change_journal_record(struct change_journal *j, uint32_t slot)
{
    j->ring[j->next & j->mask] = slot;
    j->next++;
    delayed_key_notify(&j->waiters);
}

void change_journal_reset(struct change_journal *j)
{
    j->next++; /* a reader exactly at the end is behind the reset too */
    j->valid_from = j->next;
    delayed_key_notify(&j->waiters);
}

uint64_t change_journal_end(const struct change_journal *j)
{
    return j->next;
}

bool change_journal_holds(const struct change_journal *j, uint64_t since)
{
    return since >= j->valid_from && since <= j->next && j->next - since <= j->mask + 1;
}

uint32_t change_journal_at(const struct change_journal *j, uint64_t seq)
{
    return j->ring[seq & j->mask];
}
