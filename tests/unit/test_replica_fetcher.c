/* broker/replica/fetcher.c against a real leader in the same process: a
 * follower's replica manager (node 1) fetching, over the replication RPC,
 * from a leader's replica manager (node 2) serving replica_service, both
 * over one metadata image the test edits (as every broker replays the same
 * metadata). Covers the fetch session's forgotten partitions when a
 * partition leaves the follower while its leader and leader epoch stay the
 * same, and the incremental round that falls back to a full one when a
 * partition its last answer moved cannot be fetched on (the follower
 * throttle). Waits are bounded by loop iterations and a wall-clock cap, and
 * fail with what they waited for; nothing asserts a duration. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/data_dir.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/replica_liveness.h"
#include "broker/replica/replica_manager.h"
#include "broker/replica/replica_service.h"
#include "broker/replica/replica_session.h"
#include "common/rpc_server.h"
#include "metadata/image.h"
#include "tests/unit/check_main.h"
#include "tests/unit/image_test_util.h"
#include "tests/unit/log_test_util.h"

#define FOLLOWER 1
#define LEADER   2

void *__real_reallocarray(void *p, size_t n, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);

/* While set, the follower fetcher's set of partitions (the only
 * reallocarray linked in) cannot be built; how many builds failed. */
static bool fail_set_builds;
static unsigned failed_set_builds;

void *__wrap_reallocarray(void *p, size_t n, size_t size)
{
    if (fail_set_builds) {
        failed_set_builds++;
        return NULL;
    }
    return __real_reallocarray(p, n, size);
}

struct node {
    char dir[64];
    struct sluice_config cfg;
    struct data_dirs dirs;
    struct metadata_view *view;
    struct replica_manager rm;
};

static uv_loop_t loop;
static MetadataImage *img;
static struct node follower, leader;
static struct rpc_server server;

static const MetadataImage *source_image(void *data)
{
    (void)data;
    return img;
}

static void add_broker(int32_t id, int port)
{
    BrokerState *b = malloc(sizeof *b);
    sluice__metadata__broker_state__init(b);
    b->broker_id = id;
    b->broker_epoch = 10 + id;
    b->incarnation_id = image_strdup("incarnation");
    b->endpoints = calloc(1, sizeof *b->endpoints);
    Endpoint *e = malloc(sizeof *e);
    sluice__metadata__endpoint__init(e);
    e->name = image_strdup("REPLICATION");
    e->host = image_strdup("127.0.0.1");
    e->port = (uint32_t)port;
    e->security_protocol = image_strdup("PLAINTEXT");
    b->endpoints[0] = e;
    b->n_endpoints = 1;
    ck_assert_int_eq(image_put_broker(img, b), 0);
}

static const int32_t BOTH[] = {LEADER, FOLLOWER};

/* Topic `name` of `n` partitions led by LEADER at epoch 0, replicas and
 * ISR both nodes. */
static TopicState *add_topic(const char *name, int32_t n, uint8_t id_byte)
{
    TopicState *t = itu_new_topic(name, id_byte);
    for (int32_t i = 0; i < n; i++) {
        itu_add_partition_led(t, LEADER, BOTH, 2);
    }
    ck_assert_int_eq(image_add_topic(img, t), 0);
    return t;
}

static TopicState *topic_state(const char *name)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        if (strcmp(img->topics[i]->name, name) == 0) {
            return img->topics[i];
        }
    }
    ck_abort_msg("no topic %s", name);
    return NULL;
}

static void node_init(struct node *n, int32_t id)
{
    char err[256], idtext[16];
    snprintf(n->dir, sizeof n->dir, "/tmp/sluice-test-fetcher-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(n->dir));
    ck_assert_int_eq(sluice_config_init(&n->cfg), 0);
    snprintf(idtext, sizeof idtext, "%d", (int)id);
    const char *const kv[][2] = {
        {"node.id", idtext},
        {"log.dirs", n->dir},
        {"replica.fetch.wait.max.ms", "20"},
        {"replica.fetch.backoff.ms", "20"},
        /* One batch per partition and fetch: a partition with a backlog
         * takes several rounds to catch up. */
        {"replica.fetch.max.bytes", "1"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) {
        ck_assert_msg(sluice_config_set(&n->cfg, kv[i][0], kv[i][1], err, sizeof err) == 0, "%s",
                      err);
    }
    ck_assert_int_eq(data_dirs_open(&n->dirs, n->dir, 1, err, sizeof err), 0);
}

static void node_start(struct node *n)
{
    char err[256];
    struct metadata_quorum_source src = {NULL, source_image, NULL};
    ck_assert_int_eq(metadata_quorum_open(&n->view, &loop, &n->cfg, &src, err, sizeof err), 0);
    ck_assert_msg(
        replica_manager_start(&n->rm, &loop, &n->cfg, &n->dirs, n->view, err, sizeof err) == 0,
        "%s", err);
}

static void node_free(struct node *n)
{
    char cmd[128];
    data_dirs_close(&n->dirs);
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    ck_assert_int_eq(system(cmd), 0);
    sluice_config_free(&n->cfg);
}

static void setup(void)
{
    fail_set_builds = false;
    failed_set_builds = 0;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    node_init(&follower, FOLLOWER);
    node_init(&leader, LEADER);
    img = image_new();
    ck_assert_ptr_nonnull(img);
    ck_assert_int_eq(image_replace_str(&img->cluster_id, "cluster-x"), 0);
    rpc_server_init(&server, &loop, replica_rpc_max_frame(&leader.cfg));
    ck_assert_int_eq(replica_service_register(&server, &leader.rm, NULL), 0);
    ck_assert_int_eq(rpc_server_listen(&server, "127.0.0.1", 0), 0);
    add_broker(FOLLOWER, 1);
    add_broker(LEADER, rpc_server_port(&server));
    node_start(&leader);
    node_start(&follower);
}

static void teardown(void)
{
    replica_manager_stop(&follower.rm);
    replica_manager_stop(&leader.rm);
    rpc_server_close(&server, NULL);
    metadata_view_close(follower.view);
    metadata_view_close(leader.view);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    image_free(img);
    node_free(&follower);
    node_free(&leader);
}

/* Both nodes apply the image as it is now, and finish opening what it
 * gives them. */
static void refresh(void)
{
    metadata_quorum_refresh(leader.view);
    metadata_quorum_refresh(follower.view);
    while (replica_manager_opening(&leader.rm) > 0 || replica_manager_opening(&follower.rm) > 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the loop until `cond()` holds; fail saying `what` after 30 s of wall
 * clock (a bound for a stuck test, not a measurement). */
#define RUN_UNTIL(cond, what)                                                                      \
    do {                                                                                           \
        double deadline_ = wall_s() + 30;                                                          \
        while (!(cond)) {                                                                          \
            ck_assert_msg(wall_s() < deadline_, "still waiting for %s", what);                     \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
        }                                                                                          \
    } while (0)

static void set_flag(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static struct partition *part(struct node *n, const char *topic, int32_t index)
{
    return replica_manager_partition(&n->rm, topic, index);
}

/* The follower's log end of `topic`-`index`, -1 if it hosts none. */
static int64_t follower_end(const char *topic, int32_t index)
{
    struct partition *p = part(&follower, topic, index);
    return p != NULL ? partition_log_end(p) : -1;
}

static int64_t leader_end(const char *topic, int32_t index)
{
    struct partition *p = part(&leader, topic, index);
    ck_assert_ptr_nonnull(p);
    return partition_log_end(p);
}

/* Append `batches` batches of 3 records to the leader's `topic`-`index`. */
static void produce(const char *topic, int32_t index, int batches)
{
    struct partition *p = part(&leader, topic, index);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < batches; i++) {
        struct buf b = BUF_INIT;
        tb_batch(&b, 3, 40, 1000, (uint32_t)i);
        struct log_append_info info;
        ck_assert_int_eq(partition_append(p, b.data, b.len, &info), 0);
        buf_free(&b);
    }
}

/* Partitions the leader's follower sessions hold. */
static size_t session_partitions(void)
{
    return replica_session_cache_partitions(leader.rm.fetch_sessions);
}

/* The follower holds the leader's whole log of `topic`-`index`, and the
 * leader recorded it (its high watermark, with the follower in the ISR,
 * reached its log end). */
static bool caught_up(const char *topic, int32_t index)
{
    int64_t end = leader_end(topic, index);
    return follower_end(topic, index) == end &&
           partition_high_watermark(part(&leader, topic, index)) == end;
}

static uint64_t rounds(void)
{
    return follower.rm.fetcher_stats.full_rounds + follower.rm.fetcher_stats.incremental_rounds;
}

/* Run `n` more follower fetcher rounds. */
static void run_rounds(uint64_t n, const char *what)
{
    uint64_t until = rounds() + n;
    RUN_UNTIL(rounds() >= until, what);
}

/* The follower's next fetches wait up to `ms` on the leader
 * (replica.fetch.wait.max.ms) when it has nothing for them. */
static void follower_fetch_wait(const char *ms)
{
    char err[256];
    ck_assert_msg(
        sluice_config_set(&follower.cfg, "replica.fetch.wait.max.ms", ms, err, sizeof err) == 0,
        "%s", err);
}

/* Partitions the follower stops following while their leader and leader
 * epoch stay the same: one moved off it (its replica set no longer names
 * it), then a topic deleted and created again with the same leader and
 * epochs. Each is listed as forgotten in the fetch session, so the leader's
 * session stops holding (serving, counting as fetched) it, and the other
 * partitions keep replicating. */
START_TEST(test_forgotten_while_leader_and_epoch_stay)
{
    add_topic("a", 2, 0x41);
    add_topic("b", 2, 0x42);
    refresh();
    for (int32_t i = 0; i < 2; i++) {
        produce("a", i, 2);
        produce("b", i, 2);
    }
    RUN_UNTIL(caught_up("a", 0) && caught_up("a", 1) && caught_up("b", 0) && caught_up("b", 1),
              "the follower caught up with every partition");
    RUN_UNTIL(session_partitions() == 4, "the leader's session holding the 4 partitions");
    ck_assert_uint_eq(replica_session_cache_count(leader.rm.fetch_sessions), 1);

    /* b-1 moves off the follower: same leader, same leader epoch. */
    PartitionState *b1 = topic_state("b")->partitions[1];
    static const int32_t leader_only[] = {LEADER};
    ck_assert_int_eq(image_set_ints(&b1->replicas, &b1->n_replicas, leader_only, 1), 0);
    ck_assert_int_eq(image_set_ints(&b1->isr, &b1->n_isr, leader_only, 1), 0);
    b1->partition_epoch++;
    refresh();
    ck_assert_ptr_null(part(&follower, "b", 1));
    ck_assert_int_eq(part(&leader, "b", 1)->leader_epoch, 0);
    RUN_UNTIL(session_partitions() == 3, "b-1 forgotten in the leader's session");
    produce("a", 1, 1);
    produce("b", 0, 1);
    produce("b", 1, 1);
    RUN_UNTIL(caught_up("a", 1) && caught_up("b", 0), "a-1 and b-0 replicated after the move");
    run_rounds(4, "more fetcher rounds");
    ck_assert_uint_eq(session_partitions(), 3);
    ck_assert_uint_eq(replica_session_cache_count(leader.rm.fetch_sessions), 1);

    /* Topic b deleted: both of its partitions leave the session. */
    itu_remove_topic(img, "b");
    refresh();
    RUN_UNTIL(session_partitions() == 2, "topic b forgotten in the leader's session");
    produce("a", 0, 1);
    RUN_UNTIL(caught_up("a", 0), "a-0 replicated after the deletion");

    /* b again, with the same leader and epochs (another topic id): new
     * logs on both sides, fetched from offset 0. */
    add_topic("b", 2, 0x43);
    refresh();
    ck_assert_int_eq(leader_end("b", 0), 0);
    produce("b", 0, 1);
    produce("b", 1, 2);
    produce("a", 1, 1);
    RUN_UNTIL(caught_up("b", 0) && caught_up("b", 1) && caught_up("a", 1),
              "the recreated b and a-1 replicated");
    ck_assert_int_eq(follower_end("b", 1), 6);
    RUN_UNTIL(session_partitions() == 4, "the recreated b's partitions in the leader's session");
    ck_assert_uint_eq(replica_session_cache_count(leader.rm.fetch_sessions), 1);
}
END_TEST

/* The follower throttle holds a partition back right after an answer
 * moved it: the incremental round that would name it cannot, falls back
 * to a full round, which leaves it out (forgotten by the leader's session)
 * while every other partition keeps replicating; once the throttle lifts
 * it catches up and rounds are incremental again. */
START_TEST(test_moved_partition_throttled_falls_back_to_full_round)
{
    TopicState *t = add_topic("a", 3, 0x41);
    ck_assert_int_eq(image_set_topic_config(t, "follower.replication.throttled.replicas", "0:1"),
                     0);
    refresh();
    produce("a", 1, 1);
    produce("a", 2, 1);
    RUN_UNTIL(caught_up("a", 1) && caught_up("a", 2) && session_partitions() == 3,
              "the follower fetching the 3 partitions");
    run_rounds(4, "steady rounds");
    uint64_t incremental = follower.rm.fetcher_stats.incremental_rounds;
    run_rounds(4, "steady rounds");
    ck_assert_uint_gt(follower.rm.fetcher_stats.incremental_rounds, incremental);

    /* 1 byte a second (over ten windows: 10 bytes) is used up by a-0's
     * first batch: from then on a-0, out of the ISR (the leader's high
     * watermark is its log end) and behind it, is held back. */
    ck_assert_int_eq(image_set_broker_config(img, "1", "follower.replication.throttled.rate", "1"),
                     0);
    static const int32_t leader_only[] = {LEADER};
    PartitionState *a0 = t->partitions[0];
    ck_assert_int_eq(image_set_ints(&a0->isr, &a0->n_isr, leader_only, 1), 0);
    a0->partition_epoch++;
    refresh();
    ck_assert(part(&follower, "a", 0)->follower_throttled);
    /* Steady again after the change (a full round, then incremental
     * ones): the answer that moves a-0 comes in an incremental round. */
    incremental = follower.rm.fetcher_stats.incremental_rounds;
    RUN_UNTIL(follower.rm.fetcher_stats.incremental_rounds >= incremental + 2,
              "incremental rounds after the throttle change");
    ck_assert_uint_eq(follower.rm.follower_quota.held_back, 0);
    uint64_t full = follower.rm.fetcher_stats.full_rounds;
    produce("a", 0, 40);
    RUN_UNTIL(follower_end("a", 0) > 0, "a-0's first batch");
    RUN_UNTIL(follower.rm.follower_quota.held_back > 0, "a-0 held back by the throttle");
    RUN_UNTIL(session_partitions() == 2, "a-0 forgotten in the leader's session");
    ck_assert_uint_gt(follower.rm.fetcher_stats.full_rounds, full);
    /* The others replicate meanwhile; a-0 stays where the throttle
     * stopped it (named again, it would take a batch a round). */
    for (int i = 0; i < 3; i++) {
        produce("a", 1, 1);
        produce("a", 2, 1);
        RUN_UNTIL(caught_up("a", 1) && caught_up("a", 2), "a-1 and a-2 replicated");
    }
    run_rounds(20, "rounds while a-0 is throttled");
    int64_t batch_end = 3; /* one batch of 3 records */
    ck_assert_msg(follower_end("a", 0) <= 2 * batch_end,
                  "a-0 at %lld of %lld while throttled: fetched on past the throttle",
                  (long long)follower_end("a", 0), (long long)leader_end("a", 0));
    ck_assert_uint_eq(session_partitions(), 2);

    /* The throttle lifts: a-0 catches up, the session holds all three, and
     * steady rounds are incremental again. */
    ck_assert_int_eq(image_set_broker_config(img, "1", "follower.replication.throttled.rate", NULL),
                     0);
    refresh();
    RUN_UNTIL(caught_up("a", 0), "a-0 caught up once unthrottled");
    RUN_UNTIL(session_partitions() == 3, "a-0 back in the leader's session");
    run_rounds(4, "steady rounds");
    incremental = follower.rm.fetcher_stats.incremental_rounds;
    produce("a", 1, 1);
    RUN_UNTIL(caught_up("a", 1), "a-1 replicated");
    run_rounds(4, "steady rounds");
    ck_assert_uint_gt(follower.rm.fetcher_stats.incremental_rounds, incremental);
}
END_TEST

static void checkpoint_written(struct log_checkpoint_waiter *w, int status)
{
    *(int *)w->data = status < 0 ? status : 1;
}

/* A DeleteRecords on the leader moves its log start while the follower's
 * fetch is parked there with nothing new to read, for a wait far longer
 * than the test: the fetch is answered at once all the same, the
 * follower's log start follows and its next fetch tells the leader, whose
 * low watermark (what the DeleteRecords waits for) reaches the offset.
 * Told, the follower's fetches park again: they do not spin. */
START_TEST(test_leader_log_start_wakes_parked_follower_fetch)
{
    add_topic("a", 2, 0x41);
    refresh();
    produce("a", 0, 4);
    produce("a", 1, 1);
    RUN_UNTIL(caught_up("a", 0) && caught_up("a", 1), "the follower caught up");
    /* The long wait only now: a partition whose first fetch found the
     * leader not ready yet waits for its retry, and a fetch already parked
     * on the leader without it (here for 10 minutes) holds the retry back
     * until it is answered, as Kafka's fetcher thread does for up to
     * replica.fetch.wait.max.ms. The next round's fetch parks for the
     * long wait. */
    follower_fetch_wait("600000");
    run_rounds(1, "a fetch with the long wait");
    struct partition *lp = part(&leader, "a", 0);
    ck_assert_int_eq(replica_low_watermark(&leader.rm, lp), 0);

    int written = 0;
    struct log_checkpoint_waiter w = {.done = checkpoint_written, .data = &written};
    int64_t target = -1;
    int rv = partition_delete_records(lp, 6, &target, &w);
    ck_assert_int_ge(rv, 0);
    written = rv == 1 ? 1 : written;
    ck_assert_int_eq(target, 6);
    ck_assert_int_eq(partition_log_start(lp), 6);
    RUN_UNTIL(written != 0 && partition_log_start(part(&follower, "a", 0)) == 6 &&
                  replica_low_watermark(&leader.rm, lp) == 6,
              "the follower's log start at the leader's, and the leader told of it");
    ck_assert_int_eq(written, 1);
    ck_assert_int_eq(partition_log_start(part(&follower, "a", 1)), 0); /* untouched */

    uint64_t requests = leader.rm.fetch_stats.requests;
    static uv_timer_t pause; /* closed by the time teardown runs the loop */
    uv_timer_init(&loop, &pause);
    bool paused = false;
    pause.data = &paused;
    uv_timer_start(&pause, set_flag, 300, 0);
    RUN_UNTIL(paused, "300 ms of loop");
    uv_close((uv_handle_t *)&pause, NULL);
    ck_assert_msg(leader.rm.fetch_stats.requests <= requests + 2,
                  "%llu follower fetches once told: they do not park",
                  (unsigned long long)(leader.rm.fetch_stats.requests - requests));
}
END_TEST

/* The follower's caught-up time the leader holds for `topic`-`index`. */
static uint64_t follower_caught_up_ms(const char *topic, int32_t index)
{
    struct partition *p = part(&leader, topic, index);
    ck_assert_ptr_nonnull(p);
    for (int32_t k = 0; k < p->n_replicas; k++) {
        if (p->replicas[k].broker_id == FOLLOWER) {
            return p->replicas[k].caught_up_ms;
        }
    }
    ck_abort_msg("no follower progress for %s-%d", topic, (int)index);
    return 0;
}

/* Topic `name` of `n` partitions, one batch in each, all replicated to
 * the follower. */
static void replicated_topic(const char *name, int32_t n)
{
    add_topic(name, n, 0x41);
    refresh();
    for (int32_t i = 0; i < n; i++) {
        produce(name, i, 1);
    }
    for (int32_t i = 0; i < n; i++) {
        RUN_UNTIL(caught_up(name, i), "every partition replicated");
    }
}

/* An idle session's sweep: the leader looks at every partition of the
 * session within the sweep interval (replica.lag.time.max.ms / 4), so the
 * follower's caught-up time stays fresh on partitions it never names, but
 * a share at each fetch: no answer looks at all of them at once (a stall
 * of the loop at thousands of partitions). One follower session, so a loop
 * turn answers at most one of its fetches. */
START_TEST(test_sweep_spread_over_fetches)
{
    enum { N = 64 };
    char err[256];
    replicated_topic("a", N);
    /* A 200 ms sweep; idle fetches wait 20 ms (replica.fetch.wait.max.ms). */
    ck_assert_msg(
        sluice_config_set(&leader.cfg, "replica.lag.time.max.ms", "800", err, sizeof err) == 0,
        "%s", err);
    run_rounds(5, "a steady session");
    uint64_t start = uv_now(&loop), requests = leader.rm.fetch_stats.requests;
    uint64_t most = 0;
    while (uv_now(&loop) - start < 1000) {
        uint64_t examined = leader.rm.fetch_stats.examined, before = uv_now(&loop);
        uv_run(&loop, UV_RUN_ONCE);
        uint64_t looked = leader.rm.fetch_stats.examined - examined;
        /* A fetch after a whole sweep interval without one (this process
         * descheduled on a loaded machine) rightly looks at every partition:
         * only turns that follow a short wait count. */
        if (uv_now(&loop) - before < 100) {
            most = looked > most ? looked : most;
        }
    }
    ck_assert_msg(leader.rm.fetch_stats.requests - requests >= 10, "the follower kept fetching");
    ck_assert_msg(most <= N / 2, "one answer looked at %llu of the session's %d partitions",
                  (unsigned long long)most, N);
    /* Every partition, never named, was looked at again after the first
     * sweep interval of the window. */
    for (int32_t i = 0; i < N; i++) {
        uint64_t at = follower_caught_up_ms("a", i);
        ck_assert_msg(at > start + 200, "a-%d: the follower last caught up %lld ms into the window",
                      (int)i, (long long)at - (long long)start);
    }
}
END_TEST

/* Topic "a" of `n` partitions replicated, the follower naming at most `max`
 * of them in a request (fewer than `n`: it fetches them in turns). */
static void windowed_topic(int32_t n, size_t max)
{
    follower.rm.fetch_request_max_partitions = max;
    replicated_topic("a", n);
}

/* One more batch on each of the `n` partitions of `name`, replicated. */
static void replicate_again(const char *name, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        produce(name, i, 1);
    }
    for (int32_t i = 0; i < n; i++) {
        RUN_UNTIL(caught_up(name, i), "every partition replicated again");
    }
}

/* A follower of more partitions from one leader than one fetch request
 * names (4096; lowered to 4 here) fetches them in turns: every partition
 * is replicated, not only the first window of the set, and keeps being
 * replicated as records keep coming. */
START_TEST(test_more_partitions_than_one_request_names)
{
    enum { N = 11, MAX = 4 };
    windowed_topic(N, MAX); /* each caught up, the last window's too */
    ck_assert_uint_gt(follower.rm.fetcher_stats.overflow_rounds, 0);
    for (int round = 0; round < 3; round++) {
        replicate_again("a", N);
    }
    /* No session ever held more than a request names. */
    ck_assert_uint_le(session_partitions(), MAX);
}
END_TEST

/* A truncation round does not move the fetch window: one partition whose
 * leader keeps answering its epoch question with an error (here the
 * leader's metadata is behind the follower's for it: UNKNOWN_LEADER_EPOCH,
 * retried every replica.fetch.backoff.ms) comes back for a truncation round
 * after every fetch round; the fetch rounds between them still take the
 * windows in turn, not the first window again each time (the partitions
 * past it were never fetched: their ISR shrank to the leader). */
START_TEST(test_truncation_rounds_keep_the_fetch_window)
{
    enum { N = 16, MAX = 4 };
    windowed_topic(N, MAX);
    /* Idle fetch rounds park far longer than the truncating partition's
     * retry wait (20 ms): it is due again after every fetch round. */
    follower_fetch_wait("200");
    PartitionState *a0 = topic_state("a")->partitions[0];
    a0->leader_epoch++;
    a0->partition_epoch++;
    metadata_quorum_refresh(follower.view); /* the leader's metadata stays behind */
    while (replica_manager_opening(&follower.rm) > 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(part(&follower, "a", 0)->leader_epoch, 1);
    ck_assert_int_eq(part(&leader, "a", 0)->leader_epoch, 0);
    for (int round = 0; round < 2; round++) {
        for (int32_t i = 1; i < N; i++) {
            produce("a", i, 1);
        }
        for (int32_t i = 1; i < N; i++) {
            RUN_UNTIL(caught_up("a", i), "every other partition replicated");
        }
    }
    ck_assert_int_eq(part(&follower, "a", 0)->fetch_state, FETCH_TRUNCATE);
}
END_TEST

/* The follower's fetcher cannot build its set of partitions (out of
 * memory): each round walks every hosted partition instead, and still takes
 * the windows in turn from where the last one stopped. It used to take the
 * walk's first window every round: the partitions past it were never
 * fetched. */
START_TEST(test_windows_taken_in_turn_without_the_set)
{
    enum { N = 11, MAX = 4 };
    fail_set_builds = true;
    windowed_topic(N, MAX);
    for (int round = 0; round < 2; round++) {
        replicate_again("a", N);
    }
    ck_assert_uint_gt(failed_set_builds, 0);
    ck_assert_uint_gt(follower.rm.fetcher_stats.overflow_rounds, 0);
    fail_set_builds = false;
}
END_TEST

/* Partitions the follower throttle holds back are counted in every fetch
 * round, those past the window a full request leaves for the next round
 * too: only the rounds whose window reached them used to count them. Here
 * 8 partitions take two windows of 4 and the other 4, behind and throttled,
 * are never fetched. */
START_TEST(test_throttled_past_the_window_counted)
{
    enum { N = 12, MAX = 4, THROTTLED = 4 };
    follower.rm.fetch_request_max_partitions = MAX;
    TopicState *t = add_topic("a", N, 0x41);
    ck_assert_int_eq(
        image_set_topic_config(t, "follower.replication.throttled.replicas", "8:1,9:1,10:1,11:1"),
        0);
    ck_assert_int_eq(image_set_broker_config(img, "1", "follower.replication.throttled.rate", "1"),
                     0);
    /* Over the bound of 1 byte a second from the first round to the end
     * of the test (the rate forgets it after 11 s). */
    replication_quota_record(&follower.rm.follower_quota, 1000000, uv_now(&loop));
    refresh();
    for (int32_t i = 0; i < N; i++) {
        produce("a", i, 1);
    }
    for (int32_t i = 0; i < N - THROTTLED; i++) {
        RUN_UNTIL(caught_up("a", i), "every unthrottled partition replicated");
    }
    run_rounds(2, "fetch rounds once caught up");
    uint64_t held = follower.rm.follower_quota.held_back;
    uint64_t full = follower.rm.fetcher_stats.full_rounds;
    run_rounds(6, "more fetch rounds");
    uint64_t rounds_run = follower.rm.fetcher_stats.full_rounds - full;
    ck_assert_msg(follower.rm.follower_quota.held_back - held == THROTTLED * rounds_run,
                  "%llu held back in %llu rounds of %d throttled partitions",
                  (unsigned long long)(follower.rm.follower_quota.held_back - held),
                  (unsigned long long)rounds_run, THROTTLED);
    for (int32_t i = N - THROTTLED; i < N; i++) {
        ck_assert_int_eq(follower_end("a", i), 0);
    }
}
END_TEST

/* With more partitions than a request names, a window with nothing new
 * does not keep the next ones waiting: rounds ask without waiting until the
 * windows come back empty all the way round, and only then wait. The wait
 * here is 10 minutes: records on every partition, and two more batches on
 * one (a fetch takes one batch of a partition), are all replicated at once.
 * Each window with nothing new used to wait the whole 10 minutes before the
 * next was asked. */
START_TEST(test_empty_windows_do_not_hold_back_the_next)
{
    enum { N = 12, MAX = 4 };
    windowed_topic(N, MAX);
    follower_fetch_wait("600000");
    run_rounds(1, "a fetch with the long wait");
    for (int32_t i = 0; i < N; i++) {
        produce("a", i, 1);
    }
    produce("a", 5, 2);
    for (int32_t i = 0; i < N; i++) {
        RUN_UNTIL(caught_up("a", i), "every partition replicated");
    }
}
END_TEST

/* Whether the leader's ISR check, run now, would keep the follower in the
 * ISR of `topic`-`index` (replica.lag.time.max.ms against its caught-up
 * time). */
static bool isr_check_keeps_follower(const char *topic, int32_t index)
{
    struct partition *p = part(&leader, topic, index);
    ck_assert_ptr_nonnull(p);
    int32_t keep[8];
    ck_assert_int_le(p->n_isr, 8);
    int32_t n =
        partition_isr_shrink(p->replicas, p->n_replicas, p->isr, p->n_isr, p->self, uv_now(&loop),
                             (uint64_t)leader.cfg.replica_lag_time_max_ms, keep);
    for (int32_t k = 0; k < n; k++) {
        if (keep[k] == FOLLOWER) {
            return true;
        }
    }
    return false;
}

/* Partitions of "a" (all but the last, the busy one) the ISR check would
 * have dropped the follower from, at some tick of the watch timer. */
static bool dropped[64];

static void watch_isr(uv_timer_t *t)
{
    int32_t n = *(int32_t *)t->data;
    for (int32_t i = 0; i < n - 1; i++) {
        if (!isr_check_keeps_follower("a", i)) {
            dropped[i] = true;
        }
    }
}

/* A follower whose fetches go from frequent (records on one partition) to
 * sparse (nothing to read: each waits replica.fetch.wait.max.ms on the
 * leader) stays in the ISR of the partitions it never names: the sweep
 * looks at each again within its interval plus one gap between fetches.
 * Here that is 400 + 840 ms, inside replica.lag.time.max.ms (1600), with
 * room for a loaded machine's scheduling stalls. A sweep
 * that started its next round when the last one ended, rather than when it
 * was due to, looked at a partition it had reached early in a busy round
 * only two sparse fetches later: 1,680 ms and more, and the ISR check
 * dropped the idle, caught-up follower. */
START_TEST(test_sweep_keeps_idle_follower_when_fetches_turn_sparse)
{
    enum { N = 64 };
    char err[256];
    replicated_topic("a", N);
    ck_assert_msg(
        sluice_config_set(&leader.cfg, "replica.lag.time.max.ms", "1600", err, sizeof err) == 0,
        "%s", err);
    follower_fetch_wait("840");
    run_rounds(3, "a steady session");
    int32_t n = N;
    memset(dropped, 0, sizeof dropped);
    static uv_timer_t watch; /* closed by the time teardown runs the loop */
    uv_timer_init(&loop, &watch);
    watch.data = &n;
    uv_timer_start(&watch, watch_isr, 5, 5);
    /* Busy: records on the last partition, the follower fetching at once
     * each time, for more than one sweep interval. */
    uint64_t start = uv_now(&loop);
    while (uv_now(&loop) - start < 660) {
        produce("a", N - 1, 1);
        RUN_UNTIL(caught_up("a", N - 1), "the busy partition replicated");
    }
    /* Idle: each fetch waits 840 ms. */
    uint64_t requests = leader.rm.fetch_stats.requests;
    start = uv_now(&loop);
    while (uv_now(&loop) - start < 4000) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&watch, NULL);
    uv_run(&loop, UV_RUN_NOWAIT); /* the close completes */
    ck_assert_msg(leader.rm.fetch_stats.requests - requests >= 3, "the follower kept fetching");
    for (int32_t i = 0; i < N - 1; i++) {
        ck_assert_msg(!dropped[i], "a-%d: the ISR check would drop the idle follower", (int)i);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("replica_fetcher");
    TCase *tc = tcase_create("sessions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forgotten_while_leader_and_epoch_stay);
    tcase_add_test(tc, test_moved_partition_throttled_falls_back_to_full_round);
    tcase_add_test(tc, test_leader_log_start_wakes_parked_follower_fetch);
    tcase_add_test(tc, test_sweep_spread_over_fetches);
    tcase_add_test(tc, test_more_partitions_than_one_request_names);
    tcase_add_test(tc, test_truncation_rounds_keep_the_fetch_window);
    tcase_add_test(tc, test_windows_taken_in_turn_without_the_set);
    tcase_add_test(tc, test_throttled_past_the_window_counted);
    tcase_add_test(tc, test_empty_windows_do_not_hold_back_the_next);
    tcase_add_test(tc, test_sweep_keeps_idle_follower_when_fetches_turn_sparse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
