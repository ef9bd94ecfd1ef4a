/* The controller quorum: the ONLY code that calls canonical/raft 0.15.
 *
 * It owns the metadata state machine (metadata/fsm) and runs it under
 * raft, applying the mitigations shared/RAFT.md lists:
 *   - fsm version 2 (no async snapshots); apply never fails for business
 *     reasons (rejections are results);
 *   - a new leader is "ready" only after a raft_barrier completes, so nothing
 *     acts on a stale image (0.15 appends no no-op on election; the barrier
 *     also narrows the window of the figure-8 commit bug fixed in 0.17.1);
 *   - raft has no state-change callback, so raft_state() is polled on every
 *     loop iteration (quorum_tick);
 *   - any apply/barrier status other than success, lost leadership or
 *     shutdown (RAFT_IOERR, RAFT_NOSPACE, ...) is fatal: the 0.16-fixed bug
 *     lets a leader whose disk failed stay leader, so we stop instead;
 *   - raft_close is never called from a raft callback (quorum_close is for
 *     the owner's signal/shutdown path);
 *   - raft stores voters' names; controller/peer_transport resolves them
 *     at each connect (raft 0.15's TCP transport takes IPv4 literals only);
 *   - membership is static (controller.quorum.voters): no raft_add/assign,
 *     so the broken 0.15 membership rollback is never exercised.
 *
 * Two ways to run: quorum_start_uv (production: raft_uv on a libuv loop,
 * data in a directory) or quorum_attach (tests: a raft from raft/fixture.h
 * built with quorum_raft_fsm). Loop thread only. */
#ifndef SLUICE_CONTROLLER_QUORUM_H
#define SLUICE_CONTROLLER_QUORUM_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "controller/peer_transport.h"
#include "metadata/fsm.h"
#include "metadata/voters.h"

/* Outcomes of a proposal, besides 0. */
enum quorum_error {
    QUORUM_NOT_LEADER = -1000, /* not the (ready) leader: redirect the caller */
    QUORUM_UNKNOWN_OUTCOME,    /* leadership lost after appending: may still commit */
    QUORUM_SHUTTING_DOWN,
    QUORUM_FATAL, /* storage failure: the quorum has stopped, the process must exit */
};

struct quorum;
struct quorum_proposal;

/* `result` (borrowed, valid during the call) is set when status is 0. */
typedef void (*quorum_proposal_cb)(struct quorum_proposal *req, int status,
                                   const struct fsm_result *result);

/* Caller-owned; valid until the callback. */
struct quorum_proposal {
    void *data;
    /* private */
    struct raft_apply apply;
    struct quorum *quorum;
    quorum_proposal_cb cb;
};

/* Called when this node becomes a ready leader (barrier done) or stops
 * being one. */
typedef void (*quorum_leadership_cb)(struct quorum *q, bool ready);
/* Called once on a storage failure (status is the raft code). The owner logs
 * and exits non-zero; tests record it. */
typedef void (*quorum_fatal_cb)(struct quorum *q, int raft_status, const char *message);

struct quorum_options {
    unsigned heartbeat_ms;       /* default 100 */
    unsigned election_ms;        /* default 1000; must exceed heartbeat */
    unsigned snapshot_threshold; /* entries between snapshots, default 1024 */
    unsigned snapshot_trailing;  /* entries kept after one, default 128 */
    size_t segment_size;         /* raft_uv open segment size; 0 = raft default */
    size_t max_deltas;           /* batches kept for brokers, default 4096 */
};

struct quorum {
    void *data; /* owner's */
    int32_t node_id;
    struct quorum_options options;
    struct fsm fsm;
    struct raft_fsm raft_fsm;
    struct raft *raft; /* &own_raft, or the fixture's */
    struct raft own_raft;
    struct raft_io io;
    struct peer_transport transport;
    bool uv_started;
    bool io_inited;
    bool uv_released; /* quorum_release freed raft_uv and the transport */
    /* Zeroed; io.data points here once raft has closed, so raft_uv calling
     * its close callback again (see quorum_release) touches nothing. */
    struct raft closed_raft;
    uv_loop_t *loop;
    uv_prepare_t poll;
    struct voters voters;
    char dir[4096];                /* raft_uv data directory */
    char bind_host[64];            /* IPv4 literal raft listens on ("" = every interface) */
    struct peer_transport_tls tls; /* quorum_set_tls; contexts NULL: plaintext */
    /* leadership */
    bool ready;
    bool barrier_pending;
    struct raft_barrier barrier;
    bool fatal;
    bool closing;
    /* raft_uv's append, decorated in place (quorum_start_uv): the appends
     * raft submitted as leader and raft_uv has not finished. raft 0.15's
     * close cancels raft_uv's queued appends, and each cancelled leader
     * append truncates raft's in-memory log from its first index: a second
     * one then truncates past the end of the log (fixed upstream after 0.15)
     * and crashes. So quorum_close calls raft_close only once none is left. */
    int (*uv_append)(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);
    unsigned leader_appends;
    bool draining; /* quorum_close waits for leader_appends to reach 0 */
    /* quorum_close of a leader: raft's transfer of leadership to an
     * up-to-date voter, in flight until its callback. */
    struct raft_transfer hand_over;
    bool handing_over;            /* quorum_close waits for it (not past hand_over_deadline) */
    uint64_t hand_over_deadline;  /* uv_now ms */
    uint64_t hand_overs;          /* completed with another voter leading, for status and tests */
    uint64_t restores, snapshots; /* counters for status and tests */
    quorum_leadership_cb on_leadership;
    quorum_fatal_cb on_fatal;
    void (*close_cb)(struct quorum *q);
    unsigned close_steps;
};

/* Set up the FSM side; `options` may be NULL. 0 or -ENOMEM. After this,
 * quorum_raft_fsm(q) is the raft_fsm to give raft. */
int quorum_init(struct quorum *q, int32_t node_id, const struct quorum_options *options,
                quorum_leadership_cb on_leadership, quorum_fatal_cb on_fatal);
struct raft_fsm *quorum_raft_fsm(struct quorum *q);
/* Tests: drive a raft the caller created with quorum_raft_fsm(q). Applies the
 * snapshot options to it. */
void quorum_attach(struct quorum *q, struct raft *raft);
/* Production: raft_uv in `dir` (created if missing), bootstrapped with
 * `voters` on first boot, started on `loop`. This node must be one of the
 * voters; raft listens on the voter port + 1, on the host set with
 * quorum_set_bind_host (every interface if none). Returns 0 or a negative
 * code with `err` filled; then call quorum_close. */
/* Before quorum_start_uv: raft binds `host` (an IPv4 literal: raft 0.15's
 * transport parses no other form; the CONTROLLER listener's host). Returns
 * 0, or -EINVAL for anything else (then it binds every interface). */
int quorum_set_bind_host(struct quorum *q, const char *host);
/* Before quorum_start_uv: raft peers speak mutual TLS (controller/raft_tls.h)
 * with these contexts (borrowed, outliving the quorum). */
void quorum_set_tls(struct quorum *q, const struct peer_transport_tls *tls);
int quorum_start_uv(struct quorum *q, uv_loop_t *loop, const char *dir, const struct voters *voters,
                    char *err, size_t errlen);
/* Poll raft's state (called by a uv_prepare in production, by hand in
 * fixture tests): issues the post-election barrier, reports leadership. */
void quorum_tick(struct quorum *q);
/* Propose a batch (packed now; `batch` stays the caller's). Returns 0 (the
 * callback will fire), QUORUM_NOT_LEADER, QUORUM_SHUTTING_DOWN or -ENOMEM.
 * The callback's status: 0, QUORUM_NOT_LEADER, QUORUM_UNKNOWN_OUTCOME,
 * QUORUM_SHUTTING_DOWN or QUORUM_FATAL. */
int quorum_propose(struct quorum *q, struct quorum_proposal *req, const MetadataBatch *batch,
                   quorum_proposal_cb cb);
/* Whether this node is the leader and has completed its barrier. */
bool quorum_is_ready(const struct quorum *q);
/* The leader as raft knows it (id 0 when none). */
void quorum_leader(struct quorum *q, int32_t *id, const char **address);
const char *quorum_state_name(struct quorum *q);
uint64_t quorum_last_index(struct quorum *q);
/* The current raft term, read from raft_uv's metadata files (0.15 has no
 * accessor and struct raft's fields are off limits); 0 when unknown (not
 * running on raft_uv). Small synchronous file reads: status requests only. */
uint64_t quorum_term(struct quorum *q);
uint64_t quorum_last_applied(struct quorum *q);
/* Stop: raft_close, then release the FSM; `cb` fires when done (may be
 * NULL). Never call from inside a raft or quorum callback. From this call on,
 * no proposal is taken and every pending one completes with
 * QUORUM_SHUTTING_DOWN, committed or not (its outcome is unknown to the
 * caller, as after a lost leadership). With raft_uv, raft_close waits until
 * the appends this node submitted as leader are written (see uv_append in
 * struct quorum) and, on a leader of several voters, until raft has handed
 * its leadership to an up-to-date voter (half an election timeout at most);
 * the loop must keep running. For an attached (fixture) raft
 * only the FSM is released, synchronously. raft_uv's memory stays until
 * quorum_release. */
void quorum_close(struct quorum *q, void (*cb)(struct quorum *q));

/* Free raft_uv and its transport, once the loop has run dry after
 * quorum_close (uv_run returned): raft 0.15 fires the io close callback when
 * all but the writers of segments being finalized are closed, and again from
 * each such writer's close, which a slow threadpool write can hold open past
 * the rest; freeing in the close callback let that late one read freed
 * memory. The quorum's own memory must live as long. Idempotent; a no-op
 * when raft_uv never started. */
void quorum_release(struct quorum *q);

#endif
