/* The follower side of replication (Kafka's ReplicaFetcherThread): one
 * fetcher per (leader broker, slot) keeps one RPC connection to the
 * leader's inter-broker listener and pulls every partition this broker
 * follows there (num.replica.fetchers slots split them by hash).
 *
 * Each round, partitions that just became followers first ask the leader
 * where their last epoch ends (OffsetsForLeaderEpoch) and cut what diverges
 * (leader_epoch_truncation_decide: never to the high watermark blindly);
 * then one ReplicaFetch long-polls for all of them, in an incremental fetch
 * session (KIP-227, replica_session.h): only partitions new to the session
 * or whose fetch offset or epochs changed are named, those no longer
 * fetched are listed as forgotten, answers are matched by topic and
 * partition (a partition left out has nothing new), and any session error or
 * failed fetch starts a new session with a full request.
 *
 * A round's cost follows what changed, not what the fetcher follows (issue
 * 14): a full round visits every partition of the fetcher's set (kept
 * sorted, rebuilt when the replica manager's fetch_set_gen moves); once a
 * session fetch's answer applied cleanly, the next round is incremental:
 * it visits and names only the session partitions that answer appended to,
 * updated in place in the session, and the answer is matched against the
 * session. Anything unusual (no session, a kick, truncation, a retry wait,
 * the throttle, an error or stale answer) makes the next round full, and
 * so does a second without one (the safety net for a missed case).
 *
 * A request names at most REPLICA_FETCH_MAX_PARTITIONS (replica_session.h).
 * A fetcher with more partitions ready fetches them in turns, a window a
 * round from where the last stopped (a warning names num.replica.fetchers);
 * such rounds are full, and ask without waiting until the windows have come
 * back with nothing all the way round, so a record waits at most about one
 * replica.fetch.wait.max.ms, not one for each window before its own.
 *
 * Batches are appended as
 * they are (offsets and epochs from the leader); the follower's high
 * watermark is min(leader's, own log end). Errors back off for
 * replica.fetch.backoff.ms. Responses for a partition whose leader or epoch
 * changed meanwhile are dropped.
 *
 * Loop thread only. Fetchers belong to the replica manager. */
#ifndef SLUICE_BROKER_REPLICA_FETCHER_H
#define SLUICE_BROKER_REPLICA_FETCHER_H

#include <stdbool.h>
#include <stdint.h>

struct replica_manager;
struct replica_fetcher;

/* A fetcher for partitions led by `leader` in `slot`; NULL on ENOMEM. */
struct replica_fetcher *fetcher_new(struct replica_manager *rm, int32_t leader, int32_t slot);
int32_t fetcher_leader(const struct replica_fetcher *f);
int32_t fetcher_slot(const struct replica_fetcher *f);
/* Something changed (a partition to fetch, a new endpoint): start a round
 * soon if none is running. */
void fetcher_kick(struct replica_fetcher *f);
/* Cancel and free (once the handles have closed). */
void fetcher_close(struct replica_fetcher *f);

/* The slot of a partition among `n` fetchers (pure). */
int32_t fetcher_slot_of(const char *topic, int32_t index, int32_t n);

#endif
