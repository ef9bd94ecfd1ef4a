/* Incremental fetch sessions for follower fetches (KIP-227, as Kafka's
 * followers use them: FetchSession on the leader), the leader's cache.
 *
 * A follower's first request of a session names every partition it fetches
 * from this leader; later ones name only the partitions new to the session
 * or whose fetch offset, epochs or log start changed, and list the ones it dropped as
 * forgotten. The leader serves the session's whole set each time: a
 * partition left out is fetched again at the offset, epochs and max bytes
 * last sent, so the follower's progress is recorded for every partition of
 * the session on every fetch (its caught-up time, the ISR and the high
 * watermark see what they saw before sessions). An answer names only the
 * partitions with records, with an error, or whose high watermark, log start
 * or log end differ from what this session was last told; a partition the
 * follower named explicitly (new or changed) is always answered.
 *
 * Request epochs (proto/replica.proto): 0 no session (the whole set is in
 * the request, the whole answer goes back, as brokers without sessions
 * fetch); 1 opens a session (closing the one named); N >= 2 continues it.
 * An unknown session (another follower's counts as unknown) answers
 * FETCH_SESSION_ID_NOT_FOUND, a wrong epoch INVALID_FETCH_SESSION_EPOCH; the
 * follower then opens a new session with a full request.
 *
 * Bounds: at most `max_sessions` sessions (the caller's bound, passed on
 * each request; a new one evicts the least recently used) and
 * REPLICA_SESSION_MAX_PARTITIONS partitions in one session (a request past
 * that gets no session: it is served as sessionless; a continued session
 * grown past it is dropped). Nothing is allocated for what a request claims
 * beyond the partitions it carries.
 *
 * Pure bookkeeping: no clock, no partitions. Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_REPLICA_SESSION_H
#define SLUICE_BROKER_REPLICA_REPLICA_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/replica.pb-c.h"

#define REPLICA_SESSION_EPOCH_NONE 0 /* sessionless: full request, full answer */
#define REPLICA_SESSION_EPOCH_NEW  1 /* full request opening a session */
/* The most partitions one follower fetch names: a follower of more from
 * one leader (in one fetcher slot) fetches them in turns, a window of this
 * many a request (fetcher.c). */
#define REPLICA_FETCH_MAX_PARTITIONS 4096
/* A session holds the window its follower last named. The request that
 * moves it to the next window adds that window's partitions before it
 * forgets the last one's (as Kafka's FetchSession.update), so a session
 * holds up to two requests' worth for a moment: a bound below that would
 * drop the session at each move. Derived, so that raising the request's
 * bound raises it too. */
#define REPLICA_SESSION_MAX_PARTITIONS (2 * REPLICA_FETCH_MAX_PARTITIONS)

/* ReplicaFetchRequest.version: 2 carries each partition's log start offset
 * (FetchPartition.log_start_offset); before it, unknown. */
#define REPLICA_FETCH_VERSION           2
#define REPLICA_FETCH_VERSION_LOG_START 2

/* Kafka's error codes for a session the leader cannot continue. */
#define REPLICA_SESSION_ERR_NOT_FOUND     70 /* FETCH_SESSION_ID_NOT_FOUND */
#define REPLICA_SESSION_ERR_INVALID_EPOCH 71 /* INVALID_FETCH_SESSION_EPOCH */

struct replica_session_cache;

/* NULL without memory. `seed` varies the session ids (a restarted leader
 * must not hand out the ids its previous incarnation did). `free_state`
 * (may be NULL) frees what the caller kept with a session
 * (replica_session_state) when the session goes. */
struct replica_session_cache *replica_session_cache_new(uint64_t seed,
                                                        void (*free_state)(void *state));
void replica_session_cache_free(struct replica_session_cache *c);
size_t replica_session_cache_count(const struct replica_session_cache *c);
/* Partitions held across all sessions. */
size_t replica_session_cache_partitions(const struct replica_session_cache *c);

/* A request resolved against the cache: the partitions to serve. */
struct replica_session_fetch {
    int32_t error;      /* REPLICA_SESSION_ERR_*: answer that alone; else 0 */
    int32_t session_id; /* to answer with; 0: sessionless, answer every partition */
    bool fresh;         /* sessionless or a new session: the request named every partition */
    /* The whole set to serve, in the order to answer: the request's own
     * (sessionless), a copy of the session's owned by this struct (so it
     * stays valid while the fetch is parked, whatever happens to the
     * session meanwhile), or without a copy NULL: partition i is then the
     * session's i-th (replica_session_part) while its layout stays. */
    const Sluice__Replica__FetchPartition *const *partitions;
    size_t n_partitions;
    uint64_t layout; /* the session's layout (its partitions' order) when resolved */
    void *copy;      /* private */
};

/* Resolve `req` (from follower req->replica_id) at `now_ms` with at most
 * `max_sessions` sessions (>= 1), copying the session's set into `out` if
 * `copy`. Returns 0, or -ENOMEM (`out` then serves the request as
 * sessionless when the request's epoch allows, else answers
 * FETCH_SESSION_ID_NOT_FOUND). `req` must outlive `out` when sessionless. */
int replica_session_resolve(struct replica_session_cache *c,
                            const Sluice__Replica__ReplicaFetchRequest *req, size_t max_sessions,
                            uint64_t now_ms, bool copy, struct replica_session_fetch *out);
void replica_session_fetch_release(struct replica_session_fetch *f);

/* Without a copy: whether `f`'s session still holds the layout it was
 * resolved with (it may have been evicted, or changed by a later request). */
bool replica_session_unchanged(const struct replica_session_cache *c,
                               const struct replica_session_fetch *f);
/* Without a copy, the session unchanged: its partition `i` as a request
 * entry (the topic is the session's: valid until the session changes), and
 * in `told_hw` (may be NULL) the high watermark it was last told, or -1. */
void replica_session_part(const struct replica_session_cache *c,
                          const struct replica_session_fetch *f, size_t i,
                          Sluice__Replica__FetchPartition *out, int64_t *told_hw);
/* The session indices of the partitions `req` (what `f` was resolved
 * from) named, into `out` (room for req->n_partitions); the count. */
size_t replica_session_named(const struct replica_session_cache *c,
                             const struct replica_session_fetch *f,
                             const Sluice__Replica__ReplicaFetchRequest *req, size_t *out);
/* The caller's pointer kept with `f`'s session (NULL at first), or NULL if
 * sessionless or the session is gone. */
void **replica_session_state(const struct replica_session_cache *c,
                             const struct replica_session_fetch *f);

/* Whether partition `i` of `f` goes into the answer with these values,
 * recording what the session is told. Sessionless, the session gone
 * meanwhile, or no cache (`c` NULL: stopping): always. */
bool replica_session_should_send(struct replica_session_cache *c,
                                 const struct replica_session_fetch *f, size_t i,
                                 const Sluice__Replica__FetchedPartition *answer);

#endif
