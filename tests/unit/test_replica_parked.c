/* Operations parked on partitions this broker leads (as DeleteRecords,
 * Fetch and Produce park in the replica manager's purgatory) are asked
 * again when what decides them changes outside the partition: a broker
 * holding one of its replicas is fenced or comes back (the low watermark
 * counts replicas on live brokers only), or the partition goes (topic
 * deleted, moved off this broker) or is led elsewhere. The view is the
 * quorum-fed one over an image the test builds, as in
 * test_replica_manager.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/data_dir.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/replica_liveness.h"
#include "broker/replica/replica_manager.h"
#include "metadata/image.h"
#include "tests/unit/check_main.h"
#include "tests/unit/image_test_util.h"

static struct replica_fixture rfx;

static void setup(void)
{
    rfx_setup(&rfx);
}

static void teardown(void)
{
    rfx_teardown(&rfx);
}

static TopicState *add_topic(const char *name, int32_t n)
{
    return itu_add_topic(rfx.img, name, n, 0x42);
}

static void remove_topic(const char *name)
{
    itu_remove_topic(rfx.img, name);
}

/* Broker `id`, registered and unfenced. */
static void add_broker(int32_t id)
{
    BrokerState *b = malloc(sizeof *b);
    sluice__metadata__broker_state__init(b);
    b->broker_id = id;
    b->broker_epoch = 10 + id;
    b->incarnation_id = image_strdup("incarnation");
    ck_assert_int_eq(image_put_broker(rfx.img, b), 0);
}

static void set_fenced(int32_t id, bool fenced)
{
    for (size_t i = 0; i < rfx.img->n_brokers; i++) {
        if (rfx.img->brokers[i]->broker_id == id) {
            rfx.img->brokers[i]->fenced = fenced;
            return;
        }
    }
    ck_abort_msg("no broker %d", (int)id);
}

/* Partition `index` of topic `name` in the image. */
static PartitionState *image_partition(const char *name, int32_t index)
{
    for (size_t i = 0; i < rfx.img->n_topics; i++) {
        if (strcmp(rfx.img->topics[i]->name, name) == 0) {
            return rfx.img->topics[i]->partitions[index];
        }
    }
    ck_abort_msg("no topic %s", name);
    return NULL;
}

/* Topic `name` of `n` partitions led here, replicas {1, 2}, ISR {1}:
 * broker 2's replica has fetched nothing (its log start is unknown), so
 * while broker 2 is alive it holds the low watermark at -1. */
static void add_replicated_topic(const char *name, int32_t n)
{
    static const int32_t both[] = {1, 2};
    TopicState *t = add_topic(name, n);
    for (int32_t i = 0; i < n; i++) {
        PartitionState *ps = t->partitions[i];
        ck_assert_int_eq(image_set_ints(&ps->replicas, &ps->n_replicas, both, 2), 0);
    }
}

/* An operation parked on a partition as a DeleteRecords parks: asked
 * again, it looks the partition up through the replica manager (it may be
 * gone) and completes once that is gone, led elsewhere, or its low
 * watermark reached `target`. */
enum parked_outcome { PARKED_WAITING, PARKED_GONE, PARKED_NOT_LEADER, PARKED_REACHED };

struct parked {
    struct replica_manager *rm;
    const char *topic;
    int32_t index;
    int64_t target;
    int asked, completions;
    bool expired;
    enum parked_outcome outcome;
    struct delayed_op op;
};

static bool parked_ready(struct delayed_op *op)
{
    struct parked *w = op->data;
    w->asked++;
    struct partition *p = replica_manager_partition(w->rm, w->topic, w->index);
    if (p == NULL) {
        w->outcome = PARKED_GONE;
    } else if (!partition_is_leader(p)) {
        w->outcome = PARKED_NOT_LEADER;
    } else if (replica_low_watermark(w->rm, p) >= w->target) {
        w->outcome = PARKED_REACHED;
    }
    return w->outcome != PARKED_WAITING;
}

static void parked_complete(struct delayed_op *op, bool expired)
{
    struct parked *w = op->data;
    w->completions++;
    w->expired = expired;
    delayed_op_free(op);
}

/* Park `w` (for far longer than the test) on `topic`-`index`, not ready. */
static void park_on(struct parked *w, struct replica_manager *rm, const char *topic, int32_t index,
                    int64_t target)
{
    *w = (struct parked){.rm = rm, .topic = topic, .index = index, .target = target};
    struct partition *p = replica_manager_partition(rm, topic, index);
    ck_assert_ptr_nonnull(p);
    w->op.data = w;
    ck_assert(!parked_ready(&w->op));
    w->asked = 0;
    ck_assert_int_eq(delayed_op_init(&w->op, 1, parked_ready, parked_complete, w), 0);
    partition_watch(p, &w->op);
    replica_manager_park(rm, &w->op, 600000);
}

/* Broker 2 is fenced while it is out of the ISR, so no partition changes:
 * the operations parked on the partitions with a replica there are asked
 * again, and the low watermark no longer counts that replica (Kafka's
 * lowWatermarkIfLeader over live brokers); one parked on a partition with
 * no replica there is not asked. Unfenced, broker 2's replica holds the
 * low watermark again. */
START_TEST(test_fenced_replica_rechecks_parked_low_watermark)
{
    struct metadata_view *v;
    struct replica_manager rm;
    add_broker(2);
    rfx_start(&rfx, &v, &rm);
    add_replicated_topic("dr", 1);
    add_topic("solo", 1);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    struct partition *p = replica_manager_partition(&rm, "dr", 0);
    ck_assert_int_eq(replica_low_watermark(&rm, p), -1);
    struct parked dr, solo;
    park_on(&dr, &rm, "dr", 0, 0);
    park_on(&solo, &rm, "solo", 0, 1); /* never reached: its log is empty */

    set_fenced(2, true);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(dr.completions, 1);
    ck_assert(!dr.expired);
    ck_assert_int_eq(dr.outcome, PARKED_REACHED);
    ck_assert_int_eq(replica_low_watermark(&rm, p), 0);
    ck_assert_int_eq(solo.asked, 0);
    ck_assert_int_eq(solo.completions, 0);

    set_fenced(2, false);
    metadata_quorum_refresh(v);
    ck_assert_int_eq(replica_low_watermark(&rm, p), -1);
    rfx_stop(&rfx, v, &rm);
    ck_assert_int_eq(solo.completions, 1);
    ck_assert(solo.expired);
}
END_TEST

/* Operations parked on a partition led here are answered when it goes,
 * not at their deadline: the topic deleted, the partition moved off this
 * broker (both: no partition any more), or led elsewhere. */
START_TEST(test_parked_answered_when_partition_goes)
{
    struct metadata_view *v;
    struct replica_manager rm;
    add_broker(2);
    rfx_start(&rfx, &v, &rm);
    add_replicated_topic("dr", 3);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    struct parked deleted, moved, led;
    park_on(&moved, &rm, "dr", 0, 0);
    park_on(&led, &rm, "dr", 1, 0);

    static const int32_t two[] = {2};
    PartitionState *ps = image_partition("dr", 0);
    ps->leader = 2;
    ps->leader_epoch++;
    ps->partition_epoch++;
    ck_assert_int_eq(image_set_ints(&ps->replicas, &ps->n_replicas, two, 1), 0);
    ck_assert_int_eq(image_set_ints(&ps->isr, &ps->n_isr, two, 1), 0);
    ps = image_partition("dr", 1);
    ps->leader = 2;
    ps->leader_epoch++;
    metadata_quorum_refresh(v);
    ck_assert_ptr_null(replica_manager_partition(&rm, "dr", 0));
    ck_assert_int_eq(moved.completions, 1);
    ck_assert(!moved.expired);
    ck_assert_int_eq(moved.outcome, PARKED_GONE);
    ck_assert_int_eq(led.completions, 1);
    ck_assert(!led.expired);
    ck_assert_int_eq(led.outcome, PARKED_NOT_LEADER);

    park_on(&deleted, &rm, "dr", 2, 0);
    remove_topic("dr");
    metadata_quorum_refresh(v);
    ck_assert_int_eq(deleted.completions, 1);
    ck_assert(!deleted.expired);
    ck_assert_int_eq(deleted.outcome, PARKED_GONE);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("replica_parked");
    TCase *tc = tcase_create("parked");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fenced_replica_rechecks_parked_low_watermark);
    tcase_add_test(tc, test_parked_answered_when_partition_goes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
