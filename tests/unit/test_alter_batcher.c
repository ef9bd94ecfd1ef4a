/* The broker's AlterPartition batching (broker/metadata/alter_batcher.h)
 * against a scripted controller on loopback: proposals made while a
 * request is in flight go together in the next one, each answered with its
 * own item; proposals of an older broker epoch are not sent; a controller
 * without version 3 is served one partition per request; closing cancels. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metadata/alter_batcher.h"
#include "common/rpc_server.h"
#include "proto/controller.pb-c.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"
#include "tests/unit/test_ports.h"

#define METHOD   SLUICE__CONTROLLER__CONTROLLER_METHOD__CONTROLLER_METHOD_ALTER_PARTITION
#define MAX_SEEN 16

typedef Sluice__Controller__AlterPartitionRequest Request;
typedef Sluice__Controller__AlterPartitionResponse Response;

/* The scripted controller: holds each request until the test releases it,
 * then answers in the version-3 form (odd partitions refused) or, when
 * `legacy`, as a controller before version 3 would (the version-2 fields
 * only). The committed state's partition epoch is the proposed one + 1. */
struct fake {
    uv_loop_t loop;
    struct rpc_server server;
    struct controller_client client;
    bool legacy;
    struct rpc_call *held;
    size_t n_seen, seen_items[MAX_SEEN];
    int64_t seen_epoch[MAX_SEEN];
    int64_t broker_epoch;
    struct alter_batcher batcher;
};

static void on_request(struct rpc_call *call, void *arg)
{
    struct fake *f = arg;
    const Request *req = (const Request *)call->request;
    ck_assert_ptr_null(f->held); /* one in flight at most */
    ck_assert_uint_lt(f->n_seen, MAX_SEEN);
    f->seen_epoch[f->n_seen] = req->broker_epoch;
    f->seen_items[f->n_seen++] = req->n_items;
    f->held = call;
}

static void answer_legacy(struct rpc_call *call, const Request *req)
{
    Response resp = SLUICE__CONTROLLER__ALTER_PARTITION_RESPONSE__INIT;
    Sluice__Metadata__PartitionState st = SLUICE__METADATA__PARTITION_STATE__INIT;
    st.partition = req->partition;
    st.partition_epoch = req->partition_epoch + 1;
    resp.topic_id = req->topic_id;
    resp.partition = &st;
    rpc_call_respond(call, &resp.base, NULL, 0);
}

static void answer_items(struct rpc_call *call, const Request *req)
{
    size_t n = req->n_items;
    Response resp = SLUICE__CONTROLLER__ALTER_PARTITION_RESPONSE__INIT;
    Sluice__Controller__AlterPartitionItemResult res[MAX_SEEN], *ptrs[MAX_SEEN];
    Sluice__Metadata__PartitionState st[MAX_SEEN];
    ck_assert_uint_le(n, MAX_SEEN);
    for (size_t i = 0; i < n; i++) {
        const Sluice__Controller__AlterPartitionItem *it = req->items[i];
        sluice__controller__alter_partition_item_result__init(&res[i]);
        sluice__metadata__partition_state__init(&st[i]);
        st[i].partition = it->partition;
        st[i].partition_epoch = it->partition_epoch + 1;
        res[i].topic_id = it->topic_id;
        res[i].partition_index = it->partition;
        res[i].error_code =
            it->partition % 2 == 0 ? KAFKA_ERROR_NONE : KAFKA_ERROR_INVALID_UPDATE_VERSION;
        res[i].partition = &st[i];
        ptrs[i] = &res[i];
    }
    resp.version = 3;
    resp.items = ptrs;
    resp.n_items = n;
    rpc_call_respond(call, &resp.base, NULL, 0);
}

/* Answer the held request and run the loop until the next one arrives or
 * nothing more is in flight. */
static void release_held(struct fake *f)
{
    ck_assert_ptr_nonnull(f->held);
    struct rpc_call *call = f->held;
    f->held = NULL;
    const Request *req = (const Request *)call->request;
    if (f->legacy) {
        answer_legacy(call, req);
    } else {
        answer_items(call, req);
    }
}

static void run_until(struct fake *f, bool (*done)(struct fake *f))
{
    for (int i = 0; i < 2000 && !done(f); i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    ck_assert(done(f));
}

static bool is_held(struct fake *f)
{
    return f->held != NULL;
}

static bool is_idle(struct fake *f)
{
    return !f->batcher.busy;
}

static void fake_start(struct fake *f)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    rpc_server_init(&f->server, &f->loop, 1 << 20);
    ck_assert_int_eq(rpc_server_handle(&f->server, METHOD,
                                       &sluice__controller__alter_partition_request__descriptor,
                                       on_request, f),
                     0);
    int port = test_free_port_pair();
    ck_assert_int_eq(rpc_server_listen(&f->server, "127.0.0.1", port), 0);
    char text[64], err[128];
    struct voters voters;
    snprintf(text, sizeof text, "1@127.0.0.1:%d", port);
    ck_assert_int_eq(voters_parse(text, &voters, err, sizeof err), 0);
    ck_assert_int_eq(controller_client_init(&f->client, &f->loop, &voters), 0);
    f->broker_epoch = 42;
    alter_batcher_init(&f->batcher, &f->client, &f->loop, 5, &f->broker_epoch, 5000);
}

static void fake_stop(struct fake *f)
{
    controller_client_close(&f->client, NULL);
    rpc_server_close(&f->server, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

/* One proposal and what its callback saw. */
struct prop {
    struct broker_alter_partition op;
    int calls, status;
    int32_t code, committed_partition, committed_epoch;
};

static void on_answer(struct broker_alter_partition *op, int status, int32_t code,
                      const PartitionState *committed)
{
    struct prop *p = op->data;
    p->calls++;
    p->status = status;
    p->code = code;
    p->committed_partition = committed != NULL ? committed->partition : -1;
    p->committed_epoch = committed != NULL ? committed->partition_epoch : -1;
}

static const uint8_t topic[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static int submit(struct fake *f, struct prop *p, int32_t partition)
{
    struct broker_isr_member isr[2] = {{5, f->broker_epoch}, {6, 7}};
    memset(p, 0, sizeof *p);
    p->op.data = p;
    return alter_batcher_submit(&f->batcher, &p->op, topic, partition, 3, 10 * partition, isr, 2,
                                on_answer);
}

/* Proposals made while a request is in flight go together in the next
 * request; each gets its own item's answer. */
START_TEST(test_batches_while_in_flight)
{
    struct fake f;
    fake_start(&f);
    struct prop p[6];
    ck_assert_int_eq(submit(&f, &p[0], 0), 0);
    run_until(&f, is_held);
    for (int i = 1; i < 6; i++) {
        ck_assert_int_eq(submit(&f, &p[i], i), 0);
    }
    ck_assert_int_eq(p[0].calls, 0);
    release_held(&f);
    run_until(&f, is_held); /* the second request, with the five waiting */
    ck_assert_int_eq(p[0].calls, 1);
    ck_assert_int_eq(p[1].calls, 0);
    release_held(&f);
    run_until(&f, is_idle);
    ck_assert_uint_eq(f.n_seen, 2);
    ck_assert_uint_eq(f.seen_items[0], 1);
    ck_assert_uint_eq(f.seen_items[1], 5);
    ck_assert_uint_eq(f.batcher.requests, 2);
    ck_assert_uint_eq(f.batcher.items, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(p[i].calls, 1);
        ck_assert_int_eq(p[i].status, 0);
        ck_assert_int_eq(p[i].code,
                         i % 2 == 0 ? KAFKA_ERROR_NONE : KAFKA_ERROR_INVALID_UPDATE_VERSION);
        ck_assert_int_eq(p[i].committed_partition, i);
        ck_assert_int_eq(p[i].committed_epoch, 10 * i + 1);
    }
    fake_stop(&f);
}
END_TEST

/* The session registered again while proposals waited: they are not sent
 * (-ESTALE, the replica layer proposes again), newer ones are. */
START_TEST(test_stale_epoch_not_sent)
{
    struct fake f;
    fake_start(&f);
    struct prop p[4];
    ck_assert_int_eq(submit(&f, &p[0], 0), 0);
    run_until(&f, is_held);
    ck_assert_int_eq(submit(&f, &p[1], 1), 0);
    ck_assert_int_eq(submit(&f, &p[2], 2), 0);
    f.broker_epoch = 77;
    ck_assert_int_eq(submit(&f, &p[3], 4), 0);
    release_held(&f);
    run_until(&f, is_held);
    ck_assert_int_eq(p[1].calls, 1);
    ck_assert_int_eq(p[1].status, -ESTALE);
    ck_assert_int_eq(p[2].status, -ESTALE);
    ck_assert_int_eq(p[3].calls, 0);
    ck_assert_uint_eq(f.seen_items[1], 1);
    ck_assert_int_eq(f.seen_epoch[1], 77);
    release_held(&f);
    run_until(&f, is_idle);
    ck_assert_int_eq(p[3].calls, 1);
    ck_assert_int_eq(p[3].code, KAFKA_ERROR_NONE);
    /* Not registered: refused at once. */
    f.broker_epoch = 0;
    ck_assert_int_eq(submit(&f, &p[0], 0), -EAGAIN);
    fake_stop(&f);
}
END_TEST

/* A controller from before version 3 (a rolling upgrade) answers only the
 * first item, in the version-2 form: that is the first item's answer, and
 * the others go again one per request. */
START_TEST(test_old_controller_one_per_request)
{
    struct fake f;
    fake_start(&f);
    struct prop p[4];
    ck_assert_int_eq(submit(&f, &p[0], 0), 0);
    run_until(&f, is_held);
    for (int i = 1; i < 4; i++) {
        ck_assert_int_eq(submit(&f, &p[i], i), 0);
    }
    release_held(&f);
    run_until(&f, is_held);
    ck_assert_uint_eq(f.seen_items[1], 3);
    f.legacy = true; /* a failover to a controller not yet upgraded */
    for (int r = 0; r < 3; r++) {
        release_held(&f);
        run_until(&f, r < 2 ? is_held : is_idle);
    }
    ck_assert_uint_eq(f.n_seen, 4);
    ck_assert_uint_eq(f.seen_items[2], 1);
    ck_assert_uint_eq(f.seen_items[3], 1);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(p[i].calls, 1);
        ck_assert_int_eq(p[i].status, 0);
        ck_assert_int_eq(p[i].committed_partition, i);
        ck_assert_int_eq(p[i].committed_epoch, 10 * i + 1);
    }
    fake_stop(&f);
}
END_TEST

/* Closing the session fails the request in flight and those waiting. */
START_TEST(test_close_cancels)
{
    struct fake f;
    fake_start(&f);
    struct prop p[3];
    ck_assert_int_eq(submit(&f, &p[0], 0), 0);
    run_until(&f, is_held);
    ck_assert_int_eq(submit(&f, &p[1], 1), 0);
    ck_assert_int_eq(submit(&f, &p[2], 2), 0);
    alter_batcher_cancel(&f.batcher, -ECANCELED);
    ck_assert_int_eq(p[1].status, -ECANCELED);
    ck_assert_int_eq(p[2].status, -ECANCELED);
    ck_assert_int_eq(p[0].calls, 0);
    struct rpc_call *held = f.held;
    f.held = NULL;
    controller_client_close(&f.client, NULL);
    answer_items(held, (const Request *)held->request);
    rpc_server_close(&f.server, NULL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(p[0].calls, 1);
    ck_assert_int_eq(p[0].status, -ECANCELED);
    for (int i = 1; i < 3; i++) {
        ck_assert_int_eq(p[i].calls, 1);
    }
    ck_assert_int_eq(uv_loop_close(&f.loop), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("broker_alter_batcher");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_batches_while_in_flight);
    tcase_add_test(tc, test_stale_epoch_not_sent);
    tcase_add_test(tc, test_old_controller_one_per_request);
    tcase_add_test(tc, test_close_cancels);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(suite);
}
