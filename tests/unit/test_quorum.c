/* The quorum on raft/fixture.h: a deterministic in-memory 3-node cluster with
 * virtual time (leader loss, a leader partitioned away, kill/revive, a
 * snapshot installed on a lagging node), plus a real raft_uv single-node
 * restart from disk. */
#include <check.h>
#include <signal.h>
#include <raft/fixture.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "proto/kafka/kafka_errors.h"
#include "controller/quorum.h"
#include "tests/unit/check_main.h"
#include "tests/unit/test_ports.h"

#define N 3

struct cluster {
    struct raft_fixture f;
    struct quorum q[N];
    int fatal;
    int lost_leadership[N];
};

static struct cluster *cluster_of(struct quorum *q)
{
    return q->data;
}

static void on_fatal(struct quorum *q, int status, const char *message)
{
    (void)status;
    (void)message;
    cluster_of(q)->fatal++;
}

static void on_leadership(struct quorum *q, bool ready)
{
    if (!ready) {
        cluster_of(q)->lost_leadership[q->node_id - 1]++;
    }
}

static void cluster_start(struct cluster *c, const struct quorum_options *o)
{
    memset(c, 0, sizeof *c);
    ck_assert_int_eq(raft_fixture_initialize(&c->f), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(quorum_init(&c->q[i], i + 1, o, on_leadership, on_fatal), 0);
        c->q[i].data = c;
        ck_assert_int_eq(raft_fixture_grow(&c->f, quorum_raft_fsm(&c->q[i])), 0);
        quorum_attach(&c->q[i], raft_fixture_get(&c->f, (unsigned)i));
    }
    struct raft_configuration conf;
    ck_assert_int_eq(raft_fixture_configuration(&c->f, N, &conf), 0);
    ck_assert_int_eq(raft_fixture_bootstrap(&c->f, &conf), 0);
    raft_configuration_close(&conf);
    ck_assert_int_eq(raft_fixture_start(&c->f), 0);
}

static void cluster_stop(struct cluster *c)
{
    raft_fixture_close(&c->f);
    for (int i = 0; i < N; i++) {
        quorum_close(&c->q[i], NULL);
    }
    ck_assert_int_eq(c->fatal, 0);
}

static void step(struct cluster *c)
{
    raft_fixture_step(&c->f);
    for (unsigned i = 0; i < N; i++) {
        if (raft_fixture_alive(&c->f, i)) {
            quorum_tick(&c->q[i]);
        }
    }
}

/* Step until `cond` holds or `ms` of virtual time pass. */
#define STEP_UNTIL(c, cond, ms)                                                                    \
    do {                                                                                           \
        raft_time end_ = raft_fixture_time(&(c)->f) + (ms);                                        \
        while (!(cond) && raft_fixture_time(&(c)->f) < end_) {                                     \
            step(c);                                                                               \
        }                                                                                          \
        ck_assert_msg((cond), "timed out waiting for " #cond);                                     \
    } while (0)

static int ready_index(struct cluster *c, int except)
{
    for (int i = 0; i < N; i++) {
        if (i != except && raft_fixture_alive(&c->f, (unsigned)i) && quorum_is_ready(&c->q[i])) {
            return i;
        }
    }
    return -1;
}

struct prop {
    struct quorum_proposal req;
    bool done;
    int status;
    int64_t offset;
    int32_t code;
    Sluice__Metadata__RegisterBrokerRecord reg;
    MetadataRecord rec;
    MetadataRecord *recs[1];
    MetadataBatch batch;
    char incarnation[32];
};

static void on_proposed(struct quorum_proposal *req, int status, const struct fsm_result *result)
{
    struct prop *p = req->data;
    p->done = true;
    p->status = status;
    if (status == 0) {
        p->offset = result->offset;
        p->code = result->errors[0];
    }
}

static int propose_register(struct quorum *q, struct prop *p, int32_t broker_id)
{
    memset(p, 0, sizeof *p);
    sluice__metadata__register_broker_record__init(&p->reg);
    snprintf(p->incarnation, sizeof p->incarnation, "inc-%d", broker_id);
    p->reg.broker_id = broker_id;
    p->reg.incarnation_id = p->incarnation;
    sluice__metadata__metadata_record__init(&p->rec);
    p->rec.record_case = SLUICE__METADATA__METADATA_RECORD__RECORD_REGISTER_BROKER;
    p->rec.register_broker = &p->reg;
    p->recs[0] = &p->rec;
    sluice__metadata__metadata_batch__init(&p->batch);
    p->batch.records = p->recs;
    p->batch.n_records = 1;
    p->req.data = p;
    return quorum_propose(q, &p->req, &p->batch, on_proposed);
}

static void assert_same_image(struct quorum *a, struct quorum *b)
{
    void *x, *y;
    size_t xl, yl;
    ck_assert_int_eq(fsm_snapshot(&a->fsm, malloc, &x, &xl), 0);
    ck_assert_int_eq(fsm_snapshot(&b->fsm, malloc, &y, &yl), 0);
    ck_assert_uint_eq(xl, yl);
    ck_assert_mem_eq(x, y, xl);
    free(x);
    free(y);
}

/* Every node (but `except`) has applied as much as the most advanced one.
 * (A revived ex-leader may still believe it leads, so no node's own view
 * is trusted here.) */
static bool all_applied(struct cluster *c, int except)
{
    uint64_t want = 0;
    for (int i = 0; i < N; i++) {
        uint64_t applied = quorum_last_applied(&c->q[i]);
        want = applied > want ? applied : want;
    }
    for (int i = 0; i < N; i++) {
        if (i != except && quorum_last_applied(&c->q[i]) < want) {
            return false;
        }
    }
    return ready_index(c, -1) >= 0;
}

START_TEST(test_leader_loss)
{
    struct cluster c;
    cluster_start(&c, NULL);
    STEP_UNTIL(&c, ready_index(&c, -1) >= 0, 10000);
    int leader = ready_index(&c, -1);
    /* A follower refuses proposals: callers are redirected. */
    struct prop p;
    ck_assert_int_eq(propose_register(&c.q[(leader + 1) % N], &p, 9), QUORUM_NOT_LEADER);

    ck_assert_int_eq(propose_register(&c.q[leader], &p, 1), 0);
    STEP_UNTIL(&c, p.done, 5000);
    ck_assert_int_eq(p.status, 0);
    ck_assert_int_eq(p.code, KAFKA_ERROR_NONE);
    ck_assert_int_eq(p.offset, 1);
    STEP_UNTIL(&c, all_applied(&c, -1), 5000);

    raft_fixture_kill(&c.f, (unsigned)leader);
    STEP_UNTIL(&c, ready_index(&c, leader) >= 0, 10000);
    int next = ready_index(&c, leader);
    ck_assert_int_ne(next, leader);
    /* The new leader's image holds everything acknowledged before. */
    ck_assert_ptr_nonnull(image_find_broker(c.q[next].fsm.image, 1));
    ck_assert_int_eq(propose_register(&c.q[next], &p, 2), 0);
    STEP_UNTIL(&c, p.done, 5000);
    ck_assert_int_eq(p.status, 0);
    ck_assert_int_eq(p.offset, 2);

    raft_fixture_revive(&c.f, (unsigned)leader);
    STEP_UNTIL(&c, all_applied(&c, -1), 10000);
    for (int i = 1; i < N; i++) {
        assert_same_image(&c.q[0], &c.q[i]);
    }
    ck_assert_uint_eq(c.q[0].fsm.image->n_brokers, 2);
    cluster_stop(&c);
}
END_TEST

START_TEST(test_leader_partitioned_away)
{
    struct cluster c;
    cluster_start(&c, NULL);
    STEP_UNTIL(&c, ready_index(&c, -1) >= 0, 10000);
    int old = ready_index(&c, -1);
    for (unsigned j = 0; j < N; j++) {
        if (j != (unsigned)old) {
            raft_fixture_disconnect(&c.f, (unsigned)old, j);
            raft_fixture_disconnect(&c.f, j, (unsigned)old);
        }
    }
    /* The isolated leader still accepts a proposal, which can never commit. */
    struct prop lost, won;
    ck_assert_int_eq(propose_register(&c.q[old], &lost, 4), 0);
    STEP_UNTIL(&c, ready_index(&c, old) >= 0, 10000);
    int next = ready_index(&c, old);
    ck_assert_int_eq(propose_register(&c.q[next], &won, 5), 0);
    STEP_UNTIL(&c, won.done, 5000);
    ck_assert_int_eq(won.status, 0);
    /* The old leader notices it lost its quorum and steps down. */
    STEP_UNTIL(&c, !quorum_is_ready(&c.q[old]), 10000);
    ck_assert_int_ge(c.lost_leadership[old], 1);

    for (unsigned j = 0; j < N; j++) {
        if (j != (unsigned)old) {
            raft_fixture_reconnect(&c.f, (unsigned)old, j);
            raft_fixture_reconnect(&c.f, j, (unsigned)old);
        }
    }
    STEP_UNTIL(&c, lost.done && all_applied(&c, -1), 10000);
    /* Outcome unknown to the proposer; here it did not commit anywhere. */
    ck_assert(lost.status == QUORUM_UNKNOWN_OUTCOME || lost.status == QUORUM_NOT_LEADER);
    for (int i = 0; i < N; i++) {
        ck_assert_ptr_null(image_find_broker(c.q[i].fsm.image, 4));
        ck_assert_ptr_nonnull(image_find_broker(c.q[i].fsm.image, 5));
    }
    assert_same_image(&c.q[0], &c.q[1]);
    assert_same_image(&c.q[0], &c.q[2]);
    cluster_stop(&c);
}
END_TEST

START_TEST(test_snapshot_installed_on_lagging_node)
{
    struct quorum_options o = {.snapshot_threshold = 4, .snapshot_trailing = 2};
    struct cluster c;
    cluster_start(&c, &o);
    STEP_UNTIL(&c, ready_index(&c, -1) >= 0, 10000);
    int leader = ready_index(&c, -1);
    int lagging = (leader + 1) % N;
    raft_fixture_kill(&c.f, (unsigned)lagging);
    struct prop p;
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(propose_register(&c.q[leader], &p, 100 + i), 0);
        STEP_UNTIL(&c, p.done, 5000);
        ck_assert_int_eq(p.status, 0);
    }
    ck_assert_uint_ge(c.q[leader].snapshots, 1);
    ck_assert_uint_eq(c.q[lagging].restores, 0);
    raft_fixture_revive(&c.f, (unsigned)lagging);
    STEP_UNTIL(&c, all_applied(&c, -1), 20000);
    /* Its log was too far behind: the leader sent a snapshot. */
    ck_assert_uint_ge(c.q[lagging].restores, 1);
    assert_same_image(&c.q[leader], &c.q[lagging]);
    ck_assert_uint_eq(c.q[lagging].fsm.image->n_brokers, 20);
    /* And it keeps applying entries after the snapshot. */
    ck_assert_int_eq(propose_register(&c.q[leader], &p, 7), 0);
    STEP_UNTIL(&c, p.done && all_applied(&c, -1), 5000);
    assert_same_image(&c.q[leader], &c.q[lagging]);
    cluster_stop(&c);
}
END_TEST

START_TEST(test_kill_and_revive_all)
{
    struct cluster c;
    cluster_start(&c, NULL);
    STEP_UNTIL(&c, ready_index(&c, -1) >= 0, 10000);
    struct prop p;
    ck_assert_int_eq(propose_register(&c.q[ready_index(&c, -1)], &p, 1), 0);
    STEP_UNTIL(&c, p.done && all_applied(&c, -1), 5000);
    for (unsigned i = 0; i < N; i++) {
        raft_fixture_kill(&c.f, i);
    }
    for (unsigned i = 0; i < N; i++) {
        raft_fixture_revive(&c.f, i);
    }
    STEP_UNTIL(&c, ready_index(&c, -1) >= 0, 20000);
    ck_assert_int_eq(propose_register(&c.q[ready_index(&c, -1)], &p, 2), 0);
    STEP_UNTIL(&c, p.done && all_applied(&c, -1), 5000);
    ck_assert_int_eq(p.status, 0);
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(c.q[i].fsm.image->n_brokers, 2);
    }
    cluster_stop(&c);
}
END_TEST

/* ---- a real raft_uv node, restarted from its directory ---- */

struct uv_node {
    uv_loop_t loop;
    struct quorum q;
    bool closed;
    struct prop p;
};

static void on_uv_closed(struct quorum *q)
{
    ((struct uv_node *)q->data)->closed = true;
}

static void uv_run_until(struct uv_node *n, bool *flag, uint64_t ms)
{
    uv_update_time(&n->loop);
    uint64_t end = uv_now(&n->loop) + ms;
    while (!*flag && uv_now(&n->loop) < end) {
        uv_run(&n->loop, UV_RUN_ONCE);
    }
}

static void uv_node_start(struct uv_node *n, const char *dir, int port)
{
    struct quorum_options o = {.heartbeat_ms = 20,
                               .election_ms = 100,
                               .segment_size = 8192,
                               .snapshot_threshold = 3,
                               .snapshot_trailing = 1};
    char err[256];
    struct voters voters;
    ck_assert_int_eq(voters_parse("1@localhost:0", &voters, err, sizeof err), -EINVAL);
    char text[64], want[64];
    snprintf(text, sizeof text, "1@localhost:%d", port);
    snprintf(want, sizeof want, "localhost:%d", port + 1); /* the name, not an address */
    ck_assert_int_eq(voters_parse(text, &voters, err, sizeof err), 0);
    ck_assert_str_eq(voters.v[0].raft_address, want);
    ck_assert_int_eq(uv_loop_init(&n->loop), 0);
    ck_assert_int_eq(quorum_init(&n->q, 1, &o, NULL, NULL), 0);
    n->q.data = n;
    n->closed = false;
    int rv = quorum_start_uv(&n->q, &n->loop, dir, &voters, err, sizeof err);
    ck_assert_msg(rv == 0, "start: %s", err);
}

static void uv_node_stop(struct uv_node *n)
{
    quorum_close(&n->q, on_uv_closed);
    uv_run_until(n, &n->closed, 5000);
    ck_assert(n->closed);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    quorum_release(&n->q);
    ck_assert_int_eq(uv_loop_close(&n->loop), 0);
}

static bool uv_ready(struct uv_node *n)
{
    return quorum_is_ready(&n->q);
}

START_TEST(test_uv_restart_keeps_metadata)
{
    char dir[] = "/tmp/sluice-quorum-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct uv_node n;
    int port = test_free_port_pair();
    uv_node_start(&n, dir, port);
    uv_update_time(&n.loop);
    uint64_t end = uv_now(&n.loop) + 5000;
    while (!uv_ready(&n) && uv_now(&n.loop) < end) {
        uv_run(&n.loop, UV_RUN_ONCE);
    }
    ck_assert(uv_ready(&n));
    for (int i = 1; i <= 5; i++) {
        ck_assert_int_eq(propose_register(&n.q, &n.p, i), 0);
        uv_run_until(&n, &n.p.done, 5000);
        ck_assert_int_eq(n.p.status, 0);
    }
    ck_assert_uint_ge(n.q.snapshots, 1);
    uint64_t term = quorum_term(&n.q);
    ck_assert_uint_ge(term, 1);
    uv_node_stop(&n);

    uv_node_start(&n, dir, port);
    end = uv_now(&n.loop) + 5000;
    while (!uv_ready(&n) && uv_now(&n.loop) < end) {
        uv_run(&n.loop, UV_RUN_ONCE);
    }
    ck_assert(uv_ready(&n));
    ck_assert_uint_eq(n.q.fsm.image->n_brokers, 5);
    ck_assert_int_eq(fsm_offset(&n.q.fsm), 5);
    ck_assert_uint_ge(quorum_term(&n.q), term); /* read back from disk after the restart */
    uv_node_stop(&n);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Proposals a leader has appended but raft_uv has not written yet when the
 * quorum closes (a topic creation's records, as all nodes get SIGTERM):
 * raft 0.15 cancels them, each cancelled leader append truncates the log from
 * its index, and the second one truncated past the end of the log and
 * crashed. quorum_close lets them be written first: each proposer hears
 * QUORUM_SHUTTING_DOWN, and a restart finds every entry in the log. */
START_TEST(test_uv_close_with_leader_appends_queued)
{
    char dir[] = "/tmp/sluice-quorum-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct uv_node n;
    struct prop p[4];
    int port = test_free_port_pair();
    uv_node_start(&n, dir, port);
    uv_update_time(&n.loop);
    uint64_t end = uv_now(&n.loop) + 5000;
    while (!uv_ready(&n) && uv_now(&n.loop) < end) {
        uv_run(&n.loop, UV_RUN_ONCE);
    }
    ck_assert(uv_ready(&n));
    /* One loop turn: the first is being written, the others wait in
     * raft_uv's queue. */
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(propose_register(&n.q, &p[i], i + 1), 0);
    }
    ck_assert_uint_eq(n.q.leader_appends, 4);
    uv_node_stop(&n);
    for (int i = 0; i < 4; i++) {
        ck_assert(p[i].done);
        ck_assert_int_eq(p[i].status, QUORUM_SHUTTING_DOWN);
    }

    uv_node_start(&n, dir, port);
    end = uv_now(&n.loop) + 5000;
    while (!uv_ready(&n) && uv_now(&n.loop) < end) {
        uv_run(&n.loop, UV_RUN_ONCE);
    }
    ck_assert(uv_ready(&n));
    ck_assert_uint_eq(n.q.fsm.image->n_brokers, 4);
    uv_node_stop(&n);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Two raft_uv voters on one loop whose raft log holds addresses that no
 * longer lead anywhere (TEST-NET-1, as after `docker compose down` and `up`
 * gave the containers new addresses): they still elect a leader and commit,
 * because controller/peer_transport reaches each voter id by the host name
 * configured in controller.quorum.voters, resolved at connect time. */
struct pair {
    uv_loop_t loop;
    struct quorum q[2];
    bool closed[2];
    struct prop p;
    char dirs[2][32];
    int ports[2];
};

static void on_pair_closed(struct quorum *q)
{
    *(bool *)q->data = true;
}

static void pair_start(struct pair *c, char dirs[2][32], const int ports[2], bool stale,
                       unsigned election_ms)
{
    struct quorum_options o = {
        .heartbeat_ms = election_ms / 8, .election_ms = election_ms, .segment_size = 8192};
    char text[128], err[256];
    snprintf(text, sizeof text, "1@localhost:%d,2@localhost:%d", ports[0], ports[1]);
    struct voters voters;
    ck_assert_int_eq(voters_parse(text, &voters, err, sizeof err), 0);
    if (stale) {
        for (int i = 0; i < 2; i++) {
            snprintf(voters.v[i].raft_address, sizeof voters.v[i].raft_address, "192.0.2.%d:%d",
                     i + 1, ports[i] + 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        c->closed[i] = false;
        ck_assert_int_eq(quorum_init(&c->q[i], i + 1, &o, NULL, NULL), 0);
        c->q[i].data = &c->closed[i];
        int rv = quorum_start_uv(&c->q[i], &c->loop, dirs[i], &voters, err, sizeof err);
        ck_assert_msg(rv == 0, "start: %s", err);
    }
}

static int pair_leader(struct pair *c)
{
    uv_update_time(&c->loop);
    uint64_t end = uv_now(&c->loop) + 10000;
    while (uv_now(&c->loop) < end) {
        for (int i = 0; i < 2; i++) {
            if (quorum_is_ready(&c->q[i])) {
                return i;
            }
        }
        uv_run(&c->loop, UV_RUN_ONCE);
    }
    return -1;
}

static void pair_stop(struct pair *c)
{
    for (int i = 0; i < 2; i++) {
        quorum_close(&c->q[i], on_pair_closed);
    }
    uv_update_time(&c->loop);
    uint64_t end = uv_now(&c->loop) + 5000;
    while (!(c->closed[0] && c->closed[1]) && uv_now(&c->loop) < end) {
        uv_run(&c->loop, UV_RUN_ONCE);
    }
    ck_assert(c->closed[0] && c->closed[1]);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    quorum_release(&c->q[0]);
    quorum_release(&c->q[1]);
}

/* Two voters in fresh directories on free ports, started on a new loop. */
static void pair_open(struct pair *c, bool stale, unsigned election_ms)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < 2; i++) {
        strcpy(c->dirs[i], "/tmp/sluice-quorum-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(c->dirs[i]));
    }
    /* test_free_port_pair seeds from the pid and time: the same pair twice. */
    c->ports[0] = test_free_port_pair();
    c->ports[1] = c->ports[0] + 2;
    while (!test_port_is_free(c->ports[1]) || !test_port_is_free(c->ports[1] + 1)) {
        c->ports[1] += 2;
    }
    ck_assert_int_eq(uv_loop_init(&c->loop), 0);
    pair_start(c, c->dirs, c->ports, stale, election_ms);
}

/* pair_stop, then the loop and the directories go. */
static void pair_finish(struct pair *c)
{
    pair_stop(c);
    ck_assert_int_eq(uv_loop_close(&c->loop), 0);
    for (int i = 0; i < 2; i++) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "rm -rf %s", c->dirs[i]);
        ck_assert_int_eq(system(cmd), 0);
    }
}

START_TEST(test_uv_peers_reached_by_name)
{
    struct pair c;
    pair_open(&c, true, 160);
    int leader = pair_leader(&c);
    ck_assert_int_ge(leader, 0);
    /* A commit needs both voters: the follower was reached by name. */
    ck_assert_int_eq(propose_register(&c.q[leader], &c.p, 7), 0);
    uv_update_time(&c.loop);
    uint64_t end = uv_now(&c.loop) + 5000;
    while (!(c.p.done && fsm_offset(&c.q[1 - leader].fsm) >= 1) && uv_now(&c.loop) < end) {
        uv_run(&c.loop, UV_RUN_ONCE);
    }
    ck_assert(c.p.done);
    ck_assert_int_eq(c.p.status, 0);
    ck_assert_uint_eq(c.q[1 - leader].fsm.image->n_brokers, 1);
    pair_finish(&c);
}
END_TEST

/* A leader that closes first hands its leadership over (raft's TimeoutNow):
 * the other voter wins an election while the closing one still votes, and
 * the close completes once the old leader sees the new one. */
START_TEST(test_uv_closing_leader_hands_over)
{
    struct pair c;
    /* The close waits half an election timeout for the new leader at most:
     * a generous one, for a loaded machine. */
    pair_open(&c, false, 1000);
    int leader = pair_leader(&c);
    ck_assert_int_ge(leader, 0);
    quorum_close(&c.q[leader], on_pair_closed);
    uv_update_time(&c.loop);
    uint64_t end = uv_now(&c.loop) + 5000;
    while (!c.closed[leader] && uv_now(&c.loop) < end) {
        uv_run(&c.loop, UV_RUN_ONCE);
    }
    ck_assert(c.closed[leader]);
    ck_assert_uint_eq(c.q[leader].hand_overs, 1);
    raft_id id = 0;
    const char *address = NULL;
    raft_leader(c.q[1 - leader].raft, &id, &address);
    ck_assert_uint_eq(id, (raft_id)(1 - leader + 1));
    pair_finish(&c);
}
END_TEST

/* A voter whose name does not resolve (yet): each attempt fails and is
 * counted, raft keeps retrying, and closing with lookups in flight completes
 * (ASan checks nothing leaks or is used after free). */
START_TEST(test_uv_unresolvable_peer_retried_and_closed)
{
    char dirs[2][32];
    strcpy(dirs[0], "/tmp/sluice-quorum-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dirs[0]));
    int port = test_free_port_pair();
    char text[128], err[256];
    snprintf(text, sizeof text, "1@localhost:%d,2@sluice-no-such-host.invalid:%d", port, port + 2);
    struct voters voters;
    ck_assert_int_eq(voters_parse(text, &voters, err, sizeof err), 0);
    struct pair c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(uv_loop_init(&c.loop), 0);
    struct quorum_options o = {.heartbeat_ms = 20, .election_ms = 100, .segment_size = 8192};
    ck_assert_int_eq(quorum_init(&c.q[0], 1, &o, NULL, NULL), 0);
    c.q[0].data = &c.closed[0];
    ck_assert_int_eq(quorum_start_uv(&c.q[0], &c.loop, dirs[0], &voters, err, sizeof err), 0);
    uv_update_time(&c.loop);
    uint64_t end = uv_now(&c.loop) + 10000;
    while (c.q[0].transport.resolve_failures < 2 && uv_now(&c.loop) < end) {
        uv_run(&c.loop, UV_RUN_ONCE);
    }
    ck_assert_uint_ge(c.q[0].transport.resolve_failures, 2);
    ck_assert(!quorum_is_ready(&c.q[0])); /* one voter of two is no majority */
    quorum_close(&c.q[0], on_pair_closed);
    end = uv_now(&c.loop) + 5000;
    while (!c.closed[0] && uv_now(&c.loop) < end) {
        uv_run(&c.loop, UV_RUN_ONCE);
    }
    ck_assert(c.closed[0]);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    quorum_release(&c.q[0]);
    ck_assert_int_eq(uv_loop_close(&c.loop), 0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dirs[0]);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("quorum");
    TCase *tc = tcase_create("fixture");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_leader_loss);
    tcase_add_test(tc, test_leader_partitioned_away);
    tcase_add_test(tc, test_snapshot_installed_on_lagging_node);
    tcase_add_test(tc, test_kill_and_revive_all);
    suite_add_tcase(s, tc);
    TCase *uv = tcase_create("uv");
    tcase_set_timeout(uv, 30);
    tcase_add_test(uv, test_uv_restart_keeps_metadata);
    tcase_add_test(uv, test_uv_close_with_leader_appends_queued);
    tcase_add_test(uv, test_uv_peers_reached_by_name);
    tcase_add_test(uv, test_uv_closing_leader_hands_over);
    tcase_add_test(uv, test_uv_unresolvable_peer_retried_and_closed);
    suite_add_tcase(s, uv);
    return s;
}

int main(void)
{
    /* As sluiced: a peer gone is an error, not a signal. Voters closing at
     * once write to each other's closed connections (a hand-over's
     * TimeoutNow among them). */
    signal(SIGPIPE, SIG_IGN);
    return check_main_run(make_suite);
}
