/* Private to broker/replica/fetcher*.c: a follower fetcher's state,
 * shared by fetcher.c (rounds, truncation, applying answers) and
 * fetcher_session.c (the fetch session's bookkeeping and the request's
 * partition lists). Loop thread only. */
#ifndef SLUICE_BROKER_REPLICA_FETCHER_INTERNAL_H
#define SLUICE_BROKER_REPLICA_FETCHER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/replica/fetcher.h"
#include "broker/replica/replica_manager.h"
#include "common/rpc_client.h"

/* A partition in the request in flight, to match the answer against. */
struct sent {
    struct partition *p; /* only dereferenced after replica_manager_partition finds it again */
    char topic[TOPIC_NAME_MAX + 1];
    int32_t index;
    int32_t leader_epoch;
    int32_t last_fetched_epoch;
    int64_t fetch_offset;
    int64_t log_start;
    bool moved; /* the last answer moved it on: in f->moved */
};

/* A partition of the fetcher's set, with its topic name's length. */
struct set_member {
    struct partition *p;
    size_t topic_len;
};

struct replica_fetcher {
    struct replica_manager *rm;
    int32_t leader, slot;
    struct rpc_client client;
    bool client_up;
    char host[LISTENER_HOST_MAX];
    int port;
    struct rpc_request req;
    bool in_flight, closing;
    uv_timer_t timer;
    unsigned open_handles;
    struct sent *sent;
    size_t n_sent;
    int backoff_logged;
    bool throttled; /* the last round left partitions out for the throttle */
    /* The fetch session with the leader (KIP-227; replica_session.h): its
     * partitions as the leader holds them (what was last sent of each,
     * sorted by fetcher_session_order), and the next request's epoch. Epoch
     * REPLICA_SESSION_EPOCH_NEW: no session; the next fetch is full and
     * opens one (closing `session_id` if the leader still has it). */
    int32_t session_id, session_epoch;
    struct sent *session;
    size_t n_session;
    bool session_error; /* the last answer was a session error */
    /* The hosted partitions that follow this leader in this slot, as of
     * rm->fetch_set_gen `set_gen` (each still checked by mine()): a round
     * visits these, not every hosted partition (a follower of 5,000
     * partitions from two leaders walked all of them per round, many
     * rounds a second under load; issue 14). */
    struct set_member *set; /* sorted as fetcher_session_order */
    size_t n_set, cap_set;
    uint64_t set_gen;
    bool set_valid;
    /* Incremental rounds (issue 14): once a session fetch's answer applied
     * cleanly (`steady`) and nothing called for a full round, the next
     * round visits and names only the session's partitions that answer
     * appended to (`moved`, indices into f->session), not every partition
     * followed. `incremental`: the request in flight is such a round's,
     * matched against f->session. */
    size_t *moved;
    size_t n_moved;
    bool steady, incremental;
    bool retry_waits; /* the last full round left partitions in a retry wait */
    /* More partitions of the set were ready than one request carries: the
     * last full round stopped at set[window_start] (without the set, at
     * that position of the walk), where the next begins (each round full
     * until all fit again). `idle_named`: the partitions the windows named
     * since a fetch last waited or an answer last brought records (those
     * rounds ask without waiting until it covers the ready ones:
     * fetch_max_wait). */
    bool overflow;
    size_t window_start;
    size_t idle_named;
    bool overflow_logged;
    uint64_t last_full_ms; /* uv_now of the last full round */
};

#endif
