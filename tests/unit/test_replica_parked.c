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

static char dir[64];
static struct sluice_config cfg;
static struct data_dirs dirs;
static uv_loop_t loop;
static MetadataImage *img;

static const MetadataImage *source_image(void *data)
{
    (void)data;
    return img;
}

static void add_self(void)
{
    itu_add_self(img);
}

static TopicState *add_topic(const char *name, int32_t n)
{
    return itu_add_topic(img, name, n, 0x42);
}

static void remove_topic(const char *name)
{
    itu_remove_topic(img, name);
}

static void setup(void)
{
    char err[256];
    snprintf(dir, sizeof dir, "/tmp/sluice-test-replica-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(sluice_config_init(&cfg), 0);
    sluice_config_set(&cfg, "node.id", "1", err, sizeof err);
    sluice_config_set(&cfg, "num.partitions", "3", err, sizeof err);
    sluice_config_set(&cfg, "log.dirs", dir, err, sizeof err);
    ck_assert_int_eq(data_dirs_open(&dirs, dir, 1, err, sizeof err), 0);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    img = image_new();
    ck_assert_ptr_nonnull(img);
    ck_assert_int_eq(image_replace_str(&img->cluster_id, "cluster-x"), 0);
    add_self();
}

static void teardown(void)
{
    char cmd[128];
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    image_free(img);
    data_dirs_close(&dirs);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    sluice_config_free(&cfg);
}

/* Run the loop until every partition being opened (on the thread pool) is
 * hosted or offline. */
static void settle(struct replica_manager *rm)
{
    while (replica_manager_opening(rm) > 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static void start(struct metadata_view **v, struct replica_manager *rm)
{
    char err[256];
    struct metadata_quorum_source src = {NULL, source_image, NULL};
    ck_assert_int_eq(metadata_quorum_open(v, &loop, &cfg, &src, err, sizeof err), 0);
    ck_assert_int_eq(replica_manager_start(rm, &loop, &cfg, &dirs, *v, err, sizeof err), 0);
}

static void stop(struct metadata_view *v, struct replica_manager *rm)
{
    replica_manager_stop(rm);
    metadata_view_close(v);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
}

/* Broker `id`, registered and unfenced. */
static void add_broker(int32_t id)
{
    BrokerState *b = malloc(sizeof *b);
    sluice__metadata__broker_state__init(b);
    b->broker_id = id;
    b->broker_epoch = 10 + id;
    b->incarnation_id = image_strdup("incarnation");
    ck_assert_int_eq(image_put_broker(img, b), 0);
}

static void set_fenced(int32_t id, bool fenced)
{
    for (size_t i = 0; i < img->n_brokers; i++) {
        if (img->brokers[i]->broker_id == id) {
            img->brokers[i]->fenced = fenced;
            return;
        }
    }
    ck_abort_msg("no broker %d", (int)id);
}

/* Partition `index` of topic `name` in the image. */
static PartitionState *image_partition(const char *name, int32_t index)
{
    for (size_t i = 0; i < img->n_topics; i++) {
        if (strcmp(img->topics[i]->name, name) == 0) {
            return img->topics[i]->partitions[index];
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
    start(&v, &rm);
    add_replicated_topic("dr", 1);
    add_topic("solo", 1);
    metadata_quorum_refresh(v);
    settle(&rm);
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
    stop(v, &rm);
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
    start(&v, &rm);
    add_replicated_topic("dr", 3);
    metadata_quorum_refresh(v);
    settle(&rm);
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
    stop(v, &rm);
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
