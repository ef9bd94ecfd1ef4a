/* The controller service end to end on one real node: raft_uv quorum in a
 * temporary directory, the RPC service on loopback, requests from an RPC
 * client as a broker would send them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/rpc_client.h"
#include "proto/kafka/kafka_errors.h"
#include "controller/service.h"
#include "proto/controller.pb-c.h"
#include "tests/unit/check_main.h"
#include "tests/unit/service_node.h"
#include "tests/unit/test_ports.h"

START_TEST(test_register_heartbeat_and_topics)
{
    struct node n;
    node_start(&n, 5000);
    /* Topics need unfenced brokers. */
    Sluice__Controller__CreateTopicsResponse *ct = create_topic(&n, "early", 1, 1, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_INVALID_REPLICATION_FACTOR);
    release(ct);

    register_three(&n);
    int32_t code;
    /* Same incarnation again: same epoch (a retry). Another incarnation while
     * the first is alive: refused. */
    ck_assert_int_eq(register_broker(&n, 1, "inc-1", &code), epochs[1]);
    register_broker(&n, 1, "other", &code);
    ck_assert_int_eq(code, KAFKA_ERROR_DUPLICATE_BROKER_REGISTRATION);
    Sluice__Controller__BrokerHeartbeatResponse *hb = heartbeat(&n, 1, epochs[1] + 100, false);
    ck_assert_int_eq(hb->error_code, KAFKA_ERROR_STALE_BROKER_EPOCH);
    release(hb);

    ct = create_topic(&n, "orders", 6, 2, "retention.ms", "1000");
    ck_assert_int_eq(ct->error_code, KAFKA_ERROR_NONE);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_NONE);
    ck_assert_uint_eq(ct->topics[0]->topic_id.len, 16);
    release(ct);
    const TopicState *t = image_find_topic(n.quorum.fsm.image, "orders");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->n_partitions, 6);
    int leaders[4] = {0};
    for (size_t p = 0; p < 6; p++) {
        ck_assert_uint_eq(t->partitions[p]->n_replicas, 2);
        leaders[t->partitions[p]->leader]++;
    }
    ck_assert_int_eq(leaders[1], 2);
    ck_assert_int_eq(leaders[2], 2);
    ck_assert_int_eq(leaders[3], 2);
    ck_assert_str_eq(image_topic_config(t, "retention.ms"), "1000");

    ct = create_topic(&n, "orders", 1, 1, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_TOPIC_ALREADY_EXISTS);
    release(ct);
    ct = create_topic(&n, "big", 1, 4, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_INVALID_REPLICATION_FACTOR);
    release(ct);
    ct = create_topic(&n, "bad name", 1, 1, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_INVALID_TOPIC_EXCEPTION);
    release(ct);
    ct = create_topic(&n, "cfg", 1, 1, "retention.ms", "soon");
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_INVALID_CONFIG);
    release(ct);
    ct = create_topic(&n, "cfg", 1, 1, "no.such.key", "1");
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_INVALID_CONFIG);
    release(ct);
    ct = create_topic(&n, "zero", 0, 1, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_INVALID_PARTITIONS);
    release(ct);
    /* Metric names read '.' as '_': "a.b" and "a_b" cannot both exist. */
    ct = create_topic(&n, "a.b", 1, 1, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_NONE);
    release(ct);
    ct = create_topic(&n, "a_b", 1, 1, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_INVALID_TOPIC_EXCEPTION);
    release(ct);
    /* Partition 0 would be the controller's own Raft directory. */
    ct = create_topic(&n, "__cluster_metadata", 1, 1, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_INVALID_REQUEST);
    release(ct);
    ct = create_topic(&n, "defaults", -1, -1, NULL, NULL);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_NONE);
    ck_assert_int_eq(ct->topics[0]->num_partitions, 1);
    release(ct);

    /* CreatePartitions and DeleteTopics. */
    Sluice__Controller__CreatePartitionsRequest cp =
        SLUICE__CONTROLLER__CREATE_PARTITIONS_REQUEST__INIT;
    Sluice__Controller__CreatePartitionsTopic cpt =
        SLUICE__CONTROLLER__CREATE_PARTITIONS_TOPIC__INIT;
    Sluice__Controller__CreatePartitionsTopic *cpts[1] = {&cpt};
    cpt.name = "orders";
    cpt.count = 8;
    cp.topics = cpts;
    cp.n_topics = 1;
    Sluice__Controller__TopicResultsResponse *cpr =
        call(&n, M(CREATE_PARTITIONS), &cp.base,
             &sluice__controller__topic_results_response__descriptor);
    ck_assert_int_eq(cpr->topics[0]->error_code, KAFKA_ERROR_NONE);
    release(cpr);
    ck_assert_uint_eq(image_find_topic(n.quorum.fsm.image, "orders")->n_partitions, 8);
    cpr = call(&n, M(CREATE_PARTITIONS), &cp.base,
               &sluice__controller__topic_results_response__descriptor);
    ck_assert_int_eq(cpr->topics[0]->error_code, KAFKA_ERROR_INVALID_PARTITIONS);
    release(cpr);

    /* AlterConfigs: one TopicResult per resource, in request order. */
    Sluice__Controller__AlterConfigsRequest ac = SLUICE__CONTROLLER__ALTER_CONFIGS_REQUEST__INIT;
    Sluice__Controller__AlterConfigsResource acr[2] = {
        SLUICE__CONTROLLER__ALTER_CONFIGS_RESOURCE__INIT,
        SLUICE__CONTROLLER__ALTER_CONFIGS_RESOURCE__INIT};
    Sluice__Controller__AlterConfigsResource *acrs[2] = {&acr[0], &acr[1]};
    Sluice__Controller__AlterableConfig cfg = SLUICE__CONTROLLER__ALTERABLE_CONFIG__INIT;
    Sluice__Controller__AlterableConfig *cfgs[1] = {&cfg};
    cfg.name = "retention.ms";
    cfg.value = "60000";
    acr[0].topic = "missing";
    acr[1].topic = "orders";
    acr[0].configs = acr[1].configs = cfgs;
    acr[0].n_configs = acr[1].n_configs = 1;
    ac.resources = acrs;
    ac.n_resources = 2;
    Sluice__Controller__TopicResultsResponse *acp = call(
        &n, M(ALTER_CONFIGS), &ac.base, &sluice__controller__topic_results_response__descriptor);
    ck_assert_int_eq(acp->error_code, KAFKA_ERROR_NONE);
    ck_assert_uint_eq(acp->n_topics, 2);
    ck_assert_str_eq(acp->topics[0]->name, "missing");
    ck_assert_int_eq(acp->topics[0]->error_code, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION);
    ck_assert_str_eq(acp->topics[1]->name, "orders");
    ck_assert_int_eq(acp->topics[1]->error_code, KAFKA_ERROR_NONE);
    release(acp);
    ck_assert_str_eq(
        image_topic_config(image_find_topic(n.quorum.fsm.image, "orders"), "retention.ms"),
        "60000");

    Sluice__Controller__DeleteTopicsRequest dt = SLUICE__CONTROLLER__DELETE_TOPICS_REQUEST__INIT;
    char *names[] = {"defaults", "missing"};
    dt.names = names;
    dt.n_names = 2;
    Sluice__Controller__TopicResultsResponse *dr = call(
        &n, M(DELETE_TOPICS), &dt.base, &sluice__controller__topic_results_response__descriptor);
    ck_assert_int_eq(dr->topics[0]->error_code, KAFKA_ERROR_NONE);
    ck_assert_int_eq(dr->topics[1]->error_code, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION);
    release(dr);
    ck_assert_ptr_null(image_find_topic(n.quorum.fsm.image, "defaults"));
    node_stop(&n);
}
END_TEST

static Sluice__Controller__FetchMetadataResponse *fetch(struct node *n, int64_t after)
{
    Sluice__Controller__FetchMetadataRequest req = SLUICE__CONTROLLER__FETCH_METADATA_REQUEST__INIT;
    req.after_offset = after;
    return call(n, M(FETCH_METADATA), &req.base,
                &sluice__controller__fetch_metadata_response__descriptor);
}

START_TEST(test_metadata_stream)
{
    struct node n;
    node_start(&n, 5000);
    register_three(&n);
    Sluice__Controller__FetchMetadataResponse *full = fetch(&n, -1);
    ck_assert_ptr_nonnull(full->image);
    ck_assert_uint_eq(full->image->n_brokers, 3);
    int64_t at = full->latest_offset;
    ck_assert_int_eq(at, fsm_offset(&n.quorum.fsm));
    release(full);

    release(create_topic(&n, "a", 2, 1, NULL, NULL));
    Sluice__Controller__FetchMetadataResponse *d = fetch(&n, at);
    ck_assert_ptr_null(d->image);
    ck_assert_uint_eq(d->n_deltas, 1);
    ck_assert_int_eq(d->deltas[0]->offset, at + 1);
    /* TopicRecord then two PartitionRecords. */
    ck_assert_uint_eq(d->deltas[0]->batch->n_records, 3);
    ck_assert_int_eq(d->deltas[0]->batch->records[0]->record_case,
                     SLUICE__METADATA__METADATA_RECORD__RECORD_TOPIC);
    release(d);
    d = fetch(&n, at + 1);
    ck_assert_uint_eq(d->n_deltas, 0);
    ck_assert_ptr_null(d->image);
    release(d);

    Sluice__Controller__DescribeQuorumRequest dq =
        SLUICE__CONTROLLER__DESCRIBE_QUORUM_REQUEST__INIT;
    Sluice__Controller__DescribeQuorumResponse *q =
        call(&n, M(DESCRIBE_QUORUM), &dq.base,
             &sluice__controller__describe_quorum_response__descriptor);
    ck_assert_str_eq(q->state, "leader");
    ck_assert_int_eq(q->leader->leader_id, 1);
    ck_assert_uint_eq(q->n_voters, 1);
    ck_assert_uint_ge(q->last_applied, 1);
    ck_assert_uint_eq(q->image->n_topics, 1);
    release(q);
    node_stop(&n);
}
END_TEST

/* Broker 3 is fenced and out of every ISR, and no partition of "t" is led
 * by it. */
static bool broker3_gone(struct node *n)
{
    const MetadataImage *img = n->quorum.fsm.image;
    if (!image_find_broker(img, 3)->fenced) {
        return false;
    }
    const TopicState *t = image_find_topic(img, "t");
    for (size_t p = 0; p < t->n_partitions; p++) {
        const PartitionState *ps = t->partitions[p];
        if (ps->leader == 3 || image_ints_contain(ps->isr, ps->n_isr, 3)) {
            return false;
        }
    }
    return true;
}

static bool solo_all_led(struct node *n)
{
    const TopicState *solo = image_find_topic(n->quorum.fsm.image, "solo");
    for (size_t p = 0; p < solo->n_partitions; p++) {
        if (solo->partitions[p]->leader < 1) {
            return false;
        }
    }
    return true;
}

/* The duty timer scans every partition for elections only when what
 * elections read changed (the image, a fence, a broker shutting down, an
 * offline replica): an idle cluster of thousands of partitions costs its
 * active controller nothing per tick. */
START_TEST(test_idle_ticks_do_not_scan_partitions)
{
    struct node n;
    node_start(&n, 5000);
    register_three(&n);
    release(create_topic(&n, "t", 6, 3, NULL, NULL));
    for (int i = 0; i < 3; i++) { /* the topic's commit settles */
        controller_service_tick(&n.svc);
        run_for(&n, 20);
    }
    uint64_t scans = n.svc.elect_scans;
    for (int i = 0; i < 10; i++) {
        for (int id = 1; id <= 3; id++) {
            release(heartbeat(&n, id, epochs[id], false));
        }
        controller_service_tick(&n.svc);
        run_for(&n, 5);
    }
    ck_assert_uint_eq(n.svc.elect_scans, scans);
    /* A change of the image: the next tick scans again, once. */
    release(create_topic(&n, "u", 3, 3, NULL, NULL));
    controller_service_tick(&n.svc);
    run_for(&n, 5);
    ck_assert_uint_eq(n.svc.elect_scans, scans + 1);
    controller_service_tick(&n.svc);
    ck_assert_uint_eq(n.svc.elect_scans, scans + 1);
    node_stop(&n);
}
END_TEST

START_TEST(test_silent_broker_fenced_and_leaders_moved)
{
    struct node n;
    /* Sessions run on a clock only this test moves: every session starts
     * at `start` (registration, leadership), however slow the commits. */
    const uint64_t start = 1000000;
    uint64_t clock = start;
    node_start_clocked(&n, 300, &clock);
    register_three(&n);
    release(create_topic(&n, "t", 6, 3, NULL, NULL));
    release(create_topic(&n, "solo", 3, 1, NULL, NULL));
    /* Brokers 1 and 2 keep heartbeating; 3 stays silent. At exactly the
     * session timeout broker 3 is still in (Kafka fences after it). */
    clock = start + 300;
    for (int id = 1; id <= 2; id++) {
        release(heartbeat(&n, id, epochs[id], false));
    }
    controller_service_tick(&n.svc);
    run_for(&n, 100);
    ck_assert(!image_find_broker(n.quorum.fsm.image, 3)->fenced);
    /* One millisecond later it lapses: fenced, and its leaderships moved (a
     * few commits, on the loop's real time). */
    clock = start + 301;
    for (int i = 0; i < 500 && !broker3_gone(&n); i++) {
        for (int id = 1; id <= 2; id++) {
            release(heartbeat(&n, id, epochs[id], false));
        }
        controller_service_tick(&n.svc);
        run_for(&n, 10);
    }
    ck_assert(broker3_gone(&n));
    const MetadataImage *img = n.quorum.fsm.image;
    ck_assert(!image_find_broker(img, 1)->fenced);
    const TopicState *t = image_find_topic(img, "t");
    for (size_t p = 0; p < t->n_partitions; p++) {
        ck_assert_int_ge(t->partitions[p]->leader, 1);
        ck_assert_uint_eq(t->partitions[p]->n_isr, 2);
    }
    /* A single-replica partition on broker 3 goes offline (no unclean election). */
    const TopicState *solo = image_find_topic(img, "solo");
    int offline = 0;
    for (size_t p = 0; p < solo->n_partitions; p++) {
        if (solo->partitions[p]->replicas[0] == 3) {
            ck_assert_int_eq(solo->partitions[p]->leader, -1);
            ck_assert_int_eq(solo->partitions[p]->isr[0], 3);
            offline++;
        }
    }
    ck_assert_int_eq(offline, 1);
    /* Broker 3 comes back: unfenced when caught up, and its offline
     * partition elects it again. */
    Sluice__Controller__BrokerHeartbeatResponse *hb = heartbeat(&n, 3, epochs[3], false);
    ck_assert(!hb->is_fenced);
    release(hb);
    for (int i = 0; i < 200 && !solo_all_led(&n); i++) {
        run_for(&n, 10);
    }
    ck_assert(solo_all_led(&n));
    node_stop(&n);
}
END_TEST

/* Broken "a fenced broker leads nothing" rules in an image: a fenced (or
 * unknown) leader, a fenced member in the ISR of a led partition, or an
 * offline partition with an unfenced ISR member that could lead it. (An
 * offline partition keeps its last ISR, fenced, so its return is clean.) */
static int image_violations(const MetadataImage *img)
{
    int bad = 0;
    for (size_t i = 0; i < img->n_topics; i++) {
        for (size_t j = 0; j < img->topics[i]->n_partitions; j++) {
            const PartitionState *p = img->topics[i]->partitions[j];
            const BrokerState *l = image_find_broker(img, p->leader);
            bad += p->leader >= 0 && (l == NULL || l->fenced);
            for (size_t k = 0; k < p->n_isr; k++) {
                const BrokerState *b = image_find_broker(img, p->isr[k]);
                bad += b != NULL && b->fenced == (p->leader >= 0);
            }
        }
    }
    return bad;
}

struct replay {
    struct fsm fsm;
    int violations;
    int64_t fenced_at, unfenced_at; /* offsets where broker 3 changed */
};

/* Apply one of the node's deltas to the replay image and check it at that
 * very offset. */
static int replay_delta(const struct fsm_delta *d, void *arg)
{
    struct replay *r = arg;
    const struct fsm_result *res;
    bool was_fenced = image_find_broker(r->fsm.image, 3)->fenced;
    ck_assert_int_eq(fsm_apply(&r->fsm, d->bytes, d->len, &res), 0);
    ck_assert_int_eq(fsm_offset(&r->fsm), d->offset);
    bool fenced = image_find_broker(r->fsm.image, 3)->fenced;
    if (fenced && !was_fenced) {
        r->fenced_at = d->offset;
    } else if (!fenced && was_fenced) {
        r->unfenced_at = d->offset;
    }
    int bad = image_violations(r->fsm.image);
    if (bad > 0) {
        fprintf(stderr, "offset %lld: %d fenced-leader violations\n", (long long)d->offset, bad);
    }
    r->violations += bad;
    return 0;
}

/* KIP-631: the FenceBroker record and the elections it calls for commit in
 * one entry, as do UnfenceBroker and the elections of offline partitions
 * it can lead: no applied offset shows a fenced leader, a fenced ISR member
 * of a led partition, or an offline partition a live broker could lead. */
START_TEST(test_fence_and_elections_in_one_batch)
{
    struct node n;
    node_start(&n, 300);
    register_three(&n);
    release(create_topic(&n, "t", 6, 3, NULL, NULL));
    release(create_topic(&n, "solo", 3, 1, NULL, NULL));
    struct replay r = {.fenced_at = -1, .unfenced_at = -1};
    void *snap;
    size_t len;
    ck_assert_int_eq(fsm_snapshot(&n.quorum.fsm, malloc, &snap, &len), 0);
    ck_assert_int_eq(fsm_init(&r.fsm, 16), 0);
    ck_assert_int_eq(fsm_restore(&r.fsm, snap, len), 0);
    free(snap);
    int64_t from = fsm_offset(&r.fsm);
    ck_assert_int_eq(image_violations(r.fsm.image), 0);

    uv_update_time(&n.loop);
    uint64_t start = uv_now(&n.loop);
    /* Until broker 3 is out of everything and its single-replica
     * partition is offline, so its return has something to bring back. */
    while (!(broker3_gone(&n) && !solo_all_led(&n)) && uv_now(&n.loop) - start < 5000) {
        for (int id = 1; id <= 2; id++) {
            release(heartbeat(&n, id, epochs[id], false));
        }
        run_for(&n, 50);
    }
    ck_assert(broker3_gone(&n) && !solo_all_led(&n));
    Sluice__Controller__BrokerHeartbeatResponse *hb = heartbeat(&n, 3, epochs[3], false);
    ck_assert(!hb->is_fenced);
    release(hb);
    bool led_at_once = solo_all_led(&n); /* already, not on a later duty tick */
    run_for(&n, 200);                    /* any later duty proposals are checked too */

    ck_assert_int_ge(fsm_deltas_after(&n.quorum.fsm, from, 4096, replay_delta, &r), 2);
    ck_assert_int_gt(r.fenced_at, from);
    ck_assert_int_gt(r.unfenced_at, r.fenced_at);
    ck_assert_int_eq(r.violations, 0);
    ck_assert(led_at_once);
    ck_assert_int_eq(fsm_offset(&r.fsm), fsm_offset(&n.quorum.fsm));
    fsm_close(&r.fsm);
    node_stop(&n);
}
END_TEST

START_TEST(test_alter_partition_and_controlled_shutdown)
{
    struct node n;
    node_start(&n, 5000);
    register_three(&n);
    release(create_topic(&n, "t", 3, 3, NULL, NULL));
    const TopicState *t = image_find_topic(n.quorum.fsm.image, "t");
    const PartitionState *p0 = t->partitions[0];
    int32_t leader = p0->leader;
    Sluice__Controller__AlterPartitionRequest ap =
        SLUICE__CONTROLLER__ALTER_PARTITION_REQUEST__INIT;
    ap.broker_id = leader;
    ap.broker_epoch = epochs[leader];
    ap.topic_id = t->topic_id;
    ap.partition = 0;
    ap.leader_epoch = p0->leader_epoch;
    ap.partition_epoch = p0->partition_epoch;
    int32_t isr[] = {leader};
    ap.new_isr = isr;
    ap.n_new_isr = 1;
    Sluice__Controller__AlterPartitionResponse *ar =
        call(&n, M(ALTER_PARTITION), &ap.base,
             &sluice__controller__alter_partition_response__descriptor);
    ck_assert_int_eq(ar->error_code, KAFKA_ERROR_NONE);
    ck_assert_uint_eq(ar->partition->n_isr, 1);
    ck_assert_int_eq(ar->partition->partition_epoch, 1);
    release(ar);
    /* A stale partition epoch with another ISR loses the compare-and-set. */
    int32_t all[] = {1, 2, 3};
    ap.new_isr = all;
    ap.n_new_isr = 3;
    ar = call(&n, M(ALTER_PARTITION), &ap.base,
              &sluice__controller__alter_partition_response__descriptor);
    ck_assert_int_eq(ar->error_code, KAFKA_ERROR_INVALID_UPDATE_VERSION);
    ck_assert_uint_eq(ar->partition->n_isr, 1);
    release(ar);
    ap.new_isr = isr;
    ap.n_new_isr = 1;
    /* Only the leader may alter (Kafka: INVALID_REQUEST at the right
     * leader epoch). */
    ap.broker_id = leader % 3 + 1;
    ap.broker_epoch = epochs[ap.broker_id];
    ap.partition_epoch = 1;
    ar = call(&n, M(ALTER_PARTITION), &ap.base,
              &sluice__controller__alter_partition_response__descriptor);
    ck_assert_int_eq(ar->error_code, KAFKA_ERROR_INVALID_REQUEST);
    release(ar);

    /* Controlled shutdown of broker 2: it leads nothing afterwards except
     * where it is the only ISR member, and is fenced when it leads nothing. */
    Sluice__Controller__ControlledShutdownRequest cs =
        SLUICE__CONTROLLER__CONTROLLED_SHUTDOWN_REQUEST__INIT;
    cs.broker_id = 2;
    cs.broker_epoch = epochs[2];
    Sluice__Controller__ControlledShutdownResponse *cr =
        call(&n, M(CONTROLLED_SHUTDOWN), &cs.base,
             &sluice__controller__controlled_shutdown_response__descriptor);
    ck_assert_int_eq(cr->error_code, KAFKA_ERROR_NONE);
    int32_t remaining = cr->remaining_leaderships;
    release(cr);
    t = image_find_topic(n.quorum.fsm.image, "t");
    int still = 0;
    for (size_t p = 0; p < t->n_partitions; p++) {
        if (t->partitions[p]->leader == 2) {
            still++;
            ck_assert_uint_eq(t->partitions[p]->n_isr, 1);
        } else {
            ck_assert(!image_ints_contain(t->partitions[p]->isr, t->partitions[p]->n_isr, 2));
        }
    }
    ck_assert_int_eq(still, remaining);
    ck_assert(image_find_broker(n.quorum.fsm.image, 2)->fenced == (remaining == 0));
    node_stop(&n);
}
END_TEST

/* Issue 14: a broker's ControlledShutdown is its last request, its logs
 * closed. Where it is the only replica (the only ISR member) nobody can take
 * its leadership: the partition is left without a leader, still with it in
 * its ISR, and the broker is fenced, so its next incarnation registers at
 * once rather than being refused (DUPLICATE_BROKER_REGISTRATION) until the
 * old session times out, and leads again once unfenced. A second process
 * while the first has not stopped is still refused. */
START_TEST(test_register_after_controlled_shutdown)
{
    struct node n;
    node_start(&n, 5000);
    register_three(&n);
    release(create_topic(&n, "solo", 3, 1, NULL, NULL));
    int32_t code;
    register_broker(&n, 2, "inc-2-again", &code);
    ck_assert_int_eq(code, KAFKA_ERROR_DUPLICATE_BROKER_REGISTRATION);

    Sluice__Controller__ControlledShutdownRequest cs =
        SLUICE__CONTROLLER__CONTROLLED_SHUTDOWN_REQUEST__INIT;
    cs.broker_id = 2;
    cs.broker_epoch = epochs[2];
    Sluice__Controller__ControlledShutdownResponse *cr =
        call(&n, M(CONTROLLED_SHUTDOWN), &cs.base,
             &sluice__controller__controlled_shutdown_response__descriptor);
    ck_assert_int_eq(cr->error_code, KAFKA_ERROR_NONE);
    ck_assert_int_eq(cr->remaining_leaderships, 0);
    release(cr);
    ck_assert(image_find_broker(n.quorum.fsm.image, 2)->fenced);
    const TopicState *t = image_find_topic(n.quorum.fsm.image, "solo");
    int offline = 0;
    for (size_t p = 0; p < t->n_partitions; p++) {
        const PartitionState *ps = t->partitions[p];
        ck_assert_int_ne(ps->leader, 2);
        if (ps->leader == -1) {
            offline++;
            ck_assert_uint_eq(ps->n_isr, 1);
            ck_assert_int_eq(ps->isr[0], 2);
        }
    }
    ck_assert_int_eq(offline, 1);

    int64_t epoch = register_broker(&n, 2, "inc-2-again", &code);
    ck_assert_int_eq(code, KAFKA_ERROR_NONE);
    ck_assert_int_gt(epoch, epochs[2]);
    const BrokerState *b = image_find_broker(n.quorum.fsm.image, 2);
    ck_assert_str_eq(b->incarnation_id, "inc-2-again");
    ck_assert(b->fenced);
    Sluice__Controller__BrokerHeartbeatResponse *hb = heartbeat(&n, 2, epoch, false);
    ck_assert_int_eq(hb->error_code, KAFKA_ERROR_NONE);
    ck_assert(!hb->is_fenced);
    release(hb);
    t = image_find_topic(n.quorum.fsm.image, "solo");
    int led = 0;
    for (size_t p = 0; p < t->n_partitions; p++) {
        ck_assert_int_ne(t->partitions[p]->leader, -1);
        led += t->partitions[p]->leader == 2;
    }
    ck_assert_int_eq(led, 1);
    node_stop(&n);
}
END_TEST

static Sluice__Controller__AlterPartitionResponse *
alter(struct node *n, int32_t broker, int64_t broker_epoch, const char *topic, int32_t leader_epoch,
      int32_t partition_epoch, const int32_t *ids, const int64_t *member_epochs, size_t n_isr)
{
    const TopicState *t = image_find_topic(n->quorum.fsm.image, topic);
    Sluice__Controller__AlterPartitionRequest ap =
        SLUICE__CONTROLLER__ALTER_PARTITION_REQUEST__INIT;
    Sluice__Controller__IsrMember m[4], *mp[4];
    ap.version = 2;
    ap.broker_id = broker;
    ap.broker_epoch = broker_epoch;
    ap.topic_id = t->topic_id;
    ap.partition = 0;
    ap.leader_epoch = leader_epoch;
    ap.partition_epoch = partition_epoch;
    for (size_t i = 0; i < n_isr; i++) {
        sluice__controller__isr_member__init(&m[i]);
        m[i].broker_id = ids[i];
        m[i].broker_epoch = member_epochs[i];
        mp[i] = &m[i];
    }
    ap.new_isr_with_epochs = mp;
    ap.n_new_isr_with_epochs = n_isr;
    return call(n, M(ALTER_PARTITION), &ap.base,
                &sluice__controller__alter_partition_response__descriptor);
}

/* KIP-497 / KIP-903 rules, each refusal leaving the partition as it was
 * and answering with its committed state. */
START_TEST(test_alter_partition_rules)
{
    struct node n;
    node_start(&n, 5000);
    register_three(&n);
    release(create_topic(&n, "t", 1, 3, NULL, NULL));
    const PartitionState *p = image_find_topic(n.quorum.fsm.image, "t")->partitions[0];
    int32_t l = p->leader, f1 = l % 3 + 1, f2 = f1 % 3 + 1;
    int32_t le = p->leader_epoch;
    ck_assert_uint_eq(p->n_isr, 3); /* all replicas of a new partition */
    int32_t shrink[] = {l}, grow[] = {l, f1}, bad_dup[] = {l, l};
    int64_t e_shrink[] = {epochs[l]}, e_grow[] = {epochs[l], epochs[f1]};
    int64_t e_stale[] = {epochs[l], epochs[f1] + 100}, e_none[] = {epochs[l], -1};

    /* Shrink: committed, and the answer carries the new state. */
    Sluice__Controller__AlterPartitionResponse *ar =
        alter(&n, l, epochs[l], "t", le, 0, shrink, e_shrink, 1);
    ck_assert_int_eq(ar->error_code, KAFKA_ERROR_NONE);
    ck_assert_uint_eq(ar->partition->n_isr, 1);
    ck_assert_int_eq(ar->partition->partition_epoch, 1);
    ck_assert_int_eq(ar->partition->leader_epoch, le);
    ck_assert_int_eq(ar->partition->leader, l);
    ck_assert_uint_eq(ar->topic_id.len, 16);
    release(ar);
    /* The same request again (its answer lost with a controller): the
     * change is there, so it succeeds without another change. */
    int64_t offset = fsm_offset(&n.quorum.fsm);
    ar = alter(&n, l, epochs[l], "t", le, 0, shrink, e_shrink, 1);
    ck_assert_int_eq(ar->error_code, KAFKA_ERROR_NONE);
    ck_assert_int_eq(ar->partition->partition_epoch, 1);
    ck_assert_int_eq(fsm_offset(&n.quorum.fsm), offset);
    release(ar);
    struct {
        int32_t broker;
        int64_t broker_epoch;
        int32_t leader_epoch, partition_epoch;
        const int32_t *ids;
        const int64_t *member_epochs;
        size_t n;
        int32_t expect;
    } cases[] = {
        {l, epochs[l] + 1, le, 1, grow, e_grow, 2,
         KAFKA_ERROR_STALE_BROKER_EPOCH}, /* asker restarted */
        {l, epochs[l], le - 1, 1, grow, e_grow, 2, KAFKA_ERROR_FENCED_LEADER_EPOCH},
        {l, epochs[l], le + 1, 1, grow, e_grow, 2, KAFKA_ERROR_FENCED_LEADER_EPOCH},
        {f1, epochs[f1], le, 1, grow, e_grow, 2, KAFKA_ERROR_INVALID_REQUEST}, /* not the leader */
        {l, epochs[l], le, 0, grow, e_grow, 2, KAFKA_ERROR_INVALID_UPDATE_VERSION}, /* stale CAS */
        {l, epochs[l], le, 1, grow + 1, e_grow + 1, 1,
         KAFKA_ERROR_INVALID_REQUEST}, /* leader left */
        {l, epochs[l], le, 1, bad_dup, e_grow, 2, KAFKA_ERROR_INVALID_REQUEST},
        {l, epochs[l], le, 1, grow, e_none, 2,
         KAFKA_ERROR_INVALID_REQUEST}, /* joiner without epoch */
        {l, epochs[l], le, 1, grow, e_stale, 2, KAFKA_ERROR_INELIGIBLE_REPLICA}, /* KIP-903 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ar = alter(&n, cases[i].broker, cases[i].broker_epoch, "t", cases[i].leader_epoch,
                   cases[i].partition_epoch, cases[i].ids, cases[i].member_epochs, cases[i].n);
        ck_assert_msg(ar->error_code == cases[i].expect, "case %zu: error %d, expected %d", i,
                      ar->error_code, cases[i].expect);
        ck_assert_ptr_nonnull(ar->partition);
        ck_assert_int_eq(ar->partition->partition_epoch, 1);
        ck_assert_uint_eq(ar->partition->n_isr, 1);
        release(ar);
    }
    /* A fenced broker cannot join: f1 asks to be fenced. */
    Sluice__Controller__BrokerHeartbeatRequest hb =
        SLUICE__CONTROLLER__BROKER_HEARTBEAT_REQUEST__INIT;
    hb.broker_id = f1;
    hb.broker_epoch = epochs[f1];
    hb.metadata_offset = fsm_offset(&n.quorum.fsm);
    hb.want_fence = true;
    Sluice__Controller__BrokerHeartbeatResponse *hr =
        call(&n, M(BROKER_HEARTBEAT), &hb.base,
             &sluice__controller__broker_heartbeat_response__descriptor);
    ck_assert(hr->is_fenced);
    ck_assert_int_ge(hr->metadata_offset, fsm_offset(&n.quorum.fsm));
    release(hr);
    ar = alter(&n, l, epochs[l], "t", le, 1, grow, e_grow, 2);
    ck_assert_int_eq(ar->error_code, KAFKA_ERROR_INELIGIBLE_REPLICA);
    release(ar);
    /* Expansion with the right epoch of a live broker: committed. */
    int32_t grow2[] = {l, f2};
    int64_t e_grow2[] = {epochs[l], epochs[f2]};
    ar = alter(&n, l, epochs[l], "t", le, 1, grow2, e_grow2, 2);
    ck_assert_int_eq(ar->error_code, KAFKA_ERROR_NONE);
    ck_assert_uint_eq(ar->partition->n_isr, 2);
    ck_assert_int_eq(ar->partition->partition_epoch, 2);
    release(ar);
    node_stop(&n);
}
END_TEST

/* A broker registering again with a new incarnation (a restart, perhaps
 * with an empty disk) before the controller fenced the old one: the
 * registration and the changes it calls for commit in one batch, so no
 * offset shows the new incarnation leading or in an ISR it has not
 * rejoined, except as the last member of a partition that then stays
 * offline. */
START_TEST(test_reregistration_leaves_isrs_in_one_batch)
{
    struct node n;
    node_start(&n, 300);
    register_three(&n);
    release(create_topic(&n, "t", 6, 3, NULL, NULL));
    release(create_topic(&n, "solo", 3, 1, NULL, NULL));
    /* No duties: the old session lapses but is not fenced, the window in
     * which a quick restart registers. */
    uv_timer_stop(&n.svc.timer);
    struct replay r = {.fenced_at = -1, .unfenced_at = -1};
    void *snap;
    size_t len;
    ck_assert_int_eq(fsm_snapshot(&n.quorum.fsm, malloc, &snap, &len), 0);
    ck_assert_int_eq(fsm_init(&r.fsm, 16), 0);
    ck_assert_int_eq(fsm_restore(&r.fsm, snap, len), 0);
    free(snap);
    int64_t from = fsm_offset(&r.fsm);
    run_for(&n, 400);
    ck_assert(!image_find_broker(n.quorum.fsm.image, 3)->fenced);
    int32_t code;
    int64_t epoch = register_broker(&n, 3, "inc-3-again", &code);
    ck_assert_int_eq(code, KAFKA_ERROR_NONE);
    ck_assert_int_gt(epoch, epochs[3]);
    ck_assert_int_eq(fsm_offset(&n.quorum.fsm), from + 1); /* one entry */
    const MetadataImage *img = n.quorum.fsm.image;
    ck_assert(image_find_broker(img, 3)->fenced);
    const TopicState *t = image_find_topic(img, "t");
    for (size_t i = 0; i < t->n_partitions; i++) {
        const PartitionState *p = t->partitions[i];
        ck_assert_int_ne(p->leader, 3);
        ck_assert(!image_ints_contain(p->isr, p->n_isr, 3));
        ck_assert_uint_eq(p->n_isr, 2);
    }
    /* Its single-replica partitions: offline, it stays their last ISR. */
    const TopicState *solo = image_find_topic(img, "solo");
    for (size_t i = 0; i < solo->n_partitions; i++) {
        const PartitionState *p = solo->partitions[i];
        if (p->replicas[0] == 3) {
            ck_assert_int_eq(p->leader, -1);
            ck_assert_uint_eq(p->n_isr, 1);
        }
    }
    ck_assert_int_eq(fsm_deltas_after(&n.quorum.fsm, from, 16, replay_delta, &r), 1);
    ck_assert_int_eq(r.violations, 0);
    /* Retrying the same registration changes nothing more. */
    ck_assert_int_eq(register_broker(&n, 3, "inc-3-again", &code), epoch);
    ck_assert_int_eq(fsm_offset(&n.quorum.fsm), from + 2);
    ck_assert_int_eq(fsm_deltas_after(&n.quorum.fsm, from + 1, 16, replay_delta, &r), 1);
    ck_assert_int_eq(r.violations, 0);
    fsm_close(&r.fsm);
    node_stop(&n);
}
END_TEST

START_TEST(test_not_controller_and_garbage)
{
    struct node n;
    node_start(&n, 5000);
    /* A service whose quorum is not running answers NOT_CONTROLLER, naming
     * the leader it knows of (none here). */
    struct quorum idle;
    ck_assert_int_eq(quorum_init(&idle, 2, NULL, NULL, NULL), 0);
    struct controller_service other;
    ck_assert_int_eq(controller_service_start(&other, &n.loop, &idle, &n.voters, &n.config,
                                              "127.0.0.1", 0, NULL),
                     0);
    struct rpc_client c;
    ck_assert_int_eq(
        rpc_client_init(&c, &n.loop, "127.0.0.1", controller_service_port(&other), NULL), 0);
    n.target = &c;
    Sluice__Controller__CreateTopicsResponse *ct = create_topic(&n, "x", 1, 1, NULL, NULL);
    ck_assert_int_eq(ct->error_code, KAFKA_ERROR_NOT_CONTROLLER);
    ck_assert_int_eq(ct->topics[0]->error_code, KAFKA_ERROR_NOT_CONTROLLER);
    ck_assert_ptr_nonnull(ct->leader);
    ck_assert_int_eq(ct->leader->leader_id, -1);
    release(ct);
    /* The shared per-topic answer says the same for every topic it names. */
    Sluice__Controller__DeleteTopicsRequest dt = SLUICE__CONTROLLER__DELETE_TOPICS_REQUEST__INIT;
    char *names[] = {"a", "b"};
    dt.names = names;
    dt.n_names = 2;
    Sluice__Controller__TopicResultsResponse *dr = call(
        &n, M(DELETE_TOPICS), &dt.base, &sluice__controller__topic_results_response__descriptor);
    ck_assert_int_eq(dr->error_code, KAFKA_ERROR_NOT_CONTROLLER);
    ck_assert_ptr_nonnull(dr->leader);
    ck_assert_uint_eq(dr->n_topics, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_str_eq(dr->topics[i]->name, names[i]);
        ck_assert_int_eq(dr->topics[i]->error_code, KAFKA_ERROR_NOT_CONTROLLER);
    }
    release(dr);
    /* CreatePartitions and AlterConfigs name their topics in that answer too. */
    Sluice__Controller__CreatePartitionsTopic cpt =
        SLUICE__CONTROLLER__CREATE_PARTITIONS_TOPIC__INIT;
    cpt.name = "p";
    cpt.count = 3;
    Sluice__Controller__CreatePartitionsTopic *cpts[] = {&cpt};
    Sluice__Controller__CreatePartitionsRequest cp =
        SLUICE__CONTROLLER__CREATE_PARTITIONS_REQUEST__INIT;
    cp.topics = cpts;
    cp.n_topics = 1;
    Sluice__Controller__AlterConfigsResource acr = SLUICE__CONTROLLER__ALTER_CONFIGS_RESOURCE__INIT;
    acr.topic = "c";
    Sluice__Controller__AlterConfigsResource *acrs[] = {&acr};
    Sluice__Controller__AlterConfigsRequest ac = SLUICE__CONTROLLER__ALTER_CONFIGS_REQUEST__INIT;
    ac.resources = acrs;
    ac.n_resources = 1;
    struct {
        uint32_t method;
        const ProtobufCMessage *req;
        const char *name;
    } named[] = {{M(CREATE_PARTITIONS), &cp.base, "p"}, {M(ALTER_CONFIGS), &ac.base, "c"}};
    for (size_t i = 0; i < 2; i++) {
        dr = call(&n, named[i].method, named[i].req,
                  &sluice__controller__topic_results_response__descriptor);
        ck_assert_int_eq(dr->error_code, KAFKA_ERROR_NOT_CONTROLLER);
        ck_assert_uint_eq(dr->n_topics, 1);
        ck_assert_str_eq(dr->topics[0]->name, named[i].name);
        ck_assert_int_eq(dr->topics[0]->error_code, KAFKA_ERROR_NOT_CONTROLLER);
        release(dr);
    }
    /* Unknown method: an RPC-level error, the service keeps running. */
    struct reply r = {.desc = &sluice__controller__create_topics_response__descriptor};
    struct rpc_request req = {.data = &r};
    ck_assert_int_eq(rpc_client_call(&c, &req, 40, 1, NULL, NULL, 0, 2000, on_reply), 0);
    while (!r.done) {
        uv_run(&n.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(r.rpc_error, RPC_ERROR_UNKNOWN_METHOD);
    release(r.msg);
    rpc_client_close(&c, on_client_closed);
    n.target = &n.client;
    controller_service_close(&other, NULL);
    run_for(&n, 20);
    quorum_close(&idle, NULL);
    node_stop(&n);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_register_heartbeat_and_topics);
    tcase_add_test(tc, test_metadata_stream);
    tcase_add_test(tc, test_idle_ticks_do_not_scan_partitions);
    tcase_add_test(tc, test_silent_broker_fenced_and_leaders_moved);
    tcase_add_test(tc, test_fence_and_elections_in_one_batch);
    tcase_add_test(tc, test_alter_partition_and_controlled_shutdown);
    tcase_add_test(tc, test_register_after_controlled_shutdown);
    tcase_add_test(tc, test_alter_partition_rules);
    tcase_add_test(tc, test_reregistration_leaves_isrs_in_one_batch);
    tcase_add_test(tc, test_not_controller_and_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
