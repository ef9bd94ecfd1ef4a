/* The follower's side of a fetch session with its leader (KIP-227;
 * the leader's side is replica_session.h): which partitions the session
 * holds (f->session, sorted by fetcher_session_order) and at what epoch,
 * the partition lists of the next ReplicaFetch (only what is new to the
 * session or changed, and what it must forget), and what an answer does to
 * the session. fetcher.c decides when to fetch and applies the answers.
 * Loop thread only; `f` is always the caller's fetcher, borrowed. */
#ifndef SLUICE_BROKER_REPLICA_FETCHER_SESSION_H
#define SLUICE_BROKER_REPLICA_FETCHER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/replica/fetcher_internal.h"
#include "proto/replica.pb-c.h"

/* The request's partition lists: with a session, the partitions to fetch
 * now (f->sent, sorted) that are new to it or changed, and the session's
 * that are no longer fetched (a leadership change, truncation, a retry
 * backoff, the throttle): the leader must stop counting those as fetched.
 * Without one, all of them. */
struct fetch_lists {
    Sluice__Replica__FetchPartition *parts, **part_ptrs;
    Sluice__Replica__PartitionRef *forgot, **forgot_ptrs;
    size_t n_parts, n_forgot;
};

/* The session's order: <0, 0 or >0 as `topic`-`index` sorts before, as or
 * after `s` (by index, then topic: most comparisons stop at the index). */
int fetcher_session_order(int32_t index, const char *topic, const struct sent *s);
/* `topic`-`index` among the `n` entries of `set` (sorted in the session's
 * order), or NULL. */
struct sent *fetcher_session_find(struct sent *set, size_t n, const char *topic, int32_t index);
/* Start over: the next fetch is full and opens a new session (closing the
 * old one, should the leader still hold it). */
void fetcher_session_drop(struct replica_fetcher *f);
/* Fill `l` (caller's; free it with fetcher_session_lists_free whatever this
 * returns) for fetching f->sent, which it sorts in the session's order.
 * Returns 0, or -1 out of memory. */
int fetcher_session_lists_fill(struct replica_fetcher *f, struct fetch_lists *l);
/* Add `s` to the partitions to fetch of `l`, which has room for it. */
void fetcher_session_list_part(struct replica_fetcher *f, struct fetch_lists *l,
                               const struct sent *s);
/* Free the arrays of `l` (not `l`). */
void fetcher_session_lists_free(struct fetch_lists *l);
/* Whether an answer of session `id` fits the request in flight (epoch
 * f->session_epoch); if not the session is dropped (logged) and the answer
 * must be ignored. */
bool fetcher_session_fits(struct replica_fetcher *f, int32_t id);
/* The answer was applied: the session (if the leader made or kept one, `id`
 * not 0) now holds the request's set: f->sent after a full round (moved
 * into f->session; f->sent is left empty), f->session itself (updated in
 * place) after an incremental one. */
void fetcher_session_answered(struct replica_fetcher *f, int32_t id);

#endif
