/* Operations parked on partitions this broker leads (as DeleteRecords,
 * Fetch and Produce park in the replica manager's purgatory) are asked
 * again when what decides them changes outside the partition: a broker
 * holding one of its replicas is fenced or comes back (the low watermark
 * counts replicas on live brokers only), the partition goes (topic
 * deleted, moved off this broker, its directory offline) or is led
 * elsewhere, or retention moves its log start. Followers' session fetches,
 * parked on the journal of changes rather than on their partitions, are
 * asked too. What a client's parked request then answers is Kafka's. The
 * view is the quorum-fed one over an image the test builds, as in
 * test_replica_manager.c. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/data_dir.h"
#include "broker/kafka/dispatch.h"
#include "broker/metadata/metadata_quorum.h"
#include "broker/replica/replica_liveness.h"
#include "broker/replica/replica_manager.h"
#include "metadata/image.h"
#include "proto/kafka/kafka_errors.h"
#include "tests/unit/check_main.h"
#include "tests/unit/image_test_util.h"
#include "tests/unit/log_test_util.h"

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

/* Broker 2 registered, a replica manager started on the image and, all
 * hosted: topic "dr" of `n_dr` partitions (add_replicated_topic) and, if
 * `solo`, topic "solo" of one partition led here alone. */
static void start_with_dr(struct metadata_view **v, struct replica_manager *rm, int32_t n_dr,
                          bool solo)
{
    add_broker(2);
    rfx_start(&rfx, v, rm);
    add_replicated_topic("dr", n_dr);
    if (solo) {
        add_topic("solo", 1);
    }
    metadata_quorum_refresh(*v);
    rfx_settle(&rfx, rm);
}

/* Park `op` on partition `p` of `rm`, watching it alone, for longer than
 * any test runs. */
static void park_op(struct replica_manager *rm, struct partition *p, struct delayed_op *op,
                    bool (*ready)(struct delayed_op *), void (*complete)(struct delayed_op *, bool),
                    void *data)
{
    ck_assert_int_eq(delayed_op_init(op, 1, ready, complete, data), 0);
    partition_watch(p, op);
    replica_manager_park(rm, op, 600000);
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
    park_op(rm, p, &w->op, parked_ready, parked_complete, w);
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
    start_with_dr(&v, &rm, 1, true);
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
    start_with_dr(&v, &rm, 3, false);
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

/* An operation parked on the journal of changes, as a parked session
 * fetch of a follower parks (replica_service.c): asked again, it reads the
 * records since its position and completes once one names `slot` (its
 * partition's), as the fetch then looks at that partition and answers. */
struct journal_parked {
    struct replica_manager *rm;
    uint32_t slot;
    uint64_t pos;
    int completions;
    bool expired;
    struct delayed_op op;
};

static bool journal_parked_ready(struct delayed_op *op)
{
    struct journal_parked *w = op->data;
    const struct change_journal *j = &w->rm->changes;
    if (!change_journal_holds(j, w->pos)) {
        return true; /* a reset: a fetch looks at every partition */
    }
    uint64_t end = change_journal_end(j);
    bool named = false;
    for (uint64_t seq = w->pos; seq < end; seq++) {
        named |= change_journal_at(j, seq) == w->slot;
    }
    w->pos = end;
    return named;
}

static void journal_parked_complete(struct delayed_op *op, bool expired)
{
    struct journal_parked *w = op->data;
    w->completions++;
    w->expired = expired;
    delayed_op_free(op);
}

/* Park `w` (for far longer than the test) on the journal, for the slot of
 * `topic`-`index`. */
static void park_on_journal(struct journal_parked *w, struct replica_manager *rm, const char *topic,
                            int32_t index)
{
    struct partition *p = replica_manager_partition(rm, topic, index);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(p->journal);
    *w =
        (struct journal_parked){.rm = rm, .slot = p->slot, .pos = change_journal_end(&rm->changes)};
    ck_assert_int_eq(delayed_op_init(&w->op, 1, journal_parked_ready, journal_parked_complete, w),
                     0);
    delayed_op_watch(&w->op, &rm->changes.waiters);
    replica_manager_park(rm, &w->op, 600000);
}

/* A follower's session fetch parked on the journal (not on its partitions)
 * is answered when one of them goes, not at its max wait: the partition
 * moved off this broker, its topic deleted, its log directory offline. */
START_TEST(test_journal_parked_answered_when_partition_goes)
{
    struct metadata_view *v;
    struct replica_manager rm;
    start_with_dr(&v, &rm, 2, true);
    struct journal_parked moved, deleted, offline;
    park_on_journal(&moved, &rm, "dr", 0);

    static const int32_t two[] = {2};
    PartitionState *ps = image_partition("dr", 0);
    ps->leader = 2;
    ps->leader_epoch++;
    ps->partition_epoch++;
    ck_assert_int_eq(image_set_ints(&ps->replicas, &ps->n_replicas, two, 1), 0);
    ck_assert_int_eq(image_set_ints(&ps->isr, &ps->n_isr, two, 1), 0);
    metadata_quorum_refresh(v);
    ck_assert_ptr_null(replica_manager_partition(&rm, "dr", 0));
    ck_assert_int_eq(moved.completions, 1);
    ck_assert(!moved.expired);

    park_on_journal(&deleted, &rm, "dr", 1);
    remove_topic("dr");
    metadata_quorum_refresh(v);
    ck_assert_int_eq(deleted.completions, 1);
    ck_assert(!deleted.expired);

    park_on_journal(&offline, &rm, "solo", 0);
    log_manager_fail_dir(&rm.logs, 0, -EIO, "a test");
    while (replica_manager_partition(&rm, "solo", 0) != NULL) {
        uv_run(&rfx.loop, UV_RUN_ONCE); /* the directory's partitions close on a later turn */
    }
    ck_assert_int_eq(offline.completions, 1);
    ck_assert(!offline.expired);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* Retention deleting a leader's oldest segments moves its log start, which
 * the followers learn only from a fetch answer (and a DeleteRecords' low
 * watermark waits for): what is parked on the partition (here an operation
 * waiting, as a DeleteRecords, for the low watermark, which with no other
 * replica is the log start) and the session fetches parked on the journal
 * are asked again at once. Records stamped two hours ago expire under
 * retention.ms of an hour. */
START_TEST(test_retention_wakes_parked_fetches)
{
    char err[256];
    ck_assert_int_eq(
        sluice_config_set(&rfx.cfg, "log.retention.check.interval.ms", "5", err, sizeof err), 0);
    ck_assert_int_eq(sluice_config_set(&rfx.cfg, "log.segment.bytes", "1000", err, sizeof err), 0);
    ck_assert_int_eq(sluice_config_set(&rfx.cfg, "log.retention.ms", "3600000", err, sizeof err),
                     0);
    struct metadata_view *v;
    struct replica_manager rm;
    rfx_start(&rfx, &v, &rm);
    add_topic("ret", 1);
    metadata_quorum_refresh(v);
    rfx_settle(&rfx, &rm);
    struct partition *p = replica_manager_partition(&rm, "ret", 0);
    ck_assert(partition_is_leader(p));
    int64_t old_ts = (int64_t)time(NULL) * 1000 - 2 * 3600000LL;
    struct buf b = BUF_INIT;
    for (int k = 0; k < 10; k++) {
        struct log_append_info info;
        buf_reset(&b);
        tb_batch(&b, 2, 100, old_ts, (uint32_t)k);
        ck_assert_int_eq(partition_append(p, b.data, b.len, &info), 0);
    }
    buf_free(&b);
    ck_assert_int_eq(partition_high_watermark(p), 20); /* the only replica in the ISR */
    ck_assert_int_eq(partition_log_start(p), 0);
    struct parked delete_records;
    struct journal_parked session_fetch;
    park_on(&delete_records, &rm, "ret", 0, 1);
    park_on_journal(&session_fetch, &rm, "ret", 0);

    while (partition_log_start(p) == 0) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(delete_records.completions, 1);
    ck_assert(!delete_records.expired);
    ck_assert_int_eq(delete_records.outcome, PARKED_REACHED);
    ck_assert_int_eq(session_fetch.completions, 1);
    ck_assert(!session_fetch.expired);
    rfx_stop(&rfx, v, &rm);
}
END_TEST

/* An operation parked as a Produce or a DeleteRecords parks: asked again,
 * it takes the partition's answer from kafka_leader_partition, as their
 * handlers do. */
struct answer_parked {
    struct kafka_services svc;
    struct kafka_call call;
    const char *topic;
    int32_t index;
    int16_t error;
    int completions;
    struct delayed_op op;
};

static bool answer_parked_ready(struct delayed_op *op)
{
    struct answer_parked *w = op->data;
    return kafka_leader_partition(&w->call, w->topic, w->index, &w->error) == NULL;
}

static void answer_parked_complete(struct delayed_op *op, bool expired)
{
    struct answer_parked *w = op->data;
    w->completions += !expired;
    delayed_op_free(op);
}

static void park_for_answer(struct answer_parked *w, struct metadata_view *v,
                            struct replica_manager *rm, const char *topic, int32_t index)
{
    *w = (struct answer_parked){
        .svc = {.metadata = v, .replicas = rm}, .topic = topic, .index = index, .error = -1};
    w->call.svc = &w->svc;
    struct partition *p = replica_manager_partition(rm, topic, index);
    ck_assert_ptr_nonnull(p);
    park_op(rm, p, &w->op, answer_parked_ready, answer_parked_complete, w);
}

/* What a parked Produce or DeleteRecords answers when its partition can no
 * longer be served here is Kafka's (ReplicaManager.getPartitionOrError, as
 * DelayedProduce and DelayedDeleteRecords ask it): the view has dropped a
 * deleted topic before its partitions' parked operations are asked, so
 * they answer UNKNOWN_TOPIC_OR_PARTITION; a partition led elsewhere or
 * moved away (still in the view) NOT_LEADER_OR_FOLLOWER; one whose
 * directory went offline KAFKA_STORAGE_ERROR. */
START_TEST(test_parked_answer_says_why_partition_went)
{
    struct metadata_view *v;
    struct replica_manager rm;
    start_with_dr(&v, &rm, 3, true);
    struct answer_parked moved, led, deleted, offline;
    park_for_answer(&moved, v, &rm, "dr", 0);
    park_for_answer(&led, v, &rm, "dr", 1);

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
    ck_assert_int_eq(moved.completions, 1);
    ck_assert_int_eq(moved.error, KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER);
    ck_assert_int_eq(led.completions, 1);
    ck_assert_int_eq(led.error, KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER);

    park_for_answer(&deleted, v, &rm, "dr", 2);
    remove_topic("dr");
    metadata_quorum_refresh(v);
    ck_assert_int_eq(deleted.completions, 1);
    ck_assert_int_eq(deleted.error, KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION);

    park_for_answer(&offline, v, &rm, "solo", 0);
    log_manager_fail_dir(&rm.logs, 0, -EIO, "a test");
    while (replica_manager_partition(&rm, "solo", 0) != NULL) {
        uv_run(&rfx.loop, UV_RUN_ONCE);
    }
    ck_assert_int_eq(offline.completions, 1);
    ck_assert_int_eq(offline.error, KAFKA_ERROR_KAFKA_STORAGE_ERROR);
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
    tcase_add_test(tc, test_journal_parked_answered_when_partition_goes);
    tcase_add_test(tc, test_retention_wakes_parked_fetches);
    tcase_add_test(tc, test_parked_answer_says_why_partition_went);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main_run(make_suite);
}
